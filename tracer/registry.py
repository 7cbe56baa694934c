"""The op registry: each op's facts live in one ``Op`` record, defined in one file under ``ops/``.

An op holds its shape/dtype rule (``infer``), its eager NumPy implementation (``eager``), and slots
for the compiler's lowering and the gradient, filled by later layers in the same file. Public
functions (``gj.add``, ``gj.math.exp``) are plain Python functions registered with ``export``, which
also declares the Tensor operators and NumPy functions they implement, so adding an op touches one
file.

Rules: ``infer(*input_types, **attrs) -> TensorType`` raises InvalidArgumentError with a message
naming shapes/dtypes (the dispatcher adds the op name and the user's line). ``eager(*arrays,
**attrs) -> ndarray`` returns exactly the inferred dtype and shape; a ``stateful`` op's eager
function receives the runtime state first (variables, random generator) and its nodes are ordered.
``attrs`` is the op's attribute schema (``tracer.attrs``: name -> kind, with defaults); graph building checks
every node's attributes against it (``check_attrs``), the eager path does not.

An op of several results (control flow) has a rule returning an ``ir.TupleType``; applying it (``bind``) gives a
list of tensors, one per result, in every context (a trace records the node and one ``tuple_get`` node per
result), and its eager function returns a tuple of arrays.

``grad`` (tracer.autodiff) is the op's gradient rule, ``grad(upstream, output, *inputs, **attrs) -> one gradient
per input`` (None where none flows), or one of the two markers below; every op decides
(tests/test_autodiff_rules.py). An op of several results gets, and returns, lists: ``grad(upstreams, outputs,
*inputs, **attrs)`` with one upstream per result (None where none flows). The markers live here, not in autodiff,
so that op files set them without importing the tape.
"""
from . import context
from .symbolic import SymbolicError
from .attrs import validate as _validate_attrs
from .errors import GraphjitError, InternalError
from .op_errors import EAGER_ERRORS, op_error
from .source import with_location

# Op.grad markers (plain strings, compared by identity):
NOT_DIFFERENTIABLE = "not differentiable"   # no gradient flows through the op (comparisons, argmax, draws)
HANDLED_BY_TAPE = "handled by the tape"     # the tape itself gives the op's gradients (read_variable: a read
#                                             of a watched variable is where that variable's gradient arrives;
#                                             tuple_get: the tape records a node of several results as one)

OPS = {}          # op name -> Op
API = {}          # public dotted name ("add", "math.exp", "nn.relu") -> function
NUMPY = {}        # NumPy function or ufunc -> graphjit function taking NumPy's arguments
OPERATORS = {}    # Tensor dunder name -> function(self, *args)


class Op:
    __slots__ = ("name", "infer", "eager", "attrs", "stateful", "check_eager", "lower", "grad", "doc", "subgraphs")

    def __init__(self, name, *, infer, eager, attrs=None, stateful=False, check_eager=True, lower=None, grad=None,
                 doc="", subgraphs=()):
        self.name = name
        self.infer = infer
        self.eager = eager
        self.attrs = attrs  # name -> tracer.attrs kind; None only for ad-hoc ops (tests) that take anything
        self.stateful = stateful
        # When False, eager execution skips ``infer`` on the hot path: the op's eager implementation
        # raises for every input its rule rejects, and its results always match the rule.
        self.check_eager = check_eager
        self.lower = lower
        self.grad = grad
        self.doc = doc
        # Names of the attributes whose values are Graphs (cond's branches, while's body): the hook through which
        # passes, functionalize and the executors reach nested graphs (tracer.subgraphs). ``infer`` gets the
        # Graphs; ``eager`` gets, for each, a function running it (arrays in, list of arrays out).
        self.subgraphs = tuple(subgraphs)

    def __repr__(self):
        return f"Op({self.name})"

    def bind(self, *inputs, **attrs):
        """Applies the op to tensors in the context that runs it (eager, a trace, or an extension's)."""
        return context.context_for(inputs).execute(self, inputs, attrs)

    def check_attrs(self, attrs, location=None):
        """Raises InvalidArgumentError naming the op and the attribute unless ``attrs`` fit the schema."""
        if attrs or self.attrs:  # (most nodes are elementwise, with no attributes to check: tracing stays fast)
            _validate_attrs(self.name, self.attrs, attrs, location)

    def infer_checked(self, types, attrs, location=None):
        """``infer`` with errors rewritten to name the op, its inputs and the user's line."""
        try:
            return self.infer(*types, **attrs)
        except SymbolicError as err:   # (kept: the polymorphic trace merges sizes or falls back on it)
            raise SymbolicError(f"{self.name}({', '.join(str(t) for t in types)}): {err}", err.unify, err.require) from None
        except (GraphjitError, *EAGER_ERRORS) as err:
            described = ", ".join(str(t) for t in types)
            raise op_error(err, f"{self.name}({described})", location) from None


def register(op):
    if op.name in OPS:
        raise InternalError(f"op {op.name!r} is registered twice")
    OPS[op.name] = op
    return op


def export(*names, numpy=(), unary_operators=(), operators=(), reflected=(), methods=None):
    """Registers a public function under dotted ``names``.

    ``numpy``: NumPy functions/ufuncs whose call ``np.f(*args, **kwargs)`` this function accepts as is.
    ``unary_operators``: Tensor dunders implemented as ``fn(self)``.
    ``operators``: Tensor dunders implemented as ``fn(self, other)``; ``reflected`` as ``fn(other, self)``.
    ``==`` and ``!=`` return NotImplemented for None and strings, so ``t == None`` is False, as in Python.
    ``methods``: {dunder: method} installed on Tensor as they are (e.g. operators with an eager fast path).
    """
    def decorate(fn):
        for name in names:
            if name in API:
                raise InternalError(f"public name {name!r} is exported twice")
            API[name] = fn
        for np_fn in _as_tuple(numpy):
            NUMPY[np_fn] = fn
        for dunder in unary_operators:
            OPERATORS[dunder] = fn
        OPERATORS.update(methods or {})
        for dunder in operators:
            OPERATORS[dunder] = binary_operator(fn)
        for dunder in reflected:
            OPERATORS[dunder] = binary_operator(fn, reflected=True)
        return fn
    return decorate


def numpy_adapter(*np_functions):
    """Registers a function with NumPy's signature that implements ``np_functions`` on tensors."""
    def decorate(fn):
        for np_fn in np_functions:
            NUMPY[np_fn] = fn
        return fn
    return decorate


def unsupported_operand(fn_name, other):
    """The error for ``t + None`` or ``t * "text"``: a TypeError, as NumPy's, but one that names the op, the
    operand and the user's line (Python's own "unsupported operand" message names neither)."""
    from .errors import InvalidTypeError
    return InvalidTypeError(with_location(
        f"{fn_name}: unsupported operand {other!r} of type {type(other).__name__}: expected a tensor, an array "
        f"or a number"))


def binary_operator(fn, reflected=False):
    if reflected:
        def method(self, other):
            if other is None or type(other) is str:
                raise unsupported_operand(fn.__name__, other)
            return fn(other, self)
    else:
        def method(self, other):
            if other is None or type(other) is str:
                raise unsupported_operand(fn.__name__, other)
            return fn(self, other)
    method.__name__ = fn.__name__
    method.__doc__ = fn.__doc__
    return method


def _as_tuple(value):
    return value if isinstance(value, tuple) else (value,)


def get_op(name):
    try:
        return OPS[name]
    except KeyError:
        from .errors import NotFoundError
        raise NotFoundError(f"no op named {name!r} is registered") from None
