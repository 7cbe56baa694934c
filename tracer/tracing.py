"""Tracing: running Python code with symbolic tensors and recording every op into a graph."""
from . import context
from .errors import FailedPreconditionError, InvalidArgumentError, TracingError
from .ir import GraphBuilder, TensorType, extract_subgraph
from .source import user_location, with_location
from .tensor import EagerTensor, SymbolicTensor


class TraceContext:
    """The context while a function is traced: ops become nodes of ``self.builder``."""

    def __init__(self, name, *, allow_variable_creation=True, function_name=None):
        self.builder = GraphBuilder(name)
        self.allow_variable_creation = allow_variable_creation
        self.function_name = function_name or name
        # id(eager tensor) -> (tensor, node id): each capture becomes one constant. The entry holds the tensor, so
        # its id cannot pass to another object while the entry lives.
        self._captured = {}
        self.created_variables = []

    # -- graph inputs and captured values --

    def add_input(self, type_):
        node_id = self.builder.add_input(type_, len(self.builder.inputs))
        return SymbolicTensor(self, node_id, type_)

    def node_id(self, tensor, what="input"):
        if type(tensor) is SymbolicTensor:
            if tensor._trace is not self:
                raise TracingError(with_location(
                    f"{what} is a symbolic tensor of another graph ({tensor._describe()}): a traced "
                    f"function can only use its own arguments, eager tensors and variables. Pass the value "
                    f"as an argument instead of closing over it."))
            return tensor._id
        if type(tensor) is EagerTensor:
            key = id(tensor)
            found = self._captured.get(key)
            if found is None:
                from .ir import Const
                node = self.builder.add("constant", (), {"value": Const(tensor._value)}, tensor.type)
                found = self._captured[key] = (tensor, node)
            return found[1]
        as_tensor = getattr(tensor, "_as_tensor", None)
        if as_tensor is not None:
            return self.node_id(as_tensor(), what)
        raise TracingError(with_location(f"{what}: expected a tensor, got {type(tensor).__name__}"))

    # -- the context protocol --

    def execute(self, op, inputs, attrs):
        location = user_location()
        ids = [self.node_id(t, f"{op.name} input {i}") for i, t in enumerate(inputs)]
        types = [self.builder.nodes[i].type for i in ids]
        op.check_attrs(attrs, location)
        out_type = op.infer_checked(types, attrs, location)
        node_id = self.builder.add(op.name, ids, attrs, out_type, effectful=op.stateful, loc=location)
        return SymbolicTensor(self, node_id, out_type)

    def call_function(self, concrete, inputs):
        """Inlines another traced function's graph (its nodes become nodes of this graph)."""
        graph = concrete.graph
        mapping = {}
        args = iter(inputs)
        for i, node in enumerate(graph.nodes):
            if node.op == "input":
                mapping[i] = self.node_id(next(args), f"argument of {graph.name}")
                continue
            effectful = bool(node.deps) or _is_stateful(node.op)
            new = self.builder.add(node.op, [mapping[j] for j in node.inputs], dict(node.attrs), node.type,
                                   effectful=effectful, loc=node.loc)
            mapping[i] = new
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
        concrete = _Lifted(graph)
        return context.eager_context().call_function(concrete, [])[0]


class _Lifted:
    """A graph run once, outside the trace (the interface the runtime expects of a ConcreteFunction)."""

    def __init__(self, graph):
        self.graph = graph
        self.name = graph.name
        self.jit_compile = False  # runs once: the interpreter is faster than compiling


def _is_stateful(op_name):
    from .registry import OPS
    return OPS[op_name].stateful


def input_type(shape, dtype):
    return TensorType(tuple(shape), dtype)
