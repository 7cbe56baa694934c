"""Runs fuzzed programs (tests/fuzz_graphs.py) three ways and compares them.

1. compiled: the Numba CPU backend (``gj.config.backend = "cpu"``, compiled before the call returns);
2. interpreted: the reference interpreter, same traced function, same inputs;
3. float64 shadow: the program evaluated op by op with graphjit's eager (NumPy) implementations, every
   float32 value carried in float64 (float32's range kept: overflow to inf, denormals rounded).

Condition awareness: the shadow also runs perturbed. After each op (or on its float operands, for sums,
dot products and softmax rows: ``Tol.on == "in"``), float values are scaled by ``1 + u * ulps * eps`` with
``ulps`` the op's bound from ``fuzz_graphs.TOLERANCES``, ``u`` all +1, all -1, by the node index's bits or random (PATTERNS), plus one
run that rounds every float32 value to float32 (the interpreter's arithmetic). The perturbed runs show
what a correct implementation may return: an element is checked only where every run agrees on its class
(NaN / +inf / -inf / finite, or the exact value of ints and bools: a comparison or floor next to its
threshold is not checked), and finite floats must agree within ``SPREAD_FACTOR`` times the largest
deviation of a perturbed run. Where no op upstream may differ (all bounds 0: integer code, moves,
comparisons, max/min, ...) that deviation is 0, so the backends must agree bit for bit (signed zeros too).
Two things perturbation by ULPs cannot show are marked in the perturbed runs instead: periodic ops (sin, cos,
tan, and remainders) of an operand whose allowed error spans part of a period, and the order of -0.0 and +0.0
in a sort. The first leaves elements *unchecked*: each run carries a boolean mask beside its values, which every
op after it propagates to the elements that depend on a lost one (tests/fuzz_unchecked.py), and no backend is
compared with the reference where any run's mask is set (a NaN in the value would be read as a value downstream:
logical_and(NaN, x) is True).
``cmp`` bounds drive compiled-vs-interpreter, ``ref`` bounds the comparisons with the float64 shadow.
Two bounds are not ULPs of an operand: a sum or mean may move by its reassociation bound times sum|x_i|
(REASSOCIATED_SUMS; unchecked where a partial sum may overflow; a product where a partial product may overflow or
underflow, tests/fuzz_products.py, but still of a class some order gives), and a softmax row by its own arithmetic's ULPs
of p (SOFTMAX_ROW_OPS); docs/numerics.md states both.
"""
import math
import os
from dataclasses import dataclass

import numpy as np

import graphjit as gj
from graphjit.errors import GraphjitError
from graphjit.tracer.ir import TensorType

import fuzz_products
import fuzz_unchecked
from fuzz_graphs import SPECS, Input, Program, Step, tolerance

# The backend fuzzed against the interpreter; GRAPHJIT_FUZZ_BACKEND names another registered one.
COMPILED_BACKEND = os.environ.get("GRAPHJIT_FUZZ_BACKEND", "cpu")
EPS = {np.dtype(np.float32): 2.0 ** -23, np.dtype(np.float64): 2.0 ** -52}
# An ULP is never smaller than the gap between denormals: "within 4 ULP" of 2^-149 reaches 0 (NumPy's float32
# exp2 returns 0.0 where 2^-149.3 rounds to 2^-149; found by benchmarks/fuzz.py through sign(exp2(x))).
TINY = {np.dtype(np.float32): 2.0 ** -149, np.dtype(np.float64): 2.0 ** -1074}
SPREAD_FACTOR = 4
# Sign patterns of the perturbations: all +1, all -1, one per bit of the node index (+ where bit j of k is set)
# and two random ones drawn per element. One sign for every node is not enough: exp(tanh(x)) near |tanh| = 1
# cancels a +4-ULP tanh against a +4-ULP exp (d exp(t) / exp(t) = dt), which left a spread of 0 and flagged a
# correct 1-ULP difference; alternating by the index's parity is not enough either: cos(softplus(x)) with both at
# even nodes cancelled in every pattern where cos' slope is -0.76 (both found by benchmarks/fuzz.py). For any two
# nodes, some bit pattern gives them opposite signs and "+" the same sign, so one of the two adds up.
INDEX_BITS = 6                    # programs of up to 64 nodes get a distinct sign word per node
PATTERNS = ("+", "-", *(f"bit{j}" for j in range(INDEX_BITS)), 1, 2)
# Results that depend on the precision itself (the gap to the next float): the shadow computes them in
# the operands' own dtypes.
PRECISION_OPS = {"spacing", "nextafter"}
# Periodic ops whose result says nothing once the operand's allowed error spans a good part of a period:
# tan(expm1(383.7)) is tan(4.3e166), and expm1's 1-ULP latitude there moves the operand by 1e150 radians.
# A perturbed run marks such elements unchecked where its operand strayed from the unperturbed one by
# more than PERIODIC_SLACK radians; exact huge operands (inputs) still get checked (found by benchmarks/fuzz.py,
# seed 1: 11 perturbed samples of a chaotic tan gave a spread of 0.1 around 0.60, the compiled 6.98 was "wrong").
PERIODIC_OPS = {"sin", "cos", "tan"}
PERIODIC_SLACK = 0.01
# Remainders are periodic in their dividend with period |divisor|: fmod(pow(x, e), 1470568269) divided a
# value of 4e43, whose ULP (2^93) is 7e18 divisors, so NumPy's pow and libm's 1 ULP apart give unrelated
# remainders (benchmarks/fuzz.py seed 2). Unchecked where the perturbed quotient x / y strays from the
# unperturbed one by more than PERIODIC_SLACK periods.
MODULAR_OPS = {"fmod", "mod"}
# Ops that order -0.0 and +0.0 as equals, in an order that differs between dtypes (NumPy's float32 sort is
# not its float64 sort): perturbed runs flip their zeros' signs where both signs occur, so those zeros (and
# what follows from them, 1 / x) are unchecked against the float64 shadow (benchmarks/fuzz.py seed 1).
UNORDERED_ZERO_OPS = {"sort"}
# Ops that move elements along an axis by their values: the backends place an element left unchecked above
# (their equally right value) anywhere in the line, so the whole line is unchecked: sort(sin(expm1(x))) with
# expm1(88.5) ~ 2.7e38 (benchmarks/fuzz.py seed 4); fuzz_unchecked's row rule does that. So is a line where a
# perturbed run made a NaN of a non-NaN: it sorts to the end and shifts the others.
REORDERING_OPS = {"sort", "argsort"}


# Sums and means reassociate (docs/numerics.md, "Reductions may reassociate"): each path is within
# sum_bound(n) * sum|x_i| of the exact sum, so the backends (and either against the float64 shadow, itself
# NumPy's pairwise float64 order) may differ by twice that. Perturbing the operands by ULPs cannot show it
# where terms cancel (int64 terms near +-2**63 meaning 10.2 came back -0.3 compiled and -1.1 from NumPy,
# benchmarks/fuzz.py seed 20), and ints are not perturbed at all, so the perturbed runs add
# +-2 * sum_bound(n) * sum|x_i| (divided by n for a mean) to the result. Where sum|finite x_i| exceeds the
# accumulator's range, some order of the additions may overflow and another not (rows of +-1.8e308 gave 0,
# inf or nan by order, seed 2020): the perturbed runs leave those elements unchecked.
REASSOCIATED_SUMS = {"reduce_sum", "reduce_mean"}


def sum_bound(n, accumulator):
    """docs/numerics.md's bound on a reassociated sum of n terms, relative to sum|x_i|: (log2(n) + 2) * 2^-24
    for NumPy's pairwise float32 sum, (n + 1) * 2^-53 for float64 accumulation (n * 2^-53, plus one term for the
    rounding of int64 terms to float64 and for a mean's division)."""
    if accumulator == np.float32:
        return (math.log2(max(n, 1)) + 2) * 2.0 ** -24
    return (n + 1) * 2.0 ** -53


def _reassociated(y, true_dtype, node, args, operand_dtype, pattern, k):
    """(``y`` moved by the reassociation bound of a sum or mean (above), the elements where a partial sum may
    overflow: unchecked)."""
    if true_dtype.np.kind != "f" or y.size == 0:
        return y, np.zeros(y.shape, bool)
    x = args[0].numpy()
    n = x.size // y.size
    accumulator = np.float32 if operand_dtype == np.float32 else np.float64
    with np.errstate(all="ignore"):
        finite_abs = np.where(np.isfinite(x), np.abs(x.astype(np.float64)), 0.0)
        total_abs = np.asarray(SPECS["reduce_sum"].apply([gj.convert_to_tensor(finite_abs)], node.params,
                                                         True).numpy())
        slack = 2 * sum_bound(n, accumulator) * total_abs / (n if SPECS[node.spec].op == "reduce_mean" else 1)
        overflow = np.broadcast_to(~(total_abs <= np.finfo(accumulator).max), y.shape)
        return y + _signs(pattern, y.shape, k) * slack, overflow


# Softmax rows: p_i = exp(x_i - max) / sum_j exp(x_j - max). A perturbation of the logits (their Tol is on "in")
# moves nearly equal logits (1e-7, 0) by nothing, so p came back bit-exact in every run and a correct 1-ULP
# difference was flagged: float32 [0.50000006, 0, 0.5] compiled (mathlib's float32 exp, a float64 sum) against
# NumPy's float32 [0.5, 0, 0.49999997] (seed 21), float64 rows 1 ULP apart by the order of their sum (seed 17). The perturbed runs also
# move p by the bound its own arithmetic implies (softmax_row_ulps).
SOFTMAX_ROW_OPS = {"softmax"}
# Rows that end in a log (log(sum exp)): perturbing the logits moves nothing where they are all zeros or
# denormals, yet the result still carries its log's rounding, and two correct logs may round 1 ULP apart:
# log_softmax of [0, 5e-324, ...] is -log(5), -1.6094379124341005 compiled (mathlib's log_f64) against NumPy's
# -1.6094379124341003 (benchmarks/fuzz.py seed 2212, and xent of copysign(bools)): the result moves by
# LOG_ROW_ULPS besides its operands.
LOG_ROW_OPS = {"log_softmax", "reduce_logsumexp", "sparse_softmax_cross_entropy_with_logits"}
LOG_ROW_ULPS = 2


def softmax_row_ulps(n, dtype):
    """ULPs of p (its dtype's eps) between two correct paths for a row of n: each exp's math-library bound, the
    sum of positive terms (relative error sum_bound(n), twice for two orders), one rounding of the division each."""
    if dtype == np.float32:   # NumPy in float32 against the compiled row, which sums in float64
        return tolerance("exp").cmp + sum_bound(n, np.float32) / EPS[np.dtype(np.float32)] + 1
    return 2 + 2 * sum_bound(n, np.float64) / EPS[np.dtype(np.float64)] + 1   # libm exp against NumPy's: 2 ULP


@dataclass
class Failure:
    kind: str           # "mismatch", "crash" (a raw non-graphjit exception) or "error" (errors disagree)
    program: Program
    message: str


def run_program(prog, inputs, shadow=False):
    """Every node's value: ``inputs`` (one tensor per Input node, in order; symbolic while tracing) and each
    Step's ``Spec.apply`` (on float64 shadow values when ``shadow``)."""
    values, inputs = [], iter(inputs)
    for node in prog.nodes:
        if isinstance(node, Input):
            values.append(next(inputs))
        else:
            values.append(SPECS[node.spec].apply([values[a] for a in node.args], node.params, shadow))
    return values


def build_function(progs):
    def fuzzed(*flat):
        outs, pos = [], 0
        for prog in progs:
            n = len(prog.inputs)
            values = run_program(prog, flat[pos:pos + n])
            pos += n
            outs.extend(values[o] for o in prog.outputs)
        return outs
    return fuzzed


def run_backends(progs, compiled=None):
    """(compiled results, interpreted results), each a list of arrays or the exception raised, for one traced
    function of all ``progs``; ``compiled`` names the backend under test (default COMPILED_BACKEND)."""
    return run_function(build_function(progs), [x for p in progs for x in p.inputs], compiled)


def run_function(python_function, flat, compiled=None):
    """``run_backends`` for any function of the arrays ``flat`` returning a list of tensors."""
    compiled = compiled or COMPILED_BACKEND
    function = gj.function(python_function)
    saved = gj.config.backend, gj.config.compile_in_background
    results = {}
    try:
        gj.config.compile_in_background = False
        for backend in (compiled, "interpreter"):
            gj.config.backend = backend
            try:
                results[backend] = [np.asarray(o.numpy()) for o in function(*flat)]
            except Exception as err:  # noqa: BLE001 - compared below
                results[backend] = err
    finally:
        gj.config.backend, gj.config.compile_in_background = saved
    return results[compiled], results["interpreter"]


# ---- the float64 shadow -----------------------------------------------------------------------------------
def _clamp32(y):
    with np.errstate(over="ignore"):
        r = y.astype(np.float32)
    normal = np.isfinite(r) & (np.abs(r) >= np.float32(2.0 ** -126))
    return np.where(normal | np.isnan(y), y, r.astype(np.float64))


# An op perturbed on its operands and on its result (softmax rows, "operands" ops against float64) takes its
# operands' signs apart from its result's: the complement of the index bits, another random draw. With the same
# signs in every pattern the two cancelled: softmax over [-0.0, -0.14] (float64, axis 0) moved p1 by nothing in
# every run, as the logit's +84 ULPs lowered p1 by what p1's own +6.5 ULPs raised it, and a correct 1-ULP
# compiled row was flagged (test_differential_fuzz, hypothesis).
def _signs(pattern, shape, node, operands=False):
    if pattern in ("+", "-"):
        return 1.0 if pattern == "+" else -1.0
    if isinstance(pattern, str) and pattern.startswith("bit"):
        return 1.0 if (node >> int(pattern[3:]) & 1) != operands else -1.0
    return np.random.default_rng((pattern, node, 1) if operands else (pattern, node)).choice([-1.0, 1.0], shape)


def op_perturbation(op_name, kind, operand_sizes):
    """(ULPs on each float operand, ULPs on the result) of one op in a perturbed run of ``kind`` ("cmp", "ref"
    or None: unperturbed), from its ``Tol``: operands for ``on`` "in" (with the log2(n) growth of a pairwise
    sum over ``operand_sizes``) and "operands", else the result."""
    tol = tolerance(op_name)
    ulps = getattr(tol, kind) if kind else 0
    if ulps and tol.on in ("in", "operands"):
        grow = 1 + math.log2(max(2, max(operand_sizes, default=2))) if tol.on == "in" else 1
        return ulps * grow, (0.5 if kind == "ref" else 0) + (LOG_ROW_ULPS if op_name in LOG_ROW_OPS else 0)
    return 0, ulps


# Ops whose operands are factors: their own error is relative to the result, so their operands move by ULPs
# relative only, never by the denormal gap: a zero factor stays exact. Moved to 5e-324 it made 0 * 1e300 a product
# of 5e-24 in the perturbed runs (a spread that let any small result through) and 0 * inf an inf, not NaN.
FACTOR_OPERAND_OPS = {"reduce_prod", "cumprod"}


def perturb(y, true_dtype, ulps, pattern, node, operands=False, relative_only=False):
    if not ulps or true_dtype.np.kind != "f" or y.size == 0:
        return y
    with np.errstate(all="ignore"):
        signs = _signs(pattern, y.shape, node, operands)
        gap = 0.0 if relative_only else signs * (ulps * TINY[true_dtype.np])
        return y * (1 + signs * (ulps * EPS[true_dtype.np])) + gap


def _lost_phase(y, args, base_args):
    """Where a periodic op's operand strayed from its unperturbed value by PERIODIC_SLACK (unchecked)."""
    lost = np.zeros(y.shape, bool)
    for a, b in zip(args, base_args):
        if a.dtype.kind == "f":
            with np.errstate(all="ignore"):
                lost |= np.broadcast_to(np.abs(a - b) > PERIODIC_SLACK, y.shape)
    return lost


def _lost_period(y, args, base_args):
    """Where a remainder's quotient strayed from its unperturbed value by PERIODIC_SLACK (unchecked)."""
    if y.dtype.kind != "f" or len(args) != 2:   # a divisor given as a parameter is exact; checked as is
        return np.zeros(y.shape, bool)
    with np.errstate(all="ignore"):
        quotient, base_quotient = (np.asarray(x, np.float64) / np.asarray(d, np.float64) for x, d in
                                   (args, base_args))
        lost = np.abs(quotient - base_quotient) > PERIODIC_SLACK
    return np.broadcast_to(lost, y.shape)


def _lost_lines(y, arg, base_arg, axis):
    """Every line of ``axis`` where a perturbed run made a NaN of a non-NaN ``arg`` element (unchecked)."""
    if arg.dtype.kind != "f" or arg.size == 0:
        return np.zeros(y.shape, bool)
    lost = (np.isnan(arg) & ~np.isnan(base_arg)).any(axis=axis, keepdims=True)
    return np.broadcast_to(lost, y.shape)


@dataclass
class ShadowRun:
    """One shadow run's outputs: ``values`` (float64 for float32), ``unchecked`` (bool masks, same shapes) and
    ``classes`` (int class bits where a product's order left an element unchecked, fuzz_products; else 0)."""
    values: list
    unchecked: list
    classes: list


def shadow(prog, kind=None, pattern=None, round32=False, base=None):
    """The program's outputs in float64 (see the module docstring) as a ShadowRun; ``kind`` "cmp"/"ref" perturbs.
    ``base``: every node's value in the unperturbed run (``shadow_nodes``), for PERIODIC_OPS."""
    values, unchecked, classes = shadow_nodes(prog, kind, pattern, round32, base)
    return ShadowRun(*([per_node[o] for o in prog.outputs] for per_node in (values, unchecked, classes)))


def shadow_nodes(prog, kind=None, pattern=None, round32=False, base=None):
    """Every node's value (NumPy arrays) of one shadow run, every node's unchecked mask (all False without
    ``base``: only a perturbed run compared with the unperturbed one can lose elements), and every node's class
    bits (fuzz_products): where a product's order alone left an element unchecked, the classes some order gives
    (0 elsewhere)."""
    values, unchecked, class_sets = [], [], []
    for k, (node, t) in enumerate(zip(prog.nodes, prog.types)):
        if isinstance(node, Input):
            array = node.array.astype(np.float64) if node.array.dtype == np.float32 else node.array
            values.append(gj.convert_to_tensor(array))
            unchecked.append(np.zeros(array.shape, bool))
            class_sets.append(np.zeros(array.shape, np.int64))
            continue
        tol = tolerance(SPECS[node.spec].op)
        args = [values[a] for a in node.args]
        if SPECS[node.spec].op in PRECISION_OPS or (round32 and tol.on in ("in", "operands")):
            # round32 sums float32 data in float32 as NumPy does (an intermediate may overflow to inf)
            args = [gj.convert_to_tensor(a.numpy().astype(prog.types[i].dtype.np)) for a, i in zip(args, node.args)]
        operand_ulps, ulps = op_perturbation(SPECS[node.spec].op, kind, [a.numpy().size for a in args])
        upstream_args = args      # this run's operands, before the op's own error moves them
        if operand_ulps:
            relative_only = SPECS[node.spec].op in FACTOR_OPERAND_OPS
            args = [gj.convert_to_tensor(perturb(a.numpy(), prog.types[i].dtype, operand_ulps, pattern, k, True,
                                                 relative_only)) for a, i in zip(args, node.args)]
        with np.errstate(all="ignore"):
            y = np.asarray(SPECS[node.spec].apply(args, node.params, True).numpy())
        lost = fuzz_unchecked.propagate(node.spec, node.params, [a.numpy() for a in args],
                                        [unchecked[i] for i in node.args], y.shape)
        if base is not None and SPECS[node.spec].op in PERIODIC_OPS:
            lost = lost | _lost_phase(y, [a.numpy() for a in args], [base[i] for i in node.args])
        if base is not None and SPECS[node.spec].op in MODULAR_OPS:
            lost = lost | _lost_period(y, [a.numpy() for a in args], [base[i] for i in node.args])
        if base is not None and SPECS[node.spec].op in REORDERING_OPS:
            lost = lost | _lost_lines(y, args[0].numpy(), base[node.args[0]], node.params["axis"])
        if base is not None and SPECS[node.spec].op in UNORDERED_ZERO_OPS and y.dtype.kind == "f":
            zeros = y[y == 0]
            if np.signbit(zeros).any() and not np.signbit(zeros).all():
                y = np.where(y == 0, -y, y)
        if t.dtype is gj.float32:
            y = _clamp32(y.astype(np.float64))
            if round32:
                y = y.astype(np.float32).astype(np.float64)
        if kind and SPECS[node.spec].op in SOFTMAX_ROW_OPS:
            ulps += softmax_row_ulps(y.shape[node.params["axis"]] if y.ndim else 1, t.dtype.np)
        y = perturb(y, t.dtype, ulps, pattern, k)
        if kind and SPECS[node.spec].op in REASSOCIATED_SUMS:
            y, overflow = _reassociated(y, t.dtype, node, args, prog.types[node.args[0]].dtype.np, pattern, k)
            lost = lost | overflow
        classes = np.zeros(y.shape, np.int64)
        if kind and SPECS[node.spec].op in fuzz_products.REASSOCIATED_PRODUCTS:
            reordered, some_order_gives = fuzz_products.order_dependent(
                y.shape, node, upstream_args[0].numpy(), prog.types[node.args[0]].dtype.np)
            classes = np.where(lost, 0, some_order_gives)
            lost = lost | reordered
        values.append(gj.convert_to_tensor(y))
        unchecked.append(np.asarray(lost, bool))
        class_sets.append(classes)
    return [v.numpy() for v in values], unchecked, class_sets


# ---- comparing ---------------------------------------------------------------------------------------------
def _classes(v):
    return np.where(np.isnan(v), 1, np.where(v == np.inf, 2, np.where(v == -np.inf, 3, 0)))


def compare(got, want, reference, runs, what, unchecked=None, classes=None):
    """Where ``runs`` (perturbed references) agree with ``reference``, ``got`` must match ``want``; nowhere
    ``unchecked`` (a bool mask: elements some run lost) is set, except that there both must be of a class in
    ``classes``' bits where those are not 0 (``allowed_classes``)."""
    checked = np.ones(reference.shape, bool) if unchecked is None else ~np.asarray(unchecked, bool)
    if got.dtype.kind != "f":
        stable = checked.copy()
        for run in runs:
            stable &= run == reference
        bad = stable & (got != want)
        tol = None
    else:
        ref_class = _classes(reference)
        stable = checked.copy()
        spread = np.zeros(reference.shape)
        with np.errstate(all="ignore"):
            for run in runs:
                stable &= (_classes(run) == ref_class) & ~((run == 0) & (np.signbit(run) != np.signbit(reference)))
                spread = np.maximum(spread, np.where(ref_class == 0, np.abs(run - reference), 0))
            g, w = got.astype(np.float64), want.astype(np.float64)
            bad = stable & (_classes(g) != _classes(w))
            tol = SPREAD_FACTOR * spread
            finite = stable & (ref_class == 0) & (_classes(g) == 0) & (_classes(w) == 0)
            bad |= finite & (np.abs(g - w) > tol)
            exact = finite & (spread == 0) & (w == 0)
            bad |= exact & (np.signbit(g) != np.signbit(w))
            if classes is not None:
                outside = (fuzz_products.class_bits(_classes(g)) | fuzz_products.class_bits(_classes(w))) & ~classes
                bad |= ~checked & (classes != 0) & (outside != 0)
    if not bad.any():
        return None
    idx = tuple(int(i) for i in np.argwhere(bad)[0]) if bad.ndim else ()
    detail = f" (tolerance {tol[idx]!r})" if tol is not None else ""
    return (f"{what}: {int(bad.sum())} of {bad.size} elements differ; first at {list(idx)}: "
            f"got {got[idx]!r}, want {want[idx]!r}, float64 reference {reference[idx]!r}{detail}")


def unchecked_in(runs, j):
    """Output ``j``'s elements that any of ``runs`` lost."""
    return np.logical_or.reduce([run.unchecked[j] for run in runs])


def allowed_classes(runs, j, reference):
    """Output ``j``'s class bits where ``runs`` left an element unchecked by a product's order alone: the classes
    some order gives there in a run that lost it, each other run's own class, the reference's; 0 (anything goes)
    where a run lost it otherwise."""
    if reference.dtype.kind != "f":
        return np.zeros(reference.shape, np.int64)
    allowed = fuzz_products.class_bits(_classes(reference))
    anything = np.zeros(reference.shape, bool)
    for run in runs:
        lost, classes = run.unchecked[j], run.classes[j]
        allowed = allowed | np.where(lost, classes, fuzz_products.class_bits(_classes(run.values[j])))
        anything |= lost & (classes == 0)
    return np.where(anything, 0, allowed)


def shadow_runs(prog):
    """(the float64 reference outputs, the ShadowRuns perturbed by ``cmp`` bounds, those perturbed by ``ref``)."""
    base, _, _ = shadow_nodes(prog)
    reference = [base[o] for o in prog.outputs]
    cmp_runs = [shadow(prog, "cmp", p, base=base) for p in PATTERNS] + [shadow(prog, round32=True, base=base)]
    ref_runs = [shadow(prog, "ref", p, base=base) for p in PATTERNS] + [shadow(prog, round32=True, base=base)]
    return reference, cmp_runs, ref_runs


def check_outputs(prog, compiled, interpreted):
    """Problems (strings) of one program's outputs."""
    problems = []
    try:
        reference, cmp_runs, ref_runs = shadow_runs(prog)
    except GraphjitError as err:
        return [f"the float64 reference failed: {type(err).__name__}: {err}"]
    for j, o in enumerate(prog.outputs):
        t, c, i = prog.types[o], compiled[j], interpreted[j]
        name = f"output v{o}"
        if c.shape != i.shape or c.dtype != i.dtype or i.shape != t.shape or i.dtype != t.dtype.np:
            problems.append(f"{name}: compiled {c.dtype}{list(c.shape)}, interpreter {i.dtype}{list(i.shape)}, "
                            f"traced type {t}")
            continue
        r = reference[j]
        cmp_values, cmp_lost = [run.values[j] for run in cmp_runs], unchecked_in(cmp_runs, j)
        ref_values, ref_lost = [run.values[j] for run in ref_runs], unchecked_in(ref_runs, j)
        cmp_classes, ref_classes = allowed_classes(cmp_runs, j, r), allowed_classes(ref_runs, j, r)
        for message in (compare(c, i, r, cmp_values, f"{name} compiled vs interpreter", cmp_lost, cmp_classes),
                        compare(c, r, r, ref_values, f"{name} compiled vs float64", ref_lost, ref_classes),
                        compare(i, r, r, ref_values, f"{name} interpreter vs float64", ref_lost, ref_classes)):
            if message:
                problems.append(message)
    return problems


def _error_problem(compiled, interpreted, expected=None):
    """A problem when the backends' errors disagree (or one raised a raw, non-graphjit exception)."""
    for name, result in (("compiled", compiled), ("interpreter", interpreted)):
        if isinstance(result, Exception) and not isinstance(result, GraphjitError):
            return "crash", f"{name} raised {type(result).__name__}: {result}"
    kinds = [type(r) if isinstance(r, Exception) else None for r in (compiled, interpreted)]
    if kinds[0] is not kinds[1] or (expected is not None and kinds[1] is not expected):
        described = [f"{k.__name__}: {r}" if k else "no error" for k, r in zip(kinds, (compiled, interpreted))]
        return "error", (f"compiled: {described[0]}; interpreter: {described[1]}"
                         + (f"; eager raised {expected.__name__}" if expected else ""))
    return None


def check_batch(progs, backend=None):
    """Failures of programs traced and compiled together (a batch that raises is rerun in halves);
    ``backend``: the one compared with the interpreter (default COMPILED_BACKEND)."""
    compiled, interpreted = run_backends(progs, backend)
    if isinstance(compiled, Exception) or isinstance(interpreted, Exception):
        if len(progs) > 1:
            half = len(progs) // 2
            return check_batch(progs[:half], backend) + check_batch(progs[half:], backend)
        expected = progs[0].error
        found = _error_problem(compiled, interpreted, expected)
        if found is None and expected is None and isinstance(interpreted, Exception):
            found = ("error", f"eager ran, but the traced function raised {type(interpreted).__name__}: "
                              f"{interpreted}")
        return [Failure(found[0], progs[0], found[1])] if found else []
    if any(p.error for p in progs):
        return [Failure("error", progs[0], f"no error raised; eager raised {progs[0].error.__name__}")]
    failures, pos = [], 0
    for prog in progs:
        n = len(prog.outputs)
        for message in check_outputs(prog, compiled[pos:pos + n], interpreted[pos:pos + n]):
            failures.append(Failure("mismatch", prog, message))
        pos += n
    return failures


# ---- shrinking (for reports) -------------------------------------------------------------------------------
def retyped(nodes, outputs):
    """A program of ``nodes`` (types recomputed eagerly), or None when graphjit rejects it now."""
    prog = Program(nodes=list(nodes), outputs=list(outputs))
    for node in prog.nodes:
        try:
            if isinstance(node, Input):
                value = gj.convert_to_tensor(node.array)
            else:
                value = SPECS[node.spec].apply([prog.eager[a] for a in node.args], node.params, False)
        except GraphjitError:
            return None
        prog.eager.append(value)
        prog.types.append(TensorType(value.numpy().shape, value.dtype))
    return prog


def _cone(nodes, outputs):
    keep, todo = set(), list(outputs)
    while todo:
        i = todo.pop()
        if i not in keep:
            keep.add(i)
            if isinstance(nodes[i], Step):
                todo.extend(nodes[i].args)
    order = sorted(keep)
    new_id = {old: k for k, old in enumerate(order)}
    renumbered = [n if isinstance(n, Input) else Step(n.spec, tuple(new_id[a] for a in n.args), n.params)
                  for n in (nodes[i] for i in order)]
    return renumbered, [new_id[o] for o in outputs]


def shrink(prog, fails, budget=30):
    """A smaller program for which ``fails(program)`` still holds: the failing output's cone, then steps
    bypassed (their users take the step's first operand) one at a time, each kept only if it still fails."""
    for o in prog.outputs:
        nodes, outputs = _cone(prog.nodes, [o])
        candidate = retyped(nodes, outputs)
        if candidate is not None and fails(candidate):
            prog = candidate
            break
    k = len(prog.nodes) - 1
    while k >= 0 and budget > 0:
        node = prog.nodes[k]
        if isinstance(node, Step) and node.args:
            into = node.args[0]
            nodes = [n if isinstance(n, Input) else Step(n.spec, tuple(into if a == k else a for a in n.args),
                                                        n.params) for n in prog.nodes]
            nodes, outputs = _cone(nodes, [into if o == k else o for o in prog.outputs])
            candidate = retyped(nodes, outputs) if len(nodes) < len(prog.nodes) else None
            if candidate is not None:
                budget -= 1
                if fails(candidate):
                    prog = candidate
                    k = min(k, len(prog.nodes)) - 1
                    continue
        k -= 1
    return prog
