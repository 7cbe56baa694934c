"""The workloads of ``python -m graphjit.bench``, written once, and the contenders that run them.

Each workload is one Python function ``w(m, *tensors)`` where ``m`` is a namespace with TensorFlow-style
names (``exp``, ``sin``, ``reduce_sum``, ``softmax``, ``relu``, ``matmul``). The same function runs

- on NumPy arrays with ``m = NUMPY`` (the baseline, and the reference),
- on eager graphjit tensors with ``m = GRAPHJIT`` ("gj eager": graphjit ops without ``@gj.function``),
- under ``@gj.function`` with ``m = GRAPHJIT`` ("gj traced"),
- and, when installed, under ``jax.jit``, ``tf.function`` and eager PyTorch with their own namespaces;
  numexpr gets the same expression as a string.

What is timed is one call of ``Contender.make()``'s result: nothing else (inputs are converted once, before).
Also here, as helpers of ``graphjit.bench``: the machine and version facts it reports, and W1 run in a new
Python process (first result with a cold, then a warm disk cache).
"""
import functools
import importlib.metadata
import importlib.util
import inspect
import json
import operator
import os
import platform
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

import graphjit as gj

# -- the workloads, written once ---------------------------------------------------------------------------


def w1(m, x, y):
    return m.exp(-x * x) * y + m.sin(x) * 0.5


def w2(m, x, y):
    return m.reduce_sum((x - y) ** 2)


def w3(m, x, y):
    return x * 2 + y * 3 - 1


def w4(m, x):
    return m.softmax(x)  # over the last axis: each row of x


def w5(m, x, w1, b, w2):
    return m.matmul(m.relu(m.matmul(x, w1) + b), w2)


def w6(m, a, b):
    return a + b


def w7(m, x, w_1, b, w_2):
    """A training step's forward and backward pass: the gradients of mean((relu(x@W1 + b)@W2)^2) with respect
    to W1, b and W2, flattened into one vector."""
    def loss(w_1, b, w_2):
        out = m.matmul(m.relu(m.matmul(x, w_1) + b), w_2)
        return m.reduce_mean(out * out)
    grads = m.grad(loss, argnums=(0, 1, 2))(w_1, b, w_2)
    return m.concat([m.flatten(g) for g in grads])


def w8(m, n):
    """A while_loop of n iterations on float64 scalars: the partial sum of 1/k^2 (-> pi^2/6)."""
    return m.while_loop(lambda k, total: k <= n, lambda k, total: (k + 1.0, total + 1.0 / (k * k)),
                        (m.ones_like(n), m.zeros_like(n)))[1]


def w8_numpy(n):
    """W8 the NumPy way: no loop, the terms materialised and summed (the bound any loop is up against)."""
    k = np.arange(1.0, n + 1.0)
    return np.sum(1.0 / (k * k))


def w8_python_loop(n):
    """W8 as a plain Python loop over floats."""
    total, k, n = 0.0, 1.0, float(n)
    while k <= n:
        total += 1.0 / (k * k)
        k += 1.0
    return np.float64(total)


def _numpy_w7(x, w_1, b, w_2):
    """W7 with the backward pass written by hand (NumPy has no autodiff): the fair NumPy baseline."""
    h_pre = x @ w_1 + b
    h = np.maximum(h_pre, 0)
    out = h @ w_2
    d_out = out * (2 / out.size)
    d_h = (d_out @ w_2.T) * (h_pre > 0)
    return np.concatenate([(x.T @ d_h).ravel(), d_h.sum(0), (h.T @ d_out).ravel()])


# -- the namespaces --------------------------------------------------------------------------------------


def _numpy_softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# Row reductions (row_mean, row_max, row_sum) reduce the last axis and keep it, for the normalisation rows.
NUMPY = SimpleNamespace(exp=np.exp, sin=np.sin, reduce_sum=np.sum, softmax=_numpy_softmax,
                        relu=lambda v: np.maximum(v, 0), matmul=np.matmul, tanh=np.tanh, log1p=np.log1p,
                        sqrt=np.sqrt, rsqrt=lambda v: 1 / np.sqrt(v),
                        row_mean=lambda v: np.mean(v, axis=-1, keepdims=True),
                        row_max=lambda v: np.max(v, axis=-1, keepdims=True),
                        row_sum=lambda v: np.sum(v, axis=-1, keepdims=True))
GRAPHJIT = SimpleNamespace(exp=gj.exp, sin=gj.sin, reduce_sum=gj.reduce_sum,
                           softmax=lambda v: gj.nn.softmax(v, axis=-1), relu=gj.nn.relu, matmul=gj.matmul,
                           reduce_mean=gj.reduce_mean, grad=gj.grad, concat=lambda ts: gj.concat(ts, axis=0),
                           flatten=lambda t: gj.reshape(t, (-1,)), while_loop=gj.while_loop, ones_like=gj.ones_like,
                           zeros_like=gj.zeros_like, tanh=gj.tanh, log1p=gj.log1p, sqrt=gj.sqrt, rsqrt=gj.rsqrt,
                           row_mean=lambda v: gj.reduce_mean(v, axis=-1, keepdims=True),
                           row_max=lambda v: gj.reduce_max(v, axis=-1, keepdims=True),
                           row_sum=lambda v: gj.reduce_sum(v, axis=-1, keepdims=True))


def bind(fn, m):
    """``fn(m, *tensors)`` as a function of exactly its tensor parameters, named like ``fn``.

    A fixed arity keeps ``gj.function``'s (and ``tf.function``'s) argument binding on its fast path, so the
    per-call numbers measure the call, not ``inspect.Signature.bind``.
    """
    arity = len(input_names(fn))
    if arity == 0:
        raise ValueError("bind: a workload takes at least one tensor")
    if arity == 1:
        def bound(a):
            return fn(m, a)
    elif arity == 2:
        def bound(a, b):
            return fn(m, a, b)
    elif arity == 4:
        def bound(a, b, c, d):
            return fn(m, a, b, c, d)
    else:
        raise ValueError(f"bind: no fixed-arity wrapper for {arity} inputs")
    bound.__name__ = bound.__qualname__ = fn.__name__
    return bound


def input_names(fn):
    return list(inspect.signature(fn).parameters)[1:]


# -- inputs (float32, seeded; made once per workload, outside every timing) -------------------------------

SEED = 0

N16M = 1 << 24


def _count(scale, n):
    return max(1, round(n * scale))


def _side(scale, n):
    return max(1, round(n * scale ** 0.5))


def _two_vectors(rng, scale):
    n = _count(scale, N16M)
    return rng.standard_normal(n, dtype=np.float32), rng.standard_normal(n, dtype=np.float32)


def _square(rng, scale):
    side = _side(scale, 4096)
    return (rng.standard_normal((side, side), dtype=np.float32),)


def _mlp(rng, scale):
    batch, width = _side(scale, 512), _side(scale, 1024)
    init = np.float32(1 / np.sqrt(width))
    x = rng.standard_normal((batch, width), dtype=np.float32)
    w_1 = rng.standard_normal((width, width), dtype=np.float32) * init
    b = rng.standard_normal(width, dtype=np.float32) * np.float32(0.1)
    w_2 = rng.standard_normal((width, width), dtype=np.float32) * init
    return x, w_1, b, w_2


def _iterations(rng, scale):  # W8: the trip count (a float64 scalar), scaled
    return (np.array(float(_count(scale, 10 ** 6)), np.float64),)


def _sixteen(rng, scale):  # W6 measures dispatch: its size never scales
    return rng.standard_normal(16, dtype=np.float32), rng.standard_normal(16, dtype=np.float32)


@dataclass
class Workload:
    key: str
    title: str
    fn: object
    make_inputs: object  # (rng, size_scale) -> tuple of float32 arrays
    rtol: float  # float32: 1e-4 where transcendentals are involved, 1e-5 otherwise
    reference: str  # "numpy": NumPy's float32 result; "float64": NumPy on float64 copies (reductions)
    target_speedup: float  # graphjit traced vs NumPy (W6 has its own per-call target, see bench.py)
    target_text: str
    numexpr: str = None  # the same expression for numexpr.evaluate, where numexpr can express it
    per_call: bool = False  # tiny inputs: report per-call time (many calls per timing sample)
    numpy_call: object = None  # what NumPy runs instead of fn(NUMPY, ...), where that is the fairer baseline
    eager_call: object = None  # likewise for gj eager
    peers: tuple = ("numexpr", "jax", "tensorflow", "torch")  # the peers whose namespaces can express fn
    dtype: type = np.float32  # of the inputs and of the result
    eager: bool = True  # whether "gj eager" runs (W8's eager loop would take seconds a call)
    baselines: tuple = ()  # (name, function of the NumPy arrays) contenders beside NumPy
    traced_variants: tuple = ()  # (name, fn(m, ...)): more gj.function contenders (the same math written otherwise)
    targets: tuple = ()  # Target specs, judged generically (the W workloads' targets are judged in bench.py)
    floor: bool = True  # whether the memory floor means anything (not for W8's scalar loop)
    group: str = "core"


@dataclass
class Target:
    """One verdict on a workload: ``kind`` "speedup": the median over repetitions of the paired ratio
    t[vs] / t[of] is >= bound; "floor": ``of`` reaches >= bound percent of the memory floor; "seconds": the
    median of ``of`` is <= bound."""
    text: str
    kind: str
    bound: float
    vs: str = "numpy"
    of: str = "gj traced"


WORKLOADS = [
    Workload("W1", "exp(-x*x)*y + sin(x)*0.5", w1, _two_vectors, 1e-4, "numpy", 6.0, ">= 6x faster than NumPy",
             numexpr="exp(-x*x)*y + sin(x)*half"),
    Workload("W2", "sum((x-y)**2)", w2, _two_vectors, 1e-5, "float64", 4.0, ">= 4x faster than NumPy",
             numexpr="sum((x-y)**2)"),
    Workload("W3", "x*2 + y*3 - 1", w3, _two_vectors, 1e-5, "numpy", 3.0, ">= 3x faster than NumPy",
             numexpr="x*2 + y*3 - 1"),
    Workload("W4", "softmax over rows (gj.nn.softmax(x, axis=-1))", w4, _square, 1e-4, "float64", 3.0,
             ">= 3x faster than NumPy"),
    Workload("W5", "relu(x@W1 + b)@W2", w5, _mlp, 1e-5, "float64", 1 / 1.05, "within 1.05x of NumPy"),
    Workload("W6", "dispatch: f(a, b) = a + b, 16 elements", w6, _sixteen, 1e-5, "numpy", 0.0,
             "<= 2 us per call over np.add", numexpr="a + b", per_call=True,
             numpy_call=np.add, eager_call=operator.add),
    Workload("W7", "training step: d mean((relu(x@W1 + b)@W2)^2) / d(W1, b, W2)", w7, _mlp, 1e-4, "float64",
             1 / 1.1, "within 1.1x of NumPy by hand", numpy_call=_numpy_w7, peers=("jax",)),
    Workload("W8", "while_loop: sum of 1/k^2 for k = 1..n, float64 scalars", w8, _iterations, 1e-12, "numpy", 1.0,
             ">= NumPy's vectorised sum", numpy_call=w8_numpy, peers=("jax",), dtype=np.float64, eager=False,
             baselines=(("python loop", w8_python_loop),), floor=False),
]
BY_KEY = {w.key: w for w in WORKLOADS}


def describe_inputs(workload, arrays):
    """'x, y: float32[16M]' style text (names from the workload's signature, equal shapes grouped)."""
    groups = {}
    for name, a in zip(input_names(workload.fn), arrays):
        groups.setdefault(a.shape, []).append(name)
    short = {np.float32: "f32", np.float64: "f64"}[workload.dtype]
    return "; ".join(f"{', '.join(names)}: {short}[{_dims(shape)}]" for shape, names in groups.items())


def _dims(shape):
    return ", ".join(f"{d >> 20}M" if d >= 1 << 20 and d % (1 << 20) == 0 else str(d) for d in shape)


# -- contenders --------------------------------------------------------------------------------------------


@dataclass
class Contender:
    name: str
    make: object  # () -> a zero-argument callable: one timed call. Compiled contenders jit afresh per make().
    sync: object = None  # applied to the result inside the timed region (JAX: block until it is computed)
    kind: str = "peer"  # "numpy", "graphjit" or "peer"


PEERS = {  # name -> (module to look for, distributions whose version to report, how it runs)
    "numexpr": ("numexpr", ("numexpr",), "numexpr.evaluate (expression string)"),
    "jax": ("jax", ("jax", "jaxlib"), "jax.jit, results block_until_ready()"),
    "tensorflow": ("tensorflow", ("tensorflow", "tensorflow-cpu"), "tf.function, results kept as tf.Tensor"),
    "torch": ("torch", ("torch",), "eager PyTorch (torch.compile is too slow to compile for a default run)"),
}


def _version(dist):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def installed_peers():
    """{peer: version or None}, found with importlib.util.find_spec (nothing is imported here)."""
    found = {}
    for peer, (module, dists, _) in PEERS.items():
        if importlib.util.find_spec(module) is None:
            found[peer] = None
        else:
            found[peer] = next((v for v in map(_version, dists) if v), "unknown version")
    return found


# numexpr reads a literal 0.5 as float64 and would compute W1 in float64: give it a float32 constant instead.
NUMEXPR_CONSTANTS = {"half": np.float32(0.5)}


def _partial_maker(fn, args):
    return lambda: functools.partial(fn, *args)


def graphjit_contenders(workload, arrays):
    tensors = [gj.constant(a) for a in arrays]  # once, outside the loop; eager and traced share them
    eager = workload.eager_call or bind(workload.fn, GRAPHJIT)
    traced = lambda: functools.partial(gj.function(bind(workload.fn, GRAPHJIT)), *tensors)  # a fresh gj.function
    variants = [Contender(name, functools.partial(_traced_maker, fn, tensors), kind="graphjit")
                for name, fn in workload.traced_variants]
    return ([Contender("gj eager", _partial_maker(eager, tensors), kind="graphjit")] if workload.eager else []) + [
        Contender("gj traced", traced, kind="graphjit"), *variants]


def _traced_maker(fn, tensors):
    return functools.partial(gj.function(bind(fn, GRAPHJIT)), *tensors)


def baseline_contenders(workload, arrays):
    return [Contender(name, _partial_maker(fn, arrays), kind="baseline") for name, fn in workload.baselines]


def numpy_contender(workload, arrays):
    return Contender("numpy", _partial_maker(workload.numpy_call or bind(workload.fn, NUMPY), arrays), kind="numpy")


def peer_contenders(workload, arrays, peers):
    """Contenders for the peers named in ``peers`` (all installed; imported here, on first use)."""
    out = []
    peers = [p for p in peers if p in workload.peers]
    if "numexpr" in peers and workload.numexpr:
        import numexpr
        local = {**NUMEXPR_CONSTANTS, **dict(zip(input_names(workload.fn), arrays))}
        out.append(Contender("numexpr", lambda: functools.partial(numexpr.evaluate, workload.numexpr, local)))
    if "jax" in peers:
        import jax
        import jax.numpy as jnp
        if workload.dtype == np.float64:  # JAX computes in float32 unless told otherwise
            jax.config.update("jax_enable_x64", True)
        m = SimpleNamespace(exp=jnp.exp, sin=jnp.sin, reduce_sum=jnp.sum, relu=jax.nn.relu, matmul=jnp.matmul,
                            softmax=lambda v: jax.nn.softmax(v, axis=-1), reduce_mean=jnp.mean, grad=jax.grad,
                            concat=jnp.concatenate, flatten=jnp.ravel, ones_like=jnp.ones_like,
                            zeros_like=jnp.zeros_like, tanh=jnp.tanh, log1p=jnp.log1p, sqrt=jnp.sqrt,
                            rsqrt=jax.lax.rsqrt, row_mean=lambda v: jnp.mean(v, axis=-1, keepdims=True),
                            row_max=lambda v: jnp.max(v, axis=-1, keepdims=True),
                            row_sum=lambda v: jnp.sum(v, axis=-1, keepdims=True),
                            while_loop=lambda c, b, init: jax.lax.while_loop(lambda s: c(*s), lambda s: b(*s), init))
        inputs = jax.block_until_ready([jax.device_put(a) for a in arrays])
        out.append(Contender("jax.jit", lambda: functools.partial(jax.jit(bind(workload.fn, m)), *inputs),
                             sync=jax.block_until_ready))
    if "tensorflow" in peers:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf
        m = SimpleNamespace(exp=tf.exp, sin=tf.sin, reduce_sum=tf.reduce_sum, relu=tf.nn.relu, matmul=tf.matmul,
                            softmax=lambda v: tf.nn.softmax(v, axis=-1), tanh=tf.tanh, log1p=tf.math.log1p,
                            sqrt=tf.sqrt, rsqrt=tf.math.rsqrt,
                            row_mean=lambda v: tf.reduce_mean(v, axis=-1, keepdims=True),
                            row_max=lambda v: tf.reduce_max(v, axis=-1, keepdims=True),
                            row_sum=lambda v: tf.reduce_sum(v, axis=-1, keepdims=True))
        inputs = [tf.constant(a) for a in arrays]
        out.append(Contender("tf.function", lambda: functools.partial(tf.function(bind(workload.fn, m)), *inputs)))
    if "torch" in peers:
        import torch
        m = SimpleNamespace(exp=torch.exp, sin=torch.sin, reduce_sum=torch.sum, relu=torch.relu,
                            matmul=torch.matmul, softmax=lambda v: torch.softmax(v, dim=-1))
        inputs = [torch.from_numpy(a) for a in arrays]
        eager = torch.add if workload.per_call else bind(workload.fn, m)
        out.append(Contender("torch eager", _partial_maker(eager, inputs)))
    return out


# -- the machine ---------------------------------------------------------------------------------------------------


def machine_info():
    cpu = None
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), None)
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    env = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                      "OPENBLAS_CORETYPE", "NUMBA_NUM_THREADS", "GRAPHJIT_BACKEND") if k in os.environ}
    return {"cpu_model": cpu or platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "usable_cores": usable, "platform": platform.platform(), "env": env}


def versions():
    try:
        backend = gj.runtime.get_runtime().backend().name
    except Exception:  # the runtime's API may move; the benchmark should still run
        backend = "unknown"
    return {"python": platform.python_version(), "numpy": np.__version__, "numba": _version("numba"),
            "llvmlite": _version("llvmlite"), "graphjit": gj.__version__, "graphjit_backend": backend}


# -- W1 in a new process: its first result with a cold, then a warm disk cache ----------------------------

CACHE_ENV_VARS = ("GRAPHJIT_CACHE_DIR", "NUMBA_CACHE_DIR")  # the new processes get a fresh directory in both
# The warm-cache target is about load overhead, so it is also measured on a small W1, where making and
# computing 16M elements does not dominate: this many elements (or the workload's own size if smaller).
LATENCY_ELEMENTS = 1 << 16
LATENCY_RUNS = 3  # warm processes at that size; their median is reported

# Run by a new Python process (twice, sharing a fresh cache directory): W1's first result after `import numba`.
WARM_CACHE_CHILD = """\
import json, sys, time
import numpy as np
rng = np.random.default_rng(int(sys.argv[2]))
x = rng.standard_normal(int(sys.argv[1]), dtype=np.float32)
y = rng.standard_normal(int(sys.argv[1]), dtype=np.float32)
import numba  # the clock starts once Numba is imported
start = time.perf_counter()
import graphjit as gj

@gj.function
def w1(x, y):
    return gj.exp(-x * x) * y + gj.sin(x) * 0.5

result = np.asarray(w1(x, y))
seconds = time.perf_counter() - start
expected = np.exp(-x * x) * y + np.sin(x) * 0.5
ok = bool(np.all(np.abs(result - expected) <= 1e-4 * (np.abs(expected) + np.mean(np.abs(expected)))))
print(json.dumps({"seconds": seconds, "agrees": ok}))
"""


def _child_env(cache, pycache):
    env = {**os.environ, **{var: cache for var in CACHE_ENV_VARS}}
    # Bytecode as an installed package has it: a first, unmeasured process writes the .pyc files of graphjit
    # and of the Numba modules that compiling imports to a private folder, and the measured ones read them.
    # (Where PYTHONDONTWRITEBYTECODE is set, every process would otherwise compile graphjit's modules from
    # source, ~0.05-0.1 s that no installed copy pays.)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = pycache
    return env


def _run_w1_child(elements, env):
    try:
        proc = subprocess.run([sys.executable, "-c", WARM_CACHE_CHILD, str(elements), str(SEED)],
                              capture_output=True, text=True, env=env, timeout=300)
    except subprocess.TimeoutExpired:
        return {"agrees": False, "error": "the new process took over 300 s"}
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"agrees": False, "error": f"the new process failed: {last}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def new_process_first_calls(elements, latency_runs=LATENCY_RUNS):
    """W1's first result in new processes: with a cold, then a warm cache directory (``elements``), and with a
    warm cache on ``LATENCY_ELEMENTS`` elements (median of ``latency_runs`` processes)."""
    latency_elements = min(elements, LATENCY_ELEMENTS)
    with tempfile.TemporaryDirectory(prefix="graphjit-bench-cache-") as cache, \
            tempfile.TemporaryDirectory(prefix="graphjit-bench-cache-") as small_cache, \
            tempfile.TemporaryDirectory(prefix="graphjit-bench-pyc-") as pycache:
        # Unmeasured: fills the bytecode folder and the small W1's cache entry.
        prime = _run_w1_child(latency_elements, _child_env(small_cache, pycache))
        runs = [_run_w1_child(elements, _child_env(cache, pycache)) for _ in range(2)]
        small = [_run_w1_child(latency_elements, _child_env(small_cache, pycache)) for _ in range(latency_runs)]
        failed = next((r for r in [prime] + runs + small if "error" in r), None)
        if failed is not None:
            return failed
    small_s = sorted(r["seconds"] for r in small)
    return {"elements": elements, "cold_s": runs[0]["seconds"], "warm_s": runs[1]["seconds"],
            "latency_elements": latency_elements, "latency_warm_s": small_s[len(small_s) // 2],
            "latency_runs": latency_runs,
            "agrees": all(r["agrees"] for r in [prime] + runs + small), "cache_env_vars": list(CACHE_ENV_VARS)}
