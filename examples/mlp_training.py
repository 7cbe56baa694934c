"""A 2-layer MLP classifier trained with softmax cross-entropy on Gaussian blobs made with NumPy (no download):
a gj.Module, gj.GradientTape and gj.optimizers.Adam, one traced training step (forward, backward and the
updates in one compiled call), minibatches, a line per epoch, and a checkpoint saved mid-way and restored
into a fresh model and optimizer, which then finish the training exactly as the original would.

Run: python examples/mlp_training.py
"""
import sys
import tempfile

import numpy as np

import graphjit as gj

# Every step on compiled code, from the first (no interpreter stand-in while Numba compiles): the restored run
# then repeats the original's arithmetic exactly, not merely within rounding.
gj.config.compile_in_background = False

CLASSES, FEATURES, HIDDEN = 4, 8, 32
EPOCHS, BATCH = 6, 64

rng = np.random.default_rng(0)
centers = rng.normal(size=(CLASSES, FEATURES)) * 2.5
labels = rng.integers(0, CLASSES, size=2048)
points = (centers[labels] + rng.normal(size=(labels.size, FEATURES))).astype(np.float32)
train_x, test_x = points[:1536], points[1536:]
train_y, test_y = labels[:1536], labels[1536:]


class MLP(gj.Module):
    def __init__(self, seed):
        super().__init__()
        init = np.random.default_rng(seed)
        with self.name_scope:
            self.w1 = gj.Variable((init.normal(size=(FEATURES, HIDDEN)) / np.sqrt(FEATURES)).astype(np.float32),
                                  name="w1")
            self.b1 = gj.Variable(np.zeros(HIDDEN, np.float32), name="b1")
            self.w2 = gj.Variable((init.normal(size=(HIDDEN, CLASSES)) / np.sqrt(HIDDEN)).astype(np.float32),
                                  name="w2")
            self.b2 = gj.Variable(np.zeros(CLASSES, np.float32), name="b2")

    def __call__(self, x):
        return gj.nn.relu(x @ self.w1 + self.b1) @ self.w2 + self.b2


def make_step(model, optimizer):
    @gj.function
    def train_step(x, y):
        with gj.GradientTape() as tape:
            loss = gj.reduce_mean(gj.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=model(x)))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss
    return train_step


def accuracy(model, x, y):
    return float(np.mean(np.argmax(model(gj.constant(x)).numpy(), axis=1) == y))


def run_epochs(model, step, first, last):
    for epoch in range(first, last):
        order = np.random.default_rng(epoch).permutation(train_x.shape[0])   # the same batches on any run
        losses = []
        for k, start in enumerate(range(0, order.size, BATCH)):
            batch = order[start:start + BATCH]
            losses.append(float(step(gj.constant(train_x[batch]), gj.constant(train_y[batch]))))
            if sys.stdout.isatty():   # a progress line on a terminal, not in logs
                sys.stdout.write(f"\r  epoch {epoch + 1}/{EPOCHS}: batch {k + 1}/{order.size // BATCH}")
        if sys.stdout.isatty():
            sys.stdout.write("\r")
        print(f"epoch {epoch + 1}: loss {np.mean(losses):.4f}, test accuracy {accuracy(model, test_x, test_y):.3f}")


model, optimizer = MLP(seed=1), gj.optimizers.Adam(learning_rate=0.01)
step = make_step(model, optimizer)
half = EPOCHS // 2
run_epochs(model, step, 0, half)

with tempfile.TemporaryDirectory() as folder:
    path = gj.train.Checkpoint(model=model, optimizer=optimizer).save(f"{folder}/mlp")
    print(f"saved {path.rsplit('/', 1)[-1]} after epoch {half}: {len(gj.train.list_variables(path))} entries")
    run_epochs(model, step, half, EPOCHS)                  # the original finishes ...
    restored, restored_optimizer = MLP(seed=2), gj.optimizers.Adam(learning_rate=0.01)
    gj.train.Checkpoint(model=restored, optimizer=restored_optimizer).restore(path).assert_consumed()
    print("restored into a fresh model and optimizer; training it on:")
    run_epochs(restored, make_step(restored, restored_optimizer), half, EPOCHS)   # ... and so does the restored one

same = all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(model.variables, restored.variables))
print(f"final test accuracy {accuracy(model, test_x, test_y):.3f}; restored run identical: {same}; "
      f"train_step traces: {step.experimental_get_tracing_count()}")
