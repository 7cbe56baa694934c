"""Symbolic sizes for the unknown dims of a compat.v1 control-flow construct: built once, specialized per run.

A construct (``gj.cond``, ``gj.while_loop``...) over tensors of unknown dims is traced once, when the user builds
it, with each unknown dim of the graph tensors it uses standing as a size atom (``n0``, ``n1``... of
``tracer.symbolic``, in the order the trace first uses them), as ``tracer.polymorphic`` traces a ``gj.function``
over an input_signature's None dims. ``SizeAtoms`` hands the atoms out and, like ``Polymorphism``, merges two
atoms a rule needed equal and raises an atom's least size for an int index (the construct is then traced again,
still at build time). A Session's run binds the atoms to the fed sizes (``bind``) and ``specialize`` writes the
stored subgraphs with those sizes: no user function runs again.
"""
from graphjit.tracer import symbolic
from graphjit.tracer.ir import Graph, Node, TensorType, TupleType, replay
from graphjit.tracer.polymorphic import AtomBounds
from graphjit.tracer.symbolic import Atom, SymInt


class SizeAtoms(AtomBounds):
    """The atoms of one construct's unknown dims: ``(op id, dim)`` -> atom name, merged names and least sizes."""

    def __init__(self):
        super().__init__()
        self.names = {}     # (op id, dim) -> atom name

    def typed(self, op_id, static):
        """``static`` (a TensorType with None dims) with each None dim an atom's symbolic size (None: an unknown
        rank, which no atom can stand for)."""
        if static.shape is None:
            return None
        dims = []
        for d, size in enumerate(static.shape):
            if size is not None:
                dims.append(size)
                continue
            name = self.names.setdefault((op_id, d), f"n{len(self.names)}")
            rep = self.representative(name)
            dims.append(SymInt.atom(Atom(rep, self.least(rep))))
        return TensorType(tuple(dims), static.dtype)



def bind(symbolic_types, concrete_types):
    """Atom name -> size, matching the construct's symbolic operand types with a run's concrete ones; or a
    sentence saying why these sizes do not fit the construct as built (a size below an atom's least size, two
    different sizes for one atom, a fixed size or a rank that differs)."""
    sizes = {}
    for k, (want, got) in enumerate(zip(symbolic_types, concrete_types)):
        if len(want.shape) != len(got.shape):
            return f"operand {k} has shape {got.shape}, not of rank {len(want.shape)}"
        for d, (size, fed) in enumerate(zip(want.shape, got.shape)):
            if type(size) is not SymInt:
                if size != fed:
                    return f"operand {k} has size {fed} in dim {d}, not {size}"
                continue
            atom = next(iter(size.atoms()))
            if fed < atom.lower:
                return f"operand {k} has size {fed} in dim {d}, which its functions were built for from {atom.lower} on"
            if sizes.setdefault(atom.name, fed) != fed:
                return f"operand {k} has size {fed} in dim {d}, which its functions need equal to another size " \
                       f"{sizes[atom.name]}"
    return sizes


def specialize(graph, sizes):
    """``graph`` (over symbolic sizes, its subgraphs too) with every size evaluated for ``sizes``."""
    nodes = []

    def emit(node, inputs, deps):
        attrs = tuple((k, specialize(v, sizes) if isinstance(v, Graph) else symbolic.evaluate(v, sizes))
                      for k, v in node.attrs)
        nodes.append(Node(node.op, inputs, attrs, evaluated(node.type, sizes), deps, node.loc))
        return len(nodes) - 1
    mapping = replay(graph, emit)
    return Graph(tuple(nodes), tuple(mapping[i] for i in graph.inputs), tuple(mapping[i] for i in graph.outputs),
                 graph.name)


def evaluated(t, sizes):
    if isinstance(t, TupleType):
        return TupleType(tuple(evaluated(x, sizes) for x in t.types))
    return TensorType(symbolic.evaluate(tuple(t.shape), sizes), t.dtype)


def static(t):
    """A symbolic result type as the user sees it: each size that depends on an atom unknown (None)."""
    return TensorType(tuple(None if type(d) is SymInt else d for d in t.shape), t.dtype)
