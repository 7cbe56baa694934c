"""@gj.function: tracing, the signature cache, structures, methods, input_signature, printing."""
import collections

import numpy as np
import pytest

import graphjit as gj
from graphjit.errors import InvalidArgumentError, OperatorNotAllowedInGraphError

X = np.arange(6, dtype=np.float32).reshape(2, 3)


def test_decorator_with_and_without_parentheses():
    @gj.function
    def f(x):
        return x * 2.0

    @gj.function()
    def g(x):
        return x * 2.0

    np.testing.assert_array_equal(f(X).numpy(), X * 2)
    np.testing.assert_array_equal(g(X).numpy(), X * 2)
    assert isinstance(f, gj.Function) and f.__name__ == "f"


def test_same_signature_traces_once_and_new_shape_or_dtype_retraces():
    @gj.function
    def f(x):
        return x + 1

    f(X)
    f(X + 1)
    f(gj.constant(X))
    assert f.experimental_get_tracing_count() == 1
    f(np.zeros((3, 3), np.float32))
    assert f.experimental_get_tracing_count() == 2
    f(X.astype(np.float64))
    assert f.experimental_get_tracing_count() == 3
    f(np.zeros((3, 3), np.float32))
    assert f.experimental_get_tracing_count() == 3


def test_python_scalars_are_part_of_the_key_and_baked_in():
    @gj.function
    def f(x, n):
        return x * n

    np.testing.assert_array_equal(f(X, 2).numpy(), X * 2)
    np.testing.assert_array_equal(f(X, 3).numpy(), X * 3)
    f(X, 3)
    assert f.experimental_get_tracing_count() == 2
    f(X, 3.0)  # a float is a different key from an equal int
    assert f.experimental_get_tracing_count() == 3
    f(X, True)
    assert f.experimental_get_tracing_count() == 4
    graph = str(f.get_concrete_function(X, 3).graph)
    assert "constant" in graph and graph.count("input") == 0  # scalars are constants, not inputs
    assert "%0: f32[2,3]" in graph


def test_negative_zero_and_nan_scalars_get_their_own_traces():
    @gj.function
    def f(x, s):
        return x / s

    assert np.all(np.isneginf(f(np.ones(2, np.float32), -0.0).numpy()))
    assert np.all(np.isposinf(f(np.ones(2, np.float32), 0.0).numpy()))
    f(np.ones(2, np.float32), float("nan"))
    f(np.ones(2, np.float32), float("nan"))
    assert f.experimental_get_tracing_count() == 3


def test_strings_and_none_are_keys():
    @gj.function
    def f(x, mode, scale=None):
        y = x * 2.0 if mode == "double" else x
        return y if scale is None else y * scale

    np.testing.assert_array_equal(f(X, "double").numpy(), X * 2)
    np.testing.assert_array_equal(f(X, "same").numpy(), X)
    np.testing.assert_array_equal(f(X, "same", scale=4.0).numpy(), X * 4)
    assert f.experimental_get_tracing_count() == 3


def test_unhashable_argument_gives_clear_error():
    @gj.function
    def f(x, s):
        return x

    with pytest.raises(InvalidArgumentError, match=r"argument s is a set, which is unhashable"):
        f(X, {1, 2})


def test_nested_arguments_and_results():
    Pair = collections.namedtuple("Pair", "a b")

    @gj.function
    def f(inputs, pair, extra=None):
        total = inputs["x"] + inputs["ys"][0] * inputs["ys"][1]
        return {"total": total, "pair": Pair(pair.a * 2, pair.b), "none": None, "label": "done",
                "list": [total, 3]}

    out = f({"x": X, "ys": [X, gj.constant(X)]}, Pair(gj.constant(1.5), 7))
    np.testing.assert_array_equal(out["total"].numpy(), X + X * X)
    assert isinstance(out["pair"], Pair) and float(out["pair"].a) == 3.0 and out["pair"].b == 7
    assert out["none"] is None and out["label"] == "done" and out["list"][1] == 3
    np.testing.assert_array_equal(out["list"][0].numpy(), X + X * X)


def test_keyword_arguments_and_defaults_share_a_trace():
    @gj.function
    def f(x, y=2.0, *, z=1.0):
        return x * y + z

    a = f(X).numpy()
    b = f(X, 2.0).numpy()
    c = f(x=X, y=2.0, z=1.0).numpy()
    np.testing.assert_array_equal(a, X * 2 + 1)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    assert f.experimental_get_tracing_count() == 1
    with pytest.raises(InvalidArgumentError, match="f()"):
        f(X, 1.0, 2.0)


def test_varargs():
    @gj.function
    def total(*xs, scale=1.0):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out * scale

    np.testing.assert_array_equal(total(X, X, X, scale=0.5).numpy(), X * 1.5)


def test_methods_have_a_cache_per_instance():
    class Model:
        def __init__(self, scale):
            self.scale = scale

        @gj.function
        def __call__(self, x):
            return x * self.scale

    m1, m2 = Model(2.0), Model(3.0)
    np.testing.assert_array_equal(m1(X).numpy(), X * 2)
    np.testing.assert_array_equal(m2(X).numpy(), X * 3)
    m1(X)
    assert m1.__call__.experimental_get_tracing_count() == 1
    assert m2.__call__.experimental_get_tracing_count() == 1
    assert Model.__call__.experimental_get_tracing_count() == 0


def test_method_cache_does_not_keep_instances_alive():
    import gc
    import weakref

    class Model:
        @gj.function
        def run(self, x):
            return x + 1

    m = Model()
    m.run(X)
    ref = weakref.ref(m)
    del m
    gc.collect()
    assert ref() is None


def test_input_signature_fixes_the_trace_and_rejects_mismatches():
    @gj.function(input_signature=[gj.TensorSpec([2, 3], gj.float32)])
    def f(x):
        return x * 2.0

    np.testing.assert_array_equal(f(X).numpy(), X * 2)
    f(X + 1)
    assert f.experimental_get_tracing_count() == 1
    with pytest.raises(InvalidArgumentError, match=r"does not match the input_signature"):
        f(np.zeros((3, 3), np.float32))
    with pytest.raises(InvalidArgumentError, match=r"float64"):
        f(X.astype(np.float64))
    with pytest.raises(InvalidArgumentError, match=r"too many positional arguments"):
        f(X, X)


def test_input_signature_must_hold_specs():
    with pytest.raises(InvalidArgumentError, match="TensorSpec"):
        gj.function(lambda x: x, input_signature=[3])


def test_get_concrete_function_from_specs_and_tensors():
    @gj.function
    def f(x, y):
        return gj.matmul(x, y) if False else x * y + 1.0

    concrete = f.get_concrete_function(gj.TensorSpec([2, 3], gj.float32), gj.TensorSpec([3], gj.float32))
    assert isinstance(concrete, gj.ConcreteFunction)
    text = str(concrete.graph)
    assert "multiply %0 %1" in text and "f32[2,3]" in text
    assert f.experimental_get_tracing_count() == 1
    f(X, np.ones(3, np.float32))  # same signature: reuses that trace
    assert f.experimental_get_tracing_count() == 1
    np.testing.assert_array_equal(concrete(X, np.ones(3, np.float32)).numpy(), X + 1)
    with pytest.raises(InvalidArgumentError, match="traced for"):
        concrete(np.ones((3, 3), np.float32), np.ones(3, np.float32))


def test_python_side_effects_run_at_trace_time_only_and_gj_print_every_call(capsys):
    log = []

    @gj.function
    def f(x):
        log.append("traced")
        print("python print")
        gj.print("value:", x)
        return x + 1

    f(np.float32([1, 2]))
    f(np.float32([3, 4]))
    out = capsys.readouterr().out
    assert log == ["traced"]
    assert out.count("python print") == 1
    assert "value: [1. 2.]" in out and "value: [3. 4.]" in out


def test_closure_over_eager_tensor_is_a_captured_constant():
    c = gj.constant([10.0, 20.0])

    @gj.function
    def f(x):
        return x + c

    np.testing.assert_array_equal(f(np.float32([1, 2])).numpy(), [11, 22])
    assert "constant" in str(f.get_concrete_function(np.float32([1, 2])).graph)


def test_closure_over_variable_reads_current_value_each_call():
    v = gj.Variable([1.0, 2.0])

    @gj.function
    def f(x):
        return x + v

    np.testing.assert_array_equal(f(np.float32([0, 0])).numpy(), [1, 2])
    v.assign([5.0, 6.0])
    np.testing.assert_array_equal(f(np.float32([0, 0])).numpy(), [5, 6])
    assert f.experimental_get_tracing_count() == 1
    assert "read_variable" in str(f.get_concrete_function(np.float32([0, 0])).graph)


def test_symbolic_tensor_as_python_bool_names_the_line():
    @gj.function(autograph=False)   # (with AutoGraph, this if stages a gj.cond: tests/test_autograph.py)
    def f(x):
        if gj.reduce_sum(x) > 0:  # the line the error must name
            return x
        return -x

    with pytest.raises(OperatorNotAllowedInGraphError) as info:
        f(X)
    message = str(info.value)
    assert "test_function.py" in message and "if gj.reduce_sum(x) > 0" in message
    assert "gj.where" in message


def test_nested_function_calls_are_inlined():
    @gj.function
    def inner(x):
        return x * 3.0

    @gj.function
    def outer(x):
        return inner(x) + 1.0

    np.testing.assert_array_equal(outer(X).numpy(), X * 3 + 1)
    text = str(outer.get_concrete_function(X).graph)
    assert "multiply" in text and "add" in text


def test_leaked_symbolic_tensor_is_a_clear_error():
    leaked = []

    @gj.function
    def f(x):
        leaked.append(x)
        return x

    f(X)
    with pytest.raises(gj.errors.TracingError, match="finished trace"):
        leaked[0] + 1.0


def test_results_of_numpy_arrays_and_python_values():
    @gj.function
    def f(x):
        return x, np.float32(2.0), "tag", 3

    t, c, tag, n = f(X)
    assert float(c) == 2.0 and tag == "tag" and n == 3
    np.testing.assert_array_equal(t.numpy(), X)


def test_a_numpy_ufunc_can_be_traced_directly():
    traced = gj.function(np.trunc)  # its signature's defaults (dtype=None, signature=None, ...) are not passed
    x = np.array([1.5, -2.5, np.nan], np.float32)
    np.testing.assert_array_equal(traced(x).numpy(), np.trunc(x))


def test_unstated_defaults_are_not_passed_but_stated_ones_are():
    seen = []

    @gj.function
    def f(x, scale=2.0, *, offset=None):
        seen.append((scale, offset))
        return x * scale if offset is None else x * scale + offset

    x = np.ones(2, np.float32)
    np.testing.assert_array_equal(f(x).numpy(), [2, 2])
    np.testing.assert_array_equal(f(x, 3.0, offset=1.0).numpy(), [4, 4])
    assert seen == [(2.0, None), (3.0, 1.0)]


def test_a_result_too_big_for_memory_is_a_resource_error_at_the_users_line():
    a = gj.constant(np.ones((2**20, 1), np.float32))
    b = gj.constant(np.ones((1, 2**20), np.float32))
    with pytest.raises(gj.errors.ResourceExhaustedError, match=r"add: .*\(1048576, 1048576\)[\s\S]*test_function.py"):
        a + b
