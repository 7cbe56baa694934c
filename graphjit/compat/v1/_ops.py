"""TF1 functions that have no TF2 name of their own in the registry, written as compositions of core ops
(so each needs no Op, lowering or gradient of its own). ``OWN`` maps TF1 dotted names to them; the
namespace builder (``_names``) puts them beside the registry's names."""
import graphjit.tracer.registry as _registry
from graphjit.tracer import dtypes
from graphjit.tracer.errors import InvalidArgumentError, UnimplementedError
from graphjit.tracer.source import with_location
from graphjit.tracer.tensor import as_dtype_arg, convert_to_tensor

OWN = {}  # TF1 dotted name -> function
API = _registry.API


def _own(*names):
    def decorate(fn):
        for name in names:
            OWN[name] = fn
        return fn
    return decorate


def _fail(error, message):
    raise error(with_location(message))


def _tensor(value, what, dtype=None):
    return convert_to_tensor(value, dtype, what=what)


# ---- casts and arithmetic TF2 dropped ----------------------------------------------------------------

def _cast_to(dtype, fn_name):
    def cast(x, name=fn_name):
        return API["cast"](x, dtype, name=name)
    cast.__name__ = cast.__qualname__ = fn_name.lower()
    cast.__doc__ = f"``cast(x, {dtype.name})`` (TF1's ``tf.{cast.__name__}``)."
    return cast


to_float = _own("to_float")(_cast_to(dtypes.float32, "ToFloat"))
to_double = _own("to_double")(_cast_to(dtypes.float64, "ToDouble"))
to_int32 = _own("to_int32")(_cast_to(dtypes.int32, "ToInt32"))
to_int64 = _own("to_int64")(_cast_to(dtypes.int64, "ToInt64"))


@_own("div")
def div(x, y, name=None):
    """TF1's Python-2 division: floor division when both operands are integers, true division otherwise."""
    xt, yt = _tensor(x, "div(x)"), _tensor(y, "div(y)")
    if (xt.dtype.is_integer or xt.dtype.is_bool) and (yt.dtype.is_integer or yt.dtype.is_bool):
        return API["floordiv"](x, y, name=name)
    return API["truediv"](x, y, name=name)


@_own("squared_difference", "math.squared_difference")
def squared_difference(x, y, name=None):
    """``(x - y) ** 2`` elementwise."""
    return API["square"](API["subtract"](x, y), name=name)


@_own("add_n", "math.add_n")
def add_n(inputs, name=None):
    """The elementwise sum of a non-empty list of tensors of one shape and dtype."""
    inputs = list(inputs)
    if not inputs:
        _fail(InvalidArgumentError, "add_n: inputs must be a non-empty list of tensors")
    tensors = [_tensor(t, f"add_n(inputs[{i}])") for i, t in enumerate(inputs)]
    for i, t in enumerate(tensors[1:], 1):
        if t.dtype is not tensors[0].dtype or tuple(t.shape) != tuple(tensors[0].shape):
            _fail(InvalidArgumentError, f"add_n: inputs[{i}] has shape {t.shape} and dtype {t.dtype.name}, but "
                                        f"inputs[0] has shape {tensors[0].shape} and dtype {tensors[0].dtype.name}: "
                                        f"all inputs must match")
    total = tensors[0]
    for t in tensors[1:-1]:
        total = API["add"](total, t)
    return API["add"](total, tensors[-1], name=name) if len(tensors) > 1 else API["identity"](total, name=name)


@_own("one_hot")
def one_hot(indices, depth, on_value=None, off_value=None, axis=None, dtype=None, name=None):
    """A new last axis of size ``depth``: ``on_value`` at each index, ``off_value`` elsewhere (an index
    outside [0, depth) gives a row of ``off_value``, as in TF)."""
    if axis not in (None, -1):
        _fail(UnimplementedError, f"one_hot: only axis=-1 is implemented, got axis={axis}")
    ids = _tensor(indices, "one_hot(indices)")
    if not ids.dtype.is_integer:
        _fail(InvalidArgumentError, f"one_hot: indices must be integers, got {ids.dtype.name}")
    dtype = as_dtype_arg(dtype, "one_hot(dtype)")
    if dtype is None:
        given = next((v for v in (on_value, off_value) if hasattr(v, "dtype")), None)
        dtype = given.dtype if given is not None else dtypes.float32
    on = _tensor(1 if on_value is None else on_value, "one_hot(on_value)", dtype)
    off = _tensor(0 if off_value is None else off_value, "one_hot(off_value)", dtype)
    hit = API["equal"](API["expand_dims"](ids, -1), API["range"](int(depth), dtype=ids.dtype))
    return API["where"](hit, on, off, name=name)


# ---- tf.nn ---------------------------------------------------------------------------------------------

def _axis(axis, dim, fn_name):
    if dim is not None and axis is not None:
        _fail(InvalidArgumentError, f"{fn_name}: cannot specify both 'axis' and 'dim'")
    return -1 if axis is None and dim is None else axis if axis is not None else dim


@_own("nn.softmax_cross_entropy_with_logits_v2")
def softmax_cross_entropy_with_logits_v2(labels, logits, axis=None, name=None, dim=None):
    """Per-example ``-sum(labels * log_softmax(logits), axis)``: ``labels`` a probability distribution
    along ``axis`` (default -1) with the logits' shape."""
    axis = _axis(axis, dim, "softmax_cross_entropy_with_logits")
    x = _tensor(logits, "softmax_cross_entropy_with_logits(logits)")
    y = _tensor(labels, "softmax_cross_entropy_with_logits(labels)", x.dtype)
    if tuple(y.shape) != tuple(x.shape):
        _fail(InvalidArgumentError, f"softmax_cross_entropy_with_logits: labels shape {y.shape} must equal logits "
                                    f"shape {x.shape}")
    log_p = API["nn.log_softmax"](x, axis=axis)
    return API["negative"](API["reduce_sum"](API["multiply"](y, log_p), axis=axis), name=name)


@_own("nn.softmax_cross_entropy_with_logits")
def softmax_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None, dim=None, name=None, axis=None):
    """As ``softmax_cross_entropy_with_logits_v2``; TF1 takes ``labels=`` and ``logits=`` by keyword only."""
    if _sentinel is not None or labels is None or logits is None:
        _fail(InvalidArgumentError, "softmax_cross_entropy_with_logits: call it with named arguments "
                                    "(labels=..., logits=...)")
    return softmax_cross_entropy_with_logits_v2(labels, logits, axis=axis, name=name, dim=dim)


@_own("nn.sigmoid_cross_entropy_with_logits")
def sigmoid_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None, name=None):
    """Elementwise ``-z*log(sigmoid(x)) - (1-z)*log(1-sigmoid(x))``, computed stably as
    ``max(x, 0) - x*z + log1p(exp(-|x|))`` (TF's formula)."""
    if _sentinel is not None or labels is None or logits is None:
        _fail(InvalidArgumentError, "sigmoid_cross_entropy_with_logits: call it with named arguments "
                                    "(labels=..., logits=...)")
    x = _tensor(logits, "sigmoid_cross_entropy_with_logits(logits)")
    z = _tensor(labels, "sigmoid_cross_entropy_with_logits(labels)", x.dtype)
    softplus_neg_abs = API["log1p"](API["exp"](API["negative"](API["abs"](x))))
    return API["add"](API["subtract"](API["maximum"](x, 0), API["multiply"](x, z)), softplus_neg_abs, name=name)


@_own("nn.bias_add")
def bias_add(value, bias, data_format=None, name=None):
    """``value + bias`` with ``bias`` a vector the size of ``value``'s last axis (NHWC)."""
    if data_format not in (None, "NHWC", "N...C"):
        _fail(UnimplementedError, f"bias_add: only the channels-last data_format is implemented, got {data_format!r}")
    v, b = _tensor(value, "bias_add(value)"), _tensor(bias, "bias_add(bias)")
    if len(b.shape) != 1 or not v.shape or (v.shape[-1] is not None and v.shape[-1] != b.shape[0]):
        _fail(InvalidArgumentError, f"bias_add: bias must be a vector of the last dimension of value; got value shape "
                                    f"{v.shape} and bias shape {b.shape}")
    return API["add"](v, b, name=name)


@_own("nn.xw_plus_b")
def xw_plus_b(x, weights, biases, name=None):
    """``matmul(x, weights) + biases``."""
    return bias_add(API["matmul"](x, weights), biases, name=name)


@_own("nn.relu6")
def relu6(features, name=None):
    """``min(max(x, 0), 6)``."""
    return API["minimum"](API["maximum"](features, 0), 6, name=name)


@_own("nn.leaky_relu")
def leaky_relu(features, alpha=0.2, name=None):
    """``x`` where positive, ``alpha * x`` elsewhere."""
    x = _tensor(features, "leaky_relu(features)")
    return API["where"](API["greater"](x, 0), x, API["multiply"](x, alpha), name=name)


@_own("nn.elu")
def elu(features, name=None):
    """``x`` where positive, ``exp(x) - 1`` elsewhere."""
    x = _tensor(features, "elu(features)")
    return API["where"](API["greater"](x, 0), x, API["expm1"](x), name=name)


@_own("nn.embedding_lookup")
def embedding_lookup(params, ids, partition_strategy="mod", name=None, validate_indices=True, max_norm=None):
    """Rows of ``params`` at ``ids`` (one unpartitioned table)."""
    if isinstance(params, (list, tuple)):
        if len(params) != 1:
            _fail(UnimplementedError, f"embedding_lookup: partitioned tables ({len(params)} shards) are not "
                                      f"implemented; pass one tensor")
        params = params[0]
    if max_norm is not None:
        _fail(UnimplementedError, "embedding_lookup: max_norm is not implemented")
    return API["gather"](params, ids, name=name)


@_own("nn.moments")
def moments(x, axes, shift=None, name=None, keep_dims=None, keepdims=None):
    """``(mean, variance)`` of ``x`` over ``axes`` (variance about the mean, as NumPy's ``var``)."""
    keep = bool(keepdims if keepdims is not None else keep_dims)
    x = _tensor(x, "moments(x)")
    kept_mean = API["reduce_mean"](x, axis=axes, keepdims=True)
    variance = API["reduce_mean"](API["square"](API["subtract"](x, kept_mean)), axis=axes, keepdims=keep)
    mean = kept_mean if keep else API["reduce_mean"](x, axis=axes)
    return mean, variance


@_own("nn.l2_normalize", "math.l2_normalize")
def l2_normalize(x, axis=None, epsilon=1e-12, name=None, dim=None):
    """``x / sqrt(max(sum(x ** 2, axis), epsilon))``."""
    if dim is not None and axis is not None:
        _fail(InvalidArgumentError, "l2_normalize: cannot specify both 'axis' and 'dim'")
    axis = axis if axis is not None else dim
    x = _tensor(x, "l2_normalize(x)")
    sums = API["reduce_sum"](API["square"](x), axis=axis, keepdims=True)
    return API["multiply"](x, API["rsqrt"](API["maximum"](sums, epsilon)), name=name)


@_own("nn.dropout")
def dropout(x, keep_prob=None, noise_shape=None, seed=None, name=None, rate=None):
    """TF1's ``tf.nn.dropout``: keeps each element with probability ``keep_prob`` (a number in (0, 1] or a
    scalar tensor) and scales the kept ones by ``1 / keep_prob``; TF1's later ``rate=`` (``1 - keep_prob``)
    is accepted instead. Positional arguments follow TF1's order, so ``dropout(x, 0.8)`` keeps 80%."""
    if (keep_prob is None) == (rate is None):
        _fail(InvalidArgumentError, "dropout: pass exactly one of keep_prob and rate" if keep_prob is not None
              else "dropout: keep_prob (or rate) is required")
    if keep_prob is not None:
        if isinstance(keep_prob, (int, float)) and not isinstance(keep_prob, bool):
            if not 0 < keep_prob <= 1:
                _fail(InvalidArgumentError, f"dropout: keep_prob must be in (0, 1], got {keep_prob!r}")
            rate = 1 - keep_prob
        else:
            rate = API["subtract"](1, keep_prob)
    return API["nn.dropout"](x, rate, noise_shape=noise_shape, seed=seed, name=name)


# ---- control flow under TF1's signatures -------------------------------------------------------------------

@_own("cond")
def cond(pred, true_fn=None, false_fn=None, strict=False, name=None, fn1=None, fn2=None):
    """TF1's ``tf.cond``: TF2's, with the old names ``fn1`` / ``fn2`` for the branches; unless ``strict``, a
    one-element list or tuple result comes back as its element (TF1's unpacking)."""
    if fn1 is not None:
        if true_fn is not None:
            _fail(InvalidArgumentError, "cond: cannot specify both 'true_fn' and 'fn1'")
        true_fn = fn1
    if fn2 is not None:
        if false_fn is not None:
            _fail(InvalidArgumentError, "cond: cannot specify both 'false_fn' and 'fn2'")
        false_fn = fn2
    result = API["cond"](pred, true_fn, false_fn, name=name)
    return result[0] if not strict and isinstance(result, (list, tuple)) and len(result) == 1 else result


@_own("while_loop")
def while_loop(cond, body, loop_vars, shape_invariants=None, parallel_iterations=10, back_prop=True,
               swap_memory=False, name=None, maximum_iterations=None, return_same_structure=False):
    """TF1's ``tf.while_loop``: TF2's, except that a single loop variable comes back bare (``[i]`` gives ``i``)
    unless ``return_same_structure``."""
    result = API["while_loop"](cond, body, loop_vars, shape_invariants=shape_invariants,
                               maximum_iterations=maximum_iterations, name=name)
    if not return_same_structure and isinstance(loop_vars, (list, tuple)) and len(loop_vars) == 1:
        return result[0]
    return result


@_own("case")
def case(pred_fn_pairs, default=None, exclusive=False, strict=False, name="case"):
    """``tf.case``: the function of the first ``(pred, fn)`` pair whose scalar bool ``pred`` holds, else
    ``default`` (the last pair's function when there is none). ``exclusive`` is not checked. Built from conds."""
    pairs = list(pred_fn_pairs.items()) if isinstance(pred_fn_pairs, dict) else list(pred_fn_pairs)
    if not pairs:
        _fail(InvalidArgumentError, "case: pred_fn_pairs is empty")
    if default is None:
        pairs, default = pairs[:-1], pairs[-1][1]

    def from_pair(k):
        if k == len(pairs):
            return default()
        pred, fn = pairs[k]
        return API["cond"](pred, fn, lambda: from_pair(k + 1))
    return from_pair(0)
