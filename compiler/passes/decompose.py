"""Rewrites ops into forms that have compiled kernels, computing the same values:

- ``tensordot`` becomes transposes, reshapes and one 2-D ``matmul`` (TF defines it the same way), so the
  CPU backend runs it through BLAS gemm instead of eagerly between compiled stages (the same contraction,
  in the same dtype);
- ``argmax``/``argmin`` along a leading axis and ``reduce_logsumexp`` over non-trailing axes first move the
  reduced axes last (a transpose, which the backend copies into a contiguous buffer), then reduce those with
  the row kernels. Ties keep their order along the axis, so argmax still picks the first;
- ``softmax``/``log_softmax`` along a leading axis: the axis moved last, the row kernel, and moved back (each
  row's values are the same, in the same order, so the results are the row kernel's);
- ``reduce_logsumexp`` of ints: a cast to its float64 result first, as its eager form computes;
- ``matmul`` with a vector operand: a gemm of the vector as a one-row or one-column matrix (``_vector_matmul``).
So inside a cond or while_loop body none of them makes the whole node an eager step."""
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


def _reduce_last(rebuilder, graph, node, axes, attrs, operand=None):
    """``node`` (a reduction over ``axes`` of its input) as the same op over the input's trailing axes after
    a transpose that moves ``axes`` last (None when they are already last, or nothing has a kernel then).
    ``operand``: the new id of what to reduce, when not the node's own input (a cast of it)."""
    source = graph.nodes[node.inputs[0]].type
    rank = len(source.shape)
    if not axes or tuple(axes) == tuple(range(rank - len(axes), rank)) or source.dtype.kind not in "fi":
        return None
    if rebuilder is None:
        return True
    add = _adder(rebuilder, node)
    perm = tuple(k for k in range(rank) if k not in axes) + tuple(axes)
    moved = add("transpose", [rebuilder.mapping[node.inputs[0]] if operand is None else operand], {"perm": perm})
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
    source = graph.nodes[node.inputs[0]].type
    axes = tuple(node.attr("axis"))
    if source.dtype is not node.type.dtype:   # the row kernel needs float input: ints cast to float64 first
        if source.dtype.kind != "i" or not axes:
            return None
        if rebuilder is None:
            return True
        cast = _adder(rebuilder, node)("cast", [rebuilder.mapping[node.inputs[0]]], {"dtype": node.type.dtype})
        rank = len(source.shape)
        if axes == tuple(range(rank - len(axes), rank)):
            return rebuilder.add(node.op, [cast], node.loc, axis=axes, keepdims=node.attr("keepdims"))
        return _reduce_last(rebuilder, graph, node, axes, lambda last: {"axis": last, "keepdims": False},
                            operand=cast)
    return _reduce_last(rebuilder, graph, node, axes, lambda last: {"axis": last, "keepdims": False})


def _softmax_last(rebuilder, graph, node):
    """softmax/log_softmax along a leading axis as the row kernel's along the last: transposed there and back."""
    rank = len(node.type.shape)
    axis = node.attr("axis") % rank if rank else 0
    if rank < 2 or axis == rank - 1 or node.type.dtype.kind != "f":
        return None
    if rebuilder is None:
        return True
    add = _adder(rebuilder, node)
    perm = tuple(k for k in range(rank) if k != axis) + (axis,)
    moved = add("transpose", [rebuilder.mapping[node.inputs[0]]], {"perm": perm})
    rows = add(node.op, [moved], {"axis": rank - 1})
    return add("transpose", [rows], {"perm": tuple(perm.index(k) for k in range(rank))})


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


def _vector_matmul(rebuilder, graph, node):
    """matmul of operands of another dtype than its result (cast to it first, as NumPy: float32 @ float64), or
    with a 1-D operand (matrix @ vector, vector @ matrix, a dot) as NumPy defines it: the vector gains an
    axis (a row on the left, a column on the right), the product is a gemm, and the axis goes again."""
    a, b = (graph.nodes[i].type for i in node.inputs)
    out = node.type.dtype
    matrices = len(a.shape) >= 2 and len(b.shape) >= 2
    if (matrices and a.dtype is b.dtype is out) or out.kind not in "fi" \
            or (not matrices and (node.attr("transpose_a") or node.attr("transpose_b"))):
        return None
    if rebuilder is None:
        return True
    add = _adder(rebuilder, node)
    operands = []
    for i, t, vector_shape in ((node.inputs[0], a, (1, a.shape[-1])), (node.inputs[1], b, (b.shape[0], 1))):
        x = rebuilder.mapping[i]
        if t.dtype is not out:
            x = add("cast", [x], {"dtype": out})
        operands.append(add("reshape", [x], {"shape": vector_shape}) if len(t.shape) == 1 else x)
    product = add("matmul", operands, {"transpose_a": node.attr("transpose_a"),
                                       "transpose_b": node.attr("transpose_b")})
    return product if matrices else add("reshape", [product], {"shape": tuple(node.type.shape)})


# op -> rule(rebuilder, graph, node): the new id of the node's replacement, or None to keep the node. Called
# with rebuilder=None first, it only answers whether it applies (True or None), and emits nothing.
_RULES = {"tensordot": _tensordot, "argmax": _arg_reduce, "argmin": _arg_reduce, "reduce_logsumexp": _logsumexp,
          "softmax": _softmax_last, "log_softmax": _softmax_last, "matmul": _vector_matmul}
