"""AutoGraph-lite (tracer/autograph.py): Python ``if`` / ``while`` / ``for`` inside ``@gj.function`` bodies.

Conditions on Python values keep Python's semantics exactly (the rewrite must never change them); conditions
on tensors stage ``gj.cond`` / ``gj.while_loop`` (tests at the end, against plain Python on the values).
Errors point at the user's own lines."""
import numpy as np
import pytest

import graphjit as gj
from graphjit import errors
from graphjit.tracer import autograph


def _t(value, dtype=np.float32):
    return gj.constant(np.asarray(value, dtype))


# ---- Python conditions: the rewrite keeps Python's semantics ---------------------------------------------

def collatz_steps(n):
    steps = 0
    while n != 1:
        if n % 2 == 0:
            n = n // 2
        else:
            n = 3 * n + 1
        steps += 1
    return steps


def early_returns(x, k):
    if k < 0:
        return x * 0.0
    if k == 0:
        return x
    y = x
    for _ in range(k):
        y = y * 2.0
    return y + 1.0


def nested_loops(x, rows, cols):
    out = []
    for i in range(rows):
        for j in range(cols):
            if (i + j) % 2:
                out.append(x * float(i * cols + j))
    total = x * 0.0
    for term in out:
        total = total + term
    return total, len(out)


@pytest.mark.parametrize("n", [1, 6, 7, 27])
def test_python_while_and_if_run_as_python(n):
    converted = autograph.convert(collatz_steps)
    assert converted is not collatz_steps           # it was rewritten ...
    assert converted(n) == collatz_steps(n)          # ... and computes exactly what Python does
    assert gj.function(lambda m: _t(0.0) + collatz_steps(m))(n).numpy() == collatz_steps(n)


@pytest.mark.parametrize("k", [-2, 0, 3])
def test_early_returns_and_python_for_loops(k):
    f = gj.function(early_returns)
    x = _t([1.0, -2.0])
    np.testing.assert_array_equal(f(x, k).numpy(), early_returns(x, k).numpy())


def test_nested_loops_lists_and_tuples_of_results():
    f = gj.function(nested_loops)
    total, count = f(_t(1.5), 3, 4)
    want_total, want_count = nested_loops(_t(1.5), 3, 4)
    assert count == want_count == 6
    np.testing.assert_array_equal(total.numpy(), want_total.numpy())


def test_a_variable_assigned_in_a_branch_that_did_not_run_is_still_unbound():
    def f(x, flag):
        if flag:
            y = x
        return y
    converted = autograph.convert(f)
    assert converted(1, True) == 1
    with pytest.raises(UnboundLocalError, match="'y' referenced before assignment"):
        converted(1, False) + 1


def test_functions_without_source_or_with_nothing_to_convert_are_returned_unchanged():
    lam = eval("lambda x: x + 1")   # no source file

    def plain(x):
        return x * 2
    assert autograph.convert(lam) is lam
    assert autograph.convert(plain) is plain
    assert autograph.convert(len) is len
    assert autograph.convert(collatz_steps) is autograph.convert(collatz_steps)   # converted once


def test_closures_defaults_and_globals_are_the_originals():
    scale = 3.0

    def f(x, n=2):
        for _ in range(n):
            x = x * scale
        return x
    converted = autograph.convert(f)
    assert converted(1.0) == 9.0 and converted(1.0, n=1) == 3.0
    scale = 10.0   # the converted function shares the closure cell
    assert converted(1.0, 1) == 10.0


# ---- errors at the user's line ---------------------------------------------------------------------------

def test_an_error_inside_a_converted_branch_names_the_users_line():
    @gj.function
    def f(x, flag):
        if flag:
            y = x + 1.0
        else:
            y = gj.reshape(x, (7,))
        return y
    with pytest.raises(errors.InvalidArgumentError, match=r"test_autograph.py:\d+ .*y = gj.reshape\(x, \(7,\)\)"):
        f(_t([1.0, 2.0, 3.0]), False)


def test_a_tensor_condition_on_a_statement_left_unconverted_is_a_clear_error():
    @gj.function
    def f(x):
        while x > 0:
            if x > 5:
                break
            x = x - 1.0
        return x
    with pytest.raises(errors.OperatorNotAllowedInGraphError,
                       match=r"condition of a while loop that holds break.*\n  at .*test_autograph.py:\d+ .*while x > 0"):
        f(_t(3.0))


def test_autograph_false_traces_the_function_as_written():
    def f(x):
        if x > 0:
            return x
        return -x
    with pytest.raises(errors.OperatorNotAllowedInGraphError, match="as a Python bool"):
        gj.function(f, autograph=False)(_t(1.0))


# ---- tensor conditions: staged as gj.cond / gj.while_loop, results equal to Python on the values -------------

def relu_or_square(x):
    if gj.reduce_sum(x) > 0:
        y = gj.nn.relu(x)
        note = 1.0
    else:
        y = x * x
        note = -1.0
    return y * note


def doublings(x, limit):
    count = 0
    while x < limit:
        x = x * 2.0
        count += 1
    return x, count


def series(n):
    total = gj.constant(0.0, gj.float64)   # (a Python 0.0 would become a float32 loop variable, as in TF)
    for k in range(1, n + 1):
        total = total + 1.0 / gj.cast(k * k, gj.float64)
    return total


@pytest.mark.parametrize("values", [[1.0, -0.5, 2.0], [-1.0, -0.5, 0.25]])
def test_an_if_on_a_tensor_stages_a_cond_that_gives_pythons_answer(values):
    f = gj.function(relu_or_square)
    x = _t(values)
    np.testing.assert_array_equal(f(x).numpy(), relu_or_square(x).numpy())   # eagerly: plain Python
    assert f.experimental_get_tracing_count() <= 1                          # both values, one trace
    graph = f.get_concrete_function(x).graph
    assert any(n.op == "cond" for n in graph.nodes)


def test_a_while_on_a_tensor_stages_a_while_loop_and_python_numbers_become_tensors():
    f = gj.function(doublings)
    for start, limit in ((1.0, 100.0), (3.0, 2.0), (0.1, 1e6)):
        got_x, got_count = f(_t(start), _t(limit))
        want_x, want_count = doublings(start, limit)
        assert float(got_x) == np.float32(want_x) and int(got_count) == want_count
    assert f.experimental_get_tracing_count() == 1
    assert any(n.op == "while_loop" for n in f.get_concrete_function(_t(1.0), _t(2.0)).graph.nodes)


def test_a_for_over_a_tensor_range_and_over_a_tensors_rows():
    f = gj.function(series)
    for n in (1, 10, 1000):
        np.testing.assert_allclose(float(f(gj.constant(np.int64(n)))), sum(1.0 / k ** 2 for k in range(1, n + 1)),
                                   rtol=1e-12)
    assert f.experimental_get_tracing_count() == 1

    @gj.function
    def rows_summed(m):
        total = gj.zeros_like(m[0])
        for row in m:
            total = total + row
        return total
    a = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.testing.assert_array_equal(rows_summed(a).numpy(), a.sum(0))
    assert any(n.op == "while_loop" for n in rows_summed.get_concrete_function(a).graph.nodes)


def test_early_return_on_a_tensor_condition():
    @gj.function
    def sign_magnitude(x):
        if x < 0:
            return -x, -1.0
        return x, 1.0
    for value in (-3.0, 2.0):
        magnitude, sign = sign_magnitude(_t(value))
        assert float(magnitude) == abs(value) and float(sign) == np.sign(value)


def test_a_variable_defined_in_one_branch_only_is_tfs_error_at_the_users_line():
    @gj.function
    def f(x):
        if x > 0:
            y = x
        return y
    with pytest.raises(errors.InvalidArgumentError,
                       match=r"'y' must also be initialized in the else branch.*\n  at .*test_autograph.py"):
        f(_t(1.0))


def test_variable_updates_in_staged_branches_keep_their_order():
    v = gj.Variable(0.0)

    @gj.function
    def step(x):
        if x > 0:
            v.assign_add(x)
        else:
            v.assign_sub(1.0)
        return v.read_value()
    assert float(step(_t(2.0))) == 2.0
    assert float(step(_t(-5.0))) == 1.0
    assert float(step(_t(0.5))) == 1.5 and step.experimental_get_tracing_count() == 1


def test_gradients_flow_through_a_converted_branch_and_loop():
    @gj.function
    def f(x):
        with gj.GradientTape() as tape:
            tape.watch(x)
            y = x
            if gj.reduce_sum(x) > 0:
                y = y * y
            else:
                y = gj.sin(y)
            z = gj.reduce_sum(y)
        return tape.gradient(z, x)
    for values in ([0.5, 1.5], [-0.5, -1.5]):
        x = np.array(values)
        want = 2 * x if x.sum() > 0 else np.cos(x)
        np.testing.assert_allclose(f(gj.constant(x)).numpy(), want, rtol=1e-12)


def test_methods_of_modules_are_converted():
    class Clip(gj.Module):
        def __init__(self):
            super().__init__()
            self.limit = gj.Variable(1.0)

        @gj.function
        def __call__(self, x):
            if x > self.limit:
                x = self.limit * 1.0
            return x
    clip = Clip()
    assert float(clip(_t(3.0))) == 1.0 and float(clip(_t(0.5))) == 0.5


def test_a_loop_variable_that_changes_dtype_is_named_by_its_python_name():
    @gj.function
    def f(n):
        total = 0.0   # a float32 loop variable (TF's rule for Python floats) ...
        for k in range(n):
            total = total + gj.cast(k, gj.float64)   # ... that the body makes float64
        return total
    with pytest.raises(errors.InvalidArgumentError,
                       match=r"loop variable loop_vars\[1\]\['total'\] changes dtype .* f32\[\] to f64\[\]"):
        f(gj.constant(3))


def test_a_converted_scalar_loop_compiles_into_the_one_entry(monkeypatch):
    """On the CPU backend the staged loop of ``series`` is a real loop inside the compiled entry."""
    monkeypatch.setattr(gj.config, "backend", "cpu")
    monkeypatch.setattr(gj.config, "compile_in_background", False)
    f = gj.function(series)
    n = gj.constant(np.int64(100_000))
    np.testing.assert_allclose(float(f(n)), sum(1.0 / k ** 2 for k in range(1, 100_001)), rtol=1e-12)
    compiled = gj.runtime.get_runtime().executables(f.get_concrete_function(n))["cpu"]
    assert compiled.entry_count == 1


def _decorated_with_a_trailing_helper(x):
    def helper(v):
        return v * 3.0
    while x < 5.0:
        x = x + 1.0
    return helper(x)   # the last line with code is in the nested helper's call
    ...


def test_the_source_block_ends_where_the_code_ends_and_a_trailing_pass_falls_back(monkeypatch):
    """The block of a function is cut at the last line holding code (``co_positions``); a block whose cut would
    drop a statement without code (``else: pass``) is found by inspect's block finder instead. A function without
    an if, while or for is returned without reading its source."""
    ends_in_pass = gj.function(_ends_in_pass_returning)
    for value in (-3.0, 4.0, 12.0):
        want = (value * 2.0 if value > 0 else -value) + (1.0 if value > 10 else 0.0)
        assert float(ends_in_pass(_t(value))) == want
    for value in (1.5, 7.0):
        want = (max(value, 5.0) if value >= 5.0 else value + np.ceil(5.0 - value)) * 3.0
        assert float(gj.function(_decorated_with_a_trailing_helper)(_t(value))) == want
    assert autograph.convert(_decorated_with_a_trailing_helper) is not _decorated_with_a_trailing_helper
    assert autograph.convert(_ends_in_pass_returning) is not _ends_in_pass_returning
    read = []
    monkeypatch.setattr(autograph.linecache, "getlines", lambda *a: read.append(a) or [])

    def straight(x):
        return gj.exp(-x * x) * 2.0
    assert autograph.convert(straight) is straight and not read
    assert float(gj.function(straight)(_t(1.0))) == pytest.approx(np.exp(-1.0) * 2.0)


def _ends_in_pass_returning(x):
    if x > 0:
        y = x * 2.0
    else:
        y = -x
        pass
    if x > 10:
        y = y + 1.0
    else:
        pass
    return y


def _cut_mid_block(x):
    if x > 0:
        y = x + 1.0
    else:
        y = x - 1.0
    return y


def test_a_cut_that_does_not_parse_falls_back_to_the_whole_block(monkeypatch):
    """Where the lines up to the last one with code do not parse (a trailing statement without code, such as an
    ``else: pass``, may end the block), inspect's block finder gives the block."""
    monkeypatch.setattr(autograph, "_last_line", lambda code: code.co_firstlineno + 3)   # ends at the else:
    fn = gj.function(_cut_mid_block)
    assert autograph.convert(_cut_mid_block) is not _cut_mid_block
    assert float(fn(_t(2.0))) == 3.0 and float(fn(_t(-2.0))) == -3.0
