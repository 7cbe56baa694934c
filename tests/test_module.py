"""gj.Module (tf.Module): names and name scopes, what variables and submodules are found, gj.function methods."""
import gc
import weakref

import numpy as np
import pytest

import graphjit as gj
from graphjit import train
from graphjit.errors import InvalidArgumentError
from graphjit.tracer.variables import name_scope


class Dense(gj.Module):
    def __init__(self, n_in, n_out, seed, name=None):
        super().__init__(name=name)
        rng = np.random.default_rng(seed)
        with self.name_scope:
            self.kernel = gj.Variable(rng.standard_normal((n_in, n_out)).astype(np.float32), name="kernel")
            self.bias = gj.Variable(np.zeros(n_out, np.float32), name="bias")

    @gj.function
    def __call__(self, x):
        return gj.matmul(x, self.kernel) + self.bias


class MLP(gj.Module):
    def __init__(self, name=None):
        super().__init__(name=name)
        with self.name_scope:
            self.layers = [Dense(3, 4, 1), Dense(4, 2, 2, name="head")]
            self.scale = gj.Variable(np.float32(2.0), name="scale", trainable=False)


def test_default_names_follow_tfs_camel_to_snake_rule_and_bad_names_are_refused():
    class HTTPServer(gj.Module):
        pass

    class DenseLayer2(gj.Module):
        pass
    assert MLP().name == "mlp" and HTTPServer().name == "http_server" and DenseLayer2().name == "dense_layer2"
    assert gj.Module().name == "module" and gj.Module(name="enc_1").name == "enc_1"
    for bad in ("two words", "1st", "a/b", "", 3):
        with pytest.raises(InvalidArgumentError, match=r"name=.* is not a valid module name"):
            gj.Module(name=bad)


def test_variables_made_in_a_modules_name_scope_are_prefixed_and_scopes_nest():
    # (names unique to this test: the runtime appends _1, _2... to a name given before)
    model = MLP(name="scoped_mlp")
    assert sorted(v.name for v in model.variables) == ["scoped_mlp/dense/bias", "scoped_mlp/dense/kernel",
                                                       "scoped_mlp/head/bias", "scoped_mlp/head/kernel",
                                                       "scoped_mlp/scale"]
    assert gj.Variable(1.0, name="unscoped_free").name == "unscoped_free"   # no scope is active any more
    outer = gj.Module(name="scoped_outer")
    with name_scope("scoped_block"):
        inner = gj.Module(name="inner")
    scope = outer.name_scope          # one object, entered twice, and re-entered from inside another scope
    with scope:
        a = gj.Variable(1.0, name="a")
        with scope:
            b = gj.Variable(1.0)
        with inner.name_scope:        # absolute: the scope the module was made in, wherever it is entered
            c = gj.Variable(1.0, name="c")
        with name_scope("sub"):
            d = gj.Variable(1.0, name="d")
            with name_scope(""):      # the root
                e = gj.Variable(1.0, name="scoped_root")
    assert [v.name for v in (a, b, c, d, e)] == ["scoped_outer/a", "scoped_outer/Variable", "scoped_block/inner/c",
                                                 "scoped_outer/sub/d", "scoped_root"]


def test_name_scopes_are_per_thread():
    import threading
    made = {}

    def other_thread():
        made["other"] = gj.Variable(1.0, name="threaded_other")
    with gj.Module(name="threaded_scope").name_scope:
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
        mine = gj.Variable(1.0, name="threaded_mine")
    assert made["other"].name == "threaded_other" and mine.name == "threaded_scope/threaded_mine"


def test_with_name_scope_decorates_methods():
    class Lazy(gj.Module):
        @gj.Module.with_name_scope
        def build(self):
            self.w = gj.Variable(np.ones(2, np.float32), name="w")
    m = Lazy(name="lazy_unique")
    m.build()
    assert m.w.name == "lazy_unique/w"


class Holder(gj.Module):
    """Every kind of place a variable can sit in, and one variable reachable three ways."""

    def __init__(self):
        super().__init__()
        self.z = gj.Variable(np.float32(1), name="z")
        self.table = {"b": gj.Variable(np.float32(2), name="tb"), "a": gj.Variable(np.float32(3), name="ta")}
        self.pair = (gj.Variable(np.float32(4), name="p0"), [gj.Variable(np.float32(5), name="p1")])
        self._private = gj.Variable(np.float32(6), name="private")   # tracked, as in tf.Module
        self.frozen = gj.Variable(np.float32(7), name="frozen", trainable=False)
        self.child = Dense(1, 1, 0, name="child")
        self.alias = self.z
        self.again = [self.child, self.child.kernel]
        self.not_state = (np.ones(3), "text", 4, len)


def test_variables_are_found_everywhere_once_in_a_deterministic_order():
    holder = Holder()
    # breadth-first by the first path (sorted attribute names and dict keys) reaching each variable: depth 1 has
    # _private, alias (= z) and frozen; depth 2 again[1] (= child.kernel), child.bias, pair[0], table['a'] and
    # table['b']; depth 3 pair[1][0]. z and the kernel are reachable twice and found once.
    child = holder.child
    expected = [holder._private, holder.z, holder.frozen, child.kernel, child.bias, holder.pair[0],
                holder.table["a"], holder.table["b"], holder.pair[1][0]]
    assert [id(v) for v in holder.variables] == [id(v) for v in expected], [v.name for v in holder.variables]
    assert [id(v) for v in holder.trainable_variables] == [id(v) for v in expected if v is not holder.frozen]
    assert [id(v) for v in Holder().variables] != [id(v) for v in expected]   # (a new instance: new variables)
    assert holder.submodules == (child,)
    model = MLP()
    assert model.submodules == tuple(model.layers)
    assert [v.name.split("/")[-1].split("_")[0] for v in model.variables] == ["scale", "bias", "kernel", "bias",
                                                                               "kernel"]
    assert not model.layers[0].submodules


def test_a_cycle_between_modules_ends():
    a, b = gj.Module(name="a"), gj.Module(name="b")
    a.other, b.other = b, a
    a.w = gj.Variable(1.0)
    assert a.submodules == (b,) and b.submodules == (a,) and a.variables == b.variables


def test_a_checkpoint_of_a_module_tracks_what_module_variables_finds_under_first_paths():
    holder = Holder()
    tracked = train.Checkpoint(model=holder)._variables()
    assert list(tracked) == ["model/_private", "model/alias", "model/frozen", "model/again/1", "model/child/bias",
                             "model/pair/0", "model/table/a", "model/table/b", "model/pair/1/0"]
    assert [id(v) for v in tracked.values()] == [id(v) for v in holder.variables]   # one walk for both


def test_a_gj_function_method_traces_per_instance_and_reads_each_instances_variables():
    first, second = Dense(3, 2, seed=10), Dense(3, 2, seed=11)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    for layer in (first, second):
        np.testing.assert_allclose(np.asarray(layer(x)), x @ layer.kernel.numpy() + layer.bias.numpy(), rtol=1e-6)
    assert first.__call__ is first.__call__ and first.__call__ is not second.__call__
    first(x), first(x + 1)      # same signature: no new trace
    first(x[:1])                # a new signature: a second trace, for this instance only
    assert first.__call__.experimental_get_tracing_count() == 2
    assert second.__call__.experimental_get_tracing_count() == 1
    assert Dense.__call__.experimental_get_tracing_count() == 0   # the class's function is never traced itself
    second.bias.assign(np.ones(2, np.float32))     # variables are read at call time, not captured as constants
    np.testing.assert_allclose(np.asarray(second(x)), x @ second.kernel.numpy() + 1, rtol=1e-6)
    gone = weakref.ref(second)
    del second, layer
    gc.collect()
    assert gone() is None   # the per-instance function does not keep its instance alive


class LazyDense(gj.Module):
    """Makes its variables on its first call, inside the trace (TF's pattern for a tf.function method)."""

    def __init__(self, units, seed):
        super().__init__()
        self.units, self.seed, self.kernel = units, seed, None

    @gj.function
    def __call__(self, x):
        if self.kernel is None:
            rng = np.random.default_rng(self.seed)
            with self.name_scope:
                self.kernel = gj.Variable(rng.standard_normal((x.shape[-1], self.units)).astype(np.float32),
                                          name="kernel")
        return gj.matmul(x, self.kernel)


def test_instances_of_one_class_make_their_variables_on_their_own_first_trace():
    x = np.ones((2, 3), np.float32)
    first, second = LazyDense(4, seed=1), LazyDense(4, seed=2)
    out_first, out_second = first(x), second(x)
    np.testing.assert_allclose(np.asarray(out_first), x @ first.kernel.numpy(), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(out_second), x @ second.kernel.numpy(), rtol=1e-6)
    assert not np.allclose(first.kernel.numpy(), second.kernel.numpy())
    assert first.variables == (first.kernel,) and second.variables == (second.kernel,)
    first(x)
    assert [m.__call__.experimental_get_tracing_count() for m in (first, second)] == [1, 1]
