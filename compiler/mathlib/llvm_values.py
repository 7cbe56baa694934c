"""LLVM IR written with Python operators (``_V``), the float32-function wrapper every mathlib float32 function
uses (``_float32_function``), the typed scalar constants, and the hash that names mathlib's IR symbols."""
import hashlib
import pathlib

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

# Generated kernels inline this package's code (and its symbols carry this hash, so code from different
# versions never mixes): the hash covers every file of the package.
SOURCE_SHA256 = hashlib.sha256(b"".join(p.read_bytes() for p in sorted(pathlib.Path(__file__).parent.glob("*.py")))
                               ).hexdigest()


# ---- LLVM IR with Python operators ---------------------------------------------------------------------
# Every floating-point instruction is marked 'contract': a multiply and an add may become one FMA, which
# rounds once (the error bounds below were measured so). Numba gives a kernel's fastmath flags only to
# flagless instructions, so the flag would also keep a kernel's 'reassoc' from undoing the range
# reductions. Integers are unsigned words: + - * wrap, >> is a logical shift.

_FLAGS = ("contract",)


def _const(ty, value):
    if isinstance(ty, ir.IntType):
        v = int(value) % (1 << ty.width)   # IR integers are two's complement
        return ir.Constant(ty, v - (1 << ty.width) if v >= 1 << (ty.width - 1) else v)
    return ir.Constant(ty, float(value))


class _V:
    """An IR value under construction. Arithmetic and comparisons between two _V of one type, or with a
    plain number on either side (a constant of the _V's type), emit instructions; comparisons of floats
    are ordered (false for NaN), of integers unsigned."""
    __slots__ = ("b", "v")
    __array_ufunc__ = None                 # np.float64(2.0) * v: NumPy defers to v.__rmul__
    __hash__ = None

    def __init__(self, builder, value):
        self.b, self.v = builder, value

    @property
    def is_float(self):
        return isinstance(self.v.type, (ir.FloatType, ir.DoubleType))

    def _operand(self, other):
        return other.v if isinstance(other, _V) else _const(self.v.type, other)

    def _op(self, other, fop, iop, swap=False):
        a, c = self.v, self._operand(other)
        a, c = (c, a) if swap else (a, c)
        if self.is_float:
            return _V(self.b, getattr(self.b, fop)(a, c, flags=_FLAGS))
        return _V(self.b, getattr(self.b, iop)(a, c))

    def _cmp(self, other, op):
        if self.is_float:
            return _V(self.b, self.b.fcmp_ordered(op, self.v, self._operand(other), flags=_FLAGS))
        return _V(self.b, self.b.icmp_unsigned(op, self.v, self._operand(other)))

    __add__ = lambda s, o: s._op(o, "fadd", "add")                      # noqa: E731
    __radd__ = lambda s, o: s._op(o, "fadd", "add", swap=True)          # noqa: E731
    __sub__ = lambda s, o: s._op(o, "fsub", "sub")                      # noqa: E731
    __rsub__ = lambda s, o: s._op(o, "fsub", "sub", swap=True)          # noqa: E731
    __mul__ = lambda s, o: s._op(o, "fmul", "mul")                      # noqa: E731
    __rmul__ = lambda s, o: s._op(o, "fmul", "mul", swap=True)          # noqa: E731
    __truediv__ = lambda s, o: s._op(o, "fdiv", None)                   # noqa: E731
    __rtruediv__ = lambda s, o: s._op(o, "fdiv", None, swap=True)       # noqa: E731
    __and__ = lambda s, o: s._op(o, None, "and_")                       # noqa: E731
    __xor__ = lambda s, o: s._op(o, None, "xor")                        # noqa: E731
    __lshift__ = lambda s, o: s._op(o, None, "shl")                     # noqa: E731
    __rshift__ = lambda s, o: s._op(o, None, "lshr")                    # noqa: E731
    __lt__ = lambda s, o: s._cmp(o, "<")                                # noqa: E731
    __gt__ = lambda s, o: s._cmp(o, ">")                                # noqa: E731
    __ge__ = lambda s, o: s._cmp(o, ">=")                               # noqa: E731
    __eq__ = lambda s, o: s._cmp(o, "==")                               # noqa: E731

    def __neg__(self):
        return _V(self.b, self.b.fneg(self.v))

    def abs(self):
        fabs = self.b.module.declare_intrinsic("llvm.fabs", [self.v.type])
        return _V(self.b, self.b.call(fabs, [self.v]))

    def f32(self):
        """float64 rounded to float32 (a float32 as it is)."""
        t = ir.FloatType()
        return self if self.v.type == t else _V(self.b, self.b.fptrunc(self.v, t))

    def f64(self):
        """float32 widened, or a signed integer converted, to float64."""
        t = ir.DoubleType()
        if isinstance(self.v.type, ir.IntType):
            return _V(self.b, self.b.sitofp(self.v, t))
        return _V(self.b, self.b.fpext(self.v, t))

    def bits(self):
        """A float's bits as an integer of its width."""
        return _V(self.b, self.b.bitcast(self.v, ir.IntType(32 if self.v.type == ir.FloatType() else 64)))

    def as_float(self):
        """An integer's bits as a float of its width."""
        return _V(self.b, self.b.bitcast(self.v, ir.FloatType() if self.v.type.width == 32 else ir.DoubleType()))

    def low32(self):
        return _V(self.b, self.b.trunc(self.v, ir.IntType(32)))


def where(cond, a, b):
    """``a if cond else b`` as one select, both sides computed (no branch for the vectoriser to undo)."""
    ref = a if isinstance(a, _V) else b
    return _V(ref.b, ref.b.select(cond.v, ref._operand(a), ref._operand(b)))


def _clamp(t, lo, hi):
    """t limited to [lo, hi]; NaN passes (ordered comparisons are false for it)."""
    return where(t < lo, lo, where(t > hi, hi, t))


def _horner(x, coefs):
    p = coefs[-1]
    for c in coefs[-2::-1]:
        p = c + x * p
    return p


def _float32_function(body):
    """``body`` (float32 _V, context -> float32 _V) as a function for generated code: a Numba intrinsic of
    one number (converted to float32) that calls an alwaysinline IR function, defined once per module."""
    return _float_function(body, ir.FloatType(), types.float32)


def _float64_function(body):
    """``_float32_function`` for float64: ``body`` maps a float64 _V to a float64 _V."""
    return _float_function(body, ir.DoubleType(), types.float64)


def _float_function(body, ir_type, numba_type):
    symbol = f"graphjit_mathlib_{body.__name__}_{SOURCE_SHA256[:16]}"

    def define(context, module):
        fn = module.globals.get(symbol)
        if fn is None:
            fn = ir.Function(module, ir.FunctionType(ir_type, [ir_type]), symbol)
            fn.linkage = "internal"
            fn.attributes.add("alwaysinline")
            fn.attributes.add("nounwind")
            b = ir.IRBuilder(fn.append_basic_block("entry"))
            b.ret(body(_V(b, fn.args[0]), context).v)
        return fn

    def typer(typingctx, x):
        if not isinstance(x, (types.Float, types.Integer, types.Boolean)):
            return None

        def codegen(context, builder, sig, args):
            v = context.cast(builder, args[0], sig.args[0], numba_type)
            return builder.call(define(context, builder.module), [v])
        return numba_type(x), codegen
    typer.__name__ = typer.__qualname__ = body.__name__
    typer.__doc__ = body.__doc__
    return intrinsic(typer)


# ---- constants (typed scalars: float64 _F, float32 _G, uint64 _U, uint32 _U32) ------------------------
_F = np.float64
_G = np.float32
_U = np.uint64
_U32 = np.uint32
_SHIFT = _F(6755399441055744.0)            # 1.5 * 2^52: t + _SHIFT rounds t to an integer kept in the low bits
