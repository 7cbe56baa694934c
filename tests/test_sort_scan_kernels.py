"""cumsum, cumprod, sort and stable argsort as CPU kernels (compiler/kernel_writers.py: ``cumulative`` and
``sort``), in the main graph and inside control-flow bodies, against NumPy exactly: cumsum/cumprod combine in
order in the result dtype (float32 stays float32, int32 gives int64 and wraps), sort puts NaN last (first when
descending) and argsort is stable. Exact comparison (assert_array_equal) throughout: the kernels do NumPy's
operations in NumPy's order."""
import numpy as np
import pytest

import graphjit as gj
from graphjit.runtime.runtime import get_runtime

from support import count_module_loads

LOADS = []


@pytest.fixture(autouse=True)
def _compiled_now(monkeypatch):
    count_module_loads(monkeypatch, LOADS)


def _compiled_kinds(f, *args):
    concrete = f.get_concrete_function(*args)
    executable = get_runtime().executables(concrete)["cpu"]
    return {step.kind for step in executable.steps}, "\n".join(concrete.kernels.values())


def _floats(shape, seed=0, nan=True):
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    x[x > 1.2] = np.round(x[x > 1.2])   # ties
    if nan and x.size > 3:
        x.flat[::5] = np.nan
        x.flat[1] = np.inf
        x.flat[2] = -np.inf
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64, np.bool_])
@pytest.mark.parametrize("axis", [0, 1])
def test_cumsum_and_cumprod_are_numpys_bits(dtype, axis):
    if dtype == np.bool_:
        x = np.random.default_rng(1).random((5, 7)) > 0.5
    elif np.dtype(dtype).kind == "f":
        x = _floats((5, 7), nan=False).astype(dtype) * 3
    else:
        x = np.random.default_rng(1).integers(-100 if dtype != np.uint8 else 0, 100, (5, 7)).astype(dtype)

    @gj.function
    def f(x):
        return (gj.cumsum(x, axis=axis), gj.cumprod(x, axis=axis), gj.cumsum(x, axis=axis, exclusive=True),
                gj.cumsum(x, axis=axis, reverse=True), gj.cumprod(x, axis=axis, exclusive=True, reverse=True))

    got = [t.numpy() for t in f(x)]
    flip = np.flip(x, axis)
    with np.errstate(all="ignore"):
        cs, cp = np.cumsum(x, axis), np.cumprod(x, axis)
        excl = cs - x.astype(cs.dtype)
        rev = np.flip(np.cumsum(flip, axis), axis)
        rcp = np.flip(np.cumprod(flip, axis), axis)
    one = np.ones_like(np.take(rcp, [0], axis))
    rev_excl_prod = np.concatenate([np.take(rcp, range(1, x.shape[axis]), axis), one], axis)
    if np.dtype(dtype).kind == "f":
        excl = np.concatenate([np.zeros_like(np.take(cs, [0], axis)), np.take(cs, range(x.shape[axis] - 1), axis)],
                              axis)
    for g, w in zip(got, (cs, cp, excl, rev, rev_excl_prod)):
        assert g.dtype == w.dtype
        np.testing.assert_array_equal(g, w)
    kinds, source = _compiled_kinds(f, x)
    assert kinds == {"compiled"} and "cumulative" in source


def test_float32_cumsum_accumulates_in_float32_as_numpy():
    x = (np.arange(20000, dtype=np.float32) * np.float32(0.1)) + np.float32(1e4)
    got = gj.function(lambda x: gj.cumsum(x))(x).numpy()
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, np.cumsum(x))   # a float64 accumulation would differ in the last bits


def test_a_cumsum_starting_with_minus_zero_keeps_its_sign_as_numpy():
    x = np.array([[-0.0, -0.0, 1.0], [-0.0, 2.0, -0.0]], np.float32)
    f = gj.function(lambda x: (gj.cumsum(x, axis=1), gj.cumsum(x, axis=1, reverse=True),
                               gj.cumsum(x, axis=1, exclusive=True)))
    got = [t.numpy() for t in f(x)]
    want = [np.cumsum(x, 1), np.flip(np.cumsum(np.flip(x, 1), 1), 1),
            np.concatenate([np.zeros((2, 1), np.float32), np.cumsum(x, 1)[:, :-1]], 1)]   # (TF's identity first: +0.0)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(np.signbit(g), np.signbit(w))
        np.testing.assert_array_equal(g, w)


def test_int_cumsum_wraps_as_numpy():
    x = np.full(4, 2 ** 62, np.int64)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(gj.function(lambda x: gj.cumsum(x))(x).numpy(), np.cumsum(x))


@pytest.mark.parametrize("shape, axis", [((9, 13), 1), ((9, 13), 0), ((3, 4, 5), 1), ((1,), 0), ((0, 4), 1),
                                         ((4, 0), 1), ((1000,), 0)])
def test_sort_and_stable_argsort_match_numpy_with_nan_and_ties(shape, axis):
    x = _floats(shape, seed=len(shape))

    @gj.function
    def f(x):
        return (gj.sort(x, axis=axis), gj.sort(x, axis=axis, direction="DESCENDING"),
                gj.argsort(x, axis=axis, stable=True), gj.argsort(x, axis=axis, direction="DESCENDING", stable=True))

    s, sd, a, ad = (t.numpy() for t in f(x))
    np.testing.assert_array_equal(s, np.sort(x, axis=axis))
    np.testing.assert_array_equal(sd, np.flip(np.sort(x, axis=axis), axis))
    np.testing.assert_array_equal(a, np.argsort(x, axis=axis, kind="stable"))
    n = x.shape[axis]
    np.testing.assert_array_equal(ad, n - 1 - np.flip(np.argsort(np.flip(x, axis), axis=axis, kind="stable"), axis))
    kinds, source = _compiled_kinds(f, x)
    if x.size:
        assert kinds == {"compiled"} and "sort" in source


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.float64])
def test_sort_of_other_dtypes(dtype):
    x = np.random.default_rng(3).integers(0, 6, (6, 11)).astype(dtype)   # many ties
    f = gj.function(lambda x: (gj.sort(x), gj.argsort(x, stable=True), gj.argsort(x, direction="DESCENDING",
                                                                                   stable=True)))
    s, a, ad = (t.numpy() for t in f(x))
    np.testing.assert_array_equal(s, np.sort(x, -1))
    np.testing.assert_array_equal(a, np.argsort(x, -1, kind="stable"))
    np.testing.assert_array_equal(ad, 10 - np.flip(np.argsort(np.flip(x, -1), -1, kind="stable"), -1))


def test_top_k_compiles_and_matches_numpy():
    x = _floats((6, 20), seed=5, nan=False)
    f = gj.function(lambda x: gj.math.top_k(x, k=4))
    values, indices = f(x)
    order = np.argsort(-x, axis=-1, kind="stable")[:, :4]
    np.testing.assert_array_equal(indices.numpy(), order)
    np.testing.assert_array_equal(values.numpy(), np.take_along_axis(x, order, -1))
    kinds, _ = _compiled_kinds(f, x)
    assert kinds == {"compiled"}


def test_sort_and_cumsum_inside_a_while_loop_body_compile():
    @gj.function
    def f(x):
        def body(i, v):
            return i + 1, gj.cumsum(gj.sort(v, axis=1), axis=1) * 0.5
        return gj.while_loop(lambda i, v: i < 3, body, (0, x))[1]

    x = _floats((4, 6), seed=7, nan=False)
    want = x
    for _ in range(3):
        want = np.cumsum(np.sort(want, axis=1), axis=1) * np.float32(0.5)
    np.testing.assert_array_equal(f(x).numpy(), want)
    kinds, source = _compiled_kinds(f, x)
    assert kinds == {"compiled"} and "while True" in source and "cumulative" in source


def test_sort_and_cumsum_over_unknown_sizes_are_one_trace():
    @gj.function(input_signature=[gj.TensorSpec([None, None], gj.float32)])
    def f(x):
        return gj.sort(x, axis=1), gj.cumsum(x, axis=0), gj.argsort(x, axis=0, stable=True)

    before = len(LOADS)
    for shape in ((2, 3), (5, 8), (40, 3)):
        x = _floats(shape, seed=shape[0])
        s, c, a = f(x)
        np.testing.assert_array_equal(s.numpy(), np.sort(x, 1))
        np.testing.assert_array_equal(c.numpy(), np.cumsum(x, 0))
        np.testing.assert_array_equal(a.numpy(), np.argsort(x, 0, kind="stable"))
    assert f.experimental_get_tracing_count() == 1 and len(LOADS) - before == 1


def test_a_float_sort_is_a_permutation_of_its_input_signed_zeros_included(monkeypatch):
    # NumPy 2.4's default float64 sort turned the -0.0 of this array into +0.0 (its float32 sort kept it); the
    # eager sort is stable now, as the compiled merge sort is, so both give the input's values in one order.
    monkeypatch.setattr(gj.config, "backend", "cpu")
    monkeypatch.setattr(gj.config, "compile_in_background", False)
    for dtype in (np.float64, np.float32):
        x = np.array([0.0, -0.0, 2.0, -1.0, 0.0, -0.0, np.nan, -np.inf], dtype)
        eager = gj.sort(gj.constant(x)).numpy()
        fn = gj.function(lambda v: gj.sort(v))
        compiled = np.asarray(fn(x))
        kinds, source = _compiled_kinds(fn, x)
        assert kinds == {"compiled"} and "sort" in source
        want = np.sort(x, kind="stable")
        assert np.array_equal(np.signbit(eager), np.signbit(want)) and np.array_equal(eager, want, equal_nan=True)
        assert np.array_equal(np.signbit(compiled), np.signbit(want)), (dtype, compiled)
        assert np.signbit(eager).sum() == np.signbit(x).sum()
