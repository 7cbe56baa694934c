"""Large single-kernel stages in two tiers: a serial chunk kernel run on Python threads first, the prange kernel later.

Numba compiles a ``parallel=True`` function about three times slower than the same loop serial (parfor
lowering compiles the loop body a second time as a gufunc: ~0.3 s against ~0.09 s per kernel, measured on a
2-core machine), and that difference is most of a cold compile. So a stage that is one large elementwise loop
or one chunked reduction is generated twice (compiler.codegen): a serial function over a range of its outer
loop, ``chunk(*buffers, lo, hi)``, compiled eagerly with the module, and the usual prange function, compiled
lazily. The stage's entry is a ``TwoTierEntry``: until the prange function is ready it splits the outer loop
into one range per thread (Numba's thread count) and runs the chunk kernel on them (it releases the GIL), then
calls ``finish`` (a reduction's combine of its per-chunk partials) once; the upgrade compiles the prange function
in a background thread and swaps it in. Both tiers compute every element and every partial the same way, so
their results are identical bit for bit.

The upgrade only happens on machines with at least ``UPGRADE_MIN_THREADS`` threads. Below that the threaded
tier is the kernel for good: on a 2-core machine it ran as fast as the prange kernel or faster (median of paired
calls, threaded/prange, 4M float32 on a loaded machine: 0.49 elementwise, 0.82 with exp, 0.32 for a sum), and the
prange compile it saves is most of the cold compile (parfor lowering: ~3 s against ~0.85 s for the chunk kernel
on that loaded machine), work that would otherwise compete with the early calls for the two cores and the GIL.
With many threads, submitting one chunk per thread from Python costs more than a prange region (tens of
microseconds), so there the prange tier takes over.
"""
import concurrent.futures
import logging
import os
import threading

log = logging.getLogger("graphjit.compiler")

_pool = None          # runs the chunks besides the caller's own
_upgrades = None      # compiles the prange tier, one at a time (Numba holds a global compiler lock anyway)
_lock = threading.Lock()
_in_flight = []       # upgrade futures not yet waited for (wait_for_upgrades)
UPGRADE_MIN_THREADS = 8   # fewer threads than this: the threaded tier stays (see the module docstring)


def _threads():
    """The calling thread's Numba thread count (``numba.set_num_threads`` is per thread: a Dask worker's task
    threads set 1, graphjit.distributed._tasks), so both tiers use as many threads; before Numba's threading
    layer has started (nothing can have set a count yet) its configured count, without starting the layer."""
    import numba
    from numba.np.ufunc import parallel
    if parallel._is_initialized:
        return numba.get_num_threads()
    return max(1, numba.config.NUMBA_NUM_THREADS)


def _chunk_pool():
    global _pool
    if _pool is None:
        with _lock:
            if _pool is None:
                _pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, _threads() - 1),
                                                              thread_name_prefix="graphjit-chunk")
    return _pool


class TwoTierEntry:
    """A stage entry: ``chunk`` on threads over ``[0, outer)`` (then ``finish``), until ``upgrade`` has swapped
    in ``parallel`` (a lazily compiling Numba dispatcher) compiled for ``signature``."""

    def __init__(self, chunk, outer, parallel, signature, finish=None):
        self.chunk, self.outer, self.finish = chunk, outer, finish
        self.parallel, self.signature = parallel, signature
        self.tier = "threads"
        self._call = self._threaded

    def __call__(self, *args):
        return self._call(*args)

    def _threaded(self, *args):
        n, outer = _threads(), self.outer
        parts = min(n, outer)
        if parts <= 1:
            self.chunk(*args, 0, outer)
        else:
            bounds = [outer * k // parts for k in range(parts + 1)]
            pool = _chunk_pool()
            futures = [pool.submit(self.chunk, *args, bounds[k], bounds[k + 1]) for k in range(1, parts)]
            self.chunk(*args, bounds[0], bounds[1])
            for future in futures:
                future.result()
        if self.finish is not None:
            self.finish(*args)

    def upgrade(self):
        """Compiles (or loads from Numba's cache) the prange tier and makes it the entry. Should that fail,
        the threaded tier stays (same results), and the failure is logged."""
        try:
            try:
                self.parallel.compile(self.signature)
            except ModuleNotFoundError:
                # Numba's cache could not locate the kernel's module (one executed from memory, or outside the
                # thread that loaded it: compiler.cache_numba): compile it without Numba's cache instead
                from numba.core.caching import NullCache
                self.parallel._cache = NullCache()
                self.parallel.compile(self.signature)
            self.parallel.disable_compile()   # as an explicit signature does: other types raise, never compile
        except Exception:  # noqa: BLE001 - the entry still works; say why it stays slower
            log.warning("graphjit: the parallel tier of %s did not compile; its threaded tier stays",
                        getattr(self.parallel, "__name__", "a kernel"), exc_info=True)
            return
        self._call = self.parallel
        self.tier = "prange"


def start_upgrades(module):
    """Schedules the upgrade of every TwoTierEntry of a loaded kernel module (in a background thread)."""
    global _upgrades
    entries = [v for v in vars(module).values() if type(v) is TwoTierEntry and v.tier == "threads"]
    if not entries or not upgrades_enabled():
        return
    with _lock:
        if _upgrades is None:
            _upgrades = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="graphjit-upgrade")
        for entry in entries:
            _in_flight.append(_upgrades.submit(entry.upgrade))


def upgrades_enabled():
    """Whether two-tier entries get their prange tier on this machine (enough threads: module docstring)."""
    return _threads() >= UPGRADE_MIN_THREADS


def wait_for_upgrades():
    """Blocks until every scheduled upgrade has finished; an upgrade's error is raised here."""
    while True:
        with _lock:
            if not _in_flight:
                return
            future = _in_flight.pop(0)
        future.result()


def _forget_threads_after_fork():
    """A forked child has none of its parent's worker threads: its pools start afresh (a copied executor would
    wait forever for threads that do not exist)."""
    global _pool, _upgrades, _lock
    _pool = _upgrades = None
    _lock = threading.Lock()
    _in_flight.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_threads_after_fork)
