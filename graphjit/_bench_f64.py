"""The ``f64`` group of ``python -m graphjit.bench``: float64 transcendental math at vector speed.

F1 ``tanh(x) * exp(x*-0.5) + log1p(x*x)`` on 4M float64, against NumPy, Numba by hand (an ``njit(parallel=True)``
loop calling libm) and, when installed, JAX (with ``jax_enable_x64``) and TF. Target (issue 22, item 3): >= 2x
NumPy, judged on paired samples.
"""
import math

import numba
import numpy as np

from graphjit._bench_workloads import N16M, Target, Workload, _count


def f64_math(m, x):
    return m.tanh(x) * m.exp(x * -0.5) + m.log1p(x * x)


@numba.njit(parallel=True, cache=True)
def _numba_f64_math(x):
    out = np.empty_like(x)
    for i in numba.prange(x.size):
        v = x[i]
        out[i] = math.tanh(v) * math.exp(v * -0.5) + math.log1p(v * v)
    return out


def _vector(rng, scale):
    return (rng.standard_normal(_count(scale, N16M // 4), dtype=np.float64),)


WORKLOADS = [
    Workload("F1", "float64 math: tanh(x)*exp(x*-0.5) + log1p(x*x)", f64_math, _vector, 1e-12, "numpy", 0.0, "",
             group="f64", peers=("jax", "tensorflow"), eager=False, dtype=np.float64,
             baselines=(("numba by hand", _numba_f64_math),),
             targets=(Target(">= 2x NumPy", "speedup", 2.0),)),
]
