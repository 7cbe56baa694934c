"""Creation ops: constant, zeros, ones, fill, zeros_like, ones_like, range, eye, linspace."""
import numpy as np

from ..dtypes import from_numpy
from ..ir import Const, TensorType
from ..registry import Op, export, register
from ..tensor import EagerTensor, as_dtype_arg, convert_to_tensor


def _constant_infer(*, value):
    return TensorType(value.value.shape, from_numpy(value.value.dtype))


register(Op("constant", infer=_constant_infer, eager=lambda *, value: value.value,
            doc="A literal value (captured eager tensors and Python values become constants)."))


@export("constant")
def constant(value, dtype=None, shape=None, name=None):
    """A tensor holding ``value`` (cast to ``dtype``; broadcast or reshaped to ``shape`` when given)."""
    dtype = as_dtype_arg(dtype)
    if isinstance(value, EagerTensor) and dtype is not None and value.dtype is not dtype:
        value = value._value.astype(dtype.np)
    tensor = convert_to_tensor(value, dtype if not isinstance(value, EagerTensor) else None, what="constant(value)")
    if shape is not None:
        from ..errors import InvalidArgumentError
        array = tensor._value
        shape = tuple(int(d) for d in shape)
        if array.size == int(np.prod(shape)):
            array = array.reshape(shape)
        elif array.size == 1:
            array = np.broadcast_to(array.reshape(()), shape).copy()
        else:
            raise InvalidArgumentError(f"constant: a value of shape {array.shape} cannot be given shape {shape}")
        tensor = EagerTensor(array)
    return tensor


CONSTANT = Const  # re-exported for op files that build constant nodes
