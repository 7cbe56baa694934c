"""graphjit.train: checkpoints in the style of ``tf.train`` (defined in ``graphjit.runtime.checkpoint``)."""
import os

from graphjit.runtime.checkpoint import Checkpoint, CheckpointManager, latest_checkpoint, list_entries
from graphjit.tracer.errors import NotFoundError

__all__ = ["Checkpoint", "CheckpointManager", "latest_checkpoint", "list_variables"]


def list_variables(ckpt_dir_or_file):
    """``[(name, shape)]`` of every entry of a checkpoint (a prefix, or a folder: its latest one), as
    ``tf.train.list_variables``."""
    prefix = ckpt_dir_or_file
    if os.path.isdir(ckpt_dir_or_file):
        prefix = latest_checkpoint(ckpt_dir_or_file)
        if prefix is None:
            raise NotFoundError(f"list_variables: no checkpoint recorded in folder {ckpt_dir_or_file}")
    return [(name, list(shape)) for name, (shape, _) in list_entries(prefix).items()]
