"""`python -m graphjit.bench` at tiny sizes: it runs, checks results, writes its JSON and prints its table."""
import contextlib
import dataclasses
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


# -- the memory floor, spreads, paired ratios, groups and peers (issue 22, item 6) --------------------------


def test_every_row_has_its_floor_percentage_from_the_bandwidth_measured_in_the_same_run(w3_w6):
    _, results, out = w3_w6
    bandwidth = results["bandwidth"]["bytes_per_s"]
    assert bandwidth > 1e8 and len(results["bandwidth"]["runs_s"]) == 10
    assert "memory bandwidth:" in out and "GB/s" in out
    w3 = results["workloads"]["W3"]
    assert w3["floor"]["bytes"] == 3 * 16777 * 4  # x and y read once, the float32 result written once
    assert w3["floor"]["seconds"] == pytest.approx(w3["floor"]["bytes"] / bandwidth)
    for rec in results["workloads"].values():
        for name, row in rec["contenders"].items():
            assert row["pct_of_floor"] == pytest.approx(100 * rec["floor"]["seconds"] / row["median_s"]), name


def test_rows_show_min_and_max_beside_the_median_and_why_the_repeats_stopped(w3_w6):
    _, results, out = w3_w6
    for rec in results["workloads"].values():
        assert rec["repeats"] >= (5 if rec["per_call"] else 3) and rec["stopped"]
        for row in rec["contenders"].values():
            assert row["min_s"] == min(row["samples_s"]) and row["max_s"] == max(row["samples_s"])
            assert row["min_s"] <= row["median_s"] <= row["max_s"]
    assert "[min-max]" in out and "% floor" in out


def test_speed_ups_are_medians_of_per_repetition_ratios(w3_w6):
    _, results, _ = w3_w6
    from statistics import median
    for rec in results["workloads"].values():
        base = rec["contenders"]["numpy"]["samples_s"]
        for row in rec["contenders"].values():
            ratios = [a / b for a, b in zip(base, row["samples_s"])]
            assert row["speedup_vs_numpy"] == pytest.approx(median(ratios))
            assert row["speedup_range"] == pytest.approx([min(ratios), max(ratios)])


def test_adaptive_repeats_stop_at_the_cap_when_the_spread_stays_large(monkeypatch):
    monkeypatch.setattr(bench, "SPREAD_TARGET", -1.0)  # never small enough
    args = bench.parse_args(["--quick"])
    live = [(bench.wl.Contender("numpy", None), lambda: None, 1)]
    rows = {"numpy": {"kind": "numpy"}}
    timing = bench._time_rows(rows, live, bench.wl.BY_KEY["W3"], args)
    assert timing["repeats"] >= args.repeats_big and "cap" in timing["stopped"]
    assert len(rows["numpy"]["samples_s"]) == timing["repeats"]


def test_a_disagreeing_peer_is_shown_as_such_and_a_target_against_it_is_not_judged(monkeypatch, tmp_path):
    s2 = bench.WORKLOADS["S2"]
    wrong = dataclasses.replace(s2, baselines=(("bad peer", lambda x, y: x * y),),
                                targets=(bench.wl.Target(">= bad peer", "speedup", 1.0, vs="bad peer"),))
    monkeypatch.setitem(bench.WORKLOADS, "S2", wrong)
    path, out = tmp_path / "s2.json", io.StringIO()
    with contextlib.redirect_stdout(out):
        status = bench.main([*TINY, "--repeats", "3", "--only", "S2", "--json", str(path)])
    results = json.loads(path.read_text())
    row = results["workloads"]["S2"]["contenders"]["bad peer"]
    assert row["agrees"] is False and row["err_over_tol"] > 1 and row["median_s"] > 0
    assert status == 0 and results["graphjit_agrees"] is True  # the peer's error is not graphjit's failure
    assert [t["met"] for t in results["targets"]] == [None]
    text = out.getvalue()
    assert "peer disagrees with NumPy: shown, not judged" in text and "not judged: bad peer" in text
    assert "graphjit results agree with NumPy: yes" in text


def test_requested_peers_that_are_not_installed_are_said_so(monkeypatch, capsys):
    monkeypatch.setattr(bench.wl, "installed_peers", lambda: {p: None for p in bench.wl.PEERS})
    args = bench.parse_args(["--peers", "jax,tf"])
    assert args.missing_peers == ["jax", "tensorflow"] and args.peers == []
    assert bench.parse_args([]).missing_peers == []  # the default asks for nothing in particular
    assert bench.main([*TINY[:3], "--repeats", "2", "--peers", "jax,tf", "--only", "S1"]) == 0
    out = capsys.readouterr().out
    assert "requested peers not installed (no rows for them): jax, tensorflow" in out


def test_groups_select_their_workloads_and_unknown_groups_are_usage_errors(capsys):
    assert bench.parse_args(["--group", "powers"]).only == ["P1"]
    assert bench.parse_args(["--group", "norm,small"]).only == ["N1", "N2", "N3", "S1", "S2"]
    assert bench.parse_args(["--group", "norm", "--only", "N2"]).only == ["N2"]
    for argv in (["--group", "gpu"], ["--group", "powers", "--only", "W1"]):
        with pytest.raises(SystemExit) as exit_info:
            bench.parse_args(argv)
        assert exit_info.value.code == 2
    assert "unknown group(s) gpu" in capsys.readouterr().err


def test_the_new_groups_check_every_contender_and_judge_their_targets(tmp_path):
    path, out = tmp_path / "groups.json", io.StringIO()
    with contextlib.redirect_stdout(out):
        status = bench.main([*TINY, "--repeats", "3", "--only", "P1,F1,N1,S1,C1", "--json", str(path)])
    results = json.loads(path.read_text())
    assert status == 0 and results["all_agree"], results["disagreeing"]
    contenders = {k: set(rec["contenders"]) for k, rec in results["workloads"].items()}
    assert contenders["P1"] == {"numpy", "numpy, multiplies", "numba by hand", "gj traced", "gj traced, multiplies"}
    assert contenders["F1"] == contenders["N1"] == contenders["S1"] == {"numpy", "numba by hand", "gj traced"}
    assert results["workloads"]["F1"]["contenders"]["gj traced"]["dtype"] == "float64"
    c1 = results["workloads"]["C1"]["contenders"]
    assert set(c1) == {"numpy", "gj traced", "gj traced, warm cache", "numba by hand"}
    assert all(len(row["calls_s"]) == 10 and row["agrees"] for row in c1.values())
    names = [t["name"] for t in results["targets"]]
    assert names == ["P1 gj traced vs gj traced, multiplies", "F1 gj traced vs numpy", "N1 gj traced vs numba by hand",
                     "N1 gj traced % of floor", "S1 gj traced per call", "C1 first call vs NumPy eager + 20 ms",
                     "C1 calls 3..10 vs gj traced steady", "C1 warm cache: calls 3..10 vs its steady"]
    assert all(isinstance(t["met"], bool) for t in results["targets"])
    ratio = results["targets"][0]
    rows = results["workloads"]["P1"]["contenders"]
    from statistics import median
    assert ratio["value"] == pytest.approx(median(
        a / b for a, b in zip(rows["gj traced, multiplies"]["samples_s"], rows["gj traced"]["samples_s"])))
    assert "calls 1..10:" in out.getvalue()


def test_plot_draws_speed_ups_and_floor_percentages(tmp_path):
    pytest.importorskip("matplotlib")  # the optional [bench] extra
    path = tmp_path / "bench.png"
    with contextlib.redirect_stdout(io.StringIO()):
        assert bench.main([*TINY, "--repeats", "2", "--only", "W3,S1", "--plot", str(path)]) == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_device_that_cannot_run_is_refused_before_anything_runs():
    import subprocess
    import sys
    from graphjit.runtime import devices
    if devices.cuda_problem(0) is None:
        import pytest
        pytest.skip("this machine can run CUDA")
    done = subprocess.run([sys.executable, "-m", "graphjit.bench", "--device", "cuda", "--only", "W3"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--device cuda: device cuda:0 cannot be used" in done.stderr
    assert "W3" not in done.stdout
