"""Normalisation rows side by side: layer norm, RMSNorm and softmax over the last axis of a float32 matrix, each
as a traced ``@gj.function``, as NumPy, and as the same math hand-written in ``numba.njit(parallel=True)`` (one
``prange`` over the rows, each row's sums a plain float64 loop), against the memory floor: the bytes the
workload must move (read x, write the result) over the bandwidth of a parallel triad measured in the same run.

Every contender is checked against a float64 NumPy reference first, then all are timed interleaved (each round
calls every contender once, starting one further along each round), so that machine noise hits them alike. The
table shows the median, min and max of the rounds in ms, graphjit's speed-up over NumPy and over the numba
kernel (ratio of the medians), and the fraction of the floor each reaches (floor time / median time).

    python benchmarks/norm_rows.py [--shape 4096x4096] [--rounds 15]

On a shared 2-core machine a parallel loop whose second thread is descheduled waits for a scheduler tick: the
min column shows that apart from the median.
"""
import argparse
import gc
import time

import numba
import numpy as np

import graphjit as gj

EPS = 1e-5


@numba.njit(parallel=True, error_model="numpy")
def _triad(a, b, c):
    for i in numba.prange(a.size):
        c[i] = a[i] + np.float32(3.0) * b[i]


@numba.njit(parallel=True, error_model="numpy")
def numba_layer_norm(x, gamma, beta, out):
    rows, n = x.shape
    for i in numba.prange(rows):
        s = 0.0
        for j in range(n):
            s += x[i, j]
        mean = np.float32(s / n)
        s = 0.0
        for j in range(n):
            d = x[i, j] - mean
            s += d * d
        inv = np.float32(1.0) / np.sqrt(np.float32(s / n) + np.float32(EPS))
        for j in range(n):
            out[i, j] = (x[i, j] - mean) * inv * gamma[j] + beta[j]


@numba.njit(parallel=True, error_model="numpy")
def numba_rms_norm(x, gamma, out):
    rows, n = x.shape
    for i in numba.prange(rows):
        s = 0.0
        for j in range(n):
            s += x[i, j] * x[i, j]
        inv = np.float32(1.0) / np.sqrt(np.float32(s / n) + np.float32(EPS))
        for j in range(n):
            out[i, j] = x[i, j] * inv * gamma[j]


@numba.njit(parallel=True, error_model="numpy")
def numba_softmax(x, out):
    rows, n = x.shape
    for i in numba.prange(rows):
        m = x[i, 0]
        for j in range(n):
            m = max(m, x[i, j])
        s = 0.0
        for j in range(n):
            e = np.exp(x[i, j] - m)
            out[i, j] = e
            s += e
        inv = np.float32(1.0 / s)
        for j in range(n):
            out[i, j] *= inv


@gj.function
def gj_layer_norm(x, gamma, beta):
    return gj.nn.layer_normalization(x, gamma=gamma, beta=beta, epsilon=EPS)


@gj.function
def gj_rms_norm(x, gamma):
    return x * gj.math.rsqrt(gj.reduce_mean(x * x, axis=-1, keepdims=True) + EPS) * gamma


@gj.function
def gj_softmax(x):
    return gj.nn.softmax(x)


def np_layer_norm(x, gamma, beta):
    mean = x.mean(-1, keepdims=True)
    d = x - mean
    return d / np.sqrt((d * d).mean(-1, keepdims=True) + np.float32(EPS)) * gamma + beta


def np_rms_norm(x, gamma):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + np.float32(EPS)) * gamma


def np_softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def workloads(x, gamma, beta):
    out = np.empty_like(x)
    x64, g64, b64 = (a.astype(np.float64) for a in (x, gamma, beta))

    def keep(fn):   # the numba kernels write into a buffer allocated once, as graphjit's pool gives it one
        return lambda: (fn(), out)[1]
    return {
        "layer norm": (np_layer_norm(x64, g64, b64),
                       {"graphjit": lambda: gj_layer_norm(x, gamma, beta), "numpy": lambda: np_layer_norm(x, gamma, beta),
                        "numba": keep(lambda: numba_layer_norm(x, gamma, beta, out))}),
        "rmsnorm": (np_rms_norm(x64, g64),
                    {"graphjit": lambda: gj_rms_norm(x, gamma), "numpy": lambda: np_rms_norm(x, gamma),
                     "numba": keep(lambda: numba_rms_norm(x, gamma, out))}),
        "softmax": (np_softmax(x64),
                    {"graphjit": lambda: gj_softmax(x), "numpy": lambda: np_softmax(x),
                     "numba": keep(lambda: numba_softmax(x, out))}),
    }


def triad_seconds(size, rounds):
    a, b = np.ones(size, np.float32), np.ones(size, np.float32)
    c = np.empty_like(a)
    _triad(a, b, c)
    return [_timed(lambda: _triad(a, b, c)) for _ in range(rounds)], 3 * a.nbytes


def _timed(call):
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="4096x4096", help="rows x columns (default 4096x4096)")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)
    rows, cols = (int(s) for s in args.shape.split("x"))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows, cols)).astype(np.float32)
    gamma = rng.standard_normal(cols).astype(np.float32)
    beta = rng.standard_normal(cols).astype(np.float32)
    cases = workloads(x, gamma, beta)
    for name, (ref, calls) in cases.items():   # check (and compile) every contender first
        for who, call in calls.items():
            for _ in range(3):
                got = np.asarray(call())
            gj.wait_for_compilation()
            got = np.asarray(call())
            err = float(np.max(np.abs(got - ref)))
            print(f"{name:10s} {who:8s} max |error| vs float64 = {err:.2e}")
            if not err < 1e-4:
                raise SystemExit(f"{name}: {who} disagrees with the float64 reference")
    samples = {(name, who): [] for name, (_, calls) in cases.items() for who in calls}
    triad, triad_bytes = [], 3 * x.nbytes
    gc.disable()
    try:
        for r in range(args.rounds):   # interleaved: every contender (and the triad) once per round
            triad += triad_seconds(x.size, 1)[0]
            for name, (_, calls) in cases.items():
                order = list(calls.items())
                k = r % len(order)
                for who, call in order[k:] + order[:k]:
                    samples[(name, who)].append(_timed(call))
    finally:
        gc.enable()
    bandwidth = triad_bytes / np.median(triad)
    floor = 2 * x.nbytes / bandwidth   # read x, write the result (gamma/beta: one row, in cache)
    print(f"\nshape {rows}x{cols} float32, {args.rounds} interleaved rounds, numba threads {numba.get_num_threads()}")
    print(f"triad: median {np.median(triad) * 1e3:.2f} ms ({bandwidth / 1e9:.1f} GB/s); floor per workload "
          f"(2 x {x.nbytes / 1e6:.0f} MB): {floor * 1e3:.2f} ms\n")
    print(f"{'workload':11s}{'system':9s}{'median':>9s}{'min':>9s}{'max':>9s}   {'vs numpy':>9s}{'vs numba':>9s}"
          f"{'% floor':>9s}")
    for name, (_, calls) in cases.items():
        medians = {who: float(np.median(samples[(name, who)])) for who in calls}
        for who in calls:
            s = samples[(name, who)]
            print(f"{name:11s}{who:9s}{medians[who] * 1e3:9.2f}{min(s) * 1e3:9.2f}{max(s) * 1e3:9.2f}   "
                  f"{medians['numpy'] / medians[who]:8.2f}x{medians['numba'] / medians[who]:8.2f}x"
                  f"{100 * floor / medians[who]:8.0f}%")


if __name__ == "__main__":
    main()
