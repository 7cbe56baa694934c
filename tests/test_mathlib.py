"""graphjit.compiler.mathlib against NumPy: ULP error over the whole domain, exact special values, a
check that the float32 functions vectorise inside a loop, and for sin/cos/tan the hardest arguments of
their fast reduction and the per-vector switch to their exact one (also when compiled for AVX2 only).

Each function runs in one compiled loop (compiled once per session, like the code generator's kernels:
error_model='numpy', fastmath={'contract'}). float32 results are compared with NumPy's float64 result
rounded to float32, float64 results with NumPy's float64 (or, for sigmoid/softplus, a long-double formula).
"""
import math
import platform
import re

import numba
import numpy as np
import pytest

from graphjit.compiler import mathlib

from support import mathlib_loop

NAMES = ["exp", "exp2", "expm1", "log", "log1p", "sin", "cos", "tan", "tanh", "sigmoid", "softplus"]
MAX_ULP_F32 = 4   # the contract; measured once on all 2^32 inputs: 2 for sin and cos, 1 for the others
ASSERTED_ULP_F32 = {"exp2": 1}   # that measurement, asserted for the newest function
MAX_ULP_F64 = 3   # against NumPy (itself within 1 ULP); tests/test_mathlib_f64.py has the 4 ULP contract

compiled = mathlib_loop   # (tests/support.py)


def run(fname, x):
    out = np.empty_like(x)
    compiled(fname)(np.ascontiguousarray(x), out)
    return out


def reference(name, x):
    """NumPy's result in x's precision (float64 or long double); sigmoid and softplus by stable formulas."""
    with np.errstate(all="ignore"):
        if name == "sigmoid":
            return 1 / (1 + np.exp(-x))
        if name == "softplus":
            return np.logaddexp(x.dtype.type(0), x)
        return getattr(np, name)(x)


def ulp_distance(got, want):
    """Distance in units in the last place (float32 or float64): the number of representable values
    between the two. NaN matches NaN only; +0 and -0 are 0 apart here (signs are checked separately)."""
    itype = np.int32 if got.dtype == np.float32 else np.int64
    sign = np.array(np.iinfo(itype).max, itype)

    def ordered(a):
        i = a.view(itype).astype(np.int64)
        return np.where(i < 0, -(i & sign), i)
    with np.errstate(over="ignore"):
        d = np.abs(ordered(got) - ordered(want))
    nan_got, nan_want = np.isnan(got), np.isnan(want)
    d[nan_got & nan_want] = 0
    d[nan_got != nan_want] = np.iinfo(np.int64).max
    return d


def assert_close(name, x, got, want, max_ulp):
    d = ulp_distance(got, want)
    i = int(np.argmax(d))
    bits = x[i:i + 1].view(np.uint32 if x.dtype == np.float32 else np.uint64)[0]
    assert d[i] <= max_ulp, f"{name}: {d[i]} ULP at x={x[i]!r} ({bits:#x}): got {got[i]!r}, want {want[i]!r}"
    zeros = (want == 0) & (got == 0) & (np.signbit(want) != np.signbit(got))
    assert not zeros.any(), f"{name}: sign of zero differs at x={x[zeros][:5]!r}"


# ---- inputs ----------------------------------------------------------------------------------------

SPECIAL_F32 = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5,
                        1e-45, -1e-45, 1.1754942e-38, -1.1754942e-38, 1.1754944e-38, 3.4028235e38, -3.4028235e38,
                        88.72283, 88.72284, 89.0, -87.33654, -103.27893, -103.972084, -104.0, -110.0, 9.0, -9.0,
                        1.5707964, -1.5707964, 3.1415927, 6.2831855, 1e5, -1e5, 1048575.9, 1048576.0, 2 ** 24,
                        1e30, -1e30, 0.99999994, 1.0000001, -0.99999994, 1e-8, -1e-8, 2.0 ** -29, 20.0, -20.0,
                        200.0, -200.0, 2.0 ** 53, 2.0 ** 54, 2.0 ** 64, -2.0 ** 53], dtype=np.float32)


def domain_f32(name):
    """~2M float32 arguments: specials, random bit patterns (NaNs, infs and denormals included), log-spaced
    magnitudes of both signs, all-denormal patterns and a dense sweep of the function's interesting range."""
    rng = np.random.default_rng(sum(map(ord, name)))
    mags = np.geomspace(1e-45, 3.4e38, 300_000).astype(np.float32)
    dense = {"exp": (-110, 100), "exp2": (-155, 130), "expm1": (-20, 20), "log": (0, 4), "log1p": (-1, 4),
             "sin": (-20, 20), "cos": (-20, 20), "tan": (-20, 20), "tanh": (-12, 12), "sigmoid": (-110, 110),
             "softplus": (-110, 110)}[name]
    return np.concatenate([
        SPECIAL_F32,
        rng.integers(0, 2 ** 32, 1_000_000, dtype=np.uint32).view(np.float32),
        mags, -mags,
        (rng.integers(1, 2 ** 23, 50_000, dtype=np.uint32) | rng.choice(np.uint32([0, 2 ** 31]), 50_000))
        .view(np.float32),
        rng.uniform(*dense, 300_000).astype(np.float32),
    ])


def domain_f64(name):
    rng = np.random.default_rng(sum(map(ord, name)) + 1)
    mags = np.geomspace(5e-324, 1.7e308, 200_000)
    special = np.concatenate([SPECIAL_F32.astype(np.float64), [5e-324, -5e-324, 2.2250738585072014e-308,
                                                                1.7976931348623157e308, 709.78, 709.79, -745.2, -746.0,
                                                                1e300, -1e300, 1e-300]])
    return np.concatenate([special, rng.integers(0, 2 ** 64, 400_000, dtype=np.uint64).view(np.float64),
                           mags, -mags, rng.uniform(-50, 50, 200_000)])


# ---- float32 ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_f32_ulp_over_domain(name):
    x = domain_f32(name)
    assert_close(f"{name}_f32", x, run(f"{name}_f32", x), reference(name, x.astype(np.float64)).astype(np.float32),
                 ASSERTED_ULP_F32.get(name, MAX_ULP_F32))


@pytest.mark.parametrize("name", NAMES)
def test_f32_special_values_exact(name):
    """NaN, infinities, overflow/underflow, zeros (with their sign) and poles are NumPy's exactly."""
    x = SPECIAL_F32
    got = run(f"{name}_f32", x)
    want = reference(name, x.astype(np.float64)).astype(np.float32)
    exact = np.isnan(want) | np.isinf(want) | (want == 0)
    assert_close(f"{name}_f32", x[exact], got[exact], want[exact], 0)


STATED = [  # the contract, spelled out
    ("exp", np.inf, np.inf), ("exp", -np.inf, 0.0), ("exp", 1000.0, np.inf), ("exp", -1000.0, 0.0),
    ("exp", 0.0, 1.0), ("exp", 1e-45, 1.0), ("expm1", -0.0, -0.0), ("expm1", -np.inf, -1.0),
    ("log", 0.0, -np.inf), ("log", -0.0, -np.inf), ("log", -1.0, np.nan), ("log", np.inf, np.inf),
    ("log", 1.0, 0.0), ("log1p", -1.0, -np.inf), ("log1p", -0.0, -0.0), ("log1p", -2.0, np.nan),
    ("sin", np.inf, np.nan), ("sin", -np.inf, np.nan), ("cos", np.inf, np.nan), ("tan", -np.inf, np.nan),
    ("sin", -0.0, -0.0), ("tan", -0.0, -0.0), ("sin", 1e-45, 1e-45), ("tanh", -0.0, -0.0),
    ("tanh", np.inf, 1.0), ("tanh", -np.inf, -1.0), ("tanh", -1e-45, -1e-45), ("sigmoid", -np.inf, 0.0),
    ("sigmoid", np.inf, 1.0), ("sigmoid", 0.0, 0.5), ("softplus", np.inf, np.inf), ("softplus", -np.inf, 0.0),
    ("cos", 0.0, 1.0), ("cos", -0.0, 1.0), ("exp2", 0.0, 1.0), ("exp2", -0.0, 1.0), ("exp2", np.inf, np.inf),
    ("exp2", -np.inf, 0.0), ("exp2", 1100.0, np.inf), ("exp2", -1100.0, 0.0), ("exp2", 10.0, 1024.0),
    ("exp2", -3.0, 0.125),
]


@pytest.mark.parametrize("suffix", ["f32", "f64"])
@pytest.mark.parametrize("name, arg, want", STATED)
def test_stated_semantics(suffix, name, arg, want):
    dtype = np.float32 if suffix == "f32" else np.float64
    got = run(f"{name}_{suffix}", np.array([arg], dtype))[0]
    if np.isnan(want):
        assert np.isnan(got)
    else:
        assert got == want and np.signbit(got) == np.signbit(want), (name, arg, got, want)


@pytest.mark.parametrize("name", NAMES)
def test_nan_payload_in_nan_out(name):
    x = np.array([np.nan, -np.nan], np.float32)
    x = np.concatenate([x, np.uint32([0x7FC00001, 0xFF800001, 0x7F800001]).view(np.float32)])
    assert np.isnan(run(f"{name}_f32", x)).all()
    assert np.isnan(run(f"{name}_f64", x.astype(np.float64))).all()


def test_exp2_f32_of_an_integer_is_exact():
    """2^k exactly, 0 from -150 down (2^-150 ties to even), inf from 128 up."""
    k = np.arange(-300, 300)
    with np.errstate(over="ignore"):
        want = np.ldexp(np.float32(1), k.astype(np.int32)).astype(np.float32)
    got = run("exp2_f32", k.astype(np.float32))
    assert np.array_equal(got, want) and got[k == -149][0] == np.float32(1e-45)


# ---- float64 ---------------------------------------------------------------------------------------

_LONG = np.finfo(np.longdouble).nmant >= 63    # x86-64 80-bit long double: a reference for the formulas


@pytest.mark.parametrize("name", NAMES)
def test_f64_against_numpy(name):
    x = domain_f64(name)
    got = run(f"{name}_f64", x)
    if name in ("sigmoid", "softplus") and _LONG:
        want = reference(name, x.astype(np.longdouble)).astype(np.float64)
    else:
        want = reference(name, x)
    assert_close(f"{name}_f64", x, got, want, MAX_ULP_F64 if _LONG or name not in ("sigmoid", "softplus") else 4)
    exact = np.isnan(want) | np.isinf(want) | (want == 0)
    assert_close(f"{name}_f64", x[exact], got[exact], want[exact], 0)


# ---- vectorisation ---------------------------------------------------------------------------------

def _has_avx2():
    try:
        from llvmlite import binding
        return "+avx2" in binding.get_host_cpu_features().flatten()
    except Exception:  # noqa: BLE001 - no feature list: treat as unknown
        return False


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64") or not _has_avx2(),
                    reason="the vector-width check is written for x86-64 with AVX2")
def test_float32_loop_vectorises():
    """A prange loop of the W1 expression compiles to packed vector arithmetic with no libm call: a branch
    or call that defeats LLVM's loop vectoriser would make it 5-10x slower."""
    half = np.float32(0.5)
    exp_f32, sin_f32, log_f32, tanh_f32 = mathlib.exp_f32, mathlib.sin_f32, mathlib.log_f32, mathlib.tanh_f32

    @numba.njit("void(float32[::1], float32[::1], float32[::1])", parallel=True, error_model="numpy",
                fastmath={"contract"}, boundscheck=False)
    def w1(x, y, out):
        for i in numba.prange(x.size):
            v = x[i]
            out[i] = exp_f32(-v * v) * y[i] + sin_f32(v) * half + log_f32(y[i]) * tanh_f32(v)

    llvm = "\n".join(w1.inspect_llvm().values())
    widths = {int(n) for n in re.findall(r"\bf(?:mul|add|sub) (?:contract )?<(\d+) x (?:double|float)>", llvm)}
    assert widths and max(widths) >= 4, f"no packed float arithmetic (vector widths {widths})"
    calls = set(re.findall(r"call [^@]*@([\w.]+)\(", llvm))
    libm = {c for c in calls if re.fullmatch(r"(llvm\.)?(exp|expf|sin|sinf|cos|log|logf|tanh|tanhf)(\.\w+)?", c)}
    assert not libm, f"libm calls in the kernel: {libm}"
    # sin's large-argument path: a call per vector (of a vector variant, or from its inlined copy of the
    # stack-realigning trampoline), not arithmetic computed in every lane
    assert any(re.fullmatch(r"graphjit_mathlib_sin_big_\w+_(v|align)\d+", c) for c in calls), \
        f"no vector call of sin_f32's large-argument path: {sorted(calls)}"
    x = np.linspace(-5, 5, 1000, dtype=np.float32)
    y = np.linspace(0.1, 3, 1000, dtype=np.float32)
    out = np.empty_like(x)
    w1(x, y, out)
    want = np.exp(-x * x) * y + np.sin(x) * half + np.log(y) * np.tanh(x)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)


def test_module_exports_every_function():
    """Every name the code generator may import exists (each one's values are checked above)."""
    elsewhere = ["erf", "pow"]  # checked in tests/test_mathlib_erf.py and tests/test_powers.py
    assert sorted(mathlib.__all__) == sorted(f"{n}_{s}" for n in NAMES + elsewhere for s in ("f32", "f64"))
    for fname in mathlib.__all__:
        assert callable(getattr(mathlib, fname))


def test_float64_libm_matches_math_module():
    """The libm-backed float64 function (tan) is Python's math function, compiled (the others are polynomial
    code: tests/test_mathlib_f64.py checks them against long double)."""
    x = np.array([0.3, -2.5, 10.0])
    for name in ("tan",):
        assert run(f"{name}_f64", x).tolist() == [getattr(math, name)(v) for v in x]


# ---- sin, cos, tan: the two reductions ------------------------------------------------------------
# Below 2^20 (in magnitude) a float64 Cody-Waite reduction inline in the loop; from 2^20 on an exact
# Payne-Hanek reduction, run only for the vectors of the loop that hold such an argument.

MEASURED_ULP_F32 = {"sin": 2, "cos": 2, "tan": 1}   # on all 2^32 float32 inputs (mathlib's docstring)

# The float32 values below 2^20 closest to a nonzero multiple of pi/2 (a search over all of them; the
# closest, 252.89821, is 4.2e-9 away): the hardest cases for the Cody-Waite reduction.
HARD_TRIG_F32 = np.array([252.89821, 505.79642, 4.712389, 52516.434, 1011.59283, 9.424778], np.float32)
TWO20 = np.float32(2 ** 20)
BOUNDARY_F32 = np.array([np.nextafter(TWO20, np.float32(0)), TWO20, np.nextafter(TWO20, np.float32(np.inf))],
                        np.float32)


def _neighbours(x, k=2):
    """x and the k float32 values on each side of it, for both signs."""
    bits = x.view(np.uint32).astype(np.int64)[:, None] + np.arange(-k, k + 1)
    near = bits.astype(np.uint32).view(np.float32).ravel()
    return np.concatenate([near, -near])


@pytest.mark.parametrize("name", ["sin", "cos", "tan"])
def test_trig_hard_arguments(name):
    """Arguments next to multiples of pi/2 (where the reduction loses the most relative accuracy), on both
    sides of the 2^20 switch between the reductions, and float32(n * pi/2) for n up to 2^21."""
    n = np.unique(np.geomspace(1, 2 ** 21, 20_000).astype(np.int64))
    multiples = (n * (np.pi / 2)).astype(np.float32)
    x = np.concatenate([_neighbours(HARD_TRIG_F32), _neighbours(BOUNDARY_F32, 4), _neighbours(multiples, 1)])
    want = reference(name, x.astype(np.float64)).astype(np.float32)
    assert_close(f"{name}_f32", x, run(f"{name}_f32", x), want, MEASURED_ULP_F32[name])


@pytest.mark.parametrize("name", ["sin", "cos", "tan"])
def test_trig_mixed_vectors(name):
    """One large, infinite or NaN argument among small ones, at the start, middle or end of arrays of every
    length from 1 to 69: the loop's vector body, its shorter epilogue vectors and its scalar remainder each
    get a lane that takes the Payne-Hanek path. That lane is right, and the other lanes are bit for bit
    what they are without it."""
    rng = np.random.default_rng(5)
    base = rng.uniform(-12, 12, 69).astype(np.float32)
    odd = np.array([1e30, -3.5e7, 2 ** 20, -(2 ** 20), 1048575.9, np.inf, -np.inf, np.nan], np.float32)
    fn = compiled(f"{name}_f32")
    for size in range(1, 70):
        alone = np.empty(size, np.float32)
        fn(base[:size], alone)
        for pos in sorted({0, size // 2, size - 1}):
            x = base[:size].copy()
            got = np.empty_like(x)
            for value in odd:
                x[pos] = value
                fn(x, got)
                others = np.arange(size) != pos
                assert np.array_equal(got[others], alone[others]), (name, size, pos, value)
                want = reference(name, x[pos:pos + 1].astype(np.float64)).astype(np.float32)
                assert_close(f"{name}_f32", x[pos:pos + 1], got[pos:pos + 1], want, MEASURED_ULP_F32[name])


_AVX2_CHILD = """
import sys
import numpy as np
sys.path.insert(0, "tests")   # (tests/support.py, which test_mathlib imports as the suite does)
from tests.test_mathlib import domain_f32, run
for name in ("sin", "cos", "tan"):
    np.save(f"{sys.argv[1]}/{name}.npy", run(f"{name}_f32", domain_f32(name)))
"""


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64") or not _has_avx2(),
                    reason="compiles for an AVX2 CPU and runs the result on this one")
def test_trig_avx2_build_agrees(tmp_path):
    """sin, cos and tan compiled for an AVX2-only CPU (in a new process: Numba's target is fixed at
    start-up) give the same bits as here: 256-bit vectors and other vector variants of the large-argument
    path, no AVX-512 64-bit multiply or int64 -> float64 conversion in the Payne-Hanek code."""
    import os
    import pathlib
    import subprocess
    import sys
    env = dict(os.environ, NUMBA_CPU_NAME="haswell", NUMBA_CPU_FEATURES="+avx2,+fma")
    root = pathlib.Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", _AVX2_CHILD, str(tmp_path)], env=env, cwd=root, check=True,
                   timeout=300)
    for name in ("sin", "cos", "tan"):
        here = run(f"{name}_f32", domain_f32(name))
        there = np.load(tmp_path / f"{name}.npy")
        same = (here.view(np.uint32) == there.view(np.uint32)) | (np.isnan(here) & np.isnan(there))
        x = domain_f32(name)[~same][:3]
        assert same.all(), f"{name}: {np.count_nonzero(~same)} results differ, e.g. at x={x}"
