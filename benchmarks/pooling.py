"""gj.nn.max_pool2d compiled by the CPU backend (a ``@gj.function``), forward and forward+backward (the
gradient of ``sum(pool(x) * upstream)`` under a tape inside the function), against NumPy: the forward as the
``np.maximum`` of the strided window views, the backward adding each window's gradient at its first maximum
(row-major window order, TF's MaxPoolGrad) one tap at a time, into strided views of the padded gradient.

Float32 NHWC input, batch 32, 28x28x16 by default; ksize 2 stride 2 VALID and ksize 3 stride 2 SAME. Each
contender is checked against the others and warmed up (compiled) first; the table shows the median of
``--repeats`` timed calls in milliseconds (ratio: NumPy's over graphjit's), and the fastest call.

    python benchmarks/pooling.py [--batch 32] [--size 28] [--channels 16] [--repeats 31]

On a machine shared with other work, ``NUMBA_NUM_THREADS=1`` gives steady numbers: a parallel loop whose second
thread is descheduled waits for a scheduler tick (milliseconds), which then dominates every median here.
"""
import argparse

import numpy as np

import graphjit as gj
from graphjit.bench import median_and_fastest_ms

CASES = [((2, 2), (2, 2), "VALID"), ((3, 3), (2, 2), "SAME")]


def _geometry(size, window, stride, padding):
    if padding == "VALID":
        return (size - window) // stride + 1, 0
    out = -(-size // stride)
    return out, max((out - 1) * stride + window - size, 0) // 2


def _padded_taps(x, window, strides, padding):
    """The padded input, its row/column padding before, and each window tap as a strided view of it."""
    (out_h, top), (out_w, left) = (_geometry(s, k, st, padding) for s, k, st in
                                   zip(x.shape[1:3], window, strides))
    pad_h = max((out_h - 1) * strides[0] + window[0] - x.shape[1], 0)
    pad_w = max((out_w - 1) * strides[1] + window[1] - x.shape[2], 0)
    padded = np.pad(x, ((0, 0), (top, pad_h - top), (left, pad_w - left), (0, 0)), constant_values=-np.inf)
    taps = [(i, j, padded[:, i:i + (out_h - 1) * strides[0] + 1:strides[0],
                          j:j + (out_w - 1) * strides[1] + 1:strides[1], :])
            for i in range(window[0]) for j in range(window[1])]
    return padded, (top, left), taps


def numpy_forward(x, window, strides, padding):
    _, _, taps = _padded_taps(x, window, strides, padding)
    out = taps[0][2].copy()
    for _, _, tap in taps[1:]:
        np.maximum(out, tap, out=out)
    return out


def numpy_forward_backward(x, upstream, window, strides, padding):
    """The forward, then each window's upstream gradient added at its first maximum (inputs without NaN)."""
    padded, (top, left), taps = _padded_taps(x, window, strides, padding)
    y = numpy_forward(x, window, strides, padding)
    grad = np.zeros_like(padded)
    taken = np.zeros(y.shape, bool)
    out_h, out_w = y.shape[1:3]
    for i, j, tap in taps:
        first = (tap == y) & ~taken
        taken |= first
        grad[:, i:i + (out_h - 1) * strides[0] + 1:strides[0], j:j + (out_w - 1) * strides[1] + 1:strides[1], :] \
            += np.where(first, upstream, 0)
    return y, grad[:, top:top + x.shape[1], left:left + x.shape[2], :]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=28)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=31)
    args = parser.parse_args(argv)
    gj.config.compile_in_background = False
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch, args.size, args.size, args.channels)).astype(np.float32)
    print(f"max_pool2d, float32 [{args.batch},{args.size},{args.size},{args.channels}], "
          f"median of {args.repeats} calls (ms)")
    print(f"{'case':<14}{'':>8}{'graphjit':>10}{'NumPy':>10}{'ratio':>8}   {'fastest: graphjit':>18}{'NumPy':>10}")
    for window, strides, padding in CASES:
        upstream = rng.standard_normal(numpy_forward(x, window, strides, padding).shape).astype(np.float32)

        @gj.function
        def forward(a):
            return gj.nn.max_pool2d(a, window, strides, padding)

        @gj.function
        def forward_backward(a, g):
            with gj.GradientTape() as tape:
                tape.watch(a)
                y = gj.nn.max_pool2d(a, window, strides, padding)
            return y, tape.gradient(y, a, output_gradients=g)

        y_np, grad_np = numpy_forward_backward(x, upstream, window, strides, padding)
        np.testing.assert_array_equal(forward(x).numpy(), y_np)
        y_gj, grad_gj = forward_backward(x, upstream)
        np.testing.assert_array_equal(y_gj.numpy(), y_np)
        np.testing.assert_allclose(grad_gj.numpy(), grad_np, rtol=1e-6, atol=1e-6)
        label = f"k{window[0]} s{strides[0]} {padding}"
        for what, ours, theirs in (
                ("forward", lambda: forward(x), lambda: numpy_forward(x, window, strides, padding)),
                ("fwd+bwd", lambda: forward_backward(x, upstream),
                 lambda: numpy_forward_backward(x, upstream, window, strides, padding))):
            (m_gj, f_gj), (m_np, f_np) = median_and_fastest_ms(ours, args.repeats), median_and_fastest_ms(theirs, args.repeats)
            print(f"{label:<14}{what:>8}{m_gj:>10.3f}{m_np:>10.3f}{m_np / m_gj:>7.1f}x   {f_gj:>18.3f}{f_np:>10.3f}")


if __name__ == "__main__":
    main()
