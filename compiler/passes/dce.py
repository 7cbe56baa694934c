"""Dead-code elimination: drop pure nodes no output needs. Effectful nodes (variable reads and writes,
prints, random draws) and graph inputs always stay, in their order."""
from graphjit.tracer.registry import OPS

from .rebuild import Rebuilder, is_effectful, recursive


@recursive
def eliminate_dead_code(graph):
    live = set(graph.outputs) | set(graph.inputs)
    live.update(i for i, n in enumerate(graph.nodes) if is_effectful(n, OPS))
    for i in range(len(graph.nodes) - 1, -1, -1):  # inputs always precede users
        if i in live:
            node = graph.nodes[i]
            live.update(node.inputs)
            live.update(node.deps)
    if len(live) == len(graph.nodes):
        return graph
    rebuilt = Rebuilder(graph)
    rebuilt.replay(sorted(live))
    return rebuilt.finish()
