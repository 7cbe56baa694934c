"""The writers of kernels of their own (see fusion): BLAS gemm and integer matmul, row kernels (softmax,
log_softmax, logsumexp, argmax/argmin, sparse softmax cross-entropy) and copy kernels (concat/stack, tile,
gather, take, scatter_add). ``StageWriter`` (codegen) inherits them; they emit through its ``_function``."""
import numpy as np

from graphjit.tracer.shapes import num_elements
from graphjit.tracer.symbolic import decided, hint

from .affine import AffineMap
from .fusion import strided_scatter_view, take_layout
from .row_writers import extreme_lines
from .scalar_numba import cast_source as cast

PARALLEL_MIN_ELEMENTS = 1 << 16        # cheap arithmetic: below this one thread is faster
PARALLEL_MIN_TRANSCENDENTAL = 1 << 13  # exp/sin/... loops pay off sooner
EXP_SUM_BLOCK = 2048                   # columns per row tile of _row_exp_sum (8 kB of float32: L1)


class KernelWriters:
    """Mixin of ``codegen.StageWriter``: one method per kernel kind, each writing one group."""

    def parallel_loop(self, total, heavy, rows=None):
        """Whether a loop nest of ``total`` element steps runs its outer loop (of ``rows`` iterations, when it
        matters) with ``prange``: a parallel region costs microseconds, which pay off from 64K cheap steps or 8K
        transcendental ones (heavy: exp, sin, ...); never in stages that call BLAS (see ``allow_parallel``)."""
        threshold = PARALLEL_MIN_TRANSCENDENTAL if heavy else PARALLEL_MIN_ELEMENTS
        total, rows = hint(total), hint(rows)   # (a symbolic size: guessed, tracer.symbolic.HINT)
        return self.allow_parallel and (rows is None or rows > 1) and total >= threshold

    def _row_exp_sum(self, dtype, n):
        """Lines summing ``exp(xs[j] - m)`` over row ``xs`` into the float64 ``s`` (after ``_row_max``), a block of
        columns at a time: the exps go to a row tile in one loop and are summed from it in another (summed where
        computed, the float64 accumulation of a float32 exp vectorised badly: see row_writers)."""
        exp = f"exp_{dtype.short}"
        self.mathlib.update((exp, "reassoc_add", "row_tile"))
        block = max(1, min(n, EXP_SUM_BLOCK)) if isinstance(n, int) else EXP_SUM_BLOCK
        return ["    s = 0.0",
                f"    es = row_tile({block}, np.{dtype.name}(0))",
                f"    for j0 in range(0, {n}, {block}):",
                f"        width = min({block}, {n} - j0)",
                "        for j in range(width):",
                f"            es[j] = {exp}(xs[j0 + j] - m)",
                "        for j in range(width):",
                "            s = reassoc_add(s, es[j])"]

    def _matmul_layout(self, group):
        """The buffers and gemm-style layout of C = op(A) @ op(B): an operand may arrive as its untransposed
        base buffer (then the transpose flag does the transposing); batched operands (the same batch shape,
        or one side unbatched) step through their buffers by a whole matrix per batch (0: unbatched)."""
        r = group.members[0]
        node = self._node(r)
        (a, a_base_t), (b, b_base_t) = ((self.plan.resolve(buf), t) for buf, t in group.operands)
        a_shape, b_shape = (self._node(j).type.shape for j in node.inputs)
        (p, q), (rr, s) = a_shape[-2:], b_shape[-2:]
        ta, tb = node.attr("transpose_a"), node.attr("transpose_b")
        rows, inner = (q, p) if ta else (p, q)
        return dict(r=r, a=a, b=b, rows=rows, inner=inner, cols=rr if tb else s,
                    lda=p if a_base_t else q, ldb=rr if b_base_t else s,
                    trans_a=ta != a_base_t, trans_b=tb != b_base_t,
                    batch=num_elements(node.type.shape[:-2]),
                    steps=(p * q if len(a_shape) > 2 else 0, rr * s if len(b_shape) > 2 else 0))

    def matmul(self, group):
        """C = op(A) @ op(B) by BLAS gemm, one call per batch matrix, at byte offsets into the buffers."""
        m = self._matmul_layout(group)
        r, rows, cols, inner, batch = m["r"], m["rows"], m["cols"], m["inner"], m["batch"]
        dtype = self._node(r).type.dtype
        fn = "gj_sgemm" if dtype.name == "float32" else "gj_dgemm"
        self.mathlib.add(fn)
        t, size = f"np.{dtype.name}", dtype.np.itemsize
        at = [f"b{x}.ctypes.data" + (f" + k * {step * size}" if batch > 1 and step else "")
              for x, step in zip((m["a"], m["b"], r), (*m["steps"], rows * cols))]
        # NumPy's matmul takes dot, gemv or its own loop where a dimension is 1, each summing onto +0.0, and gemm
        # otherwise (BLAS gemm with beta 0 never adds that +0.0): the sum of products that are all -0.0 is +0.0
        # there and -0.0 here. Zeroing C and asking gemm to add onto it (beta 1) gives NumPy's sign of zero.
        onto_zero = decided(lambda: 1 in (rows, cols, inner))
        beta = int(onto_zero) if onto_zero is not None else f"{rows} == 1 or {cols} == 1 or {inner} == 1"
        call = (f"{fn}(101, {112 if m['trans_a'] else 111}, {112 if m['trans_b'] else 111}, {rows}, {cols}, {inner}, "
                f"{t}(1), {at[0]}, {m['lda']}, {at[1]}, {m['ldb']}, {t}({beta}), {at[2]}, {cols})")
        body = [call] if batch == 1 else [f"for k in range({batch}):", f"    {call}"]
        if onto_zero is None:   # (sizes that may be 1 or 0: NumPy's choice made at run time)
            body = [f"if {beta}:", f"    b{r}[:] = 0", *body]
        elif onto_zero:
            body = [f"b{r}[:] = 0", *body]
        empty, no_inner = decided(lambda: rows * cols * batch == 0), decided(lambda: inner == 0)
        if empty:
            body = ["pass"]
        elif no_inner:
            body = [f"b{r}[:] = 0"]
        elif empty is None or no_inner is None:   # (BLAS is never called with a zero size: its lda would be 0)
            body = [f"if {rows * cols * batch} == 0:", "    pass", f"elif {inner} == 0:", f"    b{r}[:] = 0",
                    "else:", *(f"    {line}" for line in body)]
        self._function("gemm", [m["a"], m["b"], r], body, False, group=group, flops=2 * batch * rows * cols * inner)

    def int_matmul(self, group):
        """Integer C = op(A) @ op(B) (BLAS has no integer gemm): row loops accumulating op(A)[i, l] * op(B)[l, :]
        into row i of C, wrapping on overflow as NumPy does: int32 products and sums in int64, which they
        cannot overflow; int64 ones in uint64, whose arithmetic wraps (Numba's signed arithmetic may not)."""
        m = self._matmul_layout(group)
        r, rows, cols, inner, batch = m["r"], m["rows"], m["cols"], m["inner"], m["batch"]
        dtype = self._node(r).type.dtype
        t = f"np.{dtype.name}"
        acc = "np.uint64" if dtype.np.itemsize == 8 else "np.int64"
        a_step, b_step = m["steps"]
        a_at = (f"k * {a_step} + " if a_step else "") + (f"l * {m['lda']} + i" if m["trans_a"] else f"i * {m['lda']} + l")
        b_at = (f"k * {b_step} + " if b_step else "") + (f"j * {m['ldb']} + l" if m["trans_b"] else f"l * {m['ldb']} + j")
        c_row = f"k * {rows * cols} + i * {cols}"
        parallel = self.parallel_loop(rows * cols * inner, heavy=False, rows=rows)
        body = [f"for k in range({batch}):",
                f"    for i in {'numba.prange' if parallel else 'range'}({rows}):",
                f"        row = {c_row}",
                f"        for j in range({cols}):",
                f"            b{r}[row + j] = 0",
                f"        for l in range({inner}):",
                f"            a = {acc}(b{m['a']}[{a_at}])",
                f"            for j in range({cols}):",
                f"                b{r}[row + j] = {t}(b{r}[row + j] + a * {acc}(b{m['b']}[{b_at}]))"]
        if acc == "np.uint64":   # the sum as uint64 too, then back to the type's bits
            body[-1] = (f"                b{r}[row + j] = {t}({acc}(b{r}[row + j]) + a * {acc}(b{m['b']}[{b_at}]))")
        self._function("int_matmul", [m["a"], m["b"], r], body if rows * cols * batch else ["pass"], parallel,
                       group=group, flops=2 * batch * rows * cols * inner)

    def softmax(self, group, log=False):
        r = group.members[0]
        node = self._node(r)
        x = self.plan.resolve(group.operands[0][0])
        shape = node.type.shape
        n = shape[-1]
        rows = num_elements(shape[:-1])
        dt = node.type.dtype
        t = f"np.{dt.name}"
        exp = f"exp_{dt.short}"
        self.mathlib.update((exp, "reassoc_add"))
        parallel = self.parallel_loop(num_elements(shape), heavy=True, rows=rows)
        # Row slices index from 0 (provably non-negative: vectorisable).
        body = [f"for row in {'numba.prange' if parallel else 'range'}({rows}):",
                f"    xs = b{x}[row * {n}:(row + 1) * {n}]",
                f"    os = b{r}[row * {n}:(row + 1) * {n}]",
                *_row_max(dt, n),
                "    if nan:",
                f"        m = {t}(np.nan)"]
        if log:
            self.mathlib.add("log_f64")
            body += [*self._row_exp_sum(dt, n),
                     f"    lse = {t}(log_f64(s))",
                     f"    for j in range({n}):",
                     "        os[j] = (xs[j] - m) - lse"]
        else:
            body += [f"    for j in range({n}):",   # (two loops: see _row_exp_sum)
                     f"        os[j] = {exp}(xs[j] - m)",
                     "    s = 0.0",
                     f"    for j in range({n}):",
                     "        s = reassoc_add(s, os[j])",
                     f"    inv = {t}(1.0 / s)",
                     f"    for j in range({n}):",
                     "        os[j] = os[j] * inv"]
        self._function("softmax", [x, r], body, parallel, separate=True, group=group, flops=5 * num_elements(shape))

    def _row_layout(self, group):
        """(output id, input buffer, rows, row length) of a row kernel over its input's trailing axes."""
        r = group.members[0]
        x = self.plan.resolve(group.operands[0][0])
        rows = num_elements(self._node(r).type.shape)
        total = num_elements(self._node(self._node(r).inputs[0]).type.shape)
        return r, x, rows, (total // rows if rows else 0)

    def logsumexp(self, group):
        """log(sum(exp(x))) per row as m + log(sum(exp(x - m))), m the row max (0 when not finite, as the
        eager op does: all -inf gives -inf, +inf gives +inf, NaN stays NaN)."""
        r, x, rows, n = self._row_layout(group)
        dt = self._node(r).type.dtype
        t = f"np.{dt.name}"
        self.mathlib.add("log_f64")
        parallel = self.parallel_loop(rows * n, heavy=True, rows=rows)
        body = [f"for row in {'numba.prange' if parallel else 'range'}({rows}):",
                f"    xs = b{x}[row * {n}:(row + 1) * {n}]",
                *_row_max(dt, n),
                f"    if nan or m == {t}(np.inf) or m == {t}(-np.inf):",
                f"        m = {t}(0.0)",
                *self._row_exp_sum(dt, n),
                f"    b{r}[row] = {t}(log_f64(s)) + m"]
        self._function("logsumexp", [x, r], body, parallel, separate=True, group=group, flops=4 * rows * n)

    def arg_reduce(self, group, largest):
        """argmax/argmin per row: the first extreme index, and the first NaN once one is seen (NumPy)."""
        r, x, rows, n = self._row_layout(group)
        better = ">" if largest else "<"
        out_t = f"np.{self._node(r).type.dtype.name}"
        parallel = self.parallel_loop(rows * n, heavy=False, rows=rows)
        body = [f"for row in {'numba.prange' if parallel else 'range'}({rows}):",
                f"    xs = b{x}[row * {n}:(row + 1) * {n}]",
                "    best = xs[0]",
                "    index = 0",
                f"    for j in range(1, {n}):",
                "        v = xs[j]",
                f"        if (v {better} best or v != v) and best == best:",
                "            best = v",
                "            index = j",
                f"    b{r}[row] = {out_t}(index)"]
        self._function("argmax" if largest else "argmin", [x, r], body, parallel, group=group, flops=rows * n)

    def concatenate(self, group):
        """concat/stack: each input's blocks copied (and promoted) into place, one pass over the output.
        Serial and inlined into the entry: a copy is memory-bound, and costs no extra compile."""
        r = group.members[0]
        node = self._node(r)
        shape, axis, dtype = node.type.shape, node.attr("axis"), node.type.dtype
        outer, inner = num_elements(shape[:axis]), num_elements(shape[axis + 1:])
        row = shape[axis] * inner  # output elements per outer index
        body, buffers, offset = [], [r], 0
        for j, (operand, _) in zip(node.inputs, group.operands):
            source = self._node(j).type
            block = (1 if node.op == "stack" else source.shape[axis]) * inner
            b = self.plan.resolve(operand)
            buffers.append(b)
            if decided(lambda: outer and block) is not False:   # (an unknown size: a loop that may run 0 times)
                value = cast(f"b{b}[o * {block} + m]", source.dtype, dtype)
                body += [f"for o in range({outer}):",
                         f"    for m in range({block}):",
                         f"        b{r}[o * {row} + {offset} + m] = {value}"]
            offset += block
        self._function("concat", buffers, body or ["pass"], False, group=group)

    def tile(self, group):
        """np.tile: each output element reads input element (i % size) along every axis. Serial, inlined."""
        r = group.members[0]
        out_shape = self._node(r).type.shape
        x = self.plan.resolve(group.operands[0][0])
        in_shape = self._node(self._node(r).inputs[0]).type.shape
        out_strides, in_strides = AffineMap.contiguous(out_shape).strides, AffineMap.contiguous(in_shape).strides
        body, indent = [], ""
        for d, size in enumerate(out_shape):
            body.append(f"{indent}for i{d} in range({size}):")
            indent += "    "
        out_index = " + ".join(f"i{d} * {out_strides[d]}" for d in range(len(out_shape))) or "0"
        in_index = " + ".join(f"(i{d} % {in_shape[d]}) * {in_strides[d]}" for d in range(len(in_shape))) or "0"
        body.append(f"{indent}b{r}[{out_index}] = b{x}[{in_index}]")
        self._function("tile", [x, r], body if decided(lambda: num_elements(out_shape) != 0) is not False else ["pass"], False, group=group)

    def _index_check(self, r, operands, indices, count, bound, lowest=0):
        """(flag scratch buffer, lines, validity expression) checking that the ``count`` values of buffer
        ``indices`` lie in [lowest, bound): kernels cannot raise, so a bad one sets the flag, the kernel skips
        its work, and the runner re-runs node ``r`` eagerly on ``operands`` to raise the op's own error."""
        flag_buffer = self._scratch(1, np.int64)
        self.checks.append((flag_buffer, r, operands))
        flag = self._arg(flag_buffer)
        lines = [f"{flag}[0] = 0",
                 f"for k in range({count}):",
                 f"    if b{indices}[k] < {lowest} or b{indices}[k] >= {bound}:",
                 f"        {flag}[0] = 1"]
        return flag_buffer, lines, f"{flag}[0] == 0"

    def shape(self, group):
        """A tensor's sizes (the ``shape`` op): constants, and the stage's size arguments for symbolic ones."""
        r = group.members[0]
        t = f"np.{self._node(r).type.dtype.name}"
        sizes = self._node(self._node(r).inputs[0]).type.shape
        body = [f"b{r}[{k}] = {t}({d})" for k, d in enumerate(sizes)] or ["pass"]
        self._function("shape", [r], body, False, group=group)

    def gather(self, group):
        """np.take along ``axis``, checking every index first: an index outside [0, dim) sets a flag and
        copies nothing, and the runner then raises the op's own error (kernels cannot raise)."""
        r = group.members[0]
        node = self._node(r)
        params, indices = (self.plan.resolve(b) for b, _ in group.operands)
        shape, axis = self._node(node.inputs[0]).type.shape, node.attr("axis")
        outer, dim, inner = num_elements(shape[:axis]), shape[axis], num_elements(shape[axis + 1:])
        n = num_elements(self._node(node.inputs[1]).type.shape)
        flag_buffer, check, valid = self._index_check(r, (params, indices), indices, n, dim)
        body = [*check,
                f"for o in range({outer} if {valid} else 0):",
                f"    for k in range({n}):",
                f"        source = (o * {dim} + np.int64(b{indices}[k])) * {inner}",
                f"        target = (o * {n} + k) * {inner}",
                f"        for m in range({inner}):",
                f"            b{r}[target + m] = b{params}[source + m]"]
        self._function("gather", [params, indices, r, flag_buffer], body, False, group=group)

    def cumulative(self, group):
        """cumsum / cumprod along ``axis`` (TF's ``exclusive`` and ``reverse``), each element cast to the result
        dtype and combined in order with the running value in that dtype: NumPy's add/multiply.accumulate, so
        the bits are NumPy's (float32 sums stay float32; ints wrap)."""
        r = group.members[0]
        node = self._node(r)
        (x,) = (self.plan.resolve(b) for b, _ in group.operands)
        shape, axis = node.type.shape, node.attr("axis")
        outer, n, inner = num_elements(shape[:axis]), shape[axis], num_elements(shape[axis + 1:])
        t = f"np.{node.type.dtype.name}"
        combine = "+" if node.op == "cumsum" else "*"
        steps = f"range({n} - 1, -1, -1)" if node.attr("reverse") else f"range({n})"
        init, excluded = scan_identity(node, t, n)
        update = [f"            b{r}[at] = {excluded}", f"            acc = {t}(acc {combine} v)"] if node.attr("exclusive") \
            else [f"            acc = {t}(acc {combine} v)", f"            b{r}[at] = acc"]
        body = [f"for o in range({outer}):",
                f"    for m in range({inner}):",
                f"        acc = {init}",
                f"        for k in {steps}:",
                f"            at = (o * {n} + k) * {inner} + m",
                f"            v = {t}(b{x}[at])",
                *update]
        self._function("cumulative", [x, r], body, False, separate=True, group=group, flops=num_elements(shape))

    def sort(self, group):
        """sort / stable argsort along ``axis``: a bottom-up merge sort of each row's positions (stable: of equal
        elements the earlier comes first), NaN after every number ascending and before them descending, as
        NumPy's ``sort`` and the eager ``argsort`` order them; sort writes the elements at the sorted positions
        (so -0.0 and 0.0 keep their input order, where NumPy's order is its algorithm's)."""
        r = group.members[0]
        node = self._node(r)
        (x,) = (self.plan.resolve(b) for b, _ in group.operands)
        shape, axis = self._node(node.inputs[0]).type.shape, node.attr("axis")
        outer, n, inner = num_elements(shape[:axis]), shape[axis], num_elements(shape[axis + 1:])
        before = merge_before(self._node(node.inputs[0]).type.dtype, node.attr("descending"))
        first, second = self._scratch(n, np.int64), self._scratch(n, np.int64)
        write = (f"b{r}[base + k * {inner}] = b{x}[base + idx[k] * {inner}]" if node.op == "sort"
                 else f"b{r}[base + k * {inner}] = np.{node.type.dtype.name}(idx[k])")
        body = [f"for o in range({outer}):",
                f"    for m in range({inner}):",
                f"        base = o * {n} * {inner} + m",
                f"        idx, tmp = {self._arg(first)}, {self._arg(second)}",
                f"        for k in range({n}):",
                "            idx[k] = k",
                "        width = 1",
                f"        while width < {n}:",
                "            lo = 0",
                f"            while lo < {n}:",
                f"                mid, hi = min(lo + width, {n}), min(lo + 2 * width, {n})",
                "                a, b, t = lo, mid, lo",
                "                while a < mid and b < hi:",
                f"                    p, q = b{x}[base + idx[b] * {inner}], b{x}[base + idx[a] * {inner}]",
                f"                    if {before}:",
                "                        tmp[t] = idx[b]",
                "                        b += 1",
                "                    else:",
                "                        tmp[t] = idx[a]",
                "                        a += 1",
                "                    t += 1",
                "                while a < mid:",
                "                    tmp[t] = idx[a]",
                "                    a += 1",
                "                    t += 1",
                "                while b < hi:",
                "                    tmp[t] = idx[b]",
                "                    b += 1",
                "                    t += 1",
                "                lo = hi",
                "            idx, tmp = tmp, idx",
                "            width *= 2",
                f"        for k in range({n}):",
                f"            {write}"]
        self._function("sort", [x, r, first, second], body, False, separate=True, group=group,
                       flops=num_elements(shape) * 8)

    def take(self, group):
        """``x[key]`` with one integer tensor in the key (see fusion.take_layout): the elements of the key's
        strided view, the indexed axis read at each index (NumPy's negatives counting from the end), written
        in the result's order. Indices are checked first, as in gather (the runner raises getitem's error)."""
        r = group.members[0]
        node = self._node(r)
        view, axis, front = take_layout(node, self.graph.nodes)
        params, indices = (self.plan.resolve(b) for b, _ in group.operands)
        n, dim = num_elements(self._node(node.inputs[1]).type.shape), view.shape[axis]
        flag_buffer, check, valid = self._index_check(r, (params, indices), indices, n, dim, lowest=-dim)
        other = [d for d in range(len(view.shape)) if d != axis]
        order = ["k"] + other if front else other[:axis] + ["k"] + other[axis:]
        body, indent = [*check, "t = 0", f"if {valid}:"], "    "
        for d in order:
            if d == "k":
                body += [f"{indent}for k in range({n}):",
                         f"{indent}    i = np.int64(b{indices}[k])",
                         f"{indent}    at = (i + {dim} if i < 0 else i) * {view.strides[axis]}"]
            else:
                body.append(f"{indent}for i{d} in range({view.shape[d]}):")
            indent += "    "
        source = " + ".join([str(view.offset), "at"] + [f"i{d} * {view.strides[d]}" for d in other])
        body += [f"{indent}b{r}[t] = b{params}[{source}]", f"{indent}t += 1"]
        self._function("take", [params, indices, r, flag_buffer], body, False, group=group)

    def scatter_add(self, group):
        """``tensor`` with ``updates`` added at rows ``tensor[indices]`` (key ``(In(1),)``; np.add.at: a repeated
        index adds every update meant for it), indices checked first as in take. The copy of ``tensor`` is skipped
        when the output buffer is the tensor's own: a loop accumulating rows updates its buffer in place
        (compiler.control_flow_stages), one row per iteration instead of the whole accumulator. A basic key (no
        index tensor) is _scatter_add_strided's."""
        r = group.members[0]
        node = self._node(r)
        if len(node.inputs) == 2:
            return self._scatter_add_strided(group, r, node)
        tensor, updates, indices = (self.plan.resolve(b) for b, _ in group.operands)
        shape = node.type.shape
        dim, inner = shape[0], num_elements(shape[1:])
        n = num_elements(self._node(node.inputs[2]).type.shape)
        flag_buffer, check, valid = self._index_check(r, (tensor, updates, indices), indices, n, dim, lowest=-dim)
        dtype = node.type.dtype
        t = f"np.{dtype.name}"
        # integers wrap as np.add.at's do: narrow ones summed in int64, int64 in uint64 (as int_matmul)
        acc = t if dtype.is_floating else "np.uint64" if dtype.np.itemsize == 8 else "np.int64"
        body = [*check,
                f"if b{r}.ctypes.data != b{tensor}.ctypes.data:",
                f"    for q in range({num_elements(shape)}):",
                f"        b{r}[q] = b{tensor}[q]",
                f"if {valid}:",
                f"    for k in range({n}):",
                f"        i = np.int64(b{indices}[k])",
                f"        at = (i + {dim} if i < 0 else i) * {inner}",
                f"        for m in range({inner}):",
                f"            b{r}[at + m] = {t}({acc}(b{r}[at + m]) + {acc}(b{updates}[k * {inner} + m]))"]
        self._function("scatter_add", [tensor, updates, indices, r, flag_buffer], body, False, group=group,
                       flops=n * inner)

    def _scatter_add_strided(self, group, r, node):
        """``tensor`` with ``updates`` added at ``tensor[key]`` for a basic key (ints, slices, None, ...: the
        gradient of strided slicing): one loop nest over the key's strided view of the output, adding the
        updates in their order (each element is selected once). Written in place when the plan lets the output
        share the tensor's buffer (fusion: a chain of scatters into one zero-filled buffer), else after a copy."""
        tensor, updates = (self.plan.resolve(b) for b, _ in group.operands)
        out = self.plan.resolve(r)
        view = strided_scatter_view(node)
        dtype = node.type.dtype
        t = f"np.{dtype.name}"
        acc = t if dtype.is_floating else "np.uint64" if dtype.np.itemsize == 8 else "np.int64"
        body = [] if out == tensor else [f"for q in range({num_elements(node.type.shape)}):",
                                         f"    b{out}[q] = b{tensor}[q]"]
        # (an unknown size is looped over even where it may be 1 or 0: a loop of one or no step is still right)
        empty = type(view.size) is int and view.size == 0
        dims = [] if empty else [d for d in range(len(view.shape)) if not _known(view.shape[d], 1)]
        parallel = bool(dims) and self.parallel_loop(view.size, False, rows=view.shape[dims[0]])
        indent = ""
        for k, d in enumerate(dims):
            loop = "numba.prange" if parallel and k == 0 else "range"
            body.append(f"{indent}for i{d} in {loop}({view.shape[d]}):")
            indent += "    "
        # the updates (of the view's shape) are read through their own index map: a view of a value costs no copy
        reads = group.operand_maps.get(1) or AffineMap.contiguous(view.shape)
        at = " + ".join([str(view.offset)] + [f"i{d} * {view.strides[d]}" for d in dims])
        source = " + ".join([str(reads.offset)] + [f"i{d} * {reads.strides[d]}" for d in dims])
        if not empty:
            body.append(f"{indent}b{out}[{at}] = {t}({acc}(b{out}[{at}]) + {acc}(b{updates}[{source}]))")
        self._function("scatter_add", [tensor, updates, out], body, parallel, group=group, flops=view.size)

    def sparse_xent(self, group):
        """-log_softmax(logits)[label] per row, as the log_softmax kernel computes it; labels outside
        [0, classes) set a flag (nothing is computed) and the runner raises the op's own error."""
        r = group.members[0]
        node = self._node(r)
        labels, x = (self.plan.resolve(b) for b, _ in group.operands)
        rows, n = num_elements(node.type.shape), self._node(node.inputs[1]).type.shape[-1]
        dt = node.type.dtype
        t = f"np.{dt.name}"
        self.mathlib.add("log_f64")
        flag_buffer, check, valid = self._index_check(r, (labels, x), labels, rows, n)
        body = [*check,
                f"for row in range({rows} if {valid} else 0):",
                f"    xs = b{x}[row * {n}:(row + 1) * {n}]",
                *_row_max(dt, n),
                "    if nan:",
                f"        m = {t}(np.nan)",
                *self._row_exp_sum(dt, n),
                f"    b{r}[row] = -((xs[np.int64(b{labels}[row])] - m) - {t}(log_f64(s)))"]
        self._function("xent", [labels, x, r, flag_buffer], body, False, separate=True, group=group,
                       flops=4 * rows * n)


def merge_before(dtype, descending):
    """The merge sort's test that element ``p`` goes strictly before ``q`` (NaN last ascending, first descending),
    shared by the CPU and CUDA sort kernels so that both give one order."""
    if dtype.is_floating:
        return "(q < p or (p != p and q == q))" if descending else "(p < q or (q != q and p == p))"
    return "q < p" if descending else "p < q"


def scan_identity(node, t, n):
    """(the running value's start, the value an exclusive scan writes at ``k``) of cumsum / cumprod ``node`` in
    result type ``t``. A float sum starts at -0.0, the one zero that adds exactly (-0.0 + x is x; 0.0 + -0.0 is
    0.0), so a line's first sum is its first element's bits, as NumPy's add.accumulate copies it; an exclusive
    scan's first value is still TF's identity, +0.0."""
    if node.op == "cumprod" or not node.type.dtype.is_floating:
        identity = f"{t}({0 if node.op == 'cumsum' else 1})"
        return identity, "acc"
    first = f"{n} - 1" if node.attr("reverse") else "0"
    return f"{t}(-0.0)", f"(acc if k != {first} else {t}(0.0))"


def _row_max(dtype, n):
    """Lines computing row ``xs``'s max ``m`` and whether it holds a NaN (tracked apart from the max, so
    that the max loop is a plain vectorisable reduction: row_writers.extreme_lines)."""
    return ["    " + line for line in extreme_lines(dtype, n, [], "xs[j]", largest=True)]


def _known(size, value):
    """Whether ``size`` is the int ``value`` (a symbolic size never is, whatever its run's value)."""
    return type(size) is int and size == value
