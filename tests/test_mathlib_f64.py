"""graphjit.compiler.mathlib's float64 functions against an 80-bit long-double reference: at most 4 ULP on
~1.1M sampled arguments per function (random bit patterns, so NaNs, infinities and subnormals; log-spaced
magnitudes of both signs; a dense sweep of the interesting range; and each approximation's switch-over points
with their neighbours), and special values exactly.

Reference: NumPy's long-double ufuncs (glibc's ``expl``, ``logl``, ``sinl``, ... on x86-64's 80-bit format, a
64-bit significand, accurate to a few units of 2^-64: under 2^-10 of a float64 ULP), sigmoid and softplus by
their formulas in long double. The error is measured against that value itself (not its float64 rounding):
|got - ref| / ulp(ref), with ulp the float64 spacing at ref (2^-1074 in the subnormal range).
"""
import numba
import numpy as np
import pytest

from graphjit.compiler import mathlib

NAMES = ["exp", "exp2", "expm1", "log", "log1p", "tanh", "sigmoid", "softplus", "sin", "cos"]
MAX_ULP = 4.0
MEASURED_MAX_ULP = {"exp2": 1.0}   # below the contract where measured so (exp2: 0.78; 0.68 unless subnormal)
L = np.longdouble
pytestmark = pytest.mark.skipif(np.finfo(L).nmant < 63, reason="needs x86-64's 80-bit long double as reference")

_KERNELS = {}


def run(name, x):
    """out[i] = name_f64(x[i]) in a serial loop compiled like generated kernels (error_model numpy, contract)."""
    if name not in _KERNELS:
        fn = getattr(mathlib, f"{name}_f64")

        @numba.njit("void(float64[::1], float64[::1])", error_model="numpy", fastmath={"contract"},
                    boundscheck=False)
        def loop(x, out):
            for i in range(x.size):
                out[i] = fn(x[i])
        _KERNELS[name] = loop
    out = np.empty_like(x)
    _KERNELS[name](np.ascontiguousarray(x), out)
    return out


def reference(name, x):
    xl = x.astype(L)
    with np.errstate(all="ignore"):
        if name == "sigmoid":
            return 1 / (1 + np.exp(-xl))
        if name == "softplus":
            return np.logaddexp(L(0), xl)
        return getattr(np, name)(xl)


def ulp_error(got, want):
    """|got - want| in float64 ULPs at want (want in long double); 0 for matching NaNs or infinities (want beyond
    float64's range counts as its float64 rounding, inf), inf for a NaN or infinity that does not match."""
    with np.errstate(all="ignore"):
        w = want.astype(np.float64)
        below = np.abs(w) > np.abs(want)   # rounded up across a power of two: the spacing below is the one
        spacing = np.where(below, np.abs(w - np.nextafter(w, 0)), np.spacing(np.abs(w)))
        spacing = np.maximum(np.abs(spacing).astype(L), L(5e-324))
        err = np.abs(got.astype(L) - want) / spacing
    same_special = (np.isnan(got) & np.isnan(want)) | (np.isinf(w) & (got == w))
    err = np.where(same_special, 0, err)
    err[np.isnan(got) != np.isnan(want)] = np.inf
    err[(np.isinf(w) | np.isinf(got)) & ~same_special] = np.inf
    return err


def neighbours(points, k=3):
    """Each point, the k float64 values on either side, and a spread of 2000 values within 1e-6 relative."""
    p = np.asarray(points, np.float64)
    near = (p.view(np.int64)[:, None] + np.arange(-k, k + 1)).view(np.float64).ravel()
    rng = np.random.default_rng(len(p))
    spread = (p[:, None] * (1 + rng.uniform(-1e-6, 1e-6, (len(p), 2000)))).ravel()
    return np.concatenate([near, spread])


_LN2 = np.log(2.0)
_HALF_STEPS = (np.arange(-1100, 1100) + 0.5) * _LN2          # where exp's k = round(x / ln2) changes
# Each function's switch-over points: its reduction's boundaries, its clamps and its path selections.
SWITCHES = {
    "exp": [*_HALF_STEPS[::25], 709.782712893384, -708.3964185322641, -745.1332191019411, -745.1332191019412,
            710.0, -746.0, 0.0],
    # round(t) changes at half-integers; 2^-1022 and 2^-1074 start and end the subnormals; the clamps; f's split
    "exp2": [*(np.arange(-1100, 1100, 7) + 0.5), -1022.0, -1074.0, -1075.0, 1024.0, -1080.0, 1025.0, 0.0,
             2.0 ** -21, 3 * 2.0 ** -21, 0.5 - 2.0 ** -21],
    "expm1": [*_HALF_STEPS[1070:1130], 36.0, 37.4, 40.0, -40.0, 709.782712893384, 710.0],
    "log": [*(np.sqrt(0.5) * 2.0 ** np.arange(-1074, 1024, 17)), 1.0, 2.2250738585072014e-308, 5e-324],
    "log1p": [1.0, -0.5, np.sqrt(2) - 1, np.sqrt(0.5) - 1, 1e-8, -1e-8, -1 + 2 ** -52, 2.0 ** 53],
    "tanh": [22.0, -22.0, *(_HALF_STEPS[1095:1105] / 2), 1e-8, 0.55, 20.0],
    "sigmoid": [*_HALF_STEPS[1090:1110], 37.0, -37.0, 745.0, -745.0, -708.4, 746.0],
    "softplus": [*_HALF_STEPS[1090:1110], 37.0, -37.0, 745.0, -745.0, -708.4, 746.0],
    "sin": [*(np.arange(-40, 41) * np.pi / 4), 2.0 ** 20, -2.0 ** 20, 1e5],
    "cos": [*(np.arange(-40, 41) * np.pi / 4), 2.0 ** 20, -2.0 ** 20, 1e5],
}
DENSE = {"exp": (-750, 712), "exp2": (-1085, 1030), "expm1": (-45, 45), "log": (0, 4), "log1p": (-1, 4), "tanh": (-25, 25),
         "sigmoid": (-750, 750), "softplus": (-750, 750), "sin": (-40, 40), "cos": (-40, 40)}
SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 5e-324, -5e-324, 2.2250738585072014e-308,
                    -2.2250738585072014e-308, 1.7976931348623157e308, -1.7976931348623157e308, 1.0, -1.0,
                    1000.0, -1000.0, 1e300, -1e300, 1e-300, -1e-300])


def domain(name):
    rng = np.random.default_rng(sum(map(ord, name)))
    mags = np.geomspace(5e-324, 1.7e308, 150_000)
    subnormal = (rng.integers(1, 2 ** 52, 50_000, dtype=np.uint64)
                 | rng.choice(np.uint64([0, 2 ** 63]), 50_000)).view(np.float64)
    return np.concatenate([SPECIAL, rng.integers(0, 2 ** 64, 300_000, dtype=np.uint64).view(np.float64),
                           mags, -mags, subnormal, rng.uniform(*DENSE[name], 300_000),
                           rng.uniform(-1, 1, 100_000), neighbours(SWITCHES[name])])


def assert_within(name, x, got, want, max_ulp):
    err = ulp_error(got, want)
    i = int(np.argmax(err))
    assert err[i] <= max_ulp, (f"{name}_f64: {float(err[i]):.2f} ULP at x={x[i]!r} ({x[i:i+1].view(np.uint64)[0]:#x}):"
                               f" got {got[i]!r}, want {want[i]!r}")


@pytest.mark.parametrize("name", NAMES)
def test_ulp_over_domain(name):
    x = domain(name)
    assert x.size >= 1_000_000
    assert_within(name, x, run(name, x), reference(name, x), MEASURED_MAX_ULP.get(name, MAX_ULP))


def test_exp2_of_an_integer_is_exact():
    """2^k exactly for every integer k: 0 from -1075 down (2^-1075 ties to even), inf from 1024 up."""
    k = np.arange(-1200, 1200).astype(np.float64)
    with np.errstate(over="ignore"):
        want = np.ldexp(1.0, np.arange(-1200, 1200))
    assert np.array_equal(run("exp2", k), want)
    assert run("exp2", np.array([-1074.0]))[0] == 5e-324


@pytest.mark.parametrize("name", NAMES)
def test_special_values_exact(name):
    """NaN, infinities, overflow, underflow to zero and signed zeros are the reference's exactly."""
    x = np.concatenate([SPECIAL, neighbours(SWITCHES[name], 1)])
    got, want = run(name, x), reference(name, x).astype(np.float64)
    exact = np.isnan(want) | np.isinf(want) | (want == 0) | (np.abs(x) == 0)
    same = (got[exact] == want[exact]) | (np.isnan(got[exact]) & np.isnan(want[exact]))
    assert same.all(), f"{name}: at x={x[exact][~same][:5]!r} got {got[exact][~same][:5]!r}"
    zeros = exact & (want == 0)
    assert (np.signbit(got[zeros]) == np.signbit(want[zeros])).all(), f"{name}: sign of a zero"


@pytest.mark.parametrize("name", ["sin", "cos"])
def test_trig_hard_arguments(name):
    """The float64 values nearest n pi/2 for n up to 2^20 * 2/pi and their neighbours (the reduction's
    hardest cases: r is tiny there), both sides of the 2^20 switch to libm, and huge arguments."""
    n = np.unique(np.geomspace(1, 2 ** 20 / (np.pi / 2), 100_000).astype(np.int64))
    multiples = (n.astype(L) * L("1.57079632679489661923132169163975144")).astype(np.float64)
    x = np.concatenate([neighbours(multiples, 2)[:len(multiples) * 5], [2.0 ** 20, np.nextafter(2.0 ** 20, 0)],
                        np.geomspace(2.0 ** 20, 1e300, 1000)])
    x = np.concatenate([x, -x])
    assert_within(name, x, run(name, x), reference(name, x), 1.0)


@pytest.mark.parametrize("name", ["sin", "cos"])
def test_trig_mixed_vectors(name):
    """One large, infinite or NaN argument among small ones, at every position of arrays up to 19 long: its
    lane (libm) is right and the other lanes are bit for bit what they are without it."""
    base = np.random.default_rng(3).uniform(-12, 12, 19)
    for size in range(1, 20):
        alone = run(name, base[:size])
        for pos in range(size):
            for value in (1e30, -3.5e7, 2.0 ** 20, np.inf, np.nan):
                x = base[:size].copy()
                x[pos] = value
                got = run(name, x)
                others = np.arange(size) != pos
                assert np.array_equal(got[others], alone[others]), (name, size, pos, value)
                assert_within(name, x[pos:pos + 1], got[pos:pos + 1], reference(name, x[pos:pos + 1]), 1.0)
