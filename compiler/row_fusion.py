"""Row chains: reductions over a value's trailing axes together with the elementwise work between and after
them, merged into one ``rows`` group (layer norm's mean, variance and scaling; RMSNorm's mean of squares and
scaling; a softmax written out as max, exp, sum and divide).

Planned group by group, such a chain is a reduction kernel per reduction plus loops over the whole value, each
reading it from memory again. As one group, compiler.row_writers writes one kernel that takes a row at a time and
runs the chain's passes over it back to back, while the row is still in cache: the value is read from memory once
and the result written once. Elementwise members are recomputed in each pass that needs them instead of stored,
so only the values used outside the chain are written.

A member is at one of three *levels*: ``full`` (an elementwise op over the chain's shape S), ``row`` (an
elementwise op over S's leading dims, or those with size-1 trailing dims: one value per row) or ``reduce`` (a
sum, mean, max or min over S's trailing dims, giving one value per row). Every read of a value from outside the
chain must walk rows by one stride and the trailing dims by another (any view of a buffer that collapses so:
transposes included), and every read of a member through a view must be the plain per-row or per-element read.
The chain must be convex (no group outside both reads a member and feeds one), else it stays as planned.
"""
from graphjit.tracer.shapes import num_elements
from graphjit.tracer.symbolic import is_symbolic

from .affine import AffineMap

ROW_REDUCTIONS = ("reduce_sum", "reduce_mean", "reduce_max", "reduce_min")
FULL, ROW, REDUCE_LEVEL = "full", "row", "reduce"


def merge_row_chains(plan, group_class):
    """Replaces every row chain among ``plan.groups`` (a fusion.StagePlan, before its in-place planning) by one
    ``rows`` group of ``group_class``; members only the chain reads are no longer materialised."""
    for key, chain in _chains(plan):
        members = sorted(m for g in chain for m in g.members)
        merged = group_class("rows", key[0], members, sealed=True)
        plan.groups = [g for g in plan.groups if not any(g is c for c in chain)]
        plan.groups.append(merged)
        for m in members:
            plan.group_of[m] = merged
        inside = set(members)
        for m in members:
            if m not in plan.needed_outside and _readers(plan, m) <= inside:
                plan.materialized.discard(m)


def row_levels(plan, members, shape, lead):
    """{member: level} for the members of a chain over ``shape`` whose first ``lead`` dims index rows; None when
    a member fits no level."""
    levels = {}
    for m in members:
        node = plan.graph.nodes[m]
        kind = plan.kinds.get(m)
        if kind == "reduce":
            if not _row_reduction(plan, m, shape, lead):
                return None
            levels[m] = REDUCE_LEVEL
        elif kind == "scalar" and tuple(node.type.shape) == tuple(shape):
            levels[m] = FULL
        elif kind == "scalar" and _is_row_shape(node.type.shape, shape, lead):
            levels[m] = ROW
        else:
            return None
    return levels


def row_form(amap, lead):
    """(offset, row stride, column stride) of ``amap`` when its first ``lead`` dims walk the rows by one stride and
    the others the columns by another, else None."""
    row_stride = _collapsed(amap.shape[:lead], amap.strides[:lead])
    column_stride = _collapsed(amap.shape[lead:], amap.strides[lead:])
    if row_stride is None or column_stride is None:
        return None
    return amap.offset, row_stride, column_stride


def member_read(plan, members, j):
    """How a member reads its input ``j``: ("member", id) for a member's value (directly or through a view),
    else ("outside", buffer, map)."""
    if j in members:
        return ("member", j)
    buffer, amap = plan.source(j)
    if buffer in members:
        return ("member", buffer)
    return ("outside", buffer, amap)


def _row_reduction(plan, r, shape, lead):
    node = plan.graph.nodes[r]
    source = plan.graph.nodes[node.inputs[0]].type
    return (node.op in ROW_REDUCTIONS and tuple(source.shape) == tuple(shape) and source.dtype.is_floating
            and node.type.dtype.is_floating and tuple(sorted(node.attr("axis"))) == tuple(range(lead, len(shape))))


def _is_row_shape(t, shape, lead):
    t = tuple(t)
    return t == tuple(shape[:lead]) or t == tuple(shape[:lead]) + (1,) * (len(shape) - lead)


def _collapsed(sizes, strides):
    """The stride of the one loop that walks dims ``sizes`` with ``strides`` (size-1 dims ignored), else None."""
    dims = [(n, s) for n, s in zip(sizes, strides) if n != 1]
    for (_, outer), (size, inner) in zip(dims, dims[1:]):
        if outer != inner * size:
            return None
    return dims[-1][1] if dims else 0


def _readers(plan, m):
    """The nodes that read m's value, through views."""
    result = set()
    for u in plan.users[m]:
        if u in plan.maps:
            result |= _readers(plan, u)
        else:
            result.add(u)
    return result


def _group_inputs(plan, group):
    """The groups whose values ``group`` reads (directly or through views)."""
    result = []
    for m in group.members:
        for j in plan.graph.nodes[m].inputs:
            source = plan.group_of.get(plan.maps[j][0] if j in plan.maps else j)
            if source is not None and source is not group and not any(source is g for g in result):
                result.append(source)
    return result


def _chain_key(plan, group):
    """(shape, lead) of a reduction group that can anchor a row chain, else None."""
    if group.kind != "reduce":
        return None
    r = group.members[-1]
    node = plan.graph.nodes[r]
    shape = tuple(group.shape)
    lead = len(shape) - len(node.attr("axis"))
    if (lead < 1 or any(is_symbolic(d) for d in shape) or num_elements(shape) == 0
            or not _row_reduction(plan, r, shape, lead)):
        return None
    return shape, lead


def _joinable(plan, group, key):
    """Whether ``group`` may join a chain over ``key``: a reduction with the same key, or an elementwise group of
    plain scalar ops over the chain's shape or its rows."""
    if group.kind == "reduce":
        return _chain_key(plan, group) == key
    shape, lead = key
    return (group.kind == "elementwise" and not group.inplace_of
            and all(plan.kinds.get(m) == "scalar" for m in group.members)
            and (tuple(group.shape) == shape or _is_row_shape(group.shape, shape, lead)))


def _chains(plan):
    """(key, [groups]) for each row chain worth merging: connected joinable groups with two reductions or a
    reduction and work over the full shape, convex, every read of the supported forms."""
    groups = list(plan.groups)
    inputs = {id(g): _group_inputs(plan, g) for g in groups}   # by id: groups are unhashable; `groups` holds them
    consumers = {id(g): [] for g in groups}
    for g in groups:
        for source in inputs[id(g)]:
            consumers[id(source)].append(g)
    taken = set()
    result = []
    for anchor in groups:
        key = _chain_key(plan, anchor)
        if key is None or id(anchor) in taken:
            continue
        chain, frontier = [anchor], [anchor]
        while frontier:
            g = frontier.pop()
            for other in inputs[id(g)] + consumers[id(g)]:
                if id(other) not in taken and not any(other is c for c in chain) and _joinable(plan, other, key):
                    chain.append(other)
                    frontier.append(other)
        reductions = sum(g.kind == "reduce" for g in chain)
        full = any(g.kind == "elementwise" and tuple(g.shape) == key[0] for g in chain)
        if (reductions >= 2 or (reductions and full)) and _convex(chain, inputs, consumers) \
                and _reads_supported(plan, chain, key):
            taken.update(id(g) for g in chain)
            result.append((key, chain))
    return result


def _convex(chain, inputs, consumers):
    """No group outside the chain is both downstream of a member and upstream of one."""
    inside = {id(g) for g in chain}
    seen, frontier = set(), [c for g in chain for c in consumers[id(g)] if id(c) not in inside]
    while frontier:
        g = frontier.pop()
        if id(g) in seen:
            continue
        seen.add(id(g))
        for c in consumers[id(g)]:
            if id(c) in inside:
                return False
            frontier.append(c)
    return True


def _reads_supported(plan, chain, key):
    shape, lead = key
    members = {m for g in chain for m in g.members}
    levels = row_levels(plan, sorted(members), shape, lead)
    if levels is None:
        return False
    for m in members:
        node = plan.graph.nodes[m]
        at = shape if levels[m] != ROW else tuple(node.type.shape)
        for j in node.inputs:
            read = member_read(plan, members, j)
            if read[0] == "member":
                # also a direct read: a (rows,) value broadcast against (rows, n) would be read per column
                if not _plain_member_view(plan, levels[read[1]], plan.source(j)[1], at, shape, lead):
                    return False
                continue
            _, buffer, amap = read
            if plan.kinds.get(buffer) == "constant" and num_elements(plan.graph.nodes[buffer].type.shape) == 1:
                continue   # a literal
            if row_form(amap.broadcast_to(at), lead) is None:
                return False
    return True


def _plain_member_view(plan, level, amap, at, shape, lead):
    """Whether a view of a member, read over shape ``at``, reads the member's own element: each row's value
    (row-level members, read per row) or each element at its own place (full-level members)."""
    seen = amap.broadcast_to(at)
    if level == FULL:
        return seen.same_as(AffineMap.contiguous(shape))
    form = row_form(seen, lead)
    return form is not None and form[0] == 0 and form[2] == 0 and (form[1] == 1 or num_elements(shape[:lead]) == 1)

