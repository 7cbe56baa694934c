"""The Numba CPU backend: the schedule (compiler.schedule) -> one generated module of Numba entries -> run.

The backend's share (compiler.schedule.ScheduledBackend): its Capabilities (the kernels it has), rendering each
fused stage to Numba source (compiler.codegen), loading the module through the kernel cache, NumPy's allocator,
and assembling the runner that calls the entries (compiler.runner).

A graph with only compilable ops becomes one compiled stage, i.e. one Numba entry called once per
run. Ops without a compiled form run eagerly between compiled stages; random draws are kernels drawing from the
runtime's generator, which the entry takes as an argument (compiler.random_writer).
Inputs are passed as C-contiguous buffers (in the shapes ``CompiledStep.entry_shapes`` says); outputs
and intermediates are allocated here, in Python (allocating large arrays inside jitted code faults pages
in a single thread).
"""
import contextlib
import logging
import os
import threading

import numpy as np

from graphjit.tracer.errors import CompilationError, GraphjitError
from graphjit.tracer.gc_pause import paused_gc
from graphjit.tracer.ir import In
from graphjit.tracer.registry import OPS
from graphjit.tracer.symbolic import is_symbolic

from . import blas, compile_process, random_writer, threads
from .backend import Executable, register_backend
from .cache import cache_dir, has_entry, load_module, safety_problem
from .cache import enabled as cache_enabled
from .codegen import StageWriter
from .control_flow_stages import array_control_flow
from .fusion import CONSTANT, INPUT, scalar_control_flow, strided_scatter_view
from .runner import build_runner
from .schedule import Capabilities, PythonStage, ScheduledBackend

log = logging.getLogger("graphjit.compiler")


def _kernel_supported(name, node, in_types):
    """The kernels compiler.kernel_writers has, for which operands (the CPU backend's Capabilities)."""
    if name == "matmul":  # float gemm through NumPy's OpenBLAS, when NumPy ships one (compiler.blas)
        a, b = in_types
        batches = {tuple(a.shape[:-2]), tuple(b.shape[:-2])} - {()}  # one batch shape, or one side unbatched
        return (len(a.shape) >= 2 and len(b.shape) >= 2 and len(batches) <= 1 and a.dtype is b.dtype is node.type.dtype
                and (a.dtype.is_integer or (blas.AVAILABLE and a.dtype.is_floating)))
    if name in ("softmax", "log_softmax"):
        axis = node.attr("axis")
        return node.type.dtype.is_floating and len(node.type.shape) >= 1 and axis in (-1, len(node.type.shape) - 1)
    if name == "shape":   # its sizes, symbolic ones from the entry's size arguments
        return all(type(d) is int or is_symbolic(d) for d in in_types[0].shape)
    if name in ("concat", "stack", "tile", "gather", "take", "sparse_xent"):
        return True
    if name == "scatter_add":   # rows at one index tensor (map_fn's and scan's accumulators), or a basic key
        rows = node.attr("key") == (In(1),) and len(node.type.shape) >= 1   # (strided slicing's gradient)
        # (both take sizes as code: an unknown size's loop bound, offset and strides are expressions of the atoms)
        return (rows or strided_scatter_view(node) is not None) and node.type.dtype.kind in "fiu"
    if name in ("random_uniform", "random_normal", "random_truncated_normal"):   # bit for bit the eager draws
        return random_writer.supported(node)
    if name == "print":   # gj.print inside compiled control flow (compiler.print_callback)
        return all(type(d) is int for t in in_types for d in t.shape)
    if name in ("cond", "while_loop"):   # real branches and loops over scalars (compiler.control_flow_writer)
        return scalar_control_flow(node) or array_control_flow(node, _kernel_supported)   # or arrays
    rank = len(in_types[0].shape)
    if name == "logsumexp":  # a row kernel when the reduced axes are the trailing ones (axis=-1, axis=None)
        axes = node.attr("axis")
        return (in_types[0].dtype is node.type.dtype and bool(axes)
                and tuple(axes) == tuple(range(rank - len(axes), rank)))
    if name == "cumulative":   # cumsum / cumprod in a dtype Numba computes in (float16 has none)
        return node.type.dtype.kind in "fiu" and node.type.dtype.np.itemsize >= (4 if node.type.dtype.is_floating else 1) \
            and in_types[0].dtype.kind in "fiub"
    if name == "sort":   # sort, and argsort when stable (an unstable one's ties are NumPy's algorithm's)
        dtype = in_types[0].dtype
        return (dtype.kind in "fiu" and not (dtype.is_floating and dtype.np.itemsize < 4)
                and (node.op == "sort" or node.attr("stable")))
    if name in ("argmax", "argmin"):  # over the flattened tensor, or the last axis
        return node.attr("axis") in (None, rank - 1) and in_types[0].dtype.kind in "fi"
    return False


CAPABILITIES = Capabilities("cpu", _kernel_supported)


class PythonStep:
    """Ops with no compiled form, run eagerly (in the generated runner) between compiled stages."""
    kind = "python"

    def __init__(self, nodes, graph):
        self.nodes = [(i, graph.nodes[i], OPS[graph.nodes[i].op]) for i in nodes]


class CompiledStep:
    """One compiled stage: its Numba entry and its buffers, (node id, owner id, shape, dtype) each; an
    in-place output's owner is the input buffer it overwrites."""
    kind = "compiled"

    def __init__(self, name, args, plan, graph, scratch, kernels, variable_in_place, checks=(), entry_shapes=None,
                 generators=(), constant_buffers=None):
        self.name = name
        self.generators = list(generators)          # op seeds: the entry's trailing generator arguments
        # scratch owner -> the constant array the runner passes in it (large constants of control flow)
        self.constant_buffers = {f"s{name}_{-b}": value for b, value in (constant_buffers or {}).items()}
        # (flag owner, node id, operand owners): after the entry, a set flag re-runs the node eagerly to raise
        self.checks = [(f"s{name}_{-flag}", node_id, operands) for flag, node_id, operands in checks]
        self.entry = None
        self.kernels = kernels                      # names of the kernels it runs, in order
        self.variable_in_place = variable_in_place  # {new value id: old value id} (see the runner)
        self.args = [(b, plan.resolve(b), graph.nodes[b].type.shape, graph.nodes[b].type.dtype.np) if b >= 0
                     else (b, f"s{name}_{-b}", *scratch[b]) for b in args]
        self.aliases = sorted(plan.alias.items())
        # the shape the entry takes each argument in (its own, or flat): the runner passes it as it is when it has it
        self.entry_shapes = [tuple(shape) for shape in entry_shapes] if entry_shapes is not None else [
            (int(np.prod(shape)),) for _, _, shape, _ in self.args]


class Rendering:
    """The CPU backend's source for a schedule: one StageWriter per fused stage, and the module they make."""

    def __init__(self, schedule):
        self.writers, self.args, self.entry_shapes = [], {}, {}
        for stage in schedule.fused:
            writer = StageWriter(stage.name, stage.plan, schedule.pure, _kernel_supported)
            self.args[stage.name] = writer.write()
            self.entry_shapes[stage.name] = writer.entry_shapes
            self.writers.append(writer)
        self.source = _module_source(self.writers)
        self._cached = None

    @property
    def cached(self):
        """Whether the kernel cache already holds this module (checked once: it hashes the source)."""
        if self._cached is None:
            self._cached = has_entry(self.source)
        return self._cached


class CompiledGraph(Executable):
    """A schedule run by the generated runner (compiler.runner) with the loaded module's Numba entries."""

    def __init__(self, sched, rendering, module, allocate=np.empty):
        self.schedule = sched
        self.source_graph, self.optimized, self.pure, self.effects = sched.source, sched.optimized, sched.pure, sched.effects
        writers = {w.name: w for w in rendering.writers}
        self.steps = []
        earlier = set()   # the nodes of the stages before this one (they have run when it starts)
        for stage in sched.stages:
            if isinstance(stage, PythonStage):
                self.steps.append(PythonStep(stage.nodes, self.pure))
                earlier.update(stage.nodes)
                continue
            w = writers[stage.name]
            step = CompiledStep(w.name, rendering.args[stage.name], stage.plan, self.pure, w.scratch, list(w.kernels),
                                _variable_updates_in_place(stage.plan, self.pure, self.effects, earlier), w.checks,
                                rendering.entry_shapes[stage.name], w.entry_generators, w.constant_buffers)
            step.entry = getattr(module, step.name)
            self.steps.append(step)
            earlier.update(stage.nodes)
        self.constants = {i: _contiguous(value) for i, value in sched.constants.items()}
        self.kernels = {name: info for w in rendering.writers for name, info in w.kernels.items()}
        self.source = rendering.source
        self.module = module
        self.entry_count = len(rendering.writers)
        runner = dict(read_locations=sched.read_locations, allocate=allocate)
        self.run = build_runner(self.pure, self.effects, self.steps, self.constants, **runner)
        self.run_tensors = build_runner(self.pure, self.effects, self.steps, self.constants, tensors=True, **runner)

    @property
    def runner_source(self):
        return self.run.source


def _variable_updates_in_place(plan, graph, effects, earlier=frozenset()):
    """{new value node: old value node} for variable updates an elementwise group can write into the
    variable's own buffer (a training step's ``w - lr * g``: no new buffer per weight per step). Safe when the
    group reads the old value only at the index it writes, and every other reader has run before the group
    writes: nodes of earlier stages (``earlier``) or of groups earlier in this stage's order (the forward
    matmul that read the weight). The runner still checks at each call that nobody else holds the buffer
    (``sys.getrefcount``)."""
    result = {}
    users = graph.users()
    position = {}
    for k, g in enumerate(plan.groups):   # the order the stage's entry runs its groups in
        for m in g.members:
            position[m] = k
    old_by_ref = {ref.id: graph.inputs[position_] for ref, position_ in effects.variable_inputs}
    for ref, position_ in effects.variable_outputs:
        new, old = graph.outputs[position_], old_by_ref.get(ref.id)
        group = plan.group_of.get(new)
        if (old is None or group is None or group.kind != "elementwise" or plan.resolve(new) != new
                or graph.nodes[old].type != graph.nodes[new].type or old in plan.maps or old in graph.outputs
                or graph.outputs.count(new) != 1):
            continue
        here = position[new]
        if all(u in group.members or u in earlier or (u not in plan.maps and position.get(u, here) < here)
               for u in users[old]):
            result[new] = old
    return result


def _module_source(writers):
    names = sorted(set().union(*(w.mathlib for w in writers))) if writers else []
    random_names = [n for n in names if n.startswith("rng_") or n == "generator_at"]
    math_names = [n for n in names if not n.startswith("gj_")
                  and n not in random_names + ["flat_view", "row_tile", "print_values", "TwoTierEntry"]]
    blas_names = [n for n in names if n.startswith("gj_")]
    header = ["import math", "import numba", "import numpy as np"]
    if math_names:
        # Kernels inline mathlib's code, so its content is part of this module's cache key. (Imported here, in
        # the compile thread, rather than with graphjit: creating its Numba functions is start-up time.)
        from . import mathlib
        header.append(f"from graphjit.compiler.mathlib import {', '.join(math_names)}  # mathlib {mathlib.SOURCE_SHA256[:16]}")
    if "flat_view" in names:
        from . import flat_view as views  # its code is inlined into the entries: its hash joins the cache key
        header.append(f"from graphjit.compiler.flat_view import flat_view  # flat_view {views.SOURCE_SHA256[:16]}")
    if "row_tile" in names:
        from . import row_tile as tiles  # inlined too
        header.append(f"from graphjit.compiler.row_tile import row_tile  # row_tile {tiles.SOURCE_SHA256[:16]}")
    if "TwoTierEntry" in names:
        header.append("from graphjit.compiler.threads import TwoTierEntry")
    if random_names:
        from . import random_numba  # inlined into the entries too
        header.append(f"from graphjit.compiler.random_numba import {', '.join(random_names)}  "
                      f"# random_numba {random_numba.SOURCE_SHA256[:16]}")
    if "print_values" in names:   # (called back in object mode: not part of the compiled code)
        header.append("from graphjit.compiler.print_callback import print_values")
    if blas_names:
        header.append(f"from graphjit.compiler.blas import {', '.join(blas_names)}")
    body = [line for w in writers for line in w.lines]
    if "print_values" in names:
        # Numba's disk cache loses the globals of an object-mode block (a cached module's print callback raised
        # NameError for print_values), so a module that prints inside compiled code compiles in each process.
        body = [line.replace("cache=GJ_CACHE", "cache=False") for line in body]
    return "\n".join(header + ["", ""] + body) + "\n"


def _load(source, graph):
    try:
        return load_module(source, name_hint=graph.name)
    except GraphjitError:
        raise
    except Exception as err:  # noqa: BLE001 - Numba's errors are many; report them as one clear error
        first_op = next((n for n in graph.nodes if n.op not in (INPUT, CONSTANT)), None)
        where = f" (first op: {first_op.op} at {first_op.loc})" if first_op is not None and first_op.loc else ""
        raise CompilationError(f"Numba could not compile graph {graph.name}{where}: {type(err).__name__}: "
                               f"{str(err).splitlines()[0] if str(err) else ''}") from err


def _compiles_in_a_child(rendering):
    """Whether this compile goes to the compile server's child (compiler.compile_process): in the background compile
    thread, with a usable disk cache, for a module whose functions all go to that cache and that compiles no
    parfor eagerly (two-tier kernels' prange functions compile lazily, in this process)."""
    if not (compile_process.enabled() and compile_process.in_compile_thread() and cache_enabled()):
        return False
    if "cache=False" in rendering.source or safety_problem() is not None:
        return False
    directory = cache_dir()
    if os.path.isdir(directory) and not os.access(directory, os.W_OK):
        return False
    return all(not info["parallel"] or info.get("two_tier") for w in rendering.writers for info in w.kernels.values())


def _prime_argument_typing():
    """Numba types the first array argument of a process in Python (``typeof`` imports ``numpy.ma`` for that:
    ~10-15 ms). Done before the first call of a compiled graph: by the runtime's waiting thread while a
    cached kernel loads (``CPUBackend.prepare_first_call``), else after the load, in the compile thread."""
    global _primed
    if _primed:
        return
    with _prime_lock:
        if not _primed:
            import numba
            numba.typeof(np.empty(0, np.float32))
            _primed = True


_primed = False
_prime_lock = threading.Lock()

# Compile seconds measured on a loaded 2-core machine (numba 0.65): the first compile of a process sets up
# Numba's target (~0.2 s); each parallel function ~0.3 s (parfor lowering compiles its body a second time as a
# gufunc), each serial one or entry ~0.08 s. Only used to judge whether a compile is nearly done.
_COMPILE_S = {"first": 0.2, "parallel": 0.3, "serial": 0.08}
_compiled_once = False


class CPUBackend(ScheduledBackend):
    name = "cpu"
    capabilities = CAPABILITIES

    def render(self, schedule):
        return Rendering(schedule)

    def is_cached(self, rendering):
        return rendering.cached

    def load(self, rendering, schedule):
        # A cache hit is a load of milliseconds: no GC pass in the middle of it (see tracer.gc_pause)
        global _compiled_once
        if not rendering.cached and _compiles_in_a_child(rendering):
            # (then the load below is a cache hit; should the child have failed, it compiles here as before)
            rendering._cached = compile_process.compile_into_cache(rendering.source, schedule.source.name) or None
        with paused_gc() if rendering.cached else contextlib.nullcontext():
            module = _load(rendering.source, schedule.source)
            _prime_argument_typing()
        _compiled_once = True
        threads.start_upgrades(module)   # two-tier entries: their prange kernels compile in the background
        return module

    def compile_estimate(self, rendering):
        functions = [info for w in rendering.writers for info in w.kernels.values() if not info["inline"]]
        # (a two-tier kernel's load compiles its serial chunk kernel; its prange tier comes later, if at all)
        parallel = sum(bool(info["parallel"]) and not info.get("two_tier") for info in functions)
        return (_COMPILE_S["first"] * (not _compiled_once) + _COMPILE_S["parallel"] * parallel
                + _COMPILE_S["serial"] * (len(functions) - parallel + len(rendering.writers)))

    def assemble(self, schedule, rendering, module):
        return CompiledGraph(schedule, rendering, module, self.allocate)

    def prepare_first_call(self):
        _prime_argument_typing()


register_backend(CPUBackend())


def _contiguous(array):
    """A writable C-contiguous copy: compiled signatures take writable arrays (constants are read-only),
    and np.ascontiguousarray would turn 0-d arrays into 1-d ones."""
    return np.array(array, copy=True, order="C")
