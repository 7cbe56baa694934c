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
- graph outputs are never planned buffers: each call returns fresh arrays, as the interpreter does.

Only a ufunc whose own type resolution gives the node's dtype writes into a buffer (then ``out=`` changes
nothing but where the result lands); every other node runs exactly as in the interpreter.
"""
import threading
import time

import numpy as np

from graphjit.tracer.errors import GraphjitError
from graphjit.tracer.ir import TensorType
from graphjit.tracer.op_errors import EAGER_ERRORS, op_error

from .interpreter import InterpretedGraph, check_result, run_node

_NO_SLOT = -1


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
        for i, ((op, attrs, node), (ufunc, quiet, slot, released)) in enumerate(zip(self.steps, self.plan)):
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
