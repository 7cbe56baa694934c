"""The last-signature fast path of ``gj.function`` calls (tracer/last_signature.py): a call with the previous call's
signature skips the key and goes straight to that trace; any difference the key would see sends it down the
ordinary path, which retraces where it must. Results are checked against NumPy (float32: rtol 1e-6, exact for a
single add/multiply)."""
import functools
import logging
import math
import threading

import numpy as np
import pytest

import graphjit as gj
from graphjit.tracer import last_signature
from graphjit.runtime.runtime import get_runtime

RNG = np.random.default_rng(22)


@pytest.fixture(autouse=True)
def compiled(monkeypatch):
    monkeypatch.setattr(gj.config, "backend", "cpu")
    monkeypatch.setattr(gj.config, "compile_in_background", False)


def _floats(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


def _counting(fn):
    """A gj.function of ``fn`` and a list that grows by one per trace."""
    traces = []

    @functools.wraps(fn)   # (fn's signature: plain parameters, as the fast path needs)
    def traced(*args):
        traces.append(1)
        return fn(*args)
    return gj.function(traced), traces


def _served_by_last(function, *args):
    """Whether the function's remembered signature covers ``args`` (the check its next call makes first)."""
    last = function._last_call
    return last is not None and last[0].check(args) is not None


def test_repeated_calls_take_the_remembered_trace_and_stay_correct():
    add, traces = _counting(lambda x, y: x + y)
    pairs = [(_floats(16), _floats(16)) for _ in range(5)]
    results = [add(x, y) for x, y in pairs]
    assert len(traces) == 1
    assert add._last_call[1] is add.get_concrete_function(*pairs[0])
    assert _served_by_last(add, *pairs[0])
    for (x, y), r in zip(pairs, results):   # kept results: none overwritten by a later call's buffer
        np.testing.assert_array_equal(r.numpy(), x + y)
    arrays = [r.numpy() for r in results]
    assert not any(np.shares_memory(a, b) for i, a in enumerate(arrays) for b in arrays[i + 1:])


@pytest.mark.parametrize("other", [
    _floats(16, dtype=np.float64),            # another dtype
    _floats(17),                              # another shape
    _floats(4, 4),                            # another rank
])
def test_a_different_array_signature_misses_and_retraces(other):
    add, traces = _counting(lambda x, y: x * 2.0 + y)
    x = _floats(16)
    add(x, x)
    assert not _served_by_last(add, other, other)
    result = add(other, other)
    assert len(traces) == 2
    np.testing.assert_allclose(result.numpy(), other * other.dtype.type(2) + other, rtol=1e-6)
    assert result.numpy().dtype == other.dtype
    np.testing.assert_allclose(add(x, x).numpy(), x * np.float32(2) + x, rtol=1e-6)   # back: the first trace
    assert len(traces) == 2


@pytest.mark.parametrize("first,second", [
    (2, 3), (2, 2.0), (1, True), (True, False), (0.0, -0.0), (1.5, 2.5), ("a", "b"), (None, 0),
])
def test_a_different_python_value_misses_and_retraces(first, second):
    scale, traces = _counting(lambda x, s: x * (1.0 if s is None else (3.0 if isinstance(s, str) else s)))
    x = _floats(8)
    scale(x, first)
    assert _served_by_last(scale, x, first)
    assert not _served_by_last(scale, x, second)
    scale(x, second)
    assert len(traces) == 2
    assert scale._last_call[1] is not None and _served_by_last(scale, x, second)


def test_negative_zero_keeps_its_own_trace():
    signed = gj.function(lambda x, s: x * math.copysign(1.0, s))   # (0.0 == -0.0, yet the traces differ)
    x = _floats(4)
    for _ in range(2):
        np.testing.assert_array_equal(signed(x, 0.0).numpy(), x)
        np.testing.assert_array_equal(signed(x, 0.0).numpy(), x)
        np.testing.assert_array_equal(signed(x, -0.0).numpy(), -x)
        np.testing.assert_array_equal(signed(x, -0.0).numpy(), -x)


def test_nan_values_are_served_by_their_trace_every_time():
    add, traces = _counting(lambda x, s: x + s)
    x = _floats(4)
    for _ in range(3):
        assert np.isnan(add(x, float("nan")).numpy()).all()
    assert len(traces) == 1   # (a NaN never equals itself: the check misses, the key finds the trace)


def test_tensors_and_arrays_share_the_trace_through_the_check():
    add, traces = _counting(lambda x, y: x - y)
    x, y = _floats(3, 5), _floats(3, 5)
    tx, ty = gj.constant(x), gj.constant(y)
    np.testing.assert_array_equal(add(x, y).numpy(), x - y)
    assert _served_by_last(add, tx, ty) and _served_by_last(add, x, ty)
    np.testing.assert_array_equal(add(tx, ty).numpy(), x - y)
    np.testing.assert_array_equal(add(x, ty).numpy(), x - y)
    assert len(traces) == 1


class _Tagged(np.ndarray):
    """An ndarray subclass: served by the ordinary path (the runner takes its ndarray view)."""


def test_an_ndarray_subclass_misses_the_check_and_computes_right():
    add, traces = _counting(lambda x, y: x + y)
    x, y = _floats(6), _floats(6)
    add(x, y)
    tagged = x.view(_Tagged)
    assert not _served_by_last(add, tagged, y)
    np.testing.assert_array_equal(add(tagged, y).numpy(), x + y)
    assert len(traces) == 1   # same key: same trace, reached through the key


def test_non_contiguous_and_read_only_arrays_get_right_results():
    f = gj.function(lambda x, y: x * y + 1.0)
    big = _floats(32)
    x, y = big[:16].copy(), _floats(16)
    f(x, y)
    strided = big[::2]
    assert _served_by_last(f, strided, y)   # same signature: the runner copies it into the entry's layout
    np.testing.assert_allclose(f(strided, y).numpy(), strided * y + np.float32(1), rtol=1e-6)
    frozen = x.copy()
    frozen.flags.writeable = False
    np.testing.assert_allclose(f(frozen, y).numpy(), x * y + np.float32(1), rtol=1e-6)
    m = _floats(4, 4)
    g = gj.function(lambda a: a * 3.0)
    g(m)
    fortran = np.asfortranarray(_floats(4, 4))
    np.testing.assert_allclose(g(fortran).numpy(), fortran * np.float32(3), rtol=1e-6)


def test_a_different_variable_argument_misses_and_retraces():
    v = gj.Variable(np.ones(4, np.float32))
    w = gj.Variable(np.full(4, 2.0, np.float32))
    add, traces = _counting(lambda x, var: x + var)
    x = _floats(4)
    np.testing.assert_array_equal(add(x, v).numpy(), x + np.float32(1))
    assert _served_by_last(add, x, v) and not _served_by_last(add, x, w)
    np.testing.assert_array_equal(add(x, w).numpy(), x + np.float32(2))
    assert len(traces) == 2
    v.assign(np.full(4, 5.0, np.float32))   # a new value, same variable: the same trace reads it
    np.testing.assert_array_equal(add(x, v).numpy(), x + np.float32(5))
    assert len(traces) == 2


def test_variable_updates_through_the_fast_path_are_all_applied():
    counter = gj.Variable(np.zeros(3, np.float32))

    @gj.function
    def bump(x):
        counter.assign_add(x)
        return counter.read_value() * 1.0
    x = np.ones(3, np.float32)
    for k in range(1, 6):
        np.testing.assert_array_equal(bump(x).numpy(), np.full(3, k, np.float32))


def test_explain_retracing_names_what_changed_after_fast_calls(monkeypatch, caplog):
    monkeypatch.setattr(gj.config, "explain_retracing", True)
    scale = gj.function(lambda x, n: x * n)
    x = _floats(3)
    with caplog.at_level(logging.INFO, logger="graphjit.function"):
        for _ in range(3):
            scale(x, 2)
        scale(_floats(4), 2)
        scale(x.astype(np.float64), 2)
        scale(x.astype(np.float64), 3)
    messages = [r.getMessage() for r in caplog.records if r.name == "graphjit.function"]
    assert len(messages) == 4, messages
    assert "shape (3,) -> (4,)" in messages[1]
    assert "float32 -> float64" in messages[2]
    assert "2 -> 3" in messages[3]


def test_calls_inside_a_trace_inline_instead_of_taking_the_fast_path():
    inner = gj.function(lambda x: x * 2.0)
    x = _floats(5)
    inner(x)
    assert _served_by_last(inner, x)

    @gj.function
    def outer(y):
        return inner(y) + 1.0
    np.testing.assert_allclose(outer(x).numpy(), x * np.float32(2) + np.float32(1), rtol=1e-6)
    ops = [n.op for n in outer.get_concrete_function(x).graph.nodes]
    assert "multiply" in ops and "add" in ops   # inner's graph was inlined, not run eagerly


def test_calls_under_a_gradient_tape_are_recorded():
    square = gj.function(lambda x: x * x)
    x = _floats(4).astype(np.float64)
    square(x)
    assert _served_by_last(square, x)
    t = gj.constant(x)
    with gj.GradientTape() as tape:
        tape.watch(t)
        y = gj.reduce_sum(square(t))
    np.testing.assert_allclose(tape.gradient(y, t).numpy(), 2 * x, rtol=1e-12)


def test_run_functions_eagerly_still_calls_python_after_fast_calls():
    add, traces = _counting(lambda x: x + 1.0)
    x = _floats(4)
    add(x)
    add(x)
    gj.config.run_functions_eagerly(True)
    try:
        np.testing.assert_allclose(np.asarray(add(x)), x + np.float32(1), rtol=1e-6)
    finally:
        gj.config.run_functions_eagerly(False)
    assert len(traces) == 2   # the Python function ran once more, eagerly


def test_a_settings_change_reaches_calls_of_a_remembered_signature(monkeypatch):
    f = gj.function(lambda x: gj.exp(x) + 1.0)
    x = _floats(8)
    f(x)
    f(x)
    concrete = f._last_call[1]
    monkeypatch.setattr(gj.config, "backend", "interpreter")
    np.testing.assert_allclose(f(x).numpy(), np.exp(x) + np.float32(1), rtol=1e-6)
    assert "interpreter" in get_runtime().executables(concrete)


def test_structured_results_and_python_only_arguments():
    @gj.function
    def parts(x, k):
        return {"double": x * 2.0, "pair": (x + k, k)}
    x = _floats(3)
    for _ in range(3):
        out = parts(x, 4)
        np.testing.assert_allclose(out["double"].numpy(), x * np.float32(2), rtol=1e-6)
        np.testing.assert_allclose(out["pair"][0].numpy(), x + np.float32(4), rtol=1e-6)
        assert out["pair"][1] == 4
    constant = gj.function(lambda s: gj.constant(np.float32(s)) * 2.0)
    for _ in range(3):
        assert float(constant(1.5)) == 3.0   # no tensor argument at all: the check returns no tensors


def test_evicting_the_remembered_trace_forgets_it(monkeypatch):
    monkeypatch.setattr(gj.config, "max_traces", 2)
    add = gj.function(lambda x: x + 1.0)
    for n in (2, 3, 4, 2, 5):
        x = _floats(n)
        np.testing.assert_allclose(add(x).numpy(), x + np.float32(1), rtol=1e-6)
        last = add._last_call
        assert last is None or last[1] in add._cache.values()


def test_keyword_calls_and_defaults_take_the_ordinary_path():
    f = gj.function(lambda x, y=2.0: x * y)
    x = _floats(4)
    np.testing.assert_allclose(f(x).numpy(), x * np.float32(2), rtol=1e-6)
    np.testing.assert_allclose(f(x, 3.0).numpy(), x * np.float32(3), rtol=1e-6)
    np.testing.assert_allclose(f(x).numpy(), x * np.float32(2), rtol=1e-6)
    np.testing.assert_allclose(f(x, y=3.0).numpy(), x * np.float32(3), rtol=1e-6)


def test_the_check_declines_what_it_does_not_cover():
    assert last_signature.compile_call([(np.ones(2),)], 0, 0) is None           # nested structures
    assert last_signature.compile_call([np.float32(1.0)], 0, 0) is None         # NumPy scalars
    assert last_signature.compile_call([np.ones(2).view(_Tagged)], 0, 0) is None
    check = last_signature.compile_call([np.ones(2, np.float32), 3], 0, 0).check
    assert check((np.zeros(2, np.float32), 3))[0].shape == (2,)
    assert check((np.zeros(2, np.float32),)) is None                       # another arity
    assert check((np.zeros(2, np.float32).astype(">f4"), 3)) is None       # an equal-sized but other dtype object


def test_threads_alternating_signatures_get_their_own_results():
    add = gj.function(lambda x, y: x * y + x)
    inputs = [(_floats(16), _floats(16)), (_floats(7, dtype=np.float64), _floats(7, dtype=np.float64)),
              (_floats(2, 3), _floats(2, 3))]
    for x, y in inputs:
        add(x, y)
    failures, barrier = [], threading.Barrier(4)

    def work(t):
        barrier.wait()
        for k in range(300):
            x, y = inputs[(t + k) % len(inputs)]
            got = add(x, y).numpy()
            if got.dtype != x.dtype or not np.allclose(got, x * y + x, rtol=1e-6):
                failures.append((t, k))
    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    assert add.experimental_get_tracing_count() == 3


def test_an_unsupported_dtype_is_still_refused_after_cached_calls():
    f = gj.function(lambda x: x + 1)
    f(np.ones(3, np.float32))
    f(np.ones(3, np.float32))
    for bad in (np.ones(3, np.complex64), np.ones(3, np.int8), np.array(["a", "b"])):
        with pytest.raises(gj.errors.InvalidArgumentError, match=r"argument x has dtype"):
            f(bad)


def test_keyword_binding_matches_inspect():
    seen = []

    @gj.function
    def f(x, y=2.0, z=None):
        seen.append((y, z))
        return x * y if z is None else x * y + z
    x = _floats(4)
    np.testing.assert_allclose(f(x, z=1.0).numpy(), x * np.float32(2) + np.float32(1), rtol=1e-6)
    np.testing.assert_allclose(f(x=x, z=1.0, y=3.0).numpy(), x * np.float32(3) + np.float32(1), rtol=1e-6)
    np.testing.assert_allclose(f(z=1.0, y=3.0, x=x).numpy(), x * np.float32(3) + np.float32(1), rtol=1e-6)
    assert seen == [(2.0, 1.0), (3.0, 1.0)]   # the last two calls bind alike: one trace
    for args, kwargs in [((x,), {"z": 1.0}), ((), {"x": x, "y": 3.0}), ((x, 3.0), {"z": None}), ((x,), {})]:
        bound = f._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        ours = f._bind(args, kwargs)
        assert len(ours) == 3 and all(a is b for a, b in zip(ours, bound.arguments.values()))
    for args, kwargs, message in [((x,), {"w": 1.0}, "unexpected keyword"), ((x,), {"x": x}, "multiple values"),
                                  ((), {"y": 1.0}, "missing a required"), ((x, 1.0, 2.0, 3.0), {}, "too many")]:
        with pytest.raises(gj.errors.InvalidArgumentError, match=message):
            f(*args, **kwargs)


def test_a_dropped_function_frees_its_remembered_trace_at_once():
    import gc
    import weakref
    f = gj.function(lambda x: x + 1.0)
    x = _floats(4)
    f(x)
    f(x)
    trace = weakref.ref(f._last_call[1])
    was_enabled = gc.isenabled()
    gc.disable()   # freed by reference counting: the generated call holds no reference back to its trace
    try:
        del f
        assert trace() is None
    finally:
        if was_enabled:
            gc.enable()
