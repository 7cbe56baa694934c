"""The implicit global runtime: owns variables and the random generator; runs traced graphs."""
import functools
import threading
import time
import warnings
import weakref

import numpy as np

from graphjit.compiler import cpu as _cpu  # noqa: F401  (registers the Numba CPU backend)
from graphjit.compiler import interpreter as _interpreter  # noqa: F401  (registers the reference interpreter)
from graphjit.compiler.backend import get_backend
from graphjit.compiler.stand_in import StandInGraph
from graphjit.compiler import threads as _threads
from graphjit.tracer import function as _function
from graphjit.tracer import polymorphic as _polymorphic
from graphjit.tracer.symbolic import hint
from graphjit.tracer.errors import CompilationError, InvalidArgumentError
from graphjit.tracer.ir import TensorType, VarRef
from graphjit.tracer.shapes import num_elements
from graphjit.tracer.subgraphs import nodes_within
from graphjit.tracer import tensor as _tensor
from graphjit.tracer.tensor import EagerTensor

from .devices import (blocks_open, current as current_device, gpu_call, on_block_open, place_variable,
                      refuse_gpu_variables)
from .shadow import mode_of as _shadow_mode, run_compared as _run_compared
from .config import config, on_change as _config_on_change
from .eager import EagerContext
from .state import State, new_variable_id


class Runtime:
    def __init__(self, seed=None):
        self.state = State(seed)
        self.eager = EagerContext(self)
        self._names = {}
        self._lock = threading.Lock()
        # Background compiles in flight, keyed by the ConcreteFunction (or compat.v1 Plan) itself and held weakly:
        # an entry dies with its owner, so a new function allocated at a dead one's address can never pick up the
        # dead graph's compile (keying by id() did exactly that), and dropped functions leak nothing.
        self._pending = weakref.WeakKeyDictionary()  # concrete -> _PendingCompile
        # What this runtime compiled, held the same way: owner -> {backend name: executable}. Tracer objects
        # carry no runtime state; a dropped function's kernels go with its entry.
        self._executables = weakref.WeakKeyDictionary()
        # Per-call shortcuts of ConcreteFunctions by uid (tracer.function reads this table, see _fast_call).
        self.fast_calls = {}
        self._loaded_once = False  # has a compiled graph been made ready in this runtime (Numba initialised)?

    # -- variables --

    def unique_name(self, base):
        with self._lock:
            count = self._names.get(base, 0)
            self._names[base] = count + 1
        return base if count == 0 else f"{base}_{count}"

    def create_variable(self, variable, name, initial_value):
        if type(initial_value) is not EagerTensor:
            raise InvalidArgumentError(f"variable {name}: the initial value must be a concrete tensor")
        value = initial_value._value
        ref = VarRef(new_variable_id(), self.unique_name(name or "Variable"),
                     TensorType(value.shape, initial_value.dtype))
        # C-contiguous, as State.write keeps them: compiled updates write a variable's buffer in place, and the
        # copy a Fortran-ordered value would need on its way into a kernel would take such an update with it
        self.state.values[ref.id] = np.array(value, copy=True, order="C")
        self.state.names[ref.id] = ref.name
        device = current_device()
        if device.kind != "cpu":   # created inside ``with gj.device("cuda")``: it lives on the GPU
            place_variable(self.state, ref, device)
        weakref.finalize(variable, self.state.forget, ref.id)
        return ref

    # -- running graphs --

    def backend(self, jit_compile=None):
        if jit_compile is False:
            return get_backend("interpreter")
        device = current_device()
        return get_backend(config.backend if device.kind == "cpu" else device.kind)

    def executable(self, concrete):
        """The compiled form of a traced graph for the current backend (compiled once, then reused).
        ``concrete`` is a tracer.program.Program (a ConcreteFunction, a compat.v1 Plan or a lifted initializer);
        what is compiled for it lives in this runtime's tables and dies with it.

        With ``config.compile_in_background`` a graph's first calls run on the reference interpreter
        while Numba compiles in a thread (LLVM releases the GIL); the compiled code takes over on the
        first call after it is ready. A compile failure surfaces on that call. One exception: when the
        kernel is already in the disk cache (a load of milliseconds, not a compile of seconds) and the
        interpreter would take longer than the load, the first call waits for the load (see ``_wait_for_load``).
        Another: a graph holding a while_loop compiles before its first call returns, since its trip count is
        unknown and the interpreter runs each iteration node by node (10^4 times slower than a compiled loop).
        """
        backend = self.backend(concrete.jit_compile)
        executable = self._executables_of(concrete).get(backend.name)
        if executable is not None:
            return executable
        if (backend.name == "interpreter" or not config.compile_in_background or _has_loops(concrete.graph)
                or getattr(backend, "foreground", False)):
            return self._finish_compile(concrete, backend, lambda: backend.compile(concrete.graph))
        pending = self._pending.get(concrete)
        if pending is None:
            with self._lock:
                pending = self._pending.get(concrete)
                if pending is None:
                    pending = self._pending[concrete] = self._submit(concrete, backend)
        future = pending.future
        if not future.done():
            report, first = pending.report, pending.first
            pending.first = False  # only the first call may wait for a cache load; later ones for a compile
            if report is None or not (self._wait_for_load(concrete, backend, future, report) if first
                                      else self._wait_if_nearly_done(concrete, future, report)):
                return self._stand_in(concrete)
        with self._lock:
            self._pending.pop(concrete, None)
        self._loaded_once = True
        return self._finish_compile(concrete, backend, future.result)

    def _load_estimate(self):
        return _LATER_LOAD_S if self._loaded_once else _FIRST_LOAD_S

    def _submit(self, concrete, backend):
        """Starts the background compile of ``concrete.graph`` (caller holds ``self._lock``). The thread gets the
        graph, never ``concrete``: a function dropped meanwhile is freed, and its compile result with it."""
        report = _CompileReport() if getattr(backend, "reports_plan", False) else None
        if report is not None:
            future = _compile_pool().submit(_compile_ahead, backend, concrete.graph, on_planned=report.planned)
            future.add_done_callback(report.finished)
        else:
            future = _compile_pool().submit(_compile_ahead, backend, concrete.graph)
        weakref.finalize(concrete, future.cancel)  # a compile still queued when its function dies never runs
        return _PendingCompile(future, report)

    def _wait_for_load(self, concrete, backend, future, report):
        """On a graph's first call: should it wait for its background compile instead of interpreting?

        Yes when the compile thread reports a cache hit and the interpreter's estimated time is above the
        expected load time; then it waits at most about as long as the interpreter would have taken (the
        worst case, an entry that turns out stale or broken and compiles, costs that much once). A real
        compile is never waited for. True when the compile has finished (successfully or not)."""
        interpret_s = _interpreter_seconds(concrete.graph)
        if interpret_s <= self._load_estimate():
            return False
        deadline = time.monotonic() + interpret_s
        # Planning (passes + code generation) takes milliseconds: wait for its verdict.
        if not report.reported.wait(interpret_s) or not report.cached:
            return future.done()
        backend.prepare_first_call()   # in parallel with the load (which spends part of its time off the GIL)
        import concurrent.futures  # already imported by the compile pool
        concurrent.futures.wait([future], timeout=max(0.0, deadline - time.monotonic()))
        return future.done()

    def _wait_if_nearly_done(self, concrete, future, report):
        """On a later call while the compile runs: wait for it when its estimate (the backend's
        ``compile_estimate``) says it is done sooner than the stand-in would answer, then run compiled code
        instead of interpreting once more. A wait is at most twice the stand-in's last run; one that runs out
        stretches the estimate, so a machine slower than the estimate's costs a few such waits, not every call.
        True when the compile has finished."""
        run_s = getattr(self._executables_of(concrete).get("interpreter"), "last_run_s", None)
        if run_s is None or not report.reported.is_set():
            return future.done()
        expected = self._load_estimate() if report.cached else report.compile_s
        elapsed = time.monotonic() - report.planned_at
        if expected is None or expected - elapsed > run_s:
            return False
        import concurrent.futures  # already imported by the compile pool
        concurrent.futures.wait([future], timeout=2 * run_s)
        if not future.done():
            report.cached, report.compile_s = False, max(expected, elapsed) * 1.5
        return future.done()

    def _executables_of(self, owner):
        """``owner``'s {backend name: executable} (a ConcreteFunction, a compat.v1 plan, a lifted graph)."""
        table = self._executables.get(owner)
        if table is None:
            with self._lock:
                table = self._executables.get(owner)
                if table is None:
                    table = self._executables[owner] = {}
                    weakref.finalize(owner, self.fast_calls.pop, owner.uid, None)  # its shortcut goes when it does
        return table

    def executables(self, owner):
        """A copy of what has been compiled for ``owner``: {backend name: executable} (for inspection)."""
        return dict(self._executables.get(owner) or {})

    def _stand_in(self, concrete):
        table = self._executables_of(concrete)
        executable = table.get("interpreter")
        if executable is None:
            executable = table["interpreter"] = StandInGraph(concrete.graph)
        return executable

    def _finish_compile(self, concrete, backend, compile_now):
        try:
            executable = compile_now()
        except CompilationError as err:
            if config.on_compile_error != "interpret":
                raise
            warnings.warn(f"{err}; running {concrete.graph.name} with the reference interpreter instead",
                          RuntimeWarning, stacklevel=5)
            executable = self._stand_in(concrete)
        self._executables_of(concrete)[backend.name] = executable
        return executable

    def wait_for_compilation(self):
        """Blocks until every background compile has finished (their errors surface on the next call)."""
        if self._pending or _pool is not None:
            # The pool has one thread and runs in submission order: once a no-op submitted now has run, every
            # compile before it has finished, those of functions that died meanwhile included.
            _compile_pool().submit(lambda: None).result()
        _threads.wait_for_upgrades()   # and every two-tier kernel's prange tier (compiler.threads)

    def compiled(self, concrete, backend_name):
        table = self._executables_of(concrete)
        executable = table.get(backend_name)
        if executable is None:
            with self._lock:
                pending = self._pending.pop(concrete, None)
            compile_now = pending.future.result if pending is not None else (
                lambda: get_backend(backend_name).compile(concrete.graph))
            executable = table[backend_name] = compile_now()
        return executable

    def run(self, concrete, tensors):
        version = config.version
        executable = self.executable(concrete)
        compare = _shadow_mode(concrete, config)
        if compare:  # no fast_call either: every call goes through here while shadow mode is on
            backend = self.backend(concrete.jit_compile)
            return _run_compared(concrete, backend, executable, self.state, tensors, compare)
        uid = concrete.uid
        if (uid not in self.fast_calls and concrete not in self._pending and config.version == version
                and not blocks_open()):   # (a shortcut skips the device choice: none while one is open)
            self.fast_calls[uid] = self._fast_call(executable)
        if getattr(executable, "device", None) is not None:   # a GPU executable: device tensors in and out
            return gpu_call(executable, self.state, tensors)
        if self.state.devices:   # (a CUDA tensor argument meets np.asarray below: DeviceTensor.__array__ refuses)
            refuse_gpu_variables(concrete, self.state)
        run_tensors = getattr(executable, "run_tensors", None)
        if run_tensors is not None:   # (the shortcut's runner: one buffer pool per thread, prefaulted ones included)
            return run_tensors(self.state, tensors)
        arrays = [t._value if type(t) is EagerTensor else np.asarray(t) for t in tensors]
        return [EagerTensor(a) for a in executable.run(self.state, arrays)]

    def _fast_call(self, executable):
        """The per-call shortcut of a ConcreteFunction: its runner with this runtime's state bound, nothing else
        between the call and the generated code. It holds the executable, never the function: the table must not
        keep a dropped function alive. It stays valid while the settings do (``_settings_changed`` empties the
        table of the installed runtime, and a replaced runtime's table is no longer consulted)."""
        run_tensors = getattr(executable, "run_tensors", None)
        if run_tensors is None:
            run = executable.run

            def run_tensors(state, tensors):
                arrays = [t._value if type(t) is EagerTensor else np.asarray(t) for t in tensors]
                return [EagerTensor(np.asarray(a)) for a in run(state, arrays)]
        return functools.partial(run_tensors, self.state)

    def set_seed(self, seed):
        self.state.seed(seed)


class _PendingCompile:
    """A background compile: its future, its report, and whether the graph's first call is still to come."""
    __slots__ = ("future", "report", "first")

    def __init__(self, future, report):
        self.future, self.report, self.first = future, report, True


class _CompileReport:
    """What a background compile reported before loading: ``cached``, and when it is not, ``compile_s`` (the
    backend's estimate of the compile, from ``planned_at``); see ScheduledBackend.compile's ``on_planned``."""

    def __init__(self):
        self.reported = threading.Event()
        self.cached = False
        self.compile_s = None
        self.planned_at = None

    def planned(self, cached, compile_s=None):
        self.cached = bool(cached)
        self.compile_s = compile_s
        self.planned_at = time.monotonic()
        self.reported.set()

    def finished(self, future):  # a compile that failed before reporting must not keep a waiter waiting
        self.reported.set()


# Expected time to load a graph's kernels from the disk cache: the first load in a process also initialises
# Numba's runtime (NRT) and JIT (measured 40-60 ms on a 2-core machine), later ones relink object code only.
_FIRST_LOAD_S = 0.06
_LATER_LOAD_S = 0.01
# The reference interpreter runs one NumPy call per node; roughly 2 ns per element and node (fresh output
# pages, float32 transcendentals) was measured for W1, and matrix products at ~50 GFLOP/s.
_INTERPRET_S_PER_ELEMENT = 2e-9
_INTERPRET_S_PER_FLOP = 2e-11


def _compile_ahead(backend, graph, **options):
    """The background compile's job: compile (or load) ``graph``, then fault in the buffers of the thread that will
    call it first (compiler.runner's ``prefault``), so its first compiled calls run at the speed of later ones."""
    executable = backend.compile(graph, **options)
    prefault = getattr(getattr(executable, "run_tensors", None), "prefault", None)
    if prefault is not None:
        prefault()
    return executable


def _has_loops(graph):
    return any(node.op == "while_loop" for node in nodes_within(graph))


def _interpreter_seconds(graph):
    """A rough estimate of one interpreter run of ``graph`` (only compared with load times above)."""
    elements = flops = 0
    nodes = graph.nodes
    for node in nodes:
        if node.op in ("input", "constant"):
            continue
        shapes = [_shape(node)] + [_shape(nodes[j]) for j in node.inputs]
        elements += max(num_elements(shape) for shape in shapes)
        if node.op == "matmul" and len(shapes[1]) >= 2:
            flops += 2 * num_elements(shapes[0]) * max(shapes[1][-2:])
    return elements * _INTERPRET_S_PER_ELEMENT + flops * _INTERPRET_S_PER_FLOP


def _shape(node):
    return tuple(hint(d) for d in getattr(node.type, "shape", None) or ())   # (symbolic sizes: a guess)


_runtime = None
_runtime_lock = threading.Lock()
_pool = None


def _compile_pool():
    """One compile thread: Numba holds a global compiler lock anyway."""
    global _pool
    if _pool is None:
        import concurrent.futures  # here: not every process that imports graphjit compiles
        _start_compile_server()
        _pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="graphjit-compile")
    return _pool


def get_runtime():
    """The global runtime, created on first use."""
    global _runtime
    if _runtime is None:
        with _runtime_lock:
            if _runtime is None:
                _runtime = _installed(Runtime())
    return _runtime


def _settings_changed():
    runtime = _runtime
    if runtime is not None:
        runtime.fast_calls.clear()   # the next call of each function takes the ordinary path (and reinstalls)


def _start_compile_server():
    from graphjit.compiler import compile_process
    compile_process.start_server()   # (no wait: it warms up on another core)


_function.install_on_first_function(_start_compile_server)
_config_on_change(_settings_changed)
on_block_open(_settings_changed)


def _installed(runtime):
    _function.install_fast_calls(runtime.fast_calls)
    return runtime


# (installed at import, not with the runtime: a process's first trace over symbolic sizes runs before its first call
# creates the runtime, and was not checked against the backend that would compile it)
_polymorphic.install_backend_check(lambda graph, jit_compile: get_runtime().backend(jit_compile).symbolic_problem(graph))


def wait_for_compilation():
    """Blocks until background compiles finish, so that the next calls run compiled code."""
    get_runtime().wait_for_compilation()


def reset_runtime(seed=None):
    """Replaces the global runtime (existing variables keep their handles but lose their values)."""
    global _runtime
    with _runtime_lock:
        _runtime = _installed(Runtime(seed))
    return _runtime


def _place_variable(ref, device):
    state = get_runtime().state
    if ref.id not in state.values:
        from graphjit.tracer.errors import DeviceError
        raise DeviceError(f"variable {ref.name}: device= places variables of the eager runtime only")
    place_variable(state, ref, device)


_tensor.DEVICE_HOOKS.update(place_variable=_place_variable,
                            variable_device=lambda ref: get_runtime().state.devices.get(ref.id, "cpu:0"))
