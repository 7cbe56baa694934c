"""The eager context: ops run immediately with their NumPy implementation; graphs run via a backend."""
import numpy as np

from graphjit.compiler.interpreter import bind_subgraphs
from graphjit.tracer.dtypes import ALL as ALL_DTYPES
from graphjit.tracer.errors import DeviceError, InternalError, InvalidArgumentError, TracingError
from graphjit.tracer.op_errors import run_eager
from graphjit.tracer.source import with_location
from graphjit.tracer.tensor import DeviceTensor, EagerTensor, SymbolicTensor


_SUPPORTED = frozenset(d.np for d in ALL_DTYPES)


class EagerContext:
    def __init__(self, runtime):
        self.runtime = runtime

    def execute(self, op, inputs, attrs):
        arrays = []
        for t in inputs:
            if type(t) is EagerTensor:
                arrays.append(t._value)
            elif type(t) is DeviceTensor:
                arrays.append(_host_operand(t, op))
            else:
                arrays.append(_escaped(t, op))
        if op.check_eager:
            op.infer_checked([_type(a) for a in arrays], attrs)
        if op.subgraphs:   # (the rule took the Graphs; the eager code takes functions running them)
            attrs = bind_subgraphs(op, attrs, self.runtime.state)
        if op.stateful:  # variable reads and updates: atomic with respect to graphs running on other threads
            state = self.runtime.state
            with state.lock:
                out = run_eager(op, state, arrays, attrs, on_numpy_error=_rule_error)
        else:
            out = run_eager(op, None, arrays, attrs, on_numpy_error=_rule_error)
        if type(out) is tuple:   # an op of several results (control flow): one tensor each
            return [EagerTensor(np.asarray(a)) for a in out]
        if type(out) is not np.ndarray:
            if hasattr(out, "copy_to_host"):   # a variable's value on the GPU (read_variable)
                return DeviceTensor(out)
            out = np.asarray(out)
        if out.dtype not in _SUPPORTED:  # e.g. float16 from NumPy: the rule rejects it with a clear message
            op.infer_checked([_type(a) for a in arrays], attrs)
            raise InternalError(f"{op.name} produced unsupported dtype {out.dtype}")
        return EagerTensor(out)

    def call_function(self, concrete, tensors):
        return self.runtime.run(concrete, tensors)

    def create_variable(self, variable, name, initial_value):
        return self.runtime.create_variable(variable, name, initial_value)

    def compiled(self, concrete, backend_name):
        """The executable of ``concrete`` for a named backend (for inspection: kernels, optimized graph)."""
        return self.runtime.compiled(concrete, backend_name)

    def set_seed(self, seed):
        self.runtime.set_seed(seed)


def _rule_error(op, arrays, attrs):
    """Raises the rule's clear message for arguments the op's NumPy code refused, if the rule refuses them too."""
    op.infer_checked([_type(a) for a in arrays], attrs)


def _type(array):
    from graphjit.tracer.dtypes import from_numpy
    from graphjit.tracer.ir import TensorType
    dtype = from_numpy(array.dtype)
    if dtype is None:
        raise InvalidArgumentError(f"unsupported dtype {array.dtype}")
    return TensorType(array.shape, dtype)


def _host_operand(tensor, op):
    """Eager ops run on the host. A variable op takes a GPU value (copied back, counted: a value assigned to a
    variable is stored on the variable's device); any other op refuses it, naming both devices."""
    if op.stateful:
        return tensor.numpy()
    raise DeviceError(with_location(
        f"{op.name}: an operand is on cuda:0 ({tensor._describe()}) but eager ops run on cpu:0; graphjit does not "
        f"copy between devices implicitly: call .cpu() (or .numpy()) first, or run the op inside a gj.function "
        f"called under `with gj.device('cuda'):`"))


def _escaped(tensor, op):
    if isinstance(tensor, SymbolicTensor):
        raise TracingError(with_location(
            f"{op.name}: a symbolic tensor from a finished trace ({tensor._describe()}) was used outside its "
            f"gj.function; return it from the function to get its value"))
    raise InternalError(f"{op.name}: expected tensors, got {type(tensor).__name__}")
