"""TF1-style graphs and sessions with ``graphjit.compat.v1``, then the same programs in TF2 style.

The TF1 model splits a program in two:

- A **graph** (``tf1.Graph``) is a *description* of a computation. While a graph is the default
  (``with g.as_default():``), ops such as ``gj.matmul`` do not compute anything: they add named
  operations to the graph and return symbolic tensors (``<gj.Tensor 'MatMul:0' ...>``). Placeholders
  stand for inputs that are supplied later; variables are declared, with an initializer op.
- A **session** (``tf1.Session(graph=g)``) holds the *values*: each session has its own copy of every
  variable of its graph (and its own random generator). ``sess.run(fetches, feed_dict)`` computes just
  the part of the graph the fetches need, with the placeholders replaced by the fed values.

So one graph can have many sessions, each with independent variable values, and a variable has no
value in a session until that session runs its initializer (or restores a checkpoint). A run's plan is
compiled once per (fetches, fed shapes) and cached on the graph, so running the same thing again, in
the same or in a new session, does not recompile.

TF2 style (the end of this file) drops both: ``gj.Variable`` values live in one global runtime from the
moment they are created, and ``@gj.function`` turns a Python function into a cached graph.

Run it with ``python examples/sessions.py``; each section is also a function that returns what it
computed (``tests/test_examples_sessions.py`` calls them).
"""
import functools
import os
import tempfile

import numpy as np

import graphjit as gj

tf1 = gj.compat.v1

# Fixed data, so that the TF1 sections and the TF2 section can be compared exactly.
_rng = np.random.default_rng(0)
W_INIT = _rng.normal(size=(3, 4)).astype(np.float32)
B_INIT = _rng.normal(size=(4,)).astype(np.float32)
BATCHES = [_rng.normal(size=(8, 3)).astype(np.float32) for _ in range(4)]


def heading(title):
    print(f"\n=== {title} ===")


def build_classifier(graph, w_init=W_INIT, b_init=B_INIT):
    """Adds ``softmax(x @ W + b)`` to ``graph``; returns (x, W, b, probs, init).

    The batch dimension of ``x`` is ``None``: any batch size may be fed."""
    with graph.as_default():
        x = tf1.placeholder(gj.float32, [None, 3], name="x")
        W = tf1.Variable(w_init, name="W")
        b = tf1.Variable(b_init, name="b")
        probs = gj.nn.softmax(gj.matmul(x, W) + b, name="probs")
        init = tf1.global_variables_initializer()
    return x, W, b, probs, init


# ---------------------------------------------------------------------------------------------------
# 1. Placeholders and feed_dict
# ---------------------------------------------------------------------------------------------------

def placeholders_and_feeds():
    heading("1. a graph with placeholders, run with a feed_dict")
    g = tf1.Graph()
    with g.as_default():
        a = tf1.placeholder(gj.float32, [None], name="a")
        b = tf1.placeholder(gj.float32, [None], name="b")
        total = gj.add(a, b, name="total")
        scaled = total * 2.0 + 1.0
    # Building computed nothing: these are descriptions, with names and (partly unknown) shapes.
    print("graph ops:", [op.name for op in g.get_operations()])
    print("scaled is", scaled)

    with tf1.Session(graph=g) as sess:
        # One run, one fetch: feed_dict says what the placeholders are for this run only.
        one = sess.run(scaled, feed_dict={a: [1.0, 2.0, 3.0], b: [10.0, 20.0, 30.0]})
        print("run(scaled):", one)
        # Fetches may be nested structures; results come back in the same structure. Feeds may be
        # given by tensor name ("a:0") as well, and the fed length may change from run to run.
        both = sess.run({"total": total, "scaled": scaled}, feed_dict={"a:0": [1.0, 1.0], "b:0": [2.0, 5.0]})
        print("run({total, scaled}):", both)
        # Fetching `total` alone needs neither the `* 2 + 1` ops nor anything else: the run is pruned.
        alone = sess.run(total, feed_dict={a: [0.5], b: [0.25]})
        print("run(total):", alone)
    return {"scaled": one, "both": both, "total": alone}


# ---------------------------------------------------------------------------------------------------
# 2. Passing sessions around: to functions, owned by a class, made the default by a decorator
# ---------------------------------------------------------------------------------------------------

def predict_with(sess, probs, x, batch):
    """A function that needs values takes the session (and the tensors) it should use."""
    return sess.run(probs, feed_dict={x: batch})


class Classifier:
    """A class owning its graph and session: callers never see the TF1 machinery."""

    def __init__(self, w_init=W_INIT, b_init=B_INIT):
        self.graph = tf1.Graph()
        self.x, self.W, self.b, self.probs, init = build_classifier(self.graph, w_init, b_init)
        self.sess = tf1.Session(graph=self.graph)
        self.sess.run(init)  # the session has no variable values until this runs

    def predict(self, batch):
        return self.sess.run(self.probs, feed_dict={self.x: batch})

    def close(self):
        self.sess.close()  # frees the session's variable values

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def use_session(sess):
    """A decorator making ``sess`` the default session while the function runs, so that
    ``tensor.eval()`` and ``op.run()`` inside it know which session (which values) to use."""
    def decorator(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with sess.as_default():
                return fn(*args, **kwargs)
        return wrapper
    return decorator


def sessions_in_functions():
    heading("2. sessions passed to functions, owned by a class, made the default by a decorator")
    batch = BATCHES[0][:2]

    g = tf1.Graph()
    x, W, b, probs, init = build_classifier(g)
    with tf1.Session(graph=g) as sess:
        sess.run(init)
        passed = predict_with(sess, probs, x, batch)
        print("predict_with(sess, ...):\n", passed)

        @use_session(sess)
        def summary():
            # No session in sight: eval() uses the default one the decorator installed.
            return probs.eval(feed_dict={x: batch}).argmax(axis=1), W.eval().shape

        classes, w_shape = summary()
        print("inside @use_session(sess): eval() -> classes", classes, "W shape", w_shape)

    with Classifier() as model:
        owned = model.predict(batch)
        print("Classifier().predict(...) (its own graph and session):\n", owned)
    print("same probabilities both ways:", np.array_equal(passed, owned))
    return {"passed": passed, "owned": owned, "classes": classes}


# ---------------------------------------------------------------------------------------------------
# 3. Two modules, each with its own graph and session
# ---------------------------------------------------------------------------------------------------

class Normalizer:
    """Module one: standardizes a batch and counts the batches it has seen (a variable)."""

    def __init__(self):
        self.graph = tf1.Graph(name="normalizer")
        with self.graph.as_default():
            self.x = tf1.placeholder(gj.float32, [None, 3], name="x")
            self.seen = tf1.Variable(0, name="seen")
            mean = gj.reduce_mean(self.x, axis=0)
            std = gj.sqrt(gj.reduce_mean(gj.square(self.x - mean), axis=0)) + 1e-6
            self.out = (self.x - mean) / std
            self.count = self.seen.assign_add(1)
            init = tf1.global_variables_initializer()
        self.sess = tf1.Session(graph=self.graph)
        self.sess.run(init)

    def __call__(self, batch):
        out, seen = self.sess.run([self.out, self.count], feed_dict={self.x: batch})
        return out, seen


class Scorer:
    """Module two: a linear score. Its variable is also called "seen" without clashing: names are
    per graph, and values are per session."""

    def __init__(self):
        self.graph = tf1.Graph(name="scorer")
        with self.graph.as_default():
            self.x = tf1.placeholder(gj.float32, [None, 3], name="x")
            self.seen = tf1.Variable(100, name="seen")
            w = tf1.Variable(np.array([1.0, -1.0, 0.5], np.float32), name="w")
            self.score = gj.reduce_sum(self.x * w, axis=1)
            self.count = self.seen.assign_add(1)
            init = tf1.global_variables_initializer()
        self.sess = tf1.Session(graph=self.graph)
        self.sess.run(init)

    def __call__(self, batch):
        score, seen = self.sess.run([self.score, self.count], feed_dict={self.x: batch})
        return score, seen


def two_modules():
    heading("3. two modules with their own graphs and sessions, side by side")
    normalizer, scorer = Normalizer(), Scorer()
    seen = []
    for batch in BATCHES[:3]:
        normalized, n_seen = normalizer(batch)      # a value (NumPy array) leaves one session...
        scores, s_seen = scorer(normalized)         # ...and is fed to the other
        seen.append((int(n_seen), int(s_seen)))
        print(f"scores {np.round(scores[:3], 3)}...  normalizer seen={n_seen}  scorer seen={s_seen}")
    print("graphs:", normalizer.graph.name, "and", scorer.graph.name)
    # A tensor belongs to one graph; another graph's session cannot run it.
    try:
        scorer.sess.run(normalizer.out, feed_dict={normalizer.x: BATCHES[0]})
        crossed = None
    except gj.errors.InvalidArgumentError as err:
        crossed = str(err)
        print("the normalizer's tensor in the scorer's session -> InvalidArgumentError:\n ", crossed.splitlines()[0])
    normalizer.sess.close()
    scorer.sess.close()
    return {"seen": seen, "cross_graph_error": crossed}


# ---------------------------------------------------------------------------------------------------
# 4. One session, many runs: compiled once per (fetches, fed shapes)
# ---------------------------------------------------------------------------------------------------

def reused_session_inference():
    heading("4. one session reused for inference on several batches")
    g = tf1.Graph()
    x, W, b, probs, init = build_classifier(g)
    results, counts = [], []
    with tf1.Session(graph=g) as sess:
        sess.run(init)
        after_init = sess.compile_count  # the initializer run is a plan too
        for i, batch in enumerate(BATCHES):
            results.append(sess.run(probs, feed_dict={x: batch}))
            counts.append(sess.compile_count - after_init)
            print(f"batch {i}: shape {batch.shape}, argmax {results[-1].argmax(axis=1)}, inference plans "
                  f"compiled so far: {counts[-1]} (sess.compile_count = {sess.compile_count}, init included)")
        # A different batch size is a different fed shape, hence one more plan (the graph is unchanged).
        sess.run(probs, feed_dict={x: BATCHES[0][:5]})
        print(f"a batch of 5 rows: inference plans {sess.compile_count - after_init}; "
              f"plans on the graph (init included): {g.compile_count}")
    # Plans belong to the graph: a new session on it reuses them.
    with tf1.Session(graph=g) as again:
        again.run(init)
        again.run(probs, feed_dict={x: BATCHES[1]})
        print("a second session on the same graph compiled", again.compile_count, "plans")
    return {"probs": results, "counts": counts, "second_session_compiles": again.compile_count}


# ---------------------------------------------------------------------------------------------------
# 5. A counter: assignments are ops, run as often as you like
# ---------------------------------------------------------------------------------------------------

def counter():
    heading("5. a counter variable incremented by an assign op")
    g = tf1.Graph()
    with g.as_default():
        count = tf1.Variable(0, name="count")
        increment = tf1.assign_add(count, 1)  # building it changes nothing; each run adds 1
        init = tf1.global_variables_initializer()
    values = []
    with tf1.Session(graph=g) as sess:
        sess.run(init)
        for _ in range(3):
            values.append(int(sess.run(increment)))  # the assign op yields the new value
            print("count =", values[-1])
    return values


# ---------------------------------------------------------------------------------------------------
# 6. Values live in sessions: a new session starts uninitialized
# ---------------------------------------------------------------------------------------------------

def values_live_in_sessions():
    heading("6. variable values belong to a session, not to the graph")
    g = tf1.Graph()
    with g.as_default():
        v = tf1.Variable(42, name="v")
        set_13 = v.assign(13)
        init = tf1.global_variables_initializer()
    with tf1.Session(graph=g) as first:
        first.run(init)
        initial = int(first.run(v))
        first.run(set_13)
        assigned = int(first.run(v))
        print("first session: v =", initial, "then, after assign(13), v =", assigned)

    # Same graph, new session: the 13 stayed in the first session, which is gone, and this one has
    # not run the initializer yet.
    with tf1.Session(graph=g) as second:
        try:
            second.run(v)
            message = None
        except gj.errors.FailedPreconditionError as err:
            message = str(err).splitlines()[0]
            print("second session: FailedPreconditionError:", message)

    with tf1.Session(graph=g) as third:
        third.run(init)
        again = int(third.run(v))
        print("third session, after running init: v =", again)
    return {"initial": initial, "assigned": assigned, "error": message, "reinitialized": again}


# ---------------------------------------------------------------------------------------------------
# 7. Saver: values to disk and back into a fresh session
# ---------------------------------------------------------------------------------------------------

def save_and_restore(directory):
    heading("7. Saver: save a session's values, restore them into a fresh session")
    g = tf1.Graph()
    x, W, b, probs, init = build_classifier(g)
    with g.as_default():
        # "Training" stand-in: a step that moves the variables away from their initial values.
        step = tf1.group(W.assign(W * 0.5), b.assign_add(gj.ones_like(b)))
        saver = tf1.train.Saver()  # every variable of the default graph (here, g)
    with tf1.Session(graph=g) as sess:
        sess.run(init)
        sess.run(step)
        saved = sess.run({"W": W, "b": b})
        saved_probs = sess.run(probs, feed_dict={x: BATCHES[0]})
        path = saver.save(sess, os.path.join(directory, "model"), global_step=1)
        print("saved to", os.path.basename(path), "b =", np.round(saved["b"], 3))

    latest = tf1.train.latest_checkpoint(directory)
    with tf1.Session(graph=g) as fresh:
        saver.restore(fresh, latest)  # no initializer: the checkpoint provides every value
        restored = fresh.run({"W": W, "b": b})
        restored_probs = fresh.run(probs, feed_dict={x: BATCHES[0]})
    same = all(np.array_equal(saved[k], restored[k]) for k in saved)
    print("restored from", os.path.basename(latest), "b =", np.round(restored["b"], 3))
    print("restored values equal saved ones:", same,
          "| same predictions:", np.array_equal(saved_probs, restored_probs))
    return {"saved": saved, "restored": restored, "probs": restored_probs, "path": latest}


# ---------------------------------------------------------------------------------------------------
# 8. The same in TF2 style
# ---------------------------------------------------------------------------------------------------

def tf2_style(session_results, directory):
    """The computations of sections 4, 5, 6 and 7 with ``@gj.function`` and global ``gj.Variable``s,
    compared with the session results (``session_results``: {section: returned value}, as ``main``
    collects them; None runs those sections first)."""
    if session_results is None:
        session_results = {"inference": reused_session_inference(), "counter": counter(),
                           "restore": save_and_restore(os.path.join(directory, "tf1"))}
    heading("8. the same in TF2 style: @gj.function, gj.Variable, gj.train.Checkpoint")
    # Variables have values from creation on, in the one global runtime: no init op, no session.
    W = gj.Variable(W_INIT, name="W")
    b = gj.Variable(B_INIT, name="b")

    @gj.function
    def predict(x):  # traced once per input signature, like a session's plan per fed shape
        return gj.nn.softmax(gj.matmul(x, W) + b)

    probs = [predict(batch).numpy() for batch in BATCHES]
    probs_equal = all(np.allclose(p, q, rtol=1e-5, atol=1e-7)
                      for p, q in zip(probs, session_results["inference"]["probs"]))
    print("softmax(x @ W + b) equals the session results:", probs_equal,
          "| traces:", predict.experimental_get_tracing_count())

    count = gj.Variable(0, name="count")

    @gj.function
    def increment():
        return count.assign_add(1)

    counts = [int(increment()) for _ in range(3)]
    print("counter:", counts, "equals the session counter:", counts == session_results["counter"])

    v = gj.Variable(42, name="v")
    v.assign(13)
    print("v = 42, assign(13) -> v =", int(v.numpy()), "(no session, so no uninitialized state)")

    @gj.function
    def train_step():
        W.assign(W * 0.5)
        b.assign_add(gj.ones_like(b))

    train_step()
    checkpoint = gj.train.Checkpoint(W=W, b=b)
    path = checkpoint.save(os.path.join(directory, "tf2"))
    saved = {"W": W.numpy().copy(), "b": b.numpy().copy()}
    W.assign(np.zeros_like(W_INIT))  # clobber, then restore
    b.assign(np.zeros_like(B_INIT))
    checkpoint.restore(gj.train.latest_checkpoint(directory)).assert_consumed()
    restored = {"W": W.numpy(), "b": b.numpy()}
    session_restored = session_results["restore"]["restored"]
    restore_equal = all(np.allclose(restored[k], session_restored[k], rtol=1e-6) for k in restored)
    print("checkpoint", os.path.basename(path), "restored; equals the Saver-restored session values:",
          restore_equal)
    return {"probs_equal": probs_equal, "counts": counts, "v": int(v.numpy()), "saved": saved,
            "restored": restored, "restore_equal": restore_equal}


def main():
    results = {}
    results["feeds"] = placeholders_and_feeds()
    results["passing"] = sessions_in_functions()
    results["modules"] = two_modules()
    results["inference"] = reused_session_inference()
    results["counter"] = counter()
    results["uninitialized"] = values_live_in_sessions()
    with tempfile.TemporaryDirectory() as directory:
        results["restore"] = save_and_restore(os.path.join(directory, "tf1"))
        results["tf2"] = tf2_style(results, os.path.join(directory, "tf2"))
    return results


if __name__ == "__main__":
    main()
