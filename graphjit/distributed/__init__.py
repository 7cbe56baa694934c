"""``gj.distributed``: graphjit functions on Dask (an optional extra: ``pip install graphjit[distributed]``).

- A ``@gj.function`` called with ``dask.array`` arguments returns Dask arrays (lazy): see ``_dask_arrays`` for how
  its optimized graph becomes blockwise tasks, tree reductions and Dask's matmul.
- ``data_parallel_step(step_fn, shards)``: one training step whose gradients are computed on each shard by the
  workers and averaged, then applied to the local runtime's variables (``_data_parallel``).

Tasks carry graph documents (``Graph.to_json``), never pickled code: ``_tasks`` is what a worker runs. The core
never imports this package: ``gj.function`` hands a call with a Dask argument here (``tracer.function``).
"""
from ._dask_arrays import call as call_on_dask_arrays  # noqa: F401
from ._data_parallel import data_parallel_step  # noqa: F401

__all__ = ["data_parallel_step", "call_on_dask_arrays"]
