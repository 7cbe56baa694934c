"""Table-driven log for float64 pow: ``log_table(a)``, log of a float64 as hi + lo to ~2^-70 relative, in
straight-line IR whose table reads are loads from LLVM constant arrays (two gathers once a loop is vectorised).

pow_f64 computes |x|^y = exp(y log|x|): the result's relative error is the absolute error of t = y log|x|, and
|t| reaches 745 before the result overflows or vanishes, so log|x| must be right to ~2^-64 relative. A table
makes that short: a polynomial in |r| < 2^-7.4 instead of the table-free series in |s| < 0.1716 (with its
division) that this replaced.

a = 2^k z with z in [Z0, 2 Z0), Z0 = asdouble(_LOG_OFF) ~ 0.708, split into 128 intervals of equal width in z's
bits; interval i has a centre c_i whose 1/c_i is rounded to a multiple of 2^-7 (below 1.0, where z's ulp is
2^-53) or 2^-8 (above 1.0, ulp 2^-52), so that r = z/c_i - 1 = fma(z, 1/c_i, -1) is exact (a multiple of 2^-60
under 2^-7: checked by tests/test_powers.py over every interval's ends). The interval holding 1.0 (two thirds
in, so |z - 1| < 2^-8.5 on either side) has 1/c = 1 and log c = 0: near 1, log z = r + P(r) keeps its relative
accuracy. Then
    log a = k ln2 + log c_i + r - r^2/2 + r^3 Q(r),   Q: Taylor 1/3 - r/4 + ... + r^6/9 (truncation < 2^-70 |r|)
with ln2 and log c_i as a head (a multiple of 2^-42: k ln2_hi + log c_hi is exact) and a tail, r^2/2's error
by FMA and the two sums' by Fast2Sum (t1 = 0, or t1's exponent is at least r's: checked per interval); the low
words add up with roundings near 2^-75 |log a|. hi + lo is left unnormalised (|lo| < 2^-21 |hi|): hi is ready
before the polynomial is, and exp_dd picks its reduction from hi alone.

Table words: 1/c_i = j/256 with j < 2^9 sits in the 9 low bits of log c_i's head (a multiple of 2^-42 under
1/2 has its 12 low mantissa bits zero), so a lookup is two loads: that word and log c_i's tail. The tables are
computed at import with Python's decimal module (40 digits, correctly rounded ln): 2 KiB of constants.
"""
import math
from decimal import Decimal, localcontext

from llvmlite import ir

from .double_double import fast_two_sum, fma
from .float64 import _MIN_NORMAL, _TWO_54
from .llvm_values import _F, SOURCE_SHA256, _U, _V, where

_LOG_BITS = 7
_LOG_N = 1 << _LOG_BITS
_LOG_OFF = 0x3FE6AAAA00000000     # bits of Z0: 1.0 lies two thirds into interval 74
_MANT = (1 << 52) - 1
_HEAD_BITS = 42                   # ln2 and log c heads: multiples of 2^-42


def _double(bits):
    return _U(bits).view(_F).item()


def _split(d, quantum_exp):
    """A Decimal as (hi, lo): hi the nearest multiple of 2^-quantum_exp, lo the rest rounded to float64."""
    hi = float(int((d * 2 ** quantum_exp).to_integral_value())) / 2.0 ** quantum_exp
    return hi, float(d - Decimal(hi))


def _log_table():
    """(1/c as a multiple of 2^-8, log c head, log c tail) for each interval (decimal at the caller's 40
    digits)."""
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


def _pack_log(invc, logc_hi):
    """One word per interval: log c's head (a multiple of 2^-42 under 1/2: its 12 low mantissa bits are 0)
    with 256/c, an integer under 2^9, in its low 9 bits."""
    words = []
    for inv, h in zip(invc, logc_hi):
        j = int(inv * 256)
        bits = int(_F(h).view(_U))
        assert j == inv * 256 and j < 1 << _INVC_BITS and bits & ((1 << _INVC_BITS) - 1) == 0
        words.append(bits | j)
    return words


_INVC_BITS = 9
with localcontext() as _digits:          # (the process's own decimal context stays as it is)
    _digits.prec = 40
    _INVC, _LOGC_HI, _LOGC_LO = _log_table()
    _LN2_HI, _LN2_LO = (_F(v) for v in _split(Decimal(2).ln(), _HEAD_BITS))
_LOG_WORDS = _pack_log(_INVC, _LOGC_HI)
# log1p(r) - r + r^2/2 = r^3 (1/3 - r/4 + r^2/5 - ... + r^6/9)
_LOG_TAIL = tuple(_F((-1) ** n / (n + 3)) for n in range(7))


def _table(b, name, values, ty):
    """The module's constant array ``name`` of float64 or int64 values (defined once per module)."""
    module = b.module
    symbol = f"graphjit_mathlib_{name}_{SOURCE_SHA256[:16]}"
    g = module.globals.get(symbol)
    if g is None:
        array = ir.ArrayType(ty, len(values))
        g = ir.GlobalVariable(module, array, symbol)
        g.global_constant = True
        g.linkage = "internal"
        g.unnamed_addr = True
        g.align = 64
        g.initializer = ir.Constant(array, [float(v) if ty == ir.DoubleType() else int(v) for v in values])
    return g


def _read(index, name, values, ty=ir.DoubleType()):
    """values[index] for an i64 _V index in range (a load from the constant array: a gather in a vector loop)."""
    b = index.b
    g = _table(b, name, values, ty)
    ptr = b.gep(g, [ir.Constant(ir.IntType(64), 0), index.v], inbounds=True)
    return _V(b, b.load(ptr, align=8))


def _small_int(bits):
    """The integer (under 2^51) in an int64 as a float64, exactly: 2^52 + n's bits, minus 2^52."""
    return (bits + _U(0x4330000000000000)).as_float() - _F(2.0 ** 52)


def log_table(a):
    """log(a) as (hi, lo) for a float64 a >= 0 (subnormals included): hi + lo to about 2^-70 relative, with
    |lo| < 2^-21 |hi| (not renormalised: hi is ready before the polynomial, and exp_dd's reduction needs only
    hi). hi is -inf for a = 0, inf for inf and NaN for NaN (lo is then some finite number)."""
    tiny = a < _MIN_NORMAL
    u = where(tiny, a * _TWO_54, a)
    w = u.bits() + _U(0x3FF0000000000000 - _LOG_OFF)      # exponent field k + 1023 for u = 2^k z
    k = (w >> 52).low32().f64() - 1023.0                   # via int32: AVX2 has no int64 -> float64 convert
    k = where(tiny, k - 54.0, k)
    i = (w >> (52 - _LOG_BITS)) & _U(_LOG_N - 1)
    z_256 = ((w & _U(_MANT)) + _U(_LOG_OFF - (8 << 52))).as_float()   # z / 256
    word = _read(i, "log_words", _LOG_WORDS, ir.IntType(64))
    logc_hi = (word & _U(~((1 << _INVC_BITS) - 1) & (2 ** 64 - 1))).as_float()
    logc_lo = _read(i, "log_logc_lo", _LOGC_LO)
    r = fma(z_256, _small_int(word & _U((1 << _INVC_BITS) - 1)), _V(z_256.b, ir.Constant(z_256.v.type, -1.0)))
    t1 = k * _LN2_HI + logc_hi                             # exact: multiples of 2^-42 under 2^11
    t2, lo2 = fast_two_sum(t1, r)                          # t1 = 0, or |t1| has r's exponent or more
    r2 = r * r
    ar2 = r2 * -0.5                                        # -r^2/2 rounded ...
    lo3 = fma(r, r, -r2) * -0.5                            # ... and its error
    hi, lo4 = fast_two_sum(t2, ar2)                        # |t2| >= r^2/2: t2 ~ r near 1, >= 2^-9 elsewhere
    c = _LOG_TAIL                                          # r^3 Q(r) by Estrin (short dependency chains)
    q = (c[0] + r * c[1]) + r2 * (c[2] + r * c[3]) + (r2 * r2) * ((c[4] + r * c[5]) + r2 * c[6])
    p = (r * r2) * q
    lo1 = k * _LN2_LO + logc_lo
    lo = ((lo1 + lo2) + (lo3 + lo4)) + p
    ordinary = (a.bits() - _U(1)) < _U(0x7FEFFFFFFFFFFFFF)   # 0 < a < inf (a >= 0)
    special = where(a < math.inf, -math.inf, a)
    return where(ordinary, hi, special), lo
