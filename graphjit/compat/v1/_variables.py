"""compat.v1 graph building blocks: placeholders, variables whose values live in sessions, assignment
ops, initializers and groups. Each builds ``Operation``s in a ``_graph.Graph``."""
from graphjit.tracer import context
from graphjit.tracer.errors import InvalidArgumentError
from graphjit.tracer.ir import TensorType, VarRef, new_variable_id
from graphjit.tracer.registry import OPS
from graphjit.tracer.shapes import TensorShape
from graphjit.tracer.source import user_location
from graphjit.tracer.specs import checked_shape
from graphjit.tracer.tensor import EagerTensor, as_dtype_arg, convert_to_tensor
from graphjit.tracer.variables import Variable as _Variable

from ._graph import Graph, GraphTensor, _session_for, get_default_graph
from ._scopes import ScopeOf


def target_graph():
    """The graph new ops go to: the one being built into (``as_default``), else the default graph."""
    ctx = context.current()
    return ctx if isinstance(ctx, Graph) else get_default_graph()


def _traced_inside(graph):
    """Whether a control-flow function (a cond branch, a loop body) is being traced inside ``graph`` now."""
    ctx = context.innermost_graph()
    while ctx is not None and not isinstance(ctx, Graph):
        ctx = getattr(ctx, "parent", None)
    return ctx is graph and context.innermost_graph() is not graph


def placeholder(dtype, shape=None, name=None):
    """A graph input whose value is fed at each ``Session.run``; ``None`` dims (or ``shape=None``, any
    rank) accept any size."""
    dtype = as_dtype_arg(dtype, "placeholder(dtype)")
    if dtype is None:
        raise InvalidArgumentError("placeholder: dtype is required")
    dims = None if shape is None else tuple(checked_shape(shape, "placeholder(shape)"))
    return target_graph().add_op("placeholder", None, (), {}, TensorType(dims, dtype), name=name or "Placeholder",
                                 loc=user_location()).outputs[0]


def placeholder_with_default(input, shape, name=None):  # noqa: A002
    """A placeholder that takes the value of ``input`` in runs that do not feed it."""
    graph = target_graph()
    default = graph.node_id(convert_to_tensor(input, what="placeholder_with_default(input)"), "input")
    dtype = graph._ops[default].outputs[0].dtype
    dims = None if shape is None else tuple(TensorShape(shape))
    return graph.add_op("placeholder_with_default", OPS["identity"], (default,), {}, TensorType(dims, dtype),
                        name=name or "PlaceholderWithDefault", loc=user_location()).outputs[0]


def control_dependencies(control_inputs):
    """``with control_dependencies([update]):`` ops built inside run after ``update`` (default graph)."""
    return target_graph().control_dependencies(control_inputs)


class Variable(_Variable):
    """A variable of a compat.v1 graph: the graph holds its ops, each Session holds its own value.

    Builds TF1's ops: ``v`` (its value), ``v/initial_value``, ``v/Assign`` (``v.initializer``) and
    ``v/read`` for uses. It has no value until a session runs its initializer (or restores it).
    """
    __slots__ = ("_graph", "_value_op", "initializer", "initial_value")
    __hash__ = object.__hash__  # hashable, as TF1 variables are

    # TF1 graph mode compares variables by identity (``assert v1 == v`` after a reuse, ``v in var_list``);
    # tf.equal(v, w) is the elementwise comparison.
    def __eq__(self, other):
        return self is other

    def __ne__(self, other):
        return self is not other

    def __init__(self, initial_value=None, trainable=True, name=None, dtype=None, **unused_tf1_options):
        if initial_value is None:
            raise InvalidArgumentError("compat.v1.Variable needs an initial_value")
        graph = self._graph = target_graph()
        dtype = as_dtype_arg(dtype)
        with graph.as_default(), graph.name_scope(name or "Variable") as scope:
            value = initial_value() if callable(initial_value) else initial_value
            if not hasattr(value, "_trace") and not getattr(value, "_is_variable", False):
                value = convert_to_tensor(value, dtype, what="initial_value")
            if dtype is not None and value.dtype is not dtype:
                value = OPS["cast"].bind(value, dtype=dtype)
            if type(value) is EagerTensor:
                init = graph.constant(value._value, "initial_value")._id
            else:
                init = graph.node_id(value, "initial_value")
            init_tensor = graph._ops[init].outputs[0]
            if not init_tensor.shape.is_fully_defined():
                raise InvalidArgumentError(f"variable {scope[:-1]}: the initial value's shape {init_tensor.shape} "
                                           f"must be fully defined")
            self._ref = VarRef(new_variable_id(), scope[:-1], TensorType(tuple(init_tensor.shape), init_tensor.dtype))
            graph._variable_ids.add(self._ref.id)
            self.trainable = bool(trainable)
            self.initial_value = init_tensor
            with ScopeOf(graph, ""):
                self._value_op = graph.add_op("read_variable", OPS["read_variable"], (), {"var": self._ref},
                                              self._ref.type, name=self._ref.name, exact_name=True,
                                              loc=user_location())
            self.initializer = graph.apply(OPS["assign_variable"], [init_tensor],
                                           {"var": self._ref, "mode": "assign"}, "Assign").op
        graph._last_read[self._ref.id] = self._value_op._id
        graph.variables.append(self)

    # -- facts (TF1 names: the variable's tensor is "v:0", its op "v") --
    name = property(lambda self: f"{self._ref.name}:0")
    op = property(lambda self: self._value_op)
    graph = property(lambda self: self._graph)
    _graph_value = property(lambda self: self._value_op.outputs[0])

    def read_value(self):
        if _traced_inside(self._graph):   # in a control-flow branch or loop body: read there, in program order
            return OPS["read_variable"].bind(var=self._ref)
        return self._graph.read_variable(self)

    value = read_value
    _as_tensor = read_value

    def numpy(self):
        self._graph_value._no_value("reading", "")

    def eval(self, session=None):
        return _session_for(self._graph_value, session).run(self)

    def load(self, value, session=None):
        """Sets the variable's value in ``session`` (default: the default session), without an op."""
        _session_for(self._graph_value, session).load_variable(self, value)

    # -- assignments are ops: running one assigns and returns the new value --
    def _assign_op(self, value, mode, name):
        if not (hasattr(value, "_trace") or getattr(value, "_is_variable", False)):
            value = convert_to_tensor(value, self.dtype, what=f"the value assigned to {self._ref.name}")
        if _traced_inside(self._graph):   # in a control-flow branch or loop body: an assignment of that subgraph
            return OPS["assign_variable"].bind(value, var=self._ref, mode=mode)
        return self._graph.apply(OPS["assign_variable"], [value], {"var": self._ref, "mode": mode}, name)

    def assign(self, value, use_locking=None, name=None, read_value=True):
        return self._assign_op(value, "assign", name or "Assign")

    def assign_add(self, delta, use_locking=None, name=None, read_value=True):
        return self._assign_op(delta, "add", name or "AssignAdd")

    def assign_sub(self, delta, use_locking=None, name=None, read_value=True):
        return self._assign_op(delta, "sub", name or "AssignSub")

    def __repr__(self):
        return f"<gj.compat.v1.Variable '{self.name}' shape={self.shape} dtype={self.dtype.name}>"


Graph.variable_class = Variable


def assign(ref, value, use_locking=None, validate_shape=None, name=None):
    """An op that sets variable ``ref`` to ``value`` and yields the new value when run."""
    return _v1_variable(ref, "assign").assign(value, name=name)


def assign_add(ref, value, use_locking=None, name=None):
    return _v1_variable(ref, "assign_add").assign_add(value, name=name)


def assign_sub(ref, value, use_locking=None, name=None):
    return _v1_variable(ref, "assign_sub").assign_sub(value, name=name)


def _v1_variable(ref, what):
    if not isinstance(ref, Variable):
        raise InvalidArgumentError(f"{what}: ref must be a gj.compat.v1.Variable, got {type(ref).__name__}")
    return ref


def global_variables(scope=None):
    """The default graph's variables (those whose name starts with ``scope``, when given)."""
    return [v for v in target_graph().variables if scope is None or v._ref.name.startswith(scope)]


def trainable_variables(scope=None):
    return [v for v in global_variables(scope) if v.trainable]


def variables_initializer(var_list, name="init"):
    """One op that runs the initializers of ``var_list``."""
    var_list = list(var_list)
    graph = var_list[0]._graph if var_list else target_graph()
    return group(*[v.initializer for v in var_list], name=name, graph=graph)


def global_variables_initializer():
    """One op that initializes every variable of the default graph (``init``)."""
    return variables_initializer(global_variables(), name="init")


def group(*inputs, name=None, graph=None):
    """An op with no output that runs all of ``inputs`` (ops or tensors)."""
    ops = [i.op if isinstance(i, GraphTensor) else i for i in inputs]
    graph = graph or (ops[0].graph if ops else target_graph())
    for op in ops:
        graph.as_graph_element(op, "group input")
    return graph.add_op("no_op", None, (), {}, None, name=name or "group_deps", control_inputs=ops,
                        loc=user_location())


def no_op(name=None):
    return group(name=name or "NoOp")


def set_random_seed(seed):
    """The default graph's seed: sessions on it draw the same random numbers in every run sequence."""
    target_graph().seed = seed


def disable_eager_execution():
    """TF1 mode: ops built outside any ``as_default`` go to the default graph (as in TF1 programs)."""
    context.set_fallback(get_default_graph)


def enable_eager_execution():
    context.set_fallback(None)


def executing_eagerly():
    return context.executing_eagerly()
