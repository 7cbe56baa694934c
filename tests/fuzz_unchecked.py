"""Which elements of a fuzzed op's result depend on an unchecked element of its operands (tests/fuzz_check.py).

A perturbed shadow run leaves an element unchecked where it shows that a correct implementation may return
anything there (a periodic op whose operand's allowed error spans part of a period, a remainder of a huge
quotient, a sum that may overflow in some order). The checker carries that as a boolean mask beside each value,
not as a NaN in the value: a NaN marker is read as a value by the ops after it (logical_and(NaN, x) is True,
pow(NaN, 0) is 1, NaN < x is False), which both checked elements that depended on lost ones and lost elements
that did not (benchmarks/fuzz.py seeds 91 and 93).

``propagate(spec_name, params, args, masks, out_shape)``: the result's mask, from the operands' values
(``args``, NumPy arrays, for index operands) and masks. An element is unchecked where any operand element it
depends on is: elementwise by broadcasting, moves and selections by where they take the element from,
reductions over the reduced axes, scans along the prefix, rows (sorts, softmax) along their axis, products by
row and column; where by the branch this run's condition selects, logical_and/or by this run's other
operand (an unchecked element next to False in logical_and does not matter). A rule errs on the side of more
dependence, never less: an op without a rule of its own (``DEPENDENCE``) makes its whole result unchecked
where any operand element is, and an index operand with an unchecked element does the same (the fuzzer draws
index operands as inputs, so they never have one).
"""
import numpy as np

import graphjit as gj
from graphjit.tracer.registry import OPS

from fuzz_graphs import SPECS


def _elementwise(params, args, masks, out_shape, spec_name):
    out = np.zeros(out_shape, bool)
    for m in masks:
        out |= np.broadcast_to(m, out_shape)
    return out


def _selected(params, args, masks, out_shape, spec_name):
    """where(c, x, y): c's element, and the one of x and y that this run's c selects (x and y may be attributes)."""
    rest = list(masks[1:])
    x = np.zeros((), bool) if "x" in params else rest.pop(0)
    y = np.zeros((), bool) if "y" in params else rest.pop(0)
    return np.broadcast_to(masks[0] | np.where(args[0].astype(bool), x, y), out_shape)


def _absorbing(absorber):
    """logical_and (absorber False) and logical_or (True): an unchecked operand element does not matter where
    this run's other operand is the absorber (logical_and(False, anything) is False)."""
    def rule(params, args, masks, out_shape, spec_name):
        if len(args) == 1:       # the other operand an attribute
            scalar_absorbs = bool(params["scalar"]) == absorber
            return np.broadcast_to(masks[0] & (not scalar_absorbs), out_shape)
        (a, b), (am, bm) = (x.astype(bool) for x in args), masks
        return np.broadcast_to((am & bm) | (am & (b != absorber)) | (bm & (a != absorber)), out_shape)
    return rule


def _moved(params, args, masks, out_shape, spec_name):
    """The op itself moves the operands' masks (every operand is data: reshape, transpose, concat, tile, ...)."""
    moved = SPECS[spec_name].apply([gj.convert_to_tensor(m) for m in masks], params, False)
    return np.asarray(moved.numpy(), bool)


def _indexed(data, index):
    """A rule for ops whose operands ``index`` are indices: the op applied to the data operands' masks (as
    float 0/1, positive where the result takes an unchecked element, added or moved), the real indices."""
    def rule(params, args, masks, out_shape, spec_name):
        if any(masks[i].any() for i in index):
            return np.ones(out_shape, bool)
        operands = [gj.convert_to_tensor(masks[i].astype(np.float64) if i in data else args[i])
                    for i in range(len(args))]
        return np.asarray(SPECS[spec_name].apply(operands, params, False).numpy()) > 0
    return rule


def _gather(params, args, masks, out_shape, spec_name):
    if masks[1].any():
        return np.ones(out_shape, bool)
    return np.asarray(gj.gather(gj.convert_to_tensor(masks[0]), gj.convert_to_tensor(args[1]),
                                axis=params["axis"]).numpy(), bool)


def _getitem(params, args, masks, out_shape, spec_name):
    if len(args) > 1 and masks[1].any():
        return np.ones(out_shape, bool)
    operands = [gj.convert_to_tensor(masks[0])] + [gj.convert_to_tensor(a) for a in args[1:]]
    return np.asarray(SPECS[spec_name].apply(operands, params, False).numpy(), bool)


def _reduced(params, args, masks, out_shape, spec_name):
    axis = params["axis"]
    axis = tuple(axis) if isinstance(axis, (list, tuple)) else axis
    return np.broadcast_to(np.any(masks[0], axis=axis, keepdims=params["keepdims"]), out_shape)


def _scanned(params, args, masks, out_shape, spec_name):
    """cumsum/cumprod: the prefix (or suffix, exclusive or not) the scan itself adds up."""
    counts = OPS["cumsum"].bind(gj.convert_to_tensor(masks[0].astype(np.float64)), axis=params["axis"],
                                exclusive=params["exclusive"], reverse=params["reverse"])
    return np.asarray(counts.numpy()) > 0


def _rows(params, args, masks, out_shape, spec_name):
    """Sorts and softmax: every element of a line along ``axis`` depends on the whole line."""
    return np.broadcast_to(np.any(masks[0], axis=params["axis"], keepdims=True), out_shape)


def _cross_entropy(params, args, masks, out_shape, spec_name):
    labels, logits = masks
    return labels | np.any(logits, axis=-1)


def _product(product):
    """matmul/tensordot: one operand's 0/1 mask against the other's ones, each way, positive where a row or
    column the result sums over has an unchecked element."""
    def rule(params, args, masks, out_shape, spec_name):
        a, b = (gj.convert_to_tensor(m.astype(np.float64)) for m in masks)
        ones_a, ones_b = (gj.convert_to_tensor(np.ones(m.shape)) for m in masks)
        total = product(a, ones_b, params).numpy() + product(ones_a, b, params).numpy()
        return np.broadcast_to(np.asarray(total) > 0, out_shape)
    return rule


def _linspace(params, args, masks, out_shape, spec_name):
    ends = np.broadcast_to(masks[0], np.broadcast_shapes(masks[0].shape, masks[1].shape)) | masks[1]
    return np.broadcast_to(np.expand_dims(ends, params["axis"]), out_shape)


def _created(params, args, masks, out_shape, spec_name):
    return np.zeros(out_shape, bool)


def _whole(params, args, masks, out_shape, spec_name):
    return np.full(out_shape, any(m.any() for m in masks))


DEPENDENCE = {
    **{name: _elementwise for name in ("clip", "cast", "fill")},
    "where": _selected,
    "logical_and": _absorbing(False), "logical_or": _absorbing(True),
    **{name: _moved for name in ("reshape", "transpose", "expand_dims", "squeeze", "broadcast_to", "tile",
                                 "slice", "strided_slice", "concat", "stack")},
    "getitem": _getitem,
    "gather": _gather,
    "scatter_add": _indexed(data=(0, 2), index=(1,)),
    "strided_scatter": _indexed(data=(0, 1), index=()),
    **{name: _reduced for name in ("reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod",
                                   "reduce_any", "reduce_all", "reduce_logsumexp", "argmax", "argmin")},
    "cumsum": _scanned, "cumprod": _scanned,
    **{name: _rows for name in ("sort", "argsort", "softmax", "log_softmax")},
    "sparse_softmax_cross_entropy_with_logits": _cross_entropy,
    "matmul": _product(lambda a, b, params: gj.matmul(a, b, **params)),
    "tensordot": _product(lambda a, b, params: gj.tensordot(a, b, axes=[list(params["axes"][0]),
                                                                         list(params["axes"][1])])),
    "linspace": _linspace,
    # the value does not depend on the operands' values: shape is the operand's static shape
    **{name: _created for name in ("zeros", "ones", "constant", "eye", "range", "shape")},
}


def rule_of(spec_name):
    """The dependence rule of a spec: its own, elementwise for the ops fuzzed as elementwise (fuzz_specs_math's
    elementwise_spec, attributes-free ops found by probing), else the whole result."""
    if spec_name in DEPENDENCE:
        return DEPENDENCE[spec_name]
    if SPECS[spec_name]._make.__qualname__.startswith("elementwise_spec."):
        return _elementwise
    return _whole


def propagate(spec_name, params, args, masks, out_shape):
    """The unchecked mask of one op's result (see the module docstring)."""
    if not any(m.any() for m in masks):
        return np.zeros(out_shape, bool)
    out = rule_of(spec_name)(params, args, masks, tuple(out_shape), spec_name)
    assert out.shape == tuple(out_shape) and out.dtype == bool, (spec_name, out.shape, out_shape)
    return out
