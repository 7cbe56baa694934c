"""mathlib's erf: ``erf_f32`` and ``erf_f64``, straight-line IR that vectorises (both computed in float64). The
accuracy contract is in the package docstring.

|x| < 1: erf(x) = x + x A(x^2), A ~ erf(x)/x - 1 (the error of x A reaches the result scaled by |A| <= 0.16).
1 <= |x| < 6: erf(|x|) = 1 - exp(-x^2) B(1/|x|), B ~ exp(x^2) erfc(x) on two pieces (x below 2, or not), each a
polynomial of u = 1/|x| - m with m the middle of the piece (the terms shrink, so Horner's sum does not cancel);
the piece's coefficients are selected, not branched to. exp(-x^2) need not be exact: its error reaches the result
scaled by erfc(x) <= 0.16. |x| >= 6 (and infinities): +-1, as erfc(6) < 2^-54.
Coefficients: Chebyshev fits by benchmarks/erf_coefficients.py (mpmath), whose output this is (errors in its
comments); float32's core is a lower-degree fit, evaluated in float64 and rounded once.
"""

from llvmlite import ir

from .float32 import _exp_d
from .float64 import _exp, _horner
from .llvm_values import _F, _V, _float32_function, _float64_function, where


def _coefficients(values):
    return tuple(_F(v) for v in values)


# A: degree 12, error 2^-62.7
_ERF_A_F64 = _coefficients([
    0.1283791670955126, -0.3761263890318375, 0.11283791670954879, -0.026866170645076792, 0.0052239776248180145,
    -0.000854832698083379, 0.0001205533111164271, -1.4925595266831182e-05, 1.6461000484121368e-06,
    -1.6350312701054695e-07, 1.4659775274047436e-08, -1.1372848856791674e-09, 5.957176147748911e-11])
# B on [1, 2): degree 16, error 2^-57.5
_ERFC_MID_NEAR_F64 = _F(0.75)
_ERFC_NEAR_F64 = _coefficients([
    0.3511346940289053, 0.34136885869943456, -0.15457007331395745, 0.04956777243539872, 0.0024438983036383136,
    -0.022199195201193622, 0.024101016571362502, -0.017696333815521985, 0.00890750231341082, -0.0010414528524006104,
    -0.00439890937042647, 0.007073932200409024, -0.007350450932653615, 0.006030982257546242, -0.003668105030686873,
    -4.951154443442712e-05, 0.0025329558047281465])
# B on [2, 6): degree 16, error 2^-58.2
_ERFC_MID_FAR_F64 = _F(0.3333333333333333)
_ERFC_FAR_F64 = _coefficients([
    0.17900115118138993, 0.4893503400645556, -0.18141695624408988, -0.05014611072243504, 0.1614728559983808,
    -0.13484128702261547, -0.004657681403836133, 0.1810764511279231, -0.27847749973790775, 0.1799142204935287,
    0.16383356759309148, -0.6507788841539413, 0.9740012663671609, -0.6704203798382333, -0.775124707942762,
    3.6037359942514544, -4.9651437547027335])

# A: degree 6, error 2^-29.6
_ERF_A_F32 = _coefficients([
    0.12837916584835093, -0.37612626666720334, 0.11283594715160218, -0.026854212010626412, 0.005189087423433974,
    -0.000801686428716587, 7.875875062685488e-05])
# B on [1, 2): degree 8, error 2^-35.1
_ERFC_MID_NEAR_F32 = _F(0.75)
_ERFC_NEAR_F32 = _coefficients([
    0.3511346940289053, 0.3413688586818514, -0.15457007037517506, 0.049567771937102705, 0.0024432755652761015,
    -0.022198507963449646, 0.02413623370383145, -0.017743251253527454, 0.008188370543999271])
# B on [2, 6): degree 8, error 2^-33.9
_ERFC_MID_FAR_F32 = _F(0.3333333333333333)
_ERFC_FAR_F32 = _coefficients([
    0.17900115118138993, 0.48935033717974163, -0.1814169608957421, -0.050144711709594184, 0.16147506968914285,
    -0.13502760123873128, -0.004937859566117712, 0.19057561884230273, -0.26578685721850764])


def _pick(cond, a, b):
    """The float64 constant ``a if cond else b`` (a select)."""
    return where(cond, _V(cond.b, ir.Constant(ir.DoubleType(), float(a))), b)


def _erf_core(x, a_coefs, mid_near, near, mid_far, far, exp):
    a = x.abs()
    small = x + x * _horner(x * x, a_coefs)
    b = where(a > 6.0, 6.0, a)             # NaN passes; the polynomials see no infinity
    beyond = b >= 2.0
    u = 1.0 / b - _pick(beyond, mid_far, mid_near)
    scaled_erfc = _horner(u, tuple(_pick(beyond, f, n) for n, f in zip(near, far)))
    large = 1.0 - exp(-(b * b)) * scaled_erfc
    large = where(a >= 6.0, 1.0, large)
    large = where(x < 0.0, -large, large)
    return where(a < 1.0, small, large)    # NaN: large, which is NaN


@_float64_function
def erf_f64(x, context):
    return _erf_core(x, _ERF_A_F64, _ERFC_MID_NEAR_F64, _ERFC_NEAR_F64, _ERFC_MID_FAR_F64, _ERFC_FAR_F64, _exp)


@_float32_function
def erf_f32(x, context):
    y = _erf_core(x.f64(), _ERF_A_F32, _ERFC_MID_NEAR_F32, _ERFC_NEAR_F32, _ERFC_MID_FAR_F32, _ERFC_FAR_F32, _exp_d)
    return y.f32()
