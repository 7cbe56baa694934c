"""Common-subexpression elimination by hash-consing: two pure nodes with the same op, inputs,
attributes and type are one node. Constants merge by content. Effectful nodes are never merged."""

from .rebuild import Rebuilder, is_effectful, recursive


@recursive
def eliminate_common_subexpressions(graph):
    rebuilt = Rebuilder(graph)
    seen = {}
    changed = False
    for i, node in enumerate(graph.nodes):
        if node.op == "input" or is_effectful(node):
            rebuilt.copy(i)
            continue
        key = (node.op, tuple(rebuilt.mapping[j] for j in node.inputs), node.attrs, node.type)
        found = seen.get(key)
        if found is None:
            seen[key] = rebuilt.copy(i)
        else:
            rebuilt.alias(i, found)
            changed = True
    return rebuilt.finish() if changed else graph
