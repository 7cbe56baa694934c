"""What ``python -m graphjit.bench`` shows: its header (machine, versions, conventions), one table per workload,
the new-process first calls, the targets' verdicts, and the --plot figure."""
import sys

from graphjit import _bench_workloads as wl

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
