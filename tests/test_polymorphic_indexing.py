"""Slices and int indices of unknown (None) sizes: one trace and one compiled module for every size where NumPy's
clamps are decided for sizes >= 2 (tracer.symbolic.basic_index); an int index valid only from some size on raises
that size's minimum (smaller calls trace per size and raise the index's own error); a clamp that depends on the
size is a size expression (tests/test_polymorphic_clamps.py); the rest traces per size, logged with the reason. Results are compared with NumPy at sizes 2, 3, 7 and 1000, on both backends."""
import logging

import numpy as np
import pytest

import graphjit as gj
from graphjit import errors
from graphjit.tracer.symbolic import MIN_SIZE, Atom, SymInt, SymbolicError, basic_index, slice_indices

from gradient_check import numeric_gradient
from support import count_module_loads

SIZES = (2, 3, 7, 1000)
LOADS = []


@pytest.fixture(params=["cpu", "interpreter"])
def backend(request, monkeypatch):
    count_module_loads(monkeypatch, LOADS, request.param)
    return request.param


def _n(k):
    return SymInt.atom(Atom(f"n{k}", MIN_SIZE))


def _inputs(n, columns=5):
    return np.random.default_rng(n).standard_normal((n, columns)).astype(np.float32)


# ---- the size rules ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("start, stop, step", [(1, None, None), (None, -1, None), (None, None, 2), (1, None, 2),
                                               (None, None, -1), (-2, None, None), (1, -1, None), (None, 2, None),
                                               (-1, None, -2), (1, None, -1), (None, -2, None)])
def test_slice_indices_over_a_symbolic_size_match_python_at_every_size(start, stop, step):
    begin, stride, length = slice_indices(start, stop, step, _n(0))
    for n in (2, 3, 4, 7, 1000):
        want = slice(start, stop, step).indices(n)
        got = [v.evaluate({"n0": n}) if isinstance(v, SymInt) else v for v in (begin, stride, length)]
        assert got == [want[0], want[2], len(range(*want))], (n, got, want)


@pytest.mark.parametrize("start, stop, step", [(5, None, None), (None, 3, None), (-3, None, None), (None, -3, None),
                                               (2, None, -1), (None, None, 3)])
def test_clamps_that_depend_on_the_size_are_size_expressions_not_guesses(start, stop, step):
    begin, stride, length = slice_indices(start, stop, step, _n(0))   # (clamp atoms: tests/test_polymorphic_clamps)
    for n in (2, 3, 4, 5, 7, 1000):
        want = slice(start, stop, step).indices(n)
        assert [length.evaluate({"n0": n}), stride] == [len(range(*want)), want[2]]


def test_an_int_index_past_the_minimum_asks_for_a_larger_minimum():
    assert basic_index((_n(0), 3), (0,)) == [(0, 0), (1, 0, 1, 3)]
    assert str(basic_index((_n(0),), (-1,))[0][1]) == "(n0 - 1)"
    with pytest.raises(SymbolicError) as info:
        basic_index((_n(0),), (3,))
    assert info.value.require == ("n0", 4)
    with pytest.raises(SymbolicError) as info:
        basic_index((_n(0) - 1,), (-3,))   # (n0 - 1 >= 3 from n0 >= 4)
    assert info.value.require == ("n0", 4)
    with pytest.raises(IndexError, match="index 5 is out of bounds for axis 1 with size 3"):
        basic_index((_n(0), 3), (0, 5))


def test_polynomials_whose_negative_terms_are_covered_are_bounded_below():
    n0, n1 = _n(0), _n(1)
    assert (n0 * n1 - n1 != 0) is True and (n0 * n1 - n0 >= 2) is True
    with pytest.raises(SymbolicError):
        n0 * n1 - n1 * 3 == 0   # noqa: B015 - 0 at n0 = 3 (were n0 known to be >= 3)... and negative at n0 = 2


# ---- one trace, one module ---------------------------------------------------------------------------------

FORMS = {
    "x[1:]": lambda x: x[1:],
    "x[:-1]": lambda x: x[:-1],
    "x[:, 0]": lambda x: x[:, 0],
    "x[::2]": lambda x: x[::2],
    "x[1::3]": lambda x: x[1::3],
    "x[::-1]": lambda x: x[::-1],
    "x[-1]": lambda x: x[-1],
    "x[0] * 2": lambda x: x[0] * 2,
    "x[1:-1, ::-2]": lambda x: x[1:-1, ::-2],
    "x[-2:, None, 1:]": lambda x: x[-2:, None, 1:],
    "x[..., :2]": lambda x: x[..., :2],
    "x[1:] + x[:-1]": lambda x: x[1:] + x[:-1],
    "x[::-1] * x": lambda x: x[::-1] * x,
    "gj.slice(x, [1, 0], [-1, 2])": lambda x: x[1:, :2] if isinstance(x, np.ndarray) else gj.slice(x, [1, 0], [-1, 2]),
    "gj.strided_slice(x, [0, 1], [-1, 0], [2, 1], end_mask=2)": lambda x: x[:-1:2, 1:] if isinstance(x, np.ndarray)
    else gj.strided_slice(x, [0, 1], [-1, 0], [2, 1], end_mask=2),
}


@pytest.mark.parametrize("name", sorted(FORMS))
def test_each_form_is_one_trace_and_one_module_at_every_size(backend, name):
    body = FORMS[name]
    f = gj.function(body, input_signature=[gj.TensorSpec([None, None], gj.float32)])
    before = len(LOADS)
    for n in SIZES:
        for columns in (2, 5):
            x = _inputs(n, columns)
            np.testing.assert_allclose(f(x).numpy(), body(x), rtol=1e-6, atol=0)
    assert f.experimental_get_tracing_count() == 1, f._polymorphism.failure
    assert len(LOADS) - before == (1 if backend == "cpu" else 0)


def test_a_sequence_step_over_an_unknown_batch_and_time(backend):
    @gj.function(input_signature=[gj.TensorSpec([None, None, 3], gj.float32)])
    def step(x):
        delta = x[:, 1:] - x[:, :-1]
        return gj.reduce_sum(delta * delta, axis=1), x[:, -1]

    before = len(LOADS)
    for batch, time in ((2, 2), (3, 7), (7, 1000), (1000, 3)):
        x = np.random.default_rng(batch).standard_normal((batch, time, 3)).astype(np.float32)
        energy, last = step(x)
        delta = np.diff(x.astype(np.float64), axis=1)
        np.testing.assert_allclose(energy.numpy(), (delta * delta).sum(1), rtol=2e-5, atol=1e-5)
        np.testing.assert_array_equal(last.numpy(), x[:, -1])
    assert step.experimental_get_tracing_count() == 1
    assert len(LOADS) - before == (1 if backend == "cpu" else 0)


# ---- int indices that need a larger size; what falls back ------------------------------------------------

def test_an_index_in_range_only_from_some_size_raises_for_smaller_sizes_as_per_size_tracing(backend):
    f = gj.function(lambda x: x[3] + 1.0, input_signature=[gj.TensorSpec([None, 2], gj.float32)])
    per_size = gj.function(lambda x: x[3] + 1.0)
    for n in (4, 7, 1000):
        x = _inputs(n, 2)
        np.testing.assert_array_equal(f(x).numpy(), x[3] + 1)
    assert f.experimental_get_tracing_count() == 1   # one symbolic trace for n0 >= 4
    for n in (2, 3):
        with pytest.raises(errors.InvalidArgumentError) as got:
            f(_inputs(n, 2))
        with pytest.raises(errors.InvalidArgumentError) as want:
            per_size(_inputs(n, 2))
        assert f"index 3 is out of bounds for axis 0 with size {n}" in str(got.value)
        assert str(got.value).splitlines()[0] == str(want.value).splitlines()[0]
    np.testing.assert_array_equal(f(_inputs(5, 2)).numpy(), _inputs(5, 2)[3] + 1)   # still the symbolic trace
    assert f.experimental_get_tracing_count() == 1


def test_tf_slice_past_the_minimum_is_one_trace_from_that_size_and_an_error_below(backend):
    f = gj.function(lambda x: gj.slice(x, [1, 0], [3, -1]) * 2.0, input_signature=[gj.TensorSpec([None, 2],
                                                                                                gj.float32)])
    for n in (4, 7, 1000):
        x = _inputs(n, 2)
        np.testing.assert_array_equal(f(x).numpy(), x[1:4] * 2)
    assert f.experimental_get_tracing_count() == 1
    with pytest.raises(errors.InvalidArgumentError, match=r"begin=\[1, 0\], size=\[3, -1\] is out of bounds for "
                                                          r"shape \(3, 2\)"):
        f(_inputs(3, 2))


def test_a_negative_index_past_the_minimum_and_merged_sizes_keep_the_larger_minimum(backend):
    @gj.function(input_signature=[gj.TensorSpec([None], gj.float64), gj.TensorSpec([None], gj.float64)])
    def f(x, y):
        return (x + y)[-3] * 2.0

    for n in (3, 8, 1000):
        x, y = np.arange(n, dtype=np.float64), np.ones(n)
        assert f(x, y).numpy() == (x + y)[-3] * 2
    assert f.experimental_get_tracing_count() == 1
    with pytest.raises(errors.InvalidArgumentError, match="index -3 is out of bounds for axis 0 with size 2"):
        f(np.ones(2), np.ones(2))


@pytest.mark.parametrize("body, reason, sizes", [
    (lambda x: x[2:] * x[-2:], "whether the size (n0 - 2) is 1 depends on the sizes", (3, 4)),   # (1 or 2 rows)
    (lambda x: x[5:] * x[:-1], "whether the size max(n0 - 5, 0) is 1 depends on the sizes", (2, 6)),
])
def test_slices_whose_broadcast_depends_on_the_size_trace_per_size_and_say_why(caplog, backend, body, reason, sizes):
    f = gj.function(body, input_signature=[gj.TensorSpec([None, 2], gj.float32)])
    with caplog.at_level(logging.INFO, logger="graphjit"):
        for n in sizes:
            x = _inputs(n, 2)
            np.testing.assert_array_equal(f(x).numpy(), body(x))
    messages = [r.getMessage() for r in caplog.records if r.name == "graphjit"]
    assert any("traced per size" in m and reason in m for m in messages), messages
    assert f.experimental_get_tracing_count() == len(sizes)


def test_gather_along_an_unknown_axis_is_one_trace_and_checks_its_indices(backend):
    @gj.function(input_signature=[gj.TensorSpec([None, 3], gj.float32), gj.TensorSpec([None], gj.int32)])
    def f(x, i):
        return gj.gather(x, i) * 2.0

    for n in SIZES:
        x = _inputs(n, 3)
        i = np.random.default_rng(n).integers(0, n, size=5).astype(np.int32)
        np.testing.assert_array_equal(f(x, i).numpy(), x[i] * 2)
    assert f.experimental_get_tracing_count() == 1
    with pytest.raises(errors.InvalidArgumentError, match=r"not in \[0, 4\)"):
        f(_inputs(4, 3), np.int32([1, 4]))


# ---- gradients ---------------------------------------------------------------------------------------------

GRAD_FORMS = ["x[1:]", "x[:-1]", "x[:, 0]", "x[::2]", "x[::-1] * x", "x[-1]", "x[1:-1, ::-2]", "x[1:] + x[:-1]"]


@pytest.mark.parametrize("name", GRAD_FORMS)
def test_the_gradient_of_a_slice_is_one_trace_and_matches_finite_differences(backend, name):
    body = FORMS[name]

    @gj.function(input_signature=[gj.TensorSpec([None, None], gj.float64)])
    def grad(x):
        with gj.GradientTape() as tape:
            tape.watch(x)
            y = body(x)
            loss = gj.reduce_sum(gj.sin(y))
        return tape.gradient(loss, x)

    def loss(x):
        return np.sin(body(x)).sum()

    for n in (2, 3, 7):
        x = np.random.default_rng(n).standard_normal((n, 4))
        numeric = numeric_gradient(loss, [x], 0, wrap=np.asarray)   # central differences, float64
        np.testing.assert_allclose(grad(x).numpy(), numeric, rtol=1e-6, atol=1e-7)
    big = np.random.default_rng(0).standard_normal((1000, 3))
    with gj.GradientTape() as tape:   # (eager: NumPy's indexing and np.add.at on the concrete arrays)
        x = gj.constant(big)
        tape.watch(x)
        eager = tape.gradient(gj.reduce_sum(gj.sin(body(x))), x).numpy()
    np.testing.assert_allclose(grad(big).numpy(), eager, rtol=1e-12, atol=1e-14)
    assert grad.experimental_get_tracing_count() == 1, grad._polymorphism.failure
