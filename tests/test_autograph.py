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
