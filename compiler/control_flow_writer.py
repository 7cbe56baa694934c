"""The CPU backend's control-flow kernels: a cond or while_loop whose subgraphs compute scalars
(``fusion.scalar_control_flow``) written as real ``if``/``else`` and ``while`` statements over scalar variables,
inlined into the stage's Numba entry (so a loop of a million iterations is one compiled call). The node's inputs
are read from their buffers (or inlined as literals), each subgraph node is its op's scalar rule rendered by
``compiler.scalar_numba`` (the same text the elementwise loops use), nested control flow nests, and each
``tuple_get`` member of the group is written to its one-element buffer. ``StageWriter`` (codegen) inherits this.
Control flow over arrays is written by compiler.control_flow_stages."""
from graphjit.tracer.registry import OPS

from .control_flow_stages import write_array_control_flow
from .fusion import scalar_control_flow
from .scalar_numba import literal


def _indented(lines):
    return ["    " + line for line in lines]


class ControlFlowWriter:
    """Mixin of ``codegen.StageWriter``: the ``cond`` and ``while_loop`` kernels."""

    def control_flow(self, group):
        node_id, results = group.members[0], group.members[1:]
        node = self._node(node_id)
        if not scalar_control_flow(node):   # over arrays: sub-entries in branches and loops
            return write_array_control_flow(self, group)
        buffers, args, body = [], [], []
        for k, (buffer, _) in enumerate(group.operands):
            lit = self._literal_of(buffer)
            if lit is None:   # read once, before any loop
                buffers.append(self.plan.resolve(buffer))
                body.append(f"c{node_id}_a{k} = b{buffers[-1]}[0]")
                args.append(f"c{node_id}_a{k}")
            else:
                args.append(lit)
        lines, outputs = self._scalar_node(node, args, f"c{node_id}")
        body += lines
        for m in results:
            body.append(f"b{m}[0] = {outputs[self._node(m).attr('index')]}")
        self._function(node.op, buffers + results, body, parallel=False, group=group)

    def _scalar_node(self, node, args, prefix):
        """(lines, names of its results) of a cond or while_loop node on the scalar expressions ``args``."""
        if node.op == "cond":
            return self._scalar_cond(node, args, prefix)
        return self._scalar_while(node, args, prefix)

    def _scalar_cond(self, node, args, prefix):
        true, false = node.attr("true_branch"), node.attr("false_branch")
        split = 1 + len(true.inputs)
        results = [f"{prefix}_r{k}" for k in range(len(node.type.types))]
        lines = [f"if {args[0]}:"]
        for branch, operands, tag in ((true, args[1:split], "t"), (false, args[split:], "f")):
            inner, outputs = self._scalar_graph(branch, operands, prefix + tag)
            inner += [f"{r} = {o}" for r, o in zip(results, outputs)]
            lines += _indented(inner or ["pass"])
            if tag == "t":
                lines.append("else:")
        return lines, results

    def _scalar_while(self, node, args, prefix):
        cond, body = node.attr("cond"), node.attr("body")
        n, split = len(body.outputs), len(cond.inputs)
        variables = [f"{prefix}_v{k}" for k in range(n)]
        limit = node.attr("maximum_iterations")
        lines = [f"{v} = {a}" for v, a in zip(variables, args[:n])]
        inner = []
        if limit is not None:
            lines.append(f"{prefix}_count = 0")
            inner += [f"if {prefix}_count >= {limit}:", "    break"]
        test, (holds,) = self._scalar_graph(cond, variables + args[n:split], prefix + "c")
        inner += test + [f"if not {holds}:", "    break"]
        step, outputs = self._scalar_graph(body, variables + args[split:], prefix + "b")
        inner += step + [f"{', '.join(variables)}{',' if n == 1 else ''} = {', '.join(outputs)}"]
        if limit is not None:
            inner.append(f"{prefix}_count += 1")
        return lines + ["while True:"] + _indented(inner), variables

    def _scalar_graph(self, graph, args, prefix):
        """(lines, result expressions) computing ``graph`` on the scalar expressions ``args`` (its inputs)."""
        lines, values, inputs = [], {}, iter(args)
        for i, node in enumerate(graph.nodes):
            if node.op == "input":
                values[i] = next(inputs)
            elif node.op == "constant":
                values[i] = literal(node.attr("value").value, node.type.dtype)
            elif node.op == "tuple_get":
                values[i] = values[node.inputs[0]][node.attr("index")]
            elif node.op in ("cond", "while_loop"):
                inner, values[i] = self._scalar_node(node, [values[j] for j in node.inputs], f"{prefix}_{i}")
                lines += inner
            else:
                expr = OPS[node.op].lower.expression([graph.nodes[j].type for j in node.inputs], node.type)
                lines.append(f"{prefix}_{i} = {self._scalar_source(expr, [values[j] for j in node.inputs])}")
                values[i] = f"{prefix}_{i}"
        return lines, [values[i] for i in graph.outputs]
