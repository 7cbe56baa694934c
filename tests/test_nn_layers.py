"""The layers a training script needs (tracer/ops/nn_layers.py, graphjit/initializers.py): gelu, leaky_relu, elu,
silu/swish, one_hot, softmax_cross_entropy_with_logits, moments, batch_normalization, layer_normalization and
gj.initializers, each against a NumPy float64 reference, traced (the interpreter) equal to eager, gradients
against float64 central differences, and the errors for bad arguments.

Tolerances: float64 results within rtol 1e-12 of the float64 reference (a few roundings of difference: the
composites and the reference order their operations differently); float32 results within rtol 1e-6 of the
float64 reference, rounded (a few float32 ulps). Gradients use tests/gradient_check.py's defaults.
"""
import math

import numpy as np
import pytest

import graphjit as gj
from graphjit.errors import InvalidArgumentError

from gradient_check import check_gradients

RNG = np.random.default_rng(20)
X64 = RNG.uniform(-3, 3, (4, 5))
F64_TOL = dict(rtol=1e-12, atol=1e-14)
F32_TOL = dict(rtol=1e-6, atol=1e-7)


def _erf(x):
    return np.vectorize(math.erf)(x)


def _same_traced_and_eager(fn, *args):
    """fn's traced result (the interpreter) equals its eager result bit for bit; returns the eager one."""
    eager = np.asarray(fn(*args))
    traced = np.asarray(gj.function(fn)(*args))
    np.testing.assert_array_equal(traced, eager)
    assert traced.dtype == eager.dtype
    return eager


def _check_value(fn, reference, x64):
    """float64 within F64_TOL and float32 within F32_TOL of the float64 reference; traced == eager."""
    np.testing.assert_allclose(_same_traced_and_eager(fn, x64), reference(x64), **F64_TOL)
    got32 = _same_traced_and_eager(fn, x64.astype(np.float32))
    assert got32.dtype == np.float32
    np.testing.assert_allclose(got32, reference(x64.astype(np.float32).astype(np.float64)), **F32_TOL)


# ---- activations ------------------------------------------------------------------------------------------

ACTIVATIONS = {
    "gelu": (gj.nn.gelu, lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2)))),
    "gelu_tanh": (lambda x: gj.nn.gelu(x, approximate=True),
                  lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))),
    "leaky_relu": (gj.nn.leaky_relu, lambda x: np.where(x > 0, x, 0.2 * x)),
    "leaky_relu_0.01": (lambda x: gj.nn.leaky_relu(x, alpha=0.01), lambda x: np.where(x > 0, x, 0.01 * x)),
    "elu": (gj.nn.elu, lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0)))),
    "silu": (gj.nn.silu, lambda x: x / (1 + np.exp(-x))),
    "swish_beta": (lambda x: gj.nn.swish(x, beta=1.5), lambda x: x / (1 + np.exp(-1.5 * x))),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_values_traced_and_eager(name):
    fn, reference = ACTIVATIONS[name]
    _check_value(fn, reference, X64)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_gradients(name):
    fn, _ = ACTIVATIONS[name]
    check_gradients(fn, X64 + 0.05 * (np.abs(X64) < 0.05))  # away from leaky_relu's and elu's kink at 0


def test_activations_at_extremes_stay_finite():
    x = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    np.testing.assert_array_equal(gj.nn.gelu(x).numpy(), [-0.0, -0.0, 0.0, 50.0, 1000.0])
    np.testing.assert_array_equal(gj.nn.elu(x).numpy(), [-1.0, -1.0, 0.0, 50.0, 1000.0])
    with gj.GradientTape() as tape:   # elu's discarded expm1 branch must not turn a zero gradient into NaN
        t = gj.constant(np.array([-1000.0, -5.0, 0.0, 1000.0]))
        tape.watch(t)
        y = gj.nn.elu(t)
    # TF's rule, g * (y + 1) below 0 (1 at 0 itself)
    np.testing.assert_allclose(tape.gradient(y, t).numpy(), [0.0, np.exp(-5.0), 1.0, 1.0], rtol=1e-12)


def test_leaky_relu_casts_int_features_to_float32_as_tf():
    got = gj.nn.leaky_relu(np.array([3, -5], np.int32))
    assert got.dtype == gj.float32
    np.testing.assert_allclose(got.numpy(), [3.0, -1.0], rtol=1e-7)


def test_erf_op_against_math_erf_and_its_gradient():
    x = np.concatenate([np.linspace(-6, 6, 41), [1e-8, -1e-300, np.inf, -np.inf]])
    np.testing.assert_array_equal(gj.math.erf(x).numpy(), _erf(x))   # it is math.erf, element by element
    assert np.isnan(gj.math.erf(np.float32(np.nan)).numpy())
    assert gj.math.erf(np.array([1, 2], np.int32)).dtype == gj.float64   # ints -> float64, as NumPy's ufuncs
    check_gradients(gj.math.erf, X64)


@pytest.mark.parametrize("call, argument", [
    (lambda: gj.nn.gelu(np.array([1, 2])), "features"),
    (lambda: gj.nn.gelu([1.0], approximate="yes"), "approximate"),
    (lambda: gj.nn.elu(np.array([True])), "features"),
    (lambda: gj.nn.silu(np.array([1], np.int64)), "features"),
    (lambda: gj.nn.silu([1.0], beta="2"), "beta"),
    (lambda: gj.nn.leaky_relu([True]), "features"),
    (lambda: gj.nn.leaky_relu([1.0], alpha=None), "alpha"),
])
def test_activation_errors_name_the_argument(call, argument):
    with pytest.raises(InvalidArgumentError, match=argument):
        call()


# ---- one_hot ----------------------------------------------------------------------------------------------

def _one_hot_reference(indices, depth, on, off, axis):
    indices = np.asarray(indices)
    hot = indices[..., None] == np.arange(depth)
    return np.moveaxis(np.where(hot, on, off), -1, axis)


@pytest.mark.parametrize("axis", [-1, 0, 1, 2])
def test_one_hot_out_of_range_indices_give_off_value(axis):
    indices = np.array([[0, 3, -1], [2, 4, 1]], np.int64)   # 4 and -1 are outside [0, 4)
    got = _same_traced_and_eager(lambda i: gj.one_hot(i, 4, on_value=5.0, off_value=-1.0, axis=axis), indices)
    np.testing.assert_array_equal(got, _one_hot_reference(indices, 4, 5.0, -1.0, axis))
    assert got.dtype == np.float32


def test_one_hot_defaults_dtype_and_empty_depth():
    got = gj.one_hot([1, 0, 7], 3)
    assert got.dtype == gj.float32
    np.testing.assert_array_equal(got.numpy(), [[0, 1, 0], [1, 0, 0], [0, 0, 0]])
    as_ints = gj.one_hot(np.int32(2), 3, dtype=gj.int32)
    assert as_ints.dtype == gj.int32 and as_ints.numpy().tolist() == [0, 0, 1]
    assert gj.one_hot([1, 2], 0).shape == (2, 0)
    inferred = gj.one_hot([1, 0], 2, on_value=5, off_value=-1)   # TF: the Python ints' dtype, int32
    assert inferred.dtype == gj.int32 and inferred.numpy().tolist() == [[-1, 5], [5, -1]]
    assert gj.one_hot([1], 2, off_value=gj.constant(0.5, gj.float64)).dtype == gj.float64


@pytest.mark.parametrize("call, argument", [
    (lambda: gj.one_hot([1.0], 3), "indices"),
    (lambda: gj.one_hot([1], 2.5), "depth"),
    (lambda: gj.one_hot([1], -1), "depth"),
    (lambda: gj.one_hot([1], 3, on_value=[1.0, 2.0]), "on_value"),
    (lambda: gj.one_hot([1], 3, axis=3), "axis"),
    (lambda: gj.one_hot([1], 3, dtype="float16"), "dtype"),
])
def test_one_hot_errors_name_the_argument(call, argument):
    with pytest.raises(InvalidArgumentError, match=argument):
        call()


# ---- softmax_cross_entropy_with_logits ----------------------------------------------------------------------

def _xent_reference(labels, logits, axis=-1):
    shifted = logits - logits.max(axis=axis, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    return -(labels * log_p).sum(axis=axis)


def _distributions(shape, axis=-1):
    p = RNG.uniform(0.1, 1.0, shape)
    return p / p.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize("axis", [-1, 0])
def test_softmax_xent_values_traced_and_eager(axis):
    labels, logits = _distributions((4, 5), axis), X64
    fn = lambda y, x: gj.nn.softmax_cross_entropy_with_logits(labels=y, logits=x, axis=axis)  # noqa: E731
    np.testing.assert_allclose(_same_traced_and_eager(fn, labels, logits), _xent_reference(labels, logits, axis),
                               **F64_TOL)
    got32 = _same_traced_and_eager(fn, labels.astype(np.float32), logits.astype(np.float32))
    np.testing.assert_allclose(got32, _xent_reference(labels.astype(np.float32).astype(np.float64),
                                                      logits.astype(np.float32).astype(np.float64), axis), **F32_TOL)


def test_softmax_xent_is_stable_for_large_logits():
    logits = np.array([[1000.0, 0.0, -1000.0], [5e4, 5e4, 5e4]], np.float32)
    labels = np.array([[1.0, 0.0, 0.0], [0.5, 0.25, 0.25]], np.float32)
    got = gj.nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits).numpy()
    np.testing.assert_allclose(got, [0.0, math.log(3.0)], rtol=1e-6)
    assert not np.signbit(got[0])   # 0.0, not -0.0


def test_softmax_xent_gradients_wrt_labels_and_logits():
    labels = _distributions((3, 4))
    logits = RNG.uniform(-2, 2, (3, 4))
    check_gradients(lambda y, x: gj.nn.softmax_cross_entropy_with_logits(labels=y, logits=x), labels, logits)
    # TF's gradient wrt the logits, softmax - labels, for labels that sum to 1 per row
    x = gj.constant(logits)
    with gj.GradientTape() as tape:
        tape.watch(x)
        loss = gj.reduce_sum(gj.nn.softmax_cross_entropy_with_logits(labels=labels, logits=x))
    softmax = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(tape.gradient(loss, x).numpy(), softmax - labels, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("call, argument", [
    (lambda: gj.nn.softmax_cross_entropy_with_logits(logits=[[1.0, 2.0]]), "labels"),
    (lambda: gj.nn.softmax_cross_entropy_with_logits(labels=[[1.0, 0.0]], logits=[[1, 2]]), "logits"),
    (lambda: gj.nn.softmax_cross_entropy_with_logits(labels=[[1.0, 0.0, 0.0]], logits=[[1.0, 2.0]]), "labels"),
    (lambda: gj.nn.softmax_cross_entropy_with_logits(labels=gj.constant([[1.0, 0.0]], gj.float64),
                                                     logits=gj.constant([[1.0, 2.0]], gj.float32)), "labels"),
    (lambda: gj.nn.softmax_cross_entropy_with_logits(labels=[[1.0, 0.0]], logits=[[1.0, 2.0]], axis=2), "axis"),
])
def test_softmax_xent_errors_name_the_argument(call, argument):
    with pytest.raises(InvalidArgumentError, match=argument):
        call()


# ---- moments, batch_normalization, layer_normalization ----------------------------------------------------------

X3 = RNG.uniform(-2, 3, (3, 4, 2))


@pytest.mark.parametrize("axes, keepdims", [([0], False), ([0, 1], False), ([2], True), ([-1, 0], True)])
def test_moments_values_traced_and_eager(axes, keepdims):
    mean = _same_traced_and_eager(lambda x: gj.nn.moments(x, axes, keepdims=keepdims)[0], X3)
    variance = _same_traced_and_eager(lambda x: gj.nn.moments(x, axes, keepdims=keepdims)[1], X3)
    np.testing.assert_allclose(mean, X3.mean(axis=tuple(axes), keepdims=keepdims), **F64_TOL)
    np.testing.assert_allclose(variance, X3.var(axis=tuple(axes), keepdims=keepdims), **F64_TOL)


def test_moments_gradients_through_mean_and_variance():
    # the variance's stop_gradient(mean) must not change its true derivative
    check_gradients(lambda x: gj.nn.moments(x, [0, 2])[1], X3)
    check_gradients(lambda x: gj.nn.moments(x, [1])[0], X3)


def _normalized(x, mean, variance, offset, scale, epsilon):
    out = (x - mean) / np.sqrt(variance + epsilon)
    return out * (1 if scale is None else scale) + (0 if offset is None else offset)


def test_batch_normalization_values_and_gradients():
    mean, variance = X3.mean(axis=(0, 1)), X3.var(axis=(0, 1))
    offset, scale = np.array([0.5, -1.0]), np.array([2.0, 0.3])
    fn = lambda x, m, v, b, s: gj.nn.batch_normalization(x, m, v, b, s, 1e-3)  # noqa: E731
    args = (X3, mean, variance, offset, scale)
    np.testing.assert_allclose(_same_traced_and_eager(fn, *args), _normalized(*args, 1e-3), **F64_TOL)
    check_gradients(fn, *args)
    np.testing.assert_allclose(gj.nn.batch_normalization(X3, mean, variance, None, None, 0.01).numpy(),
                               _normalized(X3, mean, variance, None, None, 0.01), **F64_TOL)


def _layer_norm_reference(x, axes, epsilon, gamma, beta):
    mean, variance = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    return _normalized(x, mean, variance, beta, gamma, epsilon)


def test_layer_normalization_values_traced_eager_and_gradients():
    gamma, beta = np.array([1.5, -0.5]), np.array([0.1, 0.2])
    fn = lambda x, g, b: gj.nn.layer_normalization(x, gamma=g, beta=b)  # noqa: E731
    np.testing.assert_allclose(_same_traced_and_eager(fn, X3, gamma, beta),
                               _layer_norm_reference(X3, (2,), 1e-3, gamma, beta), **F64_TOL)
    check_gradients(fn, X3, gamma, beta)
    over_two = gj.nn.layer_normalization(X3.astype(np.float32), axis=[1, 2], epsilon=1e-5).numpy()
    assert over_two.dtype == np.float32
    np.testing.assert_allclose(over_two, _layer_norm_reference(X3, (1, 2), 1e-5, None, None), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("call, argument", [
    (lambda: gj.nn.moments(np.ones((2, 2), np.int32), [0]), "x"),
    (lambda: gj.nn.moments(np.ones((2, 2)), None), "axes"),
    (lambda: gj.nn.moments(np.ones((2, 2)), [2]), "axis"),
    (lambda: gj.nn.batch_normalization([1.0], 0.0, 1.0, None, None, -1.0), "variance_epsilon"),
    (lambda: gj.nn.batch_normalization([1], 0.0, 1.0, None, None, 1e-3), "x"),
    (lambda: gj.nn.batch_normalization(gj.constant([1.0], gj.float32), gj.constant(0.0, gj.float64), 1.0, None,
                                       None, 1e-3), "mean"),
    (lambda: gj.nn.layer_normalization(np.ones((2, 2), np.int64)), "x"),
])
def test_normalization_errors_name_the_argument(call, argument):
    with pytest.raises(InvalidArgumentError, match=argument):
        call()


# ---- initializers -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape, fan_in, fan_out", [((784, 256), 784, 256), ((3, 3, 16, 32), 144, 288),
                                                    ((500,), 500, 500)])
def test_glorot_uniform_bounds_and_spread(shape, fan_in, fan_out):
    w = gj.initializers.glorot_uniform(seed=1)(shape).numpy()
    limit = math.sqrt(6 / (fan_in + fan_out))
    assert w.dtype == np.float32 and w.shape == shape
    assert np.all(np.abs(w) <= limit)
    # a uniform draw's stddev is limit / sqrt(3); with >= 500 draws it lies within 10% of that
    assert abs(w.std() / (limit / math.sqrt(3)) - 1) < 0.1


def test_he_normal_is_truncated_with_stddev_sqrt_2_over_fan_in():
    w = gj.initializers.he_normal(seed=2)((784, 256), gj.float64).numpy()
    stddev = math.sqrt(2 / 784)
    assert w.dtype == np.float64
    # Keras: a truncated normal whose parameter is stddev / 0.8796..., so the draws have stddev `stddev`,
    # all within 2 of the parameter; 200K draws put the measured stddev within 1%
    assert np.all(np.abs(w) < 2 * stddev / 0.87962566103423978)
    assert abs(w.std() / stddev - 1) < 0.01 and abs(w.mean()) < 0.01 * stddev * 10


def test_a_seed_gives_the_same_values_and_makes_a_variable():
    gj.random.set_seed(5)
    first = gj.initializers.glorot_uniform(seed=1)((4, 3)).numpy()
    gj.random.set_seed(5)
    again = gj.initializers.glorot_uniform(seed=1)((4, 3)).numpy()
    np.testing.assert_array_equal(first, again)
    v = gj.Variable(gj.initializers.glorot_uniform(seed=1)((784, 256)))
    assert v.shape == (784, 256) and v.dtype == gj.float32
    zeros = gj.initializers.zeros()((2, 3), gj.int32)
    assert zeros.dtype == gj.int32 and not zeros.numpy().any()


@pytest.mark.parametrize("call, argument", [
    (lambda: gj.initializers.glorot_uniform(seed=-1), "seed"),
    (lambda: gj.initializers.he_normal(seed=1.5), "seed"),
    (lambda: gj.initializers.glorot_uniform()((2, 2), gj.int32), "dtype"),
    (lambda: gj.initializers.he_normal()((2, -1)), "shape"),
    (lambda: gj.initializers.zeros()("abc"), "shape"),
])
def test_initializer_errors_name_the_argument(call, argument):
    with pytest.raises(InvalidArgumentError, match=argument):
        call()


# ---- the one compiled test: a dense layer, gelu and layer normalization through the Numba backend --------

def test_compiled_layer_matches_eager(compiled_background, monkeypatch):
    monkeypatch.setattr(gj.config, "compile_in_background", False)   # the first call runs the compiled code
    w = gj.initializers.glorot_uniform(seed=3)((5, 6), gj.float64)

    def layer(x):   # gelu's erf compiles to libm's erf, as eager's math.erf calls it
        return gj.nn.layer_normalization(gj.nn.gelu(gj.matmul(x, w)))

    np.testing.assert_allclose(gj.function(layer)(X64).numpy(), layer(X64).numpy(), rtol=1e-13, atol=1e-15)
