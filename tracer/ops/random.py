"""Random ops: ``random.uniform``, ``random.normal``, ``random.truncated_normal`` and ``random.set_seed``.

The ops are stateful: they draw from the runtime's generator (``state.rng_for(seed)``) each time they run, so a
traced function gives new numbers on every call instead of a constant frozen at trace time, and their
nodes keep program order, so after ``set_seed`` an eager call and the same call traced give the same
numbers. Bounds, mean and stddev are scalar inputs (they may be computed tensors); shape, dtype and the
op-level seed are attributes. An op seed selects a stream of its own, fixed by (global seed, op seed), that
every call continues (``State.rng_for``); ops that share an op seed share its stream, eagerly as in TF and
also inside a traced function (where TF gives each op its own copy of the stream).

Compiled (``lower``: a kernel of its own), a draw takes the same generator into the compiled entry and draws there,
bit for bit the numbers this eager code draws (compiler.random_writer says for which dtypes; the others run
eagerly between compiled stages).
"""
import numpy as np

from .. import context, dtypes
from ..attrs import Dtype, Int, Optional, Shape
from ..errors import InvalidArgumentError
from ..ir import TensorType
from ..limits import check_allocation
from ..lowering import Kernel
from ..registry import NOT_DIFFERENTIABLE, Op, export, register
from ..tensor import as_dtype_arg, convert_to_tensor
from .indexing import located
from .shape_ops import static_shape


def _scalar_params_rule(kinds, names):
    def infer(a, b, *, shape, dtype, seed=None):
        if dtype.kind not in kinds:
            raise InvalidArgumentError(f"dtype {dtype.name} is not supported")
        for t, name in zip((a, b), names):
            if len(t.shape) or t.dtype is not dtype:
                raise InvalidArgumentError(f"{name} must be a scalar of dtype {dtype.name}, got {t}")
        check_allocation(shape, dtype)
        return TensorType(tuple(shape), dtype)
    return infer


def _uniform(state, lo, hi, *, shape, dtype, seed=None):
    rng = state.rng_for(seed)
    if dtype.is_integer:
        if not lo < hi:
            raise InvalidArgumentError(f"integer random.uniform needs minval < maxval, got minval={lo}, maxval={hi}")
        return rng.integers(lo, hi, size=shape, dtype=dtype.np)  # [lo, hi)
    # Generator.random draws float32 directly when asked: fast, and exact in the dtype.
    u = np.asarray(rng.random(shape, dtype=dtype.np), dtype=dtype.np)
    if lo == 0 and hi == 1:
        return u
    out = u * (hi - lo) + lo
    if lo < hi:
        out = np.minimum(out, np.nextafter(hi, lo))  # rounding could reach maxval: keep [minval, maxval)
    return out.astype(dtype.np, copy=False)


# shape, dtype and the op-level seed (None: the global stream); bounds, mean and stddev are inputs.
_ATTRS = {"shape": Shape(), "dtype": Dtype(), "seed": Optional(Int(), default=None)}
RANDOM_UNIFORM = register(Op("random_uniform", infer=_scalar_params_rule("fi", ("minval", "maxval")),
                             eager=_uniform, attrs=_ATTRS, stateful=True, lower=Kernel("random_uniform"),
                             doc="Uniform numbers in [minval, maxval) of the given shape and dtype."))


def _normal(state, mean, stddev, *, shape, dtype, seed=None):
    z = np.asarray(state.rng_for(seed).standard_normal(shape, dtype=dtype.np), dtype=dtype.np)
    if mean == 0 and stddev == 1:
        return z
    return (z * stddev + mean).astype(dtype.np, copy=False)


RANDOM_NORMAL = register(Op("random_normal", infer=_scalar_params_rule("f", ("mean", "stddev")), eager=_normal,
                            attrs=_ATTRS, stateful=True, lower=Kernel("random_normal"), doc="Normal numbers with the given mean and stddev."))


def _truncated_normal(state, mean, stddev, *, shape, dtype, seed=None):
    # TF's rule: a draw at 2 stddev or beyond is dropped and drawn again (not clipped), so the result is the
    # normal distribution conditioned on |z| < 2. About 4.6% of draws repeat, each round on the rejects only.
    rng = state.rng_for(seed)
    z = np.asarray(rng.standard_normal(shape, dtype=dtype.np), dtype=dtype.np)
    flat = z.reshape(-1)
    bad = np.flatnonzero(np.abs(flat) >= 2)
    while bad.size:
        flat[bad] = rng.standard_normal(bad.size, dtype=dtype.np)
        bad = bad[np.abs(flat[bad]) >= 2]
    if mean == 0 and stddev == 1:
        return z
    return (z * stddev + mean).astype(dtype.np, copy=False)


RANDOM_TRUNCATED_NORMAL = register(Op("random_truncated_normal", infer=_scalar_params_rule("f", ("mean", "stddev")),
                                      eager=_truncated_normal, attrs=_ATTRS, stateful=True,
                                      lower=Kernel("random_truncated_normal"),
                                      doc="Normal numbers within 2 stddev of the mean (others are redrawn)."))


def _op_seed(seed, where):
    """An op-level ``seed`` as an attribute: None, or a non-negative int (see State.rng_for)."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2 ** 63:
        raise InvalidArgumentError(f"{where}: seed must be None or an int in [0, 2**63), got {seed!r}")
    return int(seed)


def _param(value, dtype, what):
    return convert_to_tensor(value, dtype, what=what)


@export("random.uniform")
@located
def uniform(shape, minval=0, maxval=None, dtype=dtypes.float32, seed=None, name=None):
    """Uniform random numbers in [minval, maxval): floats (maxval defaults to 1) or ints (maxval required).

    Ops draw from the runtime's generator, whose sequence ``gj.random.set_seed`` makes reproducible; with an
    op-level ``seed`` the op has a stream of its own, fixed by (global seed, op seed) as in TF.
    """
    seed = _op_seed(seed, "random.uniform(seed)")
    dtype = as_dtype_arg(dtype, "random.uniform(dtype)")
    if dtype.is_integer and maxval is None:
        raise InvalidArgumentError(f"random.uniform: maxval must be given for integer dtype {dtype.name}")
    if dtype.is_bool:
        raise InvalidArgumentError("random.uniform: dtype bool is not supported (use float or int dtypes)")
    lo = _param(minval, dtype, "random.uniform(minval)")
    hi = _param(1 if maxval is None else maxval, dtype, "random.uniform(maxval)")
    return RANDOM_UNIFORM.bind(lo, hi, shape=static_shape(shape, "random.uniform(shape)"), dtype=dtype, seed=seed)


@export("random.normal")
@located
def normal(shape, mean=0.0, stddev=1.0, dtype=dtypes.float32, seed=None, name=None):
    """Normally distributed random numbers (float dtypes); ``seed`` as for ``uniform``."""
    return _bind_normal(RANDOM_NORMAL, "random.normal", shape, mean, stddev, dtype, seed)


@export("random.truncated_normal")
@located
def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=dtypes.float32, seed=None, name=None):
    """Normal random numbers whose draws at 2 stddev or more from the mean are redrawn, as TF's; ``seed`` as
    for ``uniform``."""
    return _bind_normal(RANDOM_TRUNCATED_NORMAL, "random.truncated_normal", shape, mean, stddev, dtype, seed)


def _bind_normal(op, where, shape, mean, stddev, dtype, seed):
    seed = _op_seed(seed, f"{where}(seed)")
    dtype = as_dtype_arg(dtype, f"{where}(dtype)")
    if not dtype.is_floating:
        raise InvalidArgumentError(f"{where}: dtype must be float32 or float64, got {dtype.name}")
    m = _param(mean, dtype, f"{where}(mean)")
    s = _param(stddev, dtype, f"{where}(stddev)")
    return op.bind(m, s, shape=static_shape(shape, f"{where}(shape)"), dtype=dtype, seed=seed)


@export("random.set_seed")
@located
def set_seed(seed):
    """Reseeds the global generator: the random numbers that follow (eager or traced) are reproducible."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise InvalidArgumentError(f"random.set_seed: seed must be a non-negative int or None, got {seed!r}")
    context.eager_context().set_seed(None if seed is None else int(seed))


# No gradient flows through a draw, to its bounds, mean or stddev either (TF's random ops are not
# differentiable; its Python wrappers scale a standard draw by ordinary ops, which graphjit's single op does
# inside: ``gj.random.normal(shape) * stddev + mean`` written out differentiates with respect to both).
for _op in (RANDOM_UNIFORM, RANDOM_NORMAL, RANDOM_TRUNCATED_NORMAL):
    _op.grad = NOT_DIFFERENTIABLE
