"""Slices whose clamps depend on an unknown (None) size (``x[5:]`` has ``max(n0 - 5, 0)`` rows): one trace and one
compiled module for every size the symbolic trace serves (sizes >= 2, tracer.polymorphic), the clamp a size
expression (tracer.symbolic's clamp atoms) evaluated at run time from the entry's size arguments. Results are
compared with NumPy at sizes below the slice's start (empty results), around it and far above it, on both backends;
sizes 0 and 1 take per-size traces (the symbolic trace assumes sizes >= 2), whose results are checked too."""
import itertools
import logging

import numpy as np
import pytest

import graphjit as gj
from graphjit.tracer import serialize
from graphjit.tracer.symbolic import (MIN_SIZE, Atom, SymInt, SymbolicError, evaluate, parse_size, size_max,
                                      size_min, slice_indices)

from gradient_check import numeric_gradient
from support import count_module_loads

SERVED = (2, 3, 4, 5, 6, 9, 1000)   # (2..5 are below x[5:]'s start: empty results)
LOADS = []


@pytest.fixture(params=["cpu", "interpreter"])
def backend(request, monkeypatch):
    count_module_loads(monkeypatch, LOADS, request.param)
    return request.param


def _n(k, least=MIN_SIZE):
    return SymInt.atom(Atom(f"n{k}", least))


def _inputs(n, columns=3, dtype=np.float32):
    return np.random.default_rng(n).standard_normal((n, columns)).astype(dtype)


# ---- the size rules ----------------------------------------------------------------------------------------

BOUNDS = (None, -10, -5, -3, -2, -1, 0, 1, 2, 3, 5, 7)
STEPS = (None, 1, 2, 3, -1, -2, -3)


def test_every_slice_over_a_symbolic_size_is_pythons_slice_at_every_size():
    checked = 0
    for start, stop, step in itertools.product(BOUNDS, BOUNDS, STEPS):
        begin, stride, length = slice_indices(start, stop, step, _n(0))
        for n in range(MIN_SIZE, 16):
            want_begin, _, want_stride = slice(start, stop, step).indices(n)
            want_length = len(range(*slice(start, stop, step).indices(n)))
            got_begin, got_length = evaluate(begin, {"n0": n}), evaluate(length, {"n0": n})
            assert (got_length, stride) == (want_length, want_stride), (start, stop, step, n)
            if want_length:   # (an empty slice's start is never read)
                assert got_begin == want_begin, (start, stop, step, n)
            checked += 1
        for size in (begin, length):
            if isinstance(size, SymInt):
                assert str(parse_size(str(size))) == str(size)
    assert checked == len(BOUNDS) ** 2 * len(STEPS) * (16 - MIN_SIZE)


def test_clamps_are_plain_polynomials_where_decided_and_read_as_python():
    n0 = _n(0)
    assert [str(slice_indices(*k, n0)[2]) for k in ((1, None, None), (None, -2, None), (None, None, 2))] == \
        ["(n0 - 1)", "(n0 - 2)", "((n0 + 1) // 2)"]                          # (decided for sizes >= 2)
    assert str(slice_indices(5, None, None, n0)[2]) == "max(n0 - 5, 0)"
    assert str(slice_indices(-3, None, None, n0)[2]) == "(-max(n0 - 3, 0) + n0)"   # min(n0, 3)
    assert str(size_max(n0, 0)) == "n0" and str(size_min(n0 + 3, n0)) == "n0" and size_max(3, 5) == 5
    clamp = size_max(n0 - 5, 0)
    assert (clamp >= 0) is True and (clamp + 1 != 0) is True
    with pytest.raises(SymbolicError):
        clamp == 0   # noqa: B015 - 0 up to n0 = 5: never guessed
    low = size_max(3 - n0, 0)   # (at most 1 for n0 >= 2: the atom's upper bound)
    assert (3 - low >= 2) is True and (3 - low == 1) is False
    assert eval(str(clamp), {"n0": 3}) == 0 and eval(str(clamp), {"n0": 9}) == 4   # noqa: S307 - our own text


def test_an_index_into_a_clamped_size_raises_the_input_sizes_minimum():
    with pytest.raises(SymbolicError) as info:
        from graphjit.tracer.symbolic import index_position
        index_position(0, size_max(_n(0) - 5, 0), 0)
    assert info.value.require == ("n0", 6)


@pytest.mark.parametrize("text", ["max(n0, 0, 1)", "min(n0, 0)", "max(n0, key=0)", "max(__import__('os'), 0)"])
def test_a_clamp_text_is_parsed_never_evaluated(text):
    with pytest.raises(ValueError, match="size expression"):
        parse_size(text)


def test_a_graph_with_clamped_sizes_round_trips_through_json():
    f = gj.function(lambda x: x[5:] * 2.0 + x[-3:].sum(), input_signature=[gj.TensorSpec([None, 3], gj.float32)])
    graph = f.get_concrete_function().graph
    assert "max(n0 - 5, 0)" in str(graph)
    back = serialize.graph_from_json(serialize.graph_to_json(graph))
    assert back.fingerprint() == graph.fingerprint() and str(back) == str(graph)


# ---- one trace, one module ---------------------------------------------------------------------------------

def _reduce_rows(x):
    return x[5:].sum(0) if isinstance(x, np.ndarray) else gj.reduce_sum(x[5:], axis=0)


def _strided(x):
    if isinstance(x, np.ndarray):
        return x[1:-4:2]
    return gj.strided_slice(x, [1, 0], [-4, 0], [2, 1], end_mask=2)


FORMS = {
    "x[5:]": lambda x: x[5:],
    "x[:-3]": lambda x: x[:-3],
    "x[-3:]": lambda x: x[-3:],
    "x[:3] * 2": lambda x: x[:3] * 2.0,
    "x[1:7:2]": lambda x: x[1:7:2],
    "x[4::3]": lambda x: x[4::3],
    "x[5::-1]": lambda x: x[5::-1],
    "x[-2::-2]": lambda x: x[-2::-2],
    "x[:-5:-1]": lambda x: x[:-5:-1],
    "x[-8:-2]": lambda x: x[-8:-2],
    "x[5:] + 1": lambda x: x[5:] + 1.0,
    "x[5:][1:]": lambda x: x[5:][1:],
    "x[2:-2, ::-1]": lambda x: x[2:-2, ::-1],
    "x[5:] * x[:1]": lambda x: x[5:] * x[:1],
    "x[-3:] - x[:3]": lambda x: x[-3:] - x[:3],
    "x[4:].sum(0)": _reduce_rows,
    "strided_slice(x, [1], [-4], [2])": _strided,
}


W = np.random.default_rng(7).standard_normal((3, 4)).astype(np.float32)


def _either(traced, numpy):
    return lambda x: numpy(x) if isinstance(x, np.ndarray) else traced(x)


# Ops over a clamped size that may be 0 or 1: the compiled code tests it at run time (gemm's beta and its empty
# case, concat's and tile's loops, a kernel operand's offset), map_fn's loop is bounded by it, and the
# interpreter gives control-flow bodies the run's sizes.
CONSUMERS = {
    "x[5:] @ w": lambda x: x[5:] @ W,
    "x[-3:].T @ x[-3:]": _either(lambda x: gj.matmul(x[-3:], x[-3:], transpose_a=True), lambda x: x[-3:].T @ x[-3:]),
    "concat": _either(lambda x: gj.concat([x[5:], x[:2]], axis=0), lambda x: np.concatenate([x[5:], x[:2]])),
    "stack": _either(lambda x: gj.stack([x[5:], x[5:] * 2.0]), lambda x: np.stack([x[5:], x[5:] * 2])),
    "tile": _either(lambda x: gj.tile(x[5:], [2, 1]), lambda x: np.tile(x[5:], [2, 1])),
    "reshape": _either(lambda x: gj.reshape(x[5:], [-1]), lambda x: x[5:].reshape(-1)),
    "gather": _either(lambda x: gj.gather(x[-3:], [0, 1]), lambda x: x[-3:][[0, 1]]),
    "map_fn": _either(lambda x: gj.map_fn(lambda r: r * 2.0 + 1.0, x[5:]), lambda x: x[5:] * 2 + 1),
    "cond": _either(lambda x: gj.cond(gj.reduce_sum(x) > 0, lambda: x[5:] * 2.0, lambda: x[5:] - 1.0),
                    lambda x: x[5:] * 2 if x.sum() > 0 else x[5:] - 1),
    "mean": _either(lambda x: gj.reduce_mean(x[3:7], axis=0), lambda x: x[3:7].mean(0)),
}


@pytest.mark.filterwarnings("ignore:Mean of empty slice")   # (NumPy's nan mean of no rows: the result compared)
@pytest.mark.parametrize("name", sorted(CONSUMERS))
def test_ops_over_a_clamped_size_are_one_trace_and_one_module(backend, name):
    body = CONSUMERS[name]
    f = gj.function(body, input_signature=[gj.TensorSpec([None, 3], gj.float32)])
    before = len(LOADS)
    for n in SERVED:
        x = _inputs(n)
        np.testing.assert_allclose(f(x).numpy(), body(x), rtol=1e-5, atol=1e-5)
    assert f.experimental_get_tracing_count() == 1, f._polymorphism.failure
    assert len(LOADS) - before == (1 if backend == "cpu" else 0)


@pytest.mark.parametrize("name", sorted(FORMS))
def test_each_clamped_slice_is_one_trace_and_one_module_at_every_size(backend, name):
    body = FORMS[name]
    f = gj.function(body, input_signature=[gj.TensorSpec([None, 3], gj.float32)])
    before = len(LOADS)
    for n in SERVED:
        x = _inputs(n)
        np.testing.assert_allclose(f(x).numpy(), body(x), rtol=1e-5, atol=1e-6)
    assert f.experimental_get_tracing_count() == 1, f._polymorphism.failure
    assert len(LOADS) - before == (1 if backend == "cpu" else 0)
    for n in (0, 1):   # (per-size traces: the symbolic trace assumes sizes >= 2)
        x = _inputs(n)
        np.testing.assert_allclose(f(x).numpy(), body(x), rtol=1e-5, atol=1e-6)
    assert f.experimental_get_tracing_count() == 3


def test_clamped_slices_of_two_unknown_sizes_are_one_trace(backend):
    @gj.function(input_signature=[gj.TensorSpec([None, None], gj.float64)])
    def f(x):
        return x[3:, :-4] * 2.0, x[:, 5::-2]

    before = len(LOADS)
    for rows, columns in ((2, 2), (2, 9), (7, 3), (4, 1000), (1000, 6)):
        x = np.random.default_rng(rows + columns).standard_normal((rows, columns))
        a, b = f(x)
        np.testing.assert_array_equal(a.numpy(), x[3:, :-4] * 2)
        np.testing.assert_array_equal(b.numpy(), x[:, 5::-2])
    assert f.experimental_get_tracing_count() == 1, f._polymorphism.failure
    assert len(LOADS) - before == (1 if backend == "cpu" else 0)


def test_the_compiled_kernel_takes_the_clamp_as_code_over_its_size_arguments():
    f = gj.function(lambda x: x[5:] * 2.0, input_signature=[gj.TensorSpec([None, 3], gj.float32)])
    saved = gj.config.backend, gj.config.compile_in_background
    gj.config.backend, gj.config.compile_in_background = "cpu", False
    try:
        for n in (3, 8):
            np.testing.assert_array_equal(f(_inputs(n)).numpy(), _inputs(n)[5:] * 2)
        source = "\n".join(f.get_concrete_function().kernels.values())
    finally:
        gj.config.backend, gj.config.compile_in_background = saved
    assert "max(n0 - 5, 0)" in source and "n0" in source


def test_an_index_into_a_clamped_slice_is_one_trace_from_the_size_it_needs(backend):
    f = gj.function(lambda x: x[5:][0] * 2.0, input_signature=[gj.TensorSpec([None, 3], gj.float32)])
    for n in (6, 7, 1000):
        x = _inputs(n)
        np.testing.assert_array_equal(f(x).numpy(), x[5] * 2)
    assert f.experimental_get_tracing_count() == 1 and f._polymorphism.minimum == {"n0": 6}
    with pytest.raises(gj.errors.InvalidArgumentError, match="index 0 is out of bounds for axis 0 with size 0"):
        f(_inputs(5))


def test_a_broadcast_that_depends_on_a_clamped_size_traces_per_size_and_says_why(caplog, backend):
    body = FORMS["x[5:]"]

    def f_body(x):
        return body(x) * x[-3:]   # (broadcasts only where x[5:] has 1 or 3 rows)

    f = gj.function(f_body, input_signature=[gj.TensorSpec([None, 3], gj.float32)])
    with caplog.at_level(logging.INFO, logger="graphjit"):
        for n in (6, 8):
            x = _inputs(n)
            np.testing.assert_array_equal(f(x).numpy(), f_body(x))
        with pytest.raises(gj.errors.InvalidArgumentError):
            f(_inputs(7))
    messages = [r.getMessage() for r in caplog.records if r.name == "graphjit"]
    assert any("traced per size" in m and "max(n0 - 5, 0)" in m for m in messages), messages


# ---- gradients ---------------------------------------------------------------------------------------------

GRAD_FORMS = ["x[5:]", "x[-3:]", "x[:3] * 2", "x[1:7:2]", "x[5::-1]", "x[-2::-2]", "x[5:] + 1", "x[-3:] - x[:3]",
              "x[4:].sum(0)"]


@pytest.mark.parametrize("name", GRAD_FORMS)
def test_the_gradient_of_a_clamped_slice_is_one_trace_and_matches_finite_differences(backend, name):
    body = FORMS[name]

    @gj.function(input_signature=[gj.TensorSpec([None, 3], gj.float64)])
    def grad(x):
        with gj.GradientTape() as tape:
            tape.watch(x)
            loss = gj.reduce_sum(gj.sin(body(x)))
        return tape.gradient(loss, x)

    def loss(x):
        return np.sin(body(x)).sum()

    for n in (2, 4, 6, 9):
        x = np.random.default_rng(n).standard_normal((n, 3))
        numeric = numeric_gradient(loss, [x], 0, wrap=np.asarray)   # central differences, float64
        np.testing.assert_allclose(grad(x).numpy(), numeric, rtol=1e-6, atol=1e-7)
    big = np.random.default_rng(0).standard_normal((1000, 3))
    with gj.GradientTape() as tape:   # (eager: NumPy's indexing and np.add.at on the concrete arrays)
        x = gj.constant(big)
        tape.watch(x)
        eager = tape.gradient(gj.reduce_sum(gj.sin(body(x))), x).numpy()
    np.testing.assert_allclose(grad(big).numpy(), eager, rtol=1e-12, atol=1e-14)
    assert grad.experimental_get_tracing_count() == 1, grad._polymorphism.failure


def test_reduce_retracing_generalises_a_clamped_slice_to_one_symbolic_trace(backend):
    @gj.function(reduce_retracing=True)
    def f(x):
        return x[5:] * 2.0 + x[-3:].sum()

    before = len(LOADS)
    for n in (3, 8, 2, 6, 1000, 4):   # (3: exact; 8: the None-dim trace, which serves the rest)
        x = _inputs(n)
        np.testing.assert_allclose(f(x).numpy(), x[5:] * 2 + x[-3:].sum(), rtol=1e-5, atol=1e-5)
    assert f.experimental_get_tracing_count() == 2
    assert len(LOADS) - before == (2 if backend == "cpu" else 0)
