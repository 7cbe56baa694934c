"""One compiled stage as CUDA kernels (numba.cuda source) and a host entry that runs them.

The stage's plan (compiler.fusion.StagePlan) is the CPU backend's: the same groups, loads through index maps
(views cost no copy), materialised values and in-place outputs. What differs is how a group becomes code:

- an elementwise group is one grid-stride kernel: thread t computes flat elements t, t + gridsize, ... of the
  group's loop shape (its index split into the loop dims by div/mod), every member's scalar rule inline (the
  loads and member lines are the CPU writer's, ``StageWriter._element_lines``);
- a matmul is a tiled kernel: a block of threads per tile of the result, the inner dimension staged through
  shared memory a tile at a time (its elementwise epilogue is the next group's loop); integer ones accumulate
  in 64 bits and wrap as NumPy's do; float ones are a host call of cuBLAS (``blas.cublas_gemm``) where the
  backend chose it (``blas.cublas_problem``);
- a gather or take (``x[int tensor]``) is a grid-stride copy whose threads check each index they read: one out
  of range sets the stage's flag for it, and the runner re-runs the node on the host to raise its error;
- softmax and log_softmax rows: a block per row, its max and float64 sum of exponentials combined in shared memory;
- argmax / argmin, logsumexp and sparse softmax cross-entropy rows (``row_writer``, a mixin), as softmax's;
- concat / stack / tile copies and cumsum / cumprod / sort / argsort lines (``copy_scan_writer``, a mixin);
- a reduction is one kernel with one block per kept element (grid-stride over them): each of the block's THREADS
  threads accumulates a strided share of the reduced elements (the group's elementwise producers inline), then
  the block combines the partial results in shared memory in a fixed tree order, so a result never depends on
  timing (deterministic), and float sums accumulate in float64 as on the CPU.

The entry is plain Python: it launches the kernels in order on device arrays. The runner's buffers are device
arrays already (the backend allocates them on the GPU), so only host arguments are copied in and only host buffers
receive copies back (``memory.TRANSFERS`` counts them): a stage whose data lives on the GPU makes no copy. Kinds of group this writer has
no kernel for (control flow, unstable argsort, ...) never reach it: the backend's capabilities leave them to
the host, between stages.
"""
import numpy as np

from graphjit.tracer.errors import CompilationError
from graphjit.tracer.registry import OPS
from graphjit.tracer.shapes import num_elements

from ..affine import AffineMap
from ..codegen import StageWriter, _collapse, _index, _init, _wide
from ..fusion import take_layout
from ..scalar_numba import cast_source as cast
from .copy_scan_writer import CopyScanKernels, split_index as _split_index
from .row_writer import RowKernels
from .scalar import render_cuda

MAX_BLOCKS = 1024
SIMULATED_THREADS = 32   # the block size under the simulator (each thread is a Python thread there)
SIMULATED_BLOCKS = 2     # and at most this many blocks: the threads loop over the rest (grid-stride)


class CudaStageWriter(RowKernels, CopyScanKernels, StageWriter):
    """Emits the kernels and the host entry of one stage (``threads``: the block size of every kernel)."""

    def __init__(self, name, plan, graph, threads, cublas=False):
        super().__init__(name, plan, graph)
        self.threads = threads
        self.cublas = cublas   # float matmuls through cuBLAS (blas.cublas_problem() is None), else tiled kernels
        # (kernel name, [buffer ids], blocks, reads, writes, threads) in order; a host call (cuBLAS) has blocks None
        # and its trailing arguments' text in place of threads
        self.launches = []
        self.signatures = {}   # kernel name -> its numba.cuda signature
        self.index_flag = None   # the scratch buffer the stage's index checks set (_index_flag)

    def _scalar_source(self, expr, names):
        return render_cuda(expr, names, simulated=self.threads == SIMULATED_THREADS)

    def _kernel(self, kind, body, buffers, reads, writes, blocks, group, threads=None):
        fname = f"{self.name}_{kind}{len(self.launches)}"
        start = len(self.lines)
        self.lines.append("@cuda.jit(cache=GJ_CACHE)")
        self.lines.append(f"def {fname}({', '.join(self._arg(b) for b in buffers)}):")
        self.lines.extend("    " + line for line in body)
        self.lines.append("")
        self.launches.append((fname, buffers, blocks, reads, writes, threads or self.threads))
        # the buffers as the entry passes them (flat, C-contiguous): on a GPU the module compiles each kernel for
        # its signature as it executes (backend._footer)
        self.signatures[fname] = f"void({', '.join(f'{self._arg_type(b)}[::1]' for b in buffers)})"
        self.kernels[fname] = {"source": "\n".join(self.lines[start:]), "buffers": buffers, "kind": kind,
                               "ops": [self._node(m).op for m in group.members], "parallel": True, "flops": 0,
                               "inline": False}

    def _blocks(self, count):
        cap = SIMULATED_BLOCKS if self.threads == SIMULATED_THREADS else MAX_BLOCKS
        return max(1, min(cap, -(-count // self.threads)))

    def elementwise(self, group):
        shape = group.shape
        loads = self._loads(group, shape)
        outputs = [m for m in group.members if m in self.plan.materialized]
        store = {m: self.plan.resolve(m) for m in outputs}
        accesses = [(j, b, a) for j, (b, a) in loads.items() if a is not None]
        sizes, strides, _ = _collapse(shape, [a.strides for _, _, a in accesses]
                                      + [AffineMap.contiguous(shape).strides], [0] * len(shape))
        total = num_elements(shape)
        names = [f"i{d}" for d in range(len(sizes))]
        body = ["t = cuda.grid(1)", "step = cuda.gridsize(1)", f"while t < {total}:"]
        body += ["    " + line for line in _split_index("t", sizes, names)]
        lines, _ = self._element_lines(group.members, loads, accesses, self._expressions(group),
                                       lambda k, amap: _index(amap.offset, strides[k], names))
        body += ["    " + line for line in lines]
        out_index = _index(0, strides[-1], names)
        body += [f"    {self._arg(store[m])}[{out_index}] = v{m}" for m in outputs]
        body.append("    t += step")
        reads = [b for _, b, _ in accesses]
        writes = list(store.values())
        self._kernel("loop", body, sorted(set(reads + writes)), reads, writes, self._blocks(total), group)

    def reduce(self, group):
        r = group.members[-1]
        node = self._node(r)
        lowering = OPS[node.op].lower
        in_shape = tuple(group.shape)
        axes = set(node.attr("axis"))
        kept = [d for d in range(len(in_shape)) if d not in axes]
        reduced = [d for d in range(len(in_shape)) if d in axes]
        loads = self._loads(group, in_shape)
        accesses = [(j, b, a) for j, (b, a) in loads.items() if a is not None]
        source = node.inputs[0]
        in_dtype, out_dtype = self._node(source).type.dtype, node.type.dtype
        acc_dtype = out_dtype if lowering.acc_dtype == "out" or out_dtype.is_bool else _wide(out_dtype)
        acc_t = "np.bool_" if acc_dtype.is_bool else f"np.{acc_dtype.name}"
        init = _init(lowering.init, in_dtype if lowering.acc_dtype == "out" else acc_dtype, acc_t)
        n_kept = num_elements([in_shape[d] for d in kept])
        n_red = num_elements([in_shape[d] for d in reduced])
        kept_names = [f"i{d}" for d in kept]
        red_names = [f"i{d}" for d in reduced]
        names = [f"i{d}" for d in range(len(in_shape))]
        combine = lowering.combine
        shared_type = "numba.boolean" if acc_dtype.is_bool else f"numba.{acc_dtype.name}"
        body = [f"sm = cuda.shared.array({self.threads}, {shared_type})", "tid = cuda.threadIdx.x",
                "k = cuda.blockIdx.x", f"while k < {n_kept}:"]
        body += ["    " + line for line in _split_index("k", [in_shape[d] for d in kept], kept_names)]
        body += [f"    acc = {init}", "    j = tid", f"    while j < {n_red}:"]
        body += ["        " + line for line in _split_index("j", [in_shape[d] for d in reduced], red_names)]
        lines, value = self._element_lines(group.members[:-1], loads, accesses, self._expressions(group),
                                           lambda k, amap: _index(amap.offset, amap.strides, names))
        body += ["        " + line for line in lines]
        v = cast(value.get(source, f"v{source}"), in_dtype, acc_dtype)
        body += [f"        acc = {combine.format(acc='acc', v=v)}", f"        j += {self.threads}",
                 "    sm[tid] = acc", "    cuda.syncthreads()", f"    s = {self.threads // 2}", "    while s > 0:",
                 "        if tid < s:",
                 f"            sm[tid] = {combine.format(acc='sm[tid]', v='sm[tid + s]')}",
                 "        cuda.syncthreads()", "        s //= 2", "    if tid == 0:"]
        finalize = lowering.finalize.format(acc="sm[0]", n=n_red)
        out = self.plan.resolve(r)
        body += [f"        {self._arg(out)}[k] = {cast(finalize, acc_dtype, out_dtype)}", "    cuda.syncthreads()",
                 "    k += cuda.gridDim.x"]
        reads = [b for _, b, _ in accesses]
        self._kernel("reduce", body, sorted(set(reads + [out])), reads, [out], self._blocks(n_kept * self.threads),
                     group)

    def matmul(self, group, integer=False):
        """C = op(A) @ op(B), float: one TILE x TILE block of threads per tile of C (a z-block per batch matrix),
        stepping through the inner dimension a tile at a time through shared memory. Each C element sums its
        products in order in the output dtype (as sgemm/dgemm do); ``integer``: see int_matmul."""
        m = self._matmul_layout(group)
        r, rows, cols, inner, batch = m["r"], m["rows"], m["cols"], m["inner"], m["batch"]
        if self.cublas and not integer:
            return self._cublas_matmul(group, m)
        dtype = self._node(r).type.dtype
        tile = 4 if self.threads == SIMULATED_THREADS else 16
        t = f"np.{dtype.name}"
        acc = ("np.uint64" if dtype.np.itemsize == 8 else "np.int64") if integer else t
        a_step, b_step = m["steps"]
        a_at = f"kb * {a_step} + " + ("l * {lda} + row" if m["trans_a"] else "row * {lda} + l").format(lda=m["lda"])
        b_at = f"kb * {b_step} + " + ("col * {ldb} + l" if m["trans_b"] else "l * {ldb} + col").format(ldb=m["ldb"])
        a, b, c = self._arg(m["a"]), self._arg(m["b"]), self._arg(r)
        body = [f"sa = cuda.shared.array(({tile}, {tile}), numba.{dtype.name})",
                f"sb = cuda.shared.array(({tile}, {tile}), numba.{dtype.name})",
                "tx = cuda.threadIdx.x", "ty = cuda.threadIdx.y", "kb = cuda.blockIdx.z",
                f"row = cuda.blockIdx.y * {tile} + ty", f"col = cuda.blockIdx.x * {tile} + tx",
                f"acc = {acc}(0)", f"for step in range({-(-inner // tile)}):",
                f"    l = step * {tile} + tx",
                f"    sa[ty, tx] = {a}[{a_at}] if row < {rows} and l < {inner} else {t}(0)",
                f"    l = step * {tile} + ty",
                f"    sb[ty, tx] = {b}[{b_at}] if l < {inner} and col < {cols} else {t}(0)",
                "    cuda.syncthreads()",
                f"    for q in range({tile}):",
                f"        acc = {acc}(acc + {acc}(sa[ty, q]) * {acc}(sb[q, tx]))",
                "    cuda.syncthreads()",
                f"if row < {rows} and col < {cols}:",
                f"    {c}[kb * {rows * cols} + row * {cols} + col] = {t}(acc)"]
        grid = f"({max(1, -(-cols // tile))}, {max(1, -(-rows // tile))}, {max(1, batch)})"
        self._kernel("int_matmul" if integer else "matmul", body, sorted({m["a"], m["b"], r}), [m["a"], m["b"]], [r], grid, group,
                     threads=f"({tile}, {tile})")

    def _cublas_matmul(self, group, m):
        """The matmul as a host call of ``blas.cublas_gemm`` on the stage's device buffers (no kernel of ours)."""
        r = m["r"]
        a_step, b_step = m["steps"]
        extra = (f"{m['rows']}, {m['cols']}, {m['inner']}, {m['trans_a']}, {m['trans_b']}, "
                 f"{m['batch'] if a_step else 1}, {m['batch'] if b_step else 1}, {max(1, m['batch'])}")
        fname = f"{self.name}_cublas{len(self.launches)}"
        buffers = [m["a"], m["b"], r]   # (in the call's order: A, B, C)
        self.launches.append(("cublas_gemm", buffers, None, [m["a"], m["b"]], [r], extra))
        self.kernels[fname] = {"source": f"cublas_gemm(A, B, C, {extra})", "buffers": buffers, "kind": "cublas_matmul",
                               "ops": [self._node(x).op for x in group.members], "parallel": True, "flops": 0,
                               "inline": False}

    def int_matmul(self, group):
        """Integer C = op(A) @ op(B): the float kernel's tiles, each product and sum in int64 (uint64 for int64,
        whose arithmetic wraps) and the result cast back, so it wraps as NumPy's integer matmul does (the CPU
        backend's int_matmul accumulates alike)."""
        self.matmul(group, integer=True)

    def _index_flag(self, r, operands, group):
        """The stage's one-element flag buffer for index checks (node ``r``'s among them): cleared by a one-thread
        kernel before the first kernel that checks, set by any thread that meets an index out of range (that
        element is not written). Kernels cannot raise: after the stage the runner reads the flag (one copy per
        call, counted) and, when set, re-runs the stage's checked nodes on the host in order, the first bad one
        raising its op's own error, as for the CPU's kernels (compiler.kernel_writers._index_check)."""
        if self.index_flag is None:
            self.index_flag = self._scratch(1, np.int64)
            self._kernel("clear", [f"{self._arg(self.index_flag)}[0] = 0"], [self.index_flag], [], [self.index_flag],
                         1, group, threads=1)
        self.checks.append((self.index_flag, r, operands))
        return self.index_flag

    def _indexed_copy(self, kind, group, sizes, names, index_at, lowest, dim, source):
        """The grid-stride copy of a gather or take: output element t split into ``names`` over ``sizes``, the
        index read at ``index_at`` (negatives counted from the end when ``lowest`` is -dim) and checked."""
        r = group.members[0]
        params, indices = (self.plan.resolve(b) for b, _ in group.operands)
        flag = self._index_flag(r, (params, indices), group)
        p, ind, out, f = self._arg(params), self._arg(indices), self._arg(r), self._arg(flag)
        total = num_elements(sizes)
        body = ["t = cuda.grid(1)", "step = cuda.gridsize(1)", f"while t < {total}:"]
        body += ["    " + line for line in _split_index("t", sizes, names)]
        body.append(f"    i = np.int64({ind}[{index_at}])")
        if lowest:
            body.append(f"    i = i + {dim} if i < 0 else i")
        body += [f"    if i < 0 or i >= {dim}:", f"        {f}[0] = 1", "    else:",
                 f"        {out}[t] = {p}[{source}]", "    t += step"]
        self._kernel(kind, body, sorted({params, indices, r, flag}), [params, indices], [r, flag], self._blocks(total),
                     group)

    def gather(self, group):
        """np.take along ``axis`` (indices in [0, dim), as the CPU kernel checks): thread t copies output elements
        t, t + gridsize, ... of the (outer, index, inner) layout."""
        node = self._node(group.members[0])
        shape, axis = self._node(node.inputs[0]).type.shape, node.attr("axis")
        outer, dim, inner = num_elements(shape[:axis]), shape[axis], num_elements(shape[axis + 1:])
        n = num_elements(self._node(node.inputs[1]).type.shape)
        self._indexed_copy("gather", group, [outer, n, inner], ["o", "k", "m"], "k", 0, dim,
                           f"(o * {dim} + i) * {inner} + m")

    def take(self, group):
        """``x[key]`` with one integer tensor in the key (fusion.take_layout): the key's strided view of x read at
        each index (NumPy's negatives from the end), the output in the result's order (the index tensor's dims
        first, or in the indexed axis's place)."""
        node = self._node(group.members[0])
        view, axis, front = take_layout(node, self.graph.nodes)
        n, dim = num_elements(self._node(node.inputs[1]).type.shape), view.shape[axis]
        other = [d for d in range(len(view.shape)) if d != axis]
        order = ["k"] + other if front else other[:axis] + ["k"] + other[axis:]
        sizes = [n if d == "k" else view.shape[d] for d in order]
        names = ["k" if d == "k" else f"i{d}" for d in order]
        source = " + ".join([str(view.offset), f"i * {view.strides[axis]}"] + [f"i{d} * {view.strides[d]}" for d in other])
        self._indexed_copy("take", group, sizes, names, "k", -dim, dim, source)

    def softmax(self, group, log=False):
        """softmax / log_softmax over the last axis: one block per row (grid-stride over rows); the row max (a NaN
        anywhere makes it NaN, as on the CPU) and the float64 sum of exp(x - max) combine in shared memory in a
        fixed tree order, then each thread writes its share of the row."""
        r = group.members[0]
        node = self._node(r)
        x = self._arg(self.plan.resolve(group.operands[0][0]))
        out = self._arg(r)
        n = node.type.shape[-1]
        rows = num_elements(node.type.shape[:-1])
        t = f"np.{node.type.dtype.name}"
        T = self.threads
        tree = ["    s = {half}", "    while s > 0:", "        if tid < s:", "            {combine}",
                "        cuda.syncthreads()", "        s //= 2"]

        def combine(line):
            return [x.format(half=T // 2, combine=line) for x in tree]
        body = [f"smax = cuda.shared.array({T}, numba.{node.type.dtype.name})",
                f"snan = cuda.shared.array({T}, numba.boolean)", f"ssum = cuda.shared.array({T}, numba.float64)",
                "tid = cuda.threadIdx.x", "row = cuda.blockIdx.x", f"while row < {rows}:",
                f"    base = row * {n}", f"    m = {t}(-np.inf)", "    nan = False", "    j = tid",
                f"    while j < {n}:", f"        v = {x}[base + j]", "        m = v if v > m else m",
                "        nan = nan or v != v", f"        j += {T}",
                "    smax[tid] = m", "    snan[tid] = nan", "    cuda.syncthreads()",
                *combine("smax[tid] = smax[tid + s] if smax[tid + s] > smax[tid] else smax[tid]"),
                *combine("snan[tid] = snan[tid] or snan[tid + s]"),
                f"    m = {t}(np.nan) if snan[0] else smax[0]", "    acc = 0.0", "    j = tid",
                f"    while j < {n}:", f"        acc += np.float64({t}(gm.exp({x}[base + j] - m)))", f"        j += {T}",
                "    ssum[tid] = acc", "    cuda.syncthreads()",
                *combine("ssum[tid] = ssum[tid] + ssum[tid + s]"),
                "    total = ssum[0]", "    j = tid"]
        if log:
            body += [f"    lse = {t}(gm.log(total))", f"    while j < {n}:",
                     f"        {out}[base + j] = ({x}[base + j] - m) - lse", f"        j += {T}"]
        else:
            body += [f"    inv = {t}(1.0 / total)", f"    while j < {n}:",
                     f"        {out}[base + j] = {t}(gm.exp({x}[base + j] - m)) * inv", f"        j += {T}"]
        body += ["    cuda.syncthreads()", "    row += cuda.gridDim.x"]
        buffers = sorted({self.plan.resolve(group.operands[0][0]), r})
        self._kernel("log_softmax" if log else "softmax", body, buffers, [self.plan.resolve(group.operands[0][0])],
                     [r], self._blocks(rows * T), group)

    def write(self):
        for group in self.plan.groups:
            writer = {"elementwise": self.elementwise, "reduce": self.reduce, "matmul": self.matmul,
                      "int_matmul": self.int_matmul, "gather": self.gather, "take": self.take,
                      "softmax": self.softmax, "log_softmax": lambda g: self.softmax(g, log=True),
                      "concat": self.concatenate, "stack": self.concatenate, "tile": self.tile,
                      "cumulative": self.cumulative, "sort": self.sort, "logsumexp": self.logsumexp,
                      "sparse_xent": self.sparse_xent, "argmax": lambda g: self.arg_reduce(g, largest=True),
                      "argmin": lambda g: self.arg_reduce(g, largest=False)}.get(group.kind)
            if writer is None:
                raise CompilationError(f"the CUDA backend has no {group.kind} kernel (stage {self.name})")
            writer(group)
        args = sorted({b for _, buffers, *_ in self.launches for b in buffers})
        self.entry_shapes = [(num_elements(self._buffer_shape(b)),) for b in args]
        on_device, lines = set(), [f"def {self.name}({', '.join(self._arg(b) for b in args)}):"]
        written = []
        for fname, buffers, blocks, reads, writes, threads in self.launches:
            for b in buffers:
                if b in on_device:
                    continue
                on_device.add(b)
                arg = self._arg(b)
                lines.append(f"    d{arg} = to_device({arg})" if b in reads else f"    d{arg} = output_buffer({arg})")
            passed = ", ".join("d" + self._arg(b) for b in buffers)
            lines.append(f"    {fname}({passed}, {threads})" if blocks is None else
                         f"    {fname}[{blocks}, {threads}]({passed})")
            written += [b for b in writes if b not in written]
        lines += [f"    copy_back(d{self._arg(b)}, {self._arg(b)})" for b in written]
        if len(lines) == 1:
            lines.append("    pass")
        self.lines += lines + [""]
        return args

