"""Reductions: reduce_sum, reduce_mean, reduce_max, reduce_min, reduce_prod, reduce_any, reduce_all,
reduce_logsumexp, argmax and argmin.

Public functions normalise ``axis`` (None, an int, a negative int or a sequence) so a node's ``axis`` attr
is a sorted tuple of non-negative ints (argmax/argmin: one int, or None for the flattened tensor as in
NumPy) and ``keepdims`` a bool. Result dtypes are NumPy 2's, probed once per dtype from NumPy itself:
sum/prod of bool and ints give int64 (TF would keep int32 and reject bool), mean of bool/ints gives
float64 (TF would divide in integers), max/min keep the dtype, any/all give bool, arg* int64 or int32.

Reducing an empty axis gives the identity, as NumPy does (sum 0, prod 1, any False, all True, mean NaN,
logsumexp -inf). max/min/argmax/argmin have no identity: their rules reject it, so tracing reports it too.
"""
import numpy as np

from ..attrs import Axes, Axis, Bool, Dtype, Optional
from ..dtypes import from_numpy, int32, int64
from ..errors import InvalidArgumentError, UnimplementedError
from ..ir import TensorType
from ..lowering import Kernel, Reduce
from ..registry import API, NOT_DIFFERENTIABLE, OPS, Op, export, numpy_adapter, register
from ..symbolic import is_symbolic
from ..shapes import format_shape, inverse_permutation, normalize_axes, normalize_axis
from ..source import with_location
from ..tensor import EagerTensor, as_dtype_arg, convert_to_tensor

# ---- helpers shared with other op families (nn uses axis_argument and normalize_single_axis) ------------


def axis_argument(axis):
    """Concrete tensors and arrays given as ``axis`` become Python ints or lists (TF accepts tensor axes)."""
    if isinstance(axis, EagerTensor):
        axis = axis.numpy()
    if isinstance(axis, (np.ndarray, np.generic)):
        return axis.tolist()
    return axis


def normalize_reduction_axes(axis, ndim, op_name):
    """``axis`` as a sorted tuple of non-negative ints; errors name the op and the user's line."""
    try:
        return normalize_axes(axis_argument(axis), ndim)
    except InvalidArgumentError as err:
        raise InvalidArgumentError(with_location(f"{op_name}: {err}")) from None


def normalize_single_axis(axis, ndim, op_name):
    """One axis in [0, ndim); errors name the op and the user's line."""
    try:
        return normalize_axis(axis_argument(axis), ndim)
    except InvalidArgumentError as err:
        raise InvalidArgumentError(with_location(f"{op_name}: {err}")) from None


def keepdims_flag(keepdims, op_name):
    """``keepdims`` as a bool: bools, ints (NumPy's truthiness) and None (TF: False); a string or an array
    would otherwise be truthy or raise NumPy's ambiguous-truth ValueError."""
    if keepdims is None:
        return False
    if isinstance(keepdims, (bool, int, np.bool_, np.integer)):
        return bool(keepdims)
    raise InvalidArgumentError(with_location(f"{op_name}: keepdims must be a bool, got {keepdims!r:.40} of type "
                                             f"{type(keepdims).__name__}"))


def reduced_shape(shape, axes, keepdims):
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def check_axes(shape, axes):
    """Rules must not trust attrs: a node could be built by hand or by a pass."""
    if any(not 0 <= a < len(shape) for a in axes) or list(axes) != sorted(set(axes)):
        raise InvalidArgumentError(f"axis={axes} is not a sorted tuple of distinct axes of a rank-{len(shape)} "
                                   f"tensor")


def reject_empty_axes(op_name, shape, axes):
    """NumPy raises for these (no identity); the rule raises first so traces report it at the user's line."""
    for a in axes:
        if shape[a] == 0:
            raise InvalidArgumentError(f"{op_name} of an empty axis is undefined: axis {a} of shape "
                                       f"{format_shape(shape)} has size 0 ({op_name} has no identity)")


_probed = {}


def numpy_result_dtype(np_fn, dtype, op_name):
    """The dtype ``np_fn`` gives for a ``dtype`` array, so rules follow NumPy exactly on every platform."""
    key = (np_fn, dtype)
    found = _probed.get(key)
    if found is None:
        with np.errstate(all="ignore"):
            np_dtype = np.asarray(np_fn(np.ones((1,), dtype.np), axis=0)).dtype
        found = from_numpy(np_dtype)
        if found is None:
            raise InvalidArgumentError(f"{op_name} of {dtype.name} gives {np_dtype}, which graphjit does not support")
        _probed[key] = found
    return found


# ---- reduce_* ops ----------------------------------------------------------------------------------------

def _mean(x, *, axis, keepdims):
    count = int(np.prod([x.shape[a] for a in axis]))
    if count == 0:  # NumPy gives NaN too, but with two RuntimeWarnings
        dtype = np.float64 if x.dtype.kind != "f" else x.dtype
        return np.full(reduced_shape(x.shape, axis, keepdims), np.nan, dtype)
    with np.errstate(all="ignore"):
        return np.mean(x, axis=axis, keepdims=keepdims)


def _logsumexp(x, *, axis, keepdims):
    """log(sum(exp(x))) computed as m + log(sum(exp(x - m))) with m the max, so large inputs do not overflow.

    A non-finite max is replaced by 0: all -inf gives log(0) = -inf, +inf gives +inf, NaN stays NaN.
    """
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    with np.errstate(all="ignore"):
        m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)  # initial: empty axes give -inf
        m = np.where(np.isfinite(m), m, x.dtype.type(0))
        out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out.reshape(reduced_shape(x.shape, axis, keepdims))


def _logsumexp_dtype(dtype):
    return dtype if dtype.is_floating else from_numpy(np.dtype(np.float64))


def _reduction(name, eager, np_fn, *, has_identity=True, dtype_rule=None, reject_bool=False, doc=""):
    def infer(x, *, axis, keepdims):
        check_axes(x.shape, axis)
        if reject_bool and x.dtype.is_bool:
            raise InvalidArgumentError(f"{name} does not accept bool tensors; cast to a number first")
        if not has_identity:
            reject_empty_axes(name, x.shape, axis)
        dtype = dtype_rule(x.dtype) if dtype_rule else numpy_result_dtype(np_fn, x.dtype, name)
        return TensorType(reduced_shape(x.shape, axis, keepdims), dtype)

    if eager is None:
        def eager(x, *, axis, keepdims):
            with np.errstate(all="ignore"):  # float overflow to inf, NaN comparisons
                return np_fn(x, axis=axis, keepdims=keepdims)
    return register(Op(name, infer=infer, eager=eager, attrs={"axis": Axes(), "keepdims": Bool()}, doc=doc))


REDUCE_SUM = _reduction("reduce_sum", None, np.sum, doc="Sum over ``axis`` (NumPy dtypes: ints/bool -> int64).")
REDUCE_MEAN = _reduction("reduce_mean", _mean, np.mean, doc="Mean over ``axis`` (ints/bool -> float64).")
REDUCE_MAX = _reduction("reduce_max", None, np.max, has_identity=False, doc="Maximum over ``axis``; NaN wins.")
REDUCE_MIN = _reduction("reduce_min", None, np.min, has_identity=False, doc="Minimum over ``axis``; NaN wins.")
REDUCE_PROD = _reduction("reduce_prod", None, np.prod, doc="Product over ``axis`` (ints/bool -> int64).")
REDUCE_ANY = _reduction("reduce_any", None, np.any, doc="Logical or over ``axis``; always bool.")
REDUCE_ALL = _reduction("reduce_all", None, np.all, doc="Logical and over ``axis``; always bool.")
REDUCE_LOGSUMEXP = _reduction("reduce_logsumexp", _logsumexp, None, dtype_rule=_logsumexp_dtype,
                              reject_bool=True, doc="Stable log(sum(exp(x))) over ``axis``; ints -> float64.")


def _public_reduction(op, names, summary):
    def public(input_tensor, axis=None, keepdims=False, name=None):
        x = convert_to_tensor(input_tensor, what=f"{op.name}(input_tensor)")
        return op.bind(x, axis=normalize_reduction_axes(axis, x.ndim, op.name),
                       keepdims=keepdims_flag(keepdims, op.name))
    public.__name__ = op.name
    public.__doc__ = (f"{summary} over ``axis`` (None: all axes; an int, negative ints or a sequence), "
                      f"keeping reduced axes as size 1 when ``keepdims``. Dtypes follow NumPy 2.")
    return export(*names)(public)


reduce_sum = _public_reduction(REDUCE_SUM, ("reduce_sum", "math.reduce_sum"), "Sum")
reduce_mean = _public_reduction(REDUCE_MEAN, ("reduce_mean", "math.reduce_mean"), "Mean")
reduce_max = _public_reduction(REDUCE_MAX, ("reduce_max", "math.reduce_max"), "Maximum")
reduce_min = _public_reduction(REDUCE_MIN, ("reduce_min", "math.reduce_min"), "Minimum")
reduce_prod = _public_reduction(REDUCE_PROD, ("reduce_prod", "math.reduce_prod"), "Product")
reduce_any = _public_reduction(REDUCE_ANY, ("reduce_any", "math.reduce_any"), "Logical or")
reduce_all = _public_reduction(REDUCE_ALL, ("reduce_all", "math.reduce_all"), "Logical and")
reduce_logsumexp = _public_reduction(REDUCE_LOGSUMEXP, ("reduce_logsumexp", "math.reduce_logsumexp"),
                                     "Numerically stable log(sum(exp(x))) (float; ints give float64)")


# ---- argmax / argmin -------------------------------------------------------------------------------------

def _arg_reduction(name, np_fn):
    def infer(x, *, axis, keepdims, output_type):
        axes = tuple(range(len(x.shape))) if axis is None else (axis,)
        check_axes(x.shape, axes)
        if output_type not in (int32, int64):
            raise InvalidArgumentError(f"output_type must be int32 or int64, got {output_type!r}")
        reject_empty_axes(name, x.shape, axes)
        return TensorType(reduced_shape(x.shape, axes, keepdims), output_type)

    def eager(x, *, axis, keepdims, output_type):
        return np.asarray(np_fn(x, axis=axis, keepdims=keepdims)).astype(output_type.np, copy=False)
    # (output_type is any dtype here: the rule names a non-integer one itself)
    return register(Op(name, infer=infer, eager=eager,
                       attrs={"axis": Optional(Axis()), "keepdims": Bool(), "output_type": Dtype()},
                       doc=f"Index of the first {name[3:]} along ``axis`` (None: of the flattened tensor); "
                           f"NaN counts as the extreme, as in NumPy."))


ARGMAX = _arg_reduction("argmax", np.argmax)
ARGMIN = _arg_reduction("argmin", np.argmin)


def _output_type(output_type, op_name):
    dtype = as_dtype_arg(output_type, f"{op_name}(output_type)")
    if dtype not in (int32, int64):
        raise InvalidArgumentError(with_location(f"{op_name}: output_type must be int32 or int64, got {dtype.name}"))
    return dtype


def _public_arg(op, names):
    def public(input, axis=None, output_type=int64, name=None):  # noqa: A002  (TF's parameter name)
        x = convert_to_tensor(input, what=f"{op.name}(input)")
        axis = normalize_single_axis(0 if axis is None else axis, x.ndim, op.name)
        return op.bind(x, axis=axis, keepdims=False, output_type=_output_type(output_type, op.name))
    public.__name__ = op.name
    public.__doc__ = (f"Index of the {op.name[3:]} along ``axis`` (TF: None means axis 0), as ``output_type`` "
                      f"(int64 or int32). An empty axis raises InvalidArgumentError.")
    return export(*names)(public)


argmax = _public_arg(ARGMAX, ("argmax", "math.argmax"))
argmin = _public_arg(ARGMIN, ("argmin", "math.argmin"))


# ---- NumPy functions on tensors (np.sum(t, axis=0) returns a tensor; traced inside gj.function) ----------

# NumPy's own "not given" marker: gj.function(np.sum) binds np.sum's signature and passes its defaults.
_UNSET = getattr(np, "_NoValue", object())


def _keepdims(keepdims):
    return False if keepdims is _UNSET else keepdims_flag(keepdims, "keepdims")


def _numpy_only_defaults(fn_name, out, initial, where):
    if out is not None:
        raise UnimplementedError(f"numpy.{fn_name} on graphjit tensors does not support out=")
    if initial is not _UNSET:
        raise UnimplementedError(f"numpy.{fn_name} on graphjit tensors does not support initial=")
    if where is not _UNSET and where is not True:
        raise UnimplementedError(f"numpy.{fn_name} on graphjit tensors does not support where=")


def _with_dtype(public, fn_name):
    """NumPy's ``sum``/``prod``/``mean`` signature: ``dtype`` is the accumulator and result dtype."""
    def adapter(a, axis=None, dtype=None, out=None, keepdims=False, initial=_UNSET, where=_UNSET):
        _numpy_only_defaults(fn_name, out, initial, where)
        keepdims = _keepdims(keepdims)
        if dtype is None:
            return public(a, axis, keepdims)
        cast = API["cast"]
        dtype = as_dtype_arg(dtype, f"numpy.{fn_name}(dtype)")
        x = convert_to_tensor(a, what=f"numpy.{fn_name}(a)")
        result = public(x if x.dtype is dtype else cast(x, dtype), axis, keepdims)
        # Integer sums come back as int64; wrapping to a narrower dtype matches NumPy's modular accumulation.
        return result if result.dtype is dtype else cast(result, dtype)
    adapter.__name__ = f"numpy_{fn_name}"
    return adapter


def _without_dtype(public, fn_name):
    """NumPy's ``max``/``min``/``any``/``all`` signature."""
    def adapter(a, axis=None, out=None, keepdims=False, initial=_UNSET, where=_UNSET):
        _numpy_only_defaults(fn_name, out, initial, where)
        return public(a, axis, _keepdims(keepdims))
    adapter.__name__ = f"numpy_{fn_name}"
    return adapter


numpy_adapter(np.sum)(_with_dtype(reduce_sum, "sum"))
numpy_adapter(np.prod)(_with_dtype(reduce_prod, "prod"))
numpy_adapter(np.mean)(_with_dtype(reduce_mean, "mean"))
numpy_adapter(np.max, np.amax)(_without_dtype(reduce_max, "max"))
numpy_adapter(np.min, np.amin)(_without_dtype(reduce_min, "min"))
numpy_adapter(np.any)(_without_dtype(reduce_any, "any"))
numpy_adapter(np.all)(_without_dtype(reduce_all, "all"))


def _numpy_arg(op, fn_name):
    """NumPy's ``argmax(a, axis=None, out=None, *, keepdims=False)``: axis None means the flattened tensor."""
    def adapter(a, axis=None, out=None, *, keepdims=False):
        _numpy_only_defaults(fn_name, out, _UNSET, _UNSET)
        x = convert_to_tensor(a, what=f"numpy.{fn_name}(a)")
        if axis is not None:
            axis = normalize_single_axis(axis, x.ndim, op.name)
        return op.bind(x, axis=axis, keepdims=_keepdims(keepdims), output_type=int64)
    adapter.__name__ = f"numpy_{fn_name}"
    return adapter


numpy_adapter(np.argmax)(_numpy_arg(ARGMAX, "argmax"))
numpy_adapter(np.argmin)(_numpy_arg(ARGMIN, "argmin"))


# ---- lowering: accumulator templates (see tracer.lowering.Reduce); float sums accumulate in float64.
# max/min keep NaN once seen, as NumPy does. logsumexp and argmax/argmin are row kernels in the compiler
# (over trailing axes; other axes run eagerly).
REDUCE_SUM.lower = Reduce("0", "{acc} + {v}")
REDUCE_MEAN.lower = Reduce("0", "{acc} + {v}", finalize="{acc} / {n}")
REDUCE_PROD.lower = Reduce("1", "{acc} * {v}")
REDUCE_MAX.lower = Reduce("{lowest}", "({v} if ({v} > {acc} or {v} != {v}) else {acc})", acc_dtype="out")
REDUCE_MIN.lower = Reduce("{highest}", "({v} if ({v} < {acc} or {v} != {v}) else {acc})", acc_dtype="out")
REDUCE_ANY.lower = Reduce("False", "({acc} | ({v} != 0))", acc_dtype="out")
REDUCE_ALL.lower = Reduce("True", "({acc} & ({v} != 0))", acc_dtype="out")
REDUCE_LOGSUMEXP.lower = Kernel("logsumexp")
ARGMAX.lower = Kernel("argmax")
ARGMIN.lower = Kernel("argmin")


# ---- gradients (tracer.autodiff): the upstream gradient spread back over the reduced axes ------------------

def _spread(g, x, axis):
    """``g`` (the reduction's shape) with the reduced axes back as size 1, broadcast to ``x``'s shape."""
    kept = OPS["reshape"].bind(g, shape=reduced_shape(tuple(x.type.shape), axis, True))
    return OPS["broadcast_to"].bind(kept, shape=tuple(x.type.shape))


def _count(x, axis):
    n = 1
    for a in axis:
        n *= x.type.shape[a]
    return n


def _divided_by_count(g, x, axis):
    """``g`` / the number of elements reduced (at least 1); over a symbolic size (an input_signature's None
    dim) the count is computed when the graph runs, from the ``shape`` op."""
    n = _count(x, axis)
    if not is_symbolic(n):
        return g / float(max(n, 1))
    dims = OPS["shape"].bind(x, out_type=int64)
    count = None
    for a in axis:
        if is_symbolic(x.type.shape[a]):
            d = dims[a]
            count = d if count is None else count * d
    static = _count(x, [a for a in axis if not is_symbolic(x.type.shape[a])])
    count = OPS["cast"].bind(count, dtype=g.dtype)
    return g / (count * float(static)) if static != 1 else g / count


def _extreme_grad(g, y, x, *, axis, keepdims):
    # TF's choice: the gradient is shared equally by the elements that tie for the extreme
    hit = OPS["cast"].bind(OPS["equal"].bind(x, _spread(y, x, axis)), dtype=x.dtype)
    ties = _spread(REDUCE_SUM.bind(hit, axis=axis, keepdims=False), x, axis)
    return (OPS["divide"].bind(OPS["multiply"].bind(_spread(g, x, axis), hit), ties),)


REDUCE_SUM.grad = lambda g, y, x, *, axis, keepdims: (_spread(g, x, axis),)
REDUCE_MEAN.grad = lambda g, y, x, *, axis, keepdims: (_divided_by_count(_spread(g, x, axis), x, axis),)
def _prod_grad(g, y, x, *, axis, keepdims):
    """Each element's gradient is the product of the others in its group (the elements reduced together),
    computed without dividing by it, so zeros are handled (TF's exclusive-product formulation): with the group
    laid out along one last axis, the product of the elements before each (an exclusive cumprod) times that of
    the elements after it (the same, reversed)."""
    rank = len(x.shape)
    perm = tuple(a for a in range(rank) if a not in axis) + tuple(axis)
    moved = OPS["transpose"].bind(x, perm=perm)
    grouped = OPS["reshape"].bind(moved, shape=tuple(moved.shape[:rank - len(axis)]) + (_count(x, axis),))
    last = len(grouped.shape) - 1
    before, after = (OPS["cumprod"].bind(grouped, axis=last, exclusive=True, reverse=reverse)
                     for reverse in (False, True))
    others = OPS["reshape"].bind(OPS["multiply"].bind(before, after), shape=tuple(moved.shape))
    others = OPS["transpose"].bind(others, perm=inverse_permutation(perm))
    return (OPS["multiply"].bind(_spread(g, x, axis), others),)


REDUCE_MAX.grad = REDUCE_MIN.grad = _extreme_grad
REDUCE_PROD.grad = _prod_grad
REDUCE_LOGSUMEXP.grad = lambda g, y, x, *, axis, keepdims: (
    _spread(g, x, axis) * OPS["exp"].bind(x - _spread(y, x, axis)),)
for _op in (REDUCE_ANY, REDUCE_ALL, ARGMAX, ARGMIN):
    _op.grad = NOT_DIFFERENTIABLE
