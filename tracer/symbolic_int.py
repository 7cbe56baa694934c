"""The symbolic size type (tracer/symbolic.py tells the model): ``Atom``, ``SymInt`` (an integer polynomial over
atoms) with its arithmetic and decided comparisons, the derived atoms (``//``, ``%``, ``max(p, 0)``) that
arithmetic creates, ``size_max`` / ``size_min``, and the text (Python source) a SymInt prints as."""
import math

from .errors import SymbolicError
from .symbolic_bounds import split_bounds

MIN_SIZE = 2
HINT = 1024
MAX_CLAMP_SPLITS = 4   # clamp atoms a bound splits into their two cases (2 ** 4 interval sums at most)


class Atom:
    """A size atom: an input size ``n<k>`` (``lower`` = MIN_SIZE), or ``inner // divisor`` / ``inner % divisor``
    / ``max(inner, 0)`` (kind "clamp"). Every atom is >= ``lower`` >= 0, and <= ``upper`` unless that is None."""
    __slots__ = ("name", "lower", "upper", "inner", "divisor", "kind", "_hint")

    def __init__(self, name, lower, inner=None, divisor=None, kind="size", upper=None):
        self.name, self.lower, self.inner, self.divisor, self.kind = name, lower, inner, divisor, kind
        self.upper = upper
        self._hint = HINT if inner is None else _combine(inner.hint(), divisor, kind)

    def __repr__(self):
        return self.name

    def __eq__(self, other):
        return isinstance(other, Atom) and other.name == self.name

    def __hash__(self):
        return hash(self.name)

    def evaluate(self, sizes):
        if self.inner is None:
            return sizes[self.name]
        return _combine(evaluate(self.inner, sizes), self.divisor, self.kind)


def _combine(value, divisor, kind):
    if kind == "clamp":
        return max(value, 0)
    return value // divisor if kind == "floordiv" else value % divisor


def size_atom(k):
    return Atom(f"n{k}", MIN_SIZE)


class SymInt:
    """A polynomial: {monomial (sorted tuple of atoms): int coefficient}; never a constant (those are ints)."""
    __slots__ = ("terms", "_text")

    def __init__(self, terms):
        self.terms = terms
        self._text = None

    @staticmethod
    def atom(atom):
        return SymInt({(atom,): 1})

    # -- construction --

    @staticmethod
    def _make(terms):
        terms = {m: c for m, c in terms.items() if c}
        if not terms:
            return 0
        if len(terms) == 1 and () in terms:
            return terms[()]
        return SymInt(terms)

    def _add(self, other, sign=1):
        terms = dict(self.terms)
        for m, c in _terms(other).items():
            terms[m] = terms.get(m, 0) + sign * c
        return SymInt._make(terms)

    def __add__(self, other):
        return self._add(other) if _is_size(other) else NotImplemented

    __radd__ = __add__

    def __sub__(self, other):
        return self._add(other, -1) if _is_size(other) else NotImplemented

    def __rsub__(self, other):
        return (-self)._add(other) if _is_size(other) else NotImplemented

    def __neg__(self):
        return SymInt._make({m: -c for m, c in self.terms.items()})

    def __pos__(self):
        return self

    def __mul__(self, other):
        if not _is_size(other):
            return NotImplemented
        terms = {}
        for m1, c1 in self.terms.items():
            for m2, c2 in _terms(other).items():
                m = tuple(sorted(m1 + m2, key=_atom_order))
                terms[m] = terms.get(m, 0) + c1 * c2
        return SymInt._make(terms)

    __rmul__ = __mul__

    def __floordiv__(self, other):
        if isinstance(other, SymInt):
            quotient = _exact_quotient(self, other)
            if quotient is not None:
                return quotient
            raise SymbolicError(f"the size {self} // {other} depends on unknown dimensions in a way graphjit does "
                                f"not represent")
        if type(other) is not int and not isinstance(other, int):
            return NotImplemented
        if other == 1:
            return self
        if other <= 0:
            raise SymbolicError(f"the size {self} // {other}: only positive divisors are represented")
        if all(c % other == 0 for c in self.terms.values()):
            return SymInt._make({m: c // other for m, c in self.terms.items()})
        return SymInt.atom(_derived(self, other, "floordiv"))

    def __rfloordiv__(self, other):
        if not _is_size(other):
            return NotImplemented
        raise SymbolicError(f"the size {other} // {self} depends on unknown dimensions")

    def __mod__(self, other):
        if type(other) is not int and not isinstance(other, int):
            if isinstance(other, SymInt) and _exact_quotient(self, other) is not None:
                return 0
            return NotImplemented
        if other <= 0:
            raise SymbolicError(f"the size {self} % {other}: only positive divisors are represented")
        if all(c % other == 0 for c in self.terms.values()):
            return 0
        return SymInt.atom(_derived(self, other, "mod"))

    def __rmod__(self, other):
        if not _is_size(other):
            return NotImplemented
        raise SymbolicError(f"the size {other} % {self} depends on unknown dimensions")

    def __truediv__(self, other):
        raise SymbolicError(f"the size {self} / {other} depends on unknown dimensions (true division)")

    __rtruediv__ = __truediv__

    # -- decisions --

    def bounds(self):
        """(least, greatest) under the assumption (None: unbounded that way)."""
        return split_bounds(self, MAX_CLAMP_SPLITS)

    def _compare(self, other, op):
        if not _is_size(other):
            return NotImplemented
        diff = self - other
        low, high = (diff, diff) if type(diff) is int else diff.bounds()
        decided = {"lt": (high is not None and high < 0, low is not None and low >= 0),
                   "le": (high is not None and high <= 0, low is not None and low > 0),
                   "gt": (low is not None and low > 0, high is not None and high <= 0),
                   "ge": (low is not None and low >= 0, high is not None and high < 0)}[op]
        if decided[0]:
            return True
        if decided[1]:
            return False
        text = {"lt": "<", "le": "<=", "gt": ">", "ge": ">="}[op]
        raise SymbolicError(f"the comparison {self} {text} {other} depends on the sizes of unknown (None) dimensions")

    def __lt__(self, other):
        return self._compare(other, "lt")

    def __le__(self, other):
        return self._compare(other, "le")

    def __gt__(self, other):
        return self._compare(other, "gt")

    def __ge__(self, other):
        return self._compare(other, "ge")

    def __eq__(self, other):
        if not _is_size(other):
            return NotImplemented
        if other is self:
            return True
        diff = self - other
        if type(diff) is int:
            return diff == 0
        low, high = diff.bounds()
        if (low is not None and low > 0) or (high is not None and high < 0):
            return False
        if isinstance(other, SymInt):
            raise SymbolicError(f"whether the sizes {self} and {other} are equal depends on the sizes of unknown "
                                f"(None) dimensions", unify=_atom_pair(diff))
        if other <= 1:   # (0 and 1 decide emptiness and broadcasting: never guessed)
            raise SymbolicError(f"whether the size {self} is {other} depends on the sizes of unknown (None) "
                                f"dimensions")
        return False   # an unknown size compared with a number: unknown is not equal (TF's None)

    def __ne__(self, other):
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    def __hash__(self):
        return hash(str(self))

    def __bool__(self):
        return self != 0

    def _concrete(self, what):
        raise SymbolicError(f"{what} of the size {self}, which depends on unknown (None) dimensions of the "
                            f"input_signature")

    def __int__(self):
        self._concrete("int()")

    def __index__(self):
        self._concrete("an integer value")

    def __float__(self):
        self._concrete("float()")

    def hint(self):
        """A guess of the value for heuristics (every input size read as HINT)."""
        return sum(c * math.prod(a._hint for a in m) for m, c in self.terms.items())

    def atoms(self):
        return {a for m in self.terms for a in m}

    def input_atoms(self):
        found = set()
        for a in self.atoms():
            found |= {a} if a.inner is None else a.inner.input_atoms() if isinstance(a.inner, SymInt) else set()
        return found

    def evaluate(self, sizes):
        return sum(c * math.prod(a.evaluate(sizes) for a in m) for m, c in self.terms.items())

    def __str__(self):
        if self._text is None:
            self._text = _text(self.terms)
        return self._text

    def __repr__(self):
        return str(self)


def _is_size(value):
    return isinstance(value, SymInt) or (isinstance(value, int) and not isinstance(value, bool))


def _terms(value):
    return value.terms if isinstance(value, SymInt) else {(): int(value)}


def _atom_order(atom):
    return (atom.inner is not None, len(atom.name), atom.name)


def _derived(inner, divisor, kind):
    op = "//" if kind == "floordiv" else "%"
    name = f"({inner} {op} {divisor})"
    low, high = inner.bounds()
    if kind == "floordiv":
        lower = max(0, low // divisor) if low is not None else 0
        upper = None if high is None else max(0, high // divisor)
    else:
        lower = 0
        upper = divisor - 1 if high is None or high < 0 else min(divisor - 1, high)
    return Atom(name, lower, inner, divisor, kind, upper)


def _clamped(inner):
    """``max(inner, 0)``: the inner polynomial itself or 0 where its sign is decided, else a clamp atom."""
    if type(inner) is int:
        return max(inner, 0)
    low, high = inner.bounds()
    if low is not None and low >= 0:
        return inner
    if high is not None and high <= 0:
        return 0
    if _leading_coefficient(inner) < 0:   # max(q, 0) = q + max(-q, 0): one atom for q and -q, so min(n0, 3)
        return inner + _clamped(-inner)   # is one expression however it was reached
    text = str(inner)
    text = text[1:-1] if text.startswith("(") and text.endswith(")") and len(inner.terms) > 1 else text
    return SymInt.atom(Atom(f"max({text}, 0)", 0, inner, None, "clamp", high))


def _leading_coefficient(p):
    """The coefficient of the polynomial's first term as ``str`` writes it (a non-constant one)."""
    return min(((-len(m), [a.name for a in m]), c) for m, c in p.terms.items())[1]


def size_max(a, b):
    """``max(a, b)`` of sizes (ints or SymInts): one of them where decided, else ``b + max(a - b, 0)``."""
    if not isinstance(a, SymInt) and not isinstance(b, SymInt):
        return max(a, b)
    return b + _clamped(a - b)


def size_min(a, b):
    """``min(a, b)`` of sizes: ``a - max(a - b, 0)``."""
    if not isinstance(a, SymInt) and not isinstance(b, SymInt):
        return min(a, b)
    return a - _clamped(a - b)


def _atom_pair(diff):
    """(a, b) when ``diff`` is ``a - b`` for two input-size atoms."""
    terms = diff.terms
    if len(terms) == 2 and all(len(m) == 1 and m[0].inner is None for m in terms) and sorted(terms.values()) == [-1, 1]:
        plus = next(m[0] for m, c in terms.items() if c == 1)
        minus = next(m[0] for m, c in terms.items() if c == -1)
        return tuple(sorted((plus.name, minus.name), key=lambda n: (len(n), n)))
    return None


def _exact_quotient(p, q):
    """p / q when q is one monomial dividing every term of p, else None."""
    if len(q.terms) != 1:
        return None
    (qm, qc), = q.terms.items()
    result = {}
    for m, c in p.terms.items():
        rest = list(m)
        for a in qm:
            if a not in rest:
                return None
            rest.remove(a)
        if c % qc:
            return None
        result[tuple(rest)] = c // qc
    return SymInt._make(result)


def _text(terms):
    parts = []
    for m, c in sorted(terms.items(), key=lambda mc: (-len(mc[0]), [a.name for a in mc[0]])):
        factors = [a.name for a in m]
        if not factors:
            body, magnitude = str(abs(c)), abs(c)
        else:
            body = " * ".join(factors if abs(c) == 1 else factors + [str(abs(c))])
        parts.append(("-" if c < 0 else "+", body))
    text = ("-" if parts[0][0] == "-" else "") + parts[0][1]
    for sign, body in parts[1:]:
        text += f" {sign} {body}"
    bare = len(terms) == 1 and next(iter(terms.values())) == 1 and len(next(iter(terms))) == 1
    return text if bare else f"({text})"   # (parenthesised: it is pasted into larger expressions)


def evaluate(value, sizes):
    """``value`` (an int, a SymInt, or a tuple/list of them) with the atoms bound to ``sizes`` (name -> int)."""
    if isinstance(value, SymInt):
        return value.evaluate(sizes)
    if isinstance(value, (tuple, list)):
        return type(value)(evaluate(v, sizes) for v in value)
    return value
