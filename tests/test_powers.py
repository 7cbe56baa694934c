"""pow in compiled code (compiler.mathlib.power) against exact and NumPy references.

Contract (the package docstring of compiler.mathlib.power), error against the exactly rounded x**y:
  float32, integer and half-integer y with |y| <= 16: <= 0.5 + 2^-28 ULP (float64 multiplies rounded once)
  float32, other y: <= 0.51 ULP (exp(y log|x|) in float64)
  float64, literal integer and half-integer y with |y| <= 16: <= 0.5 + 2^-40 ULP for normal results, <= 1 ULP for
      subnormal ones (double-double); other y and every tensor y: <= 1 ULP (table-driven log, double-double exp,
      measured 0.72; 0.81 subnormal)
and C99 pow's special values exactly. NumPy's own float power (SIMD code on AVX-512 machines) is not correctly
rounded: it differs from the exact result by up to 1 ULP, so compiled results are held to the exact result
(long double, or Python fractions for the float64 claim) and to NumPy within 1 ULP.

The ULP tests run each dtype's loop over >= 10^6 points per exponent with the exponent an array (the select-
chained form a tensor exponent takes); a literal exponent (what a traced ``x ** 3`` compiles to, its selects
folded by LLVM) is checked to give the same bits, and traced graphs against eager NumPy and the interpreter.
"""
import math
import re
from fractions import Fraction

import numba
import numpy as np
import pytest
from llvmlite import ir

import graphjit as gj
from graphjit.compiler import mathlib
from graphjit.compiler.mathlib import power

from support import run_on

LD = np.longdouble
N = 1_000_000
INTEGERS = [n for n in range(-16, 17)]
HALVES = [n + 0.5 for n in range(-16, 16)]
SMALL = INTEGERS + HALVES
GENERAL = [0.3, -2.7, 16.25, -16.5, 17.0, -17.0, 100.0, 1e-3, 0.1]
BOUND_SMALL_F32 = 0.5 + 2.0 ** -28
BOUND_GENERAL_F32 = 0.51
BOUND_SMALL_F64 = 0.5 + 2.0 ** -7   # the long double reference's own error is up to ~2^-8 ULP here;
                                     # test_f64_small_exponents_exact checks 0.5 + 2^-40 with exact fractions
BOUND_GENERAL_F64 = 1.0              # measured 0.72 (normal results), 0.81 (subnormal)

needs_long_double = pytest.mark.skipif(np.finfo(LD).nmant < 63, reason="long double is not x87 extended here")

_LOOPS = {}


def _binary_powering_only(x, y, context):
    _, integer, odd = power._classify(y)
    return power._small_power_dd(x, y, integer, odd)


# pow_f64's binary powering, which it takes only for a literal exponent, as a function of a tensor exponent (what a
# literal small exponent folds to: test_literal_exponent_gives_the_same_bits), so one loop tests every exponent
pow_f64_binary_powering = power._binary_function("pow_f64_binary_powering", _binary_powering_only, ir.DoubleType(),
                                                 numba.types.float64)


def loop(dtype, binary_powering=False):
    """``out[i] = pow_<dtype>(x[i], y[i])``, compiled as the code generator's kernels are."""
    if (dtype, binary_powering) not in _LOOPS:
        fn = mathlib.pow_f32 if dtype == np.float32 else mathlib.pow_f64
        fn = pow_f64_binary_powering if binary_powering else fn
        t = np.dtype(dtype).name

        @numba.njit(f"void({t}[::1], {t}[::1], {t}[::1])", error_model="numpy", fastmath={"contract"},
                    boundscheck=False)
        def run(x, y, out):
            for i in range(x.size):
                out[i] = fn(x[i], y[i])
        _LOOPS[dtype, binary_powering] = run
    return _LOOPS[dtype, binary_powering]


def compiled_pow(x, y, binary_powering=False):
    x = np.ascontiguousarray(x)
    y = np.array(np.broadcast_to(np.asarray(y, x.dtype), x.shape))
    out = np.empty_like(x)
    loop(x.dtype.type, binary_powering)(x, y, out)
    return out


def literal_loop(dtype, exponent):
    """The same loop with the exponent a typed literal, as generated code has it."""
    fn = mathlib.pow_f32 if dtype == np.float32 else mathlib.pow_f64
    e = dtype(exponent)
    t = np.dtype(dtype).name

    @numba.njit(f"void({t}[::1], {t}[::1])", error_model="numpy", fastmath={"contract"}, boundscheck=False)
    def run(x, out):
        for i in range(x.size):
            out[i] = fn(x[i], e)
    return run


# ---- inputs -------------------------------------------------------------------------------------------

def sample(dtype, exponent, n=N, seed=0):
    """n points: a third random bit patterns (every binade, subnormals, both signs), a third log-uniform over the
    magnitudes whose power stays finite and normal, a third near 1 and near the overflow and underflow edges;
    then the special values. Exponents that need a non-negative base (half-integers) get |x| for most points."""
    with np.errstate(all="ignore"):   # (the edges' draws overflow and underflow on purpose)
        return _sample(dtype, exponent, n, seed)


def _sample(dtype, exponent, n, seed):
    rng = np.random.default_rng(seed)
    info = np.finfo(dtype)
    itype = np.uint32 if dtype == np.float32 else np.uint64
    k = n // 3
    bits = rng.integers(0, np.iinfo(itype).max, size=k, dtype=itype, endpoint=True).view(dtype)
    bits = bits[np.isfinite(bits)]
    e = max(abs(exponent), 1.0)
    lo, hi = np.log2(float(info.tiny)) / e, np.log2(float(info.max)) / e
    magnitudes = np.exp2(rng.uniform(lo, hi, size=k))
    near = np.concatenate([1 + rng.standard_normal(k // 3) * 1e-3, np.exp2(hi + rng.standard_normal(k // 3) * 0.01),
                           np.exp2(lo + rng.standard_normal(k - 2 * (k // 3)) * 0.05),
                           np.exp2(np.log2(float(info.smallest_subnormal)) / e + rng.uniform(0, 2, size=k // 4))])
    x = np.concatenate([bits, magnitudes, near]).astype(dtype)
    signs = np.where(rng.random(x.size) < (0.1 if exponent % 1 else 0.5), -1, 1).astype(dtype)
    x = x * signs
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, info.max, -info.max,
                         info.tiny, -info.tiny, info.smallest_subnormal, -info.smallest_subnormal], dtype)
    x = np.concatenate([x, specials])
    return x[: max(n, specials.size)] if x.size > n + specials.size else x


# ---- references ---------------------------------------------------------------------------------------

def reference_small(x, exponent):
    """x ** exponent in long double (a half-integer power of -0.0 / -inf as C99: of +0.0 / +inf)."""
    h = int(abs(exponent))
    half = abs(exponent) != h
    with np.errstate(all="ignore"):
        base = x.astype(LD)
        if half:
            base = np.where((base == 0) | (base == -np.inf), np.abs(base), base)
        acc = np.ones_like(base)
        for _ in range(h):
            acc = acc * base
        if half:
            acc = acc * np.sqrt(base)
        if exponent < 0:
            acc = 1 / acc
    return acc


def ulp_error(got, exact, dtype):
    """|got - exact| in ULPs of the exact value (long double ``exact``); NaN against NaN is 0, and a result
    whose correct rounding is infinite or zero must equal it (with its sign)."""
    with np.errstate(all="ignore"):
        want = exact.astype(dtype)
        mant, e = np.frexp(np.abs(exact))
        digits = np.finfo(dtype).nmant + 1
        ulp = np.maximum(np.ldexp(np.ones_like(exact), e - digits), LD(np.finfo(dtype).smallest_subnormal))
        err = np.abs(got.astype(LD) - exact) / ulp
    err = np.where(np.isnan(err), np.inf, err).astype(np.float64)
    nan_got, nan_want = np.isnan(got), np.isnan(want)
    err[nan_got & nan_want] = 0
    err[nan_got != nan_want] = np.inf
    edge = np.isinf(want) | np.isinf(got) | (want == 0) | (got == 0)
    same = (got == want) & (np.signbit(got) == np.signbit(want))
    err[edge & ~nan_want] = np.where(same[edge & ~nan_want], 0.0, np.inf)
    return err


def worst(x, got, exact, err):
    i = int(np.argmax(err))
    return f"{err[i]:.4f} ULP at x={x[i]!r}: got {got[i]!r}, exact {exact[i]!r}"


def numpy_ulp_distance(a, b):
    itype = np.int32 if a.dtype == np.float32 else np.int64
    sign = np.array(np.iinfo(itype).max, itype)

    def ordered(v):
        i = v.view(itype).astype(np.int64)
        return np.where(i < 0, -(i & sign), i)
    d = np.abs(ordered(a) - ordered(b))
    d[np.isnan(a) & np.isnan(b)] = 0
    d[np.isnan(a) != np.isnan(b)] = np.iinfo(np.int64).max
    return d


# ---- ULP over >= 10^6 points per exponent ------------------------------------------------------------------

@needs_long_double
@pytest.mark.parametrize("exponent", SMALL)
def test_f32_small_exponents(exponent):
    x = sample(np.float32, exponent)
    got = compiled_pow(x, exponent)
    exact = reference_small(x, exponent)
    err = ulp_error(got, exact, np.float32)
    assert x.size >= N and err.max() <= BOUND_SMALL_F32, worst(x, got, exact, err)
    with np.errstate(all="ignore"):
        numpy = np.power(x, np.full_like(x, exponent))   # (a scalar 0.5 would be NumPy's sqrt)
    assert numpy_ulp_distance(got, numpy).max() <= 1


@needs_long_double
@pytest.mark.parametrize("exponent", SMALL)
def test_f64_small_exponents(exponent):
    """A literal small exponent takes binary powering (0.5 + 2^-40; its folded form gives the same bits:
    test_literal_exponent_gives_the_same_bits); a tensor exponent holding the same value takes the general
    double-double path (pow_f64 computes binary powering only where the exponent is a constant: for a tensor it
    would cost 2.5x): within the general bound (here on every 8th point; test_f64_tensor_exponents has 10^6
    pairs, a third of them with integer and half-integer exponents)."""
    x = sample(np.float64, exponent)
    part = x[::8]
    _assert_f64_general(part, np.full_like(part, exponent), compiled_pow(part, exponent))
    got = compiled_pow(x, exponent, binary_powering=True)
    exact = reference_small(x, exponent)
    err = ulp_error(got, exact, np.float64)
    subnormal = np.abs(exact) < LD(np.finfo(np.float64).tiny)
    assert x.size >= N and err[~subnormal].max() <= BOUND_SMALL_F64, worst(x, got, exact, np.where(subnormal, 0, err))
    assert err[subnormal].max(initial=0) <= 1.0, worst(x, got, exact, np.where(subnormal, err, 0))
    with np.errstate(all="ignore"):
        numpy = np.power(x, np.full_like(x, exponent))
    assert numpy_ulp_distance(got, numpy).max() <= 1


def _exact_ulp_error(x, y, got):
    """Exact error (Fractions) of float64 results of normal magnitude."""
    exact = Fraction(x) ** int(abs(y)) if y == int(y) else None
    if exact is None:
        raise ValueError
    if y < 0:
        exact = 1 / exact
    e = math.frexp(float(abs(exact)))[1]
    return abs(Fraction(got) - exact) / Fraction(2) ** (e - 53)


@pytest.mark.parametrize("exponent", [n for n in INTEGERS if n not in (0, 1)])
def test_f64_small_exponents_exact(exponent):
    """The double-double claim, 0.5 + 2^-40 ULP, against exact rationals on a subsample of normal results."""
    x = sample(np.float64, exponent, n=6000, seed=exponent + 100)
    got = compiled_pow(x, exponent, binary_powering=True)
    tiny, big = np.finfo(np.float64).tiny, np.finfo(np.float64).max
    keep = np.isfinite(got) & (np.abs(got) >= tiny) & (np.abs(got) < big)
    worst_err = max(_exact_ulp_error(float(v), exponent, float(g)) for v, g in zip(x[keep], got[keep]))
    assert keep.sum() > 3000 and worst_err <= Fraction(1, 2) + Fraction(1, 2 ** 40), float(worst_err)


@needs_long_double
@pytest.mark.parametrize("exponent", GENERAL)
def test_f32_general_exponents(exponent):
    x = np.abs(sample(np.float32, exponent))     # a negative base gives NaN for these (checked below)
    got = compiled_pow(x, exponent)
    with np.errstate(all="ignore"):
        exact = np.power(x.astype(LD), LD(np.float32(exponent)))  # the float32 exponent
    err = ulp_error(got, exact, np.float32)
    assert x.size >= N and err.max() <= BOUND_GENERAL_F32, worst(x, got, exact, err)


@needs_long_double
def test_f32_tensor_exponents():
    """A tensor exponent: every element classified on its own (small, half, general), 10^6 random pairs."""
    rng = np.random.default_rng(7)
    x = np.abs(sample(np.float32, 4.0))[:N]
    kinds = rng.integers(0, 3, size=x.size)
    y = np.where(kinds == 0, rng.integers(-16, 17, size=x.size),
                 np.where(kinds == 1, rng.integers(-16, 16, size=x.size) + 0.5, rng.uniform(-20, 20, size=x.size)))
    y = y.astype(np.float32)
    x = np.where(np.abs(np.log2(np.maximum(x, 1e-30))) * np.abs(y) > 140, np.float32(1.5), x).astype(np.float32)
    got = compiled_pow(x, y)
    with np.errstate(all="ignore"):
        exact = np.power(x.astype(LD), y.astype(LD))
    err = ulp_error(got, exact, np.float32)
    assert err.max() <= BOUND_GENERAL_F32, worst(x, got, exact, err)


def _assert_f64_general(x, y, got):
    with np.errstate(all="ignore"):
        exact = np.power(x.astype(LD), y.astype(LD))
        numpy = np.power(x, y)
    err = ulp_error(got, exact, np.float64)
    subnormal = np.abs(exact) < LD(np.finfo(np.float64).tiny)
    assert err[~subnormal].max() <= BOUND_GENERAL_F64, worst(x, got, exact, np.where(subnormal, 0, err))
    assert err[subnormal].max(initial=0) <= BOUND_GENERAL_F64, worst(x, got, exact, np.where(subnormal, err, 0))
    assert numpy_ulp_distance(got, numpy).max() <= 1


@needs_long_double
@pytest.mark.parametrize("exponent", GENERAL)
def test_f64_general_exponents(exponent):
    x = np.abs(sample(np.float64, exponent))
    got = compiled_pow(x, exponent)
    assert x.size >= N
    _assert_f64_general(x, np.full_like(x, exponent), got)


@needs_long_double
def test_f64_tensor_exponents():
    """10^6 random (x, y) pairs, y of every kind (integers, half-integers, general up to +-40), results across the
    whole range (overflow, underflow, subnormal), plus x near 1 with exponents up to 7e5 (where y log x reaches
    the edges of the range and log x must be right to ~2^-64)."""
    rng = np.random.default_rng(9)
    x = np.abs(sample(np.float64, 3.7, seed=3))[:N]
    kinds = rng.integers(0, 3, size=x.size)
    y = np.where(kinds == 0, rng.integers(-16, 17, size=x.size),
                 np.where(kinds == 1, rng.integers(-16, 16, size=x.size) + 0.5, rng.uniform(-40, 40, size=x.size)))
    log2x = np.log2(np.where(x > 0, x, 1.0))
    reach = np.abs(log2x * y)
    y = np.where(reach > 1100, y * rng.uniform(900, 1100, size=x.size) / np.maximum(reach, 1e-300), y)
    near_one = N // 10
    x[:near_one] = 1 + rng.standard_normal(near_one) * 1e-3
    y[:near_one] = rng.uniform(-7e5, 7e5, near_one)
    signs = np.where((rng.random(x.size) < 0.3) & (y == np.floor(y)), -1.0, 1.0)   # negative bases, integer y
    x = x * signs
    got = compiled_pow(x, y)
    assert x.size >= N
    _assert_f64_general(x, y, got)


def _edge_pairs(rng, n):
    """(x, y) with t = y log|x| spread over the edges of the float64 range: results near the overflow threshold
    (t in [700, 709.8]), near and below the smallest normal (t in [-708.4 - 37, -700]: subnormal results down to the
    smallest subnormal), a margin past both ends (inf and 0), and x within 2^-30 of 1 with |y| up to 2^40 (t of
    either edge, where log x must be right to ~2^-64 relative)."""
    x = np.exp2(rng.uniform(-1074, 1024, n))
    x[: n // 4] = 1 + rng.standard_normal(n // 4) * 2.0 ** -rng.integers(12, 31, n // 4)
    t = np.concatenate([rng.uniform(700, 709.79, n // 3), rng.uniform(-745.2, -700, n // 3),
                        rng.uniform(-750, 715, n - 2 * (n // 3))])
    rng.shuffle(t)
    log_x = np.log(x.astype(LD))
    y = (t / np.where(log_x == 0, 1, log_x)).astype(np.float64)
    return x, y


@needs_long_double
def test_f64_results_at_the_range_edges():
    """10^6 pairs whose results lie at the overflow and underflow edges (subnormal results included) and beyond,
    half of them from bases near 1 with huge exponents: within the bound, infinities and zeros exactly."""
    rng = np.random.default_rng(21)
    x, y = _edge_pairs(rng, N)
    got = compiled_pow(x, y)
    with np.errstate(all="ignore"):
        t = np.abs(y.astype(LD) * np.log(x.astype(LD)))
    assert x.size >= N and (t > 700).mean() > 0.6
    _assert_f64_general(x, y, got)


@needs_long_double
def test_f64_huge_tiny_and_negative_exponents():
    """|y| from 2^-1074 to 1e300 on bases of every magnitude, negative bases with integer y (both parities, up to
    2^53), 10^6 pairs: within the bound, with C99's signs."""
    rng = np.random.default_rng(22)
    x = np.exp2(rng.uniform(-1074, 1024, N)) * np.where(rng.random(N) < 0.5, -1.0, 1.0)
    y = np.exp2(rng.uniform(-1074, 997, N)) * np.where(rng.random(N) < 0.5, -1.0, 1.0)
    integers = rng.random(N) < 0.5
    y[integers] = np.floor(rng.uniform(-60, 60, integers.sum()))
    big = integers & (rng.random(N) < 0.2)
    y[big] = np.floor(np.exp2(rng.uniform(0, 53, big.sum())))
    x = np.where(y != np.floor(y), np.abs(x), x)              # negative bases only for integer y
    with np.errstate(all="ignore"):                           # keep |t| where results are not all inf or 0
        reach = np.abs(y * np.log(np.abs(x)))
        x = np.where(reach > 800, np.where(x < 0, -1.0, 1.0) * np.exp(rng.uniform(-700, 700, N) / np.abs(y)), x)
    got = compiled_pow(x, y)
    assert x.size >= N and (x < 0).sum() > N // 5
    _assert_f64_general(x, y, got)


def test_f64_log_table_reduction_is_exact():
    """Every interval of compiler/mathlib/table_log's table, at both ends: r = z/c - 1 = fma(z, 1/c, -1) is exact
    (a 53-bit multiple of a power of two, |r| < 2^-7), k ln2_hi + log c_hi is exact (multiples of 2^-42), Fast2Sum
    of log c_hi and r is exact (log c_hi = 0 or its exponent is at least r's), log c_hi + log c_lo is -ln(1/c) to
    2^-95 (decimal, 50 digits), the interval holding 1.0 has 1/c = 1, and the packed words give 1/c and log c_hi
    back."""
    from decimal import Decimal, localcontext
    from graphjit.compiler.mathlib import table_log as t
    with localcontext() as digits:
        digits.prec = 50
        assert len(t._INVC) == 128
        one = 0x3FF0000000000000
        for i, (invc, hi, lo, word) in enumerate(zip(t._INVC, t._LOGC_HI, t._LOGC_LO, t._LOG_WORDS)):
            start = t._LOG_OFF + (i << 45)
            for bits in (start, start + (1 << 45) - 1):
                z = np.uint64(bits).view(np.float64).item()
                r = Fraction(z) * Fraction(invc) - 1
                assert r.denominator & (r.denominator - 1) == 0 and abs(r.numerator).bit_length() <= 53, (i, z)
                assert abs(r) < Fraction(1, 2 ** 7), (i, z)
                assert hi == 0 or math.frexp(hi)[1] >= math.frexp(float(r))[1], (i, z)
            assert (Fraction(hi) * 2 ** 42).denominator == 1 and (Fraction(t._LN2_HI) * 2 ** 42).denominator == 1
            assert abs(Decimal(hi) + Decimal(lo) + Decimal(invc).ln()) < Decimal(2) ** -95, i
            if start <= one < start + (1 << 45):
                assert invc == 1.0 and hi == 0.0 and lo == 0.0
            assert word & 511 == invc * 256 and np.uint64(word & ~511).view(np.float64) == hi
        assert abs(Decimal(t._LN2_HI) + Decimal(t._LN2_LO) - Decimal(2).ln()) < Decimal(2) ** -95


# ---- special values, exactly --------------------------------------------------------------------------

SPECIAL_X = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 3.0, -3.0, math.inf, -math.inf, math.nan, 1e-40, -1e-40]
SPECIAL_Y = [0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 3.0, -3.0, 0.5, -0.5, 1.5, -1.5, 2.5, 16.0, -16.0, 15.5, 17.0,
             -17.0, 0.3, -0.3, 1e30, -1e30, math.inf, -math.inf, math.nan]


def c99_pow(a, b):
    """C99 pow through Python's math.pow (which raises where C returns inf or NaN)."""
    try:
        return math.pow(a, b)
    except OverflowError:
        odd = float(b).is_integer() and b % 2 == 1
        return -math.inf if (a < 0 and odd) else math.inf
    except ValueError:
        if a == 0:
            odd = float(b).is_integer() and b % 2 == 1
            return math.copysign(math.inf, a) if odd else math.inf
        return math.nan


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_special_values_as_c99(dtype):
    xs, ys = np.meshgrid(np.array(SPECIAL_X, dtype), np.array(SPECIAL_Y, dtype))
    x, y = xs.ravel(), ys.ravel()
    got = compiled_pow(x, y)
    want = np.array([c99_pow(float(a), float(b)) for a, b in zip(x, y)]).astype(dtype)
    same = (got == want) & (np.signbit(got) == np.signbit(want)) | (np.isnan(got) & np.isnan(want))
    # finite non-special results are covered by the ULP tests; here they may round either way by 1 ULP
    close = np.isfinite(want) & (want != 0) & (numpy_ulp_distance(got, want) <= 1)
    bad = ~(same | close)
    assert not bad.any(), list(zip(x[bad], y[bad], got[bad], want[bad]))[:8]


def _table_values(dtype):
    info = np.finfo(dtype)
    tiny, sub, big = float(info.tiny), float(info.smallest_subnormal), float(info.max)
    eps = float(info.eps)
    xs = [0.0, 1.0, 0.5, 2.0, 3.0, math.inf, sub, 3 * sub, tiny, big, 1e-30, 1e30, 1 + eps, 1 - eps / 2, 10.0, 0.1]
    odd = 2.0 ** (info.nmant + 1) - 1               # the largest odd integer of the dtype
    ys = [0.0, 1.0, 2.0, 3.0, 0.5, 1.5, 0.3, 17.0, 1e30, odd, odd + 1, 2.0 ** 60, math.inf, 1e-30, big, 1075.0,
          1024.0, 149.0, 0.999, 64.5, 2 ** 20 + 1.0]
    both = lambda v: [u for w in v for u in (w, -w)]   # noqa: E731
    return np.array(both(xs) + [math.nan], dtype), np.array(both(ys) + [math.nan], dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_special_table_matches_numpy(dtype):
    """Every pair of a table of special and edge values (signed zeros, +-1, infinities, NaN, subnormals, the
    largest values, odd and even integers up to the largest odd one, huge and tiny exponents) as NumPy's
    np.power with an array exponent: NaN, infinities, zeros (with their sign) and +-1 exactly, other values
    within 1 ULP."""
    xv, yv = _table_values(dtype)
    xs, ys = np.meshgrid(xv, yv)
    x, y = xs.ravel(), ys.ravel()
    got = compiled_pow(x, y)
    with np.errstate(all="ignore"):
        want = np.power(x, y)
    exact = ~np.isfinite(want) | (want == 0) | (np.abs(want) == 1)
    same = ((got == want) & (np.signbit(got) == np.signbit(want))) | (np.isnan(got) & np.isnan(want))
    bad = (exact & ~same) | (~exact & (numpy_ulp_distance(got, want) > 1))
    assert x.size == 33 * 43 and not bad.any(), list(zip(x[bad], y[bad], got[bad], want[bad]))[:8]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_literal_exponent_gives_the_same_bits(dtype):
    """A literal exponent folds the selects away: the result must not change."""
    x = sample(dtype, 3.0, n=1 << 16, seed=5)
    small = [2, 3, 4, -1, -2, 7, 16, -16, 0.5, -0.5, 1.5, -1.5, 15.5, 0, 1]
    for exponent in small + [0.3, -2.7, 17.0, 100.0, -16.25]:
        out = np.empty_like(x)
        literal_loop(dtype, exponent)(x, out)
        # (float64: a small literal exponent takes binary powering, a tensor one the general path)
        want = compiled_pow(x, exponent, binary_powering=dtype == np.float64 and exponent in small)
        assert np.array_equal(out.view(np.uint8), want.view(np.uint8)), exponent


# ---- graphs: traced == eager NumPy == interpreter, within the bounds -------------------------------------

_run_on = run_on   # (tests/support.py)


def _compiled(fn, *args):
    return _run_on("cpu", fn, *args)


def interpreter(fn, *args):
    return _run_on("interpreter", fn, *args)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("exponent", [2, 3, 4, -1, -2, -3, 5, 16, -16, 0.5, -0.5, 1.5, -1.5, 2.5, 0, 0.3])
def test_traced_equals_eager_and_interpreter(dtype, exponent):
    rng = np.random.default_rng(11)
    x = (rng.standard_normal(4096) * rng.choice([1e-3, 1.0, 30.0], size=4096)).astype(dtype)
    x[:6] = [0.0, -0.0, np.inf, -np.inf, np.nan, -1.0]

    def fn(v):
        return v ** exponent
    with np.errstate(all="ignore"):
        eager = np.asarray(fn(gj.constant(x)))
        numpy = np.power(x, dtype(exponent))
    traced = _compiled(fn, x)
    interpreted = interpreter(fn, x)
    assert np.array_equal(eager, numpy, equal_nan=True) and np.array_equal(interpreted, numpy, equal_nan=True)
    assert numpy_ulp_distance(traced, numpy).max() <= 1
    signed = ~np.isnan(numpy[:6])
    assert np.array_equal(np.signbit(traced[:6][signed]), np.signbit(numpy[:6][signed]))
    with np.errstate(all="ignore"):
        exact = (reference_small(x, exponent) if exponent in SMALL else np.power(x.astype(LD), LD(dtype(exponent))))
        if exponent == 0.5:
            exact = np.sqrt(x.astype(LD))   # NumPy's scalar 0.5 (sqrt: -0.0 stays -0.0, -inf gives NaN)
    bound = BOUND_SMALL_F32 if dtype == np.float32 and exponent in SMALL else BOUND_GENERAL_F32
    if dtype == np.float64:
        bound = 1.0 if exponent in SMALL else BOUND_GENERAL_F64
    if np.finfo(LD).nmant >= 63:
        err = ulp_error(traced, exact, dtype)
        assert err.max() <= bound, worst(x, traced, exact, err)


def test_scalar_half_exponent_keeps_numpys_sqrt():
    """np.power(x, 0.5) with a scalar exponent is sqrt in NumPy: (-0.0) ** 0.5 = -0.0, (-inf) ** 0.5 = NaN."""
    x = np.array([-0.0, -np.inf, 4.0, np.inf], np.float32)
    got = _compiled(lambda v: v ** 0.5, x)
    assert np.array_equal(got, np.sqrt(x), equal_nan=True) and np.signbit(got[0])
    tensor = _compiled(lambda v, e: v ** e, x, np.full(4, 0.5, np.float32))   # a tensor exponent is C99 pow
    assert tensor[0] == 0 and not np.signbit(tensor[0]) and tensor[1] == np.inf


def test_literal_exponents_call_no_libm():
    """With a literal exponent the optimised loop calls no pow (float64's general case is the control)."""
    def calls_pow(dtype, exponent):
        ir_text = "\n".join(literal_loop(dtype, exponent).inspect_llvm().values())
        return re.search(r"call [^\n]*@(llvm\.pow\.f\d\d|powf?)\(", ir_text) is not None
    for dtype in (np.float32, np.float64):
        for exponent in (3, -2, 1.5, -0.5, 16):
            assert not calls_pow(dtype, exponent), (dtype, exponent)
    assert not calls_pow(np.float32, 0.3)          # exp(y log|x|) inline
    assert not calls_pow(np.float64, 0.3)          # double-double exp(y log|x|) inline


def test_float64_tensor_exponent_loop_vectorises():
    """A prange loop of pow_f64 with a tensor exponent compiles to packed double arithmetic and calls no libm
    (pow, exp or log): the general path is straight-line double-double code."""
    pow_f64 = mathlib.pow_f64

    @numba.njit("void(float64[::1], float64[::1], float64[::1])", parallel=True, error_model="numpy",
                fastmath={"contract"}, boundscheck=False)
    def kernel(x, y, out):
        for i in numba.prange(x.size):
            out[i] = pow_f64(x[i], y[i])

    llvm = "\n".join(kernel.inspect_llvm().values())
    widths = {int(n) for n in re.findall(r"\bf(?:mul|add|sub) (?:contract )?<(\d+) x double>", llvm)}
    assert widths and max(widths) >= 2, f"no packed double arithmetic (vector widths {widths})"
    calls = set(re.findall(r"call [^@]*@([\w.]+)\(", llvm))
    assert not {c for c in calls if re.fullmatch(r"(llvm\.)?(pow|exp|log)(\.\w+)?", c)}, calls


def test_constant_powers_compile_to_mathlib_pow(compiled_background):
    """A traced x ** 3 calls mathlib's pow_f32 (the test above: with a literal exponent, no libm)."""
    f = gj.function(lambda v: v ** 3 * 0.5 + v ** 4)
    x = np.linspace(-2, 2, 1 << 16, dtype=np.float32)
    f(x)
    gj.wait_for_compilation()
    sources = "\n".join(f.get_concrete_function(x).kernels.values())
    assert "pow_f32(" in sources and "**" not in sources


# ---- gradients ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("exponent", [3, -2, 1.5, -0.5, 0.3])
def test_power_gradient(exponent):
    x = np.linspace(0.5, 3.0, 64)

    def loss(v):
        return gj.reduce_sum(v ** exponent)
    want = exponent * x ** (exponent - 1)
    for backend in ("interpreter", "cpu"):
        np.testing.assert_allclose(_run_on(backend, gj.grad(loss), x), want, rtol=1e-14, err_msg=backend)
    np.testing.assert_allclose(np.asarray(gj.grad(loss)(gj.constant(x))), want, rtol=1e-14, err_msg="eager")
