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
