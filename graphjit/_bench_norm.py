"""The ``norm`` group of ``python -m graphjit.bench``: rows with more than one reduction, 4096x4096 float32.

N1 layer norm (mean, then variance), N2 RMSNorm (sum of squares), N3 softmax (max, then sum), each against
NumPy, the same math as a plain hand-written ``numba.njit(parallel=True)`` row loop (float64 accumulators, one
pass per reduction: the loop issue 22 item 4 measures against) and, when installed, JAX and TF. Targets: >= 1.5x
that hand kernel (paired samples) and >= 40% of the memory floor measured in the same run.
"""
import math

import numba
import numpy as np

from graphjit._bench_workloads import Target, Workload, _side

EPS = 1e-5


def layer_norm(m, x):
    d = x - m.row_mean(x)
    return d * m.rsqrt(m.row_mean(d * d) + EPS)


def rms_norm(m, x):
    return x * m.rsqrt(m.row_mean(x * x) + EPS)


def softmax_rows(m, x):
    e = m.exp(x - m.row_max(x))
    return e / m.row_sum(e)


@numba.njit(parallel=True, cache=True)
def _numba_layer_norm(x):
    rows, cols = x.shape
    out = np.empty_like(x)
    for i in numba.prange(rows):
        total = 0.0
        for j in range(cols):
            total += x[i, j]
        mean = total / cols
        squares = 0.0
        for j in range(cols):
            d = x[i, j] - mean
            squares += d * d
        scale = 1.0 / math.sqrt(squares / cols + EPS)
        for j in range(cols):
            out[i, j] = (x[i, j] - mean) * scale
    return out


@numba.njit(parallel=True, cache=True)
def _numba_rms_norm(x):
    rows, cols = x.shape
    out = np.empty_like(x)
    for i in numba.prange(rows):
        squares = 0.0
        for j in range(cols):
            squares += x[i, j] * x[i, j]
        scale = 1.0 / math.sqrt(squares / cols + EPS)
        for j in range(cols):
            out[i, j] = x[i, j] * scale
    return out


@numba.njit(parallel=True, cache=True)
def _numba_softmax(x):
    rows, cols = x.shape
    out = np.empty_like(x)
    for i in numba.prange(rows):
        peak = x[i, 0]
        for j in range(cols):
            peak = max(peak, x[i, j])
        total = 0.0
        for j in range(cols):
            e = math.exp(x[i, j] - peak)
            out[i, j] = e
            total += e
        inverse = 1.0 / total
        for j in range(cols):
            out[i, j] = out[i, j] * inverse
    return out


def _square(rng, scale):
    side = _side(scale, 4096)
    return (rng.standard_normal((side, side), dtype=np.float32),)


def _targets():
    return (Target(">= 1.5x numba by hand", "speedup", 1.5, vs="numba by hand"),
            Target(">= 40% of the memory floor", "floor", 40.0))


def _norm(key, title, fn, kernel):
    return Workload(key, title, fn, _square, 1e-4, "float64", 0.0, "", group="norm", peers=("jax", "tensorflow"),
                    eager=False, baselines=(("numba by hand", kernel),), targets=_targets())


WORKLOADS = [
    _norm("N1", "layer norm rows: (x - mean) * rsqrt(var + 1e-5)", layer_norm, _numba_layer_norm),
    _norm("N2", "RMSNorm rows: x * rsqrt(mean(x*x) + 1e-5)", rms_norm, _numba_rms_norm),
    _norm("N3", "softmax rows: exp(x - max) / sum", softmax_rows, _numba_softmax),
]
