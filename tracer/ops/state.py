"""Stateful ops: variable reads and writes, and ``gj.print``. Their nodes keep program order."""
import sys

import numpy as np

from ..attrs import Optional, Str, Tuple, Variable
from ..dtypes import bool_
from ..errors import InvalidArgumentError
from ..ir import TensorType
from ..lowering import Kernel
from ..registry import HANDLED_BY_TAPE, NOT_DIFFERENTIABLE, OPS, Op, export, register
from ..tensor import Tensor, convert_to_tensor


def _read_infer(*, var):
    return var.type


def _read(state, *, var):
    return state.read(var)


register(Op("read_variable", infer=_read_infer, eager=_read, attrs={"var": Variable()}, stateful=True,
            check_eager=False, doc="The current value of variable ``var`` (ordered after earlier writes)."))

_MODES = {"assign": None, "add": np.add, "sub": np.subtract}


def _assign_infer(value, *, var, mode):
    if mode not in _MODES:
        raise InvalidArgumentError(f"unknown assign mode {mode!r}")
    if tuple(value.shape) != tuple(var.type.shape) or value.dtype is not var.type.dtype:
        verb = {"assign": "assign", "add": "assign_add", "sub": "assign_sub"}[mode]
        raise InvalidArgumentError(
            f"cannot {verb} a value of type {value} to variable '{var.name}' of type {var.type}: shapes and "
            f"dtypes must match exactly (use gj.cast or gj.reshape first)")
    return var.type


def _assign(state, value, *, var, mode):
    combine = _MODES[mode]
    # (read_host: a GPU variable's value comes to the host for the NumPy update; state.write puts it back there)
    new = np.array(value, copy=True) if combine is None else combine(state.read_host(var), value)
    state.write(var, new)
    return new


# (mode is any str here: the rule names an unknown mode itself)
register(Op("assign_variable", infer=_assign_infer, eager=_assign, attrs={"var": Variable(), "mode": Str()},
            stateful=True, doc="Writes ``value`` (mode assign), or the old value plus/minus it, to variable ``var``."))


def _print_infer(*inputs, template, sep, end, stream):
    return TensorType((), bool_)


def _print(state, *arrays, template, sep, end, stream):
    it = iter(arrays)
    parts = [str(next(it)) if piece is None else piece for piece in template]
    print(*parts, sep=sep, end=end, file=sys.stderr if stream == "stderr" else sys.stdout)
    return np.array(True)


# template: the literal strings, None where the next input is printed
register(Op("print", infer=_print_infer, eager=_print, stateful=True, lower=Kernel("print"),
            attrs={"template": Tuple(Optional(Str())), "sep": Str(), "end": Str(),
                   "stream": Str(choices=("stdout", "stderr"))},
            doc="Prints its inputs (and the literal parts of ``template``) every time it runs."))


@export("print")
def print_(*inputs, sep=" ", end="\n", output_stream="stdout", name=None):
    """Prints tensors (and Python values) every time it runs, also inside traced functions.

    Python's ``print`` inside a ``gj.function`` runs only while tracing; ``gj.print`` runs on every call.
    """
    if output_stream not in ("stdout", "stderr"):
        raise InvalidArgumentError(f"gj.print: output_stream must be 'stdout' or 'stderr', got {output_stream!r}")
    tensors, template = [], []
    for value in inputs:
        if isinstance(value, Tensor) or isinstance(value, np.ndarray):
            tensors.append(convert_to_tensor(value))
            template.append(None)
        else:
            template.append(str(value))
    OPS["print"].bind(*tensors, template=tuple(template), sep=sep, end=end, stream=output_stream)


# ---- gradients (tracer.autodiff) ---------------------------------------------------------------------------
# A read of a watched variable is where the tape collects that variable's gradient, so the tape handles it; a
# write passes no gradient on to the value written (TF: assignments are not differentiable; a later read of
# the variable is a new source), and a print's result is a bool.
OPS["read_variable"].grad = HANDLED_BY_TAPE
OPS["assign_variable"].grad = NOT_DIFFERENTIABLE
OPS["print"].grad = NOT_DIFFERENTIABLE
