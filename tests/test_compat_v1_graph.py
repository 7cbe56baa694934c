"""compat.v1 graphs: building ops into a Graph, names and scopes, static shapes, variables' ops."""
import numpy as np
import pytest

import graphjit as gj
from graphjit import errors

tf1 = gj.compat.v1


def test_ops_built_while_default_are_graph_nodes_with_unique_scoped_names():
    g = tf1.Graph()
    with g.as_default():
        x = tf1.placeholder(gj.float32, [None, 3], name="x")
        a = x + 1.0
        b = x + 2.0
        with tf1.name_scope("my_op"):
            c = gj.add(a, b)
            d = gj.add(a, b, name="total")
        with tf1.name_scope("my_op"):  # a second scope of the same name is made unique, as in TF
            e = gj.multiply(c, d)
    assert isinstance(a, tf1.Tensor) and not isinstance(a, gj.Tensor.__mro__[0].__class__)
    assert [a.name, b.name, c.name, d.name, e.name] == ["add:0", "add_1:0", "my_op/add:0", "my_op/total:0",
                                                          "my_op_1/multiply:0"]
    assert a.op.name == "add" and a.op.type == "add" and a.graph is g
    assert [t.name for t in c.op.inputs] == ["add:0", "add_1:0"]
    assert g.get_tensor_by_name("my_op/total:0") is d
    assert g.get_operation_by_name("add_1") is b.op
    names = [op.name for op in g.get_operations()]
    assert len(names) == len(set(names))
    assert names[0] == "x" and "my_op/add" in names


def test_explicit_names_collide_like_tf():
    g = tf1.Graph()
    with g.as_default():
        x = tf1.placeholder(gj.float32, [2], name="x")
        y1 = gj.identity(x, name="out")
        y2 = gj.identity(x, name="out")
        y3 = gj.identity(x, name="out_1")  # taken by y2: TF moves on to out_1_1
    assert [y1.name, y2.name, y3.name] == ["out:0", "out_1:0", "out_1_1:0"]


def test_lookup_errors_name_what_is_missing():
    g = tf1.Graph()
    with g.as_default():
        tf1.placeholder(gj.float32, [2], name="x")
    with pytest.raises(errors.NotFoundError, match="'y:0'"):
        g.get_tensor_by_name("y:0")
    with pytest.raises(errors.NotFoundError, match="'y'"):
        g.get_operation_by_name("y")
    with pytest.raises(errors.InvalidArgumentError, match="op_name:0"):
        g.get_tensor_by_name("x")


def test_default_graph_stack_nests_and_restores():
    outer, inner = tf1.Graph(), tf1.Graph()
    base = tf1.get_default_graph()
    with outer.as_default() as entered:
        assert entered is outer and tf1.get_default_graph() is outer
        with inner.as_default():
            assert tf1.get_default_graph() is inner
            t = tf1.placeholder(gj.float32, [1])
        assert tf1.get_default_graph() is outer
        with pytest.raises(errors.FailedPreconditionError, match="as_default"):
            tf1.reset_default_graph()
    assert tf1.get_default_graph() is base
    assert t.graph is inner
    tf1.reset_default_graph()
    assert tf1.get_default_graph() is not base
    # Outside any graph, ops on plain values are eager again.
    assert isinstance(gj.constant(1.0) + 1.0, type(gj.constant(1.0)))


def test_placeholders_on_the_default_graph_and_ops_follow_their_inputs():
    tf1.reset_default_graph()
    x = tf1.placeholder(gj.float32, [None, 4])  # no as_default: the global default graph
    y = gj.reduce_sum(x * x, axis=1)  # ops on a graph tensor build into its graph, even when eager
    assert x.graph is tf1.get_default_graph() and y.graph is x.graph
    assert x.name == "Placeholder:0" and tuple(y.shape) == (None,)
    with tf1.Session() as sess:
        value = np.arange(8, dtype=np.float32).reshape(2, 4)
        np.testing.assert_allclose(sess.run(y, {x: value}), (value * value).sum(axis=1), rtol=1e-6)


def test_static_shapes_with_unknown_dimensions():
    g = tf1.Graph()
    with g.as_default():
        x = tf1.placeholder(gj.float32, [None, 3])
        w = tf1.placeholder(gj.float32, [3, 5])
        any_rank = tf1.placeholder(gj.int32)
        assert tuple(gj.matmul(x, w).shape) == (None, 5)
        assert tuple(gj.reduce_mean(x, axis=0).shape) == (3,)
        assert tuple(gj.reduce_mean(x, axis=1).shape) == (None,)
        assert tuple(gj.reshape(x, [-1]).shape) == (None,)
        assert tuple(gj.transpose(x).shape) == (3, None)
        assert gj.matmul(x, w).dtype is gj.float32
        assert any_rank.shape.rank is None and str(any_rank.shape) == "<unknown>"
        assert (any_rank * 2).shape.rank is None and (any_rank * 2).dtype is gj.int32
        assert (x > 0.0).dtype is gj.bool
        # With known shapes, errors come when the op is built, naming the user's line; with unknown dims
        # they come at the run that has the real shapes (still naming the line that built the op).
        with pytest.raises(errors.InvalidArgumentError, match=r"matmul.*\n.*test_compat_v1_graph.py"):
            gj.matmul(w, tf1.placeholder(gj.float32, [4, 2]))
        bad = gj.matmul(x, tf1.placeholder(gj.float32, [4, 2], name="w2"))
    with tf1.Session(graph=g) as sess:
        with pytest.raises(errors.InvalidArgumentError, match=r"matmul.*\n.*bad = gj.matmul"):
            sess.run(bad, {x: np.ones((2, 3)), "w2:0": np.ones((4, 2))})


def test_shape_errors_found_only_at_run_time_name_the_building_line():
    g = tf1.Graph()
    with g.as_default():
        x = tf1.placeholder(gj.float32, [None])
        y = gj.reshape(x, [2, 3])  # fine for 6 elements; the probe sizes cannot know
    with tf1.Session(graph=g) as sess:
        np.testing.assert_array_equal(sess.run(y, {x: np.arange(6)}), np.arange(6, dtype=np.float32).reshape(2, 3))
        with pytest.raises(errors.InvalidArgumentError, match=r"reshape.*\n.*y = gj.reshape\(x, \[2, 3\]\)"):
            sess.run(y, {x: np.arange(5)})


def test_constants_in_a_graph_are_named_ops():
    g = tf1.Graph()
    with g.as_default():
        c = gj.constant([1.0, 2.0], name="c")
        d = gj.constant(3)
    assert c.name == "c:0" and d.name == "Const:0" and c.dtype is gj.float32 and tuple(c.shape) == (2,)
    with tf1.Session(graph=g) as sess:
        np.testing.assert_array_equal(sess.run(c), [1.0, 2.0])
        assert sess.run(d) == 3


def test_variables_build_tf1_ops_and_are_listed():
    g = tf1.Graph()
    with g.as_default():
        with tf1.name_scope("layer"):
            w = tf1.Variable(np.zeros((2, 3), np.float32), name="w")
            b = gj.Variable(gj.ones([3]), name="b", trainable=False)  # gj.Variable in a graph: a graph variable
        init = tf1.global_variables_initializer()
    assert isinstance(b, tf1.Variable)
    assert w.name == "layer/w:0" and w.op.name == "layer/w" and b.name == "layer/b:0"
    assert w.initializer.name == "layer/w/Assign" and w.initializer.type == "assign_variable"
    assert {op.name for op in g.get_operations()} >= {"layer/w", "layer/w/initial_value", "layer/w/Assign",
                                                       "layer/b", "layer/b/Assign", "init"}
    with g.as_default():
        assert tf1.global_variables() == [w, b]
        assert tf1.trainable_variables() == [w]
        assert tf1.global_variables("layer/b") == [b]
    assert init.type == "no_op" and set(init.control_inputs) == {w.initializer, b.initializer}
    assert tuple(w.shape) == (2, 3) and w.dtype is gj.float32 and w.graph is g
    assert "layer/w:0" in repr(w)


def test_variable_initial_values_may_be_graph_computations():
    g = tf1.Graph()
    with g.as_default():
        tf1.set_random_seed(7)
        noise = tf1.Variable(gj.random.normal([4, 4]), name="noise")
        double = tf1.Variable(noise.initial_value * 2.0, name="double")
        as_int = tf1.Variable(lambda: [1, 2, 3], dtype=gj.int64)
        init = tf1.global_variables_initializer()
    with tf1.Session(graph=g) as sess:
        sess.run(init)
        n, d = sess.run([noise, double])
        assert n.shape == (4, 4) and n.std() > 0.1
        assert as_int.dtype is gj.int64
        np.testing.assert_array_equal(sess.run(as_int), [1, 2, 3])
    # The same graph seed gives a new session the same draws.
    with tf1.Session(graph=g) as sess:
        sess.run(init)
        np.testing.assert_array_equal(sess.run(noise), n)
        del d


def test_variables_need_a_known_shape_and_a_graph_of_their_own():
    g, other = tf1.Graph(), tf1.Graph()
    with g.as_default():
        x = tf1.placeholder(gj.float32, [None])
        with pytest.raises(errors.InvalidArgumentError, match="fully defined"):
            tf1.Variable(x)
        v = tf1.Variable(1.0, name="v")
    eager = gj.Variable(2.0, name="eager_v")
    with other.as_default():
        with pytest.raises(errors.InvalidArgumentError, match=rf"'v:0'.* belongs to graph {g.name}, not to graph {other.name}"):
            _ = v * 2.0
        with pytest.raises(errors.InvalidArgumentError, match="global runtime"):
            _ = tf1.placeholder(gj.float32, []) + eager


def test_tensors_of_another_graph_or_trace_are_refused_naming_both_graphs():
    g1, g2 = tf1.Graph(name="first"), tf1.Graph(name="second")
    with g1.as_default():
        a = tf1.placeholder(gj.float32, [2])
    with g2.as_default():
        b = tf1.placeholder(gj.float32, [2])
        with pytest.raises(errors.InvalidArgumentError, match="belongs to graph first.*graph second"):
            _ = a + b


def test_graph_tensors_have_no_python_value():
    g = tf1.Graph()
    with g.as_default():
        x = tf1.placeholder(gj.float32, [])
    with pytest.raises(errors.OperatorNotAllowedInGraphError, match="sess.run"):
        bool(x)
    with pytest.raises(errors.OperatorNotAllowedInGraphError):
        np.asarray(x)
    d = {x: 1}  # hashable: a feed_dict key
    assert d[x] == 1


def test_gj_function_called_on_graph_tensors_is_inlined():
    @gj.function
    def affine(x, w):
        return gj.matmul(x, w) + 1.0

    g = tf1.Graph()
    with g.as_default():
        x = tf1.placeholder(gj.float32, [2, 3])
        w = tf1.placeholder(gj.float32, [3, 2])
        y = affine(x, w)
        partial = tf1.placeholder(gj.float32, [None, 3])
        with pytest.raises(errors.UnimplementedError, match="partly unknown shape"):
            affine(partial, w)
    assert y.graph is g and tuple(y.shape) == (2, 2)
    xv, wv = np.ones((2, 3), np.float32), np.arange(6, dtype=np.float32).reshape(3, 2)
    with tf1.Session(graph=g) as sess:
        np.testing.assert_allclose(sess.run(y, {x: xv, w: wv}), xv @ wv + 1.0)
    # The eager call still works (its trace is keyed apart from the graph one).
    np.testing.assert_allclose(affine(xv, wv).numpy(), xv @ wv + 1.0)


def test_disable_eager_execution_builds_into_the_default_graph():
    tf1.reset_default_graph()
    tf1.disable_eager_execution()
    try:
        assert not tf1.executing_eagerly()
        c = gj.constant(2.0)
        d = c * 3.0
        assert d.graph is tf1.get_default_graph()
        with tf1.Session() as sess:
            assert sess.run(d) == 6.0
    finally:
        tf1.enable_eager_execution()
    assert tf1.executing_eagerly()
    assert float(gj.constant(2.0) * 3.0) == 6.0


def test_placeholder_with_default_uses_its_input_unless_fed():
    g = tf1.Graph()
    with g.as_default():
        rate = tf1.placeholder_with_default(gj.constant(0.5), [], name="rate")
        y = rate * 4.0
    assert rate.name == "rate:0" and rate.dtype is gj.float32
    with tf1.Session(graph=g) as sess:
        assert sess.run(y) == 2.0
        assert sess.run(y, {rate: 0.25}) == 1.0
        with pytest.raises(errors.InvalidArgumentError, match="shape"):
            sess.run(y, {rate: [1.0, 2.0]})


def test_control_dependencies_order_ops_after_their_dependencies():
    g = tf1.Graph()
    with g.as_default():
        v = tf1.Variable(0.0, name="v")
        update = v.assign_add(1.0)
        with tf1.control_dependencies([update]):
            after = gj.identity(v * 10.0, name="after")
            with g.control_dependencies(None):
                plain = gj.identity(v * 10.0, name="plain")
    assert update.op in after.op.control_inputs and plain.op.control_inputs == []
    with tf1.Session(graph=g) as sess:
        sess.run(v.initializer)
        assert sess.run(after) == 10.0  # the update ran first
        assert sess.run(after) == 20.0
        assert sess.run(plain) == 20.0 and sess.run(v) == 2.0  # no update


def test_a_finalized_graph_refuses_new_ops():
    g = tf1.Graph()
    with g.as_default():
        x = tf1.placeholder(gj.float32, [2])
        y = x + 1.0
    g.finalize()
    assert g.finalized
    with pytest.raises(errors.FailedPreconditionError, match="finalized"):
        _ = x * 2.0
    with tf1.Session(graph=g) as sess:  # running is still fine
        assert sess.run(y, {x: [1.0, 2.0]}).tolist() == [2.0, 3.0]


def test_gj_function_using_global_variables_cannot_be_inlined_into_a_graph():
    w = gj.Variable(2.0, name="global_w")

    @gj.function
    def scale(x):
        return x * w

    g = tf1.Graph()
    with g.as_default():
        x = tf1.placeholder(gj.float32, [2])
        with pytest.raises(errors.InvalidArgumentError, match="'global_w' belongs to the global runtime"):
            scale(x)
