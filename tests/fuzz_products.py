"""Products whose partial products may leave the accumulator's range (tests/fuzz_check.py's perturbed runs).

Products reassociate (docs/numerics.md), and NumPy multiplies float32 factors in float32 where the compiled loop
does in float64: the partial products of some order lie anywhere between the product of the factors below 1 in
magnitude and that of those above 1 (any subset of the factors may be multiplied first). Where the latter may
pass the accumulator's largest value, some order overflows (inf, or NaN against a zero factor) and another does
not; where the former may fall below its smallest normal, some order underflows (0, NaN against an inf factor,
or a denormal that loses digits) and another does not: a row of 1e-40, 1e-300, inf, 1e300 gave NaN from NumPy
and inf compiled, both right (benchmarks/fuzz.py seed 2510). Those elements' values are unchecked.

Their classes still are: ``order_dependent`` also says which of NaN / +-inf / finite some order gives, and
fuzz_check compares a product's output element with that set. A product with an inf factor is +-inf or NaN in
any order, never finite; reduce_prod(exp2(v)) of factors 0 and inf came back 7.2e-25 compiled, exp2 of the sum,
where NaN is the only right answer (seed 303). The sign of an infinite (or zero) product is the factors' in
every order. Where no order can overflow or underflow the element stays checked as any other, and so does a
product that is the same in every order: a NaN factor, a zero and an inf (NaN), an inf factor where nothing
can underflow (inf), a zero factor where nothing can overflow (0), and a product whose exact value overflows
where nothing can underflow (inf).
"""
import numpy as np

import graphjit as gj

from fuzz_graphs import SPECS

REASSOCIATED_PRODUCTS = {"reduce_prod"}
# Bits of the classes fuzz_check._classes numbers: finite 0, NaN 1, +inf 2, -inf 3.
FINITE, NAN, POS_INF, NEG_INF = (1 << c for c in range(4))


def class_bits(classes):
    """fuzz_check._classes' numbers as the bits above."""
    return np.left_shift(1, classes)


def order_dependent(y_shape, node, x, operand_dtype):
    """(the elements of a reduce_prod of ``x`` (this run's operand) over ``node.params``' axes whose value
    depends on the order of the multiplications, the class bits some order gives there, 0 elsewhere)."""
    if x.dtype.kind != "f" or x.size == 0 or np.prod(y_shape) == 0:
        return np.zeros(y_shape, bool), np.zeros(y_shape, np.int64)
    x = x.astype(np.float64)
    n = x.size // int(np.prod(y_shape))
    accumulator = np.finfo(np.float32 if operand_dtype == np.float32 else np.float64)
    # log2 of a computed partial product is the sum of its factors' log2 within one rounding per multiplication
    margin = 2 * n * float(accumulator.eps) + 1e-9

    def over_row(values):
        reduced = SPECS["reduce_sum"].apply([gj.convert_to_tensor(values)], node.params, True)
        return np.broadcast_to(np.asarray(reduced.numpy()), y_shape)

    with np.errstate(all="ignore"):
        sized = np.isfinite(x) & (x != 0)
        log2 = np.where(sized, np.log2(np.where(sized, np.abs(x), 1.0)), 0.0)
        has_nan, has_zero, has_inf, negative = (over_row(m.astype(np.float64)) for m in (
            np.isnan(x), x == 0, np.isinf(x), np.signbit(x) & ~np.isnan(x)))
        has_nan, has_zero, has_inf = has_nan > 0, has_zero > 0, has_inf > 0
        may_overflow = over_row(np.maximum(log2, 0.0)) > np.log2(float(accumulator.max)) - margin
        may_underflow = over_row(np.minimum(log2, 0.0)) < np.log2(float(accumulator.tiny)) + margin
        overflows_anyway = over_row(log2) > np.log2(float(accumulator.max)) + margin
    inf = np.where(np.fmod(negative, 2) == 1, NEG_INF, POS_INF)
    same_in_every_order = has_nan | (has_zero & has_inf)
    lost = ~same_in_every_order & np.where(has_inf, may_underflow, np.where(
        has_zero, may_overflow, may_underflow | (may_overflow & ~overflows_anyway)))
    classes = np.where(has_inf, inf | NAN, np.where(
        has_zero, FINITE | NAN,
        FINITE | np.where(may_overflow, inf | np.where(may_underflow, NAN, 0), 0)))
    return lost, np.where(lost, classes, 0)
