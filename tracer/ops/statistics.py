"""Variance, standard deviation and norms, composed from existing ops exactly as NumPy computes them.

``var`` is NumPy's algorithm: the mean (``reduce_mean``, kept as size-1 axes), the squared deviations, their
sum, divided by ``max(n - ddof, 0)`` (0 gives inf or NaN, as in NumPy, without its warning); ``std`` is its
square root. Ints and bool compute in float64 (NumPy's result dtype), floats in their own dtype.

``norm`` covers vector norms (ord None/2, 1, inf, -inf, 0 and any other p: ``sum(|x|^p)^(1/p)``) and the
matrix norms that need no SVD (None/'fro', 1, -1, inf, -inf); ord 2, -2 and 'nuc' over two axes raise
UnimplementedError. Ints compute in float64, as NumPy does.
"""
import math

import numpy as np

from ..errors import InvalidArgumentError, UnimplementedError
from ..registry import export, numpy_adapter
from ..source import with_location
from ..tensor import as_dtype_arg, convert_to_tensor
from .elementwise import abs as abs_, multiply, not_equal, pow as pow_, sqrt
from .reductions import (_UNSET, _keepdims, normalize_reduction_axes, reduce_max, reduce_mean, reduce_min,
                         reduce_sum)
from .shape_ops import cast, reshape


def _as_float(x, what):
    x = convert_to_tensor(x, what=what)
    return x if x.dtype.is_floating else cast(x, "float64")


def variance(x, axis=None, keepdims=False, ddof=0, what="reduce_variance"):
    x = _as_float(x, f"{what}(input_tensor)")
    axes = normalize_reduction_axes(axis, x.ndim, what)
    count = math.prod(x.shape[a] for a in axes)
    deviation = x - reduce_mean(x, axes, keepdims=True)
    squares = reduce_sum(multiply(deviation, deviation), axes, keepdims=bool(keepdims))
    return squares / float(max(count - ddof, 0))


@export("math.reduce_variance", "reduce_variance")
def reduce_variance(input_tensor, axis=None, keepdims=False, name=None):
    """Population variance over ``axis`` (NumPy's ``var`` with ddof=0; ints give float64)."""
    return variance(input_tensor, axis, keepdims, 0, "reduce_variance")


@export("math.reduce_std", "reduce_std")
def reduce_std(input_tensor, axis=None, keepdims=False, name=None):
    """Population standard deviation over ``axis`` (NumPy's ``std`` with ddof=0; ints give float64)."""
    return sqrt(variance(input_tensor, axis, keepdims, 0, "reduce_std"))


def _numpy_moment(fn_name, finish):
    def adapter(a, axis=None, dtype=None, out=None, ddof=0, keepdims=_UNSET, *, where=_UNSET, mean=_UNSET,
                correction=_UNSET):
        if out is not None:
            raise UnimplementedError(f"numpy.{fn_name} on graphjit tensors does not support out=")
        if where is not _UNSET and where is not True:
            raise UnimplementedError(f"numpy.{fn_name} on graphjit tensors does not support where=")
        if mean is not _UNSET:
            raise UnimplementedError(f"numpy.{fn_name} on graphjit tensors does not support mean=")
        if correction is not _UNSET:
            if ddof != 0:
                raise InvalidArgumentError(with_location(f"numpy.{fn_name}: ddof and correction can't be "
                                                         f"provided simultaneously"))
            ddof = correction
        x = convert_to_tensor(a, what=f"numpy.{fn_name}(a)")
        if dtype is not None:
            x = cast(x, as_dtype_arg(dtype, f"numpy.{fn_name}(dtype)"))
        return finish(variance(x, axis, _keepdims(keepdims), ddof, f"numpy.{fn_name}"))
    adapter.__name__ = f"numpy_{fn_name}"
    return adapter


numpy_adapter(np.var)(_numpy_moment("var", lambda v: v))
numpy_adapter(np.std)(_numpy_moment("std", sqrt))


# ---- norms ----------------------------------------------------------------------------------------------

def _bad(message):
    return InvalidArgumentError(with_location(f"norm: {message}"))


def _vector_norm(x, ord, axes, keepdims):  # noqa: A002
    if ord is None or ord == 2:
        return sqrt(reduce_sum(multiply(x, x), axes, keepdims))
    if isinstance(ord, str):
        raise _bad(f"invalid norm order {ord!r} for vectors")
    if ord == math.inf:
        return reduce_max(abs_(x), axes, keepdims)
    if ord == -math.inf:
        return reduce_min(abs_(x), axes, keepdims)
    if ord == 0:
        return reduce_sum(cast(not_equal(x, 0), x.dtype), axes, keepdims)
    if ord == 1:
        return reduce_sum(abs_(x), axes, keepdims)
    p = float(ord)
    return pow_(reduce_sum(pow_(abs_(x), p), axes, keepdims), 1.0 / p)


def _matrix_norm(x, ord, axes, keepdims):  # noqa: A002
    row, col = axes
    if ord is None or ord == "fro":
        result = sqrt(reduce_sum(multiply(x, x), sorted(axes)))
    elif ord in (1, -1):
        pick = reduce_max if ord == 1 else reduce_min
        result = pick(reduce_sum(abs_(x), row), col - 1 if col > row else col)
    elif ord in (math.inf, -math.inf):
        pick = reduce_max if ord == math.inf else reduce_min
        result = pick(reduce_sum(abs_(x), col), row - 1 if row > col else row)
    elif ord in (2, -2, "nuc"):
        raise UnimplementedError(with_location(f"numpy.linalg.norm with ord={ord!r} over two axes needs singular "
                                               f"values, which graphjit does not compute"))
    else:
        raise _bad(f"invalid norm order {ord!r} for matrices")
    if keepdims:
        shape = list(x.shape)
        shape[row] = shape[col] = 1
        result = reshape(result, shape)
    return result


@export("norm", "linalg.norm")
def norm(tensor, ord=None, axis=None, keepdims=False, name=None):  # noqa: A002
    """NumPy's ``linalg.norm`` (``ord='euclidean'`` is TF's spelling of the default)."""
    return _norm(tensor, None if ord == "euclidean" else ord, axis, keepdims)


@numpy_adapter(np.linalg.norm)
def _np_norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002
    return _norm(x, ord, axis, keepdims)


def _norm(x, ord, axis, keepdims):  # noqa: A002
    x = _as_float(x, "norm(x)")
    keepdims = bool(keepdims)
    if axis is None:
        if ord is None:  # the 2-norm of the flattened tensor, whatever its rank
            result = sqrt(reduce_sum(multiply(x, x)))
            return reshape(result, (1,) * x.ndim) if keepdims else result
        if x.ndim not in (1, 2):
            raise _bad(f"improper number of dimensions to norm: ord={ord!r} without axis needs a rank-1 or "
                       f"rank-2 tensor, got shape {tuple(x.shape)}")
        axis = tuple(range(x.ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    normalized = [normalize_reduction_axes(a, x.ndim, "norm")[0] for a in axes]
    if len(normalized) == 1:
        return _vector_norm(x, ord, tuple(normalized), keepdims)
    if len(normalized) == 2:
        if normalized[0] == normalized[1]:
            raise _bad(f"duplicate axes given: {axis}")
        return _matrix_norm(x, ord, tuple(normalized), keepdims)
    raise _bad(f"improper number of dimensions to norm: axis={axis} (one axis for vectors, two for matrices)")


@export("math.reduce_euclidean_norm", "reduce_euclidean_norm")
def reduce_euclidean_norm(input_tensor, axis=None, keepdims=False, name=None):
    """TF's ``sqrt(sum(x * x))`` over ``axis`` (ints compute in float64, as NumPy's norm)."""
    x = _as_float(input_tensor, "reduce_euclidean_norm(input_tensor)")
    return sqrt(reduce_sum(multiply(x, x), axis, bool(keepdims)))
