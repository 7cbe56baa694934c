"""gj.optimizers (SGD, Adam, AdamW, schedules) against float64 NumPy references of Keras' update formulas,
eagerly and inside @gj.function; slots, iterations, argument checks, and a compiled training step."""
import math

import numpy as np
import pytest

import graphjit as gj
from graphjit import train
from graphjit.errors import FailedPreconditionError, InvalidArgumentError, NotFoundError, UnimplementedError
from graphjit.runtime.runtime import get_runtime

STEPS = 6
W0 = np.array([0.5, -1.25, 2.0, 0.0, -0.3], np.float32)
GRADS = np.random.default_rng(3).standard_normal((STEPS, 5)).astype(np.float32)


# --- float64 references: Keras' documented formulas, written in their textbook form -------------------------

def exponential_decay(initial, decay_steps, rate, staircase=False):
    def lr(t):
        exponent = t / decay_steps
        return initial * rate ** (math.floor(exponent) if staircase else exponent)
    return lr


def reference_sgd(momentum=0.0, nesterov=False):
    def step(w, g, slots, lr, t):
        if not momentum:
            return w - lr * g, slots
        velocity = momentum * slots.get("momentum", 0.0) - lr * g
        w = w + momentum * velocity - lr * g if nesterov else w + velocity
        return w, {"momentum": velocity}
    return step


def reference_adam(beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=0.0):
    def step(w, g, slots, lr, t):
        w = w - w * weight_decay * lr                  # AdamW: decoupled decay, before the Adam step
        m = beta_1 * slots.get("m", 0.0) + (1 - beta_1) * g
        v = beta_2 * slots.get("v", 0.0) + (1 - beta_2) * g * g
        t1 = t + 1
        m_hat, v_hat = m / (1 - beta_1 ** t1), v / (1 - beta_2 ** t1)
        # Keras adds epsilon to sqrt(v), not to sqrt(v_hat): the same as epsilon / sqrt(1 - beta_2**t) here
        return w - lr * m_hat / (np.sqrt(v_hat) + epsilon / np.sqrt(1 - beta_2 ** t1)), {"m": m, "v": v}
    return step


def run_reference(step, lr, w0=W0, grads=GRADS):
    w, slots = w0.astype(np.float64), {}
    for t, g in enumerate(grads):
        w, slots = step(w, g.astype(np.float64), slots, lr(t) if callable(lr) else lr, t)
    return w, slots


SCHEDULE = dict(initial_learning_rate=0.2, decay_steps=2.0, decay_rate=0.6)
CASES = {   # name: (make the optimizer, reference step, learning rate for the reference)
    "sgd": (lambda: gj.optimizers.SGD(0.1), reference_sgd(), 0.1),
    "sgd_momentum": (lambda: gj.optimizers.SGD(0.1, momentum=0.9), reference_sgd(0.9), 0.1),
    "sgd_nesterov": (lambda: gj.optimizers.SGD(0.05, momentum=0.8, nesterov=True), reference_sgd(0.8, True), 0.05),
    "adam": (lambda: gj.optimizers.Adam(0.01), reference_adam(), 0.01),
    "adam_betas": (lambda: gj.optimizers.Adam(0.02, beta_1=0.5, beta_2=0.75, epsilon=1e-3),
                   reference_adam(0.5, 0.75, 1e-3), 0.02),
    "adamw": (lambda: gj.optimizers.AdamW(0.01, weight_decay=0.05), reference_adam(weight_decay=0.05), 0.01),
    "sgd_schedule": (lambda: gj.optimizers.SGD(gj.optimizers.schedules.ExponentialDecay(**SCHEDULE), momentum=0.5),
                     reference_sgd(0.5), exponential_decay(*SCHEDULE.values())),
    "adamw_staircase": (lambda: gj.optimizers.AdamW(gj.optimizers.schedules.ExponentialDecay(**SCHEDULE,
                                                                                              staircase=True)),
                        reference_adam(weight_decay=0.004), exponential_decay(*SCHEDULE.values(), staircase=True)),
}


def train_on_grads(optimizer, var, grads, traced):
    def apply(g):
        optimizer.apply_gradients([(g, var)])
    step = gj.function(apply) if traced else apply
    for g in grads:
        step(g)
    return step


@pytest.mark.parametrize("traced", [False, True], ids=["eager", "traced"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_updates_match_the_float64_reference_over_several_steps(case, traced):
    make, reference, lr = CASES[case]
    optimizer, var = make(), gj.Variable(W0)
    step = train_on_grads(optimizer, var, GRADS, traced)
    expected, expected_slots = run_reference(reference, lr)
    # float32 variables: every step rounds to float32 (values ~2: ~1e-7 each), so 1e-6 over 6 steps. Adam also
    # computes 1 - beta_2**t in float32 (0.999 is 0.99900001 there: 1.3e-5 relative at t=1), which moves each step
    # (of size <= lr) by up to ~1e-5 relative: 1e-5 times the summed learning rates more.
    total_lr = sum(lr(t) if callable(lr) else lr for t in range(STEPS))
    tolerance = 1e-6 + (1e-5 * total_lr if "adam" in case else 0)
    np.testing.assert_allclose(var.numpy(), expected, rtol=0, atol=tolerance)
    slots = {v.name.split("/")[0]: v for v in optimizer.variables[1:]}
    assert slots.keys() == expected_slots.keys()
    for name, value in expected_slots.items():
        np.testing.assert_allclose(slots[name].numpy(), value, rtol=2e-6, atol=1e-7, err_msg=name)
    assert int(optimizer.iterations.numpy()) == STEPS
    if traced:
        assert step.experimental_get_tracing_count() == 1   # the schedule, iterations and slots are read each call


def test_float64_variables_use_float64_hyperparameters():
    # Keras computes in the variable's dtype: beta_1 ** t of a float64 variable is not float32's 0.9 ** t
    var = gj.Variable(W0.astype(np.float64))
    optimizer = gj.optimizers.AdamW(0.01, weight_decay=0.05)
    train_on_grads(optimizer, var, GRADS.astype(np.float64), traced=False)
    expected, _ = run_reference(reference_adam(weight_decay=0.05), 0.01)
    np.testing.assert_allclose(var.numpy(), expected, rtol=1e-13, atol=1e-15)
    assert var.dtype is gj.float64 and optimizer.variables[1].dtype is gj.float64


def test_the_schedule_gives_the_learning_rate_of_the_next_step():
    schedule = gj.optimizers.schedules.ExponentialDecay(0.1, decay_steps=3, decay_rate=0.5, staircase=True)
    optimizer = gj.optimizers.SGD(schedule)
    assert schedule.get_config() == {"initial_learning_rate": 0.1, "decay_steps": 3.0, "decay_rate": 0.5,
                                     "staircase": True}
    var = gj.Variable(np.zeros(2, np.float32))
    for t in range(7):
        np.testing.assert_allclose(float(optimizer.learning_rate), 0.1 * 0.5 ** (t // 3), rtol=1e-6)
        optimizer.apply_gradients([(np.ones(2, np.float32), var)])
    np.testing.assert_allclose(var.numpy(), -sum(0.1 * 0.5 ** (t // 3) for t in range(7)), rtol=1e-6)
    smooth = gj.optimizers.schedules.ExponentialDecay(0.1, decay_steps=3, decay_rate=0.5)
    np.testing.assert_allclose(float(smooth(np.int64(4))), 0.1 * 0.5 ** (4 / 3), rtol=1e-6)
    assert gj.optimizers.Adam(0.25).learning_rate == 0.25


def test_slots_are_made_lazily_named_like_keras_and_not_trainable():
    optimizer = gj.optimizers.Adam()
    w = gj.Variable(np.ones((2, 3), np.float32), name="dense/kernel")
    b = gj.Variable(np.ones(3, np.float32), name="dense/bias")
    assert optimizer.variables == (optimizer.iterations,)
    assert optimizer.iterations.dtype is gj.int64 and not optimizer.iterations.trainable
    assert int(optimizer.iterations.numpy()) == 0
    with gj.Module(name="elsewhere").name_scope:   # the scope active at apply time does not rename slots
        optimizer.apply_gradients([(np.ones((2, 3), np.float32), w), (np.ones(3, np.float32), b)])
    names = [v.name for v in optimizer.variables]
    assert names[0].startswith("Adam/iterations")
    assert names[1:] == [f"{slot}/{var.name}" for var in (w, b) for slot in ("m", "v")]
    for slot, var in zip(optimizer.variables[1:], (w, w, b, b)):
        assert not slot.trainable and slot.shape == var.shape and slot.dtype is var.dtype
    momentum = gj.optimizers.SGD(momentum=0.5)
    momentum.apply_gradients([(np.ones(3, np.float32), b)])
    assert [v.name for v in momentum.variables[1:]] == [f"momentum/{b.name}"]
    plain = gj.optimizers.SGD()
    plain.apply_gradients([(np.ones(3, np.float32), b)])
    assert plain.variables == (plain.iterations,)   # momentum 0: no slot, as Keras


def test_none_gradients_are_skipped_with_a_warning_and_all_none_is_an_error():
    optimizer = gj.optimizers.SGD(0.5)
    a, b = gj.Variable(np.ones(2, np.float32), name="a"), gj.Variable(np.ones(2, np.float32), name="b")
    with pytest.warns(UserWarning, match=r"gradients do not exist for variables \['b"):
        optimizer.apply_gradients([(np.ones(2, np.float32), a), (None, b)])
    np.testing.assert_array_equal(a.numpy(), [0.5, 0.5])
    np.testing.assert_array_equal(b.numpy(), [1.0, 1.0])
    with pytest.raises(InvalidArgumentError, match=r"SGD.apply_gradients: no gradients provided for any variable "
                                                   r"\('a.*', 'b.*'\)"):
        optimizer.apply_gradients([(None, a), (None, b)])
    with pytest.raises(InvalidArgumentError, match="no gradients provided for any variable"):
        optimizer.apply_gradients([])
    assert int(optimizer.iterations.numpy()) == 1


def test_minimize_differentiates_a_loss_callable_with_respect_to_var_list():
    w = gj.Variable(np.array([1.0, -2.0], np.float32))
    frozen = gj.Variable(np.array([3.0], np.float32), trainable=False)   # listed: watched, so updated too
    optimizer = gj.optimizers.SGD(0.1)
    result = optimizer.minimize(lambda: gj.reduce_sum(w * w) + gj.reduce_sum(frozen * frozen * frozen), [w, frozen])
    assert result is optimizer.iterations
    np.testing.assert_allclose(w.numpy(), [1.0 - 0.1 * 2.0, -2.0 + 0.1 * 4.0], rtol=1e-6)
    np.testing.assert_allclose(frozen.numpy(), [3.0 - 0.1 * 27.0], rtol=1e-6)
    with gj.GradientTape() as tape:          # a loss tensor with the tape that recorded it
        loss = gj.reduce_sum(w * 3.0)
    optimizer.minimize(loss, lambda: [w], tape=tape)
    np.testing.assert_allclose(w.numpy(), [0.8 - 0.3, -1.6 - 0.3], rtol=1e-6)
    with pytest.raises(InvalidArgumentError, match=r"SGD.minimize: loss must be a zero-argument callable .*tape="):
        optimizer.minimize(loss, [w])


def _bad(call, pattern):
    with pytest.raises(InvalidArgumentError, match=pattern):
        call()


def test_bad_arguments_are_clear_errors_naming_them():
    opt = gj.optimizers
    _bad(lambda: opt.SGD(-0.1), r"SGD: learning_rate must be a finite number >= 0, got -0.1")
    _bad(lambda: opt.Adam(float("nan")), r"Adam: learning_rate must be a finite number >= 0, got nan")
    _bad(lambda: opt.SGD(0.1, momentum=1.5), r"SGD: momentum must be a finite number in \[0, 1\], got 1.5")
    _bad(lambda: opt.SGD(0.1, momentum=-0.1), r"SGD: momentum .* got -0.1")
    _bad(lambda: opt.SGD(0.1, nesterov="yes"), r"SGD: nesterov must be True or False")
    _bad(lambda: opt.Adam(beta_1=1.0), r"Adam: beta_1 must be a finite number in \[0, 1\), got 1.0")
    _bad(lambda: opt.Adam(beta_2=True), r"Adam: beta_2 must be .* got True")
    _bad(lambda: opt.AdamW(weight_decay=-1), r"AdamW: weight_decay must be a finite number >= 0, got -1")
    _bad(lambda: opt.schedules.ExponentialDecay(0.1, 0, 0.5), r"ExponentialDecay: decay_steps must be a finite "
                                                               r"number > 0, got 0")
    _bad(lambda: opt.schedules.ExponentialDecay(0.1, 10, -0.5), r"ExponentialDecay: decay_rate .* > 0, got -0.5")
    with pytest.raises(UnimplementedError, match="learning rate is fixed .* schedule"):
        opt.SGD().learning_rate = 0.5

    sgd = opt.SGD()
    w = gj.Variable(np.zeros((2, 3), np.float32), name="w")
    v = gj.Variable(np.zeros(3, np.float32), name="v")
    g = np.ones((2, 3), np.float32)
    _bad(lambda: sgd.apply([g], [w, v]), r"SGD.apply: 1 grads for 2 trainable_variables")
    _bad(lambda: sgd.apply_gradients([(np.ones(3, np.float32), w)]),
         r"SGD.apply_gradients: the gradient for grads_and_vars\[0\]\[1\] \('w.*'\) has shape \(3,\), but the "
         r"variable has shape \(2, 3\)")
    _bad(lambda: sgd.apply_gradients([(g, w), (g, w)]), r"grads_and_vars\[1\]\[1\] \('w.*'\) is given twice")
    _bad(lambda: sgd.apply_gradients([(g, np.zeros((2, 3)))]), r"grads_and_vars\[0\]\[1\] must be a gj.Variable, "
                                                                r"got ndarray")
    _bad(lambda: sgd.apply_gradients([g]), r"grads_and_vars\[0\] must be a \(gradient, variable\) pair")
    _bad(lambda: sgd.minimize(lambda: gj.reduce_sum(w), [w, gj.constant(1.0)]),
         r"SGD.minimize: var_list\[1\] must be a gj.Variable, got EagerTensor")
    count = gj.Variable(np.int64(3), name="count")
    _bad(lambda: sgd.apply_gradients([(np.int64(1), count)]), r"\('count.*'\) has dtype int64; optimizers update "
                                                              r"floating variables only")
    assert int(sgd.iterations.numpy()) == 0 and not w.numpy().any()   # nothing was applied


def test_slots_made_on_a_functions_first_trace_belong_to_it_and_later_traces_cannot_make_new_ones():
    w = gj.Variable(np.ones(3, np.float32), name="w")
    optimizer = gj.optimizers.Adam(0.1)

    @gj.function
    def step(x):
        with gj.GradientTape() as tape:
            loss = gj.reduce_sum(w * x)
        optimizer.apply_gradients(zip(tape.gradient(loss, [w]), [w]))
        return loss
    step(np.ones(3, np.float32))                      # first trace: the slots are made (lifted out of the graph)
    slots = optimizer.variables[1:]
    assert [s.name for s in slots] == [f"m/{w.name}", f"v/{w.name}"]
    assert {id(s) for s in slots} <= {id(v) for v in step._created_variables}
    step(np.ones((2, 3), np.float32))                 # a second trace (new shape) finds them made
    assert step.experimental_get_tracing_count() == 2 and len(optimizer.variables) == 3
    m = 0.9 * (0.1 * 1) + 0.1 * 2                      # m = 0.9 m + 0.1 g, g = 1 then 2 (two rows of ones)
    np.testing.assert_allclose(optimizer.variables[1].numpy(), m, rtol=1e-6)

    late = gj.optimizers.Adam(0.1)

    @gj.function
    def two_optimizers(x, use_late):
        with gj.GradientTape() as tape:
            loss = gj.reduce_sum(w * x)
        (late if use_late else optimizer).apply_gradients(zip(tape.gradient(loss, [w]), [w]))
    two_optimizers(np.ones(3, np.float32), False)
    with pytest.raises(FailedPreconditionError, match=r"a variable \(m/w.*\) was created on a trace other than "
                                                      r"the first"):
        two_optimizers(np.ones(3, np.float32), True)   # TF's rule: variables are made on the first trace only


class Classifier(gj.Module):
    def __init__(self, seed):
        super().__init__()
        rng = np.random.default_rng(seed)
        with self.name_scope:
            self.w = gj.Variable(rng.standard_normal((4, 3)).astype(np.float32), name="w")
            self.b = gj.Variable(np.zeros(3, np.float32), name="b")

    def loss(self, x, labels):
        logits = gj.matmul(x, self.w) + self.b
        return gj.reduce_mean(gj.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))


def make_training(seed=0, traced=True):
    """A model, an AdamW optimizer with a schedule, and a training step (a gj.function when ``traced``)."""
    model = Classifier(seed)
    schedule = gj.optimizers.schedules.ExponentialDecay(0.05, decay_steps=2, decay_rate=0.7)
    optimizer = gj.optimizers.AdamW(schedule, weight_decay=0.01)

    def train_step(x, labels):
        with gj.GradientTape() as tape:
            loss = model.loss(x, labels)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss
    return model, optimizer, (gj.function(train_step) if traced else train_step)


BATCHES = np.random.default_rng(5).standard_normal((5, 8, 4)).astype(np.float32)
BATCH = BATCHES[0]
LABELS = np.array([0, 1, 2, 1, 0, 2, 2, 1])


def test_a_traced_training_step_is_one_compiled_graph_that_matches_eager(monkeypatch):
    monkeypatch.setattr(gj.config, "backend", "cpu")
    monkeypatch.setattr(gj.config, "compile_in_background", False)
    model, optimizer, step = make_training()
    eager_model, eager_optimizer, eager_step = make_training(traced=False)
    losses = [float(step(BATCH, LABELS)) for _ in range(5)]
    eager_losses = [float(eager_step(BATCH, LABELS)) for _ in range(5)]
    assert step.experimental_get_tracing_count() == 1
    concrete = step.get_concrete_function(BATCH, LABELS)
    assert get_runtime().executables(concrete)["cpu"].entry_count == 1   # forward, backward and updates fused
    assert losses[-1] < losses[0]
    np.testing.assert_allclose(losses, eager_losses, rtol=1e-5)
    for traced_var, eager_var in zip(model.variables + optimizer.variables,
                                     eager_model.variables + eager_optimizer.variables):
        np.testing.assert_allclose(traced_var.numpy(), eager_var.numpy(), rtol=1e-5, atol=1e-6)
    assert int(optimizer.iterations.numpy()) == 5


def test_optimizers_are_imported_on_first_use():
    import subprocess
    import sys
    code = ("import sys, graphjit as gj; assert 'graphjit.optimizers' not in sys.modules; "
            "assert isinstance(gj.optimizers.AdamW(), gj.optimizers.Adam); "
            "assert 'graphjit.optimizers' in sys.modules and 'optimizers' in dir(gj)")
    result = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# --- checkpoints of models and optimizers ---------------------------------------------------------------

def _state(model, optimizer):
    """Checkpoint key -> value of everything a checkpoint of (model, optimizer) tracks."""
    tracked = train.Checkpoint(model=model, optimizer=optimizer)._variables()
    return {key: var.numpy() for key, var in tracked.items()}


def test_slots_are_saved_beside_their_variables_and_iterations_with_the_optimizer():
    model, optimizer, step = make_training(traced=False)
    assert sorted(_state(model, optimizer)) == ["model/b", "model/w", "optimizer/iterations"]   # no slots yet
    step(BATCH, LABELS)
    stray = gj.Variable(np.ones(2, np.float32))          # trained by the optimizer, not reachable from the model
    optimizer.apply_gradients([(np.ones(2, np.float32), stray)])
    slot_keys = [f"model/{v}/.OPTIMIZER_SLOT/optimizer/{s}" for v in ("b", "w") for s in ("m", "v")]
    assert sorted(_state(model, optimizer)) == sorted(["model/b", "model/w", "optimizer/iterations"] + slot_keys)
    assert train.Checkpoint(model=model)._variables().keys() == {"model/b", "model/w"}


@pytest.mark.parametrize("mode", ["eager", "compiled"])
def test_training_resumed_from_a_checkpoint_is_bitwise_the_uninterrupted_run(tmp_path, monkeypatch, mode):
    if mode == "compiled":   # every call compiled (in the background mode the first calls are interpreted)
        monkeypatch.setattr(gj.config, "backend", "cpu")
        monkeypatch.setattr(gj.config, "compile_in_background", False)
    model, optimizer, step = make_training(seed=0, traced=mode == "compiled")
    checkpoint = train.Checkpoint(model=model, optimizer=optimizer)
    for batch in BATCHES[:3]:
        step(batch, LABELS)
    path = checkpoint.save(str(tmp_path / "ckpt"))
    for batch in BATCHES[3:]:
        step(batch, LABELS)

    resumed_model, resumed_optimizer, resumed_step = make_training(seed=1, traced=mode == "compiled")
    assert resumed_optimizer.variables == (resumed_optimizer.iterations,)   # restored before its first apply:
    train.Checkpoint(model=resumed_model, optimizer=resumed_optimizer).restore(path).assert_consumed()
    assert len(resumed_optimizer.variables) == 5                             # its slots were made by the restore
    assert int(resumed_optimizer.iterations.numpy()) == 3
    for batch in BATCHES[3:]:
        resumed_step(batch, LABELS)
    expected, resumed = _state(model, optimizer), _state(resumed_model, resumed_optimizer)
    assert resumed.keys() == expected.keys() and len(expected) == 7
    for key in expected:
        assert resumed[key].dtype == expected[key].dtype and resumed[key].tobytes() == expected[key].tobytes(), key


def test_restoring_slots_the_optimizer_does_not_have_saved_is_an_error(tmp_path):
    model, _, _ = make_training(traced=False)
    momentum = gj.optimizers.SGD(0.1, momentum=0.9)
    momentum.apply_gradients([(np.ones(tuple(v.shape), np.float32), v) for v in model.trainable_variables])
    path = train.Checkpoint(model=model, optimizer=momentum).save(str(tmp_path / "sgd"))
    fresh, adam, _ = make_training(seed=1, traced=False)
    before = fresh.w.numpy().copy()
    with pytest.raises(NotFoundError, match=r"no entry for 'model/b/.OPTIMIZER_SLOT/optimizer/m'"):
        train.Checkpoint(model=fresh, optimizer=adam).restore(path)
    np.testing.assert_array_equal(fresh.w.numpy(), before)   # nothing restored
    # a checkpoint saved before the first apply restores into an optimizer that has none of its slots either
    early = train.Checkpoint(model=fresh, optimizer=gj.optimizers.Adam()).save(str(tmp_path / "early"))
    trained, trained_adam, step = make_training(seed=2, traced=False)
    train.Checkpoint(model=trained, optimizer=trained_adam).restore(early).assert_consumed()
    assert trained_adam.variables == (trained_adam.iterations,)
    step(BATCH, LABELS)   # slots are made by the first apply as usual
    # but every tracked variable must be in the checkpoint (as for model variables): a trained optimizer's slots too
    with pytest.raises(NotFoundError, match=r"no entry for 'model/b/.OPTIMIZER_SLOT/optimizer/m'"):
        train.Checkpoint(model=trained, optimizer=trained_adam).restore(early)
