"""gj.cond, gj.while_loop, gj.switch_case, gj.map_fn, gj.scan: eagerly (the Python functions run on eager
tensors) and traced (cond / while_loop nodes holding subgraphs, run by the reference interpreter, the tests'
default backend), each against plain Python/NumPy; structures, captures, nesting, effects, error messages,
gradients (float64 central differences, tests/gradient_check.py), the IR and compat.v1 sessions.
tests/test_control_flow_compiled.py runs them on the CPU backend.

Tolerances: eager and traced run the same NumPy ops in the same order, so they are compared bit for bit; against
NumPy references of the same arithmetic, also exact unless stated."""
import os
import textwrap

import numpy as np
import pytest

import graphjit as gj
import graphjit.compat.v1 as v1
from graphjit.compiler.passes.pipeline import optimize
from graphjit.errors import InvalidArgumentError, InvalidTypeError, UnimplementedError
from graphjit.tracer.ir import Graph

from gradient_check import check_gradients

HERE = os.path.basename(__file__)
_rng = np.random.default_rng(2121)
X = _rng.uniform(-2.0, 2.0, (3, 4)).astype(np.float32)
V = _rng.uniform(0.5, 1.5, (4,))


def both(fn, *args):
    """fn's results eagerly (arrays as eager tensors) and traced, as NumPy values in fn's structure; asserts that
    both have that structure and are equal bit for bit. Returns the traced ones."""
    eager = _numpy(fn(*[gj.constant(a) if isinstance(a, np.ndarray) else a for a in args]))
    traced = _numpy(gj.function(fn)(*args))
    assert _skeleton(eager) == _skeleton(traced)
    for e, t in zip(_flat(eager), _flat(traced)):
        assert e.dtype == t.dtype
        np.testing.assert_array_equal(e, t)
    return traced


def _skeleton(value):
    if isinstance(value, (tuple, list)):
        return type(value), [_skeleton(v) for v in value]
    if isinstance(value, dict):
        return {k: _skeleton(v) for k, v in value.items()}
    return None


def _numpy(value):
    if isinstance(value, (tuple, list)):
        return type(value)(_numpy(v) for v in value)
    if isinstance(value, dict):
        return {k: _numpy(v) for k, v in value.items()}
    return np.asarray(value)


def _flat(value):
    if isinstance(value, (tuple, list)):
        return [x for v in value for x in _flat(v)]
    if isinstance(value, dict):
        return [x for k in sorted(value) for x in _flat(value[k])]
    return [value]


def graph_of(fn, *args):
    return gj.function(fn).get_concrete_function(*args).graph


# ---- cond ----------------------------------------------------------------------------------------------------

def test_cond_returns_the_taken_branch_eagerly_and_traced_with_nested_structures():
    def fn(x, threshold):
        return gj.cond(gj.reduce_sum(x) > threshold,
                       lambda: {"y": x * 2.0, "pair": (gj.reduce_max(x), [x[0]])},
                       lambda: {"y": x - 1.0, "pair": (gj.reduce_min(x), [x[1]])})
    for threshold in (-100.0, 100.0):
        got = both(fn, X, np.float32(threshold))
        taken = X.sum() > threshold
        assert set(got) == {"y", "pair"} and isinstance(got["pair"], tuple) and isinstance(got["pair"][1], list)
        np.testing.assert_array_equal(got["y"], X * np.float32(2) if taken else X - np.float32(1))
        np.testing.assert_array_equal(got["pair"][0], X.max() if taken else X.min())
        np.testing.assert_array_equal(got["pair"][1][0], X[0] if taken else X[1])


def test_a_python_bool_predicate_calls_one_branch_even_while_tracing():
    calls = []

    def fn(x):
        return gj.cond(True, lambda: calls.append("true") or x + 1.0, lambda: calls.append("false") or x)
    graph = graph_of(fn, X)
    assert calls == ["true"] and "cond" not in [n.op for n in graph.nodes]


def test_branches_close_over_tensors_of_enclosing_traces_as_captures():
    @gj.function
    def fn(x):
        scale = gj.reduce_max(x)
        def outer_true():
            inner_scale = scale * 2.0
            return gj.cond(scale > 0, lambda: x * inner_scale, lambda: x * scale)   # two levels of capture
        return gj.cond(scale > 1.0, outer_true, lambda: x + scale)
    expected = X * (X.max() * 2) if X.max() > 1 else X + X.max()
    np.testing.assert_allclose(fn(X).numpy(), expected, rtol=1e-6)
    (node,) = [n for n in fn.get_concrete_function(X).graph.nodes if n.op == "cond"]
    assert len(node.inputs) == 1 + len(node.attr("true_branch").inputs) + len(node.attr("false_branch").inputs)
    assert len(node.attr("true_branch").inputs) == 2   # x and scale, captured from the function's trace


def test_a_function_with_cond_traces_once_and_each_branch_runs_once_per_trace():
    runs = []

    @gj.function
    def fn(x):
        return gj.cond(gj.reduce_sum(x) > 0, lambda: runs.append("t") or x * 3.0, lambda: runs.append("f") or -x)
    for value in (X, -np.abs(X), X + 1):
        expected = value * np.float32(3) if value.sum() > 0 else -value
        np.testing.assert_array_equal(fn(value).numpy(), expected)
    assert fn.experimental_get_tracing_count() == 1 and runs == ["t", "f"]


def test_cond_refuses_a_non_scalar_or_non_bool_predicate_and_non_callables():
    with pytest.raises(InvalidArgumentError, match=r"cond: pred must be a scalar bool tensor, got float32 of shape "
                                                   r"\(\)"):
        gj.cond(gj.constant(1.0), lambda: 1, lambda: 2)
    with pytest.raises(InvalidArgumentError, match=r"got bool of shape \(4,\)"):
        gj.function(lambda x: gj.cond(x > 0, lambda: x, lambda: x))(V)
    with pytest.raises(InvalidTypeError, match="cond: false_fn must be callable, got int"):
        gj.cond(gj.constant(True), lambda: 1, 2)


def test_branches_of_different_structures_are_an_error_naming_both_and_the_line():
    fn = gj.function(lambda x: gj.cond(x[0] > 0, lambda: (x, x), lambda: [x]))
    with pytest.raises(InvalidArgumentError) as err:
        fn(V)
    assert ("cond: true_fn and false_fn must return the same structure, but true_fn returns (f64[4], f64[4]) and "
            "false_fn returns [f64[4]]") in str(err.value)
    assert f"at {HERE}:" in str(err.value) and "gj.cond(x[0] > 0" in str(err.value)


def test_branches_of_different_dtypes_or_shapes_are_an_error_naming_the_result_and_both_types():
    fn = gj.function(lambda x: gj.cond(x[0] > 0, lambda: (x, {"a": x}), lambda: (x, {"a": gj.cast(x, gj.float32)})))
    with pytest.raises(InvalidArgumentError, match=r"but result\[1\]\['a'\] is f64\[4\] from true_fn and f32\[4\] "
                                                   r"from false_fn"):
        fn(V)
    fn = gj.function(lambda x: gj.cond(x[0] > 0, lambda: x, lambda: x[:2]))
    with pytest.raises(InvalidArgumentError, match=r"result is f64\[4\] from true_fn and f64\[2\] from false_fn "
                                                   r"\(shapes must match exactly"):
        fn(V)


def test_a_constant_predicate_folds_to_the_branch_it_takes():
    graph = graph_of(lambda x: gj.cond(gj.constant(2.0) > 1.0, lambda: x * 2.0, lambda: x - 1.0), X)
    assert "cond" in [n.op for n in graph.nodes]
    assert [n.op for n in optimize(graph).nodes] == ["input", "constant", "multiply"]


def test_cse_merges_identical_conds_and_dce_drops_an_unused_one():
    def fn(x):
        unused = gj.cond(x[0] > 0, lambda: gj.exp(x), lambda: x)  # noqa: F841  (dead: DCE drops it)
        first = gj.cond(x[1] > 0, lambda: x * 2.0, lambda: x - 1.0)
        again = gj.cond(x[1] > 0, lambda: x * 2.0, lambda: x - 1.0)
        return first + again
    graph = graph_of(fn, V)
    assert [n.op for n in graph.nodes].count("cond") == 3
    optimized = optimize(graph)
    assert [n.op for n in optimized.nodes].count("cond") == 1
    np.testing.assert_array_equal(gj.function(fn)(V).numpy(), (V * 2 if V[1] > 0 else V - 1) * 2)


# ---- the IR --------------------------------------------------------------------------------------------------

def test_the_ir_prints_one_line_per_node_with_the_subgraphs_indented_and_round_trips_as_json():
    graph = graph_of(lambda x: gj.while_loop(lambda k, s: k < 3, lambda k, s: (k + 1, s * x), (0, x)), V)
    assert str(graph) == textwrap.dedent("""\
        graph <lambda>(%0: f64[4]) {
          %1: i32[] = constant {value=0}
          %2: (i32[], f64[4]) = while_loop %1 %0 %0 {maximum_iterations=None}
            body:
              graph body(%0: i32[], %1: f64[4], %4: f64[4]) {
                %2: i32[] = constant {value=1}
                %3: i32[] = add %0 %2
                %5: f64[4] = multiply %1 %4
                return %3, %5
              }
            cond:
              graph cond(%0: i32[], %1: f64[4]) {
                %2: i32[] = constant {value=3}
                %3: bool[] = less %0 %2
                return %3
              }
          %3: i32[] = tuple_get %2 {index=0}
          %4: f64[4] = tuple_get %2 {index=1}
          return %3, %4
        }""")
    back = Graph.from_json(graph.to_json())
    assert back == graph and back.fingerprint() == graph.fingerprint() and str(back) == str(graph)
    other = graph_of(lambda x: gj.while_loop(lambda k, s: k < 4, lambda k, s: (k + 1, s * x), (0, x)), V)
    assert other.fingerprint() != graph.fingerprint()


# ---- while_loop ----------------------------------------------------------------------------------------------

def test_while_loop_matches_a_python_loop_eagerly_and_traced():
    def fn(v):
        return gj.while_loop(lambda k, term, total: gj.reduce_max(term) > 1e-6,
                             lambda k, term, total: (k + 1, term * 0.5, total + term), (0, v, gj.zeros_like(v)))
    k, term, total = 0, V, np.zeros_like(V)
    while term.max() > 1e-6:
        k, term, total = k + 1, term * 0.5, total + term
    got = both(fn, V)
    assert isinstance(got, tuple) and got[0] == k and got[0].dtype == np.int32
    np.testing.assert_array_equal(got[1], term)
    np.testing.assert_array_equal(got[2], total)


def test_nested_loop_variables_keep_their_structure():
    def fn(v):
        def body(state, count):
            return {"sum": state["sum"] + state["parts"][1], "parts": [state["parts"][0], state["parts"][1] * 2.0]}, \
                count + 1
        return gj.while_loop(lambda state, count: count < 3, body,
                             ({"sum": gj.zeros_like(v), "parts": [v, v + 1.0]}, gj.constant(np.int64(0))))
    state, count = both(fn, V)
    assert set(state) == {"sum", "parts"} and isinstance(state["parts"], list) and count.dtype == np.int64
    np.testing.assert_allclose(state["sum"], (V + 1) * 7, rtol=1e-15)   # (a sum of three terms, rounded)
    np.testing.assert_array_equal(state["parts"][1], (V + 1) * 8)


def test_a_list_of_loop_variables_comes_back_a_list_and_a_single_tensor_bare():
    got = both(lambda v: gj.while_loop(lambda s: gj.reduce_sum(s) < 100.0, lambda s: s * 2.0, [v]), V)
    assert isinstance(got, list) and len(got) == 1
    bare = both(lambda v: gj.while_loop(lambda s: gj.reduce_sum(s) < 100.0, lambda s: s * 2.0, v), V)
    np.testing.assert_array_equal(bare, got[0])


def test_maximum_iterations_bounds_the_loop_as_an_int_or_a_tensor():
    def fn(v, limit):
        return gj.while_loop(lambda k, s: True, lambda k, s: (k + 1, s + v), (0, gj.zeros_like(v)),
                             maximum_iterations=limit)
    for limit in (0, 5):
        k, s = both(fn, V, limit)
        assert k == limit
        np.testing.assert_allclose(s, V * limit, rtol=1e-15)
    k, s = gj.function(fn)(V, np.int32(7))   # a tensor bound: a counter among the loop variables
    assert k.numpy() == 7
    with pytest.raises(InvalidArgumentError, match="maximum_iterations must be an int >= 0, got -1"):
        fn(V, -1)


def test_loops_inside_branches_and_branches_inside_loops():
    def fn(v):
        def body(k, s):
            inner = lambda: gj.while_loop(lambda j, t: j < 2, lambda j, t: (j + 1, t * 1.5), (0, s))[1]  # noqa: E731
            s = gj.cond(k % 2 == 0, lambda: s + v, inner)
            return k + 1, s
        return gj.cond(gj.reduce_sum(v) > 0, lambda: gj.while_loop(lambda k, s: k < 5, body, (0, v))[1], lambda: v)
    s = V.copy()
    for k in range(5):
        s = s + V if k % 2 == 0 else s * 1.5 * 1.5
    np.testing.assert_allclose(both(fn, V), s, rtol=1e-15)


def test_a_loop_variable_changing_dtype_is_an_error_naming_its_path_and_both_types():
    body = lambda state: ({"n": state["n"], "x": [gj.cast(state["x"][0], gj.float32)]},)  # noqa: E731
    loop = lambda v: gj.while_loop(lambda state: True, body, ({"n": 0, "x": [v]},), maximum_iterations=2)  # noqa: E731
    for run in (loop, gj.function(loop)):
        with pytest.raises(InvalidArgumentError) as err:
            run(V)
        assert ("while_loop: loop variable loop_vars[0]['x'][0] changes dtype across an iteration, from f64[4] to "
                "f32[4]") in str(err.value) and f"at {HERE}:" in str(err.value)


def test_a_loop_variable_changing_shape_is_an_error_unless_its_invariant_allows_it_eagerly():
    def loop(v, invariants=None):
        return gj.while_loop(lambda k, s: k < 3, lambda k, s: (k + 1, gj.concat([s, s[:1]], axis=0)), (0, v),
                             shape_invariants=invariants)
    with pytest.raises(InvalidArgumentError, match=r"loop variable loop_vars\[1\] changes shape across an "
                                                   r"iteration, from f64\[4\] to f64\[5\]"):
        loop(gj.constant(V))
    k, s = loop(gj.constant(V), (gj.TensorShape([]), gj.TensorShape([None])))   # eagerly: allowed by the invariant
    np.testing.assert_array_equal(s.numpy(), np.concatenate([V, V[:1], V[:1], V[:1]]))
    traced = gj.function(lambda v: loop(v, (gj.TensorShape([]), gj.TensorShape([None]))))
    with pytest.raises(UnimplementedError, match=r"shape_invariants \(\(None,\)\) allows it, but graphjit's graphs "
                                                 r"have static shapes, so such a loop runs only eagerly"):
        traced(V)
    with pytest.raises(InvalidArgumentError, match=r"loop_vars\[1\] has shape \(4,\), which its shape invariant "
                                                   r"\(3,\) does not allow"):
        loop(gj.constant(V), (gj.TensorShape([]), gj.TensorShape([3])))


def test_while_loop_refuses_a_cond_without_a_scalar_bool_and_empty_loop_vars():
    with pytest.raises(InvalidArgumentError, match="while_loop: cond's result must be a scalar bool tensor, got "
                                                   "float64"):
        gj.function(lambda v: gj.while_loop(lambda s: gj.reduce_sum(s), lambda s: s, (v,)))(V)
    with pytest.raises(InvalidArgumentError, match="loop_vars is empty"):
        gj.while_loop(lambda: True, lambda: (), ())


# ---- switch_case, map_fn, scan ------------------------------------------------------------------------------

def test_switch_case_picks_the_branch_and_defaults_out_of_range():
    branches = [lambda: gj.constant(V) * 1.0, lambda: gj.constant(V) * 2.0, lambda: gj.constant(V) * 3.0]
    fn = gj.function(lambda i: gj.switch_case(i, branches))
    with_default = gj.function(lambda i: gj.switch_case(i, dict(enumerate(branches)), default=lambda: -gj.constant(V)))
    for i in (-1, 0, 1, 2, 3):
        expected = V * (i + 1) if 0 <= i <= 2 else V * 3
        np.testing.assert_array_equal(fn(np.int32(i)).numpy(), expected)
        np.testing.assert_array_equal(gj.switch_case(gj.constant(np.int32(i)), branches).numpy(), expected)
        np.testing.assert_array_equal(with_default(np.int32(i)).numpy(), expected if 0 <= i <= 2 else -V)
    with pytest.raises(InvalidArgumentError, match="switch_case: branch_index must be a scalar int32 or int64"):
        gj.switch_case(gj.constant(1.0), branches)


def test_map_fn_over_nested_elements_matches_numpy():
    def fn(x, y):
        return gj.map_fn(lambda e: (gj.reduce_sum(e["a"] * e["b"]), e["a"] - 1.0), {"a": x, "b": y})
    total, shifted = both(fn, X, X[::-1].copy())
    np.testing.assert_allclose(total, (X * X[::-1]).sum(axis=1), rtol=1e-6)
    np.testing.assert_array_equal(shifted, X - np.float32(1))
    empty = both(lambda x: gj.map_fn(lambda e: gj.reduce_sum(e) * 2.0, x), np.zeros((0, 3), np.float32))
    assert empty.shape == (0,) and empty.dtype == np.float32


def test_scan_matches_numpy_forward_reverse_and_with_an_initializer():
    np.testing.assert_allclose(both(lambda x: gj.scan(lambda a, e: a + e, x), X), np.cumsum(X, axis=0), rtol=1e-6)
    np.testing.assert_allclose(both(lambda x: gj.scan(lambda a, e: a + e, x, reverse=True), X),
                               np.cumsum(X[::-1], axis=0)[::-1], rtol=1e-6)
    running = both(lambda v: gj.scan(lambda acc, e: (acc[0] + e, acc[1] * e), v,
                                     initializer=(np.float64(0), np.float64(1))), V)
    np.testing.assert_allclose(running[0], np.cumsum(V), rtol=1e-15)
    np.testing.assert_allclose(running[1], np.cumprod(V), rtol=1e-15)
    with pytest.raises(InvalidArgumentError, match="scan: fn must return the structure, dtypes and shapes of its "
                                                   r"accumulator \(f32\[\], f32\[\]\), got \(f64\[\],\)"):
        gj.function(lambda v: gj.scan(lambda acc, e: (acc[0] + e,), v, initializer=(0.0, 1.0)))(V)


# ---- variables inside control flow ------------------------------------------------------------------------------

def test_variable_effects_inside_branches_and_loops_keep_program_order():
    total = gj.Variable(np.zeros(4), name="cf_total")
    steps = gj.Variable(np.int32(0), name="cf_steps")

    def fn(x):
        total.assign(x)
        def body(k):
            total.assign_add(x * gj.cast(k, gj.float64))
            steps.assign_add(1)
            return k + 1
        gj.while_loop(lambda k: k < 4, body, [0])
        taken = gj.cond(gj.reduce_sum(total) > 10.0, lambda: total.assign_sub(x).read_value() * 1.0,
                        lambda: total * 2.0)
        return total.read_value(), taken
    after_loop = V * 7
    expected_total = after_loop - V if after_loop.sum() > 10 else after_loop
    expected_taken = expected_total if after_loop.sum() > 10 else after_loop * 2
    for run in (fn, gj.function(fn)):
        steps.assign(0)
        got_total, got_taken = run(gj.constant(V))
        np.testing.assert_allclose(got_total.numpy(), expected_total, rtol=1e-15)
        np.testing.assert_allclose(got_taken.numpy(), expected_taken, rtol=1e-15)
        assert steps.numpy() == 4


def test_reads_of_variables_a_construct_does_not_assign_are_lifted_before_it():
    w = gj.Variable(V, name="cf_read_only")
    graph = graph_of(lambda x: gj.cond(x[0] > 0, lambda: x * w, lambda: x - w), V)
    (node,) = [n for n in graph.nodes if n.op == "cond"]
    assert not any(n.op == "read_variable" for g in (node.attr("true_branch"), node.attr("false_branch"))
                   for n in g.nodes)
    assert sorted(graph.nodes[i].op for i in node.inputs[1:]) == ["input", "input", "read_variable", "read_variable"]


# ---- gradients ------------------------------------------------------------------------------------------------

def test_gradients_through_cond_match_finite_differences_eagerly_and_traced():
    def fn(x, y):
        return gj.cond(gj.reduce_sum(x) > 0, lambda: gj.sin(x) * y, lambda: x * y * y)
    for x in (V, -V):
        check_gradients(fn, x, V[::-1].copy())
        check_gradients(gj.function(fn), x, V[::-1].copy())


def test_gradients_through_bounded_loops_match_finite_differences():
    def loop(x, c):
        return gj.while_loop(lambda k, s: gj.reduce_sum(s) < 50.0, lambda k, s: (k + 1, s * c + gj.sin(x)), (0, x),
                             maximum_iterations=6)[1]
    check_gradients(loop, V, V * 0.9)
    check_gradients(gj.function(loop), V, V * 0.9)
    nested = gj.function(lambda x: gj.while_loop(
        lambda k, s: k < 3, lambda k, s: (k + 1, gj.cond(gj.reduce_sum(s) > 3.0, lambda: s * x, lambda: gj.exp(s))),
        (0, x), maximum_iterations=3)[1])
    check_gradients(nested, V)


def test_gradients_through_map_fn_and_scan_match_finite_differences():
    check_gradients(gj.function(lambda x: gj.map_fn(lambda r: gj.reduce_sum(gj.sin(r) * r), x)), X.astype(np.float64))
    check_gradients(gj.function(lambda x, y: gj.scan(lambda a, e: a * e + y, x, initializer=gj.ones_like(y))),
                    X.astype(np.float64), V)


def test_variables_read_in_a_branch_get_gradients():
    w = gj.Variable(V, name="cf_weights")

    @gj.function
    def step(x):
        with gj.GradientTape() as tape:
            loss = gj.cond(gj.reduce_sum(x) > 0, lambda: gj.reduce_sum(x * w * w), lambda: gj.reduce_sum(w))
        return tape.gradient(loss, w)
    np.testing.assert_allclose(step(V).numpy(), 2 * V * V, rtol=1e-15)
    np.testing.assert_allclose(step(-V).numpy(), np.ones(4), rtol=1e-15)


def test_the_gradient_of_an_unbounded_loop_asks_for_maximum_iterations():
    @gj.function
    def fn(x):
        with gj.GradientTape() as tape:
            tape.watch(x)
            y = gj.while_loop(lambda s: gj.reduce_sum(s) < 10.0, lambda s: s * 2.0, [x])[0]
        return tape.gradient(y, x)
    with pytest.raises(UnimplementedError, match="gradient of while_loop: the loop needs maximum_iterations"):
        fn(V)


# ---- compat.v1 -------------------------------------------------------------------------------------------------

def test_compat_v1_sessions_run_cond_while_loop_case_and_their_gradients():
    graph = v1.Graph()
    with graph.as_default():
        x = v1.placeholder(v1.float64, [4])
        y = v1.cond(v1.reduce_sum(x) > 0, lambda: v1.sin(x) * x, lambda: x * 3.0)
        count = v1.while_loop(lambda k: k < 4, lambda k: k + 1, [v1.constant(0)])   # TF1: a lone variable, bare
        _, z = v1.while_loop(lambda k, s: k < 3, lambda k, s: (k + 1, v1.sin(s) * x), [0, x], maximum_iterations=3)
        chosen = v1.case([(v1.reduce_sum(x) < 0, lambda: -x), (v1.reduce_sum(x) < 100, lambda: x * 10.0)],
                         default=lambda: x)
        gy, gz = v1.gradients([v1.reduce_sum(y)], [x])[0], v1.gradients([v1.reduce_sum(z)], [x])[0]
        with v1.Session() as sess:
            got = sess.run([y, count, z, chosen, gy], {x: V})
            z_val = V
            for _ in range(3):
                z_val = np.sin(z_val) * V
            np.testing.assert_allclose(got[0], np.sin(V) * V, rtol=1e-15)
            assert got[1] == 4
            np.testing.assert_allclose(got[2], z_val, rtol=1e-15)
            np.testing.assert_allclose(got[3], V * 10, rtol=1e-15)
            np.testing.assert_allclose(got[4], np.cos(V) * V + np.sin(V), rtol=1e-15)
            np.testing.assert_allclose(sess.run(y, {x: -V}), -V * 3, rtol=1e-15)
            numeric = [(np.sum(_loop3(V + h)) - np.sum(_loop3(V - h))) / 2e-6 for h in np.eye(4) * 1e-6]
            np.testing.assert_allclose(sess.run(gz, {x: V}), numeric, rtol=1e-6)


def _loop3(x):
    s = x
    for _ in range(3):
        s = np.sin(s) * x
    return s
