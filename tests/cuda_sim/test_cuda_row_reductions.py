"""argmax / argmin, logsumexp and sparse softmax cross-entropy as CUDA row kernels (compiler/cuda/row_writer.py),
under the CUDA simulator: argmax / argmin equal the CPU backend's and NumPy's exactly (first extreme index, first
NaN once one is seen), logsumexp and the cross-entropy equal them within float rounding (their float64 sums of
exponentials are added in another order), over float32 / float64 / int rows holding NaN, +-inf, all -inf, ties
(within one thread's share and across threads' shares), one-column rows and several leading dims; a bad label
raises the CPU's error; a traced call on GPU-resident data using them makes no host copy but the label flag's.
One traced function holds the cases (the simulator runs each GPU thread as a Python thread: few, small graphs)."""
import numpy as np
import pytest

import graphjit as gj
from graphjit.compiler.cuda import backend as cuda_backend  # noqa: F401  (registers it)
from graphjit.errors import InvalidArgumentError
from graphjit.runtime import get_runtime
from graphjit.tracer.tensor import DeviceTensor

from shared_graphs import CompiledOnce, host

# the simulator's kernels compute log(0) (a row of -inf) in NumPy, in threads of their own (np.errstate is per thread)
pytestmark = pytest.mark.filterwarnings("ignore:divide by zero encountered in log:RuntimeWarning",
                                        "ignore:invalid value encountered:RuntimeWarning")

inf, nan = np.inf, np.nan
X = np.array([[[3.0, nan, 1.0, nan, 3.0], [0.0, 2.0, 2.0, -inf, 1.0], [-inf] * 5],
              [[inf, 1.0, inf, -inf, 0.0], [-0.0, 0.0, -0.0, 0.0, -1e30], [1e-3, 88.0, 89.0, -5.0, 7.0]]],
             np.float32)   # NaNs, ties (first index), +-inf, all -inf, -0.0 / 0.0, exps that overflow unshifted
D = np.array([[0.5, -2.0, 0.5, 1e300, -1e300, 3.0], [nan, 1.0, 2.0, 3.0, 4.0, 5.0],
              [-1.0, -1.0, -1.0, -1.0, -1.0, -1.0], [7e-310, -inf, 1.0, 709.0, 710.0, 2.0]], np.float64)
ONE = np.array([[2.5], [nan], [-inf], [inf]], np.float32)   # one-column rows
# rows longer than the simulator's 32-thread block, so that threads' shares meet in the tree: equal maxima at 2 and
# 33 and minima at 3 and 34 (each pair in two threads, the later index's first in the tree); NaNs at 35 and 60 in
# one row, at 50 and 40 in the other
LONG = np.tile(np.linspace(-1.0, 1.0, 70, dtype=np.float32), (3, 1))
LONG[0, [2, 33]], LONG[0, [3, 34]] = 5.0, -5.0
LONG[1, [35, 60]] = nan
LONG[2, [50, 40]] = nan
I = np.array([[[3, -7, 3, 9], [9, 9, -7, -7], [0, 0, 0, 0]], [[-2 ** 31, 5, 2 ** 31 - 1, -2 ** 31], [1, 2, 3, 4],
             [4, 3, 2, 1]]], np.int32)
W = np.array([2 ** 62, -2 ** 62, 2 ** 62, 5, -2 ** 62], np.int64)
LX = np.array([4, 0, 2, 1, 3, 2], np.int32)          # labels of X's six rows
LD = np.array([0, 5, 3, 4], np.int64)
LONE = np.zeros(4, np.int32)
LL = np.array([33, 69, 0], np.int64)


def row_reductions(x, d, one, long, i, w, lx, ld, lone, ll):
    xent = gj.nn.sparse_softmax_cross_entropy_with_logits
    return (
        gj.argmax(x, -1), gj.argmin(x, 2, output_type=gj.int32), gj.argmax(d, 1), gj.argmin(d, -1),
        gj.argmax(one, -1), gj.argmin(one, 1), gj.argmax(long, -1), gj.argmin(long, -1),
        gj.argmax(i, -1), gj.argmin(i, -1), gj.argmax(w), gj.argmin(w), gj.argmax(x[0, 1]),
        gj.argmin(d, 0),   # (a leading axis: passes/decompose moves it last for the row kernel)
        gj.reduce_logsumexp(x, -1), gj.reduce_logsumexp(x, (1, 2)), gj.reduce_logsumexp(x, -1, keepdims=True),
        gj.reduce_logsumexp(d, 1), gj.reduce_logsumexp(d), gj.reduce_logsumexp(one, -1),
        gj.reduce_logsumexp(long, -1), gj.reduce_logsumexp(i, -1),   # (ints: decompose casts them to float64)
        xent(labels=gj.reshape(lx, (2, 3)), logits=x), xent(labels=lx, logits=gj.reshape(x, (6, 5))),
        xent(labels=ld, logits=d), xent(labels=lone, logits=one), xent(labels=ll, logits=long),
    )


def _lse(x, axis, keepdims=False):
    """m + log(sum(exp(x - m))) in float64, m the max (0 where not finite), cast back."""
    x64 = x.astype(np.float64)
    m = np.max(x64, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    out = np.log(np.sum(np.exp(x64 - m), axis=axis, keepdims=True)) + m
    return (out if keepdims else np.squeeze(out, axis)).astype(x.dtype)


def _xent(labels, x):
    x64 = x.astype(np.float64)
    m = np.max(x64, axis=-1, keepdims=True)
    log_p = x64 - m - np.log(np.sum(np.exp(x64 - m), axis=-1, keepdims=True))
    return -np.take_along_axis(log_p, labels[..., None].astype(np.intp), -1)[..., 0].astype(x.dtype)


def _numpy(x, d, one, long, i, w, lx, ld, lone, ll):
    am, an = np.argmax, np.argmin
    return (am(x, -1), an(x, 2).astype(np.int32), am(d, 1), an(d, -1), am(one, -1), an(one, 1), am(long, -1),
            an(long, -1), am(i, -1), an(i, -1), am(w), an(w), am(x[0, 1]), an(d, 0),
            _lse(x, -1), _lse(x, (1, 2)), _lse(x, -1, keepdims=True), _lse(d, 1), _lse(d, (0, 1)), _lse(one, -1),
            _lse(long, -1), _lse(i.astype(np.float64), -1),
            _xent(lx.reshape(2, 3), x), _xent(lx, x.reshape(6, 5)), _xent(ld, d), _xent(lone, one), _xent(ll, long))


ARGS = [X, D, ONE, LONG, I, W, LX, LD, LONE, LL]
ARG_OUTPUTS = 14   # the first outputs are indices: exact
GRAPH = gj.function(row_reductions).get_concrete_function(*ARGS).graph
_executable = CompiledOnce(GRAPH)


def _run(backend, args):
    return [host(a) for a in _executable(backend).run(get_runtime().state, args)]


def test_every_row_reduction_runs_as_a_cuda_kernel():
    executable = _executable("cuda")
    kinds = {info["kind"] for info in executable.kernels.values()}
    assert {"argmax", "argmin", "logsumexp", "xent"} <= kinds, kinds
    assert not any(step.kind == "python" for step in executable.steps), "a row reduction ran on the host"


def test_row_reductions_equal_the_cpu_backend_and_numpy():
    got, on_cpu = _run("cuda", ARGS), _run("cpu", ARGS)
    with np.errstate(all="ignore"):
        want = [np.asarray(w) for w in _numpy(*ARGS)]
    assert len(got) == len(on_cpu) == len(want)
    for k, (g, c, w) in enumerate(zip(got, on_cpu, want)):
        assert g.dtype == c.dtype == w.dtype and g.shape == c.shape == w.shape, (k, g.dtype, w.dtype, g.shape, w.shape)
        if k < ARG_OUTPUTS:
            np.testing.assert_array_equal(g, c, err_msg=f"output {k} against the CPU backend")
            np.testing.assert_array_equal(g, w, err_msg=f"output {k} against NumPy")
        else:
            rtol = 2e-6 if g.dtype == np.float32 else 1e-13
            np.testing.assert_allclose(g, c, rtol=rtol, atol=0, err_msg=f"output {k} against the CPU backend")
            np.testing.assert_allclose(g, w, rtol=rtol, atol=0, err_msg=f"output {k} against NumPy")


@pytest.mark.parametrize("position, bad", [(6, np.array([4, 0, 5, 1, 3, 2], np.int32)),   # labels in [0, classes)
                                           (7, np.array([0, 5, -1, 4], np.int64))])
def test_a_label_out_of_range_raises_the_cpu_backends_error(position, bad):
    args = list(ARGS)
    args[position] = bad
    with pytest.raises(InvalidArgumentError) as on_cpu:
        _run("cpu", args)
    with pytest.raises(InvalidArgumentError) as on_gpu:
        _run("cuda", args)
    assert str(on_gpu.value) == str(on_cpu.value)
    again = _run("cuda", ARGS)   # the flag is cleared by the next call: its answer is right
    np.testing.assert_allclose(again[-3], _xent(LD, D), rtol=1e-13)


def test_a_traced_call_on_gpu_data_using_them_makes_no_host_copy():
    best = gj.Variable(np.zeros(3, np.int64), name="best", device="cuda")

    @gj.function
    def step(x, labels):
        best.assign(gj.argmax(x, -1))
        return gj.argmin(x, -1), gj.reduce_logsumexp(x, -1)

    @gj.function
    def loss(x, labels):
        return gj.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=x)

    xd, ld = gj.constant(LONG).cuda(), gj.constant(LL).cuda()
    gj.config.compile_in_background = False
    with gj.device("cuda"):
        step(xd, ld), loss(xd, ld)   # (compiled here)
        before = gj.cuda_transfer_stats()
        low, lse = step(xd, ld)
        middle = gj.cuda_transfer_stats()
        xent = loss(xd, ld)
        after = gj.cuda_transfer_stats()
    assert type(low) is DeviceTensor and type(lse) is DeviceTensor and type(xent) is DeviceTensor
    assert (middle["to_device"] - before["to_device"], middle["to_host"] - before["to_host"]) == (0, 0)
    # the cross-entropy's labels are checked on the GPU: only the stage's flag comes back (8 bytes)
    assert (after["to_device"] - middle["to_device"], after["to_host"] - middle["to_host"]) == (0, 1)
    assert after["bytes"] - middle["bytes"] == 8
    np.testing.assert_array_equal(best.numpy(), np.argmax(LONG, -1))
    np.testing.assert_array_equal(low.numpy(), np.argmin(LONG, -1))
    np.testing.assert_allclose(lse.numpy(), _lse(LONG, -1), rtol=2e-6)
    np.testing.assert_allclose(xent.numpy(), _xent(LL, LONG), rtol=2e-6)
