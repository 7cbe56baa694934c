"""Eager small-op overhead: a 16-element graphjit add vs NumPy's own call, measured side by side.

Target (Foundation issue): ``a + b`` on eager tensors costs at most 2x ``np.add(x, y)``.
Timings are medians of interleaved repeats, so that machine noise hits both sides alike.
"""
import argparse
import statistics
import timeit

import numpy as np

import graphjit as gj


def measure(stmts, number, repeats):
    samples = {label: [] for label in stmts}
    for _ in range(repeats):
        for label, stmt in stmts.items():
            samples[label].append(timeit.timeit(stmt, number=number) / number)
    return {label: statistics.median(times) for label, times in samples.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--number", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    x = np.arange(16, dtype=np.float32)
    y = x[::-1].copy()
    a, b = gj.constant(x), gj.constant(y)
    stmts = {
        "np.add(x, y)": lambda: np.add(x, y),
        "a + b": lambda: a + b,
        "gj.add(a, b)": lambda: gj.add(a, b),
        "a * 2.0": lambda: a * 2.0,
        "np.exp(x)": lambda: np.exp(x),
        "gj.exp(a)": lambda: gj.exp(a),
        "gj.reduce_sum(a)": lambda: gj.reduce_sum(a),
        "np.sum(x)": lambda: np.sum(x),
    }
    medians = measure(stmts, args.number, args.repeats)
    base = medians["np.add(x, y)"]
    print(f"{'operation (16 float32 elements)':34s} {'median':>10s} {'vs np.add':>10s}")
    for label, t in medians.items():
        print(f"{label:34s} {t * 1e9:8.0f} ns {t / base:9.2f}x")
    ratio = medians["a + b"] / base
    print(f"\neager add overhead: {ratio:.2f}x NumPy's np.add (target <= 2x): {'met' if ratio <= 2 else 'NOT met'}")
    return ratio


if __name__ == "__main__":
    main()
