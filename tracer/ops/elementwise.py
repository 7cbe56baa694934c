"""Elementwise ops: unary math, binary arithmetic and comparisons, logical and bitwise ops, where, clip.

Shapes broadcast as in NumPy; dtypes follow the NumPy ufunc each op is defined by (``ufunc.resolve_dtypes``),
with results outside graphjit's five dtypes (float16 from ``exp(bool)``, int8 from ``bool // bool``)
rejected with a clear error. Python scalar operands are weak (see ``tensor.promote_operands``).
"""
import numpy as np

from .. import context
from ..dtypes import ALL as ALL_DTYPES, from_numpy
from ..errors import InvalidArgumentError, UnimplementedError
from ..ir import TensorType
from ..lowering import Scalar, cast, np_type
from ..registry import OPS, Op, binary_operator, export, numpy_adapter, register, unsupported_operand
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
    return run


def _elementwise(name, eager, rule_ufunc=None, *, quiet=False, reject_bool=False, doc=""):
    # Eager execution may skip the rule only when the rule is the eager ufunc's own type resolution;
    # bool rejection or a rule borrowed from another ufunc must be checked.
    trusted = rule_ufunc is None and not reject_bool
    return register(Op(name, infer=elementwise_rule(rule_ufunc or eager, name, reject_bool),
                       eager=_quiet(eager) if quiet else eager, check_eager=not trusted, doc=doc))


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


WHERE = register(Op("where", infer=_where_infer, eager=lambda c, x, y: np.where(c, x, y)))


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


CLIP = register(Op("clip", infer=_clip_infer, eager=_clip))


@export("clip_by_value", "clip", "math.clip_by_value")  # np.clip (None bounds): numpy_functions.py
def clip_by_value(t, clip_value_min, clip_value_max, name=None):
    """``minimum(maximum(t, min), max)`` elementwise; NaN in ``t`` stays NaN (NumPy's ``clip``)."""
    x, lo, hi = promote_operands(t, clip_value_min, clip_value_max, op_name="clip_by_value",
                                 names=("t", "clip_value_min", "clip_value_max"))
    return CLIP.bind(x, lo, hi)


# ---- lowering: each op's scalar expression for compiled loops ------------------------------------
# Operands arrive as expressions of their own dtypes and are converted to the dtype NumPy computes in
# (the result dtype for arithmetic, the promoted input dtype for comparisons). ``None`` means "no
# compiled form for these dtypes": the op then runs through its eager implementation.

def _arith(template, *, ints=True, floats=True, wrapping=None):
    """``wrapping``: the int64 form, in uint64. Numba's signed arithmetic is LLVM's no-signed-wrap kind, so
    LLVM may assume it never overflows and fold abs(x * x) to x * x or (x + 1 > x) to True; NumPy wraps
    (found by the differential fuzzer: abs(square(x)) came back negative). Unsigned arithmetic wraps."""
    def emit(args, ins, out):
        if (out.is_floating and not floats) or (not out.is_floating and not ints):
            return None
        operands = [cast(a, d, out) for a, d in zip(args, ins)]
        if wrapping is not None and out.name == "int64":
            return f"np.int64({wrapping.format(*(f'np.uint64({x})' for x in operands))})"
        return f"{np_type(out)}({template.format(*operands)})"
    return Scalar(emit)


def _float_fn(family):
    """A transcendental from graphjit.compiler.mathlib (vectorisable polynomials for float32)."""
    def emit(args, ins, out):
        return f"{family}_{out.short}({cast(args[0], ins[0], out)})"
    return Scalar(emit)


def _compare(symbol):
    def emit(args, ins, out):
        common = ufunc_dtype(np.add, ins, "compare") if ins[0] is not ins[1] else ins[0]
        a, b = (cast(x, d, common) for x, d in zip(args, ins))
        return f"({a} {symbol} {b})"
    return Scalar(emit)


def _logical(template):
    return Scalar(lambda args, ins, out: template.format(*(f"({a} != 0)" for a in args)))


def _floordiv_emit(args, ins, out):
    a, b = (cast(x, d, out) for x, d in zip(args, ins))
    if out.is_floating:
        return f"{np_type(out)}({a} // {b})"
    # x // -1 is -x with wraparound in NumPy (INT_MIN // -1 == INT_MIN); native division would trap
    return f"{np_type(out)}(-{a} if {b} == -1 else {a} // {b})"


def _zero(dtype):
    return f"{np_type(dtype)}(0)"


def _max_emit(args, ins, out, pick=">="):
    a, b = (cast(x, d, out) for x, d in zip(args, ins))
    nan = f" or {a} != {a}" if out.is_floating else ""  # NumPy's maximum/minimum propagate NaN
    return f"({a} if ({a} {pick} {b}{nan}) else {b})"


def _sign_emit(args, ins, out):
    a = args[0]
    one = f"{np_type(out)}(1)"
    # sign(-0.0) is +0.0 in NumPy; a NaN stays NaN (a * 0 would keep -0.0's sign)
    zero = f"({a} if {a} != {a} else {np_type(out)}(0))" if out.is_floating else f"{np_type(out)}(0)"
    return f"({one} if {a} > 0 else (-{one} if {a} < 0 else {zero}))"


def _unary_float_or_int(float_template, int_template="{0}"):
    def emit(args, ins, out):
        template = float_template if out.is_floating else int_template
        return f"{np_type(out)}({template.format(args[0])})" if template else None
    return Scalar(emit)


def _isinf_emit(args, ins, out):
    return f"(abs({args[0]}) == np.inf)" if ins[0].is_floating else "False"


def _isfinite_emit(args, ins, out):
    return f"({args[0]} - {args[0]} == 0)" if ins[0].is_floating else "True"


def _where_emit(args, ins, out):
    c, x, y = args
    return f"({cast(x, ins[1], out)} if {c} else {cast(y, ins[2], out)})"


def _clip_emit(args, ins, out):
    x, lo, hi = (cast(a, d, out) for a, d in zip(args, ins))
    inner = _max_emit([x, lo], [out, out], out)
    return _max_emit([inner, hi], [out, out], out, pick="<=")


def _relu_emit(args, ins, out):
    return _max_emit([args[0], _zero(out)], [out, out], out)


def _invert_emit(args, ins, out):
    return f"({args[0]} == 0)" if out.is_bool else f"{np_type(out)}(~{args[0]})"


def _one_over(expr):
    return Scalar(lambda args, ins, out: (f"{np_type(out)}({np_type(out)}(1) / {expr.format(cast(args[0], ins[0], out))})"
                                          if out.is_floating else None))


_LOWERINGS = {
    "negative": _arith("-{0}", wrapping="np.uint64(0) - {0}"), "abs": _arith("abs({0})"), "sign": Scalar(_sign_emit),
    "exp": _float_fn("exp"), "expm1": _float_fn("expm1"), "log": _float_fn("log"), "log1p": _float_fn("log1p"),
    "sin": _float_fn("sin"), "cos": _float_fn("cos"), "tan": _float_fn("tan"), "tanh": _float_fn("tanh"),
    "sigmoid": _float_fn("sigmoid"), "softplus": _float_fn("softplus"),
    "sqrt": _arith("np.sqrt({0})", ints=False), "rsqrt": _one_over("np.sqrt({0})"),
    "square": _arith("{0} * {0}", wrapping="{0} * {0}"), "reciprocal": _one_over("{0}"), "relu": Scalar(_relu_emit),
    "floor": _unary_float_or_int("np.floor({0})"), "ceil": _unary_float_or_int("np.ceil({0})"),
    "round": _unary_float_or_int("np.rint({0})"),
    "logical_not": Scalar(lambda args, ins, out: f"({args[0]} == 0)"),
    "isnan": Scalar(lambda args, ins, out: f"({args[0]} != {args[0]})" if ins[0].is_floating else "False"),
    "isinf": Scalar(_isinf_emit), "isfinite": Scalar(_isfinite_emit), "invert": Scalar(_invert_emit),
    "add": _arith("{0} + {1}", wrapping="{0} + {1}"), "subtract": _arith("{0} - {1}", wrapping="{0} - {1}"),
    "multiply": _arith("{0} * {1}", wrapping="{0} * {1}"),
    "divide": _arith("{0} / {1}", ints=False), "floordiv": Scalar(_floordiv_emit), "mod": _arith("{0} % {1}"),
    "pow": _arith("{0} ** {1}", ints=False),
    "maximum": Scalar(_max_emit), "minimum": Scalar(lambda a, i, o: _max_emit(a, i, o, pick="<=")),
    "equal": _compare("=="), "not_equal": _compare("!="), "less": _compare("<"), "less_equal": _compare("<="),
    "greater": _compare(">"), "greater_equal": _compare(">="),
    "logical_and": _logical("({0} & {1})"), "logical_or": _logical("({0} | {1})"),
    "logical_xor": _logical("({0} != {1})"),
    "bitwise_and": _arith("{0} & {1}"), "bitwise_or": _arith("{0} | {1}"), "bitwise_xor": _arith("{0} ^ {1}"),
    "where": Scalar(_where_emit), "clip": Scalar(_clip_emit),
}
for _name, _lowering in _LOWERINGS.items():
    OPS[_name].lower = _lowering
