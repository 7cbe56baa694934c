"""Failures the differential fuzzer found (tests/test_differential_fuzz.py, benchmarks/fuzz.py), as small
explicit cases: the compiled Numba backend against the reference interpreter (NumPy's semantics)."""
import numpy as np
import pytest

import graphjit as gj


def _both_many(fn, *args):
    """(compiled, interpreted) lists of arrays from one traced function returning a list."""
    f = gj.function(fn)
    saved = gj.config.backend, gj.config.compile_in_background
    try:
        gj.config.compile_in_background = False
        out = {}
        for backend in ("cpu", "interpreter"):
            gj.config.backend = backend
            out[backend] = [np.asarray(t.numpy()) for t in f(*args)]
        return out["cpu"], out["interpreter"]
    finally:
        gj.config.backend, gj.config.compile_in_background = saved


def _both(fn, *args):
    """(compiled, interpreted) results of one traced function."""
    f = gj.function(fn)
    saved = gj.config.backend, gj.config.compile_in_background
    try:
        gj.config.compile_in_background = False
        out = {}
        for backend in ("cpu", "interpreter"):
            gj.config.backend = backend
            out[backend] = np.asarray(f(*args).numpy())
        return out["cpu"], out["interpreter"]
    finally:
        gj.config.backend, gj.config.compile_in_background = saved


def test_pow_by_a_size_one_exponent_is_square_or_sqrt_as_numpy_computes_it():
    # NumPy's float power loop computes x * x for an exponent of 2 and sqrt(x) for 0.5 when the exponent has
    # stride 0 (a size-1 exponent against a larger result, or a 0-d one), pow otherwise: -inf ** 0.5 is NaN
    # and -0.0 ** 0.5 is -0.0 there, +inf and +0.0 through powf (compiled code always called powf).
    x = np.array([-np.inf, -0.0, -4.0, 9.0, 1e-3, 2.5, np.inf, np.nan], np.float32)
    cases = [np.array([0.5], np.float32), np.array(0.5, np.float32), np.array([[0.5]], np.float64),
             np.array([2.0], np.float32), np.array([2], np.int32), np.array([3.0], np.float32),
             np.array([-1.0], np.float32)]
    compiled, interpreted = _both_many(lambda a, *es: [a ** e for e in es], x, *cases)
    for e, c, i in zip(cases, compiled, interpreted):
        want = np.power(x, e)
        np.testing.assert_array_equal(i, want)
        assert np.array_equal(np.isnan(c), np.isnan(want)) and np.array_equal(np.signbit(c), np.signbit(want)), e
        if e.reshape(-1)[0] in (0.5, 2.0):   # sqrt and x * x are correctly rounded: bit-exact
            np.testing.assert_array_equal(c, want)
        else:                                  # powf against NumPy's own pow: the math library's ULPs
            np.testing.assert_array_max_ulp(c[np.isfinite(want)], want[np.isfinite(want)], maxulp=2)
    # a full exponent array keeps pow in both, so -inf ** 0.5 stays +inf
    compiled, interpreted = _both_many(lambda a, e: [a ** e], x, np.full(x.shape, 0.5, np.float32))
    np.testing.assert_array_equal(interpreted[0][:2], [np.inf, 0.0])
    np.testing.assert_array_equal(compiled[0][:2], [np.inf, 0.0])
    assert not np.signbit(compiled[0][1])


def test_sign_of_negative_zero_is_positive_zero_and_nan_stays_nan():
    x = np.array([-0.0, 0.0, np.nan, -3.0, 2.0, -np.inf], np.float32)
    compiled, interpreted = _both(lambda a: gj.sign(a), x)
    np.testing.assert_array_equal(interpreted, np.sign(x))
    np.testing.assert_array_equal(compiled, interpreted)
    np.testing.assert_array_equal(np.signbit(compiled), np.signbit(np.sign(x)))


def test_float32_and_float64_exp2_log2_compile_into_one_module():
    # Numba's float32 np.exp2/np.log2 cannot share a module with their float64 versions ("Type of #1 arg
    # mismatch: float != double" from a fuzzed batch); float32 now calls the float64 function and rounds.
    x32 = np.array([-0.0, 0.5, 3.0, -126.5, 1e-40, 88.0, np.inf, np.nan], np.float32)
    x64 = x32.astype(np.float64) * 1.5

    def fn(a, b):
        outs = []
        for op in (gj.math.exp2, gj.math.log2):
            outs += [op(a), op(b), gj.reduce_sum(op(a)), gj.reduce_sum(op(b))]
        return outs
    compiled, interpreted = _both_many(fn, x32, x64)
    with np.errstate(all="ignore"):
        want = [np.exp2(x32), np.exp2(x64), None, None, np.log2(x32), np.log2(x64), None, None]
    for c, i, w in zip(compiled, interpreted, want):
        assert c.dtype == i.dtype
        if w is None:
            np.testing.assert_allclose(c, i, rtol=1e-6, equal_nan=True)
        else:
            np.testing.assert_array_equal(i, w)
            np.testing.assert_array_max_ulp(c, w, maxulp=1)   # exact specials; one rounding of a float64


def test_a_transposed_copy_is_not_written_over_its_own_source():
    # argmax over a middle axis reads a transposed copy of its operand; when that operand was a square
    # intermediate read by nothing else, the copy loop was planned in place (same type) and read elements
    # it had already overwritten: argmax(rad2deg(x), axis=1) came back wrong in some columns.
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 4)).astype(np.float32)
    x[0, 1, 3] = 3e38          # rad2deg overflows to inf there: the fuzzed case
    y = rng.standard_normal((5, 5))

    def fn(a, b):
        return [gj.argmax(gj.math.rad2deg(a), axis=1, output_type=gj.int32),
                gj.argmin(-a, axis=1), gj.nn.softmax(gj.exp(b), axis=0)]
    compiled, interpreted = _both_many(fn, x, y)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(interpreted[0], np.argmax(np.rad2deg(x), axis=1))
    np.testing.assert_array_equal(interpreted[1], np.argmin(-x, axis=1))
    e = np.exp(np.exp(y) - np.exp(y).max(axis=0))
    np.testing.assert_allclose(interpreted[2], e / e.sum(axis=0), rtol=1e-12)
    for c, i in zip(compiled, interpreted):
        if c.dtype.kind == "f":
            np.testing.assert_allclose(c, i, rtol=1e-12)
        else:
            np.testing.assert_array_equal(c, i)
