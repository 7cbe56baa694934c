"""Attribute schemas: every registered op declares its attributes (tracer.attrs), the schema agrees with the
op's own rule and eager implementation, every graph the tests build fits it, and a wrong, unknown or missing
attribute is an InvalidArgumentError naming the op, the attribute, the expected and the given type wherever a
graph is built: tracing, compat.v1 graphs, a pass's Rebuilder.add, the check after the passes and
Graph.from_json. The eager path does not check (it is not a graph)."""
import inspect
import json

import numpy as np
import pytest

import graphjit as gj
from graphjit.compiler.functionalize import functionalize
from graphjit.compiler.passes.pipeline import optimize
from graphjit.compiler.passes.rebuild import Rebuilder
from graphjit.compiler.passes.typecheck import check_graph
from graphjit.errors import InternalError, InvalidArgumentError
from graphjit.tracer import attrs as A
from graphjit.tracer.dtypes import float32, int32
from graphjit.tracer.ir import Const, Graph, GraphBuilder, In, Node, Slice, TensorType, VarRef
from graphjit.tracer.registry import OPS

from cases import ALL_CASES
from fuzz_check import build_function
from fuzz_graphs import RandomChooser, draw_program

F32 = TensorType((2, 3), float32)


def _graph(fn, *args, **kwargs):
    return gj.function(fn).get_concrete_function(*args, **kwargs).graph


def _keyword_params(fn):
    """{name: default or REQUIRED} of ``fn``'s keyword-only parameters (an op's attributes); a NumPy ufunc
    (an elementwise op's eager function) has none."""
    if isinstance(fn, np.ufunc):
        return {}
    params = inspect.signature(fn).parameters.values()
    return {p.name: (A._REQUIRED if p.default is p.empty else p.default) for p in params if p.kind is p.KEYWORD_ONLY}


def _schema_params(op):
    return {name: kind.default for name, kind in op.attrs.items()}


# ---- every op declares one, and it is the rule's ----------------------------------------------------------

def test_every_registered_op_declares_a_schema_of_attribute_kinds():
    assert len(OPS) > 100
    for name, op in OPS.items():
        assert isinstance(op.attrs, dict), f"{name} declares no attribute schema"
        for key, kind in op.attrs.items():
            assert isinstance(key, str) and isinstance(kind, A.Attr), (name, key, kind)


@pytest.mark.parametrize("name", sorted(OPS))
def test_the_schema_names_the_rules_and_the_eager_functions_attributes_and_defaults(name):
    op = OPS[name]
    assert _keyword_params(op.infer) == _schema_params(op)
    assert _keyword_params(op.eager) == _schema_params(op)


def _check_every_node(graph):
    checked = 0
    for node in graph.nodes:
        if node.op != "input":
            OPS[node.op].check_attrs(node.attr_dict)
            checked += 1
        for _, value in node.attrs:
            if isinstance(value, Graph):
                checked += _check_every_node(value)
    return checked


def test_every_node_of_the_op_case_graphs_fits_its_schema():
    ops_seen, traced = set(), 0
    for case in ALL_CASES:
        try:
            graph = _graph(case.fn, *case.args, **case.kwargs)
        except gj.errors.GraphjitError:
            continue   # (a case of an op that only runs eagerly)
        traced += 1
        _check_every_node(graph)
        _check_every_node(optimize(graph))
        ops_seen.update(n.op for n in graph.nodes)
    assert traced >= 0.95 * len(ALL_CASES) and len(ops_seen) > 100


def test_every_node_of_fuzz_graphs_raw_optimized_and_functionalized_fits_its_schema():
    chooser = RandomChooser(3)
    for batch in range(4):
        progs = [draw_program(chooser, max_ops=16) for _ in range(10)]
        graph = _graph(build_function(progs), *[x for p in progs for x in p.inputs])
        optimized = optimize(graph)
        for g in (graph, optimized, functionalize(optimized)[0]):
            assert _check_every_node(g) > 0


def test_stateful_and_random_nodes_fit_their_schemas():
    v = gj.Variable(np.zeros(3, np.float32), name="schema_counter")

    def step(x):
        v.assign_add(x)
        gj.print("v is", v.read_value(), sep="|")
        return v.read_value() + gj.random.normal((3,), seed=4) + gj.random.uniform((3,))
    graph = _graph(step, np.ones(3, np.float32))
    assert {"assign_variable", "read_variable", "print", "random_normal", "random_uniform"} <= {
        n.op for n in graph.nodes}
    _check_every_node(graph)
    _check_every_node(functionalize(optimize(graph))[0])


# ---- each kind: what it accepts and how it describes itself ------------------------------------------------

_VAR = VarRef(1, "v", F32)
KINDS = [
    (A.Int(), [0, -3, 2 ** 70], [True, 1.0, np.int64(1), "1", None]),
    (A.Float(), [0.5, float("nan")], [1, True, np.float32(1), None]),
    (A.Number(), [1, 0.5], [True, "1", np.float64(1)]),
    (A.Bool(), [True, False], [1, 0, np.bool_(True), None]),
    (A.Str(), ["", "x"], [1, None, b"x"]),
    (A.Str(choices=("a", "b")), ["a"], ["c", 1]),
    (A.Dtype(), [float32, int32], ["float32", np.float32, np.dtype("float32")]),
    (A.Dtype(choices=(int32,)), [int32], [float32]),
    (A.Ints(), [(), (1, -2)], [[1], (1.0,), (True,), 1]),
    (A.Axis(), [0, -1], [(0,), 0.0, False, None]),
    (A.Axes(), [(), (0, 2)], [[0], 0, (0.0,), (np.int64(0),)]),
    (A.Shape(), [(), (0, 3)], [(-1,), (None,), [2], (2.0,), (True,)]),
    (A.Shape(unknown=True), [(None, 3)], [(-1,)]),
    (A.Shape(minus_one=True), [(-1, 3)], [(-2,), (None,)]),
    (A.IndexKey(), [(), (1, Slice(None, -1, 2), In(1), None, Ellipsis)],
     [[1], (slice(1, 2),), (In(0),), (Slice(1.0, None, None),), (1.5,), (True,)]),
    (A.Value(), [Const(np.ones(2))], [np.ones(2), 1.0]),
    (A.Variable(), [_VAR], ["v", 1]),
    (A.Subgraph(), [GraphBuilder("g").finish([])], [None, "g"]),
    (A.Optional(A.Int()), [None, 3], [True, "3"]),
    (A.Tuple(A.Axes(), length=2), [((0,), (1,)), ((), ())], [((0,),), ((0,), (1,), (2,)), ([0], [1])]),
    (A.Tuple(A.Optional(A.Str())), [(), ("a", None)], [("a", 1), ["a"]]),
]


@pytest.mark.parametrize("kind, good, bad", KINDS, ids=[repr(k) for k, _, _ in KINDS])
def test_each_kind_accepts_its_values_and_nothing_else(kind, good, bad):
    for value in good:
        assert kind.accepts(value), value
    for value in bad:
        assert not kind.accepts(value), value
        with pytest.raises(InvalidArgumentError, match=rf"^probe: attribute 'a' must be {_escaped(kind.expected)}, "
                                                       rf"got ([a-z_.]+\.)?{type(value).__name__} "):
            A.validate("probe", {"a": kind}, {"a": value})


def _escaped(text):
    import re
    return re.escape(text)


def test_required_defaults_unknown_and_missing_attributes():
    schema = {"axis": A.Axis(), "seed": A.Optional(A.Int(), default=None)}
    A.validate("probe", schema, {"axis": 0})                 # a defaulted attribute may be left out
    A.validate("probe", schema, {"axis": 0, "seed": 5})
    A.validate("probe", None, {"anything": object()})        # an op without a schema takes anything
    with pytest.raises(InvalidArgumentError, match=r"probe: missing required attribute 'axis' \(an int axis\)"):
        A.validate("probe", schema, {"seed": 5})
    with pytest.raises(InvalidArgumentError, match=r"probe: unknown attribute 'axes' \(its attributes: axis, seed\)"):
        A.validate("probe", schema, {"axis": 0, "axes": (0,)})
    with pytest.raises(InvalidArgumentError, match=r"unknown attribute 'axis' \(its attributes: none\)"):
        A.validate("probe", {}, {"axis": 0})
    assert schema["axis"].required and not schema["seed"].required


# ---- where graphs are built --------------------------------------------------------------------------------

BAD_ATTRS = [
    ("reduce_sum", {"axis": "0", "keepdims": False}, r"reduce_sum: attribute 'axis' must be a tuple of int axes, "
                                                     r"got str '0'"),
    ("reduce_sum", {"axis": (0,), "keepdims": 1}, r"reduce_sum: attribute 'keepdims' must be a bool, got int 1"),
    ("reduce_sum", {"axis": (0,)}, r"reduce_sum: missing required attribute 'keepdims' \(a bool\)"),
    ("cast", {"dtype": "float64"}, r"cast: attribute 'dtype' must be a dtype, got str 'float64'"),
    ("reshape", {"shape": (np.int64(6),)}, r"reshape: attribute 'shape' must be a shape .*, got tuple"),
    ("exp", {"axis": 0}, r"exp: unknown attribute 'axis' \(its attributes: none\)"),
    ("transpose", {"perm": (1, 0), "conjugate": False}, r"transpose: unknown attribute 'conjugate' \(its attributes: "
                                                        r"perm\)"),
]


@pytest.mark.parametrize("op_name, attrs, message", BAD_ATTRS, ids=[f"{o}-{m[:30]}" for o, _, m in BAD_ATTRS])
def test_tracing_an_op_with_bad_attributes_names_the_op_the_attribute_and_the_users_line(op_name, attrs, message):
    def fn(x):
        return OPS[op_name].bind(x, **attrs)
    with pytest.raises(InvalidArgumentError, match=message + r"(.|\n)*at test_attr_schema.py:\d+ in fn"):
        _graph(fn, np.ones((2, 3), np.float32))


def test_the_eager_path_does_not_check_attributes():
    """The schema guards graphs; eager ops keep their own (fast) path and NumPy's behaviour."""
    x = gj.constant(np.arange(6, dtype=np.float32).reshape(2, 3))
    out = OPS["reduce_sum"].bind(x, axis=(np.int64(0),), keepdims=False)
    np.testing.assert_array_equal(out.numpy(), np.arange(6, dtype=np.float32).reshape(2, 3).sum(0))


def test_a_compat_v1_graph_checks_attributes_when_an_op_is_added():
    tf = gj.compat.v1
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(gj.float32, shape=(None, 3))
        with pytest.raises(InvalidArgumentError, match=r"reduce_max: attribute 'axis' must be a tuple of int axes, "
                                                       r"got list \[1\]"):
            OPS["reduce_max"].bind(x, axis=[1], keepdims=False)
        assert gj.reduce_max(x, axis=1).shape.as_list() == [None]


def test_rebuilder_add_checks_attributes_so_a_pass_cannot_build_a_bad_node():
    graph = _graph(lambda x: gj.exp(x), np.ones((2, 3), np.float32))
    rebuilder = Rebuilder(graph)
    rebuilder.copy(0)
    assert rebuilder.nodes[rebuilder.add("cast", [0], dtype=gj.float64)].type == TensorType((2, 3), gj.float64)
    with pytest.raises(InvalidArgumentError, match=r"cast: attribute 'dtype' must be a dtype, got str 'float64'"):
        rebuilder.add("cast", [0], dtype="float64")
    with pytest.raises(InvalidArgumentError, match=r"reduce_sum: missing required attribute 'axis'"):
        rebuilder.add("reduce_sum", [0], keepdims=False)


def test_the_check_after_the_passes_reports_a_node_with_bad_attributes():
    graph = _graph(lambda x: gj.reduce_sum(x, axis=1), np.ones((2, 3), np.float32))
    check_graph(graph)
    node = graph.nodes[1]
    bad = Node(node.op, node.inputs, (("axis", [1]), ("keepdims", False)), node.type, node.deps, node.loc)
    broken = Graph((graph.nodes[0], bad), graph.inputs, graph.outputs, graph.name)
    with pytest.raises(InternalError, match=r"%1 \(reduce_sum\): reduce_sum: attribute 'axis' must be a tuple of "
                                            r"int axes, got list \[1\]"):
        check_graph(broken)


def _reduce_document():
    return json.loads(_graph(lambda x: gj.reduce_sum(x, axis=1, keepdims=True), np.ones((2, 3), np.float32))
                      .to_json())


@pytest.mark.parametrize("edit, message", [
    (lambda attrs: attrs.update(axis={"str": "1"}), r"reduce_sum: attribute 'axis' must be a tuple of int axes, "
                                                    r"got str '1'"),
    (lambda attrs: attrs.update(axis={"tuple": [{"float": 1.0}]}),
     r"reduce_sum: attribute 'axis' must be a tuple of int axes, got tuple \(1.0,\)"),
    (lambda attrs: attrs.update(keepdims={"int": 1}), r"reduce_sum: attribute 'keepdims' must be a bool, got int 1"),
    (lambda attrs: attrs.update(axes={"tuple": []}), r"reduce_sum: unknown attribute 'axes'"),
    (lambda attrs: attrs.pop("keepdims"), r"reduce_sum: missing required attribute 'keepdims'"),
])
def test_graph_from_json_rejects_a_document_whose_attributes_do_not_fit_the_schema(edit, message):
    doc = _reduce_document()
    node = doc["graph"]["nodes"][1]
    assert node["op"] == "reduce_sum"
    Graph.from_json(json.dumps(doc))   # (the unedited document reads back)
    edit(node["attrs"])
    with pytest.raises(InvalidArgumentError, match=r"Graph.from_json: malformed document at graph/nodes\[1\]: "
                                                   + message):
        Graph.from_json(json.dumps(doc))


def test_attributes_are_checked_when_a_graph_is_built_never_per_call_or_eagerly(monkeypatch):
    from graphjit.tracer import registry
    checked = []
    monkeypatch.setattr(registry, "_validate_attrs", lambda *args: checked.append(args[0]))
    f = gj.function(lambda x: gj.reduce_sum(gj.exp(x) * 2.0, axis=0))
    x = np.ones((2, 3), np.float32)
    np.testing.assert_allclose(f(x).numpy(), (np.exp(x) * 2.0).sum(0), rtol=1e-6)
    traced = len(checked)
    assert traced > 0 and "reduce_sum" in checked
    for _ in range(20):
        f(x)
    gj.reduce_sum(gj.exp(gj.constant(x)), axis=0)
    assert len(checked) == traced
