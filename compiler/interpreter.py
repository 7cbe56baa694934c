"""The reference interpreter: evaluates each node with its op's eager implementation, in order.

It is deliberately simple: every compiled backend is tested against it.
"""
import numpy as np

from graphjit.tracer.errors import InternalError, InvalidArgumentError, UnimplementedError
from graphjit.tracer.ir import Graph
from graphjit.tracer.op_errors import run_eager
from graphjit.tracer.registry import OPS
from graphjit.tracer.subgraphs import has_effects

from .backend import Backend, Executable, register_backend


class InterpretedGraph(Executable):
    def __init__(self, graph):
        self.graph = graph
        self.steps = []
        for n in graph.nodes:
            op = OPS.get(n.op)   # ('input' has no Op)
            self.steps.append((op, eager_attrs(op, n), n))
        # Graphs that read or write variables run under the state's lock (one atomic update per call, as compiled)
        self.locks_state = any(n.op in _VARIABLE_OPS for n in graph.nodes)

    def _run(self, state, arrays):
        values = [None] * len(self.steps)
        inputs = iter(arrays)
        for i, (op, attrs, node) in enumerate(self.steps):
            if node.op == "input":
                values[i] = next(inputs)
                continue
            values[i] = run_node(op, node, attrs, state, [values[j] for j in node.inputs])
        return [values[i] for i in self.graph.outputs]


_VARIABLE_OPS = frozenset({"read_variable", "assign_variable"})


def eager_attrs(op, node):
    """The node's attributes as its op's eager code takes them (see ``bind_subgraphs``)."""
    return bind_subgraphs(op, node.attr_dict)


def bind_subgraphs(op, attrs):
    """``attrs`` with each subgraph the op names (``Op.subgraphs``) replaced by a function running it on this
    interpreter, arrays in and a list of arrays out. (A subgraph op thus runs, on every backend and eagerly, as an
    eager step whose body is interpreted: no backend compiles subgraphs yet.)"""
    if op is None or not op.subgraphs:
        return attrs
    bound = dict(attrs)
    for name in op.subgraphs:
        sub = attrs.get(name)
        if not isinstance(sub, Graph):
            raise InvalidArgumentError(f"{op.name}: attribute {name} must be a graph, got {type(sub).__name__}")
        bound[name] = _subgraph_runner(sub)
    return bound


def _subgraph_runner(graph):
    if has_effects(graph):
        raise UnimplementedError(f"subgraph {graph.name} has side effects (variables, prints or random draws): "
                                 f"running those inside a node's subgraph is not supported yet")
    executable = InterpretedGraph(graph)

    def run(*arrays):
        return executable.run(None, arrays)
    run.graph = graph
    return run


def run_node(op, node, attrs, state, args):
    """One node through its op's eager implementation, with errors naming the op and the user's line.
    Shared by this interpreter and the compiled backend's eager steps between compiled stages."""
    return check_result(node, run_eager(op, state, args, attrs, node.loc))


def check_result(node, out):
    """Eager implementations must produce exactly the inferred type; anything else is a graphjit bug."""
    if type(out) is not np.ndarray:
        out = np.asarray(out)
    if out.shape != node.type.shape or out.dtype != node.type.dtype.np:
        raise InternalError(f"op {node.op} produced {out.dtype}{list(out.shape)} but its rule says {node.type}")
    return out


class InterpreterBackend(Backend):
    name = "interpreter"

    def compile(self, graph):
        return InterpretedGraph(graph)


register_backend(InterpreterBackend())
