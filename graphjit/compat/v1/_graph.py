"""TF1-style graphs (``gj.compat.v1.Graph``): ops recorded by name, run later by a Session.

A ``Graph`` is a context (like a trace): while it is the default (``graph.as_default()``), or when an
op's input is one of its tensors, ops become its ``Operation``s instead of running. Unlike a trace,
its shapes may have unknown (``None``) dimensions and it outlives any one run: a Session picks the
part a run needs (``plan_graph``) and replays it with the fed shapes into an ordinary IR graph, which
goes through the same passes and backends as a ``gj.function``.

Differences from a trace: every op has a unique, scoped name (``add``, ``add_1``, ``layer/add``); side
effects are not chained while building (fetching a read must not run every earlier assignment), so a
run orders the effects it needs by creation order.
"""
import itertools
import sys
import threading

import numpy as np

from graphjit.tracer import context, source
from graphjit.tracer.dtypes import result_type
from graphjit.tracer.errors import (FailedPreconditionError, InvalidArgumentError, InvalidTypeError, NotFoundError,
                     OperatorNotAllowedInGraphError, TracingError, UnimplementedError)
from graphjit.tracer.ir import Const, Graph as IRGraph, TensorType, TupleType, ancestors, replay
from graphjit.tracer.errors import GraphjitError
from graphjit.tracer.op_errors import EAGER_ERRORS
from graphjit.tracer.registry import API, OPS
from graphjit.tracer.shapes import TensorShape, format_shape
from graphjit.tracer.source import user_location, with_location
from graphjit.tracer.subgraphs import has_effects
from graphjit.tracer.tensor import EagerTensor, SymbolicTensor
from graphjit.tracer.tracing import ConstantCaptures, TraceContext

from ._scopes import ControlDependencies, GraphDefault, NameScope, ScopeOf, stacks

_graph_numbers = itertools.count(1)
# (graph, variables) -> None for each module that keeps variables by name (get_variable's scopes), told when
# Graph.rollback forgets them; those modules install themselves (this one imports none of them)
ROLLBACK_HOOKS = []


class Operation:
    """A node of a compat.v1 graph: an op applied to tensors, with a unique name and 0 or 1 outputs."""
    __slots__ = ("graph", "name", "type", "op_def", "_input_ids", "attrs", "_control_ids", "loc", "outputs",
                 "_id", "__weakref__")

    def __init__(self, graph, node_id, name, type_name, op, input_ids, attrs, out_type, control_ids, loc):
        self.graph, self._id, self.name, self.type, self.op_def = graph, node_id, name, type_name, op
        self._input_ids, self.attrs, self._control_ids, self.loc = tuple(input_ids), attrs, tuple(control_ids), loc
        self.outputs = [] if out_type is None else [GraphTensor(graph, node_id, out_type, self)]

    @property
    def inputs(self):
        return [self.graph._ops[i].outputs[0] for i in self._input_ids]

    @property
    def control_inputs(self):
        return [self.graph._ops[i] for i in self._control_ids]

    def run(self, feed_dict=None, session=None):
        """Runs this op in ``session`` (default: the default session)."""
        _session_for(self, session).run(self, feed_dict)

    def __repr__(self):
        return f"<gj.Operation '{self.name}' type={self.type}>"


class GraphTensor(SymbolicTensor):
    """The output of an ``Operation``: a shape (maybe partly unknown) and dtype, a value only in a run."""
    __slots__ = ("op",)
    __hash__ = object.__hash__  # usable as a feed_dict key (== stays elementwise, as an op)

    def __init__(self, graph, node_id, type_, op):
        super().__init__(graph, node_id, type_)
        self.op = op

    graph = property(lambda self: self._trace)
    name = property(lambda self: f"{self.op.name}:0")
    shape = property(lambda self: TensorShape(self._type.shape))
    value_index = 0

    @property
    def ndim(self):
        return self.shape.rank

    rank = ndim

    def eval(self, feed_dict=None, session=None):
        """This tensor's value, computed by ``session`` (default: the default session)."""
        return _session_for(self, session).run(self, feed_dict)

    def _describe(self):
        return f"'{self.name}' shape={self.shape}, dtype={self.dtype.name}"

    def __repr__(self):
        return f"<gj.Tensor '{self.name}' shape={self.shape} dtype={self.dtype.name}>"

    def _no_value(self, what, instead):
        raise OperatorNotAllowedInGraphError(with_location(
            f"{what} a graph tensor ({self._describe()}) is not allowed: a compat.v1 graph tensor has a "
            f"value only inside a Session run. Use sess.run(t) or t.eval() to get it."))


class Graph:
    """A TF1-style graph. Make it the default with ``with graph.as_default():`` to build ops into it."""

    def __init__(self, name=None):
        # An op on a graph's tensor builds into that graph when nothing else is being built (TF1's rule); the
        # core finds the graph through this hook, never importing compat.v1. Registered with the first graph,
        # not on import, so that eager ops do not check their inputs' types while no graph tensor can exist.
        context.register_tensor_context(GraphTensor)
        self.name = name or f"graph_{next(_graph_numbers)}"
        self._ops = []
        self._by_name = {}
        self._name_counts = {}
        self._local = threading.local()  # this thread's name scope
        self._constants = ConstantCaptures(lambda value: self.constant(value)._id)  # eager tensors used here
        self._last_read = {}              # variable id -> node id of its latest read (reused until written)
        self._has_unknown_dims = False    # whether an op's static shape has a None dim (control flow stages then)
        self._lock = threading.RLock()
        self.variables = []               # compat.v1 Variables, in creation order
        self._variable_ids = set()
        self.seed = None
        self._finalized = False
        # Compiled run plans belong to the graph, so a new session on it reuses them (the runtime fills them).
        self.plans = {}
        self.compile_count = 0

    def __repr__(self):
        return f"<gj.compat.v1.Graph {self.name} ({len(self._ops)} ops)>"

    # -- default graph and name scopes --

    def as_default(self):
        """A context manager making this the default graph (ops built inside become its nodes)."""
        return GraphDefault(self)

    def name_scope(self, name):
        return NameScope(self, name)

    def control_dependencies(self, control_inputs):
        """Ops built inside ``with graph.control_dependencies([a, b]):`` run after ``a`` and ``b``
        (``None`` clears the outer blocks' dependencies, as in TF)."""
        return ControlDependencies(self, control_inputs)

    def finalize(self):
        """Makes the graph read-only: adding an op raises (catches graphs that grow in a training loop)."""
        self._finalized = True

    finalized = property(lambda self: self._finalized)

    @property
    def _scope(self):
        return getattr(self._local, "scope", "")

    def unique_name(self, base):
        """``base`` under the current scope, suffixed ``_1``, ``_2``... when taken (as TF names ops)."""
        with self._lock:
            name = self._scope + base
            count = self._name_counts.get(name, 0)
            self._name_counts[name] = count + 1
            if count:
                stem = name
                while name in self._name_counts:
                    name = f"{stem}_{count}"
                    count += 1
                self._name_counts[name] = 1
            return name

    # -- lookup --

    def get_operations(self):
        return list(self._ops)

    def get_operation_by_name(self, name):
        op = self._by_name.get(name)
        if op is None:
            raise NotFoundError(f"The name '{name}' refers to an Operation not in graph {self.name}")
        return op

    def get_tensor_by_name(self, name):
        op_name, colon, index = name.rpartition(":")
        if not colon or not index.isdigit():
            raise InvalidArgumentError(f"'{name}' is not a tensor name: tensor names look like 'op_name:0'")
        op = self._by_name.get(op_name)
        if op is None or int(index) >= len(op.outputs):
            raise NotFoundError(f"The name '{name}' refers to a Tensor which does not exist in graph {self.name}")
        return op.outputs[int(index)]

    def as_graph_element(self, obj, what="fetch"):
        """A tensor, operation or name of this graph -> its Operation (and whether a value is wanted)."""
        if isinstance(obj, str):
            obj = self.get_tensor_by_name(obj) if ":" in obj else self.get_operation_by_name(obj)
        if getattr(obj, "_is_variable", False):
            if getattr(obj, "_graph", None) is not self:
                _not_ours(obj, self)
            obj = obj._graph_value
        if isinstance(obj, GraphTensor):
            self._check_own(obj, what)
            return obj.op, True
        if isinstance(obj, Operation):
            if obj.graph is not self:
                raise InvalidArgumentError(f"{what} {obj!r} belongs to graph {obj.graph.name}, not to this "
                                           f"session's graph {self.name}")
            return obj, False
        raise InvalidTypeError(f"{what} {obj!r} has type {type(obj).__name__}: it must be a tensor, an operation, "
                               f"a variable or a name of graph {self.name}")

    def _check_own(self, tensor, what):
        if tensor._trace is not self:
            other = getattr(tensor._trace, "name", "a gj.function trace")
            raise InvalidArgumentError(f"{what} {tensor!r} belongs to graph {other}, not to graph {self.name}: "
                                       f"tensors of one graph cannot be used with another graph or its sessions")

    # -- building: the context protocol --

    variable_class = None  # what gj.Variable(...) makes while this graph is the default (set by _variables)

    def add_op(self, type_name, op, inputs, attrs, out_type, *, name=None, control_inputs=(), loc=None,
               exact_name=False):
        with self._lock:
            if self._finalized:
                raise FailedPreconditionError(with_location(
                    f"graph {self.name} is finalized and cannot be modified (adding {name or type_name})", loc))
            node_id = len(self._ops)
            name = name if exact_name else self.unique_name(name or type_name)
            controls = [c._id for c in control_inputs]
            for block in getattr(self._local, "controls", ()):
                controls.extend(i for i in block if i not in controls)
            operation = Operation(self, node_id, name, type_name, op, inputs, attrs, out_type, controls, loc)
            self._ops.append(operation)
            self._by_name[name] = operation
            if isinstance(out_type, TensorType) and (out_type.shape is None or None in out_type.shape):
                self._has_unknown_dims = True
            return operation

    def execute(self, op, inputs, attrs):
        return self.apply(op, inputs, attrs, requested_name())

    def apply(self, op, inputs, attrs, name=None):
        """Adds ``op`` applied to ``inputs`` (tensors of this graph, eager tensors, variables)."""
        location = user_location()
        ids = [self.node_id(t, f"{op.name} input {i}") for i, t in enumerate(inputs)]
        op.check_attrs(attrs, location)
        out_type = infer_partial([self._ops[i].outputs[0].type for i in ids], op, attrs, location)
        self._check_variable(attrs.get("var"))
        if op.name == "assign_variable":  # later uses must read the new value
            self._last_read.pop(attrs["var"].id, None)
        operation = self.add_op(op.name, op, ids, attrs, out_type, name=name, loc=location)
        if isinstance(out_type, TupleType):   # several results (control flow): one tuple_get op per result
            return [self.add_op("tuple_get", OPS["tuple_get"], (operation._id,), {"index": k}, t,
                                name=f"{operation.name}/output_{k}", loc=location).outputs[0]
                    for k, t in enumerate(out_type.types)]
        return operation.outputs[0]

    def _check_variable(self, var):
        if var is not None and var.id not in self._variable_ids:
            _foreign_variable(var.name, "the global runtime (TF2 style) or another graph", self)

    def node_id(self, tensor, what="input"):
        if isinstance(tensor, GraphTensor):
            self._check_own(tensor, what)
            return tensor._id
        if type(tensor) is EagerTensor:
            return self._constants.node_id(tensor)
        if getattr(tensor, "_is_variable", False):
            if getattr(tensor, "_graph", None) is not self:
                _not_ours(tensor, self)
            return self.node_id(tensor.read_value(), what)
        if isinstance(tensor, SymbolicTensor):
            raise TracingError(with_location(f"{what} is a symbolic tensor of a gj.function trace "
                                             f"({tensor._describe()}); it cannot be used in graph {self.name}"))
        raise InvalidTypeError(with_location(f"{what}: expected a tensor, got {type(tensor).__name__}"))

    def record_constant(self, tensor, name=None):
        """``gj.constant`` while this graph is the default: a named graph constant, as in TF1."""
        return self.constant(tensor._value, name).outputs[0]

    def constant(self, value, name=None):
        value = np.asarray(value)
        return self.add_op("constant", OPS["constant"], (), {"value": Const(value)},
                           OPS["constant"].infer(value=Const(value)), name=name or "Const", loc=user_location())

    def read_variable(self, variable):
        """A tensor reading ``variable``: the latest read node, unless an assignment was built since (or
        control dependencies apply)."""
        return self.read_variable_ref(variable._ref)

    def read_variable_ref(self, ref):
        under_controls = bool(getattr(self._local, "controls", None))  # such a read must not be shared
        node_id = None if under_controls else self._last_read.get(ref.id)
        if node_id is None:
            with ScopeOf(self, ref.name + "/"):
                node_id = self.add_op("read_variable", OPS["read_variable"], (), {"var": ref}, ref.type,
                                      name="read", loc=user_location())._id
            if not under_controls:
                self._last_read[ref.id] = node_id
        return self._ops[node_id].outputs[0]

    def call_function(self, concrete, inputs):
        """A gj.function called on this graph's tensors: its traced graph's nodes become ops here."""
        graph = concrete.graph
        fed = {i: self.node_id(t, f"argument of {graph.name}") for i, t in zip(graph.inputs, inputs)}

        def emit(node, new_inputs, _deps):   # (effects are ordered by creation in a run: no deps here)
            attrs = dict(node.attrs)
            self._check_variable(attrs.get("var"))
            return self.add_op(node.op, OPS[node.op], new_inputs, attrs, node.type, name=f"{concrete.name}/{node.op}",
                               loc=node.loc)._id
        mapping = replay(graph, emit, inputs=fed)
        return [self._ops[mapping[i]].outputs[0] for i in concrete.graph.outputs]

    def stage_control_flow(self, what, build, args):
        """Control flow over tensors of unknown dims: staged, traced once over symbolic sizes (``_control_flow``)."""
        from ._control_flow import stage
        return stage(self, what, build, args)

    def mark(self):
        """What ``rollback`` returns the graph to: its ops, names, reads, constants and variables now."""
        with self._lock:
            return (len(self._ops), dict(self._name_counts), dict(self._last_read), dict(self._constants._nodes),
                    len(self.variables), set(self._variable_ids), self._has_unknown_dims)

    def rollback(self, mark):
        """Forgets every op and variable built since ``mark()`` (a control-flow construct traced again, at build
        time, must not leave its first attempt's ops, or make its variables twice)."""
        with self._lock:
            count, names, reads, constants, variables, variable_ids, unknown = mark
            for operation in self._ops[count:]:
                self._by_name.pop(operation.name, None)
            forgotten = self.variables[variables:]
            del self._ops[count:], self.variables[variables:]
            self._name_counts, self._last_read, self._constants._nodes = names, reads, constants
            self._variable_ids, self._has_unknown_dims = variable_ids, unknown
            for forget in ROLLBACK_HOOKS:
                forget(self, forgotten)

    def create_variable(self, variable, name, initial_value):
        raise UnimplementedError("compat.v1 graphs create their variables with gj.compat.v1.Variable")

    # -- what a run executes --

    def plan_graph(self, fetch_ops, target_ops, fed_types):
        """The IR graph computing ``fetch_ops``' outputs and running ``target_ops``, with the fed tensors
        (``{node id: concrete TensorType}``) as its inputs, in increasing node-id order. Shapes are
        re-inferred from the fed ones, so a shape error here names the user's line that built the op."""
        ops = self._ops
        needed = ancestors([op._id for op in fetch_ops] + [op._id for op in target_ops],
                           lambda i: () if i in fed_types else (*ops[i]._input_ids, *ops[i]._control_ids))
        # The builder sits in a trace context so that ops expanded while planning (``deferred`` ops such as
        # compat.v1.gradients, which need the run's concrete shapes) can be built with ordinary op calls.
        trace = TraceContext(f"{self.name}_run")
        builder = trace.builder
        mapping = {}
        expanded = {}   # what deferred ops computed, shared by the ops of one call
        inputs = sorted(i for i in needed if i in fed_types)
        for position, i in enumerate(inputs):
            mapping[i] = builder.add_input(fed_types[i], position)
        for i in sorted(needed):
            operation = self._ops[i]
            if i in mapping or not operation.outputs:
                continue
            if operation.op_def is None:  # a placeholder nobody fed
                t = operation.outputs[0]
                created = f"\n  (created at {operation.loc})" if operation.loc else ""
                raise InvalidArgumentError(
                    f"You must feed a value for placeholder tensor '{t.name}' with dtype {t.dtype.name} and "
                    f"shape {format_shape(t.type.shape)}{created}")
            if getattr(operation.op_def, "deferred", False):
                mapping[i] = operation.op_def.expand(operation, trace, mapping, expanded)
                continue
            args = [mapping[j] for j in operation._input_ids]
            in_types = [builder.nodes[j].type for j in args]
            out_type = infer_partial(in_types, operation.op_def, operation.attrs, operation.loc)
            if not isinstance(out_type, TupleType) and (out_type.shape is None or None in out_type.shape):
                # e.g. zeros_like of a partly known shape (control flow's results are known: see tracing)
                raise UnimplementedError(with_location(
                    f"{operation.name}: its result shape {format_shape(out_type.shape)} depends on the unknown "
                    f"dims of a placeholder's static shape, which graphjit cannot resolve at run time yet; give "
                    f"the placeholder a full shape", operation.loc))
            effectful = operation.op_def.stateful or any(has_effects(g) for g in operation.attrs.values()
                                                         if isinstance(g, IRGraph))
            mapping[i] = builder.add(operation.op_def.name, args, operation.attrs, out_type, effectful=effectful,
                                     loc=operation.loc)
        for op in fetch_ops:
            if mapping[op._id] is None:   # a staged construct (its results are its tuple_get ops)
                raise InvalidArgumentError(
                    f"{op.outputs[0].name} stands for control flow of several results, which has no value of its "
                    f"own: fetch its results ({op.name}/output_0:0, ...)")
        graph = builder.finish([mapping[op._id] for op in fetch_ops])
        return graph, tuple(inputs)



def infer_partial(types, op, attrs, location=None):
    """The op's result type; with unknown input dims (placeholders) through ``partial_infer``."""
    for t in types:
        if isinstance(t, TensorType) and (t.shape is None or None in t.shape):   # (a TupleType's are known)
            return partial_infer(op, types, attrs)
    return op.infer_checked(types, attrs, location)


_PROBES = (9973, 10007)  # stand-ins for unknown dims: two primes, so dims that depend on them differ


def partial_infer(op, types, attrs):
    """The result type when some input dims (or ranks) are unknown: the rule runs with each unknown dim
    replaced by two probe sizes, and the result dims that differ between the two are unknown. A rule
    that fails on the probes (e.g. a reshape that needs one particular size) gives an unknown shape: the
    run checks again with the real shapes."""
    results = []
    for probe in _PROBES:
        probed = [TensorType(() if t.shape is None else tuple(probe if d is None else d for d in t.shape), t.dtype)
                  for t in types]
        try:
            results.append(op.infer(*probed, **attrs))
        except (GraphjitError, *EAGER_ERRORS):  # checked again at run time, with known shapes
            return TensorType(None, result_type(*(t.dtype for t in types)))
    a, b = results
    if any(t.shape is None for t in types) or len(a.shape) != len(b.shape):
        return TensorType(None, a.dtype)
    return TensorType(tuple(x if x == y else None for x, y in zip(a.shape, b.shape)), a.dtype)


def _not_ours(variable, graph):
    """Raises for a variable object of another graph or of the global runtime."""
    owner = getattr(getattr(variable, "_graph", None), "name", None)
    _foreign_variable(variable.name, f"graph {owner}" if owner else "the global runtime (TF2 style)", graph)


def _foreign_variable(name, where, graph):
    raise InvalidArgumentError(with_location(
        f"variable '{name}' belongs to {where}, so graph {graph.name} cannot use it: create compat.v1 "
        f"variables with gj.compat.v1.Variable while this graph is the default"))


# ---- op names: the ``name=`` argument of the public function the user called ----------------------

_api_codes = None


def requested_name():
    """The ``name=`` given to the outermost graphjit API function on the stack, if any (so ``gj.add(a, b,
    name="total")`` names its op ``total``, without every op function having to pass names along)."""
    global _api_codes
    if _api_codes is None:
        codes = set()
        for fn in API.values():
            while fn is not None:
                codes.add(getattr(fn, "__code__", None))
                fn = getattr(fn, "__wrapped__", None)
        _api_codes = codes
    found, frame = None, sys._getframe(1)
    own = source._OWN_DIRS
    while frame is not None and frame.f_code.co_filename.startswith(own):
        if frame.f_code in _api_codes:
            local = frame.f_locals
            name = local.get("name", (local.get("kwargs") or {}).get("name"))
            if isinstance(name, str) and name:
                found = name
        frame = frame.f_back
    return found


# ---- the default graph -----------------------------------------------------------------------------

_global_default = None
_global_lock = threading.Lock()


def get_default_graph():
    """The innermost ``as_default()`` graph of this thread, else the global default graph."""
    if stacks.graphs:
        return stacks.graphs[-1]
    global _global_default
    if _global_default is None:
        with _global_lock:
            if _global_default is None:
                _global_default = Graph("default")
    return _global_default


def reset_default_graph():
    """Replaces the global default graph with a new, empty one (not allowed inside ``as_default``)."""
    global _global_default
    if stacks.graphs:
        raise FailedPreconditionError("reset_default_graph() was called inside a graph's as_default() block: "
                                      "leave every `with graph.as_default():` first")
    with _global_lock:
        _global_default = Graph("default")


def name_scope(name, default_name=None, values=None):
    """``with name_scope("layer1") as scope:`` prefixes the names of ops built inside with ``layer1/``."""
    graph = get_default_graph()
    for value in values or ():
        if isinstance(value, GraphTensor):
            graph = value.graph
            break
    return graph.name_scope(name if name is not None else default_name)


# ---- sessions (installed by _session, which imports this module) --------------------------------------

_default_session = None  # () -> the thread's default Session, or None


def install_default_session_getter(getter):
    global _default_session
    _default_session = getter


def _session_for(item, session):
    if session is None:
        session = _default_session() if _default_session is not None else None
        if session is None:
            raise FailedPreconditionError(
                f"Cannot evaluate {item!r}: no default session is registered. Use `with sess.as_default():` "
                f"or pass session=sess")
    if session.graph is not item.graph:
        raise InvalidArgumentError(f"Cannot use {item!r} of graph {item.graph.name} with a session on graph "
                                   f"{session.graph.name}: the session's graph must be the item's graph")
    return session

