"""Source generation: one compiled stage -> Python source of Numba functions (one per loop group)
and one entry function that calls them in order.

Every buffer is passed flat and C-contiguous (``float32[::1]``); shapes are static for a trace, so loop
bounds and strides are literal constants. Loops use ``prange`` only above a size threshold (a parallel
region costs microseconds). Constants are typed literals (``np.float32(0.5)``), never bare floats.
"""
import numpy as np

from graphjit.tracer.dtypes import float64, int64
from graphjit.tracer.lowering import cast
from graphjit.tracer.registry import OPS
from graphjit.tracer.shapes import num_elements

from .affine import AffineMap
from .fusion import REDUCE, SCALAR, take_layout

PARALLEL_MIN_ELEMENTS = 1 << 16        # cheap arithmetic: below this one thread is faster
PARALLEL_MIN_TRANSCENDENTAL = 1 << 13  # exp/sin/... loops pay off sooner
REDUCTION_CHUNKS = 64
_TRANSCENDENTAL = {"exp", "expm1", "log", "log1p", "sin", "cos", "tan", "tanh", "sigmoid", "softplus", "pow"}


def literal(value, dtype):
    v = np.asarray(value).reshape(-1)[0].item()
    if dtype.is_bool:
        return "True" if v else "False"
    if dtype.is_floating:
        text = "np.nan" if v != v else ("np.inf" if v == float("inf") else "-np.inf" if v == float("-inf") else repr(v))
        return f"np.{dtype.name}({text})"
    return f"np.{dtype.name}({int(v)})"


def _collapse(sizes, stride_sets, blocks):
    """Merges adjacent loop dims (within one block) wherever every access walks them contiguously."""
    sizes, stride_sets, blocks = list(sizes), [list(s) for s in stride_sets], list(blocks)
    d = len(sizes) - 2
    while d >= 0:
        if blocks[d] == blocks[d + 1] and all(s[d] == s[d + 1] * sizes[d + 1] for s in stride_sets):
            sizes[d] *= sizes[d + 1]
            for s in stride_sets:
                s[d] = s[d + 1]
                del s[d + 1]
            del sizes[d + 1], blocks[d + 1]
        d -= 1
    return sizes, stride_sets, blocks


def _index(offset, strides, names, safe=None):
    """The flat index of an access. Computed indices are cast to unsigned: Numba cannot prove them
    non-negative and otherwise adds a negative-index wraparound select that stops vectorisation
    (measured: 32 ms instead of 5 ms for a 16M-element reduction chunk)."""
    terms = [str(offset)] if offset else []
    for stride, name in zip(strides, names):
        if stride == 1:
            terms.append(name)
        elif stride:
            terms.append(f"{name} * {stride}")
    if len(terms) == 1 and not offset and terms[0] in (names if safe is None else safe):
        return terms[0]  # a loop variable counting up from 0: provably non-negative
    return f"np.uint64({' + '.join(terms)})" if terms else "0"


class StageWriter:
    """Emits the functions of one compiled stage."""

    def __init__(self, name, plan, graph):
        self.name = name
        self.plan = plan
        self.graph = graph
        # BLAS runs its own threads: OpenMP workers spinning after a parallel loop slowed the next gemm
        # two-fold (measured), so stages that call gemm keep their loops serial.
        self.allow_parallel = not any(g.kind == "matmul" for g in plan.groups)
        self.functions = []   # (function name, [buffer ids])
        self.scratch = {}     # negative buffer id -> (shape, NumPy dtype)
        self.checks = []      # (flag scratch id, node id, operand buffer ids): the runner raises when a flag is set
        self.kernels = {}     # function name -> {source, buffers, kind, ops, parallel, flops} (for inspection)
        self.lines = []
        self.mathlib = set()

    # -- values --
    def _node(self, j):
        return self.graph.nodes[j]

    def _literal_of(self, j):
        """A size-1 constant is inlined as a typed literal."""
        node = self._node(j)
        if node.op == "constant" and num_elements(node.type.shape) == 1:
            return literal(node.attr("value").value, node.type.dtype)
        return None

    def _access(self, j, shape):
        """(buffer id, map over ``shape``) for reading node j broadcast to ``shape``, or (literal, None)."""
        buffer, amap = self.plan.source(j)
        lit = self._literal_of(buffer)
        if lit is not None:
            return lit, None
        return self.plan.resolve(buffer), amap.broadcast_to(tuple(shape))

    # -- functions --
    def _arg(self, b):
        """Argument name of a buffer: ``b<node id>``, or ``s<k>`` for scratch buffer -k-1."""
        return f"b{b}" if b >= 0 else f"s{-b - 1}"

    def _arg_type(self, b):
        dtype = self._node(b).type.dtype.np if b >= 0 else self.scratch[b][1]
        return "boolean" if dtype == np.bool_ else dtype.name

    def _scratch(self, size, dtype):
        """A kernel-private buffer, allocated (and reused) by the runner: kernels allocate nothing."""
        b = -len(self.scratch) - 1
        self.scratch[b] = ((size,), np.dtype(dtype))
        return b

    def _function(self, kind, buffers, body, parallel, reassoc=False, group=None, flops=0):
        """A kernel: its own Numba function when it needs other flags (parallel, reassociation), else
        inlined into the stage entry. Each Numba function costs ~0.1 s to compile, and test graphs hold
        hundreds of small loops."""
        buffers = sorted(set(buffers))
        fname = f"{self.name}_{kind}{len(self.functions)}"
        inline = not parallel and not reassoc
        start = len(self.lines)
        if not inline:
            sig = ", ".join(f"{self._arg_type(b)}[::1]" for b in buffers)
            # No FMA contraction: fusing `-exp(x) + x` into one FMA skips the product's overflow to -inf
            # and turns NumPy's NaN into inf (found by tests/test_fusion_fuzz.py). Reductions may
            # reassociate (their order is unspecified anyway), which lets sums vectorise.
            flags = "fastmath={'reassoc'}, " if reassoc else ""
            self.lines.append(f"@numba.njit('void({sig})', parallel={parallel}, cache=GJ_CACHE, error_model='numpy', "
                              f"boundscheck=False, {flags}nogil=True, _nrt=False)")
            self.lines.append(f"def {fname}({', '.join(self._arg(b) for b in buffers)}):")
            self.lines.extend("    " + line for line in body)
            self.lines.append("")
            source = "\n".join(self.lines[start:])
        else:
            source = "\n".join(body)
        self.functions.append((fname, buffers, body if inline else None))
        ops = [self._node(m).op for m in group.members] if group is not None else []
        self.kernels[fname] = {"source": source, "buffers": buffers, "kind": kind, "ops": ops, "parallel": parallel,
                               "flops": flops, "inline": inline}

    def _scalar_expr(self, m, names):
        node = self._node(m)
        lowering = OPS[node.op].lower
        expr = lowering.emit(names, [self._node(j).type.dtype for j in node.inputs], node.type.dtype)
        for family in ("exp", "expm1", "log", "log1p", "sin", "cos", "tan", "tanh", "sigmoid", "softplus"):
            for suffix in ("f32", "f64"):
                if f"{family}_{suffix}(" in expr:
                    self.mathlib.add(f"{family}_{suffix}")
        return expr

    def _loads(self, group, shape):
        """What one element of ``group`` over ``shape`` reads: node id -> (buffer, map) or (literal, None)."""
        members = set(group.members)
        loads = {}
        for m in group.members:
            if self.plan.kinds[m] == "copy":
                buffer, amap = self.plan.copy_source[m]
                loads[m] = (self.plan.resolve(buffer), amap.broadcast_to(tuple(shape)))
                continue
            if self.plan.kinds[m] not in (SCALAR, REDUCE):
                continue
            for j in self._node(m).inputs:
                if j not in members and j not in loads:
                    loads[j] = self._access(j, shape)
        return loads

    def elementwise(self, group):
        shape = group.shape
        loads = self._loads(group, shape)
        outputs = [m for m in group.members if m in self.plan.materialized]
        store_buffer = {m: self.plan.resolve(m) for m in outputs}
        accesses = [(j, b, a) for j, (b, a) in loads.items() if a is not None]
        out_map = AffineMap.contiguous(shape)
        sizes, strides, _ = _collapse(shape, [a.strides for _, _, a in accesses] + [out_map.strides],
                                      [0] * len(shape))
        loop_vars = [f"i{d}" for d in range(len(sizes))]
        total = num_elements(shape)
        heavy = any(self._node(m).op in _TRANSCENDENTAL for m in group.members)
        parallel = self.allow_parallel and bool(sizes) and total >= (
            PARALLEL_MIN_TRANSCENDENTAL if heavy else PARALLEL_MIN_ELEMENTS)
        body, indent = [], ""
        for d, (size, var) in enumerate(zip(sizes, loop_vars)):
            loop = "numba.prange" if parallel and d == 0 else "range"
            body.append(f"{indent}for {var} in {loop}({size}):")
            indent += "    "
        value = {}
        for k, (j, buffer, amap) in enumerate(accesses):
            body.append(f"{indent}l{j} = b{buffer}[{_index(amap.offset, strides[k], loop_vars)}]")
            value[j] = f"l{j}"
        for j, (lit, amap) in loads.items():
            if amap is None:
                value[j] = lit
        for m in group.members:
            if self.plan.kinds[m] == "copy":
                body.append(f"{indent}v{m} = {value[m]}")
            else:
                args = [value[j] if j in value else f"v{j}" for j in self._node(m).inputs]
                body.append(f"{indent}v{m} = {self._scalar_expr(m, args)}")
            value[m] = f"v{m}"
        out_index = _index(0, strides[-1], loop_vars)
        for m in outputs:
            body.append(f"{indent}b{store_buffer[m]}[{out_index}] = v{m}")
        buffers = [b for _, b, _ in accesses] + list(store_buffer.values())
        self._function("loop", buffers, body, parallel, group=group,
                       flops=num_elements(shape) * sum(self.plan.kinds[m] == SCALAR for m in group.members))

    def reduce(self, group):
        r = group.members[-1]
        node = self._node(r)
        lowering = OPS[node.op].lower
        in_shape = group.shape
        axes = set(node.attr("axis"))
        kept = [d for d in range(len(in_shape)) if d not in axes]
        reduced = [d for d in range(len(in_shape)) if d in axes]
        perm = kept + reduced
        loads = self._loads(group, in_shape)
        accesses = [(j, b, a.transpose(perm)) for j, (b, a) in loads.items() if a is not None]
        out_strides = list(AffineMap.contiguous([in_shape[d] for d in kept]).strides) + [0] * len(reduced)
        sizes, strides, blocks = _collapse([in_shape[d] for d in perm],
                                           [a.strides for _, _, a in accesses] + [out_strides],
                                           [0] * len(kept) + [1] * len(reduced))
        n_kept = blocks.count(0)
        source = node.inputs[0]
        in_dtype = self._node(source).type.dtype
        out_dtype = node.type.dtype
        acc_dtype = out_dtype if lowering.acc_dtype == "out" or out_dtype.is_bool else _wide(out_dtype)
        acc_t = f"np.{acc_dtype.name}" if not acc_dtype.is_bool else "np.bool_"
        total = num_elements(in_shape)
        n_red = num_elements([in_shape[d] for d in reduced])
        heavy = any(self._node(m).op in _TRANSCENDENTAL for m in group.members)
        parallel = self.allow_parallel and total >= (PARALLEL_MIN_TRANSCENDENTAL if heavy else PARALLEL_MIN_ELEMENTS)
        init = _init(lowering.init, in_dtype if lowering.acc_dtype == "out" else acc_dtype, acc_t)
        loop_vars = [f"i{d}" for d in range(len(sizes))]
        value = {j: lit for j, (lit, amap) in loads.items() if amap is None}
        chunked = n_kept == 0 and parallel and bool(sizes)
        safe = loop_vars[1:] if chunked else loop_vars  # the chunked loop starts at c * step
        inner = []
        for k, (j, buffer, amap) in enumerate(accesses):
            inner.append(f"l{j} = b{buffer}[{_index(amap.offset, strides[k], loop_vars, safe)}]")
            value[j] = f"l{j}"
        for m in group.members[:-1]:
            args = [value[j] if j in value else f"v{j}" for j in self._node(m).inputs]
            inner.append(f"v{m} = {self._scalar_expr(m, args)}")
            value[m] = f"v{m}"
        v = cast(value.get(source, f"v{source}"), in_dtype, acc_dtype)
        inner.append(f"acc = {lowering.combine.format(acc='acc', v=v)}")
        finalize = lowering.finalize.format(acc="acc", n=n_red)
        store = f"b{r}[{_index(0, strides[-1], loop_vars)}] = {cast(finalize, acc_dtype, out_dtype)}"
        body = []
        if chunked:
            chunks = min(REDUCTION_CHUNKS, sizes[0])
            step = -(-sizes[0] // chunks)
            parts = self._scratch(chunks, acc_dtype.np)
            body.append(f"parts = {self._arg(parts)}")
            body.append(f"for c in numba.prange({chunks}):")
            body.append(f"    acc = {init}")
            body.append(f"    for i0 in range(c * {step}, min((c + 1) * {step}, {sizes[0]})):")
            indent = "        "
            for d in range(1, len(sizes)):
                body.append(f"{indent}for i{d} in range({sizes[d]}):")
                indent += "    "
            body.extend(indent + line for line in inner)
            body.append("    parts[c] = acc")
            body.append(f"acc = {init}")
            body.append(f"for c in range({chunks}):")
            body.append(f"    acc = {lowering.combine.format(acc='acc', v='parts[c]')}")
            body.append(f"b{r}[0] = {cast(finalize, acc_dtype, out_dtype)}")
        else:
            indent = ""
            for d in range(len(sizes)):
                if d == n_kept:
                    body.append(f"{indent}acc = {init}")
                loop = "numba.prange" if parallel and d == 0 and n_kept > 0 else "range"
                body.append(f"{indent}for {loop_vars[d]} in {loop}({sizes[d]}):")
                indent += "    "
            if n_kept == len(sizes):
                body.append(f"{indent}acc = {init}")
            body.extend(indent + line for line in inner)
            body.append("    " * n_kept + store)
        buffers = [b for _, b, _ in accesses] + [r] + ([parts] if chunked else [])
        self._function("reduce", buffers, body, parallel, reassoc=True, group=group, flops=total * len(group.members))

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
        call = (f"{fn}(101, {112 if m['trans_a'] else 111}, {112 if m['trans_b'] else 111}, {rows}, {cols}, {inner}, "
                f"{t}(1), {at[0]}, {m['lda']}, {at[1]}, {m['ldb']}, {t}(0), {at[2]}, {cols})")
        body = [call] if batch == 1 else [f"for k in range({batch}):", f"    {call}"]
        if rows * cols * batch == 0:
            body = ["pass"]
        elif inner == 0:
            body = [f"b{r}[:] = 0"]
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
        parallel = self.allow_parallel and rows > 1 and rows * cols * inner >= PARALLEL_MIN_ELEMENTS
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
        self.mathlib.add(exp)
        if log:
            self.mathlib.add("log_f64")
        parallel = self.allow_parallel and rows > 1 and num_elements(shape) >= PARALLEL_MIN_TRANSCENDENTAL
        # Row slices index from 0 (provably non-negative: vectorisable).
        body = [f"for row in {'numba.prange' if parallel else 'range'}({rows}):",
                f"    xs = b{x}[row * {n}:(row + 1) * {n}]",
                f"    os = b{r}[row * {n}:(row + 1) * {n}]",
                *_row_max(t, n),
                "    if nan:",
                f"        m = {t}(np.nan)",
                "    s = 0.0"]
        if log:
            body += [f"    for j in range({n}):",
                     f"        s += {exp}(xs[j] - m)",
                     f"    lse = {t}(log_f64(s))",
                     f"    for j in range({n}):",
                     "        os[j] = (xs[j] - m) - lse"]
        else:
            body += [f"    for j in range({n}):",
                     f"        e = {exp}(xs[j] - m)",
                     "        os[j] = e",
                     "        s += e",
                     f"    inv = {t}(1.0 / s)",
                     f"    for j in range({n}):",
                     "        os[j] = os[j] * inv"]
        self._function("softmax", [x, r], body, parallel, reassoc=True, group=group, flops=5 * num_elements(shape))

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
        t, exp = f"np.{dt.name}", f"exp_{dt.short}"
        self.mathlib.update((exp, "log_f64"))
        parallel = self.allow_parallel and rows > 1 and rows * n >= PARALLEL_MIN_TRANSCENDENTAL
        body = [f"for row in {'numba.prange' if parallel else 'range'}({rows}):",
                f"    xs = b{x}[row * {n}:(row + 1) * {n}]",
                *_row_max(t, n),
                f"    if nan or m == {t}(np.inf) or m == {t}(-np.inf):",
                f"        m = {t}(0.0)",
                "    s = 0.0",
                f"    for j in range({n}):",
                f"        s += {exp}(xs[j] - m)",
                f"    b{r}[row] = {t}(log_f64(s)) + m"]
        self._function("logsumexp", [x, r], body, parallel, reassoc=True, group=group, flops=4 * rows * n)

    def arg_reduce(self, group, largest):
        """argmax/argmin per row: the first extreme index, and the first NaN once one is seen (NumPy)."""
        r, x, rows, n = self._row_layout(group)
        better = ">" if largest else "<"
        out_t = f"np.{self._node(r).type.dtype.name}"
        parallel = self.allow_parallel and rows > 1 and rows * n >= PARALLEL_MIN_ELEMENTS
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
            if outer and block:
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
        self._function("tile", [x, r], body if num_elements(out_shape) else ["pass"], False, group=group)

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

    def sparse_xent(self, group):
        """-log_softmax(logits)[label] per row, as the log_softmax kernel computes it; labels outside
        [0, classes) set a flag (nothing is computed) and the runner raises the op's own error."""
        r = group.members[0]
        node = self._node(r)
        labels, x = (self.plan.resolve(b) for b, _ in group.operands)
        rows, n = num_elements(node.type.shape), self._node(node.inputs[1]).type.shape[-1]
        dt = node.type.dtype
        t, exp = f"np.{dt.name}", f"exp_{dt.short}"
        self.mathlib.update((exp, "log_f64"))
        flag_buffer, check, valid = self._index_check(r, (labels, x), labels, rows, n)
        body = [*check,
                f"for row in range({rows} if {valid} else 0):",
                f"    xs = b{x}[row * {n}:(row + 1) * {n}]",
                *_row_max(t, n),
                "    if nan:",
                f"        m = {t}(np.nan)",
                "    s = 0.0",
                f"    for j in range({n}):",
                f"        s += {exp}(xs[j] - m)",
                f"    b{r}[row] = -((xs[np.int64(b{labels}[row])] - m) - {t}(log_f64(s)))"]
        self._function("xent", [labels, x, r, flag_buffer], body, False, reassoc=True, group=group,
                       flops=4 * rows * n)

    def write(self):
        writers = {"elementwise": self.elementwise, "reduce": self.reduce, "matmul": self.matmul,
                   "int_matmul": self.int_matmul, "softmax": self.softmax,
                   "log_softmax": lambda g: self.softmax(g, log=True), "sparse_xent": self.sparse_xent,
                   "gather": self.gather, "take": self.take, "tile": self.tile, "concat": self.concatenate,
                   "stack": self.concatenate, "logsumexp": self.logsumexp,
                   "argmax": lambda g: self.arg_reduce(g, largest=True),
                   "argmin": lambda g: self.arg_reduce(g, largest=False)}
        for group in self.plan.groups:
            writers[group.kind](group)
        args = sorted({b for _, buffers, _ in self.functions for b in buffers})
        if len(self.functions) == 1 and self.functions[0][2] is None:
            self.lines.append(f"{self.name} = {self.functions[0][0]}  # one kernel: it is the entry")
            self.lines.append("")
            return args
        sig = ", ".join(f"{self._arg_type(b)}[::1]" for b in args)
        self.lines.append(f"@numba.njit('void({sig})', cache=GJ_CACHE, error_model='numpy', boundscheck=False, "
                          f"nogil=True, _nrt=False)")
        self.lines.append(f"def {self.name}({', '.join(self._arg(b) for b in args)}):")
        for fname, buffers, inline_body in self.functions:
            if inline_body is None:
                self.lines.append(f"    {fname}({', '.join(self._arg(b) for b in buffers)})")
            else:
                self.lines.append(f"    # {fname}")
                self.lines.extend("    " + line for line in inline_body)
        if not self.functions:
            self.lines.append("    pass")
        self.lines.append("")
        return args


def _row_max(t, n):
    """Lines computing row ``xs``'s max ``m`` and whether it holds a NaN (tracked apart from the max, so
    that the max loop is a plain vectorisable reduction)."""
    return [f"    m = {t}(-np.inf)",
            "    nan = False",
            f"    for j in range({n}):",
            "        v = xs[j]",
            "        m = v if v > m else m",
            "        nan |= v != v"]


def _wide(out_dtype):
    """Sums and products accumulate in float64 (floats) or int64 (ints): accurate and vectorisable."""
    return float64 if out_dtype.is_floating else int64


def _init(template, dtype, acc_t):
    if dtype.is_bool and template in ("{lowest}", "{highest}"):
        return "False" if template == "{lowest}" else "True"
    if template == "{lowest}":
        return f"{acc_t}(-np.inf)" if dtype.is_floating else f"{acc_t}({np.iinfo(dtype.np).min})"
    if template == "{highest}":
        return f"{acc_t}(np.inf)" if dtype.is_floating else f"{acc_t}({np.iinfo(dtype.np).max})"
    return f"{acc_t}({template})"
