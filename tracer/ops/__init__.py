"""Op definitions, one family per file. Importing this package registers every op and public name."""
from . import (creation, elementwise, indexing, linalg, nn, random, reductions,  # noqa: F401
               shape_ops, state)
from . import ufuncs, scan, statistics, einsum, numpy_functions  # noqa: F401,E402  (built on the above)
from . import conv, nn_layers  # noqa: F401,E402  (composites of the above)
from . import control_flow  # noqa: F401,E402
from .. import control_flow as _cond_and_loops, loops as _map_and_scan  # noqa: F401,E402  (their public functions)
from ..tensor import install_operators

install_operators()
