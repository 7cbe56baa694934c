"""The ``f64`` group of ``python -m graphjit.bench``: float64 transcendental math at vector speed.

F1 ``tanh(x) * exp(x*-0.5) + log1p(x*x)`` on 4M float64, against NumPy, Numba by hand (an ``njit(parallel=True)``
loop calling libm) and, when installed, JAX (with ``jax_enable_x64``) and TF. Target (issue 22, item 3): >= 2x
NumPy, judged on paired samples.
F2 ``x ** y`` with a tensor exponent on 4M float64 (x in (0.01, 12), y in [-30, 30]: mathlib's double-double pow),
against np.power and Numba by hand (libm pow). Target (issue 22, item 2): >= 2x NumPy.
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


def f64_pow(m, x, y):
    return x ** y


@numba.njit(parallel=True, cache=True)
def _numba_f64_pow(x, y):
    out = np.empty_like(x)
    for i in numba.prange(x.size):
        out[i] = x[i] ** y[i]
    return out


def _bases_and_exponents(rng, scale):
    n = _count(scale, N16M // 4)
    return np.abs(rng.standard_normal(n)) * 3 + 0.01, rng.uniform(-30, 30, n)


def _vector(rng, scale):
    return (rng.standard_normal(_count(scale, N16M // 4), dtype=np.float64),)


WORKLOADS = [
    Workload("F1", "float64 math: tanh(x)*exp(x*-0.5) + log1p(x*x)", f64_math, _vector, 1e-12, "numpy", 0.0, "",
             group="f64", peers=("jax", "tensorflow"), eager=False, dtype=np.float64,
             baselines=(("numba by hand", _numba_f64_math),),
             targets=(Target(">= 2x NumPy", "speedup", 2.0),)),
    Workload("F2", "float64 pow: x ** y (tensor exponent)", f64_pow, _bases_and_exponents, 1e-13, "numpy", 0.0, "",
             group="f64", peers=("jax", "tensorflow"), eager=False, dtype=np.float64,
             baselines=(("numba by hand", _numba_f64_pow),),
             targets=(Target(">= 2x NumPy", "speedup", 2.0),)),
]
