"""The CUDA backend under Numba's CUDA simulator. NUMBA_ENABLE_CUDASIM must be set before numba.cuda is first
imported, so these tests run in a pytest process of their own (tests/test_devices.py starts it); in the main
suite's process this folder is not collected."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))

if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") in ("", "0"):
    collect_ignore_glob = ["test_*.py"]
