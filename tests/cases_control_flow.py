"""Op cases for control flow (tracer/ops/control_flow.py): eagerly the Python functions run directly, traced they
are cond / while_loop nodes with tuple_get results; both must equal the NumPy reference (tests/test_ops.py).
tests/test_control_flow.py tests the constructs themselves."""
import numpy as np

import graphjit as gj

from support import Case

_rng = np.random.default_rng(21)
X = _rng.uniform(-2.0, 2.0, (3, 4)).astype(np.float32)
V = _rng.uniform(0.5, 1.5, (5,))


def _branches(x):
    return gj.cond(gj.reduce_sum(x) > 0, lambda: (x * 2.0, gj.reduce_max(x)), lambda: (x - 1.0, gj.reduce_min(x)))


def _branches_reference(x):
    return (x * np.float32(2), x.max()) if x.sum() > 0 else (x - np.float32(1), x.min())


def _loop(v):
    """sum of v * 0.5**k while the increment is large, at most 50 terms: (count, total)."""
    return gj.while_loop(lambda k, term, total: gj.reduce_max(term) > 1e-3,
                         lambda k, term, total: (k + 1, term * 0.5, total + term), (0, v, gj.zeros_like(v)),
                         maximum_iterations=50)


def _loop_reference(v):
    k, term, total = 0, v, np.zeros_like(v)
    while k < 50 and term.max() > 1e-3:
        k, term, total = k + 1, term * 0.5, total + term
    return np.int32(k), term, total


CASES = [
    Case(("cond", "tuple_get"), _branches, (X,), _branches_reference, name="cond_taken"),
    Case(("cond", "tuple_get"), _branches, (-np.abs(X),), _branches_reference, name="cond_not_taken"),
    Case(("while_loop", "tuple_get"), _loop, (V,), _loop_reference, rtol=1e-12, name="while_loop"),
    Case(("while_loop", "tuple_get", "scatter_add"), lambda x: gj.map_fn(lambda r: gj.reduce_sum(r * r), x), (X,),
         lambda x: (x * x).sum(axis=1), rtol=1e-6, name="map_fn"),
    Case(("while_loop", "tuple_get", "scatter_add"), lambda x: gj.scan(lambda a, r: a * 0.5 + r, x), (X,),
         lambda x: np.stack([x[0], x[0] * np.float32(0.5) + x[1], (x[0] * np.float32(0.5) + x[1]) * np.float32(0.5)
                             + x[2]]), rtol=1e-6, name="scan"),
    Case(("cond", "tuple_get"), lambda i, x: gj.switch_case(i, [lambda: x[0], lambda: x[1] * 3.0, lambda: -x[2]]),
         (np.int32(1), X), lambda i, x: x[1] * np.float32(3), name="switch_case"),
]
