"""Rewrites ops into forms that have compiled kernels, computing the same values:

- ``tensordot`` becomes transposes, reshapes and one 2-D ``matmul`` (TF defines it the same way), so the
  CPU backend runs it through BLAS gemm instead of eagerly between compiled stages (the same contraction,
  in the same dtype);
- ``argmax``/``argmin`` along a leading axis and ``reduce_logsumexp`` over non-trailing axes first move the
  reduced axes last (a transpose, which the backend copies into a contiguous buffer), then reduce those with
  the row kernels. Ties keep their order along the axis, so argmax still picks the first."""
import math

from .rebuild import Rebuilder, recursive


@recursive
def decompose(graph):
    rewrites = {i: rule for i, node in enumerate(graph.nodes) if (rule := _RULES.get(node.op)) is not None
                and rule(None, graph, node) is not None}
    if not rewrites:
        return graph
    rebuilder = Rebuilder(graph)
    for i, node in enumerate(graph.nodes):
        if i in rewrites:
            rebuilder.alias(i, rewrites[i](rebuilder, graph, node))
        else:
            rebuilder.copy(i)
    return rebuilder.finish()


def _adder(rebuilder, node):
    def add(op, inputs, attrs):
        return rebuilder.add(op, inputs, node.loc, **attrs)
    return add


def _reduce_last(rebuilder, graph, node, axes, attrs):
    """``node`` (a reduction over ``axes`` of its input) as the same op over the input's trailing axes after
    a transpose that moves ``axes`` last (None when they are already last, or nothing has a kernel then)."""
    source = graph.nodes[node.inputs[0]].type
    rank = len(source.shape)
    if not axes or tuple(axes) == tuple(range(rank - len(axes), rank)) or source.dtype.kind not in "fi":
        return None
    if rebuilder is None:
        return True
    add = _adder(rebuilder, node)
    perm = tuple(k for k in range(rank) if k not in axes) + tuple(axes)
    moved = add("transpose", [rebuilder.mapping[node.inputs[0]]], {"perm": perm})
    kept = [source.shape[k] for k in range(rank) if k not in axes]
    reduced = add(node.op, [moved], attrs(tuple(range(rank - len(axes), rank))))
    return reduced if tuple(kept) == tuple(node.type.shape) else \
        add("reshape", [reduced], {"shape": tuple(node.type.shape)})   # keepdims


def _arg_reduce(rebuilder, graph, node):
    axis = node.attr("axis")
    if axis is None:
        return None
    return _reduce_last(rebuilder, graph, node, (axis,), lambda last: {
        "axis": last[0], "keepdims": False, "output_type": node.attr("output_type")})


def _logsumexp(rebuilder, graph, node):
    if graph.nodes[node.inputs[0]].type.dtype is not node.type.dtype:   # the row kernel needs float input
        return None
    return _reduce_last(rebuilder, graph, node, tuple(node.attr("axis")), lambda last: {
        "axis": last, "keepdims": False})


def _tensordot(rebuilder, graph, node):
    """reshape(matmul(reshape(transpose(a), [m, k]), reshape(transpose(b), [k, n])), free_a + free_b)."""
    if rebuilder is None:
        return True
    dtype = node.type.dtype
    add = _adder(rebuilder, node)

    def as_matrix(old_id, order, split):
        """Operand ``old_id`` with its axes in ``order``, the first ``split`` of them flattened into rows."""
        x, source = rebuilder.mapping[old_id], graph.nodes[old_id].type
        if source.dtype is not dtype:
            x = add("cast", [x], {"dtype": dtype})
        shape = [source.shape[k] for k in order]
        if order != sorted(order):
            x = add("transpose", [x], {"perm": tuple(order)})
        matrix = (math.prod(shape[:split]), math.prod(shape[split:]))
        return add("reshape", [x], {"shape": matrix}) if tuple(shape) != matrix else x

    (a, b), (axes_a, axes_b) = node.inputs, node.attr("axes")
    rank_a, rank_b = (len(graph.nodes[j].type.shape) for j in node.inputs)
    free_a = [k for k in range(rank_a) if k not in axes_a]
    free_b = [k for k in range(rank_b) if k not in axes_b]
    left = as_matrix(a, free_a + list(axes_a), len(free_a))
    right = as_matrix(b, list(axes_b) + free_b, len(axes_b))
    rows, cols = rebuilder.nodes[left].type.shape[0], rebuilder.nodes[right].type.shape[1]
    product = add("matmul", [left, right], {"transpose_a": False, "transpose_b": False})
    if tuple(node.type.shape) == (rows, cols):
        return product
    return add("reshape", [product], {"shape": tuple(node.type.shape)})


# op -> rule(rebuilder, graph, node): the new id of the node's replacement, or None to keep the node. Called
# with rebuilder=None first, it only answers whether it applies (True or None), and emits nothing.
_RULES = {"tensordot": _tensordot, "argmax": _arg_reduce, "argmin": _arg_reduce, "reduce_logsumexp": _logsumexp}
