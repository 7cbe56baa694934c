"""TensorSpec None sizes under gj.device("cuda"), under the CUDA simulator: the function is traced once over
symbolic sizes and the CUDA backend compiles one specialisation per size it meets (compiler/cuda/sized.py), each
equal to the CPU backend's result for that size; device-resident inputs make no copy but the index flag's."""
import numpy as np
import pytest

import graphjit as gj
from graphjit.compiler.cuda import sized
from graphjit.errors import InvalidArgumentError
from graphjit.runtime import get_runtime
from graphjit.tracer.symbolic import graph_symbols

RTOL, ATOL = 2e-5, 1e-6   # float32 sums in a tree order, libdevice math (tests/cuda_sim/test_cuda_backend.py)


@gj.function(input_signature=[gj.TensorSpec([None, 3], gj.float32), gj.TensorSpec([None], gj.int32),
                              gj.TensorSpec([3, 2], gj.float32)])
def sized_step(x, rows, w):
    picked = gj.gather(x, rows) * 2.0                    # [n1, 3]: a kernel over the index tensor's size
    h = gj.nn.relu(gj.matmul(x, w) + 0.5)                # [n0, 2]: the tiled matmul, its epilogue
    return (gj.reduce_sum(picked, axis=0), h, gj.reduce_max(x[1:], axis=1),   # x[1:]: a size n0 - 1
            gj.cond(gj.reduce_sum(x) > 0.0, lambda: x[-1] - 1.0, lambda: x[0] + 1.0))   # control flow: the host


def _inputs(n, m, seed):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, 3)).astype(np.float32), rng.integers(-n, n, size=m).astype(np.int32) % n,
            rng.normal(size=(3, 2)).astype(np.float32))


def test_none_sizes_trace_once_and_compile_per_size_on_the_gpu():
    gj.config.compile_in_background = False
    sizes = [(5, 2), (3, 4), (5, 2), (4, 3)]   # (sizes >= 2: a size of 1 broadcasts, and is traced apart)
    want = [[t.numpy() for t in sized_step(*_inputs(n, m, k))] for k, (n, m) in enumerate(sizes)]   # the CPU
    traces = sized_step.experimental_get_tracing_count()
    for k, (n, m) in enumerate(sizes):
        args = [gj.constant(a).cuda() for a in _inputs(n, m, k)]
        with gj.device("cuda"):
            before = gj.cuda_transfer_stats()
            got = sized_step(*args)
            after = gj.cuda_transfer_stats()
        assert all(t.device == "cuda:0" for t in got)
        if k == 2:   # a size met before: its specialisation runs with no copy but the index flag and the cond's
            # (its operands, the predicate and x twice, go to the host, its result comes back)
            assert (after["to_device"] - before["to_device"], after["to_host"] - before["to_host"]) == (1, 1 + 3)
        for g, w in zip(got, want[k]):
            assert g.shape == w.shape
            np.testing.assert_allclose(g.numpy(), w, rtol=RTOL, atol=ATOL)
    assert sized_step.experimental_get_tracing_count() == traces   # one trace over symbolic sizes, kept
    concrete = sized_step.get_concrete_function(*_inputs(5, 2, 0))
    executable = get_runtime().executables(concrete)["cuda"]
    assert isinstance(executable, sized.SizedCudaGraph) and executable.compiles == 3   # sizes (5, 2), (3, 4), (4, 3)


def test_specialising_binds_every_size_and_refuses_inputs_that_do_not_fit():
    graph = sized_step.get_concrete_function(*_inputs(5, 2, 0)).graph
    concrete = sized.specialised(graph, {"n0": 4, "n1": 6})
    assert graph_symbols(graph) == ["n0", "n1"] and graph_symbols(concrete) == []
    shapes = [tuple(n.type.shape) for n in concrete.nodes if hasattr(n.type, "shape")]
    assert all(type(d) is int for shape in shapes for d in shape)
    executable = sized.SizedCudaGraph(graph, lambda g: None)
    with pytest.raises(InvalidArgumentError, match="does not fit"):
        executable.executable_for([np.zeros((4, 2), np.float32), np.zeros(3, np.int32), np.zeros((3, 2), np.float32)])
