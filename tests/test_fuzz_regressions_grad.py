"""Failures the gradient fuzzer found (benchmarks/fuzz.py --grad, tests/fuzz_grad.py): gradient rules against
NumPy references, and the gradient checker's tolerances and skips."""
from collections import Counter

import numpy as np

import graphjit as gj

from support import both_backends as _both, both_backends_lists as _both_many, fuzz_modules as _grad_checker


def test_copysign_of_a_bool_magnitude_gives_its_float_sign_operand_no_gradient():
    # copysign(bool, float) is a float; its rule took sign() of the bool magnitude for a gradient the tape drops
    # anyway (bool operands carry none), and sign refuses bools: tape.gradient raised InvalidArgumentError
    # "sign(bool[3]): sign does not accept dtype(s) bool" (eager and traced alike). The sign operand only flips
    # the result's sign, so it gets no gradient: zeros with unconnected_gradients="zero".
    magnitude = np.array([True, False, True])
    sign = np.array([0.5, -2.0, -0.0], np.float32)

    def gradient(m, s):
        with gj.GradientTape() as tape:
            tape.watch(s)
            y = gj.math.copysign(m, s)
            total = gj.reduce_sum(y)
        return y, tape.gradient(total, s, unconnected_gradients="zero")

    y, g = gradient(gj.constant(magnitude), gj.constant(sign))
    np.testing.assert_array_equal(y.numpy(), np.copysign(magnitude, sign))
    np.testing.assert_array_equal(g.numpy(), np.zeros(3, np.float32))
    compiled, interpreted = _both_many(lambda m, s: list(gradient(m, s)), magnitude, sign)
    for got in (compiled, interpreted):
        np.testing.assert_array_equal(got[0], np.copysign(magnitude, sign))
        np.testing.assert_array_equal(got[1], np.zeros(3, np.float32))


def test_arctan2_gradient_with_a_large_integer_operand_is_computed_in_the_result_dtype():
    # arctan2(float, int) is a float, and its rule's a * a + b * b squared the integer operand in its own dtype:
    # 46341 ** 2 wraps in int32 and 1.2e17 ** 2 in int64, so d/da was -1.07e9 where b / (a*a + b*b) is -4.7e-10
    # (benchmarks/fuzz.py --grad on the forward fuzzer's special values, seed 91: 0.01212 against central
    # differences of 0.01041 for arctan2(x, -120717950954527847)).
    a = np.array([0.5, -4.05, 1.25])
    for ints in (np.array([46341, -2147483647, 7], np.int32), np.array([-120717950954527847, 3000000000, -7])):
        def gradient(x, n):
            with gj.GradientTape() as tape:
                tape.watch(x)
                total = gj.reduce_sum(gj.math.atan2(x, n))
            return tape.gradient(total, x)
        want = ints.astype(np.float64) / (a * a + ints.astype(np.float64) ** 2)
        np.testing.assert_allclose(gradient(gj.constant(a), gj.constant(ints)).numpy(), want, rtol=1e-15)
        compiled, interpreted = _both(gradient, a, ints)
        np.testing.assert_allclose(compiled, want, rtol=1e-15)
        np.testing.assert_allclose(interpreted, want, rtol=1e-15)


def test_the_grad_checker_allows_a_softmax_near_one_rounded_one_ulp_apart():
    # xent(labels, sort(1 / x)) where a row's label is its largest logit by ~10: softmax there is 1 - 2.8e-5, and
    # the rule's p - one_hot cancels, so p one float32 ULP apart (the compiled row kernel against NumPy: both
    # within softmax's bound) is 2e-3 apart in the gradient. The perturbed runs moved only softmax's operands
    # (its Tol is on "in"), which cannot move a p near 1 by an ULP: "compiled vs interpreter ... 0.0010074257,
    # want 0.0010096303 (tolerance 7e-09)" (benchmarks/fuzz.py --grad seed 71). They now round the result too.
    fuzz_check, fuzz_grad, fuzz_graphs = _grad_checker()
    x = np.array([[[[-0.37216666, -0.03144043, -0.26847056]], [[-0.03573794, 0.25786608, 0.51700675]],
                   [[0.6468916, 0.57973963, 0.10828185]]],
                  [[[-0.7478667, -0.01923344, -0.6833863]], [[0.2060273, 0.56748474, 0.21023367]],
                   [[0.20450525, 0.18904006, 1.0163559]]],
                  [[[0.38403153, 0.32903507, -1.0466827]], [[0.1214226, -0.41880566, -0.22170228]],
                   [[-0.5402445, 0.28681135, 0.56116164]]]], np.float32)
    labels = np.array([[[0], [1], [0]], [[0], [2], [0]], [[1], [2], [2]]], np.int64)
    Step = fuzz_graphs.Step
    prog = fuzz_check.retyped([fuzz_graphs.Input(x), Step("reciprocal", (0,)),
                               Step("sort", (1,), {"axis": 3, "descending": False}), fuzz_graphs.Input(labels),
                               Step("sparse_softmax_cross_entropy_with_logits", (3, 2), {"bad": False})], [4])
    assert fuzz_grad.check_grad_batch([prog]) == []
    eager = fuzz_grad.eager_gradients(prog)
    off = [eager[0].copy()]
    off[0][2, 1, 0, 0] *= np.float32(1.1)   # ten percent off at the cancelling element is still flagged
    assert any("compiled vs interpreter" in m for m in fuzz_grad._compare_gradients(prog, off, eager, eager))


def test_the_grad_checker_skips_finite_differences_at_a_tie_of_sort():
    # sort of a broadcast (every row the same): each column's elements tie, the rule passes the gradient through
    # the stable argsort while central differences average the orders on both sides: "directional derivative
    # -4.877, central differences -3.980" (seed 71). A tie is a kink of sort: the local gradient, on an upstream
    # of distinct values (on ones any order looks alike), shows the order change and the differences are skipped.
    fuzz_check, fuzz_grad, fuzz_graphs = _grad_checker()
    ties = np.broadcast_to(np.array([0.522927, 0.48240957, 0.47376466, -0.32716328], np.float32), (4, 4))
    sort = fuzz_graphs.Step("sort", (0,), {"axis": 0, "descending": False})
    prog = fuzz_check.retyped([fuzz_graphs.Input(ties), sort], [1])
    stats = Counter()
    assert fuzz_grad.check_grad_batch([prog], stats) == []
    assert stats["checked"] == 1 and stats["fd skipped: kink at sort"] == 1


def test_the_grad_checker_skips_finite_differences_that_do_not_converge():
    # tan(sinh(x ** x)) at x = 3.373: sinh(60) = 5.7e25 radians, so tan turns through ~1e19 periods within the
    # step h = 1.7e-6: the tape's 2.07e27 against central differences of -3.1e6 (h/2) and -3.4e6 (h) (seed 71).
    # Differences that change by more than 1% when h halves have not converged and prove nothing either way;
    # at x = 1.5 the same program is checked.
    fuzz_check, fuzz_grad, fuzz_graphs = _grad_checker()
    Step = fuzz_graphs.Step
    for x, checked in ((3.3730268, 0), (1.5, 1)):
        nodes = [fuzz_graphs.Input(np.array([x], np.float32)), Step("pow", (0, 0)), Step("sinh", (1,)),
                 Step("tan", (2,))]
        stats = Counter()
        assert fuzz_grad.check_grad_batch([fuzz_check.retyped(nodes, [3])], stats) == []
        assert stats["fd checked"] == checked
        assert stats["fd skipped: no convergence (a singularity within h)"] == 1 - checked

