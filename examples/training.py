"""Training a small classifier, in TF2 style and in TF1 style, on the same data.

TF2 style: a ``gj.Module`` holds the variables, ``gj.GradientTape`` gives the gradients, ``gj.optimizers.Adam``
applies them, and the whole step runs under ``@gj.function`` (forward, backward and updates: one compiled call);
``gj.train.Checkpoint`` saves the model and the optimizer's slots. TF1 style: the same model built into a graph,
``tf.train.AdamOptimizer(...).minimize(loss)``, and a ``sess.run(train_op, feed_dict=...)`` loop.

Run: python examples/training.py
"""
import tempfile

import numpy as np

import graphjit as gj
import graphjit.compat.v1 as tf

rng = np.random.default_rng(0)
centers = rng.normal(size=(3, 2)) * 3
labels = rng.integers(0, 3, size=300)
points = (centers[labels] + rng.normal(size=(300, 2))).astype(np.float32)


# ---- TF2 style -------------------------------------------------------------------------------------------

class Classifier(gj.Module):
    def __init__(self, hidden=16, classes=3):
        super().__init__()
        with self.name_scope:
            self.w1 = gj.Variable(rng.normal(size=(2, hidden)).astype(np.float32) * 0.5, name="w1")
            self.b1 = gj.Variable(np.zeros(hidden, np.float32), name="b1")
            self.w2 = gj.Variable(rng.normal(size=(hidden, classes)).astype(np.float32) * 0.5, name="w2")
            self.b2 = gj.Variable(np.zeros(classes, np.float32), name="b2")

    def __call__(self, x):
        return gj.nn.relu(x @ self.w1 + self.b1) @ self.w2 + self.b2


model = Classifier()
optimizer = gj.optimizers.Adam(learning_rate=0.05)


@gj.function
def train_step(x, y):
    with gj.GradientTape() as tape:
        loss = gj.reduce_mean(gj.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=model(x)))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return loss


x, y = gj.constant(points), gj.constant(labels)
for step in range(1, 101):
    loss = train_step(x, y)
    if step % 25 == 0:
        print(f"TF2 step {step:3d}: loss {float(loss):.4f}")
accuracy = float(np.mean(np.argmax(model(x).numpy(), axis=1) == labels))
print(f"TF2 accuracy: {accuracy:.2f}; variables: {[v.name for v in model.trainable_variables]}")
print(f"train_step traces: {train_step.experimental_get_tracing_count()}")

with tempfile.TemporaryDirectory() as folder:
    path = gj.train.Checkpoint(model=model, optimizer=optimizer).save(f"{folder}/ckpt")
    slots = [name for name, _ in gj.train.list_variables(path) if "OPTIMIZER_SLOT" in name]
    print(f"checkpoint: {len(gj.train.list_variables(path))} entries, {len(slots)} optimizer slots, e.g. {slots[0]}")


# ---- TF1 style -------------------------------------------------------------------------------------------

graph = tf.Graph()
with graph.as_default():
    x_in = tf.placeholder(tf.float32, [None, 2], name="x")
    y_in = tf.placeholder(tf.int64, [None], name="y")
    w1 = tf.Variable(rng.normal(size=(2, 16)).astype(np.float32) * 0.5, name="w1")
    b1 = tf.Variable(np.zeros(16, np.float32), name="b1")
    w2 = tf.Variable(rng.normal(size=(16, 3)).astype(np.float32) * 0.5, name="w2")
    b2 = tf.Variable(np.zeros(3, np.float32), name="b2")
    logits = tf.matmul(tf.nn.relu(tf.matmul(x_in, w1) + b1), w2) + b2
    loss_op = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y_in, logits=logits))
    train_op = tf.train.AdamOptimizer(0.05).minimize(loss_op)
    init = tf.global_variables_initializer()

with tf.Session(graph=graph) as sess:
    sess.run(init)
    for step in range(1, 101):
        _, loss_value = sess.run([train_op, loss_op], feed_dict={x_in: points, y_in: labels})
        if step % 25 == 0:
            print(f"TF1 step {step:3d}: loss {loss_value:.4f}")
    predicted = sess.run(logits, feed_dict={x_in: points}).argmax(axis=1)
    print(f"TF1 accuracy: {np.mean(predicted == labels):.2f}; plans compiled: {graph.compile_count}")
