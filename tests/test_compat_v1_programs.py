"""Classic TF1 programs, kept as they are written for TensorFlow 1 with only the import line changed
(``import graphjit.compat.v1 as tf``), each result checked against NumPy. Plus the namespace's TF1
spellings (old argument names, initializers, variable-scope rules, truncated_normal's distribution).

Each program runs as TF1 ran a script: on a fresh default graph (the autouse fixture), no
``as_default`` block, ops building into the default graph.
"""
import math
import os

import numpy as np
import pytest

import graphjit as gj
import graphjit.compat.v1 as tf
from graphjit import errors

rng = np.random.default_rng(7)


@pytest.fixture(autouse=True)
def fresh_default_graph():
    tf.reset_default_graph()
    yield
    tf.reset_default_graph()


@pytest.fixture
def compiled():
    saved = gj.config.backend, gj.config.compile_in_background
    gj.config.backend, gj.config.compile_in_background = "cpu", False
    yield
    gj.config.backend, gj.config.compile_in_background = saved


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# ---- 1. placeholders + feed_dict: MNIST-style softmax regression (TF1's "MNIST for beginners") ------------

def mnist_softmax_forward(batch_xs, batch_ys):
    x = tf.placeholder(tf.float32, [None, 784])
    W = tf.Variable(tf.random_normal([784, 10], stddev=0.05))
    b = tf.Variable(tf.zeros([10]))
    y = tf.nn.softmax(tf.matmul(x, W) + b)
    y_ = tf.placeholder(tf.float32, [None, 10])
    cross_entropy = tf.reduce_mean(-tf.reduce_sum(y_ * tf.log(y), reduction_indices=[1]))
    logits = tf.matmul(x, W) + b
    xent_v2 = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(labels=y_, logits=logits))
    xent = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=y_, logits=logits))
    sparse = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.argmax(y_, 1), logits=logits))
    correct_prediction = tf.equal(tf.argmax(y, 1), tf.argmax(y_, 1))
    accuracy = tf.reduce_mean(tf.cast(correct_prediction, tf.float32))
    sess = tf.InteractiveSession()
    tf.global_variables_initializer().run()
    out = sess.run([y, cross_entropy, xent_v2, xent, sparse, accuracy], feed_dict={x: batch_xs, y_: batch_ys})
    weights = sess.run([W, b])
    sess.close()
    return out, weights


def _mnist_reference(batch_xs, batch_ys, w, b):
    z = batch_xs.astype(np.float64) @ w + b
    p = _softmax(z)
    log_p = z - z.max(axis=1, keepdims=True)
    log_p = log_p - np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    xent = -(batch_ys * log_p).sum(axis=1).mean()
    accuracy = np.mean(p.argmax(axis=1) == batch_ys.argmax(axis=1))
    return p, xent, accuracy


def _mnist_batch(n):
    xs = rng.random((n, 784), dtype=np.float32)
    ys = np.eye(10, dtype=np.float32)[rng.integers(0, 10, n)]
    return xs, ys


@pytest.mark.parametrize("backend", ["interpreter", "cpu"])
def test_mnist_softmax_regression_forward_matches_numpy(backend, request):
    if backend == "cpu":
        request.getfixturevalue("compiled")
    batch_xs, batch_ys = _mnist_batch(100)
    (probs, ce, xent_v2, xent, sparse, accuracy), (w, b) = mnist_softmax_forward(batch_xs, batch_ys)
    assert w.shape == (784, 10) and 0.04 < w.std() < 0.06 and not b.any()  # drawn and zeroed in the session
    p, ref_xent, ref_accuracy = _mnist_reference(batch_xs, batch_ys, w.astype(np.float64), b)
    np.testing.assert_allclose(probs, p, rtol=2e-5, atol=1e-7)  # float32 vs float64: a few ULP per op
    for value in (ce, xent_v2, xent, sparse):
        np.testing.assert_allclose(value, ref_xent, rtol=1e-5)
    assert accuracy == pytest.approx(ref_accuracy, abs=1e-6)


# ---- 2. variables + initializer: TF1's "basic usage" counter, fetches and feeds ----------------------------

def counter_program():
    state = tf.Variable(0, name="counter")
    one = tf.constant(1)
    new_value = tf.add(state, one)
    update = tf.assign(state, new_value)
    init_op = tf.global_variables_initializer()
    seen = []
    with tf.Session() as sess:
        sess.run(init_op)
        seen.append(sess.run(state))
        for _ in range(3):
            sess.run(update)
            seen.append(sess.run(state))
    return seen, state


def fetch_and_feed_program():
    input1 = tf.constant([3.0])
    input2 = tf.constant([2.0])
    input3 = tf.constant([5.0])
    intermed = tf.add(input2, input3)
    mul = tf.multiply(input1, intermed)
    with tf.Session() as sess:
        fetched = sess.run([mul, intermed])
    in1 = tf.placeholder(tf.float32)
    in2 = tf.placeholder(tf.float32)
    output = tf.multiply(in1, in2)
    with tf.Session() as sess:
        fed = sess.run([output], feed_dict={in1: [7.], in2: [2.]})
    matrix1 = tf.constant([[3., 3.]])
    matrix2 = tf.constant([[2.], [2.]])
    product = tf.matmul(matrix1, matrix2)
    sess = tf.Session()
    result = sess.run(product)
    sess.close()
    return fetched, fed, result


def test_counter_and_basic_usage_programs():
    seen, state = counter_program()
    assert [int(v) for v in seen] == [0, 1, 2, 3]
    assert state.name == "counter:0" and state in tf.global_variables()
    fetched, fed, result = fetch_and_feed_program()
    np.testing.assert_array_equal(fetched[0], np.float32([3.0]) * (np.float32([2.0]) + np.float32([5.0])))
    np.testing.assert_array_equal(fetched[1], [7.0])
    np.testing.assert_array_equal(fed[0], [14.0])
    np.testing.assert_array_equal(result, np.float32([[3., 3.]]) @ np.float32([[2.], [2.]]))


def test_constants_without_a_graph_block_are_graph_ops():
    a = tf.constant(2)
    b = tf.constant(3)
    assert isinstance(a + b, tf.Tensor) and (a + b).graph is tf.get_default_graph()
    with tf.Session() as sess:
        assert sess.run(a + b) == 5 and sess.run(a * b) == 6
    assert float(gj.constant(2.0) * 3.0) == 6.0  # the TF2 names stay eager


# ---- 3. Saver: TF1's save/restore guide (get_variable with the zeros_initializer class) ---------------------

def saver_program(directory):
    v1 = tf.get_variable("v1", shape=[3], initializer=tf.zeros_initializer)
    v2 = tf.get_variable("v2", shape=[5], initializer=tf.zeros_initializer)
    inc_v1 = v1.assign(v1 + 1)
    dec_v2 = v2.assign(v2 - 1)
    init_op = tf.global_variables_initializer()
    saver = tf.train.Saver()
    with tf.Session() as sess:
        sess.run(init_op)
        inc_v1.op.run()
        dec_v2.op.run()
        save_path = saver.save(sess, os.path.join(directory, "model.ckpt"))
    tf.reset_default_graph()
    v1 = tf.get_variable("v1", shape=[3])
    v2 = tf.get_variable("v2", shape=[5])
    saver = tf.train.Saver()
    with tf.Session() as sess:
        saver.restore(sess, save_path)
        restored = v1.eval(), v2.eval()
    return save_path, restored


def test_saver_round_trip_program(tmp_path):
    save_path, (v1, v2) = saver_program(str(tmp_path))
    assert save_path == str(tmp_path / "model.ckpt")
    np.testing.assert_array_equal(v1, np.ones(3, np.float32))
    np.testing.assert_array_equal(v2, -np.ones(5, np.float32))
    assert v1.dtype == np.float32 and v2.dtype == np.float32


# ---- 4. name scopes and variable scopes with reuse: a two-tower model sharing its weights -----------------

def tower(x):
    with tf.variable_scope("tower"):
        w = tf.get_variable("w", [4, 3], initializer=tf.random_normal_initializer(stddev=0.5))
        b = tf.get_variable("b", [3], initializer=tf.constant_initializer(0.1))
        with tf.name_scope("activation"):
            out = tf.nn.relu(tf.matmul(x, w) + b)
    return out


def two_tower_program(left_batch, right_batch):
    left = tf.placeholder(tf.float32, [None, 4], name="left")
    right = tf.placeholder(tf.float32, [None, 4], name="right")
    with tf.variable_scope("siamese") as scope:
        out_left = tower(left)
        scope.reuse_variables()
        out_right = tower(right)
    distance = tf.reduce_sum(tf.square(out_left - out_right), 1)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        values = sess.run([out_left, out_right, distance], feed_dict={left: left_batch, right: right_batch})
        weights = sess.run(tf.trainable_variables())
    return (out_left, out_right), values, weights


def test_two_towers_share_weights():
    left_batch, right_batch = rng.normal(size=(5, 4)).astype(np.float32), rng.normal(size=(5, 4)).astype(np.float32)
    (out_left, out_right), (lv, rv, dv), weights = two_tower_program(left_batch, right_batch)
    names = [v.name for v in tf.trainable_variables()]
    assert names == ["siamese/tower/w:0", "siamese/tower/b:0"]  # one set of weights for both towers
    # Variables are shared, ops are not: the second tower's ops get unique name scopes.
    assert out_left.name.startswith("siamese/tower/activation/")
    assert out_right.name.startswith("siamese/tower_1/activation/")  # as TF1 names them
    w, b = weights
    np.testing.assert_array_equal(b, np.full(3, 0.1, np.float32))
    assert 0.2 < w.std() < 1.0
    ref_left = np.maximum(left_batch @ w + b, 0)
    ref_right = np.maximum(right_batch @ w + b, 0)
    np.testing.assert_allclose(lv, ref_left, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(rv, ref_right, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(dv, ((ref_left - ref_right) ** 2).sum(axis=1), rtol=1e-5, atol=1e-6)


def test_variable_scope_reuse_rules():
    # TF1's documented examples, as written.
    with tf.variable_scope("foo"):
        with tf.variable_scope("bar"):
            v = tf.get_variable("v", [1])
    assert v.name == "foo/bar/v:0"
    with tf.variable_scope("foo"):
        v = tf.get_variable("v", [1])
    with tf.variable_scope("foo", reuse=True):
        v1 = tf.get_variable("v", [1])
    assert v1 == v
    with tf.variable_scope("foo") as scope:
        scope.reuse_variables()
        v2 = tf.get_variable("v", [1])
        assert tf.get_variable_scope().reuse is True and tf.get_variable_scope().name == "foo"
    assert v2 is v

    def auto():
        with tf.variable_scope("auto", reuse=tf.AUTO_REUSE):
            return tf.get_variable("w", [2, 2])
    assert auto() is auto()
    with tf.variable_scope("foo", reuse=True):
        with tf.variable_scope("bar", reuse=False):  # reuse is inherited and cannot be switched off
            assert tf.get_variable("v", [1]).name == "foo/bar/v:0"

    with pytest.raises(errors.InvalidArgumentError, match=r"Variable foo/v already exists") as err:
        with tf.variable_scope("foo"):
            tf.get_variable("v", [1])
    assert isinstance(err.value, ValueError) and "test_compat_v1_programs.py" in str(err.value)
    with pytest.raises(ValueError, match=r"Variable foo/missing does not exist"):
        with tf.variable_scope("foo", reuse=True):
            tf.get_variable("missing", [1])
    with pytest.raises(ValueError, match=r"Trying to share variable foo/v, but specified shape \(2,\)"):
        with tf.variable_scope("foo", reuse=True):
            tf.get_variable("v", [2])
    with pytest.raises(ValueError, match=r"Shape of a new variable \(nowhere\) must be fully defined"):
        tf.get_variable("nowhere")
    assert tf.get_variable_scope().name == "" and tf.get_variable_scope().reuse is False

    # Re-entering a captured scope, default names, scope defaults and scoped variable lists.
    with tf.variable_scope("outer") as outer:
        pass
    with tf.variable_scope(outer, reuse=tf.AUTO_REUSE):
        a = tf.get_variable("a", [3], initializer=tf.ones_initializer())
    with tf.variable_scope(None, default_name="layer"):
        l0 = tf.get_variable("k", [1])
    with tf.variable_scope(None, default_name="layer"):
        l1 = tf.get_variable("k", [1])
    with tf.variable_scope("typed", dtype=tf.float64, initializer=tf.constant_initializer([1.0, 2.0])):
        t = tf.get_variable("t", [4], trainable=False)
    counter = tf.get_variable("steps", [], dtype=tf.int32)  # int: zeros by default, as in TF1
    assert [a.name, l0.name, l1.name, t.name] == ["outer/a:0", "layer/k:0", "layer_1/k:0", "typed/t:0"]
    assert t.dtype is tf.float64 and t not in tf.trainable_variables() and t in tf.global_variables()
    assert [v.name for v in tf.global_variables("foo/bar")] == ["foo/bar/v:0"]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        np.testing.assert_array_equal(sess.run(a), np.ones(3, np.float32))
        np.testing.assert_array_equal(sess.run(t), [1.0, 2.0, 2.0, 2.0])  # TF1 pads with the last value
        assert sess.run(counter) == 0 and sess.run(counter).dtype == np.int32


# ---- get_variable's initializers: the values and distributions they make -----------------------------------

def test_initializers_make_their_distributions():
    tf.set_random_seed(3)
    n = 400 * 500
    glorot = tf.get_variable("glorot", [400, 500])  # the default: glorot_uniform
    normal = tf.get_variable("normal", [n], initializer=tf.random_normal_initializer(mean=1.0, stddev=2.0))
    trunc = tf.get_variable("trunc", [n], initializer=tf.truncated_normal_initializer(mean=-1.0, stddev=0.5))
    uniform = tf.get_variable("uniform", [n], initializer=tf.random_uniform_initializer(-3.0, 5.0))
    g2 = tf.get_variable("g2", [64, 32], initializer=tf.glorot_uniform_initializer())
    he = tf.get_variable("he", [3, 3, 16, 32], initializer=tf.initializers.he_normal())
    const = tf.get_variable("const", [2, 3], initializer=tf.constant_initializer(np.arange(6).reshape(2, 3)))
    filled = tf.get_variable("filled", [2, 2], dtype=tf.float64, initializer=tf.constant_initializer(7))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        gv, nv, tv, uv, g2v, hev, cv, fv = sess.run([glorot, normal, trunc, uniform, g2, he, const, filled])
    limit = math.sqrt(6.0 / (400 + 500))
    assert np.abs(gv).max() <= limit and abs(gv.var() - limit ** 2 / 3) < 0.02 * limit ** 2 / 3
    assert np.abs(g2v).max() <= math.sqrt(6.0 / 96)
    assert abs(nv.mean() - 1.0) < 5 * 2.0 / math.sqrt(n) and abs(nv.std() - 2.0) < 0.02
    assert tv.min() > -2.0 and tv.max() < 0.0  # within 2 stddev (0.5) of the mean -1
    assert abs(tv.mean() + 1.0) < 5 * 0.5 / math.sqrt(n)
    assert uv.min() >= -3.0 and uv.max() < 5.0 and abs(uv.mean() - 1.0) < 0.05
    # he_normal: a truncated normal of variance 2 / fan_in, fan_in = 3 * 3 * 16
    assert abs(hev.std() - math.sqrt(2.0 / 144)) < 0.05 * math.sqrt(2.0 / 144)
    assert np.abs(hev).max() < 2 * math.sqrt(2.0 / 144) / 0.87962566103423978
    np.testing.assert_array_equal(cv, np.arange(6, dtype=np.float32).reshape(2, 3))
    assert fv.dtype == np.float64 and (fv == 7).all()


def _phi(z):
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def test_truncated_normal_redraws_beyond_two_stddev():
    """Draws are the normal distribution conditioned on |z| < 2 (redrawn, not clipped): bin counts against
    the conditional probabilities, the moments of that distribution, and no mass piled at the bounds."""
    tf.set_random_seed(11)
    n = 400_000
    z = tf.truncated_normal([n], mean=0.0, stddev=1.0)
    scaled = tf.truncated_normal([1000, 100], mean=3.0, stddev=0.25, dtype=tf.float64)
    with tf.Session() as sess:
        zv, sv = sess.run([z, scaled])
    assert zv.dtype == np.float32 and sv.dtype == np.float64 and sv.shape == (1000, 100)
    assert np.abs(zv).max() < 2.0 and np.abs(sv - 3.0).max() < 0.5
    mass = _phi(2) - _phi(-2)
    edges = np.linspace(-2, 2, 21)
    counts, _ = np.histogram(zv, edges)
    expected = np.array([(_phi(b) - _phi(a)) / mass * n for a, b in zip(edges[:-1], edges[1:])])
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected))  # 5 sigma per bin (binomial counts)
    std = math.sqrt(1 - 2 * 2 * math.exp(-2) / math.sqrt(2 * math.pi) / mass)  # 0.8796
    assert abs(zv.std() - std) < 0.005 and abs(zv.mean()) < 5 * std / math.sqrt(n)
    assert abs(sv.std() - 0.25 * std) < 0.005
    # Eager (TF2 name) and compiled: the same op.
    gj.random.set_seed(5)
    eager = gj.random.truncated_normal([50_000]).numpy()
    assert np.abs(eager).max() < 2.0 and abs(eager.std() - std) < 0.01


# ---- the namespace: every op and dtype under its TF1 name, old argument names ----------------------------

def test_namespace_has_every_registry_name_and_the_tf1_spellings():
    from graphjit.tracer.registry import API
    for dotted in API:
        target = tf
        for part in dotted.split("."):
            target = getattr(target, part)
        assert callable(target), dotted
    for name in ("float32", "float64", "int32", "int64", "bool", "double"):
        assert getattr(tf, name) is getattr(tf.dtypes, name)
    assert tf.float32 is gj.float32 and tf.double is gj.float64
    for name in ("log", "matmul", "reduce_mean", "random_normal", "random_uniform", "truncated_normal", "zeros",
                 "ones", "fill", "constant", "reshape", "concat", "cast", "argmax", "square", "exp", "is_nan",
                 "floormod", "to_float", "div", "squared_difference", "add_n", "one_hot", "get_variable",
                 "variable_scope", "global_variables", "trainable_variables", "get_variable_scope", "placeholder",
                 "Session", "Variable", "zeros_initializer", "glorot_uniform_initializer"):
        assert callable(getattr(tf, name)), name
    for name in ("relu", "softmax", "sigmoid", "tanh", "softmax_cross_entropy_with_logits_v2",
                 "softmax_cross_entropy_with_logits", "sparse_softmax_cross_entropy_with_logits", "bias_add",
                 "relu6", "l2_loss", "moments"):
        assert callable(getattr(tf.nn, name)), name
    assert tf.math.log is not None and tf.linalg.matmul is not None


def test_old_argument_names_and_composite_ops_match_numpy():
    x_np = rng.normal(size=(3, 4, 5)).astype(np.float32)
    ids_np = np.array([0, 3, 1, 9], np.int64)
    x = tf.constant(x_np)
    ids = tf.constant(ids_np)
    reductions = {
        "sum": (tf.reduce_sum(x, reduction_indices=[1], keep_dims=True), x_np.sum(axis=1, keepdims=True)),
        "mean": (tf.reduce_mean(x, reduction_indices=2), x_np.mean(axis=2)),
        "max": (tf.reduce_max(x, reduction_indices=[0, 2]), x_np.max(axis=(0, 2))),
        "min": (tf.math.reduce_min(x, keep_dims=True), x_np.min(keepdims=True)),
        "prod": (tf.reduce_prod(x, reduction_indices=-1), x_np.prod(axis=-1)),
        "logsumexp": (tf.reduce_logsumexp(x, reduction_indices=1), np.log(np.exp(x_np).sum(axis=1))),
        "any": (tf.reduce_any(x > 1.0, reduction_indices=1), (x_np > 1.0).any(axis=1)),
        "all": (tf.reduce_all(x > -3.0, keep_dims=True), (x_np > -3.0).all(keepdims=True)),
        "argmax": (tf.argmax(x, dimension=1), x_np.argmax(axis=1)),
        "argmin": (tf.arg_min(x, dimension=2), x_np.argmin(axis=2)),
        "softmax": (tf.nn.softmax(x[0], dim=0), np.exp(x_np[0]) / np.exp(x_np[0]).sum(axis=0)),
        "expand": (tf.expand_dims(x, dim=1), x_np[:, None]),
        "squeeze": (tf.squeeze(tf.expand_dims(x, 0), squeeze_dims=[0]), x_np),
        "div_int": (tf.div(tf.constant([7, -7]), 2), np.array([3, -4])),
        "div_float": (tf.div(x, 2.0), x_np / 2),
        "sqdiff": (tf.squared_difference(x, 1.0), (x_np - 1) ** 2),
        "add_n": (tf.add_n([x, x, x]), x_np * 3),
        "one_hot": (tf.one_hot(ids, 5), np.array([np.arange(5) == i for i in ids_np], np.float32)),  # 9: zeros
        "to_float": (tf.to_float(ids), ids_np.astype(np.float32)),
        "to_int32": (tf.to_int32(x), x_np.astype(np.int32)),
        "bias_add": (tf.nn.bias_add(x, tf.constant(np.arange(5, dtype=np.float32))), x_np + np.arange(5)),
        "relu6": (tf.nn.relu6(x * 5.0), np.minimum(np.maximum(x_np * np.float32(5), 0), 6)),
        "leaky": (tf.nn.leaky_relu(x), np.where(x_np > 0, x_np, np.float32(0.2) * x_np)),
        "elu": (tf.nn.elu(x), np.where(x_np > 0, x_np, np.expm1(x_np))),
        "sigmoid_xent": (tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.sigmoid(x), logits=x),
                         -(1 / (1 + np.exp(-x_np))) * np.log(1 / (1 + np.exp(-x_np)))
                         - (1 - 1 / (1 + np.exp(-x_np))) * np.log(1 - 1 / (1 + np.exp(-x_np)))),
        "mean_var": (tf.nn.moments(x, axes=[0, 1]), (x_np.mean(axis=(0, 1)), x_np.var(axis=(0, 1)))),
        "l2n": (tf.nn.l2_normalize(x, axis=-1), x_np / np.sqrt((x_np ** 2).sum(axis=-1, keepdims=True))),
        "embed": (tf.nn.embedding_lookup(x[0], tf.constant([3, 0, 3])), x_np[0][[3, 0, 3]]),
    }
    with tf.Session() as sess:
        values = sess.run({k: v[0] for k, v in reductions.items()})
    for key, (_, expected) in reductions.items():
        got = values[key]
        for g, e in zip(got if isinstance(got, tuple) else [got], expected if isinstance(got, tuple) else [expected]):
            np.testing.assert_allclose(np.asarray(g, np.float64), np.asarray(e, np.float64), rtol=2e-5, atol=2e-6,
                                       err_msg=key)
    with pytest.raises(errors.InvalidArgumentError, match="cannot specify both 'axis' and 'reduction_indices'"):
        tf.reduce_sum(x, axis=0, reduction_indices=0)
    with pytest.raises(errors.InvalidArgumentError, match="named arguments"):
        tf.nn.softmax_cross_entropy_with_logits(x, x)
