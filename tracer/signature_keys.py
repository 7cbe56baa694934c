"""Signature keys of ``gj.function`` calls: what one call's arguments are keyed by, and how keys are compared.

A key holds, per parameter, a tensor's ``(shape, dtype)``, a Python value as itself (a float by its hex), a
variable by identity, and tuples/lists/dicts by their type and their entries' keys (``_leaf_key``); the helpers
below rewrite the tensor parts of a key (reduce_retracing's skeletons and generalised keys). An input_signature's
TensorSpecs convert and check the arguments they describe before the call is keyed (``apply_input_signature``).
A call with an argument of a registered lazy array type (a Dask array) is handed to its handler instead.
"""
import numpy as np

from . import dtypes, nest
from .errors import InternalError, InvalidArgumentError
from .specs import TensorSpec, flatten_up_to_signature
from .tensor import EagerTensor, SymbolicTensor, convert_to_tensor, is_gpu_array

_TENSOR_LEAVES = (EagerTensor, SymbolicTensor, np.ndarray, np.generic)


def _leaf_key(value, tensors, path):
    """The part of the signature key for one argument; appends tensor leaves to ``tensors``."""
    kind = type(value)
    if kind is EagerTensor:
        tensors.append(value)
        v = value._value
        return (v.shape, v.dtype)
    if kind in (tuple, list) or isinstance(value, (tuple, list)):
        return (kind, tuple(_leaf_key(v, tensors, f"{path}[{i}]") for i, v in enumerate(value)))
    if isinstance(value, dict):
        return (kind, tuple((k, _leaf_key(value[k], tensors, f"{path}[{k!r}]")) for k in nest._sorted_keys(value)))
    if kind is float:
        return (float, value.hex())
    if kind in (int, bool, str) or value is None:
        return (kind, value)
    if isinstance(value, _TENSOR_LEAVES):
        tensors.append(value)
        if isinstance(value, EagerTensor):   # a DeviceTensor: keyed as its host twin (one trace, any device)
            v = value._value
            return (tuple(v.shape), v.dtype)
        if isinstance(value, SymbolicTensor):  # the trace inlines into value's graph: keyed apart from eager
            # (by its type's sizes: an enclosing trace's unknown ones are SymInts, which TensorShape shows as None)
            return (type(value), tuple(value.type.shape), value.shape.rank, value.dtype.np)
        if dtypes.from_numpy(value.dtype) is None:
            raise InvalidArgumentError(f"argument {path} has dtype {value.dtype}, which graphjit does not support")
        return (value.shape, value.dtype)
    if getattr(value, "_is_variable", False):
        return ("variable", value._ref.id)
    if is_gpu_array(value):   # a GPU array (CuPy, PyTorch, numba.cuda): a DeviceTensor of its memory
        return _leaf_key(convert_to_tensor(value, what=f"argument {path}"), tensors, path)   # no copy
    if _lazy_array_handler(value) is not None:
        raise _LazyArguments()
    try:
        hash(value)
    except TypeError:
        raise InvalidArgumentError(
            f"argument {path} is a {kind.__name__}, which is unhashable: gj.function keys its traces by the "
            f"values of non-tensor arguments. Pass a tuple, a tensor or a hashable object instead.") from None
    return (kind, value)


# Array types of other libraries whose calls are handed to an extension: {module prefix: handler(function, args,
# kwargs)}. Dask arrays are lazy: converting one would compute it, so a call with one among its arguments goes to
# graphjit.distributed (installed by the graphjit package; the core never imports Dask). Matched by the type's
# module, so no such library is imported to recognise its arrays.
_LAZY_ARRAY_HANDLERS = {}


class _LazyArguments(Exception):
    """Raised while keying a call that has an argument of a registered lazy array type."""


def install_lazy_array_handler(module_prefix, handler):
    _LAZY_ARRAY_HANDLERS[module_prefix] = handler


def _lazy_array_handler(value):
    module = type(value).__module__ or ""
    for prefix, handler in _LAZY_ARRAY_HANDLERS.items():
        if module.startswith(prefix):
            return handler
    return None


def _call_with_lazy_arrays(function, args, kwargs):
    for leaf in nest.flatten([list(args), kwargs]):
        handler = _lazy_array_handler(leaf)
        if handler is not None:
            return handler(function, args, kwargs)
    raise InternalError(f"{function.name}: a lazy array argument vanished while the call was keyed")


def _leaf_spec(leaf):
    """(shape, DType) of a TensorSpec (None dims kept) or of a tensor or array given to get_concrete_function."""
    if isinstance(leaf, TensorSpec):
        return tuple(leaf.shape), leaf.dtype
    dtype = leaf.dtype if isinstance(leaf, (EagerTensor, SymbolicTensor)) else dtypes.from_numpy(leaf.dtype)
    return tuple(leaf.shape), dtype


def _is_tensor_key(part):
    return type(part) is tuple and len(part) == 2 and type(part[0]) is tuple and isinstance(part[1], np.dtype)


def _map_key(key, on_tensor):
    """``key`` (a signature key, see _leaf_key) with each tensor part ``(shape, dtype)`` replaced by
    ``on_tensor(part)``, in flatten order."""
    def walk(part):
        if _is_tensor_key(part):
            return on_tensor(part)
        if type(part) is tuple and len(part) == 2 and isinstance(part[0], type) and type(part[1]) is tuple:
            if issubclass(part[0], dict):
                return (part[0], tuple((k, walk(v)) for k, v in part[1]))
            if issubclass(part[0], (list, tuple)):
                return (part[0], tuple(walk(v) for v in part[1]))
        return part
    return tuple(walk(p) for p in key)


def _tensor_leaves(key):
    """The (shape, NumPy dtype) of each tensor of a signature key, in flatten order."""
    found = []
    _map_key(key, found.append)
    return found


def _generalized_key(key, specs):
    """``key`` with each tensor's shape replaced by the next spec's (None dims)."""
    return _map_key(key, lambda part: (next(specs)[0], part[1]))


def _skeleton(key):
    """``key`` with each tensor's sizes left out (its rank kept): the keys reduce_retracing generalises over."""
    return _map_key(key, lambda part: ("tensor", len(part[0]), part[1]))


def _is_input(leaf):
    return isinstance(leaf, (np.ndarray, np.generic, EagerTensor, SymbolicTensor)) or is_gpu_array(leaf)


def apply_input_signature(function, values):
    """``values`` (a Function's canonical arguments) with the tensors its input_signature describes converted and
    checked. The signature's entries are the call's arguments in order, ``*args`` elements included, so a list
    given for a spec is one tensor (as in TF), never several arguments."""
    arguments = []
    for param, value in zip(function._signature.parameters.values(), values):
        if param.kind is param.VAR_POSITIONAL:
            arguments.extend(value)
        elif param.kind is not param.VAR_KEYWORD:
            arguments.append(value)
    count = len(function.input_signature)
    if len(arguments) < count:
        raise InvalidArgumentError(f"{function.name}: input_signature has {count} entries but the call passed "
                                   f"{len(arguments)} argument(s)")
    flat_values = flatten_up_to_signature(function.input_signature, arguments[:count], function.name)
    converted = []
    for i, (value, spec) in enumerate(zip(flat_values, nest.flatten(function.input_signature))):
        if _lazy_array_handler(value) is not None:   # (converting it would compute it)
            raise _LazyArguments()
        t = value if isinstance(value, (EagerTensor, SymbolicTensor)) else convert_to_tensor(
            value, spec.dtype if dtypes.is_python_scalar(value) else None, what=f"argument {i}")
        if not spec.is_compatible_with(t):
            names = function._param_names
            raise InvalidArgumentError(
                f"{function.name}: argument {i} ({spec.name or names[min(i, len(names) - 1)]})"
                f" has shape {tuple(t.shape)} and dtype {t.dtype.name}, which does not match the "
                f"input_signature {spec}")
        converted.append(t)
    arguments[:count] = nest.pack_sequence_as(list(function.input_signature), converted)
    # back into one value per parameter (the *args tuple rebuilt)
    out, k = [], 0
    for param, value in zip(function._signature.parameters.values(), values):
        if param.kind is param.VAR_POSITIONAL:
            out.append(tuple(arguments[k:k + len(value)]))
            k += len(value)
        elif param.kind is param.VAR_KEYWORD:
            out.append(value)
        else:
            out.append(arguments[k])
            k += 1
    return tuple(out)
