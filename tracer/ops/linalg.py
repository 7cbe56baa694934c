"""Linear algebra: matmul (NumPy's semantics, also the ``@`` operator) and tensordot.

Operands are converted with ``convert_to_tensor`` (no weak Python scalars: both must be tensors of rank
>= 1) and the result dtype is NumPy's promotion of the two dtypes (bool @ bool is bool, as in NumPy).
``np.matmul``, ``np.dot`` and ``np.tensordot`` on tensors run these ops.
"""
import numpy as np

from ..attrs import Axes, Bool, Tuple
from ..dtypes import result_type
from ..errors import InvalidArgumentError, UnimplementedError
from ..ir import TensorType
from ..lowering import Kernel
from ..registry import OPS, Op, export, numpy_adapter, register
from ..shapes import broadcast_shapes, format_shape, inverse_permutation, normalize_axis
from ..source import with_location
from ..tensor import convert_to_tensor
from .elementwise import multiply
from .reductions import axis_argument

# ---- matmul ----------------------------------------------------------------------------------------------


def _transposed(shape, transpose, which):
    if not transpose:
        return tuple(shape)
    if len(shape) < 2:
        raise InvalidArgumentError(f"transpose_{which} needs {which} of rank >= 2, got shape {format_shape(shape)}")
    return tuple(shape[:-2]) + (shape[-1], shape[-2])


def _matmul_infer(a, b, *, transpose_a, transpose_b):
    if not a.shape or not b.shape:
        raise InvalidArgumentError(f"operands must have rank >= 1 (use multiply for scalars): a has shape "
                                   f"{format_shape(a.shape)}, b has shape {format_shape(b.shape)}")
    a_shape = _transposed(a.shape, transpose_a, "a")
    b_shape = _transposed(b.shape, transpose_b, "b")
    # np.matmul semantics: a 1-D a is a row vector, a 1-D b a column vector; the added axis is dropped.
    inner_b = b_shape[-2] if len(b_shape) >= 2 else b_shape[0]
    if a_shape[-1] != inner_b:
        flags = "".join(f", transpose_{w}=True" for w, t in (("a", transpose_a), ("b", transpose_b)) if t)
        raise InvalidArgumentError(f"inner dimensions differ: a has shape {format_shape(a.shape)}, b has shape "
                                   f"{format_shape(b.shape)}{flags} ({a_shape[-1]} != {inner_b})")
    batch = broadcast_shapes(a_shape[:-2], b_shape[:-2], what="matmul batch dimensions")
    rows = a_shape[-2:-1] if len(a_shape) >= 2 else ()
    cols = b_shape[-1:] if len(b_shape) >= 2 else ()
    return TensorType(batch + rows + cols, result_type(a.dtype, b.dtype))


def _matmul(a, b, *, transpose_a, transpose_b):
    if transpose_a:
        a = np.swapaxes(a, -1, -2)
    if transpose_b:
        b = np.swapaxes(b, -1, -2)
    with np.errstate(all="ignore"):  # inf * 0 gives NaN silently, as the elementwise ops do
        return np.matmul(a, b)


# check_eager=False: np.matmul/np.swapaxes raise for every operand the rule rejects (the eager context then
# re-runs the rule for its message), and np.matmul's dtype is NumPy promotion, as the rule says.
MATMUL = register(Op("matmul", infer=_matmul_infer, eager=_matmul, check_eager=False,
                     attrs={"transpose_a": Bool(), "transpose_b": Bool()},
                     doc="np.matmul, optionally transposing the last two axes of a or b first."))


@export("matmul", "linalg.matmul", numpy=np.matmul, operators=("__matmul__",), reflected=("__rmatmul__",))
def matmul(a, b, transpose_a=False, transpose_b=False, adjoint_a=False, adjoint_b=False, a_is_sparse=False,
           b_is_sparse=False, output_type=None, name=None):
    """Matrix product with NumPy's ``matmul`` semantics (TF requires rank >= 2; graphjit also takes 1-D).

    1-D operands are promoted to matrices and the added axis removed; batch axes broadcast. ``adjoint_*``
    equal ``transpose_*`` for real dtypes; ``*_is_sparse`` are hints and ignored. The dtype is NumPy's
    promotion of the two dtypes.
    """
    if output_type is not None:
        raise UnimplementedError(with_location("matmul: output_type is not supported; cast the result instead"))
    x = convert_to_tensor(a, what="matmul(a)")
    y = convert_to_tensor(b, what="matmul(b)")
    return MATMUL.bind(x, y, transpose_a=bool(transpose_a or adjoint_a), transpose_b=bool(transpose_b or adjoint_b))


# ---- tensordot -------------------------------------------------------------------------------------------

def _tensordot_infer(a, b, *, axes):
    a_axes, b_axes = axes
    if len(a_axes) != len(b_axes):
        raise InvalidArgumentError(f"axes {axes} pair {len(a_axes)} axes of a with {len(b_axes)} of b")
    for which, shape, picked in (("a", a.shape, a_axes), ("b", b.shape, b_axes)):
        if any(not 0 <= i < len(shape) for i in picked) or len(set(picked)) != len(picked):
            raise InvalidArgumentError(f"axes {picked} are not distinct axes of {which} with shape "
                                       f"{format_shape(shape)}")
    for i, j in zip(a_axes, b_axes):
        if a.shape[i] != b.shape[j]:
            raise InvalidArgumentError(
                f"contracted dimensions differ: axis {i} of a (shape {format_shape(a.shape)}) has size {a.shape[i]}"
                f" but axis {j} of b (shape {format_shape(b.shape)}) has size {b.shape[j]}")
    free_a = tuple(d for k, d in enumerate(a.shape) if k not in a_axes)
    free_b = tuple(d for k, d in enumerate(b.shape) if k not in b_axes)
    return TensorType(free_a + free_b, result_type(a.dtype, b.dtype))


def _tensordot(a, b, *, axes):
    with np.errstate(all="ignore"):
        return np.asarray(np.tensordot(a, b, axes=(list(axes[0]), list(axes[1]))))


TENSORDOT = register(Op("tensordot", infer=_tensordot_infer, eager=_tensordot, attrs={"axes": Tuple(Axes(), length=2)},
                        doc="Sum over the paired axes ``axes=(axes_of_a, axes_of_b)``; free axes of a then of b."))


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def normalize_tensordot_axes(axes, a_ndim, b_ndim):
    """An int n (the last n axes of a with the first n of b) or a pair of ints/sequences -> pair of tuples."""
    axes = axis_argument(axes)
    if _is_int(axes):
        n = int(axes)
        if not 0 <= n <= min(a_ndim, b_ndim):
            raise InvalidArgumentError(f"axes={n} must be in [0, {min(a_ndim, b_ndim)}] for operands of rank "
                                       f"{a_ndim} and {b_ndim}")
        return tuple(range(a_ndim - n, a_ndim)), tuple(range(n))
    if not isinstance(axes, (list, tuple)) or len(axes) != 2:
        raise InvalidArgumentError(f"axes must be an int or a pair (axes_of_a, axes_of_b), got {axes!r}")
    pair = []
    for which, picked, ndim in (("a", axes[0], a_ndim), ("b", axes[1], b_ndim)):
        picked = axis_argument(picked)
        picked = (picked,) if _is_int(picked) else tuple(picked)
        normalized = tuple(normalize_axis(i, ndim, f"axes of {which}") for i in picked)
        if len(set(normalized)) != len(normalized):
            raise InvalidArgumentError(f"axes of {which} {picked} repeat an axis")
        pair.append(normalized)
    if len(pair[0]) != len(pair[1]):
        raise InvalidArgumentError(f"axes {axes!r} pair {len(pair[0])} axes of a with {len(pair[1])} of b")
    return tuple(pair)


@export("tensordot", "linalg.tensordot")
def tensordot(a, b, axes, name=None):
    """Tensor contraction (TF/NumPy ``tensordot``): ``axes`` is an int n (last n axes of a with the first n
    of b) or a pair of axis sequences; the result has a's free axes followed by b's."""
    x = convert_to_tensor(a, what="tensordot(a)")
    y = convert_to_tensor(b, what="tensordot(b)")
    try:
        pair = normalize_tensordot_axes(axes, x.ndim, y.ndim)
    except InvalidArgumentError as err:
        raise InvalidArgumentError(with_location(f"tensordot: {err}")) from None
    return TENSORDOT.bind(x, y, axes=pair)


@numpy_adapter(np.tensordot)
def numpy_tensordot(a, b, axes=2):
    return tensordot(a, b, axes)


@numpy_adapter(np.dot)
def numpy_dot(a, b, out=None):
    """np.dot: matmul for 1-D and 2-D operands, multiply for scalars, and for N-D a sum over the last axis of
    a and the second-to-last of b (a tensordot)."""
    if out is not None:
        raise UnimplementedError("numpy.dot on graphjit tensors does not support out=")
    x = convert_to_tensor(a, what="numpy.dot(a)")
    y = convert_to_tensor(b, what="numpy.dot(b)")
    if x.ndim == 0 or y.ndim == 0:
        return multiply(x, y)
    if x.ndim <= 2 and y.ndim <= 2:
        return matmul(x, y)
    return tensordot(x, y, ((x.ndim - 1,), (max(y.ndim - 2, 0),)))


MATMUL.lower = Kernel("matmul")  # 2-D float operands: BLAS gemm from the compiled entry


# ---- gradient (tracer.autodiff) ----------------------------------------------------------------------------

def _matmul_grad(g, y, a, b, *, transpose_a, transpose_b):
    """For A = op(a), B = op(b), y = A @ B: dA = g @ B^T and dB = A^T @ g, each written as one matmul on the
    stored operands (so no transpose is materialised). 1-D operands are matrices of one row (a) or column (b);
    broadcast batch axes are summed by the tape."""
    a2 = _reshaped(a, (1,) + tuple(a.type.shape)) if len(a.shape) == 1 else a
    b2 = _reshaped(b, tuple(b.type.shape) + (1,)) if len(b.shape) == 1 else b
    g_shape = list(g.type.shape)   # (symbolic sizes kept)
    if len(b.shape) == 1:
        g_shape.append(1)
    if len(a.shape) == 1:
        g_shape.insert(len(g_shape) - 1, 1)
    g2 = _reshaped(g, g_shape)
    if transpose_a:
        da = MATMUL.bind(b2, g2, transpose_a=transpose_b, transpose_b=True)
    else:
        da = MATMUL.bind(g2, b2, transpose_a=False, transpose_b=not transpose_b)
    if transpose_b:
        db = MATMUL.bind(g2, a2, transpose_a=True, transpose_b=transpose_a)
    else:
        db = MATMUL.bind(a2, g2, transpose_a=not transpose_a, transpose_b=False)
    if len(a.shape) == 1:
        da = _reshaped(_sum_leading(da, len(da.shape) - 2), tuple(a.type.shape))
    if len(b.shape) == 1:
        db = _reshaped(_sum_leading(db, len(db.shape) - 2), tuple(b.type.shape))
    return da, db


def _reshaped(x, shape):
    return OPS["reshape"].bind(x, shape=tuple(shape))


def _sum_leading(x, count):
    return OPS["reduce_sum"].bind(x, axis=tuple(range(count)), keepdims=False) if count > 0 else x


def _tensordot_grad(g, y, a, b, *, axes):
    """y = tensordot(a, b, (a_axes, b_axes)) has a's free axes then b's. da contracts g's b part with b's free
    axes, leaving a's free axes and then b's contracted axes in b's order, each standing for the axis of a it
    is paired with; a transpose puts them back in a's order. db likewise."""
    a_axes, b_axes = axes
    free_a = [k for k in range(len(a.shape)) if k not in a_axes]
    free_b = [k for k in range(len(b.shape)) if k not in b_axes]
    g_of_a = tuple(range(len(free_a)))
    g_of_b = tuple(range(len(free_a), len(free_a) + len(free_b)))
    a_for_b, b_for_a = dict(zip(b_axes, a_axes)), dict(zip(a_axes, b_axes))
    da = TENSORDOT.bind(g, b, axes=(g_of_b, tuple(free_b)))
    da_stands_for = free_a + [a_for_b[k] for k in sorted(b_axes)]
    db = TENSORDOT.bind(a, g, axes=(tuple(free_a), g_of_a))
    db_stands_for = [b_for_a[k] for k in sorted(a_axes)] + free_b
    return (OPS["transpose"].bind(da, perm=inverse_permutation(da_stands_for)),
            OPS["transpose"].bind(db, perm=inverse_permutation(db_stands_for)))


MATMUL.grad = _matmul_grad
TENSORDOT.grad = _tensordot_grad
