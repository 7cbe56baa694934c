"""NumPy coverage: every ufunc in NumPy's namespace and ~70 everyday NumPy functions, called on tensors, either
work with NumPy's values and dtypes (eagerly, traced on the interpreter and compiled on the CPU backend) or
raise UnimplementedError naming the function by its public name; never another exception.

Tolerances: eager results are NumPy's own computations (or exact compositions of them) and must match to
rtol 1e-12 in float64. The interpreter must equal eager bit for bit. Compiled float64 code calls libm through
Numba (<= 2 ULP) and may reassociate sums, so it is compared at rtol 1e-12 / atol 1e-300 (float64) and
2e-5 / 1e-6 (float32), as tests/test_cpu_backend.py does. All traced checks share three compiled graphs.
"""
import warnings

import numpy as np
import pytest

import graphjit as gj
from graphjit.errors import GraphjitError, UnimplementedError

from support import assert_same, flatten_results

UFUNCS = sorted(n for n in dir(np) if isinstance(getattr(np, n), np.ufunc))

# Edge values (NaN, +-inf, +-0, tiny, huge, ordinary), 16 of them as a (4, 4) matrix so that matmul and the
# vector gufuncs get sensible shapes too; Y is a different arrangement so binary ufuncs see every kind of pair.
_EDGE = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, 100.0, 1e-3, -7.25,
                  np.finfo(np.float64).tiny, 0.75, 2.0])
X = _EDGE.reshape(4, 4)
Y = np.roll(_EDGE, 5)[::-1].reshape(4, 4).copy()
XI = np.array([[0, 1, -1, 2], [-7, 13, 6, 100], [2 ** 31 - 1, -2 ** 31, 4, 9], [12, -12, 3, 5]], np.int64)
YI = np.array([[3, 0, 2, 5], [2, -4, 9, 1], [1, 2, 0, 7], [8, 3, -5, 4]], np.int64)
SHIFT = np.abs(YI) % 8   # shift amounts NumPy defines the same on every platform

# Ufuncs graphjit must support (the list); the walk below accepts UnimplementedError for the rest.
REQUIRED = {"rint", "trunc", "sign", "square", "cbrt", "hypot", "arctan2", "maximum", "minimum", "fmax", "fmin",
            "isnan", "isinf", "isfinite", "logical_and", "logical_or", "logical_xor", "logical_not",
            "floor_divide", "remainder", "mod", "fmod", "exp2", "log2", "log10", "matmul", "divmod", "modf"}


def ufunc_arguments(name):
    """Arrays NumPy accepts for ``np.<name>``: floats where it has float loops, ints otherwise."""
    ufunc = getattr(np, name)
    if name in ("left_shift", "right_shift", "bitwise_left_shift", "bitwise_right_shift"):
        return (XI, SHIFT)
    if name == "ldexp":
        return (X, SHIFT)
    for candidates in ((X, Y), (XI, YI)):
        args = candidates[:ufunc.nin]
        try:
            with np.errstate(all="ignore"):
                ufunc(*args)
        except TypeError:
            continue
        return args
    return None  # e.g. isnat: datetimes only


def numpy_reference(fn, args):
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "All-NaN slice encountered" from np.nanmax
        return fn(*args)


def call_on_tensors(fn, args):
    """``fn`` on tensors: (results or None, the UnimplementedError or None). Other exceptions propagate."""
    try:
        return fn(*(gj.constant(a) for a in args)), None
    except UnimplementedError as err:
        return None, err


def _working(cases):
    """Runs each (label, fn, args, reference_fn) eagerly; returns the ones that work, after checking them."""
    working, unimplemented = [], []
    for label, fn, args, public_name in cases:
        result, err = call_on_tensors(fn, args)
        if err is not None:
            assert public_name in str(err), f"{label}: UnimplementedError does not name {public_name}: {err}"
            unimplemented.append(label)
            continue
        expected = flatten_results(numpy_reference(fn, args))
        results = flatten_results(result)
        assert len(results) == len(expected), label
        for r, e in zip(results, expected):
            value = r.numpy() if isinstance(r, gj.Tensor) else r
            assert_same(value, e, rtol=1e-12, what=f"{label} eager")
        working.append((label, fn, args))
    return working, unimplemented


def _traced_batch(working):
    def run_all(*arrays):
        it = iter(arrays)
        outs = []
        for _, fn, args in working:
            outs.extend(flatten_results(fn(*(next(it) for _ in args))))
        return outs
    return run_all, [a for _, _, args in working for a in args]


def _check_traced(working, monkeypatch, backend):
    monkeypatch.setattr(gj.config, "backend", backend)
    monkeypatch.setattr(gj.config, "compile_in_background", False)
    fn, arrays = _traced_batch(working)
    traced = flatten_results(gj.function(fn)(*arrays))
    expected = []
    for label, f, args in working:
        expected.extend((label, e) for e in flatten_results(f(*(gj.constant(a) for a in args))))
    assert len(traced) == len(expected)
    for t, (label, e) in zip(traced, expected):
        e = e.numpy() if isinstance(e, gj.Tensor) else e
        if backend == "interpreter":
            assert_same(t.numpy(), e, what=f"{label} traced")
        else:
            rtol, atol = (2e-5, 1e-6) if np.asarray(e).dtype == np.float32 else (1e-12, 1e-300)
            assert_same(t.numpy(), e, rtol, atol, what=f"{label} compiled")


def _ufunc_cases():
    cases = []
    for name in UFUNCS:
        args = ufunc_arguments(name)
        cases.append((f"np.{name}", getattr(np, name), args, f"numpy.{name}"))
    return cases


def test_every_numpy_ufunc_works_or_is_unimplemented_by_name():
    runnable = [c for c in _ufunc_cases() if c[2] is not None]
    for label, fn, _, public in [c for c in _ufunc_cases() if c[2] is None]:
        with pytest.raises(UnimplementedError, match=public):
            fn(gj.constant(X))
    working, unimplemented = _working(runnable)
    names = {label[3:] for label, _, _ in working}
    assert REQUIRED <= names, f"required ufuncs not supported: {sorted(REQUIRED - names)}"
    # Everything NumPy defines on real numbers is covered except these (complex/datetime or unsigned results).
    assert set(unimplemented) <= {"np.bitwise_count", "np.frexp"}, unimplemented
    assert len(working) >= 100, len(working)


@pytest.mark.parametrize("backend", ["interpreter", "cpu"])
def test_every_working_ufunc_traced_matches_eager(backend, monkeypatch):
    working, _ = _working([c for c in _ufunc_cases() if c[2] is not None])
    _check_traced(working, monkeypatch, backend)


# ---- everyday NumPy functions (__array_function__) ------------------------------------------------------

A = np.array([[1.5, -2.5, 3.0, 0.5], [4.0, -1.0, 2.0, 2.0], [0.25, 8.0, -3.0, 1.0]])
A32 = A.astype(np.float32)
B = np.array([[2.0, 1.0, -1.0], [0.5, 3.0, 1.0], [1.0, -2.0, 4.0], [0.0, 1.0, 2.0]])
V = np.array([3.0, -4.0, 1.0, 2.0])
NANS = np.array([[1.0, np.nan, 3.0], [np.nan, np.nan, np.nan], [-1.0, 2.0, np.nan]])
I = np.array([[3, -7, 2, 2], [0, 5, -1, 9], [4, 4, -8, 1]], np.int32)
T3 = np.arange(24.0).reshape(2, 3, 4) - 11.5

# (label, fn on NumPy-like arguments, arguments); every one must work.
FUNCTIONS = [
    ("sum", lambda a: np.sum(a, axis=1), (A,)), ("sum int", lambda a: np.sum(a), (I,)),
    ("prod", lambda a: np.prod(a, axis=0, keepdims=True), (A,)), ("mean", lambda a: np.mean(a, axis=-1), (I,)),
    ("std", lambda a: np.std(a), (A,)), ("std ddof axis", lambda a: np.std(a, axis=0, ddof=1, keepdims=True), (A,)),
    ("var", lambda a: np.var(a, axis=(0, 1)), (A32,)), ("var int ddof", lambda a: np.var(a, axis=1, ddof=2), (I,)),
    ("max", lambda a: np.max(a, axis=0), (A,)), ("min", lambda a: np.min(a), (I,)),
    ("amax", lambda a: np.amax(a, axis=1), (A,)), ("amin", lambda a: np.amin(a, axis=1, keepdims=True), (A,)),
    ("argmax", lambda a: np.argmax(a), (A,)), ("argmax axis", lambda a: np.argmax(a, axis=0), (I,)),
    ("argmin", lambda a: np.argmin(a, axis=1), (A,)), ("any", lambda a: np.any(a > 3, axis=0), (A,)),
    ("all", lambda a: np.all(a > -5), (A,)),
    ("cumsum", lambda a: np.cumsum(a, axis=1), (A,)), ("cumsum flat int", lambda a: np.cumsum(a), (I,)),
    ("cumprod", lambda a: np.cumprod(a, axis=0), (A32,)),
    ("sort", lambda a: np.sort(a), (A,)), ("sort axis0", lambda a: np.sort(a, axis=0), (NANS,)),
    ("sort flat", lambda a: np.sort(a, axis=None), (I,)),
    ("argsort stable", lambda a: np.argsort(a, axis=1, kind="stable"), (I,)),
    ("argsort", lambda a: np.argsort(a, axis=0, stable=True), (A,)),
    ("clip", lambda a: np.clip(a, -1, 2), (A,)), ("clip one side", lambda a: np.clip(a, None, 2), (I,)),
    ("round", lambda a: np.round(a), (A,)), ("round decimals", lambda a: np.round(a * 1.2345, 2), (A,)),
    ("around negative decimals", lambda a: np.around(a * 123.4, -1), (A32,)),
    ("round int -1", lambda a: np.round(a * 5, -1), (I,)), ("fix", lambda a: np.fix(a), (A,)),
    ("where", lambda a: np.where(a > 1, a, -a), (A,)), ("reshape", lambda a: np.reshape(a, (4, 3)), (A,)),
    ("transpose", lambda a: np.transpose(a, (2, 0, 1)), (T3,)), ("squeeze", lambda a: np.squeeze(a[None]), (A,)),
    ("expand_dims", lambda a: np.expand_dims(a, 1), (A,)), ("ravel", lambda a: np.ravel(a), (T3,)),
    ("concatenate", lambda a, b: np.concatenate([a, b.T], axis=0), (A, B)),
    ("concatenate None", lambda a: np.concatenate([a, a], axis=None), (A,)),
    ("stack", lambda a: np.stack([a, -a], axis=1), (A,)),
    ("vstack", lambda a, v: np.vstack([a, v]), (A, V)), ("hstack", lambda v: np.hstack([v, v]), (V,)),
    ("split", lambda a: np.split(a, 2, axis=1), (A,)), ("tile", lambda v: np.tile(v, (2, 1)), (V,)),
    ("broadcast_to", lambda v: np.broadcast_to(v, (3, 4)), (V,)),
    ("take", lambda a: np.take(a, [2, 0], axis=1), (A,)),
    ("dot", lambda a, b: np.dot(a, b), (A, B)), ("dot vec", lambda v: np.dot(v, v), (V,)),
    ("matmul", lambda a, b: np.matmul(a, b), (A, B)), ("outer", lambda v: np.outer(v, v[:3]), (V,)),
    ("inner", lambda a, v: np.inner(a, v), (A, V)), ("tensordot", lambda a, b: np.tensordot(a, b, 1), (A, B)),
    ("einsum ij,jk->ik", lambda a, b: np.einsum("ij,jk->ik", a, b), (A, B)),
    ("einsum bij,bjk->bik", lambda t: np.einsum("bij,bkj->bik", t, t), (T3,)),
    ("einsum i,i->", lambda v: np.einsum("i,i->", v, v), (V,)),
    ("einsum ij->ji", lambda a: np.einsum("ij->ji", a), (A,)), ("einsum ij->", lambda a: np.einsum("ij->", a), (I,)),
    ("einsum implicit", lambda a, b: np.einsum("ij,jk", a, b), (A, B)),
    ("einsum outer", lambda v: np.einsum("i,j->ij", v, v), (V,)),
    ("einsum three", lambda a, b, v: np.einsum("ij,jk,i->k", a, b, v[:3]), (A, B, V)),
    ("linalg.norm", lambda a: np.linalg.norm(a), (A,)), ("linalg.norm int", lambda a: np.linalg.norm(a), (I,)),
    ("linalg.norm ord1 axis", lambda a: np.linalg.norm(a, 1, axis=1), (A,)),
    ("linalg.norm inf", lambda v: np.linalg.norm(v, np.inf), (V,)),
    ("linalg.norm -inf", lambda v: np.linalg.norm(v, -np.inf), (V,)),
    ("linalg.norm ord0", lambda v: np.linalg.norm(v, 0), (V,)),
    ("linalg.norm ord3", lambda v: np.linalg.norm(v, 3), (V,)),
    ("linalg.norm keepdims", lambda a: np.linalg.norm(a, axis=0, keepdims=True), (A,)),
    ("linalg.norm fro", lambda t: np.linalg.norm(t, "fro", axis=(2, 0)), (T3,)),
    ("linalg.norm matrix 1", lambda a: np.linalg.norm(a, 1), (A,)),
    ("linalg.norm matrix inf", lambda a: np.linalg.norm(a, np.inf, keepdims=True), (A,)),
    ("flip", lambda a: np.flip(a, 1), (A,)), ("swapaxes", lambda t: np.swapaxes(t, 0, 2), (T3,)),
    ("moveaxis", lambda t: np.moveaxis(t, 0, -1), (T3,)),
    ("zeros_like", lambda a: np.zeros_like(a), (I,)), ("ones_like", lambda a: np.ones_like(a), (A,)),
    ("full_like", lambda a: np.full_like(a, 2.5), (I,)), ("copy", lambda a: np.copy(a), (A,)),
    ("ptp", lambda a: np.ptp(a, axis=1), (A,)), ("count_nonzero", lambda a: np.count_nonzero(a, axis=0), (I,)),
    ("nansum", lambda a: np.nansum(a, axis=1), (NANS,)), ("nanmean", lambda a: np.nanmean(a, axis=0), (NANS,)),
    ("nanmax", lambda a: np.nanmax(a, axis=1), (NANS,)), ("nanmin", lambda a: np.nanmin(a, axis=0), (NANS,)),
    ("isclose", lambda a, b: np.isclose(a, b[:3] + 1e-9), (A, A)), ("allclose", lambda a: np.allclose(a, a), (A,)),
    ("array_equal", lambda a: np.array_equal(a, a), (NANS,)),
    ("nan_to_num", lambda a: np.nan_to_num(a * np.inf), (NANS,)),
    ("diff", lambda a: np.diff(a, axis=0), (A,)), ("diff n=2", lambda v: np.diff(v, 2), (V,)),
    ("roll", lambda a: np.roll(a, 1, axis=1), (A,)), ("roll flat", lambda a: np.roll(a, -5), (A,)),
    ("average", lambda a: np.average(a, axis=0), (A,)), ("average weights", lambda a: np.average(a, weights=a * a), (A,)),
    ("atleast_2d", lambda v: np.atleast_2d(v), (V,)), ("vecdot", lambda a: np.vecdot(a, a), (A,)),
    ("matvec", lambda a, v: np.matvec(a, v), (A, V)), ("vecmat", lambda v, b: np.vecmat(v, b), (V, B)),
    ("divmod", lambda a: np.divmod(a, 3), (I,)), ("modf", lambda a: np.modf(a * 1.25), (A,)),
]

# Functions graphjit does not implement: calling them on a tensor must raise UnimplementedError naming them.
UNIMPLEMENTED = [
    (np.median, "numpy.median"), (np.percentile, "numpy.percentile", 50), (np.quantile, "numpy.quantile", 0.5),
    (np.linalg.inv, "numpy.linalg.inv"), (np.linalg.det, "numpy.linalg.det"), (np.linalg.svd, "numpy.linalg.svd"),
    (np.unique, "numpy.unique"), (np.nonzero, "numpy.nonzero"), (np.argwhere, "numpy.argwhere"),
    (np.pad, "numpy.pad", 1), (np.repeat, "numpy.repeat", 2), (np.trace, "numpy.trace"), (np.diag, "numpy.diag"),
    (np.triu, "numpy.triu"), (np.cov, "numpy.cov"), (np.fft.fft, "numpy.fft.fft"),
    (np.searchsorted, "numpy.searchsorted", 1.0),
]


def _function_cases():
    return [(label, fn, args, label) for label, fn, args in FUNCTIONS]


def test_everyday_numpy_functions_work_eagerly_with_numpys_values():
    working, unimplemented = _working(_function_cases())
    assert not unimplemented, unimplemented
    assert len(working) >= 60


@pytest.mark.parametrize("entry", UNIMPLEMENTED, ids=lambda e: e[1])
def test_unsupported_numpy_functions_raise_unimplemented_naming_them(entry):
    fn, public, *extra = entry
    with pytest.raises(UnimplementedError, match=rf"^{public.replace('.', '[.]')} is not supported"):
        fn(gj.constant(np.eye(3)), *extra)
    with pytest.raises(UnimplementedError, match=public.replace(".", "[.]")):
        gj.function(lambda x: fn(x, *extra))(np.eye(3))


@pytest.mark.parametrize("backend", ["interpreter", "cpu"])
def test_everyday_numpy_functions_traced_match_eager(backend, monkeypatch):
    working, _ = _working(_function_cases())
    # Python results (np.shape/np.ndim) and bools are not graph outputs; everything else goes into one graph.
    _check_traced(working, monkeypatch, backend)


def test_unsupported_arguments_raise_graphjit_errors():
    t = gj.constant(A)
    for call in (lambda: np.einsum("ii->i", gj.constant(np.eye(3))), lambda: np.einsum("...ij->...ji", t),
                 lambda: np.linalg.norm(t, 2), lambda: np.linalg.norm(t, "nuc"), lambda: np.sort(t, order="x")):
        with pytest.raises(UnimplementedError):
            call()
    with pytest.raises(UnimplementedError, match="einsum spec 'ii->i'"):
        np.einsum("ii->i", gj.constant(np.eye(3)))
    for call in (lambda: np.einsum("ij,jk->ik", t, t), lambda: np.linalg.norm(gj.constant(T3), 1),
                 lambda: np.einsum("ij->k", t), lambda: np.clip(t)):
        with pytest.raises(GraphjitError) as info:
            call()
        assert not isinstance(info.value, UnimplementedError)
