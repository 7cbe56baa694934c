"""`python -m graphjit.bench` at tiny sizes: it runs, checks results, writes its JSON and prints its table."""
import contextlib
import io
import json
import subprocess
import sys

import pytest

from graphjit import bench

TINY = ["--quick", "--size-scale", "0.001", "--peers", "none"]


@pytest.fixture(scope="module")
def w3_w6(tmp_path_factory):
    """One quick run of W3 and W6 at 1/1000 of their sizes (W6 is always 16 elements); its JSON and output."""
    path = tmp_path_factory.mktemp("bench") / "results.json"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = bench.main([*TINY, "--only", "W3,W6", "--json", str(path)])
    return status, json.loads(path.read_text()), out.getvalue()


def test_json_has_machine_versions_settings_and_every_measurement(w3_w6):
    status, results, _ = w3_w6
    assert status == 0
    for key in ("machine", "versions", "peers", "settings", "workloads", "targets", "all_agree", "total_time_s",
                "conventions"):
        assert key in results, key
    assert {"cpu_model", "cores"} <= set(results["machine"])
    assert {"python", "numpy", "numba", "graphjit"} <= set(results["versions"])
    assert results["settings"]["only"] == ["W3", "W6"] and results["settings"]["size_scale"] == 0.001
    assert list(results["workloads"]) == ["W3", "W6"]
    assert results["workloads"]["W3"]["input_shapes"] == {"x": [16777], "y": [16777]}
    assert results["workloads"]["W6"]["input_shapes"] == {"a": [16], "b": [16]}
    for rec in results["workloads"].values():
        assert {"numpy", "gj eager", "gj traced"} <= set(rec["contenders"])
        for name, row in rec["contenders"].items():
            assert row["first_call_s"] > 0 and row["median_s"] > 0, name
            assert len(row["samples_s"]) == rec["repeats"]
        assert rec["contenders"]["numpy"]["speedup_vs_numpy"] == pytest.approx(1.0)


def test_every_result_agrees_with_numpy(w3_w6):
    _, results, _ = w3_w6
    assert results["all_agree"] is True
    for rec in results["workloads"].values():
        for name, row in rec["contenders"].items():
            assert row["agrees"] and row["dtype"] == "float32" and row["err_over_tol"] <= 1.0, name


def test_targets_are_reported_not_enforced(w3_w6):
    _, results, out = w3_w6
    names = [t["name"] for t in results["targets"]]
    assert names == ["W3 traced speed-up vs NumPy", "W6 traced per-call overhead over np.add"]
    assert all(isinstance(t["met"], bool) for t in results["targets"])
    assert "targets (graphjit traced" in out and ("not met" in out or " met" in out)


def test_printed_table_has_eager_traced_and_numpy_rows_and_names_the_sizes(w3_w6):
    _, _, out = w3_w6
    lines = out.splitlines()
    for key, sizes in (("W3", "x, y: f32[16777]"), ("W6", "a, b: f32[16]")):
        start = next(i for i, line in enumerate(lines) if line.startswith(key + " "))
        assert sizes in lines[start]
        rows = [line.split()[:2] for line in lines[start + 1:start + 4]]
        assert [rows[0][0], " ".join(rows[1]), " ".join(rows[2])] == ["numpy", "gj eager", "gj traced"]
    assert "sizes scaled by 0.001" in out
    assert "total run time:" in out


def test_bad_arguments_exit_with_a_usage_error(capsys):
    for argv in (["--only", "W9"], ["--size-scale", "0"], ["--peers", "cupy"]):
        with pytest.raises(SystemExit) as exit_info:
            bench.parse_args(argv)
        assert exit_info.value.code == 2
    assert "unknown peer(s) cupy" in capsys.readouterr().err


def test_plot_without_matplotlib_gives_a_clear_message_not_a_traceback(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now raises ImportError
    with pytest.raises(SystemExit) as exit_info:
        bench.main([*TINY, "--only", "W6", "--plot", str(tmp_path / "bench.png")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--plot needs matplotlib, which is not installed" in err and "pip install matplotlib" in err
    assert "Traceback" not in err and not (tmp_path / "bench.png").exists()


def test_command_line_entry_point_runs_w1_with_the_new_process_rows(tmp_path):
    """`python -m graphjit.bench` end to end on W1, with its cold/warm-cache first calls in new processes."""
    path = tmp_path / "w1.json"
    proc = subprocess.run([sys.executable, "-m", "graphjit.bench", *TINY, "--only", "W1", "--json", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    results = json.loads(path.read_text())
    new_process = results["new_process_w1"]
    assert "gj traced, new process" in proc.stdout
    if "error" not in new_process:
        assert new_process["cold_s"] > 0 and new_process["warm_s"] > 0
    assert proc.returncode == (0 if results["all_agree"] else 1)
    assert [t["name"] for t in results["targets"]][-3:] == [
        "W1 trace + compile until compiled code runs, cold cache", "W1 first result (interpreter while compiling)",
        "W1 warm-cache first result, beyond import numba"]


def test_training_step_benchmark_runs_and_every_contender_agrees_with_the_float64_reference(tmp_path):
    """benchmarks/train_step.py at a small batch: NumPy, gj eager, gj traced and compat.v1 train the same MLP and
    end within the stated tolerance of the float64 reference (its exit status says so)."""
    path = tmp_path / "train.json"
    root = __import__("pathlib").Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, str(root / "benchmarks" / "train_step.py"), "--batch", "8", "--repeats", "2",
                           "--json", str(path)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads(path.read_text())["results"]
    assert set(results) == {"numpy (by hand)", "gj eager (tape)", "gj traced (@gj.function)", "compat.v1 Session.run"}
    assert all(r["agrees"] and r["median_ms"] > 0 for r in results.values())


def test_the_train_group_checks_every_contenders_parameters_and_reports_its_targets(tmp_path):
    path = tmp_path / "train.json"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = bench.main(["--quick", "--repeats", "2", "--peers", "none", "--only", "T1", "--json", str(path)])
    results = json.loads(path.read_text())
    assert status == 0 and results["all_agree"]
    rows = results["workloads"]["T1"]["contenders"]
    assert set(rows) == {"numpy", "gj eager", "gj traced"} and all(r["median_s"] > 0 for r in rows.values())
    assert [t["name"] for t in results["targets"]] == ["T1 traced step vs NumPy by hand"]
    assert "T1 linear regression, one SGD step" in out.getvalue()
