"""One SGD training step of a small convnet, by how it runs: NumPy by hand, gj eager (GradientTape), and gj
traced (the same step under ``@gj.function``: forward, backward and the updates as one compiled entry).

The model: x [batch, 28, 28, 1] -> conv2d 3x3x8 SAME (+ bias) -> relu -> max_pool2d 2x2 stride 2 -> dense 10 ->
mean sparse softmax cross-entropy; SGD, lr 0.1, float32. Every contender starts from the same weights and runs
the same steps on the same batch; after ``--check-steps`` steps each one's weights are compared with a
float64 NumPy reference (tolerance stated in the output). What is timed is one step after warm-up: the median
of ``--repeats`` (and the fastest), in milliseconds.

    python benchmarks/conv_train_step.py [--batch 32] [--repeats 31] [--check-steps 3]

On a machine shared with other work, ``NUMBA_NUM_THREADS=1`` gives steadier numbers (see benchmarks/pooling.py).
"""
import argparse

import numpy as np

import graphjit as gj
from graphjit.bench import median_and_fastest_ms

LR = 0.1
FILTERS = 8
CLASSES = 10
RTOL = 1e-3   # float32 training vs the float64 reference after a few steps


def make_data(batch, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, 28, 28, 1)).astype(np.float32)
    labels = rng.integers(0, CLASSES, batch).astype(np.int64)
    params = [(rng.standard_normal((3, 3, 1, FILTERS)) * 0.3).astype(np.float32),
              np.zeros(FILTERS, np.float32),
              (rng.standard_normal((14 * 14 * FILTERS, CLASSES)) * 0.02).astype(np.float32),
              np.zeros(CLASSES, np.float32)]
    return x, labels, params


# ---- NumPy by hand (any float dtype) ----------------------------------------------------------------------

def _patches(x):
    """im2col of a 3x3 SAME convolution: [batch, 28, 28, 9 * in_c], taps row-major, channels fastest."""
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    h, w = x.shape[1:3]
    return np.concatenate([padded[:, i:i + h, j:j + w, :] for i in range(3) for j in range(3)], axis=3)


def numpy_step(x, labels, params):
    """Forward, hand-written backward and SGD, in place, in the parameters' dtype."""
    w, b, v, c = params
    batch = x.shape[0]
    cols = _patches(x)
    conv = cols.reshape(-1, 9) @ w.reshape(9, FILTERS) + b
    h = np.maximum(conv, 0).reshape(batch, 28, 28, FILTERS)
    taps = [(i, j) for i in range(2) for j in range(2)]
    pooled = np.maximum.reduce([h[:, i::2, j::2, :] for i, j in taps])
    logits = pooled.reshape(batch, -1) @ v + c
    shifted = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(shifted)
    p /= p.sum(axis=1, keepdims=True)
    loss = -np.log(p[np.arange(batch), labels]).mean()
    dlogits = p
    dlogits[np.arange(batch), labels] -= 1
    dlogits /= batch
    dv, dc = pooled.reshape(batch, -1).T @ dlogits, dlogits.sum(axis=0)
    dpooled = (dlogits @ v.T).reshape(pooled.shape)
    # the first maximum of each window (row-major) takes the gradient, as TF's MaxPoolGrad and gj do
    dh, taken = np.zeros_like(h), np.zeros(pooled.shape, bool)
    for i, j in taps:
        first = (h[:, i::2, j::2, :] == pooled) & ~taken
        taken |= first
        dh[:, i::2, j::2, :] = np.where(first, dpooled, 0)
    dconv = np.where(conv.reshape(dh.shape) > 0, dh, 0).reshape(-1, FILTERS)
    dw, db = (cols.reshape(-1, 9).T @ dconv).reshape(w.shape), dconv.sum(axis=0)
    for param, grad in zip(params, (dw, db, dv, dc)):
        param -= (LR * grad).astype(param.dtype)
    return loss


# ---- graphjit -----------------------------------------------------------------------------------------------

def graphjit_step(variables):
    w, b, v, c = variables

    def step(x, labels):
        with gj.GradientTape() as tape:
            h = gj.nn.relu(gj.nn.conv2d(x, w, 1, "SAME") + b)
            pooled = gj.nn.max_pool2d(h, 2, 2, "VALID")
            logits = gj.reshape(pooled, [x.shape[0], -1]) @ v + c
            loss = gj.reduce_mean(gj.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
        for var, g in zip(variables, tape.gradient(loss, variables)):
            var.assign_sub(LR * g)
        return loss
    return step


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=31)
    parser.add_argument("--check-steps", type=int, default=3)
    args = parser.parse_args(argv)
    gj.config.compile_in_background = False
    x, labels, params = make_data(args.batch)

    reference = [p.astype(np.float64) for p in params]
    for _ in range(args.check_steps):
        numpy_step(x.astype(np.float64), labels, reference)

    contenders = {}
    numpy_params = [p.copy() for p in params]
    contenders["NumPy"] = lambda: numpy_step(x, labels, numpy_params)
    eager_vars = [gj.Variable(p.copy()) for p in params]
    contenders["gj eager"] = (lambda step: lambda: step(x, labels))(graphjit_step(eager_vars))
    traced_vars = [gj.Variable(p.copy()) for p in params]
    contenders["gj traced"] = (lambda step: lambda: step(x, labels))(gj.function(graphjit_step(traced_vars)))
    weights = {"NumPy": lambda: numpy_params, "gj eager": lambda: [v.numpy() for v in eager_vars],
               "gj traced": lambda: [v.numpy() for v in traced_vars]}
    for name, call in contenders.items():
        for _ in range(args.check_steps):
            call()
        for got, want in zip(weights[name](), reference):
            np.testing.assert_allclose(got, want, rtol=RTOL, atol=RTOL * np.abs(want).max(), err_msg=name)
    print(f"conv2d 3x3x{FILTERS} SAME -> relu -> max_pool 2 -> dense {CLASSES} training step, float32 batch "
          f"{args.batch}x28x28x1; weights after {args.check_steps} steps match float64 NumPy (rtol {RTOL})")
    print(f"median of {args.repeats} steps (ms)")
    print(f"{'':<12}{'median':>10}{'fastest':>10}{'NumPy/this':>12}")
    results = {name: median_and_fastest_ms(call, args.repeats) for name, call in contenders.items()}
    for name, (median, fastest) in results.items():
        print(f"{name:<12}{median:>10.3f}{fastest:>10.3f}{results['NumPy'][0] / median:>11.2f}x")


if __name__ == "__main__":
    main()
