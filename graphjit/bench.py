"""graphjit's benchmark: each workload eager, traced (@gj.function) and on every installed peer, in one process.

    python -m graphjit.bench                     # all workloads, full repeat counts
    python -m graphjit.bench --quick             # fewer repeats, same sizes: about 1.5 minutes on 2 cores
    python -m graphjit.bench --json results.json --plot results.png --only W1,W3
    python -m graphjit.bench --group powers,norm  # one or more groups alone

The run first measures the machine's memory bandwidth (graphjit/_bench_roofline.py: a parallel triad) and shows,
for every workload, its floor (the bytes it must read and write / that bandwidth) and the share of the floor each
contender reaches. Contenders are interleaved within each repetition; a workload repeats until its spread is
small or a time cap is hit; median, min and max are shown, and a ratio between two contenders is the median of
their per-repetition ratios (paired samples).

Workloads (float32 but W8; see graphjit/_bench_workloads.py, where each is written once):
  W1 exp(-x*x)*y + sin(x)*0.5, 16M    W2 sum((x-y)**2), 16M    W3 x*2 + y*3 - 1, 16M
  W4 softmax over rows, 4096x4096     W5 relu(x@W1 + b)@W2, x 512x1024, W1/W2 1024x1024
  W6 dispatch overhead: f(a, b) = a + b on 16 elements, per call
  W7 a training step's forward + backward (gj.grad) on W5's MLP; NumPy runs a hand-written backward
  W8 gj.while_loop of 10^6 iterations (sum of 1/k^2, float64) vs a Python loop and NumPy's vectorised sum
The train group (graphjit/_bench_train.py), whole steps that update variables, vs NumPy by hand:
  T1 linear regression, one SGD step (x: 100x1)    T2 MLP 784-256-10, one Adam step, batch 256
Peers, each used only when installed: NumPy (always), numexpr, JAX (jax.jit), TensorFlow (tf.function),
PyTorch (eager).
Groups (--group; each a module graphjit/_bench_<group>.py, issue 22's classes; Numba by hand, JAX and TF beside):
  core W1-W8   train T1-T2   powers P1 (x**3*0.5 + x**4, 4M)   f64 F1 (exp/tanh/log1p, 4M float64)
  norm N1-N3 (layer norm, RMSNorm, softmax rows, 4096x4096)   small S1-S2 (16 and 100 elements, per call)
  warmup C1 (calls 1..10 of a fresh function in a new process, empty caches, 4M elements)
Every result is checked against NumPy before anything is timed; targets are reported as
met / not met and never fail the run. The exit status is 1 only when a graphjit result disagrees (or fails).
"""
import argparse
import atexit
import gc
import json
import os
import shutil
import sys
import tempfile
import time
from statistics import median

import numpy as np

import graphjit as gj

from graphjit import _bench_workloads as wl
from graphjit import _bench_train as tr
from graphjit import _bench_f64, _bench_norm, _bench_powers, _bench_roofline, _bench_small
from graphjit import _bench_warmup as warmup
from graphjit._bench_workloads import machine_info, new_process_first_calls, versions

GROUPS = {"core": [w.key for w in wl.WORKLOADS], "train": [w.key for w in tr.TRAIN],
          "powers": [w.key for w in _bench_powers.WORKLOADS], "f64": [w.key for w in _bench_f64.WORKLOADS],
          "norm": [w.key for w in _bench_norm.WORKLOADS], "small": [w.key for w in _bench_small.WORKLOADS],
          "warmup": ["C1"]}
WORKLOADS = {w.key: w for w in [*wl.WORKLOADS, *_bench_powers.WORKLOADS, *_bench_f64.WORKLOADS,
                                *_bench_norm.WORKLOADS, *_bench_small.WORKLOADS]}
PEER_ALIASES = {"tf": "tensorflow", "pytorch": "torch"}
SPREAD_TARGET = 0.10  # stop repeating once every contender's interquartile range is within 10% of its median

CONVENTIONS = """\
conventions: inputs are float32 (W8: a float64 scalar), made once with a seeded NumPy Generator, in memory, never
  timed; graphjit gets gj tensors converted once outside the loop (gj eager and gj traced get the same tensors). A
  timed call ends when its result exists: JAX results are block_until_ready()'d, TF and torch results stay tensors
  (.numpy() is used only for the check). median: of N calls after warm-up, contenders interleaved, each repetition
  starting one contender further along; N repeats until the spread is small or a time cap is hit; [min-max] beside
  it (per call for W6, S1, S2). first call: the very first call of a fresh gj.function / jax.jit / tf.function
  (trace + optimize + compile or cache load + run; graphjit's disk cache starts empty unless --keep-cache). vs
  NumPy: the median over repetitions of NumPy's time / this time in the same repetition (> 1 is faster). floor:
  bytes read and written once / the triad bandwidth (best of its runs: a loaded machine lowers it, so a share
  above 100% says the triad met more noise than the workload); % floor = floor / median. numba by hand:
  njit(parallel=True) written in the group, cache=True (its first call may be a cache load). agrees: a result of
  the workload's dtype with |r - ref| <= rtol*(|ref| + mean|ref|) elementwise; err/tol is the largest share of
  that tolerance used; ref is NumPy's result, or NumPy in float64 for reductions (W2, W4, W5, W7, P1, N1-N3). A
  peer that disagrees is shown as such and judged nowhere; a target against it is "not judged"."""


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m graphjit.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats (7 instead of 15) and one warm-up call; "
                        "sizes stay as specified")
    parser.add_argument("--only", metavar="W1,W3", help="comma-separated workloads to run (default: all)")
    parser.add_argument("--group", metavar="NAME", help=f"comma-separated groups to run, from {','.join(GROUPS)} "
                        "(default: all; --only picks workloads inside them)")
    parser.add_argument("--json", metavar="FILE", help="write every measurement and the machine info to FILE")
    parser.add_argument("--plot", metavar="FILE.png", help="draw speed-ups vs NumPy (needs matplotlib)")
    parser.add_argument("--peers", metavar="LIST", help="comma-separated peers to run besides NumPy, from "
                        f"{','.join(wl.PEERS)}, or 'none' (default: every installed one)")
    parser.add_argument("--repeats", type=int, metavar="N", help="timed calls per contender (overrides the mode)")
    parser.add_argument("--device", default="cpu", metavar="NAME", help="where gj traced runs its kernels: cpu "
                        "(default) or cuda / cuda:<k> (the CUDA backend; needs graphjit[cuda] and a usable GPU)")
    parser.add_argument("--keep-cache", action="store_true", help="use graphjit's usual disk cache (first calls "
                        "may then be cache loads); by default the run compiles into a fresh temporary directory")
    parser.add_argument("--size-scale", type=float, default=1.0, metavar="S",
                        help="multiply each workload's element count by S (matrix sides by sqrt(S); W6 keeps its "
                             "16 elements). For tests: targets then do not apply. Default 1")
    args = parser.parse_args(argv)
    groups = _split(args.group, upper=False) or list(GROUPS)
    bad_groups = [g for g in groups if g not in GROUPS]
    if bad_groups:
        parser.error(f"--group: unknown group(s) {', '.join(bad_groups)}; choose from {', '.join(GROUPS)}")
    in_groups = [k for g in groups for k in GROUPS[g]]
    every = [k for keys in GROUPS.values() for k in keys]
    only = _split(args.only)
    unknown = [k for k in only if k not in every]
    if unknown:
        parser.error(f"--only: unknown workload(s) {', '.join(unknown)}; choose from {', '.join(every)}")
    args.only = [k for k in in_groups if k in only] if only else in_groups
    if not args.only:
        parser.error("--only and --group leave no workload to run")
    if args.size_scale <= 0:
        parser.error("--size-scale must be positive")
    if args.plot and _load_pyplot() is None:
        parser.error("--plot needs matplotlib, which is not installed; install it with "
                     "`pip install matplotlib` (or `pip install -e '.[bench]'`), or leave out --plot")
    installed = wl.installed_peers()
    wanted = list(wl.PEERS) if args.peers is None else [PEER_ALIASES.get(p, p) for p in
                                                          _split(args.peers, upper=False) if p != "none"]
    bad = [p for p in wanted if p not in wl.PEERS]
    if bad:
        parser.error(f"--peers: unknown peer(s) {', '.join(bad)}; choose from {', '.join(wl.PEERS)} "
                     f"(or {', '.join(PEER_ALIASES)}) or none")
    # Named on the command line but not installed: said so in the header and the JSON, not silently dropped.
    args.missing_peers = [] if args.peers is None else [p for p in wanted if not installed[p]]
    args.installed_peers, args.peers = installed, [p for p in wanted if installed[p]]
    quick = args.quick
    args.repeats_big = args.repeats or (3 if quick else 9)  # the minimum: more follow while the spread is large
    args.repeats_per_call = args.repeats or (5 if quick else 15)
    args.adaptive = args.repeats is None  # an explicit --repeats is exact
    args.max_repeats = 4 * max(args.repeats_big, args.repeats_per_call)
    args.time_cap_s = 2.0 if quick else 10.0  # of timing per workload, its minimum repeats included
    args.warmup = 1 if quick else 2
    args.sample_s = 0.005 if quick else 0.02  # per_call workloads: calls per sample fill about this long
    return args


def _split(text, upper=True):
    return [p.strip().upper() if upper else p.strip().lower() for p in (text or "").split(",") if p.strip()]


def _load_pyplot():
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


# -- measuring ---------------------------------------------------------------------------------------------------


def _timed(call, sync):
    start = time.perf_counter()
    result = call()
    if sync is not None:
        result = sync(result)
    return time.perf_counter() - start, result


def reference(workload, arrays):
    numpy_fn = workload.numpy_call or wl.bind(workload.fn, wl.NUMPY)
    if workload.reference == "float64":
        arrays = [a.astype(np.float64) for a in arrays]
    return np.asarray(numpy_fn(*arrays), dtype=np.float64)


def check(result, ref, rtol, dtype=np.float32):
    """Does ``result`` match ``ref`` (``dtype``, same shape, within rtol*(|ref| + mean|ref|) everywhere)?"""
    got = np.asarray(result)
    out = {"dtype": str(got.dtype)}
    if got.shape != ref.shape:
        return {**out, "agrees": False, "error": f"shape {got.shape}, expected {ref.shape}"}
    scale = float(np.mean(np.abs(ref))) or 1.0
    err = float(np.max(np.abs(got.astype(np.float64) - ref) / (np.abs(ref) + scale))) / rtol
    out.update(err_over_tol=err, agrees=bool(err <= 1.0 and got.dtype == dtype))
    if got.dtype != dtype:
        out["error"] = f"dtype {got.dtype}, expected {np.dtype(dtype).name}"
    return out


def measure_workload(workload, args):
    arrays = workload.make_inputs(np.random.default_rng(wl.SEED), args.size_scale)
    ref = reference(workload, arrays)
    contenders = [wl.numpy_contender(workload, arrays), *wl.baseline_contenders(workload, arrays),
                  *wl.graphjit_contenders(workload, arrays)]
    rows, live = {}, []
    for peer in [p for p in args.peers if p in workload.peers]:
        try:
            contenders += wl.peer_contenders(workload, arrays, [peer])
        except Exception as err:  # a broken peer install is reported, not fatal
            rows[peer] = {"kind": "peer", "agrees": False, "error": f"{type(err).__name__}: {err}"}
    for c in contenders:
        row = rows[c.name] = {"kind": c.kind}
        try:
            call = c.make()
            row["first_call_s"], result = _timed(call, c.sync)
            if c.kind == "graphjit" and c.name != "gj eager":
                # the first result came from the interpreter while Numba compiled
                start = time.perf_counter()
                gj.wait_for_compilation()
                row["compiled_ready_s"] = row["first_call_s"] + time.perf_counter() - start
            row.update(check(result, ref, workload.rtol, workload.dtype))
            for _ in range(max(1, args.warmup)):
                last, result = _timed(call, c.sync)
            if "compiled_ready_s" in row:  # check the compiled result too, not only the interpreter's first one
                compiled_check = check(result, ref, workload.rtol, workload.dtype)
                if not compiled_check["agrees"]:
                    row.update(compiled_check)
            result = None
        except Exception as err:
            row.update(agrees=False, error=f"{type(err).__name__}: {err}")
            continue
        row["number"] = max(1, round(args.sample_s / last)) if workload.per_call else 1
        live.append((c, call, row["number"]))
    timing = _time_rows(rows, live, workload, args)
    moved = int(sum(a.nbytes for a in arrays) + ref.size * np.dtype(workload.dtype).itemsize)
    floor = _floor(rows, moved, args.bandwidth) if workload.floor else None
    return {"title": workload.title, "inputs": wl.describe_inputs(workload, arrays), "group": workload.group,
            "input_shapes": {n: list(a.shape) for n, a in zip(wl.input_names(workload.fn), arrays)},
            "reference": workload.reference, "rtol": workload.rtol, **timing, "floor": floor,
            "per_call": workload.per_call, "contenders": rows}


def _floor(rows, moved, bandwidth):
    """The memory floor (``moved`` bytes at the measured bandwidth) and each row's percentage of it."""
    if not bandwidth:
        return None
    floor_s = moved / bandwidth["bytes_per_s"]
    for row in rows.values():
        row["pct_of_floor"] = 100 * floor_s / row["median_s"] if row.get("median_s") else None
    return {"bytes": moved, "seconds": floor_s}


def measure_train(workload, args):
    """A train-group workload (``graphjit._bench_train``): each contender's parameters after a few steps checked
    against float64 NumPy, then its steps timed, interleaved, as ``measure_workload`` times calls."""
    ref = tr.reference(workload, wl.SEED)
    rows, live = {}, []
    for name, kind, step, parameters in tr.contenders(workload, wl.SEED, args.peers):
        row = rows[name] = {"kind": kind}
        try:
            row["first_call_s"], _ = _timed(step, None)
            gj.wait_for_compilation()
            for _ in range(tr.CHECK_STEPS - 1):
                last, _ = _timed(step, None)
            row.update(check(parameters(), ref, workload.rtol))
            for _ in range(max(1, args.warmup)):
                last, _ = _timed(step, None)
        except Exception as err:
            row.update(agrees=False, error=f"{type(err).__name__}: {err}")
            continue
        row["number"] = max(1, round(args.sample_s / last)) if workload.per_call else 1
        live.append((wl.Contender(name, None, kind=kind), step, row["number"]))
    timing = _time_rows(rows, live, workload, args)
    return {"title": workload.title, "inputs": workload.inputs, "group": "train", "reference": "float64",
            "rtol": workload.rtol, **timing, "floor": None, "per_call": workload.per_call, "contenders": rows}


def _time_rows(rows, live, workload, args):
    """Times the live contenders interleaved into their rows (median, min, max, samples, paired speed-up vs
    NumPy), repeating until every spread is within SPREAD_TARGET or the time cap or repeat cap is hit; returns
    {"repeats", "stopped", "spread"}."""
    minimum = args.repeats_per_call if workload.per_call else args.repeats_big
    samples = {c.name: [] for c, _, _ in live}
    start, repeats = time.perf_counter(), 0
    while True:
        batch = minimum if repeats == 0 else 2
        for name, new in interleaved(live, batch, first_round=repeats).items():
            samples[name] += new
        repeats += batch
        spread = max((_spread(v) for v in samples.values()), default=0.0)
        shown = "unknown" if spread == float("inf") else f"{spread:.0%}"
        if not args.adaptive:
            stopped = f"{repeats} repeats as asked"
        elif spread <= SPREAD_TARGET:
            stopped = f"spread {spread:.0%} <= {SPREAD_TARGET:.0%}"
        elif repeats >= args.max_repeats:
            stopped = f"spread {shown}, repeat cap"
        elif time.perf_counter() - start >= args.time_cap_s:
            stopped = f"spread {shown}, time cap {args.time_cap_s:g} s"
        else:
            continue
        break
    for name, values in samples.items():
        rows[name].update(median_s=median(values), min_s=min(values), max_s=max(values), samples_s=values)
    for row in rows.values():
        ratios = paired_ratios(rows["numpy"], row)
        row["speedup_vs_numpy"] = median(ratios) if ratios else None
        row["speedup_range"] = [min(ratios), max(ratios)] if ratios else None
    return {"repeats": repeats, "stopped": stopped, "spread": None if spread == float("inf") else spread}


def _spread(values):
    """Interquartile range over median: how far repetitions of one contender disagree (unknown, so infinite,
    with fewer than 4 samples)."""
    if len(values) < 4:
        return float("inf")
    q = np.percentile(values, [25, 50, 75])
    return float((q[2] - q[0]) / q[1]) if q[1] > 0 else 0.0


def paired_ratios(slower, faster):
    """t[slower] / t[faster] repetition by repetition (both were timed in every repetition, interleaved)."""
    a, b = slower.get("samples_s") or [], faster.get("samples_s") or []
    return [x / y for x, y in zip(a, b) if y > 0] if len(a) == len(b) else []


def call_times(call, repeats):
    """Seconds of each of ``repeats`` back-to-back calls: the timer of the scripts under benchmarks/."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def median_seconds(call, repeats):
    return median(call_times(call, repeats))


def median_and_fastest_ms(call, repeats):
    """(median, fastest) of ``repeats`` calls in ms: on a shared 2-core machine a parallel loop whose second
    thread is descheduled waits a scheduler tick (~4 ms), which the fastest call shows apart."""
    times = call_times(call, repeats)
    return median(times) * 1e3, min(times) * 1e3


def interleaved(live, repeats, first_round=0):
    """Median-ready samples: each round times every contender once, starting one further along each round."""
    samples = {c.name: [] for c, _, _ in live}
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(first_round, first_round + repeats):
            k = r % max(1, len(live))
            for c, call, number in live[k:] + live[:k]:
                sync = c.sync
                start = time.perf_counter()
                for _ in range(number):
                    result = call() if sync is None else sync(call())
                elapsed = time.perf_counter() - start
                result = None  # freed outside the timed region  # noqa: F841
                samples[c.name].append(elapsed / number)
    finally:
        if gc_was_enabled:
            gc.enable()
    return samples


# -- targets and report ------------------------------------------------------------------------------------------


def _train_target(key, traced, workload):
    s, t = traced.get("speedup_vs_numpy"), traced.get("median_s")
    met = s is not None and s >= workload.target_speedup and (key != "T1" or (t is not None and t <= 10e-6))
    return {"name": f"{key} traced step vs NumPy by hand", "target": workload.target_text, "value": s,
            "shown": "failed" if s is None else f"{s:.2f}x, {fmt(t)} a step", "met": met}


def judge(key, rec, target):
    """One generic verdict (a ``wl.Target``) on ``rec``; ``met`` is None where the row it compares against is a
    peer that failed or disagrees with NumPy: that is the peer's result, not a verdict on graphjit."""
    rows = rec["contenders"]
    of, vs = rows.get(target.of, {}), rows.get(target.vs, {})
    out = {"name": f"{key} {target.of}" + (f" vs {target.vs}" if target.kind == "speedup" else
                                             " % of floor" if target.kind == "floor" else " per call"),
           "target": target.text, "value": None, "met": False}
    if not of.get("agrees") or not of.get("median_s"):
        return {**out, "shown": f"{target.of} failed or disagrees"}
    if target.kind == "speedup":
        if not vs.get("agrees") or not vs.get("median_s"):
            why = "disagrees with NumPy" if vs.get("median_s") else "failed" if vs else "did not run"
            return {**out, "met": None, "shown": f"not judged: {target.vs} {why}"}
        ratios = paired_ratios(vs, of)
        value = median(ratios)
        return {**out, "value": value, "met": value >= target.bound,
                "shown": f"{value:.2f}x [{min(ratios):.2f}-{max(ratios):.2f}]"}
    if target.kind == "floor":
        value = of.get("pct_of_floor")
        return {**out, "value": value, "met": value is not None and value >= target.bound,
                "shown": "no floor" if value is None else f"{value:.0f}% of the floor"}
    value = of["median_s"]
    return {**out, "value": value, "met": value <= target.bound,
            "shown": f"{fmt(value)} [{fmt(of['min_s'])}-{fmt(of['max_s'])}]"}


def evaluate_targets(workloads, new_process, keep_cache):
    out = []
    for key, rec in workloads.items():
        if key == "C1":
            out += [{**t, "shown": _warmup_shown(t)} for t in rec.get("targets", [])]
            continue
        if key in WORKLOADS and WORKLOADS[key].targets:
            out += [judge(key, rec, t) for t in WORKLOADS[key].targets]
            continue
        traced, numpy_row = rec["contenders"].get("gj traced", {}), rec["contenders"]["numpy"]
        if key in tr.BY_KEY:
            out.append(_train_target(key, traced, tr.BY_KEY[key]))
            continue
        if rec["per_call"]:
            t, base = traced.get("median_s"), numpy_row.get("median_s")
            over = t - base if t is not None and base is not None else None
            out.append({"name": f"{key} traced per-call overhead over np.add", "target": "<= 2 µs", "value": over,
                        "shown": f"traced {fmt(t)}/call, np.add {fmt(base)}: +{fmt(over)}",
                        "met": over is not None and over <= 2e-6})
        else:
            s, span = traced.get("speedup_vs_numpy"), traced.get("speedup_range")
            out.append({"name": f"{key} traced speed-up vs NumPy", "target": wl.BY_KEY[key].target_text,
                        "value": s, "shown": "failed" if s is None else f"{s:.2f}x [{span[0]:.2f}-{span[1]:.2f}]",
                        "met": s is not None and s >= wl.BY_KEY[key].target_speedup})
    if "W1" in workloads:
        traced = workloads["W1"]["contenders"]["gj traced"]
        first, ready = traced.get("first_call_s"), traced.get("compiled_ready_s")
        out.append({"name": "W1 trace + compile until compiled code runs, " + ("cache kept" if keep_cache else
                                                                               "cold cache"),
                    "target": "<= 1.0 s", "value": ready, "shown": fmt(ready) if ready else "failed",
                    "met": ready is not None and ready <= 1.0})
        out.append({"name": "W1 first result (interpreter while compiling)", "target": "<= 1.0 s", "value": first,
                    "shown": fmt(first) if first else "failed", "met": first is not None and first <= 1.0})
        # Judged on W1 itself; a small W1 (LATENCY_ELEMENTS) is shown too: there the load overhead is all there
        # is (its first result may come from the interpreter while the cached kernel loads).
        rec = new_process or {}
        warm = rec.get("warm_s")
        shown = (f"{fmt(warm)} ({_count(rec['elements'])}; {fmt(rec['latency_warm_s'])} at "
                 f"{_count(rec['latency_elements'])})") if warm else "failed"
        out.append({"name": "W1 warm-cache first result, beyond import numba", "target": "<= 0.1 s", "value": warm,
                    "shown": shown, "met": warm is not None and warm <= 0.1})
    return out


def _warmup_shown(t):
    if t["value"] is None:
        return "failed"
    if "bound" in t:
        return f"{fmt(t['value'])} (bound {fmt(t['bound'])})"
    return f"worst {t['value']:.2f}x steady"


def measure_warmup(args):
    """C1 (graphjit/_bench_warmup.py) in a fresh process: each contender's first ten calls and steady time."""
    elements = max(1, round(warmup.ELEMENTS * args.size_scale))
    rows = warmup.measure(elements, wl.SEED, [p for p in args.peers if p in ("jax", "tensorflow")])
    if "error" in rows:
        rows = {"gj traced": {"agrees": False, "error": rows["error"], "kind": "graphjit"}}
    for name, row in rows.items():
        row.setdefault("kind", "numpy" if name == "numpy" else "graphjit" if name.startswith("gj") else "peer")
        if "steady_s" in row:
            row["median_s"] = row["steady_s"]
            row["first_call_s"] = row["calls_s"][0]
    moved = 3 * elements * 4
    floor = _floor(rows, moved, args.bandwidth)
    ok = "calls_s" in rows.get("gj traced", {})
    return {"title": "time to compiled speed: calls 1..10 of (x*y + 1)*x - y*0.5, new process, empty caches",
            "inputs": f"x, y: f32[{_count(elements)}]", "group": "warmup", "reference": "float64", "rtol": 1e-5,
            "repeats": warmup.CALLS, "stopped": "first calls", "per_call": False, "floor": floor,
            "contenders": rows, "targets": warmup.targets(rows) if ok else []}


def _count(n):
    return f"{n >> 20}M" if n >= 1 << 20 and n % (1 << 20) == 0 else f"{n >> 10}K" if n % 1024 == 0 else str(n)


def fmt(seconds):
    if seconds is None:
        return "—"
    a = abs(seconds)
    return f"{seconds * 1e6:.2f} µs" if a < 1e-3 else f"{seconds * 1e3:.1f} ms" if a < 1 else f"{seconds:.2f} s"


ROW = "  {:<36} {:>10} {:>10} {:>21} {:>18} {:>7}  {}"


def print_header(results):
    m, v, s = results["machine"], results["versions"], results["settings"]
    installed = results["installed_peers"]
    peers = ", ".join(f"{p} {ver}" if ver else f"{p} ({'skipped' if installed[p] else 'not installed'})"
                      for p, ver in results["peers"].items())
    sizes = "as specified (16M elements etc.)" if s["size_scale"] == 1 else f"scaled by {s['size_scale']:g}"
    print(f"graphjit {v['graphjit']} benchmark ({'quick' if s['quick'] else 'full'} mode; sizes {sizes})")
    print(f"machine: {m['cpu_model']}, {m['cores']} cores ({m['usable_cores']} usable); {m['platform']}")
    if s.get("device", "cpu") != "cpu":
        print(f"gj traced runs its kernels on {s['device']} (the CUDA backend); everything else on the CPU")
    print(f"versions: Python {v['python']}, NumPy {v['numpy']}, Numba {v['numba']}, "
          f"graphjit backend: {v['graphjit_backend']}")
    print(f"peers: numpy {v['numpy']}, {peers}")
    if results["missing_peers"]:
        print(f"requested peers not installed (no rows for them): {', '.join(results['missing_peers'])}")
    bw = results["bandwidth"]
    print(f"memory bandwidth: {bw['bytes_per_s'] / 1e9:.1f} GB/s (parallel float64 triad a = b + s*c, "
          f"{_count(bw['elements'])} elements an array, best of {len(bw['runs_s'])}: {fmt(min(bw['runs_s']))})")
    print(CONVENTIONS)
    print()
    print(ROW.format("contender", "first call", "median", "[min-max]", "vs NumPy [range]", "% floor",
                     "agrees (err/tol)"))


def agree_text(row):
    text = ("yes" if row["agrees"] else "NO") + (f" {row['err_over_tol']:.3g}" if "err_over_tol" in row else "")
    if not row["agrees"] and row.get("kind") not in ("graphjit", "numpy"):
        text += "  (peer disagrees with NumPy: shown, not judged)" if row.get("median_s") else "  (peer failed)"
    return text + (f"  ({_shorten(row['error'])})" if row.get("error") else "")


def print_workload(key, rec):
    per = " per call" if rec["per_call"] else ""
    floor = rec.get("floor")
    floor_text = f"; floor {fmt(floor['seconds'])} for {floor['bytes'] / 1e6:.3g} MB" if floor else ""
    print(f"{key} {rec['title']}   [{rec['inputs']}; rtol {_rtol(rec['rtol'])} vs "
          f"{'NumPy float64' if rec['reference'] == 'float64' else 'NumPy'}; median of {rec['repeats']}{per} "
          f"({rec['stopped']}){floor_text}]")
    for name, row in rec["contenders"].items():
        speed, span = row.get("speedup_vs_numpy"), row.get("speedup_range")
        speed = f"{speed:.2f}x [{span[0]:.2f}-{span[1]:.2f}]" if speed else "—"
        spread = f"[{fmt(row['min_s'])}-{fmt(row['max_s'])}]" if "min_s" in row else ""
        pct = f"{row['pct_of_floor']:.0f}%" if row.get("pct_of_floor") is not None else "—"
        print(ROW.format(name, fmt(row.get("first_call_s")), fmt(row.get("median_s")), spread, speed, pct,
                         agree_text(row)))
        if "calls_s" in row:
            print("      calls 1..10: " + " ".join(fmt(t) for t in row["calls_s"]))
    sys.stdout.flush()


def print_new_process(np_rec):
    def row(name, first, agree):  # a first call only: no median, spread, ratio or floor
        print(ROW.format(name, first, "", "", "", "", agree))
    if "error" in np_rec:
        row("gj traced, new process", "failed", "NO  " + _shorten(np_rec["error"]))
        return
    agree = "yes" if np_rec["agrees"] else "NO"
    row("gj traced, new process, cold cache", fmt(np_rec["cold_s"]),
        agree + "  (first result after import numba; fresh cache dir)")
    row("gj traced, new process, warm cache", fmt(np_rec["warm_s"]),
        agree + "  (warm-cache first call: 2nd run, same cache dir)")
    if np_rec["latency_elements"] != np_rec["elements"]:
        row(f"  ... warm cache, {_count(np_rec['latency_elements'])} elements", fmt(np_rec["latency_warm_s"]),
            agree + f"  (the same on a small W1: load overhead; median of {np_rec['latency_runs']} processes)")


def _shorten(text, limit=110):
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _rtol(rtol):
    mantissa, exponent = f"{rtol:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def print_footer(results):
    scaled = results["settings"]["size_scale"] != 1
    print(f"\ntargets (graphjit traced, ratios from this run{'; sizes scaled, so not comparable' if scaled else ''}):")
    for t in results["targets"]:
        verdict = "not judged" if t["met"] is None else "met" if t["met"] else "not met"
        print(f"  {t['name']:<50} {t['target']:<36} {t['shown']:<38} {verdict}")
    ours = [d for d in results["disagreeing"] if d.startswith("gj ")]
    peers = [d for d in results["disagreeing"] if not d.startswith("gj ")]
    print(f"\ngraphjit results agree with NumPy: {'yes' if not ours else 'NO: ' + ', '.join(ours)}")
    if peers:
        print(f"peers that disagree with NumPy or failed (shown, not judged): {', '.join(peers)}")
    if results["missing_peers"]:
        print(f"requested peers not installed: {', '.join(results['missing_peers'])}")
    print(f"total run time: {results['total_time_s']:.1f} s")


def plot(results, path, plt):
    """Two panels: each contender's paired speed-up vs NumPy (bars, with the min-max of its per-repetition
    ratios) and its percentage of the memory floor, per workload."""
    keys = list(results["workloads"])
    names = list(dict.fromkeys(n for k in keys for n in results["workloads"][k]["contenders"]))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(7, 1.1 * len(keys)), 8), sharex=True)
    width = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        rows = [results["workloads"][k]["contenders"].get(name) or {} for k in keys]
        xs = [j + (i - (len(names) - 1) / 2) * width for j in range(len(keys))]
        ys = [row.get("speedup_vs_numpy") or float("nan") for row in rows]
        spans = [row.get("speedup_range") or (y, y) for row, y in zip(rows, ys)]
        errors = [[max(0.0, y - lo) for y, (lo, _) in zip(ys, spans)], [max(0.0, hi - y) for y, (_, hi) in
                                                                         zip(ys, spans)]]
        bars = top.bar(xs, ys, width, yerr=errors, capsize=1.5, label=name)
        pct = [row.get("pct_of_floor") or float("nan") for row in rows]
        bottom.bar(xs, pct, width, color=bars.patches[0].get_facecolor() if bars.patches else None)
        for x, row in zip(xs, rows):
            if row and not row["agrees"]:
                label = "disagrees" if row.get("median_s") else "failed"
                top.annotate(label, (x, 1.0), rotation=90, ha="center", va="bottom", fontsize="x-small")
    for j, k in enumerate(keys):
        target = wl.BY_KEY[k].target_speedup if k in wl.BY_KEY else 0
        if target:
            top.plot([j - 0.4, j + 0.4], [target, target], "k--", lw=1)
    top.axhline(1.0, color="grey", lw=0.8)
    top.set_yscale("log")
    top.set_ylabel("speed-up vs NumPy (paired median,\nmin-max bars; dashed: target)")
    bottom.axhline(100.0, color="grey", lw=0.8)
    bottom.set_ylabel("% of the memory floor\n(bytes moved / triad bandwidth)")
    bottom.set_xticks(range(len(keys)), keys)
    m = results["machine"]
    scale = results["settings"]["size_scale"]
    top.set_title(f"graphjit {results['versions']['graphjit']} on {m['cpu_model']} ({m['cores']} cores), "
                  f"{results['bandwidth']['bytes_per_s'] / 1e9:.1f} GB/s" + ("" if scale == 1 else
                                                                             f", sizes scaled by {scale:g}"))
    top.legend(fontsize="x-small", ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    started = time.perf_counter()
    args = parse_args(argv)
    import graphjit as gj
    try:
        if gj.runtime.devices.parse(args.device).kind != "cpu":
            # (traced calls consult the device; eager ops and the peers run where they always do)
            gj.device(args.device).__enter__()
    except gj.errors.DeviceError as err:
        print(f"python -m graphjit.bench: --device {args.device}: {err}", file=sys.stderr)
        return 2
    if args.keep_cache:
        return run(args, argv, started)
    saved = os.environ.get("GRAPHJIT_CACHE_DIR")
    # A fresh disk cache for this run (graphjit reads the variable on every compile). It is removed when the
    # process exits, not before: kernels loaded from it stay in graphjit's in-memory cache until then.
    fresh = tempfile.mkdtemp(prefix="graphjit-bench-cache-")
    atexit.register(shutil.rmtree, fresh, ignore_errors=True)
    os.environ["GRAPHJIT_CACHE_DIR"] = fresh
    try:
        return run(args, argv, started)
    finally:
        if saved is None:
            os.environ.pop("GRAPHJIT_CACHE_DIR", None)
        else:
            os.environ["GRAPHJIT_CACHE_DIR"] = saved


def run(args, argv, started):
    peers = {p: (args.installed_peers[p] if p in args.peers else None) for p in wl.PEERS}
    results = {"schema": 1, "command": ["python", "-m", "graphjit.bench", *(sys.argv[1:] if argv is None else argv)],
               "settings": {"quick": args.quick, "only": args.only, "size_scale": args.size_scale,
                            "device": args.device,
                            "repeats": args.repeats_big, "repeats_per_call": args.repeats_per_call,
                            "warmup": args.warmup, "peers": args.peers, "keep_cache": args.keep_cache},
               "machine": machine_info(), "versions": versions(), "peers": peers,
               "installed_peers": args.installed_peers, "missing_peers": args.missing_peers,
               "conventions": CONVENTIONS, "workloads": {}}
    args.bandwidth = results["bandwidth"] = _bench_roofline.measure_bandwidth(runs=10 if args.quick else 20)
    print_header(results)
    new_process = None
    for key in args.only:
        if key == "C1":
            print_workload(key, results["workloads"].setdefault(key, measure_warmup(args)))
            continue
        if key in tr.BY_KEY:
            print_workload(key, results["workloads"].setdefault(key, measure_train(tr.BY_KEY[key], args)))
            continue
        rec = results["workloads"][key] = measure_workload(WORKLOADS[key], args)
        print_workload(key, rec)
        if key == "W1":
            elements = rec["input_shapes"]["x"][0]
            new_process = results["new_process_w1"] = new_process_first_calls(
                elements, latency_runs=1 if args.quick else 3)
            print_new_process(new_process)
    results["targets"] = evaluate_targets(results["workloads"], new_process, args.keep_cache)
    disagree = [f"{name} on {key}" + (f" (err/tol {row['err_over_tol']:.3g})" if "err_over_tol" in row else "")
                for key, rec in results["workloads"].items()
                for name, row in rec["contenders"].items() if not row["agrees"]]
    if new_process and not new_process["agrees"]:
        disagree.append("gj traced on W1 in a new process")
    results["disagreeing"] = disagree
    results["all_agree"] = not disagree
    results["graphjit_agrees"] = not [d for d in disagree if d.startswith("gj ")]
    results["total_time_s"] = time.perf_counter() - started
    print_footer(results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    if args.plot:
        plot(results, args.plot, _load_pyplot())
    return 0 if results["graphjit_agrees"] else 1


if __name__ == "__main__":
    sys.exit(main())
