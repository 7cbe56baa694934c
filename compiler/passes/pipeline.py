"""The optimization pipeline, in the order it runs. Each pass is a pure function Graph -> Graph."""
from .cse import eliminate_common_subexpressions
from .dce import eliminate_dead_code
from .decompose import decompose
from .fold import fold_constants
from .known_branches import inline_known_branches
from .simplify import simplify
from .typecheck import check_graph

PIPELINE = [
    decompose,
    fold_constants,
    inline_known_branches,
    simplify,
    eliminate_common_subexpressions,
    eliminate_dead_code,
]

MAX_ROUNDS = 4  # passes enable each other (folding exposes CSE, CSE exposes folding); stop at a fixed point


def optimize(graph, passes=PIPELINE, check=True):
    for _ in range(MAX_ROUNDS):
        before = graph
        for run_pass in passes:
            graph = run_pass(graph)
        if graph == before:
            break
    return check_graph(graph) if check else graph
