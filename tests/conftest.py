import os
import sys

# The tracer and runtime tests run traced graphs through the reference interpreter (the oracle), so the
# suite does not compile thousands of tiny kernels; tests/test_cpu_backend.py compiles the same op cases
# in batches and checks the Numba backend against the interpreter. Set GRAPHJIT_BACKEND to override.
os.environ.setdefault("GRAPHJIT_BACKEND", "interpreter")
sys.path.insert(0, os.path.dirname(__file__))
