"""Control-flow ops: nodes that hold graphs (``Op.subgraphs``) and have several results (an ``ir.TupleType``, read
by ``tuple_get`` nodes). Their public functions, which trace the user's Python functions into these graphs, are
``gj.cond`` / ``gj.while_loop`` / ``gj.switch_case`` / ``gj.map_fn`` / ``gj.scan`` in ``tracer.control_flow``.

``cond``: inputs ``(pred, *true operands, *false operands)``; ``true_branch`` takes the first
``len(true_branch.inputs)`` operands, ``false_branch`` the rest (each branch's captures). Both return the same types.

``while_loop``: inputs ``(*loop variables, *cond operands, *body operands)``; ``cond`` takes the loop variables
and its operands and returns one bool scalar, ``body`` takes the loop variables and its operands and returns their
next values (the same types: graphs have static shapes). ``maximum_iterations``: at most that many iterations.

Gradients are written with the public functions, so they are control flow themselves and run eagerly or traced
like any rule: cond's is a cond whose branches recompute the forward branch under a tape (the taken one's
vector-Jacobian product, zeros for the other's operands); while_loop's (with an int ``maximum_iterations``, as
TF/XLA require, or an unknown size of an input_signature: a SymInt bound, evaluated per run, so one trace serves
every size) runs the loop again stacking each iteration's variables into ``[maximum_iterations, ...]`` tensors,
then a backward loop over the iterations in reverse applying the body's vector-Jacobian product.
"""
from ..attrs import Int, Optional, Size, Subgraph
from ..errors import InvalidArgumentError, UnimplementedError
from ..ir import In, TensorType, TupleType, same_type
from ..lowering import Kernel
from ..registry import HANDLED_BY_TAPE, OPS, Op, register
from ..source import with_location
from ..subgraphs import call_graph, has_effects


def _types(graph, ids):
    return [graph.nodes[i].type for i in ids]


def _describe(types):
    return "(" + ", ".join(str(t) for t in types) + ")"


def _check_feeds(op_name, what, graph, given):
    expected = _types(graph, graph.inputs)
    if len(given) != len(expected) or not all(same_type(a, b) for a, b in zip(given, expected)):
        raise InvalidArgumentError(f"{op_name}: {what} takes {_describe(expected)} but is given {_describe(given)}")


def _check_scalar_bool(op_name, what, t):
    if not isinstance(t, TensorType) or tuple(t.shape) != () or not t.dtype.is_bool:
        raise InvalidArgumentError(f"{op_name}: {what} must be a scalar bool, got {t}")


# ---- cond ---------------------------------------------------------------------------------------------------

def _cond_infer(pred, *operands, true_branch, false_branch):
    _check_scalar_bool("cond", "pred", pred)
    n = len(true_branch.inputs)
    _check_feeds("cond", "true_branch", true_branch, operands[:n])
    _check_feeds("cond", "false_branch", false_branch, operands[n:])
    results = _types(true_branch, true_branch.outputs)
    other = _types(false_branch, false_branch.outputs)
    if len(results) != len(other) or not all(same_type(a, b) for a, b in zip(results, other)):
        raise InvalidArgumentError(f"cond: the branches return different types: true_branch {_describe(results)}, "
                                   f"false_branch {_describe(other)}")
    return TupleType(tuple(results))


def _cond(pred, *operands, true_branch, false_branch):
    n = len(true_branch.graph.inputs)
    return tuple(true_branch(*operands[:n]) if pred else false_branch(*operands[n:]))


COND = register(Op("cond", infer=_cond_infer, eager=_cond, attrs={"true_branch": Subgraph(),
                                                                   "false_branch": Subgraph()},
                   subgraphs=("true_branch", "false_branch"),
                   doc="true_branch(*its operands) if pred else false_branch(*its operands): several results."))


# ---- while_loop ---------------------------------------------------------------------------------------------

def _split_loop_inputs(inputs, cond, body):
    """(loop variables, cond's operands, body's operands) of a while_loop node's inputs."""
    n = len(body.outputs)
    extra = len(cond.inputs) - n
    return inputs[:n], inputs[n:n + extra], inputs[n + extra:]


def _while_infer(*inputs, cond, body, maximum_iterations):
    n = len(body.outputs)
    if len(inputs) < n or len(cond.inputs) < n:
        raise InvalidArgumentError(f"while_loop: the body returns {n} loop variables but the node has {len(inputs)} "
                                   f"inputs and cond takes {len(cond.inputs)}")
    variables, cond_operands, body_operands = _split_loop_inputs(inputs, cond, body)
    _check_feeds("while_loop", "cond", cond, list(variables) + list(cond_operands))
    _check_feeds("while_loop", "body", body, list(variables) + list(body_operands))
    if len(cond.outputs) != 1:
        raise InvalidArgumentError(f"while_loop: cond must return one bool scalar, it returns {len(cond.outputs)}")
    _check_scalar_bool("while_loop", "cond's result", cond.nodes[cond.outputs[0]].type)
    results = _types(body, body.outputs)
    if not all(same_type(a, b) for a, b in zip(results, variables)):
        raise InvalidArgumentError(f"while_loop: the body returns {_describe(results)} for loop variables of "
                                   f"types {_describe(variables)}")
    if maximum_iterations is not None and maximum_iterations < 0:
        raise InvalidArgumentError(f"while_loop: maximum_iterations must be >= 0, got {maximum_iterations}")
    return TupleType(tuple(variables))


def _while(*inputs, cond, body, maximum_iterations):
    variables, cond_operands, body_operands = _split_loop_inputs(inputs, cond.graph, body.graph)
    variables, count = list(variables), 0
    while (maximum_iterations is None or count < maximum_iterations) and cond(*variables, *cond_operands)[0]:
        variables = body(*variables, *body_operands)
        count += 1
    return tuple(variables)


WHILE = register(Op("while_loop", infer=_while_infer, eager=_while,
                    attrs={"cond": Subgraph(), "body": Subgraph(), "maximum_iterations": Optional(Size())},
                    subgraphs=("cond", "body"),
                    doc="Loop variables updated by body while cond holds (at most maximum_iterations times)."))


# ---- tuple_get: one result of a node of several -------------------------------------------------------------

def _tuple_get_infer(value, *, index):
    if not isinstance(value, TupleType) or not 0 <= index < len(value.types):
        raise InvalidArgumentError(f"tuple_get: index {index} of {value}, which is not a node of that many results")
    return value.types[index]


def _tuple_get(value, *, index):
    return value[index]


TUPLE_GET = register(Op("tuple_get", infer=_tuple_get_infer, eager=_tuple_get, attrs={"index": Int()},
                        check_eager=False, doc="Result ``index`` of a node of several results (cond, while_loop)."))


# ---- gradients (tracer.autodiff) ----------------------------------------------------------------------------

def _floating(t):
    return t.dtype.is_floating


def vector_jacobian(graph, inputs, upstreams):
    """The gradient of ``sum_k upstreams[k] * graph(*inputs)[k]`` for each input: ``graph`` recomputed op by op
    under a tape in the current context (a branch or loop body being traced, or eagerly). None for inputs that are
    not floating; zeros for floating ones no upstream reaches."""
    from ..autodiff import GradientTape   # (the tape imports the registry this file registers into)
    watched = [OPS["identity"].bind(x) if _floating(x) else x for x in inputs]   # distinct tensors, even for
    sources = [w for w in watched if _floating(w)]                                 # an input given twice
    with GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(sources)
        outputs = call_graph(graph, watched)
    pairs = [(o, u) for o, u in zip(outputs, upstreams) if u is not None and _floating(o)]
    grads = iter(tape.gradient([o for o, _ in pairs], sources, output_gradients=[u for _, u in pairs],
                               unconnected_gradients="zero") if sources else ())
    return [next(grads) if _floating(w) else None for w in watched]


def _pure_for_gradient(op_name, *graphs):
    for graph in graphs:
        if has_effects(graph):
            raise UnimplementedError(with_location(
                f"gradient of {op_name}: {graph.name} has side effects (variable writes, prints or random draws), "
                f"and the gradient recomputes it; keep those outside the differentiated control flow"))


def _present(grads):
    return [g for g in grads if g is not None]


def _zeros_like(t):
    from ..autodiff import zeros_of
    return zeros_of(tuple(t.type.shape), t.dtype)


def _cond_grad(upstreams, outputs, pred, *operands, true_branch, false_branch):
    from ..control_flow import cond
    _pure_for_gradient("cond", true_branch, false_branch)
    n = len(true_branch.inputs)
    true_ops, false_ops = operands[:n], operands[n:]

    def true_grads():
        return (_present(vector_jacobian(true_branch, true_ops, upstreams))
                + [_zeros_like(x) for x in false_ops if _floating(x)])

    def false_grads():
        return ([_zeros_like(x) for x in true_ops if _floating(x)]
                + _present(vector_jacobian(false_branch, false_ops, upstreams)))
    flat = iter(cond(pred, true_grads, false_grads))   # one gradient per floating operand
    return [None] + [next(flat) if _floating(x) else None for x in operands]


def _while_grad(upstreams, outputs, *inputs, cond, body, maximum_iterations):
    from ..control_flow import while_loop
    if maximum_iterations is None:
        raise UnimplementedError(with_location(
            "gradient of while_loop: the loop needs maximum_iterations (a Python int, or a size such as "
            "gj.shape(x)[0]), as TF requires under XLA: the gradient stacks each iteration's loop variables into "
            "tensors of that many rows"))
    _pure_for_gradient("while_loop", cond, body)
    variables, cond_operands, body_operands = _split_loop_inputs(inputs, cond, body)
    n = len(variables)
    if type(maximum_iterations) is int and maximum_iterations == 0:   # no iteration: the results are the inputs
        return [(upstreams[j] if upstreams[j] is not None else _zeros_like(outputs[j])) if j < n and _floating(x)
                else _zeros_like(x) if j >= len(inputs) - len(body_operands) and _floating(x) else None
                for j, x in enumerate(inputs)]

    def stacking_cond(count, values, stacks):
        return call_graph(cond, [*values, *cond_operands])[0]

    stacked = [j for j in range(n) if not _only_added_into(body, j)]

    def stacking_body(count, values, stacks):   # stacks[j][count] = values[j]: the body's inputs, per iteration
        stacks = [OPS["scatter_add"].bind(s, values[j], count, key=(In(1),)) for s, j in zip(stacks, stacked)]
        return count + 1, call_graph(body, [*values, *body_operands]), stacks
    empty = [OPS["zeros"].bind(shape=(maximum_iterations,) + tuple(variables[j].type.shape), dtype=variables[j].dtype)
             for j in stacked]
    count, _, stacks = while_loop(stacking_cond, stacking_body, (0, list(variables), empty),
                                  maximum_iterations=maximum_iterations)

    float_vars = [j for j in range(n) if _floating(variables[j])]
    float_operands = [j for j, x in enumerate(body_operands) if _floating(x)]

    def backward_body(k, grads, operand_grads):
        rows = dict(zip(stacked, (s[k] for s in stacks)))
        values = [rows[j] if j in rows else variables[j] for j in range(n)]   # (any value: see _only_added_into)
        ups = [None] * n
        for position, j in enumerate(float_vars):
            ups[j] = grads[position]
        step = vector_jacobian(body, [*values, *body_operands], ups)
        return (k - 1, [step[j] for j in float_vars],
                [total + step[n + j] for total, j in zip(operand_grads, float_operands)])
    seeds = [upstreams[j] if upstreams[j] is not None else _zeros_like(outputs[j]) for j in float_vars]
    _, var_grads, operand_grads = while_loop(
        lambda k, grads, operand_grads: k >= 0, backward_body,
        (count - 1, seeds, [_zeros_like(body_operands[j]) for j in float_operands]),
        maximum_iterations=maximum_iterations)
    result = [None] * len(inputs)
    for position, j in enumerate(float_vars):
        result[j] = var_grads[position]
    for position, j in enumerate(float_operands):
        result[len(inputs) - len(body_operands) + j] = operand_grads[position]
    return result


def _only_added_into(body, j):
    """Whether loop variable j's only use in ``body`` is as the tensor a scatter_add adds into, which is its next
    value (map_fn's and scan's accumulators): the body's vector-Jacobian product does not depend on its value, so
    the gradient need not stack it (``[n, n, ...]`` for an accumulator of n rows)."""
    current, output = body.inputs[j], body.nodes[body.outputs[j]]
    return (output.op == "scatter_add" and output.inputs[0] == current and body.users()[current] == [body.outputs[j]]
            and current not in body.outputs)


# ---- lowering: backends write control flow whose subgraphs they can compile as kernels of branches and loops
# (the CPU backend: scalar subgraphs, compiler.control_flow_writer); other control flow runs as an eager step
COND.lower = Kernel("cond")
WHILE.lower = Kernel("while_loop")

COND.grad = _cond_grad
WHILE.grad = _while_grad
TUPLE_GET.grad = HANDLED_BY_TAPE   # never applied: the tape records a node of several results as one
