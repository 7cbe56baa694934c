"""The CPU backend's renderer of scalar expressions (``graphjit.tracer.lowering``): an expression -> Numba source
text, and the ``graphjit.compiler.mathlib`` helpers that text calls.

Every value has its dtype in the text: each result is wrapped in its NumPy scalar type (``np.float32(a + b)``),
since Numba computes int32 arithmetic in int64 and Python literals are float64. ``MATH`` says how Numba computes
each function of the math library.
"""
from dataclasses import dataclass

import numpy as np

from graphjit.tracer.dtypes import float64
from graphjit.tracer.errors import NotFoundError
from graphjit.tracer.lowering import COMPARISONS, arg
from graphjit.tracer.lowering import cast as cast_expr


@dataclass(frozen=True)
class Mathlib:
    """``<name>_f32`` / ``<name>_f64`` from compiler.mathlib (vectorisable polynomials for float32)."""


@dataclass(frozen=True)
class NumPyFunction:
    """Numba's ``np.<name>`` (libm underneath). ``in_float64``: always call the float64 version (Numba's float32
    log2 cannot share a module with its float64 version: "Type of #1 arg mismatch"); rounding the float64 result
    is within 1 ULP."""
    in_float64: bool = False
    # The identity on +-inf and NaN, written as such: Numba's float64 np.cbrt lets LLVM fold abs(cbrt(x)) == inf
    # to False, so a fused isinf(cbrt(x)) was False at x = inf (benchmarks/fuzz.py seed 21).
    nonfinite_identity: bool = False


@dataclass(frozen=True)
class Operator:
    """A Python operator (``template`` over the operands)."""
    template: str


_MATHLIB = ("exp", "exp2", "expm1", "log", "log1p", "sin", "cos", "tan", "tanh", "sigmoid", "softplus", "erf",
            "pow")
_NUMPY = ("sqrt", "floor", "ceil", "rint", "trunc", "arcsin", "arccos", "arctan", "sinh", "cosh", "arcsinh",
          "arccosh", "arctanh", "log10", "deg2rad", "rad2deg", "fabs", "arctan2", "hypot", "copysign", "fmod",
          "logaddexp", "nextafter", "signbit")
# One entry per function of tracer.lowering.MATH.
MATH = {**{name: Mathlib() for name in _MATHLIB}, **{name: NumPyFunction() for name in _NUMPY},
        "log2": NumPyFunction(in_float64=True),
        "cbrt": NumPyFunction(nonfinite_identity=True)}


def mathlib_helpers():
    """The names of the compiler.mathlib helpers that ``MATH`` uses (what compiler.mathlib defines)."""
    return [f"{name}_{dtype}" for name, how in MATH.items() if isinstance(how, Mathlib) for dtype in ("f32", "f64")]


_OPERATORS = {"add": "{0} + {1}", "sub": "{0} - {1}", "mul": "{0} * {1}", "div": "{0} / {1}",
              "floordiv": "{0} // {1}", "mod": "{0} % {1}", "neg": "-{0}", "abs": "abs({0})",
              "bit_and": "{0} & {1}", "bit_or": "{0} | {1}", "bit_xor": "{0} ^ {1}", "invert": "~{0}",
              "eq": "{0} == {1}", "ne": "{0} != {1}", "lt": "{0} < {1}", "le": "{0} <= {1}", "gt": "{0} > {1}",
              "ge": "{0} >= {1}"}
# Numba's signed arithmetic is LLVM's no-signed-wrap kind, so LLVM may assume it never overflows and fold
# abs(x * x) to x * x or (x + 1 > x) to True; NumPy wraps (found by the differential fuzzer: abs(square(x))
# came back negative). Unsigned arithmetic wraps, so int64 computes these in uint64. (Narrower ints compute
# in int64, which cannot overflow, and are wrapped by the cast back.)
_WRAPPING_INT64 = {"add": "{0} + {1}", "sub": "{0} - {1}", "mul": "{0} * {1}", "neg": "np.uint64(0) - {0}"}


def np_type(dtype):
    """The NumPy scalar constructor name for a dtype in generated code (``np.float32``)."""
    return "np.bool_" if dtype.is_bool else f"np.{dtype.name}"


def literal(value, dtype):
    """A typed constant (``np.float32(0.5)``): a bare Python float would be float64 and promote a float32 loop."""
    v = np.asarray(value).reshape(-1)[0].item()
    if dtype.is_bool:
        return "True" if v else "False"
    if dtype.is_floating:
        text = "np.nan" if v != v else ("np.inf" if v == float("inf") else "-np.inf" if v == float("-inf") else repr(v))
        return f"np.{dtype.name}({text})"
    return f"np.{dtype.name}({int(v)})"


def render(expr, names, call=None):
    """(source text of ``expr`` with operand k named ``names[k]``, the mathlib helpers it calls). ``call(e, args,
    helpers)`` renders a math function call (another backend's math library: compiler.cuda.scalar); default,
    this module's ``MATH``."""
    helpers = set()
    return _render(expr, names, helpers, call or _call), frozenset(helpers)


def cast_source(text, from_dtype, to_dtype):
    """The source text ``text`` (a value of ``from_dtype``) converted to ``to_dtype`` as ``lowering.cast``."""
    return render(cast_expr(arg(0, from_dtype), to_dtype), [text])[0]


def _render(e, names, helpers, call=None):
    call = call or _call
    args = [_render(a, names, helpers, call) for a in e.args]
    if e.op == "arg":
        return names[e.attr[0]]
    if e.op == "const":
        return literal(e.attr, e.dtype)
    if e.op == "cast":
        return _cast(args[0], e.args[0].dtype, e.dtype)
    if e.op == "select":
        return f"({args[1]} if {args[0]} else {args[2]})"
    if e.op == "call":
        return call(e, args, helpers)
    if e.op in COMPARISONS or (e.dtype.is_bool and e.op in ("bit_and", "bit_or", "bit_xor")):
        return f"({_OPERATORS[e.op].format(*args)})"  # bool results need no wrapping
    if e.op == "invert" and e.dtype.is_bool:
        return f"({args[0]} == 0)"  # ~True is -2 in Python
    if e.op == "floordiv" and not e.dtype.is_floating:
        # x // -1 is -x with wraparound in NumPy (INT_MIN // -1 == INT_MIN); native division would trap
        a, b = args
        return f"{np_type(e.dtype)}(-{a} if {b} == -1 else {a} // {b})"
    if e.dtype.name == "int64" and e.op in _WRAPPING_INT64:
        return f"np.int64({_WRAPPING_INT64[e.op].format(*(f'np.uint64({a})' for a in args))})"
    return f"{np_type(e.dtype)}({_OPERATORS[e.op].format(*args)})"


def _cast(text, src, dst):
    if dst.is_bool:
        return f"({text} != 0)"
    if src.is_floating and dst.is_integer:
        # Numba's float -> int conversion is undefined for NaN, inf and out-of-range values: guard them.
        lo, hi = -(2 ** (8 * dst.itemsize - 1)), 2 ** (8 * dst.itemsize - 1)
        t = np_type(dst)
        return f"({t}({text}) if ({text} >= {float(lo)!r} and {text} < {float(hi)!r}) else {t}({lo}))"
    return f"{np_type(dst)}({text})"


def _call(e, args, helpers):
    how = MATH.get(e.attr)
    if how is None:
        raise NotFoundError(f"math function {e.attr!r} has no Numba form (compiler.scalar_numba.MATH)")
    dtype = e.args[0].dtype
    if isinstance(how, Mathlib):
        helper = f"{e.attr}_{dtype.short}"
        helpers.add(helper)
        return f"{helper}({', '.join(args)})"
    if isinstance(how, Operator):
        return f"{np_type(e.dtype)}({how.template.format(*args)})"
    if how.in_float64:
        args = [_cast(a, dtype, float64) if dtype is not float64 else a for a in args]
    text = f"np.{e.attr}({', '.join(args)})"
    if how.nonfinite_identity:
        text = f"({text} if math.isfinite({args[0]}) else {args[0]})"
    return text if e.dtype.is_bool else f"{np_type(e.dtype)}({text})"
