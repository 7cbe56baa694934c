"""The CUDA backend's kernels (compiler/cuda) against the CPU backend, under the CUDA simulator: every op case of
tests/cases.py batched into graphs (each stage's elementwise loops and reductions run as CUDA kernels, the rest
on the host between them), and fused graphs of the kinds the benchmark runs. Small arrays: the simulator runs each
GPU thread as a Python thread."""
import collections

import numpy as np
import pytest

import graphjit as gj
from graphjit.compiler.backend import get_backend
from graphjit.compiler.cuda import backend as cuda_backend
from graphjit.runtime import get_runtime

from cases import ALL_CASES
from support import assert_same, batch_function, batched_cases

BATCH = 80
# float32 math runs through CUDA's libdevice on a GPU (<= 2 ULP for exp/log/sin...; the simulator computes in
# float64 and rounds), and float sums accumulate in float64 in a tree order rather than sequentially
F32_RTOL, F32_ATOL = 2e-5, 1e-6
F64_RTOL, F64_ATOL = 1e-12, 1e-300


def _small(case):
    return all(not isinstance(a, np.ndarray) or a.size <= 1024 for a in case.args)


def _every_other_reduction(cases):
    """Every other case of each reduce_* grid (dtypes x 7 axis/keepdims variants, in that order: each dtype keeps 3 or
    4 variants, each variant 2 or 3 dtypes; edge-value cases stay). Under the simulator a reduction runs whole thread
    blocks as Python threads, ~0.3 s a case; tests/test_cpu_backend.py compiles the whole grid."""
    seen = collections.Counter()
    kept = []
    for case in cases:
        if case.ops[0].startswith("reduce_") and "-axis=" in case.id:
            seen[case.ops] += 1
            if seen[case.ops] % 2 == 0:
                continue
        kept.append(case)
    return kept


BATCHES = batched_cases(_every_other_reduction(ALL_CASES), BATCH, keep=_small)


@pytest.mark.parametrize("index", range(len(BATCHES)), ids=lambda k: f"batch{k}")
def test_cuda_matches_cpu_on_every_op_case(index):
    fn, arrays = batch_function(BATCHES[index])
    concrete = gj.function(fn).get_concrete_function(*arrays)
    state = get_runtime().state
    expected = get_backend("interpreter").compile(concrete.graph).run(state, arrays)
    compiled = get_backend("cuda").compile(concrete.graph)
    assert compiled.kernels, "no stage of the batch became CUDA kernels"
    actual = compiled.run(state, arrays)
    assert len(actual) == len(expected)
    for k, (a, e) in enumerate(zip(actual, expected)):
        rtol, atol = (F32_RTOL, F32_ATOL) if e.dtype == np.float32 else (F64_RTOL, F64_ATOL)
        assert_same(a, e, rtol, atol, what=f"output {k} of batch {index}")


@gj.function
def fused(x, y, b):
    z = gj.exp(-x * x) * y + gj.sin(x) * 0.5          # W1: one elementwise kernel
    rows = gj.reduce_sum((x - y) ** 2, axis=1)          # a reduction with its producers inline
    mean = gj.reduce_mean(gj.nn.relu(gj.transpose(x) + b[:, None]), axis=0, keepdims=True)   # through a view
    return z, rows, mean, gj.reduce_max(x), gj.reduce_all(x > -2.0), gj.reduce_sum(gj.cast(x > 0, gj.int32))


def test_fused_graphs_under_a_cuda_device_block():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(33, 17)).astype(np.float32), rng.normal(size=(33, 17)).astype(np.float32)
    b = rng.normal(size=17).astype(np.float32)
    x[5, 3] = np.nan
    gj.config.compile_in_background = False
    expected = [t.numpy() for t in fused(x, y, b)]
    before = dict(cuda_backend.TRANSFERS)
    with gj.device("cuda"):
        got = [t.numpy() for t in fused(x, y, b)]
    assert cuda_backend.TRANSFERS["to_device"] > before["to_device"]   # it ran on the (simulated) GPU
    for g, e in zip(got, expected):
        assert g.dtype == e.dtype and g.shape == e.shape
        np.testing.assert_allclose(g, e, rtol=2e-6, atol=1e-6, equal_nan=True)


def test_row_reductions_broadcast_back_compile_without_a_rows_kernel():
    """Layer-norm and softmax-shaped rows (a reduction over rows broadcast back into elementwise work) are fused
    into one ``rows`` kernel on the CPU; the CUDA backend has no such writer, so its schedule keeps them apart
    (Capabilities.row_kernels) instead of failing to compile."""
    x = np.random.default_rng(5).normal(size=(9, 40)).astype(np.float32)

    def rows(x):
        centred = x - gj.reduce_mean(x, axis=1, keepdims=True)
        return gj.exp(x) + gj.reduce_sum(x, axis=1, keepdims=True), centred / gj.sqrt(
            gj.reduce_mean(centred * centred, axis=1, keepdims=True) + 1e-5)
    f = gj.function(rows)
    gj.config.compile_in_background = False
    with gj.device("cuda"):
        got = [t.numpy() for t in f(x)]
    x64 = x.astype(np.float64)
    c = x64 - x64.mean(axis=1, keepdims=True)
    expected = [np.exp(x64) + x64.sum(axis=1, keepdims=True), c / np.sqrt((c * c).mean(axis=1, keepdims=True) + 1e-5)]
    for g, e in zip(got, expected):
        assert g.dtype == np.float32 and g.shape == e.shape
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)


def test_reductions_are_deterministic_and_thread_order_free():
    x = np.random.default_rng(4).normal(size=(3, 5000)).astype(np.float32)
    f = gj.function(lambda x: gj.reduce_sum(x, axis=1))
    gj.config.compile_in_background = False
    with gj.device("cuda"):
        runs = [f(x).numpy() for _ in range(3)]
    assert all(np.array_equal(runs[0], r) for r in runs[1:])
    np.testing.assert_allclose(runs[0], x.astype(np.float64).sum(axis=1), rtol=1e-6)


def test_the_simulated_gpu_is_listed():
    assert [d.name for d in gj.list_devices()] == ["cpu", "cuda:0"]
    with pytest.raises(gj.errors.DeviceError, match="one device, cuda:0"):
        with gj.device("cuda:1"):
            pass


@pytest.mark.parametrize("shapes, ta, tb", [(((5, 7), (7, 3)), False, False), (((7, 5), (7, 3)), True, False),
                                            (((5, 7), (3, 7)), False, True), (((2, 5, 6), (6, 9)), False, False),
                                            (((1, 9), (9, 1)), False, False)])
def test_tiled_matmul_and_its_epilogue(shapes, ta, tb):
    rng = np.random.default_rng(5)
    a, b = (rng.normal(size=s).astype(np.float32) for s in shapes)
    f = gj.function(lambda a, b: gj.nn.relu(gj.matmul(a, b, transpose_a=ta, transpose_b=tb) + 0.5))
    graph = f.get_concrete_function(a, b).graph
    executable = get_backend("cuda").compile(graph)
    assert any(info["kind"] == "matmul" for info in executable.kernels.values())
    got = executable.run(get_runtime().state, [a, b])[0]
    want = np.maximum(np.matmul(np.swapaxes(a, -1, -2) if ta else a, np.swapaxes(b, -1, -2) if tb else b) + 0.5, 0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("log", [False, True])
def test_softmax_rows(log):
    rng = np.random.default_rng(6)
    x = (rng.normal(size=(6, 70)) * 5).astype(np.float32)
    x[1, 3] = np.nan
    x[2] = -np.inf
    x[3, 10] = np.inf
    op = gj.nn.log_softmax if log else gj.nn.softmax
    graph = gj.function(lambda x: op(x)).get_concrete_function(x).graph
    executable = get_backend("cuda").compile(graph)
    assert any(info["kind"] == ("log_softmax" if log else "softmax") for info in executable.kernels.values())
    got = executable.run(get_runtime().state, [x])[0]
    want = get_backend("interpreter").compile(graph).run(get_runtime().state, [x])[0]
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-7, equal_nan=True)


def test_matmul_takes_the_tiled_kernel_where_cublas_cannot_run(monkeypatch):
    from graphjit.compiler.cuda import blas, memory
    assert "simulator" in blas.cublas_problem()   # (here: the tiled kernel, as test_tiled_matmul checks)
    monkeypatch.setattr(memory, "SIMULATED", False)   # the checks after the simulator's, in order
    monkeypatch.setattr(blas.importlib.util, "find_spec", lambda name: None)
    assert "CuPy is not installed" in blas._problem()
    monkeypatch.setenv("GRAPHJIT_CUDA_MATMUL", "tiled")
    assert "GRAPHJIT_CUDA_MATMUL=tiled" in blas._problem()


class _HostArrays:
    """NumPy in CuPy's place for ``blas.cublas_gemm``'s views: the simulator's device arrays hold host memory."""
    asarray = staticmethod(lambda a: a._ary if hasattr(a, "_ary") else np.asarray(a))
    matmul = staticmethod(np.matmul)


@pytest.mark.parametrize("shapes, ta, tb", [(((5, 7), (7, 3)), False, False), (((7, 5), (3, 7)), True, True),
                                            (((2, 5, 6), (6, 9)), False, False), (((4, 3), (2, 4, 5)), True, False)])
def test_where_cublas_is_chosen_the_stage_calls_it_with_its_buffers_layout(monkeypatch, shapes, ta, tb):
    """cuBLAS itself needs CuPy and a GPU (neither here): this checks the choice reaches the writer and that the
    call's layout arguments (rows, cols, inner, transposes, batches) give op(A) @ op(B), NumPy doing the product."""
    import functools
    from graphjit.compiler.cuda import blas
    monkeypatch.setattr(blas, "cublas_problem", lambda: None)
    rng = np.random.default_rng(8)
    a, b = (rng.normal(size=s).astype(np.float64) for s in shapes)
    graph = gj.function(lambda a, b: gj.matmul(a, b, transpose_a=ta, transpose_b=tb) * 2.0).get_concrete_function(
        a, b).graph
    executable = get_backend("cuda").compile(graph)
    kinds = [info["kind"] for info in executable.kernels.values()]
    assert "cublas_matmul" in kinds and "matmul" not in kinds, kinds
    for step in executable.steps:   # (the stage entries' module: the cache may hand the same one to a later test)
        if step.kind == "compiled":
            monkeypatch.setitem(step.entry.__globals__, "cublas_gemm", functools.partial(blas.cublas_gemm, xp=_HostArrays))
    got = executable.run(get_runtime().state, [a, b])[0]
    want = np.matmul(np.swapaxes(a, -1, -2) if ta else a, np.swapaxes(b, -1, -2) if tb else b) * 2.0
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
