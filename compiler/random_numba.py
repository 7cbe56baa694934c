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
from numba.core import cgutils, types
from numba.core.extending import intrinsic, register_jitable
from numba.np.arrayobj import make_array
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


_BIT_GENERATOR = types.NumPyRandomBitGeneratorType("bit_generator")
# The fields of Numba's bit generator struct (numba.np.random.generator_core's model), in the order
# ``pointers_of`` lists them: an entry takes them as one uint64 array, not the Generator object, whose unboxing
# costs ~7 us per call and, in code compiled without the NRT, leaks a reference to it each call.
_FIELDS = ("state_address", "state", "fnptr_next_uint64", "fnptr_next_uint32", "fnptr_next_double", "bit_generator")


def pointers_of(generator):
    """The uint64 array an entry turns back into ``generator`` (``generator_at``): its bit generator's state and
    functions (valid while the generator lives: the caller keeps it)."""
    import ctypes
    interface = generator.bit_generator.ctypes

    def address(function):
        return ctypes.cast(function, ctypes.c_void_p).value
    return np.array([interface.state_address, interface.state.value, address(interface.next_uint64),
                     address(interface.next_uint32), address(interface.next_double), interface.bit_generator.value],
                    dtype=np.uint64)


@intrinsic
def generator_at(typingctx, pointers):
    """The Generator whose ``pointers_of`` array ``pointers`` is: Numba's Generator methods then draw from the very
    state the Python object has (no parent object, no meminfo: nothing to count references to)."""
    if not isinstance(pointers, types.Array) or pointers.dtype != types.uint64 or pointers.ndim != 1:
        return None
    generator_type = types.NumPyRandomGeneratorType("NumPyRandomGeneratorType")

    def codegen(context, builder, signature, args):
        array = make_array(signature.args[0])(context, builder, args[0])
        bits = cgutils.create_struct_proxy(_BIT_GENERATOR)(context, builder)
        for k, field in enumerate(_FIELDS):
            value = builder.load(builder.gep(array.data, [context.get_constant(types.intp, k)]))
            setattr(bits, field, value)
        bits.parent = cgutils.get_null_value(bits.parent.type)
        generator = cgutils.create_struct_proxy(generator_type)(context, builder)
        generator.bit_generator = bits._getvalue()
        generator.meminfo = cgutils.get_null_value(generator.meminfo.type)
        generator.parent = cgutils.get_null_value(generator.parent.type)
        return generator._getvalue()
    return generator_type(pointers), codegen
