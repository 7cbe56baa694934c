"""Value cases for matmul and tensordot (see support.Case).

References use ``np.einsum`` on int64/float64 (or an explicit and/or for bool), never np.matmul or
np.tensordot, and cast to the NumPy-promoted dtype.
"""
import numpy as np

import graphjit as gj

from support import Case

_rng = np.random.default_rng(11)
DTYPES = ("bool", "int32", "int64", "float32", "float64")
# float32 products of a few values in [-2, 2) summed in a different order than float64: allow 1e-5
# relative and 1e-6 absolute (cancellation can make single results near zero).
TOL = {"float32": (1e-5, 1e-6), "float64": (1e-12, 1e-12)}


def sample(dtype, shape):
    if dtype == "bool":
        return _rng.random(shape) > 0.5
    if dtype.startswith("int"):
        return _rng.integers(-5, 6, shape).astype(dtype)
    return _rng.uniform(-2.0, 2.0, shape).astype(dtype)


def einsum_ref(spec):
    """``np.einsum(spec)`` in a wide dtype, cast back to NumPy's promotion of the operand dtypes."""
    def ref(a, b, **_):
        out = np.result_type(a.dtype, b.dtype)
        if out == bool:  # bool products are and, sums are or
            return np.einsum(spec, a.astype(np.int64), b.astype(np.int64)) > 0
        wide = np.float64 if out.kind == "f" else np.int64
        return np.asarray(np.einsum(spec, a.astype(wide), b.astype(wide))).astype(out)
    return ref


def tol(a, b):
    kind = np.result_type(a.dtype, b.dtype).name
    return TOL.get(kind, (0.0, 0.0))


CASES = []


def add(ops, fn, a, b, spec, name, **kwargs):
    rtol, atol = tol(a, b)
    CASES.append(Case(ops, fn, (a, b), einsum_ref(spec), rtol=rtol, atol=atol, kwargs=kwargs, name=name))


# Every dtype, and the rank combinations np.matmul defines (1-D operands gain and then lose an axis).
SHAPES = [((3, 4), (4, 2), "ij,jk->ik"), ((4,), (4, 2), "j,jk->k"), ((3, 4), (4,), "ij,j->i"), ((4,), (4,), "j,j->"),
          ((2, 1, 3, 4), (5, 4, 2), "abij,bjk->abik"), ((3, 4), (2, 4, 5), "ij,bjk->bik")]
for _dtype in DTYPES:
    for _sa, _sb, _spec in SHAPES:
        add(("matmul",), gj.matmul, sample(_dtype, _sa), sample(_dtype, _sb), _spec, f"matmul-{_dtype}-{_sa}@{_sb}")

# Mixed dtypes promote as in NumPy (int32 with float32 gives float64).
for _da, _db in (("int32", "float32"), ("bool", "int64"), ("int32", "int64"), ("float32", "float64")):
    add(("matmul",), gj.linalg.matmul, sample(_da, (2, 3)), sample(_db, (3, 2)), "ij,jk->ik", f"matmul-{_da}@{_db}")

# transpose_a / transpose_b (and adjoint_*, the same for real dtypes) swap the last two axes first.
_a, _b = sample("float64", (2, 4, 3)), sample("float64", (2, 5, 4))
add(("matmul",), gj.matmul, _a, _b, "bji,bkj->bik", "matmul-transpose_a-transpose_b",
    transpose_a=True, transpose_b=True)
add(("matmul",), gj.matmul, _a, sample("float64", (4, 2)), "bji,jk->bik", "matmul-adjoint_a", adjoint_a=True)

# The operator and NumPy's matmul/dot run the same op; ndarray @ tensor uses __rmatmul__ via NumPy.
_a32, _b32 = sample("float32", (3, 4)), sample("float32", (4, 2))
add(("matmul",), lambda a, b: a @ b, _a32, _b32, "ij,jk->ik", "matmul-operator")
add(("matmul",), lambda a, b: [[1.0, 2.0, 0.5, -1.0]] @ b, _a32, _b32, "ij,jk->ik", "matmul-reflected-operator")
CASES[-1].reference = lambda a, b: np.array([[1.0, 2.0, 0.5, -1.0]], np.float32) @ b  # the list is the left operand
add(("matmul",), lambda a, b: np.matmul(a, b), _a32, _b32, "ij,jk->ik", "numpy-matmul")
add(("matmul",), lambda a, b: np.dot(a, b), _a32, _b32, "ij,jk->ik", "numpy-dot-2d")

# Edge values: inf * 0 is NaN, NaN propagates, inf + -inf is NaN; empty inner dimension gives zeros.
_edge_a = np.array([[np.inf, 1.0], [np.nan, 0.0], [np.inf, np.inf], [1e300, 1e300]])
_edge_b = np.array([[0.0, 1.0, -1.0], [1.0, 2.0, 1.0]])
for _dtype in ("float32", "float64"):
    with np.errstate(over="ignore"):  # 1e300 becomes inf in float32, on purpose
        _edge_a_typed = _edge_a.astype(_dtype)
    add(("matmul",), gj.matmul, _edge_a_typed, _edge_b.astype(_dtype), "ij,jk->ik", f"matmul-{_dtype}-edge")
add(("matmul",), gj.matmul, np.zeros((2, 0), np.float32), np.zeros((0, 3), np.float32), "ij,jk->ik",
    "matmul-empty-inner")
add(("matmul",), gj.matmul, np.zeros((0, 3), np.int32), sample("int32", (3, 2)), "ij,jk->ik", "matmul-empty-rows")

# ---- tensordot ---------------------------------------------------------------------------------------------
for _dtype in DTYPES:
    add(("tensordot",), gj.tensordot, sample(_dtype, (2, 3, 4)), sample(_dtype, (4, 5)), "abi,ic->abc",
        f"tensordot-{_dtype}-axes=1", axes=1)
_a, _b = sample("float64", (2, 3, 4)), sample("float64", (3, 4, 5))
add(("tensordot",), gj.tensordot, _a, _b, "aij,ijb->ab", "tensordot-axes=2", axes=2)
add(("tensordot",), gj.linalg.tensordot, _a, _b, "aij,klb->aijklb", "tensordot-axes=0-outer", axes=0)
add(("tensordot",), gj.tensordot, _a, _b, "aij,ijb->ab", "tensordot-pairs-negative", axes=([-2, 2], [0, -2]))
add(("tensordot",), gj.tensordot, _a, sample("float64", (4, 3, 5)), "aij,jib->ab", "tensordot-pairs-reordered",
    axes=[[1, 2], [1, 0]])
add(("tensordot",), gj.tensordot, sample("int32", (3, 2)), sample("float32", (3,)), "ia,i->a",
    "tensordot-int-axes-pair", axes=(0, 0))
add(("tensordot",), lambda a, b: np.tensordot(a, b), _a, _b, "aij,ijb->ab", "numpy-tensordot-default")
add(("tensordot",), lambda a, b: np.tensordot(a, b, axes=([0], [1])), sample("float64", (3, 2)),
    sample("float64", (4, 3)), "ia,bi->ab", "numpy-tensordot-pairs")
# np.dot of N-D operands sums the last axis of a with the second-to-last of b.
add(("tensordot",), lambda a, b: np.dot(a, b), _a, sample("float64", (2, 4, 3)), "aij,bjc->aibc", "numpy-dot-nd")
add(("tensordot",), gj.tensordot, np.zeros((2, 0), np.float32), np.zeros((0, 3), np.float32), "ij,jk->ik",
    "tensordot-empty", axes=1)
