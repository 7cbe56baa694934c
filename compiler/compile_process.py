"""Background compiles in another process, so that they do not hold this process's GIL.

Numba's target set-up, typing and lowering are Python: a cold compile of one 5-op kernel holds the GIL for most
of its ~1 s (2-core machine), and a compile *thread* then starves the calling thread, whose interpreted calls
need the GIL back after every NumPy call (early calls of 0.5-1 s each were measured while such a kernel
compiled, against ~30 ms for NumPy eager). So the compile thread hands the source to a compile server
(compiler.compile_server), which compiles it into the disk cache (compiler.cache, which takes its file lock and
writes the manifest) on the other core; the compile thread waits without holding the GIL, then loads the entry
as any cache hit (tens of milliseconds).

The server is a fresh interpreter started with exec (``subprocess``, which spawns without running this
process's fork handlers), once per process, when the first graph goes to compile. It is never a fork of this
process: a fork while another thread is inside OpenBLAS (the stand-in's or the user's own NumPy matmul) leaves
this process's BLAS thread pool broken, and its next matmul waits for ever (measured: the README's benchmark
hung at its MLP step). It dies when this process closes the pipe to it (exit included); a forked child of this
process starts a server of its own.

Used only where it is safe and useful: on Linux, in graphjit's own compile thread (runtime's pool), with the
disk cache on and writable, for modules whose Numba functions all go to the disk cache and compile no parfor
in the server (two-tier kernels' prange functions compile later, lazily, here). ``GRAPHJIT_COMPILE_PROCESS=0``
turns it off. When the server fails (a typing error, say), runs out of time or cannot start, the caller
compiles in its own thread as before, and an error surfaces from there.
"""
import atexit
import logging
import os
import select
import subprocess
import sys
import threading

CHILD_TIMEOUT_S = 120.0
SERVER_START_TIMEOUT_S = 60.0
log = logging.getLogger("graphjit.compile")
_SERVER_MAIN = "import sys; from graphjit.compiler import compile_server as s; s.main(int(sys.argv[1]), int(sys.argv[2]))"
_COMPILE_THREAD_PREFIX = "graphjit-compile"   # runtime.runtime's compile pool


def enabled():
    return (sys.platform.startswith("linux") and hasattr(os, "fork")
            and os.environ.get("GRAPHJIT_COMPILE_PROCESS", "1").strip().lower() not in ("0", "false", "no", "off"))


def in_compile_thread():
    return threading.current_thread().name.startswith(_COMPILE_THREAD_PREFIX)


def compile_into_cache(source, name_hint, timeout=CHILD_TIMEOUT_S):
    """Compiles ``source`` into the disk cache in the compile server; True when the entry is there now (then
    ``cache.load_module(source)`` is a hit), False when the compile failed, timed out or found no server."""
    from . import cache
    server = _the_server()
    if server is None:
        return False
    done = server.compile(source, name_hint, timeout)
    return done and cache.has_entry(source)


def start_server():
    """Starts this process's compile server in the background if it will be wanted (no wait)."""
    from . import cache
    if enabled() and cache.enabled():
        _the_server()


def _the_server():
    global _server
    with _server_lock:
        if _server is not None and not _server.usable():
            _server.close()
            _server = None
        if _server is None and not _broken:
            _server = _Server.start()
        return _server


class _Server:
    """This process's end of the compile server: its process and the two pipes."""

    def __init__(self, process, requests, replies):
        self.process, self.requests, self.replies = process, requests, replies
        self.owner = os.getpid()
        self.ready = False
        self.failed = False
        self.lock = threading.Lock()    # one conversation at a time

    @classmethod
    def start(cls):
        global _broken
        if not sys.executable:
            _broken = True
            return None
        request_read, request_write = os.pipe()
        reply_read, reply_write = os.pipe()
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                   PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", _SERVER_MAIN, str(request_read), str(reply_write)],
                pass_fds=(request_read, reply_write), env=env, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)
        except OSError as err:
            log.debug("no compile server: %s", err)
            _broken = True
            for fd in (request_read, request_write, reply_read, reply_write):
                os.close(fd)
            return None
        os.close(request_read)
        os.close(reply_write)
        return cls(process, request_write, reply_read)

    def usable(self):
        return not self.failed and self.owner == os.getpid() and self.process.poll() is None

    def compile(self, source, name_hint, timeout):
        from . import compile_server
        with self.lock:
            if not self.usable():
                return False
            try:
                if not self.ready:
                    if self._reply(SERVER_START_TIMEOUT_S) != compile_server.READY:
                        return self._fail("it did not start")
                    self.ready = True
                compile_server.write_message(self.requests, {
                    "source": source, "name_hint": name_hint, "timeout": timeout,
                    "env": compile_server.relevant_env(os.environ)})
                reply = self._reply(timeout + SERVER_START_TIMEOUT_S)
            except OSError as err:
                return self._fail(str(err))
            if reply not in (compile_server.OK, compile_server.FAILED):
                return self._fail("it stopped answering")
            return reply == compile_server.OK

    def _reply(self, timeout):
        ready, _, _ = select.select([self.replies], [], [], timeout)   # (the GIL is free meanwhile)
        return os.read(self.replies, 1) if ready else None

    def _fail(self, why):
        log.debug("compile server dropped: %s", why)
        self.failed = True
        return False

    def close(self):
        if self.owner == os.getpid() and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for fd in (self.requests, self.replies):
            try:
                os.close(fd)
            except OSError:
                pass


def _forget_server_after_fork():
    """A forked child must not talk to its parent's server (their messages would interleave): it drops the
    handle, closing only its own copies of the pipes, and starts a server of its own when it needs one."""
    global _server, _server_lock
    _server_lock = threading.Lock()
    server, _server = _server, None
    if server is not None:
        _parents_servers.append(server)   # (not collected: the parent's process is not ours to wait for)
        for fd in (server.requests, server.replies):
            try:
                os.close(fd)
            except OSError:
                pass


_server = None
_server_lock = threading.Lock()
_broken = False      # starting one failed in this process: do not try again
_parents_servers = []


@atexit.register
def _stop_server():
    # (its compile child, if any, finishes its entry or leaves a torn one, which the cache rebuilds)
    if _server is not None:
        _server.close()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_server_after_fork)
