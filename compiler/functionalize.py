"""Turns a graph's side effects into dataflow, so the rest of the compiler sees a pure graph.

Variable reads become extra graph inputs (fed from the runtime state), writes become values
(``assign_add`` is ``add(old, delta)``) whose final versions are written back after the run, and
``print`` nodes become extra outputs printed, in order, after the run. Random draws stay as nodes, chained in
program order by their ``deps``: compiled kernels drawing from the runtime's generator (compiler.random_writer)
or eager steps, in that order.

Control flow (cond, while_loop) whose subgraphs touch variables gets them threaded through: each variable's
current value becomes an extra operand of the branches (an extra loop variable of the loop), and the values the
subgraphs leave become extra results of the node (a branch that does not write a variable passes it through).
A print inside control flow stays a node of its subgraph, printing each time it runs (compiled: a callback,
compiler.print_callback), and then every print of the graph stays a node, chained with the draws, so that the
prints keep their order.
"""
from dataclasses import dataclass

from graphjit.tracer.errors import UnimplementedError
from graphjit.tracer.ir import Graph, Node, TupleType, make_attrs, replay
from graphjit.tracer.subgraphs import node_has_effects, nodes_within, subgraphs_of, with_subgraphs

from .passes.rebuild import typed_node

_COMBINE = {"add": "add", "sub": "subtract"}


@dataclass(frozen=True)
class Effects:
    variable_inputs: tuple   # (VarRef, graph input position)
    variable_outputs: tuple  # (VarRef, graph output position): final values to write back
    prints: tuple            # (print attrs dict, graph output positions of its tensors)
    result_count: int        # the first outputs are the function's results


def functionalize(graph, keep_prints=None):
    """(pure graph, Effects). ``keep_prints``: prints stay nodes, ordered with the random draws (a subgraph's, and
    every print of a graph whose control flow prints, so that its prints keep their order); None: only then."""
    if keep_prints is None:
        keep_prints = any(inner.op == "print" for node in graph.nodes for _, sub in subgraphs_of(node)
                          for inner in nodes_within(sub))
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
        if node.op == "print" and not keep_prints:
            prints.append((node.attr_dict, list(new_inputs)))
            return None
        # pure ops, inputs, random draws and kept prints (which stay chained to each other, in order), control flow
        touched = _variables_within(node)
        if touched:   # control flow reading or writing variables: their values are threaded through it
            threader = _THREADERS.get(node.op)
            if threader is None:
                raise UnimplementedError(f"{node.op}: its subgraphs have side effects (variables), which the "
                                         f"compiled path cannot move out of an op that does not say how")
            threaded, written = threader(node, new_inputs, [value_of(r) for r in touched], touched)
            deps = (last_draw,) if node_has_effects(threaded) and last_draw is not None else ()
            new = add(Node(threaded.op, threaded.inputs, threaded.attrs, threaded.type, deps, node.loc))
            first = len(node.type.types)
            for k, ref in enumerate(written):
                current[ref.id] = add(Node("tuple_get", (new,), (("index", first + k),), ref.type, (), node.loc))
                refs[ref.id] = ref
        else:
            deps = (last_draw,) if node.deps and last_draw is not None else ()
            node = with_subgraphs(node, _pure_subgraph)
            new = add(Node(node.op, new_inputs, node.attrs, node.type, deps, node.loc))
        if node.op == "input":
            inputs.append(new)
        elif node_has_effects(nodes[new]):   # a random draw, a kept print, or control flow holding them
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
    """A node's subgraph that touches no variable, functionalized as well (its random draws and prints stay
    nodes: they run where the subgraph runs, each iteration of a loop)."""
    pure, _ = functionalize(graph, keep_prints=True)
    return graph if pure == graph else pure


# ---- variables threaded through control flow ------------------------------------------------------------------

def _variables_within(node):
    """The variables (VarRefs, by id) that ``node``'s subgraphs read or write, at any depth."""
    found = {}
    for _, sub in subgraphs_of(node):
        for inner in nodes_within(sub):
            if inner.op in ("read_variable", "assign_variable"):
                found.setdefault(inner.attr("var").id, inner.attr("var"))
    return [found[k] for k in sorted(found)]


def _written_ids(graph):
    return {n.attr("var").id for n in nodes_within(graph) if n.op == "assign_variable"}


def thread_variables(graph, refs_in, refs_out, at):
    """``graph`` functionalized, taking the values of ``refs_in`` as inputs (inserted after its first ``at``
    inputs) and returning, after its own outputs, the values of ``refs_out`` it leaves (written, or passed
    through)."""
    pure, effects = functionalize(graph, keep_prints=True)
    nodes, inputs = [], []

    def new_input(type_):
        nodes.append(Node("input", (), (("index", len(inputs)),), type_))
        inputs.append(len(nodes) - 1)
        return inputs[-1]
    own = len(graph.inputs)
    given = {pure.inputs[k]: new_input(pure.nodes[pure.inputs[k]].type) for k in range(at)}
    value_inputs = {ref.id: new_input(ref.type) for ref in refs_in}
    given.update({pure.inputs[k]: new_input(pure.nodes[pure.inputs[k]].type) for k in range(at, own)})
    given.update({pure.inputs[position]: value_inputs[ref.id] for ref, position in effects.variable_inputs})

    def emit(node, new_inputs, new_deps):
        nodes.append(Node(node.op, new_inputs, node.attrs, node.type, new_deps, node.loc))
        return len(nodes) - 1
    mapping = replay(pure, emit, inputs=given)
    left = {ref.id: mapping[pure.outputs[position]] for ref, position in effects.variable_outputs}
    outputs = [mapping[i] for i in pure.outputs[:effects.result_count]]
    outputs += [left.get(ref.id, value_inputs[ref.id]) for ref in refs_out]
    return Graph(tuple(nodes), tuple(inputs), tuple(outputs), graph.name)


def _thread_cond(node, inputs, values, touched):
    """cond: the values are extra operands of each branch; the variables either writes are extra results."""
    attrs = node.attr_dict
    true, false = attrs["true_branch"], attrs["false_branch"]
    written = [r for r in touched if r.id in _written_ids(true) | _written_ids(false)]
    split = 1 + len(true.inputs)
    attrs["true_branch"] = thread_variables(true, touched, written, len(true.inputs))
    attrs["false_branch"] = thread_variables(false, touched, written, len(false.inputs))
    new_inputs = (inputs[0], *inputs[1:split], *values, *inputs[split:], *values)
    out_type = TupleType(node.type.types + tuple(r.type for r in written))
    return Node(node.op, new_inputs, make_attrs(attrs), out_type, (), node.loc), written


def _thread_while(node, inputs, values, touched):
    """while_loop: the values are extra loop variables (so each iteration sees the last one's writes)."""
    attrs = node.attr_dict
    cond, body = attrs["cond"], attrs["body"]
    if _written_ids(cond):
        raise UnimplementedError(f"while_loop: its cond ({cond.name}) assigns a variable; assign in the body")
    n = len(body.outputs)
    split = len(cond.inputs)   # loop variables and cond's operands, then body's
    attrs["cond"] = thread_variables(cond, touched, [], n)
    attrs["body"] = thread_variables(body, touched, touched, n)
    new_inputs = (*inputs[:n], *values, *inputs[n:split], *inputs[split:])
    out_type = TupleType(node.type.types + tuple(r.type for r in touched))
    return Node(node.op, new_inputs, make_attrs(attrs), out_type, (), node.loc), touched


_THREADERS = {"cond": _thread_cond, "while_loop": _thread_while}
