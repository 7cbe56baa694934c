"""gj.nn.conv2d, max_pool2d, avg_pool2d and gj.math.top_k (composites in tracer/ops/conv.py) against naive
NumPy float64 loops written here from TF's definitions: eager and traced (the interpreter), their gradients
against central finite differences, argument errors, and one small conv net compiled by the CPU backend."""
import itertools

import numpy as np
import pytest

import graphjit as gj
from graphjit.errors import InvalidArgumentError, UnimplementedError
from gradient_check import check_gradients


# ---- references: loops over output positions, TF's shape and padding rules spelled out -------------------

def reference_geometry(size, window, stride, padding):
    """(out, pad_before) along one dimension: TF's VALID / SAME (the odd padding element after)."""
    if padding == "VALID":
        return (size - window) // stride + 1, 0
    out = -(-size // stride)
    return out, max((out - 1) * stride + window - size, 0) // 2


def reference_windows(x, window, strides, padding):
    """Yields (n, i, j, block): the in-bounds part of each output position's window (padding dropped)."""
    batch, height, width, _ = x.shape
    out_h, top = reference_geometry(height, window[0], strides[0], padding)
    out_w, left = reference_geometry(width, window[1], strides[1], padding)
    for n, i, j in itertools.product(range(batch), range(out_h), range(out_w)):
        r0, c0 = i * strides[0] - top, j * strides[1] - left
        yield n, i, j, r0, c0, x[n, max(r0, 0):r0 + window[0], max(c0, 0):c0 + window[1], :]


def reference_out_shape(x, window, strides, padding, channels):
    return (x.shape[0], reference_geometry(x.shape[1], window[0], strides[0], padding)[0],
            reference_geometry(x.shape[2], window[1], strides[1], padding)[0], channels)


def reference_conv2d(x, w, strides, padding):
    fh, fw, _, out_c = w.shape
    out = np.zeros(reference_out_shape(x, (fh, fw), strides, padding, out_c))
    for n, i, j, r0, c0, _ in reference_windows(x, (fh, fw), strides, padding):
        for a, b in itertools.product(range(fh), range(fw)):
            r, c = r0 + a, c0 + b
            if 0 <= r < x.shape[1] and 0 <= c < x.shape[2]:   # padding contributes zeros
                out[n, i, j] += x[n, r, c, :] @ w[a, b]
    return out


def reference_pool(x, window, strides, padding, reduce):
    out = np.zeros(reference_out_shape(x, window, strides, padding, x.shape[3]))
    for n, i, j, _, _, block in reference_windows(x, window, strides, padding):
        out[n, i, j] = reduce(block.reshape(-1, x.shape[3]), axis=0)   # over valid elements only, as TF
    return out


# ---- forward: eager and traced against the references -----------------------------------------------------

GEOMETRIES = [  # (input h, w), (window h, w), strides as passed, their (h, w)
    ((5, 5), (3, 3), 1, (1, 1)), ((6, 6), (3, 3), 2, (2, 2)), ((7, 6), (2, 3), [2], (2, 2)),
    ((4, 7), (2, 2), [1, 2, 2, 1], (2, 2)), ((6, 5), (3, 2), [2, 1], (2, 1)), ((3, 3), (1, 1), 2, (2, 2)),
]


def _traced(fn):
    return gj.function(fn)


@pytest.mark.parametrize("padding", ["SAME", "VALID"])
@pytest.mark.parametrize("size, window, strides, pair", GEOMETRIES)
def test_conv2d_matches_the_reference_eager_and_traced(size, window, strides, pair, padding):
    rng = np.random.default_rng(sum(size) + sum(window))
    x = rng.standard_normal((2, *size, 3))
    w = rng.standard_normal((*window, 3, 4))
    want = reference_conv2d(x, w, pair, padding)
    conv = lambda a, b: gj.nn.conv2d(a, b, strides, padding)  # noqa: E731
    eager = np.asarray(conv(x, w))
    assert eager.shape == want.shape and eager.dtype == np.float64
    np.testing.assert_allclose(eager, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(np.asarray(_traced(conv)(x, w)), eager)
    got32 = np.asarray(conv(x.astype(np.float32), w.astype(np.float32)))
    assert got32.dtype == np.float32
    np.testing.assert_allclose(got32, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("padding", ["SAME", "VALID"])
@pytest.mark.parametrize("size, window, strides, pair", GEOMETRIES)
@pytest.mark.parametrize("pool, reduce", [(gj.nn.max_pool2d, np.max), (gj.nn.avg_pool2d, np.mean)])
def test_pools_match_the_reference_eager_and_traced(pool, reduce, size, window, strides, pair, padding):
    rng = np.random.default_rng(sum(size) * 7 + sum(window))
    x = rng.standard_normal((3, *size, 2)) - 5.0   # all negative: a zero (or -inf) from padding would show
    want = reference_pool(x, window, pair, padding, reduce)
    run = lambda a: pool(a, window, strides, padding)  # noqa: E731
    eager = np.asarray(run(x))
    assert eager.shape == want.shape
    np.testing.assert_allclose(eager, want, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(np.asarray(_traced(run)(x)), eager)


def test_pool_ksize_in_tfs_four_element_form():
    x = np.arange(2 * 4 * 4 * 1, dtype=np.float64).reshape(2, 4, 4, 1)
    got = gj.nn.max_pool2d(x, [1, 2, 2, 1], [1, 2, 2, 1], "VALID")
    np.testing.assert_array_equal(np.asarray(got), reference_pool(x, (2, 2), (2, 2), "VALID", np.max))


# ---- gradients: float64 central differences on tiny shapes ------------------------------------------------

@pytest.mark.parametrize("padding, strides", [("SAME", 1), ("SAME", 2), ("VALID", 1), ("VALID", 2)])
def test_conv2d_gradients_for_input_and_filters(padding, strides):
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((2, 5, 4, 2)), rng.standard_normal((3, 2, 2, 3))
    check_gradients(lambda a, b: gj.nn.conv2d(a, b, strides, padding), x, w, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("padding, strides", [("SAME", 1), ("SAME", 2), ("VALID", 1), ("VALID", 2)])
def test_pool_gradients(padding, strides):
    # Distinct values, so no window has a tie for its maximum (finite differences need a smooth point).
    rng = np.random.default_rng(6)
    x = rng.permutation(2 * 5 * 4 * 2).reshape(2, 5, 4, 2) * 0.1
    check_gradients(lambda a: gj.nn.max_pool2d(a, (3, 2), strides, padding), x, atol=1e-7)
    check_gradients(lambda a: gj.nn.avg_pool2d(a, (3, 2), strides, padding), x, atol=1e-7)


# ---- max pool ties: the whole gradient to the first maximum, row-major in the window (TF's MaxPoolGrad) -----

def reference_max_pool_and_grad(x, upstream, window, strides, padding):
    """The pool and its gradient by loops: each window's (padding-free) block, per channel its first maximum
    in row-major order (np.argmax: the first of equal values, the first NaN if any) gets the upstream value."""
    out = np.zeros(reference_out_shape(x, window, strides, padding, x.shape[3]))
    grad = np.zeros_like(x, dtype=np.float64)
    for n, i, j, r0, c0, block in reference_windows(x, window, strides, padding):
        flat = block.reshape(-1, x.shape[3])
        first = np.argmax(flat, axis=0)
        for c, k in enumerate(first):
            a, b = divmod(int(k), block.shape[1])
            out[n, i, j, c] = flat[k, c]
            grad[n, max(r0, 0) + a, max(c0, 0) + b, c] += upstream[n, i, j, c]
    return out, grad


def _pool_and_grad(x, upstream, window, strides, padding):
    t = gj.constant(x)
    with gj.GradientTape() as tape:
        tape.watch(t)
        y = gj.nn.max_pool2d(t, window, strides, padding)
    return y, tape.gradient(y, t, output_gradients=gj.constant(upstream))


TIE_INPUTS = {
    "all equal": lambda rng, shape: np.full(shape, 2.0),
    "small integers": lambda rng, shape: rng.integers(0, 3, shape).astype(np.float64),
    "negative integers": lambda rng, shape: -rng.integers(1, 3, shape).astype(np.float64),
    "all -inf": lambda rng, shape: np.full(shape, -np.inf),
    "zeros of both signs": lambda rng, shape: np.where(rng.random(shape) < 0.5, -0.0, 0.0),
}
TIE_GEOMETRIES = [((2, 2), (2, 2), "VALID"), ((3, 3), (2, 2), "SAME"), ((3, 3), (1, 1), "SAME"),
                  ((2, 3), (1, 2), "SAME"), ((3, 2), (3, 2), "SAME")]


def _tie_batch(kinds, window):
    """One batch holding two examples of each kind of tied input (one compiled function serves them all)."""
    rng = np.random.default_rng(sum(window))
    return np.concatenate([TIE_INPUTS[kind](rng, (2, 7, 6, 3)) for kind in kinds])


@pytest.mark.parametrize("window, strides, padding", TIE_GEOMETRIES)
@pytest.mark.parametrize("kinds, backend", [*(([kind], "eager") for kind in sorted(TIE_INPUTS)),
                                            (sorted(TIE_INPUTS), "interpreter"), (sorted(TIE_INPUTS), "cpu")])
def test_max_pool_gradient_goes_to_the_first_maximum_of_tied_windows(backend, kinds, window, strides, padding,
                                                                     monkeypatch):
    rng = np.random.default_rng(len(kinds) + sum(window))
    x = _tie_batch(kinds, window)
    want_y, _ = reference_max_pool_and_grad(x, np.zeros(x.shape), window, strides, padding)
    upstream = rng.uniform(0.5, 1.5, want_y.shape)
    want_y, want_grad = reference_max_pool_and_grad(x, upstream, window, strides, padding)
    if backend == "eager":
        y, grad = _pool_and_grad(x, upstream, window, strides, padding)
    else:
        monkeypatch.setattr(gj.config, "backend", backend)
        monkeypatch.setattr(gj.config, "compile_in_background", False)
        y, grad = gj.function(lambda a, g: _pool_and_grad(a, g, window, strides, padding))(x, upstream)
    np.testing.assert_array_equal(np.asarray(y), want_y)
    np.testing.assert_array_equal(np.signbit(np.asarray(y)), np.signbit(want_y))   # the first max's own zero
    np.testing.assert_allclose(np.asarray(grad), want_grad, rtol=1e-15, atol=0)


def test_each_tied_window_hands_its_whole_gradient_to_its_first_element():
    """Non-overlapping 2x2 windows of equal values: per window one nonzero, at the window's top-left, equal to
    the window's upstream gradient (so the window sums are the upstream, and nothing is shared)."""
    x = np.ones((1, 4, 6, 2))
    upstream = np.arange(1.0, 13.0).reshape(1, 2, 3, 2)
    _, grad = _pool_and_grad(x, upstream, 2, 2, "VALID")
    grad = np.asarray(grad)
    windows = grad.reshape(1, 2, 2, 3, 2, 2)                   # [n, i, a, j, b, c]
    np.testing.assert_array_equal(windows.sum(axis=(2, 4)), upstream)
    np.testing.assert_array_equal(windows[:, :, 0, :, 0, :], upstream)
    assert np.count_nonzero(grad) == upstream.size


def test_max_pool_same_padding_never_wins_against_negative_or_minus_inf_inputs():
    """SAME padding on every side (3x3 windows, stride 1): windows of -inf inputs still pick an input, and
    all-negative inputs come out unchanged in their maxima (a 0 from padding would show)."""
    x = np.full((1, 3, 3, 1), -np.inf)
    y, grad = _pool_and_grad(x, np.ones((1, 3, 3, 1)), 3, 1, "SAME")
    np.testing.assert_array_equal(np.asarray(y), x)
    # Every window's first element is its top-left input: (0,0) starts 4 windows, (0,1) and (1,0) 2, (1,1) 1.
    np.testing.assert_array_equal(np.asarray(grad)[0, :, :, 0], [[4, 2, 0], [2, 1, 0], [0, 0, 0]])
    negative = -np.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    y, grad = _pool_and_grad(negative, np.ones((1, 3, 3, 1)), 3, 1, "SAME")
    want_y, want_grad = reference_max_pool_and_grad(negative, np.ones((1, 3, 3, 1)), (3, 3), (1, 1), "SAME")
    np.testing.assert_array_equal(np.asarray(y), want_y)
    np.testing.assert_array_equal(np.asarray(grad), want_grad)
    assert np.asarray(grad).sum() == 9


@pytest.mark.parametrize("backend", ["eager", "cpu"])
def test_a_nan_wins_its_window_and_takes_the_gradient(backend, monkeypatch):
    x = np.arange(16.0).reshape(1, 4, 4, 1)
    x[0, 1, 0, 0] = np.nan                      # the window's third element; its larger neighbour is 5
    upstream = np.full((1, 2, 2, 1), 3.0)
    want_y, want_grad = reference_max_pool_and_grad(x, upstream, (2, 2), (2, 2), "VALID")
    assert np.isnan(want_y[0, 0, 0, 0]) and want_grad[0, 1, 0, 0] == 3.0
    if backend == "cpu":
        monkeypatch.setattr(gj.config, "backend", "cpu")
        monkeypatch.setattr(gj.config, "compile_in_background", False)
        y, grad = gj.function(lambda a, g: _pool_and_grad(a, g, 2, 2, "VALID"))(x, upstream)
    else:
        y, grad = _pool_and_grad(x, upstream, 2, 2, "VALID")
    np.testing.assert_array_equal(np.asarray(y), want_y)
    np.testing.assert_array_equal(np.asarray(grad), want_grad)


@pytest.mark.parametrize("window, strides, padding", [((2, 2), (2, 2), "VALID"), ((3, 3), (2, 2), "SAME")])
def test_compiled_max_pool_float32_matches_the_interpreter(window, strides, padding, monkeypatch):
    """The benchmark's shapes (smaller batch), forward and backward, the CPU backend against the interpreter."""
    monkeypatch.setattr(gj.config, "compile_in_background", False)
    rng = np.random.default_rng(12)
    x = rng.integers(-3, 3, (4, 28, 28, 16)).astype(np.float32)   # many ties
    upstream = rng.standard_normal(reference_out_shape(x, window, strides, padding, 16)).astype(np.float32)
    step = lambda a, g: _pool_and_grad(a, g, window, strides, padding)  # noqa: E731
    results = {}
    for backend in ("interpreter", "cpu"):
        monkeypatch.setattr(gj.config, "backend", backend)
        results[backend] = [np.asarray(v) for v in gj.function(step)(x, upstream)]
    for got, want in zip(results["cpu"], results["interpreter"]):
        assert got.dtype == want.dtype == np.float32
        np.testing.assert_array_equal(got, want)
    want_y, want_grad = reference_max_pool_and_grad(x, upstream, window, strides, padding)
    np.testing.assert_array_equal(results["cpu"][0], want_y)
    np.testing.assert_allclose(results["cpu"][1], want_grad, rtol=1e-6, atol=1e-6)


# ---- top_k ------------------------------------------------------------------------------------------------

def reference_top_k(x, k):
    """Largest first; of equal values the lower index first (a stable sort on the negated values)."""
    order = np.argsort(-x, axis=-1, kind="stable")[..., :k]
    return np.take_along_axis(x, order, axis=-1), order


@pytest.mark.parametrize("shape, k", [((6,), 3), ((3, 5), 5), ((2, 3, 4), 1), ((2, 4), 0)])
def test_top_k_matches_the_reference_with_ties_to_the_lower_index(shape, k):
    rng = np.random.default_rng(len(shape) + k)
    x = rng.integers(0, 3, shape).astype(np.float32)   # many ties
    want_values, want_indices = reference_top_k(x, k)
    for fn in (gj.math.top_k, _traced(lambda a: gj.nn.top_k(a, k))):
        result = fn(x, k) if fn is gj.math.top_k else fn(x)
        values, indices = result
        np.testing.assert_array_equal(np.asarray(values), want_values)
        np.testing.assert_array_equal(np.asarray(indices), want_indices)
        assert indices.dtype is gj.int32 and values.dtype is gj.float32
        assert result.values is values and result.indices is indices


def test_top_k_values_are_differentiable_and_indices_are_not():
    rng = np.random.default_rng(8)
    x = rng.permutation(12).reshape(3, 4) * 0.25   # distinct: top_k is locally a fixed gather
    check_gradients(lambda a: gj.math.top_k(a, 2).values, x)
    t = gj.constant(x)
    with gj.GradientTape() as tape:
        tape.watch(t)
        indices = gj.math.top_k(t, 2).indices
    assert tape.gradient(gj.cast(indices, gj.float64), t) is None


# ---- argument errors --------------------------------------------------------------------------------------

X = np.zeros((1, 4, 4, 2))
W = np.zeros((2, 2, 2, 3))


@pytest.mark.parametrize("call, error, words", [
    (lambda: gj.nn.conv2d(np.zeros((4, 4, 2)), W, 1, "SAME"), InvalidArgumentError, ["input", "rank 4", "[4,4,2]"]),
    (lambda: gj.nn.conv2d(X, np.zeros((2, 2, 2)), 1, "SAME"), InvalidArgumentError, ["filters", "[2,2,2]"]),
    (lambda: gj.nn.conv2d(X, np.zeros((2, 2, 3, 1)), 1, "SAME"), InvalidArgumentError,
     ["filters", "[2,2,3,1]", "3 input channels", "[1,4,4,2]", "has 2"]),
    (lambda: gj.nn.conv2d(X, W, 1, "same"), InvalidArgumentError, ["padding", "'same'"]),
    (lambda: gj.nn.conv2d(X, W, 0, "SAME"), InvalidArgumentError, ["strides", "0"]),
    (lambda: gj.nn.conv2d(X, W, [2, 2, 2, 2], "SAME"), InvalidArgumentError, ["strides", "batch"]),
    (lambda: gj.nn.conv2d(X, W, [1, 2, 3], "SAME"), InvalidArgumentError, ["strides", "[1, 2, 3]"]),
    (lambda: gj.nn.conv2d(X, W.astype(np.float32), 1, "SAME"), InvalidArgumentError, ["float32", "float64"]),
    (lambda: gj.nn.conv2d(X.astype(np.int32), W, 1, "SAME"), InvalidArgumentError, ["input", "int32"]),
    (lambda: gj.nn.conv2d(X, np.zeros((5, 5, 2, 1)), 1, "VALID"), InvalidArgumentError,
     ["[5, 5]", "[1,4,4,2]"]),
    (lambda: gj.nn.conv2d(X, W, 1, "SAME", dilations=2), UnimplementedError, ["dilations"]),
    (lambda: gj.nn.conv2d(X, W, 1, "SAME", data_format="NCHW"), UnimplementedError, ["NCHW"]),
    (lambda: gj.nn.max_pool2d(np.zeros((4, 4)), 2, 2, "SAME"), InvalidArgumentError, ["max_pool2d", "[4,4]"]),
    (lambda: gj.nn.avg_pool2d(X, 2, 2, "FULL"), InvalidArgumentError, ["avg_pool2d", "padding", "'FULL'"]),
    (lambda: gj.nn.avg_pool2d(X, [2, 2, 2], 2, "SAME"), InvalidArgumentError, ["ksize"]),
    (lambda: gj.math.top_k(np.zeros((2, 3)), 4), InvalidArgumentError, ["k=4", "[0, 3]", "[2,3]"]),
    (lambda: gj.math.top_k(np.float64(1.0), 1), InvalidArgumentError, ["rank >= 1"]),
])
def test_bad_arguments_raise_errors_naming_them(call, error, words):
    with pytest.raises(error) as info:
        call()
    for word in words:
        assert word in str(info.value), (word, str(info.value))


# ---- one compiled test: a small conv net, forward and backward, CPU backend vs eager ----------------------

def _conv_net_loss(x, w1, w2, dense):
    h = gj.nn.relu(gj.nn.conv2d(x, w1, 1, "SAME"))
    h = gj.nn.max_pool2d(h, 2, 2, "SAME")
    h = gj.nn.relu(gj.nn.conv2d(h, w2, [2], "VALID"))
    h = gj.nn.avg_pool2d(h, 2, 1, "SAME")
    logits = gj.reshape(h, [x.shape[0], -1]) @ dense
    return gj.reduce_mean(gj.nn.sparse_softmax_cross_entropy_with_logits(labels=np.array([0, 2, 1]),
                                                                         logits=logits))


def _loss_and_gradients(*arrays):
    with gj.GradientTape() as tape:
        tape.watch(arrays)
        loss = _conv_net_loss(*arrays)
    return [loss, *tape.gradient(loss, list(arrays))]


def test_a_compiled_conv_net_forward_and_backward_matches_eager(monkeypatch):
    monkeypatch.setattr(gj.config, "backend", "cpu")
    monkeypatch.setattr(gj.config, "compile_in_background", False)
    rng = np.random.default_rng(9)
    arrays = [rng.standard_normal(s).astype(np.float32) * scale
              for s, scale in (((3, 7, 7, 2), 1.0), ((3, 3, 2, 4), 0.5), ((2, 2, 4, 5), 0.5), ((20, 3), 0.3))]
    step = gj.function(_loss_and_gradients)
    compiled = [np.asarray(v) for v in step(*arrays)]
    from graphjit.runtime import get_runtime
    executable = get_runtime().executables(step.get_concrete_function(*arrays))["cpu"]
    assert executable.entry_count >= 1 and "stage" in executable.source   # it ran compiled code
    eager = [np.asarray(v) for v in _loss_and_gradients(*[gj.constant(a) for a in arrays])]
    for k, (got, want) in enumerate(zip(compiled, eager)):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * max(float(np.max(np.abs(want))), 1e-3),
                                   err_msg=f"output {k}")


def test_unknown_dims_of_a_compat_v1_placeholder_are_unimplemented():
    """The composites build constants (padding, top_k's row offsets) of the input's full shape."""
    tf = gj.compat.v1
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float64, [None, 4, 4, 2])
        for call in (lambda: gj.nn.conv2d(x, W, 1, "SAME"), lambda: gj.nn.avg_pool2d(x, 2, 2, "SAME"),
                     lambda: gj.math.top_k(x, 2)):
            with pytest.raises(UnimplementedError, match=r"must be known while tracing, got \[\?,4,4,2\]"):
                call()


def test_empty_batches_and_channels_keep_their_shapes():
    no_channels = gj.nn.conv2d(np.zeros((1, 4, 4, 0)), np.zeros((2, 2, 0, 3)), 1, "SAME")
    np.testing.assert_array_equal(np.asarray(no_channels), np.zeros((1, 4, 4, 3)))   # an empty sum is 0
    assert gj.nn.conv2d(np.zeros((0, 5, 5, 1)), np.zeros((2, 2, 1, 3)), 2, "VALID").shape == (0, 2, 2, 3)
    assert gj.nn.avg_pool2d(np.zeros((0, 5, 5, 2)), 2, 2, "SAME").shape == (0, 3, 3, 2)


def test_top_k_of_integers_keeps_their_dtype():
    values, indices = gj.math.top_k(np.array([[3, 1, 3, 2]], np.int32), 3)
    assert values.dtype is gj.int32
    np.testing.assert_array_equal(np.asarray(values), [[3, 3, 2]])
    np.testing.assert_array_equal(np.asarray(indices), [[0, 2, 3]])
