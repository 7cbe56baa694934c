"""Faults of the kernel cache (graphjit.compiler.cache): damaged, foreign, deleted and flipped entries, read-only
and full directories, processes racing to compile, and kernels freed with their function.

Each scenario runs real @gj.function graphs on the compiled backend in fresh processes (subprocesses; the byte
flips in processes forked from one driver, so that 80 of them fit in seconds) with their own
GRAPHJIT_CACHE_DIR, and checks every result against NumPy (float32 kernels against NumPy's float32: rtol 1e-5,
atol 1e-6, a few ULP of the kernels' math library). A fault must cost exactly one logged warning (logger
graphjit.cache) and never a crash or a wrong result; the entry damaged must be whole again afterwards.
"""
import gc
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import weakref

import numpy as np
import pytest

import graphjit as gj
from graphjit.runtime import get_runtime
from graphjit.compiler import cache, cache_store

# Runs the graphs named in argv[1] ("1,2") after the scenario's patch (argv[2]); prints one JSON line.
_CHILD = r"""
import json, logging, os, sys, time
logging.basicConfig(level=logging.WARNING, format="LOGGED %(levelname)s %(name)s %(message)s")
import numpy as np
import graphjit as gj
from graphjit.compiler import cache, cache_store
gj.config.backend = "cpu"
gj.config.compile_in_background = False
exec(sys.argv[2])
GRAPHS = {
    "1": (lambda x: gj.exp(-x * x) * 0.5 + gj.sin(x), lambda x: np.exp(-x * x) * np.float32(0.5) + np.sin(x)),
    "2": (lambda x: gj.nn.relu(x * 3.0 - 1.0) + x, lambda x: np.maximum(x * np.float32(3) - np.float32(1), 0) + x),
    "3": (lambda x: gj.tanh(x) * x - 2.0, lambda x: np.tanh(x) * x - np.float32(2)),
}
x = np.linspace(-2, 2, 37, dtype=np.float32)
ok = True
for name in sys.argv[1].split(","):
    traced, reference = GRAPHS[name]
    out = np.asarray(gj.function(traced)(x))
    ok = ok and out.shape == x.shape and bool(np.allclose(out, reference(x), rtol=1e-5, atol=1e-6))
info = cache.cache_info()
print(json.dumps({"ok": ok, "hits": info.hits, "misses": info.misses, "end": time.time()}))
"""


def _env(directory):
    env = dict(os.environ, GRAPHJIT_CACHE_DIR=str(directory))
    for var in ("GRAPHJIT_CACHE", "NUMBA_CACHE_DIR", "GRAPHJIT_BACKEND", "GRAPHJIT_CACHE_MAX_BYTES"):
        env.pop(var, None)
    return env


_RO_MOUNT = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'


def start(directory, graphs="1", patch="", read_only_mount=False):
    command = [sys.executable, "-c", _CHILD, graphs, patch]
    if read_only_mount:                                # the directory as a read-only file system, for this child
        command = ["unshare", "-m", "sh", "-c", _RO_MOUNT, str(directory)] + command
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(directory), cwd=tempfile.gettempdir())


def finish(proc):
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    report = json.loads(out.strip().splitlines()[-1])
    report["warnings"] = [line for line in err.splitlines() if line.startswith("LOGGED WARNING graphjit")]
    report["stderr"] = err
    assert report["ok"], err[-3000:]                  # every result matches NumPy
    return report


def run(directory, graphs="1", patch="", read_only_mount=False):
    return finish(start(directory, graphs, patch, read_only_mount))


def entry_keys(directory):
    return sorted(p.name[3:67] for p in directory.glob("gj_*.py"))


def assert_valid(directory, count):
    """Every entry has a manifest that vouches for all of its files, and there are ``count`` of them."""
    keys = entry_keys(directory)
    assert len(keys) == count
    for key in keys:
        files, problem = cache_store.read_manifest(str(directory), key)
        assert problem is None, problem
        assert any(p.endswith(".nbi") for p in files) and any(p.endswith(".nbc") for p in files)
        assert cache_store.verify(files, str(directory), key, check_unlisted=True) is None
    assert not [p for p in directory.iterdir() if p.name.startswith(".tmp")]


@pytest.fixture(scope="module")
def warm(tmp_path_factory):
    """A cache directory holding graph 1's entry, built once; tests damage copies of it."""
    directory = tmp_path_factory.mktemp("warm") / "cache"
    report = run(directory)
    assert (report["hits"], report["misses"], report["warnings"]) == (0, 1, [])
    assert_valid(directory, 1)
    return directory


def copy_of(warm, target):
    shutil.copytree(warm, target)
    return target


def _one(directory, pattern):
    (path,) = directory.glob(pattern)
    return path


def _rewrite(pattern, change):
    def damage(directory):
        path = _one(directory, pattern)
        path.write_bytes(change(path.read_bytes()))
    return damage


def _foreign_numba_index(data):
    # An index pickled by another Numba version: the version string leads it.
    import pickle
    version = pickle.loads(data)                       # loads just the first pickle of the stream
    head = pickle.dumps(version, protocol=-1)
    return pickle.dumps("0.1.0", protocol=-1) + data[len(head):]


def _foreign_manifest(data):
    manifest = json.loads(data)
    manifest["key"] = "0" * 64                         # a manifest copied from another entry
    return json.dumps(manifest).encode()


def _remove(pattern):
    def damage(directory):
        _one(directory, pattern).unlink()
    return damage


_DAMAGE = {
    "py-truncated": _rewrite("gj_*.py", lambda d: d[:len(d) // 2]),
    "py-garbage": _rewrite("gj_*.py", lambda d: os.urandom(len(d))),
    "manifest-truncated": _rewrite("gj_*.manifest", lambda d: d[:len(d) // 2]),
    "manifest-garbage": _rewrite("gj_*.manifest", lambda d: os.urandom(len(d))),
    "manifest-missing": _remove("gj_*.manifest"),
    "manifest-foreign": _rewrite("gj_*.manifest", _foreign_manifest),
    "nbi-garbage": _rewrite("__pycache__/gj_*.nbi", lambda d: b"\x80\x04garbage" + os.urandom(64)),
    "nbi-foreign-numba": _rewrite("__pycache__/gj_*.nbi", _foreign_numba_index),
    "nbc-truncated": _rewrite("__pycache__/gj_*.nbc", lambda d: d[:100]),
    "nbc-garbage": _rewrite("__pycache__/gj_*.nbc", lambda d: os.urandom(len(d))),
    "nbc-deleted": _remove("__pycache__/gj_*.nbc"),
}


def test_every_damaged_entry_is_rebuilt_with_one_warning_then_hits(warm, tmp_path):
    dirs = {}
    for name, damage in _DAMAGE.items():
        dirs[name] = copy_of(warm, tmp_path / name)
        damage(dirs[name])
    procs = {name: start(d) for name, d in dirs.items()}          # all at once: they share nothing
    reports = {name: finish(proc) for name, proc in procs.items()}
    for name, report in reports.items():
        assert (report["hits"], report["misses"]) == (0, 1), name
        assert len(report["warnings"]) == 1, (name, report["warnings"])
        assert "rebuilding" in report["warnings"][0], (name, report["warnings"])
        assert_valid(dirs[name], 1)
    procs = {name: start(d) for name, d in dirs.items()}
    for name, proc in procs.items():
        report = finish(proc)
        assert (report["hits"], report["misses"], report["warnings"]) == (1, 0, []), name


def test_entry_of_another_graphjit_version_is_a_plain_miss(warm, tmp_path, monkeypatch):
    # Another generator version (or Numba, CPU, Python) gives another key: the old entry is never looked up.
    directory = copy_of(warm, tmp_path / "cache")
    report = run(directory, patch="cache.GENERATOR_VERSION += 1; cache._fingerprint.cache_clear()")
    assert (report["hits"], report["misses"], report["warnings"]) == (0, 1, [])
    assert_valid(directory, 2)
    assert run(directory)["hits"] == 1                 # the original entry is untouched


_NO_SPACE = "OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))"
_FULL = {
    # our source file, Numba's index/data files, our manifest
    "source": f"import errno\ndef full(*a, **k): raise {_NO_SPACE}\ncache_store.write_atomic = full",
    "numba": ("import errno, numba.core.caching as c\ndef full(self, path): raise " + _NO_SPACE + "\n"
              "c.IndexDataCacheFile._open_for_write = full"),
    "manifest": f"import errno\ndef full(*a, **k): raise {_NO_SPACE}\ncache_store.write_manifest = full",
}


def test_full_disk_compiles_in_memory_with_one_warning(tmp_path):
    procs = {name: start(tmp_path / name, graphs="1,2", patch=patch) for name, patch in _FULL.items()}
    for name, proc in procs.items():
        report = finish(proc)
        assert (report["hits"], report["misses"]) == (0, 2), name
        assert len(report["warnings"]) == 1, (name, report["warnings"])   # once, not once per kernel
        assert "No space left" in report["warnings"][0], name
        directory = tmp_path / name
        assert entry_keys(directory) == [] and not list(directory.glob("gj_*")), name
        assert not list(directory.glob("__pycache__/gj_*")), name
        assert not [p for p in directory.iterdir() if p.name.startswith(".tmp")], name


def _snapshot(directory):
    return sorted((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in directory.rglob("*"))


def _read_only_mounts_work(tmp_path):
    probe = tmp_path / "probe"
    probe.mkdir()
    try:
        done = subprocess.run(["unshare", "-m", "sh", "-c", _RO_MOUNT, str(probe), "touch", str(probe / "x")],
                              capture_output=True, text=True, timeout=30)
    except OSError:
        return False
    return done.returncode != 0 and "Read-only" in done.stderr


def test_read_only_directory_is_read_without_writing(warm, tmp_path):
    directory = copy_of(warm, tmp_path / "cache")
    if os.getuid() == 0:
        # Permissions do not stop root: the processes see the directory as a read-only file system
        mount = _read_only_mounts_work(tmp_path)
        if not mount:
            pytest.skip("root without a private mount namespace (unshare -m) cannot make a read-only directory")
    else:
        mount = False
        for path in [directory / "__pycache__", directory]:
            os.chmod(path, 0o555)
    try:
        before = _snapshot(directory)
        report = run(directory, graphs="1", read_only_mount=mount)
        assert (report["hits"], report["misses"], report["warnings"]) == (1, 0, [])
        report = run(directory, graphs="1,2,3", read_only_mount=mount)     # 2 and 3 are not in it
        assert (report["hits"], report["misses"]) == (1, 2)
        assert len(report["warnings"]) == 1 and "read-only" in report["warnings"][0], report["warnings"]
        assert _snapshot(directory) == before                              # nothing written
        if not mount:
            os.chmod(directory / "__pycache__", 0o755)
        _DAMAGE["nbc-truncated"](directory)
        if not mount:
            os.chmod(directory / "__pycache__", 0o555)
        before = _snapshot(directory)
        report = run(directory, graphs="1", read_only_mount=mount)         # corrupt there: compiled in memory
        assert (report["hits"], report["misses"]) == (0, 1)
        assert len(report["warnings"]) == 1 and "corrupt" in report["warnings"][0], report["warnings"]
        assert _snapshot(directory) == before                              # nothing rebuilt or removed
    finally:
        for path in [directory, directory / "__pycache__"]:
            os.chmod(path, 0o755)


def test_entry_deleted_between_planning_and_load(warm, tmp_path):
    directory = copy_of(warm, tmp_path / "cache")
    patch = """
import shutil
planned = cache.has_entry
def has_entry(source):
    found = planned(source)
    if found:                      # another process clears the cache right after the plan saw the entry
        cache.clear()
    return found
import graphjit.compiler.cpu as cpu
cpu.has_entry = has_entry
"""
    report = run(directory, patch=patch)
    assert (report["hits"], report["misses"]) == (0, 1)
    assert len(report["warnings"]) == 1 and "vanished" in report["warnings"][0], report["warnings"]
    assert_valid(directory, 1)


def test_files_deleted_from_outside_while_the_entry_loads(warm, tmp_path):
    directory = copy_of(warm, tmp_path / "cache")
    patch = """
import glob
checked = cache_store.verify
def verify(files, directory, key, check_unlisted):
    problem = checked(files, directory, key, check_unlisted)
    for path in glob.glob(os.path.join(directory, "__pycache__", "gj_*")):
        os.unlink(path)            # rm -rf by someone else, after the check and before Numba reads
    return problem
cache_store.verify = verify
"""
    report = run(directory, patch=patch)
    assert (report["hits"], report["misses"]) == (0, 1)
    assert len(report["warnings"]) == 1 and "vanished" in report["warnings"][0], report["warnings"]
    assert_valid(directory, 1)


def test_clear_by_another_process_waits_for_a_load_in_progress(warm, tmp_path):
    directory = copy_of(warm, tmp_path / "cache")
    marker = tmp_path / "loading"
    patch = f"""
executed = cache._exec_file
def slow(*args):
    open({str(marker)!r}, "w").close()
    time.sleep(1.5)                # Numba reading the entry, slowly, under the shared lock
    return executed(*args)
cache._exec_file = slow
"""
    loader = start(directory, patch=patch)
    deadline = time.time() + 120
    while not marker.exists():
        assert time.time() < deadline and loader.poll() is None, loader.stderr.read() if loader.poll() else ""
        time.sleep(0.02)
    clear = subprocess.run([sys.executable, "-c", "import time\nfrom graphjit.compiler import cache\n"
                            "print(cache.clear(), time.time())"], capture_output=True, text=True,
                           env=_env(directory), timeout=120)
    assert clear.returncode == 0, clear.stderr
    removed, cleared_at = clear.stdout.split()
    report = finish(loader)
    assert (report["hits"], report["misses"], report["warnings"]) == (1, 0, [])
    assert int(removed) == 1 and float(cleared_at) >= report["end"] - 0.5   # waited for the load to end
    assert entry_keys(directory) == []
    assert run(directory)["misses"] == 1               # a plain miss afterwards, rebuilt


def test_four_processes_compile_into_one_empty_directory_then_a_fifth_only_loads(tmp_path):
    directory = tmp_path / "cache"
    reports = [finish(p) for p in [start(directory, graphs="1,2") for _ in range(4)]]
    assert all(r["warnings"] == [] for r in reports)
    # One process compiles each graph; the others wait for its lock and load its machine code.
    assert sum(r["misses"] for r in reports) == 2 and sum(r["hits"] for r in reports) == 6
    assert_valid(directory, 2)
    fifth = run(directory, graphs="1,2")
    assert (fifth["hits"], fifth["misses"], fifth["warnings"]) == (2, 0, [])


# One process per flip, forked from a driver that has imported graphjit and set up Numba's compiler once.
# For each of 40 positions: a fresh copy of the warm entry with one byte of its .nbc XOR-ed, a process that
# must load (rebuild) it with one warning and right results, then one that must hit it with none.
_FLIPS = r"""
import json, logging, os, random, shutil, sys
import numpy as np
import numba
import graphjit as gj
gj.config.backend = "cpu"
gj.config.compile_in_background = False
numba.njit("float64(float64)")(lambda v: v + 1.0)        # Numba's compiler set up before the forks
records = []
class Keep(logging.Handler):
    def emit(self, record):
        records.append(record.levelname)
logging.getLogger("graphjit").addHandler(Keep())
warm, work, seed, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(seed)
x = np.linspace(-2, 2, 37, dtype=np.float32)
expected = np.exp(-x * x) * np.float32(0.5) + np.sin(x)

def child(w):
    from graphjit.compiler import cache
    out = np.asarray(gj.function(lambda x: gj.exp(-x * x) * 0.5 + gj.sin(x))(x))
    info = cache.cache_info()
    os.write(w, json.dumps({"ok": bool(np.allclose(out, expected, rtol=1e-5, atol=1e-6)), "hits": info.hits,
                            "misses": info.misses, "warnings": records.count("WARNING")}).encode())

results = []
for _ in range(count):
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(warm, work)
    (nbc,) = [os.path.join(work, "__pycache__", n) for n in os.listdir(os.path.join(work, "__pycache__"))
              if n.endswith(".nbc")]
    data = bytearray(open(nbc, "rb").read())
    pos = rng.randrange(len(data))
    data[pos] ^= rng.randrange(1, 256)
    open(nbc, "wb").write(bytes(data))
    for phase in ("flipped", "after"):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            try:
                child(w)
                code = 0
            except BaseException:
                import traceback
                traceback.print_exc()
                code = 3
            os._exit(code)
        os.close(w)
        chunks = []
        while True:
            chunk = os.read(r, 65536)
            if not chunk:
                break
            chunks.append(chunk)
        os.close(r)
        _, status = os.waitpid(pid, 0)
        report = json.loads(b"".join(chunks) or b"{}")
        results.append(dict(report, pos=pos, size=len(data), phase=phase, status=status))
print(json.dumps(results))
"""


def test_byte_flips_in_a_cached_nbc_never_reach_numba(warm, tmp_path):
    proc = subprocess.run([sys.executable, "-c", _FLIPS, str(warm), str(tmp_path / "work"), "18", "40"],
                          capture_output=True, text=True, env=_env(tmp_path / "work"), timeout=600,
                          cwd=tempfile.gettempdir())
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(results) == 80
    crashed = [r for r in results if r["status"] != 0]           # a signal or an exception in the process
    assert not crashed, (crashed, proc.stderr[-3000:])
    assert all(r["ok"] for r in results)
    flipped = [r for r in results if r["phase"] == "flipped"]
    assert len({r["pos"] for r in flipped}) > 30                   # positions all over the file
    assert all((r["hits"], r["misses"], r["warnings"]) == (0, 1, 1) for r in flipped), flipped
    after = [r for r in results if r["phase"] == "after"]
    assert all((r["hits"], r["misses"], r["warnings"]) == (1, 0, 0) for r in after), after


def test_deleting_the_directory_under_a_loaded_module_is_harmless(tmp_path, monkeypatch):
    import textwrap
    monkeypatch.setenv("GRAPHJIT_CACHE_DIR", str(tmp_path / "cache"))
    const = random.random()
    source = textwrap.dedent(f"""\
        import numba


        @numba.njit("float64(float64)", cache=GJ_CACHE, error_model="numpy")
        def entry(x):
            return x * 2.0 + {const!r}
        """)
    module = cache.load_module(source)
    shutil.rmtree(tmp_path / "cache")
    assert cache.load_module(source) is module          # still in use: served from memory
    assert module.entry(3.0) == 6.0 + const
    other = cache.load_module(source.replace("2.0", "4.0"))
    assert other.entry(3.0) == 12.0 + const and len(entry_keys(tmp_path / "cache")) == 1


def test_a_dropped_function_frees_its_compiled_graph_module_and_dispatchers(tmp_path, monkeypatch):
    from numba.core.environment import Environment
    monkeypatch.setenv("GRAPHJIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(gj.config, "backend", "cpu")
    monkeypatch.setattr(gj.config, "compile_in_background", False)
    x = np.linspace(-1, 1, 19, dtype=np.float32)
    c = np.float32(random.uniform(1, 2))                 # a graph of its own (the table outlives tests)

    def make_and_drop():
        f = gj.function(lambda x: gj.exp(x) * c - x)
        np.testing.assert_allclose(np.asarray(f(x)), np.exp(x) * c - x, rtol=1e-5, atol=1e-6)
        compiled = get_runtime().executables(f.get_concrete_function(x))["cpu"]
        entries = [step.entry for step in compiled.steps if step.kind == "compiled"]
        assert entries
        key = cache.cache_key(compiled.source)
        return key, [weakref.ref(o) for o in [compiled, compiled.module] + entries]

    before = cache.cache_info()
    for attempt in ("compiled", "loaded"):             # built and stored, then loaded from disk
        key, refs = make_and_drop()
        gc.collect()
        assert [r() for r in refs] == [None] * len(refs), attempt
        assert key not in cache._loaded
        assert not [name for name in Environment._memo if key in name], attempt   # Numba's side freed too
    after = cache.cache_info()
    assert (after.misses - before.misses, after.hits - before.hits) == (1, 1)
    assert after.memory_hits == before.memory_hits     # the second was not served from the dead first
