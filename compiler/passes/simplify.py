"""Algebraic simplification that is exact under IEEE/NumPy semantics.

Each rule looks at one node (with its inputs already rewritten) and returns the id of an existing
node that computes the same value, a replacement Node, or None. Rules never change NaN, inf or
signed-zero results: ``x + 0.0`` stays (``-0.0 + 0.0`` is ``+0.0``), while ``x + (-0.0)``,
``x - 0.0``, ``x * 1``, ``x / 1`` and ``x ** 1`` go.
"""
import numpy as np

from graphjit.tracer.ir import Node
from graphjit.tracer.shapes import same_size

from .rebuild import Rebuilder, recursive, typed_node


def _const_value(nodes, i):
    node = nodes[i]
    return node.attr("value").value if node.op == "constant" else None


def _same_type(nodes, i, node):
    return nodes[i].type == node.type


def _is_all(value, target, negative_zero=None):
    """Every element equals ``target`` (with the requested sign for floating zeros)."""
    if value is None or value.size == 0 or not np.all(value == target):
        return False
    if negative_zero is not None and value.dtype.kind == "f":
        return bool(np.all(np.signbit(value) == negative_zero))
    return True


def _identity_operand(nodes, node, neutral, *, commutative, negative_zero=None, int_neutral=None):
    """For ``x op c`` (or ``c op x`` when commutative) with c neutral, the id of x."""
    a, b = node.inputs
    sides = [(a, b), (b, a)] if commutative else [(a, b)]
    for x, c in sides:
        value = _const_value(nodes, c)
        if value is None or not _same_type(nodes, x, node):
            continue
        if value.dtype.kind == "f" and _is_all(value, neutral, negative_zero):
            return x
        if value.dtype.kind in "ib" and _is_all(value, neutral if int_neutral is None else int_neutral):
            return x
    return None


def drop_identity(nodes, node):
    if node.op in ("identity", "stop_gradient"):
        return node.inputs[0]
    return None


def drop_neutral_arithmetic(nodes, node):
    if node.op == "multiply":
        return _identity_operand(nodes, node, 1, commutative=True)
    if node.op == "add":  # only -0.0 is neutral for floats: x + (+0.0) turns -0.0 into +0.0
        return _identity_operand(nodes, node, 0, commutative=True, negative_zero=True)
    if node.op == "subtract":
        return _identity_operand(nodes, node, 0, commutative=False, negative_zero=False)
    if node.op in ("divide", "pow"):
        return _identity_operand(nodes, node, 1, commutative=False)
    return None


def drop_double_negation(nodes, node):
    if node.op in ("negative", "logical_not"):
        inner = nodes[node.inputs[0]]
        if inner.op == node.op and _same_type(nodes, inner.inputs[0], node):
            return inner.inputs[0]
    return None


def merge_transposes(nodes, node):
    if node.op != "transpose":
        return None
    perm = node.attr("perm")
    inner = nodes[node.inputs[0]]
    source = node.inputs[0]
    if inner.op == "transpose":
        perm = tuple(inner.attr("perm")[p] for p in perm)
        source = inner.inputs[0]
    if perm == tuple(range(len(perm))):
        return source
    if source != node.inputs[0]:
        return typed_node(nodes, "transpose", (source,), node.loc, perm=perm)
    return None


def merge_reshapes(nodes, node):
    if node.op != "reshape":
        return None
    source = node.inputs[0]
    while nodes[source].op == "reshape":
        source = nodes[source].inputs[0]
    before, after = tuple(nodes[source].type.shape), tuple(node.type.shape)
    if len(before) == len(after) and all(same_size(a, b) for a, b in zip(before, after)):   # (symbolic: as code)
        return source
    if source != node.inputs[0]:
        return typed_node(nodes, "reshape", (source,), node.loc, **dict(node.attrs))
    return None


def drop_noop_shape_and_cast(nodes, node):
    """cast to the same dtype, broadcast_to the shape a value already has."""
    if node.op in ("cast", "broadcast_to") and _same_type(nodes, node.inputs[0], node):
        return node.inputs[0]
    return None


def _is_zeros(nodes, i):
    """zeros, or a constant of +0 (small zeros are folded into constants)."""
    return nodes[i].op == "zeros" or _is_all(_const_value(nodes, i), 0, negative_zero=False)


def _zero_rooted(nodes, i):
    """Whether node i is zeros (+0.0) with strided updates added: none of its elements is -0.0 (a sum is -0.0
    only when both terms are), so adding +0.0 to it changes nothing."""
    while nodes[i].op == "scatter_add" and len(nodes[i].inputs) == 2:
        i = nodes[i].inputs[0]
    return _is_zeros(nodes, i)


def chain_strided_scatters(nodes, node):
    """``a + scatter_add(zeros, g, key)`` -> ``scatter_add(a, g, key)`` for a basic key and a zero-rooted ``a``:
    the gradient of several slices of one value (pooling and conv taps) becomes one chain of scatters into a
    single buffer, exactly (the add's other elements are a + 0 = a, and a holds no -0.0)."""
    if node.op != "add":
        return None
    for a, b in (node.inputs, node.inputs[::-1]):
        scatter = nodes[b]
        if (scatter.op == "scatter_add" and len(scatter.inputs) == 2 and _is_zeros(nodes, scatter.inputs[0])
                and nodes[a].type == scatter.type == node.type and _zero_rooted(nodes, a)):
            return typed_node(nodes, "scatter_add", (a, scatter.inputs[1]), node.loc, key=scatter.attr("key"))
    return None


RULES = [drop_identity, drop_neutral_arithmetic, drop_double_negation, merge_transposes, merge_reshapes,
         drop_noop_shape_and_cast, chain_strided_scatters]


@recursive
def simplify(graph, rules=RULES):
    rebuilt = Rebuilder(graph)
    changed = False
    for i, node in enumerate(graph.nodes):
        if node.op in ("input", "constant") or node.deps:
            rebuilt.copy(i)
            continue
        current = Node(node.op, tuple(rebuilt.mapping[j] for j in node.inputs), node.attrs, node.type, (),
                       node.loc)
        for rule in rules:
            result = rule(rebuilt.nodes, current)
            if result is None:
                continue
            changed = True
            if isinstance(result, Node):
                current = result
                continue
            rebuilt.alias(i, result)
            break
        else:
            rebuilt.nodes.append(current)
            rebuilt.mapping[i] = len(rebuilt.nodes) - 1
    return rebuilt.finish() if changed else graph
