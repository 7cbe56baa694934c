"""The reference interpreter: evaluates each node with its op's eager implementation, in order.

It is deliberately simple: every compiled backend is tested against it.
"""
import dataclasses

import numpy as np

from graphjit.tracer import symbolic
from graphjit.tracer.attrs import has_symbolic
from graphjit.tracer.errors import InternalError, InvalidArgumentError
from graphjit.tracer.ir import Graph, TensorType, TupleType
from graphjit.tracer.op_errors import run_eager
from graphjit.tracer.registry import OPS
from graphjit.tracer.subgraphs import uses_variables

from .backend import Backend, Executable, register_backend


class InterpretedGraph(Executable):
    def __init__(self, graph):
        self.graph = graph
        self.steps = []
        for n in graph.nodes:
            op = OPS.get(n.op)   # ('input' has no Op)
            self.steps.append((op, eager_attrs(op, n), n))
        # Graphs that read or write variables (their subgraphs included) run under the state's lock (one atomic
        # update per call, as compiled)
        self.locks_state = uses_variables(graph)
        # A graph over symbolic sizes (an input_signature's None dims) binds them from its inputs on each run
        self.symbolic = any(symbolic.shape_is_symbolic(getattr(n.type, "shape", None)) for n in graph.nodes)
        if self.symbolic:
            self._run = self._run_symbolic

    def _run_symbolic(self, state, arrays, sizes=None):
        arrays = list(arrays)
        sizes = bind_sizes(self.graph, arrays) if sizes is None else sizes
        values = [None] * len(self.steps)
        inputs = iter(arrays)
        for i, (op, attrs, node) in enumerate(self.steps):
            if node.op == "input":
                values[i] = next(inputs)
                continue
            if has_symbolic(node.attrs) or _type_is_symbolic(node.type):
                attrs = {k: _sized(v, sizes) for k, v in attrs.items()}
                node = dataclasses.replace(node, type=evaluate_type(node.type, sizes))
            values[i] = run_node(op, node, attrs, state, [values[j] for j in node.inputs])
        return [values[i] for i in self.graph.outputs]

    def _run(self, state, arrays):
        values = [None] * len(self.steps)
        inputs = iter(arrays)
        for i, (op, attrs, node) in enumerate(self.steps):
            if node.op == "input":
                values[i] = next(inputs)
                continue
            values[i] = run_node(op, node, attrs, state, [values[j] for j in node.inputs])
        return [values[i] for i in self.graph.outputs]


def bind_sizes(graph, arrays):
    """Symbol name -> size, from the inputs of a graph over symbolic sizes; InvalidArgumentError naming the input
    when a shape does not fit (a fixed size differs, an unknown one is below the minimum or disagrees)."""
    sizes = {}
    for position, (i, array) in enumerate(zip(graph.inputs, arrays)):
        expected = graph.nodes[i].type.shape
        shape = np.shape(array)
        fits = len(shape) == len(expected)
        for d, e in zip(shape, expected) if fits else ():
            if type(e) is symbolic.SymInt:
                least = next(iter(e.atoms())).lower   # (MIN_SIZE, or more where an int index needs it)
                fits = fits and d >= least and sizes.setdefault(str(e), d) == d
            else:
                fits = fits and d == e
        if not fits:
            raise InvalidArgumentError(f"{graph.name}: input {position} has shape {shape}, which does not fit "
                                       f"{graph.nodes[i].type} (unknown sizes at least their minimum, equal "
                                       f"where named alike)")
    return sizes


def _type_is_symbolic(t):
    """Whether a node's type (a TensorType, or a TupleType of a node with several results) has a symbolic size."""
    if isinstance(t, TupleType):
        return any(_type_is_symbolic(x) for x in t.types)
    return symbolic.shape_is_symbolic(getattr(t, "shape", None))


def evaluate_type(t, sizes):
    if isinstance(t, TupleType):
        return TupleType(tuple(evaluate_type(x, sizes) for x in t.types))
    return TensorType(symbolic.evaluate(tuple(t.shape), sizes), t.dtype)


def eager_attrs(op, node):
    """The node's attributes as its op's eager code takes them (see ``bind_subgraphs``)."""
    return bind_subgraphs(op, node.attr_dict)


def bind_subgraphs(op, attrs, state=None):
    """``attrs`` with each subgraph the op names (``Op.subgraphs``) replaced by a ``SubgraphRunner``: a function
    running it on this interpreter, arrays in and a list of arrays out, with ``state`` for the variables and
    random draws inside (``run_node`` gives each call the state of the run). A subgraph op thus runs, eagerly and
    wherever a backend runs it as an eager step, with its body interpreted."""
    if op is None or not op.subgraphs:
        return attrs
    bound = dict(attrs)
    for name in op.subgraphs:
        sub = attrs.get(name)
        if not isinstance(sub, Graph):
            raise InvalidArgumentError(f"{op.name}: attribute {name} must be a graph, got {type(sub).__name__}")
        bound[name] = SubgraphRunner(InterpretedGraph(sub), state)
    return bound


class SubgraphRunner:
    """``runner(*arrays) -> list of arrays``: one subgraph of a node, interpreted with the run's ``state``."""
    __slots__ = ("executable", "state", "sizes")

    def __init__(self, executable, state, sizes=None):
        self.executable, self.state, self.sizes = executable, state, sizes

    graph = property(lambda self: self.executable.graph)

    def __call__(self, *arrays):
        executable = self.executable
        if self.sizes is None or not executable.symbolic:
            return executable.run(self.state, arrays)
        if executable.locks_state:   # (as Executable.run, with the enclosing run's symbolic sizes)
            with self.state.lock:
                return executable._run_symbolic(self.state, arrays, self.sizes)
        return executable._run_symbolic(self.state, arrays, self.sizes)

    def with_state(self, state):
        return self if state is self.state else SubgraphRunner(self.executable, state, self.sizes)

    def with_sizes(self, sizes):
        return SubgraphRunner(self.executable, self.state, sizes)


def run_node(op, node, attrs, state, args):
    """One node through its op's eager implementation, with errors naming the op and the user's line.
    Shared by this interpreter and the compiled backend's eager steps between compiled stages."""
    if op is not None and op.subgraphs:   # the subgraphs run with this run's state (variables, random draws)
        attrs = {k: v.with_state(state) if type(v) is SubgraphRunner else v for k, v in attrs.items()}
    return check_result(node, run_eager(op, state, args, attrs, node.loc))


def run_sized(op, node, attrs, state, args, sizes):
    """``run_node`` for a node of a graph over symbolic sizes: its attributes and type evaluated for ``sizes``."""
    attrs = {k: _sized(v, sizes) for k, v in attrs.items()}
    return run_node(op, dataclasses.replace(node, type=evaluate_type(node.type, sizes)), attrs, state, args)


def _sized(value, sizes):
    """An attribute for this run's ``sizes``: symbolic values evaluated, subgraphs given the sizes (their own
    inputs may have only derived sizes, as ``max(n0 - 5, 0)``, which do not tell ``n0``)."""
    return value.with_sizes(sizes) if type(value) is SubgraphRunner else symbolic.evaluate(value, sizes)


def check_result(node, out):
    """Eager implementations must produce exactly the inferred type; anything else is a graphjit bug. A node of
    several results (a TupleType) gives a tuple of arrays."""
    if isinstance(node.type, TupleType):
        out = tuple(out)
        if len(out) != len(node.type.types):
            raise InternalError(f"op {node.op} produced {len(out)} results but its rule says {node.type}")
        return tuple(_checked(node, value, t) for value, t in zip(out, node.type.types))
    return _checked(node, out, node.type)


def _checked(node, out, expected):
    if type(out) is not np.ndarray:
        out = np.asarray(out)
    if out.shape != expected.shape or out.dtype != expected.dtype.np:
        raise InternalError(f"op {node.op} produced {out.dtype}{list(out.shape)} but its rule says {expected}")
    return out


class InterpreterBackend(Backend):
    name = "interpreter"

    def compile(self, graph):
        return InterpretedGraph(graph)


register_backend(InterpreterBackend())
