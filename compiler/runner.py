"""The Python side of a compiled graph, generated as straight-line code: read variables, take buffers
from a pool, call each compiled entry (or eager op), write variables back, print, return results.

Per-call overhead matters (a 16-element call should cost about a microsecond more than its kernel),
so nothing is looked up or decided at run time that can be decided here. Buffers are reused from
earlier calls when nobody else holds them any more (``sys.getrefcount``): large outputs then skip the
page faults of fresh memory. Each buffer has two pool entries (double buffering), so a caller that
keeps the previous result while making the next call still gets a recycled buffer. Pools are
per thread, so concurrent calls never share a buffer.
"""
import math
import sys
import threading

import numpy as np

from graphjit.tracer.errors import FailedPreconditionError
from graphjit.tracer.attrs import has_symbolic
from graphjit.tracer.registry import OPS
from graphjit.tracer.source import with_location
from graphjit.tracer.tensor import EagerTensor

from graphjit.tracer.symbolic import graph_symbols, is_symbolic, shape_code, shape_is_symbolic

from .interpreter import eager_attrs, run_node, run_sized


def build_runner(graph, effects, steps, constants, tensors=False, read_locations=None, allocate=np.empty):
    """Returns ``run(state, arrays) -> list of result arrays`` for a functionalized graph; with
    ``tensors=True``, ``run(state, tensors) -> list of EagerTensors`` (the runtime's per-call path).
    ``read_locations``: variable id -> the user's source line that reads it (for error messages).
    ``allocate(shape, dtype)``: the backend's allocator, for buffers the pool has no free one for."""
    env = {"np": np, "allocate": allocate, "getrefcount": sys.getrefcount, "OPS": OPS, "EagerTensor": EagerTensor,
           "new": object.__new__, "FailedPreconditionError": FailedPreconditionError}
    lines = ["def run(state, arrays):", "    pool = pools.slots"]
    emit = lines.append
    user_inputs = len(graph.inputs) - len(effects.variable_inputs)
    names = {}
    for position, i in enumerate(graph.inputs[:user_inputs]):
        names[i] = f"v{i}"
    if user_inputs:
        emit(f"    {', '.join(names[i] for i in graph.inputs[:user_inputs])}{',' if user_inputs == 1 else ''} = arrays")
    if tensors:
        for i in graph.inputs[:user_inputs]:
            emit(f"    v{i} = v{i}._value if type(v{i}) is EagerTensor else np.asarray(v{i})")
    symbols = graph_symbols(graph)   # symbolic sizes: bound from the inputs' shapes, passed to every entry
    if symbols:
        _emit_symbols(emit, graph, user_inputs, symbols)
        env["run_sized"] = run_sized
    if effects.variable_inputs:
        emit("    try:")
    for k, (ref, position) in enumerate(effects.variable_inputs):
        i = graph.inputs[position]
        env[f"ref{k}"] = ref
        names[i] = f"v{i}"
        emit(f"        v{i} = state.read(ref{k})")
    if effects.variable_inputs:  # an uninitialized variable: name the user's line that reads it
        env["reads"] = [(ref, (read_locations or {}).get(ref.id)) for ref, _ in effects.variable_inputs]
        env["located"] = _located_read_error
        emit("    except FailedPreconditionError as err:")
        emit("        raise located(err, state, reads) from None")
    for i, value in constants.items():
        env[f"c{i}"] = value
        names[i] = f"c{i}"
    allocated = []  # buffer owner ids, in pool-slot order
    for s, step in enumerate(steps):
        if step.kind == "python":
            for i, node, _ in step.nodes:
                _bind_node(env, i, node)
                args = ", ".join(names[j] for j in node.inputs)
                if symbols and (has_symbolic(node.attrs) or shape_is_symbolic(getattr(node.type, "shape", None))):
                    sizes = "{" + ", ".join(f"{n!r}: {n}" for n in symbols) + "}"
                    emit(f"    v{i} = run_sized(op{i}, node{i}, attrs{i}, state, [{args}], {sizes})")
                else:
                    emit(f"    v{i} = run_node(op{i}, node{i}, attrs{i}, state, [{args}])")
                names[i] = f"v{i}"
            continue
        flat = []
        in_place = step.variable_in_place
        for node_id, owner, shape, dtype in step.args:
            if owner not in names:  # allocated here: from the pool when free
                slot = len(allocated)
                allocated.append(owner)
                env[f"shape{owner}"], env[f"dtype{owner}"] = shape, dtype
                sized = shape_code(shape) if shape_is_symbolic(shape) else None   # (this call's shape)
                if owner in in_place:  # the variable's own buffer, when only the state holds it
                    old = names[in_place[owner]]
                    emit(f"    if getrefcount({old}) <= 3 + (pool[{2 * slot}] is {old}) + (pool[{2 * slot + 1}] is {old}):")
                    emit(f"        v{owner} = {old}")
                    emit("    else:")
                    _emit_from_pool(emit, owner, slot, "        ", sized)
                else:
                    _emit_from_pool(emit, owner, slot, "    ", sized)
                names[owner] = f"v{owner}"
            flat.append(names[owner] if len(shape) == 1 else f"{names[owner]}.reshape(-1)")
        for m, j in step.aliases:
            names[m] = names[j]
        env[f"entry{s}"] = step.entry
        args = ", ".join(flat)
        sym_args = "".join(f", {n}" for n in symbols)
        emit("    try:")
        emit(f"        entry{s}({args}{sym_args})")
        emit("    except TypeError:  # a non-contiguous or read-only input (a view, a constant): copy it")
        emit(f"        entry{s}(*[a if a.flags.c_contiguous and a.flags.writeable else np.array(a) for a in ({args},)]{sym_args})")
        for flag, i, operands in step.checks:  # e.g. a gather index out of range: the op's own error
            node = graph.nodes[i]
            _bind_node(env, i, node)
            # an operand buffer may be the base of a contiguous view starting at 0 (fusion's _kernel_operand):
            # its first `size` elements are the operand (x[:2], or x[-1:-1] of size 0)
            shapes = [graph.nodes[j].type.shape for j in node.inputs]
            values = ", ".join(f"{names[b]}.reshape(-1)[:{math.prod(shape)}].reshape({shape_code(shape)})"
                               for b, shape in zip(operands, shapes))
            emit(f"    if {names[flag]}[0]:")
            if symbols:
                sizes = "{" + ", ".join(f"{n!r}: {n}" for n in symbols) + "}"
                emit(f"        run_sized(op{i}, node{i}, attrs{i}, state, [{values}], {sizes})")
            else:
                emit(f"        run_node(op{i}, node{i}, attrs{i}, state, [{values}])")
    # Give buffers back to the pool before returning (the caller's references make them busy).
    for slot, owner in enumerate(allocated):
        emit(f"    pool[{2 * slot}] = v{owner}")
    outputs = [names[i] for i in graph.outputs]
    for ref_pos, (ref, position) in enumerate(effects.variable_outputs):
        env[f"wref{ref_pos}"] = ref
        emit(f"    state.write(wref{ref_pos}, {outputs[position]})")
    for k, (attrs, positions) in enumerate(effects.prints):
        env[f"pattrs{k}"] = attrs
        emit(f"    OPS['print'].eager(state, {', '.join(outputs[p] for p in positions)}{',' if positions else ''} **pattrs{k})")
    results = outputs[:effects.result_count]
    if tensors:
        for k, name in enumerate(results):
            emit(f"    r{k} = new(EagerTensor)")
            emit(f"    r{k}._value = {name}")
        results = [f"r{k}" for k in range(len(results))]
    emit(f"    return [{', '.join(results)}]")
    pools = _ThreadPools(2 * len(allocated))
    env["pools"] = pools
    env["run_node"] = run_node
    if effects.variable_inputs or effects.variable_outputs:  # the whole call is one atomic update of the state
        lines[2:] = ["    with state.lock:"] + ["    " + line for line in lines[2:]]
    source = "\n".join(lines) + "\n"
    exec(compile(source, "<graphjit runner>", "exec"), env)  # noqa: S102 - our own generated code
    run = env["run"]
    run.source = source
    return run


def _bind_node(env, i, node):
    """Names ``op{i}``, ``node{i}`` and ``attrs{i}`` in the generated code, for ``run_node`` calls on node i."""
    env[f"op{i}"], env[f"node{i}"], env[f"attrs{i}"] = OPS[node.op], node, eager_attrs(OPS[node.op], node)


def _located_read_error(err, state, reads):
    """The error of the first variable read that fails, with the line that reads it (as the interpreter
    reports it)."""
    for ref, location in reads:
        if ref.id not in state.values:
            return FailedPreconditionError(with_location(str(err), location))
    return err


def _emit_from_pool(emit, owner, slot, indent, sized=None):
    """``sized``: the code of a symbolic shape (a pooled buffer of another call's sizes is not reused)."""
    shape = f"shape{owner}" if sized is None else sized
    other = "" if sized is None else f" or v{owner}.shape != {sized}"
    emit(f"{indent}v{owner} = pool[{2 * slot}]")
    emit(f"{indent}if v{owner} is None or getrefcount(v{owner}) > 3{other}:  # busy: try the spare")
    emit(f"{indent}    v{owner}, pool[{2 * slot + 1}] = pool[{2 * slot + 1}], v{owner}")
    emit(f"{indent}    if v{owner} is None or getrefcount(v{owner}) > 2{other}:")
    emit(f"{indent}        v{owner} = allocate({shape}, dtype{owner})")


def _emit_symbols(emit, graph, user_inputs, symbols):
    """``n0 = v3.shape[0]``...: each symbolic size from the first input that has it."""
    bound = set()
    for i in graph.inputs[:user_inputs]:
        for d, size in enumerate(graph.nodes[i].type.shape):
            if is_symbolic(size) and str(size) in symbols and str(size) not in bound:
                bound.add(str(size))
                emit(f"    {size} = v{i}.shape[{d}]")


class _ThreadPools(threading.local):
    def __init__(self, size):
        self.slots = [None] * size
