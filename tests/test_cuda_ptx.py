"""The CUDA kernels the test graphs generate compile to PTX for compute capabilities 7.5 and 9.0 (numba.cuda's
compile_ptx: NVVM and NVRTC from the nvidia-nvvm / nvidia-cuda-nvrtc packages, no GPU needed). The simulator
suite (tests/cuda_sim) runs the kernels as Python; this checks that numba.cuda can type and lower their source.

A compile takes ~0.3 s and the op cases write ~1000 kernels, so the suite compiles a cover: kernels are taken in
order while they hold an (op, kernel kind) pair no earlier one held (~90 pairs: every op's scalar rule, in an
elementwise loop and in a reduction's producers), and every kernel of the copy and scan graph and of the row
reduction graph (one per dtype those kernels take: ``EVERY_SHAPE``). ``GRAPHJIT_PTX_ALL=1`` compiles every kernel
of a distinct code shape (minutes)."""
import os

import numpy as np
import pytest

import graphjit as gj

cuda = pytest.importorskip("numba.cuda")   # the [cuda] extra; the test extra installs it

from cases import ALL_CASES  # noqa: E402

CAPABILITIES = [(7, 5), (9, 0)]


def _nvvm_problem():
    def probe(x):
        x[0] = 1.0
    try:
        cuda.compile_ptx(probe, "void(float32[::1])", cc=CAPABILITIES[0])
    except Exception as err:  # noqa: BLE001 - NVVM/NVRTC missing or unloadable: the reason is printed
        return f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"
    return None


PROBLEM = _nvvm_problem()


def _shape_of_code(source):
    """A kernel's source with its buffer names, value names and numbers (sizes, strides, offsets) blanked: kernels
    that differ only there type and lower alike, so one of them is compiled."""
    import re
    return re.sub(r"\b\d+\b", "N", re.sub(r"\b[blvd]+\d+\b", "X", source.split("\n", 2)[2]))


def _kernels(function, arrays):
    """(code shape, (kind, op) pairs, Python function, signature) of every kernel the backend writes for the graph."""
    from graphjit.compiler.backend import get_backend
    from graphjit.compiler.cuda import backend  # noqa: F401  (registers it)
    from graphjit.compiler.schedule import make_schedule
    cuda_backend = get_backend("cuda")
    concrete = gj.function(function).get_concrete_function(*arrays)
    rendering = cuda_backend.render(make_schedule(concrete.graph, cuda_backend.capabilities))
    module = cuda_backend.load(rendering, make_schedule(concrete.graph, cuda_backend.capabilities))
    for writer in rendering.writers:
        for name, buffers, *_ in writer.launches:
            if name not in writer.signatures:   # (a host call: cuBLAS through CuPy, where it is chosen)
                continue
            types = ", ".join(f"{writer._arg_type(b)}[::1]" for b in buffers)
            info = writer.kernels[name]
            pairs = {(info["kind"], op) for op in info["ops"]}
            yield _shape_of_code(info["source"]), pairs, getattr(module, name).py_func, f"void({types})"


def _copies_and_scans(f, d, i, b):
    """Every dtype each copy and scan kernel takes (the op cases' shape cases hold few), in one graph."""
    return (gj.concat([f, f[:, :1]], 1), gj.concat([b, b], 0), gj.concat([b[0], gj.cast(b[1], gj.int32), f[0, :3]], 0),
            gj.stack([i, i], -1), gj.tile(b, (2, 1)), gj.tile(d, (3,)),
            gj.math.cumsum(f, 0), gj.math.cumprod(d, 0, exclusive=True, reverse=True), gj.math.cumsum(i, 1),
            gj.math.cumsum(b, 1, exclusive=True), gj.sort(f), gj.argsort(d, direction="DESCENDING", stable=True),
            gj.sort(i, 0), gj.argsort(i, stable=True))


def _row_reductions(f, d, i, w, labels, wide):
    """Every dtype the row reduction kernels take: float and int rows, int32 / int64 labels."""
    xent = gj.nn.sparse_softmax_cross_entropy_with_logits
    return (gj.argmax(f, -1), gj.argmin(d, -1, output_type=gj.int32), gj.argmax(i, -1), gj.argmin(w),
            gj.reduce_logsumexp(f, -1), gj.reduce_logsumexp(d), xent(labels=labels, logits=f),
            xent(labels=wide, logits=d))


def _graphs():
    from support import batch_function, batched_cases
    for k, batch in enumerate(batched_cases(ALL_CASES, 150)):
        function, arrays = batch_function(batch)
        yield f"cases{k}", function, arrays
    yield "copies_and_scans", _copies_and_scans, [np.ones((3, 4), np.float32), np.ones(5), np.ones((2, 3), np.int32),
                                                  np.ones((2, 3), bool)]
    yield "row_reductions", _row_reductions, [np.ones((3, 4), np.float32), np.ones((2, 5)), np.ones((2, 3), np.int32),
                                              np.ones(4, np.int64), np.zeros(3, np.int32), np.zeros(2, np.int64)]


GRAPHS = list(_graphs())
_COMPILED = set()   # code shapes compiled by an earlier graph's test
_COVERED = set()    # (kind, op) pairs a compiled kernel held
EVERY_KERNEL = os.environ.get("GRAPHJIT_PTX_ALL", "0") not in ("", "0")
# graphs whose every kernel of a distinct code shape is compiled: one per dtype the kernel takes, not one per op
EVERY_SHAPE = {"copies_and_scans", "row_reductions"}


@pytest.mark.skipif(PROBLEM is not None, reason=f"NVVM cannot compile here: {PROBLEM}")
@pytest.mark.parametrize("name, function, arrays", GRAPHS, ids=[g[0] for g in GRAPHS])
def test_every_generated_kernel_compiles_to_ptx(name, function, arrays):
    seen, count = _COMPILED, 0
    for code, pairs, pyfunc, signature in _kernels(function, arrays):
        key = (code, signature)
        if key in seen or not (EVERY_KERNEL or name in EVERY_SHAPE or pairs - _COVERED):
            continue
        seen.add(key)
        _COVERED.update(pairs)
        for cc in CAPABILITIES:
            ptx, _ = cuda.compile_ptx(pyfunc, signature, cc=cc)
            assert f".target sm_{cc[0]}{cc[1]}" in ptx, code
        count += 1
    assert count > 0 or name not in {"cases0"} | EVERY_SHAPE


# every kind of kernel the CUDA writer (compiler/cuda/writer.py, copy_scan_writer.py, row_writer.py) writes: the
# graphs must make each
WRITER_KINDS = {"loop", "reduce", "matmul", "int_matmul", "softmax", "log_softmax", "gather", "take", "clear",
                "concat", "tile", "cumulative", "sort", "argmax", "argmin", "logsumexp", "xent"}


@pytest.mark.skipif(PROBLEM is not None, reason=f"NVVM cannot compile here: {PROBLEM}")
def test_every_kind_of_kernel_was_compiled_to_ptx():
    if not _COVERED:   # (this test run alone: compile the cover first)
        for name, function, arrays in GRAPHS:
            test_every_generated_kernel_compiles_to_ptx(name, function, arrays)
    missing = WRITER_KINDS - {kind for kind, _ in _COVERED}
    assert not missing, f"no op case made a {sorted(missing)} kernel, so none was compiled to PTX"
