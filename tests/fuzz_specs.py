"""How the fuzzer calls each op: ``Spec.make`` draws operands and attributes for a program being drawn,
``Spec.apply`` makes the public graphjit call (eagerly, while tracing, or on the float64 shadow values of
tests/fuzz_check.py when ``shadow``). Elementwise ops without attributes are found by probing their rules
(``_probe_arity``), so new ones are fuzzed without a spec of their own."""
import numpy as np

import graphjit as gj
from graphjit.tracer.ir import In, Slice, TensorType
from graphjit.tracer.registry import API, OPS
from graphjit.tracer.tensor import promote_operands

from fuzz_graphs import DTYPES, EXCLUDED, FLOATS, INTS, add_input, broadcastable, draw_dtype, pick_value, \
    shadow_dtype

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


def _shape(prog, i):
    return prog.types[i].shape


def _axis(ch, rank, allow_none=True):
    if allow_none and (rank == 0 or ch.coin(0.2)):
        return None
    return ch.int(-rank, rank - 1) if rank else None


def _broadcasts(a, b):
    try:
        np.broadcast_shapes(a, b)
        return True
    except ValueError:
        return False


def _partner(ch, prog, shape, dtype=None):
    """Another operand broadcasting with ``shape``: an existing value, or a fresh input."""
    if ch.coin(0.5):
        found = pick_value(ch, prog, lambda t: t is not None and _broadcasts(t.shape, shape)
                           and (dtype is None or t.dtype is dtype))
        if found is not None:
            return found
    return add_input(prog, ch, broadcastable(ch, shape), dtype or draw_dtype(ch))


# ---- elementwise ops found by their rules -----------------------------------------------------------------
def _probe_arity(op):
    for arity in (1, 2, 3):
        for dtype in (gj.float32, gj.int32, gj.bool):
            try:
                out = op.infer(*[TensorType((2, 3), dtype)] * arity)
            except Exception:  # noqa: BLE001 - a rule that needs attributes or other operands
                continue
            if tuple(out.shape) == (2, 3):
                return arity
    return None


# Known bugs kept out of the random draws, each with a strict xfail in tests/test_fuzz_regressions.py
KNOWN_ISSUES = {}

# NumPy's float power loop takes x * x / sqrt(x) for an exponent of 2 / 0.5 read with stride 0
# (pow's scalar rule follows it: tracer.lowering.numpy_stride0); for a size-1 result from size-1 operands of rank >= 1
# the choice depends on NumPy's iterator ((1,) ** (1,) calls pow, (1, 1) ** (1,) takes sqrt), so those draws
# are left out: NumPy has no rule there to follow.
def _numpy_power_undefined(prog, args):
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


def _plus_zero(t):
    return gj.where(gj.equal(t, 0), gj.zeros_like(t), t) if t.dtype.is_floating else t


def _zero_free(ts):
    """Float dot products see no exact zeros: NumPy has no one rule for them. np.dot (so np.tensordot) skips
    zero terms as BLAS does (0 . -inf is 0.0, and 0 . -x is -0.0) while np.matmul gives NaN and +0.0, and
    compiled code calls gemm for both (found by benchmarks/fuzz.py)."""
    if not any(t.dtype.is_floating for t in ts):
        return ts
    return [gj.where(gj.equal(t, 0), gj.ones_like(t), t) for t in ts]


def _nan_free(t):
    return gj.where(gj.math.is_nan(t), 1, t) if t.dtype.is_floating else t


def _elementwise_spec(name, arity):
    op = OPS[name]

    def make(ch, prog, want_error):
        x = pick_value(ch, prog)
        args, params = [x], {}
        for _ in range(arity - 1):
            if arity == 2 and ch.coin(0.2):
                params = {"scalar": ch.pick(SCALARS), "first": ch.coin(0.3)}
            else:
                args.append(_partner(ch, prog, _shape(prog, x)))
        if name == "pow" and len(args) == 2 and _numpy_power_undefined(prog, args):
            return None
        return tuple(args), params

    def apply(ts, params, shadow):
        if name in NAN_SIGN_OPS:
            ts = [_nan_free(t) for t in ts]
        if "scalar" in params:
            pair = (params["scalar"], ts[0]) if params["first"] else (ts[0], params["scalar"])
            out = op.bind(*promote_operands(*pair))
        else:
            out = op.bind(*(promote_operands(*ts) if len(ts) > 1 else ts))
        return _plus_zero(out) if name in ZERO_SIGN_FREE else out
    SPECS[name] = Spec(name, name, make, apply)


# ---- reductions -------------------------------------------------------------------------------------------
def _reduction(name):
    def make(ch, prog, want_error):
        x = pick_value(ch, prog)
        rank = len(_shape(prog, x))
        if ch.coin(0.3) and rank > 1:
            axis = sorted({ch.int(-rank, rank - 1) % rank for _ in range(ch.int(1, rank))})
        else:
            axis = _axis(ch, rank)
        return (x,), {"axis": axis, "keepdims": ch.coin(0.3)}

    def apply(ts, params, shadow):
        out = API[name](ts[0], axis=params["axis"], keepdims=params["keepdims"])
        return _plus_zero(out) if name in ZERO_SIGN_FREE else out
    SPECS[name] = Spec(name, name, make, apply)


for _name in ("reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod", "reduce_any",
              "reduce_all", "reduce_logsumexp"):
    _reduction(_name)


def _arg_reduction(name):
    def make(ch, prog, want_error):
        x = pick_value(ch, prog)
        rank = len(_shape(prog, x))
        axis = _axis(ch, rank)
        return (x,), {"axis": None if axis is None else axis % rank, "keepdims": ch.coin(0.3),
                      "output_type": ch.pick(INTS)}

    def apply(ts, params, shadow):
        return OPS[name].bind(ts[0], **params)
    SPECS[name] = Spec(name, name, make, apply)


_arg_reduction("argmax")
_arg_reduction("argmin")


def _float_value(ch, prog, min_rank=0):
    return pick_value(ch, prog, lambda t: t is not None and t.dtype in FLOATS and len(t.shape) >= min_rank)


def _softmax(name, public):
    def make(ch, prog, want_error):
        x = _float_value(ch, prog, 1)
        return None if x is None else ((x,), {"axis": _axis(ch, len(_shape(prog, x)), allow_none=False)})

    def apply(ts, params, shadow):
        return API[public](ts[0], axis=params["axis"])
    SPECS[name] = Spec(name, name, make, apply)


_softmax("softmax", "nn.softmax")
_softmax("log_softmax", "nn.log_softmax")


@spec("sparse_softmax_cross_entropy_with_logits", runtime_error=True)
def _xent():
    def make(ch, prog, want_error):
        x = _float_value(ch, prog, 1)
        if x is None:
            return None
        shape = _shape(prog, x)
        classes = shape[-1]
        labels = np.random.default_rng(ch.int(0, 2 ** 31)).integers(0, max(classes, 1), shape[:-1])
        bad = want_error and labels.size > 0 and ch.coin(0.5)
        if bad:
            labels.flat[ch.int(0, labels.size - 1)] = ch.pick((classes, -1, classes + 5))
        y = add_input(prog, ch, shape[:-1], ch.pick(INTS), labels.astype(ch.pick(INTS).np))
        prog.types[y] = TensorType(shape[:-1], gj.as_dtype(prog.nodes[y].array.dtype))
        return (y, x), {"bad": bad}

    def apply(ts, params, shadow):
        return API["nn.sparse_softmax_cross_entropy_with_logits"](labels=ts[0], logits=ts[1])
    return make, apply


# ---- linear algebra ---------------------------------------------------------------------------------------
@spec("matmul")
def _matmul():
    def make(ch, prog, want_error):
        a = pick_value(ch, prog, lambda t: t is not None and len(t.shape) >= 1 and t.dtype is not gj.bool)
        if a is None:
            return None
        shape = _shape(prog, a)
        ta = len(shape) >= 2 and ch.coin(0.25)
        k = shape[-2] if ta else shape[-1]
        n = ch.int(0, 4) if ch.coin(0.1) else ch.int(1, 5)
        if len(shape) == 1 or ch.coin(0.15):
            b_shape, tb = (k,), False
        else:
            b_shape = broadcastable(ch, shape[:-2]) + (k, n)
            tb = ch.coin(0.25)
            if tb:
                b_shape = b_shape[:-2] + (n, k)
        b = add_input(prog, ch, b_shape, ch.pick((prog.types[a].dtype, draw_dtype(ch))))
        return (a, b), {"transpose_a": ta, "transpose_b": tb}

    def apply(ts, params, shadow):
        ts = _zero_free(ts)
        return gj.matmul(ts[0], ts[1], **params)
    return make, apply


@spec("tensordot")
def _tensordot():
    def make(ch, prog, want_error):
        a = pick_value(ch, prog, lambda t: t is not None and t.dtype is not gj.bool and len(t.shape) <= 3)
        if a is None:
            return None
        shape = _shape(prog, a)
        count = ch.int(0, min(len(shape), 2))
        a_axes = [ch.int(0, len(shape) - 1) for _ in range(count)]
        if len(set(a_axes)) != count:
            return None
        free = [ch.int(1, 3) for _ in range(ch.int(0, 2))]
        b_dims = free + [shape[i] for i in a_axes]
        order = list(range(len(b_dims)))
        for i in range(len(order) - 1, 0, -1):
            j = ch.int(0, i)
            order[i], order[j] = order[j], order[i]
        b_shape = tuple(b_dims[o] for o in order)
        b_axes = [order.index(len(free) + i) for i in range(count)]
        b = add_input(prog, ch, b_shape, ch.pick((prog.types[a].dtype, draw_dtype(ch))))
        return (a, b), {"axes": (a_axes, b_axes)}

    def apply(ts, params, shadow):
        ts = _zero_free(ts)
        return gj.tensordot(ts[0], ts[1], axes=[list(params["axes"][0]), list(params["axes"][1])])
    return make, apply


# ---- shapes -----------------------------------------------------------------------------------------------
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
        size = int(np.prod(_shape(prog, x)))
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
        perm = list(range(len(_shape(prog, x))))
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
        rank = len(_shape(prog, x))
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
        ones = [i for i, d in enumerate(_shape(prog, x)) if d == 1]
        axis = None if ch.coin(0.3) else sorted({ch.pick(ones) for _ in range(ch.int(1, len(ones)))})
        return (x,), {"axis": axis}

    def apply(ts, params, shadow):
        return gj.squeeze(ts[0], params["axis"])
    return make, apply


@spec("broadcast_to")
def _broadcast_to():
    def make(ch, prog, want_error):
        x = pick_value(ch, prog)
        shape = tuple(ch.int(1, 4) if d == 1 and ch.coin(0.6) else d for d in _shape(prog, x))
        return (x,), {"shape": tuple(ch.int(1, 3) for _ in range(ch.int(0, 2))) + shape}

    def apply(ts, params, shadow):
        return gj.broadcast_to(ts[0], params["shape"])
    return make, apply


def _joined(name, public, stack):
    def make(ch, prog, want_error):
        x = pick_value(ch, prog)
        shape = _shape(prog, x)
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
        return (x,), {"multiples": tuple(ch.pick((1, 1, 2, 3, 0)) for _ in _shape(prog, x))}

    def apply(ts, params, shadow):
        return gj.tile(ts[0], params["multiples"])
    return make, apply


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
        shape = _shape(prog, x)
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
        for d in _shape(prog, x):
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
        rank = len(_shape(prog, x))
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


@spec("gather", runtime_error=True)
def _gather():
    def make(ch, prog, want_error):
        x = pick_value(ch, prog, lambda t: t is not None and len(t.shape) >= 1)
        if x is None:
            return None
        shape = _shape(prog, x)
        axis = ch.int(0, len(shape) - 1)
        index_shape = tuple(ch.int(0, 3) for _ in range(ch.int(0, 2)))
        i, bad = _index_input(ch, prog, shape[axis], index_shape, want_error, allow_negative=False)
        return (x, i), {"axis": axis - len(shape) if ch.coin(0.3) else axis, "bad": bad}

    def apply(ts, params, shadow):
        return gj.gather(ts[0], ts[1], axis=params["axis"])
    return make, apply


@spec("scatter_add", runtime_error=True)
def _scatter_add():
    """x with updates added at x[:, ..., i] along one axis; i repeats positions and counts negatives from the end
    (NumPy's np.add.at, getitem's indices)."""
    def make(ch, prog, want_error):
        x = pick_value(ch, prog, lambda t: t is not None and len(t.shape) >= 1)
        if x is None:
            return None
        shape = _shape(prog, x)
        axis = ch.int(0, len(shape) - 1)
        index_shape = tuple(ch.int(0, 3) for _ in range(ch.int(0, 2)))
        i, bad = _index_input(ch, prog, shape[axis], index_shape, want_error, allow_negative=True)
        u = add_input(prog, ch, tuple(shape[:axis]) + prog.types[i].shape + tuple(shape[axis + 1:]),
                      prog.types[x].dtype)
        return (x, i, u), {"axis": axis, "bad": bad}

    def apply(ts, params, shadow):
        key = (Slice(None, None, None),) * params["axis"] + (In(1),)
        return OPS["scatter_add"].bind(ts[0], ts[2], ts[1], key=key)
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


# ---- selections -------------------------------------------------------------------------------------------
@spec("where")
def _where():
    def make(ch, prog, want_error):
        c = pick_value(ch, prog, lambda t: t is not None and t.dtype is gj.bool) if ch.coin(0.7) else None
        c = pick_value(ch, prog) if c is None else c
        shape = _shape(prog, c)
        args, params = [c], {}
        for side in ("x", "y"):
            if ch.coin(0.2):
                params[side] = ch.pick(SCALARS)
            else:
                args.append(_partner(ch, prog, shape))
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
                args.append(_partner(ch, prog, _shape(prog, x)))
        return tuple(args), params

    def apply(ts, params, shadow):
        rest = list(ts[1:])
        lo = params["lo"] if "lo" in params else rest.pop(0)
        hi = params["hi"] if "hi" in params else rest.pop(0)
        return _plus_zero(gj.clip_by_value(ts[0], lo, hi))
    return make, apply


# ---- creation ---------------------------------------------------------------------------------------------
def _small_shape(ch):
    return tuple(ch.int(0, 4) if ch.coin(0.1) else ch.int(1, 4) for _ in range(ch.int(0, 3)))


@spec("fill")
def _fill():
    def make(ch, prog, want_error):
        v = pick_value(ch, prog, lambda t: t is not None and t.shape == ())
        if v is None:
            v = add_input(prog, ch, (), draw_dtype(ch))
        return (v,), {"shape": _small_shape(ch)}

    def apply(ts, params, shadow):
        return gj.fill(params["shape"], ts[0])
    return make, apply


def _shaped(name):
    def make(ch, prog, want_error):
        return (), {"shape": _small_shape(ch), "dtype": ch.pick(DTYPES)}

    def apply(ts, params, shadow):
        return API[name](params["shape"], shadow_dtype(params["dtype"], shadow))
    SPECS[name] = Spec(name, name, make, apply)


_shaped("zeros")
_shaped("ones")


@spec("constant")
def _constant():
    def make(ch, prog, want_error):
        from fuzz_graphs import random_values
        dtype = draw_dtype(ch)
        return (), {"value": random_values(np.random.default_rng(ch.int(0, 2 ** 31)), _small_shape(ch), dtype)}

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
        a = _float_value(ch, prog)
        if a is None or len(_shape(prog, a)) > 2:
            return None
        b = _partner(ch, prog, _shape(prog, a), prog.types[a].dtype)
        rank = len(np.broadcast_shapes(_shape(prog, a), _shape(prog, b)))
        return (a, b), {"num": ch.int(0, 5), "axis": ch.int(-rank - 1, rank)}

    def apply(ts, params, shadow):
        return gj.linspace(ts[0], ts[1], params["num"], axis=params["axis"])
    return make, apply


for _name, _op in sorted(OPS.items()):
    if _name not in SPECS and _name not in EXCLUDED:
        _arity = _probe_arity(_op)
        if _arity is not None:
            _elementwise_spec(_name, _arity)


# ---- scans and sorts (tracer/ops/scan.py) -----------------------------------------------------------------
def _along_axis(name, extra):
    def make(ch, prog, want_error):
        x = pick_value(ch, prog, lambda t: t is not None and len(t.shape) >= 1)
        if x is None:
            return None
        return (x,), {"axis": ch.int(0, len(_shape(prog, x)) - 1), **extra(ch)}

    def apply(ts, params, shadow):
        return OPS[name].bind(ts[0], **params)
    SPECS[name] = Spec(name, name, make, apply)


_along_axis("cumsum", lambda ch: {"exclusive": ch.coin(0.3), "reverse": ch.coin(0.3)})
_along_axis("cumprod", lambda ch: {"exclusive": ch.coin(0.3), "reverse": ch.coin(0.3)})
_along_axis("sort", lambda ch: {"descending": ch.coin(0.4)})
# stable only: an unstable argsort's order of ties is unspecified (NumPy's own differs between dtypes)
_along_axis("argsort", lambda ch: {"descending": ch.coin(0.4), "stable": True, "output_type": ch.pick(INTS)})
