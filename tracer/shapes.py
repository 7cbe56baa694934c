"""Static shapes: ``TensorShape``, broadcasting, axis normalisation and permutations shared by op rules."""
import math

from .errors import InvalidArgumentError
from .symbolic import SymInt


class TensorShape(tuple):
    """A tuple of dimensions (``None`` for unknown) with TensorFlow's helper methods."""
    __slots__ = ()

    def __new__(cls, dims=()):
        if dims is None:
            return tuple.__new__(UnknownRankShape, ())
        # a symbolic size (an input_signature's None dimension, tracer.symbolic) shows as None, as in TF
        return tuple.__new__(cls, (None if d is None or isinstance(d, SymInt) else int(d) for d in dims))

    rank = property(lambda self: len(self))

    def as_list(self):
        return list(self)

    def is_fully_defined(self):
        return all(d is not None for d in self)

    def num_elements(self):
        return math.prod(self) if self.is_fully_defined() else None

    def is_compatible_with(self, other):
        other = TensorShape(other)
        return len(self) == len(other) and all(
            a is None or b is None or a == b for a, b in zip(self, other))

    def __repr__(self):
        return f"TensorShape({list(self)})"

    def __str__(self):
        return "(" + ", ".join("None" if d is None else str(d) for d in self) + ("," if len(self) == 1 else "") + ")"


class UnknownRankShape(TensorShape):
    """``TensorShape(None)``: not even the rank is known (a compat.v1 placeholder with ``shape=None``)."""
    __slots__ = ()

    rank = property(lambda self: None)

    def as_list(self):
        raise ValueError("as_list() is not defined on a TensorShape of unknown rank")

    def is_fully_defined(self):
        return False

    def num_elements(self):
        return None

    def is_compatible_with(self, other):
        return True

    def __repr__(self):
        return "TensorShape(None)"

    def __str__(self):
        return "<unknown>"


def format_shape(shape):
    if shape is None or type(shape) is UnknownRankShape:
        return "<unknown>"
    return "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"


def broadcast_shapes(*shapes, what="operands"):
    """NumPy broadcasting of static shapes; a clear error naming all shapes when they do not broadcast."""
    ndim = max(len(s) for s in shapes)
    result = []
    for axis in range(-ndim, 0):
        sizes = [s[axis] for s in shapes if -axis <= len(s) and not (type(s[axis]) is int and s[axis] == 1)]
        if sizes and all(same_size(d, sizes[0]) for d in sizes):   # (a size that may be 1, as n0 - 1, is not
            result.append(sizes[0])                                 # asked whether it is 1 when all agree)
            continue
        dim = 1
        for s in shapes:
            d = s[axis] if -axis <= len(s) else 1
            if d != 1:
                if dim != 1 and d != dim:
                    listed = ", ".join(format_shape(s) for s in shapes)
                    raise InvalidArgumentError(f"{what} could not be broadcast together: shapes {listed}")
                dim = d
        result.append(dim)
    return tuple(result)


def same_size(a, b):
    """Whether two sizes (ints or SymInts) are equal for every value of the unknown sizes (never asks a SymInt)."""
    if type(a) is int or type(b) is int:
        return type(a) is type(b) and a == b
    return str(a) == str(b)   # (two SymInts: the same polynomial has the same text)


def normalize_axis(axis, ndim, what="axis"):
    """An int axis in [-ndim, ndim) mapped to [0, ndim)."""
    if isinstance(axis, bool) or not isinstance(axis, int):
        try:
            axis = int(axis.__index__())
        except AttributeError:
            raise InvalidArgumentError(f"{what} must be an int, got {axis!r}") from None
    if not -ndim <= axis < ndim:
        raise InvalidArgumentError(f"{what}={axis} is out of range for a tensor of rank {ndim}")
    return axis % ndim if ndim else 0


def normalize_axes(axis, ndim, what="axis"):
    """None, an int or a sequence of ints -> a sorted tuple of distinct non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (list, tuple)):
        axes = tuple(sorted(normalize_axis(a, ndim, what) for a in axis))
        if len(set(axes)) != len(axes):
            raise InvalidArgumentError(f"{what}={tuple(axis)} repeats an axis")
        return axes
    return (normalize_axis(axis, ndim, what),)


def num_elements(shape):
    return math.prod(shape)


def inverse_permutation(perm):
    """The permutation that undoes ``transpose(x, perm)``; equally, for a result whose axis i stands for axis
    ``perm[i]`` of x, the ``transpose`` perm that puts x's axes back in order."""
    inverse = [0] * len(perm)
    for i, p in enumerate(perm):
        inverse[p] = i
    return tuple(inverse)
