"""Value cases for shape and indexing ops (see support.Case); references are plain NumPy."""
import numpy as np

import graphjit as gj

from graphjit.tracer.ir import In, Slice

from support import Case

DTYPES = (np.bool_, np.int32, np.int64, np.float32, np.float64)


def sample(shape, dtype, seed=0):
    """Distinct-ish values of any dtype (bools alternate), so reorderings are visible."""
    values = np.random.default_rng(seed).permutation(int(np.prod(shape))).reshape(shape)
    return (values % 2 == 1) if dtype is np.bool_ else values.astype(dtype) - 3


def _name(op, dtype, what=""):
    return f"{op}-{np.dtype(dtype).name}" + (f"-{what}" if what else "")


CASES = []
for dt in DTYPES:
    A = sample((2, 3, 4), dt)
    B = sample((2, 5, 4), dt, seed=1)
    CASES += [
        Case(("reshape",), lambda x: gj.reshape(x, (4, -1)), (A,), lambda x: x.reshape(4, 6),
             name=_name("reshape", dt, "minus1")),
        Case(("transpose",), lambda x: gj.transpose(x, (2, 0, 1)), (A,), lambda x: x.transpose(2, 0, 1),
             name=_name("transpose", dt)),
        Case(("expand_dims",), lambda x: gj.expand_dims(x, -1), (A,), lambda x: x[..., None],
             name=_name("expand_dims", dt)),
        Case(("concat",), lambda x, y: gj.concat([x, y], axis=-2), (A, B),
             lambda x, y: np.concatenate([x, y], 1), name=_name("concat", dt)),
        Case(("stack",), lambda x, y: gj.stack([x, y], axis=1), (A, A[:, ::-1]),
             lambda x, y: np.stack([x, y], 1), name=_name("stack", dt)),
        Case(("tile",), lambda x: gj.tile(x, (2, 1, 3)), (A,), lambda x: np.tile(x, (2, 1, 3)),
             name=_name("tile", dt)),
        Case(("gather",), lambda x, i: gj.gather(x, i, axis=1), (A, np.array([[2, 0], [1, 1]], np.int64)),
             lambda x, i: np.take(x, i, axis=1), name=_name("gather", dt)),
        Case(("broadcast_to",), lambda x: gj.broadcast_to(x, (3, 2, 1, 4)), (A[:, :1],),
             lambda x: np.broadcast_to(x, (3, 2, 1, 4)).copy(), name=_name("broadcast_to", dt)),
        Case(("squeeze",), lambda x: gj.squeeze(x, (0, -1)), (A[None, :, :, :1],), lambda x: x[0, :, :, 0],
             name=_name("squeeze", dt)),
        Case(("getitem",), lambda x: x[1, ::-2, None, 1:3], (A,), lambda x: x[1, ::-2, None, 1:3],
             name=_name("getitem", dt, "basic")),
        # one integer tensor in the key (a take kernel when compiled), negative indices counting from the end,
        # alone and with an int that a slice separates from it (NumPy then puts the tensor's dims first)
        Case(("getitem",), lambda x, i, j: (x[i], x[:, j], x[:, :, i]), (A, np.array([[1, -2], [0, 0]], np.int32),
                                                                   np.array([-3, 2, 0], np.int64)),
             lambda x, i, j: (x[i], x[:, j], x[:, :, i]), name=_name("getitem", dt, "take")),
        Case(("getitem",), lambda x, i: x[i, 1:, 2], (A, np.array([1, -1], np.int64)),
             lambda x, i: x[i, 1:, 2], name=_name("getitem", dt, "mixed")),
        Case(("getitem",), lambda x, i, j: x[i, j], (A, np.array([1, 0], np.int64), np.array([[2], [0]], np.int32)),
             lambda x, i, j: x[i, j], name=_name("getitem", dt, "two-tensors")),   # stays eager
        Case(("identity", "stop_gradient"), lambda x: (gj.identity(x), gj.stop_gradient(x)), (A,),
             lambda x: (x, x), name=_name("identity", dt)),
    ]
    for to in DTYPES:  # every cast pair, on values that are exact in every dtype
        if to is not dt:
            CASES.append(Case(("cast",), lambda x, to=to: gj.cast(x, to), (A,),
                              lambda x, to=to: x.astype(to), name=_name("cast", dt, np.dtype(to).name)))


def _cast_float_to_int_reference(x, to):
    # Independent reference: truncate in Python; NaN, inf and out-of-range give the int minimum.
    info = np.iinfo(to)
    out = [int(v) if np.isfinite(v) and info.min <= int(v) <= info.max else info.min for v in x.tolist()]
    return np.array(out, dtype=to)


EDGE = np.array([np.nan, np.inf, -np.inf, -0.0, 0.5, -0.5, 2.9, -2.9, 3e9, -3e9, 2147483647.0, 1e19, -1e30],
                np.float64)
X = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
I32 = np.array([[0, 2, 1], [1, 1, 0]], np.int32)

CASES += [
    Case(("cast",), lambda x: gj.cast(x, gj.int32), (EDGE,), lambda x: _cast_float_to_int_reference(x, np.int32),
         name="cast-float64-int32-edges"),
    Case(("cast",), lambda x: gj.cast(x, gj.int64), (EDGE.astype(np.float32),),
         lambda x: _cast_float_to_int_reference(x.astype(np.float64), np.int64), name="cast-float32-int64-edges"),
    Case(("cast",), lambda x: gj.cast(x, gj.bool), (EDGE,), lambda x: np.array([v != 0 for v in x.tolist()]),
         name="cast-float-bool-nan-is-true"),
    Case(("cast",), lambda x: gj.cast(x, gj.float32), (EDGE,), lambda x: x.astype(np.float32),
         name="cast-float64-float32-overflow"),
    Case(("cast",), lambda x: gj.cast(x, gj.int32), (np.array([2 ** 40 + 5, -(2 ** 33) - 1], np.int64),),
         lambda x: x.astype(np.int32), name="cast-int64-int32-wraps"),
    # reshape
    Case(("reshape",), lambda x: gj.reshape(x, [-1]), (X,), lambda x: x.ravel(), name="reshape-flatten"),
    Case(("reshape",), lambda x: gj.reshape(x, (-1, 2, 2)), (np.zeros((0, 4), np.float32),),
         lambda x: x.reshape(0, 2, 2), name="reshape-empty"),
    Case(("reshape",), lambda x: gj.reshape(x, ()), (np.float64([[7.5]]),), lambda x: x.reshape(()),
         name="reshape-to-scalar"),
    # transpose
    Case(("transpose",), gj.transpose, (X,), lambda x: x.T, name="transpose-default-reverses"),
    Case(("transpose",), lambda x: gj.transpose(x, [0, -1, 1]), (X,), lambda x: x.transpose(0, 2, 1),
         name="transpose-negative-perm"),
    Case(("transpose",), gj.transpose, (np.zeros((0, 3), np.int32),), lambda x: x.T, name="transpose-empty"),
    # expand_dims / squeeze
    Case(("expand_dims",), lambda x: gj.expand_dims(x, 0), (np.float32(3.5),), lambda x: np.array([x]),
         name="expand_dims-scalar"),
    Case(("expand_dims",), lambda x: gj.expand_dims(x, -4), (X,), lambda x: x[None], name="expand_dims-neg"),
    Case(("squeeze",), gj.squeeze, (np.zeros((1, 0, 1, 3), np.int64),), lambda x: x.reshape(0, 3),
         name="squeeze-all"),
    Case(("squeeze",), lambda x: gj.squeeze(x, -2), (X[:, :1, :1],), lambda x: x[:, :, 0], name="squeeze-neg"),
    # broadcast_to / tile
    Case(("broadcast_to",), lambda x: gj.broadcast_to(x, (2, 3)), (np.float32(1.5),),
         lambda x: np.full((2, 3), x), name="broadcast_to-scalar"),
    Case(("broadcast_to",), lambda x: gj.broadcast_to(x, (0, 4)), (np.arange(4, dtype=np.int32),),
         lambda x: np.zeros((0, 4), np.int32), name="broadcast_to-empty"),
    Case(("tile",), lambda x: gj.tile(x, [0, 2]), (I32,), lambda x: np.zeros((0, 6), np.int32), name="tile-zero"),
    # concat / stack: promotion, empties
    Case(("concat",), lambda x, y, z: gj.concat([x, y, z], 0),
         (np.array([True, False]), np.int32([5]), np.float32([0.5, 1.5])),
         lambda x, y, z: np.concatenate([x, y, z]), name="concat-promotes-bool-int32-float32"),
    Case(("concat",), lambda x, y: gj.concat([x, y], 1), (np.zeros((2, 0), np.int64), I32.astype(np.int64)),
         lambda x, y: np.concatenate([x, y], 1), name="concat-empty-piece"),
    Case(("concat",), lambda x: gj.concat([x], 0), (X,), lambda x: x.copy(), name="concat-single"),
    Case(("stack",), lambda x, y: gj.stack([x, y], -1), (np.int32([1, 2]), np.float64([0.5, 1.0])),
         lambda x, y: np.stack([x, y], -1), name="stack-promotes"),
    Case(("stack",), lambda x, y: gj.stack([x, y]), (np.float32(1), np.float32(2)), lambda x, y: np.stack([x, y]),
         name="stack-scalars"),
    Case(("stack",), lambda x: gj.convert_to_tensor([x, x * 2, x]),
         (np.float32(3),), lambda x: np.array([x, 2 * x, x], np.float32), name="stack-via-convert_to_tensor"),
    # split / unstack are getitem nodes
    Case(("getitem",), lambda x: gj.split(x, 2, axis=-1), (X,), lambda x: np.split(x, 2, axis=-1), name="split-n"),
    Case(("getitem",), lambda x: gj.split(x, [1, 0, -1], axis=1), (X,),
         lambda x: [x[:, :1], x[:, 1:1], x[:, 1:]], name="split-sizes"),
    Case(("getitem",), lambda x: gj.unstack(x, axis=1), (X,), lambda x: [x[:, i] for i in range(3)],
         name="unstack"),
    Case(("getitem",), lambda x: gj.slice(x, [1, 0, 2], [1, -1, 2]), (X,), lambda x: x[1:2, :, 2:4],
         name="slice"),
    Case(("getitem",), lambda x: gj.strided_slice(x, [0, 2, 0], [2, 0, 4], [1, -1, 2], new_axis_mask=0,
                                                  begin_mask=1, end_mask=2), (X,), lambda x: x[:, 2::-1, 0:4:2],
         name="strided_slice"),
    # gather edge cases
    Case(("gather",), lambda x, i: gj.gather(x, i), (X, np.int32(1)), lambda x, i: x[1], name="gather-scalar-index"),
    Case(("gather",), lambda x, i: gj.gather(x, i, axis=-1), (X, np.zeros((0, 2), np.int32)),
         lambda x, i: np.take(x, i, axis=2), name="gather-empty-indices"),
    Case(("gather",), lambda x, i: gj.gather(x, i, axis=2), (X, np.int64([3, 3, 0])),
         lambda x, i: x[:, :, [3, 3, 0]], name="gather-repeat"),
]


# scatter_add (getitem's adjoint, used by gradients): np.add.at on a copy; repeated positions add up
def _add_at(tensor, key, updates):
    out = tensor.copy()
    np.add.at(out, key, updates)
    return out


_SCATTER_ADD = gj.tracer.registry.OPS["scatter_add"]
_ALL = Slice(None, None, None)
for dt in DTYPES:
    A, U = sample((2, 3, 4), dt), sample((2, 2, 2, 4), dt, seed=2)
    CASES += [
        Case(("scatter_add",), lambda t, u, i: _SCATTER_ADD.bind(t, u, i, key=(_ALL, In(1))),
             (A, U, np.array([[2, -1], [0, 2]], np.int32)),
             lambda t, u, i: _add_at(t, (slice(None), i), u), name=_name("scatter_add", dt, "repeats")),
    ]
CASES += [
    Case(("scatter_add",), lambda t, u: _SCATTER_ADD.bind(t, u, key=(1, Slice(None, None, -2), None)),
         (X, X[0, ::2, None]),
         lambda t, u: _add_at(t, (1, slice(None, None, -2), None), u), name="scatter_add-basic-key"),
    Case(("scatter_add",), lambda t, u, i, j: _SCATTER_ADD.bind(t, u, i, j, key=(In(1), _ALL, In(2))),
         (X, np.ones((2, 3), np.float32), np.array([1, 1]), np.array([0, 0])),
         lambda t, u, i, j: _add_at(t, (i, slice(None), j), u), name="scatter_add-two-indices-apart"),
    Case(("scatter_add",), lambda t, u, i: _SCATTER_ADD.bind(t, u, i, key=(In(1),)),
         (X, np.zeros((0, 3, 4), np.float32), np.zeros(0, np.int64)), lambda t, u, i: t.copy(),
         name="scatter_add-empty"),
]

# The shape op itself (gj.shape folds static shapes to a constant; the op runs for compat.v1's unknown dims).
_SHAPE_OP = gj.tracer.registry.OPS["shape"]
CASES += [
    Case(("shape",), lambda x, out=out: _SHAPE_OP.bind(gj.convert_to_tensor(x), out_type=out), (sample(shape, dt),),
         lambda x, out=out: np.array(x.shape, out.np), name=f"shape-op-{np.dtype(dt).name}-{len(shape)}d")
    for dt, shape, out in ((np.float32, (2, 3, 4), gj.int32), (np.bool_, (0, 5), gj.int64), (np.int64, (), gj.int32))
]
