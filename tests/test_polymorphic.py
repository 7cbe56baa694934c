"""Signatures with unknown (None) sizes: one trace and one compiled kernel serve every size (tracer.symbolic,
tracer.polymorphic); what cannot be traced over symbolic sizes falls back to one trace per size, logged."""
import logging

import numpy as np
import pytest

import graphjit as gj
from graphjit import errors
from graphjit.runtime.runtime import get_runtime
from graphjit.tracer.symbolic import MIN_SIZE, Atom, SymInt, SymbolicError

from support import count_module_loads


LOADS = []   # one entry per module the CPU backend compiled or loaded from the kernel cache


@pytest.fixture(autouse=True)
def _compiled_now(monkeypatch):
    """The Numba CPU backend, compiling before the first call returns; every module load is counted."""
    count_module_loads(monkeypatch, LOADS)


def _loads():
    return len(LOADS)


def _n(k):
    return SymInt.atom(Atom(f"n{k}", MIN_SIZE))


# ---- SymInt ------------------------------------------------------------------------------------------------

def test_symint_arithmetic_text_and_decisions():
    n0, n1 = _n(0), _n(1)
    assert str(n0 * 3 + 1) == "(n0 * 3 + 1)" and (n0 * 3) // 3 is not None and str((n0 * 3) // 3) == "n0"
    assert (n0 + 1) // 2 == (n0 + 1) // 2 and ((n0 + 1) // 2).evaluate({"n0": 7}) == 4
    assert (n0 * n1 - n0).evaluate({"n0": 3, "n1": 5}) == 12 and (n0 % 4).evaluate({"n0": 7}) == 3
    assert eval(str(n0 * n1 * 2 - n0 + 5), {"n0": 3, "n1": 4}) == 26   # the text is code over the atoms
    assert n0 - n0 == 0 and type(n0 - n0) is int
    # every unknown size is assumed >= 2: broadcasting's questions are decided
    assert (n0 > 1) is True and (n0 == 1) is False and (n0 != 1) is True and (n0 * 2 >= 4) is True
    assert (n0 == 5) is False   # undecidable against a number: unknown, as TF's None
    with pytest.raises(SymbolicError) as info:
        n0 == n1   # noqa: B015
    assert info.value.unify == ("n0", "n1")
    for needs_int in (lambda: int(n0), lambda: range(n0), lambda: n0 < 5, lambda: [0][n0]):
        with pytest.raises(SymbolicError):
            needs_int()
    assert issubclass(errors.SymbolicError, TypeError) and errors.SymbolicError is SymbolicError
    assert (n0 * 3).hint() == 3072


# ---- one trace, one kernel ---------------------------------------------------------------------------------

def test_one_trace_and_one_compiled_kernel_serve_every_size():
    @gj.function(input_signature=[gj.TensorSpec([None, 3], gj.float32)])
    def f(x):
        return gj.reduce_sum(x * 2.0 + gj.constant([1.0, 2.0, 3.0]), axis=1), gj.exp(x) * x

    rng = np.random.default_rng(0)
    before = _loads()
    for n in (3, 4, 17, 1000, 100000, 5):
        x = rng.standard_normal((n, 3)).astype(np.float32)
        total, y = f(x)
        np.testing.assert_allclose(total.numpy(), (x * 2 + np.float32([1, 2, 3])).sum(1), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(y.numpy(), np.exp(x) * x, rtol=1e-6)
        assert total.shape == (n,) and y.shape == (n, 3)
    assert f.experimental_get_tracing_count() == 1
    assert _loads() - before == 1   # one module loaded or compiled for all six sizes
    concrete = f.get_concrete_function()
    assert list(get_runtime().executables(concrete)) == ["cpu"]
    source = "\n".join(concrete.kernels.values())
    assert "range(n0)" in source and "int64" in source
    assert concrete.structured_outputs[0].shape.as_list() == [None]


def test_unknown_batch_through_elementwise_reduction_and_matmul():
    w = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)

    @gj.function(input_signature=[gj.TensorSpec([None, 3], gj.float32)])
    def f(x):
        h = gj.nn.relu(x @ gj.constant(w) + 0.5)
        return gj.reduce_mean(h, axis=0), gj.reduce_max(h), h

    for n in (2, 7, 300):
        x = np.random.default_rng(n).standard_normal((n, 3)).astype(np.float32)
        h = np.maximum(x.astype(np.float64) @ w + 0.5, 0)
        mean, top, hidden = f(x)
        np.testing.assert_allclose(hidden.numpy(), h, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(mean.numpy(), h.mean(0), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(top.numpy(), h.max(), rtol=1e-5)
    assert f.experimental_get_tracing_count() == 1


def test_broadcasting_unknown_rows_with_a_vector_and_a_column():
    @gj.function(input_signature=[gj.TensorSpec([None, 3], gj.float32), gj.TensorSpec([3], gj.float32)])
    def f(x, v):
        return x * v - gj.reduce_sum(x, axis=1, keepdims=True)

    v = np.float32([1, -2, 3])
    for n in (2, 9):
        x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
        np.testing.assert_allclose(f(x, v).numpy(), x * v - x.sum(1, keepdims=True), rtol=1e-6)
    assert f.experimental_get_tracing_count() == 1
    assert str(f.get_concrete_function().graph).count("f32[n0,3]") >= 2


def test_two_unknown_sizes_added_together_are_merged_and_then_must_agree():
    @gj.function(input_signature=[gj.TensorSpec([None], gj.float32), gj.TensorSpec([None], gj.float32)])
    def f(x, y):
        return x + y

    for n in (2, 5, 40):
        a, b = np.arange(n, dtype=np.float32), np.ones(n, np.float32)
        np.testing.assert_array_equal(f(a, b).numpy(), a + b)
    assert f.experimental_get_tracing_count() == 1
    assert "f32[n0]" in str(f.get_concrete_function().graph) and "n1" not in str(f.get_concrete_function().graph)
    with pytest.raises(errors.InvalidArgumentError):
        f(np.ones(3, np.float32), np.ones(4, np.float32))   # a per-size trace: the shapes' own error


def test_size_zero_and_one_take_a_per_size_trace():
    @gj.function(input_signature=[gj.TensorSpec([None, 2], gj.float32)])
    def f(x):
        return gj.reduce_sum(x, axis=0) + 1.0

    for n in (3, 1, 0, 4):
        x = np.arange(2 * n, dtype=np.float32).reshape(n, 2)
        np.testing.assert_array_equal(f(x).numpy(), x.sum(0) + 1)
    assert f.experimental_get_tracing_count() == 3   # symbolic (3, 4), then size 1 and size 0


def test_sgd_training_step_over_any_batch_is_one_trace_and_one_compiled_entry():
    rng = np.random.default_rng(2)
    w0 = rng.standard_normal((3, 2)).astype(np.float32)
    w = gj.Variable(w0.copy(), name="w_poly")
    optimizer = gj.optimizers.SGD(0.1)

    @gj.function(input_signature=[gj.TensorSpec([None, 3], gj.float32), gj.TensorSpec([None, 2], gj.float32)])
    def step(x, y):
        with gj.GradientTape() as tape:
            loss = gj.reduce_mean((x @ w - y) ** 2)
        optimizer.apply_gradients(zip(tape.gradient(loss, [w]), [w]))
        return loss

    expected = w0.astype(np.float64)
    before = _loads()
    for n in (4, 9, 33, 4, 128):
        x = rng.standard_normal((n, 3)).astype(np.float32)
        y = rng.standard_normal((n, 2)).astype(np.float32)
        residual = x @ expected - y
        loss = (residual ** 2).mean()
        expected = expected - 0.1 * (x.T @ (2 * residual / residual.size))
        np.testing.assert_allclose(step(x, y).numpy(), loss, rtol=1e-4)
        np.testing.assert_allclose(w.numpy(), expected, rtol=1e-4, atol=1e-5)
    assert step.experimental_get_tracing_count() == 1
    assert _loads() - before == 1
    compiled = get_runtime().executables(step.get_concrete_function())["cpu"]
    assert [s.kind for s in compiled.steps] == ["compiled"]   # the shape count runs inside the entry


# ---- what falls back, logged ------------------------------------------------------------------------------

@pytest.mark.parametrize("body, reason", [
    (lambda x: x[1:x.shape[0] - 1] * 2.0, "traced per size"),   # a slice bound computed from a None size
    (lambda x: gj.ones(x.shape) + x, "traced per size"),                 # a shape of None given to a creation op
    (lambda x: gj.stack([x[i] for i in range(x.shape[0])]), "traced per size"),   # a Python loop over the size
])
def test_functions_that_need_concrete_sizes_trace_per_size_and_say_why(caplog, body, reason):
    f = gj.function(body, input_signature=[gj.TensorSpec([None, 3], gj.float32)])
    with caplog.at_level(logging.INFO, logger="graphjit"):
        for n in (4, 5):
            x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
            eager = body(gj.constant(x)).numpy()
            np.testing.assert_allclose(f(x).numpy(), eager, rtol=1e-6)
    messages = [r.getMessage() for r in caplog.records if r.name == "graphjit"]
    assert any(reason in m and "because" in m for m in messages), messages
    assert f.experimental_get_tracing_count() == 2


def test_control_flow_over_unknown_sizes_is_one_trace(caplog):
    @gj.function(input_signature=[gj.TensorSpec([None], gj.float32)])
    def f(x):
        return gj.cond(gj.reduce_sum(x) > 0, lambda: x * 2.0, lambda: x - 1.0)

    with caplog.at_level(logging.INFO, logger="graphjit"):
        for n in (3, 4):
            x = np.arange(n, dtype=np.float32) - 1
            np.testing.assert_array_equal(f(x).numpy(), x * 2 if x.sum() > 0 else x - 1)
    assert not any("traced per size" in r.getMessage() for r in caplog.records)
    assert f.experimental_get_tracing_count() == 1   # (tests/test_polymorphic_control_flow.py has the rest)


# ---- the call path -----------------------------------------------------------------------------------------

def test_zeros_like_and_ones_like_of_an_unknown_size_are_one_trace():
    @gj.function(input_signature=[gj.TensorSpec([None, 2], gj.float64)])
    def f(x):
        return gj.zeros_like(x) + 2.0 * gj.ones_like(x, dtype=gj.float64) - x

    for n in (2, 6):
        x = np.arange(2.0 * n).reshape(n, 2)
        np.testing.assert_array_equal(f(x).numpy(), 2.0 - x)
    assert f.experimental_get_tracing_count() == 1


def test_a_list_for_a_one_tensor_signature_is_one_tensor():
    @gj.function(input_signature=[gj.TensorSpec([None], gj.float32)])
    def f(x):
        return x * 2.0
    np.testing.assert_array_equal(f([1.0, 2.0, 3.0]).numpy(), np.float32([2, 4, 6]))
    np.testing.assert_array_equal(f([1.0, 2.0]).numpy(), np.float32([2, 4]))
    assert f.experimental_get_tracing_count() == 1


def test_a_wrong_dtype_or_rank_is_still_refused():
    @gj.function(input_signature=[gj.TensorSpec([None, 3], gj.float32)])
    def f(x):
        return x + 1.0
    f(np.ones((2, 3), np.float32))
    with pytest.raises(errors.InvalidArgumentError, match="input_signature"):
        f(np.ones((2, 4), np.float32))
    with pytest.raises(errors.InvalidArgumentError, match="input_signature"):
        f(np.ones((2, 3), np.float64))
    with pytest.raises(errors.InvalidArgumentError):
        f.get_concrete_function()(np.ones((3,), np.float32))


def test_the_interpreter_runs_the_symbolic_trace_too():
    @gj.function(input_signature=[gj.TensorSpec([None, None], gj.float64)], jit_compile=False)
    def f(x):
        return gj.reshape(gj.transpose(x), [-1]) * 2.0

    for shape in ((2, 3), (5, 2)):
        x = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
        np.testing.assert_array_equal(f(x).numpy(), x.T.reshape(-1) * 2)
    assert f.experimental_get_tracing_count() == 1


# ---- reduce_retracing (TF's documented examples) -----------------------------------------------------------

def test_reduce_retracing_generalises_after_the_second_shape():
    traced = []

    @gj.function(reduce_retracing=True)
    def g(x):
        traced.append(x.shape.as_list())
        return x

    for n in (3, 5, 7, 9):
        np.testing.assert_array_equal(g(gj.constant(np.arange(n))).numpy(), np.arange(n))
    assert traced == [[3], [None]] and g.experimental_get_tracing_count() == 2


def test_reduce_retracing_keeps_ranks_and_python_values_apart():
    @gj.function(reduce_retracing=True)
    def f(x, scale):
        return x * scale

    f(np.ones((2, 3), np.float32), 2.0)
    f(np.ones((4, 3), np.float32), 2.0)      # generalised to (None, 3)
    f(np.ones((8, 3), np.float32), 2.0)      # served
    assert f.experimental_get_tracing_count() == 2
    f(np.ones((8, 3), np.float32), 3.0)      # a new Python value: a new trace
    f(np.ones((3,), np.float32), 2.0)        # a new rank: a new trace
    assert f.experimental_get_tracing_count() == 4
    out = f(np.ones((5, 4), np.float32), 2.0)   # widened to (None, None)
    np.testing.assert_array_equal(out.numpy(), np.full((5, 4), 2, np.float32))
    f(np.ones((6, 7), np.float32), 2.0)
    assert f.experimental_get_tracing_count() == 5


def test_without_reduce_retracing_every_shape_traces():
    @gj.function
    def g(x):
        return x
    for n in (3, 5, 7):
        g(gj.constant(np.arange(n)))
    assert g.experimental_get_tracing_count() == 3


def test_explain_and_debug_compare_run_the_symbolic_trace_at_the_given_sizes(monkeypatch):
    w = gj.Variable(np.ones((3, 2), np.float32), name="w_explain")

    @gj.function(input_signature=[gj.TensorSpec([None, 3], gj.float32)])
    def f(x):
        h = gj.nn.relu(x @ w + 1.0)
        return gj.reduce_sum(h * h, axis=1)

    x = np.ones((5, 3), np.float32)
    text = str(gj.explain(f, x))
    assert "reduce_sum" in text and "1 compiled entry per call" in text
    assert f.get_concrete_function(x) is f.get_concrete_function() and f.experimental_get_tracing_count() == 1
    monkeypatch.setattr(gj.config, "debug_compare", "raise")   # compiled vs interpreter at each call's sizes
    for n in (2, 7):
        np.testing.assert_array_equal(f(np.ones((n, 3), np.float32)).numpy(), np.full(n, 32, np.float32))


def test_derived_sizes_that_may_be_0_or_1_are_never_guessed():
    n0 = _n(0)
    half = n0 // 2   # 1 for n0 = 2 or 3: broadcasting would decide differently
    with pytest.raises(SymbolicError):
        half == 1   # noqa: B015
    with pytest.raises(SymbolicError):
        bool(n0 - 2)
    assert (half == 7) is False and (half >= 1) is True


def test_an_exact_signature_takes_the_same_fast_path_to_its_one_trace():
    @gj.function(input_signature=[gj.TensorSpec([2, 3], gj.float32), gj.TensorSpec([], gj.float32)])
    def f(x, s):
        return x * s

    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    for args in ((x, np.float32(2)), (gj.constant(x), gj.constant(np.float32(2))), (x.tolist(), 2.0)):
        np.testing.assert_array_equal(f(*args).numpy(), x * 2)
    assert f.experimental_get_tracing_count() == 1
    with pytest.raises(errors.InvalidArgumentError, match="input_signature"):
        f(np.ones((3, 3), np.float32), 2.0)
    with pytest.raises(errors.InvalidArgumentError, match="input_signature"):
        f(x.astype(np.float64), 2.0)


def test_reshape_with_minus_one_over_an_unknown_size_and_transpose_are_one_trace():
    @gj.function(input_signature=[gj.TensorSpec([None, 4], gj.float32)])
    def f(x):
        pairs = gj.reshape(gj.reshape(x, [-1]) * 2.0, [-1, 2])
        return gj.reduce_sum(pairs, axis=1), gj.transpose(x) + 1.0

    for n in (2, 5, 64):
        x = np.arange(4 * n, dtype=np.float32).reshape(n, 4)
        sums, transposed = f(x)
        np.testing.assert_array_equal(sums.numpy(), (x.reshape(-1) * 2).reshape(-1, 2).sum(1))
        np.testing.assert_array_equal(transposed.numpy(), x.T + 1)
    assert f.experimental_get_tracing_count() == 1
    assert "f32[(n0 * 2),2]" in str(f.get_concrete_function().graph)


def test_reshape_with_minus_one_that_may_not_divide_traces_per_size(caplog):
    @gj.function(input_signature=[gj.TensorSpec([None], gj.float32)])
    def f(x):
        return gj.reshape(x, [-1, 2])

    with caplog.at_level(logging.INFO, logger="graphjit"):
        np.testing.assert_array_equal(f(np.arange(6, dtype=np.float32)).numpy(), np.arange(6).reshape(3, 2))
        with pytest.raises(errors.InvalidArgumentError, match="cannot reshape"):
            f(np.arange(5, dtype=np.float32))
    assert any("traced per size" in r.getMessage() for r in caplog.records)


_FIRST_TRACE_OF_A_PROCESS = """
import numpy as np
import graphjit as gj
from graphjit.compiler.backend import get_backend
gj.config.backend = "cpu"
get_backend("cpu").symbolic_problem = lambda graph: "this backend wants known sizes"   # (no runtime exists yet)
f = gj.function(lambda x: x * 2.0, input_signature=[gj.TensorSpec([None], gj.float32)])
assert f(np.ones(3, np.float32)).numpy().tolist() == [2.0, 2.0, 2.0]
print(f._polymorphism.failure)
"""


def test_the_first_symbolic_trace_of_a_process_asks_the_backend():
    """The backend's verdict on a graph over symbolic sizes is asked before the process's first call has made the
    runtime (it was skipped then: that trace was kept, and a backend that needs known sizes got it)."""
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-c", _FIRST_TRACE_OF_A_PROCESS], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "this backend wants known sizes"
