"""The differential fuzzer in the suite: random graphs over every registered op (tests/fuzz_graphs.py),
compiled by the Numba CPU backend and compared with the reference interpreter and a float64 NumPy shadow
within per-op tolerances (tests/fuzz_check.py). Each hypothesis example is one batch of independent
programs traced as one function, so ~150 cases cost 5 compiles: ~21 s of CPU, nearly all of it Numba
compiling (Numba's time grows faster than a batch, so batches stay near 30 short programs).
``benchmarks/fuzz.py`` runs more."""
import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from graphjit.tracer.registry import OPS

import fuzz_check
import fuzz_graphs
from fuzz_graphs import EXCLUDED, HypothesisChooser, RandomChooser, batches, draw_program, fuzzed_ops

# No shrinking: each shrink step compiles a graph (a failure shrank for 5 minutes); the assertion prints
# the failing program itself, and benchmarks/fuzz.py shrinks programs by whole steps.
SLOW = dict(deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate], print_blob=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                  HealthCheck.filter_too_much])


def _report(failures):
    return "\n\n".join(f"{f.kind}: {f.message}\n{f.program.describe()}" for f in failures[:3])


def test_every_registered_op_is_fuzzed_or_excluded_with_a_reason():
    fuzzed = fuzzed_ops()
    assert not set(OPS) - fuzzed - set(EXCLUDED), "ops neither fuzzed nor in fuzz_graphs.EXCLUDED"
    assert not fuzzed & set(EXCLUDED)
    assert set(EXCLUDED) <= set(OPS), "stale entries in fuzz_graphs.EXCLUDED"
    assert all(len(why) > 20 for why in EXCLUDED.values())


def test_drawn_programs_reach_every_fuzzed_op_and_input_kind():
    seen, layouts, dtypes, empty = set(), set(), set(), False
    for seed in range(400):
        prog = draw_program(RandomChooser(seed), 30)
        seen |= {fuzz_graphs.SPECS[n.spec].op for n in prog.nodes if isinstance(n, fuzz_graphs.Step)}
        for x in prog.inputs:
            dtypes.add(x.dtype)
            empty |= x.size == 0
            layouts.add("c" if x.flags.c_contiguous else "broadcast" if 0 in x.strides else "strided")
    assert fuzzed_ops() - seen == set()
    assert layouts == {"c", "broadcast", "strided"} and empty and len(dtypes) == 5


@settings(max_examples=5, **SLOW)
@given(batches(size=(28, 32), max_ops=6))
def test_compiled_matches_interpreter_and_float64(progs):
    failures = fuzz_check.check_batch(progs)
    assert not failures, _report(failures)


@st.composite
def error_programs(draw):
    ch = HypothesisChooser(draw)
    for _ in range(20):
        prog = draw_program(ch, 6, want_error=True)
        if prog is not None:
            return prog
    return None


@settings(max_examples=3, **SLOW)
@given(error_programs())
def test_data_dependent_errors_agree(prog):
    if prog is None:   # hypothesis found no erroring draw in 20 tries; nothing to compare
        return
    failures = fuzz_check.check_batch([prog])
    assert not failures, _report(failures)


def test_the_checker_flags_one_ulp_on_an_exact_graph_and_accepts_math_library_error():
    exact = fuzz_graphs.Program()
    x = fuzz_graphs.add_input(exact, RandomChooser(0), (4,), fuzz_graphs.gj.float32,
                              np.array([1.5, -2.0, 3.25, 0.0], np.float32))
    exact.nodes.append(fuzz_graphs.Step("negative", (x,)))
    exact.types.append(exact.types[x])
    exact.outputs = [1]
    want = [np.array([-1.5, 2.0, -3.25, -0.0], np.float32)]
    assert fuzz_check.check_outputs(exact, want, want) == []
    one_ulp = [np.nextafter(want[0], np.float32(np.inf))]
    assert any("compiled vs interpreter" in m for m in fuzz_check.check_outputs(exact, one_ulp, want))
    plus_zero = [np.array([-1.5, 2.0, -3.25, 0.0], np.float32)]
    assert any("compiled vs interpreter" in m for m in fuzz_check.check_outputs(exact, plus_zero, want))

    exp = fuzz_graphs.Program(nodes=list(exact.nodes[:1]), types=list(exact.types[:1]), eager=[])
    exp.nodes.append(fuzz_graphs.Step("exp", (x,)))
    exp.types.append(exact.types[x])
    exp.outputs = [1]
    got = np.exp(exact.nodes[0].array)
    assert fuzz_check.check_outputs(exp, [np.nextafter(got, np.float32(np.inf))], [got]) == []
    far = got * np.float32(1 + 2.0 ** -16)
    assert fuzz_check.check_outputs(exp, [far], [got]) != []
