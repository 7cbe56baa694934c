"""``row_tile(n, like)``: a scratch array of ``n`` elements of ``like``'s type on the stack of the function that
runs it, for the rows kernels (compiler.row_writers): a row pass stores a costly element value there and the
later passes read it back instead of computing it again.

The space is one ``alloca`` in the entry block of the LLVM function that contains the call: inside a ``prange``
body that is the worker's gufunc, so each thread has its own tile and the rows it runs reuse it, with no
allocation per row (kernels run without Numba's runtime). ``n`` must be a literal, and callers keep tiles small
(row_writers.TILE_MAX_BYTES) since they live on worker threads' stacks. Kernels contain this code, so the
source's hash is part of a module's cache key (see cpu._module_source).
"""
import hashlib
import pathlib

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.arrayobj import make_array, populate_array

SOURCE_SHA256 = hashlib.sha256(pathlib.Path(__file__).read_bytes()).hexdigest()


@intrinsic
def row_tile(typingctx, n, like):
    if not isinstance(n, types.IntegerLiteral) or not isinstance(like, (types.Float, types.Integer)):
        return None
    size, tile = n.literal_value, types.Array(like, 1, "C")

    def codegen(context, builder, signature, args):
        intp = context.get_value_type(types.intp)
        itemsize = context.get_abi_sizeof(context.get_value_type(like))
        data = cgutils.alloca_once(builder, context.get_value_type(like), size=size)
        view = make_array(tile)(context, builder)
        populate_array(view, data=data, shape=[ir.Constant(intp, size)], strides=[ir.Constant(intp, itemsize)],
                       itemsize=ir.Constant(intp, itemsize), meminfo=None)
        return view._getvalue()
    return tile(n, like), codegen
