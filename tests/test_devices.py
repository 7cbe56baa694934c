"""gj.device / gj.list_devices / DeviceError in the main process (no GPU here, no simulator), and the CUDA backend's
own suite (tests/cuda_sim) run under Numba's CUDA simulator in a process of its own."""
import os
import subprocess
import sys

import numpy as np
import pytest

import graphjit as gj
from graphjit.errors import DeviceError
from graphjit.runtime import devices


@pytest.mark.parametrize("spec, name", [("cpu", "cpu"), ("CPU", "cpu"), ("cuda", "cuda:0"), ("cuda:1", "cuda:1"),
                                        ("gpu:2", "cuda:2"), ("/GPU:0", "cuda:0"), ("/device:GPU:3", "cuda:3")])
def test_device_names(spec, name):
    assert devices.parse(spec).name == name


@pytest.mark.parametrize("spec", ["tpu", "cuda:x", "cpu:1", "", 3])
def test_unknown_devices_are_refused_by_name(spec):
    with pytest.raises(DeviceError, match="device"):
        with gj.device(spec):
            pass


def test_a_cpu_block_runs_as_before():
    f = gj.function(lambda x: gj.exp(x) * 2.0)
    x = np.linspace(-1, 1, 7, dtype=np.float32)
    with gj.device("cpu"):
        inside = f(x).numpy()
    np.testing.assert_array_equal(inside, f(x).numpy())
    assert devices.current() is devices.CPU and not devices.blocks_open()


def test_cuda_where_it_cannot_run_says_why(monkeypatch):
    if devices.cuda_problem(0) is None:
        pytest.skip("this machine can run CUDA: the refusal cannot be observed here")
    with pytest.raises(DeviceError, match="cuda:0 cannot be used: .*(numba-cuda|driver|GPU)"):
        with gj.device("cuda"):
            pass
    assert [d.name for d in gj.list_devices()] == ["cpu"]
    monkeypatch.setitem(sys.modules, "numba.cuda", None)   # numba-cuda absent: the extra is named
    with pytest.raises(DeviceError, match=r"pip install 'graphjit\[cuda\]'"):
        with gj.device("cuda:0"):
            pass


def test_the_cuda_backend_suite_under_the_simulator():
    pytest.importorskip("numba.cuda")   # the [cuda] extra; the test extra installs it
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-W", "ignore::RuntimeWarning", "-p", "no:cacheprovider",
                           os.path.join(root, "tests", "cuda_sim")], capture_output=True, text=True, env=env,
                          timeout=1200, cwd=root)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "failed" not in done.stdout.splitlines()[-1]


def test_host_tensors_and_variables_say_where_they_live():
    t = gj.constant(np.arange(3, dtype=np.float32))
    v = gj.Variable(np.zeros(2, np.float32))
    assert t.device == "cpu:0" and t.cpu() is t and v.device == "cpu:0"
    np.testing.assert_array_equal(v.cpu().numpy(), np.zeros(2))
    assert gj.cuda_transfer_stats() == {"to_device": 0, "to_host": 0, "bytes": 0}   # no GPU in this process


def test_asking_for_the_gpu_where_it_cannot_run_says_why():
    if devices.cuda_problem(0) is None:
        pytest.skip("this machine can run CUDA: the refusal cannot be observed here")
    with pytest.raises(DeviceError, match="cuda:0 cannot be used"):
        gj.constant(np.ones(2, np.float32)).cuda()
    with pytest.raises(DeviceError, match="cuda:0 cannot be used"):
        gj.Variable(np.ones(2, np.float32), device="cuda")
    with pytest.raises(DeviceError, match="unknown device"):
        gj.Variable(np.ones(2, np.float32), device="tpu")


def _nvvm_problem(cuda):
    def probe(x):
        x[0] = 1.0
    try:
        cuda.compile_ptx(probe, "void(float32[::1])", cc=(7, 5))
    except Exception as err:  # noqa: BLE001 - NVVM/NVRTC missing or unloadable: the reason is printed
        return f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"
    return None


def test_the_cuda_kernels_declared_signatures_compile_to_ptx():
    """On a GPU each kernel compiles, for the device's compute capability, with the signature the module declares
    when it executes (and numba.cuda's PTX/cubin then goes to the disk cache): here, with no GPU, the declared
    signatures of a graph's elementwise, reduction, matmul and softmax kernels (float, int and bool
    buffers) compile to PTX for 7.5 and 9.0 (numba.cuda.compile_ptx, where NVVM loads)."""
    import re
    cuda = pytest.importorskip("numba.cuda")
    problem = _nvvm_problem(cuda)
    if problem is not None:
        pytest.skip(f"NVVM cannot compile here: {problem}")
    from graphjit.compiler.backend import get_backend
    from graphjit.compiler.cuda import backend  # noqa: F401  (registers it)
    from graphjit.compiler.schedule import make_schedule

    def f(x, w, k):
        y = gj.nn.relu(gj.matmul(x, w) + 0.5)
        counted = gj.reduce_sum(gj.cast(x > 0, gj.int32))
        return y, gj.nn.softmax(x), gj.reduce_max(x, axis=0), counted, (k * 3) // 2, x > 0
    args = (np.ones((4, 6), np.float32), np.ones((6, 3), np.float32), np.arange(5, dtype=np.int64))
    graph = gj.function(f).get_concrete_function(*args).graph
    cuda_backend = get_backend("cuda")
    schedule = make_schedule(graph, cuda_backend.capabilities)
    rendering = cuda_backend.render(schedule)
    assert "simulated" not in rendering.source.splitlines()[0] and "import math as gm" in rendering.source
    declared = rendering.signatures
    kinds = {re.sub(r"\d+$", "", name.rsplit("_", 1)[-1]) for name in declared}
    assert {"loop", "reduce", "matmul", "softmax"} <= kinds, kinds
    buffer_types = set(re.findall(r"\w+\[::1\]", " ".join(declared.values())))
    assert {"boolean[::1]", "int64[::1]", "float32[::1]"} <= buffer_types
    assert f"SIGNATURES = {declared!r}" in rendering.source   # (what the module compiles on a GPU)
    module = cuda_backend.load(rendering, schedule)   # (no GPU: the kernels stay lazy, as the module's footer says)
    for name, signature in declared.items():
        for cc in ((7, 5), (9, 0)):
            ptx, _ = cuda.compile_ptx(getattr(module, name).py_func, signature, cc=cc)
            assert f".target sm_{cc[0]}{cc[1]}" in ptx and ".entry" in ptx, name
