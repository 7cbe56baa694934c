"""What code rewritten by ``tracer.autograph`` calls (as ``ag__.if_stmt`` ...): the run-time choice between
Python control flow and staged ``gj.cond`` / ``gj.while_loop``.

A condition that is a Python value, a NumPy value or an eager tensor runs the statement as Python would; a
symbolic tensor (the function is being traced and the value depends on its inputs) stages the graph op. Branch
and loop functions take and return the variables the statement assigns, so staging needs no Python state.
Variables first assigned inside a statement start as ``Undefined`` markers: a branch that leaves one undefined
while the other defines it is TF's "must also be initialized in the other branch" error.
"""
from .dtypes import result_type
from .errors import GraphjitError, InvalidArgumentError, OperatorNotAllowedInGraphError
from .source import with_location
from .tensor import EagerTensor, Tensor, convert_to_tensor


class Undefined:
    """A variable not assigned yet where a converted statement begins. Using it is the error Python gives."""
    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def _unbound(self, *_args, **_kwargs):
        raise UnboundLocalError(f"local variable '{self.name}' referenced before assignment (it is assigned only "
                                f"in a branch or loop that did not run)")

    __bool__ = __call__ = __iter__ = __len__ = __getitem__ = __float__ = __int__ = __index__ = _unbound
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _unbound
    __neg__ = __lt__ = __le__ = __gt__ = __ge__ = __matmul__ = __pow__ = _unbound

    def __getattr__(self, name):
        self._unbound()

    def __repr__(self):
        return f"<undefined variable {self.name}>"


def _staged(value):
    """The value as a symbolic tensor when it stages a graph op; None when Python decides."""
    if getattr(value, "_is_variable", False):
        value = value.read_value()
    if isinstance(value, Tensor) and type(value) is not EagerTensor:
        return value
    return None


# ---- if ---------------------------------------------------------------------------------------------------

def if_stmt(test, true_fn, false_fn, names, values):
    """``true_fn(*values)`` or ``false_fn(*values)``: by Python truth, or staged as ``gj.cond``."""
    pred = _staged(test)
    if pred is None:
        return true_fn(*values) if test else false_fn(*values)
    from .control_flow import cond
    undefined = ({}, {})   # per branch: positions of the names it leaves undefined

    def branch(fn, k):
        def run():
            out = fn(*values)
            if not names:
                return out   # a branch that returns: its value, as the function's result
            fixed = list(out)
            for position, v in enumerate(out):
                if isinstance(v, Undefined):
                    undefined[k][position] = v.name
                    fixed[position] = None
            return tuple(fixed)
        return run
    try:
        result = cond(pred, branch(true_fn, 0), branch(false_fn, 1))
    except GraphjitError:
        one_sided = set(undefined[0]) ^ set(undefined[1])
        if one_sided:
            position = min(one_sided)
            where = "else" if position in undefined[1] else "if"
            raise InvalidArgumentError(with_location(
                f"'{names[position]}' must also be initialized in the {where} branch: a tensor-dependent if "
                f"(staged as gj.cond) must define its variables in both branches")) from None
        raise
    if not names:
        return result
    return tuple(Undefined(names[p]) if p in undefined[0] else v for p, v in enumerate(result))


# ---- while ------------------------------------------------------------------------------------------------

def while_stmt(test_fn, body_fn, names, values):
    """The loop as Python while its test is a Python value, staged as ``gj.while_loop`` once it is a tensor."""
    while True:
        test = test_fn(*values)
        if _staged(test) is not None:
            return _staged_while(test_fn, body_fn, names, values, "while loop")
        if not test:
            return values
        values = body_fn(*values)


def _staged_while(test_fn, body_fn, names, values, what, counter=None, bound=None):
    """``gj.while_loop`` over the defined variables, carried as a dict by name (so an error names the user's
    variable: ``loop_vars['total']``); one still undefined is local to each iteration. A for loop gives
    ``counter = (start, test(c), advance(c), item(c))``: the loop runs while ``test(c)``, and the body gets
    ``item(c)`` before the variables; ``bound``, when known, is at least its number of iterations."""
    from .control_flow import while_loop
    carried = {names[k]: _loop_variable(v, names[k], what) for k, v in enumerate(values)
               if not isinstance(v, Undefined)}

    def full(state):
        return [state.get(name, v) for name, v in zip(names, values)]

    def carried_out(out):
        return {name: v for name, v in zip(names, out) if name in carried}
    if counter is None:
        state = while_loop(lambda state: test_fn(*full(state)), lambda state: (carried_out(body_fn(*full(state))),),
                           (carried,))[0]
    else:
        start, test, advance, item = counter
        state = while_loop(lambda c, state: test(c),
                           lambda c, state: (advance(c), carried_out(body_fn(item(c), *full(state)))),
                           (start, carried), maximum_iterations=bound)[1]
    return tuple(full(state))


def _loop_variable(value, name, what):
    if isinstance(value, Tensor) or getattr(value, "_is_variable", False):
        return value
    if isinstance(value, (bool, int, float)):
        return convert_to_tensor(value)   # TF's rule: Python numbers become tensors in a staged loop
    raise InvalidArgumentError(with_location(
        f"'{name}' is a {type(value).__name__} ({value!r:.40}) carried by a tensor-dependent {what} (staged as "
        f"gj.while_loop): loop variables must be tensors or Python numbers"))


# ---- for --------------------------------------------------------------------------------------------------

class TensorRange:
    """``range(start, limit, delta)`` with a tensor among its bounds: iterated by a staged loop."""

    def __init__(self, start, limit, delta):
        self.start, self.limit, self.delta = start, limit, delta


def range_(*args):
    """``range`` in a converted ``for``: Python's own unless a bound is a symbolic tensor."""
    if not any(_staged(a) is not None for a in args):
        return range(*(int(a) if isinstance(a, Tensor) else a for a in args))
    start, limit, delta = (0, args[0], 1) if len(args) == 1 else (args[0], args[1], args[2] if len(args) > 2 else 1)
    return TensorRange(start, limit, delta)


def for_stmt(iterable, body_fn, names, values):
    """The loop body over ``iterable``'s items: in Python, or staged as ``gj.while_loop`` over a tensor range
    or a symbolic tensor's first axis."""
    if isinstance(iterable, TensorRange):
        return _for_range(iterable, body_fn, names, values)
    tensor = _staged(iterable)
    if tensor is not None:
        return _for_tensor(tensor, body_fn, names, values)
    for item in iterable:
        values = body_fn(item, *values)
    return values


def _for_range(r, body_fn, names, values):
    from .registry import API
    # The counter's dtype is the bounds' (Python ints are weak): range(1, n) with an int64 n counts in int64.
    dtype = result_type(*(b.dtype for b in (r.start, r.limit, r.delta) if isinstance(b, Tensor)))
    start, limit, delta = (API["cast"](b, dtype) if isinstance(b, Tensor) else convert_to_tensor(b, dtype)
                           for b in (r.start, r.limit, r.delta))
    ascending = delta > 0

    def test(i):
        return API["logical_or"](API["logical_and"](ascending, i < limit),
                                 API["logical_and"](API["logical_not"](ascending), i > limit))
    return _staged_while(None, body_fn, names, values, "for loop", (start, test, lambda i: i + delta, lambda i: i),
                         _range_bound(r))


def _range_bound(r):
    """A bound on the iterations of a tensor range, known while tracing (an int, or an unknown size as a SymInt),
    or None: the loop's ``maximum_iterations``, which its gradient needs to size the stacks of its iterations.
    Known are Python and constant numbers and the dims of ``gj.shape(x)[k]`` (an input_signature's None dim:
    one trace for every size, its gradient too)."""
    from .control_flow import known_int
    start, limit, delta = (known_int(b) for b in (r.start, r.limit, r.delta))
    if start is None or limit is None or not isinstance(delta, int) or not isinstance(start, int):
        return None
    if isinstance(limit, int):
        return max(0, -(-(limit - start) // delta)) if delta else None
    return limit if delta > 0 and start >= 0 else None   # (ceil((limit - start) / delta) <= limit)


def _for_tensor(tensor, body_fn, names, values):
    from .registry import API
    from .symbolic import is_symbolic
    if tensor.shape.rank == 0:
        raise InvalidArgumentError(with_location(f"cannot iterate over a scalar tensor ({tensor._describe()})"))
    count = tensor.type.shape[0]   # (an unknown size of an input_signature: a SymInt, and the bound alone stops)
    return _staged_while(None, body_fn, names, values, "for loop",
                         (convert_to_tensor(0), (lambda i: True) if is_symbolic(count) else (lambda i: i < count),
                          lambda i: i + 1, lambda i: API["gather"](tensor, i, axis=0)), count)


# ---- statements left as Python ----------------------------------------------------------------------------

def python_test(test, what):
    """The test of a statement AutoGraph leaves as Python: a tensor there cannot become a Python bool."""
    if _staged(test) is not None:
        raise OperatorNotAllowedInGraphError(with_location(
            f"the condition of {what} is a tensor: AutoGraph does not convert such statements yet. Restructure "
            f"it without break/continue/return inside (or use gj.cond / gj.while_loop directly)"))
    return test
