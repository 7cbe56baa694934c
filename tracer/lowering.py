"""How ops describe their lowering to compiled code, without depending on the compiler.

An op's ``lower`` slot holds one of these descriptors; each backend turns them into loops. An elementwise op's
``Scalar`` rule builds a small, backend-neutral scalar expression (``ScalarExpr``) from the primitives below:
operands, typed constants, arithmetic, comparisons, bitwise/logical ops, ``select``, ``cast`` and ``call`` of a
function of the math library (``MATH``). Every primitive means what NumPy computes for one element; a backend
renders the primitive set once (the CPU backend: ``graphjit.compiler.scalar_numba``).
"""
from dataclasses import dataclass

from .dtypes import bool_
from .errors import InvalidArgumentError, InvalidTypeError, NotFoundError
from .shapes import num_elements, same_size

# ---- the math library: names, arity and cost, nothing backend-specific -----------------------------------

CHEAP, TRANSCENDENTAL = "cheap", "transcendental"  # cost classes: transcendental loops go parallel sooner


@dataclass(frozen=True)
class MathFunction:
    """A function of the math library: NumPy's function of that name on ``arity`` operands of one float dtype.
    ``predicate``: the result is bool (``signbit``), else it has the operands' dtype."""
    name: str
    arity: int
    cost: str = CHEAP
    predicate: bool = False


def _library(*functions):
    return {f.name: f for f in functions}


# Transcendental: the functions with vectorisable implementations (and pow): their loops pay for threads at
# smaller sizes. The NumPy-only functions count as cheap, as they always have (not measured otherwise).
MATH = _library(
    *(MathFunction(name, 1, TRANSCENDENTAL)
      for name in ("exp", "exp2", "expm1", "log", "log1p", "sin", "cos", "tan", "tanh", "sigmoid", "softplus",
                   "erf")),
    MathFunction("pow", 2, TRANSCENDENTAL),
    *(MathFunction(name, 1) for name in ("sqrt", "floor", "ceil", "rint", "trunc", "arcsin", "arccos", "arctan",
                                          "sinh", "cosh", "arcsinh", "arccosh", "arctanh", "log2", "log10",
                                          "cbrt", "deg2rad", "rad2deg", "fabs")),
    *(MathFunction(name, 2) for name in ("arctan2", "hypot", "copysign", "fmod", "logaddexp", "nextafter")),
    MathFunction("signbit", 1, predicate=True),
)


# ---- scalar expressions --------------------------------------------------------------------------------

@dataclass(frozen=True)
class ScalarExpr:
    """One node of a scalar expression: primitive ``op`` on ``args`` (ScalarExprs), giving a ``dtype`` value.
    ``attr``: the operand index and stride-0 flag of an ``arg``, the value of a ``const``, the function name of
    a ``call``. Immutable and hashable: structurally equal expressions are equal (a NaN constant only to itself)."""
    op: str
    args: tuple
    dtype: object
    attr: object = None

    def __repr__(self):
        if self.op == "arg":
            return f"a{self.attr[0]}:{self.dtype.name}" + (" (stride 0)" if self.attr[1] else "")
        if self.op == "const":
            return f"{self.attr!r}:{self.dtype.name}"
        inner = ", ".join([repr(self.attr)] * (self.attr is not None) + [repr(a) for a in self.args])
        return f"{self.op}:{self.dtype.name}({inner})"


COMPARISONS = ("eq", "ne", "lt", "le", "gt", "ge")


def _same_dtype(op, args):
    dtypes = {a.dtype for a in args}
    if len(dtypes) != 1:
        raise InvalidTypeError(f"scalar {op} of mixed dtypes {sorted(d.name for d in dtypes)}: cast the operands "
                               f"first")
    return args[0].dtype


def _node(op, *args):
    return ScalarExpr(op, args, _same_dtype(op, args))


def arg(k, dtype, stride0=False):
    """Operand ``k`` of the op. ``stride0``: NumPy's ufunc loop reads it with stride 0 (a size-1 operand
    against a larger result, or a 0-d one), where NumPy takes some shortcuts (see ``numpy_stride0``)."""
    return ScalarExpr("arg", (), dtype, (k, stride0))


def is_stride0(x):
    """Whether ``x`` is an operand that NumPy's ufunc loop reads with stride 0 (see ``arg``)."""
    return x.op == "arg" and x.attr[1]


def const(value, dtype):
    """A constant of ``dtype`` (a Python number; float('nan') and +-inf allowed)."""
    return ScalarExpr("const", (), dtype, value)


def add(a, b): return _node("add", a, b)
def sub(a, b): return _node("sub", a, b)
def mul(a, b): return _node("mul", a, b)
def div(a, b): return _node("div", a, b)  # true division (floats)
def floordiv(a, b): return _node("floordiv", a, b)  # floats: floor(a / b) as NumPy's //
def mod(a, b): return _node("mod", a, b)  # the sign of b (Python's and NumPy's %)
def neg(a): return _node("neg", a)
def abs_(a): return _node("abs", a)
def bit_and(a, b): return _node("bit_and", a, b)
def bit_or(a, b): return _node("bit_or", a, b)
def bit_xor(a, b): return _node("bit_xor", a, b)
def invert(a): return _node("invert", a)  # ~a for ints, not a for bools
# Integer add, sub, mul and neg wrap around in two's complement as NumPy's do (so INT_MIN // -1 is INT_MIN);
# integer x // 0 and x % 0 are 0.


def _compare(op, a, b):
    _same_dtype(op, (a, b))
    return ScalarExpr(op, (a, b), bool_)


def eq(a, b): return _compare("eq", a, b)  # IEEE: NaN compares unequal
def ne(a, b): return _compare("ne", a, b)
def lt(a, b): return _compare("lt", a, b)
def le(a, b): return _compare("le", a, b)
def gt(a, b): return _compare("gt", a, b)
def ge(a, b): return _compare("ge", a, b)


def cast(x, dtype):
    """``x`` as ``dtype`` with NumPy's ``astype`` semantics: ``x != 0`` for bool, floats truncate toward zero,
    and NaN, inf and out-of-range floats give the integer minimum (NumPy's and TF's results on x86)."""
    return x if x.dtype is dtype else ScalarExpr("cast", (x,), dtype)


def truth(x):
    """``x != 0`` as a bool (NaN is true)."""
    return cast(x, bool_)


def logical_and(a, b): return bit_and(truth(a), truth(b))
def logical_or(a, b): return bit_or(truth(a), truth(b))
def logical_xor(a, b): return bit_xor(truth(a), truth(b))
def logical_not(a): return invert(truth(a))


def select(cond, a, b):
    """``a`` where ``cond`` (a bool) else ``b``."""
    if cond.dtype is not bool_:
        raise InvalidTypeError(f"select needs a bool condition, got {cond.dtype.name}: use truth(cond)")
    return ScalarExpr("select", (cond, a, b), _same_dtype("select", (a, b)))


def call(fn, *args):
    """Math library function ``fn`` (a name in ``MATH``) on operands of one float dtype."""
    function = MATH.get(fn)
    if function is None:
        raise NotFoundError(f"{fn!r} is not a function of the math library (tracer.lowering.MATH)")
    if len(args) != function.arity:
        raise InvalidArgumentError(f"{fn} takes {function.arity} operand(s), got {len(args)}")
    dtype = _same_dtype(fn, args)
    return ScalarExpr("call", tuple(args), bool_ if function.predicate else dtype, fn)


def functions_called(expr):
    """The names of the math library functions that ``expr`` calls."""
    found, stack = set(), [expr]
    while stack:
        e = stack.pop()
        if e.op == "call":
            found.add(e.attr)
        stack.extend(e.args)
    return found


def is_transcendental(expr):
    """Whether ``expr`` calls a function of the transcendental cost class."""
    return any(MATH[fn].cost == TRANSCENDENTAL for fn in functions_called(expr))


def numpy_stride0(shape, out_shape):
    """Whether NumPy's ufunc loop reads an operand of ``shape`` with stride 0 in an op giving ``out_shape``: a
    size-1 operand against a larger result, or a 0-d one. (A size-1 result from size-1 operands of rank >= 1
    depends on NumPy's iterator, and counts as not.)"""
    if len(shape) == len(out_shape) and all(map(same_size, shape, out_shape)):
        return len(shape) == 0   # (the same shape is no broadcast; symbolic sizes are never asked whether 1)
    return num_elements(shape) == 1 and (len(shape) == 0 or num_elements(out_shape) > 1)   # (0-d: never asks)



# ---- lowering descriptors ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scalar:
    """An elementwise op: ``rule(args, in_dtypes, out_dtype) -> ScalarExpr`` of ``out_dtype`` over the operands
    ``args`` (``arg`` nodes of the operands' own dtypes), or None when a dtype combination has no compiled form,
    so that the op runs through its eager implementation instead."""
    rule: object

    def expression(self, in_types, out_type):
        """The rule applied to operands of TensorTypes ``in_types`` giving ``out_type`` (None: no compiled form)."""
        args = [arg(k, t.dtype, numpy_stride0(t.shape, out_type.shape)) for k, t in enumerate(in_types)]
        return self.rule(args, [t.dtype for t in in_types], out_type.dtype)


@dataclass(frozen=True)
class Reduce:
    """A reduction over ``axis`` attrs: ``acc = init; acc = combine(acc, v); result = finalize(acc, n)``,
    where each is an expression template with ``{acc}``, ``{v}``, ``{n}``; ``acc_dtype`` picks the
    accumulator ('out': the result dtype, 'wide': float64 for floats, int64 for ints)."""
    init: str
    combine: str
    finalize: str = "{acc}"
    acc_dtype: str = "wide"


@dataclass(frozen=True)
class Kernel:
    """An op with a hand-written kernel in the compiler (``name``: 'matmul', 'softmax', ...)."""
    name: str


@dataclass(frozen=True)
class View:
    """An op that only re-indexes its input (reshape, transpose, broadcast_to, ...): compiled loops
    read through it without a copy. ``name`` picks the index transform in ``compiler.affine``."""
    name: str
