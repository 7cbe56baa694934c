"""A ``cond`` whose predicate is a constant (often after constant folding) becomes the branch it takes: the
branch's nodes are inlined in its place, fed by the node's operands, and each ``tuple_get`` of the cond becomes the
branch output it reads. Branches with side effects are left as they are (their effects keep their place in the
chain as the cond node)."""
from graphjit.tracer.ir import replay
from graphjit.tracer.subgraphs import has_effects

from .rebuild import Rebuilder, recursive


def _taken(graph, node):
    """(branch graph, its operand ids) of a cond with a constant predicate and pure branches, else None."""
    if node.op != "cond":
        return None
    pred = graph.nodes[node.inputs[0]]
    true, false = node.attr("true_branch"), node.attr("false_branch")
    if pred.op != "constant" or has_effects(true) or has_effects(false):
        return None
    split = 1 + len(true.inputs)
    return (true, node.inputs[1:split]) if bool(pred.attr("value").value) else (false, node.inputs[split:])


@recursive
def inline_known_branches(graph):
    taken = {i: found for i, node in enumerate(graph.nodes) if (found := _taken(graph, node)) is not None}
    if not taken:
        return graph
    rebuilt = Rebuilder(graph)
    outputs = {}   # old id of an inlined cond -> new ids of its branch's outputs
    for i, node in enumerate(graph.nodes):
        if i in taken:
            branch, operands = taken[i]
            fed = {b: rebuilt.mapping[j] for b, j in zip(branch.inputs, operands)}
            inlined = replay(branch, lambda n, inputs, deps: rebuilt.emit(n, inputs, deps), inputs=fed)
            outputs[i] = [inlined[k] for k in branch.outputs]
        elif node.op == "tuple_get" and node.inputs[0] in outputs:
            rebuilt.alias(i, outputs[node.inputs[0]][node.attr("index")])
        else:
            rebuilt.copy(i)
    return rebuilt.finish()
