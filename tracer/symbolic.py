"""Symbolic sizes: ``SymInt``, an integer polynomial over size atoms ``n0, n1, ...`` (an input_signature's None
dimensions) and floor-division / remainder / clamp atoms of such polynomials. A clamp atom is ``max(p, 0)``
(``size_max`` and ``size_min`` are written with it: ``max(a, b) = b + max(a - b, 0)``), so slices whose clamps
depend on an unknown size (``x[5:]`` has ``max(n0 - 5, 0)`` rows) stay one trace.

One trace serves every size of the None dims when the shape rules can compute with these values instead of ints.
``str(s)`` is Python (and Numba) source over the atom names (``n0 * 3 + 1``, ``(n0 + 1) // 2``), so generated code
uses it as it uses an int, with the sizes bound to ``n0``... at run time.

Comparisons are decided under the assumption that every unknown size is at least ``MIN_SIZE`` = 2 (calls with a
size 0 or 1 take a per-size trace): ``n0 > 1`` is True and ``n0 == 1`` False, so broadcasting rules decide. An
``==`` with a plain int >= 2 that the assumption cannot decide is False (as TF's unknown dimension compares),
``!=`` True; with 0 or 1 (emptiness, broadcasting) it is never guessed. Anything else that cannot be decided (``n0 < 5``, ``n0 == n1``), and ``int()``, ``range()``,
``operator.index()``, raises ``SymbolicError``: the trace then falls back to one trace per size. When the failure
was ``n0 == n1`` for two input atoms, the error's ``unify`` names them, so the tracer can merge them and retrace.
Heuristics (when to go parallel) use ``hint()``, which reads every atom as ``HINT`` elements.
"""
import math
from fractions import Fraction

from .errors import SymbolicError

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
        return _split_bounds(self, MAX_CLAMP_SPLITS)

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


def _split_bounds(p, splits):
    """Bounds of ``p``, where each clamp atom ``max(q, 0)`` in it is also tried as each of its two values (``q`` and
    ``0``): the union of the cases' bounds holds too, and is often tighter than the atom's interval
    (``max(n0 - 3, 0) - n0`` is ``-3`` or ``-n0``, so <= 0)."""
    low, high = _bounds(p.terms)
    clamp = next((a for m in p.terms for a in m if a.kind == "clamp"), None) if splits else None
    if clamp is None or (low is not None and high is not None):
        return low, high
    cases = [_substitute(p, clamp, clamp.inner), _substitute(p, clamp, 0)]
    case_bounds = [(c, c) if type(c) is int else _split_bounds(c, splits - 1) for c in cases]
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
            term = term * (value if a == atom else SymInt.atom(a))
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


def is_symbolic(value):
    return isinstance(value, SymInt)


def shape_is_symbolic(shape):
    return shape is not None and any(isinstance(d, SymInt) for d in shape)


def evaluate(value, sizes):
    """``value`` (an int, a SymInt, or a tuple/list of them) with the atoms bound to ``sizes`` (name -> int)."""
    if isinstance(value, SymInt):
        return value.evaluate(sizes)
    if isinstance(value, (tuple, list)):
        return type(value)(evaluate(v, sizes) for v in value)
    return value


def hint(value):
    """An int for heuristics: the value itself, or a SymInt's ``hint()``."""
    return value.hint() if isinstance(value, SymInt) else value


def input_atom_names(shape):
    return {a.name for d in shape if isinstance(d, SymInt) for a in d.input_atoms()}


def graph_symbols(graph):
    """The input size atoms (``n0``, ...) a graph's shapes use, sorted by name."""
    names = set()
    for node in graph.nodes:
        names |= input_atom_names(getattr(node.type, "shape", None) or ())
    return sorted(names, key=lambda n: (len(n), n))


def shape_code(shape):
    """Python source of a shape tuple (its symbolic sizes as code over the atom names)."""
    return "(" + "".join(f"{d}, " for d in shape) + ")"


# ---- slices and int indices of symbolic sizes (NumPy's rules, decided under the assumption) -------------------

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


_PARSE_OPS = {"Add": lambda a, b: a + b, "Sub": lambda a, b: a - b, "Mult": lambda a, b: a * b,
              "FloorDiv": lambda a, b: a // b, "Mod": lambda a, b: a % b}


def parse_size(text):
    """The size that ``str(size)`` wrote (``n0 * 3 + 1``, ``(n0 + 1) // 2``, ``max(n0 - 5, 0)``): rebuilt with the
    same arithmetic, so ``str(parse_size(str(s))) == str(s)``. Only integers, size atoms ``n<k>``, ``+ - * // %``
    and ``max(p, 0)`` are read (a document's text is never evaluated as Python); anything else raises ValueError."""
    import ast

    def build(node):
        if isinstance(node, ast.BinOp) and type(node.op).__name__ in _PARSE_OPS:
            return _PARSE_OPS[type(node.op).__name__](build(node.left), build(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -build(node.operand)
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "max"
                and len(node.args) == 2 and not node.keywords):
            return size_max(build(node.args[0]), build(node.args[1]))
        if isinstance(node, ast.Name) and node.id[:1] == "n" and node.id[1:].isdigit():
            return SymInt.atom(size_atom(int(node.id[1:])))
        raise ValueError(f"{ast.dump(node)[:60]} is not part of a size expression")

    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as err:
        raise ValueError(f"{text!r} is not a size expression: {err.msg}") from None
    try:
        return build(tree.body)
    except SymbolicError as err:
        raise ValueError(f"{text!r} is not a size expression: {err}") from None
