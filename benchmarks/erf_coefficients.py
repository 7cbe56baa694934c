"""Derives compiler/mathlib/erf.py's polynomial coefficients (run by hand; needs mpmath, not a dependency).

erf(x) = x + x * A(x^2) for |x| < 1, and 1 - exp(-x^2) * B(1/x) for 1 <= x < 6 (erfc(6) < 2^-54, so erf rounds
to 1 beyond): A approximates erf(x)/x - 1 in z = x^2 on [0, 1]; B approximates exp(x^2) erfc(x) as a polynomial
of u = 1/x - m on two pieces, x in [1, 2) and [2, 6) (m the middle of 1/x's range on each, so the terms shrink
and Horner's sum does not cancel), each by mpmath's Chebyshev fit (near minimax in absolute error). Prints each
coefficient tuple (lowest degree first, as mathlib's _horner takes them) and its fitted error.

    python benchmarks/erf_coefficients.py
"""
import textwrap

import mpmath as mp

mp.mp.dps = 60
SWITCH, PIECE, ONE_BEYOND = 1, 2, 6
# (name, degree of A, degree of B's pieces): float64 A to ~2^-62 and B to ~2^-57 (B is scaled by
# exp(-x^2) <= 0.37); float32's core (also evaluated in float64) to ~2^-32.
SETS = [("F64", 12, 16), ("F32", 6, 8)]


def erf_over_x_minus_1(z):
    if z == 0:
        return 2 / mp.sqrt(mp.pi) - 1
    x = mp.sqrt(z)
    return mp.erf(x) / x - 1


def fit(f, interval, degree):
    coefs, err = mp.chebyfit(f, interval, degree + 1, error=True)
    return [float(c) for c in reversed(coefs)], float(mp.log(err, 2))


def scaled_erfc_piece(lo, hi, degree):
    """(m, coefficients, log2 error) of exp(x^2) erfc(x) as a polynomial of u = 1/x - m for x in [lo, hi]."""
    t_lo, t_hi = 1 / mp.mpf(hi), 1 / mp.mpf(lo)
    m = mp.mpf(float((t_lo + t_hi) / 2))   # the float64 that the kernel subtracts

    def g(u):
        x = 1 / (u + m)
        return mp.exp(x * x) * mp.erfc(x)
    coefs, err = fit(g, [t_lo - m, t_hi - m], degree)
    return float(m), coefs, err


def tuple_text(name, values):
    return f"{name} = _coefficients([\n    " + "\n    ".join(textwrap.wrap(repr(values)[1:-1], 112)) + "])"


def main():
    for name, deg_a, deg_b in SETS:
        a, err_a = fit(erf_over_x_minus_1, [0, SWITCH ** 2], deg_a)
        print(f"# A: degree {deg_a}, error 2^{err_a:.1f}")
        print(tuple_text(f"_ERF_A_{name}", a))
        for label, (lo, hi) in (("NEAR", (SWITCH, PIECE)), ("FAR", (PIECE, ONE_BEYOND))):
            m, b, err_b = scaled_erfc_piece(lo, hi, deg_b)
            print(f"# B on [{lo}, {hi}): degree {deg_b}, error 2^{err_b:.1f}")
            print(f"_ERFC_MID_{label}_{name} = _F({m!r})")
            print(tuple_text(f"_ERFC_{label}_{name}", b))


if __name__ == "__main__":
    main()
