"""cond, while_loop, switch_case, map_fn and scan over an input_signature's unknown (None) sizes: one trace and one
compiled module serve every size >= 2 (the branch and loop sub-entries take the sizes as int64 arguments, as the
stage's other functions do; map_fn's and scan's trip count is a symbolic ``maximum_iterations``). Sizes 0 and 1
take per-size traces (tracer.polymorphic), checked here too. Integer-tensor indexing and row scatters over unknown
sizes are one trace as well.

Tolerances: the compiled loops do the float32 operations NumPy does in the same order (products and sums of two
operands per element), so results are compared exactly, except reductions (rtol 1e-5, their order differs)."""
import numpy as np
import pytest

import graphjit as gj
from graphjit.runtime.runtime import get_runtime

from support import count_module_loads

LOADS = []
ROWS = gj.TensorSpec([None, 3], gj.float32)


@pytest.fixture(autouse=True)
def _compiled_now(monkeypatch):
    count_module_loads(monkeypatch, LOADS)


def _rows(n, seed=0):
    return np.random.default_rng(seed + n).standard_normal((n, 3)).astype(np.float32)


def _steps(f):
    """The step kinds of the symbolic trace's CPU executable: 'compiled' only, when the control flow compiled."""
    executable = get_runtime().executables(f.get_concrete_function())["cpu"]
    return [step.kind for step in executable.steps]


def _one_trace_for_every_size(f, reference, sizes=(2, 3, 7, 64), small=(1, 0)):
    """Calls ``f`` on rows of each size (>= 2 first, then the small ones), against ``reference``: one trace and one
    module for the sizes >= 2, then one trace per small size."""
    before = len(LOADS)
    for n in sizes:
        x = _rows(n)
        got = f(x)
        got = got if isinstance(got, (list, tuple)) else [got]
        want = reference(x)
        want = want if isinstance(want, (list, tuple)) else [want]
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g.numpy(), w)
    assert f.experimental_get_tracing_count() == 1
    assert len(LOADS) - before == 1
    assert set(_steps(f)) == {"compiled"}
    for k, n in enumerate(small):
        x = _rows(n)
        got = f(x)
        got = got if isinstance(got, (list, tuple)) else [got]
        want = reference(x)
        want = want if isinstance(want, (list, tuple)) else [want]
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g.numpy(), w)
        assert f.experimental_get_tracing_count() == 2 + k


def test_cond_over_unknown_rows_is_one_trace_and_one_module():
    @gj.function(input_signature=[ROWS])
    def f(x):
        return gj.cond(x[0, 0] > 0, lambda: x * 2.0, lambda: x - 1.0)

    def reference(x):
        return x * np.float32(2) if x[0, 0] > 0 else x - np.float32(1)
    _one_trace_for_every_size(f, reference, small=(1,))   # (x[0] of no row is an IndexError, as NumPy's)
    source = "\n".join(f.get_concrete_function().kernels.values())
    assert "if " in source and "n0" in source


def test_while_loop_over_unknown_rows_is_one_trace_and_one_module():
    @gj.function(input_signature=[ROWS])
    def f(x):
        return gj.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, v * 2.0 + 1.0), (0, x))[1]

    def reference(x):
        for _ in range(3):
            x = x * np.float32(2) + np.float32(1)
        return x
    _one_trace_for_every_size(f, reference)


def test_while_loop_whose_condition_reads_an_unknown_sized_tensor():
    @gj.function(input_signature=[ROWS])
    def f(x):
        return gj.while_loop(lambda v: gj.reduce_max(gj.abs(v)) < 100.0, lambda v: v * 3.0, [x])[0]

    def reference(x):
        while np.abs(x).max(initial=0) < 100:
            x = x * np.float32(3)
        return x
    x = _rows(5)
    x[0, 0] = 1.0   # (a non-zero element: the loop ends)
    np.testing.assert_array_equal(f(x).numpy(), reference(x))
    for n in (2, 9, 40):
        x = _rows(n) + 0.5
        np.testing.assert_array_equal(f(x).numpy(), reference(x))
    assert f.experimental_get_tracing_count() == 1 and set(_steps(f)) == {"compiled"}


def test_switch_case_over_unknown_rows():
    @gj.function(input_signature=[ROWS, gj.TensorSpec([], gj.int32)])
    def f(x, k):
        return gj.switch_case(k, [lambda: x + 1.0, lambda: x * x, lambda: -x])

    for n in (2, 6):
        x = _rows(n)
        for k, want in enumerate((x + np.float32(1), x * x, -x)):
            np.testing.assert_array_equal(f(x, np.int32(k)).numpy(), want)
    assert f.experimental_get_tracing_count() == 1


def test_map_fn_over_unknown_rows_is_one_trace_and_one_module():
    @gj.function(input_signature=[ROWS])
    def f(x):
        return gj.map_fn(lambda r: r * r + 1.0, x)

    _one_trace_for_every_size(f, lambda x: x * x + np.float32(1))


def test_scan_over_unknown_rows_is_one_trace_and_one_module():
    @gj.function(input_signature=[ROWS])
    def f(x):
        return gj.scan(lambda a, r: a * 0.5 + r, x, initializer=gj.zeros([3]))

    def reference(x):
        acc, rows = np.zeros(3, np.float32), []
        for r in x:
            acc = acc * np.float32(0.5) + r
            rows.append(acc)
        return np.array(rows, np.float32).reshape(x.shape)
    _one_trace_for_every_size(f, reference)


def test_scan_without_initializer_and_reversed():
    @gj.function(input_signature=[ROWS])
    def f(x):
        return gj.scan(lambda a, r: a + r, x), gj.scan(lambda a, r: a + r, x, reverse=True)

    def reference(x):
        return np.cumsum(x, 0, dtype=np.float32), np.cumsum(x[::-1], 0, dtype=np.float32)[::-1]
    _one_trace_for_every_size(f, reference, small=(1,))   # (no row and no initializer: scan's own error)


def test_nested_map_fn_inside_a_while_loop_over_unknown_rows():
    @gj.function(input_signature=[ROWS])
    def f(x):
        def body(i, v):
            return i + 1, gj.map_fn(lambda r: r + gj.cast(i, gj.float32), v)
        return gj.while_loop(lambda i, v: i < 2, body, (0, x))[1]

    _one_trace_for_every_size(f, lambda x: x + np.float32(0) + np.float32(1), small=(1,))


def test_gather_rows_by_an_unknown_number_of_indices_is_one_trace():
    @gj.function(input_signature=[ROWS, gj.TensorSpec([None], gj.int32)])
    def f(x, i):
        return x[i], x[i, 1:], x[:, gj.constant([2, 0])], x[1:, [0, 2]], x[i, 2], x[np.array([0, 1])]

    before = len(LOADS)
    for n in (2, 5, 9):
        x = _rows(n)
        i = np.int32((np.arange(n + 3) * 7) % n - (n // 2))   # negative indices too
        for got, want in zip(f(x, i), (x[i], x[i, 1:], x[:, [2, 0]], x[1:, [0, 2]], x[i, 2],
                                              x[np.array([0, 1])])):
            np.testing.assert_array_equal(got.numpy(), want)
    assert f.experimental_get_tracing_count() == 1 and len(LOADS) - before == 1
    with pytest.raises(gj.errors.InvalidArgumentError):
        f(_rows(4), np.int32([0, 4]))


def test_row_scatter_of_a_gathers_gradient_over_unknown_sizes_is_one_trace():
    @gj.function(input_signature=[ROWS, gj.TensorSpec([None], gj.int32)])
    def f(x, i):
        with gj.GradientTape() as tape:
            tape.watch(x)
            y = gj.reduce_sum(x[i] * gj.constant([1.0, 2.0, 3.0]))
        return tape.gradient(y, x)

    for n in (2, 5, 9):
        x = _rows(n)
        i = np.int32((np.arange(2 * n) * 5) % n)   # repeated rows: np.add.at adds each
        want = np.zeros_like(x)
        np.add.at(want, i, np.float32([1, 2, 3]) * np.ones((len(i), 3), np.float32))
        np.testing.assert_array_equal(f(x, i).numpy(), want)
    assert f.experimental_get_tracing_count() == 1


def test_a_none_signature_function_called_inside_another_trace_is_traced_over_its_sizes():
    @gj.function(input_signature=[ROWS])
    def inner(x):
        return gj.cumsum(x * 2.0, axis=0)

    @gj.function(input_signature=[ROWS])
    def outer(x):
        return inner(x) + 1.0

    before = len(LOADS)
    for n in (2, 5, 30):
        x = _rows(n)
        np.testing.assert_array_equal(outer(x).numpy(), np.cumsum(x * np.float32(2), 0) + np.float32(1))
    assert outer.experimental_get_tracing_count() == 1 and inner.experimental_get_tracing_count() == 1
    assert len(LOADS) - before == 1


def test_reshape_to_minus_one_over_two_unknown_sizes_is_one_trace():
    @gj.function(input_signature=[gj.TensorSpec([None, None], gj.float32)])
    def f(x):
        return gj.reshape(x, [-1]) * 2.0, gj.reshape(gj.reshape(x, [-1]), [-1, 1])

    for shape in ((2, 3), (4, 7), (9, 2)):
        x = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
        flat, back = f(x)
        np.testing.assert_array_equal(flat.numpy(), x.reshape(-1) * np.float32(2))
        np.testing.assert_array_equal(back.numpy(), x.reshape(-1, 1))
    assert f.experimental_get_tracing_count() == 1


def test_a_known_table_indexed_by_an_unknown_number_of_indices_is_one_trace():
    table = np.arange(12, dtype=np.float32).reshape(4, 3)

    @gj.function(input_signature=[gj.TensorSpec([None], gj.int64)])
    def f(i):
        return gj.constant(table)[i] * 2.0, gj.constant(table)[1:, i[:2] % 3]

    for n in (2, 5, 11):
        i = np.int64(np.arange(n) * 3 % 4)
        rows, cols = f(i)
        np.testing.assert_array_equal(rows.numpy(), table[i] * np.float32(2))
        np.testing.assert_array_equal(cols.numpy(), table[1:, i[:2] % 3])
    assert f.experimental_get_tracing_count() == 1
    with pytest.raises(gj.errors.InvalidArgumentError):
        f(np.int64([0, 4]))


def test_the_gradient_of_map_fn_over_unknown_rows_is_one_trace():
    """(tests/test_polymorphic_loop_gradients.py checks such gradients by finite differences.)"""
    @gj.function(input_signature=[ROWS])
    def g(x):
        with gj.GradientTape() as tape:
            tape.watch(x)
            y = gj.reduce_sum(gj.map_fn(lambda r: r * r, x))
        return tape.gradient(y, x)

    before = len(LOADS)
    for n in (2, 5, 9):
        x = _rows(n)
        np.testing.assert_array_equal(g(x).numpy(), 2 * x)   # (2 * x is exact in float32, and so is x + x)
    assert g.experimental_get_tracing_count() == 1 and len(LOADS) - before == 1
    assert set(_steps(g)) == {"compiled"}
