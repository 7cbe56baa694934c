"""The differential fuzzer's random programs (tests/fuzz_graphs.py) run inside control flow: as the body of a
while_loop (two iterations, the loop variables starting as zeros of the results' types) and as the taken branch
of a cond, compiled on the CPU backend and on the reference interpreter, each output compared with
``fuzz_check.check_outputs`` (the fuzzer's own per-op tolerances, against its float64 shadow too). Programs whose
ops all compile make the loop and the branch compiled sub-entries (compiler/control_flow_stages.py); the others
keep the eager step; both must agree with the interpreter."""
import numpy as np
import pytest

import graphjit as gj
from graphjit.runtime import get_runtime

from fuzz_check import build_function, check_outputs
from fuzz_graphs import RandomChooser, draw_program

SEEDS = range(24)


def _program(seed):
    return [draw_program(RandomChooser(2100 + seed), max_ops=10)]


def _zeros_of(progs):
    return [gj.zeros(prog.types[o].shape, prog.types[o].dtype) for prog in progs for o in prog.outputs]


def in_a_loop(progs):
    program = build_function(progs)

    def fn(*flat):
        return gj.while_loop(lambda k, outs: k < 2, lambda k, outs: (k + 1, program(*flat)),
                             (0, _zeros_of(progs)))[1]
    return fn


def in_a_branch(progs):
    program = build_function(progs)

    def fn(take, *flat):
        return gj.cond(take, lambda: program(*flat), lambda: _zeros_of(progs))
    return fn


def _run(fn, flat):
    """(compiled results, interpreted results, whether the control flow became a compiled kernel)."""
    saved = gj.config.backend, gj.config.compile_in_background
    function = gj.function(fn)
    try:
        gj.config.compile_in_background = False
        results = {}
        for backend in ("cpu", "interpreter"):
            gj.config.backend = backend
            results[backend] = [np.asarray(o.numpy()) for o in function(*flat)]
    finally:
        gj.config.backend, gj.config.compile_in_background = saved
    executable = get_runtime().compiled(function.get_concrete_function(*flat), "cpu")
    compiled = any(info["kind"] in ("while_loop", "cond") for info in executable.kernels.values())
    return results["cpu"], results["interpreter"], compiled


@pytest.mark.parametrize("wrap", ["loop", "branch"])
def test_fuzzed_programs_inside_control_flow_match_the_interpreter(wrap):
    problems, compiled_cases = [], 0
    for seed in SEEDS:
        progs = _program(seed)
        flat = [x for p in progs for x in p.inputs]
        if wrap == "loop":
            got, expected, compiled = _run(in_a_loop(progs), flat)
        else:
            got, expected, compiled = _run(in_a_branch(progs), [np.bool_(True)] + flat)
        compiled_cases += compiled
        position = 0
        for prog in progs:
            n = len(prog.outputs)
            problems += [f"seed {seed}: {message}\n{prog.describe()}" for message in
                         check_outputs(prog, got[position:position + n], expected[position:position + n])]
            position += n
    assert not problems, "\n".join(problems)
    # the cases exercise the compiled path, not only the eager step (programs with an op that has no compiled
    # form, such as sort, keep the eager step)
    assert compiled_cases >= len(SEEDS) // 4, compiled_cases
