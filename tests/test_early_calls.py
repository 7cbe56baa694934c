"""A graph's early calls: the interpreter stand-in (compiler.stand_in) that answers while Numba compiles, and the
runtime's wait for a compile that is nearly done. Results only; speed is measured by benchmarks/early_calls.py."""
import threading
import tracemalloc

import numpy as np
import pytest

import graphjit as gj
from graphjit.compiler.backend import get_backend
from graphjit.compiler.stand_in import StandInGraph
from graphjit.runtime.runtime import get_runtime

RNG = np.random.default_rng(22)
N = 1 << 12


def _arrays(*shapes, dtype=np.float32):
    return [RNG.standard_normal(s).astype(dtype) for s in shapes]


def _elementwise(x, y):
    return gj.exp(x * y - 1.0) * x + y


def _views(x, y):   # a ufunc's value reshaped (a view) and returned, and reused after the reshape
    a = x * y
    b = gj.reshape(a, (64, -1))
    c = a + 1.0
    return b, c * c, gj.reduce_sum(c - y)


def _broadcast(x, r):   # r broadcasts against x: no in-place write into it
    d = x - r
    return gj.sqrt(d * d + 1.0) - gj.log1p(gj.abs(d)), d * 2.0


def _ints(a, b):
    return (a * b + 3) // 2 - a, a * b


CASES = [
    ("elementwise", _elementwise, lambda: _arrays(N, N)),
    ("views", _views, lambda: _arrays(N, N)),
    ("broadcast", _broadcast, lambda: _arrays((64, N // 64), (N // 64,))),
    ("ints", _ints, lambda: [RNG.integers(-1000, 1000, N).astype(np.int32) for _ in range(2)]),
    ("nan_inf", _elementwise, lambda: [np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30, 3.0] * 8,
                                                np.float32)] * 2),
]


def _graph(fn, args):
    return gj.function(fn).get_concrete_function(*args).graph


@pytest.mark.parametrize("name,fn,make", CASES, ids=[c[0] for c in CASES])
def test_stand_in_equals_the_interpreter_and_the_compiled_code(name, fn, make):
    args = make()
    graph = _graph(fn, args)
    state = get_runtime().state
    stand_in = StandInGraph(graph)
    reference = get_backend("interpreter").compile(graph).run(state, args)
    compiled = get_backend("cpu").compile(graph).run(state, args)
    first = stand_in.run(state, args)
    kept = [np.array(a, copy=True) for a in first]
    for _ in range(3):   # later calls reuse its buffers: results stay right, earlier results untouched
        again = stand_in.run(state, args)
        for got, want, comp in zip(again, reference, compiled):
            assert got.dtype == want.dtype and got.shape == want.shape
            np.testing.assert_array_equal(got, want)   # the same eager code: bit for bit
            if got.dtype.kind == "f":   # the compiled kernels' float32 math is within a few ULP of NumPy's
                np.testing.assert_allclose(got, comp, rtol=2e-6, atol=1e-6)
            else:
                np.testing.assert_array_equal(got, comp)
    for got, before in zip(first, kept):
        np.testing.assert_array_equal(got, before)
    assert stand_in.plan is not None


def test_stand_in_buffers_and_in_place_writes():
    x, y = _arrays(N, N)
    stand_in = StandInGraph(_graph(_elementwise, [x, y]))
    # multiply -> subtract (in place) -> exp (in place) -> multiply (in place) -> add (the output, fresh)
    assert len(stand_in.slot_types) == 1
    views = StandInGraph(_graph(_views, [x, y]))
    reshaped_source = next(i for i, n in enumerate(views.graph.nodes) if n.op == "multiply")
    assert views.plan[reshaped_source][2] == -1   # read by reshape: never a reused buffer


def _peak_bytes(call):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        call()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def test_stand_in_allocates_no_more_than_numpy_eager():
    x, y = _arrays(1 << 20, 1 << 20)
    state = get_runtime().state
    stand_in = StandInGraph(_graph(_elementwise, [x, y]))
    interpreter = get_backend("interpreter").compile(stand_in.graph)
    one = np.float32(1)
    stand_in.run(state, [x, y])   # its buffers are allocated once per thread, on the first run
    eager = _peak_bytes(lambda: np.exp(x * y - one) * x + y)
    ours = _peak_bytes(lambda: stand_in.run(state, [x, y]))
    reference = _peak_bytes(lambda: interpreter.run(state, [x, y]))
    assert ours <= eager
    assert ours < 1.5 * x.nbytes          # the result alone
    assert reference > 2 * x.nbytes       # (what it replaces keeps every value alive)


def test_stand_in_threads_have_their_own_buffers():
    x, y = _arrays(N, N)
    stand_in = StandInGraph(_graph(_elementwise, [x, y]))
    state = get_runtime().state
    expected = get_backend("interpreter").compile(stand_in.graph).run(state, [x, y])[0]
    failures = []

    def worker(k):
        xs = [x * np.float32(k + 1), y]
        want = get_backend("interpreter").compile(stand_in.graph).run(state, xs)[0]
        for _ in range(50):
            if not np.array_equal(stand_in.run(state, xs)[0], want):
                failures.append(k)
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    np.testing.assert_array_equal(stand_in.run(state, [x, y])[0], expected)


def test_first_calls_use_the_stand_in(compiled_background, monkeypatch):
    x, y = _arrays(N, N)
    gate = threading.Event()
    backend = get_backend("cpu")
    real_compile = backend.compile
    monkeypatch.setattr(backend, "compile", lambda graph, **kw: (gate.wait(30), real_compile(graph, **kw))[1])
    f = gj.function(_elementwise)
    try:
        out = f(x, y).numpy()
        concrete = f.get_concrete_function(x, y)
        assert isinstance(get_runtime().executables(concrete)["interpreter"], StandInGraph)
        np.testing.assert_array_equal(out, np.exp(x * y - np.float32(1)) * x + y)
    finally:
        gate.set()


def test_a_call_waits_for_a_compile_that_is_nearly_done(compiled_background, monkeypatch):
    """The compile is held back until the second call has started waiting for it; the estimate says it is
    done at once. The second call must then return the compiled code's result, not the stand-in's."""
    monkeypatch.setenv("GRAPHJIT_CACHE", "0")   # a real compile, never a cache load
    x, y = _arrays(N, N)
    backend = get_backend("cpu")
    real_compile = backend.compile
    planned, release = threading.Event(), threading.Event()

    def slow_compile(graph, on_planned=None):
        def report(cached, compile_s=None):
            on_planned(cached, 0.0)   # "done any moment now"
            planned.set()
        result = real_compile(graph, on_planned=report)
        release.wait(30)
        return result
    monkeypatch.setattr(backend, "compile", slow_compile)
    f = gj.function(_elementwise)
    f(x, y)   # the stand-in answers; the compile finished planning but is held back
    concrete = f.get_concrete_function(x, y)
    runtime = get_runtime()
    assert planned.wait(30) and "cpu" not in runtime.executables(concrete)
    stand_in = runtime.executables(concrete)["interpreter"]
    stand_in.last_run_s = 5.0   # a call that would take seconds to interpret: waiting is worth it
    timer = threading.Timer(0.2, release.set)
    timer.start()
    out = f(x, y).numpy()
    timer.join()
    compiled = runtime.executables(concrete).get("cpu")
    assert compiled is not None and not isinstance(compiled, StandInGraph)
    np.testing.assert_array_equal(out, compiled.run(runtime.state, [x, y])[0])
    np.testing.assert_allclose(out, np.exp(x * y - np.float32(1)) * x + y, rtol=2e-6, atol=1e-6)


def test_a_compile_far_from_done_is_not_waited_for(compiled_background, monkeypatch):
    monkeypatch.setenv("GRAPHJIT_CACHE", "0")
    x, y = _arrays(N, N)
    backend = get_backend("cpu")
    real_compile = backend.compile
    release = threading.Event()
    planned = threading.Event()

    def slow_compile(graph, on_planned=None):
        def report(cached, compile_s=None):
            on_planned(cached, 60.0)
            planned.set()
        result = real_compile(graph, on_planned=report)
        release.wait(30)
        return result
    monkeypatch.setattr(backend, "compile", slow_compile)
    f = gj.function(_elementwise)
    try:
        f(x, y)
        assert planned.wait(30)
        concrete = f.get_concrete_function(x, y)
        get_runtime().executables(concrete)["interpreter"].last_run_s = 5.0   # even a slow stand-in run
        out = f(x, y).numpy()   # interpreted again: the estimate says a minute to go
        assert "cpu" not in get_runtime().executables(concrete)
        np.testing.assert_array_equal(out, np.exp(x * y - np.float32(1)) * x + y)
    finally:
        release.set()


# ---- two-tier kernels (compiler.threads): a serial chunk kernel on threads until the prange kernel is ready ----

BIG = 1 << 20   # compiler.codegen.TWO_TIER_MIN_ELEMENTS

TWO_TIER_CASES = [
    ("elementwise", _elementwise, lambda: _arrays(BIG, BIG)),
    ("broadcast", lambda x, r: x * r + 1.0, lambda: _arrays((BIG // 512, 512), (512,))),
    ("sum", lambda x, y: gj.reduce_sum((x - y) * (x - y)), lambda: _arrays(BIG + 77, BIG + 77)),
    ("mean_2d", lambda x: gj.reduce_mean(x * 2.0), lambda: _arrays((512, BIG // 512))),
    ("max_nan", lambda x: gj.reduce_max(x * x), lambda: [np.where(np.arange(BIG) == 12345, np.nan,
                                                                   _arrays(BIG)[0]).astype(np.float32)]),
    ("int_sum", lambda a: gj.reduce_sum(a * 3), lambda: [RNG.integers(-1000, 1000, BIG).astype(np.int32)]),
]


@pytest.mark.parametrize("name,fn,make", TWO_TIER_CASES, ids=[c[0] for c in TWO_TIER_CASES])
def test_two_tier_kernels_give_the_same_result_in_both_tiers(name, fn, make, monkeypatch):
    from graphjit.compiler import threads
    monkeypatch.setattr(threads, "UPGRADE_MIN_THREADS", 1)   # the prange tier whatever this machine's threads
    args = make()
    graph = _graph(fn, args)
    state = get_runtime().state
    executable = get_backend("cpu").compile(graph)
    entry = executable.steps[0].entry
    assert type(entry) is threads.TwoTierEntry
    assert entry.tier in ("threads", "prange")   # (a fast upgrade may already have landed)
    entry._call = entry._threaded                # the threaded tier, whatever the upgrade's progress
    threaded = [np.array(a, copy=True) for a in executable.run(state, args)]
    threads.wait_for_upgrades()
    assert entry.tier == "prange"
    parallel = executable.run(state, args)
    reference = get_backend("interpreter").compile(graph).run(state, args)
    for a, b, ref in zip(threaded, parallel, reference):
        np.testing.assert_array_equal(a, b)   # the same elements, the same per-chunk partial sums
        if a.dtype.kind == "f":
            np.testing.assert_allclose(a, ref, rtol=2e-6 if name in ("elementwise", "broadcast") else 1e-5,
                                       atol=1e-6)
        else:
            np.testing.assert_array_equal(a, ref)


def test_the_threaded_tier_splits_its_loop_by_the_calling_threads_numba_count():
    """``numba.set_num_threads`` is per thread (a Dask worker's task threads set 1): the threaded tier follows it,
    as the prange tier does."""
    import numba
    from graphjit.compiler import threads
    ranges = []
    entry = threads.TwoTierEntry(lambda lo, hi: ranges.append((lo, hi)), 100, parallel=None, signature=None)
    everyone = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        entry()
        assert ranges == [(0, 100)]
    finally:
        numba.set_num_threads(everyone)
    ranges.clear()
    entry()
    assert sorted(ranges) == [(100 * k // everyone, 100 * (k + 1) // everyone) for k in range(everyone)]


def test_few_threads_keep_the_threaded_tier(compiled_background, monkeypatch):
    from graphjit.compiler import threads
    monkeypatch.setattr(threads, "UPGRADE_MIN_THREADS", 1 << 30)   # no machine has that many
    x, y = _arrays(BIG + 3, BIG + 3)
    f = gj.function(lambda x, y: gj.reduce_sum(x * y - 0.25))
    first = f(x, y).numpy()   # (the stand-in, or the threaded tier)
    gj.wait_for_compilation()
    later = f(x, y).numpy()   # compiled
    executable = get_runtime().executables(f.get_concrete_function(x, y))["cpu"]
    entry = executable.steps[0].entry
    assert type(entry) is threads.TwoTierEntry and entry.tier == "threads"
    assert entry.parallel.signatures == []   # its prange kernel was never compiled
    reference = np.sum(x.astype(np.float64) * y - 0.25)
    np.testing.assert_allclose([first, later], [reference, reference], rtol=1e-5)


def test_small_and_symbolic_loops_stay_single_tier():
    from graphjit.compiler import threads
    small = get_backend("cpu").compile(_graph(_elementwise, _arrays(BIG // 2, BIG // 2)))
    assert type(small.steps[0].entry) is not threads.TwoTierEntry
    f = gj.function(lambda x: x * 2.0 + 1.0, input_signature=[gj.TensorSpec([None], gj.float32)])
    x = _arrays(BIG)[0]
    symbolic = get_backend("cpu").compile(f.get_concrete_function(x).graph)
    assert all(type(step.entry) is not threads.TwoTierEntry for step in symbolic.steps if step.kind == "compiled")
    np.testing.assert_array_equal(symbolic.run(get_runtime().state, [x])[0], x * np.float32(2) + np.float32(1))


# ---- block runs of the stand-in (compiler.stand_in): runs of large ufunc nodes, block by block ----

from graphjit.compiler import stand_in as stand_in_module  # noqa: E402

BLOCKED = stand_in_module._MIN_BLOCKED_ELEMENTS + 12345   # several blocks and a partial one


def _kept_and_reshaped(x, y):   # an intermediate read by a non-ufunc op (a view) after the run, and returned
    a = x * y + 1.0
    b = a * a - y
    return gj.reshape(a, (-1,)) * 2.0, b, gj.reduce_sum(b)


def _one_element_operands(x, s):   # a (1, 1) operand broadcast against (rows, cols)
    return (x * s - 1.0) * x + s


BLOCK_CASES = [
    ("five_ops", lambda x, y: (x * y + 1.0) * x - y * 0.5, lambda: _arrays(BLOCKED, BLOCKED)),
    ("quiet_transcendentals", lambda x, y: gj.exp(x * y - 1.0) * gj.log(y) + gj.sqrt(x), lambda: _arrays(BLOCKED, BLOCKED)),
    ("kept_and_reshaped", _kept_and_reshaped, lambda: _arrays(BLOCKED, BLOCKED)),
    ("one_element_operands", _one_element_operands, lambda: _arrays((BLOCKED // 256, 256), (1, 1))),
    ("float64", lambda x, y: (x - y) * (x + y) / (y * y + 1.0), lambda: _arrays(BLOCKED, BLOCKED, dtype=np.float64)),
    ("ints", _ints, lambda: [RNG.integers(-1000, 1000, BLOCKED).astype(np.int32) for _ in range(2)]),
    ("nan_inf", lambda x, y: gj.exp(x * y - 1.0) * x + y,
     lambda: [np.resize(np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30, 3.0], np.float32), BLOCKED)] * 2),
]


@pytest.mark.parametrize("name,fn,make", BLOCK_CASES, ids=[c[0] for c in BLOCK_CASES])
def test_block_runs_equal_the_interpreter_bit_for_bit(name, fn, make):
    args = make()
    graph = _graph(fn, args)
    state = get_runtime().state
    stand_in = StandInGraph(graph)
    assert stand_in.runs, "the graph should have a block run"
    reference = get_backend("interpreter").compile(graph).run(state, args)
    with np.errstate(all="ignore"):
        numpy_order = [np.array(a) for a in reference]
    for _ in range(2):   # (the second call reuses the planned buffers and the block scratch)
        got = stand_in.run(state, args)
        for a, ref in zip(got, numpy_order):
            assert a.dtype == ref.dtype and a.shape == ref.shape
            np.testing.assert_array_equal(a, ref)


def test_block_runs_take_non_contiguous_inputs():
    x, y = _arrays((BLOCKED, 2), BLOCKED)
    x = x[:, 1]   # a strided view
    fn = lambda x, y: (x * y + 1.0) * x - y * 0.5   # noqa: E731
    graph = _graph(fn, [np.ascontiguousarray(x), y])
    stand_in = StandInGraph(graph)
    assert stand_in.runs
    got = stand_in.run(get_runtime().state, [x, y])[0]
    np.testing.assert_array_equal(got, (x * y + np.float32(1)) * x - y * np.float32(0.5))


def test_block_runs_report_floating_point_errors_like_numpy():
    x = np.full(BLOCKED, 3e38, np.float32)
    x[7] = np.float32(0)
    y = np.ones(BLOCKED, np.float32)
    fn = lambda x, y: (x * x + y) * (x - x) - (x * x)   # overflow in multiply, inf * 0 and inf - inf invalid  # noqa: E731
    graph = _graph(fn, [x, y])
    stand_in = StandInGraph(graph)
    assert stand_in.runs
    state = get_runtime().state
    with pytest.warns(RuntimeWarning) as reference_warnings:
        expected = get_backend("interpreter").compile(graph).run(state, [x, y])[0]
    with pytest.warns(RuntimeWarning) as block_warnings:
        got = stand_in.run(state, [x, y])[0]
    np.testing.assert_array_equal(got, expected)
    # once per op and kind, in the same order, as the interpreter (NumPy eager) warns (not once per block)
    assert [str(w.message) for w in block_warnings] == [str(w.message) for w in reference_warnings]
    assert len(block_warnings) >= 2
    with np.errstate(over="raise"):
        with pytest.raises(FloatingPointError, match="overflow encountered in multiply"):
            stand_in.run(state, [x, y])
    with np.errstate(all="ignore"):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            np.testing.assert_array_equal(stand_in.run(state, [x, y])[0], expected)


def test_block_runs_keep_quiet_ops_quiet():
    x = np.resize(np.array([-1.0, 0.0, 2.0, np.inf], np.float32), BLOCKED)
    graph = _graph(lambda x: gj.log(x) * 2.0 + gj.sqrt(x), [x])
    stand_in = StandInGraph(graph)
    assert stand_in.runs
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # gj.log and gj.sqrt never warn (tracer.ops.elementwise's quiet ops)
        got = stand_in.run(get_runtime().state, [x])[0]
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(got, np.log(x) * np.float32(2) + np.sqrt(x))


def test_a_callers_error_handler_gets_the_node_by_node_run():
    x = np.full(BLOCKED, 3e38, np.float32)
    graph = _graph(lambda x: x * x + 1.0, [x])
    stand_in = StandInGraph(graph)
    assert stand_in.runs
    seen = []
    with np.errstate(over="call", call=lambda kind, flag: seen.append(kind)):
        got = stand_in.run(get_runtime().state, [x])[0]
    assert seen == ["overflow"]   # one call, as NumPy eager makes it
    np.testing.assert_array_equal(got, np.full(BLOCKED, np.inf, np.float32))


def test_small_graphs_have_no_block_runs():
    graph = _graph(lambda x, y: (x * y + 1.0) * x - y * 0.5, _arrays(N, N))
    assert StandInGraph(graph).runs == {}


def test_block_run_outputs_recycle_dropped_results_and_never_held_ones():
    """A block run's graph outputs come from two per-thread arrays recycled once the caller has dropped them
    (compiler.stand_in's _output_array): a kept result is never written again, a dropped one is reused."""
    fn = lambda x, y: (x * y + 1.0) * x - y * 0.5   # noqa: E731
    inputs = [_arrays(BLOCKED, BLOCKED) for _ in range(4)]
    stand_in = StandInGraph(_graph(fn, inputs[0]))
    state = get_runtime().state
    expected = [(x * y + np.float32(1)) * x - y * np.float32(0.5) for x, y in inputs]
    kept = [stand_in.run(state, args)[0] for args in inputs]          # all held: four distinct arrays
    assert len({id(a) for a in kept}) == 4
    for got, want in zip(kept, expected):
        np.testing.assert_array_equal(got, want)
    first = stand_in.run(state, inputs[0])[0]
    address = first.ctypes.data
    del first, kept                                                   # dropped: its array may come back
    again = stand_in.run(state, inputs[1])[0]
    held = stand_in.run(state, inputs[2])[0]                          # `again` is held: another array
    assert again.ctypes.data == address or held.ctypes.data == address
    assert not np.shares_memory(again, held)
    np.testing.assert_array_equal(again, expected[1])
    np.testing.assert_array_equal(held, expected[2])
