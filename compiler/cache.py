"""Persistent, content-addressed cache of generated kernel modules.

The code generator produces Python source for each optimized graph; ``load_module(source)`` returns the
module that results from executing it. With the cache on, the source is stored as
``<cache dir>/gj_<sha256>.py`` and executed from that file, so the generated ``@numba.njit(...,
cache=GJ_CACHE)`` functions get Numba's own on-disk cache (index ``.nbi`` + data ``.nbc`` files in
``__pycache__``): a new process loads the machine code instead of running LLVM again.

Trust: the cache loads machine code, so nothing reaches Numba unverified. Each entry has a manifest of SHA-256
hashes (``cache_store``); a file whose bytes differ, a file the manifest does not list, or a missing manifest
makes the entry a miss that is removed and rebuilt with one warning, never a load (flipped bytes in a
``.nbc`` used to crash the process in LLVM). While an entry loads, Numba's cache module reads its files
through ``cache_numba.verified_open``, which hands Numba exactly the bytes it has just hashed. A directory
another user could write to is refused (one warning; kernels compile in memory); a read-only one is read
without writing.

Loading an existing entry skips Numba's full target-context refresh (``cache_numba.fast_numba_loads``): a
cache hit needs only the NRT and the JIT, not the ~0.15-0.2 s of importing and installing every lowering
registry, which Numba otherwise pays in each new process before its first cached function loads. Anything
that compiles (a miss) still gets the full refresh, from Numba's compiler itself.

Memory: executed modules are held weakly (by the CompiledGraphs that use them), so a dropped function's
module and dispatchers are freed; a module is in ``sys.modules`` only while it executes.

Configuration is read from the environment on every call:
  GRAPHJIT_CACHE_DIR        the directory (default ``$XDG_CACHE_HOME/graphjit`` or ``~/.cache/graphjit``)
  GRAPHJIT_CACHE=0          no disk cache: execute from memory, touch no files
  GRAPHJIT_CACHE_MAX_BYTES  size cap (default 512 MiB); least recently used entries are evicted
"""
import collections
import contextlib
import functools
import hashlib
import importlib.util
import logging
import os
import sys
import threading
import types
import weakref

from graphjit.tracer.errors import CacheError

from . import cache_store as store
from .cache_numba import Unverified as _Unverified
from .cache_numba import fast_numba_loads as _fast_numba_loads
from .cache_numba import install_readonly_locator as _install_readonly_locator
from .cache_numba import install_verified_reads as _install_verified_reads
from .cache_numba import may_use_nrt as _may_use_nrt
from .cache_numba import verified_reads as _verified_reads

# Bumped by the code generator whenever the same source could mean different code (e.g. a changed helper
# it injects), so entries from older generators are never reused.
GENERATOR_VERSION = 2
# The layout of an entry's files (2: with a manifest). Part of the key, so entries of older layouts are
# plain misses (never looked up again, evicted as least recently used) rather than corrupt ones.
LAYOUT_VERSION = 2
DEFAULT_MAX_BYTES = 512 * 1024 * 1024

log = logging.getLogger("graphjit.cache")

CacheInfo = collections.namedtuple("CacheInfo", "hits misses memory_hits entries bytes directory enabled")

_state_lock = threading.Lock()          # guards the tables below
# key -> module executed in this process, while something (a CompiledGraph) still uses it: weak, so that a
# dropped function's kernels can be freed; two live graphs of the same source share one module.
_loaded = weakref.WeakValueDictionary()
_key_locks = {}                         # key -> [threading.Lock, holders]: one thread executes an entry
_planned = set()                        # keys has_entry answered True for and not loaded since
_warned = set()                         # conditions already warned about in this process
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
        _warn_once(("max_bytes", text), "GRAPHJIT_CACHE_MAX_BYTES=%r is not an integer; using %d", text,
                   DEFAULT_MAX_BYTES)
        return DEFAULT_MAX_BYTES


@functools.lru_cache(maxsize=None)
def _fingerprint():
    # Everything besides the source that decides the machine code. Imported lazily: the CLI (info/clear)
    # must not pay for importing Numba.
    import llvmlite.binding as ll
    import numba
    return "\0".join([str(GENERATOR_VERSION), str(LAYOUT_VERSION), numba.__version__, ll.get_host_cpu_name(),
                      ll.get_host_cpu_features().flatten(), "%d.%d" % sys.version_info[:2]])


def cache_key(source):
    return hashlib.sha256((_fingerprint() + "\0" + source).encode()).hexdigest()


def has_entry(source):
    """Would ``load_module(source)`` find it already executed in this process or stored on disk? A cheap check
    (no lock, no Numba), for deciding whether to wait for a load; an entry may still turn out broken."""
    key = cache_key(source)
    if key in _loaded:
        return True
    if not enabled() or not os.path.exists(store.manifest_path(cache_dir(), key)):
        return False
    with _state_lock:
        _planned.add(key)
    return True


# ----------------------------------------------------------------------------------------------- public API

def load_module(source: str, name_hint: str = "kernel") -> types.ModuleType:
    """The module that results from executing ``source`` (with ``GJ_CACHE`` injected), from cache if possible.
    Faults of the cache (unsafe, read-only or full directory, corrupt entries) are warned about and worked
    around; only errors of the source itself (Numba's typing errors) are raised."""
    key = cache_key(source)
    with _key_lock(key):
        with _state_lock:
            module = _loaded.get(key)
            planned = key in _planned
            _planned.discard(key)
        if module is not None:
            _count("memory_hits")
            if enabled() and getattr(module, "__file__", None):
                store.touch(module.__file__)    # a use in a long-running process still counts for the LRU order
            return module
        if enabled():
            module = _load_cached(source, key, name_hint, planned)
        if module is None:
            namespace = types.ModuleType(store.PREFIX + key)
            namespace.GJ_CACHE = False
            exec(compile(source, f"<graphjit {key[:12]}>", "exec"), namespace.__dict__)
            module = _detach(namespace)
            _count("misses")                    # compiled in this process: nothing came from disk
        with _state_lock:
            _loaded[key] = module
        return module


def cache_info():
    directory = cache_dir()
    scanned = store.scan(directory).values() if os.path.isdir(directory) else ()
    entries, size = sum(e[2] for e in scanned), sum(e[1] for e in scanned)
    with _state_lock:
        return CacheInfo(_counts["hits"], _counts["misses"], _counts["memory_hits"], entries, size,
                         directory, enabled())


def clear():
    """Removes every entry from the cache directory; returns how many module files were removed."""
    directory = cache_dir()
    if not os.path.isdir(directory):
        return 0
    store.check_safe(directory)
    with store.flock(directory, exclusive=True):
        scanned = store.scan(directory)
        for key, entry in scanned.items():
            store.remove_entry(directory, key, entry)
        for name in os.listdir(directory):          # leftovers of writers that died mid-write
            if name.startswith(store.TMP_PREFIX):
                store.unlink(os.path.join(directory, name))
    return sum(entry[2] for entry in scanned.values())


def safety_problem(directory=None):
    """Why the cache directory would be refused (see ``cache_store.check_safe``), or None."""
    directory = directory or cache_dir()
    try:
        if os.path.isdir(directory):
            store.check_safe(directory)
    except (CacheError, OSError) as exc:
        return str(exc)
    return None


@contextlib.contextmanager
def _key_lock(key):
    with _state_lock:
        slot = _key_locks.setdefault(key, [threading.Lock(), 0])
        slot[1] += 1
    try:
        with slot[0]:
            yield
    finally:
        with _state_lock:                       # dropped with its last holder: the table does not grow
            slot[1] -= 1
            if not slot[1]:
                del _key_locks[key]


# ------------------------------------------------------------------------------------------ loading from disk

def _load_cached(source, key, name_hint, planned):
    """The module from the disk cache (loaded, or built and stored), or None: compile it in memory."""
    directory = cache_dir()
    try:
        if not os.path.isdir(directory):
            os.makedirs(directory, mode=0o700, exist_ok=True)
        store.check_safe(directory)
        readonly = not store.writable(directory)
        if not readonly:
            # Made private before Numba makes it with the umask's mode (0o775 under umask 002)
            os.makedirs(os.path.join(directory, "__pycache__"), mode=0o700, exist_ok=True)
        return _load_from_disk(source, key, directory, readonly, name_hint, planned)
    except CacheError as exc:           # unsafe directory: not one file of it is used
        _warn_once(("unsafe", directory), "%s", exc)
    except OSError as exc:              # unwritable or full disk, ...: still compile, just uncached
        _warn_once(("unusable", directory, exc.errno), "graphjit cache at %s unusable (%s); compiling %s and "
                   "kernels hit by the same problem without the disk cache", directory, exc, name_hint)
    return None


def _load_from_disk(source, key, directory, readonly, name_hint, planned):
    path = store.module_path(directory, key)
    # Fast path: an existing entry is executed under a shared lock, so writers (new entries, eviction,
    # clear) cannot delete or replace files while Numba reads them, but readers do not wait for each other.
    with store.flock(directory, exclusive=False, readonly=readonly):
        module, problem = _try_existing(key, path, source, directory, readonly)
    if readonly:                        # never rebuilt there: compiled in memory instead
        if module is None:
            if problem is None:
                _warn_once(("readonly", directory), "graphjit cache directory %s is read-only: its entries are "
                           "loaded, kernels it lacks (here %s) compile in memory and are not stored",
                           directory, name_hint)
            else:                       # this warning says it all: no second one about the directory
                with _state_lock:
                    _warned.add(("readonly", directory))
                log.warning("graphjit cache entry %s for %s is corrupt: %s; the directory is read-only, so it and "
                            "kernels the directory lacks compile in memory", path, name_hint, problem)
            return None
        _classify(module, key, name_hint, new=False)
        return module
    if module is not None:
        if _numba_stats(module)[1]:
            # Numba compiled part of a vouched-for entry (its files moved with NUMBA_CACHE_DIR, say) and
            # wrote files the manifest does not list yet
            with store.flock(directory, exclusive=True):
                store.write_manifest(directory, key)
        store.touch(path)
        _classify(module, key, name_hint, new=False)
        return module
    # New or broken entry: built under the exclusive lock, which also covers Numba writing its files.
    with store.flock(directory, exclusive=True):
        if problem is None:             # another process may have built it while we waited for the lock
            module, problem = _try_existing(key, path, source, directory, readonly)
            if module is not None:
                store.touch(path)
                _classify(module, key, name_hint, new=False)
                return module
        if problem is not None:
            log.warning("graphjit cache entry %s for %s is corrupt: %s; rebuilding it", path, name_hint, problem)
        elif planned:
            log.warning("graphjit cache entry %s for %s vanished after it was found (deleted by another "
                        "process?); compiling it again", path, name_hint)
        store.remove_entry(directory, key)
        store.write_atomic(directory, path, source)
        try:
            module = _exec_file(key, path, source)
        except BaseException:
            store.remove_entry(directory, key)  # never keep an entry that does not load (typing error)
            raise
        try:
            store.write_manifest(directory, key)
        except OSError as exc:          # the module is good; an entry without its manifest is not
            store.remove_entry(directory, key)
            _warn_once(("store", directory, exc.errno), "graphjit cache at %s: could not store %s (%s); it "
                       "runs from memory", directory, name_hint, exc)
            _count("misses")
            return module
        store.touch(path)
        _classify(module, key, name_hint, new=True)
        store.evict(directory, key, max_bytes(), log)
        return module


def _try_existing(key, path, source, directory, readonly):
    """(module, None) for a good entry, (None, None) for none, (None, what is wrong) for a broken one."""
    stored = store.read_text(path)
    if stored is None:
        return None, None
    if stored != source:
        return None, "its stored source is unreadable or differs (truncated or garbled)"
    files, problem = store.read_manifest(directory, key)
    if problem is None:
        # Where Numba's reads go through cache_numba.verified_open, a file the manifest does not list cannot be read;
        # elsewhere the folders are listed to make sure there is none.
        problem = store.verify(files, directory, key, check_unlisted=not _install_verified_reads())
    if problem is not None:
        return None, problem
    folder = None
    if readonly:
        folder = next((os.path.dirname(p) for p in sorted(files) if p.endswith(".nbi")), None)
        if folder is None or not _install_readonly_locator():
            return None, None
    fast = False
    try:
        with _verified_reads(key, files, path, folder), _fast_numba_loads(nrt=_may_use_nrt(source)) as fast:
            return _exec_file(key, path, source), None
    except _Unverified as exc:
        return None, str(exc)
    except Exception as exc:            # garbled in a way its hashes cannot tell, or anything else wrong
        problem = f"failed to load ({type(exc).__name__}: {exc})"
    if fast:
        # Stored code that needs more than the NRT (say, a symbol that one of Numba's registry modules
        # registers on import) loads on Numba's own path; only an entry that fails there too is broken.
        try:
            with _verified_reads(key, files, path, folder):
                return _exec_file(key, path, source), None
        except _Unverified as exc:
            return None, str(exc)
        except Exception as exc:
            problem = f"failed to load ({type(exc).__name__}: {exc})"
    return None, problem


def _exec_file(key, path, source):
    # Executed from the text we just verified (not re-read by an import loader, so no .pyc to go stale or
    # corrupt), but compiled with the real file name: Numba's cache locator needs an existing source file.
    # The module is registered under a name that depends only on the key while it executes, because Numba's
    # cached data re-imports the defining module by name when it rebuilds an environment; not afterwards,
    # or sys.modules would keep every kernel of the process alive.
    name = store.PREFIX + key
    spec = importlib.util.spec_from_file_location(name, path)
    namespace = importlib.util.module_from_spec(spec)
    namespace.GJ_CACHE = True
    sys.modules[name] = namespace
    try:
        exec(compile(source, path, "exec"), namespace.__dict__)
    finally:
        if sys.modules.get(name) is namespace:
            del sys.modules[name]
    return _detach(namespace)


def _detach(namespace):
    """The module handed out: the executed namespace's names, in a module of their own, and the namespace
    itself without the module's Numba functions. Numba can never free a dispatcher whose globals hold it:
    the finalizer Numba registers for it (``weakref.finalize``, a root) holds its overloads, each overload
    its Environment, the Environment those globals. Once compiled (their signatures are explicit, so
    compiling is then disabled), the functions no longer look up their globals, so only the namespace that
    Environments keep loses them; the dispatchers then die with the last CompiledGraph using the module, and
    their finalizer drops what Numba's target context registered for them."""
    from numba.core.dispatcher import Dispatcher
    module = types.ModuleType(namespace.__name__)
    module.__dict__.update(namespace.__dict__)
    globals_ = namespace.__dict__
    for name, value in list(globals_.items()):
        if isinstance(value, Dispatcher) and getattr(value.py_func, "__globals__", None) is globals_:
            del globals_[name]          # helpers imported from graphjit.compiler.mathlib/blas stay
    return module


def _numba_stats(module):
    """(cache hits, cache misses) of the module's Numba functions: a miss is a function Numba compiled."""
    from numba.core.dispatcher import Dispatcher
    hits = misses = 0
    for value in vars(module).values():
        if isinstance(value, Dispatcher):
            hits += sum(value.stats.cache_hits.values())
            misses += sum(value.stats.cache_misses.values())
    return hits, misses


def _classify(module, key, name_hint, new):
    # A hit means no dispatcher in the module had to compile: all machine code came from Numba's disk cache.
    hits, misses = _numba_stats(module)
    hit = not misses if (hits or misses) else not new
    _count("hits" if hit else "misses")
    log.debug("graphjit cache %s: %s (%s)", "hit" if hit else "miss", name_hint, key[:12])


def _forget_locks_after_fork():
    """A forked child (compiler.compile_process) has only the forking thread: a lock another thread held at the
    fork would stay held for ever, so the child starts with fresh ones."""
    global _state_lock
    _state_lock = threading.Lock()
    _key_locks.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_locks_after_fork)


def _warn_once(tag, message, *args):
    """A condition of the directory (unsafe, read-only, full) is warned about once per process, not once per
    kernel; later occurrences are logged at debug level."""
    with _state_lock:
        first = tag not in _warned
        _warned.add(tag)
    log.log(logging.WARNING if first else logging.DEBUG, message, *args)


def _count(name):
    with _state_lock:
        _counts[name] += 1
