"""``gj.optimizers``: Keras-style optimizers (``SGD``, ``Adam``, ``AdamW``) and learning-rate ``schedules``.

The update arithmetic is in ``graphjit.optimizers.updates`` (pure rules over tensors, reusable by other
optimizer front ends); ``graphjit.optimizers.optimizer`` holds the classes, their slots and argument checks.
"""
from . import schedules  # noqa: F401
from .optimizer import SGD, Adam, AdamW, Optimizer  # noqa: F401

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "schedules"]
