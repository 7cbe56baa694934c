"""The compiled gradient of strided slicing: ``scatter_add`` with a basic key (ints, slices with any step, None,
Ellipsis), a kernel of the CPU backend, against the reference interpreter and NumPy (``out[key] += updates``);
sums of such scatters into zeros (a slice read several times, pooling and conv taps), which the optimizer turns
into one chain of scatters adding into a single buffer; and the gradients of max_pool2d, avg_pool2d and conv2d,
which must now compile into one entry with no Python step. Everything here is exact (each element receives at
most one update per scatter, summed in the eager order), so results are compared with assert_array_equal."""
import numpy as np
import pytest

import graphjit as gj
from graphjit.tracer.ir import Slice
from graphjit.tracer.registry import OPS



def S(*args):
    """A key's slice, spelled as Python's ``slice(...)``."""
    python = slice(*args)
    return Slice(python.start, python.stop, python.step)


KEYS = [   # (tensor shape, key)
    ((7,), (S(1, None, 2),)),
    ((7,), (S(None, None, -1),)),
    ((7,), (S(5, 0, -2),)),
    ((7,), (S(2, 2, None),)),                      # empty
    ((5, 6), (S(1, 4, None), S(None, None, 3))),
    ((5, 6), (2,)),                                # an int: one row
    ((5, 6), (-1, S(-2, None, -1))),
    ((4, 5, 3), (Ellipsis, S(None, None, -2))),
    ((4, 5, 3), (None, S(1, None, 2), 0, S(None, 2, None))),
    ((4, 5, 3), (S(3, None, -3), Ellipsis, 1)),
    ((2, 6, 6, 3), (S(None), S(0, 5, 2), S(1, 6, 2), S(None))),   # a pooling tap
    ((), ()),
]
DTYPES = [np.float32, np.float64, np.int32, np.int64]


def _numpy_key(key):
    return tuple(k.to_slice() if isinstance(k, Slice) else k for k in key)


def _scatter(tensor, updates, key):
    return OPS["scatter_add"].bind(gj.convert_to_tensor(tensor), gj.convert_to_tensor(updates), key=key)


def _compiled_executable(fn, *args):
    """The CPU backend's executable (the backend in use when called: the tests' last one is "cpu")."""
    assert gj.config.backend == "cpu"
    return fn.get_concrete_function(*args)._compiled()


def _draw(rng, shape, dtype):
    if np.dtype(dtype).kind == "f":
        return np.array(rng.standard_normal(shape) * 10, dtype)
    info = np.iinfo(dtype)   # values near the limits: the sums wrap as NumPy's do
    return np.array(rng.integers(info.min // 2, info.max // 2, shape, dtype=dtype, endpoint=True) * 2
                    + rng.integers(0, 2, shape, dtype=dtype), dtype)


def _flat(values):
    return list(values) if isinstance(values, (list, tuple)) else [values]


def _run(backend, fn, args, monkeypatch):
    monkeypatch.setattr(gj.config, "backend", backend)
    return [np.asarray(v) for v in _flat(gj.function(fn)(*args))]


def _key_cases(dtype):
    """(tensor, updates) for every key of KEYS, drawn in dtype."""
    cases = []
    for shape, key in KEYS:
        rng = np.random.default_rng(len(shape) * 10 + len(key))
        tensor = _draw(rng, shape, dtype)
        cases.append((tensor, _draw(rng, np.zeros(shape)[_numpy_key(key)].shape, dtype)))
    return cases


def _every_key(*args):
    """Each key's two scatters (into an input, copied first, and into a value computed here, in place), all in one
    graph: one compile per dtype rather than one per key. Each key's computed value has its own multiplier, so no
    two keys share (and copy) one buffer."""
    tensors, updates = args[:len(KEYS)], args[len(KEYS):]
    results = []
    for k, ((_, key), t, u) in enumerate(zip(KEYS, tensors, updates)):
        results += [_scatter(t, u, key), _scatter(t * (k + 2), u, key) * 3]
    return results


@pytest.fixture(scope="module")
def every_key_results():
    """{dtype: (results by backend, the CPU executable)} for _every_key, computed on first use."""
    table = {}

    def results(dtype):
        if dtype not in table:
            cases = _key_cases(dtype)
            args = [t for t, _ in cases] + [u for _, u in cases]
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(gj.config, "compile_in_background", False)
                by_backend = {backend: _run(backend, _every_key, args, patch) for backend in ("interpreter", "cpu")}
                patch.setattr(gj.config, "backend", "cpu")
                table[dtype] = (cases, by_backend, _compiled_executable(gj.function(_every_key), *args))
        return table[dtype]
    return results


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("index", range(len(KEYS)), ids=[repr(case) for case in KEYS])
def test_a_basic_key_scatter_compiles_and_matches_the_interpreter_and_numpy(index, dtype, every_key_results):
    cases, by_backend, executable = every_key_results(dtype)
    (_, key), (tensor, updates) = KEYS[index], cases[index]
    with np.errstate(over="ignore"):
        first = tensor.copy()
        first[_numpy_key(key)] += updates
        second = np.array(tensor * dtype(index + 2))
        second[_numpy_key(key)] += updates
        second = second * dtype(3)
    for backend, results in by_backend.items():
        got_first, got_second = results[2 * index], results[2 * index + 1]
        assert got_first.dtype == got_second.dtype == np.dtype(dtype), backend
        np.testing.assert_array_equal(got_first, first, err_msg=backend)
        np.testing.assert_array_equal(got_second, second, err_msg=backend)
    assert [s.kind for s in executable.steps] == ["compiled"]
    assert [info["kind"] for info in executable.kernels.values()].count("scatter_add") == 2 * len(KEYS)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_a_sum_of_scatters_into_zeros_is_one_chain_into_one_buffer(dtype, monkeypatch):
    """Overlapping strided keys (each in both orders of the add), the sum exactly NumPy's in the same order."""
    monkeypatch.setattr(gj.config, "compile_in_background", False)
    shape = (6, 9, 2)
    keys = [(S(None, None, 2), S(1, None, 2)), (S(1, 5, None), S(None, None, -3)), (Ellipsis, 1), (3, S(2, 8, 3))]
    rng = np.random.default_rng(3)
    updates = [_draw(rng, np.zeros(shape)[_numpy_key(k)].shape, dtype) for k in keys]

    def fn(*us):
        zeros = [gj.zeros(shape, dtype) for _ in keys]
        total = _scatter(zeros[0], us[0], keys[0]) + _scatter(zeros[1], us[1], keys[1])
        total = _scatter(zeros[2], us[2], keys[2]) + total   # the scatter on the left
        return total + _scatter(zeros[3], us[3], keys[3])

    expected = np.zeros(shape, dtype)
    with np.errstate(over="ignore"):
        for k, u in zip(keys, updates):
            expected[_numpy_key(k)] += u
    for backend in ("interpreter", "cpu"):
        (got,) = _run(backend, fn, updates, monkeypatch)
        np.testing.assert_array_equal(got, expected, err_msg=backend)
    executable = _compiled_executable(gj.function(fn), *updates)
    assert [s.kind for s in executable.steps] == ["compiled"]
    kinds = [info["kind"] for info in executable.kernels.values()]
    assert kinds.count("scatter_add") == 4 and "add" not in {op for info in executable.kernels.values()
                                                              for op in info["ops"]}
    scatters = [i for i, node in enumerate(executable.pure.nodes) if node.op == "scatter_add"]
    # the first copies the (constant) zeros into its buffer, the other three add into that buffer in place
    assert len(scatters) == 4 and {(i, scatters[0]) for i in scatters[1:]} <= set(executable.steps[0].aliases)


@pytest.mark.parametrize("dtype", [np.float32, np.int64], ids=lambda d: np.dtype(d).name)
def test_updates_that_are_views_are_read_through_their_index_map_without_a_copy(dtype, monkeypatch):
    """Strided, reversed, transposed and broadcast views of a computed value as the updates (the gradient of
    conv2d's concat of taps is a channel slice of the patches' gradient)."""
    monkeypatch.setattr(gj.config, "compile_in_background", False)
    rng = np.random.default_rng(11)
    t, v, row = _draw(rng, (5, 8, 3), dtype), _draw(rng, (6, 4, 4), dtype), _draw(rng, (3,), dtype)
    key = (S(None, None, 2), S(1, None, 2))                       # selects [3, 4, 3]
    numpy_key = _numpy_key(key)

    def fn(t, v, row):
        w = v * 2
        return (_scatter(t * 2, gj.transpose(w[::2, 1:, ::-1], [0, 2, 1])[:, ::-1], key),
                _scatter(t * 2, gj.broadcast_to(row * 3, (3, 4, 3)), key))

    with np.errstate(over="ignore"):
        w = v * dtype(2)
        first, second = np.array(t * dtype(2)), np.array(t * dtype(2))
        first[numpy_key] += np.transpose(w[::2, 1:, ::-1], [0, 2, 1])[:, ::-1]
        second[numpy_key] += np.broadcast_to(row * dtype(3), (3, 4, 3))
    for backend in ("interpreter", "cpu"):
        got = _run(backend, fn, (t, v, row), monkeypatch)
        np.testing.assert_array_equal(got[0], first, err_msg=backend)
        np.testing.assert_array_equal(got[1], second, err_msg=backend)
    executable = _compiled_executable(gj.function(fn), t, v, row)
    copies = [info for info in executable.kernels.values() if info["ops"] in (["getitem"], ["transpose"],
                                                                              ["broadcast_to"])]
    assert not copies and [info["kind"] for info in executable.kernels.values()].count("scatter_add") == 2


def test_negative_zero_is_kept_where_no_scatter_adds(monkeypatch):
    """``a + scatter(zeros, g)`` is only chained when ``a`` holds no -0.0: here ``a`` is an input that may."""
    monkeypatch.setattr(gj.config, "compile_in_background", False)
    a = np.array([-0.0, 1.0, -0.0, 2.0], np.float32)
    g = np.array([5.0], np.float32)
    fn = lambda a, g: a + _scatter(gj.zeros((4,), gj.float32), g, (S(1, 2, None),))  # noqa: E731
    for backend in ("interpreter", "cpu"):
        (got,) = _run(backend, fn, (a, g), monkeypatch)
        np.testing.assert_array_equal(got, [0.0, 6.0, 0.0, 2.0])
        assert not np.signbit(got[0]) and not np.signbit(got[2]), backend   # -0.0 + 0.0 is +0.0


# ---- the layers' gradients: compiled into one entry, equal to the interpreter's ----------------------------

def _conv_pool_step(x, w, upstream):
    with gj.GradientTape() as tape:
        tape.watch([x, w])
        h = gj.nn.relu(gj.nn.conv2d(x, w, [1, 2], "SAME"))
        pooled = gj.nn.max_pool2d(h, 3, 2, "SAME")
        y = gj.nn.avg_pool2d(pooled, [2, 1], 1, "VALID")
    return [y, *tape.gradient(y, [x, w], output_gradients=upstream)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_and_pool_gradients_compile_with_no_python_step_and_match_the_interpreter(dtype, monkeypatch):
    monkeypatch.setattr(gj.config, "compile_in_background", False)
    rng = np.random.default_rng(5)
    x = rng.integers(-3, 4, (2, 9, 10, 3)).astype(dtype)   # integers: ties in the max pools, exact sums
    w = rng.integers(-2, 3, (3, 2, 3, 4)).astype(dtype)
    out_shape = (2, 4, 3, 4)
    upstream = rng.integers(-4, 5, out_shape).astype(dtype)
    results = {backend: _run(backend, _conv_pool_step, (x, w, upstream), monkeypatch)
               for backend in ("interpreter", "cpu")}
    eager = [np.asarray(v) for v in _conv_pool_step(gj.constant(x), gj.constant(w), gj.constant(upstream))]
    for got, want, interpreted in zip(results["cpu"], eager, results["interpreter"]):
        assert got.shape == want.shape and got.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(got, interpreted)   # small integers: every sum is exact, in any order
        np.testing.assert_array_equal(got, want)
    executable = _compiled_executable(gj.function(_conv_pool_step), x, w, upstream)
    assert [s.kind for s in executable.steps] == ["compiled"] and executable.entry_count == 1


def test_a_conv_training_step_with_sgd_compiles_into_one_entry(monkeypatch):
    """benchmarks/conv_train_step.py's model (smaller): the forward, backward and updates in one entry, no eager
    step, and the weights after two steps equal to the eager tape's (float64, within rounding)."""
    monkeypatch.setattr(gj.config, "backend", "cpu")
    monkeypatch.setattr(gj.config, "compile_in_background", False)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 8, 8, 1))
    labels = np.array([0, 3, 1, 2])
    init = [rng.standard_normal((3, 3, 1, 2)) * 0.3, np.zeros(2), rng.standard_normal((32, 4)) * 0.1, np.zeros(4)]

    def make_step(variables):
        def step(x, labels):
            w, b, v, c = variables
            with gj.GradientTape() as tape:
                h = gj.nn.relu(gj.nn.conv2d(x, w, 1, "SAME") + b)
                logits = gj.reshape(gj.nn.max_pool2d(h, 2, 2, "VALID"), [4, -1]) @ v + c
                loss = gj.reduce_mean(gj.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
            for var, g in zip(variables, tape.gradient(loss, variables)):
                var.assign_sub(0.1 * g)
            return loss
        return step

    traced_vars, eager_vars = [gj.Variable(p) for p in init], [gj.Variable(p) for p in init]
    traced, eager = gj.function(make_step(traced_vars)), make_step(eager_vars)
    for _ in range(2):
        traced(x, labels)
        eager(gj.constant(x), gj.constant(labels))
    for got, want in zip(traced_vars, eager_vars):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12, atol=1e-12)
    executable = _compiled_executable(traced, x, labels)
    assert [s.kind for s in executable.steps] == ["compiled"] and executable.entry_count == 1
    lines = executable.runner_source.splitlines()   # eager re-runs only behind a kernel's error flag (labels)
    eager = [k for k, line in enumerate(lines) if "run_node(" in line]
    assert all(lines[k - 1].strip().startswith("if ") and lines[k - 1].endswith("[0]:") for k in eager)
