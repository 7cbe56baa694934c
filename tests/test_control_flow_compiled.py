"""Control flow on the CPU backend, against the reference interpreter: a cond or while_loop whose subgraphs compute
scalars is real branches and loops inside the stage's one Numba entry (compiler/control_flow_writer.py); over arrays,
each subgraph is a compiled sub-entry called inside the branch or loop (compiler/control_flow_stages.py); what
neither can compile runs as an eager step between compiled stages, its subgraphs interpreted; variables touched
inside are threaded through (compiler/functionalize.py). Each test compiles one or two small modules (shared through
Numba's cache between runs).

Tolerances: float64 add/multiply/divide/sqrt are correctly rounded in both, so those results are compared bit for
bit; float32 transcendentals (compiler/mathlib) are within 4 ULP of NumPy's, compared at rtol 2e-6."""
import numpy as np
import pytest

import graphjit as gj
import graphjit.compat.v1 as v1
from graphjit.compiler.backend import get_backend
from graphjit.errors import UnimplementedError
from graphjit.runtime import get_runtime
from graphjit.tracer.ir import In
from graphjit.tracer.registry import OPS


@pytest.fixture
def cpu(monkeypatch):
    monkeypatch.setattr(gj.config, "backend", "cpu")
    monkeypatch.setattr(gj.config, "compile_in_background", False)
    return gj


def compiled_and_interpreted(fn, *args):
    """(the CPU backend's executable, its results, the interpreter's results) for ``fn`` traced on ``args``."""
    graph = gj.function(fn).get_concrete_function(*args).graph
    state = get_runtime().state
    executable = get_backend("cpu").compile(graph)
    interpreted = get_backend("interpreter").compile(graph).run(state, list(args))
    return executable, executable.run(state, list(args)), interpreted


def steps(executable):
    return [step.kind for step in executable.steps]


def series(n):
    """sum of 1/k^2 for k = 1..n, as a while_loop over float64 scalars."""
    return gj.while_loop(lambda k, total: k <= n, lambda k, total: (k + 1.0, total + 1.0 / (k * k)),
                         (gj.constant(1.0, gj.float64), gj.constant(0.0, gj.float64)))[1]


def test_a_scalar_while_loop_is_a_real_loop_inside_the_one_compiled_entry(cpu):
    executable, (got,), (expected,) = compiled_and_interpreted(series, np.float64(1000))
    assert steps(executable) == ["compiled"] and executable.entry_count == 1
    (name, source), = executable.kernels.items()
    assert "while_loop" in name and "while True:" in source["source"] and source["inline"]
    assert got == expected   # bit for bit: the same operations in the same order
    total = 0.0
    for k in range(1, 1001):
        total += 1.0 / (k * k)
    assert got == total
    np.testing.assert_allclose(gj.function(series)(np.float64(1e6)).numpy(), np.pi ** 2 / 6, rtol=1e-6)


def test_nested_branches_integers_bools_and_maximum_iterations_compile_to_branches_in_the_loop(cpu):
    def fn(n, x):
        def body(k, total, flag, y):
            total = gj.cond(k % 3 == 0, lambda: total * 2, lambda: total - gj.cast(k, gj.int64))
            y = gj.cond(flag, lambda: y * 0.5, lambda: gj.sqrt(y + 2.0))
            return k + 1, total, flag | (total > 100), y
        return gj.while_loop(lambda k, total, flag, y: k < n, body, (0, gj.constant(1, gj.int64), False, x),
                             maximum_iterations=20)
    for n in (np.int32(5), np.int32(40)):
        executable, got, expected = compiled_and_interpreted(fn, n, np.float32(3.0))
        assert steps(executable) == ["compiled"]
        for g, e in zip(got, expected):
            assert g.dtype == e.dtype
            np.testing.assert_allclose(g, e, rtol=2e-6)
        assert got[0] == min(int(n), 20)


def test_a_scalar_cond_is_a_real_branch_for_either_predicate(cpu):
    fn = gj.function(lambda x: gj.cond(x > 0, lambda: (gj.sqrt(x), x * 2.0), lambda: (x, gj.exp(x))))
    for value in (np.float32(2.5), np.float32(-1.5)):
        got = [t.numpy() for t in fn(value)]
        expected = (np.sqrt(value), value * 2) if value > 0 else (value, np.exp(value))
        np.testing.assert_allclose(got, expected, rtol=2e-6)
    assert any("cond" in name for name in fn.get_concrete_function(np.float32(1)).kernels)


def test_a_loop_a_branch_and_a_map_fn_over_arrays_compile_into_one_entry(cpu):
    def fn(x):
        scaled = x * 3.0
        _, power = gj.while_loop(lambda k, s: k < 3, lambda k, s: (k + 1, s * scaled), (0, scaled))
        return gj.cond(gj.reduce_sum(power) > 0, lambda: power + 1.0, lambda: -power), gj.map_fn(gj.reduce_sum, power)
    x = np.linspace(-1.0, 1.0, 6).reshape(2, 3)
    executable, got, expected = compiled_and_interpreted(fn, x)
    assert steps(executable) == ["compiled"] and executable.entry_count == 1
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)
    power = x * 3.0
    power = ((power * (x * 3.0)) * (x * 3.0)) * (x * 3.0)
    np.testing.assert_array_equal(got[0], power + 1.0 if power.sum() > 0 else -power)
    np.testing.assert_array_equal(got[1], power.sum(axis=1))


def test_variables_assigned_in_loops_and_branches_are_threaded_through_and_compile(cpu):
    total = gj.Variable(np.zeros(3), name="cfc_total")
    count = gj.Variable(np.int32(0), name="cfc_count")

    @gj.function
    def fn(x):
        def body(k):
            count.assign_add(1)   # a scalar variable: the loop over it is lowered
            return k + 1
        gj.while_loop(lambda k: k < 5, body, [0])
        gj.cond(gj.reduce_sum(x) > 0, lambda: total.assign_add(x), lambda: total.assign_sub(x))
        return count.read_value(), total.read_value()
    x = np.array([1.0, 2.0, 3.0])
    got_count, got_total = fn(x)
    got_count2, got_total2 = fn(-x * 0.5)
    assert (got_count.numpy(), got_count2.numpy()) == (5, 10)
    np.testing.assert_array_equal(got_total.numpy(), x)
    np.testing.assert_array_equal(got_total2.numpy(), x * 1.5)
    compiled = get_runtime().compiled(fn.get_concrete_function(x), "cpu")
    assert any("while_loop" in name for name in compiled.kernels)


def test_a_print_inside_control_flow_prints_on_the_compiled_path_as_on_the_interpreter(cpu, capsys):
    def printing(x):
        return gj.cond(x > 0, lambda: (gj.print("positive", x), x)[1], lambda: x)
    f = gj.function(printing)
    assert f(np.float32(1)).numpy() == 1
    assert any("cond" in name for name in get_runtime().compiled(f.get_concrete_function(np.float32(1)), "cpu").kernels)
    assert gj.function(printing, jit_compile=False)(np.float32(2)).numpy() == 2
    assert capsys.readouterr().out == "positive 1.0\npositive 2.0\n"


def test_a_compiled_training_step_through_a_loop_and_a_branch_matches_the_interpreter(cpu):
    w = gj.Variable(np.array([0.5, -0.25, 1.0]), name="cfc_w")

    def step(x):
        with gj.GradientTape() as tape:
            _, h = gj.while_loop(lambda k, h: k < 3, lambda k, h: (k + 1, gj.tanh(h * w + x)), (0, x),
                                 maximum_iterations=3)
            loss = gj.cond(gj.reduce_sum(h) > 0, lambda: gj.reduce_sum(h * h), lambda: gj.reduce_sum(gj.exp(h)))
        return loss, tape.gradient(loss, w)
    x = np.array([0.3, -0.7, 1.1])
    executable, got, expected = compiled_and_interpreted(step, x)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-12)
    eps = 1e-6   # central differences of the loss in w, in float64

    def loss_of(wv):
        h = x
        for _ in range(3):
            h = np.tanh(h * wv + x)
        return (h * h).sum() if h.sum() > 0 else np.exp(h).sum()
    numeric = [(loss_of(w.numpy() + d) - loss_of(w.numpy() - d)) / (2 * eps) for d in np.eye(3) * eps]
    np.testing.assert_allclose(got[1], numeric, rtol=1e-6)


def test_compat_v1_sessions_compile_control_flow(cpu):
    graph = v1.Graph()
    with graph.as_default():
        n = v1.placeholder(v1.float64, [])
        total = series(n)
        with v1.Session() as sess:
            assert sess.run(total, {n: 3.0}) == 1.0 + 1.0 / 4 + 1.0 / 9


def test_with_background_compiles_a_graph_holding_a_loop_is_compiled_before_its_first_call(compiled_background):
    fn = gj.function(series)
    assert fn(np.float64(100)).numpy() == sum(1.0 / (k * k) for k in range(1, 101))
    ran = get_runtime().executables(fn.get_concrete_function(np.float64(100)))
    assert set(ran) == {"cpu"}   # not the interpreter stand-in: it would run each iteration node by node


# ---- control flow over arrays: sub-entries inside the one entry (compiler/control_flow_stages.py) ------------
# float32/float64 multiply, add and divide are correctly rounded in the compiled loops, the interpreter and NumPy
# alike (no FMA contraction), so elementwise loops are compared bit for bit; reductions accumulate in another
# order (chunks, float64 accumulators), so what goes through one is compared at rtol 1e-12 (float64 data).

def compiled_in_one_entry(executable, *kinds):
    """The executable is one compiled stage whose kernels include control flow of each of ``kinds``."""
    assert steps(executable) == ["compiled"] and executable.entry_count == 1
    names = list(executable.kernels)
    for kind in kinds:
        assert any(kind in name for name in names), names


def test_an_elementwise_array_loop_is_one_compiled_entry_double_buffered(cpu):
    def fn(x):
        i = gj.constant(0)
        while i < 10:
            x = x * 1.1 + 1.0
            i += 1
        return x
    x = np.linspace(-2, 2, 1000).astype(np.float32)
    executable, (got,), (expected,) = compiled_and_interpreted(fn, x)
    assert gj.function(fn).get_concrete_function(x).kernels   # the check: a compiled kernel exists
    compiled_in_one_entry(executable, "while_loop")
    source = executable.kernels[next(n for n in executable.kernels if "while_loop" in n)]["source"]
    assert "while True:" in source and "np.empty" not in source and "v0, v1, w0, w1, = w0, w1, v0, v1," in source
    reference = x.copy()
    for _ in range(10):
        reference = reference * np.float32(1.1) + np.float32(1.0)
    np.testing.assert_array_equal(got, reference)
    np.testing.assert_array_equal(got, expected)


def test_a_loop_whose_condition_and_body_reduce_arrays_compiles(cpu):
    def fn(x):   # halve x until its squared norm is below 1, re-centring it on its mean each time
        return gj.while_loop(lambda y: gj.reduce_sum(y * y) > 1.0,
                             lambda y: [(y - gj.reduce_mean(y) * 0.25) * 0.5], [x])[0]
    x = np.linspace(-3.0, 5.0, 257)
    executable, (got,), (expected,) = compiled_and_interpreted(fn, x)
    compiled_in_one_entry(executable, "while_loop")
    reference = x.copy()
    while (reference * reference).sum() > 1.0:
        reference = (reference - reference.mean() * 0.25) * 0.5
    np.testing.assert_allclose(got, reference, rtol=1e-12)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_a_loop_over_a_matmul_compiles_with_its_gemm_inside(cpu):
    rng = np.random.default_rng(21)
    w = rng.standard_normal((8, 8)) / 3

    def fn(h, w):
        _, h = gj.while_loop(lambda k, h: k < 5, lambda k, h: (k + 1, gj.tanh(h @ w) + h * 0.5), (0, h))
        return h
    h = rng.standard_normal((4, 8))
    executable, (got,), (expected,) = compiled_and_interpreted(fn, h, w)
    compiled_in_one_entry(executable, "while_loop")
    assert "gj_dgemm" in executable.source
    reference = h
    for _ in range(5):
        reference = np.tanh(reference @ w) + reference * 0.5
    np.testing.assert_allclose(got, reference, rtol=1e-12)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_nested_array_loops_and_a_branch_inside_a_loop_compile(cpu):
    def fn(x, y):
        def outer(i, x):
            _, x = gj.while_loop(lambda j, x: j < i + 1, lambda j, x: (j + 1, x * 0.5 + y), (0, x))
            x = gj.cond(i % 2 == 0, lambda: x - y, lambda: x * 2.0)
            return i + 1, x
        return gj.while_loop(lambda i, x: i < 4, outer, (0, x))[1]
    x, y = np.linspace(0.0, 1.0, 50), np.linspace(1.0, -1.0, 50)
    executable, (got,), (expected,) = compiled_in_one_entry_and_run(fn, x, y)
    reference = x.copy()
    for i in range(4):
        for _ in range(i + 1):
            reference = reference * 0.5 + y
        reference = reference - y if i % 2 == 0 else reference * 2.0
    np.testing.assert_array_equal(got, reference)
    np.testing.assert_array_equal(got, expected)


def compiled_in_one_entry_and_run(fn, *args):
    executable, got, expected = compiled_and_interpreted(fn, *args)
    compiled_in_one_entry(executable, "while_loop")
    return executable, got, expected


@pytest.mark.parametrize("limit", [0, 3, 7])
def test_maximum_iterations_stops_an_array_loop(cpu, limit):
    def fn(x):   # the condition alone would run 12 times
        return gj.while_loop(lambda k, x: k < 12, lambda k, x: (k + 1, x * 3.0 - 1.0), (0, x),
                             maximum_iterations=limit)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    executable, (count, got), (_, expected) = compiled_and_interpreted(fn, x)
    compiled_in_one_entry(executable, "while_loop")
    reference = x.copy()
    for _ in range(limit):
        reference = reference * np.float32(3.0) - np.float32(1.0)
    assert count == limit
    np.testing.assert_array_equal(got, reference)   # after an odd and an even number of buffer swaps
    np.testing.assert_array_equal(got, expected)


def test_an_array_cond_takes_either_branch_inside_the_entry(cpu):
    def fn(x):
        return gj.cond(gj.reduce_max(x) > 0, lambda: (x * x, gj.reduce_sum(x, axis=0)),
                       lambda: (-x, x[0] * 2.0))
    for x in (np.arange(-3.0, 3.0).reshape(2, 3), np.arange(-6.0, 0.0).reshape(2, 3)):
        executable, got, expected = compiled_and_interpreted(fn, x)
        compiled_in_one_entry(executable, "cond")
        reference = (x * x, x.sum(axis=0)) if x.max() > 0 else (-x, x[0] * 2.0)
        for g, e, r in zip(got, expected, reference):
            np.testing.assert_array_equal(g, r)
            np.testing.assert_array_equal(g, e)


def test_loop_variables_returned_unchanged_swapped_or_constant_are_copied_not_aliased(cpu):
    def fn(a, b):   # (a, b) -> (b, a + b), c unchanged, d reset to a constant each step
        def body(k, a, b, c, d):
            return k + 1, b, a + b, c, gj.ones_like(d) * 2.0
        return gj.while_loop(lambda k, a, b, c, d: k < 5, body, (0, a, b, a * 10.0, a))
    a, b = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 3.0])
    executable, got, expected = compiled_and_interpreted(fn, a, b)
    compiled_in_one_entry(executable, "while_loop")
    x, y = a, b
    for _ in range(5):
        x, y = y, x + y
    for g, e, r in zip(got, expected, (5, x, y, a * 10.0, np.full(3, 2.0))):
        np.testing.assert_array_equal(g, r)
        np.testing.assert_array_equal(g, e)


def test_a_row_index_out_of_range_inside_a_compiled_loop_raises_the_ops_error(cpu):
    def fn(x, start):   # rows start, start+1, start+2 of x summed: start=2 reads row 4 of 4
        return gj.while_loop(lambda k, s: k < 3, lambda k, s: (k + 1, s + x[start + k]), (0, gj.zeros_like(x[0])))[1]
    x = np.arange(12.0).reshape(4, 3)
    f = gj.function(fn)
    np.testing.assert_array_equal(f(x, np.int32(1)).numpy(), x[1:4].sum(axis=0))
    compiled_in_one_entry(get_runtime().compiled(f.get_concrete_function(x, np.int32(1)), "cpu"), "while_loop")
    with pytest.raises(gj.errors.InvalidArgumentError, match="index 4 is out of bounds"):
        f(x, np.int32(2))
    np.testing.assert_array_equal(f(x, np.int32(0)).numpy(), x[0:3].sum(axis=0))   # and the next call is right


def test_array_control_flow_the_planner_cannot_compile_stays_an_eager_step(cpu):
    def fn(x):   # an argsort that need not be stable has no compiled form (its ties are NumPy's algorithm's)
        return gj.while_loop(lambda k, x: k < 3, lambda k, x: (k + 1, x + gj.cast(gj.argsort(x * -2.0), gj.float64)),
                             (0, x))[1]
    x = np.array([0.5, -1.0, 2.0])
    executable, (got,), (expected,) = compiled_and_interpreted(fn, x)
    assert "python" in steps(executable) and not any("while" in name for name in executable.kernels)
    want = x
    for _ in range(3):
        want = want + np.argsort(want * -2.0)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, expected)


def test_constant_arrays_inside_branches_and_loops_are_embedded_in_the_module(cpu):
    table = np.array([1.0, -2.0, 0.5, 3.0])   # folded into the body: a global of the generated module

    def fn(x):
        _, y = gj.while_loop(lambda k, y: k < 3, lambda k, y: (k + 1, y * table + gj.reshape(table, (4,))[::-1]),
                             (0, x))
        return gj.cond(x[0] > 0, lambda: (y, table), lambda: (y * 2.0, table * 0.0))
    for x in (np.ones(4), -np.ones(4)):
        executable, got, expected = compiled_and_interpreted(fn, x)
        compiled_in_one_entry(executable, "while_loop", "cond")
        reference = x
        for _ in range(3):
            reference = reference * table + table[::-1]
        want = (reference, table) if x[0] > 0 else (reference * 2.0, table * 0.0)
        for g, e, r in zip(got, expected, want):
            np.testing.assert_array_equal(g, r)
            np.testing.assert_array_equal(g, e)


def test_gradients_through_compiled_array_control_flow_match_finite_differences(cpu):
    def loss_and_grad(x):
        with gj.GradientTape() as tape:
            tape.watch(x)
            y = gj.cond(gj.reduce_sum(x) > 0, lambda: x * x, lambda: gj.sin(x))
            _, z = gj.while_loop(lambda k, z: k < 3, lambda k, z: (k + 1, z * x + 1.0), (0, y), maximum_iterations=3)
            loss = gj.reduce_sum(z)
        return loss, tape.gradient(loss, x)

    def loss_of(x):
        z = x * x if x.sum() > 0 else np.sin(x)
        for _ in range(3):
            z = z * x + 1.0
        return z.sum()
    large = np.linspace(-0.5, 0.6, 20000)   # (the gradient's zeros in a branch are a fill op: not folded)
    large_executable, large_got, large_expected = compiled_and_interpreted(loss_and_grad, large)
    assert any("cond" in name for name in large_executable.kernels)
    np.testing.assert_allclose(large_got[1], large_expected[1], rtol=1e-12)
    for x in (np.array([0.5, -0.2, 1.5]), np.array([-0.5, -0.2, 0.3])):
        executable, got, expected = compiled_and_interpreted(loss_and_grad, x)
        assert any("cond" in name for name in executable.kernels)   # the gradient's cond compiles too
        np.testing.assert_allclose(got[0], loss_of(x), rtol=1e-12)
        np.testing.assert_allclose(got[1], expected[1], rtol=1e-12)
        eps = 1e-6
        numeric = [(loss_of(x + d) - loss_of(x - d)) / (2 * eps) for d in np.eye(3) * eps]
        np.testing.assert_allclose(got[1], numeric, rtol=1e-6)


def test_map_fn_and_scan_over_rows_compile_with_their_accumulators_updated_in_place(cpu):
    def fn(x):
        rows = gj.map_fn(lambda r: r * 2.0 + gj.reduce_sum(r), x)
        running = gj.scan(lambda acc, r: acc * 0.5 + r, x)
        backwards = gj.scan(lambda acc, r: acc + r, x, initializer=gj.zeros_like(x[0]), reverse=True)
        return rows, running, backwards
    x = np.linspace(-1.0, 2.0, 20).reshape(5, 4)
    executable, got, expected = compiled_and_interpreted(fn, x)
    compiled_in_one_entry(executable, "while_loop")
    sources = [info["source"] for name, info in executable.kernels.items() if "while_loop" in name]
    assert all(".ctypes.data !=" in source for source in sources)   # the row write skips the copy in place
    running = [x[0]]
    for r in x[1:]:
        running.append(running[-1] * 0.5 + r)
    backwards = np.cumsum(x[::-1], axis=0)[::-1]
    for g, e, r in zip(got, expected, (x * 2.0 + x.sum(axis=1, keepdims=True), np.array(running), backwards)):
        np.testing.assert_allclose(g, r, rtol=1e-12)
        np.testing.assert_allclose(g, e, rtol=1e-12)


def test_a_loop_over_a_map_fn_nests_its_loop_inside(cpu):
    def fn(x):
        def body(k, x):
            return k + 1, gj.map_fn(lambda r: r - gj.reduce_mean(r) * 0.5, x) * 1.5
        return gj.while_loop(lambda k, x: k < 4, body, (0, x))[1]
    x = np.linspace(0.0, 3.0, 12).reshape(3, 4)
    executable, (got,), (expected,) = compiled_and_interpreted(fn, x)
    compiled_in_one_entry(executable, "while_loop")
    reference = x
    for _ in range(4):
        reference = (reference - reference.mean(axis=1, keepdims=True) * 0.5) * 1.5
    np.testing.assert_allclose(got, reference, rtol=1e-12)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_scatter_add_of_rows_compiles_with_repeated_and_negative_indices_and_checks_them(cpu):
    fn = gj.function(lambda x, u, i: OPS["scatter_add"].bind(x, u, i, key=(In(1),)))
    x, u = np.arange(8.0).reshape(4, 2), np.array([[1.0, 2.0], [10.0, 20.0], [100.0, 200.0]])
    i = np.array([1, -1, 1])
    expected = x.copy()
    np.add.at(expected, i, u)
    np.testing.assert_array_equal(fn(x, u, i).numpy(), expected)
    assert any("scatter_add" in name for name in fn.get_concrete_function(x, u, i).kernels)
    with pytest.raises(gj.errors.InvalidArgumentError, match="indices out of range"):
        fn(x, u, np.array([0, 4, 1]))
    for dtype in (np.int32, np.int64):   # integers wrap around as np.add.at's do
        big = np.iinfo(dtype).max
        xi, ui = np.array([[big, 1], [2, 3]], dtype), np.array([[1, 2], [big, big]], dtype)
        expected = xi.copy()
        np.add.at(expected, np.array([0, 0]), ui)
        np.testing.assert_array_equal(fn(xi, ui, np.array([0, 0])).numpy(), expected)
