"""A second compiling backend, small enough to read in one sitting: it proves the seam of compiler.schedule.

It consumes the same Schedule as the Numba CPU backend (optimized, functionalized graph; Python and fused
stages; each fused stage's loop groups; constants; variable and print effects) and renders each fused stage
to NumPy source, one whole-array statement per node, group by group. Its Capabilities claim a different
kernel set from the CPU backend's (no gemm, so matmuls run in Python stages) to show that the capabilities
shape the schedule. Registered by tests/test_schedule.py as backend "numpy_source".
"""
import numpy as np

from graphjit.compiler.backend import Executable
from graphjit.compiler.fusion import INPUT
from graphjit.compiler.interpreter import run_node
from graphjit.compiler.schedule import Capabilities, FusedStage, ScheduledBackend
from graphjit.tracer.registry import OPS

KERNELS = {"softmax", "log_softmax", "concat", "stack", "tile", "gather"}
CAPABILITIES = Capabilities("numpy_source", lambda name, node, in_types: name in KERNELS)


def render_stage(stage, graph):
    """Python source of ``def <stage name>(state, v):`` computing the stage's nodes into dict ``v``."""
    lines = [f"def {stage.name}(state, v):"]
    done = set()

    def need(j):
        # a group member reads views and values of earlier groups; views are not group members
        if j in done or j not in stage.nodes:
            return
        for k in graph.nodes[j].inputs:
            need(k)
        args = ", ".join(f"v[{k}]" for k in graph.nodes[j].inputs)
        lines.append(f"    v[{j}] = run_node(op{j}, node{j}, attrs{j}, state, [{args}])")
        done.add(j)

    for group in stage.plan.groups:
        lines.append(f"    # {group.kind} group over {list(group.shape)}")
        for m in group.members:
            need(m)
    for j in stage.nodes:   # views only read after this stage
        need(j)
    return "\n".join(lines) + "\n"


class NumpySourceGraph(Executable):
    def __init__(self, sched, env):
        self.schedule = sched
        self.steps = [env[s.name] if isinstance(s, FusedStage) else s for s in sched.stages]
        self.locks_state = bool(sched.effects.variable_inputs or sched.effects.variable_outputs)

    def _run(self, state, arrays):
        sched = self.schedule
        pure, effects = sched.pure, sched.effects
        user = len(pure.inputs) - len(effects.variable_inputs)
        v = dict(zip(pure.inputs[:user], arrays))
        for ref, position in effects.variable_inputs:
            v[pure.inputs[position]] = state.read(ref)
        v.update(sched.constants)
        for step in self.steps:
            if callable(step):
                step(state, v)
                continue
            for i in step.nodes:
                node = pure.nodes[i]
                v[i] = run_node(OPS[node.op], node, node.attr_dict, state, [v[j] for j in node.inputs])
        outputs = [v[i] for i in pure.outputs]
        for ref, position in effects.variable_outputs:
            state.write(ref, outputs[position])
        for attrs, positions in effects.prints:
            OPS["print"].eager(state, *[outputs[p] for p in positions], **attrs)
        return outputs[:effects.result_count]


class NumpySourceBackend(ScheduledBackend):
    """The four parts a compiling backend supplies (compiler.schedule.ScheduledBackend): no cache, no allocator
    (each statement makes its own array)."""
    name = "numpy_source"
    capabilities = CAPABILITIES

    def render(self, schedule):
        return "".join(render_stage(s, schedule.pure) for s in schedule.fused)

    def load(self, source, schedule):
        env = {"run_node": run_node, "np": np}
        for i, node in enumerate(schedule.pure.nodes):
            if node.op != INPUT:
                env[f"op{i}"], env[f"node{i}"], env[f"attrs{i}"] = OPS.get(node.op), node, node.attr_dict
        exec(compile(source, f"<numpy_source {schedule.source.name}>", "exec"), env)  # noqa: S102 - generated here
        return env

    def assemble(self, schedule, source, env):
        executable = NumpySourceGraph(schedule, env or {})
        executable.source = source
        return executable
