"""Op-level random seeds, as TF: ``gj.random.uniform(shape, seed=s)`` draws from a stream of its own fixed by
(global seed, op seed), so programs with op seeds are reproducible across runs, eagerly, traced (interpreter and
compiled alike) and in compat.v1 sessions; ``set_seed`` restarts the streams."""
import numpy as np
import pytest

import graphjit as gj
from graphjit.runtime.state import DEFAULT_GLOBAL_SEED


def _draws():
    return [gj.random.uniform([3], seed=5).numpy(), gj.random.normal([2], seed=5, dtype=gj.float64).numpy(),
            gj.random.uniform([3], seed=6).numpy(), gj.random.truncated_normal([4], seed=5).numpy()]


def test_op_seeds_are_reproducible_and_each_call_continues_the_stream():
    gj.random.set_seed(3)
    first = _draws()
    again = _draws()
    gj.random.set_seed(3)
    assert all(np.array_equal(a, b) for a, b in zip(_draws(), first))     # set_seed restarts the streams
    assert not np.array_equal(first[0], again[0])                          # a second call draws new numbers
    assert not np.array_equal(first[0], first[2])                          # another op seed, another stream
    gj.random.set_seed(4)
    assert not np.array_equal(_draws()[0], first[0])                       # the global seed takes part
    # The stream is NumPy's PCG64 seeded by (global seed, op seed): the same in every process.
    gj.random.set_seed(3)
    want = np.random.Generator(np.random.PCG64(np.random.SeedSequence((3, 5)))).random(3, dtype=np.float32)
    np.testing.assert_array_equal(gj.random.uniform([3], seed=5).numpy(), want)
    assert np.all(np.abs(first[3]) < 2)


def test_without_a_global_seed_op_seeds_pair_with_the_default_one():
    gj.random.set_seed(None)
    got = gj.random.uniform([4], seed=9).numpy()
    want = np.random.Generator(np.random.PCG64(np.random.SeedSequence((DEFAULT_GLOBAL_SEED, 9)))).random(
        4, dtype=np.float32)
    np.testing.assert_array_equal(got, want)


def test_an_op_seeded_draw_leaves_the_global_sequence_alone():
    gj.random.set_seed(1)
    plain = gj.random.uniform([5]).numpy()
    gj.random.set_seed(1)
    gj.random.uniform([5], seed=2)
    np.testing.assert_array_equal(gj.random.uniform([5]).numpy(), plain)


@pytest.mark.parametrize("backend", ["interpreter", "cpu"])
def test_traced_op_seeds_match_eager_draws(backend, monkeypatch):
    monkeypatch.setattr(gj.config, "backend", backend)
    monkeypatch.setattr(gj.config, "compile_in_background", False)

    @gj.function
    def noisy(x):
        return x + gj.random.normal([3], seed=11), x * gj.random.uniform([3], seed=12)

    x = np.ones(3, np.float32)
    gj.random.set_seed(7)
    traced = [[t.numpy() for t in noisy(x)] for _ in range(3)]
    gj.random.set_seed(7)
    eager = [[x + gj.random.normal([3], seed=11).numpy(), x * gj.random.uniform([3], seed=12).numpy()]
             for _ in range(3)]
    for t, e in zip(traced, eager):
        np.testing.assert_array_equal(t[0], e[0])
        np.testing.assert_array_equal(t[1], e[1])
    assert not np.array_equal(traced[0][0], traced[1][0])


def test_sessions_of_one_graph_draw_the_same_op_seeded_numbers():
    tf = gj.compat.v1
    values = []
    for graph_seed in (1, 1, 2):
        with tf.Graph().as_default():
            tf.set_random_seed(graph_seed)
            w = tf.Variable(tf.random_normal([2, 2], seed=4))
            with tf.Session() as sess:
                sess.run(tf.global_variables_initializer())
                values.append(sess.run(w))
    np.testing.assert_array_equal(values[0], values[1])
    assert not np.array_equal(values[0], values[2])


@pytest.mark.parametrize("seed", [-1, 1.5, "7", True, 2 ** 63])
def test_a_bad_op_seed_is_named(seed):
    with pytest.raises(gj.errors.InvalidArgumentError, match=r"random\.uniform\(seed\): seed must be None or an int"):
        gj.random.uniform([2], seed=seed)
