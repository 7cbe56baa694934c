"""graphjit on Dask vs dask.array with NumPy chunks: W1 and W2 on a dask.distributed LocalCluster, same cluster,
same run, inputs persisted on the workers first (so only the computation is timed).

    W1  exp(-x*x)*y + sin(x)*0.5      elementwise: one blockwise graphjit kernel per chunk (result persisted)
    W2  sum((x-y)**2)                 reduction: per-chunk fused partials, Dask's tree combine (scalar fetched)

Each repetition runs the systems back to back (interleaved), so machine noise hits them alike; the ratio is the
median of the per-repetition ratios. Each result is released (and no worker holds it) before the next run: Dask's
keys are deterministic, so a result still held would be reused instead of computed. The first run of each is a warm-up (graphjit's workers compile, or load
from the disk cache, their kernels then: the workers compile in the foreground here).

    python benchmarks/dask_scale.py [--elements 268435456] [--chunk 16777216] [--workers 2] [--repeats 5]
"""
import argparse
import statistics
import time

import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--elements", type=int, default=256 * 2**20)
    parser.add_argument("--chunk", type=int, default=16 * 2**20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--worker-numba-threads", type=int, default=None,
                        help="NUMBA_NUM_THREADS in the workers' environment (default: unset, so each graphjit "
                             "task runs on OMP_NUM_THREADS=1 thread, as Dask's nanny sets it)")
    parser.add_argument("--worker-recycle-bytes", type=int, default=None,
                        help="GRAPHJIT_DASK_RECYCLE_BYTES in the workers' environment (0: no result buffer reuse)")
    args = parser.parse_args(argv)

    from types import SimpleNamespace

    import dask.array as da
    import distributed

    import graphjit as gj
    from graphjit import _bench_workloads as workloads   # W1 and W2, written once (tests/test_distributed.py too)

    w1 = gj.function(workloads.bind(workloads.w1, workloads.GRAPHJIT))
    w2 = gj.function(workloads.bind(workloads.w2, workloads.GRAPHJIT))
    on_dask = SimpleNamespace(exp=da.exp, sin=da.sin, reduce_sum=lambda v: v.sum(dtype=np.float64))
    contenders = {
        "W1": {"graphjit": lambda x, y: _persisted(w1(x, y)),
               "dask+numpy": lambda x, y: _persisted(workloads.w1(on_dask, x, y))},
        "W2": {"graphjit": lambda x, y: _fetched(w2(x, y)),
               "dask+numpy": lambda x, y: _fetched(workloads.w2(on_dask, x, y))},
    }
    env = {"GRAPHJIT_BACKEND": "cpu", "GRAPHJIT_BACKGROUND_COMPILE": "0"}
    if args.worker_numba_threads is not None:
        env["NUMBA_NUM_THREADS"] = str(args.worker_numba_threads)
    if args.worker_recycle_bytes is not None:
        env["GRAPHJIT_DASK_RECYCLE_BYTES"] = str(args.worker_recycle_bytes)
    cluster = distributed.LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                                       dashboard_address=None, worker_dashboard_address=None,
                                       env=env)
    with distributed.Client(cluster) as client:
        rng = da.random.default_rng(0)
        x = rng.random(args.elements, dtype=np.float32, chunks=args.chunk).persist()
        y = rng.random(args.elements, dtype=np.float32, chunks=args.chunk).persist()
        distributed.wait([x, y])
        print(f"{args.elements / 2**20:.0f}M float32 elements in chunks of {args.chunk / 2**20:.0f}M "
              f"({x.npartitions} chunks), LocalCluster of {args.workers} worker processes x 1 thread")
        for name, systems in contenders.items():
            results = {system: run(x, y) for system, run in systems.items()}   # warm-up, and the check
            if name == "W2":
                ours, theirs = (float(results[s].result()) for s in ("graphjit", "dask+numpy"))
                assert abs(ours - theirs) <= 1e-5 * abs(theirs), (ours, theirs)
            else:
                _check_w1(results["graphjit"], results["dask+numpy"])
            for result in results.values():
                _released(client, result)
            del results
            client.run(gj.wait_for_compilation)   # (and the prange tiers the warm-up scheduled)
            times = {system: [] for system in systems}
            for _ in range(args.repeats):
                for system, run in systems.items():
                    start = time.perf_counter()
                    result = run(x, y)
                    times[system].append(time.perf_counter() - start)
                    _released(client, result)
                    del result
            ratios = [d / g for d, g in zip(times["dask+numpy"], times["graphjit"])]
            print(f"{name}: " + ", ".join(f"{s} {statistics.median(t) * 1e3:.0f} ms (min {min(t) * 1e3:.0f}, max "
                                          f"{max(t) * 1e3:.0f})" for s, t in times.items())
                  + f"; graphjit {statistics.median(ratios):.2f}x faster (median of paired ratios)")
        client.cancel([x, y])
    cluster.close()


def _persisted(lazy):
    import distributed
    result = lazy.persist()
    distributed.wait(result)
    return result


def _fetched(lazy):
    """The scalar computed and brought to the client; the future is returned (to be released, see _released)."""
    import distributed
    future = distributed.get_client().compute(lazy)
    float(future.result())
    return future


def _released(client, result):
    """Releases ``result`` and waits until no worker holds its keys: Dask's names are deterministic, so a result
    still held when the next repetition asks for the same keys would be reused, not computed."""
    import distributed
    from dask.core import flatten
    keys = [result.key] if isinstance(result, distributed.Future) else list(flatten(result.__dask_keys__()))
    client.cancel(result)
    deadline = time.monotonic() + 60
    while any(client.who_has(keys).values()):
        if time.monotonic() > deadline:
            raise RuntimeError("dask_scale: a released result is still held after 60 s")
        time.sleep(0.01)


def _check_w1(ours, theirs):
    """A few chunks compared (float32 within 4 ULP-ish: graphjit's exp/sin differ from NumPy's by <= 2 ULP)."""
    for k in (0, ours.npartitions // 2, ours.npartitions - 1):
        a = ours.blocks[k].compute()
        b = theirs.blocks[k].compute()
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


if __name__ == "__main__":
    main()
