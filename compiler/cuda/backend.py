"""The CUDA backend: the schedule's fused stages as numba.cuda kernels (``writer``), run by the CPU backend's
runner (compiler.runner: the same buffers, Python stages and variable updates), each stage's entry copying its
inputs to the GPU and its results back. Kernels are compiled by numba.cuda on their first launch; the source of a
graph is compiled once per graph (no disk cache yet). The block size is 256 threads on a GPU and 32 under Numba's
CUDA simulator, which runs each thread as a Python thread."""
import math
import os
import threading
import types

import numpy as np

from graphjit.tracer.symbolic import graph_symbols

from ..backend import register_backend
from ..cpu import CompiledGraph
from ..schedule import Capabilities, ScheduledBackend
from .scalar import SIMULATED_MATH
from .writer import SIMULATED_THREADS, CudaStageWriter

TRANSFERS = {"to_device": 0, "to_host": 0, "bytes": 0}   # host <-> GPU copies made by stage entries
_count_lock = threading.Lock()


def _threads():
    return SIMULATED_THREADS if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0") else 256


def _kernel_supported(name, node, in_types):
    """The hand-written kernels it has: float matmul (one batch shape, or one side unbatched), softmax and
    log_softmax over the last axis. The others (gathers, integer matmul, control flow, ...) run on the host between
    stages for now."""
    if name == "matmul":
        a, b = in_types
        batches = {tuple(a.shape[:-2]), tuple(b.shape[:-2])} - {()}
        return (len(a.shape) >= 2 and len(b.shape) >= 2 and len(batches) <= 1 and a.dtype is b.dtype is node.type.dtype
                and a.dtype.is_floating)
    if name in ("softmax", "log_softmax"):
        return (node.type.dtype.is_floating and len(node.type.shape) >= 1
                and node.attr("axis") in (-1, len(node.type.shape) - 1))
    return False


class Rendering:
    def __init__(self, schedule):
        threads = _threads()
        self.writers, self.args, self.entry_shapes = [], {}, {}
        for stage in schedule.fused:
            writer = CudaStageWriter(stage.name, stage.plan, schedule.pure, threads)
            self.args[stage.name] = writer.write()
            self.entry_shapes[stage.name] = writer.entry_shapes
            self.writers.append(writer)
        header = ["import math", "import numba", "import numpy as np", "from numba import cuda", "", ""]
        self.source = "\n".join(header + [line for w in self.writers for line in w.lines]) + "\n"


def _to_device(array):
    from numba import cuda
    with _count_lock:
        TRANSFERS["to_device"] += 1
        TRANSFERS["bytes"] += array.nbytes
    return cuda.to_device(np.ascontiguousarray(array))


def _device_array(shape, dtype):
    from numba import cuda
    return cuda.device_array(shape, dtype)


def _to_host(device_array, host):
    if host.size == 0:
        return
    with _count_lock:
        TRANSFERS["to_host"] += 1
        TRANSFERS["bytes"] += host.nbytes
    if host.flags.c_contiguous:
        device_array.copy_to_host(host)
    else:   # (a strided view of the host buffer: the copy lands in a temporary, then in place)
        host[...] = device_array.copy_to_host().reshape(host.shape)


class CudaBackend(ScheduledBackend):
    name = "cuda"
    capabilities = Capabilities("cuda", _kernel_supported)

    def symbolic_problem(self, graph):
        if graph_symbols(graph):
            return "the CUDA backend compiles known sizes only (each size of a None dimension is traced apart)"
        return None

    def render(self, schedule):
        return Rendering(schedule)

    def load(self, rendering, schedule):
        module = types.ModuleType(f"graphjit_cuda_{schedule.source.name}")
        module.__dict__.update(to_device=_to_device, device_array=_device_array, to_host=_to_host,
                               gm=SIMULATED_MATH if _threads() == SIMULATED_THREADS else math)
        exec(compile(rendering.source, f"<graphjit cuda {schedule.source.name}>", "exec"), module.__dict__)
        return module

    def assemble(self, schedule, rendering, module):
        return CompiledGraph(schedule, rendering, module, np.empty)


register_backend(CudaBackend())
