"""Everyday NumPy functions on tensors that are compositions of graphjit ops (``np.outer(t, t)``, ``np.flip``,
``np.nansum``, ``np.isclose``, ...), plus NumPy 2's vecdot/matvec/vecmat gufuncs.

Each one computes what NumPy computes, with NumPy's dtypes, through ops that trace and compile like any
other. Functions with data-dependent shapes (``unique``, ``nonzero``), or that need algorithms graphjit lacks
(``median``, ``linalg.inv``), have no adapter: calling them on a tensor raises UnimplementedError naming them.
"""
import math

import numpy as np

from ..dtypes import float64, result_type
from ..errors import InvalidArgumentError, UnimplementedError
from ..registry import NUMPY, numpy_adapter
from ..source import with_location
from ..tensor import Tensor, as_dtype_arg, convert_to_tensor, placed_like
from .creation import constant
from .elementwise import (abs as abs_, clip_by_value, equal, isfinite, isinf, isnan, logical_and, logical_not,
                          logical_or, maximum, minimum, multiply, not_equal, where)
from .indexing import getitem
from .linalg import matmul, tensordot
from .reductions import (_UNSET, _keepdims, normalize_reduction_axes, normalize_single_axis, reduce_all,
                         reduce_max, reduce_min, reduce_sum)
from .shape_ops import broadcast_to, cast, concat, expand_dims, identity, reshape, transpose


def _tensor(a, fn_name, arg="a"):
    return convert_to_tensor(a, what=f"numpy.{fn_name}({arg})")


def _no_out(fn_name, out):
    if out is not None:
        raise UnimplementedError(with_location(f"numpy.{fn_name} on graphjit tensors does not support out="))


@numpy_adapter(np.ravel)
def _np_ravel(a, order="C"):
    if order not in ("C", "K", "A"):
        raise UnimplementedError(with_location(f"numpy.ravel on graphjit tensors supports order='C', got {order!r}"))
    return reshape(_tensor(a, "ravel"), (-1,))


@numpy_adapter(np.clip)
def _np_clip(a, a_min=_UNSET, a_max=_UNSET, out=None, *, min=_UNSET, max=_UNSET, **kwargs):  # noqa: A002
    """NumPy's clip: either bound may be None (or NumPy 2.1's ``min=``/``max=``)."""
    _no_out("clip", out)
    if kwargs:
        raise UnimplementedError(with_location(f"numpy.clip on graphjit tensors does not support {sorted(kwargs)}"))
    lo = min if a_min is _UNSET else a_min
    hi = max if a_max is _UNSET else a_max
    lo, hi = (None if v is _UNSET else v for v in (lo, hi))
    if lo is not None and hi is not None:
        return clip_by_value(a, lo, hi)
    if lo is None and hi is None:
        raise InvalidArgumentError(with_location("numpy.clip: one of max or min must be given"))
    return maximum(a, lo) if hi is None else minimum(a, hi)


@numpy_adapter(np.outer)
def _np_outer(a, b, out=None):
    _no_out("outer", out)
    x, y = reshape(_tensor(a, "outer"), (-1, 1)), reshape(_tensor(b, "outer", "b"), (1, -1))
    return multiply(x, y)


@numpy_adapter(np.inner)
def _np_inner(a, b):
    x, y = _tensor(a, "inner"), _tensor(b, "inner", "b")
    if x.ndim == 0 or y.ndim == 0:
        return multiply(x, y)
    return tensordot(x, y, ((x.ndim - 1,), (y.ndim - 1,)))


@numpy_adapter(np.vecdot)
def _np_vecdot(x1, x2, /, **kwargs):
    if kwargs:
        raise UnimplementedError(with_location(f"numpy.vecdot on graphjit tensors does not support {sorted(kwargs)}"))
    x, y = _tensor(x1, "vecdot", "x1"), _tensor(x2, "vecdot", "x2")
    dtype = result_type(x.dtype, y.dtype)
    return cast(reduce_sum(multiply(x, y), -1), dtype)  # ints wrap in their dtype and bool is "any", as NumPy


@numpy_adapter(np.matvec)
def _np_matvec(x1, x2, /, **kwargs):
    if kwargs:
        raise UnimplementedError(with_location(f"numpy.matvec on graphjit tensors does not support {sorted(kwargs)}"))
    return getitem(matmul(_tensor(x1, "matvec", "x1"), expand_dims(_tensor(x2, "matvec", "x2"), -1)),
                   (Ellipsis, 0))


@numpy_adapter(np.vecmat)
def _np_vecmat(x1, x2, /, **kwargs):
    if kwargs:
        raise UnimplementedError(with_location(f"numpy.vecmat on graphjit tensors does not support {sorted(kwargs)}"))
    return getitem(matmul(expand_dims(_tensor(x1, "vecmat", "x1"), -2), _tensor(x2, "vecmat", "x2")),
                   (Ellipsis, 0, slice(None)))


def _axes_or_all(axis, ndim, fn_name):
    return tuple(range(ndim)) if axis is None else normalize_reduction_axes(axis, ndim, f"numpy.{fn_name}")


@numpy_adapter(np.flip)
def _np_flip(m, axis=None):
    x = _tensor(m, "flip", "m")
    axes = _axes_or_all(axis, x.ndim, "flip")
    return getitem(x, tuple(slice(None, None, -1) if k in axes else slice(None) for k in range(x.ndim)))


@numpy_adapter(np.swapaxes)
def _np_swapaxes(a, axis1, axis2):
    x = _tensor(a, "swapaxes")
    i, j = (normalize_single_axis(k, x.ndim, "numpy.swapaxes") for k in (axis1, axis2))
    perm = list(range(x.ndim))
    perm[i], perm[j] = j, i
    return transpose(x, perm)


@numpy_adapter(np.moveaxis)
def _np_moveaxis(a, source, destination):
    x = _tensor(a, "moveaxis")
    src = [source] if isinstance(source, int) else list(source)
    dst = [destination] if isinstance(destination, int) else list(destination)
    if len(src) != len(dst):
        raise InvalidArgumentError(with_location("numpy.moveaxis: source and destination must have the same "
                                                 "number of elements"))
    src = [normalize_single_axis(k, x.ndim, "numpy.moveaxis") for k in src]
    dst = [normalize_single_axis(k, x.ndim, "numpy.moveaxis") for k in dst]
    order = [k for k in range(x.ndim) if k not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(x, order)


def _at_least(x, ndim):
    shape = tuple(x.shape)
    if x.ndim >= ndim:
        return x
    if ndim == 3 and x.ndim == 2:
        return reshape(x, shape + (1,))
    if ndim == 3 and x.ndim == 1:
        return reshape(x, (1,) + shape + (1,))
    return reshape(x, (1,) * (ndim - x.ndim) + shape)


def _at_least_adapter(ndim):
    def adapter(*arys):
        results = [_at_least(_tensor(a, f"atleast_{ndim}d", "arys"), ndim) for a in arys]
        return results[0] if len(results) == 1 else tuple(results)
    return adapter


numpy_adapter(np.atleast_1d)(_at_least_adapter(1))
numpy_adapter(np.atleast_2d)(_at_least_adapter(2))
numpy_adapter(np.atleast_3d)(_at_least_adapter(3))


def _sequence(tup, fn_name):
    if isinstance(tup, Tensor):
        return list(tup)
    return [_tensor(t, fn_name, "tup") for t in tup]


@numpy_adapter(np.vstack)
def _np_vstack(tup, *, dtype=None, casting="same_kind"):
    result = concat([_at_least(t, 2) for t in _sequence(tup, "vstack")], 0)
    return result if dtype is None else cast(result, dtype)


@numpy_adapter(np.hstack)
def _np_hstack(tup, *, dtype=None, casting="same_kind"):
    tensors = [_at_least(t, 1) for t in _sequence(tup, "hstack")]
    result = concat(tensors, 0 if tensors and tensors[0].ndim == 1 else 1)
    return result if dtype is None else cast(result, dtype)


@numpy_adapter(np.copy)
def _np_copy(a, order="K", subok=False):
    return identity(_tensor(a, "copy"))


@numpy_adapter(np.full_like)
def _np_full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None, *, device=None):
    x = _tensor(a, "full_like")
    target = x.dtype if dtype is None else as_dtype_arg(dtype, "numpy.full_like(dtype)")
    shape = tuple(x.shape) if shape is None else ((shape,) if isinstance(shape, int) else tuple(shape))
    with placed_like(x):   # (eagerly, on x's device: a host fill value copied in there)
        if isinstance(fill_value, Tensor):
            value = cast(fill_value, target)
        else:  # NumPy casts the fill value unsafely (2.5 -> 2 for ints)
            with np.errstate(all="ignore"):
                value = constant(np.asarray(fill_value).astype(target.np))
        return broadcast_to(value, shape)


@numpy_adapter(np.empty_like)
def _np_empty_like(prototype, dtype=None, order="K", subok=True, shape=None, *, device=None):
    """Zeros: NumPy leaves the values unspecified, and a defined value keeps graphs deterministic."""
    return _np_full_like(prototype, 0, dtype, shape=shape)


@numpy_adapter(np.ptp)
def _np_ptp(a, axis=None, out=None, keepdims=_UNSET):
    _no_out("ptp", out)
    x = _tensor(a, "ptp")
    keep = _keepdims(keepdims)
    return reduce_max(x, axis, keep) - reduce_min(x, axis, keep)


@numpy_adapter(np.count_nonzero)
def _np_count_nonzero(a, axis=None, *, keepdims=False):
    x = _tensor(a, "count_nonzero")
    return reduce_sum(cast(not_equal(x, 0), "int64"), axis, bool(keepdims))


def _nan_filled(a, fn_name, fill):
    x = _tensor(a, fn_name)
    if not x.dtype.is_floating:
        return x, None
    nan = isnan(x)
    return where(nan, fill, x), nan


@numpy_adapter(np.nansum)
def _np_nansum(a, axis=None, dtype=None, out=None, keepdims=_UNSET, initial=_UNSET, where=_UNSET):
    x, _ = _nan_filled(a, "nansum", 0.0)
    return NUMPY[np.sum](x, axis, dtype, out, keepdims, initial, where)


@numpy_adapter(np.nanmean)
def _np_nanmean(a, axis=None, dtype=None, out=None, keepdims=_UNSET, *, where=_UNSET):
    x, nan = _nan_filled(a, "nanmean", 0.0)
    if nan is None:
        return NUMPY[np.mean](x, axis, dtype, out, keepdims)
    _no_out("nanmean", out)
    keep = _keepdims(keepdims)
    if dtype is not None:
        x = cast(x, dtype)
    count = reduce_sum(cast(logical_not(nan), x.dtype), axis, keep)
    return reduce_sum(x, axis, keep) / count  # an all-NaN slice gives 0/0 = NaN, as NumPy (which also warns)


def _nan_extreme(fn_name, reduce, fill):
    def adapter(a, axis=None, out=None, keepdims=_UNSET, initial=_UNSET, where=_UNSET):
        _no_out(fn_name, out)
        if initial is not _UNSET or (where is not _UNSET and where is not True):
            raise UnimplementedError(with_location(f"numpy.{fn_name} on graphjit tensors does not support "
                                                   f"initial= or where="))
        x, nan = _nan_filled(a, fn_name, fill)
        keep = _keepdims(keepdims)
        result = reduce(x, axis, keep)
        if nan is None:
            return result
        return where_(reduce_all(nan, axis, keep), math.nan, result)  # all-NaN slices stay NaN, as in NumPy
    return adapter


where_ = where
numpy_adapter(np.nanmax)(_nan_extreme("nanmax", reduce_max, -math.inf))
numpy_adapter(np.nanmin)(_nan_extreme("nanmin", reduce_min, math.inf))


@numpy_adapter(np.isclose)
def _np_isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    x, y = _tensor(a, "isclose"), _tensor(b, "isclose", "b")
    dtype = result_type(x.dtype, y.dtype)
    if not dtype.is_floating:  # NumPy compares ints in float64 (result_type(y, 1.0))
        dtype = float64
    x, y = cast(x, dtype), cast(y, dtype)
    with_tolerance = abs_(x - y) <= atol + rtol * abs_(y)
    close = logical_or(logical_and(with_tolerance, isfinite(y)), equal(x, y))
    if equal_nan:
        close = logical_or(close, logical_and(isnan(x), isnan(y)))
    return close


@numpy_adapter(np.allclose)
def _np_allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """A 0-d bool tensor (usable as a Python bool eagerly), where NumPy returns a Python bool."""
    return reduce_all(_np_isclose(a, b, rtol, atol, equal_nan))


@numpy_adapter(np.array_equal)
def _np_array_equal(a1, a2, equal_nan=False):
    x, y = _tensor(a1, "array_equal", "a1"), _tensor(a2, "array_equal", "a2")
    if tuple(x.shape) != tuple(y.shape):
        return constant(False)
    same = equal(x, y)
    if equal_nan and (x.dtype.is_floating or y.dtype.is_floating):
        same = logical_or(same, logical_and(isnan(x), isnan(y)))
    return reduce_all(same)


@numpy_adapter(np.nan_to_num)
def _np_nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    t = _tensor(x, "nan_to_num", "x")
    if not t.dtype.is_floating:
        return t
    info = np.finfo(t.dtype.np)
    big = float(info.max) if posinf is None else posinf
    small = -float(info.max) if neginf is None else neginf
    t = where(isnan(t), nan, t)
    t = where(equal(t, math.inf), big, t)  # one Python scalar at a time, so it is weak against t's dtype
    return where(equal(t, -math.inf), small, t)


@numpy_adapter(np.diff)
def _np_diff(a, n=1, axis=-1, prepend=_UNSET, append=_UNSET):
    if prepend is not _UNSET or append is not _UNSET:
        raise UnimplementedError(with_location("numpy.diff on graphjit tensors does not support prepend=/append="))
    x = _tensor(a, "diff")
    if x.ndim == 0:
        raise InvalidArgumentError(with_location("numpy.diff requires input that is at least one dimensional"))
    axis = normalize_single_axis(axis, x.ndim, "numpy.diff")
    head = tuple(slice(1, None) if k == axis else slice(None) for k in range(x.ndim))
    tail = tuple(slice(None, -1) if k == axis else slice(None) for k in range(x.ndim))
    for _ in range(int(n)):
        x = not_equal(getitem(x, head), getitem(x, tail)) if x.dtype.is_bool else getitem(x, head) - getitem(x, tail)
    return x


@numpy_adapter(np.roll)
def _np_roll(a, shift, axis=None):
    x = _tensor(a, "roll")
    if axis is None:
        return reshape(_np_roll(reshape(x, (-1,)), shift, 0), tuple(x.shape))
    shifts = [shift] if isinstance(shift, int) else list(shift)
    axes = [axis] if isinstance(axis, int) else list(axis)
    if len(shifts) == 1:
        shifts = shifts * len(axes)
    for s, ax in zip(shifts, axes):
        ax = normalize_single_axis(ax, x.ndim, "numpy.roll")
        size = x.shape[ax]
        k = int(s) % size if size else 0
        if k:
            front = tuple(slice(size - k, None) if j == ax else slice(None) for j in range(x.ndim))
            back = tuple(slice(None, size - k) if j == ax else slice(None) for j in range(x.ndim))
            x = concat([getitem(x, front), getitem(x, back)], ax)
    return x


@numpy_adapter(np.average)
def _np_average(a, axis=None, weights=None, returned=False, *, keepdims=_UNSET):
    x = _tensor(a, "average")
    keep = _keepdims(keepdims)
    if weights is None:
        result = NUMPY[np.mean](x, axis, None, None, keep)
        count = float(math.prod(x.shape[k] for k in _axes_or_all(axis, x.ndim, "average")))
        return (result, broadcast_to(cast(constant(count), result.dtype), tuple(result.shape))) if returned else result
    w = _tensor(weights, "average", "weights")
    if tuple(w.shape) != tuple(x.shape):
        raise UnimplementedError(with_location("numpy.average on graphjit tensors needs weights of a's shape"))
    if not x.dtype.is_floating:
        x = cast(x, "float64")
    total = reduce_sum(w, axis, keep)
    result = reduce_sum(multiply(x, w), axis, keep) / total
    return (result, broadcast_to(cast(total, result.dtype), tuple(result.shape))) if returned else result


@numpy_adapter(np.shape)
def _np_shape(a):
    return tuple(_tensor(a, "shape").shape)


@numpy_adapter(np.ndim)
def _np_ndim(a):
    return _tensor(a, "ndim").ndim


@numpy_adapter(np.size)
def _np_size(a, axis=None):
    x = _tensor(a, "size")
    return x.size if axis is None else x.shape[normalize_single_axis(axis, x.ndim, "numpy.size")]
