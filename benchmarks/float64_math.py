"""float64 math through graphjit (traced, compiled) vs NumPy on 4M elements, interleaved in one run.

    python benchmarks/float64_math.py [--n 4194304] [--repeat 9]

Rows: each float64 mathlib function alone (graphjit.function of f(x) vs NumPy f(x)), and the three-function
graph exp(x) * tanh(y) + log1p(abs(z)). Each repetition times every system once (interleaved); medians and
min/max in ms, and the median of the paired NumPy/graphjit ratios. The machine's load average is printed.
"""
import argparse
import os
import time

import numpy as np

import graphjit as gj


def _numpy_fns():
    return {"exp": np.exp, "expm1": np.expm1, "log": np.log, "log1p": np.log1p, "tanh": np.tanh,
            "sin": np.sin, "cos": np.cos, "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
            "softplus": lambda x: np.logaddexp(0.0, x)}


def _graphjit_fns():
    m = gj.math
    return {"exp": m.exp, "expm1": m.expm1, "log": m.log, "log1p": m.log1p, "tanh": m.tanh, "sin": m.sin,
            "cos": m.cos, "sigmoid": m.sigmoid, "softplus": m.softplus}


def _time(fn, args):
    t = time.perf_counter()
    fn(*args)
    return (time.perf_counter() - t) * 1e3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=4 * 1024 * 1024)
    ap.add_argument("--repeat", type=int, default=9)
    a = ap.parse_args()
    print(f"load average {os.getloadavg()}, n={a.n} float64")
    rng = np.random.default_rng(0)
    x, y, z = (rng.standard_normal(a.n) * 3 for _ in range(3))
    xpos = np.abs(x) + 0.01
    rows = []
    npf, gjf = _numpy_fns(), _graphjit_fns()
    for name in npf:
        arg = (xpos,) if name == "log" else (x,)
        rows.append((name, gj.function(lambda v, f=gjf[name]: f(v)), npf[name], arg))
    rows.append(("exp*tanh+log1p", gj.function(lambda u, v, w: gj.math.exp(u) * gj.math.tanh(v)
                                               + gj.math.log1p(gj.math.abs(w))),
                 lambda u, v, w: np.exp(u) * np.tanh(v) + np.log1p(np.abs(w)), (x, y, z)))
    print(f"{'function':16} {'graphjit ms (min-max)':>24} {'NumPy ms (min-max)':>22} {'NumPy/graphjit':>14} max|diff|rel")
    for name, g, n, args in rows:
        want = n(*args)
        for _ in range(30):                # past the interpreted first calls to the compiled kernel
            got = np.asarray(g(*args))
        time.sleep(0.5)
        got = np.asarray(g(*args))
        gt, nt = [], []
        for _ in range(a.repeat):
            gt.append(_time(g, args))
            nt.append(_time(n, args))
        ratio = np.median(np.array(nt) / np.array(gt))
        rel = float(np.max(np.abs(got - want) / np.maximum(np.abs(want), 1e-300)))
        print(f"{name:16} {np.median(gt):8.2f} ({min(gt):6.2f}-{max(gt):6.2f}) {np.median(nt):8.2f} "
              f"({min(nt):6.2f}-{max(nt):6.2f}) {ratio:13.2f}x {rel:.1e}")


if __name__ == "__main__":
    main()
