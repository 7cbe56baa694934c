"""One training step of a small MLP, by how it runs: NumPy by hand, gj eager (GradientTape), gj traced
(the same step under ``@gj.function``: forward, backward and the SGD updates as one compiled entry) and
compat.v1 (``GradientDescentOptimizer(lr).minimize(loss)`` run with ``sess.run(train_op, feed_dict)``).

The model: x [batch, 784] -> dense 256 + relu -> dense 10 -> mean sparse softmax cross-entropy; SGD, lr 0.1.
Every contender starts from the same float32 weights and runs the same steps on the same batch; before any
timing, each one's weights after ``--check-steps`` steps are compared with a float64 NumPy reference (the
tolerance is stated in the output). What is timed is one step after warm-up: the median of ``--repeats``.
Usage: python benchmarks/train_step.py [--batch 256] [--repeats 30] [--json FILE]
"""
import argparse
import json
import statistics
import time

import numpy as np

import graphjit as gj
from graphjit._bench_train import mlp_data, mlp_gradients, mlp_loss

LR = 0.1
SIZES = (784, 256, 10)
RTOL = 2e-4   # float32 training vs the float64 reference after a few steps (sums of 784 and 256 products)


def make_data(batch, seed=0):
    """x, labels and the initial parameters: the main job's T2 data (graphjit/_bench_train.py) at this batch."""
    return mlp_data(np.random.default_rng(seed), batch=batch, sizes=SIZES)


def numpy_step(x, labels, params):
    """Forward, hand-written backward (T2's) and SGD, in place, in the parameters' dtype."""
    for p, g in zip(params, mlp_gradients(x, labels, *params)):
        p -= (LR * g).astype(p.dtype)


_loss = mlp_loss


def graphjit_step(variables):
    def step(x, labels):
        with gj.GradientTape() as tape:
            loss = _loss(x, labels, *variables)
        for v, g in zip(variables, tape.gradient(loss, variables)):
            v.assign_sub(LR * g)
        return loss
    return step


def compat_v1_step(x_value, labels_value, params):
    import graphjit.compat.v1 as tf
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [None, SIZES[0]])
        labels = tf.placeholder(tf.int64, [None])
        variables = [tf.Variable(p) for p in params]
        loss = _loss(x, labels, *variables)
        train_op = tf.train.GradientDescentOptimizer(LR).minimize(loss)
        init = tf.global_variables_initializer()
    sess = tf.Session(graph=graph)
    sess.run(init)
    feed = {x: x_value, labels: labels_value}
    return (lambda: sess.run(train_op, feed_dict=feed)), (lambda: sess.run(variables)), sess


def contenders(x, labels, params):
    """label -> (one step, current parameters as arrays)."""
    found = {}
    numpy_params = [p.copy() for p in params]
    found["numpy (by hand)"] = (lambda: numpy_step(x, labels, numpy_params), lambda: numpy_params)
    xt, lt = gj.constant(x), gj.constant(labels)
    for label, wrap in (("gj eager (tape)", lambda f: f), ("gj traced (@gj.function)", gj.function)):
        variables = [gj.Variable(p) for p in params]
        step = wrap(graphjit_step(variables))
        found[label] = ((lambda s=step: s(xt, lt)), (lambda vs=variables: [v.numpy() for v in vs]))
    run, values, _ = compat_v1_step(x, labels, params)
    found["compat.v1 Session.run"] = (run, values)
    return found


def check(found, x, labels, params, steps):
    reference = [p.astype(np.float64) for p in params]
    for _ in range(steps):
        numpy_step(x.astype(np.float64), labels, reference)
    report = {}
    for label, (step, values) in found.items():
        for _ in range(steps):
            step()
        got = values()
        err = max(float(np.max(np.abs(g - r) / (np.abs(r) + np.mean(np.abs(r))))) for g, r in zip(got, reference))
        report[label] = err
    return report


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--check-steps", type=int, default=3)
    parser.add_argument("--json")
    args = parser.parse_args()
    gj.config.compile_in_background = False   # the traced step's first call compiles; timing starts after it
    x, labels, params = make_data(args.batch)
    found = contenders(x, labels, params)
    errors = check(found, x, labels, params, args.check_steps)
    results = {}
    for label, (step, _) in found.items():
        step()  # warm-up
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
        results[label] = {"median_ms": statistics.median(times) * 1e3, "min_ms": min(times) * 1e3,
                          "rel_err": errors[label], "agrees": errors[label] <= RTOL}
    base = results["numpy (by hand)"]["median_ms"]
    print(f"MLP training step {SIZES}, batch {args.batch}, SGD; median of {args.repeats} steps; agreement with a "
          f"float64 reference after {args.check_steps} steps: |err| <= {RTOL} * (|ref| + mean|ref|)")
    print(f"  {'contender':28s} {'median':>10s} {'min':>10s} {'vs NumPy':>9s}  agrees (rel err)")
    for label, r in results.items():
        print(f"  {label:28s} {r['median_ms']:8.2f} ms {r['min_ms']:7.2f} ms {base / r['median_ms']:8.2f}x  "
              f"{'yes' if r['agrees'] else 'NO'} ({r['rel_err']:.1e})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"batch": args.batch, "repeats": args.repeats, "results": results}, f, indent=2)
    return 0 if all(r["agrees"] for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
