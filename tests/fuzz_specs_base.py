"""The fuzzer's spec machinery: a ``Spec`` is how the fuzzer calls one op (``make`` draws operands and
attributes for a program being drawn, ``apply`` makes the public graphjit call), ``SPECS`` holds them all
(filled by the family modules that tests/fuzz_specs.py imports), and the helpers below draw operands and
keep apply's results inside what NumPy defines."""
import numpy as np

import graphjit as gj

from fuzz_graphs import FLOATS, add_input, broadcastable, draw_dtype, pick_value

SCALARS = (0.5, -1.0, 2.0, 3.0, 0.0, -0.25, 1, -1, 2, 7, 0)   # exactly representable in every dtype


class Spec:
    def __init__(self, name, op, make, apply, runtime_error=False):
        self.name, self.op, self._make, self._apply = name, op, make, apply
        self._runtime_error = runtime_error

    def make(self, ch, prog, want_error):
        return self._make(ch, prog, want_error)

    def apply(self, ts, params, shadow):
        return self._apply(ts, params, shadow)

    def runtime_error(self, params):
        return self._runtime_error and params.get("bad", False)


SPECS = {}


def spec(name, op=None, runtime_error=False):
    def register(fns):
        make, apply = fns()
        SPECS[name] = Spec(name, op or name, make, apply, runtime_error)
    return register


def shape_of(prog, i):
    return prog.types[i].shape


def draw_axis(ch, rank, allow_none=True):
    if allow_none and (rank == 0 or ch.coin(0.2)):
        return None
    return ch.int(-rank, rank - 1) if rank else None


def _broadcasts(a, b):
    try:
        np.broadcast_shapes(a, b)
        return True
    except ValueError:
        return False


def partner(ch, prog, shape, dtype=None):
    """Another operand broadcasting with ``shape``: an existing value, or a fresh input."""
    if ch.coin(0.5):
        found = pick_value(ch, prog, lambda t: t is not None and _broadcasts(t.shape, shape)
                           and (dtype is None or t.dtype is dtype))
        if found is not None:
            return found
    return add_input(prog, ch, broadcastable(ch, shape), dtype or draw_dtype(ch))


def float_value(ch, prog, min_rank=0):
    return pick_value(ch, prog, lambda t: t is not None and t.dtype in FLOATS and len(t.shape) >= min_rank)


def small_shape(ch):
    return tuple(ch.int(0, 4) if ch.coin(0.1) else ch.int(1, 4) for _ in range(ch.int(0, 3)))


# ---- where NumPy has no one answer: kept out of the draws or normalised in the graph itself -----------------
# Known bugs kept out of the random draws, each with a strict xfail in tests/test_fuzz_regressions.py
KNOWN_ISSUES = {}

# NumPy's float power loop takes x * x / sqrt(x) for an exponent of 2 / 0.5 read with stride 0
# (pow's scalar rule follows it: tracer.lowering.numpy_stride0); for a size-1 result from size-1 operands of rank >= 1
# the choice depends on NumPy's iterator ((1,) ** (1,) calls pow, (1, 1) ** (1,) takes sqrt), so those draws
# are left out: NumPy has no rule there to follow.
def numpy_power_undefined(prog, args):
    x, e = (prog.types[a] for a in args)
    size = int(np.prod(np.broadcast_shapes(x.shape, e.shape)))
    floating = x.dtype.is_floating or e.dtype.is_floating
    return floating and int(np.prod(e.shape)) == 1 and len(e.shape) >= 1 and size == 1


# IEEE 754 leaves the sign of a NaN result unspecified (NumPy on x86 makes log(-1) a -NaN, compiled code a
# +NaN), so ops that read sign bits see NaN operands replaced by 1.
NAN_SIGN_OPS = {"signbit", "copysign"}


# NumPy's max/min family has no sign rule for a tie of -0.0 and +0.0 (np.minimum(-0., 0.) is 0.0 but
# np.minimum([-0.]*3, [0.]*3) is [0., 0., 0.] and np.fmin the same arrays [-0., 0., 0.]: its SIMD loops
# pick by position), so the fuzzer turns their zero results into +0.0 in the graph itself.
ZERO_SIGN_FREE = {"maximum", "minimum", "fmax", "fmin", "relu", "clip", "reduce_max", "reduce_min"}


def plus_zero(t):
    return gj.where(gj.equal(t, 0), gj.zeros_like(t), t) if t.dtype.is_floating else t


def zero_free(ts):
    """Float dot products see no exact zeros: NumPy has no one rule for them. np.dot (so np.tensordot) skips
    zero terms as BLAS does (0 . -inf is 0.0, and 0 . -x is -0.0) while np.matmul gives NaN and +0.0, and
    compiled code calls gemm for both (found by benchmarks/fuzz.py)."""
    if not any(t.dtype.is_floating for t in ts):
        return ts
    return [gj.where(gj.equal(t, 0), gj.ones_like(t), t) for t in ts]


def nan_free(t):
    return gj.where(gj.math.is_nan(t), 1, t) if t.dtype.is_floating else t
