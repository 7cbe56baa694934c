"""graphjit.compiler.mathlib's erf_f32 and erf_f64 (compiler/mathlib/erf.py) against Python's math.erf, and the
erf op compiled through a graph.

Reference: ``math.erf`` in float64 (glibc's erf, under 1 ULP from the exact value), evaluated over whole arrays
with ``np.frompyfunc``. float64: |got - ref| in float64 ULPs at ref must be <= 2 (our <= 1 plus the reference's
own < 1; the contract is 4). float32: measured against the float64 reference itself (its error, 2^-53 relative,
is negligible at float32's precision), <= 1 ULP (the float64 core's error plus one rounding: measured 0.52).
Each sample has >= 10^6 points: random bit patterns (NaNs, infinities, subnormals, both signs), log-spaced
magnitudes of both signs down to the smallest subnormal, a dense sweep of [-7, 7], and the neighbours of the
switch-over points (|x| = 1: polynomial to erfc form; 2: the erfc form's second piece; 6: +-1).
"""
import math
import re

import numba
import numpy as np
import pytest

import graphjit as gj
from graphjit.compiler import mathlib

from support import mathlib_loop, run_on

MAX_ULP = {np.float64: 2.0, np.float32: 1.0}
SWITCHES = [1.0, 2.0, 6.0, 0.5, 1.5, 3.0, 5.9]
_math_erf = np.frompyfunc(math.erf, 1, 1)


def loop(dtype):
    """``out[i] = erf_<dtype>(x[i])`` in a serial loop compiled as generated kernels are."""
    return mathlib_loop("erf_f32" if dtype == np.float32 else "erf_f64")


def compiled_erf(x):
    out = np.empty_like(x)
    loop(x.dtype.type)(np.ascontiguousarray(x), out)
    return out


def reference(x):
    return _math_erf(x.astype(np.float64)).astype(np.float64)


def neighbours(points, dtype, k=4):
    """Each point and its negation, the k values of ``dtype`` on either side, and 2000 values within 1e-6."""
    itype = np.int32 if dtype == np.float32 else np.int64
    p = np.asarray(points + [-v for v in points], dtype)
    near = (p.view(itype)[:, None] + np.arange(-k, k + 1, dtype=itype)).view(dtype).ravel()
    rng = np.random.default_rng(len(p))
    spread = (p[:, None] * (1 + rng.uniform(-1e-6, 1e-6, (len(p), 2000)))).astype(dtype).ravel()
    return np.concatenate([near, spread])


def special(dtype):
    info = np.finfo(dtype)
    return np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, info.smallest_subnormal,
                     -info.smallest_subnormal, info.tiny, -info.tiny, info.max, -info.max, 1e-30, -1e-30], dtype)


def domain(dtype, seed=0):
    rng = np.random.default_rng(seed)
    itype = np.uint32 if dtype == np.float32 else np.uint64
    info = np.finfo(dtype)
    bits = rng.integers(0, np.iinfo(itype).max, 300_000, dtype=itype, endpoint=True).view(dtype)
    mags = np.geomspace(float(info.smallest_subnormal), float(info.max), 150_000).astype(dtype)
    subnormal = (rng.integers(1, 2 ** (info.nmant), 50_000, dtype=itype)
                 | rng.choice(np.array([0, 1 << (8 * info.bits // 8 - 1)], itype), 50_000)).view(dtype)
    dense = rng.uniform(-7, 7, 400_000).astype(dtype)
    core = rng.uniform(-2.2, 2.2, 100_000).astype(dtype)
    return np.concatenate([special(dtype), bits, mags, -mags, subnormal, dense, core, neighbours(SWITCHES, dtype)])


def ulp_error(got, want, dtype):
    """|got - want| in ``dtype`` ULPs at the float64 ``want``; matching NaNs and infinities are 0 apart, and a
    NaN or infinity that does not match is inf."""
    with np.errstate(all="ignore"):
        rounded = want.astype(dtype)
        below = np.abs(rounded.astype(np.float64)) > np.abs(want)   # (perhaps) rounded up across a power of two:
        spacing = np.where(below, np.abs(rounded - np.nextafter(rounded, dtype(0))),   # the spacing below
                           np.spacing(np.abs(rounded))).astype(np.float64)
        spacing = np.maximum(spacing, float(np.finfo(dtype).smallest_subnormal))
        err = np.abs(got.astype(np.float64) - want) / spacing
    same_special = (np.isnan(got) & np.isnan(want)) | (np.isinf(want) & (got == want))
    err = np.where(same_special, 0.0, err)
    err[np.isnan(got) != np.isnan(want)] = np.inf
    return err


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_ulp_over_domain(dtype):
    x = domain(dtype)
    got, want = compiled_erf(x), reference(x)
    err = ulp_error(got, want, dtype)
    i = int(np.argmax(err))
    assert x.size >= 1_000_000
    assert err[i] <= MAX_ULP[dtype], f"{err[i]:.3f} ULP at x={x[i]!r}: got {got[i]!r}, want {want[i]!r}"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_special_values_exact(dtype):
    """NaN, +-inf -> +-1, signed zeros, the saturation from |x| = 6 on and the smallest subnormals as math.erf's."""
    info = np.finfo(dtype)
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, info.smallest_subnormal, -info.smallest_subnormal, 6.0, -6.0,
                  7.5, -30.0, info.max, -info.max], dtype)
    got, want = compiled_erf(x), reference(x).astype(dtype)
    assert np.array_equal(got, want, equal_nan=True), (x, got, want)
    signed = ~np.isnan(want)                      # (a NaN's sign is not specified)
    assert np.array_equal(np.signbit(got[signed]), np.signbit(want[signed]))
    assert got[0] == 0 and not np.signbit(got[0]) and np.signbit(got[1])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_odd_and_monotone(dtype):
    """erf(-x) = -erf(x) bit for bit, and erf never decreases along a sorted sweep (within 1 ULP it could)."""
    x = np.sort(np.random.default_rng(4).uniform(0, 7, 200_000).astype(dtype))
    pos, neg = compiled_erf(x), compiled_erf(-x)
    assert np.array_equal(neg, -pos)
    assert (np.diff(pos) >= 0).all()


_run_on = run_on   # (tests/support.py)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_graph_uses_mathlib_erf(dtype):
    """A traced graph's kernel calls erf_<dtype> (no libm): its result is the mathlib loop's, bit for bit, and
    within the bound of eager erf (math.erf) on 1M elements."""
    x = np.random.default_rng(5).uniform(-7, 7, 1 << 20).astype(dtype)
    x[:5] = [0.0, -0.0, np.inf, -np.inf, np.nan]
    fn = gj.function(lambda v: gj.math.erf(v))
    saved = gj.config.backend, gj.config.compile_in_background
    gj.config.backend, gj.config.compile_in_background = "cpu", False
    try:
        got = np.asarray(fn(x))
        sources = "\n".join(fn.get_concrete_function(x).kernels.values())
    finally:
        gj.config.backend, gj.config.compile_in_background = saved
    helper = "erf_f32" if dtype == np.float32 else "erf_f64"
    assert f"{helper}(" in sources and "math.erf" not in sources
    assert np.array_equal(got, compiled_erf(x), equal_nan=True)
    eager = np.asarray(gj.math.erf(gj.constant(x)))
    assert ulp_error(got, eager.astype(np.float64), dtype).max() <= MAX_ULP[dtype]
    assert np.array_equal(_run_on("interpreter", lambda v: gj.math.erf(v), x[:4096]), eager[:4096], equal_nan=True)


def test_erf_gradient_is_compiled_and_right():
    """d erf / dx = 2/sqrt(pi) exp(-x^2), compiled and interpreted."""
    x = np.linspace(-4, 4, 257)

    def loss(v):
        return gj.reduce_sum(gj.math.erf(v))
    want = 2 / np.sqrt(np.pi) * np.exp(-x * x)
    for backend in ("interpreter", "cpu"):
        np.testing.assert_allclose(_run_on(backend, gj.grad(loss), x), want, rtol=1e-14, atol=1e-300, err_msg=backend)


def test_float64_erf_loop_vectorises():
    """A prange loop of erf_f64 compiles to packed double arithmetic with no libm erf or exp call."""
    erf_f64 = mathlib.erf_f64

    @numba.njit("void(float64[::1], float64[::1])", parallel=True, error_model="numpy", fastmath={"contract"},
                boundscheck=False)
    def kernel(x, out):
        for i in numba.prange(x.size):
            out[i] = erf_f64(x[i]) * x[i]

    llvm = "\n".join(kernel.inspect_llvm().values())
    widths = {int(n) for n in re.findall(r"\bf(?:mul|add|sub) (?:contract )?<(\d+) x double>", llvm)}
    assert widths and max(widths) >= 2, f"no packed double arithmetic (vector widths {widths})"
    calls = set(re.findall(r"call [^@]*@([\w.]+)\(", llvm))
    assert not {c for c in calls if re.fullmatch(r"(llvm\.)?(erf|exp)(\.\w+)?", c)}, calls


def test_cuda_writer_still_lowers_erf_to_cuda_math():
    """The CUDA backend has its own math table: erf stays CUDA's math.erf (libdevice), not the CPU polynomials."""
    from graphjit.compiler.cuda.scalar import render_cuda
    from graphjit.tracer import lowering
    from graphjit.tracer.dtypes import float32, float64
    for dtype in (float32, float64):
        text = render_cuda(lowering.call("erf", lowering.arg(0, dtype)), ["x"])
        assert text == f"np.{dtype.name}(gm.erf(x))", text
