"""Background compiles in a forked child process, so that they do not hold this process's GIL.

Numba's target set-up, typing and lowering are Python: a cold compile of one 5-op kernel holds the GIL for most
of its ~1 s (2-core machine), and a compile *thread* then starves the calling thread, whose interpreted calls
need the GIL back after every NumPy call (early calls of 0.5-1 s each were measured while such a kernel
compiled, against ~30 ms for NumPy eager). A child forked from the compile thread has a GIL of its own and runs
on the other core: it compiles the module into the disk cache (compiler.cache, which takes its file lock and
writes the manifest) and exits; the compile thread waits for it without holding the GIL (a sleep between
polls), then loads the entry as any cache hit (tens of milliseconds). The child inherits everything the parent
has imported and set up, Numba included, so it starts at once.

Used only where it is safe and useful: on Linux, in graphjit's own compile thread (runtime's pool), with the
disk cache on and writable, for modules whose Numba functions all go to the disk cache and compile no parfor
in the child (a parallel function that compiles eagerly would set up OpenMP state a forked child cannot trust;
two-tier kernels' prange functions compile later, lazily). ``GRAPHJIT_COMPILE_PROCESS=0`` turns it off. When
the child fails (a typing error, say) or runs out of time, the caller compiles in its own thread as before, and
an error surfaces from there.
"""
import os
import signal
import sys
import threading
import time

CHILD_TIMEOUT_S = 120.0
_COMPILE_THREAD_PREFIX = "graphjit-compile"   # runtime.runtime's compile pool


def enabled():
    return (sys.platform.startswith("linux") and hasattr(os, "fork")
            and os.environ.get("GRAPHJIT_COMPILE_PROCESS", "1").strip().lower() not in ("0", "false", "no", "off"))


def in_compile_thread():
    return threading.current_thread().name.startswith(_COMPILE_THREAD_PREFIX)


def compile_into_cache(source, name_hint, timeout=CHILD_TIMEOUT_S):
    """Compiles ``source`` into the disk cache in a forked child; True when the entry is there now (then
    ``cache.load_module(source)`` is a hit), False when the child failed or timed out (nothing to rely on)."""
    from numba.core.compiler_lock import global_compiler_lock

    from . import cache
    with global_compiler_lock:   # no other thread is inside Numba's compiler (holding its locks) at the fork
        pid = os.fork()
    if pid == 0:   # the child: compile, store, and leave without running the parent's exit handlers
        code = 1
        try:
            cache.load_module(source, name_hint=name_hint)
            code = 0 if cache.has_entry(source) else 1
        except BaseException:  # noqa: BLE001 - the parent compiles it again and reports the error
            code = 1
        finally:
            os._exit(code)
    deadline = time.monotonic() + timeout
    pause = 0.001
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status) == 0 and cache.has_entry(source)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return False
        time.sleep(pause)   # (the GIL is free meanwhile)
        pause = min(pause * 2, 0.01)
