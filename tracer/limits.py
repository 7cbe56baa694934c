"""A tensor that cannot fit in memory is refused by its op's rule, while tracing or before running eagerly,
with a message naming the op, shape and dtype, instead of a MemoryError from deep inside NumPy or a
CompilationError from a kernel that could never run."""
import functools
import math
import os

from .errors import ResourceExhaustedError


@functools.lru_cache(maxsize=1)
def memory_bytes():
    """Physical memory plus swap, the most any allocation could get; None when the platform does not say."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    try:
        with open("/proc/meminfo") as file:
            for line in file:
                if line.startswith("SwapTotal:"):
                    total += int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return total


def check_allocation(shape, dtype, what=None):
    """Raises ResourceExhaustedError when a tensor of ``shape`` and ``dtype`` cannot fit in memory (``what``,
    e.g. the op's name, starts the message)."""
    if any(type(d) is not int for d in shape):   # unknown sizes (SymInts, None): known only when it runs
        return
    nbytes = math.prod(shape) * dtype.itemsize
    limit = memory_bytes()
    if limit is not None and nbytes > limit:
        raise ResourceExhaustedError(f"{what + ': ' if what else ''}a tensor of shape {tuple(shape)} and dtype {dtype.name} needs "
                                     f"{_size(nbytes)}, more than this machine's memory ({_size(limit)})")


def _size(nbytes):
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if nbytes < 1024 or unit == "EiB":
            return f"{nbytes:.1f} {unit}" if unit != "B" else f"{nbytes} B"
        nbytes /= 1024
    return f"{nbytes:.1f} ZiB"
