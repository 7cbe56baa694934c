"""The Backend interface: compile a graph into an Executable, then run it with the runtime's state.

Every executor implements it: the reference interpreter (the oracle) and the Numba CPU backend today, a CUDA
backend next. The runtime chooses the backend; nothing else needs to know which one runs.

A compiling backend derives from ``compiler.schedule.ScheduledBackend`` and supplies these; the backend-neutral
half (optimizing, functionalizing, fusing into stages) is ``compiler.schedule`` and runs the same for all of them:

    capabilities   which hand-written kernels it has (a schedule.Capabilities): shapes the schedule
    render         the schedule's fused stages -> the backend's source (Numba source, CUDA source, ...)
    load           that source -> loaded code (compiled, or taken from a cache)
    allocate       ``allocate(shape, numpy dtype)`` -> an uninitialized buffer in the backend's memory
    assemble       schedule + loaded code -> the Executable (the backend's runner)
"""


class Executable:
    """A compiled graph. ``run(state, arrays) -> list of arrays``; ``state`` owns variables and RNG.

    A subclass implements ``_run`` and sets ``locks_state`` when its graph reads or writes variables: ``run`` then
    holds the state's lock for the whole call, so each call is one atomic update (as the eager context's variable
    ops are). A backend that generates its own ``run`` (the CPU backend) takes the lock there instead."""

    locks_state = False

    def run(self, state, arrays):
        if self.locks_state:
            with state.lock:
                return self._run(state, arrays)
        return self._run(state, arrays)

    def _run(self, state, arrays):
        raise NotImplementedError


class Backend:
    name = "abstract"
    # compile() takes ``on_planned(cached, compile_s=None)`` and calls it once it knows whether the code will come
    # from a cache (a load of milliseconds) or from a compiler (seconds, roughly ``compile_s`` when it can tell);
    # the runtime then decides whether a call waits for it.
    reports_plan = False

    def compile(self, graph):
        """Returns an Executable for ``graph``."""
        raise NotImplementedError

    def symbolic_problem(self, graph):
        """Why this backend cannot run ``graph``, a graph over symbolic sizes (tracer.symbolic), as one
        executable for every size; None when it can. The function then traces per size instead."""
        return None

    def prepare_first_call(self):
        """Once-per-process set-up that a first call needs and that can run in the calling thread while a
        cached executable loads in another (the runtime calls it then). Idempotent and thread-safe."""


_BACKENDS = {}


def register_backend(backend):
    _BACKENDS[backend.name] = backend
    return backend


def get_backend(name):
    from graphjit.tracer.errors import NotFoundError
    try:
        return _BACKENDS[name]
    except KeyError:
        raise NotFoundError(f"no backend named {name!r}; available: {sorted(_BACKENDS)}") from None


def available_backends():
    return sorted(_BACKENDS)
