"""gj.initializers: Keras's weight initializers as callables ``init(shape, dtype=gj.float32) -> Tensor``.

``gj.Variable(gj.initializers.glorot_uniform(seed=1)((784, 256)))`` makes a layer's weights. The fans are
Keras's: a vector's fan_in and fan_out are its length, a matrix ``(in, out)`` has ``in`` and ``out``, and a
convolution kernel ``(..., in, out)`` multiplies both by its receptive field (the product of the leading dims).

Draws go through ``gj.random`` with the initializer's ``seed`` as the op seed, so a seeded initializer gives the
same values from run to run (the stream is fixed by the global seed and ``seed``, as TF's seeded random ops);
each call continues that stream, so two layers initialised by one seeded initializer differ.
"""
import math

from graphjit.tracer.dtypes import float32
from graphjit.tracer.errors import InvalidArgumentError
from graphjit.tracer.ops import creation, random
from graphjit.tracer.ops.shape_ops import static_shape
from graphjit.tracer.tensor import as_dtype_arg

# The stddev of a standard normal truncated to (-2, 2): a truncated draw's parameter is divided by it so the
# draws have the intended stddev (Keras's and TF1's rule).
TRUNCATED_NORMAL_STDDEV = 0.87962566103423978


def fans(shape):
    """(fan_in, fan_out) as TF and Keras compute them: a conv kernel's receptive field multiplies both."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def variance_scaled(shape, dtype, scale, mode, distribution, seed):
    """Values of variance ``scale / n``, ``n`` the fan in, the fan out or their mean (``mode``: "fan_in",
    "fan_out", "fan_avg"), drawn from a "uniform", "truncated_normal" or "untruncated_normal" distribution
    (VarianceScaling, which this module's and compat.v1's initializers are made of). ``dtype`` is a float dtype."""
    fan_in, fan_out = fans(shape)
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[mode]
    variance = scale / max(1.0, n)
    if distribution == "uniform":
        limit = math.sqrt(3.0 * variance)
        return random.uniform(shape, -limit, limit, dtype=dtype, seed=seed)
    if distribution == "truncated_normal":
        stddev = math.sqrt(variance) / TRUNCATED_NORMAL_STDDEV
        return random.truncated_normal(shape, 0.0, stddev, dtype=dtype, seed=seed)
    return random.normal(shape, 0.0, math.sqrt(variance), dtype=dtype, seed=seed)


class _Initializer:
    """Checks ``shape`` and ``dtype`` and hands them to ``_draw``; the name says which initializer failed."""
    name = ""

    def __call__(self, shape, dtype=float32):
        shape = static_shape(shape, f"initializers.{self.name}(shape)")
        dtype = as_dtype_arg(dtype, f"initializers.{self.name}(dtype)")
        return self._draw(shape, dtype)

    def __repr__(self):
        return f"gj.initializers.{self.name}()"


class _SeededFloatInitializer(_Initializer):
    def __init__(self, seed=None):
        random._op_seed(seed, f"initializers.{self.name}(seed)")  # the same check gj.random makes, now
        self.seed = seed

    def __call__(self, shape, dtype=float32):
        dtype = as_dtype_arg(dtype, f"initializers.{self.name}(dtype)")
        if not dtype.is_floating:
            raise InvalidArgumentError(f"initializers.{self.name}: dtype must be float32 or float64, got "
                                       f"{dtype.name}")
        return super().__call__(shape, dtype)

    def __repr__(self):
        return f"gj.initializers.{self.name}(seed={self.seed!r})"


class glorot_uniform(_SeededFloatInitializer):  # noqa: N801  (Keras's name)
    """Uniform in ``[-limit, limit)`` with ``limit = sqrt(6 / (fan_in + fan_out))`` (Keras's GlorotUniform)."""
    name = "glorot_uniform"

    def _draw(self, shape, dtype):
        return variance_scaled(shape, dtype, 1.0, "fan_avg", "uniform", self.seed)


class he_normal(_SeededFloatInitializer):  # noqa: N801
    """Truncated normal (within 2 stddev) whose draws have stddev ``sqrt(2 / fan_in)`` (Keras's HeNormal)."""
    name = "he_normal"

    def _draw(self, shape, dtype):
        return variance_scaled(shape, dtype, 2.0, "fan_in", "truncated_normal", self.seed)


class zeros(_Initializer):  # noqa: N801
    """All zeros, of any dtype (Keras's Zeros)."""
    name = "zeros"

    def _draw(self, shape, dtype):
        return creation.zeros(shape, dtype=dtype)
