"""The interpreter stand-in: what answers a graph's first calls while its kernels compile in the background.

It computes what the reference interpreter computes, node by node with each op's eager code, but runs at the
speed of the same code written in NumPy eagerly, or faster. The reference interpreter keeps every value alive
until the run ends and gives each node a fresh output (a 16 MB array faults its pages in again on every call:
1.8x NumPy eager on a 5-op graph of 4M elements, where NumPy's own temporaries are elided in place). Here a
node whose op is a plain NumPy ufunc writes with ``out=`` into a buffer planned once per graph:

- into its operand's buffer when that operand dies at this node and has the result's shape and dtype (what
  NumPy's temporary elision does for ``a * b + c``), else into a free buffer of its shape and dtype, released
  after the value's last use;
- buffers are kept per thread and reused by every later call (so concurrent calls never share one);
- graph outputs are never planned buffers: each call returns an array no one else holds (the outputs of block
  runs recycle the caller's dropped results, as compiler.runner's pool does; the others are fresh).

Only a ufunc whose own type resolution gives the node's dtype writes into a buffer (then ``out=`` changes
nothing but where the result lands); every other node runs exactly as in the interpreter.

Blocks: a run of consecutive such ufunc nodes of one large shape (operands of that shape or of one element)
runs block by block, numexpr's way: every node on elements [lo, hi) of the flattened arrays, then the next
block, so the values no later node needs live in block-sized scratch arrays that stay in the CPU's cache rather
than in full-size buffers that go through memory once per node (a 5-op graph of 4M float32 elements took
about 0.6x NumPy eager's CPU time). Each element still gets the very ufunc loop it gets in NumPy, so results
are bit for bit NumPy's. Floating-point errors are collected per node while the blocks run (``np.errstate``
with a ``call`` handler) and then reported as the caller's settings say, once per node and kind as NumPy
does ('warn': a RuntimeWarning, 'raise': FloatingPointError); a caller whose settings print, log or call a
handler gets the node-by-node run instead.
"""
import sys
import threading
import time
import warnings

import numpy as np

from graphjit.tracer.errors import GraphjitError
from graphjit.tracer.ir import TensorType
from graphjit.tracer.op_errors import EAGER_ERRORS, op_error

from .interpreter import InterpretedGraph, check_result, run_node

_NO_SLOT = -1
BLOCK_ELEMENTS = 1 << 15     # a block of every node of a run: 128 KiB of float32 per value
_MIN_BLOCKED_ELEMENTS = 4 * BLOCK_ELEMENTS
# np.errstate's names of the errors, in the order NumPy reports them for one ufunc call
_FP_ERRORS = (("divide by zero", "divide"), ("overflow", "over"), ("underflow", "under"), ("invalid value", "invalid"))


def eager_ufunc(op):
    """(ufunc, quiet) when ``op``'s eager implementation is NumPy's ufunc itself (``quiet``: under
    ``np.errstate(all='ignore')``, as tracer.ops.elementwise's quiet ops run it), else (None, False)."""
    eager = getattr(op, "eager", None)
    if isinstance(eager, np.ufunc):
        return eager, False
    wrapped = getattr(eager, "quiet_ufunc", None)
    if isinstance(wrapped, np.ufunc):
        return wrapped, True
    return None, False


class StandInGraph(InterpretedGraph):
    """An InterpretedGraph whose ufunc nodes write into reused buffers (see the module docstring)."""

    def __init__(self, graph):
        super().__init__(graph)
        self._buffers = threading.local()
        self.slot_types = []          # slot -> (shape, NumPy dtype)
        self.plan = self._make_plan() if not self.symbolic else None
        self.runs = _block_runs(self.graph, self.steps, self.plan) if self.plan is not None else {}
        self.last_run_s = None

    def _make_plan(self):
        """Per step: (ufunc or None, quiet, output slot or _NO_SLOT, value ids whose last use is this step)."""
        graph, nodes = self.graph, self.graph.nodes
        outputs = set(graph.outputs)
        last_use = {}
        for i, node in enumerate(nodes):
            for j in node.inputs:
                last_use[j] = i
        dying = {}
        for j, i in last_use.items():
            if j not in outputs:
                dying.setdefault(i, []).append(j)
        ufuncs = []
        for op, attrs, node in self.steps:
            ufunc, quiet = eager_ufunc(op) if node.op not in ("input", "constant") else (None, False)
            if ufunc is not None and not _writes_into_buffer(ufunc, node, attrs, nodes):
                ufunc = None
            ufuncs.append((ufunc, quiet))
        # A buffer is only handed to a value that ufuncs alone read: another op may return a view of it (a
        # reshape), which would outlive the buffer's release or escape as a graph output.
        users = graph.users()
        slot_of, free, plan = {}, {}, []
        for i, (op, attrs, node) in enumerate(self.steps):
            ufunc, quiet = ufuncs[i]
            slot = _NO_SLOT
            if ufunc is not None and i not in outputs and all(ufuncs[u][0] is not None for u in users[i]):
                key = (tuple(node.type.shape), node.type.dtype.np)
                # in place into an operand that dies here, with the result's shape and dtype (no broadcasting)
                reuse = next((slot_of[j] for j in node.inputs if j in slot_of and last_use[j] == i
                              and self.slot_types[slot_of[j]] == key), None)
                if reuse is not None:
                    slot = reuse
                    for j in node.inputs:
                        if slot_of.get(j) == reuse:
                            del slot_of[j]
                else:
                    pool = free.get(key)
                    if pool:
                        slot = pool.pop()
                    else:
                        slot = len(self.slot_types)
                        self.slot_types.append(key)
                slot_of[i] = slot
            released = tuple(dying.get(i, ()))
            for j in released:   # their buffers become free for the nodes after this one
                s = slot_of.pop(j, None)
                if s is not None:
                    free.setdefault(self.slot_types[s], []).append(s)
            plan.append((ufunc, quiet, slot, released))
        return plan

    def run(self, state, arrays):
        start = time.perf_counter()
        try:
            return super().run(state, arrays)
        finally:   # (how long interpreting takes: the runtime weighs waiting for a compile nearly done against it)
            self.last_run_s = time.perf_counter() - start

    def _thread_buffers(self):
        buffers = getattr(self._buffers, "arrays", None)
        if buffers is None:
            buffers = self._buffers.arrays = [np.empty(shape, dtype) for shape, dtype in self.slot_types]
        return buffers

    def _run(self, state, arrays):
        if self.plan is None:
            return super()._run(state, arrays)
        buffers = self._thread_buffers()
        values = [None] * len(self.steps)
        inputs = iter(arrays)
        runs = self.runs if self.runs and _blocks_can_report(np.geterr()) else {}
        skip_to = 0
        for i, ((op, attrs, node), (ufunc, quiet, slot, released)) in enumerate(zip(self.steps, self.plan)):
            if i < skip_to:
                continue
            run = runs.get(i)
            if run is not None:
                self._run_blocks(run, values, inputs, state, buffers)
                skip_to = run.end
                for k in range(i, run.end):
                    for j in self.plan[k][3]:
                        values[j] = None
                continue
            if node.op == "input":
                values[i] = next(inputs)
            elif ufunc is None:
                values[i] = run_node(op, node, attrs, state, [values[j] for j in node.inputs])
            else:
                values[i] = _call_ufunc(ufunc, quiet, op, node, [values[j] for j in node.inputs],
                                        buffers[slot] if slot != _NO_SLOT else None)
            for j in released:
                values[j] = None   # (the interpreter keeps it; dropping it frees an unplanned temporary)
        return [values[i] for i in self.graph.outputs]


    def _thread_blocks(self, run):
        """This thread's block scratch arrays for ``run``."""
        table = getattr(self._buffers, "blocks", None)
        if table is None:
            table = self._buffers.blocks = {}
        scratch = table.get(run.start)
        if scratch is None:
            scratch = table[run.start] = [np.empty(BLOCK_ELEMENTS, dtype) for dtype in run.scratch_dtypes]
        return scratch

    def _output_array(self, i, shape, dtype):
        """An array for graph output ``i``: one of this thread's two earlier ones that nobody holds any more (the
        caller dropped that result: ``sys.getrefcount``), else a new one, which replaces the older of the two. As
        compiler.runner's pool does: a reused 16 MB array skips the ~2 ms of page faults of fresh memory, and a
        caller that keeps the previous result still gets a recycled one."""
        table = getattr(self._buffers, "outputs", None)
        if table is None:
            table = self._buffers.outputs = {}
        pair = table.get(i)
        if pair is None:
            pair = table[i] = [None, None]
        # (the same getrefcount rule as compiler.runner's generated pool test and distributed._worker._unused)
        for array in pair:   # references: the pair, this loop's name, getrefcount's argument
            if array is not None and sys.getrefcount(array) <= 3:
                return array
        array = np.empty(shape, dtype)
        pair[0], pair[1] = pair[1], array
        return array

    def _run_blocks(self, run, values, inputs, state, buffers):
        """Steps ``run.start`` to ``run.end - 1``, block by block (see the module docstring)."""
        for i in run.leaves:   # (inputs and constants inside the run: before its blocks)
            op, attrs, node = self.steps[i]
            values[i] = next(inputs) if node.op == "input" else run_node(op, node, attrs, state, [])
        shape, size = run.shape, run.size
        operands = {}   # value id -> its whole flat array (or 0-d: a one-element operand)
        for j in run.external:
            value = np.asarray(values[j])
            operands[j] = value.reshape(-1) if value.shape == shape else value.reshape(())
        for i, dtype in run.kept:   # graph outputs get an array no one else holds, others their planned buffer
            slot = self.plan[i][2]
            if i in run.outputs:
                full = self._output_array(i, shape, dtype)
            else:
                full = buffers[slot] if slot != _NO_SLOT else np.empty(shape, dtype)
            values[i] = full
            operands[i] = full.reshape(-1)
        scratch = self._thread_blocks(run)
        steps = run.block_steps
        flagged = {}   # (step, NumPy's name of the error) of every floating-point error raised in a block

        def record(kind, _flag):
            flagged[(current[0], kind)] = True
        current = [0]
        with np.errstate(all="call", call=record):
            for lo in range(0, size, BLOCK_ELEMENTS):
                hi = min(lo + BLOCK_ELEMENTS, size)
                m = hi - lo
                block = {j: (a[lo:hi] if a.ndim else a) for j, a in operands.items()}
                for k, (i, ufunc, quiet, args, target) in enumerate(steps):
                    out = block[i] if target is None else scratch[target][:m]
                    current[0] = k   # (a quiet op's errors are recorded too, and never reported)
                    ufunc(*[block[j] for j in args], out=out)
                    block[i] = out
        if flagged:
            _report_fp_errors(flagged, steps, np.geterr())


class _BlockRun:
    """Steps ``start`` to ``end - 1`` of a StandInGraph, run block by block: ``block_steps`` (step, ufunc, quiet,
    operand value ids, scratch index or None for a value ``kept`` whole), ``leaves`` (inputs, constants),
    ``external`` (values computed before it that it reads)."""

    def __init__(self, start, end, shape, size, leaves, external, kept, block_steps, scratch_dtypes, outputs):
        self.start, self.end, self.shape, self.size = start, end, shape, size
        self.leaves, self.external, self.kept = leaves, external, kept
        self.block_steps, self.scratch_dtypes, self.outputs = block_steps, scratch_dtypes, outputs


def _block_runs(graph, steps, plan):
    """{first step: _BlockRun} for every run of at least two consecutive buffer-writing ufunc steps of one shape
    of ``_MIN_BLOCKED_ELEMENTS`` or more, whose operands have that shape or one element (inputs and constants
    may sit between them)."""
    nodes = graph.nodes
    last_use = {}
    for i, node in enumerate(nodes):
        for j in node.inputs:
            last_use[j] = i
    for j in graph.outputs:
        last_use[j] = len(nodes)

    def joins(i, shape):
        node = nodes[i]
        if plan[i][0] is None or tuple(node.type.shape) != shape:
            return False
        return all(tuple(nodes[j].type.shape) == shape or _size(nodes[j].type.shape) == 1 for j in node.inputs)

    runs, i = {}, 0
    while i < len(steps):
        node = nodes[i]
        shape = tuple(node.type.shape) if plan[i][0] is not None else None
        if shape is None or _size(shape) < _MIN_BLOCKED_ELEMENTS or not joins(i, shape):
            i += 1
            continue
        end, members = i, []
        while end < len(steps) and (nodes[end].op in ("input", "constant") or joins(end, shape)):
            if nodes[end].op not in ("input", "constant"):
                members.append(end)
            end += 1
        while nodes[end - 1].op in ("input", "constant"):   # (trailing leaves run as usual)
            end -= 1
        if len(members) >= 2:
            runs[i] = _make_run(graph, nodes, plan, i, end, shape, members, last_use)
        i = end
    return runs


def _make_run(graph, nodes, plan, start, end, shape, members, last_use):
    inside = set(members)
    leaves = [i for i in range(start, end) if i not in inside]
    external = sorted({j for i in members for j in nodes[i].inputs if j not in inside})
    kept = [(i, nodes[i].type.dtype.np) for i in members if last_use.get(i, -1) >= end]
    kept_ids = {i for i, _ in kept}
    scratch_dtypes, free, scratch_of, block_steps = [], {}, {}, []
    for i in members:
        for j in set(nodes[i].inputs):   # operands dying here hand their scratch on (in place, as NumPy may)
            if j in scratch_of and last_use[j] == i:
                free.setdefault(scratch_dtypes[scratch_of[j]], []).append(scratch_of.pop(j))
        target = None
        if i not in kept_ids:
            dtype = nodes[i].type.dtype.np
            pool = free.get(dtype)
            target = pool.pop() if pool else None
            if target is None:
                target = len(scratch_dtypes)
                scratch_dtypes.append(dtype)
            scratch_of[i] = target
        ufunc, quiet = plan[i][0], plan[i][1]
        block_steps.append((i, ufunc, quiet, tuple(nodes[i].inputs), target))
    return _BlockRun(start, end, shape, _size(shape), leaves, external, kept, block_steps, scratch_dtypes,
                     set(graph.outputs))


def _size(shape):
    size = 1
    for d in shape:
        size *= d
    return size


def _blocks_can_report(settings):
    """Whether the caller's np.errstate settings are ones the block runs report like NumPy ('ignore', 'warn',
    'raise')."""
    return all(mode in ("ignore", "warn", "raise") for mode in settings.values())


def _report_fp_errors(flagged, steps, settings):
    """NumPy's warnings and errors for the floating-point errors the blocks raised: per node in order, per kind in
    NumPy's order, as ``settings`` (the caller's np.geterr()) says."""
    for k, (i, ufunc, quiet, args, target) in enumerate(steps):
        for kind, name in _FP_ERRORS:
            if (k, kind) not in flagged or quiet:
                continue
            mode = settings[name]
            message = f"{kind} encountered in {ufunc.__name__}"
            if mode == "raise":
                raise FloatingPointError(message)
            if mode == "warn":
                warnings.warn(message, RuntimeWarning, stacklevel=5)


def _writes_into_buffer(ufunc, node, attrs, nodes):
    """Whether ``node`` may run as ``ufunc(*args, out=buffer)``: no attributes, one result of known shape, and
    NumPy's own type resolution for the operands gives the node's dtype (so ``out=`` casts nothing)."""
    if attrs or not isinstance(node.type, TensorType) or ufunc.nout != 1 or ufunc.nin != len(node.inputs):
        return False
    if not all(type(d) is int for d in node.type.shape) or not node.type.shape:
        return False
    operand_types = [nodes[j].type for j in node.inputs]
    if not all(isinstance(t, TensorType) for t in operand_types):
        return False
    try:
        resolved = ufunc.resolve_dtypes(tuple(t.dtype.np for t in operand_types) + (None,))
    except (TypeError, ValueError):
        return False
    return resolved[-1] == node.type.dtype.np


def _call_ufunc(ufunc, quiet, op, node, args, out):
    try:
        if quiet:
            with np.errstate(all="ignore"):
                result = ufunc(*args, out=out) if out is not None else ufunc(*args)
        else:
            result = ufunc(*args, out=out) if out is not None else ufunc(*args)
    except GraphjitError as err:
        raise op_error(err, op.name, node.loc) from None
    except EAGER_ERRORS as err:
        raise op_error(err, op.name, node.loc) from None
    return check_result(node, result)
