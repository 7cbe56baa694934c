"""TF1's variable initializers: objects called with ``(shape, dtype)`` that build the initial value's ops.

Each call builds ops (a ``zeros``, a random draw...) in the graph being built, so every session that
runs the variable's initializer computes the value anew (random ones draw from that session's
generator). ``glorot_uniform_initializer`` is ``get_variable``'s default for float variables, as in TF1.
"""
import types

import numpy as np

from graphjit.initializers import variance_scaled
from graphjit.tracer import dtypes
from graphjit.tracer.errors import InvalidArgumentError
from graphjit.tracer.registry import API
from graphjit.tracer.source import with_location
from graphjit.tracer.tensor import as_dtype_arg

from ._graph_mode import in_graph


class Initializer:
    """Base class: ``init(shape, dtype=None, partition_info=None)`` returns the initial value tensor."""

    def __init__(self, dtype=dtypes.float32):
        self.dtype = as_dtype_arg(dtype, f"{type(self).__name__}(dtype)")

    def __call__(self, shape, dtype=None, partition_info=None):
        dtype = as_dtype_arg(dtype, f"{type(self).__name__}(dtype)") or self.dtype
        return in_graph(self._build)(tuple(int(d) for d in shape), dtype)

    def _build(self, shape, dtype):
        raise NotImplementedError

    def get_config(self):
        return {k: v for k, v in vars(self).items() if k != "dtype"}

    def __repr__(self):
        config = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({config})"


def _float(dtype, who):
    if not dtype.is_floating:
        raise InvalidArgumentError(with_location(f"{who}: makes float32 or float64 values, got dtype {dtype.name}"))
    return dtype


class Zeros(Initializer):
    def _build(self, shape, dtype):
        return API["zeros"](shape, dtype)


class Ones(Initializer):
    def _build(self, shape, dtype):
        return API["ones"](shape, dtype)


class Constant(Initializer):
    """``value`` (a number, list or array) as the initial value. A list shorter than the shape is padded
    with its last element (TF1's rule); a longer one raises."""

    def __init__(self, value=0, dtype=dtypes.float32, verify_shape=False):
        super().__init__(dtype)
        self.value = value
        self.verify_shape = verify_shape

    def _build(self, shape, dtype):
        value = np.asarray(self.value, dtype=dtype.np)
        size = int(np.prod(shape, dtype=np.int64))
        if value.ndim == 0:
            return API["fill"](shape, API["constant"](value, dtype))
        if self.verify_shape and value.shape != shape:
            raise InvalidArgumentError(with_location(f"constant_initializer: value shape {value.shape} differs from "
                                                     f"the requested shape {shape} (verify_shape=True)"))
        flat = value.reshape(-1)
        if flat.size > size:
            raise InvalidArgumentError(with_location(f"constant_initializer: {flat.size} values are too many for "
                                                     f"shape {shape} ({size} elements)"))
        if flat.size < size:
            flat = np.concatenate([flat, np.full(size - flat.size, flat[-1], flat.dtype)])
        return API["constant"](flat.reshape(shape), dtype)


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=1.0, seed=None, dtype=dtypes.float32):
        super().__init__(dtype)
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def _build(self, shape, dtype):
        return API["random.normal"](shape, self.mean, self.stddev, _float(dtype, "random_normal_initializer"),
                                    seed=self.seed)


class TruncatedNormal(RandomNormal):
    def _build(self, shape, dtype):
        return API["random.truncated_normal"](shape, self.mean, self.stddev,
                                              _float(dtype, "truncated_normal_initializer"), seed=self.seed)


class RandomUniform(Initializer):
    def __init__(self, minval=0, maxval=None, seed=None, dtype=dtypes.float32):
        super().__init__(dtype)
        self.minval, self.maxval, self.seed = minval, maxval, seed

    def _build(self, shape, dtype):
        return API["random.uniform"](shape, self.minval, self.maxval, dtype, seed=self.seed)


class VarianceScaling(Initializer):
    """Values of variance ``scale / n``, ``n`` the fan in, fan out or their mean (``mode``), drawn from a
    truncated normal, a normal or a uniform distribution."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None, dtype=dtypes.float32):
        super().__init__(dtype)
        if scale <= 0:
            raise InvalidArgumentError(with_location(f"variance_scaling_initializer: scale must be positive, got "
                                                     f"{scale}"))
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise InvalidArgumentError(with_location(f"variance_scaling_initializer: mode must be fan_in, fan_out "
                                                     f"or fan_avg, got {mode!r}"))
        if distribution == "normal":  # TF1's spelling of the truncated normal
            distribution = "truncated_normal"
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise InvalidArgumentError(with_location(
                f"variance_scaling_initializer: distribution must be truncated_normal, untruncated_normal or "
                f"uniform, got {distribution!r}"))
        self.scale, self.mode, self.distribution, self.seed = scale, mode, distribution, seed

    def _build(self, shape, dtype):
        return variance_scaled(shape, _float(dtype, type(self).__name__), self.scale, self.mode,
                               self.distribution, self.seed)


class GlorotUniform(VarianceScaling):
    def __init__(self, seed=None, dtype=dtypes.float32):
        super().__init__(1.0, "fan_avg", "uniform", seed, dtype)


class GlorotNormal(VarianceScaling):
    def __init__(self, seed=None, dtype=dtypes.float32):
        super().__init__(1.0, "fan_avg", "truncated_normal", seed, dtype)


def _scaled(scale, mode, distribution):
    def make(seed=None):
        return VarianceScaling(scale, mode, distribution, seed)
    return make


# TF1 top-level names (tf.zeros_initializer()...) and the tf.initializers namespace.
TOP_LEVEL = {
    "zeros_initializer": Zeros, "ones_initializer": Ones, "constant_initializer": Constant,
    "random_normal_initializer": RandomNormal, "truncated_normal_initializer": TruncatedNormal,
    "random_uniform_initializer": RandomUniform, "variance_scaling_initializer": VarianceScaling,
    "glorot_uniform_initializer": GlorotUniform, "glorot_normal_initializer": GlorotNormal,
}

initializers = types.ModuleType("graphjit.compat.v1.initializers", "TF1's tf.initializers")
for _name, _cls in TOP_LEVEL.items():
    setattr(initializers, _name.replace("_initializer", ""), _cls)
initializers.he_normal = _scaled(2.0, "fan_in", "truncated_normal")
initializers.he_uniform = _scaled(2.0, "fan_in", "uniform")
initializers.lecun_normal = _scaled(1.0, "fan_in", "truncated_normal")
initializers.lecun_uniform = _scaled(1.0, "fan_in", "uniform")
