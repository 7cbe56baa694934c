"""Gradients taken by gj.GradientTape against float64 central finite differences (tests/test_autodiff.py,
tests/test_autodiff_rules.py).

The tape differentiates ``sum(fn(*xs) * w)`` for fixed random weights ``w`` in [0.5, 1.5] (so every output
element counts, each differently: a rule that sums or swaps output positions is caught), and the same scalar is
differenced with ``h = 1e-6`` in float64: the central difference's error is O(h^2) times the third derivative plus
about 1e-16 / h of rounding, far below the default rtol 1e-6 / atol 1e-8 for the smooth inputs the tests choose
(away from kinks, poles and discontinuities)."""
import numpy as np

import graphjit as gj

H = 1e-6
RTOL, ATOL = 1e-6, 1e-8


def weighted_sum(fn, weights):
    return lambda *xs: gj.reduce_sum(fn(*xs) * weights)


def numeric_gradient(fn, arrays, k, h=H, wrap=gj.constant):
    """Central differences of scalar ``fn`` (on NumPy float64 arrays, each passed through ``wrap``: a tensor by
    default, ``np.asarray`` for a NumPy reference) with respect to argument ``k``."""
    x = arrays[k]
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        up, down = [a.copy() for a in arrays], [a.copy() for a in arrays]
        up[k][index] += h
        down[k][index] -= h
        grad[index] = (float(fn(*[wrap(a) for a in up])) - float(fn(*[wrap(a) for a in down]))) / (2 * h)
    return grad


def check_gradients(fn, *arrays, none=(), rtol=RTOL, atol=ATOL, seed=None):
    """The tape's gradient of sum(fn(*xs) * w) equals finite differences for every float64 argument, except
    those listed in ``none``, whose gradient must be None (no gradient flows to them). Returns the gradients."""
    rng = np.random.default_rng(len(arrays) if seed is None else seed)
    out_shape = np.shape(np.asarray(fn(*[gj.constant(a) for a in arrays])))
    scalar = weighted_sum(fn, gj.constant(rng.uniform(0.5, 1.5, out_shape)))
    tensors = [gj.constant(a) for a in arrays]
    with gj.GradientTape() as tape:
        tape.watch(tensors)
        value = scalar(*tensors)
    grads = tape.gradient(value, tensors)
    for k, (array, grad) in enumerate(zip(arrays, grads)):
        if k in none:
            assert grad is None, f"argument {k}: a gradient where none should flow"
            continue
        assert grad is not None, f"argument {k}: no gradient"
        assert tuple(grad.shape) == array.shape and grad.dtype is gj.float64
        np.testing.assert_allclose(np.asarray(grad), numeric_gradient(scalar, list(arrays), k), rtol=rtol, atol=atol,
                                   err_msg=f"argument {k}")
    return grads


def away_from(values, points, margin=0.05):
    """``values`` nudged off ``points`` (kinks, poles), so finite differences see a smooth function."""
    for p in points:
        close = np.abs(values - p) < margin
        values = np.where(close, p + margin * np.where(values >= p, 1.0, -1.0), values)
    return values
