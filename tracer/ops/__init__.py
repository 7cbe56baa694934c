"""Op definitions, one family per file. Importing this package registers every op and public name."""
from . import (creation, elementwise, indexing, linalg, nn, random, reductions,  # noqa: F401
               shape_ops, state)
from . import ufuncs, scan, statistics, einsum, numpy_functions  # noqa: F401,E402  (built on the above)
from ..tensor import install_operators

install_operators()
