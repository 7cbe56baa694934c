"""The layers a training script needs, as TF2 names and means them: activations (gelu, leaky_relu, elu, silu /
swish), one_hot, dense softmax cross-entropy, moments, batch_normalization, and graphjit's functional
layer_normalization (TF has only the Keras layer).

Every function here is a composite of existing ops, so the tape differentiates it through their rules, the
passes fuse it, and no kernel of its own is needed; the only new op they use is ``erf`` (exact gelu).
"""
import math

import numpy as np

from ..dtypes import float32
from ..errors import InvalidArgumentError
from ..registry import export
from ..shapes import format_shape
from ..source import with_location
from ..tensor import as_dtype_arg, convert_to_tensor
from .elementwise import equal, erf, expm1, minimum, rsqrt, sigmoid, square, tanh, where
from .nn import log_softmax
from .reductions import normalize_reduction_axes, normalize_single_axis, reduce_mean, reduce_sum
from .shape_ops import cast, expand_dims, squeeze, stop_gradient


def _float_tensor(value, function, name):
    """``value`` as a tensor that must be float32/float64 (TF's kernels for these ops are float only)."""
    x = convert_to_tensor(value, what=f"{function}({name})")
    if not x.dtype.is_floating:
        raise InvalidArgumentError(with_location(f"{function}: {name} must be float32 or float64 (as in TF), got "
                                                 f"{x.dtype.name}; cast first"))
    return x


# ---- activations ------------------------------------------------------------------------------------------

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


@export("nn.gelu")
def gelu(features, approximate=False, name=None):
    """TF2's ``tf.nn.gelu``: ``0.5 x (1 + erf(x / sqrt(2)))``, or with ``approximate=True`` the tanh form
    ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``. Float32/float64 only."""
    x = _float_tensor(features, "gelu", "features")
    if not isinstance(approximate, (bool, np.bool_)):
        raise InvalidArgumentError(with_location(f"gelu: approximate must be True or False, got {approximate!r}"))
    if approximate:
        return 0.5 * x * (1.0 + tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))
    return 0.5 * x * (1.0 + erf(x * (1.0 / math.sqrt(2.0))))


@export("nn.leaky_relu")
def leaky_relu(features, alpha=0.2, name=None):
    """TF2's ``tf.nn.leaky_relu``: ``x`` where ``x > 0``, else ``alpha * x`` (gradient ``alpha`` at 0, as TF's).
    Integer features are cast to float32 first, as TF does."""
    x = convert_to_tensor(features, what="leaky_relu(features)")
    if x.dtype.is_bool:
        raise InvalidArgumentError(with_location("leaky_relu: features must be a number, got bool"))
    if not x.dtype.is_floating:
        x = cast(x, float32)
    if not isinstance(alpha, (int, float, np.integer, np.floating)) or isinstance(alpha, bool):
        raise InvalidArgumentError(with_location(f"leaky_relu: alpha must be a Python number, got {alpha!r}"))
    return where(x > 0.0, x, x * float(alpha))


@export("nn.elu")
def elu(features, name=None):
    """TF2's ``tf.nn.elu``: ``x`` where ``x > 0``, else ``exp(x) - 1``. Float32/float64 only."""
    x = _float_tensor(features, "elu", "features")
    # expm1 of min(x, 0): the branch where() discards stays finite, so its zero gradient does not become 0 * inf
    return where(x > 0.0, x, expm1(minimum(x, 0.0)))


@export("nn.silu", "nn.swish")
def silu(features, beta=1.0, name=None):
    """TF2's ``tf.nn.silu`` (alias ``tf.nn.swish``): ``x * sigmoid(beta * x)``. Float32/float64 only."""
    x = _float_tensor(features, "silu", "features")
    if not isinstance(beta, (int, float, np.integer, np.floating)) or isinstance(beta, bool):
        raise InvalidArgumentError(with_location(f"silu: beta must be a Python number, got {beta!r}"))
    return x * sigmoid(x if beta == 1 else x * float(beta))


# ---- one_hot ----------------------------------------------------------------------------------------------

@export("one_hot")
def one_hot(indices, depth, on_value=None, off_value=None, axis=None, dtype=None, name=None):
    """TF2's ``tf.one_hot``: a new axis of size ``depth`` at ``axis`` (default -1, the last) holding
    ``on_value`` (default 1) at each index and ``off_value`` (default 0) elsewhere; an index outside
    ``[0, depth)``, negative included, gives a row of all ``off_value``. ``indices`` are integers, ``depth`` a
    Python int; without ``dtype`` the result has on_value's dtype (else off_value's, else float32), as in TF."""
    ids = convert_to_tensor(indices, what="one_hot(indices)")
    if not ids.dtype.is_integer:
        raise InvalidArgumentError(with_location(f"one_hot: indices must be integers, got {ids.dtype.name}"))
    if not isinstance(depth, (int, np.integer)) or isinstance(depth, bool) or depth < 0:
        raise InvalidArgumentError(with_location(f"one_hot: depth must be a Python int >= 0, got {depth!r}"))
    if dtype is not None:
        out_dtype = as_dtype_arg(dtype, "one_hot(dtype)")
    elif on_value is not None:  # TF's inference: on_value's dtype (a Python 5 is int32), else off_value's
        out_dtype = convert_to_tensor(on_value, what="one_hot(on_value)").dtype
    elif off_value is not None:
        out_dtype = convert_to_tensor(off_value, what="one_hot(off_value)").dtype
    else:
        out_dtype = float32
    on = convert_to_tensor(1 if on_value is None else on_value, out_dtype, what="one_hot(on_value)")
    off = convert_to_tensor(0 if off_value is None else off_value, out_dtype, what="one_hot(off_value)")
    for value, what in ((on, "on_value"), (off, "off_value")):
        if value.shape != ():
            raise InvalidArgumentError(with_location(f"one_hot: {what} must be a scalar, got shape "
                                                     f"{format_shape(value.shape)}"))
    position = normalize_single_axis(-1 if axis is None else axis, ids.ndim + 1, "one_hot")
    # The classes along `position`, broadcast against the indices with a size-1 axis inserted there
    classes = np.arange(int(depth), dtype=ids.dtype.np).reshape((int(depth),) + (1,) * (ids.ndim - position))
    hit = equal(expand_dims(ids, position), convert_to_tensor(classes))
    return where(hit, on, off)


# ---- dense softmax cross-entropy --------------------------------------------------------------------------

@export("nn.softmax_cross_entropy_with_logits")
def softmax_cross_entropy_with_logits(labels=None, logits=None, axis=-1, name=None):
    """TF2's ``tf.nn.softmax_cross_entropy_with_logits``: ``-sum(labels * log_softmax(logits), axis)`` per
    example, stable for large logits (log_softmax shifts by the max). ``labels`` (each row a probability
    distribution) and ``logits`` share a float dtype and shape; gradients flow to both (TF2's: the logits get
    ``softmax(logits) - labels`` for rows of labels that sum to 1)."""
    what = "softmax_cross_entropy_with_logits"
    if labels is None or logits is None:
        raise InvalidArgumentError(with_location(f"{what}: pass both labels= and logits="))
    x = _float_tensor(logits, what, "logits")
    y = convert_to_tensor(labels, x.dtype, what=f"{what}(labels)")
    if tuple(y.shape) != tuple(x.shape):
        raise InvalidArgumentError(with_location(f"{what}: labels shape {format_shape(y.shape)} must equal the "
                                                 f"logits shape {format_shape(x.shape)}"))
    if x.ndim == 0:
        raise InvalidArgumentError(with_location(f"{what}: logits must have rank >= 1, got shape []"))
    class_axis = normalize_single_axis(axis, x.ndim, what)
    # 0 - sum rather than -sum: a row whose loss is 0 gives 0.0 (as TF), not -0.0
    return 0.0 - reduce_sum(y * log_softmax(x, axis=class_axis), axis=class_axis)


# ---- moments and normalization -----------------------------------------------------------------------------

@export("nn.moments")
def moments(x, axes, shift=None, keepdims=False, name=None):
    """TF2's ``tf.nn.moments``: ``(mean, variance)`` of ``x`` over ``axes`` (a list of ints), the population
    variance. As in TF the variance is the mean of ``(x - stop_gradient(mean))^2``: its derivative through the
    mean is zero anyway (the deviations sum to 0), so the backward pass skips that path. ``shift`` is unused,
    as in TF2."""
    t = _float_tensor(x, "moments", "x")
    if axes is None or isinstance(axes, (bool, np.bool_)):
        raise InvalidArgumentError(with_location(f"moments: axes must be a list of ints, got {axes!r}"))
    reduced = normalize_reduction_axes(axes, t.ndim, "moments")
    mean = reduce_mean(t, reduced, keepdims=True)
    variance = reduce_mean(square(t - stop_gradient(mean)), reduced, keepdims=True)
    if keepdims:
        return mean, variance
    return squeeze(mean, reduced), squeeze(variance, reduced)


@export("nn.batch_normalization")
def batch_normalization(x, mean, variance, offset, scale, variance_epsilon, name=None):
    """TF2's ``tf.nn.batch_normalization``: ``scale * (x - mean) / sqrt(variance + variance_epsilon) +
    offset``, with ``offset`` / ``scale`` None meaning 0 / 1; all broadcast against ``x``. Computed as TF
    does, ``x * inv + (offset - mean * inv)`` with ``inv = scale * rsqrt(variance + epsilon)``."""
    what = "batch_normalization"
    t = _float_tensor(x, what, "x")
    m = convert_to_tensor(mean, t.dtype, what=f"{what}(mean)")
    v = convert_to_tensor(variance, t.dtype, what=f"{what}(variance)")
    if not isinstance(variance_epsilon, (int, float, np.integer, np.floating)) or isinstance(variance_epsilon, bool) \
            or not variance_epsilon >= 0:
        raise InvalidArgumentError(with_location(f"{what}: variance_epsilon must be a number >= 0, got "
                                                 f"{variance_epsilon!r}"))
    inv = rsqrt(v + float(variance_epsilon))
    if scale is not None:
        inv = inv * convert_to_tensor(scale, t.dtype, what=f"{what}(scale)")
    shift = -m * inv if offset is None else convert_to_tensor(offset, t.dtype, what=f"{what}(offset)") - m * inv
    return t * inv + shift


@export("nn.layer_normalization")
def layer_normalization(x, axis=-1, epsilon=1e-3, gamma=None, beta=None, name=None):
    """graphjit's functional layer normalization (TF has it only as ``tf.keras.layers.LayerNormalization``,
    whose defaults these are): ``x`` normalized to mean 0 and variance 1 over ``axis`` (an int or a list of
    ints), each example on its own, then ``* gamma + beta`` (None: 1 and 0), which broadcast against ``x``
    (for the default last axis: shape ``[features]``)."""
    t = _float_tensor(x, "layer_normalization", "x")
    axes = [axis] if isinstance(axis, (int, np.integer)) and not isinstance(axis, bool) else axis
    mean, variance = moments(t, axes, keepdims=True)
    return batch_normalization(t, mean, variance, beta, gamma, epsilon)
