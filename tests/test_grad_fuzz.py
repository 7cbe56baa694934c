"""The differential fuzzer on backward graphs (tests/fuzz_grad.py): random programs' gradients taken by a tape inside
@gj.function, compiled by the CPU backend against the reference interpreter and the eager tape (condition-aware
bounds), and the tape against float64 central finite differences. ``benchmarks/fuzz.py --grad`` runs more."""
from collections import Counter

import numpy as np

from graphjit.tracer.registry import OPS

import fuzz_grad
from fuzz_check import retyped
from fuzz_graphs import Input, RandomChooser, Step


def _program(arrays, steps):
    """A program of ``arrays`` (inputs v0, v1, ...) then ``steps`` (spec, argument ids), its last step the output."""
    nodes = [Input(np.asarray(a)) for a in arrays] + [Step(spec, args) for spec, args in steps]
    return retyped(nodes, [len(nodes) - 1])


def _report(failures):
    return "\n\n".join(f"{f.kind}: {f.message}\n{f.program.describe()}" for f in failures[:3])


def test_fuzzed_gradients_agree_compiled_interpreted_eager_and_with_finite_differences():
    stats, programs = Counter(), 72   # 6 batches (compiles) of 12: ~15 s
    for batch in range(6):
        ch = RandomChooser((5, batch))
        failures = fuzz_grad.check_grad_batch([fuzz_grad.draw_grad_program(ch, 6) for _ in range(12)], stats)
        assert not failures, _report(failures)
    # every op has a rule or a NOT_DIFFERENTIABLE marker (test_autodiff_rules.py), so skips are rare: when written,
    # all 72 were checked and 70 of them against finite differences (2 had no finite gradient)
    assert stats["checked"] >= 0.9 * programs and stats["fd checked"] >= 0.8 * programs, fuzz_grad.describe_stats(stats)


def test_finite_differences_flag_a_wrong_rule_that_every_backend_shares(monkeypatch):
    sin_rule = OPS["sin"].grad
    monkeypatch.setattr(OPS["sin"], "grad", lambda g, y, x: tuple(r * 1.01 for r in sin_rule(g, y, x)))
    prog = _program([np.linspace(-1.5, 1.5, 6)], [("sin", (0,))])
    failures = fuzz_grad.check_grad_batch([prog])
    assert [f.kind for f in failures] == ["finite differences"], _report(failures)


def test_the_comparison_flags_a_compiled_gradient_beyond_the_bounds_and_accepts_one_within():
    x = np.array([0.3, -1.2, 2.5, 0.7], np.float32)
    prog = _program([x], [("exp", (0,))])
    eager = fuzz_grad.eager_gradients(prog)
    assert fuzz_grad._compare_gradients(prog, eager, eager, eager) == []
    # exp's float32 bound is 4 ULPs: one ULP is within it, 2^-12 relative is far outside
    one_ulp = [np.nextafter(eager[0], np.float32(np.inf))]
    assert fuzz_grad._compare_gradients(prog, one_ulp, eager, eager) == []
    far = [eager[0] * np.float32(1 + 2.0 ** -12)]
    problems = fuzz_grad._compare_gradients(prog, far, eager, eager)
    assert len(problems) == 1 and "compiled vs interpreter" in problems[0]


def test_a_kink_skips_finite_differences_only():
    # maximum(x, y) at x == y (two inputs, moving apart along a random direction): the rule gives the tie to x
    x = np.array([0.5, -1.25, 2.0], np.float64)
    stats = Counter()
    failures = fuzz_grad.check_grad_batch([_program([x, x.copy()], [("maximum", (0, 1))])], stats)
    assert not failures, _report(failures)
    assert stats["checked"] == 1 and stats["fd skipped: kink at maximum"] == 1 and stats["fd checked"] == 0


def test_finite_differences_hold_what_the_tape_does_not_differentiate_fixed():
    # d/dx stop_gradient(x) * x is stop_gradient(x) for the tape; differencing through stop_gradient would give 2x
    x = np.array([0.5, -1.25, 2.0], np.float64)
    stats = Counter()
    failures = fuzz_grad.check_grad_batch([_program([x], [("stop_gradient", (0,)), ("multiply", (1, 0))])], stats)
    assert not failures, _report(failures)
    assert stats["fd checked"] == 1


def test_programs_that_need_an_op_without_a_rule_are_skipped_and_counted(monkeypatch):
    monkeypatch.setattr(OPS["sin"], "grad", None)    # (no rule yet: what the tape refuses)
    stats = Counter()
    prog = _program([np.array([0.5, 1.5])], [("sin", (0,))])
    assert fuzz_grad.check_grad_batch([prog], stats) == []
    assert stats == Counter({"skipped: no rule: sin": 1})
