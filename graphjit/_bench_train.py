"""The ``train`` group of ``python -m graphjit.bench``: whole training steps that update variables.

- T1: one SGD step of linear regression (x: f32[100, 1]), the step of ``examples/linear_regression.py``.
- T2: one Adam step of a 784-256-10 MLP with sparse softmax cross-entropy, batch 256.

Each runs as NumPy by hand (forward, backward and the optimizer written out), as gj eager (``gj.GradientTape`` and
``gj.optimizers``) and as gj traced (the same step under ``@gj.function``: one compiled call). Every contender
starts from the same float32 parameters and data; after ``CHECK_STEPS`` steps its parameters are compared with
the same steps in float64 NumPy (``graphjit.bench.check``), then it is timed (``graphjit.bench``'s interleaving).
``benchmarks/train_step.py`` adds compat.v1 ``Session.run`` and other sizes. When JAX is installed (and not
turned off with ``--peers``), ``jax.jit`` runs the same step as JAX users write it: ``jax.grad`` of the same loss
and the optimizer's formula in jnp, parameters and optimizer state donated to the jitted step.
"""
import functools
from dataclasses import dataclass

import numpy as np

import graphjit as gj

CHECK_STEPS = 3


@dataclass
class TrainWorkload:
    key: str
    title: str
    inputs: str
    make_data: object        # (rng) -> (x, y, [initial parameters])
    numpy_step: object       # (x, y, params, state, t) -> None, updating params (and the optimizer state) in place
    loss: object             # graphjit: (x, y, *params) -> scalar loss
    optimizer: object        # () -> a gj.optimizers optimizer
    rtol: float
    per_call: bool           # tiny steps: many calls per timing sample
    target_speedup: float    # traced vs NumPy by hand
    target_text: str
    jax_loss: object = None  # (jnp, x, y, *params) -> scalar loss, the same loss in JAX
    jax_update: object = None  # (jnp, params, grads, state, t) -> (params, state): the optimizer's formula


# -- T1: linear regression, SGD ----------------------------------------------------------------------------

def _regression_data(rng):
    x = rng.uniform(-1, 1, size=(100, 1)).astype(np.float32)
    y = (2 * x + 1 + rng.normal(scale=0.1, size=(100, 1))).astype(np.float32)
    return x, y, [np.zeros((1, 1), np.float32), np.zeros(1, np.float32)]


def _regression_numpy(x, y, params, state, t, lr=0.1):
    w, b = params
    d = (x @ w + b - y) * (2 / y.size)
    w -= lr * (x.T @ d)
    b -= lr * d.sum(0)


def _regression_loss(x, y, w, b):
    return gj.reduce_mean(gj.square(x @ w + b - y))


def _regression_jax_loss(jnp, x, y, w, b):
    return jnp.mean(jnp.square(x @ w + b - y))


def _sgd_jax(jnp, params, grads, state, t, lr=0.1):
    return [p - lr * g for p, g in zip(params, grads)], state


# -- T2: MLP, Adam -----------------------------------------------------------------------------------------

def mlp_data(rng, batch=256, sizes=(784, 256, 10)):
    x = rng.standard_normal((batch, sizes[0]), dtype=np.float32)
    labels = rng.integers(0, sizes[-1], size=batch).astype(np.int64)
    params = []
    for fan_in, fan_out in zip(sizes, sizes[1:]):
        params += [(rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in)).astype(np.float32),
                   np.zeros(fan_out, np.float32)]
    return x, labels, params


def mlp_gradients(x, labels, w1, b1, w2, b2):
    h_pre = x @ w1 + b1
    h = np.maximum(h_pre, 0)
    logits = h @ w2 + b2
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    probs[np.arange(x.shape[0]), labels] -= 1
    d_logits = probs / x.shape[0]
    d_h = (d_logits @ w2.T) * (h_pre > 0)
    return x.T @ d_h, d_h.sum(0), h.T @ d_logits, d_logits.sum(0)


def _mlp_numpy_adam(x, labels, params, state, t, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    """Keras' Adam step by hand (the formula gj.optimizers.Adam follows)."""
    alpha = lr * np.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
    for k, (p, g) in enumerate(zip(params, mlp_gradients(x, labels, *params))):
        m, v = state.setdefault(k, (np.zeros_like(p), np.zeros_like(p)))
        m += (g - m) * (1 - beta_1)
        v += (g * g - v) * (1 - beta_2)
        p -= (m * alpha / (np.sqrt(v) + epsilon)).astype(p.dtype)


def mlp_loss(x, labels, w1, b1, w2, b2):
    logits = gj.nn.relu(x @ w1 + b1) @ w2 + b2
    return gj.reduce_mean(gj.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))


def _mlp_jax_loss(jnp, x, labels, w1, b1, w2, b2):
    logits = jnp.maximum(x @ w1 + b1, 0) @ w2 + b2
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - jnp.log(jnp.exp(shifted).sum(axis=1, keepdims=True))
    return -jnp.mean(jnp.take_along_axis(log_probs, labels[:, None], axis=1))


def _adam_jax(jnp, params, grads, state, t, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    """The formula of ``_mlp_numpy_adam`` in jnp; ``state`` is ``[(m, v)]`` per parameter."""
    alpha = lr * jnp.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
    new_params, new_state = [], []
    for p, g, (m, v) in zip(params, grads, state):
        m = m + (g - m) * (1 - beta_1)
        v = v + (g * g - v) * (1 - beta_2)
        new_params.append(p - (m * alpha / (jnp.sqrt(v) + epsilon)).astype(p.dtype))
        new_state.append((m, v))
    return new_params, new_state


TRAIN = [
    TrainWorkload("T1", "linear regression, one SGD step (lr 0.1)", "x, y: f32[100, 1]; w: f32[1, 1]; b: f32[1]",
                  _regression_data, _regression_numpy, _regression_loss, lambda: gj.optimizers.SGD(0.1), 1e-5,
                  True, 1.5, ">= 1.5x NumPy by hand, <= 10 us", _regression_jax_loss, _sgd_jax),
    TrainWorkload("T2", "MLP 784-256-10, one Adam step (lr 0.001), sparse softmax cross-entropy",
                  "x: f32[256, 784]; labels: i64[256]; W1: f32[784, 256]; W2: f32[256, 10]", mlp_data,
                  _mlp_numpy_adam, mlp_loss, lambda: gj.optimizers.Adam(0.001), 2e-4, False, 1.0,
                  ">= NumPy by hand", _mlp_jax_loss, _adam_jax),
]
BY_KEY = {w.key: w for w in TRAIN}


def reference(workload, rng_seed):
    """The parameters after ``CHECK_STEPS`` steps, in float64."""
    x, y, params = workload.make_data(np.random.default_rng(rng_seed))
    params = [p.astype(np.float64) for p in params]
    x = x.astype(np.float64)
    y = y.astype(np.float64) if y.dtype.kind == "f" else y
    state = {}
    for t in range(1, CHECK_STEPS + 1):
        workload.numpy_step(x, y, params, state, t)
    return np.concatenate([p.ravel() for p in params])


def contenders(workload, rng_seed, peers=()):
    """``[(name, kind, step, parameters)]``: ``step()`` runs one training step; ``parameters()`` the flat values.
    ``peers``: the installed peers to run as well (only JAX has a train step here)."""
    x, y, initial = workload.make_data(np.random.default_rng(rng_seed))
    params, state, count = [p.copy() for p in initial], {}, [0]

    def numpy_step():
        count[0] += 1
        workload.numpy_step(x, y, params, state, count[0])
    found = [("numpy", "numpy", numpy_step, lambda: np.concatenate([p.ravel() for p in params]))]
    xt, yt = gj.constant(x), gj.constant(y)
    for name, wrap in (("gj eager", lambda f: f), ("gj traced", gj.function)):
        variables = [gj.Variable(p) for p in initial]
        found.append((name, "graphjit", wrap(_step(workload, xt, yt, variables, workload.optimizer())),
                      lambda vs=variables: np.concatenate([v.numpy().ravel() for v in vs])))
    if "jax" in peers and workload.jax_loss is not None:
        found.append(_jax_contender(workload, x, y, initial))
    return found


def _jax_contender(workload, x, y, initial):
    """The step under ``jax.jit`` with the parameters and optimizer state donated (updated in place, as
    graphjit's variables are); the step count is an argument, so one compiled step serves every step."""
    import jax
    import jax.numpy as jnp

    def loss(params, x, y):
        return workload.jax_loss(jnp, x, y, *params)

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def step(params, state, x, y, t):
        grads = jax.grad(loss)(params, x, y)
        return workload.jax_update(jnp, params, grads, state, t)

    params = [jax.device_put(p) for p in initial]
    state = [(jnp.zeros_like(p), jnp.zeros_like(p)) for p in params]
    live = {"params": params, "state": state, "t": 0}
    x, y = jax.device_put(x), jax.device_put(y)

    def jax_step():
        live["t"] += 1
        live["params"], live["state"] = step(live["params"], live["state"], x, y, np.float32(live["t"]))
        return jax.block_until_ready(live["params"])
    return ("jax.jit", "peer", jax_step, lambda: np.concatenate([np.asarray(p).ravel() for p in live["params"]]))


def _step(workload, x, y, variables, optimizer):
    """The training step as a user writes it: no arguments, the model's variables and the data closed over."""
    def train_step():
        with gj.GradientTape() as tape:
            loss = workload.loss(x, y, *variables)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss
    return train_step
