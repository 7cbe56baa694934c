"""What graphjit raises when an op's own code fails: the one policy for op rules and eager implementations.

An op's shape rule (``infer``) and its NumPy implementation (``eager``) are plain Python; for arguments they
cannot take they raise graphjit errors or NumPy's and Python's own (``EAGER_ERRORS``). Every place that runs
that code (``Op.infer_checked``, the eager context, the reference interpreter and the compiled backend's eager
steps, constant folding, ``gj.explain``) turns those into a graphjit error with ``op_error``, so an op's failure
reads the same whichever path ran it. Anything else (an AttributeError, a KeyError) is a bug in graphjit and
stays as it is.
"""
from .errors import FailedPreconditionError, GraphjitError, InvalidArgumentError, ResourceExhaustedError
from .source import with_location

# What an op's code raises for arguments it cannot take (NumPy's and Python's own errors).
EAGER_ERRORS = (ValueError, TypeError, IndexError, ZeroDivisionError, OverflowError, MemoryError)


def op_error(err, op_name, location=None):
    """The error to raise for ``err`` from op ``op_name``'s code, at the user's line: a precondition (an
    uninitialized variable) as it is, other graphjit errors prefixed with the op's name, NumPy's MemoryError as
    ResourceExhaustedError and its ValueError/IndexError/... as InvalidArgumentError."""
    if isinstance(err, FailedPreconditionError):  # about the state, not the op's arguments
        return type(err)(with_location(str(err), location))
    if isinstance(err, GraphjitError):
        return type(err)(with_location(f"{op_name}: {err}", location))
    if isinstance(err, MemoryError):  # NumPy's "Unable to allocate 4.00 TiB for an array with shape ..."
        return ResourceExhaustedError(with_location(f"{op_name}: {err}", location))
    return InvalidArgumentError(with_location(f"{op_name}: {err}", location))


def run_eager(op, state, args, attrs, location=None, on_numpy_error=None):
    """``op``'s eager implementation on ``args`` (arrays; a stateful op receives ``state`` first), its errors
    turned into graphjit errors by ``op_error`` at ``location`` (the user's line when None).

    ``on_numpy_error(op, args, attrs)``, when given, runs before a NumPy/Python error is wrapped: the eager
    context skips an op's rule on its fast path and lets it raise the rule's clearer message here instead."""
    try:
        return op.eager(state, *args, **attrs) if op.stateful else op.eager(*args, **attrs)
    except GraphjitError as err:
        raise op_error(err, op.name, location) from None
    except EAGER_ERRORS as err:
        if on_numpy_error is not None:
            on_numpy_error(op, args, attrs)
        raise op_error(err, op.name, location) from None
