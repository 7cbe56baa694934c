"""``@gj.function``: trace a Python function once per input signature and run the graph on later calls.

Path of a call: arguments -> signature key (tensors by shape/dtype, Python values by value) ->
cached ``ConcreteFunction`` (or a new trace) -> ``context.context_for(tensors).call_function`` (the runtime runs
the graph eagerly; an enclosing trace inlines it). A call with the previous call's signature skips all of that
up to the runtime's shortcut (``tracer.last_signature``).
"""
import collections
import functools
import inspect
import threading
import weakref

import numpy as np

from . import autograph, context, display, dtypes, last_signature, nest, polymorphic, retracing
from .errors import InternalError, InvalidArgumentError, UnimplementedError
from .ir import TensorType
from .program import Program
from .specs import TensorSpec, flatten_up_to_signature
from .symbolic import SymInt
from .tensor import EagerTensor, SymbolicTensor, Tensor, convert_to_tensor, is_gpu_array
from .tracing import TraceContext, trace

_TENSOR_LEAVES = (EagerTensor, SymbolicTensor, np.ndarray, np.generic)
_UNBUILT = object()
_MISS = last_signature.MISS
_thread = context._state
# One lock for every trace: threads calling a function with a new signature at once trace it once, and no two
# functions that call each other while tracing can deadlock on each other's locks. Traces are rare and short.
_trace_lock = threading.RLock()
# The runtime's per-call shortcuts for eager calls, by ConcreteFunction uid: ``shortcut(tensors) -> outputs``,
# skipping context dispatch and backend lookup, or None once stale (the call then takes the ordinary path).
# The table belongs to the runtime (``install_fast_calls``); the tracer only reads it.
_fast_calls = {}


def install_fast_calls(table):
    """Makes ``table`` (uid -> shortcut, owned and kept current by the runtime) the one calls consult."""
    global _fast_calls
    _fast_calls = table


class _Options:
    """What gj.config sets for every gj.function (graphjit.runtime.config validates the values)."""
    run_eagerly = False   # gj.config.run_functions_eagerly(True): call the Python function, trace nothing
    max_traces = 128      # traces one Function keeps; the least recently used one goes beyond that
    explain_retracing = False   # log each new trace and why (tracer.retracing)


OPTIONS = _Options()


class _TensorSlot:
    """Marks where a tensor sat in a structure (inputs to trace, outputs to fill)."""
    __slots__ = ("index",)

    def __init__(self, index):
        self.index = index


def _leaf_key(value, tensors, path):
    """The part of the signature key for one argument; appends tensor leaves to ``tensors``."""
    kind = type(value)
    if kind is EagerTensor:
        tensors.append(value)
        v = value._value
        return (v.shape, v.dtype)
    if kind in (tuple, list) or isinstance(value, (tuple, list)):
        return (kind, tuple(_leaf_key(v, tensors, f"{path}[{i}]") for i, v in enumerate(value)))
    if isinstance(value, dict):
        return (kind, tuple((k, _leaf_key(value[k], tensors, f"{path}[{k!r}]")) for k in nest._sorted_keys(value)))
    if kind is float:
        return (float, value.hex())
    if kind in (int, bool, str) or value is None:
        return (kind, value)
    if isinstance(value, _TENSOR_LEAVES):
        tensors.append(value)
        if isinstance(value, EagerTensor):   # a DeviceTensor: keyed as its host twin (one trace, any device)
            v = value._value
            return (tuple(v.shape), v.dtype)
        if isinstance(value, SymbolicTensor):  # the trace inlines into value's graph: keyed apart from eager
            # (by its type's sizes: an enclosing trace's unknown ones are SymInts, which TensorShape shows as None)
            return (type(value), tuple(value.type.shape), value.shape.rank, value.dtype.np)
        if dtypes.from_numpy(value.dtype) is None:
            raise InvalidArgumentError(f"argument {path} has dtype {value.dtype}, which graphjit does not support")
        return (value.shape, value.dtype)
    if getattr(value, "_is_variable", False):
        return ("variable", value._ref.id)
    if is_gpu_array(value):   # a GPU array (CuPy, PyTorch, numba.cuda): a DeviceTensor of its memory
        return _leaf_key(convert_to_tensor(value, what=f"argument {path}"), tensors, path)   # no copy
    if _lazy_array_handler(value) is not None:
        raise _LazyArguments()
    try:
        hash(value)
    except TypeError:
        raise InvalidArgumentError(
            f"argument {path} is a {kind.__name__}, which is unhashable: gj.function keys its traces by the "
            f"values of non-tensor arguments. Pass a tuple, a tensor or a hashable object instead.") from None
    return (kind, value)


# Array types of other libraries whose calls are handed to an extension: {module prefix: handler(function, args,
# kwargs)}. Dask arrays are lazy: converting one would compute it, so a call with one among its arguments goes to
# graphjit.distributed (installed by the graphjit package; the core never imports Dask). Matched by the type's
# module, so no such library is imported to recognise its arrays.
_LAZY_ARRAY_HANDLERS = {}


class _LazyArguments(Exception):
    """Raised while keying a call that has an argument of a registered lazy array type."""


def install_lazy_array_handler(module_prefix, handler):
    _LAZY_ARRAY_HANDLERS[module_prefix] = handler


def _lazy_array_handler(value):
    module = type(value).__module__ or ""
    for prefix, handler in _LAZY_ARRAY_HANDLERS.items():
        if module.startswith(prefix):
            return handler
    return None


def _call_with_lazy_arrays(function, args, kwargs):
    for leaf in nest.flatten([list(args), kwargs]):
        handler = _lazy_array_handler(leaf)
        if handler is not None:
            return handler(function, args, kwargs)
    raise InternalError(f"{function.name}: a lazy array argument vanished while the call was keyed")


class ConcreteFunction(Program):
    """One trace of a function: its graph, and how to map arguments and results to and from it."""

    def __init__(self, graph, input_types, output_template, function_name, *, jit_compile=None, debug_compare=None):
        super().__init__(graph, function_name, jit_compile=jit_compile, debug_compare=debug_compare)
        self.input_types = input_types
        self.output_template = output_template
        self.variables = ()  # variables created by this trace, kept alive with it
        # Tensors of an enclosing trace that feed this graph's inputs after ``input_types`` (closed-over values of a
        # function traced inside another one, as TF's ``captured_inputs``); call_flat passes them along.
        self.captured_inputs = ()
        self._signature_call = _UNBUILT   # tracer.last_signature's call, for the arguments it was cached for

    @property
    def structured_outputs(self):
        """The outputs' structure with a gj.TensorSpec where each tensor is (as TF), not the internal slots."""
        types = [self.graph.nodes[i].type for i in self.graph.outputs]
        return nest.map_structure(lambda leaf: TensorSpec(types[leaf.index].shape, types[leaf.index].dtype)
                                  if type(leaf) is _TensorSlot else leaf, self.output_template)

    @property
    def structured_input_signature(self):
        """``(args, kwargs)`` of this trace: TensorSpecs where tensors were, Python values as they were."""
        return display.input_signature(self)

    def pretty_printed_signature(self):
        """``f(x, y)``, its arguments and its results, one per line (TF's layout)."""
        return display.signature_text(self)

    def _repr_html_(self):
        return display.concrete_html(self)

    def _repr_svg_(self):
        return self.graph._repr_svg_()

    def __str__(self):
        return str(self.graph)

    def __repr__(self):
        return f"<ConcreteFunction {self.name}({', '.join(map(str, self.input_types))})>"

    def pretty_printed_graph(self):
        return str(self.graph)

    # -- inspection of the compiled form (the Numba CPU backend; compiles on first use) --

    def _compiled(self):
        return context.eager_context().compiled(self, "cpu")

    @property
    def optimized_graph(self):
        """The graph after the optimization passes (constant folding, CSE, DCE, simplification)."""
        return self._compiled().optimized

    @property
    def kernels(self):
        """Generated Numba source of each compiled kernel, by function name."""
        return {name: info["source"] for name, info in self._compiled().kernels.items()}

    def to_dot(self, optimized=False):
        """Graphviz DOT text of the traced (or optimized) graph."""
        return (self.optimized_graph if optimized else self.graph).to_dot()

    def call_flat(self, tensors):
        """Runs the graph on a flat list of tensors (or arrays) and returns the structured result."""
        if len(tensors) != len(self.input_types):
            raise InvalidArgumentError(f"{self.name}: expected {len(self.input_types)} tensor inputs, "
                                       f"got {len(tensors)}")
        if self.captured_inputs:
            tensors = list(tensors) + list(self.captured_inputs)
        fast = _fast_calls.get(self.uid)
        if fast is None or _thread.top is not None or (outputs := fast(tensors)) is None:
            ctx = context.context_for(tensors)
            if ctx is not context.eager_context():  # recorded (a trace, a TF1 graph): arrays become constants, as in TF
                tensors = [convert_to_tensor(t) if isinstance(t, (np.ndarray, np.generic)) else t for t in tensors]
            outputs = ctx.call_function(self, tensors)
        return self._structured(outputs)

    def _structured(self, outputs):
        """The function's result from the graph's flat ``outputs``."""
        template = self.output_template
        if type(template) is _TensorSlot:
            return outputs[template.index]
        return nest.map_structure(
            lambda leaf: outputs[leaf.index] if type(leaf) is _TensorSlot else leaf, template)

    def __call__(self, *args):
        tensors = []
        sizes = {}   # symbolic sizes (an input_signature's None dims) bound so far: shared ones must agree
        for i, arg in enumerate(nest.flatten(args)):
            t = convert_to_tensor(arg, what=f"argument {i}")
            expected = self.input_types[i] if i < len(self.input_types) else None
            if expected is not None and (not _fits(tuple(t.shape), tuple(expected.shape), sizes)
                                         or t.dtype is not expected.dtype):
                raise InvalidArgumentError(f"{self.name}: argument {i} has type {t.type}, but this concrete "
                                           f"function was traced for {expected}"
                                           + (" (unknown sizes at least 2, equal where named alike)" if sizes or
                                              any(isinstance(d, SymInt) for d in expected.shape) else ""))
            tensors.append(t)
        return self.call_flat(tensors)


class Function:
    """A Python function that is traced into graphs, one per input signature (``gj.function``)."""

    def __init__(self, python_function, *, input_signature=None, jit_compile=None, name=None, debug_compare=None,
                 max_traces=None, autograph=True, reduce_retracing=False):
        functools.update_wrapper(self, python_function)
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
                values = self._apply_signature(values)
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

    def _apply_signature(self, values):
        """``values`` with the tensors the input_signature describes converted and checked. The signature's
        entries are the call's arguments in order, ``*args`` elements included, so a list given for a spec is one
        tensor (as in TF), never several arguments."""
        arguments = []
        for param, value in zip(self._signature.parameters.values(), values):
            if param.kind is param.VAR_POSITIONAL:
                arguments.extend(value)
            elif param.kind is not param.VAR_KEYWORD:
                arguments.append(value)
        count = len(self.input_signature)
        if len(arguments) < count:
            raise InvalidArgumentError(f"{self.name}: input_signature has {count} entries but the call passed "
                                       f"{len(arguments)} argument(s)")
        flat_values = flatten_up_to_signature(self.input_signature, arguments[:count], self.name)
        converted = []
        for i, (value, spec) in enumerate(zip(flat_values, nest.flatten(self.input_signature))):
            if _lazy_array_handler(value) is not None:   # (converting it would compute it)
                raise _LazyArguments()
            t = value if isinstance(value, (EagerTensor, SymbolicTensor)) else convert_to_tensor(
                value, spec.dtype if dtypes.is_python_scalar(value) else None, what=f"argument {i}")
            if not spec.is_compatible_with(t):
                raise InvalidArgumentError(
                    f"{self.name}: argument {i} ({spec.name or self._param_names[min(i, len(self._param_names) - 1)]})"
                    f" has shape {tuple(t.shape)} and dtype {t.dtype.name}, which does not match the "
                    f"input_signature {spec}")
            converted.append(t)
        arguments[:count] = nest.pack_sequence_as(list(self.input_signature), converted)
        # back into one value per parameter (the *args tuple rebuilt)
        out, k = [], 0
        for param, value in zip(self._signature.parameters.values(), values):
            if param.kind is param.VAR_POSITIONAL:
                out.append(tuple(arguments[k:k + len(value)]))
                k += len(value)
            elif param.kind is param.VAR_KEYWORD:
                out.append(value)
            else:
                out.append(arguments[k])
                k += 1
        return tuple(out)

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
        """A new trace for ``values``; with ``symbolic_types`` (the inputs' types over symbolic sizes) it is
        the polymorphic trace, which the caller counts and keeps once it has succeeded."""
        input_types = []

        def input_leaf(leaf):   # the leaves that become graph inputs, in nest.flatten order
            if isinstance(leaf, (np.ndarray, np.generic)):  # only its type matters here: no copy of the data
                input_types.append(TensorType(leaf.shape, dtypes.from_numpy(leaf.dtype)))
            elif isinstance(leaf, SymbolicTensor) and None not in tuple(leaf.type.shape):
                input_types.append(TensorType(tuple(leaf.type.shape), leaf.dtype))   # (SymInts: traced over them)
            elif isinstance(leaf, (EagerTensor, SymbolicTensor)):
                if not leaf.shape.is_fully_defined():
                    raise UnimplementedError(f"{self.name}: argument {leaf!r} has a partly unknown shape; a "
                                             f"gj.function traces for full shapes (feed or give the placeholder "
                                             f"a full shape)")
                input_types.append(TensorType(tuple(leaf.shape), leaf.dtype))
            elif is_gpu_array(leaf):   # (its DeviceTensor shares its memory: only the type is read)
                input_types.append(convert_to_tensor(leaf).type)
            return leaf
        for v in values:
            nest.map_structure(input_leaf, v)
        if symbolic_types is not None:
            input_types = list(symbolic_types)
        template, created = None, []

        def flat_function(*symbolic):
            """The Python function over the flat symbolic inputs, returning its flat tensor results."""
            nonlocal template
            inputs = iter(symbolic)
            args = [nest.map_structure(lambda leaf: next(inputs) if _is_input(leaf) else leaf, v) for v in values]
            trace_ctx = context.current()   # (this trace's, while it runs: the variables it creates are ours)
            result = self._call_python(args)
            flat_outputs = []

            def to_slot(leaf):
                if isinstance(leaf, Tensor) or getattr(leaf, "_is_variable", False):
                    flat_outputs.append(leaf)
                    return _TensorSlot(len(flat_outputs) - 1)
                if isinstance(leaf, (np.ndarray, np.generic)):
                    flat_outputs.append(convert_to_tensor(leaf))
                    return _TensorSlot(len(flat_outputs) - 1)
                if leaf is not None and type(leaf) not in _CONSTANT_OUTPUTS:
                    raise _bad_output(self, leaf)
                return leaf
            template = nest.map_structure(to_slot, result)
            created.extend(trace_ctx.created_variables)
            return flat_outputs

        # Called while another function is traced, this trace runs inside that one (TF's nested tf.function):
        # the outer trace's tensors it closes over become captures, fed when the outer graph inlines it.
        top = context.innermost_graph()   # (past any gradient tape)
        parent = top if type(top) is TraceContext else None
        graph, captures = trace(flat_function, input_types, parent, name=self.name,
                                allow_variable_creation=self._tracing_count == 0, function_name=self.name)
        concrete = ConcreteFunction(graph, input_types, template, self.name, jit_compile=self.jit_compile,
                                    debug_compare=self.debug_compare)
        concrete.captured_inputs = captures
        concrete._input_structure = display.input_structure(self._signature, values)  # specs: no tensor is kept
        # Variables created while tracing belong to the function (their values live as long as it does, even when
        # the trace that created them is evicted from the cache).
        concrete.variables = tuple(created)
        self._created_variables += concrete.variables
        self._tracing_count += symbolic_types is None   # (a symbolic trace counts once it is accepted)
        if not captures and symbolic_types is None:   # a trace fed by an outer trace's tensors is of use only
            self._cache[key] = concrete                # inside that one trace
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
            values = self._apply_signature(values)
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


def _leaf_spec(leaf):
    """(shape, DType) of a TensorSpec (None dims kept) or of a tensor or array given to get_concrete_function."""
    if isinstance(leaf, TensorSpec):
        return tuple(leaf.shape), leaf.dtype
    dtype = leaf.dtype if isinstance(leaf, (EagerTensor, SymbolicTensor)) else dtypes.from_numpy(leaf.dtype)
    return tuple(leaf.shape), dtype


def _fits(shape, expected, sizes):
    """Whether a tensor of ``shape`` fits an input type's ``expected`` shape; a symbolic size binds in ``sizes``
    (it must be at least the symbolic minimum, and the same wherever the symbol recurs)."""
    if len(shape) != len(expected):
        return False
    for d, e in zip(shape, expected):
        if isinstance(e, SymInt):
            name = str(e)
            least = next(iter(e.atoms())).lower   # (MIN_SIZE, or more where an int index needs it)
            if d is None or d < least or sizes.setdefault(name, d) != d:
                return False
        elif d != e:
            return False
    return True


def _is_tensor_key(part):
    return type(part) is tuple and len(part) == 2 and type(part[0]) is tuple and isinstance(part[1], np.dtype)


def _map_key(key, on_tensor):
    """``key`` (a signature key, see _leaf_key) with each tensor part ``(shape, dtype)`` replaced by
    ``on_tensor(part)``, in flatten order."""
    def walk(part):
        if _is_tensor_key(part):
            return on_tensor(part)
        if type(part) is tuple and len(part) == 2 and isinstance(part[0], type) and type(part[1]) is tuple:
            if issubclass(part[0], dict):
                return (part[0], tuple((k, walk(v)) for k, v in part[1]))
            if issubclass(part[0], (list, tuple)):
                return (part[0], tuple(walk(v) for v in part[1]))
        return part
    return tuple(walk(p) for p in key)


def _tensor_leaves(key):
    """The (shape, NumPy dtype) of each tensor of a signature key, in flatten order."""
    found = []
    _map_key(key, found.append)
    return found


def _generalized_key(key, specs):
    """``key`` with each tensor's shape replaced by the next spec's (None dims)."""
    return _map_key(key, lambda part: (next(specs)[0], part[1]))


def _skeleton(key):
    """``key`` with each tensor's sizes left out (its rank kept): the keys reduce_retracing generalises over."""
    return _map_key(key, lambda part: ("tensor", len(part[0]), part[1]))


def _is_input(leaf):
    return isinstance(leaf, (np.ndarray, np.generic, EagerTensor, SymbolicTensor)) or is_gpu_array(leaf)


# Python values a traced function may return as they are (every call returns the same value). Anything else
# (a generator, a set, an arbitrary object) would be the object of the first trace, handed back on every
# later call: refused, as TF does.
_CONSTANT_OUTPUTS = (bool, int, float, str)


def _bad_output(function, leaf):
    from .errors import TracingError
    from .source import Location
    code = getattr(inspect.unwrap(function.python_function), "__code__", None)
    where = "" if code is None else f"\n  at {Location(code.co_filename, code.co_firstlineno, code.co_name)}"
    return TracingError(f"{function.name}: returned a {type(leaf).__name__} ({leaf!r:.60}): a gj.function must return "
                        f"tensors, arrays, None, Python numbers or strings, or tuples/lists/dicts of them{where}")


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

