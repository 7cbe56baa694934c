"""compat.v1 Sessions: the runtime environment of a TF1-style graph.

A Session holds its own variable values and random generator (a ``State``, as the global runtime
does) and runs parts of its graph: ``run(fetches, feed_dict)`` prunes the graph to what the fetches
need, replays that with the fed shapes into an IR graph (``Graph.plan_graph``) and runs it through the
runtime's backend, like a ``gj.function``. Plans are cached on the graph by (fetches, fed tensors and
their shapes/dtypes), so repeated runs and new sessions on the graph never recompile.

Threads: ``run`` may be called from several threads on one session. Runs that assign variables are
serialized (each sees and leaves consistent values); read-only runs proceed in parallel with each
other, never with an assigning run.
"""
import threading

import numpy as np

from graphjit.tracer import nest
from graphjit.tracer.errors import FailedPreconditionError, InvalidArgumentError, InvalidTypeError
from graphjit.tracer.ir import TensorType
from graphjit.tracer.program import Program
from graphjit.runtime.runtime import get_runtime
from graphjit.runtime.state import State
from graphjit.tracer.tensor import EagerTensor, Tensor

from ._graph import Graph, GraphTensor, get_default_graph, install_default_session_getter


class Plan(Program):
    """One pruned, compiled run of a graph (the core's Program): the fetches' graph and the inputs it is fed."""

    def __init__(self, graph, inputs):
        super().__init__(graph)
        self.inputs = inputs
        self.writes = any(node.op == "assign_variable" for node in graph.nodes)


class Session:
    """``Session(graph=None)``: runs ops of ``graph`` (default: the default graph) with its own values."""

    def __init__(self, target="", graph=None, config=None):
        graph = get_default_graph() if graph is None else graph
        if not isinstance(graph, Graph):
            raise InvalidTypeError(f"Session(graph=...) must be a gj.compat.v1.Graph, got {type(graph).__name__}")
        self._graph = graph
        self._state = State(graph.seed)
        self._closed = False
        self._lock = _ReadWriteLock()
        self._entered = []
        self._fetch_cache = {}
        self.compile_count = 0  # plans this session had to build (0 when the graph already had them)

    graph = property(lambda self: self._graph)

    def __repr__(self):
        return f"<gj.compat.v1.Session on {self._graph.name}{' (closed)' if self._closed else ''}>"

    # -- running --

    def run(self, fetches, feed_dict=None, options=None, run_metadata=None):
        """Computes ``fetches`` (tensors, ops, variables, names, or nested lists/tuples/dicts of them) and
        returns their values in the same structure; ops give None. ``feed_dict`` maps tensors (or their
        names) to values that replace them in this run."""
        if self._closed:
            self._check_open()
        single = not isinstance(fetches, (list, tuple, dict))
        leaves = ([fetches] if fetches is not None else []) if single else nest.flatten(fetches)
        slots, fetch_ids, targets = self._resolve_fetches(leaves)
        feeds = self._feeds(feed_dict) if feed_dict else {}
        key = (fetch_ids, targets, tuple([(i, a.shape, a.dtype) for i, a in feeds.items()]))
        plan = self._graph.plans.get(key) or self._plan(key, feeds)
        arrays = [feeds[i] for i in plan.inputs]
        executable = get_runtime().executable(plan)
        lock = self._lock
        if plan.writes:  # the state must not keep (or write into) the caller's arrays
            arrays = [np.array(a) for a in arrays]
            lock.acquire_write()
        else:
            lock.acquire_read()
        try:
            self._check_open()
            outputs = executable.run(self._state, arrays)
        finally:
            lock.release_write() if plan.writes else lock.release_read()
        outputs = _owned(outputs, self._state, arrays)
        values = [outputs[s] if type(s) is int else s if s is None else _value(s) for s in slots]
        return values[0] if single else nest.pack_sequence_as(fetches, values)

    def _resolve_fetches(self, leaves):
        """(slots, fetched op ids, target op ids): a slot is an output index, None for an op, or the
        value of an eager tensor. Cached by the leaves' identities; each entry holds its leaves, so no id in a
        live key can be reused by another object (a dead fetch's address given to a new one)."""
        key = tuple([leaf if type(leaf) is str else id(leaf) for leaf in leaves])
        entry = self._fetch_cache.get(key)
        if entry is not None:
            return entry[0]
        if not leaves:
            raise InvalidArgumentError("Session.run: fetches is empty; pass a tensor, an op, a name, or a "
                                       "list/tuple/dict of them")
        graph = self._graph
        slots, fetch_index, targets, cacheable = [], {}, [], True
        for leaf in leaves:
            if type(leaf) is EagerTensor:  # a gj.constant built outside the graph: its value
                slots.append(leaf._value)
                cacheable = False  # its value is the slot: nothing to resolve, nothing to cache
                continue
            op, wants_value = graph.as_graph_element(leaf, "fetch")
            if wants_value:
                slots.append(fetch_index.setdefault(op._id, len(fetch_index)))
            else:
                slots.append(None)
                targets.append(op._id)
        found = (slots, tuple(fetch_index), tuple(targets))
        if cacheable:
            if len(self._fetch_cache) > 1024:
                self._fetch_cache.clear()
            self._fetch_cache[key] = (found, tuple(leaves))
        return found

    def _feeds(self, feed_dict):
        feeds = {}
        for key, value in feed_dict.items():
            tensor = self._graph.get_tensor_by_name(key) if type(key) is str else key
            if not isinstance(tensor, GraphTensor) or tensor._trace is not self._graph:
                self._bad_feed_key(key, tensor)
            if isinstance(value, Tensor) and type(value) is not EagerTensor:
                raise InvalidTypeError(f"The value of a feed cannot be a graph tensor or variable: '{tensor.name}' "
                                       f"was fed {value!r}. Feeds must be values (arrays, numbers, lists); "
                                       f"run the tensor first to get its value")
            if value is None or (getattr(value, "dtype", None) is not None and value.dtype.kind == "c") \
                    or type(value) is complex:  # None would become NaN and complex lose its imaginary part
                raise InvalidArgumentError(f"Cannot feed {value!r:.40} for '{tensor.name}' of dtype "
                                           f"{tensor.dtype.name}: feeds must be real numbers, arrays or lists")
            try:
                array = np.asarray(value, dtype=tensor._type.dtype.np)
            except (TypeError, ValueError, OverflowError) as err:
                raise InvalidArgumentError(f"Cannot convert the value fed for '{tensor.name}' to "
                                           f"{tensor.dtype.name}: {err}") from None
            static = tensor._type.shape
            if static is not None and not _compatible(static, array.shape):
                raise InvalidArgumentError(f"Cannot feed value of shape {array.shape} for tensor '{tensor.name}', "
                                           f"which has shape {tensor.shape}")
            feeds[tensor._id] = array
        return feeds if len(feeds) < 2 else dict(sorted(feeds.items()))

    def _bad_feed_key(self, key, tensor):
        if not isinstance(tensor, GraphTensor):
            raise InvalidTypeError(f"feed_dict key {key!r} is a {type(key).__name__}: keys must be tensors "
                                   f"of graph {self._graph.name} (or their names, like 'x:0')")
        self._graph._check_own(tensor, "feed_dict key")

    def _plan(self, key, feeds):
        graph = self._graph
        with graph._lock:
            plan = graph.plans.get(key)
            if plan is None:
                fed_types = {i: TensorType(a.shape, graph._ops[i].outputs[0].dtype) for i, a in feeds.items()}
                ops = graph._ops
                ir, inputs = graph.plan_graph([ops[i] for i in key[0]], [ops[i] for i in key[1]], fed_types)
                plan = graph.plans[key] = Plan(ir, inputs)
                graph.compile_count += 1
                self.compile_count += 1
        return plan

    # -- variable values (for Saver and Variable.load) --

    def variable_values(self, variables):
        """{variable name: value} for ``variables`` (each must be initialized in this session)."""
        self._check_open()
        return {v._ref.name: self._state.read(v._ref) for v in variables}

    def set_variable_values(self, pairs):
        """Sets variables' values from ``(variable, array)`` pairs (already validated), all at once."""
        self._lock.acquire_write()
        try:
            self._check_open()
            for variable, array in pairs:
                self._state.write(variable._ref, np.array(array, dtype=variable.dtype.np, copy=True))
        finally:
            self._lock.release_write()

    def load_variable(self, variable, value):
        if getattr(variable, "_graph", None) is not self._graph:
            raise InvalidArgumentError(f"variable {variable!r} is not a variable of this session's graph "
                                       f"{self._graph.name}")
        try:
            array = np.asarray(value, dtype=variable.dtype.np)
        except (TypeError, ValueError, OverflowError) as err:
            raise InvalidArgumentError(f"Cannot load a value into '{variable.name}': {err}") from None
        if array.shape != tuple(variable.shape):
            raise InvalidArgumentError(f"Cannot load a value of shape {array.shape} into variable "
                                       f"'{variable.name}' of shape {tuple(variable.shape)}")
        self.set_variable_values([(variable, array)])

    # -- lifetime and defaults --

    def _check_open(self):
        if self._closed:
            raise FailedPreconditionError("Attempted to use a closed Session.")

    def close(self):
        """Frees this session's variable values; later runs raise."""
        self._lock.acquire_write()
        self._closed = True
        self._state.values.clear()
        self._lock.release_write()
        _defaults.discard(self)

    def as_default(self):
        """A context manager making this the default session of this thread (for ``eval``/``run``)."""
        return _SessionDefault(self)

    def __enter__(self):
        entered = (self.as_default(), self._graph.as_default())
        for manager in entered:
            manager.__enter__()
        self._entered.append(entered)
        return self

    def __exit__(self, *exc):
        for manager in reversed(self._entered.pop()):
            manager.__exit__(*exc)
        self.close()


class InteractiveSession(Session):
    """A Session that makes itself this thread's default on creation (for shells and notebooks)."""

    def __init__(self, target="", graph=None, config=None):
        super().__init__(target, graph, config)
        _defaults.stack.append(self)


def _compatible(static, shape):
    if len(static) != len(shape):
        return False
    for want, got in zip(static, shape):
        if want is not None and want != got:
            return False
    return True


def _value(array):
    return array[()] if array.ndim == 0 else array.copy()


def _owned(outputs, state, fed):
    """Results the caller may keep and modify: copies of any that alias a variable's value, a fed array or
    a constant (a fresh buffer from the run is returned as is)."""
    result = []
    shared = None
    for array in outputs:
        if array.base is None and array.flags.writeable:
            if shared is None:
                # by id, within this call: the state, the feeds and the outputs hold every array compared
                shared = {id(a) for a in state.values.values()} | {id(a) for a in fed}
            if id(array) not in shared:
                result.append(array[()] if array.ndim == 0 else array)
                continue
        result.append(_value(array))
    return result


class _Defaults(threading.local):
    def __init__(self):
        self.stack = []

    def discard(self, session):
        if session in self.stack:
            self.stack.remove(session)


_defaults = _Defaults()


def get_default_session():
    """This thread's innermost default session, or None."""
    return _defaults.stack[-1] if _defaults.stack else None


install_default_session_getter(get_default_session)


class _SessionDefault:
    def __init__(self, session):
        self.session = session

    def __enter__(self):
        _defaults.stack.append(self.session)
        return self.session

    def __exit__(self, *exc):
        stack = _defaults.stack
        if self.session in stack:
            del stack[len(stack) - 1 - stack[::-1].index(self.session)]


class _ReadWriteLock:
    """Many readers or one writer (runs that assign variables write; compiled kernels may update a
    variable's buffer in place, so nobody else may be reading it then)."""

    def __init__(self):
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writing = False

    def acquire_read(self):
        with self._cond:
            while self._writing:
                self._cond.wait()
            self._readers += 1

    def release_read(self):
        with self._cond:
            self._readers -= 1
            if not self._readers:
                self._cond.notify_all()

    def acquire_write(self):
        with self._cond:
            while self._writing or self._readers:
                self._cond.wait()
            self._writing = True

    def release_write(self):
        with self._cond:
            self._writing = False
            self._cond.notify_all()
