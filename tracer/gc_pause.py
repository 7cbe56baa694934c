"""Pausing Python's cyclic garbage collector over short, allocation-heavy start-up steps.

With Numba and graphjit imported a process holds ~0.5M long-lived objects, so a full (generation 2)
collection takes 30-40 ms, and the steps that build or load a graph's first compiled code (imports, Numba's
cache load) allocate enough to trigger one at some arbitrary point. Such a pass frees next to nothing there:
the objects are new and live on. Paused, the collector runs later, in one pass, when the program allocates
again. Only steps of tens of milliseconds are wrapped (importing graphjit, loading a cached kernel), never a
compile of seconds. Pauses nest and may overlap between threads: the collector is re-enabled (if it was
enabled before the first pause) when the last one ends.
"""
import contextlib
import gc
import threading

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextlib.contextmanager
def paused_gc():
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
