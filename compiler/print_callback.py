"""``print_values(spec, *addresses)``: a ``gj.print`` inside compiled code, called back through ``numba.objmode``
(the kernel holds no Python objects: it passes its buffers' addresses, and ``spec`` says what they hold). The values
are copied into arrays of the print node's input types and handed to the print op's eager function, so the text is
exactly what eager mode prints, at the point of the run where eager mode prints it (inside a loop: each
iteration). The round trip (GIL, boxing, the eager function) costs microseconds per call: see
benchmarks/random_loop.py."""
import ctypes
import math

import numpy as np

from graphjit.tracer.registry import OPS


def print_values(spec, *addresses):
    template, sep, end, stream, types = spec
    arrays = [_copy_at(address, shape, dtype) for address, (shape, dtype) in zip(addresses, types)]
    OPS["print"].eager(None, *arrays, template=template, sep=sep, end=end, stream=stream)


def _copy_at(address, shape, dtype):
    dtype = np.dtype(dtype)
    size = math.prod(shape)
    raw = (ctypes.c_char * (size * dtype.itemsize)).from_address(address)
    return np.frombuffer(raw, dtype, count=size).reshape(shape).copy()
