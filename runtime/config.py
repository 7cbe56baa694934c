"""``gj.config``: process-wide settings of the runtime.

Every option is validated when it is assigned, so a typo or a bad value fails at the line that wrote it
(with the valid choices in the message), not on some later call.
"""
import os

from graphjit.tracer.errors import InvalidArgumentError
from graphjit.tracer.function import OPTIONS as _FUNCTION_OPTIONS


def _choice(*values):
    def check(name, value):
        if value not in values:
            raise InvalidArgumentError(f"gj.config.{name} must be one of {', '.join(map(repr, values))}; "
                                       f"got {value!r}")
        return value
    return check


def _flag(name, value):
    if type(value) is not bool:
        raise InvalidArgumentError(f"gj.config.{name} must be True or False; got {value!r}")
    return value


def _backend(name, value):
    from graphjit.compiler.backend import available_backends  # the backends register themselves on import
    names = available_backends()
    if value not in names:
        raise InvalidArgumentError(f"gj.config.{name} must be one of {', '.join(map(repr, names))}; got {value!r}")
    return value


def _positive_int(name, value):
    if type(value) is not int or value < 1:
        raise InvalidArgumentError(f"gj.config.{name} must be a positive int; got {value!r}")
    return value


def _debug_compare(name, value):
    if value not in (False, True, "raise", "warn"):
        raise InvalidArgumentError(f"gj.config.{name} must be False, True (= 'raise') or 'warn'; got {value!r}")
    return value


class Config:
    """Settings read by the runtime on every call (so they can change between calls).

    - ``backend``: which backend runs traced graphs on the CPU: "cpu" (Numba, the default) or
      "interpreter" (the reference interpreter). ``GRAPHJIT_BACKEND`` sets the default.
    - ``on_compile_error``: "raise" (default) raises CompilationError; "interpret" warns and runs the
      reference interpreter instead.
    - ``compile_in_background``: True (default) runs a new graph's first calls on the reference
      interpreter while Numba compiles it in a thread; False compiles before the first call returns.
      ``GRAPHJIT_BACKGROUND_COMPILE=0`` sets the default to False.
    - ``debug_compare``: shadow mode. False (default); True or "raise" runs every traced graph on its backend
      and on the reference interpreter and raises ``InternalError`` naming the first node of the optimized
      graph whose values differ beyond the tolerance; "warn" warns instead (``@gj.function(debug_compare=...)``
      sets it per function). Costs an interpreter run per call: for debugging only.
    - ``max_traces``: how many traces one ``gj.function`` keeps (default 128); the least recently used
      trace is dropped beyond it (and retraced if its signature comes back).
    - ``explain_retracing``: True logs (logger ``graphjit.function``, level INFO) every new trace of a
      ``gj.function`` with what changed since the closest earlier trace (``x: shape (3,) -> (4,)``, ``n: Python
      value 2 -> 3``) and the call site. Whatever its value, a function traced 5, 10, 20... times warns.
    - ``run_functions_eagerly(True)`` makes every ``gj.function`` call its Python body eagerly (print,
      breakpoints and debuggers work), as ``tf.config.run_functions_eagerly``; ``functions_run_eagerly()``
      reads it.
    """

    _OPTIONS = {
        "backend": _backend,
        "on_compile_error": _choice("raise", "interpret"),
        "compile_in_background": _flag,
        "debug_compare": _debug_compare,
        "max_traces": _positive_int,
        "explain_retracing": _flag,
    }
    _FUNCTION_SETTINGS = ("max_traces", "explain_retracing")   # mirrored where gj.function reads them

    def __init__(self):
        # Bumped by every assignment: per-call shortcuts that depend on the settings (the runtime's fast_call)
        # compare one number instead of each option.
        object.__setattr__(self, "version", 0)
        # The environment's default is checked on first use of the backend, not here: at import time
        # the backends have not registered yet.
        object.__setattr__(self, "backend", os.environ.get("GRAPHJIT_BACKEND", "cpu"))
        self.on_compile_error = "raise"
        self.compile_in_background = os.environ.get("GRAPHJIT_BACKGROUND_COMPILE", "1") != "0"
        self.debug_compare = False
        self.max_traces = 128
        self.explain_retracing = False

    def __setattr__(self, name, value):
        check = self._OPTIONS.get(name)
        if check is None:
            raise InvalidArgumentError(f"gj.config has no option {name!r}; the options are "
                                       f"{', '.join(sorted(self._OPTIONS))} (and run_functions_eagerly(flag))")
        object.__setattr__(self, name, check(name, value))
        if name in self._FUNCTION_SETTINGS:
            setattr(_FUNCTION_OPTIONS, name, value)
        object.__setattr__(self, "version", self.version + 1)
        for hook in _CHANGE_HOOKS:
            hook()

    def run_functions_eagerly(self, run_eagerly):
        """With True, ``gj.function`` calls run the Python function itself, op by op (for debugging)."""
        _FUNCTION_OPTIONS.run_eagerly = _flag("run_functions_eagerly", run_eagerly)

    def functions_run_eagerly(self):
        return _FUNCTION_OPTIONS.run_eagerly

    def __repr__(self):
        options = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._OPTIONS)
        return f"Config({options}, functions_run_eagerly={_FUNCTION_OPTIONS.run_eagerly})"


# Called after every assignment (the runtime drops its per-call shortcuts, which depend on the settings).
_CHANGE_HOOKS = []


def on_change(hook):
    _CHANGE_HOOKS.append(hook)


config = Config()
