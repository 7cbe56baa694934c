"""The fuzzer's ``--polymorphic`` mode: each random program traced once with an input_signature of None dims
(every drawn size >= 2; tracer.polymorphic), compiled, run at its drawn sizes and with its inputs repeated along
axis 0, and compared with
a per-size trace run by the reference interpreter (where that raises, the size is skipped: the program's
attributes may fit only its drawn shapes). Where the two differ, the per-size compiled trace decides: a
difference both compiled forms share is the compiled-vs-NumPy rounding the ordinary fuzz mode judges."""
import numpy as np

import graphjit as gj
from graphjit.tracer import dtypes

from fuzz_check import Failure, build_function


def _spec(x):
    """None where the drawn size is at least 2 (sizes 0 and 1 stay fixed: a symbolic trace never serves them)."""
    x = np.asarray(x)
    return gj.TensorSpec([None if d >= 2 else d for d in x.shape], dtypes.from_numpy(x.dtype))


def _variants(flat):
    """The drawn inputs, then those with an unknown first size repeated 2 and 3 times along it."""
    yield flat
    grown = [np.ndim(x) and np.shape(x)[0] >= 2 for x in flat]
    if any(grown):
        yield [np.concatenate([x, x]) if g else x for x, g in zip(flat, grown)]
        yield [np.concatenate([x, x, x]) if g else x for x, g in zip(flat, grown)]


def _run(function, flat, backend):
    saved = gj.config.backend, gj.config.compile_in_background
    gj.config.backend, gj.config.compile_in_background = backend, False
    try:
        return [np.asarray(o.numpy()) for o in function(*flat)]
    except Exception as err:  # noqa: BLE001 - compared by the caller
        return err
    finally:
        gj.config.backend, gj.config.compile_in_background = saved


def _differs(got, want):
    if got.shape != want.shape or got.dtype != want.dtype:
        return f"shape/dtype {got.dtype}{list(got.shape)} vs {want.dtype}{list(want.shape)}"
    if got.dtype.kind in "fc":
        close = np.isclose(got, want, rtol=1e-4, atol=1e-5, equal_nan=True) | (np.isinf(got) & (got == want))
        return None if close.all() else f"max difference {np.nanmax(np.abs(got - want))}"
    return None if np.array_equal(got, want) else "values differ"


def check_polymorphic_batch(progs, stats):
    """Failures of each program's symbolic trace against its per-size interpreted traces; ``stats`` counts
    programs served by one symbolic trace, those that fell back per size, and sizes compared."""
    failures = []
    for prog in progs:
        if prog.error is not None:
            continue
        flat = prog.inputs
        specs = [_spec(x) for x in flat]
        python_function = build_function([prog])
        polymorphic = gj.function(python_function, input_signature=specs)
        per_size = gj.function(python_function)
        for variant in _variants(flat):
            want = _run(per_size, variant, "interpreter")
            if isinstance(want, Exception):
                continue
            got = _run(polymorphic, variant, "cpu")
            stats["sizes compared"] += 1
            if isinstance(got, Exception):
                failures.append(Failure("crash", prog, f"polymorphic trace raised {type(got).__name__}: {got}"))
                break
            problems = [p for p in map(_differs, got, want) if p]
            if problems:   # the compiled per-size trace may round as the symbolic one does (float64 accumulators)
                compiled = _run(per_size, variant, "cpu")
                problems = [p for p in map(_differs, got, compiled) if p] if not isinstance(compiled, Exception) \
                    else problems
            if problems:
                shapes = [np.shape(x) for x in variant]
                failures.append(Failure("mismatch", prog, f"polymorphic vs per-size at inputs {shapes}: {problems[0]}"))
                break
        poly = polymorphic._polymorphism
        if poly is None:
            stats["no unknown size"] += 1   # (scalar inputs only, or none)
            continue
        stats["symbolic" if poly.concrete is not None else "per size"] += 1
        if poly.failure is not None:
            stats["because: " + poly.failure[:90]] += 1
    return failures
