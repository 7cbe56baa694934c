"""Reverse-mode automatic differentiation: ``gj.GradientTape`` records the ops applied to watched tensors, and
``gradient`` runs each op's gradient rule (``Op.grad``, kept with the op's definition) backwards.

Recording is a context (tracer.context): ``with tape:`` pushes a ``_TapeContext`` that hands every op to the
context below it (eager, a trace, another tape) and remembers the op when a tensor the tape follows feeds it.
Rules are written with graphjit's own ops, so the backward pass runs eagerly under an eager tape and is recorded
into the graph under a tape inside ``@gj.function``: forward and backward then compile to one entry. A tape
inside another tape's block records the inner tape's backward ops too, which gives second derivatives.

A rule is ``grad(upstream, output, *inputs, **attrs) -> one gradient per input`` (None where none flows); an op
whose outputs carry no gradient (comparisons, argmax, random draws) has ``grad = NOT_DIFFERENTIABLE``, and
``read_variable`` has ``HANDLED_BY_TAPE``: its reads are where a watched variable's gradient is collected (both
markers are defined in tracer.registry). Only floating tensors carry gradients (integer and bool inputs get
None, as in TF).
"""
import contextlib
import logging

import numpy as np

from . import context, nest
from .errors import FailedPreconditionError, InvalidArgumentError, UnimplementedError
from .registry import HANDLED_BY_TAPE, NOT_DIFFERENTIABLE, OPS  # noqa: F401  (the markers re-exported)
from .subgraphs import call_graph
from .tensor import EagerTensor, Tensor, convert_to_tensor

log = logging.getLogger("graphjit.autodiff")


def unbroadcast(grad, shape):
    """``grad`` of a broadcast result, summed back to an operand of ``shape`` (NumPy broadcasting's adjoint)."""
    shape = tuple(shape)
    gshape = tuple(grad.type.shape)   # (the type's sizes: symbolic ones kept)
    if gshape == shape:
        return grad
    lead = len(gshape) - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(shape) if d == 1 and gshape[lead + i] != 1)
    if axes:
        grad = OPS["reduce_sum"].bind(grad, axis=axes, keepdims=False)
    if tuple(grad.type.shape) != shape:
        grad = OPS["reshape"].bind(grad, shape=shape)
    return grad


def _carries_gradient(tensor):
    return isinstance(tensor, Tensor) and tensor.dtype.is_floating


class _TapeContext:
    """Runs each op in the context below it and lets the tape record it. Everything else a context offers
    (``create_variable``, ``record_constant``, ...) is the context below's."""
    traces = False   # not a graph being built: gj.executing_eagerly() and variable creation look past it

    def __init__(self, tape):
        self.tape = tape

    def below(self, tensors=()):
        return context.context_below(self, tensors)

    def execute(self, op, inputs, attrs):
        out = self.below(inputs).execute(op, inputs, attrs)
        self.tape._record(op, inputs, attrs, out)
        return out

    def call_function(self, concrete, inputs):
        """A traced function called under the tape runs op by op through it, so its ops are differentiated."""
        if not self.tape._recording:
            return self.below(inputs).call_function(concrete, inputs)
        return call_graph(concrete.graph, list(inputs))   # (each op applied in the current context: this tape)

    def __getattr__(self, name):
        return getattr(self.below(), name)


class GradientTape:
    """``with gj.GradientTape() as tape: ...`` then ``tape.gradient(target, sources)``, as ``tf.GradientTape``.

    Trainable variables read inside the block are watched unless ``watch_accessed_variables=False``; other
    tensors are watched with ``tape.watch(x)``. A tape that is not ``persistent`` gives one set of gradients."""

    def __init__(self, persistent=False, watch_accessed_variables=True):
        self._persistent = bool(persistent)
        self._watch_accessed = bool(watch_accessed_variables)
        self._records = []         # (op, inputs, attrs, output) in the order they ran
        self._followed = {}        # tensor.ref() -> tensor: watched tensors and everything computed from them
        self._reads = {}           # variable id -> [tensors read from it]
        self._watched_variables = {}   # variable id -> Variable
        self._recording = False
        self._used = False
        self._pushed = None

    # -- recording --

    def __enter__(self):
        self._pushed = context.pushed(_TapeContext(self))
        self._pushed.__enter__()
        self._recording = True
        return self

    def __exit__(self, *exc):
        self._recording = False
        self._pushed.__exit__(*exc)
        self._pushed = None

    @contextlib.contextmanager
    def stop_recording(self):
        """Ops run in this block are not recorded (``tf.GradientTape.stop_recording``)."""
        was, self._recording = self._recording, False
        try:
            yield
        finally:
            self._recording = was

    def reset(self):
        """Forgets everything recorded so far (the tape keeps recording if it is in its block)."""
        self._records, self._followed, self._reads, self._watched_variables = [], {}, {}, {}
        self._used = False

    def watch(self, tensor):
        """Follows ``tensor`` (or every tensor and variable of a nested structure) from here on."""
        for t in nest.flatten(tensor):
            if getattr(t, "_is_variable", False):
                self._watched_variables[t._ref.id] = t
            elif not isinstance(t, Tensor):
                raise InvalidArgumentError(f"GradientTape.watch: expected tensors or variables, got {type(t).__name__}")
            elif not t.dtype.is_floating:
                log.warning("GradientTape.watch: %s has dtype %s; only floating tensors carry gradients",
                            t._describe(), t.dtype.name)
            else:
                self._followed[t.ref()] = t

    def watched_variables(self):
        return tuple(self._watched_variables.values())

    def _record(self, op, inputs, attrs, out):
        if not self._recording:
            return
        if type(out) is list:   # an op of several results (control flow): one record, its results as a tuple
            out = tuple(out)
            if op.grad is NOT_DIFFERENTIABLE or not any(_carries_gradient(o) for o in out):
                return
        elif not _carries_gradient(out):
            return
        if op.grad is HANDLED_BY_TAPE:   # read_variable (tuple_get is never applied: see tracer.subgraphs.call_graph)
            variable = _variable_of(attrs["var"])
            if variable is None:
                return
            if attrs["var"].id in self._watched_variables or (self._watch_accessed and variable.trainable):
                self._watched_variables[attrs["var"].id] = variable
                self._reads.setdefault(attrs["var"].id, []).append(out)
                self._followed[out.ref()] = out
            return
        if op.grad is NOT_DIFFERENTIABLE:
            return
        followed = self._followed
        if any(isinstance(t, Tensor) and t.ref() in followed for t in inputs):
            self._records.append((op, tuple(inputs), attrs, out))
            for o in out if type(out) is tuple else (out,):
                followed[o.ref()] = o

    # -- gradients --

    def gradient(self, target, sources, output_gradients=None, unconnected_gradients="none"):
        """d(sum of ``target``)/d``sources``, in the structure of ``sources``. ``output_gradients`` weight the
        targets (as a vector-Jacobian product); unconnected sources give None, or zeros with
        ``unconnected_gradients="zero"``."""
        self._start(unconnected_gradients)
        return self._gradient(target, sources, output_gradients, unconnected_gradients)

    def _start(self, unconnected_gradients):
        if unconnected_gradients not in ("none", "zero"):
            raise InvalidArgumentError(f"unconnected_gradients must be 'none' or 'zero', got {unconnected_gradients!r}")
        if self._used and not self._persistent:
            raise FailedPreconditionError("a GradientTape that is not persistent computes one set of gradients; "
                                          "use gj.GradientTape(persistent=True) to call gradient() again")
        self._used = True

    def _gradient(self, target, sources, output_gradients, unconnected_gradients):
        targets = [convert_to_tensor(t, what="gradient(target)") for t in nest.flatten(target)]
        weights = None if output_gradients is None else nest.flatten(output_gradients)
        if weights is not None and len(weights) != len(targets):
            raise InvalidArgumentError(f"gradient: {len(weights)} output_gradients for {len(targets)} targets")
        with self.stop_recording():
            grads = self._backward(targets, weights)
            flat_sources = nest.flatten(sources)
            results = [self._gradient_of(s, grads, unconnected_gradients) for s in flat_sources]
        return nest.pack_sequence_as(sources, results)

    def jacobian(self, target, sources, unconnected_gradients="none"):
        """d target[i...] / d source[j...] for each source: shape target.shape + source.shape (one backward
        pass per element of ``target``: meant for small targets)."""
        target = convert_to_tensor(target, what="jacobian(target)")
        flat_sources = nest.flatten(sources)
        shape = tuple(target.shape)
        self._start(unconnected_gradients)
        rows = [self._gradient(target, flat_sources, _one_hot(k, shape, target.dtype), "none")
                for k in range(int(np.prod(shape)))]
        results = []
        for j, source in enumerate(flat_sources):
            shape = tuple(target.shape) + tuple(source.shape)
            found = [row[j] for row in rows]
            if all(g is None for g in found):
                results.append(zeros_of(shape, source.dtype) if unconnected_gradients == "zero" else None)
                continue
            found = [zeros_of(tuple(source.type.shape), source.dtype) if g is None else g for g in found]
            results.append(OPS["reshape"].bind(OPS["stack"].bind(*found, axis=0), shape=shape))
        return nest.pack_sequence_as(sources, results)

    def _backward(self, targets, weights):
        seeds = []
        for k, t in enumerate(targets):
            if _carries_gradient(t) and t.ref() in self._followed:
                seeds.append((t, ones_like(t) if weights is None
                              else convert_to_tensor(weights[k], what="output_gradients")))
        return backprop(self._records, seeds, self._followed)

    def _gradient_of(self, source, grads, unconnected):
        if getattr(source, "_is_variable", False):
            grad = gradient_of_reads(grads, self._reads.get(source._ref.id, ()))
        elif isinstance(source, Tensor):
            grad = grads.get(source.ref())
        else:
            raise InvalidArgumentError(f"gradient: sources must be tensors or variables, got {type(source).__name__}")
        if grad is None and unconnected == "zero":
            grad = zeros_of(tuple(source.type.shape), source.dtype)
        return grad


def backprop(records, seeds, followed):
    """Reverse accumulation: ``records`` are ``(op, inputs, attrs, output)`` in the order the ops ran (``output`` a
    tuple of tensors for an op of several results), ``seeds`` ``(tensor, gradient)`` pairs to start from,
    ``followed`` the refs of the tensors gradients flow into (the sources and what was computed from them).
    Returns ``{tensor.ref(): gradient}``. The tape and compat.v1's symbolic ``gradients`` both run their backward
    pass here."""
    grads = {}
    for t, g in seeds:
        _accumulate(grads, t, g)
    for op, inputs, attrs, out in reversed(records):
        if type(out) is tuple:   # several results: the rule takes one upstream per result (None where none flows)
            upstream = [grads.get(o.ref()) for o in out]
            if all(g is None for g in upstream):
                continue
        else:
            upstream = grads.get(out.ref())
            if upstream is None:
                continue
        if op.grad is None:
            raise UnimplementedError(f"no gradient rule for op {op.name!r} yet (on the path from the target to "
                                     f"a source): differentiate around it with gj.stop_gradient")
        in_grads = op.grad(upstream, out, *inputs, **attrs)
        for x, g in zip(inputs, in_grads):
            if g is not None and _carries_gradient(x) and x.ref() in followed:
                _accumulate(grads, x, g)
    return grads


def gradient_of_reads(grads, reads):
    """A variable's gradient: the sum of those of the tensors read from it (None when none has one)."""
    total = None
    for r in reads:
        g = grads.get(r.ref())
        if g is not None:
            total = g if total is None else OPS["add"].bind(total, g)
    return total


def _accumulate(grads, tensor, grad):
    key = tensor.ref()
    if grad.dtype is not tensor.dtype:
        grad = OPS["cast"].bind(grad, dtype=tensor.dtype)
    grad = unbroadcast(grad, tuple(tensor.type.shape))
    grads[key] = grad if key not in grads else OPS["add"].bind(grads[key], grad)


def ones_like(t):
    return OPS["fill"].bind(EagerTensor(_scalar(1, t.dtype)), shape=tuple(t.type.shape))


def zeros_of(shape, dtype):
    return OPS["fill"].bind(EagerTensor(_scalar(0, dtype)), shape=tuple(shape))


def _one_hot(k, shape, dtype):
    value = np.zeros(shape, dtype.np)
    value.flat[k] = 1
    return EagerTensor(value)


def _scalar(value, dtype):
    return np.array(value, dtype.np)


def _variable_of(ref):
    from .variables import variable_by_id
    return variable_by_id(ref.id)


# -- functional forms (JAX's grad and value_and_grad) --

def value_and_grad(fn, argnums=0, has_aux=False):
    """``fn``'s value and its gradient with respect to the arguments ``argnums`` (an int or a tuple of ints), as
    ``jax.value_and_grad``: ``fn`` returns a scalar (or ``(scalar, aux)`` with ``has_aux``)."""
    single = isinstance(argnums, int)
    nums = (argnums,) if single else tuple(argnums)

    def wrapped(*args, **kwargs):
        for k in nums:
            if not 0 <= k < len(args):
                raise InvalidArgumentError(f"argnums={argnums!r} but the function was called with {len(args)} "
                                           f"positional arguments")
        args = list(args)
        with GradientTape(watch_accessed_variables=False) as tape:
            for k in nums:
                args[k] = nest.map_structure(lambda a: convert_to_tensor(a, what=f"argument {k}"), args[k])
                tape.watch(args[k])
            out = fn(*args, **kwargs)
        value, aux = out if has_aux else (out, None)
        value = convert_to_tensor(value, what="the differentiated function's result")
        if tuple(value.shape) != ():
            raise InvalidArgumentError(f"grad: the function must return a scalar, got shape {tuple(value.shape)} "
                                       f"(use GradientTape.gradient or jacobian for other outputs)")
        grads = tape.gradient(value, [args[k] for k in nums], unconnected_gradients="zero")
        grads = grads[0] if single else tuple(grads)
        return ((value, aux), grads) if has_aux else (value, grads)
    return wrapped


def grad(fn, argnums=0, has_aux=False):
    """The gradient of scalar-valued ``fn`` with respect to arguments ``argnums`` (``jax.grad``)."""
    both = value_and_grad(fn, argnums, has_aux)

    def wrapped(*args, **kwargs):
        (value, grads) = both(*args, **kwargs)
        return (grads, value[1]) if has_aux else grads
    return wrapped
