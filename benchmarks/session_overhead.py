"""Per-call overhead of ``compat.v1`` ``Session.run`` on small graphs, side by side with a ``@gj.function``
call of the same computation, the plain NumPy expression and (when installed) TensorFlow's own
``tf.compat.v1.Session.run``.

Workloads (float32, small enough that the work itself is negligible and the call overhead dominates):

- ``affine``: ``y = x * 2.0 + 1.0`` with 16 elements;
- ``softmax``: ``softmax(x @ W + b)`` with ``x`` 4x16, ``W`` 16x8 and ``b`` 8 held in variables.

TensorFlow's session runs with one intra-op and one inter-op thread (see ``tensorflow_session``).

Each contender is warmed up, graphjit's background compiles are awaited (``gj.wait_for_compilation``)
so that compiled code runs, and then every repeat takes one sample of each contender in turn
(interleaved, so that noise on this shared machine hits them alike). A sample is the mean time of a
``perf_counter_ns`` loop of many calls; the table shows the median sample in µs per call and its ratio
to the ``@gj.function`` call of the same workload.

    python benchmarks/session_overhead.py [--repeats N] [--sample-ms MS] [--json FILE]
"""
import argparse
import json
import platform
import statistics
import sys
import time

import numpy as np

import graphjit as gj
from graphjit.runtime import get_runtime

tf1 = gj.compat.v1

BASELINE = "@gj.function call"


def make_data():
    rng = np.random.default_rng(0)
    return {
        "affine": {"x": rng.normal(size=16).astype(np.float32)},
        "softmax": {"x": rng.normal(size=(4, 16)).astype(np.float32),
                    "W": rng.normal(size=(16, 8)).astype(np.float32),
                    "b": rng.normal(size=8).astype(np.float32)},
    }


def numpy_softmax(x, W, b):
    logits = x @ W + b
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# ---- contenders: each returns (call, check) where call() runs one step and check() its result ----------

def build_graph(lib, name, data):
    """The workload as TF1 code; ``lib`` is ``gj`` or ``tf``: porting is replacing one with the other."""
    v1 = lib.compat.v1
    g = v1.Graph()
    with g.as_default():
        x = v1.placeholder(lib.float32, data["x"].shape, name="x")
        if name == "affine":
            y = x * 2.0 + 1.0
        else:
            W = v1.Variable(data["W"], name="W")
            b = v1.Variable(data["b"], name="b")
            y = lib.nn.softmax(lib.matmul(x, W) + b)
        init = v1.global_variables_initializer()
    return g, x, y, init


def graphjit_session(name, data):
    g, x, y, init = build_graph(gj, name, data)
    sess = tf1.Session(graph=g)
    sess.run(init)
    value = data["x"]
    feed = {x: value}
    return (lambda: sess.run(y, feed)), sess, g


def graphjit_function(name, data):
    if name == "affine":
        @gj.function
        def f(x):
            return x * 2.0 + 1.0
    else:
        W = gj.Variable(data["W"], name="W")
        b = gj.Variable(data["b"], name="b")

        @gj.function
        def f(x):
            return gj.nn.softmax(gj.matmul(x, W) + b)
    value = data["x"]
    return (lambda: f(value)), f


def plain_numpy(name, data):
    x = data["x"]
    if name == "affine":
        return lambda: x * np.float32(2.0) + np.float32(1.0)
    W, b = data["W"], data["b"]
    return lambda: numpy_softmax(x, W, b)


def tensorflow_session(tf, name, data):
    v1 = tf.compat.v1
    g, x, y, init = build_graph(tf, name, data)
    # One thread each: a graph this small has no parallelism to gain, and idle pool threads spinning
    # after each run would take CPU from the other contenders on a small machine.
    config = v1.ConfigProto(intra_op_parallelism_threads=1, inter_op_parallelism_threads=1)
    sess = v1.Session(graph=g, config=config)
    sess.run(init)
    feed = {x: data["x"]}
    return lambda: sess.run(y, feed), sess


def import_tensorflow():
    try:
        import os
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quiet start-up banners
        import tensorflow as tf
    except Exception as err:  # noqa: BLE001 - any import failure means "not available"
        return None, f"{type(err).__name__}: {err}"
    return tf, None


# ---- measurement -----------------------------------------------------------------------------------------

def calibrate(call, sample_s, min_calls=10):
    """Calls per sample so that one sample lasts about ``sample_s`` seconds: the loop length doubles
    until a loop takes a quarter of that, then the median of three loops of that length sets the rate
    (one loop alone is too easily hit by noise on a shared machine)."""
    n = 1
    while sample(call, n) * n < sample_s * 1e9 / 4 and n < 1 << 20:
        n *= 2
    per_call = statistics.median(sample(call, n) for _ in range(3))
    return max(min_calls, int(sample_s * 1e9 / max(per_call, 1.0)))


def sample(call, number):
    start = time.perf_counter_ns()
    for _ in range(number):
        call()
    return (time.perf_counter_ns() - start) / number


def measure(calls, repeats, sample_s):
    numbers = {label: calibrate(call, sample_s) for label, call in calls.items()}
    samples = {label: [] for label in calls}
    for _ in range(repeats):
        for label, call in calls.items():
            samples[label].append(sample(call, numbers[label]))
    return {label: {"median_us": statistics.median(times) / 1e3, "min_us": min(times) / 1e3,
                    "calls_per_sample": numbers[label], "samples_us": [t / 1e3 for t in times]}
            for label, times in samples.items()}


def compiled_backends(sess_graph, function, value):
    """Which backends hold a compiled executable for the session plans and the function's trace."""
    runtime = get_runtime()
    plan_backends = sorted({name for plan in sess_graph.plans.values() for name in runtime.executables(plan)})
    concrete = function.get_concrete_function(value)
    return plan_backends, sorted(runtime.executables(concrete))


def run_workload(name, data, tf, repeats, sample_s):
    session_call, sess, g = graphjit_session(name, data)
    function_call, function = graphjit_function(name, data)
    calls = {"gj Session.run": session_call, BASELINE: function_call, "NumPy": plain_numpy(name, data)}
    tf_sess = None
    if tf is not None:
        calls["tf.compat.v1 Session.run"], tf_sess = tensorflow_session(tf, name, data)

    # Warm up (traces, plans, first compiles), wait for the background compiles, warm up again.
    for call in calls.values():
        for _ in range(3):
            call()
    gj.wait_for_compilation()
    for call in calls.values():
        for _ in range(20):
            call()

    # Every contender computes the same thing.
    reference = np.asarray(calls["NumPy"]())
    for label, call in calls.items():
        result = np.asarray(call())
        if not np.allclose(result, reference, rtol=1e-5, atol=1e-6):
            raise AssertionError(f"{name}: {label} disagrees with NumPy: {result} vs {reference}")

    plan_backends, function_backends = compiled_backends(g, function, data["x"])
    results = measure(calls, repeats, sample_s)
    base = results[BASELINE]["median_us"]
    for stats in results.values():
        stats["ratio_vs_function"] = stats["median_us"] / base
    sess.close()
    if tf_sess is not None:
        tf_sess.close()
    return {"contenders": results, "session_plan_backends": plan_backends,
            "function_backends": function_backends}


def print_table(report):
    print(f"\n{'workload':10s} {'contender':26s} {'median µs/call':>15s} {'min µs':>9s} "
          f"{'vs @function':>13s} {'calls/sample':>13s}")
    for name, workload in report["workloads"].items():
        for label, stats in workload["contenders"].items():
            print(f"{name:10s} {label:26s} {stats['median_us']:15.2f} {stats['min_us']:9.2f} "
                  f"{stats['ratio_vs_function']:12.2f}x {stats['calls_per_sample']:13d}")
        print(f"{'':10s} (compiled executables: session plans {workload['session_plan_backends']}, "
              f"@function {workload['function_backends']})")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15, help="interleaved samples per contender (default 15)")
    parser.add_argument("--sample-ms", type=float, default=20.0, help="length of one sample (default 20 ms)")
    parser.add_argument("--backend", default="cpu", help='graphjit backend (default "cpu", the compiled one)')
    parser.add_argument("--no-tensorflow", action="store_true", help="skip TensorFlow even when installed")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    args = parser.parse_args(argv)

    gj.config.backend = args.backend
    started = time.perf_counter()
    tf, why_not = (None, "--no-tensorflow given") if args.no_tensorflow else import_tensorflow()
    if tf is None:
        print(f"note: TensorFlow not measured ({why_not})")
    data = make_data()
    report = {
        "python": platform.python_version(), "numpy": np.__version__, "backend": args.backend,
        "tensorflow": getattr(tf, "__version__", None), "repeats": args.repeats, "sample_ms": args.sample_ms,
        "baseline": BASELINE, "workloads": {},
    }
    for name in data:
        report["workloads"][name] = run_workload(name, data[name], tf, args.repeats, args.sample_ms / 1e3)
    report["seconds"] = time.perf_counter() - started

    print(f"Session.run overhead (graphjit backend {args.backend!r}, medians of {args.repeats} interleaved "
          f"samples of ~{args.sample_ms:g} ms; affine: x*2+1 on 16 float32; softmax: softmax(x@W+b), x 4x16, W 16x8)")
    print_table(report)
    print(f"\n({report['seconds']:.1f} s)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
        print("wrote", args.json)
    return report


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
