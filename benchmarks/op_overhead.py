"""Per-op eager overhead: the median time of one small op, by path (operator fast path, gj.* function).

Small eager ops are all Python overhead, so this catches a slower context decision or dispatch.
Usage: python benchmarks/op_overhead.py [--number 200000] [--repeat 7] [--compat-v1]
(``--compat-v1`` builds a compat.v1 graph first: from then on its hook makes each op check its inputs' types.)
"""
import argparse
import statistics
import timeit

import numpy as np

import graphjit as gj


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--number", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--compat-v1", action="store_true")
    args = parser.parse_args()
    if args.compat_v1:
        import graphjit.compat.v1 as tf1
        tf1.Graph()
    a = gj.constant(np.arange(4, dtype=np.float32))
    b = gj.constant(np.ones(4, dtype=np.float32))
    cases = {"a + b": lambda: a + b, "a * 2.0": lambda: a * 2.0, "gj.multiply(a, b)": lambda: gj.multiply(a, b),
             "gj.exp(a)": lambda: gj.exp(a)}
    for label, fn in cases.items():
        times = timeit.repeat(fn, number=args.number, repeat=args.repeat)
        print(f"{label:20s} median {statistics.median(times) / args.number * 1e9:7.0f} ns/op")


if __name__ == "__main__":
    main()
