"""Checks of the optimizers' and schedules' numeric arguments: one message shape, naming the argument."""
import math

from graphjit.tracer.errors import InvalidArgumentError


def number(owner, name, value, *, low, high=None, low_open=False, high_open=False):
    """``value`` as a float if it is a finite real number in the range, else an InvalidArgumentError naming
    ``owner``, the argument, the range and the value."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (
            high is None or (value < high if high_open else value <= high))
    if not ok:
        if high is None:
            bound = f"{'>' if low_open else '>='} {low:g}"
        else:
            bound = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise InvalidArgumentError(f"{owner}: {name} must be a finite number {bound}, got {value!r}")
    return float(value)
