"""The compiled runner's buffers (compiler/runner.py): internal intermediates are one per-thread set reused as is,
results and new variable values come from the double-buffered pool, variables are read and written through the
state's dict. Every result is checked against NumPy (float32 arithmetic: rtol 1e-5, and atol 1e-6 where a sum
of terms can cancel near zero)."""
import threading

import numpy as np
import pytest

import graphjit as gj
from graphjit import errors
from graphjit.runtime.state import State

RNG = np.random.default_rng(7)
RTOL = 1e-5


@pytest.fixture
def compiled(monkeypatch):
    monkeypatch.setattr(gj.config, "backend", "cpu")
    monkeypatch.setattr(gj.config, "compile_in_background", False)


def _exe(function, *args):
    return function.get_concrete_function(*args)._compiled()


def _thread_buffers(exe):
    """(pool, internal buffers) of the calling thread, for the runner the runtime calls (``run_tensors``)."""
    return exe.run_tensors.__globals__["pools"].buffers


def _two_layer(x, w):
    # the gemm's output feeds the relu loop only: an internal buffer; the sum over rows is the result
    return gj.reduce_sum(gj.nn.relu(x @ w) * 2.0, axis=1)


def _two_layer_numpy(x, w):
    return (np.maximum(x @ w, 0) * np.float32(2)).sum(axis=1)


def test_internal_buffers_are_reused_across_calls_and_never_returned(compiled):
    w = RNG.standard_normal((6, 5), dtype=np.float32)
    f = gj.function(_two_layer)
    xs = [RNG.standard_normal((4, 6), dtype=np.float32) for _ in range(4)]
    f(xs[0], w)
    exe = _exe(f, xs[0], w)
    _, internal = _thread_buffers(exe)
    assert internal, exe.runner_source            # the (4, 5) product is internal
    assert any(b.shape == (4, 5) for b in internal)
    kept = [f(x, w) for x in xs]                   # the caller keeps every result
    _, again = _thread_buffers(exe)
    assert all(a is b for a, b in zip(internal, again))   # the same arrays, not reallocated per call
    for x, result in zip(xs, kept):
        np.testing.assert_allclose(result.numpy(), _two_layer_numpy(x, w), rtol=RTOL, atol=1e-6)
        assert not any(np.shares_memory(result.numpy(), b) for b in internal)
    assert "getrefcount(v" in exe.runner_source   # results still go through the pool's checks


def test_results_a_caller_keeps_are_not_overwritten_by_later_calls(compiled):
    f = gj.function(lambda x, y: (gj.exp(x) * y + 1.0, gj.reduce_max(x * y)))
    inputs = [(RNG.standard_normal(64, dtype=np.float32), RNG.standard_normal(64, dtype=np.float32)) for _ in range(5)]
    kept = [f(x, y) for x, y in inputs]
    for (x, y), (a, b) in zip(inputs, kept):
        np.testing.assert_allclose(a.numpy(), np.exp(x) * y + np.float32(1), rtol=RTOL, atol=1e-6)
        np.testing.assert_allclose(b.numpy(), (x * y).max(), rtol=RTOL)
    # two results of one call, and results of different calls, never share a buffer
    arrays = [t.numpy() for pair in kept for t in pair]
    assert not any(np.shares_memory(a, b) for i, a in enumerate(arrays) for b in arrays[i + 1:])


def test_concurrent_threads_get_distinct_buffers_and_right_results(compiled):
    w = RNG.standard_normal((6, 5), dtype=np.float32)
    f = gj.function(_two_layer)
    x0 = RNG.standard_normal((4, 6), dtype=np.float32)
    f(x0, w)
    exe = _exe(f, x0, w)
    threads, barrier, seen, failures = 4, threading.Barrier(4), {}, []

    def work(t):
        x = RNG.standard_normal((4, 6), dtype=np.float32) if t else x0
        expected = _two_layer_numpy(x, w)
        barrier.wait()
        for _ in range(300):
            got = f(x, w).numpy()
            if not np.allclose(got, expected, rtol=RTOL, atol=1e-6):
                failures.append((t, got, expected))
        seen[t] = _thread_buffers(exe)[1]

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    assert not failures
    buffers = [b for t in range(threads) for b in seen[t]]
    assert len(buffers) == threads * len(seen[0]) and seen[0]
    assert not any(np.shares_memory(a, b) for i, a in enumerate(buffers) for b in buffers[i + 1:])


@pytest.mark.parametrize("how", ["initial value", "assigned eagerly"])
def test_fortran_ordered_variable_updates_in_place_are_not_lost(compiled, how):
    start = np.asfortranarray(RNG.standard_normal((3, 4), dtype=np.float32))
    assert not start.flags.c_contiguous
    if how == "initial value":
        v = gj.Variable(start)
    else:
        v = gj.Variable(np.zeros((3, 4), np.float32))
        v.assign(start)
    @gj.function
    def step(d):   # elementwise, and the new value is not returned: the runner writes v's buffer in place
        v.assign(v * 0.5 + d)

    d = RNG.standard_normal((3, 4), dtype=np.float32)
    expected = start.astype(np.float32)
    for k in range(4):
        step(d)
        if k == 1:
            assert "<= 3 + (pool[" in _exe(step, d).runner_source   # the in-place path is there
        expected = expected * np.float32(0.5) + d
        np.testing.assert_allclose(v.numpy(), expected, rtol=RTOL)
    @gj.function
    def step2():
        v.assign_add(gj.ones_like(v))

    for _ in range(3):
        step2()
        expected = expected + np.float32(1)
    np.testing.assert_allclose(v.numpy(), expected, rtol=RTOL)


def test_variable_outputs_of_the_runner_are_the_values_read_next(compiled):
    """A training-like step: the variable's new value (written through the state's dict) is what the next call
    reads, and an old value a caller keeps is not updated under it."""
    w = gj.Variable(np.ones((2, 2), np.float32))
    x = RNG.standard_normal((5, 2), dtype=np.float32)

    @gj.function
    def step():
        w.assign_sub(0.1 * gj.transpose(x) @ (x @ w))
        return gj.reduce_sum(w)

    reference = np.ones((2, 2), np.float64)
    before = w.numpy().copy()
    held = w.numpy()
    for _ in range(5):
        total = step()
        reference = reference - 0.1 * x.T.astype(np.float64) @ (x.astype(np.float64) @ reference)
        np.testing.assert_allclose(w.numpy(), reference, rtol=1e-4)
        np.testing.assert_allclose(total.numpy(), reference.sum(), rtol=1e-4)
    np.testing.assert_array_equal(held, before)


def test_uninitialized_variable_error_names_the_reading_line(compiled):
    v = gj.Variable(np.ones(3, np.float32), name="lonely")
    f = gj.function(lambda x: x + v)   # the line that reads v
    x = np.ones(3, np.float32)
    exe = _exe(f, x)
    with pytest.raises(errors.FailedPreconditionError,
                       match=r"^Attempting to use uninitialized value lonely: .*\n  at test_runner_buffers.py:\d+"):
        exe.run(State(), [x])
    np.testing.assert_allclose(exe.run(gj.runtime.runtime.get_runtime().state, [x])[0], x + 1, rtol=RTOL)


def test_entries_take_arrays_in_their_own_shapes(compiled):
    """Entries flatten inside; a non-contiguous or read-only input is copied on the way in, with the same result."""
    f = gj.function(lambda x, y: gj.nn.relu(x * y - 0.25) + gj.reduce_sum(x, axis=0))
    x = RNG.standard_normal((4, 3), dtype=np.float32)
    y = RNG.standard_normal((4, 3), dtype=np.float32)
    expected = np.maximum(x * y - np.float32(0.25), 0) + x.sum(axis=0)
    np.testing.assert_allclose(f(x, y).numpy(), expected, rtol=RTOL, atol=1e-6)
    exe = _exe(f, x, y)
    step = next(s for s in exe.steps if s.kind == "compiled")
    assert (4, 3) in step.entry_shapes
    assert ".reshape(-1)" not in exe.runner_source.split("except TypeError")[0]
    fortran, readonly = np.asfortranarray(x), y.copy()
    readonly.flags.writeable = False
    np.testing.assert_allclose(f(fortran, readonly).numpy(), expected, rtol=RTOL, atol=1e-6)
    wide = np.zeros((4, 6), np.float32)
    wide[:, ::2] = x
    np.testing.assert_allclose(f(wide[:, ::2], y).numpy(), expected, rtol=RTOL, atol=1e-6)


def test_a_settings_change_drops_the_per_call_shortcuts(compiled):
    """The shortcut is the runner itself (no per-call check of the settings): changing a setting empties the
    table, so the next call takes the ordinary path and runs on the backend now chosen."""
    runtime = gj.runtime.runtime.get_runtime()
    f = gj.function(lambda x: x * 3.0)
    x = np.arange(4, dtype=np.float32)
    f(x)
    concrete = f.get_concrete_function(x)
    assert concrete.uid in runtime.fast_calls
    gj.config.backend = "interpreter"
    try:
        assert concrete.uid not in runtime.fast_calls
        np.testing.assert_allclose(f(x).numpy(), x * np.float32(3), rtol=RTOL)
        assert set(runtime.executables(concrete)) == {"cpu", "interpreter"}
    finally:
        gj.config.backend = "cpu"
    assert concrete.uid not in runtime.fast_calls
    np.testing.assert_allclose(f(x).numpy(), x * np.float32(3), rtol=RTOL)


def test_a_background_compile_prefaults_the_first_callers_buffers(compiled, monkeypatch):
    """The background compile makes one thread's buffer set ahead (compiler.runner._prefault): the first compiled
    call in another thread takes it, and its result lands in a prefaulted pool buffer; a third thread allocates
    its own set."""
    monkeypatch.setattr(gj.config, "compile_in_background", True)
    x, w = RNG.standard_normal((64, 48), dtype=np.float32), RNG.standard_normal((48, 32), dtype=np.float32)
    f = gj.function(_two_layer)
    f(x, w)                      # the stand-in answers; the compile runs in the compile thread
    gj.wait_for_compilation()
    exe = _exe(f, x, w)
    spares = exe.run_tensors.spares
    assert len(spares) == 1
    pool, internal = spares[0]
    assert all(b is not None for b in pool) and any(b.shape == (64, 32) for b in internal)
    results = []

    def call():
        results.append(f(x, w)._value)   # (the array itself: .numpy() copies)
    for _ in range(2):           # each thread's first access to the pools runs _ThreadBuffers.__init__
        thread = threading.Thread(target=call)
        thread.start()
        thread.join()
    assert spares == []          # the first thread took the set; the second allocated its own
    assert any(np.shares_memory(results[0], b) for b in pool)
    assert not any(np.shares_memory(results[1], b) for b in pool)
    for got in results:
        np.testing.assert_allclose(got, _two_layer_numpy(x, w), rtol=RTOL, atol=1e-5)


def test_no_prefault_for_symbolic_shapes_or_large_sets(compiled, monkeypatch):
    from graphjit.compiler import runner
    monkeypatch.setattr(gj.config, "compile_in_background", True)
    f = gj.function(lambda x: gj.exp(x) * 2.0, input_signature=[gj.TensorSpec([None], gj.float32)])
    x = RNG.standard_normal(100, dtype=np.float32)
    np.testing.assert_allclose(f(x).numpy(), np.exp(x) * 2, rtol=RTOL)
    gj.wait_for_compilation()
    assert _exe(f, x).run_tensors.spares == []          # (no static buffer to make)
    big = gj.function(lambda x: x * 3.0 + 1.0)
    monkeypatch.setattr(runner, "PREFAULT_MAX_BYTES", 1000)
    y = RNG.standard_normal(1000, dtype=np.float32)
    big(y)
    gj.wait_for_compilation()
    assert _exe(big, y).run_tensors.spares == []        # 2 x 4000 bytes: over the cap
    np.testing.assert_allclose(big(y).numpy(), y * 3 + 1, rtol=RTOL)
