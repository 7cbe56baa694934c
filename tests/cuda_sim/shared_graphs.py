"""Helpers of the simulator tests that compile one big graph per file and check many outputs of it."""
import numpy as np

from graphjit.compiler.backend import get_backend


class CompiledOnce:
    """``graph`` compiled once per backend name, on first use."""

    def __init__(self, graph):
        self.graph, self._compiled = graph, {}

    def __call__(self, backend):
        if backend not in self._compiled:
            self._compiled[backend] = get_backend(backend).compile(self.graph)
        return self._compiled[backend]


def host(array):
    """A device array's host copy; a host array as it is."""
    return np.asarray(array.copy_to_host() if hasattr(array, "copy_to_host") else array)
