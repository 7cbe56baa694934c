"""TF1's ``variable_scope`` and ``get_variable``: variables named by scope and shared on request.

Rules (TF1's): a variable scope prefixes the names of the variables ``get_variable`` makes
(``outer/inner/w``) and opens a name scope of the same name for ops (made unique: ``outer_1/``, while
variable names are not); ``reuse=True`` returns existing variables and raises for a missing one,
``reuse=AUTO_REUSE`` creates or returns, no reuse raises for an existing one. ``reuse`` is inherited
by sub-scopes and cannot be turned off inside them. Each graph has its own variables and, per thread,
its own current scope.
"""
import threading
import weakref

from graphjit.tracer.errors import InvalidArgumentError
from graphjit.tracer.shapes import TensorShape
from graphjit.tracer.source import user_location, with_location
from graphjit.tracer.tensor import as_dtype_arg

from ._graph import ROLLBACK_HOOKS, GraphTensor
from ._initializers import GlorotUniform, Zeros
from ._scopes import ScopeOf
from ._variables import Variable, target_graph


class _AutoReuse:
    def __repr__(self):
        return "AUTO_REUSE"


AUTO_REUSE = _AutoReuse()


class VariableScope:
    """A variable scope: its name, reuse mode and defaults for the variables made inside it."""

    def __init__(self, reuse, name="", initializer=None, dtype=None, name_scope=""):
        self.name, self._reuse, self.initializer, self.dtype = name, reuse, initializer, dtype
        self.original_name_scope = name_scope

    reuse = property(lambda self: self._reuse)

    def reuse_variables(self):
        """Makes the rest of this scope (and scopes opened inside it) reuse variables."""
        self._reuse = True

    def set_initializer(self, initializer):
        self.initializer = initializer

    def set_dtype(self, dtype):
        self.dtype = as_dtype_arg(dtype)

    def get_variable(self, name, *args, **kwargs):
        with _Entered(target_graph(), self):
            return get_variable(name, *args, **kwargs)

    def __repr__(self):
        return f"<VariableScope '{self.name}' reuse={self._reuse}>"


class _GraphScopes:
    """One graph's variables made by ``get_variable`` (by full name, with where each was made) and its
    current variable scope on each thread."""

    def __init__(self):
        self.variables = {}
        self.opened = set()  # full names of scopes opened so far (for default_name)
        self.local = threading.local()
        self.lock = threading.RLock()  # two threads asking for one new name must get one variable

    def current(self):
        scope = getattr(self.local, "scope", None)
        if scope is None:
            scope = self.local.scope = VariableScope(False)
        return scope


_graphs = weakref.WeakKeyDictionary()  # Graph -> _GraphScopes: dies with its graph
_graphs_lock = threading.Lock()


def _scopes(graph):
    with _graphs_lock:
        found = _graphs.get(graph)
        if found is None:
            found = _graphs[graph] = _GraphScopes()
        return found


def get_variable_scope():
    """The current variable scope of the default graph (the root scope has the name "")."""
    return _scopes(target_graph()).current()


class _Entered:
    """Makes ``scope`` the graph's current variable scope on this thread for a block."""

    def __init__(self, graph, scope):
        self.state, self.scope = _scopes(graph), scope

    def __enter__(self):
        self.previous = self.state.current()
        self.state.local.scope = self.scope
        return self.scope

    def __exit__(self, *exc):
        self.state.local.scope = self.previous


class variable_scope:  # noqa: N801  (TF's name)
    """``with variable_scope("layer", reuse=...) as scope:`` names and shares the variables made inside
    by ``get_variable``; ``name_or_scope`` may be a string, a VariableScope to re-enter, or None with
    ``default_name`` (made unique)."""

    def __init__(self, name_or_scope=None, default_name=None, values=None, initializer=None, regularizer=None,
                 caching_device=None, partitioner=None, custom_getter=None, reuse=None, dtype=None,
                 use_resource=None, constraint=None, auxiliary_name_scope=True):
        if name_or_scope is None and default_name is None:
            raise InvalidArgumentError(with_location("variable_scope: give name_or_scope or default_name"))
        if reuse not in (None, False, True) and reuse is not AUTO_REUSE:
            raise InvalidArgumentError(with_location(f"variable_scope: reuse must be None, True, False or "
                                                     f"AUTO_REUSE, got {reuse!r}"))
        if not isinstance(name_or_scope, (str, VariableScope, type(None))):
            raise InvalidArgumentError(with_location(f"variable_scope: name_or_scope must be a string or a "
                                                     f"VariableScope, got {type(name_or_scope).__name__}"))
        graph = next((v.graph for v in values or () if isinstance(v, GraphTensor)), None) or target_graph()
        self.graph, self.name_or_scope, self.default_name = graph, name_or_scope, default_name
        self.reuse, self.initializer, self.dtype = reuse, initializer, as_dtype_arg(dtype)
        self.auxiliary_name_scope = auxiliary_name_scope

    def __enter__(self):
        graph, state = self.graph, _scopes(self.graph)
        parent = state.current()
        given = self.name_or_scope
        if isinstance(given, VariableScope):
            full, inherited, ops_scope = given.name, given.reuse, given.original_name_scope
            defaults = given
        else:
            short = given if given is not None else self._unique_default(state, parent)
            full = f"{parent.name}/{short}" if parent.name else short
            inherited, ops_scope, defaults = parent.reuse, None, parent
        reuse = self.reuse if self.reuse in (True, AUTO_REUSE) else inherited
        if parent.reuse is True:  # TF1: reuse cannot be switched off inside a reusing scope
            reuse = True
        self._blocks = [graph.as_default()]
        if self.auxiliary_name_scope:
            short = full.rpartition("/")[2]
            self._blocks.append(ScopeOf(graph, ops_scope) if ops_scope else graph.name_scope(short))
        entered = [block.__enter__() for block in self._blocks]
        ops_scope = entered[-1] if self.auxiliary_name_scope else graph._scope
        scope = VariableScope(reuse, full, self.initializer or defaults.initializer, self.dtype or defaults.dtype,
                              ops_scope)
        state.opened.add(full)
        self._entered = _Entered(graph, scope)
        return self._entered.__enter__()

    def _unique_default(self, state, parent):
        prefix = f"{parent.name}/" if parent.name else ""
        name, i = self.default_name, 0
        while prefix + name in state.opened:
            i += 1
            name = f"{self.default_name}_{i}"
        return name

    def __exit__(self, *exc):
        self._entered.__exit__(*exc)
        for block in reversed(self._blocks):
            block.__exit__(*exc)


def get_variable(name, shape=None, dtype=None, initializer=None, regularizer=None, trainable=None, collections=None,
                 caching_device=None, partitioner=None, validate_shape=True, use_resource=None, custom_getter=None,
                 constraint=None, **unused_tf1_options):
    """The variable ``name`` of the current variable scope: made (with ``initializer``, by default the
    scope's, else glorot_uniform for floats and zeros otherwise) or, under reuse, the existing one."""
    graph = target_graph()
    state = _scopes(graph)
    with state.lock:
        return _get_variable(graph, state, state.current(), name, shape, dtype, initializer, trainable)


def _get_variable(graph, state, scope, name, shape, dtype, initializer, trainable):
    full = f"{scope.name}/{name}" if scope.name else name
    requested = as_dtype_arg(dtype, f"get_variable({full!r}, dtype)")
    if shape is not None:
        shape = TensorShape(shape)
    found = state.variables.get(full)
    if found is not None:
        variable, where = found
        if scope.reuse is not True and scope.reuse is not AUTO_REUSE:
            raise InvalidArgumentError(with_location(
                f"Variable {full} already exists, disallowed. Did you mean to set reuse=True or reuse=tf.AUTO_REUSE "
                f"in VarScope? Originally defined at {where}"))
        if shape is not None and not shape.is_compatible_with(variable.shape):
            raise InvalidArgumentError(with_location(f"Trying to share variable {full}, but specified shape {shape} "
                                                     f"and found shape {variable.shape}."))
        if requested is not None and requested is not variable.dtype:
            raise InvalidArgumentError(with_location(f"Trying to share variable {full}, but specified dtype "
                                                     f"{requested.name} and found dtype {variable.dtype.name}."))
        return variable
    if scope.reuse is True:
        raise InvalidArgumentError(with_location(
            f"Variable {full} does not exist, or was not created with tf.get_variable(). Did you mean to set "
            f"reuse=tf.AUTO_REUSE in VarScope?"))
    dtype = requested or scope.dtype or as_dtype_arg("float32")
    initializer = initializer if initializer is not None else scope.initializer
    if initializer is None:
        initializer = GlorotUniform() if dtype.is_floating else Zeros()
    elif isinstance(initializer, type):  # TF1 accepts the class itself: initializer=tf.zeros_initializer
        initializer = initializer(dtype=dtype)
    if callable(initializer):
        if shape is None or not shape.is_fully_defined():
            raise InvalidArgumentError(with_location(f"Shape of a new variable ({full}) must be fully defined, but "
                                                     f"instead was {shape}."))
        dims = tuple(shape)
        initial_value = lambda: initializer(dims, dtype=dtype)  # noqa: E731  (built inside the variable's scope)
    else:
        initial_value = initializer  # a tensor or a value: its own shape
    with ScopeOf(graph, ""):
        unique = graph.unique_name(full)  # reserves the name, so a later op cannot take it
    variable = Variable(initial_value, trainable=True if trainable is None else trainable, name=unique + "/",
                        dtype=dtype)
    if shape is not None and not shape.is_compatible_with(variable.shape):
        raise InvalidArgumentError(with_location(f"get_variable {full}: the initializer's shape {variable.shape} "
                                                 f"differs from the requested shape {shape}"))
    state.variables[full] = (variable, user_location())
    return variable


def forget_variables(graph, variables):
    """Drops ``variables`` (rolled back from ``graph``: see ``Graph.rollback``) from the names get_variable knows."""
    state = _scopes(graph)
    with state.lock:
        for full in [k for k, (v, _) in state.variables.items() if any(v is f for f in variables)]:
            del state.variables[full]


ROLLBACK_HOOKS.append(forget_variables)
