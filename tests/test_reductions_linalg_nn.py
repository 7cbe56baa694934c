"""Focused tests for reductions, linalg and nn: errors, NumPy interop, operators, node attributes and the
numerical edge cases whose expected values are easiest to state literally. Value cases over dtypes and
axes live in cases_reductions.py, cases_linalg.py and cases_nn.py (run by test_ops.py)."""
import os
import warnings

import numpy as np
import pytest

import graphjit as gj
from graphjit.errors import InvalidArgumentError, UnimplementedError
from graphjit.tracer.registry import API

THIS_FILE = os.path.basename(__file__)


def graph_of(fn, *args):
    return gj.function(fn).get_concrete_function(*args).graph


def nodes(graph, op):
    return [n for n in graph.nodes if n.op == op]


def raises(error, *fragments):
    """pytest.raises that also checks every message fragment."""
    class _Check:
        def __enter__(self):
            self.ctx = pytest.raises(error)
            self.info = self.ctx.__enter__()
            return self.info

        def __exit__(self, *exc):
            handled = self.ctx.__exit__(*exc)
            message = str(self.info.value)
            for fragment in fragments:
                assert fragment in message, f"{fragment!r} not in {message!r}"
            return handled
    return _Check()


# ---- reductions: errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize("fn, op", [(gj.reduce_max, "reduce_max"), (gj.reduce_min, "reduce_min"),
                                    (gj.argmax, "argmax"), (gj.argmin, "argmin")])
def test_reducing_an_empty_axis_without_identity_names_op_shape_and_axis(fn, op):
    x = gj.constant(np.zeros((0, 3), np.float32))
    with raises(InvalidArgumentError, op, "[0,3]", "axis 0", "empty"):
        fn(x, axis=0)


def test_empty_axis_error_is_reported_while_tracing_at_the_users_line():
    @gj.function
    def f(x):
        return gj.reduce_max(x, axis=1)
    with raises(InvalidArgumentError, "reduce_max", "[2,0]", "axis 1", THIS_FILE, "gj.reduce_max(x, axis=1)"):
        f.get_concrete_function(np.zeros((2, 0), np.float64))


def test_numpy_argmax_of_an_empty_tensor_raises():
    with raises(InvalidArgumentError, "argmax", "[0]"):
        np.argmax(gj.constant(np.zeros((0,), np.int32)))


@pytest.mark.parametrize("axis, fragment", [(3, "axis=3"), (-4, "axis=-4"), ((0, -2), "repeats"), ("x", "int")])
def test_bad_axis_names_the_op_and_the_users_line(axis, fragment):
    x = gj.constant(np.ones((2, 3), np.float32))
    with raises(InvalidArgumentError, "reduce_sum", fragment, THIS_FILE):
        gj.reduce_sum(x, axis=axis)


def test_logsumexp_rejects_bool_and_argmax_rejects_float_output_type():
    with raises(InvalidArgumentError, "reduce_logsumexp", "bool"):
        gj.reduce_logsumexp(gj.constant([True, False]))
    with raises(InvalidArgumentError, "argmax", "output_type", "float32"):
        gj.argmax(gj.constant([1.0, 2.0]), output_type=gj.float32)


def test_argmax_of_a_scalar_has_no_axis_0():
    with raises(InvalidArgumentError, "argmax", "rank 0"):
        gj.argmax(gj.constant(3.0))


@pytest.mark.parametrize("call, fragment", [(lambda t: np.sum(t, out=np.zeros(3)), "out="),
                                            (lambda t: np.max(t, initial=0.0), "initial="),
                                            (lambda t: np.mean(t, where=np.ones((2, 3), bool)), "where="),
                                            (lambda t: np.argmin(t, out=np.zeros(3, np.intp)), "out=")])
def test_numpy_only_arguments_are_unimplemented(call, fragment):
    with raises(UnimplementedError, fragment):
        call(gj.constant(np.ones((2, 3), np.float32)))


# ---- reductions: attributes, dtypes, numerics ------------------------------------------------------------

def test_node_attrs_are_normalised_sorted_non_negative_axes_and_a_bool():
    graph = graph_of(lambda x: gj.reduce_sum(x, axis=[-1, 0], keepdims=1), np.ones((2, 3, 4), np.float32))
    (node,) = nodes(graph, "reduce_sum")
    assert node.attr("axis") == (0, 2) and node.attr("keepdims") is True
    (node,) = nodes(graph_of(lambda x: gj.reduce_mean(x), np.ones((2, 3), np.int32)), "reduce_mean")
    assert node.attr("axis") == (0, 1) and node.type.dtype is gj.float64


def test_axis_may_be_a_numpy_integer_or_a_concrete_tensor():
    x = gj.constant(np.arange(6, dtype=np.int64).reshape(2, 3))
    np.testing.assert_array_equal(gj.reduce_sum(x, axis=np.int64(1)).numpy(), [3, 12])
    np.testing.assert_array_equal(gj.reduce_sum(x, axis=gj.constant([0, 1])).numpy(), 15)


def test_reductions_follow_numpy_dtypes_not_tf():
    ints = gj.constant(np.array([1, 2, 4], np.int32))
    assert gj.reduce_sum(ints).dtype is gj.int64           # TF: int32
    assert gj.reduce_mean(ints).numpy() == pytest.approx(7 / 3)  # TF: integer mean 2
    assert gj.reduce_sum(gj.constant([True, True, False])).numpy() == 2  # TF: rejects bool
    assert gj.reduce_max(ints).dtype is gj.int32
    assert gj.argmax(ints, output_type=gj.int32).dtype is gj.int32


def test_logsumexp_is_stable_and_handles_infinities_and_nan_without_warnings():
    x = gj.constant(np.array([[1e4, 1e4], [-np.inf, -np.inf], [np.inf, 0.0], [np.nan, 0.0], [-1e4, -np.inf]]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        eager = gj.reduce_logsumexp(x, axis=1).numpy()
        traced = gj.function(lambda t: gj.reduce_logsumexp(t, axis=1))(x).numpy()
    expected = [1e4 + np.log(2), -np.inf, np.inf, np.nan, -1e4]
    np.testing.assert_allclose(eager, expected, rtol=1e-12)
    np.testing.assert_array_equal(traced, eager)
    assert gj.reduce_logsumexp(gj.constant([1, 2], dtype=gj.int32)).dtype is gj.float64


def test_empty_reductions_give_the_identity_without_warnings():
    x = gj.constant(np.zeros((0, 2), np.float64))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(gj.reduce_mean(x).numpy())
        assert gj.reduce_prod(x).numpy() == 1.0 and gj.reduce_all(x).numpy() and not gj.reduce_any(x).numpy()
        assert gj.reduce_logsumexp(x).numpy() == -np.inf


# ---- NumPy interop ------------------------------------------------------------------------------------------

X = np.arange(1, 7, dtype=np.float32).reshape(2, 3)
NUMPY_CALLS = {
    "reduce_sum": lambda t: np.sum(t, axis=0), "reduce_mean": np.mean, "reduce_max": lambda t: np.max(t, 1),
    "reduce_min": lambda t: np.amin(t, axis=-1, keepdims=True), "reduce_prod": np.prod, "reduce_any": np.any,
    "reduce_all": lambda t: np.all(t, axis=(0, 1)), "argmax": lambda t: np.argmax(t, axis=1), "argmin": np.argmin,
    "matmul": lambda t: np.matmul(t, X.T), "tensordot": lambda t: np.tensordot(t, X, axes=([0, 1], [0, 1])),
}


@pytest.mark.parametrize("op", sorted(NUMPY_CALLS))
def test_numpy_function_on_a_tensor_returns_a_tensor_and_is_traced(op):
    call = NUMPY_CALLS[op]
    result = call(gj.constant(X))
    assert isinstance(result, gj.Tensor)
    np.testing.assert_allclose(result.numpy(), call(X), rtol=1e-6)
    assert nodes(graph_of(call, X), op), f"no {op} node in the traced graph"


def test_numpy_dot_picks_matmul_tensordot_or_multiply():
    a = np.arange(24.0).reshape(2, 3, 4)
    b = np.arange(24.0).reshape(3, 4, 2)
    assert nodes(graph_of(lambda x, y: np.dot(x, y), X, X.T), "matmul")
    assert nodes(graph_of(lambda x, y: np.dot(x, y), a, b), "tensordot")
    np.testing.assert_allclose(np.dot(gj.constant(a), gj.constant(b)).numpy(), np.dot(a, b), rtol=1e-12)
    np.testing.assert_allclose(np.dot(gj.constant(X), gj.constant(np.float32(2))).numpy(), X * 2)


@pytest.mark.skipif("cast" not in API, reason="gj.cast (another op family) is not registered yet")
def test_numpy_dtype_argument_sets_the_accumulator_and_result_dtype():
    ints = np.array([2 ** 31 - 1, 1], np.int32)
    assert np.sum(gj.constant(ints), dtype=np.int32).numpy() == np.sum(ints, dtype=np.int32)  # wraps as in NumPy
    result = np.mean(gj.constant(ints), dtype=np.float32)
    assert result.dtype is gj.float32 and result.numpy() == np.mean(ints, dtype=np.float32)


# ---- matmul and tensordot -------------------------------------------------------------------------------

def test_matmul_operator_eager_traced_and_reflected():
    a, b = X, X.T.copy()
    eager = gj.constant(a) @ gj.constant(b)
    traced = gj.function(lambda x, y: x @ y)(a, b)
    np.testing.assert_array_equal(eager.numpy(), a @ b)
    np.testing.assert_array_equal(traced.numpy(), eager.numpy())
    assert nodes(graph_of(lambda x, y: x @ y, a, b), "matmul")
    reflected = a @ gj.constant(b)  # ndarray.__matmul__ defers to the tensor through np.matmul
    assert isinstance(reflected, gj.Tensor)
    np.testing.assert_array_equal(reflected.numpy(), a @ b)
    from_list = [[1.0, 0.0, 0.0]] @ gj.constant(b)  # list has no @, so Tensor.__rmatmul__ runs
    np.testing.assert_array_equal(from_list.numpy(), [b[0]])


def test_matmul_inner_dimension_error_eager_and_traced_names_shapes_and_line():
    a, b = np.ones((2, 3)), np.ones((4, 5))
    with raises(InvalidArgumentError, "matmul", "inner dimensions differ", "a has shape [2,3]", "b has shape [4,5]"):
        gj.matmul(gj.constant(a), gj.constant(b))

    @gj.function
    def product(x, y):
        return x @ y
    with raises(InvalidArgumentError, "matmul", "inner dimensions differ", THIS_FILE, "return x @ y"):
        product(a, b)


@pytest.mark.parametrize("a_shape, b_shape, fragments", [
    ((), (3,), ("rank >= 1", "a has shape []")),
    ((2, 3, 4), (3, 4, 5), ("batch dimensions", "[2]", "[3]")),
    ((3,), (3, 2), ("transpose_a", "rank >= 2")),
])
def test_matmul_rank_and_batch_errors(a_shape, b_shape, fragments):
    kwargs = {"transpose_a": True} if "transpose_a" in fragments else {}
    with raises(InvalidArgumentError, "matmul", *fragments):
        gj.matmul(gj.constant(np.ones(a_shape)), gj.constant(np.ones(b_shape)), **kwargs)


def test_tensordot_attr_is_a_normalised_pair_and_errors_are_clear():
    a, b = np.ones((2, 3, 4)), np.ones((4, 3))
    (node,) = nodes(graph_of(lambda x, y: gj.tensordot(x, y, [[-1, 1], [0, -1]]), a, b), "tensordot")
    assert node.attr("axes") == ((2, 1), (0, 1)) and tuple(node.type.shape) == (2,)
    with raises(InvalidArgumentError, "tensordot", "contracted dimensions differ", "[2,3,4]", "[4,3]"):
        gj.tensordot(gj.constant(a), gj.constant(b), axes=([1], [0]))
    with raises(InvalidArgumentError, "tensordot", "axes=3", THIS_FILE):
        gj.tensordot(gj.constant(a), gj.constant(b), axes=3)
    with raises(InvalidArgumentError, "tensordot", "pair 2 axes of a with 1"):
        gj.tensordot(gj.constant(a), gj.constant(b), axes=([1, 2], [1]))


# ---- nn --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fn", [gj.nn.softmax, gj.nn.log_softmax, gj.nn.l2_loss])
@pytest.mark.parametrize("value", [np.array([1, 2], np.int32), np.array([True, False])])
def test_float_only_nn_ops_reject_ints_and_bools(fn, value):
    with raises(InvalidArgumentError, "float32 or float64", str(value.dtype)):
        fn(gj.constant(value))


def test_softmax_rows_with_infinities():
    x = gj.constant(np.array([[-np.inf, 0.0, 0.0], [-np.inf, -np.inf, -np.inf], [np.inf, 0.0, 1.0]], np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        probs = gj.nn.softmax(x).numpy()
        log_probs = gj.nn.log_softmax(x).numpy()
    np.testing.assert_array_equal(probs[0], [0.0, 0.5, 0.5])
    assert np.isnan(probs[1:]).all()  # all -inf, or +inf: NaN rows, as TF gives
    np.testing.assert_allclose(log_probs[0], [-np.inf, np.log(0.5), np.log(0.5)], rtol=1e-6)
    assert np.isnan(log_probs[1:]).all()


def test_softmax_axis_is_normalised():
    (node,) = nodes(graph_of(lambda x: gj.nn.softmax(x, axis=-2), np.ones((2, 3), np.float32)), "softmax")
    assert node.attr("axis") == 0
    with raises(InvalidArgumentError, "softmax", "axis=2", THIS_FILE):
        gj.math.softmax(gj.constant(np.ones((2, 3), np.float32)), axis=2)


def xent(labels, logits):
    return gj.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)


@pytest.mark.parametrize("labels, fragment", [([0, 5], "label 5 at index [1]"), ([-1, 0], "label -1 at index [0]")])
def test_cross_entropy_out_of_range_label_raises_eagerly(labels, fragment):
    logits = gj.constant(np.zeros((2, 3), np.float32))
    with raises(InvalidArgumentError, "sparse_softmax_cross_entropy_with_logits", fragment, "3 classes"):
        xent(gj.constant(np.array(labels, np.int32)), logits)


def test_cross_entropy_out_of_range_label_raises_when_the_traced_graph_runs():
    f = gj.function(xent)
    logits = np.zeros((2, 3), np.float64)
    assert f(np.array([0, 2], np.int64), logits).numpy() == pytest.approx([np.log(3)] * 2, rel=1e-12)
    with raises(InvalidArgumentError, "label 3", "3 classes", THIS_FILE):
        f(np.array([3, 0], np.int64), logits)
    assert f.experimental_get_tracing_count() == 1  # the check is at run time, on the same graph


@pytest.mark.parametrize("labels, logits, fragment", [
    (np.zeros(2, np.float32), np.zeros((2, 3), np.float32), "labels must be int32 or int64"),
    (np.zeros(2, np.int32), np.zeros((2, 3), np.int32), "float32 or float64"),
    (np.zeros(3, np.int32), np.zeros((2, 3), np.float32), "labels shape [3]"),
    (np.zeros((), np.int32), np.zeros((), np.float32), "rank >= 1"),
])
def test_cross_entropy_rule_errors(labels, logits, fragment):
    with raises(InvalidArgumentError, "sparse_softmax_cross_entropy_with_logits", fragment):
        xent(gj.constant(labels), gj.constant(logits))


def test_l2_loss_is_a_composite_with_the_input_dtype():
    graph = graph_of(gj.nn.l2_loss, np.ones((2, 2), np.float32))
    assert [n.op for n in graph.nodes if n.op not in ("input", "constant")] == ["square", "reduce_sum", "multiply"]
    assert graph.nodes[graph.outputs[0]].type == ((), gj.float32)
