"""Value cases for ops with no dedicated family: constant."""
import numpy as np

import graphjit as gj

from support import Case

CASES = [
    Case(("constant",), lambda x: gj.constant(x) * 1, (np.float64([1.5, -2.0]),), lambda x: x * 1),
]
