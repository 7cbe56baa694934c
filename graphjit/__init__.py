"""graphjit: a JIT-compiling graph tracer for Python in the style of TensorFlow 2's ``tf.function``.

This package is only the public face; the work happens in ``graphjit.tracer`` (tensors, ops, IR,
tracing), ``graphjit.compiler`` (passes, backends) and ``graphjit.runtime`` (variables, execution).
"""
import sys as _sys
import types as _types

from graphjit.tracer.gc_pause import paused_gc as _paused_gc

# Importing creates many long-lived objects (ops, their Numba-facing tables): a cyclic-GC pass triggered
# half-way costs ~20 ms of start-up and frees nothing, so collection waits until the imports are done.
with _paused_gc():
    from graphjit import errors  # noqa: F401
    from graphjit.tracer import ops as _ops  # noqa: F401  (registers every op)
    from graphjit.tracer.dtypes import DType, as_dtype, bool_ as bool, float32, float64, int32, int64  # noqa: A001
    from graphjit.tracer.autodiff import GradientTape, grad, value_and_grad  # noqa: F401
    from graphjit.tracer.context import executing_eagerly  # noqa: F401
    from graphjit.tracer.function import ConcreteFunction, Function, function  # noqa: F401
    from graphjit.tracer.function import install_lazy_array_handler as _install_lazy_array_handler
    from graphjit.tracer.registry import API as _API
    from graphjit.tracer import serialize as _serialize  # noqa: F401  (installs Graph.to_json/from_json)
    from graphjit.tracer.shapes import TensorShape  # noqa: F401
    from graphjit.tracer.specs import TensorSpec  # noqa: F401
    from graphjit.tracer.tensor import Tensor, convert_to_tensor  # noqa: F401
    from graphjit.tracer.variables import Variable  # noqa: F401
    from graphjit.tracer.module import Module  # noqa: F401
    from graphjit import runtime as _runtime  # noqa: F401  (installs the eager context)
    from graphjit.runtime.config import config  # noqa: F401
    from graphjit.runtime.devices import cuda_transfer_stats, device, list_devices  # noqa: F401
    from graphjit.runtime.explain import explain  # noqa: F401
    from graphjit.runtime.runtime import wait_for_compilation  # noqa: F401
    from graphjit.compiler.cache import cache_info  # noqa: F401

__version__ = "0.1.0"


def _call_on_dask_arrays(function, args, kwargs):
    """A gj.function call with a dask.array argument: handed to graphjit.distributed (imported only then)."""
    from graphjit.distributed import call_on_dask_arrays
    return call_on_dask_arrays(function, args, kwargs)


_install_lazy_array_handler("dask.array", _call_on_dask_arrays)

_LAZY = ("compat", "distributed", "initializers", "optimizers", "saved_model", "train")  # imported on first use (TF1 graphs, training): most programs need none


def __getattr__(name):
    if name in _LAZY:
        import importlib
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))

_NAMESPACES = ("math", "nn", "random", "linalg", "bitwise", "dtypes")


def _build_namespaces():
    spaces = {}
    for prefix in _NAMESPACES:
        module = _types.ModuleType(f"{__name__}.{prefix}", f"graphjit.{prefix}: ops in TensorFlow's tf.{prefix}")
        spaces[prefix] = module
        _sys.modules[module.__name__] = module
    for dotted, fn in _API.items():
        prefix, _, short = dotted.rpartition(".")
        target = spaces[prefix] if prefix else None
        if target is None:
            globals()[short] = fn
        else:
            setattr(target, short, fn)
    return spaces


globals().update(_build_namespaces())
dtypes.DType = DType  # noqa: F821  (gj.dtypes mirrors tf.dtypes)
for _d in (bool, float32, float64, int32, int64):
    setattr(dtypes, _d.name, _d)  # noqa: F821
dtypes.as_dtype = as_dtype  # noqa: F821
