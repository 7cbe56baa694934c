"""Variables: owned by the global runtime, read and written in program order inside traced functions."""
import numpy as np
import pytest

import graphjit as gj
from graphjit.errors import FailedPreconditionError, InvalidArgumentError


def test_names_are_unique():
    a = gj.Variable(1.0, name="weights_unique_test")
    b = gj.Variable(2.0, name="weights_unique_test")
    c = gj.Variable(3.0, name="weights_unique_test")
    assert (a.name, b.name, c.name) == ("weights_unique_test", "weights_unique_test_1", "weights_unique_test_2")


def test_eager_reads_and_updates():
    v = gj.Variable([1.0, 2.0], name="v")
    assert v.dtype == gj.float32 and v.shape == (2,) and v.trainable
    v.assign([3.0, 4.0])
    np.testing.assert_array_equal(v.numpy(), [3, 4])
    v.assign_add([1.0, 1.0])
    v.assign_sub(np.float32([0.5, 0.5]))
    np.testing.assert_array_equal(v.read_value().numpy(), [3.5, 4.5])
    assert isinstance(v.read_value(), gj.Tensor)


def test_dtype_argument_and_initial_value_callable():
    v = gj.Variable(lambda: gj.ones([2, 2]), dtype=gj.float64, trainable=False)
    assert v.dtype == gj.float64 and not v.trainable
    np.testing.assert_array_equal(v.numpy(), np.ones((2, 2)))


def test_variable_does_not_alias_the_initial_array():
    init = np.zeros(3, np.float32)
    v = gj.Variable(init)
    init[0] = 5
    assert v.numpy()[0] == 0
    got = v.numpy()
    got[1] = 7
    assert v.numpy()[1] == 0


def test_operators_and_numpy_functions_read_the_value():
    v = gj.Variable([1.0, 4.0])
    np.testing.assert_array_equal((v + 1).numpy(), [2, 5])
    np.testing.assert_array_equal((v * v).numpy(), [1, 16])
    np.testing.assert_allclose(np.sqrt(v).numpy(), [1, 2])
    np.testing.assert_array_equal(np.asarray(v), [1, 4])
    assert float(gj.Variable(2.5)) == 2.5


def test_assign_mismatch_is_a_clear_error():
    v = gj.Variable([1.0, 2.0], name="mismatch")
    with pytest.raises(InvalidArgumentError, match=r"variable 'mismatch'.*f32\[2\]"):
        v.assign([1.0, 2.0, 3.0])
    with pytest.raises(InvalidArgumentError, match=r"i32\[2\]"):
        v.assign(np.int32([1, 2]))
    np.testing.assert_array_equal(v.numpy(), [1, 2])


def test_updates_inside_function_are_visible_and_ordered():
    v = gj.Variable(0.0, name="counter")

    @gj.function
    def step(x):
        before = v.read_value()
        v.assign_add(x)
        after = v.read_value()
        v.assign(after * 2.0)
        return before, after

    b, a = step(gj.constant(1.0))
    assert (float(b), float(a), float(v)) == (0.0, 1.0, 2.0)
    b, a = step(gj.constant(1.0))  # the second call sees the first call's write
    assert (float(b), float(a), float(v)) == (2.0, 3.0, 6.0)
    assert step.experimental_get_tracing_count() == 1
    text = str(step.get_concrete_function(gj.constant(1.0)).graph)
    lines = [line.split("=", 1)[1].split()[0] for line in text.splitlines() if "_variable" in line]
    assert lines == ["read_variable", "assign_variable", "read_variable", "assign_variable"]


def test_unused_reads_and_writes_still_happen():
    v = gj.Variable(1.0)

    @gj.function
    def f():
        v.assign_add(10.0)
        return gj.constant(0.0)

    f()
    assert float(v) == 11.0


def test_variable_created_on_first_trace_only():
    class Counter:
        def __init__(self):
            self.v = None

        @gj.function
        def __call__(self, x):
            if self.v is None:
                self.v = gj.Variable(gj.zeros([2]))
            self.v.assign_add(x)
            return self.v.read_value()

    c = Counter()
    np.testing.assert_array_equal(c(np.float32([1, 2])).numpy(), [1, 2])
    np.testing.assert_array_equal(c(np.float32([1, 2])).numpy(), [2, 4])

    @gj.function
    def always_creates(x):
        w = gj.Variable(1.0)
        return x * w

    always_creates(gj.constant(2.0))
    with pytest.raises(FailedPreconditionError, match=r"first time a gj.function is traced") as info:
        always_creates(gj.constant([2.0, 3.0]))  # new shape -> second trace -> creation not allowed
    assert "test_variables.py" in str(info.value)


def test_initial_value_may_not_depend_on_inputs():
    @gj.function
    def f(x):
        w = gj.Variable(x * 2.0)
        return w.read_value()

    with pytest.raises(InvalidArgumentError, match="depends on the traced function's inputs"):
        f(gj.constant(1.0))


def test_variable_as_argument_is_keyed_by_identity():
    @gj.function
    def add_to(var, x):
        var.assign_add(x)
        return var.read_value()

    a, b = gj.Variable(1.0), gj.Variable(100.0)
    assert float(add_to(a, gj.constant(1.0))) == 2.0
    assert float(add_to(b, gj.constant(1.0))) == 101.0
    assert float(add_to(a, gj.constant(1.0))) == 3.0
    assert add_to.experimental_get_tracing_count() == 2


def test_repr_shows_name_and_value():
    v = gj.Variable([1.0], name="shown")
    assert "shown" in repr(v) and "1." in repr(v)
