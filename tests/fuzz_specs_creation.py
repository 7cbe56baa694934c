"""Specs of the ops that create values from attributes: fill, zeros, ones, constant, eye, range, linspace."""
import numpy as np

import graphjit as gj
from graphjit.tracer.registry import API

from fuzz_graphs import DTYPES, add_input, draw_dtype, pick_value, shadow_dtype
from fuzz_specs_base import SPECS, Spec, float_value, partner, shape_of, small_shape, spec


@spec("fill")
def _fill():
    def make(ch, prog, want_error):
        v = pick_value(ch, prog, lambda t: t is not None and t.shape == ())
        if v is None:
            v = add_input(prog, ch, (), draw_dtype(ch))
        return (v,), {"shape": small_shape(ch)}

    def apply(ts, params, shadow):
        return gj.fill(params["shape"], ts[0])
    return make, apply


def _shaped(name):
    def make(ch, prog, want_error):
        return (), {"shape": small_shape(ch), "dtype": ch.pick(DTYPES)}

    def apply(ts, params, shadow):
        return API[name](params["shape"], shadow_dtype(params["dtype"], shadow))
    SPECS[name] = Spec(name, name, make, apply)


_shaped("zeros")
_shaped("ones")


@spec("constant")
def _constant():
    def make(ch, prog, want_error):
        dtype = draw_dtype(ch)
        return (), {"value": prog.values(np.random.default_rng(ch.int(0, 2 ** 31)), small_shape(ch), dtype)}

    def apply(ts, params, shadow):
        value = params["value"]
        return gj.constant(value.astype(np.float64) if shadow and value.dtype == np.float32 else value)
    return make, apply


@spec("eye")
def _eye():
    def make(ch, prog, want_error):
        return (), {"num_rows": ch.int(0, 4), "num_columns": ch.pick((None, ch.int(0, 4))),
                    "batch_shape": ch.pick((None, (2,), (1, 2))), "dtype": ch.pick(DTYPES)}

    def apply(ts, params, shadow):
        return gj.eye(**{**params, "dtype": shadow_dtype(params["dtype"], shadow)})
    return make, apply


@spec("range")
def _range():
    def make(ch, prog, want_error):
        dtype = ch.pick(DTYPES[1:])
        scale = 0.5 if dtype.is_floating else 1
        start, limit = ch.int(-6, 6) * scale, ch.int(-6, 6) * scale
        delta = ch.pick((1, 2, -1, -3)) * scale
        return (), {"start": start, "limit": limit, "delta": delta, "dtype": dtype}

    def apply(ts, params, shadow):
        return gj.range(params["start"], params["limit"], params["delta"],
                        dtype=shadow_dtype(params["dtype"], shadow))
    return make, apply


@spec("linspace")
def _linspace():
    def make(ch, prog, want_error):
        a = float_value(ch, prog)
        if a is None or len(shape_of(prog, a)) > 2:
            return None
        b = partner(ch, prog, shape_of(prog, a), prog.types[a].dtype)
        rank = len(np.broadcast_shapes(shape_of(prog, a), shape_of(prog, b)))
        return (a, b), {"num": ch.int(0, 5), "axis": ch.int(-rank - 1, rank)}

    def apply(ts, params, shadow):
        return gj.linspace(ts[0], ts[1], params["num"], axis=params["axis"])
    return make, apply
