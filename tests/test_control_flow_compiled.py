"""Control flow on the CPU backend, against the reference interpreter: a cond or while_loop whose subgraphs compute
scalars is real branches and loops inside the stage's one Numba entry (compiler/control_flow_writer.py); other
control flow runs as an eager step between compiled stages, its subgraphs interpreted; variables touched inside
are threaded through (compiler/functionalize.py). Each test compiles one or two small modules (shared through
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


def test_control_flow_over_arrays_runs_as_an_eager_step_between_compiled_stages(cpu):
    def fn(x):
        scaled = x * 3.0
        _, power = gj.while_loop(lambda k, s: k < 3, lambda k, s: (k + 1, s * scaled), (0, scaled))
        return gj.cond(gj.reduce_sum(power) > 0, lambda: power + 1.0, lambda: -power), gj.map_fn(gj.reduce_sum, power)
    x = np.linspace(-1.0, 1.0, 6).reshape(2, 3)
    executable, got, expected = compiled_and_interpreted(fn, x)
    assert "python" in steps(executable) and "compiled" in steps(executable)
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)


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


def test_a_print_inside_control_flow_is_refused_on_the_compiled_path_and_runs_on_the_interpreter(cpu, capsys):
    def printing(x):
        return gj.cond(x > 0, lambda: (gj.print("positive", x), x)[1], lambda: x)
    with pytest.raises(UnimplementedError, match=r"gj.print inside control flow .* run the function on the "
                                                 r"reference interpreter"):
        gj.function(printing)(np.float32(1))
    assert gj.function(printing, jit_compile=False)(np.float32(2)).numpy() == 2
    assert capsys.readouterr().out == "positive 2.0\n"


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
