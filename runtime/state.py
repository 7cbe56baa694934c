"""What a running graph may touch besides its inputs: variable values and the random generator.

The global runtime has one ``State``; each compat.v1 Session has its own.
"""
import numpy as np

from graphjit.tracer.errors import FailedPreconditionError, InvalidArgumentError
from graphjit.tracer.ir import new_variable_id  # noqa: F401  (re-exported for the runtime)


class State:
    def __init__(self, seed=None):
        self.values = {}  # variable id -> ndarray (never mutated in place: reads may still hold it)
        self.names = {}   # variable id -> name, for messages
        self.rng = np.random.Generator(np.random.PCG64(seed))

    def read(self, ref):
        try:
            return self.values[ref.id]
        except KeyError:
            raise FailedPreconditionError(
                f"Attempting to use uninitialized value {ref.name}: run its initializer first") from None

    def write(self, ref, array):
        if array.shape != ref.type.shape or array.dtype != ref.type.dtype.np:
            raise InvalidArgumentError(f"cannot assign a {array.dtype}{list(array.shape)} value to variable "
                                       f"{ref.name} of type {ref.type}")
        self.values[ref.id] = array

    def forget(self, variable_id):
        self.values.pop(variable_id, None)
        self.names.pop(variable_id, None)

    def seed(self, seed):
        self.rng = np.random.Generator(np.random.PCG64(seed))
