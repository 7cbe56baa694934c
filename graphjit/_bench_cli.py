"""The command line of ``python -m graphjit.bench``: what can be picked (groups, workloads, peers) and the settings
each mode implies (repeat counts, time caps, warm-up calls)."""
import argparse

from graphjit import _bench_workloads as wl
from graphjit import _bench_train as tr
from graphjit import _bench_f64, _bench_norm, _bench_powers, _bench_small

GROUPS = {"core": [w.key for w in wl.WORKLOADS], "train": [w.key for w in tr.TRAIN],
          "powers": [w.key for w in _bench_powers.WORKLOADS], "f64": [w.key for w in _bench_f64.WORKLOADS],
          "norm": [w.key for w in _bench_norm.WORKLOADS], "small": [w.key for w in _bench_small.WORKLOADS],
          "warmup": ["C1"]}
WORKLOADS = {w.key: w for w in [*wl.WORKLOADS, *_bench_powers.WORKLOADS, *_bench_f64.WORKLOADS,
                                *_bench_norm.WORKLOADS, *_bench_small.WORKLOADS]}
PEER_ALIASES = {"tf": "tensorflow", "pytorch": "torch"}


def parse_args(argv, description=None):
    """``argv``'s settings; ``description`` is --help's text (graphjit.bench's docstring)."""
    parser = argparse.ArgumentParser(prog="python -m graphjit.bench", description=description,
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
