"""Which context runs an op (``tracer.context.context_for``), and compat.v1's TF1 adapters built on it.

Every path (operators and their eager fast paths, gj.* functions, NumPy functions, gj.function calls) asks
the same question, so after ``disable_eager_execution`` they all build graph nodes, as in TF1.
"""
import threading

import numpy as np
import pytest

import graphjit as gj
from graphjit import errors
from graphjit.tracer import context

tf1 = gj.compat.v1


@pytest.fixture
def graph_mode():
    """TF1 mode on a fresh default graph, undone afterwards whatever the test does."""
    tf1.reset_default_graph()
    tf1.disable_eager_execution()
    try:
        yield tf1.get_default_graph()
    finally:
        tf1.enable_eager_execution()
        tf1.reset_default_graph()


def test_context_for_answers_eager_trace_or_the_graph_an_input_carries():
    eager = context.eager_context()
    a = gj.constant([1.0, 2.0])
    assert context.context_for((a,)) is eager and context.current() is eager
    g = tf1.Graph()
    with g.as_default():
        x = tf1.placeholder(gj.float32, [2])
    assert context.context_for((a, x)) is g  # a graph's tensor brings its graph, as JAX finds the trace
    seen = []

    @gj.function
    def f(t):
        seen.append(context.context_for((t, a)))
        return t

    f(a)
    assert seen and seen[0] is not eager and seen[0].builder is not None


def test_after_disable_eager_execution_every_path_builds_into_the_default_graph(graph_mode):
    c_values = np.array([1.0, 2.0, 3.0], np.float32)
    tf1.enable_eager_execution()
    c = gj.constant(c_values)  # an eager tensor made before graph mode: captured as a constant, as in TF
    tf1.disable_eager_execution()
    results = {"c * 2.0": c * 2.0, "2.0 * c": 2.0 * c, "c + c": c + c, "gj.multiply(c, 2.0)": gj.multiply(c, 2.0),
               "np.multiply(c, 2.0)": np.multiply(c, 2.0), "-c": -c, "c > 1.5": c > 1.5}
    for label, t in results.items():
        assert isinstance(t, tf1.Tensor) and t.graph is graph_mode, label
    expected = {"c * 2.0": c_values * 2, "2.0 * c": c_values * 2, "c + c": c_values + c_values,
                "gj.multiply(c, 2.0)": c_values * 2, "np.multiply(c, 2.0)": c_values * 2, "-c": -c_values,
                "c > 1.5": c_values > 1.5}
    with tf1.Session() as sess:
        for label, t in results.items():
            np.testing.assert_array_equal(sess.run(t), expected[label], err_msg=label)


def test_graph_mode_is_process_wide_and_enable_restores_eager_on_every_path(graph_mode):
    tf1.enable_eager_execution()
    c = gj.constant([1.0, 2.0])
    tf1.disable_eager_execution()
    found = []
    worker = threading.Thread(target=lambda: found.append((c * 2.0, gj.multiply(c, 2.0))))
    worker.start()
    worker.join()
    assert all(isinstance(t, tf1.Tensor) for t in found[0])  # TF1's switch is for the whole process
    tf1.enable_eager_execution()
    for t in (c * 2.0, gj.multiply(c, 2.0), c + c):
        assert type(t) is type(c)
    np.testing.assert_array_equal(gj.multiply(c, 2.0).numpy(), [2.0, 4.0])


def test_eager_op_on_a_graph_tensor_joins_that_graph_on_every_path():
    g = tf1.Graph()
    with g.as_default():
        x = tf1.placeholder(gj.float32, [3], name="x")
    for t in (x * 2.0, gj.multiply(x, 2.0), np.multiply(x, 2.0)):
        assert t.graph is g
    with tf1.Session(graph=g) as sess:
        np.testing.assert_array_equal(sess.run(x * 2.0, {x: [1.0, 2.0, 3.0]}), [2.0, 4.0, 6.0])


def test_a_function_called_with_a_numpy_array_in_graph_mode_converts_it(graph_mode):
    @gj.function
    def f(x):
        return x * 2.0 + 1.0

    array = np.array([1.0, -2.0], np.float32)
    y = f(array)
    assert isinstance(y, tf1.Tensor) and y.graph is graph_mode
    array[:] = 100.0  # the graph holds the value at call time (a constant), not the caller's buffer
    with tf1.Session() as sess:
        np.testing.assert_array_equal(sess.run(y), [3.0, -3.0])
        np.testing.assert_array_equal(sess.run(f(np.float32(4.0))), 9.0)


def test_a_function_called_with_a_numpy_array_inside_a_trace_converts_it():
    @gj.function
    def inner(x):
        return x * 2.0

    @gj.function
    def outer(x):
        return inner(np.array([1.0, 2.0], np.float32)) + x

    np.testing.assert_array_equal(outer(gj.constant([10.0, 20.0])).numpy(), [12.0, 24.0])


# ---- TF1's tf.nn.dropout(x, keep_prob, noise_shape, seed, name, rate) ----------------------------------

def test_tf1_dropout_keep_prob_keeps_that_fraction_scaled_by_its_inverse():
    g = tf1.Graph()
    with g.as_default():
        x = tf1.ones([20000])
        by_keyword = tf1.nn.dropout(x, keep_prob=0.75, seed=3)
        positional = tf1.nn.dropout(x, 0.75, None, 3)  # TF1's order: keep_prob second
        by_rate = tf1.nn.dropout(x, rate=0.25, seed=3)
        keep = tf1.placeholder(gj.float32, [])
        fed = tf1.nn.dropout(x, keep_prob=keep, seed=5)
        everything = tf1.nn.dropout(x, keep_prob=1.0)
    assert isinstance(by_keyword, tf1.Tensor)
    with tf1.Session(graph=g) as sess:
        for t in (by_keyword, positional, by_rate):
            values = sess.run(t)
            assert set(np.unique(values)) <= {0.0, np.float32(1 / 0.75)}
            assert abs((values > 0).mean() - 0.75) < 0.02
        values = sess.run(fed, {keep: 0.5})
        assert set(np.unique(values)) <= {0.0, 2.0} and abs((values > 0).mean() - 0.5) < 0.02
        np.testing.assert_array_equal(sess.run(everything), np.ones(20000, np.float32))


@pytest.mark.parametrize("kwargs, message", [
    ({}, "keep_prob \\(or rate\\) is required"),
    ({"keep_prob": 0.5, "rate": 0.5}, "exactly one of keep_prob and rate"),
    ({"keep_prob": 0.0}, "keep_prob must be in \\(0, 1\\], got 0.0"),
    ({"keep_prob": 1.5}, "keep_prob must be in \\(0, 1\\], got 1.5"),
])
def test_tf1_dropout_rejects_bad_arguments_with_a_specific_message(kwargs, message):
    with tf1.Graph().as_default():
        with pytest.raises(errors.InvalidArgumentError, match=message):
            tf1.nn.dropout(tf1.ones([4]), **kwargs)


def test_a_function_called_with_a_graph_tensor_and_a_numpy_array_builds_into_that_graph():
    @gj.function
    def f(x, y):
        return x + y

    g = tf1.Graph()
    with g.as_default():
        x = tf1.placeholder(gj.float32, [2])
    y = f(x, np.array([1.0, 2.0], np.float32))  # eager mode: the graph tensor brings its graph
    assert y.graph is g
    with tf1.Session(graph=g) as sess:
        np.testing.assert_array_equal(sess.run(y, {x: [10.0, 20.0]}), [11.0, 22.0])
