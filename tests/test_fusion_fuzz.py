"""Random fused elementwise graphs (hypothesis): the compiled backend against the interpreter, with
broadcasting and NaN/inf/signed-zero inputs. Each example compiles several random expressions in one
graph, so a handful of compiles cover many fused groups."""
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphjit as gj
from graphjit.compiler.backend import get_backend
from graphjit.runtime import get_runtime

# Well-conditioned ops only: a random chain through subtract/log/compare can turn a 1-ULP difference
# (polynomial exp, FMA contraction) into NaN or a flipped branch, which says nothing about correctness.
# For the same reason sin and cos get bounded arguments: after exp, a 1-ULP difference at 1.5e7 (one whole
# unit) changes sin's result completely. Their large-argument paths are tested in tests/test_mathlib.py.


def _bounded(fn):
    def bounded(v):
        return fn(gj.tanh(v) * 4.0)
    bounded.__name__ = f"{fn.__name__}_bounded"
    return bounded


UNARY = [gj.negative, gj.abs, gj.exp, gj.tanh, gj.sigmoid, _bounded(gj.sin), _bounded(gj.cos), gj.square, gj.nn.relu,
         gj.math.softplus]
BINARY = [gj.add, gj.multiply, gj.maximum, gj.minimum]
SHAPES = [(3, 5), (5,), (3, 1), (1, 5), ()]
SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-40, 3.0, -2.5, 0.5, 80.0, -80.0], np.float32)


@st.composite
def programs(draw):
    exprs = []
    for _ in range(draw(st.integers(2, 5))):
        steps = draw(st.lists(st.tuples(st.booleans(), st.integers(0, 9), st.integers(0, 4)), min_size=1,
                              max_size=8))
        reduce = draw(st.sampled_from([None, "sum", "max"]))
        exprs.append((steps, reduce))
    inputs = []
    for shape in SHAPES[:3]:
        values = draw(st.lists(st.sampled_from(range(len(SPECIAL) + 4)), min_size=int(np.prod(shape)),
                               max_size=int(np.prod(shape))))
        array = np.array([SPECIAL[v] if v < len(SPECIAL) else v * 0.37 - 1 for v in values], np.float32)
        inputs.append(array.reshape(shape))
    return exprs, inputs


def build(exprs):
    def program(a, b, c):
        leaves = [a, b, c]
        outs = []
        for steps, reduce in exprs:
            value = leaves[0]
            for is_unary, op_index, leaf in steps:
                if is_unary:
                    value = UNARY[op_index % len(UNARY)](value)
                else:
                    value = BINARY[op_index % len(BINARY)](value, leaves[leaf % 3])
            if reduce == "sum":
                value = gj.reduce_sum(value, axis=-1)
            elif reduce == "max":
                value = gj.reduce_max(value, axis=0)
            outs.append(value)
        return outs
    return program


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_random_fused_graphs_match_the_interpreter(program):
    exprs, inputs = program
    concrete = gj.function(build(exprs)).get_concrete_function(*inputs)
    state = get_runtime().state
    expected = get_backend("interpreter").compile(concrete.graph).run(state, inputs)
    actual = get_backend("cpu").compile(concrete.graph).run(state, inputs)
    for a, e, terms in zip(actual, expected, _summed_terms(exprs, inputs)):
        assert a.shape == e.shape and a.dtype == e.dtype
        np.testing.assert_array_equal(np.isnan(a), np.isnan(e))
        np.testing.assert_array_equal(np.isinf(a) & (a > 0), np.isinf(e) & (e > 0))
        finite = np.isfinite(e)
        scale = float(np.max(np.abs(e[finite]), initial=1.0))
        atol = 1e-5 * scale
        if terms is not None:   # a sum's rounding scales with sum|terms|, not with its (cancelled) result: the
            # compiled row sums in float64, NumPy in float32 (a row of +-8.2e6 terms summing to 81: 81.17 vs 81.0)
            atol = atol + terms.shape[-1] * 2.0 ** -23 * np.sum(np.abs(terms), axis=-1)[finite]
        error = np.abs(a[finite].astype(np.float64) - e[finite])
        assert np.all(error <= atol + 1e-4 * np.abs(e[finite].astype(np.float64))), (a, e, atol)


def _summed_terms(exprs, inputs):
    """Each "sum" expression's terms before the sum (the interpreter's, as float64), None for the others."""
    plain = gj.function(build([(steps, None) for steps, _ in exprs])).get_concrete_function(*inputs)
    values = get_backend("interpreter").compile(plain.graph).run(get_runtime().state, inputs)
    return [np.broadcast_to(np.asarray(v, np.float64), np.broadcast_shapes(np.shape(v), (1, 1)))
            if reduce == "sum" else None for v, (_, reduce) in zip(values, exprs)]
