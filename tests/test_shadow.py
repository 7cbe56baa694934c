"""Shadow mode: a compiled graph run beside the reference interpreter finds a broken lowering and names it."""
import warnings

import numpy as np
import pytest

import graphjit as gj
from graphjit.tracer.registry import OPS


@pytest.fixture
def compiled(monkeypatch):
    monkeypatch.setattr(gj.config, "backend", "cpu")
    monkeypatch.setattr(gj.config, "compile_in_background", False)


def _graph(x, v):
    y = gj.sin(x) * 2.0  # the line the report must name
    v.assign_add(y)
    return y + 1.0, gj.reduce_sum(y)


def test_a_correct_graph_passes_and_updates_its_variables_once(compiled, monkeypatch):
    monkeypatch.setattr(gj.config, "debug_compare", True)
    x = np.linspace(-3, 3, 1000).astype(np.float32)
    v = gj.Variable(np.zeros(1000, np.float32))
    f = gj.function(_graph)
    out, total = f(x, v)
    out, total = f(x, v)
    expected = np.sin(x.astype(np.float64)) * 2
    np.testing.assert_allclose(out.numpy(), expected + 1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(v.numpy(), 2 * expected, rtol=1e-5, atol=1e-6)  # two calls, not four


def test_a_broken_lowering_is_found_and_named(compiled, monkeypatch):
    monkeypatch.setattr(OPS["sin"], "lower", OPS["cos"].lower)  # the bug: sin compiled as cos
    x = np.linspace(-3, 3, 1000).astype(np.float32)
    v = gj.Variable(np.zeros(1000, np.float32))
    f = gj.function(_graph, debug_compare=True)
    with pytest.raises(gj.errors.NumericalMismatchError) as info:
        f(x, v)
    message = str(info.value)
    assert "differs from the reference interpreter" in message
    assert "first differing node of the optimized graph" in message and "= sin(" in message
    assert "f32[1000]" in message
    assert "test_shadow.py" in message and "y = gj.sin(x) * 2.0" in message  # the user's line
    assert "compiled:" in message and "interpreter:" in message
    np.testing.assert_allclose(v.numpy(), 2 * np.cos(x), rtol=1e-6)  # the compiled run's update, once


def test_warn_mode_warns_and_returns_the_compiled_result(compiled, monkeypatch):
    monkeypatch.setattr(OPS["sin"], "lower", OPS["cos"].lower)
    monkeypatch.setattr(gj.config, "debug_compare", "warn")
    x = np.linspace(-1, 1, 64).astype(np.float32)
    f = gj.function(lambda x: gj.sin(x) + 0.0)
    with pytest.warns(RuntimeWarning, match="= sin"):
        out = f(x)
    np.testing.assert_allclose(out.numpy(), np.cos(x), rtol=1e-6)


def test_a_function_can_opt_out_while_config_is_on(compiled, monkeypatch):
    monkeypatch.setattr(OPS["sin"], "lower", OPS["cos"].lower)
    monkeypatch.setattr(gj.config, "debug_compare", True)
    f = gj.function(lambda x: gj.sin(x) * 1.0, debug_compare=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f(np.zeros(8, np.float32))  # no comparison, no error: the function said so


def test_turning_it_on_reaches_functions_already_on_their_fast_path(compiled, monkeypatch):
    monkeypatch.setattr(OPS["sin"], "lower", OPS["cos"].lower)
    f = gj.function(lambda x: gj.sin(x) * 3.0)
    x = np.linspace(0, 1, 16).astype(np.float32)
    f(x)
    f(x)  # now on the per-call shortcut
    monkeypatch.setattr(gj.config, "debug_compare", True)
    with pytest.raises(gj.errors.NumericalMismatchError):
        f(x)
