"""The Python side of a compiled graph, generated as straight-line code: read variables, take buffers,
call each compiled entry (or eager op), write variables back, print, return results.

Per-call overhead matters (a 16-element call should cost about a microsecond more than its kernel, a tiny
training step a few), so nothing is looked up or decided at run time that can be decided here: variables are
read and written through the state's dict, and entries take arrays in the shapes the runner holds them in.

Buffers come in two kinds. *Internal* ones (intermediates no result, variable or eager op ever sees) cannot
escape a call, so each thread allocates its set once and every call reuses it as it is. *Escaping* ones
(results, new variable values, operands of eager ops) are reused from earlier calls only when nobody else holds
them any more (``sys.getrefcount``): large outputs then skip the page faults of fresh memory. Each has two pool
entries (double buffering), so a caller that keeps the previous result while making the next call still gets a
recycled buffer. Both kinds are per thread, so concurrent calls never share a buffer.
"""
import math
import sys
import threading

import numpy as np

from graphjit.tracer.errors import FailedPreconditionError
from graphjit.tracer.registry import OPS
from graphjit.tracer.source import with_location
from graphjit.tracer.tensor import EagerTensor

from graphjit.tracer.attrs import has_symbolic
from graphjit.tracer.symbolic import graph_symbols, is_symbolic, shape_code, shape_is_symbolic

from .interpreter import eager_attrs, run_node, run_sized


def build_runner(graph, effects, steps, constants, tensors=False, read_locations=None, allocate=np.empty,
                 run_node=run_node, variable_writes="direct", to_host=None, flag_set=None):
    """Returns ``run(state, arrays) -> list of result arrays`` for a functionalized graph; with
    ``tensors=True``, ``run(state, tensors) -> list of EagerTensors`` (the runtime's per-call path).
    ``read_locations``: variable id -> the user's source line that reads it (for error messages).
    ``allocate(shape, dtype)``: the backend's allocator, for buffers the pool has no free one for.
    A backend whose buffers are not host arrays (CUDA) also passes ``run_node`` (runs a Python step's node on its
    buffers), ``variable_writes="state"`` (every variable write through ``State.write``, which keeps a variable on
    its device), ``to_host`` (an array prints and raising checks can read) and ``flag_set`` (whether a kernel set
    an index check's flag buffer: read from the device)."""
    env = {"np": np, "ndarray": np.ndarray, "allocate": allocate, "getrefcount": sys.getrefcount, "OPS": OPS,
           "EagerTensor": EagerTensor, "new": object.__new__, "entry_argument": _entry_argument}
    lines = ["def run(state, arrays):", None]  # None: where the buffers are taken, once known (below)
    emit = lines.append
    user_inputs = len(graph.inputs) - len(effects.variable_inputs)
    names = {}    # node id (or scratch name) -> the name of the array holding its value
    shapes = {}   # ... -> that array's shape, where it may not be the node's (a buffer allocated for another node)
    for i in graph.inputs[:user_inputs]:
        names[i] = f"v{i}"
    if user_inputs:
        emit(f"    {', '.join(names[i] for i in graph.inputs[:user_inputs])}{',' if user_inputs == 1 else ''} = arrays")
    if tensors:
        for i in graph.inputs[:user_inputs]:
            emit(f"    if type(v{i}) is not ndarray:   # (arrays come as they are from tracer.last_signature's check)")
            emit(f"        v{i} = v{i}._value if type(v{i}) is EagerTensor else np.asarray(v{i})")
    symbols = graph_symbols(graph)   # symbolic sizes: bound from the inputs' shapes, passed to every entry
    sizes = "{" + ", ".join(f"{n!r}: {n}" for n in symbols) + "}"
    if symbols:
        _emit_symbols(emit, graph, user_inputs, symbols)
        env["run_sized"] = run_sized
    if effects.variable_inputs or effects.variable_outputs:
        emit("    values = state.values")
    if effects.variable_inputs:
        emit("    try:")
        for ref, position in effects.variable_inputs:
            i = graph.inputs[position]
            names[i] = f"v{i}"
            emit(f"        v{i} = values[{ref.id!r}]")
        # an uninitialized variable: the state's error, naming the user's line that reads it
        env["reads"] = [(ref, (read_locations or {}).get(ref.id)) for ref, _ in effects.variable_inputs]
        env["uninitialized"] = _uninitialized_read
        emit("    except KeyError:")
        emit("        raise uninitialized(state, reads) from None")
    for i, value in constants.items():
        env[f"c{i}"] = value
        names[i] = f"c{i}"
        shapes[i] = value.shape
    allocated = {}  # buffer owner -> (shape, dtype), in allocation order
    eager_operands = set()  # names of arrays eager ops see (they may keep views of them)
    for s, step in enumerate(steps):
        if step.kind == "python":
            for i, node, _ in step.nodes:
                _bind_node(env, i, node)
                eager_operands.update(names[j] for j in node.inputs)
                args = ", ".join(names[j] for j in node.inputs)
                if symbols and (has_symbolic(node.attrs) or shape_is_symbolic(getattr(node.type, "shape", None))):
                    emit(f"    v{i} = run_sized(op{i}, node{i}, attrs{i}, state, [{args}], {sizes})")
                else:
                    emit(f"    v{i} = run_node(op{i}, node{i}, attrs{i}, state, [{args}])")
                names[i] = f"v{i}"
            continue
        passed = []
        in_place = step.variable_in_place
        for owner, value in step.constant_buffers.items():   # large constants: passed as they are, never written
            env[f"k{owner}"] = value
            names[owner] = f"k{owner}"
            shapes[owner] = value.shape
        for (node_id, owner, shape, dtype), wanted in zip(step.args, step.entry_shapes):
            if owner not in names:  # allocated here (see _emit_buffers)
                allocated[owner] = (tuple(shape), dtype)
                shapes[owner] = tuple(shape)
                env[f"shape{owner}"], env[f"dtype{owner}"] = shape, dtype
                emit(("buffer", owner, names.get(in_place.get(owner))))
                names[owner] = f"v{owner}"
            held = _held_shape(graph, shapes, owner)
            if _same_shape(held, wanted):
                passed.append(names[owner])
            else:  # a view (no copy: the runner's arrays are C-contiguous, or the entry copies them below)
                passed.append(f"{names[owner]}.reshape({-1 if len(wanted) == 1 else shape_code(wanted)})")
        for m, j in step.aliases:   # m is a view of j: the same array
            names[m] = names[j]
            shapes[m] = _held_shape(graph, shapes, j)
        env[f"entry{s}"] = step.entry
        if any(shape_is_symbolic(shape) for shape in step.entry_shapes):   # this call's shapes
            wanted_shapes = "(" + "".join(f"{shape_code(shape)}, " for shape in step.entry_shapes) + ")"
        else:
            env[f"entry_shapes{s}"] = step.entry_shapes
            wanted_shapes = f"entry_shapes{s}"
        args = ", ".join(passed)
        # random generators (the stream of each op seed), then the symbolic sizes: after the buffers
        generators = [f"rng{s}_{k}" for k in range(len(step.generators))]
        sym_args = "".join(f", {n}" for n in generators + symbols)
        indent = "    "
        for name, seed in zip(generators, step.generators):
            # the entry takes each generator as its pointer array (compiler.random_numba) and draws without the
            # Generator's lock, which NumPy's own methods take: the runner holds it (the entries take generators
            # in one order, so two threads never wait for each other's)
            emit(f"{indent}lock_{name}, {name} = state.generator_arguments({seed!r})")
            emit(f"{indent}with lock_{name}:")
            indent += "    "
        emit(f"{indent}try:")
        emit(f"{indent}    entry{s}({args}{sym_args})")
        emit(f"{indent}except TypeError:  # a non-contiguous or read-only input (a view, a constant): copy it")
        emit(f"{indent}    entry{s}(*[entry_argument(a, shape) for a, shape in zip(({args},), {wanted_shapes})]"
             f"{sym_args})")
        checked = {}   # flag -> the checks it holds (the CUDA backend's stages share one flag: one read)
        for flag, i, operands in step.checks:
            checked.setdefault(flag, []).append((i, operands))
        for flag, checks in checked.items():   # e.g. a gather index out of range: the op's own error
            emit(f"    if {names[flag]}[0]:" if flag_set is None else f"    if flag_set({names[flag]}):")
            for i, operands in checks:
                node = graph.nodes[i]
                _bind_node(env, i, node)
                # an operand buffer may be the base of a contiguous view starting at 0 (fusion's _kernel_operand):
                # its first `size` elements are the operand (x[:2], or x[-1:-1] of size 0)
                in_shapes = [graph.nodes[j].type.shape for j in node.inputs]
                held = "{}" if to_host is None else "to_host({})"   # (raising: the operands' values on the host)
                values = ", ".join(f"{held.format(names[b])}.reshape(-1)[:{math.prod(shape)}]"
                                   f".reshape({shape_code(shape)})" for b, shape in zip(operands, in_shapes))
                if symbols:
                    emit(f"        run_sized(op{i}, node{i}, attrs{i}, state, [{values}], {sizes})")
                else:
                    emit(f"        run_node(op{i}, node{i}, attrs{i}, state, [{values}])")
    outputs = [names[i] for i in graph.outputs]
    escaping = set(outputs) | eager_operands
    # A buffer of symbolic shape changes size between calls: pooled, with a shape check (see _emit_from_pool).
    internal = [owner for owner in allocated if f"v{owner}" not in escaping
                and not shape_is_symbolic(allocated[owner][0])]
    pooled = [owner for owner in allocated if owner not in internal]
    lines[:] = _emit_buffers(lines, internal, pooled, allocated)
    # Give pooled buffers back before returning (the caller's references make them busy).
    for slot, owner in enumerate(pooled):
        emit(f"    pool[{2 * slot}] = v{owner}")
    for ref_pos, (ref, position) in enumerate(effects.variable_outputs):
        name = outputs[position]
        owner = next((o for o in pooled if f"v{o}" == name), None)
        if (owner is not None and allocated[owner] == (tuple(ref.type.shape), ref.type.dtype.np)
                and variable_writes == "direct"):
            emit(f"    values[{ref.id!r}] = {name}")   # a buffer of ours: what State.write would keep as it is
        else:
            env[f"wref{ref_pos}"] = ref
            emit(f"    state.write(wref{ref_pos}, {name})")
    for k, (attrs, positions) in enumerate(effects.prints):
        env[f"pattrs{k}"] = attrs
        printed = [outputs[p] if to_host is None else f"to_host({outputs[p]})" for p in positions]
        emit(f"    OPS['print'].eager(state, {', '.join(printed)}{',' if positions else ''} **pattrs{k})")
    results = outputs[:effects.result_count]
    if tensors:
        for k, name in enumerate(results):
            emit(f"    r{k} = new(EagerTensor)")
            emit(f"    r{k}._value = {name}")
        results = [f"r{k}" for k in range(len(results))]
    emit(f"    return [{', '.join(results)}]")
    spares = []   # buffer sets made ahead of a thread's first call (``run.prefault``)
    pool_types = [allocated[owner] for owner in pooled]
    internal_types = [allocated[owner] for owner in internal]
    env["pools"] = _ThreadBuffers(2 * len(pooled), internal_types, allocate, spares)
    env["run_node"] = run_node
    env["to_host"] = to_host
    env["flag_set"] = flag_set
    if effects.variable_inputs or effects.variable_outputs:  # the whole call is one atomic update of the state
        lines[1:] = ["    with state.lock:"] + ["    " + line for line in lines[1:]]
    source = "\n".join(lines) + "\n"
    exec(compile(source, "<graphjit runner>", "exec"), env)  # noqa: S102 - our own generated code
    run = env["run"]
    run.source = source
    run.prefault = lambda: _prefault(spares, pool_types, internal_types, allocate)
    run.spares = spares   # (for inspection)
    return run


PREFAULT_MAX_BYTES = 64 << 20   # (held until the graph dies if no thread ever calls it again)


def _prefault(spares, pool_types, internal_types, allocate):
    """Makes one thread's buffer set ahead of its first call, its pages already faulted in: a fresh 16 MB buffer
    costs its first writer ~2 ms of page faults, so the first compiled calls of a graph (two pool entries per
    result, then its intermediates) would run ~2x slower than later ones. Called by the background compile, off
    the caller's thread (the memset releases the GIL); the first thread to call after it takes the set. Only
    host buffers of static shapes, up to PREFAULT_MAX_BYTES in all; True when a set was made."""
    import ctypes
    static = [t for t in pool_types + internal_types if not shape_is_symbolic(t[0])]
    total = 2 * sum(math.prod(shape) * np.dtype(dtype).itemsize for shape, dtype in static)
    if (allocate is not np.empty or not static or total > PREFAULT_MAX_BYTES or spares
            or any(shape_is_symbolic(shape) for shape, _ in internal_types)):
        return False

    def faulted(shape, dtype):
        array = np.empty(shape, dtype)
        ctypes.memset(array.ctypes.data, 0, array.nbytes)
        return array
    pool = []
    for shape, dtype in pool_types:
        pool += [None, None] if shape_is_symbolic(shape) else [faulted(shape, dtype), faulted(shape, dtype)]
    internal = tuple(faulted(shape, dtype) for shape, dtype in internal_types)
    spares.append((pool, internal))
    return True


def _held_shape(graph, shapes, i):
    """The shape of the array the runner holds node (or buffer) i's value in."""
    held = shapes.get(i)
    return tuple(getattr(graph.nodes[i].type, "shape", ())) if held is None else held


def _same_shape(a, b):
    """Whether two shapes (maybe with symbolic sizes) are the same expressions."""
    return len(a) == len(b) and all(str(x) == str(y) for x, y in zip(a, b))


def _emit_buffers(lines, internal, pooled, allocated):
    """``lines`` with the buffer placeholders filled in: the thread's buffers taken at the start (internal ones
    as they are), and each pooled one at its place, from the pool when free."""
    out = [lines[0]]
    unpacked = f"({', '.join(f'v{owner}' for owner in internal)},)"
    if pooled and internal:
        out.append(f"    pool, {unpacked} = pools.buffers")
    elif pooled:
        out.append("    pool = pools.buffers[0]")
    elif internal:
        out.append(f"    {unpacked} = pools.buffers[1]")
    slots = {owner: slot for slot, owner in enumerate(pooled)}
    for line in lines[2:]:
        if type(line) is not tuple:
            out.append(line)
            continue
        _, owner, old = line
        if owner not in slots:
            continue   # internal: taken above
        slot = slots[owner]
        shape = allocated[owner][0]
        sized = shape_code(shape) if shape_is_symbolic(shape) else None   # (this call's shape)
        if old is not None:  # the variable's own buffer, when only the state holds it
            out.append(f"    if getrefcount({old}) <= 3 + (pool[{2 * slot}] is {old}) + (pool[{2 * slot + 1}] is {old}):")
            out.append(f"        v{owner} = {old}")
            out.append("    else:")
            _emit_from_pool(out.append, owner, slot, "        ", sized)
        else:
            _emit_from_pool(out.append, owner, slot, "    ", sized)
    return out


def _entry_argument(array, shape):
    """An entry's argument as its compiled signature takes it: C-contiguous, writable, of ``shape``'s rank.
    (Only inputs can fail that test: buffers the runner allocates always pass it, so copying loses no write.)"""
    if array.flags.c_contiguous and array.flags.writeable and array.ndim == len(shape):
        return array
    return np.array(array, order="C").reshape(shape)


def _bind_node(env, i, node):
    """Names ``op{i}``, ``node{i}`` and ``attrs{i}`` in the generated code, for ``run_node`` calls on node i."""
    env[f"op{i}"], env[f"node{i}"], env[f"attrs{i}"] = OPS[node.op], node, eager_attrs(OPS[node.op], node)


def _uninitialized_read(state, reads):
    """The error of the first variable read that fails (the state's own), with the line that reads it (as the
    interpreter reports it)."""
    for ref, location in reads:
        if ref.id not in state.values:
            try:
                state.read(ref)
            except FailedPreconditionError as err:
                return FailedPreconditionError(with_location(str(err), location))
    return FailedPreconditionError("a variable was deleted while a graph read it")


def _emit_from_pool(emit, owner, slot, indent, sized=None):
    """``sized``: the code of a symbolic shape (a pooled buffer of another call's sizes is not reused)."""
    shape = f"shape{owner}" if sized is None else sized
    other = "" if sized is None else f" or v{owner}.shape != {sized}"
    emit(f"{indent}v{owner} = pool[{2 * slot}]")
    # The same rule as graphjit.distributed._worker._unused, inlined (a shared helper would add a call per buffer).
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


class _ThreadBuffers(threading.local):
    """Each thread's ``buffers``: (pool of escaping buffers, two slots each; its internal buffers, allocated
    when the thread first calls)."""

    def __init__(self, pool_size, internal, allocate, spares):
        try:
            self.buffers = spares.pop()   # (list.pop is atomic: one thread gets a prefaulted set)
        except IndexError:
            self.buffers = ([None] * pool_size, tuple(allocate(shape, dtype) for shape, dtype in internal))
