"""concat / stack / tile, cumsum / cumprod and sort / stable argsort as CUDA kernels (compiler/cuda/copy_scan_writer.py),
under the CUDA simulator: their results equal the CPU backend's and NumPy's bit for bit (the scans and sorts run the
CPU kernels' loops, one GPU thread per line), over axes (negative ones too), dtypes (bool, ints, floats), operands of
different sizes, zero-size and one-element tensors and NaN/inf; and a traced call on GPU-resident data that uses
them makes no host copy. One traced function holds the cases (the simulator runs each GPU thread as a Python thread:
few, small graphs)."""
import numpy as np
import pytest

import graphjit as gj
from graphjit.compiler.cuda import backend as cuda_backend  # noqa: F401  (registers it)
from graphjit.runtime import get_runtime
from graphjit.tracer.tensor import DeviceTensor

from shared_graphs import CompiledOnce, host

F = np.array([[3.0, np.nan, 1.0, -0.0, 2.0],
              [0.0, 2.0, 2.0, -np.inf, np.inf],
              [-1.5, 1e30, 1e30, 0.5, np.nan]], np.float32)    # ties, NaN, +-inf, -0.0; 1e30 * 1e30 overflows
D = np.array([0.1, -2.5, np.nan, 1e-300, 7.0], np.float64)
I = (np.arange(24, dtype=np.int32).reshape(2, 3, 4) * 7 % 11 - 5).astype(np.int32)
W = np.array([2 ** 62, 2 ** 62, 3, -7], np.int64)   # sums and products that wrap in int64
B = np.array([[True, False, True], [False, False, True]])
ONE = np.array([4.5], np.float32)
E03, E30 = np.zeros((0, 3), np.float32), np.zeros((3, 0), np.float32)


def copies_and_scans(f, d, i, w, b, one, e03, e30):
    return (
        # concat / stack: any axis, pieces of different sizes, bool and ints, promotion, zero-size pieces
        gj.concat([f, f * 2.0], 0), gj.concat([f, f[:, :2]], -1), gj.concat([b, b[:, :1]], 1),
        gj.concat([i, i[:, :1], i], 1), gj.concat([e03, f[:1, :3]], 0), gj.concat([e30, e30], 1),
        gj.concat([b[0], gj.cast(b[1], gj.int32), f[0, :3]], 0), gj.concat([one], 0),
        gj.stack([f, f + 1.0], axis=1), gj.stack([i, i], -1), gj.stack([b, b], 0), gj.stack([one, one]),
        # tile
        gj.tile(f, (2, 1)), gj.tile(b, (1, 3)), gj.tile(i, (1, 2, 1)), gj.tile(e03, (2, 2)), gj.tile(one, (3,)),
        # cumsum / cumprod: axes, exclusive / reverse, int32 and bool (int64 results), int64 wrapping,
        # NaN and inf, float64, zero-size and one-element
        gj.math.cumsum(f, 0), gj.math.cumsum(f, -1, exclusive=True), gj.math.cumsum(f, 1, reverse=True),
        gj.math.cumprod(f, 0, exclusive=True, reverse=True), gj.math.cumprod(f, -1),
        gj.math.cumsum(i, 1), gj.math.cumprod(i, -1, reverse=True), gj.math.cumsum(w, 0), gj.math.cumprod(w, 0),
        gj.math.cumsum(b, 1), gj.math.cumprod(d, 0), gj.math.cumsum(d, 0, exclusive=True),
        gj.math.cumsum(e03, 0), gj.math.cumsum(e30, 1), gj.math.cumsum(one, 0),
        # sort / stable argsort: NaN last ascending and first descending, ties in order, any axis
        gj.sort(f), gj.sort(f, 0, direction="DESCENDING"), gj.argsort(f, stable=True),
        gj.argsort(f, direction="DESCENDING", stable=True), gj.argsort(f, axis=0, stable=True),
        gj.sort(i, 1), gj.argsort(i, axis=-1, direction="DESCENDING", stable=True), gj.sort(w),
        gj.sort(d, direction="DESCENDING"), gj.argsort(d, stable=True), gj.sort(e30), gj.sort(e03, 0), gj.sort(one),
    )


def _scan(fn, x, axis, exclusive=False, reverse=False):
    """TF's scan flags on NumPy's cumsum / cumprod."""
    x = np.flip(x, axis) if reverse else x
    out = fn(x, axis=axis)
    if exclusive:
        identity = np.zeros_like(np.take(out, [0], axis)) + (fn is np.cumprod)
        out = np.concatenate([identity, np.take(out, range(out.shape[axis] - 1), axis)], axis)
    return np.flip(out, axis) if reverse else out


def _descending_argsort(x, axis):
    """Stable descending: equal elements keep their order (the eager argsort's rule)."""
    n = x.shape[axis]
    return (n - 1 - np.flip(np.argsort(np.flip(x, axis), axis=axis, kind="stable"), axis)).astype(np.int32)


def _numpy(f, d, i, w, b, one, e03, e30):
    f32 = np.float32
    with np.errstate(over="ignore", invalid="ignore"):
        return (
            np.concatenate([f, f * f32(2)], 0), np.concatenate([f, f[:, :2]], -1), np.concatenate([b, b[:, :1]], 1),
            np.concatenate([i, i[:, :1], i], 1), np.concatenate([e03, f[:1, :3]], 0), np.concatenate([e30, e30], 1),
            np.concatenate([b[0], b[1].astype(np.int32), f[0, :3]], 0), one.copy(),
            np.stack([f, f + f32(1)], 1), np.stack([i, i], -1), np.stack([b, b], 0), np.stack([one, one]),
            np.tile(f, (2, 1)), np.tile(b, (1, 3)), np.tile(i, (1, 2, 1)), np.tile(e03, (2, 2)), np.tile(one, 3),
            np.cumsum(f, 0), _scan(np.cumsum, f, -1, exclusive=True), _scan(np.cumsum, f, 1, reverse=True),
            _scan(np.cumprod, f, 0, exclusive=True, reverse=True), np.cumprod(f, -1),
            np.cumsum(i, 1), _scan(np.cumprod, i, -1, reverse=True), np.cumsum(w, 0), np.cumprod(w, 0),
            np.cumsum(b, 1), np.cumprod(d, 0), _scan(np.cumsum, d, 0, exclusive=True),
            np.cumsum(e03, 0), np.cumsum(e30, 1), np.cumsum(one, 0),
            np.sort(f), np.flip(np.sort(f, 0), 0), np.argsort(f, kind="stable").astype(np.int32),
            _descending_argsort(f, -1), np.argsort(f, axis=0, kind="stable").astype(np.int32),
            np.sort(i, 1), _descending_argsort(i, -1), np.sort(w),
            np.flip(np.sort(d)), np.argsort(d, kind="stable").astype(np.int32), np.sort(e30), np.sort(e03, 0),
            np.sort(one),
        )


ARGS = [F, D, I, W, B, ONE, E03, E30]
GRAPH = gj.function(copies_and_scans).get_concrete_function(*ARGS).graph
_executable = CompiledOnce(GRAPH)


def _assert_bits(got, want, what):
    """Equal values of the same dtype and shape, NaN where NaN and zeros of the same sign."""
    assert got.dtype == want.dtype and got.shape == want.shape, (what, got.dtype, want.dtype, got.shape, want.shape)
    np.testing.assert_array_equal(got, want, err_msg=what)
    if got.dtype.kind == "f":
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want), err_msg=f"{what}: signs of zeros")


def test_every_copy_and_scan_runs_as_a_cuda_kernel():
    executable = _executable("cuda")
    kinds = {info["kind"] for info in executable.kernels.values()}
    assert {"concat", "tile", "cumulative", "sort"} <= kinds, kinds
    assert not any(step.kind == "python" for step in executable.steps), "a copy, scan or sort ran on the host"


def test_copies_and_scans_equal_the_cpu_backend_and_numpy_bit_for_bit():
    state = get_runtime().state
    got = [host(g) for g in _executable("cuda").run(state, ARGS)]
    on_cpu = [host(c) for c in _executable("cpu").run(state, ARGS)]
    want = _numpy(*ARGS)
    assert len(got) == len(on_cpu) == len(want)
    for k, (g, c, w) in enumerate(zip(got, on_cpu, want)):
        _assert_bits(g, c, f"output {k} against the CPU backend")
        _assert_bits(g, np.asarray(w), f"output {k} against NumPy")


def test_a_traced_call_on_gpu_data_using_them_makes_no_host_copy():
    total = gj.Variable(np.zeros((3, 5), np.float32), name="total", device="cuda")

    @gj.function
    def step(x, k):
        total.assign(gj.math.cumsum(gj.sort(x), axis=1) + gj.tile(k, (3, 1)))
        return gj.concat([x[:, :2], gj.stack([x[:, 2], x[:, 3]], axis=1)], 1), gj.argsort(x, stable=True)

    xd, kd = gj.constant(F).cuda(), gj.constant(F[:1]).cuda()
    gj.config.compile_in_background = False
    with gj.device("cuda"):
        step(xd, kd)   # (compiled here)
        before = gj.cuda_transfer_stats()
        joined, order = step(xd, kd)
        after = gj.cuda_transfer_stats()
    assert type(joined) is DeviceTensor and type(order) is DeviceTensor
    assert (after["to_device"] - before["to_device"], after["to_host"] - before["to_host"]) == (0, 0)
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(total.numpy(), np.cumsum(np.sort(F), 1) + F[:1])
    np.testing.assert_array_equal(joined.numpy(), F[:, :4])
    np.testing.assert_array_equal(order.numpy(), np.argsort(F, kind="stable"))
