"""The CUDA backend: the schedule's fused stages as numba.cuda kernels (``writer``), run by the CPU backend's
runner (compiler.runner: the same plans, Python stages and variable updates) with GPU buffers: the runner allocates
its buffers on the device (``memory.device_array``), constants are copied there once when the graph is assembled,
and device tensors and variables are passed as they are, so a call whose inputs and variables live on the GPU makes
no host <-> device copy (``memory.TRANSFERS``). Host inputs are copied in by the stage entry that reads them; ops with
no CUDA kernel run on the host between stages (their operands copied back, counted). Kernels are compiled by
numba.cuda on their first launch; the source of a graph is compiled once per graph (no disk cache yet). The block
size is 256 threads on a GPU and 32 under Numba's CUDA simulator, which runs each thread as a Python thread."""
import math
import os
import types

import numpy as np

from graphjit.tracer.symbolic import graph_symbols

from ..backend import register_backend
from ..cpu import CompiledGraph
from ..interpreter import run_node
from ..runner import build_runner
from ..schedule import Capabilities, ScheduledBackend
from . import memory
from .memory import TRANSFERS  # noqa: F401  (the copy counters, read by tests and gj.cuda_transfer_stats)
from .scalar import SIMULATED_MATH
from .writer import SIMULATED_THREADS, CudaStageWriter

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


def _run_on_host(op, node, attrs, state, arrays):
    """A node with no CUDA kernel, run eagerly between stages: its GPU operands copied to the host (counted)."""
    return run_node(op, node, attrs, state, [memory.to_host(a) for a in arrays])


class CudaGraph(CompiledGraph):
    """The CPU backend's compiled graph with GPU buffers: constants on the device (copied once, here), buffers
    allocated there, host steps given host copies, and variable writes through ``State.write`` (which keeps each
    variable on its own device). Its results are device arrays, or host arrays a host step made (the runtime
    copies those to the device)."""
    device = "cuda:0"

    def __init__(self, sched, rendering, module):
        super().__init__(sched, rendering, module, np.empty)
        self.constants = {i: memory.to_device(value) for i, value in self.constants.items()}
        self.run = build_runner(self.pure, self.effects, self.steps, self.constants,
                                read_locations=sched.read_locations, allocate=memory.device_array,
                                run_node=_run_on_host, variable_writes="state", to_host=memory.to_host)
        self.run_tensors = None   # (no per-call shortcut: the runtime's path wraps device results)


class CudaBackend(ScheduledBackend):
    name = "cuda"
    foreground = True   # compiled before the first call returns: the host stand-in cannot read GPU values
    capabilities = Capabilities("cuda", _kernel_supported)

    def symbolic_problem(self, graph):
        if graph_symbols(graph):
            return "the CUDA backend compiles known sizes only (each size of a None dimension is traced apart)"
        return None

    def render(self, schedule):
        return Rendering(schedule)

    def load(self, rendering, schedule):
        module = types.ModuleType(f"graphjit_cuda_{schedule.source.name}")
        module.__dict__.update(to_device=memory.to_device, output_buffer=memory.output_buffer,
                               copy_back=memory.copy_back,
                               gm=SIMULATED_MATH if _threads() == SIMULATED_THREADS else math)
        exec(compile(rendering.source, f"<graphjit cuda {schedule.source.name}>", "exec"), module.__dict__)
        return module

    def assemble(self, schedule, rendering, module):
        return CudaGraph(schedule, rendering, module)


register_backend(CudaBackend())
