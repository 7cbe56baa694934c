"""Constant folding: a pure node whose inputs are all constants becomes a constant, when its result is
small (``max_elements``); large results (``zeros([4096, 4096])``) stay ops, so no huge constant is
materialised. Evaluation uses the op's own eager implementation, so folding cannot change a result."""
import numpy as np

from graphjit.tracer.errors import GraphjitError
from graphjit.tracer.ir import Const, TensorType
from graphjit.tracer.registry import OPS
from graphjit.tracer.op_errors import run_eager
from graphjit.tracer.shapes import num_elements
from graphjit.tracer.symbolic import shape_is_symbolic

from ..interpreter import eager_attrs
from .rebuild import Rebuilder, is_effectful, recursive, typed_node

MAX_FOLDED_ELEMENTS = 4096


@recursive
def fold_constants(graph, max_elements=MAX_FOLDED_ELEMENTS):
    rebuilt = Rebuilder(graph)
    values = {}  # new id -> ndarray, for constant nodes of the new graph
    changed = False
    for i, node in enumerate(graph.nodes):
        new_id = rebuilt.copy(i)
        if node.op == "constant":
            values[new_id] = node.attr("value").value
            continue
        if (node.op == "input" or is_effectful(node) or not isinstance(node.type, TensorType)
                or shape_is_symbolic(node.type.shape)   # (its size is known per run only)
                or num_elements(node.type.shape) > max_elements):   # (a node of several results is no constant)
            continue
        args = [values.get(j) for j in rebuilt.nodes[new_id].inputs]
        if any(a is None for a in args):
            continue
        result = _evaluate(node, args)
        if result is None:
            continue
        # typed by the constant's rule; _evaluate kept only a result of exactly the node's type
        rebuilt.nodes[new_id] = typed_node(rebuilt.nodes, "constant", (), node.loc, value=Const(result))
        values[new_id] = result
        changed = True
    return rebuilt.finish() if changed else graph


def _evaluate(node, args):
    """The node's value, or None when evaluating fails (the error then surfaces when the graph runs)."""
    try:
        with np.errstate(all="ignore"):
            out = np.asarray(run_eager(OPS[node.op], None, args, eager_attrs(OPS[node.op], node), node.loc))
    except GraphjitError:  # run_eager raises nothing else for what an op's code refuses
        return None
    if out.shape != tuple(node.type.shape) or out.dtype != node.type.dtype.np:
        return None
    return out
