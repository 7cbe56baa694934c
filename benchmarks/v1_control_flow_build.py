"""What building compat.v1 control flow over unknown dims once (symbolic sizes) saves, against tracing it at two
probe sizes when built and again for each planned shape (the fallback graphjit keeps for constructs symbolic sizes
cannot express, and what every construct did before issue 21).

Two numbers per path, interleaved over repetitions (medians, min/max): the time to build the construct (the user's
``tf.while_loop(...)`` call), and the time ``Graph.plan_graph`` takes for one new fed shape (no compile: the
backend's work is the same either way). Run: ``python benchmarks/v1_control_flow_build.py [--reps N]``.
"""
import argparse
import statistics
import time

import numpy as np

import graphjit.compat.v1 as tf
from graphjit.compat.v1 import _control_flow
from graphjit.tracer.ir import TensorType


def build(force_probes):
    graph = tf.Graph()
    saved = _control_flow._traced_symbolically
    if force_probes:
        _control_flow._traced_symbolically = lambda *args: "forced for the benchmark"
    try:
        with graph.as_default():
            x = tf.placeholder(tf.float32, [None, 8])
            w = tf.Variable(np.full((8, 8), 0.1, np.float32))

            def body(i, h):
                for _ in range(4):
                    h = tf.tanh(tf.matmul(h, w) + 0.5) * 0.9
                h = tf.cond(tf.reduce_sum(h) > 0, lambda: h * 0.5, lambda: h + 1.0)
                return i + 1, h
            start = time.perf_counter()
            _, out = tf.while_loop(lambda i, h: i < 5, body, (0, x))
            rows = tf.map_fn(lambda r: tf.reduce_sum(r * r), out)
            built = time.perf_counter() - start
    finally:
        _control_flow._traced_symbolically = saved
    return graph, x, rows, built


def plan_time(graph, x, rows, size):
    start = time.perf_counter()
    graph.plan_graph([rows.op], [], {x.op._id: TensorType((size, 8), x.dtype)})
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=15)
    args = parser.parse_args()
    times = {(path, what): [] for path in ("symbolic", "probes") for what in ("build", "plan")}
    for rep in range(args.reps):
        for path in ("symbolic", "probes"):
            graph, x, rows, built = build(path == "probes")
            times[path, "build"].append(built)
            times[path, "plan"].append(plan_time(graph, x, rows, 3 + rep))
    for what in ("build", "plan"):
        medians = {}
        for path in ("symbolic", "probes"):
            values = times[path, what]
            medians[path] = statistics.median(values)
            print(f"{what:5} {path:8}  median {medians[path] * 1e3:8.2f} ms  (min {min(values) * 1e3:.2f}, "
                  f"max {max(values) * 1e3:.2f})")
        print(f"{what:5} probes / symbolic = {medians['probes'] / medians['symbolic']:.2f}")


if __name__ == "__main__":
    main()
