"""mathlib's float32 functions (exp, exp2, expm1, log, log1p, sin, cos, tan, tanh, sigmoid, softplus) and the float64
cores they share; the accuracy contract of each is in the package docstring."""
import math

from .llvm_values import _F, _G, _SHIFT, _U, _U32, _clamp, _float32_function, _horner, where
from .trig import _big, _sin_cos_fast, _tan_fast

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
# exp2_f32, all float32: 2^f = 1 + f * Q(f) on |f| <= 1/2, Q of degree 5 fitted in relative error with each
# coefficient rounded to float32 before the next is fitted (benchmarks/exp2_coefficients.py): 2^-28.3
_EXP2_Q = tuple(map(_G, (0.6931471824645996, 0.24022647738456726, 0.05550359562039375, 0.00961849931627512,
                         0.0013390970416367054, 0.00015329307643696666)))


# ---- float64 cores shared by the float32 functions ------------------------------------------------

def _exp_split(t):
    """(scale, q) with exp(t) = scale * (1 + q), scale = 2^k; needs |t| < 700. NaN gives q = NaN."""
    z = t * _LOG2E + _SHIFT
    k = z - _SHIFT
    r = (t - k * _LN2_HI) - k * _LN2_LO
    q = r + r * r * (_E2 + r * (_E3 + r * (_E4 + r * (_E5 + r * (_E6 + r * _E7)))))
    scale = ((z.bits() - _EXP_BIAS) << 52).as_float()
    return scale, q


def _exp_d(t):
    scale, q = _exp_split(t)
    return scale + scale * q


def _expm1_d(t):
    scale, q = _exp_split(t)
    return scale * q + (scale - 1.0)       # exact q when k == 0, so tiny t keep full relative accuracy


def _log_d(u):
    """log(u) for a positive normal float64 u (anything else gives garbage: callers select around it)."""
    ix = u.bits() + _LOG_OFFSET
    k = (ix >> 52).low32().f64() - 1023.0                 # via int32: AVX2 has no int64 -> float64 convert
    m = ((ix & _MANT_MASK) + _SQRT_HALF_BITS).as_float()  # u / 2^k, in [sqrt(1/2), sqrt(2))
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    return k * _LN2 + (s + s + s * z * (_L1 + z * (_L2 + z * _L3)))


def _log1p_d(v):
    """log(1 + v) for float64 v > -1: log(u) of u = 1 + v rounded, plus the rounding error c = v - (u - 1)
    as the first-order correction c/u. It matters only for u < 2, where c/u ~ c; for u >= 2 it is below
    2^-53 relative, but c itself can be large (c = 1 for v = 2^53), so it is dropped there."""
    u = 1.0 + v
    return _log_d(u) + where(u >= 2.0, 0.0, v - (u - 1.0))   # NaN v: the NaN of c



# ---- float32 -------------------------------------------------------------------------------------
# (x is the float32 argument; context, Numba's target context, is for _define_big)

@_float32_function
def exp_f32(x, context):
    # All in float32 (16 lanes per AVX-512 vector, not 8): exp is the hottest of these functions.
    t = where(x > 100.0, 100.0, x)         # beyond these float32 exp is inf / 0 anyway; NaN passes
    t = where(t < -110.0, -110.0, t)
    z = t * _LOG2E_G + _SHIFT_G
    k = z - _SHIFT_G                       # round(t / ln2), |k| <= 159
    r = (t - k * _LN2_HI_G) - k * _LN2_LO_G
    p = r + r * r * (_P2 + r * (_P3 + r * (_P4 + r * (_P5 + r * _P6))))
    s1, s2 = _two_factors_g(z, k)
    return ((1.0 + p) * s1) * s2


def _two_factors_g(z, k):
    """(2^k1, 2^k2), k1 + k2 = k = z - _SHIFT_G, |k| <= 160: k1 = round(k/2), so both factors are normal floats
    and the last multiply rounds a subnormal result once, correctly, and overflows to inf where it should."""
    z1 = k * 0.5 + _SHIFT_G
    s1 = ((z1.bits() - _SHIFT_G_BITS + 127) << 23).as_float()
    s2 = ((z.bits() - z1.bits() + 127) << 23).as_float()
    return s1, s2


@_float32_function
def exp2_f32(x, context):
    # All in float32, as exp_f32: x = k + f with k = round(x) and f exact, so integers give exactly 2^k
    t = _clamp(x, -151.0, 129.0)           # 2^-151 rounds to 0, 2^129 overflows
    z = t + _SHIFT_G
    k = z - _SHIFT_G
    f = t - k
    s1, s2 = _two_factors_g(z, k)
    return ((1.0 + f * _horner(f, _EXP2_Q)) * s1) * s2


@_float32_function
def expm1_f32(x, context):
    t = x.f64()
    t = where(t > 100.0, 100.0, t)
    t = where(t < -40.0, -40.0, t)
    y = _expm1_d(t).f32()
    return where(x == 0.0, x, y)           # keeps -0.0


@_float32_function
def log_f32(x, context):
    y = _log_d(x.f64()).f32()              # float32 denormals are normal float64 numbers
    y = where(x == 0.0, -math.inf, y)
    y = where(x < 0.0, math.nan, y)
    return where(x < math.inf, y, x)       # +inf -> +inf, NaN -> NaN


@_float32_function
def log1p_f32(x, context):
    y = _log1p_d(x.f64()).f32()
    y = where(x == -1.0, -math.inf, y)
    y = where(x < -1.0, math.nan, y)
    y = where(x == 0.0, x, y)              # keeps -0.0
    return where(x < math.inf, y, x)


@_float32_function
def sin_f32(x, context):
    y = _big(context, x, "sin", _sin_cos_fast(x, 0))   # NaN -> NaN by the fast path, inf -> NaN by the big
    return where(x == 0.0, x, y)           # keeps -0.0


@_float32_function
def cos_f32(x, context):
    return _big(context, x, "cos", _sin_cos_fast(x, 1))


@_float32_function
def tan_f32(x, context):
    y = _big(context, x, "tan", _tan_fast(x))
    return where(x == 0.0, x, y)


@_float32_function
def tanh_f32(x, context):
    t = x.f64() * 2.0
    t = where(t > 40.0, 40.0, t)           # tanh(20) rounds to 1 in float32
    t = where(t < -40.0, -40.0, t)
    e = _expm1_d(t)
    y = (e / (e + 2.0)).f32()
    return where(x == 0.0, x, y)


@_float32_function
def sigmoid_f32(x, context):
    t = -x.f64()
    t = where(t > 200.0, 200.0, t)         # exp(200) is finite in float64: no overflow, 1/(1+e) -> 0
    t = where(t < -200.0, -200.0, t)
    return (1.0 / (1.0 + _exp_d(t))).f32()


@_float32_function
def softplus_f32(x, context):
    xd = x.f64()
    a = xd.abs()
    a = where(a > 200.0, 200.0, a)         # exp(-200) still positive in float64; NaN passes through
    pos = where(xd > 0.0, xd, 0.0)
    y = (pos + _log1p_d(_exp_d(-a))).f32()
    return where(x == x, y, x)             # NaN: explicit, not left to propagate through the bit tricks


