"""Control flow over tensors of unknown dims in compat.v1 graphs: traced once over symbolic sizes, as TF1 builds
its branch and body graphs once.

A subgraph (a cond branch, a loop body) is traced for the types of its inputs, and a TF1 placeholder usually has
an unknown batch dim. So ``gj.cond`` / ``gj.while_loop`` / ``gj.switch_case`` / ``gj.map_fn`` / ``gj.scan`` over
such tensors (the core asks ``Graph.stage_control_flow``, see ``tracer.control_flow.staged_by``) are staged: the
construct's Python call is traced in a ``ConstructTrace`` whose inputs are the graph tensors (and variable reads) it
uses, each unknown dim a size atom (``_symbolic_sizes``), once when the user builds it (again only while a rule
merges two atoms or raises an atom's least size, after undoing the attempt's graph ops and variables). The graph
gets one op standing for the construct (plus one op per result), whose static shapes have None where a size
depends on an atom. When a Session plans a run (``Graph.plan_graph`` expands these ``deferred`` ops) the stored
graph is specialized for the fed sizes and inlined into the run's IR graph: no user function runs then.
``compat.v1.gradients`` through it differentiates that graph (``vector_jacobian``, as cond's gradient
differentiates a branch).

Two fallbacks keep what symbolic sizes cannot express working, at the cost of calling the functions again:
a construct that cannot be traced over symbolic sizes (``int()`` of an unknown size, a slice clamp that depends
on one, an unknown rank: logged on the ``graphjit`` logger) is traced at two probe sizes for its static types
and again for each planned run (``StagedConstruct``); and a run whose sizes the symbolic trace does not serve
(a size 0 or 1, unequal sizes where it needed them equal) traces the construct for that run's shapes.
"""
import logging

from graphjit.tracer import context, nest
from graphjit.tracer.errors import GraphjitError, InvalidArgumentError, SymbolicError, UnimplementedError
from graphjit.tracer.ir import TensorType, TupleType, replay
from graphjit.tracer.ops.control_flow import vector_jacobian
from graphjit.tracer.polymorphic import MAX_MERGES, graph_problem
from graphjit.tracer.source import user_location, with_location
from graphjit.tracer.subgraphs import node_has_effects
from graphjit.tracer.tensor import SymbolicTensor
from graphjit.tracer.tracing import TraceContext

from ._symbolic_sizes import SizeAtoms, bind, specialize, static

log = logging.getLogger("graphjit")

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
    NotImplemented: it is built into the graph as usual). Returns its results in its structure. Traced once over
    symbolic sizes where it can be; else (``int()`` of an unknown size, a slice clamp it cannot decide...) over
    probe sizes, and again for each run's shapes."""
    if not graph._has_unknown_dims:
        return NotImplemented
    location = user_location()
    reads = {}   # variable id -> op id of the graph read that feeds the construct

    def read_op(ref):
        graph._check_variable(ref)
        if ref.id not in reads:
            reads[ref.id] = graph.read_variable_ref(ref)._id
        return reads[ref.id]
    with graph._lock:   # (an attempt that is rolled back must not take another thread's new ops with it)
        found = _traced_symbolically(graph, build, args, read_op, reads)
    if isinstance(found, str):
        log.info("%s at %s: traced again for each run's shapes because %s", what, location, found)
        return _stage_per_run(graph, what, build, args, read_op, reads, location)
    if found is NotImplemented:
        return NotImplemented
    built, structure, operands = found
    construct = SymbolicConstruct(what, build, args, reads, built, structure)
    return _add(graph, construct, operands, location)


def _static(graph, i):
    return graph._ops[i].outputs[0].type


def _traced_symbolically(graph, build, args, read_op, reads):
    """(graph, result structure, operand op ids) of the construct traced once over size atoms for the unknown dims
    of the graph tensors it uses (retraced, still here, when a rule needs two atoms equal or an atom at least some
    size); NotImplemented when it uses no unknown dim (the graph is left as it was); a sentence saying why it
    cannot be traced over symbolic sizes."""
    atoms = SizeAtoms()

    def type_of(i):
        typed = atoms.typed(i, _static(graph, i))
        if typed is None:
            raise SymbolicError(f"{graph._ops[i].name} has an unknown rank")
        return typed
    for _ in range(MAX_MERGES):
        mark = graph.mark()
        trace = ConstructTrace(graph, type_of, read_op)
        try:
            built, structure = trace.build(build, args)
        except SymbolicError as err:
            _rollback(graph, mark, reads)
            if (err.unify is not None and atoms.merge(err.unify)) or (err.require is not None
                                                                      and atoms.require(err.require)):
                continue
            return str(err).splitlines()[0]
        except GraphjitError as e:
            _rollback(graph, mark, reads)
            if not any(unknown(_static(graph, i)) for i in trace.operands):
                return NotImplemented   # (not about unknown dims: built as usual, it raises its own error)
            raise type(e)(f"{e}\n  (while building control flow over tensors of unknown dims, where n0, n1, ... "
                          f"stand for those dims' sizes, each taken to be at least 2 and unequal to any fixed size; "
                          f"a construct whose ops need particular sizes of those dims needs placeholder shapes that "
                          f"give them)") from e
        except BaseException:
            _rollback(graph, mark, reads)
            raise
        if not any(unknown(_static(graph, i)) for i in trace.operands):
            _rollback(graph, mark, reads)
            return NotImplemented
        problem = graph_problem(built)
        if problem is not None:
            _rollback(graph, mark, reads)
            return problem
        return built, structure, trace.operands
    _rollback(graph, mark, reads)
    return f"more than {MAX_MERGES} retraces merging unknown sizes"


def _rollback(graph, mark, reads):
    graph.rollback(mark)
    reads.clear()


def _stage_per_run(graph, what, build, args, read_op, reads, location):
    """The construct traced at two probe sizes for its static types, and again when each run is planned."""
    traced = []
    for probe in PROBES:
        trace = ConstructTrace(graph, lambda i, probe=probe: _probed(_static(graph, i), probe), read_op)
        try:
            built, structure = trace.build(build, args)
        except GraphjitError as e:
            raise type(e)(f"{e}\n  (while building control flow over tensors of unknown dims, each unknown dim "
                          f"standing at the size {probe}: the sizes in this message may be that stand-in; a "
                          f"construct whose ops need particular sizes of those dims needs placeholder shapes that "
                          f"give them)") from e
        traced.append((built, structure, trace.operands))
    (first, structure, operands), (second, other, more) = traced
    operands = operands + [i for i in more if i not in operands]   # (what a run may use: both probes' tensors)
    result_types = [_partial(first.nodes[a].type, second.nodes[b].type) for a, b in zip(first.outputs,
                                                                                        second.outputs)]
    if structure != other or len(first.outputs) != len(second.outputs) or None in result_types:
        raise UnimplementedError(with_location(
            "control flow over tensors of unknown dims returns different structures or dtypes for different sizes "
            "of those dims; graphjit cannot give it static types: give the placeholders full shapes", location))
    return _add(graph, StagedConstruct(what, build, args, reads, result_types, structure), operands, location)


def _add(graph, construct, operands, location):
    """The construct's graph op and one ``tuple_get`` op per result; its results in its structure."""
    result_types = construct.result_types
    operation = graph.add_op(construct.name, construct, operands, {}, TupleType(tuple(result_types)), loc=location)
    results = [graph.add_op("tuple_get", StagedResult(construct), (operation._id,), {"index": k}, t,
                            name=f"{operation.name}/output_{k}", loc=location).outputs[0]
               for k, t in enumerate(result_types)]
    return nest.map_structure(lambda k: None if k is None else results[k], construct.structure)


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
        _inline(operation, builder, built, construct.operands, self.result_types, mapping, expanded)
        return None

    def gradient_record(self, operation, tensor, expanded, outputs):
        """The record ``autodiff.backprop`` differentiates this construct by, for one planned run: ``tensor(op id)``
        is the run's tensor of a graph op, ``outputs`` its results' tensors."""
        built, operands, _ = expanded[operation]
        return self, [tensor(i) for i in operands], {"graph": built}, outputs


class SymbolicConstruct(StagedConstruct):
    """A staged construct traced once, over size atoms (``built``, its operands' types symbolic): a run binds the
    atoms to the fed sizes and inlines ``built`` specialized for them. Sizes the trace does not serve (below an
    atom's least size, 2 unless an int index needed more; unequal where it needed them equal) trace the
    construct again for that run (``StagedConstruct.expand``), which also raises the user's own error for them."""

    def __init__(self, name, build, args, reads, built, structure):
        super().__init__(name, build, args, reads, [static(built.nodes[i].type) for i in built.outputs], structure)
        self.built = built
        self.operand_types = [built.nodes[i].type for i in built.inputs]

    def expand(self, operation, trace, mapping, expanded):
        builder = trace.builder
        operands = operation._input_ids
        sizes = bind(self.operand_types, [builder.nodes[mapping[i]].type for i in operands])
        if isinstance(sizes, str):
            log.info("%s: traced again for the fed shapes because %s", operation.name, sizes)
            try:
                return super().expand(operation, trace, mapping, expanded)
            except GraphjitError as e:   # (e.g. a variable its functions make, made again: say why they ran)
                raise type(e)(f"{e}\n  ({operation.name} was traced again for this run's shapes, because {sizes}: "
                              f"its graph from when it was built serves sizes of at least 2, equal where its "
                              f"functions needed them equal)") from e
        _inline(operation, builder, specialize(self.built, sizes), operands, self.result_types, mapping, expanded)
        return None


def _inline(operation, builder, built, operands, result_types, mapping, expanded):
    """Inlines ``built`` (the construct for a run's concrete types, fed by the graph ops ``operands``) into the run's
    ``builder`` and keeps in ``expanded[operation]`` (graph, operand op ids, result node ids)."""
    def emit(node, new_inputs, _deps):
        return builder.add(node.op, new_inputs, dict(node.attrs), node.type, effectful=node_has_effects(node),
                           loc=node.loc)
    fed = {built.inputs[k]: mapping[i] for k, i in enumerate(operands)}
    outputs = replay(built, emit, inputs=fed)
    results = [outputs[i] for i in built.outputs]
    for k, (node_id, static_type) in enumerate(zip(results, result_types)):
        _check_result(operation, k, builder.nodes[node_id].type, static_type)
    expanded[operation] = (built, tuple(operands), results)


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
