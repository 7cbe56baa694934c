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


def test_training_example_learns_in_both_styles_with_one_trace_and_saves_the_slots():
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "training.py")], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for style in ("TF2", "TF1"):
        losses = [float(line.split("loss")[1]) for line in lines if line.startswith(f"{style} step")]
        assert len(losses) == 4 and losses == sorted(losses, reverse=True), (style, losses)
        accuracy = next(float(line.split(":")[1].split(";")[0]) for line in lines if line.startswith(f"{style} accuracy"))
        assert accuracy > 0.75, (style, accuracy)   # three separable-ish clusters; chance is 1/3
    assert "train_step traces: 1" in lines
    assert "checkpoint: 14 entries, 8 optimizer slots" in result.stdout   # 4 variables, 2 slots each, iterations, save_counter
