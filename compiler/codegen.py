"""Source generation: one compiled stage -> Python source of Numba functions (one per loop group)
and one entry function that calls them in order. Elementwise loops and reductions are written here; the
kernels of their own (gemm, row and copy kernels) in ``kernel_writers``, control flow in ``control_flow_writer``.

Every buffer is C-contiguous; a stage's entry takes it in its own shape (``float32[:, ::1]``, ``entry_shapes``)
and flattens it, and the loop functions take it flat (``float32[::1]``); a control-flow sub-entry, called from
compiled code, takes every buffer flat. Known sizes are literal constants in loop bounds and strides; a trace over
unknown sizes (an input_signature's None dims) writes them as code over trailing ``int64`` arguments (``n0``)
that every function of the stage takes. Loops use ``prange`` only above a size threshold (a parallel
region costs microseconds). Constants are typed literals (``np.float32(0.5)``), never bare floats.
"""
import numpy as np

from graphjit.tracer.dtypes import float64, int64
from graphjit.tracer.lowering import is_transcendental
from graphjit.tracer.registry import OPS
from graphjit.tracer.shapes import num_elements, same_size
from graphjit.tracer.symbolic import graph_symbols, hint, is_symbolic

from .affine import AffineMap
from .fusion import REDUCE, SCALAR
from .control_flow_writer import ControlFlowWriter
from .kernel_writers import KernelWriters
from .random_writer import RandomWriter
from .row_writers import RowWriters
from .scalar_numba import cast_source as cast
from .scalar_numba import literal, render

REDUCTION_CHUNKS = 64
# A stage that is one parallel loop of at least this many elements starts on a serial kernel run on threads
# while its prange kernel compiles (compiler.threads): below it, the threads' dispatch (~40 us) costs more
# than a compile saves on the few calls in between.
TWO_TIER_MIN_ELEMENTS = 1 << 20
# A float sum's or product's order is unspecified, so its accumulation alone may reassociate (which lets it
# vectorise); the flag is on that one instruction (mathlib), never on the fused producers (see _function).
_REASSOCIABLE = {"{acc} + {v}": "reassoc_add({acc}, {v})", "{acc} * {v}": "reassoc_mul({acc}, {v})"}


def _collapse(sizes, stride_sets, blocks):
    """Merges adjacent loop dims (within one block) wherever every access walks them contiguously."""
    sizes, stride_sets, blocks = list(sizes), [list(s) for s in stride_sets], list(blocks)
    d = len(sizes) - 2
    while d >= 0:
        if blocks[d] == blocks[d + 1] and all(same_size(s[d], s[d + 1] * sizes[d + 1]) for s in stride_sets):
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
    offset = not (type(offset) is int and offset == 0) and offset   # (a symbolic offset: never asked if 0)
    terms = [str(offset)] if offset is not False else []
    for stride, name in zip(strides, names):
        if same_size(stride, 1):
            terms.append(name)
        elif not same_size(stride, 0):
            terms.append(f"{name} * {stride}")
    if len(terms) == 1 and offset is False and terms[0] in (names if safe is None else safe):
        return terms[0]  # a loop variable counting up from 0: provably non-negative
    return f"np.uint64({' + '.join(terms)})" if terms else "0"


class StageWriter(KernelWriters, RowWriters, ControlFlowWriter, RandomWriter):
    """Emits the functions of one compiled stage."""

    def __init__(self, name, plan, graph, kernel_supported=None):
        self.name = name
        self.kernel_supported = kernel_supported   # the backend's (schedule.Capabilities): plans subgraphs
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
        self.entry_shapes = []  # per entry argument (write()'s order): the shape the entry takes it in
        self.flat_entry = False  # True: the entry takes every buffer flat (a sub-entry called from compiled code)
        # The random generators its draws use, by op seed (None: the global stream): arguments after the buffers
        self.generators = []
        self.function_generators = {}   # function name -> the op seeds it draws from
        self.constant_buffers = {}   # scratch id -> the constant array the runner passes in it (never written)
        # The graph's symbolic sizes (an input_signature's None dims): trailing int64 arguments of every function
        # of the stage, named as in the shapes' text (``n0``), so that ``str(size)`` is the code of a size.
        self.symbols = graph_symbols(graph)
        self.two_tier_entry = None   # the entry's source when its one kernel is written in two tiers

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

    def _generator_names(self, seeds):
        """The argument names of the generators of op ``seeds``, in one fixed order (the global stream first)."""
        return [self.generator(seed) for seed in entry_order(seeds)]

    @property
    def entry_generators(self):
        """The op seeds of the generators the entry takes, in its argument order (the runner passes
        ``state.rng_for(seed)`` for each)."""
        return entry_order(self.generators)

    def constant_buffer(self, value):
        """A scratch buffer that holds constant ``value`` (flat): the runner passes the array itself (large
        constants of control-flow subgraphs, which the source would hold as text)."""
        b = self._scratch(value.size, value.dtype)
        self.constant_buffers[b] = np.array(value, order="C").reshape(-1)   # (writable: the signatures want it)
        return b

    def _arg_type(self, b):
        dtype = self._node(b).type.dtype.np if b >= 0 else self.scratch[b][1]
        return "boolean" if dtype == np.bool_ else dtype.name

    def _buffer_shape(self, b):
        return tuple(self._node(b).type.shape) if b >= 0 else self.scratch[b][0]

    def _scratch(self, size, dtype):
        """A kernel-private buffer, allocated (and reused) by the runner: kernels allocate nothing."""
        b = -len(self.scratch) - 1
        self.scratch[b] = ((size,), np.dtype(dtype))
        return b

    def _two_tier(self, parallel, total):
        """Whether this loop is written in two tiers (compiler.threads): the stage's one kernel, parallel and
        large, over known sizes, as the entry of a graph (not a control-flow sub-entry)."""
        return (parallel and not self.symbols and not self.flat_entry and len(self.plan.groups) == 1
                and hint(total) >= TWO_TIER_MIN_ELEMENTS)

    def _two_tier_function(self, kind, buffers, parallel_body, chunk_body, outer, finish_body=None, group=None,
                           flops=0):
        """The prange kernel (compiled lazily, by the upgrade), its serial chunk kernel over ``[lo, hi)`` of the
        outer loop and, for a reduction, the serial ``finish``; the entry joins them (see ``write``)."""
        buffers = sorted(set(buffers))
        fname = f"{self.name}_{kind}{len(self.functions)}"
        types = [f"{self._arg_type(b)}[::1]" for b in buffers]
        params = [self._arg(b) for b in buffers]
        flags = "cache=GJ_CACHE, error_model='numpy', boundscheck=False, nogil=True, _nrt=False"
        start = len(self.lines)
        self.lines.append(f"@numba.njit(parallel=True, {flags})")
        self.lines.append(f"def {fname}({', '.join(params)}):")
        self.lines.extend("    " + line for line in parallel_body)
        self.lines.append("")
        source = "\n".join(self.lines[start:])
        self.lines.append(f"@numba.njit('void({', '.join(types + ['int64', 'int64'])})', {flags})")
        self.lines.append(f"def {fname}_chunk({', '.join(params + ['lo', 'hi'])}):")
        self.lines.extend("    " + line for line in chunk_body)
        self.lines.append("")
        if finish_body is not None:
            self.lines.append(f"@numba.njit('void({', '.join(types)})', {flags})")
            self.lines.append(f"def {fname}_finish({', '.join(params)}):")
            self.lines.extend("    " + line for line in finish_body)
            self.lines.append("")
        finish = f"{fname}_finish" if finish_body is not None else "None"
        self.two_tier_entry = (f"TwoTierEntry({fname}_chunk, {outer}, {fname}, 'void({', '.join(types)})', "
                               f"{finish})")
        self.functions.append((fname, buffers, None))
        ops = [self._node(m).op for m in group.members] if group is not None else []
        self.kernels[fname] = {"source": source, "buffers": buffers, "kind": kind, "ops": ops, "parallel": True,
                               "flops": flops, "inline": False, "two_tier": True, "generators": entry_order(())}
        self.function_generators[fname] = []

    def _function(self, kind, buffers, body, parallel, separate=False, group=None, flops=0, generators=(),
                  nogil=True):
        """A kernel: its own Numba function when it is parallel or ``separate``, else inlined into the stage
        entry. Each Numba function costs ~0.1 s to compile, and test graphs hold hundreds of small loops.
        ``generators``: the op seeds of the random generators it draws from (arguments after the buffers).
        (Reductions and row kernels are ``separate``: they once needed their own fastmath flags. Inlining the
        serial ones would now save compile time, but their vectorisation there has not been measured.)"""
        buffers = sorted(set(buffers))
        fname = f"{self.name}_{kind}{len(self.functions)}"
        inline = not parallel and not separate
        start = len(self.lines)
        seeds = generators
        generators = self._generator_names(seeds)
        self.function_generators[fname] = generators
        if not inline:
            sig = ", ".join([f"{self._arg_type(b)}[::1]" for b in buffers] + [GENERATOR_TYPE] * len(generators)
                            + ["int64"] * len(self.symbols))
            # No fastmath flags at all. No FMA contraction: fusing `-exp(x) + x` into one FMA skips the
            # product's overflow to -inf and turns NumPy's NaN into inf (found by tests/test_fusion_fuzz.py).
            # No 'reassoc' either: Numba gives it to every instruction of the function, the fused elementwise
            # producers included ((x * b) * b became x * (b * b): inf * 0 = NaN). A reduction reassociates
            # only its accumulation, by mathlib's reassoc_add/reassoc_mul, which still vectorises the sum.
            self.lines.append(f"@numba.njit('void({sig})', parallel={parallel}, cache=GJ_CACHE, error_model='numpy', "
                              f"boundscheck=False, nogil={nogil}, _nrt=False)")
            self.lines.append(f"def {fname}({', '.join([self._arg(b) for b in buffers] + generators + self.symbols)}):")
            self.lines.extend("    " + line for line in body)
            self.lines.append("")
            source = "\n".join(self.lines[start:])
        else:
            source = "\n".join(body)
        self.functions.append((fname, buffers, body if inline else None))
        ops = [self._node(m).op for m in group.members] if group is not None else []
        self.kernels[fname] = {"source": source, "buffers": buffers, "kind": kind, "ops": ops, "parallel": parallel,
                               "flops": flops, "inline": inline, "generators": entry_order(seeds)}

    def _expressions(self, group):
        """The scalar expression of each elementwise member of ``group`` (its op's ``Scalar`` rule)."""
        exprs = {}
        for m in group.members:
            if self.plan.kinds[m] == SCALAR:
                node = self._node(m)
                exprs[m] = OPS[node.op].lower.expression([self._node(j).type for j in node.inputs], node.type)
        return exprs

    def _scalar_source(self, expr, names):
        """Source text of ``expr`` over operand ``names``; the mathlib helpers it calls join the imports."""
        text, helpers = render(expr, names)
        self.mathlib |= helpers
        return text

    def _element_lines(self, members, loads, accesses, exprs, index):
        """The lines computing one element of a group (every backend's loops share them): each access's load
        (``index(k, amap)``: the index code of access k), then each of ``members``' value. Returns (lines, the
        name holding each node's value)."""
        lines = []
        value = {j: lit for j, (lit, amap) in loads.items() if amap is None}
        for k, (j, buffer, amap) in enumerate(accesses):
            lines.append(f"l{j} = {self._arg(buffer)}[{index(k, amap)}]")
            value[j] = f"l{j}"
        for m in members:
            if self.plan.kinds[m] == "copy":
                lines.append(f"v{m} = {value[m]}")
            else:
                args = [value[j] if j in value else f"v{j}" for j in self._node(m).inputs]
                lines.append(f"v{m} = {self._scalar_source(exprs[m], args)}")
            value[m] = f"v{m}"
        return lines, value

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
        exprs = self._expressions(group)
        parallel = self.parallel_loop(num_elements(shape), any(map(is_transcendental, exprs.values())))
        two_tier = self._two_tier(parallel, num_elements(shape)) and bool(sizes)
        if two_tier:   # the same body twice: prange over the outer loop, and a chunk of it over [lo, hi)
            self._elementwise_body(group, loads, accesses, outputs, store_buffer, sizes, strides, loop_vars, exprs,
                                   parallel=False, chunk=True)
            chunk_body = self._last_body
        body = self._elementwise_body(group, loads, accesses, outputs, store_buffer, sizes, strides, loop_vars,
                                      exprs, parallel=parallel, chunk=False)
        buffers = [b for _, b, _ in accesses] + list(store_buffer.values())
        flops = num_elements(shape) * sum(self.plan.kinds[m] == SCALAR for m in group.members)
        if two_tier:
            self._two_tier_function("loop", buffers, body, chunk_body, sizes[0], group=group, flops=flops)
            return
        self._function("loop", buffers, body, parallel, group=group, flops=flops)

    def _elementwise_body(self, group, loads, accesses, outputs, store_buffer, sizes, strides, loop_vars, exprs,
                          parallel, chunk):
        """The loop nest of an elementwise group; ``chunk``: its outer loop over ``range(lo, hi)`` (an index
        Numba cannot prove non-negative then: every access is cast to unsigned, see ``_index``)."""
        safe = loop_vars[1:] if chunk else loop_vars
        body, indent = [], ""
        for d, (size, var) in enumerate(zip(sizes, loop_vars)):
            loop = "numba.prange" if parallel and d == 0 else "range"
            bounds = "lo, hi" if chunk and d == 0 else str(size)
            body.append(f"{indent}for {var} in {loop}({bounds}):")
            indent += "    "
        lines, _ = self._element_lines(group.members, loads, accesses, exprs,
                                       lambda k, amap: _index(amap.offset, strides[k], loop_vars, safe))
        body.extend(indent + line for line in lines)
        out_index = _index(0, strides[-1], loop_vars, safe)
        for m in outputs:
            body.append(f"{indent}b{store_buffer[m]}[{out_index}] = v{m}")
        self._last_body = body
        return body

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
        exprs = self._expressions(group)
        parallel = self.parallel_loop(total, any(map(is_transcendental, exprs.values())))
        init = _init(lowering.init, in_dtype if lowering.acc_dtype == "out" else acc_dtype, acc_t)
        loop_vars = [f"i{d}" for d in range(len(sizes))]
        chunked = n_kept == 0 and parallel and bool(sizes)
        safe = loop_vars[1:] if chunked else loop_vars  # the chunked loop starts at c * step
        inner, value = self._element_lines(group.members[:-1], loads, accesses, exprs,
                                           lambda k, amap: _index(amap.offset, strides[k], loop_vars, safe))
        v = cast(value.get(source, f"v{source}"), in_dtype, acc_dtype)
        combine = lowering.combine
        if acc_dtype.is_floating and combine in _REASSOCIABLE:
            combine = _REASSOCIABLE[combine]
            self.mathlib.add(combine.split("(")[0])
        inner.append(f"acc = {combine.format(acc='acc', v=v)}")
        finalize = lowering.finalize.format(acc="acc", n=n_red)
        store = f"b{r}[{_index(0, strides[-1], loop_vars)}] = {cast(finalize, acc_dtype, out_dtype)}"
        body = []
        if chunked:
            chunks = REDUCTION_CHUNKS if is_symbolic(sizes[0]) else min(REDUCTION_CHUNKS, sizes[0])
            step = -(-sizes[0] // chunks)
            parts = self._scratch(chunks, acc_dtype.np)

            def partial_sums(chunk_range):
                lines = [f"parts = {self._arg(parts)}", f"for c in {chunk_range}:", f"    acc = {init}",
                         f"    for i0 in range(c * {step}, min((c + 1) * {step}, {sizes[0]})):"]
                indent = "        "
                for d in range(1, len(sizes)):
                    lines.append(f"{indent}for i{d} in range({sizes[d]}):")
                    indent += "    "
                lines.extend(indent + line for line in inner)
                lines.append("    parts[c] = acc")
                return lines
            combined = [f"parts = {self._arg(parts)}", f"acc = {init}", f"for c in range({chunks}):",
                        f"    acc = {combine.format(acc='acc', v='parts[c]')}",
                        f"b{r}[0] = {cast(finalize, acc_dtype, out_dtype)}"]
            body = partial_sums(f"numba.prange({chunks})") + combined[1:]
            if self._two_tier(parallel, total):
                buffers = [b for _, b, _ in accesses] + [r, parts]
                self._two_tier_function("reduce", buffers, body, partial_sums("range(lo, hi)"), chunks,
                                        finish_body=combined, group=group, flops=total * len(group.members))
                return
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
        self._function("reduce", buffers, body, parallel, separate=True, group=group, flops=total * len(group.members))

    def write(self):
        writers = {"elementwise": self.elementwise, "reduce": self.reduce, "matmul": self.matmul,
                   "int_matmul": self.int_matmul, "softmax": self.softmax,
                   "log_softmax": lambda g: self.softmax(g, log=True), "sparse_xent": self.sparse_xent,
                   "gather": self.gather, "take": self.take, "cumulative": self.cumulative, "sort": self.sort, "scatter_add": self.scatter_add, "shape": self.shape,
                   "tile": self.tile, "concat": self.concatenate, "stack": self.concatenate, "logsumexp": self.logsumexp,
                   "argmax": lambda g: self.arg_reduce(g, largest=True),
                   "argmin": lambda g: self.arg_reduce(g, largest=False),
                   "cond": self.control_flow, "while_loop": self.control_flow, "rows": self.rows,
                   "random_uniform": self.random_draw, "random_normal": self.random_draw,
                   "random_truncated_normal": self.random_draw, "print": self.print_kernel}
        for group in self.plan.groups:
            writers[group.kind](group)
        args = sorted({b for _, buffers, _ in self.functions for b in buffers})
        if self.two_tier_entry is not None and len(self.functions) == 1:
            self.entry_shapes = [(num_elements(self._buffer_shape(b)),) for b in args]
            self.lines.append(f"{self.name} = {self.two_tier_entry}  # one kernel in two tiers: the entry")
            self.lines.append("")
            self.mathlib.add("TwoTierEntry")
            return args
        assert self.two_tier_entry is None, "a two-tier kernel must be its stage's only function"
        # (a stage entry that draws turns its generators' pointer arrays into Generators first: not a kernel alone)
        if len(self.functions) == 1 and self.functions[0][2] is None and (self.flat_entry or not self.generators):
            self.entry_shapes = [(num_elements(self._buffer_shape(b)),) for b in args]
            self.lines.append(f"{self.name} = {self.functions[0][0]}  # one kernel: it is the entry")
            self.lines.append("")
            return args
        # The entry takes each buffer in its own shape and flattens it here (compiler.flat_view: free for a
        # C-contiguous array); a reshape per argument per call in the Python runner cost more than a small
        # step's kernels. A sub-entry (control flow's branch or body, compiler.control_flow_stages) is called
        # from compiled code on flat buffers: it takes them flat.
        self.entry_shapes = [(num_elements(self._buffer_shape(b)),) if self.flat_entry else self._buffer_shape(b)
                             for b in args]
        # Generators: a sub-entry takes them as they are; a stage entry, called from Python, takes each as its
        # pointer array (compiler.random_numba.generator_at: unboxing a Generator object costs ~7 us and leaks it)
        generators = self._generator_names(self.generators)
        generator_type = GENERATOR_TYPE if self.flat_entry else "uint64[::1]"
        sig = ", ".join([_array_type(self._arg_type(b), len(shape)) for b, shape in zip(args, self.entry_shapes)]
                        + [generator_type] * len(generators) + ["int64"] * len(self.symbols))
        params = [self._arg(b) if len(shape) == 1 else f"{self._arg(b)}nd" for b, shape in zip(args, self.entry_shapes)]
        params += generators if self.flat_entry else [f"{g}_at" for g in generators]
        self.lines.append(f"@numba.njit('void({sig})', cache=GJ_CACHE, error_model='numpy', boundscheck=False, "
                          f"nogil=True, _nrt=False)")
        self.lines.append(f"def {self.name}({', '.join(params + self.symbols)}):")
        if generators and not self.flat_entry:
            self.lines.extend(f"    {g} = generator_at({g}_at)" for g in generators)
            self.mathlib.add("generator_at")
        for b, shape in zip(args, self.entry_shapes):
            if len(shape) != 1:
                self.lines.append(f"    {self._arg(b)} = flat_view({self._arg(b)}nd)")
                self.mathlib.add("flat_view")
        for fname, buffers, inline_body in self.functions:
            if inline_body is None:
                called = [self._arg(b) for b in buffers] + self.function_generators[fname] + self.symbols
                self.lines.append(f"    {fname}({', '.join(called)})")
            else:
                self.lines.append(f"    # {fname}")
                self.lines.extend("    " + line for line in inline_body)
        if not self.functions:
            self.lines.append("    pass")
        self.lines.append("")
        return args


# Numba's type of an np.random.Generator argument (any bit generator: Numba reaches it through its ctypes view)
GENERATOR_TYPE = 'NumPyRandomGeneratorType("NumPyRandomGeneratorType")'


def entry_order(seeds):
    """Op seeds in the order entries take their generators (and the runner locks them): None first."""
    return sorted(set(seeds), key=lambda seed: (seed is not None, seed or 0))


def _array_type(dtype, rank):
    """Numba's signature text for a C-contiguous array of ``rank`` dimensions (rank 0 has no shorthand)."""
    if rank == 0:
        return f'Array({dtype}, 0, "C")'
    return f"{dtype}[{', '.join([':'] * (rank - 1) + ['::1'])}]"


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
