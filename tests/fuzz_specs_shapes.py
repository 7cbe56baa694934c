"""Specs of the ops that move elements without computing: reshapes, transposes, joins, tiles, casts."""
import numpy as np

import graphjit as gj
from graphjit.tracer.registry import API, OPS

from fuzz_graphs import DTYPES, INTS, add_input, draw_dtype, pick_value
from fuzz_specs_base import SPECS, Spec, shape_of, spec


def _factor(ch, size, rank):
    dims = []
    rest = size
    for _ in range(rank - 1):
        divisors = [d for d in range(1, min(rest, 8) + 1) if rest % d == 0] if rest else [0, 1, 2]
        d = ch.pick(divisors)
        dims.append(d)
        rest = rest // d if d else rest
    dims.append(rest if (size or 0 in dims) else 0)
    return dims


@spec("reshape")
def _reshape():
    def make(ch, prog, want_error):
        x = pick_value(ch, prog)
        size = int(np.prod(shape_of(prog, x)))
        dims = _factor(ch, size, ch.int(0 if size == 1 else 1, 4))
        if size and dims and ch.coin(0.3):
            dims[ch.int(0, len(dims) - 1)] = -1
        return (x,), {"shape": tuple(dims)}

    def apply(ts, params, shadow):
        return gj.reshape(ts[0], params["shape"])
    return make, apply


@spec("transpose")
def _transpose():
    def make(ch, prog, want_error):
        x = pick_value(ch, prog)
        perm = list(range(len(shape_of(prog, x))))
        for i in range(len(perm) - 1, 0, -1):
            j = ch.int(0, i)
            perm[i], perm[j] = perm[j], perm[i]
        return (x,), {"perm": None if ch.coin(0.2) else tuple(perm)}

    def apply(ts, params, shadow):
        return gj.transpose(ts[0], params["perm"])
    return make, apply


@spec("expand_dims")
def _expand_dims():
    def make(ch, prog, want_error):
        x = pick_value(ch, prog)
        rank = len(shape_of(prog, x))
        return (x,), {"axis": ch.int(-rank - 1, rank)}

    def apply(ts, params, shadow):
        return gj.expand_dims(ts[0], params["axis"])
    return make, apply


@spec("squeeze")
def _squeeze():
    def make(ch, prog, want_error):
        x = pick_value(ch, prog, lambda t: t is not None and 1 in t.shape)
        if x is None:
            return None
        ones = [i for i, d in enumerate(shape_of(prog, x)) if d == 1]
        axis = None if ch.coin(0.3) else sorted({ch.pick(ones) for _ in range(ch.int(1, len(ones)))})
        return (x,), {"axis": axis}

    def apply(ts, params, shadow):
        return gj.squeeze(ts[0], params["axis"])
    return make, apply


@spec("broadcast_to")
def _broadcast_to():
    def make(ch, prog, want_error):
        x = pick_value(ch, prog)
        shape = tuple(ch.int(1, 4) if d == 1 and ch.coin(0.6) else d for d in shape_of(prog, x))
        return (x,), {"shape": tuple(ch.int(1, 3) for _ in range(ch.int(0, 2))) + shape}

    def apply(ts, params, shadow):
        return gj.broadcast_to(ts[0], params["shape"])
    return make, apply


def _joined(name, public, stack):
    def make(ch, prog, want_error):
        x = pick_value(ch, prog)
        shape = shape_of(prog, x)
        if not stack and not shape:
            return None
        axis = ch.int(-len(shape) - 1, len(shape)) if stack else ch.int(-len(shape), len(shape) - 1)
        args = [x]
        for _ in range(ch.int(0, 2)):
            other = list(shape)
            if not stack:
                other[axis] = ch.int(0, 3)
            found = pick_value(ch, prog, lambda t: t is not None and t.shape == tuple(other))
            args.append(found if found is not None and ch.coin(0.5)
                        else add_input(prog, ch, tuple(other), ch.pick((prog.types[x].dtype, draw_dtype(ch)))))
        return tuple(args), {"axis": axis}

    def apply(ts, params, shadow):
        return API[public](list(ts), axis=params["axis"])
    SPECS[name] = Spec(name, name, make, apply)


_joined("concat", "concat", False)
_joined("stack", "stack", True)


@spec("tile")
def _tile():
    def make(ch, prog, want_error):
        x = pick_value(ch, prog)
        return (x,), {"multiples": tuple(ch.pick((1, 1, 2, 3, 0)) for _ in shape_of(prog, x))}

    def apply(ts, params, shadow):
        return gj.tile(ts[0], params["multiples"])
    return make, apply


@spec("cast")
def _cast():
    def make(ch, prog, want_error):
        return (pick_value(ch, prog),), {"dtype": ch.pick(DTYPES)}

    def apply(ts, params, shadow):
        x, target = ts[0], params["dtype"]
        if shadow and target is gj.float32:
            # the shadow keeps float32 values in float64, but an integer cast rounds to float32 first
            return gj.cast(gj.cast(x, gj.float32) if not x.dtype.is_floating else x, gj.float64)
        return gj.cast(x, target)
    return make, apply


@spec("shape")
def _shape_op():
    # the op itself (gj.shape of a static shape is a constant): its value is the operand's shape, any dtype
    def make(ch, prog, want_error):
        return (pick_value(ch, prog),), {"out_type": ch.pick(INTS)}

    def apply(ts, params, shadow):
        return OPS["shape"].bind(ts[0], out_type=params["out_type"])
    return make, apply
