"""The NaN/inf and integer contract of docs/numerics.md, checked three ways: eagerly, traced on the reference
interpreter, and traced compiled on the CPU backend (one compiled graph per test). Expected values are written
out by hand from the contract and cross-checked against NumPy; eager ops must not emit RuntimeWarnings."""
import math
import platform
import warnings

import numpy as np
import pytest

import graphjit as gj

I32_MIN, I32_MAX = -2 ** 31, 2 ** 31 - 1
I64_MIN = -2 ** 63
NAN = math.nan


def three_ways(fn, *arrays):
    """fn's results eagerly, interpreted and compiled, as lists of ndarrays, keyed by path."""
    saved = (gj.config.backend, gj.config.compile_in_background)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # graphjit's own ops never warn
            results = {"eager": fn(*(gj.constant(a) for a in arrays))}
        gj.config.compile_in_background = False
        for backend in ("interpreter", "cpu"):
            gj.config.backend = backend
            results[backend] = gj.function(fn)(*arrays)
    finally:
        gj.config.backend, gj.config.compile_in_background = saved
    return {path: [np.asarray(r.numpy()) for r in rs] for path, rs in results.items()}


def check(results, expected, numpy_results=None):
    for path, values in results.items():
        assert len(values) == len(expected)
        for k, (value, want) in enumerate(zip(values, expected)):
            want = np.asarray(want, dtype=value.dtype)
            assert value.shape == want.shape, (path, k)
            np.testing.assert_array_equal(value, want, err_msg=f"{path}: result {k}")
    for k, (mine, theirs) in enumerate(zip(expected, numpy_results or ())):
        np.testing.assert_array_equal(np.asarray(mine, np.asarray(theirs).dtype), theirs, err_msg=f"numpy {k}")


def test_nan_propagation_of_reductions_and_arg_reductions():
    x = np.array([[1.0, NAN, 3.0, NAN], [2.0, 5.0, -1.0, 0.0]], np.float32)

    def f(x):
        return [gj.reduce_max(x, 1), gj.reduce_min(x, 0), gj.reduce_sum(x, 1), gj.reduce_mean(x),
                np.argmax(x, 1), np.argmin(x, 0), np.argmax(x), np.nanmax(x, 1), np.nansum(x, 0)]

    expected = [[NAN, 5.0], [1.0, NAN, -1.0, NAN], [NAN, 6.0], NAN,
                [1, 1], [0, 0, 1, 0], 1, [3.0, 5.0], [3.0, 5.0, 2.0, 0.0]]
    with np.errstate(all="ignore"):
        reference = [np.max(x, 1), np.min(x, 0), np.sum(x, 1), np.mean(x), np.argmax(x, 1), np.argmin(x, 0),
                     np.argmax(x), np.nanmax(x, 1), np.nansum(x, 0)]
    check(three_ways(f, x), expected, reference)


def test_maximum_minimum_propagate_nan_fmax_fmin_ignore_it():
    a = np.array([NAN, 1.0, NAN, -0.5, np.inf], np.float64)
    b = np.array([2.0, NAN, NAN, -np.inf, 3.0], np.float64)

    def f(a, b):
        return [np.maximum(a, b), np.minimum(a, b), np.fmax(a, b), np.fmin(a, b), np.clip(a, -1.0, 1.0),
                np.sort(a), np.cumsum(a)]

    expected = [[NAN, NAN, NAN, -0.5, np.inf], [NAN, NAN, NAN, -np.inf, 3.0], [2.0, 1.0, NAN, -0.5, np.inf],
                [2.0, 1.0, NAN, -np.inf, 3.0], [NAN, 1.0, NAN, -0.5, 1.0], [-0.5, 1.0, np.inf, NAN, NAN],
                [NAN] * 5]
    reference = [np.maximum(a, b), np.minimum(a, b), np.fmax(a, b), np.fmin(a, b), np.clip(a, -1, 1), np.sort(a),
                 np.cumsum(a)]
    check(three_ways(f, a, b), expected, reference)


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_integer_division_and_remainder_by_zero_and_overflow(dtype):
    lo, hi = (I32_MIN, I32_MAX) if dtype is np.int32 else (I64_MIN, -I64_MIN - 1)
    a = np.array([7, -7, 0, lo, lo, 5, hi], dtype)
    b = np.array([0, 0, 0, -1, 0, -3, 1], dtype)

    def f(a, b):
        return [a // b, a % b, np.fmod(a, b), np.divmod(a, b)[0], a + b, a * a, -a, abs(a), a - 1]

    wrap = lambda v: (v - lo) % (2 * -lo) + lo  # noqa: E731  (two's complement)
    expected = [[0, 0, 0, lo, 0, -2, hi], [0, 0, 0, 0, 0, -1, 0], [0, 0, 0, 0, 0, 2, 0], [0, 0, 0, lo, 0, -2, hi],
                [7, -7, 0, hi, lo, 2, lo], [wrap(v * v) for v in a.tolist()], [-7, 7, 0, lo, lo, -5, -hi],
                [7, 7, 0, lo, lo, 5, hi], [6, -8, -1, hi, hi, 4, hi - 1]]
    with np.errstate(all="ignore"):
        reference = [a // b, a % b, np.fmod(a, b), np.divmod(a, b)[0], a + b, a * a, -a, abs(a), a - 1]
    check(three_ways(f, a, b), expected, reference)


def test_integer_sums_widen_and_wrap_like_numpy():
    a = np.array([I32_MAX, I32_MAX, 2], np.int32)
    big = np.array([-I64_MIN - 1, 1], np.int64)

    def f(a, big):
        return [np.sum(a), np.sum(a, dtype=np.int32), np.prod(a), np.sum(big), np.cumsum(a)]

    expected = [2 ** 32, 0, wrap64(I32_MAX * I32_MAX * 2), I64_MIN, [I32_MAX, 2 ** 32 - 2, 2 ** 32]]
    reference = [np.sum(a), np.sum(a, dtype=np.int32), np.prod(a), np.sum(big), np.cumsum(a)]
    check(three_ways(f, a, big), expected, reference)


def wrap64(v):
    return (v + 2 ** 63) % 2 ** 64 - 2 ** 63


def test_float_division_by_zero_and_float_to_int_casts():
    f = np.array([NAN, np.inf, -np.inf, 3e9, -3e9, 2.7, -2.7, 1e20, 0.0], np.float32)

    def g(f):
        return [f.astype(np.int32), f.astype(np.int64), gj.cast(f, gj.int32), f.astype(bool), f / 0.0, f // 0.0,
                f % 0.0]

    # NaN, +-inf and out-of-range floats cast to ints give the integer minimum (x86's result, which NumPy
    # gives on x86 too; NumPy leaves it platform-dependent); in-range values truncate toward zero.
    expected = [[I32_MIN, I32_MIN, I32_MIN, I32_MIN, I32_MIN, 2, -2, I32_MIN, 0],
                [I64_MIN, I64_MIN, I64_MIN, 3000000000, -3000000000, 2, -2, I64_MIN, 0],
                [I32_MIN, I32_MIN, I32_MIN, I32_MIN, I32_MIN, 2, -2, I32_MIN, 0],
                [True] * 8 + [False],
                [NAN, np.inf, -np.inf, np.inf, -np.inf, np.inf, -np.inf, np.inf, NAN],
                [NAN, np.inf, -np.inf, np.inf, -np.inf, np.inf, -np.inf, np.inf, NAN],
                [NAN] * 9]
    check(three_ways(g, f), expected)
    with np.errstate(all="ignore"):
        reference = [f.astype(bool), f / np.float32(0), f // np.float32(0), f % np.float32(0)]
        if platform.machine() in ("x86_64", "AMD64"):  # NumPy's casts are the CPU's: the same there
            reference = [f.astype(np.int32), f.astype(np.int64), f.astype(np.int32)] + reference
    for mine, theirs in zip(expected[len(expected) - len(reference):], reference):
        np.testing.assert_array_equal(np.asarray(mine, theirs.dtype), theirs)


def _ulps(a, b):
    """ULP distance between float32 arrays (same-sign finite values; 0 where both are equal or both NaN)."""
    ia = a.view(np.int32).astype(np.int64)
    ib = b.view(np.int32).astype(np.int64)
    ia = np.where(ia < 0, -(ia & 0x7FFFFFFF), ia)
    ib = np.where(ib < 0, -(ib & 0x7FFFFFFF), ib)
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    return np.where(same, 0, np.abs(ia - ib))


def test_fast_paths_stay_within_the_stated_bounds():
    """Compiled float32 transcendentals: <= 4 ULP of NumPy's float64 result rounded to float32 (mathlib's
    contract); float sums may reassociate and accumulate in float64: within (log2(n) + 2) * 2^-24 * sum|x| of the
    exact sum for float32, and n * 2^-53 * sum|x| for float64 (the bound stated in docs/numerics.md)."""
    rng = np.random.default_rng(3)
    n = 1 << 17
    t = np.concatenate([rng.uniform(-90, 90, n // 2), rng.standard_normal(n // 2) * 1e4]).astype(np.float32)
    s32 = (rng.standard_normal(n) * 1e3 + 0.1).astype(np.float32)   # cancellation: sum << sum|x|
    s64 = rng.standard_normal(n) * 1e3 + 0.1

    def f(t, s32, s64):
        return [gj.exp(t * 0.01), gj.math.log(gj.abs(t) + 1e-30), gj.sin(t), gj.tanh(t * 0.1),
                gj.reduce_sum(s32), gj.reduce_mean(s32), gj.reduce_sum(s64), gj.reduce_sum(gj.reshape(s32, (256, -1)), 0)]

    results = three_ways(f, t, s32, s64)
    with np.errstate(all="ignore"):
        # each function's float32 argument as the graph computes it, then the function in float64
        arguments = [t * np.float32(0.01), np.abs(t) + np.float32(1e-30), t, t * np.float32(0.1)]
        exact_math = [fn(a.astype(np.float64)).astype(np.float32)
                      for fn, a in zip((np.exp, np.log, np.sin, np.tanh), arguments)]
    for path, values in results.items():
        for k, want in enumerate(exact_math):
            assert _ulps(values[k], want).max() <= 4, (path, k, _ulps(values[k], want).max())
        for k, x, scale in ((4, s32, 1), (5, s32, n), (6, s64, 1)):
            exact = math.fsum(x.astype(np.float64).tolist())
            magnitude = float(np.abs(x.astype(np.float64)).sum())
            bound = ((math.log2(n) + 2) * 2.0 ** -24 if x.dtype == np.float32 else n * 2.0 ** -53) * magnitude
            got = float(values[k]) * scale
            assert abs(got - exact) <= bound, (path, k, got, exact, bound)
        columns = s32.reshape(256, -1).astype(np.float64)
        error = np.abs(values[7] - columns.sum(0))
        assert (error <= (math.log2(256) + 2) * 2.0 ** -24 * np.abs(columns).sum(0)).all(), path


def test_reassociation_stays_inside_the_reduction():
    """A reduction kernel reassociates its accumulation only: with 'reassoc' on the whole kernel LLVM rewrote
    the fused (x * b) * b as x * (b * b), and inf * 1e-30 * 1e-30 became inf * 0 = NaN."""
    x = np.array([np.inf, 1.0], np.float32)
    b = np.array([1e-30, 1e-30], np.float32)
    results = three_ways(lambda x, b: [gj.reduce_max((x * b) * b)], x, b)
    for path, (value,) in results.items():
        assert value == np.inf, path  # the elementwise product is inf on every path; its max must be too
