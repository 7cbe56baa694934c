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
import atexit
import json
import os
import shutil
import sys
import tempfile
import time

from graphjit import _bench_workloads as wl
from graphjit import _bench_train as tr
from graphjit import _bench_cli, _bench_roofline
from graphjit._bench_workloads import machine_info, new_process_first_calls, versions
# The parts, each in its module; their names stay importable from here (tests and benchmarks/ use them).
from graphjit._bench_cli import GROUPS, PEER_ALIASES, WORKLOADS, _load_pyplot  # noqa: F401
from graphjit._bench_measure import (SPREAD_TARGET, _time_rows, call_times, check, interleaved,  # noqa: F401
                                     measure_train, measure_warmup, measure_workload, median_and_fastest_ms,
                                     median_seconds, paired_ratios, reference)
from graphjit._bench_report import (CONVENTIONS, ROW, agree_text, fmt, plot, print_footer,  # noqa: F401
                                    print_header, print_new_process, print_workload)
from graphjit._bench_targets import disagreements, evaluate_targets, judge  # noqa: F401


def parse_args(argv):
    """The command line's settings (``graphjit._bench_cli``), with this module's docstring as --help's text."""
    return _bench_cli.parse_args(argv, description=__doc__)


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
    disagree = disagreements(results["workloads"], new_process)
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
