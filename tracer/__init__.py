"""graphjit.tracer: tensors, the op registry, the graph IR, tracing, ``@function`` and its signature cache."""
