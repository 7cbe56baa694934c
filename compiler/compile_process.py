"""Background compiles in another process, so that they do not hold this process's GIL.

Numba's target set-up, typing and lowering are Python: a cold compile of one 5-op kernel holds the GIL for most
of its ~1 s (2-core machine), and a compile *thread* then starves the calling thread, whose interpreted calls
need the GIL back after every NumPy call (early calls of 0.5-1 s each were measured while such a kernel
compiled, against ~30 ms for NumPy eager). So the compile thread hands the source to a compile server
(compiler.compile_server), which compiles it into the disk cache (compiler.cache, which takes its file lock and
writes the manifest) on the other core; the compile thread waits without holding the GIL, then loads the entry
as any cache hit (tens of milliseconds).

The server starts once per process, when the first gj.function is made (or the first graph goes to compile). Where
this process has only one thread then, it is forked from it: a child with Numba and graphjit imported already (its
warm-up, ~0.2 s, waits for its first request); it points every descriptor it inherited at /dev/null, so it holds
none of the user's files open. Otherwise it is a fresh interpreter started with exec (``subprocess``, which spawns
without running this process's fork handlers; ~1 s to import everything): a fork while another thread is inside
OpenBLAS (the stand-in's or the user's own NumPy matmul) leaves this process's BLAS thread pool broken, and its
next matmul waits for ever (measured: the README's benchmark hung at its MLP step when each compile forked from the
compile thread). The server itself has one thread, so it forks a child per compile safely. It dies when this
process closes the pipe to it (exit included); a forked child of this process starts a server of its own.

Used only where it is safe and useful: on Linux, in graphjit's own compile thread (runtime's pool), with the
disk cache on and writable, for modules whose Numba functions all go to the disk cache and compile no parfor
in the server (two-tier kernels' prange functions compile later, lazily, here). ``GRAPHJIT_COMPILE_PROCESS=0``
turns it off. When the server fails (a typing error, say), runs out of time or cannot start, the caller
compiles in its own thread as before, and an error surfaces from there.
"""
import atexit
import gc
import logging
import os
import select
import signal
import subprocess
import sys
import threading

CHILD_TIMEOUT_S = 120.0
SERVER_START_TIMEOUT_S = 60.0
FORK_MAX_RESIDENT_BYTES = 1 << 30
log = logging.getLogger("graphjit.compile")
_SERVER_MAIN = ("import sys; from graphjit.compiler import compile_server as s; "
                "s.main(int(sys.argv[1]), int(sys.argv[2]))")
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
        request_read, request_write = os.pipe()
        reply_read, reply_write = os.pipe()
        try:
            if _fork_is_safe():
                process = _ForkedServer.start(request_read, reply_write, request_write, reply_read)
            elif sys.executable:
                env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                           PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
                process = subprocess.Popen(
                    [sys.executable, "-c", _SERVER_MAIN, str(request_read), str(reply_write)],
                    pass_fds=(request_read, reply_write), env=env, stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)
            else:
                raise OSError("no Python executable to start")
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
        self.close_pipes()

    def close_pipes(self):
        for fd in (self.requests, self.replies):
            try:
                os.close(fd)
            except OSError:
                pass


def _fork_is_safe():
    """Forking this process is safe when this is its only thread: then no other thread can be inside OpenBLAS
    (or hold any lock), and the fork costs little while the process is small (the child shares its pages: the
    parent's later writes copy them)."""
    if threading.active_count() != 1:
        return False
    try:
        with open("/proc/self/statm") as statm:
            resident_pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return False
    return resident_pages * os.sysconf("SC_PAGE_SIZE") <= FORK_MAX_RESIDENT_BYTES


class _ForkedServer:
    """A compile server forked from this process while it had one thread: it starts with Numba and graphjit imported
    (a warm-up of ~0.2 s at its first request instead of an interpreter's start of ~1 s). The Popen-like face
    that _Server uses: poll, kill, wait."""

    def __init__(self, pid):
        self.pid, self.returncode = pid, None

    @classmethod
    def start(cls, request_read, reply_write, request_write, reply_read):
        pid = os.fork()
        if pid == 0:
            try:
                os.setsid()   # (Ctrl-C in the terminal is for the user's process)
                os.close(request_write)
                os.close(reply_read)
                _release_inherited_files(keep=(request_read, reply_write))
                gc.freeze()   # the parent's objects stay as they are: nothing here collects (and closes) them
                from . import compile_server
                compile_server.main(request_read, reply_write, warm_up_now=False)
            finally:
                os._exit(0)
        return cls(pid)

    def poll(self):
        if self.returncode is None:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def kill(self):
        if self.poll() is None:
            os.kill(self.pid, signal.SIGKILL)

    def wait(self):
        if self.returncode is None:
            self.returncode = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        return self.returncode


def _release_inherited_files(keep):
    """Points every file descriptor the forked server inherited (the user's sockets, pipes and files) at
    /dev/null, so that it holds none of them open for the life of the process. Pointing, not closing: a number
    stays taken, so a stale file object of the parent's can never write into a file that the server opens."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd not in keep and fd != devnull:
            try:
                os.dup2(devnull, fd)
            except OSError:
                pass   # (the listing's own descriptor, closed by now)
    os.close(devnull)


def _forget_server_after_fork():
    """A forked child must not talk to its parent's server (their messages would interleave): it drops the
    handle, closing only its own copies of the pipes, and starts a server of its own when it needs one."""
    global _server, _server_lock
    _server_lock = threading.Lock()
    server, _server = _server, None
    if server is not None:
        _parents_servers.append(server)   # (not collected: the parent's process is not ours to wait for)
        server.close_pipes()


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
