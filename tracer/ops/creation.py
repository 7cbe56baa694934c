"""Creation ops: constant, zeros, ones, fill, zeros_like, ones_like, range, eye, linspace."""
import math

import numpy as np

from .. import context, dtypes
from ..attrs import Axis, Dtype, Int, Number, Shape, Value
from ..dtypes import from_numpy
from ..errors import InvalidArgumentError, UnimplementedError
from ..ir import Const, TensorType
from ..limits import check_allocation
from .. import lowering as L
from ..lowering import Scalar
from ..registry import NOT_DIFFERENTIABLE, OPS, Op, export, numpy_adapter, register
from ..shapes import broadcast_shapes, normalize_axis
from ..symbolic import shape_is_symbolic
from ..tensor import EagerTensor, SymbolicTensor, as_dtype_arg, convert_to_tensor, placed_like
from .indexing import located
from .shape_ops import cast, static_shape


def _constant_infer(*, value):
    return TensorType(value.value.shape, from_numpy(value.value.dtype))


register(Op("constant", infer=_constant_infer, eager=lambda *, value: value.value, attrs={"value": Value()},
            doc="A literal value (captured eager tensors and Python values become constants)."))


@export("constant")
def constant(value, dtype=None, shape=None, name=None):
    """A tensor holding ``value`` (cast to ``dtype``; broadcast or reshaped to ``shape`` when given)."""
    dtype = as_dtype_arg(dtype)
    if isinstance(value, EagerTensor) and dtype is not None and value.dtype is not dtype:
        value = value._value.astype(dtype.np)
    tensor = convert_to_tensor(value, dtype if not isinstance(value, EagerTensor) else None, what="constant(value)")
    if shape is not None:
        array = tensor._value
        shape = tuple(int(d) for d in shape)
        if array.size == int(np.prod(shape)):
            array = array.reshape(shape)
        elif array.size == 1:
            array = np.broadcast_to(array.reshape(()), shape).copy()
        else:
            raise InvalidArgumentError(f"constant: a value of shape {array.shape} cannot be given shape {shape}")
        tensor = EagerTensor(array)
    record = getattr(context.current(), "record_constant", None)  # a compat.v1 graph names its constants
    return tensor if record is None else record(tensor, name)


CONSTANT = Const  # re-exported for op files that build constant nodes


# ---- zeros, ones, fill: the shape and dtype are attributes, so graphs show them (no big constants) ----

def _shaped_infer(*, shape, dtype):
    check_allocation(shape, dtype)
    return TensorType(tuple(shape), dtype)


# A shape may hold None: zeros_like of a compat.v1 placeholder's partly known shape (resolved when it runs); or
# SymInts: an input_signature's unknown sizes (map_fn's and scan's accumulators), evaluated per run.
_SHAPED = {"shape": Shape(unknown=True, symbolic=True), "dtype": Dtype()}
ZEROS = register(Op("zeros", infer=_shaped_infer, eager=lambda *, shape, dtype: np.zeros(shape, dtype.np),
                    attrs=_SHAPED, check_eager=False))
ONES = register(Op("ones", infer=_shaped_infer, eager=lambda *, shape, dtype: np.ones(shape, dtype.np),
                   attrs=_SHAPED, check_eager=False))

_shape_arg = static_shape


def _count(value, what):
    """A non-negative Python int (a row count, a number of values)."""
    (count,) = static_shape([value], what, allow_minus_one=True)
    if count < 0:
        raise InvalidArgumentError(f"{what} must be >= 0, got {count}")
    return count


@export("zeros")
@located
def zeros(shape, dtype=dtypes.float32, name=None):
    """A tensor of ``shape`` filled with zeros (False for bool)."""
    return _bind_filled(ZEROS, "zeros", shape, dtype)


@export("ones")
@located
def ones(shape, dtype=dtypes.float32, name=None):
    """A tensor of ``shape`` filled with ones (True for bool)."""
    return _bind_filled(ONES, "ones", shape, dtype)


def _bind_filled(op, where, shape, dtype):
    shape, dtype = _shape_arg(shape, f"{where}(shape)"), as_dtype_arg(dtype, f"{where}(dtype)")
    check_allocation(shape, dtype, where)  # the eager path skips the rule
    return op.bind(shape=shape, dtype=dtype)


def _like(op, input, dtype, what):  # noqa: A002
    # Shapes are static, so the result depends only on the input's type: no edge from the input's node. Eagerly,
    # the result is made on the input's device (placed_like).
    t = convert_to_tensor(input, what=f"{what}(input)")
    dtype = as_dtype_arg(dtype, f"{what}(dtype)") or t.dtype
    shape = tuple(t.type.shape)
    if shape_is_symbolic(shape):   # an input_signature's unknown size: the value broadcast (broadcast_to takes it)
        value = (np.zeros if op is ZEROS else np.ones)((), dtype.np)
        return OPS["broadcast_to"].bind(convert_to_tensor(value), shape=shape)
    with placed_like(t):
        return op.bind(shape=tuple(t.shape), dtype=dtype)


@export("zeros_like")
@located
def zeros_like(input, dtype=None, name=None):  # noqa: A002
    """Zeros with the shape (and, unless ``dtype`` is given, the dtype) of ``input``."""
    return _like(ZEROS, input, dtype, "zeros_like")


@export("ones_like")
@located
def ones_like(input, dtype=None, name=None):  # noqa: A002
    """Ones with the shape (and, unless ``dtype`` is given, the dtype) of ``input``."""
    return _like(ONES, input, dtype, "ones_like")


@numpy_adapter(np.zeros_like)
@located
def _np_zeros_like(a, dtype=None, order="K", subok=True, shape=None, *, device=None):
    return _np_like(ZEROS, a, dtype, shape, "numpy.zeros_like")


@numpy_adapter(np.ones_like)
@located
def _np_ones_like(a, dtype=None, order="K", subok=True, shape=None, *, device=None):
    return _np_like(ONES, a, dtype, shape, "numpy.ones_like")


def _np_like(op, a, dtype, shape, what):
    t = convert_to_tensor(a, what=f"{what}(a)")
    shape = tuple(t.shape) if shape is None else _shape_arg(shape, f"{what}(shape)")
    dtype = as_dtype_arg(dtype, f"{what}(dtype)") or t.dtype
    with placed_like(t):
        return op.bind(shape=shape, dtype=dtype)


def _fill_infer(value, *, shape):
    if len(value.shape):
        raise InvalidArgumentError(f"value must be a scalar, got shape {tuple(value.shape)}")
    check_allocation(shape, value.dtype)
    return TensorType(tuple(shape), value.dtype)


# The value is an input (it may be computed in the graph, as in TF); the shape is an attribute.
FILL = register(Op("fill", infer=_fill_infer, eager=lambda value, *, shape: np.full(shape, value, value.dtype),
                   attrs={"shape": Shape(symbolic=True)}))


@export("fill")
@located
def fill(dims, value, name=None):
    """A tensor of shape ``dims`` with every element ``value`` (a scalar; Python floats give float32)."""
    v = convert_to_tensor(value, what="fill(value)")
    return FILL.bind(v, shape=_shape_arg(dims, "fill(dims)"))


# ---- range, eye, linspace ---------------------------------------------------------------------------

def _range_size(start, limit, delta):
    if delta == 0:
        raise InvalidArgumentError(f"delta must not be 0 (start={start}, limit={limit})")
    return max(0, math.ceil((limit - start) / delta)) if isinstance(start + limit + delta, float) \
        else max(0, -((start - limit) // delta))  # exact for ints of any size


def _range_infer(*, start, limit, delta, dtype):
    if dtype.is_bool:
        raise InvalidArgumentError("dtype bool is not supported")
    n = _range_size(start, limit, delta)
    if dtype.is_integer and n and not all(np.iinfo(dtype.np).min <= v <= np.iinfo(dtype.np).max
                                          for v in (start, start + (n - 1) * delta)):
        raise InvalidArgumentError(f"values from {start} to {start + (n - 1) * delta} do not fit in {dtype.name}")
    return TensorType((n,), dtype)


def _range(*, start, limit, delta, dtype):
    n = _range_size(start, limit, delta)
    if dtype.is_integer:
        return (start + np.arange(n, dtype=np.int64) * delta).astype(dtype.np)
    # start + i * delta in float64, rounded once (TF accumulates in the dtype: it may differ in the last bit)
    return (start + np.arange(n, dtype=np.float64) * delta).astype(dtype.np)


# The bounds are ints for an int dtype and floats for a float one (range_ converts them).
RANGE = register(Op("range", infer=_range_infer, eager=_range,
                    attrs={"start": Number(), "limit": Number(), "delta": Number(), "dtype": Dtype()}))


def _python_number(value, what):
    if isinstance(value, SymbolicTensor):
        raise UnimplementedError(f"{what} is a symbolic tensor: the length of range must be known while tracing")
    if isinstance(value, (EagerTensor, np.ndarray, np.generic)):
        array = np.asarray(value)
        if array.ndim or array.dtype.kind not in "iuf":
            raise InvalidArgumentError(f"{what} must be a scalar number, got {array.dtype}{list(array.shape)}")
        return array.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidArgumentError(f"{what} must be a number, got {value!r}")
    return value


@export("range")
@located
def range_(start, limit=None, delta=1, dtype=None, name="range"):
    """``start, start + delta, ...`` up to but excluding ``limit`` (``range(n)`` is 0..n-1). The dtype is
    inferred as in TF: float32 if any argument is a float, else int32 (int64 when values need it)."""
    if limit is None:
        start, limit = 0, start
    values = [_python_number(v, f"range({w})") for v, w in ((start, "start"), (limit, "limit"), (delta, "delta"))]
    dtype = as_dtype_arg(dtype, "range(dtype)")
    if dtype is None:
        tensors = [v.dtype for v in (start, limit, delta) if isinstance(v, EagerTensor)]
        if tensors:
            dtype = dtypes.result_type(*tensors)
        elif any(isinstance(v, float) for v in values):
            dtype = dtypes.float32
        else:
            dtype = dtypes.result_type(*(dtypes.python_scalar_dtype(v) for v in values))
    if dtype.is_integer:
        if any(v != int(v) for v in values):
            raise InvalidArgumentError(f"range: start={start}, limit={limit}, delta={delta} are not integers but "
                                       f"dtype is {dtype.name}")
        values = [int(v) for v in values]
    elif dtype.is_floating:
        values = [float(v) for v in values]
    start, limit, delta = values
    return RANGE.bind(start=start, limit=limit, delta=delta, dtype=dtype)


def _eye_infer(*, num_rows, num_columns, batch_shape, dtype):
    return TensorType(tuple(batch_shape) + (num_rows, num_columns), dtype)


def _eye(*, num_rows, num_columns, batch_shape, dtype):
    matrix = np.eye(num_rows, num_columns, dtype=dtype.np)
    return np.array(np.broadcast_to(matrix, tuple(batch_shape) + matrix.shape)) if batch_shape else matrix


EYE = register(Op("eye", infer=_eye_infer, eager=_eye, check_eager=False,
                  attrs={"num_rows": Int(), "num_columns": Int(), "batch_shape": Shape(), "dtype": Dtype()}))


@export("eye", "linalg.eye")
@located
def eye(num_rows, num_columns=None, batch_shape=None, dtype=dtypes.float32, name=None):
    """Identity matrices: ones on the main diagonal of a ``num_rows`` x ``num_columns`` matrix (square by
    default), repeated over ``batch_shape``."""
    rows = _count(num_rows, "eye(num_rows)")
    cols = rows if num_columns is None else _count(num_columns, "eye(num_columns)")
    batch = () if batch_shape is None else _shape_arg(batch_shape, "eye(batch_shape)")
    return EYE.bind(num_rows=rows, num_columns=cols, batch_shape=batch, dtype=as_dtype_arg(dtype, "eye(dtype)"))


def _linspace_infer(start, stop, *, num, axis):
    if start.dtype is not stop.dtype or not start.dtype.is_floating:
        raise InvalidArgumentError("start and stop must have the same float dtype")
    shape = list(broadcast_shapes(start.shape, stop.shape, what="linspace(start, stop)"))
    shape.insert(normalize_axis(axis, len(shape) + 1, "axis"), num)
    return TensorType(tuple(shape), start.dtype)


def _linspace(start, stop, *, num, axis):
    # Computed in float64 and rounded once; the last value is exactly ``stop`` (as NumPy and TF).
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.linspace(start.astype(np.float64), stop.astype(np.float64), num, axis=axis)
    return out.astype(start.dtype)


LINSPACE = register(Op("linspace", infer=_linspace_infer, eager=_linspace, attrs={"num": Int(), "axis": Axis()},
                       doc="num evenly spaced values from start to stop (inclusive), along a new axis."))


@export("linspace", "lin_space")
@located
def linspace(start, stop, num, name=None, axis=0):
    """``num`` evenly spaced values from ``start`` to ``stop`` inclusive, inserted as a new ``axis``.

    Python numbers give float32; float tensors keep their dtype; integer tensors give float64 (NumPy)."""
    num = _count(num, "linspace(num)")
    a, b = (_float_tensor(v, f"linspace({w})") for v, w in ((start, "start"), (stop, "stop")))
    if a.dtype is not b.dtype:
        target = dtypes.result_type(a.dtype, b.dtype)
        a, b = (t if t.dtype is target else cast(t, target) for t in (a, b))
    axis = normalize_axis(axis, len(broadcast_shapes(a.shape, b.shape)) + 1, "linspace(axis)")
    return LINSPACE.bind(a, b, num=num, axis=axis)


def _float_tensor(value, what):
    if isinstance(value, bool):
        raise InvalidArgumentError(f"{what} must be a number, got a bool")
    t = convert_to_tensor(value, dtypes.float32 if dtypes.is_python_scalar(value) else None, what=what)
    if t.dtype.is_bool:
        raise InvalidArgumentError(f"{what} must be a number, got a bool tensor")
    return cast(t, dtypes.float64) if t.dtype.is_integer else t



# ---- lowering: fills are scalar expressions broadcast over the output (range/eye/linspace run eagerly,
# and are usually constant-folded) ----
OPS["zeros"].lower = Scalar(lambda args, ins, out: L.const(0, out))
OPS["ones"].lower = Scalar(lambda args, ins, out: L.const(1, out))
OPS["fill"].lower = Scalar(lambda args, ins, out: L.cast(args[-1], out))


# ---- gradients (tracer.autodiff) -----------------------------------------------------------------------------
# constant, zeros, ones, range and eye have no tensor inputs: nothing to pass a gradient to. fill's value is
# every element of its result, so it gets their sum; linspace's values are linear in start and stop.

def _linspace_grad(g, y, start, stop, *, num, axis):
    """y[i] = start + (stop - start) * t[i] along ``axis`` with t[i] = i / (num - 1) (t = 0 for num == 1): the
    gradient is sum(g * (1 - t)) for start and sum(g * t) for stop (broadcasting undone by the tape)."""
    t = np.arange(num, dtype=np.float64) / max(num - 1, 1)
    t = EagerTensor(t.astype(g.dtype.np).reshape((num,) + (1,) * (len(g.shape) - axis - 1)))
    to_stop = OPS["reduce_sum"].bind(g * t, axis=(axis,), keepdims=False)
    return OPS["reduce_sum"].bind(g, axis=(axis,), keepdims=False) - to_stop, to_stop


FILL.grad = lambda g, y, value, *, shape: (OPS["reduce_sum"].bind(g, axis=tuple(range(len(shape))), keepdims=False),)
LINSPACE.grad = _linspace_grad
for _name in ("constant", "zeros", "ones", "range", "eye"):
    OPS[_name].grad = NOT_DIFFERENTIABLE
