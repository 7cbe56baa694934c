"""``gj.map_fn`` and ``gj.scan`` (TF2's semantics), built on ``gj.while_loop``.

Eagerly they are Python loops over the elements, stacked at the end. While tracing (or eagerly, for no element),
``fn`` is traced once
(``tracing.trace``) with the types of one element, which gives the results' structure and types before the loop
exists; the loop's body then applies that graph to row ``i`` (``tracer.subgraphs.call_graph``) and writes the
results into row ``i`` of accumulators ``[n, ...]`` (``scatter_add`` into zeros: each row is written once). The
loop has ``maximum_iterations=n``, so it is differentiable like any bounded while_loop.
"""
from . import nest
from .control_flow import describe, graph_context, skeleton, staged_by, trace_function, while_loop
from .dtypes import as_dtype
from .errors import InvalidArgumentError
from .ir import In, same_type
from .registry import OPS, export
from .source import with_location
from .subgraphs import call_graph
from .symbolic import decided, is_symbolic
from .tensor import SymbolicTensor, convert_to_tensor


def _elements(elems, function):
    """The flat element tensors of ``elems`` and their common leading size n."""
    flat = [convert_to_tensor(e, what=f"{function}: elems") for e in nest.flatten(elems)]
    if not flat:
        raise InvalidArgumentError(with_location(f"{function}: elems is empty"))
    sizes = {_dims(t)[0] if len(_dims(t)) else None for t in flat}
    if None in sizes or len(sizes) != 1:
        raise InvalidArgumentError(with_location(
            f"{function}: every tensor of elems must have the same leading dimension, got {describe(elems)}"))
    return flat, sizes.pop()


def _dims(t):
    """A tensor's sizes, an input_signature's unknown ones as ``SymInt``s (``t.shape`` shows them as None)."""
    return tuple(t.type.shape) if isinstance(t, SymbolicTensor) else tuple(t.shape)


def _row(tensors, i):
    return [t[i] for t in tensors]


def _stack_rows(template, rows):
    """Per-iteration results (structures like ``template``) stacked along a new leading axis."""
    flat_rows = [[convert_to_tensor(leaf, what="fn's result") for leaf in nest.flatten(r)] for r in rows]
    columns = [OPS["stack"].bind(*[row[k] for row in flat_rows], axis=0) for k in range(len(flat_rows[0]))]
    return nest.pack_sequence_as(template, columns)


def _consistent(first, later, function):
    if skeleton(first) != skeleton(later) or not all(
            same_type(convert_to_tensor(a).type, convert_to_tensor(b).type)
            for a, b in zip(nest.flatten(first), nest.flatten(later))):
        raise InvalidArgumentError(with_location(
            f"{function}: fn must return the same structure, dtypes and shapes for every element, but returned "
            f"{describe(first)} and then {describe(later)}"))


def _stacked_loop(traced, n, carried, arguments, start, row_of, first_row=None):
    """Accumulators ``[n, ...]`` of ``traced``'s results: a while_loop over i = start..n-1 computing ``results =
    traced(*arguments(i, carried), *its feeds)``, writing them to row ``row_of(i)`` and carrying the first
    ``len(carried)`` of them to the next iteration. ``first_row``, when given, is written to row ``row_of(0)``."""
    accumulators = [OPS["zeros"].bind(shape=(n,) + tuple(t.shape), dtype=t.dtype) for t in traced.types]
    if first_row is not None:
        accumulators = [_write_row(a, row_of(0), v) for a, v in zip(accumulators, first_row)]
    if decided(lambda: start >= n):   # no iteration (a body indexing a size-0 axis would not even trace)
        return accumulators
    feeds = traced.feed_tensors()

    def body(i, carried, accumulators):
        results = call_graph(traced.graph, [*arguments(i, carried), *feeds])
        row = row_of(i)
        return i + 1, results[:len(carried)], [_write_row(a, row, r) for a, r in zip(accumulators, results)]
    # (an unknown n, a SymInt: the bound alone stops the loop; it is an attribute evaluated per run)
    _, _, accumulators = while_loop(lambda i, carried, accumulators: True if is_symbolic(n) else i < n, body,
                                    (start, list(carried), accumulators), maximum_iterations=n - start)
    return accumulators


def _write_row(accumulator, row, value):
    """``accumulator`` with ``value`` added at ``accumulator[row]``: its rows are zeros until written, once each."""
    return OPS["scatter_add"].bind(accumulator, value, convert_to_tensor(row), key=(In(1),))


@export("map_fn")
def map_fn(fn, elems, dtype=None, parallel_iterations=None, back_prop=True, swap_memory=False, infer_shape=True,
           name=None, fn_output_signature=None):
    """``fn`` applied to each element of ``elems`` (unstacked along axis 0; a nested structure of tensors of one
    leading size), the results stacked (``tf.map_fn``). ``fn_output_signature`` (or TF1's ``dtype``), when given,
    is checked against the dtypes ``fn`` returns."""
    parent = graph_context(nest.flatten(elems))
    if parent is not None:   # (before the leading size is needed: a compat.v1 graph's may be unknown)
        staged = staged_by(parent, "map_fn", lambda e: map_fn(
            fn, e, dtype, parallel_iterations, back_prop, swap_memory, infer_shape, name, fn_output_signature), elems)
        if staged is not NotImplemented:
            return staged
    flat, n = _elements(elems, "map_fn")
    parent = graph_context(flat)
    if parent is None and n:
        rows = [fn(nest.pack_sequence_as(elems, _row(flat, i))) for i in range(n)]
        for later in rows[1:]:
            _consistent(rows[0], later, "map_fn")
        result = _stack_rows(rows[0], rows)
    else:   # traced once, on one element's types (zeros of them when there is none)
        traced = trace_function(fn, (_one_element(elems, flat, n),), "fn", parent)
        result = traced.pack(_stacked_loop(traced, n, [], lambda i, carried: _row(flat, i), 0, lambda i: i))
    _check_signature(result, fn_output_signature if fn_output_signature is not None else dtype)
    return result


def _one_element(elems, flat, n):
    """An element of ``elems`` with the types of each, for tracing ``fn`` (zeros when there may be no element)."""
    some = decided(lambda: n != 0)   # (None: an unknown size that may be 0, as x[5:]'s)
    return nest.pack_sequence_as(elems, [t[0] if some else OPS["zeros"].bind(shape=_dims(t)[1:], dtype=t.dtype)
                                         for t in flat])


def _check_signature(result, signature):
    if signature is None:
        return
    expected = [as_dtype(getattr(s, "dtype", s)) for s in nest.flatten(signature)]
    got = [t.dtype for t in nest.flatten(result) if t is not None]
    if expected != got:
        raise InvalidArgumentError(with_location(
            f"map_fn: fn_output_signature says {[e.name for e in expected]} but fn returns {describe(result)}"))


@export("scan")
def scan(fn, elems, initializer=None, parallel_iterations=10, back_prop=True, swap_memory=False, infer_shape=True,
         reverse=False, name=None):
    """The running results of ``acc = fn(acc, x)`` over the elements ``x`` of ``elems``, stacked (``tf.scan``):
    ``acc`` starts as ``initializer``, or (without one) as the first element, which is then also the first row.
    ``fn`` returns the structure of ``acc``. ``reverse``: from the last element to the first; row i still holds the
    result for element i."""
    parent = graph_context(nest.flatten(elems) + nest.flatten(initializer))
    if parent is not None:   # (before the leading size is needed: a compat.v1 graph's may be unknown)
        staged = staged_by(parent, "scan", lambda e, i: scan(
            fn, e, i, parallel_iterations, back_prop, swap_memory, infer_shape, reverse, name), elems, initializer)
        if staged is not NotImplemented:
            return staged
    flat, n = _elements(elems, "scan")

    def row_of(i):   # (an unknown n: row n - 1 - i counted from the end, as a negative index)
        return (-1 - i if is_symbolic(n) else n - 1 - i) if reverse else i
    if initializer is None:
        if not n:
            raise InvalidArgumentError(with_location("scan: elems has no element and there is no initializer"))
        initial, start = nest.pack_sequence_as(elems, _row(flat, row_of(0))), 1
    else:
        initial, start = nest.map_structure(lambda v: convert_to_tensor(v, what="scan: initializer"), initializer), 0
    parent = graph_context(flat + nest.flatten(initial))
    if parent is None:
        acc, rows = initial, [initial] if initializer is None else []
        for i in range(start, n):
            acc = fn(acc, nest.pack_sequence_as(elems, _row(flat, row_of(i))))
            _consistent(initial, acc, "scan")
            rows.append(acc)
        if not rows:
            return nest.map_structure(lambda t: OPS["zeros"].bind(shape=(0,) + tuple(t.shape), dtype=t.dtype),
                                      initial)
        return _stack_rows(initial, rows[::-1] if reverse else rows)
    traced = trace_function(fn, (initial, _one_element(elems, flat, n)), "fn", parent)
    _check_scan_result(initial, traced)
    carried = nest.flatten(initial)
    accumulators = _stacked_loop(traced, n, carried, lambda i, acc: [*acc, *_row(flat, row_of(i))], start, row_of,
                                 first_row=carried if initializer is None else None)
    return traced.pack(accumulators)


def _check_scan_result(initial, traced):
    result = traced.typed()
    if skeleton(result) != skeleton(initial) or not all(
            same_type(r.type, a.type) for r, a in zip(nest.flatten(result), nest.flatten(initial))):
        raise InvalidArgumentError(with_location(
            f"scan: fn must return the structure, dtypes and shapes of its accumulator {describe(initial)}, got "
            f"{describe(result)}"))
