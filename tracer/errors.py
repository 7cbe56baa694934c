"""Every error graphjit raises on purpose. Re-exported as ``graphjit.errors``.

Messages name the op or argument, the shapes and dtypes involved and, for anything found while
tracing, the user's file and line (see ``graphjit.tracer.source``).
"""


class GraphjitError(Exception):
    """Base class of every graphjit error."""


class InvalidArgumentError(GraphjitError, ValueError):
    """An op or API was given arguments it cannot accept (shapes, dtypes, values)."""


class TracingError(GraphjitError, TypeError):
    """Something a traced function did cannot be represented in a graph."""


class SymbolicError(TracingError):
    """A size that depends on an unknown (None) dimension of an input_signature was needed as a concrete int, or
    compared in a way the trace cannot decide (``tracer.symbolic``); the function then traces per size.
    ``unify``: (atom, atom) when the question was whether two such sizes are equal (the trace merges them);
    ``require``: (atom, least size) when the trace is valid only from that size on (an int index: the trace
    raises the atom's minimum, and smaller calls trace per size)."""

    def __init__(self, message, unify=None, require=None):
        super().__init__(message)
        self.unify = unify
        self.require = require


class OperatorNotAllowedInGraphError(TracingError):
    """A symbolic tensor was used where a concrete Python value is needed (``if t:``, ``float(t)``)."""


class InvalidTypeError(GraphjitError, TypeError):
    """A value of the wrong kind was given (e.g. a graph tensor where a concrete value is needed)."""


class FailedPreconditionError(GraphjitError, RuntimeError):
    """The runtime is not in a state that allows the operation (e.g. an uninitialized variable)."""


class NotFoundError(GraphjitError, LookupError):
    """A named thing (op, variable, tensor, checkpoint) does not exist."""


class OutOfRangeError(GraphjitError, IndexError):
    """An index or value is outside the valid range."""


class DataLossError(GraphjitError, ValueError):
    """Stored data is corrupt or unreadable (e.g. a checkpoint whose checksum does not match its index)."""


class DeviceError(GraphjitError, RuntimeError):
    """A device cannot be used: an unknown device name, or CUDA asked for where it cannot run (no numba-cuda, no
    driver, no GPU, a compute capability too old); the message says which."""


class ResourceExhaustedError(GraphjitError, MemoryError):
    """A tensor would need more memory than the machine has (e.g. ``gj.zeros((2**40, 2**40))``)."""


class UnimplementedError(GraphjitError, NotImplementedError):
    """The operation is valid but graphjit does not implement it."""


class CompilationError(GraphjitError, RuntimeError):
    """A backend (Numba) could not compile a graph; the message names the op and the user's line."""


class CacheError(GraphjitError, OSError):
    """The persistent compile cache cannot be used safely (e.g. an unsafe cache directory)."""


class InternalError(GraphjitError, RuntimeError):
    """A bug in graphjit: please report it with the message."""


class RetraceError(GraphjitError, RuntimeError):
    """A ``gj.function`` made with ``max_traces=N`` would trace an (N+1)th time; the message says which argument
    changed and how (as ``gj.config.explain_retracing`` logs it)."""


class NumericalMismatchError(InternalError):
    """Shadow mode (``debug_compare``) found a compiled graph disagreeing with the reference interpreter; the
    message names the first node of the optimized graph whose values differ, and both values."""


__all__ = [name for name, value in dict(globals()).items()
           if isinstance(value, type) and issubclass(value, GraphjitError)]
