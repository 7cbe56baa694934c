"""Scalar expressions (``tracer.lowering``) as numba.cuda source: the CPU renderer's text (``scalar_numba``), with
each math function a call of ``gm.<name>``. On a GPU ``gm`` is Python's ``math`` module, which numba.cuda compiles
to CUDA's libdevice (``expf`` for a float32 argument, ``exp`` for a float64 one); under the simulator, which runs
kernels as Python, it is ``SIMULATED_MATH``, the same functions from NumPy (IEEE results where ``math`` raises:
``exp(1000)`` is inf, ``log(-1)`` NaN). The functions ``math`` lacks are written from others with the same special
cases (NaN, infinities, signed zeros) as NumPy's."""
import math
import types

import numpy as np

from graphjit.tracer.errors import NotFoundError

from ..scalar_numba import np_type, render

# function -> source over the arguments {0}, {1} (already of the call's dtype)
_MATH = {
    "exp": "gm.exp({0})", "expm1": "gm.expm1({0})", "log": "gm.log({0})", "log1p": "gm.log1p({0})",
    "sin": "gm.sin({0})", "cos": "gm.cos({0})", "tan": "gm.tan({0})", "tanh": "gm.tanh({0})",
    "sqrt": "gm.sqrt({0})", "floor": "gm.floor({0})", "ceil": "gm.ceil({0})", "trunc": "gm.trunc({0})",
    "arcsin": "gm.asin({0})", "arccos": "gm.acos({0})", "arctan": "gm.atan({0})", "sinh": "gm.sinh({0})",
    "cosh": "gm.cosh({0})", "arcsinh": "gm.asinh({0})", "arccosh": "gm.acosh({0})",
    "arctanh": "gm.atanh({0})", "log10": "gm.log10({0})", "log2": "gm.log2({0})", "exp2": "gm.pow({two}, {0})",
    "fabs": "gm.fabs({0})", "erf": "gm.erf({0})", "arctan2": "gm.atan2({0}, {1})",
    "hypot": "gm.hypot({0}, {1})", "nextafter": "gm.nextafter({0}, {1})", "copysign": "gm.copysign({0}, {1})", "fmod": "gm.fmod({0}, {1})",
    "pow": "gm.pow({0}, {1})", "deg2rad": "gm.radians({0})", "rad2deg": "gm.degrees({0})",
    "rint": "round({0})",   # round-half-even, as NumPy's rint
    # exp(-|x|) never overflows; for x < 0, sigmoid is e / (1 + e)
    "sigmoid": "(({one} / ({one} + gm.exp(-{0}))) if {0} >= {zero} else (gm.exp({0}) / ({one} + gm.exp({0}))))",
    "softplus": "(max({0}, {zero}) + gm.log1p(gm.exp(-abs({0}))))",
    "cbrt": "gm.copysign(abs({0}) ** {third}, {0})",
    "logaddexp": "(({0} + {1}) if ({0} != {0} or {1} != {1}) else ({0} + {ln2}) if {0} == {1} else "
                 "(max({0}, {1}) + gm.log1p(gm.exp(-abs({0} - {1})))))",
    "signbit": "(gm.copysign({one}, {0}) < {zero})",
}


def _c_pow(a, b):
    """C99 ``pow``, as CUDA's is (NumPy's power takes a square root for an exponent of 0.5: -inf ** 0.5 is NaN
    there, +inf in C): ``math.pow`` with the special cases where it raises."""
    a, b = float(a), float(b)
    try:
        return math.pow(a, b)
    except OverflowError:
        odd = b.is_integer() and b % 2 == 1
        return -math.inf if (a < 0 and odd) else math.inf
    except ValueError:
        if a == 0:   # a pole: zero to a negative power, signed for odd powers of -0.0
            odd = b.is_integer() and b % 2 == 1
            return math.copysign(math.inf, a) if odd else math.inf
        return math.nan


SIMULATED_MATH = types.SimpleNamespace(
    exp=np.exp, expm1=np.expm1, log=np.log, log1p=np.log1p, sin=np.sin, cos=np.cos, tan=np.tan, tanh=np.tanh,
    sqrt=np.sqrt, floor=np.floor, ceil=np.ceil, trunc=np.trunc, asin=np.arcsin, acos=np.arccos, atan=np.arctan,
    sinh=np.sinh, cosh=np.cosh, asinh=np.arcsinh, acosh=np.arccosh, atanh=np.arctanh, log10=np.log10,
    log2=np.log2, fabs=np.fabs, erf=math.erf, atan2=np.arctan2, hypot=np.hypot, copysign=np.copysign,
    fmod=np.fmod, pow=_c_pow, radians=np.deg2rad, degrees=np.rad2deg, rint=np.rint, nextafter=np.nextafter)


# where the simulator (Python) and numba.cuda need different text: Python's round raises on NaN and infinity
_SIMULATED = {"rint": "gm.rint({0})"}


def render_cuda(expr, names, simulated=False):
    """Source text of ``expr`` for a CUDA kernel (no mathlib helpers: ``math`` is the library)."""
    return render(expr, names, call=_simulated_call if simulated else _call)[0]


def _simulated_call(e, args, helpers):
    return _call(e, args, helpers, _SIMULATED)


def _call(e, args, helpers, overrides=None):
    template = (overrides or {}).get(e.attr) or _MATH.get(e.attr)
    if template is None:
        raise NotFoundError(f"math function {e.attr!r} has no CUDA form (compiler.cuda.scalar._MATH)")
    t = np_type(e.args[0].dtype)   # constants in the arguments' dtype: no float64 literal in a float32 kernel
    text = template.format(*args, zero=f"{t}(0.0)", one=f"{t}(1.0)", two=f"{t}(2.0)", third=f"{t}(1.0 / 3.0)",
                           ln2=f"{t}(0.6931471805599453)")
    return text if e.dtype.is_bool else f"{np_type(e.dtype)}({text})"
