"""Time to compiled speed: calls 1..10 of a fresh gj.function, and cold compile time per kernel kind.

    python benchmarks/early_calls.py                       # this tree
    python benchmarks/early_calls.py --baseline /tmp/base/.venv/bin/python --rounds 3

Every measurement runs in a new process with empty graphjit and Numba cache directories (the way
graphjit.bench measures its new-process first calls: a first, unmeasured process fills a private bytecode
folder). The clock starts after ``import numba`` and ``import graphjit``; trace, passes, compile and the
interpreter stand-in are all inside the timed calls.

  early calls   the 5-op elementwise function ``exp(x*y - 1)*x + y`` and the reduction ``sum((x-y)*(x-y))``
                on 4M float32 elements, calls 1..10 back to back, beside NumPy eager of the same code (timed
                in the same process, before graphjit's calls). steady: graphjit's median after
                ``wait_for_compilation``.
  compile       ``compile_in_background = False``: the first call (trace + passes + compile + one run) minus
                the steady call, for one graph of each kernel kind: elementwise (the 5-op function, 4M),
                reduction (4M), row/softmax (softmax over rows of 2048x2048), gemm-epilogue
                (relu(a @ b + c), 512x512).

With ``--baseline PYTHON`` each round runs the same children on another interpreter (e.g. a venv holding
main's graphjit), interleaved with this tree's, so machine noise hits both alike. Medians over rounds, with
min and max.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from statistics import median

CHILD = r"""
import json, sys, time
import numpy as np
mode, kind = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(7)
N = 1 << 22
import numba
import graphjit as gj

def timed(fn, *args):
    t = time.perf_counter()
    r = fn(*args)
    if hasattr(r, "numpy"):
        r = r.numpy()
    return time.perf_counter() - t, np.asarray(r)

def steady(fn, args, reps=7):
    return sorted(timed(fn, *args)[0] for _ in range(reps))[reps // 2]

one = np.float32(1)
if kind == "elementwise":
    x = rng.standard_normal(N, dtype=np.float32); y = rng.standard_normal(N, dtype=np.float32)
    args = (x, y)
    numpy_fn = lambda x, y: np.exp(x * y - one) * x + y
    gj_fn = lambda x, y: gj.exp(x * y - 1.0) * x + y
elif kind == "reduction":
    x = rng.standard_normal(N, dtype=np.float32); y = rng.standard_normal(N, dtype=np.float32)
    args = (x, y)
    numpy_fn = lambda x, y: np.sum((x - y) * (x - y))
    gj_fn = lambda x, y: gj.reduce_sum((x - y) * (x - y))
elif kind == "softmax":
    args = (rng.standard_normal((2048, 2048), dtype=np.float32),)
    def numpy_fn(x):
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    gj_fn = lambda x: gj.nn.softmax(x)
elif kind == "gemm":
    args = tuple(rng.standard_normal(s, dtype=np.float32) for s in ((512, 512), (512, 512), (512,)))
    numpy_fn = lambda a, b, c: np.maximum(a @ b + c, np.float32(0))
    gj_fn = lambda a, b, c: gj.nn.relu(a @ b + c)

expected = numpy_fn(*args)
def agrees(r):
    scale = np.abs(expected) + np.mean(np.abs(expected))
    return bool(np.all(np.abs(r - expected) <= 1e-3 * scale))

f = gj.function(gj_fn)
if mode == "calls":
    numpy_s = [timed(numpy_fn, *args)[0] for _ in range(10)]
    calls, ok = [], True
    for _ in range(10):
        s, r = timed(f, *args)
        calls.append(s)
        ok = ok and agrees(r)
    gj.wait_for_compilation()
    out = {"calls": calls, "numpy": sorted(numpy_s)[5], "steady": steady(f, args), "agrees": ok}
else:
    gj.config.compile_in_background = False
    first, r = timed(f, *args)
    out = {"first": first, "steady": steady(f, args), "agrees": agrees(r)}
    out["compile"] = out["first"] - out["steady"]
print(json.dumps(out))
"""

CALL_KINDS = ("elementwise", "reduction")
COMPILE_KINDS = ("elementwise", "reduction", "softmax", "gemm")
KIND_NAMES = {"elementwise": "elementwise", "reduction": "reduction", "softmax": "row/softmax",
              "gemm": "gemm-epilogue"}


def child(python, mode, kind, pycache):
    with tempfile.TemporaryDirectory(prefix="graphjit-early-") as cache:
        env = {**os.environ, "GRAPHJIT_CACHE_DIR": cache, "NUMBA_CACHE_DIR": cache, "PYTHONPYCACHEPREFIX": pycache}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        proc = subprocess.run([python, "-c", CHILD, mode, kind], capture_output=True, text=True, env=env, timeout=600)
    if proc.returncode != 0:
        raise SystemExit(f"{python} {mode} {kind} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def spread(values, scale=1e3):
    return f"{median(values) * scale:7.1f} [{min(values) * scale:.1f}-{max(values) * scale:.1f}]"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", metavar="PYTHON", help="an interpreter whose graphjit is the 'before'")
    parser.add_argument("--rounds", type=int, default=3, help="processes per measurement (default 3)")
    parser.add_argument("--only", choices=("calls", "compile"), help="one of the two tables")
    args = parser.parse_args(argv)
    systems = {"after": sys.executable}
    if args.baseline:
        systems = {"before": args.baseline, **systems}
    results = {name: {} for name in systems}
    with tempfile.TemporaryDirectory(prefix="graphjit-early-pyc-") as pycache:
        for python in systems.values():   # unmeasured: fills the bytecode folder
            child(python, "compile", "elementwise", pycache)
        for _ in range(args.rounds):
            for mode, kinds in (("calls", CALL_KINDS), ("compile", COMPILE_KINDS)):
                if args.only not in (None, mode):
                    continue
                for kind in kinds:
                    for name, python in systems.items():   # interleaved: before, after, before, after
                        results[name].setdefault((mode, kind), []).append(child(python, mode, kind, pycache))
    print("machine: 2 cores shared with other jobs (loaded); ms, median [min-max] over", args.rounds, "processes")
    bad = [(n, k) for n, r in results.items() for k, runs in r.items() if not all(x["agrees"] for x in runs)]
    if bad:
        print("RESULTS DISAGREE WITH NUMPY:", bad)
    if args.only != "compile":
        for kind in CALL_KINDS:
            print(f"\n{KIND_NAMES[kind]} on 4M float32: calls 1..10 (ms) vs NumPy eager")
            print(f"{'':8}{'numpy':>8} " + " ".join(f"{f'#{i + 1}':>7}" for i in range(10)) + f"{'steady':>8}"
                  f"  {'#1-numpy':>9} {'#3/steady':>9}")
            for name in systems:
                runs = results[name][("calls", kind)]
                calls = [median(r["calls"][i] for r in runs) for i in range(10)]
                numpy_ms, steady_ms = median(r["numpy"] for r in runs), median(r["steady"] for r in runs)
                print(f"{name:8}{numpy_ms * 1e3:8.1f} " + " ".join(f"{c * 1e3:7.1f}" for c in calls)
                      + f"{steady_ms * 1e3:8.1f}  {(calls[0] - numpy_ms) * 1e3:9.1f} {calls[2] / steady_ms:9.1f}")
    if args.only != "calls":
        print("\ncold compile per kernel kind (first blocking call - steady call), ms: median [min-max]")
        print(f"{'kind':16}" + "".join(f"{name:>24}" for name in systems) + ("   after/before" if args.baseline else ""))
        for kind in COMPILE_KINDS:
            cells = {name: [r["compile"] for r in results[name][("compile", kind)]] for name in systems}
            ratio = f"   {median(cells['after']) / median(cells['before']):.2f}x" if args.baseline else ""
            print(f"{KIND_NAMES[kind]:16}" + "".join(f"{spread(v):>24}" for v in cells.values()) + ratio)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
