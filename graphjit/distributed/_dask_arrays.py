"""A ``@gj.function`` called on ``dask.array`` arguments: its optimized graph becomes a lazy Dask array graph.

The function is traced for the arrays' shapes and dtypes (as for NumPy arguments) and optimized by the ordinary
pipeline; then each node becomes Dask work, in graph order:

- elementwise chains (ops lowered as ``Scalar``, with their scalar constants) are not materialized node by node:
  the chain ending where a non-elementwise node (or an output) needs a value is cut out as one graph and run by
  ``da.blockwise`` on each block (right-aligned broadcasting, as NumPy; non-scalar constants become one-chunk Dask
  inputs, so Dask aligns their chunks);
- reductions (sum, mean, prod, max, min, any, all) run the chain that feeds them and a per-block reduction
  (keepdims; float sums and products accumulated in float64) as one blockwise task per block, then Dask's tree
  reduction combines those partials;
- matmul is Dask's own blocked matmul; its elementwise epilogue is the next chain;
- reshape, transpose, squeeze, expand_dims, broadcast_to, identity and basic slicing are Dask's own views;
- ops along an axis (softmax and log_softmax rows, cumsum, sort, argmax, logsumexp) gather that axis into one
  chunk and run per block of the other axes;
- any other node (gather, concat, control flow, ...) runs on its inputs gathered into one chunk each: correct
  for every op, but one task (logged once per call at INFO on the ``graphjit`` logger).

Every task runs a graph document through ``run_graph``. Variables are read once, when the function is
called, and enter as constants; a function that assigns variables or draws random numbers is refused (the
training-step path is ``gj.distributed.data_parallel_step``).
"""
import logging
import weakref

import dask
import dask.array as da
import numpy as np

from graphjit.compiler.fusion import SCALAR, classify
from graphjit.compiler.passes.pipeline import optimize
from graphjit.compiler.passes.rebuild import typed_node
from graphjit.tracer import context, nest
from graphjit.tracer.dtypes import float64, from_numpy
from graphjit.tracer.errors import InvalidArgumentError, UnimplementedError
from graphjit.tracer.function import _TensorSlot
from graphjit.tracer.ir import Const, Graph, Node, Slice, TensorType, TupleType, make_attrs
from graphjit.tracer.registry import OPS
from graphjit.tracer.serialize import graph_to_json
from graphjit.tracer.shapes import num_elements
from graphjit.tracer.specs import TensorSpec

from ._tasks import retyped, run_graph

logger = logging.getLogger("graphjit")

_REDUCTIONS = {   # op -> (Dask's combining reduction, accumulate floats in float64)
    "reduce_sum": ("sum", True), "reduce_mean": ("sum", True), "reduce_prod": ("prod", True),
    "reduce_max": ("max", False), "reduce_min": ("min", False), "reduce_any": ("any", False),
    "reduce_all": ("all", False)}
_ALONG_AXES = ("softmax", "log_softmax", "cumsum", "cumprod", "sort", "argsort", "argmax", "argmin",
               "reduce_logsumexp")   # independent along the other axes: blockwise once ``axis`` is one chunk
_RESHAPES = ("reshape", "squeeze", "expand_dims")
_PASS_THROUGH = ("identity", "stop_gradient")
_optimized = weakref.WeakKeyDictionary()   # ConcreteFunction -> its optimized graph (the same for every call)
_EMBEDDED_CONSTANT_ELEMENTS = 1   # larger constants enter as one-chunk Dask arrays (Dask aligns their chunks)


def is_dask_array(value):
    return isinstance(value, da.Array)


def _is_array(value):
    return isinstance(value, (np.ndarray, np.generic)) or hasattr(value, "_value")


def call(function, args, kwargs):
    """``function(*args, **kwargs)`` where some tensor arguments are Dask arrays: lazy Dask results."""
    def spec_of(value):
        if is_dask_array(value):
            if any(np.isnan(c) for chunks in value.chunks for c in chunks):
                raise InvalidArgumentError(f"{function.name}: a Dask array argument of unknown chunk sizes "
                                           f"{value.chunks}; call .compute_chunk_sizes() first")
            return TensorSpec(value.shape, value.dtype)
        if _is_array(value):
            array = np.asarray(value)
            return TensorSpec(array.shape, array.dtype)
        return value

    def as_dask(value):
        if is_dask_array(value):
            return value
        array = np.asarray(value)
        return da.from_array(array, chunks=array.shape or ())
    concrete = function.get_concrete_function(*nest.map_structure(spec_of, list(args)),
                                              **{k: nest.map_structure(spec_of, v) for k, v in kwargs.items()})
    # the graph's inputs in the order tracing flattened the canonical (bound) arguments
    leaves = [as_dask(v) for v in nest.flatten(list(function._bind(args, kwargs)))
              if is_dask_array(v) or _is_array(v)]
    graph = _with_concrete_types(concrete, leaves)
    outputs = _Lowering(graph, function.name).run(leaves)
    template = concrete.output_template
    if type(template) is _TensorSlot:
        return outputs[template.index]
    return nest.map_structure(lambda leaf: outputs[leaf.index] if type(leaf) is _TensorSlot else leaf, template)


def _with_concrete_types(concrete, leaves):
    graph = _optimized.get(concrete)
    if graph is None:
        graph = _optimized[concrete] = optimize(concrete.graph)
    if concrete.captured_inputs:
        raise UnimplementedError(f"{concrete.name}: a function traced inside another one cannot run on Dask arrays")
    types = [TensorType(tuple(a.shape), from_numpy(a.dtype)) for a in leaves]
    return _variables_as_constants(retyped(graph, types), concrete.name)


def _variables_as_constants(graph, name):
    """Variable reads become constants of the values now; writes and random draws are refused."""
    state = context.eager_context().runtime.state
    nodes = []
    for node in graph.nodes:
        if node.op == "read_variable":
            ref = node.attr("var")
            with state.lock:
                value = np.array(state.read(ref))
            node = Node("constant", (), make_attrs({"value": Const(value)}), node.type, (), node.loc)
        elif node.op == "assign_variable" or OPS.get(node.op) is not None and OPS[node.op].stateful:
            raise UnimplementedError(f"{name}: {node.op} (at {node.loc or 'an unknown line'}) has effects, which a "
                                     f"lazy Dask graph cannot order; on Dask arrays a function may read variables "
                                     f"but not assign them or draw random numbers (for training steps use "
                                     f"gj.distributed.data_parallel_step)")
        nodes.append(Node(node.op, node.inputs, node.attrs, node.type, (), node.loc))
    return Graph(tuple(nodes), graph.inputs, graph.outputs, graph.name)


class _Lowering:
    """Walks the graph once, giving each node a Dask value (``dask``), an embedded scalar constant, or leaving an
    elementwise node pending until a consumer needs it as an array."""

    def __init__(self, graph, name):
        self.graph, self.name = graph, name
        self.nodes = graph.nodes
        self.arrays = {}      # node id -> dask array
        self.pending = set()  # elementwise node ids not materialized (yet)
        self.whole = []       # ops run as one task (for the log line)

    def run(self, leaves):
        for node_id, leaf in zip(self.graph.inputs, leaves):
            self.arrays[node_id] = leaf
        for i, node in enumerate(self.nodes):
            if node.op == "input":
                continue
            if node.op == "constant":
                if not self._embedded(i):
                    self.arrays[i] = self.array(i)
            elif node.op == "tuple_get":
                pass   # materialized with its producer (see _whole)
            elif isinstance(node.type, TensorType) and num_elements(node.type.shape) == 0:
                self.arrays[i] = da.zeros(node.type.shape, dtype=node.type.dtype.np)   # (no values to compute)
            elif self._elementwise(node):
                self.pending.add(i)
            else:
                self._lower(i, node)
        if self.whole:
            logger.info("%s on Dask arrays: %s ran as one task each (no blockwise form)", self.name,
                        ", ".join(sorted(set(self.whole))))
        return [self.array(i) for i in self.graph.outputs]

    def _embedded(self, i):
        """A constant of one element in every dim (a scalar, or [[x]]) is written into the graphs that read it."""
        node = self.nodes[i]
        return node.op == "constant" and all(d == 1 for d in node.type.shape)

    def _elementwise(self, node):
        """An op computed element by element, whose result has its inputs' broadcast shape (``fill``'s, of a shape
        of its own, is not: it runs as one task)."""
        if not node.inputs or classify(node, self.nodes, lambda *a: True) != SCALAR:
            return False
        shapes = [self.nodes[j].type.shape for j in node.inputs]
        return tuple(np.broadcast_shapes(*shapes)) == tuple(node.type.shape)

    # -- values --

    def array(self, i):
        if i in self.arrays:
            return self.arrays[i]
        node = self.nodes[i]
        if node.op == "constant":
            value = node.attr("value").value
            return da.from_array(value, chunks=value.shape or ())
        if node.op == "tuple_get":
            raise AssertionError("tuple_get before its producer")  # producers store their parts
        self.arrays[i] = self._blockwise(i, [])
        return self.arrays[i]

    def _cone(self, root):
        """(inside node ids in order, boundary ids): the pending elementwise nodes ``root`` needs, and the
        materialized arrays (or larger constants) they read."""
        inside, boundary, seen = [], [], set()

        def visit(j):
            if j in seen:
                return
            seen.add(j)
            if j in self.pending and j not in self.arrays:
                for k in self.nodes[j].inputs:
                    visit(k)
                inside.append(j)
            elif self._embedded(j) and j not in self.arrays and j != root:   # (a constant root is read)
                inside.append(j)
            else:
                boundary.append(j)
        visit(root)
        return inside, boundary

    def _cone_graph(self, root, finish):
        """The graph of ``root``'s cone, its last node(s) added by ``finish(nodes, root_id)``; its boundary ids."""
        inside, boundary = self._cone(root)
        nodes, ids = [], {}
        for k, j in enumerate(boundary):
            nodes.append(Node("input", (), make_attrs({"index": k}), self.nodes[j].type))
            ids[j] = k
        for j in inside:
            node = self.nodes[j]
            nodes.append(Node(node.op, tuple(ids[k] for k in node.inputs), node.attrs, node.type, (), node.loc))
            ids[j] = len(nodes) - 1
        outputs = finish(nodes, ids[root])
        return Graph(tuple(nodes), tuple(range(len(boundary))), tuple(outputs), f"{self.name}_part"), boundary

    def _blockwise(self, root, reduced_axes, finish=None):
        graph, boundary = self._cone_graph(root, finish or (lambda nodes, r: [r]))
        out_type = graph.nodes[graph.outputs[0]].type
        rank = len(self.nodes[root].type.shape)
        letters = "abcdefghijklmnopqrstuvwxyz"[:rank]
        operands = []
        for j in boundary:
            array = self.array(j)
            operands += [array, letters[rank - array.ndim:]]
        text = graph_to_json(graph)
        adjust = {letters[a]: 1 for a in reduced_axes}
        covered = set("".join(operands[1::2]))   # a dim only a written-in [[x]] constant has: size 1, new here
        new_axes = {c: 1 for c in letters if c not in covered}
        return da.blockwise(run_graph, letters, text, None, *operands, adjust_chunks=adjust or None,
                            new_axes=new_axes or None,
                            dtype=out_type.dtype.np, meta=np.empty((0,) * rank, out_type.dtype.np),
                            name=f"graphjit-{self.name}-" + dask.base.tokenize(text, *operands))

    # -- the other kinds of node --

    def _lower(self, i, node):
        op = node.op
        if op in _REDUCTIONS:
            self.arrays[i] = self._reduction(i, node)
        elif op == "matmul":
            a, b = (self.array(j) for j in node.inputs)
            if node.attr("transpose_a"):
                a = da.swapaxes(a, -1, -2)
            if node.attr("transpose_b"):
                b = da.swapaxes(b, -1, -2)
            self.arrays[i] = da.matmul(a, b).astype(node.type.dtype.np, copy=False)
        elif op in _ALONG_AXES and len(node.inputs) == 1:
            self.arrays[i] = self._along_axes(node)
        elif op in _RESHAPES:
            source = self.array(node.inputs[0])
            try:
                self.arrays[i] = source.reshape(node.type.shape)
            except NotImplementedError:   # (chunkings Dask's reshape cannot map: gathered first)
                self.arrays[i] = source.rechunk(-1).reshape(node.type.shape)
        elif op == "transpose":
            self.arrays[i] = da.transpose(self.array(node.inputs[0]), node.attr("perm"))
        elif op == "broadcast_to":
            self.arrays[i] = da.broadcast_to(self.array(node.inputs[0]), node.type.shape)
        elif op in _PASS_THROUGH:
            self.arrays[i] = self.array(node.inputs[0])
        elif op == "getitem" and len(node.inputs) == 1:
            key = tuple(slice(k.start, k.stop, k.step) if type(k) is Slice else k
                        for k in node.attr("key"))
            self.arrays[i] = self.array(node.inputs[0])[key]
        else:
            self._whole(i, node)

    def _reduction(self, i, node):
        combine, wide = _REDUCTIONS[node.op]
        source = node.inputs[0]
        in_type = self.nodes[source].type
        axes = tuple(node.attr("axis"))
        keepdims = node.attr("keepdims")
        accumulate = wide and in_type.dtype.is_floating
        partial_op = "reduce_sum" if node.op == "reduce_mean" else node.op

        def finish(nodes, root):
            if accumulate and in_type.dtype.name != "float64":
                nodes.append(typed_node(nodes, "cast", (root,), node.loc, dtype=float64))
                root = len(nodes) - 1
            nodes.append(typed_node(nodes, partial_op, (root,), node.loc, axis=axes, keepdims=True))
            return [len(nodes) - 1]
        partials = self._blockwise(source, axes, finish)   # (a materialized source: its cone is just itself)
        total = getattr(partials, combine)(axis=axes, keepdims=keepdims)
        if node.op == "reduce_mean":
            count = int(np.prod([in_type.shape[a] for a in axes], dtype=np.int64))
            total = total / count if count else total * np.nan
        return total.astype(node.type.dtype.np, copy=False)

    def _along_axes(self, node):
        """An op that works along ``axis`` (rows of a softmax, a cumsum, an argmax): those axes gathered into one
        chunk, the op run per block of the others."""
        source = self.array(node.inputs[0])
        axis = node.attr("axis")
        axes = (tuple(range(source.ndim)) if axis is None else
                tuple(a % source.ndim for a in (axis if isinstance(axis, tuple) else (axis,))))
        source = source.rechunk({a: -1 for a in axes})
        letters = "abcdefghijklmnopqrstuvwxyz"[:source.ndim]
        out_shape = node.type.shape
        if len(out_shape) == source.ndim:
            out_letters = letters
            adjust = {letters[a]: out_shape[a] for a in axes if out_shape[a] != source.shape[a]}
        else:   # the axes are reduced away
            out_letters = "".join(c for a, c in enumerate(letters) if a not in axes)
            adjust = {}
        nodes = [Node("input", (), make_attrs({"index": 0}), self.nodes[node.inputs[0]].type)]
        nodes.append(Node(node.op, (0,), node.attrs, node.type, (), node.loc))
        text = graph_to_json(Graph(tuple(nodes), (0,), (1,), f"{self.name}_{node.op}"))
        return da.blockwise(run_graph, out_letters, text, None, source, letters, concatenate=True,
                            adjust_chunks=adjust or None, dtype=node.type.dtype.np,
                            meta=np.empty((0,) * len(out_shape), node.type.dtype.np),
                            name=f"graphjit-{self.name}-" + dask.base.tokenize(text, source))

    def _whole(self, i, node):
        """One task: the node's own graph on its inputs gathered into one chunk each."""
        self.whole.append(node.op)
        inputs = [self.array(j).rechunk(-1) if self.array(j).ndim else self.array(j) for j in node.inputs]
        nodes = [Node("input", (), make_attrs({"index": k}), self.nodes[j].type) for k, j in enumerate(node.inputs)]
        nodes.append(Node(node.op, tuple(range(len(inputs))), node.attrs, node.type, (), node.loc))
        parts = node.type.types if isinstance(node.type, TupleType) else None
        if parts is None:
            outputs = [len(nodes) - 1]
        else:
            for k, t in enumerate(parts):
                nodes.append(Node("tuple_get", (len(inputs),), make_attrs({"index": k}), t, (), node.loc))
            outputs = list(range(len(inputs) + 1, len(nodes)))
        text = graph_to_json(Graph(tuple(nodes), tuple(range(len(inputs))), tuple(outputs), f"{self.name}_{node.op}"))
        blocks = [a.to_delayed().ravel()[0] for a in inputs]
        result = dask.delayed(run_graph, pure=True)(text, *blocks)
        if parts is None:
            self.arrays[i] = da.from_delayed(result, node.type.shape, dtype=node.type.dtype.np)
            return
        for j, user in enumerate(self.nodes):   # the tuple_get nodes of this node take its parts
            if user.op == "tuple_get" and user.inputs[0] == i:
                k = user.attr("index")
                self.arrays[j] = da.from_delayed(result[k], parts[k].shape, dtype=parts[k].dtype.np)

