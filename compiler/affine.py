"""Affine index maps: how a loop over a logical shape reads a flat, C-contiguous buffer.

Every materialised value lives in a flat buffer. View ops (reshape of a contiguous value, transpose,
broadcast_to, expand_dims, squeeze, basic indexing) and implicit broadcasting change only the map,
``flat = offset + sum(i[d] * strides[d])``, so consumers read through them without copies.
"""
from dataclasses import dataclass

from graphjit.tracer.shapes import num_elements, same_size
from graphjit.tracer.symbolic import basic_index, decided, is_symbolic


def contiguous_strides(shape):
    strides, step = [], 1
    for dim in reversed(shape):
        strides.append(step)
        step *= dim
    return tuple(reversed(strides))


@dataclass(frozen=True)
class AffineMap:
    shape: tuple
    strides: tuple
    offset: int = 0

    @classmethod
    def contiguous(cls, shape, offset=0):
        return cls(tuple(shape), contiguous_strides(shape), offset)

    def is_contiguous(self):
        # (a size that may be 1 only for some sizes: its stride must be the contiguous one)
        return all(same_size(st, c) if is_symbolic(st) or is_symbolic(c) else st == c for st, c, d in
                   zip(self.strides, contiguous_strides(self.shape), self.shape) if decided(lambda: d == 1) is not True)

    def transpose(self, perm):
        return AffineMap(tuple(self.shape[p] for p in perm), tuple(self.strides[p] for p in perm), self.offset)

    def reshape(self, shape):
        """Only for contiguous maps (callers materialise other values first)."""
        assert self.is_contiguous()
        return AffineMap.contiguous(shape, self.offset)

    def broadcast_to(self, shape):
        lead = len(shape) - len(self.shape)
        strides = [0] * lead
        for d, (have, want) in enumerate(zip(self.shape, shape[lead:])):
            strides.append(self.strides[d] if same_size(have, want) else 0)   # (else have is 1)
        return AffineMap(tuple(shape), tuple(strides), self.offset)

    def expand_dims(self, axis):
        return AffineMap(self.shape[:axis] + (1,) + self.shape[axis:], self.strides[:axis] + (0,) + self.strides[axis:],
                         self.offset)

    def squeeze(self, axes):
        keep = [d for d in range(len(self.shape)) if d not in axes]
        return AffineMap(tuple(self.shape[d] for d in keep), tuple(self.strides[d] for d in keep), self.offset)

    def index(self, key):
        """Basic indexing (ints, slices, None, Ellipsis) with NumPy semantics, symbolic sizes included
        (tracer.symbolic.basic_index); returns None for other keys."""
        if not all(k is None or k is Ellipsis or isinstance(k, (int, slice)) for k in key):
            return None
        shape, strides, offset = [], [], self.offset
        for step in basic_index(self.shape, key):
            if step is None:
                shape.append(1)
                strides.append(0)
            elif len(step) == 2:
                d, position = step
                offset += position * self.strides[d]
            else:
                d, start, stride, length = step
                shape.append(length)
                strides.append(self.strides[d] * stride)
                offset += start * self.strides[d]
        return AffineMap(tuple(shape), tuple(strides), offset)

    def same_as(self, other):
        """Whether the two maps are the same for every size (symbolic sizes compared as expressions; False
        where they may differ for some sizes)."""
        return (len(self.shape) == len(other.shape) and same_size(self.offset, other.offset)
                and all(map(same_size, self.shape + self.strides, other.shape + other.strides)))

    @property
    def size(self):
        return num_elements(self.shape)
