"""Graphs over symbolic sizes (an input_signature's None dimensions) on the CUDA backend: specialised per call.

The CUDA kernels are written with their sizes as numbers (grid sizes, loop bounds, shared-memory tiles), so a graph
over symbolic sizes is compiled once per tuple of sizes it meets: ``SizedCudaGraph`` binds the call's sizes from
its inputs' shapes (``interpreter.bind_sizes``: an input that does not fit the signature raises), specialises the
graph to them (every type, attribute and subgraph evaluated) and runs the CUDA executable of that specialisation,
kept in a bounded table keyed by the sizes (ints: never an object's id). As with XLA, each new size compiles (the
disk cache keeps each one's kernels), and the trace stays one: the function is not retraced per size."""
import collections
import dataclasses
import threading

from graphjit.tracer import symbolic
from graphjit.tracer.ir import Graph, Slice

from ..interpreter import bind_sizes, evaluate_type

MAX_SPECIALISATIONS = 32


def specialised(graph, sizes):
    """``graph`` with every symbolic size bound to ``sizes`` (name -> int): the graph that tracing these sizes
    apart would give."""
    nodes = tuple(dataclasses.replace(node, type=evaluate_type(node.type, sizes),
                                      attrs=tuple((k, _bound(v, sizes)) for k, v in node.attrs))
                  for node in graph.nodes)
    name = f"{graph.name}[{','.join(f'{k}={v}' for k, v in sorted(sizes.items()))}]"
    return Graph(nodes, graph.inputs, graph.outputs, name=name)


def _bound(value, sizes):
    if isinstance(value, Graph):   # (a control-flow body: its sizes are the outer graph's atoms)
        return specialised(value, sizes)
    if isinstance(value, Slice):
        return Slice(*(symbolic.evaluate(v, sizes) for v in (value.start, value.stop, value.step)))
    if isinstance(value, (tuple, list)):
        return type(value)(_bound(v, sizes) for v in value)
    return symbolic.evaluate(value, sizes)


class SizedCudaGraph:
    """The CUDA executable of a graph over symbolic sizes: each call runs the specialisation for its sizes."""
    device = "cuda:0"
    run_tensors = None   # (no per-call shortcut: the runtime's path wraps device results)

    def __init__(self, graph, compile_concrete):
        self.graph = graph
        self.symbols = symbolic.graph_symbols(graph)
        self._compile = compile_concrete
        self._specialisations = collections.OrderedDict()   # sizes tuple -> CudaGraph
        self._lock = threading.Lock()
        self.compiles = 0

    def executable_for(self, arrays):
        sizes = bind_sizes(self.graph, arrays)
        key = tuple(sizes[name] for name in self.symbols)
        with self._lock:
            found = self._specialisations.get(key)
            if found is not None:
                self._specialisations.move_to_end(key)
                return found
        compiled = self._compile(specialised(self.graph, sizes))
        with self._lock:
            self.compiles += 1
            self._specialisations[key] = compiled
            while len(self._specialisations) > MAX_SPECIALISATIONS:
                self._specialisations.popitem(last=False)
        return compiled

    def run(self, state, arrays):
        return self.executable_for(arrays).run(state, arrays)

    @property
    def kernels(self):
        """The kernels of every specialisation compiled so far (for inspection)."""
        with self._lock:
            return {name: info for compiled in self._specialisations.values() for name, info in compiled.kernels.items()}
