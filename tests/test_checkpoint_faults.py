"""Damaged checkpoints: truncated or tampered files (data bytes, index JSON), or values of the wrong shape or
dtype for the objects restored into. Every restore refuses with a graphjit error that names the checkpoint
and, where one is to blame, the variable, and leaves every variable unchanged (all-or-nothing), for both
``gj.train.Checkpoint`` and ``gj.compat.v1.train.Saver``. tests/test_checkpoint.py covers the format itself.
"""
import json
import os

import numpy as np
import pytest

import graphjit as gj
from graphjit import errors, train
from graphjit.runtime import checkpoint as ckpt_format

tf1 = gj.compat.v1

SAVED = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "step": np.int64(7), "mask": np.array([True, False])}
CHANGED = {"w": np.full((2, 3), -1, np.float32), "step": np.int64(-1), "mask": np.array([False, True])}


# ---- two ways to save and restore the same three variables -------------------------------------------

class _Checkpoints:
    """gj.train.Checkpoint over eager variables."""
    name = "Checkpoint"

    def __init__(self):
        self.vars = {k: gj.Variable(v, name=k) for k, v in SAVED.items()}
        self.ckpt = train.Checkpoint(**self.vars)

    def save(self, prefix):
        return self.ckpt.write(prefix)

    def restore(self, prefix):
        self.ckpt.restore(prefix)

    def set(self, values):
        for k, v in values.items():
            self.vars[k].assign(v)

    def values(self):
        return {k: np.asarray(v.numpy()) for k, v in self.vars.items()}

    def close(self):
        pass


class _Savers:
    """compat.v1 Saver over a session's variables (checkpoint names are the variable names)."""
    name = "Saver"

    def __init__(self):
        self.graph = tf1.Graph()
        with self.graph.as_default():
            self.vars = {k: tf1.Variable(v, name=k) for k, v in SAVED.items()}
            self.saver = tf1.train.Saver()
            init = tf1.global_variables_initializer()
        self.sess = tf1.Session(graph=self.graph)
        self.sess.run(init)

    def save(self, prefix):
        return self.saver.save(self.sess, prefix, write_state=False)

    def restore(self, prefix):
        self.saver.restore(self.sess, prefix)

    def set(self, values):
        for k, v in values.items():
            self.vars[k].load(v, self.sess)

    def values(self):
        return {k: np.asarray(v) for k, v in self.sess.run(self.vars).items()}

    def close(self):
        self.sess.close()


@pytest.fixture(params=[_Checkpoints, _Savers], ids=lambda cls: cls.name)
def store(request):
    made = request.param()
    yield made
    made.close()


def _saved(store, tmp_path):
    """Saves SAVED at tmp_path/c, then changes every variable (a restore that ran would undo it)."""
    prefix = store.save(str(tmp_path / "c"))
    store.set(CHANGED)
    return prefix


def _assert_unchanged(store):
    got = store.values()
    for k, v in CHANGED.items():
        np.testing.assert_array_equal(got[k], v, err_msg=f"{store.name}: {k} changed by a refused restore")


def _data_file(tmp_path):
    (path,) = tmp_path.glob("c.data-*.npz")
    return path


def _refused(store, prefix, error, *patterns):
    with pytest.raises(error) as info:
        store.restore(prefix)
    message = str(info.value)
    assert prefix in message or os.path.basename(prefix) in message, message
    for pattern in patterns:
        assert pattern in message, f"{pattern!r} not in {message!r}"
    _assert_unchanged(store)
    return message


def test_an_intact_checkpoint_restores_every_value(store, tmp_path):
    prefix = _saved(store, tmp_path)
    store.restore(prefix)
    for k, v in store.values().items():
        np.testing.assert_array_equal(v, SAVED[k], err_msg=k)


# ---- the data file -----------------------------------------------------------------------------------

def test_truncated_data_file_is_refused_at_every_length(store, tmp_path):
    prefix = _saved(store, tmp_path)
    data = _data_file(tmp_path)
    whole = data.read_bytes()
    for length in sorted({0, 1, 10, 100, len(whole) // 2, len(whole) - 22, len(whole) - 1}):
        data.write_bytes(whole[:length])
        _refused(store, prefix, errors.DataLossError, str(data))


def test_every_changed_byte_of_the_data_file_is_refused(store, tmp_path):
    # Flips in the arrays fail their checksums (and name the variable); flips in zip headers, timestamps or
    # padding that NumPy reads past are caught by the content hash in the file's name.
    prefix = _saved(store, tmp_path)
    data = _data_file(tmp_path)
    whole = data.read_bytes()
    named = 0
    for at in range(len(whole)):
        damaged = bytearray(whole)
        damaged[at] ^= 0x20
        data.write_bytes(bytes(damaged))
        message = _refused(store, prefix, errors.DataLossError, str(data))
        named += any(f"'{k}'" in message for k in SAVED)
    data.write_bytes(whole)
    store.restore(prefix)  # the original bytes restore again
    np.testing.assert_array_equal(store.values()["w"], SAVED["w"])
    assert named > 0


def test_a_valid_archive_swapped_in_with_other_values_names_the_variable(store, tmp_path):
    prefix = _saved(store, tmp_path)
    index = json.loads((tmp_path / "c.index.json").read_text())
    loaded = ckpt_format.load_arrays(prefix)
    members = {entry["key"]: loaded[name] for name, entry in index["entries"].items()}
    members[index["entries"]["step"]["key"]] = np.int64(8)
    with open(_data_file(tmp_path), "wb") as file:
        np.savez(file, **members)
    _refused(store, prefix, errors.DataLossError, "checksum mismatch for 'step'")


def test_missing_data_file_is_not_found(store, tmp_path):
    prefix = _saved(store, tmp_path)
    os.remove(_data_file(tmp_path))
    _refused(store, prefix, errors.NotFoundError, "does not exist")


# ---- the index ---------------------------------------------------------------------------------------

def _edit_index(tmp_path, edit):
    path = tmp_path / "c.index.json"
    index = json.loads(path.read_text())
    edit(index)
    path.write_text(json.dumps(index))


@pytest.mark.parametrize("length", [0, 1, 40, -2])
def test_truncated_index_is_refused(store, tmp_path, length):
    prefix = _saved(store, tmp_path)
    path = tmp_path / "c.index.json"
    path.write_bytes(path.read_bytes()[:length])
    _refused(store, prefix, errors.InvalidArgumentError, "c.index.json", "malformed")


def _set(name, field, value):
    def edit(index):
        index["entries"][name][field] = value
    return edit


def _rename(old, new):
    def edit(index):
        index["entries"][new] = index["entries"].pop(old)
    return edit


def _swap_keys(a, b):
    def edit(index):
        entries = index["entries"]
        entries[a]["key"], entries[b]["key"] = entries[b]["key"], entries[a]["key"]
    return edit


def _data_name(index):
    index["data"] = index["data"][:-12] + "00000000.npz"


INDEX_EDITS = [
    ("checksum", _set("w", "sha256", "0" * 64), errors.DataLossError, ("checksum mismatch for 'w'",)),
    ("checksum-format", _set("w", "sha256", "xyz"), errors.InvalidArgumentError, ("'w'", "invalid sha256")),
    ("renamed", _rename("w", "v"), errors.NotFoundError, ("no entry for 'w'",)),
    ("shape", _set("w", "shape", [3, 2]), errors.InvalidArgumentError, ("'w': expected shape (2, 3)",)),
    ("shape-and-data", _set("step", "shape", [1]), errors.InvalidArgumentError, ("'step'", "shape (1,)")),
    ("dtype", _set("step", "dtype", "int32"), errors.InvalidArgumentError, ("'step'", "dtype int32")),
    ("dtype-unsupported", _set("w", "dtype", "float16"), errors.InvalidArgumentError, ("'w'", "unsupported dtype")),
    ("key-swap", _swap_keys("w", "mask"), errors.DataLossError, ("holds 'mask' with dtype float32",)),
    ("key-missing", _set("mask", "key", "a9"), errors.DataLossError, ("no array 'a9'", "'mask'")),
    ("data-name", _data_name, errors.NotFoundError, ("does not exist",)),
]


@pytest.mark.parametrize("what, edit, error, patterns", INDEX_EDITS, ids=[row[0] for row in INDEX_EDITS])
def test_edited_index_is_refused(store, tmp_path, what, edit, error, patterns):
    prefix = _saved(store, tmp_path)
    _edit_index(tmp_path, edit)
    _refused(store, prefix, error, *patterns)


def test_index_pointing_at_another_prefix_data_is_refused(store, tmp_path):
    # A well-formed index of one checkpoint that names the data file of another next to it.
    prefix = _saved(store, tmp_path)
    other = ckpt_format.save_arrays(str(tmp_path / "d"), {"x": np.zeros(1)})
    other_data = json.loads((tmp_path / "d.index.json").read_text())["data"]
    _edit_index(tmp_path, lambda index: index.update(data=other_data))
    _refused(store, prefix, errors.InvalidArgumentError, "must name a file c.data-")
    assert os.path.exists(other + ".index.json")


# ---- wrong shapes or dtypes for the objects restored into -------------------------------------------

@pytest.mark.parametrize("target", [
    {"w": np.zeros((3, 2), np.float32)},   # same size, other shape
    {"w": np.zeros((2, 3), np.float64)},   # other dtype
    {"step": np.int32(0)},                 # narrower int
    {"mask": np.zeros(2, np.int32)},       # bool saved, int expected
], ids=["shape", "dtype", "int-width", "bool-vs-int"])
def test_values_of_the_wrong_shape_or_dtype_change_nothing(tmp_path, target):
    name, wanted = next(iter(target.items()))
    source = _Checkpoints()
    prefix = source.save(str(tmp_path / "c"))
    # Checkpoint: the variable restored into has the other shape/dtype; the rest would match.
    into = {k: gj.Variable(CHANGED[k], name=k) for k in SAVED}
    into[name] = gj.Variable(wanted, name=name)
    with pytest.raises(errors.InvalidArgumentError) as info:
        train.Checkpoint(**into).restore(prefix)
    assert f"'{name}': expected" in str(info.value) and prefix in str(info.value)
    for k, var in into.items():
        np.testing.assert_array_equal(var.numpy(), wanted if k == name else CHANGED[k], err_msg=k)

    # Saver: the same, in a session of another graph whose variable has the other shape/dtype.
    graph = tf1.Graph()
    with graph.as_default():
        variables = {k: tf1.Variable(wanted if k == name else CHANGED[k], name=k) for k in SAVED}
        saver = tf1.train.Saver()
        init = tf1.global_variables_initializer()
    with tf1.Session(graph=graph) as sess:
        sess.run(init)
        with pytest.raises(errors.InvalidArgumentError) as info:
            saver.restore(sess, prefix)
        assert f"'{name}': expected" in str(info.value) and prefix in str(info.value)
        got = sess.run(variables)
        for k in SAVED:
            np.testing.assert_array_equal(got[k], wanted if k == name else CHANGED[k], err_msg=k)


def test_a_saver_restore_into_uninitialized_variables_leaves_them_uninitialized(tmp_path):
    source = _Savers()
    prefix = source.save(str(tmp_path / "c"))
    source.close()
    _edit_index(tmp_path, _set("step", "sha256", "1" * 64))
    graph = tf1.Graph()
    with graph.as_default():
        w = tf1.Variable(np.zeros((2, 3), np.float32), name="w")
        tf1.Variable(np.int64(0), name="step")
        tf1.Variable(np.zeros(2, bool), name="mask")
        saver = tf1.train.Saver()
    with tf1.Session(graph=graph) as sess:
        with pytest.raises(errors.DataLossError, match="checksum mismatch for 'step'"):
            saver.restore(sess, prefix)
        # 'w' came before 'step' and was intact: it must not have been set either
        with pytest.raises(errors.FailedPreconditionError, match="uninitialized value w"):
            sess.run(w)
