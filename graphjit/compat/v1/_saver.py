"""``compat.v1.train.Saver``: saves and restores a session's variable values (TF1 style).

Uses the checkpoint format of ``runtime.checkpoint`` (an ``.npz`` plus a JSON index, atomic writes,
validated loads) keyed by variable name, and the same per-directory state file, so
``latest_checkpoint`` finds Saver and ``gj.train.Checkpoint`` checkpoints alike.
"""
import os

from graphjit.runtime.checkpoint import load_arrays, save_arrays, update_checkpoint_state
from graphjit.tracer.errors import InvalidArgumentError, InvalidTypeError

from ._session import Session
from ._variables import Variable, global_variables


class Saver:
    """``Saver(var_list=None, max_to_keep=5)``: ``var_list`` is a list of compat.v1 variables or a dict
    {checkpoint name: variable}; the default is every variable of the default graph (at construction)."""

    def __init__(self, var_list=None, max_to_keep=5, **unused_tf1_options):
        if var_list is None:
            var_list = global_variables()
        if isinstance(var_list, dict):
            named = dict(var_list)
        else:
            named = {getattr(v, "_ref", None) and v._ref.name: v for v in var_list}
        for name, variable in named.items():
            if not isinstance(variable, Variable):
                raise InvalidTypeError(f"Saver: {name!r} is a {type(variable).__name__}, not a gj.compat.v1.Variable")
        if not named:
            raise InvalidArgumentError("Saver: there are no variables to save (create them before the Saver, or "
                                       "pass var_list)")
        self._variables = named
        self._max_to_keep = max_to_keep if max_to_keep else None
        self.last_checkpoints = []

    def save(self, sess, save_path, global_step=None, write_state=True):
        """Writes the variables' values in ``sess`` to ``save_path`` (``save_path-<global_step>`` when
        given); returns the path. Every variable must be initialized in ``sess``."""
        _check_session(sess, self._variables)
        if global_step is not None:
            save_path = f"{os.fspath(save_path)}-{_scalar(sess, global_step)}"
        values = sess.variable_values(self._variables.values())
        by_checkpoint_name = {name: values[v._ref.name] for name, v in self._variables.items()}
        path = save_arrays(os.fspath(save_path), by_checkpoint_name)
        if write_state:
            self.last_checkpoints = update_checkpoint_state(os.path.dirname(path), path, self._max_to_keep)
        return path

    def restore(self, sess, save_path):
        """Sets the variables in ``sess`` from ``save_path`` (no initializer run needed). Names, shapes,
        dtypes and checksums are all checked first: on any mismatch nothing changes."""
        _check_session(sess, self._variables)
        if save_path is None:
            raise InvalidArgumentError("Saver.restore: save_path is None (no checkpoint found?)")
        expected = {name: (tuple(v.shape), v.dtype.np) for name, v in self._variables.items()}
        arrays = load_arrays(os.fspath(save_path), expected)
        sess.set_variable_values([(v, arrays[name]) for name, v in self._variables.items()])


def _check_session(sess, variables):
    if not isinstance(sess, Session):
        raise InvalidTypeError(f"Saver: expected a gj.compat.v1.Session, got {type(sess).__name__}")
    for variable in variables.values():
        if variable.graph is not sess.graph:
            raise InvalidArgumentError(f"Saver: variable {variable.name} belongs to graph {variable.graph.name}, "
                                       f"but the session runs graph {sess.graph.name}")


def _scalar(sess, step):
    """A global step given as a number, or as a tensor/variable of the session's graph."""
    return int(sess.run(step) if hasattr(step, "graph") else step)
