"""Data-parallel training on Dask: the MLP classifier of mlp_training.py trained twice from the same start, once in
this process on whole batches and once with gj.distributed.data_parallel_step on 4 shards of each batch, whose
gradients two worker processes of a dask.distributed LocalCluster compute (they receive the step's graph as a
JSON document, never this file's code) and this process averages and applies. Both reach the same accuracy.

Needs the [distributed] extra:  pip install 'graphjit[distributed]'
Run: python examples/data_parallel.py
"""
import numpy as np

import graphjit as gj

CLASSES, FEATURES, HIDDEN = 4, 8, 32
EPOCHS, BATCH, SHARDS = 4, 256, 4

rng = np.random.default_rng(0)
centers = rng.normal(size=(CLASSES, FEATURES)) * 2.5
labels = rng.integers(0, CLASSES, size=2048)
points = (centers[labels] + rng.normal(size=(labels.size, FEATURES))).astype(np.float32)
train_x, test_x, train_y, test_y = points[:1536], points[1536:], labels[:1536], labels[1536:]


class MLP(gj.Module):
    def __init__(self):
        super().__init__()
        init = np.random.default_rng(1)
        self.w1 = gj.Variable((init.normal(size=(FEATURES, HIDDEN)) / np.sqrt(FEATURES)).astype(np.float32))
        self.b1 = gj.Variable(np.zeros(HIDDEN, np.float32))
        self.w2 = gj.Variable((init.normal(size=(HIDDEN, CLASSES)) / np.sqrt(HIDDEN)).astype(np.float32))
        self.b2 = gj.Variable(np.zeros(CLASSES, np.float32))

    def __call__(self, x):
        return gj.nn.relu(x @ self.w1 + self.b1) @ self.w2 + self.b2


def make_step(model, optimizer):
    def train_step(x, y):
        with gj.GradientTape() as tape:
            loss = gj.reduce_mean(gj.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=model(x)))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss
    return train_step


def accuracy(model):
    return float(np.mean(np.argmax(model(gj.constant(test_x)).numpy(), axis=1) == test_y))


def train(step, run):
    for epoch in range(EPOCHS):
        losses = [float(run(step, train_x[k:k + BATCH], train_y[k:k + BATCH]))
                  for k in range(0, len(train_x), BATCH)]
    return losses[-1]


def main():
    import distributed

    local, local_opt = MLP(), gj.optimizers.Adam(0.01)
    local_step = gj.function(make_step(local, local_opt))
    local_loss = train(local_step, lambda step, x, y: step(x, y))

    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                       worker_dashboard_address=None)
    with distributed.Client(cluster):
        shared, shared_opt = MLP(), gj.optimizers.Adam(0.01)
        shared_step = make_step(shared, shared_opt)
        shard_loss = train(shared_step, lambda step, x, y: gj.distributed.data_parallel_step(
            step, [(x[k::SHARDS], y[k::SHARDS]) for k in range(SHARDS)]))
    cluster.close()
    print(f"one process: last loss {local_loss:.4f}, test accuracy {accuracy(local):.3f}")
    print(f"{SHARDS} shards on 2 Dask workers: last loss {shard_loss:.4f}, test accuracy {accuracy(shared):.3f}")
    print(f"largest weight difference {max(np.max(np.abs(a.numpy() - b.numpy())) for a, b in zip(local.variables, shared.variables)):.2e}")


if __name__ == "__main__":
    main()
