"""A while_loop over an array: 1000 iterations of ``x = x * a + b`` on float32[1000], by

- ``gj.while_loop`` in a ``@gj.function`` on the CPU backend: a real ``while`` inside the stage's Numba function,
  the body a fused loop of its own called each iteration, ``x`` double-buffered (compiler/control_flow_stages.py);
- the same traced function on the reference interpreter (``jit_compile=False``): each iteration runs the body's
  nodes one by one with NumPy, which is what a graph holding array control flow did before it compiled;
- the same Python function run eagerly (``gj.while_loop`` outside any trace: Python calls, eager ops);
- a plain NumPy loop in Python (two ufunc calls per iteration).

A second table does the same for ``gj.map_fn(lambda r: r * 2 + reduce_sum(r), x)`` over the rows of a
float32[rows, 64] (a bounded while_loop writing rows into an accumulator, updated in place when compiled), against
a NumPy loop over the rows and NumPy's vectorised expression (rtol 1e-6: the row sums accumulate differently).

Every result is checked against the NumPy loop's, bit for bit (float32 multiply and add are correctly rounded
everywhere, and nothing contracts them into FMAs). Each contender is warmed up (compiled) first; the table shows
the median of ``--repeats`` timed calls.

    python benchmarks/array_loop.py [--iterations 1000] [--size 1000] [--rows 1000] [--repeats 7]
"""
import argparse

import numpy as np

import graphjit as gj
from graphjit.bench import median_seconds


def loop(x, iterations):
    a, b = np.float32(0.999), np.float32(0.01)
    return gj.while_loop(lambda k, x: k < iterations, lambda k, x: (k + 1, x * a + b), (0, x))[1]


def numpy_loop(x, iterations):
    a, b = np.float32(0.999), np.float32(0.01)
    for _ in range(iterations):
        x = x * a + b
    return x


def rows(x):
    return gj.map_fn(lambda r: r * 2.0 + gj.reduce_sum(r), x)


def numpy_rows(x):
    return np.stack([r * np.float32(2.0) + r.sum() for r in x])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    gj.config.compile_in_background = False
    gj.config.backend = "cpu"
    x = np.linspace(-1.0, 1.0, args.size).astype(np.float32)
    n = np.int32(args.iterations)
    compiled = gj.function(loop)
    interpreted = gj.function(loop, jit_compile=False)
    reference = numpy_loop(x, args.iterations)
    for name, fn in (("compiled", compiled), ("interpreted", interpreted), ("eager", loop)):
        assert np.array_equal(fn(x, n).numpy(), reference), f"the {name} loop disagrees with NumPy's"
    steps = [s.kind for s in gj.runtime.get_runtime().compiled(compiled.get_concrete_function(x, n), "cpu").steps]
    assert steps == ["compiled"], steps
    table = [
        ("gj.while_loop, CPU backend (one compiled call)", median_seconds(lambda: compiled(x, n), args.repeats)),
        ("gj.while_loop, reference interpreter", median_seconds(lambda: interpreted(x, n), args.repeats)),
        ("gj.while_loop, eager", median_seconds(lambda: loop(x, n), args.repeats)),
        ("NumPy loop in Python", median_seconds(lambda: numpy_loop(x, args.iterations), args.repeats)),
    ]
    show(f"{args.iterations} iterations of x = x * a + b on float32[{args.size}]", table)
    show(f"map_fn over the rows of float32[{args.rows}, 64]", map_fn_table(args))
    return 0


def map_fn_table(args):
    x = np.random.default_rng(0).standard_normal((args.rows, 64)).astype(np.float32)
    compiled, interpreted = gj.function(rows), gj.function(rows, jit_compile=False)
    reference = numpy_rows(x)
    for name, fn in (("compiled", compiled), ("interpreted", interpreted), ("eager", rows)):
        np.testing.assert_allclose(fn(x).numpy(), reference, rtol=1e-6, atol=1e-5, err_msg=name)
    steps = [s.kind for s in gj.runtime.get_runtime().compiled(compiled.get_concrete_function(x), "cpu").steps]
    assert steps == ["compiled"], steps
    return [
        ("gj.map_fn, CPU backend (one compiled call)", median_seconds(lambda: compiled(x), args.repeats)),
        ("gj.map_fn, reference interpreter", median_seconds(lambda: interpreted(x), args.repeats)),
        ("gj.map_fn, eager", median_seconds(lambda: rows(x), args.repeats)),
        ("NumPy loop over the rows in Python", median_seconds(lambda: numpy_rows(x), args.repeats)),
        ("NumPy vectorised x * 2 + x.sum(axis=1)",
         median_seconds(lambda: x * np.float32(2.0) + x.sum(axis=1, keepdims=True), args.repeats)),
    ]


def show(title, table):
    print(title)
    print(f"{'contender':52s} {'median s':>12s} {'vs compiled':>12s}")
    for name, seconds in table:
        print(f"{name:52s} {seconds:12.6f} {seconds / table[0][1]:11.1f}x")


if __name__ == "__main__":
    raise SystemExit(main())
