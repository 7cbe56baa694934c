"""The CPU backend's random-draw kernels: ``random_uniform``, ``random_normal`` and ``random_truncated_normal``
drawn element by element, in C order, from the runtime's generator, which the entry takes as an argument
(``StageWriter.generators``: the global stream and each op seed's, ``state.rng_for(seed)`` passed by the runner).
Each element is the same draw NumPy's array fill makes, followed by the eager code's own float arithmetic in the
dtype, so compiled draws are bit for bit the eager ones and leave the generator where eager code would
(compiler.random_numba). Draw loops are serial: one generator is one sequence. ``StageWriter`` (codegen) inherits
this."""
from graphjit.tracer.shapes import num_elements

import numpy as np


class RandomWriter:
    """Mixin of ``codegen.StageWriter``: one kernel per draw node, and one per ``print`` that compiled control
    flow holds (the other effect that runs inside a loop)."""

    def generator(self, seed):
        """The argument name of the generator an op with op-level ``seed`` draws from (None: the global one)."""
        if seed not in self.generators:
            self.generators.append(seed)
        return "rng" if seed is None else f"rng{seed}"

    def random_draw(self, group):
        r = group.members[0]
        node = self._node(r)
        dtype = node.type.dtype
        t = f"np.{dtype.name}"
        rng = self.generator(node.attr("seed"))
        n = num_elements(node.type.shape)
        buffers, params = [r], []
        for buffer, _ in group.operands:   # (the bounds, or mean and stddev: scalars)
            lit = self._literal_of(buffer)
            if lit is None:
                buffers.append(self.plan.resolve(buffer))
                lit = f"b{buffers[-1]}[0]"
            params.append(lit)
        d = f"d{r}_"   # (names of its own: an inlined kernel shares the entry's namespace)
        p, q, v = f"{d}p", f"{d}q", f"{d}v"
        body = [f"{p} = {params[0]}", f"{q} = {params[1]}"]
        if node.op == "random_uniform" and dtype.is_integer:
            flag_buffer = self._scratch(1, np.int64)   # minval >= maxval: the runner raises uniform's error
            self.checks.append((flag_buffer, r, [self.plan.resolve(j) for j, _ in group.operands]))
            flag = self._arg(flag_buffer)
            buffers.append(flag_buffer)
            self.mathlib.add(f"rng_{dtype.name}")
            body += [f"{flag}[0] = 0", f"if not {p} < {q}:", f"    {flag}[0] = 1", "else:",
                     f"    for i in range({n}):", f"        b{r}[i] = rng_{dtype.name}({rng}.bit_generator, {p}, {q})"]
        elif node.op == "random_uniform":   # eager: u * (maxval - minval) + minval, kept below maxval
            body += [f"{d}plain = {p} == 0 and {q} == 1", f"{d}bounded = {p} < {q}",
                     f"{d}top = np.nextafter({q}, {p})", f"{d}width = {q} - {p}",
                     f"for i in range({n}):",
                     f"    {v} = {t}({rng}.random(dtype={t}))",
                     f"    if not {d}plain:",
                     f"        {v} = {v} * {d}width + {p}",
                     f"        if {d}bounded and {v} > {d}top:",   # (NaN stays NaN, as np.minimum keeps it)
                     f"            {v} = {d}top",
                     f"    b{r}[i] = {v}"]
        else:
            draw = f"{t}({rng}.standard_normal(dtype={t}))"
            body += [f"for i in range({n}):", f"    b{r}[i] = {draw}"]
            if node.op == "random_truncated_normal":   # eager redraws the rejects in rounds, each in index order
                body += [f"{d}again = True", f"while {d}again:", f"    {d}again = False",
                         f"    for i in range({n}):", f"        if abs(b{r}[i]) >= 2:",
                         f"            b{r}[i] = {draw}", f"            {d}again = True"]
            body += [f"if not ({p} == 0 and {q} == 1):", f"    for i in range({n}):",
                     f"        b{r}[i] = b{r}[i] * {q} + {p}"]
        self._function("random", buffers, body, False, group=group, generators=[node.attr("seed")])

    def print_kernel(self, group):
        """``gj.print`` inside compiled code: its operands' addresses handed to compiler.print_callback through
        ``numba.objmode`` (a function of its own without ``nogil``: object mode takes the GIL back)."""
        r = group.members[0]
        node = self._node(r)
        operands = [self.plan.resolve(j) for j, _ in group.operands]
        types = tuple((tuple(self._node(j).type.shape), self._node(j).type.dtype.np.str) for j in node.inputs)
        spec = f"{self.name}_print{r}"
        self.lines.append(f"{spec} = {(node.attr('template'), node.attr('sep'), node.attr('end'), node.attr('stream'), types)!r}")
        self.mathlib.add("print_values")
        addresses = "".join(f", b{j}.ctypes.data" for j in operands)
        body = [f"b{r}[0] = True", "with numba.objmode():", f"    print_values({spec}{addresses})"]
        self._function("print", operands + [r], body, False, separate=True, group=group, nogil=False)


def supported(node):
    """Whether a draw node has a compiled form that is bit for bit its eager one (see compiler.random_numba)."""
    dtype = node.type.dtype
    known = all(type(d) is int for d in node.type.shape)
    return known and (dtype.np in (np.float32, np.float64) or (node.op == "random_uniform"
                                                               and dtype.np in (np.int32, np.int64)))
