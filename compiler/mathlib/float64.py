"""mathlib's float64 functions (exp, exp2, expm1, log, log1p, tanh, sigmoid, softplus: straight-line IR that
vectorises; tan: libm). sin and cos are in float64_trig, erf in erf. The accuracy contract of each is in the
package docstring."""
import math

import numba
import numpy as np

from .float32 import _EXP_BIAS, _LN2, _LOG2E, _LOG_OFFSET, _MANT_MASK, _SQRT_HALF_BITS
from .llvm_values import _F, _SHIFT, _U, _clamp, _float64_function, _horner, where

# ---- cores (float64 _V in, float64 _V out) ----------------------------------------------------------
# Every coefficient is a Taylor coefficient (1/n!, 2/(2n+1)), taken far enough that the truncation is under
# 2^-56 of the result on the reduced interval: no fitted constants, so nothing to re-derive.

_LN2_HI = _F(0.6931471803691238)          # ln2 to 32 significant bits: k * _LN2_HI is exact for |k| < 2^21
_LN2_LO = _F(1.9082149292705877e-10)      # ln2 - _LN2_HI, to 2^-85 relative
_SHIFT_BITS = _U(0x4338000000000000)      # bits of _SHIFT
_SHIFT_2_20 = _F(1.5 * 2.0 ** 32)          # f + _SHIFT_2_20 rounds |f| <= 1/2 to a multiple of 2^-20
# expm1(r) = r + r^2 * (1/2! + r/3! + ... + r^11/13!) on |r| <= ln2/2 + 2^-40: truncation r^14/14! < 2^-57 |r|
_EXPM1_TAYLOR = tuple(_F(1.0 / math.factorial(n)) for n in range(2, 14))
# log(1 + f) = 2 atanh(s), s = f/(2+f), |s| <= 0.1716: 2s + s^3 * sum 2 s^(2i)/(2i+3), ten terms (z^10 < 2^-50)
_ATANH_TAYLOR = tuple(_F(2.0 / (2 * i + 3)) for i in range(10))
_MIN_NORMAL = _F(2.2250738585072014e-308)
_TWO_54 = _F(2.0 ** 54)


def _exp_parts(t):
    """(k1, k2, q) with exp(t) = 2^(k1 + k2) * (1 + q), 2^k1 and 2^k2 as normal floats, for t in
    [-746, 710] (callers clamp; NaN gives q = NaN). t = k ln2 + r with k = round(t / ln2): t - k * _LN2_HI
    is exact (Sterbenz for k != 0), so r carries one rounding (2^-53 |r|) and the 2^-85 of the 2-part ln2."""
    z = t * _LOG2E + _SHIFT
    k = z - _SHIFT
    r = (t - k * _LN2_HI) - k * _LN2_LO
    q = r + r * r * _horner(r, _EXPM1_TAYLOR)
    return (*_two_factors(z, k), q)


def _two_factors(z, k):
    """(2^k1, 2^k2), k1 + k2 = k, for k = z - _SHIFT (an integer) with |k| <= 1080: k1 = round(k/2), so both
    are in [-540, 540] and normal, and ((y * 2^k1) * 2^k2) rounds a subnormal result once."""
    z1 = k * 0.5 + _SHIFT
    s1 = ((z1.bits() - _SHIFT_BITS + 1023) << 52).as_float()
    s2 = ((z.bits() - z1.bits() + 1023) << 52).as_float()
    return s1, s2


def _exp(t):
    """exp(t) for any float64 t: the last multiply rounds a subnormal result once and overflows to inf."""
    s1, s2, q = _exp_parts(_clamp(t, -746.0, 710.0))
    return ((1.0 + q) * s1) * s2


def _expm1(t):
    """expm1(t) for any float64 t except a zero's sign (callers keep it): s * q + (s - 1) with s = 2^k (k = 0:
    q itself, exact near 0; s - 1 is exact up to k = 53, and rounds by under 2^-53.5 of the result up to
    k = 57); from t > 40 (k >= 58) exp(t), which -1 changes by under 2^-57 (and s would overflow at k = 1024)."""
    t = _clamp(t, -40.0, 710.0)            # expm1(-40) rounds to -1
    s1, s2, q = _exp_parts(t)
    s = s1 * s2                            # inf for k = 1024, but then t > 40 selects the other side
    return where(t > 40.0, ((1.0 + q) * s1) * s2, s * q + (s - 1.0))


def _exp2(t):
    """2^t for any float64 t. t = k + f with k = round(t): f is exact (|f| <= 1/2), so integers give f = 0 and
    exactly 2^k. 2^f = 1 + expm1(r), r = f ln2 = r_hi + r_lo to 2^-73: f_hi (f to 2^-20, 19 bits) times
    _LN2_HI (32 bits) is exact, and r_lo's terms are under 2^-21 (no FMA needed). 1 + r_hi splits exactly
    (Fast2Sum), so the only rounding of size 2^-53 left before the scaling is the last add: the polynomial's
    argument r = r_hi + r_lo rounds, but it moves r^2 P(r) by under 2^-56."""
    t = _clamp(t, -1080.0, 1025.0)         # 2^-1080 rounds to 0, 2^1025 overflows
    z = t + _SHIFT
    k = z - _SHIFT
    f = t - k
    f_hi = (f + _SHIFT_2_20) - _SHIFT_2_20
    f_lo = f - f_hi
    r_hi = f_hi * _LN2_HI
    r_lo = f_hi * _LN2_LO + f_lo * _LN2
    r = r_hi + r_lo
    correction = r_lo + r * r * _horner(r, _EXPM1_TAYLOR)
    one = 1.0 + r_hi
    one_error = (1.0 - one) + r_hi
    s1, s2 = _two_factors(z, k)
    return ((one + (one_error + correction)) * s1) * s2


def _log_parts(u, c, subnormals):
    """log(u) + c for positive u (normal, or subnormal when ``subnormals``), |c| below ulp(log u) or so; any
    other u gives garbage (callers select around it). u = 2^k (1 + f) with 1 + f in [sqrt(1/2), sqrt(2)) from
    the bits, and log(1 + f) = 2 atanh(s) = 2s + s^3 T(s^2) written as f - s (f - s^2 T) (as 2s = f - s f):
    f is exact, so the roundings of s and of its series reach the result only scaled by s ~ f/2."""
    if subnormals:
        tiny = u < _MIN_NORMAL
        u = where(tiny, u * _TWO_54, u)
    ix = u.bits() + _LOG_OFFSET
    k = (ix >> 52).low32().f64() - 1023.0                 # via int32: AVX2 has no int64 -> float64 convert
    if subnormals:
        k = where(tiny, k - 54.0, k)
    f = ((ix & _MANT_MASK) + _SQRT_HALF_BITS).as_float() - 1.0
    s = f / (2.0 + f)
    z = s * s
    log1pf = f - s * (f - z * _horner(z, _ATANH_TAYLOR))
    return k * _LN2_HI + (log1pf + (k * _LN2_LO + c))


def _log1p(v):
    """log1p(v) for v > -1 (finite): log(u) of u = 1 + v rounded, plus the rounding error e of that sum
    (exact by Fast2Sum, larger operand first) as e / u."""
    u = 1.0 + v
    e = where(v < 1.0, v - (u - 1.0), 1.0 - (u - v))
    return _log_parts(u, e / u, subnormals=False)


# ---- float64 functions ---------------------------------------------------------------------------------

@_float64_function
def exp_f64(x, context):
    return _exp(x)


@_float64_function
def exp2_f64(x, context):
    return _exp2(x)


@_float64_function
def expm1_f64(x, context):
    return where(x == 0.0, x, _expm1(x))   # keeps -0.0


@_float64_function
def log_f64(x, context):
    y = _log_parts(x, 0.0, subnormals=True)
    y = where(x == 0.0, -math.inf, y)
    y = where(x < 0.0, math.nan, y)
    return where(x < math.inf, y, x)       # +inf -> +inf, NaN -> NaN


@_float64_function
def log1p_f64(x, context):
    y = _log1p(x)
    y = where(x == -1.0, -math.inf, y)
    y = where(x < -1.0, math.nan, y)
    y = where(x == 0.0, x, y)              # keeps -0.0
    return where(x < math.inf, y, x)


@_float64_function
def tanh_f64(x, context):
    # tanh|x| = e / (e + 2) with e = expm1(2|x|) >= 0: e's error reaches the result scaled by 2/(e+2) <= 1
    a = x.abs() * 2.0
    e = _expm1(where(a > 44.0, 44.0, a))   # tanh(22) rounds to 1
    y = e / (e + 2.0)
    y = where(x < 0.0, -y, y)
    return where(x == 0.0, x, y)


@_float64_function
def sigmoid_f64(x, context):
    e = _exp(-x.abs())                     # in [0, 1]: never overflows
    return where(x >= 0.0, 1.0, e) / (1.0 + e)   # 1/(1+e), or e/(1+e) for x < 0; NaN: e is NaN


@_float64_function
def softplus_f64(x, context):
    e = _exp(-x.abs())
    pos = where(x > 0.0, x, 0.0)
    y = pos + _log1p(e)                    # log1p(e) for e in [0, 1]
    return where(x == x, y, x)             # NaN: explicit, not left to the bit tricks


# tan: libm, Numba Python inlined into Numba's IR (np.float64(x) first: Numba's math.tan on a float32
# argument would compute in float32).
_inline = numba.njit(inline="always", error_model="numpy")
tan_f64 = _inline(lambda x: math.tan(np.float64(x)))
