"""Control flow over compat.v1 placeholders of unknown (None) dims, run in Sessions (issue 21).

Each construct is built over a ``[None, ...]`` placeholder, its static shapes are TF1's partial shapes, and one
Session feeds it two (or three) different sizes; every result is compared with NumPy (float32 results within
1e-5 relative, float64 gradients against central finite differences within 1e-6). The constructs are staged in
the graph and traced again for each run's fed shapes (``graphjit/compat/v1/_control_flow.py``).
"""
import numpy as np
import pytest

import graphjit as gj
import graphjit.compat.v1 as tf
from graphjit import errors

rng = np.random.default_rng(21)
SIZES = (3, 5)


@pytest.fixture(autouse=True)
def fresh_default_graph():
    tf.reset_default_graph()
    yield
    tf.reset_default_graph()


@pytest.fixture(params=["interpreter", "cpu"])
def backend(request):
    saved = gj.config.backend, gj.config.compile_in_background
    gj.config.backend, gj.config.compile_in_background = request.param, False
    yield request.param
    gj.config.backend, gj.config.compile_in_background = saved


def _data(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def test_issue_21_program(backend):
    g = tf.Graph()
    with g.as_default():
        p = tf.placeholder(tf.float32, [None])
        r = gj.while_loop(lambda i, x: i < 5, lambda i, x: (i + 1, x * 2.0), (0, p))
        s = gj.cond(gj.reduce_sum(p) > 0, lambda: p + 1, lambda: p - 1)
    assert r[0].shape.as_list() == [] and r[1].shape.as_list() == [None] and s.shape.as_list() == [None]
    assert r[1].dtype is gj.float32
    with tf.Session(graph=g) as sess:
        for x in (np.ones(3, np.float32), -np.ones(7, np.float32), np.arange(4, dtype=np.float32)):
            (count, doubled), shifted = sess.run([r, s], feed_dict={p: x})
            assert count == 5
            np.testing.assert_allclose(doubled, x * 32, rtol=1e-6)
            np.testing.assert_allclose(shifted, x + 1 if x.sum() > 0 else x - 1, rtol=1e-6)


def test_while_loop_over_batch_dim_with_captures_and_structures(backend):
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    scale = tf.placeholder(tf.float32, [None, 1], name="scale")
    w = tf.Variable(np.full((3, 3), 0.1, np.float32), name="w")

    def body(i, state):   # captures `scale` (unknown batch) and reads `w` (lifted before the loop)
        return i + 1, {"h": gj.tanh(gj.matmul(state["h"], w) + scale), "total": state["total"] + gj.reduce_sum(
            state["h"])}
    n, out = tf.while_loop(lambda i, state: i < 4, body, (0, {"h": x, "total": gj.constant(0.0)}))
    assert out["h"].shape.as_list() == [None, 3] and out["total"].shape.as_list() == []
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for size in SIZES:
            xv, sv = _data(size, 3), _data(size, 1)
            got_n, got = sess.run([n, out], feed_dict={x: xv, scale: sv})
            h, total = xv, np.float32(0)
            for _ in range(4):
                h, total = np.tanh(h @ np.full((3, 3), 0.1, np.float32) + sv), total + h.sum()
            assert got_n == 4
            np.testing.assert_allclose(got["h"], h, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(got["total"], total, rtol=1e-5, atol=1e-5)


def test_cond_both_branches_and_a_single_loop_variable(backend):
    x = tf.placeholder(tf.float32, [None, 2])
    y = tf.cond(tf.reduce_mean(x) > 0, lambda: (x * 2.0, tf.reduce_sum(x, axis=1)),
                lambda: (x - 1.0, tf.reduce_max(x, axis=1)))
    halved = tf.while_loop(lambda v: tf.reduce_max(tf.abs(v)) > 1.0, lambda v: v * 0.5, x)   # a bare variable
    assert [t.shape.as_list() for t in y] == [[None, 2], [None]] and halved.shape.as_list() == [None, 2]
    with tf.Session() as sess:
        for xv in (np.abs(_data(3, 2)) + 0.1, -np.abs(_data(6, 2)) - 0.1):
            (a, b), h = sess.run([y, halved], feed_dict={x: xv})
            if xv.mean() > 0:
                np.testing.assert_allclose(a, xv * 2, rtol=1e-6)
                np.testing.assert_allclose(b, xv.sum(axis=1), rtol=1e-5)
            else:
                np.testing.assert_allclose(a, xv - 1, rtol=1e-6)
                np.testing.assert_allclose(b, xv.max(axis=1), rtol=1e-6)
            expected = xv.copy()
            while np.abs(expected).max() > 1.0:
                expected = expected * np.float32(0.5)
            np.testing.assert_allclose(h, expected, rtol=1e-6)


def test_switch_case_and_case(backend):
    x = tf.placeholder(tf.float32, [None])
    k = tf.placeholder(tf.int32, [])
    picked = tf.switch_case(k, [lambda: x + 1.0, lambda: x * x, lambda: -x])
    cased = tf.case([(tf.reduce_sum(x) > 10.0, lambda: x * 0.0), (tf.reduce_sum(x) > 0.0, lambda: x + 10.0)],
                    default=lambda: x - 10.0)
    assert picked.shape.as_list() == [None] and cased.shape.as_list() == [None]
    branches = [lambda v: v + 1, lambda v: v * v, lambda v: -v]
    with tf.Session() as sess:
        for size, index in ((3, 0), (5, 1), (4, 2), (2, 7)):   # 7: out of range, the last branch
            xv = _data(size)
            got, got_case = sess.run([picked, cased], feed_dict={x: xv, k: index})
            np.testing.assert_allclose(got, branches[min(index, 2)](xv), rtol=1e-6)
            total = xv.sum()
            np.testing.assert_allclose(got_case, xv * 0 if total > 10 else xv + 10 if total > 0 else xv - 10,
                                       rtol=1e-6)


def test_map_fn_and_scan_over_an_unknown_leading_dim(backend):
    x = tf.placeholder(tf.float32, [None, 4])
    norms = tf.map_fn(lambda row: tf.sqrt(tf.reduce_sum(row * row)), x)
    pairs = tf.map_fn(lambda row: (row[:2], tf.reduce_max(row)), x, dtype=(tf.float32, tf.float32))
    running = tf.scan(lambda acc, row: acc + row, x)
    backwards = tf.scan(lambda acc, row: acc * 0.5 + row, x, initializer=tf.zeros([4]), reverse=True)
    assert norms.shape.as_list() == [None] and running.shape.as_list() == [None, 4]
    assert [t.shape.as_list() for t in pairs] == [[None, 2], [None]]
    with tf.Session() as sess:
        for size in SIZES:
            xv = _data(size, 4)
            got_norms, (heads, maxes), got_running, got_back = sess.run([norms, pairs, running, backwards],
                                                                         feed_dict={x: xv})
            np.testing.assert_allclose(got_norms, np.linalg.norm(xv, axis=1), rtol=1e-5)
            np.testing.assert_allclose(heads, xv[:, :2], rtol=1e-6)
            np.testing.assert_allclose(maxes, xv.max(axis=1), rtol=1e-6)
            np.testing.assert_allclose(got_running, np.cumsum(xv, axis=0), rtol=1e-5, atol=1e-6)
            expected, acc = np.zeros_like(xv), np.zeros(4, np.float32)
            for i in reversed(range(size)):
                acc = acc * np.float32(0.5) + xv[i]
                expected[i] = acc
            np.testing.assert_allclose(got_back, expected, rtol=1e-5, atol=1e-6)


def test_nested_control_flow(backend):
    x = tf.placeholder(tf.float32, [None])

    def body(i, v):
        return i + 1, tf.cond(tf.reduce_sum(v) > 0, lambda: v - 1.0, lambda: v + 2.0)
    _, out = tf.while_loop(lambda i, v: i < 3, body, (0, x))
    rows = tf.map_fn(lambda e: tf.cond(e > 0, lambda: e * 2.0, lambda: e * 0.0), x)
    with tf.Session() as sess:
        for size in SIZES:
            xv = _data(size)
            got, got_rows = sess.run([out, rows], feed_dict={x: xv})
            v = xv.copy()
            for _ in range(3):
                v = v - 1 if v.sum() > 0 else v + 2
            np.testing.assert_allclose(got, v, rtol=1e-6, atol=1e-6)
            np.testing.assert_allclose(got_rows, np.where(xv > 0, xv * 2, 0), rtol=1e-6)


def test_variable_updates_inside_a_loop_over_an_unknown_dim(backend):
    x = tf.placeholder(tf.float32, [None])
    total = tf.Variable(0.0, name="total")

    def body(i, v):   # (an assignment inside a body is that body's effect, kept without control dependencies)
        total.assign_add(tf.reduce_sum(v))
        return i + 1, v * 2.0
    _, out = tf.while_loop(lambda i, v: i < 3, body, (0, x))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        expected_total = 0.0
        for size in SIZES:
            xv = _data(size)
            np.testing.assert_allclose(sess.run(out, feed_dict={x: xv}), xv * 8, rtol=1e-6)
            expected_total += xv.sum() * (1 + 2 + 4)
            np.testing.assert_allclose(sess.run(total), expected_total, rtol=1e-5, atol=1e-5)


def _finite_difference(f, value, eps=1e-6):
    grad = np.zeros_like(value)
    for index in np.ndindex(value.shape):
        up, down = value.copy(), value.copy()
        up[index] += eps
        down[index] -= eps
        grad[index] = (f(up) - f(down)) / (2 * eps)
    return grad


def test_gradients_through_control_flow_over_unknown_dims(backend):
    x = tf.placeholder(tf.float64, [None, 2])
    w0 = np.array([[0.7, -0.2], [0.3, 0.5]])
    w = tf.Variable(w0, name="w")
    _, h = tf.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, tf.tanh(tf.matmul(v, w))), (0, x),
                         maximum_iterations=3)
    c = tf.cond(tf.reduce_sum(x) > 0, lambda: h * w[0, 0], lambda: h * h)
    m = tf.map_fn(lambda row: tf.reduce_sum(tf.sin(row) * w[1]), x)
    loss = tf.reduce_sum(c * c) + tf.reduce_sum(m)
    gx, gw = tf.gradients(loss, [x, w])
    assert gx.shape.as_list() == [None, 2] and gw.shape.as_list() == [2, 2]

    def reference(xv, wv):
        v = xv
        for _ in range(3):
            v = np.tanh(v @ wv)
        cv = v * wv[0, 0] if xv.sum() > 0 else v * v
        return (cv * cv).sum() + (np.sin(xv) * wv[1]).sum()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for size, sign in ((3, 1.0), (5, -1.0)):
            xv = np.abs(rng.standard_normal((size, 2))) * sign
            got_x, got_w = sess.run([gx, gw], feed_dict={x: xv})
            np.testing.assert_allclose(got_x, _finite_difference(lambda a: reference(a, w0), xv), rtol=1e-6,
                                       atol=1e-8)
            np.testing.assert_allclose(got_w, _finite_difference(lambda b: reference(xv, b), w0), rtol=1e-6,
                                       atol=1e-8)


def test_training_through_a_bounded_loop_with_an_unknown_batch(backend):
    x = tf.placeholder(tf.float32, [None])
    y = tf.placeholder(tf.float32, [None])
    w = tf.Variable(0.9, name="w")
    _, h = tf.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, v * w), (0, x), maximum_iterations=3)
    loss = tf.reduce_mean((h - y) ** 2)
    train = tf.train.GradientDescentOptimizer(0.05).minimize(loss)
    expected_w = np.float64(0.9)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for step in range(6):
            size = SIZES[step % 2]
            xv, yv = _data(size), _data(size)
            sess.run(train, feed_dict={x: xv, y: yv})
            xd, yd = xv.astype(np.float64), yv.astype(np.float64)
            grad = np.mean(2 * (xd * expected_w ** 3 - yd) * xd * 3 * expected_w ** 2)
            expected_w -= 0.05 * grad
            np.testing.assert_allclose(sess.run(w), expected_w, rtol=1e-5)


def test_a_construct_over_known_shapes_is_built_as_before():
    unknown = tf.placeholder(tf.float32, [None])   # (the graph has unknown dims; this loop does not use them)
    known = tf.placeholder(tf.float32, [3])
    _, out = tf.while_loop(lambda i, v: i < 2, lambda i, v: (i + 1, v + 1.0), (0, known))
    assert [op.type for op in tf.get_default_graph().get_operations()].count("while_loop") == 1
    assert out.shape.as_list() == [3]
    with tf.Session() as sess:
        np.testing.assert_allclose(sess.run(out, feed_dict={known: np.ones(3, np.float32)}), 3.0)
        np.testing.assert_allclose(sess.run(unknown * 2.0, feed_dict={unknown: np.ones(2, np.float32)}), 2.0)


def test_a_loop_variable_that_changes_shape_is_a_clear_error():
    x = tf.placeholder(tf.float32, [None, 2])
    changes = r"(?s)loop variable loop_vars\[1\] changes shape.*unknown dim"
    with pytest.raises(errors.InvalidArgumentError, match=changes):
        tf.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, tf.concat([v, v], axis=0)), (0, x))
    with pytest.raises(errors.InvalidArgumentError, match=r"loop variable loop_vars\[1\] changes shape"):
        tf.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, v[:, :1]), (0, x))


def test_branches_that_disagree_on_a_shape_are_a_clear_error():
    x = tf.placeholder(tf.float32, [None, 2])
    with pytest.raises(errors.InvalidArgumentError, match="must return the same dtypes and shapes"):
        tf.cond(tf.reduce_sum(x) > 0, lambda: x, lambda: x[:, :1])


def test_a_construct_whose_ops_need_particular_sizes_is_a_clear_error():
    x = tf.placeholder(tf.float32, [None, None])
    w = tf.constant(np.ones((3, 3), np.float32))
    stands_for = r"(?s)matmul.*n1 != 3.*n0, n1, \.\.\. stand for those dims' sizes"
    with pytest.raises(errors.InvalidArgumentError, match=stands_for):
        tf.while_loop(lambda i, v: i < 2, lambda i, v: (i + 1, tf.matmul(v, w)), (0, x))


def test_a_fed_shape_the_construct_rejects_is_a_clear_error():
    x = tf.placeholder(tf.float32, [None])
    y = tf.placeholder(tf.float32, [None])
    out = tf.cond(tf.reduce_sum(x) > 0, lambda: x + y, lambda: x - y)
    with tf.Session() as sess:
        np.testing.assert_allclose(sess.run(out, feed_dict={x: np.ones(2, np.float32), y: np.ones(2, np.float32)}),
                                   2.0)
        with pytest.raises(errors.InvalidArgumentError, match="add"):
            sess.run(out, feed_dict={x: np.ones(2, np.float32), y: np.ones(4, np.float32)})


def test_tf1_row_loops_bounded_by_the_fed_batch_size(backend):
    x = tf.placeholder(tf.float32, [None, 2])
    n = tf.shape(x)[0]
    _, weighted = tf.while_loop(lambda i, acc: i < n,
                                lambda i, acc: (i + 1, acc + x[i] * tf.cast(i, tf.float32)), (0, tf.zeros([2])))
    _, repeated = tf.while_loop(lambda i, acc: i < 100, lambda i, acc: (i + 1, acc + tf.reduce_sum(x)), (0, 0.0),
                                maximum_iterations=n)
    with tf.Session() as sess:
        for size in SIZES:
            xv = _data(size, 2)
            got, got_repeated = sess.run([weighted, repeated], feed_dict={x: xv})
            np.testing.assert_allclose(got, (xv * np.arange(size, dtype=np.float32)[:, None]).sum(axis=0),
                                       rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(got_repeated, xv.sum() * size, rtol=1e-5, atol=1e-5)
        with pytest.raises(errors.InvalidArgumentError, match="fetch its results"):
            sess.run(weighted.graph.get_tensor_by_name("while_loop:0"), feed_dict={x: _data(2, 2)})


class Calls:
    """Counts the Python calls of the functions it wraps, by name."""

    def __init__(self):
        self.counts = {}

    def __call__(self, name, fn):
        def counted(*args):
            self.counts[name] = self.counts.get(name, 0) + 1
            return fn(*args)
        return counted


def test_functions_are_traced_once_when_built_and_never_in_runs(backend):
    x = tf.placeholder(tf.float32, [None, 3])
    k = tf.placeholder(tf.int32, [])
    calls = Calls()
    picked = tf.cond(tf.reduce_sum(x) > 0, calls("true_fn", lambda: x * 2.0), calls("false_fn", lambda: x - 1.0))
    n, looped = tf.while_loop(calls("cond", lambda i, v: i < 3),
                              calls("body", lambda i, v: (i + 1, tf.cond(tf.reduce_sum(v) > 0,
                                                                         calls("inner_true", lambda: v * 0.5),
                                                                         calls("inner_false", lambda: v + 1.0)))),
                              (0, x))
    switched = tf.switch_case(k, [calls("branch_0", lambda: x + 1.0), calls("branch_1", lambda: x * x)])
    norms = tf.map_fn(calls("map_fn", lambda row: tf.sqrt(tf.reduce_sum(row * row))), x)
    running = tf.scan(calls("scan", lambda acc, row: acc * 0.5 + row), x)
    built = dict(calls.counts)
    assert built == {name: 1 for name in ("true_fn", "false_fn", "cond", "body", "inner_true", "inner_false",
                                          "branch_0", "branch_1", "map_fn", "scan")}
    assert picked.shape.as_list() == [None, 3] and looped.shape.as_list() == [None, 3]
    assert norms.shape.as_list() == [None] and running.shape.as_list() == [None, 3]
    tf.get_default_graph().finalize()   # (a run adds no op to the graph)
    with tf.Session() as sess:
        for size, index in ((3, 0), (5, 1), (2, 0), (7, 1), (3, 1)):
            xv = _data(size, 3)
            got = sess.run([picked, n, looped, switched, norms, running], feed_dict={x: xv, k: index})
            v = xv.copy()
            for _ in range(3):
                v = v * np.float32(0.5) if v.sum() > 0 else v + np.float32(1)
            acc, scanned = xv[0], [xv[0]]
            for row in xv[1:]:
                acc = acc * np.float32(0.5) + row
                scanned.append(acc)
            np.testing.assert_allclose(got[0], xv * 2 if xv.sum() > 0 else xv - 1, rtol=1e-6)
            assert got[1] == 3
            np.testing.assert_allclose(got[2], v, rtol=1e-6, atol=1e-6)
            np.testing.assert_allclose(got[3], xv + 1 if index == 0 else xv * xv, rtol=1e-6)
            np.testing.assert_allclose(got[4], np.linalg.norm(xv, axis=1), rtol=1e-5)
            np.testing.assert_allclose(got[5], np.stack(scanned), rtol=1e-5, atol=1e-6)
    assert calls.counts == built


def test_a_rule_that_needs_two_unknown_sizes_equal_still_traces_at_build_only(backend):
    x = tf.placeholder(tf.float32, [None])
    y = tf.placeholder(tf.float32, [None])
    calls = Calls()   # (x + y merges the two sizes: a second trace, at build time)
    out = tf.cond(tf.reduce_sum(x) > 0, calls("true_fn", lambda: x + y), calls("false_fn", lambda: x - y))
    built = dict(calls.counts)
    assert set(built) == {"true_fn", "false_fn"} and max(built.values()) <= 2
    with tf.Session() as sess:
        for size in (2, 4, 3):
            xv, yv = np.abs(_data(size)), _data(size)
            np.testing.assert_allclose(sess.run(out, feed_dict={x: xv, y: yv}), xv + yv, rtol=1e-6)
    assert calls.counts == built


def test_a_size_the_symbolic_trace_does_not_serve_traces_that_run_again():
    x = tf.placeholder(tf.float32, [None])
    calls = Calls()
    _, out = tf.while_loop(lambda i, v: i < 2, calls("body", lambda i, v: (i + 1, v * 3.0)), (0, x))
    assert calls.counts == {"body": 1}
    with tf.Session() as sess:
        # sizes 0 and 1 (where broadcasting and emptiness decide differently) trace for their shapes, as a
        # gj.function's symbolic trace leaves them to per-size traces
        for size in (1, 0, 4):
            xv = _data(size)
            np.testing.assert_allclose(sess.run(out, feed_dict={x: xv}), xv * 9, rtol=1e-6)
    assert calls.counts == {"body": 3}


def test_a_slice_clamped_by_an_unknown_size_is_traced_once(backend):
    x = tf.placeholder(tf.float32, [None])
    calls = Calls()   # x[5:] has max(n0 - 5, 0) elements: one symbolic trace, empty below 6
    out = tf.cond(tf.reduce_sum(x) > 0, calls("true_fn", lambda: x[5:] * 2.0), calls("false_fn", lambda: x[5:]))
    assert out.shape.as_list() == [None]
    with tf.Session() as sess:
        for size in (3, 6, 8):
            xv = np.abs(_data(size))
            np.testing.assert_allclose(sess.run(out, feed_dict={x: xv}), xv[5:] * 2, rtol=1e-6)
    assert calls.counts["true_fn"] == 1


def test_gradients_through_control_flow_traced_once(backend):
    x = tf.placeholder(tf.float64, [None, 2])
    w0 = np.array([[0.6, -0.3], [0.2, 0.4]])
    w = tf.Variable(w0, name="w")
    calls = Calls()
    _, h = tf.while_loop(calls("cond", lambda i, v: i < 2),
                         calls("body", lambda i, v: (i + 1, tf.sin(tf.matmul(v, w)))), (0, x), maximum_iterations=2)
    c = tf.cond(tf.reduce_sum(x) > 0, calls("true_fn", lambda: h * h), calls("false_fn", lambda: h * w[1, 1]))
    loss = tf.reduce_sum(c * tf.reduce_sum(x, axis=1, keepdims=True))
    gx, gw = tf.gradients(loss, [x, w])
    built = dict(calls.counts)
    assert built == {"cond": 1, "body": 1, "true_fn": 1, "false_fn": 1}

    def reference(xv, wv):
        v = xv
        for _ in range(2):
            v = np.sin(v @ wv)
        cv = v * v if xv.sum() > 0 else v * wv[1, 1]
        return (cv * xv.sum(axis=1, keepdims=True)).sum()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for size, sign in ((3, 1.0), (4, -1.0), (2, 1.0)):
            xv = np.abs(rng.standard_normal((size, 2))) * sign
            got_x, got_w = sess.run([gx, gw], feed_dict={x: xv})
            np.testing.assert_allclose(got_x, _finite_difference(lambda a: reference(a, w0), xv), rtol=1e-6,
                                       atol=1e-8)
            np.testing.assert_allclose(got_w, _finite_difference(lambda b: reference(xv, b), w0), rtol=1e-6,
                                       atol=1e-8)
    assert calls.counts == built


def test_variables_made_inside_bodies_are_made_once_in_order(backend, tmp_path):
    x = tf.placeholder(tf.float32, [None])
    y = tf.placeholder(tf.float32, [None])
    first = tf.get_variable("first", initializer=np.float32(1.5))

    calls = Calls()

    def body(i, v):   # (v + y merges two unknown sizes: the body is traced twice, its variable made once)
        scale = tf.get_variable("scale", initializer=np.float32(2.0))
        return i + 1, v * scale + y
    _, out = tf.while_loop(lambda i, v: i < 2, calls("body", body), (0, x))
    assert calls.counts == {"body": 2}
    with tf.variable_scope("branch"):
        picked = tf.cond(tf.reduce_sum(x) > 0, lambda: x * tf.get_variable("bias", initializer=np.float32(3.0)),
                         lambda: x)
    last = tf.get_variable("last", initializer=np.float32(-1.0))
    assert [v.name for v in tf.global_variables()] == ["first:0", "scale:0", "branch/bias:0", "last:0"]
    saver = tf.train.Saver()
    xv, yv = _data(3), _data(3)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(first.assign(4.0))
        path = saver.save(sess, str(tmp_path / "model.ckpt"))
    with tf.Session() as sess:
        saver.restore(sess, path)
        assert sess.run(first) == 4.0 and sess.run(last) == -1.0
        expected = (xv * 2 + yv) * 2 + yv
        got_out, got_picked = sess.run([out, picked], feed_dict={x: xv, y: yv})
        np.testing.assert_allclose(got_out, expected, rtol=1e-6)
        np.testing.assert_allclose(got_picked, xv * 3 if xv.sum() > 0 else xv, rtol=1e-6)
        # a size of 1 traces the functions again, which would make `scale` again: refused, saying why
        with pytest.raises(errors.InvalidArgumentError, match=r"(?s)scale already exists.*traced again for this run"):
            sess.run(out, feed_dict={x: _data(1), y: _data(1)})


def test_a_loop_variable_that_changes_dtype_is_a_clear_error():
    x = tf.placeholder(tf.float32, [None, 2])
    with pytest.raises(errors.InvalidArgumentError,
                       match=r"(?s)loop variable loop_vars\[1\] changes dtype.*from f32\[n0,2\] to i32\[n0,2\]"):
        tf.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, tf.cast(v, tf.int32)), (0, x))
    assert [op.type for op in tf.get_default_graph().get_operations()] == ["placeholder"]   # (nothing left)


def test_a_loop_variable_that_takes_another_unknown_size_is_a_clear_error_in_that_run():
    x = tf.placeholder(tf.float32, [None, 2])
    y = tf.placeholder(tf.float32, [None, 2])
    _, out = tf.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, v * 0.0 + y), (0, x))   # (sizes merged)
    with tf.Session() as sess:
        yv = _data(4, 2)
        np.testing.assert_allclose(sess.run(out, feed_dict={x: _data(4, 2), y: yv}), yv, rtol=1e-6)
        with pytest.raises(errors.InvalidArgumentError, match=r"multiply|add"):
            sess.run(out, feed_dict={x: _data(3, 2), y: yv})


def test_an_error_over_known_shapes_reads_as_usual():
    tf.placeholder(tf.float32, [None])   # (the graph has unknown dims; the loop below does not use them)
    known = tf.placeholder(tf.float32, [3])
    with pytest.raises(errors.InvalidArgumentError, match=r"changes shape") as caught:
        tf.while_loop(lambda i, v: i < 2, lambda i, v: (i + 1, tf.concat([v, v], axis=0)), (0, known))
    assert "unknown dim" not in str(caught.value) and "f32[3] to f32[6]" in str(caught.value)
