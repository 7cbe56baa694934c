"""The differential fuzzer at scale: random graphs over every registered op, compiled (Numba CPU backend)
against the reference interpreter and a float64 NumPy shadow (tests/fuzz_graphs.py, tests/fuzz_check.py).

    python benchmarks/fuzz.py --cases 10000 [--seed N] [--max-ops 30] [--batch 25]

Prints cases run, mismatches, crashes (raw non-graphjit exceptions) and error disagreements, then a
shrunk reproducer (the program listing with its inputs) for each distinct failure. Exits 1 on any failure.
"""
import argparse
import collections
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

import fuzz_check  # noqa: E402
import fuzz_graphs  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-ops", type=int, default=30)
    parser.add_argument("--batch", type=int, default=25, help="programs traced and compiled as one function")
    parser.add_argument("--error-cases", type=float, default=0.02,
                        help="fraction of cases that end in a data-dependent error (each compiled alone)")
    parser.add_argument("--reproducers", type=int, default=8, help="distinct failures to shrink and print")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    cases, batches, failures, ops = 0, 0, [], collections.Counter()
    while cases < args.cases:
        ch = fuzz_graphs.RandomChooser((args.seed, batches))
        batches += 1
        if ch.coin(args.error_cases * args.batch / (1 + args.error_cases * args.batch)):
            prog = next((p for p in (fuzz_graphs.draw_program(ch, args.max_ops, want_error=True)
                                     for _ in range(10)) if p is not None), None)
            progs = [prog] if prog is not None else []
        else:
            progs = [fuzz_graphs.draw_program(ch, args.max_ops) for _ in range(min(args.batch, args.cases - cases))]
        if not progs:
            continue
        for prog in progs:
            ops.update(fuzz_graphs.SPECS[n.spec].op for n in prog.nodes if isinstance(n, fuzz_graphs.Step))
        found = fuzz_check.check_batch(progs)
        failures += found
        cases += len(progs)
        if batches % 10 == 0 or found:
            kinds = collections.Counter(f.kind for f in failures)
            print(f"[{time.perf_counter() - start:7.0f}s] {cases} cases, {kinds['mismatch']} mismatches, "
                  f"{kinds['crash']} crashes, {kinds['error']} error disagreements", flush=True)
            for f in found:
                print(f"    {f.kind}: {f.message[:300]}\n" + "\n".join(f.program.describe().splitlines()[:40]),
                      flush=True)

    kinds = collections.Counter(f.kind for f in failures)
    elapsed = time.perf_counter() - start
    print(f"\ncases run: {cases} in {batches} compiled functions, {elapsed:.0f} s (seed {args.seed}, "
          f"max ops {args.max_ops})")
    print(f"failing cases: {len({id(f.program) for f in failures})}; mismatches: {kinds['mismatch']}, "
          f"crashes: {kinds['crash']}, error disagreements: {kinds['error']}")
    unfuzzed = sorted(fuzz_graphs.fuzzed_ops() - set(ops))
    print(f"ops exercised: {len(ops)} of {len(fuzz_graphs.fuzzed_ops())} fuzzed"
          + (f" (never drawn: {', '.join(unfuzzed)})" if unfuzzed else ""))

    seen = set()
    for failure in failures:
        signature = (failure.kind, failure.message.split(":")[0].split(" ")[-1], failure.message[:40])
        if signature in seen or len(seen) >= args.reproducers:
            continue
        seen.add(signature)

        def fails(prog, kind=failure.kind):
            return any(f.kind == kind for f in fuzz_check.check_batch([prog]))
        small = fuzz_check.shrink(failure.program, fails)
        again = [f for f in fuzz_check.check_batch([small]) if f.kind == failure.kind]
        print(f"\n=== {failure.kind}: {(again[0] if again else failure).message[:800]}")
        print(small.describe())
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
