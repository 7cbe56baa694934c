"""The objects a model's state is reachable through: one walk for ``gj.Module.variables`` and checkpoints.

An object's children are the items of a list or tuple (by index), of a dict (by key, in sorted order) or the
attributes of an object: its public ones (``vars(obj)``, names not starting with ``_``), or exactly what it lists
when its class defines ``_trackable_children()`` (``gj.Module`` lists every attribute, as ``tf.Module`` does).
Variables, functions, classes, modules, arrays and scalars have none. ``walk`` visits everything reachable
breadth-first in that order, each object once (so cycles end), under the path it is first reached by: the
shortest, then alphabetically first one.

Objects that own variables tied to other variables (an optimizer's slots, one per trained variable and slot
name) also define ``_checkpoint_slots() -> [(variable, slot_name, slot_variable)]`` and
``_create_slots(variables)``; a checkpoint saves each slot beside the variable it belongs to (TF's
``.OPTIMIZER_SLOT`` keys) and creates missing slots when it restores them.
"""
import types

import numpy as np

from .function import ConcreteFunction, Function
from .variables import Variable

# Things that may have a __dict__ but never hold a model's state.
_OPAQUE = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType,
           Function, ConcreteFunction, np.ndarray, np.generic, str, bytes, int, float, complex, set,
           frozenset)


def children(obj):
    """(name, child) pairs of a container or trackable object, in a deterministic order."""
    if isinstance(obj, (list, tuple)):
        return list(enumerate(obj))
    if isinstance(obj, dict):
        return sorted(obj.items(), key=lambda item: str(item[0]))
    if isinstance(obj, _OPAQUE) or isinstance(obj, Variable):
        return []
    listed = getattr(type(obj), "_trackable_children", None)
    if listed is not None:
        return listed(obj)
    try:
        attributes = vars(obj)
    except TypeError:  # no __dict__ (slots, builtins): nothing trackable
        return []
    return sorted((name, value) for name, value in attributes.items() if not name.startswith("_"))


def walk(root):
    """``(path, obj)`` for ``root`` (path ``()``) and every object reachable from it, each once, breadth-first;
    a path is the tuple of child names leading to the object."""
    # seen: id -> the object itself. Holding it keeps the id unique during the walk: children made on the fly (a
    # property returning a new list) would otherwise die and hand their address to an object not yet visited.
    seen = {}
    frontier = [((), root)]
    while frontier:
        next_frontier = []
        for path, obj in frontier:
            if id(obj) in seen:
                continue
            seen[id(obj)] = obj
            yield path, obj
            next_frontier.extend((path + (name,), child) for name, child in children(obj))
        frontier = next_frontier
