"""BLAS gemm callable from compiled code: NumPy's own bundled OpenBLAS, so matmul runs at NumPy's speed
inside the single compiled entry. The symbol is registered with LLVM under a stable name, which keeps
kernels that call it cacheable across processes. Where NumPy ships no OpenBLAS (other builds), matmul
falls back to running eagerly between compiled stages."""
import ctypes
import glob
import os

import numpy as np
from llvmlite import binding
from numba import types

_SYMBOLS = {"gj_sgemm": ("scipy_cblas_sgemm64_", "cblas_sgemm64_"), "gj_dgemm": ("scipy_cblas_dgemm64_", "cblas_dgemm64_")}


def _load_numpy_openblas():
    root = os.path.dirname(os.path.dirname(np.__file__))
    for path in sorted(glob.glob(os.path.join(root, "numpy.libs", "lib*openblas64*.so*"))):
        try:
            return ctypes.CDLL(path)
        except OSError:
            continue
    return None


def _register():
    lib = _load_numpy_openblas()
    if lib is None:
        return False
    for name, candidates in _SYMBOLS.items():
        for symbol in candidates:
            if hasattr(lib, symbol):
                binding.add_symbol(name, ctypes.cast(getattr(lib, symbol), ctypes.c_void_p).value)
                break
        else:
            return False
    return True


AVAILABLE = _register()

# cblas_?gemm(order, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc) with 64-bit ints;
# pointers are passed as int64 (array.ctypes.data), which the x86-64 and AArch64 ABIs treat alike.
_I32, _I64 = types.int32, types.int64
gj_sgemm = types.ExternalFunction("gj_sgemm", types.void(_I32, _I32, _I32, _I64, _I64, _I64, types.float32, _I64, _I64,
                                                          _I64, _I64, types.float32, _I64, _I64))
gj_dgemm = types.ExternalFunction("gj_dgemm", types.void(_I32, _I32, _I32, _I64, _I64, _I64, types.float64, _I64, _I64,
                                                          _I64, _I64, types.float64, _I64, _I64))
ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112
