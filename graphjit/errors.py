"""The error classes of graphjit (defined in ``graphjit.tracer.errors``)."""
from graphjit.tracer.errors import *  # noqa: F401,F403
from graphjit.tracer.errors import __all__  # noqa: F401
