"""``TensorSpec``: a shape (None for unknown dims) and dtype describing a function argument."""
import operator

from . import dtypes, nest
from .errors import InvalidArgumentError
from .shapes import TensorShape
from .symbolic import SymInt


def checked_shape(shape, what):
    """A user-given static shape (None: unknown rank; None dims: unknown sizes) as a TensorShape; a dim that
    is not a non-negative int (2.5, "a", -3, True) is refused rather than truncated or kept negative."""
    if shape is None:
        return TensorShape(None)
    if isinstance(shape, TensorShape):
        return shape
    dims = shape if isinstance(shape, (list, tuple)) else (shape,)
    checked = []
    for d in dims:
        if d is None or isinstance(d, SymInt):   # (a symbolic size of a trace: unknown to the user)
            checked.append(None)
            continue
        try:
            if isinstance(d, bool):
                raise TypeError
            d = operator.index(d)
        except TypeError:
            raise InvalidArgumentError(f"{what}: shape {shape!r} must hold ints or None, got {d!r}") from None
        if d < 0:
            raise InvalidArgumentError(f"{what}: shape {shape!r} has a negative dimension {d} (use None for "
                                       f"an unknown size)")
        checked.append(d)
    return TensorShape(checked)


class TensorSpec:
    __slots__ = ("shape", "dtype", "name")

    def __init__(self, shape, dtype=dtypes.float32, name=None):
        self.shape = checked_shape(() if shape is None else shape, "TensorSpec")
        try:
            self.dtype = dtypes.as_dtype(dtype)
        except InvalidArgumentError as err:
            raise InvalidArgumentError(f"TensorSpec(dtype): {err}") from None
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


def flatten_up_to_signature(signature, values, where):
    """The values at the signature's TensorSpec positions: a list given where a spec stands is one value
    (it becomes a tensor), as in TF; a structure that does not follow the signature is an error."""
    flat = []

    def walk(spec, value, path):
        if isinstance(spec, TensorSpec):
            flat.append(value)
        elif isinstance(spec, dict):
            if not isinstance(value, dict) or set(value) != set(spec):
                raise InvalidArgumentError(f"{where}: {path} must be a dict with keys {sorted(spec)} to match "
                                           f"the input_signature, got {_kind(value)}")
            for key in nest._sorted_keys(spec):
                walk(spec[key], value[key], f"{path}[{key!r}]")
        elif isinstance(spec, (list, tuple)):
            if not isinstance(value, (list, tuple)) or len(value) != len(spec):
                raise InvalidArgumentError(f"{where}: {path} must be a sequence of {len(spec)} to match the "
                                           f"input_signature, got {_kind(value)}")
            for i, (s, v) in enumerate(zip(spec, value)):
                walk(s, v, f"{path}[{i}]")
        else:
            raise InvalidArgumentError(f"{where}: input_signature must hold gj.TensorSpec objects, got {spec!r}")

    for i, (spec, value) in enumerate(zip(signature, values)):
        walk(spec, value, f"argument {i}")
    return flat


def _kind(value):
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)}"
    return f"a {type(value).__name__}"
