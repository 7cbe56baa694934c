"""Graphs as JSON text: ``Graph.to_json()`` and ``Graph.from_json(text, variables=None)``.

The document is ``{"format": "graphjit-graph", "version": 1, "graph": G}`` with
``G = {"name", "inputs", "outputs", "nodes": [{"op", "inputs", "type", "attrs", "deps"?, "loc"?}]}``
and ``type = {"shape": [int | null | size text] | null, "dtype": name}`` (a size text such as ``"n0 * 3"`` is a
polymorphic trace's symbolic size, ``tracer.symbolic``; read back by ``parse_size``, never evaluated), or ``{"tuple": [type, ...]}`` for a node with several
results (``ir.TupleType``). Every attribute value is a one-key object whose
key is its type tag, so a value reads back as an object of the same Python type (``1``, ``1.0`` and ``True``
stay apart, tuples stay tuples) and the graph's canonical text, hence ``Graph.fingerprint()``, is unchanged:

    {"int": 3}  {"float": 0.5 | "nan" | "inf" | "-inf"}  {"bool": true}  {"str": "x"}  {"none": null}
    {"tuple": [v, ...]}  {"list": [v, ...]}  {"dtype": "float32"}  {"ellipsis": null}
    {"slice": [start, stop, step]}  {"in": k}  {"tensor_type": type}  {"graph": G}
    {"const": {"dtype": "float32", "shape": [2, 3], "data": base64 of the little-endian C-order bytes}}
    {"const": {"dtype": "float32", "shape": [2, 3], "ref": "c0"}}   (stored outside: ``to_json(constants=dict)``)
    {"sym": "(n0 + 1) // 2"}   (a symbolic size in an attribute)
    {"var": {"name": "w", "shape": [3, 2], "dtype": "float32"}}

A variable is written by its name, the runtime's unique name that ``compat.v1.train.Saver`` also keys
checkpoints by (``VarRef.name``): its process-local id cannot be written out. Reading binds each name to a live
variable (see ``from_json``), checks each node's attributes against its op's schema (``tracer.attrs``: names,
kinds, required ones present) and its type against the op's rule.
"""
import base64
import json
import math

import numpy as np

from . import context
from .dtypes import ALL as _DTYPES, DType, from_numpy
from .errors import InvalidArgumentError, InvalidTypeError, NotFoundError
from .ir import Const, Graph, In, Node, Slice, TensorType, TupleType, VarRef, install_json_codec, make_attrs, same_type
from .registry import OPS
from .source import Location
from .symbolic import SymInt, parse_size

FORMAT = "graphjit-graph"
VERSION = 1
_DTYPE_BY_NAME = {d.name: d for d in _DTYPES}
_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


# ---- writing ----------------------------------------------------------------------------------------------

def graph_to_json(graph, constants=None):
    """The document's text. ``constants``: None writes each constant inline (base64); a dict receives each
    constant array under a key (``c0``, ``c1``, ...; one key per distinct array) and the document names the key
    (``{"const": {"dtype", "shape", "ref"}}``), so a caller can store the arrays elsewhere (saved_model's .npz)."""
    return json.dumps({"format": FORMAT, "version": VERSION, "graph": _Writer(constants).graph(graph)},
                      allow_nan=False)


class _Writer:
    def __init__(self, constants):
        self.constants = constants
        self.keys = {}   # id(array) -> key, for arrays that the graph keeps alive while it is written

    def graph(self, graph):
        return {"name": graph.name, "inputs": list(graph.inputs), "outputs": list(graph.outputs),
                "nodes": [self.node(i, node) for i, node in enumerate(graph.nodes)]}

    def node(self, i, node):
        doc = {"op": node.op, "inputs": list(node.inputs), "type": _type_doc(node.type),
               "attrs": {key: self.encode(value, lambda: _where(i, node, key)) for key, value in node.attrs}}
        if node.deps:
            doc["deps"] = list(node.deps)
        if node.loc is not None:
            doc["loc"] = [node.loc.filename, node.loc.lineno, node.loc.function]
        return doc

    def encode(self, value, where):
        """The tagged JSON value of one attribute value; ``where()`` names the node for an error."""
        kind = type(value)
        if value is None:
            return {"none": None}
        if value is Ellipsis:
            return {"ellipsis": None}
        if kind is bool:
            return {"bool": value}
        if kind is int:
            return {"int": value}
        if kind is float:
            return {"float": value if math.isfinite(value) else repr(value)}
        if kind is str:
            return {"str": value}
        if kind is tuple or kind is list:
            return {kind.__name__: [self.encode(item, where) for item in value]}
        if value.__class__ in _ENCODERS:
            tag, encode = _ENCODERS[value.__class__]
            return {tag: encode(self, value, where)}
        raise InvalidTypeError(f"Graph.to_json: {where()} holds a {kind.__module__}.{kind.__qualname__} "
                               f"({value!r}), which has no JSON encoding")

    def const(self, const, where):
        array = const.value
        if array.dtype.name not in _DTYPE_BY_NAME:
            raise InvalidTypeError(f"Graph.to_json: {where()} is a constant of dtype {array.dtype}; only "
                                   f"{', '.join(_DTYPE_BY_NAME)} are written")
        doc = {"dtype": array.dtype.name, "shape": list(array.shape)}
        if self.constants is None:
            data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
            return {**doc, "data": base64.b64encode(data).decode("ascii")}
        key = self.keys.get(id(array))
        if key is None:
            key = self.keys[id(array)] = f"c{len(self.constants)}"
            self.constants[key] = array
        return {**doc, "ref": key}


def _where(i, node, key):
    where = f"op {node.op!r} (%{i}), attribute {key!r}"
    return where + (f", traced at {node.loc}" if node.loc is not None else "")


def _type_doc(t):
    if isinstance(t, TupleType):
        return {"tuple": [_type_doc(e) for e in t.types]}
    return {"shape": None if t.shape is None else [_size_doc(d) for d in t.shape], "dtype": t.dtype.name}


def _size_doc(d):
    """An int, null (unknown), or a symbolic size's text (``"n0 * 3"``: a polymorphic trace's size)."""
    return str(d) if isinstance(d, SymInt) else d


_ENCODERS = {
    DType: ("dtype", lambda w, d, where: d.name),
    Slice: ("slice", lambda w, s, where: [w.encode(b, where) for b in (s.start, s.stop, s.step)]),
    In: ("in", lambda w, marker, where: marker.k),
    Const: ("const", lambda w, const, where: w.const(const, where)),
    VarRef: ("var", lambda w, ref, where: {"name": ref.name, **_type_doc(ref.type)}),
    TensorType: ("tensor_type", lambda w, t, where: _type_doc(t)),
    Graph: ("graph", lambda w, g, where: w.graph(g)),
    SymInt: ("sym", lambda w, s, where: str(s)),
}


# ---- reading ----------------------------------------------------------------------------------------------

class _Reader:
    """Decodes one document; ``path`` lists where in it the value being read sits (for messages)."""

    def __init__(self, variables, constants=None):
        self.resolve = _resolver(variables)
        self.constants = constants
        self.path = []

    def fail(self, why):
        where = "/".join(self.path)
        return InvalidArgumentError(f"Graph.from_json: malformed document at {where or 'its top'}: {why}")

    def field(self, doc, key, kinds, optional=False):
        if not isinstance(doc, dict):
            raise self.fail(f"expected an object, got {_json_kind(doc)}")
        if key not in doc:
            if optional:
                return None
            raise self.fail(f"missing {key!r}")
        value = doc[key]
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in _as_tuple(kinds)):
            raise self.fail(f"{key!r} must be {_describe_kinds(kinds)}, got {_json_kind(value)}")
        return value

    def ids(self, doc, key, limit, optional=False):
        values = self.field(doc, key, list, optional) or []
        for j in values:
            if type(j) is not int or not 0 <= j < limit:
                raise self.fail(f"{key!r} refers to {j!r}, which is not an earlier node (0..{limit - 1})")
        return tuple(values)

    def graph(self, doc):
        name = self.field(doc, "name", str)
        nodes = []
        for i, node_doc in enumerate(self.field(doc, "nodes", list)):
            self.path.append(f"nodes[{i}]")
            nodes.append(self.node(node_doc, i, nodes))
            self.path.pop()
        inputs = self.ids(doc, "inputs", len(nodes))
        if inputs != tuple(i for i, n in enumerate(nodes) if n.op == "input"):
            raise self.fail(f"'inputs' {list(inputs)} are not the ids of the graph's input nodes in order")
        return Graph(tuple(nodes), inputs, self.ids(doc, "outputs", len(nodes)), name)

    def node(self, doc, i, nodes):
        op = self.field(doc, "op", str)
        if op != "input" and op not in OPS:
            raise self.fail(f"unknown op {op!r}")
        inputs, deps = self.ids(doc, "inputs", i), self.ids(doc, "deps", i, optional=True)
        attrs = {}
        for key, value in self.field(doc, "attrs", dict).items():
            self.path.append(f"attrs.{key}")
            attrs[key] = self.value(value)
            self.path.pop()
        node = Node(op, inputs, make_attrs(attrs), self.node_type(self.field(doc, "type", dict)), deps,
                    self.location(doc))
        if op == "input":
            if set(attrs) != {"index"} or type(attrs["index"]) is not int:
                raise self.fail(f"an input node has one attribute, its integer 'index', got {sorted(attrs)}")
        else:
            _check_attrs(self, node)
            _check_type(self, node, nodes)
        return node

    def location(self, doc):
        loc = self.field(doc, "loc", list, optional=True)
        if loc is None:
            return None
        if len(loc) != 3 or type(loc[0]) is not str or type(loc[1]) is not int or type(loc[2]) is not str:
            raise self.fail(f"'loc' must be [filename, line, function], got {loc!r}")
        return Location(*loc)

    def node_type(self, doc):
        """A node's type: a TensorType, or a TupleType (``{"tuple": [...]}``) for a node with several results."""
        if isinstance(doc, dict) and "tuple" in doc:
            return TupleType(tuple(self.tensor_type(e) for e in self.field(doc, "tuple", list)))
        return self.tensor_type(doc)

    def tensor_type(self, doc):
        dtype = _DTYPE_BY_NAME.get(self.field(doc, "dtype", str))
        if dtype is None:
            raise self.fail(f"unknown dtype {doc['dtype']!r} (known: {', '.join(_DTYPE_BY_NAME)})")
        shape = self.field(doc, "shape", (list, type(None)))
        if shape is not None and not all(d is None or type(d) is str or (type(d) is int and d >= 0) for d in shape):
            raise self.fail(f"a shape holds only sizes >= 0, null where unknown, or a symbolic size's text, got "
                            f"{shape!r}")
        return TensorType(None if shape is None else tuple(self.size(d) if type(d) is str else d for d in shape),
                          dtype)

    def size(self, text):
        try:
            return parse_size(text)
        except ValueError as err:
            raise self.fail(str(err)) from None

    def value(self, doc):
        if not isinstance(doc, dict) or len(doc) != 1:
            raise self.fail(f"an attribute value must be an object with one type tag, got {json.dumps(doc)[:80]}")
        (tag, body), = doc.items()
        decode = _DECODERS.get(tag)
        if decode is None:
            raise self.fail(f"unknown type tag {tag!r} (known: {', '.join(_DECODERS)})")
        return decode(self, body)

    def expect(self, body, kinds, tag):
        if not isinstance(body, kinds) or (isinstance(body, bool) and bool not in _as_tuple(kinds)):
            raise self.fail(f"{tag!r} needs {_describe_kinds(kinds)}, got {_json_kind(body)}")
        return body


def _decode_float(reader, body):
    if isinstance(body, str) and body in _NON_FINITE:
        return _NON_FINITE[body]
    return float(reader.expect(body, (int, float), "float"))


def _decode_const(reader, body):
    reader.expect(body, dict, "const")
    dtype = _DTYPE_BY_NAME.get(reader.field(body, "dtype", str))
    shape = reader.field(body, "shape", list)
    if dtype is None or not all(type(d) is int and d >= 0 for d in shape):
        raise reader.fail(f"a constant needs a known dtype and a shape of sizes >= 0, got {body['dtype']!r} "
                          f"{shape!r}")
    if "ref" in body:
        return _stored_const(reader, reader.field(body, "ref", str), dtype, shape)
    try:
        data = base64.b64decode(reader.field(body, "data", str), validate=True)
    except ValueError as err:
        raise reader.fail(f"constant data is not base64: {err}") from None
    expected = dtype.np.itemsize * math.prod(shape)
    if len(data) != expected:
        raise reader.fail(f"a {dtype.name}{shape} constant holds {expected} bytes, the document has {len(data)}")
    array = np.frombuffer(data, dtype=dtype.np.newbyteorder("<")).astype(dtype.np).reshape(shape)
    return Const(array)


def _stored_const(reader, key, dtype, shape):
    array = None if reader.constants is None else reader.constants.get(key)
    if array is None:
        raise reader.fail(f"constant {key!r} is stored outside the document, and no such constant was given")
    if array.dtype != dtype.np or list(array.shape) != shape:
        raise reader.fail(f"constant {key!r} is {dtype.name}{shape} in the document but "
                          f"{array.dtype}{list(array.shape)} where it is stored")
    return Const(array)


def _decode_var(reader, body):
    reader.expect(body, dict, "var")
    name = reader.field(body, "name", str)
    return reader.resolve(name, reader.tensor_type(body))


def _decode_slice(reader, body):
    bounds = [reader.value(b) for b in reader.expect(body, list, "slice")]
    if len(bounds) != 3 or not all(b is None or type(b) is int for b in bounds):
        raise reader.fail(f"a slice is [start, stop, step] of ints or none, got {bounds!r}")
    return Slice(*bounds)


def _decode_in(reader, body):
    k = reader.expect(body, int, "in")
    if k < 1:
        raise reader.fail(f"an index-input marker counts from 1 (input 0 is the indexed tensor), got {k}")
    return In(k)


def _decode_null(value):
    def decode(reader, body):
        if body is not None:
            raise reader.fail(f"expected null, got {_json_kind(body)}")
        return value
    return decode


def _decode_dtype(reader, body):
    dtype = _DTYPE_BY_NAME.get(reader.expect(body, str, "dtype"))
    if dtype is None:
        raise reader.fail(f"unknown dtype {body!r} (known: {', '.join(_DTYPE_BY_NAME)})")
    return dtype


def _decode_items(kind):
    return lambda reader, body: kind(reader.value(item) for item in reader.expect(body, list, kind.__name__))


_DECODERS = {
    "none": _decode_null(None),
    "ellipsis": _decode_null(Ellipsis),
    "bool": lambda reader, body: reader.expect(body, bool, "bool"),
    "int": lambda reader, body: reader.expect(body, int, "int"),
    "float": _decode_float,
    "str": lambda reader, body: reader.expect(body, str, "str"),
    "tuple": _decode_items(tuple),
    "list": _decode_items(list),
    "dtype": _decode_dtype,
    "slice": _decode_slice,
    "in": _decode_in,
    "const": _decode_const,
    "var": _decode_var,
    "tensor_type": lambda reader, body: reader.tensor_type(reader.expect(body, dict, "tensor_type")),
    "graph": lambda reader, body: reader.graph(reader.expect(body, dict, "graph")),
    "sym": lambda reader, body: reader.size(reader.expect(body, str, "sym")),
}


def _check_attrs(reader, node):
    """The attributes must fit the op's schema (names, kinds, required ones present): a document cannot give a
    node an attribute its op does not take, or one of another type (``{"str": "1"}`` for an axis)."""
    try:
        OPS[node.op].check_attrs(node.attr_dict)
    except InvalidArgumentError as err:
        raise reader.fail(str(err)) from None


def _check_type(reader, node, nodes):
    """The stored type must be what the op's rule gives: a document cannot hand the compiler a wrong type."""
    op = OPS[node.op]
    try:
        inferred = op.infer_checked([nodes[j].type for j in node.inputs], node.attr_dict)
    except Exception as err:  # noqa: BLE001 - any failure of the rule on these inputs means a bad document
        raise reader.fail(f"{node.op} rejects its inputs and attributes: {err}") from None
    if not same_type(inferred, node.type):
        raise reader.fail(f"{node.op} is typed {node.type} but its rule gives {inferred}")



def graph_from_json(text, variables=None, constants=None):
    try:
        doc = json.loads(text, object_pairs_hook=_unique_keys)
    except (TypeError, ValueError) as err:
        raise InvalidArgumentError(f"Graph.from_json: not a JSON document: {err}") from None
    reader = _Reader(variables, constants)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else _json_kind(doc)
        raise InvalidArgumentError(f"Graph.from_json: not a graphjit graph document (format {found!r}, "
                                   f"expected {FORMAT!r})")
    if doc.get("version") != VERSION:
        raise InvalidArgumentError(f"Graph.from_json: document version {doc.get('version')!r} is not supported "
                                   f"(this graphjit reads version {VERSION})")
    graph_doc = reader.field(doc, "graph", dict)
    reader.path.append("graph")
    return reader.graph(graph_doc)


def _unique_keys(pairs):
    result = dict(pairs)
    if len(result) != len(pairs):
        seen = [key for key, _ in pairs]
        duplicate = next(key for key in seen if seen.count(key) > 1)
        raise ValueError(f"key {duplicate!r} appears twice in one object")
    return result


# ---- variables --------------------------------------------------------------------------------------------

def _resolver(variables):
    """(name, type) -> VarRef: from a mapping name -> variable (or VarRef), a callable, or the runtime."""
    if variables is None:
        lookup, source = _runtime_variable, "the runtime's variables"
    elif callable(variables):
        lookup, source = variables, "the given resolver"
    elif hasattr(variables, "get"):
        lookup, source = (lambda name, _type: variables.get(name)), "the given variables"
    else:
        raise InvalidTypeError(f"Graph.from_json: variables must be a mapping name -> variable, a callable "
                               f"(name, type) -> variable, or None, got {type(variables).__name__}")

    def resolve(name, type_):
        found = lookup(name, type_)
        ref = getattr(found, "_ref", found)   # a gj.Variable / compat.v1 Variable, or a VarRef itself
        if found is None:
            raise NotFoundError(f"Graph.from_json: the graph uses variable {name!r} ({type_}), which is not "
                                f"among {source}")
        if not isinstance(ref, VarRef):
            raise InvalidTypeError(f"Graph.from_json: variable {name!r} resolved to a {type(found).__name__}, "
                                   f"not a variable")
        if ref.type != type_:
            raise InvalidArgumentError(f"Graph.from_json: variable {name!r} is {type_} in the document but "
                                       f"{ref.type} in {source}")
        return ref
    return resolve


def _runtime_variable(name, _type):
    """The global runtime's live variable with this unique name (its values live in the runtime's ``State``,
    reached through the eager context: the tracer does not import the runtime)."""
    state = context.eager_context().runtime.state
    with state.lock:
        variable_id = next((i for i, i_name in state.names.items() if i_name == name), None)
        value = state.values.get(variable_id)
    if value is None:
        return None
    return VarRef(variable_id, name, TensorType(tuple(value.shape), from_numpy(value.dtype)))


# ---- messages ---------------------------------------------------------------------------------------------

def _as_tuple(kinds):
    return kinds if isinstance(kinds, tuple) else (kinds,)


def _describe_kinds(kinds):
    names = {dict: "an object", list: "a list", str: "a string", int: "an integer", float: "a number",
             bool: "true or false", type(None): "null"}
    return " or ".join(names[k] for k in _as_tuple(kinds))


def _json_kind(value):
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number")


install_json_codec(graph_to_json, graph_from_json)
