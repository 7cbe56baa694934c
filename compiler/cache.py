"""Persistent, content-addressed cache of generated kernel modules.

The code generator produces Python source for each optimized graph; ``load_module(source)`` returns the
module that results from executing it. With the cache on, the source is stored as
``<cache dir>/gj_<sha256>.py`` and executed from that file, so the generated ``@numba.njit(...,
cache=GJ_CACHE)`` functions get Numba's own on-disk cache (index ``.nbi`` + data ``.nbc`` files in
``__pycache__``): a new process loads the machine code instead of running LLVM again.

Loading an existing entry skips Numba's full target-context refresh (``_fast_numba_loads``): a cache hit needs
only the NRT and the JIT, not the ~0.15-0.2 s of importing and installing every lowering registry, which Numba
otherwise pays in each new process before its first cached function loads. Anything that compiles (a miss)
still gets the full refresh, from Numba's compiler itself.

Configuration is read from the environment on every call:
  GRAPHJIT_CACHE_DIR        the directory (default ``$XDG_CACHE_HOME/graphjit`` or ``~/.cache/graphjit``)
  GRAPHJIT_CACHE=0          no disk cache: execute from memory, touch no files
  GRAPHJIT_CACHE_MAX_BYTES  size cap (default 512 MiB); least recently used entries are evicted
"""
import collections
import contextlib
import fcntl
import functools
import hashlib
import importlib.util
import logging
import os
import sys
import tempfile
import threading
import time
import types

from graphjit.tracer.errors import CacheError

# Bumped by the code generator whenever the same source could mean different code (e.g. a changed helper
# it injects), so entries from older generators are never reused.
GENERATOR_VERSION = 2
DEFAULT_MAX_BYTES = 512 * 1024 * 1024

log = logging.getLogger("graphjit.cache")

CacheInfo = collections.namedtuple("CacheInfo", "hits misses memory_hits entries bytes directory enabled")

_PREFIX = "gj_"                 # module files are gj_<64 hex>.py; Numba's files start with gj_<64 hex>.
_KEY_LEN = 64
_LOCK_NAME = ".lock"
_TMP_PREFIX = ".tmp-gj_"

_state_lock = threading.Lock()  # guards the dicts below
_loaded = {}                    # key -> module already executed in this process
_key_locks = {}                 # key -> threading.Lock, so two threads never execute the same entry twice
_counts = {"hits": 0, "misses": 0, "memory_hits": 0}


# ---------------------------------------------------------------------------------------------- configuration

def enabled():
    return os.environ.get("GRAPHJIT_CACHE", "1").strip().lower() not in ("0", "false", "no", "off")


def cache_dir():
    path = os.environ.get("GRAPHJIT_CACHE_DIR")
    if not path:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        path = os.path.join(base, "graphjit")
    return os.path.abspath(os.path.expanduser(path))


def max_bytes():
    text = os.environ.get("GRAPHJIT_CACHE_MAX_BYTES")
    if not text:
        return DEFAULT_MAX_BYTES
    try:
        return max(0, int(text))
    except ValueError:
        log.warning("GRAPHJIT_CACHE_MAX_BYTES=%r is not an integer; using %d", text, DEFAULT_MAX_BYTES)
        return DEFAULT_MAX_BYTES


@functools.lru_cache(maxsize=None)
def _fingerprint():
    # Everything besides the source that decides the machine code. Imported lazily: the CLI (info/clear)
    # must not pay for importing Numba.
    import llvmlite.binding as ll
    import numba
    return "\0".join([str(GENERATOR_VERSION), numba.__version__, ll.get_host_cpu_name(),
                      ll.get_host_cpu_features().flatten(), "%d.%d" % sys.version_info[:2]])


def cache_key(source):
    return hashlib.sha256((_fingerprint() + "\0" + source).encode()).hexdigest()


def has_entry(source):
    """Would ``load_module(source)`` find it already executed in this process or stored on disk? A cheap check
    (no lock, no Numba), for deciding whether to wait for a load; an entry may still turn out broken."""
    key = cache_key(source)
    if key in _loaded:
        return True
    if not enabled():
        return False
    return os.path.exists(os.path.join(cache_dir(), f"{_PREFIX}{key}.py"))


# ----------------------------------------------------------------------------------------------- public API

def load_module(source: str, name_hint: str = "kernel") -> types.ModuleType:
    """The module that results from executing ``source`` (with ``GJ_CACHE`` injected), from cache if possible."""
    key = cache_key(source)
    with _state_lock:
        key_lock = _key_locks.setdefault(key, threading.Lock())
    with key_lock:
        module = _loaded.get(key)
        if module is not None:
            _count("memory_hits")
            if enabled() and getattr(module, "__file__", None):
                _touch(module.__file__)     # a use in a long-running process still counts for the LRU order
            return module
        module = None
        if enabled():
            try:
                module = _load_from_disk(source, key, _usable_dir(create=True), name_hint)
            except CacheError:
                raise
            except OSError as exc:          # unwritable disk, full disk, ...: still compile, just uncached
                log.warning("graphjit cache at %s unusable (%s); compiling %s without the disk cache",
                            cache_dir(), exc, name_hint)
        if module is None:
            module = types.ModuleType(_PREFIX + key)
            module.GJ_CACHE = False
            exec(compile(source, f"<graphjit {key[:12]}>", "exec"), module.__dict__)
            _count("misses")                # compiled in this process: nothing came from disk
        _loaded[key] = module
        return module


def cache_info():
    directory = cache_dir()
    scanned = _scan(directory).values() if os.path.isdir(directory) else ()
    entries, size = sum(e[2] for e in scanned), sum(e[1] for e in scanned)
    with _state_lock:
        return CacheInfo(_counts["hits"], _counts["misses"], _counts["memory_hits"], entries, size,
                         directory, enabled())


def clear():
    """Removes every entry from the cache directory; returns how many module files were removed."""
    directory = cache_dir()
    if not os.path.isdir(directory):
        return 0
    _usable_dir(create=False)
    with _flock(directory, exclusive=True):
        scanned = _scan(directory)
        for key, entry in scanned.items():
            _remove_entry(directory, key, entry)
        for name in os.listdir(directory):          # leftovers of writers that died mid-write
            if name.startswith(_TMP_PREFIX):
                _unlink(os.path.join(directory, name))
    return sum(entry[2] for entry in scanned.values())


# ------------------------------------------------------------------------------------------ loading from disk

def _load_from_disk(source, key, directory, name_hint):
    path = os.path.join(directory, f"{_PREFIX}{key}.py")
    # Fast path: an existing entry is executed under a shared lock, so writers (new entries, eviction,
    # clear) cannot delete or replace files while Numba reads them, but readers do not wait for each other.
    # (If Numba finds no machine code for this CPU it compiles and adds to its index under this shared lock;
    # its own writes are atomic renames, so the worst a race can do is drop one index update.)
    with _flock(directory, exclusive=False):
        module, problem = _try_existing(key, path, source)
    if module is None:
        # New or broken entry: build it under the exclusive lock, which also covers Numba writing its index.
        with _flock(directory, exclusive=True):
            if problem is None:     # another process may have built it while we waited for the lock
                module, problem = _try_existing(key, path, source)
            if module is None:
                if problem is not None:
                    log.warning("graphjit cache entry %s for %s is corrupt: %s; rebuilding it",
                                path, name_hint, problem)
                _remove_entry(directory, key)
                _write_atomic(directory, path, source)
                try:
                    module = _exec_file(key, path, source)
                except BaseException:
                    _remove_entry(directory, key)   # never keep an entry that does not load (typing error)
                    raise
                _touch(path)
                _classify(module, key, name_hint, new=True)
                _evict(directory, keep=key)
                return module
    _touch(path)
    _classify(module, key, name_hint, new=False)
    return module


def _try_existing(key, path, source):
    """(module, None) for a good entry, (None, None) for none, (None, what is wrong) for a broken one."""
    stored = _read(path)
    if stored is None:
        return None, None
    if stored != source:
        return None, "stored source is unreadable or differs (truncated or garbled)"
    try:
        with _fast_numba_loads(nrt=_may_use_nrt(source)) as fast:
            return _exec_file(key, path, source), None
    except Exception as exc:                # garbled .nbi/.nbc, or anything else wrong with the entry
        problem = f"failed to load ({type(exc).__name__}: {exc})"
    if fast:
        # Stored code that needs more than the NRT (say, a symbol that one of Numba's registry modules
        # registers on import) loads on Numba's own path; only an entry that fails there too is broken.
        try:
            return _exec_file(key, path, source), None
        except Exception as exc:
            problem = f"failed to load ({type(exc).__name__}: {exc})"
    return None, problem


def _exec_file(key, path, source):
    # Executed from the text we just verified (not re-read by an import loader, so no .pyc to go stale or
    # corrupt), but compiled with the real file name: Numba's cache locator needs an existing source file.
    # The module is registered under a name that depends only on the key *before* executing it, because
    # Numba's cached data re-imports the defining module by name when it rebuilds an environment.
    name = _PREFIX + key
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    module.GJ_CACHE = True
    sys.modules[name] = module
    try:
        exec(compile(source, path, "exec"), module.__dict__)
    except BaseException:
        if sys.modules.get(name) is module:
            del sys.modules[name]
        raise
    return module


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


def _may_use_nrt(source):
    """False when every Numba function of a module is compiled with ``_nrt=False`` (as the code generator's
    are): its stored code then calls nothing of the NRT, which may stay uninitialised. Code that does use it
    would crash without it, so anything else counts as using it."""
    decorators = [line for line in source.splitlines() if line.lstrip().startswith("@numba.")]
    return not decorators or not all("_nrt=False" in line for line in decorators)


@contextlib.contextmanager
def _fast_numba_loads(nrt=True):
    installed = _install_fast_numba_loads()
    previous = getattr(_fast, "active", False), getattr(_fast, "nrt", True)
    _fast.active, _fast.nrt = installed, nrt
    try:
        yield installed
    finally:
        _fast.active, _fast.nrt = previous


@functools.lru_cache(maxsize=None)
def _install_fast_numba_loads():
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


def _classify(module, key, name_hint, new):
    # A hit means no dispatcher in the module had to compile: all machine code came from Numba's disk cache.
    from numba.core.dispatcher import Dispatcher
    hits = misses = 0
    for value in vars(module).values():
        if isinstance(value, Dispatcher):
            hits += sum(value.stats.cache_hits.values())
            misses += sum(value.stats.cache_misses.values())
    hit = not misses if (hits or misses) else not new
    _count("hits" if hit else "misses")
    log.debug("graphjit cache %s: %s (%s)", "hit" if hit else "miss", name_hint, key[:12])


# ------------------------------------------------------------------------------------------- files and locks

def _usable_dir(create):
    """The cache directory, refusing one that another user could tamper with (we execute code from it)."""
    directory = cache_dir()
    if create:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    st = os.stat(directory)             # (a file in the way makes makedirs fail: warned, compiled uncached)
    # A sticky bit does not help: the other user owns the directory and can replace anything in it.
    if st.st_mode & 0o002 and st.st_uid != os.getuid():
        raise CacheError(f"graphjit cache directory {directory} is world-writable and owned by another user "
                         f"(uid {st.st_uid}), so its cached code could be tampered with; set "
                         "GRAPHJIT_CACHE_DIR to a directory of your own or GRAPHJIT_CACHE=0 to disable the cache")
    return directory


@contextlib.contextmanager
def _flock(directory, exclusive):
    # A fresh open file description per use: flock then also excludes other threads of this process.
    fd = os.open(os.path.join(directory, _LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)                        # releases the lock


def _read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        return ""                           # differs from any source: treated as corrupt and rebuilt


def _write_atomic(directory, path, source):
    # Readers see the old file or the complete new one, never a partial one. No fsync: a file torn by a
    # power loss is caught by the source comparison and rebuilt.
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=_TMP_PREFIX, suffix=".py")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(source)
        os.replace(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise


def _touch(path):
    # LRU order is kept in the access time, set explicitly (noatime mounts do not matter). The modification
    # time is left alone: older Numba versions stamp their index with the source file's (mtime, size) and
    # would treat a touched entry as stale.
    with contextlib.suppress(OSError):     # evicted by another process meanwhile: nothing to order
        os.utime(path, ns=(time.time_ns(), os.stat(path).st_mtime_ns))


def _numba_dirs(directory):
    """Where Numba keeps the index/data files of modules in ``directory``."""
    dirs = [os.path.join(directory, "__pycache__")]
    numba_config = getattr(sys.modules.get("numba"), "config", None)
    user_dir = getattr(numba_config, "CACHE_DIR", None) if numba_config else os.environ.get("NUMBA_CACHE_DIR")
    if user_dir:
        # NUMBA_CACHE_DIR moves them to <dir>/<parent name>_<sha1 of the folder>, as numba.core.caching
        # (_CacheLocator.get_suitable_cache_subpath) computes it.
        digest = hashlib.sha1(directory.encode()).hexdigest()
        dirs.append(os.path.join(user_dir, f"{os.path.basename(directory)}_{digest}"))
    return dirs


def _scan(directory):
    """key -> [LRU time, bytes, has module file, paths] for every entry, orphaned Numba files included."""
    entries = {}
    for folder in [directory] + _numba_dirs(directory):
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            key = name[len(_PREFIX):len(_PREFIX) + _KEY_LEN]
            path = os.path.join(folder, name)
            try:
                if not name.startswith(_PREFIX) or len(key) != _KEY_LEN:
                    continue
                st = os.stat(path)
            except OSError:
                continue
            entry = entries.setdefault(key, [0, 0, False, []])  # files without a module file are oldest
            entry[1] += st.st_size
            entry[3].append(path)
            if path == os.path.join(directory, f"{_PREFIX}{key}.py"):
                entry[0], entry[2] = st.st_atime_ns, True
    return entries


def _remove_entry(directory, key, entry=None):
    entry = entry or _scan(directory).get(key, [0, 0, False, []])
    for path in entry[3]:
        _unlink(path)


def _evict(directory, keep):
    limit = max_bytes()
    entries = _scan(directory)
    total = sum(entry[1] for entry in entries.values())
    for key, entry in sorted(entries.items(), key=lambda item: item[1][0]):
        if total <= limit:
            break
        if key != keep:                     # the entry just built stays even if it alone exceeds the cap
            _remove_entry(directory, key, entry)
            total -= entry[1]
            log.debug("graphjit cache evicted %s (%d bytes)", key[:12], entry[1])


def _unlink(path):
    with contextlib.suppress(OSError):     # gone already, or not ours to delete: leave it
        os.unlink(path)


def _count(name):
    with _state_lock:
        _counts[name] += 1
