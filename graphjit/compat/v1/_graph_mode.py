"""TF1's graph mode for compat.v1's own functions: ``tf.matmul(a, b)`` adds an op to a graph, never runs.

TF1 programs build ``tf.constant(2) + tf.constant(3)`` and then ``sess.run`` it, without any
``as_default`` block, so an op of this namespace called where nothing is being built (no Graph is the
default, no gj.function is tracing) goes to a graph: the graph of its first graph input (TF1's rule
when no graph was made the default explicitly), else the default graph. Inside ``as_default`` or a
trace the core already puts the op there. The TF2 names (``gj.matmul``) keep running eagerly.
"""
import functools

from graphjit.tracer import context

from ._graph import GraphTensor, get_default_graph


def graph_of(args, kwargs):
    """The graph of the first compat.v1 graph tensor or variable among the arguments (and one level into
    lists, tuples and dicts), else the default graph."""
    for value in (*args, *kwargs.values()):
        items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else (value,)
        for item in items:
            if isinstance(item, GraphTensor):
                return item.graph
            graph = getattr(item, "_graph", None) if getattr(item, "_is_variable", False) else None
            if graph is not None:
                return graph
    return get_default_graph()


def in_graph(fn):
    """``fn`` building into a graph when called where ops would run eagerly."""
    @functools.wraps(fn)
    def v1(*args, **kwargs):
        if not context.executing_eagerly():
            return fn(*args, **kwargs)
        with graph_of(args, kwargs).as_default():
            return fn(*args, **kwargs)
    v1.__wrapped__ = fn
    return v1
