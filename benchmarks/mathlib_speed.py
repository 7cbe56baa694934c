"""Speed of graphjit.compiler.mathlib's float32 functions in parallel Numba loops vs libm and NumPy.

    python benchmarks/mathlib_speed.py [--n 16777216] [--repeat 11] [--threads N]

Each row times one elementwise float32 loop over n elements (medians of --repeat runs, after a warm-up
run; outputs preallocated outside the timed region): the mathlib polynomial version, the same prange loop
calling libm through ``math`` (not vectorisable), and NumPy. Arguments are 3 * standard normal, except in
the "huge" rows: |x| log-uniform in [2^20, 3e22), which sin and cos reduce by their slower exact path. A
triad (read 2 arrays, write 1) gives the memory floor of the same run. The script also reads each
polynomial kernel's assembly and reports the widest vector registers its packed arithmetic uses (ymm =
AVX2, zmm = AVX-512), and the compile time of each mathlib kernel. The machine's load average is printed
first: other processes skew parallel timings.
"""
import argparse
import math
import os
import re
import time

import numba
import numpy as np

from graphjit.compiler.mathlib import cos_f32, exp_f32, log_f32, sin_f32, tan_f32, tanh_f32

_HALF = np.float32(0.5)
_SIG = "void(float32[::1], float32[::1], float32[::1])"
_FLAGS = dict(parallel=True, error_model="numpy", boundscheck=False, fastmath={"contract"}, nogil=True)


@numba.njit(_SIG, **_FLAGS)
def triad(x, y, out):
    for i in numba.prange(x.size):
        out[i] = x[i] + y[i] * _HALF


def unary(fn):
    @numba.njit(_SIG, **_FLAGS)
    def kernel(x, y, out):
        for i in numba.prange(x.size):
            out[i] = fn(x[i])
    return kernel


def _libm(fn):
    """``fn`` (a math function) as a float32-returning Numba function, inlined into the loops: libm's
    scalar call, which LLVM cannot vectorise."""
    @numba.njit(inline="always")
    def call(v):
        return np.float32(fn(v))
    return call


libm_exp, libm_sin, libm_cos, libm_tan, libm_log, libm_tanh = (
    _libm(f) for f in (math.exp, math.sin, math.cos, math.tan, math.log, math.tanh))


def w1_poly_kernel():
    @numba.njit(_SIG, **_FLAGS)
    def w1_poly(x, y, out):
        for i in numba.prange(x.size):
            v = x[i]
            out[i] = exp_f32(-v * v) * y[i] + sin_f32(v) * _HALF
    return w1_poly


@numba.njit(_SIG, **_FLAGS)
def w1_libm(x, y, out):
    for i in numba.prange(x.size):
        v = x[i]
        out[i] = np.float32(math.exp(-v * v)) * y[i] + np.float32(math.sin(v)) * _HALF


def w1_numpy(x, y, out):
    np.add(np.exp(-x * x) * y, np.sin(x) * _HALF, out=out)


def timed(make):
    t = time.perf_counter()
    kernel = make()
    return kernel, time.perf_counter() - t


def median_ms(fn, *args, repeat, best=None):
    fn(*args)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t)
    if best is not None:
        best.append(1e3 * min(times))
    return 1e3 * float(np.median(times))


def vector_width(kernel):
    """The widest vector register ('zmm', 'ymm', 'xmm' or 'scalar only') used by packed float arithmetic."""
    asm = "\n".join(kernel.inspect_asm().values())
    packed = re.findall(r"\bv(?:fmadd|fnmadd|fmsub|mul|add|sub|div)\w*p[sd]\s+%?([xyz])mm", asm)
    for reg in "zyx":
        if reg in packed:
            return f"{reg}mm x{packed.count(reg)}"
    return "scalar only"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1 << 24)
    ap.add_argument("--repeat", type=int, default=11)
    ap.add_argument("--threads", type=int, default=0, help="Numba threads (default: all)")
    args = ap.parse_args()
    if args.threads:
        numba.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(args.n) * 3).astype(np.float32)
    y = rng.standard_normal(args.n).astype(np.float32)
    xpos = np.abs(x) + np.float32(1e-3)
    huge = (2.0 ** 20 * np.exp(rng.uniform(0, 38, args.n)) * rng.choice([-1, 1], args.n)).astype(np.float32)
    out = np.empty_like(x)
    floor = median_ms(triad, x, y, out, repeat=args.repeat)
    print(f"n = {args.n:,} float32, {numba.get_num_threads()} threads ({numba.threading_layer()}), "
          f"median of {args.repeat} runs (ms); load average before: {os.getloadavg()[0]:.2f}")
    print(f"triad floor (x + y*0.5, 12 bytes/element): {floor:.2f} ms = {12 * args.n / floor / 1e6:.1f} GB/s\n")

    rows = [("exp", exp_f32, libm_exp, np.exp, x),
            ("sin", sin_f32, libm_sin, np.sin, x),
            ("cos", cos_f32, libm_cos, np.cos, x),
            ("tan", tan_f32, libm_tan, np.tan, x),
            ("sin, huge", sin_f32, libm_sin, np.sin, huge),
            ("cos, huge", cos_f32, libm_cos, np.cos, huge),
            ("log", log_f32, libm_log, np.log, xpos),
            ("tanh", tanh_f32, libm_tanh, np.tanh, x)]
    print(f"{'loop':32s} {'mathlib':>9s} {'libm':>9s} {'numpy':>9s}  {'vs libm':>7s} {'vs numpy':>8s}  "
          f"{'compile':>7s}  vector regs")
    for name, poly, libm, ufunc, arg in rows:
        (kp, compile_s), kl = timed(lambda: unary(poly)), unary(libm)
        tp = median_ms(kp, arg, y, out, repeat=args.repeat)
        tl = median_ms(kl, arg, y, out, repeat=args.repeat)
        tn = median_ms(lambda a, b, o: ufunc(a, out=o), arg, y, out, repeat=args.repeat)
        print(f"{name + '(x)':32s} {tp:9.2f} {tl:9.2f} {tn:9.2f}  {tl / tp:6.1f}x {tn / tp:7.1f}x  "
              f"{compile_s:6.2f}s  {vector_width(kp)}")
    w1_poly, compile_s = timed(w1_poly_kernel)
    best = []
    tp = median_ms(w1_poly, x, y, out, repeat=args.repeat, best=best)
    tl = median_ms(w1_libm, x, y, out, repeat=args.repeat)
    tn = median_ms(w1_numpy, x, y, out, repeat=args.repeat)
    print(f"{'W1 exp(-x*x)*y + sin(x)*0.5':32s} {tp:9.2f} {tl:9.2f} {tn:9.2f}  {tl / tp:6.1f}x {tn / tp:7.1f}x  "
          f"{compile_s:6.2f}s  {vector_width(w1_poly)}")
    print(f"\nW1 mathlib: best run {best[0]:.2f} ms; median / triad floor {tp / floor:.2f}x")


if __name__ == "__main__":
    main()
