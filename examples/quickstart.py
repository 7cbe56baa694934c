"""graphjit in one page: eager ops, a traced function, a variable updated inside it, the printed graph."""
import numpy as np

import graphjit as gj

# Eager: ops run immediately, like NumPy, and NumPy functions work on tensors.
x = gj.constant([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
print("x =", x)
print("exp(x) * 2 =", np.exp(x) * 2.0)
print("row sums:", gj.reduce_sum(x, axis=1).numpy(), " dtype:", x.dtype)

# A variable lives in the global runtime; a traced function reads and updates it.
total = gj.Variable(0.0, name="total")


@gj.function
def accumulate(batch, scale):
    """Traced once per input signature; `scale` is a Python value, so it is part of the signature."""
    centered = batch - gj.reduce_mean(batch, axis=0)
    total.assign_add(gj.reduce_sum(gj.square(centered)) * scale)
    gj.print("total is now", total)  # runs on every call, unlike Python's print
    return gj.nn.relu(centered)


for step in range(3):
    out = accumulate(np.float32(np.random.default_rng(step).normal(size=(4, 3))), 0.5)

print("result of the last call:\n", out.numpy())
print("traces:", accumulate.experimental_get_tracing_count(), "(three calls, one signature)")
print("\nThe traced graph:")
print(accumulate.get_concrete_function(np.zeros((4, 3), np.float32), 0.5).graph)
