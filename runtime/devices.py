"""Devices: ``gj.device("cuda")`` / ``"cuda:1"`` / ``"cpu"``, ``gj.list_devices()``.

A device is where a traced function's kernels run: "cpu" (the Numba CPU backend, or ``gj.config.backend``) or
"cuda:<k>" (the CUDA backend, compiler.cuda, on GPU k). ``with gj.device(name):`` sets it for the calls this
thread makes inside; the runtime asks ``current()`` which backend compiles a call. Asking for CUDA where it cannot
run raises ``DeviceError`` saying why (numba-cuda not installed, no driver, no GPU, compute capability below
MIN_COMPUTE_CAPABILITY) when the ``with`` is entered; the CPU path never imports numba.cuda. Under Numba's CUDA
simulator (``NUMBA_ENABLE_CUDASIM=1``, set before numba.cuda is imported) the simulated GPU is cuda:0.

Where values live: a tensor's ``device`` is "cpu:0" or "cuda:0" (a ``DeviceTensor``, whose value is a numba.cuda
device array); ``t.cuda()`` / ``t.cpu()`` / ``t.numpy()`` are the explicit copies. A variable lives where it was
created (``gj.Variable(..., device="cuda")``, or any variable created inside ``with gj.device("cuda")``) and stays
there: compiled calls update it in place on the GPU. A traced call under a CUDA block takes device tensors, objects
exposing ``__cuda_array_interface__`` and GPU variables without copying, and returns DeviceTensors, so a step
whose inputs and variables are on the GPU makes no host <-> device copy (``cuda_transfer_stats()`` counts them).

The rule for mixing devices (docs/architecture.md, "Devices"): graphjit copies between devices only where asked:
the explicit calls above; the host values (NumPy arrays, Python numbers, CPU tensors and CPU variables) a call or
an eager op running under ``gj.device("cuda")`` reads, which the device block asks to bring to the GPU; 0-d host
operands of an eager op on the GPU (``x * 2``); and values assigned to a variable, which are stored on the
variable's device. Anything else that meets two devices raises DeviceError naming both: an eager op given a CUDA
tensor and a host tensor of rank >= 1 outside a cuda block, a call running on the CPU given a CUDA tensor or
touching a CUDA variable. An eager op on a CUDA tensor, or under a cuda block, runs on the GPU
(``eager_op_on_gpu``).
"""
import contextlib
import importlib
import os
import re
import threading
import weakref
from dataclasses import dataclass

import numpy as np

from graphjit.tracer import context as _context, tensor as _tensor
from graphjit.tracer.dtypes import from_numpy
from graphjit.tracer.errors import DeviceError
from graphjit.tracer.ir import TensorType
from graphjit.tracer.source import with_location
from graphjit.tracer.subgraphs import nodes_within
from graphjit.tracer.tensor import DeviceTensor, EagerTensor

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
OPEN_BLOCKS = _open   # (read by runtime.eager: an eager op looks at the device only while a block is open)
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
    scope = _context.pushed(_DeviceScope()) if counted else contextlib.nullcontext()
    try:
        with scope:
            yield chosen
    finally:
        stack.pop()
        if counted:
            with _open_lock:
                _open[0] -= 1


class _DeviceScope:
    """Pushed by a CUDA device block: with a context pushed, the eager operators' NumPy shortcut
    (tracer/ops/elementwise.py) stands aside, so every eager op in the block reaches the eager context, which runs
    it on the GPU. It hands everything to the context below it, as a gradient tape does."""
    traces = False   # (not a graph being built: gj.executing_eagerly() and variable creation look past it)

    def below(self, tensors=()):
        return _context.context_below(self, tensors)

    def execute(self, op, inputs, attrs):
        return self.below(inputs).execute(op, inputs, attrs)

    def __getattr__(self, name):
        return getattr(self.below(), name)


# -- where values live (see the module's docstring) --

def _memory():
    require("cuda")   # (DeviceError saying why where CUDA cannot run; registers the backend)
    from graphjit.compiler.cuda import memory
    return memory


def cuda_transfer_stats():
    """Host <-> GPU copies made so far: {"to_device": count, "to_host": count, "bytes": bytes moved}
    (all zero where CUDA was never used)."""
    import sys
    memory = sys.modules.get("graphjit.compiler.cuda.memory")
    return memory.transfer_stats() if memory is not None else {"to_device": 0, "to_host": 0, "bytes": 0}


def _to_cuda(array):
    return DeviceTensor(_memory().to_device(array))


def _to_host(array):
    from graphjit.compiler.cuda import memory   # (a device array exists: so does the module)
    return memory.to_host(array)


def _wrap(value, what):
    """A DeviceTensor sharing the memory of a GPU array (``__cuda_array_interface__``, a numba device array)."""
    from graphjit.tracer import dtypes
    from graphjit.tracer.errors import InvalidArgumentError
    array = _memory().from_interface(value, what)
    if dtypes.from_numpy(array.dtype) is None:
        raise InvalidArgumentError(f"{what} has dtype {array.dtype}, which graphjit does not support")
    return DeviceTensor(array)


def _interface(array):
    from graphjit.compiler.cuda import memory
    return memory.interface(array)


def place_variable(state, ref, device):
    """Moves variable ``ref``'s value to ``device`` (one counted copy) and records where it lives."""
    device = require(device)
    value = state.read(ref)
    if device.kind == "cpu":
        state.devices.pop(ref.id, None)
        state.values[ref.id] = np.array(_to_host(value), order="C") if type(value) is not np.ndarray else value
    else:
        state.values[ref.id] = _memory().to_device(value)
        state.devices[ref.id] = device.name


def variable_device(state, ref):
    return state.devices.get(ref.id, "cpu:0")


_gpu_variables = weakref.WeakKeyDictionary()   # program -> ids of the variables its graph reads or writes


def refuse_gpu_variables(program, state):
    """A call running on the CPU that touches a variable living on a GPU: DeviceError naming both devices."""
    ids = _gpu_variables.get(program)
    if ids is None:
        ids = _gpu_variables[program] = {node.attr("var").id: node.attr("var") for node in nodes_within(program.graph)
                                         if node.op in ("read_variable", "assign_variable")}
    for variable_id, ref in ids.items():
        if variable_id in state.devices:
            raise DeviceError(f"{program.graph.name} runs on cpu:0 but variable {ref.name!r} lives on "
                              f"{state.devices[variable_id]}: call it inside `with gj.device("
                              f"{state.devices[variable_id]!r}):` (graphjit does not copy between devices "
                              f"implicitly)")


def gpu_call(executable, state, tensors):
    """Runs a GPU executable on ``tensors`` (device tensors and arrays as they are, host ones copied in by the
    stages that read them); every result is a DeviceTensor (a result a host step made is copied to the GPU)."""
    from graphjit.compiler.cuda import memory
    arrays = [t._value if isinstance(t, EagerTensor) else np.asarray(t) for t in tensors]
    return [DeviceTensor(memory.to_device(a)) for a in executable.run(state, arrays)]


def eager_op_on_gpu(op, inputs, attrs, state, scoped):
    """One eager op on cuda:0 (runtime.eager sends it here): a one-op graph compiled once per (op, attributes,
    operand types) by the CUDA backend (compiler.cuda.eager), its result a DeviceTensor. ``scoped``: the op runs
    under ``gj.device("cuda")``, whose block asks for host operands to be copied in; outside one (an operand is on
    the GPU), only 0-d host operands are (Python numbers, as ``x * 2``, PyTorch's rule for CPU scalars): any other
    host tensor raises DeviceError naming both devices. Each host operand is copied in once, counted
(``cuda_transfer_stats``)."""
    arrays = []
    for k, t in enumerate(inputs):
        value = t._value
        if type(t) is not DeviceTensor and not scoped and value.ndim != 0:
            device_operand = next(x for x in inputs if type(x) is DeviceTensor)
            raise DeviceError(with_location(
                f"{op.name}: an operand is on cuda:0 ({device_operand._describe()}) but operand {k} is on cpu:0 "
                f"({t._describe()}); graphjit does not copy between devices implicitly: call .cuda() (or .cpu()) "
                f"first, or run the op inside `with gj.device('cuda'):` (where host operands are copied in; a "
                f"GradientTape's gradient of GPU tensors too: call tape.gradient there)"))
        arrays.append(value)
    from graphjit.compiler.cuda import eager, memory
    types = [TensorType(tuple(a.shape), from_numpy(a.dtype)) for a in arrays]
    op.check_attrs(attrs)
    out_type = op.infer_checked(types, attrs)   # (the rule's errors, as on the CPU)
    copied = {}   # (a host value an op reads twice, as ``x + x``, is copied once; ids of operands alive here)
    for k, a in enumerate(arrays):
        if not memory.is_device_array(a):
            if id(a) not in copied:
                copied[id(a)] = memory.to_device(a)
            arrays[k] = copied[id(a)]
    results = eager.executable(op, types, attrs, out_type).run(state, arrays)
    return DeviceTensor(memory.to_device(results[0]))


_tensor.DEVICE_HOOKS.update(to_cuda=_to_cuda, to_host=_to_host, wrap=_wrap, interface=_interface, scope=device)
