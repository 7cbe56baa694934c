"""The checkpoint file format: named NumPy arrays on disk under a path prefix such as ``dir/ckpt-3``.

This module is the container only (what the files are, how they are written and checked); what is saved
(variables reachable from Python objects, restore matching) is ``runtime.checkpoint``'s object API.

- ``<prefix>.data-<16 hex>.npz``: an uncompressed ``np.savez`` archive whose members have positional
  names (``a0``, ``a1``, ...); the hex is the start of the file's content SHA-256, so a re-save never
  overwrites the data file the current index names.
- ``<prefix>.index.json``: ``{"format": "graphjit-checkpoint", "version": 1, "data": <data basename>,
  "entries": {name: {"key", "shape", "dtype", "sha256"}}}``.
- ``<directory>/checkpoint``: the checkpoint-state file, ``{"latest": <prefix>, "all": [<prefix>, ...]}``
  (relative to the directory), shared by ``gj.train`` checkpoints and compat.v1's ``Saver``.

Renaming the index into place is the commit point: the data file is written first, so a crash at any
moment leaves the previous checkpoint at that prefix whole. Loading never unpickles anything and
verifies every array's shape, dtype and checksum against the index, then the whole data file against
the hash in its name; callers check all of that before any variable changes (all-or-nothing).
"""
import hashlib
import json
import os
import re
import zipfile

import numpy as np

from graphjit.compiler.atomic_file import write_atomically
from graphjit.tracer.dtypes import as_dtype
from graphjit.tracer.errors import DataLossError, InvalidArgumentError, NotFoundError

__all__ = ["save_arrays", "load_arrays", "list_entries", "remove_checkpoint", "update_checkpoint_state",
           "latest_checkpoint", "checkpoint_state", "describe_entry"]

FORMAT = "graphjit-checkpoint"
VERSION = 1
STATE_FILE = "checkpoint"
_DTYPES = ("bool", "int32", "int64", "float32", "float64")
_HEX16 = re.compile(r"[0-9a-f]{16}")
_HEX64 = re.compile(r"[0-9a-f]{64}")


# ---------------------------------------------------------------------------------------------------
# Files: atomic writes and the names that belong to a prefix
# ---------------------------------------------------------------------------------------------------

def _index_path(prefix):
    return prefix + ".index.json"


def _data_files(prefix):
    """Basenames of the data files in ``prefix``'s directory that belong to exactly this prefix."""
    directory, base = os.path.split(prefix)
    pattern = re.compile(re.escape(base) + r"\.data-[0-9a-f]{16}\.npz")
    try:
        names = os.listdir(directory or ".")
    except FileNotFoundError:
        return []
    return sorted(name for name in names if pattern.fullmatch(name))


def _write_atomically(path, write):
    directory, base = os.path.split(path)
    write_atomically(directory, write, path, tmp_prefix=f".{base}.", tmp_suffix=".tmp")


def _write_json_atomically(path, obj):
    text = json.dumps(obj, indent=1, sort_keys=True) + "\n"
    _write_atomically(path, lambda file: file.write(text.encode("utf-8")))


def _remove_quietly(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def _file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------------
# Low-level format
# ---------------------------------------------------------------------------------------------------

def _canonical_array(name, value):
    """``value`` as a little-endian array of a supported dtype (so checksums do not depend on the host)."""
    array = np.asarray(value)
    if array.dtype.name not in _DTYPES:
        raise InvalidArgumentError(
            f"save_arrays: entry {name!r} has dtype {array.dtype}; checkpoints hold only "
            f"{', '.join(_DTYPES)}")
    return array.astype(array.dtype.newbyteorder("<"), copy=False)


def _array_sha256(array):
    """SHA-256 of the array's little-endian C-order bytes."""
    little = array.astype(array.dtype.newbyteorder("<"), copy=False)
    flat = np.ascontiguousarray(little).reshape(-1).view(np.uint8)
    return hashlib.sha256(flat).hexdigest()


def save_arrays(prefix: str, arrays: dict) -> str:
    """Writes ``arrays`` (name -> array) as a checkpoint at path prefix ``prefix``; returns ``prefix``.

    Names are any non-empty strings; dtypes must be bool, int32, int64, float32 or float64
    (``InvalidArgumentError`` otherwise). The directory is created if missing. The data file
    ``<prefix>.data-<hash>.npz`` is renamed into place before the index ``<prefix>.index.json``,
    and older data files of the prefix are removed only after that, so a crash at any point leaves
    the previous checkpoint at ``prefix`` readable.
    """
    prefix = os.fspath(prefix)
    if not os.path.basename(prefix):
        raise InvalidArgumentError(f"save_arrays: the prefix {prefix!r} names a directory, not a checkpoint")
    members, entries = {}, {}
    for position, (name, value) in enumerate(arrays.items()):
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError(f"save_arrays: entry names must be non-empty strings, got {name!r}")
        array = _canonical_array(name, value)
        key = f"a{position}"  # user names never become archive member names
        members[key] = array
        entries[name] = {"key": key, "shape": list(array.shape), "dtype": array.dtype.name,
                         "sha256": _array_sha256(array)}

    directory = os.path.dirname(prefix)
    if directory:
        os.makedirs(directory, exist_ok=True)

    # The data file's final name depends on its content, so it is hashed after writing, then renamed.
    base = os.path.basename(prefix)
    data_path = write_atomically(
        directory, lambda file: np.savez(file, **members),
        lambda tmp: os.path.join(directory, f"{base}.data-{_file_sha256(tmp)[:16]}.npz"),
        tmp_prefix=f".{base}.", tmp_suffix=".tmp")
    data_name = os.path.basename(data_path)

    index = {"format": FORMAT, "version": VERSION, "data": data_name, "entries": entries}
    _write_json_atomically(_index_path(prefix), index)  # the commit point

    for stale in _data_files(prefix):
        if stale != data_name:
            _remove_quietly(os.path.join(directory, stale))
    return prefix


def _malformed(path, why):
    return InvalidArgumentError(f"checkpoint index {path} is malformed: {why}")


def _read_index(prefix):
    """The parsed, structurally checked index of ``prefix``."""
    path = _index_path(os.fspath(prefix))
    try:
        with open(path, "rb") as file:
            raw = file.read()
    except FileNotFoundError:
        raise NotFoundError(f"no checkpoint at {prefix!r}: the index file {path} does not exist") from None
    try:
        index = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise _malformed(path, f"not valid JSON ({err})") from None
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise _malformed(path, f"expected \"format\": \"{FORMAT}\"")
    if index.get("version") != VERSION:
        raise _malformed(path, f"unsupported version {index.get('version')!r} (this graphjit reads {VERSION})")
    data = index.get("data")
    base = os.path.basename(os.fspath(prefix))
    # The data file must sit next to the index: an index must not be able to point elsewhere.
    if (not isinstance(data, str) or not data.startswith(base + ".data-") or not data.endswith(".npz")
            or not _HEX16.fullmatch(data[len(base) + 6:-4])):
        raise _malformed(path, f"\"data\" must name a file {base}.data-<16 hex>.npz, got {data!r}")
    entries = index.get("entries")
    if not isinstance(entries, dict):
        raise _malformed(path, "\"entries\" must be an object")
    for name, entry in entries.items():
        _check_entry(path, name, entry)
    return index


def _check_entry(path, name, entry):
    if not isinstance(entry, dict):
        raise _malformed(path, f"entry {name!r} must be an object")
    if not isinstance(entry.get("key"), str):
        raise _malformed(path, f"entry {name!r} has no archive key")
    shape = entry.get("shape")
    if (not isinstance(shape, list)
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
        raise _malformed(path, f"entry {name!r} has an invalid shape {shape!r}")
    if entry.get("dtype") not in _DTYPES:
        raise _malformed(path, f"entry {name!r} has unsupported dtype {entry.get('dtype')!r}")
    if not isinstance(entry.get("sha256"), str) or not _HEX64.fullmatch(entry["sha256"]):
        raise _malformed(path, f"entry {name!r} has an invalid sha256")


def describe_entry(shape, dtype):
    return f"shape {tuple(shape)} dtype {dtype}"


def _normalize_expected(expected):
    normal = {}
    for name, (shape, dtype) in expected.items():
        normal[name] = (tuple(int(d) for d in shape), as_dtype(dtype).name)
    return normal


def _check_expected(prefix, entries, expected):
    """Raises if an expected name is missing or differs in shape or dtype; lists every problem."""
    missing, mismatched = [], []
    for name, (shape, dtype) in _normalize_expected(expected).items():
        entry = entries.get(name)
        if entry is None:
            missing.append(name)
        elif tuple(entry["shape"]) != shape or entry["dtype"] != dtype:
            mismatched.append(f"{name!r}: expected {describe_entry(shape, dtype)}, found "
                              f"{describe_entry(entry['shape'], entry['dtype'])}")
    if mismatched:
        problems = mismatched + [f"{name!r}: missing from the checkpoint" for name in missing]
        raise InvalidArgumentError(f"checkpoint {prefix!r} does not match: " + "; ".join(problems))
    if missing:
        raise NotFoundError(f"checkpoint {prefix!r} has no entry for "
                            + ", ".join(repr(name) for name in missing))


def _read_member(npz, data_path, name, entry):
    """One entry's array from the open archive, checked against its index entry."""
    member = entry["key"]
    if member not in npz.files:
        raise DataLossError(f"data file {data_path} has no array {member!r} for entry {name!r}")
    try:
        array = npz[member]
    except zipfile.BadZipFile as err:  # the archive's own CRC caught the damage before our SHA-256 could
        raise DataLossError(f"checksum mismatch for {name!r} in {data_path}: {err}") from None
    except Exception as err:  # truncation, a bad header, an object array (refused: never unpickled)
        raise DataLossError(f"cannot read {name!r} from {data_path}: {err}") from None
    if array.dtype.name != entry["dtype"] or array.dtype.hasobject:
        raise DataLossError(f"data file {data_path} holds {name!r} with dtype {array.dtype}, "
                                   f"the index says {entry['dtype']}")
    if list(array.shape) != entry["shape"]:
        raise DataLossError(f"data file {data_path} holds {name!r} with shape {array.shape}, "
                                   f"the index says {tuple(entry['shape'])}")
    if _array_sha256(array) != entry["sha256"]:
        raise DataLossError(f"checksum mismatch for {name!r} in {data_path}: the data file is corrupt")
    return array.astype(np.dtype(entry["dtype"]), copy=False)  # native byte order for the caller


def load_arrays(prefix: str, expected: dict | None = None) -> dict:
    """Reads the checkpoint at ``prefix``; returns name -> array for every entry.

    Raises ``NotFoundError`` when the index or data file is missing, ``InvalidArgumentError`` when
    the index is malformed, and ``DataLossError`` when the data file is unreadable or an array's
    shape, dtype or SHA-256 does not match the index.
    ``expected`` (name -> (shape, dtype)) additionally requires each name to be present with
    exactly that shape and dtype (checked from the index before any data is read; a missing name
    alone raises ``NotFoundError``). Nothing is unpickled: object arrays are refused.
    """
    prefix = os.fspath(prefix)
    index = _read_index(prefix)
    entries = index["entries"]
    if expected is not None:
        _check_expected(prefix, entries, expected)
    data_path = os.path.join(os.path.dirname(prefix), index["data"])
    if not os.path.exists(data_path):
        raise NotFoundError(f"checkpoint {prefix!r}: its data file {data_path} does not exist")
    try:
        npz = np.load(data_path, allow_pickle=False)
    except Exception as err:  # not a zip, truncated, a pickle (refused): all mean a damaged file
        raise DataLossError(f"checkpoint {prefix!r}: cannot read data file {data_path}: {err}") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise DataLossError(f"checkpoint {prefix!r}: data file {data_path} is not an .npz archive")
    with npz:
        arrays = {name: _read_member(npz, data_path, name, entry) for name, entry in entries.items()}
    # Every array matched its checksum, but bytes outside them (zip headers, timestamps, padding) may still
    # have changed: the data file's name holds the start of its content hash, so any changed byte shows.
    if not _file_sha256(data_path).startswith(index["data"][-20:-4]):
        raise DataLossError(f"checkpoint {prefix!r}: data file {data_path} does not match the content hash in "
                            f"its name: it was changed or damaged after it was written (no value was used)")
    return arrays


def list_entries(prefix: str) -> dict:
    """Name -> (shape tuple, dtype name) of every entry of the checkpoint at ``prefix`` (reads only
    the index), like ``tf.train.list_variables``."""
    entries = _read_index(prefix)["entries"]
    return {name: (tuple(entry["shape"]), entry["dtype"]) for name, entry in sorted(entries.items())}


def remove_checkpoint(prefix: str) -> None:
    """Deletes the files of the checkpoint at ``prefix`` (index first, so it is never half-present)."""
    prefix = os.fspath(prefix)
    _remove_quietly(_index_path(prefix))
    for name in _data_files(prefix):
        _remove_quietly(os.path.join(os.path.dirname(prefix), name))


# ---------------------------------------------------------------------------------------------------
# Checkpoint-state file: which prefixes of a directory are kept, and the latest
# ---------------------------------------------------------------------------------------------------

def _read_state(directory):
    """(latest, all) as stored (paths relative to ``directory``), or (None, []) without a state file."""
    path = os.path.join(directory, STATE_FILE)
    try:
        with open(path, "rb") as file:
            state = json.loads(file.read().decode("utf-8"))
    except FileNotFoundError:
        return None, []
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidArgumentError(f"checkpoint state file {path} is malformed: {err}") from None
    latest, kept = (state.get("latest"), state.get("all")) if isinstance(state, dict) else (None, None)
    if (not isinstance(latest, (str, type(None))) or not isinstance(kept, list)
            or not all(isinstance(p, str) for p in kept)):
        raise InvalidArgumentError(f"checkpoint state file {path} is malformed: expected "
                                   "{\"latest\": <prefix>, \"all\": [<prefix>, ...]}")
    return latest, kept


def _exists(directory, relative):
    return os.path.exists(_index_path(os.path.join(directory, relative)))


def checkpoint_state(directory: str) -> list:
    """Full prefixes of the checkpoints recorded in ``directory``'s state file that still exist,
    oldest first (empty without a state file)."""
    directory = os.fspath(directory)
    _, kept = _read_state(directory)
    return [os.path.join(directory, p) for p in kept if _exists(directory, p)]


def latest_checkpoint(directory: str) -> str | None:
    """The full prefix of the latest checkpoint recorded in ``directory``, or None when there is no
    state file or the checkpoint it names no longer exists (like ``tf.train.latest_checkpoint``)."""
    directory = os.fspath(directory)
    latest, _ = _read_state(directory)
    if latest is None or not _exists(directory, latest):
        return None
    return os.path.join(directory, latest)


def update_checkpoint_state(directory: str, latest_prefix: str, max_to_keep: int | None = None) -> list:
    """Records ``latest_prefix`` as the latest checkpoint of ``directory`` (atomically).

    With ``max_to_keep`` set, the files of the oldest checkpoints beyond that many are deleted
    (after the new state is written, so the state never names a deleted checkpoint). Returns the
    full prefixes kept, oldest first. Paths are stored relative to ``directory``.
    """
    directory = os.fspath(directory)
    if max_to_keep is not None and (not isinstance(max_to_keep, int) or max_to_keep < 1):
        raise InvalidArgumentError(f"max_to_keep must be a positive integer or None, got {max_to_keep!r}")
    latest = os.path.relpath(os.fspath(latest_prefix), directory or ".")
    _, kept = _read_state(directory)
    kept = [p for p in kept if p != latest and _exists(directory, p)] + [latest]
    dropped = []
    if max_to_keep is not None and len(kept) > max_to_keep:
        dropped, kept = kept[:-max_to_keep], kept[-max_to_keep:]
    if directory:
        os.makedirs(directory, exist_ok=True)
    _write_json_atomically(os.path.join(directory, STATE_FILE), {"latest": latest, "all": kept})
    for relative in dropped:
        remove_checkpoint(os.path.join(directory, relative))
    return [os.path.join(directory, p) for p in kept]
