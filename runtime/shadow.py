"""Shadow mode (``gj.config.debug_compare``): run a compiled graph beside the reference interpreter.

Each call runs the backend's executable on the real state and the interpreter on a copy of the state as it
was before the call; results and the variables the graph writes are compared within the tolerances below.
On a difference the optimized graph is run both ways once more with every node as an output, and the first
node (in execution order) whose values differ is reported with its op, type, the user's source line and both
values: the place to look for a broken lowering, fusion or pass. A difference that the optimized graph's nodes
do not show comes from the optimization passes themselves (the interpreter runs the traced graph).
"""
import warnings

import numpy as np

from graphjit.compiler.backend import get_backend
from graphjit.tracer.errors import NumericalMismatchError
from graphjit.tracer.ir import Graph, TensorType
from graphjit.tracer.subgraphs import nodes_within
from graphjit.tracer.tensor import EagerTensor


# |compiled - interpreter| <= RTOL * (|interpreter| + max |interpreter| of that value): relative to the value's
# scale, so that sums whose terms cancel are judged by the size of their terms. float32's bound covers the math
# library's <= 2 ULP per function and reassociated reductions; integers and booleans must be equal. NaN must
# sit in the same places, infinities with the same signs.
RTOL = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-9}


def mode_of(concrete, config):
    """"raise", "warn" or None for this function (its own ``debug_compare`` wins over ``gj.config``'s)."""
    mode = concrete.debug_compare
    if mode is None:
        mode = config.debug_compare
    return "raise" if mode is True else (mode or None)


def run_compared(concrete, backend, executable, state, tensors, mode):
    arrays = [t._value if type(t) is EagerTensor else np.asarray(t) for t in tensors]
    if getattr(executable, "optimized", None) is None:  # the interpreter itself: nothing to compare with
        return [EagerTensor(a) for a in executable.run(state, arrays)]
    variables = _variable_ids(concrete.graph)
    with state.lock:  # the copy, the run and the comparison see one consistent state
        before = state.copy(variables)
        outputs = executable.run(state, arrays)
        shadow = before.copy(variables)
        expected = get_backend("interpreter").compile(concrete.graph).run(shadow, arrays)
        problem = _first_difference(outputs, expected, "result")
        if problem is None:
            problem = _first_difference([state.values.get(v) for v in variables],
                                        [shadow.values.get(v) for v in variables], "variable")
        if problem is not None:
            _report(concrete, backend, executable, before, variables, arrays, problem, mode)
    return [EagerTensor(a) for a in outputs]


def _variable_ids(graph):
    return sorted({n.attr("var").id for n in nodes_within(graph) if n.op in ("read_variable", "assign_variable")})




def _first_difference(actual, expected, what):
    for k, (a, e) in enumerate(zip(actual, expected)):
        problem = _difference(a, e)
        if problem is not None:
            return f"{what} {k}: {problem}"
    return None


def _difference(actual, expected):
    """None when close; otherwise what differs, in words."""
    if actual is None or expected is None:
        return None if actual is expected else "present in one run only"
    actual, expected = np.asarray(actual), np.asarray(expected)
    if actual.shape != expected.shape or actual.dtype != expected.dtype:
        return f"{actual.dtype}{list(actual.shape)} vs {expected.dtype}{list(expected.shape)}"
    rtol = RTOL.get(expected.dtype)
    if rtol is None:
        bad = actual != expected
    else:
        a, e = actual.astype(np.float64), expected.astype(np.float64)
        finite = np.isfinite(e)
        scale = np.max(np.abs(e[finite])) if finite.any() else 0.0
        with np.errstate(invalid="ignore"):
            bad = np.where(finite, ~(np.abs(a - e) <= rtol * (np.abs(e) + scale)),
                           ~((a == e) | (np.isnan(a) & np.isnan(e))))
    if not bad.any():
        return None
    index = tuple(int(i) for i in np.argwhere(bad)[0])
    return (f"{int(bad.sum())} of {bad.size} elements differ; first at index {index}: compiled "
            f"{actual[index].item()!r}, interpreter {expected[index].item()!r}")


def _report(concrete, backend, executable, before, variables, arrays, problem, mode):
    message = f"debug_compare: {concrete.name}'s compiled graph differs from the reference interpreter ({problem})"
    node_report = _first_diverging_node(backend, executable.optimized, before, variables, arrays)
    message += "\n" + (node_report or "  no node of the optimized graph differs: the optimization passes changed "
                                      "the result (the interpreter ran the traced graph)")
    if mode == "warn":
        warnings.warn(message, RuntimeWarning, stacklevel=6)
    else:
        raise NumericalMismatchError(message)


def _first_diverging_node(backend, optimized, before, variables, arrays):
    """Runs the optimized graph with every value as an output, compiled and interpreted, and describes the first
    node whose values differ (one more compile, only when a difference was found)."""
    nodes = optimized.nodes
    probed = tuple(i for i, n in enumerate(nodes)
                   if n.op not in ("input", "constant") and isinstance(n.type, TensorType))
    probe = Graph(nodes, optimized.inputs, probed, optimized.name + "_probe")
    compiled = backend.compile(probe).run(before.copy(variables), arrays)
    interpreted = get_backend("interpreter").compile(probe).run(before.copy(variables), arrays)
    for i, a, e in zip(probed, compiled, interpreted):
        problem = _difference(a, e)
        if problem is not None:
            node = nodes[i]
            operands = ", ".join(f"%{j}: {nodes[j].type}" for j in node.inputs)
            where = f"\n  at {node.loc}" if node.loc else ""
            return (f"  first differing node of the optimized graph: %{i} = {node.op}({operands}) -> {node.type}"
                    f"{where}\n  {problem}\n  compiled:    {_preview(a)}\n  interpreter: {_preview(e)}")
    return None


def _preview(array):
    return np.array2string(np.asarray(array), threshold=8, edgeitems=3, precision=6)
