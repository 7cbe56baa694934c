"""compat.v1 gradients and optimizers: ``tf.gradients(ys, xs)`` and ``tf.train.*Optimizer(lr).minimize(loss)``
run in a ``sess.run(train_op, feed_dict=...)`` loop, checked against NumPy float64 references of the formulas
TF1's kernels apply (ApplyGradientDescent, ApplyMomentum, ApplyAdam)."""
import os

import numpy as np
import pytest

import graphjit as gj
import graphjit.compat.v1 as tf
from graphjit import errors
from graphjit.runtime.checkpoint import list_entries

rng = np.random.default_rng(11)
TOL = dict(rtol=2e-5, atol=2e-6)   # float32 graphs vs float64 references over a few steps


@pytest.fixture(autouse=True)
def fresh_default_graph():
    tf.reset_default_graph()
    yield
    tf.reset_default_graph()


# ---- gradients ------------------------------------------------------------------------------------------

def _linear_model(batch=None):
    x = tf.placeholder(tf.float32, [batch, 3], name="x")
    w0 = rng.normal(size=(3, 2)).astype(np.float32)
    b0 = rng.normal(size=(2,)).astype(np.float32)
    W, b = tf.Variable(w0, name="W"), tf.Variable(b0, name="b")
    y = tf.matmul(x, W) + b
    return x, W, b, y, w0, b0


def test_gradients_of_a_loss_with_an_unknown_batch_dimension_match_numpy_for_every_fed_size():
    x, W, b, y, w0, b0 = _linear_model()
    loss = tf.reduce_mean(tf.square(y))
    gW, gb, gx = tf.gradients(loss, [W, b, x])
    assert gW.shape == (3, 2) and gb.shape == (2,) and gx.shape.as_list() == [None, 3]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for n in (4, 9):
            xv = rng.normal(size=(n, 3)).astype(np.float32)
            dy = 2 * (xv @ w0 + b0) / (n * 2)
            got = sess.run([gW, gb, gx], feed_dict={x: xv})
            for g, want in zip(got, (xv.T.astype(np.float64) @ dy, dy.sum(0), dy @ w0.T.astype(np.float64))):
                np.testing.assert_allclose(g, want, **TOL)


def test_grad_ys_weight_the_targets_and_several_targets_are_summed():
    x, W, b, y, w0, b0 = _linear_model(2)
    weight = rng.normal(size=(2, 2)).astype(np.float32)
    (gx,) = tf.gradients([y, 3.0 * y], [x], grad_ys=[weight, weight])
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        got = sess.run(gx, feed_dict={x: np.ones((2, 3), np.float32)})
    np.testing.assert_allclose(got, 4 * weight.astype(np.float64) @ w0.T, **TOL)


def test_unconnected_sources_give_none_or_zeros_and_stop_gradients_cut_the_path():
    x, W, b, y, w0, b0 = _linear_model(2)
    other = tf.Variable(np.ones(4, np.float32), name="other")
    loss = tf.reduce_sum(y)
    assert tf.gradients(loss, [other]) == [None]
    (zero,) = tf.gradients(loss, [other], unconnected_gradients="zero")
    h = tf.matmul(x, W)
    (through_b_only,) = tf.gradients(tf.reduce_sum(h + b), [W], stop_gradients=[h])
    assert through_b_only is None
    (argmax_only,) = tf.gradients(tf.cast(tf.argmax(y, axis=1), tf.float32), [W])
    assert argmax_only is None   # argmax is not differentiable: no path
    free = tf.placeholder(tf.float32, [None], name="free")
    (zero_like_feed,) = tf.gradients(loss, [free], unconnected_gradients="zero")
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        np.testing.assert_array_equal(sess.run(zero), np.zeros(4, np.float32))
        np.testing.assert_array_equal(sess.run(zero_like_feed, feed_dict={free: np.ones(5, np.float32)}),
                                      np.zeros(5, np.float32))


def test_a_variable_read_several_times_gets_the_sum_of_its_reads_gradients():
    v = tf.Variable(np.float32(3.0), name="v")
    loss = v * v + tf.sin(v.read_value())
    (g,) = tf.gradients(loss, [v])
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        np.testing.assert_allclose(sess.run(g), 2 * 3.0 + np.cos(3.0), **TOL)


def test_gradients_errors_name_the_problem():
    x, W, b, y, w0, b0 = _linear_model(2)
    (gW,) = tf.gradients(tf.reduce_sum(y), [W])
    with pytest.raises(errors.UnimplementedError, match="gradients of gradients"):
        tf.gradients(tf.reduce_sum(gW * W), [W])
    with pytest.raises(errors.InvalidArgumentError, match="unconnected_gradients"):
        tf.gradients(y, [W], unconnected_gradients="zeros")
    with pytest.raises(errors.InvalidArgumentError, match="2 grad_ys for 1 ys"):
        tf.gradients(y, [W], grad_ys=[y, y])
    other = tf.Graph()
    with other.as_default():
        foreign = tf.Variable(1.0, name="foreign")
    with pytest.raises(errors.InvalidArgumentError, match="foreign"):
        tf.gradients(y, [foreign])


# ---- optimizers ---------------------------------------------------------------------------------------

def _regression_data(n=16):
    xv = rng.normal(size=(n, 3)).astype(np.float32)
    yv = (xv @ np.array([[1.5], [-2.0], [0.5]]) + 0.25 + 0.01 * rng.normal(size=(n, 1))).astype(np.float32)
    return xv, yv


def _reference_training(update, steps, xv, yv, w0, b0):
    """float64 NumPy: the same model, loss and per-variable update rule."""
    params = [w0.astype(np.float64), b0.astype(np.float64)]
    state = [{}, {}]
    for t in range(1, steps + 1):
        err = xv @ params[0] + params[1] - yv
        grads = [2 * xv.T @ err / err.size, 2 * err.sum(0) / err.size]
        for k in range(2):
            params[k] = update(params[k], grads[k], state[k], t)
    return params


def _train(optimizer, steps, xv, yv):
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    target = tf.placeholder(tf.float32, [None, 1], name="target")
    w0 = rng.normal(size=(3, 1)).astype(np.float32)
    b0 = np.zeros(1, np.float32)
    W, b = tf.Variable(w0, name="W"), tf.Variable(b0, name="b")
    loss = tf.reduce_mean(tf.square(tf.matmul(x, W) + b - target))
    global_step = tf.train.get_or_create_global_step()
    train_op = optimizer.minimize(loss, global_step=global_step)
    init = tf.global_variables_initializer()   # built after minimize: it covers the slots
    graph = tf.get_default_graph()
    with tf.Session() as sess:
        sess.run(init)
        plans = graph.compile_count
        for _ in range(steps):
            sess.run(train_op, feed_dict={x: xv, target: yv})
        assert graph.compile_count == plans + 1   # one plan for the training step, reused by every run
        values = sess.run([W, b, global_step])
    return values, (w0, b0), optimizer, W


def test_gradient_descent_matches_the_reference_and_counts_steps():
    xv, yv = _regression_data()
    (w, b, step), (w0, b0), _, _ = _train(tf.train.GradientDescentOptimizer(0.1), 5, xv, yv)
    want = _reference_training(lambda p, g, s, t: p - 0.1 * g, 5, xv, yv, w0, b0)
    np.testing.assert_allclose(w, want[0], **TOL)
    np.testing.assert_allclose(b, want[1], **TOL)
    assert step == 5


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_matches_tf1s_apply_momentum(nesterov):
    def update(p, g, s, t):
        s["accum"] = 0.9 * s.get("accum", 0.0) + g
        return p - 0.05 * (g + 0.9 * s["accum"] if nesterov else s["accum"])
    xv, yv = _regression_data()
    (w, b, _), (w0, b0), opt, W = _train(tf.train.MomentumOptimizer(0.05, 0.9, use_nesterov=nesterov), 6, xv, yv)
    want = _reference_training(update, 6, xv, yv, w0, b0)
    np.testing.assert_allclose(w, want[0], **TOL)
    np.testing.assert_allclose(b, want[1], **TOL)
    slot = opt.get_slot(W, "momentum")
    assert slot.name == "W/Momentum:0" and not slot.trainable and opt.get_slot_names() == ["momentum"]


def test_adam_matches_tf1s_apply_adam_and_its_slots_are_saved(tmp_path):
    def update(p, g, s, t):
        s["m"] = 0.9 * s.get("m", 0.0) + 0.1 * g
        s["v"] = 0.999 * s.get("v", 0.0) + 0.001 * g * g
        rate = 0.01 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        return p - rate * s["m"] / (np.sqrt(s["v"]) + 1e-8)
    xv, yv = _regression_data()
    (w, b, _), (w0, b0), opt, W = _train(tf.train.AdamOptimizer(0.01), 7, xv, yv)
    want = _reference_training(update, 7, xv, yv, w0, b0)
    np.testing.assert_allclose(w, want[0], rtol=1e-4, atol=1e-5)   # Adam divides by sqrt(v): looser
    np.testing.assert_allclose(b, want[1], rtol=1e-4, atol=1e-5)
    names = sorted(v._ref.name for v in tf.global_variables())
    assert names == ["W", "W/Adam", "W/Adam_1", "b", "b/Adam", "b/Adam_1", "beta1_power", "beta2_power",
                     "global_step"]
    saver = tf.train.Saver()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        path = saver.save(sess, os.path.join(tmp_path, "model"))
    assert sorted(list_entries(path)) == names


def test_running_the_training_op_before_the_initializer_names_the_uninitialized_slot():
    x, W, b, y, w0, b0 = _linear_model(2)
    train_op = tf.train.MomentumOptimizer(0.1, 0.9).minimize(tf.reduce_sum(y))
    with tf.Session() as sess:
        sess.run(tf.variables_initializer([W, b]))
        with pytest.raises(errors.FailedPreconditionError, match="Momentum"):
            sess.run(train_op, feed_dict={x: np.ones((2, 3), np.float32)})


def test_optimizer_errors_name_the_argument():
    x, W, b, y, w0, b0 = _linear_model(2)
    with pytest.raises(errors.InvalidArgumentError, match="learning_rate"):
        tf.train.GradientDescentOptimizer(-1.0)
    with pytest.raises(errors.InvalidArgumentError, match="beta1"):
        tf.train.AdamOptimizer(beta1=1.0)
    other = tf.Variable(np.ones(2, np.float32), name="unused")
    with pytest.raises(errors.InvalidArgumentError, match="no gradients provided"):
        tf.train.GradientDescentOptimizer(0.1).minimize(tf.reduce_sum(y), var_list=[other])
    with pytest.raises(errors.InvalidTypeError, match="var_list"):
        tf.train.GradientDescentOptimizer(0.1).minimize(tf.reduce_sum(y), var_list=[y])


def test_the_training_step_compiles_to_one_entry_and_agrees_with_the_interpreter(monkeypatch):
    """Forward, backward and Adam's updates of a run are one IR graph: compiled by the CPU backend they give the
    reference interpreter's variables."""
    xv, yv = _regression_data(32)
    results = {}
    for backend in ("interpreter", "cpu"):
        monkeypatch.setattr(gj.config, "backend", backend)
        monkeypatch.setattr(gj.config, "compile_in_background", False)
        tf.reset_default_graph()
        seed_state = rng.bit_generator.state
        (w, b, _), _, _, _ = _train(tf.train.AdamOptimizer(0.01), 4, xv, yv)
        rng.bit_generator.state = seed_state   # the same initial W for both backends
        results[backend] = (w, b)
    for got, want in zip(results["cpu"], results["interpreter"]):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
