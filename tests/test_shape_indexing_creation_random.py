"""Shape, indexing, creation and random ops: errors, NumPy-equivalent indexing, NumPy adapters, randomness.

Value cases of these ops live in cases_shape.py and cases_creation.py (run by test_ops.py).
"""
import numpy as np
import pytest

import graphjit as gj
from graphjit.errors import InvalidArgumentError, UnimplementedError

from support import assert_same

A = np.arange(60, dtype=np.float32).reshape(3, 4, 5)


def eager_and_traced(fn, *args):
    """``fn`` run eagerly on tensors and traced (arrays become graph inputs), as NumPy arrays."""
    eager = fn(*(gj.constant(a) if isinstance(a, np.ndarray) else a for a in args))
    traced = gj.function(fn)(*args)
    return np.asarray(eager), np.asarray(traced)


# ---- errors: type and message fragments -----------------------------------------------------------

X23 = np.zeros((2, 3), np.float32)
ERRORS = [
    (lambda: gj.reshape(X23, (4,)), InvalidArgumentError, ["(2, 3)", "(4,)", "6 elements"]),
    (lambda: gj.reshape(X23, (-1, 4)), InvalidArgumentError, ["(2, 3)", "(-1, 4)"]),
    (lambda: gj.reshape(X23, (-1, -1)), InvalidArgumentError, ["at most one -1"]),
    (lambda: gj.reshape(np.zeros((0, 4)), (0, -1)), InvalidArgumentError, ["-1 cannot be inferred"]),
    (lambda: gj.transpose(X23, (0, 0)), InvalidArgumentError, ["perm=(0, 0)", "(2, 3)"]),
    (lambda: gj.transpose(X23, (1, 0, 2)), InvalidArgumentError, ["rank 2"]),
    (lambda: gj.expand_dims(X23, 3), InvalidArgumentError, ["expand_dims(axis)=3", "rank 3"]),
    (lambda: gj.squeeze(X23, 1), InvalidArgumentError, ["squeeze axis 1", "(2, 3)", "not 1"]),
    (lambda: gj.broadcast_to(X23, (3, 3)), InvalidArgumentError, ["(2, 3)", "(3, 3)"]),
    (lambda: gj.concat([X23, np.zeros((3, 2), np.float32)], 0), InvalidArgumentError,
     ["concat", "(2, 3)", "(3, 2)"]),
    (lambda: gj.concat([1.0, 2.0], 0), InvalidArgumentError, ["scalar"]),
    (lambda: gj.concat([], 0), InvalidArgumentError, ["at least one"]),
    (lambda: gj.stack([X23, X23.T]), InvalidArgumentError, ["stack", "(2, 3)", "(3, 2)"]),
    (lambda: gj.split(X23, 2, axis=1), InvalidArgumentError, ["num_or_size_splits=2", "size 3"]),
    (lambda: gj.split(X23, [1, 1], axis=1), InvalidArgumentError, ["sum to 2", "size 3"]),
    (lambda: gj.tile(X23, [2]), InvalidArgumentError, ["multiples=(2,)", "(2, 3)"]),
    (lambda: gj.gather(X23, [0, 2]), InvalidArgumentError, ["indices[1] = 2", "[0, 2)"]),
    (lambda: gj.gather(X23, [[0], [-1]], axis=1), InvalidArgumentError, ["indices[1][0] = -1", "[0, 3)"]),
    (lambda: gj.gather(X23, [0.5]), InvalidArgumentError, ["int32 or int64", "float32"]),
    (lambda: gj.gather(X23, [0], batch_dims=1), UnimplementedError, ["batch_dims"]),
    (lambda: gj.cast(X23, np.uint8), InvalidArgumentError, ["unsupported dtype"]),
    (lambda: gj.constant(A)[3], InvalidArgumentError, ["index 3", "axis 0", "size 3", "(3, 4, 5)"]),
    (lambda: gj.constant(A)[0, :, -6], InvalidArgumentError, ["index -6", "axis 2", "(3, 4, 5)"]),
    (lambda: gj.constant(A)[0, 0, 0, 0], InvalidArgumentError, ["too many indices"]),
    (lambda: gj.constant(A)[[0, 3]], InvalidArgumentError, ["index 3", "size 3"]),
    (lambda: gj.constant(A)[gj.constant([1, -4])], InvalidArgumentError, ["index -4", "size 3"]),
    (lambda: gj.constant(A)[[0, 1], [0, 1, 2]], InvalidArgumentError, ["could not be broadcast"]),
    (lambda: gj.constant(A)[A > 3], UnimplementedError, ["boolean mask", "depends on the data"]),
    (lambda: gj.constant(A)[True], UnimplementedError, ["boolean"]),
    (lambda: gj.constant(A)[0.5], InvalidArgumentError, ["valid indices", "float"]),
    (lambda: gj.constant(A)["a"], InvalidArgumentError, ["valid indices", "str"]),
    (lambda: gj.constant(A)[np.float32([0, 1])], InvalidArgumentError, ["integers", "float32"]),
    (lambda: gj.constant(A)[::0], InvalidArgumentError, ["step cannot be zero"]),
    (lambda: gj.constant(A)[..., 0, ...], InvalidArgumentError, ["single ellipsis"]),
    (lambda: gj.slice(A, [0, 0, 0], [4, 1, 1]), InvalidArgumentError, ["out of bounds", "axis 0"]),
    (lambda: gj.range(0, 5, 0), InvalidArgumentError, ["delta must not be 0"]),
    (lambda: gj.range(0, 2.5, dtype=gj.int32), InvalidArgumentError, ["not integers", "int32"]),
    (lambda: gj.range(0, 2 ** 33, 2 ** 32, dtype=gj.int32), InvalidArgumentError, ["do not fit in int32"]),
    (lambda: gj.range(gj.constant([1, 2])), InvalidArgumentError, ["scalar"]),
    (lambda: gj.zeros((2, -1)), InvalidArgumentError, ["negative dimension"]),
    (lambda: gj.zeros((2, 1.5)), InvalidArgumentError, ["must contain ints"]),
    (lambda: gj.fill([2], [1, 2]), InvalidArgumentError, ["scalar", "(2,)"]),
    (lambda: gj.linspace(0, 1, -1), InvalidArgumentError, ["linspace(num) must be >= 0"]),
    (lambda: gj.linspace(True, 1.0, 3), InvalidArgumentError, ["bool"]),
    (lambda: gj.random.uniform((2,), dtype=gj.int32), InvalidArgumentError, ["maxval must be given"]),
    (lambda: gj.random.uniform((2,), 5, 5, dtype=gj.int64), InvalidArgumentError, ["minval < maxval"]),
    (lambda: gj.random.uniform((2,), dtype=gj.bool), InvalidArgumentError, ["bool"]),
    (lambda: gj.random.uniform((2,), gj.constant([0.0, 1.0])), InvalidArgumentError, ["minval must be a scalar"]),
    (lambda: gj.random.normal((2,), dtype=gj.int32), InvalidArgumentError, ["float32 or float64"]),
    (lambda: gj.random.set_seed(-1), InvalidArgumentError, ["non-negative"]),
]


@pytest.mark.parametrize("index", range(len(ERRORS)))
def test_error(index):
    make, kind, fragments = ERRORS[index]
    with pytest.raises(kind) as info:
        make()
    for fragment in fragments:
        assert fragment in str(info.value), f"{fragment!r} not in {str(info.value)!r}"


def test_runtime_index_errors_in_traced_functions():
    gather = gj.function(lambda x, i: gj.gather(x, i))
    assert gather(X23, np.int32([1])).shape == (1, 3)
    with pytest.raises(InvalidArgumentError, match=r"gather: indices\[0\] = 5 is not in \[0, 2\)"):
        gather(X23, np.int32([5]))
    index = gj.function(lambda x, i: x[:, i])
    assert_same(index(A, np.int64([-1, 0])), A[:, [-1, 0]])
    with pytest.raises(InvalidArgumentError, match="index 4 is out of bounds for axis 1 with size 4"):
        index(A, np.int64([4]))


def test_symbolic_shapes_and_bounds_are_unimplemented():
    with pytest.raises(UnimplementedError, match="shapes must be known while tracing"):
        gj.function(lambda n: gj.zeros(n))(np.int32([2]))
    with pytest.raises(UnimplementedError, match="slice bounds must be known"):
        gj.function(lambda x, n: x[:n])(A, np.int32(2))
    with pytest.raises(UnimplementedError, match="range must be known"):
        gj.function(lambda n: gj.range(n))(np.int32(3))


def test_traced_rule_errors_name_the_user_line():
    for bad in (lambda x: gj.reshape(x, (5,)), lambda x: gj.concat([x, x[0]], 0), lambda x: x[7]):
        with pytest.raises(InvalidArgumentError) as info:
            gj.function(bad)(X23)
        assert "test_shape_indexing_creation_random.py" in str(info.value)


# ---- indexing: every form compared with NumPy, eager and traced -----------------------------------

KEYS = [
    0, -1, 2, (1, 2), (1, -1, -5), slice(None), slice(1, None), slice(None, None, -1), slice(-1, 0, -2),
    slice(5, -10, -1), slice(10, 20), (slice(None), 1), (Ellipsis, 2), (Ellipsis,), (None,), (0, None, 1),
    (None, Ellipsis, None), (slice(None), None, slice(None, None, 2)), ([0, 2],), ([[2, 1], [0, -1]],),
    (slice(None), [3, 0, 3]), (0, slice(None), [4, -1]), ([0, 1], slice(None), [1, 2]), ([0, 2], [1, 3]),
    (Ellipsis, [0, 0]), (np.array([1, 2], np.int64), 0), ([],), (np.uint8(1),), (slice(None, None, 3), [[1]], 4),
    (None, [1, 2], None, [0, 1]),
]


@pytest.mark.parametrize("key", KEYS, ids=repr)
def test_indexing_matches_numpy(key):
    eager, traced = eager_and_traced(lambda x: x[key], A)
    assert_same(eager, A[key], what="eager")
    assert_same(traced, A[key], what="traced")


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_tensor_indices_eager_and_symbolic(dtype):
    i = np.array([[2, 0], [-1, 1]], dtype)
    j = np.array([3, 4], dtype)
    expected = A[i, :, j]
    assert_same(gj.constant(A)[gj.constant(i), :, gj.constant(j)], expected)
    traced = gj.function(lambda x, i, j: x[i, :, j])
    assert_same(traced(A, i, j), expected)
    assert_same(gj.function(lambda x: x[gj.constant(i)])(A), A[i])  # a captured eager index
    assert_same(gj.function(lambda x, k: x[k, 1])(A, np.array(2, dtype)), A[2, 1])  # symbolic scalar index
    assert_same(gj.constant(A)[gj.constant(np.array(1, dtype)), 2], A[1, 2])  # concrete scalar: static


def test_indexing_a_variable_and_the_graph_text():
    v = gj.Variable(A)
    assert_same(v[1, ::2], A[1, ::2])
    text = str(gj.function(lambda x: x[0, ::-1, None]).get_concrete_function(A).graph)
    assert "getitem %0 {key=(0, ::-1, None)}" in text


def test_iteration_and_len():
    t = gj.constant(A)
    assert len(t) == 3
    for row, expected in zip(t, A):
        assert_same(row, expected)

    @gj.function
    def rows_summed(x):
        assert len(x) == 3
        total = gj.zeros_like(x[0])
        for row in x:
            total = total + row
        return total
    assert_same(rows_summed(A), A.sum(0))
    with pytest.raises(TypeError):
        len(gj.constant(1.0))


# ---- NumPy functions on tensors return tensors --------------------------------------------------------

NUMPY_CALLS = [
    ("reshape", lambda x: np.reshape(x, (5, -1))),
    ("reshape-kw", lambda x: np.reshape(x, shape=(60,))),
    ("transpose", lambda x: np.transpose(x, axes=(1, 0, 2))),
    ("expand_dims-tuple", lambda x: np.expand_dims(x, (0, -1))),
    ("squeeze", lambda x: np.squeeze(x[:, :1])),
    ("broadcast_to", lambda x: np.broadcast_to(x[0], (2, 4, 5))),
    ("concatenate", lambda x: np.concatenate([x, x[:1]], axis=0)),
    ("concatenate-none", lambda x: np.concatenate((x[0], x[1]), axis=None)),
    ("stack", lambda x: np.stack([x[0], x[1]], axis=-1)),
    ("tile", lambda x: np.tile(x[0, 0], (2, 2))),
    ("take", lambda x: np.take(x, [-1, 0], axis=1)),
    ("take-flat", lambda x: np.take(x, [[7, 59]])),
    ("split", lambda x: np.split(x, [1, 3, 10], axis=1)),
    ("split-negative-points", lambda x: np.split(x, [-2, 1], axis=2)),
    ("split-sections", lambda x: np.split(x, 5, axis=2)),
    ("zeros_like", lambda x: np.zeros_like(x, dtype=np.int64)),
    ("ones_like", lambda x: np.ones_like(x)),
]


@pytest.mark.parametrize("fn", [f for _, f in NUMPY_CALLS], ids=[n for n, _ in NUMPY_CALLS])
def test_numpy_functions_on_tensors(fn):
    expected = fn(A)
    result = fn(gj.constant(A))
    results, expecteds = (result, expected) if isinstance(result, list) else ([result], [expected])
    for r, e in zip(results, expecteds):
        assert isinstance(r, gj.Tensor)
        assert_same(r, e)
    traced = gj.function(fn)(A)
    for r, e in zip(traced if isinstance(traced, list) else [traced], expecteds):
        assert_same(r, e)


def test_creation_ops_are_attributes_not_constants():
    text = str(gj.function(lambda: (gj.zeros((2, 3)), gj.range(4), gj.eye(2))).get_concrete_function().graph)
    assert "zeros {dtype=float32, shape=(2, 3)}" in text
    assert "range {delta=1, dtype=int32, limit=4, start=0}" in text
    assert "constant" not in text


def test_reshape_and_cast_skip_no_op_nodes():
    t = gj.constant(X23)
    assert gj.reshape(t, (2, 3)) is t and gj.cast(t, gj.float32) is t


# ---- random ------------------------------------------------------------------------------------------

N = 100_000


@pytest.mark.parametrize("dtype", [gj.float32, gj.float64])
def test_uniform_range_and_moments(dtype):
    x = gj.random.uniform((N,), -2.0, 3.0, dtype=dtype).numpy()
    assert x.dtype == dtype.np and x.shape == (N,)
    assert x.min() >= -2.0 and x.max() < 3.0
    assert abs(x.mean() - 0.5) < 0.05 and abs(x.std() - 5 / np.sqrt(12)) < 0.05
    unit = gj.random.uniform((N,), dtype=dtype).numpy()
    assert unit.min() >= 0 and unit.max() < 1 and abs(unit.mean() - 0.5) < 0.01


@pytest.mark.parametrize("dtype", [gj.int32, gj.int64])
def test_uniform_integers(dtype):
    x = gj.random.uniform((N,), -3, 4, dtype=dtype).numpy()
    assert x.dtype == dtype.np
    assert set(np.unique(x).tolist()) == set(range(-3, 4))


@pytest.mark.parametrize("dtype", [gj.float32, gj.float64])
def test_normal_moments(dtype):
    x = gj.random.normal((N,), mean=2.0, stddev=3.0, dtype=dtype).numpy()
    assert x.dtype == dtype.np
    assert abs(x.mean() - 2.0) < 0.1 and abs(x.std() - 3.0) < 0.1
    assert abs(gj.random.normal((N,)).numpy().std() - 1.0) < 0.05


def test_traced_random_gives_new_values_each_call_and_is_a_node():
    f = gj.function(lambda: gj.random.uniform((4,)) + gj.random.normal((4,), mean=gj.constant(1.0)))
    first, second = f().numpy(), f().numpy()
    assert not np.array_equal(first, second)
    ops = [node.op for node in f.get_concrete_function().graph.nodes]
    assert "random_uniform" in ops and "random_normal" in ops
    assert f.experimental_get_tracing_count() == 1


def test_set_seed_reproduces_eager_and_traced_sequences():
    def draws():
        return gj.random.uniform((3,), 0, 10, dtype=gj.int64), gj.random.normal((2, 2), dtype=gj.float64)

    traced = gj.function(draws)
    traced.get_concrete_function()  # trace first: tracing must not draw numbers
    gj.random.set_seed(1234)
    eager1 = [t.numpy() for t in draws()]
    gj.random.set_seed(1234)
    eager2 = [t.numpy() for t in draws()]
    gj.random.set_seed(1234)
    traced1 = [t.numpy() for t in traced()]
    for a, b, c in zip(eager1, eager2, traced1):
        assert_same(a, b)
        assert_same(c, a)
    gj.random.set_seed(None)


def test_random_with_computed_bounds_inside_a_function():
    f = gj.function(lambda lo: gj.random.uniform((1000,), lo, lo + 1.0))
    x = f(np.float32(5.0)).numpy()
    assert x.min() >= 5.0 and x.max() < 6.0
