"""The targets of ``python -m graphjit.bench`` and their verdicts: met / not met, or not judged where the row
compared against is a peer that failed or disagrees with NumPy. Targets never fail the run; a graphjit result
that disagrees with NumPy does (``disagreements``)."""
from statistics import median

from graphjit import _bench_workloads as wl
from graphjit import _bench_train as tr
from graphjit._bench_cli import WORKLOADS
from graphjit._bench_measure import paired_ratios
from graphjit._bench_report import _count, fmt

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


def disagreements(workloads, new_process):
    """"<contender> on <workload>" for every row that disagrees with NumPy or failed."""
    disagree = [f"{name} on {key}" + (f" (err/tol {row['err_over_tol']:.3g})" if "err_over_tol" in row else "")
                for key, rec in workloads.items()
                for name, row in rec["contenders"].items() if not row["agrees"]]
    if new_process and not new_process["agrees"]:
        disagree.append("gj traced on W1 in a new process")
    return disagree
