"""Fit y = 2x + 1 from noisy samples, twice: TF2 style (a gj.Module, gj.GradientTape, gj.optimizers.SGD, the
step traced by @gj.function) and TF1 style (a compat.v1 graph, GradientDescentOptimizer(0.1).minimize, one
Session reused over the loop). Both should find W close to 2 and b close to 1.

Run: python examples/linear_regression.py
"""
import numpy as np

import graphjit as gj
import graphjit.compat.v1 as tf

rng = np.random.default_rng(0)
x_data = rng.uniform(-1, 1, size=(100, 1)).astype(np.float32)
y_data = (2 * x_data + 1 + rng.normal(scale=0.1, size=(100, 1))).astype(np.float32)
STEPS = 200


# ---- TF2 style ---------------------------------------------------------------------------------------------

class Linear(gj.Module):
    def __init__(self):
        super().__init__()
        self.w = gj.Variable(np.zeros((1, 1), np.float32), name="w")
        self.b = gj.Variable(np.zeros(1, np.float32), name="b")

    def __call__(self, x):
        return x @ self.w + self.b


model = Linear()
optimizer = gj.optimizers.SGD(learning_rate=0.1)


@gj.function
def train_step(x, y):
    with gj.GradientTape() as tape:
        loss = gj.reduce_mean(gj.square(model(x) - y))
    optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
    return loss


x, y = gj.constant(x_data), gj.constant(y_data)
for step in range(STEPS):
    loss = train_step(x, y)
print(f"TF2: W = {model.w.numpy()[0, 0]:.3f}, b = {model.b.numpy()[0]:.3f}, loss {float(loss):.4f} "
      f"({train_step.experimental_get_tracing_count()} trace)")


# ---- TF1 style ---------------------------------------------------------------------------------------------

graph = tf.Graph()
with graph.as_default():
    x_in = tf.placeholder(tf.float32, [None, 1], name="x")
    y_in = tf.placeholder(tf.float32, [None, 1], name="y")
    W = tf.Variable(tf.zeros([1, 1]), name="W")
    b = tf.Variable(tf.zeros([1]), name="b")
    loss_op = tf.reduce_mean(tf.square(tf.matmul(x_in, W) + b - y_in))
    train_op = tf.train.GradientDescentOptimizer(0.1).minimize(loss_op)
    init = tf.global_variables_initializer()

with tf.Session(graph=graph) as sess:
    sess.run(init)
    for step in range(STEPS):
        _, loss_value = sess.run([train_op, loss_op], feed_dict={x_in: x_data, y_in: y_data})
    w_value, b_value = sess.run([W, b])
print(f"TF1: W = {w_value[0, 0]:.3f}, b = {b_value[0]:.3f}, loss {loss_value:.4f} "
      f"({graph.compile_count} plans compiled for {STEPS} runs)")
