"""Convolution, pooling and top_k as composites of existing ops (no Op of their own).

conv2d is im2col + gemm: the input is padded (``concat`` with a constant border), each of the fh * fw filter
taps is one strided slice (``getitem``), the taps are concatenated along channels into patches
[batch, out_h, out_w, fh * fw * in_c], and one ``matmul`` against the filters reshaped to
[fh * fw * in_c, out_c] gives the result. Average pooling stacks the same strided windows and sums them; max
pooling combines them with ``maximum`` and picks the first maximum of each window with a chain of ``where``
(TF's MaxPoolGrad routing; see max_pool2d). So the gradients are those of concat/getitem/matmul/reduce_sum/
where, and the compiled gemm is the one matmul already uses.

Shapes follow TF (NHWC only): "VALID" keeps the windows that fit, out = (in - window) // stride + 1; "SAME"
gives out = ceil(in / stride) with a total padding of max((out - 1) * stride + window - in, 0), the odd
element going to the bottom/right, as TF does. Shapes must be fully known while tracing.
"""
import collections

import numpy as np

from ..errors import InvalidArgumentError, UnimplementedError
from ..registry import export
from ..shapes import format_shape
from ..tensor import convert_to_tensor
from .creation import fill
from .indexing import gather, located
from .linalg import matmul
from .reductions import reduce_max, reduce_sum
from .scan import argsort
from .shape_ops import concat, reshape, stack

_DIMS = "[batch, height, width, channels]"


def _float_nhwc(value, what, op_name):
    x = convert_to_tensor(value, what=f"{op_name}({what})")
    if len(x.shape) != 4:
        raise InvalidArgumentError(f"{op_name}: {what} must have rank 4 {_DIMS} (NHWC), got shape "
                                   f"{format_shape(x.shape)}")
    if not x.dtype.is_floating:
        raise InvalidArgumentError(f"{op_name}: {what} must be float32 or float64, got {x.dtype.name}")
    if any(d is None for d in tuple(x.shape)):
        raise UnimplementedError(f"{op_name}: {what}'s shape must be known while tracing, got "
                                 f"{format_shape(x.shape)}")
    return x


def _check_data_format(data_format, op_name):
    if data_format != "NHWC":
        raise UnimplementedError(f"{op_name}: data_format={data_format!r} is not supported (only 'NHWC')")


def _check_padding(padding, op_name):
    if padding not in ("SAME", "VALID"):
        raise InvalidArgumentError(f"{op_name}: padding must be 'SAME' or 'VALID', got {padding!r}")


def _spatial(value, what, op_name):
    """TF's forms of strides/ksize/dilations: an int, or a list of 1, 2 or 4 ints ([1, h, w, 1] in NHWC, whose
    batch and channel entries must be 1) -> (h, w)."""
    values = [value] if isinstance(value, (int, np.integer)) else list(value)
    if len(values) == 4:
        if values[0] != 1 or values[3] != 1:
            raise InvalidArgumentError(f"{op_name}: {what}={value!r} must be 1 in the batch and channel "
                                       f"dimensions (NHWC)")
        values = values[1:3]
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1
                               for v in values):
        raise InvalidArgumentError(f"{op_name}: {what} must be a positive int or a list of 1, 2 or 4 positive "
                                   f"ints, got {value!r}")
    return int(values[0]), int(values[1])


def _output_and_padding(size, window, stride, padding, op_name, in_shape, window_shape):
    """(out, pad_before, pad_after) along one spatial dimension, TF's rule."""
    if padding == "VALID":
        if size < window:
            raise InvalidArgumentError(f"{op_name}: with padding 'VALID' the window {window_shape} does not fit "
                                       f"in the input of shape {format_shape(in_shape)}")
        return (size - window) // stride + 1, 0, 0
    out = -(-size // stride)
    total = max((out - 1) * stride + window - size, 0)
    return out, total // 2, total - total // 2


def _padded(x, pads, value):
    """``x`` with a border of ``value`` (rows pads[0] above/below, columns pads[1] left/right), by concat."""
    batch, height, width, channels = x.shape
    (top, bottom), (left, right) = pads
    if top or bottom:
        border = [fill([batch, n, width, channels], x.dtype.np.type(value)) for n in (top, bottom)]
        x = concat([border[0], x, border[1]], axis=1)
        height += top + bottom
    if left or right:
        border = [fill([batch, height, n, channels], x.dtype.np.type(value)) for n in (left, right)]
        x = concat([border[0], x, border[1]], axis=2)
    return x


def _windows(x, window, strides, padding, op_name, fill_value):
    """The window positions as strided slices of the padded input, each [batch, out_h, out_w, channels], in
    row-major (tap row, tap column) order, and the per-dimension (out, pad_before, pad_after)."""
    (kh, kw), (sh, sw) = window, strides
    in_shape = tuple(x.shape)
    rows = _output_and_padding(in_shape[1], kh, sh, padding, op_name, in_shape, list(window))
    cols = _output_and_padding(in_shape[2], kw, sw, padding, op_name, in_shape, list(window))
    padded = _padded(x, (rows[1:], cols[1:]), fill_value)
    taps = [padded[:, i:i + (rows[0] - 1) * sh + 1:sh, j:j + (cols[0] - 1) * sw + 1:sw, :]
            for i in range(kh) for j in range(kw)]
    return taps, rows, cols


@export("nn.conv2d")
@located
def conv2d(input, filters, strides, padding, data_format="NHWC", dilations=None, name=None):  # noqa: A002
    """TF's ``conv2d`` (a cross-correlation): ``input`` [batch, h, w, in_c], ``filters`` [fh, fw, in_c, out_c],
    both float32 or float64 of one dtype; ``strides`` an int or a list of 1, 2 or 4; ``padding`` "SAME" or
    "VALID". Only NHWC and dilations 1."""
    op_name = "conv2d"
    _check_data_format(data_format, op_name)
    _check_padding(padding, op_name)
    if dilations is not None and _spatial(dilations, "dilations", op_name) != (1, 1):
        raise UnimplementedError(f"conv2d: dilations={dilations!r} are not supported (only 1)")
    x = _float_nhwc(input, "input", op_name)
    w = convert_to_tensor(filters, what="conv2d(filters)")
    if len(w.shape) != 4 or any(d is None for d in tuple(w.shape)):
        raise InvalidArgumentError(f"conv2d: filters must have a known rank-4 shape [filter_height, filter_width, "
                                   f"in_channels, out_channels], got shape {format_shape(w.shape)}")
    if w.dtype != x.dtype:
        raise InvalidArgumentError(f"conv2d: filters ({w.dtype.name}) must have the input's dtype "
                                   f"({x.dtype.name})")
    fh, fw, in_c, out_c = tuple(w.shape)
    if in_c != x.shape[3]:
        raise InvalidArgumentError(f"conv2d: filters of shape {format_shape(w.shape)} take {in_c} input channels "
                                   f"but the input of shape {format_shape(x.shape)} has {x.shape[3]}")
    taps, rows, cols = _windows(x, (fh, fw), _spatial(strides, "strides", op_name), padding, op_name, 0)
    # Channels vary fastest within a tap, taps row-major: the order of filters reshaped to [fh * fw * in_c, -1].
    patches = taps[0] if len(taps) == 1 else concat(taps, axis=3)
    batch, positions = x.shape[0], rows[0] * cols[0]
    flat = matmul(reshape(patches, [batch * positions, fh * fw * in_c]), reshape(w, [fh * fw * in_c, out_c]))
    return reshape(flat, [batch, rows[0], cols[0], out_c])


def _pool_arguments(input, ksize, strides, padding, data_format, op_name):  # noqa: A002
    _check_data_format(data_format, op_name)
    _check_padding(padding, op_name)
    x = _float_nhwc(input, "input", op_name)
    return x, _spatial(ksize, "ksize", op_name), _spatial(strides, "strides", op_name)


@export("nn.max_pool2d")
@located
def max_pool2d(input, ksize, strides, padding, data_format="NHWC", name=None):  # noqa: A002
    """TF's ``max_pool2d`` over NHWC float input; "SAME" padding never wins (it is -inf, and is never picked
    even where the window's maximum is an input -inf). A window holding a NaN gives NaN.

    Ties: the result is the window's *first* maximum in row-major window order (the first NaN, if any), and
    its whole gradient goes there, as TF's MaxPoolGrad does; overlapping windows add up. It is built that way:
    ``best`` is the maximum of the windows' taps (strided views of the padded input, combined with
    ``maximum``), which only feeds comparisons, and the result is the chain
    ``where(first_is_best, tap0, where(second_is_best, tap1, ... last tap))``, whose gradient (``where``'s)
    reaches exactly the tap it selected. Compiled, the forward is one fused loop over the output reading the
    padded input through index maps; the gradient is one fused loop of the where-chain's gradients and one
    ``scatter_add`` per tap (getitem's adjoint), chained by the optimizer into one buffer: one strided loop per
    tap adding into it in place."""
    from .elementwise import equal, logical_and, logical_or, maximum, not_equal, where
    x, window, strides = _pool_arguments(input, ksize, strides, padding, data_format, "max_pool2d")
    taps, rows, cols = _windows(x, window, strides, padding, "max_pool2d", -np.inf)
    if len(taps) == 1:
        return taps[0]
    best = taps[0]
    for tap in taps[1:]:
        best = maximum(best, tap)
    inside = _taps_inside(x.shape[1:3], window, strides, rows, cols)
    result = taps[-1]   # reached only where no earlier tap is the maximum: then the last is, and is an input
    for k in range(len(taps) - 2, -1, -1):
        picked = logical_or(equal(taps[k], best), not_equal(taps[k], taps[k]))
        if inside[k] is not None:
            picked = logical_and(picked, convert_to_tensor(inside[k]))
        result = where(picked, taps[k], result)
    return result


def _taps_inside(size, window, strides, rows, cols):
    """Per tap (row-major), a bool [1, out_h, out_w, 1] array of the output positions where the tap reads the
    input rather than padding, or None where it always does."""
    def along(n, k, stride, spec):
        out, before, _ = spec
        at = np.arange(out) * stride - before
        return [(at + a >= 0) & (at + a < n) for a in range(k)]
    inside_rows = along(size[0], window[0], strides[0], rows)
    inside_cols = along(size[1], window[1], strides[1], cols)
    masks = []
    for r in inside_rows:
        for c in inside_cols:
            mask = np.logical_and.outer(r, c)
            masks.append(None if mask.all() else mask.reshape(1, rows[0], cols[0], 1))
    return masks


def _valid_counts(size, window, stride, spec):
    """How many input elements (not padding) each output position's window covers along one dimension."""
    out, before, _ = spec
    starts = np.arange(out) * stride - before
    return np.minimum(starts + window, size) - np.maximum(starts, 0)


@export("nn.avg_pool2d")
@located
def avg_pool2d(input, ksize, strides, padding, data_format="NHWC", name=None):  # noqa: A002
    """TF's ``avg_pool2d`` over NHWC float input; with "SAME" padding each window's sum is divided by the
    number of input elements in it, not counting padding (as TF does)."""
    x, window, strides = _pool_arguments(input, ksize, strides, padding, data_format, "avg_pool2d")
    taps, rows, cols = _windows(x, window, strides, padding, "avg_pool2d", 0)
    total = taps[0] if len(taps) == 1 else reduce_sum(stack(taps, axis=0), axis=0)
    counts = np.multiply.outer(_valid_counts(x.shape[1], window[0], strides[0], rows),
                               _valid_counts(x.shape[2], window[1], strides[1], cols))
    return total / convert_to_tensor(counts.reshape(1, rows[0], cols[0], 1).astype(x.dtype.np))


# ---- top_k ------------------------------------------------------------------------------------------------

TopKV2 = collections.namedtuple("TopKV2", ["values", "indices"])


@export("math.top_k", "nn.top_k")
@located
def top_k(input, k=1, sorted=True, name=None):  # noqa: A002
    """TF's ``top_k``: the ``k`` largest entries along the last axis, largest first, and their int32 indices;
    of equal values the lower index comes first. A stable descending argsort, its first ``k`` columns, and a
    gather of those positions from the flattened input, so ``values`` is differentiable (gather's gradient)
    and ``indices`` is not. ``sorted=False`` is accepted and also gives sorted results (TF leaves the order
    unspecified)."""
    x = convert_to_tensor(input, what="top_k(input)")
    if len(x.shape) == 0:
        raise InvalidArgumentError("top_k: input must have rank >= 1, got a scalar")
    if any(d is None for d in tuple(x.shape)):
        raise UnimplementedError(f"top_k: the input's shape must be known while tracing, got "
                                 f"{format_shape(x.shape)}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise UnimplementedError(f"top_k: k must be a Python int, got {k!r}")
    n = x.shape[-1]
    if not 0 <= k <= n:
        raise InvalidArgumentError(f"top_k: k={k} must be in [0, {n}] for input of shape {format_shape(x.shape)}")
    indices = argsort(x, axis=-1, direction="DESCENDING", stable=True)[..., :k]
    # Each row's positions shifted by the row's offset in the flattened input: one gather along axis 0.
    leading = tuple(x.shape[:-1])
    row_offsets = (np.arange(int(np.prod(leading, dtype=np.int64)), dtype=np.int32) * n).reshape(leading + (1,))
    values = gather(reshape(x, [-1]), indices + convert_to_tensor(row_offsets))
    return TopKV2(values, indices)
