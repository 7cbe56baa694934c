"""Derives compiler/mathlib/float32.py's exp2_f32 coefficients (run by hand; NumPy's long double as reference).

2^f = 1 + f * Q(f) on |f| <= 1/2, Q of degree 5, near-minimax in the relative error of 2^f (Lawson's iteratively
reweighted least squares on Chebyshev points). The kernel evaluates Q in float32, so each coefficient is rounded
to float32 before the higher ones are refitted around it (rounding them all at once costs 2^-25.9 against 2^-28.3,
mostly ln2's rounding). Prints the coefficients (lowest degree first, as mathlib's _horner takes them) and the
error of the rounded set.

    python benchmarks/exp2_coefficients.py
"""
import numpy as np

L = np.longdouble
DEGREE = 5


def main():
    f = np.cos(np.linspace(0, np.pi, 4001, dtype=L)) / 2
    f = f[f != 0]
    q_exact = np.expm1(f * np.log(L(2))) / f
    weight = np.abs(f) / np.exp2(f)                 # an error in Q moves 2^f by f * error, relative to 2^f
    powers = np.vander(f, DEGREE + 1, increasing=True)
    coefs = []
    for j in range(DEGREE + 1):
        rest = q_exact - powers[:, :j] @ np.array(coefs, L)
        w = np.ones_like(f)
        for _ in range(80):
            scale = weight * np.sqrt(w)
            c = np.linalg.lstsq((powers[:, j:] * scale[:, None]).astype(np.float64),
                                (rest * scale).astype(np.float64), rcond=None)[0]
            err = np.abs((powers[:, j:] @ c.astype(L) - rest) * weight)
            w = w * err / np.sum(w * err)
        coefs.append(L(np.float32(c[0])))
    err = np.abs((powers @ np.array(coefs, L) - q_exact) * weight).max()
    print(f"# Q: degree {DEGREE}, relative error of 2^f 2^{float(np.log2(err)):.1f}")
    print("_EXP2_Q =", tuple(float(np.float32(c)) for c in coefs))


if __name__ == "__main__":
    main()
