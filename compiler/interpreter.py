"""The reference interpreter: evaluates each node with its op's eager implementation, in order.

It is deliberately simple: every compiled backend is tested against it.
"""
import numpy as np

from graphjit.tracer.errors import InternalError, InvalidArgumentError
from graphjit.tracer.ir import Graph, TupleType
from graphjit.tracer.op_errors import run_eager
from graphjit.tracer.registry import OPS
from graphjit.tracer.subgraphs import uses_variables

from .backend import Backend, Executable, register_backend


class InterpretedGraph(Executable):
    def __init__(self, graph):
        self.graph = graph
        self.steps = []
        for n in graph.nodes:
            op = OPS.get(n.op)   # ('input' has no Op)
            self.steps.append((op, eager_attrs(op, n), n))
        # Graphs that read or write variables (their subgraphs included) run under the state's lock (one atomic
        # update per call, as compiled)
        self.locks_state = uses_variables(graph)

    def _run(self, state, arrays):
        values = [None] * len(self.steps)
        inputs = iter(arrays)
        for i, (op, attrs, node) in enumerate(self.steps):
            if node.op == "input":
                values[i] = next(inputs)
                continue
            values[i] = run_node(op, node, attrs, state, [values[j] for j in node.inputs])
        return [values[i] for i in self.graph.outputs]


def eager_attrs(op, node):
    """The node's attributes as its op's eager code takes them (see ``bind_subgraphs``)."""
    return bind_subgraphs(op, node.attr_dict)


def bind_subgraphs(op, attrs, state=None):
    """``attrs`` with each subgraph the op names (``Op.subgraphs``) replaced by a ``SubgraphRunner``: a function
    running it on this interpreter, arrays in and a list of arrays out, with ``state`` for the variables and
    random draws inside (``run_node`` gives each call the state of the run). A subgraph op thus runs, eagerly and
    wherever a backend runs it as an eager step, with its body interpreted."""
    if op is None or not op.subgraphs:
        return attrs
    bound = dict(attrs)
    for name in op.subgraphs:
        sub = attrs.get(name)
        if not isinstance(sub, Graph):
            raise InvalidArgumentError(f"{op.name}: attribute {name} must be a graph, got {type(sub).__name__}")
        bound[name] = SubgraphRunner(InterpretedGraph(sub), state)
    return bound


class SubgraphRunner:
    """``runner(*arrays) -> list of arrays``: one subgraph of a node, interpreted with the run's ``state``."""
    __slots__ = ("executable", "state")

    def __init__(self, executable, state):
        self.executable, self.state = executable, state

    graph = property(lambda self: self.executable.graph)

    def __call__(self, *arrays):
        return self.executable.run(self.state, arrays)

    def with_state(self, state):
        return self if state is self.state else SubgraphRunner(self.executable, state)


def run_node(op, node, attrs, state, args):
    """One node through its op's eager implementation, with errors naming the op and the user's line.
    Shared by this interpreter and the compiled backend's eager steps between compiled stages."""
    if op is not None and op.subgraphs:   # the subgraphs run with this run's state (variables, random draws)
        attrs = {k: v.with_state(state) if type(v) is SubgraphRunner else v for k, v in attrs.items()}
    return check_result(node, run_eager(op, state, args, attrs, node.loc))


def check_result(node, out):
    """Eager implementations must produce exactly the inferred type; anything else is a graphjit bug. A node of
    several results (a TupleType) gives a tuple of arrays."""
    if isinstance(node.type, TupleType):
        out = tuple(out)
        if len(out) != len(node.type.types):
            raise InternalError(f"op {node.op} produced {len(out)} results but its rule says {node.type}")
        return tuple(_checked(node, value, t) for value, t in zip(out, node.type.types))
    return _checked(node, out, node.type)


def _checked(node, out, expected):
    if type(out) is not np.ndarray:
        out = np.asarray(out)
    if out.shape != expected.shape or out.dtype != expected.dtype.np:
        raise InternalError(f"op {node.op} produced {out.dtype}{list(out.shape)} but its rule says {expected}")
    return out


class InterpreterBackend(Backend):
    name = "interpreter"

    def compile(self, graph):
        return InterpretedGraph(graph)


register_backend(InterpreterBackend())
