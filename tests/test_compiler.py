"""The Numba CPU backend end to end: fusion structure, in-place epilogues, effects, buffers, errors,
inspection and the persistent cache across processes. Compiles a few graphs only (each costs ~0.5 s)."""
import os
import subprocess
import sys
import textwrap
import threading
import weakref

import numpy as np
import pytest

import graphjit as gj
from graphjit.runtime import get_runtime
from graphjit.compiler import cpu
from graphjit.errors import CompilationError

RNG = np.random.default_rng(7)
BIG = 1 << 16  # large enough for parallel loops


@pytest.fixture
def compiled(monkeypatch):
    monkeypatch.setattr(gj.config, "backend", "cpu")
    monkeypatch.setattr(gj.config, "compile_in_background", False)


def executable(fn, *args):
    concrete = fn.get_concrete_function(*args)
    return concrete, concrete._compiled()


def test_elementwise_chain_is_one_kernel(compiled):
    x, y = RNG.standard_normal(BIG, dtype=np.float32), RNG.standard_normal(BIG, dtype=np.float32)
    f = gj.function(lambda x, y: gj.exp(-x * x) * y + gj.sin(x) * 0.5)
    concrete, exe = executable(f, x, y)
    assert len(exe.kernels) == 1 and exe.entry_count == 1
    (info,) = exe.kernels.values()
    assert info["parallel"] and info["ops"] == ["negative", "multiply", "exp", "multiply", "sin", "multiply", "add"]
    expected = np.exp(-x.astype(np.float64) ** 2) * y + np.sin(x.astype(np.float64)) * 0.5
    np.testing.assert_allclose(f(x, y).numpy(), expected, rtol=2e-6, atol=1e-6)


def test_reduction_absorbs_its_elementwise_producers(compiled):
    x, y = RNG.random(BIG, dtype=np.float32), RNG.random(BIG, dtype=np.float32)
    f = gj.function(lambda x, y: gj.reduce_sum((x - y) ** 2))
    _, exe = executable(f, x, y)
    (info,) = exe.kernels.values()
    assert info["kind"] == "reduce" and info["ops"] == ["subtract", "pow", "reduce_sum"]
    expected = np.sum((x.astype(np.float64) - y) ** 2)
    np.testing.assert_allclose(float(f(x, y)), expected, rtol=1e-6)


def test_matmul_epilogue_runs_in_place_over_the_output(compiled):
    x, w, b = (RNG.standard_normal(s, dtype=np.float32) for s in ((32, 64), (64, 48), (48,)))
    f = gj.function(lambda x, w, b: gj.nn.relu(x @ w + b))
    _, exe = executable(f, x, w, b)
    kinds = [info["kind"] for info in exe.kernels.values()]
    assert kinds == ["gemm", "loop"]
    (step,) = [s for s in exe.steps if s.kind == "compiled"]
    assert step.aliases  # the bias-add + relu loop writes into the gemm's buffer
    np.testing.assert_allclose(f(x, w, b).numpy(), np.maximum(x.astype(np.float64) @ w + b, 0), rtol=1e-5, atol=1e-5)


def test_logsumexp_and_argmax_row_kernels_match_float64_references(compiled):
    x = RNG.standard_normal((64, 50), dtype=np.float32) * 10
    x[3, 7] = np.nan           # NaN wins: logsumexp NaN, argmax/argmin the first NaN
    x[3, 9] = np.nan
    x[5] = -np.inf             # all -inf: logsumexp -inf, argmax 0
    x[6, 2] = np.inf           # +inf: logsumexp +inf
    f = gj.function(lambda x: (gj.reduce_logsumexp(x, axis=-1), gj.reduce_logsumexp(x[:3]), gj.argmax(x, axis=1),
                               gj.argmin(x, axis=-1, output_type=gj.int32), np.argmax(x[:3]),
                               gj.reduce_logsumexp(x, axis=0)))
    _, exe = executable(f, x)
    kinds = sorted(info["kind"] for info in exe.kernels.values())
    assert kinds == ["argmax", "argmax", "argmin"] + ["logsumexp"] * 3 + ["loop"]  # axis=0: after a transposing copy
    rows, whole, amax, amin, flat_max, columns = (t.numpy() for t in f(x))
    x64 = x.astype(np.float64)

    def logsumexp(axis):
        with np.errstate(all="ignore"):
            m = np.nan_to_num(x64.max(axis=axis, keepdims=True), nan=0.0, posinf=0.0, neginf=0.0)
            return np.squeeze(np.log(np.exp(x64 - m).sum(axis=axis, keepdims=True)) + m, axis=axis)
    np.testing.assert_allclose(rows, logsumexp(1), rtol=1e-6)
    np.testing.assert_allclose(columns, logsumexp(0), rtol=1e-6)
    assert np.isnan(rows[3]) and rows[5] == -np.inf and rows[6] == np.inf
    np.testing.assert_allclose(whole, np.log(np.exp(x64[:3] - x64[:3].max()).sum()) + x64[:3].max(), rtol=1e-6)
    np.testing.assert_array_equal(amax, np.argmax(x, axis=1))
    np.testing.assert_array_equal(amin, np.argmin(x, axis=1).astype(np.int32))
    assert amax.dtype == np.int64 and amin.dtype == np.int32 and amax[3] == 7 and amin[3] == 7
    assert flat_max == np.argmax(x[:3]) and columns.shape == (50,)


def test_concat_stack_and_tile_compile_into_the_entry_with_numpy_promotion(compiled):
    a = RNG.standard_normal((3, 4), dtype=np.float32)
    b = RNG.standard_normal((3, 2))                      # float64: the result promotes
    c = RNG.integers(0, 5, (3, 4), dtype=np.int32)
    d = RNG.random((3, 4)) > 0.5
    f = gj.function(lambda a, b, c, d: (gj.concat([a, b], axis=1), gj.concat([a, c, a], 0) * 2.0,
                                        gj.stack([a, c, d], axis=1), gj.stack([c, d], -1),
                                        gj.concat([gj.transpose(a), gj.transpose(a)], 1), gj.tile(a, [2, 1, 3][:2]),
                                        np.tile(c, (2, 1, 2))))
    _, exe = executable(f, a, b, c, d)
    assert exe.entry_count == 1 and [s.kind for s in exe.steps] == ["compiled"]
    kinds = [info["kind"] for info in exe.kernels.values()]
    assert kinds.count("concat") == 5 and kinds.count("tile") == 2
    expected = (np.concatenate([a, b], 1), np.concatenate([a, c, a], 0) * np.float32(2), np.stack([a, c, d], 1),
                np.stack([c, d], -1), np.concatenate([a.T, a.T], 1), np.tile(a, [2, 1]), np.tile(c, (2, 1, 2)))
    for got, want in zip(f(a, b, c, d), expected):
        assert got.dtype.np == want.dtype
        np.testing.assert_array_equal(got.numpy(), want)


def test_batched_matmul_runs_one_gemm_per_batch_matrix(compiled):
    a, b = RNG.standard_normal((5, 3, 4), dtype=np.float32), RNG.standard_normal((5, 4, 2), dtype=np.float32)
    w, m = RNG.standard_normal((4, 6), dtype=np.float32), RNG.standard_normal((3, 4), dtype=np.float32)
    d, e = RNG.standard_normal((2, 5, 3, 4)), RNG.standard_normal((2, 5, 3, 4))
    f = gj.function(lambda a, b, w, m, d, e: (a @ b, gj.nn.relu(a @ w + 1.0), m @ b, gj.matmul(a, a, transpose_b=True),
                                              gj.matmul(d, e, transpose_a=True)))
    _, exe = executable(f, a, b, w, m, d, e)
    assert [s.kind for s in exe.steps] == ["compiled"]
    assert sorted(info["kind"] for info in exe.kernels.values()) == ["gemm"] * 5 + ["loop"]
    a64, b64, d64 = a.astype(np.float64), b.astype(np.float64), d
    expected = (a64 @ b64, np.maximum(a64 @ w + 1, 0), m.astype(np.float64) @ b64, a64 @ np.swapaxes(a64, -1, -2),
                np.swapaxes(d64, -1, -2) @ e)
    for got, want in zip(f(a, b, w, m, d, e), expected):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)


def test_argmax_and_logsumexp_over_leading_axes_compile_as_row_kernels(compiled):
    x = RNG.standard_normal((6, 5, 4), dtype=np.float32)
    x[2, 1, 0], x[4, 0, 3] = np.nan, np.inf
    xi = RNG.integers(-3, 3, (6, 5), dtype=np.int32)      # many ties: the first index must win
    def fn(x, xi):
        return (gj.argmax(x, axis=0), gj.argmin(x, axis=1, output_type=gj.int32), gj.argmax(xi, axis=0),
                gj.reduce_logsumexp(x, axis=0), gj.reduce_logsumexp(x, axis=[0, 2], keepdims=True))
    f = gj.function(fn)
    _, exe = executable(f, x, xi)
    assert [s.kind for s in exe.steps] == ["compiled"]
    kinds = [info["kind"] for info in exe.kernels.values()]
    assert kinds.count("argmax") == 2 and kinds.count("argmin") == 1 and kinds.count("logsumexp") == 2
    assert (np.argmax(x, 0) == f(x, xi)[0].numpy()).all()
    oracle = gj.function(fn, jit_compile=False)(x, xi)       # the reference interpreter: +inf columns give inf
    for got, want in zip(f(x, xi), oracle):
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_integer_matmul_compiles_as_loops_that_wrap_like_numpy(compiled, dtype):
    info = np.iinfo(dtype)                  # full-range values: products and sums overflow and must wrap
    a = RNG.integers(info.min, info.max, (5, 7), dtype=dtype, endpoint=True)
    b = RNG.integers(info.min, info.max, (7, 3), dtype=dtype, endpoint=True)
    bb = RNG.integers(-50, 50, (2, 7, 3), dtype=dtype)
    f = gj.function(lambda a, b, bb: (a @ b, gj.matmul(a, a, transpose_b=True), gj.transpose(a) @ a, a @ bb,
                                      gj.matmul(b, a, transpose_a=True, transpose_b=True), (a @ b) * 3 + 1))
    _, exe = executable(f, a, b, bb)
    assert [s.kind for s in exe.steps] == ["compiled"]
    assert sorted(info["kind"] for info in exe.kernels.values()) == ["int_matmul"] * 5 + ["loop"]  # a @ b once (CSE)
    with np.errstate(over="ignore"):
        expected = (a @ b, a @ a.T, a.T @ a, a @ bb, b.T @ a.T, (a @ b) * dtype(3) + dtype(1))
    for got, want in zip(f(a, b, bb), expected):
        assert got.dtype.np == want.dtype
        np.testing.assert_array_equal(got.numpy(), want)


def test_gather_compiles_and_an_index_out_of_range_raises_the_ops_own_error(compiled):
    p = RNG.standard_normal((4, 5, 3), dtype=np.float32)
    idx, i64 = np.array([[0, 4], [2, 2]], np.int32), np.array([3, 0, 1], np.int64)
    f = gj.function(lambda p, idx, i64: (gj.gather(p, idx, axis=1), gj.gather(p, i64) * 2.0,
                                         gj.gather(p[:, 0], i64, axis=0)))
    _, exe = executable(f, p, idx, i64)
    assert [s.kind for s in exe.steps] == ["compiled"]
    assert sorted(info["kind"] for info in exe.kernels.values()).count("gather") == 3
    for got, want in zip(f(p, idx, i64), (np.take(p, idx, 1), np.take(p, i64, 0) * 2, np.take(p[:, 0], i64, 0))):
        np.testing.assert_array_equal(got.numpy(), want)
    bad = np.array([[0, 4], [2, 5]], np.int32)
    with pytest.raises(gj.errors.InvalidArgumentError, match=r"gather: indices\[1\]\[1\] = 5 is not in \[0, 5\)"):
        f(p, bad, i64)
    with pytest.raises(gj.errors.InvalidArgumentError, match=r"indices\[0\] = -1"):
        f(p, idx, np.array([-1, 0, 0], np.int64))
    np.testing.assert_array_equal(f(p, idx, i64)[0].numpy(), np.take(p, idx, 1))  # still fine after an error


def test_indexing_with_one_integer_tensor_compiles_as_a_take_with_numpys_negative_indices(compiled):
    p = RNG.standard_normal((4, 5, 3), dtype=np.float32)
    idx, i64 = np.array([[0, -1], [2, -4]], np.int32), np.array([2, -3, 1], np.int64)
    keys = [lambda p, idx, i64: p[idx], lambda p, idx, i64: p[:, idx] * 2.0, lambda p, idx, i64: p[:, :, i64],
            lambda p, idx, i64: p[:, 0][i64],
            lambda p, idx, i64: p[idx, 1:],              # ints and slices around the tensor, any steps:
            lambda p, idx, i64: p[::-2, idx, -1],        # the tensor's dims in its place (int adjacent)
            lambda p, idx, i64: p[1, 1:4:2, i64]]        # or first (int and tensor apart: NumPy's rule)
    f = gj.function(lambda p, idx, i64: [key(p, idx, i64) for key in keys])
    _, exe = executable(f, p, idx, i64)
    assert [s.kind for s in exe.steps] == ["compiled"]
    assert [info["kind"] for info in exe.kernels.values()].count("take") == 7
    for got, key in zip(f(p, idx, i64), keys):
        want = key(p, idx, i64)
        assert got.shape == want.shape
        np.testing.assert_array_equal(got.numpy(), want)
    for bad_idx, bad_i64, message in [(np.array([[0, 4], [2, 2]], np.int32), i64, "index 4 is out of bounds"),
                                      (idx, np.array([0, -4, 0], np.int64), "index -4 is out of bounds")]:
        with pytest.raises(gj.errors.InvalidArgumentError, match=message) as raised:
            f(p, bad_idx, bad_i64)
        assert "getitem" in str(raised.value) and "test_compiler.py" in str(raised.value)   # the user's line
    np.testing.assert_array_equal(f(p, idx, i64)[0].numpy(), p[idx])     # still fine after an error


def test_take_matches_numpy_on_random_keys(compiled):
    """Random keys of one integer tensor (0 to 2 dims, negative entries) among ints and slices with any
    steps, all in one graph (one compile): each is a take kernel and equals NumPy's result."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((4, 5, 6)).astype(np.float32)
    pool = [lambda d: int(rng.integers(-d, d)), lambda d: slice(None), lambda d: slice(1, None, 2),
            lambda d: slice(None, None, -1), lambda d: slice(-3, None)]
    keys, indices = [], []
    for _ in range(16):
        rank = int(rng.integers(1, 4))
        where = int(rng.integers(0, rank))
        keys.append(tuple("tensor" if a == where else pool[int(rng.integers(0, len(pool)))](x.shape[a])
                          for a in range(rank)))
        shape = tuple(int(n) for n in rng.integers(1, 3, int(rng.integers(0, 3))))
        indices.append(rng.integers(-x.shape[where], x.shape[where], shape))

    def index(value, key, i):
        return value[tuple(i if k == "tensor" else k for k in key)]
    f = gj.function(lambda x, *ids: [index(x, key, i) for key, i in zip(keys, ids)])
    _, exe = executable(f, x, *indices)
    assert [s.kind for s in exe.steps] == ["compiled"]
    assert [info["kind"] for info in exe.kernels.values()].count("take") == len(keys)
    for got, key, i in zip(f(x, *indices), keys, indices):
        want = index(x, key, i)
        assert got.shape == want.shape, key
        np.testing.assert_array_equal(got.numpy(), want)


def test_sparse_cross_entropy_row_kernel_matches_and_checks_its_labels(compiled):
    x = RNG.standard_normal((6, 10), dtype=np.float32) * 5
    x[2], x[3, 4], x[4, 1] = -np.inf, np.nan, np.inf   # all -inf, NaN, +inf rows give NaN (as TF)
    labels = np.array([1, 9, 0, 2, 3, 5], np.int64)
    f = gj.function(lambda l, x: gj.nn.sparse_softmax_cross_entropy_with_logits(labels=l, logits=x))
    _, exe = executable(f, labels, x)
    assert [info["kind"] for info in exe.kernels.values()] == ["xent"]
    got = f(labels, x).numpy()
    x64 = x.astype(np.float64)
    with np.errstate(all="ignore"):
        shifted = x64 - x64.max(axis=1, keepdims=True)
        ref = -(shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True)))[np.arange(6), labels]
    np.testing.assert_allclose(got, ref, rtol=1e-5)
    assert np.isnan(got[2:5]).all()
    with pytest.raises(gj.errors.InvalidArgumentError, match=r"label 10 at index \[4\] is outside the valid range"):
        f(np.array([1, 9, 0, 2, 10, 5], np.int64), x)


def test_row_softmax_kernel(compiled):
    x = RNG.standard_normal((64, 100), dtype=np.float32) * 10
    x[3] = -np.inf
    f = gj.function(lambda x: (gj.nn.softmax(x), gj.nn.log_softmax(x)))
    _, exe = executable(f, x)
    assert sorted(info["kind"] for info in exe.kernels.values()) == ["softmax", "softmax"]
    s, ls = f(x)
    x64 = x.astype(np.float64)
    e = np.exp(x64 - x64.max(axis=1, keepdims=True))
    with np.errstate(invalid="ignore"):
        ref = e / e.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(s.numpy(), ref, rtol=1e-5, atol=1e-7)
    assert np.all(np.isnan(s.numpy()[3])) and np.all(np.isnan(ls.numpy()[3]))
    np.testing.assert_allclose(np.delete(ls.numpy(), 3, 0), np.delete(np.log(ref), 3, 0), rtol=1e-5, atol=1e-5)


def test_variables_prints_and_random_draws_compile(compiled, capsys):
    v = gj.Variable(np.zeros(4, np.float32), name="compiled_v")

    @gj.function
    def step(lr, g):
        v.assign_sub(lr * g)
        gj.print("v =", v)
        return v.read_value() + gj.random.uniform([4])

    g = np.ones(4, np.float32)
    gj.random.set_seed(3)
    first = step(np.float32(0.5), g).numpy()
    second = step(np.float32(0.5), g).numpy()
    np.testing.assert_array_equal(v.numpy(), [-1, -1, -1, -1])
    assert capsys.readouterr().out.splitlines() == ["v = [-0.5 -0.5 -0.5 -0.5]", "v = [-1. -1. -1. -1.]"]
    assert not np.array_equal(first + 0.5, second + 1.0)  # new random numbers on each call
    gj.random.set_seed(3)
    expected = np.random.Generator(np.random.PCG64(3)).random(4, dtype=np.float32) - 1.5
    np.testing.assert_array_equal(step(np.float32(0.5), g).numpy(), expected)


def test_results_are_not_overwritten_by_the_next_call(compiled):
    f = gj.function(lambda x: x * 2.0)
    a = f(np.ones(8, np.float32))
    b = f(np.full(8, 3.0, np.float32))
    np.testing.assert_array_equal(a.numpy(), np.full(8, 2.0))
    np.testing.assert_array_equal(b.numpy(), np.full(8, 6.0))


def test_non_contiguous_and_read_only_inputs(compiled):
    f = gj.function(lambda x: x + 1.0)
    base = np.arange(16, dtype=np.float32)
    view = base[::2]
    np.testing.assert_array_equal(f(view).numpy(), view + 1)
    ro = np.arange(8, dtype=np.float32)
    ro.flags.writeable = False
    np.testing.assert_array_equal(f(ro).numpy(), ro + 1)


def test_compile_error_is_clear_and_can_fall_back_to_the_interpreter(compiled, monkeypatch):
    def broken(source, name_hint="kernel"):
        raise RuntimeError("simulated Numba failure")
    monkeypatch.setattr(cpu, "load_module", broken)

    @gj.function
    def f(x):
        return gj.exp(x) + 1.0  # the user's line

    with pytest.raises(CompilationError, match=r"exp at test_compiler.py:\d+.*simulated Numba failure"):
        f(np.ones(3, np.float32))
    monkeypatch.setattr(gj.config, "on_compile_error", "interpret")
    with pytest.warns(RuntimeWarning, match="reference interpreter"):
        out = f(np.ones(3, np.float32))
    np.testing.assert_allclose(out.numpy(), np.exp(1.0) + 1, rtol=1e-6)


def test_jit_compile_false_uses_the_interpreter(compiled):
    f = gj.function(lambda x: x * 3.0, jit_compile=False)
    np.testing.assert_array_equal(f(np.ones(2, np.float32)).numpy(), [3, 3])
    assert list(get_runtime().executables(f.get_concrete_function(np.ones(2, np.float32)))) == ["interpreter"]


def test_inspection_and_explain(compiled):
    f = gj.function(lambda x: gj.reduce_sum(gj.exp(x) * 1.0 + gj.exp(x)))
    x = np.ones(64, np.float32)
    concrete = f.get_concrete_function(x)
    assert str(concrete.optimized_graph).count("exp") == 1  # CSE merged the two exps, x*1.0 is gone
    assert "multiply" not in str(concrete.optimized_graph)
    assert all("def " in src or "for " in src for src in concrete.kernels.values())
    assert concrete.to_dot(optimized=True).startswith("digraph")
    report = gj.explain(f, x)
    assert report.rows and "reduce_sum" in str(report) and "total" in str(report)


SCRIPT = textwrap.dedent("""
    import numpy as np, graphjit as gj
    gj.config.backend = "cpu"
    gj.config.compile_in_background = False
    f = gj.function(lambda x, y: gj.exp(-x * x) * y + gj.sin(x) * 0.5)
    out = f(np.ones(1000, np.float32), np.ones(1000, np.float32))
    info = gj.cache_info()
    print(info.hits, info.misses, float(out.numpy()[0]))
""")


def test_new_process_with_warm_cache_does_not_recompile(tmp_path):
    env = dict(os.environ, GRAPHJIT_CACHE_DIR=str(tmp_path), GRAPHJIT_CACHE="1")
    runs = [subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120)
            for _ in range(2)]
    for r in runs:
        assert r.returncode == 0, r.stderr
    cold, warm = (r.stdout.split() for r in runs)
    assert cold[:2] == ["0", "1"] and warm[:2] == ["1", "0"]
    assert float(warm[2]) == pytest.approx(np.exp(-1) + np.sin(1) * 0.5, rel=1e-6)


NRT_SCRIPT = textwrap.dedent("""
    import numpy as np, graphjit as gj
    from numba.core.runtime import rtsys
    gj.config.backend = "cpu"
    gj.config.compile_in_background = False
    f = gj.function(lambda x, y: (gj.exp(-x * x) * y + gj.sin(x) * 0.5, gj.reduce_sum((x - y) ** 2)))
    x = np.ones(1 << 16, np.float32)
    f(x, x)
    before = rtsys.get_allocation_stats().alloc
    f(x, x)
    after = rtsys.get_allocation_stats().alloc
    exe = f.get_concrete_function(x, x)._compiled()
    entries = [step for step in exe.steps if step.kind == "compiled"]
    # With the NRT on, Numba counts one allocation per array argument (the wrapper made when an array
    # enters compiled code); graphjit compiles without it, so that nothing in a kernel can allocate.
    boxed = sum(len(step.args) for step in entries if step.entry.targetoptions.get("_nrt", True))
    print(len(entries), after - before - boxed)
""")


def test_fused_kernels_allocate_nothing(tmp_path):
    env = dict(os.environ, NUMBA_NRT_STATS="1", GRAPHJIT_CACHE_DIR=str(tmp_path))
    r = subprocess.run([sys.executable, "-c", NRT_SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    entries, allocations = map(int, r.stdout.split()[-2:])
    assert entries >= 1 and allocations == 0


def test_kernels_compile_without_numba_runtime(compiled):
    """Generated kernels are compiled with Numba's runtime (NRT) off: an array allocated inside a kernel
    would not compile, and loading a cached kernel skips the NRT's set-up (~20 ms per process)."""
    f = gj.function(lambda x, y: gj.reduce_sum(gj.nn.softmax(x @ y) * 2.0, axis=1))
    x = np.ones((4, 5), np.float32)
    _, exe = executable(f, x, np.ascontiguousarray(x.T))
    entries = [step.entry for step in exe.steps if step.kind == "compiled"]
    assert entries and all(entry.targetoptions.get("_nrt") is False for entry in entries)
    assert "_nrt=False" in exe.source and "_nrt=True" not in exe.source


def test_background_compile_answers_first_then_switches_to_compiled_code(monkeypatch):
    monkeypatch.setattr(gj.config, "backend", "cpu")
    monkeypatch.setattr(gj.config, "compile_in_background", True)
    release = threading.Event()  # holds the compile until the first call has returned (a cached kernel
    original = cpu.CPUBackend.compile  # may otherwise load before the first call looks)

    def held_compile(self, graph, *args, **kwargs):
        release.wait(60)
        return original(self, graph, *args, **kwargs)

    monkeypatch.setattr(cpu.CPUBackend, "compile", held_compile)
    f = gj.function(lambda x: gj.sqrt(x) + 2.0)
    x = np.arange(32, dtype=np.float32)
    first = f(x)  # answered by the interpreter while Numba compiles
    release.set()
    gj.wait_for_compilation()
    second = f(x)
    concrete = f.get_concrete_function(x)
    assert {"cpu", "interpreter"} <= set(get_runtime().executables(concrete))
    np.testing.assert_allclose(first.numpy(), np.sqrt(x) + 2, rtol=1e-6)
    np.testing.assert_allclose(second.numpy(), np.sqrt(x) + 2, rtol=1e-6)


def test_variable_update_runs_in_place_unless_someone_holds_the_value(compiled):
    from graphjit.runtime import get_runtime
    w = gj.Variable(np.ones(1000, np.float32))

    @gj.function
    def sgd(g, lr):
        w.assign_sub(lr * g)

    g = np.ones(1000, np.float32)
    sgd(g, np.float32(0.5))
    values = get_runtime().state.values
    buffers = set()
    for _ in range(3):
        sgd(g, np.float32(0.5))
        buffers.add(id(values[w._ref.id]))
    assert len(buffers) == 1  # one buffer, updated in place by the fused kernel
    held = w.read_value()
    sgd(g, np.float32(0.5))
    np.testing.assert_array_equal(held.numpy(), np.full(1000, -1.0))  # the value read before is intact
    np.testing.assert_array_equal(w.numpy(), np.full(1000, -1.5))


def test_kernel_operands_that_are_views(compiled):
    """gemm and softmax read reshaped inputs in place, take transposes through BLAS's flag, and copy
    other views (slices) first; results equal NumPy's."""
    x = RNG.random((2, 3, 4), dtype=np.float32)
    w = RNG.random((12, 5), dtype=np.float32)
    flat = x.reshape(2, 12)
    cases = [
        (lambda x, w: gj.matmul(gj.reshape(x, [2, 12]), w), (x, w), flat @ w, ["gemm"]),
        (lambda x, w: gj.matmul(x, gj.transpose(w)), (flat, w.T.copy()), flat @ w, ["gemm"]),
        (lambda x, w: gj.matmul(gj.transpose(x), gj.transpose(w), transpose_a=True, transpose_b=True), (flat, w),
         flat @ w, ["gemm"]),
        (lambda x, w: gj.matmul(x[:, 1:], w[1:]), (flat, w), flat[:, 1:] @ w[1:], ["loop", "loop", "gemm"]),
    ]
    for fn, args, expected, kinds in cases:
        f = gj.function(fn)
        np.testing.assert_allclose(f(*args).numpy(), expected, rtol=1e-5)
        assert [k["kind"] for k in f.get_concrete_function(*args)._compiled().kernels.values()] == kinds
    f = gj.function(lambda x: gj.nn.softmax(gj.reshape(x, [6, 4])))
    y = x.reshape(6, 4).astype(np.float64)
    e = np.exp(y - y.max(axis=1, keepdims=True))
    np.testing.assert_allclose(f(x).numpy(), e / e.sum(axis=1, keepdims=True), rtol=1e-5)


def test_no_fma_contraction_changes_inf_into_nan_semantics(compiled):
    """-exp(x) + x at x = inf is NaN in NumPy (-inf + inf); an FMA would skip the product's overflow."""
    x = np.array([np.inf, -np.inf, 80.0, np.nan, 0.0], np.float32)
    f = gj.function(lambda x: -gj.exp(x) + x)
    with np.errstate(all="ignore"):
        expected = -np.exp(x) + x
    np.testing.assert_array_equal(f(x).numpy(), expected)


def test_errors_from_eager_steps_between_compiled_stages_name_the_user_line(compiled):
    @gj.function
    def f(x, i):
        return gj.exp(x)[i] * 2.0  # a tensor index: runs eagerly between compiled stages

    with pytest.raises(gj.errors.InvalidArgumentError) as info:
        f(np.ones(3, np.float32), np.int32(7))
    assert "getitem" in str(info.value) and "test_compiler.py" in str(info.value)


def test_transcendentals_inside_reassociating_reductions_keep_their_accuracy(compiled):
    """Reduction kernels compile with fastmath 'reassoc' (so sums vectorise) and inline mathlib's range
    reductions, which reassociation could in principle fold away: reducing an axis of length 1 exposes each
    element, so their errors must stay within mathlib's bounds (<= 2 ULP of the float64 value, +0.5 for
    rounding that reference to float32)."""
    n = 1 << 18
    rng = np.random.default_rng(3)
    a = np.concatenate([np.linspace(-103, 88.7, n, dtype=np.float32), rng.uniform(-88, 88, n).astype(np.float32)])
    b = np.concatenate([np.linspace(-3e5, 3e5, n, dtype=np.float32), rng.uniform(-1e5, 1e5, n).astype(np.float32)])
    f = gj.function(lambda a, b: (gj.reduce_sum(gj.exp(a), axis=1), gj.reduce_sum(gj.sin(b), axis=1),
                                  gj.reduce_sum(gj.cos(b), axis=1), gj.reduce_sum(gj.math.log1p(gj.abs(b)), axis=1)))
    _, exe = executable(f, a[:, None], b[:, None])
    assert all(info["kind"] == "reduce" for info in exe.kernels.values())
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    for out, ref in zip(f(a[:, None], b[:, None]), (np.exp(a64), np.sin(b64), np.cos(b64), np.log1p(np.abs(b64)))):
        ref32 = ref.astype(np.float32)
        ok = np.isfinite(ref32) & (ref32 != 0)
        ulps = np.abs(out.numpy()[ok] - ref[ok]) / np.spacing(np.abs(ref32[ok]))
        assert ulps.max() <= 2.5


def test_parallel_variant_of_every_kernel_kind_compiles_without_the_nrt_and_matches_the_interpreter(compiled):
    """Above the size thresholds kernels run prange loops (Numba parfors), compiled without Numba's runtime:
    one graph holds the parallel form of each kernel kind (a parfor that allocated would not compile)."""
    rows, n = 256, 320                                       # 81,920 elements: above every threshold
    x = RNG.standard_normal((rows, n), dtype=np.float32)
    y = RNG.standard_normal((rows, n), dtype=np.float32)
    labels = RNG.integers(0, n, rows, dtype=np.int32)
    xi = RNG.integers(-1000, 1000, (rows, 64), dtype=np.int64)
    wi = RNG.integers(-1000, 1000, (64, 300), dtype=np.int64)

    def fn(x, y, labels, xi, wi):
        return (gj.exp(-x * x) * y + gj.sin(x) * 0.5, x * 2.0 + y,                    # elementwise
                gj.reduce_sum((x - y) ** 2), gj.reduce_max(x, axis=0), gj.reduce_mean(gj.tanh(x), axis=1),
                gj.nn.softmax(x), gj.nn.log_softmax(y), gj.reduce_logsumexp(x, axis=1),
                gj.argmax(x, axis=1), gj.argmin(y, axis=0),
                gj.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=x), xi @ wi)
    f = gj.function(fn)
    _, exe = executable(f, x, y, labels, xi, wi)
    assert [s.kind for s in exe.steps] == ["compiled"]
    assert sum(info["parallel"] for info in exe.kernels.values()) >= 10
    assert "_nrt=False" in exe.source and "_nrt=True" not in exe.source
    oracle = gj.function(fn, jit_compile=False)(x, y, labels, xi, wi)
    for got, want in zip(f(x, y, labels, xi, wi), oracle):
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=2e-5, atol=1e-5)


def test_a_group_reading_a_gemm_result_through_a_view_runs_after_the_gemm(compiled):
    # exp(x) starts an elementwise group before the gemm's group exists; the group reads the gemm's result only
    # through a transpose (a view, no group's member), and used to be scheduled first: it read the gemm's output
    # buffer before the gemm wrote it (garbage such as 7e33). Found by tests/test_autodiff_compiled.py.
    rng = np.random.default_rng(1)
    x = rng.uniform(-2, 2, (4, 4)).astype(np.float32)
    c = rng.uniform(0.5, 1.5, (4, 4)).astype(np.float32)
    f = gj.function(lambda x: [gj.exp(x) + gj.transpose(gj.matmul(x, c)), x / gj.reduce_sum(x, axis=1, keepdims=True)
                               + gj.transpose(gj.matmul(c, x))])
    got = [np.asarray(t) for t in f(x)]
    x64, c64 = x.astype(np.float64), c.astype(np.float64)
    np.testing.assert_allclose(got[0], np.exp(x64) + (x64 @ c64).T, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got[1], x64 / x64.sum(axis=1, keepdims=True) + (c64 @ x64).T, rtol=1e-4, atol=1e-4)


def test_a_variable_read_by_an_earlier_matmul_is_still_updated_in_its_own_buffer(compiled):
    """A training step's ``b - lr * grad``: the forward pass read b (in an earlier group of the stage), so by the
    time the update runs nobody needs the old value, and the update writes into b's own array."""
    x = RNG.standard_normal((64, 8), dtype=np.float32)
    w0, b0 = RNG.standard_normal((8, 4), dtype=np.float32), RNG.standard_normal(4, dtype=np.float32)
    w, b = gj.Variable(w0), gj.Variable(b0)

    @gj.function
    def step(x):
        with gj.GradientTape() as tape:
            loss = gj.reduce_sum(gj.square(x @ w + b))
        gw, gb = tape.gradient(loss, [w, b])
        w.assign_sub(0.01 * gw)
        b.assign_sub(0.01 * gb)
    state = get_runtime().state
    step(x)
    step(x)   # (the first call and later ones run through different runners, each with its own buffer pool)
    buffer = weakref.ref(state.read(b._ref))   # (a strong reference would make the runner keep off the buffer)
    expected_w, expected_b = w0.astype(np.float64), b0.astype(np.float64)
    for _ in range(3):   # odd: a new buffer would not be the old one again (the pool swaps two)
        step(x)
    assert state.read(b._ref) is buffer()   # written in place, call after call
    for _ in range(5):                    # the same steps in float64
        d = 2 * (x @ expected_w + expected_b)
        expected_w, expected_b = expected_w - 0.01 * (x.T @ d), expected_b - 0.01 * d.sum(0)
    np.testing.assert_allclose(b.numpy(), expected_b, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(w.numpy(), expected_w, rtol=1e-4, atol=1e-4)
