"""The differential fuzzer at scale: random graphs over every registered op, compiled (Numba CPU backend)
against the reference interpreter and a float64 NumPy shadow (tests/fuzz_graphs.py, tests/fuzz_check.py).

    python benchmarks/fuzz.py --cases 10000 [--seed N] [--max-ops 12] [--batch 10] [--jobs 2] [--grad]

Prints cases run, mismatches, crashes (raw non-graphjit exceptions) and error disagreements, then a
shrunk reproducer (the program listing with its inputs) for each distinct failure. Exits 1 on any failure.
``--polymorphic`` traces each program with an input_signature of None dims instead, runs it at several sizes and
compares with per-size interpreted traces (tests/fuzz_polymorphic.py). ``--grad`` fuzzes backward graphs instead (tests/fuzz_grad.py): each program's weighted-sum loss differentiated
by a tape inside the compiled function, compiled vs interpreter vs the eager tape, and the tape against float64
finite differences; it also prints the programs checked and skipped, by reason.

Where a case's time goes (2-core machine): Numba compiling the batch's module is ~95% of it; tracing,
the compiler's passes, the interpreter and the checker's 11 float64 shadow runs are the rest. Numba's cost
grows faster than the graph (a 50-program batch of 12 ops took 3.3 s a case, 10 programs ~0.5 s), so
batches stay small and ``--jobs`` processes each run their own seed stream (job k draws batch b from
``(seed, k, b)``). Kernels go to a fresh temporary cache directory (``--cache-dir`` to choose one), so the
user's kernel cache is not flooded with thousands of one-off graphs.
"""
import argparse
import collections
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import time
import warnings

TESTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests")


def _quiet():
    import numpy as np
    np.seterr(all="ignore")               # the eager draws and the interpreter overflow by design
    warnings.simplefilter("ignore")


def _signature(failure, grad=False):
    """What tells distinct failures apart, for shrinking one of each: with --grad, the ops differentiated (its
    messages all begin alike: "finite differences (float64 twin...", "d loss / d v3 compiled vs ...")."""
    if grad:
        import fuzz_grad
        return failure.kind, frozenset(fuzz_grad.differentiated_ops(failure.program))
    return failure.kind, failure.message.split(":")[0].split(" ")[-1], failure.message[:40]


def draw_batch(fuzz_graphs, args, job, index, limit):
    """The programs of batch ``index`` of ``job`` (the progress lines name it, to draw a failing batch again)."""
    ch = fuzz_graphs.RandomChooser((args.seed, job, index) if args.jobs > 1 else (args.seed, index))
    if args.grad:
        import fuzz_grad
        return [fuzz_grad.draw_grad_program(ch, args.max_ops) for _ in range(min(args.batch, limit))]
    if ch.coin(args.error_cases * args.batch / (1 + args.error_cases * args.batch)):
        prog = next((p for p in (fuzz_graphs.draw_program(ch, args.max_ops, want_error=True)
                                 for _ in range(10)) if p is not None), None)
        return [prog] if prog is not None else []
    return [fuzz_graphs.draw_program(ch, args.max_ops) for _ in range(min(args.batch, limit))]


def run_job(job, args, report=print):
    """One process's share: returns (cases, batches, kind counts, failing programs, op counts, reproducer texts,
    gradient stats)."""
    sys.path.insert(0, TESTS)
    _quiet()
    import fuzz_check
    import fuzz_grad
    import fuzz_graphs

    stats = collections.Counter()     # --grad: programs checked and skipped by reason (fuzz_grad.check_grad_batch)
    if args.grad:
        def check(progs):
            return fuzz_grad.check_grad_batch(progs, stats)
    elif args.polymorphic:
        import fuzz_polymorphic

        def check(progs):
            return fuzz_polymorphic.check_polymorphic_batch(progs, stats)
    else:
        check = fuzz_check.check_batch
    start = time.perf_counter()
    cases, batches, failures, ops = 0, 0, [], collections.Counter()
    share = args.cases // args.jobs + (job < args.cases % args.jobs)
    while cases < share:
        progs = draw_batch(fuzz_graphs, args, job, batches, share - cases)
        batches += 1
        if not progs:
            continue
        if not args.grad:    # (--grad counts the ops it differentiated in the programs it checked)
            for prog in progs:
                ops.update(fuzz_graphs.SPECS[n.spec].op for n in prog.nodes if isinstance(n, fuzz_graphs.Step))
        found = check(progs)
        failures += found
        cases += len(progs)
        if batches % 10 == 0 or found:
            kinds = collections.Counter(f.kind for f in failures)
            report(f"[job {job} batch {batches - 1} {time.perf_counter() - start:7.0f}s] {cases}/{share} cases, {kinds['mismatch']} "
                   f"mismatches, {kinds['crash']} crashes, {kinds['error']} error disagreements"
                   + (f", {kinds['finite differences']} finite-difference failures, {stats['checked']} checked"
                      if args.grad else ""))
            for f in found:
                report(f"    {f.kind}: {f.message[:300]}\n" + "\n".join(f.program.describe().splitlines()[:40]))

    reproducers, seen = [], set()
    for failure in failures:
        if _signature(failure, args.grad) in seen or len(seen) >= args.reproducers:
            continue
        seen.add(_signature(failure, args.grad))

        def fails(prog, kind=failure.kind):
            return any(f.kind == kind for f in check([prog]))
        saved = stats.copy()     # shrinking's checks are not cases
        small = fuzz_check.shrink(failure.program, fails)
        again = [f for f in check([small]) if f.kind == failure.kind]
        stats.clear()
        stats.update(saved)
        reproducers.append(f"=== {failure.kind}: {(again[0] if again else failure).message[:800]}\n"
                           f"{small.describe()}")
    kinds = collections.Counter(f.kind for f in failures)
    failing = len({id(f.program) for f in failures})
    if args.grad:
        ops = collections.Counter({k[len("op: "):]: n for k, n in stats.items() if k.startswith("op: ")})
    return cases, batches, dict(kinds), failing, dict(ops), reproducers, dict(stats)


def _worker(job, args, queue):
    try:
        queue.put(("done", job, run_job(job, args, report=lambda text: queue.put(("line", job, text)))))
    except BaseException as err:  # noqa: BLE001 - reported by the parent, which exits 1
        import traceback
        queue.put(("died", job, f"{type(err).__name__}: {err}\n{traceback.format_exc()}"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-ops", type=int, default=12)
    parser.add_argument("--batch", type=int, default=10, help="programs traced and compiled as one function")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                        help="processes, each with its own seed stream")
    parser.add_argument("--error-cases", type=float, default=0.02,
                        help="fraction of cases that end in a data-dependent error (each compiled alone)")
    parser.add_argument("--reproducers", type=int, default=8, help="distinct failures to shrink and print")
    parser.add_argument("--grad", action="store_true", help="fuzz backward graphs (tests/fuzz_grad.py)")
    parser.add_argument("--polymorphic", action="store_true",
                        help="trace each program once with None-dim signatures, run several sizes, compare with "
                             "per-size interpreted traces (tests/fuzz_polymorphic.py)")
    parser.add_argument("--cache-dir", default=None,
                        help="kernel cache directory (default: a fresh temporary one, removed at the end)")
    args = parser.parse_args(argv)
    args.jobs = max(1, min(args.jobs, args.cases))

    temp = None
    if args.cache_dir is None:
        temp = args.cache_dir = tempfile.mkdtemp(prefix="graphjit-fuzz-")
    os.environ["GRAPHJIT_CACHE_DIR"] = args.cache_dir   # read by graphjit when the workers import it
    start = time.perf_counter()
    results, died, workers = [], [], []
    try:
        if args.jobs == 1:
            results.append(run_job(0, args, report=lambda text: print(text, flush=True)))
        else:
            context = multiprocessing.get_context("spawn")   # a fresh interpreter: no forked Numba/LLVM state
            queue = context.Queue()
            # daemons, and SIGTERM unwinds through `finally`: killing the parent ends its workers too
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
            workers = [context.Process(target=_worker, args=(k, args, queue), daemon=True)
                       for k in range(args.jobs)]
            for w in workers:
                w.start()
            pending = set(range(args.jobs))
            while pending:
                try:
                    kind, job, payload = queue.get(timeout=30)
                except Exception:  # noqa: BLE001 - queue.Empty: a worker killed (e.g. a segfault) sends nothing
                    for k in [k for k in pending if not workers[k].is_alive() and workers[k].exitcode]:
                        died.append(f"job {k} exited with code {workers[k].exitcode}")
                        pending.discard(k)
                    continue
                if kind == "line":
                    print(payload, flush=True)
                    continue
                if kind == "done":
                    results.append(payload)
                else:
                    died.append(f"job {job} died: {payload}")
                pending.discard(job)
            for w in workers:
                w.join()
    finally:
        for w in workers:
            if w.is_alive():
                w.terminate()
        if temp:
            shutil.rmtree(temp, ignore_errors=True)

    cases = sum(r[0] for r in results)
    batches = sum(r[1] for r in results)
    kinds = collections.Counter()
    ops = collections.Counter()
    stats = collections.Counter()
    for r in results:
        kinds.update(r[2])
        ops.update(r[4])
        stats.update(r[6])
    elapsed = time.perf_counter() - start
    sys.path.insert(0, TESTS)
    import fuzz_graphs
    print(f"\ncases run: {cases} in {batches} compiled functions, {elapsed:.0f} s (seed {args.seed}, "
          f"max ops {args.max_ops}, batch {args.batch}, jobs {args.jobs}; {elapsed / max(cases, 1):.3f} s a case)")
    print(f"failing cases: {sum(r[3] for r in results)}; mismatches: {kinds['mismatch']}, "
          f"crashes: {kinds['crash']}, error disagreements: {kinds['error']}"
          + (f", finite-difference failures: {kinds['finite differences']}" if args.grad else ""))
    if args.polymorphic:
        print(f"polymorphic: {stats['symbolic']} programs traced once over symbolic sizes, {stats['per size']} per "
              f"size (fallback), {stats['no unknown size']} without a None dim, {stats['sizes compared']} runs compared")
        reasons = sorted(((n, k) for k, n in stats.items() if k.startswith("because: ")), reverse=True)
        for n, reason in reasons[:12]:
            print(f"  per size {n:4d} x {reason}")
    if args.grad:
        import fuzz_grad
        for line in fuzz_grad.describe_stats(stats):
            print(line)
        ruled = fuzz_grad.ops_with_rules(fuzz_graphs.fuzzed_ops())
        unchecked = sorted(ruled - set(ops))
        print(f"gradient rules exercised: {len(ruled & set(ops))} of the {len(ruled)} fuzzed ops with a rule"
              + (f" (never differentiated: {', '.join(unchecked)})" if unchecked else ""))
    else:
        unfuzzed = sorted(fuzz_graphs.fuzzed_ops() - set(ops))
        print(f"ops exercised: {len(ops)} of {len(fuzz_graphs.fuzzed_ops())} fuzzed"
              + (f" (never drawn: {', '.join(unfuzzed)})" if unfuzzed else ""))
    for line in died:
        print(f"!!! {line}")
    for r in results:
        for text in r[5]:
            print("\n" + text)
    return 1 if kinds or died else 0


if __name__ == "__main__":
    sys.exit(main())
