"""Elementwise ops state their math in tracer.lowering's scalar primitives; compiler.scalar_numba renders them.

An op (and a math function) added from a test compiles on the CPU backend; the primitives render to Numba code
with NumPy's results (casts, integer wraparound, division by 0 and -1, NaN in select); a kernel imports exactly
the mathlib helpers its expressions call, and its parallel threshold follows their cost class.
"""
import dataclasses
import math
import re

import numba
import numpy as np
import pytest

import graphjit as gj
from graphjit.compiler import mathlib, scalar_numba
from graphjit.compiler.scalar_numba import render
from graphjit.errors import InvalidArgumentError, InvalidTypeError, NotFoundError
from graphjit.tracer import lowering as L
from graphjit.tracer.dtypes import bool_, float32, float64, int32, int64
from graphjit.tracer.ir import TensorType
from graphjit.tracer.ops.elementwise import elementwise_rule
from graphjit.tracer.registry import OPS, Op

SIZE = 1 << 14  # above the transcendental parallel threshold (8K), below the cheap one (64K)


@pytest.fixture
def compiled(monkeypatch):
    monkeypatch.setattr(gj.config, "backend", "cpu")
    monkeypatch.setattr(gj.config, "compile_in_background", False)


def _new_op(monkeypatch, name, ufunc, rule):
    """An elementwise op registered from the test (and removed after it): NumPy's rule and eager code."""
    op = Op(name, infer=elementwise_rule(ufunc, name), eager=ufunc, lower=L.Scalar(rule))
    monkeypatch.setitem(OPS, name, op)
    return op


def _exp2_rule(args, ins, out):
    if not out.is_floating:
        return None
    return L.call("exp", L.mul(L.cast(args[0], out), L.const(math.log(2.0), out)))


def _compiled_run(fn, *args):
    concrete = fn.get_concrete_function(*args)
    result = fn(*args)
    values = tuple(t.numpy() for t in result) if isinstance(result, tuple) else result.numpy()
    return values, concrete._compiled()


def test_an_op_added_from_a_test_compiles_and_matches_numpy(compiled, monkeypatch):
    op = _new_op(monkeypatch, "test_exp2", np.exp2, _exp2_rule)
    x32 = np.linspace(-20, 20, SIZE, dtype=np.float32)
    x64 = np.array([-1000.5, -3.25, -0.0, 0.0, 1e-300, 0.5, 3.0, 1000.25, 1023.5, 1024.0, np.inf, -np.inf, np.nan])
    (got32, got64), exe = _compiled_run(gj.function(lambda a, b: (op.bind(a), op.bind(b))), x32, x64)
    kernels = [info for info in exe.kernels.values() if "test_exp2" in info["ops"]]
    assert len(kernels) == 2 and all(info["kind"] == "loop" for info in kernels)
    # exp is of the transcendental cost class: the 16K loop runs in parallel, the 13-element one does not
    assert sorted(info["parallel"] for info in kernels) == [False, True]
    assert "from graphjit.compiler.mathlib import exp_f32, exp_f64  #" in exe.source
    # float32: exp_f32 (<= 4 ULP) of x * ln2 rounded to float32 (relative error <= 14 * 2^-24 in the result)
    np.testing.assert_allclose(got32, np.exp2(x32.astype(np.float64)), rtol=4 * 2 ** -23 + 14 * 2 ** -24)
    with np.errstate(all="ignore"):
        want64 = np.exp(x64 * math.log(2.0))  # the rule's own formula (exp2 itself differs by up to |x| ULPs)
    np.testing.assert_allclose(got64, want64, rtol=2 * 2 ** -52)  # exp_f64: <= 2 ULP (tests/test_mathlib.py)
    np.testing.assert_array_equal(np.isnan(got64), np.isnan(x64))


def test_a_math_function_added_from_a_test_compiles(compiled, monkeypatch):
    monkeypatch.setitem(L.MATH, "sinc", L.MathFunction("sinc", 1))
    monkeypatch.setitem(scalar_numba.MATH, "sinc", scalar_numba.NumPyFunction())
    op = _new_op(monkeypatch, "test_sinc", np.sin,  # np.sin's dtype rule; np.sinc is no ufunc
                 lambda args, ins, out: L.call("sinc", L.cast(args[0], out)) if out.is_floating else None)
    op.eager = np.sinc
    x = np.linspace(-8, 8, SIZE)
    x[SIZE // 2] = 0.0
    got, exe = _compiled_run(gj.function(lambda a: op.bind(a)), x)
    (info,) = exe.kernels.values()
    assert info["ops"] == ["test_sinc"] and not info["parallel"]  # a cheap function: serial below 64K
    assert "mathlib" not in exe.source  # np.sinc needs no mathlib helper
    np.testing.assert_allclose(got, np.sinc(x), rtol=1e-12, atol=1e-16)


def test_a_kernel_imports_exactly_the_mathlib_helpers_its_expressions_call(compiled):
    x = np.linspace(-3, 3, 64, dtype=np.float32)
    y = np.linspace(-3, 3, 64, dtype=np.float64)
    f = gj.function(lambda x, y: (gj.sin(x) * gj.sqrt(gj.abs(x)) + 1.0, gj.exp(y) + gj.floor(y) ** 2.0))
    (a, b), exe = _compiled_run(f, x, y)
    (imports,) = re.findall(r"^from graphjit\.compiler\.mathlib import (.*?)  #", exe.source, re.M)
    assert imports.split(", ") == ["exp_f64", "pow_f64", "sin_f32"]  # sqrt and floor are NumPy's in Numba
    np.testing.assert_allclose(a, np.sin(x.astype(np.float64)) * np.sqrt(np.abs(x)) + 1.0, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(b, np.exp(y) + np.floor(y) ** 2.0, rtol=1e-15)


def test_functions_called_and_cost_class_come_from_the_expression():
    x = L.arg(0, float32)
    e = L.select(L.gt(x, L.const(0, float32)), L.call("sqrt", x), L.call("sigmoid", L.call("floor", x)))
    assert L.functions_called(e) == {"sqrt", "sigmoid", "floor"}
    assert L.is_transcendental(e) and not L.is_transcendental(L.call("sqrt", x))
    text, helpers = render(e, ["v"])
    assert helpers == {"sigmoid_f32"} and "sigmoid_f32(np.float32(np.floor(v)))" in text
    assert set(helpers) <= set(mathlib.__all__)


def test_every_math_function_has_a_numba_form():
    assert set(L.MATH) == set(scalar_numba.MATH)
    for name, function in L.MATH.items():
        for dtype in (float32, float64):
            args = [L.arg(k, dtype) for k in range(function.arity)]
            text, _ = render(L.call(name, *args), [f"a{k}" for k in range(function.arity)])
            assert all(f"a{k}" in text for k in range(function.arity)), (name, text)


def test_expressions_are_immutable_hashable_values():
    x = L.arg(0, int32)
    a, b = L.add(x, L.const(1, int32)), L.add(L.arg(0, int32), L.const(1, int32))
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.op = "sub"
    with pytest.raises(InvalidTypeError, match=r"add of mixed dtypes \['float32', 'int32'\]"):
        L.add(x, L.const(1.0, float32))
    with pytest.raises(InvalidTypeError, match="bool condition, got int32"):
        L.select(x, x, x)
    with pytest.raises(NotFoundError, match="'no_such_function' is not a function of the math library"):
        L.call("no_such_function", x)
    with pytest.raises(InvalidArgumentError, match="pow takes 2 operand"):
        L.call("pow", L.arg(0, float32))


def test_pow_rule_takes_numpys_shortcuts_only_for_a_stride0_exponent():
    pow_rule = OPS["pow"].lower
    vector, scalar = TensorType((5,), float32), TensorType((), float32)
    assert pow_rule.expression([vector, vector], vector) == L.call("pow", L.arg(0, float32), L.arg(1, float32))
    shortcut = pow_rule.expression([vector, scalar], vector)
    assert shortcut.op == "select" and L.call("sqrt", L.arg(0, float32)) in shortcut.args[2].args
    assert L.is_transcendental(shortcut)  # still a pow loop for the parallel threshold
    assert pow_rule.expression([TensorType((5,), int32)] * 2, TensorType((5,), int32)) is None  # integer pow: eager


# ---- the renderer's primitives, compiled in Numba loops against NumPy --------------------------------------

def _loop(exprs, in_dtypes):
    """A Numba function computing each expression over arrays of ``in_dtypes`` (one compile for all)."""
    names = [f"a{k}[i]" for k in range(len(in_dtypes))]
    lines, helpers = [], set()
    for j, e in enumerate(exprs):
        text, used = render(e, names)
        lines.append(f"        o{j}[i] = {text}")
        helpers |= used
    params = [f"a{k}" for k in range(len(in_dtypes))] + [f"o{j}" for j in range(len(exprs))]
    source = f"def f({', '.join(params)}):\n    for i in range(o0.size):\n" + "\n".join(lines) + "\n"
    namespace = {"np": np, **{h: getattr(mathlib, h) for h in helpers}}
    exec(source, namespace)
    fn = numba.njit(error_model="numpy", boundscheck=False)(namespace["f"])

    def run(*arrays):
        outs = [np.empty(arrays[0].shape, e.dtype.np) for e in exprs]
        fn(*arrays, *outs)
        return outs
    return run


def test_casts_render_with_numpys_semantics():
    x = L.arg(0, float64)
    f32 = L.arg(0, float32)
    assert render(L.cast(f32, float32), ["v"])[0] == "v"
    assert render(L.cast(f32, bool_), ["v"])[0] == "(v != 0)"
    values = np.array([np.nan, np.inf, -np.inf, 3e9, -3e9, 2.9e9, -2147483648.9, -2.7, 2.7, -0.0, 2147483647.5,
                       9.3e18, -9.3e18, 0.5, -1e-300])
    run = _loop([L.cast(x, int32), L.cast(x, int64), L.cast(x, bool_), L.cast(L.cast(x, float32), float64)],
                [float64])
    to32, to64, to_bool, through32 = run(values)
    cast_op = OPS["cast"].eager  # the eager op: NaN, inf and out-of-range give the integer minimum (x86 NumPy)
    np.testing.assert_array_equal(to32, cast_op(values, dtype=int32))
    np.testing.assert_array_equal(to64, cast_op(values, dtype=int64))
    np.testing.assert_array_equal(to32[[0, 1, 2, 3, 4]], np.iinfo(np.int32).min)
    np.testing.assert_array_equal(to32[[5, 6, 7, 8, 9, 10]], [np.iinfo(np.int32).min, -2147483648, -2, 2, 0,
                                                               2147483647])
    np.testing.assert_array_equal(to_bool, values != 0)
    np.testing.assert_array_equal(through32, values.astype(np.float32).astype(np.float64))


def test_int64_arithmetic_wraps_as_numpy():
    a, b = L.arg(0, int64), L.arg(1, int64)
    big = np.iinfo(np.int64)
    x = np.array([big.max, big.min, 3037000500, -3037000500, 2 ** 62, 7, -1, 0], dtype=np.int64)
    y = np.array([1, -1, 3037000500, 2, 4, -7, big.min, big.max], dtype=np.int64)
    run = _loop([L.add(a, b), L.sub(a, b), L.mul(a, b), L.neg(a), L.abs_(L.mul(a, a)),
                 L.gt(L.add(a, L.const(1, int64)), a)], [int64, int64])
    add, sub, mul, neg, abs_square, succ_greater = run(x, y)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(add, x + y)
        np.testing.assert_array_equal(sub, x - y)
        np.testing.assert_array_equal(mul, x * y)
        np.testing.assert_array_equal(neg, -x)
        np.testing.assert_array_equal(abs_square, np.abs(x * x))  # x * x wraps negative for 3037000500
        np.testing.assert_array_equal(succ_greater, x + 1 > x)    # False at INT64_MAX
    assert abs_square[2] > 0 and not succ_greater[0]  # what LLVM's no-overflow folding broke


def test_int32_division_select_and_float_extremes_as_numpy():
    a, b = L.arg(0, int32), L.arg(1, int32)
    i32 = np.iinfo(np.int32)
    x = np.array([7, -7, 7, -7, i32.min, i32.min, 5, 0, i32.max], dtype=np.int32)
    y = np.array([2, 2, -2, -2, -1, 1, 0, 0, -1], dtype=np.int32)
    run = _loop([L.floordiv(a, b), L.mod(a, b), L.select(L.gt(a, b), a, b), L.mul(a, b)], [int32, int32])
    quotient, remainder, larger, product = run(x, y)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(quotient, np.floor_divide(x, y))  # INT_MIN // -1 == INT_MIN, x // 0 == 0
        np.testing.assert_array_equal(remainder, np.mod(x, y))
        np.testing.assert_array_equal(product, x * y)
    np.testing.assert_array_equal(larger, np.where(x > y, x, y))

    p, q = L.arg(0, float32), L.arg(1, float32)
    u = np.array([1.0, np.nan, 2.0, np.nan, -0.0, 0.0, -np.inf, 7.5], dtype=np.float32)
    v = np.array([2.0, 1.0, np.nan, np.nan, 0.0, -0.0, 1.0, -2.0], dtype=np.float32)
    maximum, fmax, floordiv = (OPS[name].lower.rule([p, q], [float32, float32], float32)
                               for name in ("maximum", "fmax", "floordiv"))
    got_max, got_fmax, got_floordiv = _loop([maximum, fmax, floordiv], [float32, float32])(u, v)
    np.testing.assert_array_equal(got_max, np.maximum(u, v))
    np.testing.assert_array_equal(got_fmax, np.fmax(u, v))
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(got_floordiv, np.floor_divide(u, v))
