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


MISS = object()   # what ``call`` returns for arguments of another signature


def compile_call(values, uid, index):
    """``call(args, concrete, fast_calls)`` for a trace cached for the positional ``values`` (one per parameter):
    MISS when ``args`` have another signature, else the call's result: the runtime's shortcut of the trace
    (``fast_calls[uid]``, the table tracer.function reads) run on the tensor arguments as arrays, with the
    graph's output ``index`` as the result (None: ``concrete._structured`` maps them), or ``concrete.call_flat``
    when there is no shortcut. ``call.check(args)`` is its test alone: the tensor arguments, or None.
    The trace comes in as an argument: the generated code holds no reference to it (the trace keeps ``call``).
    None instead of a call when some value is of a kind the check does not cover (nested structures, NumPy
    scalars, other objects: the ordinary path serves them)."""
    env = {"ndarray": np.ndarray, "EagerTensor": EagerTensor, "copysign": math.copysign, "MISS": MISS}
    names = [f"a{k}" for k in range(len(values))]
    prelude = ["    try:",
               f"        {', '.join(names)}{',' if len(values) == 1 else ''} = args" if values else "        () = args",
               "    except ValueError:   # another number of arguments",
               "        return {miss}"]
    tests = []
    for k, (name, value) in enumerate(zip(names, values)):
        kind = type(value)
        env[f"value{k}"] = value if kind in (bool, int, float, str) else None
        if kind is EagerTensor:
            value = value._value
        if type(value) is np.ndarray:
            prelude.append(f"    if type({name}) is EagerTensor:")
            prelude.append(f"        {name} = {name}._value")
            env[f"dtype{k}"] = value.dtype
            # (an equal dtype that is another object, rare for NumPy's own, is as good for the key)
            tests.append(f"type({name}) is ndarray and ({name}.dtype is dtype{k} or {name}.dtype == dtype{k}) "
                         f"and {name}.shape == {value.shape!r}")
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
    test = " and ".join(tests) or "True"
    tensors = "[" + ", ".join(name for name, value in zip(names, values)
                              if type(value) in (np.ndarray, EagerTensor)) + "]"
    result = "outputs[index]" if index is not None else "concrete._structured(outputs)"
    env["uid"], env["index"] = uid, index
    lines = ["def check(args):"] + [line.format(miss="None") for line in prelude] + [
        f"    return {tensors} if {test} else None",
        "",
        "def call(args, concrete, fast_calls):"] + [line.format(miss="MISS") for line in prelude] + [
        f"    if not ({test}):",
        "        return MISS",
        f"    tensors = {tensors}",
        "    shortcut = fast_calls.get(uid)",
        "    if shortcut is not None:",
        "        outputs = shortcut(tensors)",
        "        if outputs is not None:",
        f"            return {result}",
        "    return concrete.call_flat(tensors)"]
    source = "\n".join(lines) + "\n"
    exec(compile(source, "<graphjit last signature>", "exec"), env)  # noqa: S102 - our own generated code
    call = env["call"]
    call.check, call.source = env["check"], source
    return call
