"""Attribute schemas: each op declares the attributes its nodes carry, next to its other rules.

    register(Op("reduce_sum", infer=..., eager=...,
                attrs={"axis": Axes(), "keepdims": Bool()}))

A schema maps each attribute name to its kind (``Int()``, ``Axes()``, ``Optional(Int(), default=None)``, ...).
An attribute without a ``default`` is required; one with a default may be left out, and the op's rule and
eager implementation then use that same default (tests/test_attr_schema.py holds the two to agree). Nothing is
filled in: a node keeps exactly the attributes it was built with, so graphs and their content hashes stay
what they were.

``validate`` runs where graphs are built (tracing, compat.v1 graphs, passes' ``Rebuilder.add``, the check after
the passes, ``Graph.from_json``), never on the eager path or a compiled function's per-call path. The kinds
check types, not values against shapes: the op's rule does that, since only it sees the input types.
Kinds are exact about Python types (``True`` is not an ``Int``, a NumPy integer is not one either) because
an attribute is part of a graph's identity and of its JSON document, where ``1``, ``1.0`` and ``True`` differ.
"""
from .dtypes import DType
from .errors import InvalidArgumentError
from .ir import Const, Graph, In, Slice, VarRef
from .symbolic import SymbolicError, SymInt

_REQUIRED = object()


def has_symbolic(value):
    """Whether an attribute value holds a symbolic size (tracer.symbolic)."""
    if type(value) is SymInt:
        return True
    return type(value) in (tuple, list) and any(has_symbolic(v) for v in value)


class Attr:
    """One attribute's kind. ``expected`` reads "must be {expected}" in messages. A kind that is one exact Python
    type names it in ``types``; the others override ``accepts``."""
    __slots__ = ("default",)
    expected = "a value"
    types = ()

    def __init__(self, *, default=_REQUIRED):
        self.default = default

    @property
    def required(self):
        return self.default is _REQUIRED

    def accepts(self, value):
        return type(value) in self.types   # exact types: a bool is no int, a NumPy scalar no float

    def __repr__(self):
        default = "" if self.required else f"default={self.default!r}"
        return f"{type(self).__name__}({default})"


def _all_ints(values):
    for v in values:   # (a loop, not all(<generator>): checks run for every traced node)
        if type(v) is not int:
            return False
    return True


def _exact(name, types, expected, doc=None):
    """An attribute kind that is exactly one of ``types``."""
    return type(name, (Attr,), {"__slots__": (), "types": types, "expected": expected, "__doc__": doc})


Int = _exact("Int", (int,), "an int")
Float = _exact("Float", (float,), "a float")
Number = _exact("Number", (int, float), "an int or a float",
                "An int or a float, as the op's dtype needs (``range``'s bounds are ints for int dtypes).")
Bool = _exact("Bool", (bool,), "a bool")
Size = _exact("Size", (int, SymInt), "an int or a symbolic size",
              "An int, or a ``SymInt`` (an input_signature's unknown size, evaluated per run): while_loop's bound.")
Value = _exact("Value", (Const,), "a Const", 'A constant array (``Const``).')
Variable = _exact("Variable", (VarRef,), "a variable reference (VarRef)",
                  "A reference to a runtime variable (``VarRef``).")
Subgraph = _exact("Subgraph", (Graph,), "a Graph",
                  "A nested ``Graph`` (a body of control flow or a function the node calls).")


class _Choice(Attr):
    """A value of type ``kind``, one of ``choices`` when given."""
    __slots__ = ("choices",)
    kind, noun = object, "a value"

    def __init__(self, choices=None, **kwargs):
        super().__init__(**kwargs)
        self.choices = None if choices is None else tuple(choices)

    @property
    def expected(self):
        return self.noun if self.choices is None else "one of " + ", ".join(map(self._show, self.choices))

    def accepts(self, value):
        return type(value) is self.kind and (self.choices is None or value in self.choices)


class Str(_Choice):
    """A string, one of ``choices`` when given."""
    __slots__ = ()
    kind, noun, _show = str, "a str", staticmethod(repr)


class Dtype(_Choice):
    """A graphjit DType, one of ``choices`` when given."""
    __slots__ = ()
    kind, noun, _show = DType, "a dtype", staticmethod(lambda d: d.name)


class Ints(Attr):
    """A tuple of ints (a permutation, tile multiples)."""
    __slots__ = ()
    expected = "a tuple of ints"

    def accepts(self, value):
        return type(value) is tuple and _all_ints(value)


class Axis(Int):
    """One axis: an int (rules check it against the input's rank)."""
    __slots__ = ()
    expected = "an int axis"


class Axes(Ints):
    """A tuple of int axes."""
    __slots__ = ()
    expected = "a tuple of int axes"


class Shape(Attr):
    """A tuple of sizes >= 0. ``unknown``: a size may be None (a compat.v1 placeholder's unknown dim);
    ``minus_one``: a size may be -1 (reshape's "the rest"); ``symbolic``: a size may be a ``SymInt`` (an
    input_signature's unknown size, evaluated per run: reshape and broadcast_to only)."""
    __slots__ = ("unknown", "minus_one", "symbolic")

    def __init__(self, *, unknown=False, minus_one=False, symbolic=False, **kwargs):
        super().__init__(**kwargs)
        self.unknown, self.minus_one, self.symbolic = unknown, minus_one, symbolic

    @property
    def expected(self):
        extra = [w for w, on in (("None", self.unknown), ("-1", self.minus_one)) if on]
        return "a shape (a tuple of int sizes >= 0" + "".join(f" or {w}" for w in extra) + ")"

    def accepts(self, value):
        return type(value) is tuple and all(
            (type(d) is int and (d >= 0 or (self.minus_one and d == -1))) or (d is None and self.unknown)
            or (self.symbolic and type(d) is SymInt) for d in value)


class IndexKey(Attr):
    """``getitem``'s static key: a tuple of ints, ``Slice``s of ints or None, None, Ellipsis and ``In(k)``
    markers (k >= 1) for the tensor index inputs."""
    __slots__ = ()
    expected = "an index key (a tuple of ints, Slice, In, None and Ellipsis)"

    def accepts(self, value):
        return type(value) is tuple and all(_key_item(item) for item in value)


def _key_item(item):
    kind = type(item)
    if kind is int or item is None or item is Ellipsis:
        return True
    if kind is Slice:
        return all(b is None or type(b) is int for b in (item.start, item.stop, item.step))
    return kind is In and type(item.k) is int and item.k >= 1


class Optional(Attr):
    """``inner``'s kind, or None."""
    __slots__ = ("inner",)

    def __init__(self, inner, **kwargs):
        super().__init__(**kwargs)
        self.inner = inner

    @property
    def expected(self):
        return f"{self.inner.expected} or None"

    def accepts(self, value):
        return value is None or self.inner.accepts(value)


class Tuple(Attr):
    """A tuple whose items are all of kind ``item`` (exactly ``length`` of them when given)."""
    __slots__ = ("item", "length")

    def __init__(self, item, *, length=None, **kwargs):
        super().__init__(**kwargs)
        self.item, self.length = item, length

    @property
    def expected(self):
        count = "" if self.length is None else f" of {self.length}"
        return f"a tuple{count} of ({self.item.expected})"

    def accepts(self, value):
        return (type(value) is tuple and (self.length is None or len(value) == self.length)
                and all(self.item.accepts(v) for v in value))


def validate(op_name, schema, attrs, location=None):
    """Raises InvalidArgumentError naming the op and the attribute for an unknown or missing attribute, or a
    value of the wrong kind. ``schema`` None: the op declares none (ad-hoc test ops), anything goes."""
    if schema is None:
        return
    for key, value in attrs.items():
        kind = schema.get(key)
        if kind is None:
            known = ", ".join(sorted(schema)) or "none"
            raise _error(f"{op_name}: unknown attribute {key!r} (its attributes: {known})", location)
        if not kind.accepts(value):
            if has_symbolic(value):
                raise SymbolicError(f"{op_name}: attribute {key!r} would hold a size of an unknown (None) dimension "
                                    f"({value!r}); this op is not yet polymorphic")
            raise _error(f"{op_name}: attribute {key!r} must be {kind.expected}, got {_given(value)}", location)
    if len(attrs) < len(schema):
        for key, kind in schema.items():
            if kind.required and key not in attrs:
                raise _error(f"{op_name}: missing required attribute {key!r} ({kind.expected})", location)


def _given(value):
    kind = type(value)
    name = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    text = repr(value)
    return f"{name} {text if len(text) <= 60 else text[:57] + '...'}"


def _error(message, location):
    from .source import with_location
    return InvalidArgumentError(with_location(message, location))
