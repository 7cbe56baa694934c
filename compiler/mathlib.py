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
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = [f"{name}_{suffix}" for name in ("exp", "expm1", "log", "log1p", "sin", "cos", "tan", "tanh",
                                           "sigmoid", "softplus") for suffix in ("f32", "f64")]

_inline = numba.njit(inline="always", error_model="numpy")


# ---- bit casts and bit operations ------------------------------------------------------------------
# Bit manipulation is done in uint64: Numba marks signed integer + - * as `nsw` (overflow is undefined
# behaviour), so wrapping arithmetic is only defined on unsigned types. Every integer constant used with
# them is a uint64 too (a plain int would promote the expression to int64).

@intrinsic
def _f64_bits(typingctx, x):
    """The IEEE bits of a float64 as uint64 (an LLVM bitcast: free, and vectorises)."""
    if x == types.float64:
        return types.uint64(types.float64), lambda ctx, builder, sig, args: builder.bitcast(args[0], ir.IntType(64))
    return None


@intrinsic
def _bits_f64(typingctx, i):
    """The float64 whose IEEE bits are the uint64 ``i``."""
    if i == types.uint64:
        return types.float64(i), lambda ctx, builder, sig, args: builder.bitcast(args[0], ir.DoubleType())
    return None


@intrinsic
def _f32_bits(typingctx, x):
    """The IEEE bits of a float32 as uint32."""
    if x == types.float32:
        return types.uint32(types.float32), lambda ctx, builder, sig, args: builder.bitcast(args[0], ir.IntType(32))
    return None


@intrinsic
def _fshl(typingctx, a, b, t):
    """The high word of the 128-bit (a:b) << (t mod 64): LLVM's llvm.fshl (one AVX-512 instruction, and no
    undefined shift by 64 when t is 0)."""
    if not (a == b == t == types.uint64):
        return None

    def codegen(context, builder, sig, args):
        i64 = ir.IntType(64)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(i64, [i64] * 3), "llvm.fshl.i64")
        return builder.call(fn, args)
    return types.uint64(types.uint64, types.uint64, types.uint64), codegen


# ---- constants (typed: float64 _F, uint64 _U) -------------------------------------------------------
_F = np.float64
_U = np.uint64
_SHIFT = _F(6755399441055744.0)            # 1.5 * 2^52: t + _SHIFT rounds t to an integer kept in the low bits
_EXP_BIAS = _U(0x4338000000000000 - 1023)  # bits(t + _SHIFT) - _EXP_BIAS = round(t) + 1023
_LOG2E = _F(1.4426950408889634)
_LN2 = _F(0.6931471805599453)
_LN2_HI = _F(0.6931471803691238)           # ln2 with 32 significant bits: k * _LN2_HI is exact for |k| < 2^21
_LN2_LO = _F(1.9082149292705877e-10)       # ln2 - _LN2_HI
# expm1(r) = r + r^2 * P(r) on |r| <= ln2/2, minimax in relative error (2^-32)
_E2, _E3, _E4 = _F(0.5000000044140088), _F(0.16666666370615701), _F(0.041666361026202206)
_E5, _E6, _E7 = _F(0.008333389349449473), _F(0.0013940617645229099), _F(0.00019845876623499835)
# log(m) = 2s + s^3 * Q(s^2), |s| <= (sqrt2-1)/(sqrt2+1), minimax in relative error (2^-30)
_L1, _L2, _L3 = _F(0.6666677608893586), _F(0.3997757361298863), _F(0.2987094791510922)
_SQRT_HALF_BITS = _U(0x3FE6A09E667F3BCD)   # bits of sqrt(1/2)
_LOG_OFFSET = _U(0x3FF0000000000000 - 0x3FE6A09E667F3BCD)
_MANT_MASK = _U(0x000FFFFFFFFFFFFF)
# sin(r) = r + r^3 S(r^2) on |r| <= pi/2 (error 2^-27); cos(r) = 1 + r^2 C(r^2) on |r| <= pi/4 (2^-34)
_S1, _S2 = _F(-0.16666659538469863), _F(0.00833306591350351)
_S3, _S4 = _F(-0.00019809576893038857), _F(2.605719874902865e-06)
_C1, _C2 = _F(-0.4999999972487861), _F(0.041666623297409465)
_C3, _C4 = _F(-0.0013886762918703531), _F(2.439036643802275e-05)
_2_OVER_PI = _F(0.6366197723675814)
_PIO2_1 = _F(1.5707963267341256)           # pi/2 in three parts; k * part is exact for |k| < 2^21
_PIO2_2 = _F(6.077100506303966e-11)
_PIO2_3 = _F(2.0222662487959506e-21)
_MEDIUM = _F(1048576.0)                    # 2^20: below it the three-part reduction is used
_PI_2_63 = _F(3.4061215800865545e-19)      # pi/2 * 2^-62: the 2.62 fixed-point remainder to radians
_LOW32 = _U(0xFFFFFFFF)


def _four_over_pi_words():
    """4/pi's fraction bits as four uint64 words, most significant first, laid out so that the top 96 bits
    of (words << s) are floor(4/pi * 2^(71 + s)) mod 2^96 for 0 <= s < 128 (the window _reduce needs)."""
    bits = 400
    one = 1 << bits

    def atan_inv(x):                       # atan(1/x) * 2^bits by its Taylor series (Machin's formula)
        total, term, n, sign = 0, one // x, 1, 1
        while term:
            total, term, n, sign = total + sign * (term // n), term // (x * x), n + 2, -sign
        return total
    pi = 16 * atan_inv(5) - 4 * atan_inv(239)
    g = ((4 << (2 * bits)) // pi >> (bits - 198)) % (1 << 223)   # floor(4/pi * 2^198) mod 2^223
    g <<= 33                                                     # 256 bits
    words = [(g >> (192 - 64 * j)) & (2**64 - 1) for j in range(4)]
    return tuple(_U(w) for w in words)


_W0, _W1, _W2, _W3 = _four_over_pi_words()


# ---- float64 cores shared by the float32 functions ------------------------------------------------

@_inline
def _exp_split(t):
    """(scale, q) with exp(t) = scale * (1 + q), scale = 2^k; needs |t| < 700. NaN gives q = NaN."""
    z = t * _LOG2E + _SHIFT
    k = z - _SHIFT
    r = (t - k * _LN2_HI) - k * _LN2_LO
    q = r + r * r * (_E2 + r * (_E3 + r * (_E4 + r * (_E5 + r * (_E6 + r * _E7)))))
    scale = _bits_f64((_f64_bits(z) - _EXP_BIAS) << 52)
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
    ix = _f64_bits(u) + _LOG_OFFSET
    k = np.float64(np.int32(ix >> 52)) - _F(1023.0)      # via int32: AVX2 has no int64 -> float64 convert
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
def _reduce(x, unit, offset):
    """Reduce float32 x for a function of period 2*pi (unit 2) or pi (unit 1): returns (r, k) with
    x + offset * pi/2 = k * unit * pi/2 + r, k the nearest integer, |r| <= unit * pi/4, r in float64."""
    xd = np.float64(x)
    # |x| < 2^20: Cody-Waite with pi/2 in three parts; n = k * unit - offset < 2^21 keeps n * part exact
    kf = (xd * (_2_OVER_PI / unit) + _F(offset / unit)) + _SHIFT
    k = _f64_bits(kf)                      # the low bits of the shifted sum's bits are the integer k
    n = (kf - _SHIFT) * unit - offset
    r = ((xd - n * _PIO2_1) - n * _PIO2_2) - n * _PIO2_3
    # |x| >= 2^20 (valid for |x| >= 2): Payne-Hanek as in glibc's sinf, but with no table lookups (gathers
    # are slow, and this runs for every lane): |x| = m * 2^(s + 105), and the 96 bits of 4/pi that matter,
    # w = floor(4/pi * 2^(71 + s)) mod 2^96, come from funnel-shifting four constant words.
    # floor(m * w / 2^32) mod 2^64 is then |x| * 2/pi modulo 4 (one full turn) as a 2.62 fixed-point
    # number: two bits of quadrant and the remainder, exact to 2^-62.
    xi = _U(_f32_bits(x))
    s = (xi >> 23) & _U(127)               # the biased exponent less 128
    m = (xi & _U(0x7FFFFF)) | _U(0x800000)
    up = s >= _U(64)
    hi = _fshl(_W1 if up else _W0, _W2 if up else _W1, s)
    lo = _fshl(_W2 if up else _W1, _W3 if up else _W2, s)
    turn = m * hi + ((m * (lo >> 32)) >> 32) + (_U(offset) << 62)   # wraps modulo 2^64 = 4 quadrants
    half = _U(unit) << 61
    kl = ((turn + half) >> (61 + unit)) & _U(3 >> (unit - 1))       # nearest multiple of unit quadrants
    u = turn + half - (kl << (61 + unit))  # remainder + half, in [0, 2 * half)
    rl = np.float64(np.int64(u - half)) * _PI_2_63   # |u - half| < 2^62: one rounding to float64
    rl = -rl if xd < 0 and offset == 0 else rl   # odd functions (sin, tan): f(-|x|) = -f(|x|)
    big = abs(xd) >= _MEDIUM
    return (rl if big else r), (kl if big else k)


@_inline
def _sin_poly(r):
    z = r * r
    return r + r * z * (_S1 + z * (_S2 + z * (_S3 + z * _S4)))


@_inline
def _sin_cos(x, offset):
    """sin(x + offset * pi/2) for float32 x, as float32: one odd polynomial after reduction modulo pi."""
    r, k = _reduce(x, 2, offset)
    s = _sin_poly(r)
    return np.float32(-s if k & 1 else s)


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
    y = _sin_cos(x, 0)
    y = x if x == 0 else y                 # keeps -0.0
    return y if abs(x) < np.float32(np.inf) else x - x   # inf -> NaN, NaN -> NaN


@_inline
def cos_f32(x):
    x = np.float32(x)
    y = _sin_cos(x, 1)
    return y if abs(x) < np.float32(np.inf) else x - x


@_inline
def tan_f32(x):
    x = np.float32(x)
    r, k = _reduce(x, 1, 0)                # |r| <= pi/4, tan(x) = tan(r) or -1/tan(r) by the quadrant
    s = _sin_poly(r)
    z = r * r
    c = _F(1.0) + z * (_C1 + z * (_C2 + z * (_C3 + z * _C4)))
    y = np.float32(-c / s if k & 1 else s / c)
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
