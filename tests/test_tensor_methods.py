"""Tensors have the ndarray methods users reach for first, with NumPy's results, eagerly and traced (the
interpreter and the compiled CPU backend, one graph each), and the TF names of the NumPy functions exist.

Tolerances: eager and interpreter results must equal NumPy's to rtol 1e-12 (the same NumPy computations);
compiled float64 results to rtol 1e-12 (sums may reassociate: see docs/numerics.md).
"""
import numpy as np
import pytest

import graphjit as gj
from graphjit.errors import OperatorNotAllowedInGraphError

from support import assert_same

X = np.array([[1.5, -2.5, 3.0, 0.5], [4.0, -1.0, 2.0, 2.0], [0.25, 8.0, -3.0, 1.0]])
T3 = np.arange(24.0).reshape(2, 3, 4) - 11.5

# (label, method call on an ndarray or a tensor, argument)
METHODS = [
    ("reshape tuple", lambda t: t.reshape((4, 3)), X), ("reshape varargs", lambda t: t.reshape(2, -1), X),
    ("astype", lambda t: t.astype(np.int32), X), ("astype bool", lambda t: t.astype(bool), X),
    ("sum", lambda t: t.sum(), X), ("sum axis keepdims", lambda t: t.sum(axis=1, keepdims=True), X),
    ("sum dtype", lambda t: t.sum(axis=0, dtype=np.float32), X),
    ("mean", lambda t: t.mean(axis=(0, 2)), T3), ("max", lambda t: t.max(axis=0), X), ("min", lambda t: t.min(), X),
    ("prod", lambda t: t.prod(axis=1), X), ("std", lambda t: t.std(), X),
    ("std ddof", lambda t: t.std(axis=0, ddof=1), X), ("var", lambda t: t.var(axis=1, keepdims=True), X),
    ("argmax", lambda t: t.argmax(), X), ("argmax axis", lambda t: t.argmax(axis=1), X),
    ("argmin", lambda t: t.argmin(axis=0), X), ("cumsum", lambda t: t.cumsum(), X),
    ("cumsum axis", lambda t: t.cumsum(axis=1), X), ("cumprod", lambda t: t.cumprod(axis=0), X),
    ("T", lambda t: t.T, T3), ("ravel", lambda t: t.ravel(), T3), ("flatten", lambda t: t.flatten(), X),
    ("transpose", lambda t: t.transpose(), T3), ("transpose varargs", lambda t: t.transpose(1, 0, 2), T3),
    ("transpose tuple", lambda t: t.transpose((2, 0, 1)), T3),
    ("squeeze", lambda t: t.reshape(1, 3, 1, 4).squeeze(), X), ("squeeze axis", lambda t: t[None].squeeze(0), X),
    ("clip", lambda t: t.clip(-1, 2), X), ("clip max only", lambda t: t.clip(max=1.0), X),
    ("round", lambda t: t.round(), X), ("round decimals", lambda t: (t * 1.234).round(1), X),
    ("dot", lambda t: t.dot(t.T), X), ("any", lambda t: (t > 5).any(axis=0), X), ("all", lambda t: (t > -4).all(), X),
    ("copy", lambda t: t.copy(), X),
]


def _ndarray(label, fn, x):
    return np.asarray(fn(x))


def test_methods_eagerly_match_ndarray_methods():
    for label, fn, x in METHODS:
        result = fn(gj.constant(x))
        assert isinstance(result, gj.Tensor), label
        assert_same(result.numpy(), _ndarray(label, fn, x), rtol=1e-12, what=label)


@pytest.mark.parametrize("backend", ["interpreter", "cpu"])
def test_methods_traced_match_ndarray_methods(backend, monkeypatch):
    monkeypatch.setattr(gj.config, "backend", backend)
    monkeypatch.setattr(gj.config, "compile_in_background", False)

    @gj.function
    def all_methods(x, t3):
        return [fn(x if arg is X else t3) for _, fn, arg in METHODS]

    results = all_methods(X, T3)
    for (label, fn, x), r in zip(METHODS, results):
        assert_same(r.numpy(), _ndarray(label, fn, x), rtol=1e-12, what=f"{label} ({backend})")


def test_static_facts_and_python_values():
    t = gj.constant(T3)
    assert (t.ndim, t.size, t.T.shape) == (3, 24, (4, 3, 2))
    assert gj.constant(np.float32(2.5)).item() == 2.5 and isinstance(gj.constant(np.int32(7)).item(), int)
    assert gj.constant(X).item(1, 2) == X.item(1, 2)
    assert gj.constant(X).tolist() == X.tolist()
    v = gj.Variable(X)
    assert v.tolist() == X.tolist() and v.sum().numpy() == X.sum() and v.T.shape == (4, 3)

    @gj.function
    def facts(x):
        assert (x.ndim, x.size) == (2, 12)  # static inside a trace too
        return x.reshape(x.size)

    assert facts(X).shape == (12,)


@pytest.mark.parametrize("method", ["tolist", "item"])
def test_python_values_of_symbolic_tensors_are_refused_clearly(method):
    @gj.function
    def f(x):
        return getattr(x, method)()

    with pytest.raises(OperatorNotAllowedInGraphError, match=rf"(?s)\.{method}\(\).*symbolic tensor.*test_tensor_methods.py"):
        f(X)


def test_tf_names_of_numpy_functions():
    x, t = X, gj.constant(X)
    checks = [
        (gj.math.cumsum(t, axis=1), np.cumsum(x, axis=1)), (gj.math.cumprod(t), np.cumprod(x, axis=0)),
        (gj.math.cumsum(t, exclusive=True), np.concatenate([np.zeros((1, 4)), np.cumsum(x, 0)[:-1]])),
        (gj.math.cumsum(t, reverse=True), np.cumsum(x[::-1], 0)[::-1]),
        (gj.math.reduce_std(t, axis=0), np.std(x, axis=0)), (gj.math.reduce_variance(t), np.var(x)),
        (gj.sort(t), np.sort(x)), (gj.sort(t, direction="DESCENDING"), np.sort(x)[:, ::-1]),
        (gj.argsort(t, axis=0, stable=True), np.argsort(x, axis=0, kind="stable").astype(np.int32)),
        (gj.einsum("ij,kj->ik", t, t), x @ x.T), (gj.norm(t), np.linalg.norm(x)),
        (gj.linalg.norm(t, ord=1, axis=0), np.linalg.norm(x, 1, axis=0)),
        (gj.norm(t, ord="euclidean", axis=1), np.linalg.norm(x, axis=1)),
        (gj.math.rint(t * 1.5), np.rint(x * 1.5)), (gj.round(t * 1.5), np.round(x * 1.5)),
        (gj.math.floordiv(t, 2.5), np.floor_divide(x, 2.5)), (gj.math.floormod(t, -2.0), np.mod(x, -2.0)),
        (gj.clip_by_value(t, -1.0, 1.0), np.clip(x, -1, 1)), (gj.math.atan2(t, t.T.T), np.arctan2(x, x)),
        (gj.math.reduce_euclidean_norm(t, 1), np.linalg.norm(x, axis=1)),
    ]
    for k, (result, expected) in enumerate(checks):
        assert_same(result.numpy(), expected, rtol=1e-12, what=f"check {k}")
