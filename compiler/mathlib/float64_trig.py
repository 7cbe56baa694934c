"""mathlib's float64 sin and cos (a 4-part Cody-Waite reduction inline for |x| < 2^20, libm beyond, only for the
vectors of a loop that hold such an argument); the accuracy contract of each is in the package
docstring."""
import math

from llvmlite import ir

from .float64 import _exp_parts, _horner
from .llvm_values import _F, _SHIFT, _V, _float64_function, where
from .trig import _define_big

# pi/2 = _PIO2_1 + _PIO2_2 + _PIO2_3 + _PIO2_4 to 2^-160: the first three have 33 significant bits, so their
# products with an n of |n| < 2^20 are exact (computed from Machin's formula, as trig's _four_over_pi_words)
_PIO2_1 = _F(1.5707963267341256)
_PIO2_2 = _F(6.077100506303966e-11)
_PIO2_3 = _F(2.0222662487111665e-21)
_PIO2_4 = _F(8.4784276603689e-32)
_TWO_OVER_PI = _F(0.6366197723675814)
_FAST_MAX_64 = 1048576.0                   # 2^20
# Taylor series on |r| <= pi/4 (+ 2^-30): sin r = r + r z S(z), cos r = 1 - z/2 + z^2 C(z), z = r^2, through
# r^17 and r^18 (the next terms are under 2^-63 of the result)
_SIN_TAYLOR = tuple(_F((-1) ** (i + 1) / math.factorial(2 * i + 3)) for i in range(8))
_COS_TAYLOR = tuple(_F((-1) ** i / math.factorial(2 * i + 4)) for i in range(8))


def _two_diff(a, b):
    """(a - b rounded, its rounding error exactly): Knuth's TwoSum, valid for any order of magnitudes."""
    s = a - b
    bb = s - a
    return s, (a - (s - bb)) - (b + bb)


def _sin_cos_fast(x, offset):
    """sin(x) (offset 0) or cos(x) (offset 1) for |x| < 2^20; garbage, never a trap, beyond; NaN -> NaN.

    x = n pi/2 + r with n = round(2x/pi), r as a double-double rh + rl: x - n _PIO2_1 is exact (Sterbenz), the
    next two products are exact and subtracted with their rounding errors kept, and n _PIO2_4 is below
    2^-57, so r is right to about 2^-106 |r| + 2^-140, enough even where x is closest to a multiple of
    pi/2 (r ~ 2^-60 and more)."""
    t = x * _TWO_OVER_PI + _SHIFT
    n = t - _SHIFT
    s1, e1 = _two_diff(x - n * _PIO2_1, n * _PIO2_2)
    s2, e2 = _two_diff(s1, n * _PIO2_3)
    lo = (e1 + e2) - n * _PIO2_4
    rh = s2 + lo
    rl = lo - (rh - s2)
    z = rh * rh
    sin_r = rh + (rh * z * _horner(z, _SIN_TAYLOR) + rl * (1.0 - 0.5 * z))
    hz = 0.5 * z
    w = 1.0 - hz
    cos_r = w + (((1.0 - w) - hz) + (z * z * _horner(z, _COS_TAYLOR) - rh * rl))
    quadrant = t.bits() + offset           # its low two bits: n + offset mod 4
    y = where((quadrant & 1) == 1, cos_r, sin_r)
    return (y.bits() ^ ((quadrant & 2) << 62)).as_float()   # negated in quadrants 2 and 3


def _libm(b, x, name):
    fn = b.module.declare_intrinsic(f"llvm.{name[:3]}", [x.type])
    return b.call(fn, [x])


def _big(context, x, name, y):
    """``y`` where |x| < 2^20, else libm's ``name``(x) (infinities: NaN), run only for vectors holding such x."""
    big = _define_big(context, x.b.module, name, ir.DoubleType(), _FAST_MAX_64, _libm)
    return _V(x.b, x.b.call(big, [x.v, y.v]))


@_float64_function
def sin_f64(x, context):
    y = _big(context, x, "sin_f64", _sin_cos_fast(x, 0))
    return where(x == 0.0, x, y)           # keeps -0.0


@_float64_function
def cos_f64(x, context):
    return _big(context, x, "cos_f64", _sin_cos_fast(x, 1))
