"""Checkpoints written by an earlier graphjit still read, and today's code writes the same files.

``tests/data/checkpoint_v1`` was written once (by ``Checkpoint.save`` and ``save_arrays``, before the file
format moved to ``runtime/checkpoint_format.py``) from the values below and is never rewritten: a change to the
on-disk format that would strand users' checkpoints fails here.
"""
import json
import os
import shutil

import numpy as np
import pytest

import graphjit as gj
from graphjit import train
from graphjit.runtime import checkpoint as ckpt_api

DATA = os.path.join(os.path.dirname(__file__), "data", "checkpoint_v1")


class Model:
    """Public attributes, a list and a dict (with a key that needs escaping) of variables."""

    def __init__(self, values):
        self.kernel = gj.Variable(values["kernel"])
        self.layers = [gj.Variable(values["layers/0"]), gj.Variable(values["layers/1"])]
        self.extra = {"a/b.c": gj.Variable(values["extra/a.Sb..c"]), "steps": gj.Variable(values["extra/steps"])}


def model_values():
    """The values saved, by the variable's path under ``model/``."""
    return {"kernel": np.arange(6, dtype=np.float32).reshape(2, 3) / 7,
            "layers/0": np.array([1.5, -2.25, np.inf], np.float64),
            "layers/1": np.array([[True, False], [False, True]]),
            "extra/a.Sb..c": np.array([-3, 0, 2 ** 31 - 1], np.int32),
            "extra/steps": np.int64(2 ** 40)}


def make_model(values):
    return Model(values)


def raw_arrays():
    """``save_arrays`` input: any names, a big-endian array (stored little-endian) and an empty one."""
    return {"wéight/0": np.arange(4, dtype=">f4"), "empty": np.zeros((0, 3), np.float64), "scalar": np.int32(7)}


@pytest.fixture
def old(tmp_path):
    """A copy of the stored files (reading must not need to write, but a failure must not damage them)."""
    return shutil.copytree(DATA, tmp_path / "old")


def test_an_old_checkpoint_restores_into_the_same_objects(old):
    zeros = {k: np.zeros_like(v) for k, v in model_values().items()}
    model = make_model(zeros)
    ckpt = train.Checkpoint(model=model)
    latest = train.latest_checkpoint(str(old))
    assert latest == os.path.join(str(old), "ckpt-1")
    ckpt.restore(latest).assert_consumed()
    assert ckpt.save_counter == 1
    restored = {"kernel": model.kernel, "layers/0": model.layers[0], "layers/1": model.layers[1],
                "extra/a.Sb..c": model.extra["a/b.c"], "extra/steps": model.extra["steps"]}
    for key, expected in model_values().items():
        value = restored[key].numpy()
        assert value.dtype == np.asarray(expected).dtype, key
        np.testing.assert_array_equal(value, expected)
    assert ckpt_api.checkpoint_state(str(old)) == [latest]


def test_old_raw_arrays_read_back_with_their_names_dtypes_and_shapes(old):
    prefix = os.path.join(str(old), "arrays")
    loaded = ckpt_api.load_arrays(prefix)
    assert sorted(loaded) == sorted(raw_arrays())
    for name, expected in raw_arrays().items():
        expected = np.asarray(expected)
        assert loaded[name].dtype == expected.dtype.newbyteorder("=") and loaded[name].shape == expected.shape
        np.testing.assert_array_equal(loaded[name], expected)
    assert ckpt_api.list_entries(prefix) == {"empty": ((0, 3), "float64"), "scalar": ((), "int32"),
                                             "wéight/0": ((4,), "float32")}


def _index_without_data_name(prefix):
    with open(prefix + ".index.json", encoding="utf-8") as file:
        index = json.load(file)
    data = index.pop("data")
    return index, data


def test_todays_code_writes_the_same_index_and_state_file(old, tmp_path):
    """The same values give the same index (keys, shapes, dtypes, SHA-256 of each array) and state file; only the
    data file's name differs, as its zip headers hold the time of writing."""
    new = tmp_path / "new"
    train.Checkpoint(model=make_model(model_values())).save(str(new / "ckpt"))
    ckpt_api.save_arrays(str(new / "arrays"), raw_arrays())
    for name in ("ckpt-1", "arrays"):
        old_index, old_data = _index_without_data_name(str(old / name))
        new_index, new_data = _index_without_data_name(str(new / name))
        assert new_index == old_index
        assert old_data.startswith(f"{name}.data-") and new_data.startswith(f"{name}.data-")
    assert (new / "checkpoint").read_bytes() == (old / "checkpoint").read_bytes()
    assert sorted(p.name.split(".data-")[0] + (".npz" if ".data-" in p.name else "") for p in new.iterdir()) == \
        sorted(p.name.split(".data-")[0] + (".npz" if ".data-" in p.name else "") for p in old.iterdir())
