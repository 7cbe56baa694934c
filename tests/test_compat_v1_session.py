"""compat.v1 Sessions: fetches and feeds, pruning, plan reuse, per-session values, defaults, threads,
memory, and the Saver."""
import collections
import gc
import os
import threading
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphjit as gj
from graphjit.runtime import get_runtime
from graphjit import errors

tf1 = gj.compat.v1


@pytest.fixture(autouse=True)
def _as_users_run_it(compiled_background):
    """Sessions run as users run them: compiled, plans compiled in the background (tests that need another
    backend set it themselves)."""


def _model():
    """softmax(x @ W + b) with a placeholder batch and initialized-by-op variables."""
    g = tf1.Graph(name="model")
    with g.as_default():
        x = tf1.placeholder(gj.float32, [None, 3], name="x")
        w = tf1.Variable(np.arange(6, dtype=np.float32).reshape(3, 2) / 10, name="W")
        b = tf1.Variable(np.array([0.5, -0.5], np.float32), name="b")
        logits = gj.matmul(x, w) + b
        y = gj.nn.softmax(logits, name="y")
        init = tf1.global_variables_initializer()
    return g, x, w, b, logits, y, init


def _softmax_reference(x, w, b):
    z = x.astype(np.float64) @ w.astype(np.float64) + b
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


X = np.array([[1, 2, 3], [4, 5, 6], [-1, 0, 1]], np.float32)


# ---- fetches --------------------------------------------------------------------------------------------

def test_run_fetches_tensors_ops_names_and_nested_structures():
    g, x, w, b, logits, y, init = _model()
    Pair = collections.namedtuple("Pair", "probs logits")
    with tf1.Session(graph=g) as sess:
        assert sess.run(init) is None  # an op has no value
        expected = _softmax_reference(X, sess.run(w), sess.run(b))
        np.testing.assert_allclose(sess.run(y, {x: X}), expected, rtol=1e-5)
        np.testing.assert_allclose(sess.run("y:0", {"x:0": X}), expected, rtol=1e-5)
        out = sess.run({"p": [y, (logits,)], "pair": Pair(y, logits), "none": init}, feed_dict={x: X})
        assert set(out) == {"p", "pair", "none"} and out["none"] is None
        assert isinstance(out["p"], list) and isinstance(out["p"][1], tuple)
        assert isinstance(out["pair"], Pair)
        np.testing.assert_allclose(out["pair"].probs, expected, rtol=1e-5)
        np.testing.assert_array_equal(out["p"][0], out["pair"].probs)
        np.testing.assert_array_equal(out["p"][1][0], out["pair"].logits)
        assert sess.run("init") is None
        assert sess.run([y, y], {x: X})[0] is not sess.run([y, y], {x: X})[1]  # separate arrays


def test_results_are_numpy_values_the_caller_owns():
    g = tf1.Graph()
    with g.as_default():
        v = tf1.Variable([1.0, 2.0], name="v")
        s = gj.reduce_sum(v)
        x = tf1.placeholder(gj.float32, [2])
        c = gj.constant([7.0, 8.0])
    with tf1.Session(graph=g) as sess:
        sess.run(v.initializer)
        total = sess.run(s)
        assert isinstance(total, np.float32) and total == 3.0  # 0-d results are NumPy scalars, as in TF
        value = sess.run(v)
        value[0] = 100.0  # the caller's copy: the session's value does not change
        np.testing.assert_array_equal(sess.run(v), [1.0, 2.0])
        fed = np.array([5.0, 6.0], np.float32)
        echoed = sess.run(x, {x: fed})
        echoed[0] = -1
        assert fed[0] == 5.0
        const = sess.run(c)
        const[0] = 0.0
        np.testing.assert_array_equal(sess.run(c), [7.0, 8.0])


def test_fetching_nothing_or_foreign_things_is_a_clear_error():
    g, x, w, b, logits, y, init = _model()
    other = tf1.Graph(name="other")
    with other.as_default():
        z = tf1.placeholder(gj.float32, [1], name="z")
    with tf1.Session(graph=g) as sess:
        for nothing in (None, [], {}, ()):
            with pytest.raises(errors.InvalidArgumentError, match="fetches is empty"):
                sess.run(nothing)
        with pytest.raises(errors.InvalidArgumentError, match="belongs to graph other.*graph model"):
            sess.run(z)
        with pytest.raises(errors.InvalidTypeError, match="must be a tensor, an operation"):
            sess.run(3.5)
        with pytest.raises(errors.NotFoundError, match="'nope:0'"):
            sess.run("nope:0")


def test_fetching_runs_exactly_the_dependencies():
    g = tf1.Graph()
    with g.as_default():
        counter = tf1.Variable(0, name="counter")
        increment = counter.assign_add(1)
        unrelated = tf1.placeholder(gj.float32, [2], name="unrelated")
        doubled = counter * 2  # reads the value after `increment` was built
    with tf1.Session(graph=g) as sess:
        sess.run(counter.initializer)
        # Reading neither needs the unfed placeholder nor runs the increment built earlier.
        assert sess.run(counter) == 0 and sess.run(doubled) == 0
        assert [sess.run(increment) for _ in range(3)] == [1, 2, 3]
        assert sess.run(counter) == 3 and sess.run(doubled) == 6
        # A feed for a tensor that the fetches do not need is accepted and ignored.
        assert sess.run(counter, {unrelated: [1.0, 2.0]}) == 3


def test_feeding_an_intermediate_tensor_replaces_its_computation():
    g, x, w, b, logits, y, init = _model()
    with tf1.Session(graph=g) as sess:
        # No initializer run and no x: the fed logits cut both off.
        fed = np.array([[0.0, 1.0]], np.float32)
        np.testing.assert_allclose(sess.run(y, {logits: fed}), _softmax_reference(fed, np.eye(2), 0.0), rtol=1e-6)


# ---- feeds ----------------------------------------------------------------------------------------------

def test_feeds_convert_the_way_numpy_does():
    g = tf1.Graph()
    with g.as_default():
        f = tf1.placeholder(gj.float32, [None], name="f")
        i = tf1.placeholder(gj.int32, [2, None], name="i")
        out_f, out_i = f * 1.0, i + 0
    eager = gj.constant([4.0])
    with tf1.Session(graph=g) as sess:
        r = sess.run(out_f, {f: [1, 2, 3]})  # Python ints into float32
        assert r.dtype == np.float32 and r.tolist() == [1.0, 2.0, 3.0]
        r = sess.run(out_f, {f: np.array([0.1, 0.2], np.float64)})  # float64 into float32
        np.testing.assert_array_equal(r, np.array([0.1, 0.2], np.float32))
        r = sess.run(out_i, {i: np.array([[1.9, 2.0], [-1.5, 0.0]])})  # NumPy's float -> int (truncation)
        assert r.dtype == np.int32 and r.tolist() == [[1, 2], [-1, 0]]
        assert sess.run(out_f, {f: eager}).tolist() == [4.0]  # an eager tensor is a value


def test_bad_feeds_are_clear_errors():
    g = tf1.Graph(name="feeds")
    with g.as_default():
        x = tf1.placeholder(gj.float32, [None, 3], name="x")
        y = x * 2.0
    other = tf1.Graph(name="elsewhere")
    with other.as_default():
        foreign = tf1.placeholder(gj.float32, [None, 3], name="foreign")
    with tf1.Session(graph=g) as sess:
        with pytest.raises(errors.InvalidArgumentError, match=r"shape \(2, 4\) for tensor 'x:0'.*\(None, 3\)"):
            sess.run(y, {x: np.ones((2, 4))})
        with pytest.raises(errors.InvalidArgumentError, match=r"shape \(3,\) for tensor 'x:0'"):
            sess.run(y, {x: np.ones(3)})
        with pytest.raises(errors.InvalidArgumentError, match="Cannot convert the value fed for 'x:0' to float32"):
            sess.run(y, {x: [["a", "b", "c"]]})
        with pytest.raises(TypeError, match="cannot be a graph tensor"):
            sess.run(y, {x: y})
        with pytest.raises(errors.InvalidTypeError, match="keys must be tensors"):
            sess.run(y, {3: np.ones((1, 3))})
        with pytest.raises(errors.InvalidArgumentError, match="belongs to graph elsewhere"):
            sess.run(y, {foreign: np.ones((1, 3))})
        with pytest.raises(errors.InvalidArgumentError,
                           match=r"must feed a value for placeholder tensor 'x:0' with dtype float32 and shape \[\?,3\]"):
            sess.run(y)


# ---- plans: build once, run many ------------------------------------------------------------------------

def test_repeated_runs_and_new_sessions_reuse_the_compiled_plan():
    g, x, w, b, logits, y, init = _model()
    with tf1.Session(graph=g) as sess:
        sess.run(init)
        assert sess.compile_count == 1 and g.compile_count == 1
        for k in range(5):
            sess.run(y, {x: X + k})
        assert sess.compile_count == 2  # one plan for init, one for y with a (3, 3) feed
        sess.run(y, {x: X[:2]})  # a new feed shape is a new plan
        sess.run([y, logits], {x: X})  # so is a new set of fetches
        assert sess.compile_count == 4 and g.compile_count == 4
    second = tf1.Session(graph=g)
    second.run(init)
    for k in range(3):
        second.run(y, {x: X + k})
        second.run([y, logits], {x: X})
    assert second.compile_count == 0 and g.compile_count == 4  # plans belong to the graph
    second.close()


def test_session_runs_use_the_compiled_backend_and_agree_with_gj_function(monkeypatch):
    monkeypatch.setattr(gj.config, "backend", "cpu")
    monkeypatch.setattr(gj.config, "compile_in_background", False)
    g, x, w, b, logits, y, init = _model()
    with tf1.Session(graph=g) as sess:
        sess.run(init)
        w_value, b_value = sess.run([w, b])
        session_result = sess.run(y, {x: X})
        plan = next(p for p in g.plans.values() if p.graph.outputs)
        assert "cpu" in get_runtime().executables(plan)  # the same Numba backend as gj.function

    @gj.function
    def model(x):
        return gj.nn.softmax(gj.matmul(x, gj.constant(w_value)) + b_value)

    np.testing.assert_allclose(session_result, model(X).numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(session_result, _softmax_reference(X, w_value, b_value), rtol=1e-5)


# ---- per-session values ---------------------------------------------------------------------------------

def test_each_session_has_its_own_variable_values():
    g = tf1.Graph()
    with g.as_default():
        v = tf1.Variable(42, name="v")
        set_13 = v.assign(13)
    first, second = tf1.Session(graph=g), tf1.Session(graph=g)
    first.run(v.initializer)
    assert first.run(set_13) == 13 and first.run(v) == 13
    with pytest.raises(errors.FailedPreconditionError, match="^Attempting to use uninitialized value v"):
        second.run(v)
    second.run(v.initializer)
    assert second.run(v) == 42 and first.run(v) == 13
    first.close()
    second.close()


def test_assignment_ops_and_functions_return_the_new_value():
    g = tf1.Graph()
    with g.as_default():
        v = tf1.Variable(np.array([1.0, 2.0], np.float32), name="v")
        ops = [tf1.assign(v, [10.0, 20.0]), tf1.assign_add(v, [1.0, 1.0]), tf1.assign_sub(v, v * 0.5),
               v.assign([0.0, 0.0], name="zero")]
    assert ops[0].op.type == "assign_variable" and ops[3].name == "zero:0"
    with tf1.Session(graph=g) as sess:
        sess.run(v.initializer)
        assert sess.run(ops[0]).tolist() == [10.0, 20.0]
        assert sess.run(ops[1]).tolist() == [11.0, 21.0]
        assert sess.run(ops[2]).tolist() == [5.5, 10.5]
        assert sess.run(v).tolist() == [5.5, 10.5]
        assert sess.run(ops[3]).tolist() == [0.0, 0.0]
    with pytest.raises(errors.InvalidArgumentError, match="gj.compat.v1.Variable"):
        tf1.assign(gj.constant(1.0), 2.0)
    with g.as_default(), pytest.raises(errors.InvalidArgumentError, match="assign.*v"):
        v.assign([1.0, 2.0, 3.0])


def test_variable_load_sets_a_value_without_an_op():
    g = tf1.Graph()
    with g.as_default():
        v = tf1.Variable(np.zeros(3, np.float32), name="v")
    with tf1.Session(graph=g) as sess:
        v.load([1, 2, 3], sess)
        assert sess.run(v).tolist() == [1.0, 2.0, 3.0]
        with pytest.raises(errors.InvalidArgumentError, match=r"shape \(2,\) into variable 'v:0'"):
            v.load([1, 2], sess)


def test_closed_sessions_refuse_to_run_and_free_their_values():
    g = tf1.Graph()
    with g.as_default():
        v = tf1.Variable(np.ones(1000, np.float32), name="v")
    with tf1.Session(graph=g) as sess:
        sess.run(v.initializer)
        assert sess._state.values
    assert not sess._state.values
    with pytest.raises(errors.FailedPreconditionError, match="closed Session"):
        sess.run(v)


# ---- default sessions and eval ---------------------------------------------------------------------------

def test_default_sessions_nest_and_make_eval_and_run_work():
    g = tf1.Graph()
    with g.as_default():
        v = tf1.Variable(1.0, name="v")
        x = tf1.placeholder(gj.float32, [], name="x")
        y = v + x
    a, b = tf1.Session(graph=g), tf1.Session(graph=g)
    assert tf1.get_default_session() is None
    with pytest.raises(errors.FailedPreconditionError, match="no default session"):
        y.eval({x: 1.0})
    with a.as_default():
        assert tf1.get_default_session() is a
        v.initializer.run()
        assert y.eval({x: 2.0}) == 3.0 and v.eval() == 1.0
        with b.as_default():
            assert tf1.get_default_session() is b
            b.run(v.assign(5.0))
            assert y.eval(feed_dict={x: 0.0}) == 5.0
        assert tf1.get_default_session() is a and y.eval({x: 0.0}) == 1.0
    assert tf1.get_default_session() is None
    assert y.eval({x: 1.0}, session=b) == 6.0
    # Defaults are per thread.
    seen = []
    with a.as_default():
        worker = threading.Thread(target=lambda: seen.append(tf1.get_default_session()))
        worker.start()
        worker.join()
    assert seen == [None]
    a.close()
    b.close()


def test_with_session_makes_it_and_its_graph_the_default():
    g = tf1.Graph()
    with tf1.Session(graph=g) as sess:
        assert tf1.get_default_session() is sess and tf1.get_default_graph() is g
        c = gj.constant(2.0) * 4.0  # built into g
        assert c.graph is g and c.eval() == 8.0
    assert tf1.get_default_session() is None and tf1.get_default_graph() is not g


def test_eval_with_a_session_of_another_graph_names_both_graphs():
    g1, g2 = tf1.Graph(name="g1"), tf1.Graph(name="g2")
    with g1.as_default():
        t = gj.constant(1.0) + 1.0
    with tf1.Session(graph=g2) as sess, pytest.raises(errors.InvalidArgumentError, match="graph g1.*graph g2"):
        t.eval(session=sess)


def test_interactive_session_installs_itself_as_default():
    g = tf1.Graph()
    with g.as_default():
        t = gj.constant([1, 2]) * 3
    sess = tf1.InteractiveSession(graph=g)
    try:
        assert tf1.get_default_session() is sess
        assert t.eval().tolist() == [3, 6]
    finally:
        sess.close()
    assert tf1.get_default_session() is None


def test_two_graphs_with_their_own_sessions_side_by_side():
    graphs, outputs = [], []
    for scale in (2.0, 3.0):
        g = tf1.Graph()
        with g.as_default():
            x = tf1.placeholder(gj.float32, [2])
            v = tf1.Variable(scale)
            outputs.append((x, x * v, v))
        graphs.append(g)
    sessions = [tf1.Session(graph=g) for g in graphs]
    for sess, (x, y, v) in zip(sessions, outputs):
        sess.run(v.initializer)
    for _ in range(2):
        for sess, (x, y, v), scale in zip(sessions, outputs, (2.0, 3.0)):
            assert sess.run(y, {x: [1.0, 2.0]}).tolist() == [scale, 2 * scale]
    with pytest.raises(errors.InvalidArgumentError, match="belongs to graph"):
        sessions[0].run(outputs[1][1], {outputs[1][0]: [1.0, 1.0]})
    for sess in sessions:
        sess.close()


# ---- threads and memory ----------------------------------------------------------------------------------

def test_concurrent_runs_on_one_session_keep_every_assignment():
    g = tf1.Graph()
    with g.as_default():
        counter = tf1.Variable(np.zeros(1000, np.int64), name="counter")
        increment = counter.assign_add(np.ones(1000, np.int64))
        total = gj.reduce_sum(counter)
    sess = tf1.Session(graph=g)
    sess.run(counter.initializer)
    threads, per_thread, reads = 4, 50, []

    def work():
        for _ in range(per_thread):
            sess.run(increment)
            reads.append(sess.run(total))

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    # Assigning runs are serialized: no increment is lost, and every read saw a whole number of them.
    assert sess.run(counter).tolist() == [threads * per_thread] * 1000
    assert all(r % 1000 == 0 for r in reads) and len(reads) == threads * per_thread
    sess.close()


def test_memory_stays_flat_over_many_sessions():
    g = tf1.Graph()
    with g.as_default():
        v = tf1.Variable(np.zeros(25_000, np.float32), name="big")  # 100 kB per session
        y = v + 1.0
    def one_session():
        with tf1.Session(graph=g) as sess:
            sess.run(v.initializer)
            sess.run(y)

    for _ in range(50):  # warm-up: plans, pools, caches
        one_session()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(1000):
            one_session()
        gc.collect()
        growth = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # Leaking the variable alone would be 100 MB; allow 2 MB of noise.
    assert growth < 2_000_000, f"memory grew by {growth} bytes over 1000 sessions"
    assert g.compile_count == 2


# ---- Saver -----------------------------------------------------------------------------------------------

def _saver_graph():
    g = tf1.Graph()
    with g.as_default():
        w = tf1.Variable(np.arange(6, dtype=np.float32).reshape(2, 3), name="w")
        step = tf1.Variable(np.int64(0), name="step")
        bump = step.assign_add(np.int64(1))
        init = tf1.global_variables_initializer()
        saver = tf1.train.Saver()
    return g, w, step, bump, init, saver


def test_saver_round_trip_into_a_fresh_session_needs_no_initializer(tmp_path):
    g, w, step, bump, init, saver = _saver_graph()
    with tf1.Session(graph=g) as sess:
        sess.run(init)
        sess.run([bump, w.assign(w * 2.0)])
        path = saver.save(sess, str(tmp_path / "model.ckpt"), global_step=step)
        saved = sess.run([w, step])
    assert path == str(tmp_path / "model.ckpt-1")
    assert tf1.train.latest_checkpoint(str(tmp_path)) == path
    with tf1.Session(graph=g) as fresh:
        saver.restore(fresh, path)
        restored = fresh.run([w, step])
    np.testing.assert_array_equal(restored[0], saved[0])
    assert restored[1] == saved[1] == 1


def test_saver_keeps_max_to_keep_and_refuses_uninitialized_values(tmp_path):
    g, w, step, bump, init, _ = _saver_graph()
    with g.as_default():
        saver = tf1.train.Saver(max_to_keep=2)
    with tf1.Session(graph=g) as sess:
        with pytest.raises(errors.FailedPreconditionError, match="uninitialized value w"):
            saver.save(sess, str(tmp_path / "m"))
        sess.run(init)
        paths = [saver.save(sess, str(tmp_path / "m"), global_step=k) for k in range(4)]
    assert saver.last_checkpoints == paths[-2:]
    assert sorted(p for p in os.listdir(tmp_path) if p.endswith(".index.json")) == ["m-2.index.json",
                                                                                    "m-3.index.json"]


def test_saver_restore_validates_everything_before_changing_anything(tmp_path):
    g, w, step, bump, init, saver = _saver_graph()
    with tf1.Session(graph=g) as sess:
        sess.run(init)
        path = saver.save(sess, str(tmp_path / "ok"))
    other = tf1.Graph()
    with other.as_default():
        w2 = tf1.Variable(np.zeros((3, 2), np.float32), name="w")  # same name, other shape
        step2 = tf1.Variable(np.int64(7), name="step")
        mismatched = tf1.train.Saver()
    with tf1.Session(graph=other) as sess:
        sess.run([w2.initializer, step2.initializer])
        with pytest.raises(errors.InvalidArgumentError, match=r"'w'.*expected shape \(3, 2\).*found shape \(2, 3\)"):
            mismatched.restore(sess, path)
        assert sess.run(step2) == 7  # untouched although its entry matched
        with pytest.raises(errors.NotFoundError):
            mismatched.restore(sess, str(tmp_path / "missing"))
        with pytest.raises(errors.InvalidArgumentError, match="graph"):
            saver.restore(sess, path)  # the saver's variables belong to another graph


def test_variables_initializer_group_and_no_op_run_exactly_their_parts():
    g = tf1.Graph()
    with g.as_default():
        a = tf1.Variable(1.0, name="a")
        b = tf1.Variable(2.0, name="b")
        only_a = tf1.variables_initializer([a], name="init_a")
        both = tf1.group(a.assign(10.0), b.initializer, name="both")
        nothing = tf1.no_op()
    assert only_a.name == "init_a" and both.name == "both" and nothing.type == "no_op"
    with tf1.Session(graph=g) as sess:
        assert sess.run(only_a) is None and sess.run(a) == 1.0
        with pytest.raises(errors.FailedPreconditionError, match="uninitialized value b"):
            sess.run(b)
        assert sess.run([both, nothing]) == [None, None]
        assert sess.run([a, b]) == [10.0, 2.0]


# ---- the session path and the gj.function path agree on random graphs -------------------------------------

_UNARY = [gj.negative, gj.abs, gj.exp, gj.tanh, gj.square, gj.nn.relu]
_BINARY = [gj.add, gj.subtract, gj.multiply, gj.maximum]


def _random_program(steps):
    def program(a, b):
        value = a
        for unary, op_index, use_b in steps:
            value = _UNARY[op_index % len(_UNARY)](value) if unary else _BINARY[op_index % len(_BINARY)](
                value, b if use_b else a)
        return value, gj.reduce_sum(value, axis=-1)
    return program


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 11), st.booleans()), min_size=1, max_size=6),
       st.integers(1, 4), st.integers(0, 2 ** 32 - 1))
def test_session_and_function_paths_give_equal_results(steps, rows, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((rows, 3)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    program = _random_program(steps)
    g = tf1.Graph()
    with g.as_default():
        pa = tf1.placeholder(gj.float32, [None, 3])
        pb = tf1.placeholder(gj.float32, [3])
        fetches = program(pa, pb)
    with tf1.Session(graph=g) as sess:
        from_session = sess.run(list(fetches), {pa: a, pb: b})
    from_function = [t.numpy() for t in gj.function(program)(a, b)]
    for s, f in zip(from_session, from_function):
        np.testing.assert_array_equal(s, f)  # the same ops through the same backend: bit-identical


@pytest.mark.parametrize("backend", ["interpreter", "cpu"])
def test_uninitialized_errors_read_the_same_on_every_backend(monkeypatch, backend):
    monkeypatch.setattr(gj.config, "backend", backend)
    monkeypatch.setattr(gj.config, "compile_in_background", False)
    g = tf1.Graph()
    with g.as_default():
        v = tf1.Variable(np.ones(3, np.float32), name="v")
        w = tf1.Variable(np.ones(3, np.float32), name="w")
        y = v * 2.0 + w
    with tf1.Session(graph=g) as sess:
        sess.run(v.initializer)
        with pytest.raises(errors.FailedPreconditionError,
                           match=r"^Attempting to use uninitialized value w: .*\n  at test_compat_v1_session.py:\d+ .*name=\"w\""):
            sess.run(y)
