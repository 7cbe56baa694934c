"""How the fuzzer calls each op: ``Spec.make`` draws operands and attributes for a program being drawn,
``Spec.apply`` makes the public graphjit call (eagerly, while tracing, or on the float64 shadow values of
tests/fuzz_check.py when ``shadow``). The specs live by family: the machinery and shared helpers in
fuzz_specs_base, the numeric ops in fuzz_specs_math, moves in fuzz_specs_shapes, indexing and selection in
fuzz_specs_indexing, creation in fuzz_specs_creation. Elementwise ops without attributes and without a
spec of their own are found by probing their rules (``probe_arity``), so new ones are fuzzed untouched."""
from graphjit.tracer.registry import OPS

import fuzz_specs_creation  # noqa: F401  (each family module registers its specs into SPECS)
import fuzz_specs_indexing  # noqa: F401
import fuzz_specs_shapes  # noqa: F401
from fuzz_graphs import EXCLUDED
from fuzz_specs_base import SPECS
from fuzz_specs_math import elementwise_spec, probe_arity

# last: every op with a spec of its own is registered by now
for _name, _op in sorted(OPS.items()):
    if _name not in SPECS and _name not in EXCLUDED:
        _arity = probe_arity(_op)
        if _arity is not None:
            elementwise_spec(_name, _arity)
