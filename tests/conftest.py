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
