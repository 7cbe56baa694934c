"""Scalar transcendental functions for generated elementwise loops.

The code generator calls these inside fused loops (``out[i] = exp_f32(-x[i] * x[i]) * y[i]``). libm calls
do not vectorise (there is no SVML here), so the float32 versions are written as straight-line
arithmetic, integer bit manipulation and selects, which LLVM's loop vectoriser turns into AVX2/AVX-512
code. Every function is ``numba.njit(inline='always')``: Numba inlines it into the caller's IR, so it
takes the caller's flags. Callers must use ``error_model='numpy'`` (the ``python`` model adds a
division-by-zero branch that stops vectorisation) and at most ``fastmath={'contract'}`` (``nnan``,
``ninf`` and ``nsz`` break the special-value selects; ``reassoc`` folds the range reductions away).

float32 functions (argument and result np.float32; intermediates in float64, which is exact for the
float32 reductions below and still vectorises, 4 or 8 lanes per vector):

  exp_f32, expm1_f32  Cody-Waite reduction x = k*ln2 + r, |r| <= ln2/2, degree-7 minimax for expm1(r)
                      (relative error 2^-32); 2^k is built from the exponent bits. Whole float32 range,
                      denormal results correctly rounded (the float64 result is rounded once).
  log_f32, log1p_f32  u = 2^k * m with m in [sqrt(1/2), sqrt(2)) split from the float64 bits, then
                      log(m) = 2s + s^3 Q(s^2), s = (m-1)/(m+1), degree-7 minimax (error 2^-30). log1p
                      adds back the rounding error of 1+x. Whole range, denormal inputs included.
  sin_f32, cos_f32,   k = nearest integer to x*2/pi, r = x - k*pi/2 with pi/2 in three float64 parts for
  tan_f32             |x| < 2^20; for larger |x| an exact integer Payne-Hanek reduction against 192 bits
                      of 4/pi (the method of glibc's sinf). Both reductions are computed and one selected,
                      so the rare path costs a few vector instructions instead of a branch. Degree-7 sin
                      and degree-8 cos minimax on |r| <= pi/4 (errors 2^-28, 2^-34). Whole float32 range.
  tanh_f32            expm1(2x) / (expm1(2x) + 2), saturating to +-1; sign of zero kept.
  sigmoid_f32         1 / (1 + exp(-x)), exp in float64 with a clamped argument: no overflow for any x.
  softplus_f32        max(x, 0) + log1p(exp(-|x|)).

Measured (tests/test_mathlib.py, ~2M arguments per function: special values, denormals, random bit
patterns, log-spaced magnitudes): at most 1 ULP from NumPy's float64 result rounded to float32, for every
float32 input. NaN -> NaN, +-inf and signed zeros as NumPy.

float64 functions (``*_f64``) call libm through ``math`` (correct to ~1 ULP, not vectorised; float64 is
not the vectorisation target), except sigmoid_f64 and softplus_f64, which use overflow-free formulas
(<= 2 ULP measured against long-double references).
"""
import math

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

__all__ = [f"{name}_{suffix}" for name in ("exp", "expm1", "log", "log1p", "sin", "cos", "tan", "tanh",
                                           "sigmoid", "softplus") for suffix in ("f32", "f64")]

_inline = numba.njit(inline="always", error_model="numpy")


# ---- bit casts (no copy; LLVM `bitcast`, free in vector code) -------------------------------------

@intrinsic
def _f64_bits(typingctx, x):
    """The IEEE bits of a float64 as int64."""
    if x == types.float64:
        return types.int64(types.float64), lambda ctx, builder, sig, args: builder.bitcast(args[0], ir.IntType(64))
    return None


@intrinsic
def _bits_f64(typingctx, i):
    """The float64 whose IEEE bits are the int64 ``i``."""
    if isinstance(i, types.Integer) and i.bitwidth == 64:
        return types.float64(i), lambda ctx, builder, sig, args: builder.bitcast(args[0], ir.DoubleType())
    return None


@intrinsic
def _f32_bits(typingctx, x):
    """The IEEE bits of a float32 as int32."""
    if x == types.float32:
        return types.int32(types.float32), lambda ctx, builder, sig, args: builder.bitcast(args[0], ir.IntType(32))
    return None


# ---- constants: float64 unless named otherwise; a bare Python float would be fine here (float64) but
# typed scalars keep the intent explicit, and ints are int64 ----------------------------------------
_F = np.float64
_SHIFT = _F(6755399441055744.0)            # 1.5 * 2^52: t + _SHIFT rounds t to an integer kept in the low bits
_SHIFT_BITS = 0x4338000000000000           # bits of _SHIFT; bits(t + _SHIFT) - _SHIFT_BITS == round(t)
_LOG2E = _F(1.4426950408889634)
_LN2 = _F(0.6931471805599453)
_LN2_HI = _F(0.6931471803691238)           # ln2 with 32 significant bits: k * _LN2_HI is exact for |k| < 2^21
_LN2_LO = _F(1.9082149292705877e-10)       # ln2 - _LN2_HI
# expm1(r) = r + r^2 * P(r) on |r| <= ln2/2, minimax in relative error (2^-32)
_E2, _E3, _E4 = _F(0.5000000044140088), _F(0.16666666370615701), _F(0.041666361026202206)
_E5, _E6, _E7 = _F(0.008333389349449473), _F(0.0013940617645229099), _F(0.00019845876623499835)
# log(m) = 2s + s^3 * Q(s^2), |s| <= (sqrt2-1)/(sqrt2+1), minimax in relative error (2^-30)
_L1, _L2, _L3 = _F(0.6666677608893586), _F(0.3997757361298863), _F(0.2987094791510922)
_SQRT_HALF_BITS = 0x3FE6A09E667F3BCD       # bits of sqrt(1/2)
_ONE_BITS = 0x3FF0000000000000
_MANT_MASK = 0x000FFFFFFFFFFFFF
# sin(r) = r + r^3 S(r^2), cos(r) = 1 + r^2 C(r^2) on |r| <= pi/4 (errors 2^-28, 2^-34)
_S1, _S2, _S3 = _F(-0.16666654601875314), _F(0.008332160269845658), _F(-0.00019515215366644234)
_C1, _C2 = _F(-0.4999999972487861), _F(0.041666623297409465)
_C3, _C4 = _F(-0.0013886762918703531), _F(2.439036643802275e-05)
_2_OVER_PI = _F(0.6366197723675814)
_PIO2_1 = _F(1.5707963267341256)           # pi/2 in three parts of 33 bits: k * part is exact for k < 2^20
_PIO2_2 = _F(6.077100506303966e-11)
_PIO2_3 = _F(2.0222662487959506e-21)
_MEDIUM = _F(1048576.0)                    # 2^20: below, the three-part reduction is exact enough
_PI_2_63 = _F(3.4061215800865545e-19)      # pi/2 * 2^-62: converts the 2.62 fixed-point remainder


def _four_over_pi_table():
    """Entry i = floor(4/pi * 2^(8i + 7)) mod 2^32: 4/pi to 192 bits, 8 new bits per entry (glibc's table)."""
    bits = 320
    one = 1 << bits

    def atan_inv(x):                       # atan(1/x) * 2^bits by its Taylor series (Machin's formula)
        total, term, n, sign = 0, one // x, 1, 1
        while term:
            total, term, n, sign = total + sign * (term // n), term // (x * x), n + 2, -sign
        return total
    pi = 16 * atan_inv(5) - 4 * atan_inv(239)
    inv = (4 << (2 * bits)) // pi          # 4/pi * 2^bits
    return np.array([(inv >> (bits - 7 - 8 * i)) & 0xFFFFFFFF for i in range(24)], dtype=np.int64)


_INV_PIO4 = _four_over_pi_table()          # a global array: Numba freezes it into the code as a constant


# ---- float64 cores shared by the float32 functions ------------------------------------------------

@_inline
def _exp_split(t):
    """(scale, q) with exp(t) = scale * (1 + q), scale = 2^k; needs |t| < 700. NaN gives q = NaN."""
    z = t * _LOG2E + _SHIFT
    k = z - _SHIFT
    r = (t - k * _LN2_HI) - k * _LN2_LO
    q = r + r * r * (_E2 + r * (_E3 + r * (_E4 + r * (_E5 + r * (_E6 + r * _E7)))))
    scale = _bits_f64((_f64_bits(z) - _SHIFT_BITS + 1023) << 52)
    return scale, q


@_inline
def _exp_d(t):
    scale, q = _exp_split(t)
    return scale + scale * q


@_inline
def _expm1_d(t):
    scale, q = _exp_split(t)
    return scale * q + (scale - _F(1.0))   # exact q when k == 0, so tiny t keep full relative accuracy


@_inline
def _log_d(u):
    """log(u) for a positive normal float64 u (anything else gives garbage: callers select around it)."""
    ix = _f64_bits(u) + (_ONE_BITS - _SQRT_HALF_BITS)   # non-negative, so >> below acts as a logical shift
    k = np.float64(np.int32((ix >> 52) & 0x7FF) - 1023)  # via int32: AVX2 has no int64 -> float64 convert
    m = _bits_f64((ix & _MANT_MASK) + _SQRT_HALF_BITS)   # u / 2^k, in [sqrt(1/2), sqrt(2))
    f = m - _F(1.0)
    s = f / (_F(2.0) + f)
    z = s * s
    return k * _LN2 + (s + s + s * z * (_L1 + z * (_L2 + z * _L3)))


@_inline
def _log1p_d(v):
    """log(1 + v) for float64 v > -1: log(u) of u = 1 + v rounded, plus the rounding error (v - (u - 1))
    as a first-order correction (it is non-zero only when u is within 2^-52 of 1)."""
    u = _F(1.0) + v
    return _log_d(u) + (v - (u - _F(1.0)))


@_inline
def _reduce(x):
    """(r, n) with x = n * pi/2 + r, |r| <~ pi/4, for finite float32 x; r in float64."""
    xd = np.float64(x)
    z = xd * _2_OVER_PI + _SHIFT
    k = z - _SHIFT
    r = ((xd - k * _PIO2_1) - k * _PIO2_2) - k * _PIO2_3
    n = _f64_bits(z)                       # the low bits of z's bits are k (two's complement)
    # Payne-Hanek for |x| >= 2^20 (valid for |x| >= 2): a 32 x 96 bit product of the mantissa with the
    # bits of 4/pi at the exponent's position gives the fraction exactly as a 2.62 fixed-point number.
    xi = np.int64(_f32_bits(x)) & 0x7FFFFFFF
    idx = (xi >> 26) & 15
    m = ((xi & 0x7FFFFF) | 0x800000) << ((xi >> 23) & 7)
    res0 = ((m * _INV_PIO4[idx]) & 0xFFFFFFFF) << 32
    res1 = m * _INV_PIO4[idx + 4]          # < 2^63: no overflow
    res2 = m * _INV_PIO4[idx + 8]
    res = (res0 | (res2 >> 32)) + res1     # wraps modulo 2^64 = modulo 4 quadrants, as intended
    nl = ((res + (1 << 61)) >> 62) & 3     # nearest quadrant
    u = res + (1 << 61) - (nl << 62)       # remainder + 2^61, in [0, 2^62)
    hi = np.int32((u >> 31) - (1 << 30))   # split for two int32 -> float64 converts (AVX2 friendly)
    lo = np.int32(u & 0x7FFFFFFF)
    rl = (np.float64(hi) * _F(2147483648.0) + np.float64(lo)) * _PI_2_63
    rl = -rl if xd < 0 else rl             # the integer path reduced |x|
    nl = -nl if xd < 0 else nl
    big = abs(xd) >= _MEDIUM
    return (rl if big else r), (nl if big else n)


@_inline
def _sin_cos_poly(r):
    z = r * r
    s = r + r * z * (_S1 + z * (_S2 + z * _S3))
    c = _F(1.0) + z * (_C1 + z * (_C2 + z * (_C3 + z * _C4)))
    return s, c


# ---- float32 -------------------------------------------------------------------------------------

@_inline
def exp_f32(x):
    t = np.float64(np.float32(x))
    t = _F(100.0) if t > _F(100.0) else t    # beyond these, float32 exp is inf / 0 anyway; NaN passes
    t = _F(-160.0) if t < _F(-160.0) else t
    return np.float32(_exp_d(t))


@_inline
def expm1_f32(x):
    x = np.float32(x)
    t = np.float64(x)
    t = _F(100.0) if t > _F(100.0) else t
    t = _F(-40.0) if t < _F(-40.0) else t
    y = np.float32(_expm1_d(t))
    return x if x == 0 else y              # keeps -0.0


@_inline
def log_f32(x):
    x = np.float32(x)
    y = np.float32(_log_d(np.float64(x)))  # float32 denormals are normal float64 numbers
    y = np.float32(-np.inf) if x == 0 else y
    y = np.float32(np.nan) if x < 0 else y
    return y if x < np.float32(np.inf) else x   # +inf -> +inf, NaN -> NaN


@_inline
def log1p_f32(x):
    x = np.float32(x)
    y = np.float32(_log1p_d(np.float64(x)))
    y = np.float32(-np.inf) if x == -1 else y
    y = np.float32(np.nan) if x < -1 else y
    y = x if x == 0 else y                 # keeps -0.0
    return y if x < np.float32(np.inf) else x


@_inline
def sin_f32(x):
    x = np.float32(x)
    r, n = _reduce(x)
    s, c = _sin_cos_poly(r)
    v = c if n & 1 else s
    y = np.float32(-v if n & 2 else v)
    y = x if x == 0 else y
    return y if abs(x) < np.float32(np.inf) else x - x   # inf -> NaN, NaN -> NaN


@_inline
def cos_f32(x):
    x = np.float32(x)
    r, n = _reduce(x)
    s, c = _sin_cos_poly(r)
    v = s if n & 1 else c
    y = np.float32(-v if (n + 1) & 2 else v)
    return y if abs(x) < np.float32(np.inf) else x - x


@_inline
def tan_f32(x):
    x = np.float32(x)
    r, n = _reduce(x)
    s, c = _sin_cos_poly(r)
    y = np.float32(-c / s if n & 1 else s / c)
    y = x if x == 0 else y
    return y if abs(x) < np.float32(np.inf) else x - x


@_inline
def tanh_f32(x):
    x = np.float32(x)
    t = np.float64(x) * _F(2.0)
    t = _F(40.0) if t > _F(40.0) else t    # tanh(20) rounds to 1 in float32
    t = _F(-40.0) if t < _F(-40.0) else t
    e = _expm1_d(t)
    y = np.float32(e / (e + _F(2.0)))
    return x if x == 0 else y


@_inline
def sigmoid_f32(x):
    t = -np.float64(np.float32(x))
    t = _F(200.0) if t > _F(200.0) else t  # exp(200) is finite in float64: no overflow, 1/(1+e) -> 0
    t = _F(-200.0) if t < _F(-200.0) else t
    return np.float32(_F(1.0) / (_F(1.0) + _exp_d(t)))


@_inline
def softplus_f32(x):
    xd = np.float64(np.float32(x))
    a = abs(xd)
    a = _F(200.0) if a > _F(200.0) else a  # exp(-200) still positive in float64; NaN passes through
    pos = xd if xd > _F(0.0) else _F(0.0)
    return np.float32(pos + _log1p_d(_exp_d(-a)))


# ---- float64: libm, except where a stable formula is needed ---------------------------------------

@_inline
def exp_f64(x):
    return math.exp(x)


@_inline
def expm1_f64(x):
    return math.expm1(x)


@_inline
def log_f64(x):
    return math.log(x)


@_inline
def log1p_f64(x):
    return math.log1p(x)


@_inline
def sin_f64(x):
    return math.sin(x)


@_inline
def cos_f64(x):
    return math.cos(x)


@_inline
def tan_f64(x):
    return math.tan(x)


@_inline
def tanh_f64(x):
    return math.tanh(x)


@_inline
def sigmoid_f64(x):
    e = math.exp(-abs(x))                  # in [0, 1]: never overflows
    r = 1.0 / (1.0 + e)
    return r if x >= 0 else e * r          # e / (1 + e) for x < 0; NaN falls through to e * r = NaN


@_inline
def softplus_f64(x):
    pos = x if x > 0 else 0.0              # NaN -> 0 here, but log1p(exp(-|NaN|)) is NaN
    return pos + math.log1p(math.exp(-abs(x)))
