"""Numba-side hooks of the kernel cache (``graphjit.compiler.cache``), each installed once per process and
active only in the thread executing a stored entry: verified reads of the entry's files, a locator for
read-only directories, and loads without Numba's full target refresh."""
import builtins
import contextlib
import errno
import functools
import io
import logging
import os
import threading

from . import cache_store as store

log = logging.getLogger("graphjit.cache")


# While this thread executes a stored entry, Numba's cache module opens files through verified_open: a file of
# the entry (its name starts with gj_<key>.) is read here, hashed, compared with the manifest and handed over
# as the very bytes hashed (no window for a change between check and use); a file the manifest does not list
# raises Unverified. Other threads and other files are opened as usual. In a read-only directory a locator of
# our own points Numba at the entry's folder (Numba's own would refuse an unwritable __pycache__ and look in
# its user-wide cache instead), and refuses any write there.
_verify = threading.local()
_install_lock = threading.Lock()


class Unverified(Exception):
    """A file that Numba was about to read is not vouched for by the entry's manifest."""


@contextlib.contextmanager
def verified_reads(key, files, module_file, readonly_folder):
    previous = getattr(_verify, "state", None)
    _verify.state = (f"{store.PREFIX}{key}.", files, module_file, readonly_folder)
    try:
        yield
    finally:
        _verify.state = previous


def verified_open(file, mode="r", *args, **kwargs):
    state = getattr(_verify, "state", None)
    if state is not None and mode == "rb" and isinstance(file, (str, os.PathLike)):
        path = os.path.abspath(os.fspath(file))
        name = os.path.basename(path)
        if name.startswith(state[0]):
            digest = state[1].get(path)
            if digest is None:
                raise Unverified(f"Numba asked for {path}, which its manifest does not list")
            try:
                with builtins.open(path, "rb") as f:
                    data = f.read()
            except OSError as exc:
                raise Unverified(f"{name} vanished or became unreadable while it loaded ({exc})") from None
            if store.sha256_bytes(data) != digest:
                raise Unverified(f"{name} changed while it loaded (it no longer matches its manifest)")
            return io.BytesIO(data)
    return builtins.open(file, mode, *args, **kwargs)


@functools.lru_cache(maxsize=None)
def install_verified_reads():
    """True once Numba's cache module opens files through verified_open; False where it reads them some other
    way (then the entry's files are verified only beforehand, and its folders listed for unlisted ones)."""
    try:
        from numba.core import caching
    except ImportError:
        return False
    readers = [getattr(getattr(caching, "IndexDataCacheFile", None), n, None) for n in ("_load_index", "_load_data")]
    if any(getattr(f, "__code__", None) is None or "open" not in f.__code__.co_names for f in readers):
        log.debug("graphjit cache: Numba's cache reads files differently; verifying entries beforehand only")
        return False
    with _install_lock:
        if "open" not in caching.__dict__:
            caching.open = verified_open
    return caching.__dict__.get("open") is verified_open


@functools.lru_cache(maxsize=None)
def install_readonly_locator():
    try:
        from numba.core import caching
    except ImportError:
        return False
    base = getattr(caching, "InTreeCacheLocator", None) or getattr(caching, "_InTreeCacheLocator", None)
    impl = getattr(caching, "CompileResultCacheImpl", None)
    if base is None or not isinstance(getattr(impl, "_locator_classes", None), list):
        return False

    class ReadOnlyEntryLocator(base):
        def __init__(self, py_func, py_file, folder):
            super().__init__(py_func, py_file)
            self._cache_path = folder

        def ensure_cache_path(self):        # called before any write: there is none in a read-only cache
            raise PermissionError(errno.EROFS, "graphjit: read-only cache directory", self._cache_path)

        @classmethod
        def from_function(cls, py_func, py_file):
            state = getattr(_verify, "state", None)
            if state is None or state[3] is None or os.path.abspath(py_file) != state[2]:
                return None
            return cls(py_func, py_file, state[3])

    with _install_lock:
        if not any(getattr(c, "__name__", "") == "ReadOnlyEntryLocator" for c in impl._locator_classes):
            impl._locator_classes = [ReadOnlyEntryLocator] + list(impl._locator_classes)
    return True


# Numba's Cache.load_overload starts with ``target_context.refresh()``: on its first call in a process that imports
# and installs every lowering and typing registry (numba.cpython.*, numba.np.*, ...; measured 0.15-0.2 s), and
# only then reads the index and relinks the stored object code. Relinking needs only the JIT engine, and the NRT
# (its LLVM helpers and C symbols; ~20 ms to set up) for code compiled with it. So while this thread executes a
# stored module, a CPU function cache loads with at most ``rtsys.initialize`` (what the refresh does first). A
# cache miss there compiles, and Numba's compiler refreshes the context itself (CompilerBase.__init__), so
# compiled code never sees a partial context. Other threads, and all Numba code outside these loads, get
# Numba's own method unchanged.
_fast = threading.local()
_fast_install_lock = threading.Lock()


def may_use_nrt(source):
    """False when every Numba function of a module is compiled with ``_nrt=False`` (as the code generator's
    are): its stored code then calls nothing of the NRT, which may stay uninitialised. Code that does use it
    would crash without it, so anything else counts as using it, and so does an entry that takes a random
    Generator (Numba's unboxing of it makes an NRT meminfo for its parent object, whatever ``_nrt`` says) or calls
    back in object mode."""
    if "NumPyRandomGeneratorType" in source or "numba.objmode" in source:
        return True
    decorators = [line for line in source.splitlines() if line.lstrip().startswith("@numba.")]
    return not decorators or not all("_nrt=False" in line for line in decorators)


@contextlib.contextmanager
def fast_numba_loads(nrt=True):
    installed = install_fast_numba_loads()
    previous = getattr(_fast, "active", False), getattr(_fast, "nrt", True)
    _fast.active, _fast.nrt = installed, nrt
    try:
        yield installed
    finally:
        _fast.active, _fast.nrt = previous


@functools.lru_cache(maxsize=None)
def install_fast_numba_loads():
    """Wraps ``numba.core.caching.Cache.load_overload`` once per process; False where Numba's internals differ
    from what this relies on (loads then take Numba's usual path)."""
    try:
        from numba.core import caching
        from numba.core.runtime import rtsys
    except ImportError:
        return False
    cls = caching.Cache
    original = cls.__dict__.get("load_overload")
    if (original is None or not hasattr(cls, "_load_overload") or not hasattr(cls, "_guard_against_spurious_io_errors")
            or not hasattr(rtsys, "initialize") or getattr(caching, "FunctionCache", None) is None):
        log.debug("graphjit cache: Numba's cache internals differ; loading with its full target refresh")
        return False
    if getattr(original, "_graphjit_fast", False):
        return True
    function_cache = caching.FunctionCache

    def load_overload(self, sig, target_context):
        if not getattr(_fast, "active", False) or type(self) is not function_cache:
            return original(self, sig, target_context)
        if getattr(_fast, "nrt", True):
            rtsys.initialize(target_context)
        with self._guard_against_spurious_io_errors():
            return self._load_overload(sig, target_context)

    load_overload._graphjit_fast = True
    load_overload.__wrapped__ = original
    load_overload.__doc__ = original.__doc__
    with _fast_install_lock:
        if not getattr(cls.__dict__.get("load_overload"), "_graphjit_fast", False):
            cls.load_overload = load_overload
    return True
