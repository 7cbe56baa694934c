"""Start-up latency of graphjit in new processes: imports, and W1's first result with a warm disk cache.

Targets (compiler issue): W1's first result in a new process with a warm cache <= 0.1 s beyond ``import
numba``; W1's first call with a cold cache (trace + compile until compiled code runs) <= 1.0 s.

Every number comes from a fresh Python process (median of ``--runs``), all sharing one fresh cache directory
(``GRAPHJIT_CACHE_DIR`` and ``NUMBA_CACHE_DIR``, as ``graphjit.bench`` does). Measured per process:

  import numba          ``import numba`` alone
  import graphjit       ``import graphjit`` after ``import numba``
  first result          from just after ``import numba`` to W1's first result (import graphjit, trace, then
                        the interpreter's or the compiled kernel's answer, whichever the runtime picks)
  compiled ready        from the same start until compiled code is ready (``gj.wait_for_compilation()``)
  sync first result     the same with ``GRAPHJIT_BACKGROUND_COMPILE=0``: no interpreter, the kernel is loaded
                        (or compiled) before the first call returns

Where the time goes (``--split``): one more warm process with ``GRAPHJIT_BACKGROUND_COMPILE=0`` in which
selected functions of graphjit and Numba are wrapped with timers (inclusive seconds, summed over calls, per
thread; nested entries are included in their callers), plus ``python -X importtime`` for ``import graphjit``.

By default the processes may write bytecode caches (to a private ``PYTHONPYCACHEPREFIX``), as installed
packages normally have; ``--as-is`` keeps this environment's settings (here PYTHONDONTWRITEBYTECODE=1, so
graphjit's own modules are compiled from source at every import, about +0.05-0.1 s).

    python benchmarks/startup.py                       # sizes 64K and 16M, 7 runs each
    python benchmarks/startup.py --sizes 65536 --runs 9 --split
    python benchmarks/startup.py --compare before=/tmp/before   # another copy, interleaved (side by side)
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

W1_CHILD = r"""
import json, sys, time
t_begin = time.perf_counter()
import numpy as np
n, seed = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(seed)
x = rng.standard_normal(n, dtype=np.float32)
y = rng.standard_normal(n, dtype=np.float32)
t0 = time.perf_counter()
import numba
start = time.perf_counter()
SPLIT = SPLIT_PLACEHOLDER
import graphjit as gj
t_import = time.perf_counter()

@gj.function
def w1(x, y):
    return gj.exp(-x * x) * y + gj.sin(x) * 0.5

result = np.asarray(w1(x, y))
t_first = time.perf_counter()
concrete = w1.get_concrete_function(x, y)
from graphjit.runtime import get_runtime
answered_by = "compiled" if "cpu" in get_runtime().executables(concrete) else "interpreter"
gj.wait_for_compilation()
t_ready = time.perf_counter()
second = np.asarray(w1(x, y))
t_second = time.perf_counter()
expected = np.exp(-x * x) * y + np.sin(x) * np.float32(0.5)
tol = 1e-4 * (np.abs(expected) + np.mean(np.abs(expected)))
ok = bool(np.all(np.abs(result - expected) <= tol) and np.all(np.abs(second - expected) <= tol))
info = gj.cache_info()
out = {"import_numba": start - t0, "import_graphjit": t_import - start, "first": t_first - start,
       "ready": t_ready - start, "second_call": t_second - t_ready, "answered_by": answered_by, "agrees": ok,
       "hits": info.hits, "misses": info.misses}
if SPLIT:
    out["split"] = report_split()
print(json.dumps(out))
"""

# Timers around selected functions (inclusive seconds, summed per thread). Names that a version of the code
# does not have are skipped, so the same harness measures before/after versions side by side.
SPLIT_CODE = r"""
import collections, functools, importlib, threading, time
_split = collections.defaultdict(float)
_split_n = collections.Counter()

def _wrap(owner, attr, label, kind="function"):
    raw = owner.__dict__.get(attr) if isinstance(owner, type) else getattr(owner, attr, None)
    if raw is None:
        return
    fn = raw.__func__ if isinstance(raw, (classmethod, staticmethod)) else raw

    @functools.wraps(fn)
    def timed(*args, **kwargs):
        where = "main" if threading.current_thread() is threading.main_thread() else "thread"
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            _split[(label, where)] += time.perf_counter() - start
            _split_n[(label, where)] += 1
    setattr(owner, attr, classmethod(timed) if isinstance(raw, classmethod) else timed)

def _install_numba():
    import numba.core.base, numba.core.caching, numba.core.compiler, numba.core.dispatcher, numba.core.runtime.nrt
    import numba.core.codegen, numba.core.typing.context, numba.np.ufunc.parallel
    _wrap(numba.core.dispatcher.Dispatcher, "__init__", "numba: Dispatcher() creation")
    _wrap(numba.core.dispatcher.Dispatcher, "compile", "numba: Dispatcher.compile (cache load or compile)")
    _wrap(numba.core.base.BaseContext, "refresh", "numba: target context refresh (registries)")
    _wrap(numba.core.typing.context.BaseContext, "refresh", "numba: typing context refresh")
    _wrap(type(numba.core.runtime.rtsys), "initialize", "numba: NRT initialisation (LLVM)")
    _wrap(numba.core.codegen.JITCPUCodegen, "__init__", "numba: JIT codegen / target machine creation")
    _wrap(numba.core.caching.Cache, "_index_key", "numba: cache index key")
    _wrap(numba.core.caching.IndexDataCacheFile, "load", "numba: cache index lookup + data unpickle")
    _wrap(numba.core.compiler.CompileResult, "_rebuild", "numba: rebuild (object code -> JIT, env)")
    _wrap(numba.np.ufunc.parallel, "_launch_threads", "numba: threading layer launch")
    _wrap(numba.core.compiler.CompilerBase, "compile_extra", "numba: compile (cache miss)")

def _install_graphjit():
    from graphjit.tracer import function
    from graphjit.compiler import cache, cpu, runner
    from graphjit.runtime import runtime
    _wrap(function.Function, "_trace", "graphjit: trace")
    from graphjit.compiler import schedule
    _wrap(cpu.CPUBackend, "compile", "graphjit: CPUBackend.compile (all)")
    for name, label in [("optimize", "graphjit: passes (optimize)"), ("functionalize", "graphjit: functionalize")]:
        _wrap(schedule, name, label)
    for name, label in [("build_runner", "graphjit: build runners"), ("_module_source", "graphjit: module source"),
                        ("load_module", "graphjit: cache.load_module"), ("load_entries", "graphjit: cache.load_entries")]:
        _wrap(cpu, name, label)
    _wrap(cpu.StageWriter, "write", "graphjit: codegen (StageWriter.write)")
    for name in ("_exec_file", "_load_from_disk", "_fast_numba_loads"):
        _wrap(cache, name, "graphjit: cache." + name)
    _wrap(runtime.Runtime, "run", "graphjit: Runtime.run (first call: executable + run)")

def report_split():
    rows = sorted(_split.items(), key=lambda kv: -kv[1])
    return [[label, where, seconds, _split_n[(label, where)]] for (label, where), seconds in rows]

_install_numba()
import graphjit
_install_graphjit()
"""


def child_env(args, cache_dir, tree="", extra=None):
    env = dict(os.environ)
    for var in ("GRAPHJIT_CACHE_DIR", "NUMBA_CACHE_DIR"):
        env[var] = cache_dir
    for var in ("GRAPHJIT_CACHE", "GRAPHJIT_BACKEND", "GRAPHJIT_BACKGROUND_COMPILE"):
        env.pop(var, None)
    if not args.as_is:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = args.pycache
    if tree:
        env["PYTHONPATH"] = tree + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra or {})
    return env


def run_child(code, argv, env):
    # Not run from the repository root: '' on sys.path would shadow a copy given with --compare.
    proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env, timeout=600,
                          cwd=tempfile.gettempdir())
    if proc.returncode != 0:
        raise RuntimeError(f"child failed:\n{proc.stderr[-3000:]}")
    return proc.stdout


def w1_child(size, env, split=False):
    code = W1_CHILD.replace("SPLIT = SPLIT_PLACEHOLDER", SPLIT_CODE if split else "SPLIT = False")
    code = code.replace("if SPLIT:", "if True:" if split else "if False:")
    return json.loads(run_child(code, [str(size), "0"], env).strip().splitlines()[-1])


IMPORT_CHILD = ("import time; t = time.perf_counter(); import numba; t1 = time.perf_counter(); import graphjit; "
                "t2 = time.perf_counter(); print(t1 - t, t2 - t1)")


def med(rows, key):
    return statistics.median(r[key] for r in rows)


def measure(args, trees):
    """Every measurement for every tree, the trees interleaved process by process (noise hits them alike)."""
    results = {label: {"sizes": []} for label in trees}
    with tempfile.TemporaryDirectory(prefix="gj-startup-") as scratch:
        imports = {label: [] for label in trees}
        for r in range(args.runs + 2):                     # the first two fill the bytecode caches
            for label, tree in trees.items():
                row = tuple(map(float, run_child(IMPORT_CHILD, [], child_env(args, scratch, tree)).split()))
                if r >= 2:
                    imports[label].append(row)
        for label, rows in imports.items():
            results[label].update(import_numba_s=statistics.median(r[0] for r in rows),
                                  import_graphjit_after_numba_s=statistics.median(r[1] for r in rows))
            if args.split:
                results[label]["importtime"] = importtime(args, scratch, trees[label])
    for size in args.size_list:
        with tempfile.TemporaryDirectory(prefix="gj-startup-") as scratch:
            dirs = {label: os.path.join(scratch, f"cache{k}") for k, label in enumerate(trees)}
            rows = {label: {"cold": [], "warm": [], "sync": []} for label in trees}
            for label, tree in trees.items():               # builds each tree's cache entry
                rows[label]["cold"].append(w1_child(size, child_env(args, dirs[label], tree)))
            for _ in range(args.runs):
                for label, tree in trees.items():
                    rows[label]["warm"].append(w1_child(size, child_env(args, dirs[label], tree)))
                    rows[label]["sync"].append(w1_child(size, child_env(
                        args, dirs[label], tree, {"GRAPHJIT_BACKGROUND_COMPILE": "0"})))
            for _ in range(args.cold_runs - 1):
                for label, tree in trees.items():
                    with tempfile.TemporaryDirectory(prefix="gj-startup-cold-", dir=scratch) as fresh:
                        rows[label]["cold"].append(w1_child(size, child_env(args, fresh, tree)))
            for label, tree in trees.items():
                cold, warm, sync = rows[label]["cold"], rows[label]["warm"], rows[label]["sync"]
                out = {"elements": size, "cold_first_s": med(cold, "first"), "cold_ready_s": med(cold, "ready"),
                       "cold_ready_all": [round(r["ready"], 3) for r in cold],
                       "warm_first_s": med(warm, "first"), "warm_ready_s": med(warm, "ready"),
                       "warm_import_graphjit_s": med(warm, "import_graphjit"),
                       "warm_answered_by": sorted({r["answered_by"] for r in warm}),
                       "warm_first_all": [round(r["first"], 4) for r in warm],
                       "sync_first_s": med(sync, "first"), "sync_first_all": [round(r["first"], 4) for r in sync],
                       "agrees": all(r["agrees"] for r in cold + warm + sync),
                       "warm_hits": sorted({(r["hits"], r["misses"]) for r in warm + sync})}
                if args.split:
                    out["split"] = w1_child(size, child_env(args, dirs[label], tree,
                                                            {"GRAPHJIT_BACKGROUND_COMPILE": "0"}), split=True)
                results[label]["sizes"].append(out)
    return results


def importtime(args, cache_dir, tree):
    env = child_env(args, cache_dir, tree)
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "import numba; import graphjit"],
                          capture_output=True, text=True, env=env, cwd=tempfile.gettempdir())
    rows, seen_numba = [], False
    for line in proc.stderr.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) != 3 or not parts[1].isdigit():
            continue
        if parts[2] == "numba":
            seen_numba = True
            continue
        if seen_numba:
            rows.append((int(parts[0].split()[-1]), int(parts[1]), parts[2]))
    return rows


def report(label, res, args):
    print(f"=== {label}: import numba {res['import_numba_s'] * 1e3:.1f} ms, import graphjit (after numba) "
          f"{res['import_graphjit_after_numba_s'] * 1e3:.1f} ms")
    for r in res["sizes"]:
        print(f"W1, {r['elements']} float32 elements (agrees: {r['agrees']}; warm (hits, misses): {r['warm_hits']})")
        print(f"  warm cache: first result        {r['warm_first_s'] * 1e3:7.1f} ms beyond import numba "
              f"(answered by {'/'.join(r['warm_answered_by'])}; all: {r['warm_first_all']})")
        print(f"  warm cache: compiled ready      {r['warm_ready_s'] * 1e3:7.1f} ms")
        print(f"  warm cache, sync: first result  {r['sync_first_s'] * 1e3:7.1f} ms (all: {r['sync_first_all']})")
        print(f"  cold cache: first result        {r['cold_first_s'] * 1e3:7.1f} ms, compiled ready "
              f"{r['cold_ready_s'] * 1e3:7.1f} ms (all: {r['cold_ready_all']})")
        if "split" in r:
            s = r["split"]
            print(f"  split (one sync warm process; first result {s['first'] * 1e3:.1f} ms, import graphjit "
                  f"{s['import_graphjit'] * 1e3:.1f} ms):")
            for name, where, seconds, calls in s["split"]:
                print(f"    {name:<58} {where:<6} {seconds * 1e3:7.1f} ms  ({calls} calls)")
    if "importtime" in res:
        print("  import graphjit after numba, largest cumulative (python -X importtime, µs):")
        for self_us, cum_us, name in sorted(res["importtime"], key=lambda r: -r[1])[:12]:
            print(f"    {name:<40} self {self_us:7d}  cumulative {cum_us:7d}")
    print()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="65536,16777216", help="W1 element counts (comma-separated)")
    parser.add_argument("--runs", type=int, default=7, help="warm processes per size and mode (median)")
    parser.add_argument("--cold-runs", type=int, default=1, help="cold-cache processes per size (median)")
    parser.add_argument("--split", action="store_true", help="time selected functions in one more process")
    parser.add_argument("--as-is", action="store_true", help="keep PYTHONDONTWRITEBYTECODE etc. as they are")
    parser.add_argument("--compare", action="append", default=[], metavar="LABEL=PATH",
                        help="also measure the package copy at PATH (put first on PYTHONPATH), interleaved with "
                             "the installed one; repeatable")
    parser.add_argument("--no-installed", action="store_true", help="measure only the --compare copies (frozen "
                        "copies are immune to edits made to the working tree while this runs)")
    parser.add_argument("--json", help="write the measurements to this file")
    args = parser.parse_args(argv)
    args.size_list = [int(v) for v in args.sizes.split(",")]
    trees = {} if args.no_installed else {"installed": ""}
    for item in args.compare:
        label, _, path = item.partition("=")
        trees[label] = os.path.abspath(path)
    results = {"settings": vars(args).copy()}
    args.pycache = tempfile.mkdtemp(prefix="gj-startup-pyc-")
    try:
        results["trees"] = measure(args, trees)
    finally:
        shutil.rmtree(args.pycache, ignore_errors=True)
    print(f"bytecode caches: {'as in this environment' if args.as_is else 'written (private prefix)'}; "
          f"medians of {args.runs} processes per number; trees interleaved: {', '.join(trees)}\n")
    for label, res in results["trees"].items():
        report(label, res, args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
