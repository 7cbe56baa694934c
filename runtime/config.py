"""``gj.config``: process-wide settings of the runtime."""
import os


class Config:
    """Settings read by the runtime on every call (so they can change between calls).

    - ``backend``: which backend runs traced graphs on the CPU: "cpu" (Numba, the default) or
      "interpreter" (the reference interpreter). ``GRAPHJIT_BACKEND`` sets the default.
    - ``on_compile_error``: "raise" (default) raises CompilationError; "interpret" warns and runs the
      reference interpreter instead.
    """

    def __init__(self):
        self.backend = os.environ.get("GRAPHJIT_BACKEND", "cpu")
        self.on_compile_error = "raise"

    def __repr__(self):
        return f"Config(backend={self.backend!r}, on_compile_error={self.on_compile_error!r})"


config = Config()
