"""Objects show themselves well: repr of graphs and nodes, HTML and SVG for notebooks (IPython's _repr_*_
protocol, without IPython), TF's pretty-printed signatures, and structured inputs/outputs as TensorSpecs."""
import gc
import html
import os
import re
import time
import weakref

import numpy as np
import pytest

import graphjit as gj
from graphjit.tracer import display, ir, nest
from graphjit.tracer.dtypes import float32
from graphjit.tracer.ir import Const, GraphBuilder, Node, TensorType

X3 = np.arange(3, dtype=np.float32)
W = gj.Variable(np.ones(3, np.float32), name="w")


@gj.function
def scale(x, y):
    return x * y


@gj.function
def nested(x, pair, *rest, k=1, **extra):
    return {"sum": x + pair[0], "pair": (pair[0] * 2.0, 3), "none": None}


@gj.function
def with_variable(v, x):
    return v + x, v


@gj.function(name='odd<name> & "quotes"')
def odd(x):
    return gj.exp(x) + 1.0


# one trace each, shared by every test below (tracing is cheap on the interpreter, but there is no need to repeat it)
scale(X3, 2)
scale(X3.astype(np.float64), 3)
nested(X3, [X3, 5], np.zeros((2, 2), np.int32), k=4)
with_variable(W, X3)
odd(X3)


def _pre_blocks(text):
    return [html.unescape(m) for m in re.findall(r"<pre[^>]*>(.*?)</pre>", text, re.S)]


# ---- repr ----------------------------------------------------------------------------------------

def test_repr_of_a_graph_is_its_listing_and_nodes_print_as_one_line():
    graph = scale.get_concrete_function(X3, 2).graph
    assert repr(graph) == str(graph)
    lines = repr(graph).splitlines()
    assert lines[0] == "graph scale(%0: f32[3]) {" and lines[-1] == "}"
    assert "  %2: f32[3] = multiply %0 %1" in lines
    assert "Node(" not in repr(graph) and "TensorType(" not in repr(graph)
    assert repr(graph.nodes[2]) == "Node(f32[3] = multiply %0 %1)"
    assert repr(graph.nodes[1]) == "Node(f32[] = constant {value=2.})"
    assert all("\n" not in repr(n) for n in graph.nodes)
    assert repr([graph]).startswith("[graph scale(")  # inside containers too: no dataclass dump


def test_nodes_with_subgraphs_name_them_on_their_line_and_the_listing_prints_them_below():
    inner = GraphBuilder("body")
    a = inner.add_input(TensorType((2,), float32), 0)
    inner_graph = inner.finish([inner.add("exp", [a], {}, TensorType((2,), float32))])
    outer = GraphBuilder("outer")
    x = outer.add_input(TensorType((2,), float32), 0)
    c = outer.add("constant", (), {"value": Const(np.float32(1))}, TensorType((), float32))
    call = outer.add("call", [x, c], {"body": inner_graph}, TensorType((2,), float32), effectful=True)
    after = outer.add("print", [x], {}, TensorType((), float32), effectful=True)
    graph = outer.finish([call, after])
    assert repr(graph.nodes[call]) == "Node(f32[2] = call %0 %1 {body=<graph body: 2 nodes>})"
    assert repr(graph.nodes[after]) == "Node(f32[] = print %0 after %2)"
    lines = repr(graph).splitlines()
    at = lines.index("  %2: f32[2] = call %0 %1")
    assert lines[at + 1:at + 6] == ["    body:", "      graph body(%0: f32[2]) {", "        %1: f32[2] = exp %0",
                                    "        return %1", "      }"]


# ---- HTML ----------------------------------------------------------------------------------------

def test_graph_html_is_the_escaped_listing_with_a_header():
    graph = odd.get_concrete_function(X3).graph
    text = graph._repr_html_()
    assert '<name>' not in text and '"quotes"' not in text     # escaped, not markup
    assert "odd&lt;name&gt; &amp; &quot;quotes&quot;" in text
    assert _pre_blocks(text) == [str(graph)]
    assert "1 input(s), 3 node(s), 1 output(s)" in text


def test_concrete_function_and_function_html_show_each_trace():
    concrete = odd.get_concrete_function(X3)
    blocks = _pre_blocks(concrete._repr_html_())
    assert blocks == [concrete.pretty_printed_signature(), str(concrete.graph)]
    blocks = _pre_blocks(scale._repr_html_())
    traces = list(scale._cache.values())
    assert len(traces) == 2
    assert blocks == [b for c in traces for b in (c.pretty_printed_signature(), str(c.graph))]
    assert "2 trace(s) kept" in scale._repr_html_()


def _table(text):
    rows = re.findall(r"<tr>(.*?)</tr>", text, re.S)
    return [[html.unescape(c) for c in re.findall(r"<t[dh]>(.*?)</t[dh]>", r, re.S)] for r in rows]


def test_eager_tensor_html_is_a_table_of_its_values():
    value = np.array([[1.5, -2.0, 3.25], [0.0, np.nan, -np.inf]], np.float32)
    text = gj.constant(value)._repr_html_()
    assert "shape=(2, 3), dtype=float32" in text
    cells = _table(text)
    assert len(cells) == 2 and all(len(r) == 3 for r in cells)
    np.testing.assert_array_equal(np.array(cells, dtype=np.float32), value)   # the same values, NaN and inf too
    row = _table(gj.constant(np.array([True, False]))._repr_html_())
    assert row == [["True", "False"]]


def test_eager_tensor_html_summarises_as_numpy_does():
    big = np.arange(40 * 50, dtype=np.int64).reshape(40, 50)   # 2000 elements > NumPy's threshold of 1000
    cells = _table(gj.constant(big)._repr_html_())
    assert len(cells) == 7 and all(len(r) == 7 for r in cells)   # edgeitems=3 each side of the ellipsis
    assert [r[0] for r in cells] == ["0", "50", "100", "\u22ee", "1850", "1900", "1950"]
    assert cells[0] == ["0", "1", "2", "\u2026", "47", "48", "49"]
    small = np.arange(40, dtype=np.int64)   # under the threshold: every element, as NumPy prints it
    assert _table(gj.constant(small)._repr_html_()) == [[str(v) for v in small]]
    with np.printoptions(threshold=10, edgeitems=2):    # NumPy's own options are followed
        assert _table(gj.constant(small)._repr_html_()) == [["0", "1", "\u2026", "38", "39"]]
    cube = np.arange(4000, dtype=np.int32).reshape(10, 20, 20)
    assert _pre_blocks(gj.constant(cube)._repr_html_()) == [np.array2string(cube, separator=" ")]
    assert _pre_blocks(gj.constant(np.float64(2.5))._repr_html_()) == ["2.5"]


def test_symbolic_tensor_html_shows_its_type_and_the_node_that_made_it():
    seen = []

    @gj.function
    def f(x):
        y = gj.exp(x) * 2.0
        seen.append(y._repr_html_())
        return y
    f(X3)
    (text,) = _pre_blocks(seen[0])
    assert "shape=(3,), dtype=float32" in text and "symbolic" in text
    assert "made by %3: f32[3] = multiply %1 %2" in text
    assert "y = gj.exp(x) * 2.0" in text and "test_display.py" in text   # the user's line


def test_compat_v1_graph_tensor_html_names_its_operation():
    tf1 = gj.compat.v1
    with tf1.Graph().as_default():
        x = tf1.placeholder(gj.float32, [None, 3], name="x")
        y = gj.add(x, 1.0, name="plus<one>")
    (text,) = _pre_blocks(y._repr_html_())
    assert "'plus<one>:0'" in text and "type=add" in text
    assert "&lt;" in y._repr_html_()


def test_explain_html_is_a_table_of_its_rows(monkeypatch):
    monkeypatch.setattr(gj.config, "backend", "cpu")
    monkeypatch.setattr(gj.config, "compile_in_background", False)
    f = gj.function(lambda x: gj.reduce_sum(gj.exp(x) * 3.0), name="<sum>")
    report = gj.explain(f, np.ones(4096, np.float32), repeats=2)
    text = report._repr_html_()
    assert "gj.explain</b>(&lt;sum&gt;)" in text
    cells = _table(text)
    assert cells[0] == ["kernel", "kind", "parallel", "bytes", "flops", "time (ms)", "ops"]
    assert len(cells) == len(report.rows) + 2
    for row, cell in zip(report.rows, cells[1:-1]):
        assert cell[0] == row["kernel"] and cell[1] == row["kind"] and cell[6] == " ".join(row["ops"])
        assert float(cell[5]) == pytest.approx(row["time_s"] * 1e3, abs=1e-3)
    assert cells[-1][0] == "total"
    assert float(cells[-1][5]) == pytest.approx(sum(r["time_s"] for r in report.rows) * 1e3, abs=1e-3)
    assert any("exp" in c[6] for c in cells[1:-1])


# ---- SVG through Graphviz ---------------------------------------------------------------------------

SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect/></svg>'


def _fake_dot(tmp_path, body):
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "dot"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    return folder


def test_svg_through_a_dot_program_on_path(tmp_path, monkeypatch):
    seen = tmp_path / "stdin.dot"
    folder = _fake_dot(tmp_path, f'cat > "{seen}"\necho "$1" > "{seen}.args"\n'
                                 f"printf '<?xml version=\"1.0\"?>\\n<!DOCTYPE svg>\\n{SVG}\\n'\n")
    monkeypatch.setenv("PATH", str(folder) + os.pathsep + os.environ["PATH"])   # first: a real dot comes after
    concrete = odd.get_concrete_function(X3)
    assert concrete.graph._repr_svg_().strip() == SVG        # the <svg> element, without prolog or DOCTYPE
    assert seen.read_text() == concrete.graph.to_dot()       # dot was given the graph's DOT text
    assert (tmp_path / "stdin.dot.args").read_text().strip() == "-Tsvg"
    assert concrete._repr_svg_().strip() == SVG
    assert 'digraph "odd<name> & \\"quotes\\""' in seen.read_text()   # a quote in the name stays inside the string


def test_svg_is_none_without_dot_or_when_it_fails(tmp_path, monkeypatch):
    graph = scale.get_concrete_function(X3, 2).graph
    system_path = os.environ["PATH"]   # the fake dot's sleep must be found
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert graph._repr_svg_() is None and scale.get_concrete_function(X3, 2)._repr_svg_() is None
    monkeypatch.setenv("PATH", str(_fake_dot(tmp_path, "echo 'syntax error' >&2\nexit 1\n")) + os.pathsep + system_path)
    assert graph._repr_svg_() is None
    os.unlink(tmp_path / "bin" / "dot")
    (tmp_path / "bin" / "dot").write_text("#!/bin/sh\nexec sleep 30\n")
    (tmp_path / "bin" / "dot").chmod(0o755)
    monkeypatch.setattr(ir, "DOT_TIMEOUT_S", 0.3)
    start = time.perf_counter()
    assert graph._repr_svg_() is None                          # a dot that hangs is given up on
    assert 0.25 < time.perf_counter() - start < 10           # (it ran, and was stopped)


# ---- signatures ------------------------------------------------------------------------------------

def test_pretty_printed_concrete_signatures_as_tf():
    assert scale.pretty_printed_concrete_signatures() == (
        "scale(x, y)\n  Args:\n    x: float32 Tensor, shape=(3,)\n    y: Python int 2\n"
        "  Returns:\n    float32 Tensor, shape=(3,)\n\n"
        "scale(x, y)\n  Args:\n    x: float64 Tensor, shape=(3,)\n    y: Python int 3\n"
        "  Returns:\n    float64 Tensor, shape=(3,)")
    assert nested.pretty_printed_concrete_signatures() == "\n".join([
        "nested(x, pair, rest_0, *, k)",
        "  Args:",
        "    x: float32 Tensor, shape=(3,)",
        "    pair: [<1>, 5]",
        "      <1>: float32 Tensor, shape=(3,)",
        "    rest_0: int32 Tensor, shape=(2, 2)",
        "    k: Python int 4",
        "  Returns:",
        "    {'none': None, 'pair': (<2>, 3), 'sum': <3>}",
        "      <2>: float32 Tensor, shape=(3,)",
        "      <3>: float32 Tensor, shape=(3,)"])
    assert with_variable.pretty_printed_concrete_signatures() == "\n".join([
        "with_variable(v, x)", "  Args:", "    v: float32 Variable 'w', shape=(3,)",
        "    x: float32 Tensor, shape=(3,)", "  Returns:", "    (<1>, <2>)",
        "      <1>: float32 Tensor, shape=(3,)", "      <2>: float32 Tensor, shape=(3,)"])
    nothing = gj.function(lambda: None)
    nothing()
    assert nothing.pretty_printed_concrete_signatures() == "<lambda>()\n  Returns:\n    None"


def test_structured_outputs_are_tensor_specs_in_the_results_places():
    concrete = nested.get_concrete_function(X3, [X3, 5], np.zeros((2, 2), np.int32), k=4)
    specs = concrete.structured_outputs
    assert specs == {"sum": gj.TensorSpec((3,), gj.float32), "pair": (gj.TensorSpec((3,), gj.float32), 3),
                     "none": None}
    result = nested(X3, [X3, 5], np.zeros((2, 2), np.int32), k=4)
    flat_specs, flat_results = nest.flatten(specs), nest.flatten(result)
    for spec, value in zip(flat_specs, flat_results):
        if isinstance(spec, gj.TensorSpec):
            assert isinstance(value, gj.Tensor) and spec.is_compatible_with(value)
        else:
            assert spec == value
    assert scale.get_concrete_function(X3.astype(np.float64), 3).structured_outputs == gj.TensorSpec((3,), gj.float64)


def test_structured_input_signature_has_specs_where_tensors_were():
    args, kwargs = scale.get_concrete_function(X3, 2).structured_input_signature
    assert args == (gj.TensorSpec((3,), gj.float32), 2) and kwargs == {}
    assert args[0].name == "x"
    args, kwargs = nested.get_concrete_function(X3, [X3, 5], np.zeros((2, 2), np.int32), k=4).structured_input_signature
    assert args == (gj.TensorSpec((3,), gj.float32), [gj.TensorSpec((3,), gj.float32), 5],
                    gj.TensorSpec((2, 2), gj.int32))
    assert [args[0].name, args[1][0].name, args[2].name] == ["x", "pair[0]", "rest_0"]
    assert kwargs == {"k": 4}
    (v, x), _ = with_variable.get_concrete_function(W, X3).structured_input_signature
    assert isinstance(v, display.VariableSpec) and (tuple(v.shape), v.dtype, v.name) == ((3,), gj.float32, "w")
    signed = gj.function(lambda a: a * 2.0, input_signature=[gj.TensorSpec((None, 2), gj.float32)])
    (spec,), _ = signed.get_concrete_function(np.ones((5, 2), np.float32)).structured_input_signature
    assert spec == gj.TensorSpec((None, 2), gj.float32)    # the one trace for every size (as TF)


def test_the_recorded_signature_keeps_no_argument_alive():
    f = gj.function(lambda x: x + 1.0)
    array = np.ones(4, np.float32)
    ref = weakref.ref(array)
    f(array)
    del array
    gc.collect()
    assert ref() is None
    assert f.get_concrete_function(np.ones(4, np.float32)).structured_input_signature[0] == (
        gj.TensorSpec((4,), gj.float32),)


def test_methods_print_without_self():
    class Model:
        @gj.function
        def forward(self, x, scale=2.0):
            return x * scale
    model = Model()
    model.forward(X3)
    assert model.forward.pretty_printed_concrete_signatures().splitlines()[:4] == [
        "forward(x, scale)", "  Args:", "    x: float32 Tensor, shape=(3,)", "    scale: Python float 2.0"]


def test_display_never_raises_on_a_function_with_no_traces():
    fresh = gj.function(lambda x: x)
    assert fresh.pretty_printed_concrete_signatures() == ""
    assert "0 trace(s) kept" in fresh._repr_html_()
    assert isinstance(Node("add", (0, 1), (), TensorType((), float32)).__repr__(), str)
