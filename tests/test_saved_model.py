"""gj.saved_model: save and load without the defining source, checked against the original function's results;
every refusal of a damaged, tampered or newer export, with nothing half-loaded."""
import hashlib
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import graphjit as gj
from graphjit.errors import DataLossError, InvalidArgumentError, NotFoundError

# ---- fresh processes: the module that defined the functions is absent where they are loaded ----------------

MODEL_SOURCE = '''
import numpy as np
import graphjit as gj

w = gj.Variable(np.linspace(-1, 1, 6, dtype=np.float32).reshape(3, 2), name="w")


@gj.function(input_signature=[gj.TensorSpec([None, 3], gj.float32)])
def plain(x):
    return gj.nn.relu(x * 2.0 - 0.5) + gj.exp(-x * x)


@gj.function(input_signature=[gj.TensorSpec([None, 3], gj.float32)])
def with_variables(x):
    y = gj.matmul(x, w)
    return {"y": gj.tanh(y) + 1.0, "total": gj.reduce_sum(y, axis=0)}


class Model(gj.Module):
    def __init__(self):
        super().__init__()
        rng = np.random.default_rng(1)
        self.kernel = gj.Variable(rng.normal(size=(3, 1)).astype(np.float32), name="kernel")
        self.bias = gj.Variable(np.zeros(1, np.float32), name="bias")
        self.steps = gj.Variable(np.int32(0), trainable=False, name="steps")

    @gj.function(input_signature=[gj.TensorSpec([None, 3], gj.float32)])
    def predict(self, x):
        return x @ self.kernel + self.bias

    @gj.function(input_signature=[gj.TensorSpec([None, 3], gj.float32), gj.TensorSpec([None, 1], gj.float32)])
    def train_step(self, x, y):
        with gj.GradientTape() as tape:
            loss = gj.reduce_mean(gj.square(x @ self.kernel + self.bias - y))
        grads = tape.gradient(loss, [self.kernel, self.bias])
        self.kernel.assign_sub(0.1 * grads[0])
        self.bias.assign_sub(0.1 * grads[1])
        self.steps.assign_add(1)
        return loss
'''

SAVE_SCRIPT = '''
import sys
import numpy as np
import graphjit as gj
sys.path.insert(0, sys.argv[1])
import saved_model_source as src

out = sys.argv[2]
rng = np.random.default_rng(0)
x = rng.normal(size=(7, 3)).astype(np.float32)
y = (x @ np.array([[1.0], [-2.0], [0.5]], np.float32) + 0.25).astype(np.float32)
model = src.Model()
gj.saved_model.save(src.plain, out + "/plain")
gj.saved_model.save(src.with_variables, out + "/with_variables")
gj.saved_model.save(model, out + "/module")
expected = {"x": x, "y": y, "plain": src.plain(x).numpy(), "plain_big": src.plain(np.ones((40, 3), np.float32)).numpy()}
result = src.with_variables(x)
expected["with_variables.y"], expected["with_variables.total"] = result["y"].numpy(), result["total"].numpy()
expected["predict"] = model.predict(x).numpy()
expected["losses"] = np.array([model.train_step(x, y).numpy() for _ in range(5)])
expected["kernel"], expected["bias"] = model.kernel.numpy(), model.bias.numpy()
expected["steps"] = model.steps.numpy()
np.savez(out + "/expected.npz", **expected)
'''

LOAD_SCRIPT = '''
import sys
import numpy as np
import graphjit as gj

out = sys.argv[1]
assert "saved_model_source" not in sys.modules
exp = dict(np.load(out + "/expected.npz"))
got = {}
plain = gj.saved_model.load(out + "/plain")
got["plain"] = plain.plain(exp["x"]).numpy()
got["plain_big"] = plain.signatures["serving_default"](np.ones((40, 3), np.float32)).numpy()
with_variables = gj.saved_model.load(out + "/with_variables")
result = with_variables(x=exp["x"])
got["with_variables.y"], got["with_variables.total"] = result["y"].numpy(), result["total"].numpy()
model = gj.saved_model.load(out + "/module")
got["predict"] = model.predict(exp["x"]).numpy()
got["losses"] = np.array([model.train_step(exp["x"], exp["y"]).numpy() for _ in range(5)])
variables = {v.name: v for v in model.variables}
got["kernel"], got["bias"], got["steps"] = (variables[n].numpy() for n in ("kernel", "bias", "steps"))
assert sorted(v.name for v in model.trainable_variables) == ["bias", "kernel"], model.trainable_variables
info = gj.cache_info()   # the loaded graphs went through the compiler and its kernel cache
assert info.hits + info.memory_hits + info.misses >= 4, info
np.savez(out + "/got.npz", **got)
'''


def _run(script, *args, cwd, backend):
    env = dict(os.environ, GRAPHJIT_BACKEND=backend, GRAPHJIT_BACKGROUND_COMPILE="0")
    env.pop("PYTHONPATH", None)
    done = subprocess.run([sys.executable, "-c", script, *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def test_round_trips_in_fresh_processes_without_the_source(tmp_path):
    source_dir, out, elsewhere = tmp_path / "src", tmp_path / "out", tmp_path / "elsewhere"
    for d in (source_dir, out, elsewhere):
        d.mkdir()
    (source_dir / "saved_model_source.py").write_text(textwrap.dedent(MODEL_SOURCE))
    _run(SAVE_SCRIPT, source_dir, out, cwd=source_dir, backend="interpreter")
    _run(LOAD_SCRIPT, out, cwd=elsewhere, backend="cpu")   # loaded graphs compiled by the Numba backend
    expected, got = np.load(out / "expected.npz"), np.load(out / "got.npz")
    for key in got.files:   # the CPU backend's fused kernels against the interpreter's results
        np.testing.assert_allclose(got[key], expected[key], rtol=2e-6, atol=1e-6, err_msg=key)
    assert got["steps"] == 5 and expected["losses"][-1] < expected["losses"][0]


# ---- in process ----------------------------------------------------------------------------------------------

def test_nested_arguments_python_results_and_keywords(tmp_path):
    @gj.function(input_signature=[gj.TensorSpec([2], gj.float32),
                                  (gj.TensorSpec([], gj.float32), {"b": gj.TensorSpec([2], gj.int32),
                                                                   "a": gj.TensorSpec([None], gj.float32)})])
    def f(x, pair):
        scale, parts = pair
        return (x * scale + gj.cast(parts["b"], gj.float32), [gj.reduce_sum(parts["a"]), "label", 3])

    gj.saved_model.save(f, tmp_path / "m")
    loaded = gj.saved_model.load(tmp_path / "m")
    args = (np.array([1.0, 2.0], np.float32),
            (np.float32(3.0), {"a": np.arange(5, dtype=np.float32), "b": np.array([1, 2], np.int32)}))
    got, want = loaded.f(*args), f(*args)
    np.testing.assert_array_equal(got[0].numpy(), want[0].numpy())
    assert float(got[1][0]) == 10.0 and got[1][1:] == ["label", 3]
    again = loaded.f(pair=args[1], x=args[0])
    np.testing.assert_array_equal(again[0].numpy(), want[0].numpy())
    with pytest.raises(InvalidArgumentError, match=r"pair\[1\].*keys \['a', 'b'\]"):
        loaded.f(args[0], (np.float32(1), {"a": np.ones(2, np.float32)}))
    with pytest.raises(InvalidArgumentError, match="takes 2 argument"):
        loaded.f(args[0])


def test_control_flow_and_gradients_export_like_any_node(tmp_path):
    @gj.function(input_signature=[gj.TensorSpec([5], gj.float64), gj.TensorSpec([], gj.int32)])
    def f(x, n):
        def body(i, acc):
            return i + 1, acc * 0.5 + gj.sin(x)
        _, acc = gj.while_loop(lambda i, acc: i < n, body, (gj.constant(0), gj.zeros_like(x)))
        picked = gj.cond(gj.reduce_sum(x) > 0, lambda: acc * 2.0, lambda: -acc)
        with gj.GradientTape() as tape:
            tape.watch(x)
            y = gj.reduce_sum(gj.tanh(x) * x)
        return picked, tape.gradient(y, x)

    gj.saved_model.save(f, tmp_path / "m")
    loaded = gj.saved_model.load(tmp_path / "m")
    assert {n.op for n in loaded.f.graph.nodes} >= {"while_loop", "cond"}
    for x in (np.linspace(-1, 2, 5), -np.linspace(0.1, 1, 5)):
        got, want = loaded.f(x, np.int32(6)), f(x, np.int32(6))
        for g, w in zip(got, want):
            np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(got[1].numpy(), np.tanh(x) + x / np.cosh(x) ** 2, rtol=1e-12)


def test_signatures_argument_and_concrete_functions(tmp_path):
    @gj.function
    def double(x):
        return x * 2

    concrete = double.get_concrete_function(gj.TensorSpec([3], gj.int64))
    gj.saved_model.save(concrete, tmp_path / "c", signatures={"twice": concrete})
    loaded = gj.saved_model.load(tmp_path / "c")
    assert sorted(loaded.signatures) == ["serving_default", "twice"]
    np.testing.assert_array_equal(loaded.signatures["twice"](np.array([1, 2, 3])).numpy(), [2, 4, 6])
    with pytest.raises(InvalidArgumentError, match=r"argument 0 has type i64\[4\]"):
        loaded(np.arange(4))
    with pytest.raises(InvalidArgumentError, match="double.*no input_signature"):
        gj.saved_model.save(double, tmp_path / "d")
    with pytest.raises(InvalidArgumentError, match="Module has nothing to save"):
        gj.saved_model.save(gj.Module(), tmp_path / "e")


def test_saving_again_replaces_the_directory_whole(tmp_path):
    v = gj.Variable(np.float32(1.0), name="counter_value")

    @gj.function(input_signature=[gj.TensorSpec([], gj.float32)])
    def f(x):
        return x + v

    gj.saved_model.save(f, tmp_path / "m")
    v.assign(5.0)
    gj.saved_model.save(f, tmp_path / "m")
    assert float(gj.saved_model.load(tmp_path / "m").f(np.float32(1))) == 6.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]   # no staging or old directories left behind
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(InvalidArgumentError, match="exists and is not a saved model"):
        gj.saved_model.save(f, tmp_path / "other")
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"


# ---- refusals: each names the file and the problem; no variable is created ----------------------------------

@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    w = gj.Variable(np.arange(4, dtype=np.float32), name="refusal_w")

    @gj.function(input_signature=[gj.TensorSpec([4], gj.float32)])
    def f(x):
        return gj.exp(x) * w + 1.0

    path = tmp_path_factory.mktemp("saved") / "m"
    gj.saved_model.save(f, path)
    return path


def _copy(saved, tmp_path):
    import shutil
    target = tmp_path / "copy"
    shutil.copytree(saved, target)
    return target


def _edit_json(path, relative, edit, fix_hash=True):
    """Rewrites one JSON file of the export; with ``fix_hash`` also its manifest hash (a consistent tamper)."""
    doc = json.loads((path / relative).read_text())
    edit(doc)
    (path / relative).write_text(json.dumps(doc))
    if fix_hash and relative != "saved_model.json":
        manifest = json.loads((path / "saved_model.json").read_text())
        manifest["files"][relative] = hashlib.sha256((path / relative).read_bytes()).hexdigest()
        (path / "saved_model.json").write_text(json.dumps(manifest))


def _set_first_op(op):
    def edit(doc):
        nodes = doc["graph"]["nodes"]
        next(n for n in nodes if n["op"] == "exp")["op"] = op
    return edit


def _retype_exp(doc):
    next(n for n in doc["graph"]["nodes"] if n["op"] == "exp")["type"]["shape"] = [5]


def _truncate(path, relative):
    data = (path / relative).read_bytes()
    (path / relative).write_bytes(data[: len(data) // 2])


def _flip_byte(path, relative):
    data = bytearray((path / relative).read_bytes())
    data[len(data) // 2] ^= 0x01
    (path / relative).write_bytes(bytes(data))


REFUSALS = {
    "no manifest": (lambda p: (p / "saved_model.json").unlink(), NotFoundError, r"is not a saved model"),
    "truncated manifest": (lambda p: _truncate(p, "saved_model.json"), DataLossError, r"saved_model\.json.*truncated"),
    "newer version": (lambda p: _edit_json(p, "saved_model.json", lambda d: d.update(version=2)),
                      InvalidArgumentError, r"version 2.*reads version 1.*newer graphjit"),
    "truncated variables": (lambda p: _truncate(p, "variables.npz"), DataLossError,
                            r"variables\.npz does not match the hash.*truncated or was modified"),
    "tampered graph": (lambda p: _flip_byte(p, "graphs/0.json"), DataLossError, r"graphs/0\.json does not match"),
    "missing constants": (lambda p: (p / "constants.npz").unlink(), DataLossError, r"constants\.npz cannot be read"),
    "unknown op": (lambda p: _edit_json(p, "graphs/0.json", _set_first_op("exp_from_the_future")),
                   InvalidArgumentError, r"graphs/0\.json.*unknown op 'exp_from_the_future'"),
    "inconsistent type": (lambda p: _edit_json(p, "graphs/0.json", _retype_exp), InvalidArgumentError,
                          r"graphs/0\.json.*exp is typed f32\[5\] but its rule gives f32\[4\]"),
    "variable shape": (lambda p: _edit_json(p, "saved_model.json",
                                            lambda d: d["variables"]["refusal_w"].update(shape=[5])),
                       InvalidArgumentError, r"variables\.npz holds float32\[4\] for variable 'refusal_w'"),
    "dangling signature": (lambda p: _edit_json(p, "saved_model.json",
                                                lambda d: d["signatures"].update(serving_default="g")),
                           InvalidArgumentError, r"signature 'serving_default' naming 'g'"),
    "file outside": (lambda p: _edit_json(p, "saved_model.json", lambda d: d["files"].update({"../x": "0" * 64})),
                     InvalidArgumentError, r"outside the saved model's directory"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_damaged_exports_are_refused_by_name_and_nothing_is_loaded(saved, tmp_path, case):
    damage, error, pattern = REFUSALS[case]
    path = _copy(saved, tmp_path)
    damage(path)
    state = gj.Variable(0.0)._ref  # (any variable: to reach the runtime's state below)
    from graphjit.tracer import context
    values = context.eager_context().runtime.state.values
    before = len(values)
    with pytest.raises(error, match=pattern):
        gj.saved_model.load(path)
    assert len(values) == before, "a refused load created variables"
    del state


def test_the_undamaged_copy_loads(saved, tmp_path):
    loaded = gj.saved_model.load(_copy(saved, tmp_path))
    x = np.linspace(0, 1, 4, dtype=np.float32)
    np.testing.assert_allclose(loaded.f(x).numpy(), np.exp(x) * np.arange(4) + 1, rtol=1e-6)
