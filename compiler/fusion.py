"""Fusion: partitions a pure graph into stages and, inside compiled stages, into loop groups.

Stages alternate between Python (ops with no compiled form) and compiled code; a graph without such
ops is one compiled stage, i.e. one Numba entry. Effect nodes (random draws, kept prints, control flow holding
them) keep program order: across stages by their levels, within one by their ``deps``. Inside a compiled stage:

- elementwise ops of one shape fuse into one loop (a *group*) with no intermediate arrays; a value
  is written to memory only when something outside its group needs it;
- a reduction absorbs the elementwise group that feeds it (``sum((x-y)**2)`` reads x and y once);
- view ops (transpose, broadcast, basic indexing, reshape of contiguous values) become index maps;
- matmul (integer matmul as loops), row softmax/log_softmax, sparse softmax cross-entropy, logsumexp and argmax/argmin over
  trailing axes, concat, stack, tile, gather, ``x[key]`` with one integer tensor in the key (a take) and
  scatter_add (of rows, or at a basic key; in place into a tensor nothing else reads) are kernels of their own;
  elementwise consumers of a matmul form the next group, which writes back into the matmul's buffer (one pass
  over the output);
- reductions over trailing axes together with the elementwise work between and after them (layer norm, RMSNorm,
  a softmax written out) merge into one ``rows`` group, one pass over memory (compiler.row_fusion);
- control flow (cond, while_loop) is a kernel too, of real branches and loops, whose members are the node and its
  ``tuple_get`` results (one buffer each), when the backend can write its subgraphs: over scalars
  (``scalar_control_flow``) or, each subgraph planned as a stage of its own, over arrays
  (compiler.control_flow_stages); other control flow runs in a Python stage, its subgraphs interpreted.
"""
from dataclasses import dataclass, field

from graphjit.tracer.ir import In, Slice, TensorType, TupleType
from graphjit.tracer.lowering import Kernel, Reduce, Scalar, View
from graphjit.tracer.registry import OPS
from graphjit.tracer.shapes import num_elements
from graphjit.tracer.subgraphs import node_has_effects, subgraphs_of
from graphjit.tracer.symbolic import decided

from .affine import AffineMap
from .row_fusion import merge_row_chains

SCALAR, VIEW, REDUCE, KERNEL, PYTHON, INPUT, CONSTANT = "scalar", "view", "reduce", "kernel", "python", "input", "constant"


def classify(node, nodes, kernel_supported):
    """What kind of code a node becomes; ``kernel_supported`` is the backend's (schedule.Capabilities)."""
    if node.op in (INPUT, CONSTANT):
        return node.op
    if node.op == "tuple_get":   # a result of control flow: written by its kernel when it has one
        return KERNEL if classify(nodes[node.inputs[0]], nodes, kernel_supported) == KERNEL else PYTHON
    op = OPS[node.op]
    lower = op.lower
    if lower is None or (op.stateful and not isinstance(lower, Kernel)):
        return PYTHON
    in_types = [nodes[j].type for j in node.inputs]
    if op.subgraphs:   # control flow: a kernel of branches and loops when the backend can write its subgraphs
        return KERNEL if isinstance(lower, Kernel) and kernel_supported(lower.name, node, in_types) else PYTHON
    if isinstance(lower, Scalar):
        return SCALAR if lower.expression(in_types, node.type) is not None else PYTHON
    if isinstance(lower, View):
        if len(node.inputs) == 1:
            return VIEW
        take = take_layout(node, nodes) is not None and kernel_supported("take", node, in_types)
        return KERNEL if take else PYTHON   # other tensor-index keys: eagerly
    if isinstance(lower, Reduce):
        return REDUCE
    if isinstance(lower, Kernel):
        return KERNEL if kernel_supported(lower.name, node, in_types) else PYTHON
    return PYTHON


def scalar_control_flow(node):
    """Whether control-flow ``node``'s subgraphs (at any depth) compute only scalars, by ops with scalar rules and
    nested control flow of the same kind: a backend can then write it as plain branches and loops over scalar
    variables inside its compiled code (the CPU backend does, see compiler.control_flow_writer)."""
    for _, graph in subgraphs_of(node):
        for inner in graph.nodes:
            if inner.op in ("cond", "while_loop"):
                if not scalar_control_flow(inner):
                    return False
                continue
            if not isinstance(inner.type, TensorType) or tuple(inner.type.shape) != ():
                return False
            if inner.op in (INPUT, CONSTANT, "tuple_get"):
                continue
            lower = OPS[inner.op].lower
            if OPS[inner.op].stateful or not isinstance(lower, Scalar) or lower.expression(
                    [graph.nodes[j].type for j in inner.inputs], inner.type) is None:
                return False
    return True


def take_layout(node, nodes):
    """For ``x[key]`` with one integer tensor in the key and otherwise ints and slices (a *take*):
    ``(view, axis, front)``, the strided view of x's buffer that the key selects when the tensor's place
    is a full slice, the view's axis that the tensor indexes, and whether NumPy puts the tensor's dims
    first (an int and the tensor separated by a slice) instead of in that axis's place. None otherwise."""
    key = node.attr("key")
    shape = nodes[node.inputs[0]].type.shape
    if node.op != "getitem" or len(node.inputs) != 2 or len(key) > len(shape):
        return None
    kinds = ["tensor" if isinstance(k, In) else "slice" if isinstance(k, Slice)
             else "int" if type(k) is int else None for k in key]
    if None in kinds or kinds.count("tensor") != 1:
        return None
    view = AffineMap.contiguous(shape).index(tuple(slice(None) if kind == "tensor" else k.to_slice()
                                                   if kind == "slice" else k for k, kind in zip(key, kinds)))
    axis = kinds[:kinds.index("tensor")].count("slice")
    advanced = [k for k, kind in enumerate(kinds) if kind != "slice"]
    front = advanced != list(range(advanced[0], advanced[-1] + 1))
    index_shape = tuple(nodes[node.inputs[1]].type.shape)
    rest = view.shape[:axis] + view.shape[axis + 1:]
    expected = index_shape + rest if front else view.shape[:axis] + index_shape + view.shape[axis + 1:]
    return (view, axis, front) if expected == tuple(node.type.shape) else None


def strided_scatter_view(node):
    """For ``scatter_add`` with a basic key (no tensor indices): the strided view of the output's buffer that
    the key selects, which the updates are added into; None for other keys."""
    if node.op != "scatter_add" or len(node.inputs) != 2:
        return None
    key = tuple(k.to_slice() if isinstance(k, Slice) else k for k in node.attr("key"))
    return AffineMap.contiguous(node.type.shape).index(key)


def kernel_name(node):
    """The kernel a KERNEL node becomes: its lowering's name, "take" for a getitem (see take_layout), and
    "int_matmul" for an integer matmul (loops: BLAS has no integer gemm)."""
    if node.op == "getitem":
        return "take"
    name = OPS[node.op].lower.name
    return "int_matmul" if name == "matmul" and node.type.dtype.is_integer else name


def view_map(node, source_map):
    """The index map of a view node's result, or None when it needs its input materialised first."""
    kind = OPS[node.op].lower.name
    if kind in ("identity", "stop_gradient"):
        return source_map
    if kind in ("reshape", "expand_dims", "squeeze"):
        return AffineMap.contiguous(node.type.shape, source_map.offset) if source_map.is_contiguous() else None
    if kind == "transpose":
        return source_map.transpose(node.attr("perm"))
    if kind == "broadcast_to":
        return source_map.broadcast_to(tuple(node.type.shape))
    if kind == "getitem":
        key = tuple(k.to_slice() if isinstance(k, Slice) else k for k in node.attr("key"))
        result = source_map.index(key)
        return result if result is not None and result.shape == tuple(node.type.shape) else None
    return None


@dataclass
class Group:
    kind: str                    # "elementwise", "reduce", or a kernel: "matmul", "softmax", "logsumexp", ...
    shape: tuple                 # loop shape (the reduction's input shape for reductions)
    members: list = field(default_factory=list)  # node ids computed by this group, in order
    sealed: bool = False         # a node outside consumed a member: no more members may join
    inplace_of: dict = field(default_factory=dict)  # member id -> input buffer id it may overwrite
    operands: list = field(default_factory=list)    # kernels: (buffer id, transposed) per input
    operand_maps: dict = field(default_factory=dict)  # kernels reading input k through a view: k -> AffineMap


@dataclass
class Stage:
    python: bool
    nodes: list


def stages(graph, kinds):
    """Orders nodes into alternating Python and compiled stages, each node as early as possible."""
    level = {}
    last_effect = -1   # the stage level of the last random draw (or control flow that draws): effects keep order
    for i, node in enumerate(graph.nodes):
        kind = kinds[i]
        if kind in (INPUT, CONSTANT):
            level[i] = 0
            continue
        deepest = max((level[j] for j in node.inputs), default=0)
        if node_has_effects(node):   # not before the last effect's stage (in a stage, node.deps keep the order)
            deepest = max(deepest, last_effect)
        if kind == PYTHON:
            lv = deepest if deepest % 2 == 0 else deepest + 1  # even levels run in Python
        else:
            lv = deepest if deepest % 2 == 1 else deepest + 1  # odd levels are compiled
        if node_has_effects(node):
            last_effect = lv
        level[i] = lv
    result = []
    for lv in range(max(level.values(), default=0) + 1):
        members = [i for i in range(len(graph.nodes)) if level.get(i) == lv and kinds[i] not in (INPUT, CONSTANT)]
        if members:
            result.append(Stage(python=lv % 2 == 0, nodes=members))
    return result


class StagePlan:
    """The groups of one compiled stage and which values they materialise."""

    def __init__(self, graph, kinds, node_ids, needed_outside, row_kernels=True):
        self.graph = graph
        self.row_kernels = row_kernels
        self.kinds = kinds
        self.in_stage = set(node_ids)
        self.users = graph.users()
        self.groups = []
        self.group_of = {}
        self.maps = {}                # view node id -> (buffer node id, AffineMap)
        self.copy_source = {}         # view materialised by a copy loop -> (buffer node id, AffineMap)
        self.needed_outside = set(needed_outside)
        self.alias = {}               # in-place output id -> the input buffer id it overwrites
        self.materialized = set(needed_outside) & self.in_stage
        for i in node_ids:
            self._place(i)
        self._finish()

    # -- helpers --
    def source(self, j):
        """(buffer node id, map) through which node j's value is read."""
        if j in self.maps:
            return self.maps[j]
        return j, AffineMap.contiguous(self.graph.nodes[j].type.shape)

    def _materialize(self, j):
        if j in self.group_of:
            self.materialized.add(j)
            self.group_of[j].sealed = True

    def _new_group(self, kind, shape, members):
        group = Group(kind, tuple(shape), list(members))
        self.groups.append(group)
        for m in members:
            self.group_of[m] = group
        return group

    def _copy_of(self, j):
        """Materialise view j into a contiguous buffer with a copy loop; returns the copy's id (j itself)."""
        self.copy_source[j] = self.maps.pop(j)
        self._new_group("elementwise", self.graph.nodes[j].type.shape, [j]).sealed = True
        self.materialized.add(j)
        self.kinds[j] = "copy"
        return j

    def _kernel_operand(self, j, allow_transpose):
        """(buffer id, transposed) that a kernel (gemm, softmax) reads for input j: the buffer itself, the
        base of a contiguous view, the base of a 2-D transpose (gemm takes a transpose flag), or else a
        contiguous copy of the view."""
        if j not in self.maps:
            self._materialize(j)
            return j, False
        buffer, amap = self.maps[j]
        self._materialize(buffer)
        at_start = decided(lambda: amap.offset == 0)   # (None: an offset that is 0 only for some sizes)
        if at_start and amap.is_contiguous():
            return buffer, False
        if (allow_transpose and len(amap.shape) == 2 and at_start and amap.strides == (1, amap.shape[0])
                and num_elements(self.graph.nodes[buffer].type.shape) == amap.size):
            return buffer, True
        self._copy_of(j)
        return j, False

    def _mapped_operand(self, j):
        """(buffer id, False, map) for a kernel that reads input j elementwise through its index map (a view
        costs no copy)."""
        self._materialize(j)
        buffer, amap = self.source(j)
        self._materialize(buffer)
        return buffer, False, amap

    # -- placing nodes --
    def _place(self, i):
        node = self.graph.nodes[i]
        kind = self.kinds[i]
        if kind == VIEW:
            j = node.inputs[0]
            self._materialize(j)
            buffer, src_map = self.source(j)
            mapped = view_map(node, src_map)
            if mapped is None and j in self.maps:
                self._copy_of(j)
                buffer, src_map = j, AffineMap.contiguous(self.graph.nodes[j].type.shape)
                mapped = view_map(node, src_map)
            self.maps[i] = (buffer, mapped)
        elif kind == SCALAR:
            self._place_scalar(i, node)
        elif kind == REDUCE:
            self._place_reduce(i, node)
        elif kind == KERNEL and node.op == "tuple_get":   # written by the control-flow kernel that computes it
            group = self.group_of[node.inputs[0]]
            group.members.append(i)
            self.group_of[i] = group
            self.materialized.add(i)
        elif kind == KERNEL:
            name = kernel_name(node)
            through_map = {1} if strided_scatter_view(node) is not None else set()   # reads updates in view order
            operands = [self._mapped_operand(j) if k in through_map else
                        self._kernel_operand(j, allow_transpose=name in ("matmul", "int_matmul"))
                        for k, j in enumerate(node.inputs)]
            several = isinstance(node.type, TupleType)   # control flow: its results are its tuple_get members
            group = self._new_group(name, () if several else node.type.shape, [i])
            group.operands = [operand[:2] for operand in operands]
            group.operand_maps = {k: operand[2] for k, operand in enumerate(operands) if len(operand) == 3}
            group.sealed = True
            if not several:
                self.materialized.add(i)

    def _place_scalar(self, i, node):
        """Joins the open same-shape groups of its inputs (merging them: open groups never depend on
        each other, since any outside consumer seals a group), or starts a new group."""
        shape = tuple(node.type.shape)
        joinable = []
        for j in node.inputs:
            group = self.group_of.get(j)
            if (group is not None and group.kind == "elementwise" and not group.sealed and group.shape == shape
                    and self.kinds[j] == SCALAR and group not in joinable):
                joinable.append(group)
        target = joinable[0] if joinable else None
        for other in joinable[1:]:
            target.members = sorted(target.members + other.members)
            for m in other.members:
                self.group_of[m] = target
            self.groups.remove(other)
        for j in node.inputs:
            if self.group_of.get(j) is not target or self.kinds.get(j) == "copy":
                self._materialize(j)
        if target is None:
            self._new_group("elementwise", shape, [i])
        else:
            target.members.append(i)
            self.group_of[i] = target

    def _place_reduce(self, i, node):
        j = node.inputs[0]
        group = self.group_of.get(j)
        absorbable = (group is not None and group.kind == "elementwise" and not group.sealed
                      and self.kinds[j] == SCALAR and j not in self.materialized
                      and all(u in group.members or u == i for m in group.members for u in self.users[m])
                      and not any(m in self.materialized for m in group.members))
        if absorbable:
            self.groups.remove(group)
            reduce_group = self._new_group("reduce", group.shape, group.members + [i])
        else:
            self._materialize(j)
            reduce_group = self._new_group("reduce", self.graph.nodes[j].type.shape, [i])
        reduce_group.sealed = True
        self.materialized.add(i)

    def resolve(self, j):
        """The buffer that holds node j's value (an in-place group output shares its input's buffer, which may
        itself be in place in another's: an add into a scatter_add's result that adds into zeros)."""
        while j in self.alias:
            j = self.alias[j]
        return j

    def _finish(self):
        for j in sorted(self.needed_outside & set(self.maps)):  # views leaving the stage get a real buffer
            self._copy_of(j)
        for group in self.groups:
            for m in group.members:
                if any(u not in group.members for u in self.users[m]):
                    self.materialized.add(m)
        if self.row_kernels:   # (compiler.row_fusion: reductions over rows and their elementwise work)
            merge_row_chains(self, Group)
        self._plan_inplace()
        self.groups = _topological(self.groups, self.graph, self.group_of, self.maps)

    def _plan_inplace(self):
        """An elementwise group may write its output into a scratch input it alone reads (e.g. the
        matmul result under a bias-add + relu epilogue): one pass over the output, no new buffer."""
        for group in self.groups:
            if group.kind == "scatter_add":
                self._scatter_in_place(group)
            if group.kind != "elementwise":
                continue
            outputs = [m for m in group.members if m in self.materialized]
            if len(outputs) != 1:
                continue
            out_type = self.graph.nodes[outputs[0]].type
            for m in group.members:
                if self.kinds.get(m) == "copy" and not self._reads_at_output_index(group, m):
                    continue
                for j in self.graph.nodes[m].inputs:
                    src = self.group_of.get(j)
                    if (src is not None and src is not group and j in self.materialized and j not in self.maps
                            and j not in self.needed_outside and src.kind not in ("reduce",)
                            and self.graph.nodes[j].type == out_type and set(self.users[j]) <= set(group.members)
                            and j not in group.inplace_of.values()):
                        group.inplace_of[outputs[0]] = j
                        self.alias[outputs[0]] = j
                        break
                if group.inplace_of:
                    break

    def _scatter_in_place(self, group):
        """A scatter_add adds into its tensor's own buffer when nothing else reads that buffer (a chain of
        strided scatters, the gradient of several slices of one value, fills one zero-initialised buffer)."""
        r, (j, _) = group.members[0], group.operands[0]
        src = self.group_of.get(j)
        if (j == self.graph.nodes[r].inputs[0] and src is not None and src.kind != "reduce" and j in self.materialized
                and j not in self.maps and j not in self.needed_outside and set(self.users[j]) == {r}
                and j not in self.alias.values()):
            group.inplace_of[r] = j
            self.alias[r] = self.resolve(j)   # j may itself add into an earlier scatter's buffer

    def _reads_at_output_index(self, group, m):
        """Whether copy member m reads each element at the index it writes. A copy through a transposing,
        reversing or shifting map (``x.T`` of a square ``x`` has x's type) written into its own source
        would read elements it has already overwritten (found by the differential fuzzer)."""
        _, amap = self.copy_source[m]
        return amap.broadcast_to(tuple(group.shape)).same_as(AffineMap.contiguous(group.shape))


def _topological(groups, graph, group_of, maps):
    """Groups in an order where each runs after the groups whose values it reads, directly or through a view
    (a view is no group's member: its reads go to the buffer it maps; missing that ran an elementwise group
    before the gemm whose transposed result it reads, found by tests/test_autodiff_compiled.py)."""
    order, done = [], set()
    position = {id(g): k for k, g in enumerate(groups)}  # by id: groups are unhashable; `groups` keeps them alive

    def visit(group):
        if id(group) in done:
            return
        done.add(id(group))
        for m in group.members:
            for j in graph.nodes[m].inputs + graph.nodes[m].deps:   # (deps: random draws keep their order)
                src = group_of.get(maps[j][0] if j in maps else j)
                if src is not None and src is not group and id(src) in position:
                    visit(src)
        order.append(group)

    for group in groups:
        visit(group)
    return order
