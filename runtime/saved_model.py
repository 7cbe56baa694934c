"""``gj.saved_model``: traced functions with their variables and constants as a directory that loads and runs
without the Python source that defined them (TF's SavedModel, ``jax.export``). No pickle anywhere.

    saved_model.json   the manifest: {"format": "graphjit-saved-model", "version": 1,
                       "functions": {name: {"graph": "graphs/<k>.json", "inputs": T, "outputs": T, "arg_names"}},
                       "signatures": {signature name: function name},
                       "variables": {saved name: {"key", "shape", "dtype", "trainable"}},
                       "files": {relative path: sha256 of its bytes}}
    graphs/<k>.json    each function's optimized graph (``tracer.serialize``; constants by reference)
    variables.npz      the variables' values, constants.npz the graphs' constant arrays (``np.savez``)

A template T is the arguments' or the results' structure: ``{"tensor": k}`` (the k-th flat input or output),
``{"tuple": [T...]}``, ``{"list": [T...]}``, ``{"dict": [[key, T]...]}``, or ``{"value": v}`` for a Python value
among the results (v tagged as graph attributes are).

``load`` checks everything before it creates anything: the manifest's format, version and structure, every file's
hash (so a truncated or tampered file is refused by name), every graph (ops known to this registry, attributes
per each op's schema, each node's type per its op's rule: ``tracer.serialize``) and the variables' shapes and
dtypes. Only then does it create the variables, as live ``gj.Variable`` s of the global runtime (a loaded
training step keeps training them), and the functions, ``ConcreteFunction`` s run by the same compiler, kernel
cache and runtime as a trace. A saved directory is written beside its final path and renamed into place.
"""
import hashlib
import inspect
import io
import json
import os
import shutil
import tempfile
import zipfile

import numpy as np

from graphjit.compiler.passes.pipeline import optimize
from graphjit.tracer import context
from graphjit.tracer.dtypes import ALL as _DTYPES
from graphjit.tracer.errors import (DataLossError, FailedPreconditionError, GraphjitError, InvalidArgumentError,
                                    NotFoundError)
from graphjit.tracer.function import ConcreteFunction, Function, _TensorSlot
from graphjit.tracer.ir import TensorType, VarRef
from graphjit.tracer.serialize import graph_from_json, graph_to_json
from graphjit.tracer.specs import TensorSpec
from graphjit.tracer.subgraphs import nodes_within
from graphjit.tracer.variables import Variable, variable_by_id

__all__ = ["save", "load", "LoadedModel", "LoadedFunction"]

FORMAT = "graphjit-saved-model"
VERSION = 1
MANIFEST = "saved_model.json"
VARIABLES, CONSTANTS = "variables.npz", "constants.npz"
_DTYPE_BY_NAME = {d.name: d for d in _DTYPES}


# ---- saving -------------------------------------------------------------------------------------------------

def save(obj, path, signatures=None):
    """Writes ``obj`` to the directory ``path`` (replaced if it exists): a ``@gj.function`` with an
    ``input_signature``, a ConcreteFunction, or an object (a ``gj.Module``) whose ``@gj.function`` methods and
    attributes with an input_signature are saved by name. ``signatures``: a function or a dict name -> function,
    saved as well and listed in the loaded object's ``signatures`` (default: ``serving_default``, the function
    itself when ``obj`` is one)."""
    functions, serving = _functions_to_save(obj, signatures)
    constants, variables, entries = {}, {}, {}
    for k, (name, (concrete, arg_names)) in enumerate(sorted(functions.items())):
        graph = optimize(concrete.graph)
        for ref in _variables_of(graph):
            if ref.name not in variables:
                variables[ref.name] = ref
        entries[name] = {"graph": f"graphs/{k}.json", "text": graph_to_json(graph, constants),
                         "inputs": _input_template(concrete), "outputs": _output_template(concrete, name),
                         "arg_names": arg_names}
    values = _variable_values(variables)
    files = {f"graphs/{k}.json": entry.pop("text").encode() for k, entry in enumerate(
        entry for _, entry in sorted(entries.items()))}
    files[VARIABLES] = _npz({f"v{k}": values[name] for k, name in enumerate(sorted(variables))})
    files[CONSTANTS] = _npz(constants)
    manifest = {
        "format": FORMAT, "version": VERSION, "functions": entries, "signatures": serving,
        "variables": {name: {"key": f"v{k}", "shape": list(variables[name].type.shape),
                             "dtype": variables[name].type.dtype.name, "trainable": _trainable(variables[name])}
                      for k, name in enumerate(sorted(variables))},
        "files": {relative: hashlib.sha256(data).hexdigest() for relative, data in sorted(files.items())}}
    files[MANIFEST] = json.dumps(manifest, indent=1, sort_keys=True).encode()
    _write_directory(os.fspath(path), files)


def _functions_to_save(obj, signatures):
    """{name: (ConcreteFunction, argument names)} and {signature name: function name}."""
    functions, serving = {}, {}
    if isinstance(obj, (Function, ConcreteFunction)):
        functions[_name_of(obj)] = _concrete(obj, "obj")
        serving["serving_default"] = _name_of(obj)
    else:
        for name, fn in _function_attributes(obj):
            functions[name] = _concrete(fn, f"{type(obj).__name__}.{name}")
    if signatures is not None:
        named = signatures if isinstance(signatures, dict) else {"serving_default": signatures}
        for signature_name, fn in named.items():
            if not isinstance(fn, (Function, ConcreteFunction)):
                raise InvalidArgumentError(f"gj.saved_model.save: signatures[{signature_name!r}] must be a "
                                           f"@gj.function or a ConcreteFunction, got {type(fn).__name__}")
            concrete = _concrete(fn, f"signatures[{signature_name!r}]")
            name = next((n for n, (c, _) in functions.items() if c is concrete[0]), None) or signature_name
            functions.setdefault(name, concrete)
            serving[signature_name] = name
    if not functions:
        raise InvalidArgumentError(f"gj.saved_model.save: {type(obj).__name__} has nothing to save: no "
                                   f"@gj.function with an input_signature among its attributes, and no signatures "
                                   f"given")
    return functions, serving


def _name_of(fn):
    return fn.name if isinstance(fn, Function) else fn.graph.name


def _function_attributes(obj):
    """(name, Function bound to obj) for its @gj.function methods and attributes that have an input_signature."""
    found = {}
    for name, value in inspect.getmembers_static(type(obj)):
        if isinstance(value, Function) and value.input_signature is not None:
            found[name] = getattr(obj, name)
    for name, value in sorted(getattr(obj, "__dict__", {}).items()):
        if isinstance(value, Function) and value.input_signature is not None:
            found[name] = value
    return sorted(found.items())


def _concrete(fn, where):
    if isinstance(fn, Function):
        if fn.input_signature is None:
            raise InvalidArgumentError(f"gj.saved_model.save: {where} ({fn.name}) has no input_signature, so it has "
                                       f"no one graph to save; give @gj.function an input_signature, or pass "
                                       f"{fn.name}.get_concrete_function(<TensorSpecs>)")
        arg_names = list(fn._param_names)
        fn = fn.get_concrete_function()
    else:
        arg_names = None
    if fn.captured_inputs:
        raise InvalidArgumentError(f"gj.saved_model.save: {where} ({fn.name}) captures tensors of an enclosing "
                                   f"trace; save the enclosing function instead")
    return fn, arg_names


def _variables_of(graph):
    """The VarRefs a graph (or any subgraph) names, in first-use order."""
    found = {}

    def visit(value):
        if isinstance(value, VarRef):
            found.setdefault(value.id, value)
        elif isinstance(value, (tuple, list)):
            for item in value:
                visit(item)
    for node in nodes_within(graph):
        for _, value in node.attrs:
            visit(value)
    return list(found.values())


def _variable_values(variables):
    state = context.eager_context().runtime.state
    values = {}
    with state.lock:
        for name, ref in variables.items():
            value = state.values.get(ref.id)
            if value is None:
                raise FailedPreconditionError(f"gj.saved_model.save: variable {name!r} has no value (it was "
                                              f"deleted, or never initialized)")
            values[name] = np.array(value if type(value) is np.ndarray else state.read_host(ref), order="C")
    return values


def _trainable(ref):
    variable = variable_by_id(ref.id)
    return True if variable is None else bool(variable.trainable)


def _input_template(concrete):
    args, kwargs = concrete.structured_input_signature
    counter = iter(range(len(concrete.input_types)))

    def leaf(spec):
        if not isinstance(spec, TensorSpec):
            raise InvalidArgumentError(f"gj.saved_model.save: {concrete.name} was traced with the Python value "
                                       f"{spec!r} as an argument; only tensor arguments can be saved")
        return {"tensor": next(counter)}
    return _template(list(args) + [kwargs[k] for k in sorted(kwargs)], leaf)


def _output_template(concrete, name):
    def leaf(value):
        if type(value) is _TensorSlot:
            return {"tensor": value.index}
        if value is None or type(value) in (bool, int, float, str):
            return {"value": value}
        raise InvalidArgumentError(f"gj.saved_model.save: {name} returns a {type(value).__name__} ({value!r}), "
                                   f"which has no saved form (tensors and Python scalars do)")
    return _template(concrete.output_template, leaf)


def _template(structure, leaf):
    """The JSON form of a nest, its leaves ``leaf(x)``, visited in ``nest.flatten`` order (dicts by sorted key)."""
    if isinstance(structure, dict):
        if not all(type(k) is str for k in structure):
            raise InvalidArgumentError(f"gj.saved_model.save: a dict of arguments or results needs string keys, "
                                       f"got {sorted(map(repr, structure))}")
        return {"dict": [[k, _template(structure[k], leaf)] for k in sorted(structure)]}
    if isinstance(structure, (tuple, list)):
        return {"list" if isinstance(structure, list) else "tuple": [_template(item, leaf) for item in structure]}
    return leaf(structure)


def _npz(arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _write_directory(path, files):
    """Every file into a new directory beside ``path``, then renamed into place (an old one is removed after)."""
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".saved_model-", dir=parent)
    try:
        for relative, data in files.items():
            target = os.path.join(staging, relative)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        old = None
        if os.path.exists(path):
            if not os.path.isfile(os.path.join(path, MANIFEST)) and os.listdir(path):
                raise InvalidArgumentError(f"gj.saved_model.save: {path} exists and is not a saved model; "
                                           f"not replacing it")
            old = tempfile.mkdtemp(prefix=".saved_model-old-", dir=parent)
            os.replace(path, os.path.join(old, "previous"))
        os.replace(staging, path)
        staging = None
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


# ---- loading ------------------------------------------------------------------------------------------------

class LoadedFunction:
    """A loaded function: call it with the arguments it was saved with (positional, or by their names)."""

    def __init__(self, concrete, input_template, arg_names):
        self.concrete_function = concrete
        self._inputs = input_template
        self._arg_names = arg_names
        self.name = concrete.name

    @property
    def graph(self):
        return self.concrete_function.graph

    def __call__(self, *args, **kwargs):
        if kwargs:
            args = self._bind(args, kwargs)
        if len(args) != len(self._inputs):
            raise InvalidArgumentError(f"{self.name}: takes {len(self._inputs)} argument(s)"
                                       f"{' (' + ', '.join(self._arg_names) + ')' if self._arg_names else ''}, "
                                       f"got {len(args)}")
        flat = []
        for i, (arg, template) in enumerate(zip(args, self._inputs)):
            _flatten_like(arg, template, flat, self._arg_names[i] if self._arg_names else f"argument {i}")
        return self.concrete_function(*flat)

    def _bind(self, args, kwargs):
        names = self._arg_names or []
        unknown = sorted(set(kwargs) - set(names[len(args):]))
        if unknown:
            raise InvalidArgumentError(f"{self.name}: unexpected keyword argument(s) {unknown}; it takes "
                                       f"({', '.join(names)})")
        missing = [n for n in names[len(args):] if n not in kwargs]
        if missing:
            raise InvalidArgumentError(f"{self.name}: missing argument(s) {missing}")
        return tuple(args) + tuple(kwargs[n] for n in names[len(args):])

    def __repr__(self):
        return f"<gj.saved_model function {self.name}({', '.join(self._arg_names or [])})>"


def _flatten_like(value, template, flat, where):
    """Appends ``value``'s tensors to ``flat`` in the order the saved graph takes them, checking the structure."""
    if "tensor" in template:
        flat.append(value)
        return
    kind = next(iter(template))
    items = template[kind]
    if kind == "dict":
        if not isinstance(value, dict) or sorted(value) != sorted(k for k, _ in items):
            raise InvalidArgumentError(f"{where}: expected a dict with keys {sorted(k for k, _ in items)}, got "
                                       f"{type(value).__name__}")
        for key, sub in items:
            _flatten_like(value[key], sub, flat, f"{where}[{key!r}]")
        return
    if not isinstance(value, (tuple, list)) or len(value) != len(items):
        raise InvalidArgumentError(f"{where}: expected a {kind} of {len(items)}, got {type(value).__name__}"
                                   + (f" of {len(value)}" if isinstance(value, (tuple, list)) else ""))
    for j, (item, sub) in enumerate(zip(value, items)):
        _flatten_like(item, sub, flat, f"{where}[{j}]")


class LoadedModel:
    """What ``load`` returns: each saved function as an attribute, ``signatures`` (name -> function), and the
    restored ``variables`` (live ``gj.Variable`` s)."""

    def __init__(self, functions, signatures, variables):
        for name, fn in functions.items():
            setattr(self, name, fn)
        self.signatures = {name: functions[target] for name, target in signatures.items()}
        self.variables = tuple(variables)

    @property
    def trainable_variables(self):
        return tuple(v for v in self.variables if v.trainable)

    def __call__(self, *args, **kwargs):
        if "serving_default" not in self.signatures:
            raise InvalidArgumentError("this saved model has no serving_default signature to call; call one of "
                                       f"its functions: {sorted(self.signatures)}")
        return self.signatures["serving_default"](*args, **kwargs)

    def __repr__(self):
        return f"<gj.saved_model {sorted(self.signatures)}, {len(self.variables)} variable(s)>"


def load(path):
    """The saved model at ``path`` (see the module docstring), checked whole before anything is created."""
    path = os.fspath(path)
    manifest = _read_manifest(path)
    data = {relative: _read_checked(path, relative, digest) for relative, digest in manifest["files"].items()}
    for relative in [VARIABLES, CONSTANTS] + [f["graph"] for f in manifest["functions"].values()]:
        if relative not in data:
            raise _bad(path, MANIFEST, f"names {relative!r} but does not list its hash under 'files'")
    constants = _read_arrays(path, CONSTANTS, data[CONSTANTS])
    stored = _read_arrays(path, VARIABLES, data[VARIABLES])
    types = _variable_types(path, manifest["variables"], stored)
    stand_ins = {name: VarRef(-1 - k, name, t) for k, (name, t) in enumerate(sorted(types.items()))}
    for name, entry in manifest["functions"].items():   # every graph checked before any variable exists
        _read_graph(path, entry, data, stand_ins, constants)
    variables = {name: Variable(stored[manifest["variables"][name]["key"]], name=name,
                                trainable=manifest["variables"][name]["trainable"])
                 for name in sorted(types)}
    functions = {}
    for name, entry in manifest["functions"].items():
        graph = _read_graph(path, entry, data, variables, constants)
        input_types = [graph.nodes[i].type for i in graph.inputs]
        outputs = _output_structure(path, entry["outputs"], len(graph.outputs))
        concrete = ConcreteFunction(graph, input_types, outputs, name)
        concrete.variables = tuple(variables.values())   # kept alive with the function, as a trace's are
        functions[name] = LoadedFunction(concrete, _input_templates(path, entry, len(input_types)),
                                         entry.get("arg_names"))
    return LoadedModel(functions, manifest["signatures"], variables.values())


def _bad(path, relative, why):
    return InvalidArgumentError(f"gj.saved_model.load: {os.path.join(path, relative)} {why}")


def _read_manifest(path):
    manifest_path = os.path.join(path, MANIFEST)
    if not os.path.isfile(manifest_path):
        raise NotFoundError(f"gj.saved_model.load: {path} is not a saved model (no {MANIFEST} in it)")
    try:
        with open(manifest_path, "rb") as f:
            manifest = json.loads(f.read())
    except (OSError, ValueError) as err:
        raise DataLossError(f"gj.saved_model.load: {manifest_path} is not a readable JSON manifest ({err}); the "
                            f"file is truncated or damaged") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _bad(path, MANIFEST, f"is not a graphjit saved model manifest (format "
                                   f"{manifest.get('format') if isinstance(manifest, dict) else None!r})")
    version = manifest.get("version")
    if type(version) is not int or version != VERSION:
        newer = type(version) is int and version > VERSION
        raise _bad(path, MANIFEST, f"has format version {version!r}; this graphjit reads version {VERSION}"
                                   + (" (it was written by a newer graphjit)" if newer else ""))
    shapes = {"functions": dict, "signatures": dict, "variables": dict, "files": dict}
    for key, kind in shapes.items():
        if not isinstance(manifest.get(key), kind):
            raise _bad(path, MANIFEST, f"has no valid {key!r} (expected an object)")
    for name, entry in manifest["functions"].items():
        if not (isinstance(entry, dict) and isinstance(entry.get("graph"), str) and "inputs" in entry
                and "outputs" in entry) or not name.isidentifier():
            raise _bad(path, MANIFEST, f"has a malformed entry for function {name!r}")
    for signature, target in manifest["signatures"].items():
        if target not in manifest["functions"]:
            raise _bad(path, MANIFEST, f"has signature {signature!r} naming {target!r}, which is not a function "
                                       f"of the model")
    return manifest


def _read_checked(path, relative, digest):
    full = os.path.join(path, relative)
    if os.path.isabs(relative) or ".." in relative.replace("\\", "/").split("/"):
        raise _bad(path, MANIFEST, f"lists the file {relative!r}, outside the saved model's directory")
    try:
        with open(full, "rb") as f:
            data = f.read()
    except OSError as err:
        raise DataLossError(f"gj.saved_model.load: {full} cannot be read ({err.strerror or err}); the saved "
                            f"model is incomplete") from None
    if hashlib.sha256(data).hexdigest() != digest:
        raise DataLossError(f"gj.saved_model.load: {full} does not match the hash its manifest records "
                            f"({len(data)} bytes): the file is truncated or was modified after saving")
    return data


def _read_arrays(path, relative, data):
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as err:
        raise DataLossError(f"gj.saved_model.load: {os.path.join(path, relative)} is not a readable .npz "
                            f"archive of plain arrays ({err})") from None


def _variable_types(path, entries, stored):
    types = {}
    for name, entry in entries.items():
        where = f"records variable {name!r}"
        if not isinstance(entry, dict) or entry.get("dtype") not in _DTYPE_BY_NAME or not isinstance(
                entry.get("shape"), list) or entry.get("key") not in stored:
            raise _bad(path, MANIFEST, f"{where} malformed, or without an array in {VARIABLES}")
        value = stored[entry["key"]]
        dtype = _DTYPE_BY_NAME[entry["dtype"]]
        if list(value.shape) != entry["shape"] or value.dtype != dtype.np:
            raise _bad(path, VARIABLES, f"holds {value.dtype}{list(value.shape)} for variable {name!r}, whose "
                                        f"manifest entry says {dtype.name}{entry['shape']}")
        types[name] = TensorType(tuple(entry["shape"]), dtype)
    return types


def _read_graph(path, entry, data, variables, constants):
    relative = entry["graph"]
    try:
        text = data[relative].decode()
        return graph_from_json(text, variables, constants)
    except UnicodeDecodeError:
        raise _bad(path, relative, "is not UTF-8 text") from None
    except GraphjitError as err:
        raise type(err)(f"gj.saved_model.load: {os.path.join(path, relative)}: {err}") from None


def _output_structure(path, template, count):
    def build(t):
        if not isinstance(t, dict) or len(t) != 1:
            raise _bad(path, MANIFEST, f"has a malformed output template {json.dumps(t)[:60]}")
        (kind, body), = t.items()
        if kind == "tensor":
            if type(body) is not int or not 0 <= body < count:
                raise _bad(path, MANIFEST, f"names output {body!r} of a graph with {count} outputs")
            return _TensorSlot(body)
        if kind == "value":
            return body
        if kind in ("tuple", "list"):
            items = [build(item) for item in body]
            return tuple(items) if kind == "tuple" else items
        if kind == "dict":
            return {k: build(v) for k, v in body}
        raise _bad(path, MANIFEST, f"has an output template of unknown kind {kind!r}")
    return build(template)


def _input_templates(path, entry, count):
    seen = []

    def check(t):
        if not isinstance(t, dict) or len(t) != 1 or next(iter(t)) not in ("tensor", "tuple", "list", "dict"):
            raise _bad(path, MANIFEST, f"has a malformed input template {json.dumps(t)[:60]}")
        (kind, body), = t.items()
        if kind == "tensor":
            seen.append(body)
        elif kind == "dict":
            for _, sub in body:
                check(sub)
        else:
            for sub in body:
                check(sub)
    templates = entry["inputs"].get("list") if isinstance(entry["inputs"], dict) else None
    if not isinstance(templates, list):
        raise _bad(path, MANIFEST, "has a malformed input template (expected a list of arguments)")
    for t in templates:
        check(t)
    if seen != list(range(count)):
        raise _bad(path, MANIFEST, f"has input templates naming inputs {seen}, but its graph has {count}")
    return templates
