"""One policy for what an op's own code raises (tracer.op_errors): the same graphjit error class and message
whichever path ran the op (eager, the reference interpreter, the compiled backend's eager step, constant folding
and its later run), and from its rule as from its eager implementation."""
import numpy as np
import pytest

import graphjit as gj
from graphjit import errors
from graphjit.tracer.op_errors import run_eager
from graphjit.tracer.registry import OPS, Op

RAISED = [(ZeroDivisionError("integer division by zero"), errors.InvalidArgumentError),
          (MemoryError("Unable to allocate 4.00 TiB"), errors.ResourceExhaustedError),
          (errors.OutOfRangeError("index 7 is out of bounds"), errors.OutOfRangeError)]


def _op(monkeypatch, raised, in_rule=False):
    """A registered op whose eager code (or rule) raises ``raised``; the registry is restored afterwards."""
    def fail(*args, **kwargs):
        raise raised
    op = Op("test_failing_op", infer=fail if in_rule else (lambda x: x), eager=fail)
    monkeypatch.setitem(OPS, op.name, op)
    return op


def _message(error):
    return str(error).split("\n")[0]   # without the "at <file:line>" part, which differs per call site


@pytest.mark.parametrize("raised, expected", RAISED, ids=["numpy", "memory", "graphjit"])
def test_every_path_that_runs_an_op_raises_the_same_class_and_message(monkeypatch, raised, expected):
    op = _op(monkeypatch, raised)
    x = np.arange(3, dtype=np.float32)
    failures = []
    for run in (lambda: op.bind(gj.constant(x)),
                lambda: gj.function(lambda t: op.bind(t), jit_compile=False)(x),
                lambda: gj.function(lambda t: op.bind(t))(x),
                lambda: gj.function(lambda: op.bind(gj.constant(x)))()):   # folding fails, so the run raises
        with pytest.raises(expected) as info:
            run()
        failures.append(_message(info.value))
    assert failures == [f"test_failing_op: {raised}"] * 4
    assert "test_op_errors.py" in str(info.value)  # the user's line


def test_a_rule_that_fails_with_a_python_error_gives_the_op_name_and_input_types(monkeypatch):
    op = _op(monkeypatch, ZeroDivisionError("division by zero"), in_rule=True)
    with pytest.raises(errors.InvalidArgumentError, match=r"^test_failing_op\(f32\[3\]\): division by zero"):
        op.bind(gj.constant(np.zeros(3, np.float32)))


def test_a_precondition_keeps_its_message_and_a_bug_is_not_disguised(monkeypatch):
    op = _op(monkeypatch, errors.FailedPreconditionError("variable v is not initialized"))
    with pytest.raises(errors.FailedPreconditionError, match=r"^variable v is not initialized"):
        run_eager(op, None, [np.zeros(1)], {})
    op = _op(monkeypatch, KeyError("a graphjit bug"))
    with pytest.raises(KeyError):
        run_eager(op, None, [np.zeros(1)], {})
