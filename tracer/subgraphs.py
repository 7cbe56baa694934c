"""Nodes that hold graphs. An op names its Graph-valued attributes in ``Op.subgraphs``; these helpers are the
one way the compiler reaches them, so every pass, functionalize and the executors treat nested graphs alike
(cond's branches and while_loop's cond and body plug in here without new code in the passes)."""
from .errors import InternalError
from .ir import Graph, Node, make_attrs, replay
from .registry import OPS
from .tensor import EagerTensor


def subgraphs_of(node):
    """``((attr name, Graph), ...)`` for the graphs ``node``'s op names in ``Op.subgraphs`` (empty for most)."""
    op = OPS.get(node.op)
    if op is None or not op.subgraphs:
        return ()
    return subgraphs_of_attrs(op, node.attr_dict)


def subgraphs_of_attrs(op, attrs):
    """``subgraphs_of`` for a node about to be built: ``op``'s Graph-valued attributes among ``attrs``."""
    found = []
    for name in op.subgraphs:
        value = attrs.get(name)
        if not isinstance(value, Graph):
            raise InternalError(f"op {op.name} names {name!r} in Op.subgraphs, but the node's {name} is "
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


def node_has_effects(node):
    """Whether ``node`` is effectful: ordered behind another effect, stateful, or holding a subgraph that is."""
    op = OPS.get(node.op)
    return bool(node.deps) or (op is not None and op.stateful) or any(has_effects(g) for _, g in subgraphs_of(node))


def has_effects(graph):
    """Whether any node of ``graph`` (or of its subgraphs, at any depth) is effectful."""
    return any(node_has_effects(node) for node in graph.nodes)


def nodes_within(graph):
    """Every node of ``graph`` and of its subgraphs, at any depth."""
    for node in graph.nodes:
        yield node
        for _, sub in subgraphs_of(node):
            yield from nodes_within(sub)


def uses_variables(graph):
    """Whether ``graph`` (or a subgraph of it, at any depth) reads or writes a variable."""
    return any(node.op in ("read_variable", "assign_variable") for node in nodes_within(graph))


def call_graph(graph, inputs):
    """``graph``'s outputs computed from ``inputs`` (tensors, one per graph input) by applying its nodes' ops in
    the current context: eagerly, recorded into a trace, through a gradient tape. The way a traced graph is run
    op by op (a gradient tape replaying a function; a gradient rule recomputing a branch or a loop body).
    A node of several results gives a list of tensors (``Op.bind``), which its ``tuple_get`` nodes index."""
    def emit(node, args, _deps):
        if node.op == "constant":
            return EagerTensor(node.attr("value").value)
        if node.op == "tuple_get":
            return args[0][node.attr("index")]
        return OPS[node.op].bind(*args, **dict(node.attrs))
    given = {i: inputs[k] for k, i in enumerate(graph.inputs)}
    values = replay(graph, emit, inputs=given)
    return [values[i] for i in graph.outputs]
