"""The fuzz checker's unchecked masks (tests/fuzz_unchecked.py, tests/fuzz_check.py): elements a perturbed run
lost are carried as a boolean mask, propagated to exactly what depends on them, never as NaN in the values."""
import numpy as np

import graphjit as gj

import fuzz_check
import fuzz_unchecked
from fuzz_check import retyped
from fuzz_graphs import SPECS, Input, RandomChooser, Step, draw_program


def _changed(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            return ~((a == b) & (np.signbit(a) == np.signbit(b)) | (np.isnan(a) & np.isnan(b)))
    return a != b


def _other_values(rng, like):
    """Replacements for unchecked elements of ``like``'s dtype: anything, zeros, extremes and non-finite values
    included (what flips a truth value or a comparison)."""
    if like.dtype == bool:
        return rng.random(like.shape) < 0.5
    if like.dtype.kind in "iu":
        info = np.iinfo(like.dtype)
        special = np.array([0, 1, -1, 7, info.min, info.max], like.dtype)
        return np.where(rng.random(like.shape) < 0.5, special[rng.integers(0, len(special), like.shape)],
                        rng.integers(-9, 10, like.shape)).astype(like.dtype)
    special = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 1.0, 3e38])
    return np.where(rng.random(like.shape) < 0.5, special[rng.integers(0, len(special), like.shape)],
                    rng.standard_normal(like.shape) * 7 + 0.5).astype(like.dtype)


# operands that are indices: changing them moves the result anywhere (or out of range), and the rules give the
# whole result for an unchecked one
INDEX_OPERANDS = {"gather": {1}, "getitem": {1}, "scatter_add": {1}, "sparse_softmax_cross_entropy_with_logits": {0}}


def _soundness_cases(seeds):
    """(spec name, params, operand arrays) of every step of programs drawn from ``seeds``."""
    for seed in seeds:
        prog = draw_program(RandomChooser((25, seed)), 8)
        for node in prog.nodes:
            if isinstance(node, Step):
                yield node.spec, node.params, [np.asarray(prog.eager[a].numpy()) for a in node.args]


def _apply(name, params, arrays):
    return np.asarray(SPECS[name].apply([gj.convert_to_tensor(a) for a in arrays], params, False).numpy())


def test_every_rule_covers_what_a_changed_operand_element_moves():
    # soundness: replace random operand elements (any dtype but indices) by other values; every result element
    # that changes must be in the propagated mask (every spec with operands is drawn: 125 of the 131)
    rng = np.random.default_rng(0)
    seen, tried = set(), 0
    for name, params, arrays in _soundness_cases(range(400)):
        data = [k for k, a in enumerate(arrays) if a.size and k not in INDEX_OPERANDS.get(name, ())]
        if not data:
            continue
        want = _apply(name, params, arrays)
        for _ in range(3):
            masks = [rng.random(a.shape) < (0.3 if k in data else 0) for k, a in enumerate(arrays)]
            changed = [np.where(m, _other_values(rng, a), a) for a, m in zip(arrays, masks)]
            with np.errstate(all="ignore"):
                got = _apply(name, params, changed)
            lost = fuzz_unchecked.propagate(name, params, arrays, masks, want.shape)
            moved = _changed(got, want)
            assert not (moved & ~lost).any(), (name, params, [a.shape for a in arrays], np.argwhere(moved & ~lost))
            tried += 1
        seen.add(name)
    assert tried > 1000 and len(seen) > 120, (tried, sorted(set(SPECS) - seen))


def test_rules_keep_independent_elements_checked():
    # precision where it matters: a lost element taints its own row of a product, its line of a sort, the
    # reduced axis of a sum, its own position through moves and broadcasting, and nothing else
    lost = np.zeros((2, 3), bool)
    lost[1, 2] = True
    a, b = np.ones((2, 3)), np.ones((3, 4))
    matmul = fuzz_unchecked.propagate("matmul", {"transpose_a": False, "transpose_b": False}, [a, b],
                                      [lost, np.zeros((3, 4), bool)], (2, 4))
    assert matmul.tolist() == [[False] * 4, [True] * 4]
    column = np.zeros((3, 4), bool)
    column[0, 1] = True
    matmul = fuzz_unchecked.propagate("matmul", {"transpose_a": False, "transpose_b": False}, [a, b],
                                      [np.zeros((2, 3), bool), column], (2, 4))
    assert matmul.tolist() == [[False, True, False, False]] * 2
    rows = fuzz_unchecked.propagate("sort", {"axis": 1, "descending": False}, [a], [lost], (2, 3))
    assert rows.tolist() == [[False] * 3, [True] * 3]
    summed = fuzz_unchecked.propagate("reduce_sum", {"axis": 0, "keepdims": False}, [a], [lost], (3,))
    assert summed.tolist() == [False, False, True]
    moved = fuzz_unchecked.propagate("transpose", {"perm": None}, [a], [lost], (3, 2))
    assert moved.tolist() == lost.T.tolist()
    added = fuzz_unchecked.propagate("add", {}, [a, np.ones(3)], [lost, np.array([True, False, False])], (2, 3))
    assert added.tolist() == [[True, False, False], [True, False, True]]
    gathered = fuzz_unchecked.propagate("gather", {"axis": 1, "bad": False}, [a, np.array([2, 0, 2])],
                                        [lost, np.zeros(3, bool)], (2, 3))
    assert gathered.tolist() == [[False] * 3, [True, False, True]]
    scanned = fuzz_unchecked.propagate("cumsum", {"axis": 1, "exclusive": True, "reverse": False}, [a],
                                       [lost], (2, 3))
    assert scanned.tolist() == [[False] * 3] * 2      # an exclusive prefix never reads its last element


def test_every_fuzzed_spec_has_a_dependence_rule_of_its_own():
    # the whole-result fallback hides every element after a lost one; a new spec should say how it depends
    assert [n for n in SPECS if fuzz_unchecked.rule_of(n) is fuzz_unchecked._whole] == []


# ---- programs the NaN markers got wrong ----------------------------------------------------------------------
def _program(nodes, outputs):
    prog = retyped(nodes, outputs)
    assert prog is not None
    return prog


def _unchecked(prog):
    """Per output: (elements left unchecked against the interpreter, against the float64 reference)."""
    _, cmp_runs, ref_runs = fuzz_check.shadow_runs(prog)
    return [(fuzz_check.unchecked_in(cmp_runs, j), fuzz_check.unchecked_in(ref_runs, j))
            for j in range(len(prog.outputs))]


def _wrong(value):
    """A value no correct backend returns for ``value`` (bools flipped, floats moved by a thousandth, NaN 0.25)."""
    if value.dtype == bool:
        return ~value
    if np.isnan(value):
        return value.dtype.type(0.25)
    return value * value.dtype.type(1.001) + value.dtype.type(1e-3)


def _each_wrong_element_is_caught(prog, compiled, interpreted, checked):
    """A wrong value at any element where ``checked[j]`` is set is reported; garbage elsewhere is not."""
    for j, (c, keep) in enumerate(zip(compiled, checked)):
        for idx in np.ndindex(c.shape):
            off = [x.copy() for x in compiled]
            off[j][idx] = _wrong(c[idx]) if keep[idx] else _wrong(c[idx]) * 7
            problems = fuzz_check.check_outputs(prog, off, interpreted)
            assert (problems != []) == bool(keep[idx]), (prog.outputs[j], idx, problems)


def test_a_remainder_lost_to_precision_stays_unchecked_through_logical_and():
    # benchmarks/fuzz.py seed 91: logical_and(fmod(sqrt(x), -3), x) with x = 3e38 in float32. sqrt(3e38) is
    # 1.7320508e19 in float32, whose ULP is 2^41 divisors: the remainder says nothing (0 in float32, 1 in float64).
    # The perturbed runs marked it NaN, logical_and(NaN, x) is True like the float64 reference's, so the element
    # was "checked", and both backends (and NumPy) "differed" from float64. The mask keeps it unchecked, and the
    # elements beside it, whose sqrt is exact enough, are checked.
    x = np.array([3e38, 4.0, 1e10, -0.0, 2.25, 3e38, 49.0], np.float32)
    prog = _program([Input(x), Step("sqrt", (0,)), Input(np.array(-3, np.int64)), Step("fmod", (1, 2)),
                     Step("logical_and", (3, 0))], [4])
    compiled, interpreted = fuzz_check.run_backends([prog])
    want = np.logical_and(np.fmod(np.sqrt(x).astype(np.float64), -3.0), x)
    np.testing.assert_array_equal(compiled[0], want)
    np.testing.assert_array_equal(interpreted[0], want)
    reference, _, _ = fuzz_check.shadow_runs(prog)
    assert not want[0] and reference[0][0]            # float32's remainder is 0, float64's is not
    lost = x == np.float32(3e38)
    (cmp_lost, ref_lost), = _unchecked(prog)
    np.testing.assert_array_equal(ref_lost, lost)
    np.testing.assert_array_equal(cmp_lost, lost)   # the float32-rounding run's sqrt strays from float64's too
    assert fuzz_check.check_outputs(prog, compiled, interpreted) == []
    for k in np.flatnonzero(~lost):
        off = compiled[0].copy()
        off[k] = ~off[k]
        assert fuzz_check.check_outputs(prog, [off], interpreted) != [], k


def test_a_cosine_lost_to_precision_stays_unchecked_through_pow():
    # benchmarks/fuzz.py seed 93: pow(c, c) with c = cos(deg2rad(3e38)) in float32, an angle of 5.2e36 radians
    # whose ULP is 3e29 periods. The float64 c is negative, so its pow is NaN; the perturbed runs' NaN marker
    # gave pow(NaN, NaN) = NaN, the same class, so the element was "checked" and the backends' 0.899 (from a
    # positive float32 c) "wrong". Beside it, pow of cos of ordinary angles is still checked.
    x = np.array([3e38, 0.5, 60.0, -200.0], np.float32)
    prog = _program([Input(x), Step("deg2rad", (0,)), Step("cos", (1,)), Step("pow", (2, 2))], [3, 2])
    compiled, interpreted = fuzz_check.run_backends([prog])
    c = np.cos(np.deg2rad(x))
    np.testing.assert_allclose(compiled[0], np.power(c, c), rtol=4 * 2.0 ** -23)
    np.testing.assert_array_equal(compiled[0], interpreted[0])
    reference, _, _ = fuzz_check.shadow_runs(prog)
    assert np.isnan(reference[0][0]) and not np.isnan(compiled[0][0])
    lost = x == np.float32(3e38)
    for cmp_lost, ref_lost in _unchecked(prog):
        np.testing.assert_array_equal(ref_lost, lost)
        np.testing.assert_array_equal(cmp_lost, lost)
    assert fuzz_check.check_outputs(prog, compiled, interpreted) == []
    _each_wrong_element_is_caught(prog, compiled, interpreted, [~lost, ~lost])


def test_a_wrong_element_beside_a_lost_one_is_still_caught():
    # sin(exp(88)) is sin(1.65e38): exp's allowed error spans ~1e32 periods, so that element (and what reads it)
    # is unchecked; everything that does not read it must still be checked, element by element: the other row of
    # a row sum and of a product, the other columns of a sort along rows... (a NaN marker did this too; a mask
    # that spread too far would hide these wrong values)
    x = np.array([[0.5, 88.0, -1.25], [2.0, 0.25, -3.5]], np.float32)
    y = np.array([[True, False, True], [False, True, True]])
    w = np.array([[1.5, -2.0], [0.75, 3.0], [-1.0, 0.5]], np.float32)
    prog = _program([Input(x), Step("exp", (0,)), Step("sin", (1,)),
                     Step("reduce_sum", (2,), {"axis": 1, "keepdims": False}),
                     Input(w), Step("matmul", (2, 4), {"transpose_a": False, "transpose_b": False}),
                     Step("sort", (2,), {"axis": 0, "descending": False}),
                     Step("cumsum", (2,), {"axis": 1, "exclusive": False, "reverse": False}),
                     Input(y), Step("logical_and", (8, 2)),
                     Step("where", (8, 2), {"y": 0.5})], [3, 5, 6, 7, 9, 10])
    compiled, interpreted = fuzz_check.run_backends([prog])
    assert fuzz_check.check_outputs(prog, compiled, interpreted) == []
    lost = [np.array([True, False]), np.array([[True, True], [False, False]]),
            np.array([[False, True, False]] * 2), np.array([[False, True, True], [False, False, False]]),
            np.zeros((2, 3), bool), np.zeros((2, 3), bool)]
    for (cmp_lost, ref_lost), want in zip(_unchecked(prog), lost):
        np.testing.assert_array_equal(ref_lost, want)
    _each_wrong_element_is_caught(prog, compiled, interpreted, [~m for m in lost])
