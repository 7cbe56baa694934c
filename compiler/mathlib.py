"""Scalar transcendental functions for generated elementwise loops.

The code generator calls these inside fused loops (``out[i] = exp_f32(-x[i] * x[i]) * y[i]``). libm calls
do not vectorise (no SVML here), so the float32 versions are straight-line arithmetic, bit manipulation
and selects (no branches, no table lookups), which LLVM's loop vectoriser turns into AVX2/AVX-512 code.
Each is ``numba.njit(inline='always')``: Numba inlines it into the caller's IR (LLVM's own inliner gives
up on a second call site of a big function, and the loop then stays scalar), where it takes the caller's
flags. Callers must use ``error_model='numpy'`` (the 'python' model adds a division-by-zero branch) and at
most ``fastmath={'contract'}`` (``nnan``/``ninf``/``nsz`` break the special-value selects, ``reassoc``
the range reductions).

float32 (np.float32 in and out), valid for every float32 input, denormals included:

  exp_f32       float32 throughout: Cody-Waite x = k*ln2 + r, |r| <= ln2/2, degree-6 minimax (2^-28);
                2^k applied as two normal factors, so subnormal results round once and overflow gives inf.
  expm1_f32     the same reduction in float64, degree-7 minimax for expm1(r) (2^-32): exact near 0.
  log_f32,      float64: u = 2^k * m, m in [sqrt(1/2), sqrt(2)) split from the bits, log(m) = 2s + s^3 Q(s^2)
  log1p_f32     with s = (m-1)/(m+1), degree-7 minimax (2^-30); log1p adds back the rounding error of 1+x.
  sin_f32,      reduced modulo pi to |r| <= pi/2 (cos(x) = sin(x + pi/2)), then one degree-9 odd minimax
  cos_f32       (2^-27) evaluated in float32. |x| < 1 needs no reduction; otherwise an exact integer
                Payne-Hanek reduction against 4/pi (glibc's sinf method, without its table), computed
                for every lane and selected, so huge arguments cost no branch.
  tan_f32       the same reduction; sin(r) / sin(pi/2 - |r|) in float64.
  tanh_f32      expm1(2x) / (expm1(2x) + 2) in float64, saturating to +-1.
  sigmoid_f32   1 / (1 + exp(-x)) in float64 with a clamped argument (no overflow; exact 0 and 1 limits).
  softplus_f32  max(x, 0) + log1p(exp(-|x|)) in float64.

Error against NumPy's float64 result rounded to float32, checked on all 2^32 float32 inputs: at most
2 ULP for sin_f32 and cos_f32, 1 ULP for the others (tests/test_mathlib.py checks ~2M inputs each
against the 4 ULP contract). NaN -> NaN; infinities, overflow, underflow and signed zeros as NumPy.

float64 (``*_f64``): libm through ``math`` (<= 2 ULP; not vectorised, float64 is not the target),
except sigmoid_f64 and softplus_f64, which use overflow-free formulas (<= 2 ULP).

Generated kernels inline this code, so Numba's on-disk cache of a kernel does not notice when this file
changes: include ``SOURCE_SHA256`` in the cache key.
"""
import hashlib
import math
import pathlib

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = [f"{name}_{suffix}" for name in ("exp", "expm1", "log", "log1p", "sin", "cos", "tan", "tanh",
                                           "sigmoid", "softplus") for suffix in ("f32", "f64")]

SOURCE_SHA256 = hashlib.sha256(pathlib.Path(__file__).read_bytes()).hexdigest()

_inline = numba.njit(inline="always", error_model="numpy")


# ---- bit casts, selects, funnel shifts -------------------------------------------------------------
# Bit manipulation is unsigned: Numba marks signed integer + - * as `nsw` (overflow is undefined
# behaviour), so wrapping arithmetic is only defined on unsigned types. Integer constants used with them
# are unsigned too (a plain int would turn the expression into int64). Numba widens uint32 arithmetic to
# uint64; LLVM narrows it back where only the low bits are used.

@intrinsic
def _bitcast(typingctx, x, to):
    """The bits of ``x`` as type ``to`` (np.float32, np.float64, np.uint32 or np.uint64), a wider unsigned
    integer being truncated first: an LLVM bitcast, free, and it vectorises."""
    t = getattr(to, "instance_type", None)
    if not isinstance(t, (types.Float, types.Integer)) or x.bitwidth < t.bitwidth:
        return None
    if x.bitwidth > t.bitwidth and not (isinstance(x, types.Integer) and not x.signed):
        return None

    def codegen(context, builder, sig, args):
        v = args[0] if x.bitwidth == t.bitwidth else builder.trunc(args[0], ir.IntType(t.bitwidth))
        return builder.bitcast(v, context.get_value_type(t))
    return t(x, to), codegen


@intrinsic
def _sel(typingctx, cond, a, b):
    """``a if cond else b`` as one LLVM select, with both sides computed. A Python conditional expression
    becomes branches in Numba's IR, which Numba's parfor passes handle slowly once inlined many times."""
    if isinstance(cond, types.Boolean) and a == b:
        return a(cond, a, b), lambda ctx, builder, sig, args: builder.select(*args)
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


# ---- constants (typed scalars: float64 _F, float32 _G, uint64 _U, uint32 _U32) ------------------------
_F = np.float64
_G = np.float32
_U = np.uint64
_U32 = np.uint32
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
# exp_f32, all float32: e^r = 1 + r + r^2 * P(r) on |r| <= ln2/2 (minimax, relative error 2^-28)
_SHIFT_G = _G(12582912.0)                  # 1.5 * 2^23, the float32 _SHIFT
_SHIFT_G_BITS = _U32(0x4B400000)
_LOG2E_G = _G(1.4426950408889634)
_LN2_HI_G = _G(0.693145751953125)          # 15 significant bits: k * _LN2_HI_G is exact for |k| < 2^9
_LN2_LO_G = _G(1.4286068202862268e-06)
_P2, _P3, _P4 = _G(0.4999999341216021), _G(0.16666520103720223), _G(0.04166839427203451)
_P5, _P6 = _G(0.008368780843549112), _G(0.0013814464955304267)
# sin(r) = r + r^3 S(r^2) on |r| <= pi/2, minimax in relative error (2^-27)
_S1, _S2 = _F(-0.16666659538469863), _F(0.00833306591350351)
_S3, _S4 = _F(-0.00019809576893038857), _F(2.605719874902865e-06)
_S1_G, _S2_G, _S3_G, _S4_G = _G(_S1), _G(_S2), _G(_S3), _G(_S4)
_PIO2_1 = _F(1.5707963267341256)           # pi/2 = _PIO2_1 + _PIO2_2 to 2^-85
_PIO2_2 = _F(6.077100506303966e-11)
_PI_2_63 = _F(3.4061215800865545e-19)      # pi/2 * 2^-62: the 2.62 fixed-point remainder to radians
_TWO52 = _F(4503599627370496.0)
_TWO52_BITS = _U(0x4330000000000000)       # bits(2^52) | i is 2^52 + i, for 0 <= i < 2^52
_LOW32 = _U(0xFFFFFFFF)


def _four_over_pi_words():
    """4/pi's fraction bits as four uint64 words, most significant first, laid out so that the top 96 bits
    of (words << s) are floor(4/pi * 2^(70 + s)) mod 2^96 for 0 <= s < 128 (the window _reduce needs)."""
    bits = 400
    one = 1 << bits

    def atan_inv(x):                       # atan(1/x) * 2^bits by its Taylor series (Machin's formula)
        total, term, n, sign = 0, one // x, 1, 1
        while term:
            total, term, n, sign = total + sign * (term // n), term // (x * x), n + 2, -sign
        return total
    pi = 16 * atan_inv(5) - 4 * atan_inv(239)
    g = ((4 << (2 * bits)) // pi >> (bits - 197)) % (1 << 223)   # floor(4/pi * 2^197) mod 2^223
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
    scale = _bitcast((_bitcast(z, _U) - _EXP_BIAS) << 52, _F)
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
    ix = _bitcast(u, _U) + _LOG_OFFSET
    k = np.float64(np.int32(ix >> 52)) - _F(1023.0)      # via int32: AVX2 has no int64 -> float64 convert
    m = _bitcast((ix & _MANT_MASK) + _SQRT_HALF_BITS, _F)   # u / 2^k, in [sqrt(1/2), sqrt(2))
    f = m - _F(1.0)
    s = f / (_F(2.0) + f)
    z = s * s
    return k * _LN2 + (s + s + s * z * (_L1 + z * (_L2 + z * _L3)))


@_inline
def _log1p_d(v):
    """log(1 + v) for float64 v > -1: log(u) of u = 1 + v rounded, plus the rounding error c = v - (u - 1)
    as the first-order correction c/u. It matters only for u < 2, where c/u ~ c; for u >= 2 it is below
    2^-53 relative, but c itself can be large (c = 1 for v = 2^53), so it is dropped there."""
    u = _F(1.0) + v
    return _log_d(u) + _sel(u >= _F(2.0), _F(0.0), v - (u - _F(1.0)))   # NaN v: the NaN of c


@_inline
def _u63_to_f64_split(u, bias):
    """float64(u - bias), rounded once, for 0 <= u < 2^63 and a constant bias that is a multiple of 2^32:
    two 32-bit halves through the 2^52 bit trick (AVX2 has no int64 -> float64 conversion)."""
    hi = _bitcast((u >> 32) | _TWO52_BITS, _F) - (_TWO52 + _F(bias >> 32))
    lo = _bitcast((u & _LOW32) | _TWO52_BITS, _F) - _TWO52
    return hi * _F(4294967296.0) + lo


@_inline
def _u63_to_f64_native(u, bias):
    return np.float64(np.int64(u) - bias)  # one AVX-512DQ instruction (vcvtqq2pd); the same result


def _target_has(feature):
    """Whether Numba compiles for a CPU with ``feature`` (its NUMBA_CPU_FEATURES, else the host's)."""
    from llvmlite import binding
    features = numba.core.config.CPU_FEATURES or binding.get_host_cpu_features().flatten()
    return f"+{feature}" in features.split(",")


_u63_to_f64 = _u63_to_f64_native if _target_has("avx512dq") else _u63_to_f64_split


@_inline
def _reduce(x, offset):
    """For float32 x, (r, k, c) with x + offset * pi/2 = k * pi + r, k the nearest integer (0 or 1: only
    its parity matters), |r| <= pi/2, and c = pi/2 - |r| (for tan: exact even where c is tiny), as float64.
    offset is 0 for the odd functions (sin, tan), 1 for cos."""
    xd = np.float64(x)
    ax = abs(xd)
    # |x| < 1 needs no reduction: r = x for sin, and cos(x) = sin(pi/2 - |x|)
    c0 = (_PIO2_1 - ax) + _PIO2_2
    r0 = _sel(offset != 0, c0, xd)
    # |x| >= 1: Payne-Hanek as in glibc's sinf, but with no table lookups (gathers are slow, and this runs
    # for every lane, being selected after): |x| = m * 2^(s - 23) with m the 24-bit mantissa, and the 96
    # bits of 4/pi that matter, w = floor(4/pi * 2^(70 + s)) mod 2^96, come from funnel-shifting four
    # constant words. floor(m * w / 2^32) mod 2^64 is then |x| * 2/pi modulo 4 (a full turn) as a 2.62
    # fixed-point number: the quadrant and the remainder, exact to 2^-62.
    xi = _U(_bitcast(x, _U32))
    s = ((xi >> 23) & _U(255)) - _U(127)   # the unbiased exponent (wraps around for |x| < 1: unused then)
    m = (xi & _U(0x7FFFFF)) | _U(0x800000)
    up = s >= _U(64)
    hi = _fshl(_sel(up, _W1, _W0), _sel(up, _W2, _W1), s)
    lo = _fshl(_sel(up, _W2, _W1), _sel(up, _W3, _W2), s)
    # m * hi in two 32-bit products (AVX2 has no 64-bit multiply); the sum wraps modulo 2^64 = 4 quadrants
    turn = ((m * (hi >> 32)) << 32) + m * (hi & _LOW32) + ((m * (lo >> 32)) >> 32) + (_U(offset) << 62)
    v = turn + _U(1 << 62)                 # + half a turn of pi: the top bit is then the parity of k
    kl = v >> 63
    u = v & _U((1 << 63) - 1)              # the remainder + 2^62, in [0, 2^63)
    rl = _u63_to_f64(u, 1 << 62) * _PI_2_63
    rl = _sel((xd < _F(0.0)) & (offset == 0), -rl, rl)   # odd functions: f(-|x|) = -f(|x|); cos is even
    cl = _u63_to_f64(_sel(u >= _U(1 << 62), _U(1 << 63) - u, u), 0) * _PI_2_63
    small = ax < _F(1.0)
    return _sel(small, r0, rl), _sel(small, _U(0), kl), _sel(small, c0, cl)


@_inline
def _sin_poly(r):
    z = r * r
    return r + r * z * (_S1 + z * (_S2 + z * (_S3 + z * _S4)))


@_inline
def _sin_cos(x, offset):
    """sin(x + offset * pi/2) for float32 x: one odd polynomial after reduction modulo pi, evaluated in
    float32 (16 lanes, not 8: sin is 20% faster and the error grows from 1 to 2 ULP)."""
    rd, k, _ = _reduce(x, offset)
    r = np.float32(rd)
    z = r * r
    s = r + r * z * (_S1_G + z * (_S2_G + z * (_S3_G + z * _S4_G)))
    return _sel(k != _U(0), -s, s)


# ---- float32 -------------------------------------------------------------------------------------

@_inline
def exp_f32(x):
    # All in float32 (16 lanes per AVX-512 vector, not 8): exp is the hottest of these functions.
    x = np.float32(x)
    t = _sel(x > _G(100.0), _G(100.0), x)  # beyond these float32 exp is inf / 0 anyway; NaN passes
    t = _sel(t < _G(-110.0), _G(-110.0), t)
    z = t * _LOG2E_G + _SHIFT_G
    k = z - _SHIFT_G                       # round(t / ln2), |k| <= 159
    r = (t - k * _LN2_HI_G) - k * _LN2_LO_G
    p = r + r * r * (_P2 + r * (_P3 + r * (_P4 + r * (_P5 + r * _P6))))
    # 2^k = 2^k1 * 2^(k - k1) with k1 = round(k/2): both factors are normal floats, so the last multiply
    # rounds a subnormal result once, correctly, and overflows to inf where exp does
    z1 = k * _G(0.5) + _SHIFT_G
    s1 = _bitcast((_bitcast(z1, _U32) - _SHIFT_G_BITS + _U(127)) << 23, _G)
    s2 = _bitcast((_bitcast(z, _U32) - _bitcast(z1, _U32) + _U(127)) << 23, _G)
    return ((_G(1.0) + p) * s1) * s2


@_inline
def expm1_f32(x):
    x = np.float32(x)
    t = np.float64(x)
    t = _sel(t > _F(100.0), _F(100.0), t)
    t = _sel(t < _F(-40.0), _F(-40.0), t)
    y = np.float32(_expm1_d(t))
    return _sel(x == 0, x, y)              # keeps -0.0


@_inline
def log_f32(x):
    x = np.float32(x)
    y = np.float32(_log_d(np.float64(x)))  # float32 denormals are normal float64 numbers
    y = _sel(x == 0, np.float32(-np.inf), y)
    y = _sel(x < 0, np.float32(np.nan), y)
    return _sel(x < np.float32(np.inf), y, x)   # +inf -> +inf, NaN -> NaN


@_inline
def log1p_f32(x):
    x = np.float32(x)
    y = np.float32(_log1p_d(np.float64(x)))
    y = _sel(x == -1, np.float32(-np.inf), y)
    y = _sel(x < -1, np.float32(np.nan), y)
    y = _sel(x == 0, x, y)                 # keeps -0.0
    return _sel(x < np.float32(np.inf), y, x)


@_inline
def sin_f32(x):
    x = np.float32(x)
    y = _sin_cos(x, 0)
    y = _sel(x == 0, x, y)                 # keeps -0.0
    return _sel(abs(x) < np.float32(np.inf), y, x - x)   # inf -> NaN, NaN -> NaN


@_inline
def cos_f32(x):
    x = np.float32(x)
    y = _sin_cos(x, 1)
    return _sel(abs(x) < np.float32(np.inf), y, x - x)


@_inline
def tan_f32(x):
    x = np.float32(x)
    r, _, c = _reduce(x, 0)                # tan has period pi: tan(x) = sin(r) / cos(r), cos(r) = sin(c)
    y = np.float32(_sin_poly(r) / _sin_poly(c))
    y = _sel(x == 0, x, y)
    return _sel(abs(x) < np.float32(np.inf), y, x - x)


@_inline
def tanh_f32(x):
    x = np.float32(x)
    t = np.float64(x) * _F(2.0)
    t = _sel(t > _F(40.0), _F(40.0), t)    # tanh(20) rounds to 1 in float32
    t = _sel(t < _F(-40.0), _F(-40.0), t)
    e = _expm1_d(t)
    y = np.float32(e / (e + _F(2.0)))
    return _sel(x == 0, x, y)


@_inline
def sigmoid_f32(x):
    t = -np.float64(np.float32(x))
    t = _sel(t > _F(200.0), _F(200.0), t)  # exp(200) is finite in float64: no overflow, 1/(1+e) -> 0
    t = _sel(t < _F(-200.0), _F(-200.0), t)
    return np.float32(_F(1.0) / (_F(1.0) + _exp_d(t)))


@_inline
def softplus_f32(x):
    xd = np.float64(np.float32(x))
    a = abs(xd)
    a = _sel(a > _F(200.0), _F(200.0), a)  # exp(-200) still positive in float64; NaN passes through
    pos = _sel(xd > _F(0.0), xd, _F(0.0))
    y = np.float32(pos + _log1p_d(_exp_d(-a)))
    return _sel(x == x, y, np.float32(x))  # NaN: explicit, not left to propagate through the bit tricks


# ---- float64: libm, except where a stable formula is needed ---------------------------------------
# (np.float64(x) first: Numba's math functions on a float32 argument would compute in float32)

exp_f64 = _inline(lambda x: math.exp(np.float64(x)))
expm1_f64 = _inline(lambda x: math.expm1(np.float64(x)))
log_f64 = _inline(lambda x: math.log(np.float64(x)))
log1p_f64 = _inline(lambda x: math.log1p(np.float64(x)))
sin_f64 = _inline(lambda x: math.sin(np.float64(x)))
cos_f64 = _inline(lambda x: math.cos(np.float64(x)))
tan_f64 = _inline(lambda x: math.tan(np.float64(x)))
tanh_f64 = _inline(lambda x: math.tanh(np.float64(x)))


@_inline
def sigmoid_f64(x):
    x = np.float64(x)
    e = math.exp(-abs(x))                  # in [0, 1]: never overflows
    r = 1.0 / (1.0 + e)
    return _sel(x >= 0, r, e * r)          # e / (1 + e) for x < 0; NaN falls through to e * r = NaN


@_inline
def softplus_f64(x):
    x = np.float64(x)
    pos = _sel(x > 0, x, 0.0)              # NaN -> 0 here, but log1p(exp(-|NaN|)) is NaN
    return pos + math.log1p(math.exp(-abs(x)))
