"""Where ops go: the current execution context (eager runtime, or a graph being traced).

Contexts form a per-thread stack. The bottom one is the runtime's eager context, installed by
``graphjit.runtime`` when it is imported; tracing pushes a ``TraceContext`` (``tracer.tracing``).
Every context implements:

- ``execute(op, inputs, attrs) -> Tensor``: run or record one op;
- ``call_function(concrete, inputs) -> list[Tensor]``: run or inline a traced graph;
- ``create_variable(variable, initial_value)``: give a new variable its value.
"""
import threading

from .errors import InternalError


class _ThreadState(threading.local):
    def __init__(self):
        self.stack = []
        self.top = None  # the innermost pushed context, None when only the eager context is active


_state = _ThreadState()
_eager_factory = None


def install_eager_context_factory(factory):
    """``factory()`` returns the global runtime's eager context (created on first use)."""
    global _eager_factory
    _eager_factory = factory


def eager_context():
    if _eager_factory is None:
        raise InternalError("graphjit.runtime was not imported: no eager context is installed")
    return _eager_factory()


def current():
    top = _state.top
    return top if top is not None else _fallback()


_fallback = eager_context  # the context when nothing is pushed (compat.v1's graph mode changes it)


def set_fallback(factory):
    """``factory()`` becomes the context when nothing is pushed; None restores the eager context.
    (``compat.v1.disable_eager_execution`` makes it the default graph, as TF1 does.)"""
    global _fallback
    _fallback = factory or eager_context


def executing_eagerly():
    return _state.top is None and _fallback is eager_context


def is_tracing():
    return _state.top is not None


class pushed:
    """``with pushed(ctx):`` makes ``ctx`` current for this thread."""

    def __init__(self, ctx):
        self.ctx = ctx

    def __enter__(self):
        _state.stack.append(self.ctx)
        _state.top = self.ctx
        return self.ctx

    def __exit__(self, *exc):
        _state.stack.pop()
        _state.top = _state.stack[-1] if _state.stack else None
