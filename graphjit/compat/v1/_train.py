"""``compat.v1.train`` optimizers: TF1's ``GradientDescentOptimizer``, ``MomentumOptimizer`` and ``AdamOptimizer``.

``minimize(loss)`` builds ``gradients`` (``_gradients``) and the update ops into the loss's graph and returns one
op; ``sess.run(train_op, feed_dict=...)`` in a loop then reuses one compiled plan per fed shape. Slot variables
(``W/Momentum``, ``W/Adam``, ``W/Adam_1``) and Adam's ``beta1_power`` / ``beta2_power`` are ordinary compat.v1
variables, not trainable: ``global_variables_initializer()`` built after ``minimize`` initializes them and
``Saver`` saves them, as in TF1. The updates follow TF1's kernels (``ApplyMomentum``, ``ApplyAdam``).
"""
import numpy as np

from graphjit.tracer.errors import InvalidArgumentError, InvalidTypeError
from graphjit.tracer.registry import OPS

from ._gradients import gradients
from ._graph import GraphTensor
from ._scopes import ScopeOf
from ._variables import Variable, control_dependencies, group, target_graph, trainable_variables


class Optimizer:
    """The TF1 optimizer protocol: ``compute_gradients``, ``apply_gradients``, ``minimize``, ``get_slot``."""

    def __init__(self, learning_rate, use_locking=False, name="Optimizer"):
        _check_rate(learning_rate, "learning_rate")
        self._learning_rate = learning_rate
        self._name = name
        self._slots = {}          # (slot name, variable id) -> slot Variable
        self._non_slots = {}      # (name, graph) -> Variable (Adam's beta powers)

    def get_name(self):
        return self._name

    def compute_gradients(self, loss, var_list=None, grad_loss=None, **unused_tf1_options):
        """``[(gradient, variable)]`` for ``var_list`` (default: the loss graph's trainable variables)."""
        if not isinstance(loss, GraphTensor):
            raise InvalidTypeError(f"{self._name}.compute_gradients: loss must be a compat.v1 graph tensor, got "
                                   f"{type(loss).__name__}")
        if var_list is None:
            with loss.graph.as_default():
                var_list = trainable_variables()
        var_list = list(var_list)
        for v in var_list:
            if not isinstance(v, Variable):
                raise InvalidTypeError(f"{self._name}: var_list holds a {type(v).__name__}; it must hold "
                                       f"gj.compat.v1.Variables")
        if not var_list:
            raise InvalidArgumentError(f"{self._name}: there are no variables to optimize")
        grads = gradients(loss, var_list, grad_ys=None if grad_loss is None else [grad_loss])
        return list(zip(grads, var_list))

    def apply_gradients(self, grads_and_vars, global_step=None, name=None):
        """One op applying each gradient to its variable (pairs with a ``None`` gradient are skipped), then
        incrementing ``global_step`` when given."""
        pairs = list(grads_and_vars)
        applied = [(g, v) for g, v in pairs if g is not None]
        if not applied:
            names = [getattr(v, "name", repr(v)) for _, v in pairs]
            raise InvalidArgumentError(f"{self._name}: no gradients provided for any variable ({names}): check "
                                       f"that the loss depends on them through differentiable ops")
        seen = set()
        for _, v in applied:
            if not isinstance(v, Variable):
                raise InvalidTypeError(f"{self._name}.apply_gradients: {v!r} is not a gj.compat.v1.Variable")
            if v._ref.id in seen:
                raise InvalidArgumentError(f"{self._name}.apply_gradients: variable {v.name} appears twice")
            seen.add(v._ref.id)
        graph = applied[0][1]._graph
        self._create_slots(graph, [v for _, v in applied])
        with graph.as_default(), graph.name_scope(name or self._name):
            rate = self._learning_rate() if callable(self._learning_rate) else self._learning_rate
            updates = [self._apply_dense(OPS["cast"].bind(g, dtype=v.dtype) if g.dtype is not v.dtype else g, v,
                                         rate) for g, v in applied]
            with control_dependencies(updates):
                updates.extend(self._finish(graph))
                if global_step is not None:
                    updates.append(global_step.assign_add(np.ones((), global_step.dtype.np)))
            return group(*updates, name=name or self._name)

    def minimize(self, loss, global_step=None, var_list=None, name=None, grad_loss=None, **unused_tf1_options):
        return self.apply_gradients(self.compute_gradients(loss, var_list, grad_loss), global_step, name)

    # -- slots --

    def get_slot_names(self):
        return sorted({name for name, _ in self._slots})

    def get_slot(self, var, name):
        return self._slots.get((name, var._ref.id))

    def variables(self):
        return list(self._slots.values()) + list(self._non_slots.values())

    def _slot(self, var, slot, suffix):
        key = (slot, var._ref.id)
        if key not in self._slots:
            with var._graph.as_default(), ScopeOf(var._graph, ""):
                self._slots[key] = Variable(np.zeros(tuple(var.shape), var.dtype.np), trainable=False,
                                            name=f"{var._ref.name}/{suffix}")
        return self._slots[key]

    def _non_slot(self, graph, name, initial):
        key = (name, graph)
        if key not in self._non_slots:
            with graph.as_default(), ScopeOf(graph, ""):
                self._non_slots[key] = Variable(np.float32(initial), trainable=False, name=name)
        return self._non_slots[key]

    # -- what a subclass defines --

    def _create_slots(self, graph, var_list):
        pass

    def _apply_dense(self, grad, var, rate):
        raise NotImplementedError

    def _finish(self, graph):
        return []


class GradientDescentOptimizer(Optimizer):
    """``var -= learning_rate * grad``."""

    def __init__(self, learning_rate, use_locking=False, name="GradientDescent"):
        super().__init__(learning_rate, use_locking, name)

    def _apply_dense(self, grad, var, rate):
        return var.assign_sub(grad * rate)


class MomentumOptimizer(Optimizer):
    """TF1's ``ApplyMomentum``: ``accum = momentum * accum + grad; var -= lr * accum`` (with ``use_nesterov``,
    ``var -= lr * (grad + momentum * accum)``)."""

    def __init__(self, learning_rate, momentum, use_locking=False, name="Momentum", use_nesterov=False):
        super().__init__(learning_rate, use_locking, name)
        _check_rate(momentum, "momentum")
        self._momentum = momentum
        self._nesterov = bool(use_nesterov)

    def _create_slots(self, graph, var_list):
        for v in var_list:
            self._slot(v, "momentum", self._name)

    def _apply_dense(self, grad, var, rate):
        accum = self.get_slot(var, "momentum")
        new_accum = accum * self._momentum + grad
        step = grad + new_accum * self._momentum if self._nesterov else new_accum
        with control_dependencies([accum.assign(new_accum)]):
            return var.assign_sub(step * rate)


class AdamOptimizer(Optimizer):
    """TF1's ``ApplyAdam``: ``lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)``, ``m = beta1 m + (1 - beta1) g``,
    ``v = beta2 v + (1 - beta2) g^2``, ``var -= lr_t m / (sqrt(v) + epsilon)``; ``beta1_power`` and
    ``beta2_power`` (variables, starting at beta1 and beta2) advance after every variable's update."""

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8, use_locking=False, name="Adam"):
        super().__init__(learning_rate, use_locking, name)
        for value, what in ((beta1, "beta1"), (beta2, "beta2")):
            if not 0.0 <= value < 1.0:
                raise InvalidArgumentError(f"AdamOptimizer: {what} must be in [0, 1), got {value}")
        _check_rate(epsilon, "epsilon")
        self._beta1, self._beta2, self._epsilon = beta1, beta2, epsilon

    def _create_slots(self, graph, var_list):
        self._non_slot(graph, "beta1_power", self._beta1)
        self._non_slot(graph, "beta2_power", self._beta2)
        for v in var_list:
            self._slot(v, "m", self._name)
            self._slot(v, "v", f"{self._name}_1")

    def _apply_dense(self, grad, var, rate):
        graph = var._graph
        beta1_power = self._non_slots[("beta1_power", graph)]
        beta2_power = self._non_slots[("beta2_power", graph)]
        b1, b2 = self._beta1, self._beta2
        rate_t = _cast(rate * OPS["sqrt"].bind(1.0 - beta2_power) / (1.0 - beta1_power), var.dtype)
        m, v = self.get_slot(var, "m"), self.get_slot(var, "v")
        new_m = m * b1 + grad * (1.0 - b1)
        new_v = v * b2 + grad * grad * (1.0 - b2)
        with control_dependencies([m.assign(new_m), v.assign(new_v)]):
            return var.assign_sub(rate_t * new_m / (OPS["sqrt"].bind(new_v) + self._epsilon))

    def _finish(self, graph):
        beta1_power = self._non_slots[("beta1_power", graph)]
        beta2_power = self._non_slots[("beta2_power", graph)]
        return [beta1_power.assign(beta1_power * self._beta1), beta2_power.assign(beta2_power * self._beta2)]


def _cast(tensor, dtype):
    return tensor if tensor.dtype is dtype else OPS["cast"].bind(tensor, dtype=dtype)


def _check_rate(value, what):
    if callable(value) or isinstance(value, GraphTensor):
        return
    if not isinstance(value, (int, float, np.floating, np.integer)) or isinstance(value, bool):
        raise InvalidTypeError(f"{what} must be a number or a tensor, got {type(value).__name__}")
    if value < 0:
        raise InvalidArgumentError(f"{what} must be >= 0, got {value}")


def get_or_create_global_step(graph=None):
    """The graph's ``global_step`` (an int64 variable, not trainable), created on first use."""
    graph = graph or target_graph()
    for v in graph.variables:
        if v._ref.name == "global_step":
            return v
    with graph.as_default(), ScopeOf(graph, ""):
        return Variable(np.zeros((), np.int64), trainable=False, name="global_step")


def get_global_step(graph=None):
    graph = graph or target_graph()
    return next((v for v in graph.variables if v._ref.name == "global_step"), None)
