"""sin, cos and tan's range reductions: Cody-Waite inline for |x| < 2^20, Payne-Hanek out of line (only for the
vectors of a loop that hold a large argument) beyond."""
from llvmlite import ir
from numba.core import cgutils

from .llvm_values import _F, _G, _SHIFT, SOURCE_SHA256, _V, where

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


def _define_big(context, module, name, element=ir.FloatType(), limit=_FAST_MAX, emit=_emit_payne_hanek):
    """big(x, y) for ``name`` in ``module``, with its vector versions: defined on first use. (float64's sin and
    cos use it with ``element`` double and ``emit`` a libm call: (builder, x, name) -> f(x).)"""
    scalar_name = f"graphjit_mathlib_{name}_big_{SOURCE_SHA256[:16]}"
    fn = module.globals.get(scalar_name)
    if fn is not None:
        return fn
    f32 = element
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
    for tag, v in (("lo", -limit), ("hi", limit)):
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
            b.ret(emit(b, fn.args[0], name))
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
            lo, hi = (ir.Constant(f32, v) for v in (-limit, limit))
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


