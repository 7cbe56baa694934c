"""Scalar transcendental functions for generated elementwise loops.

The code generator calls these inside fused loops (``out[i] = exp_f32(-x[i] * x[i]) * y[i]``). libm calls
do not vectorise (no SVML here), so the float32 versions are straight-line arithmetic, bit manipulation
and selects (no branches, no table lookups), which LLVM's loop vectoriser turns into AVX2/AVX-512 code.
Each float32 function is a Numba intrinsic: one call in Numba's IR, lowered to a call of an
``alwaysinline`` LLVM function, written here in LLVM IR (with Python operators: see _V), that LLVM inlines
into the caller's loop before vectorising it. As Numba Python inlined into Numba's IR, the same code made
Numba's type inference and parfor passes, which take time per statement, twice as slow: W1's parallel
kernel compiled in ~0.95 s instead of ~0.5 s. The instructions carry their own flags, so a kernel's
fastmath flags could never reach the range reductions (generated kernels have none: a reduction reassociates
only its accumulation, by ``reassoc_add``/``reassoc_mul`` at the end of this file). The one exception to
"straight-line": sin, cos and tan send arguments of 2^20 and more through a call that the vectoriser
widens and that tests a whole vector at once (see _define_big), so that their costly exact reduction runs
only for the vectors that hold such an argument.

float32 (np.float32 in and out), valid for every float32 input, denormals included:

  exp_f32       float32 throughout: Cody-Waite x = k*ln2 + r, |r| <= ln2/2, degree-6 minimax (2^-28);
                2^k applied as two normal factors, so subnormal results round once and overflow gives inf.
  expm1_f32     the same reduction in float64, degree-7 minimax for expm1(r) (2^-32): exact near 0.
  log_f32,      float64: u = 2^k * m, m in [sqrt(1/2), sqrt(2)) split from the bits, log(m) = 2s + s^3 Q(s^2)
  log1p_f32     with s = (m-1)/(m+1), degree-7 minimax (2^-30); log1p adds back the rounding error of 1+x.
  sin_f32,      reduced modulo pi to |r| <= pi/2 (cos(x) = sin(x + pi/2)), then one degree-9 odd minimax
  cos_f32       (2^-27) evaluated in float32. |x| < 2^20: Cody-Waite in float64 with a two-part pi/2
                (error under 2^-38 |r|), inline. |x| >= 2^20 and infinities: an exact integer Payne-Hanek
                reduction against 4/pi (glibc's sinf method, without its table), computed out of line and
                only for the loop's vectors that contain such an argument (all of that vector's lanes).
  tan_f32       the same reductions; sin(r) / sin(pi/2 - |r|) in float64.
  tanh_f32      expm1(2x) / (expm1(2x) + 2) in float64, saturating to +-1.
  sigmoid_f32   1 / (1 + exp(-x)) in float64 with a clamped argument (no overflow; exact 0 and 1 limits).
  softplus_f32  max(x, 0) + log1p(exp(-|x|)) in float64.

Error against NumPy's float64 result rounded to float32, checked on all 2^32 float32 inputs: at most
2 ULP for sin_f32 and cos_f32, 1 ULP for the others (tests/test_mathlib.py checks ~2M inputs each
against the 4 ULP contract). NaN -> NaN; infinities, overflow, underflow and signed zeros as NumPy.

float64 (``*_f64``): libm through ``math`` (<= 2 ULP; not vectorised, float64 is not the target),
except sigmoid_f64 and softplus_f64, which use overflow-free formulas (<= 2 ULP).

Generated kernels contain this code, so Numba's on-disk cache of a kernel does not notice when this file
changes: include ``SOURCE_SHA256`` in the cache key.
"""
import hashlib
import math
import pathlib

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .scalar_numba import mathlib_helpers

__all__ = mathlib_helpers()  # the helpers that the CPU renderer's math table names

SOURCE_SHA256 = hashlib.sha256(pathlib.Path(__file__).read_bytes()).hexdigest()


# ---- LLVM IR with Python operators ---------------------------------------------------------------------
# Every floating-point instruction is marked 'contract': a multiply and an add may become one FMA, which
# rounds once (the error bounds below were measured so). Numba gives a kernel's fastmath flags only to
# flagless instructions, so the flag would also keep a kernel's 'reassoc' from undoing the range
# reductions. Integers are unsigned words: + - * wrap, >> is a logical shift.

_FLAGS = ("contract",)


def _const(ty, value):
    if isinstance(ty, ir.IntType):
        v = int(value) % (1 << ty.width)   # IR integers are two's complement
        return ir.Constant(ty, v - (1 << ty.width) if v >= 1 << (ty.width - 1) else v)
    return ir.Constant(ty, float(value))


class _V:
    """An IR value under construction. Arithmetic and comparisons between two _V of one type, or with a
    plain number on either side (a constant of the _V's type), emit instructions; comparisons of floats
    are ordered (false for NaN), of integers unsigned."""
    __slots__ = ("b", "v")
    __array_ufunc__ = None                 # np.float64(2.0) * v: NumPy defers to v.__rmul__
    __hash__ = None

    def __init__(self, builder, value):
        self.b, self.v = builder, value

    @property
    def is_float(self):
        return isinstance(self.v.type, (ir.FloatType, ir.DoubleType))

    def _operand(self, other):
        return other.v if isinstance(other, _V) else _const(self.v.type, other)

    def _op(self, other, fop, iop, swap=False):
        a, c = self.v, self._operand(other)
        a, c = (c, a) if swap else (a, c)
        if self.is_float:
            return _V(self.b, getattr(self.b, fop)(a, c, flags=_FLAGS))
        return _V(self.b, getattr(self.b, iop)(a, c))

    def _cmp(self, other, op):
        if self.is_float:
            return _V(self.b, self.b.fcmp_ordered(op, self.v, self._operand(other), flags=_FLAGS))
        return _V(self.b, self.b.icmp_unsigned(op, self.v, self._operand(other)))

    __add__ = lambda s, o: s._op(o, "fadd", "add")                      # noqa: E731
    __radd__ = lambda s, o: s._op(o, "fadd", "add", swap=True)          # noqa: E731
    __sub__ = lambda s, o: s._op(o, "fsub", "sub")                      # noqa: E731
    __rsub__ = lambda s, o: s._op(o, "fsub", "sub", swap=True)          # noqa: E731
    __mul__ = lambda s, o: s._op(o, "fmul", "mul")                      # noqa: E731
    __rmul__ = lambda s, o: s._op(o, "fmul", "mul", swap=True)          # noqa: E731
    __truediv__ = lambda s, o: s._op(o, "fdiv", None)                   # noqa: E731
    __rtruediv__ = lambda s, o: s._op(o, "fdiv", None, swap=True)       # noqa: E731
    __and__ = lambda s, o: s._op(o, None, "and_")                       # noqa: E731
    __xor__ = lambda s, o: s._op(o, None, "xor")                        # noqa: E731
    __lshift__ = lambda s, o: s._op(o, None, "shl")                     # noqa: E731
    __rshift__ = lambda s, o: s._op(o, None, "lshr")                    # noqa: E731
    __lt__ = lambda s, o: s._cmp(o, "<")                                # noqa: E731
    __gt__ = lambda s, o: s._cmp(o, ">")                                # noqa: E731
    __ge__ = lambda s, o: s._cmp(o, ">=")                               # noqa: E731
    __eq__ = lambda s, o: s._cmp(o, "==")                               # noqa: E731

    def __neg__(self):
        return _V(self.b, self.b.fneg(self.v))

    def abs(self):
        fabs = self.b.module.declare_intrinsic("llvm.fabs", [self.v.type])
        return _V(self.b, self.b.call(fabs, [self.v]))

    def f32(self):
        """float64 rounded to float32 (a float32 as it is)."""
        t = ir.FloatType()
        return self if self.v.type == t else _V(self.b, self.b.fptrunc(self.v, t))

    def f64(self):
        """float32 widened, or a signed integer converted, to float64."""
        t = ir.DoubleType()
        if isinstance(self.v.type, ir.IntType):
            return _V(self.b, self.b.sitofp(self.v, t))
        return _V(self.b, self.b.fpext(self.v, t))

    def bits(self):
        """A float's bits as an integer of its width."""
        return _V(self.b, self.b.bitcast(self.v, ir.IntType(32 if self.v.type == ir.FloatType() else 64)))

    def as_float(self):
        """An integer's bits as a float of its width."""
        return _V(self.b, self.b.bitcast(self.v, ir.FloatType() if self.v.type.width == 32 else ir.DoubleType()))

    def low32(self):
        return _V(self.b, self.b.trunc(self.v, ir.IntType(32)))


def where(cond, a, b):
    """``a if cond else b`` as one select, both sides computed (no branch for the vectoriser to undo)."""
    ref = a if isinstance(a, _V) else b
    return _V(ref.b, ref.b.select(cond.v, ref._operand(a), ref._operand(b)))


def _float32_function(body):
    """``body`` (float32 _V, context -> float32 _V) as a function for generated code: a Numba intrinsic of
    one number (converted to float32) that calls an alwaysinline IR function, defined once per module."""
    symbol = f"graphjit_mathlib_{body.__name__}_{SOURCE_SHA256[:16]}"

    def define(context, module):
        fn = module.globals.get(symbol)
        if fn is None:
            f32 = ir.FloatType()
            fn = ir.Function(module, ir.FunctionType(f32, [f32]), symbol)
            fn.linkage = "internal"
            fn.attributes.add("alwaysinline")
            fn.attributes.add("nounwind")
            b = ir.IRBuilder(fn.append_basic_block("entry"))
            b.ret(body(_V(b, fn.args[0]), context).v)
        return fn

    def typer(typingctx, x):
        if not isinstance(x, (types.Float, types.Integer, types.Boolean)):
            return None

        def codegen(context, builder, sig, args):
            v = context.cast(builder, args[0], sig.args[0], types.float32)
            return builder.call(define(context, builder.module), [v])
        return types.float32(x), codegen
    typer.__name__ = typer.__qualname__ = body.__name__
    typer.__doc__ = body.__doc__
    return intrinsic(typer)


# ---- constants (typed scalars: float64 _F, float32 _G, uint64 _U, uint32 _U32) ------------------------
_F = np.float64
_G = np.float32
_U = np.uint64
_U32 = np.uint32
_SHIFT = _F(6755399441055744.0)            # 1.5 * 2^52: t + _SHIFT rounds t to an integer kept in the low bits
_EXP_BIAS = _U(0x4338000000000000 - 1023)  # bits(t + _SHIFT) - _EXP_BIAS = round(t) + 1023
_LOG2E = _F(1.4426950408889634)
_LN2 = _F(0.6931471805599453)
_LN2_HI = _F(0.6931471803691238)           # ln2 with 32 significant bits: k * _LN2_HI is exact for |k| < 2^21
_LN2_LO = _F(1.9082149292705877e-10)       # ln2 - _LN2_HI
# expm1(r) = r + r^2 * P(r) on |r| <= ln2/2, minimax in relative error (2^-32)
_E2, _E3, _E4 = _F(0.5000000044140088), _F(0.16666666370615701), _F(0.041666361026202206)
_E5, _E6, _E7 = _F(0.008333389349449473), _F(0.0013940617645229099), _F(0.00019845876623499835)
# log(m) = 2s + s^3 * Q(s^2), |s| <= (sqrt2-1)/(sqrt2+1), minimax in relative error (2^-30)
_L1, _L2, _L3 = _F(0.6666677608893586), _F(0.3997757361298863), _F(0.2987094791510922)
_SQRT_HALF_BITS = _U(0x3FE6A09E667F3BCD)   # bits of sqrt(1/2)
_LOG_OFFSET = _U(0x3FF0000000000000 - 0x3FE6A09E667F3BCD)
_MANT_MASK = _U(0x000FFFFFFFFFFFFF)
# exp_f32, all float32: e^r = 1 + r + r^2 * P(r) on |r| <= ln2/2 (minimax, relative error 2^-28)
_SHIFT_G = _G(12582912.0)                  # 1.5 * 2^23, the float32 _SHIFT
_SHIFT_G_BITS = _U32(0x4B400000)
_LOG2E_G = _G(1.4426950408889634)
_LN2_HI_G = _G(0.693145751953125)          # 15 significant bits: k * _LN2_HI_G is exact for |k| < 2^9
_LN2_LO_G = _G(1.4286068202862268e-06)
_P2, _P3, _P4 = _G(0.4999999341216021), _G(0.16666520103720223), _G(0.04166839427203451)
_P5, _P6 = _G(0.008368780843549112), _G(0.0013814464955304267)
# sin(r) = r + r^3 S(r^2) on |r| <= pi/2, minimax in relative error (2^-27)
_S1, _S2 = _F(-0.16666659538469863), _F(0.00833306591350351)
_S3, _S4 = _F(-0.00019809576893038857), _F(2.605719874902865e-06)
_S1_G, _S2_G, _S3_G, _S4_G = _G(_S1), _G(_S2), _G(_S3), _G(_S4)
_PIO2_1 = _F(1.5707963267341256)           # pi/2 to 33 significant bits
_PIO2_1T = _F(6.077100506506192e-11)       # pi/2 - _PIO2_1, to 2^-88
_PI_2_63 = _F(3.4061215800865545e-19)      # pi/2 * 2^-62: the 2.62 fixed-point remainder to radians


def _four_over_pi_words():
    """4/pi's fraction bits as four 64-bit words (Python ints), most significant first, laid out so that the
    top 96 bits of (words << s) are floor(4/pi * 2^(70 + s)) mod 2^96 for 0 <= s < 128 (the window
    _emit_payne_hanek needs)."""
    bits = 400
    one = 1 << bits

    def atan_inv(x):                       # atan(1/x) * 2^bits by its Taylor series (Machin's formula)
        total, term, n, sign = 0, one // x, 1, 1
        while term:
            total, term, n, sign = total + sign * (term // n), term // (x * x), n + 2, -sign
        return total
    pi = 16 * atan_inv(5) - 4 * atan_inv(239)
    g = ((4 << (2 * bits)) // pi >> (bits - 197)) % (1 << 223)   # floor(4/pi * 2^197) mod 2^223
    g <<= 33                                                     # 256 bits
    words = [(g >> (192 - 64 * j)) & (2**64 - 1) for j in range(4)]
    return tuple(words)


_FOUR_OVER_PI = _four_over_pi_words()


# ---- float64 cores shared by the float32 functions ------------------------------------------------

def _exp_split(t):
    """(scale, q) with exp(t) = scale * (1 + q), scale = 2^k; needs |t| < 700. NaN gives q = NaN."""
    z = t * _LOG2E + _SHIFT
    k = z - _SHIFT
    r = (t - k * _LN2_HI) - k * _LN2_LO
    q = r + r * r * (_E2 + r * (_E3 + r * (_E4 + r * (_E5 + r * (_E6 + r * _E7)))))
    scale = ((z.bits() - _EXP_BIAS) << 52).as_float()
    return scale, q


def _exp_d(t):
    scale, q = _exp_split(t)
    return scale + scale * q


def _expm1_d(t):
    scale, q = _exp_split(t)
    return scale * q + (scale - 1.0)       # exact q when k == 0, so tiny t keep full relative accuracy


def _log_d(u):
    """log(u) for a positive normal float64 u (anything else gives garbage: callers select around it)."""
    ix = u.bits() + _LOG_OFFSET
    k = (ix >> 52).low32().f64() - 1023.0                 # via int32: AVX2 has no int64 -> float64 convert
    m = ((ix & _MANT_MASK) + _SQRT_HALF_BITS).as_float()  # u / 2^k, in [sqrt(1/2), sqrt(2))
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    return k * _LN2 + (s + s + s * z * (_L1 + z * (_L2 + z * _L3)))


def _log1p_d(v):
    """log(1 + v) for float64 v > -1: log(u) of u = 1 + v rounded, plus the rounding error c = v - (u - 1)
    as the first-order correction c/u. It matters only for u < 2, where c/u ~ c; for u >= 2 it is below
    2^-53 relative, but c itself can be large (c = 1 for v = 2^53), so it is dropped there."""
    u = 1.0 + v
    return _log_d(u) + where(u >= 2.0, 0.0, v - (u - 1.0))   # NaN v: the NaN of c


# ---- sin, cos, tan ----------------------------------------------------------------------------------
# All three reduce modulo pi: x + offset * pi/2 = k * pi + r with k an integer, |r| <= pi/2 (offset 0 for
# sin and tan, 1 for cos: cos(x) = sin(x + pi/2)), then sin = (-1)^k * S(r) with one odd polynomial S, and
# tan = S(r) / S(pi/2 - |r|). How r is found depends on |x|:
#   |x| < 2^20   Cody-Waite in float64 (below): a few vector instructions, inline in the caller's loop
#                (NaN goes through it too).
#   |x| >= 2^20  and +-inf: Payne-Hanek against 4/pi in 64-bit integers, costly, so not computed for every
#                lane and selected but only for the vectors of the loop that hold such an x (_define_big).

def _sin_poly(r):
    z = r * r
    return r + r * z * (_S1 + z * (_S2 + z * (_S3 + z * _S4)))


def _sin_poly_g(r):
    """_sin_poly in float32 (16 lanes, not 8: 20% faster, and the error grows from 1 to 2 ULP)."""
    z = r * r
    return r + r * z * (_S1_G + z * (_S2_G + z * (_S3_G + z * _S4_G)))


# |x| < 2^20: r = x - n * pi/2 with n = 2k - offset, k = round(x/pi + offset/2), |n| < 2^20. _PIO2_1 has
# 33 significant bits, so n * _PIO2_1 is exact, and so is r1 = x - n * _PIO2_1 (x is a float32 and
# |r1| < 2: at most 53 bits). What is left: the tail of pi/2 beyond _PIO2_1 + _PIO2_1T (2^-88 * 2^20) and
# the roundings of n * _PIO2_1T and of the last subtraction, together under 2^-66 + 2^-53 |r|: 2^-38 |r|
# at worst, as no float32 below 2^20 is within 4.1e-9 (2^-27.8) of a nonzero multiple of pi/2 (the closest
# is 252.89821; found by a search over all of them, and for n = 0, r = x exactly). tests/test_mathlib.py
# checks the closest ones; all 2^32 inputs were checked once against NumPy (module docstring).
_FAST_MAX = 1048576.0                      # 2^20
_INV_PI = _F(0.3183098861837907)
_PI_1, _PI_1T = _F(2.0) * _PIO2_1, _F(2.0) * _PIO2_1T   # pi in the same two parts, exactly twice


def _reduce_fast(x, offset):
    """(r1, r, t) for float32 |x| < 2^20: r1 = x - n * _PIO2_1 exactly, r = r1 - n * _PIO2_1T (|r| <= pi/2
    + 2^-30), and k's parity as the low bit of bits(t). Garbage (never a trap) for larger |x|."""
    xd = x.f64()
    q = xd * _INV_PI
    t = (q + 0.5 if offset else q) + _SHIFT   # a rounding error in q moves |r| past pi/2 by at most
    k = t - _SHIFT                             # 2^-30, where x/pi is half an odd integer
    # sin and tan: n * _PIO2_1 = k * _PI_1, one addition fewer; cos: n = 2k - 1
    n = (k + k) - 1.0 if offset else k
    r1 = xd - n * (_PIO2_1 if offset else _PI_1)
    return r1, r1 - n * (_PIO2_1T if offset else _PI_1T), t


def _sin_cos_fast(x, offset):
    _, r, t = _reduce_fast(x, offset)
    r = (r.bits() ^ (t.bits() << 63)).as_float()    # (-1)^k r: S is odd
    return _sin_poly_g(r.f32())


def _tan_fast(x):
    r1, r, t = _reduce_fast(x, 0)
    k = t - _SHIFT
    # c = pi/2 - |r| from the exact r1, not from r (whose rounding, 2^-53 * pi/2, would swamp a tiny c near
    # a pole): pi/2 - r = (_PIO2_1 - r1) + (_PIO2_1T + k * _PI_1T) for r1 >= 0, the first difference exact
    # wherever c is small (Sterbenz); pi/2 + r likewise for r1 < 0
    c = (_PIO2_1 - r1.abs()) + (_PIO2_1T + where(r1 < 0.0, -k, k) * _PI_1T)
    return (_sin_poly(r) / _sin_poly(c)).f32()


def _emit_payne_hanek(b, x, name):
    """IR for ``name`` (sin, cos or tan) of the float32 (or vector of float32) value x, |x| >= 2^20 (other
    lanes give garbage, never a trap), through an exact reduction.

    x + offset * pi/2 = k * pi + r as in glibc's sinf, but with no table lookups: |x| = m * 2^(s - 23) with
    m the 24-bit mantissa, and the 96 bits of 4/pi that matter, w = floor(4/pi * 2^(70 + s)) mod 2^96,
    come from funnel-shifting four constant words. floor(m * w / 2^32) mod 2^64 is then |x| * 2/pi modulo 4
    (a full turn) as a 2.62 fixed-point number: the quadrant and the remainder, exact to 2^-62. Then r and
    c = pi/2 - |r| (exact even where c is tiny, for tan) in float64, and the polynomials as in the fast path.
    """
    xt = x.type
    width = xt.count if isinstance(xt, ir.VectorType) else 0

    def vec(t):
        return ir.VectorType(t, width) if width else t

    def const(t, v):
        return ir.Constant(vec(t), [v] * width if width else v)

    i64, f64, f32 = ir.IntType(64), ir.DoubleType(), ir.FloatType()

    def u(v):                              # a uint64 constant (IR integers are two's complement)
        v = int(v) % (1 << 64)
        return const(i64, v - (1 << 64) if v >= 1 << 63 else v)

    offset = 1 if name == "cos" else 0
    fshl = cgutils.get_or_insert_function(b.module, ir.FunctionType(vec(i64), [vec(i64)] * 3),
                                          f"llvm.fshl.v{width}i64" if width else "llvm.fshl.i64")
    xi = b.zext(b.bitcast(x, vec(ir.IntType(32))), vec(i64))
    s = b.sub(b.and_(b.lshr(xi, u(23)), u(255)), u(127))           # the unbiased exponent, 20..127
    m = b.or_(b.and_(xi, u(0x7FFFFF)), u(0x800000))
    up = b.icmp_unsigned(">=", s, u(64))
    w0, w1, w2, w3 = (u(w) for w in _FOUR_OVER_PI)
    hi = b.call(fshl, [b.select(up, w1, w0), b.select(up, w2, w1), s])
    lo = b.call(fshl, [b.select(up, w2, w1), b.select(up, w3, w2), s])
    # m * hi in two 32-bit products (AVX2 has no 64-bit multiply); the sum wraps modulo 2^64 = 4 quadrants
    turn = b.add(b.add(b.shl(b.mul(m, b.lshr(hi, u(32))), u(32)), b.mul(m, b.and_(hi, u(0xFFFFFFFF)))),
                 b.lshr(b.mul(m, b.lshr(lo, u(32))), u(32)))
    v = b.add(turn, u((offset << 62) + (1 << 62)))   # + half a turn of pi: the top bit is then k's parity
    k_odd = b.icmp_signed("<", v, u(0))
    rem = b.and_(v, u((1 << 63) - 1))                # the remainder + 2^62, in [0, 2^63)
    pi_2_63 = const(f64, _PI_2_63)                   # pi/2 * 2^-62: the fixed-point remainder to radians
    r = b.fmul(b.sitofp(b.sub(rem, u(1 << 62)), vec(f64)), pi_2_63)
    if offset == 0:                                  # odd functions: f(-|x|) = -f(|x|); cos is even
        r = b.select(b.fcmp_ordered("<", x, const(f32, 0.0)), b.fneg(r), r)

    def poly(r, t, coefs):                           # r + r * z * (c1 + z * (c2 + z * (c3 + z * c4)))
        z = b.fmul(r, r)
        p = const(t, coefs[3])
        for c in coefs[2::-1]:
            p = b.fadd(const(t, c), b.fmul(z, p))
        return b.fadd(r, b.fmul(b.fmul(r, z), p))

    if name == "tan":
        cr = b.select(b.icmp_unsigned(">=", rem, u(1 << 62)), b.sub(u(1 << 63), rem), rem)
        c = b.fmul(b.sitofp(cr, vec(f64)), pi_2_63)
        coefs = [float(c) for c in (_S1, _S2, _S3, _S4)]
        y = b.fptrunc(b.fdiv(poly(r, f64, coefs), poly(c, f64, coefs)), vec(f32))
    else:
        y = poly(b.fptrunc(r, vec(f32)), f32, [float(c) for c in (_S1_G, _S2_G, _S3_G, _S4_G)])
        y = b.select(k_odd, b.fneg(y), y)
    return b.select(b.icmp_unsigned("==", s, u(128)), b.fsub(x, x), y)   # inf -> NaN


# ---- |x| >= 2^20 only where a vector of the caller's loop holds one ------------------------------------
# A select computes both of its sides in every lane, and a branch in the loop body is either flattened into
# selects by LLVM's loop vectoriser or keeps the loop scalar. So the large-argument path sits behind a call
# that the vectoriser widens: big(x, y) = (|x| >= 2^20 ? f(x) : y), a scalar function whose
# "vector-function-abi-variant" attribute names vector versions big_vN(<N x float> x, <N x float> y). Those
# test all N lanes at once and only if one is large run the Payne-Hanek code on the whole vector (slowN,
# out of line) and select. In a loop over small arguments that costs two compares, a mask test and a call
# per vector (or no call: LLVM may inline big_vN once it exists, as it does in parallel kernels). On x86
# every function here but the scalar one is "no_caller_saved_registers", so the caller keeps its constants
# in registers across the call; big_vN keeps its bounds in memory and compares x with them directly, so it
# needs no vector register beyond its arguments (and saves none). slowN, which does save the ones it uses,
# is reached through alignN, which realigns the stack to 64 bytes: that puts those saves on whole cache
# lines (a 64-byte store split across two lines and loaded back soon after stalls, and where it splits
# would depend on the caller's frame, so it would differ from run to run). The IR is emitted into each
# kernel's module, once per module: big_vN and the bounds as weak_odr (discardable linkonce_odr would be
# deleted as unused before the vectoriser creates the calls), all named by this file's hash so that code
# from different versions never mixes.

_BIG_WIDTHS = (2, 4, 8, 16)


def _define_big(context, module, name):
    """big(x, y) for ``name`` in ``module``, with its vector versions: defined on first use."""
    scalar_name = f"graphjit_mathlib_{name}_big_{SOURCE_SHA256[:16]}"
    fn = module.globals.get(scalar_name)
    if fn is not None:
        return fn
    f32 = ir.FloatType()
    # set.add: llvmlite's attribute sets refuse names they don't know. LLVM would end a function that used
    # 256/512-bit registers with vzeroupper, which clears the upper halves of every vector register, the
    # caller's included: that breaks no_caller_saved_registers, so it is switched off for these functions
    # (a function's "target-features" replace the target machine's, hence the copy of those; without them,
    # or off x86, plain functions: the caller then saves its registers around the call).
    features = getattr(context.codegen(), "_tm_features", None)
    ncsr = ()
    if module.triple.startswith(("x86_64", "i386", "i686")) and isinstance(features, str):
        features = ",".join([f for f in features.split(",") if f and f.lstrip("+-") != "vzeroupper"]
                            + ["-vzeroupper"])
        ncsr = ('"no_caller_saved_registers"', f'"target-features"="{features}"')

    def vector(width):
        return ir.VectorType(f32, width) if width > 1 else f32

    def splat(b, v, width):
        if width == 1:
            return v
        ty = vector(width)
        v = b.insert_element(ir.Constant(ty, ir.Undefined), v, ir.Constant(ir.IntType(32), 0))
        return b.shuffle_vector(v, ir.Constant(ty, ir.Undefined),
                                ir.Constant(ir.VectorType(ir.IntType(32), width), [0] * width))

    bounds = []
    for tag, v in (("lo", -_FAST_MAX), ("hi", _FAST_MAX)):
        g = ir.GlobalVariable(module, f32, f"{scalar_name}_{tag}")
        g.linkage = "weak_odr"             # not constant, so not folded: see above
        g.initializer = ir.Constant(f32, v)
        bounds.append(g)

    made = {}

    def slow(width):
        """The Payne-Hanek code on x, out of line; for vectors lane by lane (vector copies of it, one per
        width, took LLVM ~0.25 s to compile per kernel), behind a stack-realigning trampoline."""
        if width in made:
            return made[width]
        ty = vector(width)
        fn = ir.Function(module, ir.FunctionType(ty, [ty]), f"{scalar_name}_slow{width}")
        fn.linkage = "linkonce_odr"
        for attr in ("noinline", "nounwind") + (ncsr if width > 1 else ()):
            set.add(fn.attributes, attr)
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        if width == 1:
            b.ret(_emit_payne_hanek(b, fn.args[0], name))
            made[1] = fn
            return fn
        scalar, out = slow(1), ir.Constant(ty, ir.Undefined)
        for lane in range(width):
            i = ir.Constant(ir.IntType(32), lane)
            out = b.insert_element(out, b.call(scalar, [b.extract_element(fn.args[0], i)]), i)
        b.ret(out)
        tramp = ir.Function(module, ir.FunctionType(ty, [ty]), f"{scalar_name}_align{width}")
        tramp.linkage = "linkonce_odr"
        for attr in ("noinline", "nounwind") + ncsr:
            set.add(tramp.attributes, attr)
        tramp.attributes.alignstack = 64
        b = ir.IRBuilder(tramp.append_basic_block("entry"))
        b.ret(b.call(fn, tramp.args, tail="notail"))   # a tail call would skip the realignment
        made[width] = tramp
        return tramp

    def body(fn, width):
        x, y = fn.args
        entry, slow_path, fast_path = (fn.append_basic_block(n) for n in ("entry", "slow", "fast"))
        b = ir.IRBuilder(entry)
        if width == 1:                     # (the scalar function must not read memory: see below)
            lo, hi = (ir.Constant(f32, v) for v in (-_FAST_MAX, _FAST_MAX))
        else:
            lo, hi = (splat(b, b.load(g), width) for g in bounds)
        big = b.or_(b.fcmp_ordered("<=", x, lo), b.fcmp_ordered(">=", x, hi))   # NaN: not big
        any_big = big if width == 1 else \
            b.icmp_unsigned("!=", b.bitcast(big, ir.IntType(width)), ir.Constant(ir.IntType(width), 0))
        b.cbranch(any_big, slow_path, fast_path).set_weights([1, 1000])
        b.position_at_end(fast_path)
        b.ret(y)
        b.position_at_end(slow_path)
        fx = b.call(slow(width), [x])
        b.ret(fx if width == 1 else b.select(big, fx, y))

    variants = []
    for width in _BIG_WIDTHS:
        ty = vector(width)
        vfn = ir.Function(module, ir.FunctionType(ty, [ty, ty]), f"{scalar_name}_v{width}")
        vfn.linkage = "weak_odr"
        for attr in ("nounwind",) + ncsr:
            set.add(vfn.attributes, attr)
        body(vfn, width)
        variants.append(f"_ZGV_LLVM_N{width}vv_{scalar_name}({vfn.name})")
    fn = ir.Function(module, ir.FunctionType(f32, [f32, f32]), scalar_name)
    fn.linkage = "linkonce_odr"
    # noinline: the vectoriser must see the call; memory(none): and know that it touches no memory
    for attr in ("noinline", "nounwind", "willreturn", "memory(none)",
                 f'"vector-function-abi-variant"="{",".join(variants)}"'):
        set.add(fn.attributes, attr)
    body(fn, 1)
    # Numba gives every flagless floating-point instruction of the module the kernel's fastmath flags. These
    # functions must be the same in every module (one definition is kept for all), so they get their own.
    for f in module.functions:
        if f.name.startswith(scalar_name):
            for block in f.blocks:
                for instr in block.instructions:
                    if instr.opname in ("fadd", "fsub", "fmul", "fdiv", "fneg", "fcmp") and not instr.flags:
                        instr.flags.append("contract")
    return fn


def _big(context, x, name, y):
    """``y`` where |x| < 2^20, else ``name``(x) by the Payne-Hanek reduction."""
    return _V(x.b, x.b.call(_define_big(context, x.b.module, name), [x.v, y.v]))


# ---- float32 -------------------------------------------------------------------------------------
# (x is the float32 argument; context, Numba's target context, is for _define_big)

@_float32_function
def exp_f32(x, context):
    # All in float32 (16 lanes per AVX-512 vector, not 8): exp is the hottest of these functions.
    t = where(x > 100.0, 100.0, x)         # beyond these float32 exp is inf / 0 anyway; NaN passes
    t = where(t < -110.0, -110.0, t)
    z = t * _LOG2E_G + _SHIFT_G
    k = z - _SHIFT_G                       # round(t / ln2), |k| <= 159
    r = (t - k * _LN2_HI_G) - k * _LN2_LO_G
    p = r + r * r * (_P2 + r * (_P3 + r * (_P4 + r * (_P5 + r * _P6))))
    # 2^k = 2^k1 * 2^(k - k1) with k1 = round(k/2): both factors are normal floats, so the last multiply
    # rounds a subnormal result once, correctly, and overflows to inf where exp does
    z1 = k * 0.5 + _SHIFT_G
    s1 = ((z1.bits() - _SHIFT_G_BITS + 127) << 23).as_float()
    s2 = ((z.bits() - z1.bits() + 127) << 23).as_float()
    return ((1.0 + p) * s1) * s2


@_float32_function
def expm1_f32(x, context):
    t = x.f64()
    t = where(t > 100.0, 100.0, t)
    t = where(t < -40.0, -40.0, t)
    y = _expm1_d(t).f32()
    return where(x == 0.0, x, y)           # keeps -0.0


@_float32_function
def log_f32(x, context):
    y = _log_d(x.f64()).f32()              # float32 denormals are normal float64 numbers
    y = where(x == 0.0, -math.inf, y)
    y = where(x < 0.0, math.nan, y)
    return where(x < math.inf, y, x)       # +inf -> +inf, NaN -> NaN


@_float32_function
def log1p_f32(x, context):
    y = _log1p_d(x.f64()).f32()
    y = where(x == -1.0, -math.inf, y)
    y = where(x < -1.0, math.nan, y)
    y = where(x == 0.0, x, y)              # keeps -0.0
    return where(x < math.inf, y, x)


@_float32_function
def sin_f32(x, context):
    y = _big(context, x, "sin", _sin_cos_fast(x, 0))   # NaN -> NaN by the fast path, inf -> NaN by the big
    return where(x == 0.0, x, y)           # keeps -0.0


@_float32_function
def cos_f32(x, context):
    return _big(context, x, "cos", _sin_cos_fast(x, 1))


@_float32_function
def tan_f32(x, context):
    y = _big(context, x, "tan", _tan_fast(x))
    return where(x == 0.0, x, y)


@_float32_function
def tanh_f32(x, context):
    t = x.f64() * 2.0
    t = where(t > 40.0, 40.0, t)           # tanh(20) rounds to 1 in float32
    t = where(t < -40.0, -40.0, t)
    e = _expm1_d(t)
    y = (e / (e + 2.0)).f32()
    return where(x == 0.0, x, y)


@_float32_function
def sigmoid_f32(x, context):
    t = -x.f64()
    t = where(t > 200.0, 200.0, t)         # exp(200) is finite in float64: no overflow, 1/(1+e) -> 0
    t = where(t < -200.0, -200.0, t)
    return (1.0 / (1.0 + _exp_d(t))).f32()


@_float32_function
def softplus_f32(x, context):
    xd = x.f64()
    a = xd.abs()
    a = where(a > 200.0, 200.0, a)         # exp(-200) still positive in float64; NaN passes through
    pos = where(xd > 0.0, xd, 0.0)
    y = (pos + _log1p_d(_exp_d(-a))).f32()
    return where(x == x, y, x)             # NaN: explicit, not left to propagate through the bit tricks


# ---- float64: libm, except where a stable formula is needed ---------------------------------------
# Numba Python, inlined into Numba's IR: each is a libm call or a few operations. (np.float64(x) first:
# Numba's math functions on a float32 argument would compute in float32.)

_inline = numba.njit(inline="always", error_model="numpy")


@intrinsic
def _sel(typingctx, cond, a, b):
    """``a if cond else b`` as one select (a conditional expression would become branches)."""
    if isinstance(cond, types.Boolean) and a == b:
        return a(cond, a, b), lambda ctx, builder, sig, args: builder.select(*args)
    return None


exp_f64 = _inline(lambda x: math.exp(np.float64(x)))
expm1_f64 = _inline(lambda x: math.expm1(np.float64(x)))
log_f64 = _inline(lambda x: math.log(np.float64(x)))
log1p_f64 = _inline(lambda x: math.log1p(np.float64(x)))
sin_f64 = _inline(lambda x: math.sin(np.float64(x)))
cos_f64 = _inline(lambda x: math.cos(np.float64(x)))
tan_f64 = _inline(lambda x: math.tan(np.float64(x)))
tanh_f64 = _inline(lambda x: math.tanh(np.float64(x)))


@_inline
def sigmoid_f64(x):
    x = np.float64(x)
    e = math.exp(-abs(x))                  # in [0, 1]: never overflows
    r = 1.0 / (1.0 + e)
    return _sel(x >= 0, r, e * r)          # e / (1 + e) for x < 0; NaN falls through to e * r = NaN


@_inline
def softplus_f64(x):
    x = np.float64(x)
    pos = _sel(x > 0, x, 0.0)              # NaN -> 0 here, but log1p(exp(-|NaN|)) is NaN
    return pos + math.log1p(math.exp(-abs(x)))



# ---- reduction accumulators ----------------------------------------------------------------------
# The one place generated code may reassociate: the accumulation of a reduction, whose order is unspecified
# anyway (and reassociating it is what lets LLVM split a sum into vector lanes). The flag sits on this one
# instruction; the kernel itself has no fastmath flags, so the elementwise producers fused into the loop
# keep NumPy's order ((x * b) * b must not become x * (b * b): inf * 0 = NaN) and their own roundings.
# LLVM's loop vectoriser reads the flag from the reduction's own instructions, so a sum still vectorises.
# No 'contract': acc + x * y as one FMA would skip the product's rounding and overflow.

def _accumulator(name, op):
    def typer(typingctx, acc, v):
        if not isinstance(acc, types.Float) or not isinstance(v, (types.Float, types.Integer, types.Boolean)):
            return None

        def codegen(context, builder, sig, args):
            w = context.cast(builder, args[1], sig.args[1], sig.args[0])
            return getattr(builder, op)(args[0], w, flags=("reassoc",))
        return acc(acc, v), codegen
    typer.__name__ = typer.__qualname__ = name
    typer.__doc__ = f"``acc {'+' if op == 'fadd' else '*'} v`` in ``acc``'s type, the one instruction marked 'reassoc'."
    return intrinsic(typer)


reassoc_add = _accumulator("reassoc_add", "fadd")
reassoc_mul = _accumulator("reassoc_mul", "fmul")   # imported by name by generated code, not in __all__
