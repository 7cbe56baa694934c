"""Indexing: ``tensor[key]`` (NumPy basic and integer-array indexing), ``slice``, ``strided_slice``, ``split``,
``unstack``, ``gather``, and ``scatter_add``, the adjoint of ``tensor[key]`` that their gradients are made of.

One op, ``getitem``, implements every ``tensor[key]``: the static part of the key (ints, slices, None,
Ellipsis) is a hashable attribute, and integer tensors/arrays in the key are op inputs (``In(k)``
marks where input k goes). The result shape comes from NumPy itself, indexing a zero-byte dummy of
the same shape, so the semantics (including mixed basic/advanced indexing) are exactly NumPy's.
``split`` and ``unstack`` emit one ``getitem`` node per piece, so every op keeps a single output.
Boolean masks are rejected: their result shape depends on the data.

``scatter_add(tensor, updates, *indices, key)`` is ``tensor`` with ``updates`` added at ``tensor[key]``, where an
element the key selects more than once receives every update meant for it (NumPy's ``np.add.at``; JAX's
``x.at[key].add(updates)``). Its key is getitem's, with the same ``In(k)`` markers, so the gradient of
``x[key]`` is ``scatter_add(zeros_like(x), upstream, *indices, key)`` and the gradient of ``scatter_add`` with
respect to ``updates`` is ``upstream[key]``: the pair are each other's adjoints. ``gather`` (``np.take`` along
``axis``) is ``x[:, ..., indices]``, so its gradient is the same scatter, and so is ``sort``'s.
"""
import functools
import operator

import numpy as np

from ..attrs import Axis, IndexKey
from ..errors import GraphjitError, InvalidArgumentError, UnimplementedError
from ..ir import In, Slice, TensorType
from ..lowering import Kernel, View
from ..registry import API, OPS, Op, export, numpy_adapter, register
from ..shapes import broadcast_shapes, normalize_axis
from ..source import with_location
from ..symbolic import SymbolicError, basic_index, index_position, raise_minimum, shape_is_symbolic, slice_indices
from ..tensor import EagerTensor, SymbolicTensor, _contains_tensor, convert_to_tensor


def located(fn):
    """Adds the user's source line to errors a public function raises itself (argument checks); errors from
    op rules already carry it."""
    @functools.wraps(fn)
    def public(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SymbolicError:   # (kept as it is: the polymorphic trace reads its unify and require)
            raise
        except GraphjitError as err:
            message = str(err)
            if "\n  at " in message:
                raise
            raise type(err)(with_location(message)) from None
    return public


FULL = Slice(None, None, None)
_ZERO_BYTES = np.dtype([])  # indexing a dummy of this dtype allocates nothing, whatever the result shape


def _numpy_key(key, indices):
    return tuple(indices[item.k - 1] if type(item) is In else item.to_slice() if type(item) is Slice else item
                 for item in key)


def _getitem_infer(x, *index_types, key):
    for t in index_types:
        if not t.dtype.is_integer:
            raise InvalidArgumentError(f"tensor indices must be int32 or int64, got {t.dtype.name}")
    if shape_is_symbolic(x.shape) or any(shape_is_symbolic(t.shape) for t in index_types):
        return TensorType(_symbolic_getitem_shape(x.shape, index_types, key), x.dtype)
    dummy = np.broadcast_to(np.empty((), _ZERO_BYTES), x.shape)
    placeholders = [np.broadcast_to(np.intp(0), t.shape) for t in index_types]
    try:
        shape = np.shape(dummy[_numpy_key(key, placeholders)])
    except IndexError as err:
        raise InvalidArgumentError(f"{err} (indexing a tensor of shape {tuple(x.shape)} with {_describe(key)})") \
            from None
    return TensorType(shape, x.dtype)


def _symbolic_getitem_shape(shape, index_types, key):
    """The result shape of a basic key over symbolic sizes (tracer.symbolic.basic_index: NumPy's clamps, as
    clamp atoms where they depend on the size; a SymbolicError, and a per-size trace, for an undecided index)."""
    if index_types:
        return _symbolic_advanced_shape(shape, index_types, key)
    try:
        plan = basic_index(shape, _numpy_key(key, ()))
    except (IndexError, ValueError) as err:
        raise InvalidArgumentError(f"{err} (indexing a tensor of shape {tuple(shape)} with {_describe(key)})") \
            from None
    return tuple(1 if step is None else step[3] for step in plan if step is None or len(step) == 4)


def _symbolic_advanced_shape(shape, index_types, key):
    """NumPy's result shape of a key with integer tensors over symbolic sizes: the slices' lengths
    (``slice_indices``), a 1 per None, and the broadcast shape of the index tensors (ints among them count as
    0-d indices, as NumPy's) in place of the first of them when they are adjacent in the key, else first."""
    items = list(key)
    if sum(1 for k in items if k is Ellipsis) > 1:
        raise InvalidArgumentError("an index can only have a single ellipsis ('...')")
    free = len(shape) - sum(1 for k in items if k is not None and k is not Ellipsis)
    if free < 0:
        raise InvalidArgumentError(f"too many indices for array: array is {len(shape)}-dimensional, but "
                                   f"{len(shape) - free} were indexed (indexing with {_describe(key)})")
    if Ellipsis in items:
        e = items.index(Ellipsis)
        items[e:e + 1] = [FULL] * free
    else:
        items += [FULL] * free
    advanced = [p for p, k in enumerate(items) if type(k) is In or type(k) is int]
    index_shapes = [tuple(index_types[k.k - 1].shape) for k in items if type(k) is In]
    broadcast = broadcast_shapes(*index_shapes, what="index tensors")
    together = advanced == list(range(advanced[0], advanced[-1] + 1))
    dims, d = [] if together else list(broadcast), 0
    for p, k in enumerate(items):
        if k is None:
            dims.append(1)
            continue
        if type(k) is Slice:
            try:
                dims.append(slice_indices(k.start, k.stop, k.step, shape[d])[2])
            except ValueError as err:
                raise InvalidArgumentError(f"{err} (indexing a tensor of shape {tuple(shape)} with "
                                           f"{_describe(key)})") from None
        elif together and p == advanced[0]:
            dims.extend(broadcast)
        if type(k) is int:
            try:
                index_position(k, shape[d], d)
            except IndexError as err:
                raise InvalidArgumentError(f"{err} (indexing a tensor of shape {tuple(shape)} with "
                                           f"{_describe(key)})") from None
        d += 1
    return tuple(dims)


def _getitem(x, *indices, key):
    try:
        out = x[_numpy_key(key, indices)]
    except IndexError as err:  # also tensor indices out of range, known only now
        raise InvalidArgumentError(f"{err} (indexing a tensor of shape {x.shape} with {_describe(key)})") from None
    return out if type(out) is np.ndarray else np.asarray(out, dtype=x.dtype)


def _describe(key):
    return "[" + ", ".join("..." if k is Ellipsis else repr(k) for k in key) + "]"


# The eager implementation raises (InvalidArgumentError) for every key the rule rejects.
GETITEM = register(Op("getitem", infer=_getitem_infer, eager=_getitem, check_eager=False, attrs={"key": IndexKey()},
                      doc="tensor[key] with NumPy semantics; integer tensors in the key are inputs."))


def _static_index(value, what):
    """A slice bound or int index -> Python int (None passes through); symbolic values are not supported."""
    if value is None:
        return None
    if isinstance(value, SymbolicTensor):
        raise UnimplementedError(f"{what} is a symbolic tensor; slice bounds must be known while tracing "
                                 f"(use gj.gather for data-dependent positions)")
    if isinstance(value, (bool, np.bool_)):
        raise UnimplementedError(f"{what}: boolean indices are not supported")
    try:
        return operator.index(value)
    except TypeError:
        raise InvalidArgumentError(f"{what} must be an int, got {value!r}") from None


def _index_tensor(value, what):
    """An integer-array index as a tensor; boolean masks are rejected (data-dependent shape)."""
    if isinstance(value, np.ndarray) or (isinstance(value, (list, tuple)) and not _contains_tensor(value)):
        array = np.asarray(value)
        if array.size == 0 and array.dtype.kind == "f":
            array = array.astype(np.int32)  # NumPy also treats an empty list as an integer index
        if array.dtype.kind == "u":
            array = array.astype(np.int64)
        value = array
    tensor = convert_to_tensor(value, what=what)
    if tensor.dtype.is_bool:
        raise UnimplementedError(f"{what}: boolean mask indexing is not supported, because the result's shape "
                                 f"depends on the data; use gj.where(mask, x, 0) or index with integer positions")
    if not tensor.dtype.is_integer:
        raise InvalidArgumentError(f"{what}: indices must be integers (int32 or int64), got {tensor.dtype.name}")
    return tensor


def _normalize_item(item, inputs, what):
    if item is None or item is Ellipsis:
        return item
    if isinstance(item, slice):
        return Slice(_static_index(item.start, f"{what}.start"), _static_index(item.stop, f"{what}.stop"),
                     _static_index(item.step, f"{what}.step"))
    if getattr(item, "_as_tensor", None) is not None:
        item = item._as_tensor()
    if isinstance(item, (bool, np.bool_)):
        raise UnimplementedError(f"{what}: boolean indices are not supported")
    if isinstance(item, (int, np.integer)):
        return int(item)
    if isinstance(item, (EagerTensor, np.ndarray)) and len(item.shape) == 0 and np.asarray(item).dtype.kind in "iu":
        return int(np.asarray(item))  # a concrete scalar is a static index (NumPy treats both alike)
    if isinstance(item, (EagerTensor, SymbolicTensor, np.ndarray, list, tuple)):
        inputs.append(_index_tensor(item, what))
        return In(len(inputs))
    raise InvalidArgumentError(f"{what}: only integers, slices, None, Ellipsis and integer tensors or arrays are "
                               f"valid indices, got {type(item).__name__} {item!r}")


@export(unary_operators=("__getitem__",))
@located
def getitem(tensor, key):
    """``tensor[key]`` with NumPy semantics (ints, slices, None, ..., integer arrays and tensors)."""
    x = convert_to_tensor(tensor, what="the indexed tensor")
    items = key if isinstance(key, tuple) else (key,)
    inputs = []
    static = tuple(_normalize_item(item, inputs, f"getitem: index {i}") for i, item in enumerate(items))
    return GETITEM.bind(x, *inputs, key=static)


@export("slice")
@located
def slice_(input_, begin, size, name=None):
    """The block starting at ``begin`` with ``size`` elements per axis (-1: to the end), as TF's ``slice``."""
    x = convert_to_tensor(input_, what="slice(input_)")
    begin, size = list(_static_list(begin, "begin")), list(_static_list(size, "size"))
    if len(begin) != len(x.shape) or len(size) != len(x.shape):
        raise InvalidArgumentError(f"slice: begin={begin} and size={size} need one entry per dimension of shape "
                                   f"{tuple(x.shape)}")
    key = []
    for axis, (b, s, d) in enumerate(zip(begin, size, x.type.shape)):   # (symbolic sizes: decided or a fallback)
        end = d if s == -1 else b + s
        if s < -1 or not 0 <= b <= end:
            raise InvalidArgumentError(f"slice: begin={begin}, size={size} is out of bounds for shape "
                                       f"{tuple(x.shape)} (axis {axis})")
        try:
            fits = end <= d
        except SymbolicError:   # (from that size on: smaller calls trace per size and raise the error below)
            raise_minimum(d, end, f"slice: begin={begin}, size={size} along axis {axis}")
        if not fits:
            raise InvalidArgumentError(f"slice: begin={begin}, size={size} is out of bounds for shape "
                                       f"{tuple(x.shape)} (axis {axis})")
        key.append(Slice(b, None if s == -1 and shape_is_symbolic((d,)) else end, None))
    return GETITEM.bind(x, key=tuple(key))


@export("strided_slice")
@located
def strided_slice(input_, begin, end, strides=None, begin_mask=0, end_mask=0, ellipsis_mask=0, new_axis_mask=0,
                  shrink_axis_mask=0, name=None):
    """TF's ``strided_slice``: each position i is ``begin[i]:end[i]:strides[i]``, altered by the bit masks."""
    begin, end = _static_list(begin, "begin"), _static_list(end, "end")
    strides = (1,) * len(begin) if strides is None else _static_list(strides, "strides")
    if not len(begin) == len(end) == len(strides):
        raise InvalidArgumentError(f"strided_slice: begin, end and strides must have the same length, got "
                                   f"{begin}, {end}, {strides}")
    key = []
    for i, (b, e, s) in enumerate(zip(begin, end, strides)):
        bit = 1 << i
        if ellipsis_mask & bit:
            key.append(Ellipsis)
        elif new_axis_mask & bit:
            key.append(None)
        elif shrink_axis_mask & bit:
            key.append(b)
        else:
            key.append(slice(None if begin_mask & bit else b, None if end_mask & bit else e, s))
    return getitem(input_, tuple(key))


def _static_list(values, what):
    if isinstance(values, SymbolicTensor):
        raise UnimplementedError(f"{what} is a symbolic tensor; it must be known while tracing")
    if isinstance(values, EagerTensor):
        values = values._value.tolist()
    if not isinstance(values, (list, tuple, np.ndarray)):
        raise InvalidArgumentError(f"{what} must be a list of ints, got {values!r}")
    return tuple(_static_index(v, what) for v in values)


# ---- split, unstack -----------------------------------------------------------------------------

def static_axis(axis, what="axis"):
    """An axis argument as a Python int (concrete scalar tensors allowed)."""
    if isinstance(axis, SymbolicTensor):
        raise UnimplementedError(f"{what} must be known while tracing, got a symbolic tensor")
    return axis.__index__() if isinstance(axis, EagerTensor) else axis


def pieces(x, axis, bounds):
    """One ``getitem`` node per [start, stop) along ``axis``: split stays made of single-output ops."""
    lead = (FULL,) * axis
    return [GETITEM.bind(x, key=lead + (Slice(start, stop, None),)) for start, stop in bounds]


def piece_bounds(sizes):
    """[start, stop) of consecutive pieces of these sizes."""
    starts = np.cumsum((0,) + tuple(sizes[:-1])).tolist()
    return [(start, start + n) for start, n in zip(starts, sizes)]


@export("split")
@located
def split(value, num_or_size_splits, axis=0, num=None, name=None):
    """A list of pieces along ``axis``: ``n`` equal pieces (n an int), or pieces of the listed sizes
    (one size may be -1: the rest)."""
    x = convert_to_tensor(value, what="split(value)")
    axis = normalize_axis(static_axis(axis), len(x.shape), "split(axis)")
    dim = x.shape[axis]
    if isinstance(num_or_size_splits, (int, np.integer)) and not isinstance(num_or_size_splits, bool):
        n = int(num_or_size_splits)
        if n <= 0 or dim % n:
            raise InvalidArgumentError(f"split: num_or_size_splits={n} does not evenly divide dimension {axis} "
                                       f"(size {dim}) of shape {tuple(x.shape)}")
        sizes = (dim // n,) * n
    else:
        sizes = _static_list(num_or_size_splits, "split(num_or_size_splits)")
        rest = dim - sum(s for s in sizes if s != -1)
        if sizes.count(-1) > 1 or (-1 in sizes and rest < 0) or any(n < -1 for n in sizes):
            raise InvalidArgumentError(f"split: sizes {sizes} cannot split dimension {axis} (size {dim})")
        sizes = tuple(rest if s == -1 else s for s in sizes)
        if sum(sizes) != dim:
            raise InvalidArgumentError(f"split: sizes {sizes} sum to {sum(sizes)}, but dimension {axis} of shape "
                                       f"{tuple(x.shape)} has size {dim}")
    return pieces(x, axis, piece_bounds(sizes))


@numpy_adapter(np.split)
@located
def _np_split(ary, indices_or_sections, axis=0):
    x = convert_to_tensor(ary, what="numpy.split(ary)")
    if isinstance(indices_or_sections, (int, np.integer)):
        return split(x, int(indices_or_sections), axis)
    axis = normalize_axis(axis, len(x.shape), "numpy.split(axis)")
    dim = x.shape[axis]
    if isinstance(indices_or_sections, (EagerTensor, SymbolicTensor, np.ndarray)):
        indices_or_sections = np.asarray(indices_or_sections).tolist()  # a symbolic tensor raises clearly here
    points = [operator.index(p) for p in indices_or_sections]
    points = [min(max(p + dim if p < 0 else p, 0), dim) for p in points]  # NumPy wraps, then clips
    bounds = list(zip([0] + points, points + [dim]))
    return pieces(x, axis, [(a, max(a, b)) for a, b in bounds])


@export("unstack")
@located
def unstack(value, num=None, axis=0, name=None):
    """The slices of ``value`` along ``axis``, as a list (one ``getitem`` node each)."""
    x = convert_to_tensor(value, what="unstack(value)")
    axis = normalize_axis(static_axis(axis), len(x.shape), "unstack(axis)")
    if num is not None and num != x.shape[axis]:
        raise InvalidArgumentError(f"unstack: num={num} but dimension {axis} of shape {tuple(x.shape)} has size "
                                   f"{x.shape[axis]}")
    return [GETITEM.bind(x, key=(FULL,) * axis + (i,)) for i in range(x.shape[axis])]



# ---- gather ---------------------------------------------------------------------------------------

def _gather_infer(params, indices, *, axis):
    if not indices.dtype.is_integer:
        raise InvalidArgumentError(f"indices must be int32 or int64, got {indices.dtype.name}")
    if not 0 <= axis < len(params.shape):
        raise InvalidArgumentError(f"axis={axis} is out of range for params of shape {tuple(params.shape)}")
    shape = tuple(params.shape[:axis]) + tuple(indices.shape) + tuple(params.shape[axis + 1:])
    return TensorType(shape, params.dtype)


def _gather(params, indices, *, axis):
    dim = params.shape[axis]
    bad = (indices < 0) | (indices >= dim)
    if bad.any():  # TF on CPU rejects negative indices too; NumPy would wrap them
        where = tuple(np.argwhere(bad)[0]) if indices.ndim else ()
        position = "".join(f"[{i}]" for i in where)
        raise InvalidArgumentError(f"indices{position} = {indices[where]} is not in [0, {dim}) (axis {axis} of "
                                   f"params shape {params.shape})")
    return np.take(params, indices, axis=axis)


GATHER = register(Op("gather", infer=_gather_infer, eager=_gather, attrs={"axis": Axis()},
                     doc="np.take(params, indices, axis); indices outside [0, dim) raise when it runs."))


@export("gather")
@located
def gather(params, indices, validate_indices=None, axis=None, batch_dims=0, name=None):
    """Slices of ``params`` along ``axis`` (default 0) at ``indices``, which must lie in [0, dim) (negative
    indices are rejected, as by TF on CPU); NumPy's ``take`` otherwise."""
    if batch_dims != 0:
        raise UnimplementedError(f"gather: batch_dims={batch_dims} is not supported (only 0)")
    p = convert_to_tensor(params, what="gather(params)")
    i = convert_to_tensor(indices, what="gather(indices)")
    if len(p.shape) == 0:
        raise InvalidArgumentError("gather: params must have rank >= 1, got a scalar")
    axis = normalize_axis(static_axis(0 if axis is None else axis), len(p.shape), "gather(axis)")
    return GATHER.bind(p, i, axis=axis)


@numpy_adapter(np.take)
@located
def _np_take(a, indices, axis=None, out=None, mode="raise"):
    if out is not None or mode != "raise":
        raise UnimplementedError("numpy.take on graphjit tensors supports only out=None and mode='raise'")
    x = convert_to_tensor(a, what="numpy.take(a)")
    if axis is None:  # NumPy: take from the flattened array
        x, axis = API["reshape"](x, (-1,)), 0
    axis = normalize_axis(axis, len(x.shape), "numpy.take(axis)")
    if not isinstance(indices, (EagerTensor, SymbolicTensor)):  # static indices: wrap negatives as NumPy does
        indices = np.asarray(indices)
        if indices.dtype.kind in "iu":
            indices = np.where(indices < 0, indices + x.shape[axis], indices).astype(np.int64)
    return gather(x, indices, axis=axis)


# Basic indexing (no tensor indices) compiles to an index map over its input; see compiler.affine.
GETITEM.lower = View("getitem")
GATHER.lower = Kernel("gather")  # indices are checked in the kernel; a bad one makes the runner raise


# ---- scatter_add: getitem's adjoint ------------------------------------------------------------------------

def _scatter_add_infer(tensor, updates, *index_types, key):
    selected = _getitem_infer(tensor, *index_types, key=key)
    if tuple(updates.shape) != tuple(selected.shape):
        raise InvalidArgumentError(f"updates has shape {tuple(updates.shape)} but tensor{_describe(key)} has shape "
                                   f"{tuple(selected.shape)} (tensor shape {tuple(tensor.shape)}): they must be equal")
    if updates.dtype is not tensor.dtype:
        raise InvalidArgumentError(f"updates has dtype {updates.dtype.name} but tensor has dtype "
                                   f"{tensor.dtype.name}: cast first")
    return tensor


def _scatter_add(tensor, updates, *indices, key):
    out = np.array(tensor, copy=True)
    where = _numpy_key(key, indices)
    try:
        with np.errstate(all="ignore"):   # overflow to inf and int wraparound, silently (as the reductions)
            if indices:
                np.add.at(out, where, updates)   # an element selected twice gets both updates
            else:
                out[where] += updates   # basic indexing selects each element at most once
    except IndexError as err:   # tensor indices out of range, known only now
        raise InvalidArgumentError(f"indices out of range: {err} (scattering updates of shape {updates.shape} into "
                                   f"a tensor of shape {tensor.shape} at {_describe(key)})") from None
    return out


SCATTER_ADD = register(Op("scatter_add", infer=_scatter_add_infer, eager=_scatter_add, attrs={"key": IndexKey()},
                          doc="tensor with updates added at tensor[key] (np.add.at: repeated positions add up); "
                              "the adjoint of getitem."))


# ---- gradients (tracer.autodiff): upstream scattered back to where each element was read -------------------

def scatter_into_zeros(g, shape, indices, key):
    """``g`` added into zeros of ``shape`` at ``[key]`` (``indices`` the key's tensors): the gradient of a read."""
    if shape_is_symbolic(shape):   # (an unknown size: zeros broadcast to it, as zeros_like does)
        zeros = OPS["broadcast_to"].bind(convert_to_tensor(np.zeros((), g.dtype.np)), shape=tuple(shape))
    else:
        zeros = OPS["zeros"].bind(shape=tuple(shape), dtype=g.dtype)
    return SCATTER_ADD.bind(zeros, g, *indices, key=key)


def _getitem_grad(g, y, x, *indices, key):
    return (scatter_into_zeros(g, x.type.shape, indices, key),) + (None,) * len(indices)   # (symbolic sizes kept)


def _gather_grad(g, y, params, indices, *, axis):
    return scatter_into_zeros(g, params.type.shape, (indices,), (FULL,) * axis + (In(1),)), None


def _scatter_add_grad(g, y, tensor, updates, *indices, key):
    return (g, GETITEM.bind(g, *indices, key=key)) + (None,) * len(indices)


GETITEM.grad = _getitem_grad
GATHER.grad = _gather_grad
SCATTER_ADD.grad = _scatter_add_grad
# A kernel where a backend has one (the CPU backend: rows at one index tensor, or a basic key); else eagerly.
SCATTER_ADD.lower = Kernel("scatter_add")
