"""The writer of ``rows`` groups (compiler.row_fusion): one kernel whose outer loop walks the rows (``prange``
above the size threshold) and runs the chain's passes over each row back to back, so that the row is read from
memory once and the later passes find it in cache (a row of 4096 float32 is 16 kB: L1).

Per row, in the members' order: the per-row values that are ready, then each reduction as one loop over the
row that recomputes the elementwise members it needs, then the per-row values that reduction made ready; last,
one loop computing and storing the full-shape values used outside. One value is stored between passes: a sum's
element value that costs a transcendental call (softmax's exp(x - max)) goes to a row tile (compiler.row_tile,
on the stack: the row stays in L1) in its own loop, is summed from there in a second loop, and later passes read
it back. Summed in the loop that computes it, LLVM vectorised the float64 accumulation of a float32 exp badly
(measured, 4096x4096 float32: that pass took 11.5 ms against 6.8 ms for the two loops), and the division pass
computed the exp again (N3 softmax rows: 19.6 ms, 11.1 ms with the tile).
Sums and means accumulate in float64 with ``reassoc_add``, the one instruction allowed to reassociate (docs/
numerics.md): LLVM splits the row's sum into vector lanes and interleaved partial sums (measured: AVX-512,
4 x 8 float64 lanes) and adds them in an order fixed at compile time. So the result does not depend on the
threads, and a row's pass is no longer one serial chain of additions. (Eight scalar accumulators written out
in the loop body were not vectorised by LLVM at all: measured, no faster than one chain.) Max and min track
NaN apart and compare floats as ordered integers, which vectorises exactly (``extreme_lines``). No fastmath flags anywhere.
"""
import numpy as np

from graphjit.tracer.dtypes import float64
from graphjit.tracer.lowering import is_transcendental
from graphjit.tracer.registry import OPS
from graphjit.tracer.shapes import num_elements

from .row_fusion import FULL, REDUCE_LEVEL, ROW, member_read, row_form, row_levels
from .scalar_numba import cast_source as cast

# A tile lives on a worker thread's stack (numba's workers have the default 8 MB): 16 kB for a 4096-float32 row.
TILE_MAX_BYTES = 64 << 10


class RowWriters:
    """Mixin of ``codegen.StageWriter``: the ``rows`` kernel kind."""

    def rows(self, group):
        shape = tuple(group.shape)
        members = list(group.members)
        first_reduction = next(m for m in members if self.plan.kinds[m] == "reduce")
        lead = len(shape) - len(self._node(first_reduction).attr("axis"))
        levels = row_levels(self.plan, members, shape, lead)
        rows, n = num_elements(shape[:lead]), num_elements(shape[lead:])
        exprs = self._expressions(group)
        inside = set(members)
        row_lines, buffers, value = [], set(), {}
        loads = {}   # (buffer, offset, row stride, column stride) -> name, for reads from outside the chain

        def read(m, j):
            """Source text of member m's input j at m's level (inside the pass loop for full-level members)."""
            source = member_read(self.plan, inside, j)
            if source[0] == "member":
                return f"v{source[1]}"
            _, buffer, amap = source
            literal = self._literal_of(buffer)
            if literal is not None:
                return literal
            at = shape if levels[m] != ROW else tuple(self._node(m).type.shape)
            offset, row_stride, column_stride = row_form(amap.broadcast_to(at), lead)
            buffer = self.plan.resolve(buffer)
            buffers.add(buffer)
            key = (buffer, offset, row_stride, column_stride)
            name = loads.get(key)
            if name is None:
                name = loads[key] = f"x{len(loads)}"
                at_row = _flat(offset, row_stride, "row")
                if column_stride == 0:   # one value per row: read once, before the passes
                    row_lines.append(f"{name} = b{buffer}[{at_row}]")
                elif column_stride == 1:   # a contiguous row: a slice, indexed from 0 (vectorisable)
                    row_lines.append(f"{name}s = b{buffer}[{at_row}:{n if at_row == '0' else f'{at_row} + {n}'}]")
                else:
                    row_lines.append(f"{name}o = {at_row}")
            _, _, _, column_stride = key
            if column_stride == 0:
                return name
            if column_stride == 1:
                return f"{name}s[j]"
            return f"b{buffer}[np.uint64({name}o + j * {column_stride})]"

        tiled = set()   # members whose values a pass stored in the row tile t<m>

        def needed_by(targets):
            """The full-level members that ``targets`` need in a pass's loop body (a tiled one is read back)."""
            needed, stack = set(), list(targets)
            while stack:
                m = stack.pop()
                if m in needed or levels.get(m) != FULL:
                    continue
                needed.add(m)
                if m not in tiled:
                    stack.extend(member_read(self.plan, inside, j)[1] for j in self._node(m).inputs
                                 if member_read(self.plan, inside, j)[0] == "member")
            return needed

        def full_lines(targets):
            """The lines computing ``needed_by(targets)`` for column ``j`` (member order)."""
            needed = needed_by(targets)
            return [f"v{m} = t{m}[j]" if m in tiled else
                    f"v{m} = {self._scalar_source(exprs[m], [read(m, j) for j in self._node(m).inputs])}"
                    for m in members if m in needed]

        def tile_for(r):
            """The member that reduction ``r``'s pass stores in a row tile, else None (see the module docstring)."""
            source = member_read(self.plan, inside, self._node(r).inputs[0])
            m = source[1] if source[0] == "member" else None
            if (m is None or levels.get(m) != FULL or self._node(r).op not in ("reduce_sum", "reduce_mean")
                    or n * self._node(m).type.dtype.np.itemsize > TILE_MAX_BYTES
                    or not any(is_transcendental(exprs[k]) for k in needed_by([m]) - tiled)):
                return None
            return m

        body = []
        done = set()

        def ready_row_values():
            for m in members:
                if levels[m] == ROW and m not in done and all(
                        member_read(self.plan, inside, j)[0] != "member" or member_read(self.plan, inside, j)[1] in done
                        for j in self._node(m).inputs):
                    body.append(f"v{m} = {self._scalar_source(exprs[m], [read(m, j) for j in self._node(m).inputs])}")
                    done.add(m)
                    if m in self.plan.materialized:
                        buffers.add(self.plan.resolve(m))
                        body.append(f"b{self.plan.resolve(m)}[row] = v{m}")

        ready_row_values()
        for r in members:
            if levels[r] != REDUCE_LEVEL:
                continue
            tile = tile_for(r)
            lines = full_lines([self._node(r).inputs[0]])
            if tile is not None:
                self.mathlib.add("row_tile")
                row_lines.append(f"t{tile} = row_tile({n}, np.{self._node(tile).type.dtype.name}(0))")
                body += [f"for j in range({n}):", *("    " + line for line in lines), f"    t{tile}[j] = v{tile}"]
                tiled.add(tile)
                lines = []
            body += self._row_pass(r, lines, f"t{tile}[j]" if tile is not None else read(r, self._node(r).inputs[0]), n)
            done.add(r)
            if r in self.plan.materialized:
                buffers.add(self.plan.resolve(r))
                body.append(f"b{self.plan.resolve(r)}[row] = v{r}")
            ready_row_values()
        stored = [m for m in members if levels[m] == FULL and m in self.plan.materialized]
        if stored:
            lines = full_lines(stored)
            for m in stored:
                out = self.plan.resolve(m)
                buffers.add(out)
                row_lines.append(f"o{m} = b{out}[row * {n}:(row + 1) * {n}]")
                lines.append(f"o{m}[j] = v{m}")
            body += [f"for j in range({n}):", *("    " + line for line in lines)]
        parallel = self.parallel_loop(rows * n, any(map(is_transcendental, exprs.values())), rows=rows)
        kernel = [f"for row in {'numba.prange' if parallel else 'range'}({rows}):",
                  *("    " + line for line in row_lines + body)]
        self._function("rows", sorted(buffers), kernel, parallel, separate=True, group=group,
                       flops=rows * n * len(members))

    def _row_pass(self, r, lines, value, n):
        """One reduction over the row: ``lines`` compute the element ``value`` for column ``j``; the result is
        ``v<r>`` in the reduction's dtype."""
        node = self._node(r)
        in_dtype = self._node(node.inputs[0]).type.dtype
        out_t = f"np.{node.type.dtype.name}"
        if node.op in ("reduce_max", "reduce_min"):
            return [*extreme_lines(in_dtype, n, lines, value, largest=node.op == "reduce_max", result="acc"),
                    f"v{r} = {out_t}(np.nan) if nan else {cast('acc', in_dtype, node.type.dtype)}"]
        self.mathlib.add("reassoc_add")
        total = OPS[node.op].lower.finalize.format(acc="acc", n=n)
        return ["acc = 0.0", f"for j in range({n}):", *("    " + line for line in lines),
                f"    acc = reassoc_add(acc, {cast(value, in_dtype, float64)})",
                f"v{r} = {cast(total, float64, node.type.dtype)}"]


def _flat(offset, stride, name):
    terms = ([str(offset)] if offset else []) + ([name if stride == 1 else f"{name} * {stride}"] if stride else [])
    return " + ".join(terms) if terms else "0"


def extreme_lines(dtype, n, lines, value, largest, result="m"):
    """Lines setting ``result`` to the max (``largest``) or min over a row of ``value`` (each column ``j``'s, after
    ``lines``), and ``nan`` to whether a NaN was seen (``result`` is then meaningless: callers put NaN there).
    Compared as integers: a float's bits, with the magnitude bits flipped where the sign is set, order as the float
    does (-0.0 just below +0.0), and an integer max is exact in any order, so LLVM vectorises it without any
    fastmath flag (a float compare-and-select chain stays scalar: measured 2x slower than memory). Where the
    result is a zero, the first zero's sign is taken (a second pass, only then), as the reduction kernel's
    compare-and-keep loop gives. An empty row gives -inf (max) or +inf (min)."""
    it, bits = ("int32", 32) if dtype.np.itemsize == 4 else ("int64", 64)
    mask = (1 << (bits - 1)) - 1
    ordered = f"np.{it}({{q}} ^ (({{q}} >> np.{it}({bits - 1})) & np.{it}({mask})))"
    start = np.array(-np.inf if largest else np.inf, dtype.np).view(it)
    start = int(start ^ ((start >> (bits - 1)) & mask))
    t = f"np.{dtype.name}"
    return [f"k = np.{it}({start})", "nan = False",
            f"for j in range({n}):", *("    " + line for line in lines),
            f"    e = {value}",
            f"    q = {t}(e).view(np.{it})",
            f"    q = {ordered.format(q='q')}",
            f"    k = q if q {'>' if largest else '<'} k else k",
            "    nan |= e != e",
            f"{result} = {ordered.format(q='k')}.view({t})",
            f"if {result} == 0 and not nan:",
            f"    for j in range({n}):", *("        " + line for line in lines),
            f"        e = {value}",
            "        if e == 0:",
            f"            {result} = e",
            "            break"]
