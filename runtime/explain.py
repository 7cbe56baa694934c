"""``gj.explain(f, *args)``: what a traced function compiles to, group by group, with measured times.

Each row is one compiled kernel (a fused loop, a reduction, a gemm, a softmax) or one op run eagerly
between compiled stages: the ops it covers, bytes it moves (buffers read and written), an estimate of
its arithmetic operations, and its median time over a few runs on the given arguments.
"""
import copy
import time

import numpy as np

from graphjit.compiler.interpreter import bind_sizes, eager_attrs, run_node, run_sized
from graphjit.tracer import nest
from graphjit.tracer.symbolic import evaluate, graph_symbols
from graphjit.tracer.tensor import EagerTensor, Tensor, convert_to_tensor

from .runtime import get_runtime


class Explanation:
    def __init__(self, name, rows, entries):
        self.name = name
        self.rows = rows          # dicts: kernel, kind, ops, bytes, flops, time_s, parallel
        self.entries = entries    # compiled entry functions called per run

    def __str__(self):
        lines = [f"gj.explain({self.name}): {len(self.rows)} group(s), {self.entries} compiled entr"
                 f"{'y' if self.entries == 1 else 'ies'} per call",
                 f"{'kernel':24s} {'kind':8s} {'par':3s} {'bytes':>10s} {'flops':>10s} {'time':>10s}  ops"]
        for r in self.rows:
            lines.append(f"{r['kernel']:24s} {r['kind']:8s} {'yes' if r['parallel'] else 'no':3s} "
                         f"{_si(r['bytes'], 'B'):>10s} {_si(r['flops'], ''):>10s} {r['time_s'] * 1e3:8.3f}ms  "
                         f"{' '.join(r['ops'])}")
        total = sum(r["time_s"] for r in self.rows)
        lines.append(f"{'total':24s} {'':8s} {'':3s} {_si(sum(r['bytes'] for r in self.rows), 'B'):>10s} "
                     f"{_si(sum(r['flops'] for r in self.rows), ''):>10s} {total * 1e3:8.3f}ms")
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self):
        from graphjit.tracer.display import escape, table_html
        rows = [(r["kernel"], r["kind"], "yes" if r["parallel"] else "no", _si(r["bytes"], "B"), _si(r["flops"], ""),
                 f"{r['time_s'] * 1e3:.3f}", " ".join(r["ops"])) for r in self.rows]
        total = ("total", "", "", _si(sum(r["bytes"] for r in self.rows), "B"), _si(sum(r["flops"] for r in self.rows), ""),
                 f"{sum(r['time_s'] for r in self.rows) * 1e3:.3f}", "")
        entries = f"{self.entries} compiled entr{'y' if self.entries == 1 else 'ies'} per call"
        return (f"<div><b>gj.explain</b>({escape(self.name)}): {len(self.rows)} group(s), {entries}"
                + table_html(("kernel", "kind", "parallel", "bytes", "flops", "time (ms)", "ops"), rows, total)
                + "</div>")


def _si(value, unit):
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:.1f}{prefix}{unit}"
    return f"{value:.0f}{unit}"


def _arrays(value):
    return value if isinstance(value, tuple) else (np.asarray(value),)


def _median_time(call, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times))   # (not the statistics module: importing it costs graphjit's start-up ~3 ms)


def explain(function, *args, repeats=5, **kwargs):
    """Compiles ``function`` for these arguments and times each of its fused groups."""
    concrete = function.get_concrete_function(*args, **kwargs)
    runtime = get_runtime()
    exe = runtime.compiled(concrete, "cpu")
    tensors = [convert_to_tensor(a) for a in nest.flatten((args, kwargs))
               if isinstance(a, (Tensor, np.ndarray, np.generic))]
    values = [None] * len(exe.pure.nodes)
    for i, value in exe.constants.items():
        values[i] = value
    for position, t in enumerate(tensors):
        values[exe.pure.inputs[position]] = np.ascontiguousarray(t._value if type(t) is EagerTensor else t)
    for ref, position in exe.effects.variable_inputs:
        values[exe.pure.inputs[position]] = np.array(runtime.state.read(ref))  # a copy: explain writes nothing back
    # a trace over symbolic sizes (an input_signature's None dims): this call's sizes, passed to every entry
    symbols = graph_symbols(exe.pure)
    sizes = bind_sizes(exe.pure, [values[i] for i in exe.pure.inputs[:len(tensors)]]) if symbols else {}
    extra = [sizes[n] for n in symbols]
    rows = []
    for step in exe.steps:
        if step.kind == "python":
            for i, node, op in step.nodes:
                args_ = [values[j] for j in node.inputs]
                attrs = eager_attrs(op, node)
                call = (lambda op=op, node=node, attrs=attrs, a=args_: run_sized(op, node, attrs, runtime.state, a, sizes)
                        if symbols else run_node(op, node, attrs, runtime.state, a))
                values[i] = call()   # (a tuple of arrays for control flow, read by its tuple_get nodes)
                outputs = _arrays(values[i])
                rows.append({"kernel": f"eager {node.op}", "kind": "eager", "ops": [node.op], "parallel": False,
                             "bytes": sum(a.nbytes for v in args_ for a in _arrays(v)) + sum(a.nbytes for a in outputs),
                             "flops": sum(a.size for a in outputs), "time_s": _median_time(call, repeats)})
            continue
        buffers = {}
        for node_id, owner, shape, dtype in step.args:
            if owner not in buffers:
                existing = (values[owner] if isinstance(owner, int) and values[owner] is not None
                            else step.constant_buffers.get(owner))
                buffers[owner] = (np.ascontiguousarray(existing) if existing is not None
                                  else np.empty(evaluate(shape, sizes), dtype))
            if isinstance(node_id, int) and node_id >= 0:
                values[node_id] = buffers[owner]
        owner_of = {node_id: owner for node_id, owner, _, _ in step.args}
        entry_args = [buffers[owner].reshape(evaluate(tuple(shape), sizes))
                      for (_, owner, _, _), shape in zip(step.args, step.entry_shapes)]
        from graphjit.compiler.random_numba import pointers_of
        # copies of the random streams it draws from: explain leaves the runtime's where they are
        streams = {seed: copy.deepcopy(runtime.state.rng_for(seed)) for seed in step.generators}
        generators = [pointers_of(streams[seed]) for seed in step.generators]   # (kernels take the Generators)
        entry_time = _median_time(lambda: step.entry(*entry_args, *generators, *extra), repeats)
        inline = {"kernel": f"{step.name} (inlined loops)", "kind": "loops", "ops": [], "parallel": False,
                  "bytes": 0, "flops": 0, "time_s": entry_time}
        for fname in step.kernels:
            info = exe.kernels[fname]
            flat = [buffers[owner_of[b]].reshape(-1) for b in info["buffers"]]
            if info["inline"]:  # serial loops are compiled into the entry itself: timed together, below
                inline["ops"] += info["ops"]
                inline["bytes"] += sum(a.nbytes for a in flat)
                inline["flops"] += evaluate(info["flops"], sizes)
                continue
            fn = getattr(exe.module, fname)
            row = {"kernel": fname, "kind": info["kind"], "ops": info["ops"], "parallel": info["parallel"],
                   "bytes": sum(a.nbytes for a in flat), "flops": evaluate(info["flops"], sizes),
                   "time_s": _median_time(lambda: fn(*flat, *[streams[s] for s in info["generators"]], *extra),
                                          repeats)}
            inline["time_s"] -= row["time_s"]
            rows.append(row)
        if inline["ops"]:
            inline["time_s"] = max(inline["time_s"], 0.0)
            rows.append(inline)
    return Explanation(concrete.name, rows, sum(1 for s in exe.steps if s.kind == "compiled"))
