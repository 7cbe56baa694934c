"""Random draws inside compiled code, one element at a time from the runtime's own ``np.random.Generator``
(passed to the entry: Numba unboxes it to the same PCG64 state, so compiled and eager draws continue one stream).

Numba's Generator methods draw floats exactly as NumPy's array fills do (``random`` and ``standard_normal``,
float32 and float64: one ``next_double`` / ``next_float`` / ziggurat draw per element, in C order), which
tests/test_control_flow_effects.py checks bit for bit. Its ``integers`` allocates (it needs Numba's NRT, which
entries are compiled without), so the bounded integers are written here from Numba's own Lemire routines, with
NumPy's choice between them (``_bounded_integers.pyx``: a span of 0 draws nothing, a span of 2**32-1 or 2**64-1
takes raw bits). Only int32 and int64 are lowered: NumPy's int8/int16 fills keep a buffer of bits between
elements of one call, which a per-element draw does not. Kernels contain this code: its hash joins a module's
cache key (see cpu._module_source).
"""
import hashlib
import pathlib

import numpy as np
from numba.core.extending import register_jitable
from numba.np.random.generator_core import next_uint32, next_uint64
from numba.np.random.random_methods import bounded_lemire_uint64, buffered_bounded_lemire_uint32

SOURCE_SHA256 = hashlib.sha256(pathlib.Path(__file__).read_bytes()).hexdigest()


@register_jitable
def rng_int64(bitgen, low, high):
    """One int64 of [low, high) (high > low), as NumPy's ``integers(low, high, size, dtype=int64)`` draws each."""
    span = np.uint64(high) - np.uint64(low) - np.uint64(1)
    if span == 0:
        bits = np.uint64(0)
    elif span <= np.uint64(0xFFFFFFFF):
        if span == np.uint64(0xFFFFFFFF):
            bits = np.uint64(next_uint32(bitgen))
        else:
            bits = np.uint64(buffered_bounded_lemire_uint32(bitgen, span))
    elif span == np.uint64(0xFFFFFFFFFFFFFFFF):
        bits = np.uint64(next_uint64(bitgen))
    else:
        bits = np.uint64(bounded_lemire_uint64(bitgen, span))
    return np.int64(np.uint64(low) + bits)


@register_jitable
def rng_int32(bitgen, low, high):
    """One int32 of [low, high) (high > low), as NumPy's ``integers(low, high, size, dtype=int32)`` draws each."""
    span = np.uint32(np.uint32(high) - np.uint32(low) - np.uint32(1))
    if span == 0:
        bits = np.uint32(0)
    elif span == np.uint32(0xFFFFFFFF):
        bits = np.uint32(next_uint32(bitgen))
    else:
        bits = np.uint32(buffered_bounded_lemire_uint32(bitgen, span))
    return np.int32(np.uint32(np.uint32(low) + bits))
