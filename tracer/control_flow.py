"""``gj.cond``, ``gj.while_loop`` and ``gj.switch_case``: TF2's control flow, as graph nodes holding subgraphs.

Executing eagerly (no graph is being built), each runs the Python functions directly on eager tensors, as TF
eager does: ``cond`` calls one branch, ``while_loop`` is a Python loop (so a gradient tape records the ops that
ran). While a ``gj.function`` is traced (or a compat.v1 graph is built) each branch, loop condition and body is
traced once by ``tracing.trace`` into a ``Graph``, with the enclosing trace as its parent: the enclosing tensors
it uses become captures, fed to the node as extra inputs. The node (ops in ``tracer/ops/control_flow.py``) has one
result per output leaf, and the results are packed back into the structure the functions returned.

Rules (TF2's, for static shapes):
- cond: both branches return the same structure (lists and tuples alike; dict keys equal; None leaves in the same
  places) and, leaf by leaf, the same dtype and the same shape: graphjit's graphs have static shapes, so a result
  cannot be ``[None]``-shaped as TF's may be. A Python bool ``pred`` just calls one branch (also while tracing).
- while_loop: ``loop_vars`` is a tuple or list (nested with tuples, lists and dicts) or a single tensor; the body
  returns the same structure, each variable keeping its dtype and shape. ``shape_invariants`` may relax a shape
  (TF's ``TensorShape([None, 2])``), which only an eager loop can honour: traced, a changing shape is an
  UnimplementedError saying so. ``maximum_iterations`` (a Python int, or a tensor) bounds the iterations; the
  gradient of a loop needs it to be an int (see ``ops/control_flow.py``).
- Variables read, but not assigned, inside a branch or loop are read once before the node (their reads become
  captures): the value is the same, a gradient tape sees the read (so variables get gradients through control
  flow), and the subgraphs stay pure. Reads of variables the construct assigns stay inside, in program order.
"""
import numpy as np

from . import context, nest
from .errors import InvalidArgumentError, InvalidTypeError, UnimplementedError
from .ir import Graph, Node, VarRef, same_type
from .registry import OPS, export
from .shapes import TensorShape
from .source import with_location
from .symbolic import is_symbolic
from .subgraphs import node_has_effects, nodes_within
from .tensor import EagerTensor, SymbolicTensor, convert_to_tensor
from .tracing import trace


# ---- tracing a user function into a subgraph -----------------------------------------------------------------

class Traced:
    """A user function traced into ``graph``: ``feeds`` are what feeds its inputs after the arguments (outer
    tensors it captured, VarRefs of variables whose reads were lifted out), ``result`` what the function returned
    (its tensor leaves are the graph's outputs, None leaves are not), ``types`` the outputs' TensorTypes."""

    def __init__(self, graph, feeds, result):
        self.graph, self.feeds, self.result = graph, list(feeds), result
        self.types = [graph.nodes[i].type for i in graph.outputs]

    def pack(self, tensors):
        """``tensors`` (one per output) in the structure of ``result``."""
        it = iter(tensors)
        return nest.map_structure(lambda leaf: None if leaf is None else next(it), self.result)

    def typed(self):
        """``result`` with each tensor leaf replaced by a stand-in holding its type (for checks and messages: the
        traced tensors themselves belong to a finished trace)."""
        return self.pack([TypedLeaf(t) for t in self.types])

    def feed_tensors(self):
        """The feeds as tensors of the enclosing context: lifted variables are read there, now."""
        return [OPS["read_variable"].bind(var=f) if isinstance(f, VarRef) else f for f in self.feeds]

    def assigned_variables(self):
        return {n.attr("var").id for n in nodes_within(self.graph) if n.op == "assign_variable"}


class TypedLeaf:
    """A stand-in for a traced result: only its ``type``."""
    __slots__ = ("type",)

    def __init__(self, type_):
        self.type = type_


def trace_function(fn, args, what, parent):
    """``fn(*args)`` traced with ``parent`` as the enclosing context; ``args`` a tuple (nested) of tensors, the
    graph's inputs in ``nest.flatten`` order."""
    leaves = nest.flatten(args)
    returned = []

    def flat(*symbolic):
        result = fn(*nest.pack_sequence_as(args, symbolic))
        returned.append(result)
        return [convert_to_tensor(leaf, what=f"{what}'s result") for leaf in nest.flatten(result) if leaf is not None]
    graph, captures = trace(flat, [t.type for t in leaves], parent, name=what)
    return Traced(graph, captures, returned[0])


def lift_variable_reads(traced, keep):
    """``traced`` with the reads of variables not in ``keep`` (ids) replaced by inputs fed by reads before the node
    (``feeds`` gain their VarRefs). Inputs stay in node order, as graphs keep them; effects are re-chained."""
    graph = traced.graph
    if not any(n.op == "read_variable" and n.attr("var").id not in keep for n in graph.nodes):
        return traced
    nodes, inputs, feeds, mapping, lifted, last_effect = [], [], [], {}, {}, None
    old_feeds = iter([None] * (len(graph.inputs) - len(traced.feeds)) + traced.feeds)   # None: an argument

    def add_input(type_, feed, loc):
        nodes.append(Node("input", (), (("index", len(inputs)),), type_, (), loc))
        inputs.append(len(nodes) - 1)
        if feed is not None:
            feeds.append(feed)
        return len(nodes) - 1
    for i, node in enumerate(graph.nodes):
        if node.op == "input":
            mapping[i] = add_input(node.type, next(old_feeds), node.loc)
        elif node.op == "read_variable" and node.attr("var").id not in keep:
            ref = node.attr("var")
            if ref.id not in lifted:
                lifted[ref.id] = add_input(node.type, ref, node.loc)
            mapping[i] = lifted[ref.id]
        else:
            effectful = node_has_effects(node)
            deps = (last_effect,) if effectful and last_effect is not None else ()
            nodes.append(Node(node.op, tuple(mapping[j] for j in node.inputs), node.attrs, node.type, deps, node.loc))
            mapping[i] = len(nodes) - 1
            if effectful:
                last_effect = mapping[i]
    lifted_graph = Graph(tuple(nodes), tuple(inputs), tuple(mapping[i] for i in graph.outputs), graph.name)
    return Traced(lifted_graph, feeds, traced.result)


def staged_by(parent, what, build, *args):
    """What ``parent`` builds for the construct ``what`` when it stages control flow itself, else NotImplemented.
    A graph context may provide ``stage_control_flow(what, build, args)``: ``build(*args)`` makes the construct
    again in whatever context is current, ``args`` (nested) holding the construct's tensor arguments, which the
    context may replace by its own. compat.v1 graphs, whose tensors may have unknown dims, trace a construct
    over symbolic sizes for those; NotImplemented has it built here as usual."""
    stage = getattr(parent, "stage_control_flow", None)
    return NotImplemented if stage is None else stage(what, build, args)


def graph_context(tensors):
    """The context control flow builds into (a trace, a compat.v1 graph), or None when executing eagerly."""
    ctx = context.innermost_graph()
    if ctx is not None:
        return ctx
    for t in tensors:
        if isinstance(t, SymbolicTensor):   # a compat.v1 graph's tensor, with no graph made the default
            return t._trace
    return None


# ---- structures and their messages -------------------------------------------------------------------------

def skeleton(value):
    """The structure of ``value`` with lists and tuples alike: what two branches or two iterations must share."""
    if isinstance(value, (tuple, list)):
        return tuple(skeleton(v) for v in value)
    if isinstance(value, dict):
        return {k: skeleton(value[k]) for k in nest._sorted_keys(value)}
    return None if value is None else "tensor"


def describe(value):
    """``value``'s structure with each tensor leaf written as its type: ``(f32[3], {'n': i32[]})``."""
    if isinstance(value, (tuple, list)):
        inner = ", ".join(describe(v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner}{',' if len(value) == 1 else ''})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {describe(value[k])}" for k in nest._sorted_keys(value)) + "}"
    if value is None:
        return "None"
    t = getattr(value, "type", None)
    return str(t) if t is not None else type(value).__name__


def leaf_paths(value, prefix):
    """The path of each leaf of ``value`` in ``nest.flatten`` order: ``loop_vars[1]['n']``."""
    if isinstance(value, (tuple, list)):
        return [p for k, v in enumerate(value) for p in leaf_paths(v, f"{prefix}[{k}]")]
    if isinstance(value, dict):
        return [p for k in nest._sorted_keys(value) for p in leaf_paths(value[k], f"{prefix}[{k!r}]")]
    return [prefix]


def _check_callable(fn, function, argument):
    if not callable(fn):
        raise InvalidTypeError(with_location(f"{function}: {argument} must be callable, got {type(fn).__name__}"))


def _scalar_bool(value, what):
    t = convert_to_tensor(value, what=what)
    if tuple(t.shape) != () or not t.dtype.is_bool:
        raise InvalidArgumentError(with_location(f"{what} must be a scalar bool tensor, got {t.dtype.name} of shape "
                                                 f"{tuple(t.shape)}"))
    return t


def _branch_results_agree(function, a_name, a, b_name, b):
    """Raises unless two branches' results (structures of typed leaves) have one structure and one type per leaf."""
    if skeleton(a) != skeleton(b):
        raise InvalidArgumentError(with_location(
            f"{function}: {a_name} and {b_name} must return the same structure, but {a_name} returns {describe(a)} "
            f"and {b_name} returns {describe(b)}"))
    for path, x, y in zip(leaf_paths(a, "result"), nest.flatten(a), nest.flatten(b)):
        if x is not None and not same_type(x.type, y.type):
            raise InvalidArgumentError(with_location(
                f"{function}: {a_name} and {b_name} must return the same dtypes and shapes, but {path} is "
                f"{x.type} from {a_name} and {y.type} from {b_name} "
                f"(shapes must match exactly: graphjit's graphs have static shapes); {a_name} returns {describe(a)}, "
                f"{b_name} returns {describe(b)}"))


# ---- cond ----------------------------------------------------------------------------------------------------

@export("cond")
def cond(pred, true_fn=None, false_fn=None, name=None):
    """``true_fn()`` if ``pred`` else ``false_fn()`` (``tf.cond``): ``pred`` a scalar bool tensor or a Python bool;
    both functions return the same structure of tensors with the same dtypes and shapes."""
    _check_callable(true_fn, "cond", "true_fn")
    _check_callable(false_fn, "cond", "false_fn")
    if isinstance(pred, (bool, np.bool_)):
        return true_fn() if pred else false_fn()
    pred = _scalar_bool(pred, "cond: pred")
    parent = graph_context([pred])
    if parent is None:
        return true_fn() if bool(pred) else false_fn()
    staged = staged_by(parent, "cond", lambda p: cond(p, true_fn, false_fn, name), pred)
    if staged is not NotImplemented:
        return staged
    branches = []
    for fn, what in ((true_fn, "true_fn"), (false_fn, "false_fn")):
        traced = trace_function(fn, (), what, parent)
        branches.append(lift_variable_reads(traced, traced.assigned_variables()))
    true, false = branches
    _branch_results_agree("cond", "true_fn", true.typed(), "false_fn", false.typed())
    results = OPS["cond"].bind(pred, *true.feed_tensors(), *false.feed_tensors(), true_branch=true.graph,
                               false_branch=false.graph)
    return true.pack(results)


@export("switch_case")
def switch_case(branch_index, branch_fns, default=None, name=None):
    """``branch_fns[branch_index]()`` (``tf.switch_case``): ``branch_fns`` a list of callables, a list of
    ``(int, callable)`` pairs or a dict int -> callable, keyed 0..n-1; an index out of range runs ``default``, or
    the last branch when there is none. Built from ``cond``s (so it is differentiated and compiled as they are)."""
    pairs = sorted(branch_fns.items()) if isinstance(branch_fns, dict) else [
        item if isinstance(item, tuple) else (k, item) for k, item in enumerate(branch_fns)]
    if not pairs or [k for k, _ in pairs] != list(range(len(pairs))):
        raise InvalidArgumentError(with_location(f"switch_case: branch_fns must be keyed 0..n-1 (n >= 1), got keys "
                                                 f"{[k for k, _ in pairs]}"))
    for k, fn in pairs:
        _check_callable(fn, "switch_case", f"branch_fns[{k}]")
    fns = [fn for _, fn in pairs]
    fallback = default if default is not None else fns[-1]
    if default is not None:
        _check_callable(default, "switch_case", "default")
    if isinstance(branch_index, (int, np.integer)) and not isinstance(branch_index, bool):
        return fns[branch_index]() if 0 <= branch_index < len(fns) else fallback()
    index = convert_to_tensor(branch_index, what="switch_case: branch_index")
    if tuple(index.shape) != () or not index.dtype.is_integer:
        raise InvalidArgumentError(with_location(f"switch_case: branch_index must be a scalar int32 or int64 tensor, "
                                                 f"got {index.dtype.name} of shape {tuple(index.shape)}"))
    parent = graph_context([index])
    if parent is None:
        k = int(index.numpy())
        return fns[k]() if 0 <= k < len(fns) else fallback()
    staged = staged_by(parent, "switch_case", lambda i: switch_case(i, branch_fns, default, name), index)
    if staged is not NotImplemented:
        return staged
    last = len(fns) - (1 if default is None else 0)   # the branches tested for equality; the rest is the fallback

    def from_branch(k):
        if k == last:
            return fallback()
        return cond(OPS["equal"].bind(index, EagerTensor(np.array(k, index.dtype.np))), fns[k],
                    lambda: from_branch(k + 1))
    return from_branch(0)


# ---- while_loop ------------------------------------------------------------------------------------------------

@export("while_loop")
def while_loop(cond, body, loop_vars, shape_invariants=None, parallel_iterations=10, back_prop=True,
               swap_memory=False, maximum_iterations=None, name=None):
    """Repeats ``loop_vars = body(*loop_vars)`` while ``cond(*loop_vars)`` (``tf.while_loop``), at most
    ``maximum_iterations`` times; returns the final loop variables in the structure of ``loop_vars``."""
    _check_callable(cond, "while_loop", "cond")
    _check_callable(body, "while_loop", "body")
    single = not isinstance(loop_vars, (tuple, list))
    start = (loop_vars,) if single else loop_vars
    if not nest.flatten(start):
        raise InvalidArgumentError(with_location("while_loop: loop_vars is empty: there must be a loop variable"))
    paths = ["loop_vars"] if single else leaf_paths(loop_vars, "loop_vars")
    values = nest.map_structure(lambda v: convert_to_tensor(v, what="while_loop: loop_vars"), start)
    invariants = _invariants(shape_invariants, start, single, values, paths)
    limit = _iteration_limit(maximum_iterations)
    parent = graph_context(nest.flatten(values) + ([limit] if isinstance(limit, SymbolicTensor) else []))
    if parent is not None:
        staged = staged_by(parent, "while_loop", lambda v, m: while_loop(
            cond, body, _result(v, single), shape_invariants, parallel_iterations, back_prop, swap_memory, m, name),
            values, maximum_iterations)
        if staged is not NotImplemented:
            return staged
    if isinstance(limit, SymbolicTensor):   # a tensor bound: a counter among the loop variables (no gradient)
        counted = while_loop(lambda i, v: OPS["logical_and"].bind(OPS["less"].bind(i, limit), _scalar_bool(
                                 _call(cond, v), "while_loop: cond's result")),
                             lambda i, v: (i + 1, _as_structure(_call(body, v), v)),
                             (OPS["zeros"].bind(shape=(), dtype=limit.dtype), values), shape_invariants=None)
        return _result(counted[1], single)
    if parent is None:
        return _result(_eager_loop(cond, body, values, invariants, paths, limit), single)
    conditions = trace_function(lambda *v: _scalar_bool(cond(*v), "while_loop: cond's result"), values, "cond",
                                parent)
    step = trace_function(lambda *v: _as_structure(body(*v), v), values, "body", parent)
    _check_iteration(values, step.typed(), invariants, paths, traced=True)
    keep = conditions.assigned_variables() | step.assigned_variables()
    conditions, step = lift_variable_reads(conditions, keep), lift_variable_reads(step, keep)
    results = OPS["while_loop"].bind(*nest.flatten(values), *conditions.feed_tensors(), *step.feed_tensors(),
                                     cond=conditions.graph, body=step.graph, maximum_iterations=limit)
    return _result(nest.pack_sequence_as(values, results), single)


def _call(fn, values):
    return fn(*values)


def _as_structure(result, values):
    """The body's result as loop variables: a lone variable may come back bare, as in TF."""
    if len(values) == 1 and not isinstance(result, (tuple, list, dict)):
        return type(values)([result]) if isinstance(values, list) else (result,)
    return result


def _result(values, single):
    return values[0] if single else values   # (a list or tuple, as loop_vars: nest keeps the container)


def _eager_loop(cond, body, values, invariants, paths, limit):
    count = 0
    while (limit is None or count < limit) and bool(_scalar_bool(cond(*values), "while_loop: cond's result")):
        new = nest.map_structure(lambda v: convert_to_tensor(v, what="while_loop: body's result"),
                                 _as_structure(body(*values), values))
        _check_iteration(values, new, invariants, paths, traced=False)
        values, count = new, count + 1
    return values


def _iteration_limit(maximum_iterations):
    """None, a Python int, or (a tensor bound while building a graph) a scalar int SymbolicTensor."""
    if maximum_iterations is None:
        return None
    if isinstance(maximum_iterations, SymbolicTensor):
        if tuple(maximum_iterations.shape) != () or not maximum_iterations.dtype.is_integer:
            raise InvalidArgumentError(with_location(f"while_loop: maximum_iterations must be a scalar int, got "
                                                     f"{describe(maximum_iterations)}"))
        known = known_int(maximum_iterations)   # gj.shape(x)[0]: the size itself, so the loop has a gradient
        return maximum_iterations if known is None or (isinstance(known, int) and known < 0) else known
    if is_symbolic(maximum_iterations):   # an unknown size (map_fn, scan over an input_signature's None dim)
        return maximum_iterations
    value = np.asarray(convert_to_tensor(maximum_iterations, what="while_loop: maximum_iterations"))
    if value.shape != () or value.dtype.kind not in "iu" or value < 0:
        raise InvalidArgumentError(with_location(f"while_loop: maximum_iterations must be an int >= 0, got "
                                                 f"{maximum_iterations!r}"))
    return int(value)


def known_int(value):
    """``value`` as an int or SymInt when tracing knows it: a Python int, a constant, or an element of a traced
    ``shape`` (possibly cast), whose dims the input's type holds; else None."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, EagerTensor):
        array = np.asarray(value.numpy())
        return int(array) if array.shape == () and array.dtype.kind in "iu" else None
    nodes = getattr(getattr(getattr(value, "_trace", None), "builder", None), "nodes", None)
    if (nodes is None or not isinstance(value, SymbolicTensor) or value.dtype.kind not in "iu"
            or tuple(value.shape) != ()):
        return None
    node = nodes[value._id]
    while node.op == "cast":
        node = nodes[node.inputs[0]]
    if node.op == "constant":
        array = np.asarray(node.attr("value").value)
        return int(array) if array.shape == () and array.dtype.kind in "iu" else None
    if node.op != "getitem" or len(node.inputs) != 1:
        return None
    key, source = node.attr("key"), nodes[node.inputs[0]]
    if source.op not in ("shape", "constant") or len(key) != 1 or not isinstance(key[0], int):
        return None
    if source.op == "constant":   # (gj.shape of a static shape, indexed inside the trace)
        array = np.asarray(source.attr("value").value)
        return int(array[key[0]]) if array.ndim == 1 and -len(array) <= key[0] < len(array) else None
    dims = tuple(nodes[source.inputs[0]].type.shape)
    if not -len(dims) <= key[0] < len(dims):
        return None
    dim = dims[key[0]]
    return dim if isinstance(dim, int) or is_symbolic(dim) else None


def _invariants(shape_invariants, start, single, values, paths):
    """One TensorShape (or None) per loop variable, ``shape_invariants`` flattened up to ``loop_vars``."""
    leaves = nest.flatten(values)
    if shape_invariants is None:
        return [None] * len(leaves)
    found = _flatten_up_to(start, (shape_invariants,) if single else shape_invariants, "shape_invariants")
    shapes = [None if s is None else TensorShape(s) for s in found]
    for path, shape, v in zip(paths, shapes, leaves):
        if shape is not None and not shape.is_compatible_with(tuple(v.shape)):
            raise InvalidArgumentError(with_location(f"while_loop: {path} has shape {tuple(v.shape)}, which its "
                                                     f"shape invariant {shape} does not allow"))
    return shapes


def _flatten_up_to(structure, value, path):
    if isinstance(structure, (tuple, list)):
        if not isinstance(value, (tuple, list)) or len(value) != len(structure):
            raise InvalidArgumentError(with_location(f"while_loop: {path} must have the structure of loop_vars "
                                                     f"({len(structure)} items here), got {value!r}"))
        return [s for k, (a, b) in enumerate(zip(structure, value)) for s in _flatten_up_to(a, b, f"{path}[{k}]")]
    if isinstance(structure, dict):
        if not isinstance(value, dict) or set(value) != set(structure):
            raise InvalidArgumentError(with_location(f"while_loop: {path} must have the keys of loop_vars "
                                                     f"{sorted(structure)}, got {value!r}"))
        return [s for k in nest._sorted_keys(structure) for s in _flatten_up_to(structure[k], value[k],
                                                                               f"{path}[{k!r}]")]
    return [value]


def _check_iteration(before, after, invariants, paths, traced):
    """Raises unless the loop variables after an iteration have the structure, dtypes and shapes (or, eagerly,
    shapes their invariants allow) of those before it, naming the variable by its path in loop_vars."""
    if skeleton(before) != skeleton(after):
        raise InvalidArgumentError(with_location(
            f"while_loop: the body must return the structure of loop_vars {describe(before)}, got {describe(after)}"))
    for path, invariant, old, new in zip(paths, invariants, nest.flatten(before), nest.flatten(after)):
        if new is None:
            raise InvalidArgumentError(with_location(f"while_loop: the body returned None for {path}"))
        old_type, new_type = old.type, new.type
        if old_type.dtype is not new_type.dtype:
            raise InvalidArgumentError(with_location(
                f"while_loop: loop variable {path} changes dtype across an iteration, from {old_type} to {new_type}: "
                f"the body must keep each loop variable's dtype (cast it)"))
        if tuple(old_type.shape) == tuple(new_type.shape):
            continue
        if invariant is None or not invariant.is_compatible_with(tuple(new_type.shape)):
            allowed = "" if invariant is None else f" (its shape invariant is {invariant})"
            raise InvalidArgumentError(with_location(
                f"while_loop: loop variable {path} changes shape across an iteration, from {old_type} to "
                f"{new_type}{allowed}: the body must keep each loop variable's shape, or shape_invariants must "
                f"allow the change (which only an eager loop can run)"))
        if traced:
            raise UnimplementedError(with_location(
                f"while_loop: loop variable {path} changes shape across an iteration, from {old_type} to "
                f"{new_type}; shape_invariants ({invariant}) allows it, but graphjit's graphs have static shapes, so "
                f"such a loop runs only eagerly (outside gj.function and compat.v1 graphs)"))

