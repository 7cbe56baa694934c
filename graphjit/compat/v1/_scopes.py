"""The scoped state of compat.v1 graph building, per thread: the default-graph stack, name scopes and
control-dependency blocks (the context managers behind ``Graph.as_default``, ``name_scope`` and
``control_dependencies``)."""
import threading

from graphjit.tracer import context


class Stacks(threading.local):
    def __init__(self):
        self.graphs = []


stacks = Stacks()


class GraphDefault:
    def __init__(self, graph):
        self.graph = graph
        self._pushed = []

    def __enter__(self):
        pushed = context.pushed(self.graph)
        pushed.__enter__()
        self._pushed.append(pushed)
        stacks.graphs.append(self.graph)
        return self.graph

    def __exit__(self, *exc):
        stacks.graphs.pop()
        self._pushed.pop().__exit__(*exc)


class ControlDependencies:
    def __init__(self, graph, control_inputs):
        self.graph = graph
        if control_inputs is None:
            self.ids = None
        else:
            self.ids = [graph.as_graph_element(c, "control input")[0]._id for c in control_inputs]

    def __enter__(self):
        local = self.graph._local
        self.previous = getattr(local, "controls", [])
        local.controls = [] if self.ids is None else self.previous + [self.ids]

    def __exit__(self, *exc):
        self.graph._local.controls = self.previous


class ScopeOf:
    """Sets a graph's name scope (on this thread) to an absolute value for a block."""

    def __init__(self, graph, scope):
        self.graph, self.scope = graph, scope

    def __enter__(self):
        self.previous = self.graph._scope
        self.graph._local.scope = self.scope
        return self.scope

    def __exit__(self, *exc):
        self.graph._local.scope = self.previous


class NameScope:
    def __init__(self, graph, name):
        self.graph, self.name = graph, name

    def __enter__(self):
        graph = self.graph
        if self.name is None or self.name == "":
            self._inner = ScopeOf(graph, "")
        elif self.name.endswith("/"):  # an absolute scope, reused as is (TF's convention)
            self._inner = ScopeOf(graph, self.name)
        else:
            self._inner = ScopeOf(graph, graph.unique_name(self.name) + "/")
        return self._inner.__enter__()

    def __exit__(self, *exc):
        self._inner.__exit__(*exc)
