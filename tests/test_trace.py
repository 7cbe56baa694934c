"""trace(fn, in_types, parent): the one tracing primitive, its captures, and nodes that hold subgraphs."""
import textwrap

import numpy as np
import pytest

import graphjit as gj
import graphjit.compat.v1 as v1
from graphjit.compiler.backend import get_backend
from graphjit.compiler.interpreter import InterpreterBackend
from graphjit.compiler.passes.cse import eliminate_common_subexpressions
from graphjit.compiler.passes.dce import eliminate_dead_code
from graphjit.compiler.passes.fold import fold_constants
from graphjit.compiler.passes.pipeline import optimize
from graphjit.errors import TracingError, UnimplementedError
from graphjit.runtime import get_runtime
from graphjit.tracer import context
from graphjit.tracer.attrs import Subgraph
from graphjit.tracer.errors import InvalidArgumentError
from graphjit.tracer.ir import Graph, TensorType
from graphjit.tracer.registry import OPS, Op
from graphjit.tracer.tracing import TraceContext, trace

F32 = TensorType((2, 3), gj.float32)
X = np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5
Y = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)


def listing(graph):
    """The printed graph without its header and closing lines, dedented."""
    return textwrap.dedent("\n".join(str(graph).splitlines()[1:-1]))


def interpret(graph, *arrays):
    return InterpreterBackend().compile(graph).run(get_runtime().state, list(arrays))


# ---- trace() on plain functions ----------------------------------------------------------------------

def test_trace_records_the_ops_of_a_function_over_symbolic_inputs():
    graph, captures = trace(lambda x, y: (gj.exp(x) * y, x + 1.0), [F32, gj.TensorSpec((2, 3), gj.float32)])
    assert captures == ()
    assert str(graph).splitlines()[0] == "graph <lambda>(%0: f32[2,3], %1: f32[2,3]) {"
    assert listing(graph) == textwrap.dedent("""\
          %2: f32[2,3] = exp %0
          %3: f32[2,3] = multiply %2 %1
          %4: f32[] = constant {value=1.}
          %5: f32[2,3] = add %0 %4
          return %3, %5""")
    assert [graph.nodes[i].type for i in graph.outputs] == [F32, F32]
    got = interpret(graph, X, Y)
    np.testing.assert_allclose(got[0], np.exp(X) * Y, rtol=1e-6)
    np.testing.assert_array_equal(got[1], X + np.float32(1))


def test_trace_names_the_graph_and_takes_one_returned_tensor():
    def double(x):
        return x * 2
    graph, _ = trace(double, [TensorType((4,), gj.int32)])
    assert graph.name == "double" and len(graph.outputs) == 1
    assert graph.nodes[graph.outputs[0]].type == TensorType((4,), gj.int32)
    assert trace(double, [F32], name="other")[0].name == "other"


def test_a_returned_value_that_is_not_a_tensor_is_a_tracing_error():
    with pytest.raises(TracingError, match="returned value 1: expected a tensor, got object"):
        trace(lambda x: (x, object()), [F32])


# ---- captures ------------------------------------------------------------------------------------------

def test_eager_tensors_closed_over_become_one_constant_each():
    c = gj.constant(Y)
    graph, captures = trace(lambda x: (x * c) + c, [F32])
    assert captures == ()
    constants = [n for n in graph.nodes if n.op == "constant"]
    assert len(constants) == 1 and np.array_equal(constants[0].attr("value").value, Y)
    np.testing.assert_array_equal(interpret(graph, X)[0], X * Y + Y)


def test_compat_v1_graphs_capture_eager_tensors_the_same_way():
    c = gj.constant(Y)
    graph = v1.Graph()
    with graph.as_default():
        a = v1.placeholder(gj.float32, (2, 3))
        out = a * c + c
    assert [op.type for op in graph.get_operations()].count("constant") == 1
    with v1.Session(graph=graph) as sess:
        np.testing.assert_array_equal(sess.run(out, {a: X}), X * Y + Y)


def test_outer_symbolic_tensors_become_explicit_inputs_fed_by_the_captures():
    seen = {}

    def outer(x):
        y = gj.exp(x)
        parent = context.current()
        inner, captures = trace(lambda z: z * y + y, [F32], parent)
        seen.update(inner=inner, captures=captures, y=y, parent=parent)
        return x

    trace(outer, [F32])
    inner, captures, y = seen["inner"], seen["captures"], seen["y"]
    assert str(inner).splitlines()[0] == "graph <lambda>(%0: f32[2,3], %1: f32[2,3]) {"   # z, then the capture
    assert listing(inner) == textwrap.dedent("""\
          %2: f32[2,3] = multiply %0 %1
          %3: f32[2,3] = add %2 %1
          return %3""")
    assert len(captures) == 1 and captures[0]._trace is seen["parent"] and captures[0]._id == y._id
    np.testing.assert_allclose(interpret(inner, Y, np.exp(X))[0], Y * np.exp(X) + np.exp(X), rtol=1e-6)


def test_a_tensor_of_the_grandparent_is_captured_through_the_parent():
    seen = {}

    def outer(x):
        y = x + 1.0

        def middle(m):
            inner, captures = trace(lambda z: z - y, [F32], context.current())
            seen.update(inner=inner, inner_captures=captures)
            return m
        middle_graph, middle_captures = trace(middle, [F32], context.current())
        seen.update(middle=middle_graph, middle_captures=middle_captures, y=y)
        return x

    trace(outer, [F32])
    (outer_y,), (middle_y,) = seen["middle_captures"], seen["inner_captures"]
    assert outer_y._id == seen["y"]._id                     # the middle graph captured y from the outer one
    assert middle_y._id == seen["middle"].inputs[1]         # and the inner graph captured the middle's input
    assert len(seen["inner"].inputs) == 2


def test_without_a_parent_an_outer_tensor_is_a_tracing_error_that_says_what_to_do():
    def outer(x):
        y = x * 2.0
        trace(lambda z: z + y, [F32])
        return x
    with pytest.raises(TracingError, match="symbolic tensor of another graph .* Pass the value as an argument"):
        trace(outer, [F32])


def test_a_tensor_of_a_finished_trace_is_not_captured():
    leaked = []

    @gj.function
    def first(x):
        leaked.append(x * 2.0)
        return x

    @gj.function
    def second(x):
        return x + leaked[0]
    first(X)
    with pytest.raises(TracingError, match="not being traced around this one"):
        second(X)


# ---- nested gj.function ----------------------------------------------------------------------------------

def test_a_nested_function_closing_over_outer_tensors_is_inlined_with_its_captures():
    @gj.function
    def outer(x, y):
        scale = gj.exp(y)

        @gj.function
        def inner(z):
            return z * scale + y
        return inner(x + 1.0) - inner(x)

    got = outer(X, Y).numpy()
    scale = np.exp(Y)
    np.testing.assert_allclose(got, ((X + 1) * scale + Y) - (X * scale + Y), rtol=1e-5)
    ops = [n.op for n in outer.get_concrete_function(X, Y).graph.nodes]
    assert ops.count("input") == 2 and ops.count("exp") == 1   # inlined: no extra inputs, scale computed once


def test_a_nested_function_defined_outside_still_caches_its_trace_when_it_captures_nothing():
    @gj.function
    def inner(z):
        return z * 2.0

    @gj.function
    def outer(x):
        return inner(x) + inner(x + 1.0)
    np.testing.assert_array_equal(outer(X).numpy(), X * 2 + (X + 1) * 2)
    assert inner.experimental_get_tracing_count() == 1   # its second call in the outer trace reused the first
    assert inner.experimental_get_trace_count_kept() == 1


def test_a_trace_with_captures_is_not_reused_by_another_outer_trace():
    made = []

    @gj.function
    def outer(x):
        y = x * 3.0

        @gj.function
        def inner(z):
            return z + y
        made.append(inner)
        return inner(x)
    np.testing.assert_array_equal(outer(X).numpy(), X + X * 3)
    Z = Y.reshape(3, 2)
    np.testing.assert_array_equal(outer(Z).numpy(), Z + Z * 3)   # a second outer trace, a second inner one
    assert len(made) == 2 and all(f.experimental_get_trace_count_kept() == 0 for f in made)   # none cached


# ---- the Op.subgraphs hook --------------------------------------------------------------------------------

def _call_infer(*types, body):
    expected = [body.nodes[i].type for i in body.inputs]
    if list(types) != expected:
        raise InvalidArgumentError(f"call: the body takes {expected}, got {list(types)}")
    return body.nodes[body.outputs[0]].type


@pytest.fixture
def call_op(monkeypatch):
    """``call``: runs its subgraph ``body`` on its inputs (a stand-in for cond/while, registered from here)."""
    op = Op("call", infer=_call_infer, eager=lambda *arrays, body: body(*arrays)[0], attrs={"body": Subgraph()},
            subgraphs=("body",))
    monkeypatch.setitem(OPS, "call", op)
    return op


def call(fn, *args):
    """``fn(*args)`` as one call node: fn is traced into the body, inside the current trace if there is one."""
    top = context._state.top
    parent = top if isinstance(top, TraceContext) else None
    args = [gj.convert_to_tensor(a) for a in args]
    body, captures = trace(fn, [a.type for a in args], parent)
    return OPS["call"].bind(*args, *captures, body=body)


def _body_of(graph):
    (node,) = [n for n in graph.nodes if n.op == "call"]
    return node.attr("body")


def _outer_with_body(fn):
    return gj.function(lambda x: call(fn, x) * 2.0).get_concrete_function(X).graph


def test_the_subgraph_prints_under_its_node_and_hashes_by_structure(call_op):
    graph = _outer_with_body(lambda z: gj.exp(z) + 1.0)
    assert listing(graph) == textwrap.dedent("""\
          %1: f32[2,3] = call %0
            body:
              graph <lambda>(%0: f32[2,3]) {
                %1: f32[2,3] = exp %0
                %2: f32[] = constant {value=1.}
                %3: f32[2,3] = add %1 %2
                return %3
              }
          %2: f32[] = constant {value=2.}
          %3: f32[2,3] = multiply %1 %2
          return %3""")
    again = _outer_with_body(lambda z: gj.exp(z) + 1.0)
    other = _outer_with_body(lambda z: gj.exp(z) + 2.0)
    assert again == graph and again.fingerprint() == graph.fingerprint()
    assert other != graph and other.fingerprint() != graph.fingerprint()
    assert Graph.from_json(graph.to_json()).fingerprint() == graph.fingerprint()


def test_constant_folding_reaches_inside_the_subgraph(call_op):
    graph = _outer_with_body(lambda z: z * (gj.constant(2.0) * 3.0))
    folded = fold_constants(graph)
    body = _body_of(folded)
    assert [n.op for n in body.nodes] == ["input", "constant", "constant", "constant", "multiply"]
    assert body.nodes[body.nodes[-1].inputs[1]].attr("value").value == np.float32(6)
    np.testing.assert_array_equal(interpret(folded, X)[0], X * 6 * 2)


def test_cse_and_dce_reach_inside_the_subgraph(call_op):
    def fn(z):
        unused = gj.sin(z)  # noqa: F841  (dead: DCE drops it)
        return gj.exp(z) + gj.exp(z)
    graph = _outer_with_body(fn)
    merged = _body_of(eliminate_common_subexpressions(graph))
    assert [n.op for n in merged.nodes].count("exp") == 1
    cleaned = _body_of(eliminate_dead_code(graph))
    assert "sin" not in [n.op for n in cleaned.nodes] and len(cleaned.inputs) == 1
    optimized = optimize(graph)
    assert [n.op for n in _body_of(optimized).nodes] == ["input", "exp", "add"]
    np.testing.assert_allclose(interpret(optimized, X)[0], (np.exp(X) + np.exp(X)) * 2, rtol=1e-6)


def test_passes_reach_subgraphs_of_subgraphs(call_op):
    graph = _outer_with_body(lambda z: call(lambda w: w + gj.constant(1.0) * 4.0, z) + 0.5)
    inner = _body_of(_body_of(optimize(graph)))
    assert "multiply" not in [n.op for n in inner.nodes]   # 1.0 * 4.0 was folded two levels down
    np.testing.assert_array_equal(interpret(optimize(graph), X)[0], (X + 4 + 0.5) * 2)


def test_a_subgraph_op_runs_eagerly_on_the_interpreter_and_on_the_cpu_backend(call_op):
    c = gj.constant(Y)

    @gj.function
    def f(x):
        y = gj.tanh(x)
        return call(lambda z: z * y + c, x + 1.0)   # captures y from the outer trace, c as a constant

    expected = (X + 1) * np.tanh(X) + Y
    np.testing.assert_allclose(f(X).numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(call(lambda z: z * c, X).numpy(), X * Y, rtol=1e-6)   # eagerly
    graph = f.get_concrete_function(X).graph
    compiled = get_backend("cpu").compile(graph)   # the call runs as an eager step between compiled stages
    np.testing.assert_allclose(compiled.run(get_runtime().state, [X])[0], expected, rtol=1e-6)


def test_a_subgraph_with_side_effects_is_kept_by_the_passes_and_prints_interpreted_and_compiled(
        call_op, capsys):
    def printed(z):
        gj.print(z)
        return z
    graph = gj.function(lambda x: (call(printed, x), x)[1]).get_concrete_function(X).graph
    assert "call" in [n.op for n in optimize(graph).nodes]   # unused, but its body prints: DCE keeps it
    np.testing.assert_array_equal(interpret(graph, X)[0], X)
    assert capsys.readouterr().out == f"{X}\n"   # the body's print ran, with the run's state
    # compiled, its print stays a node of the body (compiler.functionalize): the op is an eager step that prints
    executable = get_backend("cpu").compile(graph)
    np.testing.assert_array_equal(executable.run(get_runtime().state, [X])[0], X)
    assert capsys.readouterr().out == f"{X}\n"
