"""The layer order of vfunc's import graph (DESIGN.md, Layout): dependencies point down only.

The graph is read from the source with ``ast``, not by importing: every ``import`` and
``from ... import`` counts, at module level or inside a function (a lazy import is still a
dependency; it only hides a cycle from the interpreter). An edge from a module to one in a higher
layer is a violation, and so is an import cycle among the modules of one layer (edges across
layers cannot close a cycle without an upward one, reported already).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "vfunc"

# Bottom to top. A module belongs to the layer of its longest matching prefix; a module that
# matches none fails test_every_module_has_a_layer (a new package must be placed here).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("core", ("vfunc.core", "vfunc.jaxpr", "vfunc.config", "vfunc.dtypes", "vfunc.devices",
              "vfunc.errors", "vfunc.tree", "vfunc.tree_util", "vfunc._array_methods")),
    ("primitives", ("vfunc.primitives",)),
    ("backends", ("vfunc.backends",)),  # devices: impls per platform, placement
    ("transforms", ("vfunc.transforms",)),
    ("control flow", ("vfunc.control_flow",)),
    ("front ends", ("vfunc.numpy", "vfunc.lax", "vfunc.scipy", "vfunc.random", "vfunc.debug")),
    ("toolkit", ("vfunc.nn", "vfunc.losses", "vfunc.optim", "vfunc.io", "vfunc.testing",
                 "vfunc.distributed", "vfunc.example_libraries")),
    ("public API", ("vfunc",)),  # vfunc/__init__.py re-exports everything below it
]  # fmt: skip

# The units of the cycle check, where not the module: the primitive registry and its builders
# are one by design (a family's rules call the builders, the builders bind the families'
# primitives, the package registers them all); the stub of what vfunc.numpy installs on Array
# (a .pyi only type checkers read) belongs with core.Array, which it describes.
UNITS = {"vfunc.primitives": "vfunc.primitives", "vfunc._array_methods": "vfunc.core"}

# Violations tolerated for now. Empty since the layering refactor of issue 12 landed; keep it so:
# an entry here must name an edge that still occurs (test_known_violations_still_occur).
KNOWN_VIOLATIONS: set[str] = set()


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules(root: Path = PACKAGE) -> dict[str, Path]:
    """Every module's source; a stub (.pyi) where it is the only source."""
    stubs = {_module_name(p, root): p for p in sorted(root.rglob("*.pyi"))}
    return stubs | {_module_name(p, root): p for p in sorted(root.rglob("*.py"))}


def _imported_names(tree: ast.AST, module: str, is_package: bool) -> list[tuple[str, int]]:
    """Every dotted name an import statement anywhere in ``tree`` asks for, with its line:
    ``from a.b import c`` gives ``a.b.c`` (the submodule, when ``c`` is one; resolved later)."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: climb level - 1 packages from this module's package
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found += [(f"{base}.{alias.name}", node.lineno) for alias in node.names]
    return found


def import_graph(root: Path = PACKAGE) -> dict[tuple[str, str], tuple[Path, int]]:
    """Edges ``(importer, imported)`` between vfunc modules -> where the first such import is."""
    modules = _modules(root)
    edges: dict[tuple[str, str], tuple[Path, int]] = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        for name, line in _imported_names(tree, module, path.name == "__init__.py"):
            while name and name not in modules:  # ``from m import attr`` -> m
                name = name.rpartition(".")[0]
            if name and name != module and (module, name) not in edges:
                edges[module, name] = (path, line)
    return edges


def layer_of(module: str) -> int | None:
    best: tuple[int, int] | None = None  # (layer index, prefix length)
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (
                best is None or len(prefix) > best[1]
            ):
                best = (index, len(prefix))
    return None if best is None else best[0]


def _unit(module: str) -> str:
    for prefix, unit in UNITS.items():
        if module == prefix or module.startswith(prefix + "."):
            return unit
    return module


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph.get(succ, ())))))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def violations(root: Path = PACKAGE) -> dict[str, str]:
    """Each upward edge (``"a -> b"``) and each same-layer import cycle (``"cycle: a <-> b"``),
    mapped to where it is seen (file:line and the layers)."""
    found = {}
    same_layer: dict[str, set[str]] = defaultdict(set)
    for (src, dst), (path, line) in sorted(import_graph(root).items()):
        low, high = layer_of(src), layer_of(dst)
        assert low is not None and high is not None, (src, dst)
        where = f"{path.relative_to(root.parent)}:{line}"
        if high > low:
            found[f"{src} -> {dst}"] = f"{where} ({LAYERS[low][0]} imports {LAYERS[high][0]})"
        elif high == low and _unit(src) != _unit(dst):
            same_layer[_unit(src)].add(_unit(dst))
    for component in _cycles(same_layer):
        layer = LAYERS[layer_of(component[0]) or 0][0]
        found["cycle: " + " <-> ".join(component)] = f"import cycle in {layer}"
    return found


def _report(entries: dict[str, str]) -> str:
    return "\n".join(f"  {key}    [{where}]" for key, where in sorted(entries.items()))


def test_every_module_has_a_layer():
    unplaced = [m for m in _modules() if layer_of(m) is None]
    assert not unplaced, f"modules in no layer of LAYERS (place them): {unplaced}"


def test_imports_point_down_the_layers():
    new = {k: v for k, v in violations().items() if k not in KNOWN_VIOLATIONS}
    assert not new, (
        "imports against the layer order core -> primitives -> transforms -> control flow -> "
        "front ends -> toolkit (DESIGN.md, Layout); a lower layer must not import a higher one, "
        "and modules of one layer must not import each other in a cycle:\n" + _report(new)
    )


def test_known_violations_still_occur():
    gone = KNOWN_VIOLATIONS - set(violations())
    assert not gone, (
        f"fixed, so delete from KNOWN_VIOLATIONS in {Path(__file__).name}: {sorted(gone)}"
    )


def test_primitives_never_import_the_numpy_front_end():
    # Rules call the primitive layer's builders; vfunc.numpy's operators and promotion rules are
    # a front end over them (no KNOWN_VIOLATIONS exemption applies here).
    bad = [
        f"{src} -> {dst} at {path.relative_to(PACKAGE.parent)}:{line}"
        for (src, dst), (path, line) in sorted(import_graph().items())
        if (src + ".").startswith("vfunc.primitives.") and (dst + ".").startswith("vfunc.numpy.")
    ]
    assert not bad, "vfunc.primitives imports the NumPy front end:\n" + "\n".join(bad)


# The checker itself, on small synthetic packages: it must see what it claims to see.


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "vfunc"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.mark.parametrize("importer, statement", [
    ("core.py", "from vfunc import numpy as vnp\n"),
    ("core.py", "def f():\n    import vfunc.numpy.ufuncs\n"),
    ("primitives/elementwise.py", "from ..transforms import ad\n"),
    ("primitives/elementwise.py", "def rule():\n    from vfunc.transforms.ad import vjp\n"),
    ("numpy/ufuncs.py", "from vfunc.nn import linear\n"),
], ids=["core-numpy", "core-lazy-ufuncs", "primitive-relative-ad", "primitive-lazy-ad",
        "numpy-nn"])  # fmt: skip
def test_checker_reports_upward_imports(tmp_path, importer, statement):
    files = {"__init__.py": "", "core.py": "", "primitives/__init__.py": "",
             "primitives/elementwise.py": "from vfunc.core import Primitive\n",
             "transforms/ad.py": "from vfunc.primitives import elementwise\n",
             "numpy/__init__.py": "", "numpy/ufuncs.py": "import vfunc.core\n",
             "nn/__init__.py": "", "nn/linear.py": "from vfunc.numpy import ufuncs\n"}  # fmt: skip
    assert violations(_package(tmp_path, files)) == {}
    files[importer] = files.get(importer, "") + statement
    found = violations(_package(tmp_path, files))
    assert len(found) == 1 and "->" in next(iter(found)), found


def test_checker_reports_same_layer_cycles_but_not_the_registry_and_its_builders(tmp_path):
    files = {"__init__.py": "", "core.py": "", "primitives/__init__.py": "",
             "primitives/builders.py": "from vfunc.primitives import shape\n",
             "primitives/shape.py": "def rule():\n    from vfunc.primitives import builders\n",
             "transforms/ad.py": "def f():\n    from vfunc.transforms import batching\n",
             "transforms/batching.py": "from vfunc.transforms.ad import vjp\n"}  # fmt: skip
    assert violations(_package(tmp_path, files)) == {
        "cycle: vfunc.transforms.ad <-> vfunc.transforms.batching": "import cycle in transforms"
    }
