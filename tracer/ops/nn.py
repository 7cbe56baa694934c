"""Neural-network ops: softmax, log_softmax, sparse_softmax_cross_entropy_with_logits, l2_loss, dropout.

As in TF, these take float32/float64 only: int and bool logits are rejected (cast first) rather than
promoted to float64 as NumPy would. All subtract the max along the class axis before ``exp``, so large
logits do not overflow; -inf logits get probability 0, and a row that is all -inf (or holds +inf or NaN)
gives NaN, as in TF.
"""
import numpy as np

from ..attrs import Axis
from ..dtypes import int32, int64
from ..errors import InvalidArgumentError
from ..ir import TensorType
from ..lowering import Kernel
from ..registry import OPS, Op, export, register
from ..shapes import format_shape
from ..source import with_location
from ..tensor import convert_to_tensor
from .elementwise import multiply, square
from .reductions import normalize_single_axis, reduce_sum


def _require_float(name, what, dtype):
    if not dtype.is_floating:
        raise InvalidArgumentError(f"{name} takes float32 or float64 {what} (as TF does), got {dtype.name}; "
                                   f"cast first")


def _shifted(x, axis):
    """``x - max(x, axis)``: initial=-inf lets empty axes through (their results are empty anyway)."""
    return x - np.max(x, axis=axis, keepdims=True, initial=-np.inf)


def _softmax(x, *, axis):
    with np.errstate(all="ignore"):  # -inf - -inf = NaN is the intended all -inf result
        e = np.exp(_shifted(x, axis))
        return e / np.sum(e, axis=axis, keepdims=True)


def _log_softmax(x, *, axis):
    with np.errstate(all="ignore"):
        shifted = _shifted(x, axis)
        return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def _along_axis_rule(name):
    def infer(logits, *, axis):
        _require_float(name, "logits", logits.dtype)
        if not 0 <= axis < len(logits.shape):
            raise InvalidArgumentError(f"axis={axis} is out of range for logits of shape {format_shape(logits.shape)}")
        return logits
    return infer


SOFTMAX = register(Op("softmax", infer=_along_axis_rule("softmax"), eager=_softmax, attrs={"axis": Axis()},
                      doc="exp(x) / sum(exp(x)) along ``axis``, computed stably."))
LOG_SOFTMAX = register(Op("log_softmax", infer=_along_axis_rule("log_softmax"), eager=_log_softmax,
                          attrs={"axis": Axis()},
                          doc="x - logsumexp(x) along ``axis``, computed stably."))


def _public_softmax(op, names, summary):
    def public(logits, axis=None, name=None):
        x = convert_to_tensor(logits, what=f"{op.name}(logits)")
        if not x.dtype.is_floating:  # before the axis check, so a scalar int names the dtype problem
            raise InvalidArgumentError(with_location(f"{op.name}: takes float32 or float64 logits (as TF does), "
                                                     f"got {x.dtype.name}; cast first"))
        return op.bind(x, axis=normalize_single_axis(-1 if axis is None else axis, x.ndim, op.name))
    public.__name__ = op.name
    public.__doc__ = (f"{summary} along ``axis`` (default -1). Float32/float64 only: int and bool logits raise "
                      f"InvalidArgumentError (TF's behaviour; NumPy would promote them to float64).")
    return export(*names)(public)


softmax = _public_softmax(SOFTMAX, ("nn.softmax", "math.softmax"), "Softmax")
log_softmax = _public_softmax(LOG_SOFTMAX, ("nn.log_softmax", "math.log_softmax"), "Log-softmax")


# ---- sparse softmax cross-entropy ------------------------------------------------------------------------

def _xent_infer(labels, logits):
    _require_float("sparse_softmax_cross_entropy_with_logits", "logits", logits.dtype)
    if labels.dtype not in (int32, int64):
        raise InvalidArgumentError(f"labels must be int32 or int64 class indices, got {labels.dtype.name}")
    if not logits.shape:
        raise InvalidArgumentError("logits must have rank >= 1 (the last axis holds the classes), got shape []")
    if tuple(labels.shape) != tuple(logits.shape[:-1]):
        raise InvalidArgumentError(
            f"labels shape {format_shape(labels.shape)} must equal the logits shape {format_shape(logits.shape)} "
            f"without its last (class) axis, {format_shape(logits.shape[:-1])}")
    return TensorType(tuple(labels.shape), logits.dtype)


def _xent(labels, logits):
    classes = logits.shape[-1]
    bad = (labels < 0) | (labels >= classes)
    if bad.any():  # a data-dependent check, so it happens at run time (eager, or when the graph runs)
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise InvalidArgumentError(f"label {int(labels[index])} at index {list(index)} is outside the valid "
                                   f"range [0, {classes}) for {classes} classes")
    negative_log_p = -_log_softmax(logits, axis=-1)
    picked = np.take_along_axis(negative_log_p, labels[..., None].astype(np.intp), axis=-1)
    return picked.reshape(labels.shape)


SPARSE_XENT = register(Op("sparse_softmax_cross_entropy_with_logits", infer=_xent_infer, eager=_xent, attrs={},
                          doc="-log_softmax(logits)[..., label] per example; labels must be in [0, classes)."))


@export("nn.sparse_softmax_cross_entropy_with_logits")
def sparse_softmax_cross_entropy_with_logits(labels=None, logits=None, name=None):
    """Per-example cross-entropy ``-log(softmax(logits)[label])`` (TF keyword signature).

    ``labels``: int32/int64 class indices with shape ``logits.shape[:-1]``; a label outside
    ``[0, classes)`` raises InvalidArgumentError when the op runs. ``logits``: float32/float64 (ints are
    rejected, as in TF). The result has the labels' shape and the logits' dtype.
    """
    if labels is None or logits is None:
        raise InvalidArgumentError(with_location("sparse_softmax_cross_entropy_with_logits: pass both labels= "
                                                 "and logits="))
    y = convert_to_tensor(labels, what="sparse_softmax_cross_entropy_with_logits(labels)")
    x = convert_to_tensor(logits, what="sparse_softmax_cross_entropy_with_logits(logits)")
    return SPARSE_XENT.bind(y, x)


# ---- l2_loss: a composite of other ops, so it needs no Op (or lowering, or gradient) of its own ----------

@export("nn.l2_loss")
def l2_loss(t, name=None):
    """``sum(t ** 2) / 2`` as a scalar of ``t``'s dtype; float32/float64 only (as in TF)."""
    x = convert_to_tensor(t, what="l2_loss(t)")
    if not x.dtype.is_floating:
        raise InvalidArgumentError(with_location(f"l2_loss: takes float32 or float64 tensors (as TF does), got "
                                                 f"{x.dtype.name}; cast first"))
    return multiply(reduce_sum(square(x)), 0.5)  # the weak 0.5 keeps the dtype


# ---- dropout: a composite (a uniform draw, a comparison, a select) ---------------------------------------

@export("nn.dropout")
def dropout(x, rate, noise_shape=None, seed=None, name=None, *, training=True):
    """TF2's ``tf.nn.dropout``: each element (or each slice along the broadcast dims of ``noise_shape``) is
    zeroed with probability ``rate`` and the others are scaled by ``1 / (1 - rate)``, so the expectation is
    unchanged. ``rate`` is a Python number in [0, 1) or a scalar tensor; ``seed`` an op-level seed (see
    ``gj.random.uniform``). Dropped elements are exactly 0, NaN and inf included (a select, not a product).

    ``training`` (keyword-only, Keras's ``Dropout(...)(x, training=...)``): a Python bool, or a scalar bool
    tensor. ``False`` returns ``x`` itself and draws nothing. A tensor selects between the dropped and the
    unchanged ``x`` (``where``), so one trace serves both modes; the uniform draw then happens either way
    (the random stream advances in both modes), and the gradient is ``mask / (1 - rate)`` in training and
    ones otherwise."""
    from .creation import zeros_like
    from .elementwise import greater_equal, where
    from .random import uniform
    from .shape_ops import broadcast_to
    x = convert_to_tensor(x, what="dropout(x)")
    if not x.dtype.is_floating:
        raise InvalidArgumentError(with_location(f"dropout: x must be float32 or float64, got {x.dtype.name}"))
    training = _training_flag(training)
    python_rate = isinstance(rate, (int, float, np.integer, np.floating)) and not isinstance(rate, bool)
    if python_rate and not 0 <= rate < 1:
        raise InvalidArgumentError(with_location(f"dropout: rate must be in [0, 1), got {rate!r}"))
    if training is False or (python_rate and rate == 0):
        return x
    rate = convert_to_tensor(rate, x.dtype, what="dropout(rate)")
    if rate.shape != ():
        raise InvalidArgumentError(with_location(f"dropout: rate must be a scalar, got shape {format_shape(rate.shape)}"))
    shape = tuple(x.shape) if noise_shape is None else _noise_shape(noise_shape, tuple(x.shape))
    keep = greater_equal(uniform(shape, dtype=x.dtype, seed=seed), rate)
    if shape != tuple(x.shape):
        keep = broadcast_to(keep, tuple(x.shape))
    dropped = where(keep, x * (1 / (1 - rate)), zeros_like(x))
    return dropped if training is True else where(training, dropped, x)


def _training_flag(training):
    """``training`` as True, False, or a scalar bool tensor (eager or symbolic)."""
    if isinstance(training, (bool, np.bool_)):
        return bool(training)
    if isinstance(training, (int, float, str, np.number)) or training is None:
        raise InvalidArgumentError(with_location(f"dropout: training must be a Python bool or a scalar bool "
                                                 f"tensor, got {training!r}"))
    flag = convert_to_tensor(training, what="dropout(training)")
    if flag.dtype.name != "bool" or tuple(flag.shape) != ():
        raise InvalidArgumentError(with_location(
            f"dropout: training must be a Python bool or a scalar bool tensor, got a {flag.dtype.name} tensor "
            f"of shape {format_shape(flag.shape)}"))
    return flag


def _noise_shape(noise_shape, x_shape):
    from .shape_ops import static_shape
    shape = static_shape(noise_shape, "dropout(noise_shape)")
    if len(shape) != len(x_shape) or any(n not in (1, d) for n, d in zip(shape, x_shape)):
        raise InvalidArgumentError(with_location(
            f"dropout: noise_shape {format_shape(shape)} must have x's rank and each dim 1 or x's dim "
            f"{format_shape(x_shape)}"))
    return shape


# Softmax along the last axis compiles to a row kernel (max, exp-sum, scale), two passes over memory.
SOFTMAX.lower = Kernel("softmax")
LOG_SOFTMAX.lower = Kernel("log_softmax")
SPARSE_XENT.lower = Kernel("sparse_xent")  # a row kernel; labels are checked in it (the runner raises)


# ---- gradients (tracer.autodiff), in the stable forms: no exp of unshifted logits -------------------------

def _softmax_grad(g, y, x, *, axis):
    return (y * (g - reduce_sum(g * y, axis=axis, keepdims=True)),)


def _log_softmax_grad(g, y, x, *, axis):
    return (g - OPS["exp"].bind(y) * reduce_sum(g, axis=axis, keepdims=True),)


def _xent_grad(g, y, labels, logits):
    """d/dlogits of -log_softmax(logits)[label] = softmax(logits) - one_hot(label); labels get none."""
    classes = logits.shape[-1]
    probabilities = SOFTMAX.bind(logits, axis=len(logits.shape) - 1)
    picked = OPS["equal"].bind(OPS["expand_dims"].bind(labels, axis=len(labels.shape)),
                               convert_to_tensor(np.arange(classes, dtype=labels.dtype.np)))
    one_hot = OPS["cast"].bind(picked, dtype=logits.dtype)
    return None, OPS["expand_dims"].bind(g, axis=len(g.shape)) * (probabilities - one_hot)


SOFTMAX.grad = _softmax_grad
LOG_SOFTMAX.grad = _log_softmax_grad
SPARSE_XENT.grad = _xent_grad
