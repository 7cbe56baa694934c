"""graphjit.compat.v1: TensorFlow 1's Graph/Session programming model on graphjit's ops, passes and kernels.

Port TF1 code by replacing ``tf.compat.v1`` with ``gj.compat.v1`` (and ``tf.`` ops with ``gj.`` ops).
Defined in ``graphjit.tracer.v1_graph`` / ``v1_variables`` (graph building) and
``graphjit.runtime.session`` / ``saver`` (running and checkpoints).
"""
import types as _types

from graphjit.runtime.checkpoint import latest_checkpoint as _latest_checkpoint
from graphjit.runtime.saver import Saver as _Saver
from graphjit.runtime.session import InteractiveSession, Session, get_default_session  # noqa: F401
from graphjit.tracer.v1_graph import (Graph, GraphTensor as Tensor, Operation, get_default_graph,  # noqa: F401
                                      name_scope, reset_default_graph)
from graphjit.tracer.v1_variables import (  # noqa: F401
    Variable, assign, assign_add, assign_sub, control_dependencies, disable_eager_execution,
    enable_eager_execution, executing_eagerly, global_variables, global_variables_initializer, group, no_op,
    placeholder, placeholder_with_default, set_random_seed, trainable_variables, variables_initializer)

train = _types.ModuleType(f"{__name__}.train", "graphjit.compat.v1.train: Saver and latest_checkpoint (TF1's tf.train)")
train.Saver = _Saver
train.latest_checkpoint = _latest_checkpoint
initialize_all_variables = global_variables_initializer
