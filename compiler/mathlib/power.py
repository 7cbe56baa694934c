"""mathlib's pow: ``pow_f32(x, y)`` and ``pow_f64(x, y)``, NumPy's float ``power`` for one element (C99 pow).

Exponents that are integers or half-integers with |y| <= 16 (``x**3``, ``x**-1``, ``x**1.5``, ``x**-0.5``) take
binary powering: repeated squaring plus the multiplies that the bits of |y| select, ``sqrt`` for the half, one
reciprocal for a negative exponent. Every choice is a select on values computed from y alone, so for a literal
exponent (generated code inlines size-1 constants) LLVM folds the selects and deletes the unused paths: ``x**3``
is two multiplies. (float32 classifies each element of a tensor y the same way, branch-free; float64 takes binary
powering only for a literal y, ``llvm.is.constant``, as its double-double version costs more than the general
path.) Other exponents take ``exp(y * log|x|)`` with C99's special cases, in float64 for float32; for float64
log|x| comes from a 128-entry table (compiler/mathlib/table_log.py: two loads, ~2^-70 relative), y log|x| with its
FMA remainder, and a table-free exp rounded once (double_double.exp_dd): no libm, no branches (the loads become
gathers when the loop is vectorised).

Accuracy against the exactly rounded result (tests/test_powers.py measures it on >= 10^6 points per case):
  pow_f32, small exponents: x^n by float64 multiplies, rounded once to float32. The float64 value is within
      (|n|+1) 2^-53 relative of x^n, so the result is the correctly rounded one unless x^n lies within 2^-28 ULP
      of a rounding midpoint: error <= 0.5 + 2^-28 ULP (the same for the half-integers, sqrt is exact-rounded).
  pow_f32, other exponents: log|x| to 2^-50 relative (series of atanh to s^17), exp to 2^-32: error <= 0.51 ULP
      (measured 0.5011).
  pow_f64, small literal exponents: the mantissa m in [1, 4) of |x| = m 2^(2j) is raised in double-double (FMA
      products, ~2^-100 relative), rounded once to float64 and scaled by 2^(2jy) (exact, except that a subnormal result
      rounds a second time): error <= 0.5 + 2^-40 ULP for normal results (checked with exact fractions for
      the integers; the half-integers measured 0.5024 against long double, itself ~2^-8 ULP off), <= 1 ULP
      for subnormal ones (measured 0.751).
  pow_f64, other exponents and tensor ones: t = y log|x| is right to about 2^-68 |t| (|t| <= 745 where the result
      is finite and non-zero: 2^-58 absolute, under 0.05 ULP of the result); exp(t) adds ~2^-55.5 relative (its
      reduced argument, polynomial and the small terms' sum each round once near 2^-57) and its one rounding:
      <= 1 ULP (measured 0.72 on 10^6 points per exponent, 10^6 mixed pairs and 3 x 10^6 pairs at the edges of the
      range; 0.81 for subnormal results, which round twice).
Special values as C99 pow: x**0 = 1 and 1**y = 1 (NaN included), signed zeros and infinities by the parity of
integer exponents, NaN for a negative finite base and a non-integer exponent, (-1)**inf = 1, |x| < 1 or > 1
against +-inf. (NumPy's own shortcut for an exponent of 0.5 read with stride 0, sqrt, is the op's lowering
rule's business: tracer/ops/elementwise.py.)
"""
import math

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from .double_double import call as _call
from .double_double import dd_mul as _dd_mul
from .double_double import exp_dd
from .double_double import fma as _fma
from .table_log import log_table
from .float32 import _LOG_OFFSET, _MANT_MASK, _SQRT_HALF_BITS, _exp_d
from .llvm_values import _F, _SHIFT, SOURCE_SHA256, _U, _V, where

_EXP_BIAS = _U(0x4338000000000000 - 1023)  # bits(k + _SHIFT) - _EXP_BIAS = k + 1023 for an integer k
_ONE_BITS = _U(0x3FF0000000000000)
_LN2 = _F(0.6931471805599453)
_TWO64 = _F(2.0 ** 64)
_MAX_SMALL = 16.0                          # |y| up to this many squarings' worth takes binary powering


# ---- IR helpers beyond _V's operators -------------------------------------------------------------

def _floor(x):
    return _call("llvm.floor", x)


def _sqrt(x):
    return _call("llvm.sqrt", x)


def _const_like(x, value):
    return _V(x.b, ir.Constant(x.v.type, float(value)))


def _ne(a, b):
    """``a != b`` unordered (true where either is NaN), as Python's."""
    other = b.v if isinstance(b, _V) else ir.Constant(a.v.type, float(b))
    return _V(a.b, a.b.fcmp_unordered("!=", a.v, other))


def _le(a, b):
    other = b.v if isinstance(b, _V) else ir.Constant(a.v.type, float(b))
    return _V(a.b, a.b.fcmp_ordered("<=", a.v, other))


def _or(a, b):
    return _V(a.b, a.b.or_(a.v, b.v))


def _not(c):
    return _V(c.b, c.b.not_(c.v))


def _sign_negative(x):
    """Whether x's sign bit is set (-0.0 and -NaN included)."""
    bits = x.bits()
    width = 32 if x.v.type == ir.FloatType() else 64
    return (bits >> (width - 1)) == 1


# ---- exponent classification (values of y alone: folded for a literal y) ------------------------------

def _classify(y):
    """(small, integer, odd) for float64 y: small = an integer or half-integer with |y| <= 16."""
    twice = y * 2.0
    small = (twice == _floor(twice)) & _le(y.abs(), _MAX_SMALL)
    integer = y == _floor(y)               # +-inf counts as an (even) integer, as in C99
    half = y * 0.5
    odd = integer & _ne(half, _floor(half))
    return small, integer, odd


def _bits_of(h):
    """The 5 low bits of the integer-valued float64 h in [0, 16], least significant first, as bools."""
    bits = []
    t = h
    for _ in range(5):
        rest = _floor(t * 0.5)
        bits.append(_ne(t, rest * 2.0))
        t = rest
    return bits


# ---- float32 --------------------------------------------------------------------------------------

def _small_power_d(x, y):
    """x ** y for float64 x (a widened float32) and a small y, in float64 multiplies."""
    a = y.abs()
    h = _floor(a)
    half = _ne(a, h)
    # a half power of -0.0 is +0.0 and of -inf is +inf (C99), not sqrt's -0.0 and NaN
    base = where(half & _or(x == 0.0, x == -math.inf), x.abs(), x)
    acc, p = _const_like(x, 1.0), base
    for i, bit in enumerate(_bits_of(h)):
        acc = where(bit, acc * p, acc)     # acc = 1.0 at first: 1.0 * p folds to p
        if i < 4:
            p = p * p
    acc = where(half, acc * _sqrt(base), acc)
    return where(y < 0.0, 1.0 / acc, acc)


def _log_precise(u):
    """log(u) for a positive normal float64 u, to 2^-50 relative: atanh series of s = (m-1)/(m+1) to s^17."""
    ix = u.bits() + _LOG_OFFSET
    k = (ix >> 52).low32().f64() - 1023.0
    m = ((ix & _MANT_MASK) + _SQRT_HALF_BITS).as_float()
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    series = _F(2.0 / 17.0)
    for k_odd in (15, 13, 11, 9, 7, 5, 3):
        series = _F(2.0 / k_odd) + z * series
    return k * _LN2 + (s * 2.0 + s * (z * series))


def _general_power_d(x, y):
    """C99 pow(x, y) for float64 x, y that a float32 result can hold: exp(y log|x|), within 2^-31 relative."""
    a = x.abs()
    log_a = _log_precise(where(a > 0.0, a, 1.0))
    log_a = where(a == 0.0, -math.inf, log_a)
    log_a = where(a == math.inf, math.inf, log_a)
    log_a = where(a == a, log_a, a)        # NaN stays NaN
    t = y * log_a
    t = where(t > 200.0, 200.0, t)         # exp(+-200) is finite in float64, inf / 0 in float32; NaN passes
    t = where(t < -200.0, -200.0, t)
    return _exp_d(t)


def _c99_cases(x, y, magnitude, integer, odd):
    """Signs and special values of C99 pow around ``magnitude`` = |x| ** y."""
    r = where(_sign_negative(x) & odd, -magnitude, magnitude)
    negative_finite = (x < 0.0) & (x > -math.inf)
    r = where(negative_finite & _not(integer), math.nan, r)
    r = where((x.abs() == 1.0) & (y.abs() == math.inf), 1.0, r)   # (-1) ** +-inf = 1
    r = where(x == 1.0, 1.0, r)
    return where(y == 0.0, 1.0, r)


def _pow32(x, y, context):
    xd, yd = x.f64(), y.f64()
    small, integer, odd = _classify(yd)
    general = _c99_cases(xd, yd, _general_power_d(xd, yd), integer, odd)
    return where(small, _small_power_d(xd, yd), general).f32()


# ---- float64: double-double --------------------------------------------------------------------------

def _dd_sqrt(m):
    s = _sqrt(m)
    return s, _fma(-s, s, m) / (s * 2.0)


def _dd_reciprocal(a):
    h, low = a
    q = 1.0 / h
    correction = q * (_fma(-q, h, _const_like(q, 1.0)) - q * low)
    r = q + correction
    return r, correction - (r - q)


def _select_dd(cond, a, b):
    return where(cond, a[0], b[0]), where(cond, a[1], b[1])


def _power_of_two(k):
    """2^k for an integer-valued float64 k in [-1022, 1023]."""
    return (((k + _SHIFT).bits() - _EXP_BIAS) << 52).as_float()


def _small_power_dd(x, y, integer, odd):
    a = x.abs()
    tiny = a < _F(2.0 ** -1022)
    scaled = where(tiny, a * _TWO64, a)
    bits = scaled.bits()
    e = (bits >> 52).low32().f64() - where(tiny, _const_like(a, 1023.0 + 64.0), 1023.0)
    mantissa = ((bits & _MANT_MASK) + _ONE_BITS).as_float()     # [1, 2)
    j = _floor(e * 0.5)
    m = where(e == j * 2.0, mantissa, mantissa * 2.0)               # |x| = m 2^(2j), m in [1, 4)
    ay = y.abs()
    h = _floor(ay)
    half = _ne(ay, h)
    zero = _const_like(m, 0.0)
    p = (m, zero)
    acc, started = (_const_like(m, 1.0), zero), None
    for i, bit in enumerate(_bits_of(h)):
        # the first factor is p itself (a product with the double-double 1 would not fold away)
        product = p if started is None else _select_dd(started, _dd_mul(acc, p), p)
        acc = _select_dd(bit, product, acc)
        started = bit if started is None else _or(started, bit)
        if i < 4:
            p = _dd_mul(p, p)
    acc = _select_dd(half, _dd_mul(acc, _dd_sqrt(m)), acc)
    acc = _select_dd(y < 0.0, _dd_reciprocal(acc), acc)
    v = acc[0] + acc[1]                   # in [2^-32, 2^32]
    k = j * (y * 2.0)                     # the power of two: |x|^y = v 2^k
    k = where(k > 1200.0, 1200.0, k)      # beyond these the result is inf / 0 anyway (v < 2^33)
    k = where(k < -1200.0, -1200.0, k)
    k1 = _floor(k * 0.5)
    magnitude = (v * _power_of_two(k1)) * _power_of_two(k - k1)    # only the last multiply can round
    positive, inf = y > 0.0, _const_like(a, math.inf)
    magnitude = where(a == 0.0, where(positive, 0.0, inf), magnitude)
    magnitude = where(a == math.inf, where(positive, inf, 0.0), magnitude)
    magnitude = where(a == a, magnitude, a)
    return _c99_cases(x, y, magnitude, integer, odd)


def _general_power_dd(x, y, integer, odd):
    """C99 pow(x, y) for float64 x, y: exp(y log|x|) with log|x| and y log|x| as double-doubles
    (compiler/mathlib/table_log.py, double_double.exp_dd). Most special values come out of the arithmetic:
    log_table gives -inf, +inf and NaN for |x| = 0, inf and NaN, so y log|x| is +-inf (exp: inf or 0) or NaN;
    |x| = 1 multiplies log|x| = 0 by 0 instead of y, so that 1 ** inf, 1 ** NaN and (-1) ** inf are 1 (and
    (-1) ** NaN NaN below). Every special case is a select: the loop stays branch-free."""
    a = x.abs()
    log_hi, log_lo = log_table(a)
    y_eff = where(a == 1.0, 0.0, y)
    t_hi = y_eff * log_hi
    t_lo = _fma(y_eff, log_hi, -t_hi) + y_eff * log_lo
    magnitude = exp_dd(t_hi, t_lo)         # y log|x| beyond +-745 (or +-inf): inf or 0; NaN stays NaN
    r = where(odd, _call("llvm.copysign", magnitude, x), magnitude)
    negative_finite = (x.bits() - _U(0x8000000000000001)) < _U(0xFFF0000000000000 - 0x8000000000000001)
    r = where(negative_finite & _not(integer), math.nan, r)    # (-inf < x < 0: one unsigned compare)
    return where(y == 0.0, 1.0, r)


def _is_constant(v):
    """Whether LLVM knows v's value once this function is inlined and optimised (``llvm.is.constant``: false
    unless v folds to a constant by the time the intrinsic is lowered, after inlining)."""
    name = "llvm.is.constant.f64"
    module = v.b.module
    fn = module.globals.get(name) or ir.Function(module, ir.FunctionType(ir.IntType(1), [ir.DoubleType()]), name)
    return _V(v.b, v.b.call(fn, [v.v]))


def _pow64(x, y, context):
    small, integer, odd = _classify(y)
    # Binary powering only for a literal exponent, where it folds to its few multiplies (and is exact to 2^-40);
    # for a tensor exponent computing both paths cost 2.5x the general one alone, which is within 1 ULP anyway.
    literal_small = _V(y.b, y.b.and_(_is_constant(y).v, small.v))
    return where(literal_small, _small_power_dd(x, y, integer, odd), _general_power_dd(x, y, integer, odd))


# ---- Numba intrinsics ---------------------------------------------------------------------------------

def _binary_function(name, body, float_type, numba_type):
    """``body`` (x, y, context -> _V) as a Numba intrinsic of two numbers converted to ``numba_type``, calling an
    alwaysinline IR function defined once per module (as llvm_values._float32_function does for one operand)."""
    symbol = f"graphjit_mathlib_{name}_{SOURCE_SHA256[:16]}"

    def define(context, module):
        fn = module.globals.get(symbol)
        if fn is None:
            fn = ir.Function(module, ir.FunctionType(float_type, [float_type, float_type]), symbol)
            fn.linkage = "internal"
            fn.attributes.add("alwaysinline")
            fn.attributes.add("nounwind")
            b = ir.IRBuilder(fn.append_basic_block("entry"))
            b.ret(body(_V(b, fn.args[0]), _V(b, fn.args[1]), context).v)
        return fn

    def typer(typingctx, x, y):
        if not all(isinstance(t, (types.Float, types.Integer, types.Boolean)) for t in (x, y)):
            return None

        def codegen(context, builder, sig, args):
            vs = [context.cast(builder, v, t, numba_type) for v, t in zip(args, sig.args)]
            return builder.call(define(context, builder.module), vs)
        return numba_type(x, y), codegen
    typer.__name__ = typer.__qualname__ = name
    typer.__doc__ = f"NumPy's power for one {numba_type} element (see compiler.mathlib.power)."
    return intrinsic(typer)


pow_f32 = _binary_function("pow_f32", _pow32, ir.FloatType(), types.float32)
pow_f64 = _binary_function("pow_f64", _pow64, ir.DoubleType(), types.float64)
