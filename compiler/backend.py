"""The Backend interface: compile a graph into an Executable, then run it with the runtime's state.

Every executor implements it: the reference interpreter (the oracle), the Numba CPU backend and the
CUDA backend. The runtime chooses a backend per device; nothing else needs to know which one runs.
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

    def compile(self, graph):
        """Returns an Executable for ``graph``."""
        raise NotImplementedError

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
