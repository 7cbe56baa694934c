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


def test_max_pool_shares_a_tied_window_maximum_equally():
    """reduce_max's rule (documented on max_pool2d): TF would give the whole gradient to the first maximum."""
    x = gj.constant(np.array([1.0, 3.0, 3.0, 0.0]).reshape(1, 2, 2, 1))
    with gj.GradientTape() as tape:
        tape.watch(x)
        y = gj.nn.max_pool2d(x, 2, 2, "VALID")
    np.testing.assert_array_equal(np.asarray(tape.gradient(y, x)).ravel(), [0.0, 0.5, 0.5, 0.0])


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
