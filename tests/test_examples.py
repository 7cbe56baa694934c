"""The examples run as a newcomer runs them (README's first command runs the quickstart)."""
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_quickstart_runs_and_shows_eager_values_traces_and_the_graph():
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart.py")], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "traces: 1 (three calls, one signature)" in out
    assert sum(line.startswith("total is now") for line in out.splitlines()) == 3
    assert "graph accumulate(%0: f32[4,3]) {" in out
    assert "assign_variable" in out and "read_variable" in out


def _run_example(name):
    result = subprocess.run([sys.executable, str(ROOT / "examples" / name)], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_linear_regression_finds_w_2_and_b_1_in_both_styles():
    out = _run_example("linear_regression.py")
    for style in ("TF2", "TF1"):
        line = next(line for line in out.splitlines() if line.startswith(f"{style}:"))
        w = float(line.split("W = ")[1].split(",")[0])
        b = float(line.split("b = ")[1].split(",")[0])
        assert abs(w - 2) <= 0.05 and abs(b - 1) <= 0.05, line
    assert "(1 trace)" in out and "3 plans compiled for 200 runs" in out


def test_mlp_training_reaches_95_percent_and_resumes_from_its_checkpoint_exactly():
    lines = _run_example("mlp_training.py").splitlines()
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert len(epochs) == 9   # 6 epochs, then the restored model's last 3
    losses = [float(line.split("loss ")[1].split(",")[0]) for line in epochs[:6]]
    assert losses == sorted(losses, reverse=True), losses
    assert epochs[3:6] == epochs[6:9]   # the restored run prints what the original did
    final = lines[-1]
    assert float(final.split("accuracy ")[1].split(";")[0]) >= 0.95
    assert "restored run identical: True" in final and "train_step traces: 1" in final


def test_data_parallel_training_on_dask_matches_one_process():
    import pytest
    pytest.importorskip("distributed")   # the [distributed] extra; the test extra installs it
    lines = _run_example("data_parallel.py").splitlines()
    accuracies = [float(line.rsplit("test accuracy ", 1)[1]) for line in lines if "test accuracy" in line]
    assert len(accuracies) == 2 and accuracies[0] == accuracies[1] >= 0.95, lines
    assert float(lines[-1].rsplit(" ", 1)[1]) < 1e-4, lines[-1]   # the same weights, up to float32 rounding
