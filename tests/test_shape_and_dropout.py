"""gj.shape / gj.size / gj.rank (TF's static facts as tensors; a run-time op for compat.v1's unknown dims) and
gj.nn.dropout (TF2's), eagerly, traced and in sessions."""
import numpy as np
import pytest

import graphjit as gj


def test_shape_size_rank_eagerly_and_traced():
    x = np.zeros((3, 4, 2), np.float32)

    @gj.function
    def facts(t):
        return gj.shape(t), gj.shape(t, out_type=gj.int64), gj.size(t), gj.rank(t)

    for got in ((gj.shape(x), gj.shape(x, out_type=gj.int64), gj.size(x), gj.rank(x)), facts(x)):
        values = [np.asarray(t) for t in got]
        np.testing.assert_array_equal(values[0], np.array([3, 4, 2], np.int32))
        assert values[0].dtype == np.int32 and values[1].dtype == np.int64 and values[2].dtype == np.int32
        assert values[2] == 24 and values[3] == 3
    assert gj.size(np.zeros((0, 5))).numpy() == 0 and gj.shape(np.float32(1.0)).numpy().shape == (0,)


def test_shape_of_a_placeholder_with_unknown_dims_is_computed_by_the_run():
    tf = gj.compat.v1
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 3])
        s, n = tf.shape(x), tf.size(x)
        with tf.Session() as sess:
            for rows in (5, 0, 2):
                got_s, got_n = sess.run([s, n], feed_dict={x: np.ones((rows, 3), np.float32)})
                np.testing.assert_array_equal(got_s, [rows, 3])
                assert got_n == 3 * rows and got_s.dtype == np.int32


def test_shape_rejects_a_float_out_type():
    with pytest.raises(gj.errors.InvalidArgumentError, match="shape: out_type must be int32 or int64, got float32"):
        gj.shape(np.zeros(2), out_type=gj.float32)


def test_dropout_keeps_the_expectation_and_zeroes_exactly():
    x = np.random.default_rng(0).standard_normal((400, 250)).astype(np.float32)
    x[0, :5] = [np.nan, np.inf, -np.inf, 1.0, 2.0]
    gj.random.set_seed(0)
    y = gj.nn.dropout(x, 0.3, seed=4).numpy()
    kept = y != 0
    assert abs(kept.mean() - 0.7) < 0.005              # 100,000 Bernoulli(0.7) draws: sd 0.0014
    np.testing.assert_array_equal(y[kept], (x * np.float32(1 / 0.7))[kept])
    assert not np.isnan(y[~kept]).any()                # a dropped NaN is 0, not NaN * 0
    gj.random.set_seed(0)
    np.testing.assert_array_equal(gj.nn.dropout(x, 0.3, seed=4).numpy(), y)   # reproducible
    assert np.array_equal(gj.nn.dropout(x, 0).numpy(), x, equal_nan=True)         # rate 0: x itself


def test_dropout_with_a_noise_shape_drops_whole_slices():
    x = np.ones((6, 5), np.float32)
    y = gj.nn.dropout(x, 0.5, noise_shape=[6, 1], seed=1).numpy()
    assert all(len(set(row.tolist())) == 1 for row in y)      # a row is kept or dropped as a whole
    assert set(np.unique(y)) <= {0.0, 2.0}


@pytest.mark.parametrize("backend", ["interpreter", "cpu"])
def test_traced_dropout_matches_eager_dropout(backend, monkeypatch):
    monkeypatch.setattr(gj.config, "backend", backend)
    monkeypatch.setattr(gj.config, "compile_in_background", False)
    x = np.arange(1, 4097, dtype=np.float32)
    f = gj.function(lambda t, r: gj.nn.dropout(t, r, seed=9))
    gj.random.set_seed(5)
    traced = [f(x, np.float32(0.25)).numpy() for _ in range(2)]
    gj.random.set_seed(5)
    eager = [gj.nn.dropout(x, np.float32(0.25), seed=9).numpy() for _ in range(2)]
    for t, e in zip(traced, eager):
        np.testing.assert_array_equal(t, e)
    assert not np.array_equal(traced[0], traced[1])


@pytest.mark.parametrize("rate, message", [(1.0, r"rate must be in \[0, 1\), got 1.0"),
                                           (-0.1, r"rate must be in \[0, 1\)"),
                                           (np.ones(2, np.float32), "rate must be a scalar")])
def test_dropout_names_a_bad_rate(rate, message):
    with pytest.raises(gj.errors.InvalidArgumentError, match=message):
        gj.nn.dropout(np.ones(3, np.float32), rate)


def test_dropout_rejects_int_tensors_and_bad_noise_shapes():
    with pytest.raises(gj.errors.InvalidArgumentError, match="dropout: x must be float32 or float64, got int32"):
        gj.nn.dropout(np.ones(3, np.int32), 0.5)
    with pytest.raises(gj.errors.InvalidArgumentError, match=r"noise_shape \[2\] must have x's rank and each dim 1 or x's dim \[3,2\]"):
        gj.nn.dropout(np.ones((3, 2), np.float32), 0.5, noise_shape=[2])


# ---- training=: Keras's Dropout(...)(x, training=...) -------------------------------------------------------

def _uniform_after_reseed(seed):
    gj.random.set_seed(seed)
    return gj.random.uniform([6]).numpy()


def test_dropout_not_training_returns_x_itself_and_draws_nothing():
    x = gj.constant(np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32))
    gj.random.set_seed(3)
    assert gj.nn.dropout(x, 0.5, seed=2, training=False) is x
    assert gj.nn.dropout(x, 0.5, training=np.bool_(False)) is x
    untouched = gj.random.uniform([6]).numpy()   # the stream is where a fresh seed puts it: nothing was drawn
    np.testing.assert_array_equal(untouched, _uniform_after_reseed(3))
    arr = np.arange(6, dtype=np.float64)
    np.testing.assert_array_equal(gj.nn.dropout(arr, 0.9, training=False).numpy(), arr)


@pytest.mark.parametrize("backend", ["interpreter", "cpu"])
def test_dropout_with_a_training_tensor_serves_both_modes_from_one_trace(backend, monkeypatch):
    monkeypatch.setattr(gj.config, "backend", backend)
    monkeypatch.setattr(gj.config, "compile_in_background", False)
    x = np.random.default_rng(2).standard_normal(3000).astype(np.float32) + 3.0   # no exact zeros
    f = gj.function(lambda t, flag: gj.nn.dropout(t, 0.25, seed=9, training=flag))
    gj.random.set_seed(5)
    traced_on = f(x, gj.constant(True)).numpy()
    traced_off = f(x, gj.constant(False)).numpy()
    assert f.experimental_get_tracing_count() == 1
    gj.random.set_seed(5)
    eager_on = gj.nn.dropout(x, 0.25, seed=9, training=gj.constant(True)).numpy()
    eager_off = gj.nn.dropout(x, 0.25, seed=9, training=gj.constant(False)).numpy()
    gj.random.set_seed(5)
    python_on = gj.nn.dropout(x, 0.25, seed=9).numpy()   # a Python True: the same draw, the same mask
    np.testing.assert_array_equal(traced_on, eager_on)
    np.testing.assert_array_equal(traced_on, python_on)
    np.testing.assert_array_equal(traced_off, x)
    np.testing.assert_array_equal(eager_off, x)
    kept = traced_on != 0
    assert 0.70 < kept.mean() < 0.80                     # 3000 Bernoulli(0.75) draws: sd 0.008
    np.testing.assert_array_equal(traced_on[kept], (x * np.float32(1 / 0.75))[kept])


def _dropout_gradient(x, weights, training, traced):
    def loss_and_grad(t, flag):
        with gj.GradientTape() as tape:
            tape.watch(t)
            y = gj.nn.dropout(t, 0.4, seed=11, training=flag)
            loss = gj.reduce_sum(y * weights)
        return y, tape.gradient(loss, t)
    run = gj.function(loss_and_grad) if traced else loss_and_grad
    gj.random.set_seed(8)
    y, grad = run(gj.constant(x), training)
    return y.numpy(), grad.numpy()


@pytest.mark.parametrize("traced", [False, True])
def test_dropout_gradient_is_the_scaled_mask_in_training_and_ones_otherwise(traced):
    rng = np.random.default_rng(4)
    x = rng.uniform(1.0, 2.0, (40, 30))                          # float64, no zeros: y != 0 is the mask
    weights = rng.uniform(0.5, 1.5, x.shape)
    for training in (True, gj.constant(True)):
        y, grad = _dropout_gradient(x, weights, training, traced)
        mask = (y != 0).astype(np.float64)
        assert 0.5 < mask.mean() < 0.7
        np.testing.assert_allclose(grad, weights * mask / (1 - 0.4), rtol=1e-15, atol=0)
    for training in (False, gj.constant(False)):
        y, grad = _dropout_gradient(x, weights, training, traced)
        np.testing.assert_array_equal(y, x)
        np.testing.assert_array_equal(grad, weights)


@pytest.mark.parametrize("training", [True, False])
def test_dropout_gradient_matches_finite_differences_under_a_fixed_seed(training):
    from gradient_check import check_gradients

    def reseeded(t):   # every evaluation draws the same mask, so the function is linear in t
        gj.random.set_seed(21)
        return gj.nn.dropout(t, 0.5, seed=3, training=gj.constant(training))
    check_gradients(reseeded, np.random.default_rng(6).uniform(1.0, 2.0, (7, 5)))


def test_dropout_with_a_training_tensor_is_deterministic_under_a_seed():
    x = np.ones((50, 40), np.float32)
    runs = []
    for _ in range(2):
        gj.random.set_seed(13)
        runs.append([gj.nn.dropout(x, 0.5, training=gj.constant(True)).numpy() for _ in range(2)])
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert not np.array_equal(runs[0][0], runs[0][1])   # the stream moves on between calls


@pytest.mark.parametrize("training, message", [
    (1, "training must be a Python bool or a scalar bool tensor, got 1"),
    ("yes", "got 'yes'"),
    (None, "got None"),
    (np.float32(1.0), r"got np.float32\(1.0\)"),
    (np.array([True, False]), "got a bool tensor of shape \\[2\\]"),
    (np.array(1.0, np.float32), "got a float32 tensor of shape \\[\\]"),
])
def test_dropout_names_a_bad_training_flag(training, message):
    with pytest.raises(gj.errors.InvalidArgumentError, match=message):
        gj.nn.dropout(np.ones(3, np.float32), 0.5, training=training)


def test_dropout_validates_its_rate_when_not_training():
    with pytest.raises(gj.errors.InvalidArgumentError, match=r"rate must be in \[0, 1\), got 1.5"):
        gj.nn.dropout(np.ones(3, np.float32), 1.5, training=False)


def test_compat_v1_dropout_still_drops():
    tf = gj.compat.v1
    with tf.Graph().as_default():
        tf.set_random_seed(2)
        dropped = tf.nn.dropout(tf.ones((100, 100), tf.float32), keep_prob=0.8, seed=1)
        with tf.Session() as sess:
            y = sess.run(dropped)
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.8)}
    assert 0.77 < (y != 0).mean() < 0.83


def test_dropout_training_flag_can_be_a_compat_v1_placeholder():
    tf = gj.compat.v1
    with tf.Graph().as_default():
        flag = tf.placeholder(tf.bool, [])
        x = tf.constant(np.arange(1.0, 401.0, dtype=np.float32).reshape(20, 20))
        y = gj.nn.dropout(x, 0.5, seed=1, training=flag)
        with tf.Session() as sess:
            off, on = sess.run(y, {flag: False}), sess.run(y, {flag: True})
    want = np.arange(1.0, 401.0, dtype=np.float32).reshape(20, 20)
    np.testing.assert_array_equal(off, want)
    kept = on != 0
    assert 0.3 < kept.mean() < 0.7
    np.testing.assert_array_equal(on[kept], (want * 2)[kept])
