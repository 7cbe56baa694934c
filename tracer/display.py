"""How traced objects show themselves: TF-style signature text, and HTML/SVG for notebooks.

Notebooks call ``_repr_html_`` / ``_repr_svg_`` on the objects they display (IPython's protocol; nothing
here imports IPython). A display method must never raise: a ``None`` answer makes IPython fall back to the
next representation. Graphs draw themselves (``tracer/ir.py``); ``html`` is imported when first needed: this
module sits on the import path of ``graphjit`` and start-up time counts.
"""
import numpy as np

from . import dtypes, nest
from .ir import TensorType, node_text
from .specs import TensorSpec


class VariableSpec:
    """Where a ``gj.Variable`` was passed to a traced function (TF's ``tf.VariableSpec``): the trace reads
    the variable itself, so only its shape, dtype and name are recorded (not the variable: no reference)."""
    __slots__ = ("shape", "dtype", "name")

    def __init__(self, shape, dtype, name=None):
        self.shape, self.dtype, self.name = shape, dtype, name

    def __eq__(self, other):
        return isinstance(other, VariableSpec) and tuple(self.shape) == tuple(other.shape) and self.dtype is other.dtype

    def __hash__(self):
        return hash((tuple(self.shape), self.dtype))

    def __repr__(self):
        return f"VariableSpec(shape={self.shape}, dtype={self.dtype!r}, name={self.name!r})"


def escape(text):
    import html
    return html.escape(str(text), quote=True)


# ---- signatures ---------------------------------------------------------------------------------------

def _spec_of(leaf, name):
    """The spec recorded for one argument leaf; Python values stay as they are (they are part of the key)."""
    if getattr(leaf, "_is_variable", False):
        return VariableSpec(tuple(leaf.shape), leaf.dtype, getattr(leaf, "name", None))
    if isinstance(leaf, (np.ndarray, np.generic)):
        return TensorSpec(leaf.shape, dtypes.from_numpy(leaf.dtype), name)
    if isinstance(getattr(leaf, "type", None), TensorType):   # a tensor (tensor.py imports this module)
        return TensorSpec(leaf.shape, leaf.dtype, name)
    return leaf


def _specs(value, name):
    """``value`` with each tensor leaf replaced by its spec, named by its path (``x``, ``x[0]``, ``x['k']``)."""
    if isinstance(value, (tuple, list)):
        items = [_specs(v, f"{name}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, list):
            return items
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)
    if isinstance(value, dict):
        return type(value)((k, _specs(value[k], f"{name}[{k!r}]")) for k in nest._sorted_keys(value))
    return _spec_of(value, name)


def input_structure(signature, values):
    """What a trace was called with, as ``(names, args, kwargs)``: ``names`` names each positional entry
    (``*args`` entries as ``args_0``, ``args_1`` as TF does); tensors become TensorSpecs."""
    names, args, kwargs = [], [], {}
    for param, value in zip(signature.parameters.values(), values):
        if param.kind is param.VAR_POSITIONAL:
            for i, v in enumerate(value):
                names.append(f"{param.name}_{i}")
                args.append(_specs(v, names[-1]))
        elif param.kind is param.VAR_KEYWORD:
            kwargs.update((k, _specs(v, k)) for k, v in value.items())
        elif param.kind is param.KEYWORD_ONLY:
            kwargs[param.name] = _specs(value, param.name)
        else:
            names.append(param.name)
            args.append(_specs(value, param.name))
    return tuple(names), tuple(args), kwargs


def input_signature(concrete):
    """``(args, kwargs)`` as TF's ``structured_input_signature``."""
    recorded = getattr(concrete, "_input_structure", None)
    if recorded is None:   # made outside gj.function (no Python signature): its flat tensor inputs
        return tuple(TensorSpec(t.shape, t.dtype) for t in concrete.input_types), {}
    _, args, kwargs = recorded
    return args, dict(kwargs)


def describe(leaf):
    """``float32 Tensor, shape=(3,)``, ``Python int 2``: one argument or result, as TF prints it."""
    if isinstance(leaf, TensorSpec):
        return f"{leaf.dtype.name} Tensor, shape={leaf.shape}"
    if isinstance(leaf, VariableSpec):
        return f"{leaf.dtype.name} Variable {leaf.name!r}, shape={tuple(leaf.shape)}"
    if leaf is None:
        return "None"
    return f"Python {type(leaf).__name__} {leaf!r}"


class _Placeholder:
    __slots__ = ("number",)

    def __init__(self, number):
        self.number = number

    def __repr__(self):
        return f"<{self.number}>"


def _value_lines(label, value, counter, indent):
    """``label: description`` for a leaf; for a structure its repr with ``<n>`` where each spec sits and one
    line per spec below it (TF's layout)."""
    if not isinstance(value, (tuple, list, dict)):
        return [f"{indent}{label}{describe(value)}"]
    found = []

    def mark(leaf):
        if isinstance(leaf, (TensorSpec, VariableSpec)):
            counter[0] += 1
            found.append((counter[0], leaf))
            return _Placeholder(counter[0])
        return leaf
    lines = [f"{indent}{label}{nest.map_structure(mark, value)!r}"]
    lines += [f"{indent}  <{n}>: {describe(spec)}" for n, spec in found]
    return lines


def signature_text(concrete):
    """One TF-style block: ``f(x, y)``, then ``Args:`` one line per argument, then ``Returns:``."""
    recorded = getattr(concrete, "_input_structure", None)
    if recorded is None:
        args, kwargs = input_signature(concrete)
        names = tuple(f"arg_{i}" for i in range(len(args)))
    else:
        names, args, kwargs = recorded
    params = list(names) + (["*"] if kwargs else []) + list(kwargs)
    lines = [f"{concrete.name}({', '.join(params)})"]
    counter = [0]
    if args or kwargs:
        lines.append("  Args:")
        for name, value in list(zip(names, args)) + list(kwargs.items()):
            lines += _value_lines(f"{name}: ", value, counter, "    ")
    lines.append("  Returns:")
    lines += _value_lines("", concrete.structured_outputs, counter, "    ")
    return "\n".join(lines)


def concrete_signatures_text(function):
    """Every trace the Function keeps, one block each, blank lines between (TF's
    ``pretty_printed_concrete_signatures``)."""
    return "\n\n".join(signature_text(c) for c in list(function._cache.values()))


# ---- HTML -----------------------------------------------------------------------------------------

_PRE = '<pre style="margin:0">'


def _trace_html(concrete):
    return (f"{_PRE}{escape(signature_text(concrete))}</pre>\n"
            f"<details><summary>graph</summary>{_PRE}{escape(str(concrete.graph))}</pre></details>")


def concrete_html(concrete):
    return f"<div><b>ConcreteFunction</b> {escape(concrete.name)}\n{_trace_html(concrete)}</div>"


def function_html(function):
    traces = list(function._cache.values())
    head = (f"<b>gj.function</b> {escape(function.name)}: {len(traces)} trace(s) kept, "
            f"{function.experimental_get_tracing_count()} traced")
    return "<div>" + "\n".join([head] + [_trace_html(c) for c in traces]) + "</div>"


def _edges(length, edge, summarize):
    """Indices shown along one axis, ``None`` where NumPy's summary puts its ``...``."""
    if summarize and length > 2 * edge:
        return list(range(edge)) + [None] + list(range(length - edge, length))
    return list(range(length))


def _cell(value):
    return f"<td>{escape(value)}</td>"


def array_html(value):
    """0-2-d values as a table, higher ranks as NumPy prints them; both summarised as NumPy does (beyond
    ``threshold`` elements, ``edgeitems`` each side of a ``...``)."""
    options = np.get_printoptions()
    summarize = value.size > options["threshold"]
    if value.ndim == 0 or value.ndim > 2:
        return f"{_PRE}{escape(np.array2string(value, separator=' '))}</pre>"
    grid = value.reshape(1, -1) if value.ndim == 1 else value
    edge = options["edgeitems"]
    rows = []
    for i in _edges(grid.shape[0], edge, summarize):
        cols = _edges(grid.shape[1], edge, summarize)
        if i is None:
            rows.append("<tr>" + "".join(_cell("\u22ee" if j is not None else "\u22f1") for j in cols) + "</tr>")
            continue
        rows.append("<tr>" + "".join(_cell("\u2026" if j is None else str(grid[i, j])) for j in cols) + "</tr>")
    return '<table style="font-family:monospace">' + "".join(rows) + "</table>"


def eager_tensor_html(tensor):
    value = tensor._value
    return (f"<div><b>gj.Tensor</b> shape={escape(tuple(value.shape))}, dtype={escape(tensor.dtype.name)}\n"
            f"{array_html(value)}</div>")


def symbolic_tensor_html(tensor):
    """Its type and the node that made it (a trace's node line, or a compat.v1 graph's operation)."""
    builder = getattr(tensor._trace, "builder", None)
    lines = [repr(tensor)]
    if builder is not None and tensor._id < len(builder.nodes):
        node = builder.nodes[tensor._id]
        lines.append(f"made by %{tensor._id}: {node_text(node)}")
        if node.loc is not None:
            lines.append(f"  at {node.loc}")
    else:
        op = getattr(tensor, "op", None)
        if op is not None:
            lines.append(f"made by {op!r}" + (f"\n  at {op.loc}" if getattr(op, "loc", None) is not None else ""))
    return f"<div>{_PRE}{escape(chr(10).join(lines))}</pre></div>"


def table_html(head, rows, footer=None):
    """A monospace table: a header row, body rows, and an optional footer row (totals)."""
    lines = ["<tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>"]
    lines += ["<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in rows]
    if footer is not None:
        lines.append("<tr>" + "".join(f"<th>{escape(c)}</th>" for c in footer) + "</tr>")
    return '<table style="font-family:monospace">' + "".join(lines) + "</table>"
