"""The graph IR: printing, DOT export, structural equality and hashing, effect ordering, subgraphs."""
import numpy as np

import graphjit as gj
from graphjit.tracer.dtypes import float32
from graphjit.tracer.ir import Const, Graph, GraphBuilder, Node, TensorType, extract_subgraph

X = np.ones((2, 3), np.float32)


def _graph(fn, *args):
    return gj.function(fn).get_concrete_function(*args).graph


def test_prints_one_line_per_node_with_types():
    graph = _graph(lambda x, y: gj.exp(x * y) + 1.0, X, X)
    lines = str(graph).splitlines()
    assert lines[0] == "graph <lambda>(%0: f32[2,3], %1: f32[2,3]) {"
    assert "  %2: f32[2,3] = multiply %0 %1" in lines
    assert "  %3: f32[2,3] = exp %2" in lines
    assert any(line.startswith("  %4: f32[] = constant {value=") for line in lines)
    assert lines[-2] == "  return %5" and lines[-1] == "}"


def test_equal_structures_compare_and_hash_equal():
    def f(x, y):
        return gj.exp(x * y) + 1.0

    def g(a, b):  # a different function with the same computation
        return gj.exp(a * b) + 1.0

    a, b = _graph(f, X, X), _graph(g, X, X)
    assert a == b and hash(a) == hash(b) and a.fingerprint() == b.fingerprint()
    c = _graph(lambda x, y: gj.exp(x * y) + 2.0, X, X)  # another constant
    assert a != c and a.fingerprint() != c.fingerprint()
    d = _graph(f, X.astype(np.float64), X.astype(np.float64))
    assert a.fingerprint() != d.fingerprint()


def test_fingerprint_is_stable_text_independent_of_names_and_locations():
    a = _graph(lambda x: x + 1.0, X)
    renamed = Graph(a.nodes, a.inputs, a.outputs, name="other")
    assert renamed == a and renamed.fingerprint() == a.fingerprint()
    assert len(a.fingerprint()) == 64


def test_const_equality_is_by_content():
    assert Const(np.float32([1, 2])) == Const(np.float32([1, 2]))
    assert Const(np.float32([1, 2])) != Const(np.float64([1, 2]))
    assert Const(np.float32([np.nan])) == Const(np.float32([np.nan]))
    assert not Const(np.zeros(3)).value.flags.writeable


def test_effectful_nodes_are_chained_in_program_order():
    v = gj.Variable(1.0)

    def f(x):
        v.assign_add(x)
        gj.print(v)
        return v.read_value()

    graph = _graph(f, np.float32(1))
    effects = [i for i, n in enumerate(graph.nodes) if n.op in ("assign_variable", "print", "read_variable")]
    for earlier, later in zip(effects, effects[1:]):
        assert graph.nodes[later].deps == (earlier,)
    assert "after %" in str(graph)


def test_dot_export_names_every_node_and_edge():
    graph = _graph(lambda x, y: x * y + y, X, X)
    dot = graph.to_dot()
    assert dot.startswith('digraph "<lambda>" {') and dot.rstrip().endswith("}")
    for i in range(len(graph.nodes)):
        assert f"n{i} [label=" in dot
    assert "n0 -> n2;" in dot and "n1 -> n2;" in dot
    assert "-> out0" in dot


def test_nodes_are_immutable():
    node = Node("exp", (0,), (), TensorType((2,), float32))
    try:
        node.op = "log"
    except AttributeError:
        pass
    else:
        raise AssertionError("nodes must be immutable")


def test_subgraph_attributes_print_nested_and_hash_by_structure():
    inner = _graph(lambda x: x * 2.0, X)
    b = GraphBuilder("outer")
    x = b.add_input(TensorType((2, 3), float32), 0)
    call = b.add("call", (x,), {"body": inner}, TensorType((2, 3), float32))
    outer = b.finish([call])
    text = str(outer)
    lines = text.splitlines()
    assert "    body:" in lines
    assert "      graph <lambda>(%0: f32[2,3]) {" in lines
    assert any(line.startswith("        %") and "multiply %0 %" in line for line in lines)
    b2 = GraphBuilder("outer2")
    x2 = b2.add_input(TensorType((2, 3), float32), 0)
    call2 = b2.add("call", (x2,), {"body": _graph(lambda y: y * 2.0, X)}, TensorType((2, 3), float32))
    assert b2.finish([call2]) == outer
    assert b2.finish([call2]).fingerprint() == outer.fingerprint()


def test_extract_subgraph_keeps_only_ancestors():
    graph = _graph(lambda x, y: (x * 2.0, y + 1.0), X, X)
    out = graph.outputs[1]
    sub = extract_subgraph(graph.nodes, out)
    ops = [n.op for n in sub.nodes]
    assert "multiply" not in ops and "add" in ops and len(sub.inputs) == 1


def test_ancestors_is_the_closure_of_parents_with_roots_included_and_stops_where_parents_are_empty():
    from graphjit.tracer.ir import ancestors
    parents = {0: (), 1: (0,), 2: (1, 0), 3: (2,), 4: (0,)}
    assert ancestors([3], parents.__getitem__) == {0, 1, 2, 3}
    assert ancestors([3, 4], lambda i: () if i == 2 else parents[i]) == {2, 3, 4, 0}   # 2 is "fed"
    assert ancestors([], parents.__getitem__) == set()


def test_index_key_items_are_immutable_hashable_ir_values_printed_as_numpy_writes_them():
    from graphjit.tracer.ir import In, Slice
    from graphjit.tracer.ops import indexing
    assert indexing.Slice is Slice and indexing.In is In   # one class each, wherever they are imported from
    assert Slice(1, None, -2) == Slice(1, None, -2) and hash(Slice(1, None, -2)) == hash(Slice(1, None, -2))
    assert Slice(1, None, None) != Slice(1, None, 1) and In(1) != In(2)
    assert [repr(k) for k in (Slice(None, None, None), Slice(1, -1, None), Slice(None, None, -2), In(3))] == \
        [":", "1:-1", "::-2", "in3"]
    assert Slice(0, 4, 2).to_slice() == slice(0, 4, 2)
    for item, field_name in ((Slice(1, 2, 3), "start"), (In(1), "k")):
        try:
            setattr(item, field_name, 0)
        except AttributeError:
            pass
        else:
            raise AssertionError(f"{item!r} must be immutable")


def test_a_getitem_graphs_canonical_text_spells_its_key_as_before():
    # The canonical text is the content hash's input: the key items' move into tracer/ir.py must not change it.
    graph = _graph(lambda x, i: x[1:, None, ..., i], np.ones((3, 4), np.float32), np.array([0, 2]))
    assert "getitem(0,1)[key=(1:, None, Ellipsis, in1)]:f32[2,1,2]~()" in graph.canonical_text()
