"""Constant powers in compiled graphs: ``x**3*0.5 + x**4`` and a GELU-tanh graph, side by side in one run.

    python benchmarks/powers.py [--n 4194304] [--rounds 15] [--repeat 3]

On n float32 elements (3 * standard normal), every round times each contender --repeat times in turn (the
order rotating from round to round, so that machine noise hits all alike) and keeps the fastest of those
calls; the table gives each contender's median and min/max over the rounds, and the ratios are medians of the
per-round ratios (paired samples). Contenders:
  powers      graphjit, ``x**3*0.5 + x**4`` traced (pow lowered by compiler.mathlib.power)
  multiplies  graphjit, the same written as ``x*x*x*0.5 + x*x*x*x``           (target: powers <= 1.3x this)
  numpy       ``x**3*0.5 + x**4`` in NumPy
  gelu        graphjit, 0.5*x*(1 + tanh(0.7978845608*(x + 0.044715*x**3)))
  gelu numpy  the same in NumPy; gelu jax when JAX is installed (it is not by default)
Results are checked against NumPy before timing. The machine's load average is printed first.
"""
import argparse
import os
import statistics

import numpy as np

import graphjit as gj
from graphjit.bench import call_times
from graphjit.runtime.runtime import wait_for_compilation


def powers(x):
    return x ** 3 * 0.5 + x ** 4


def multiplies(x):
    return x * x * x * 0.5 + x * x * x * x


def gelu(x, tanh=np.tanh):
    return 0.5 * x * (1.0 + tanh(0.7978845608 * (x + 0.044715 * x ** 3)))


def contenders(x):
    gj_powers, gj_multiplies = gj.function(powers), gj.function(multiplies)
    gj_gelu = gj.function(lambda v: gelu(v, gj.tanh))
    rows = {"powers": lambda: gj_powers(x), "multiplies": lambda: gj_multiplies(x), "numpy": lambda: powers(x),
            "gelu": lambda: gj_gelu(x), "gelu numpy": lambda: gelu(x)}
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        print("jax: not installed (gelu jax left out)")
    else:
        xj = jnp.asarray(x)
        jax_gelu = jax.jit(lambda v: gelu(v, jnp.tanh))
        rows["gelu jax"] = lambda: jax_gelu(xj).block_until_ready()
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4 * 1024 * 1024)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"load average {os.getloadavg()}, n = {args.n} float32")
    x = (np.random.default_rng(0).standard_normal(args.n) * 3).astype(np.float32)
    rows = contenders(x)
    wide = x.astype(np.float64)
    # (error relative to the terms' sizes: x**3*0.5 + x**4 cancels near x = -0.5, and GELU near x << 0)
    reference = {"powers": (powers(wide), np.abs(wide) ** 3 * 0.5 + wide ** 4), "gelu": (gelu(wide), np.abs(wide))}
    for name, call in rows.items():
        for _ in range(5):      # the first calls run on the interpreter while the kernel compiles
            call()
        wait_for_compilation()
        got = np.asarray(call(), np.float64)
        want, scale = reference["gelu" if name.startswith("gelu") else "powers"]
        error = np.max(np.abs(got - want) / np.maximum(scale, 1e-30))
        print(f"  {name:<11} max error vs float64, relative to the terms' size: {error:.2e}")
        if error > 1e-5:
            raise SystemExit(f"{name} disagrees with NumPy")
    samples = {name: [] for name in rows}
    names = list(rows)
    for r in range(args.rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            samples[name].append(min(call_times(rows[name], args.repeat)) * 1e3)
    print(f"\n{'contender':<12} {'median ms':>10} {'min':>8} {'max':>8}")
    for name, times in samples.items():
        print(f"{name:<12} {statistics.median(times):>10.2f} {min(times):>8.2f} {max(times):>8.2f}")

    def ratio(a, b):
        rs = [p / q for p, q in zip(samples[a], samples[b])]
        return statistics.median(rs), min(rs), max(rs)
    print()
    for a, b in (("powers", "multiplies"), ("numpy", "powers"), ("gelu numpy", "gelu"), ("gelu", "gelu jax")):
        if a in samples and b in samples:
            med, lo, hi = ratio(a, b)
            print(f"{a} / {b}: {med:.2f}x (min {lo:.2f}, max {hi:.2f}, paired per round)")
    med = ratio("powers", "multiplies")[0]
    print(f"\ntarget powers <= 1.3x multiplies: {'met' if med <= 1.3 else 'NOT met'} ({med:.2f}x)")


if __name__ == "__main__":
    main()
