"""Shared test machinery: op cases checked eagerly against NumPy and traced against eager.

A ``Case`` names the registry ops it exercises, a graphjit function, its arguments (NumPy arrays become
tensors; other values are passed as they are) and an independent NumPy reference. ``tests/test_ops.py``
runs every case (from the ``cases_*.py`` files) three ways: eager vs reference (value and dtype), traced
with the reference interpreter vs eager (bit for bit, NaN included), and checks that every registered op
has at least one case.
"""
from dataclasses import dataclass, field

import numpy as np

import graphjit as gj


@dataclass
class Case:
    ops: tuple               # registry op names this case exercises
    fn: object               # the graphjit computation: fn(*args) -> tensor(s)
    args: tuple              # ndarrays become tensors; Python values pass through
    reference: object        # independent NumPy computation on the same args
    rtol: float = 1e-6
    atol: float = 0.0
    name: str = ""
    check_dtype: bool = True
    kwargs: dict = field(default_factory=dict)

    @property
    def id(self):
        return self.name or f"{'+'.join(self.ops)}"


def as_tensors(args):
    return tuple(gj.constant(a) if isinstance(a, np.ndarray) else a for a in args)


def assert_same(actual, expected, rtol=0.0, atol=0.0, check_dtype=True, what="result"):
    """Values (NaN in the same places, infinities with the same sign) and, optionally, dtype."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != expected {expected.shape}"
    if check_dtype:
        assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != expected {expected.dtype}"
    if actual.dtype.kind in "biu" and expected.dtype.kind in "biu":
        np.testing.assert_array_equal(actual, expected, err_msg=what)
    else:
        np.testing.assert_allclose(actual.astype(np.float64), expected.astype(np.float64), rtol=rtol, atol=atol,
                                   equal_nan=True, err_msg=what)


def flatten_results(value):
    if isinstance(value, (tuple, list)):
        return [r for v in value for r in flatten_results(v)]
    return [value]


def run_eager(case):
    return flatten_results(case.fn(*as_tensors(case.args), **case.kwargs))


def run_traced(case):
    traced = gj.function(case.fn)
    return flatten_results(traced(*case.args, **case.kwargs))


def float_edge_values(dtype):
    """NaN, infinities, signed zeros, tiny, huge and ordinary values of ``dtype``."""
    info = np.finfo(dtype)
    return np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, info.tiny, -info.tiny, info.max, -info.max,
                     1.0, -1.0, 0.5, -2.5, 3.0, 1e-3, 100.0], dtype=dtype)


def int_edge_values(dtype):
    info = np.iinfo(dtype)
    return np.array([0, 1, -1, 2, -7, 13, info.max, info.min], dtype=dtype)


def count_module_loads(monkeypatch, loads, backend="cpu"):
    """Runs ``gj.function`` on ``backend``, compiling before a first call returns, and appends the graph's name to
    ``loads`` for each module the CPU backend compiles or loads from its kernel cache."""
    import graphjit.compiler.cpu as cpu
    monkeypatch.setattr(gj.config, "backend", backend)
    monkeypatch.setattr(gj.config, "compile_in_background", False)
    load = cpu._load

    def counted(source, graph):
        loads.append(graph.name)
        return load(source, graph)
    monkeypatch.setattr(cpu, "_load", counted)


def batched_cases(cases, size, keep=lambda case: True):
    """The op cases whose arguments a traced function can take (arrays and plain Python values), ``keep``-filtered,
    in batches of ``size``: a few compiled graphs cover them all."""
    usable = [c for c in cases if keep(c) and all(
        isinstance(a, (np.ndarray, int, float, bool, str, type(None), tuple, list)) for a in c.args)]
    return [usable[k:k + size] for k in range(0, len(usable), size)]


def batch_function(cases):
    """(one function computing every case of ``cases``, flat list of results; the arrays it takes, in order)."""
    def run_all(*arrays):
        it = iter(arrays)
        outs = []
        for case in cases:
            args = [next(it) if isinstance(a, np.ndarray) else a for a in case.args]
            outs.extend(flatten_results(case.fn(*args, **case.kwargs)))
        return outs
    return run_all, [a for case in cases for a in case.args if isinstance(a, np.ndarray)]


_MATHLIB_LOOPS = {}


def mathlib_loop(fname):
    """A serial loop ``out[i] = fname(x[i])`` over a compiler.mathlib helper (``erf_f32``), compiled once per
    session as generated kernels are (FMA contraction only)."""
    if fname not in _MATHLIB_LOOPS:
        import numba

        from graphjit.compiler import mathlib
        fn = getattr(mathlib, fname)
        t = "float32" if fname.endswith("_f32") else "float64"

        @numba.njit(f"void({t}[::1], {t}[::1])", error_model="numpy", fastmath={"contract"}, boundscheck=False)
        def loop(x, out):
            for i in range(x.size):
                out[i] = fn(x[i])
        _MATHLIB_LOOPS[fname] = loop
    return _MATHLIB_LOOPS[fname]


def run_on(backend, fn, *args):
    """fn traced and run by ``backend`` ('cpu': compiled before the call returns; 'interpreter': the oracle)."""
    saved = gj.config.backend, gj.config.compile_in_background
    gj.config.backend, gj.config.compile_in_background = backend, False
    try:
        return np.asarray(gj.function(fn)(*args))
    finally:
        gj.config.backend, gj.config.compile_in_background = saved


def _on_both_backends(fn, args, convert):
    """(compiled, interpreted) ``convert(result)`` of one traced function, called once per backend."""
    f = gj.function(fn)
    saved = gj.config.backend, gj.config.compile_in_background
    try:
        gj.config.compile_in_background = False
        out = {}
        for backend in ("cpu", "interpreter"):
            gj.config.backend = backend
            out[backend] = convert(f(*args))
        return out["cpu"], out["interpreter"]
    finally:
        gj.config.backend, gj.config.compile_in_background = saved


def both_backends_lists(fn, *args):
    """(compiled, interpreted) lists of arrays from one traced function returning a list."""
    return _on_both_backends(fn, args, lambda results: [np.asarray(t.numpy()) for t in results])


def both_backends(fn, *args):
    """(compiled, interpreted) results of one traced function."""
    return _on_both_backends(fn, args, lambda result: np.asarray(result.numpy()))


def fuzz_modules():
    """(fuzz_check, fuzz_grad, fuzz_graphs): the differential fuzzer's modules, which live beside the tests."""
    import os
    import sys
    sys.path.insert(0, os.path.dirname(__file__))
    import fuzz_check
    import fuzz_grad
    import fuzz_graphs
    return fuzz_check, fuzz_grad, fuzz_graphs
