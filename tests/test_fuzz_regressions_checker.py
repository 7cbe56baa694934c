"""Correct results the differential fuzzer's checker (tests/fuzz_check.py) once flagged, and the wrong ones it must
still flag: its condition-aware tolerances (math-library ULPs, reassociated sums, softmax and log rows, denormal
gaps) and what it leaves unchecked (periodic ops and remainders of inexact huge operands, signed zeros in a sort,
sums that may overflow, products whose partial products may overflow or underflow)."""
import numpy as np
import pytest

import graphjit as gj

from support import fuzz_modules as _grad_checker


def test_the_checker_allows_the_math_library_on_exp_of_tanh():
    # benchmarks/fuzz.py flagged a correct 1-ULP difference of exp(tanh(x)) in float64 with tolerance 0: one
    # perturbation sign for every node made tanh's and exp's bounds cancel (d exp(t) / exp(t) = dt, |t| ~ 1).
    import sys
    import os
    sys.path.insert(0, os.path.dirname(__file__))
    import fuzz_check
    import fuzz_graphs
    prog = fuzz_graphs.Program()
    x = fuzz_graphs.add_input(prog, fuzz_graphs.RandomChooser(0), (3,), gj.float64,
                              np.array([-2.0775619937229126, 0.1, 88.5]))
    for spec, arg in (("tanh", x), ("exp", x + 1)):
        prog.nodes.append(fuzz_graphs.Step(spec, (arg,)))
        prog.types.append(prog.types[x])
    prog.outputs = [2]
    want = np.exp(np.tanh(prog.nodes[0].array))
    one_ulp = np.nextafter(want, np.inf)
    assert want[0] == 0.37941803900054644 and one_ulp[0] == 0.3794180390005465
    assert fuzz_check.check_outputs(prog, [one_ulp], [want]) == []
    assert fuzz_check.check_outputs(prog, [want * (1 + 2.0 ** -30)], [want]) != []


def test_the_checker_bounds_logaddexp_by_its_operands():
    # logaddexp(x, x) is x + log(2) in float32 (NumPy's and the compiled loop's): near x = -log(2) that is off by
    # hundreds of the result's ULPs, both backends alike, which an ULP bound on the result flagged
    # (benchmarks/fuzz.py); the bound is on the operands now.
    import os
    import sys
    sys.path.insert(0, os.path.dirname(__file__))
    import fuzz_check
    import fuzz_graphs
    prog = fuzz_graphs.Program()
    x = np.array([-0.6937957, 0.25, -3.0], np.float32)
    v = fuzz_graphs.add_input(prog, fuzz_graphs.RandomChooser(0), x.shape, gj.float32, x)
    prog.nodes.append(fuzz_graphs.Step("logaddexp", (v, v)))
    prog.types.append(prog.types[v])
    prog.outputs = [1]
    got = np.logaddexp(x, x)
    exact = x.astype(np.float64) + np.log(2)
    assert abs(got[0] - exact[0]) > 100 * np.spacing(np.float32(exact[0]))   # the cancellation is real
    assert fuzz_check.check_outputs(prog, [got], [got]) == []
    assert fuzz_check.check_outputs(prog, [got * np.float32(1 + 2.0 ** -12)], [got]) != []


def test_the_checker_counts_denormal_gaps_as_ulps():
    # NumPy's float32 exp2 (SVML here) gives 0.0 at x = -149.3, where 2^x rounds to 2^-149: within an ULP, but
    # a purely relative ULP bound made sign(exp2(x)) exact there (benchmarks/fuzz.py, both backends flagged).
    import os
    import sys
    sys.path.insert(0, os.path.dirname(__file__))
    import fuzz_check
    import fuzz_graphs
    prog = fuzz_graphs.Program()
    v = fuzz_graphs.add_input(prog, fuzz_graphs.RandomChooser(0), (3,), gj.float32,
                              np.array([-149.3, 2.0, -3.0], np.float32))
    for spec, arg in (("exp2", v), ("sign", v + 1)):
        prog.nodes.append(fuzz_graphs.Step(spec, (arg,)))
        prog.types.append(prog.types[v])
    prog.outputs = [2]
    ones = np.ones(3, np.float32)
    assert fuzz_check.check_outputs(prog, [ones], [np.array([0.0, 1.0, 1.0], np.float32)]) == []
    assert fuzz_check.check_outputs(prog, [ones], [np.array([1.0, 1.0, -1.0], np.float32)]) != []


def test_the_checker_leaves_periodic_ops_of_an_inexact_huge_operand_unchecked():
    # tan(expm1(383.7)) is tan(4.3e166): expm1's allowed ULP moves its operand by ~1e150 radians, so any value
    # is right; 11 perturbed samples once spread only 0.1 around 0.60 and a correct 6.98 was flagged
    # (benchmarks/fuzz.py seed 1). tan of an exact huge input stays checked.
    import os
    import sys
    sys.path.insert(0, os.path.dirname(__file__))
    import fuzz_check
    import fuzz_graphs
    prog = fuzz_graphs.Program()
    x = np.array([383.67701802, 0.5, 1e166])
    v = fuzz_graphs.add_input(prog, fuzz_graphs.RandomChooser(0), x.shape, gj.float64, x)
    for spec, arg in (("expm1", v), ("tan", v + 1), ("tan", v)):
        prog.nodes.append(fuzz_graphs.Step(spec, (arg,)))
        prog.types.append(prog.types[v])
    prog.outputs = [2, 3]
    chaotic, exact = np.tan(np.expm1(x)), np.tan(x)
    assert fuzz_check.check_outputs(prog, [chaotic + [6.4, 0, 0], exact], [chaotic, exact]) == []
    assert fuzz_check.check_outputs(prog, [chaotic + [0, 1e-6, 0], exact], [chaotic, exact]) != []
    assert fuzz_check.check_outputs(prog, [chaotic, exact + [0, 0, 1e-6]], [chaotic, exact]) != []


def test_the_checker_leaves_the_order_of_signed_zeros_in_a_sort_unchecked():
    # NumPy's float32 sort puts -0.0 and +0.0 (equal keys) in another order than its float64 sort, so both
    # backends "differed" from the float64 shadow (benchmarks/fuzz.py seed 1); a sort without both signs stays
    # exact, and 1 / x of those zeros stays checked where their signs are known.
    import os
    import sys
    sys.path.insert(0, os.path.dirname(__file__))
    import fuzz_check
    import fuzz_graphs
    for x, checked in ((np.array([0.0, -0.0, 2.0, -1.0, 0.0], np.float32), False),
                       (np.array([0.0, 3.0, 2.0, -1.0, 0.0], np.float32), True)):
        prog = fuzz_graphs.Program()
        v = fuzz_graphs.add_input(prog, fuzz_graphs.RandomChooser(0), x.shape, gj.float32, x)
        prog.nodes.append(fuzz_graphs.Step("sort", (v,), {"axis": 0, "descending": False}))
        prog.types.append(prog.types[v])
        prog.outputs = [1]
        flipped = np.sort(x)
        flipped[flipped == 0] *= -1
        assert (fuzz_check.check_outputs(prog, [flipped], [flipped]) == []) is not checked
        assert fuzz_check.check_outputs(prog, [np.sort(x)], [np.sort(x)]) == []


def test_the_checker_allows_the_math_library_on_cos_of_softplus():
    # cos(softplus(x)) with both ops at even node indices: cos' slope near 0.87 is -0.76, so softplus' and cos'
    # perturbations cancelled in the all-same and the parity-alternating sign patterns, and a correct 1-ULP
    # difference between the backends was flagged (benchmarks/fuzz.py seed 2): sign patterns per index bit now.
    import os
    import sys
    sys.path.insert(0, os.path.dirname(__file__))
    import fuzz_check
    import fuzz_graphs
    x = np.random.default_rng(0).uniform(-3, 3, 4000).astype(np.float32)
    prog = fuzz_graphs.Program()
    v = fuzz_graphs.add_input(prog, fuzz_graphs.RandomChooser(0), x.shape, gj.float32, x)
    for spec, arg in (("relu", v), ("softplus", v), ("relu", v), ("cos", v + 2)):
        prog.nodes.append(fuzz_graphs.Step(spec, (arg,)))
        prog.types.append(prog.types[v])
    prog.outputs = [4]
    want = np.cos(np.logaddexp(0, x.astype(np.float64))).astype(np.float32)
    for toward in (np.inf, -np.inf):
        assert fuzz_check.check_outputs(prog, [np.nextafter(want, np.float32(toward))], [want]) == []
    assert fuzz_check.check_outputs(prog, [want * np.float32(1 + 2.0 ** -12)], [want]) != []


def test_the_checker_leaves_remainders_of_an_inexact_huge_dividend_unchecked():
    # fmod(pow(x, e), 1470568269) with pow(x, e) ~ 2e43: one ULP of the dividend (2^92) is many divisors, so
    # NumPy's pow and libm's, 1 ULP apart, give unrelated remainders; the two perturbed samples happened to
    # land close and a correct compiled value was flagged (benchmarks/fuzz.py seed 2). The remainder of an exact
    # dividend stays checked.
    import os
    import sys
    sys.path.insert(0, os.path.dirname(__file__))
    import fuzz_check
    import fuzz_graphs
    base, exponent = np.array([7.0, 7.0, 3.0]), np.array([51.3, 51.61, 2.0])
    divisor = np.full(3, 1470568269.0)
    prog = fuzz_graphs.Program()
    ch = fuzz_graphs.RandomChooser(0)
    for x in (base, exponent, divisor):
        fuzz_graphs.add_input(prog, ch, x.shape, gj.float64, x)
    for spec, args in (("pow", (0, 1)), ("fmod", (3, 2)), ("fmod", (0, 2))):
        prog.nodes.append(fuzz_graphs.Step(spec, args))
        prog.types.append(prog.types[0])
    prog.outputs = [4, 5]
    power = np.power(base, exponent)
    chaotic, exact = np.fmod(power, divisor), np.fmod(base, divisor)
    one_ulp_off = np.fmod(np.nextafter(power, np.inf), divisor)
    assert fuzz_check.check_outputs(prog, [one_ulp_off, exact], [chaotic, exact]) == []
    assert fuzz_check.check_outputs(prog, [chaotic + [0, 0, 1], exact], [chaotic, exact]) != []
    assert fuzz_check.check_outputs(prog, [chaotic, exact + [1, 0, 0]], [chaotic, exact]) != []


def test_the_checker_leaves_a_sorted_line_with_an_unchecked_element_unchecked():
    # sort(sin(expm1(x))) with expm1(88.5) ~ 2.7e38: that sine is unchecked (any value is right), and where the
    # compiled one sorted into another place the line's other elements shifted by one, while the perturbed
    # reference runs had sorted its NaN to the end (benchmarks/fuzz.py seed 4). Lines without one stay checked.
    import os
    import sys
    sys.path.insert(0, os.path.dirname(__file__))
    import fuzz_check
    import fuzz_graphs
    x = np.array([[88.5, 0.1], [0.1, 0.2], [0.2, 0.3], [0.3, 0.4], [-0.5, 0.5]], np.float32)
    prog = fuzz_graphs.Program()
    v = fuzz_graphs.add_input(prog, fuzz_graphs.RandomChooser(0), x.shape, gj.float32, x)
    for spec, arg, params in (("expm1", v, {}), ("sin", v + 1, {}), ("sort", v + 2, {"axis": 0, "descending": False})):
        prog.nodes.append(fuzz_graphs.Step(spec, (arg,), params))
        prog.types.append(prog.types[v])
    prog.outputs = [3]
    sines = np.sin(np.expm1(x.astype(np.float64))).astype(np.float32)
    want = np.sort(sines, axis=0)
    other = sines.copy()
    other[0, 0] = -0.99 if sines[0, 0] > 0 else 0.99
    assert fuzz_check.check_outputs(prog, [np.sort(other, axis=0)], [want]) == []
    wrong = want.copy()
    wrong[2, 1] += np.float32(1e-3)
    assert fuzz_check.check_outputs(prog, [wrong], [want]) != []


def _one_step_program(x, dtype, spec, params):
    fuzz_check, _, fuzz_graphs = _grad_checker()
    prog = fuzz_graphs.Program()
    v = fuzz_graphs.add_input(prog, fuzz_graphs.RandomChooser(0), x.shape, dtype, x)
    prog.nodes.append(fuzz_graphs.Step(spec, (v,), params))
    prog.types.append(fuzz_check.retyped(prog.nodes, [1]).types[1])
    prog.outputs = [1]
    compiled, interpreted = fuzz_check.run_backends([prog])
    return fuzz_check, prog, compiled[0], interpreted[0]


def test_the_checker_allows_a_reassociated_int64_mean_of_cancelling_huge_terms():
    # reduce_mean of int64 over axes [1, 3] sums float64 conversions: terms near +-2**63 cancel, so the compiled
    # order gave -0.3 and NumPy's pairwise order -1.1 where the exact mean is 10.2 (benchmarks/fuzz.py seed 20).
    # Both are within the reassociation bound of docs/numerics.md (n * 2^-53 * sum|x| per path, ~2e3 here: one
    # conversion of 2**63 - 1 alone rounds by 1); the checker allowed 0 between the backends.
    m = 2 ** 63
    x = np.zeros((2, 5, 3, 2), np.int64)
    terms = [[m - 1, 5], [100, m - 1], [1, -m], [-(m - 1), 8], [-9, -2]]
    x[0, :, 0, :] = terms
    fuzz_check, prog, compiled, interpreted = _one_step_program(x, gj.int64, "reduce_mean",
                                                                {"axis": [1, 3], "keepdims": False})
    exact = sum(v for row in terms for v in row) / 10
    bound = 11 * 2.0 ** -53 * sum(abs(float(v)) for row in terms for v in row) / 10
    assert exact == 10.2 and compiled[0, 0] != interpreted[0, 0]   # the backends do differ here
    for got in (compiled, interpreted):
        assert abs(got[0, 0] - exact) <= bound and not got[0, 1:].any() and not got[1].any()
    assert fuzz_check.check_outputs(prog, [compiled], [interpreted]) == []
    wrong = compiled.copy()
    wrong[0, 0] += 10 * bound   # well outside the bound: still flagged
    assert fuzz_check.check_outputs(prog, [wrong], [interpreted]) != []
    wrong = compiled.copy()
    wrong[1, 2] = 1e-3          # an element of exact zeros stays exact
    assert fuzz_check.check_outputs(prog, [wrong], [interpreted]) != []


def test_the_checker_leaves_a_mean_whose_partial_sums_may_overflow_unchecked():
    # reduce_mean of a float64 row holding +-1.8e308 twice each: the exact sum is 0, but partial sums overflow to
    # inf in some orders and not others, so the compiled lanes and NumPy's pairwise order give 0, inf or nan
    # (benchmarks/fuzz.py seed 2020). Where sum|finite x| exceeds the accumulator's range the element is
    # unchecked; a row whose terms cannot overflow stays checked, and an inf term still gives inf.
    big = np.finfo(np.float64).max
    x = np.zeros((3, 101))
    x[0, [75, 50]], x[0, [95, 46]] = big, -big
    x[1, :4] = [2.0, -1.0, 3.0, 0.5]
    x[2, 7] = np.inf
    with np.errstate(over="ignore", invalid="ignore"):
        fuzz_check, prog, compiled, interpreted = _one_step_program(x, gj.float64, "reduce_mean",
                                                                    {"axis": -1, "keepdims": False})
        want = np.mean(x, axis=-1)
    np.testing.assert_array_equal(interpreted[1:], want[1:])
    np.testing.assert_array_equal(compiled[2], np.inf)
    for row0 in (0.0, np.inf, -np.inf, np.nan, 5.0):
        assert fuzz_check.check_outputs(prog, [np.array([row0, *compiled[1:]])], [interpreted]) == [], row0
    assert fuzz_check.check_outputs(prog, [np.array([compiled[0], 4.5 / 101 + 1e-10, np.inf])],
                                    [interpreted]) != []
    assert fuzz_check.check_outputs(prog, [np.array([compiled[0], compiled[1], np.nan])], [interpreted]) != []


def test_the_checker_allows_a_float32_softmax_row_rounded_once_in_float64():
    # softmax of nearly equal logits [1e-7, -256, 1.2e-38]: the compiled row (compiler/mathlib's float32 exp, a
    # float64 sum and division) gives [0.50000006, 0, 0.5], NumPy's float32 arithmetic [0.5, 0, 0.49999997] (here
    # the correctly rounded row): 1 ULP apart, each within the contract (benchmarks/fuzz.py seed 21).
    # Perturbing logits that small moved p by nothing, so the checker allowed 0.65 ULP; p itself now moves by its
    # arithmetic's bound (fuzz_check.softmax_row_ulps: exp 4 ULP + the float32 sum + the division), and a p
    # off by 1e-4 is still flagged.
    x = np.array([1.0e-07, -2.5598289e+02, 1.1754944e-38], np.float32)
    fuzz_check, prog, compiled, interpreted = _one_step_program(x, gj.float32, "softmax", {"axis": -1})
    e = np.exp(x.astype(np.float64) - x.max())
    exact = e / e.sum()
    np.testing.assert_array_max_ulp(compiled, exact.astype(np.float32), maxulp=1)
    np.testing.assert_array_max_ulp(interpreted, exact.astype(np.float32), maxulp=1)
    assert not np.array_equal(compiled, interpreted)   # the case still differs by an ULP
    assert fuzz_check.check_outputs(prog, [compiled], [interpreted]) == []
    for off in ([1e-4, 0, 0], [-1e-4, 0, 1e-4], [0, 1e-42, 0]):   # the exp(-256) entry rounds to 0: its
        wrong = (compiled + np.array(off, np.float32)).astype(np.float32)  # denormal ULPs bound it
        assert fuzz_check.check_outputs(prog, [wrong], [interpreted]) != [], off


def test_the_checker_allows_float64_softmax_rows_summed_in_another_order():
    # the compiled float64 softmax row sums its exps with reassoc_add, NumPy pairwise: a row of [1, 1, -104,
    # -820] after a sort differs by 1 ULP (benchmarks/fuzz.py seed 17), while the uniform perturbation of equal
    # logits moved nothing and allowed 0 ULP. A p off by 1e-12 relative is still flagged.
    x = np.array([[[-1e-310, 0.0, -1074.80071, 778.800897], [1.0, 1.0, -104.0, -819.946569],
                   [-1424.02135, -4.0, 1162.51955, 1e-07]]])
    fuzz_check, prog, compiled, interpreted = _one_step_program(
        x, gj.float64, "sort", {"axis": 1, "descending": False})
    Step = fuzz_check.Step
    prog = fuzz_check.retyped([*prog.nodes, Step("softmax", (1,), {"axis": -1})], [2])
    compiled, interpreted = (r[0] for r in fuzz_check.run_backends([prog]))
    s = np.sort(x, axis=1)
    e = np.exp(s - s.max(-1, keepdims=True))
    np.testing.assert_allclose(compiled, e / e.sum(-1, keepdims=True), rtol=4e-16, atol=0)
    np.testing.assert_array_equal(interpreted, e / e.sum(-1, keepdims=True))   # the interpreter is NumPy's row
    assert fuzz_check.check_outputs(prog, [compiled], [interpreted]) == []
    wrong = compiled.copy()
    wrong[0, 1, 1] *= 1 + 1e-12
    assert fuzz_check.check_outputs(prog, [wrong], [interpreted]) != []


@pytest.mark.parametrize("dtype", [gj.float32, gj.float64])
def test_the_checker_still_catches_one_ulp_in_an_elementwise_result(dtype):
    # The reassociation and softmax bounds above are for sums and softmax rows only. Elementwise ops the checker
    # held bit-exact before stay so, also where their result feeds a sum: exact ops (negative, abs, maximum) in
    # both dtypes, and the correctly rounded ones (add, divide, sqrt) in float64 (a float32 one may round once
    # more than the float64 shadow: the round32 run allows that half ULP, as before), so one ULP injected into
    # one element is flagged.
    fuzz_check, _, fuzz_graphs = _grad_checker()
    rng = np.random.default_rng(5)
    x, y = (rng.uniform(-4.0, 4.0, (4, 6)).astype(dtype.np) for _ in range(2))
    Step = fuzz_graphs.Step
    specs = ["negative", "abs", "maximum"] + (["add", "divide", "sqrt"] if dtype is gj.float64 else [])
    for spec in specs:
        arity = 2 if spec in ("maximum", "add", "divide") else 1
        prog = fuzz_check.retyped([fuzz_graphs.Input(x), fuzz_graphs.Input(y), Step(spec, (0, 1)[:arity])], [2])
        compiled, interpreted = (r[0] for r in fuzz_check.run_backends([prog]))
        np.testing.assert_array_equal(compiled, interpreted)
        assert fuzz_check.check_outputs(prog, [compiled], [interpreted]) == []
        for toward in (np.inf, -np.inf):
            off = compiled.copy()
            off[0, 1] = np.nextafter(off[0, 1], dtype.np.type(toward))   # x, y > 0 there: sqrt is finite
            assert fuzz_check.check_outputs(prog, [off], [interpreted]) != [], (spec, toward)
    # a chain of them with a sum as its second output: the chain's elementwise result is still exact
    prog = fuzz_check.retyped([fuzz_graphs.Input(x), fuzz_graphs.Input(y), Step("maximum", (0, 1)),
                               Step("negative", (2,)), Step("reduce_sum", (3,), {"axis": -1, "keepdims": False})],
                              [3, 4])
    compiled, interpreted = fuzz_check.run_backends([prog])
    assert fuzz_check.check_outputs(prog, compiled, interpreted) == []
    off = compiled[0].copy()
    off[3, 0] = np.nextafter(off[3, 0], dtype.np.type(np.inf))
    assert fuzz_check.check_outputs(prog, [off, compiled[1]], interpreted) != []


def test_the_checker_allows_a_log_row_of_zeros_and_denormals_one_ulp_apart():
    # log_softmax of float64 [0, 1.25e-324, ..., 5e-324] is -log(5) in every element: mathlib's log_f64 gives
    # -1.6094379124341005, NumPy -1.6094379124341003, both within log's bound (benchmarks/fuzz.py seed 2212).
    # Perturbing denormal logits moved nothing, so the checker allowed 0 ULP; the log's own rounding now counts
    # (fuzz_check.LOG_ROW_ULPS), and a result off by 1e-12 is still flagged.
    x = np.linspace(0, 5e-324, 5)
    fuzz_check, prog, compiled, interpreted = _one_step_program(x, gj.float64, "log_softmax", {"axis": -1})
    np.testing.assert_array_max_ulp(compiled, np.full(5, -np.log(5.0)), maxulp=2)
    np.testing.assert_array_equal(interpreted, np.full(5, -np.log(5.0)))
    assert fuzz_check.check_outputs(prog, [compiled], [interpreted]) == []
    assert fuzz_check.check_outputs(prog, [compiled * (1 + 1e-12)], [interpreted]) != []



def test_the_checker_allows_a_float64_softmax_column_whose_logit_and_result_perturbations_cancel():
    # softmax over axis 0 of [-0.0, -0.14020217391928297] (float64, 4100 columns: the parallel row kernel) is
    # 0.4650067585737159 compiled and ...158 from NumPy, 1 ULP apart within softmax's bound (test_differential_fuzz,
    # hypothesis). The perturbed runs moved the logits and p with the same signs in every pattern, and the
    # logit's move lowered p1 by what p1's own raised it: a spread of 0. Operands now take other signs than the
    # result; p off by 1e-12 relative is still flagged.
    fuzz_check, _, fuzz_graphs = _grad_checker()
    x = np.repeat(np.array([[-0.0], [-0.14020217391928297]]), 4100, axis=1)
    prog = fuzz_check.retyped([fuzz_graphs.Input(x), fuzz_graphs.Step("softmax", (0,), {"axis": 0})], [1])
    compiled, interpreted = (r[0] for r in fuzz_check.run_backends([prog]))
    e = np.exp(x - x.max(0))
    np.testing.assert_array_max_ulp(compiled, e / e.sum(0), maxulp=2)
    np.testing.assert_array_equal(interpreted, e / e.sum(0))
    assert fuzz_check.check_outputs(prog, [compiled], [interpreted]) == []
    wrong = compiled.copy()
    wrong[1, 7] *= 1 + 1e-12
    assert fuzz_check.check_outputs(prog, [wrong], [interpreted]) != []


def test_the_checker_leaves_a_product_whose_partial_products_may_underflow_unchecked():
    # a float64 row of ones with 1e-40, 1e-40, 1e-300, inf, 1.2e-38, 1e300, 1e300, 3.4e38: the exact product is
    # inf; NumPy's order underflows a partial product to 0 before it meets inf (NaN), the compiled order gives inf
    # (benchmarks/fuzz.py seed 2510). Both are right: the element's value is unchecked (tests/fuzz_products.py),
    # but with an inf factor no order gives a finite product or -inf. The rows next to it stay checked, a wrong product there is flagged: ordinary factors (no partial product can
    # leave the range), an inf or a zero among them (inf, 0 in every order; a zero factor is not moved to a
    # denormal, which made 0 * 1e290 a spread of 4e-24), a product that overflows whatever the order (1e300 *
    # 1e300, nothing below 1), and a zero and an inf (NaN in every order).
    fuzz_check, _, fuzz_graphs = _grad_checker()
    x = np.ones((6, 101))
    x[0, [24, 30, 33, 46, 66, 69, 70, 88]] = [1e-40, 1e-40, 1e-300, np.inf, 1.1754944e-38, 1e300, 1e300, 3.4028235e38]
    x[1:, :] = np.random.default_rng(0).uniform(0.5, 2.0, (5, 101))
    x[2, 9], x[3, [50, 60]], x[4, [3, 4]], x[5, [0, 100]] = np.inf, [0.0, 1e290], 1e300, [0.0, -np.inf]
    prog = fuzz_check.retyped([fuzz_graphs.Input(x), fuzz_graphs.Step("reduce_prod", (0,), {"axis": [1],
                                                                                           "keepdims": False})], [1])
    compiled, interpreted = (r[0] for r in fuzz_check.run_backends([prog]))
    with np.errstate(all="ignore"):
        want = np.prod(x, axis=1)
    assert np.isnan(want[0]) and np.isinf(want[2]) and want[3] == 0 and np.isinf(want[4]) and np.isnan(want[5])
    np.testing.assert_allclose(compiled[1], want[1], rtol=1e-13)
    np.testing.assert_array_equal(compiled[2:], want[2:])
    assert fuzz_check.check_outputs(prog, [compiled], [interpreted]) == []
    for row0 in (np.nan, np.inf):
        assert fuzz_check.check_outputs(prog, [np.array([row0, *compiled[1:]])], [interpreted]) == [], row0
    for row, wrong in ((0, 0.0), (0, 1.0), (0, -np.inf), (1, want[1] * (1 + 1e-9)), (1, np.inf), (2, np.nan), (3, np.nan), (3, 1e-300), (4, np.nan),
                       (4, np.finfo(np.float64).max), (5, np.inf)):
        off = compiled.copy()
        off[row] = wrong
        assert fuzz_check.check_outputs(prog, [off], [interpreted]) != [], (row, wrong)


def test_the_checker_flags_a_product_of_zero_and_inf_that_is_not_nan():
    # reduce_prod(exp2(v)) of float64 v = [-1409.3, -8, 0.5, 1e-300, 1339.6, -3]: exp2 underflows to 0 and
    # overflows to inf, so the product is NaN in every order; the compiled kernel returned 7.18e-25, exp2 of the
    # sum (benchmarks/fuzz.py seed 303; tests/test_fuzz_regressions.py). No order makes that right. The perturbed
    # runs let exp2 return a denormal for 2^-1409 (within its ULPs), and then the product's order decides between
    # inf and NaN, so its value is unchecked, but a finite product is in no order's classes.
    fuzz_check, _, fuzz_graphs = _grad_checker()
    v = np.array([[-1409.31182, -8.0], [0.5, 1e-300], [1339.60769, -3.0]])
    prog = fuzz_check.retyped([fuzz_graphs.Input(v), fuzz_graphs.Step("exp2", (0,)),
                               fuzz_graphs.Step("reduce_prod", (1,), {"axis": None, "keepdims": False})], [2])
    with np.errstate(all="ignore"):
        want = np.prod(np.exp2(v))
    assert np.isnan(want)
    assert fuzz_check.check_outputs(prog, [np.array(want)], [np.array(want)]) == []
    problems = fuzz_check.check_outputs(prog, [np.array(7.180440600057648e-25)], [np.array(want)])
    assert any("compiled vs interpreter" in p for p in problems), problems
