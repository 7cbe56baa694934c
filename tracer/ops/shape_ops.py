"""Shape ops: reshape, transpose, expand_dims, squeeze, broadcast_to, concat, stack, tile, cast,
identity, stop_gradient (``gather``, ``split`` and ``unstack`` live with the indexing ops).

Shapes are static while tracing, so shape arguments become attributes (``reshape {shape=(2, 3)}``).
"""
import operator

import numpy as np

from ..attrs import Axes, Axis, Dtype, Ints, Shape
from ..dtypes import result_type
from ..errors import InvalidArgumentError, UnimplementedError
from ..ir import TensorType
from .. import lowering as L
from ..lowering import Kernel, Scalar, View
from ..registry import NOT_DIFFERENTIABLE, OPS, Op, export, numpy_adapter, register
from ..shapes import broadcast_shapes, inverse_permutation, normalize_axes, normalize_axis, num_elements
from ..symbolic import SymInt
from ..tensor import EagerTensor, SymbolicTensor, as_dtype_arg, convert_to_tensor
from .indexing import located, piece_bounds, pieces, static_axis, unstack


def static_shape(shape, what="shape", allow_minus_one=False):
    """A shape argument (int, list/tuple, TensorShape, concrete 1-D int tensor or array) -> tuple of ints.

    A symbolic shape would make the result's shape data-dependent, which graphs here cannot express.
    """
    if getattr(shape, "_as_tensor", None) is not None:
        shape = convert_to_tensor(shape, what=what)
    if isinstance(shape, SymbolicTensor):
        raise UnimplementedError(f"{what} is a symbolic tensor: shapes must be known while tracing (use "
                                 f"the static t.shape, or pass the shape as a Python value)")
    if isinstance(shape, EagerTensor):
        shape = shape._value
    if isinstance(shape, np.ndarray):
        if shape.dtype.kind not in "iu" or shape.ndim > 1:
            raise InvalidArgumentError(f"{what} must be a 1-D integer tensor, got {shape.dtype}{list(shape.shape)}")
        shape = shape.reshape(-1).tolist()
    if not isinstance(shape, (list, tuple)):
        shape = (shape,)
    dims = []
    for d in shape:
        if isinstance(d, SymbolicTensor):
            raise UnimplementedError(f"{what} contains a symbolic tensor: shapes must be known while tracing")
        if d is None:
            raise InvalidArgumentError(f"{what}={tuple(shape)} has an unknown (None) dimension")
        if isinstance(d, SymInt):   # a size of an input_signature's None dim (the rules' own shapes): kept
            dims.append(d)
            continue
        if isinstance(d, (bool, np.bool_)):
            raise InvalidArgumentError(f"{what} must contain ints, got {shape!r}")
        try:
            d = operator.index(d)
        except TypeError:
            raise InvalidArgumentError(f"{what} must contain ints, got {shape!r}") from None
        if d < 0 and not (allow_minus_one and d == -1):
            raise InvalidArgumentError(f"{what}={tuple(shape)} has a negative dimension")
        dims.append(d)
    return tuple(dims)


# ---- reshape, transpose, expand_dims, squeeze, broadcast_to ---------------------------------------

def resolve_reshape(in_shape, shape):
    """``shape`` with its (single) -1 resolved; a clear error naming both shapes when sizes differ."""
    size = num_elements(in_shape)
    unknown = [i for i, d in enumerate(shape) if d == -1]
    if len(unknown) > 1:
        raise InvalidArgumentError(f"shape {tuple(shape)} may contain at most one -1")
    if any(d < -1 for d in shape):
        raise InvalidArgumentError(f"shape {tuple(shape)} has a negative dimension")
    known = num_elements(d for d in shape if d != -1)
    if unknown:
        if known == 0 or size % known:
            raise InvalidArgumentError(f"cannot reshape a tensor of shape {tuple(in_shape)} ({size} elements) "
                                       f"into shape {tuple(shape)}: the -1 cannot be inferred")
        shape = tuple(size // known if d == -1 else d for d in shape)
    elif known != size:
        raise InvalidArgumentError(f"cannot reshape a tensor of shape {tuple(in_shape)} ({size} elements) "
                                   f"into shape {tuple(shape)} ({known} elements)")
    return tuple(shape)


# A -1 stays in the shape only where the input's dims are unknown (compat.v1): each run resolves it.
RESHAPE = register(Op("reshape", infer=lambda x, *, shape: TensorType(resolve_reshape(x.shape, shape), x.dtype),
                      eager=lambda x, *, shape: x.reshape(shape), attrs={"shape": Shape(minus_one=True, symbolic=True)}))


@export("reshape")
@located
def reshape(tensor, shape, name=None):
    """``tensor`` with the same elements in a new shape (one dimension may be -1: inferred)."""
    x = convert_to_tensor(tensor, what="reshape(tensor)")
    requested = static_shape(shape, "reshape(shape)", allow_minus_one=True)
    if x.type.shape is None or None in x.type.shape:  # a compat.v1 tensor of partly unknown shape: -1 per run
        return RESHAPE.bind(x, shape=requested)
    new_shape = RESHAPE.infer_checked([x.type], {"shape": requested}).shape  # the -1 resolved, or a clear error
    return x if new_shape == tuple(x.shape) else RESHAPE.bind(x, shape=new_shape)


@numpy_adapter(np.reshape)
@located
def _np_reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    if order != "C":
        raise UnimplementedError(f"numpy.reshape on graphjit tensors supports only order='C', got {order!r}")
    return reshape(a, shape if shape is not None else newshape)


def _transpose_infer(x, *, perm):
    if sorted(perm) != list(range(len(x.shape))):
        raise InvalidArgumentError(f"perm={perm} is not a permutation of the {len(x.shape)} axes of shape "
                                   f"{tuple(x.shape)}")
    return TensorType(tuple(x.shape[p] for p in perm), x.dtype)


TRANSPOSE = register(Op("transpose", infer=_transpose_infer, eager=lambda x, *, perm: np.transpose(x, perm),
                        attrs={"perm": Axes()}))


@export("transpose", "linalg.transpose")
@located
def transpose(a, perm=None, conjugate=False, name=None):
    """Permutes the axes (``perm[i]`` is the input axis of output axis i); ``perm=None`` reverses them."""
    x = convert_to_tensor(a, what="transpose(a)")
    ndim = len(x.shape)
    if perm is None:
        perm = tuple(reversed(range(ndim)))
    else:
        perm = static_shape(perm, "transpose(perm)") if not isinstance(perm, (list, tuple)) else perm
        if len(perm) != ndim:
            raise InvalidArgumentError(f"transpose: perm={tuple(perm)} has {len(perm)} entries but the tensor has "
                                       f"shape {tuple(x.shape)} (rank {ndim})")
        perm = tuple(normalize_axis(p, ndim, "transpose(perm)") for p in perm)  # NumPy allows negative axes
    return TRANSPOSE.bind(x, perm=perm)


@numpy_adapter(np.transpose)
@located
def _np_transpose(a, axes=None):
    return transpose(a, axes)


def _expand_dims_infer(x, *, axis):
    shape = list(x.shape)
    shape.insert(normalize_axis(axis, len(shape) + 1, "expand_dims(axis)"), 1)
    return TensorType(tuple(shape), x.dtype)


EXPAND_DIMS = register(Op("expand_dims", infer=_expand_dims_infer,
                          eager=lambda x, *, axis: np.expand_dims(x, axis), attrs={"axis": Axis()}))


@export("expand_dims")
@located
def expand_dims(input, axis, name=None):  # noqa: A002
    """Inserts a dimension of size 1 at ``axis`` (in [-rank-1, rank])."""
    x = convert_to_tensor(input, what="expand_dims(input)")
    axis = normalize_axis(static_axis(axis), len(x.shape) + 1, "expand_dims(axis)")
    return EXPAND_DIMS.bind(x, axis=axis)


@numpy_adapter(np.expand_dims)
@located
def _np_expand_dims(a, axis):
    x = convert_to_tensor(a, what="numpy.expand_dims(a)")
    if not isinstance(axis, (list, tuple)):
        return expand_dims(x, axis)
    out_ndim = len(x.shape) + len(axis)  # NumPy: each axis is a position in the output
    axes = set(normalize_axes(tuple(axis), out_ndim, "numpy.expand_dims(axis)"))
    it = iter(x.shape)
    return reshape(x, tuple(1 if i in axes else next(it) for i in range(out_ndim)))


def _squeeze_infer(x, *, axis):
    for a in axis:
        if x.shape[a] != 1:
            raise InvalidArgumentError(f"cannot squeeze axis {a} of shape {tuple(x.shape)}: its size is "
                                       f"{x.shape[a]}, not 1")
    return TensorType(tuple(d for i, d in enumerate(x.shape) if i not in axis), x.dtype)


SQUEEZE = register(Op("squeeze", infer=_squeeze_infer, eager=lambda x, *, axis: np.squeeze(x, axis),
                      attrs={"axis": Axes()}))


@export("squeeze")
@located
def squeeze(input, axis=None, name=None):  # noqa: A002
    """Removes dimensions of size 1: all of them (``axis=None``) or those listed (each must be 1)."""
    x = convert_to_tensor(input, what="squeeze(input)")
    if axis is None:
        axes = tuple(i for i, d in enumerate(x.shape) if d == 1)
    else:
        axes = normalize_axes(list(axis) if isinstance(axis, (list, tuple)) else static_axis(axis),
                              len(x.shape), "squeeze(axis)")
    return SQUEEZE.bind(x, axis=axes)


@numpy_adapter(np.squeeze)
@located
def _np_squeeze(a, axis=None):
    return squeeze(a, axis)


def _broadcast_to_infer(x, *, shape):
    try:
        compatible = len(x.shape) <= len(shape) and broadcast_shapes(x.shape, shape) == tuple(shape)
    except InvalidArgumentError:
        compatible = False
    if not compatible:
        raise InvalidArgumentError(f"cannot broadcast a tensor of shape {tuple(x.shape)} to shape {tuple(shape)}")
    return TensorType(tuple(shape), x.dtype)


# A contiguous copy, not NumPy's read-only zero-stride view: NumPy code given the value may write to it.
BROADCAST_TO = register(Op("broadcast_to", infer=_broadcast_to_infer,
                           eager=lambda x, *, shape: np.array(np.broadcast_to(x, shape)),
                           attrs={"shape": Shape(symbolic=True)}))


@export("broadcast_to")
@located
def broadcast_to(input, shape, name=None):  # noqa: A002
    """``input`` repeated along new or size-1 dimensions to ``shape`` (NumPy broadcasting rules)."""
    x = convert_to_tensor(input, what="broadcast_to(input)")
    return BROADCAST_TO.bind(x, shape=static_shape(shape, "broadcast_to(shape)"))


@numpy_adapter(np.broadcast_to)
@located
def _np_broadcast_to(array, shape, subok=False):
    return broadcast_to(array, shape)


# ---- concat, stack, tile ----------------------------------------------------------------------

def _concat_infer(*values, axis):
    shapes = [tuple(v.shape) for v in values]
    if not values or len(shapes[0]) == 0:
        raise InvalidArgumentError("needs one or more tensors of rank >= 1" if values else "needs one or more "
                                   "tensors")
    for s in shapes[1:]:
        if len(s) != len(shapes[0]) or any(a != b for i, (a, b) in enumerate(zip(s, shapes[0])) if i != axis):
            raise InvalidArgumentError(f"shapes {shapes[0]} and {s} disagree outside axis {axis} (all shapes: "
                                       f"{', '.join(map(str, shapes))})")
    out = list(shapes[0])
    out[axis] = sum(s[axis] for s in shapes)
    return TensorType(tuple(out), result_type(*(v.dtype for v in values)))


CONCAT = register(Op("concat", infer=_concat_infer, eager=lambda *xs, axis: np.concatenate(xs, axis),
                     attrs={"axis": Axis()}))


def _tensor_list(values, what):
    if isinstance(values, (EagerTensor, SymbolicTensor)):
        return list(values)  # a tensor is a list of its rows, as in TF
    tensors = [convert_to_tensor(v, what=f"{what}[{i}]") for i, v in enumerate(values)]
    if not tensors:
        raise InvalidArgumentError(f"{what} must contain at least one tensor")
    return tensors


@export("concat")
@located
def concat(values, axis, name=None):
    """Joins tensors along an existing axis; dtypes are promoted as by NumPy's ``concatenate``."""
    tensors = _tensor_list(values, "concat(values)")
    if len(tensors[0].shape) == 0:
        raise InvalidArgumentError(f"concat: values[0] is a scalar; concat needs tensors of rank >= 1 "
                                   f"(use gj.stack to join scalars)")
    axis = normalize_axis(static_axis(axis), len(tensors[0].shape), "concat(axis)")
    return CONCAT.bind(*tensors, axis=axis)


@numpy_adapter(np.concatenate)
@located
def _np_concatenate(arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    if out is not None:
        raise UnimplementedError("numpy.concatenate on graphjit tensors does not support out=")
    tensors = _tensor_list(arrays, "numpy.concatenate(arrays)")
    if axis is None:
        tensors, axis = [reshape(t, (-1,)) for t in tensors], 0
    result = concat(tensors, axis)
    return result if dtype is None else cast(result, dtype)


def _stack_infer(*values, axis):
    shapes = [tuple(v.shape) for v in values]
    if not values:
        raise InvalidArgumentError("needs one or more tensors")
    for s in shapes[1:]:
        if s != shapes[0]:
            raise InvalidArgumentError(f"all tensors must have the same shape, got {', '.join(map(str, shapes))}")
    out = list(shapes[0])
    out.insert(axis, len(values))
    return TensorType(tuple(out), result_type(*(v.dtype for v in values)))


STACK = register(Op("stack", infer=_stack_infer, eager=lambda *xs, axis: np.stack(xs, axis), attrs={"axis": Axis()}))


@export("stack")
@located
def stack(values, axis=0, name=None):
    """Joins same-shape tensors along a new axis (``axis`` in [-rank-1, rank]); dtypes promote as in NumPy."""
    tensors = _tensor_list(values, "stack(values)")
    axis = normalize_axis(static_axis(axis), len(tensors[0].shape) + 1, "stack(axis)")
    return STACK.bind(*tensors, axis=axis)


@numpy_adapter(np.stack)
@located
def _np_stack(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    if out is not None:
        raise UnimplementedError("numpy.stack on graphjit tensors does not support out=")
    result = stack(arrays, axis)
    return result if dtype is None else cast(result, dtype)


def _tile_infer(x, *, multiples):
    if len(multiples) != len(x.shape):
        raise InvalidArgumentError(f"multiples={multiples} must have one entry per dimension of shape "
                                   f"{tuple(x.shape)}")
    return TensorType(tuple(d * m for d, m in zip(x.shape, multiples)), x.dtype)


TILE = register(Op("tile", infer=_tile_infer, eager=lambda x, *, multiples: np.tile(x, multiples),
                   attrs={"multiples": Ints()}))


@export("tile")
@located
def tile(input, multiples, name=None):  # noqa: A002
    """``input`` repeated ``multiples[i]`` times along each axis i (one multiple per axis)."""
    x = convert_to_tensor(input, what="tile(input)")
    return TILE.bind(x, multiples=static_shape(multiples, "tile(multiples)"))


@numpy_adapter(np.tile)
@located
def _np_tile(A, reps):
    x = convert_to_tensor(A, what="numpy.tile(A)")
    reps = static_shape(reps, "numpy.tile(reps)")
    if len(reps) > len(x.shape):  # NumPy prepends size-1 dims to A, or ones to reps
        x = reshape(x, (1,) * (len(reps) - len(x.shape)) + tuple(x.shape))
    return tile(x, (1,) * (len(x.shape) - len(reps)) + reps)


# ---- cast, identity, stop_gradient ----------------------------------------------------------------

def _cast(x, *, dtype):
    target = dtype.np
    if x.dtype == target:
        return x
    if dtype.is_bool:
        return x != 0  # NaN is nonzero, so True (NumPy's astype(bool))
    with np.errstate(invalid="ignore", over="ignore"):
        out = x.astype(target)
        if x.dtype.kind == "f" and dtype.is_integer:
            # NumPy leaves NaN, inf and out-of-range values unspecified (platform-dependent); follow TF on
            # x86 CPUs deterministically: they become the integer minimum.
            bits = 8 * target.itemsize
            t = np.trunc(x.astype(np.float64))
            valid = (t >= -2.0 ** (bits - 1)) & (t < 2.0 ** (bits - 1))
            if not valid.all():
                out = np.where(valid, out, np.iinfo(target).min)
    return out


CAST = register(Op("cast", infer=lambda x, *, dtype: TensorType(x.shape, dtype), eager=_cast, check_eager=False,
                   attrs={"dtype": Dtype()},
                   doc="NumPy astype; float->int truncates, NaN/inf/out-of-range give the int minimum."))


@export("cast", "dtypes.cast")
@located
def cast(x, dtype, name=None):
    """``x`` converted to ``dtype`` (NumPy ``astype``: floats truncate toward zero; NaN, inf and out-of-range
    floats become the integer minimum, as TF on x86; ``x != 0`` for bool)."""
    dtype = as_dtype_arg(dtype, "cast(dtype)")
    t = convert_to_tensor(x, what="cast(x)")
    return t if t.dtype is dtype else CAST.bind(t, dtype=dtype)


IDENTITY = register(Op("identity", infer=lambda x: x, eager=lambda x: x, attrs={}, check_eager=False))
# Its own op so that gradients can treat it as a constant; forward it is the identity.
STOP_GRADIENT = register(Op("stop_gradient", infer=lambda x: x, eager=lambda x: x, attrs={}, check_eager=False))


@export("identity")
@located
def identity(input, name=None):  # noqa: A002
    """The same value, as a new tensor (a node of its own in a graph)."""
    return IDENTITY.bind(convert_to_tensor(input, what="identity(input)"))


@export("stop_gradient")
@located
def stop_gradient(input, name=None):  # noqa: A002
    """The same value; gradients do not flow through it."""
    return STOP_GRADIENT.bind(convert_to_tensor(input, what="stop_gradient(input)"))


__all__ = ["static_shape", "resolve_reshape", "reshape", "transpose", "expand_dims", "squeeze", "broadcast_to",
           "concat", "stack", "tile", "cast", "identity", "stop_gradient"]


# ---- lowering --------------------------------------------------------------------------------------
# View ops compile to index maps (no copies); cast is lowering's cast primitive, whose NaN/inf/out-of-range
# floats cast to ints give the integer minimum, matching the eager implementation.

for _name in ("reshape", "transpose", "expand_dims", "squeeze", "broadcast_to", "identity", "stop_gradient"):
    OPS[_name].lower = View(_name)
OPS["cast"].lower = Scalar(lambda args, ins, out: L.cast(args[0], out))
CONCAT.lower = Kernel("concat")
STACK.lower = Kernel("stack")
TILE.lower = Kernel("tile")


# ---- shape, size, rank: a tensor's static facts as tensors (TF's tf.shape, tf.size, tf.rank) -------------
# Traced shapes are static, so these are constants; only compat.v1 graphs have unknown dims (placeholders of
# shape [None, 3]), and there ``shape`` is an op whose value the run computes.

def _shape_infer(x, *, out_type):
    return TensorType((len(x.shape),), out_type)


def _shape(x, *, out_type):
    return np.array(x.shape, dtype=out_type.np)


SHAPE = register(Op("shape", infer=_shape_infer, eager=_shape, attrs={"out_type": Dtype()},
                    doc="The shape of a tensor as a 1-D int tensor.", lower=Kernel("shape")))


def _shape_query(input, out_type, where):
    """(tensor, out_type, its static dims or None) for gj.shape / gj.size: int32 by default, as TF."""
    from ..dtypes import int32
    out_type = as_dtype_arg(int32 if out_type is None else out_type, f"{where}(out_type)")
    if not out_type.is_integer:
        raise InvalidArgumentError(f"{where}: out_type must be int32 or int64, got {out_type.name}")
    x = convert_to_tensor(input, what=f"{where}(input)")
    return x, out_type, (None if x.shape is None else tuple(x.shape))


@export("shape")
@located
def shape(input, out_type=None, name=None):
    """``input``'s shape as a 1-D tensor of ``out_type`` (int32 by default, as TF)."""
    x, out_type, dims = _shape_query(input, out_type, "shape")
    if dims is not None and None not in dims:
        return convert_to_tensor(np.array(dims, dtype=out_type.np))
    return SHAPE.bind(x, out_type=out_type)


@export("size")
@located
def size(input, out_type=None, name=None):
    """The number of elements of ``input`` as a scalar of ``out_type`` (int32 by default, as TF)."""
    x, out_type, dims = _shape_query(input, out_type, "size")
    if dims is None:
        return _unknown(x, "size")
    if None in dims:   # the product of the run's dims (reduce_prod of ints is int64, as NumPy's)
        from .reductions import reduce_prod
        return cast(reduce_prod(SHAPE.bind(x, out_type=out_type)), out_type)
    return convert_to_tensor(np.array(num_elements(dims), dtype=out_type.np))


@export("rank")
@located
def rank(input, name=None):
    """The number of dimensions of ``input`` as an int32 scalar."""
    x = convert_to_tensor(input, what="rank(input)")
    if x.shape is None:
        return _unknown(x, "rank")
    return convert_to_tensor(np.array(len(tuple(x.shape)), dtype=np.int32))


def _unknown(x, what):
    raise UnimplementedError(f"{what}: the rank of {x} is unknown (a compat.v1 placeholder without a shape)")


# ---- gradients (tracer.autodiff): views move the upstream gradient back to the input's layout ----------------

def _untiled(g, shape, multiples):
    """The sum over the tiles: np.tile lays out axis i as (multiples[i], shape[i]), tile-major."""
    if not shape:
        return g
    split = tuple(size for pair in zip(multiples, shape) for size in pair)
    return OPS["reduce_sum"].bind(RESHAPE.bind(g, shape=split), axis=tuple(range(0, len(split), 2)), keepdims=False)


def _same_shape_as_input(g, y, x, **_):
    return (RESHAPE.bind(g, shape=tuple(x.shape)),)


for _op in (RESHAPE, EXPAND_DIMS, SQUEEZE):
    _op.grad = _same_shape_as_input
TRANSPOSE.grad = lambda g, y, x, *, perm: (TRANSPOSE.bind(g, perm=inverse_permutation(perm)),)
BROADCAST_TO.grad = lambda g, y, x, *, shape: (g,)   # the tape sums the broadcast axes (autodiff.unbroadcast)
IDENTITY.grad = lambda g, y, x: (g,)
# concat and stack hand each input its part of the upstream gradient
CONCAT.grad = lambda g, y, *xs, axis: tuple(pieces(g, axis, piece_bounds([x.shape[axis] for x in xs])))
STACK.grad = lambda g, y, *xs, axis: tuple(unstack(g, axis=axis))
TILE.grad = lambda g, y, x, *, multiples: (_untiled(g, tuple(x.shape), multiples),)
CAST.grad = lambda g, y, x, *, dtype: (g,)           # back in x's dtype: the tape casts; ints get none
STOP_GRADIENT.grad = NOT_DIFFERENTIABLE
SHAPE.grad = NOT_DIFFERENTIABLE
