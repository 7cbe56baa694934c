"""How a ``dask.distributed`` worker process runs graphjit tasks: threads and large result buffers.

- Threads: a task's kernels run on ``OMP_NUM_THREADS`` Numba threads (1 unless set: Dask's nanny sets it to 1 so
  that BLAS does not oversubscribe the cores the worker threads already use), not on Numba's default of one thread
  per core in every worker process. ``numba.set_num_threads`` is per thread, so each task thread sets it once;
  ``NUMBA_NUM_THREADS`` in a worker's environment is left in charge.
- Buffers: a task's result is new memory each time (Dask keeps it), and faulting in fresh pages of a 64 MiB block
  costs over half as long as computing an elementwise chain on it (27 ms against 42 ms). So large buffers of the CPU backend come from
  a ``Recycler``: it owns their memory, hands out views of it, and hands a block out again only once no view of it
  is alive (Dask has released the result; ``sys.getrefcount``), as the runner's own pool does within one process.
  It holds at most an eighth of the worker's memory limit (1 GiB without one; ``GRAPHJIT_DASK_RECYCLE_BYTES`` in
  the worker's environment sets it, 0 turns recycling off); free blocks of other sizes are let go to make room.
"""
import math
import os
import sys
import threading

import numpy as np

this_thread = threading.local()   # .settled: this thread was set up (or is not a worker's)
_setup_lock = threading.Lock()
_recycler = None                   # this worker process's Recycler, once a task ran here

LARGE_BYTES = 4 << 20              # smaller buffers come from malloc's free lists anyway
DEFAULT_LIMIT_BYTES = 1 << 30


def settle_thread():
    """Sets up this thread (and, the first time, its process) when it is a Dask worker's; else nothing."""
    this_thread.settled = True
    running = sys.modules.get("distributed")   # (a worker has imported it; importing it here would cost ~0.3 s)
    try:
        worker = running.get_worker() if running is not None else None
    except ValueError:   # not a worker's thread
        worker = None
    if worker is None:
        return
    _use_task_threads()
    global _recycler
    with _setup_lock:
        if _recycler is None:
            _recycler = Recycler(_recycle_limit(worker))
            from graphjit.compiler.backend import get_backend
            get_backend("cpu").allocate = _recycler.allocate   # read when a graph is compiled, so before that


def _recycle_limit(worker):
    given = os.environ.get("GRAPHJIT_DASK_RECYCLE_BYTES")
    if given is not None:
        try:
            return int(given)
        except ValueError:
            from graphjit.tracer.errors import InvalidArgumentError
            raise InvalidArgumentError(f"GRAPHJIT_DASK_RECYCLE_BYTES={given!r} in a Dask worker's environment: "
                                       f"expected a number of bytes (0 turns buffer recycling off)") from None
    limit = worker.memory_manager.memory_limit
    return limit // 8 if limit else DEFAULT_LIMIT_BYTES


def _use_task_threads():
    if "NUMBA_NUM_THREADS" in os.environ:
        return
    import numba
    try:
        wanted = int(os.environ.get("OMP_NUM_THREADS", "1"))
    except ValueError:
        wanted = 1
    numba.set_num_threads(max(1, min(wanted, numba.config.NUMBA_NUM_THREADS)))


class Recycler:
    """``allocate(shape, dtype)``: views of blocks it owns (large ones), a block reused once no view is alive."""

    def __init__(self, limit_bytes):
        self.limit_bytes = limit_bytes
        self.blocks = []    # uint8 arrays owning the memory
        self.held_bytes = 0
        self.fresh = self.reused = 0
        self._lock = threading.Lock()

    def allocate(self, shape, dtype):
        dtype = np.dtype(dtype)
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes < LARGE_BYTES:
            return np.empty(shape, dtype)
        with self._lock:
            block = self._free_block(nbytes)
            if block is not None:
                self.reused += 1
            else:
                self._make_room(nbytes)
                if self.held_bytes + nbytes > self.limit_bytes:
                    return np.empty(shape, dtype)
                block = np.empty(nbytes, np.uint8)
                self.blocks.append(block)
                self.held_bytes += nbytes
                self.fresh += 1
            return block.view(dtype).reshape(shape)   # (made under the lock: the block is busy from here)

    def _free_block(self, nbytes):
        for block in self.blocks:
            if block.nbytes == nbytes and _unused(block):
                return block
        return None

    def _make_room(self, nbytes):
        for k in range(len(self.blocks) - 1, -1, -1):
            if self.held_bytes + nbytes <= self.limit_bytes:
                return
            block = self.blocks[k]
            if block.nbytes != nbytes and _unused(block):
                del self.blocks[k]
                self.held_bytes -= block.nbytes


def _unused(block):
    # The runner's pool test (compiler.runner._emit_from_pool) is this rule inlined into generated code, not a call.
    # references: the blocks list, the caller's variable, this argument, getrefcount's own
    return sys.getrefcount(block) <= 4
