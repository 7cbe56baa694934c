"""The Numba CPU backend: optimize -> functionalize effects -> fuse -> generate one module -> run.

A graph with only compilable ops becomes one compiled stage, i.e. one Numba entry called once per
run. Ops without a compiled form (random draws, gathers, ...) run eagerly between compiled stages.
Inputs are passed as flat C-contiguous buffers; outputs and intermediates are allocated here, in
Python (allocating large arrays inside jitted code faults pages in a single thread).
"""
import logging
import sys

import numpy as np

from graphjit.tracer.errors import CompilationError, GraphjitError, InvalidArgumentError
from graphjit.tracer.registry import OPS
from graphjit.tracer.source import with_location

from . import blas
from .backend import Backend, Executable, register_backend
from .cache import load_module
from .codegen import StageWriter
from .functionalize import functionalize
from .fusion import CONSTANT, INPUT, StagePlan, classify, stages
from .interpreter import check_result
from .passes.pipeline import optimize

log = logging.getLogger("graphjit.compiler")


class PythonStep:
    def __init__(self, nodes, graph):
        self.nodes = [(i, graph.nodes[i], OPS[graph.nodes[i].op]) for i in nodes]

    def run(self, values, state):
        for i, node, op in self.nodes:
            args = [values[j] for j in node.inputs]
            try:
                with np.errstate(all="ignore"):
                    out = op.eager(state, *args, **node.attr_dict) if op.stateful else op.eager(*args, **node.attr_dict)
            except GraphjitError as err:
                raise type(err)(with_location(f"{node.op}: {err}", node.loc)) from None
            except (ValueError, IndexError, TypeError, ZeroDivisionError) as err:
                raise InvalidArgumentError(with_location(f"{node.op}: {err}", node.loc)) from None
            values[i] = check_result(node, out)


class CompiledStep:
    def __init__(self, name, args, plan, graph):
        self.name = name
        self.entry = None
        # (node id, buffer owner id, shape, dtype) for each argument; owner differs for in-place outputs
        self.args = [(b, plan.resolve(b), graph.nodes[b].type.shape, graph.nodes[b].type.dtype.np) for b in args]
        self.aliases = [(m, j) for m, j in plan.alias.items()]
        self.produced = sorted(plan.materialized)
        self.graph = graph

    def run(self, values, state):
        flat = []
        for node_id, owner, shape, dtype in self.args:
            value = values[owner]
            if value is None:
                value = values[owner] = np.empty(shape, dtype)
            elif not value.flags.c_contiguous:
                value = np.ascontiguousarray(value)
            flat.append(value.reshape(-1))
        self.entry(*flat)
        for m, j in self.aliases:
            values[m] = values[j]


class CompiledGraph(Executable):
    def __init__(self, graph):
        self.source_graph = graph
        self.optimized = optimize(graph)
        self.pure, self.effects = functionalize(self.optimized)
        nodes = self.pure.nodes
        kinds = {i: classify(n, nodes) for i, n in enumerate(nodes)}
        stage_list = stages(self.pure, kinds)
        stage_of = {i: k for k, st in enumerate(stage_list) for i in st.nodes}
        users = self.pure.users()
        outputs = set(self.pure.outputs)
        self.steps, writers = [], []
        for k, stage in enumerate(stage_list):
            if stage.python:
                self.steps.append(PythonStep(stage.nodes, self.pure))
                continue
            needed = {i for i in stage.nodes if i in outputs or any(stage_of.get(u) != k for u in users[i])}
            plan = StagePlan(self.pure, kinds, stage.nodes, needed)
            writer = StageWriter(f"stage{k}", plan, self.pure)
            args = writer.write()
            writers.append(writer)
            self.steps.append(CompiledStep(writer.name, args, plan, self.pure))
        self.constants = {i: np.ascontiguousarray(n.attr("value").value) for i, n in enumerate(nodes)
                          if kinds[i] == CONSTANT}
        self.input_ids = [i for i in self.pure.inputs]
        self.kernels = {w.name: "\n".join(w.lines) for w in writers}
        self.source = _module_source(writers)
        self.module = None
        if writers:
            self.module = _load(self.source, graph)
            for step in self.steps:
                if isinstance(step, CompiledStep):
                    step.entry = getattr(self.module, step.name)
        self.entry_count = len(writers)

    def run(self, state, arrays):
        values = [None] * len(self.pure.nodes)
        for i, value in self.constants.items():
            values[i] = value
        user_count = len(arrays)
        for position, i in enumerate(self.input_ids[:user_count]):
            values[i] = arrays[position]
        for ref, position in self.effects.variable_inputs:
            values[self.input_ids[position]] = state.read(ref)
        for step in self.steps:
            step.run(values, state)
        outputs = [values[i] for i in self.pure.outputs]
        for ref, position in self.effects.variable_outputs:
            state.write(ref, outputs[position])
        for attrs, positions in self.effects.prints:
            OPS["print"].eager(state, *(outputs[p] for p in positions), **attrs)
        return outputs[:self.effects.result_count]


def _module_source(writers):
    names = sorted(set().union(*(w.mathlib for w in writers))) if writers else []
    math_names = [n for n in names if not n.startswith("gj_")]
    blas_names = [n for n in names if n.startswith("gj_")]
    header = ["import math", "import numba", "import numpy as np"]
    if math_names:
        header.append(f"from graphjit.compiler.mathlib import {', '.join(math_names)}")
    if blas_names:
        header.append(f"from graphjit.compiler.blas import {', '.join(blas_names)}")
    body = [line for w in writers for line in w.lines]
    return "\n".join(header + ["", ""] + body) + "\n"


def _load(source, graph):
    try:
        return load_module(source, name_hint=graph.name)
    except GraphjitError:
        raise
    except Exception as err:  # noqa: BLE001 - Numba's errors are many; report them as one clear error
        first_op = next((n for n in graph.nodes if n.op not in (INPUT, CONSTANT)), None)
        where = f" (first op: {first_op.op} at {first_op.loc})" if first_op is not None and first_op.loc else ""
        raise CompilationError(f"Numba could not compile graph {graph.name}{where}: {type(err).__name__}: "
                               f"{str(err).splitlines()[0] if str(err) else ''}") from err


class CPUBackend(Backend):
    name = "cpu"

    def compile(self, graph):
        return CompiledGraph(graph)


register_backend(CPUBackend())
del sys, blas
