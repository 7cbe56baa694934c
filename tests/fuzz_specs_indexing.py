"""Specs of indexing and selection: getitem (ints, slices, None, Ellipsis, an index tensor), slice,
strided_slice, gather, scatter_add, where, clip. Index tensors may carry one out-of-range entry (error programs)."""
import numpy as np

import graphjit as gj
from graphjit.tracer.ir import In, Slice
from graphjit.tracer.registry import OPS

from fuzz_graphs import INTS, add_input, pick_value
from fuzz_specs_base import SCALARS, partner, plus_zero, shape_of, spec


def _index_input(ch, prog, dim, shape, want_error, allow_negative):
    """An integer index array into an axis of size ``dim`` (one bad entry when asked for an error)."""
    rng = np.random.default_rng(ch.int(0, 2 ** 31))
    lo = -dim if allow_negative else 0
    values = rng.integers(lo, max(dim, 1), shape) if dim else np.zeros((0,) + shape[1:], np.int64)
    bad = want_error and values.size > 0 and ch.coin(0.5)
    if bad:
        values.flat[ch.int(0, values.size - 1)] = ch.pick((dim, dim + 3, lo - 1))
    dtype = ch.pick(INTS)
    return add_input(prog, ch, values.shape, dtype, values.astype(dtype.np)), bad


@spec("getitem", runtime_error=True)
def _getitem():
    def make(ch, prog, want_error):
        x = pick_value(ch, prog)
        shape = shape_of(prog, x)
        key, args, bad, tensor_used, ellipsis = [], [x], False, False, False
        axis = 0
        while axis < len(shape):
            d = shape[axis]
            kind = ch.int(0, 9)
            if kind <= 1 and d:
                key.append(ch.int(-d, d - 1))
            elif kind == 2:
                key.append(None)
                continue
            elif kind == 3 and not ellipsis:
                key.append(Ellipsis)
                ellipsis = True
                axis = len(shape) - ch.int(0, len(shape) - axis)
                continue
            elif kind == 4 and not tensor_used:
                index_shape = tuple(ch.int(0, 3) for _ in range(ch.int(0, 2)))
                i, bad = _index_input(ch, prog, d, index_shape, want_error, allow_negative=True)
                args.append(i)
                key.append("T")
                tensor_used = True
            elif kind <= 7:
                step = ch.pick((None, 1, 2, -1, -2, 3))
                key.append(slice(ch.pick((None, ch.int(-d - 1, d + 1))), ch.pick((None, ch.int(-d - 1, d + 1))),
                                 step))
            else:
                break
            axis += 1
        return tuple(args), {"key": tuple(key), "bad": bad}

    def apply(ts, params, shadow):
        return ts[0][tuple(ts[1] if k == "T" else k for k in params["key"])]
    return make, apply


@spec("slice", op="getitem")
def _slice():
    def make(ch, prog, want_error):
        x = pick_value(ch, prog)
        begin, size = [], []
        for d in shape_of(prog, x):
            b = ch.int(0, d)
            begin.append(b)
            size.append(-1 if ch.coin(0.3) else ch.int(0, d - b))
        return (x,), {"begin": tuple(begin), "size": tuple(size)}

    def apply(ts, params, shadow):
        return gj.slice(ts[0], params["begin"], params["size"])
    return make, apply


@spec("strided_slice", op="getitem")
def _strided_slice():
    def make(ch, prog, want_error):
        x = pick_value(ch, prog, lambda t: t is not None and len(t.shape) >= 1)
        if x is None:
            return None
        rank = len(shape_of(prog, x))
        n = ch.int(1, rank)
        begin = [ch.int(-4, 4) for _ in range(n)]
        end = [ch.int(-4, 5) for _ in range(n)]
        strides = [ch.pick((1, 2, -1, 3)) for _ in range(n)]
        masks = {m: ch.int(0, 2 ** n - 1) if ch.coin(0.4) else 0
                 for m in ("begin_mask", "end_mask", "shrink_axis_mask", "new_axis_mask")}
        return (x,), {"begin": begin, "end": end, "strides": strides, **masks}

    def apply(ts, params, shadow):
        return gj.strided_slice(ts[0], **params)
    return make, apply


def _indexed_axis(ch, prog, want_error, allow_negative):
    """A value of rank >= 1, one of its axes and an index input for it (gather's and scatter_add's operands):
    ``(x, shape, axis, index, bad)``, or None when the program has no such value."""
    x = pick_value(ch, prog, lambda t: t is not None and len(t.shape) >= 1)
    if x is None:
        return None
    shape = shape_of(prog, x)
    axis = ch.int(0, len(shape) - 1)
    index_shape = tuple(ch.int(0, 3) for _ in range(ch.int(0, 2)))
    i, bad = _index_input(ch, prog, shape[axis], index_shape, want_error, allow_negative=allow_negative)
    return x, shape, axis, i, bad


@spec("gather", runtime_error=True)
def _gather():
    def make(ch, prog, want_error):
        drawn = _indexed_axis(ch, prog, want_error, allow_negative=False)
        if drawn is None:
            return None
        x, shape, axis, i, bad = drawn
        return (x, i), {"axis": axis - len(shape) if ch.coin(0.3) else axis, "bad": bad}

    def apply(ts, params, shadow):
        return gj.gather(ts[0], ts[1], axis=params["axis"])
    return make, apply


@spec("scatter_add", runtime_error=True)
def _scatter_add():
    """x with updates added at x[:, ..., i] along one axis; i repeats positions and counts negatives from the end
    (NumPy's np.add.at, getitem's indices)."""
    def make(ch, prog, want_error):
        drawn = _indexed_axis(ch, prog, want_error, allow_negative=True)
        if drawn is None:
            return None
        x, shape, axis, i, bad = drawn
        u = add_input(prog, ch, tuple(shape[:axis]) + prog.types[i].shape + tuple(shape[axis + 1:]),
                      prog.types[x].dtype)
        return (x, i, u), {"axis": axis, "bad": bad}

    def apply(ts, params, shadow):
        key = (Slice(None, None, None),) * params["axis"] + (In(1),)
        return OPS["scatter_add"].bind(ts[0], ts[2], ts[1], key=key)
    return make, apply


@spec("strided_scatter", op="scatter_add")
def _strided_scatter():
    """x with updates added at x[key] for a basic key (ints, slices of any step, None, Ellipsis): the gradient of
    strided slicing, each selected element updated once."""
    def make(ch, prog, want_error):
        x = pick_value(ch, prog)
        shape = shape_of(prog, x)
        covered = ch.int(0, len(shape)) if ch.coin(0.3) else 0   # leading axes an Ellipsis stands for
        key = [Ellipsis] if covered else []
        for d in shape[covered:]:
            if ch.coin(0.3) and d:
                key.append(ch.int(-d, d - 1))
            else:
                key.append(Slice(ch.pick((None, ch.int(-d - 1, d + 1))), ch.pick((None, ch.int(-d - 1, d + 1))),
                                 ch.pick((None, 1, 2, -1, -2, 3))))
        if ch.coin(0.3):
            key.insert(ch.int(0, len(key)), None)
        selected = np.zeros(shape, bool)[tuple(k.to_slice() if isinstance(k, Slice) else k for k in key)].shape
        u = add_input(prog, ch, selected, prog.types[x].dtype)
        return (x, u), {"key": tuple(key), "bad": False}

    def apply(ts, params, shadow):
        return OPS["scatter_add"].bind(ts[0], ts[1], key=params["key"])
    return make, apply


# ---- selections -------------------------------------------------------------------------------------------
@spec("where")
def _where():
    def make(ch, prog, want_error):
        c = pick_value(ch, prog, lambda t: t is not None and t.dtype is gj.bool) if ch.coin(0.7) else None
        c = pick_value(ch, prog) if c is None else c
        shape = shape_of(prog, c)
        args, params = [c], {}
        for side in ("x", "y"):
            if ch.coin(0.2):
                params[side] = ch.pick(SCALARS)
            else:
                args.append(partner(ch, prog, shape))
        return tuple(args), params

    def apply(ts, params, shadow):
        rest = list(ts[1:])
        x = params["x"] if "x" in params else rest.pop(0)
        y = params["y"] if "y" in params else rest.pop(0)
        return gj.where(ts[0], x, y)
    return make, apply


@spec("clip")
def _clip():
    def make(ch, prog, want_error):
        x = pick_value(ch, prog)
        args, params = [x], {}
        for side in ("lo", "hi"):
            if ch.coin(0.6):
                params[side] = ch.pick(SCALARS)
            else:
                args.append(partner(ch, prog, shape_of(prog, x)))
        return tuple(args), params

    def apply(ts, params, shadow):
        rest = list(ts[1:])
        lo = params["lo"] if "lo" in params else rest.pop(0)
        hi = params["hi"] if "hi" in params else rest.pop(0)
        return plus_zero(gj.clip_by_value(ts[0], lo, hi))
    return make, apply
