"""``gj.Module``: a named container of variables and other modules, as ``tf.Module``.

What a module holds is found by ``tracer.trackable.walk``, the same walk a checkpoint saves: attributes (every
one, private included, as ``tf.Module``), lists, tuples, dicts (sorted keys) and nested modules, breadth-first
in sorted order, each object once however often it is reachable. ``@gj.function`` on a method traces once per
instance and signature (``Function.__get__`` gives each instance its own function), so each instance's graphs
read its own variables.
"""
import functools
import re

from .errors import InvalidArgumentError
from .trackable import walk
from .variables import Variable, current_name_scope, name_scope

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# A default name from the class name, by TF's rule: MLP -> mlp, DenseLayer -> dense_layer, HTTPServer -> http_server
_CAMEL_TO_SNAKE = re.compile(r"((?<=[a-z0-9])[A-Z]|(?!^)[A-Z](?=[a-z]))")


class Module:
    """Base class of models and layers: ``name``, ``name_scope``, ``variables``, ``trainable_variables``,
    ``submodules``. Variables created inside ``with self.name_scope:`` are named ``<scope>/<name>``, where the
    scope is the module's name inside whatever scope was active when the module was made."""

    def __init__(self, name=None):
        if name is None:
            name = _CAMEL_TO_SNAKE.sub(r"_\1", type(self).__name__).lower()
        elif not isinstance(name, str) or not _IDENTIFIER.match(name):
            raise InvalidArgumentError(f"gj.Module: name={name!r} is not a valid module name; module names must "
                                       f"be valid Python identifiers (e.g. 'dense_1')")
        self._name = name
        self._scope_name = f"{current_name_scope()}{name}/"   # absolute: the same scope wherever it is re-entered

    @property
    def name(self):
        return self._name

    @property
    def name_scope(self):
        """A context manager: variables created inside are named ``<this module's scope>/<name>``."""
        return name_scope(self._scope_name)

    @property
    def variables(self):
        """Every ``gj.Variable`` this module and its submodules hold, each once, in a deterministic order."""
        return tuple(obj for _, obj in walk(self) if isinstance(obj, Variable))

    @property
    def trainable_variables(self):
        """The ``variables`` made with ``trainable=True``."""
        return tuple(v for v in self.variables if v.trainable)

    @property
    def submodules(self):
        """Every module reachable from this one (itself excluded), each once, breadth-first."""
        return tuple(obj for path, obj in walk(self) if path and isinstance(obj, Module))

    def _trackable_children(self):
        return sorted(getattr(self, "__dict__", {}).items())

    @classmethod
    def with_name_scope(cls, method):
        """Decorator for methods: the method runs inside ``self.name_scope`` (``tf.Module.with_name_scope``)."""
        @functools.wraps(method)
        def in_scope(self, *args, **kwargs):
            with self.name_scope:
                return method(self, *args, **kwargs)
        return in_scope

    def __repr__(self):
        return f"<gj.Module {type(self).__name__} '{self._name}'>"
