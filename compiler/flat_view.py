"""``flat_view(a)``: the flat 1-d view of a C-contiguous array inside compiled code, built from the array's own
fields (data pointer, item count, item size): no instruction beyond filling the view's struct.

A stage entry takes its buffers in their own shapes and flattens each once per call. Numba's ``a.reshape(-1)``
does the same through a C helper, about 18 ns per array per call (measured on the linear-regression step: 12
of them were 5% of its time). Kernels contain this code, so the source's hash is part of a module's cache key
(as mathlib's is: see cpu._module_source).
"""
import hashlib
import pathlib

from numba import types
from numba.extending import intrinsic
from numba.np.arrayobj import make_array, populate_array

SOURCE_SHA256 = hashlib.sha256(pathlib.Path(__file__).read_bytes()).hexdigest()


@intrinsic
def flat_view(typingctx, array):
    if not isinstance(array, types.Array) or array.layout != "C":
        return None
    flat = array.copy(ndim=1, layout="C")

    def codegen(context, builder, signature, args):
        source = make_array(signature.args[0])(context, builder, args[0])
        view = make_array(signature.return_type)(context, builder)
        populate_array(view, data=source.data, shape=[source.nitems], strides=[source.itemsize],
                       itemsize=source.itemsize, meminfo=source.meminfo, parent=source.parent)
        return view._getvalue()
    return flat(array), codegen
