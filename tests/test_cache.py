"""The persistent compile cache (graphjit.compiler.cache): hits, misses, corruption, races, safety, LRU, CLI.

Every test gets its own GRAPHJIT_CACHE_DIR. Sources are tiny one-function modules whose constant differs
per test (the in-process memory of loaded modules outlives a test, so keys must not repeat).
"""
import itertools
import json
import os
import pathlib
import random
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from graphjit.compiler import cache, cache_store

_constants = itertools.count(random.randrange(10**6) * 1000)


def make_source():
    """A new kernel source and the value its entry returns for 3.0."""
    const = float(next(_constants))
    source = textwrap.dedent(f"""\
        import numba


        @numba.njit("float64(float64)", cache=GJ_CACHE, error_model="numpy")
        def entry(x):
            return x * 2.0 + {const!r}
        """)
    return source, 3.0 * 2.0 + const


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    directory = tmp_path / "gjcache"
    monkeypatch.setenv("GRAPHJIT_CACHE_DIR", str(directory))
    monkeypatch.delenv("GRAPHJIT_CACHE", raising=False)
    monkeypatch.delenv("GRAPHJIT_CACHE_MAX_BYTES", raising=False)
    return directory


# Loads one source in a fresh process; prints the result and the cache counters as JSON on stdout and
# logs warnings on stderr.
_CHILD = """
import json, logging, sys
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
from graphjit.compiler import cache
module = cache.load_module(sys.argv[1])
info = cache.cache_info()
print(json.dumps({"result": module.entry(3.0), "hits": info.hits, "misses": info.misses}))
"""


def _start_child(source):
    return subprocess.Popen([sys.executable, "-c", _CHILD, source], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finish_child(proc):
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1]), err


def run_child(source):
    return _finish_child(_start_child(source))


def module_files(directory):
    return sorted(p.name for p in directory.glob("gj_*.py"))


def numba_files(directory, suffix, key=""):
    """Numba's index/data files of the entries in ``directory``, wherever Numba keeps them: its ``__pycache__``,
    or a folder under NUMBA_CACHE_DIR when that is set (cache_store.numba_dirs, which the cache's manifests and
    eviction use); ``key``: one entry's."""
    return sorted(path for folder in cache_store.numba_dirs(str(directory))
                  for path in pathlib.Path(folder).glob(f"gj_{key}*{suffix}"))


def test_same_source_twice_is_one_miss_then_a_memory_hit(cache_dir):
    source, expected = make_source()
    before = cache.cache_info()
    first = cache.load_module(source)
    second = cache.load_module(source)
    after = cache.cache_info()
    assert second is first
    assert first.entry(3.0) == expected
    assert (after.misses - before.misses, after.hits - before.hits) == (1, 0)
    assert after.memory_hits - before.memory_hits == 1
    assert after.entries == 1 and after.bytes > 0 and after.enabled
    assert after.directory == str(cache_dir)
    assert cache_dir.stat().st_mode & 0o777 == 0o700       # created private
    assert module_files(cache_dir) == [f"gj_{cache.cache_key(source)}.py"]
    assert numba_files(cache_dir, ".nbi") and numba_files(cache_dir, ".nbc")


def test_threads_loading_the_same_new_source_share_one_module(cache_dir):
    import threading
    source, expected = make_source()
    before = cache.cache_info()
    modules = []
    threads = [threading.Thread(target=lambda: modules.append(cache.load_module(source))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    after = cache.cache_info()
    assert len(modules) == 3 and all(m is modules[0] for m in modules)
    assert modules[0].entry(3.0) == expected
    assert (after.misses - before.misses, after.memory_hits - before.memory_hits) == (1, 2)


def test_source_that_does_not_compile_raises_and_leaves_no_entry(cache_dir):
    import numba
    source = make_source()[0].replace("x * 2.0", "x.no_such_attribute * 2.0")
    with pytest.raises(numba.core.errors.TypingError):
        cache.load_module(source)
    assert module_files(cache_dir) == [] and not numba_files(cache_dir, "")
    assert f"gj_{cache.cache_key(source)}" not in sys.modules


def test_new_process_with_warm_cache_hits_without_compiling(cache_dir):
    source, expected = make_source()
    cold, _ = run_child(source)
    warm, _ = run_child(source)
    assert cold == {"result": expected, "hits": 0, "misses": 1}
    assert warm == {"result": expected, "hits": 1, "misses": 0}


def _garble_module(directory):
    (path,) = directory.glob("gj_*.py")
    path.write_text(path.read_text()[:-20])          # truncated mid-function


def _garble_index(directory):
    (path,) = numba_files(directory, ".nbi")
    path.write_bytes(b"\x80\x04garbage" + os.urandom(64))


def _truncate_data(directory):
    (path,) = numba_files(directory, ".nbc")
    path.write_bytes(path.read_bytes()[:100])


@pytest.mark.parametrize("damage", [_garble_module, _garble_index, _truncate_data],
                         ids=["module", "nbi", "nbc"])
def test_corrupt_entry_is_rebuilt_with_a_warning(cache_dir, damage):
    source, expected = make_source()
    cache.load_module(source)                          # builds the entry in this process
    damage(cache_dir)
    report, stderr = run_child(source)
    assert report["result"] == expected
    assert report["misses"] == 1                       # rebuilt, not trusted
    assert "WARNING graphjit.cache" in stderr and "corrupt" in stderr, stderr
    (path,) = cache_dir.glob("gj_*.py")
    assert path.read_text() == source                  # the entry is whole again ...
    assert len(numba_files(cache_dir, ".nbi")) == 1
    warm, _ = run_child(source)                        # ... and serves hits
    assert warm == {"result": expected, "hits": 1, "misses": 0}


def test_concurrent_processes_compiling_the_same_source(cache_dir):
    source, expected = make_source()
    procs = [_start_child(source) for _ in range(4)]
    reports = [_finish_child(proc)[0] for proc in procs]
    assert [r["result"] for r in reports] == [expected] * 4
    # The first to take the lock compiles; the others wait for it and load its machine code.
    assert sorted((r["misses"], r["hits"]) for r in reports) == [(0, 1)] * 3 + [(1, 0)]
    assert module_files(cache_dir) == [f"gj_{cache.cache_key(source)}.py"]
    assert len(numba_files(cache_dir, ".nbi")) == 1
    assert not [p for p in cache_dir.iterdir() if p.name.startswith(".tmp")]


def test_disabled_cache_works_and_writes_nothing(cache_dir, monkeypatch):
    monkeypatch.setenv("GRAPHJIT_CACHE", "0")
    source, expected = make_source()
    module = cache.load_module(source)
    assert module.entry(3.0) == expected
    assert module.GJ_CACHE is False
    assert not cache_dir.exists()
    assert cache.cache_info().enabled is False


# (owner uid, group gid, mode, what the warning says): directories another user could write to. Group 65534
# (nogroup) is not a user-private group of root; root's own group "root" is, so 0o770 root:root is accepted.
_UNSAFE = [(65534, 65534, 0o1777, "owned by another user"), (65534, 65534, 0o700, "owned by another user"),
           (0, 0, 0o777, "world-writable"), (0, 65534, 0o770, "writable by group")]


@pytest.mark.parametrize("uid, gid, mode, says", _UNSAFE, ids=["other-1777", "other-700", "ours-777", "group-770"])
def test_directory_another_user_can_write_to_is_refused_with_one_warning(tmp_path, monkeypatch, caplog, uid,
                                                                         gid, mode, says):
    if os.getuid() != 0:
        pytest.skip("needs root to chown a directory to another user or group (65534)")
    directory = tmp_path / "shared"
    directory.mkdir()
    os.chown(directory, uid, gid)
    os.chmod(directory, mode)                          # a sticky bit does not make it safe either
    monkeypatch.setenv("GRAPHJIT_CACHE_DIR", str(directory))
    monkeypatch.delenv("GRAPHJIT_CACHE", raising=False)
    (a, a_expected), (b, b_expected) = make_source(), make_source()
    with caplog.at_level("WARNING", logger="graphjit"):
        assert cache.load_module(a).entry(3.0) == a_expected     # bypassed: compiled in memory
        assert cache.load_module(b).entry(3.0) == b_expected
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1, warnings                # once per directory, not once per kernel
    assert str(directory) in warnings[0] and says in warnings[0]
    assert "GRAPHJIT_CACHE_DIR" in warnings[0] and "GRAPHJIT_CACHE=0" in warnings[0]
    assert list(directory.iterdir()) == []             # not one file written (or read)
    assert says in cache.safety_problem()
    info = subprocess.run([sys.executable, "-m", "graphjit.cache", "info"], capture_output=True, text=True,
                          timeout=60)
    assert info.returncode == 0 and "safety: REFUSED" in info.stdout and says in info.stdout, info.stdout


def test_directory_writable_by_our_private_group_is_used(tmp_path, monkeypatch):
    if os.getuid() != 0:
        pytest.skip("needs root's user-private group 'root'")
    directory = tmp_path / "mine"
    directory.mkdir(mode=0o770)
    os.chown(directory, 0, 0)
    monkeypatch.setenv("GRAPHJIT_CACHE_DIR", str(directory))
    source, expected = make_source()
    assert cache.load_module(source).entry(3.0) == expected
    assert module_files(directory) == [f"gj_{cache.cache_key(source)}.py"]
    assert cache.safety_problem() is None


def test_lru_eviction_keeps_the_recently_used_entry(cache_dir, monkeypatch):
    (a, a_expected), (b, _), (c, c_expected) = make_source(), make_source(), make_source()
    module_a = cache.load_module(a)
    cache.load_module(b)
    one_entry = cache.cache_info().bytes / 2
    assert cache.load_module(a) is module_a            # a use of a: b is now the least recently used
    monkeypatch.setenv("GRAPHJIT_CACHE_MAX_BYTES", str(int(2.5 * one_entry)))
    assert cache.load_module(c).entry(3.0) == c_expected
    key = cache.cache_key
    assert module_files(cache_dir) == sorted(f"gj_{key(s)}.py" for s in (a, c))
    assert not numba_files(cache_dir, ".*", key(b))
    assert all(numba_files(cache_dir, ".nbi", key(s)) and numba_files(cache_dir, ".nbc", key(s)) for s in (a, c))
    assert cache.cache_info().entries == 2
    assert module_a.entry(3.0) == a_expected


def test_command_line_info_and_clear(cache_dir):
    source, _ = make_source()
    cache.load_module(source)

    def cli(command):
        done = subprocess.run([sys.executable, "-m", "graphjit.cache", command], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert numba_files(cache_dir, "")
    info = cli("info")
    assert f"directory: {cache_dir}" in info and "entries: 1" in info and "enabled: True" in info
    assert "safety: ok" in info and "writable: True" in info
    assert "bytes: 0" not in info
    cleared = cli("clear")
    assert "entries: 0" in cleared and "bytes: 0" in cleared
    assert module_files(cache_dir) == []
    assert not numba_files(cache_dir, "")
    assert cache.cache_info().entries == 0


# A warm load in a new process: the stored kernels load without Numba's full target refresh (which imports
# every lowering registry, e.g. numba.np.linalg), give the right results (parallel loops, reductions), and a
# kernel compiled afterwards in the same process still gets the complete context. Code compiled without the
# NRT (as graphjit's kernels are) loads without setting it up; code that uses it gets it.
_WARM_CHILD = """
import json, sys
import numpy as np
from numba.core.runtime import rtsys
from graphjit.compiler import cache
sources = json.loads(sys.argv[1])
results, nrt = [], []
for source in sources[:-1]:
    results.append(cache.load_module(source).entry(np.arange(1 << 14, dtype=np.float32)))
    nrt.append(rtsys._init)
refreshed = "numba.np.linalg" in sys.modules
info = cache.cache_info()
new = cache.load_module(sources[-1]).entry(np.arange(1 << 14, dtype=np.float32))
print(json.dumps({"results": [float(r) for r in results], "refreshed": refreshed, "hits": info.hits,
                  "new": float(new), "misses": cache.cache_info().misses, "nrt": nrt}))
"""


def make_array_sources(count, nrt_free=()):
    """Sources whose entry sums f(x) over a float32 array, and the expected sums: a parallel loop (a Numba
    reduction, which needs the NRT), or for the indices in ``nrt_free`` a serial one compiled without it."""
    out = []
    for k in range(count):
        const = float(next(_constants) % 997)
        flags, loop = ('_nrt=False', "range") if k in nrt_free else ("parallel=True", "numba.prange")
        source = textwrap.dedent(f"""\
            import numba
            import numpy as np


            @numba.njit("float64(float32[::1])", {flags}, cache=GJ_CACHE, error_model="numpy")
            def entry(x):
                acc = 0.0
                for i in {loop}(x.shape[0]):
                    acc += np.exp(np.float32(-1e-4) * x[i]) + np.float32({const!r})
                return acc
            """)
        x = np.arange(1 << 14, dtype=np.float32)
        out.append((source, float(np.sum(np.exp(np.float32(-1e-4) * x).astype(np.float64) + const))))
    return out


def test_warm_process_loads_without_numba_full_refresh_and_still_compiles_new_kernels(cache_dir):
    (a, a_sum), (b, b_sum), (c, c_sum) = make_array_sources(3, nrt_free=(0,))
    proc = subprocess.run([sys.executable, "-c", _WARM_CHILD, json.dumps([a, b, c])], capture_output=True,
                          text=True, timeout=300)         # cold: builds a, b and c
    assert proc.returncode == 0, proc.stderr
    (cache_dir / f"gj_{cache.cache_key(c)}.py").unlink()  # c is compiled again in the warm process
    proc = subprocess.run([sys.executable, "-c", _WARM_CHILD, json.dumps([a, b, c])], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["results"] == pytest.approx([a_sum, b_sum], rel=1e-5)
    assert report["hits"] == 2 and not report["refreshed"]
    assert report["nrt"] == [False, True]
    assert report["new"] == pytest.approx(c_sum, rel=1e-5) and report["misses"] == 1


# The runtime's first call: interpret while a compile runs, but wait for a load from the cache when the
# interpreter would take longer (a fake backend stands in for Numba: it reports the plan, then takes 50 ms).
class _FakeExecutable:
    def run(self, state, arrays):
        return [np.zeros(1, np.float32)]


class _FakeBackend:
    name = "fake-cached"
    reports_plan = True
    cached = True
    prepared = 0

    def compile(self, graph, on_planned=None):
        on_planned(self.cached)
        import time
        time.sleep(0.05)
        return _FakeExecutable()

    def prepare_first_call(self):
        self.prepared += 1


@pytest.fixture
def fake_backend(monkeypatch):
    import graphjit as gj
    from graphjit.compiler import backend as backends
    from graphjit.runtime.runtime import Runtime
    backend = _FakeBackend()
    monkeypatch.setitem(backends._BACKENDS, backend.name, backend)    # unregistered again after the test
    monkeypatch.setattr(gj.config, "backend", backend.name)
    monkeypatch.setattr(gj.config, "compile_in_background", True)
    runtime = Runtime()                                                # a private one: the global stays as is
    yield backend, runtime
    runtime.wait_for_compilation()


@pytest.mark.parametrize("elements, cached, waits", [(1 << 23, True, True), (1 << 23, False, False),
                                                     (64, True, False)],
                         ids=["big-cached", "big-compiling", "small-cached"])
def test_first_call_waits_for_a_cache_load_only_when_the_interpreter_would_be_slower(fake_backend, elements,
                                                                                      cached, waits):
    import graphjit as gj
    backend, runtime = fake_backend
    backend.cached = cached
    f = gj.function(lambda x, y: gj.exp(-x * x) * y + gj.sin(x) * 0.5)
    concrete = f.get_concrete_function(gj.TensorSpec([elements], gj.float32), gj.TensorSpec([elements], gj.float32))
    first = runtime.executable(concrete)
    assert isinstance(first, _FakeExecutable) is waits
    assert backend.prepared == (1 if waits else 0)   # the waiting thread does the first call's set-up
    runtime.wait_for_compilation()
    assert isinstance(runtime.executable(concrete), _FakeExecutable)
