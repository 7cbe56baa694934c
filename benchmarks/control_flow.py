"""A while_loop of 10^6 iterations inside one compiled call: the partial sum of 1/k^2 (-> pi^2/6), by

- ``gj.while_loop`` in a ``@gj.function`` on the CPU backend: a real ``while`` over float64 scalars inside the
  stage's Numba entry (compiler/control_flow_writer.py), one call;
- the same loop on the reference interpreter (each iteration runs the body's nodes one by one), on 10^4
  iterations and scaled up, since 10^6 would take minutes;
- a plain Python loop, and NumPy's vectorised ``np.sum(1.0 / k**2)`` over ``arange`` (which materialises the
  terms: not a loop at all, the lower bound any loop is up against).

Every result is checked against the Python loop's (bit for bit for the compiled loop: the same float64
operations in the same order). Each contender is warmed up (compiled) first; the table shows the median of
``--repeats`` timed calls.

    python benchmarks/control_flow.py [--n 1000000] [--repeats 7]
"""
import argparse

import numpy as np

import graphjit as gj
from graphjit._bench_workloads import GRAPHJIT, w8, w8_numpy, w8_python_loop
from graphjit.bench import median_seconds


def series(n):
    return w8(GRAPHJIT, n)   # the main job's W8, written once in graphjit/_bench_workloads.py


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10 ** 6)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    n = float(args.n)
    gj.config.compile_in_background = False
    compiled = gj.function(series)
    interpreted = gj.function(series, jit_compile=False)
    reference = w8_python_loop(n)
    assert compiled(np.float64(n)).numpy() == reference, "compiled loop disagrees with the Python loop"
    small = min(n, 1e4)
    assert interpreted(np.float64(small)).numpy() == w8_python_loop(small), "interpreter disagrees"
    assert abs(w8_numpy(n) - reference) <= 1e-12 * reference, "NumPy disagrees"
    rows = [
        ("gj.while_loop, CPU backend (one compiled call)",
         median_seconds(lambda: compiled(np.float64(n)), args.repeats)),
        ("gj.while_loop, reference interpreter (scaled)",
         median_seconds(lambda: interpreted(np.float64(small)), max(1, args.repeats // 3)) * n / small),
        ("Python loop", median_seconds(lambda: w8_python_loop(n), max(1, args.repeats // 3))),
        ("NumPy np.sum over arange (vectorised)", median_seconds(lambda: w8_numpy(n), args.repeats)),
    ]
    print(f"sum of 1/k^2 for k = 1..{args.n} = {reference!r} (pi^2/6 = {np.pi ** 2 / 6!r})")
    print(f"{'contender':52s} {'seconds':>12s} {'vs compiled':>12s}")
    for name, seconds in rows:
        print(f"{name:52s} {seconds:12.6f} {seconds / rows[0][1]:11.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
