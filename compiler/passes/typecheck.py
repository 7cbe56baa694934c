"""The check after the pipeline: every node's attributes fit its op's schema, its type is what its op's rule
gives for its inputs, inputs and effect dependencies refer to earlier nodes, and effectful nodes keep one
chain."""
from graphjit.tracer.errors import InternalError, InvalidArgumentError
from graphjit.tracer.ir import same_type
from graphjit.tracer.registry import OPS
from graphjit.tracer.subgraphs import subgraphs_of

from .rebuild import is_effectful


def check_graph(graph):
    """Returns ``graph`` unchanged, or raises InternalError describing the first inconsistency."""
    for i, node in enumerate(graph.nodes):
        for j in node.inputs + node.deps:
            if not 0 <= j < i:
                raise InternalError(f"%{i} ({node.op}) refers to %{j}, which does not come before it")
        if node.op == "input":
            continue
        op = OPS.get(node.op)
        if op is None:
            raise InternalError(f"%{i} uses unknown op {node.op!r}")
        try:
            op.check_attrs(node.attr_dict)
        except InvalidArgumentError as err:  # a pass built this node: graphjit's bug, not the user's
            raise InternalError(f"%{i} ({node.op}): {err}") from None
        for _, sub in subgraphs_of(node):   # a subgraph's nodes are checked as the graph's own
            check_graph(sub)
        inferred = op.infer(*(graph.nodes[j].type for j in node.inputs), **node.attr_dict)
        if not same_type(inferred, node.type):
            raise InternalError(f"%{i} ({node.op}) is typed {node.type} but its rule gives {inferred}")
    effects = [i for i, n in enumerate(graph.nodes) if is_effectful(n)]
    for earlier, later in zip(effects, effects[1:]):
        if earlier not in graph.nodes[later].deps:
            raise InternalError(f"effect order broken: %{later} ({graph.nodes[later].op}) does not follow %{earlier}")
    for i in graph.outputs:
        if not 0 <= i < len(graph.nodes):
            raise InternalError(f"output %{i} does not exist")
    return graph
