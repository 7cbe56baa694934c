"""Tensors: ``EagerTensor`` holds a NumPy value; ``DeviceTensor`` (an EagerTensor) a GPU array; ``SymbolicTensor``
names a node of a graph being traced.

Arithmetic operators, indexing and NumPy functions are not defined here: each op's file declares the
operators it implements (``registry.export``) and ``install_operators`` attaches them to ``Tensor``.
"""
import contextlib

import numpy as np

from . import context, dtypes, registry
from .dtypes import DType
from .errors import (InvalidArgumentError, InvalidTypeError, OperatorNotAllowedInGraphError, TracingError,
                     UnimplementedError)
from .ir import TensorType
from .shapes import TensorShape
from .source import with_location


class Tensor:
    """Base of every tensor-like value (eager, symbolic, variables)."""
    __slots__ = ()
    __array_priority__ = 100

    def __hash__(self):
        # == is elementwise, so tensors are unhashable (as in TF2); Python's own TypeError would name
        # neither the tensor nor the way out, and a set or dict key of tensors is a common slip.
        raise InvalidTypeError(with_location(
            f"a tensor ({self._describe()}) is unhashable, because == on tensors is elementwise: it cannot "
            f"be a set element or a dict key; use t.ref() as the key instead"))

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def rank(self):
        return len(self.shape)

    @property
    def T(self):  # noqa: N802  (NumPy's name)
        """All axes reversed, as NumPy's ``ndarray.T`` (``transpose`` with no permutation)."""
        return registry.API["transpose"](self)

    def get_shape(self):
        return self.shape

    # ---- NumPy's ndarray methods (each runs the graphjit op, so it is traced inside gj.function) ----

    @property
    def size(self):
        """The number of elements (None while a compat.v1 placeholder dim is unknown)."""
        dims = tuple(self.shape)
        return None if None in dims else int(np.prod(dims, dtype=np.int64))

    def reshape(self, *shape, order="C"):
        if order != "C":
            raise UnimplementedError(with_location(f"Tensor.reshape supports only order='C', got {order!r}"))
        if len(shape) == 1 and not isinstance(shape[0], int):
            shape = shape[0]
        return registry.API["reshape"](self, shape)

    def astype(self, dtype, order="K", casting="unsafe", subok=True, copy=True):
        """NumPy's ``astype`` (graphjit's ``cast``: NaN/inf/out-of-range floats to ints give the int minimum)."""
        return registry.API["cast"](self, dtype)

    def ravel(self, order="C"):
        return self.reshape(-1, order=order)

    def flatten(self, order="C"):
        return self.reshape(-1, order=order)

    def transpose(self, *axes):
        if len(axes) == 1 and (axes[0] is None or not isinstance(axes[0], int)):
            axes = axes[0]
        return registry.API["transpose"](self, None if axes is None or len(axes) == 0 else list(axes))

    def squeeze(self, axis=None):
        return registry.NUMPY[np.squeeze](self, axis)

    def sum(self, axis=None, dtype=None, out=None, keepdims=False):
        return registry.NUMPY[np.sum](self, axis, dtype, out, keepdims)

    def prod(self, axis=None, dtype=None, out=None, keepdims=False):
        return registry.NUMPY[np.prod](self, axis, dtype, out, keepdims)

    def mean(self, axis=None, dtype=None, out=None, keepdims=False):
        return registry.NUMPY[np.mean](self, axis, dtype, out, keepdims)

    def std(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
        return registry.NUMPY[np.std](self, axis, dtype, out, ddof, keepdims)

    def var(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
        return registry.NUMPY[np.var](self, axis, dtype, out, ddof, keepdims)

    def max(self, axis=None, out=None, keepdims=False):
        return registry.NUMPY[np.max](self, axis, out, keepdims)

    def min(self, axis=None, out=None, keepdims=False):
        return registry.NUMPY[np.min](self, axis, out, keepdims)

    def any(self, axis=None, out=None, keepdims=False):
        return registry.NUMPY[np.any](self, axis, out, keepdims)

    def all(self, axis=None, out=None, keepdims=False):
        return registry.NUMPY[np.all](self, axis, out, keepdims)

    def argmax(self, axis=None, out=None, *, keepdims=False):
        return registry.NUMPY[np.argmax](self, axis, out, keepdims=keepdims)

    def argmin(self, axis=None, out=None, *, keepdims=False):
        return registry.NUMPY[np.argmin](self, axis, out, keepdims=keepdims)

    def cumsum(self, axis=None, dtype=None, out=None):
        return registry.NUMPY[np.cumsum](self, axis, dtype, out)

    def cumprod(self, axis=None, dtype=None, out=None):
        return registry.NUMPY[np.cumprod](self, axis, dtype, out)

    def clip(self, min=None, max=None, out=None):  # noqa: A002  (NumPy's names)
        return registry.NUMPY[np.clip](self, min, max, out)

    def round(self, decimals=0, out=None):
        return registry.NUMPY[np.round](self, decimals, out)

    def dot(self, b, out=None):
        return registry.NUMPY[np.dot](self, b, out)

    def copy(self, order="C"):
        """A new tensor with the same value (tensors are immutable, so this only matters for identity)."""
        return registry.API["identity"](self)

    def tolist(self):
        """The value as nested Python lists (eager tensors and variables only)."""
        return np.asarray(self._value_for("tolist")).tolist()

    def item(self, *args):
        """One element as a Python scalar (eager tensors and variables only), as NumPy's ``item``."""
        return np.asarray(self._value_for("item")).item(*args)

    def _value_for(self, method):
        return self.numpy()

    def ref(self):
        """A hashable reference to this tensor object (TF2's ``Tensor.ref()``)."""
        return _Ref(self)

    def __len__(self):
        shape = self.shape
        if not shape:
            raise TypeError(f"len() of a 0-d tensor is undefined ({self._describe()})")
        return shape[0]

    def __iter__(self):
        shape = self.shape
        if not shape:
            raise TypeError(f"iteration over a 0-d tensor ({self._describe()})")
        for i in range(shape[0]):
            yield self[i]

    def _describe(self):
        return f"shape={tuple(self.shape)}, dtype={self.dtype.name}"

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        fn = registry.NUMPY.get(ufunc)
        if method != "__call__" or fn is None:
            name = f"numpy.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
            raise UnimplementedError(with_location(f"{name} is not supported on graphjit tensors"))
        if kwargs.get("out") is not None or kwargs.get("where", True) is not True:
            raise UnimplementedError(f"numpy.{ufunc.__name__} on graphjit tensors does not support out= or where=")
        kwargs.pop("out", None)
        kwargs.pop("where", None)
        dtype = kwargs.pop("dtype", None)
        if kwargs:
            raise UnimplementedError(f"numpy.{ufunc.__name__} on graphjit tensors does not support {sorted(kwargs)}")
        if dtype is not None:  # NumPy's dtype= sets the type the computation runs in
            inputs = [registry.API["cast"](i, dtype) for i in inputs]
        return fn(*inputs)

    def __array_function__(self, func, types, args, kwargs):
        fn = registry.NUMPY.get(func)
        if fn is None:
            raise UnimplementedError(with_location(
                f"{numpy_public_name(func)} is not supported on graphjit tensors; convert with .numpy() "
                f"first or use a graphjit op"))
        return fn(*args, **kwargs)


def numpy_public_name(func):
    """``numpy.linalg.norm`` for np.linalg.norm: the module path users call it by, without private modules
    (``numpy._core.fromnumeric`` -> ``numpy``)."""
    module = getattr(func, "__module__", None) or "numpy"
    public = []
    for part in module.split("."):
        if part.startswith("_"):
            break
        public.append(part)
    return ".".join(public or ["numpy"]) + "." + getattr(func, "__name__", repr(func))


class _Ref:
    __slots__ = ("tensor",)

    def __init__(self, tensor):
        self.tensor = tensor

    def deref(self):
        return self.tensor

    def __eq__(self, other):
        return isinstance(other, _Ref) and other.tensor is self.tensor

    def __hash__(self):
        return id(self.tensor)  # the _Ref holds the tensor: the id stays its own while the _Ref is a key


class EagerTensor(Tensor):
    """A tensor with a value, produced by eager ops. The value is never mutated."""
    __slots__ = ("_value",)

    def __init__(self, value):
        self._value = value

    @property
    def shape(self):
        return TensorShape(self._value.shape)

    @property
    def dtype(self):
        return dtypes.from_numpy(self._value.dtype)

    @property
    def type(self):
        return TensorType(self._value.shape, dtypes.from_numpy(self._value.dtype))

    def numpy(self):
        """The value as a NumPy array (a copy: tensors are immutable); a NumPy scalar for 0-d tensors."""
        value = self._value
        return value[()] if value.ndim == 0 else value.copy()

    device = property(lambda self: "cpu:0", doc="Where the value lives: 'cpu:0', or 'cuda:<k>' (DeviceTensor).")

    def cpu(self):
        """The value on the host (itself for a host tensor; a DeviceTensor copies its value back)."""
        return self

    def cuda(self):
        """The value on the GPU, a DeviceTensor (one copy to the device; needs a usable CUDA device)."""
        return DEVICE_HOOKS["to_cuda"](self._value)

    def __array__(self, dtype=None, copy=None):
        value = self._value
        if dtype is not None and value.dtype != dtype:
            return value.astype(dtype)
        if copy:
            return value.copy()
        view = value.view()  # the tensor is immutable: NumPy gets a read-only view, not the buffer itself
        view.flags.writeable = False
        return view

    def __repr__(self):
        return f"<gj.Tensor: shape={tuple(self.shape)}, dtype={self.dtype.name}, numpy={self._value!r}>"

    def __str__(self):
        return str(self._value)

    def _repr_html_(self):
        from .display import eager_tensor_html  # (display code loads when a notebook first shows a tensor)
        return eager_tensor_html(self)

    def _scalar(self, kind):
        if self._value.size != 1:
            raise TypeError(f"only tensors with one element can be converted to {kind.__name__}, "
                            f"got {self._describe()}")
        return kind(self._value.reshape(()))

    def __bool__(self):
        return self._scalar(bool)

    def __float__(self):
        return self._scalar(float)

    def __int__(self):
        return self._scalar(int)

    def __index__(self):
        if self.dtype.kind not in "ib" or self._value.ndim:
            raise TypeError(f"only 0-d integer tensors can be used as an index, got {self._describe()}")
        return int(self._value)


# Installed by the runtime (graphjit.runtime.devices), which may import numba.cuda; the tracer never does:
# "to_cuda"(host array) -> DeviceTensor, "to_host"(device array) -> ndarray, "wrap"(object with
# __cuda_array_interface__) -> DeviceTensor (no copy), "scope"(device name) -> its ``gj.device`` block.
DEVICE_HOOKS = {}


def placed_like(tensor):
    """The scope in which eager ops run on ``tensor``'s device: a creation op that reads only its operand's shape
    (``zeros_like``, ``ones_like``, ``np.full_like``) makes its result where that operand lives, as TF and PyTorch
    do. A host tensor, or a trace (where the function's device decides): no scope."""
    if type(tensor) is DeviceTensor and context.executing_eagerly():
        return DEVICE_HOOKS["scope"](tensor.device)
    return contextlib.nullcontext()


class DeviceTensor(EagerTensor):
    """An eager tensor whose value is a GPU array (a numba.cuda device array: the result of a traced call under
    ``gj.device("cuda")``, ``t.cuda()``, or an argument exposing ``__cuda_array_interface__``). Nothing reads it on
    the host but ``numpy()``, ``cpu()`` and conversions to Python values, each one counted copy back. An eager op with
    a GPU operand runs on the GPU (a one-op graph on the CUDA backend); mixed with a host tensor of rank >= 1 outside
    ``gj.device("cuda")`` it raises DeviceError naming both devices (docs/architecture.md, "Devices")."""
    __slots__ = ()

    device = property(lambda self: "cuda:0")

    def numpy(self):
        value = DEVICE_HOOKS["to_host"](self._value)
        return value[()] if value.ndim == 0 else value

    def cpu(self):
        return EagerTensor(DEVICE_HOOKS["to_host"](self._value))

    def cuda(self):
        return self

    @property
    def __cuda_array_interface__(self):
        return DEVICE_HOOKS["interface"](self._value)

    def __array__(self, dtype=None, copy=None):
        from .errors import DeviceError
        raise DeviceError(f"a tensor on cuda:0 ({self._describe()}) cannot be used on cpu:0 (as a NumPy array, or "
                          f"by a call running on the CPU): graphjit does not copy between devices implicitly; call "
                          f".numpy() or .cpu() to copy it to the host, or call the function inside "
                          f"`with gj.device('cuda'):`")

    def __repr__(self):
        return (f"<gj.Tensor: shape={tuple(self.shape)}, dtype={self.dtype.name}, device=cuda:0, "
                f"numpy={self.numpy()!r}>")

    def __str__(self):
        return str(self.numpy())

    def _repr_html_(self):
        return f"<pre>{self!r}</pre>"

    def _scalar(self, kind):
        if self._value.size != 1:
            raise TypeError(f"only tensors with one element can be converted to {kind.__name__}, "
                            f"got {self._describe()}")
        return kind(self.numpy().reshape(()))

    def __index__(self):
        if self.dtype.kind not in "ib" or self._value.ndim:
            raise TypeError(f"only 0-d integer tensors can be used as an index, got {self._describe()}")
        return int(self.numpy())


class SymbolicTensor(Tensor):
    """A value inside a graph being traced: it has a shape and dtype but no value."""
    __slots__ = ("_trace", "_id", "_type")

    def __init__(self, trace, node_id, type_):
        self._trace = trace
        self._id = node_id
        self._type = type_

    shape = property(lambda self: TensorShape(self._type.shape))
    dtype = property(lambda self: self._type.dtype)
    type = property(lambda self: self._type)

    def __repr__(self):
        return (f"<gj.Tensor %{self._id} ({self._trace.builder.nodes[self._id].op}) "
                f"shape={tuple(self.shape)}, dtype={self.dtype.name}> (symbolic, traced)")

    def _repr_html_(self):
        from .display import symbolic_tensor_html
        return symbolic_tensor_html(self)

    def _no_value(self, what, instead):
        raise OperatorNotAllowedInGraphError(with_location(
            f"{what} a symbolic tensor ({self._describe()}) is not allowed while tracing: its value is "
            f"not known until the graph runs. {instead}"))

    def __bool__(self):
        self._no_value("using as a Python bool", "Use gj.where / gj.cond-style ops for data-dependent "
                       "choices, or pass the value as a Python scalar so each value gets its own trace.")

    def __float__(self):
        self._no_value("converting to float", "Keep it a tensor, or compute it outside the function.")

    def __int__(self):
        self._no_value("converting to int", "Keep it a tensor, or use its static shape (t.shape).")

    def __index__(self):
        self._no_value("using as a Python index", "Use gj.gather for tensor indices.")

    def numpy(self):
        self._no_value("calling .numpy() on", "Return the tensor from the function to get its value.")

    def _value_for(self, method):
        self._no_value(f"calling .{method}() on", "Return the tensor from the function to get its value.")

    def __array__(self, dtype=None, copy=None):
        self._no_value("converting to a NumPy array", "Use graphjit ops (NumPy functions that graphjit "
                       "implements are traced automatically).")


def install_operators():
    """Attaches the operators declared by op definitions to ``Tensor`` (called once ops are loaded)."""
    for dunder, fn in registry.OPERATORS.items():
        setattr(Tensor, dunder, fn)


# ---- conversion ----------------------------------------------------------------------------------

def _conversion_error(message):
    """Conversion errors name the user's line too: they are raised before any op rule could add it."""
    return InvalidArgumentError(with_location(message))


def _array_dtype(array, what):
    found = dtypes.from_numpy(array.dtype)
    if found is None:
        supported = ", ".join(d.name for d in dtypes.ALL)
        raise _conversion_error(f"{what} has dtype {array.dtype}, which graphjit does not support "
                                f"(supported: {supported})")
    return found


def _python_array(value):
    """A nested list of Python scalars -> ndarray with graphjit's defaults (float32, int32)."""
    array = np.array(value)
    if array.dtype == np.float64:
        return array.astype(np.float32)
    if array.dtype == np.int64:
        if array.size and (array.min() < -2 ** 31 or array.max() >= 2 ** 31):
            return array
        return array.astype(np.int32)
    return array


def _contains_tensor(value):
    if isinstance(value, Tensor):
        return True
    return isinstance(value, (list, tuple)) and any(_contains_tensor(v) for v in value)


def _scalar_array(value, dtype):
    array = np.asarray(value)
    if dtype is not None:
        try:
            converted = np.asarray(value, dtype=dtype.np)
        except OverflowError:
            raise _conversion_error(f"Python value {value!r} is out of range for {dtype.name}") from None
        except ValueError:  # NaN to an integer
            raise _conversion_error(f"Python value {value!r} cannot be represented as {dtype.name}") from None
        if converted.dtype.kind != "f" and array.dtype.kind == "f" and not np.array_equal(converted, array):
            raise _conversion_error(f"Python value {value!r} cannot be represented as {dtype.name}")
        if converted.dtype.kind == "i" and int(converted) != value:
            raise _conversion_error(f"Python value {value!r} is out of range for {dtype.name}")
        return converted
    try:
        return np.asarray(value, dtype=dtypes.python_scalar_dtype(value).np)
    except OverflowError:  # an int beyond int64 (TF refuses it as well)
        raise _conversion_error(f"Python int {value} is out of range for int64, the widest integer dtype") from None


def _cast_python_values(array, dtype, what):
    """Python numbers (as an array) -> ``dtype``, refusing lossy conversions as ``_scalar_array`` does."""
    with np.errstate(all="ignore"):
        converted = array.astype(dtype.np)
    lossy_kinds = "bi" if array.dtype.kind == "f" else "i"  # float -> int/bool, or an int out of range
    if dtype.kind in lossy_kinds and not np.array_equal(converted, array):
        raise _conversion_error(f"{what}: the values cannot be represented as {dtype.name} without changing "
                                   f"them (out of range or not whole numbers); use gj.cast to convert")
    return converted


def convert_to_tensor(value, dtype=None, name=None, *, what="value"):
    """Converts Python scalars, nested lists, NumPy arrays, tensors and variables to a Tensor."""
    if isinstance(value, (EagerTensor, SymbolicTensor)):
        if dtype is not None and dtypes.as_dtype(dtype) is not value.dtype:
            raise InvalidArgumentError(f"{what}: expected a tensor of dtype {dtypes.as_dtype(dtype).name}, "
                                       f"got {value.dtype.name} (use gj.cast to convert)")
        return value
    as_tensor = getattr(value, "_as_tensor", None)
    if as_tensor is not None:
        return convert_to_tensor(as_tensor(), dtype, what=what)
    dtype = None if dtype is None else dtypes.as_dtype(dtype)
    if dtypes.is_python_scalar(value):
        return EagerTensor(_scalar_array(value, dtype))
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.array(value, copy=True)
        _array_dtype(array, what)
        if dtype is not None and array.dtype != dtype.np:
            array = array.astype(dtype.np)
        return EagerTensor(array)
    if isinstance(value, (list, tuple)):
        if _contains_tensor(value):
            stacked = registry.API["stack"]([convert_to_tensor(v, dtype, what=what) for v in value])
            return stacked
        try:
            array = _python_array(value) if dtype is None else np.array(value)
        except (ValueError, TypeError, OverflowError) as err:
            raise _conversion_error(f"{what}: cannot convert {type(value).__name__} to a tensor: {err}") from None
        if dtypes.from_numpy(array.dtype) is None:
            raise _conversion_error(f"{what}: cannot convert {_short_repr(value)} to a tensor: NumPy gives it "
                                    f"dtype {array.dtype}, which graphjit does not support")
        if dtype is not None and array.dtype != dtype.np:
            array = _cast_python_values(array, dtype, what)
        return EagerTensor(array)
    if value is None:
        raise _conversion_error(f"{what}: None cannot be converted to a tensor")
    if is_gpu_array(value):
        return _device_tensor(value, dtype, what)   # a GPU array (CuPy, PyTorch, numba.cuda): no copy
    raise _conversion_error(f"{what}: cannot convert an object of type {type(value).__name__} to a tensor")


def is_gpu_array(value):
    """Whether ``value`` is a GPU array a traced call takes without a copy: it exposes ``__cuda_array_interface__``
    (CuPy, PyTorch, numba.cuda), or is a numba.cuda device array (the simulator's expose no interface)."""
    return (hasattr(value, "__cuda_array_interface__") or getattr(value, "__cuda_memory__", False)
            or type(value).__name__ == "FakeCUDAArray")


def _device_tensor(value, dtype, what):
    wrap = DEVICE_HOOKS.get("wrap")
    if wrap is None:
        raise _conversion_error(f"{what}: a GPU array ({type(value).__name__}) needs graphjit's CUDA support")
    tensor = wrap(value, what)
    if dtype is not None and dtypes.as_dtype(dtype) is not tensor.dtype:
        raise InvalidArgumentError(f"{what}: expected a tensor of dtype {dtypes.as_dtype(dtype).name}, "
                                   f"got {tensor.dtype.name} (use gj.cast to convert)")
    return tensor


def _short_repr(value, limit=80):
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def promote_operands(*values, op_name=None, names=("x", "y")):
    """Converts operands of an elementwise op, resolving weak Python scalars against the tensors (NEP 50).
    ``op_name`` and ``names`` (the public argument names) let a conversion error name the argument."""
    if len(values) == 2 and type(values[0]) is EagerTensor and type(values[1]) is EagerTensor:
        return values
    strong = [convert_to_tensor(v, what=f"operand {i}" if op_name is None else f"{op_name}({names[i]})")
              for i, v in enumerate(values) if not dtypes.is_python_scalar(v)]
    if strong:
        target = dtypes.result_type(*(t.dtype for t in strong))
    else:
        # Python scalars only: the widest Python kind wins (bool < int < float).
        target = dtypes.python_scalar_dtype(max(values, key=lambda v: (type(v) is int) + 2 * (type(v) is float)))
        if target is dtypes.int32 and any(type(v) is int and dtypes.python_scalar_dtype(v) is dtypes.int64
                                          for v in values):
            target = dtypes.int64
    result, it = [], iter(strong)
    for v in values:
        if dtypes.is_python_scalar(v):
            result.append(EagerTensor(_scalar_array(v, dtypes.weak_result(target, v))))
        else:
            result.append(next(it))
    return result


def as_dtype_arg(dtype, what="dtype"):
    if dtype is None:
        return None
    try:
        return dtypes.as_dtype(dtype)
    except InvalidArgumentError as err:
        raise InvalidArgumentError(f"{what}: {err}") from None


__all__ = ["Tensor", "EagerTensor", "SymbolicTensor", "DType", "TensorType", "convert_to_tensor",
           "promote_operands", "install_operators", "TracingError"]
