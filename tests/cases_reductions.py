"""Value cases for reductions (see support.Case): every op over every dtype it accepts, axis None / int /
negative / tuple / list / (), keepdims both ways, edge values and empty arrays.

References compute in int64 or float64 and cast to the dtype NumPy 2 gives, spelled out below, so a wrong
dtype rule fails even when the values agree.
"""
import numpy as np

import graphjit as gj

from support import Case, int_edge_values

_rng = np.random.default_rng(7)
DTYPES = ("bool", "int32", "int64", "float32", "float64")
TOL = {"float32": 1e-6, "float64": 1e-12}


def sample(dtype, shape=(2, 3, 4)):
    if dtype == "bool":
        return _rng.random(shape) > 0.5
    if dtype.startswith("int"):
        return _rng.integers(-5, 6, shape).astype(dtype)
    # Values in [0.5, 2): no cancellation, so float32 sums/products stay within rtol 1e-6 of float64.
    return _rng.uniform(0.5, 2.0, shape).astype(dtype)


def np_axis(axis):
    return tuple(axis) if isinstance(axis, list) else axis


def wide(x):
    """int64 for bool/ints, float64 for floats: the reference accumulates exactly or in double precision."""
    return x.astype(np.float64 if x.dtype.kind == "f" else np.int64)


# NumPy 2's result dtypes (64-bit Linux), written out independently of the rules' NumPy probe.
SUM_DTYPE = {"bool": "int64", "int32": "int64", "int64": "int64", "float32": "float32", "float64": "float64"}
MEAN_DTYPE = {"bool": "float64", "int32": "float64", "int64": "float64", "float32": "float32", "float64": "float64"}
SAME_DTYPE = {d: d for d in DTYPES}
BOOL_DTYPE = {d: "bool" for d in DTYPES}


def _ref_sum(x, axis=None, keepdims=False, out="int64"):
    return np.sum(wide(x), axis=np_axis(axis), keepdims=keepdims).astype(out)


def _ref_prod(x, axis=None, keepdims=False, out="int64"):
    return np.prod(wide(x), axis=np_axis(axis), keepdims=keepdims).astype(out)


def _ref_mean(x, axis=None, keepdims=False, out="float64"):
    axes = range(x.ndim) if axis is None else [axis] if isinstance(axis, int) else axis
    count = int(np.prod([x.shape[a] for a in axes]))
    with np.errstate(all="ignore"):
        return (np.sum(x.astype(np.float64), axis=np_axis(axis), keepdims=keepdims) / count).astype(out)


def _ref_max(x, axis=None, keepdims=False, out=None):
    return np.asarray(np.maximum.reduce(x, axis=np_axis(axis), keepdims=keepdims)).astype(out)


def _ref_min(x, axis=None, keepdims=False, out=None):
    return np.asarray(np.minimum.reduce(x, axis=np_axis(axis), keepdims=keepdims)).astype(out)


def _ref_any(x, axis=None, keepdims=False, out="bool"):
    return np.asarray(np.count_nonzero(x, axis=np_axis(axis), keepdims=keepdims) > 0)


def _ref_all(x, axis=None, keepdims=False, out="bool"):
    count = np.count_nonzero(x, axis=np_axis(axis), keepdims=keepdims)
    size = np.count_nonzero(np.ones_like(x, dtype=bool), axis=np_axis(axis), keepdims=keepdims)
    return np.asarray(count == size)


def _ref_logsumexp(x, axis=None, keepdims=False, out="float64"):
    # Pairwise logaddexp in float64: a different algorithm from the max-shift used by the op.
    return np.asarray(np.logaddexp.reduce(x.astype(np.float64), axis=np_axis(axis), keepdims=keepdims)).astype(out)


REDUCTIONS = [  # op name, public function, reference, dtype table, accepted dtypes
    ("reduce_sum", gj.reduce_sum, _ref_sum, SUM_DTYPE, DTYPES),
    ("reduce_prod", gj.math.reduce_prod, _ref_prod, SUM_DTYPE, DTYPES),
    ("reduce_mean", gj.reduce_mean, _ref_mean, MEAN_DTYPE, DTYPES),
    ("reduce_max", gj.reduce_max, _ref_max, SAME_DTYPE, DTYPES),
    ("reduce_min", gj.math.reduce_min, _ref_min, SAME_DTYPE, DTYPES),
    ("reduce_any", gj.reduce_any, _ref_any, BOOL_DTYPE, DTYPES),
    ("reduce_all", gj.math.reduce_all, _ref_all, BOOL_DTYPE, DTYPES),
    ("reduce_logsumexp", gj.reduce_logsumexp, _ref_logsumexp, MEAN_DTYPE, DTYPES[1:]),  # bool is rejected
]
AXES = [(None, False), (None, True), (1, False), (-1, True), ((0, 2), False), ([-1, 0], True), ((), False)]


def _reference(ref, out):
    def reference(x, axis=None, keepdims=False):
        with np.errstate(all="ignore"):  # inf - inf and overflow are the edge cases' point
            return ref(x, axis, keepdims, out)
    return reference


CASES = []
for _op, _fn, _ref, _table, _dtypes in REDUCTIONS:
    for _dtype in _dtypes:
        _x = sample(_dtype)
        for _axis, _keep in AXES:
            CASES.append(Case((_op,), _fn, (_x,), _reference(_ref, _table[_dtype]), rtol=TOL.get(_table[_dtype], 0),
                              kwargs={"axis": _axis, "keepdims": _keep},
                              name=f"{_op}-{_dtype}-axis={_axis}-keepdims={_keep}"))

# ---- edge values: each row of EDGE holds a different special value; reduce along the rows -----------------
EDGE = np.array([[1.0, np.inf, 2.0], [-np.inf, 1.0, 2.0], [np.nan, 1.0, 2.0], [np.inf, -np.inf, 0.0],
                 [0.0, -0.0, 3.0], [-np.inf, -np.inf, -np.inf], [1e300, 1e300, -1e300]])
for _dtype in ("float32", "float64"):
    with np.errstate(over="ignore"):
        _x = EDGE.astype(_dtype)  # 1e300 becomes inf in float32: a row of inf, inf, -inf
    for _op, _fn, _ref, _table, _ in REDUCTIONS:
        CASES.append(Case((_op,), _fn, (_x,), _reference(_ref, _table[_dtype]), rtol=TOL[_dtype],
                          kwargs={"axis": 1}, name=f"{_op}-{_dtype}-edge-values"))

# Large inputs: logsumexp must not overflow (1000 + log 2 in float32 and float64).
for _dtype in ("float32", "float64"):
    _large = np.array([[1000.0, 1000.0], [-1000.0, -1000.0]], _dtype)
    CASES.append(Case(("reduce_logsumexp",), gj.reduce_logsumexp, (_large,),
                      lambda x, axis: np.array([1000 + np.log(2), -1000 + np.log(2)], x.dtype), rtol=TOL[_dtype],
                      kwargs={"axis": -1}, name=f"reduce_logsumexp-{_dtype}-large"))

# Integer extremes: int32 sums widen to int64 (exact Python-int reference), so they do not wrap.
_ints = int_edge_values(np.int32).reshape(2, 4)
CASES += [
    Case(("reduce_sum",), gj.reduce_sum, (_ints,),
         lambda x, axis: np.array([int(v) for v in x.sum(axis=0, dtype=object)], np.int64), kwargs={"axis": 0},
         name="reduce_sum-int32-extremes-widen"),
    Case(("reduce_max", "reduce_min"), lambda x: (gj.reduce_max(x, 0), gj.reduce_min(x, 0)), (_ints,),
         lambda x: (np.maximum(x[0], x[1]), np.minimum(x[0], x[1])), name="reduce_max_min-int32-extremes"),
]

# ---- empty arrays: the identity where there is one (NaN for mean, -inf for logsumexp) ----------------------
_EMPTY = np.zeros((0, 3), np.float32)
CASES += [
    Case(("reduce_sum",), gj.reduce_sum, (_EMPTY,), lambda x, axis: np.zeros(3, np.float32), kwargs={"axis": 0},
         name="reduce_sum-empty-axis"),
    Case(("reduce_sum",), gj.reduce_sum, (np.zeros((2, 0), np.int32),), lambda x: np.int64(0),
         name="reduce_sum-empty-all"),
    Case(("reduce_prod",), gj.reduce_prod, (_EMPTY,), lambda x, axis: np.ones(3, np.float32), kwargs={"axis": 0},
         name="reduce_prod-empty-axis"),
    Case(("reduce_any",), gj.reduce_any, (_EMPTY,), lambda x, axis: np.zeros(3, bool), kwargs={"axis": 0},
         name="reduce_any-empty-axis"),
    Case(("reduce_all",), gj.reduce_all, (_EMPTY,), lambda x, axis: np.ones(3, bool), kwargs={"axis": 0},
         name="reduce_all-empty-axis"),
    Case(("reduce_mean",), gj.reduce_mean, (np.zeros((0, 3), np.int32),), lambda x, axis: np.full(3, np.nan),
         kwargs={"axis": 0}, name="reduce_mean-empty-axis"),
    Case(("reduce_logsumexp",), gj.reduce_logsumexp, (_EMPTY,), lambda x, axis: np.full(3, -np.inf, np.float32),
         kwargs={"axis": 0}, name="reduce_logsumexp-empty-axis"),
    # Reducing a non-empty axis of an empty tensor is fine even for max/argmax: the result is empty.
    Case(("reduce_max",), gj.reduce_max, (_EMPTY,), lambda x, axis: np.zeros((0,), np.float32), kwargs={"axis": 1},
         name="reduce_max-empty-result"),
    Case(("argmax",), gj.argmax, (_EMPTY,), lambda x, axis: np.zeros((0,), np.int64), kwargs={"axis": 1},
         name="argmax-empty-result"),
]


# ---- argmax / argmin ---------------------------------------------------------------------------------------

def _ref_arg(pick):
    """The first index along ``axis`` holding the extreme (NaN counts as the extreme, as in NumPy)."""
    def ref(x, axis=None, output_type=gj.int64):
        axis = 0 if axis is None else axis % x.ndim
        moved = np.moveaxis(x, axis, -1)
        out = np.empty(moved.shape[:-1], np.dtype(output_type.name))
        for index in np.ndindex(out.shape):
            row = list(moved[index])
            nans = [i for i, v in enumerate(row) if v != v]
            out[index] = nans[0] if nans else row.index(pick(row))
        return out
    return ref


for _op, _fn, _pick in (("argmax", gj.argmax, max), ("argmin", gj.math.argmin, min)):
    for _dtype in DTYPES:
        _x = sample(_dtype)
        for _kwargs in ({}, {"axis": 1}, {"axis": -1, "output_type": gj.int32}):
            CASES.append(Case((_op,), _fn, (_x,), _ref_arg(_pick), kwargs=_kwargs, name=f"{_op}-{_dtype}-{_kwargs}"))
    for _dtype in ("float32", "float64"):
        with np.errstate(over="ignore"):
            _x = EDGE.astype(_dtype)
        CASES.append(Case((_op,), _fn, (_x,), _ref_arg(_pick), kwargs={"axis": 1},
                          name=f"{_op}-{_dtype}-edge-values"))
    # NumPy's argmax(a) (axis None) indexes the flattened tensor; keepdims keeps a size-1 axis.
    CASES.append(Case((_op,), lambda x, np_fn=getattr(np, _op): np_fn(x), (sample("float32"),),
                      lambda x, np_fn=getattr(np, _op): np.int64(np_fn(x.ravel())), name=f"numpy-{_op}-flattened"))
    CASES.append(Case((_op,), lambda x, np_fn=getattr(np, _op): np_fn(x, axis=1, keepdims=True), (sample("int32"),),
                      lambda x, pick=_ref_arg(_pick): pick(x, 1)[:, None], name=f"numpy-{_op}-keepdims"))

# ---- NumPy functions on tensors run the same ops ------------------------------------------------------------
_f = sample("float64")
CASES += [
    Case(("reduce_sum",), lambda x: np.sum(x, axis=0), (_f,), lambda x: x.sum(0), rtol=1e-12, name="numpy-sum"),
    Case(("reduce_mean",), lambda x: np.mean(x, (0, 1), None, None, True), (_f,),
         lambda x: x.mean((0, 1), keepdims=True),
         rtol=1e-12, name="numpy-mean-positional"),
    Case(("reduce_max", "reduce_min"), lambda x: (np.max(x, 1), np.amax(x), np.min(x, -1), np.amin(x, keepdims=True)),
         (_f,), lambda x: (x.max(1), x.max(), x.min(-1), x.min(keepdims=True)), name="numpy-max-min"),
    Case(("reduce_prod",), lambda x: np.prod(x, axis=2), (_f,), lambda x: x.prod(2), rtol=1e-12, name="numpy-prod"),
    Case(("reduce_any", "reduce_all"), lambda x: (np.any(x, axis=0), np.all(x)), (sample("bool"),),
         lambda x: (x.any(0), x.all()), name="numpy-any-all"),
]
