"""Gradients of loops whose trip count is an input_signature's unknown (None) size: one trace and one compiled
module serve every size >= 2. The gradient's forward re-run stacks each iteration's loop variables into tensors of
``[trip count, ...]`` rows, and that count is the symbolic size (``maximum_iterations=n0``, evaluated per run), so
nothing in the backward loop is a Python constant. Covered: ``gj.while_loop`` bounded by ``gj.shape(x)[0]``,
``gj.map_fn``, ``gj.scan`` (forward and reversed), and AutoGraph's ``for v in x`` and ``for i in range(gj.shape(x)[0])``
(whose bound is then known while tracing, so the converted loop has ``maximum_iterations`` and a gradient). Sizes 1
and 0 take per-size traces (tracer.polymorphic: broadcasting decides differently there), checked too.

Reference: float64 central finite differences of the same computation written in NumPy
(tests/gradient_check.numeric_gradient's scheme), rtol 1e-6 / atol 1e-8 (h = 1e-6, smooth functions)."""
import logging

import numpy as np
import pytest

import graphjit as gj
from graphjit.runtime.runtime import get_runtime

from gradient_check import ATOL, RTOL, numeric_gradient
from support import count_module_loads

LOADS = []
VECTOR = gj.TensorSpec([None], gj.float64)
ROWS = gj.TensorSpec([None, 3], gj.float64)
WEIGHTS = gj.TensorSpec([3], gj.float64)
# A loop body indexing x[i] with its counter cannot be traced for size 0 (the index rule rejects any index into an
# empty axis), so those loops are checked at size 1 only; map_fn and scan build no loop for no element.
BODY_INDEXES = (1,)


@pytest.fixture(autouse=True)
def _compiled_now(monkeypatch):
    count_module_loads(monkeypatch, LOADS)


def _numeric_gradient(reference, arrays, k):
    """Central differences of the scalar NumPy function ``reference`` with respect to argument ``k``."""
    return numeric_gradient(reference, arrays, k, wrap=np.asarray)


def _input(shape, seed):
    return np.random.default_rng(seed).uniform(-1.0, 1.0, shape)


def _gradient_function(forward, signature):
    """A gj.function (over ``signature``) returning the tape's gradients of scalar ``forward`` for every input."""
    @gj.function(input_signature=signature)
    def gradients(*xs):
        with gj.GradientTape() as tape:
            tape.watch(list(xs))
            y = forward(*xs)
        # (for no element map_fn and scan build no loop, and the result does not depend on x: zeros, not None)
        return tape.gradient(y, list(xs), unconnected_gradients="zero")
    return gradients


def _check_sizes(grad_fn, reference, shapes, sizes=(2, 3, 7), small=(1, 0)):
    """Gradients against finite differences for each size (a shape function of n per input): the sizes >= 2 by one
    trace and one compiled module whose steps are all compiled, then one per-size trace for each small size."""
    before = len(LOADS)
    for n in sizes + small:
        arrays = [_input(shape(n), seed=n + k) for k, shape in enumerate(shapes)]
        got = grad_fn(*arrays)
        for k, g in enumerate(got):
            np.testing.assert_allclose(g.numpy(), _numeric_gradient(reference, arrays, k), rtol=RTOL, atol=ATOL,
                                       err_msg=f"size {n}, argument {k}")
        if n == sizes[-1]:
            assert grad_fn.experimental_get_tracing_count() == 1
            assert len(LOADS) - before == 1
            steps = get_runtime().executables(grad_fn.get_concrete_function())["cpu"].steps
            assert {step.kind for step in steps} == {"compiled"}
    assert grad_fn.experimental_get_tracing_count() == 1 + len(small)


def test_while_loop_bounded_by_an_unknown_size():
    def forward(x):
        n = gj.shape(x)[0]
        _, s = gj.while_loop(lambda i, s: i < n, lambda i, s: (i + 1, s * gj.cos(x[i]) + x[i] ** 2),
                             (0, gj.constant(1.0, gj.float64)), maximum_iterations=n)
        return s

    def reference(x):
        s = 1.0
        for v in x:
            s = s * np.cos(v) + v ** 2
        return s
    _check_sizes(_gradient_function(forward, [VECTOR]), reference, [lambda n: (n,)], small=BODY_INDEXES)


def test_map_fn_over_unknown_rows_with_a_weight_operand():
    def forward(x, w):
        return gj.reduce_sum(gj.map_fn(lambda r: gj.sin(r * w) * gj.reduce_sum(r * r), x))

    def reference(x, w):
        return float(np.sum(np.sin(x * w) * np.sum(x * x, axis=1, keepdims=True)))
    _check_sizes(_gradient_function(forward, [ROWS, WEIGHTS]), reference, [lambda n: (n, 3), lambda n: (3,)])


@pytest.mark.parametrize("reverse", [False, True])
def test_scan_over_unknown_rows(reverse):
    def forward(x, w):
        rows = gj.scan(lambda a, r: gj.tanh(a * w + r), x, initializer=gj.zeros([3], gj.float64), reverse=reverse)
        return gj.reduce_sum(rows * rows)

    def reference(x, w):
        a, total = np.zeros(3), 0.0
        for r in (x[::-1] if reverse else x):
            a = np.tanh(a * w + r)
            total += float(np.sum(a * a))
        return total
    _check_sizes(_gradient_function(forward, [ROWS, WEIGHTS]), reference, [lambda n: (n, 3), lambda n: (3,)])


def test_scan_without_initializer_over_an_unknown_size():
    def forward(x):
        return gj.reduce_sum(gj.sin(gj.scan(lambda a, v: a * v + 0.5, x)))

    def reference(x):
        a, total = x[0], np.sin(x[0])
        for v in x[1:]:
            a = a * v + 0.5
            total += np.sin(a)
        return float(total)
    _check_sizes(_gradient_function(forward, [VECTOR]), reference, [lambda n: (n,)], small=(1,))


def test_converted_for_over_the_rows_of_a_tensor():
    @gj.function(input_signature=[VECTOR])   # (AutoGraph converts the loops of the decorated function's own body)
    def gradients(x):
        with gj.GradientTape() as tape:
            tape.watch(x)
            s = gj.constant(0.0, gj.float64)
            for v in x:
                s = s * 0.5 + gj.sin(v) * s + v
        return (tape.gradient(s, x),)

    def reference(x):
        s = 0.0
        for v in x:
            s = s * 0.5 + np.sin(v) * s + v
        return s
    _check_sizes(gradients, reference, [lambda n: (n,)], small=BODY_INDEXES)


def test_converted_for_over_a_range_of_an_unknown_size():
    @gj.function(input_signature=[ROWS, WEIGHTS])
    def gradients(x, w):
        with gj.GradientTape() as tape:
            tape.watch([x, w])
            h = gj.zeros([3], gj.float64)
            for i in range(gj.shape(x)[0]):
                h = gj.tanh(h * w + x[i])
            y = gj.reduce_sum(h)
        return tape.gradient(y, [x, w])

    def reference(x, w):
        h = np.zeros(3)
        for r in x:
            h = np.tanh(h * w + r)
        return float(np.sum(h))
    _check_sizes(gradients, reference, [lambda n: (n, 3), lambda n: (3,)], small=BODY_INDEXES)


def test_reduce_retracing_generalises_a_loop_gradient_once():
    @gj.function(reduce_retracing=True)
    def gradient(x):
        with gj.GradientTape() as tape:
            tape.watch(x)
            y = gj.reduce_sum(gj.map_fn(lambda v: gj.exp(v) * v, x))
        return tape.gradient(y, x)

    for k, n in enumerate((2, 5, 8, 13)):
        x = _input((n,), seed=n)
        np.testing.assert_allclose(gradient(x).numpy(), np.exp(x) * (x + 1), rtol=1e-12)
        assert gradient.experimental_get_tracing_count() == min(k + 1, 2)   # exact, then one over None


def test_a_converted_for_over_a_known_size_now_has_a_gradient():
    """A tensor range whose bound is known while tracing (gj.shape of a static shape) bounds its loop too."""
    @gj.function
    def gradient(x):
        with gj.GradientTape() as tape:
            tape.watch(x)
            s = gj.constant(1.0, gj.float64)
            for i in range(1, gj.shape(x)[0], 2):
                s = s * x[i] + x[i - 1]
        return tape.gradient(s, x)

    def reference(x):
        s = 1.0
        for i in range(1, len(x), 2):
            s = s * x[i] + x[i - 1]
        return s
    for n in (1, 4, 7):
        x = _input((n,), seed=n)
        np.testing.assert_allclose(gradient(x).numpy(), _numeric_gradient(reference, [x], 0), rtol=RTOL, atol=ATOL)


def test_a_loop_bounded_by_a_tensor_without_a_known_value_still_says_it_needs_maximum_iterations():
    @gj.function
    def gradient(x, n):
        with gj.GradientTape() as tape:
            tape.watch(x)
            s = gj.constant(0.0, gj.float64)
            for i in range(n):
                s = s + x[i] * x[i]
        return tape.gradient(s, x)

    with pytest.raises(gj.errors.UnimplementedError, match="maximum_iterations"):
        gradient(np.ones(3), np.int32(2))


def test_no_polymorphic_loop_gradient_falls_back_to_per_size_traces(caplog):
    def forward(x):
        return gj.reduce_sum(gj.map_fn(lambda r: r * r, x))
    grad_fn = _gradient_function(forward, [ROWS])
    with caplog.at_level(logging.INFO, logger="graphjit"):
        for n in (2, 5):
            x = _input((n, 3), seed=n)
            np.testing.assert_allclose(grad_fn(x)[0].numpy(), 2 * x, rtol=1e-12)
    assert grad_fn.experimental_get_tracing_count() == 1
    assert not any("traced per size" in r.getMessage() for r in caplog.records)


def test_the_gradient_of_map_fn_does_not_stack_its_accumulator():
    """The accumulator [n, 3] is only added into, so its value per iteration is not kept: no [n, n, 3] stack (which
    would be quadratic in n); the row values the body's gradient needs still are ([n, 3])."""
    grad_fn = _gradient_function(lambda x: gj.reduce_sum(gj.map_fn(lambda r: gj.sin(r) * r, x)), [ROWS])
    listing = repr(grad_fn.get_concrete_function().graph)
    assert "f64[n0,n0,3]" not in listing and "f64[n0,3]" in listing
    x = _input((4, 3), seed=4)
    np.testing.assert_allclose(grad_fn(x)[0].numpy(), np.cos(x) * x + np.sin(x), rtol=1e-12)
