"""The CUDA backend: the schedule's fused stages as numba.cuda kernels (``writer``), run by the CPU backend's
runner (compiler.runner: the same plans, Python stages and variable updates) with GPU buffers: the runner allocates
its buffers on the device (``memory.device_array``), constants are copied there once when the graph is assembled,
and device tensors and variables are passed as they are, so a call whose inputs and variables live on the GPU makes
no host <-> device copy (``memory.TRANSFERS``). Host inputs are copied in by the stage entry that reads them; ops with
no CUDA kernel (``_kernel_supported`` names them) run on the host between stages (their operands copied back,
counted). Each kernel has an explicit signature, so numba.cuda compiles it when its module executes; modules go
through graphjit's disk cache (compiler.cache: the source under its content hash, numba.cuda's PTX/cubin files per
compute capability beside it, all hashed in the entry's manifest), so a later process loads a graph's kernels
instead of compiling them. The block
size is 256 threads on a GPU and 32 under Numba's CUDA simulator, which runs each thread as a Python thread."""
import os

import numpy as np

from graphjit.tracer.errors import CompilationError, GraphjitError
from graphjit.tracer.symbolic import graph_symbols

from ..backend import register_backend
from .. import cache_store as store
from ..cache import cache_dir, cache_key, load_module
from ..cache import enabled as cache_enabled
from ..cpu import CompiledGraph
from ..cpu import _kernel_supported as cpu_kernel_supported
from ..interpreter import run_node
from ..runner import build_runner
from ..schedule import Capabilities, ScheduledBackend
from . import blas, memory
from .sized import SizedCudaGraph
from .memory import TRANSFERS  # noqa: F401  (the copy counters, read by tests and gj.cuda_transfer_stats)
from .writer import SIMULATED_THREADS, CudaStageWriter

def _threads():
    return SIMULATED_THREADS if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0") else 256


def _kernel_supported(name, node, in_types):
    """The hand-written kernels it has: matmul, float or integer (one batch shape, or one side unbatched); softmax
    and log_softmax over the last axis; gather and ``x[int tensor]`` (take), their indices checked; concat, stack,
    tile, cumsum/cumprod and sort/stable argsort (copy_scan_writer), argmax/argmin, logsumexp over trailing axes
    and sparse_xent (row_writer, its labels checked) for the operands the CPU backend compiles them for, since
    they are its algorithms. The others (control flow, scatter_add, random draws, shape, print, unstable argsort,
    sorts of bool tensors, argmax/argmin of bool, logsumexp over no axis) run on the host between stages for now
    (passes/decompose.py turns argmax/argmin over a leading axis and logsumexp over leading axes or of ints into
    row kernels first)."""
    if name in ("concat", "stack", "tile", "cumulative", "sort", "argmax", "argmin", "logsumexp", "sparse_xent"):
        return cpu_kernel_supported(name, node, in_types)
    if name == "matmul":
        a, b = in_types
        batches = {tuple(a.shape[:-2]), tuple(b.shape[:-2])} - {()}
        return (len(a.shape) >= 2 and len(b.shape) >= 2 and len(batches) <= 1 and a.dtype is b.dtype is node.type.dtype
                and (a.dtype.is_floating or a.dtype.is_integer))
    if name in ("gather", "take"):
        return True
    if name in ("softmax", "log_softmax"):
        return (node.type.dtype.is_floating and len(node.type.shape) >= 1
                and node.attr("axis") in (-1, len(node.type.shape) - 1))
    return False


class Rendering:
    def __init__(self, schedule):
        threads = _threads()
        cublas = blas.cublas_problem() is None
        self.writers, self.args, self.entry_shapes = [], {}, {}
        for stage in schedule.fused:
            writer = CudaStageWriter(stage.name, stage.plan, schedule.pure, threads, cublas=cublas)
            self.args[stage.name] = writer.write()
            self.entry_shapes[stage.name] = writer.entry_shapes
            self.writers.append(writer)
        body = [line for w in self.writers for line in w.lines]
        self.signatures = {name: sig for w in self.writers for name, sig in w.signatures.items()}
        self.source = "\n".join(_header(threads == SIMULATED_THREADS) + body + _footer(self.signatures)) + "\n"


def _header(simulated):
    """The module's imports. Part of the cache key with the kernels: the numba-cuda version and the simulator's
    math (Python functions there, CUDA's libdevice on a GPU) are named in it."""
    import numba_cuda   # (the distribution's own package: its version is numba.cuda's)
    math = ("from graphjit.compiler.cuda.scalar import SIMULATED_MATH as gm" if simulated else "import math as gm")
    return [f"# graphjit CUDA kernels (numba-cuda {numba_cuda.__version__}{', simulated' if simulated else ''})",
            "import math", "import numba", "import numpy as np", "from numba import cuda", math,
            "from graphjit.compiler.cuda.memory import copy_back, on_a_gpu, output_buffer, to_device",
            "from graphjit.compiler.cuda.blas import cublas_gemm", "", ""]


def _footer(signatures):
    """On a GPU, every kernel compiles for its signature while the module executes, inside graphjit's cache lock:
    numba.cuda's PTX/cubin files (``cache=GJ_CACHE``) are then written, or loaded, before the entry's manifest is.
    Elsewhere (the simulator; a machine without a GPU inspecting the kernels) they stay lazy."""
    return ["", f"SIGNATURES = {signatures!r}", "if on_a_gpu():", "    for _name, _signature in SIGNATURES.items():",
            "        globals()[_name].compile(_signature)"]


def _run_on_host(op, node, attrs, state, arrays):
    """A node with no CUDA kernel, run eagerly between stages: its GPU operands copied to the host (counted)."""
    return run_node(op, node, attrs, state, [memory.to_host(a) for a in arrays])


def _vouch_for_new_kernels(source):
    """numba.cuda compiled kernels of a stored entry (a GPU of another compute capability, or one the entry was
    first made without): its files changed after the manifest was written, so the manifest is written again,
    under the cache's exclusive lock, as compiler.cache does when Numba compiles part of a vouched-for entry."""
    directory, key = cache_dir(), cache_key(source)
    if cache_enabled() and os.path.exists(store.manifest_path(directory, key)) and store.writable(directory):
        with store.flock(directory, exclusive=True):
            store.write_manifest(directory, key)


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
                                run_node=_run_on_host, variable_writes="state", to_host=memory.to_host,
                                flag_set=memory.flag_set)
        self.run_tensors = None   # (no per-call shortcut: the runtime's path wraps device results)


class CudaBackend(ScheduledBackend):
    name = "cuda"
    foreground = True   # compiled before the first call returns: the host stand-in cannot read GPU values
    capabilities = Capabilities("cuda", _kernel_supported, row_kernels=False)   # (no writer of row_fusion's rows yet)

    def symbolic_problem(self, graph):
        return None   # (a graph over symbolic sizes is compiled per size it meets: compile, below)

    def compile(self, graph, on_planned=None):
        """A graph over symbolic sizes becomes a ``sized.SizedCudaGraph``: its kernels take sizes as numbers, so
        each call's sizes get their own specialisation (compiled on first use, then kept)."""
        if graph_symbols(graph):
            return SizedCudaGraph(graph, super().compile)
        return super().compile(graph, on_planned)

    def render(self, schedule):
        return Rendering(schedule)

    def load(self, rendering, schedule):
        """The executed kernel module, through graphjit's disk cache (compiler.cache): its source stored under its
        content hash, and numba.cuda's cached PTX/cubins for each kernel beside it (``cache=GJ_CACHE``, keyed by
        signature, compute capability and CUDA runtime version), each file hashed in the entry's manifest and
        checked before a later process loads it."""
        try:
            module = load_module(rendering.source, name_hint=f"cuda {schedule.source.name}")
        except GraphjitError:
            raise
        except Exception as err:  # noqa: BLE001 - numba.cuda's errors are many; report them as one clear error
            raise CompilationError(f"numba.cuda could not compile graph {schedule.source.name}: "
                                   f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}") from err
        kernels = [getattr(module, name) for name in rendering.signatures]
        if memory.on_a_gpu() and any(sum(kernel._cache_misses.values()) for kernel in kernels):
            _vouch_for_new_kernels(rendering.source)
        return module

    def assemble(self, schedule, rendering, module):
        return CudaGraph(schedule, rendering, module)


register_backend(CudaBackend())
