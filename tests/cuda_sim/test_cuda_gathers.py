"""Gathers and integer matmul as CUDA kernels (compiler/cuda/writer.py), under the CUDA simulator: gather, and
``x[int tensor]`` (take) with NumPy's negative indices, equal NumPy's results exactly; an index out of range
raises the CPU backend's error (class and message), never a wrong answer; a traced call on GPU-resident data
makes no copy but the one 8-byte read of its stage's index flag. Integer matmul wraps as NumPy's does. One traced
function holds every case (the simulator runs each GPU thread as a Python thread: few, small graphs)."""
import numpy as np
import pytest

import graphjit as gj
from graphjit.compiler.backend import get_backend
from graphjit.compiler.cuda import backend as cuda_backend  # noqa: F401  (registers it)
from graphjit.errors import InvalidArgumentError
from graphjit.runtime import get_runtime
from graphjit.tracer.tensor import DeviceTensor

X = np.arange(24, dtype=np.float32).reshape(4, 6) * 0.5 - 3.0
ROWS = np.array([3, 0, 2, 3], np.int32)               # repeats allowed
NEG = np.array([[-1, 0], [2, -4]], np.int64)          # NumPy's negatives count from the end
BIG = np.iinfo(np.int32).max
A32 = np.array([[BIG, 2, -3], [BIG, BIG, 1]], np.int32)           # products and sums that wrap in int32
B32 = np.array([[BIG, 1], [7, BIG], [-BIG, 5]], np.int32)
A64 = np.array([[[2 ** 62, 3], [-(2 ** 62), 2 ** 40]]] * 2, np.int64)   # batched, wrapping in int64
B64 = np.array([[4, 1], [2 ** 30, -7]], np.int64)


def gathers(x, rows, neg, a32, b32, a64, b64):
    return (gj.gather(x, rows), gj.gather(x, rows, axis=1) * 2.0, x[neg], x[1:, neg], x[neg, ::2],
            x[2, rows] + 1.0, x[..., -2:][rows], gj.matmul(a32, b32), gj.matmul(a32, b32, transpose_b=False) + 1,
            gj.matmul(a64, b64), gj.matmul(b64, b64, transpose_a=True))


def _numpy(x, rows, neg, a32, b32, a64, b64):
    with np.errstate(over="ignore"):
        return (np.take(x, rows, axis=0), np.take(x, rows, axis=1) * np.float32(2), x[neg], x[1:, neg], x[neg, ::2],
                x[2, rows] + np.float32(1), x[..., -2:][rows], a32 @ b32, a32 @ b32 + np.int32(1), a64 @ b64,
                b64.T @ b64)


ARGS = [X, ROWS, NEG, A32, B32, A64, B64]
GRAPH = gj.function(gathers).get_concrete_function(*ARGS).graph
_compiled = []


def _executable():
    if not _compiled:
        _compiled.append(get_backend("cuda").compile(GRAPH))
    return _compiled[0]


def _host(array):
    return array.copy_to_host() if hasattr(array, "copy_to_host") else array


def test_gathers_and_integer_matmul_run_as_cuda_kernels_and_equal_numpy():
    executable = _executable()
    kinds = {info["kind"] for info in executable.kernels.values()}
    assert {"gather", "take", "int_matmul"} <= kinds, kinds
    assert not any(step.kind == "python" for step in executable.steps), "a gather or matmul ran on the host"
    got = executable.run(get_runtime().state, ARGS)
    want = _numpy(*ARGS)
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want)):
        g = _host(g)
        assert g.dtype == w.dtype and g.shape == w.shape, k
        np.testing.assert_array_equal(g, w, err_msg=f"output {k}")   # copies and integer sums: exact


@pytest.mark.parametrize("position, bad", [(1, np.array([0, 4, 1, 1], np.int32)),     # gather: [0, dim) only
                                           (1, np.array([0, -1, 1, 1], np.int32)),
                                           (2, np.array([[-5, 0], [2, 1]], np.int64)),  # take: [-dim, dim)
                                           (2, np.array([[0, 0], [4, 1]], np.int64))])
def test_an_index_out_of_range_raises_the_cpu_backends_error(position, bad):
    args = list(ARGS)
    args[position] = bad
    state = get_runtime().state
    with pytest.raises(InvalidArgumentError) as on_cpu:
        get_backend("cpu").compile(GRAPH).run(state, args)
    with pytest.raises(InvalidArgumentError) as on_gpu:
        _executable().run(state, args)
    assert str(on_gpu.value) == str(on_cpu.value)
    again = _executable().run(state, ARGS)   # the flag is cleared by the next call: its answer is right
    np.testing.assert_array_equal(_host(again[0]), np.take(X, ROWS, axis=0))


def test_a_traced_gather_on_gpu_data_copies_only_its_index_flag():
    f = gj.function(lambda x, rows: gj.gather(x, rows) * 2.0 + x[rows[::-1]])
    xd, rows = gj.constant(X).cuda(), gj.constant(ROWS).cuda()
    gj.config.compile_in_background = False
    with gj.device("cuda"):
        f(xd, rows)   # (compiled here)
        before = gj.cuda_transfer_stats()
        out = f(xd, rows)
        after = gj.cuda_transfer_stats()
    assert type(out) is DeviceTensor
    # no operand copied; the stage's one shared flag read back (8 bytes), whatever its number of checks
    assert (after["to_device"] - before["to_device"], after["to_host"] - before["to_host"]) == (0, 1)
    assert after["bytes"] - before["bytes"] == 8
    np.testing.assert_array_equal(out.numpy(), X[ROWS] * np.float32(2) + X[ROWS[::-1]])
    with gj.device("cuda"):
        with pytest.raises(InvalidArgumentError, match=r"indices\[0\] = 9 is not in \[0, 4\)"):
            f(xd, gj.constant(np.array([9, 0, 0, 0], np.int32)).cuda())


def test_an_eager_gather_on_gpu_operands_runs_on_the_gpu():
    table, rows, neg = gj.constant(X).cuda(), gj.constant(ROWS).cuda(), gj.constant(NEG).cuda()
    gj.gather(table, rows)   # (compiled here)
    before = gj.cuda_transfer_stats()
    got = gj.gather(table, rows)
    picked = table[neg]
    after = gj.cuda_transfer_stats()
    assert type(got) is DeviceTensor and type(picked) is DeviceTensor
    assert after["to_device"] - before["to_device"] == 0 and after["to_host"] - before["to_host"] == 2   # the flags
    np.testing.assert_array_equal(got.numpy(), X[ROWS])
    np.testing.assert_array_equal(picked.numpy(), X[NEG])
