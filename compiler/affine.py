"""Affine index maps: how a loop over a logical shape reads a flat, C-contiguous buffer.

Every materialised value lives in a flat buffer. View ops (reshape of a contiguous value, transpose,
broadcast_to, expand_dims, squeeze, basic indexing) and implicit broadcasting change only the map,
``flat = offset + sum(i[d] * strides[d])``, so consumers read through them without copies.
"""
from dataclasses import dataclass

from graphjit.tracer.shapes import num_elements


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
        return all(st == c for st, c, d in zip(self.strides, contiguous_strides(self.shape), self.shape) if d != 1)

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
            strides.append(self.strides[d] if have == want else 0)
        return AffineMap(tuple(shape), tuple(strides), self.offset)

    def expand_dims(self, axis):
        return AffineMap(self.shape[:axis] + (1,) + self.shape[axis:], self.strides[:axis] + (0,) + self.strides[axis:],
                         self.offset)

    def squeeze(self, axes):
        keep = [d for d in range(len(self.shape)) if d not in axes]
        return AffineMap(tuple(self.shape[d] for d in keep), tuple(self.strides[d] for d in keep), self.offset)

    def index(self, key):
        """Basic indexing (ints, slices, None, Ellipsis) with NumPy semantics; returns None otherwise."""
        items = list(key)
        if sum(1 for k in items if k is Ellipsis) > 1:
            return None
        free = len(self.shape) - sum(1 for k in items if k is not None and k is not Ellipsis)
        if Ellipsis in items:
            e = items.index(Ellipsis)
            items[e:e + 1] = [slice(None)] * free
        else:
            items += [slice(None)] * free
        shape, strides, offset, d = [], [], self.offset, 0
        for k in items:
            if k is None:
                shape.append(1)
                strides.append(0)
                continue
            if isinstance(k, int):
                i = k + self.shape[d] if k < 0 else k
                offset += i * self.strides[d]
            elif isinstance(k, slice):
                start, stop, step = k.indices(self.shape[d])
                shape.append(len(range(start, stop, step)))
                strides.append(self.strides[d] * step)
                offset += start * self.strides[d]
            else:
                return None
            d += 1
        return AffineMap(tuple(shape), tuple(strides), offset)

    @property
    def size(self):
        return num_elements(self.shape)
