"""Double-double arithmetic for float64 pow: a value carried as hi + lo (|lo| <= ulp(hi)/2), and ``exp_dd``
(exp of a double-double, rounded once), straight-line IR. (log|x| to ~2^-70 is compiler/mathlib/table_log.py.)

pow_f64's general exponents compute |x|^y = exp(y log|x|): the result's relative error is the absolute error of
t = y log|x|, and |t| reaches 745 before the result overflows or vanishes. The error bound of pow_f64 is in
compiler/mathlib/power.py.
"""
from llvmlite import ir

from .float32 import _LOG2E
from .float64 import _EXPM1_TAYLOR, _LN2_HI, _LN2_LO, _SHIFT_BITS
from .llvm_values import _SHIFT, _V, where


def call(name, *xs):
    """The LLVM intrinsic ``name`` (llvm.fma, llvm.floor, ...) of _V operands of one float type."""
    b, t = xs[0].b, xs[0].v.type
    fn = b.module.declare_intrinsic(name, [t], ir.FunctionType(t, [t] * len(xs)))
    return _V(b, b.call(fn, [x.v for x in xs]))


def fma(a, b, c):
    return call("llvm.fma", a, b, c)


def fast_two_sum(a, b):
    """(a + b rounded, its rounding error exactly) for |a| >= |b|, or a = 0, or more generally a's exponent at
    least b's (Dekker)."""
    s = a + b
    return s, b - (s - a)


def dd_mul(a, b):
    (ah, al), (bh, bl) = a, b
    p = ah * bh
    e = fma(ah, bh, -p) + (ah * bl + al * bh)
    return fast_two_sum(p, e)


def exp_dd(t_hi, t_lo):
    """exp(t_hi + t_lo), rounded once where the result is normal (twice into the subnormals), inf beyond the
    float64 range and 0 below it; |t_lo| < 2^-11 (hi + lo need not be normalised); NaN t_hi gives NaN.

    t = k ln2 + r with k = round(t_hi / ln2): r_hi = t_hi - k _LN2_HI is exact (Sterbenz; the head has 32 bits),
    r_lo = t_lo - k _LN2_LO small. exp(r) = 1 + r_hi + r_lo + r^2 P(r) (Taylor to r^13, truncation 2^-57, by
    Estrin: short dependency chains; only r^2 P(r), under 0.07, sees the rounding of r = r_hi + r_lo) is summed
    onto 1 with 1 + r_hi's rounding error carried, so that it rounds once; 2^k is applied as two normal factors.
    No table: this sits after log's table lookup on pow's dependency chain, and a second lookup there (a
    2^(i/128) table, tried) cost more than the longer polynomial."""
    th = where(t_hi < -746.0, -746.0, where(t_hi > 710.0, 710.0, t_hi))   # NaN passes
    tl = where(th == t_hi, t_lo, 0.0)            # (beyond the range t_lo may be inf or NaN: y log|x| overflowed)
    z = th * _LOG2E + _SHIFT
    k = z - _SHIFT
    r_hi = th - k * _LN2_HI                      # exact
    r_lo = tl - k * _LN2_LO
    r = r_hi + r_lo                              # rounded: only the small r^2 P(r) sees its error
    one_hi, one_lo = fast_two_sum(_const(r, 1.0), r_hi)
    v = one_hi + ((one_lo + r_lo) + (r * r) * _estrin(r, _EXPM1_TAYLOR))   # 1 + expm1(r), one rounding
    z1 = k * 0.5 + _SHIFT                        # k = k1 + k2, both in [-538, 512]: 2^k1, 2^k2 normal
    s1 = ((z1.bits() - _SHIFT_BITS + 1023) << 52).as_float()
    s2 = ((z.bits() - z1.bits() + 1023) << 52).as_float()
    return (v * s1) * s2


def _estrin(x, coefs):
    """sum coefs[j] x^j by Estrin's scheme: pairs c_j + c_j+1 x, then pairs of those with x^2, x^4, ..."""
    terms = [coefs[j] + x * coefs[j + 1] if j + 1 < len(coefs) else _const(x, coefs[j])
             for j in range(0, len(coefs), 2)]
    power = x * x
    while len(terms) > 1:
        terms = [terms[j] + power * terms[j + 1] if j + 1 < len(terms) else terms[j]
                 for j in range(0, len(terms), 2)]
        power = power * power
    return terms[0]


def _const(like, value):
    return _V(like.b, ir.Constant(like.v.type, float(value)))
