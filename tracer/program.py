"""A Program: a graph that the runtime compiles and runs, and the key of the runtime's tables for it.

Three kinds of thing are run by the runtime, and each is a Program: a trace of ``@gj.function``
(``tracer.function.ConcreteFunction``), a variable's initial value lifted out of a trace (``tracer.tracing``),
and a pruned fetch of a compat.v1 Session (``graphjit.compat.v1``'s Plan). The runtime keys what it compiles
for a program (executables per backend, the per-call shortcut) by the program object, held weakly, and by its
``uid``, which is never reused (unlike ``id()``); so what was compiled for a program dies with it, and no other
program can ever find it.
"""
import itertools

_uids = itertools.count(1)


class Program:
    """``graph`` run by the runtime. ``jit_compile``: None follows ``gj.config.backend``, False runs the reference
    interpreter (nothing is compiled), True the configured compiling backend. ``debug_compare``: None follows
    ``gj.config.debug_compare`` (shadow mode), else it is this program's own setting."""

    def __init__(self, graph, name=None, *, jit_compile=None, debug_compare=None):
        self.graph = graph
        self.name = graph.name if name is None else name
        self.jit_compile = jit_compile
        self.debug_compare = debug_compare
        self.uid = next(_uids)

    def __repr__(self):
        return f"<{type(self).__name__} {self.name}>"
