"""Graph.to_json / Graph.from_json: every kind of graph the tests build reads back equal (nodes, types,
attributes, outputs, source lines), with the same content hash and printed listing, and runs to the same bits;
bad documents and unencodable attributes are clear errors."""
import json

import numpy as np
import pytest

import graphjit as gj
from graphjit.compiler.backend import get_backend
from graphjit.compiler.functionalize import functionalize
from graphjit.compiler.passes.pipeline import optimize
from graphjit.errors import InvalidArgumentError, InvalidTypeError, NotFoundError
from graphjit.runtime.runtime import get_runtime
from graphjit.tracer import serialize
from graphjit.tracer.dtypes import float32, int64
from graphjit.tracer.ir import Const, Graph, GraphBuilder, In, Slice, TensorType
from graphjit.tracer.registry import OPS, Op

from cases import ALL_CASES
from fuzz_check import build_function
from fuzz_graphs import RandomChooser, draw_program

F32 = TensorType((2, 3), float32)


def _graph(fn, *args, **kwargs):
    return gj.function(fn).get_concrete_function(*args, **kwargs).graph


def round_trip(graph, variables=None):
    """The graph read back from its document, checked equal to ``graph`` in every visible way."""
    text = graph.to_json()
    back = Graph.from_json(text, variables)
    assert back == graph and hash(back) == hash(graph)
    assert back.fingerprint() == graph.fingerprint()
    assert str(back) == str(graph) and back.name == graph.name
    assert [_loc(n.loc) for n in back.nodes] == [_loc(n.loc) for n in graph.nodes]
    assert back.to_json() == text
    return back


def _loc(loc):
    return None if loc is None else (loc.filename, loc.lineno, loc.function)


def interpret(graph, arrays, seed=None):
    state = get_runtime().state
    if seed is not None:
        state.seed(seed)
    return get_backend("interpreter").compile(graph).run(state, [np.asarray(a) for a in arrays])


def assert_same_bits(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g, w = np.asarray(g), np.asarray(w)
        assert g.dtype == w.dtype and g.shape == w.shape
        assert np.array(g, order="C").tobytes() == np.array(w, order="C").tobytes()


# ---- every graph the tests build --------------------------------------------------------------------------

def _traced_case(case):
    try:
        return _graph(case.fn, *case.args, **case.kwargs)
    except gj.errors.GraphjitError:
        return None   # (a case of an op that only runs eagerly)


def test_every_op_case_graph_round_trips_and_interprets_to_the_same_bits():
    traced = 0
    for case in ALL_CASES:
        graph = _traced_case(case)
        if graph is None:
            continue
        back = round_trip(graph)
        arrays = [a for a in case.args if isinstance(a, np.ndarray)]
        if len(arrays) == len(graph.inputs):
            assert_same_bits(interpret(back, arrays), interpret(graph, arrays))
        traced += 1
    assert traced >= 0.95 * len(ALL_CASES)
    covered = {op for case in ALL_CASES for op in case.ops}
    assert covered >= set(OPS) - {"read_variable", "assign_variable", "print", "random_uniform", "random_normal",
                                  "random_truncated_normal"}   # (each of those has its own test below)


@pytest.mark.parametrize("seed", range(6))
def test_fuzz_generator_graphs_round_trip_raw_optimized_and_functionalized(seed):
    chooser = RandomChooser(seed)
    for batch in range(5):   # 6 seeds x 5 batches x 10 programs: 300 programs
        progs = [draw_program(chooser, max_ops=8 if batch % 2 else 24) for _ in range(10)]
        flat = [x for p in progs for x in p.inputs]
        graph = _graph(build_function(progs), *flat)
        back = round_trip(graph)
        optimized = optimize(graph)
        round_trip(optimized)
        round_trip(functionalize(optimized)[0])
        if batch == 0:
            assert_same_bits(interpret(back, flat), interpret(graph, flat))


def test_bench_workloads_round_trip_with_the_same_kernel_source_and_results():
    from graphjit._bench_workloads import WORKLOADS, GRAPHJIT, bind
    from graphjit.compiler.cache import cache_key
    saved = gj.config.backend, gj.config.compile_in_background
    gj.config.backend, gj.config.compile_in_background = "cpu", False
    try:
        for workload in WORKLOADS:
            arrays = workload.make_inputs(np.random.default_rng(0), 1e-5)
            graph = _graph(bind(workload.fn, GRAPHJIT), *arrays)
            back = round_trip(graph)
            original, read = get_backend("cpu").compile(graph), get_backend("cpu").compile(back)
            assert read.source == original.source and cache_key(read.source) == cache_key(original.source)
            state = get_runtime().state
            assert_same_bits(read.run(state, list(arrays)), original.run(state, list(arrays)))
            assert_same_bits(interpret(back, arrays), interpret(graph, arrays))
    finally:
        gj.config.backend, gj.config.compile_in_background = saved


# ---- variables --------------------------------------------------------------------------------------------

def _update_graph(v):
    def step(x):
        v.assign_add(x)
        return v.read_value() * 2.0
    return _graph(step, np.ones(3, np.float32))


def test_variables_are_written_by_name_and_bound_to_the_runtimes_live_variable():
    v = gj.Variable(np.zeros(3, np.float32), name="json_counter")
    graph = _update_graph(v)
    doc = json.loads(graph.to_json())
    refs = [a["var"] for n in doc["graph"]["nodes"] for a in n["attrs"].values() if "var" in a]
    assert refs and all(r == {"name": v.name, "shape": [3], "dtype": "float32"} for r in refs)
    back = round_trip(graph)              # default: the runtime's variables, by unique name
    out = interpret(back, [np.full(3, 2.0, np.float32)])
    np.testing.assert_array_equal(out[0], np.full(3, 4.0, np.float32))
    np.testing.assert_array_equal(v.numpy(), np.full(3, 2.0, np.float32))
    round_trip(graph, {v.name: v})        # a mapping to Variables or to their refs
    round_trip(graph, {v.name: v._ref})
    round_trip(graph, lambda name, type_: v if name == v.name else None)
    round_trip(functionalize(optimize(graph))[0])   # variable reads become inputs, writes outputs


def test_a_mapping_binds_a_graph_to_another_variable_of_the_same_type():
    v = gj.Variable(np.zeros(3, np.float32), name="json_source")
    other = gj.Variable(np.full(3, 10.0, np.float32), name="json_target")
    back = Graph.from_json(_update_graph(v).to_json(), {v.name: other})
    interpret(back, [np.ones(3, np.float32)])
    np.testing.assert_array_equal(other.numpy(), np.full(3, 11.0, np.float32))
    np.testing.assert_array_equal(v.numpy(), np.zeros(3, np.float32))


def test_missing_mismatched_or_wrongly_given_variables_are_clear_errors():
    v = gj.Variable(np.zeros(3, np.float32), name="json_checked")
    text = _update_graph(v).to_json()
    with pytest.raises(NotFoundError, match=r"variable 'json_checked' \(f32\[3\]\), which is not among the given"):
        Graph.from_json(text, {})
    with pytest.raises(InvalidArgumentError, match=r"'json_checked' is f32\[3\] in the document but i64\[3\]"):
        Graph.from_json(text, {v.name: gj.Variable(np.zeros(3, np.int64))})
    with pytest.raises(InvalidTypeError, match="resolved to a ndarray, not a variable"):
        Graph.from_json(text, {v.name: np.zeros(3, np.float32)})
    with pytest.raises(InvalidTypeError, match="variables must be a mapping"):
        Graph.from_json(text, 42)
    gone = text.replace('"json_checked"', '"json_never_made"')
    with pytest.raises(NotFoundError, match="'json_never_made'.*not among the runtime's variables"):
        Graph.from_json(gone)


def test_compat_v1_plan_graph_round_trips_with_its_graphs_variables():
    tf = gj.compat.v1
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(gj.float32, shape=(None, 2), name="x")
        w = tf.Variable(np.ones((2, 2), np.float32), name="w")
        y = tf.matmul(x, w) + 1.0
    plan, _ = g.plan_graph([y.op], [], {x.op._id: TensorType((4, 2), float32)})
    round_trip(plan, {w._ref.name: w})
    with pytest.raises(NotFoundError, match="'w'"):
        Graph.from_json(plan.to_json(), {})


# ---- attribute values of every kind -----------------------------------------------------------------------

def _constant_graph(arrays):
    b = GraphBuilder("constants")
    ids = [b.add("constant", (), {"value": Const(a)}, TensorType(a.shape, gj.as_dtype(a.dtype))) for a in arrays]
    return b.finish(ids)


def test_constants_of_every_dtype_keep_their_exact_bits():
    f32_edges = np.array([np.nan, -np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-45, -3.4e38, 0.1], np.float32)
    f64_edges = np.array([np.nan, np.inf, -np.inf, -0.0, 5e-324, 1.7976931348623157e308, 0.1], np.float64)
    arrays = [f32_edges, f64_edges, f32_edges.reshape(3, 3).T,
              np.array([np.iinfo(np.int32).min, -1, 0, np.iinfo(np.int32).max], np.int32),
              np.array([[np.iinfo(np.int64).min], [np.iinfo(np.int64).max]], np.int64),
              np.array([True, False, True]), np.float32(-0.0), np.zeros((0, 3), np.float64), np.array(7, np.int64)]
    graph = _constant_graph(arrays)
    back = round_trip(graph)
    for node, array in zip(back.nodes, arrays):
        assert node.attr("value") == Const(array)
    assert_same_bits(interpret(back, []), [np.array(a, order="C") for a in arrays])
    assert_same_bits(interpret(back, []), interpret(graph, []))


def test_getitem_keys_of_every_kind_round_trip_and_index_as_numpy():
    x = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    idx, idx2 = np.array([[0, -1], [2, 3]], np.int64), np.array([1, 0, 4], np.int32)
    keys = [lambda x, i, j: x[1], lambda x, i, j: x[-1, ::-2], lambda x, i, j: x[None, ..., 2:-1:2],
            lambda x, i, j: x[..., None], lambda x, i, j: x[:, i], lambda x, i, j: x[i, 1:, j[:2]],
            lambda x, i, j: x[1, j], lambda x, i, j: x[::3, np.newaxis, 5:0:-1],
            lambda x, i, j: gj.strided_slice(x, [0, 1], [4, 5], [2, 2]), lambda x, i, j: gj.split(x, 2, axis=2)[1]]
    graph = _graph(lambda x, i, j: [key(x, i, j) for key in keys], x, idx, idx2)
    kinds = {type(item) for n in graph.nodes if n.op == "getitem" for item in n.attr("key")}
    assert kinds == {int, Slice, In, type(None), type(Ellipsis)}
    back = round_trip(graph)
    numpy_keys = [lambda x, i, j: x[1], lambda x, i, j: x[-1, ::-2], lambda x, i, j: x[None, ..., 2:-1:2],
                  lambda x, i, j: x[..., None], lambda x, i, j: x[:, i], lambda x, i, j: x[i, 1:, j[:2]],
                  lambda x, i, j: x[1, j], lambda x, i, j: x[::3, None, 5:0:-1], lambda x, i, j: x[0:4:2, 1:5:2],
                  lambda x, i, j: x[:, :, 3:6]]
    assert_same_bits(interpret(back, [x, idx, idx2]), [k(x, idx, idx2) for k in numpy_keys])


def test_random_ops_round_trip_and_draw_the_same_stream_for_a_seed():
    def draws(x):
        return (gj.random.normal((3, 4), mean=1.0, stddev=2.0) + x, gj.random.uniform((5,), 0, 10, dtype=gj.int64),
                gj.random.truncated_normal((2, 2), dtype=gj.float64), gj.random.uniform((4,), -1.0, 1.0))
    graph = _graph(draws, np.zeros((3, 4), np.float32))
    back = round_trip(graph)
    x = np.ones((3, 4), np.float32)
    assert_same_bits(interpret(back, [x], seed=7), interpret(graph, [x], seed=7))


def test_print_attributes_round_trip_and_print_the_same(capsys):
    graph = _graph(lambda x: gj.print("x is", x, "!", sep="|", end=";\n", output_stream="stderr"),
                   np.float32(2.5))
    back = round_trip(graph)
    interpret(graph, [np.float32(2.5)])
    first = capsys.readouterr().err
    interpret(back, [np.float32(2.5)])
    assert capsys.readouterr().err == first == "x is|2.5|!;\n"


@pytest.fixture
def probe_op(monkeypatch):
    """A stand-in op that takes any attributes (no registered op holds a float NaN, a list or a subgraph)."""
    op = Op("json_probe", infer=lambda *types, **attrs: F32, eager=lambda *a, **k: np.zeros((2, 3), np.float32))
    monkeypatch.setitem(OPS, "json_probe", op)
    return op


def test_every_value_kind_keeps_its_python_type(probe_op):
    inner = _graph(lambda x: x * 2.0, np.ones((2, 3), np.float32))
    values = {"i": -7, "big": 2 ** 70, "f": 1.0, "nan": float("nan"), "inf": float("inf"), "ninf": -float("inf"),
              "nzero": -0.0, "tiny": 5e-324, "b": True, "s": "naïve \"quoted\"\n", "none": None, "e": Ellipsis,
              "t": (1, (2.0, False), ()), "l": [1, [None, "x"]], "d": gj.int32, "slice": Slice(None, -1, -2),
              "marker": In(2), "type": TensorType((None, 3), gj.bool), "unknown_rank": TensorType(None, float32),
              "body": inner}
    b = GraphBuilder("probe")
    x = b.add_input(F32, 0)
    graph = b.finish([b.add("json_probe", (x,), values, F32)])
    back = Graph.from_json(graph.to_json())   # (not round_trip: a list is unhashable, and NaN != NaN)
    assert back.fingerprint() == graph.fingerprint() and str(back) == str(graph)
    read = back.nodes[1].attr_dict
    for key, value in values.items():
        assert type(read[key]) is type(value), key
        assert repr(read[key]) == repr(value), key
        assert read[key] == value or key == "nan", key
    assert np.signbit(read["nzero"]) and read["big"] == 2 ** 70
    assert read["body"] == inner and read["body"].fingerprint() == inner.fingerprint()


def test_an_attribute_without_an_encoding_names_the_op_the_attribute_and_the_type(probe_op):
    for bad, type_name in [(np.float32(1.5), "numpy.float32"), (object(), "builtins.object"),
                           ({"a": 1}, "builtins.dict"), ((1, {2}), "builtins.set")]:
        graph = _graph(lambda x: gj.exp(x), np.ones((2, 3), np.float32))
        b = GraphBuilder("bad")
        x = b.add_input(F32, 0)
        b.add("json_probe", (x,), {"weird": bad}, F32, loc=graph.nodes[1].loc)
        with pytest.raises(InvalidTypeError, match=rf"op 'json_probe' \(%1\), attribute 'weird', traced at "
                                                   rf"test_graph_json.py:\d+.* holds a {type_name}"):
            b.finish([1]).to_json()


# ---- bad documents ----------------------------------------------------------------------------------------

def _document():
    return json.loads(_graph(lambda x, i: gj.exp(x)[i] + 1.0, np.ones((2, 3), np.float32),
                             np.array([1, 0])).to_json())


def _edited(edit):
    doc = _document()
    edit(doc)
    return json.dumps(doc)


def _set(path, value):
    def edit(doc):
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return edit


BAD_DOCUMENTS = [
    ("not json", lambda: "{nope", "not a JSON document"),
    ("a list", lambda: "[1, 2]", "not a graphjit graph document"),
    ("other format", lambda: _edited(_set(["format"], "onnx")), "format 'onnx'"),
    ("newer version", lambda: _edited(_set(["version"], 2)), "version 2 is not supported .*reads version 1"),
    ("no version", lambda: _edited(lambda d: d.pop("version")), "version None is not supported"),
    ("no graph", lambda: _edited(lambda d: d.pop("graph")), "at its top: missing 'graph'"),
    ("no nodes", lambda: _edited(lambda d: d["graph"].pop("nodes")), "at graph: missing 'nodes'"),
    ("forward input", lambda: _edited(_set(["graph", "nodes", 2, "inputs"], [5])),
     r"nodes\[2\]: 'inputs' refers to 5, which is not an earlier node"),
    ("bad output", lambda: _edited(_set(["graph", "outputs"], [99])), "'outputs' refers to 99"),
    ("unknown op", lambda: _edited(_set(["graph", "nodes", 2, "op"], "frobnicate")), "unknown op 'frobnicate'"),
    ("unknown tag", lambda: _edited(_set(["graph", "nodes", 0, "attrs", "index"], {"complex": [1, 2]})),
     r"nodes\[0\]/attrs.index: unknown type tag 'complex'"),
    ("two tags", lambda: _edited(_set(["graph", "nodes", 0, "attrs", "index"], {"int": 1, "str": "1"})),
     "one type tag"),
    ("int as string", lambda: _edited(_set(["graph", "nodes", 0, "attrs", "index"], {"int": "0"})),
     "'int' needs an integer, got a string"),
    ("input index", lambda: _edited(_set(["graph", "nodes", 0, "attrs"], {"index": {"str": "0"}})),
     "an input node has one attribute, its integer 'index'"),
    ("bool as int", lambda: _edited(_set(["graph", "nodes", 0, "attrs", "index"], {"int": True})),
     "'int' needs an integer, got a boolean"),
    ("wrong type", lambda: _edited(_set(["graph", "nodes", 2, "type"], {"shape": [3, 2], "dtype": "float32"})),
     r"exp is typed f32\[3,2\] but its rule gives f32\[2,3\]"),
    ("unknown dtype", lambda: _edited(_set(["graph", "nodes", 2, "type", "dtype"], "float16")),
     "unknown dtype 'float16'"),
    ("negative dim", lambda: _edited(_set(["graph", "nodes", 0, "type", "shape"], [-2, 3])), "sizes >= 0"),
    ("inputs list", lambda: _edited(_set(["graph", "inputs"], [0])), "not the ids of the graph's input nodes"),
    ("bad loc", lambda: _edited(_set(["graph", "nodes", 2, "loc"], ["f.py", "12"])), r"\[filename, line, function\]"),
    ("duplicate key", lambda: _edited(lambda d: None).replace('"version": 1', '"version": 1, "version": 1'),
     "'version' appears twice"),
]


@pytest.mark.parametrize("make, message", [(m, msg) for _, m, msg in BAD_DOCUMENTS],
                         ids=[name for name, _, _ in BAD_DOCUMENTS])
def test_a_malformed_or_wrong_version_document_is_a_clear_error(make, message):
    with pytest.raises(InvalidArgumentError, match=message):
        Graph.from_json(make())


def _constant_node(doc):
    return next(n for n in doc["graph"]["nodes"] if n["op"] == "constant")


@pytest.mark.parametrize("value, message", [
    ({"dtype": "float32", "shape": [], "data": "!!!"}, "constant data is not base64"),
    ({"dtype": "float32", "shape": [2], "data": "AACAPw=="}, r"a float32\[2\] constant holds 8 bytes, the document "
                                                             r"has 4"),
    ({"dtype": "object", "shape": [], "data": ""}, "known dtype"),
    ({"dtype": "float32", "shape": []}, "missing 'data'"),
])
def test_a_damaged_constant_is_a_clear_error(value, message):
    doc = _document()
    _constant_node(doc)["attrs"]["value"] = {"const": value}
    with pytest.raises(InvalidArgumentError, match=message):
        Graph.from_json(json.dumps(doc))


def test_the_document_names_its_format_and_version_and_stays_plain_json():
    text = _graph(lambda x: x / 0.0, np.ones(2, np.float64)).to_json()
    doc = json.loads(text)
    assert doc["format"] == serialize.FORMAT == "graphjit-graph" and doc["version"] == serialize.VERSION == 1
    assert "NaN" not in text and "Infinity" not in text   # strict JSON, readable by any parser
    assert isinstance(Graph.from_json(text), Graph)
    assert Graph.from_json(text.encode()) == Graph.from_json(text)   # bytes, as json.loads takes them


def test_a_document_reads_back_in_a_new_process_with_the_same_content_hash(tmp_path):
    import subprocess
    import sys
    chooser = RandomChooser(11)
    progs = [draw_program(chooser, max_ops=16) for _ in range(10)]
    flat = [x for p in progs for x in p.inputs]
    graphs = [_graph(build_function(progs), *flat), _constant_graph([np.array([np.nan, -0.0], np.float32)])]
    paths = []
    for k, graph in enumerate(graphs):
        paths.append(tmp_path / f"g{k}.json")
        paths[-1].write_text(graph.to_json())
    reader = ("import sys, graphjit\nfrom graphjit.tracer.ir import Graph\n"
              "for path in sys.argv[1:]:\n    print(Graph.from_json(open(path).read()).fingerprint())\n")
    done = subprocess.run([sys.executable, "-c", reader, *map(str, paths)], capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout.split() == [g.fingerprint() for g in graphs]


def test_symbolic_sizes_and_constants_stored_outside_round_trip():
    @gj.function(input_signature=[gj.TensorSpec([None, 4], gj.float32)])
    def f(x):
        half = gj.reshape(x, [-1, 2, 2])                  # sizes n0, 2, 2 and n0 * 4 elements
        return gj.concat([gj.reduce_sum(half, axis=2) * np.arange(2, dtype=np.float32), x[::2, :2]], axis=0)
    graph = f.get_concrete_function().graph
    assert any(isinstance(d, gj.tracer.symbolic.SymInt) for n in graph.nodes for d in (n.type.shape or ()))
    constants = {}
    text = serialize.graph_to_json(graph, constants)
    assert constants and all(isinstance(a, np.ndarray) for a in constants.values()) and '"data"' not in text
    back = serialize.graph_from_json(text, None, constants)
    assert back.fingerprint() == graph.fingerprint() and str(back) == str(graph)
    with pytest.raises(InvalidArgumentError, match="stored outside the document"):
        serialize.graph_from_json(text)


@pytest.mark.parametrize("text", ["__import__('os')", "n0 ** 2", "n0.real", "n0 / 2", "nx + 1", "(n0"])
def test_a_size_text_is_parsed_never_evaluated(text):
    doc = json.loads(_graph(lambda x: x + 1.0, np.ones(2, np.float32)).to_json())
    doc["graph"]["nodes"][0]["type"]["shape"] = [text]
    with pytest.raises(InvalidArgumentError, match="size expression"):
        Graph.from_json(json.dumps(doc))
