"""The CUDA backend's kernel modules go through graphjit's disk cache (compiler.cache), under the CUDA simulator: a
graph's source is stored under its content hash with a manifest, found again when the module is no longer in
memory, and rebuilt with a warning when its stored bytes are damaged. (On a GPU numba.cuda stores each kernel's
PTX/cubin per compute capability beside the source, in the same manifest; the simulator compiles nothing, so
tests/test_devices.py checks that the kernels' declared signatures compile to PTX.)"""
import gc
import logging

import numpy as np
import pytest

import graphjit as gj
from graphjit.compiler import cache
from graphjit.compiler.backend import get_backend
from graphjit.compiler.cuda import backend as _cuda_backend  # noqa: F401  (registers it)
from graphjit.runtime import get_runtime


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    directory = tmp_path / "gjcache"
    monkeypatch.setenv("GRAPHJIT_CACHE_DIR", str(directory))
    monkeypatch.delenv("GRAPHJIT_CACHE", raising=False)
    return directory


def _graph_and_input():
    x = np.linspace(-2, 2, 64, dtype=np.float32).reshape(8, 8)
    fn = gj.function(lambda x: gj.exp(-x * x) * 3.0 + gj.transpose(x)[:, :1])
    return fn.get_concrete_function(x).graph, x, np.exp(-x * x) * np.float32(3) + x.T[:, :1]


def _run(graph, x):
    compiled = get_backend("cuda").compile(graph)
    out = compiled.run(get_runtime().state, [x])[0]
    return np.asarray(out.copy_to_host() if hasattr(out, "copy_to_host") else out)


def test_a_cuda_module_is_stored_found_again_and_rebuilt_when_damaged(cache_dir, caplog):
    graph, x, want = _graph_and_input()
    np.testing.assert_allclose(_run(graph, x), want, rtol=2e-6, atol=1e-6)
    (path,) = cache_dir.glob("gj_*.py")
    source = path.read_text()
    assert "simulated" in source.splitlines()[0] and "@cuda.jit(cache=GJ_CACHE)" in source
    assert path.with_suffix(".manifest").exists()
    gc.collect()   # (the module is held weakly, by the compiled graph that used it: now gone)
    before = cache.cache_info()
    np.testing.assert_allclose(_run(graph, x), want, rtol=2e-6, atol=1e-6)
    after = cache.cache_info()
    assert (after.hits, after.misses) == (before.hits + 1, before.misses), "the stored module was not found again"
    path.write_text(source[:-40])   # truncated: its bytes no longer match the manifest
    gc.collect()
    with caplog.at_level(logging.WARNING, logger="graphjit.cache"):
        np.testing.assert_allclose(_run(graph, x), want, rtol=2e-6, atol=1e-6)
    assert any("corrupt" in r.getMessage() for r in caplog.records), caplog.text
    assert path.read_text() == source   # rebuilt whole
