"""Where ops go: the one answer to "which context runs this op" (``context_for``).

Contexts form a per-thread stack. The bottom one is the runtime's eager context, installed by
``graphjit.runtime`` when it is imported; tracing pushes a ``TraceContext`` (``tracer.tracing``).
Every context implements:

- ``execute(op, inputs, attrs) -> Tensor``: run or record one op;
- ``call_function(concrete, inputs) -> list[Tensor]``: run or inline a traced graph;
- ``create_variable(variable, initial_value)``: give a new variable its value.

Extensions plug in without the core importing them (compat.v1 is the one today):

- ``set_fallback(factory)``: the context when nothing is pushed (TF1's ``disable_eager_execution``
  makes it the default graph);
- ``register_tensor_context(tensor_type)``: tensors of that type carry their own context (their
  ``_trace``), which runs ops on them when nothing is pushed (TF1: an op on a graph's tensor joins
  that graph), as JAX finds the trace from an op's arguments.

``_state.top`` is None exactly when an op on eager inputs runs eagerly with nothing recording it, so a fast
path needs only that one test to agree with ``context_for`` (under a gradient tape it is not None: the tape
must see every op).
"""
import threading

from .errors import InternalError


class _ThreadState(threading.local):
    # A class attribute: what every thread with nothing pushed sees (None: the eager context; a
    # ``_Fallback`` after ``set_fallback``). ``pushed`` shadows it per thread with the innermost context.
    top = None

    def __init__(self):
        self.stack = []


class _Fallback:
    """The context when nothing is pushed, resolved per op (the default graph can be replaced)."""
    __slots__ = ("factory",)

    def __init__(self, factory):
        self.factory = factory


_state = _ThreadState()
_eager_factory = None
_tensor_contexts = frozenset()  # tensor types whose ``_trace`` context runs ops on them (extensions)


def install_eager_context_factory(factory):
    """``factory()`` returns the global runtime's eager context (created on first use)."""
    global _eager_factory
    _eager_factory = factory


def eager_context():
    if _eager_factory is None:
        raise InternalError("graphjit.runtime was not imported: no eager context is installed")
    return _eager_factory()


def register_tensor_context(tensor_type):
    """Ops on a ``tensor_type`` input go to that tensor's ``_trace`` context when nothing is pushed."""
    global _tensor_contexts
    if tensor_type not in _tensor_contexts:
        _tensor_contexts = _tensor_contexts | {tensor_type}


def context_for(tensors):
    """The context that runs an op on ``tensors``: the innermost pushed one (a trace, a default graph, a
    gradient tape); else the context an input carries (``register_tensor_context``); else the fallback (eager,
    or the context ``set_fallback`` installed)."""
    top = _state.top
    if top is not None and type(top) is not _Fallback:
        return top
    return _unpushed(tensors)


def context_below(ctx, tensors):
    """The context that would run an op on ``tensors`` if the pushed ``ctx`` were not there (a context that
    wraps another, as a gradient tape does, hands its ops on to this one)."""
    stack = _state.stack
    for k in range(len(stack) - 1, -1, -1):
        if stack[k] is ctx:
            return stack[k - 1] if k else _unpushed(tensors)
    raise InternalError(f"{ctx!r} is not pushed on this thread")


def innermost_graph():
    """The innermost pushed context that builds a graph (a trace, a compat.v1 graph), or None; contexts that
    only wrap another one (``traces = False``: gradient tapes) are looked past."""
    for ctx in reversed(_state.stack):
        if getattr(ctx, "traces", True):
            return ctx
    return None


def _unpushed(tensors):
    top = _ThreadState.top
    carried = _tensor_contexts
    if carried:
        for t in tensors:
            if type(t) in carried:
                return t._trace
    return eager_context() if top is None else top.factory()


def current():
    """The context with no inputs to consult (constants, variables, function calls without tensors)."""
    return context_for(())


def set_fallback(factory):
    """``factory()`` becomes the context when nothing is pushed; None restores the eager context."""
    _ThreadState.top = None if factory is None else _Fallback(factory)


def executing_eagerly():
    """True when ops on eager tensors run at once (gradient tapes record them but do not change that)."""
    return _state.top is None or (innermost_graph() is None and _ThreadState.top is None)


def is_tracing():
    return innermost_graph() is not None


class pushed:
    """``with pushed(ctx):`` makes ``ctx`` current for this thread."""

    def __init__(self, ctx):
        self.ctx = ctx

    def __enter__(self):
        _state.stack.append(self.ctx)
        _state.top = self.ctx
        return self.ctx

    def __exit__(self, *exc):
        stack = _state.stack
        stack.pop()
        if stack:
            _state.top = stack[-1]
        else:
            del _state.top  # the class attribute (eager, or the fallback) shows through again
