"""Package hygiene: imports form a DAG, no generic top-level names, layers depend downwards only."""
import ast
import pathlib
import sys

import graphjit

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = {"graphjit": "graphjit", "graphjit.tracer": "tracer", "graphjit.compiler": "compiler",
            "graphjit.runtime": "runtime"}
LAYER = {"graphjit.tracer": 0, "graphjit.compiler": 1, "graphjit.runtime": 2, "graphjit": 3}


def _modules():
    for package, folder in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            name = ".".join([package, *parts])
            yield name, path, path.name == "__init__.py"


def _imports(name, path, is_package):
    base = name.split(".") if is_package else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("graphjit"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                prefix = ".".join(base[: len(base) - node.level + 1])
                module = f"{prefix}.{node.module}" if node.module else prefix
            else:
                module = node.module or ""
            if module.startswith("graphjit"):
                found.add(module)
                for alias in node.names:
                    found.add(f"{module}.{alias.name}")
    return found


def _graph():
    modules = {name: (path, is_pkg) for name, path, is_pkg in _modules()}
    edges = {}
    for name, (path, is_pkg) in modules.items():
        edges[name] = {m for m in _imports(name, path, is_pkg) if m in modules and m != name}
    return edges


def test_module_imports_form_a_dag():
    edges = _graph()
    assert "graphjit.compiler.backend" in edges["graphjit.runtime.runtime"]  # the scan sees real edges
    assert "graphjit.tracer.registry" in edges["graphjit.tracer.ops.elementwise"]
    state = {}

    def visit(node, trail):
        if state.get(node) == "done":
            return
        assert state.get(node) != "active", "import cycle: " + " -> ".join(trail + [node])
        state[node] = "active"
        for nxt in sorted(edges[node]):
            visit(nxt, trail + [node])
        state[node] = "done"

    for module in sorted(edges):
        visit(module, [])


def _layer(module):
    best = None
    for package, layer in LAYER.items():
        if module == package or module.startswith(package + "."):
            if best is None or len(package) > len(best[0]):
                best = (package, layer)
    return best[1]


def test_layers_only_import_downwards():
    """tracer <- compiler <- runtime <- graphjit (the public face); graphjit.errors is a re-export."""
    bad = []
    for module, targets in _graph().items():
        for target in targets:
            if _layer(target) > _layer(module):
                bad.append(f"{module} imports {target}")
    assert not bad, "\n".join(bad)


def test_no_generic_top_level_modules_are_installed():
    for name in ("tracer", "compiler", "runtime"):
        assert name not in sys.modules or not getattr(sys.modules[name], "__file__", "").startswith(str(ROOT))
    assert graphjit.tracer.__name__ == "graphjit.tracer"


def test_core_imports_nothing_from_compat():
    """TF1 compatibility sits on top of the core: tracer, compiler and runtime never import graphjit.compat
    (compat.v1 plugs in through tracer.context's hooks), and no TF1 module lives in the core's folders."""
    edges = _graph()
    assert "graphjit.compat.v1._graph" in edges["graphjit.compat.v1._session"]  # the scan sees compat's modules
    core = ("graphjit.tracer", "graphjit.compiler", "graphjit.runtime")
    bad = [f"{module} imports {target}" for module, targets in edges.items() if module.startswith(core)
           for target in targets if target.startswith("graphjit.compat")]
    assert not bad, "\n".join(bad)
    for folder in ("tracer", "runtime"):
        leftovers = [p.name for p in (ROOT / folder).glob("*.py")
                     if p.stem.startswith("v1_") or p.stem in ("session", "saver")]
        assert not leftovers, f"TF1 modules in the core folder {folder}/: {leftovers}"


def test_every_package_folder_is_listed_in_pyproject():
    """A subpackage missing from ``packages`` works in an editable install and is absent from a wheel (it was:
    graphjit.compiler.passes)."""
    tomllib = __import__("tomllib") if sys.version_info >= (3, 11) else __import__("tomli")
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {name for name, _, is_package in _modules() if is_package}
    assert found == listed


def test_the_core_imports_no_optional_extra():
    """Dask (graphjit[distributed]), numba-cuda ([cuda]) and matplotlib ([plot]) are imported only when their
    features are used."""
    import subprocess
    code = ("import sys, numpy as np, graphjit as gj\n"
            "gj.function(lambda x: gj.exp(x) + 1)(np.ones(3, np.float32))\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed', 'matplotlib', 'numba_cuda')\n"
            "             or m.startswith('numba.cuda')))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]"
