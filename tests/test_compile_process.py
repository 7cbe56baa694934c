"""Background compiles in a forked child (compiler.compile_process): the child fills the disk cache, the parent
loads the entry; a child that fails leaves nothing behind and the parent compiles (and reports) as before."""
import itertools
import random
import sys
import textwrap

import numpy as np
import pytest

import graphjit as gj
from graphjit.compiler import cache, compile_process
from graphjit.runtime.runtime import get_runtime

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the forked compile is Linux-only")

_constants = itertools.count(random.randrange(10**6) * 1000 + 7)


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    directory = tmp_path / "gjcache"
    monkeypatch.setenv("GRAPHJIT_CACHE_DIR", str(directory))
    monkeypatch.delenv("GRAPHJIT_CACHE", raising=False)
    monkeypatch.delenv("GRAPHJIT_COMPILE_PROCESS", raising=False)
    return directory


def _source(body="x * 2.0 + {const!r}"):
    const = float(next(_constants))
    return textwrap.dedent(f"""\
        import numba


        @numba.njit("float64(float64)", cache=GJ_CACHE, error_model="numpy")
        def entry(x):
            return {body.format(const=const)}
        """), 3.0 * 2.0 + const


def test_the_child_fills_the_cache_and_the_parent_loads_it(cache_dir):
    source, expected = _source()
    assert not cache.has_entry(source)
    assert compile_process.compile_into_cache(source, "test")
    assert cache.has_entry(source)
    before = cache.cache_info()
    module = cache.load_module(source)
    after = cache.cache_info()
    assert module.entry(3.0) == expected
    assert (after.hits, after.misses) == (before.hits + 1, before.misses)   # loaded, not compiled here


def test_a_child_that_fails_leaves_no_entry(cache_dir):
    source, _ = _source("undefined_name(x) + {const!r}")   # a typing error in the child
    assert not compile_process.compile_into_cache(source, "test")
    assert not cache.has_entry(source)


def test_a_child_out_of_time_is_killed(cache_dir):
    source, expected = _source()
    assert not compile_process.compile_into_cache(source, "test", timeout=0.0)
    # (killed mid-write or not, the next load is good: a torn entry is a miss that is rebuilt)
    assert cache.load_module(source).entry(3.0) == expected


def _fresh_function():
    const = float(next(_constants))
    return gj.function(lambda x, y: (x * y + const) * x - y * 0.5), const


def test_background_compiles_go_through_the_child(compiled_background, cache_dir, monkeypatch):
    calls = []
    real = compile_process.compile_into_cache

    def counted(source, name_hint, *args, **kwargs):
        calls.append(name_hint)
        return real(source, name_hint, *args, **kwargs)
    monkeypatch.setattr(compile_process, "compile_into_cache", counted)
    x, y = (np.random.default_rng(3).standard_normal(1 << 12).astype(np.float32) for _ in range(2))
    f, const = _fresh_function()
    expected = (x * y + np.float32(const)) * x - y * np.float32(0.5)
    np.testing.assert_array_equal(f(x, y).numpy(), expected)   # (the stand-in)
    gj.wait_for_compilation()
    np.testing.assert_array_equal(f(x, y).numpy(), expected)   # compiled
    assert "cpu" in get_runtime().executables(f.get_concrete_function(x, y))
    assert len(calls) == 1
    assert cache.cache_info().hits >= 1


def test_no_child_when_turned_off_or_without_a_disk_cache(compiled_background, cache_dir, monkeypatch):
    calls = []
    monkeypatch.setattr(compile_process, "compile_into_cache", lambda *a, **k: calls.append(a) or False)
    x = np.arange(1 << 10, dtype=np.float32)
    for env in ({"GRAPHJIT_COMPILE_PROCESS": "0"}, {"GRAPHJIT_CACHE": "0"}):
        with monkeypatch.context() as m:
            for k, v in env.items():
                m.setenv(k, v)
            f, const = _fresh_function()
            f(x, x)
            gj.wait_for_compilation()
            np.testing.assert_array_equal(f(x, x).numpy(), (x * x + np.float32(const)) * x - x * np.float32(0.5))
    assert calls == []


def test_a_typing_error_still_surfaces_from_the_parent(compiled_background, cache_dir, monkeypatch):
    # the child fails on it, the parent compiles again and raises the CompilationError it always raised
    from graphjit.compiler import cpu
    from graphjit.tracer.errors import CompilationError
    x = np.arange(1 << 10, dtype=np.float32)
    real_module_source = cpu._module_source
    monkeypatch.setattr(cpu, "_module_source", lambda writers: real_module_source(writers) + "\n@numba.njit('void()', cache=GJ_CACHE)\ndef broken():\n    undefined_thing()\n")
    monkeypatch.setattr(gj.config, "on_compile_error", "raise")
    f, _ = _fresh_function()
    f(x, x)
    gj.wait_for_compilation()
    with pytest.raises(CompilationError):
        f(x, x)


def test_background_compiles_never_fork_this_process(compiled_background, cache_dir, monkeypatch):
    # A fork while another thread is inside OpenBLAS broke this process's BLAS pool: its next matmul waited for
    # ever (the README's benchmark hung at its MLP step). So a thread keeps BLAS busy here while functions
    # compile, and this process must not fork at all (the compile server is started with exec).
    import os
    import threading

    forks = []
    real_fork = os.fork
    monkeypatch.setattr(os, "fork", lambda: forks.append(1) or real_fork())
    a = np.random.default_rng(0).standard_normal((256, 256))
    stop, products = threading.Event(), []

    def busy_blas():
        while not stop.is_set():
            products.append(float((a @ a)[0, 0]))
    worker = threading.Thread(target=busy_blas, daemon=True)
    worker.start()
    calls = []
    real = compile_process.compile_into_cache
    monkeypatch.setattr(compile_process, "compile_into_cache",
                        lambda *args, **kwargs: calls.append(1) or real(*args, **kwargs))
    x = np.arange(1 << 10, dtype=np.float32)
    bodies = [lambda x, y: x * y - y, lambda x, y: (x - y) * (x + y), lambda x, y: x * x * y - x]   # 3 kernels
    for body in bodies:
        f = gj.function(body)
        f(x, x + 1)
        gj.wait_for_compilation()
        np.testing.assert_allclose(f(x, x + 1).numpy(), body(x, x + 1), rtol=1e-6)
    stop.set()
    worker.join(timeout=30)
    assert not worker.is_alive(), "a matmul in another thread hung while functions compiled"
    assert products and all(p == products[0] for p in products)
    assert len(calls) == 3 and forks == []


_SINGLE_THREADED_PROGRAM = textwrap.dedent("""\
    import os, select, sys
    import numpy as np
    import graphjit as gj
    from graphjit.compiler import cache, compile_process
    gj.config.compile_in_background = True   # (what users run)
    read_end, write_end = os.pipe()
    f = gj.function(lambda x: x * 3.0 - 1.0)   # the first gj.function: the server starts (forked: one thread)
    server = compile_process._server
    assert type(server.process).__name__ == "_ForkedServer", type(server.process)
    os.close(write_end)   # the server's copy points at /dev/null, so this pipe ends here
    assert select.select([read_end], [], [], 10)[0] and os.read(read_end, 1) == b""
    x = np.arange(1000, dtype=np.float32)
    f(x)
    gj.wait_for_compilation()
    np.testing.assert_array_equal(f(x).numpy(), x * np.float32(3.0) - np.float32(1.0))
    assert cache.cache_info().entries >= 1 and cache.cache_info().hits >= 1   # filled there, loaded here
    print(server.process.pid)
""")


def test_a_single_threaded_process_forks_its_server_which_holds_none_of_its_files(cache_dir, tmp_path):
    import os
    import subprocess
    import time
    env = {**os.environ, "GRAPHJIT_CACHE_DIR": str(cache_dir), "GRAPHJIT_BACKEND": "cpu"}
    done = subprocess.run([sys.executable, "-c", _SINGLE_THREADED_PROGRAM], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    server_pid = int(done.stdout.split()[-1])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:   # the server ends with its process (the pipe to it closes)
        try:
            os.kill(server_pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"compile server {server_pid} outlived its process")
