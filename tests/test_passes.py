"""Graph passes, each shown on a printed graph before and after; the pipeline keeps results exact."""
import textwrap

import numpy as np
import pytest

import graphjit as gj
from graphjit.compiler.interpreter import InterpreterBackend
from graphjit.compiler.passes.cse import eliminate_common_subexpressions
from graphjit.compiler.passes.dce import eliminate_dead_code
from graphjit.compiler.passes.fold import fold_constants
from graphjit.compiler.passes.pipeline import optimize
from graphjit.compiler.passes.simplify import simplify
from graphjit.compiler.passes.typecheck import check_graph
from graphjit.errors import InternalError
from graphjit.runtime import get_runtime
from graphjit.tracer.ir import Graph, Node

X = np.ones((2, 3), np.float32)


def traced(fn, *args):
    return gj.function(fn).get_concrete_function(*args).graph


def body(graph):
    """The printed graph without its header line, dedented, for readable expectations."""
    return textwrap.dedent("\n".join(str(graph).splitlines()[1:-1]))


def expect(graph, text):
    assert body(graph) == textwrap.dedent(text).strip("\n")


def run(graph, *arrays):
    return InterpreterBackend().compile(graph).run(get_runtime().state, list(arrays))


def test_constant_folding_before_and_after():
    graph = traced(lambda x: x + gj.constant([1.0, 2.0, 3.0]) * 2.0, X)
    expect(graph, """
        %1: f32[3] = constant {value=[1.,2.,3.]}
        %2: f32[] = constant {value=2.}
        %3: f32[3] = multiply %1 %2
        %4: f32[2,3] = add %0 %3
        return %4""")
    expect(eliminate_dead_code(fold_constants(graph)), """
        %1: f32[3] = constant {value=[2.,4.,6.]}
        %2: f32[2,3] = add %0 %1
        return %2""")


def test_constant_folding_leaves_large_results_as_ops():
    graph = traced(lambda x: x + gj.zeros([64, 128]) + 1.0, np.ones((64, 128), np.float32))
    folded = fold_constants(graph, max_elements=1024)
    assert "zeros" in str(folded)
    assert not any(n.op == "constant" and n.type.shape == (64, 128) for n in folded.nodes)


def test_constant_folding_never_folds_random_or_variable_reads():
    v = gj.Variable(2.0)
    graph = traced(lambda: gj.random.uniform([2]) + v)
    assert fold_constants(graph) == graph


def test_cse_before_and_after():
    graph = traced(lambda x, y: gj.exp(x * y) + gj.exp(x * y), X, X)
    expect(graph, """
        %2: f32[2,3] = multiply %0 %1
        %3: f32[2,3] = exp %2
        %4: f32[2,3] = multiply %0 %1
        %5: f32[2,3] = exp %4
        %6: f32[2,3] = add %3 %5
        return %6""")
    expect(eliminate_dead_code(eliminate_common_subexpressions(graph)), """
        %2: f32[2,3] = multiply %0 %1
        %3: f32[2,3] = exp %2
        %4: f32[2,3] = add %3 %3
        return %4""")


def test_cse_never_merges_effects():
    graph = traced(lambda: (gj.random.normal([3]), gj.random.normal([3])))
    merged = eliminate_common_subexpressions(graph)
    assert [n.op for n in merged.nodes].count("random_normal") == 2  # the equal mean/stddev constants merge
    a, b = run(optimize(graph))
    assert not np.array_equal(a, b)


def test_dce_keeps_effects_in_order():
    v = gj.Variable(0.0)

    def f(x):
        gj.sin(x)  # dead
        v.assign_add(1.0)
        gj.print("side effect")
        return x * 2.0

    graph = traced(f, X)
    expect(eliminate_dead_code(graph), """
        %1: f32[] = constant {value=1.}
        %2: f32[] = assign_variable %1 {mode='add', var=%s}
        %3: bool[] = print {end='\\n', sep=' ', stream='stdout', template=('side effect',)} after %2
        %4: f32[] = constant {value=2.}
        %5: f32[2,3] = multiply %0 %4
        return %5""".replace("%s", v.name))


def test_simplify_before_and_after():
    def f(x):
        a = gj.transpose(gj.transpose(x)) * 1.0
        b = -(-a) - 0.0
        return gj.reshape(gj.reshape(b, [6]), [3, 2]), x + 0.0, x / 1.0

    graph = traced(f, X)
    after = eliminate_dead_code(simplify(graph))
    expect(after, """
        %1: f32[3,2] = reshape %0 {shape=(3, 2)}
        %2: f32[] = constant {value=0.}
        %3: f32[2,3] = add %0 %2
        return %1, %3, %0""")


def test_simplify_keeps_rewrites_that_would_change_signed_zero_or_types():
    graph = traced(lambda x: (x + 0.0, x * 1), np.float32([-0.0]))
    kept = simplify(graph)
    assert "add" in str(kept)  # -0.0 + 0.0 is +0.0, so x + 0.0 is not x
    assert np.signbit(run(optimize(graph), np.float32([-0.0]))[0]).tolist() == [False]
    ints = traced(lambda x: x * 1.0, np.int32([1, 2]))  # int * 1.0 is float64: not x
    assert "multiply" in str(simplify(ints))


def test_pipeline_preserves_results_on_edge_values():
    def f(x, y):
        z = gj.exp(x * y) + gj.exp(x * y) - 0.0
        return gj.transpose(gj.transpose(z)) * 1.0 + gj.reduce_sum(gj.constant([1.0, 2.0]) * 3.0), -(-x)

    x = np.float32([[np.nan, np.inf, -np.inf], [-0.0, 0.0, 88.0]])
    y = np.float32([[1.0, -1.0, 2.0], [3.0, -0.0, 1.5]])
    graph = traced(f, x, y)
    optimized = optimize(graph)
    assert len(optimized.nodes) < len(graph.nodes)
    for a, b in zip(run(graph, x, y), run(optimized, x, y)):
        np.testing.assert_array_equal(a, b)
        assert np.array_equal(np.signbit(a), np.signbit(b))


def test_typecheck_catches_a_mistyped_node():
    graph = traced(lambda x: x * 2.0, X)
    nodes = list(graph.nodes)
    bad = nodes[-1]
    nodes[-1] = Node(bad.op, bad.inputs, bad.attrs, bad.type._replace(dtype=gj.float64), bad.deps)
    with pytest.raises(InternalError, match=r"typed f64\[2,3\] but its rule gives f32\[2,3\]"):
        check_graph(Graph(tuple(nodes), graph.inputs, graph.outputs))
    assert check_graph(graph) is graph


def test_typecheck_catches_a_broken_effect_chain():
    v = gj.Variable(0.0)
    graph = traced(lambda: (v.assign_add(1.0), v.read_value())[1])
    nodes = list(graph.nodes)
    last = nodes[-1]
    nodes[-1] = Node(last.op, last.inputs, last.attrs, last.type, ())
    with pytest.raises(InternalError, match="effect order broken"):
        check_graph(Graph(tuple(nodes), graph.inputs, graph.outputs))


def test_decompose_turns_tensordot_into_transpose_reshape_and_matmul():
    from graphjit.compiler.passes.decompose import decompose
    a, b = np.ones((2, 3, 4), np.float32), np.arange(60, dtype=np.float64).reshape(4, 3, 5)
    graph = traced(lambda a, b: gj.tensordot(a, b, [[1, 2], [1, 0]]), a, b)
    expect(graph, """
        %2: f64[2,5] = tensordot %0 %1 {axes=((1, 2), (1, 0))}
        return %2""")
    rewritten = decompose(graph)
    expect(rewritten, """
        %2: f64[2,3,4] = cast %0 {dtype=float64}
        %3: f64[2,12] = reshape %2 {shape=(2, 12)}
        %4: f64[3,4,5] = transpose %1 {perm=(1, 0, 2)}
        %5: f64[12,5] = reshape %4 {shape=(12, 5)}
        %6: f64[2,5] = matmul %3 %5 {transpose_a=False, transpose_b=False}
        return %6""")
    check_graph(rewritten)
    np.testing.assert_array_equal(run(rewritten, a, b)[0], np.tensordot(a, b, [[1, 2], [1, 0]]))


def test_decompose_moves_leading_reduction_axes_last_for_the_row_kernels():
    from graphjit.compiler.passes.decompose import decompose
    x = np.random.default_rng(3).standard_normal((3, 4, 2)).astype(np.float32)
    x[1, 2, 0] = x[0, 2, 0]                       # a tie along axis 0: argmax keeps the first
    graph = traced(lambda x: (gj.argmax(x, axis=0), gj.reduce_logsumexp(x, axis=[0, 2], keepdims=True),
                              gj.argmin(x, axis=2)), x)
    expect(graph, """
        %1: i64[4,2] = argmax %0 {axis=0, keepdims=False, output_type=int64}
        %2: f32[1,4,1] = reduce_logsumexp %0 {axis=(0, 2), keepdims=True}
        %3: i64[3,4] = argmin %0 {axis=2, keepdims=False, output_type=int64}
        return %1, %2, %3""")
    rewritten = decompose(graph)
    expect(rewritten, """
        %1: f32[4,2,3] = transpose %0 {perm=(1, 2, 0)}
        %2: i64[4,2] = argmax %1 {axis=2, keepdims=False, output_type=int64}
        %3: f32[4,3,2] = transpose %0 {perm=(1, 0, 2)}
        %4: f32[4] = reduce_logsumexp %3 {axis=(1, 2), keepdims=False}
        %5: f32[1,4,1] = reshape %4 {shape=(1, 4, 1)}
        %6: i64[3,4] = argmin %0 {axis=2, keepdims=False, output_type=int64}
        return %2, %5, %6""")
    check_graph(rewritten)
    for got, want in zip(run(rewritten, x), run(graph, x)):
        np.testing.assert_allclose(got, want, rtol=1e-6)
        assert got.dtype == want.dtype and got.shape == want.shape


def test_rebuilder_add_types_nodes_by_the_ops_rule_and_names_a_bad_rewrite():
    from graphjit.compiler.passes.rebuild import Rebuilder
    from graphjit.errors import InvalidArgumentError
    a = np.arange(6, dtype=np.int32).reshape(2, 3)
    graph = traced(lambda x: x, a)
    rebuilder = Rebuilder(graph)
    x = rebuilder.copy(graph.inputs[0])
    moved = rebuilder.add("transpose", [x], perm=(1, 0))
    as_float = rebuilder.add("cast", [moved], dtype=gj.float32)
    assert rebuilder.nodes[moved].type.shape == (3, 2) and rebuilder.nodes[moved].type.dtype == a.dtype
    assert rebuilder.nodes[as_float].type.shape == (3, 2) and rebuilder.nodes[as_float].type.dtype == np.float32
    with pytest.raises(InvalidArgumentError, match=r"reshape\(.*\)"):
        rebuilder.add("reshape", [as_float], shape=(4, 2))
