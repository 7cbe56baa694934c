"""The eager context: ops run immediately with their NumPy implementation (on the GPU, when an operand lives there
or a ``gj.device("cuda")`` block is open: ``devices.eager_op_on_gpu``); graphs run via a backend."""
import numpy as np

from graphjit.compiler.interpreter import bind_subgraphs
from graphjit.tracer.dtypes import ALL as ALL_DTYPES
from graphjit.tracer.errors import InternalError, InvalidArgumentError, TracingError
from graphjit.tracer.op_errors import run_eager
from graphjit.tracer.source import with_location
from graphjit.tracer.tensor import DeviceTensor, EagerTensor, SymbolicTensor

from .devices import OPEN_BLOCKS, current as current_device, eager_op_on_gpu


_SUPPORTED = frozenset(d.np for d in ALL_DTYPES)
_CUDA_BLOCKS_OPEN = OPEN_BLOCKS   # [count]: one list read, all a CPU op pays for the GPU path


class EagerContext:
    def __init__(self, runtime):
        self.runtime = runtime

    def execute(self, op, inputs, attrs):
        if _CUDA_BLOCKS_OPEN[0] and not op.stateful and current_device().kind == "cuda":
            return self._on_gpu(op, inputs, attrs, scoped=True)
        arrays = []
        for t in inputs:
            if type(t) is EagerTensor:
                arrays.append(t._value)
            elif type(t) is DeviceTensor:
                if not op.stateful:
                    return self._on_gpu(op, inputs, attrs, scoped=False)
                arrays.append(t.numpy())   # (a value assigned to a variable: stored on the variable's device)
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

    def _on_gpu(self, op, inputs, attrs, scoped):
        """An eager op on cuda:0 (docs/architecture.md, "Devices"): a one-op graph on the CUDA backend; control
        flow (whose branches are graphs) runs on the host, its operands copied back and its results copied in."""
        for t in inputs:
            if not isinstance(t, EagerTensor):
                _escaped(t, op)
        if op.subgraphs:
            arrays = [t.cpu()._value for t in inputs]
            op.infer_checked([_type(a) for a in arrays], attrs)
            out = run_eager(op, None, arrays, bind_subgraphs(op, attrs, self.runtime.state), on_numpy_error=_rule_error)
            if type(out) is tuple:
                return [EagerTensor(np.asarray(a)).cuda() for a in out]
            return EagerTensor(np.asarray(out)).cuda()
        return eager_op_on_gpu(op, inputs, attrs, self.runtime.state, scoped)

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


def _escaped(tensor, op):
    if isinstance(tensor, SymbolicTensor):
        raise TracingError(with_location(
            f"{op.name}: a symbolic tensor from a finished trace ({tensor._describe()}) was used outside its "
            f"gj.function; return it from the function to get its value"))
    raise InternalError(f"{op.name}: expected tensors, got {type(tensor).__name__}")
