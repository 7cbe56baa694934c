"""One new trace of a ``gj.function``: its Python function run over symbolic inputs into a ``ConcreteFunction``.

Which calls need a new trace, and what is kept of it, is ``tracer.function.Function``'s business (its cache and
retracing policy); this module only makes the trace. Inputs are the call's tensor and array leaves (their types;
with ``symbolic_types``, the types over symbolic sizes of a polymorphic trace); outputs are the function's tensor
results, their places in its result kept as ``_TensorSlot``s.
"""
import inspect

import numpy as np

from . import context, display, dtypes, nest
from .concrete_function import ConcreteFunction, _TensorSlot
from .errors import UnimplementedError
from .ir import TensorType
from .signature_keys import _is_input
from .tensor import EagerTensor, SymbolicTensor, Tensor, convert_to_tensor, is_gpu_array
from .tracing import TraceContext, trace


def trace_concrete(function, values, symbolic_types=None):
    """A new ConcreteFunction of ``function`` (a Function) for its canonical arguments ``values``, holding the
    variables the trace created."""
    input_types = []

    def input_leaf(leaf):   # the leaves that become graph inputs, in nest.flatten order
        if isinstance(leaf, (np.ndarray, np.generic)):  # only its type matters here: no copy of the data
            input_types.append(TensorType(leaf.shape, dtypes.from_numpy(leaf.dtype)))
        elif isinstance(leaf, SymbolicTensor) and None not in tuple(leaf.type.shape):
            input_types.append(TensorType(tuple(leaf.type.shape), leaf.dtype))   # (SymInts: traced over them)
        elif isinstance(leaf, (EagerTensor, SymbolicTensor)):
            if not leaf.shape.is_fully_defined():
                raise UnimplementedError(f"{function.name}: argument {leaf!r} has a partly unknown shape; a "
                                         f"gj.function traces for full shapes (feed or give the placeholder "
                                         f"a full shape)")
            input_types.append(TensorType(tuple(leaf.shape), leaf.dtype))
        elif is_gpu_array(leaf):   # (its DeviceTensor shares its memory: only the type is read)
            input_types.append(convert_to_tensor(leaf).type)
        return leaf
    for v in values:
        nest.map_structure(input_leaf, v)
    if symbolic_types is not None:
        input_types = list(symbolic_types)
    template, created = None, []

    def flat_function(*symbolic):
        """The Python function over the flat symbolic inputs, returning its flat tensor results."""
        nonlocal template
        inputs = iter(symbolic)
        args = [nest.map_structure(lambda leaf: next(inputs) if _is_input(leaf) else leaf, v) for v in values]
        trace_ctx = context.current()   # (this trace's, while it runs: the variables it creates are ours)
        result = function._call_python(args)
        flat_outputs = []

        def to_slot(leaf):
            if isinstance(leaf, Tensor) or getattr(leaf, "_is_variable", False):
                flat_outputs.append(leaf)
                return _TensorSlot(len(flat_outputs) - 1)
            if isinstance(leaf, (np.ndarray, np.generic)):
                flat_outputs.append(convert_to_tensor(leaf))
                return _TensorSlot(len(flat_outputs) - 1)
            if leaf is not None and type(leaf) not in _CONSTANT_OUTPUTS:
                raise _bad_output(function, leaf)
            return leaf
        template = nest.map_structure(to_slot, result)
        created.extend(trace_ctx.created_variables)
        return flat_outputs

    # Called while another function is traced, this trace runs inside that one (TF's nested tf.function):
    # the outer trace's tensors it closes over become captures, fed when the outer graph inlines it.
    top = context.innermost_graph()   # (past any gradient tape)
    parent = top if type(top) is TraceContext else None
    graph, captures = trace(flat_function, input_types, parent, name=function.name,
                            allow_variable_creation=function._tracing_count == 0, function_name=function.name)
    concrete = ConcreteFunction(graph, input_types, template, function.name, jit_compile=function.jit_compile,
                                debug_compare=function.debug_compare)
    concrete.captured_inputs = captures
    concrete._input_structure = display.input_structure(function._signature, values)  # specs: no tensor is kept
    # Variables created while tracing belong to the function (their values live as long as it does, even when
    # the trace that created them is evicted from the cache).
    concrete.variables = tuple(created)
    return concrete


# Python values a traced function may return as they are (every call returns the same value). Anything else
# (a generator, a set, an arbitrary object) would be the object of the first trace, handed back on every
# later call: refused, as TF does.
_CONSTANT_OUTPUTS = (bool, int, float, str)


def _bad_output(function, leaf):
    from .errors import TracingError
    from .source import Location
    code = getattr(inspect.unwrap(function.python_function), "__code__", None)
    where = "" if code is None else f"\n  at {Location(code.co_filename, code.co_firstlineno, code.co_name)}"
    return TracingError(f"{function.name}: returned a {type(leaf).__name__} ({leaf!r:.60}): a gj.function must return "
                        f"tensors, arrays, None, Python numbers or strings, or tuples/lists/dicts of them{where}")
