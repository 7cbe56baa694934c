"""Devices: ``gj.device("cuda")`` / ``"cuda:1"`` / ``"cpu"``, ``gj.list_devices()``.

A device is where a traced function's kernels run: "cpu" (the Numba CPU backend, or ``gj.config.backend``) or
"cuda:<k>" (the CUDA backend, compiler.cuda, on GPU k). ``with gj.device(name):`` sets it for the calls this
thread makes inside; the runtime asks ``current()`` which backend compiles a call. Asking for CUDA where it cannot
run raises ``DeviceError`` saying why (numba-cuda not installed, no driver, no GPU, compute capability below
MIN_COMPUTE_CAPABILITY) when the ``with`` is entered; the CPU path never imports numba.cuda. Under Numba's CUDA
simulator (``NUMBA_ENABLE_CUDASIM=1``, set before numba.cuda is imported) the simulated GPU is cuda:0.

What runs where today: each compiled stage's elementwise loops and reductions are CUDA kernels; the other ops of
the graph run on the host, and a stage's inputs and outputs are copied to and from the GPU at each call
(``compiler.cuda.backend.TRANSFERS`` counts the copies). Device-resident tensors and variables are not built yet.
"""
import contextlib
import importlib
import os
import re
import threading
from dataclasses import dataclass

from graphjit.tracer.errors import DeviceError

MIN_COMPUTE_CAPABILITY = (5, 0)
_NAME = re.compile(r"^(?:/(?:device:)?)?(cpu|gpu|cuda)(?::(\d+))?$", re.IGNORECASE)


@dataclass(frozen=True)
class Device:
    kind: str     # "cpu" or "cuda"
    index: int = 0

    @property
    def name(self):
        return "cpu" if self.kind == "cpu" else f"cuda:{self.index}"

    def __str__(self):
        return self.name


CPU = Device("cpu")
_local = threading.local()


def parse(spec):
    """A Device from "cpu", "cuda", "cuda:1", "gpu:0", TF's "/GPU:0" / "/device:GPU:1", or a Device."""
    if isinstance(spec, Device):
        return spec
    match = _NAME.match(spec.strip()) if isinstance(spec, str) else None
    if match is None:
        raise DeviceError(f"unknown device {spec!r}: use 'cpu', 'cuda' or 'cuda:<index>' (TF's '/GPU:0' too)")
    kind = "cpu" if match.group(1).lower() == "cpu" else "cuda"
    index = int(match.group(2) or 0)
    if kind == "cpu" and index != 0:
        raise DeviceError(f"device {spec!r}: there is one CPU device, cpu:0")
    return Device(kind, index)


def cuda_problem(index=0):
    """Why CUDA device ``index`` cannot run graphjit's kernels here, or None when it can."""
    try:
        cuda = importlib.import_module("numba.cuda")
    except ImportError:
        return "the CUDA backend needs numba-cuda: pip install 'graphjit[cuda]'"
    if _simulated():
        return None if index == 0 else f"the CUDA simulator has one device, cuda:0 (asked for cuda:{index})"
    try:
        if not cuda.is_available():
            return "no usable CUDA driver or GPU was found (numba.cuda.is_available() is False)"
        gpus = list(cuda.gpus)
    except Exception as err:  # noqa: BLE001 - the driver's many failures, reported as one reason
        return f"the CUDA driver could not be initialised: {type(err).__name__}: {str(err).strip()[:200]}"
    if index >= len(gpus):
        return f"cuda:{index} does not exist: this machine has {len(gpus)} GPU(s)"
    capability = tuple(gpus[index].compute_capability)
    if capability < MIN_COMPUTE_CAPABILITY:
        return (f"cuda:{index} has compute capability {capability[0]}.{capability[1]}, below the "
                f"{MIN_COMPUTE_CAPABILITY[0]}.{MIN_COMPUTE_CAPABILITY[1]} graphjit's kernels need")
    return None


def _simulated():
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


def require(device):
    """``device``, checked usable (DeviceError otherwise); makes sure its backend is registered."""
    device = parse(device)
    if device.kind == "cuda":
        problem = cuda_problem(device.index)
        if problem is not None:
            raise DeviceError(f"device {device.name} cannot be used: {problem}")
        from graphjit.compiler.cuda import backend  # noqa: F401  (registers the "cuda" backend)
    return device


def list_devices():
    """The devices graphjit can run on here: cpu, then each usable CUDA GPU."""
    found = [CPU]
    if cuda_problem(0) is None:
        from numba import cuda
        count = 1 if _simulated() else len(list(cuda.gpus))
        found += [Device("cuda", k) for k in range(count) if cuda_problem(k) is None]
    return found


def current():
    """The device the calls of this thread run on (the innermost ``device`` block; cpu outside any)."""
    stack = getattr(_local, "stack", None)
    return stack[-1] if stack else CPU


_open = [0]   # non-CPU device blocks open in any thread: while one is, calls take the runtime's ordinary path
_open_lock = threading.Lock()


_on_open = []   # called when a block opens (the runtime drops its shortcuts: runtime._settings_changed)


def on_block_open(hook):
    _on_open.append(hook)


def blocks_open():
    return _open[0] > 0


@contextlib.contextmanager
def device(spec):
    """``with gj.device("cuda"):``: traced calls inside run their kernels on that device. (The runtime's per-call
    shortcuts skip the choice of backend: they are dropped when a block opens and not made while one is open.)"""
    chosen = require(spec)
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    counted = chosen.kind != "cpu"   # (the shortcuts are the CPU's: a cpu block keeps them)
    if counted:
        with _open_lock:
            _open[0] += 1
        for hook in _on_open:
            hook()
    stack.append(chosen)
    try:
        yield chosen
    finally:
        stack.pop()
        if counted:
            with _open_lock:
                _open[0] -= 1
