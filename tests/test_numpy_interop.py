"""NumPy functions on graphjit tensors: supported ones return tensors eagerly and are traced inside
gj.function; unsupported ones raise UnimplementedError naming the function."""
import numpy as np
import pytest

import graphjit as gj
from graphjit.errors import OperatorNotAllowedInGraphError, UnimplementedError
from graphjit.tracer.tensor import EagerTensor

X = np.float32([-1.5, 0.0, 0.25, 2.0])
A = np.float32([10.0, 20.0, 30.0, 40.0])

# (label, function of (tensor-or-array x, ndarray a), op names its graph must contain)
SUPPORTED = [
    ("np.exp(t)", lambda x, a: np.exp(x), ["exp"]),
    ("np.add(a, t)", lambda x, a: np.add(a, x), ["add"]),
    ("a + t", lambda x, a: a + x, ["add"]),
    ("a * t", lambda x, a: a * x, ["multiply"]),
    ("a > t", lambda x, a: a > x, ["greater"]),
    ("np.maximum(t, 0)", lambda x, a: np.maximum(x, 0), ["maximum"]),
    ("np.minimum(t, a)", lambda x, a: np.minimum(x, a), ["minimum"]),
    ("np.where(t > 0, t, 0)", lambda x, a: np.where(x > 0, x, 0), ["greater", "where"]),
    ("np.clip(t, 0, 1)", lambda x, a: np.clip(x, 0, 1), ["clip"]),
    ("np.negative(t)", lambda x, a: np.negative(x), ["negative"]),
    ("np.abs(t)", lambda x, a: np.abs(x), ["abs"]),
    ("np.sqrt(np.abs(t))", lambda x, a: np.sqrt(np.abs(x)), ["abs", "sqrt"]),
    ("np.tanh(t)", lambda x, a: np.tanh(x), ["tanh"]),
    ("np.floor_divide(a, t)", lambda x, a: np.floor_divide(a, x), ["floordiv"]),
    ("np.mod(a, t)", lambda x, a: np.mod(a, x), ["mod"]),
    ("np.power(t, 2)", lambda x, a: np.power(x, 2), ["pow"]),
    ("np.true_divide(t, a)", lambda x, a: np.true_divide(x, a), ["divide"]),
    ("np.isnan(t)", lambda x, a: np.isnan(x), ["isnan"]),
    ("np.logical_and(t > 0, a > 0)", lambda x, a: np.logical_and(x > 0, a > 0), ["logical_and"]),
    ("np.equal(t, a)", lambda x, a: np.equal(x, a), ["equal"]),
    ("np.sign(t)", lambda x, a: np.sign(x), ["sign"]),
    ("np.square(t)", lambda x, a: np.square(x), ["square"]),
    ("np.log1p(np.abs(t))", lambda x, a: np.log1p(np.abs(x)), ["log1p"]),
]


@pytest.mark.parametrize("label, fn, ops", SUPPORTED, ids=[s[0] for s in SUPPORTED])
def test_numpy_functions_return_tensors_with_numpys_values(label, fn, ops):
    result = fn(gj.constant(X), A)
    with np.errstate(all="ignore"):  # x // 0 in the NumPy reference
        expected = fn(X, A)
    assert isinstance(result, EagerTensor), type(result)
    assert result.dtype == expected.dtype and result.shape == expected.shape
    np.testing.assert_array_equal(result.numpy(), expected)


@pytest.mark.parametrize("label, fn, ops", SUPPORTED, ids=[s[0] for s in SUPPORTED])
def test_numpy_functions_are_traced(label, fn, ops):
    traced = gj.function(lambda x: fn(x, A))
    graph = str(traced.get_concrete_function(gj.constant(X)).graph)
    for op in ops:
        assert f" = {op} " in graph, (op, graph)
    result = traced(gj.constant(X))
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(result.numpy(), fn(X, A))


def test_numpy_ufunc_with_two_tensors_and_scalar_promotion():
    t, u = gj.constant(np.int32([1, 2])), gj.constant(np.int64([3, 4]))
    assert np.add(t, u).dtype == gj.int64
    assert np.multiply(t, 2.5).dtype == gj.float64  # NumPy 2: int32 array * Python float is float64
    assert np.multiply(gj.constant(X), 2.5).dtype == gj.float32
    assert np.add(t, 1).dtype == gj.int32


def test_numpy_scalar_on_the_left():
    t = gj.constant(X)
    result = np.float32(2.0) * t
    assert isinstance(result, gj.Tensor) and result.dtype == gj.float32
    np.testing.assert_array_equal(result.numpy(), np.float32(2.0) * X)
    assert isinstance(np.float64(1.0) + t, gj.Tensor) and (np.float64(1.0) + t).dtype == gj.float64


def test_numpy_where_with_a_non_bool_condition():
    result = np.where(gj.constant(np.int32([0, 3, 0])), 1.0, gj.constant(np.float32([5, 6, 7])))
    assert result.dtype == gj.float32 and result.numpy().tolist() == [5.0, 1.0, 7.0]


def test_numpy_clip_matches_numpy_including_nan_and_inverted_bounds():
    x = np.float32([np.nan, -5.0, 0.5, 5.0])
    np.testing.assert_array_equal(np.clip(gj.constant(x), -1.0, 1.0).numpy(), np.clip(x, -1.0, 1.0))
    np.testing.assert_array_equal(np.clip(gj.constant(x), 2.0, -2.0).numpy(), np.clip(x, 2.0, -2.0))


UNSUPPORTED = [
    ("numpy.fft", lambda t: np.fft.fft(t)),
    ("numpy.median", lambda t: np.median(t)),  # np.sort works now (tests/test_numpy_coverage.py)
    ("numpy.add.reduce", lambda t: np.add.reduce(t)),
    ("numpy.add.accumulate", lambda t: np.add.accumulate(t)),
    ("numpy.multiply.outer", lambda t: np.multiply.outer(t, t)),
    ("numpy.exp", lambda t: np.exp(t, out=np.zeros(4, np.float32))),
    ("numpy.exp", lambda t: np.exp(t, where=np.array([True, False, True, False]))),
    ("numpy.add", lambda t: np.add(t, 1, casting="unsafe")),
    ("numpy.histogram", lambda t: np.histogram(t)),
    ("numpy.unique", lambda t: np.unique(t)),
    ("numpy.frexp", lambda t: np.frexp(t)),
]


@pytest.mark.parametrize("name, fn", UNSUPPORTED, ids=[f"{u[0]}-{i}" for i, u in enumerate(UNSUPPORTED)])
def test_unsupported_numpy_functions_raise_unimplemented(name, fn):
    with pytest.raises(UnimplementedError, match=name.replace(".", r"\.")):
        fn(gj.constant(X))
    with pytest.raises(UnimplementedError, match=name.replace(".", r"\.")):
        gj.function(fn)(X)


def test_out_argument_on_an_ndarray_is_rejected_too():
    out = np.zeros(4, np.float32)
    with pytest.raises(UnimplementedError, match="out="):
        np.add(A, gj.constant(X), out=out)
    assert not out.any()  # nothing was written


def test_numpy_conversion_of_a_symbolic_tensor_is_refused():
    @gj.function
    def f(x):
        return np.asarray(x) + 1

    with pytest.raises(OperatorNotAllowedInGraphError, match="NumPy"):
        f(X)


def test_eager_results_are_independent_of_the_input_arrays():
    a = A.copy()
    result = a + gj.constant(X)
    a[:] = 0
    np.testing.assert_array_equal(result.numpy(), A + X)


def test_dot_T_reverses_all_axes_eagerly_and_in_a_trace():
    m = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    t = gj.constant(m)
    assert t.T.shape == (4, 3, 2)
    np.testing.assert_array_equal(t.T.numpy(), m.T)
    f = gj.function(lambda x: x @ x.T)
    np.testing.assert_array_equal(f(m[0]).numpy(), m[0] @ m[0].T)
    assert gj.constant(np.float32(2.0)).T.numpy() == np.float32(2.0)   # 0-d: itself, as in NumPy
