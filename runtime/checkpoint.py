"""Checkpoints of Python objects, in the style of ``tf.train``: what is saved and how it is restored.

``Checkpoint``, ``CheckpointManager`` and ``latest_checkpoint`` (re-exported by ``graphjit.train``) collect
the variables reachable from Python objects under slash paths (``model/layers/0/kernel``) and save or restore
them through the file format of ``runtime.checkpoint_format`` (its functions are re-exported here, so
``save_arrays``, ``load_arrays``, ``list_entries``... are reached from either module).
"""
import os

import numpy as np

from graphjit.tracer.errors import InvalidArgumentError
from graphjit.tracer.trackable import walk
from graphjit.tracer.variables import Variable

from .checkpoint_format import (checkpoint_state, describe_entry, latest_checkpoint, list_entries,  # noqa: F401
                                load_arrays, remove_checkpoint, save_arrays, update_checkpoint_state)

__all__ = ["save_arrays", "load_arrays", "list_entries", "remove_checkpoint", "update_checkpoint_state",
           "latest_checkpoint", "checkpoint_state", "Checkpoint", "CheckpointLoadStatus",
           "CheckpointManager"]

SAVE_COUNTER = "save_counter"


# ---------------------------------------------------------------------------------------------------
# Object graphs: the variables reachable from Python objects, under slash paths
# ---------------------------------------------------------------------------------------------------

SLOT_MARK = ".OPTIMIZER_SLOT"   # TF's component between a variable's path and its slots' (never an escaped name)


def _escape(component):
    # TF's escaping: keeps paths unambiguous when a dict key contains '/' (or '.').
    return str(component).replace(".", "..").replace("/", ".S")


def _key(path):
    return "/".join(_escape(component) for component in path)


def _collect(roots):
    """``(variables, slot_owners)`` reachable from ``roots`` (name -> object): key -> Variable, and key -> object
    owning slot variables (an optimizer; see ``tracer.trackable``).

    The walk is breadth-first in sorted order, so a variable reachable by several paths is saved once under the
    shortest (then alphabetically first) one. A slot is saved under its variable's key, as TF does:
    ``model/dense/kernel/.OPTIMIZER_SLOT/optimizer/m``; slots of variables not tracked are not saved."""
    found, owners = {}, {}

    def add(key, var):
        if key in found:
            raise InvalidArgumentError(f"two different variables would both be saved as {key!r}")
        found[key] = var
    for path, obj in walk(roots):
        if isinstance(obj, Variable):
            add(_key(path), obj)
        elif path and hasattr(type(obj), "_checkpoint_slots"):
            owners[_key(path)] = obj
    key_of = {var.ref(): key for key, var in found.items()}
    for owner_key, owner in owners.items():
        for var, slot_name, slot in owner._checkpoint_slots():
            var_key = key_of.get(var.ref())
            if var_key is None or slot.ref() in key_of:
                continue
            add(f"{var_key}/{SLOT_MARK}/{owner_key}/{_escape(slot_name)}", slot)
    return found, owners


def _create_saved_slots(roots, entry_names):
    """Creates the slots that the checkpoint holds values for and that do not exist yet (an optimizer that has not
    applied gradients since it was made), so that restoring them needs no deferred state."""
    variables, owners = _collect(roots)
    saved = set()   # (owner key, variable key) of every saved slot
    for name in entry_names:
        var_key, mark, rest = name.partition(f"/{SLOT_MARK}/")
        if mark:
            saved.add((rest.rpartition("/")[0], var_key))
    for owner_key, owner in owners.items():   # in the walk's order, as the variables: a deterministic creation order
        owner._create_slots([var for var_key, var in variables.items() if (owner_key, var_key) in saved])


# ---------------------------------------------------------------------------------------------------
# TF2-style API
# ---------------------------------------------------------------------------------------------------

class CheckpointLoadStatus:
    """What ``Checkpoint.restore`` did; ``assert_consumed`` checks that every saved value was used."""

    def __init__(self, save_path, unused=()):
        self.save_path = save_path
        self.unused = tuple(unused)

    def assert_consumed(self):
        """Raises ``AssertionError`` unless every entry of the checkpoint matched a tracked variable."""
        if self.save_path is None:
            raise AssertionError("no checkpoint was restored (save_path=None): nothing was consumed")
        if self.unused:
            raise AssertionError(f"checkpoint {self.save_path!r} has values no tracked object matched: "
                                 + ", ".join(repr(name) for name in self.unused))
        return self

    def assert_existing_objects_matched(self):
        """Returns self: restore already requires every tracked variable to be in the checkpoint."""
        return self

    def expect_partial(self):
        """Marks unused checkpoint values as expected; returns self."""
        return self


class Checkpoint:
    """Saves and restores the variables reachable from the objects given as keyword arguments.

    ``Checkpoint(model=model, opt=opt)`` tracks every ``gj.Variable`` reachable through public
    attributes (every attribute of a ``gj.Module``), lists, tuples and dicts of those objects; a variable's
    checkpoint key is its path (``model/layers/0/kernel``). An optimizer's slots are saved beside the variables
    they belong to (``model/layers/0/kernel/.OPTIMIZER_SLOT/opt/m``, as TF), its ``iterations`` as
    ``opt/iterations``. The objects are also attributes of the checkpoint (``ckpt.model``), and attributes
    assigned later are tracked too. ``save_counter`` counts saves.
    """

    def __init__(self, **objects):
        self.save_counter = 0
        for name, obj in objects.items():
            if name.startswith("_") or hasattr(self, name):
                raise InvalidArgumentError(
                    f"Checkpoint: {name!r} is reserved (or private) and cannot name a tracked object")
            setattr(self, name, obj)

    def _roots(self):
        return {name: obj for name, obj in vars(self).items() if name != SAVE_COUNTER and not name.startswith("_")}

    def _variables(self):
        return _collect(self._roots())[0]

    def _write(self, path, counter):
        arrays = {key: np.asarray(var.numpy()) for key, var in self._variables().items()}
        arrays[SAVE_COUNTER] = np.asarray(counter, np.int64)
        return save_arrays(path, arrays)

    def write(self, file_prefix: str) -> str:
        """Writes a checkpoint exactly at ``file_prefix`` (no counter, no state file); returns it."""
        return self._write(os.fspath(file_prefix), self.save_counter)

    def save(self, file_prefix: str) -> str:
        """Increments ``save_counter``, writes ``f"{file_prefix}-{save_counter}"``, records it as the
        latest checkpoint of its directory and returns that path."""
        counter = self.save_counter + 1
        path = self._write(f"{os.fspath(file_prefix)}-{counter}", counter)
        self.save_counter = counter  # only once the checkpoint exists
        update_checkpoint_state(os.path.dirname(path), path)
        return path

    def restore(self, save_path: str | None) -> CheckpointLoadStatus:
        """Loads the checkpoint at ``save_path`` into the tracked variables.

        Every tracked variable must be in the checkpoint with its exact shape and dtype, and every
        value must pass its checksum; all of that is checked before any variable changes, so on an
        error nothing is modified. ``save_path=None`` does nothing (for
        ``restore(manager.latest_checkpoint)`` on a first run).

        Slots an optimizer creates lazily (on its first ``apply_gradients``) are created here, with the
        initial values the first apply would give them, when the checkpoint holds values for them; then they
        are restored like every other variable. TF defers instead (it restores a slot when it is created);
        creating them now leaves no pending state, and ``assert_consumed`` holds at once.
        """
        if save_path is None:
            return CheckpointLoadStatus(None)
        save_path = os.fspath(save_path)
        _create_saved_slots(self._roots(), list_entries(save_path))
        tracked = self._variables()
        expected = {key: (tuple(var.shape), var.dtype) for key, var in tracked.items()}
        arrays = load_arrays(save_path, expected)
        counter = arrays.get(SAVE_COUNTER)
        if counter is not None and (counter.shape != () or counter.dtype.kind != "i"):
            raise InvalidArgumentError(f"checkpoint {save_path!r}: {SAVE_COUNTER!r} must be an integer scalar, "
                                       f"found {describe_entry(counter.shape, counter.dtype)}")
        for key, var in tracked.items():
            var.assign(arrays[key])
        if counter is not None:
            self.save_counter = int(counter)
        unused = sorted(set(arrays) - set(tracked) - {SAVE_COUNTER})
        return CheckpointLoadStatus(save_path, unused)

    def read(self, save_path: str) -> CheckpointLoadStatus:
        """Same as ``restore`` (the counterpart of ``write``)."""
        return self.restore(save_path)


class CheckpointManager:
    """Numbered checkpoints ``<directory>/<checkpoint_name>-N``, keeping the newest ``max_to_keep``.

    A manager opened on a directory that already holds checkpoints continues its list (from the
    directory's ``checkpoint`` state file). ``max_to_keep=None`` keeps every checkpoint.
    """

    def __init__(self, checkpoint, directory, max_to_keep=5, checkpoint_name="ckpt"):
        if max_to_keep is not None and (not isinstance(max_to_keep, int) or max_to_keep < 1):
            raise InvalidArgumentError(f"max_to_keep must be a positive integer or None, got {max_to_keep!r}")
        self._checkpoint = checkpoint
        self._directory = os.fspath(directory)
        self._max_to_keep = max_to_keep
        self._prefix = os.path.join(self._directory, checkpoint_name)
        self._checkpoints = checkpoint_state(self._directory)

    directory = property(lambda self: self._directory)
    checkpoint = property(lambda self: self._checkpoint)
    max_to_keep = property(lambda self: self._max_to_keep)

    @property
    def checkpoints(self) -> list:
        """Full prefixes of the kept checkpoints, oldest first."""
        return list(self._checkpoints)

    @property
    def latest_checkpoint(self) -> str | None:
        """The newest kept checkpoint's prefix, or None before the first save."""
        return self._checkpoints[-1] if self._checkpoints else None

    def save(self, checkpoint_number: int | None = None) -> str:
        """Writes ``<directory>/<name>-N`` (N = ``checkpoint_number``, or the incremented
        ``save_counter``), records it and deletes checkpoints beyond ``max_to_keep``; returns the path."""
        if checkpoint_number is not None and (not isinstance(checkpoint_number, (int, np.integer))
                                              or isinstance(checkpoint_number, bool) or checkpoint_number < 0):
            raise InvalidArgumentError(f"checkpoint_number must be a non-negative integer, got {checkpoint_number!r}")
        counter = self._checkpoint.save_counter + 1
        number = counter if checkpoint_number is None else int(checkpoint_number)
        path = self._checkpoint._write(f"{self._prefix}-{number}", counter)
        self._checkpoint.save_counter = counter
        self._checkpoints = update_checkpoint_state(self._directory, path, self._max_to_keep)
        return path
