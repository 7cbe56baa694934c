"""Building a new graph from an old one: passes emit nodes in order and map old ids to new ones."""
import functools

from graphjit.tracer.ir import Graph, Node, make_attrs, replay
from graphjit.tracer.registry import OPS
from graphjit.tracer.subgraphs import map_subgraphs
# Effectful nodes (a node whose subgraph has effects among them) are never dropped, merged or folded.
from graphjit.tracer.subgraphs import node_has_effects as is_effectful  # noqa: F401


def recursive(graph_pass):
    """``graph_pass`` (Graph -> Graph) that first runs on every subgraph its nodes hold (``Op.subgraphs``, at any
    depth), then on the graph itself: every pass optimizes the bodies of the nodes it sees as well."""
    @functools.wraps(graph_pass)
    def run(graph, *args, **kwargs):
        return graph_pass(map_subgraphs(graph, lambda sub: run(sub, *args, **kwargs)), *args, **kwargs)
    return run


def typed_node(nodes, op_name, inputs, loc=None, **attrs):
    """A new ``op_name`` node on ``inputs`` (ids into ``nodes``), its attributes checked against the op's schema
    and its type given by the op's own rule."""
    OPS[op_name].check_attrs(attrs, loc)
    out_type = OPS[op_name].infer_checked([nodes[i].type for i in inputs], attrs, loc)
    return Node(op_name, tuple(inputs), make_attrs(attrs), out_type, (), loc)


class Rebuilder:
    """Emits nodes into a fresh list; ``mapping[old_id]`` is the new id that replaces an old node."""

    def __init__(self, graph):
        self.graph = graph
        self.nodes = []
        self.mapping = {}

    def emit(self, node, inputs=None, deps=None):
        """Appends ``node`` with (already new) ``inputs`` and ``deps``; returns its new id."""
        inputs = tuple(self.mapping[i] for i in node.inputs) if inputs is None else tuple(inputs)
        deps = tuple(self.mapping[i] for i in node.deps if i in self.mapping) if deps is None else tuple(deps)
        self.nodes.append(Node(node.op, inputs, node.attrs, node.type, deps, node.loc))
        return len(self.nodes) - 1

    def add(self, op_name, inputs, loc=None, **attrs):
        """Appends a new ``op_name`` node on (already new) ``inputs``; its type comes from the op's own rule,
        so a rewrite cannot give a node a type its op would not. Returns its new id."""
        self.nodes.append(typed_node(self.nodes, op_name, inputs, loc, **attrs))
        return len(self.nodes) - 1

    def replay(self, old_ids=None):
        """Copies the old nodes ``old_ids`` (ascending; all when None) as they are."""
        self.mapping = replay(self.graph, lambda node, inputs, deps: self.emit(node, inputs, deps), self.mapping,
                              old_ids)

    def copy(self, old_id):
        self.mapping[old_id] = self.emit(self.graph.nodes[old_id])
        return self.mapping[old_id]

    def alias(self, old_id, new_id):
        """The old node is replaced by an existing new node."""
        self.mapping[old_id] = new_id

    def finish(self):
        g = self.graph
        inputs = tuple(self.mapping[i] for i in g.inputs)
        return Graph(tuple(self.nodes), inputs, tuple(self.mapping[i] for i in g.outputs), g.name)

