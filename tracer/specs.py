"""``TensorSpec``: a shape (None for unknown dims) and dtype describing a function argument."""
from . import dtypes
from .shapes import TensorShape


class TensorSpec:
    __slots__ = ("shape", "dtype", "name")

    def __init__(self, shape, dtype=dtypes.float32, name=None):
        self.shape = TensorShape(() if shape is None else shape)
        self.dtype = dtypes.as_dtype(dtype)
        self.name = name

    @classmethod
    def from_tensor(cls, tensor, name=None):
        return cls(tensor.shape, tensor.dtype, name)

    def is_compatible_with(self, value):
        return value.dtype == self.dtype and self.shape.is_compatible_with(value.shape)

    def __eq__(self, other):
        return (isinstance(other, TensorSpec) and self.shape == other.shape and self.dtype is other.dtype)

    def __hash__(self):
        return hash((tuple(self.shape), self.dtype))

    def __repr__(self):
        name = "" if self.name is None else f", name={self.name!r}"
        return f"TensorSpec(shape={self.shape}, dtype={self.dtype!r}{name})"
