"""Every op case: eager vs an independent NumPy reference, and traced (interpreter) vs eager."""
import pytest

from graphjit.tracer.registry import OPS

from support import assert_same, flatten_results, run_eager, run_traced
from cases import ALL_CASES

# Ops that are tested through their own dedicated tests rather than value cases.
NOT_VALUE_OPS = {"read_variable", "assign_variable", "print", "random_uniform", "random_normal",
                 "random_truncated_normal"}


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
def test_eager_matches_numpy(case):
    results = run_eager(case)
    expected = flatten_results(case.reference(*case.args, **case.kwargs))
    assert len(results) == len(expected)
    for r, e in zip(results, expected):
        assert_same(r.numpy(), e, case.rtol, case.atol, case.check_dtype, what=case.id)


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
def test_traced_matches_eager(case):
    eager = run_eager(case)
    traced = run_traced(case)
    assert len(eager) == len(traced)
    for t, e in zip(traced, eager):
        assert_same(t.numpy(), e.numpy(), what=f"{case.id} traced")


def test_every_registered_op_has_a_complete_definition_and_a_case():
    covered = {op for case in ALL_CASES for op in case.ops} | NOT_VALUE_OPS
    missing = []
    for name, op in OPS.items():
        if not callable(op.infer) or not callable(op.eager):
            missing.append(f"{name}: rule or eager implementation missing")
        if name not in covered:
            missing.append(f"{name}: no test case")
    assert not missing, "\n".join(missing)


def test_cases_name_only_registered_ops():
    unknown = {op for case in ALL_CASES for op in case.ops} - set(OPS)
    assert not unknown

