"""Every op's gradient decision, and every gradient rule against float64 central finite differences.

1. Every registered op decides: a rule (``Op.grad`` callable), ``NOT_DIFFERENTIABLE`` (no gradient flows: the
   kinds are listed below with the reason for each), or ``HANDLED_BY_TAPE`` (tuple_get, whose node the tape
   records as one with its several results, and read_variable: a read of a
   watched variable is where the tape collects that variable's gradient).
2. Every rule is run by at least one case here (a spy on the rule proves it ran) and must equal central
   differences of the eager forward pass (tests/gradient_check.py: h = 1e-6 in float64, rtol 1e-6, atol 1e-8,
   on inputs kept away from kinks, poles and jumps). Structured ops (indexing keys, scan flags, reduced axes,
   contractions, sorts) also get hypothesis-drawn cases, a fixed small number each, derandomized.
3. Kinks, ties and zeros at their documented choices (TF's): clip includes its ends, fmax/fmin route around a
   NaN, mod/fmod's jumps, products with zeros; integer inputs get None.

Eager only (no Numba compile): tests/test_autodiff_compiled.py compiles backward graphs. The file runs in a few
seconds."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import graphjit as gj
from graphjit.errors import InvalidArgumentError
from graphjit.tracer.ir import In, Slice
from graphjit.tracer.registry import HANDLED_BY_TAPE, NOT_DIFFERENTIABLE, OPS

from gradient_check import away_from, check_gradients

FEW = settings(max_examples=20, deadline=None, derandomize=True)

# ---- 1. every op decides ------------------------------------------------------------------------------------

# The ops no gradient flows through, by kind; a change of decision shows up here and is reviewed.
NOT_DIFFERENTIABLE_KINDS = {
    "bool results (comparisons, logic, tests)": {
        "equal", "not_equal", "less", "less_equal", "greater", "greater_equal", "logical_and", "logical_or",
        "logical_xor", "logical_not", "isnan", "isinf", "isfinite", "signbit", "reduce_any", "reduce_all"},
    "piecewise constant: zero almost everywhere; None, as TF's floor, round and floordiv": {
        "floor", "ceil", "round", "rint", "trunc", "sign", "floordiv", "heaviside"},
    "integer-only ops": {"invert", "bitwise_and", "bitwise_or", "bitwise_xor", "gcd", "lcm", "left_shift",
                         "right_shift"},
    "integer results (indices, shapes)": {"argmax", "argmin", "argsort", "shape"},
    "precision queries, steps of one ULP": {"spacing", "nextafter"},
    "no tensor inputs": {"constant", "zeros", "ones", "range", "eye"},
    "random draws (TF's random ops are not differentiable)": {"random_uniform", "random_normal",
                                                              "random_truncated_normal"},
    "effects: a variable write (a later read is a new source) and a print": {"assign_variable", "print"},
    "stop_gradient, by definition": {"stop_gradient"},
}


def test_every_registered_op_has_a_rule_or_a_marker():
    undecided = sorted(name for name, op in OPS.items()
                       if not (callable(op.grad) or op.grad is NOT_DIFFERENTIABLE or op.grad is HANDLED_BY_TAPE))
    assert not undecided, f"ops without a gradient decision: {undecided}"
    # read_variable: where a watched variable's gradient arrives; tuple_get: the tape records a node of several
    # results (cond, while_loop) as one, with one upstream per result
    assert {name for name, op in OPS.items() if op.grad is HANDLED_BY_TAPE} == {"read_variable", "tuple_get"}


def test_the_ops_marked_not_differentiable_are_the_listed_kinds():
    listed = set().union(*NOT_DIFFERENTIABLE_KINDS.values())
    marked = {name for name, op in OPS.items() if op.grad is NOT_DIFFERENTIABLE}
    assert marked == listed, f"marked but not listed: {sorted(marked - listed)}; listed but not marked: " \
                             f"{sorted(listed - marked)}"


def test_no_gradient_flows_through_a_not_differentiable_op():
    x = gj.constant(np.array([0.3, -1.7, 2.5]))
    for fn in (gj.floor, gj.math.ceil, gj.round, gj.sign, np.rint, np.trunc, lambda t: gj.math.floordiv(t, 0.7),
               lambda t: np.heaviside(t, 0.5), lambda t: np.nextafter(t, 0.0), np.spacing,
               lambda t: gj.cast(gj.argsort(t), gj.float64)):
        with gj.GradientTape() as tape:
            tape.watch(x)
            y = gj.reduce_sum(fn(x) * x)   # d/dx through the product only: fn(x)
        np.testing.assert_array_equal(np.asarray(tape.gradient(y, x)), np.asarray(fn(x)))


# ---- 2. every rule against finite differences -------------------------------------------------------------------

_rng = np.random.default_rng(20240611)
X = _rng.uniform(-2.0, 2.0, (3, 4))
Y = _rng.uniform(-2.0, 2.0, (3, 4))
POS = _rng.uniform(0.3, 2.0, (3, 4))
UNIT = _rng.uniform(-0.9, 0.9, (3, 4))
T3 = _rng.uniform(-1.5, 1.5, (2, 3, 4))
NONZERO = away_from(X, [0.0], 0.2)


def _off_jumps(x, y, jump):
    """x moved so that x / y is at least 0.1 away from the places where ``jump(x / y)`` changes (floor, trunc)."""
    q = x / y
    frac = q - jump(q)
    return np.where(np.abs(frac - np.round(frac)) < 0.1, x + 0.3 * y, x)


def _op(name, **attrs):
    return lambda *xs: OPS[name].bind(*xs, **attrs)


_ALL = Slice(None, None, None)
_E = np.array([[-2, 0, 1, 3], [1, 1, -1, 0], [2, -3, 0, 1]])   # ldexp's integer exponents
_IDX = np.array([[2, 0], [2, -1]])                             # repeats and a negative index
_LABELS = np.array([3, 0, 2])

# id -> (the op whose rule it checks, fn, float64 arrays, arguments whose gradient must be None)
CASES = {
    # unary elementwise
    **{name: (name, fn, (x,), ()) for name, fn, x in [
        ("negative", gj.negative, X), ("exp", gj.exp, X), ("expm1", gj.math.expm1, X), ("log", gj.math.log, POS),
        ("log1p", gj.math.log1p, POS), ("sqrt", gj.sqrt, POS), ("rsqrt", gj.math.rsqrt, POS),
        ("square", gj.square, X), ("reciprocal", gj.math.reciprocal, POS), ("sin", gj.sin, X), ("cos", gj.cos, X),
        ("tan", gj.tan, UNIT), ("tanh", gj.tanh, X), ("sigmoid", gj.sigmoid, X), ("softplus", gj.nn.softplus, X),
        ("erf", gj.math.erf, X),
        ("relu", gj.nn.relu, NONZERO), ("abs", gj.abs, NONZERO), ("positive", np.positive, X),
        ("conjugate", np.conjugate, X), ("exp2", np.exp2, X), ("log2", np.log2, POS), ("log10", np.log10, POS),
        ("sinh", np.sinh, X), ("cosh", np.cosh, X), ("arcsin", np.arcsin, UNIT), ("arccos", np.arccos, UNIT),
        ("arctan", np.arctan, X * 2.0), ("arcsinh", np.arcsinh, X * 5.0), ("arccosh", np.arccosh, POS + 1.2),
        ("arctanh", np.arctanh, UNIT), ("cbrt", np.cbrt, NONZERO), ("deg2rad", np.deg2rad, X * 90.0),
        ("rad2deg", np.rad2deg, X), ("fabs", np.fabs, NONZERO), ("identity", gj.identity, X),
        ("cast", _op("cast", dtype=gj.float64), X)]},
    # binary elementwise (broadcasting undone by the tape) and where, clip
    "add": ("add", gj.add, (X, X[0]), ()), "subtract": ("subtract", gj.subtract, (X, X[:, :1]), ()),
    "multiply": ("multiply", gj.multiply, (X, Y), ()), "divide": ("divide", gj.divide, (X, POS), ()),
    "pow": ("pow", gj.pow, (POS, X), ()), "maximum": ("maximum", gj.maximum, (X, Y), ()),
    "minimum": ("minimum", gj.minimum, (X, Y), ()), "arctan2": ("arctan2", np.arctan2, (X, NONZERO), ()),
    "hypot": ("hypot", np.hypot, (X, NONZERO), ()), "fmax": ("fmax", np.fmax, (X, Y), ()),
    "fmin": ("fmin", np.fmin, (X, Y[0]), ()),
    "copysign": ("copysign", np.copysign, (NONZERO, Y), (1,)),   # b only flips the sign: no gradient
    "mod": ("mod", gj.math.floormod, (_off_jumps(X, NONZERO, np.floor), NONZERO), ()),
    "fmod": ("fmod", np.fmod, (_off_jumps(X, NONZERO, np.trunc), NONZERO), ()),
    "logaddexp": ("logaddexp", np.logaddexp, (X * 20.0, Y * 20.0), ()),
    "logaddexp2": ("logaddexp2", np.logaddexp2, (X * 20.0, Y[:1]), ()),
    "float_power": ("float_power", np.float_power, (POS, X), ()),
    "ldexp": ("ldexp", lambda x: np.ldexp(x, gj.constant(_E)), (X,), ()),
    "where": ("where", lambda a, b: gj.where(X > Y, a, b), (X, Y[0]), ()),
    "clip": ("clip", gj.clip_by_value, (away_from(X, [-1.0, -0.5, 0.0, -3.0, 1.5], 0.1),
                                         np.array([-1.0, -0.5, 0.0, -3.0]), np.array(1.5)), ()),
    # views, joins, tiles, indexing
    "reshape": ("reshape", lambda x: gj.reshape(x, (2, 6)), (X,), ()),
    "transpose": ("transpose", lambda x: gj.transpose(x, (2, 0, 1)), (T3,), ()),
    "expand_dims": ("expand_dims", lambda x: gj.expand_dims(x, 1) * x[:, None], (X,), ()),
    "squeeze": ("squeeze", lambda x: gj.squeeze(gj.reshape(x, (3, 1, 4, 1)), (1, 3)), (X,), ()),
    "broadcast_to": ("broadcast_to", lambda x: gj.broadcast_to(gj.reshape(x, (3, 1, 4)), (2, 3, 5, 4)), (X,), ()),
    "concat": ("concat", lambda a, b, c: gj.concat([a, b, c], axis=1), (X, Y[:, :1], T3[0]), ()),
    "stack": ("stack", lambda a, b: gj.stack([a, b, a * b], axis=1), (X, Y), ()),
    "tile": ("tile", lambda x: gj.tile(x, (2, 1, 3)), (T3,), ()),
    "getitem_basic": ("getitem", lambda x: x[1, ::-2, None, 1:3], (T3,), ()),
    "getitem_indices": ("getitem", lambda x: x[:, _IDX] * x[-1, 1:3], (X,), ()),
    # two index arrays a slice apart: NumPy puts their broadcast dims first
    "getitem_separated_indices": ("getitem", lambda x: x[np.array([[1, 0], [1, -2]]), :, np.array([3, -4])], (T3,), ()),
    "slice": ("getitem", lambda x: gj.slice(x, [1, 0, 1], [1, -1, 2]), (T3,), ()),
    "strided_slice": ("getitem", lambda x: gj.strided_slice(x, [0, 2, 0], [2, 0, 4], [1, -1, 2], begin_mask=1,
                                                            end_mask=2), (T3,), ()),
    "gather": ("gather", lambda x: gj.gather(x, np.array([[3, 0], [3, 3]]), axis=1), (X,), ()),
    "scatter_add": ("scatter_add", lambda t, u: OPS["scatter_add"].bind(t, u, gj.constant(_IDX), key=(_ALL, In(1))),
                    (X, Y[:, :4].reshape(3, 2, 2)), ()),
    "scatter_add_basic": ("scatter_add", lambda t, u: OPS["scatter_add"].bind(t, u, key=(Slice(None, None, -2),)),
                          (X, Y[:2]), ()),
    "fill": ("fill", lambda v: gj.fill((2, 3), v) * X[:2, :3], (np.array(0.7),), ()),
    "linspace": ("linspace", lambda a, b: gj.linspace(a, b, 5, axis=1), (X[:, :1], Y[0]), ()),
    "linspace_one": ("linspace", lambda a, b: gj.linspace(a, b, 1, axis=-1), (X[0], Y[1]), ()),
    # reductions, contractions, row ops
    "reduce_sum": ("reduce_sum", lambda x: gj.reduce_sum(x, axis=(0, 2)), (T3,), ()),
    "reduce_mean": ("reduce_mean", lambda x: gj.reduce_mean(x, axis=0, keepdims=True), (X,), ()),
    "reduce_max": ("reduce_max", lambda x: gj.reduce_max(x, axis=1), (X,), ()),
    "reduce_min": ("reduce_min", lambda x: gj.reduce_min(x, axis=(0, 1)), (T3,), ()),
    "reduce_prod": ("reduce_prod", lambda x: gj.reduce_prod(x, axis=(0, 2)), (T3,), ()),
    "reduce_logsumexp": ("reduce_logsumexp", lambda x: gj.reduce_logsumexp(x * 30.0, axis=1), (X,), ()),
    "matmul": ("matmul", lambda a, b: gj.matmul(a, b, transpose_b=True), (X, Y), ()),
    "tensordot": ("tensordot", lambda a, b: gj.tensordot(a, b, ([0, 2], [2, 0])), (T3, T3[:, :2, :].T.copy()), ()),
    "softmax": ("softmax", gj.nn.softmax, (X,), ()),
    "log_softmax": ("log_softmax", lambda x: gj.nn.log_softmax(x * 40.0, axis=0), (X,), ()),
    "sparse_softmax_cross_entropy_with_logits": (
        "sparse_softmax_cross_entropy_with_logits",
        lambda x: gj.nn.sparse_softmax_cross_entropy_with_logits(labels=_LABELS, logits=x * 20.0), (X,), ()),
    # scans and sorts
    "cumsum": ("cumsum", lambda x: gj.math.cumsum(x, axis=1, exclusive=True), (X,), ()),
    "cumprod": ("cumprod", lambda x: gj.math.cumprod(x, axis=1, reverse=True), (X,), ()),
    "sort": ("sort", lambda x: gj.sort(x, axis=0, direction="DESCENDING"), (X,), ()),
    # control flow: traced (eagerly the tape records the Python branch or loop that ran), the nodes replayed
    # through the tape, so their rules run; the predicate stays put under the differences
    "cond_true": ("cond", gj.function(lambda x, y: gj.cond(gj.reduce_sum(x) < 100.0, lambda: gj.sin(x) * y,
                                                           lambda: x * y[0])), (X, Y), ()),
    "cond_false": ("cond", gj.function(lambda x, y: gj.cond(gj.reduce_sum(x) > 100.0, lambda: gj.sin(x) * y,
                                                            lambda: (x * y[0]) ** 2)), (X, Y), ()),
    "while_loop": ("while_loop", gj.function(lambda x, c: gj.while_loop(
        lambda k, s: k < 3, lambda k, s: (k + 1, gj.sin(s) * c + x), (0, x), maximum_iterations=5)[1]), (X, Y), ()),
}


def _check_rule_runs(monkeypatch, op_name, fn, arrays, none=()):
    """check_gradients, and the rule of ``op_name`` must be among those it ran."""
    calls = []
    rule = OPS[op_name].grad

    def spy(*args, **kwargs):
        calls.append(op_name)
        return rule(*args, **kwargs)
    monkeypatch.setattr(OPS[op_name], "grad", spy)
    check_gradients(fn, *arrays, none=none)
    assert calls, f"the {op_name} rule did not run"


def test_every_rule_has_a_finite_difference_case():
    with_rules = {name for name, op in OPS.items() if callable(op.grad)}
    assert with_rules - {op for op, *_ in CASES.values()} == set()


@pytest.mark.parametrize("case", sorted(CASES))
def test_rule_matches_finite_differences(case, monkeypatch):
    op_name, fn, arrays, none = CASES[case]
    _check_rule_runs(monkeypatch, op_name, fn, arrays, none)


# -- structured ops, drawn by hypothesis --

def _values(draw, shape, low=-2.0, high=2.0):
    seed = draw(st.integers(0, 2 ** 32 - 1))
    return np.random.default_rng(seed).uniform(low, high, shape)


_shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)


@st.composite
def _index_keys(draw):
    """A shape and a NumPy key for it: ints, slices with any step, None, one Ellipsis and up to two integer
    arrays (repeats and negative indices included)."""
    shape = draw(_shapes)
    key, axis, arrays, ellipsis = [], 0, 0, False
    while axis < len(shape) and draw(st.booleans() if key else st.just(True)):
        d = shape[axis]
        kind = draw(st.sampled_from(["int", "slice", "slice", "none", "ellipsis", "array"]))
        if kind == "int":
            key.append(draw(st.integers(-d, d - 1)))
        elif kind == "none":
            key.append(None)
            continue
        elif kind == "ellipsis" and not ellipsis:
            key.append(Ellipsis)
            ellipsis = True
            axis = len(shape) - draw(st.integers(0, len(shape) - axis))
            continue
        elif kind == "array" and arrays < 2:
            index_shape = (2, 2) if arrays == 0 or draw(st.booleans()) else (2,)
            size = int(np.prod(index_shape))
            key.append(np.array(draw(st.lists(st.integers(-d, d - 1), min_size=size, max_size=size))).reshape(index_shape))
            arrays += 1
        else:
            bound = st.one_of(st.none(), st.integers(-d - 1, d + 1))
            key.append(slice(draw(bound), draw(bound), draw(st.sampled_from([None, 1, 2, -1, -2]))))
        axis += 1
    return shape, tuple(key), _values(draw, shape)


@FEW
@given(_index_keys())
def test_getitem_of_any_key_matches_finite_differences(drawn):
    shape, key, x = drawn
    if np.asarray(np.empty(shape)[key]).size == 0:
        return   # nothing selected: the gradient is zeros (checked by the shapes below), nothing to difference
    grads = check_gradients(lambda t: t[key], x)
    assert tuple(grads[0].shape) == shape


@FEW
@given(st.data())
def test_gather_and_scatter_add_along_any_axis_match_finite_differences(data):
    shape = data.draw(_shapes)
    axis = data.draw(st.integers(0, len(shape) - 1))
    indices = np.array(data.draw(st.lists(st.integers(0, shape[axis] - 1), min_size=1, max_size=5)))
    x = _values(data.draw, shape)
    check_gradients(lambda t: gj.gather(t, indices, axis=axis), x)
    key = (_ALL,) * axis + (In(1),)
    updates = _values(data.draw, shape[:axis] + indices.shape + shape[axis + 1:])
    check_gradients(lambda t, u: OPS["scatter_add"].bind(t, u, gj.constant(indices), key=key) ** 2.0, x, updates)


def _with_zeros(draw, x, count):
    flat = x.reshape(-1).copy()
    for position in draw(st.lists(st.integers(0, flat.size - 1), min_size=count, max_size=count)):
        flat[position] = 0.0
    return flat.reshape(x.shape)


@FEW
@given(st.data())
def test_scans_with_every_flag_and_zeros_match_finite_differences(data):
    shape = data.draw(_shapes)
    axis = data.draw(st.integers(0, len(shape) - 1))
    exclusive, reverse = data.draw(st.booleans()), data.draw(st.booleans())
    x = _with_zeros(data.draw, _values(data.draw, shape), data.draw(st.integers(0, 3)))
    check_gradients(lambda t: gj.math.cumsum(t, axis, exclusive=exclusive, reverse=reverse), x)
    # cumprod is multilinear in x, so central differences are exact at zeros too
    check_gradients(lambda t: gj.math.cumprod(t, axis, exclusive=exclusive, reverse=reverse), x)


@FEW
@given(st.data())
def test_reduce_prod_over_any_axes_with_zeros_matches_finite_differences(data):
    shape = data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=3).map(tuple))
    axes = data.draw(st.lists(st.integers(0, len(shape) - 1), min_size=1, unique=True))
    x = _with_zeros(data.draw, _values(data.draw, shape, 0.5, 2.0) * data.draw(st.sampled_from([1.0, -1.0])),
                    data.draw(st.integers(0, 2)))
    check_gradients(lambda t: gj.reduce_prod(t, axis=axes, keepdims=data.draw(st.booleans())), x)


@FEW
@given(st.data())
def test_tensordot_over_any_axis_pairing_matches_finite_differences(data):
    a_shape = data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=3).map(tuple))
    a_axes = data.draw(st.lists(st.integers(0, len(a_shape) - 1), unique=True, max_size=len(a_shape)))
    b_free = data.draw(st.lists(st.integers(1, 3), max_size=2))
    b_rank = len(a_axes) + len(b_free)
    b_axes = data.draw(st.permutations(range(b_rank)))[:len(a_axes)]
    b_shape = [0] * b_rank
    for i, j in zip(a_axes, b_axes):
        b_shape[j] = a_shape[i]
    free = iter(b_free)
    b_shape = tuple(next(free) if j not in b_axes else d for j, d in enumerate(b_shape))
    a, b = _values(data.draw, a_shape), _values(data.draw, b_shape)
    check_gradients(lambda s, t: gj.tensordot(s, t, (list(a_axes), list(b_axes))), a, b)


@FEW
@given(st.data())
def test_sort_along_any_axis_matches_finite_differences(data):
    shape = data.draw(_shapes)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    direction = data.draw(st.sampled_from(["ASCENDING", "DESCENDING"]))
    x = _values(data.draw, shape)
    check_gradients(lambda t: gj.sort(t, axis=axis, direction=direction), x)


# ---- 3. kinks, ties, zeros, integers -----------------------------------------------------------------------

def _gradients(fn, *arrays):
    tensors = [gj.constant(np.asarray(a, np.float64)) for a in arrays]
    with gj.GradientTape() as tape:
        tape.watch(tensors)
        y = gj.reduce_sum(fn(*tensors))
    return [None if g is None else np.asarray(g) for g in tape.gradient(y, tensors)]


def test_clip_passes_the_gradient_inside_its_closed_range_and_to_the_bound_that_clipped():
    x = [-1.0, 0.0, 0.5, 1.0, 2.0, np.nan]
    gx, lo, hi = _gradients(gj.clip_by_value, x, 0.0, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    np.testing.assert_array_equal(gx, [0, 1, 1, 1, 0, 1])   # ends included (TF); a NaN keeps its gradient
    assert lo == 1.0                                          # a broadcast bound gets the sum
    np.testing.assert_array_equal(hi, [0, 0, 0, 0, 1, 0])
    # bounds the wrong way round: the result is hi (NumPy's minimum(maximum(x, lo), hi)), and so is the gradient's
    gx, lo, hi = _gradients(gj.clip_by_value, [0.5, 3.0, -3.0], 1.0, 0.0)
    np.testing.assert_array_equal(gx, [0, 0, 0])
    assert (lo, hi) == (0.0, 3.0)


def test_fmax_and_fmin_send_the_gradient_to_the_operand_the_result_is():
    a, b = [np.nan, 1.0, 2.0, np.nan, 3.0], [1.0, np.nan, 2.0, np.nan, -1.0]
    for fn, last in ((np.fmax, (1, 0)), (np.fmin, (0, 1))):
        ga, gb = _gradients(fn, a, b)
        np.testing.assert_array_equal(ga, [0, 1, 1, 1, last[0]])   # a tie goes to a, as maximum's; NaN, NaN: a
        np.testing.assert_array_equal(gb, [1, 0, 0, 0, last[1]])   # the non-NaN operand gets the gradient


def test_mod_and_fmod_gradients_are_tfs_floor_and_trunc_quotients():
    x, y = [5.5, -5.5, 5.5], [2.0, 2.0, -2.0]
    np.testing.assert_array_equal(_gradients(gj.math.floormod, x, y), [[1, 1, 1], [-2, 3, 3]])
    np.testing.assert_array_equal(_gradients(np.fmod, x, y), [[1, 1, 1], [-2, 2, 2]])


def test_products_with_zeros_have_exact_gradients():
    x = [[2.0, 0.0, 3.0], [0.0, 0.0, 4.0], [1.0, 2.0, 3.0]]
    np.testing.assert_array_equal(_gradients(lambda t: gj.reduce_prod(t, axis=1), x)[0],
                                  [[0, 6, 0], [0, 0, 0], [6, 3, 2]])
    # cumprod [2, 0, 3, 0, 5] = [2, 0, 0, 0, 0]: the first zero's gradient is 2 + 2 * 3, later elements' 0
    np.testing.assert_array_equal(_gradients(lambda t: gj.math.cumprod(t), [2.0, 0.0, 3.0, 0.0, 5.0])[0],
                                  [1, 8, 0, 0, 0])
    # reversed, [0, 0, 0, 0, 5]: the zero at index 3 comes first (gradient 5 + 3 * 5), and 5 is in one product
    np.testing.assert_array_equal(_gradients(lambda t: gj.math.cumprod(t, reverse=True), [2.0, 0.0, 3.0, 0.0, 5.0])[0],
                                  [0, 0, 0, 20, 1])


def test_integer_operands_get_no_gradient():
    x = gj.constant(np.array([1.5, -2.5, 3.0]))
    n = gj.constant(np.array([2, 1, 0]))
    with gj.GradientTape(persistent=True) as tape:
        tape.watch([x, n])   # n is not followed (int): a warning, as TF
        y = gj.reduce_sum(np.ldexp(x, n) + gj.math.floormod(x, n + 1) + gj.gather(x, n) * x)
    gx, gn = tape.gradient(y, [x, n])
    assert gn is None
    # 2**n, plus 1 from the floormod, plus x[n] and the gathered reads scattered back (n is its own inverse)
    np.testing.assert_array_equal(np.asarray(gx), [4 + 1 + 3.0 + 3.0, 2 + 1 - 2.5 - 2.5, 1 + 1 + 1.5 + 1.5])


def test_second_derivatives_through_scatter_add_cumprod_and_reduce_prod():
    """The rules are made of differentiable ops: an outer tape differentiates the inner gradient (here against
    central differences of the inner gradient itself)."""
    x0 = np.array([0.7, -1.2, 1.5, 0.4])
    index = np.array([0, 2, 2, 3])

    def first_derivative(x):
        with gj.GradientTape() as inner:
            inner.watch(x)
            y = gj.reduce_sum(x[index] ** 3.0) + gj.reduce_sum(gj.math.cumprod(x)) + gj.reduce_prod(x * x)
        return inner.gradient(y, x)

    check_gradients(first_derivative, x0)


def test_gradient_rules_trace_into_graphs_that_match_eager(monkeypatch):
    """Rules written with graphjit ops also build graph nodes (run here by the reference interpreter)."""
    monkeypatch.setattr(gj.config, "backend", "interpreter")
    x0, y0 = X.astype(np.float32), Y.astype(np.float32)

    def gradients(x, y):
        with gj.GradientTape() as tape:
            tape.watch([x, y])
            z = (gj.concat([x[:, ::-1], gj.gather(y, [0, 0, 2], axis=1)], axis=1) * gj.tile(x[:1], (3, 2))[:, :7]
                 + gj.stack([gj.clip_by_value(x, -1.0, 1.0), np.fmax(x, y)], axis=0)[1, :, 1:]
                 .__getitem__((Ellipsis, [0, 0, 1, 2, 2, 1, 0])))
            loss = (gj.reduce_sum(gj.sort(z, axis=1) * gj.math.cumprod(z * 0.5, axis=0))
                    + gj.reduce_sum(gj.reduce_prod(y, axis=0)) + gj.reduce_sum(gj.tensordot(x, y, [[0], [0]]))
                    + gj.reduce_sum(gj.linspace(x[:, 0], y[:, 0], 4) * gj.fill((4, 3), x[0, 0])))
        return tape.gradient(loss, [x, y])

    traced = gj.function(gradients)(x0, y0)
    eager = gradients(gj.constant(x0), gj.constant(y0))
    for t, e in zip(traced, eager):
        np.testing.assert_allclose(np.asarray(t), np.asarray(e), rtol=1e-6, atol=1e-6)


# ---- scatter_add's contract -----------------------------------------------------------------------------

def test_scatter_add_adds_every_update_for_a_repeated_position_and_rejects_bad_input():
    scatter = OPS["scatter_add"]
    x = gj.constant(np.zeros((3, 2)))
    out = scatter.bind(x, gj.constant(np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])), gj.constant(np.array([2, 0, 2])),
                       key=(In(1),))
    np.testing.assert_array_equal(np.asarray(out), [[3, 4], [0, 0], [6, 8]])
    with pytest.raises(InvalidArgumentError, match=r"indices out of range.*updates of shape \(1, 2\).*shape \(3, 2\)"):
        scatter.bind(x, gj.constant(np.ones((1, 2))), gj.constant(np.array([3])), key=(In(1),))
    with pytest.raises(InvalidArgumentError, match=r"updates has shape \(2, 2\) but tensor\[in1\] has shape \(1, 2\)"):
        scatter.bind(x, gj.constant(np.ones((2, 2))), gj.constant(np.array([1])), key=(In(1),))
    with pytest.raises(InvalidArgumentError, match="updates has dtype float32 but tensor has dtype float64"):
        scatter.bind(x, gj.constant(np.ones((3, 2), np.float32)), key=(Slice(None, None, None),))
