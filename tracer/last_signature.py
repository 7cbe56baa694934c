"""The last signature a ``gj.function`` was called with: a generated check that later arguments have it too.

Building the signature key (``function._leaf_key`` per argument, then a dict lookup hashing NumPy dtypes) was
60% of a 16-element call (1.8 of 3.1 µs). Most hot loops call a function with arguments of one signature, so the
function remembers the last one it served from its cache and first tests a call against it with one comparison
per fact the key holds: ``type(x) is ndarray and x.dtype is float32 and x.shape == (16,)``. A check that fails
(or cannot be made cheaply) sends the call down the ordinary path, which builds the key and decides, so the check
only ever has to be sufficient, never complete:

- an array must be exactly ``np.ndarray`` (a subclass, a NumPy scalar, a SymbolicTensor miss), or an EagerTensor
  holding one: the key cannot tell the two apart, so both are served by the same trace, as on the ordinary path;
- its dtype must be the very dtype object of the last call (NumPy's built-in dtypes are singletons; a byte-swapped
  or structured dtype that is merely equal misses), its shape equal;
- a Python value must have exactly the last call's type and value (floats: also the sign of a zero, as
  ``float.hex`` in the key distinguishes them; a NaN never equals itself and misses);
- a variable argument must be of the same class with the same variable id (the key holds the id).

Contiguity is not part of the key and not checked: the runner copies a non-contiguous input into the layout its
entry takes. The check holds no argument (no array is kept alive between calls), only types, shapes and values.
"""
import math

import numpy as np

from .tensor import EagerTensor


def _float_test(name, k, value):
    test = f"type({name}) is float and {name} == value{k}"
    if value == 0.0:   # 0.0 == -0.0, but their keys (and maybe their traces) differ
        test += f" and copysign(1.0, {name}) == {math.copysign(1.0, value)!r}"
    return test


def compile_check(values):
    """``check(args)`` for positional ``values`` (one per parameter): the list of the call's tensor arguments as
    arrays (what the ordinary path would pass to the trace) when ``args`` have the signature of ``values``, else
    None. None instead of a check when some value is of a kind the check does not cover (nested structures,
    NumPy scalars, other objects: the ordinary path serves them)."""
    env = {"ndarray": np.ndarray, "EagerTensor": EagerTensor, "copysign": math.copysign}
    lines = ["def check(args):"]
    names = [f"a{k}" for k in range(len(values))]
    lines.append("    try:")
    lines.append(f"        {', '.join(names)}{',' if len(values) == 1 else ''} = args" if values else "        () = args")
    lines.append("    except ValueError:   # another number of arguments")
    lines.append("        return None")
    tests = []
    for k, (name, value) in enumerate(zip(names, values)):
        kind = type(value)
        env[f"value{k}"] = value if kind in (bool, int, float, str) else None
        if kind is EagerTensor:
            value = value._value
        if type(value) is np.ndarray:
            lines.append(f"    if type({name}) is EagerTensor:")
            lines.append(f"        {name} = {name}._value")
            env[f"dtype{k}"] = value.dtype
            tests.append(f"type({name}) is ndarray and {name}.dtype is dtype{k} and {name}.shape == {value.shape!r}")
        elif kind is float:
            tests.append(_float_test(name, k, value))
        elif kind in (bool, int, str):
            tests.append(f"type({name}) is {kind.__name__} and {name} == value{k}")
        elif value is None:
            tests.append(f"{name} is None")
        elif getattr(value, "_is_variable", False):
            env[f"kind{k}"], env[f"variable_id{k}"] = kind, value._ref.id
            tests.append(f"type({name}) is kind{k} and {name}._ref.id == variable_id{k}")
        else:
            return None
    tensors = [name for name, value in zip(names, values) if type(value) in (np.ndarray, EagerTensor)]
    lines.append(f"    if {' and '.join(tests) or 'True'}:")
    lines.append(f"        return [{', '.join(tensors)}]")
    lines.append("    return None")
    source = "\n".join(lines) + "\n"
    exec(compile(source, "<graphjit last signature>", "exec"), env)  # noqa: S102 - our own generated code
    check = env["check"]
    check.source = source
    return check
