"""The Tensor API: construction, shape/dtype, conversion to Python and NumPy, operators, and what symbolic
tensors refuse to do while tracing."""
import inspect
import os

import numpy as np
import pytest

import graphjit as gj
from graphjit.errors import InvalidArgumentError, OperatorNotAllowedInGraphError, TracingError
from graphjit.tracer.tensor import EagerTensor, SymbolicTensor

THIS_FILE = os.path.basename(__file__)


def line_of(marker):
    """The line number in this file of the line containing ``marker``."""
    with open(__file__) as source:
        lines = source.read().splitlines()
    for number, text in enumerate(lines, start=1):
        if marker in text and "line_of(" not in text:
            return number
    raise AssertionError(marker)


# ---- construction --------------------------------------------------------------------------------

def test_constant_from_python_values():
    t = gj.constant([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert isinstance(t, gj.Tensor) and isinstance(t, EagerTensor)
    assert t.dtype == gj.float32 and t.shape == (2, 3)
    np.testing.assert_array_equal(t.numpy(), np.float32([[1, 2, 3], [4, 5, 6]]))
    assert gj.constant(7).numpy() == 7 and gj.constant(7).shape == ()


def test_constant_with_dtype_and_shape():
    assert gj.constant([1, 2], dtype=gj.float64).numpy().dtype == np.float64
    assert gj.constant([0.1], dtype=gj.float64).numpy()[0] == 0.1  # not rounded through float32 first
    assert gj.constant(3, dtype="float32").dtype == gj.float32
    np.testing.assert_array_equal(gj.constant(0.5, shape=(2, 2)).numpy(), np.full((2, 2), 0.5, np.float32))
    np.testing.assert_array_equal(gj.constant([1, 2, 3, 4], shape=[2, 2]).numpy(), [[1, 2], [3, 4]])
    with pytest.raises(InvalidArgumentError, match="shape"):
        gj.constant([1, 2, 3], shape=(2, 2))
    t = gj.constant([1, 2])
    assert gj.constant(t, dtype=gj.float32).dtype == gj.float32  # constant may cast a tensor


@pytest.mark.parametrize("value, dtype, message", [
    (1.5, gj.int32, "1.5"), ([1.5, 2.0], gj.int32, "int32"), (2 ** 40, gj.int32, "int32"),
    ([1, 2 ** 40], gj.int32, "int32"), (float("nan"), gj.int64, "int64"), ([0.5], gj.bool, "bool"),
    (float("inf"), gj.int32, "int32"),
])
def test_lossy_python_values_with_an_integer_dtype_are_rejected(value, dtype, message):
    with pytest.raises(InvalidArgumentError, match=message):
        gj.convert_to_tensor(value, dtype=dtype)


def test_convert_to_tensor_accepts_lists_arrays_scalars_and_tensors():
    nested = gj.convert_to_tensor([[1, 2], [3, 4]])
    assert nested.dtype == gj.int32 and nested.shape == (2, 2)
    array = np.arange(6, dtype=np.float64).reshape(2, 3)
    from_array = gj.convert_to_tensor(array)
    assert from_array.dtype == gj.float64 and from_array.shape == (2, 3)
    array[0, 0] = 100.0  # the tensor took a copy
    assert from_array.numpy()[0, 0] == 0.0
    assert gj.convert_to_tensor(np.float32(2.5)).dtype == gj.float32
    assert gj.convert_to_tensor(np.int64(3)).numpy() == 3
    assert gj.convert_to_tensor((1.0, 2.0)).shape == (2,)
    t = gj.constant([1.0])
    assert gj.convert_to_tensor(t) is t
    assert gj.convert_to_tensor(t, dtype=gj.float32) is t
    assert gj.convert_to_tensor(t, dtype="float32") is t


def test_convert_to_tensor_with_dtype():
    assert gj.convert_to_tensor([1, 2], dtype=gj.float64).dtype == gj.float64
    assert gj.convert_to_tensor(1, dtype=gj.float32).dtype == gj.float32
    assert gj.convert_to_tensor(True, dtype=np.int64).numpy() == 1
    assert gj.convert_to_tensor(np.int32([1, 2]), dtype=gj.int64).dtype == gj.int64


@pytest.mark.parametrize("dtype", [gj.float64, gj.int32, "int64", np.bool_])
def test_convert_to_tensor_refuses_to_recast_an_existing_tensor(dtype):
    t = gj.constant([1.0, 2.0])
    with pytest.raises(InvalidArgumentError, match="float32"):
        gj.convert_to_tensor(t, dtype=dtype)


# ---- shape, dtype, ndim, repr ----------------------------------------------------------------------

def test_shape_is_a_tensor_shape_tuple():
    t = gj.constant(np.zeros((2, 3, 4), np.float32))
    assert isinstance(t.shape, gj.TensorShape) and isinstance(t.shape, tuple)
    assert t.shape == (2, 3, 4) and t.shape.as_list() == [2, 3, 4] and t.shape[1] == 3
    assert t.ndim == 3 and t.shape.rank == 3 and t.get_shape() == t.shape
    assert gj.constant(1.0).shape == () and gj.constant(1.0).ndim == 0
    assert gj.constant(np.zeros((0, 5))).shape.as_list() == [0, 5]


@pytest.mark.parametrize("name", ["bool", "int32", "int64", "float32", "float64"])
def test_dtype_compares_equal_to_graphjit_numpy_and_name(name):
    t = gj.constant(np.zeros(2, dtype=name))
    assert t.dtype == getattr(gj, name) and t.dtype is gj.as_dtype(name)
    assert t.dtype == np.dtype(name).type and t.dtype == np.dtype(name) and t.dtype == name
    others = {"bool", "int32", "int64", "float32", "float64"} - {name}
    assert all(t.dtype != other for other in others)


def test_repr_and_str_show_the_values():
    t = gj.constant([1.5, -2.0])
    text = repr(t)
    assert "1.5" in text and "-2." in text and "float32" in text and "(2,)" in text
    assert "1.5" in str(t)
    assert "7" in repr(gj.constant(7)) and "int32" in repr(gj.constant(7))


# ---- conversion to NumPy and Python ---------------------------------------------------------------

def test_numpy_returns_a_copy():
    t = gj.constant([1.0, 2.0])
    a = t.numpy()
    assert isinstance(a, np.ndarray) and a.dtype == np.float32
    a[0] = 99.0
    assert t.numpy()[0] == 1.0
    b = t.numpy()
    assert b is not a and not np.shares_memory(a, b)


def test_numpy_of_a_0d_tensor_is_a_numpy_scalar():
    value = gj.constant(2.5).numpy()
    assert isinstance(value, np.float32) and value == 2.5
    assert isinstance(gj.constant(True).numpy(), np.bool_)


def test_np_asarray_and_np_array():
    t = gj.constant([[1, 2], [3, 4]])
    a = np.asarray(t)
    assert isinstance(a, np.ndarray) and a.dtype == np.int32 and a.tolist() == [[1, 2], [3, 4]]
    with pytest.raises(ValueError):
        a[0, 0] = 5  # read-only: writing through it would change the immutable tensor
    assert t.numpy()[0, 0] == 1
    b = np.array(t)
    b[0, 0] = 5  # np.array copies
    assert t.numpy()[0, 0] == 1
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    assert np.asarray(gj.constant(3.0)).shape == ()


def test_len_and_errors_for_0d():
    assert len(gj.constant([[1, 2, 3], [4, 5, 6]])) == 2
    assert len(gj.constant(np.zeros((0, 3)))) == 0
    with pytest.raises(TypeError, match="0-d"):
        len(gj.constant(1.0))
    with pytest.raises(TypeError, match="0-d"):
        iter(gj.constant(1.0)).__next__()


def test_iteration_over_the_first_axis():
    if not hasattr(gj.Tensor, "__getitem__"):
        pytest.skip("indexing ops (another family) are not registered yet")
    rows = list(gj.constant([[1, 2], [3, 4], [5, 6]]))
    assert len(rows) == 3 and all(isinstance(r, gj.Tensor) for r in rows)
    assert [r.numpy().tolist() for r in rows] == [[1, 2], [3, 4], [5, 6]]
    assert [float(v) for v in gj.constant([0.5, 1.5])] == [0.5, 1.5]


def test_python_scalars_from_single_element_tensors():
    assert bool(gj.constant(True)) is True and bool(gj.constant([0.0])) is False
    assert float(gj.constant([[2.5]])) == 2.5 and isinstance(float(gj.constant(2)), float)
    assert int(gj.constant(3.7)) == 3 and int(gj.constant([-3.7])) == -3
    assert int(gj.constant(2 ** 40)) == 2 ** 40
    assert [10, 20, 30][gj.constant(1)] == 20  # __index__
    if gj.constant(0.0) > 1.0:
        pytest.fail("eager comparisons are usable as Python bools")


@pytest.mark.parametrize("convert", [bool, float, int])
def test_python_scalars_from_multi_element_tensors_raise_clearly(convert):
    with pytest.raises(TypeError, match=r"one element.*shape=\(2,\)"):
        convert(gj.constant([1.0, 2.0]))
    with pytest.raises(TypeError, match="one element"):
        convert(gj.constant(np.zeros((0,))))


def test_index_requires_an_integer_scalar():
    with pytest.raises(TypeError, match="integer"):
        [1, 2][gj.constant(1.0)]
    with pytest.raises(TypeError):
        [1, 2][gj.constant([1])]


# ---- hashing ---------------------------------------------------------------------------------------

def test_tensors_are_unhashable_and_ref_is_hashable():
    t, u = gj.constant([1.0]), gj.constant([1.0])
    with pytest.raises(TypeError, match="unhashable"):
        hash(t)
    with pytest.raises(TypeError):
        {t: 1}
    table = {t.ref(): "t", u.ref(): "u"}
    assert table[t.ref()] == "t" and table[u.ref()] == "u" and len(table) == 2
    assert t.ref() == t.ref() and t.ref() != u.ref() and t.ref().deref() is t


# ---- operators ---------------------------------------------------------------------------------------

def test_arithmetic_operators_and_reflected_forms():
    t = gj.constant([1.0, 2.0, 4.0])
    cases = {
        "t + 1": (t + 1, [2, 3, 5]), "1 + t": (1 + t, [2, 3, 5]), "t - 1": (t - 1, [0, 1, 3]),
        "2 - t": (2 - t, [1, 0, -2]), "t * 3": (t * 3, [3, 6, 12]), "3 * t": (3 * t, [3, 6, 12]),
        "t / 2": (t / 2, [0.5, 1, 2]), "2 / t": (2 / t, [2, 1, 0.5]), "t // 3": (t // 3, [0, 0, 1]),
        "5 // t": (5 // t, [5, 2, 1]), "t % 3": (t % 3, [1, 2, 1]), "5 % t": (5 % t, [0, 1, 1]),
        "t ** 2": (t ** 2, [1, 4, 16]), "2.0 ** t": (2.0 ** t, [2, 4, 16]), "-t": (-t, [-1, -2, -4]),
        "abs(-t)": (abs(-t), [1, 2, 4]), "t + t": (t + t, [2, 4, 8]), "t * t": (t * t, [1, 4, 16]),
    }
    for label, (result, expected) in cases.items():
        assert isinstance(result, gj.Tensor), label
        assert result.dtype == gj.float32, label
        np.testing.assert_array_equal(result.numpy(), np.float32(expected), err_msg=label)


def test_operators_with_numpy_arrays_on_either_side():
    t = gj.constant([1.0, 2.0])
    a = np.array([10.0, 20.0])
    for result, expected in [(t + a, [11, 22]), (a + t, [11, 22]), (a - t, [9, 18]), (t - a, [-9, -18]),
                             (a * t, [10, 40]), (a / t, [10, 10]), (a ** t, [10, 400])]:
        assert isinstance(result, gj.Tensor) and result.dtype == gj.float64
        np.testing.assert_array_equal(result.numpy(), expected)
    assert (np.float32([1, 1]) + t).dtype == gj.float32


def test_comparison_operators():
    t = gj.constant([1, 2, 3])
    for result, expected in [(t < 2, [True, False, False]), (t <= 2, [True, True, False]),
                             (t > 2, [False, False, True]), (t >= 2, [False, True, True]),
                             (t == 2, [False, True, False]), (t != 2, [True, False, True]),
                             (2 < t, [False, False, True]), (2.5 > t, [True, True, False]),
                             (t == [1, 0, 3], [True, False, True]), (t == t, [True, True, True])]:
        assert isinstance(result, gj.Tensor) and result.dtype == gj.bool
        assert result.numpy().tolist() == expected


def test_comparison_with_none_and_strings():
    t = gj.constant([1.0, 2.0])
    assert (t == None) is False  # noqa: E711
    assert (t != None) is True  # noqa: E711
    assert (None == t) is False and (None != t) is True  # noqa: E711
    assert (t == "text") is False and (t != "text") is True
    with pytest.raises(TypeError):
        t < None  # noqa: B015
    with pytest.raises(TypeError):
        t + None  # noqa: B018
    assert t not in [None, "x"]


def test_bitwise_operators_on_bool_and_int():
    b, c = gj.constant([True, True, False, False]), gj.constant([True, False, True, False])
    assert (b & c).numpy().tolist() == [True, False, False, False]
    assert (b | c).numpy().tolist() == [True, True, True, False]
    assert (b ^ c).numpy().tolist() == [False, True, True, False]
    assert (~b).numpy().tolist() == [False, False, True, True] and (~b).dtype == gj.bool
    i = gj.constant([12, -1, 0])
    assert (i & 10).numpy().tolist() == [8, 10, 0] and (10 & i).dtype == gj.int32
    assert (i | 3).numpy().tolist() == [15, -1, 3]
    assert (5 ^ i).numpy().tolist() == [9, -6, 5]
    assert (~i).numpy().tolist() == [-13, 0, -1]
    assert (b & 1).dtype == gj.int64  # bool with a Python int: NumPy's default int


@pytest.mark.parametrize("expr, names", [
    (lambda f, i: f & f, "float32"), (lambda f, i: f | i, "float32"), (lambda f, i: i ^ 1.5, "float64"),
    (lambda f, i: ~f, "float32"), (lambda f, i: 1 & f, "float32"), (lambda f, i: f ^ True, "float32"),
])
def test_bitwise_operators_reject_floats_naming_the_dtypes(expr, names):
    f, i = gj.constant([1.0, 2.0]), gj.constant([1, 2])
    with pytest.raises(InvalidArgumentError, match=names):
        expr(f, i)
    with pytest.raises(InvalidArgumentError, match=names):
        gj.function(expr)(np.float32([1.0, 2.0]), np.int32([1, 2]))


def test_in_place_operators_make_new_tensors():
    t = gj.constant([1, 2])
    original = t
    t += 1
    assert t is not original and original.numpy().tolist() == [1, 2] and t.numpy().tolist() == [2, 3]


# ---- symbolic tensors inside gj.function -------------------------------------------------------------

def test_python_if_on_a_symbolic_tensor_raises_with_the_users_line():
    @gj.function(autograph=False)   # (with AutoGraph, this if stages a gj.cond: tests/test_autograph.py)
    def f(x):
        if x > 0:  # MARK-if
            return x
        return -x

    with pytest.raises(OperatorNotAllowedInGraphError) as err:
        f(gj.constant(1.0))
    message = str(err.value)
    assert f"{THIS_FILE}:{line_of('# MARK-if')}" in message
    assert "gj.where" in message  # suggests an alternative
    assert isinstance(err.value, TracingError) and isinstance(err.value, TypeError)


@pytest.mark.parametrize("action, marker", [
    (lambda x: float(x), "float"), (lambda x: int(x), "int"), (lambda x: x.numpy(), "numpy"),
    (lambda x: bool(x), "bool"), (lambda x: np.asarray(x), "NumPy array"),
    (lambda x: [1, 2][x], "index"), (lambda x: x if x else -x, "bool"),
])
def test_symbolic_tensors_refuse_python_values(action, marker):
    traced = gj.function(action)
    with pytest.raises(OperatorNotAllowedInGraphError, match=marker) as err:
        traced(np.int32(1))
    assert THIS_FILE in str(err.value)


def test_symbolic_tensor_properties_work_while_tracing():
    seen = {}

    @gj.function
    def f(x):
        seen["type"] = type(x)
        seen["shape"], seen["dtype"], seen["ndim"], seen["len"] = x.shape, x.dtype, x.ndim, len(x)
        seen["repr"] = repr(x)
        seen["none"] = (x == None, x != None)  # noqa: E711
        with pytest.raises(TypeError):
            hash(x)
        seen["ref"] = {x.ref(): 1}[x.ref()]
        return x * 2.0

    result = f(np.float32([[1, 2, 3], [4, 5, 6]]))
    assert seen["type"] is SymbolicTensor
    assert seen["shape"] == (2, 3) and isinstance(seen["shape"], gj.TensorShape)
    assert seen["dtype"] == gj.float32 and seen["dtype"] == np.float32 and seen["dtype"] == "float32"
    assert seen["ndim"] == 2 and seen["len"] == 2
    assert "symbolic" in seen["repr"] and "float32" in seen["repr"]
    assert seen["none"] == (False, True) and seen["ref"] == 1
    assert isinstance(result, EagerTensor) and result.numpy().tolist() == [[2, 4, 6], [8, 10, 12]]


def test_symbolic_tensor_used_after_its_trace_is_rejected():
    leaked = []

    @gj.function
    def f(x):
        leaked.append(x)
        return x + 1

    f(np.float32([1.0]))
    with pytest.raises(TracingError, match="symbolic"):
        leaked[0] + 1


def test_operators_inside_a_trace_record_the_ops():
    @gj.function
    def f(x, y):
        return (x + y, x - 1, 2 * x, x / y, x // y, x % y, x ** 2, -x, abs(x), x < y, x >= 1, x == y,
                x != y, (x > 0) & (y > 0), ~(x > y))

    x, y = np.float32([1.0, 5.0]), np.float32([2.0, 3.0])
    graph = str(f.get_concrete_function(x, y).graph)
    for op in ("add", "subtract", "multiply", "divide", "floordiv", "mod", "pow", "negative", "abs", "less",
               "greater_equal", "equal", "not_equal", "greater", "bitwise_and", "invert"):
        assert f" = {op} " in graph, op
    eager = [fn.numpy() for fn in f.python_function(gj.constant(x), gj.constant(y))]
    traced = [r.numpy() for r in f(x, y)]
    for e, t in zip(eager, traced):
        np.testing.assert_array_equal(e, t)


def test_error_lines_point_at_the_caller():
    @gj.function
    def f(x):
        return x & x  # MARK-and

    with pytest.raises(InvalidArgumentError) as err:
        f(np.float32([1.0]))
    assert f"{THIS_FILE}:{line_of('# MARK-and')}" in str(err.value)
    assert inspect.getsource(f.python_function)  # the function is an ordinary Python function
