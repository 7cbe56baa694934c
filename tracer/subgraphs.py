"""Nodes that hold graphs. An op names its Graph-valued attributes in ``Op.subgraphs``; these helpers are the
one way the compiler reaches them, so every pass, functionalize and the executors treat nested graphs alike
(cond's branches and while's body, next, plug in here without new code in the passes)."""
from .errors import InternalError
from .ir import Graph, Node, make_attrs
from .registry import OPS


def subgraphs_of(node):
    """``((attr name, Graph), ...)`` for the graphs ``node``'s op names in ``Op.subgraphs`` (empty for most)."""
    op = OPS.get(node.op)
    if op is None or not op.subgraphs:
        return ()
    attrs = node.attr_dict
    found = []
    for name in op.subgraphs:
        value = attrs.get(name)
        if not isinstance(value, Graph):
            raise InternalError(f"op {node.op} names {name!r} in Op.subgraphs, but the node's {name} is "
                                f"{type(value).__name__}, not a Graph")
        found.append((name, value))
    return tuple(found)


def with_subgraphs(node, fn):
    """``node`` with each of its subgraphs ``g`` replaced by ``fn(g)``; ``node`` itself when none changes."""
    found = subgraphs_of(node)
    if not found:
        return node
    attrs, changed = node.attr_dict, False
    for name, sub in found:
        new = fn(sub)
        if new is not sub:
            attrs[name], changed = new, True
    return Node(node.op, node.inputs, make_attrs(attrs), node.type, node.deps, node.loc) if changed else node


def map_subgraphs(graph, fn):
    """``graph`` with every node's subgraphs replaced by ``fn`` of them (``graph`` itself when none changes)."""
    nodes = None
    for i, node in enumerate(graph.nodes):
        op = OPS.get(node.op)
        if op is None or not op.subgraphs:   # (most nodes: this loop runs in every pass of every compile)
            continue
        new = with_subgraphs(node, fn)
        if new is not node:
            nodes = nodes or list(graph.nodes)
            nodes[i] = new
    return graph if nodes is None else Graph(tuple(nodes), graph.inputs, graph.outputs, graph.name)


def has_effects(graph):
    """Whether any node of ``graph`` (or of its subgraphs, at any depth) is effectful."""
    for node in graph.nodes:
        op = OPS.get(node.op)
        if node.deps or (op is not None and op.stateful) or any(has_effects(g) for _, g in subgraphs_of(node)):
            return True
    return False
