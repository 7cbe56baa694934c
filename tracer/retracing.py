"""Why a ``gj.function`` traced again: the difference between a new signature key and the keys traced before.

A signature key (``function._leaf_key``) holds, per parameter, a tensor's ``(shape, dtype)``, a Python value as
``(type, value)`` (floats by ``hex()``), a variable as ``("variable", id)``, and nested lists/tuples/dicts as
``(type, children)``. ``explain`` compares the new key with the closest earlier one (the fewest differing
leaves; the latest among equals) and says, per differing leaf, what changed: ``x: shape (3,) -> (4,)``,
``n: Python value 2 -> 3``, ``fn: a different function object``, ``v: a different variable``. Used by
``gj.config.explain_retracing`` (a log line per new trace, logger ``graphjit``), by the warning after
``WARN_AFTER`` traces, and by ``RetraceError`` (``@gj.function(max_traces=N)``).
"""
import logging

import numpy as np

from .errors import RetraceError
from .source import user_location

log = logging.getLogger("graphjit.function")

WARN_AFTER = 5   # traces of one function before the "traced N times" warning (then again at 10, 20, 40...)


def before_trace(function, key, log_every_trace=False):
    """Called before ``function`` traces for signature ``key``: raises RetraceError past its ``max_traces``, warns
    at its 5th, 10th, 20th... trace, logs every trace when asked, and remembers the key for the next explanation."""
    count = function._tracing_count + 1
    warn = count % WARN_AFTER == 0 and _is_power_of_two(count // WARN_AFTER)
    over = function.max_traces is not None and count > function.max_traces
    if log_every_trace or warn or over:
        reason = explain(function._param_names, key, list(function._recent_keys))
        where = user_location()
        at = f"at {where}" if where else "call site unknown"
        if over:
            raise RetraceError(f"{function.name}: a new trace (number {count}) would exceed max_traces="
                               f"{function.max_traces}; it would trace again because {reason}\n  {at}")
        if warn:
            log.warning("%s has been traced %d times, the latest because %s (%s). Each new shape, dtype or Python "
                        "value of an argument is a new trace: pass changing numbers as tensors, or set "
                        "gj.config.explain_retracing = True to log why each trace happens.",
                        function.name, count, reason, at)
        elif reason is None:
            log.info("%s: first trace (%s)", function.name, at)
        else:
            log.info("%s: trace %d, because %s (%s)", function.name, count, reason, at)
    function._recent_keys.append(key)


def _is_power_of_two(n):
    return n > 0 and n & (n - 1) == 0


def explain(param_names, key, earlier_keys):
    """One line per change from the closest earlier key; ``None`` for a first trace."""
    if not earlier_keys:
        return None
    best = None
    for old in earlier_keys:
        changes = [change for name, new_part, old_part in zip(param_names, key, old)
                   for change in _diff(name, new_part, old_part)]
        if len(key) != len(old):
            changes.append(f"the number of arguments changed ({len(old)} -> {len(key)})")
        if best is None or len(changes) <= len(best):
            best = changes
    return "; ".join(best) if best else "an equal signature was evicted from the trace cache (gj.config.max_traces)"


def _diff(path, new, old):
    if new == old:
        return []
    new_kind, old_kind = _kind(new), _kind(old)
    if new_kind != old_kind:
        return [f"{path}: {_describe(old)} -> {_describe(new)}"]
    if new_kind == "tensor":
        (new_shape, new_dtype), (old_shape, old_dtype) = _tensor_type(new), _tensor_type(old)
        changes = []
        if tuple(new_shape) != tuple(old_shape):
            changes.append(f"{path}: shape {tuple(old_shape)} -> {tuple(new_shape)}")
        if np.dtype(new_dtype) != np.dtype(old_dtype):
            changes.append(f"{path}: dtype {np.dtype(old_dtype).name} -> {np.dtype(new_dtype).name}")
        return changes or [f"{path}: {_describe(old)} -> {_describe(new)}"]
    if new_kind == "container":
        (new_type, new_items), (old_type, old_items) = new, old
        if new_type is not old_type or len(new_items) != len(old_items):
            return [f"{path}: {_describe(old)} -> {_describe(new)}"]
        if new_type is dict:
            if [k for k, _ in new_items] != [k for k, _ in old_items]:
                return [f"{path}: dict keys {[k for k, _ in old_items]} -> {[k for k, _ in new_items]}"]
            return [c for (k, n), (_, o) in zip(new_items, old_items) for c in _diff(f"{path}[{k!r}]", n, o)]
        return [c for i, (n, o) in enumerate(zip(new_items, old_items)) for c in _diff(f"{path}[{i}]", n, o)]
    if new_kind == "variable":
        return [f"{path}: a different variable ({_variable_name(old[1])} -> {_variable_name(new[1])})"]
    if new_kind == "python":
        if callable(new[1]) and callable(old[1]):
            return [f"{path}: a different function object ({_short(old[1])} -> {_short(new[1])}: a new closure or "
                    f"function identity traces again; pass tensors, or define the function once)"]
        if new[0] is not old[0]:
            return [f"{path}: {_describe(old)} -> {_describe(new)}"]
        return [f"{path}: Python value {_short(_value(old))} -> {_short(_value(new))}"]
    return [f"{path}: {_describe(old)} -> {_describe(new)}"]


def _kind(part):
    if len(part) == 4:                       # a symbolic tensor of an enclosing trace: (type, shape, rank, dtype)
        return "tensor"
    if part[0] == "variable":
        return "variable"
    if isinstance(part[1], np.dtype):       # an eager tensor or array: (shape, dtype)
        return "tensor"
    if isinstance(part[0], type) and issubclass(part[0], (tuple, list, dict)):
        return "container"
    return "python"


def _tensor_type(part):
    return (part[1], part[3]) if len(part) == 4 else part


def _value(part):
    kind, value = part
    return float.fromhex(value) if kind is float else value


def _describe(part):
    kind = _kind(part)
    if kind == "tensor":
        shape, dtype = _tensor_type(part)
        return f"a tensor {np.dtype(dtype).name}{list(shape)}"
    if kind == "container":
        return f"a {part[0].__name__} of {len(part[1])}"
    if kind == "variable":
        return f"variable {_variable_name(part[1])}"
    return f"Python {type(_value(part)).__name__} {_short(_value(part))}"


def _short(value):
    text = getattr(value, "__qualname__", None) if callable(value) else None
    return f"<{text}>" if text else f"{value!r:.40}"


def _variable_name(variable_id):
    from .variables import variable_by_id
    variable = variable_by_id(variable_id)
    return repr(variable.name) if variable is not None else "a deleted variable"
