"""Value cases for elementwise ops (see support.Case): every op over every dtype it accepts.

Inputs are edge values (NaN, +-inf, +-0, the smallest normal, the largest finite value, integer min/max,
negative and ordinary numbers); binary ops take the outer product of two edge vectors (shapes (n, 1)
and (1, m)), so every pair of edge values meets and broadcasting is exercised everywhere. Empty arrays,
0-d arrays and weak Python scalars get cases of their own.

References never call the implementation's own code path:

- floating-point results are computed in extended precision (``np.longdouble``: 80-bit on x86-64,
  128-bit elsewhere) from the inputs after NumPy's cast to the result dtype (ints to float64), then
  rounded to the result dtype;
- integer, bool, comparison, logical and bitwise results are computed element by element with Python's
  exact integers and operators and wrapped to the result dtype (two's complement, as NumPy does).

(For float floordiv/mod the extended-precision reference is NumPy's own algorithm on longdouble;
``test_elementwise.py`` pins their sign rules and division by zero with hand-written expected values.)

The expected result dtype of each case is written down in the tables below (``UNARY_RESULT``,
``binary_result``), not taken from NumPy; ``tests/test_dtypes.py`` checks the tables against NumPy 2.

Tolerances: float32 results use rtol 1e-6 (a few float32 ulps: the extended-precision reference is
correctly rounded; NumPy's float32 loops measure within 2 ulps = 1.2e-7 here) and float64 results rtol
1e-14 (measured within 1 ulp = 2.2e-16). No case needs an absolute tolerance: subnormal results match
too. Integer and bool results are compared exactly by ``support.assert_same``.
"""
import math

import numpy as np

import graphjit as gj

from support import Case, float_edge_values, int_edge_values

B, I32, I64, F32, F64 = "bool", "int32", "int64", "float32", "float64"
DTYPES = (B, I32, I64, F32, F64)
LD = np.longdouble

RTOL = {F32: 1e-6, F64: 1e-14}   # see the module docstring; exact dtypes are compared exactly


def _tol(out):
    return dict(rtol=RTOL.get(out, 0.0), atol=0.0)


# ---- expected result dtypes (None: graphjit rejects the input with InvalidArgumentError) -------------

def _by_dtype(b, i32, i64, f32, f64):
    return dict(zip(DTYPES, (b, i32, i64, f32, f64)))


SAME_NUMERIC = _by_dtype(None, I32, I64, F32, F64)   # NumPy has no bool loop, or graphjit rejects bool
FLOAT_MATH = _by_dtype(None, F64, F64, F32, F64)     # NumPy: float16 for bool (rejected), float64 for ints
PREDICATE = _by_dtype(B, B, B, B, B)

UNARY_RESULT = {
    "negative": SAME_NUMERIC,            # NumPy rejects -bool
    "abs": _by_dtype(B, I32, I64, F32, F64),
    "sign": SAME_NUMERIC,                # NumPy has no bool loop
    "exp": FLOAT_MATH, "expm1": FLOAT_MATH, "log": FLOAT_MATH, "log1p": FLOAT_MATH, "sqrt": FLOAT_MATH,
    "rsqrt": FLOAT_MATH, "sin": FLOAT_MATH, "cos": FLOAT_MATH, "tan": FLOAT_MATH, "tanh": FLOAT_MATH,
    "sigmoid": FLOAT_MATH, "softplus": FLOAT_MATH, "erf": FLOAT_MATH,
    "square": SAME_NUMERIC,              # NumPy: int8 for bool (rejected)
    "reciprocal": SAME_NUMERIC,          # NumPy: int8 for bool (rejected)
    "floor": SAME_NUMERIC, "ceil": SAME_NUMERIC,   # graphjit rejects bool (NumPy 2 returns bool)
    "round": SAME_NUMERIC,               # NumPy's rint gives float16 for bool (rejected); ints stay ints
    "relu": SAME_NUMERIC,                # graphjit rejects bool
    "logical_not": PREDICATE, "isnan": PREDICATE, "isinf": PREDICATE, "isfinite": PREDICATE,
    "invert": _by_dtype(B, I32, I64, None, None),
}

_ORDER = {d: i for i, d in enumerate(DTYPES)}
# NumPy 2 promotion of two strong dtypes, written out (checked against np.result_type in test_dtypes).
_PROMOTE = {
    (B, B): B, (B, I32): I32, (B, I64): I64, (B, F32): F32, (B, F64): F64,
    (I32, I32): I32, (I32, I64): I64, (I32, F32): F64, (I32, F64): F64,
    (I64, I64): I64, (I64, F32): F64, (I64, F64): F64,
    (F32, F32): F32, (F32, F64): F64, (F64, F64): F64,
}


def promote(a, b):
    return _PROMOTE[(a, b) if _ORDER[a] <= _ORDER[b] else (b, a)]


ARITHMETIC = ("add", "subtract", "multiply", "divide", "floordiv", "mod", "pow", "maximum", "minimum")
COMPARISONS = ("equal", "not_equal", "less", "less_equal", "greater", "greater_equal")
LOGICAL = ("logical_and", "logical_or", "logical_xor")
BITWISE = ("bitwise_and", "bitwise_or", "bitwise_xor")
BINARY_OPS = ARITHMETIC + COMPARISONS + LOGICAL + BITWISE
UNARY_OPS = tuple(UNARY_RESULT)
ELEMENTWISE_OPS = UNARY_OPS + BINARY_OPS + ("where", "clip")


def binary_result(op, a, b):
    """The dtype graphjit gives ``op`` on strong operands of dtypes ``a`` and ``b`` (None: rejected)."""
    if op in COMPARISONS or op in LOGICAL:
        return B
    both_bool = a == B and b == B
    if op in ("subtract",) and both_bool:
        return None                      # NumPy rejects bool - bool
    if op in ("floordiv", "mod", "pow") and both_bool:
        return None                      # NumPy gives int8
    if op in BITWISE and (a in (F32, F64) or b in (F32, F64)):
        return None
    out = promote(a, b)
    if op == "divide" and out in (B, I32, I64):
        return F64
    return out


# ---- reference machinery ---------------------------------------------------------------------------

def _wrap_to(values, out):
    """Python numbers -> an array of dtype ``out`` (integers wrap around like two's complement)."""
    dt = np.dtype(out)
    if dt.kind == "i":
        half = 2 ** (8 * dt.itemsize - 1)
        values = [(int(v) + half) % (2 * half) - half for v in values]
    elif dt.kind == "b":
        values = [bool(v) for v in values]
    with np.errstate(over="ignore"):  # Python floats beyond float32's range round to inf
        return np.array(values, dtype=dt)


def exact(fn, out, compute=None):
    """Reference: ``fn`` on each element as Python numbers (after casting the inputs to ``compute``, as
    NumPy does before comparing mixed dtypes), the results converted/wrapped to ``out``."""
    def reference(*args):
        arrays = [np.asarray(a) if compute is None else np.asarray(a).astype(compute) for a in args]
        arrays = np.broadcast_arrays(*arrays)
        values = [fn(*vs) for vs in zip(*(a.ravel().tolist() for a in arrays))]
        return _wrap_to(values, out).reshape(arrays[0].shape)
    return reference


def extended(fn, out):
    """Reference: ``fn`` in extended precision on the inputs cast to ``out`` (NumPy's loop dtype)."""
    def reference(*args):
        with np.errstate(all="ignore"):
            wide = [np.asarray(a).astype(out).astype(LD) for a in args]
            return np.asarray(fn(*wide)).astype(out)
    return reference


def values_for(dtype, extra=()):
    """Edge values of ``dtype`` (plus ``extra``, cast to it)."""
    if dtype == B:
        return np.array([True, False, True], dtype=bool)
    if dtype in (I32, I64):
        base = int_edge_values(np.dtype(dtype))
        extra = [v for v in extra if np.iinfo(dtype).min <= v <= np.iinfo(dtype).max and float(v).is_integer()]
    else:
        base = float_edge_values(np.dtype(dtype))
    with np.errstate(all="ignore"):
        return np.concatenate([base, np.array(extra, dtype=np.float64).astype(dtype)]) if len(extra) else base


CASES = []


def _add(ops, fn, args, reference, out, name, **kw):
    tol = _tol(out)
    tol.update(kw)
    CASES.append(Case(tuple(ops), fn, tuple(args), reference, name=name, **tol))


COVERED = set()   # (op, input dtypes): checked by test_elementwise against the tables above


# ---- unary ops -------------------------------------------------------------------------------------

def _ld_sigmoid(x):
    return 1 / (1 + np.exp(-x))          # exact enough in 80-bit: exp(1000) does not overflow there


def _ld_softplus(x):
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def _ld_erf(x):
    """erf in extended precision, independent of math.erf (the op's own): the Taylor series below |x| = 3
    (its largest term is ~170, so about 3 of longdouble's 19 digits cancel), the continued fraction of erfc
    from 3 to 7, and +-1 beyond (erfc(7) = 4e-23, below a float64 ulp of 1); NaN stays NaN."""
    x = np.asarray(x, dtype=LD)
    a = np.abs(np.where(np.isnan(x), 0, x))
    term, series = a.copy(), a.copy()
    for n in range(1, 80):
        term = term * -a * a / n
        series = series + term / (2 * n + 1)
    fraction = np.zeros_like(a)
    clipped = np.clip(a, 3, 7)
    for k in range(200, 0, -1):    # erfc(a) = exp(-a^2)/sqrt(pi) / (a + (1/2)/(a + 1/(a + (3/2)/(a + ...))))
        fraction = (k / LD(2)) / (clipped + fraction)
    erfc = np.exp(-clipped * clipped) / np.sqrt(LD(np.pi)) / (clipped + fraction)
    sqrt_pi = np.sqrt(LD(np.pi))
    magnitude = np.where(a < 3, 2 / sqrt_pi * series, np.where(a < 7, 1 - erfc, 1))
    return np.where(np.isnan(x), x, np.copysign(magnitude, x))


def _ld_relu(x):
    return np.where(np.isnan(x), x, np.where(x > 0, x, 0))   # NaN propagates, as np.maximum does


def _py_sign(v):
    return (v > 0) - (v < 0)


def _py_isinf(v):
    return isinstance(v, float) and math.isinf(v)


def _py_isfinite(v):
    return not isinstance(v, float) or math.isfinite(v)


def _py_isnan(v):
    return v != v


# op: (graphjit function, extended-precision float reference, exact integer/bool reference or None,
#      extra input values). The integer reference applies to int and bool inputs whose result is not float.
UNARY = {
    "negative": (gj.negative, np.negative, lambda v: -v, ()),
    "abs": (gj.abs, np.abs, abs, ()),
    "sign": (gj.sign, np.sign, _py_sign, ()),
    "exp": (gj.exp, np.exp, None, (-87.0, -100.0, -104.0, 88.0, 88.8, 709.0, 709.8, -745.0, 20.0)),
    "expm1": (gj.math.expm1, np.expm1, None, (1e-10, -1e-10, -20.0, 88.8, 709.8, 5e-8)),
    "log": (gj.math.log, np.log, None, (2.0, 1e-30, 1e30, 0.999999, 1e300, 7.0)),
    "log1p": (gj.math.log1p, np.log1p, None, (-1.0, -0.999, 1e-10, -1e-10, 1e30, -1.5)),
    "sqrt": (gj.sqrt, np.sqrt, None, (2.0, 1e-30, 1e30, 4.0, 1e-310)),
    "rsqrt": (gj.math.rsqrt, lambda x: 1 / np.sqrt(x), None, (2.0, 4.0, 1e-30, 1e30)),
    "sin": (gj.sin, np.sin, None, (3.141592653589793, 1e5, 1e10, 1e22, 1.5707963267948966, -4.0)),
    "cos": (gj.cos, np.cos, None, (3.141592653589793, 1e5, 1e10, 1e22, 1.5707963267948966, -4.0)),
    "tan": (gj.tan, np.tan, None, (3.141592653589793, 1e5, 1e10, 1.5707963267948966, 1.57, -4.0)),
    "tanh": (gj.tanh, np.tanh, None, (1e-10, 5.0, -9.0, 20.0, -20.0, 0.3)),
    "sigmoid": (gj.sigmoid, _ld_sigmoid, None, (-1000.0, 1000.0, -80.0, 80.0, -30.0, 17.0, -740.0, 1e-9)),
    "softplus": (gj.math.softplus, _ld_softplus, None, (-1000.0, 1000.0, -80.0, 80.0, 30.0, -30.0, 1e-9)),
    "erf": (gj.math.erf, _ld_erf, None, (0.5, -0.5, 1e-10, 2.9, 3.1, -4.0, 6.5, 1e-310, 0.3)),
    "square": (gj.square, np.square, lambda v: v * v, (1e20, 1e-20, 1e160, 46341.0, 3037000500.0)),
    "reciprocal": (gj.math.reciprocal, lambda x: 1 / x, lambda v: int(1 / v), (7.0, 1e-39, 1e-310)),
    "floor": (gj.floor, np.floor, lambda v: v, (1.5, -1.5, 2.5, 1e7 + 0.5, -0.3)),
    "ceil": (gj.math.ceil, np.ceil, lambda v: v, (1.5, -1.5, 2.5, 1e7 + 0.5, -0.3)),
    "round": (gj.round, np.rint, lambda v: v, (0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999997, 4503599627370497.0)),
    "relu": (gj.nn.relu, _ld_relu, lambda v: max(v, 0), ()),
    "logical_not": (gj.logical_not, None, lambda v: not v, ()),
    "isnan": (gj.math.is_nan, None, _py_isnan, ()),
    "isinf": (gj.math.is_inf, None, _py_isinf, ()),
    "isfinite": (gj.math.is_finite, None, _py_isfinite, ()),
    "invert": (gj.bitwise.invert, None, lambda v: (not v) if isinstance(v, bool) else ~v, ()),
}
assert set(UNARY) == set(UNARY_RESULT)

for _op, (_fn, _float_ref, _int_ref, _extra) in UNARY.items():
    for _dt, _out in UNARY_RESULT[_op].items():
        if _out is None:
            continue
        _x = values_for(_dt, _extra)
        if _op == "reciprocal" and _dt in (I32, I64):
            _x = _x[_x != 0]   # NumPy's integer 1/0 is platform-defined (C division by zero); not a contract
        if _out in (F32, F64):
            _ref = extended(_float_ref, _out)
        else:
            _ref = exact(_int_ref, _out)    # int/bool results, and predicates on floats (Python semantics)
        COVERED.add((_op, (_dt,)))
        _add((_op,), _fn, (_x,), _ref, _out, f"{_op}[{_dt}]")

# Empty and 0-d inputs keep their shapes.
_add(("exp",), gj.exp, (np.zeros((0, 3), np.float32),), extended(np.exp, F32), F32, "exp[float32,empty]")
_add(("sqrt",), gj.sqrt, (np.array(2.0, np.float64),), extended(np.sqrt, F64), F64, "sqrt[float64,0-d]")
_add(("negative",), gj.negative, (np.zeros((2, 0), np.int64),), exact(lambda v: -v, I64), I64, "negative[int64,empty]")
_add(("isnan",), gj.math.is_nan, (np.zeros((0,), np.float64),), exact(_py_isnan, B), B, "isnan[float64,empty]")
_add(("sigmoid",), gj.sigmoid, (np.linspace(-50, 50, 24, dtype=np.float32).reshape(2, 3, 4),),
     extended(_ld_sigmoid, F32), F32, "sigmoid[float32,rank3]")
# Unary operators.
_add(("negative",), lambda x: -x, (values_for(F32),), extended(np.negative, F32), F32, "operator-[float32]")
_add(("abs",), lambda x: abs(x), (values_for(I32),), exact(abs, I32), I32, "abs()[int32]")
_add(("invert",), lambda x: ~x, (values_for(I64),), exact(lambda v: ~v, I64), I64, "operator~[int64]")
_add(("invert",), lambda x: ~x, (values_for(B),), exact(lambda v: not v, B), B, "operator~[bool]")


# ---- binary ops ------------------------------------------------------------------------------------

def _py_floordiv(a, b):
    return 0 if b == 0 else a // b       # NumPy: integer division by zero gives 0


def _py_mod(a, b):
    return 0 if b == 0 else a % b        # NumPy: integer modulo by zero gives 0


def _py_pow(a, b):
    """C99 ``pow`` (IEEE special cases) through Python's ``math.pow``, which raises where C returns inf/NaN.
    (``np.power`` on longdouble is not used: glibc's powl gets pow(-inf, -2**63) wrong.)"""
    try:
        return math.pow(a, b)
    except OverflowError:
        odd = float(b).is_integer() and b % 2 == 1
        return -math.inf if (a < 0 and odd) else math.inf
    except ValueError:
        if a == 0:                       # zero to a negative power: a pole, signed for odd powers of -0.0
            odd = float(b).is_integer() and b % 2 == 1
            return math.copysign(math.inf, a) if odd else math.inf
        return math.nan                  # negative base, non-integer exponent


def _py_logical(fn):
    return lambda a, b: fn(bool(a), bool(b))


# op: (graphjit function, extended-precision float reference, exact Python reference for ints/bools)
BINARY = {
    "add": (gj.add, np.add, lambda a, b: a + b),
    "subtract": (gj.subtract, np.subtract, lambda a, b: a - b),
    "multiply": (gj.multiply, np.multiply, lambda a, b: a * b),
    "divide": (gj.divide, np.divide, None),                 # ints divide in float64
    "floordiv": (gj.math.floordiv, np.floor_divide, _py_floordiv),
    "mod": (gj.math.mod, np.mod, _py_mod),
    "pow": (gj.pow, None, None),                            # float: _py_pow; integer pow: see below
    "maximum": (gj.maximum, np.maximum, max),
    "minimum": (gj.minimum, np.minimum, min),
    "equal": (gj.equal, None, lambda a, b: a == b),
    "not_equal": (gj.not_equal, None, lambda a, b: a != b),
    "less": (gj.less, None, lambda a, b: a < b),
    "less_equal": (gj.less_equal, None, lambda a, b: a <= b),
    "greater": (gj.greater, None, lambda a, b: a > b),
    "greater_equal": (gj.greater_equal, None, lambda a, b: a >= b),
    "logical_and": (gj.logical_and, None, _py_logical(lambda a, b: a and b)),
    "logical_or": (gj.logical_or, None, _py_logical(lambda a, b: a or b)),
    "logical_xor": (gj.logical_xor, None, _py_logical(lambda a, b: a != b)),
    "bitwise_and": (gj.bitwise.bitwise_and, None, lambda a, b: a & b),
    "bitwise_or": (gj.bitwise.bitwise_or, None, lambda a, b: a | b),
    "bitwise_xor": (gj.bitwise.bitwise_xor, None, lambda a, b: a ^ b),
}
assert set(BINARY) == set(BINARY_OPS)

# Every same-dtype pair, and mixed pairs covering each promotion kind (bool->int, int widening,
# int->float64, bool->float, float widening).
PAIRS = [(d, d) for d in DTYPES] + [(B, I32), (I32, I64), (I64, I32), (I32, F32), (F32, I64), (B, F32),
                                    (F32, F64), (F64, B)]

_POW_EXPONENTS = {I32: [0, 1, 2, 3, 13, 31, 32, 2 ** 31 - 1], I64: [0, 1, 2, 3, 13, 63, 64, 2 ** 63 - 1],
                  B: [True, False]}


def _int_pow(out):
    """Integer powers wrap around (NumPy multiplies in the integer dtype); exponents are >= 0 here."""
    bits = 8 * np.dtype(out).itemsize
    return exact(lambda a, b: pow(int(a), int(b), 2 ** bits), out)


def _binary_reference(op, a, b, out):
    float_ref, int_ref = BINARY[op][1], BINARY[op][2]
    if op in COMPARISONS:
        return exact(int_ref, B, compute=promote(a, b))     # NumPy compares in the promoted dtype
    if op in LOGICAL:
        return exact(int_ref, B)
    if op == "pow":
        return exact(_py_pow, out, compute=out) if out in (F32, F64) else _int_pow(out)
    if out in (F32, F64):
        return extended(float_ref, out)
    return exact(int_ref, out)


for _op, (_fn, _, _) in BINARY.items():
    for _a, _b in PAIRS:
        _out = binary_result(_op, _a, _b)
        if _out is None:
            continue
        _x = values_for(_a).reshape(-1, 1)
        _y = values_for(_b).reshape(1, -1)
        if _op == "pow" and _out in (B, I32, I64):
            _y = np.array(_POW_EXPONENTS[_b], dtype=_b).reshape(1, -1)   # negative int powers raise
        COVERED.add((_op, (_a, _b)))
        _add((_op,), _fn, (_x, _y), _binary_reference(_op, _a, _b, _out), _out, f"{_op}[{_a},{_b}]")

# Empty and 0-d operands, and broadcasting of unequal ranks.
_add(("add",), gj.add, (np.zeros((0, 3), np.float32), np.float32([1, 2, 3])), extended(np.add, F32), F32,
     "add[float32,empty]")
_add(("less",), gj.less, (np.zeros((4, 0), np.int32), np.zeros((1, 0), np.int64)),
     exact(lambda a, b: a < b, B, I64), B, "less[int32,int64,empty]")
_add(("multiply",), gj.multiply, (np.arange(24, dtype=np.float64).reshape(2, 3, 4), np.array(-1.5)),
     extended(np.multiply, F64), F64, "multiply[float64,0-d]")
_add(("mod",), gj.math.mod, (np.arange(-12, 12, dtype=np.int32).reshape(2, 3, 4), np.int32([[5], [-3], [0]])),
     exact(_py_mod, I32), I32, "mod[int32,rank3-broadcast]")

# Python scalars are weak (NEP 50): the tensor's dtype wins within a kind; an int tensor with a float is
# float64. Columns: op, dtype of the tensor, the Python scalar, the dtype the scalar becomes (NumPy's
# loop dtype), the result dtype. Each runs with the scalar on either side.
_WEAK = [
    ("multiply", F32, 2.0, F32, F32), ("add", I32, 1, I32, I32), ("multiply", I32, 2.0, F64, F64),
    ("add", B, 1, I64, I64), ("add", B, 1.5, F64, F64), ("subtract", I64, -3, I64, I64),
    ("divide", I32, 2, F64, F64), ("divide", F32, 3, F32, F32), ("floordiv", I32, -2, I32, I32),
    ("mod", F32, 2.5, F32, F32), ("mod", I64, -3, I64, I64), ("pow", F32, 2, F32, F32), ("pow", I64, 3, I64, I64),
    ("pow", F64, 0.5, F64, F64), ("maximum", I32, 0, I32, I32), ("minimum", F64, 0.5, F64, F64),
    ("less", I32, 2.5, F64, B), ("equal", F32, 0.1, F32, B), ("greater_equal", I64, -1, I64, B),
    ("bitwise_and", I32, 6, I32, I32), ("bitwise_or", B, True, B, B), ("bitwise_xor", I64, -1, I64, I64),
    ("logical_xor", F32, 0.0, F32, B), ("logical_and", I32, True, I32, B),
    ("add", F32, 2 ** 40, F32, F32), ("multiply", I32, True, I32, I32), ("subtract", F64, True, F64, F64),
]
for _op, _dt, _s, _compute, _out in _WEAK:
    _fn, _float_ref, _int_ref = BINARY[_op]
    _x = values_for(_dt)
    if _op in COMPARISONS or _op in LOGICAL:
        _ref = exact(_int_ref, B, compute=_compute)
    elif _op == "pow" and _s == 0.5:
        # NumPy computes x ** 0.5 with a scalar exponent as sqrt(x): (-inf) ** 0.5 is NaN there, +inf in
        # C's pow (and in np.power with an array exponent). graphjit matches NumPy's scalar behaviour.
        _ref = extended(lambda x, s: np.sqrt(x), _out)
    elif _op == "pow" and _out in (F32, F64):
        _ref = exact(_py_pow, _out, compute=_compute)
    elif _out in (F32, F64):
        _ref = extended(_float_ref, _out)
    elif _op == "pow":
        _x = np.array([0, 1, 2, 5, 13, 39], dtype=_dt)   # non-negative: it is also the exponent below
        _ref = _int_pow(_out)
    else:
        _ref = exact(_int_ref, _out, compute=_compute)
    _scalar = f"{type(_s).__name__} {_s!r}"
    _add((_op,), _fn, (_x, _s), _ref, _out, f"{_op}[{_dt},{_scalar}]")
    if _op == "pow" and _s == 0.5:
        _ref = exact(_py_pow, _out, compute=_compute)    # 0.5 ** x is an ordinary pow
    _add((_op,), _fn, (_s, _x), _ref, _out, f"{_op}[{_scalar},{_dt}]")

# Binary operators and their reflected forms (tensor on either side, with tensors and Python scalars).
_F = values_for(F32)
_I = values_for(I32)
_OPERATOR_CASES = [
    ("add", lambda x, y: x + y, (_F.reshape(-1, 1), _F.reshape(1, -1)), extended(np.add, F32), F32, "x+y"),
    ("subtract", lambda x: 2 - x, (_F,), extended(lambda x: 2 - x, F32), F32, "2-x"),
    ("subtract", lambda x: x - 2, (_I,), exact(lambda v: v - 2, I32), I32, "x-2"),
    ("multiply", lambda x: 3 * x, (_I,), exact(lambda v: 3 * v, I32), I32, "3*x"),
    ("divide", lambda x, y: x / y, (_F.reshape(-1, 1), _F.reshape(1, -1)), extended(np.divide, F32), F32, "x/y"),
    ("divide", lambda x: 1 / x, (_I,), extended(lambda x: 1 / x, F64), F64, "1/x[int32]"),
    ("floordiv", lambda x, y: x // y, (_I.reshape(-1, 1), _I.reshape(1, -1)), exact(_py_floordiv, I32), I32, "x//y"),
    ("floordiv", lambda x: 7 // x, (_I,), exact(lambda v: _py_floordiv(7, v), I32), I32, "7//x"),
    ("mod", lambda x, y: x % y, (_F.reshape(-1, 1), _F.reshape(1, -1)), extended(np.mod, F32), F32, "x%y"),
    ("mod", lambda x: -7.5 % x, (_F,), extended(lambda x: np.mod(LD(-7.5), x), F32), F32, "-7.5%x"),
    ("pow", lambda x: x ** 2, (_F,), exact(lambda v: _py_pow(v, 2.0), F32, F32), F32, "x**2"),
    ("pow", lambda x, y: x ** y, (_F.reshape(-1, 1), _F.reshape(1, -1)), exact(_py_pow, F32, F32), F32, "x**y"),
    ("pow", lambda x: 2.0 ** x, (_F,), exact(lambda v: _py_pow(2.0, v), F32, F32), F32, "2.0**x"),
    ("pow", lambda x: 2 ** x, (np.arange(0, 40, dtype=np.int64),), exact(lambda v: 2 ** v, I64), I64, "2**x"),
    ("equal", lambda x, y: x == y, (_F.reshape(-1, 1), _F.reshape(1, -1)), exact(lambda a, b: a == b, B), B, "x==y"),
    ("not_equal", lambda x, y: x != y, (_F.reshape(-1, 1), _F.reshape(1, -1)), exact(lambda a, b: a != b, B), B,
     "x!=y"),
    ("less", lambda x, y: x < y, (_I.reshape(-1, 1), _I.reshape(1, -1)), exact(lambda a, b: a < b, B), B, "x<y"),
    ("less_equal", lambda x: x <= 1, (_I,), exact(lambda v: v <= 1, B), B, "x<=1"),
    ("greater", lambda x: 0.5 > x, (_F,), exact(lambda v: 0.5 > v, B), B, "0.5>x"),
    ("greater_equal", lambda x, y: x >= y, (_F.reshape(-1, 1), _F.reshape(1, -1)), exact(lambda a, b: a >= b, B),
     B, "x>=y"),
    ("bitwise_and", lambda x, y: x & y, (_I.reshape(-1, 1), _I.reshape(1, -1)), exact(lambda a, b: a & b, I32), I32,
     "x&y"),
    ("bitwise_or", lambda x: 6 | x, (_I,), exact(lambda v: 6 | v, I32), I32, "6|x"),
    ("bitwise_xor", lambda x, y: x ^ y, (values_for(B).reshape(-1, 1), values_for(B).reshape(1, -1)),
     exact(lambda a, b: a != b, B), B, "x^y[bool]"),
    ("bitwise_and", lambda x: True & x, (values_for(B),), exact(lambda v: v, B), B, "True&x"),
]
for _op, _fn, _args, _ref, _out, _name in _OPERATOR_CASES:
    _add((_op,), _fn, _args, _ref, _out, f"operator {_name}")


# ---- where and clip ---------------------------------------------------------------------------------

def _where_reference(out):
    def reference(c, x, y):
        c, x, y = np.broadcast_arrays(np.asarray(c), np.asarray(x).astype(out), np.asarray(y).astype(out))
        values = [a if bool(cc) else b for cc, a, b in zip(c.ravel().tolist(), x.ravel().tolist(), y.ravel().tolist())]
        return np.array(values, dtype=out).reshape(c.shape)
    return reference


def _py_clip(v, lo, hi):
    if v != v:
        return v                          # NaN stays NaN
    v = lo if v < lo else v
    return hi if v > hi else v            # lo > hi gives hi, as np.clip does


_COND = np.array([True, False, True, False, False, True])
for _a, _b in [(d, d) for d in DTYPES] + [(I32, F32), (B, I64), (F32, F64), (I32, I64)]:
    _out = promote(_a, _b)
    _x = np.resize(values_for(_a), 6)
    _y = np.resize(values_for(_b)[::-1], 6)
    COVERED.add(("where", (_a, _b)))
    _add(("where",), gj.where, (_COND, _x, _y), _where_reference(_out), _out, f"where[{_a},{_b}]")
_add(("where",), gj.where, (np.array([[True], [False], [True]]), np.arange(4, dtype=np.float32).reshape(1, 4), 0.5),
     _where_reference(F32), F32, "where[broadcast,weak scalar]")
_add(("where",), gj.where, (np.zeros((0, 2), bool), np.zeros((1, 2), np.int32), -1), _where_reference(I32), I32,
     "where[empty]")
_add(("where", "not_equal"), gj.where, (np.float32([0.0, -0.0, np.nan, 2.0, np.inf]), np.int64(7) * np.ones(5, np.int64),
                                         np.int64([-1, -2, -3, -4, -5])), _where_reference(I64), I64,
     "where[float condition]")

for _dt, _lo, _hi in [(F32, -1.0, 2.5), (F64, 0.0, 1.0), (I32, -5, 13), (I64, 0, 2 ** 40), (F32, 3.0, -3.0)]:
    _x = values_for(_dt)
    COVERED.add(("clip", (_dt,)))
    _add(("clip",), gj.clip_by_value, (_x, _lo, _hi), exact(_py_clip, _dt, compute=_dt), _dt,
         f"clip[{_dt},{_lo},{_hi}]")
COVERED.add(("clip", (B,)))
_add(("clip",), gj.clip_by_value, (values_for(B), False, True), exact(_py_clip, B), B, "clip[bool]")
_add(("clip",), gj.clip_by_value, (np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4),
                                   np.float32([[-1], [0], [1]]), np.float32([0.5, 1.0, 2.0, 3.0])),
     exact(_py_clip, F32), F32, "clip[float32,tensor bounds]")
_add(("clip",), gj.clip_by_value, (values_for(I32), 0.5, 1.5), exact(_py_clip, F64, compute=F64), F64,
     "clip[int32,float bounds->float64]")
