"""GPU memory for the CUDA backend: device arrays, the host <-> device copies (every one counted in ``TRANSFERS``),
and ``__cuda_array_interface__`` in and out.

A device array is a numba.cuda device array (``DeviceNDArray``; under Numba's CUDA simulator a ``FakeCUDAArray``,
whose "device" memory is host memory). An argument exposing ``__cuda_array_interface__`` (CuPy, PyTorch, ...) is
wrapped without a copy: ``cuda.from_cuda_array_interface`` on a GPU; under the simulator, where such a pointer is a
host pointer, a NumPy view of that memory in a FakeCUDAArray. The simulator's arrays expose no interface of their
own, so ``interface`` writes one for them (version 3, C-contiguous: strides None) from their host buffer.
"""
import threading

import numpy as np
from numba import config, cuda

from graphjit.tracer.errors import InvalidArgumentError

# host <-> GPU copies: made by stage entries for host inputs and results, by .cuda()/.numpy()/.cpu(), by variable
# writes across devices, and by host steps between stages. A step whose data lives on the GPU makes none.
TRANSFERS = {"to_device": 0, "to_host": 0, "bytes": 0}
_count_lock = threading.Lock()
SIMULATED = bool(config.ENABLE_CUDASIM)

if SIMULATED:
    from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray
    from numba.cuda.simulator.cudadrv.devicearray import is_cuda_ndarray as _is_numba_device_array
else:
    from numba.cuda.cudadrv.devicearray import is_cuda_ndarray as _is_numba_device_array


def on_a_gpu():
    """A real GPU (not the simulator) that numba.cuda can use."""
    return not SIMULATED and cuda.is_available()


def _count(kind, nbytes):
    with _count_lock:
        TRANSFERS[kind] += 1
        TRANSFERS["bytes"] += int(nbytes)


def transfer_stats():
    """A copy of the counters: {"to_device": copies, "to_host": copies, "bytes": bytes moved}."""
    with _count_lock:
        return dict(TRANSFERS)


def is_device_array(value):
    return _is_numba_device_array(value)


def to_device(array):
    """``array`` on the GPU: a device array as it is (no copy), a host array copied (counted)."""
    if _is_numba_device_array(array):
        return array
    array = np.asarray(array)
    if not array.flags.c_contiguous:   # (not ascontiguousarray: it makes a 0-d array 1-d)
        array = np.array(array, order="C")
    _count("to_device", array.nbytes)
    return cuda.to_device(array)


def device_array(shape, dtype):
    return cuda.device_array(shape, dtype)


def output_buffer(array):
    """The device array a kernel writes for the buffer ``array``: itself on the GPU, else a new one (whose value
    ``copy_back`` then copies into the host buffer)."""
    return array if _is_numba_device_array(array) else cuda.device_array(array.shape, array.dtype)


def copy_back(device, host):
    """After the kernels: a host buffer receives what was written on the GPU for it (counted); a device buffer
    (``device is host``) needs nothing."""
    if device is host or host.size == 0:
        return
    _count("to_host", host.nbytes)
    if host.flags.c_contiguous:
        device.copy_to_host(host)
    else:   # (a strided view of the host buffer: the copy lands in a temporary, then in place)
        host[...] = device.copy_to_host().reshape(host.shape)


def to_host(array):
    """A host copy of ``array`` (counted when it is on the GPU; anything else, a host array or a control-flow
    node's tuple of them, is returned as it is)."""
    if not _is_numba_device_array(array):
        return array
    _count("to_host", array.nbytes)
    return array.copy_to_host()


def flag_set(flag):
    """Whether a kernel set the one-element flag buffer ``flag`` (an index out of range): read back, counted, so
    a stage with an index check costs one 8-byte copy per call, the price of raising instead of answering wrong."""
    if not _is_numba_device_array(flag):
        return bool(flag[0])
    _count("to_host", flag.nbytes)
    return bool(flag.copy_to_host()[0])


def from_interface(value, what="value"):
    """A device array sharing the memory of ``value`` (a numba device array, or an object exposing
    ``__cuda_array_interface__``): no copy. C-contiguous only (the kernels index flat buffers)."""
    if _is_numba_device_array(value):
        array = value
    elif SIMULATED:
        array = _simulated_view(value.__cuda_array_interface__, value, what)
    else:
        array = cuda.from_cuda_array_interface(value.__cuda_array_interface__, owner=value, sync=True)
    if not array.is_c_contiguous():
        raise InvalidArgumentError(f"{what}: a GPU array of shape {tuple(array.shape)} that is not C-contiguous "
                                   f"(copy it on the device first, e.g. cupy.ascontiguousarray)")
    return array


def interface(array):
    """``__cuda_array_interface__`` of a device array (the simulator's, which has none, from its host buffer)."""
    if not SIMULATED:
        return array.__cuda_array_interface__
    host = array._ary
    return {"shape": tuple(host.shape), "typestr": host.dtype.str, "data": (host.ctypes.data, False),
            "strides": None if host.flags.c_contiguous else tuple(host.strides), "version": 3}


def _simulated_view(cai, owner, what):
    shape, dtype = tuple(cai["shape"]), np.dtype(cai["typestr"])
    if cai.get("strides") not in (None, tuple(np.empty(shape, dtype).strides)):
        raise InvalidArgumentError(f"{what}: a GPU array of shape {shape} that is not C-contiguous")
    count = int(np.prod(shape)) * dtype.itemsize
    pointer = cai["data"][0]
    if count == 0:
        return FakeCUDAArray(np.empty(shape, dtype))
    import ctypes
    buffer = (ctypes.c_char * count).from_address(pointer)
    view = np.frombuffer(buffer, dtype=dtype).reshape(shape)
    fake = FakeCUDAArray(view)
    fake._owner = owner   # (the memory stays alive while the view does)
    return fake
