"""The schedule: what a compiling backend is asked to build, as data, before any code is written.

``make_schedule(graph, capabilities)`` runs the backend-neutral half of compilation once:

    optimize (passes.pipeline) -> functionalize (effects become inputs/outputs) -> classify each node
    (input, constant, scalar, view, reduce, kernel, python) -> stages (Python stages of ops without a compiled
    form, alternating with fused stages) -> one StagePlan per fused stage (loop groups, the values they
    materialise, views as index maps, in-place outputs)

A backend supplies its ``Capabilities`` (which hand-written kernels it has, for which operands), then renders
each ``FusedStage`` (the CPU backend: compiler.codegen to Numba source), loads the result, and runs the stages
in order with the runtime's state (the CPU backend's runner: compiler.runner). Nothing here knows Numba.
"""
from dataclasses import dataclass
from typing import Callable

import numpy as np

from graphjit.tracer.subgraphs import nodes_within

from .backend import Backend
from .functionalize import Effects, functionalize
from .fusion import CONSTANT, StagePlan, classify, stages
from .passes.pipeline import optimize


@dataclass(frozen=True)
class Capabilities:
    """What one backend can compile. ``kernel_supported(kernel name, node, input types)``: whether it has the
    hand-written kernel a KERNEL op asks for (gemm, softmax rows, gather, ...) for these operands; a node it
    cannot take runs eagerly in a Python stage. Elementwise loops, reductions and views every compiling backend
    renders from the ops' backend-neutral descriptors (tracer.lowering). ``row_kernels``: whether it renders the
    ``rows`` groups of compiler.row_fusion (a row's reductions and their elementwise work in one kernel); without
    them each reduction and elementwise loop stays a group of its own."""
    name: str
    kernel_supported: Callable
    row_kernels: bool = True


@dataclass(frozen=True)
class PythonStage:
    """Nodes run eagerly, in order, by their ops' eager implementations (ops without a compiled form)."""
    nodes: tuple


@dataclass(frozen=True)
class FusedStage:
    """One compiled entry: ``plan`` holds its loop groups and buffers; ``needed`` the values used after it."""
    name: str
    nodes: tuple
    plan: StagePlan
    needed: frozenset


@dataclass(frozen=True)
class Schedule:
    source: object        # the traced Graph
    optimized: object     # after the passes (what gj.explain and the shadow mode show)
    pure: object          # functionalized: variable reads are inputs, writes and prints are outputs
    effects: Effects
    kinds: dict           # node id of ``pure`` -> kind (compiler.fusion)
    stages: tuple         # PythonStage / FusedStage, in run order
    constants: dict       # node id -> the constant's array (as stored in the graph)
    read_locations: dict  # variable id -> the user's line of its first read (for uninitialised-read errors)

    @property
    def fused(self):
        return [s for s in self.stages if isinstance(s, FusedStage)]


def make_schedule(graph, capabilities):
    optimized = optimize(graph)
    pure, effects = functionalize(optimized)
    nodes = pure.nodes
    kinds = {i: classify(n, nodes, capabilities.kernel_supported) for i, n in enumerate(nodes)}
    stage_list = stages(pure, kinds)
    stage_of = {i: k for k, st in enumerate(stage_list) for i in st.nodes}
    users = pure.users()
    outputs = set(pure.outputs)
    scheduled = []
    for k, stage in enumerate(stage_list):
        if stage.python:
            scheduled.append(PythonStage(tuple(stage.nodes)))
            continue
        needed = frozenset(i for i in stage.nodes if i in outputs or any(stage_of.get(u) != k for u in users[i]))
        scheduled.append(FusedStage(f"stage{k}", tuple(stage.nodes), StagePlan(pure, kinds, stage.nodes, needed,
                                                                          row_kernels=capabilities.row_kernels),
                                    needed))
    constants = {i: n.attr("value").value for i, n in enumerate(nodes) if kinds[i] == CONSTANT}
    reads = {}
    for node in nodes_within(optimized):   # (reads inside control flow too)
        if node.op == "read_variable":
            reads.setdefault(node.attr("var").id, node.loc)
    return Schedule(graph, optimized, pure, effects, kinds, tuple(scheduled), constants, reads)


class ScheduledBackend(Backend):
    """A backend that compiles the Schedule: it supplies the parts listed in compiler.backend's docstring."""
    reports_plan = True
    capabilities = None          # a schedule.Capabilities
    allocate = staticmethod(np.empty)

    def compile(self, graph, on_planned=None):
        schedule = make_schedule(graph, self.capabilities)
        rendered = self.render(schedule)
        if on_planned is not None:
            cached = self.is_cached(rendered)
            on_planned(cached, None if cached else self.compile_estimate(rendered))
        loaded = self.load(rendered, schedule) if schedule.fused else None
        return self.assemble(schedule, rendered, loaded)

    def symbolic_problem(self, graph):
        """Plans and renders ``graph`` (no compile): a size the passes, the fusion or the code writers needed as
        a number is the problem (SymbolicError's message)."""
        from graphjit.tracer.symbolic import SymbolicError
        try:
            self.render(make_schedule(graph, self.capabilities))
        except SymbolicError as err:
            return str(err)
        return None

    def render(self, schedule):
        """The backend's source for every fused stage of ``schedule``."""
        raise NotImplementedError

    def is_cached(self, rendered):
        """Whether ``load`` will find ``rendered`` already compiled (a cache hit) rather than compile it."""
        return False

    def compile_estimate(self, rendered):
        """Roughly how many seconds ``load`` will take to compile ``rendered`` (None: no idea). The runtime
        waits for a background compile that this says is nearly done rather than interpret once more."""
        return None

    def load(self, rendered, schedule):
        """``rendered``, compiled (or loaded from a cache) into something ``assemble`` can call."""
        raise NotImplementedError

    def assemble(self, schedule, rendered, loaded):
        """The Executable that runs the schedule's stages in order with ``loaded`` code."""
        raise NotImplementedError
