"""Control flow over arrays, compiled: a cond or while_loop whose subgraphs the stage planner can compile as a
straight-line graph (elementwise loops, reductions, gemm, row and copy kernels, nested control flow) becomes real
``if`` / ``while`` statements in a Numba function of the stage, never unrolled and never a Python-level call.

Planning (backend-neutral): ``plan_subgraph`` plans each subgraph as one compiled stage of its own with the
ordinary machinery (compiler.fusion: classify, StagePlan); a subgraph with a node without a compiled form has no
plan, and the node then runs as the eager step it always was (``array_control_flow`` is the backend's test). Random
draws and prints inside are kernels of their own (compiler.random_writer), run in program order each time the
subgraph runs.

Writing (the CPU backend): each subgraph becomes its own *sub-entry*, written by a StageWriter of the subgraph
(recursively: nested control flow nests sub-entries) and called from the control-flow function, which holds the
branch or loop. Every buffer a sub-entry needs is a scratch buffer of the stage, allocated by the runner once per
call (kernels allocate nothing). Loop variables are double-buffered: the body reads ``cur`` and writes ``nxt``, and
the two are swapped after each iteration (no copy, no allocation per iteration); the loop condition is a scalar the
cond sub-entry writes. A constant array of a subgraph is a global of the generated module, copied into its
scratch buffer once per call of the function (one-element constants are literals, constants of one repeated value
fill loops; one over MAX_CONSTANT_BYTES is an argument the runner passes as it is). A variable the body returns unchanged keeps one buffer, and so does an accumulator the body
adds rows to (scatter_add: map_fn, scan), updated in place. Index checks inside (gather, take)
stop the whole kernel at the first bad index and the runner re-runs the node eagerly, which raises the op's error.
"""
import numpy as np

from graphjit.tracer.ir import TensorType, TupleType
from graphjit.tracer.shapes import num_elements
from graphjit.tracer.subgraphs import subgraphs_of

from .fusion import CONSTANT, INPUT, KERNEL, PYTHON, StagePlan, classify
from .scalar_numba import literal

# A subgraph's constant arrays are module globals of the generated source (Numba freezes them into the code),
# copied into scratch buffers before the branch or loop: up to this size; a larger one is a buffer the runner passes
# to the entry as it is (StageWriter.constant_buffer), which keeps the source and its compile small.
MAX_CONSTANT_BYTES = 1 << 16


# ---- planning -------------------------------------------------------------------------------------------------

def subgraph_kinds(graph, kernel_supported):
    """fusion.classify of each node of ``graph``; a ``tuple_get`` takes its producer's kind (computed once)."""
    kinds = {}
    for i, node in enumerate(graph.nodes):
        if node.op == "tuple_get":
            kinds[i] = KERNEL if kinds[node.inputs[0]] == KERNEL else PYTHON
        else:
            kinds[i] = classify(node, graph.nodes, kernel_supported)
    return kinds


def plan_subgraph(graph, kernel_supported):
    """The StagePlan of ``graph`` as one compiled stage whose outputs are materialised, or None when it cannot be
    one: a node that would run eagerly (random draws have kernels: see compiler.random_writer) or a value that is
    not a tensor."""
    if not all(_plain_type(n) for n in graph.nodes):
        return None
    kinds = subgraph_kinds(graph, kernel_supported)
    if PYTHON in kinds.values():
        return None
    members = [i for i in range(len(graph.nodes)) if kinds[i] not in (INPUT, CONSTANT)]
    return StagePlan(graph, kinds, members, needed_outside=set(graph.outputs))


def array_control_flow(node, kernel_supported):
    """Whether control-flow ``node`` compiles as branches and loops over arrays: every subgraph has a plan."""
    return all(isinstance(t, TensorType) for t in node.type.types) and all(
        plan_subgraph(graph, kernel_supported) is not None for _, graph in subgraphs_of(node))


def _plain_type(node):
    return isinstance(node.type, TensorType) or (isinstance(node.type, TupleType) and bool(subgraphs_of(node)))


def _uniform(constant):
    """The one value every element of ``constant`` has (bit for bit: -0.0 is not 0.0), else None. A returned
    constant is written by a fill loop (the zeros a gradient gives a branch's unused operands)."""
    raw = np.ascontiguousarray(constant.attr("value").value).reshape(-1)
    if raw.size == 0:
        return np.zeros(1, raw.dtype)
    return raw[:1] if raw.tobytes() == raw[:1].tobytes() * raw.size else None


# ---- writing (the CPU backend's StageWriter) ------------------------------------------------------------------

class _Value:
    """An array of the control-flow function (``name``), or a literal (``literal``) not yet given a buffer."""

    def __init__(self, name=None, literal=None, size=1, dtype=None):
        self.name, self.literal, self.size, self.dtype = name, literal, size, dtype

    def element(self):
        return self.literal if self.name is None else f"{self.name}[0]"


class _Emitter:
    """The body of one control-flow function: its lines, the stage buffers it uses, its index-check flags."""

    def __init__(self, writer, node_id):
        self.writer, self.node_id = writer, node_id
        self.lines, self.buffers, self.flags, self.sub_sources, self.prologue = [], [], [], [], []
        self.generators = []   # op seeds of the random generators its sub-entries draw from
        self.indent = ""

    def emit(self, line):
        self.lines.append(self.indent + line)

    def buffer(self, b):
        """The argument name of stage buffer ``b`` (a node's or a scratch buffer), used by this function."""
        self.buffers.append(b)
        return self.writer._arg(b)

    def scratch(self, size, dtype):
        return self.buffer(self.writer._scratch(size, dtype))

    def copy(self, target, source):
        """``target[:n] = source`` (a _Value) as a plain loop: Numba's slice assignment may allocate a temporary."""
        self.emit(f"for q in range({source.size}):")
        self.emit(f"    {target}[q] = {source.literal if source.name is None else source.name + '[q]'}")

    def array(self, value):
        """The array name holding ``value``: a literal fills a scratch buffer the first time."""
        if value.name is None:
            name = self.scratch(value.size, value.dtype)
            self.copy(name, value)
            value.name, value.literal = name, None
        return value.name


def write_array_control_flow(writer, group):
    """The cond or while_loop of ``group`` (the node and its ``tuple_get`` results) as one Numba function."""
    node_id = group.members[0]
    node = writer._node(node_id)
    out = _Emitter(writer, node_id)
    results = {writer._node(m).attr("index"): out.buffer(m) for m in group.members[1:]}
    operands = [_operand(out, buffer, writer._node(j).type) for (buffer, _), j in zip(group.operands, node.inputs)]
    if node.op == "cond":
        _write_cond(out, node, operands, results)
    else:
        _write_while(out, node, operands, results)
    zeroed = [f"{out.writer._arg(flag)}[0] = 0" for flag in out.flags]   # a check that does not run must not report
    writer._function(node.op, out.buffers, zeroed + out.prologue + out.lines, parallel=False, separate=True,
                     group=group, generators=out.generators)
    info = writer.kernels[writer.functions[-1][0]]
    info["source"] = "\n".join(out.sub_sources + [info["source"]])
    for flag in out.flags:   # the runner re-runs the node eagerly, which raises the op's own error
        writer.checks.append((flag, node_id, [b for b, _ in group.operands]))


def _operand(out, buffer, type_):
    size, dtype = num_elements(type_.shape), type_.dtype.np
    node = out.writer._node(buffer)
    value = _uniform(node) if node.op == CONSTANT else None
    if value is not None:
        return _Value(literal=literal(value, node.type.dtype), size=size, dtype=dtype)
    return _Value(name=out.buffer(out.writer.plan.resolve(buffer)), size=size, dtype=dtype)


def _write_cond(out, node, operands, results):
    true, false = node.attr("true_branch"), node.attr("false_branch")
    split = 1 + len(true.inputs)
    branches = ((true, [out.array(v) for v in operands[1:split]], "t"),
                (false, [out.array(v) for v in operands[split:]], "f"))
    targets = [results.get(k) or out.scratch(num_elements(t.shape), t.dtype.np) for k, t in enumerate(node.type.types)]
    out.emit(f"if {operands[0].element()}:")
    for graph, inputs, tag in branches:
        out.indent = "    "
        _call_subgraph(out, graph, tag, inputs, targets)
        out.indent = ""
        if tag == "t":
            out.emit("else:")


def _write_while(out, node, operands, results):
    cond, body = node.attr("cond"), node.attr("body")
    n = len(body.outputs)
    cond_operands = [out.array(v) for v in operands[n:len(cond.inputs)]]
    body_operands = [out.array(v) for v in operands[len(cond.inputs):]]
    in_place = {k for k in range(n) if _accumulates_in_place(body, k)}
    # the others keep their one buffer: unchanged, or rows added in place
    carried = [k for k in range(n) if body.outputs[k] != body.inputs[k] and k not in in_place]
    current, following = [], {}
    for k, t in enumerate(node.type.types):
        home = results.get(k) or out.scratch(operands[k].size, t.dtype.np)
        out.copy(home, operands[k])
        out.emit(f"v{k} = {home}")
        current.append(f"v{k}")
        if k in carried:
            out.emit(f"w{k} = {out.scratch(operands[k].size, t.dtype.np)}")
            following[k] = f"w{k}"
    limit = node.attr("maximum_iterations")
    out.emit("count = 0")
    out.emit("while True:")
    out.indent = "    "
    if limit is not None:
        out.emit(f"if count >= {limit}:")
        out.emit("    break")
    (holds,) = _call_subgraph(out, cond, "c", current + cond_operands, [None])
    out.emit(f"if not {holds.element()}:")
    out.emit("    break")
    _call_subgraph(out, body, "b", current + body_operands,
                   [current[k] if k in in_place else following.get(k) for k in range(n)])
    if carried:   # double buffering: what the body wrote is read by the next iteration
        now, then = (", ".join(names[k] for k in carried) + "," for names in (current, following))
        out.emit(f"{now} {then} = {then} {now}")
    out.emit("count += 1")
    out.indent = ""
    finals = [k for k in carried if k in results]
    if finals:   # after an odd number of swaps the values are in the other buffer
        out.emit("if count % 2 == 1:")
        out.indent = "    "
        for k in finals:
            out.copy(results[k], _Value(name=current[k], size=operands[k].size))
        out.indent = ""


def _accumulates_in_place(body, k):
    """Whether loop variable k's next value is a scatter_add into its current one, which nothing else in the body
    reads: the kernel then adds its rows into the variable's own buffer (map_fn's and scan's accumulators)."""
    output = body.nodes[body.outputs[k]]
    current = body.inputs[k]
    return (output.op == "scatter_add" and output.inputs[0] == current and body.outputs.count(body.outputs[k]) == 1
            and body.users()[current] == [body.outputs[k]] and current not in body.outputs)


def _call_subgraph(out, graph, tag, inputs, targets):
    """Lines calling ``graph``'s sub-entry on the arrays ``inputs`` (one per graph input), its outputs written into
    the arrays ``targets`` (None: a buffer of its own). Returns each output as a _Value."""
    writer = out.writer
    plan = plan_subgraph(graph, writer.kernel_supported)
    sub = type(writer)(f"{writer.name}_n{out.node_id}{tag}", plan, graph, writer.kernel_supported)
    sub.allow_parallel = sub.allow_parallel and writer.allow_parallel
    sub.flat_entry = True
    sub.symbols = writer.symbols   # (unknown sizes: every function of the stage takes the stage's size arguments)
    args = sub.write()
    writer.lines.extend(sub.lines)   # defined before the function that calls it
    writer.mathlib |= sub.mathlib
    out.sub_sources.append("\n".join(sub.lines))
    position = {i: p for p, i in enumerate(graph.inputs)}
    bound, copies = _output_buffers(plan, graph, targets)
    names, shared = {}, {}   # shared: a buffer that holds several values (in place) -> its one scratch
    for b in args:
        home = plan.resolve(b) if b >= 0 else b
        if b in position:
            names[b] = inputs[position[b]]
        elif home in bound:
            names[b] = bound[home]
        elif b >= 0 and sub._node(b).op == CONSTANT:
            names[b] = _constant_array(out, sub, b)
        elif home in shared:   # (a kernel writing in place takes the buffer it adds into as its output too)
            names[b] = shared[home]
        else:
            if b in sub.constant_buffers:   # a large constant of nested control flow: passed down from the runner
                names[b] = out.buffer(writer.constant_buffer(sub.constant_buffers[b]))
                continue
            shape, dtype = sub.scratch[b] if b < 0 else (sub._node(b).type.shape, sub._node(b).type.dtype.np)
            scratch = writer._scratch(num_elements(shape), dtype)
            names[b] = shared[home] = out.buffer(scratch)
            if any(flag == b for flag, _, _ in sub.checks):
                out.flags.append(scratch)
    out.generators += sub.entry_generators   # (the same names in every function: see StageWriter.generator)
    passed = [names[b] for b in args] + [writer.generator(seed) for seed in sub.entry_generators]
    out.emit(f"{sub.name}({', '.join(passed + sub.symbols)})")
    flags = [names[flag] for flag, _, _ in sub.checks]
    if flags:   # a bad index inside: stop at once (the flag stays set, and the runner raises)
        out.emit(f"if {' or '.join(f'{f}[0] != 0' for f in flags)}:")
        out.emit("    return")
    values = []
    for k, o in enumerate(graph.outputs):
        if graph.nodes[o].op == CONSTANT and _uniform(graph.nodes[o]) is None and o not in names:
            names[o] = _constant_array(out, sub, o)
        value = _output_value(graph, o, plan, inputs, position, names)
        if targets[k] is not None and k in copies:
            out.copy(targets[k], value)
        values.append(value if targets[k] is None else _Value(name=targets[k], size=value.size))
    return values


def _constant_array(out, sub, b):
    """A scratch buffer holding constant node ``b`` of ``sub``'s graph, copied from a global of the module."""
    value = np.ascontiguousarray(sub._node(b).attr("value").value).reshape(-1)
    if value.nbytes > MAX_CONSTANT_BYTES:
        return out.buffer(out.writer.constant_buffer(value))
    name = f"{sub.name}_k{b}"
    out.writer.lines.append(f"{name} = np.frombuffer(bytes.fromhex('{value.tobytes().hex()}'), "
                            f"dtype='{value.dtype.str}')")
    scratch = out.scratch(value.size, value.dtype)
    out.prologue += [f"for q in range({value.size}):", f"    {scratch}[q] = {name}[q]"]
    return scratch


def _output_buffers(plan, graph, targets):
    """({sub buffer id: target name} for outputs computed straight into their target, {output positions copied
    into their target after the call}: an input, a constant, or a buffer that already holds another output)."""
    bound, copies = {}, set()
    for k, o in enumerate(graph.outputs):
        buffer = plan.resolve(o)
        if targets[k] is None:
            continue
        if graph.nodes[o].op in (INPUT, CONSTANT) or buffer in bound:
            copies.add(k)
        else:
            bound[buffer] = targets[k]
    return bound, copies


def _output_value(graph, o, plan, inputs, position, names):
    """Output node ``o`` after the call, as a _Value: its buffer, the input it is, or its literal."""
    node = graph.nodes[o]
    size = num_elements(node.type.shape)
    if node.op == INPUT:
        return _Value(name=inputs[position[o]], size=size)
    if node.op == CONSTANT and o not in names:
        return _Value(literal=literal(_uniform(node), node.type.dtype), size=size)
    return _Value(name=names[plan.resolve(o)], size=size)
