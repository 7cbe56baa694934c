"""The differential fuzzer's backward graphs (benchmarks/fuzz.py --grad, tests/test_grad_fuzz.py).

Each fuzzed program (tests/fuzz_graphs.py, inputs from ``smooth_values``) becomes
``loss = sum over float outputs of reduce_sum(where(finite, output, 0) * weights)`` (random weights in [0.5, 1.5];
outputs that are not finite eagerly are masked so their NaN stays out of every gradient), and its gradient with
respect to every float input is taken by a ``gj.GradientTape`` inside one ``@gj.function`` per batch of programs.
Two checks:

1. compiled (the CPU backend) against the reference interpreter, and the interpreter against the same tape run
   eagerly, with fuzz_check's condition-aware comparison: the eager tape is rerun with every op (forward and
   backward) perturbed by its ``cmp`` bound in each of fuzz_check.PATTERNS, in the program's own dtypes (an op
   bounded on its operands also has its result rounded one ULP away), and results must agree bit for bit where
   no run moves and within SPREAD_FACTOR times the runs' spread elsewhere;
2. the tape's gradient of the program's float64 twin (fuzz_check's shadow: float32 values carried in float64)
   against central finite differences of the twin along FD_DIRECTIONS random directions, with the steps h and
   h / 2 (FD_STEP): |<g, v> - D(h/2)| <= 10 |D(h) - D(h/2)| (the difference estimates D(h/2)'s O(h^2) error)
   + 1e-6 sum|g v| (the tape's own rounding) + 1e-13 sum|weighted outputs| / h (the loss's float64 rounding,
   amplified by 1/h); where D(h) and D(h/2) differ by more than 1% (plus that rounding) the differences have not
   converged (a pole or branch point within h) and are skipped too.
   What the tape treats as constant is held at its unperturbed value in the differenced runs (NOT_DIFFERENTIABLE
   ops such as floor, comparisons, stop_gradient, and results that are not floating), as a gradient defines it;
   a point where a kinked op (KINK_OPS: relu at 0, abs at 0, max/min ties) changes branch between the runs,
   which the op's local gradient shows, is skipped for finite differences only ("fd skipped: kink at <op>").
Programs whose gradient needs an op with no rule yet (``op.grad is None``) are skipped as "no rule: <op>".
"""
import contextlib
import itertools
import re
from collections import Counter

import numpy as np

import graphjit as gj
from graphjit.errors import GraphjitError, UnimplementedError
from graphjit.tracer import context
from graphjit.tracer.registry import NOT_DIFFERENTIABLE, OPS
from graphjit.tracer.tensor import Tensor

import fuzz_check
from fuzz_check import Failure, compare, op_perturbation, perturb, run_function, run_program
from fuzz_graphs import SPECS, Input, Step, draw_program, smooth_values

# Ops whose local gradient is piecewise constant and jumps at a kink or a tie (where the rule picks a side that
# finite differences average over) or where the op itself jumps (a remainder's d/dy is -floor(x / y)).
KINK_OPS = {name for name in ("relu", "abs", "fabs", "maximum", "minimum", "fmax", "fmin", "reduce_max",
                              "reduce_min", "clip", "sort", "copysign", "mod", "fmod") if name in OPS}
FD_STEP = 1e-6                 # relative to the largest float input (at least 1)
FD_DIRECTIONS = 2
_NO_RULE = re.compile(r"no gradient rule for op '([^']+)'")   # tracer.autodiff's UnimplementedError


def draw_grad_program(ch, max_ops, tries=20):
    """A fuzzed program (smooth inputs) in which some float input reaches a float output through differentiable
    ops (redrawn up to ``tries`` times: a third of random programs compute their floats from integers only)."""
    for _ in range(tries):
        prog = draw_program(ch, max_ops, values=smooth_values)
        if differentiated_ops(prog):
            break
    return prog


def differentiated_ops(prog):
    """The ops of the steps on a path from a float input to a float output that the tape differentiates
    (floating results, ops not NOT_DIFFERENTIABLE): the ones whose gradient rules a check exercises."""
    reached = []
    for node, t in zip(prog.nodes, prog.types):
        floating = t is not None and t.dtype.is_floating
        if isinstance(node, Input):
            reached.append(floating)
        else:
            reached.append(floating and OPS[SPECS[node.spec].op].grad is not NOT_DIFFERENTIABLE
                           and any(reached[a] for a in node.args))
    on_path, todo = set(), [o for o in prog.outputs if reached[o]]
    while todo:
        i = todo.pop()
        if i not in on_path:
            on_path.add(i)
            if isinstance(prog.nodes[i], Step):
                todo.extend(a for a in prog.nodes[i].args if reached[a])
    return [SPECS[prog.nodes[i].spec].op for i in sorted(on_path) if isinstance(prog.nodes[i], Step)]


# ---- the differentiated function ----------------------------------------------------------------------------
def float_inputs(prog):
    """(position among the program's inputs, node id) of each float input: the gradient's sources."""
    ids = [i for i, n in enumerate(prog.nodes) if isinstance(n, Input)]
    return [(k, i) for k, i in enumerate(ids) if prog.types[i].dtype.is_floating]


def loss_plan(prog):
    """(output id, weights, finite mask) of each float output, from the program's eager values."""
    rng = np.random.default_rng(len(prog.nodes))
    plan = []
    for o in prog.outputs:
        t = prog.types[o]
        if t is not None and t.dtype.is_floating:
            plan.append((o, rng.uniform(0.5, 1.5, t.shape).astype(t.dtype.np), np.isfinite(prog.eager[o].numpy())))
    return plan


def _twin(array, shadow):
    return array.astype(np.float64) if shadow and array.dtype == np.float32 else array


def loss_terms(prog, values, shadow=False):
    return [gj.reduce_sum(gj.where(mask, values[o], 0) * _twin(w, shadow)) for o, w, mask in loss_plan(prog)]


def program_gradients(prog, inputs, shadow=False):
    """d loss / d each float input (zeros where unconnected) by a tape around the program run on ``inputs``
    (one tensor per Input node: symbolic inside @gj.function, eager otherwise; the float64 twin if ``shadow``)."""
    with gj.GradientTape() as tape:
        sources = [inputs[k] for k, _ in float_inputs(prog)]
        tape.watch(sources)
        targets = loss_terms(prog, run_program(prog, inputs, shadow), shadow)
    return tape.gradient(targets, sources, unconnected_gradients="zero")


def gradient_function(progs):
    def gradients(*flat):
        grads, pos = [], 0
        for prog in progs:
            n = len(prog.inputs)
            grads.extend(program_gradients(prog, list(flat[pos:pos + n])))
            pos += n
        return grads
    return gradients


# ---- eager runs with every op hooked --------------------------------------------------------------------------
class _Hooked:
    """A context that hands each op to the one below it through ``hook(op, inputs, attrs, run)``; ``run(inputs)``
    runs it there. Pushed around an eager tape, it sees the forward and the backward ops."""
    traces = False

    def __init__(self, hook):
        self.hook = hook

    def execute(self, op, inputs, attrs):
        below = context.context_below(self, inputs)
        return self.hook(op, inputs, attrs, lambda args: below.execute(op, args, attrs))

    def __getattr__(self, name):
        return getattr(context.context_below(self, ()), name)


def eager_gradients(prog, hook=None, shadow=False):
    arrays = [_twin(x, shadow) for x in prog.inputs]
    with context.pushed(_Hooked(hook)) if hook else contextlib.nullcontext():
        grads = program_gradients(prog, [gj.convert_to_tensor(a) for a in arrays], shadow)
    return [np.asarray(g.numpy()) for g in grads]


def _perturbed(t, ulps, pattern, k):
    if not ulps or not isinstance(t, Tensor) or not t.dtype.is_floating:
        return t
    y = t.numpy()
    return gj.convert_to_tensor(perturb(y.astype(np.float64), t.dtype, ulps, pattern, k).astype(y.dtype))


def perturbing(pattern):
    """A hook moving every op's floats by its ``cmp`` bound (fuzz_check.op_perturbation), in their own dtype."""
    calls = itertools.count()

    def hook(op, inputs, attrs, run):
        k = next(calls)
        sizes = [t.numpy().size for t in inputs if isinstance(t, Tensor)]
        operand_ulps, result_ulps = op_perturbation(op.name, "cmp", sizes)
        if operand_ulps:
            # the result's own rounding too (fuzz_check's float64 shadow has its round32 run for it): reassociated,
            # a row's softmax near 1 may round one ULP apart, and the xent rule's p - 1 then differs by 2e-3
            result_ulps = max(result_ulps, 1)
        out = run([_perturbed(t, operand_ulps, pattern, k) for t in inputs])
        return _perturbed(out, result_ulps, pattern, k)
    return hook


# ---- finite differences of the float64 twin ----------------------------------------------------------------
class _Recording:
    """A hook recording each op's result and each kinked op's call; with ``base`` (a recording of the
    unperturbed point), results the tape treats as constants are the base's."""

    def __init__(self, base=None):
        self.base, self.results, self.kinked = base, [], []

    def hook(self, op, inputs, attrs, run):
        out = run(inputs)
        if self.base is not None and (op.grad is NOT_DIFFERENTIABLE or not out.dtype.is_floating):
            out = gj.convert_to_tensor(self.base.results[len(self.results)])
        self.results.append(out.numpy())
        if op.name in KINK_OPS and callable(op.grad) and out.dtype.is_floating:
            self.kinked.append((op, inputs, attrs, out))
        return out

    def local_gradients(self):
        """Each kinked call's gradient rule on a fixed upstream of distinct values (ones would hide which element
        a sort or a max picked): piecewise constant, it names the branch. (A rule that raises, off the loss's
        path where the tape never called it, names no branch.)"""
        found = []
        for op, inputs, attrs, out in self.kinked:
            size = int(np.prod(out.shape))
            upstream = (1 + np.arange(size) / max(size, 1)).reshape(out.shape).astype(out.dtype.np)
            try:
                grads = op.grad(gj.convert_to_tensor(upstream), out, *inputs, **attrs)
            except GraphjitError:
                grads = ()
            found.append((op.name, [None if g is None else np.asarray(g.numpy()) for g in grads]))
        return found


def _twin_loss(prog, arrays, base=None):
    """(loss, sum of |weighted outputs|, recording) of the float64 twin at ``arrays``."""
    run = _Recording(base)
    with context.pushed(_Hooked(run.hook)):
        values = run_program(prog, [gj.convert_to_tensor(a) for a in arrays], shadow=True)
        terms = loss_terms(prog, values, shadow=True)
    magnitude = sum(float(np.sum(np.abs(np.where(mask, values[o].numpy(), 0) * w))) for o, w, mask in loss_plan(prog))
    return sum(float(t.numpy()) for t in terms), magnitude, run


def _kink(base_gradients, run):
    """The first kinked op whose branch differs from the base point's (``base_gradients``), or None."""
    for (name, want), (_, got) in zip(base_gradients, run.local_gradients()):
        if any((a is None) != (b is None) or (a is not None and not np.array_equal(a, b, equal_nan=True))
               for a, b in zip(want, got)):
            return name
    return None


def finite_differences(prog, stats):
    """A problem (str) when the twin's tape gradient disagrees with central differences, else None."""
    arrays = [_twin(x, True) for x in prog.inputs]
    floats = [k for k, _ in float_inputs(prog)]
    grads = dict(zip(floats, eager_gradients(prog, shadow=True)))
    _, magnitude, base = _twin_loss(prog, arrays)
    base_branches = base.local_gradients()
    if not any(np.isfinite(grads[k]).any() for k in floats):
        stats["fd skipped: gradient not finite"] += 1
        return None
    h = FD_STEP * max([1.0] + [float(np.max(np.abs(arrays[k]), initial=0)) for k in floats])
    rng = np.random.default_rng(0)
    for d in range(FD_DIRECTIONS):
        directions = {k: rng.standard_normal(arrays[k].shape) * np.isfinite(grads[k]) for k in floats}
        products = [np.where(np.isfinite(grads[k]), grads[k], 0) * directions[k] for k in floats]
        want, scale = sum(float(np.sum(p)) for p in products), sum(float(np.sum(np.abs(p))) for p in products)
        slopes = []
        for step in (h, h / 2):
            losses = []
            for sign in (1, -1):
                moved = [a + sign * step * directions[k] if k in directions else a for k, a in enumerate(arrays)]
                loss, _, run = _twin_loss(prog, moved, base)
                kink = _kink(base_branches, run)
                if kink:
                    stats[f"fd skipped: kink at {kink}"] += 1
                    return None
                losses.append(loss)
            slopes.append((losses[0] - losses[1]) / (2 * step))
        if not np.all(np.isfinite(slopes)):
            stats["fd skipped: loss not finite near the point"] += 1
            return None
        noise = 1e-13 * magnitude / h
        if abs(slopes[0] - slopes[1]) > 1e-2 * abs(slopes[1]) + noise:
            # not converging: a pole or a branch point within about h (tan(sinh(x ** x)) at tan' = 8e27): the
            # differences cannot tell a right gradient from a wrong one there
            stats["fd skipped: no convergence (a singularity within h)"] += 1
            return None
        tolerance = 10 * abs(slopes[0] - slopes[1]) + 1e-6 * scale + noise
        if not abs(want - slopes[1]) <= tolerance:
            return (f"finite differences (float64 twin, direction {d}): the tape's directional derivative {want!r}, "
                    f"central differences {slopes[1]!r} (h={h / 2:g}) and {slopes[0]!r} (h={h:g}); "
                    f"tolerance {tolerance:.3g}")
    stats["fd checked"] += 1
    return None


# ---- checking ----------------------------------------------------------------------------------------------
def _compare_gradients(prog, compiled, interpreted, eager):
    runs = [eager_gradients(prog, perturbing(p)) for p in fuzz_check.PATTERNS]
    problems = []
    for j, (_, i) in enumerate(float_inputs(prog)):
        c, t, e = compiled[j], interpreted[j], eager[j]
        name = f"d loss / d v{i}"
        if c.shape != e.shape or t.shape != e.shape or c.dtype != e.dtype or t.dtype != e.dtype:
            problems.append(f"{name}: compiled {c.dtype}{list(c.shape)}, interpreter {t.dtype}{list(t.shape)}, "
                            f"eager {e.dtype}{list(e.shape)}")
            continue
        for message in (compare(c, t, e, [r[j] for r in runs], f"{name} compiled vs interpreter"),
                        compare(t, e, e, [r[j] for r in runs], f"{name} interpreter vs eager tape")):
            if message:
                problems.append(message)
    return problems


def _eager_or_skip(prog, stats):
    """(eager gradients, None), or (None, a Failure or None) when the program is skipped or fails eagerly."""
    if not differentiated_ops(prog):
        stats["skipped: nothing to differentiate"] += 1
        return None, None
    try:
        return eager_gradients(prog), None
    except UnimplementedError as err:
        found = _NO_RULE.search(str(err))
        if found:
            stats[f"skipped: no rule: {found.group(1)}"] += 1
            return None, None
        return None, Failure("error", prog, f"the eager gradient raised UnimplementedError: {err}")
    except GraphjitError as err:
        return None, Failure("error", prog, f"the eager gradient raised {type(err).__name__}: {err}")
    except Exception as err:  # noqa: BLE001 - a raw exception is a crash
        return None, Failure("crash", prog, f"the eager gradient raised {type(err).__name__}: {err}")


def check_grad_batch(progs, stats=None, backend=None):
    """Failures of programs' gradients traced and compiled together; ``stats`` (a Counter) counts checked and
    skipped programs by reason, and the differentiated ops of the checked ones ("op: <name>")."""
    stats = Counter() if stats is None else stats
    cases, failures = [], []
    for prog in progs:
        eager, failure = _eager_or_skip(prog, stats)
        failures += [failure] if failure else []
        if eager is not None:
            cases.append((prog, eager))
    return failures + _check_traced(cases, stats, backend)


def _check_traced(cases, stats, backend):
    if not cases:
        return []
    progs = [prog for prog, _ in cases]
    compiled, interpreted = run_function(gradient_function(progs), [x for p in progs for x in p.inputs], backend)
    if isinstance(compiled, Exception) or isinstance(interpreted, Exception):
        if len(cases) > 1:
            half = len(cases) // 2
            return _check_traced(cases[:half], stats, backend) + _check_traced(cases[half:], stats, backend)
        raised = [(name, r) for name, r in (("compiled", compiled), ("interpreter", interpreted))
                  if isinstance(r, Exception)]
        kind = "error" if all(isinstance(r, GraphjitError) for _, r in raised) else "crash"
        return [Failure(kind, progs[0], "; ".join(f"{name} raised {type(r).__name__}: {r}" for name, r in raised)
                        + " (the eager tape ran)")]
    failures, pos = [], 0
    for prog, eager in cases:
        n = len(eager)
        failures += [Failure("mismatch", prog, m)
                     for m in _compare_gradients(prog, compiled[pos:pos + n], interpreted[pos:pos + n], eager)]
        pos += n
        stats["checked"] += 1
        stats.update(f"op: {name}" for name in set(differentiated_ops(prog)))
        problem = finite_differences(prog, stats)
        if problem:
            failures.append(Failure("finite differences", prog, problem))
    return failures


def ops_with_rules(names):
    return {name for name in names if callable(OPS[name].grad)}


def describe_stats(stats):
    """Report lines: programs checked and skipped (by reason), finite-difference checks and skips."""
    def reasons(prefix):
        found = sorted(((n, k[len(prefix):]) for k, n in stats.items() if k.startswith(prefix)), reverse=True)
        return ", ".join(f"{why} ({n})" for n, why in found) or "none"
    return [f"gradients checked: {stats['checked']} programs; skipped: {reasons('skipped: ')}",
            f"finite differences checked: {stats['fd checked']} programs; skipped: {reasons('fd skipped: ')}"]
