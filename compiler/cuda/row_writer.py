"""CUDA kernels for the row reductions argmax / argmin, logsumexp and sparse softmax cross-entropy (a mixin of
``writer.CudaStageWriter``), so that graphs using them keep their data on the GPU instead of running those nodes
on the host between stages. Each is the softmax kernel's shape: one block per row (grid-stride over rows), every
thread a strided share of the row, the shares combined in shared memory in a fixed tree order (deterministic).

The results are the CPU kernels' (compiler/kernel_writers.py): argmax / argmin exactly (the first extreme index,
or the first NaN), logsumexp and the cross-entropy up to the order of their float64 sums of exponentials.
"""
import numpy as np

from graphjit.tracer.shapes import num_elements


def _tree(threads, combine):
    """Lines halving the block's shared partials onto thread 0, ``combine`` merging slot ``tid + s`` into ``tid``."""
    return ["    cuda.syncthreads()", f"    s = {threads // 2}", "    while s > 0:", "        if tid < s:",
            *("            " + line for line in combine), "        cuda.syncthreads()", "        s //= 2"]


class RowKernels:
    """Mixin of ``CudaStageWriter``: it overrides the CPU ``StageWriter``'s methods of the same names."""

    def _max_and_sum(self, x, n, dtype, test, value):
        """Lines leaving the row's max ``m`` in every thread (``value`` where ``test`` holds, ``nan`` and ``m`` in
        scope) and the float64 ``total`` of exp(x - m): the CPU kernels sum the exponentials in float64 too, so
        only the order of the sum differs."""
        t, T = f"np.{dtype.name}", self.threads
        lines = [f"    m = {t}(-np.inf)", "    nan = False", "    j = tid", f"    while j < {n}:",
                 f"        v = {x}[base + j]", "        m = v if v > m else m", "        nan = nan or v != v",
                 f"        j += {T}", "    smax[tid] = m", "    snan[tid] = nan",
                 *_tree(T, ["smax[tid] = smax[tid + s] if smax[tid + s] > smax[tid] else smax[tid]",
                            "snan[tid] = snan[tid] or snan[tid + s]"]),
                 "    nan = snan[0]", "    m = smax[0]", f"    if {test}:", f"        m = {value}"]
        return lines + ["    acc = 0.0", "    j = tid", f"    while j < {n}:",
                        f"        acc += np.float64({t}(gm.exp({x}[base + j] - m)))", f"        j += {T}",
                        "    ssum[tid] = acc", *_tree(T, ["ssum[tid] = ssum[tid] + ssum[tid + s]"]),
                        "    total = ssum[0]"]

    def _shared(self, dtype):
        T = self.threads
        return [f"smax = cuda.shared.array({T}, numba.{dtype.name})", f"snan = cuda.shared.array({T}, numba.boolean)",
                f"ssum = cuda.shared.array({T}, numba.float64)", "tid = cuda.threadIdx.x", "row = cuda.blockIdx.x"]

    def logsumexp(self, group):
        """m + log(sum(exp(x - m))) per row, m the row max, 0 when it is not finite (as the CPU kernel and the
        eager op: all -inf gives log(0) = -inf, +inf gives +inf, a NaN stays NaN)."""
        r, x, rows, n = self._row_layout(group)
        dtype = self._node(r).type.dtype
        t, xs, out = f"np.{dtype.name}", self._arg(x), self._arg(r)
        body = [*self._shared(dtype), f"while row < {rows}:", f"    base = row * {n}",
                *self._max_and_sum(xs, n, dtype, f"nan or m == {t}(np.inf) or m == {t}(-np.inf)", f"{t}(0.0)"),
                "    if tid == 0:", f"        {out}[row] = {t}(gm.log(total)) + m",
                "    cuda.syncthreads()", "    row += cuda.gridDim.x"]
        self._kernel("logsumexp", body, sorted({x, r}), [x], [r], self._blocks(rows * self.threads), group)

    def sparse_xent(self, group):
        """-log_softmax(logits)[label] per row, the log_softmax kernel's max and sum. A label outside [0, classes)
        sets the stage's index flag and its row is skipped (by the whole block, which reads the same label), and
        the runner re-runs the node on the host to raise the op's own error, as for the gathers."""
        r = group.members[0]
        node = self._node(r)
        labels, x = (self.plan.resolve(b) for b, _ in group.operands)
        rows, n = num_elements(node.type.shape), self._node(node.inputs[1]).type.shape[-1]
        dtype = node.type.dtype
        flag = self._index_flag(r, (labels, x), group)
        t, xs, ls, out, f = f"np.{dtype.name}", self._arg(x), self._arg(labels), self._arg(r), self._arg(flag)
        body = [*self._shared(dtype), f"while row < {rows}:", f"    base = row * {n}",
                f"    label = np.int64({ls}[row])", f"    if label < 0 or label >= {n}:", "        if tid == 0:",
                f"            {f}[0] = 1", "    else:",
                *("    " + line for line in self._max_and_sum(xs, n, dtype, "nan", f"{t}(np.nan)")),
                "        if tid == 0:", f"            {out}[row] = -(({xs}[base + label] - m) - {t}(gm.log(total)))",
                "    cuda.syncthreads()", "    row += cuda.gridDim.x"]
        self._kernel("xent", body, sorted({labels, x, r, flag}), [labels, x], [r, flag],
                     self._blocks(rows * self.threads), group)

    def arg_reduce(self, group, largest):
        """argmax / argmin per row: each thread the first extreme of its share (ascending, so a tie keeps the
        lower index), the shares merged preferring a NaN, then the better value, then the lower index: the first
        NaN if the row has one, else the first extreme, as the CPU kernel's sequential scan and NumPy give."""
        r, x, rows, n = self._row_layout(group)
        dtype = self._node(self._node(r).inputs[0]).type.dtype
        better = ">" if largest else "<"
        T, xs, out = self.threads, self._arg(x), self._arg(r)
        take = (f"oi >= 0 and (bi < 0 or (ov != ov and (bv == bv or oi < bi)) or "
                f"(bv == bv and ov == ov and (ov {better} bv or (ov == bv and oi < bi))))")
        body = [f"sval = cuda.shared.array({T}, numba.{dtype.name})", f"sidx = cuda.shared.array({T}, numba.int64)",
                "tid = cuda.threadIdx.x", "row = cuda.blockIdx.x", f"while row < {rows}:", f"    base = row * {n}",
                "    index = -1", "    j = tid", f"    if j < {n}:", f"        best = {xs}[base + j]",
                "        index = j", f"        j += {T}", "    else:", f"        best = {xs}[base]",
                f"    while j < {n} and best == best:", f"        v = {xs}[base + j]",
                f"        if v {better} best or v != v:", "            best = v", "            index = j",
                f"        j += {T}", "    sval[tid] = best", "    sidx[tid] = index",
                *_tree(T, ["bv = sval[tid]", "bi = sidx[tid]", "ov = sval[tid + s]", "oi = sidx[tid + s]",
                           f"if {take}:", "    sval[tid] = ov", "    sidx[tid] = oi"]),
                "    if tid == 0:", f"        {out}[row] = np.{self._node(r).type.dtype.name}(sidx[0])",
                "    cuda.syncthreads()", "    row += cuda.gridDim.x"]
        self._kernel("argmax" if largest else "argmin", body, sorted({x, r}), [x], [r],
                     self._blocks(rows * self.threads), group)
