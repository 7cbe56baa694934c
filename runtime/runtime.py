"""The implicit global runtime: owns variables and the random generator; runs traced graphs."""
import concurrent.futures
import threading
import warnings
import weakref

import numpy as np

from graphjit.compiler import cpu as _cpu  # noqa: F401  (registers the Numba CPU backend)
from graphjit.compiler import interpreter as _interpreter  # noqa: F401  (registers the reference interpreter)
from graphjit.compiler.backend import get_backend
from graphjit.tracer.errors import CompilationError, InvalidArgumentError
from graphjit.tracer.ir import TensorType, VarRef
from graphjit.tracer.tensor import EagerTensor

from .config import config
from .eager import EagerContext
from .state import State, new_variable_id


class Runtime:
    def __init__(self, seed=None):
        self.state = State(seed)
        self.device = "cpu"
        self.eager = EagerContext(self)
        self._names = {}
        self._lock = threading.Lock()
        self._compiling = {}  # id(concrete) -> Future of its background compile

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
        self.state.values[ref.id] = np.array(value, copy=True)
        self.state.names[ref.id] = ref.name
        weakref.finalize(variable, self.state.forget, ref.id)
        return ref

    # -- running graphs --

    def backend(self, jit_compile=None):
        if jit_compile is False:
            return get_backend("interpreter")
        return get_backend(config.backend if self.device == "cpu" else self.device)

    def executable(self, concrete):
        """The compiled form of a traced graph for the current backend (compiled once, then reused).

        With ``config.compile_in_background`` a graph's first calls run on the reference interpreter
        while Numba compiles in a thread (LLVM releases the GIL); the compiled code takes over on the
        first call after it is ready. A compile failure surfaces on that call.
        """
        backend = self.backend(getattr(concrete, "jit_compile", None))
        executable = concrete.executables.get(backend.name)
        if executable is not None:
            return executable
        if backend.name == "interpreter" or not config.compile_in_background:
            return self._finish_compile(concrete, backend, lambda: backend.compile(concrete.graph))
        future = self._compiling.get(id(concrete))
        if future is None:
            with self._lock:
                future = self._compiling.get(id(concrete))
                if future is None:
                    future = self._compiling[id(concrete)] = _compile_pool().submit(backend.compile, concrete.graph)
        if not future.done():
            return self._stand_in(concrete)
        self._compiling.pop(id(concrete), None)
        return self._finish_compile(concrete, backend, future.result)

    def _stand_in(self, concrete):
        executable = concrete.executables.get("interpreter")
        if executable is None:
            executable = concrete.executables["interpreter"] = get_backend("interpreter").compile(concrete.graph)
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
        concrete.executables[backend.name] = executable
        return executable

    def wait_for_compilation(self):
        """Blocks until every background compile has finished (their errors surface on the next call)."""
        for future in list(self._compiling.values()):
            future.exception()

    def compiled(self, concrete, backend_name):
        executable = concrete.executables.get(backend_name)
        if executable is None:
            future = self._compiling.pop(id(concrete), None)
            compile_now = future.result if future is not None else (
                lambda: get_backend(backend_name).compile(concrete.graph))
            executable = concrete.executables[backend_name] = compile_now()
        return executable

    def run(self, concrete, tensors):
        executable = self.executable(concrete)
        if hasattr(concrete, "fast_call") and id(concrete) not in self._compiling:
            concrete.fast_call = self._fast_call(concrete, executable)
        arrays = [t._value if type(t) is EagerTensor else np.asarray(t) for t in tensors]
        return [EagerTensor(a) for a in executable.run(self.state, arrays)]

    def _fast_call(self, concrete, executable):
        """The per-call shortcut a ConcreteFunction uses while this runtime and backend stay current."""
        state, setting = self.state, config.backend
        run_tensors = getattr(executable, "run_tensors", None)
        if run_tensors is None:
            run = executable.run

            def run_tensors(state, tensors):
                arrays = [t._value if type(t) is EagerTensor else np.asarray(t) for t in tensors]
                return [EagerTensor(np.asarray(a)) for a in run(state, arrays)]

        def fast_call(tensors):
            if config.backend != setting or _runtime is not self:
                concrete.fast_call = None
                return self.eager.call_function(concrete, tensors)
            return run_tensors(state, tensors)
        return fast_call

    def set_seed(self, seed):
        self.state.seed(seed)


_runtime = None
_runtime_lock = threading.Lock()
_pool = None


def _compile_pool():
    """One compile thread: Numba holds a global compiler lock anyway."""
    global _pool
    if _pool is None:
        _pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="graphjit-compile")
    return _pool


def get_runtime():
    """The global runtime, created on first use."""
    global _runtime
    if _runtime is None:
        with _runtime_lock:
            if _runtime is None:
                _runtime = Runtime()
    return _runtime


def wait_for_compilation():
    """Blocks until background compiles finish, so that the next calls run compiled code."""
    get_runtime().wait_for_compilation()


def reset_runtime(seed=None):
    """Replaces the global runtime (existing variables keep their handles but lose their values)."""
    global _runtime
    with _runtime_lock:
        _runtime = Runtime(seed)
    return _runtime
