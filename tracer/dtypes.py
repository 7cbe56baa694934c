"""The five dtypes graphjit supports and the promotion rules between them.

Arrays follow NumPy 2 promotion. Python scalars are *weak* (NEP 50): they take the dtype of the
tensor they meet (``float32_tensor * 2.0`` stays float32; ``int32_tensor * 2.0`` is float64, as in
NumPy). On their own, Python floats become float32 and Python ints int32 (int64 when they do not
fit), the TF2/JAX convention.
"""
import numpy as np

from .errors import InvalidArgumentError


class DType:
    """A tensor element type. Compares equal to its NumPy dtype and to its name."""
    __slots__ = ("name", "np", "short", "kind")

    def __init__(self, name, short):
        self.name = name
        self.np = np.dtype(name)
        self.short = short
        self.kind = self.np.kind  # 'b', 'i' or 'f'

    is_bool = property(lambda self: self.kind == "b")
    is_integer = property(lambda self: self.kind == "i")
    is_floating = property(lambda self: self.kind == "f")
    itemsize = property(lambda self: self.np.itemsize)
    as_numpy_dtype = property(lambda self: self.np.type)

    def __repr__(self):
        return f"gj.{self.name}"

    def __eq__(self, other):
        if isinstance(other, DType):
            return other is self
        try:
            return as_dtype(other) is self
        except (InvalidArgumentError, TypeError):
            return False

    def __hash__(self):
        return hash(self.name)

    def __reduce__(self):
        return as_dtype, (self.name,)


bool_ = DType("bool", "bool")
int32 = DType("int32", "i32")
int64 = DType("int64", "i64")
float32 = DType("float32", "f32")
float64 = DType("float64", "f64")
ALL = (bool_, int32, int64, float32, float64)

_BY_NP = {d.np: d for d in ALL}
_BY_NAME = {d.name: d for d in ALL}
_BY_NAME.update({d.short: d for d in ALL})
_BY_PY = {bool: bool_, int: int32, float: float32}


def as_dtype(value):
    """Converts a DType, NumPy dtype or type, name, or Python type to a graphjit DType."""
    if isinstance(value, DType):
        return value
    found = _BY_PY.get(value) if isinstance(value, type) and value in _BY_PY else None
    if found is None and isinstance(value, str):
        found = _BY_NAME.get(value)
    if found is None:
        try:
            found = _BY_NP.get(np.dtype(value))
        except TypeError:
            found = None
    if found is None:
        supported = ", ".join(d.name for d in ALL)
        raise InvalidArgumentError(f"unsupported dtype {value!r}: graphjit supports {supported}")
    return found


def from_numpy(np_dtype):
    """The DType of a NumPy dtype, or None when graphjit does not support it."""
    return _BY_NP.get(np_dtype)


_INT32_MIN, _INT32_MAX = -(2 ** 31), 2 ** 31 - 1


def python_scalar_dtype(value):
    """The dtype a Python scalar gets when it stands alone."""
    if isinstance(value, bool):
        return bool_
    if isinstance(value, int):
        return int32 if _INT32_MIN <= value <= _INT32_MAX else int64
    return float32


def weak_result(strong, scalar):
    """The dtype of ``strong`` combined with the weak Python scalar ``scalar`` (NumPy 2, NEP 50)."""
    if strong.kind == "f" or type(scalar) is bool or (strong.kind == "i" and type(scalar) is int):
        return strong
    return _BY_NP[np.result_type(strong.np, type(scalar)(0))]


def result_type(*dtypes):
    """NumPy promotion among strong dtypes; always stays within the supported five."""
    first = dtypes[0]
    if all(d is first for d in dtypes):
        return first
    return _BY_NP[np.result_type(*(d.np for d in dtypes))]


def is_python_scalar(value):
    return type(value) in (bool, int, float)
