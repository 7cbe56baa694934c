"""The ``small`` group of ``python -m graphjit.bench``: per-call cost on tiny inputs (issue 22, item 5).

S1 ``a + b`` on 16 float32 elements (target: a traced call <= 2 us), S2 a 6-op graph on 100 elements (target:
<= NumPy eager, paired samples). Numba by hand is a plain ``njit`` function: ``parallel=True`` would only add
thread start-up to a 16-element loop, so the hand-written baseline is the fastest Numba call there is.
"""
import numba
import numpy as np

from graphjit._bench_workloads import Target, Workload


def add(m, a, b):
    return a + b


def six_ops(m, x, y):
    return (x * y + 1.0) * x - m.exp(y) * 0.5


@numba.njit(cache=True)
def _numba_add(a, b):
    return a + b


@numba.njit(cache=True)
def _numba_six_ops(x, y):
    return (x * y + np.float32(1.0)) * x - np.exp(y) * np.float32(0.5)


def _vectors(n):
    def make(rng, scale):  # per-call cost: the sizes never scale
        return rng.standard_normal(n, dtype=np.float32), rng.standard_normal(n, dtype=np.float32)
    return make


WORKLOADS = [
    Workload("S1", "small call: a + b, 16 elements", add, _vectors(16), 1e-5, "numpy", 0.0, "", group="small",
             per_call=True, numpy_call=np.add, peers=("jax", "tensorflow"), eager=False,
             baselines=(("numba by hand", _numba_add),),
             targets=(Target("<= 2 µs per call", "seconds", 2e-6),)),
    Workload("S2", "small call: (x*y + 1)*x - exp(y)*0.5, 100 elements", six_ops, _vectors(100), 1e-5, "numpy",
             0.0, "", group="small", per_call=True, peers=("jax", "tensorflow"), eager=False,
             baselines=(("numba by hand", _numba_six_ops),),
             targets=(Target("<= NumPy eager", "speedup", 1.0),)),
]
