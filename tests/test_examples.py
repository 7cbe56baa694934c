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
