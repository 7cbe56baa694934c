"""Bad inputs, one table: each row gives graphjit a wrong dtype, rank, shape, value, structure or call and
expects the right ``graphjit.errors`` class with a message naming the argument (and shapes/dtypes where
they matter) and, for rows run inside a traced function, the user's line: file:line within that function.
Rows whose input NumPy/TF accept (read-only, non-contiguous, 0-size arrays, lists for a TensorSpec, ...)
must instead work and equal NumPy.

Row kinds: ``E`` runs a thunk eagerly; ``T`` runs a function of tensors eagerly, then traced through
``gj.function`` on the reference interpreter and on the compiled cpu backend (``eager=False`` rows are
traced only); ``C`` runs a whole scenario (calls of a gj.function, a compat.v1 session), and with
``where=fn`` checks that the message names a line of ``fn``.
"""
import inspect
import os
from dataclasses import dataclass

import numpy as np
import pytest

import graphjit as gj
from graphjit import errors

tf1 = gj.compat.v1
HERE = os.path.basename(__file__)
F32 = np.arange(6, dtype=np.float32).reshape(2, 3)


def _readonly():
    a = np.arange(6, dtype=np.float32).reshape(2, 3) / 4
    a.flags.writeable = False
    return a


NONCONTIG = np.arange(48, dtype=np.float32).reshape(6, 8)[::2, 1::3]   # strided view, shape (3, 3)


@dataclass
class Row:
    id: str
    kind: str                 # "E", "T" or "C"
    run: object               # E/C: thunk; T: fn(*args)
    args: tuple = ()
    error: type = None        # None: the row must work and equal ``reference``
    patterns: tuple = ()      # substrings the message must contain
    reference: object = None  # thunk giving the NumPy result of a working row
    where: object = None      # C rows: the function whose line the message must name
    eager: bool = True        # T rows: also run eagerly
    rtol: float = 1e-6


def E(id, run, error=None, *patterns, reference=None):  # noqa: N802
    return Row(id, "E", run, (), error, patterns, reference)


def T(id, fn, args, error=None, *patterns, reference=None, eager=True, rtol=1e-6):  # noqa: N802
    return Row(id, "T", fn, args, error, patterns, reference, eager=eager, rtol=rtol)


def C(id, run, error=None, *patterns, reference=None, where=None):  # noqa: N802
    return Row(id, "C", run, (), error, patterns, reference, where)


# ---- functions of the T rows (their lines are what traced errors must name) ----------------------------

def add_none(x):
    return x + None


def multiply_text(x):
    return x * "text"


def sum_ragged(x):
    return gj.reduce_sum([[1.0], [2.0, 3.0]]) + x


def exp_twice(x):
    return gj.exp(x) * 2.0


def affine(x):
    return x * 3.0 - 1.0


def transposed_matmul(x):
    return gj.matmul(gj.transpose(x), x) + 1.0


def sum_rows(x):
    return gj.reduce_sum(x, axis=0) + 1.0


def matmul_inner(x, y):
    return gj.matmul(x, y)


def matmul_wrong(x):
    return gj.matmul(x, np.ones((4, 2), np.float32))


def add_wrong(x):
    return x + np.ones(4, np.float32)


def softmax_ints(x):
    return gj.nn.softmax(x)


def softmax_scalar(x):
    return gj.nn.softmax(x)


def mean_duplicate_axes(x):
    return gj.reduce_mean(x, axis=[1, -1])


def sum_array_keepdims(x):
    return gj.reduce_sum(x, axis=0, keepdims=np.array([1, 0]))


def index_out_of_range(x):
    return x[0, 7]


def gather_out_of_range(x):
    return gj.gather(x, np.array([5], np.int32))


def huge_random(x):
    return gj.random.normal((2 ** 40,)) + x


def huge_zeros(x):
    return gj.zeros((2 ** 31, 2 ** 20)) + x


def returns_object(x):
    return object()


def returns_generator(x):
    return (x for _ in range(2))


def returns_set(x):
    return {x}


def returns_python_values(x):
    return x * 2.0, None, "label", 3


VAR = gj.Variable(np.zeros(3, np.float32), name="bad_inputs_v")


def assign_wrong_dtype(x):
    VAR.assign(x)
    return VAR.read_value()


# ---- C rows: scenarios -------------------------------------------------------------------------------

def variable_on_second_trace():
    @gj.function
    def make(x):
        v = gj.Variable(1.0, name="late")
        return x + v
    make(np.ones(2, np.float32))
    make(np.ones(3, np.float32))  # a second trace creates a variable again


def two_args():
    @gj.function
    def f(x, y):
        return x + y
    return f


SIGNED = gj.function(lambda x: x * 2.0, input_signature=[gj.TensorSpec((None, 3), gj.float32, name="x")])


def _v1_session():
    graph = tf1.Graph()
    with graph.as_default():
        p = tf1.placeholder(gj.float32, (None, 3), name="p")
        v = tf1.Variable(np.ones(3, np.float32), name="v")
        y = p * 2.0 + v
        init = tf1.global_variables_initializer()
    sess = tf1.Session(graph=graph)
    return sess, p, y, init


def v1_run(feed, initialize=True):
    sess, p, y, init = _v1_session()
    with sess:
        if initialize:
            sess.run(init)
        return sess.run(y, feed(p))


def v1_placeholder(shape):
    with tf1.Graph().as_default():
        return tf1.placeholder(gj.float32, shape)


ROWS = [
    # None, strings, objects, mixed and ragged lists
    E("none-operand", lambda: gj.add(F32, None), errors.InvalidArgumentError, "add(y)", "None"),
    T("none-operator", add_none, (F32,), errors.InvalidTypeError, "add", "None"),
    E("string-operand", lambda: gj.exp("abc"), errors.InvalidArgumentError, "exp(x)", "str"),
    T("string-operator", multiply_text, (F32,), errors.InvalidTypeError, "multiply", "'text'"),
    E("mixed-list", lambda: gj.constant([1, "a"]), errors.InvalidArgumentError, "constant(value)", "<U21"),
    E("none-in-list", lambda: gj.constant([1.0, None]), errors.InvalidArgumentError, "constant(value)",
      "dtype object"),
    E("ragged-list", lambda: gj.constant([[1, 2], [3]]), errors.InvalidArgumentError, "constant(value)",
      "inhomogeneous"),
    T("ragged-list-traced", sum_ragged, (F32,), errors.InvalidArgumentError, "reduce_sum(input_tensor)"),
    E("object", lambda: gj.exp(object()), errors.InvalidArgumentError, "exp(x)", "type object"),
    E("dict", lambda: gj.sqrt({"a": 1}), errors.InvalidArgumentError, "sqrt(x)", "type dict"),
    E("bytes", lambda: gj.abs(b"ab"), errors.InvalidArgumentError, "bytes"),
    E("python-int-beyond-int64", lambda: gj.constant(2 ** 70), errors.InvalidArgumentError,
      str(2 ** 70), "int64"),
    # dtypes graphjit does not have
    E("complex-scalar", lambda: gj.constant(1 + 2j), errors.InvalidArgumentError, "complex"),
    E("complex-array", lambda: gj.exp(np.array([1j])), errors.InvalidArgumentError, "exp(x)", "complex128"),
    E("float16-array", lambda: gj.exp(np.zeros(2, np.float16)), errors.InvalidArgumentError, "float16"),
    E("uint8-array", lambda: gj.negative(np.zeros(2, np.uint8)), errors.InvalidArgumentError, "uint8"),
    E("object-array", lambda: gj.exp(np.array([1, 2], dtype=object)), errors.InvalidArgumentError, "object"),
    C("float16-argument", lambda: gj.function(affine)(np.zeros(3, np.float16)), errors.InvalidArgumentError,
      "argument x", "float16"),
    # arrays NumPy takes as they are: read-only, non-contiguous, 0-size
    T("read-only", exp_twice, (_readonly(),), reference=lambda: np.exp(_readonly()) * 2, rtol=1e-6),
    T("non-contiguous", affine, (NONCONTIG,), reference=lambda: NONCONTIG * 3 - 1),
    T("non-contiguous-matmul", transposed_matmul, (NONCONTIG,), reference=lambda: NONCONTIG.T @ NONCONTIG + 1),
    T("zero-size-sum", sum_rows, (np.zeros((0, 3), np.float32),), reference=lambda: np.zeros(3, np.float32) + 1),
    T("zero-size-elementwise", affine, (np.zeros((2, 0), np.float32),), reference=lambda: np.zeros((2, 0), np.float32)),
    T("zero-inner-matmul", matmul_inner, (np.ones((2, 0), np.float32), np.ones((0, 4), np.float32)),
      reference=lambda: np.zeros((2, 4), np.float32)),
    E("zero-size-max", lambda: gj.reduce_max(np.zeros((0, 3), np.float32), axis=0), errors.InvalidArgumentError,
      "reduce_max", "[0,3]", "empty"),
    # huge shapes: a clear error at once, neither a MemoryError traceback nor a hang
    E("huge-zeros", lambda: gj.zeros((2 ** 40, 2 ** 40)), errors.ResourceExhaustedError, "zeros",
      "(1099511627776, 1099511627776)", "float32"),
    E("huge-fill", lambda: gj.fill((2 ** 40,), 1.0), errors.ResourceExhaustedError, "fill", "(1099511627776,)"),
    T("huge-random", huge_random, (np.float32(1),), errors.ResourceExhaustedError, "random_normal",
      "(1099511627776,)"),
    T("huge-zeros-traced", huge_zeros, (np.float32(1),), errors.ResourceExhaustedError, "zeros", "8.0 PiB"),
    # mismatched shapes
    E("matmul-shapes", lambda: gj.matmul(F32, np.ones((4, 2), np.float32)), errors.InvalidArgumentError,
      "matmul", "[2,3]", "[4,2]"),
    T("matmul-shapes-traced", matmul_wrong, (F32,), errors.InvalidArgumentError, "matmul", "[2,3]", "[4,2]"),
    T("broadcast-shapes", add_wrong, (F32,), errors.InvalidArgumentError, "add", "[2,3]", "[4]"),
    E("concat-shapes", lambda: gj.concat([F32, np.ones((2, 4), np.float32)], axis=0), errors.InvalidArgumentError,
      "concat", "(2, 3)", "(2, 4)"),
    E("stack-shapes", lambda: gj.stack([F32, F32[:, :2]]), errors.InvalidArgumentError, "stack", "(2, 2)"),
    E("reshape-size", lambda: gj.reshape(F32, (4, 2)), errors.InvalidArgumentError, "reshape", "(2, 3)", "(4, 2)"),
    # wrong dtype, wrong rank
    E("bitwise-float", lambda: gj.bitwise.bitwise_and(F32, F32), errors.InvalidArgumentError, "bitwise_and",
      "float32"),
    T("softmax-int", softmax_ints, (np.ones(3, np.int32),), errors.InvalidArgumentError, "softmax", "int32"),
    E("matmul-rank-0", lambda: gj.matmul(np.float32(2), F32), errors.InvalidArgumentError, "matmul", "rank"),
    T("softmax-rank-0", softmax_scalar, (np.float32(1),), errors.InvalidArgumentError, "softmax", "rank 0"),
    # axes and keepdims
    E("axis-out-of-range", lambda: gj.reduce_sum(F32, axis=5), errors.InvalidArgumentError, "reduce_sum",
      "axis=5", "rank 2"),
    T("axis-duplicate", mean_duplicate_axes, (F32,), errors.InvalidArgumentError, "reduce_mean", "repeats"),
    E("axis-float", lambda: gj.reduce_sum(F32, axis=0.5), errors.InvalidArgumentError, "axis must be an int"),
    E("concat-axis", lambda: gj.concat([F32, F32], axis=2), errors.InvalidArgumentError, "concat(axis)=2"),
    E("keepdims-string", lambda: gj.reduce_sum(F32, axis=0, keepdims="yes"), errors.InvalidArgumentError,
      "keepdims", "'yes'"),
    T("keepdims-array", sum_array_keepdims, (F32,), errors.InvalidArgumentError, "keepdims", "ndarray"),
    # dtype names
    E("cast-dtype-name", lambda: gj.cast(F32, "float99"), errors.InvalidArgumentError, "cast(dtype)", "float99"),
    E("zeros-complex-dtype", lambda: gj.zeros((2,), dtype="complex64"), errors.InvalidArgumentError,
      "zeros(dtype)", "complex64"),
    E("spec-dtype-name", lambda: gj.TensorSpec((2,), "float99"), errors.InvalidArgumentError, "TensorSpec(dtype)",
      "float99"),
    E("spec-float-dim", lambda: gj.TensorSpec((2.5,)), errors.InvalidArgumentError, "TensorSpec", "2.5"),
    E("spec-negative-dim", lambda: gj.TensorSpec((-3,)), errors.InvalidArgumentError, "TensorSpec", "-3"),
    # indexing
    E("index-out-of-range", lambda: gj.constant(F32)[5], errors.InvalidArgumentError, "getitem", "index 5",
      "(2, 3)"),
    T("index-out-of-range-traced", index_out_of_range, (F32,), errors.InvalidArgumentError, "getitem", "index 7"),
    T("gather-out-of-range", gather_out_of_range, (F32,), errors.InvalidArgumentError, "gather", "5"),
    # results that are not tensors
    T("returns-object", returns_object, (F32,), errors.TracingError, "returns_object", "returned a object",
      eager=False),
    T("returns-generator", returns_generator, (F32,), errors.TracingError, "returned a generator", eager=False),
    T("returns-set", returns_set, (F32,), errors.InvalidTypeError, "unhashable", "t.ref()"),
    T("returns-python-values", returns_python_values, (F32,), eager=False,
      reference=lambda: (F32 * 2, None, "label", 3)),
    # variables
    C("variable-on-second-trace", variable_on_second_trace, errors.FailedPreconditionError, "late",
      "trace other than the first", where=variable_on_second_trace),
    E("variable-none", lambda: gj.Variable(None), errors.InvalidArgumentError, "initial_value"),
    E("assign-shape", lambda: VAR.assign(np.zeros(4, np.float32)), errors.InvalidArgumentError, "bad_inputs_v",
      "f32[4]", "f32[3]"),
    T("assign-dtype", assign_wrong_dtype, (np.zeros(3, np.int32),), errors.InvalidArgumentError, "bad_inputs_v",
      "i32[3]"),
    # calls of a gj.function
    C("too-many-arguments", lambda: two_args()(1.0, 2.0, 3.0), errors.InvalidArgumentError, "f()",
      "too many positional arguments"),
    C("unknown-keyword", lambda: two_args()(1.0, 2.0, z=3.0), errors.InvalidArgumentError, "f()", "'z'"),
    C("missing-argument", lambda: two_args()(1.0), errors.InvalidArgumentError, "f()", "'y'"),
    C("not-callable", lambda: gj.function(5), errors.InvalidArgumentError, "callable", "int"),
    C("signature-dtype", lambda: SIGNED(np.ones((2, 3), np.int32)), errors.InvalidArgumentError, "argument 0 (x)",
      "int32", "TensorSpec(shape=(None, 3)"),
    C("signature-shape", lambda: SIGNED(np.ones((2, 4), np.float32)), errors.InvalidArgumentError, "argument 0",
      "(2, 4)"),
    C("signature-count", lambda: SIGNED(F32, F32), errors.InvalidArgumentError, "too many positional"),
    C("signature-structure", lambda: SIGNED((F32, F32)), errors.InvalidArgumentError, "argument 0",
      "does not match"),
    C("signature-nested-list", lambda: SIGNED([[1.0, 2.0, 3.0]]).numpy(),
      reference=lambda: np.array([[2.0, 4.0, 6.0]], np.float32)),
    # compat.v1 sessions
    C("uninitialized-variable", lambda: v1_run(lambda p: {p: F32}, initialize=False),
      errors.FailedPreconditionError, "uninitialized value v"),
    C("unknown-feed-name", lambda: v1_run(lambda p: {"nope:0": F32}), errors.NotFoundError, "'nope:0'"),
    C("feed-key-not-a-tensor", lambda: v1_run(lambda p: {5: F32}), errors.InvalidTypeError, "feed_dict key 5"),
    C("feed-shape", lambda: v1_run(lambda p: {p: np.ones((2, 4), np.float32)}), errors.InvalidArgumentError,
      "(2, 4)", "'p:0'", "(None, 3)"),
    C("feed-rank", lambda: v1_run(lambda p: {p: np.ones(3, np.float32)}), errors.InvalidArgumentError,
      "(3,)", "'p:0'"),
    C("feed-strings", lambda: v1_run(lambda p: {p: [["a", "b", "c"]]}), errors.InvalidArgumentError,
      "'p:0'", "float32"),
    C("feed-none", lambda: v1_run(lambda p: {p: None}), errors.InvalidArgumentError, "None", "'p:0'"),
    C("feed-complex", lambda: v1_run(lambda p: {p: np.ones((1, 3)) * 1j}), errors.InvalidArgumentError, "'p:0'",
      "float32"),
    C("feed-other-dtype-converts", lambda: v1_run(lambda p: {p: np.ones((2, 3), np.int64)}),
      reference=lambda: np.full((2, 3), 3.0, np.float32)),
    C("placeholder-shape", lambda: v1_placeholder((2.5, 3)), errors.InvalidArgumentError, "placeholder(shape)",
      "2.5"),
]


def _lines(fn):
    source, first = inspect.getsourcelines(fn)
    return range(first, first + len(source))


def _check_error(row, info, where):
    message = str(info.value)
    for pattern in row.patterns:
        assert pattern in message, f"{row.id}: {pattern!r} not in {message!r}"
    if where is not None:
        lines = _lines(where)
        assert any(f"{HERE}:{n} " in message for n in lines), \
            f"{row.id}: the message names no line {lines.start}-{lines.stop - 1} of {HERE}: {message!r}"


def _check_result(row, got):
    expected = row.reference()
    got = got if isinstance(got, tuple) else (got,)
    expected = expected if isinstance(expected, tuple) else (expected,)
    assert len(got) == len(expected), row.id
    for g, e in zip(got, expected):
        if isinstance(e, np.ndarray):
            g = np.asarray(g)
            assert g.shape == e.shape and g.dtype == e.dtype, f"{row.id}: {g.shape} {g.dtype} != {e.shape} {e.dtype}"
            np.testing.assert_allclose(g, e, rtol=row.rtol, atol=0, err_msg=row.id)
        else:
            assert g == e, row.id


def _run(row, thunk, where):
    if row.error is None:
        _check_result(row, thunk())
        return
    with pytest.raises(row.error) as info:
        thunk()
    _check_error(row, info, where)


def _cases():
    for row in ROWS:
        if row.kind == "T":
            if row.eager:
                yield pytest.param(row, "eager", id=f"{row.id}-eager")
            yield pytest.param(row, "interpreter", id=f"{row.id}-traced")
            yield pytest.param(row, "cpu", id=f"{row.id}-traced-cpu")
        else:
            yield pytest.param(row, "eager", id=row.id)


@pytest.fixture
def backend(request):
    saved = gj.config.backend, gj.config.compile_in_background
    yield
    gj.config.backend, gj.config.compile_in_background = saved


def test_the_table_has_at_least_forty_rows():
    assert len(ROWS) >= 40 and len({row.id for row in ROWS}) == len(ROWS)
    assert sum(row.error is None for row in ROWS) >= 8  # rows where the input is fine and must work


@pytest.mark.parametrize("row, mode", list(_cases()))
def test_bad_input(row, mode, backend):
    if row.kind == "E":
        _run(row, row.run, None)
    elif row.kind == "C":
        _run(row, row.run, row.where)
    elif mode == "eager":
        tensors = [gj.constant(a) if isinstance(a, (np.ndarray, np.generic)) else a for a in row.args]
        _run(row, lambda: row.run(*tensors), row.run)
    else:
        gj.config.backend = mode
        gj.config.compile_in_background = False
        _run(row, lambda: gj.function(row.run)(*row.args), row.run)
