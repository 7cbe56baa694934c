"""Normalisation rows on the CPU backend (compiler.row_fusion, compiler.row_writers): layer norm, RMSNorm and
softmax over the last axis compile to one ``rows`` kernel (one pass over memory), and their results match float64
NumPy references within float32's rounding of the same formula (sums reassociate: docs/numerics.md), NaN and
infinite rows as NumPy gives them, for 1xN, Nx1, odd, long-row, many-row, batched and transposed inputs."""
import numba
import numpy as np
import pytest

import graphjit as gj

RNG = np.random.default_rng(22)
EPS = 1e-5
RTOL, ATOL = 2e-5, 2e-5   # a few float32 roundings of values of size ~1 (the formula's own, in float32)


@pytest.fixture
def compiled(monkeypatch):
    monkeypatch.setattr(gj.config, "backend", "cpu")
    monkeypatch.setattr(gj.config, "compile_in_background", False)


def layer_norm(x, gamma, beta):
    return gj.nn.layer_normalization(x, gamma=gamma, beta=beta, epsilon=EPS)


def rms_norm(x, gamma):
    return x * gj.math.rsqrt(gj.reduce_mean(x * x, axis=-1, keepdims=True) + EPS) * gamma


def softmax_by_hand(x):
    e = gj.exp(x - gj.reduce_max(x, axis=-1, keepdims=True))
    return e / gj.reduce_sum(e, axis=-1, keepdims=True)


def ref_layer_norm(x, gamma, beta):
    """(result, scale): TF's formula x * inv + (beta - mean * inv), inv = gamma / sqrt(var + eps), as
    gj.nn.layer_normalization computes it; ``scale`` the size of its float32 terms, whose cancellation (a row of
    small variance has a large inv) costs a few ULP of them, not of the result."""
    x = x.astype(np.float64)
    with np.errstate(all="ignore"):
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        inv = gamma / np.sqrt(var + EPS)
        return x * inv + (beta - mean * inv), np.abs(x * inv) + np.abs(mean * inv) + np.abs(beta)


def ref_rms_norm(x, gamma):
    x = x.astype(np.float64)
    with np.errstate(all="ignore"):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + EPS) * gamma


def ref_softmax(x):
    x = x.astype(np.float64)
    with np.errstate(all="ignore"):
        e = np.exp(x - x.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)


def kernel_kinds(fn, *args):
    concrete = fn.get_concrete_function(*args)
    exe = concrete._compiled()
    return [info["kind"] for info in exe.kernels.values()], exe.entry_count


def check(got, want):
    """``want``: a float64 reference, or (reference, size of the float32 terms it cancels: 8 ULP of them allowed)."""
    want, scale = want if isinstance(want, tuple) else (want, 0.0)
    got = np.asarray(got)
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
    with np.errstate(all="ignore"):
        finite = np.isfinite(want)
        bound = ATOL + RTOL * np.abs(want) + 8 * 2.0 ** -24 * np.where(np.isfinite(scale), scale, 0)
        assert (np.abs(got - want) <= bound)[finite].all(), np.max(np.abs(got - want)[finite])
        np.testing.assert_array_equal(got[~finite], want[~finite])


SHAPES = [(1, 300), (300, 1), (37, 53), (1, 1), (3, 70000), (20000, 3), (2, 3, 129)]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_three_normalisations_match_float64_references(compiled, shape):
    x = RNG.standard_normal(shape).astype(np.float32) * 3 + 1
    gamma, beta = (RNG.standard_normal(shape[-1:]).astype(np.float32) for _ in range(2))
    ln, rms, sm = gj.function(layer_norm), gj.function(rms_norm), gj.function(softmax_by_hand)
    check(ln(x, gamma, beta), ref_layer_norm(x, gamma, beta))
    check(rms(x, gamma), ref_rms_norm(x, gamma))
    check(sm(x), ref_softmax(x))
    check(gj.function(gj.nn.softmax)(x), ref_softmax(x))


def test_each_normalisation_is_one_row_kernel(compiled):
    x = RNG.standard_normal((64, 96)).astype(np.float32)
    gamma, beta = (RNG.standard_normal(96).astype(np.float32) for _ in range(2))
    assert kernel_kinds(gj.function(layer_norm), x, gamma, beta) == (["rows"], 1)
    assert kernel_kinds(gj.function(rms_norm), x, gamma) == (["rows"], 1)
    assert kernel_kinds(gj.function(softmax_by_hand), x) == (["rows"], 1)
    ln = gj.function(layer_norm)
    report = str(gj.explain(ln, x, gamma, beta))
    (row,) = [line for line in report.splitlines() if line.startswith("stage0_rows")]
    assert row.split()[1] == "rows" and "reduce_mean" in row and "rsqrt" in row
    assert "1 group(s)" in report


def test_nan_and_infinite_rows_as_numpy(compiled):
    x = RNG.standard_normal((8, 33)).astype(np.float32)
    x[1, 4] = np.nan
    x[2, 7] = np.inf
    x[3, :] = -np.inf
    x[4, 0] = -np.inf
    x[5, :] = 2.5           # a constant row: zero variance
    x[6, 3], x[6, 9] = np.inf, -np.inf
    gamma, beta = np.ones(33, np.float32), np.zeros(33, np.float32)
    check(gj.function(layer_norm)(x, gamma, beta), ref_layer_norm(x, gamma, beta))
    check(gj.function(rms_norm)(x, gamma), ref_rms_norm(x, gamma))
    check(gj.function(softmax_by_hand)(x), ref_softmax(x))
    check(gj.function(gj.nn.softmax)(x), ref_softmax(x))


def test_row_max_and_min_inside_a_chain(compiled):
    """The chain's max/min (compared as ordered integers) against NumPy's, returned beside the chain's result:
    NaN anywhere in a row gives NaN, infinite and all -inf rows, ordinary rows."""
    x = RNG.standard_normal((6, 40)).astype(np.float32)
    x[1, 5] = np.nan
    x[2, :] = -np.inf
    x[3, 2] = np.inf
    x[4, :] = 7.0

    def f(x):
        top, low = gj.reduce_max(x, axis=-1, keepdims=True), gj.reduce_min(x, axis=-1, keepdims=True)
        return (x - low) / (top - low), top, low
    fn = gj.function(f)
    kinds, _ = kernel_kinds(fn, x)
    assert kinds == ["rows"]
    scaled, top, low = (np.asarray(v) for v in fn(x))
    np.testing.assert_array_equal(top, x.max(-1, keepdims=True))
    np.testing.assert_array_equal(low, x.min(-1, keepdims=True))
    with np.errstate(all="ignore"):
        want = (x.astype(np.float64) - x.min(-1, keepdims=True)) / (x.max(-1, keepdims=True) - x.min(-1, keepdims=True))
    check(scaled, want)


def test_float64_rows(compiled):
    x = RNG.standard_normal((33, 65))
    gamma, beta = RNG.standard_normal(65), RNG.standard_normal(65)
    got = np.asarray(gj.function(layer_norm)(x, gamma, beta))
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, ref_layer_norm(x, gamma, beta)[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.asarray(gj.function(softmax_by_hand)(x)), ref_softmax(x), rtol=1e-13, atol=0)


def test_transposed_and_strided_inputs(compiled):
    """A row chain reading through a transpose (rows one element apart) or a strided slice."""
    x = RNG.standard_normal((48, 40)).astype(np.float32)
    gamma, beta = (RNG.standard_normal(48).astype(np.float32) for _ in range(2))
    fn = gj.function(lambda x, g, b: layer_norm(gj.transpose(x), g, b))
    assert kernel_kinds(fn, x, gamma, beta)[0] == ["rows"]
    check(fn(x, gamma, beta), ref_layer_norm(x.T, gamma, beta))
    sliced = gj.function(lambda x: softmax_by_hand(x[::2, 1::3]))
    check(sliced(x), ref_softmax(x[::2, 1::3]))
    check(gj.function(softmax_by_hand)(x.T), ref_softmax(x.T))   # a non-contiguous array argument


def test_per_column_broadcast_is_not_read_per_row(compiled):
    """``x - mean(x, axis=1)`` without keepdims broadcasts the row means along the last axis (NumPy's rule): the
    chain must not read that value once per row."""
    x = RNG.standard_normal((5, 5)).astype(np.float32)
    fn = gj.function(lambda x: x - gj.reduce_mean(x, axis=1) * gj.reduce_sum(x * x, axis=1))
    want = x.astype(np.float64) - x.astype(np.float64).mean(1) * (x.astype(np.float64) ** 2).sum(1)
    np.testing.assert_allclose(np.asarray(fn(x)), want, rtol=1e-5, atol=1e-5)


def test_rows_do_not_depend_on_the_thread_count(compiled):
    """Each row is one thread's, its lanes combined in an order fixed at compile time: bit-identical results with
    one thread and with all of them."""
    x = RNG.standard_normal((512, 1000)).astype(np.float32)
    gamma, beta = (RNG.standard_normal(1000).astype(np.float32) for _ in range(2))
    fn = gj.function(layer_norm)
    everyone = np.array(fn(x, gamma, beta))
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        alone = np.array(fn(x, gamma, beta))
    finally:
        numba.set_num_threads(threads)
    np.testing.assert_array_equal(alone, everyone)


def test_layer_norm_gradient_matches_the_interpreter(compiled, monkeypatch):
    x = RNG.standard_normal((16, 24)).astype(np.float32)
    gamma, beta = (RNG.standard_normal(24).astype(np.float32) for _ in range(2))
    upstream = RNG.standard_normal((16, 24)).astype(np.float32)

    def grads(x, gamma, beta):
        with gj.GradientTape() as tape:
            tape.watch([x, gamma, beta])
            loss = gj.reduce_sum(layer_norm(x, gamma, beta) * upstream)
        return tape.gradient(loss, [x, gamma, beta])
    got = [np.asarray(g) for g in gj.function(grads)(x, gamma, beta)]
    monkeypatch.setattr(gj.config, "backend", "interpreter")
    want = [np.asarray(g) for g in gj.function(grads)(x, gamma, beta)]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)


def test_a_transcendental_summed_in_a_row_is_computed_once_and_kept_in_a_row_tile(compiled):
    """softmax by hand: exp(x - max) goes to the row tile in its own loop, is summed from there, and the divide
    reads it back (one exp per element). Checked with the tiled value also returned (stored from the tile), a mean
    in place of the sum, a second sum over the tiled value, and with one thread against all of them."""
    def f(x):
        e = gj.exp(x - gj.reduce_max(x, axis=-1, keepdims=True))
        total = gj.reduce_sum(e, axis=-1, keepdims=True)
        return e / total, e / gj.reduce_mean(e, axis=-1, keepdims=True), gj.reduce_sum(e * e, axis=-1), e
    fn = gj.function(f)
    for shape in [(4, 1), (3, 1001), (16, 4096)]:
        x = (RNG.standard_normal(shape) * 4).astype(np.float32)
        x[0, 0] = np.nan if shape[1] > 1 else x[0, 0]
        exe = fn.get_concrete_function(x)._compiled()
        (kernel,) = [k for k in fn.get_concrete_function(x).kernels.values() if "row_tile(" in k]
        assert kernel.count("exp_f32(") == 1, kernel
        got = [np.asarray(v) for v in fn(x)]
        assert [info["kind"] for info in exe.kernels.values()] == ["rows"]
        x64 = x.astype(np.float64)
        with np.errstate(all="ignore"):
            e = np.exp(x64 - x64.max(-1, keepdims=True))
        check(got[0], e / e.sum(-1, keepdims=True))
        check(got[1], e / e.mean(-1, keepdims=True))
        np.testing.assert_allclose(got[2], (e * e).sum(-1), rtol=1e-5, atol=0)
        assert np.isnan(got[2][0]) == np.isnan(x[0]).any()
        check(got[3], e)
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        alone = [np.asarray(v) for v in fn(x)]
    finally:
        numba.set_num_threads(threads)
    for a, b in zip(alone, got):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("n", [1, 2049, 5000])
def test_log_softmax_logsumexp_and_cross_entropy_over_rows_of_several_tiles(compiled, n):
    """Their exp sums run a tile of 2048 columns at a time (compiler.kernel_writers._row_exp_sum): rows of one
    column, of one more than a tile, and of two tiles and a part."""
    x = (RNG.standard_normal((3, n)) * 5).astype(np.float32)
    x[1, -1] = np.inf
    x[2, 0] = np.nan
    labels = np.array([0, n - 1, n // 2])
    fn = gj.function(lambda x, labels: (gj.nn.log_softmax(x, axis=-1), gj.reduce_logsumexp(x, axis=-1),
                                        gj.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=x)))
    log_sm, lse, xent = (np.asarray(v) for v in fn(x, labels))
    x64 = x.astype(np.float64)
    with np.errstate(all="ignore"):
        m = x64.max(-1, keepdims=True)
        want_lse = np.log(np.exp(x64 - m).sum(-1)) + m[:, 0]
        want_log_sm = x64 - want_lse[:, None]
    np.testing.assert_allclose(lse[:2][np.isfinite(want_lse[:2])], want_lse[:2][np.isfinite(want_lse[:2])], rtol=1e-5)
    assert np.isnan(lse[2]) and np.isnan(log_sm[2]).all() and np.isnan(xent[2])
    assert lse[1] == np.inf   # a row holding +inf
    ok = np.isfinite(want_log_sm[0])
    np.testing.assert_allclose(log_sm[0][ok], want_log_sm[0][ok], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(xent[0], -want_log_sm[0, 0], rtol=1e-5, atol=1e-5)
