"""Rewrites composite ops into ops that have compiled forms. ``tensordot`` becomes transposes, reshapes
and one 2-D ``matmul`` (TF defines it the same way), so the CPU backend runs it through BLAS gemm
instead of eagerly between compiled stages. Exact: it is the same contraction, in the same dtype."""
import math

from graphjit.tracer.ir import Node, TensorType, make_attrs

from .rebuild import Rebuilder


def decompose(graph):
    if not any(node.op == "tensordot" for node in graph.nodes):
        return graph
    rebuilder = Rebuilder(graph)
    for i, node in enumerate(graph.nodes):
        if node.op == "tensordot":
            rebuilder.alias(i, _tensordot(rebuilder, graph, node))
        else:
            rebuilder.copy(i)
    return rebuilder.finish()


def _tensordot(rebuilder, graph, node):
    """reshape(matmul(reshape(transpose(a), [m, k]), reshape(transpose(b), [k, n])), free_a + free_b)."""
    dtype = node.type.dtype

    def add(op, inputs, attrs, shape):
        rebuilder.nodes.append(Node(op, tuple(inputs), make_attrs(attrs), TensorType(tuple(shape), dtype), (), node.loc))
        return len(rebuilder.nodes) - 1

    def as_matrix(old_id, order, split):
        """Operand ``old_id`` with its axes in ``order``, the first ``split`` of them flattened into rows."""
        x, source = rebuilder.mapping[old_id], graph.nodes[old_id].type
        if source.dtype is not dtype:
            x = add("cast", [x], {"dtype": dtype}, source.shape)
        shape = [source.shape[k] for k in order]
        if order != sorted(order):
            x = add("transpose", [x], {"perm": tuple(order)}, shape)
        matrix = (math.prod(shape[:split]), math.prod(shape[split:]))
        return add("reshape", [x], {"shape": matrix}, matrix) if tuple(shape) != matrix else x

    (a, b), (axes_a, axes_b) = node.inputs, node.attr("axes")
    rank_a, rank_b = (len(graph.nodes[j].type.shape) for j in node.inputs)
    free_a = [k for k in range(rank_a) if k not in axes_a]
    free_b = [k for k in range(rank_b) if k not in axes_b]
    left = as_matrix(a, free_a + list(axes_a), len(free_a))
    right = as_matrix(b, list(axes_b) + free_b, len(axes_b))
    rows, cols = rebuilder.nodes[left].type.shape[0], rebuilder.nodes[right].type.shape[1]
    product = add("matmul", [left, right], {"transpose_a": False, "transpose_b": False}, (rows, cols))
    if tuple(node.type.shape) == (rows, cols):
        return product
    return add("reshape", [product], {"shape": tuple(node.type.shape)}, node.type.shape)
