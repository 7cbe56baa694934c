"""Double-double arithmetic for float64 pow: a value carried as hi + lo (|lo| <= ulp(hi)/2), ``log_dd`` (log of a
positive float64 to ~2^-66 relative) and ``exp_dd`` (exp of a double-double, rounded once), straight-line IR.

pow_f64's general exponents compute |x|^y = exp(y log|x|): the result's relative error is the absolute error of
t = y log|x|, and |t| reaches 745 before the result overflows or vanishes, so log|x| must be right to ~2^-64
relative for t to be right to ~2^-54. The error bound of pow_f64 is in compiler/mathlib/power.py.
"""
from llvmlite import ir

from .float32 import _LOG2E, _LOG_OFFSET, _MANT_MASK, _SQRT_HALF_BITS
from .float64 import _EXPM1_TAYLOR, _LN2_HI, _LN2_LO, _MIN_NORMAL, _SHIFT_BITS, _TWO_54, _horner
from .llvm_values import _F, _SHIFT, _V, where

# 2/3 as a double-double, and the atanh series' later coefficients: log(m) = 2S + S^3 (2/3 + z Q(z)), z = S^2,
# Q(z) = 2/5 + 2/7 z + ... through 2/29 z^12 (the next term is under 2^-70 of log m for |S| <= 0.1716)
_TWO_THIRDS_HI = _F(2.0 / 3.0)
_TWO_THIRDS_LO = _F(3.700743415417188e-17)     # 2/3 - _TWO_THIRDS_HI
_ATANH_TAIL = tuple(_F(2.0 / (2 * i + 5)) for i in range(13))


def call(name, *xs):
    """The LLVM intrinsic ``name`` (llvm.fma, llvm.floor, ...) of _V operands of one float type."""
    b, t = xs[0].b, xs[0].v.type
    fn = b.module.declare_intrinsic(name, [t], ir.FunctionType(t, [t] * len(xs)))
    return _V(b, b.call(fn, [x.v for x in xs]))


def fma(a, b, c):
    return call("llvm.fma", a, b, c)


def two_sum(a, b):
    """(a + b rounded, its rounding error exactly), for any order of magnitudes (Knuth)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def fast_two_sum(a, b):
    """two_sum for |a| >= |b| (or a = 0)."""
    s = a + b
    return s, b - (s - a)


def dd_mul(a, b):
    (ah, al), (bh, bl) = a, b
    p = ah * bh
    e = fma(ah, bh, -p) + (ah * bl + al * bh)
    return fast_two_sum(p, e)


def log_dd(a):
    """log(a) as (hi, lo) for a positive finite float64 a (subnormals included; anything else gives garbage:
    callers select around it), to about 2^-66 relative.

    a = 2^k m with m in [sqrt(1/2), sqrt(2)) from the bits, log(m) = 2 atanh(S), S = f / (2 + f) with f = m - 1
    exact: S as a double-double from the FMA remainder of the division; S^3 and the leading 2/3 double-double,
    the rest of the series (under 2^-13 of log m) in float64. k ln2 with ln2's 32-bit head exact."""
    tiny = a < _MIN_NORMAL
    u = where(tiny, a * _TWO_54, a)
    ix = u.bits() + _LOG_OFFSET
    k = (ix >> 52).low32().f64() - 1023.0        # via int32: AVX2 has no int64 -> float64 convert
    k = where(tiny, k - 54.0, k)
    m = ((ix & _MANT_MASK) + _SQRT_HALF_BITS).as_float()
    f = m - 1.0
    d, d_lo = fast_two_sum(_const(f, 2.0), f)   # 2 + f exactly, as d + d_lo
    reciprocal = 1.0 / d                         # one division: s_lo corrects s's extra rounding
    s = f * reciprocal
    s_lo = (fma(-s, d, f) - s * d_lo) * reciprocal   # f / (d + d_lo) - s, to ~2^-100 relative
    S = (s, s_lo)
    z = s * s
    q = z * _horner(z, _ATANH_TAIL)              # <= 0.012
    p = fast_two_sum(_const(q, _TWO_THIRDS_HI), q)
    p = (p[0], p[1] + _TWO_THIRDS_LO)
    t_hi, t_lo = dd_mul(dd_mul(dd_mul(S, S), S), p)   # S^3 (2/3 + q), <= 0.0034
    hi, lo = fast_two_sum(s * 2.0, t_hi)
    lo = lo + (s_lo * 2.0 + t_lo)
    k_hi, k_err = two_sum(k * _LN2_HI, hi)       # k * _LN2_HI is exact for |k| < 2^21
    return fast_two_sum(k_hi, k_err + (lo + k * _LN2_LO))


def exp_dd(t_hi, t_lo):
    """exp(t_hi + t_lo), rounded once where the result is normal (twice into the subnormals), inf beyond the
    float64 range and 0 below it; |t_lo| <= ulp(t_hi) or so; NaN t_hi gives NaN.

    t = k ln2 + r with k = round(t_hi / ln2): t_hi - k _LN2_HI is exact, r is kept as a double-double, and
    exp(r) = 1 + r + r^2 P(r) (Taylor, 2^-57) is summed onto 1 with its rounding error carried, so that 1 + q
    rounds once; 2^k is applied as two normal factors."""
    in_range = (t_hi > -746.0) & (t_hi < 710.0)
    th = where(t_hi < -746.0, -746.0, where(t_hi > 710.0, 710.0, t_hi))   # NaN passes
    tl = where(in_range, t_lo, 0.0)              # (beyond the range t_lo may be inf or NaN: y log|x| overflowed)
    z = th * _LOG2E + _SHIFT
    k = z - _SHIFT
    r_hi, r_lo = two_sum(th - k * _LN2_HI, tl - k * _LN2_LO)
    tail = r_lo * (1.0 + r_hi) + r_hi * r_hi * _horner(r_hi, _EXPM1_TAYLOR)   # + r_lo e^r_hi to first order
    one_hi, one_lo = fast_two_sum(_const(r_hi, 1.0), r_hi)
    v = one_hi + (one_lo + tail)                 # 1 + q, one rounding
    z1 = k * 0.5 + _SHIFT                        # k = k1 + k2, both in [-538, 512]: 2^k1, 2^k2 normal
    s1 = ((z1.bits() - _SHIFT_BITS + 1023) << 52).as_float()
    s2 = ((z.bits() - z1.bits() + 1023) << 52).as_float()
    return (v * s1) * s2


def _const(like, value):
    return _V(like.b, ir.Constant(like.v.type, float(value)))
