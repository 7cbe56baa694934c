"""Ops along one axis that keep its length: cumsum, cumprod, sort and argsort.

Compiled forms (``Kernel("cumulative")``, ``Kernel("sort")``; compiler/kernel_writers.py) give NumPy's bits:
cumsum/cumprod combine in order in the result dtype, sort/argsort are a stable merge sort with NumPy's NaN
placement (the CPU backend compiles argsort only when ``stable``; other ties are NumPy's algorithm's). Dtypes are NumPy 2's (cumsum/cumprod of bool and
ints give int64, as np.sum does); ``axis=None`` in the NumPy functions means the flattened tensor.

Gradients: cumsum's is the cumsum of the upstream the other way; cumprod's divides only where x is nonzero and
handles a scan's first zero apart (below); sort's sends the upstream back through the sorting permutation.

Sorting follows NumPy: NaN sorts after +inf; argsort with ``stable`` keeps equal elements in their order.
``direction='DESCENDING'`` (TF) is the ascending order reversed, except that argsort keeps equal elements
in their original order (stably) there too; NaN then comes first.
"""
import numpy as np

from ..attrs import Axis, Bool, Dtype
from ..dtypes import int32, int64
from ..errors import InvalidArgumentError, UnimplementedError
from ..ir import In, TensorType
from ..lowering import Kernel
from ..registry import NOT_DIFFERENTIABLE, Op, export, numpy_adapter, register
from ..shapes import format_shape
from ..tensor import EagerTensor, as_dtype_arg, convert_to_tensor
from .elementwise import logical_and, where
from .indexing import scatter_into_zeros
from .reductions import normalize_single_axis, numpy_result_dtype
from .shape_ops import cast, reshape


def _check_axis(shape, axis):
    if not 0 <= axis < len(shape):
        raise InvalidArgumentError(f"axis={axis} is not an axis of a tensor of shape {format_shape(shape)}")


def _scan(name, np_fn):
    def infer(x, *, axis, exclusive, reverse):
        _check_axis(x.shape, axis)
        return TensorType(x.shape, numpy_result_dtype(np_fn, x.dtype, name))

    def eager(x, *, axis, exclusive, reverse):
        if reverse:
            x = np.flip(x, axis)
        with np.errstate(all="ignore"):  # overflow to inf and int wraparound, silently as elementwise ops
            out = np_fn(x, axis=axis)
        if exclusive:  # TF: each element excludes itself, so the first is the identity
            identity = np.zeros_like(out) if np_fn is np.cumsum else np.ones_like(out)
            first = [slice(None)] * x.ndim
            first[axis] = slice(0, 1)
            rest = [slice(None)] * x.ndim
            rest[axis] = slice(None, -1)
            out = np.concatenate([identity[tuple(first)], out[tuple(rest)]], axis=axis)
        return np.flip(out, axis) if reverse else out
    return register(Op(name, infer=infer, eager=eager, attrs={"axis": Axis(), "exclusive": Bool(), "reverse": Bool()},
                       lower=Kernel("cumulative"), doc=f"{np_fn.__name__} along ``axis`` (TF's exclusive/reverse flags); NumPy's dtypes."))


CUMSUM = _scan("cumsum", np.cumsum)
CUMPROD = _scan("cumprod", np.cumprod)


def _public_scan(op):
    def public(x, axis=0, exclusive=False, reverse=False, name=None):
        x = convert_to_tensor(x, what=f"{op.name}(x)")
        if x.ndim == 0:
            raise InvalidArgumentError(f"{op.name} needs a tensor of rank >= 1, got a scalar")
        return op.bind(x, axis=normalize_single_axis(axis, x.ndim, op.name), exclusive=bool(exclusive),
                       reverse=bool(reverse))
    public.__name__ = op.name
    public.__doc__ = f"TF's ``math.{op.name}``: running {op.name[3:]} along ``axis`` (NumPy's result dtypes)."
    return public


cumsum = export("math.cumsum", "cumsum")(_public_scan(CUMSUM))
cumprod = export("math.cumprod", "cumprod")(_public_scan(CUMPROD))


def _numpy_scan(public, fn_name):
    def adapter(a, axis=None, dtype=None, out=None):
        if out is not None:
            raise UnimplementedError(f"numpy.{fn_name} on graphjit tensors does not support out=")
        x = convert_to_tensor(a, what=f"numpy.{fn_name}(a)")
        if dtype is not None:
            dtype = as_dtype_arg(dtype, f"numpy.{fn_name}(dtype)")
            x = cast(x, dtype)
        if axis is None or x.ndim == 0:
            x, axis = reshape(x, (-1,)), 0
        result = public(x, axis)
        return result if dtype is None else cast(result, dtype)
    adapter.__name__ = f"numpy_{fn_name}"
    return adapter


numpy_adapter(np.cumsum)(_numpy_scan(cumsum, "cumsum"))
numpy_adapter(np.cumprod)(_numpy_scan(cumprod, "cumprod"))


# ---- sort / argsort ---------------------------------------------------------------------------------------

def _sort_infer(x, *, axis, descending):
    _check_axis(x.shape, axis)
    return TensorType(x.shape, x.dtype)


def _sort(x, *, axis, descending):
    # Stable: a permutation of x, as the compiled merge sort gives it. NumPy 2.4's default float64 sort (x86-simd-sort
    # on AVX2) returned +0.0 for a -0.0 of [0.0, -0.0, 2.0, -1.0, 0.0]: a sort must not change its values.
    out = np.sort(x, axis=axis, kind="stable")
    return np.flip(out, axis).copy() if descending else out


def _argsort_infer(x, *, axis, descending, stable, output_type):
    _check_axis(x.shape, axis)
    if output_type not in (int32, int64):
        raise InvalidArgumentError(f"output_type must be int32 or int64, got {output_type!r}")
    return TensorType(x.shape, output_type)


def _argsort(x, *, axis, descending, stable, output_type):
    kind = "stable" if stable else None
    if not descending:
        return np.argsort(x, axis=axis, kind=kind).astype(output_type.np, copy=False)
    # Stable descending: sort the reversed tensor stably, reverse the result and map indices back, so
    # equal elements keep their original order.
    n = x.shape[axis]
    order = np.flip(np.argsort(np.flip(x, axis), axis=axis, kind="stable"), axis)
    return (n - 1 - order).astype(output_type.np)


SORT = register(Op("sort", infer=_sort_infer, eager=_sort, attrs={"axis": Axis(), "descending": Bool()},
                   lower=Kernel("sort"),
                   doc="Sorted along ``axis``; NaN last (NumPy)."))
ARGSORT = register(Op("argsort", infer=_argsort_infer, eager=_argsort, lower=Kernel("sort"),
                      attrs={"axis": Axis(), "descending": Bool(), "stable": Bool(), "output_type": Dtype()},
                      doc="Indices that sort along ``axis``; ``stable`` keeps ties in order."))


def _direction(direction):
    if direction not in ("ASCENDING", "DESCENDING"):
        raise InvalidArgumentError(f"direction must be 'ASCENDING' or 'DESCENDING', got {direction!r}")
    return direction == "DESCENDING"


def _sortable(values, what):
    x = convert_to_tensor(values, what=what)
    if x.ndim == 0:
        raise InvalidArgumentError(f"{what} must have rank >= 1, got a scalar")
    return x


@export("sort")
def sort(values, axis=-1, direction="ASCENDING", name=None):
    """TF's ``sort``: ``values`` sorted along ``axis``."""
    x = _sortable(values, "sort(values)")
    return SORT.bind(x, axis=normalize_single_axis(axis, x.ndim, "sort"), descending=_direction(direction))


@export("argsort")
def argsort(values, axis=-1, direction="ASCENDING", stable=False, name=None):
    """TF's ``argsort``: int32 indices that sort ``values`` along ``axis``."""
    x = _sortable(values, "argsort(values)")
    return ARGSORT.bind(x, axis=normalize_single_axis(axis, x.ndim, "argsort"), descending=_direction(direction),
                        stable=bool(stable), output_type=int32)


def _numpy_sort_axis(a, axis, fn_name):
    x = convert_to_tensor(a, what=f"numpy.{fn_name}(a)")
    if axis is None or x.ndim == 0:
        return reshape(x, (-1,)), 0
    return x, normalize_single_axis(axis, x.ndim, f"numpy.{fn_name}")


def _is_stable(kind, stable, fn_name):
    if kind not in (None, "quicksort", "mergesort", "heapsort", "stable"):
        raise InvalidArgumentError(f"numpy.{fn_name}: kind must be one of quicksort, mergesort, heapsort, stable; "
                                   f"got {kind!r}")
    return bool(stable) or kind in ("stable", "mergesort")


@numpy_adapter(np.sort)
def _np_sort(a, axis=-1, kind=None, order=None, *, stable=None):
    if order is not None:
        raise UnimplementedError("numpy.sort on graphjit tensors does not support order= (no structured dtypes)")
    _is_stable(kind, stable, "sort")  # sorted values do not depend on the algorithm
    x, axis = _numpy_sort_axis(a, axis, "sort")
    return SORT.bind(x, axis=axis, descending=False)


@numpy_adapter(np.argsort)
def _np_argsort(a, axis=-1, kind=None, order=None, *, stable=None):
    if order is not None:
        raise UnimplementedError("numpy.argsort on graphjit tensors does not support order= (no structured dtypes)")
    stable = _is_stable(kind, stable, "argsort")
    x, axis = _numpy_sort_axis(a, axis, "argsort")
    return ARGSORT.bind(x, axis=axis, descending=False, stable=stable, output_type=int64)


# ---- gradients (tracer.autodiff) -------------------------------------------------------------------------

def _cumsum_grad(g, y, x, *, axis, exclusive, reverse):
    # x_k is in the sums y_j with j >= k (j > k when exclusive), in the scan's direction
    return (CUMSUM.bind(g, axis=axis, exclusive=exclusive, reverse=not reverse),)


def _cumprod_grad(g, y, x, *, axis, exclusive, reverse):
    """dx_k = sum of g_j * (y_j without its factor x_k) over the products y_j that include x_k. Where x_k != 0
    that is the cumsum of g * y the other way, divided by x_k (TF's formula; an underflowing or overflowing
    product loses the precision that division assumes). At a scan's first zero (in its direction) the division
    is undefined, and y_j without that factor is the cumprod of x with the zero replaced by 1; every later
    product includes that zero, so a later zero's gradient is 0."""
    back = dict(axis=axis, exclusive=exclusive, reverse=not reverse)
    is_zero = x == 0.0
    zeros_before = CUMSUM.bind(cast(is_zero, x.dtype), axis=axis, exclusive=True, reverse=reverse)
    first_zero = logical_and(is_zero, zeros_before == 0.0)
    at_nonzero = CUMSUM.bind(g * y, **back) / where(is_zero, 1.0, x)
    without_first_zero = CUMPROD.bind(where(first_zero, 1.0, x), axis=axis, exclusive=exclusive, reverse=reverse)
    at_first_zero = CUMSUM.bind(g * without_first_zero, **back)
    return (where(is_zero, where(first_zero, at_first_zero, 0.0), at_nonzero),)


def _sort_grad(g, y, x, *, axis, descending):
    """y = x[..., order, ...] along ``axis`` for order = argsort(x) (ties: any order of equal values is one
    sort), so the upstream is scattered back to x's layout by that index, with open grids on the other axes."""
    order = ARGSORT.bind(x, axis=axis, descending=descending, stable=True, output_type=int64)
    rank = len(x.shape)
    grids = [order if a == axis else
             EagerTensor(np.arange(d, dtype=np.int64).reshape((1,) * a + (d,) + (1,) * (rank - a - 1)))
             for a, d in enumerate(x.shape)]
    return (scatter_into_zeros(g, x.shape, grids, tuple(In(k + 1) for k in range(rank))),)


CUMSUM.grad = _cumsum_grad
CUMPROD.grad = _cumprod_grad
SORT.grad = _sort_grad
ARGSORT.grad = NOT_DIFFERENTIABLE
