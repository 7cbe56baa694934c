"""Eager ops on cuda:0 under the CUDA simulator (docs/architecture.md, "Devices"): an op on a DeviceTensor, or any
op under ``gj.device("cuda")``, runs as a one-op graph on the CUDA backend (compiled once per op, attributes and
operand types, compiler/cuda/eager.py) and gives a DeviceTensor equal to the CPU eager result; bad input gets the
CPU's error classes; copies are counted. Small arrays and a few cases per op: the simulator runs each GPU thread
as a Python thread."""
import collections
import contextlib

import numpy as np
import pytest

import graphjit as gj
from graphjit.compiler.cuda import eager as cuda_eager
from graphjit.errors import DeviceError, GraphjitError
from graphjit.tracer.tensor import DeviceTensor, EagerTensor

from cases import ALL_CASES
from support import assert_same, flatten_results

# float32 math runs through CUDA's libdevice on a GPU (<= 2 ULP; the simulator computes in float64 and rounds), and
# float sums accumulate in float64 in a tree order rather than sequentially (tests/cuda_sim/test_cuda_backend.py)
F32_RTOL, F32_ATOL = 2e-5, 1e-6
F64_RTOL, F64_ATOL = 1e-12, 1e-300
CASES_PER_OP = 2


def _copies(before):
    after = gj.cuda_transfer_stats()
    return after["to_device"] - before["to_device"], after["to_host"] - before["to_host"]


def _small(case):
    return all(not isinstance(a, np.ndarray) or a.size <= 256 for a in case.args)


def _sampled(cases, with_arrays):
    """The first CASES_PER_OP cases of each op combination (with array arguments, or with none: creation ops)."""
    seen = collections.Counter()
    kept = []
    for case in cases:
        has_arrays = any(isinstance(a, np.ndarray) for a in case.args)
        if has_arrays != with_arrays or not _small(case) or seen[case.ops] >= CASES_PER_OP:
            continue
        seen[case.ops] += 1
        kept.append(case)
    return kept


def _stateless(case):
    return not ({"read_variable", "assign_variable", "assign_add_variable", "assign_sub_variable"} & set(case.ops)
                or any(op.startswith("random") for op in case.ops))


# an eager while_loop is a Python loop (as in TF): its counter starts as the Python 0 and stays a host tensor outside
# a cuda block, so that case runs inside one
_HOST_COUNTER = {"while_loop"}
# gj.convert_to_tensor of a list of NumPy scalars builds its array without an op: a host tensor anywhere
_NO_OP = {"stack-via-convert_to_tensor"}
ARRAY_CASES = _sampled([c for c in ALL_CASES if _stateless(c)], with_arrays=True)
CREATION_CASES = _sampled([c for c in ALL_CASES if _stateless(c) and c.id not in _NO_OP], with_arrays=False)


def _compare(got, want, what):
    assert len(got) == len(want), what
    for k, (g, w) in enumerate(zip(got, want)):
        if not isinstance(w, EagerTensor):   # (a Python value a case returns, e.g. a static shape)
            assert g == w, what
            continue
        assert type(g) is DeviceTensor, f"{what}: result {k} is on {g.device}, not cuda:0"
        w = w.numpy()
        rtol, atol = (F32_RTOL, F32_ATOL) if w.dtype == np.float32 else (F64_RTOL, F64_ATOL)
        assert_same(g.numpy(), w, rtol, atol, what=f"{what}, result {k}")


@pytest.mark.parametrize("case", ARRAY_CASES, ids=lambda c: c.id)
def test_an_op_on_gpu_operands_equals_the_cpu_eager_op(case):
    want = flatten_results(case.fn(*[gj.constant(a) if isinstance(a, np.ndarray) else a for a in case.args],
                                   **case.kwargs))
    with gj.device("cuda") if case.id in _HOST_COUNTER else contextlib.nullcontext():
        got = flatten_results(case.fn(*[gj.constant(a).cuda() if isinstance(a, np.ndarray) else a
                                        for a in case.args], **case.kwargs))
    _compare(got, want, case.id)


@pytest.mark.parametrize("case", CREATION_CASES, ids=lambda c: c.id)
def test_creation_ops_under_a_cuda_block_make_gpu_tensors(case):
    want = flatten_results(case.fn(*case.args, **case.kwargs))
    with gj.device("cuda"):
        got = flatten_results(case.fn(*case.args, **case.kwargs))
    _compare(got, want, case.id)


@pytest.mark.parametrize("make, value, fills", [
    (gj.zeros_like, 0, False), (gj.ones_like, 1, False), (lambda t: gj.zeros_like(t, dtype=gj.int32), 0, False),
    (np.zeros_like, 0, False), (np.ones_like, 1, False), (np.empty_like, 0, True),
    (lambda t: np.full_like(t, 2.5), 2.5, True)],
    ids=["zeros_like", "ones_like", "zeros_like-int32", "np.zeros_like", "np.ones_like", "np.empty_like",
         "np.full_like"])
def test_creation_like_ops_of_a_gpu_tensor_make_gpu_tensors_outside_a_cuda_block(make, value, fills):
    """As in TF and PyTorch, ``zeros_like(t)`` is made on ``t``'s device (the op reads only t's shape); the second
    call reuses the compiled op and copies nothing but a Python fill value."""
    dev = gj.constant(np.arange(6, dtype=np.float32).reshape(2, 3)).cuda()
    want = np.asarray(make(np.arange(6, dtype=np.float32).reshape(2, 3)))
    make(dev)
    before = gj.cuda_transfer_stats()
    got = make(dev)
    assert type(got) is DeviceTensor
    assert _copies(before) == (int(fills), 0)   # (np.full_like's value, 0-d, is the one host operand)
    assert got.dtype.np == want.dtype
    np.testing.assert_array_equal(got.numpy(), np.full((2, 3), value, want.dtype))
    host = make(gj.constant(np.ones((2, 3), np.float32)))
    assert type(host) is EagerTensor   # (a host tensor's: on the host, as before)
    added = gj.cast(got, gj.float32) + dev   # (so no DeviceError mixing it with its source)
    np.testing.assert_array_equal(added.numpy(), np.float32(value) + np.arange(6, dtype=np.float32).reshape(2, 3))


def test_the_tf_user_example_stays_on_the_gpu_with_one_copy_for_the_scalar():
    x = np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4)
    a = gj.constant(x).cuda()
    before = gj.cuda_transfer_stats()
    b = gj.exp(a) * 2 + a
    assert type(b) is DeviceTensor and b.device == "cuda:0" and b.dtype == gj.float32
    assert _copies(before) == (1, 0)   # the Python 2 (a 0-d host operand) copied in; nothing copied back
    np.testing.assert_allclose(b.numpy(), np.exp(x) * np.float32(2) + x, rtol=F32_RTOL, atol=F32_ATOL)


def test_an_eager_loop_compiles_each_op_once():
    x = np.arange(20, dtype=np.float64).reshape(4, 5) / 7
    a = gj.constant(x).cuda()

    def step(v):
        return gj.reduce_sum(gj.tanh(v) * v, axis=1, keepdims=True) - v

    step(a)
    compiles = cuda_eager.COUNTS["compiles"]
    v = a
    want = x
    for _ in range(4):
        v = step(v)
        want = np.sum(np.tanh(want) * want, axis=1, keepdims=True) - want
    assert cuda_eager.COUNTS["compiles"] == compiles, "an eager loop recompiled its ops"
    np.testing.assert_allclose(v.numpy(), want, rtol=F64_RTOL, atol=1e-12)


def test_the_table_of_executables_is_bounded_and_keyed_by_content(monkeypatch):
    monkeypatch.setattr(cuda_eager, "MAX_EXECUTABLES", 3)
    a = gj.constant(np.ones(1, np.float32)).cuda()
    for k in range(5):   # five shapes (1,) ... (5,): five entries, the oldest evicted
        gj.negative(gj.constant(np.ones(k + 1, np.float32)).cuda())
    assert cuda_eager.cached_count() == 3
    compiles = cuda_eager.COUNTS["compiles"]
    gj.negative(gj.constant(np.full(5, 2.0, np.float32)).cuda())   # the newest shape: found by type, not object
    assert cuda_eager.COUNTS["compiles"] == compiles
    np.testing.assert_array_equal(gj.negative(a).numpy(), -np.ones(1, np.float32))   # shape (1,): evicted
    assert cuda_eager.COUNTS["compiles"] == compiles + 1


def test_views_and_copies_of_shape_ops_on_the_gpu_feed_later_ops():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    a = gj.constant(x).cuda()
    t = gj.transpose(a, [2, 0, 1])
    r = gj.reshape(t, [4, 6])
    s = r[1:, ::2]
    out = gj.matmul(s, gj.transpose(s)) + gj.reduce_max(a)
    for tensor in (t, r, s, out):
        assert tensor.device == "cuda:0"
    np.testing.assert_array_equal(r.numpy(), np.transpose(x, [2, 0, 1]).reshape(4, 6))
    sx = np.transpose(x, [2, 0, 1]).reshape(4, 6)[1:, ::2]
    np.testing.assert_allclose(out.numpy(), sx @ sx.T + x.max(), rtol=F32_RTOL)


def test_mixing_a_gpu_tensor_with_a_host_tensor_outside_a_cuda_block_names_both_devices():
    dev = gj.constant(np.ones((2, 3), np.float32)).cuda()
    host = gj.constant(np.ones((2, 3), np.float32))
    for mixed in (lambda: dev * host, lambda: host - dev, lambda: gj.matmul(host, gj.transpose(dev)),
                  lambda: [[1.0, 2.0]] @ dev):   # (a Python list becomes a host tensor before the op sees it)
        with pytest.raises(DeviceError, match=r"an operand is on cuda:0 .* is on cpu:0"):
            mixed()
    before = gj.cuda_transfer_stats()
    scaled = dev * gj.constant(np.float32(3))   # a 0-d host tensor is a scalar operand: copied in (counted)
    assert scaled.device == "cuda:0" and _copies(before) == (1, 0)
    np.testing.assert_array_equal(scaled.numpy(), np.full((2, 3), 3, np.float32))


def test_under_a_cuda_block_host_operands_are_copied_in_and_results_stay_on_the_gpu():
    x = np.arange(6, dtype=np.int32).reshape(2, 3)
    host = gj.constant(x)
    dev = host.cuda()
    before = gj.cuda_transfer_stats()
    with gj.device("cuda"):
        both_host = host + host            # the NumPy shortcut of the operators stands aside in the block
        mixed = dev * host
        assert _copies(before) == (2, 0)   # one host operand per op
    assert type(both_host) is DeviceTensor and type(mixed) is DeviceTensor
    np.testing.assert_array_equal(both_host.numpy(), x + x)
    np.testing.assert_array_equal(mixed.numpy(), x * x)
    after = host + host                    # outside the block: the host, as before
    assert type(after) is EagerTensor


def _beside(t, array):
    """``array`` as a tensor on ``t``'s device."""
    tensor = gj.constant(array)
    return tensor.cuda() if t.device == "cuda:0" else tensor


@pytest.mark.parametrize("bad", [
    lambda t: gj.reshape(t, [5]),
    lambda t: gj.matmul(t, t),
    lambda t: gj.exp(t > 0),
    lambda t: t + _beside(t, np.ones(4, np.float32)),
    lambda t: gj.reduce_sum(t, axis=5),
    lambda t: gj.gather(t, _beside(t, np.array([0, 7], np.int32))),
    lambda t: gj.concat([t, gj.transpose(t)], axis=0),
    lambda t: gj.cast(t, "float16"),
], ids=["reshape-size", "matmul-shapes", "exp-bool", "broadcast", "axis", "gather-range", "concat-shapes", "dtype"])
def test_bad_input_gets_the_cpu_error_class(bad):
    x = np.ones((2, 3), np.float32)
    with pytest.raises(GraphjitError) as on_cpu:
        bad(gj.constant(x))
    with pytest.raises(GraphjitError) as on_gpu:
        bad(gj.constant(x).cuda())
    assert type(on_gpu.value) is type(on_cpu.value), (on_cpu.value, on_gpu.value)


def _loss(x, w):
    return gj.reduce_mean(gj.nn.softmax(gj.matmul(x, w)) * gj.tanh(x[:, :2]))


def test_gradient_tape_over_eager_gpu_ops_inside_a_cuda_block():
    rng = np.random.default_rng(7)
    x, w0 = rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=(3, 2)).astype(np.float32)
    w_host = gj.Variable(w0)
    with gj.GradientTape() as tape:
        tape.watch(xh := gj.constant(x))
        loss = _loss(xh, w_host)
    want = tape.gradient(loss, [xh, w_host])
    w_gpu = gj.Variable(w0, device="cuda")
    with gj.device("cuda"):   # the backward pass's seeds and rule constants are made on the GPU too
        with gj.GradientTape() as tape:
            tape.watch(xd := gj.constant(x).cuda())
            loss_gpu = _loss(xd, w_gpu)
        got = tape.gradient(loss_gpu, [xd, w_gpu])
    assert loss_gpu.device == "cuda:0" and all(g.device == "cuda:0" for g in got)
    np.testing.assert_allclose(loss_gpu.numpy(), loss.numpy(), rtol=F32_RTOL, atol=F32_ATOL)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=F32_RTOL, atol=F32_ATOL)


def test_gradient_tape_outside_a_cuda_block_says_where_to_call_it():
    x = gj.constant(np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)).cuda()
    with gj.GradientTape() as tape:
        tape.watch(x)
        loss = gj.reduce_sum(gj.exp(x) * x)
    assert loss.device == "cuda:0"
    with pytest.raises(DeviceError, match=r"cuda:0.*cpu:0.*call tape.gradient there"):
        tape.gradient(loss, x)   # the seed is made on the host (the tape does not know the device)


def test_control_flow_on_gpu_operands_runs_on_the_host_and_gives_gpu_tensors():
    x = np.linspace(-1, 1, 6, dtype=np.float32)
    f = gj.function(lambda x: gj.cond(gj.reduce_sum(x) > -1.0, lambda: x * 2.0, lambda: x - 1.0))
    xd = gj.constant(x).cuda()
    before = gj.cuda_transfer_stats()
    with gj.GradientTape() as tape:   # (a traced call under a tape runs op by op: the cond op runs eagerly)
        tape.watch(xd)
        y = f(xd)
        loss = gj.reduce_sum(y * y)
    assert _copies(before)[1] >= 1   # the cond's operands copied back to the host, counted
    assert type(y) is DeviceTensor
    np.testing.assert_allclose(y.numpy(), 2 * x, rtol=F32_RTOL)
    with gj.device("cuda"):
        grad = tape.gradient(loss, xd)
    assert grad.device == "cuda:0"
    np.testing.assert_allclose(grad.numpy(), 8 * x, rtol=F32_RTOL, atol=F32_ATOL)


def test_an_op_without_a_cuda_kernel_runs_on_the_host_inside_its_graph_with_counted_copies():
    x = np.array([[2, 1, 2], [1, 1, 0], [0, 2, 1], [2, 0, 1]], np.float32)
    table = gj.constant(x).cuda()
    gj.argsort(table, axis=0)   # (compiled here; an unstable argsort's ties are NumPy's algorithm's: no kernel)
    before = gj.cuda_transfer_stats()
    order = gj.argsort(table, axis=0)
    assert _copies(before) == (1, 1)   # the operand copied back, the result copied in
    assert type(order) is DeviceTensor
    np.testing.assert_array_equal(order.numpy(), np.argsort(x, axis=0).astype(np.int32))


def test_an_eager_scan_on_a_gpu_operand_runs_on_the_gpu():
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    table = gj.constant(x).cuda()
    gj.cumsum(table, axis=0)   # (compiled here)
    before = gj.cuda_transfer_stats()
    sums = gj.cumsum(table, axis=0)
    assert _copies(before) == (0, 0)
    assert type(sums) is DeviceTensor
    np.testing.assert_array_equal(sums.numpy(), np.cumsum(x, axis=0))
