"""Device residency under the CUDA simulator: DeviceTensors and GPU variables stay on the (simulated) GPU across
traced calls, every host <-> device copy is counted (gj.cuda_transfer_stats), __cuda_array_interface__ goes in and
out without copies, and mixing devices follows the rule of docs/architecture.md ("Devices"): an error naming both
devices, except the host values a call under gj.device("cuda") reads and values assigned to a variable."""
import time

import numpy as np
import pytest
from numba import cuda

import graphjit as gj
from graphjit.compiler.cuda import memory
from graphjit.errors import DeviceError
from graphjit.runtime.runtime import _compile_pool

RTOL, ATOL = 2e-5, 1e-6


@pytest.fixture(autouse=True)
def _foreground():
    gj.config.compile_in_background = False


def _copies(before):
    after = gj.cuda_transfer_stats()
    return after["to_device"] - before["to_device"], after["to_host"] - before["to_host"]


def test_explicit_transfers_are_counted_and_round_trip():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    host = gj.constant(x)
    assert host.device == "cpu:0" and host.cpu() is host
    before = gj.cuda_transfer_stats()
    dev = host.cuda()
    assert dev.device == "cuda:0" and dev.cuda() is dev and _copies(before) == (1, 0)
    assert dev.shape == (3, 4) and dev.dtype == gj.float32
    back = dev.cpu()
    assert back.device == "cpu:0" and not memory.is_device_array(back._value)
    np.testing.assert_array_equal(back.numpy(), x)
    np.testing.assert_array_equal(dev.numpy(), x)
    assert _copies(before) == (1, 2)   # .cpu() and .numpy() each copy back once


def _step_fn():
    @gj.function
    def step(x, y):
        with gj.GradientTape() as tape:
            pred = gj.matmul(x, w) + b
            loss = gj.reduce_mean((pred - y) ** 2)
        gw, gb = tape.gradient(loss, [w, b])
        w.assign_sub(0.1 * gw)
        b.assign_sub(0.1 * gb)
        return loss
    return step


def _reference(x, y, w, b, steps):
    """float64 NumPy: the same least-squares SGD steps."""
    w, b = w.astype(np.float64), b.astype(np.float64)
    losses = []
    for _ in range(steps):
        err = x @ w + b - y
        losses.append(np.mean(err ** 2))
        g = 2.0 * err / err.size
        w, b = w - 0.1 * (x.T @ g), b - 0.1 * g.sum(axis=0)
    return w, b, losses


def test_a_training_step_on_gpu_variables_makes_no_copies():
    global w, b
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 5)).astype(np.float32), rng.normal(size=(8, 3)).astype(np.float32)
    w0, b0 = rng.normal(size=(5, 3)).astype(np.float32), np.zeros(3, np.float32)
    with gj.device("cuda"):
        w = gj.Variable(w0, name="w")           # created inside the block: on the GPU
    b = gj.Variable(b0, name="b", device="cuda")
    assert w.device == b.device == "cuda:0"
    xd, yd = gj.constant(x).cuda(), gj.constant(y).cuda()
    step = _step_fn()
    with gj.device("cuda"):
        first = step(xd, yd)                   # traces and compiles
        before = gj.cuda_transfer_stats()
        losses = [step(xd, yd) for _ in range(4)]
        assert _copies(before) == (0, 0), "a step on GPU inputs and variables copied to or from the host"
    assert all(t.device == "cuda:0" for t in losses) and first.device == "cuda:0"
    want_w, want_b, want_losses = _reference(x, y, w0, b0, 5)
    got = [first.numpy()] + [t.numpy() for t in losses]
    np.testing.assert_allclose(got, want_losses, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(w.numpy(), want_w, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(b.numpy(), want_b, rtol=RTOL, atol=ATOL)
    assert w.device == "cuda:0" and memory.is_device_array(gj.runtime.get_runtime().state.values[w._ref.id])


def test_host_inputs_under_a_cuda_block_are_copied_in_and_results_stay_on_the_gpu():
    f = gj.function(lambda x, y: gj.exp(x) * y + 1.0)
    x, y = np.linspace(-1, 1, 10, dtype=np.float32), np.full(10, 2.0, np.float32)
    # CUDA compiles before its first call returns even with background compiles on and the compile thread busy:
    # a host stand-in could not read GPU values
    gj.config.compile_in_background = True
    _compile_pool().submit(time.sleep, 0.5)
    with gj.device("cuda"):
        assert f(x, y).device == "cuda:0"
        before = gj.cuda_transfer_stats()
        out = f(x, y)
        assert _copies(before) == (2, 0)   # each host argument once; the result is not copied back
        again = f(out, out)                # a DeviceTensor result fed back: no copy
        assert _copies(before) == (2, 0)
    assert out.device == "cuda:0"
    np.testing.assert_allclose(out.numpy(), np.exp(x) * y + 1.0, rtol=RTOL, atol=ATOL)
    want = np.exp(np.exp(x) * y + 1.0) * (np.exp(x) * y + 1.0) + 1.0
    np.testing.assert_allclose(again.numpy(), want, rtol=RTOL, atol=ATOL)


class _Foreign:
    """Stands in for a CuPy / PyTorch GPU array: it exposes only __cuda_array_interface__."""

    def __init__(self, device_array):
        self._array = device_array
        self.__cuda_array_interface__ = memory.interface(device_array)


def test_cuda_array_interface_in_and_out_without_copies():
    f = gj.function(lambda x: gj.reduce_sum(x * x, axis=1))
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    numba_array = cuda.to_device(x)
    foreign_memory = cuda.to_device(x)
    foreign = _Foreign(foreign_memory)
    with gj.device("cuda"):
        f(numba_array)
        before = gj.cuda_transfer_stats()
        from_numba = f(numba_array)
        from_foreign = f(foreign)
        assert _copies(before) == (0, 0)
        foreign_memory.copy_to_device(2 * x)   # the call reads the foreign array's own memory
        doubled = f(foreign)
    np.testing.assert_allclose(from_numba.numpy(), (x * x).sum(axis=1), rtol=RTOL)
    np.testing.assert_allclose(from_foreign.numpy(), (x * x).sum(axis=1), rtol=RTOL)
    np.testing.assert_allclose(doubled.numpy(), 4 * (x * x).sum(axis=1), rtol=RTOL)
    interface = from_numba.__cuda_array_interface__   # out: a DeviceTensor exposes its memory
    assert interface["shape"] == (2,) and interface["typestr"] == np.dtype(np.float32).str
    wrapped = gj.convert_to_tensor(_Foreign(from_numba._value))
    assert wrapped.device == "cuda:0" and wrapped.__cuda_array_interface__["data"] == interface["data"]


def test_mixing_devices_raises_naming_both():
    dev = gj.constant(np.ones(3, np.float32)).cuda()
    host = gj.constant(np.ones(3, np.float32))
    with pytest.raises(DeviceError, match=r"add: .*cuda:0.*cpu:0"):
        dev + host
    with pytest.raises(DeviceError, match=r"cuda:0.*cpu:0"):
        np.asarray(dev)
    f = gj.function(lambda x: x * 2.0)
    with pytest.raises(DeviceError, match=r"cuda:0.*cpu:0"):
        f(dev)                                  # outside a cuda block the call runs on the CPU
    v = gj.Variable(np.zeros(3, np.float32), device="cuda")
    g = gj.function(lambda x: x + v)
    with pytest.raises(DeviceError, match=r"runs on cpu:0 but variable .* lives on cuda:0"):
        g(np.ones(3, np.float32))


def test_eager_variable_ops_keep_a_gpu_variable_on_the_gpu():
    v = gj.Variable(np.arange(4, dtype=np.float32), device="cuda")
    before = gj.cuda_transfer_stats()
    v.assign_add(np.ones(4, np.float32))       # read back, added on the host, stored on the GPU again
    assert _copies(before) == (1, 1) and v.device == "cuda:0"
    read = v.read_value()
    assert read.device == "cuda:0" and _copies(before) == (1, 1)
    np.testing.assert_array_equal(v.numpy(), np.arange(4) + 1.0)
    host_v = gj.Variable(np.zeros(2, np.float32))
    with gj.device("cuda"):                     # a CUDA call writing a host variable: stored on the host
        gj.function(lambda: host_v.assign(gj.ones([2])))()
    assert host_v.device == "cpu:0" and type(gj.runtime.get_runtime().state.values[host_v._ref.id]) is np.ndarray
    np.testing.assert_array_equal(host_v.numpy(), np.ones(2))


def test_a_checkpoint_saves_and_restores_a_gpu_variable_on_the_gpu(tmp_path):
    v = gj.Variable(np.arange(5, dtype=np.float64), device="cuda")
    checkpoint = gj.train.Checkpoint(v=v)
    path = checkpoint.save(str(tmp_path / "ckpt"))
    v.assign(np.zeros(5))
    checkpoint.restore(path)
    assert v.device == "cuda:0"
    np.testing.assert_array_equal(v.numpy(), np.arange(5, dtype=np.float64))
