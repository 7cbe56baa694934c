"""Float matmul through cuBLAS, when CuPy is installed and a real GPU runs the kernels; the tiled shared-memory
kernel (``writer.CudaStageWriter.matmul``) otherwise.

CuPy is an optional, separate install (``pip install cupy-cuda12x``): graphjit never requires it. Its ``matmul``
calls cuBLAS gemm (strided-batched for a batch) on views of the stage's device buffers, shared through
``__cuda_array_interface__`` without a copy, on the default stream that numba.cuda's launches use too, so the
kernels before and after it see its result in order. CuPy computes float32 in float32 (no TF32 unless the user
sets ``CUPY_TF32=1``). ``GRAPHJIT_CUDA_MATMUL=tiled`` keeps the tiled kernel even where cuBLAS could run."""
import importlib.util
import os

from . import memory

_decided = {}   # (the choice, made once per process: it imports CuPy and asks it for a GPU)


def cublas_problem():
    """None when float matmuls go through cuBLAS, else why they do not (for logs and tests)."""
    if "problem" not in _decided:
        _decided["problem"] = _problem()
    return _decided["problem"]


def _problem():
    if os.environ.get("GRAPHJIT_CUDA_MATMUL", "auto") == "tiled":
        return "GRAPHJIT_CUDA_MATMUL=tiled asks for the tiled kernel"
    if memory.SIMULATED:
        return "Numba's CUDA simulator has no cuBLAS"
    if importlib.util.find_spec("cupy") is None:
        return "CuPy is not installed (cuBLAS is reached through it: pip install cupy-cuda12x)"
    try:
        import cupy
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return "CuPy sees no GPU"
    except Exception as err:  # noqa: BLE001 - a CuPy built for another CUDA, no driver, ...: the reason is kept
        return f"CuPy cannot use the GPU: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
    return None


def cublas_gemm(a, b, c, rows, cols, inner, trans_a, trans_b, batch_a, batch_b, batch, xp=None):
    """C[batch, rows, cols] = op(A) @ op(B) by CuPy's matmul (cuBLAS) on the flat device buffers ``a``, ``b``,
    ``c``: A's buffer holds ``batch_a`` matrices (rows, inner), or (inner, rows) when ``trans_a``; B's ``batch_b``
    of (inner, cols), or (cols, inner) when ``trans_b``; a batch of 1 broadcasts. (``xp``: the array module, CuPy
    by default; tests check these views with NumPy on host buffers.)"""
    if xp is None:
        import cupy as xp
    a_view = xp.asarray(a)[:batch_a * rows * inner].reshape((batch_a, inner, rows) if trans_a else
                                                            (batch_a, rows, inner))
    b_view = xp.asarray(b)[:batch_b * inner * cols].reshape((batch_b, cols, inner) if trans_b else
                                                            (batch_b, inner, cols))
    out = xp.asarray(c).reshape(batch, rows, cols)
    xp.matmul(a_view.transpose(0, 2, 1) if trans_a else a_view, b_view.transpose(0, 2, 1) if trans_b else b_view,
              out=out)
