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

The implementation, by responsibility: ``symbolic_int`` (Atom, SymInt, its arithmetic and comparisons,
``size_max`` / ``size_min``), ``symbolic_bounds`` (what a polynomial may be under the assumption),
``symbolic_index`` (slices and int indices); this module re-exports them and holds the shape helpers and
``parse_size``.
"""
from .errors import SymbolicError
from .symbolic_index import basic_index, decided, index_position, raise_minimum, slice_indices
from .symbolic_int import HINT, MAX_CLAMP_SPLITS, MIN_SIZE, Atom, SymInt, evaluate, size_atom, size_max, size_min

__all__ = ["HINT", "MAX_CLAMP_SPLITS", "MIN_SIZE", "Atom", "SymInt", "SymbolicError", "basic_index", "decided",
           "evaluate", "graph_symbols", "hint", "index_position", "input_atom_names", "is_symbolic", "parse_size",
           "raise_minimum", "shape_code", "shape_is_symbolic", "size_atom", "size_max", "size_min", "slice_indices"]


def is_symbolic(value):
    return isinstance(value, SymInt)


def shape_is_symbolic(shape):
    return shape is not None and any(isinstance(d, SymInt) for d in shape)


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
