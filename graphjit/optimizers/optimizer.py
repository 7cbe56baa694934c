"""The optimizers: ``SGD``, ``Adam`` and ``AdamW`` on one base class (Keras 3's semantics).

An optimizer owns its ``iterations`` (an int64 variable, made with it) and its slot variables (made lazily, the
first time it updates a variable: zeros of the variable's shape and dtype, named ``<slot>/<variable name>``, not
trainable). Its update arithmetic is a rule of ``optimizers.updates``; ``apply`` checks its arguments, reads the
variables, runs the rule and assigns the results, all with graphjit ops. So the same code runs eagerly and inside
``@gj.function``, where a whole training step (forward, tape.gradient, apply_gradients) is one graph. Slots made
during a trace are made as any variable created while tracing (``TraceContext.create_variable``): lifted out of
the graph into the runtime, owned by the function, and allowed on a function's first trace only (TF's rule; later
traces find them made). Hyperparameters, a float learning rate included, are constants of the traced graph; a
learning rate that changes is a schedule, called with ``iterations`` on every step.
"""
import contextlib
import functools
import threading
import warnings

import numpy as np

from graphjit.tracer.autodiff import GradientTape
from graphjit.tracer.errors import InvalidArgumentError, UnimplementedError
from graphjit.tracer.registry import API
from graphjit.tracer.tensor import convert_to_tensor
from graphjit.tracer.variables import Variable, name_scope

from .updates import ADAM_SLOT_NAMES, adam, adamw, sgd, sgd_slot_names
from ._arguments import number

_cast = API["cast"]
_capture = threading.local()   # .sink: a list while captured_gradients() is active on this thread


@contextlib.contextmanager
def captured_gradients():
    """Inside it (on this thread), ``apply_gradients`` / ``apply`` / ``minimize`` record ``(optimizer, grads,
    variables)`` in the yielded list instead of updating: gj.distributed's data-parallel step computes the
    gradients of several shards this way and applies their average once, as TF's all-reduce inside
    apply_gradients does."""
    outer = getattr(_capture, "sink", None)
    _capture.sink = []
    try:
        yield _capture.sink
    finally:
        _capture.sink = outer


class Optimizer:
    """Base class. A subclass gives ``slot_names`` and ``rule`` (``updates``' signature, hyperparameters bound)."""

    def __init__(self, learning_rate, name, slot_names, rule):
        owner = type(self).__name__
        if not callable(learning_rate):
            learning_rate = number(owner, "learning_rate", learning_rate, low=0)
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError(f"{owner}: name must be a non-empty string, got {name!r}")
        self._name = name
        self._learning_rate = learning_rate
        self._slot_names = tuple(slot_names)
        self._rule = rule
        self._slots = {}    # variable.ref() -> {slot name: slot variable}, in the order they were made
        with name_scope(""):   # optimizer variables are named alike wherever the optimizer is made or applied
            self.iterations = Variable(np.int64(0), trainable=False, name=f"{name}/iterations")

    name = property(lambda self: self._name)

    @property
    def learning_rate(self):
        """The learning rate of the next update: the float given, or the schedule's value at ``iterations``."""
        return self._learning_rate_at(self.iterations.read_value())

    @learning_rate.setter
    def learning_rate(self, value):
        raise UnimplementedError(f"{type(self).__name__}: the learning rate is fixed when the optimizer is made (it "
                                 f"is a constant of traced training steps); pass a schedule from "
                                 f"gj.optimizers.schedules for a rate that changes")

    def _learning_rate_at(self, step):
        return self._learning_rate(step) if callable(self._learning_rate) else self._learning_rate

    @property
    def variables(self):
        """``iterations``, then every slot variable, in the order they were made."""
        return (self.iterations,) + tuple(slot for slots in self._slots.values() for slot in slots.values())

    # -- updates --

    def apply_gradients(self, grads_and_vars):
        """Applies ``(gradient, variable)`` pairs; pairs whose gradient is None are skipped (with a warning, as
        Keras). Increments ``iterations`` and returns it."""
        pairs = list(grads_and_vars)
        for k, pair in enumerate(pairs):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise InvalidArgumentError(f"{self._owner('apply_gradients')}: grads_and_vars[{k}] must be a "
                                           f"(gradient, variable) pair, got {type(pair).__name__}")
        return self._apply([g for g, _ in pairs], [v for _, v in pairs], "apply_gradients",
                           lambda k: f"grads_and_vars[{k}][1]")

    def apply(self, grads, trainable_variables):
        """``apply_gradients(zip(grads, trainable_variables))``, checking that the lists have the same length."""
        grads, trainable_variables = list(grads), list(trainable_variables)
        if len(grads) != len(trainable_variables):
            raise InvalidArgumentError(f"{self._owner('apply')}: {len(grads)} grads for {len(trainable_variables)} "
                                       f"trainable_variables; give one gradient (or None) per variable")
        return self._apply(grads, trainable_variables, "apply", lambda k: f"trainable_variables[{k}]")

    def minimize(self, loss, var_list, tape=None):
        """Computes the gradients of ``loss`` with respect to ``var_list`` and applies them (Keras 2's
        ``minimize``). ``loss`` is a zero-argument callable returning the loss (or, with ``tape``, the loss
        tensor that tape recorded); ``var_list`` is a list of variables or a callable returning one."""
        owner = self._owner("minimize")
        if tape is None and not callable(loss):
            raise InvalidArgumentError(f"{owner}: loss must be a zero-argument callable returning the loss (got a "
                                       f"{type(loss).__name__}); a loss tensor needs the tape that recorded it "
                                       f"(tape=...)")
        if not callable(var_list):
            var_list = list(var_list)
            self._check_variables(var_list, owner, lambda k: f"var_list[{k}]")
        if callable(loss):
            tape = GradientTape() if tape is None else tape
            with tape:
                if not callable(var_list):
                    tape.watch(var_list)   # also variables made with trainable=False
                loss = loss()
        if callable(var_list):   # (called after the loss, which may create the variables: Keras' order)
            var_list = list(var_list())
        return self._apply(tape.gradient(loss, var_list), var_list, "minimize", lambda k: f"var_list[{k}]")

    def _apply(self, grads, variables, method, where):
        owner = self._owner(method)
        self._check_variables(variables, owner, where)
        present, missing = [], []
        for k, (grad, var) in enumerate(zip(grads, variables)):
            if grad is None:
                missing.append(var.name)
                continue
            grad = convert_to_tensor(grad, what=f"{owner}: the gradient for {where(k)} ('{var.name}')")
            if tuple(grad.shape) != tuple(var.shape):
                raise InvalidArgumentError(f"{owner}: the gradient for {where(k)} ('{var.name}') has shape "
                                           f"{tuple(grad.shape)}, but the variable has shape {tuple(var.shape)}")
            present.append((grad if grad.dtype is var.dtype else _cast(grad, var.dtype), var))
        if not present:
            raise InvalidArgumentError(f"{owner}: no gradients provided for any variable "
                                       f"({', '.join(map(repr, missing)) or 'no variables given'})")
        if missing:
            warnings.warn(f"{owner}: gradients do not exist for variables {missing} (they were left unchanged)",
                          stacklevel=3)
        sink = getattr(_capture, "sink", None)
        if sink is not None:
            sink.append((self, [g for g, _ in present], [v for _, v in present]))
            return self.iterations
        self._create_slots([var for _, var in present])
        step = self.iterations.read_value()
        lr = self._learning_rate_at(step)
        for grad, var in present:
            slots = self._slots[var.ref()]
            new_value, new_slots = self._rule(var.read_value(), grad, {n: s.read_value() for n, s in slots.items()},
                                              lr, step)
            for slot_name, slot in slots.items():
                slot.assign(new_slots[slot_name])
            var.assign(new_value)
        self.iterations.assign_add(np.int64(1))
        return self.iterations

    def _check_variables(self, variables, owner, where):
        seen = set()
        for k, var in enumerate(variables):
            if not isinstance(var, Variable):
                raise InvalidArgumentError(f"{owner}: {where(k)} must be a gj.Variable, got {type(var).__name__}")
            if not var.dtype.is_floating:
                raise InvalidArgumentError(f"{owner}: {where(k)} ('{var.name}') has dtype {var.dtype.name}; "
                                           f"optimizers update floating variables only")
            if var.ref() in seen:
                raise InvalidArgumentError(f"{owner}: {where(k)} ('{var.name}') is given twice; each variable "
                                           f"may be updated once per step")
            seen.add(var.ref())

    # -- slots (also the checkpoint's hooks: tracer.trackable) --

    def _create_slots(self, variables):
        """Makes the slots of each variable that has none yet (zeros, not trainable)."""
        for var in variables:
            if var.ref() in self._slots:
                continue
            zeros = functools.partial(np.zeros, tuple(var.shape), var.dtype.np)
            with name_scope(""):
                made = {slot_name: Variable(zeros, trainable=False, name=f"{slot_name}/{var.name}")
                        for slot_name in self._slot_names}
            self._slots[var.ref()] = made

    def _checkpoint_slots(self):
        return [(ref.deref(), slot_name, slot) for ref, slots in self._slots.items()
                for slot_name, slot in slots.items()]

    def _owner(self, method):
        return f"{type(self).__name__}.{method}"

    def __repr__(self):
        return f"<gj.optimizers.{type(self).__name__} '{self._name}'>"


class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum: ``keras.optimizers.SGD``."""

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, name="SGD"):
        self._momentum = number("SGD", "momentum", momentum, low=0, high=1)
        if not isinstance(nesterov, bool):
            raise InvalidArgumentError(f"SGD: nesterov must be True or False, got {nesterov!r}")
        self._nesterov = nesterov
        super().__init__(learning_rate, name, sgd_slot_names(self._momentum),
                         functools.partial(sgd, momentum=self._momentum, nesterov=nesterov))

    momentum = property(lambda self: self._momentum)
    nesterov = property(lambda self: self._nesterov)


class Adam(Optimizer):
    """Adam: ``keras.optimizers.Adam`` (bias correction folded into the step size, epsilon outside the root)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, name="Adam"):
        owner = type(self).__name__
        self._beta_1 = number(owner, "beta_1", beta_1, low=0, high=1, high_open=True)
        self._beta_2 = number(owner, "beta_2", beta_2, low=0, high=1, high_open=True)
        self._epsilon = number(owner, "epsilon", epsilon, low=0)
        super().__init__(learning_rate, name, ADAM_SLOT_NAMES, self._bound_rule())

    beta_1 = property(lambda self: self._beta_1)
    beta_2 = property(lambda self: self._beta_2)
    epsilon = property(lambda self: self._epsilon)

    def _bound_rule(self):
        return functools.partial(adam, beta_1=self._beta_1, beta_2=self._beta_2, epsilon=self._epsilon)


class AdamW(Adam):
    """Adam with decoupled weight decay: ``keras.optimizers.AdamW`` (each variable is first multiplied by
    ``1 - weight_decay * learning_rate``, then takes Adam's step)."""

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 name="AdamW"):
        self._weight_decay = number("AdamW", "weight_decay", weight_decay, low=0)
        super().__init__(learning_rate, beta_1, beta_2, epsilon, name)

    weight_decay = property(lambda self: self._weight_decay)

    def _bound_rule(self):
        return functools.partial(adamw, weight_decay=self._weight_decay, beta_1=self._beta_1,
                                 beta_2=self._beta_2, epsilon=self._epsilon)
