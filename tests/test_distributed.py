"""gj.function on Dask arrays and gj.distributed.data_parallel_step: results equal the same function on NumPy
arrays (float32 within 2e-6 relative unless stated: blocks reduce in another order), on Dask's threaded scheduler
and on a dask.distributed LocalCluster of two worker processes."""
import pickle

import numpy as np
import pytest

da = pytest.importorskip("dask.array")   # the [distributed] extra; the test extra installs it
import dask  # noqa: E402
import distributed  # noqa: E402

import graphjit as gj  # noqa: E402
from graphjit import _bench_workloads as workloads  # noqa: E402
from graphjit._bench_workloads import bind  # noqa: E402
from graphjit.distributed import _tasks, _worker  # noqa: E402
from graphjit.runtime.runtime import wait_for_compilation  # noqa: E402
from graphjit.errors import InvalidArgumentError, UnimplementedError  # noqa: E402

RNG = np.random.default_rng(7)
XN = RNG.normal(size=(301, 7)).astype(np.float32)
YN = RNG.normal(size=(301, 7)).astype(np.float32)
WN = RNG.normal(size=(7, 5)).astype(np.float32)
BIAS = gj.Variable(np.linspace(-1, 1, 5, dtype=np.float32), name="dask_bias")


def _x():   # uneven chunks on both axes, and y chunked differently: blockwise must align them
    return da.from_array(XN, chunks=(100, 3)), da.from_array(YN, chunks=(64, 7))


# the benchmarks' W1 and W2 (benchmarks/dask_scale.py runs them at scale), written once in graphjit/_bench_workloads
w1 = gj.function(bind(workloads.w1, workloads.GRAPHJIT))
w2 = gj.function(bind(workloads.w2, workloads.GRAPHJIT))


@gj.function
def reductions(x, y):
    z = x * y - 0.25
    return {"sum0": gj.reduce_sum(z, axis=0), "mean1": gj.reduce_mean(z, axis=1, keepdims=True),
            "max": gj.reduce_max(z), "min0": gj.reduce_min(x, axis=0), "prod1": gj.reduce_prod(1.0 + 0.1 * z, axis=1),
            "any": gj.reduce_any(z > 3.0, axis=0), "all": gj.reduce_all(z > -9.0),
            "count": gj.reduce_sum(gj.cast(x > 0, gj.int32), axis=0)}


@gj.function
def layer(x, w):
    h = gj.nn.relu(x @ w + BIAS)
    return {"soft": gj.nn.softmax(h), "cols": gj.nn.log_softmax(h, axis=0), "arg": gj.argmax(h, axis=1),
            "lse": gj.reduce_logsumexp(h, axis=1, keepdims=True), "cum": gj.cumsum(h, axis=0),
            "t": gj.transpose(h)[1:4], "flat": gj.reshape(h, [-1]),
            "col": h[:, 2] * 2.0, "scaled": h * np.arange(5, dtype=np.float32)}


def _check(lazy, eager, rtol=2e-6, atol=1e-6):
    if isinstance(eager, dict):
        assert sorted(lazy) == sorted(eager)
        for key in eager:
            _check(lazy[key], eager[key], rtol, atol)
        return
    assert isinstance(lazy, da.Array), type(lazy)
    got, want = lazy.compute(), np.asarray(eager)
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, got.dtype, want.shape, want.dtype)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


@pytest.fixture
def threads():
    with dask.config.set(scheduler="threads"):
        yield


def test_elementwise_chain_is_one_blockwise_task_per_block(threads):
    x, y = _x()
    lazy = w1(x, y)
    _check(lazy, w1(XN, YN))
    assert lazy.chunks == da.broadcast_to(x, (301, 7)).rechunk(lazy.chunks).chunks   # blockwise, not one chunk
    assert lazy.npartitions > 1


def test_reductions_combine_per_block_partials(threads):
    x, y = _x()
    _check(w2(x, y), w2(XN, YN), rtol=1e-6)
    _check(reductions(x, y), reductions(XN, YN), rtol=3e-6)


def test_nan_propagates_through_blocked_max(threads):
    xn = XN.copy()
    xn[250, 4] = np.nan
    x = da.from_array(xn, chunks=(100, 3))
    got = reductions(x, da.from_array(YN, chunks=(100, 3)))["max"].compute()
    assert np.isnan(got)


def test_matmul_views_rows_and_variables(threads):
    x, _ = _x()
    lazy = layer(x, WN)
    _check(lazy, layer(XN, WN), rtol=1e-5)
    assert lazy["soft"].numblocks[0] == lazy["arg"].numblocks[0] == x.numblocks[0] > 1   # rows stay blocked
    assert lazy["cols"].numblocks[0] == lazy["cum"].numblocks[0] == 1   # (along axis 0: one chunk)
    _check(layer(x, da.from_array(WN, chunks=(4, 5))), layer(XN, WN), rtol=1e-5)


def test_numpy_arguments_mix_with_dask_ones(threads):
    x, _ = _x()
    _check(w1(x, YN), w1(XN, YN))


def test_effects_and_unknown_chunks_are_refused(threads):
    counter = gj.Variable(0.0, name="dask_counter")

    @gj.function
    def assigns(x):
        counter.assign_add(1.0)
        return x * 2.0

    x, _ = _x()
    with pytest.raises(UnimplementedError, match=r"assign_variable.*cannot order.*data_parallel_step"):
        assigns(x)
    filtered = x[x[:, 0] > 0]   # unknown chunk sizes
    with pytest.raises(InvalidArgumentError, match="unknown chunk sizes"):
        w1(filtered, filtered)


def test_the_task_graph_holds_documents_not_code(threads):
    x, y = _x()
    graph = dict(w1(x, y).__dask_graph__())
    blob = pickle.dumps(graph)   # plain pickle: no closures, lambdas or locally defined functions inside
    assert b"graphjit-graph" in blob and b"run_graph" in blob


# ---- a LocalCluster of two worker processes --------------------------------------------------------------------

@pytest.fixture(scope="module")
def client():
    # The workers run what users run: the Numba backend, compiling in the background, through the disk cache
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                       worker_dashboard_address=None, env={"GRAPHJIT_BACKEND": "cpu"})
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def test_functions_on_a_process_cluster(client):
    x, y = _x()
    _check(w1(x, y), w1(XN, YN))
    _check(w2(x, y), w2(XN, YN), rtol=1e-6)
    _check(layer(x, WN), layer(XN, WN), rtol=1e-5)
    lazy = w1(x, y)
    for _ in range(3):   # again and again: each worker reuses the programs it parsed and compiled
        _check(w1(x, y), w1(XN, YN))
    per_worker = client.run(lambda: [k for k in _tasks._programs if _tasks._documents[k[0]].name == "w1_part"])
    distinct = len({(c0, c1) for c0 in lazy.chunks[0] for c1 in lazy.chunks[1]})   # block shapes
    assert all(0 < len(keys) <= distinct for keys in per_worker.values()), (per_worker, distinct)
    assert sum(map(len, per_worker.values())) <= 2 * distinct


def test_worker_tasks_use_one_numba_thread_and_reuse_only_released_result_buffers(client):
    """Results stay right while earlier ones are held (a held block is never handed out again), blocks come back
    once Dask released them, and each task thread runs its kernels on one Numba thread (OMP_NUM_THREADS=1)."""
    rng = np.random.default_rng(3)
    n, chunk = 4 * 2**20, 2**20   # 4 MiB float32 blocks: large enough to recycle, two per worker
    pairs = [(rng.random(n, dtype=np.float32), rng.random(n, dtype=np.float32)) for _ in range(2)]
    lazy = [(da.from_array(a, chunks=chunk), da.from_array(b, chunks=chunk)) for a, b in pairs]

    def want(k):
        a, b = pairs[k]
        return np.exp(-a * a) * b + np.sin(a) * 0.5

    distributed.wait(w1(*lazy[0]).persist())
    client.run(wait_for_compilation)   # (the workers compile in the background: the stand-in answers meanwhile)
    for _ in range(3):   # each round keeps its two results (and the runner's pool) busy while both are made
        held = [w1(*lazy[k]).persist() for k in range(2)]
        distributed.wait(held)
        for k in range(2):
            np.testing.assert_allclose(held[k].compute(), want(k), rtol=2e-6, atol=1e-6)
        del held
        _wait_until_released(client)

    def task_threads():   # (what run_graph does first on each thread)
        import numba
        _worker.settle_thread()
        return numba.get_num_threads()

    def recycled():
        return _worker._recycler.reused if _worker._recycler is not None else 0
    assert {client.submit(task_threads, pure=False).result() for _ in range(4)} == {1}
    assert sum(client.run(recycled).values()) > 0


def _wait_until_released(client, timeout=30.0):
    import time
    deadline = time.monotonic() + timeout
    while any(k.startswith("('graphjit-w1") for keys in client.has_what().values() for k in map(str, keys)):
        assert time.monotonic() < deadline, client.has_what()
        time.sleep(0.05)


def test_recycler_hands_out_a_block_only_when_no_view_of_it_lives():
    recycler = _worker.Recycler(limit_bytes=3 * _worker.LARGE_BYTES)
    shape = (_worker.LARGE_BYTES // 4,)
    first = recycler.allocate(shape, np.float32)
    second = recycler.allocate(shape, np.float32)
    assert first.shape == shape and first.dtype == np.float32 and not np.shares_memory(first, second)
    first[:] = 1.0
    address = first.ctypes.data
    del first
    again = recycler.allocate(shape, np.float32)   # the free block, not the held one
    assert again.ctypes.data == address and not np.shares_memory(again, second)
    assert (recycler.fresh, recycler.reused) == (2, 1)
    small = recycler.allocate((16,), np.float64)   # small buffers are malloc's business
    assert small.base is None and recycler.held_bytes == 2 * _worker.LARGE_BYTES
    # over the limit: a free block of another size makes room, busy ones never do; past that, plain memory
    del again
    bigger = recycler.allocate((2, _worker.LARGE_BYTES // 8), np.float64)
    assert bigger.shape == (2, _worker.LARGE_BYTES // 8) and recycler.held_bytes == 3 * _worker.LARGE_BYTES
    assert recycler.fresh == 3 and len(recycler.blocks) == 2
    overflow = recycler.allocate(shape, np.float32)
    assert overflow.base is None and len(recycler.blocks) == 2


class Linear(gj.Module):
    def __init__(self):
        super().__init__()
        self.w = gj.Variable(np.zeros((3, 1), np.float32), name="w")
        self.b = gj.Variable(np.zeros(1, np.float32), name="b")


def _data():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(400, 3)).astype(np.float32)
    y = (x @ np.array([[2.0], [-1.0], [0.5]], np.float32) + 1
         + rng.normal(scale=0.05, size=(400, 1))).astype(np.float32)
    return x, y


def _trainer():
    model, optimizer = Linear(), gj.optimizers.Adam(0.1)

    def step(x, y):
        with gj.GradientTape() as tape:
            loss = gj.reduce_mean(gj.square(x @ model.w + model.b - y))
        optimizer.apply_gradients(zip(tape.gradient(loss, [model.w, model.b]), [model.w, model.b]))
        return loss
    return model, step


@pytest.mark.parametrize("where", ["threads", "cluster"])
def test_data_parallel_training_matches_one_process(where, request):
    x, y = _data()
    single, single_step = _trainer()
    traced = gj.function(single_step)
    parallel, parallel_step = _trainer()
    shards = [(x[k * 100:(k + 1) * 100], y[k * 100:(k + 1) * 100]) for k in range(4)]
    context = dask.config.set(scheduler="threads") if where == "threads" else request.getfixturevalue("client")
    losses = []
    with context if where == "threads" else _nothing():
        for _ in range(60):
            want = traced(x, y)
            got = gj.distributed.data_parallel_step(parallel_step, shards)
            np.testing.assert_allclose(float(got), float(want), rtol=1e-4, atol=1e-7)
            losses.append(float(got))
    # equal shards of a mean loss: the averaged gradient is the whole batch's (up to float32 rounding)
    np.testing.assert_allclose(parallel.w.numpy(), single.w.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(parallel.b.numpy(), single.b.numpy(), rtol=1e-4, atol=1e-5)
    assert losses[-1] < 0.05 * losses[0], losses   # and it trained


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_a_step_that_applies_nothing_is_refused(threads):
    def step(x):
        return gj.reduce_sum(x)
    with pytest.raises(InvalidArgumentError, match="applied no gradients"):
        gj.distributed.data_parallel_step(step, [(np.ones(3, np.float32),)])


def test_random_programs_on_randomly_chunked_arrays_match_numpy_arguments(threads):
    """The differential fuzzer's random graphs (every op family; tests/fuzz_graphs.py, smooth values: no float32
    sums near overflow, where a per-block float64 partial is finite and NumPy's float32 mean is inf) on Dask arrays
    of random chunks, against the same function on NumPy arrays, both on the reference interpreter."""
    from fuzz_check import build_function
    from fuzz_graphs import RandomChooser, draw_program, smooth_values
    saved = gj.config.backend
    gj.config.backend = "interpreter"
    checked = 0
    try:
        for seed in range(120):
            prog = draw_program(RandomChooser(seed), max_ops=8, values=smooth_values)
            if prog.error:
                continue
            function = gj.function(build_function([prog]))
            try:
                want = [np.asarray(o.numpy()) for o in function(*prog.inputs)]
            except gj.errors.GraphjitError:
                continue
            rng = np.random.default_rng(seed)
            lazy = function(*[da.from_array(np.array(a), chunks=tuple(int(rng.integers(1, d + 1)) if d else 1
                                                                        for d in a.shape)) for a in prog.inputs])
            for got, expected in zip(dask.compute(*lazy), want):
                assert got.shape == expected.shape and got.dtype == expected.dtype, (seed, prog.describe())
                tol = {np.float32: 2e-5, np.float64: 1e-11}.get(expected.dtype.type, 0)
                np.testing.assert_allclose(got, expected, rtol=tol, atol=tol, equal_nan=True,
                                           err_msg=f"seed {seed}\n{prog.describe()}")
            checked += 1
    finally:
        gj.config.backend = saved
    assert checked >= 90


def test_a_bad_recycle_limit_in_the_environment_is_named(monkeypatch):
    monkeypatch.setenv("GRAPHJIT_DASK_RECYCLE_BYTES", "lots")
    with pytest.raises(InvalidArgumentError, match="GRAPHJIT_DASK_RECYCLE_BYTES='lots'.*number of bytes"):
        _worker._recycle_limit(worker=None)
    monkeypatch.setenv("GRAPHJIT_DASK_RECYCLE_BYTES", "0")
    assert _worker._recycle_limit(worker=None) == 0
