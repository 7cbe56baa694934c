"""Small calls: what a traced call costs when its kernel is nothing (issue 22, item 5).

Two groups, each timed side by side in one run (interleaved: every round times every contender once, starting one
further along each round, so machine noise hits all alike):
  add16   a 16-element float32 add: traced ``@gj.function`` vs NumPy's one ufunc vs a ``numba.njit`` function
  six100  a 6-op elementwise graph on 100 float32 elements: traced vs the same NumPy written eagerly
Each row shows the median, min and max per call over the rounds, and the median of the paired per-round ratios.

``--breakdown`` times each layer of a traced call (perf_counter_ns over 10^5 calls, an empty loop subtracted):
where the time goes from the call to the compiled entry. ``--profile`` adds a cProfile of 10^5 calls.
Usage: python benchmarks/small_calls.py [--rounds 41] [--number 2000] [--breakdown] [--profile]
"""
import argparse
import cProfile
import gc
import pstats
import statistics
import time

import numpy as np

import graphjit as gj
from graphjit.tracer import function as _function


def _add(x, y):
    return x + y


def _six(x, y):
    return gj.exp(x) * y + gj.sin(x) - y * 0.5 + gj.abs(x)


def _six_numpy(x, y):
    return np.exp(x) * y + np.sin(x) - y * np.float32(0.5) + np.abs(x)


def _inputs(n, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(n, dtype=np.float32), rng.standard_normal(n, dtype=np.float32)


def groups():
    """{group: [(name, call)]}, every call checked against NumPy before it is timed."""
    import numba
    gj.config.compile_in_background = False   # time the compiled code, not the first calls' interpreter
    a, b = _inputs(16, 1)
    c, d = _inputs(100, 2)
    add, six = gj.function(_add), gj.function(_six)
    numba_add = numba.njit(_add)
    out = {"add16": [("gj traced", lambda: add(a, b)), ("numpy ufunc", lambda: np.add(a, b)),
                     ("numba.njit", lambda: numba_add(a, b))],
           "six100": [("gj traced", lambda: six(c, d)), ("numpy eager", lambda: _six_numpy(c, d))]}
    references = {"add16": a + b, "six100": _six_numpy(c, d)}
    for group, contenders in out.items():
        for name, call in contenders:
            result = call()
            np.testing.assert_allclose(np.asarray(result), references[group], rtol=2e-6, atol=1e-6,
                                       err_msg=f"{group} {name}")
    return out


def interleaved(contenders, rounds, number):
    """{name: [seconds per call, one per round]}."""
    samples = {name: [] for name, _ in contenders}
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(rounds):
            k = r % len(contenders)
            for name, call in contenders[k:] + contenders[:k]:
                start = time.perf_counter_ns()
                for _ in range(number):
                    call()
                samples[name].append((time.perf_counter_ns() - start) / number)
    finally:
        if gc_was_enabled:
            gc.enable()
    return samples


def report(group, samples):
    names = list(samples)
    base = samples[names[0]]
    print(f"{group}: ns per call over {len(base)} rounds (median [min, max]); ratio = median of paired "
          f"per-round ratios to the first row")
    for name in names:
        s = samples[name]
        ratio = statistics.median(x / y for x, y in zip(s, base))
        print(f"  {name:12s} {statistics.median(s):7.0f}  [{min(s):6.0f}, {max(s):6.0f}]   x{ratio:5.2f}")


def _per_call_ns(call, number=100_000, repeats=5):
    best = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        for _ in range(number):
            call()
        best.append((time.perf_counter_ns() - start) / number)
    return min(best)


def breakdown():
    """Each layer of the 16-element traced add, outermost first (each includes the ones below it)."""
    a, b = _inputs(16, 1)
    add = gj.function(_add)
    add(a, b)
    concrete = add.get_concrete_function(a, b)
    executable = concrete._compiled()
    shortcut = _function._fast_calls[concrete.uid]
    runner = executable.run_tensors
    entry = runner.__globals__["entry0"]
    out = np.empty(16, np.float32)
    names = add._param_names

    def signature_key():
        tensors = []
        return tuple(_function._leaf_key(v, tensors, n) for v, n in zip((a, b), names))
    key = signature_key()
    layers = [("whole call add(a, b)", lambda: add(a, b))]
    last_call = getattr(add, "_last_call", None)
    if last_call is not None:   # (the last-signature check, tracer.last_signature, where it exists)
        check = last_call[0].check
        layers.append(("last-signature check", lambda: check((a, b))))
    layers += [("signature key (_leaf_key per argument)", signature_key),
               ("cache lookup by key", lambda: add._cache.get(key)),
               ("ConcreteFunction.call_flat", lambda: concrete.call_flat([a, b])),
               ("runtime shortcut (state bound)", lambda: shortcut([a, b])),
               ("generated runner", lambda: runner(None, [a, b])),
               ("compiled entry (Numba dispatcher)", lambda: entry(a, b, out)),
               ("np.empty(16) for comparison", lambda: np.empty(16, np.float32))]
    empty = _per_call_ns(lambda: None)
    print("breakdown of a traced 16-element add: ns per call, best of 5 x 10^5 calls, minus an empty call "
          f"({empty:.0f} ns)")
    for name, call in layers:
        print(f"  {name:40s} {_per_call_ns(call) - empty:7.0f}")


def profile():
    a, b = _inputs(16, 1)
    add = gj.function(_add)
    add(a, b)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(100_000):
        add(a, b)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(10)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--number", type=int, default=2000, help="calls per contender per round")
    parser.add_argument("--breakdown", action="store_true")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    for group, contenders in groups().items():
        report(group, interleaved(contenders, args.rounds, args.number))
    if args.breakdown:
        breakdown()
    if args.profile:
        profile()


if __name__ == "__main__":
    main()
