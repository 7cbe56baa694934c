"""The rest of NumPy's elementwise ufuncs on real numbers: inverse and hyperbolic trigonometry, exp2/log2/log10,
cbrt, rint/trunc/fix, fabs, signbit, copysign, hypot, arctan2, fmax/fmin, fmod, logaddexp, nextafter, shifts,
gcd/lcm, and the NumPy functions built on them (round with decimals, divmod, modf).

Each op's rule is its NumPy ufunc's own type resolution (``elementwise.ufunc_dtype``), so dtypes follow
NumPy exactly (ints give float64 for float functions; a float16 result, e.g. ``arcsin(bool)``, is refused).
Compiled loops call the math library's function of the same name (tracer.lowering.MATH; on the CPU, Numba's
implementation of the NumPy function: libm underneath, <= 1-2 ULP for float32 and float64; not vectorised:
these are not the hot path); the few ops without a faithful compiled form (integer shifts past the bit width,
gcd, spacing, ...) run eagerly between compiled stages.
"""
import numpy as np

from ..errors import UnimplementedError
from .. import lowering as L
from ..lowering import Scalar
from ..registry import NOT_DIFFERENTIABLE, OPS, numpy_adapter
from ..tensor import convert_to_tensor, promote_operands
from .elementwise import (_binary, _unary, _zero_where_not, divide, extreme, floordiv, mod, multiply, power_grad,
                          sqrt, where)
from .elementwise import round as _rint_keep_dtype
from .shape_ops import cast as cast_to


def _math_call(fn):
    """Math library function ``fn`` on operands converted to the (float) result dtype; no compiled form for
    other results."""
    def rule(args, ins, out):
        return L.call(fn, *(L.cast(a, out) for a in args)) if out.is_floating else None
    return Scalar(rule)


def _int_identity_or(fn):
    """rint/trunc/fix: ints (and bool) keep their value; floats go to ``fn``."""
    return Scalar(lambda args, ins, out: L.call(fn, L.cast(args[0], out)) if out.is_floating
                  else L.cast(args[0], out))


def _fmax_rule(pick):
    def rule(args, ins, out):
        a, b = (L.cast(x, out) for x in args)
        return extreme(a, b, pick=pick, nan_of=b)  # fmax/fmin ignore a NaN unless both are NaN
    return Scalar(rule)


def _heaviside_rule(args, ins, out):
    """NumPy's heaviside: 0 below zero, 1 above, ``h0`` at +-0, NaN for NaN (selects only: exact)."""
    if not out.is_floating:
        return None
    x, h0 = (L.cast(a, out) for a in args)
    zero, one = L.const(0, out), L.const(1, out)
    return L.select(L.ne(x, x), x, L.select(L.lt(x, zero), zero, L.select(L.gt(x, zero), one, h0)))


def _fmod_rule(args, ins, out):
    a, b = (L.cast(x, out) for x in args)
    if out.is_floating:
        return L.call("fmod", a, b)
    if out.is_bool:
        return None
    # C's truncated remainder from the floored one (Numba's integer np.fmod is wrong for mixed signs); NumPy
    # gives 0 for x % 0 and for x % -1.
    zero = L.const(0, out)
    r = L.mod(a, b)
    floored_differs = L.bit_and(L.ne(r, zero), L.ne(L.lt(r, zero), L.lt(a, zero)))
    return L.select(L.bit_or(L.eq(b, zero), L.eq(b, L.const(-1, out))), zero,
                    L.select(floored_differs, L.sub(r, b), r))


def _signbit_rule(args, ins, out):
    x = args[0]
    return L.call("signbit", x) if ins[0].is_floating else L.lt(x, L.const(0, x.dtype))


def _identity_rule(args, ins, out):
    return L.cast(args[0], out)


_QUIET = dict(quiet=True)
arcsin = _unary("arcsin", np.arcsin, ("math.asin", "asin", "arcsin"), (np.arcsin,), **_QUIET)
arccos = _unary("arccos", np.arccos, ("math.acos", "acos", "arccos"), (np.arccos,), **_QUIET)
arctan = _unary("arctan", np.arctan, ("math.atan", "atan", "arctan"), (np.arctan,), **_QUIET)
sinh = _unary("sinh", np.sinh, ("math.sinh", "sinh"), (np.sinh,), **_QUIET)
cosh = _unary("cosh", np.cosh, ("math.cosh", "cosh"), (np.cosh,), **_QUIET)
arcsinh = _unary("arcsinh", np.arcsinh, ("math.asinh", "asinh", "arcsinh"), (np.arcsinh,), **_QUIET)
arccosh = _unary("arccosh", np.arccosh, ("math.acosh", "acosh", "arccosh"), (np.arccosh,), **_QUIET)
arctanh = _unary("arctanh", np.arctanh, ("math.atanh", "atanh", "arctanh"), (np.arctanh,), **_QUIET)
exp2 = _unary("exp2", np.exp2, ("math.exp2", "exp2"), (np.exp2,), **_QUIET)
log2 = _unary("log2", np.log2, ("math.log2", "log2"), (np.log2,), **_QUIET)
log10 = _unary("log10", np.log10, ("math.log10", "log10"), (np.log10,), **_QUIET)
cbrt = _unary("cbrt", np.cbrt, ("math.cbrt", "cbrt"), (np.cbrt,), **_QUIET)
deg2rad = _unary("deg2rad", np.deg2rad, ("math.deg2rad", "deg2rad", "radians"), (np.deg2rad, np.radians), **_QUIET)
rad2deg = _unary("rad2deg", np.rad2deg, ("math.rad2deg", "rad2deg", "degrees"), (np.rad2deg, np.degrees), **_QUIET)
# np.rint gives float64 for ints (it has only float loops), unlike np.round/gj.round, which keep ints.
rint = _unary("rint", np.rint, ("math.rint", "rint"), (np.rint,), **_QUIET)
trunc = _unary("trunc", np.trunc, ("math.trunc", "trunc", "fix"), (np.trunc,), **_QUIET)
fabs = _unary("fabs", np.fabs, ("math.fabs", "fabs"), (np.fabs,), **_QUIET)
signbit = _unary("signbit", np.signbit, ("math.signbit", "signbit"), (np.signbit,), **_QUIET)
positive = _unary("positive", np.positive, ("math.positive", "positive"), (np.positive,),
                  operators=("__pos__",))
spacing = _unary("spacing", np.spacing, ("math.spacing", "spacing"), (np.spacing,), **_QUIET)
conjugate = _unary("conjugate", np.conjugate, ("math.conj", "conj", "conjugate"), (np.conjugate, np.conj))

arctan2 = _binary("arctan2", np.arctan2, ("math.atan2", "atan2", "arctan2"), quiet=True)
hypot = _binary("hypot", np.hypot, ("math.hypot", "hypot"), quiet=True)
copysign = _binary("copysign", np.copysign, ("math.copysign", "copysign"), quiet=True)
fmax = _binary("fmax", np.fmax, ("math.fmax", "fmax"), quiet=True)
fmin = _binary("fmin", np.fmin, ("math.fmin", "fmin"), quiet=True)
fmod = _binary("fmod", np.fmod, ("math.fmod", "fmod", "math.truncatemod", "truncatemod"), quiet=True)
logaddexp = _binary("logaddexp", np.logaddexp, ("math.logaddexp", "logaddexp"), quiet=True)
logaddexp2 = _binary("logaddexp2", np.logaddexp2, ("math.logaddexp2", "logaddexp2"), quiet=True)
nextafter = _binary("nextafter", np.nextafter, ("math.nextafter", "nextafter"), quiet=True)
heaviside = _binary("heaviside", np.heaviside, ("math.heaviside", "heaviside"), quiet=True)
float_power = _binary("float_power", np.float_power, ("math.float_power", "float_power"), quiet=True)
ldexp = _binary("ldexp", np.ldexp, ("math.ldexp", "ldexp"), quiet=True)
gcd = _binary("gcd", np.gcd, ("math.gcd", "gcd"))
lcm = _binary("lcm", np.lcm, ("math.lcm", "lcm"))
left_shift = _binary("left_shift", np.left_shift, ("bitwise.left_shift",), operator="__lshift__",
                     reflected="__rlshift__", quiet=True)
right_shift = _binary("right_shift", np.right_shift, ("bitwise.right_shift",), operator="__rshift__",
                      reflected="__rrshift__", quiet=True)
numpy_adapter(np.bitwise_left_shift)(left_shift)
numpy_adapter(np.bitwise_right_shift)(right_shift)
for _public in (arcsin, arccos, arctan, sinh, cosh, arcsinh, arccosh, arctanh, exp2, log2, log10, cbrt, deg2rad,
                rad2deg, rint, trunc, fabs, signbit, positive, spacing, conjugate, arctan2, hypot, copysign, fmax,
                fmin, fmod, logaddexp, logaddexp2, nextafter, heaviside, float_power, ldexp, gcd, lcm, left_shift,
                right_shift):
    _public.__module__ = __name__  # built by elementwise's helpers, defined here


# ---- NumPy functions composed from ops -----------------------------------------------------------------

@numpy_adapter(np.fix)
def _np_fix(x, out=None):
    if out is not None:
        raise UnimplementedError("numpy.fix on graphjit tensors does not support out=")
    return trunc(x)  # rounding toward zero, which is trunc; NumPy keeps ints as ints for both


def round_decimals(x, decimals=0, name=None):
    """NumPy's ``round(x, decimals)``: ``rint(x * 10**d) / 10**d`` (``rint(x / 10**-d) * 10**-d`` for negative
    ``d``) in x's dtype, as NumPy computes it, half to even. Ints keep their dtype; negative ``decimals``
    round them through float64 as NumPy does."""
    x = convert_to_tensor(x, what="round(x)")
    decimals = int(decimals)
    if x.dtype.is_bool:
        return x if decimals >= 0 else cast_to(_rint_keep_dtype(cast_to(x, "float64")), "bool")
    if decimals == 0:
        return _rint_keep_dtype(x)
    if not x.dtype.is_floating:
        if decimals > 0:
            return x
        f = float(10 ** -decimals)
        return cast_to(multiply(_rint_keep_dtype(divide(cast_to(x, "float64"), f)), f), x.dtype)
    if decimals > 0:
        f = float(10 ** decimals)
        return divide(_rint_keep_dtype(multiply(x, f)), f)
    f = float(10 ** -decimals)
    return multiply(_rint_keep_dtype(divide(x, f)), f)


@numpy_adapter(np.round, np.around)
def _np_round(a, decimals=0, out=None):
    if out is not None:
        raise UnimplementedError("numpy.round on graphjit tensors does not support out=")
    return round_decimals(a, decimals)


@numpy_adapter(np.divmod)
def _np_divmod(x1, x2, out=None):
    if out is not None:
        raise UnimplementedError("numpy.divmod on graphjit tensors does not support out=")
    return floordiv(x1, x2), mod(x1, x2)


@numpy_adapter(np.modf)
def _np_modf(x, out=None):
    """(fractional, integral) parts, both with x's sign; the fraction of +-inf is +-0, as in NumPy."""
    if out is not None:
        raise UnimplementedError("numpy.modf on graphjit tensors does not support out=")
    (x,) = promote_operands(x)
    if not x.dtype.is_floating:
        x = cast_to(x, "float64")
    finite = where(OPS["isinf"].bind(x), 0.0, x)  # inf - inf would be NaN (and warn)
    return copysign(finite - trunc(finite), x), trunc(x)


_LOWERINGS = {
    **{fn: _math_call(fn) for fn in ("arcsin", "arccos", "arctan", "sinh", "cosh", "arcsinh", "arccosh", "arctanh",
                                     "exp2", "log2", "log10", "cbrt", "deg2rad", "rad2deg", "fabs", "arctan2",
                                     "hypot", "copysign", "logaddexp", "nextafter")},
    "rint": _int_identity_or("rint"), "trunc": _int_identity_or("trunc"),
    "signbit": Scalar(_signbit_rule), "positive": Scalar(_identity_rule), "conjugate": Scalar(_identity_rule),
    "fmax": _fmax_rule(L.ge), "fmin": _fmax_rule(L.le), "fmod": Scalar(_fmod_rule),
    "heaviside": Scalar(_heaviside_rule),
}
for _name, _lowering in _LOWERINGS.items():
    OPS[_name].lower = _lowering


# ---- gradients (tracer.autodiff; the rule format and the tie conventions are in tracer/ops/elementwise.py) ----
_LN2, _LN10 = 0.6931471805599453, 2.302585092994046
_RAD_PER_DEG = np.pi / 180.0   # deg2rad's factor (NumPy multiplies by it)


def _fmax_grad(prefer_first):
    """fmax/fmin: the operand whose value the result is gets the gradient, as the compiled rule picks it
    (``_fmax_rule``): the first where ``prefer_first(a, b)`` (ties too, as maximum/minimum) or b is NaN, else
    the second; so a NaN operand passes the gradient to the other one."""
    def rule(g, y, a, b):
        first = OPS["logical_or"].bind(prefer_first(a, b), OPS["isnan"].bind(b))
        return _zero_where_not(first, g), _zero_where_not(OPS["logical_not"].bind(first), g)
    return rule


def _unit_sign(b):
    """+1 or -1 by b's sign bit (-0.0 gives -1), as copysign reads it."""
    return where(signbit(b), -1.0, 1.0)


def _arctan2_grad(g, y, a, b):
    """TF's atan2: d/da atan2(a, b) = b / (a*a + b*b), d/db = -a / (a*a + b*b), in the result's dtype: an integer
    operand squared in its own dtype wraps (46341 ** 2 in int32)."""
    a, b = (x if x.dtype is y.dtype else cast_to(x, y.dtype) for x in (a, b))
    norm = a * a + b * b
    return g * b / norm, -g * a / norm


def _logaddexp_grad(exp_of):
    # y = log(e^a + e^b): d/da = e^(a - y), the share of a, computed without overflow (base 2 for logaddexp2)
    return lambda g, y, a, b: (g * exp_of(a - y), g * exp_of(b - y))


_RULES = {
    "positive": lambda g, y, x: (g,),
    "conjugate": lambda g, y, x: (g,),   # real dtypes only: the identity
    "exp2": lambda g, y, x: (g * y * _LN2,),
    "log2": lambda g, y, x: (g / (x * _LN2),),
    "log10": lambda g, y, x: (g / (x * _LN10),),
    "sinh": lambda g, y, x: (g * OPS["cosh"].bind(x),),
    "cosh": lambda g, y, x: (g * OPS["sinh"].bind(x),),
    "arcsin": lambda g, y, x: (g / sqrt(1.0 - x * x),),
    "arccos": lambda g, y, x: (-g / sqrt(1.0 - x * x),),
    "arctan": lambda g, y, x: (g / (1.0 + x * x),),
    # TF's forms: cosh(asinh(x)) = sqrt(1 + x*x) without squaring x (no overflow for |x| > 1e154)
    "arcsinh": lambda g, y, x: (g / OPS["cosh"].bind(y),),
    "arccosh": lambda g, y, x: (g / OPS["sinh"].bind(y),),
    "arctanh": lambda g, y, x: (g / (1.0 - x * x),),
    "cbrt": lambda g, y, x: (g / (3.0 * y * y),),
    "deg2rad": lambda g, y, x: (g * _RAD_PER_DEG,),
    "rad2deg": lambda g, y, x: (g / _RAD_PER_DEG,),
    "fabs": lambda g, y, x: (g * OPS["sign"].bind(x),),   # as abs: 0 at 0
    "arctan2": _arctan2_grad,
    "hypot": lambda g, y, a, b: (g * a / y, g * b / y),
    # |a| with b's sign: d/da = sign(a) * (+-1 by b's sign bit); b moves the result only by jumps: no gradient.
    # A bool or integer a carries none either (and sign refuses bools: copysign(bool, float) is a float)
    "copysign": lambda g, y, a, b: (g * OPS["sign"].bind(a) * _unit_sign(b) if a.dtype.is_floating else None,
                                    None),
    "fmax": _fmax_grad(lambda a, b: a >= b),
    "fmin": _fmax_grad(lambda a, b: a <= b),
    "fmod": lambda g, y, a, b: (g, -g * trunc(divide(a, b))),   # a - trunc(a / b) * b (TF's truncatemod)
    "logaddexp": _logaddexp_grad(lambda t: OPS["exp"].bind(t)),
    "logaddexp2": _logaddexp_grad(lambda t: OPS["exp2"].bind(t)),
    "float_power": power_grad(float_power),
    # a * 2**e: the gradient is the upstream scaled the same way, exactly; the integer exponent gets none
    "ldexp": lambda g, y, a, e: (ldexp(g, e), None),
}
for _name, _rule in _RULES.items():
    OPS[_name].grad = _rule
# Piecewise constant (rint, trunc, signbit, heaviside), precision queries (spacing, nextafter) and integer-only
# ops (gcd, lcm, shifts): no gradient, as TF's rint and floor give None.
for _name in ("rint", "trunc", "signbit", "spacing", "nextafter", "heaviside", "gcd", "lcm", "left_shift",
              "right_shift"):
    OPS[_name].grad = NOT_DIFFERENTIABLE
