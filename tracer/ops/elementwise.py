"""Elementwise ops: unary math, binary arithmetic and comparisons, logical and bitwise ops, where, clip.

Shapes broadcast as in NumPy; dtypes follow the NumPy ufunc each op is defined by (``ufunc.resolve_dtypes``),
with results outside graphjit's five dtypes (float16 from ``exp(bool)``, int8 from ``bool // bool``)
rejected with a clear error. Python scalar operands are weak (see ``tensor.promote_operands``).
"""
import math

import numpy as np

from .. import context
from ..dtypes import ALL as ALL_DTYPES, from_numpy
from ..errors import InvalidArgumentError, UnimplementedError
from ..ir import TensorType
from .. import lowering as L
from ..lowering import Scalar
from ..registry import (NOT_DIFFERENTIABLE, OPS, Op, binary_operator, export, numpy_adapter, register,
                        unsupported_operand)
from ..shapes import broadcast_shapes
from ..tensor import EagerTensor, convert_to_tensor, promote_operands

_resolved = {}


def ufunc_dtype(ufunc, dtypes, op_name):
    """The result dtype NumPy's ``ufunc`` gives for these input dtypes, if graphjit supports it."""
    key = (ufunc, *dtypes)
    found = _resolved.get(key)
    if found is None:
        names = ", ".join(d.name for d in dtypes)
        try:
            np_out = ufunc.resolve_dtypes(tuple(d.np for d in dtypes) + (None,))[-1]
        except TypeError:
            raise InvalidArgumentError(f"{op_name} does not accept dtype(s) {names}") from None
        found = from_numpy(np_out)
        if found is None:
            raise InvalidArgumentError(f"{op_name} does not accept dtype(s) {names} (NumPy would return "
                                       f"{np_out}, which graphjit does not support; cast first)")
        _resolved[key] = found
    return found


def elementwise_rule(ufunc, name, reject_bool=False):
    def infer(*types):
        if reject_bool and any(t.dtype.is_bool for t in types):
            raise InvalidArgumentError(f"{name} does not accept bool tensors; cast to a number first")
        shape = types[0].shape if len(types) == 1 else broadcast_shapes(*(t.shape for t in types))
        return TensorType(shape, ufunc_dtype(ufunc, [t.dtype for t in types], name))
    return infer


def _quiet(fn):
    """NumPy's IEEE results (inf, NaN, 0 for integer x // 0) without its RuntimeWarnings."""
    def run(*args):
        with np.errstate(all="ignore"):
            return fn(*args)
    run.__name__ = fn.__name__
    run.quiet_ufunc = fn   # (the interpreter stand-in calls a ufunc itself, with out=: compiler.stand_in)
    return run


def _elementwise(name, eager, rule_ufunc=None, *, quiet=False, reject_bool=False, doc=""):
    # Eager execution may skip the rule only when the rule is the eager ufunc's own type resolution;
    # bool rejection or a rule borrowed from another ufunc must be checked.
    trusted = rule_ufunc is None and not reject_bool
    return register(Op(name, infer=elementwise_rule(rule_ufunc or eager, name, reject_bool),
                       eager=_quiet(eager) if quiet else eager, attrs={}, check_eager=not trusted, doc=doc))


# ---- unary ---------------------------------------------------------------------------------------

def _sigmoid(x):
    x = x if x.dtype.kind == "f" else x.astype(np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def _relu(x):
    return np.maximum(x, x.dtype.type(0))


def _rsqrt(x):
    return np.reciprocal(np.sqrt(x))


def _softplus(x):
    return np.logaddexp(x.dtype.type(0) if x.dtype.kind == "f" else 0.0, x)


# NumPy has no erf: Python's math.erf per element in float64 (float32 rounds that result). Compiled CPU kernels
# use compiler.mathlib's erf_f32 / erf_f64 (vectorised; within 1 ULP of this, see the mathlib docstring).
_erf_of_float = np.frompyfunc(math.erf, 1, 1)


def _erf(x):
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)  # ints give float64, as the rule (np.exp) says
    return np.asarray(_erf_of_float(x.astype(np.float64)), dtype=np.float64).astype(dtype, copy=False)


def _unary(name, eager, api, numpy=(), rule=None, quiet=False, reject_bool=False, operators=()):
    """Registers a unary op and its public function; ``operators`` are Tensor dunders like ``__neg__``."""
    op = _elementwise(name, eager, rule, quiet=quiet, reject_bool=reject_bool)

    def public(x, name=None):
        return op.bind(convert_to_tensor(x, what=f"{op.name}(x)"))
    public.__name__ = api[0].rsplit(".", 1)[-1]
    public.__doc__ = f"Elementwise {op.name}(x), as NumPy computes it."
    export(*api, numpy=numpy, unary_operators=operators)(public)
    return public


negative = _unary("negative", np.negative, ("negative", "math.negative"), np.negative, operators=("__neg__",))
abs = _unary("abs", np.abs, ("abs", "math.abs"), np.abs, operators=("__abs__",))  # noqa: A001
sign = _unary("sign", np.sign, ("sign", "math.sign"), np.sign)
exp = _unary("exp", np.exp, ("exp", "math.exp"), np.exp, quiet=True, reject_bool=True)
expm1 = _unary("expm1", np.expm1, ("math.expm1", "expm1"), np.expm1, quiet=True, reject_bool=True)
log = _unary("log", np.log, ("math.log", "log"), np.log, quiet=True, reject_bool=True)
log1p = _unary("log1p", np.log1p, ("math.log1p", "log1p"), np.log1p, quiet=True, reject_bool=True)
sqrt = _unary("sqrt", np.sqrt, ("sqrt", "math.sqrt"), np.sqrt, quiet=True, reject_bool=True)
rsqrt = _unary("rsqrt", _rsqrt, ("math.rsqrt", "rsqrt"), (), rule=np.sqrt, quiet=True, reject_bool=True)
square = _unary("square", np.square, ("square", "math.square"), np.square, reject_bool=True)
reciprocal = _unary("reciprocal", np.reciprocal, ("math.reciprocal", "reciprocal"), np.reciprocal, quiet=True,
                    reject_bool=True)
sin = _unary("sin", np.sin, ("sin", "math.sin"), np.sin, quiet=True, reject_bool=True)
cos = _unary("cos", np.cos, ("cos", "math.cos"), np.cos, quiet=True, reject_bool=True)
tan = _unary("tan", np.tan, ("tan", "math.tan"), np.tan, quiet=True, reject_bool=True)
tanh = _unary("tanh", np.tanh, ("tanh", "math.tanh"), np.tanh, reject_bool=True)
sigmoid = _unary("sigmoid", _sigmoid, ("sigmoid", "math.sigmoid", "nn.sigmoid"), (), rule=np.exp, quiet=True,
                 reject_bool=True)
relu = _unary("relu", _relu, ("nn.relu",), (), rule=np.negative)
erf = _unary("erf", _erf, ("math.erf",), (), rule=np.exp, reject_bool=True)
softplus = _unary("softplus", _softplus, ("math.softplus", "nn.softplus"), (), rule=np.exp, quiet=True,
                  reject_bool=True)
floor = _unary("floor", np.floor, ("floor", "math.floor"), np.floor, reject_bool=True)
ceil = _unary("ceil", np.ceil, ("math.ceil", "ceil"), np.ceil, reject_bool=True)
round = _unary("round", np.round, ("round", "math.round"), (), rule=np.negative)  # noqa: A001

# np.round / np.around (with decimals) are in ufuncs.py, built on this op.
logical_not = _unary("logical_not", np.logical_not, ("logical_not", "math.logical_not"), np.logical_not)
isnan = _unary("isnan", np.isnan, ("math.is_nan", "math.isnan"), np.isnan)
isinf = _unary("isinf", np.isinf, ("math.is_inf", "math.isinf"), np.isinf)
isfinite = _unary("isfinite", np.isfinite, ("math.is_finite", "math.isfinite"), np.isfinite)
invert = _unary("invert", np.invert, ("bitwise.invert",), np.invert, operators=("__invert__",))


# ---- binary --------------------------------------------------------------------------------------

def _binary(name, ufunc, api, *, numpy=True, quiet=False, operator=None, reflected=None, reject_bool=False):
    op = _elementwise(name, ufunc, quiet=quiet, reject_bool=reject_bool)

    def public(x, y, name=None):
        a, b = promote_operands(x, y, op_name=op.name)
        return op.bind(a, b)
    public.__name__ = api[0].rsplit(".", 1)[-1]
    public.__doc__ = f"Elementwise {op.name}(x, y) with NumPy broadcasting and promotion."
    methods = {}
    if operator:
        methods[operator] = binary_operator(public) if quiet else _eager_fast_operator(ufunc, public, reject_bool)
    if reflected:
        methods[reflected] = (binary_operator(public, reflected=True) if quiet
                              else _eager_fast_operator(ufunc, public, reject_bool, reflected=True))
    export(*api, numpy=ufunc if numpy else (), methods=methods)(public)
    return public


_SUPPORTED_NP = frozenset(d.np for d in ALL_DTYPES)
# Larger Python ints take the general path: NumPy accepts some (comparisons) where graphjit's rule refuses.
_INT32_MIN, _INT32_MAX = -(2 ** 31), 2 ** 31 - 1


def _eager_fast_operator(ufunc, public, reject_bool, reflected=False):
    """``tensor OP tensor`` (or a Python scalar) in eager mode straight to the NumPy ufunc: small eager
    ops are dominated by Python overhead, so this path skips conversion and dispatch. NumPy 2 treats
    Python scalars as weak exactly as graphjit does. Anything unusual (tracing, other operand types, a
    failing or out-of-set NumPy result, 0-d results) takes the general path, which gives the op's rules
    and error messages; the paths agree because the op's rule *is* the ufunc's (``ufunc_dtype``)."""
    results_always_supported = not reject_bool and all(
        _np_result(ufunc, a, b) in _SUPPORTED_NP | {None} for a in _SUPPORTED_NP for b in _SUPPORTED_NP)
    thread = context._state
    comparison = public.__name__ in ("equal", "not_equal")
    ndarray = np.ndarray
    new = object.__new__

    def method(self, other):
        kind = type(other)
        if (thread.top is None and type(self) is EagerTensor
                and (kind is EagerTensor or kind is float or kind is bool or (kind is int and _INT32_MIN <= other <= _INT32_MAX))):
            try:
                b = other._value if kind is EagerTensor else other
                out = ufunc(b, self._value) if reflected else ufunc(self._value, b)
            except Exception:  # noqa: BLE001 - the general path reports it properly
                pass
            else:
                if type(out) is ndarray and (results_always_supported or out.dtype in _SUPPORTED_NP):
                    result = new(EagerTensor)  # skips __init__: this path is all overhead
                    result._value = out
                    return result
        if other is None or kind is str:
            if comparison:  # t == None is False, as in Python
                return NotImplemented
            raise unsupported_operand(public.__name__, other)
        return public(other, self) if reflected else public(self, other)
    method.__name__ = public.__name__
    method.__doc__ = public.__doc__
    return method


def _np_result(ufunc, a, b):
    try:
        return ufunc.resolve_dtypes((a, b, None))[-1]
    except TypeError:
        return None


add = _binary("add", np.add, ("add", "math.add"), operator="__add__", reflected="__radd__")
subtract = _binary("subtract", np.subtract, ("subtract", "math.subtract"), operator="__sub__", reflected="__rsub__")
multiply = _binary("multiply", np.multiply, ("multiply", "math.multiply"), operator="__mul__",
                   reflected="__rmul__")
divide = _binary("divide", np.true_divide, ("divide", "math.divide", "math.truediv", "truediv"), quiet=True,
                 operator="__truediv__", reflected="__rtruediv__")
floordiv = _binary("floordiv", np.floor_divide, ("math.floordiv", "floordiv"), quiet=True,
                   operator="__floordiv__", reflected="__rfloordiv__")
mod = _binary("mod", np.mod, ("math.mod", "math.floormod", "mod"), quiet=True, operator="__mod__",
              reflected="__rmod__")
pow = _binary("pow", np.power, ("pow", "math.pow"), quiet=True, operator="__pow__", reflected="__rpow__")  # noqa: A001
maximum = _binary("maximum", np.maximum, ("maximum", "math.maximum"))
minimum = _binary("minimum", np.minimum, ("minimum", "math.minimum"))
equal = _binary("equal", np.equal, ("equal", "math.equal"), operator="__eq__", reflected=None)
not_equal = _binary("not_equal", np.not_equal, ("not_equal", "math.not_equal"), operator="__ne__")
less = _binary("less", np.less, ("less", "math.less"), operator="__lt__")
less_equal = _binary("less_equal", np.less_equal, ("less_equal", "math.less_equal"), operator="__le__")
greater = _binary("greater", np.greater, ("greater", "math.greater"), operator="__gt__")
greater_equal = _binary("greater_equal", np.greater_equal, ("greater_equal", "math.greater_equal"),
                        operator="__ge__")
logical_and = _binary("logical_and", np.logical_and, ("logical_and", "math.logical_and"))
logical_or = _binary("logical_or", np.logical_or, ("logical_or", "math.logical_or"))
logical_xor = _binary("logical_xor", np.logical_xor, ("logical_xor", "math.logical_xor"))
bitwise_and = _binary("bitwise_and", np.bitwise_and, ("bitwise.bitwise_and",), operator="__and__",
                      reflected="__rand__")
bitwise_or = _binary("bitwise_or", np.bitwise_or, ("bitwise.bitwise_or",), operator="__or__", reflected="__ror__")
bitwise_xor = _binary("bitwise_xor", np.bitwise_xor, ("bitwise.bitwise_xor",), operator="__xor__",
                      reflected="__rxor__")


# ---- ternary -------------------------------------------------------------------------------------

def _where_infer(cond, x, y):
    shape = broadcast_shapes(cond.shape, x.shape, y.shape, what="where(condition, x, y)")
    return TensorType(shape, ufunc_dtype(np.add, [x.dtype, y.dtype], "where") if x.dtype is not y.dtype
                      else x.dtype)


WHERE = register(Op("where", infer=_where_infer, eager=lambda c, x, y: np.where(c, x, y), attrs={}))


@export("where", "math.where", numpy=np.where)
def where(condition, x=None, y=None, name=None):
    """Elementwise ``x`` where ``condition`` is true, else ``y`` (the three broadcast together)."""
    if x is None or y is None:
        raise InvalidArgumentError("gj.where(condition) without x and y (the indices of true elements) has a "
                                   "data-dependent shape and is not supported; pass both x and y")
    cond = convert_to_tensor(condition, what="where(condition)")
    if not cond.dtype.is_bool:
        cond = not_equal(cond, 0)
    a, b = promote_operands(x, y, op_name="where")
    return WHERE.bind(cond, a, b)


def _clip_infer(x, lo, hi):
    shape = broadcast_shapes(x.shape, lo.shape, hi.shape, what="clip(x, min, max)")
    return TensorType(shape, ufunc_dtype(np.maximum, [ufunc_dtype(np.maximum, [x.dtype, lo.dtype], "clip"),
                                                      hi.dtype], "clip"))


def _clip(x, lo, hi):
    return np.minimum(np.maximum(x, lo), hi)


CLIP = register(Op("clip", infer=_clip_infer, eager=_clip, attrs={}))


@export("clip_by_value", "clip", "math.clip_by_value")  # np.clip (None bounds): numpy_functions.py
def clip_by_value(t, clip_value_min, clip_value_max, name=None):
    """``minimum(maximum(t, min), max)`` elementwise; NaN in ``t`` stays NaN (NumPy's ``clip``)."""
    x, lo, hi = promote_operands(t, clip_value_min, clip_value_max, op_name="clip_by_value",
                                 names=("t", "clip_value_min", "clip_value_max"))
    return CLIP.bind(x, lo, hi)


# ---- lowering: each op's scalar rule for compiled loops (tracer.lowering's primitives) --------------------
# Operands are converted to the dtype NumPy computes in (the result dtype for arithmetic, the promoted input
# dtype for comparisons). ``None`` means "no compiled form for these dtypes": the op then runs eagerly.

def _as_result_dtype(args, out):
    """The operands cast to the result dtype, which NumPy computes arithmetic in."""
    return [L.cast(a, out) for a in args]


def _arith(build, *, ints=True, floats=True):
    def rule(args, ins, out):
        if (out.is_floating and not floats) or (not out.is_floating and not ints):
            return None
        return build(*_as_result_dtype(args, out))
    return Scalar(rule)


def _float_fn(fn):
    """A function of the math library on the (float) result dtype."""
    return Scalar(lambda args, ins, out: L.call(fn, L.cast(args[0], out)))


def _compare(build):
    def rule(args, ins, out):
        common = ufunc_dtype(np.add, ins, "compare") if ins[0] is not ins[1] else ins[0]
        return build(*(L.cast(a, common) for a in args))
    return Scalar(rule)


def _logical(build):
    return Scalar(lambda args, ins, out: build(*args))


def extreme(a, b, pick=L.ge, nan_of=None):
    """``a`` if ``pick(a, b)`` else ``b``; for floats also ``a`` where ``nan_of`` is NaN (maximum/minimum take a
    NaN of ``a``, fmax/fmin a NaN of ``b``, so that a NaN wins or loses as NumPy says)."""
    nan_of = a if nan_of is None else nan_of
    keep = L.bit_or(pick(a, b), L.ne(nan_of, nan_of)) if a.dtype.is_floating else pick(a, b)
    return L.select(keep, a, b)


def _max_rule(pick):
    return Scalar(lambda args, ins, out: extreme(*_as_result_dtype(args, out), pick=pick))


def _sign_rule(args, ins, out):
    a = args[0]
    zero = L.const(0, out)
    # sign(-0.0) is +0.0 in NumPy; a NaN stays NaN (a * 0 would keep -0.0's sign)
    if out.is_floating:
        zero = L.select(L.ne(a, a), a, zero)
    return L.select(L.gt(a, L.const(0, out)), L.const(1, out),
                    L.select(L.lt(a, L.const(0, out)), L.const(-1, out), zero))


def _float_fn_or_int(fn):
    """floor/ceil/round: the math function for floats; ints keep their value."""
    return Scalar(lambda args, ins, out: L.call(fn, L.cast(args[0], out)) if out.is_floating
                  else L.cast(args[0], out))


def _float_test(build, other):
    """isnan/isinf/isfinite: ``build(x)`` for floats, the constant ``other`` for ints and bools."""
    return Scalar(lambda args, ins, out: build(args[0]) if ins[0].is_floating else L.const(other, out))


def _isinf(x):
    return L.eq(L.abs_(x), L.const(float("inf"), x.dtype))


def _isfinite(x):
    return L.eq(L.sub(x, x), L.const(0, x.dtype))  # inf - inf and NaN - NaN are NaN


def _where_rule(args, ins, out):
    c, x, y = args
    return L.select(L.truth(c), L.cast(x, out), L.cast(y, out))


def _clip_rule(args, ins, out):
    x, lo, hi = _as_result_dtype(args, out)
    return extreme(extreme(x, lo), hi, pick=L.le)


def _relu_rule(args, ins, out):
    return extreme(args[0], L.const(0, out))


def _reciprocal_of(build):
    return Scalar(lambda args, ins, out: L.div(L.const(1, out), build(L.cast(args[0], out)))
                  if out.is_floating else None)


def _pow_rule(args, ins, out):
    """``pow`` (compiler mathlib's pow_f32/pow_f64: binary powering for integer and half-integer exponents up to
    16, which a literal exponent folds to its multiplies, sqrt and reciprocal). Where NumPy's float power loop
    reads the exponent with stride 0 (``arg.stride0``) it computes ``x * x`` for 2 and ``sqrt(x)`` for 0.5
    instead of pow; so do we: sqrt differs from pow at -0.0 and -inf (-0.0 and NaN, where pow gives +0.0 and
    +inf), and x * x rounds a subnormal square once."""
    if not out.is_floating:
        return None
    x, e = _as_result_dtype(args, out)
    power = L.call("pow", x, e)
    if not L.is_stride0(args[1]):
        return power
    return L.select(L.eq(e, L.const(2, out)), L.mul(x, x),
                    L.select(L.eq(e, L.const(0.5, out)), L.call("sqrt", x), power))


_LOWERINGS = {
    "negative": _arith(L.neg), "abs": _arith(L.abs_), "sign": Scalar(_sign_rule),
    **{fn: _float_fn(fn) for fn in ("exp", "expm1", "log", "log1p", "sin", "cos", "tan", "tanh", "sigmoid",
                                    "softplus", "erf")},
    "sqrt": _arith(lambda x: L.call("sqrt", x), ints=False), "rsqrt": _reciprocal_of(lambda x: L.call("sqrt", x)),
    "square": _arith(lambda x: L.mul(x, x)), "reciprocal": _reciprocal_of(lambda x: x),
    "relu": Scalar(_relu_rule),
    "floor": _float_fn_or_int("floor"), "ceil": _float_fn_or_int("ceil"), "round": _float_fn_or_int("rint"),
    "logical_not": _logical(L.logical_not),
    "isnan": _float_test(lambda x: L.ne(x, x), False), "isinf": _float_test(_isinf, False),
    "isfinite": _float_test(_isfinite, True), "invert": _arith(L.invert, floats=False),
    "add": _arith(L.add), "subtract": _arith(L.sub), "multiply": _arith(L.mul),
    "divide": _arith(L.div, ints=False), "floordiv": _arith(L.floordiv), "mod": _arith(L.mod),
    "pow": Scalar(_pow_rule),
    "maximum": _max_rule(L.ge), "minimum": _max_rule(L.le),
    "equal": _compare(L.eq), "not_equal": _compare(L.ne), "less": _compare(L.lt), "less_equal": _compare(L.le),
    "greater": _compare(L.gt), "greater_equal": _compare(L.ge),
    "logical_and": _logical(L.logical_and), "logical_or": _logical(L.logical_or),
    "logical_xor": _logical(L.logical_xor),
    "bitwise_and": _arith(L.bit_and, floats=False), "bitwise_or": _arith(L.bit_or, floats=False),
    "bitwise_xor": _arith(L.bit_xor, floats=False),
    "where": Scalar(_where_rule), "clip": Scalar(_clip_rule),
}
for _name, _lowering in _LOWERINGS.items():
    OPS[_name].lower = _lowering


# ---- gradients (tracer.autodiff): each rule is grad(upstream, output, *inputs) -> one gradient per input, in
# graphjit's own ops; broadcasting and dtype are undone by the tape (unbroadcast, cast). Ties and kinks follow TF:
# relu'(0) = 0, abs'(0) = 0, maximum/minimum give a tie to the first operand. Piecewise-constant ops (floor, ceil,
# round, sign, floordiv) and integer-only ones (bitwise, invert) are NOT_DIFFERENTIABLE: their gradient is None,
# as TF's floor and round give None rather than zeros.

def _zero_where_not(mask, g):
    return where(mask, g, g * 0.0)   # a select, not g * mask: an inf upstream must not become NaN where unused


def power_grad(power):
    """The rule of ``y = power(a, b)`` (pow, float_power): d/da = b * a**(b-1); d/db = log(a) * y, taken as 0
    where a <= 0 (TF's choice: no NaN from the log)."""
    def rule(g, y, a, b):
        positive = a > 0.0
        return (g * b * power(a, b - 1.0) if a.dtype.is_floating else None,
                _zero_where_not(positive, g * y * log(where(positive, a, a * 0.0 + 1.0)))
                if b.dtype.is_floating else None)
    return rule


def _clip_grad(g, y, x, lo, hi):
    """``y = minimum(maximum(x, lo), hi)``: x gets the gradient inside [lo, hi], ends included (TF's
    clip_by_value), lo where x < lo and hi where it clipped to hi. A NaN x keeps its gradient (TF's masks);
    where lo > hi the result is hi, and so is the gradient's destination."""
    below = x < lo
    above = maximum(x, lo) > hi
    inside = logical_not(logical_or(below, above))
    return _zero_where_not(inside, g), _zero_where_not(logical_and(below, logical_not(above)), g), \
        _zero_where_not(above, g)


_RULES = {
    "add": lambda g, y, a, b: (g, g),
    "subtract": lambda g, y, a, b: (g, -g),
    "multiply": lambda g, y, a, b: (g * b, g * a),
    "divide": lambda g, y, a, b: (g / b, -g * y / b),
    "negative": lambda g, y, x: (-g,),
    "exp": lambda g, y, x: (g * y,),
    "expm1": lambda g, y, x: (g * (y + 1.0),),
    "log": lambda g, y, x: (g / x,),
    "log1p": lambda g, y, x: (g / (x + 1.0),),
    "sqrt": lambda g, y, x: (g * 0.5 / y,),
    "rsqrt": lambda g, y, x: (g * -0.5 * y / x,),
    "square": lambda g, y, x: (g * 2.0 * x,),
    "reciprocal": lambda g, y, x: (-g * y * y,),
    "sin": lambda g, y, x: (g * cos(x),),
    "cos": lambda g, y, x: (-g * sin(x),),
    "tan": lambda g, y, x: (g * (1.0 + y * y),),
    "tanh": lambda g, y, x: (g * (1.0 - y * y),),
    "sigmoid": lambda g, y, x: (g * y * (1.0 - y),),
    "softplus": lambda g, y, x: (g * sigmoid(x),),
    "erf": lambda g, y, x: (g * (2.0 / math.sqrt(math.pi)) * exp(-square(x)),),
    "relu": lambda g, y, x: (_zero_where_not(x > 0.0, g),),
    "abs": lambda g, y, x: (g * sign(x),),
    "maximum": lambda g, y, a, b: (_zero_where_not(a >= b, g), _zero_where_not(a < b, g)),
    "minimum": lambda g, y, a, b: (_zero_where_not(a <= b, g), _zero_where_not(a > b, g)),
    "pow": power_grad(pow),
    "mod": lambda g, y, a, b: (g, -g * floordiv(a, b)),   # TF's FloorMod: a - floor(a / b) * b
    "clip": _clip_grad,
    "where": lambda g, y, c, a, b: (None, _zero_where_not(c, g), _zero_where_not(logical_not(c), g)),
}
for _name, _rule in _RULES.items():
    OPS[_name].grad = _rule
for _name in ("floor", "ceil", "round", "sign", "isnan", "isinf", "isfinite", "logical_not", "equal", "not_equal",
              "less", "less_equal", "greater", "greater_equal", "logical_and", "logical_or", "logical_xor",
              "floordiv", "invert", "bitwise_and", "bitwise_or", "bitwise_xor"):
    OPS[_name].grad = NOT_DIFFERENTIABLE
