"""The reduction accumulators ``reassoc_add`` and ``reassoc_mul``, which generated reduction loops call.

The one place generated code may reassociate: the accumulation of a reduction, whose order is unspecified
anyway (and reassociating it is what lets LLVM split a sum into vector lanes). The flag sits on this one
instruction; the kernel itself has no fastmath flags, so the elementwise producers fused into the loop
keep NumPy's order ((x * b) * b must not become x * (b * b): inf * 0 = NaN) and their own roundings.
LLVM's loop vectoriser reads the flag from the reduction's own instructions, so a sum still vectorises.
No 'contract': acc + x * y as one FMA would skip the product's rounding and overflow.
"""
from numba import types
from numba.extending import intrinsic


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
reassoc_mul = _accumulator("reassoc_mul", "fmul")
