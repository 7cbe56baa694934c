"""mathlib's float64 functions (libm, except where a stable formula is needed) and the reduction accumulators."""
import math

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

# ---- float64: libm, except where a stable formula is needed ---------------------------------------
# Numba Python, inlined into Numba's IR: each is a libm call or a few operations. (np.float64(x) first:
# Numba's math functions on a float32 argument would compute in float32.)

_inline = numba.njit(inline="always", error_model="numpy")


@intrinsic
def _sel(typingctx, cond, a, b):
    """``a if cond else b`` as one select (a conditional expression would become branches)."""
    if isinstance(cond, types.Boolean) and a == b:
        return a(cond, a, b), lambda ctx, builder, sig, args: builder.select(*args)
    return None


exp_f64 = _inline(lambda x: math.exp(np.float64(x)))
expm1_f64 = _inline(lambda x: math.expm1(np.float64(x)))
log_f64 = _inline(lambda x: math.log(np.float64(x)))
log1p_f64 = _inline(lambda x: math.log1p(np.float64(x)))
sin_f64 = _inline(lambda x: math.sin(np.float64(x)))
cos_f64 = _inline(lambda x: math.cos(np.float64(x)))
tan_f64 = _inline(lambda x: math.tan(np.float64(x)))
tanh_f64 = _inline(lambda x: math.tanh(np.float64(x)))


@_inline
def sigmoid_f64(x):
    x = np.float64(x)
    e = math.exp(-abs(x))                  # in [0, 1]: never overflows
    r = 1.0 / (1.0 + e)
    return _sel(x >= 0, r, e * r)          # e / (1 + e) for x < 0; NaN falls through to e * r = NaN


@_inline
def softplus_f64(x):
    x = np.float64(x)
    pos = _sel(x > 0, x, 0.0)              # NaN -> 0 here, but log1p(exp(-|NaN|)) is NaN
    return pos + math.log1p(math.exp(-abs(x)))



# ---- reduction accumulators ----------------------------------------------------------------------
# The one place generated code may reassociate: the accumulation of a reduction, whose order is unspecified
# anyway (and reassociating it is what lets LLVM split a sum into vector lanes). The flag sits on this one
# instruction; the kernel itself has no fastmath flags, so the elementwise producers fused into the loop
# keep NumPy's order ((x * b) * b must not become x * (b * b): inf * 0 = NaN) and their own roundings.
# LLVM's loop vectoriser reads the flag from the reduction's own instructions, so a sum still vectorises.
# No 'contract': acc + x * y as one FMA would skip the product's rounding and overflow.

def _accumulator(name, op):
    def typer(typingctx, acc, v):
        if not isinstance(acc, types.Float) or not isinstance(v, (types.Float, types.Integer, types.Boolean)):
            return None

        def codegen(context, builder, sig, args):
            w = context.cast(builder, args[1], sig.args[1], sig.args[0])
            return getattr(builder, op)(args[0], w, flags=("reassoc",))
        return acc(acc, v), codegen
    typer.__name__ = typer.__qualname__ = name
    typer.__doc__ = f"``acc {'+' if op == 'fadd' else '*'} v`` in ``acc``'s type, the one instruction marked 'reassoc'."
    return intrinsic(typer)


reassoc_add = _accumulator("reassoc_add", "fadd")
reassoc_mul = _accumulator("reassoc_mul", "fmul")   # imported by name by generated code, not in __all__
