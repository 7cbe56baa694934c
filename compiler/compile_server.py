"""The compile server: a separate Python process that fills the disk cache for compiler.compile_process.

It is forked from the user's process only while that process has a single thread, else started with exec
(compiler.compile_process says why), so it owns no thread of the user's and no lock held by one, and its BLAS
sits idle. That makes forking *it* safe: each request is compiled in a child forked from the server, which has
Numba imported and its target set up already, so a child starts compiling at once, and whatever one compile
leaves behind (memory, a crash) dies with its child.

Protocol, over two pipes: the server writes ``READY`` once it serves (an exec'd one after its warm-up, a forked
one at once: it warms up at its first request); then for each request (a pickled dict:
source, name_hint, env, timeout) it replies one byte, ``OK`` or ``FAILED``. End of file on the request pipe (the
user's process exited or dropped the server) ends the server.
"""
import os
import pickle
import signal
import struct
import time

READY, OK, FAILED = b"R", b"K", b"F"
_LENGTH = struct.Struct("<I")
# The environment that decides where and whether the cache is written: sent with each request, because a
# process may change it after starting its server (tests do).
ENV_PREFIXES = ("GRAPHJIT_", "NUMBA_CACHE_DIR", "XDG_CACHE_HOME", "HOME")


def relevant_env(environ):
    return {k: v for k, v in environ.items() if k.startswith(ENV_PREFIXES)}


def write_message(fd, obj):
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    _write_all(fd, _LENGTH.pack(len(data)) + data)


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_exactly(fd, n):
    chunks, left = [], n
    while left:
        chunk = os.read(fd, left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_message(fd):
    header = _read_exactly(fd, _LENGTH.size)
    if header is None:
        return None
    data = _read_exactly(fd, _LENGTH.unpack(header)[0])
    return None if data is None else pickle.loads(data)


def main(request_fd, reply_fd, warm_up_now=True):
    """Serves requests until the pipe closes. A server forked from the user's process warms up at its first
    request instead (``warm_up_now=False``): then a process whose kernels all come from the disk cache pays
    nothing for it, where a warm-up at start would take CPU from its first calls."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is for the user's process; it ends us by closing the pipe
    if warm_up_now:
        _warm_up()
    _write_all(reply_fd, READY)
    warm = warm_up_now
    while True:
        request = read_message(request_fd)
        if request is None:
            return
        if not warm:
            _warm_up()
            warm = True
        _write_all(reply_fd, OK if _compile_in_child(request) else FAILED)


def _warm_up():
    """Imports what generated modules use and sets up Numba's target once, so every child inherits it."""
    import numba

    from . import blas, cache, flat_view, mathlib, random_numba, row_tile, threads  # noqa: F401 - what generated sources import
    numba.njit("float64(float64)", cache=False)(lambda x: x + 1.0)


def _compile_in_child(request):
    pid = os.fork()   # (safe: this process has one thread)
    if pid == 0:
        code = 1
        try:
            from . import cache
            for key in [k for k in os.environ if k.startswith(ENV_PREFIXES)]:
                del os.environ[key]
            os.environ.update(request["env"])
            cache.load_module(request["source"], name_hint=request["name_hint"])
            code = 0 if cache.has_entry(request["source"]) else 1
        except BaseException:  # noqa: BLE001 - the user's process compiles it again and reports the error
            code = 1
        finally:
            os._exit(code)
    deadline = time.monotonic() + request["timeout"]
    pause = 0.001
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status) == 0
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return False
        time.sleep(pause)
        pause = min(pause * 2, 0.01)
