"""Ops inside cond and while_loop bodies: a body compiles (compiler.control_flow_stages) only when each of its nodes
has a compiled form, else the whole control-flow node is an eager step. The decompositions of
compiler/passes/decompose.py give the common ones that had none a compiled form everywhere, bodies included:
softmax / log_softmax along a leading axis, reduce_logsumexp of ints, matmul with a vector operand or of mixed
dtypes; heaviside has a scalar rule. What remains eager-only (the list in docs/architecture.md) still runs, as an
eager step of the whole node, and gives NumPy's result (the fallback test below).

References: NumPy in float64 (einsum for products). Tolerances: float64 1e-12 relative; float32 1e-6 (the softmax
row kernel and gemm sum in another order than NumPy); heaviside is selects only, compared exactly."""
import numpy as np
import pytest

import graphjit as gj
from graphjit.runtime.runtime import get_runtime

from support import count_module_loads

LOADS = []


@pytest.fixture(autouse=True)
def _compiled_now(monkeypatch):
    count_module_loads(monkeypatch, LOADS)


def _steps(f, *args):
    executable = get_runtime().executables(f.get_concrete_function(*args))["cpu"]
    return {step.kind for step in executable.steps}


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _logsumexp(x, axis):
    x = x.astype(np.float64)
    m = x.max(axis=axis, keepdims=True)
    return np.squeeze(m, axis) + np.log(np.exp(x - m).sum(axis=axis))


RNG = np.random.default_rng(7)
_M32, _V32 = RNG.standard_normal((3, 4)).astype(np.float32), RNG.standard_normal(4).astype(np.float32)
_M64 = RNG.standard_normal((4, 2))
_T64 = RNG.standard_normal((2, 3, 4))
_INTS = RNG.integers(-5, 6, (3, 4)).astype(np.int32)
_STEPS = np.array([-1.5, -0.0, 0.0, 2.0, np.nan, np.inf, -np.inf])

# (name, fn on tensors, arrays, NumPy reference on float64 copies, rtol)
CASES = [
    ("softmax-axis0", lambda x: gj.nn.softmax(x, axis=0), (_M32,), lambda x: _softmax(x, 0), 1e-6),
    ("log_softmax-axis1-of-3", lambda x: gj.nn.log_softmax(x, axis=1), (_T64,),
     lambda x: np.log(_softmax(x, 1)), 1e-12),
    ("logsumexp-int32-axis1", lambda x: gj.reduce_logsumexp(x, axis=1), (_INTS,), lambda x: _logsumexp(x, 1), 1e-12),
    ("logsumexp-int32-axis0", lambda x: gj.reduce_logsumexp(x, axis=0), (_INTS,), lambda x: _logsumexp(x, 0), 1e-12),
    ("matrix@vector", lambda a, v: gj.matmul(a, v), (_M32, _V32), lambda a, v: np.einsum("ij,j->i", a, v), 1e-6),
    ("vector@matrix", lambda v, b: gj.matmul(v, b), (_V32, _M64), lambda v, b: np.einsum("j,jk->k", v, b), 1e-12),
    ("dot", lambda u, v: gj.matmul(u, v), (_V32, _V32 * 2), lambda u, v: np.einsum("j,j->", u, v), 1e-6),
    ("batch@vector", lambda t, v: gj.matmul(t, v), (_T64, _V32), lambda t, v: np.einsum("bij,j->bi", t, v), 1e-12),
    ("float32@float64", lambda a, b: gj.matmul(a, b), (_M32, _M64), lambda a, b: np.einsum("ij,jk->ik", a, b), 1e-12),
    ("heaviside", lambda x: gj.math.heaviside(x, 0.5), (_STEPS,), lambda x: np.heaviside(x, 0.5), 0.0),
]


def _check(got, want, rtol):
    want = np.asarray(want)
    if rtol == 0.0:
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("name, fn, arrays, reference, rtol", CASES, ids=[c[0] for c in CASES])
def test_the_op_compiles_inside_a_cond_branch_and_a_while_loop_body(name, fn, arrays, reference, rtol):
    """One function (one compile) holding both: a cond choosing r or 2r, and a loop adding r to zeros n times."""
    want = np.asarray(reference(*[a.astype(np.float64) for a in arrays]))

    @gj.function
    def f(p, n, *xs):
        chosen = gj.cond(p > 0, lambda: fn(*xs), lambda: fn(*xs) * 2.0)
        zero = gj.zeros(want.shape, chosen.dtype)
        summed = gj.while_loop(lambda i, acc: i < n, lambda i, acc: (i + 1, acc + fn(*xs)), (0, zero))[1]
        return chosen, summed

    for p, n in ((1, 2), (0, 1)):
        chosen, summed = f(np.int32(p), np.int32(n), *arrays)
        _check(chosen.numpy(), want if p else want * 2.0, rtol)
        _check(summed.numpy(), want * n, rtol)   # (acc + r, then r + r: exactly 2r)
    assert _steps(f, np.int32(1), np.int32(2), *arrays) == {"compiled"}


def test_an_op_without_a_compiled_form_makes_the_node_an_eager_step_with_numpys_result():
    """gcd (one of the eager-only ops) in a branch: the cond runs as an eager step, the rest compiled around it."""
    a, b = np.array([12, 18, -8, 0], np.int64), np.array([8, 27, 12, 5], np.int64)

    @gj.function
    def f(p, a, b):
        y = gj.cond(p > 0, lambda: gj.math.gcd(a, b), lambda: a * b)
        return y + 1

    np.testing.assert_array_equal(f(np.int32(1), a, b).numpy(), np.gcd(a, b) + 1)
    np.testing.assert_array_equal(f(np.int32(0), a, b).numpy(), a * b + 1)
    assert _steps(f, np.int32(1), a, b) == {"compiled", "python"}
