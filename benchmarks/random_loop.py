"""Random draws and prints inside compiled control flow (issue 21), each contender timed in interleaved rounds:

- walk: a while_loop random walk of ``--steps`` float64 steps (position += normal draw; the walk's sum kept too);
- dropout: ``gj.scan`` over the rows of a float32 [rows, width] input, each row masked by a fresh uniform draw;
- small step: one draw in the main graph, compiled into the one entry vs run as an eager step (the path before);
- print: the cost of one ``gj.print`` inside a compiled loop (the objmode callback to the eager print), from a loop
  with and without the print (output into a StringIO).

Contenders: the ``@gj.function`` on the CPU backend (one compiled entry: the loop, its draws and its prints
inside); the same trace on the reference interpreter (the body's nodes one by one: what the compiled path ran
before, when an effect made the loop an eager step); eager mode (gj ops one by one in the Python loop); a NumPy
loop (the same Generator calls per step, in Python). Every contender is checked to give the same numbers bit for
bit from the same seed. Slow contenders run fewer steps and are scaled up (marked). Medians [fastest] in ms.

    python benchmarks/random_loop.py [--steps 100000] [--rows 2000] [--width 256] [--repeats 5]
"""
import argparse
import contextlib
import io
import statistics

import numpy as np

import graphjit as gj
from graphjit.bench import median_and_fastest_ms
from graphjit.runtime import get_runtime


def walk(steps):
    def body(i, position, total):
        position = position + gj.random.normal([], dtype=gj.float64)
        return i + 1, position, total + position
    zero = gj.constant(0.0, gj.float64)
    return gj.while_loop(lambda i, p, t: i < steps, body, (gj.constant(0), zero, zero))[1:]


def walk_numpy(steps, rng):
    position = total = 0.0
    for _ in range(steps):
        position = position + rng.standard_normal()
        total = total + position
    return position, total


def dropout(xs):
    def step(carry, row):
        keep = gj.cast(gj.random.uniform(row.shape) >= 0.25, gj.float32)
        return carry + row * keep * (1 / 0.75)
    return gj.scan(step, xs, initializer=gj.zeros([xs.shape[1]]))


def dropout_numpy(xs, rng):
    carry, out = np.zeros(xs.shape[1], np.float32), np.empty_like(xs)
    for k, row in enumerate(xs):
        keep = (rng.random(row.shape, dtype=np.float32) >= np.float32(0.25)).astype(np.float32)
        carry = carry + row * keep * np.float32(1 / 0.75)
        out[k] = carry
    return out


def counting(n, with_print):
    def body(i, total):
        if with_print:
            gj.print("step", i)
        return i + 1, total + gj.cast(i, gj.float64)
    return gj.while_loop(lambda i, t: i < n, body, (gj.constant(0), gj.constant(0.0, gj.float64)))[1]


def seeded(call, seed=1):
    def run():
        gj.random.set_seed(seed)
        return call()
    return run


def numpy_seeded(call, seed=1):
    return lambda: call(np.random.Generator(np.random.PCG64(seed)))


def values(result):
    items = result if isinstance(result, (list, tuple)) else [result]
    return [np.asarray(getattr(v, "numpy", lambda: v)()) for v in items]


def same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(values(a), values(b)))


def timed(contenders, repeats):
    """{name: (median ms, fastest ms)}, the contenders interleaved: each round times each once."""
    samples = {name: [] for name, _, _ in contenders}
    for r in range(repeats):
        for name, call, scale in contenders[r % len(contenders):] + contenders[:r % len(contenders)]:
            samples[name].append(median_and_fastest_ms(call, 1)[0] * scale)
    return {name: (statistics.median(t), min(t)) for name, t in samples.items()}


def report(title, rows, baseline):
    print(f"\n{title}")
    print(f"{'contender':58s} {'median ms':>11s} {'fastest':>9s} {'vs compiled':>12s}")
    for name, (med, fast) in rows.items():
        print(f"{name:58s} {med:11.3f} {fast:9.3f} {med / rows[baseline][0]:11.1f}x")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10 ** 5)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    gj.config.compile_in_background = False
    few = max(1, args.steps // 100)

    compiled, interpreted = gj.function(walk), gj.function(walk, jit_compile=False)
    n, small = np.int32(args.steps), np.int32(few)
    assert same(seeded(lambda: compiled(n))(), numpy_seeded(lambda rng: walk_numpy(args.steps, rng))())
    assert same(seeded(lambda: interpreted(small))(), seeded(lambda: walk(small))())
    assert same(seeded(lambda: compiled(small))(), numpy_seeded(lambda rng: walk_numpy(few, rng))())
    scale = args.steps / few
    rows = timed([("gj.function, CPU backend (one compiled entry)", seeded(lambda: compiled(n)), 1),
                  ("same trace, reference interpreter (scaled)", seeded(lambda: interpreted(small)), scale),
                  ("eager mode (scaled)", seeded(lambda: walk(small)), scale),
                  ("NumPy loop, Generator.standard_normal() per step",
                   numpy_seeded(lambda rng: walk_numpy(args.steps, rng)), 1)], args.repeats)
    report(f"random walk: while_loop of {args.steps} float64 normal steps", rows,
           "gj.function, CPU backend (one compiled entry)")

    xs = np.random.default_rng(0).standard_normal((args.rows, args.width)).astype(np.float32)
    few_rows = xs[:max(1, args.rows // 20)]
    d_compiled, d_interpreted = gj.function(dropout), gj.function(dropout, jit_compile=False)
    assert same(seeded(lambda: d_compiled(xs))(), numpy_seeded(lambda rng: dropout_numpy(xs, rng))())
    assert same(seeded(lambda: d_interpreted(few_rows))(), seeded(lambda: dropout(few_rows))())
    assert same(seeded(lambda: d_compiled(few_rows))(), seeded(lambda: dropout(few_rows))())
    scale = len(xs) / len(few_rows)
    rows = timed([("gj.function, CPU backend (one compiled entry)", seeded(lambda: d_compiled(xs)), 1),
                  ("same trace, reference interpreter (scaled)", seeded(lambda: d_interpreted(few_rows)), scale),
                  ("eager mode (scaled)", seeded(lambda: dropout(few_rows)), scale),
                  ("NumPy loop over rows", numpy_seeded(lambda rng: dropout_numpy(xs, rng)), 1)], args.repeats)
    report(f"dropout in scan: {args.rows} rows of {args.width} float32", rows,
           "gj.function, CPU backend (one compiled entry)")

    # a small step with one draw in the main graph: compiled draw vs the draw as an eager step between two compiled
    # stages (what every draw was before issue 21; forced here by refusing the draw kernels in a second trace)
    from graphjit.compiler import random_writer
    def small_step(x, w):
        return gj.reduce_sum(gj.nn.relu(x @ w) * gj.cast(gj.random.uniform([64, 64]) >= 0.5, gj.float32))
    x64, w64 = xs[:64, :64].copy(), np.eye(64, dtype=np.float32)
    fused = gj.function(small_step)
    fused(x64, w64)
    supported = random_writer.supported
    random_writer.supported = lambda node: False
    try:
        split = gj.function(small_step)
        split(x64, w64)
        kinds = [step.kind for step in get_runtime().compiled(split.get_concrete_function(x64, w64), "cpu").steps]
    finally:
        random_writer.supported = supported
    assert "python" in kinds and same(seeded(lambda: fused(x64, w64))(), seeded(lambda: split(x64, w64))())
    rows = timed([("draw compiled in the one entry", seeded(lambda: fused(x64, w64)), 1),
                  ("draw as an eager step between compiled stages", seeded(lambda: split(x64, w64)), 1)],
                 max(args.repeats, 20))
    report("small step: matmul 64x64, relu, dropout mask of 64x64 float32, sum", rows, "draw compiled in the one entry")

    loops = min(args.steps, 10 ** 4)
    quiet, printing = gj.function(lambda n: counting(n, False)), gj.function(lambda n: counting(n, True))
    with contextlib.redirect_stdout(io.StringIO()) as sink:
        assert same(printing(np.int32(loops)), quiet(np.int32(loops)))
        assert sink.getvalue().splitlines()[-1] == f"step {loops - 1}"
        rows = timed([("compiled loop without print", lambda: quiet(np.int32(loops)), 1),
                      ("compiled loop with gj.print each iteration", lambda: printing(np.int32(loops)), 1)],
                     args.repeats)
    report(f"gj.print inside a compiled while_loop of {loops} iterations", rows, "compiled loop without print")
    per_call = (rows["compiled loop with gj.print each iteration"][0] - rows["compiled loop without print"][0]) / loops
    print(f"one gj.print callback (objmode -> eager print into a StringIO): {per_call * 1e3:.2f} us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
