"""What a running graph may touch besides its inputs: variable values and the random generator.

The global runtime has one ``State``; each compat.v1 Session has its own.
"""
import threading

import numpy as np

from graphjit.tracer.errors import FailedPreconditionError, InvalidArgumentError
from graphjit.tracer.ir import new_variable_id  # noqa: F401  (re-exported for the runtime)


class State:
    """Variable values and the random generator. ``lock`` makes each run that touches variables atomic: a traced
    graph (compiled, or the interpreter standing in for it) or an eager variable op holds it from its first
    read to its last write, so concurrent ``assign_add``s from several threads never lose an update, and a
    compiled update that reuses a variable's buffer in place never runs while another call reads it."""

    def __init__(self, seed=None):
        self.lock = threading.RLock()
        self.values = {}  # variable id -> ndarray (updated in place only by a run holding the lock: see runner)
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
        if type(array) is not np.ndarray or array.base is not None or not (array.flags.writeable
                                                                          and array.flags.c_contiguous):
            # The state owns a contiguous, writable buffer: a compiled update may later write into it in place
            # (NumPy scalars from eager code, read-only or borrowed views would silently drop such an update).
            array = np.array(array, order="C")
        self.values[ref.id] = array

    def forget(self, variable_id):
        self.values.pop(variable_id, None)
        self.names.pop(variable_id, None)

    def seed(self, seed):
        self.rng = np.random.Generator(np.random.PCG64(seed))
