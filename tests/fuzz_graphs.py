"""Random numeric graphs over every registered op, for differential testing (tests/test_differential_fuzz.py,
benchmarks/fuzz.py; the checking lives in tests/fuzz_check.py).

A ``Program`` is a list of inputs (NumPy arrays: any of the five dtypes, transposed / strided / reversed /
broadcast views, 0-size shapes, values with NaN, +-inf, +-0, denormals, huge and tiny) and a list of
``Step``s, each one public graphjit call (``Spec.apply``) on earlier values. Programs are drawn through a
``Chooser``: ``HypothesisChooser`` (the ``programs()`` strategy, so hypothesis can shrink the choices) or
``RandomChooser`` (a seeded NumPy generator, for the benchmark script). While drawing, every step runs
eagerly: a step graphjit rejects (shapes, dtypes) is redrawn, so every program traces.

Element values come from a NumPy generator seeded by one drawn integer: drawing hundreds of elements one
by one through hypothesis would make each case ~100x slower for shrinking that values rarely need.
"""
from dataclasses import dataclass, field

import numpy as np
from hypothesis import strategies as st

import graphjit as gj
from graphjit.errors import GraphjitError
from graphjit.tracer.ir import TensorType
from graphjit.tracer.registry import OPS

DTYPES = (gj.bool, gj.int32, gj.int64, gj.float32, gj.float64)
INTS = (gj.int32, gj.int64)
FLOATS = (gj.float32, gj.float64)
MAX_ELEMENTS = 4096          # an intermediate larger than this is redrawn (keeps references fast)
LARGE_SHAPES = ((2, 4100), (97, 101), (9000,))  # rare: above the parallel-loop thresholds (8K/64K elements)

# ---- ops the fuzzer leaves out, and why (tests/test_differential_fuzz.py checks every registered op is
# either fuzzed or listed here, so a new op cannot be silently skipped) ------------------------------------
EXCLUDED = {
    "random_normal": "random draws: values depend on the generator's stream, not on the graph's inputs "
                     "(tests/test_shape_indexing_creation_random.py checks the stream on both backends)",
    "random_uniform": "random draws (as random_normal)",
    "random_truncated_normal": "random draws (as random_normal)",
    "read_variable": "variables are state, not a numeric graph (tests/test_variables.py, the lifecycle tests)",
    "assign_variable": "variables are state (as read_variable)",
    "print": "a side effect on stdout with no value to compare",
    "cond": "control flow: its value is a branch's graph, whose ops the fuzzer draws anyway; the construct's own "
            "compiled-vs-interpreter checks are in tests/test_control_flow.py and tests/test_control_flow_compiled.py",
    "while_loop": "control flow (as cond): tests/test_control_flow.py and tests/test_control_flow_compiled.py",
    "tuple_get": "a result of a node of several results (cond, while_loop), never applied on its own",
}


# ---- per-op tolerances ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tol:
    """ULP bounds of one op on exact operands, in units of its result's float ULP:
    ``cmp``: compiled against the interpreter (0: bit-exact, NaN positions and signed zeros included);
    ``ref``: either float backend against the exact result (what the float64 reference approximates).
    ``on``: "out" bounds the result itself; "in" bounds it as a perturbation of each float operand
    element (sums, dot products and softmax rows: their error scales with sum(|x|), not with the result;
    the pairwise-summation growth log2(n) is added); "operands" the same without the growth, for elementwise
    ops that cancel inside (logaddexp(x, x) is x + log(2): near x = -log(2) its float32 result is off by
    hundreds of its own ULPs, a fraction of one of x's).
    Integer and bool results are always exact. tests/fuzz_check.py propagates these bounds through each
    graph (see its docstring), which is what makes the comparison condition-aware."""
    cmp: float
    ref: float
    on: str = "out"


EXACT = Tol(0, 0)          # the same value in any precision: moves, selections, comparisons, max/min
ROUNDED = Tol(0, 0.5)      # IEEE correctly rounded in both backends (add, divide, sqrt, casts down)
MATH32 = Tol(4, 5)         # compiler/mathlib's float32 contract (tests/test_mathlib.py: MAX_ULP_F32 = 4)
MATH64_ULP = 2             # float64 libm against NumPy (tests/test_mathlib.py: MAX_ULP_F64)
ACCUMULATE = Tol(2, 2.5, on="in")   # a float32 pairwise sum (NumPy) against a float64 accumulator;
#                                     the log2(n) growth of pairwise summation is added by fuzz_check
TOLERANCES = {
    **{name: EXACT for name in (
        "negative", "abs", "sign", "floor", "ceil", "round", "relu", "maximum", "minimum", "clip", "where",
        "equal", "not_equal", "less", "less_equal", "greater", "greater_equal", "logical_and", "logical_or",
        "logical_xor", "logical_not", "bitwise_and", "bitwise_or", "bitwise_xor", "invert", "isnan", "isinf",
        "isfinite", "identity", "stop_gradient", "reshape", "transpose", "expand_dims", "squeeze",
        "broadcast_to", "concat", "stack", "tile", "getitem", "gather", "reduce_max", "reduce_min",
        "reduce_any", "reduce_all", "argmax", "argmin", "constant", "zeros", "ones", "fill", "eye", "range",
        "sort", "argsort", "fabs", "positive", "conjugate", "signbit", "copysign", "fmax", "fmin", "trunc",
        "rint", "nextafter", "spacing", "heaviside", "gcd", "lcm", "left_shift", "right_shift", "ldexp")},
    **{name: ROUNDED for name in ("add", "subtract", "divide", "sqrt", "reciprocal", "cast", "linspace")},
    # a product may be contracted with a following add into one FMA (fastmath={'contract'}): the sum then
    # lacks the product's rounding, half an ULP of the product
    "multiply": Tol(0.5, 0.5), "square": Tol(0.5, 0.5),
    "rsqrt": Tol(0, 1),   # two correctly rounded steps, 1/sqrt(x), in both backends
    # floor division and remainder jump at multiples of y: exact in both, and the reference sees the jumps
    "floordiv": Tol(0, 0.5), "mod": Tol(0, 0.5),
    "pow": Tol(2, 3),     # mathlib pow_f32/pow_f64 in kernels (<= 1 ULP) against NumPy's (itself within 1)
    **{name: MATH32 for name in ("exp", "exp2", "expm1", "log", "log1p", "sin", "cos", "tan", "tanh", "sigmoid",
                                 "softplus")},
    # NumPy multiplies by the float32-rounded constant; kernels may round x * (180 / pi) once
    "deg2rad": Tol(1, 1), "rad2deg": Tol(1, 1), "fmod": Tol(0, 0.5),
    "reduce_sum": ACCUMULATE, "reduce_mean": ACCUMULATE, "cumsum": ACCUMULATE, "cumprod": Tol(1, 1.5, on="in"), "reduce_prod": Tol(1, 1.5, on="in"),
    "matmul": ACCUMULATE, "tensordot": ACCUMULATE,
    "scatter_add": ACCUMULATE,   # the updates for a repeated position added in order, in the result dtype
    # max-shifted exp and log over a row: the math library's bound on each element, plus the sum
    "softmax": Tol(5, 6, on="in"), "log_softmax": Tol(5, 6, on="in"), "reduce_logsumexp": Tol(5, 6, on="in"),
    "sparse_softmax_cross_entropy_with_logits": Tol(5, 6, on="in"),
    "logaddexp": Tol(4, 5, on="operands"), "logaddexp2": Tol(4, 5, on="operands"),
}
DEFAULT_TOL = MATH32       # ops picked up automatically (new elementwise ops) until they get their own row


def tolerance(op_name):
    return TOLERANCES.get(op_name, DEFAULT_TOL)


# ---- choices --------------------------------------------------------------------------------------------
class RandomChooser:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def int(self, lo, hi):
        return int(self.rng.integers(lo, hi + 1))

    def coin(self, p):
        return bool(self.rng.random() < p)

    def pick(self, seq):
        return seq[self.int(0, len(seq) - 1)]


class HypothesisChooser(RandomChooser):
    """Each choice is a hypothesis draw, so failures shrink (towards small ints and False coins)."""

    def __init__(self, draw):
        self.draw = draw

    def int(self, lo, hi):
        return self.draw(st.integers(lo, hi))

    def coin(self, p):
        return self.draw(st.integers(0, 999)) >= 1000 * (1 - p)


# ---- values ---------------------------------------------------------------------------------------------
_F32_SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, 88.5, -104.0, 1e-40, -1.4e-45,
                1.1754944e-38, 3.0e38, -3.4028235e38, 1e-7, 16777217.0, 1e10, 65504.0, 2.0 ** 24, 0.1]
_F64_SPECIAL = _F32_SPECIAL + [5e-324, -1e-310, 1e300, -1.7976931348623157e308, 1e-300]


def random_values(rng, shape, dtype):
    n = int(np.prod(shape))
    if dtype is gj.bool:
        return rng.random(n).reshape(shape) < 0.5
    kind = rng.random(n)
    if dtype.is_floating:
        special = np.array(_F64_SPECIAL if dtype is gj.float64 else _F32_SPECIAL, np.float64)
        scale = rng.choice([1.0, 4.0, 1e3])
        values = np.where(kind < 0.3, special[rng.integers(0, len(special), n)],
                          np.where(kind < 0.8, rng.standard_normal(n) * scale, rng.integers(-8, 9, n)))
    else:
        info = np.iinfo(dtype.np)
        special = np.array([0, 1, -1, 2, 7, -7, 100, info.min, info.max, info.min + 1], np.int64)
        values = np.where(kind < 0.25, special[rng.integers(0, len(special), n)],
                          np.where(kind < 0.85, rng.integers(-10, 11, n), rng.integers(info.min, info.max, n)))
    with np.errstate(over="ignore"):
        return values.astype(dtype.np).reshape(shape)


def smooth_values(rng, shape, dtype):
    """Values for gradient checks (tests/fuzz_grad.py): floats of moderate size, never NaN, inf, zero or an
    integer, so random points are smooth points of every op and finite differences see no kink or jump; mostly
    small integers, so a cast to float stays moderate, and a tenth large (from 46341, whose square overflows
    int32), as a rule's integer arithmetic must take them (arctan2 squared its integer operand in its dtype)."""
    if dtype is gj.bool:
        return rng.random(shape) < 0.5
    if dtype.is_floating:
        return (rng.standard_normal(shape) * rng.choice([0.5, 1.0, 2.0])).astype(dtype.np)
    info = np.iinfo(dtype.np)
    large = np.array([46341, -46341, info.max, info.min + 1, int(np.sqrt(info.max)) + 1], np.int64)
    small = rng.integers(-4, 5, shape)
    return np.where(rng.random(shape) < 0.1, large[rng.integers(0, len(large), shape)], small).astype(dtype.np)


def layout(rng_array, ch, shape, dtype):
    """An array of ``shape`` whose memory is contiguous or not (the layouts users hand over)."""
    choice = ch.int(0, 9) if int(np.prod(shape)) > 1 else 0
    if choice == 1 and len(shape) >= 2:                  # transposed
        return np.ascontiguousarray(rng_array(shape[::-1], dtype)).T
    if choice == 2 and len(shape) >= 1:                  # every other element of the last axis
        wide = rng_array(tuple(shape[:-1]) + (2 * shape[-1],), dtype)
        return wide[..., ::2]
    if choice == 3 and len(shape) >= 1:                  # reversed first axis (negative stride)
        return rng_array(shape, dtype)[::-1]
    if choice == 4 and len(shape) >= 1:                  # a read-only broadcast view (zero strides)
        return np.broadcast_to(rng_array(shape[1:], dtype), shape)
    return rng_array(shape, dtype)


# ---- programs -------------------------------------------------------------------------------------------
@dataclass
class Input:
    array: np.ndarray


@dataclass
class Step:
    spec: str                      # a key of SPECS
    args: tuple                    # ids of earlier nodes
    params: dict = field(default_factory=dict)


@dataclass
class Program:
    """Nodes in creation order (inputs appear where a step first needed them, e.g. gather's indices)."""
    nodes: list = field(default_factory=list)      # Input or Step
    types: list = field(default_factory=list)      # TensorType of each node
    outputs: list = field(default_factory=list)    # node ids
    error: type = None             # the graphjit error class the last step raises (error programs only)
    values: object = field(default=random_values, repr=False)   # draws inputs: values(rng, shape, dtype)
    eager: list = field(default_factory=list, repr=False)  # eager values while drawing

    @property
    def inputs(self):
        return [n.array for n in self.nodes if isinstance(n, Input)]

    def describe(self):
        lines = []
        for i, (node, t) in enumerate(zip(self.nodes, self.types)):
            if isinstance(node, Input):
                x = node.array
                lines.append(f"  v{i} = input {x.dtype}{list(x.shape)} strides={x.strides} = "
                             f"{np.array2string(np.asarray(x), threshold=64, max_line_width=160, separator=', ')}")
            else:
                args = ", ".join(f"v{a}" for a in node.args)
                result = f" -> {t.dtype.name}{list(t.shape)}" if t is not None else ""
                lines.append(f"  v{i} = {node.spec}({args}{'; ' if args and node.params else ''}"
                             f"{', '.join(f'{k}={v!r}' for k, v in node.params.items())}){result}")
        lines.append(f"  outputs: {', '.join(f'v{o}' for o in self.outputs)}"
                     + (f"; raises {self.error.__name__}" if self.error else ""))
        return "\n".join(lines)


def shadow_dtype(dtype, shadow):
    return gj.float64 if shadow and dtype is gj.float32 else dtype


def fuzzed_ops():
    return {spec.op for spec in SPECS.values()}


def _draw_shape(ch):
    if ch.coin(0.03):
        return ch.pick(LARGE_SHAPES)
    rank = ch.int(0, 4)
    return tuple(0 if ch.coin(0.04) else ch.int(1, 5) for _ in range(rank))


def broadcastable(ch, shape):
    """A shape that broadcasts against ``shape``: a suffix of it with some dims set to 1."""
    tail = shape[len(shape) - ch.int(0, len(shape)):] if shape else ()
    return tuple(1 if ch.coin(0.25) else d for d in tail)


def add_input(prog, ch, shape, dtype, array=None):
    """A new input node (random values and layout unless ``array`` is given); returns its id."""
    if array is None:
        rng = np.random.default_rng(ch.int(0, 2 ** 31))
        array = layout(lambda s, d: prog.values(rng, s, d), ch, shape, dtype)
    prog.nodes.append(Input(array))
    prog.types.append(TensorType(tuple(array.shape), dtype))
    prog.eager.append(gj.convert_to_tensor(array))
    return len(prog.nodes) - 1


def draw_dtype(ch):
    return DTYPES[ch.pick((0, 1, 2, 3, 3, 3, 3, 4, 4))]


def pick_value(ch, prog, want=None):
    """A value id, favouring the latest (chains) and filtered by ``want(type)``."""
    ids = [i for i, t in enumerate(prog.types) if want is None or want(t)]
    if not ids:
        return None
    return ids[-1] if ch.coin(0.5) else ch.pick(ids)


def draw_program(ch, max_ops=30, want_error=False, values=random_values):
    """A random program; ``values(rng, shape, dtype)`` draws its inputs (random_values or smooth_values)."""
    prog = Program(values=values)
    main = _draw_shape(ch)
    for k in range(ch.int(1, 3)):
        add_input(prog, ch, broadcastable(ch, main) if k else main, draw_dtype(ch))
    names = sorted(SPECS)
    target = ch.int(1, max_ops)
    tries = 0
    steps = 0
    while steps < target and tries < 4 * max_ops:
        tries += 1
        spec = SPECS[ch.pick(names)]
        made = spec.make(ch, prog, want_error)
        if made is None:
            continue
        step = Step(spec.name, *made)
        try:
            value = spec.apply([prog.eager[a] for a in step.args], step.params, False)
        except GraphjitError as err:
            if want_error and spec.runtime_error(step.params):
                prog.nodes.append(step)
                prog.types.append(None)
                prog.error = type(err)
                prog.outputs = [len(prog.types) - 1]
                return prog
            continue
        size = value.numpy().size
        if size > MAX_ELEMENTS and not (size <= 10000 and main in LARGE_SHAPES):
            continue
        prog.nodes.append(step)
        prog.types.append(TensorType(value.numpy().shape, value.dtype))
        prog.eager.append(value)
        steps += 1
    if want_error:
        return None
    used = {a for s in prog.nodes if isinstance(s, Step) for a in s.args}
    leaves = [i for i, s in enumerate(prog.nodes) if isinstance(s, Step) and i not in used]
    prog.outputs = leaves[-6:] if leaves else [len(prog.nodes) - 1]
    return prog


@st.composite
def programs(draw, max_ops=30):
    return draw_program(HypothesisChooser(draw), max_ops)


@st.composite
def batches(draw, size=(10, 20), max_ops=30):
    """Independent programs traced as one function (one compile for all of them)."""
    ch = HypothesisChooser(draw)
    return [draw_program(ch, max_ops) for _ in range(ch.int(*size))]


from fuzz_specs import SPECS  # noqa: E402  (last: the specs use the helpers above)
