"""graphjit.compat: TF1-style APIs on graphjit's machinery (``graphjit.compat.v1``)."""
from graphjit.compat import v1  # noqa: F401
