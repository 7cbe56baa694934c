"""The memory floor of ``python -m graphjit.bench``: the machine's bandwidth, measured in the same run.

A STREAM-style triad ``a[i] = b[i] + s*c[i]`` in ``numba.njit(parallel=True)`` over float64 arrays much larger
than the caches, best of a few runs; it moves 24 bytes an element (two reads, one write; write-allocate traffic
is not counted, as STREAM does not). A workload's floor is the bytes it must read and write (its inputs once,
its result once) over that bandwidth: no implementation can beat it, so "% of floor" = floor / median time.
"""
import time

import numba
import numpy as np

TRIAD_ELEMENTS = 1 << 23  # 64 MiB an array


@numba.njit(parallel=True, cache=True)
def _triad(a, b, c, s):
    for i in numba.prange(a.size):
        a[i] = b[i] + s * c[i]


def measure_bandwidth(runs=5, elements=TRIAD_ELEMENTS):
    """{"bytes_per_s", "runs_s", "elements"}: the best of ``runs`` triads (after one that compiles and faults in)."""
    b = np.full(elements, 1.0)
    c = np.full(elements, 2.0)
    a = np.empty_like(b)
    _triad(a, b, c, 3.0)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        _triad(a, b, c, 3.0)
        times.append(time.perf_counter() - start)
    if not np.all(a == 7.0):
        raise RuntimeError("the bandwidth triad computed a wrong result")
    return {"bytes_per_s": 3 * a.itemsize * elements / min(times), "runs_s": times, "elements": elements}


def bytes_moved(arrays, result):
    """What a workload must move at least: every input read once, the result written once."""
    return int(sum(np.asarray(a).nbytes for a in arrays) + np.asarray(result).nbytes)
