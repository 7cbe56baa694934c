"""Nested structures (tuples, lists, namedtuples, dicts) of leaves: flatten and rebuild."""


def _sorted_keys(d):
    try:
        return sorted(d)
    except TypeError:
        return list(d)


def flatten(structure):
    """Leaves of ``structure`` in a deterministic order (dicts by sorted key)."""
    leaves = []
    _flatten(structure, leaves)
    return leaves


def _flatten(value, leaves):
    if isinstance(value, (tuple, list)):
        for v in value:
            _flatten(v, leaves)
    elif isinstance(value, dict):
        for k in _sorted_keys(value):
            _flatten(value[k], leaves)
    else:
        leaves.append(value)


def map_structure(fn, structure):
    """The same structure with ``fn`` applied to each leaf."""
    if isinstance(structure, (tuple, list)):
        items = [map_structure(fn, v) for v in structure]
        if isinstance(structure, list):
            return items
        if hasattr(structure, "_fields"):  # namedtuple
            return type(structure)(*items)
        return type(structure)(items) if type(structure) is not tuple else tuple(items)
    if isinstance(structure, dict):
        return type(structure)((k, map_structure(fn, structure[k])) for k in _sorted_keys(structure))
    return fn(structure)


def pack_sequence_as(structure, leaves):
    """Rebuilds ``structure`` with its leaves replaced, in order, by ``leaves``."""
    it = iter(leaves)
    return map_structure(lambda _: next(it), structure)
