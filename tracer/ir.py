"""The graph IR: a flat SSA list of immutable nodes, printable one line per node (like a jaxpr).

A node's id is its index in ``Graph.nodes``; inputs refer to earlier ids, so list order is a valid
execution order. Side effects (variable reads and writes, prints, random draws) are nodes whose
``deps`` chain them in program order: passes may drop or move pure nodes, never effectful ones.
A node with several results (cond, while_loop) has a ``TupleType`` and is read through one ``tuple_get`` node per
result (XLA's tuple and get-tuple-element). Attributes are hashable values (ints, floats, strings, tuples, DTypes, ``Const``, ``VarRef``, the index-key
items ``Slice`` and ``In``, nested ``Graph``s), so equal graphs compare and hash equal and
``Graph.fingerprint()`` is a stable content hash. ``Graph.to_json`` / ``Graph.from_json`` write and read a graph
as a JSON document with each attribute value type-tagged (``graphjit.tracer.serialize``).
"""
import hashlib
import itertools
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from .dtypes import DType
from .errors import InternalError, SymbolicError
from .shapes import format_shape, same_size


class TensorType(NamedTuple):
    shape: tuple
    dtype: DType

    def __str__(self):
        return f"{self.dtype.short}{format_shape(self.shape)}"

    def __eq__(self, other):
        try:
            return tuple.__eq__(self, other)
        except SymbolicError:   # (symbolic sizes: the same type is the same expressions, n0 - 1 is not asked if 1)
            return isinstance(other, TensorType) and _same_shape(self.shape, other.shape) and self.dtype == other.dtype

    def __ne__(self, other):
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    __hash__ = tuple.__hash__


def _same_shape(a, b):
    if a is None or b is None:
        return a is b
    return len(a) == len(b) and all(map(same_size, a, b))


@dataclass(frozen=True)
class TupleType:
    """The type of a node with several results (control flow: a loop's variables, a branch's outputs). Its results
    are read by ``tuple_get`` nodes, one TensorType each, so every other node still has one tensor result and
    every edge of the graph is still one node id. Printed ``(f32[], i32[3])``."""
    types: tuple

    def __str__(self):
        return "(" + ", ".join(str(t) for t in self.types) + ")"


def same_type(a, b):
    """Whether two node types are equal, shapes compared as tuples (a rule may build a shape as a list)."""
    if isinstance(a, TupleType) or isinstance(b, TupleType):
        return (isinstance(a, TupleType) and isinstance(b, TupleType) and len(a.types) == len(b.types)
                and all(same_type(x, y) for x, y in zip(a.types, b.types)))
    return _same_shape(a.shape, b.shape) and a.dtype is b.dtype


class Const:
    """An immutable array used as an attribute (constants); equality and hash by content."""
    __slots__ = ("value", "_digest")

    def __init__(self, value):
        value = np.array(value, copy=True)
        value.flags.writeable = False
        self.value = value
        raw = np.ascontiguousarray(value).tobytes()
        self._digest = hashlib.sha256(f"{value.dtype}{value.shape}".encode() + raw).hexdigest()[:24]

    def __eq__(self, other):
        return isinstance(other, Const) and other._digest == self._digest

    def __hash__(self):
        return hash(self._digest)

    def __repr__(self):
        v = self.value
        if v.size <= 8:
            return np.array2string(v, separator=",").replace("\n", "")
        return f"<{v.dtype}{list(v.shape)} #{self._digest[:8]}>"

    def canonical(self):
        return f"const#{self._digest}"


_variable_ids = itertools.count(1)


def new_variable_id():
    """A process-wide unique variable id (the global runtime's and every compat.v1 graph's variables)."""
    return next(_variable_ids)


@dataclass(frozen=True)
class VarRef:
    """A graph's reference to a variable, by its runtime id; the value lives in the runtime."""
    id: int
    name: str = field(compare=False)
    type: TensorType = field(compare=False)

    def __repr__(self):
        return self.name


@dataclass(frozen=True)
class Slice:
    """A hashable ``slice`` (Python's is unhashable before 3.12); printed as ``start:stop:step``."""
    start: object
    stop: object
    step: object

    def __repr__(self):
        text = f"{'' if self.start is None else self.start}:{'' if self.stop is None else self.stop}"
        return text + ("" if self.step is None else f":{self.step}")

    def to_slice(self):
        return slice(self.start, self.stop, self.step)


@dataclass(frozen=True)
class In:
    """Marks the position of the op's k-th index input (input 0 is the indexed tensor)."""
    k: int

    def __repr__(self):
        return f"in{self.k}"


@dataclass(frozen=True, slots=True)
class Node:
    op: str
    inputs: tuple
    attrs: tuple  # ((name, value), ...) sorted by name
    type: TensorType
    deps: tuple = ()  # ids of earlier effectful nodes this one must follow
    loc: object = field(default=None, compare=False, hash=False)  # user's source Location

    def attr(self, name, default=None):
        for key, value in self.attrs:
            if key == name:
                return value
        return default

    @property
    def attr_dict(self):
        return dict(self.attrs)

    def __repr__(self):
        return f"Node({node_text(self)})"


def make_attrs(attrs):
    return tuple(sorted(attrs.items()))


@dataclass(frozen=True)
class Graph:
    """``nodes`` in execution order; ``inputs``/``outputs`` are node ids. The name is not structure."""
    nodes: tuple
    inputs: tuple
    outputs: tuple
    name: str = field(default="graph", compare=False)

    def __str__(self):
        return "\n".join(self._lines(""))

    __repr__ = __str__   # (not the dataclass's: a dump of raw node tuples nobody can read)

    def _repr_html_(self):
        import html
        count = sum(1 for n in self.nodes if n.op != "input")
        return (f"<div><b>Graph</b> {html.escape(self.name)}: {len(self.inputs)} input(s), {count} node(s), "
                f"{len(self.outputs)} output(s)\n<pre style=\"margin:0\">{html.escape(str(self))}</pre></div>")

    def _repr_svg_(self):
        """The DOT drawing through Graphviz's ``dot`` when it is installed; None (IPython falls back) if not."""
        return svg_from_dot(self.to_dot())

    def _lines(self, indent):
        params = ", ".join(f"%{i}: {self.nodes[i].type}" for i in self.inputs)
        yield f"{indent}graph {self.name}({params}) {{"
        for i, node in enumerate(self.nodes):
            if node.op == "input":
                continue
            yield from _node_lines(i, node, indent + "  ")
        yield f"{indent}  return " + ", ".join(f"%{i}" for i in self.outputs)
        yield f"{indent}}}"

    def canonical_text(self):
        """Text that determines the graph's meaning: no names, no source locations, const digests."""
        parts = [f"in {','.join(map(str, self.inputs))}", f"out {','.join(map(str, self.outputs))}"]
        for n in self.nodes:
            attrs = ",".join(f"{k}={_canonical(v)}" for k, v in n.attrs)
            parts.append(f"{n.op}({','.join(map(str, n.inputs))})[{attrs}]:{n.type}~{n.deps}")
        return "\n".join(parts)

    def fingerprint(self):
        """A content hash stable across processes (unlike ``hash``)."""
        return hashlib.sha256(self.canonical_text().encode()).hexdigest()

    def to_json(self):
        """The graph as a JSON document (format version included); see ``graphjit.tracer.serialize``."""
        return _json_codec("to_json")(self)

    @classmethod
    def from_json(cls, text, variables=None):
        """The graph a ``to_json`` document describes. Variables are bound by name through ``variables``: a
        mapping name -> variable, a callable (name, TensorType) -> variable, or None for the runtime's."""
        return _json_codec("from_json")(text, variables)

    def to_dot(self):
        """Graphviz DOT text: one box per node, solid data edges, dashed effect-order edges."""
        name = self.name.replace("\\", "\\\\").replace('"', '\\"')  # a quote in a name would end dot's string
        lines = [f'digraph "{name}" {{', "  rankdir=TB;", '  node [shape=box, fontname="monospace"];']
        for i, node in enumerate(self.nodes):
            label = f"%{i} {node.op}\\n{node.type}"
            style = ', style="rounded,filled", fillcolor="#e8f0ff"' if node.op == "input" else ""
            if node.deps or node.op in ("read_variable", "assign_variable", "print"):
                style = ', style=filled, fillcolor="#fff0e0"'
            lines.append(f'  n{i} [label="{label}"{style}];')
            for j in node.inputs:
                lines.append(f"  n{j} -> n{i};")
            for j in node.deps:
                lines.append(f"  n{j} -> n{i} [style=dashed];")
        for k, i in enumerate(self.outputs):
            lines.append(f'  out{k} [label="output {k}", shape=ellipse];')
            lines.append(f"  n{i} -> out{k};")
        lines.append("}")
        return "\n".join(lines)

    def users(self):
        """For each node id, the ids of nodes that take it as an input."""
        result = [[] for _ in self.nodes]
        for i, node in enumerate(self.nodes):
            for j in node.inputs:
                result[j].append(i)
        return result


# Graph.to_json / from_json live in tracer.serialize, which needs the op registry, and the registry imports this
# module: serialize installs them when imported (graphjit's import does), as the runtime installs its hooks.
_JSON_CODEC = {}


def install_json_codec(to_json, from_json):
    _JSON_CODEC.update(to_json=to_json, from_json=from_json)


def _json_codec(which):
    if which not in _JSON_CODEC:
        raise InternalError("graphjit.tracer.serialize was not imported: Graph.to_json/from_json are not installed")
    return _JSON_CODEC[which]


def _canonical(value):
    if isinstance(value, Const):
        return value.canonical()
    if isinstance(value, Graph):
        return "{" + value.canonical_text() + "}"
    if isinstance(value, VarRef):
        return f"var#{value.id}"
    return repr(value)


def _format_attr(value):
    if isinstance(value, DType):
        return value.name
    return repr(value)


def node_text(node, subgraphs_below=False):
    """``f32[2,3] = add %0 %1 {attrs} after %2``: one node on one line. Nested graphs appear by name and size,
    or not at all when ``subgraphs_below`` (the graph listing prints them under the node)."""
    args = " ".join(f"%{j}" for j in node.inputs)
    attrs = ", ".join(f"{k}={_format_attr(v)}" for k, v in node.attrs if not isinstance(v, Graph))
    inner = [f"{k}=<graph {v.name}: {len(v.nodes)} nodes>" for k, v in node.attrs if isinstance(v, Graph)]
    if inner and not subgraphs_below:
        attrs = ", ".join(filter(None, [attrs] + inner))
    text = f"{node.type} = {node.op}"
    if args:
        text += f" {args}"
    if attrs:
        text += f" {{{attrs}}}"
    if node.deps:
        text += " after " + ", ".join(f"%{j}" for j in node.deps)
    return text


def _node_lines(i, node, indent):
    subgraphs = [(k, v) for k, v in node.attrs if isinstance(v, Graph)]
    yield f"{indent}%{i}: {node_text(node, subgraphs_below=True)}"
    for key, sub in subgraphs:
        yield f"{indent}  {key}:"
        yield from sub._lines(indent + "    ")


DOT_TIMEOUT_S = 10.0   # a huge graph can keep dot busy for minutes; a notebook cell must come back


def svg_from_dot(dot_text, timeout=None):
    """SVG text from Graphviz's ``dot`` program, or None when it is not installed, fails or times out: a
    notebook display method must not raise (IPython shows the next representation instead)."""
    import shutil
    import subprocess   # (both imported here: graphjit's start-up does not need them)
    program = shutil.which("dot")
    if program is None:
        return None
    try:
        done = subprocess.run([program, "-Tsvg"], input=dot_text.encode(), capture_output=True, check=False,
                              timeout=DOT_TIMEOUT_S if timeout is None else timeout)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0 or not done.stdout:
        return None
    text = done.stdout.decode("utf-8", "replace")
    start = text.find("<svg")   # the <svg> element itself: dot writes an XML prolog and a DOCTYPE before it
    return text[start:] if start >= 0 else None


class GraphBuilder:
    """Appends nodes while tracing; ``finish`` freezes them into a Graph."""

    def __init__(self, name="graph"):
        self.name = name
        self.nodes = []
        self.inputs = []
        self.last_effect = None

    def add(self, op, inputs, attrs, type_, *, effectful=False, loc=None):
        deps = ()
        if effectful and self.last_effect is not None:
            deps = (self.last_effect,)
        self.nodes.append(Node(op, tuple(inputs), make_attrs(attrs), type_, deps, loc))
        node_id = len(self.nodes) - 1
        if effectful:
            self.last_effect = node_id
        return node_id

    def add_input(self, type_, index, loc=None):
        node_id = self.add("input", (), {"index": index}, type_, loc=loc)
        self.inputs.append(node_id)
        return node_id

    def finish(self, outputs):
        return Graph(tuple(self.nodes), tuple(self.inputs), tuple(outputs), self.name)


def replay(graph, emit, inputs=None, nodes=None):
    """Re-emits ``graph``'s nodes in order: ``emit(node, new_inputs, new_deps) -> new id`` for each one (all of
    them, or the ids in ``nodes``, ascending), with its inputs and effect dependencies already mapped to new ids.
    ``inputs`` maps old ids (typically the graph's input nodes) to new ids given beforehand; those nodes are not
    emitted. Returns the mapping old id -> new id. Inlining a traced function, cutting out a part of a graph,
    functionalizing and every compiler pass build their new graph through this one loop."""
    mapping = dict(inputs or {})
    for i in range(len(graph.nodes)) if nodes is None else nodes:
        if i in mapping:
            continue
        node = graph.nodes[i]
        mapping[i] = emit(node, tuple(mapping[j] for j in node.inputs),
                          tuple(mapping[j] for j in node.deps if mapping.get(j) is not None))
    return mapping


def ancestors(roots, parents):
    """The ids ``roots`` depend on, themselves included: the closure of ``parents(i)`` (an iterable of ids).
    The one walk behind every pruning of a graph: lifting a value out of a trace, compat.v1's per-run graph
    (whose fed tensors have no parents) and dead-code elimination."""
    needed, stack = set(), list(roots)
    while stack:
        i = stack.pop()
        if i not in needed:
            needed.add(i)
            stack.extend(parents(i))
    return needed


def node_parents(nodes):
    """``parents`` for ``ancestors`` over IR nodes: data inputs and effect-order dependencies."""
    return lambda i: (*nodes[i].inputs, *nodes[i].deps)


def extract_subgraph(nodes, output_id, name="lifted"):
    """The nodes ``output_id`` depends on (data and effect order), renumbered into a Graph."""
    needed = sorted(ancestors([output_id], node_parents(nodes)))
    kept = []

    def emit(node, inputs, deps):
        kept.append(Node(node.op, inputs, node.attrs, node.type, deps, node.loc))
        return len(kept) - 1
    new_id = replay(Graph(tuple(nodes), (), ()), emit, nodes=needed)
    inputs = tuple(new_id[i] for i in needed if nodes[i].op == "input")
    return Graph(tuple(kept), inputs, (new_id[output_id],), name)
