"""Checkpoints: the on-disk format (graphjit.runtime.checkpoint) and the tf.train-style API (graphjit.train)."""
import hashlib
import json
import os
import pickle

import numpy as np
import pytest

import graphjit as gj
from graphjit import train
from graphjit.errors import DataLossError, InvalidArgumentError, NotFoundError
from graphjit.runtime import checkpoint as ckpt_format

DTYPES = ("bool", "int32", "int64", "float32", "float64")
SHAPES = ((), (0,), (5,), (2, 0, 3), (2, 3))


def _sample(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * 100).astype(dtype)


def _files(directory):
    return sorted(name for name in os.listdir(directory))


class Dense:
    def __init__(self, n_in, n_out, seed):
        self.kernel = gj.Variable(_sample((n_in, n_out), np.float32, seed), name="kernel")
        self.bias = gj.Variable(np.zeros(n_out, np.float32), name="bias")
        self.units = n_out  # not a variable: ignored


class Model:
    def __init__(self):
        self.w = gj.Variable(_sample((3,), np.float32, 1), name="w")
        self.layers = [Dense(3, 4, 2), Dense(4, 2, 3)]
        self.table = {"ids": gj.Variable(np.arange(4, dtype=np.int64), name="ids")}
        self._hidden = gj.Variable(1.0, name="hidden")  # private: not tracked


class Optimizer:
    def __init__(self):
        self.step = gj.Variable(np.int32(0), name="step")


def _values(ckpt):
    return {key: var.numpy().copy() for key, var in ckpt._variables().items()}


def _assert_values(ckpt, expected):
    got = _values(ckpt)
    assert got.keys() == expected.keys()
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key], err_msg=key)


def _scramble(ckpt):
    for var in ckpt._variables().values():
        var.assign(np.ones(tuple(var.shape), var.dtype.np))


# --- low-level format ------------------------------------------------------------------------------

def test_save_arrays_round_trips_every_dtype_and_shape(tmp_path):
    arrays = {f"{dtype}/{shape}": _sample(shape, dtype, i) for i, (dtype, shape) in
              enumerate((d, s) for d in DTYPES for s in SHAPES)}
    prefix = str(tmp_path / "sub" / "dir" / "arrays")  # missing directories are created
    assert ckpt_format.save_arrays(prefix, arrays) == prefix
    loaded = ckpt_format.load_arrays(prefix)
    assert loaded.keys() == arrays.keys()
    for name, array in arrays.items():
        assert loaded[name].dtype == array.dtype and loaded[name].shape == array.shape, name
        np.testing.assert_array_equal(loaded[name], array)
    entries = ckpt_format.list_entries(prefix)
    assert entries["float32/(2, 3)"] == ((2, 3), "float32") and entries["bool/()"] == ((), "bool")


def test_files_index_and_archive_layout(tmp_path):
    arrays = {"model/w": np.arange(6, dtype=np.float32).reshape(2, 3), "flag": np.array(True)}
    prefix = str(tmp_path / "ckpt-1")
    ckpt_format.save_arrays(prefix, arrays)
    names = _files(tmp_path)
    assert len(names) == 2 and names[1] == "ckpt-1.index.json"
    data = names[0]
    assert data.startswith("ckpt-1.data-") and data.endswith(".npz") and len(data) == len("ckpt-1.data-.npz") + 16
    assert hashlib.sha256((tmp_path / data).read_bytes()).hexdigest()[:16] == data[12:28]

    index = json.loads((tmp_path / "ckpt-1.index.json").read_text())
    assert index["format"] == "graphjit-checkpoint" and index["version"] == 1 and index["data"] == data
    w = index["entries"]["model/w"]
    assert w["shape"] == [2, 3] and w["dtype"] == "float32"
    assert w["sha256"] == hashlib.sha256(arrays["model/w"].tobytes()).hexdigest()

    with np.load(tmp_path / data, allow_pickle=False) as npz:
        assert sorted(npz.files) == ["a0", "a1"]  # positional names, never the user's
        assert all(npz[key].dtype.name in DTYPES for key in npz.files)


def test_save_arrays_rejects_unsupported_dtypes_and_writes_nothing(tmp_path):
    for bad in (np.float16([1]), np.complex64([1j]), np.array(["a"]), np.array([object()], dtype=object)):
        with pytest.raises(InvalidArgumentError, match=r"entry 'x' has dtype .*float32"):
            ckpt_format.save_arrays(str(tmp_path / "c"), {"ok": np.zeros(2), "x": bad})
    assert _files(tmp_path) == []


def test_missing_checkpoint_is_not_found_and_names_the_path(tmp_path):
    prefix = str(tmp_path / "nothing-here")
    with pytest.raises(NotFoundError, match="nothing-here.index.json"):
        ckpt_format.load_arrays(prefix)
    ckpt_format.save_arrays(prefix, {"a": np.zeros(1)})
    for name in _files(tmp_path):
        if name.endswith(".npz"):
            os.remove(tmp_path / name)
    with pytest.raises(NotFoundError, match=r"data file .*\.npz does not exist"):
        ckpt_format.load_arrays(prefix)


@pytest.mark.parametrize("mutate, message", [
    (lambda index: "{not json", "not valid JSON"),
    (lambda index: {**index, "format": "other"}, "format"),
    (lambda index: {**index, "version": 2}, "unsupported version 2"),
    (lambda index: {**index, "data": "../elsewhere.data-0123456789abcdef.npz"}, "must name a file"),
    (lambda index: {**index, "entries": {"a": {**index["entries"]["a"], "dtype": "object"}}}, "unsupported dtype"),
    (lambda index: {**index, "entries": {"a": {**index["entries"]["a"], "shape": [-1]}}}, "invalid shape"),
])
def test_malformed_index_is_a_clear_error(tmp_path, mutate, message):
    prefix = str(tmp_path / "c")
    ckpt_format.save_arrays(prefix, {"a": np.zeros(2)})
    index_path = tmp_path / "c.index.json"
    changed = mutate(json.loads(index_path.read_text()))
    index_path.write_text(changed if isinstance(changed, str) else json.dumps(changed))
    with pytest.raises(InvalidArgumentError, match=message):
        ckpt_format.load_arrays(prefix)


def test_load_arrays_checks_expected_names_shapes_and_dtypes(tmp_path):
    prefix = str(tmp_path / "c")
    ckpt_format.save_arrays(prefix, {"a": np.zeros((2, 3), np.float32), "b": np.int64(4)})
    assert set(ckpt_format.load_arrays(prefix, {"a": ((2, 3), np.float32), "b": ((), gj.int64)})) == {"a", "b"}
    with pytest.raises(InvalidArgumentError, match=r"'a': expected shape \(3, 2\) dtype float32, found shape \(2, 3\)"):
        ckpt_format.load_arrays(prefix, {"a": ((3, 2), "float32")})
    with pytest.raises(InvalidArgumentError, match=r"'b': expected shape \(\) dtype int32, found .* dtype int64"):
        ckpt_format.load_arrays(prefix, {"b": ((), np.int32)})
    with pytest.raises(NotFoundError, match=r"no entry for 'missing'"):
        ckpt_format.load_arrays(prefix, {"a": ((2, 3), "float32"), "missing": ((), "float32")})


def test_resaving_a_prefix_replaces_its_data_file(tmp_path):
    prefix = str(tmp_path / "c")
    ckpt_format.save_arrays(prefix, {"a": np.zeros(3)})
    ckpt_format.save_arrays(prefix, {"a": np.ones(3)})
    assert len([n for n in _files(tmp_path) if n.endswith(".npz")]) == 1  # the old data file is gone
    np.testing.assert_array_equal(ckpt_format.load_arrays(prefix)["a"], np.ones(3))


def test_object_arrays_are_refused_never_unpickled(tmp_path):
    prefix = str(tmp_path / "c")
    ckpt_format.save_arrays(prefix, {"a": np.zeros(2)})
    index = json.loads((tmp_path / "c.index.json").read_text())
    data = tmp_path / index["data"]
    UNPICKLED.clear()
    with open(data, "wb") as file:  # a hostile archive: same member name, an object array inside
        np.savez(file, a0=np.array([Payload(), Payload()], dtype=object))
    with pytest.raises(DataLossError, match=r"cannot read 'a' from .*allow_pickle=False"):
        ckpt_format.load_arrays(prefix)
    assert UNPICKLED == []

    with open(data, "wb") as file:  # a bare pickle instead of an archive
        pickle.dump(Payload(), file)
    with pytest.raises(DataLossError, match="cannot read data file"):
        ckpt_format.load_arrays(prefix)
    assert UNPICKLED == []


UNPICKLED = []


def _record_unpickling():
    UNPICKLED.append(True)


class Payload:
    def __reduce__(self):
        return _record_unpickling, ()


# --- object graphs ---------------------------------------------------------------------------------

def test_checkpoint_keys_are_paths_through_nested_objects():
    model, opt = Model(), Optimizer()
    ckpt = train.Checkpoint(model=model, opt=opt, note="not a variable", count=3)
    assert ckpt.model is model  # tracked objects are attributes, as in TF
    assert sorted(ckpt._variables()) == [
        "model/layers/0/bias", "model/layers/0/kernel", "model/layers/1/bias", "model/layers/1/kernel",
        "model/table/ids", "model/w", "opt/step"]
    assert ckpt._variables()["model/layers/1/kernel"] is model.layers[1].kernel


def test_shared_variables_are_saved_once_and_cycles_terminate(tmp_path):
    model = Model()
    model.alias = model.layers[0]  # shorter path to the same layer
    model.deep = {"again": model.w}
    model.parent = model  # a cycle
    ckpt = train.Checkpoint(model=model, top=model.w)
    keys = ckpt._variables()
    assert "top" in keys and "model/w" not in keys and "model/deep/again" not in keys
    assert keys["model/alias/kernel"] is model.layers[0].kernel and "model/layers/0/kernel" not in keys
    assert len(keys) == len({id(v) for v in keys.values()}) == 6  # every variable of Model, once
    path = ckpt.write(str(tmp_path / "c"))
    assert set(ckpt_format.list_entries(path)) == set(keys) | {"save_counter"}


def test_unusual_keys_stay_unambiguous():
    a, b = gj.Variable(1.0), gj.Variable(2.0)
    keys = train.Checkpoint(d={"x/y": a, "x": {"y": b}})._variables()
    assert keys["d/x.Sy"] is a and keys["d/x/y"] is b
    with pytest.raises(InvalidArgumentError, match=r"both be saved as 'd/1'"):
        train.Checkpoint(d={1: a, "1": b})._variables()
    with pytest.raises(InvalidArgumentError, match="'save' is reserved"):
        train.Checkpoint(save=a)


# --- save and restore ------------------------------------------------------------------------------

def test_restore_brings_back_saved_values_and_save_counter(tmp_path):
    ckpt = train.Checkpoint(model=Model(), opt=Optimizer())
    original = _values(ckpt)
    assert ckpt.save_counter == 0
    path = ckpt.save(str(tmp_path / "ckpt"))
    assert path == str(tmp_path / "ckpt-1") and ckpt.save_counter == 1
    _scramble(ckpt)
    ckpt.save_counter = 7
    status = ckpt.restore(path)
    _assert_values(ckpt, original)
    assert ckpt.save_counter == 1
    assert status.assert_consumed() is status and status.expect_partial() is status


def test_every_dtype_round_trips_through_variables(tmp_path):
    vars_ = {f"{d}_{i}": gj.Variable(_sample(s, d, i)) for d in DTYPES for i, s in enumerate(SHAPES)}
    ckpt = train.Checkpoint(v=vars_)
    original = _values(ckpt)
    path = ckpt.write(str(tmp_path / "all"))
    _scramble(ckpt)
    ckpt.read(path)
    _assert_values(ckpt, original)
    for var in vars_.values():
        assert var.numpy().dtype == var.dtype.np


def test_restore_into_a_fresh_object(tmp_path):
    source = train.Checkpoint(model=Model(), opt=Optimizer())
    source.opt.step.assign(np.int32(41))
    path = source.save(str(tmp_path / "ckpt"))
    target = train.Checkpoint(model=Model(), opt=Optimizer())
    target.restore(path).assert_consumed()
    _assert_values(target, _values(source))
    assert int(target.opt.step) == 41 and target.save_counter == 1


def test_restore_none_is_a_no_op():
    ckpt = train.Checkpoint(model=Model())
    before = _values(ckpt)
    status = ckpt.restore(None)
    _assert_values(ckpt, before)
    with pytest.raises(AssertionError, match="save_path=None"):
        status.assert_consumed()
    assert status.expect_partial() is status


def test_restore_missing_path_is_not_found(tmp_path):
    with pytest.raises(NotFoundError, match="no-such-ckpt"):
        train.Checkpoint(model=Model()).restore(str(tmp_path / "no-such-ckpt"))


def _flip_byte_inside(path, needle):
    data = bytearray(path.read_bytes())
    at = data.find(needle)
    assert at >= 0
    data[at + len(needle) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_corrupt_data_file_is_a_checksum_error_and_changes_nothing(tmp_path):
    model = Model()
    ckpt = train.Checkpoint(model=model)
    saved_kernel = model.layers[0].kernel.numpy().tobytes()
    path = ckpt.write(str(tmp_path / "c"))
    _scramble(ckpt)
    before = _values(ckpt)
    _flip_byte_inside(next(tmp_path.glob("c.data-*.npz")), saved_kernel)
    with pytest.raises(DataLossError, match=r"checksum mismatch for 'model/layers/0/kernel'"):
        ckpt.restore(path)
    _assert_values(ckpt, before)


def test_altered_but_well_formed_data_is_caught_by_the_index_checksum(tmp_path):
    # A valid archive with other values (so the zip CRC passes): only the index's SHA-256 can tell.
    prefix = str(tmp_path / "c")
    ckpt_format.save_arrays(prefix, {"a": np.zeros(3, np.float32), "b": np.ones(2, np.int32)})
    data = next(tmp_path.glob("c.data-*.npz"))
    with open(data, "wb") as file:
        np.savez(file, a0=np.zeros(3, np.float32), a1=np.array([1, 2], np.int32))
    with pytest.raises(DataLossError, match=r"checksum mismatch for 'b'"):
        ckpt_format.load_arrays(prefix)


def test_shape_or_dtype_mismatch_names_the_variable_and_changes_nothing(tmp_path):
    a, b = gj.Variable(np.arange(3, dtype=np.float32)), gj.Variable(np.int32(5))
    ckpt = train.Checkpoint(a=a, b=b)
    path = ckpt.write(str(tmp_path / "c"))
    wrong_shape = train.Checkpoint(a=gj.Variable(np.full(4, 9, np.float32)), b=b)
    b.assign(np.int32(6))  # b would match: it must still not be restored
    with pytest.raises(InvalidArgumentError, match=r"'a': expected shape \(4,\) dtype float32, found shape \(3,\)"):
        wrong_shape.restore(path)
    assert int(b) == 6
    np.testing.assert_array_equal(wrong_shape.a.numpy(), np.full(4, 9))

    wrong_dtype = train.Checkpoint(a=a, b=gj.Variable(np.int64(8)))
    a.assign(np.zeros(3, np.float32))
    with pytest.raises(InvalidArgumentError, match=r"'b': expected shape \(\) dtype int64, found .* dtype int32"):
        wrong_dtype.restore(path)
    np.testing.assert_array_equal(a.numpy(), np.zeros(3))
    assert int(wrong_dtype.b) == 8


def test_variable_missing_from_the_checkpoint_is_an_error(tmp_path):
    model = Model()
    path = train.Checkpoint(model=model).write(str(tmp_path / "c"))
    bigger = train.Checkpoint(model=model, opt=Optimizer())
    _scramble(bigger)
    before = _values(bigger)
    with pytest.raises(NotFoundError, match=r"no entry for 'opt/step'"):
        bigger.restore(path)
    _assert_values(bigger, before)


def test_assert_consumed_reports_unused_checkpoint_values(tmp_path):
    path = train.Checkpoint(model=Model(), opt=Optimizer()).write(str(tmp_path / "c"))
    partial = train.Checkpoint(opt=Optimizer())
    status = partial.restore(path)
    with pytest.raises(AssertionError, match=r"'model/layers/0/bias'.*'model/w'"):
        status.assert_consumed()
    assert status.expect_partial() is status
    assert status.assert_existing_objects_matched() is status


# --- the state file and the manager ----------------------------------------------------------------

def test_latest_checkpoint_follows_saves(tmp_path):
    assert train.latest_checkpoint(str(tmp_path)) is None
    assert train.latest_checkpoint(str(tmp_path / "absent")) is None
    ckpt = train.Checkpoint(v=gj.Variable(1.0))
    paths = [ckpt.save(str(tmp_path / "ckpt")) for _ in range(3)]
    assert paths == [str(tmp_path / f"ckpt-{n}") for n in (1, 2, 3)]
    assert train.latest_checkpoint(str(tmp_path)) == paths[-1]
    assert ckpt_format.checkpoint_state(str(tmp_path)) == paths  # Checkpoint.save deletes nothing
    state = json.loads((tmp_path / "checkpoint").read_text())
    assert state == {"latest": "ckpt-3", "all": ["ckpt-1", "ckpt-2", "ckpt-3"]}  # relative paths
    ckpt_format.remove_checkpoint(paths[-1])
    assert train.latest_checkpoint(str(tmp_path)) is None  # the latest one is gone


def test_a_moved_directory_still_resolves(tmp_path):
    ckpt = train.Checkpoint(v=gj.Variable(np.float64(2.5)))
    ckpt.save(str(tmp_path / "a" / "ckpt"))
    os.rename(tmp_path / "a", tmp_path / "b")
    latest = train.latest_checkpoint(str(tmp_path / "b"))
    assert latest == str(tmp_path / "b" / "ckpt-1")
    ckpt.v.assign(np.float64(0))
    ckpt.restore(latest)
    assert float(ckpt.v) == 2.5


def test_manager_keeps_only_max_to_keep_on_disk(tmp_path):
    var = gj.Variable(0.0)
    manager = train.CheckpointManager(train.Checkpoint(v=var), str(tmp_path), max_to_keep=2)
    assert manager.directory == str(tmp_path) and manager.latest_checkpoint is None
    for step in range(1, 5):
        var.assign(float(step))
        assert manager.save() == str(tmp_path / f"ckpt-{step}")
    assert manager.checkpoints == [str(tmp_path / "ckpt-3"), str(tmp_path / "ckpt-4")]
    assert manager.latest_checkpoint == str(tmp_path / "ckpt-4") == train.latest_checkpoint(str(tmp_path))
    names = _files(tmp_path)
    assert not [n for n in names if n.startswith(("ckpt-1.", "ckpt-2."))]
    assert {n.split(".")[0] for n in names if n != "checkpoint"} == {"ckpt-3", "ckpt-4"}
    assert len(names) == 5  # two indexes, two data files, the state file
    var.assign(0.0)
    manager.checkpoint.restore(manager.checkpoints[0])
    assert float(var) == 3.0


def test_manager_reopened_on_a_directory_continues_its_list(tmp_path):
    ckpt = train.Checkpoint(v=gj.Variable(0))
    first = train.CheckpointManager(ckpt, str(tmp_path), max_to_keep=3)
    for _ in range(3):
        first.save()
    reopened = train.CheckpointManager(train.Checkpoint(v=gj.Variable(0)), str(tmp_path), max_to_keep=3)
    assert reopened.checkpoints == first.checkpoints
    reopened.checkpoint.restore(reopened.latest_checkpoint)
    assert reopened.checkpoint.save_counter == 3
    assert reopened.save() == str(tmp_path / "ckpt-4")  # numbering continues from the restored counter
    assert reopened.checkpoints == [str(tmp_path / f"ckpt-{n}") for n in (2, 3, 4)]
    assert not (tmp_path / "ckpt-1.index.json").exists()


def test_manager_explicit_numbers_and_keep_all(tmp_path):
    manager = train.CheckpointManager(train.Checkpoint(v=gj.Variable(1)), str(tmp_path), max_to_keep=None,
                                      checkpoint_name="model")
    paths = [manager.save(checkpoint_number=n) for n in (100, 200, 300, 400, 500, 600)]
    assert paths[0] == str(tmp_path / "model-100") and manager.checkpoints == paths
    assert all((tmp_path / f"model-{n}.index.json").exists() for n in (100, 600))
    with pytest.raises(InvalidArgumentError, match="max_to_keep"):
        train.CheckpointManager(manager.checkpoint, str(tmp_path), max_to_keep=0)


# --- crashes mid-save ------------------------------------------------------------------------------

def _crash_on_call(monkeypatch, target, name, call_number):
    real = getattr(target, name)
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == call_number:
            raise OSError("simulated crash")
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, flaky)


@pytest.mark.parametrize("crash_at", ["data rename", "index rename", "archive write"])
def test_a_crash_mid_write_leaves_the_previous_checkpoint_readable(tmp_path, monkeypatch, crash_at):
    var = gj.Variable(np.arange(4, dtype=np.float32))
    ckpt = train.Checkpoint(v=var)
    prefix = str(tmp_path / "c")
    ckpt.write(prefix)
    var.assign(np.full(4, -1, np.float32))
    with monkeypatch.context() as patch:
        if crash_at == "archive write":
            def partial_savez(file, **arrays):
                file.write(b"PK\x03\x04 half an archive")
                raise OSError("simulated crash")
            patch.setattr(np, "savez", partial_savez)
        else:
            _crash_on_call(patch, os, "replace", 1 if crash_at == "data rename" else 2)
        with pytest.raises(OSError, match="simulated crash"):
            ckpt.write(prefix)
    assert not [n for n in _files(tmp_path) if n.endswith(".tmp")]  # temporaries are cleaned up
    np.testing.assert_array_equal(ckpt_format.load_arrays(prefix)["v"], np.arange(4))
    ckpt.restore(prefix)
    np.testing.assert_array_equal(var.numpy(), np.arange(4))
    var.assign(np.full(4, 2, np.float32))
    ckpt.write(prefix)  # the next write succeeds and leaves one data file
    assert len(list(tmp_path.glob("c.data-*.npz"))) == 1
    np.testing.assert_array_equal(ckpt_format.load_arrays(prefix)["v"], np.full(4, 2))


def test_a_crash_mid_save_keeps_the_state_file_and_counter(tmp_path, monkeypatch):
    var = gj.Variable(1.0)
    ckpt = train.Checkpoint(v=var)
    first = ckpt.save(str(tmp_path / "ckpt"))
    state_before = (tmp_path / "checkpoint").read_bytes()
    var.assign(2.0)
    with monkeypatch.context() as patch:
        _crash_on_call(patch, os, "replace", 2)  # the index rename: the commit point
        with pytest.raises(OSError, match="simulated crash"):
            ckpt.save(str(tmp_path / "ckpt"))
    assert ckpt.save_counter == 1
    assert (tmp_path / "checkpoint").read_bytes() == state_before
    assert train.latest_checkpoint(str(tmp_path)) == first
    assert not (tmp_path / "ckpt-2.index.json").exists()
    ckpt.restore(train.latest_checkpoint(str(tmp_path)))
    assert float(var) == 1.0
    assert ckpt.save(str(tmp_path / "ckpt")) == str(tmp_path / "ckpt-2")


def test_relative_prefixes_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ckpt = train.Checkpoint(v=gj.Variable(np.int64(3)))
    assert ckpt.save("ckpt") == "ckpt-1"
    assert train.latest_checkpoint(".") == os.path.join(".", "ckpt-1")
    ckpt.v.assign(np.int64(0))
    ckpt.restore("ckpt-1")
    assert int(ckpt.v) == 3
