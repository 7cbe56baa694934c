"""Backward graphs through the compiler: random programs of differentiable ops, their gradients taken by a tape
inside @gj.functions (forward and backward optimized, fused and compiled by the Numba CPU backend) against
the same tape run eagerly (NumPy, op by op), and against float64 central finite differences of the eager forward.

Inputs are moderate (|x| <= 2) and ops are kept in their smooth domains (log(1 + x*x), x / (1 + x*x)), so the
tolerances can be tight: compiled vs eager rtol 2e-4 in float32 (reassociated sums over <= 16 terms, exp/log
within 1 ULP, chained through <= 8 ops) and 1e-9 in float64, each relative to the gradient's largest element.
Kinks (relu, abs, maximum, reduce_max at ties) are only reached with probability zero on these inputs."""
import numpy as np
import pytest

import graphjit as gj

STEPS = {
    "add": (2, lambda a, b: a + b), "subtract": (2, lambda a, b: a - b), "multiply": (2, lambda a, b: a * b),
    "safe_divide": (2, lambda a, b: a / (1.0 + b * b)), "exp_tanh": (1, lambda a: gj.exp(gj.tanh(a))),
    "log1_plus_sq": (1, lambda a: gj.math.log(1.0 + a * a)), "sqrt1_plus_sq": (1, lambda a: gj.sqrt(1.0 + a * a)),
    "sin": (1, gj.sin), "cos": (1, gj.cos), "tanh": (1, gj.tanh), "sigmoid": (1, gj.sigmoid),
    "softplus": (1, gj.nn.softplus), "relu": (1, gj.nn.relu), "abs": (1, gj.abs), "square": (1, gj.square),
    "maximum": (2, gj.maximum), "minimum": (2, gj.minimum), "where": (2, lambda a, b: gj.where(a > b, a * b, b)),
    "rowsum": (1, lambda a: gj.reduce_sum(a, axis=-1, keepdims=True) * 0.25 + a),
    "colmean": (1, lambda a: a - gj.reduce_mean(a, axis=0)),
    "rowmax": (1, lambda a: gj.reduce_max(a, axis=-1, keepdims=True) - a),
    "softmax": (1, gj.nn.softmax), "log_softmax": (1, gj.nn.log_softmax),
    "logsumexp": (1, lambda a: gj.reduce_logsumexp(a, axis=-1, keepdims=True) + a * 0.5),
    "matmul_square": (1, lambda a: gj.matmul(a, gj.transpose(a)) * 0.1 if len(a.shape) == 2 else a),
    "gram": (1, lambda a: gj.matmul(gj.transpose(a), a) * 0.1 if len(a.shape) == 2 else a * 2.0),
}
NAMES = sorted(STEPS)


def _draw(rng, dtype):
    """A program: inputs x (4, 4) and y (4,) (broadcast against x), then 2-7 steps on earlier values."""
    steps = []
    for k in range(int(rng.integers(2, 8))):
        name = NAMES[int(rng.integers(len(NAMES)))]
        arity = STEPS[name][0]
        steps.append((name, [int(rng.integers(k + 2)) for _ in range(arity)]))
    inputs = [rng.uniform(-2, 2, (4, 4)).astype(dtype), rng.uniform(-2, 2, (4,)).astype(dtype)]
    weights = rng.uniform(0.5, 1.5, (4, 4)).astype(dtype)
    return steps, inputs, weights


def _forward(steps, x, y, weights):
    values = [x, y]
    for name, args in steps:
        values.append(STEPS[name][1](*[values[a] for a in args]))
    total = None
    for v in values[2:]:
        term = gj.reduce_sum(v * weights)
        total = term if total is None else total + term
    return total


def _gradients(programs, tensors):
    results = []
    for (steps, _, weights), (x, y) in zip(programs, tensors):
        with gj.GradientTape() as tape:
            tape.watch([x, y])
            loss = _forward(steps, x, y, weights)
        results.extend(tape.gradient(loss, [x, y], unconnected_gradients="zero"))
    return results


# Programs per traced function: Numba's compile time grows faster than a graph (16 programs in one graph cost more
# than four graphs of 4).
GROUP = 4


def _compiled_gradients(programs):
    """The programs' gradients from one @gj.function compiled by the CPU backend."""
    from graphjit.runtime import get_runtime
    flat_inputs = [a for _, inputs, _ in programs for a in inputs]

    @gj.function
    def all_gradients(*arrays):
        return _gradients(programs, list(zip(arrays[::2], arrays[1::2])))

    compiled = [np.asarray(g) for g in all_gradients(*flat_inputs)]
    executable = get_runtime().executables(all_gradients.get_concrete_function(*flat_inputs))["cpu"]
    assert executable.entry_count >= 1 and "stage" in executable.source   # it ran compiled code
    return compiled


@pytest.mark.parametrize("dtype, seed", [(np.float32, 1), (np.float64, 2)])
def test_compiled_backward_graphs_agree_with_eager_gradients_and_finite_differences(monkeypatch, dtype, seed):
    monkeypatch.setattr(gj.config, "backend", "cpu")
    monkeypatch.setattr(gj.config, "compile_in_background", False)
    rng = np.random.default_rng(seed)
    programs = [_draw(rng, dtype) for _ in range(16)]
    compiled = [g for start in range(0, len(programs), GROUP) for g in _compiled_gradients(programs[start:start + GROUP])]
    eager_tensors = [(gj.constant(x), gj.constant(y)) for _, (x, y), _ in programs]
    eager = [np.asarray(g) for g in _gradients(programs, eager_tensors)]
    rtol = 2e-4 if dtype == np.float32 else 1e-9
    for k, (got, want) in enumerate(zip(compiled, eager)):
        scale = max(float(np.max(np.abs(want))), 1e-3)
        np.testing.assert_allclose(got, want, rtol=0, atol=rtol * scale,
                                   err_msg=f"program {k // 2} {programs[k // 2][0]}, input {k % 2}")
    if dtype == np.float64:   # the eager tape itself against central differences (h = 1e-6, O(h^2) error)
        for k in range(0, 6):
            steps, (x, y), weights = programs[k]
            loss = lambda a, b: float(_forward(steps, gj.constant(a), gj.constant(b), weights))  # noqa: E731
            for which, array in ((0, x), (1, y)):
                numeric = np.zeros_like(array)
                for index in np.ndindex(array.shape):
                    up, down = [x.copy(), y.copy()], [x.copy(), y.copy()]
                    up[which][index] += 1e-6
                    down[which][index] -= 1e-6
                    numeric[index] = (loss(*up) - loss(*down)) / 2e-6
                np.testing.assert_allclose(eager[2 * k + which], numeric, rtol=1e-5, atol=1e-6,
                                           err_msg=f"program {k} {steps}, input {which}")


def test_a_compiled_training_step_through_indexing_joins_scans_and_sorts_matches_eager(monkeypatch):
    """The rules that scatter (getitem, gather, sort: scatter_add runs as an eager step between compiled stages),
    split (concat, stack), sum tiles and scan, in one traced step with its variable updates: one compile,
    then three steps against the same steps run eagerly (float32, rtol 1e-5)."""
    monkeypatch.setattr(gj.config, "backend", "cpu")
    monkeypatch.setattr(gj.config, "compile_in_background", False)
    rng = np.random.default_rng(3)
    table0, w0 = rng.uniform(-1, 1, (6, 3)).astype(np.float32), rng.uniform(-1, 1, (4, 3)).astype(np.float32)
    ids = np.array([4, 0, 4, 2])

    def step(table, w, ids):
        with gj.GradientTape() as tape:
            rows = gj.gather(table, ids)                                    # (4, 3), row 4 read twice
            pairs = gj.stack([w, w * w], axis=1)[:, 0, [0, 1, 2, 0, 1, 2]]        # (4, 6), columns repeated
            joined = gj.concat([rows[:, ::-1], gj.tile(w[:1], (4, 1))], axis=1) * pairs
            scanned = gj.math.cumsum(gj.clip_by_value(joined, -0.5, 0.5), axis=1, reverse=True)
            loss = gj.reduce_sum(gj.sort(scanned, axis=1) * gj.math.cumprod(joined * 0.5 + 1.0, axis=0))
        g_table, g_w = tape.gradient(loss, [table, w])
        table.assign_sub(g_table * 0.1)
        w.assign_sub(g_w * 0.1)
        return loss

    eager_vars = gj.Variable(table0), gj.Variable(w0)
    eager = [float(step(*eager_vars, ids)) for _ in range(3)]
    traced_vars = gj.Variable(table0), gj.Variable(w0)
    traced_step = gj.function(lambda ids: step(*traced_vars, ids))
    traced = [float(traced_step(ids)) for _ in range(3)]
    np.testing.assert_allclose(traced, eager, rtol=1e-5)
    for t, e in zip(traced_vars, eager_vars):
        np.testing.assert_allclose(t.numpy(), e.numpy(), rtol=1e-5, atol=1e-6)
    from graphjit.runtime import get_runtime
    assert get_runtime().executables(traced_step.get_concrete_function(ids))["cpu"].entry_count >= 1
