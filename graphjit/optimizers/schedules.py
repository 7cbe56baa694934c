"""``gj.optimizers.schedules``: learning rates as functions of the optimizer's step (``keras.optimizers.schedules``).

A schedule is called with the number of updates applied so far (an int64 scalar tensor: the optimizer's
``iterations``) and returns the learning rate as a float32 scalar tensor, computed with graphjit ops, so it is
recomputed on every call of a traced training step without retracing.
"""
from graphjit.tracer.dtypes import float32
from graphjit.tracer.errors import InvalidArgumentError
from graphjit.tracer.registry import API

from ._arguments import number

_cast, _floor, _pow = API["cast"], API["floor"], API["pow"]


class LearningRateSchedule:
    """Base class: ``schedule(step) -> learning rate``."""

    def __call__(self, step):
        raise NotImplementedError(f"{type(self).__name__} must implement __call__(step)")


class ExponentialDecay(LearningRateSchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)``; with ``staircase`` the exponent is
    floored, so the rate drops in steps every ``decay_steps`` updates."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False):
        owner = "ExponentialDecay"
        self.initial_learning_rate = number(owner, "initial_learning_rate", initial_learning_rate, low=0)
        self.decay_steps = number(owner, "decay_steps", decay_steps, low=0, low_open=True)
        self.decay_rate = number(owner, "decay_rate", decay_rate, low=0, low_open=True)
        if not isinstance(staircase, bool):
            raise InvalidArgumentError(f"ExponentialDecay: staircase must be True or False, got {staircase!r}")
        self.staircase = staircase

    def __call__(self, step):
        exponent = _cast(step, float32) / self.decay_steps
        if self.staircase:
            exponent = _floor(exponent)
        return self.initial_learning_rate * _pow(self.decay_rate, exponent)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase}

