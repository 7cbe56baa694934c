"""compiler.schedule is the seam between the compiler's backend-neutral half and a backend: a second backend
(tests/numpy_backend.py, NumPy source rendered from the same Schedule) runs real programs through it and agrees
with the reference interpreter and NumPy."""
import numpy as np
import pytest

import graphjit as gj
from graphjit.compiler import backend as backend_registry
from graphjit.compiler import cpu
from graphjit.compiler.schedule import FusedStage, PythonStage, make_schedule
from graphjit.runtime import get_runtime

from numpy_backend import NumpySourceBackend

RTOL = {np.dtype(np.float32): 1e-6, np.dtype(np.float64): 1e-12}   # the passes may reorder float arithmetic


@pytest.fixture
def numpy_source():
    backend_registry.register_backend(NumpySourceBackend())
    saved = gj.config.backend, gj.config.compile_in_background
    gj.config.backend, gj.config.compile_in_background = "numpy_source", False
    try:
        yield
    finally:
        gj.config.backend, gj.config.compile_in_background = saved
        backend_registry._BACKENDS.pop("numpy_source", None)


def _program(x, w, labels):
    h = gj.nn.relu(gj.matmul(x, w) + 0.5)          # gemm with an elementwise epilogue
    p = gj.nn.softmax(h)                              # a row kernel
    loss = gj.reduce_mean(gj.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=h))
    picked = gj.gather(p, labels[:3], axis=1)         # columns of the softmax rows
    z = gj.reduce_sum(gj.exp(-x * x) * 0.25 + gj.sin(x), axis=0)   # an elementwise prologue of a reduction
    t = gj.transpose(x)[1:, ::2] * 2.0                # views as index maps
    return [loss, picked, z, t, gj.cast(x > 0.0, gj.int32) * 3 // 2]


def _inputs():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 5)).astype(np.float32)
    w = rng.standard_normal((5, 4)).astype(np.float32)
    labels = np.array([0, 3, 1, 2, 3, 0], np.int64)
    return x, w, labels


def _numpy_reference(x, w, labels):
    h = np.maximum(x.astype(np.float64) @ w + 0.5, 0)
    e = np.exp(h - h.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    loss = np.mean(-np.log(p[np.arange(len(labels)), labels]))
    z = np.sum(np.exp(-x.astype(np.float64) ** 2) * 0.25 + np.sin(x), axis=0)
    return [loss, p[:, labels[:3]], z, x.T[1:, ::2] * 2.0, (x > 0).astype(np.int32) * 3 // 2]


def test_a_second_backend_runs_the_same_schedule_and_agrees_with_the_interpreter(numpy_source):
    f = gj.function(_program)
    args = _inputs()
    got = [np.asarray(t) for t in f(*args)]
    executable = get_runtime().executables(f.get_concrete_function(*args))["numpy_source"]
    assert executable.source.count("def stage") == len(executable.schedule.fused) >= 1
    gj.config.backend = "interpreter"
    want = [np.asarray(t) for t in f(*args)]
    for g, w, ref in zip(got, want, _numpy_reference(*args)):
        assert g.dtype == w.dtype and g.shape == w.shape
        if g.dtype.kind == "f":
            np.testing.assert_allclose(g, w, rtol=RTOL[g.dtype], atol=1e-7)
            np.testing.assert_allclose(g, ref, rtol=2e-5, atol=1e-6)
        else:
            np.testing.assert_array_equal(g, w)
            np.testing.assert_array_equal(g, ref)


def test_capabilities_shape_the_schedule():
    graph = gj.function(_program).get_concrete_function(*_inputs()).graph
    from numpy_backend import CAPABILITIES as NUMPY_CAPABILITIES
    placed = {}
    for name, capabilities in (("cpu", cpu.CAPABILITIES), ("numpy_source", NUMPY_CAPABILITIES)):
        sched = make_schedule(graph, capabilities)
        scheduled = [i for stage in sched.stages for i in stage.nodes]
        others = [i for i, n in enumerate(sched.pure.nodes) if n.op not in ("input", "constant")]
        assert sorted(scheduled) == others          # every computed node runs exactly once
        placed[name] = {sched.pure.nodes[i].op: type(stage) for stage in sched.stages for i in stage.nodes}
    from graphjit.compiler import blas
    if blas.AVAILABLE:
        assert placed["cpu"]["matmul"] is FusedStage
    assert placed["numpy_source"]["matmul"] is PythonStage     # no gemm in that backend: run eagerly
    assert placed["numpy_source"]["softmax"] is FusedStage and placed["numpy_source"]["exp"] is FusedStage


def test_the_second_backend_applies_variable_updates_prints_and_random_draws(numpy_source, capsys):
    v = gj.Variable(np.zeros(3, np.float32))

    @gj.function
    def step(x):
        v.assign_add(x * 2.0)
        gj.print("total", gj.reduce_sum(v))
        return v + gj.floor(gj.random.uniform((3,)))   # a draw in [0, 1): a Python stage between fused ones

    for k in range(3):
        out = step(np.full(3, k + 1, np.float32))
    np.testing.assert_array_equal(v.numpy(), np.full(3, 12.0, np.float32))
    np.testing.assert_array_equal(np.asarray(out), np.full(3, 12.0, np.float32))
    assert capsys.readouterr().out.split() == ["total", "6.0", "total", "18.0", "total", "36.0"]
    executable = get_runtime().executables(step.get_concrete_function(np.zeros(3, np.float32)))["numpy_source"]
    assert "def stage" in executable.source      # it ran the rendered stages, not the interpreter


def test_the_differential_fuzzer_drives_the_second_backend(numpy_source):
    # The fuzzer's programs (every registered op, broadcasting, NaN/inf, 0-size, non-contiguous inputs) through
    # the new backend: the seam a CUDA backend plugs into is what the fuzzer already checks.
    import fuzz_check
    import fuzz_graphs
    progs = [fuzz_graphs.draw_program(fuzz_graphs.RandomChooser((11, k)), 12) for k in range(40)]
    failures = [f for k in range(0, 40, 10) for f in fuzz_check.check_batch(progs[k:k + 10], "numpy_source")]
    assert [f.message for f in failures] == []
    assert len({n.spec for p in progs for n in p.nodes if isinstance(n, fuzz_graphs.Step)}) > 50


def test_the_cpu_backend_allocates_through_its_allocator_seam():
    # A backend's memory comes from its ``allocate``: a CUDA backend swaps in device arrays without touching the
    # runner. A CPU backend whose allocator counts proves every buffer the pool lacks is taken from it.
    calls = []

    def counting_empty(shape, dtype):
        calls.append((tuple(shape), np.dtype(dtype)))
        return np.empty(shape, dtype)

    class CountingCPU(cpu.CPUBackend):
        name = "counting_cpu"
        allocate = staticmethod(counting_empty)

    x = np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4)
    concrete = gj.function(lambda a: [gj.exp(a) * 2.0, gj.reduce_sum(a * a, axis=1)]).get_concrete_function(x)
    executable = CountingCPU().compile(concrete.graph)
    first = executable.run(get_runtime().state, [x])
    assert sorted(calls) == [((3,), np.dtype(np.float32)), ((3, 4), np.dtype(np.float32))]
    np.testing.assert_allclose(first[0], np.exp(x.astype(np.float64)) * 2.0, rtol=1e-6)
    np.testing.assert_allclose(first[1], np.sum(x.astype(np.float64) ** 2, axis=1), rtol=1e-6)
    del first
    executable.run(get_runtime().state, [x])
    assert len(calls) == 2   # the second call's buffers came back from the pool
