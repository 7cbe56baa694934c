"""One trace for every size of an input_signature's None dimensions (and of ``reduce_retracing``'s generalised
signatures).

``Polymorphism(specs)`` gives each None dimension a size atom (``n0``, ``n1``, ... in flatten order) and traces the
function once over those symbolic sizes (``tracer.symbolic``). When a shape rule asks whether two atoms are equal
(``x + y`` of two None-sized vectors), the atoms are merged and the function traced again: calls must then bring
equal sizes there. A trace that needs a size as a number (a Python ``range`` over it, a broadcast that
depends on an unknown size (``x[5:] * x[-3:]``), a reshape with -1 that may not divide, an op whose attributes would hold a
symbolic size, other than reshape's, broadcast_to's, zeros' and while_loop's bound) gives up: the function logs "traced per size ... because ..."
on the ``graphjit`` logger and traces once per size, as for a fully defined signature.

A call is served by the symbolic trace when every atom's size is at least ``symbolic.MIN_SIZE`` (2) and merged
atoms have equal sizes (``serves``); other calls (size 0 or 1, where broadcasting would decide differently) take
a per-size trace. An int index that is in range only from some size on (``x[3]``: n0 >= 4) raises that atom's
least size and retraces; smaller calls take per-size traces, which raise the index's own error.
"""
import logging

import numpy as np

from . import dtypes
from .ir import TensorType
from .symbolic import MIN_SIZE, Atom, SymInt, SymbolicError, shape_is_symbolic
from .tensor import DeviceTensor, EagerTensor

log = logging.getLogger("graphjit")

MAX_MERGES = 64
# (graph, jit_compile) -> why the backend that would run it cannot take one graph for every size, or None; the
# runtime installs it (the tracer imports no backend)
_backend_check = None


def install_backend_check(check):
    global _backend_check
    _backend_check = check


class AtomBounds:
    """What a symbolic trace learns of its atoms: names merged into others (two sizes found equal) and least
    sizes above MIN_SIZE (an int index needed them). Shared by ``Polymorphism`` and compat.v1's constructs."""

    def __init__(self):
        self.merged = {}      # atom name -> the name it was merged into
        self.minimum = {}     # atom name -> its least size where above MIN_SIZE (an int index needed it)

    def representative(self, name):
        while name in self.merged:
            name = self.merged[name]
        return name

    def least(self, name):
        return self.minimum.get(self.representative(name), MIN_SIZE)

    def merge(self, pair):
        a, b = (self.representative(n) for n in pair)
        if a == b:
            return False
        keep, drop = sorted((a, b), key=lambda n: (len(n), n))
        least = max(self.least(keep), self.least(drop))
        self.merged[drop] = keep
        if least > MIN_SIZE:
            self.minimum[keep] = least
        return True

    def require(self, requirement):
        """Raises an atom's least size (``x[3]`` on ``n0``: n0 >= 4); False when that changes nothing."""
        name, least = requirement
        name = self.representative(name)
        if least <= self.least(name):
            return False
        self.minimum[name] = least
        return True


class Polymorphism(AtomBounds):
    """The symbolic trace of one signature: ``specs`` are (shape with None dims, DType), in flatten order."""

    def __init__(self, specs):
        self.specs = [(tuple(shape), dtype) for shape, dtype in specs]
        self.names = []   # per spec, per dim: its atom name or None
        count = 0
        for shape, _ in self.specs:
            names = []
            for d in shape:
                names.append(None if d is not None else f"n{count}")
                count += d is None
            self.names.append(names)
        super().__init__()
        self.concrete = None  # the ConcreteFunction, once traced
        self.failure = None   # why it could not trace symbolically (then every call is traced per size)
        self.check = self._compile_check()   # check(arrays) -> bool: sizes fit (the fast test of ``serves``)

    def input_types(self):
        atoms = {}
        types = []
        for (shape, dtype), names in zip(self.specs, self.names):
            dims = []
            for d, name in zip(shape, names):
                if name is None:
                    dims.append(d)
                else:
                    rep = self.representative(name)
                    atom = atoms.get(rep)
                    if atom is None:
                        atom = atoms[rep] = SymInt.atom(Atom(rep, self.least(rep)))
                    dims.append(atom)
            types.append(TensorType(tuple(dims), dtype))
        return types

    def trace(self, trace_once, what):
        """``trace_once(input_types) -> ConcreteFunction``, retraced with merged atoms where a rule needed two sizes
        equal; None (and ``failure`` set, logged) when the function cannot be traced over symbolic sizes."""
        for _ in range(MAX_MERGES):
            try:
                concrete = trace_once(self.input_types())
            except SymbolicError as err:
                if err.unify is not None and self.merge(err.unify):
                    continue
                if err.require is not None and self.require(err.require):
                    continue
                return self._give_up(what, str(err))
            except Exception as err:   # (the per-size trace raises the user's error again, for the sizes given)
                return self._give_up(what, f"{type(err).__name__}: {err}")
            problem = graph_problem(concrete.graph)
            if problem is None and _backend_check is not None:
                try:
                    problem = _backend_check(concrete.graph, concrete.jit_compile)
                except SymbolicError as err:
                    problem = str(err)
            if problem is not None:
                return self._give_up(what, problem)
            self.concrete = concrete
            self.check = self._compile_check()
            return concrete
        return self._give_up(what, f"more than {MAX_MERGES} retraces merging unknown sizes")

    def _give_up(self, what, reason):
        self.failure = reason.splitlines()[0] if reason else "unknown"
        log.info("%s: traced per size (signature %s) because %s", what, self.signature_text(), self.failure)
        return None

    def signature_text(self):
        return ", ".join(f"{dtype.name}[{','.join('None' if d is None else str(d) for d in shape)}]"
                         for shape, dtype in self.specs)

    def serves(self, arrays):
        """Whether the symbolic trace computes these inputs' results (arrays or tensors, in flatten order)."""
        return self.concrete is not None and self.check(arrays)

    def bind(self, arrays):
        """Atom name -> size for these inputs."""
        sizes = {}
        for array, names in zip(arrays, self.names):
            for size, name in zip(array.shape, names):
                if name is not None:
                    sizes[self.representative(name)] = size
        return sizes

    def _compile_check(self):
        """``check(arrays)``, generated: one comparison per dimension, no loops (it runs on every call)."""
        lines = ["def check(arrays):", "    try:"]
        first = {}
        tests = []
        env = {"EagerTensor": EagerTensor, "DeviceTensor": DeviceTensor, "ndarray": np.ndarray}
        lines.append(f"        {', '.join(f'a{k}' for k in range(len(self.specs)))}{',' if len(self.specs) == 1 else ''}"
                     f" = arrays")
        for k, ((shape, dtype), names) in enumerate(zip(self.specs, self.names)):
            env[f"dt{k}"] = dtype.np
            lines.append(f"        if type(a{k}) is EagerTensor or type(a{k}) is DeviceTensor:")
            lines.append(f"            a{k} = a{k}._value   # (a GPU array's shape and dtype are as NumPy's)")
            lines.append(f"        elif type(a{k}) is not ndarray:")
            lines.append("            return False")
            lines.append(f"        s{k} = a{k}.shape")
            tests.append(f"len(s{k}) == {len(shape)}")
            tests.append(f"a{k}.dtype == dt{k}")
            for d, (size, name) in enumerate(zip(shape, names)):
                if name is None:
                    tests.append(f"s{k}[{d}] == {size}")
                    continue
                rep = self.representative(name)
                if rep in first:
                    tests.append(f"s{k}[{d}] == {first[rep]}")
                else:
                    first[rep] = f"s{k}[{d}]"
                    tests.append(f"s{k}[{d}] >= {self.least(rep)}")
        lines.append("    except (AttributeError, ValueError, TypeError):")
        lines.append("        return False")
        lines.append(f"    return {' and '.join(tests) or 'True'}")
        source = "\n".join(lines) + "\n"
        exec(compile(source, "<graphjit signature check>", "exec"), env)  # noqa: S102 - our own generated code
        return env["check"]


def graph_problem(graph):
    """Why a symbolic graph cannot run as one trace for every size (None when it can): a shape with an unknown
    size (a rule that read None), here or in a subgraph."""
    for node in graph.nodes:
        if None in (getattr(node.type, "shape", None) or ()):
            return f"{node.op} made a tensor of unknown shape {node.type}"
        for _, value in node.attrs:
            if hasattr(value, "nodes") and hasattr(value, "inputs"):   # a subgraph: its shapes are checked too
                problem = graph_problem(value)
                if problem is not None:
                    return problem
    return None


def _symbolic_type(t):
    types = getattr(t, "types", None)
    if types is not None:
        return any(_symbolic_type(x) for x in types)
    return shape_is_symbolic(t.shape)


def specs_of(signature_leaves):
    """(shape, DType) of each TensorSpec, or None when no spec has a None dimension (or a rank is unknown)."""
    specs = []
    for spec in signature_leaves:
        if spec.shape.rank is None:
            return None
        specs.append((tuple(spec.shape), spec.dtype))
    if not any(d is None for shape, _ in specs for d in shape):
        return None
    return specs


def relaxed_specs(new_key_leaves, old_key_leaves):
    """reduce_retracing's generalisation: the (shape, dtype) leaves of two keys, None where sizes differ;
    None when ranks or dtypes differ or nothing does (TF's most specific common supertype)."""
    specs = []
    for (new_shape, new_dtype), (old_shape, old_dtype) in zip(new_key_leaves, old_key_leaves):
        if len(new_shape) != len(old_shape) or new_dtype != old_dtype:
            return None
        specs.append((tuple(a if a == b else None for a, b in zip(new_shape, old_shape)),
                      dtypes.from_numpy(new_dtype) if not isinstance(new_dtype, dtypes.DType) else new_dtype))
    if not any(d is None for shape, _ in specs for d in shape):
        return None
    return specs
