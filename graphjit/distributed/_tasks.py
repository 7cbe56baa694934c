"""What a Dask task runs: a graph document (``Graph.to_json`` text) and NumPy blocks in, NumPy arrays out.

Tasks carry the document, never pickled code or closures: these module-level functions are pickled by reference,
and each process parses a document once and keeps, per block shape, one ConcreteFunction (so one compiled entry,
through the runtime and the persistent kernel cache) for as long as it lives. A document's graph is typed for the
whole arrays; a block is a part of them, so the graph is retyped for the block's shapes by each op's own rule
(elementwise chains and per-block reductions are valid for any block shape).

On a ``dask.distributed`` worker, the first task of each thread sets up its threads and the process's result
buffers (``_worker``).
"""
import hashlib
import threading

import numpy as np

from graphjit.compiler.passes.rebuild import typed_node
from graphjit.tracer.dtypes import from_numpy
from graphjit.tracer.function import ConcreteFunction, _TensorSlot
from graphjit.tracer.ir import Graph, Node, TensorType

from ._worker import settle_thread, this_thread

_programs = {}      # (document sha256, input types) -> ConcreteFunction, for this process's lifetime
_documents = {}     # document sha256 -> Graph
_lock = threading.Lock()


def run_graph(text, *arrays):
    """The graph's outputs on ``arrays`` (one array, or a tuple when the graph has several outputs)."""
    if not getattr(this_thread, "settled", False):
        settle_thread()
    outputs = program(text, [np.asarray(a) for a in arrays])(*arrays)
    if isinstance(outputs, tuple):
        return tuple(np.asarray(o._value) for o in outputs)
    return np.asarray(outputs._value)


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

