"""The ``powers`` group of ``python -m graphjit.bench``: constant integer exponents against the same multiplies.

P1 ``x**3*0.5 + x**4`` on 4M float32. Besides NumPy (powers) it runs NumPy and graphjit on the same math written
as multiplies, and Numba by hand (the multiplies in an ``njit(parallel=True)`` loop). Target (issue 22, item 2):
graphjit's powers within 1.3x of graphjit's own multiplies, judged on paired samples.
"""
import numba
import numpy as np

from graphjit._bench_workloads import N16M, Target, Workload, _count


def powers(m, x):
    return x ** 3 * 0.5 + x ** 4


def multiplies(m, x):
    return x * x * x * 0.5 + (x * x) * (x * x)


@numba.njit(parallel=True, cache=True)
def _numba_multiplies(x):
    out = np.empty_like(x)
    half = x.dtype.type(0.5)
    for i in numba.prange(x.size):
        v = x[i]
        sq = v * v
        out[i] = sq * v * half + sq * sq
    return out


def _vector(rng, scale):
    return (rng.standard_normal(_count(scale, N16M // 4), dtype=np.float32),)


WORKLOADS = [
    Workload("P1", "powers: x**3*0.5 + x**4", powers, _vector, 1e-5, "float64", 0.0, "", group="powers",
             peers=("jax", "tensorflow"), eager=False,
             baselines=(("numpy, multiplies", lambda x: multiplies(None, x)), ("numba by hand", _numba_multiplies)),
             traced_variants=(("gj traced, multiplies", multiplies),),
             targets=(Target("within 1.3x of gj traced, multiplies", "speedup", 1 / 1.3,
                             vs="gj traced, multiplies"),)),
]
