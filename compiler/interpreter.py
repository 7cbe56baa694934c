"""The reference interpreter: evaluates each node with its op's eager implementation, in order.

It is deliberately simple: every compiled backend is tested against it.
"""
import numpy as np

from graphjit.tracer.errors import InternalError
from graphjit.tracer.op_errors import run_eager
from graphjit.tracer.registry import OPS

from .backend import Backend, Executable, register_backend


class InterpretedGraph(Executable):
    def __init__(self, graph):
        self.graph = graph
        self.steps = [(OPS.get(n.op), n.attr_dict, n) for n in graph.nodes]  # 'input' has no Op
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
