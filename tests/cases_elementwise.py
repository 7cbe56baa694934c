"""Value cases for elementwise ops (see support.Case)."""
import numpy as np

import graphjit as gj

from support import Case, float_edge_values

X32 = float_edge_values(np.float32)

CASES = [
    Case(("exp",), gj.exp, (X32,), lambda x: np.exp(x.astype(np.float64)).astype(np.float32), rtol=1e-6),
    Case(("add",), gj.add, (np.arange(6, dtype=np.float32).reshape(2, 3), np.float32([1, 2, 3])),
         lambda x, y: x + y),
]
