"""float64 math through graphjit (traced, compiled) vs NumPy on 4M elements, interleaved in one run.

    python benchmarks/float64_math.py [--n 4194304] [--repeat 9]

Rows: each float64 mathlib function alone (graphjit.function of f(x) vs NumPy f(x); NumPy has no erf, so erf's
baseline is math.erf element by element, what the eager op runs), pow with a tensor exponent (x ** y against
np.power, x > 0 and y in [-30, 30]), and the three-function graph exp(x) * tanh(y) + log1p(abs(z)). Each
repetition times every system once (interleaved); medians and min/max in ms, and the median of the paired
NumPy/graphjit ratios. The machine's load average is printed.
"""
import argparse
import math
import os
import time

import numpy as np

import graphjit as gj


def _numpy_fns():
    return {"exp": np.exp, "expm1": np.expm1, "log": np.log, "log1p": np.log1p, "tanh": np.tanh,
            "sin": np.sin, "cos": np.cos, "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
            "softplus": lambda x: np.logaddexp(0.0, x), "erf": _math_erf}


def _math_erf(x, _each=np.frompyfunc(math.erf, 1, 1)):
    return _each(x).astype(np.float64)


def _graphjit_fns():
    m = gj.math
    return {"exp": m.exp, "expm1": m.expm1, "log": m.log, "log1p": m.log1p, "tanh": m.tanh, "sin": m.sin,
            "cos": m.cos, "sigmoid": m.sigmoid, "softplus": m.softplus, "erf": m.erf}


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
        arg = (xpos,) if name in ("log", "log1p") else (x,)
        rows.append((name, gj.function(lambda v, f=gjf[name]: f(v)), npf[name], arg))
    exponent = rng.uniform(-30, 30, a.n)
    rows.append(("pow x**y", gj.function(lambda u, v: u ** v), np.power, (xpos, exponent)))
    rows.append(("exp*tanh+log1p", gj.function(lambda u, v, w: gj.math.exp(u) * gj.math.tanh(v)
                                               + gj.math.log1p(gj.math.abs(w))),
                 lambda u, v, w: np.exp(u) * np.tanh(v) + np.log1p(np.abs(w)), (x, y, z)))
    print(f"{'function':16} {'graphjit ms (min-max)':>24} {'NumPy ms (min-max)':>22} {'NumPy/graphjit':>14} max|diff|rel")
    for name, g, n, args in rows:
        want = n(*args)
        g(*args)
        gj.wait_for_compilation()          # past the interpreted first calls to the compiled kernel
        for _ in range(3):
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
