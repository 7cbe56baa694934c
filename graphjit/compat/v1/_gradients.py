"""``compat.v1.gradients``: TF1's symbolic gradients of graph tensors.

``gradients(ys, xs)`` adds one op per source to the graph; what it computes is built when a Session plans a
run (``Graph.plan_graph`` expands ``deferred`` ops), because the gradient rules (``Op.grad``, the same ones
``gj.GradientTape`` runs) need concrete shapes and a TF1 graph's may be partly unknown until the feeds say
(a placeholder of shape ``[None, 784]``). The backward pass is thus part of the run's IR graph and goes
through the same passes, fusion and kernels as the forward ops; one plan per fed shape, reused by every run.

Which sources are connected to the targets is decided when the ops are built, as in TF1 (unconnected sources
give ``None``, or zeros with ``unconnected_gradients="zero"``), and so is the error for an op on the path with
no gradient rule.
"""
from typing import NamedTuple

from graphjit.tracer import context
from graphjit.tracer.autodiff import NOT_DIFFERENTIABLE, backprop, gradient_of_reads, ones_like, zeros_of
from graphjit.tracer.errors import InvalidArgumentError, UnimplementedError
from graphjit.tracer.ir import TensorType, TupleType
from graphjit.tracer.source import user_location, with_location
from graphjit.tracer.tensor import SymbolicTensor, convert_to_tensor

from ._graph import GraphTensor
from ._variables import Variable


def gradients(ys, xs, grad_ys=None, name="gradients", stop_gradients=None, unconnected_gradients="none",
              **unused_tf1_options):
    """d(sum of ``ys``)/d``xs`` as graph tensors, one per source (``None`` for an unconnected one, or zeros with
    ``unconnected_gradients="zero"``). ``xs`` are graph tensors or compat.v1 variables; ``grad_ys`` weight the
    targets (a vector-Jacobian product); ``stop_gradients`` are tensors treated as constants."""
    if unconnected_gradients not in ("none", "zero"):
        raise InvalidArgumentError(f"unconnected_gradients must be 'none' or 'zero', got {unconnected_gradients!r}")
    ys, xs = _as_list(ys), _as_list(xs)
    if not ys:
        raise InvalidArgumentError("gradients: ys is empty")
    if not xs:
        return []
    graph = _graph_of(ys + xs)
    y_ids = [graph.node_id(_own(y, graph, "gradients(ys)"), "gradients(ys)") for y in ys]
    weight_ids = []
    if grad_ys is not None:
        grad_ys = _as_list(grad_ys)
        if len(grad_ys) != len(ys):
            raise InvalidArgumentError(f"gradients: {len(grad_ys)} grad_ys for {len(ys)} ys")
        for y, w in zip(ys, grad_ys):
            w = convert_to_tensor(w, y.dtype, what="gradients(grad_ys)")
            weight_ids.append(graph.node_id(w, "gradients(grad_ys)"))
    sources = [_source(x, graph) for x in xs]
    stopped = {graph.node_id(_own(t, graph, "gradients(stop_gradients)")) for t in _as_list(stop_gradients)}
    call = _GradientsCall(graph, y_ids, weight_ids, sources, stopped)
    results = []
    with graph.as_default(), graph.name_scope(name):
        for k, (x, source) in enumerate(zip(xs, sources)):
            connected = call.connected(k)
            if not connected and unconnected_gradients == "none":
                results.append(None)
                continue
            # Zeros need only the source's shape: a variable's is known, a tensor's once it is computed or fed.
            inputs = y_ids + weight_ids if connected else () if source.is_variable else (source.key,)
            results.append(graph.add_op("SymbolicGradient", call, inputs, {"index": k}, source.type,
                                        name=f"{_base_name(x)}_grad", loc=user_location()).outputs[0])
    return results


class _Source(NamedTuple):
    is_variable: bool
    key: int                 # the variable's id, or the source tensor's node id
    type: TensorType         # its static type (a variable's is concrete)


class _GradientsCall:
    """The op definition shared by the ops of one ``gradients`` call: which graph ops lie on the path from the
    sources to the targets (found when built), and the backward pass over them (built when a run is planned)."""
    name = "gradients"
    deferred = True    # Graph.plan_graph calls ``expand`` instead of adding a node
    stateful = False
    grad = None

    def __init__(self, graph, y_ids, weight_ids, sources, stopped):
        self.y_ids, self.weight_ids, self.sources = y_ids, weight_ids, sources
        ops = graph._ops
        variables = {s.key for s in sources if s.is_variable}
        tensors = {s.key for s in sources if not s.is_variable}
        # Results of control flow (a node of several results) are its tuple_get ops: op id -> {index: op id}
        self.results = {}
        for op in ops:
            if op.type == "tuple_get":
                self.results.setdefault(op._input_ids[0], {})[op.attrs["index"]] = op._id
        # Forward from the sources: the ops whose value depends differentiably on one of them.
        reached = set()
        for i in range(0 if variables else min(tensors), max(y_ids) + 1):
            op = ops[i]
            if i in stopped or not op.outputs or not _floating(op.outputs[0]):
                continue
            if i in tensors or (op.type == "read_variable" and op.attrs["var"].id in variables):
                reached.add(i)
            elif (op.op_def is not None and op.op_def.grad is not NOT_DIFFERENTIABLE
                  and any(j in reached for j in op._input_ids)):
                reached.add(i)
        # Back from the targets through those: the ops a gradient flows through.
        self.on_path = on_path = set()
        stack = [i for i in y_ids if i in reached]
        while stack:
            i = stack.pop()
            if i not in on_path:
                on_path.add(i)
                stack.extend(j for j in ops[i]._input_ids if j in reached)
        self.records = []
        for i in sorted(on_path):
            op = ops[i]
            if i in tensors or op.type in ("read_variable", "tuple_get"):   # (a tuple_get is its node's result)
                continue
            if getattr(op.op_def, "deferred", False) and not getattr(op.op_def, "staged", False):
                raise UnimplementedError(with_location(
                    f"gradients: '{op.name}' (a gradient) lies between the sources and the targets; gradients of "
                    f"gradients are not supported in compat.v1 graphs yet (use nested gj.GradientTape)", op.loc))
            if op.op_def.grad is None:
                raise UnimplementedError(with_location(
                    f"gradients: no gradient rule for operation '{op.name}' (op {op.type}), which lies between "
                    f"the sources and the targets; wrap it in stop_gradient if none should flow through it", op.loc))
            self.records.append(i)
        self.reads = {v: [i for i in sorted(on_path) if ops[i].type == "read_variable"
                          and ops[i].attrs["var"].id == v] for v in variables}

    def connected(self, k):
        source = self.sources[k]
        return bool(self.reads[source.key]) if source.is_variable else source.key in self.on_path

    def expand(self, operation, trace, mapping, expanded):
        """The node id (in the plan being built) of the gradient for source ``operation.attrs['index']``."""
        k = operation.attrs["index"]
        if not self.connected(k):
            source = self.sources[k]
            shape = source.type.shape if source.is_variable else trace.builder.nodes[mapping[source.key]].type.shape
            with context.pushed(trace):
                return trace.node_id(zeros_of(shape, source.type.dtype), "gradient")
        grads = expanded.get(self)
        if grads is None:
            grads = expanded[self] = self._backward(operation.graph._ops, trace, mapping, expanded)
        return grads[k]

    def _backward(self, ops, trace, mapping, expanded):
        tensors = {}

        def tensor(i):   # one SymbolicTensor per graph op, so that gradients accumulate under one ref
            found = tensors.get(i)
            if found is None:
                node_id = mapping[i]
                found = tensors[i] = SymbolicTensor(trace, node_id, trace.builder.nodes[node_id].type)
            return found
        def outputs(i):   # a record's output: control flow's is its results, one tensor each
            out_type = ops[i].outputs[0].type
            if not isinstance(out_type, TupleType):
                return tensor(i)
            got = self.results.get(i, {})
            if getattr(ops[i].op_def, "staged", False):   # staged control flow: its results as expanded
                nodes = expanded[ops[i]][2]
                return tuple(tensor(got[k]) if got.get(k) in mapping else SymbolicTensor(
                    trace, node, trace.builder.nodes[node].type) for k, node in enumerate(nodes))
            return tuple(tensor(got[k]) if got.get(k) in mapping else SymbolicTensor(
                trace, trace.builder.add("tuple_get", (mapping[i],), {"index": k}, t), t)
                for k, t in enumerate(out_type.types))
        with context.pushed(trace):
            records = [ops[i].op_def.gradient_record(ops[i], tensor, expanded, outputs(i))
                       if getattr(ops[i].op_def, "staged", False) else
                       (ops[i].op_def, [tensor(j) for j in ops[i]._input_ids], ops[i].attrs, outputs(i))
                       for i in self.records]
            ys = [tensor(i) for i in self.y_ids]
            weights = [tensor(i) for i in self.weight_ids] or [ones_like(y) for y in ys]
            seeds = [(y, w) for i, y, w in zip(self.y_ids, ys, weights) if i in self.on_path]
            grads = backprop(records, seeds, {tensor(i).ref() for i in self.on_path
                                              if mapping[i] is not None})   # (a staged construct has no node)
            results = []
            for source in self.sources:
                if source.is_variable:
                    grad = gradient_of_reads(grads, [tensor(i) for i in self.reads[source.key]])
                    shape = source.type.shape
                else:
                    grad = grads.get(tensor(source.key).ref()) if source.key in self.on_path else None
                    shape = tensor(source.key).type.shape
                if grad is None:   # unconnected (with unconnected_gradients="zero"), or no rule gave one
                    grad = zeros_of(shape, source.type.dtype)
                results.append(trace.node_id(grad, "gradient"))
        return results


def _floating(tensor):
    t = tensor.type
    return any(e.dtype.is_floating for e in t.types) if isinstance(t, TupleType) else t.dtype.is_floating


def _as_list(value):
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _graph_of(items):
    for item in items:
        if isinstance(item, GraphTensor):
            return item.graph
        if isinstance(item, Variable):
            return item._graph
    raise InvalidArgumentError("gradients: ys and xs must be compat.v1 graph tensors or variables")


def _own(tensor, graph, what):
    if isinstance(tensor, Variable):
        tensor = tensor.read_value()
    if not isinstance(tensor, GraphTensor):
        raise InvalidArgumentError(f"{what}: expected a tensor of graph {graph.name}, got {type(tensor).__name__}")
    graph._check_own(tensor, what)
    return tensor


def _source(x, graph):
    if isinstance(x, Variable):
        if x._graph is not graph:
            raise InvalidArgumentError(f"gradients(xs): variable {x.name} belongs to graph {x._graph.name}, not to "
                                       f"graph {graph.name} of the targets")
        return _Source(True, x._ref.id, x._ref.type)
    x = _own(x, graph, "gradients(xs)")
    return _Source(False, graph.node_id(x, "gradients(xs)"), x.type)


def _base_name(x):
    return (x._ref.name if isinstance(x, Variable) else x.op.name).replace(":", "_")
