"""What a Dask task runs: a graph document (``Graph.to_json`` text) and NumPy blocks in, NumPy arrays out.

Tasks carry the document, never pickled code or closures: these module-level functions are pickled by reference,
and each process parses a document once and keeps, per block shape, one ConcreteFunction (so one compiled entry,
through the runtime and the persistent kernel cache) for as long as it lives. A document's graph is typed for the
whole arrays; a block is a part of them, so the graph is retyped for the block's shapes by each op's own rule
(elementwise chains and per-block reductions are valid for any block shape).

On a ``dask.distributed`` worker a task's kernels run on ``OMP_NUM_THREADS`` threads (1 unless set: Dask's nanny
sets it to 1 so that BLAS does not oversubscribe the cores its worker threads already use), not on Numba's default
of one thread per core in every worker process; ``NUMBA_NUM_THREADS`` in a worker's environment is left in charge.
"""
import hashlib
import os
import threading

import numpy as np

from graphjit.compiler.passes.rebuild import typed_node
from graphjit.tracer.dtypes import from_numpy
from graphjit.tracer.function import ConcreteFunction, _TensorSlot
from graphjit.tracer.ir import Graph, Node, TensorType

_programs = {}      # (document sha256, input types) -> ConcreteFunction, for this process's lifetime
_documents = {}     # document sha256 -> Graph
_lock = threading.Lock()
_this_thread = threading.local()   # .threads_set: this thread's Numba thread count is settled


def run_graph(text, *arrays):
    """The graph's outputs on ``arrays`` (one array, or a tuple when the graph has several outputs)."""
    if not getattr(_this_thread, "threads_set", False):
        _set_task_threads()
    outputs = program(text, [np.asarray(a) for a in arrays])(*arrays)
    if isinstance(outputs, tuple):
        return tuple(np.asarray(o._value) for o in outputs)
    return np.asarray(outputs._value)


def _set_task_threads():
    """Numba's thread count for this thread (``numba.set_num_threads`` is per thread) when it is a Dask worker's."""
    _this_thread.threads_set = True
    if "NUMBA_NUM_THREADS" in os.environ:
        return
    try:
        from distributed import get_worker
        get_worker()
    except (ImportError, ValueError):   # not on a dask.distributed worker
        return
    import numba
    try:
        wanted = int(os.environ.get("OMP_NUM_THREADS", "1"))
    except ValueError:
        wanted = 1
    numba.set_num_threads(max(1, min(wanted, numba.config.NUMBA_NUM_THREADS)))


def program(text, arrays):
    digest = hashlib.sha256(text.encode()).hexdigest()
    types = tuple(TensorType(a.shape, from_numpy(a.dtype)) for a in arrays)
    key = (digest, types)
    with _lock:
        found = _programs.get(key)
        if found is not None:
            return found
        graph = _documents.get(digest)
        if graph is None:
            graph = _documents[digest] = Graph.from_json(text, variables={})
        graph = retyped(graph, types)
        outputs = tuple(_TensorSlot(k) for k in range(len(graph.outputs)))
        found = _programs[key] = ConcreteFunction(graph, list(types), outputs[0] if len(outputs) == 1 else outputs,
                                                  graph.name)
        return found


def retyped(graph, input_types):
    """``graph`` with its inputs of ``input_types`` and every other node typed again by its op's rule."""
    current = [graph.nodes[i].type for i in graph.inputs]
    if list(current) == list(input_types):
        return graph
    given = dict(zip(graph.inputs, input_types))
    nodes = []
    for node in graph.nodes:
        if node.op == "input":
            nodes.append(Node("input", (), node.attrs, given[len(nodes)], (), node.loc))
        elif node.op == "constant":
            nodes.append(node)
        else:
            nodes.append(typed_node(nodes, node.op, node.inputs, node.loc, **node.attr_dict))
    return Graph(tuple(nodes), graph.inputs, graph.outputs, graph.name)

