"""Control flow over tensors of unknown dims in compat.v1 graphs: staged, and traced again for each run's shapes.

A subgraph (a cond branch, a loop body) is traced for the types of its inputs, and graphjit's traces have full
shapes; a TF1 placeholder usually has an unknown batch dim. So ``gj.cond`` / ``gj.while_loop`` / ``gj.switch_case``
/ ``gj.map_fn`` / ``gj.scan`` over such tensors (the core asks ``Graph.stage_control_flow``, see
``tracer.control_flow.staged_by``) keep the construct's Python call and build it twice more:

- when the graph is built, in a ``ConstructTrace`` where each unknown dim is a probe size (as ``partial_infer``
  runs an op's rule, twice, with two probe sizes): the result dims that differ between the probes are unknown
  (``None``) in the static shapes the user sees, and the graph's tensors (and variable reads) it used become the
  inputs of one graph op standing for the construct (plus one op per result);
- when a Session plans a run (``Graph.plan_graph`` expands these ``deferred`` ops), in a ``ConstructTrace`` typed by
  the fed shapes, whose graph is inlined into the run's IR graph. ``compat.v1.gradients`` through it differentiates
  that graph (``vector_jacobian``, as cond's gradient differentiates a branch).

The construct's Python functions thus run once per probe and once per planned run (TF1 traces them once).
"""
from graphjit.tracer import context, nest
from graphjit.tracer.errors import GraphjitError, InvalidArgumentError, UnimplementedError
from graphjit.tracer.ir import TensorType, TupleType, replay
from graphjit.tracer.ops.control_flow import vector_jacobian
from graphjit.tracer.source import user_location, with_location
from graphjit.tracer.subgraphs import node_has_effects
from graphjit.tracer.tensor import SymbolicTensor
from graphjit.tracer.tracing import TraceContext

PROBES = (9973, 10007)   # the sizes unknown dims stand at while the graph is built (as _graph.partial_infer's)


class ConstructTrace(TraceContext):
    """The trace a staged construct is built in. The compat.v1 graph's tensors it uses become its inputs, typed by
    ``type_of(op id)``; so do reads of variables at its own level (those lifted before a branch or loop), through
    ``read_op(VarRef) -> op id`` of a graph read. ``operands`` are those op ids, in input order. Its parent is the
    graph, so branches traced inside capture the graph's tensors through it and read compat.v1 variables there."""

    def __init__(self, graph, type_of, read_op):
        super().__init__(f"{graph.name}_control_flow", parent=graph)
        self.graph, self._type_of, self._read_op = graph, type_of, read_op
        self.operands = []
        self._inputs = {}   # op id -> input node id

    def node_id(self, tensor, what="input"):
        if getattr(tensor, "_trace", None) is self.graph:
            return self._operand(tensor._id)
        return super().node_id(tensor, what)

    def _operand(self, op_id):
        found = self._inputs.get(op_id)
        if found is None:
            found = self._inputs[op_id] = self.builder.add_input(self._type_of(op_id), len(self.builder.inputs))
            self.operands.append(op_id)
        return found

    def _own(self, value):
        if getattr(value, "_trace", None) is not self.graph:
            return value
        node_id = self._operand(value._id)
        return SymbolicTensor(self, node_id, self.builder.nodes[node_id].type)

    def execute(self, op, inputs, attrs):
        if op.name == "read_variable":
            node_id = self._operand(self._read_op(attrs["var"]))
            return SymbolicTensor(self, node_id, self.builder.nodes[node_id].type)
        return super().execute(op, inputs, attrs)

    def build(self, build, args):
        """``build(*args)`` traced here, the graph's tensors among ``args`` replaced by this trace's: (its graph,
        its result structure with each tensor leaf an output's index)."""
        args = nest.map_structure(self._own, args)
        with context.pushed(self):
            result = build(*args)
            leaves = [leaf for leaf in nest.flatten(result) if leaf is not None]
            outputs = [self.node_id(t, f"result {k}") for k, t in enumerate(leaves)]
        positions = iter(range(len(outputs)))
        structure = nest.map_structure(lambda leaf: None if leaf is None else next(positions), result)
        return self.builder.finish(outputs), structure


def unknown(t):
    return isinstance(t, TensorType) and (t.shape is None or None in t.shape)


def stage(graph, what, build, args):
    """The construct ``what`` that ``build()`` makes, staged in ``graph`` when it uses tensors of unknown dims (else
    NotImplemented: it is built into the graph as usual). Returns its results in its structure."""
    if not graph._has_unknown_dims:
        return NotImplemented
    location = user_location()
    reads = {}   # variable id -> op id of the graph read that feeds the construct

    def read_op(ref):
        graph._check_variable(ref)
        if ref.id not in reads:
            reads[ref.id] = graph.read_variable_ref(ref)._id
        return reads[ref.id]

    def static(i):
        return graph._ops[i].outputs[0].type
    traced = []
    for probe in PROBES:
        trace = ConstructTrace(graph, lambda i, probe=probe: _probed(static(i), probe), read_op)
        try:
            built, structure = trace.build(build, args)
        except GraphjitError as e:
            if not any(unknown(static(i)) for i in trace.operands):
                return NotImplemented   # (not about unknown dims: built as usual, it raises its own error)
            raise type(e)(f"{e}\n  (while building control flow over tensors of unknown dims, each unknown dim "
                          f"standing at the size {probe}: the sizes in this message may be that stand-in; a "
                          f"construct whose ops need particular sizes of those dims needs placeholder shapes that "
                          f"give them)") from e
        if not any(unknown(static(i)) for i in trace.operands):
            return NotImplemented   # (then the probe's reads are unused graph ops, which no run needs)
        traced.append((built, structure, trace.operands))
    (first, structure, operands), (second, other, more) = traced
    operands = operands + [i for i in more if i not in operands]   # (what a run may use: both probes' tensors)
    result_types = [_partial(first.nodes[a].type, second.nodes[b].type) for a, b in zip(first.outputs,
                                                                                        second.outputs)]
    if structure != other or len(first.outputs) != len(second.outputs) or None in result_types:
        raise UnimplementedError(with_location(
            "control flow over tensors of unknown dims returns different structures or dtypes for different sizes "
            "of those dims; graphjit cannot give it static types: give the placeholders full shapes", location))
    construct = StagedConstruct(what, build, args, reads, result_types, structure)
    operation = graph.add_op(construct.name, construct, operands, {}, TupleType(tuple(result_types)), loc=location)
    results = [graph.add_op("tuple_get", StagedResult(construct), (operation._id,), {"index": k}, t,
                            name=f"{operation.name}/output_{k}", loc=location).outputs[0]
               for k, t in enumerate(result_types)]
    return nest.map_structure(lambda k: None if k is None else results[k], structure)


def _probed(t, probe):
    if t.shape is None:
        return TensorType((), t.dtype)
    return TensorType(tuple(probe if d is None else d for d in t.shape), t.dtype)


def _partial(a, b):
    """The static type of a result that has type ``a`` at one probe and ``b`` at the other (None: no such type)."""
    if a.dtype is not b.dtype:
        return None
    if len(a.shape) != len(b.shape):
        return TensorType(None, a.dtype)
    return TensorType(tuple(x if x == y else None for x, y in zip(a.shape, b.shape)), a.dtype)


class StagedConstruct:
    """The op definition of a staged construct's graph op: ``expand`` traces it for a run's concrete types."""
    deferred = True    # Graph.plan_graph calls ``expand`` instead of adding a node
    staged = True      # compat.v1.gradients differentiates it through ``gradient_record``
    stateful = False

    def __init__(self, name, build, args, reads, result_types, structure):
        self.name, self.build, self.args, self.reads = name, build, args, reads
        self.result_types, self.structure = result_types, structure

    def grad(self, upstreams, outputs, *inputs, graph):
        return vector_jacobian(graph, inputs, upstreams)

    def expand(self, operation, trace, mapping, expanded):
        """Traces the construct for the run's types, inlines it into ``trace`` and keeps in ``expanded[operation]``
        (graph, operand op ids, result node ids). The construct has no node of its own (its results do)."""
        builder = trace.builder
        graph = operation.graph

        def type_of(i):
            if i not in mapping:
                raise InvalidArgumentError(with_location(
                    f"{operation.name}: for the fed shapes, its functions use {graph._ops[i].name}, which they did "
                    f"not use when the graph was built; graphjit needs them to use the same tensors for every size",
                    operation.loc))
            return builder.nodes[mapping[i]].type

        def read_op(ref):
            found = self.reads.get(ref.id)
            if found is None:
                raise InvalidArgumentError(with_location(
                    f"{operation.name}: for the fed shapes, its functions read variable {ref.name}, which they did "
                    f"not read when the graph was built", operation.loc))
            return found
        construct = ConstructTrace(graph, type_of, read_op)
        built, structure = construct.build(self.build, self.args)
        if structure != self.structure:
            raise InvalidArgumentError(with_location(
                f"{operation.name}: for the fed shapes its functions return another structure than when the graph "
                f"was built", operation.loc))

        def emit(node, new_inputs, _deps):
            return builder.add(node.op, new_inputs, dict(node.attrs), node.type, effectful=node_has_effects(node),
                               loc=node.loc)
        fed = {built.inputs[k]: mapping[i] for k, i in enumerate(construct.operands)}
        outputs = replay(built, emit, inputs=fed)
        results = [outputs[i] for i in built.outputs]
        for k, (node_id, static) in enumerate(zip(results, self.result_types)):
            _check_result(operation, k, builder.nodes[node_id].type, static)
        expanded[operation] = (built, construct.operands, results)
        return None

    def gradient_record(self, operation, tensor, expanded, outputs):
        """The record ``autodiff.backprop`` differentiates this construct by, for one planned run: ``tensor(op id)``
        is the run's tensor of a graph op, ``outputs`` its results' tensors."""
        built, operands, _ = expanded[operation]
        return self, [tensor(i) for i in operands], {"graph": built}, outputs


def _check_result(operation, k, concrete, static):
    if concrete.dtype is static.dtype and (static.shape is None or (
            len(concrete.shape) == len(static.shape)
            and all(s is None or s == c for c, s in zip(concrete.shape, static.shape)))):
        return
    raise InvalidArgumentError(with_location(
        f"{operation.name}: for the fed shapes, result {k} is {concrete}, which its static type {static} (from when "
        f"the graph was built) does not allow", operation.loc))


class StagedResult:
    """The op definition of one result of a staged construct (a ``tuple_get`` op of the graph)."""
    deferred = True
    stateful = False
    name = "tuple_get"

    def __init__(self, construct):
        self.construct = construct
        self.grad = construct.grad   # (differentiated through its construct: see _gradients)

    def expand(self, operation, trace, mapping, expanded):
        construct_op = operation.graph._ops[operation._input_ids[0]]
        return expanded[construct_op][2][operation.attrs["index"]]
