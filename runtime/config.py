"""``gj.config``: process-wide settings of the runtime."""
import os


class Config:
    """Settings read by the runtime on every call (so they can change between calls).

    - ``backend``: which backend runs traced graphs on the CPU: "cpu" (Numba, the default) or
      "interpreter" (the reference interpreter). ``GRAPHJIT_BACKEND`` sets the default.
    - ``on_compile_error``: "raise" (default) raises CompilationError; "interpret" warns and runs the
      reference interpreter instead.
    - ``compile_in_background``: True (default) runs a new graph's first calls on the reference
      interpreter while Numba compiles it in a thread; False compiles before the first call returns.
      ``GRAPHJIT_BACKGROUND_COMPILE=0`` sets the default to False.
    """

    def __init__(self):
        self.backend = os.environ.get("GRAPHJIT_BACKEND", "cpu")
        self.on_compile_error = "raise"
        self.compile_in_background = os.environ.get("GRAPHJIT_BACKGROUND_COMPILE", "1") != "0"

    def __repr__(self):
        return (f"Config(backend={self.backend!r}, on_compile_error={self.on_compile_error!r}, "
                f"compile_in_background={self.compile_in_background!r})")


config = Config()
