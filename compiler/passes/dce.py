"""Dead-code elimination: drop pure nodes no output needs. Effectful nodes (variable reads and writes,
prints, random draws) and graph inputs always stay, in their order."""
from graphjit.tracer.ir import ancestors, node_parents

from .rebuild import Rebuilder, is_effectful, recursive


@recursive
def eliminate_dead_code(graph):
    roots = [*graph.outputs, *graph.inputs, *(i for i, n in enumerate(graph.nodes) if is_effectful(n))]
    live = ancestors(roots, node_parents(graph.nodes))
    if len(live) == len(graph.nodes):
        return graph
    rebuilt = Rebuilder(graph)
    rebuilt.replay(sorted(live))
    return rebuilt.finish()
