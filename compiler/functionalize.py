"""Turns a graph's side effects into dataflow, so the rest of the compiler sees a pure graph.

Variable reads become extra graph inputs (fed from the runtime state), writes become values
(``assign_add`` is ``add(old, delta)``) whose final versions are written back after the run, and
``print`` nodes become extra outputs printed, in order, after the run. Random draws stay as nodes:
they run in Python against the runtime's generator (see ``schedule``).
"""
from dataclasses import dataclass

from graphjit.tracer.errors import UnimplementedError
from graphjit.tracer.ir import Graph, Node, replay
from graphjit.tracer.registry import OPS
from graphjit.tracer.subgraphs import with_subgraphs

from .passes.rebuild import typed_node

_COMBINE = {"add": "add", "sub": "subtract"}


@dataclass(frozen=True)
class Effects:
    variable_inputs: tuple   # (VarRef, graph input position)
    variable_outputs: tuple  # (VarRef, graph output position): final values to write back
    prints: tuple            # (print attrs dict, graph output positions of its tensors)
    result_count: int        # the first outputs are the function's results


def functionalize(graph):
    nodes = []
    inputs = []
    current = {}       # var id -> new node id holding its current value
    refs = {}          # var id -> VarRef
    var_inputs = []
    prints = []
    last_draw = None

    def add(node):
        nodes.append(node)
        return len(nodes) - 1

    def value_of(ref):
        if ref.id not in current:
            node_id = add(Node("input", (), (("index", len(graph.inputs) + len(var_inputs)),), ref.type))
            var_inputs.append((ref, node_id))
            current[ref.id] = node_id
            refs[ref.id] = ref
        return current[ref.id]

    def emit(node, new_inputs, _deps):   # (effect order is rebuilt here: random draws chain to each other)
        nonlocal last_draw
        if node.op == "read_variable":
            return value_of(node.attr("var"))
        if node.op == "assign_variable":
            ref, mode = node.attr("var"), node.attr("mode")
            value = new_inputs[0]
            if mode != "assign":
                value = add(typed_node(nodes, _COMBINE[mode], (value_of(ref), value), node.loc))
            current[ref.id] = value
            refs[ref.id] = ref
            return value
        if node.op == "print":
            prints.append((node.attr_dict, list(new_inputs)))
            return None
        # pure ops, inputs, and random draws (which stay chained to each other, in order)
        deps = (last_draw,) if node.deps and last_draw is not None else ()
        node = with_subgraphs(node, _pure_subgraph)
        new = add(Node(node.op, new_inputs, node.attrs, node.type, deps, node.loc))
        if node.op == "input":
            inputs.append(new)
        elif OPS[node.op].stateful:
            last_draw = new
        return new
    mapping = replay(graph, emit)
    results = [mapping[i] for i in graph.outputs]
    written = [(refs[v], node_id) for v, node_id in current.items()
               if not any(ref.id == v and node_id == n for ref, n in var_inputs)]
    outputs = list(results) + [n for _, n in written]
    print_positions = []
    for attrs, ids in prints:
        print_positions.append((attrs, tuple(range(len(outputs), len(outputs) + len(ids)))))
        outputs.extend(ids)
    pure = Graph(tuple(nodes), tuple(inputs) + tuple(n for _, n in var_inputs), tuple(outputs), graph.name)
    effects = Effects(tuple((ref, len(graph.inputs) + k) for k, (ref, _) in enumerate(var_inputs)),
                      tuple((ref, len(results) + k) for k, (ref, _) in enumerate(written)),
                      tuple(print_positions), len(results))
    return pure, effects


def _pure_subgraph(graph):
    """A node's subgraph, functionalized as well; its effects would have to cross into the enclosing graph, which
    no subgraph op needs yet (cond and while bring that)."""
    pure, effects = functionalize(graph)
    if effects.variable_inputs or effects.variable_outputs or effects.prints:
        raise UnimplementedError(f"subgraph {graph.name} reads or writes variables or prints: side effects inside "
                                 f"a node's subgraph are not supported yet")
    return graph if pure == graph else pure
