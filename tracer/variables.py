"""``gj.Variable``: a named, mutable tensor whose value is owned by the runtime (or a session).

The Python object is a handle: reads and writes are ops (``read_variable``, ``assign_variable``) so a
traced function records them as ordered graph nodes and the runtime applies them when it runs.
"""
import threading
import weakref

import numpy as np

from . import context
from .errors import InvalidArgumentError
from .registry import OPS
from .shapes import TensorShape
from .tensor import DEVICE_HOOKS, EagerTensor, Tensor, as_dtype_arg, convert_to_tensor


# variable id -> the live Variable object (held weakly): how a gradient tape, which sees read_variable ops and
# their VarRefs, finds whether the variable is trainable
_by_id = weakref.WeakValueDictionary()


def variable_by_id(variable_id):
    return _by_id.get(variable_id)


# Per thread: the prefixes of the name scopes entered, innermost last ("outer/inner/").
_scopes = threading.local()


def _scope_stack():
    stack = getattr(_scopes, "stack", None)
    if stack is None:
        stack = _scopes.stack = []
    return stack


def current_name_scope():
    """The prefix variables created now get: ``""`` or ``"outer/inner/"``."""
    stack = _scope_stack()
    return stack[-1] if stack else ""


class name_scope:
    """``with name_scope("dense"):`` variables created inside are named ``dense/<name>`` (``tf.name_scope`` as it
    applies to variables; graphjit ops have no names). Scopes nest; a name ending in ``/`` is absolute (a
    ``gj.Module`` re-enters the scope it was made in that way), and ``""`` is the root. Reusable and re-entrant:
    what was entered is kept per thread, not on this object."""

    def __init__(self, name):
        if not isinstance(name, str):
            raise InvalidArgumentError(f"name_scope: name must be a string, got {type(name).__name__}")
        self.name = name

    def __enter__(self):
        stack = _scope_stack()
        if self.name == "" or self.name.endswith("/"):
            prefix = self.name
        else:
            prefix = f"{current_name_scope()}{self.name}/"
        stack.append(prefix)
        return prefix

    def __exit__(self, *exc):
        _scope_stack().pop()


class Variable(Tensor):
    _is_variable = True
    __slots__ = ("_ref", "trainable", "__weakref__")

    def __new__(cls, *args, **kwargs):
        # While a compat.v1 graph is the default, gj.Variable makes one of its variables (as in TF1).
        routed = getattr(context.current(), "variable_class", None) if cls is Variable else None
        return object.__new__(routed or cls)

    def __init__(self, initial_value=None, trainable=True, name=None, dtype=None, device=None):
        if initial_value is None:
            raise InvalidArgumentError("gj.Variable needs an initial_value")
        dtype = as_dtype_arg(dtype)
        if callable(initial_value):
            with context.pushed(context.eager_context()):
                initial_value = initial_value()
        value = convert_to_tensor(initial_value, what="initial_value")
        if dtype is not None and value.dtype is not dtype:
            value = (EagerTensor(value._value.astype(dtype.np)) if type(value) is EagerTensor
                     else OPS["cast"].bind(value, dtype=dtype))
        self.trainable = bool(trainable)
        scope = current_name_scope()
        if scope:
            name = scope + (name or "Variable")
        self._ref = context.current().create_variable(self, name, value)
        _by_id[self._ref.id] = self
        if device is not None:   # (else where it was created: on the GPU inside ``with gj.device("cuda")``)
            DEVICE_HOOKS["place_variable"](self._ref, device)

    # -- facts --
    name = property(lambda self: self._ref.name)
    shape = property(lambda self: TensorShape(self._ref.type.shape))
    dtype = property(lambda self: self._ref.type.dtype)
    type = property(lambda self: self._ref.type)

    # -- reading --
    def read_value(self):
        return OPS["read_variable"].bind(var=self._ref)

    value = read_value
    _as_tensor = read_value

    def numpy(self):
        return self.read_value().numpy()

    @property
    def device(self):
        """Where its value lives ("cpu:0", "cuda:0"): where it was created, for its whole life."""
        return DEVICE_HOOKS["variable_device"](self._ref)

    def cpu(self):
        return self.read_value().cpu()

    def cuda(self):
        return self.read_value().cuda()

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.read_value().__array__(dtype))

    def __bool__(self):
        return bool(self.read_value())

    def __float__(self):
        return float(self.read_value())

    def __int__(self):
        return int(self.read_value())

    def __index__(self):
        return self.read_value().__index__()

    # -- writing --
    def _update(self, value, mode):
        value = convert_to_tensor(value, what=f"the value assigned to {self.name}")
        OPS["assign_variable"].bind(value, var=self._ref, mode=mode)
        return self

    def assign(self, value, read_value=True):
        """Sets the value; shape and dtype must match the variable's."""
        return self._update(value, "assign")

    def assign_add(self, delta, read_value=True):
        return self._update(delta, "add")

    def assign_sub(self, delta, read_value=True):
        return self._update(delta, "sub")

    def __repr__(self):
        if context.is_tracing():
            return f"<gj.Variable '{self.name}' shape={tuple(self.shape)} dtype={self.dtype.name}>"
        return f"<gj.Variable '{self.name}' shape={tuple(self.shape)} dtype={self.dtype.name}, numpy={self.numpy()!r}>"
