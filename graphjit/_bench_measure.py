"""The measurements of ``python -m graphjit.bench``: each result checked against NumPy, then the contenders timed
interleaved (each repetition starting one contender further along), repeated until their spread is small or a
cap is hit; ratios are paired, repetition by repetition. The timers of the scripts under benchmarks/ too."""
import gc
import time
from statistics import median

import numpy as np

import graphjit as gj

from graphjit import _bench_workloads as wl
from graphjit import _bench_train as tr
from graphjit import _bench_warmup as warmup
from graphjit._bench_report import _count

SPREAD_TARGET = 0.10  # stop repeating once every contender's interquartile range is within 10% of its median


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
