"""Dtypes: the five supported types, conversion of Python/NumPy values, and promotion checked against NumPy 2."""
import itertools
import pickle

import numpy as np
import pytest

import graphjit as gj
from graphjit.errors import InvalidArgumentError
from graphjit.tracer import dtypes as gjd

from cases_elementwise import (ARITHMETIC, BITWISE, COMPARISONS, DTYPES, LOGICAL, UNARY_RESULT, binary_result,
                               promote)

GJ = {"bool": gj.bool, "int32": gj.int32, "int64": gj.int64, "float32": gj.float32, "float64": gj.float64}
SUPPORTED_NP = {np.dtype(d) for d in DTYPES}


def tensor_of(dtype, values=(1, 0, 3)):
    return gj.constant(np.array(values).astype(dtype))


def numpy_result_dtype(fn, *args):
    """What NumPy 2 itself gives: a dtype name, or None when NumPy raises or leaves graphjit's five."""
    try:
        with np.errstate(all="ignore"):
            out = np.asarray(fn(*args))
    except (TypeError, ValueError, OverflowError):
        return None
    return out.dtype.name if out.dtype in SUPPORTED_NP else None


# ---- the DType objects ---------------------------------------------------------------------------

def test_exactly_five_dtypes_with_their_properties():
    assert [d.name for d in gjd.ALL] == ["bool", "int32", "int64", "float32", "float64"]
    for name, d in GJ.items():
        assert d.name == name and d.np == np.dtype(name) and d.as_numpy_dtype is np.dtype(name).type
        assert d.itemsize == np.dtype(name).itemsize
        assert (d.is_bool, d.is_integer, d.is_floating) == (name == "bool", name.startswith("int"),
                                                            name.startswith("float"))
        assert repr(d) == f"gj.{name}"
        assert getattr(gj.dtypes, name) is d


@pytest.mark.parametrize("name", DTYPES)
def test_as_dtype_accepts_every_spelling(name):
    d = GJ[name]
    for spelling in (d, name, d.short, np.dtype(name), np.dtype(name).type):
        assert gj.as_dtype(spelling) is d, spelling
    assert pickle.loads(pickle.dumps(d)) is d


def test_python_types_as_dtypes_use_the_tf_defaults():
    assert gj.as_dtype(bool) is gj.bool
    assert gj.as_dtype(int) is gj.int32
    assert gj.as_dtype(float) is gj.float32


@pytest.mark.parametrize("bad", ["float16", np.float16, np.uint8, "uint8", np.int8, np.int16, np.uint32, np.uint64,
                                 np.complex64, complex, "complex128", str, "str", object, "object", "bogus", np.str_])
def test_as_dtype_rejects_unsupported_dtypes_naming_them(bad):
    with pytest.raises(InvalidArgumentError) as err:
        gj.as_dtype(bad)
    message = str(err.value)
    shown = bad if isinstance(bad, str) else getattr(bad, "__name__", str(bad))
    assert shown in message and "float32" in message  # names the culprit and what is supported


def test_dtype_equality_with_numpy_and_names():
    f32 = gj.float32
    assert f32 == gj.float32 and f32 == np.float32 and f32 == np.dtype("float32") and f32 == "float32"
    assert f32 == "f32"
    assert np.float32 == f32 and "float32" == f32  # reflected comparisons
    assert f32 != gj.float64 and f32 != np.float64 and f32 != "float64" and f32 != "int32"
    for other in (None, 3, "not a dtype", "float16", np.float16, object()):
        assert (f32 == other) is False and (f32 != other) is True
    assert gj.int64 == np.int64 and gj.bool == np.bool_ and gj.bool == bool
    assert len({gj.float32, gj.as_dtype("float32"), gj.as_dtype(np.float32)}) == 1


# ---- Python scalars, lists and NumPy values become tensors --------------------------------------

@pytest.mark.parametrize("value, expected", [
    (2.0, "float32"), (-0.0, "float32"), (1e30, "float32"), (float("nan"), "float32"),
    (2, "int32"), (0, "int32"), (2 ** 31 - 1, "int32"), (-(2 ** 31), "int32"),
    (2 ** 31, "int64"), (-(2 ** 31) - 1, "int64"), (2 ** 63 - 1, "int64"),
    (True, "bool"), (False, "bool"),
])
def test_python_scalars_get_the_tf_default_dtypes(value, expected):
    t = gj.constant(value)
    assert t.dtype == expected and t.shape == ()
    if expected != "float32" or value == value:
        assert t.numpy() == np.array(value).astype(expected)


@pytest.mark.parametrize("value, expected", [
    ([1.0, 2.0], "float32"), ([1, 2], "int32"), ([1, 2 ** 40], "int64"), ([True, False], "bool"),
    ([[1, 2], [3, 4.5]], "float32"), ([True, 2], "int32"), ([], "float32"), ([[1], [2]], "int32"),
])
def test_python_lists_get_the_tf_default_dtypes(value, expected):
    t = gj.constant(value)
    assert t.dtype == expected
    np.testing.assert_array_equal(t.numpy(), np.array(value, dtype=expected))


@pytest.mark.parametrize("dtype", DTYPES)
def test_numpy_arrays_and_scalars_keep_their_dtype(dtype):
    array = np.array([1, 0, 2]).astype(dtype)
    assert gj.constant(array).dtype == dtype
    assert gj.convert_to_tensor(array).dtype == dtype
    assert gj.constant(array[0]).dtype == dtype          # NumPy scalar
    assert gj.constant(np.array(array[0])).dtype == dtype  # 0-d array


@pytest.mark.parametrize("value, dtype_name", [
    (np.zeros(2, np.float16), "float16"), (np.zeros(2, np.uint8), "uint8"), (np.zeros(2, np.int8), "int8"),
    (np.zeros(2, np.int16), "int16"), (np.zeros(2, np.uint64), "uint64"), (np.zeros(2, np.complex128), "complex128"),
    (np.zeros(2, np.complex64), "complex64"), (np.array(["a", "b"]), "<U1"), (np.array([1, None]), "object"),
    (np.float16(1.5), "float16"), (np.uint8(3), "uint8"), ([2 ** 63], "uint64"),
])
def test_unsupported_numpy_dtypes_are_rejected_naming_the_dtype(value, dtype_name):
    for convert in (gj.constant, gj.convert_to_tensor):
        with pytest.raises(InvalidArgumentError, match=dtype_name):
            convert(value)


@pytest.mark.parametrize("value, mentions", [
    ("text", "str"), (1j, "complex"), (b"bytes", "bytes"), (None, "None"), (object(), "object"), ({1: 2}, "dict"),
])
def test_unsupported_python_values_are_rejected_naming_their_type(value, mentions):
    with pytest.raises(InvalidArgumentError, match=mentions):
        gj.constant(value)


@pytest.mark.parametrize("value", [["a", "b"], [1j, 2], [[1, 2], [3]], [2 ** 70]])
def test_unconvertible_lists_are_rejected(value):
    with pytest.raises(InvalidArgumentError):
        gj.constant(value)


def test_unsupported_dtype_arguments_are_rejected():
    for bad in (np.float16, "uint8", np.complex64):
        with pytest.raises(InvalidArgumentError, match="dtype"):
            gj.constant([1.0], dtype=bad)
        with pytest.raises(InvalidArgumentError, match="dtype"):
            gj.convert_to_tensor([1.0], dtype=bad)


# ---- promotion between tensors: NumPy 2 exactly --------------------------------------------------

def test_promotion_table_is_numpy_result_type():
    for a, b in itertools.product(DTYPES, repeat=2):
        expected = np.result_type(np.dtype(a), np.dtype(b)).name
        assert promote(a, b) == expected, (a, b)
        assert gjd.result_type(GJ[a], GJ[b]) is GJ[expected], (a, b)
    assert gjd.result_type(gj.int32, gj.bool, gj.float32) is gj.float64  # several operands


BINARY_NUMPY = {
    "add": np.add, "subtract": np.subtract, "multiply": np.multiply, "divide": np.true_divide,
    "floordiv": np.floor_divide, "mod": np.mod, "pow": np.power, "maximum": np.maximum, "minimum": np.minimum,
    "equal": np.equal, "not_equal": np.not_equal, "less": np.less, "less_equal": np.less_equal,
    "greater": np.greater, "greater_equal": np.greater_equal, "logical_and": np.logical_and,
    "logical_or": np.logical_or, "logical_xor": np.logical_xor, "bitwise_and": np.bitwise_and,
    "bitwise_or": np.bitwise_or, "bitwise_xor": np.bitwise_xor,
}
assert set(BINARY_NUMPY) == set(ARITHMETIC + COMPARISONS + LOGICAL + BITWISE)


def gj_binary(op):
    return gj.tracer.registry.API[{"floordiv": "math.floordiv", "mod": "math.mod",
                                   "bitwise_and": "bitwise.bitwise_and", "bitwise_or": "bitwise.bitwise_or",
                                   "bitwise_xor": "bitwise.bitwise_xor"}.get(op, op)]


def gj_result_dtype(fn, *args):
    try:
        return fn(*args).dtype.name
    except InvalidArgumentError:
        return None


@pytest.mark.parametrize("op", sorted(BINARY_NUMPY))
def test_binary_result_dtypes_match_numpy_for_every_dtype_pair(op):
    """The written-down table, NumPy on arrays, and graphjit (eager and traced) agree on all 25 pairs."""
    fn = gj_binary(op)
    traced = gj.function(lambda x, y: fn(x, y))
    for a, b in itertools.product(DTYPES, repeat=2):
        x, y = np.array([1, 2]).astype(a), np.array([2, 1]).astype(b)
        expected = binary_result(op, a, b)
        assert numpy_result_dtype(BINARY_NUMPY[op], x, y) == expected, (op, a, b)
        assert gj_result_dtype(fn, gj.constant(x), gj.constant(y)) == expected, (op, a, b)
        if expected is None:
            with pytest.raises(InvalidArgumentError, match=op):
                traced(x, y)
        else:
            assert traced(x, y).dtype == expected, (op, a, b)


UNARY_NUMPY = {
    "negative": np.negative, "abs": np.abs, "sign": np.sign, "exp": np.exp, "expm1": np.expm1, "log": np.log,
    "log1p": np.log1p, "sqrt": np.sqrt, "rsqrt": np.sqrt, "sin": np.sin, "cos": np.cos, "tan": np.tan,
    "tanh": np.tanh, "sigmoid": np.exp, "softplus": np.exp, "erf": np.exp, "square": np.square, "reciprocal": np.reciprocal,
    "floor": np.floor, "ceil": np.ceil, "round": np.rint, "relu": np.negative, "logical_not": np.logical_not,
    "isnan": np.isnan, "isinf": np.isinf, "isfinite": np.isfinite, "invert": np.invert,
}
# Ops graphjit rejects for bool although NumPy 2 has a bool loop (a deliberate choice, as in TF).
BOOL_REJECTED_BY_CHOICE = {"floor", "ceil"}
# Ops whose result graphjit defines differently from the NumPy ufunc named above: round keeps ints
# (np.round, not np.rint, which gives float64 for ints).
INT_KEPT = {"round"}


@pytest.mark.parametrize("op", sorted(UNARY_RESULT))
def test_unary_result_dtype_table_matches_numpy(op):
    """The table (each op's accepted dtypes and results) against NumPy's own result dtype for the op."""
    for d in DTYPES:
        expected = UNARY_RESULT[op][d]
        numpy_says = numpy_result_dtype(UNARY_NUMPY[op], np.array([1, 0]).astype(d))
        if d == "bool" and op in BOOL_REJECTED_BY_CHOICE:
            assert numpy_says == "bool" and expected is None
        elif op in INT_KEPT and d.startswith("int"):
            assert numpy_says == "float64" and expected == d
        else:
            assert numpy_says == expected, (op, d)


@pytest.mark.parametrize("op", sorted(UNARY_RESULT))
def test_unary_ops_reject_what_the_table_rejects_eagerly_and_traced(op):
    from cases_elementwise import UNARY
    fn = UNARY[op][0]
    traced = gj.function(lambda x: fn(x))
    for d in DTYPES:
        x = np.array([1, 0]).astype(d)
        expected = UNARY_RESULT[op][d]
        if expected is None:
            with pytest.raises(InvalidArgumentError, match=d):
                fn(gj.constant(x))
            with pytest.raises(InvalidArgumentError, match=d):
                traced(x)
        else:
            assert fn(gj.constant(x)).dtype == expected
            assert traced(x).dtype == expected


# ---- Python scalars are weak (NEP 50) ------------------------------------------------------------

SCALARS = [True, False, 3, -3, 0, 2.5, -0.5, 0.0, float("inf"), float("nan")]


@pytest.mark.parametrize("op", sorted(BINARY_NUMPY))
def test_python_scalars_promote_like_numpy_2(op):
    """Every dtype x every Python scalar kind x both sides: graphjit's dtype and values are NumPy's."""
    fn, np_fn = gj_binary(op), BINARY_NUMPY[op]
    checked = 0
    for d in DTYPES:
        x = np.array([1, 0, 3, -2]).astype(d)
        for s in SCALARS:
            for args in ((x, s), (s, x)):
                expected = numpy_result_dtype(np_fn, *args)
                try:
                    with np.errstate(all="ignore"):
                        got = fn(*(gj.constant(a) if isinstance(a, np.ndarray) else a for a in args))
                except InvalidArgumentError:
                    got = None
                if op == "pow" and expected is None and got is None:
                    continue
                assert (None if got is None else got.dtype.name) == expected, (op, d, s, args[0] is s)
                if got is not None:
                    with np.errstate(all="ignore"):
                        np.testing.assert_array_equal(got.numpy(), np_fn(*args), err_msg=f"{op} {d} {s!r}")
                checked += 1
    assert checked >= 80  # 100 combinations; only pow skips the ones both sides reject


@pytest.mark.parametrize("d", DTYPES)
@pytest.mark.parametrize("scalar", [True, 7, 2.5])
def test_weak_result_matches_numpy_for_each_scalar_kind(d, scalar):
    expected = (np.array([1]).astype(d) + scalar).dtype.name
    assert gjd.weak_result(GJ[d], scalar) is GJ[expected]
    assert (tensor_of(d) + scalar).dtype == expected
    assert (scalar + tensor_of(d)).dtype == expected


def test_spec_examples_of_weak_scalars():
    f32, i32 = gj.constant([1.5, 2.0]), gj.constant([1, 2])
    assert (f32 * 2.0).dtype == gj.float32
    assert (i32 + 1).dtype == gj.int32
    assert (i32 * 2.0).dtype == gj.float64 and (i32 * 2.0).numpy().tolist() == [2.0, 4.0]
    assert (2.0 * i32).dtype == gj.float64
    assert (f32 + 2 ** 40).dtype == gj.float32
    assert (gj.constant([1], dtype=gj.int64) + 2 ** 40).numpy().tolist() == [2 ** 40 + 1]
    assert (gj.constant([True]) + 1).dtype == gj.int64  # NumPy: bool with a Python int is the default int


@pytest.mark.parametrize("big", [2 ** 40, -(2 ** 40), 2 ** 31, 2 ** 70])
def test_out_of_range_python_int_with_int32_tensor_raises(big):
    i32 = gj.constant([1, 2])
    with pytest.raises(InvalidArgumentError, match=str(abs(big))):
        i32 + big
    with pytest.raises(InvalidArgumentError, match="int32"):
        gj.add(big, i32)
    with pytest.raises(InvalidArgumentError, match="int32"):
        gj.function(lambda x: x + big)(np.int32([1]))
    if abs(big) < 2 ** 63:
        assert (gj.constant([1], dtype=gj.int64) - big).dtype == gj.int64


def test_numpy_scalars_and_0d_arrays_are_strong():
    f32 = gj.constant([1.5])
    assert (f32 * np.float64(2.0)).dtype == gj.float64  # NumPy 2: NumPy scalars are not weak
    assert (f32 * np.float32(2.0)).dtype == gj.float32
    assert (f32 * np.array(2.0)).dtype == gj.float64
    assert (gj.constant([1]) + np.int64(1)).dtype == gj.int64
    assert (gj.constant([1]) + np.float64(1)).dtype == gj.float64
    assert (np.float64(2.0) * f32).dtype == gj.float64


def test_only_python_scalars_use_the_defaults():
    assert gj.add(1, 2).dtype == gj.int32
    assert gj.add(1, 2.0).dtype == gj.float32
    assert gj.add(True, 2).dtype == gj.int32
    assert gj.add(True, True).dtype == gj.bool
    assert gj.add(2 ** 40, 1).dtype == gj.int64 and int(gj.add(2 ** 40, 1)) == 2 ** 40 + 1
    assert gj.multiply(0.5, 3).numpy() == np.float32(1.5)


def test_promotion_inside_a_traced_function_matches_eager():
    @gj.function
    def f(i32, f32, b):
        return i32 * 2.0, f32 * 2, i32 + b, b + 1, f32 + i32, i32 // 2

    results = f(np.int32([3]), np.float32([1.5]), np.array([True]))
    assert [r.dtype.name for r in results] == ["float64", "float32", "int32", "int64", "float64", "int32"]
    graph = str(f.get_concrete_function(np.int32([3]), np.float32([1.5]), np.array([True])).graph)
    assert "f64[1] = multiply" in graph and "f32[1] = multiply" in graph
