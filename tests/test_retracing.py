"""Retraces that explain themselves: ``gj.config.explain_retracing`` logs why each new trace happened, a function
traced 5, 10, 20... times warns with the reason, and ``@gj.function(max_traces=N)`` raises RetraceError."""
import logging

import numpy as np
import pytest

import graphjit as gj
from graphjit import errors

LOGGER = "graphjit.function"


@pytest.fixture
def explain(monkeypatch):
    monkeypatch.setattr(gj.config, "explain_retracing", True)


def _vector(n, dtype=np.float32):
    return gj.constant(np.ones(n, dtype))


def _messages(caplog, level=logging.INFO):
    """The logger's messages at ``level`` (None: all of them)."""
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and level in (None, r.levelno)]


def test_each_new_trace_is_logged_with_what_changed_and_the_call_site(explain, caplog):
    @gj.function
    def scale(x, n):
        return x * n
    with caplog.at_level(logging.INFO, logger=LOGGER):
        scale(_vector(3), 2)
        scale(_vector(4), 2)
        scale(_vector(4, np.float64), 3)
        scale(_vector(4, np.float64), 3)   # no new trace: nothing logged
        scale(_vector(4, np.float64), 2.5)
    first, shape, dtype_and_value, python_type = _messages(caplog)
    assert first.startswith("scale: first trace (at ") and "test_retracing.py" in first
    assert "scale: trace 2, because x: shape (3,) -> (4,) (at " in shape
    assert "because x: dtype float32 -> float64; n: Python value 2 -> 3 (at " in dtype_and_value
    assert "n: Python int 3 -> Python float 2.5" in python_type


def test_explanations_name_nested_leaves_variables_and_new_function_objects(explain, caplog):
    a, b = gj.Variable(1.0, name="a"), gj.Variable(2.0, name="b")

    @gj.function
    def f(pair, v, fn=None):
        return gj.reduce_sum(pair[0]) + gj.reduce_sum(pair[-1]) + v
    with caplog.at_level(logging.INFO, logger=LOGGER):
        f((_vector(2), _vector(2)), a)
        f((_vector(2), _vector(3)), a)
        f((_vector(2), _vector(3)), b)
        f((_vector(2), _vector(3)), b, fn=lambda: 0)
        f((_vector(2), _vector(3)), b, fn=lambda: 0)
        f([_vector(2)], b)
    _, nested, variable, _, function_object, structure = _messages(caplog, None)   # the 5th is the warning
    assert "because pair[1]: shape (2,) -> (3,)" in nested
    assert f"because v: a different variable ({a.name!r} -> {b.name!r})" in variable
    assert "because fn: a different function object" in function_object and "new closure" in function_object
    assert "pair: a tuple of 2 -> a list of 1" in structure


def test_a_function_traced_five_times_warns_with_the_reason_even_without_explain_retracing(caplog):
    @gj.function
    def g(x):
        return x + 1.0
    with caplog.at_level(logging.INFO, logger=LOGGER):
        for n in range(1, 5):
            g(_vector(n))
        assert _messages(caplog, logging.WARNING) == [] and _messages(caplog) == []   # explain_retracing is off
        g(_vector(5))
        (warning,) = _messages(caplog, logging.WARNING)
        for n in range(6, 11):
            g(_vector(n))
    assert warning.startswith("g has been traced 5 times, the latest because x: shape (4,) -> (5,)")
    assert "pass changing numbers as tensors" in warning and "explain_retracing" in warning
    assert len(_messages(caplog, logging.WARNING)) == 2   # again at the 10th, next at the 20th


def test_max_traces_raises_retrace_error_with_the_explanation_and_keeps_the_traces_it_has():
    @gj.function(max_traces=2)
    def h(x, k):
        return x * k
    h(_vector(3), 1)
    h(_vector(3), 2)
    with pytest.raises(errors.RetraceError, match=r"h: a new trace \(number 3\) would exceed max_traces=2; it would "
                                                  r"trace again because k: Python value 2 -> 3\n  at .*test_retracing"):
        h(_vector(3), 3)
    np.testing.assert_array_equal(h(_vector(3), 2).numpy(), np.full(3, 2, np.float32))
    assert h.experimental_get_tracing_count() == 2


def test_methods_inherit_max_traces_and_bad_settings_are_refused():
    class Model:
        @gj.function(max_traces=1)
        def __call__(self, x):
            return x * 2.0
    model = Model()
    model(_vector(2))
    with pytest.raises(errors.RetraceError, match="x: shape"):
        model(_vector(3))
    with pytest.raises(errors.InvalidArgumentError, match="max_traces"):
        gj.function(lambda x: x, max_traces=0)
    with pytest.raises(errors.InvalidArgumentError, match="explain_retracing"):
        gj.config.explain_retracing = "yes"


def test_get_concrete_function_without_arguments_on_a_signature_with_unknown_dims_is_the_one_symbolic_trace():
    @gj.function(input_signature=[gj.TensorSpec([None, 3], gj.float32)])
    def f(x):
        return x * 2.0
    concrete = f.get_concrete_function()
    assert concrete.structured_outputs.shape.as_list() == [None, 3]
    assert str(concrete.graph).startswith("graph f(%0: f32[n0,3])")
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.testing.assert_array_equal(concrete(x).numpy(), x * 2)
    np.testing.assert_array_equal(f(x[:2]).numpy(), x[:2] * 2)
    assert f.experimental_get_tracing_count() == 1
    assert f.get_concrete_function(gj.TensorSpec([2, 3], gj.float32)) is concrete   # (as TF: the one trace)
    assert f.get_concrete_function(x) is concrete
    with pytest.raises(errors.InvalidArgumentError, match="traced for f32\\[n0,3\\]"):
        concrete(np.ones((4, 2), np.float32))


def test_a_list_for_one_spec_is_one_tensor_also_through_star_args():
    @gj.function(input_signature=[gj.TensorSpec([3], gj.float32), gj.TensorSpec([], gj.float32)])
    def scaled(*xs):
        return xs[0] * xs[1]
    np.testing.assert_array_equal(scaled([1.0, 2.0, 3.0], 2.0).numpy(), np.array([2, 4, 6], np.float32))

    @gj.function(input_signature=[gj.TensorSpec([2], gj.float32)])
    def one(x, y=3.0):
        return x * y
    np.testing.assert_array_equal(one([1.0, 2.0]).numpy(), np.array([3, 6], np.float32))
    with pytest.raises(errors.InvalidArgumentError, match="input_signature has 2 entries but the call passed 1"):
        scaled([1.0, 2.0, 3.0])
    assert scaled.experimental_get_tracing_count() == 1


def test_a_generalised_trace_says_which_sizes_became_unknown(explain, caplog):
    @gj.function(reduce_retracing=True)
    def g(x, scale):
        return x * scale
    with caplog.at_level(logging.INFO, logger=LOGGER):
        for n in (3, 5, 7, 9):
            np.testing.assert_array_equal(g(_vector(n), 2.0).numpy(), np.full(n, 2, np.float32))
    assert g.experimental_get_tracing_count() == 2
    first, second = _messages(caplog)
    assert "first trace" in first and "trace 2, because x: shape (3,) -> (None,)" in second


def test_no_new_trace_for_new_sizes_of_a_signature_with_unknown_dims_and_max_traces_one():
    @gj.function(input_signature=[gj.TensorSpec([None], gj.float32)], max_traces=1)
    def f(x):
        return x + 1.0
    for n in (2, 3, 50):
        np.testing.assert_array_equal(f(_vector(n)).numpy(), np.full(n, 2, np.float32))
    with pytest.raises(errors.RetraceError, match="x: shape \\(None,\\) -> \\(1,\\)"):
        f(_vector(1))   # size 1 is traced per size (broadcasting would decide differently)
