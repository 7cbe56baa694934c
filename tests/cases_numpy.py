"""Value cases for the ops of tracer/ops/ufuncs.py and tracer/ops/scan.py (see support.Case).

References do not call the op's NumPy function on the op's dtype: float results come from NumPy's
extended-precision (``np.longdouble``) loops on the inputs cast to the result dtype, then rounded (float32
rtol 1e-6, a few ULP; float64 rtol 1e-13, a few ULP of libm); integer, comparison and selection results
come from Python's exact arithmetic element by element; sorts and scans from Python's ``sorted`` and running
sums in float64 / exact ints. Expected result dtypes are written out (``FLOAT_MATH``), not taken from NumPy.
"""
import itertools
import math

import numpy as np

import graphjit as gj

from support import Case, float_edge_values, int_edge_values

I32, I64, F32, F64 = "int32", "int64", "float32", "float64"
LD = np.longdouble
RTOL = {F32: 1e-6, F64: 1e-13}
FLOAT_MATH = {I32: F64, I64: F64, F32: F32, F64: F64}   # NumPy's float loops: ints compute in float64

CASES = []


def _values(dtype):
    return float_edge_values(np.dtype(dtype)) if dtype in (F32, F64) else int_edge_values(np.dtype(dtype))


def _extended(np_fn, out):
    def reference(*args):
        with np.errstate(all="ignore"):
            return np.asarray(np_fn(*(np.asarray(a).astype(out).astype(LD) for a in args))).astype(out)
    return reference


def _elementwise_exact(fn, out):
    def reference(*args):
        arrays = np.broadcast_arrays(*(np.asarray(a) for a in args))
        values = [fn(*vs) for vs in zip(*(a.ravel().tolist() for a in arrays))]
        return np.array(values, dtype=out).reshape(arrays[0].shape)
    return reference


def _case(ops, fn, args, reference, out, name):
    CASES.append(Case(tuple(ops), fn, tuple(args), reference, rtol=RTOL.get(out, 0.0), name=name))


# ---- unary float functions: every input dtype graphjit accepts (bool gives float16 in NumPy: refused) ----
UNARY_FLOAT = {
    "arcsin": (gj.math.asin, np.arcsin), "arccos": (gj.math.acos, np.arccos), "arctan": (gj.math.atan, np.arctan),
    "sinh": (gj.math.sinh, np.sinh), "cosh": (gj.math.cosh, np.cosh), "arcsinh": (gj.math.asinh, np.arcsinh),
    "arccosh": (gj.math.acosh, np.arccosh), "arctanh": (gj.math.atanh, np.arctanh),
    "exp2": (gj.math.exp2, np.exp2), "log2": (gj.math.log2, np.log2), "log10": (gj.math.log10, np.log10),
    "cbrt": (gj.math.cbrt, np.cbrt), "deg2rad": (gj.math.deg2rad, np.deg2rad),
    "rad2deg": (gj.math.rad2deg, np.rad2deg), "fabs": (gj.math.fabs, np.fabs), "rint": (gj.math.rint, np.rint),
    "spacing": (gj.math.spacing, None),
}
for _op, (_fn, _ld) in UNARY_FLOAT.items():
    for _dt in (I32, F32, F64):
        _out = FLOAT_MATH[_dt]
        if _ld is None:  # spacing: the distance to the next float away from zero, from nextafter in the dtype
            def _ref(x, out=_out):
                x = np.asarray(x).astype(out)
                with np.errstate(all="ignore"):
                    away = np.where(x < 0, -np.inf, np.inf).astype(out)  # -0.0 steps up, as NumPy
                    return np.where(np.isinf(x), np.nan, np.nextafter(x, away) - x).astype(out)
        else:
            _ref = _extended(_ld, _out)
        _case([_op], _fn, [_values(_dt)], _ref, _out, f"{_op}[{_dt}]")

# trunc/fix keep ints (NumPy 2); rint gives float64 for ints (above); the sign of zero is kept.
for _dt in (I32, I64, F32, F64):
    _ref = (_elementwise_exact(lambda v: v, _dt) if _dt in (I32, I64) else _extended(np.trunc, _dt))
    _case(["trunc"], gj.math.trunc, [_values(_dt)], _ref, _dt, f"trunc[{_dt}]")
    _case(["signbit"], gj.math.signbit, [_values(_dt)],
          _elementwise_exact(lambda v: math.copysign(1.0, v) < 0 if isinstance(v, float) else v < 0, bool), "bool",
          f"signbit[{_dt}]")
    _case(["positive"], gj.math.positive, [_values(_dt)], _elementwise_exact(lambda v: v, _dt), _dt,
          f"positive[{_dt}]")
    _case(["conjugate"], gj.math.conj, [_values(_dt)], _elementwise_exact(lambda v: v, _dt), _dt,
          f"conjugate[{_dt}]")

# ---- binary functions over the outer product of two edge vectors ----------------------------------------


def _pairs(dtype):
    v = _values(dtype)
    return v.reshape(-1, 1), v[::-1].reshape(1, -1)


def _c_fmax(a, b):  # C's (a >= b || isnan(b)) ? a : b, NumPy's fmax loop
    return a if (a >= b or b != b) else b


def _c_fmin(a, b):
    return a if (a <= b or b != b) else b


def _nextafter(dtype):
    """One step of ``dtype``'s format from a toward b, on the bit pattern (exact)."""
    np_t, int_t = (np.float32, np.int32) if dtype == F32 else (np.float64, np.int64)

    def step(a, b):
        if a != a or b != b:
            return math.nan
        if a == b:
            return b
        if a == 0:
            return math.copysign(float(np.array(1, int_t).view(np_t)), b)
        bits = int(np.array(a, np_t).view(int_t))
        return float(np.array(bits + 1 if (a < b) == (a > 0) else bits - 1, int_t).view(np_t))
    return step


BINARY_FLOAT = {
    "arctan2": (gj.math.atan2, np.arctan2), "hypot": (gj.math.hypot, np.hypot),
    "copysign": (gj.math.copysign, np.copysign), "logaddexp": (gj.math.logaddexp, np.logaddexp),
    "logaddexp2": (gj.math.logaddexp2, np.logaddexp2), "fmod": (gj.math.fmod, np.fmod),
    "float_power": (gj.math.float_power, None), "heaviside": (gj.math.heaviside, np.heaviside),
    "nextafter": (gj.math.nextafter, None),
}
for _op, (_fn, _ld) in BINARY_FLOAT.items():
    for _dt in (F32, F64):
        if _op == "float_power":  # always float64; exact products of float64 values in extended precision
            _ref, _out = _extended(np.power, F64), F64
        elif _op == "nextafter":
            _ref, _out = _elementwise_exact(_nextafter(_dt), _dt), _dt
        else:
            _ref, _out = _extended(_ld, _dt), _dt
        _case([_op], _fn, _pairs(_dt), _ref, _out, f"{_op}[{_dt}]")

for _dt in (I32, F32, F64):
    _case(["fmax"], gj.math.fmax, _pairs(_dt), _elementwise_exact(_c_fmax, _dt), _dt, f"fmax[{_dt}]")
    _case(["fmin"], gj.math.fmin, _pairs(_dt), _elementwise_exact(_c_fmin, _dt), _dt, f"fmin[{_dt}]")


def _c_fmod_int(a, b):  # C's truncated remainder; NumPy gives 0 for b == 0
    if b == 0:
        return 0
    r = abs(a) % abs(b)
    return r if a >= 0 else -r


def _c_shift(op, bits):
    def shift(a, b):
        if op == "left":
            r = (a << b) if b < bits else 0
            half = 2 ** (bits - 1)
            return (r + half) % (2 * half) - half
        return a >> b if b < bits else (-1 if a < 0 else 0)
    return shift


for _dt, _bits in ((I32, 32), (I64, 64)):
    _x, _y = _pairs(_dt)
    _case(["fmod"], gj.math.fmod, (_x, _y), _elementwise_exact(_c_fmod_int, _dt), _dt, f"fmod[{_dt}]")
    _case(["gcd"], gj.math.gcd, (_x % 1000, _y % 77), _elementwise_exact(math.gcd, _dt), _dt, f"gcd[{_dt}]")
    _case(["lcm"], gj.math.lcm, (_x % 1000, _y % 77),
          _elementwise_exact(lambda a, b: abs(a * b) // math.gcd(a, b) if a and b else 0, _dt), _dt, f"lcm[{_dt}]")
    _s = np.arange(0, _bits + 2, 3, dtype=_dt).reshape(1, -1)
    _case(["left_shift"], gj.bitwise.left_shift, (_x, _s), _elementwise_exact(_c_shift("left", _bits), _dt), _dt,
          f"left_shift[{_dt}]")
    _case(["right_shift"], gj.bitwise.right_shift, (_x, _s), _elementwise_exact(_c_shift("right", _bits), _dt),
          _dt, f"right_shift[{_dt}]")
def _ldexp(a, b):
    try:
        return math.ldexp(a, b) if math.isfinite(a) else a
    except OverflowError:
        return math.copysign(math.inf, a)


_case(["ldexp"], gj.math.ldexp, (float_edge_values(np.float64).reshape(-1, 1), np.array([[-3, 0, 2, 40]], np.int32)),
      _elementwise_exact(lambda a, b: _ldexp(a, b), F64), F64, "ldexp[float64]")

# ---- scans and sorts --------------------------------------------------------------------------------------
_rng = np.random.default_rng(11)
_M = _rng.uniform(0.5, 2.0, (3, 5))
_MI = _rng.integers(-4, 5, (3, 5)).astype(np.int32)
_TIES = np.array([[3, 1, 3, 1, 2, 3], [0, 0, 0, 5, 5, -1]], np.int32)
_NANS = np.array([[np.nan, 1.0, -np.inf, 0.0, np.inf, -0.0, 2.0]], np.float64)


def _along(fn, axis, out=None):
    """Applies a Python function of a list to every 1-D slice along ``axis``; the result has dtype ``out``."""
    def reference(x):
        x = np.asarray(x)
        moved = np.moveaxis(x, axis, -1)
        rows = [fn(list(r)) for r in moved.reshape(-1, moved.shape[-1]).tolist()]
        result = np.array(rows, dtype=out or x.dtype).reshape(moved.shape)
        return np.moveaxis(result, -1, axis)
    return reference


def _nan_key(v):
    return (v != v, v)


def _running(values, kind, product=False):
    values = [int(v) if kind == I64 else float(v) for v in values]
    return list(itertools.accumulate(values, (lambda p, q: p * q) if product else (lambda p, q: p + q)))


for _x, _dt, _out in ((_M, F64, F64), (_M.astype(np.float32), F32, F32), (_MI, I32, I64)):
    for _axis in (0, 1):
        _case(["cumsum"], lambda x, a=_axis: gj.math.cumsum(x, a), [_x],
              _along(lambda r, o=_out: _running(r, o), _axis, _out), _out, f"cumsum[{_dt},axis={_axis}]")
        # exclusive + reverse: element k is the product of the elements after it (1 for the last)
        _case(["cumprod"], lambda x, a=_axis: gj.math.cumprod(x, a, exclusive=True, reverse=True), [_x],
              _along(lambda r, o=_out: _running([1] + r[::-1][:-1], o, product=True)[::-1], _axis, _out), _out,
              f"cumprod[{_dt},axis={_axis},exclusive,reverse]")


def _descending_stable(r):
    """Indices by value, largest first, NaN before everything (the reversed ascending order); ties in order."""
    return sorted(range(len(r)), key=lambda k: (r[k] == r[k], -r[k] if r[k] == r[k] else 0))


for _x in (_TIES, _NANS, _M):
    _dt = str(_x.dtype)
    _case(["sort"], lambda x: gj.sort(x), [_x], _along(lambda r: sorted(r, key=_nan_key), -1), _dt, f"sort[{_dt}]")
    _case(["sort"], lambda x: gj.sort(x, 0, direction="DESCENDING"), [_x],
          _along(lambda r: sorted(r, key=_nan_key)[::-1], 0), _dt, f"sort[{_dt},descending,axis0]")
    _case(["argsort"], lambda x: gj.argsort(x, stable=True), [_x],
          _along(lambda r: sorted(range(len(r)), key=lambda k: _nan_key(r[k])), -1, np.int32), I32,
          f"argsort[{_dt},stable]")
    _case(["argsort"], lambda x: gj.argsort(x, direction="DESCENDING", stable=True), [_x],
          _along(_descending_stable, -1, np.int32), I32, f"argsort[{_dt},descending,stable]")
