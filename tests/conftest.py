import os
import sys

# The tracer and runtime tests run traced graphs through the reference interpreter (the oracle), so the
# suite does not compile thousands of tiny kernels; tests/test_cpu_backend.py compiles the same op cases
# in batches and checks the Numba backend against the interpreter. Set GRAPHJIT_BACKEND to override.
os.environ.setdefault("GRAPHJIT_BACKEND", "interpreter")
sys.path.insert(0, os.path.dirname(__file__))

# CI runs a fixed set of hypothesis examples (reproducible, never flaky on an unlucky seed); local runs
# explore new random examples each time.
from hypothesis import settings  # noqa: E402

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


import pytest  # noqa: E402


@pytest.fixture
def compiled_background(monkeypatch):
    """The configuration users run: the Numba CPU backend, each new graph compiled in a background thread while
    the reference interpreter answers its first calls. For the lifecycle, concurrency, session and fuzz tests,
    which must see what users see rather than the interpreter the rest of the suite uses by default."""
    import graphjit as gj
    monkeypatch.setattr(gj.config, "backend", "cpu")
    monkeypatch.setattr(gj.config, "compile_in_background", True)
    yield gj
    gj.wait_for_compilation()  # no compile of this test's graphs runs on into the next test
