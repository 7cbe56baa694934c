"""Slices and int indices of symbolic sizes: NumPy's rules (``slice.indices``, an int index's range check) decided
under the assumption of tracer/symbolic.py, with clamps as size expressions where they are not decided, and
``SymbolicError.require`` where an index is valid only from some size on. ``basic_index`` is shared by getitem's
shape rule and ``AffineMap.index``."""
from .errors import SymbolicError
from .symbolic_int import SymInt, size_max, size_min


def decided(question):
    """True / False, or None when ``question()`` (a SymInt comparison) cannot be decided under the assumption
    (a code writer then tests it at run time)."""
    try:
        return bool(question())
    except SymbolicError:
        return None


def _single_atom(dim):
    """(atom, c) when ``dim`` is ``atom + c`` for an input size atom, else None (a minimum can then be required)."""
    if not isinstance(dim, SymInt):
        return None
    variable = [(m, c) for m, c in dim.terms.items() if m]
    if len(variable) != 1 or variable[0][1] != 1 or len(variable[0][0]) != 1 or variable[0][0][0].inner is not None:
        return None
    return variable[0][0][0], dim.terms.get((), 0)


def index_position(k, dim, axis):
    """The position ``k`` (negative: from the end) selects along a dim of size ``dim``: ``k`` or ``dim + k``.
    Out of range (decided): IndexError with NumPy's message. Undecided for a size ``n + c``: SymbolicError with
    ``require`` = (n, least size that makes k valid), so the tracer raises n's minimum; calls of smaller sizes
    take a per-size trace (which raises the same IndexError); otherwise a plain SymbolicError."""
    if not isinstance(dim, SymInt):
        if not -dim <= k < dim:
            raise IndexError(f"index {k} is out of bounds for axis {axis} with size {dim}")
        return k + dim if k < 0 else k
    fits = decided(lambda: dim > k) if k >= 0 else decided(lambda: dim >= -k)
    if fits is False:
        raise IndexError(f"index {k} is out of bounds for axis {axis} with size {dim}")
    if fits is None:
        raise_minimum(dim, k + 1 if k >= 0 else -k, f"the index {k} along axis {axis}")
    return dim + k if k < 0 else k


def _is_clamp(dim):
    """Whether ``dim`` is one clamp atom ``max(p, 0)``."""
    return (isinstance(dim, SymInt) and len(dim.terms) == 1 and next(iter(dim.terms.values())) == 1
            and len(next(iter(dim.terms))) == 1 and next(iter(dim.terms))[0].kind == "clamp")


def raise_minimum(dim, least, what):
    """SymbolicError: ``what`` is valid only when the symbolic size ``dim`` is at least ``least``; with ``require``
    (the atom's least size) when ``dim`` is ``n + c``, so the tracer can raise n's minimum and trace again."""
    single = _single_atom(dim)
    if single is None and least >= 1 and _is_clamp(dim):   # (max(n + c, 0) >= least > 0 exactly when n + c is)
        single = _single_atom(next(iter(dim.terms))[0].inner)
    raise SymbolicError(f"{what} of unknown size {dim} is valid only when the size is at least {least}",
                        require=None if single is None else (single[0].name, least - single[1]))


def slice_indices(start, stop, step, dim):
    """``(start, step, length)`` of ``slice(start, stop, step)`` over a dim of size ``dim`` (``slice.indices``
    and ``len(range(...))`` for an int dim). A symbolic dim: NumPy's clamps as ``size_min`` / ``size_max``, which
    are plain polynomials where the clamp is decided for sizes >= MIN_SIZE (``x[1:]``, ``x[:-1]``, ``x[::2]``) and
    clamp atoms where it is not (``x[5:]`` has ``max(n0 - 5, 0)`` rows, its start is ``5 - max(5 - n0, 0)``)."""
    if not isinstance(dim, SymInt):
        begin, end, stride = slice(start, stop, step).indices(dim)
        return begin, stride, len(range(begin, end, stride))
    step = 1 if step is None else step
    if step == 0:
        raise ValueError("slice step cannot be zero")
    lower, upper = (0, dim) if step > 0 else (-1, dim - 1)

    def bound(value, default):
        if value is None:
            return default
        return size_min(size_max(value + dim if value < 0 else value, lower), upper)

    begin = bound(start, lower if step > 0 else upper)
    end = bound(stop, upper if step > 0 else lower)
    span = size_max(end - begin if step > 0 else begin - end, 0)
    return begin, step, span if abs(step) == 1 else (span + abs(step) - 1) // abs(step)


def basic_index(shape, key):
    """NumPy basic indexing (ints, slices, None, one Ellipsis) of ``shape``, symbolic sizes allowed: a list with,
    per item of the expanded key, ``None`` (a new axis), ``(d, position)`` (an int on input dim d) or
    ``(d, start, step, length)`` (a slice of input dim d). IndexError as NumPy's; SymbolicError where an int
    index is in range only for some sizes (see index_position; slices clamp as size expressions)."""
    items = list(key)
    if sum(1 for k in items if k is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    free = len(shape) - sum(1 for k in items if k is not None and k is not Ellipsis)
    if free < 0:
        raise IndexError(f"too many indices for array: array is {len(shape)}-dimensional, but "
                         f"{len(shape) - free} were indexed")
    if Ellipsis in items:
        e = items.index(Ellipsis)
        items[e:e + 1] = [slice(None)] * free
    else:
        items += [slice(None)] * free
    plan, d = [], 0
    for k in items:
        if k is None:
            plan.append(None)
            continue
        if isinstance(k, slice):
            plan.append((d, *slice_indices(k.start, k.stop, k.step, shape[d])))
        else:
            plan.append((d, index_position(k, shape[d], d)))
        d += 1
    return plan
