"""Tracing: running Python code with symbolic tensors and recording every op into a graph."""
from . import context
from .errors import FailedPreconditionError, InvalidArgumentError, TracingError, UnimplementedError
from .ir import GraphBuilder, TensorType, TupleType, extract_subgraph, replay
from .program import Program
from .source import user_location, with_location
from .subgraphs import has_effects, node_has_effects, subgraphs_of_attrs
from .tensor import EagerTensor, SymbolicTensor


class ConstantCaptures:
    """Eager tensors a graph being built uses: each becomes one constant node of that graph, the first time it is
    used (TF's capture of eager values). The one place that does this, for traces and compat.v1 graphs alike."""

    def __init__(self, add_constant):
        self._add_constant = add_constant   # ndarray -> node id of a new constant in the graph being built
        # tensor.ref() -> node id: the key holds the tensor, so no other tensor can ever be mistaken for it
        self._nodes = {}

    def node_id(self, tensor):
        key = tensor.ref()
        found = self._nodes.get(key)
        if found is None:
            found = self._nodes[key] = self._add_constant(tensor._value)
        return found


class TraceContext:
    """The context while a function is traced: ops become nodes of ``self.builder``. ``parent``, when given, is
    the trace this one runs inside: its tensors (and its ancestors') used here become ``captures``."""

    def __init__(self, name, *, allow_variable_creation=True, function_name=None, parent=None):
        self.builder = GraphBuilder(name)
        self.allow_variable_creation = allow_variable_creation
        self.function_name = function_name or name
        self.parent = parent
        self.constants = ConstantCaptures(self._add_constant)
        self.captures = []          # tensors of ``parent`` that feed this graph's capture inputs, in order
        self._capture_inputs = {}   # node id in ``parent`` -> the input node here that it feeds
        self.created_variables = []

    # -- graph inputs and captured values --

    def add_input(self, type_):
        node_id = self.builder.add_input(type_, len(self.builder.inputs))
        return SymbolicTensor(self, node_id, type_)

    def _add_constant(self, value):
        from .ir import Const
        return self.builder.add("constant", (), {"value": Const(value)}, TensorType(value.shape, _dtype(value)))

    def node_id(self, tensor, what="input"):
        if type(tensor) is SymbolicTensor or isinstance(tensor, SymbolicTensor):   # (compat.v1's are a subclass)
            if tensor._trace is not self:
                return self._capture(tensor, what)
            return tensor._id
        if type(tensor) is EagerTensor:
            return self.constants.node_id(tensor)
        as_tensor = getattr(tensor, "_as_tensor", None)
        if as_tensor is not None:
            return self.node_id(as_tensor(), what)
        raise TracingError(with_location(f"{what}: expected a tensor, got {type(tensor).__name__}"))

    def _capture(self, tensor, what):
        """The input node that brings ``tensor``, a tensor of an enclosing trace, into this graph (closure
        conversion): made on first use, fed by the parent's tensor (which the parent captures in turn when it
        comes from further out)."""
        if not self._encloses(tensor._trace):
            raise TracingError(with_location(
                f"{what} is a symbolic tensor of another graph ({tensor._describe()}) that is not being traced "
                f"around this one: a traced function can only use its own arguments, tensors of the functions "
                f"it is traced inside, eager tensors and variables. Pass the value as an argument instead of "
                f"closing over it."))
        outer_id = self.parent.node_id(tensor, what)
        node_id = self._capture_inputs.get(outer_id)
        if node_id is None:
            # the type the parent gives it: a parent that stands in for another graph's tensors (compat.v1's
            # control flow over unknown dims) may give them sizes the tensor's static type leaves unknown
            type_ = self.parent.builder.nodes[outer_id].type if isinstance(self.parent, TraceContext) else tensor.type
            shape = type_.shape
            if shape is None or None in shape:   # (a compat.v1 placeholder's: a trace's shapes are all known)
                raise UnimplementedError(with_location(
                    f"{what} is a tensor of partly unknown shape ({tensor._describe()}), used inside a traced "
                    f"function or control-flow branch: graphjit traces for full shapes; give the placeholder a "
                    f"full shape"))
            node_id = self._capture_inputs[outer_id] = self.builder.add_input(type_, len(self.builder.inputs))
            # the parent's own tensor when it is one (a compat.v1 graph's tensors are GraphTensors)
            self.captures.append(tensor if tensor._trace is self.parent else
                                 SymbolicTensor(self.parent, outer_id, type_))
        return node_id

    def _encloses(self, trace):
        outer = self.parent
        while outer is not None and outer is not trace:
            outer = getattr(outer, "parent", None)
        return outer is not None

    # -- the context protocol --

    def execute(self, op, inputs, attrs):
        location = user_location()
        ids = [self.node_id(t, f"{op.name} input {i}") for i, t in enumerate(inputs)]
        types = [self.builder.nodes[i].type for i in ids]
        op.check_attrs(attrs, location)
        out_type = op.infer_checked(types, attrs, location)
        effectful = op.stateful or bool(op.subgraphs and any(has_effects(g) for _, g in subgraphs_of_attrs(op, attrs)))
        node_id = self.builder.add(op.name, ids, attrs, out_type, effectful=effectful, loc=location)
        if isinstance(out_type, TupleType):   # several results: one tuple_get node, and one tensor, per result
            return [SymbolicTensor(self, self.builder.add("tuple_get", (node_id,), {"index": k}, t, loc=location), t)
                    for k, t in enumerate(out_type.types)]
        return SymbolicTensor(self, node_id, out_type)

    def call_function(self, concrete, inputs):
        """Inlines another traced function's graph (its nodes become nodes of this graph); ``inputs`` feed its
        graph inputs, captures included."""
        graph = concrete.graph
        fed = {i: self.node_id(t, f"argument of {graph.name}") for i, t in zip(graph.inputs, inputs)}

        def emit(node, new_inputs, _deps):
            return self.builder.add(node.op, new_inputs, dict(node.attrs), node.type, effectful=node_has_effects(node),
                                    loc=node.loc)
        mapping = replay(graph, emit, inputs=fed)
        return [SymbolicTensor(self, mapping[i], graph.nodes[i].type) for i in graph.outputs]

    def create_variable(self, variable, name, initial_value):
        if not self.allow_variable_creation:
            raise FailedPreconditionError(with_location(
                f"{self.function_name}: a variable ({name or 'Variable'}) was created on a trace other than "
                f"the first. Variables may only be created the first time a gj.function is traced (TF2 "
                f"rule): create them outside the function, or once (e.g. `if self.v is None: self.v = "
                f"gj.Variable(...)`) so that later traces reuse them."))
        if type(initial_value) is SymbolicTensor:
            initial_value = self._evaluate_now(initial_value, name)
        ref = context.eager_context().create_variable(variable, name, initial_value)
        self.created_variables.append(variable)
        return ref

    def _evaluate_now(self, tensor, name):
        """Runs the part of the graph that computes ``tensor`` now (variable initial values are lifted
        out of the function, like TF's init_scope); it must not depend on the function's inputs."""
        graph = extract_subgraph(self.builder.nodes, tensor._id)
        if graph.inputs:
            raise InvalidArgumentError(with_location(
                f"the initial value of variable {name or 'Variable'} depends on the traced function's "
                f"inputs; initial values must be computable without them (constants, eager tensors, "
                f"random initializers or other variables)"))
        # run once, outside the trace: the interpreter is faster than compiling
        program = Program(graph, jit_compile=False)
        return context.eager_context().call_function(program, [])[0]


def trace(fn, in_types, parent=None, *, name=None, allow_variable_creation=True, function_name=None):
    """The one way a Python callable over symbolic tensors becomes a Graph: ``(graph, captures)``.

    ``fn`` is called with one symbolic tensor per TensorType in ``in_types`` and returns a tensor or a list/tuple
    of tensors (eager tensors and variables among them become constants and reads): the graph's outputs. Every op
    it applies is recorded. With ``parent`` (the TraceContext of an enclosing trace), tensors of enclosing traces
    that ``fn`` uses become captures: graph inputs after those of ``in_types``, fed by the outer tensors listed in
    ``captures`` in the same order (JAX's closure conversion, TF's FuncGraph.captures). Without ``parent`` such a
    use is a TracingError. ``@gj.function`` traces through this; so will cond/while bodies and gradients."""
    ctx = TraceContext(name or getattr(fn, "__name__", "graph"), allow_variable_creation=allow_variable_creation,
                       function_name=function_name, parent=parent)
    args = [ctx.add_input(TensorType(tuple(t.shape), t.dtype)) for t in in_types]
    with context.pushed(ctx):
        result = fn(*args)
        flat = list(result) if isinstance(result, (list, tuple)) else [result]
        outputs = [ctx.node_id(t, f"returned value {k}") for k, t in enumerate(flat)]
    return ctx.builder.finish(outputs), tuple(ctx.captures)


def _dtype(value):
    from .dtypes import from_numpy
    return from_numpy(value.dtype)


def input_type(shape, dtype):
    return TensorType(tuple(shape), dtype)
