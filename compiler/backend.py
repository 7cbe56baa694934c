"""The Backend interface: compile a graph into an Executable, then run it with the runtime's state.

Every executor implements it: the reference interpreter (the oracle), the Numba CPU backend and the
CUDA backend. The runtime chooses a backend per device; nothing else needs to know which one runs.
"""


class Executable:
    """A compiled graph. ``run(state, arrays) -> list of arrays``; ``state`` owns variables and RNG."""

    def run(self, state, arrays):
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
