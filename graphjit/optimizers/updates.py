"""The optimizers' update rules, one pure function per rule, written once with graphjit ops.

A rule is ``rule(var, grad, slots, lr, step, **hyperparameters) -> (new value of var, {slot name: new value})``:
``var``, ``grad`` and the values in ``slots`` (slot name -> tensor) are tensors of the variable's dtype and shape;
``lr`` is the learning rate (a Python float or a scalar tensor); ``step`` is the number of updates applied before
this one (Keras' ``optimizer.iterations``), an int64 scalar tensor. Rules read and write nothing: the caller reads
the variables and assigns the results, so the same rule runs eagerly, is recorded into a ``@gj.function`` graph,
and can serve a TF1-style optimizer that builds assignments in a compat.v1 graph.

The arithmetic follows Keras 3's ``update_step`` operation for operation (float32 results are those Keras gives).
"""
from graphjit.tracer.registry import API
from graphjit.tracer.tensor import Tensor

_cast, _pow, _sqrt, _square = API["cast"], API["pow"], API["sqrt"], API["square"]


def _in_dtype_of(var, value):
    """A scalar hyperparameter in the variable's dtype (Keras casts the learning rate); Python floats are weak
    scalars and take the variable's dtype by themselves."""
    return _cast(value, var.dtype) if isinstance(value, Tensor) and value.dtype is not var.dtype else value


def sgd_slot_names(momentum):
    return ("momentum",) if momentum else ()


def sgd(var, grad, slots, lr, step, *, momentum=0.0, nesterov=False):
    """Gradient descent, with (Nesterov) momentum when ``momentum > 0``: ``m = momentum * m - lr * g``, then
    ``var += m`` (or ``var += momentum * m - lr * g`` with ``nesterov``)."""
    lr = _in_dtype_of(var, lr)
    if not momentum:
        return var - grad * lr, {}
    m = slots["momentum"] * momentum - grad * lr
    step_taken = m * momentum - grad * lr if nesterov else m
    return var + step_taken, {"momentum": m}


ADAM_SLOT_NAMES = ("m", "v")


def adam(var, grad, slots, lr, step, *, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    """Adam with bias correction folded into the step size (Keras): at step ``t = step + 1``,
    ``alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)``, ``m += (g - m) * (1 - beta_1)``,
    ``v += (g**2 - v) * (1 - beta_2)``, ``var -= m * alpha / (sqrt(v) + epsilon)``."""
    lr = _in_dtype_of(var, lr)
    local_step = _cast(step + 1, var.dtype)
    beta_1_power = _pow(beta_1, local_step)   # (a Python float is a weak scalar: computed in the var's dtype)
    beta_2_power = _pow(beta_2, local_step)
    alpha = lr * _sqrt(1 - beta_2_power) / (1 - beta_1_power)
    m = slots["m"] + (grad - slots["m"]) * (1 - beta_1)
    v = slots["v"] + (_square(grad) - slots["v"]) * (1 - beta_2)
    return var - m * alpha / (_sqrt(v) + epsilon), {"m": m, "v": v}


def decoupled_weight_decay(var, lr, weight_decay):
    """AdamW's decay, applied to the variable before its gradient update: ``var - var * weight_decay * lr``
    (Loshchilov & Hutter; the decay is scaled by the learning rate, as Keras does)."""
    return var - var * weight_decay * _in_dtype_of(var, lr)


def adamw(var, grad, slots, lr, step, *, weight_decay=0.004, **adam_hyperparameters):
    """Adam on the decayed variable (Keras' AdamW)."""
    return adam(decoupled_weight_decay(var, lr, weight_decay), grad, slots, lr, step, **adam_hyperparameters)
