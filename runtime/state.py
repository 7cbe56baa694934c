"""What a running graph may touch besides its inputs: variable values and the random generator.

The global runtime has one ``State``; each compat.v1 Session has its own.
"""
import copy
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
        # variable id -> device name, for variables whose value lives on a GPU (a numba.cuda device array in
        # ``values``); the others are on the host. A variable stays on the device it was created on.
        self.devices = {}
        self.seed(seed)

    def read(self, ref):
        try:
            return self.values[ref.id]
        except KeyError:
            raise FailedPreconditionError(
                f"Attempting to use uninitialized value {ref.name}: run its initializer first") from None

    def read_host(self, ref):
        """The variable's value on the host (a counted copy when it lives on a GPU)."""
        value = self.read(ref)
        return value if type(value) is np.ndarray or ref.id not in self.devices else _memory().to_host(value)

    def write(self, ref, array):
        if array.shape != ref.type.shape or array.dtype != ref.type.dtype.np:
            raise InvalidArgumentError(f"cannot assign a {array.dtype}{list(array.shape)} value to variable "
                                       f"{ref.name} of type {ref.type}")
        if self.devices and ref.id in self.devices:   # kept on its GPU (a host value is copied there, counted)
            self.values[ref.id] = _memory().to_device(array)
            return
        if type(array) is not np.ndarray and hasattr(array, "copy_to_host"):   # a GPU value for a host variable
            array = _memory().to_host(array)
        if type(array) is not np.ndarray or array.base is not None or not (array.flags.writeable
                                                                          and array.flags.c_contiguous):
            # The state owns a contiguous, writable buffer: a compiled update may later write into it in place
            # (NumPy scalars from eager code, read-only or borrowed views would silently drop such an update).
            array = np.array(array, order="C")
        self.values[ref.id] = array

    def copy(self, variable_ids):
        """A separate State with copies of these variables' values and of every random stream's position
        (shadow mode runs a graph twice from the same point)."""
        copied = State()
        copied.values = {v: self.values[v].copy() for v in variable_ids if v in self.values}
        copied.names = dict(self.names)
        copied.global_seed = self.global_seed
        copied.rng = copy.deepcopy(self.rng)
        copied._op_streams = copy.deepcopy(self._op_streams)
        return copied

    def forget(self, variable_id):
        self.values.pop(variable_id, None)
        self.names.pop(variable_id, None)
        self.devices.pop(variable_id, None)

    def seed(self, seed):
        """The global seed (None: fresh entropy). Op-level streams restart from it, as TF resets its counters."""
        self.global_seed = seed
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self._op_streams = {}
        self._pointers = {}   # op seed -> (generator, its lock, its pointer array): see generator_arguments

    def rng_for(self, op_seed):
        """The generator a random op draws from: the global one, or for an op-level ``seed`` its own stream,
        determined by (global seed, op seed) as in TF (TF's default graph seed when no global seed is set), so
        a program with op seeds is reproducible across runs, and an op-seeded draw leaves the global sequence
        untouched. Each call continues the stream: the same op called twice gives new numbers."""
        if op_seed is None:
            return self.rng
        stream = self._op_streams.get(op_seed)
        if stream is None:
            base = DEFAULT_GLOBAL_SEED if self.global_seed is None else self.global_seed
            stream = np.random.Generator(np.random.PCG64(np.random.SeedSequence((base, op_seed))))
            stream = self._op_streams.setdefault(op_seed, stream)
        return stream


    def generator_arguments(self, op_seed):
        """(lock, pointer array) of ``rng_for(op_seed)`` for a compiled entry that draws from it (the runner holds
        the lock around the call; compiler.random_numba.pointers_of), computed once per generator."""
        rng = self.rng_for(op_seed)
        known = self._pointers.get(op_seed)
        if known is None or known[0] is not rng:   # (kept with the generator, whose state the pointers address)
            from graphjit.compiler.random_numba import pointers_of   # (imports Numba: only once a draw compiled)
            known = self._pointers[op_seed] = (rng, rng.bit_generator.lock, pointers_of(rng))
        return known[1], known[2]


DEFAULT_GLOBAL_SEED = 87654321   # TF's DEFAULT_GRAPH_SEED: the global seed op-level seeds pair with when none is set


def _memory():
    """The CUDA backend's memory module (imported only once a GPU variable or value exists: numba.cuda)."""
    from graphjit.compiler.cuda import memory
    return memory
