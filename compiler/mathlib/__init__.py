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
only its accumulation, by ``reassoc_add``/``reassoc_mul`` of ``accumulators``). The one exception to
"straight-line": sin, cos and tan send arguments of 2^20 and more through a call that the vectoriser
widens and that tests a whole vector at once (see _define_big), so that their costly exact reduction runs
only for the vectors that hold such an argument.

float32 (np.float32 in and out), valid for every float32 input, denormals included:

  exp_f32       float32 throughout: Cody-Waite x = k*ln2 + r, |r| <= ln2/2, degree-6 minimax (2^-28);
                2^k applied as two normal factors, so subnormal results round once and overflow gives inf.
  exp2_f32      float32 throughout: x = k + f, k = round(x), f exact (integers give exactly 2^k), 2^f = 1 + f Q(f)
                with Q a degree-5 fit (2^-28.3, benchmarks/exp2_coefficients.py); 2^k as for exp_f32.
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

pow_f32, pow_f64 (``power``): NumPy's power of two operands. Integer and half-integer exponents up to 16 take
binary powering (float64 multiplies for float32, double-double for float64), which folds to its few multiplies
for a literal exponent; others exp(y log|x|) in float64 for float32, for float64 with a table-driven log
(``table_log``: 128 entries, two loads) and a double-double exp (``double_double``). <= 0.5 + 2^-28 ULP (float32
small exponents), <= 0.51 ULP (float32 others), <= 1 ULP (float64 small exponents; others: measured 0.72, 0.81 for
subnormal results).

float64 (``*_f64``), straight-line IR like float32 (tan_f64 alone is libm); coefficients are Taylor series
(1/n!, 2/(2n+1)) taken past 2^-56 of the result. Error against 80-bit long double, ~1.1M sampled arguments
each (tests/test_mathlib_f64.py checks the 4 ULP contract): measured max ULP in brackets.

  exp_f64       Cody-Waite with a 2-part ln2, |r| <= ln2/2, expm1(r) to r^13; 2^k as two normal factors (1.0).
  exp2_f64      t = k + f, k = round(t), f exact; 1 + expm1(f ln2) with f ln2 as hi + lo to 2^-73 (f split at
                2^-20: no FMA) and 1 + hi split exactly, so one rounding of 2^-53; 2^k as for exp. Integers give
                exactly 2^k (0.78 subnormal, 0.68 normal results; tests/test_mathlib_f64.py asserts 1).
  expm1_f64     s*q + (s-1) with s = 2^k (exact q at k = 0), exp beyond 40 (1.8).
  log_f64,      u = 2^k (1+f) from the bits, log(1+f) = f - s(f - s^2 T(s^2)), s = f/(2+f), atanh series to
  log1p_f64     s^23 (subnormals prescaled); log1p adds the Fast2Sum error of 1+x divided by u (1.1, 1.5).
  tanh_f64      e/(e+2), e = expm1(2|x|) (2.6).  sigmoid_f64: {1, e}/(1+e), e = exp(-|x|) (2.1).
  softplus_f64  max(x,0) + log1p(exp(-|x|)) (1.9).
  sin_f64,      4-part Cody-Waite pi/2 (33+33+33+53 bits, TwoSum-compensated, r as a double-double) for
  cos_f64       |x| < 2^20, Taylor to r^17/r^18; |x| >= 2^20 and inf: libm through trig's _define_big, only
                for vectors holding such an argument (0.8).
  erf_f64       |x| < 1: x + x A(x^2); 1 <= |x| < 6: 1 - exp(-x^2) B(1/|x|) on two pieces (coefficients selected);
                +-1 beyond. Chebyshev fits (benchmarks/erf_coefficients.py); measured against math.erf, itself
                within 1 ULP, on ~1.2M points (tests/test_mathlib_erf.py asserts 2): 1.0 (0.87 against mpmath at
                math.erf's 300 worst points).
  erf_f32       the same in float64 with lower-degree fits (2^-29.6), rounded once: 0.52 ULP (asserted 1).

Generated kernels contain this code, so Numba's on-disk cache of a kernel does not notice when these files
changes: include ``SOURCE_SHA256`` in the cache key.

The code is split by responsibility: ``llvm_values`` (LLVM IR written with Python operators, the typed
constants), ``trig`` (sin/cos/tan range reductions), ``float32`` (the float32 functions and their float64
cores), ``float64`` (the float64 exp/log family), ``accumulators`` (the reductions' reassociating add and
multiply), ``float64_trig`` (float64 sin, cos), ``erf`` (erf, both dtypes), ``power`` (pow, two operands),
``table_log`` (float64 pow's log, the one table lookup in mathlib) and ``double_double`` (float64 pow's exp and
binary powering). Each module is imported when generated code first names one of its helpers.
"""
import importlib

from .llvm_values import SOURCE_SHA256  # noqa: F401
from ..scalar_numba import mathlib_helpers

# Each helper's module, imported on first use (PEP 562): creating a module's Numba intrinsics takes milliseconds
# (all of mathlib: ~55 ms), and a warm-cache process's first call imports what its kernels name, nothing more.
_HOMES = {"float32": ("cos_f32", "exp2_f32", "exp_f32", "expm1_f32", "log1p_f32", "log_f32", "sigmoid_f32",
                      "sin_f32", "softplus_f32", "tan_f32", "tanh_f32"),
          "float64": ("exp2_f64", "exp_f64", "expm1_f64", "log1p_f64", "log_f64", "sigmoid_f64", "softplus_f64",
                      "tan_f64", "tanh_f64"),
          "accumulators": ("reassoc_add", "reassoc_mul"),
          "float64_trig": ("cos_f64", "sin_f64"),
          "erf": ("erf_f32", "erf_f64"),
          "power": ("pow_f32", "pow_f64")}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = mathlib_helpers()  # the helpers that the CPU renderer's math table names


def __getattr__(name):
    home = _HOME_OF.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = globals()[name] = getattr(importlib.import_module(f".{home}", __name__), name)
    return value


def __dir__():
    return sorted(set(globals()) | set(_HOME_OF))
