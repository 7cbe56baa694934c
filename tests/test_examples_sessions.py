"""examples/sessions.py runs as a newcomer runs it, and its sections return what they print."""
import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "sessions.py"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("graphjit_example_sessions", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sessions_example_runs_and_prints_each_section():
    env = dict(os.environ, GRAPHJIT_BACKEND="interpreter")  # fast: no Numba compiles
    result = subprocess.run([sys.executable, str(EXAMPLE)], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    lines = out.splitlines()
    for section in range(1, 9):
        assert any(line.startswith(f"=== {section}. ") for line in lines), f"section {section} missing"
    assert "run(scaled): [23. 45. 67.]" in out
    assert "same probabilities both ways: True" in out
    assert "graphs: normalizer and scorer" in out
    assert "belongs to graph normalizer, not to graph scorer" in out
    assert sum("inference plans compiled so far: 1 " in line for line in lines) == 4
    assert "a second session on the same graph compiled 0 plans" in out
    assert [line for line in lines if line.startswith("count = ")] == ["count = 1", "count = 2", "count = 3"]
    assert "v = 42 then, after assign(13), v = 13" in out
    assert "Attempting to use uninitialized value v" in out
    assert "third session, after running init: v = 42" in out
    assert "restored values equal saved ones: True | same predictions: True" in out
    assert "softmax(x @ W + b) equals the session results: True | traces: 1" in out
    assert "counter: [1, 2, 3] equals the session counter: True" in out
    assert "equals the Saver-restored session values: True" in out


def test_feeds_section_returns_fed_results(example):
    results = example.placeholders_and_feeds()
    np.testing.assert_array_equal(results["scaled"], [23.0, 45.0, 67.0])
    np.testing.assert_array_equal(results["both"]["total"], [3.0, 6.0])
    np.testing.assert_array_equal(results["both"]["scaled"], [7.0, 13.0])
    np.testing.assert_array_equal(results["total"], [0.75])


def test_session_passed_owned_and_default_agree(example):
    results = example.sessions_in_functions()
    np.testing.assert_array_equal(results["passed"], results["owned"])
    np.testing.assert_array_equal(results["classes"], results["passed"].argmax(axis=1))


def test_two_modules_keep_separate_values(example):
    results = example.two_modules()
    assert results["seen"] == [(1, 101), (2, 102), (3, 103)]
    assert "belongs to graph normalizer" in results["cross_graph_error"]


def test_reused_session_compiles_once_per_shape(example):
    results = example.reused_session_inference()
    assert results["counts"] == [1, 1, 1, 1]
    assert results["second_session_compiles"] == 0
    x = example.BATCHES[2]
    logits = x @ example.W_INIT + example.B_INIT
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(results["probs"][2], expected, rtol=1e-5)


def test_counter_and_uninitialized_value(example):
    assert example.counter() == [1, 2, 3]
    results = example.values_live_in_sessions()
    assert (results["initial"], results["assigned"], results["reinitialized"]) == (42, 13, 42)
    assert "Attempting to use uninitialized value v" in results["error"]


def test_saver_round_trip_and_tf2_agree(example, tmp_path):
    restored = example.save_and_restore(str(tmp_path / "tf1"))
    np.testing.assert_array_equal(restored["restored"]["W"], example.W_INIT * np.float32(0.5))
    np.testing.assert_array_equal(restored["restored"]["b"], example.B_INIT + np.float32(1.0))
    for key in ("W", "b"):
        np.testing.assert_array_equal(restored["saved"][key], restored["restored"][key])
    tf2 = example.tf2_style({"inference": example.reused_session_inference(), "counter": [1, 2, 3],
                             "restore": restored}, str(tmp_path / "tf2"))
    assert tf2["probs_equal"] and tf2["restore_equal"]
    assert tf2["counts"] == [1, 2, 3] and tf2["v"] == 13


def test_session_overhead_benchmark_smoke(tmp_path):
    """benchmarks/session_overhead.py still runs (tiny samples, interpreter backend, no TensorFlow)."""
    out = tmp_path / "overhead.json"
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "session_overhead.py"), "--repeats", "1",
                             "--sample-ms", "1", "--backend", "interpreter", "--no-tensorflow", "--json", str(out)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "gj Session.run" in result.stdout and "@gj.function call" in result.stdout
    report = json.loads(out.read_text())
    assert set(report["workloads"]) == {"affine", "softmax"}
    assert report["workloads"]["affine"]["contenders"]["@gj.function call"]["ratio_vs_function"] == 1.0
