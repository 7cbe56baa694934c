"""``@gj.function``: trace a Python function once per input signature and run the graph on later calls.

Path of a call: arguments -> signature key (tensors by shape/dtype, Python values by value) ->
cached ``ConcreteFunction`` (or a new trace) -> ``context.context_for(tensors).call_function`` (the runtime runs
the graph eagerly; an enclosing trace inlines it). A call with the previous call's signature skips all of that
up to the runtime's shortcut (``tracer.last_signature``).

This module is the decorator and ``Function``: its binding of arguments, its trace cache and retracing policy
(LRU eviction, input_signature and reduce_retracing's symbolic traces). The parts it calls live beside it:
``tracer.signature_keys`` (the key of a call, input_signature checks), ``tracer.function_trace`` (making one
new trace) and ``tracer.concrete_function`` (``ConcreteFunction``, one trace, and its calls).
"""
import collections
import functools
import inspect
import threading
import weakref

import numpy as np

from . import autograph, concrete_function, display, last_signature, nest, polymorphic, retracing
from .concrete_function import ConcreteFunction, _TensorSlot, _UNBUILT  # noqa: F401  (imported from here)
from .errors import InvalidArgumentError, UnimplementedError
from .function_trace import trace_concrete
from .signature_keys import (_TENSOR_LEAVES, _call_with_lazy_arrays, _generalized_key, _is_input,  # noqa: F401
                             _LazyArguments, _leaf_key, _leaf_spec, _skeleton, _tensor_leaves,
                             apply_input_signature, install_lazy_array_handler)
from .specs import TensorSpec
from .tensor import EagerTensor

_MISS = last_signature.MISS
_thread = concrete_function._thread
# One lock for every trace: threads calling a function with a new signature at once trace it once, and no two
# functions that call each other while tracing can deadlock on each other's locks. Traces are rare and short.
_trace_lock = threading.RLock()
# The runtime's per-call shortcuts for eager calls, by ConcreteFunction uid: ``shortcut(tensors) -> outputs``,
# skipping context dispatch and backend lookup, or None once stale (the call then takes the ordinary path).
# The table belongs to the runtime (``install_fast_calls``); the tracer only reads it, here and in
# ConcreteFunction.call_flat, each as its module's global (the hot paths look up no attribute).
_fast_calls = concrete_function._fast_calls


def install_fast_calls(table):
    """Makes ``table`` (uid -> shortcut, owned and kept current by the runtime) the one calls consult."""
    global _fast_calls
    _fast_calls = concrete_function._fast_calls = table


def install_on_first_function(callback):
    """``callback()`` runs once, when the first gj.function of the process is made (the runtime starts its compile
    server then: it warms up while the user's program goes on to its first call)."""
    _first_function_hooks.append(callback)


def _run_first_function_hooks():
    hooks = list(_first_function_hooks)
    _first_function_hooks.clear()
    for hook in hooks:
        hook()


_first_function_hooks = []


class _Options:
    """What gj.config sets for every gj.function (graphjit.runtime.config validates the values)."""
    run_eagerly = False   # gj.config.run_functions_eagerly(True): call the Python function, trace nothing
    max_traces = 128      # traces one Function keeps; the least recently used one goes beyond that
    explain_retracing = False   # log each new trace and why (tracer.retracing)


OPTIONS = _Options()


class Function:
    """A Python function that is traced into graphs, one per input signature (``gj.function``)."""

    def __init__(self, python_function, *, input_signature=None, jit_compile=None, name=None, debug_compare=None,
                 max_traces=None, autograph=True, reduce_retracing=False):
        functools.update_wrapper(self, python_function)
        if _first_function_hooks:
            _run_first_function_hooks()
        self.python_function = python_function
        self.name = name or getattr(python_function, "__name__", "function")
        self.jit_compile = jit_compile
        self.debug_compare = debug_compare
        self.input_signature = None if input_signature is None else tuple(input_signature)
        self._signature = inspect.signature(python_function)
        self._param_names = list(self._signature.parameters)
        params = list(self._signature.parameters.values())
        self._simple_arity = (len(params) if all(p.kind is p.POSITIONAL_OR_KEYWORD for p in params) else -1)
        self._defaults = tuple(p.default for p in params)   # (inspect's ``empty`` where a parameter has none)
        # signature key -> ConcreteFunction, least recently used first once it is over half full (see __call__)
        self._cache = {}
        self._tracing_count = 0
        self.max_traces = max_traces   # None, or the number of traces after which a new one raises RetraceError
        self.autograph = bool(autograph)   # trace a rewrite whose tensor-dependent if/while/for stage graph ops
        self._recent_keys = collections.deque(maxlen=16)   # what retrace explanations compare a new key with
        self._created_variables = ()  # variables the first trace created: the function's, whatever is evicted
        self._bound = weakref.WeakKeyDictionary()  # instance -> Function bound to it (methods)
        if self.input_signature is not None:
            for spec in nest.flatten(self.input_signature):
                if not isinstance(spec, TensorSpec):
                    raise InvalidArgumentError(f"{self.name}: input_signature must hold gj.TensorSpec objects, "
                                               f"got {spec!r}")
        self.reduce_retracing = bool(reduce_retracing)
        # One trace over symbolic sizes for a signature with None dims (tracer.polymorphic); with the flat
        # signature of plain parameters, a call that fits it skips binding and conversion (see __call__).
        specs = None if self.input_signature is None else polymorphic.specs_of(nest.flatten(self.input_signature))
        self._polymorphism = None if specs is None else polymorphic.Polymorphism(specs)
        flat = (self.input_signature is not None and self._simple_arity == len(self.input_signature)
                and all(isinstance(s, TensorSpec) and s.shape.rank is not None for s in self.input_signature))
        # The signature a fitting call takes straight to its one trace: the symbolic trace's, or (all sizes
        # known) a check of the exact shapes, whose concrete function the first fitting call records.
        self._fast_signature = None if not flat else self._polymorphism or polymorphic.Polymorphism(
            [(tuple(s.shape), s.dtype) for s in self.input_signature])
        self._relaxed = {}   # reduce_retracing: key skeleton -> Polymorphism of the generalised signature
        # (call, concrete) of the last signature served from the cache (tracer.last_signature's call):
        # a call with the same one skips the key. One tuple, replaced whole: threads see an old or a new one.
        self._last_call = None

    # -- methods: one Function (and cache) per instance --

    def __get__(self, instance, owner):
        if instance is None:
            return self
        try:
            bound = self._bound.get(instance)
        except TypeError:
            bound = None
        if bound is None:
            ref = weakref.ref(instance)
            method = self._traced_python()

            @functools.wraps(method)
            def bound_method(*args, **kwargs):
                return method(ref(), *args, **kwargs)
            bound_method.__signature__ = _drop_first_parameter(self._signature)
            bound = Function(bound_method, input_signature=self.input_signature, jit_compile=self.jit_compile,
                             name=self.name, debug_compare=self.debug_compare, max_traces=self.max_traces,
                             autograph=False, reduce_retracing=self.reduce_retracing)   # (method is converted already)
            try:
                self._bound[instance] = bound
            except TypeError:
                raise InvalidArgumentError(f"{self.name}: gj.function methods need instances that can be weakly "
                                           f"referenced and hashed; {type(instance).__name__} cannot") from None
        return bound

    # -- calling --

    def _bind(self, args, kwargs):
        """Canonical positional arguments (defaults applied) and their names."""
        if not kwargs and len(args) == self._simple_arity:
            return args
        if 0 <= len(args) <= self._simple_arity:   # plain parameters: bound here, 10x quicker than inspect's bind
            rest, used = [], 0
            for name, default in zip(self._param_names[len(args):], self._defaults[len(args):]):
                if name in kwargs:
                    rest.append(kwargs[name])
                    used += 1
                elif default is not inspect.Parameter.empty:
                    rest.append(default)
                else:
                    break   # a required argument is missing: inspect's error below
            else:
                if used == len(kwargs):   # (else an unknown name, or one also given by position: inspect's error)
                    return args + tuple(rest)
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as err:
            raise InvalidArgumentError(f"{self.name}(): {err}") from None
        bound.apply_defaults()
        return tuple(bound.arguments.values())

    def _call_python(self, values):
        """Calls the Python function with canonical values, positionally where the signature allows. Defaults
        that were not given are left out (``value is param.default``): built-ins such as NumPy's ufuncs refuse
        some of their own defaults spelled out (``dtype=None`` beside ``signature=None``)."""
        args, kwargs, defaulted = [], {}, 0
        for param, value in zip(self._signature.parameters.values(), values):
            if param.kind is param.VAR_POSITIONAL:
                args.extend(value)
                defaulted = 0
            elif param.kind is param.VAR_KEYWORD:
                kwargs.update(value)
            elif param.kind is param.KEYWORD_ONLY:
                if value is not param.default:
                    kwargs[param.name] = value
            else:
                args.append(value)
                defaulted = defaulted + 1 if value is param.default else 0
        if defaulted:
            del args[len(args) - defaulted:]  # trailing positional defaults: the function applies them itself
        return self._traced_python()(*args, **kwargs)

    def _traced_python(self):
        """The Python function tracing calls: with ``autograph``, the rewrite of ``tracer.autograph``."""
        return autograph.convert(self.python_function) if self.autograph else self.python_function

    def __call__(self, *args, **kwargs):
        if OPTIONS.run_eagerly:
            return self.python_function(*args, **kwargs)
        last = self._last_call
        if last is not None and not kwargs and _thread.top is None:
            result = last[0](args, last[1], _fast_calls)   # the last call's signature: its trace, no key built
            if result is not _MISS:
                return result
        values = args if not kwargs and len(args) == self._simple_arity else self._bind(args, kwargs)
        fast = self._fast_signature
        if fast is not None and (concrete := fast.concrete) is not None and fast.check(values):
            # the signature's one trace: no binding, no conversion (and, as above, straight to the runtime)
            if (_thread.top is None and not concrete.captured_inputs
                    and (shortcut := _fast_calls.get(concrete.uid)) is not None
                    and (outputs := shortcut(values)) is not None):
                return concrete._structured(outputs)
            return concrete.call_flat(values)
        poly = self._polymorphism
        tensors = []
        key = []
        try:
            if self.input_signature is not None:
                values = apply_input_signature(self, values)
            for value, name in zip(values, self._param_names):
                kind = type(value)
                if kind is EagerTensor:  # the common cases, inlined: this is the per-call hot path
                    array = value._value
                    key.append((array.shape, array.dtype))
                    tensors.append(value)
                elif kind is np.ndarray:   # its dtype is checked when the key is new (a cached key's was)
                    key.append((value.shape, value.dtype))
                    tensors.append(value)
                else:
                    key.append(_leaf_key(value, tensors, name))
        except _LazyArguments:
            return _call_with_lazy_arrays(self, args, kwargs)
        key = tuple(key)
        if poly is not None and poly.failure is None and poly.check(tensors):
            concrete = poly.concrete or self._trace_symbolic(poly, values, key)
            if concrete is not None and poly.serves(tensors):
                return concrete.call_flat(tensors)
        cache = self._cache
        concrete = cache.get(key)
        cached = concrete is not None   # (is ``concrete`` the trace cached for ``key``?)
        if concrete is None:
            for value, name in zip(values, self._param_names):
                if type(value) is np.ndarray:
                    _leaf_key(value, [], name)   # raises for a dtype graphjit does not support
            concrete = self._relaxed_trace(values, tensors, key)
            if concrete is None:
                concrete = self._trace(values, tensors, key)
                cached = cache.get(key) is concrete
        elif len(cache) > OPTIONS.max_traces >> 1:  # recency matters only once eviction comes near
            cache[key] = cache.pop(key, concrete)
        if fast is not None and poly is None and fast.concrete is None and not concrete.captured_inputs:
            fast.concrete = concrete   # (all sizes known: this is the signature's only trace)
        if values is args and fast is None and cached:
            self._remember_signature(values, concrete)
        return concrete.call_flat(tensors)

    def _remember_signature(self, values, concrete):
        """Makes ``concrete`` (cached for ``values``' key) the one a call of the same signature goes to at once."""
        call = concrete._signature_call
        if call is _UNBUILT:   # (built once per trace: calls alternating between signatures only swap tuples)
            template = concrete.output_template
            call = concrete._signature_call = last_signature.compile_call(
                values, concrete.uid, template.index if type(template) is _TensorSlot else None)
        self._last_call = None if call is None else (call, concrete)

    def _relaxed_trace(self, values, tensors, key):
        """reduce_retracing: the trace of the generalised signature serving this call (None dims where the sizes
        of two calls differed, as TF2 generalises), traced now when this call is the second distinct shape."""
        if not self._relaxed and not self.reduce_retracing:
            return None
        skeleton = _skeleton(key)
        poly = self._relaxed.get(skeleton)
        if poly is not None and poly.serves(tensors):
            return poly.concrete
        if not self.reduce_retracing:
            return None
        if poly is not None and poly.failure is not None:
            return None   # (it could not be traced over symbolic sizes: per size, as without reduce_retracing)
        leaves = _tensor_leaves(key)
        if poly is not None:   # the generalised signature does not fit this call: widen it where it differs
            earlier = [(tuple(-1 if d is None else d for d in shape), dtype.np) for shape, dtype in poly.specs]
        else:
            earlier = next((_tensor_leaves(k) for k in reversed(list(self._cache))
                            if k[:1] != ("polymorphic",) and _skeleton(k) == skeleton), None)
        specs = None if earlier is None else polymorphic.relaxed_specs(leaves, earlier)
        if specs is None:
            return None
        relaxed = polymorphic.Polymorphism(specs)
        if not relaxed.check(tensors):   # (a size 0 or 1: traced per size)
            return None
        self._relaxed[skeleton] = relaxed
        concrete = self._trace_symbolic(relaxed, values, key)
        return concrete if concrete is not None and relaxed.serves(tensors) else None

    def _trace_symbolic(self, poly, values, key):
        """The one trace of ``poly``'s signature over symbolic sizes (None, logged, when it cannot be made)."""
        with _trace_lock:
            if poly.concrete is not None or poly.failure is not None:
                return poly.concrete
            general_key = ("polymorphic",) + _generalized_key(key, iter(poly.specs))
            retracing.before_trace(self, general_key[1:], log_every_trace=OPTIONS.explain_retracing)
            concrete = poly.trace(lambda types: self._trace_new(values, None, general_key, symbolic_types=types),
                                  self.name)
            if concrete is not None:
                specs = iter(poly.specs)
                concrete._input_structure = display.input_structure(self._signature, [
                    nest.map_structure(lambda leaf: TensorSpec(*next(specs)) if _is_input(leaf) else leaf, v)
                    for v in values])
                self._tracing_count += 1
                self._cache[general_key] = concrete
                while len(self._cache) > OPTIONS.max_traces:
                    del self._cache[next(iter(self._cache))]
                    self._last_call = None   # (it may be the evicted trace's)
            return concrete

    def _trace(self, values, tensors, key):
        with _trace_lock:
            concrete = self._cache.get(key)  # traced by another thread while this one waited
            if concrete is None:
                retracing.before_trace(self, key, log_every_trace=OPTIONS.explain_retracing)
                concrete = self._trace_new(values, tensors, key)
                while len(self._cache) > OPTIONS.max_traces:
                    del self._cache[next(iter(self._cache))]
                    self._last_call = None   # (it may be the evicted trace's)
            return concrete

    def _trace_new(self, values, tensors, key, symbolic_types=None):
        """A new trace for ``values`` (tracer.function_trace); with ``symbolic_types`` (the inputs' types over
        symbolic sizes) it is the polymorphic trace, which the caller counts and keeps once it has succeeded."""
        concrete = trace_concrete(self, values, symbolic_types)
        self._created_variables += concrete.variables   # (the function's, even once that trace is evicted)
        self._tracing_count += symbolic_types is None   # (a symbolic trace counts once it is accepted)
        if not concrete.captured_inputs and symbolic_types is None:   # a trace fed by an outer trace's tensors
            self._cache[key] = concrete                # is of use only inside that one trace
        return concrete

    def get_concrete_function(self, *args, **kwargs):
        """The ConcreteFunction for these arguments (tensors or TensorSpecs), tracing if needed."""
        if not args and not kwargs and self.input_signature is not None:
            args = self.input_signature
        values = self._bind(args, kwargs)
        specs = [_leaf_spec(v) for v in nest.flatten(values) if isinstance(v, (TensorSpec,) + _TENSOR_LEAVES)]
        if any(v.shape.rank is None for v in nest.flatten(values) if isinstance(v, TensorSpec)):
            raise UnimplementedError(f"{self.name}.get_concrete_function(): a TensorSpec of unknown rank cannot be "
                                     f"traced; give its rank (None for each unknown size)")
        values = nest.map_structure(   # (stand-ins: only their types matter; size 2 for the unknown sizes)
            lambda v: EagerTensor(np.zeros([2 if d is None else d for d in v.shape], v.dtype.np))
            if isinstance(v, TensorSpec) else v, values)
        if self.input_signature is not None:
            values = apply_input_signature(self, values)
        tensors = []
        key = tuple(_leaf_key(v, tensors, name) for v, name in zip(values, self._param_names))
        poly = self._polymorphism
        if poly is not None and poly.failure is None and poly.check(tensors):   # (what a call of these would run)
            specs = poly.specs
        if any(d is None for shape, _ in specs for d in shape):   # the trace over symbolic sizes
            if poly is None or [s for s, _ in poly.specs] != [s for s, _ in specs]:
                poly = self._relaxed.setdefault(("gcf", _skeleton(key), tuple(specs)), polymorphic.Polymorphism(specs))
                self._relaxed.setdefault(_skeleton(key), poly)   # calls that fit it are served by it
            concrete = poly.concrete or self._trace_symbolic(poly, values, key)
            if concrete is None:
                raise UnimplementedError(f"{self.name}.get_concrete_function(): the function cannot be traced once "
                                         f"for every size of the unknown dimensions ({poly.failure}); pass "
                                         f"arguments (or TensorSpecs) of the shapes to trace")
            return concrete
        return self._cache.get(key) or self._trace(values, tensors, key)

    def experimental_get_trace_count_kept(self):
        """How many traces the function holds now (at most ``gj.config.max_traces``)."""
        return len(self._cache)

    def experimental_get_tracing_count(self):
        return self._tracing_count

    def pretty_printed_concrete_signatures(self):
        """Each trace kept, as ``ConcreteFunction.pretty_printed_signature`` prints it, blank lines between."""
        return display.concrete_signatures_text(self)

    def _repr_html_(self):
        return display.function_html(self)

    def __repr__(self):
        return f"<gj.function {self.name} ({self._tracing_count} trace(s))>"


def _drop_first_parameter(signature):
    params = list(signature.parameters.values())[1:]
    return signature.replace(parameters=params)


def function(func=None, *, input_signature=None, jit_compile=None, name=None, debug_compare=None, max_traces=None,
             autograph=True, reduce_retracing=False):
    """Decorator: trace ``func`` into a graph per input signature (works with or without parentheses).
    ``debug_compare`` (None: follow ``gj.config.debug_compare``; True/"raise"/"warn"/False) runs this function's
    graphs beside the reference interpreter and reports the first node whose values differ (shadow mode).
    ``max_traces=N``: an (N+1)th trace raises ``RetraceError`` saying what changed (``gj.config.max_traces`` is
    different: how many traces a function keeps before it drops the least recently used). ``autograph=False``
    traces the function as written (a Python ``if`` on a tensor is then an error instead of a ``gj.cond``).
    ``reduce_retracing=True``: after a second distinct shape of the same arguments, one trace with None in the
    differing dimensions serves every size there (TF2's generalisation; tracer.polymorphic)."""
    if debug_compare not in (None, False, True, "raise", "warn"):
        raise InvalidArgumentError(f"gj.function: debug_compare must be None, False, True, 'raise' or 'warn'; "
                                   f"got {debug_compare!r}")
    if max_traces is not None and (type(max_traces) is not int or max_traces < 1):
        raise InvalidArgumentError(f"gj.function: max_traces must be None or a positive int; got {max_traces!r}")
    options = dict(input_signature=input_signature, jit_compile=jit_compile, name=name, debug_compare=debug_compare,
                   max_traces=max_traces, autograph=autograph, reduce_retracing=reduce_retracing)
    if func is None:
        return lambda f: function(f, **options)
    if not callable(func):
        raise InvalidArgumentError(f"gj.function expects a callable, got {type(func).__name__}")
    return Function(func, **options)

