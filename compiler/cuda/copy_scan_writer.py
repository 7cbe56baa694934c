"""CUDA kernels for the copy and scan ops (a mixin of ``writer.CudaStageWriter``), so that graphs using them keep
their data on the GPU instead of running those nodes on the host between stages:

- concat / stack and tile: one grid-stride copy per output, each thread computing which operand element its output
  element comes from (operands cast to the result dtype, as the CPU's copies do);
- cumsum / cumprod and sort / argsort: one thread per independent line along the axis, running the CPU kernel's
  loop (compiler/kernel_writers.py) on it, so the results are the CPU's bits (see ``cumulative`` and ``sort``).

The operand conditions are the CPU backend's (``backend._kernel_supported`` asks ``compiler.cpu``): the kernels are
the same algorithms. Sizes are numbers here: a graph over symbolic sizes is specialised per size (cuda/sized.py).
"""
import numpy as np

from graphjit.tracer.shapes import num_elements

from ..affine import AffineMap
from ..kernel_writers import merge_before, scan_identity
from ..scalar_numba import cast_source as cast


class CopyScanKernels:
    """Mixin of ``CudaStageWriter``: it overrides the CPU ``StageWriter``'s methods of the same names."""

    def concatenate(self, group):
        """concat / stack: output element t lies at position p of its outer row, and the operands' spans of that
        row are consecutive, so a chain of comparisons with their ends picks the operand. A zero-size operand
        spans nothing and is not passed at all."""
        r = group.members[0]
        node = self._node(r)
        shape, axis, dtype = node.type.shape, node.attr("axis"), node.type.dtype
        inner = num_elements(shape[axis + 1:])
        row = shape[axis] * inner   # output elements per outer index
        total = num_elements(shape)
        spans, reads, start = [], [], 0
        for j, (operand, _) in zip(node.inputs, group.operands):
            source = self._node(j).type
            block = (1 if node.op == "stack" else source.shape[axis]) * inner
            if block:
                b = self.plan.resolve(operand)
                reads.append(b)
                spans.append((start + block, cast(f"{self._arg(b)}[o * {block} + p - {start}]", source.dtype, dtype)))
            start += block
        out = self._arg(r)
        body = ["pass"]
        if total:
            body = ["t = cuda.grid(1)", "step = cuda.gridsize(1)", f"while t < {total}:",
                    f"    o = t // {row}", f"    p = t - o * {row}"]
            if len(spans) == 1:
                body.append(f"    {out}[t] = {spans[0][1]}")
            else:
                for k, (end, value) in enumerate(spans):
                    test = "else:" if k == len(spans) - 1 else f"{'elif' if k else 'if'} p < {end}:"
                    body += [f"    {test}", f"        {out}[t] = {value}"]
            body.append("    t += step")
        self._kernel("concat", body, sorted(set(reads + [r])), reads, [r], self._blocks(total), group)

    def tile(self, group):
        """np.tile: output element t, split into its indices, reads the input at each index modulo that axis's size."""
        r = group.members[0]
        node = self._node(r)
        x = self.plan.resolve(group.operands[0][0])
        out_shape, in_shape = node.type.shape, self._node(node.inputs[0]).type.shape
        total = num_elements(out_shape)
        names = [f"i{d}" for d in range(len(out_shape))]
        in_strides = AffineMap.contiguous(in_shape).strides
        source = " + ".join(f"({names[d]} % {size}) * {in_strides[d]}" for d, size in enumerate(in_shape)) or "0"
        body = ["pass"]
        if total:
            body = ["t = cuda.grid(1)", "step = cuda.gridsize(1)", f"while t < {total}:",
                    *("    " + line for line in split_index("t", list(out_shape), names)),
                    f"    {self._arg(r)}[t] = {self._arg(x)}[{source}]", "    t += step"]
        buffers = sorted({x, r}) if total else [r]
        self._kernel("tile", body, buffers, [x] if total else [], [r], self._blocks(total), group)

    def _lines(self, node):
        """(outer, n, inner) of the op's input around its axis: its independent lines are the outer x inner ones."""
        shape, axis = self._node(node.inputs[0]).type.shape, node.attr("axis")
        return num_elements(shape[:axis]), shape[axis], num_elements(shape[axis + 1:])

    def _per_line(self, lines, body):
        """``body`` run by one thread per line ``line`` (grid-stride over them)."""
        return ["line = cuda.grid(1)", f"while line < {lines}:", *("    " + x for x in body),
                "    line += cuda.gridsize(1)"]

    def cumulative(self, group):
        """cumsum / cumprod along ``axis`` (TF's ``exclusive`` and ``reverse``). One thread per line, accumulating
        in the result dtype in the CPU kernel's order: a scan's rounding depends on its order, so this is the one
        that gives the CPU's (NumPy's) bits, and it is deterministic. Adjacent threads take adjacent lines, whose
        elements are adjacent in memory unless the axis is the last. A block-parallel scan (for few long lines) is
        the later optimisation: it reassociates the sums, so it would give up exact agreement for floats."""
        r = group.members[0]
        node = self._node(r)
        x = self.plan.resolve(group.operands[0][0])
        outer, n, inner = self._lines(node)
        t = f"np.{node.type.dtype.name}"
        combine = "+" if node.op == "cumsum" else "*"
        out = self._arg(r)
        steps = f"range({n} - 1, -1, -1)" if node.attr("reverse") else f"range({n})"
        init, excluded = scan_identity(node, t, n)
        update = [f"    {out}[at] = {excluded}", f"    acc = {t}(acc {combine} v)"] if node.attr("exclusive") \
            else [f"    acc = {t}(acc {combine} v)", f"    {out}[at] = acc"]
        body = ["pass"]
        if outer * n * inner:
            body = self._per_line(outer * inner, [
                f"o = line // {inner}", f"base = o * {n * inner} + (line - o * {inner})",
                f"acc = {init}", f"for k in {steps}:",
                f"    at = base + k * {inner}", f"    v = {t}({self._arg(x)}[at])", *update])
        buffers = sorted({x, r}) if outer * n * inner else [r]
        self._kernel("cumulative", body, buffers, [x] if len(buffers) > 1 else [], [r],
                     self._blocks(outer * inner), group)

    def sort(self, group):
        """sort / stable argsort along ``axis``: the CPU kernel's bottom-up merge sort of each line's positions
        (stable; NaN after every number ascending, before them descending, as NumPy and the eager argsort), one
        thread per line on its own two spans of one int64 scratch buffer, swapped between passes. Same algorithm
        and comparisons as the CPU, so the same order, ties and -0.0/0.0 included."""
        r = group.members[0]
        node = self._node(r)
        x = self.plan.resolve(group.operands[0][0])
        outer, n, inner = self._lines(node)
        lines = outer * inner
        if not lines * n:
            return self._kernel("sort", ["pass"], [r], [], [r], 1, group)
        before = merge_before(self._node(node.inputs[0]).type.dtype, node.attr("descending"))
        order = self._scratch(2 * lines * n, np.int64)
        s, xs, out = self._arg(order), self._arg(x), self._arg(r)
        at = f"base + {s}[src + {{}}] * {inner}"
        write = (f"{out}[base + k * {inner}] = {xs}[{at.format('k')}]" if node.op == "sort"
                 else f"{out}[base + k * {inner}] = np.{node.type.dtype.name}({s}[src + k])")
        body = self._per_line(lines, [
            f"o = line // {inner}", f"base = o * {n * inner} + (line - o * {inner})",
            f"src = line * {2 * n}", f"dst = src + {n}",
            f"for k in range({n}):", f"    {s}[src + k] = k",
            "width = 1", f"while width < {n}:", "    lo = 0", f"    while lo < {n}:",
            f"        mid = min(lo + width, {n})", f"        hi = min(lo + 2 * width, {n})",
            "        a = lo", "        b = mid", "        w = lo",
            "        while a < mid and b < hi:",
            f"            p = {xs}[{at.format('b')}]", f"            q = {xs}[{at.format('a')}]",
            f"            if {before}:", f"                {s}[dst + w] = {s}[src + b]", "                b += 1",
            "            else:", f"                {s}[dst + w] = {s}[src + a]", "                a += 1",
            "            w += 1",
            "        while a < mid:", f"            {s}[dst + w] = {s}[src + a]", "            a += 1", "            w += 1",
            "        while b < hi:", f"            {s}[dst + w] = {s}[src + b]", "            b += 1", "            w += 1",
            "        lo = hi",
            "    src, dst = dst, src", "    width *= 2",
            f"for k in range({n}):", f"    {write}"])
        self._kernel("sort", body, sorted({x, r, order}), [x], [r, order], self._blocks(lines), group)


def split_index(flat, sizes, names):
    """Lines that split the flat index ``flat`` into ``names`` over row-major ``sizes`` (last varies fastest)."""
    if not sizes:
        return []
    lines = [f"r = {flat}"]
    for size, name in zip(reversed(sizes[1:]), reversed(names[1:])):
        lines += [f"{name} = r % {size}", f"r = r // {size}"]
    lines.append(f"{names[0]} = r")
    return lines
