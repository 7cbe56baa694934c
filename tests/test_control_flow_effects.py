"""Effects inside the one compiled entry (CPU backend): random draws are kernels drawing from the runtime's own
np.random.Generator (compiler/random_writer.py), in the main graph and inside while_loop / cond / scan bodies;
``gj.print`` inside compiled control flow calls back into the eager print (compiler/print_callback.py); constants
of a subgraph over 64 KiB are buffers the runner passes in (compiler/control_flow_stages.py).

Every random result is compared bit for bit (assert_array_equal) with the same program run eagerly and on the
reference interpreter from the same seed, and with NumPy's PCG64 drawing the same arrays; each test also asserts
that the node compiled (one compiled step, no eager one). Prints are compared as text with eager mode's."""
import numpy as np
import pytest

import graphjit as gj
from graphjit.compiler.backend import get_backend
from graphjit.compiler.control_flow_stages import MAX_CONSTANT_BYTES
from graphjit.runtime import get_runtime


@pytest.fixture
def cpu(monkeypatch):
    monkeypatch.setattr(gj.config, "backend", "cpu")
    monkeypatch.setattr(gj.config, "compile_in_background", False)
    return gj


def three_ways(fn, *args, seed=3, calls=2):
    """(the CPU executable, its results, the interpreter's, eager mode's) for ``calls`` calls each from ``seed``."""
    graph = gj.function(fn).get_concrete_function(*args).graph
    state = get_runtime().state
    executable = get_backend("cpu").compile(graph)
    interpreter = get_backend("interpreter").compile(graph)
    results = []
    for run in (lambda: executable.run(state, list(args)), lambda: interpreter.run(state, list(args)),
                lambda: [t.numpy() for t in _as_list(fn(*args))]):
        gj.random.set_seed(seed)
        results.append([np.asarray(r) for _ in range(calls) for r in run()])
    return (executable, *results)


def _as_list(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


def assert_all_equal(*lists):
    first = lists[0]
    for other in lists[1:]:
        assert len(other) == len(first)
        for a, b in zip(first, other):
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_array_equal(a, b)


def compiled_entirely(executable, *kinds):
    """One compiled step (no eager one), whose kernels include each of ``kinds`` (name parts)."""
    assert [step.kind for step in executable.steps] == ["compiled"], [step.kind for step in executable.steps]
    for kind in kinds:
        assert any(kind in name for name in executable.kernels), list(executable.kernels)


DRAWS = {
    "uniform32": lambda: gj.random.uniform([7, 3]),
    "uniform64": lambda: gj.random.uniform([5], dtype=gj.float64),
    "uniform_bounds": lambda: gj.random.uniform([9], -2.5, 3.25),
    "uniform_bounds64": lambda: gj.random.uniform([9], 1e-3, 1e-3 + 1e-12, dtype=gj.float64),
    "uniform_int32": lambda: gj.random.uniform([11], -5, 17, dtype=gj.int32),
    "uniform_int32_wide": lambda: gj.random.uniform([6], -2 ** 31, 2 ** 31 - 1, dtype=gj.int32),
    "uniform_int64": lambda: gj.random.uniform([11], -3, 1000, dtype=gj.int64),
    "uniform_int64_wide": lambda: gj.random.uniform([8], -2 ** 62, 2 ** 62, dtype=gj.int64),
    "normal32": lambda: gj.random.normal([4, 4]),
    "normal64": lambda: gj.random.normal([6], 1.5, 0.25, dtype=gj.float64),
    "truncated32": lambda: gj.random.truncated_normal([200]),
    "truncated64": lambda: gj.random.truncated_normal([50], -1.0, 3.0, dtype=gj.float64),
}


@pytest.mark.parametrize("name", sorted(DRAWS))
def test_each_compiled_draw_is_bit_for_bit_the_eager_one(cpu, name):
    def fn(x):
        first, second = DRAWS[name](), DRAWS[name]()
        return first, second + gj.cast(x, second.dtype)
    executable, compiled, interpreted, eager = three_ways(fn, np.float32(1))
    compiled_entirely(executable, "random")
    assert_all_equal(compiled, interpreted, eager)
    assert not np.array_equal(compiled[0], compiled[1])   # each draw continues the stream


def test_compiled_draws_are_numpys_pcg64_stream(cpu):
    f = gj.function(lambda: (gj.random.uniform([5], dtype=gj.float64), gj.random.normal([3]),
                             gj.random.uniform([4], seed=9)))
    gj.random.set_seed(11)
    a, b, c = (t.numpy() for t in f())
    compiled_entirely(get_runtime().compiled(f.get_concrete_function(), "cpu"), "random")
    rng = np.random.Generator(np.random.PCG64(11))
    np.testing.assert_array_equal(a, rng.random(5))
    np.testing.assert_array_equal(b, rng.standard_normal(3, dtype=np.float32))
    seeded = np.random.Generator(np.random.PCG64(np.random.SeedSequence((11, 9))))
    np.testing.assert_array_equal(c, seeded.random(4, dtype=np.float32))
    np.testing.assert_array_equal(gj.random.uniform([2], dtype=gj.float64).numpy(), rng.random(2))   # continues


def test_op_seeds_draw_their_own_streams_in_program_order(cpu):
    def fn(x):
        a = gj.random.uniform([3], seed=5)
        b = gj.random.normal([3], seed=6)
        c = gj.random.uniform([3])
        d = gj.random.uniform([3], seed=5)   # continues op seed 5's stream after a
        return a + x, b, c, d
    executable, compiled, interpreted, eager = three_ways(fn, np.ones(3, np.float32), calls=3)
    compiled_entirely(executable, "random")
    assert_all_equal(compiled, interpreted, eager)


def test_draws_keep_their_order_with_the_draws_that_stay_eager(cpu):
    # a loop holding logaddexp2 (no compiled form) is an eager step, its body interpreted: it draws between compiled
    # draws
    def fn(x):
        a = gj.random.uniform([4]) * x
        b = gj.while_loop(lambda k, v: k < 2, lambda k, v: (k + 1, gj.math.logaddexp2(v, gj.random.normal([4]))),
                          (0, a))[1]
        c = gj.random.normal([4]) + a
        return a, b, c
    executable, compiled, interpreted, eager = three_ways(fn, np.float32(2))
    assert [step.kind for step in executable.steps] == ["compiled", "python", "compiled"]
    assert any("random" in name for name in executable.kernels)
    assert_all_equal(compiled, interpreted, eager)


def test_an_integer_uniform_with_empty_bounds_raises_its_error_compiled(cpu):
    f = gj.function(lambda lo: gj.random.uniform([3], lo, 4, dtype=gj.int32))
    assert f(np.int32(1)).numpy().min() >= 1
    compiled_entirely(get_runtime().compiled(f.get_concrete_function(np.int32(1)), "cpu"), "random")
    with pytest.raises(gj.errors.InvalidArgumentError, match="minval < maxval"):
        f(np.int32(4))


def random_walk(steps):
    def body(i, position, path_sum):
        position = position + gj.random.normal([2], dtype=gj.float64)
        return i + 1, position, path_sum + position
    return gj.while_loop(lambda i, p, s: i < steps, body,
                         (gj.constant(0), gj.zeros([2], gj.float64), gj.zeros([2], gj.float64)))[1:]


def test_a_random_walk_in_a_while_loop_compiles_and_draws_what_eager_draws(cpu):
    executable, compiled, interpreted, eager = three_ways(random_walk, np.int32(500))
    compiled_entirely(executable, "while_loop")
    assert_all_equal(compiled, interpreted, eager)
    rng = np.random.Generator(np.random.PCG64(3))
    steps = rng.standard_normal((500, 2))
    positions = np.cumsum(steps, axis=0)
    np.testing.assert_allclose(compiled[0], positions[-1], rtol=1e-12, atol=1e-12)   # (cumsum adds in another order)
    np.testing.assert_allclose(compiled[1], positions.sum(axis=0), rtol=1e-10, atol=1e-10)


def test_dropout_inside_scan_compiles_and_matches_eager(cpu):
    def fn(xs):
        def step(carry, row):
            keep = gj.cast(gj.random.uniform(row.shape, seed=4) >= 0.3, gj.float32)
            return carry + row * keep / 0.7
        return gj.scan(step, xs, initializer=gj.zeros([xs.shape[1]]))
    xs = np.arange(24, dtype=np.float32).reshape(6, 4)
    executable, compiled, interpreted, eager = three_ways(fn, xs)
    compiled_entirely(executable, "while_loop")
    assert_all_equal(compiled, interpreted, eager)


def test_draws_inside_both_branches_of_a_cond_and_a_nested_loop(cpu):
    def fn(x, flag):
        def inner(k, v):
            return k + 1, v + gj.random.uniform([3], dtype=gj.float64, seed=2)
        return gj.cond(flag > 0, lambda: gj.while_loop(lambda k, v: k < 4, inner, (0, x))[1],
                       lambda: x - gj.random.normal([3], dtype=gj.float64))
    for flag in (np.int32(1), np.int32(-1)):
        executable, compiled, interpreted, eager = three_ways(fn, np.ones(3), flag)
        compiled_entirely(executable, "cond")
        assert_all_equal(compiled, interpreted, eager)


def test_a_print_inside_a_compiled_loop_prints_each_iteration_in_order(cpu, capsys):
    def fn(x):
        gj.print("start", x)
        def body(i, v):
            gj.print("i =", i, "head:", v[:2], sep="|")
            return i + 1, v * 2.0
        out = gj.while_loop(lambda i, v: i < 3, body, (gj.constant(0), x))[1]
        gj.print("total", gj.reduce_sum(out), output_stream="stderr")
        return out
    x = np.array([0.5, 1.0, -2.0], np.float32)
    fn(x)
    want = capsys.readouterr()
    f = gj.function(fn)
    np.testing.assert_array_equal(f(x).numpy(), x * 8)
    got = capsys.readouterr()
    compiled_entirely(get_runtime().compiled(f.get_concrete_function(x), "cpu"), "while_loop", "print")
    assert got.out == want.out and got.err == want.err
    assert want.out.count("\n") == 4 and want.out.startswith("start [ 0.5  1.  -2. ]\ni =|0|head:|[0.5 1. ]\n")


def test_a_print_inside_a_cond_prints_only_on_the_branch_taken(cpu, capsys):
    def fn(x):
        return gj.cond(x > 0, lambda: (gj.print("positive", x, x > 1), x)[1], lambda: x * -1.0)
    f = gj.function(fn)
    assert f(np.float32(2)).numpy() == 2 and f(np.float32(-3)).numpy() == 3
    compiled_entirely(get_runtime().compiled(f.get_concrete_function(np.float32(2)), "cpu"), "cond")
    assert capsys.readouterr().out == "positive 2.0 True\n"


def test_prints_and_draws_in_one_body_keep_their_order(cpu, capsys):
    def fn(n):
        def body(i, total):
            u = gj.random.uniform([], dtype=gj.float64)
            gj.print("draw", u)
            return i + 1, total + u
        return gj.while_loop(lambda i, t: i < n, body, (gj.constant(0), gj.constant(0.0, gj.float64)))[1]
    gj.random.set_seed(1)
    want = fn(np.int32(3)).numpy()
    eager_text = capsys.readouterr().out
    f = gj.function(fn)
    gj.random.set_seed(1)
    got = f(np.int32(3)).numpy()
    assert capsys.readouterr().out == eager_text and got == want
    compiled_entirely(get_runtime().compiled(f.get_concrete_function(np.int32(3)), "cpu"), "while_loop")
    rng = np.random.Generator(np.random.PCG64(1))
    assert eager_text == "".join(f"draw {np.array(u)}\n" for u in rng.random(3))


def test_a_constant_over_64_kib_in_a_loop_body_is_passed_in_and_compiles(cpu):
    table = np.random.default_rng(0).standard_normal(20000)   # 160 KB of float64
    assert table.nbytes > MAX_CONSTANT_BYTES

    def fn(x):
        return gj.while_loop(lambda k, v: k < 3, lambda k, v: (k + 1, v * 0.5 + table), (0, x))[1]
    x = np.ones(20000)
    graph = gj.function(fn).get_concrete_function(x).graph
    executable = get_backend("cpu").compile(graph)
    compiled_entirely(executable, "while_loop")
    assert len(executable.source) < 20000   # the table is not text of the module
    (got,) = executable.run(get_runtime().state, [x])
    want = x
    for _ in range(3):
        want = want * 0.5 + table
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, get_backend("interpreter").compile(graph).run(get_runtime().state, [x])[0])
    np.testing.assert_array_equal(executable.run(get_runtime().state, [x])[0], want)   # the constant is unchanged


def test_compiled_draws_hold_no_reference_to_the_generator_and_advance_it_as_eager(cpu):
    f = gj.function(lambda x: x + gj.random.normal([8], dtype=gj.float64))
    x = np.zeros(8)
    f(x)
    compiled_entirely(get_runtime().compiled(f.get_concrete_function(x), "cpu"), "random")
    import sys
    gj.random.set_seed(5)
    rng = get_runtime().state.rng
    first = f(x).numpy()   # (the state then keeps the generator's pointers, with the generator: one reference)
    before = sys.getrefcount(rng)
    got = np.concatenate([first] + [f(x).numpy() for _ in range(200)])
    assert sys.getrefcount(rng) == before   # (Numba's unboxing of a Generator object would leak one per call)
    want = np.random.Generator(np.random.PCG64(5)).standard_normal(1608)
    np.testing.assert_array_equal(got, want)
