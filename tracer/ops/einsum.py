"""``einsum`` as transposes, reshapes, sums, products and ``matmul`` (so compiled code gets the gemm kernel).

Operands are contracted left to right; each pair becomes one batched matmul over the letters both share
(``bij,bjk->bik``, ``ij,jk->ik``, ``i,i->``), or a broadcast product when they share none to sum
(``i,j->ij``, ``ij,ij->ij``). Letters used by one operand only and absent from the output are summed first.
The result dtype is NumPy's promotion of the operands' dtypes (integer sums wrap in it, bool sums are
logical or, as in np.einsum). Specs with ``...``, a letter repeated within one operand (diagonals, traces)
or size-1 broadcasting between operands raise UnimplementedError naming the spec.
"""
import math

import numpy as np

from ..dtypes import result_type
from ..errors import InvalidArgumentError, UnimplementedError
from ..registry import export, numpy_adapter
from ..source import with_location
from ..tensor import convert_to_tensor
from .elementwise import multiply
from .linalg import matmul
from .reductions import reduce_sum
from .shape_ops import cast, reshape, transpose


def _unsupported(equation, why):
    return UnimplementedError(with_location(f"einsum spec {equation!r}: {why} is not supported"))


def _invalid(equation, why):
    return InvalidArgumentError(with_location(f"einsum spec {equation!r}: {why}"))


def _parse(equation, operands):
    spec = equation.replace(" ", "")
    if "." in spec:
        raise _unsupported(equation, "an ellipsis (...)")
    if "->" in spec:
        lhs, out = spec.split("->")
    else:  # NumPy's implicit output: the letters used once, alphabetically
        lhs = spec
        letters = lhs.replace(",", "")
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    terms = lhs.split(",")
    if len(terms) != len(operands):
        raise _invalid(equation, f"{len(terms)} operand(s) in the spec, {len(operands)} given")
    for term in terms + [out]:
        if not all(c.isalpha() for c in term):
            raise _invalid(equation, f"subscripts must be letters, got {term!r}")
    sizes = {}
    for k, (term, x) in enumerate(zip(terms, operands)):
        if len(term) != x.ndim:
            raise _invalid(equation, f"operand {k} has shape {tuple(x.shape)} (rank {x.ndim}) but subscripts "
                                     f"{term!r}")
        if len(set(term)) != len(term):
            raise _unsupported(equation, f"a repeated subscript within operand {k} ({term!r}: diagonals/traces)")
        for c, d in zip(term, x.shape):
            if sizes.setdefault(c, d) != d:
                if 1 in (sizes[c], d):
                    raise _unsupported(equation, f"broadcasting a size-1 dimension for subscript {c!r}")
                raise _invalid(equation, f"subscript {c!r} has size {sizes[c]} in one operand and {d} in another")
    if len(set(out)) != len(out) or any(c not in sizes for c in out):
        raise _invalid(equation, f"output subscripts {out!r} must be distinct letters used by the operands")
    return terms, out, sizes


def _permuted(x, term, order):
    perm = [term.index(c) for c in order]
    return x if perm == list(range(len(term))) else transpose(x, perm)


def _sum_out(x, term, keep):
    """Sums the letters of ``term`` that are not in ``keep``."""
    drop = [k for k, c in enumerate(term) if c not in keep]
    if not drop:
        return x, term
    return reduce_sum(x, drop), "".join(c for c in term if c in keep)


def _contract(a, ta, b, tb, keep, sizes):
    """The two operands as one, over the letters of ``keep`` (in the order batch, a's, b's)."""
    a, ta = _sum_out(a, ta, keep + tb)
    b, tb = _sum_out(b, tb, keep + ta)
    batch = [c for c in ta if c in tb and c in keep]
    summed = [c for c in ta if c in tb and c not in keep]
    a_free = [c for c in ta if c not in tb]
    b_free = [c for c in tb if c not in ta]
    dims = lambda letters: [sizes[c] for c in letters]  # noqa: E731
    if not summed:  # a broadcast product: batch, a's and b's letters laid out for broadcasting
        a2 = reshape(_permuted(a, ta, batch + a_free), dims(batch) + dims(a_free) + [1] * len(b_free))
        b2 = reshape(_permuted(b, tb, batch + b_free), dims(batch) + [1] * len(a_free) + dims(b_free))
        return multiply(a2, b2), "".join(batch + a_free + b_free)
    nb, m, k, n = (math.prod(dims(g)) for g in (batch, a_free, summed, b_free))
    a3 = reshape(_permuted(a, ta, batch + a_free + summed), (nb, m, k) if batch else (m, k))
    b3 = reshape(_permuted(b, tb, batch + summed + b_free), (nb, k, n) if batch else (k, n))
    product = matmul(a3, b3)
    return reshape(product, dims(batch) + dims(a_free) + dims(b_free)), "".join(batch + a_free + b_free)


@export("einsum", "linalg.einsum")
def einsum(equation, *inputs, **kwargs):
    """NumPy/TF ``einsum`` for specs without ellipses or repeated subscripts within an operand."""
    if not isinstance(equation, str):
        raise UnimplementedError(with_location("einsum in NumPy's operand-list form (einsum(a, [0, 1], ...)) is "
                                               "not supported; pass a subscripts string"))
    kwargs.pop("name", None)
    kwargs.pop("optimize", None)  # the contraction order is always left to right
    if kwargs:
        raise UnimplementedError(with_location(f"einsum on graphjit tensors does not support {sorted(kwargs)}"))
    operands = [convert_to_tensor(x, what=f"einsum(operand {k})") for k, x in enumerate(inputs)]
    if not operands:
        raise _invalid(equation, "no operands given")
    terms, out, sizes = _parse(equation, operands)
    dtype = result_type(*(x.dtype for x in operands))
    x, term = operands[0], terms[0]
    for k in range(1, len(operands)):
        later = out + "".join(terms[k + 1:])
        keep = "".join(dict.fromkeys(c for c in term + terms[k] if c in later))
        x, term = _contract(x, term, operands[k], terms[k], keep, sizes)
    x, term = _sum_out(x, term, out)
    x = _permuted(x, term, out)
    return x if x.dtype is dtype else cast(x, dtype)


@numpy_adapter(np.einsum)
def _np_einsum(*operands, out=None, dtype=None, order="K", casting="safe", optimize=False):
    if out is not None or dtype is not None:
        raise UnimplementedError(with_location("numpy.einsum on graphjit tensors does not support out= or dtype="))
    if not operands:
        raise InvalidArgumentError(with_location("numpy.einsum needs a subscripts string and operands"))
    return einsum(*operands)
