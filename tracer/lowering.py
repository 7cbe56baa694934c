"""How ops describe their lowering to compiled code, without depending on the compiler.

An op's ``lower`` slot holds one of these descriptors; the compiler (``graphjit.compiler``) turns them
into loops. Scalar expressions are Python/Numba source text over the names ``np``, ``math`` and the
functions of ``graphjit.compiler.mathlib`` (``exp_f32``, ``sin_f64``, ...).
"""
from dataclasses import dataclass


def np_type(dtype):
    """The NumPy scalar constructor name for a dtype in generated code (``np.float32``)."""
    return "np.bool_" if dtype.is_bool else f"np.{dtype.name}"


def cast(expr, from_dtype, to_dtype):
    """``expr`` converted to ``to_dtype`` with NumPy's semantics for ordinary values."""
    if from_dtype is to_dtype:
        return expr
    if to_dtype.is_bool:
        return f"({expr} != 0)"
    return f"{np_type(to_dtype)}({expr})"


@dataclass(frozen=True)
class Scalar:
    """An elementwise op: ``emit(args, in_dtypes, out_dtype) -> expression`` (or None when a dtype
    combination has no compiled form, so the op runs through its eager implementation instead).
    Arguments are expressions of the operands' own dtypes; the result must be of ``out_dtype``."""
    emit: object


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
