"""Table-driven log and exp for float64 pow: ``log_table`` (log of a positive float64 as hi + lo, to ~2^-70
relative) and ``exp_table`` (exp of hi + lo, rounded once where the result is normal), straight-line IR whose
table reads are loads from LLVM constant arrays (gathers once a loop is vectorised).

pow_f64 computes |x|^y = exp(y log|x|): the result's relative error is the absolute error of t = y log|x|, and
|t| reaches 745 before the result overflows or vanishes, so log|x| must be right to ~2^-64 relative. Tables
make both functions short: log needs a polynomial in |r| < 2^-7 instead of a series in |s| < 0.1716, exp one in
|r| <= ln2/256 instead of ln2/2 (the table-free double-double versions this replaced cost twice as much).

log(a): a = 2^k z with z in [Z0, 2 Z0), Z0 = asdouble(_LOG_OFF) ~ 0.708, split into _LOG_N intervals of equal
width in z's bits; interval i has a centre c_i with 1/c_i = _INVC[i] rounded to a multiple of 2^-7 (below 1.0,
where z's ulp is 2^-53) or 2^-8 (above 1.0, ulp 2^-52), so r = z/c_i - 1 = fma(z, 1/c_i, -1) is exact (a
multiple of 2^-60 under 2^-7). The interval holding 1.0 (two thirds in, so that |z - 1| < 2^-8.5 on either side)
has 1/c = 1, log c = 0: near 1, log z = r + P(r) keeps its relative accuracy. Then
    log a = k ln2 + log c_i + r - r^2/2 + r^3 Q(r),   Q: Taylor 1/3 - r/4 + ... + r^6/9 (truncation < 2^-70 |r|)
with ln2 and log c_i split as hi (multiples of 2^-42: k ln2_hi + log c_hi is exact) + lo, r^2/2 exact by FMA,
and the roundings of the sums carried by TwoSum: the low words' sum rounds at ~2^-75 of |log a|.

exp(t_hi + t_lo): t = (k 128 + i) ln2/128 + r, |r| <= ln2/256 (ln2/128 as 35 + 53 bits: k's product with the
head is exact and t - that is exact by Sterbenz), exp(t) = 2^k 2^(i/128) (1 + tail_i) (1 + expm1(r)) with
2^(i/128) as a float64 s_i plus its relative tail, expm1 by Taylor to r^5 (truncation 2^-60), and
v = s_i + s_i tmp rounded once (FMA). 2^k is folded into s_i's exponent as 2^floor(k/2) (normal for every k in
range) and the rest applied as a second normal factor: a normal result is v exactly scaled, a subnormal one
rounds a second time. Arguments beyond [-746, 710] are clamped there (inf and 0 come out of the scaling).

The tables are computed here at import with Python's decimal module (40 digits, correctly rounded ln and
exp): 128 x 3 words for log, 128 x 2 for exp, 5 KiB of constants.
"""
import math
from decimal import Decimal, getcontext

from llvmlite import ir

from .double_double import fast_two_sum, fma, two_sum
from .float64 import _MIN_NORMAL, _TWO_54
from .llvm_values import _F, _SHIFT, SOURCE_SHA256, _U, _V, where

_LOG_BITS = 7
_LOG_N = 1 << _LOG_BITS
_LOG_OFF = 0x3FE6AAAA00000000     # bits of Z0: 1.0 lies two thirds into interval 74
_MANT = (1 << 52) - 1
_EXP_BITS = 7
_EXP_N = 1 << _EXP_BITS
_HEAD_BITS = 42                   # ln2 and log c heads: multiples of 2^-42


def _double(bits):
    return _U(bits).view(_F).item()


def _split(d, quantum_exp=None):
    """A Decimal as (hi, lo): hi the nearest float64 (or the nearest multiple of 2^-quantum_exp), lo the rest."""
    if quantum_exp is None:
        hi = float(d)
    else:
        hi = float(int((d * 2 ** quantum_exp).to_integral_value())) / 2.0 ** quantum_exp
    return hi, float(d - Decimal(hi))


def _log_table():
    getcontext().prec = 40
    invc, logc_hi, logc_lo = [], [], []
    one = 0x3FF0000000000000
    for i in range(_LOG_N):
        lo_bits = _LOG_OFF + (i << (52 - _LOG_BITS))
        hi_bits = lo_bits + (1 << (52 - _LOG_BITS))
        if lo_bits <= one < hi_bits:
            inv = 1.0
        else:
            centre = (Decimal(_double(lo_bits)) + Decimal(_double(hi_bits))) / 2
            step = 2 ** (7 if lo_bits < one else 8)     # exact r: z's ulp times 1/c's quantum is 2^-60
            inv = float(int((step / centre).to_integral_value())) / step
        h, low = _split(-Decimal(inv).ln(), _HEAD_BITS)
        invc.append(inv)
        logc_hi.append(h)
        logc_lo.append(low)
    return invc, logc_hi, logc_lo


def _exp_table():
    getcontext().prec = 40
    scale, tail = [], []
    for i in range(_EXP_N):
        d = (Decimal(2).ln() * i / _EXP_N).exp()
        s = float(d)
        scale.append(s)
        tail.append(float((d - Decimal(s)) / Decimal(s)))
    return scale, tail


_INVC, _LOGC_HI, _LOGC_LO = _log_table()
_EXP_SCALE, _EXP_TAIL = _exp_table()
getcontext().prec = 40
_LN2_HI, _LN2_LO = (_F(v) for v in _split(Decimal(2).ln(), _HEAD_BITS))
# ln2/128 with a 35-bit head (multiple of 2^-42): |k| < 2^18 for |t| <= 746, so k * _LN2N_HI is exact
_LN2N_HI, _LN2N_LO = (_F(v) for v in _split(Decimal(2).ln() / _EXP_N, _HEAD_BITS))
_INV_LN2N = _F(_EXP_N / Decimal(2).ln())
# log1p(r) - r + r^2/2 = r^3 (1/3 - r/4 + r^2/5 - ... + r^6/9)
_LOG_TAIL = tuple(_F((-1) ** n / (n + 3)) for n in range(7))
# expm1(r) = r + r^2 (1/2 + r/6 + r^2/24 + r^3/120)
_EXP_TAYLOR = tuple(_F(1.0 / f) for f in (2, 6, 24, 120))
_K_BIAS = 2048                    # k + _K_BIAS >= 0 for every clamped argument: unsigned shifts suffice


def _horner(x, coefs):
    p = coefs[-1]
    for c in coefs[-2::-1]:
        p = p * x + c
    return p


def _table(b, name, values):
    """The module's constant array ``name`` of float64 values (defined once per module)."""
    module = b.module
    symbol = f"graphjit_mathlib_{name}_{SOURCE_SHA256[:16]}"
    g = module.globals.get(symbol)
    if g is None:
        ty = ir.ArrayType(ir.DoubleType(), len(values))
        g = ir.GlobalVariable(module, ty, symbol)
        g.global_constant = True
        g.linkage = "internal"
        g.unnamed_addr = True
        g.align = 64
        g.initializer = ir.Constant(ty, [float(v) for v in values])
    return g


def _read(index, name, values):
    """values[index] for an i64 _V index in range (a load from the constant array: a gather in a vector loop)."""
    b = index.b
    g = _table(b, name, values)
    ptr = b.gep(g, [ir.Constant(ir.IntType(64), 0), index.v], inbounds=True)
    return _V(b, b.load(ptr, align=8))


def log_table(a):
    """log(a) as (hi, lo) for a float64 a >= 0 (subnormals included), to about 2^-70 relative; hi is -inf for
    a = 0, inf for inf and NaN for NaN (lo is then some finite number)."""
    tiny = a < _MIN_NORMAL
    u = where(tiny, a * _TWO_54, a)
    w = u.bits() + _U(0x3FF0000000000000 - _LOG_OFF)      # exponent field k + 1023 for u = 2^k z
    k = (w >> 52).low32().f64() - 1023.0                   # via int32: AVX2 has no int64 -> float64 convert
    k = where(tiny, k - 54.0, k)
    i = (w >> (52 - _LOG_BITS)) & _U(_LOG_N - 1)
    z = ((w & _U(_MANT)) + _U(_LOG_OFF)).as_float()
    invc = _read(i, "log_invc", _INVC)
    logc_hi = _read(i, "log_logc_hi", _LOGC_HI)
    logc_lo = _read(i, "log_logc_lo", _LOGC_LO)
    r = fma(z, invc, _V(z.b, ir.Constant(z.v.type, -1.0)))   # exact
    t1 = k * _LN2_HI + logc_hi                             # exact: multiples of 2^-42 under 2^11
    t2, lo2 = two_sum(t1, r)
    ar = r * -0.5
    ar2 = r * ar                                           # -r^2/2 rounded ...
    lo3 = fma(ar, r, -ar2)                                 # ... and its error
    hi, lo4 = fast_two_sum(t2, ar2)                        # |t2| >= r^2/2: t2 ~ r near 1, >= 2^-9 elsewhere
    p = (r * ar2) * (_horner(r, _LOG_TAIL) * -2.0)         # r^3 Q(r)
    lo1 = k * _LN2_LO + logc_lo
    lo = (lo1 + lo2) + (lo3 + lo4) + p
    hi, lo = fast_two_sum(hi, lo)
    ordinary = (a.bits() - _U(1)) < _U(0x7FEFFFFFFFFFFFFF)   # 0 < a < inf (a >= 0)
    return where(ordinary, hi, where(a < math.inf, -math.inf, a)), lo


def exp_table(t_hi, t_lo):
    """exp(t_hi + t_lo), rounded once where the result is normal (twice into the subnormals), inf beyond the
    float64 range and 0 below it; |t_lo| <= ulp(t_hi) or so; NaN t_hi gives NaN."""
    in_range = (t_hi > -746.0) & (t_hi < 710.0)
    th = where(t_hi < -746.0, -746.0, where(t_hi > 710.0, 710.0, t_hi))   # NaN passes
    tl = where(in_range, t_lo, 0.0)              # (beyond the range t_lo may be inf or NaN: y log|x| overflowed)
    zs = th * _INV_LN2N + _SHIFT
    kd = zs - _SHIFT                              # round(t 128/ln2), |kd| < 2^18
    r = fma(kd, _V(kd.b, ir.Constant(kd.v.type, float(-_LN2N_HI))), th)   # exact (Sterbenz)
    r = fma(kd, _V(kd.b, ir.Constant(kd.v.type, float(-_LN2N_LO))), r) + tl
    n = zs.bits() - _U(0x4338000000000000) + _U(_K_BIAS << _EXP_BITS)       # kd + 128 _K_BIAS >= 0
    i = n & _U(_EXP_N - 1)
    kb = n >> _EXP_BITS                           # k + _K_BIAS
    half = kb >> 1                                # floor(k/2) + _K_BIAS/2
    s = _read(i, "exp_scale", _EXP_SCALE)
    tail = _read(i, "exp_tail", _EXP_TAIL)
    s = (s.bits() + ((half - _U(_K_BIAS // 2)) << 52)).as_float()           # 2^(i/128 + floor(k/2)), normal
    second = ((kb - half - _U(_K_BIAS // 2 - 1023)) << 52).as_float()       # 2^(k - floor(k/2)), normal
    tmp = tail + (r + (r * r) * _horner(r, _EXP_TAYLOR))
    v = fma(s, tmp, s)
    return v * second
