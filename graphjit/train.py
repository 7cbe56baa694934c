"""graphjit.train: checkpoints in the style of ``tf.train`` (defined in ``graphjit.runtime.checkpoint``)."""
from graphjit.runtime.checkpoint import Checkpoint, CheckpointManager, latest_checkpoint  # noqa: F401

__all__ = ["Checkpoint", "CheckpointManager", "latest_checkpoint"]
