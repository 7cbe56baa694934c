"""Errors: exported classes under graphjit.errors, messages naming the op, shapes, dtypes and user line."""
import numpy as np
import pytest

import graphjit as gj
from graphjit import errors


def test_every_error_class_is_exported_and_shares_one_base():
    names = ["InvalidArgumentError", "TracingError", "OperatorNotAllowedInGraphError", "FailedPreconditionError",
             "NotFoundError", "OutOfRangeError", "UnimplementedError", "InternalError"]
    for name in names:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.GraphjitError) and name in errors.__all__
    assert issubclass(errors.InvalidArgumentError, ValueError)  # plain `except ValueError` still works
    assert issubclass(errors.OperatorNotAllowedInGraphError, errors.TracingError)


def test_eager_broadcast_error_names_op_shapes_and_line():
    a = gj.constant(np.zeros((2, 3), np.float32))
    b = gj.constant(np.zeros((4,), np.float32))
    with pytest.raises(errors.InvalidArgumentError) as info:
        gj.add(a, b)
    message = str(info.value)
    assert "add" in message and "[2,3]" in message and "[4]" in message
    assert "test_errors.py" in message


def test_operator_broadcast_error_takes_the_general_path():
    a = gj.constant(np.zeros((2, 3), np.float32))
    with pytest.raises(errors.InvalidArgumentError, match=r"subtract.*\[2,3\].*\[2\]"):
        a - gj.constant(np.zeros(2, np.float32))


def test_traced_error_names_the_user_line():
    @gj.function
    def f(x, y):
        z = x * 2.0
        return z + y  # the offending line

    with pytest.raises(errors.InvalidArgumentError) as info:
        f(np.zeros((2, 3), np.float32), np.zeros((3, 2), np.float32))
    message = str(info.value)
    assert "add(f32[2,3], f32[3,2])" in message
    assert "test_errors.py" in message and "return z + y  # the offending line" in message


def test_dtype_error_names_the_dtypes():
    with pytest.raises(errors.InvalidArgumentError, match=r"bitwise_and.*float32"):
        gj.constant([1.0]) & gj.constant([2.0])
    with pytest.raises(errors.InvalidArgumentError, match=r"exp does not accept bool"):
        gj.exp(gj.constant([True]))


def test_unsupported_dtype_and_unconvertible_values():
    with pytest.raises(errors.InvalidArgumentError, match="float16"):
        gj.constant(np.zeros(2, np.float16))
    with pytest.raises(errors.InvalidArgumentError, match="None"):
        gj.constant(None)
    with pytest.raises(errors.InvalidArgumentError, match="str"):
        gj.convert_to_tensor("text")
    with pytest.raises(errors.InvalidArgumentError, match="dict"):
        gj.convert_to_tensor({"a": 1})


def test_errors_are_not_raw_numpy_exceptions():
    a = gj.constant(np.zeros((2, 3), np.float32))
    try:
        a * gj.constant(np.zeros((5,), np.float32))
    except errors.GraphjitError:
        pass
    else:
        raise AssertionError("expected a graphjit error")


def test_unknown_op_and_backend_are_not_found_errors():
    from graphjit.compiler.backend import get_backend
    from graphjit.tracer.registry import get_op
    with pytest.raises(errors.NotFoundError, match="no op named 'nope'"):
        get_op("nope")
    with pytest.raises(errors.NotFoundError, match="no backend named"):
        get_backend("tpu")
