"""Eager ops on the GPU: each runs as a one-op graph compiled by the CUDA backend (``backend``), once per (op,
attributes, operand types), so an eager loop compiles each kind of step once and then only launches kernels.

The compiled executables live in one bounded table keyed by that content (the attributes are the IR's hashable
values, the types shapes and DTypes): never by an object's id(), so an entry cannot outlive what it names and be
found again by a newcomer at the same address. The least recently used entry goes when the table is full.
Ops without a CUDA kernel (control flow, scatter_add, unstable argsort, ...: backend._kernel_supported) run on the
host inside that graph, as the backend runs them between stages: their operands copied back and their results
copied in, each copy counted (``memory.TRANSFERS``)."""
import collections
import threading

from graphjit.tracer.ir import GraphBuilder, make_attrs

from ..backend import get_backend

MAX_EXECUTABLES = 512
_executables = collections.OrderedDict()   # (op name, attrs, operand types) -> compiled one-op graph
_lock = threading.Lock()
COUNTS = {"compiles": 0, "reuses": 0}      # (read by tests: an eager loop compiles each kind of op once)


def one_op_graph(op, types, attrs, out_type):
    """The graph ``%n = op(%0, ..., %n-1)`` over inputs of ``types``, returning its one result."""
    builder = GraphBuilder(f"eager_{op.name}")
    ids = [builder.add_input(t, k) for k, t in enumerate(types)]
    return builder.finish([builder.add(op.name, ids, attrs, out_type)])


def executable(op, types, attrs, out_type):
    """The CUDA executable of ``op`` on operands of ``types`` (compiled on first use, then found by content)."""
    key = (op.name, make_attrs(attrs), tuple(types))
    try:
        hash(key)
    except TypeError:   # (an attribute value outside the IR's hashable kinds: compiled each time, never kept)
        key = None
    if key is not None:
        with _lock:
            found = _executables.get(key)
            if found is not None:
                _executables.move_to_end(key)
                COUNTS["reuses"] += 1
                return found
    compiled = get_backend("cuda").compile(one_op_graph(op, types, attrs, out_type))
    with _lock:
        COUNTS["compiles"] += 1
        if key is not None:
            _executables[key] = compiled
            while len(_executables) > MAX_EXECUTABLES:
                _executables.popitem(last=False)
    return compiled


def cached_count():
    with _lock:
        return len(_executables)
