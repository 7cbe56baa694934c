"""The Numba CPU backend against the reference interpreter: every op case, batched into graphs so that a few
dozen compiled modules cover ~1200 cases."""
import numpy as np
import pytest

import graphjit as gj
from graphjit.compiler.backend import get_backend
from graphjit.runtime import get_runtime

from cases import ALL_CASES
from support import assert_same, batch_function, batched_cases

# Numba's compile time grows faster than a batch (same-shape cases fuse into one loop): the binary-op cases cost
# 33 s of CPU in batches of 60 and 16 s in batches of 20; cases 0-1139 cost 199 s in batches of 60, 133 s in 20s.
BATCH = 20
# Compiled float32 transcendentals are polynomial (<= 4 ULP), sums accumulate in float64 where NumPy
# sums pairwise in float32, and FMA contraction may round once where NumPy rounds twice.
F32_RTOL, F32_ATOL = 2e-5, 1e-6
F64_RTOL, F64_ATOL = 1e-12, 1e-300


BATCHES = batched_cases(ALL_CASES, BATCH)


@pytest.mark.parametrize("index", range(len(BATCHES)), ids=lambda k: f"batch{k}")
def test_compiled_matches_interpreter(index):
    cases = BATCHES[index]
    fn, arrays = batch_function(cases)
    concrete = gj.function(fn).get_concrete_function(*arrays)
    state = get_runtime().state
    expected = get_backend("interpreter").compile(concrete.graph).run(state, arrays)
    compiled = get_backend("cpu").compile(concrete.graph)
    actual = compiled.run(state, arrays)
    assert len(actual) == len(expected)
    for k, (a, e) in enumerate(zip(actual, expected)):
        rtol, atol = (F32_RTOL, F32_ATOL) if e.dtype == np.float32 else (F64_RTOL, F64_ATOL)
        assert_same(a, e, rtol, atol, what=f"output {k} of batch {index}")
