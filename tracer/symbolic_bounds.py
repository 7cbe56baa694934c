"""What a symbolic size may be under the assumption (every input size at least MIN_SIZE; tracer/symbolic.py):
interval arithmetic over the atoms' [lower, upper], with clamp atoms split into their two cases. ``SymInt.bounds``
and so every comparison and ``max(p, 0)`` decision rests on ``split_bounds``."""
import math
from fractions import Fraction


def split_bounds(p, splits):
    """Bounds of ``p``, where each clamp atom ``max(q, 0)`` in it is also tried as each of its two values (``q`` and
    ``0``): the union of the cases' bounds holds too, and is often tighter than the atom's interval
    (``max(n0 - 3, 0) - n0`` is ``-3`` or ``-n0``, so <= 0)."""
    low, high = _bounds(p.terms)
    clamp = next((a for m in p.terms for a in m if a.kind == "clamp"), None) if splits else None
    if clamp is None or (low is not None and high is not None):
        return low, high
    cases = [_substitute(p, clamp, clamp.inner), _substitute(p, clamp, 0)]
    case_bounds = [(c, c) if type(c) is int else split_bounds(c, splits - 1) for c in cases]
    if low is None and all(b[0] is not None for b in case_bounds):
        low = min(b[0] for b in case_bounds)
    if high is None and all(b[1] is not None for b in case_bounds):
        high = max(b[1] for b in case_bounds)
    return low, high


def _substitute(p, atom, value):
    """``p`` with ``atom`` replaced by ``value`` (an int or a SymInt)."""
    total = 0
    for m, c in p.terms.items():
        term = c
        for a in m:
            term = term * (value if a == atom else type(p).atom(a))
        total = total + term
    return total


def _bounds(terms):
    """Interval arithmetic over the atoms' [lower, upper] (every atom >= 0, so a monomial lies between the
    products of its atoms' bounds); a polynomial whose negative terms are absorbed is least at the lower bounds."""
    least = greatest = terms.get((), 0)
    for m, c in terms.items():
        if not m:
            continue
        low = math.prod(a.lower for a in m)
        high = None if any(a.upper is None for a in m) else math.prod(a.upper for a in m)
        if c > 0:
            least = None if least is None else least + c * low
            greatest = None if greatest is None or high is None else greatest + c * high
        else:
            least = None if least is None or high is None else least + c * high
            greatest = None if greatest is None else greatest + c * low
    if least is None and _absorbed(terms):   # (n0 * n1 - n1 = n1 * (n0 - 1): still least at the lower bounds)
        least = terms.get((), 0) + sum(c * math.prod(a.lower for a in m) for m, c in terms.items() if m)
    return least, greatest


def _absorbed(terms):
    """Whether every negative term ``c * m`` is covered by positive terms ``c' * m * r`` (r atoms, at least L at
    their bounds) with ``c' * L >= |c|`` in all: each pair is ``m * c' * (r - L) >= 0`` and grows with every atom,
    so the polynomial is still least with every atom at its lower bound."""
    budget = {m: Fraction(c) for m, c in terms.items() if m and c > 0}
    for m, c in terms.items():
        if not m or c > 0:
            continue
        need = Fraction(-c)
        for big in budget:
            rest = list(big)
            if not all(a in rest and not rest.remove(a) for a in m) or not rest:
                continue
            scale = math.prod(a.lower for a in rest)
            if scale <= 0:
                continue
            used = min(budget[big], need / scale)
            budget[big] -= used
            need -= used * scale
            if need == 0:
                break
        if need > 0:
            return False
    return True
