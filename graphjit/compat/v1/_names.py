"""compat.v1's op names, built from the registry's public API table (the TF2 names, ``registry.API``)
plus a few tables of what TF1 spelled differently. Nothing here copies a function by hand: a new op
exported under a TF2 name appears under the same name in compat.v1 (in graph mode, with TF1's old
argument names accepted).
"""
import fnmatch
import inspect
import sys
import types

from graphjit.tracer import dtypes as _dtypes
from graphjit.tracer.errors import InvalidArgumentError
from graphjit.tracer.registry import API
from graphjit.tracer.source import with_location

from ._graph_mode import in_graph
from ._ops import OWN

NAMESPACES = ("math", "nn", "random", "linalg", "bitwise", "dtypes")

# TF1 names of registry functions that TF2 moved or renamed: TF1 name -> TF2 dotted name.
ALIASES = {
    "random_normal": "random.normal",
    "random_uniform": "random.uniform",
    "truncated_normal": "random.truncated_normal",
    "arg_max": "argmax",
    "arg_min": "argmin",
    "realdiv": "truediv",
    "matrix_transpose": "linalg.transpose",
    "nn.tanh": "tanh",
}

# TF1 had tf.math's functions at the top level as well (tf.is_nan, tf.floormod, tf.log_sigmoid...):
# every "math.X" is also "X" unless the top level has its own X.
PROMOTED_PREFIXES = ("math",)

# TF1 argument names that TF2 renamed, by the functions' short names: {pattern: {old: new}}.
OLD_ARGUMENTS = {
    "reduce_*": {"reduction_indices": "axis", "keep_dims": "keepdims"},
    "norm": {"keep_dims": "keepdims"},
    "argmax": {"dimension": "axis"},
    "argmin": {"dimension": "axis"},
    "softmax": {"dim": "axis"},
    "log_softmax": {"dim": "axis"},
    "expand_dims": {"dim": "axis"},
    "squeeze": {"squeeze_dims": "axis"},
}

DTYPES = {"float32": _dtypes.float32, "float64": _dtypes.float64, "double": _dtypes.float64,
          "int32": _dtypes.int32, "int64": _dtypes.int64, "bool": _dtypes.bool_}


def _old_arguments(fn, public, renames):
    """``fn`` accepting TF1's argument names ``renames`` (old -> new) as keyword aliases."""
    parameters = list(inspect.signature(fn).parameters)
    positions = {new: parameters.index(new) for new in renames.values() if new in parameters}

    def v1(*args, **kwargs):
        for old, new in renames.items():
            if old not in kwargs:
                continue
            value = kwargs.pop(old)
            if value is None:
                continue
            if kwargs.get(new) is not None or len(args) > positions.get(new, len(args)):
                raise InvalidArgumentError(with_location(f"{public}: cannot specify both '{new}' and '{old}'"))
            kwargs[new] = value
        return fn(*args, **kwargs)
    v1.__name__, v1.__qualname__, v1.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
    v1.__wrapped__ = fn
    return v1


def v1_function(dotted, fn, source):
    """The compat.v1 form of public function ``fn`` (registered as ``source``): TF1's argument names,
    building into a graph."""
    short = source.rpartition(".")[2]
    for pattern, renames in OLD_ARGUMENTS.items():
        if fnmatch.fnmatchcase(short, pattern):
            fn = _old_arguments(fn, dotted, renames)
            break
    return in_graph(fn)


def table():
    """Every TF1 dotted name -> (the name its function is registered under, the function), from the
    registry and compat.v1's own tables."""
    names = {dotted: (dotted, fn) for dotted, fn in API.items()}
    for dotted, fn in API.items():
        prefix, _, short = dotted.rpartition(".")
        if prefix in PROMOTED_PREFIXES and short not in API:
            names.setdefault(short, (dotted, fn))
    for tf1_name, tf2_name in ALIASES.items():
        names[tf1_name] = (tf2_name, API[tf2_name])
    names.update({dotted: (dotted, fn) for dotted, fn in OWN.items()})
    return names


def build(package):
    """{name: value} for the package's globals: top-level functions, dtypes, and the sub-namespaces
    (``tf.nn``, ``tf.math``...) as modules registered under ``package``."""
    spaces = {}
    for prefix in NAMESPACES:
        module = types.ModuleType(f"{package}.{prefix}", f"{package}.{prefix}: TF1's tf.{prefix}")
        spaces[prefix] = module
        sys.modules[module.__name__] = module
    top = {}
    for dotted, (source, fn) in table().items():
        prefix, _, short = dotted.rpartition(".")
        if prefix:
            setattr(spaces[prefix], short, v1_function(dotted, fn, source))
        else:
            top[short] = v1_function(dotted, fn, source)
    for name, dtype in DTYPES.items():
        top[name] = dtype
        setattr(spaces["dtypes"], name, dtype)
    spaces["dtypes"].DType = _dtypes.DType
    spaces["dtypes"].as_dtype = _dtypes.as_dtype
    top.update(DType=_dtypes.DType, as_dtype=_dtypes.as_dtype, newaxis=None)
    top.update(spaces)
    return top
