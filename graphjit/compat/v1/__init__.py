"""graphjit.compat.v1: TensorFlow 1's Graph/Session programming model on graphjit's ops, passes and kernels.

A drop-in namespace for TF1 programs: ``import graphjit.compat.v1 as tf`` gives the dtypes
(``tf.float32``), every op under its TF1 name (``tf.matmul``, ``tf.reduce_mean(x, reduction_indices=1)``,
``tf.random_normal``, ``tf.nn.softmax_cross_entropy_with_logits_v2``, ``tf.math.*``...), placeholders,
variables, ``get_variable`` / ``variable_scope``, initializers, ``Session`` and ``train.Saver``. Its ops
build into a graph (TF1's graph mode) wherever no graph or trace is being built; ``gj.*`` stays eager.

The op names come from the registry's API table (``_names``); the graph machinery lives here, on top of
the core: ``_graph`` (Graph, GraphTensor, op naming, partial shape inference), ``_scopes``, ``_variables``,
``_session`` (Session, run by the runtime's ``executable`` and ``State``) and ``_saver``. It plugs into the
core through ``tracer.context``: ``register_tensor_context(GraphTensor)`` (an op on a graph's tensor joins
that graph) and ``set_fallback`` (``disable_eager_execution``); the core imports nothing from here.
"""
import types as _types

from graphjit.tracer import ops as _registered  # noqa: F401  (every op, before the names are read)
from graphjit.tracer.source import add_package_dir as _add_package_dir

_add_package_dir(__file__)  # errors name the user's line, not these wrappers

from graphjit.runtime.checkpoint import latest_checkpoint as _latest_checkpoint  # noqa: E402
from graphjit.tracer.shapes import TensorShape  # noqa: E402,F401

from ._gradients import gradients  # noqa: E402,F401
from ._graph import (Graph, GraphTensor as Tensor, Operation, get_default_graph,  # noqa: E402,F401
                     name_scope, reset_default_graph)
from ._saver import Saver as _Saver  # noqa: E402
from ._session import InteractiveSession, Session, get_default_session  # noqa: E402,F401
from ._variables import (  # noqa: E402,F401
    Variable, assign, assign_add, assign_sub, control_dependencies, disable_eager_execution,
    enable_eager_execution, executing_eagerly, global_variables, global_variables_initializer, group, no_op,
    placeholder, placeholder_with_default, set_random_seed, trainable_variables, variables_initializer)

from . import _initializers, _names, _train  # noqa: E402
from ._initializers import initializers  # noqa: E402
from ._variable_scope import (AUTO_REUSE, VariableScope, get_variable, get_variable_scope,  # noqa: E402,F401
                              variable_scope)

globals().update(_initializers.TOP_LEVEL)  # tf.zeros_initializer(), tf.glorot_uniform_initializer()...
# Ops and dtypes under their TF1 names; the definitions above (placeholder, Variable...) are not op names.
globals().update({k: v for k, v in _names.build(__name__).items() if k not in globals()})

train = _types.ModuleType(f"{__name__}.train", "graphjit.compat.v1.train: Saver, latest_checkpoint and the "
                          "optimizers (TF1's tf.train)")
train.Saver = _Saver
train.latest_checkpoint = _latest_checkpoint
for _name in ("Optimizer", "GradientDescentOptimizer", "MomentumOptimizer", "AdamOptimizer", "get_global_step",
              "get_or_create_global_step"):
    setattr(train, _name, getattr(_train, _name))
initialize_all_variables = global_variables_initializer
all_variables = global_variables
initializers.global_variables = global_variables_initializer
initializers.variables = variables_initializer
