"""``ConcreteFunction``: one trace of a ``gj.function``, its graph, and how arguments and results map to and from it.

``call_flat`` is where every call of a trace ends: the runtime's per-call shortcut for its uid when there is one
(the table ``tracer.function.install_fast_calls`` installs), else ``context.context_for(tensors).call_function``.
"""
import numpy as np

from . import context, display, nest
from .errors import InvalidArgumentError
from .program import Program
from .specs import TensorSpec
from .symbolic import SymInt
from .tensor import convert_to_tensor

_UNBUILT = object()
_thread = context._state
# The runtime's per-call shortcuts by ConcreteFunction uid (see tracer.function._fast_calls, which is the same
# table: tracer.function.install_fast_calls rebinds both names).
_fast_calls = {}


class _TensorSlot:
    """Marks where a tensor sat in a structure (inputs to trace, outputs to fill)."""
    __slots__ = ("index",)

    def __init__(self, index):
        self.index = index



class ConcreteFunction(Program):
    """One trace of a function: its graph, and how to map arguments and results to and from it."""

    def __init__(self, graph, input_types, output_template, function_name, *, jit_compile=None, debug_compare=None):
        super().__init__(graph, function_name, jit_compile=jit_compile, debug_compare=debug_compare)
        self.input_types = input_types
        self.output_template = output_template
        self.variables = ()  # variables created by this trace, kept alive with it
        # Tensors of an enclosing trace that feed this graph's inputs after ``input_types`` (closed-over values of a
        # function traced inside another one, as TF's ``captured_inputs``); call_flat passes them along.
        self.captured_inputs = ()
        self._signature_call = _UNBUILT   # tracer.last_signature's call, for the arguments it was cached for

    @property
    def structured_outputs(self):
        """The outputs' structure with a gj.TensorSpec where each tensor is (as TF), not the internal slots."""
        types = [self.graph.nodes[i].type for i in self.graph.outputs]
        return nest.map_structure(lambda leaf: TensorSpec(types[leaf.index].shape, types[leaf.index].dtype)
                                  if type(leaf) is _TensorSlot else leaf, self.output_template)

    @property
    def structured_input_signature(self):
        """``(args, kwargs)`` of this trace: TensorSpecs where tensors were, Python values as they were."""
        return display.input_signature(self)

    def pretty_printed_signature(self):
        """``f(x, y)``, its arguments and its results, one per line (TF's layout)."""
        return display.signature_text(self)

    def _repr_html_(self):
        return display.concrete_html(self)

    def _repr_svg_(self):
        return self.graph._repr_svg_()

    def __str__(self):
        return str(self.graph)

    def __repr__(self):
        return f"<ConcreteFunction {self.name}({', '.join(map(str, self.input_types))})>"

    def pretty_printed_graph(self):
        return str(self.graph)

    # -- inspection of the compiled form (the Numba CPU backend; compiles on first use) --

    def _compiled(self):
        return context.eager_context().compiled(self, "cpu")

    @property
    def optimized_graph(self):
        """The graph after the optimization passes (constant folding, CSE, DCE, simplification)."""
        return self._compiled().optimized

    @property
    def kernels(self):
        """Generated Numba source of each compiled kernel, by function name."""
        return {name: info["source"] for name, info in self._compiled().kernels.items()}

    def to_dot(self, optimized=False):
        """Graphviz DOT text of the traced (or optimized) graph."""
        return (self.optimized_graph if optimized else self.graph).to_dot()

    def call_flat(self, tensors):
        """Runs the graph on a flat list of tensors (or arrays) and returns the structured result."""
        if len(tensors) != len(self.input_types):
            raise InvalidArgumentError(f"{self.name}: expected {len(self.input_types)} tensor inputs, "
                                       f"got {len(tensors)}")
        if self.captured_inputs:
            tensors = list(tensors) + list(self.captured_inputs)
        fast = _fast_calls.get(self.uid)
        if fast is None or _thread.top is not None or (outputs := fast(tensors)) is None:
            ctx = context.context_for(tensors)
            if ctx is not context.eager_context():  # recorded (a trace, a TF1 graph): arrays become constants, as in TF
                tensors = [convert_to_tensor(t) if isinstance(t, (np.ndarray, np.generic)) else t for t in tensors]
            outputs = ctx.call_function(self, tensors)
        return self._structured(outputs)

    def _structured(self, outputs):
        """The function's result from the graph's flat ``outputs``."""
        template = self.output_template
        if type(template) is _TensorSlot:
            return outputs[template.index]
        return nest.map_structure(
            lambda leaf: outputs[leaf.index] if type(leaf) is _TensorSlot else leaf, template)

    def __call__(self, *args):
        tensors = []
        sizes = {}   # symbolic sizes (an input_signature's None dims) bound so far: shared ones must agree
        for i, arg in enumerate(nest.flatten(args)):
            t = convert_to_tensor(arg, what=f"argument {i}")
            expected = self.input_types[i] if i < len(self.input_types) else None
            if expected is not None and (not _fits(tuple(t.shape), tuple(expected.shape), sizes)
                                         or t.dtype is not expected.dtype):
                raise InvalidArgumentError(f"{self.name}: argument {i} has type {t.type}, but this concrete "
                                           f"function was traced for {expected}"
                                           + (" (unknown sizes at least 2, equal where named alike)" if sizes or
                                              any(isinstance(d, SymInt) for d in expected.shape) else ""))
            tensors.append(t)
        return self.call_flat(tensors)


def _fits(shape, expected, sizes):
    """Whether a tensor of ``shape`` fits an input type's ``expected`` shape; a symbolic size binds in ``sizes``
    (it must be at least the symbolic minimum, and the same wherever the symbol recurs)."""
    if len(shape) != len(expected):
        return False
    for d, e in zip(shape, expected):
        if isinstance(e, SymInt):
            name = str(e)
            least = next(iter(e.atoms())).lower   # (MIN_SIZE, or more where an int index needs it)
            if d is None or d < least or sizes.setdefault(name, d) != d:
                return False
        elif d != e:
            return False
    return True
