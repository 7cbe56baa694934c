"""``data_parallel_step(step_fn, shards)``: one training step, its gradients computed on each shard by Dask.

``step_fn(*shard)`` is an ordinary training step (a loss under ``gj.GradientTape``, then
``optimizer.apply_gradients``), as a Python function or a ``@gj.function``. It is traced once per shard signature
with the optimizer's update captured (``optimizers.captured_gradients``), so the graph computes the step's
results and the gradients it would apply; its variable reads become inputs (``compiler.functionalize``). Each
shard is one Dask task that runs that graph's document with the shard and the variables' current values
(``run_graph``; on a ``dask.distributed`` cluster when a client is active, else Dask's default
scheduler). The gradients are averaged, weighted by each shard's number of rows (for a loss that is a mean over
the batch, the weighted average is the gradient of the whole batch's loss), and applied once by the captured
optimizer to the local runtime's variables, through a traced update (compiled like any other step). The results
(the loss) are averaged the same way.
"""
import weakref

import dask
import numpy as np

from graphjit.compiler.functionalize import functionalize
from graphjit.compiler.passes.pipeline import optimize
from graphjit.optimizers.optimizer import captured_gradients
from graphjit.tracer import context, nest
from graphjit.tracer.errors import InvalidArgumentError, UnimplementedError
from graphjit.tracer.function import Function, _TensorSlot, function
from graphjit.tracer.serialize import graph_to_json
from graphjit.tracer.specs import TensorSpec

from ._tasks import run_graph

_plans = weakref.WeakKeyDictionary()   # step_fn -> {shard signature: _Plan}


class _Plan:
    """A step traced for one shard signature: the gradient graph's document and how to apply its results."""

    def __init__(self, step_fn, specs):
        python_fn = step_fn.python_function if isinstance(step_fn, Function) else step_fn
        captured = []

        def step_and_gradients(*shard):
            with captured_gradients() as sink:
                result = python_fn(*shard)
            captured[:] = sink
            return result, [g for _, grads, _ in sink for g in grads]
        concrete = function(step_and_gradients, name=getattr(python_fn, "__name__", "step")).get_concrete_function(
            *specs)
        if not captured:
            raise InvalidArgumentError(f"data_parallel_step: {concrete.name} applied no gradients (call "
                                       f"optimizer.apply_gradients in the step)")
        pure, effects = functionalize(optimize(concrete.graph))
        if effects.variable_outputs:
            names = ", ".join(ref.name for ref, _ in effects.variable_outputs)
            raise UnimplementedError(f"data_parallel_step: {concrete.name} assigns variables ({names}) besides the "
                                     f"optimizer's update; each shard would assign its own value")
        if effects.prints:
            raise UnimplementedError(f"data_parallel_step: {concrete.name} prints; print the returned results")
        self.text = graph_to_json(pure)
        self.variables = [ref for ref, _ in effects.variable_inputs]
        self.template = concrete.output_template
        self.updates = [(optimizer, variables) for optimizer, _, variables in captured]
        self.gradient_count = sum(len(v) for _, v in self.updates)
        self.result_count = len(concrete.graph.outputs) - self.gradient_count
        updates = self.updates

        def apply(*grads):
            k = 0
            for optimizer, variables in updates:
                optimizer.apply_gradients(zip(grads[k:k + len(variables)], variables))
                k += len(variables)
        self.apply = function(apply, name=f"{concrete.name}_update")

    def tasks(self, shards):
        state = context.eager_context().runtime.state
        with state.lock:
            values = [np.array(state.read(ref)) for ref in self.variables]
        shared = [dask.delayed(v, pure=True) for v in values]   # one key each: sent once per worker
        return [dask.delayed(run_graph, pure=True)(self.text, *shard, *shared) for shard in shards]


def data_parallel_step(step_fn, shards):
    """Runs ``step_fn`` once over ``shards`` (a list of argument tuples, one per shard): the gradients of every
    shard computed on the Dask workers, averaged (weighted by rows), applied to the local variables. Returns the
    step's results averaged the same way (floating-point tensors; other values from the first shard)."""
    shards = [tuple(np.asarray(a) for a in (shard if isinstance(shard, (tuple, list)) else (shard,)))
              for shard in shards]
    if not shards:
        raise InvalidArgumentError("data_parallel_step: shards is empty")
    signatures = {tuple((a.shape, a.dtype) for a in s) for s in shards}
    weights = np.array([len(s[0]) if s and s[0].ndim else 1 for s in shards], np.float64)
    if not weights.sum():
        raise InvalidArgumentError("data_parallel_step: every shard is empty")
    weights /= weights.sum()
    by_signature = _plans.setdefault(step_fn, {})
    outputs = [None] * len(shards)
    plan = None
    for signature in signatures:   # (shards of one shape share one plan: one graph, one compile per worker)
        plan = by_signature.get(signature)
        if plan is None:
            plan = by_signature[signature] = _Plan(step_fn, [TensorSpec(shape, dtype) for shape, dtype in signature])
        members = [k for k, s in enumerate(shards) if tuple((a.shape, a.dtype) for a in s) == signature]
        for k, result in zip(members, dask.compute(*plan.tasks([shards[k] for k in members]))):
            outputs[k] = result if isinstance(result, tuple) else (result,)
    if len({len(o) for o in outputs}) != 1:
        raise UnimplementedError("data_parallel_step: shards of different shapes returned different structures")
    averaged = [_average([o[j] for o in outputs], weights) for j in range(len(outputs[0]))]
    plan.apply(*averaged[plan.result_count:])
    results = averaged[:plan.result_count]
    result_slot, _ = plan.template
    return nest.map_structure(lambda leaf: results[leaf.index] if type(leaf) is _TensorSlot else leaf, result_slot)


def _average(values, weights):
    first = np.asarray(values[0])
    if not np.issubdtype(first.dtype, np.floating):
        return first
    total = sum(w * np.asarray(v, np.float64) for w, v in zip(weights, values))
    return np.asarray(total, first.dtype)
