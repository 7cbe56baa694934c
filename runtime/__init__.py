"""graphjit.runtime: the global runtime that owns variables, runs eager ops and traced graphs."""
from graphjit.tracer import context as _context
from graphjit.tracer.source import add_package_dir

from .runtime import Runtime, get_runtime, reset_runtime  # noqa: F401

add_package_dir(__file__)
_context.install_eager_context_factory(lambda: get_runtime().eager)
