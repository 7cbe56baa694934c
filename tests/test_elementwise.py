"""Elementwise ops beyond the value cases: coverage of the case table, public names, sign rules of
floordiv/mod, division by zero, numerical stability, warnings, rejected dtypes and broadcasting errors.

The value cases themselves (every op over every accepted dtype, edge values, against independent
references) are in ``cases_elementwise.py`` and run by ``test_ops.py``.
"""
import inspect
import warnings

import numpy as np
import pytest

import graphjit as gj
from graphjit.errors import InvalidArgumentError
from graphjit.tracer.registry import API, OPS

from cases_elementwise import (BINARY_OPS, CASES, COVERED, DTYPES, ELEMENTWISE_OPS, UNARY_RESULT, binary_result)

INT32_MIN, INT64_MIN = np.iinfo(np.int32).min, np.iinfo(np.int64).min


def graph_ops(fn, *args):
    """The op names (other than inputs and constants) in the graph of ``gj.function(fn)`` for ``args``."""
    graph = gj.function(fn).get_concrete_function(*args).graph
    return [n.op for n in graph.nodes if n.op not in ("input", "constant")]


def both_ways(fn, *args):
    """``fn`` run eagerly on tensors and traced on arrays; both results as NumPy values."""
    eager = fn(*(gj.constant(a) if isinstance(a, np.ndarray) else a for a in args))
    traced = gj.function(fn)(*args)
    return eager.numpy(), traced.numpy()


# ---- the case table covers every op and dtype ------------------------------------------------------

def test_every_elementwise_op_is_registered_and_has_cases():
    assert set(ELEMENTWISE_OPS) <= set(OPS)
    with_cases = {op for case in CASES for op in case.ops}
    assert set(ELEMENTWISE_OPS) <= with_cases, set(ELEMENTWISE_OPS) - with_cases


def test_every_accepted_dtype_of_every_op_has_a_case():
    missing = []
    for op, table in UNARY_RESULT.items():
        missing += [(op, (d,)) for d, out in table.items() if out is not None and (op, (d,)) not in COVERED]
    for op in BINARY_OPS:
        missing += [(op, (d, d)) for d in DTYPES if binary_result(op, d, d) is not None and (op, (d, d)) not in COVERED]
    missing += [("where", (d, d)) for d in DTYPES if ("where", (d, d)) not in COVERED]
    missing += [("clip", (d,)) for d in DTYPES if ("clip", (d,)) not in COVERED]
    assert not missing, missing


def test_case_names_are_unique():
    names = [c.id for c in CASES]
    assert len(names) == len(set(names))


# Every public name of the elementwise family and the op it records.
PUBLIC = {
    "negative": "negative", "math.negative": "negative", "abs": "abs", "math.abs": "abs", "sign": "sign",
    "math.sign": "sign", "exp": "exp", "math.exp": "exp", "expm1": "expm1", "math.expm1": "expm1", "log": "log",
    "math.log": "log", "log1p": "log1p", "math.log1p": "log1p", "sqrt": "sqrt", "math.sqrt": "sqrt",
    "rsqrt": "rsqrt", "math.rsqrt": "rsqrt", "square": "square", "math.square": "square",
    "reciprocal": "reciprocal", "math.reciprocal": "reciprocal", "sin": "sin", "math.sin": "sin", "cos": "cos",
    "math.cos": "cos", "tan": "tan", "math.tan": "tan", "tanh": "tanh", "math.tanh": "tanh",
    "sigmoid": "sigmoid", "math.sigmoid": "sigmoid", "nn.sigmoid": "sigmoid", "nn.relu": "relu",
    "math.softplus": "softplus", "nn.softplus": "softplus", "math.erf": "erf", "floor": "floor", "math.floor": "floor",
    "ceil": "ceil", "math.ceil": "ceil", "round": "round", "math.round": "round",
    "logical_not": "logical_not", "math.logical_not": "logical_not", "math.is_nan": "isnan",
    "math.isnan": "isnan", "math.is_inf": "isinf", "math.isinf": "isinf", "math.is_finite": "isfinite",
    "math.isfinite": "isfinite", "bitwise.invert": "invert",
    "add": "add", "math.add": "add", "subtract": "subtract", "math.subtract": "subtract", "multiply": "multiply",
    "math.multiply": "multiply", "divide": "divide", "math.divide": "divide", "math.truediv": "divide",
    "truediv": "divide", "floordiv": "floordiv", "math.floordiv": "floordiv", "mod": "mod", "math.mod": "mod",
    "math.floormod": "mod", "pow": "pow", "math.pow": "pow", "maximum": "maximum", "math.maximum": "maximum",
    "minimum": "minimum", "math.minimum": "minimum", "equal": "equal", "math.equal": "equal",
    "not_equal": "not_equal", "math.not_equal": "not_equal", "less": "less", "math.less": "less",
    "less_equal": "less_equal", "math.less_equal": "less_equal", "greater": "greater", "math.greater": "greater",
    "greater_equal": "greater_equal", "math.greater_equal": "greater_equal", "logical_and": "logical_and",
    "math.logical_and": "logical_and", "logical_or": "logical_or", "math.logical_or": "logical_or",
    "logical_xor": "logical_xor", "math.logical_xor": "logical_xor", "bitwise.bitwise_and": "bitwise_and",
    "bitwise.bitwise_or": "bitwise_or", "bitwise.bitwise_xor": "bitwise_xor",
    "where": "where", "math.where": "where", "clip_by_value": "clip", "clip": "clip",
    "math.clip_by_value": "clip",
}


def _public(dotted):
    prefix, _, short = dotted.rpartition(".")
    return getattr(getattr(gj, prefix) if prefix else gj, short)


@pytest.mark.parametrize("dotted", sorted(PUBLIC))
def test_public_names_record_their_op(dotted):
    fn = _public(dotted)
    assert fn is API[dotted]
    op = PUBLIC[dotted]
    if op == "where":
        args = (np.array([True, False]), np.int32([1, 2]), np.int32([3, 4]))
    elif op == "clip":
        args = (np.int32([1, 5]), np.int32(2), np.int32(4))
    else:
        arity = 1 if op in UNARY_RESULT else 2
        dtype = "int32" if op in ("invert", "bitwise_and", "bitwise_or", "bitwise_xor") else "float32"
        args = (np.array([1, 2], dtype=dtype),) * arity
    assert graph_ops(fn, *args) == [op]


def test_every_public_elementwise_function_is_listed():
    module = "graphjit.tracer.ops.elementwise"
    exported = {name for name, fn in API.items() if getattr(fn, "__module__", None) == module}
    assert exported == set(PUBLIC), exported ^ set(PUBLIC)
    for name in exported:
        assert "name" in inspect.signature(API[name]).parameters  # TF-style name= argument


# ---- floordiv and mod: NumPy's (Python's) sign rules --------------------------------------------------

def test_integer_floordiv_and_mod_sign_rules_and_division_by_zero():
    for dtype, lowest in ((np.int32, INT32_MIN), (np.int64, INT64_MIN)):
        a = np.array([7, -7, 7, -7, 0, 5, -5, 0, lowest, lowest, 6], dtype=dtype)
        b = np.array([2, 2, -2, -2, 3, 0, 0, 0, -1, 2, -4], dtype=dtype)
        q = [3, -4, -4, 3, 0, 0, 0, 0, lowest, lowest // 2, -2]   # x // 0 is 0; min // -1 wraps to min
        r = [1, 1, -1, -1, 0, 0, 0, 0, 0, 0, -2]                  # the remainder has the divisor's sign
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no RuntimeWarning leaks from x // 0
            for fn, expected in ((gj.math.floordiv, q), (gj.math.mod, r), (lambda x, y: x // y, q),
                                 (lambda x, y: x % y, r)):
                for result in both_ways(fn, a, b):
                    assert result.dtype == dtype and result.tolist() == expected
        with np.errstate(all="ignore"):
            assert np.floor_divide(a, b).tolist() == q and np.mod(a, b).tolist() == r  # and NumPy agrees


def test_float_floordiv_and_mod_sign_rules_division_by_zero_and_infinities():
    inf, nan = np.inf, np.nan
    a = [7.0, -7.0, 7.0, -7.0, 7.5, -0.0, 1.0, -1.0, 0.0, 1.0, -1.0, inf, 3.0, -3.0, nan, 1.0, 5.0]
    b = [2.0, 2.0, -2.0, -2.0, 2.0, 3.0, 0.0, 0.0, 0.0, -0.0, inf, 2.0, inf, inf, 1.0, nan, -inf]
    q = [3.0, -4.0, -4.0, 3.0, 3.0, -0.0, inf, -inf, nan, -inf, -1.0, nan, 0.0, -1.0, nan, nan, -1.0]
    r = [1.0, 1.0, -1.0, -1.0, 1.5, 0.0, nan, nan, nan, nan, inf, nan, 3.0, inf, nan, nan, -inf]
    for dtype in (np.float32, np.float64):
        x, y = np.array(a, dtype), np.array(b, dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # 1/0, 0/0 and inf % x give IEEE results silently
            for fn, expected in ((gj.math.floordiv, q), (gj.math.mod, r), (lambda u, v: u // v, q),
                                 (lambda u, v: u % v, r)):
                for result in both_ways(fn, x, y):
                    assert result.dtype == dtype
                    np.testing.assert_array_equal(result, np.array(expected, dtype))
                    # zeros keep NumPy's sign: -0.0 // 3 is -0.0, -0.0 % 3 is +0.0
                    want = np.array(expected, dtype)
                    zeros = want == 0
                    np.testing.assert_array_equal(np.signbit(result[zeros]), np.signbit(want[zeros]))


def test_mod_and_floordiv_with_python_scalars_and_reflected():
    t = gj.constant(np.int32([-7, 7, 0]))
    assert (t % 3).numpy().tolist() == [2, 1, 0] and (t % -3).numpy().tolist() == [-1, -2, 0]
    assert (t // -2).numpy().tolist() == [3, -4, 0]
    assert (10 % t).numpy().tolist() == [-4, 3, 0] and (10 // t).numpy().tolist() == [-2, 1, 0]
    f = gj.constant(np.float32([-7.5, 7.5]))
    assert (f % 2).numpy().tolist() == [0.5, 1.5] and (f // 2).numpy().tolist() == [-4.0, 3.0]
    assert (t % 2.5).dtype == gj.float64  # int32 with a Python float


def test_division_by_zero_and_overflow_are_silent_and_ieee():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = np.float32([1.0, -1.0, 0.0])
        for result in both_ways(lambda u: u / 0.0, x):
            np.testing.assert_array_equal(result, np.float32([np.inf, -np.inf, np.nan]))
        for result in both_ways(lambda u: gj.divide(u, np.int32(0)), np.int32([3, -3, 0])):
            assert result.dtype == np.float64
            np.testing.assert_array_equal(result, [np.inf, -np.inf, np.nan])
        for result in both_ways(lambda u: u ** -1.0, np.float64([0.0, -0.0])):
            np.testing.assert_array_equal(result, [np.inf, -np.inf])
        for result in both_ways(gj.exp, np.float32([100.0, -200.0])):
            np.testing.assert_array_equal(result, np.float32([np.inf, 0.0]))


@pytest.mark.parametrize("fn, x", [
    (gj.exp, [1000.0, -1000.0]), (gj.math.expm1, [1000.0]), (gj.math.log, [0.0, -1.0]),
    (gj.math.log1p, [-1.0, -2.0]), (gj.sqrt, [-1.0]), (gj.math.rsqrt, [0.0, -1.0]),
    (gj.math.reciprocal, [0.0]), (gj.sin, [np.inf]), (gj.cos, [np.inf]), (gj.tan, [np.inf]),
    (gj.sigmoid, [-1000.0, 1000.0, np.nan]), (gj.math.softplus, [-1000.0, 1000.0, np.inf, -np.inf]),
    (lambda u: u / 0.0, [1.0, 0.0]), (lambda u: u // 0.0, [1.0, 0.0]), (lambda u: u % 0.0, [1.0]),
    (lambda u: u ** -1, [0.0]), (lambda u: (-u) ** 0.5, [1.0]),
])
def test_ops_with_ieee_special_results_do_not_warn(fn, x):
    for dtype in (np.float32, np.float64):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            both_ways(fn, np.array(x, dtype))


def test_integer_power_rules():
    t = np.int32([2, -3, 0])
    for result in both_ways(lambda u: u ** 3, t):
        assert result.dtype == np.int32 and result.tolist() == [8, -27, 0]
    for result in both_ways(lambda u: u ** 31, np.int32([2])):
        assert result.tolist() == [INT32_MIN]  # wraps around, as NumPy does
    with pytest.raises(InvalidArgumentError, match="negative"):
        gj.constant(t) ** -1  # NumPy: integers to negative integer powers are not allowed
    with pytest.raises(InvalidArgumentError, match="negative"):
        gj.pow(gj.constant(t), gj.constant(np.int32([1, -1, 2])))
    with pytest.raises(InvalidArgumentError, match="negative"):
        gj.function(lambda u: u ** -2)(t)
    assert (gj.constant(t) ** -1.0).dtype == gj.float64


# ---- numerically stable sigmoid and softplus ----------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_and_softplus_are_stable_at_the_extremes(dtype):
    x = np.array([-1000.0, -np.inf, 1000.0, np.inf, 0.0, np.finfo(dtype).max, -np.finfo(dtype).max], dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for s in both_ways(gj.sigmoid, x):
            assert s.dtype == dtype
            np.testing.assert_array_equal(s, np.array([0.0, 0.0, 1.0, 1.0, 0.5, 1.0, 0.0], dtype))
        for sp in both_ways(gj.math.softplus, x):
            assert sp.dtype == dtype
            np.testing.assert_array_equal(sp, np.array([0.0, 0.0, 1000.0, np.inf, np.log(2.0), np.finfo(dtype).max,
                                                        0.0], dtype))


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-6), (np.float64, 1e-14)])
def test_sigmoid_and_softplus_keep_relative_accuracy_in_the_tails(dtype, rtol):
    """Tails where the naive formulas lose everything: sigmoid(-80) is ~1.8e-35, not 0; softplus(-80)
    likewise; softplus(40) is 40 + 4e-18. Reference: the formulas in 80-bit extended precision."""
    x = np.array([-85.0, -80.0, -40.0, -20.0, -1e-3, 1e-3, 20.0, 40.0, 85.0], dtype)
    wide = x.astype(np.longdouble)
    sig_ref = (1 / (1 + np.exp(-wide))).astype(dtype)
    sp_ref = (np.maximum(wide, 0) + np.log1p(np.exp(-np.abs(wide)))).astype(dtype)
    for s in both_ways(gj.sigmoid, x):
        np.testing.assert_allclose(s, sig_ref, rtol=rtol, atol=0)
    for sp in both_ways(gj.nn.softplus, x):
        np.testing.assert_allclose(sp, sp_ref, rtol=rtol, atol=0)


def test_sigmoid_and_softplus_of_integers_are_float64():
    s = gj.sigmoid(gj.constant([0, 1000, -1000]))
    assert s.dtype == gj.float64 and s.numpy().tolist() == [0.5, 1.0, 0.0]
    sp = gj.nn.softplus(gj.constant(np.int64([0, 1000])))
    assert sp.dtype == gj.float64 and sp.numpy().tolist() == [np.log(2.0), 1000.0]


def test_round_is_half_to_even_and_keeps_integers():
    x = np.float32([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999997, 3.7])
    for result in both_ways(gj.round, x):
        assert result.tolist() == [0.0, 2.0, 2.0, -0.0, -2.0, -2.0, 0.0, 4.0]
    for result in both_ways(gj.round, np.int64([3, -7])):
        assert result.dtype == np.int64 and result.tolist() == [3, -7]


def test_relu_propagates_nan_and_keeps_dtype():
    for result in both_ways(gj.nn.relu, np.float64([np.nan, -1.0, 2.0, -np.inf])):
        np.testing.assert_array_equal(result, [np.nan, 0.0, 2.0, 0.0])
    for result in both_ways(gj.nn.relu, np.int32([INT32_MIN, 5])):
        assert result.dtype == np.int32 and result.tolist() == [0, 5]


# ---- rejected dtypes -------------------------------------------------------------------------------

@pytest.mark.parametrize("fn, args, words", [
    (gj.exp, (np.array([True]),), ["exp", "bool"]),
    (gj.math.log, (np.array([True]),), ["log", "bool"]),
    (gj.negative, (np.array([True]),), ["negative", "bool"]),
    (gj.square, (np.array([True]),), ["square", "bool"]),
    (gj.nn.relu, (np.array([True]),), ["relu", "bool"]),
    (gj.bitwise.invert, (np.float64([1.0]),), ["invert", "float64"]),
    (gj.subtract, (np.array([True]), np.array([False])), ["subtract", "bool"]),
    (gj.math.floordiv, (np.array([True]), np.array([True])), ["floordiv", "bool", "int8"]),
    (gj.math.mod, (np.array([True]), np.array([True])), ["mod", "bool"]),
    (gj.pow, (np.array([True]), np.array([True])), ["pow", "bool"]),
    (gj.bitwise.bitwise_and, (np.float32([1.0]), np.int32([1])), ["bitwise_and", "float32", "int32"]),
    (gj.bitwise.bitwise_xor, (np.int64([1]), np.float64([1.0])), ["bitwise_xor", "int64", "float64"]),
])
def test_rejected_dtypes_raise_naming_the_op_and_dtypes(fn, args, words):
    with pytest.raises(InvalidArgumentError) as eager:
        fn(*(gj.constant(a) for a in args))
    with pytest.raises(InvalidArgumentError) as traced:
        gj.function(fn)(*args)
    for err in (eager, traced):
        for word in words:
            assert word in str(err.value), (word, str(err.value))


def test_bool_floordiv_with_a_python_bool_is_rejected_not_int8():
    with pytest.raises(InvalidArgumentError, match="floordiv"):
        gj.constant([True, False]) // True
    with pytest.raises(InvalidArgumentError, match="mod"):
        gj.math.mod(True, gj.constant([True]))


# ---- broadcasting --------------------------------------------------------------------------------

def test_broadcasting_results_and_errors():
    for result in both_ways(gj.add, np.ones((2, 1, 3), np.float32), np.arange(4, dtype=np.float32).reshape(4, 1)):
        assert result.shape == (2, 4, 3)
    with pytest.raises(InvalidArgumentError, match=r"\[2,3\].*\[4\]"):
        gj.add(gj.constant(np.ones((2, 3))), gj.constant(np.ones(4)))
    with pytest.raises(InvalidArgumentError, match=r"\[2,3\].*\[4\]"):
        gj.function(lambda x, y: x * y)(np.ones((2, 3)), np.ones(4))
    with pytest.raises(InvalidArgumentError, match=r"\[3\]"):
        gj.where(gj.constant([True, False, True]), gj.constant([1, 2]), 0)
    with pytest.raises(InvalidArgumentError, match="clip"):
        gj.clip_by_value(gj.constant([1.0, 2.0]), gj.constant([0.0, 0.0, 0.0]), 1.0)


def test_where_requires_x_and_y():
    with pytest.raises(InvalidArgumentError, match="x and y"):
        gj.where(gj.constant([True]))


def test_where_with_symbolic_condition_and_scalars():
    @gj.function
    def f(x):
        return gj.where(x > 0, x, -1), gj.where(x > 0, 1.5, 2)

    a, b = f(np.int32([-2, 3]))
    assert a.dtype == gj.int32 and a.numpy().tolist() == [-1, 3]
    assert b.dtype == gj.float32 and b.numpy().tolist() == [2.0, 1.5]  # two Python scalars: float32


def test_clip_edge_cases():
    x = gj.constant(np.float32([np.nan, -np.inf, np.inf, -0.5, 0.5]))
    np.testing.assert_array_equal(gj.clip_by_value(x, -0.25, 0.25).numpy(),
                                  np.float32([np.nan, -0.25, 0.25, -0.25, 0.25]))
    assert gj.clip_by_value(gj.constant([1, 9]), 2, 5).numpy().tolist() == [2, 5]
    assert gj.clip_by_value(gj.constant([1, 9]), 2, 5).dtype == gj.int32
    assert gj.clip_by_value(gj.constant([1, 9]), 2.5, 5).dtype == gj.float64
    assert gj.clip_by_value(gj.constant([0.0, 9.0]), 5.0, 2.0).numpy().tolist() == [2.0, 2.0]  # min > max: max


def test_elementwise_results_do_not_alias_inputs():
    x = gj.constant([1.0, -2.0])
    for result in (gj.nn.relu(x), gj.abs(x), gj.maximum(x, x), gj.clip_by_value(x, -5.0, 5.0)):
        assert not np.shares_memory(np.asarray(result), np.asarray(x))
