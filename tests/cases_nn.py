"""Value cases for softmax, log_softmax, sparse_softmax_cross_entropy_with_logits and l2_loss.

References work in float64 with ``np.logaddexp.reduce`` (pairwise logaddexp, not the ops' max-shift) and
cast to the input dtype. Tolerances: float64 1e-12. float32 softmax 1e-6 relative; float32 log-softmax and
cross-entropy also get atol 1e-6 because results near 0 (a dominant logit) carry the absolute rounding
error of the float32 log, which is large relative to the tiny result.
"""
import numpy as np

import graphjit as gj

from support import Case

_rng = np.random.default_rng(5)
FLOATS = ("float32", "float64")
RTOL = {"float32": 1e-6, "float64": 1e-12}
ATOL = {"float32": 1e-6, "float64": 1e-12}


def logsumexp64(x, axis):
    with np.errstate(invalid="ignore"):
        return np.logaddexp.reduce(x.astype(np.float64), axis=axis, keepdims=True)


def ref_log_softmax(x, axis=-1):
    with np.errstate(invalid="ignore"):  # all -inf rows: -inf - -inf is NaN, as TF gives
        return (x.astype(np.float64) - logsumexp64(x, axis)).astype(x.dtype)


def ref_softmax(x, axis=-1):
    with np.errstate(invalid="ignore"):
        return np.exp(x.astype(np.float64) - logsumexp64(x, axis)).astype(x.dtype)


def ref_xent(labels, logits):
    out = np.empty(labels.shape, logits.dtype)
    for index in np.ndindex(labels.shape):
        row = logits[index].astype(np.float64)
        out[index] = np.logaddexp.reduce(row) - row[labels[index]]
    return out


# Rows: ordinary, large (no overflow), some -inf (probability 0), all -inf (NaN), a NaN (NaN row).
EDGE = np.array([[1.0, 2.0, 3.0, -1.0], [1000.0, 999.0, -1000.0, 1000.0], [-np.inf, 0.0, 1.0, -np.inf],
                 [-np.inf, -np.inf, -np.inf, -np.inf], [np.nan, 1.0, 2.0, 3.0]])

CASES = []
for _dtype in FLOATS:
    _x = _rng.normal(0.0, 3.0, (2, 3, 4)).astype(_dtype)
    for _op, _fn, _ref, _atol in (("softmax", gj.nn.softmax, ref_softmax, 0.0),
                                  ("log_softmax", gj.nn.log_softmax, ref_log_softmax, ATOL[_dtype])):
        for _axis in (None, -1, 0, 1):
            _kwargs = {} if _axis is None else {"axis": _axis}
            _reference = (lambda x, ref=_ref: ref(x)) if _axis is None else _ref
            CASES.append(Case((_op,), _fn, (_x,), _reference, rtol=RTOL[_dtype], atol=_atol, kwargs=_kwargs,
                              name=f"{_op}-{_dtype}-axis={_axis}"))
        CASES.append(Case((_op,), _fn, (EDGE.astype(_dtype),), _ref, rtol=RTOL[_dtype], atol=_atol,
                          name=f"{_op}-{_dtype}-edge-rows"))
        CASES.append(Case((_op,), _fn, (np.zeros((0, 3), _dtype),), _ref, name=f"{_op}-{_dtype}-empty"))
CASES += [
    Case(("softmax",), gj.math.softmax, (np.float32([0.5, -0.5]),), ref_softmax, name="math.softmax-1d"),
    Case(("log_softmax",), gj.math.log_softmax, (np.float64([0.5, -0.5]),), ref_log_softmax, rtol=1e-12,
         name="math.log_softmax-1d"),
]

# ---- sparse softmax cross-entropy --------------------------------------------------------------------------
_xent = gj.nn.sparse_softmax_cross_entropy_with_logits
for _dtype in FLOATS:
    for _label_dtype in ("int32", "int64"):
        _logits = _rng.normal(0.0, 3.0, (6, 5)).astype(_dtype)
        _labels = _rng.integers(0, 5, (6,)).astype(_label_dtype)
        CASES.append(Case(("sparse_softmax_cross_entropy_with_logits",),
                          lambda labels, logits: _xent(labels=labels, logits=logits),
                          (_labels, _logits), ref_xent, rtol=RTOL[_dtype], atol=ATOL[_dtype],
                          name=f"xent-{_dtype}-labels-{_label_dtype}"))
    # Labels of rank 2 and of rank 0; a -inf logit on another class; large logits; a label on a -inf logit.
    _edge = np.array([[1000.0, -1000.0, 999.0], [-np.inf, 0.0, 1.0], [-np.inf, 0.0, 1.0]], _dtype)
    CASES += [
        Case(("sparse_softmax_cross_entropy_with_logits",), _xent,
             (np.int64([[0, 1], [2, 0]]), _rng.normal(0.0, 1.0, (2, 2, 3)).astype(_dtype)), ref_xent,
             rtol=RTOL[_dtype], atol=ATOL[_dtype], name=f"xent-{_dtype}-rank2-labels"),
        Case(("sparse_softmax_cross_entropy_with_logits",), _xent, (np.int32(2), np.array([0.5, 1.0, -1.0], _dtype)),
             ref_xent, rtol=RTOL[_dtype], atol=ATOL[_dtype], name=f"xent-{_dtype}-scalar-label"),
        Case(("sparse_softmax_cross_entropy_with_logits",), _xent, (np.int32([0, 2, 0]), _edge), ref_xent,
             rtol=RTOL[_dtype], atol=ATOL[_dtype], name=f"xent-{_dtype}-edge"),
        Case(("sparse_softmax_cross_entropy_with_logits",), _xent, (np.zeros((0,), np.int32), np.zeros((0, 3), _dtype)),
             ref_xent, name=f"xent-{_dtype}-empty-batch"),
    ]

# ---- l2_loss: a composite of square, reduce_sum and multiply -----------------------------------------------
for _dtype in FLOATS:
    _t = _rng.normal(0.0, 2.0, (3, 4)).astype(_dtype)
    CASES.append(Case(("square", "reduce_sum", "multiply"), gj.nn.l2_loss, (_t,),
                      lambda t: np.asarray(np.sum(t.astype(np.float64) ** 2) / 2).astype(t.dtype), rtol=RTOL[_dtype],
                      name=f"l2_loss-{_dtype}"))
CASES.append(Case(("square", "reduce_sum", "multiply"), gj.nn.l2_loss, (np.float32([np.inf, 1.0]),),
                  lambda t: np.float32(np.inf), name="l2_loss-inf"))
CASES.append(Case(("square", "reduce_sum", "multiply"), gj.nn.l2_loss, (np.zeros((0,), np.float64),),
                  lambda t: np.float64(0.0), name="l2_loss-empty"))
