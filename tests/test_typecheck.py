"""The public API type-checks: mypy over the modules ``[tool.mypy]`` in pyproject.toml names.

Run in a subprocess from the repository root, so it reads that configuration and the source
tree (not an installed copy); its cache (.mypy_cache/) makes a re-run take seconds. Skipped,
saying so, where mypy is not installed (it is in the ``test`` extra).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import vfunc
from vfunc.core import Array, ArrayImpl, Tracer

ROOT = Path(__file__).resolve().parent.parent
# what Python itself puts in a class's namespace
CLASS_MACHINERY = {"__module__", "__qualname__", "__doc__", "__annotations__", "__annotate__",
                   "__firstlineno__", "__static_attributes__", "__dict__", "__weakref__"}


def test_public_api_type_checks():
    pytest.importorskip("mypy", reason="mypy is not installed: pip install -e '.[test]'")
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "pyproject.toml"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, f"mypy found type errors:\n{done.stdout}{done.stderr}"


def _declared(stub: Path, cls: str) -> set[str]:
    (node,) = [n for n in ast.parse(stub.read_text()).body
               if isinstance(n, ast.ClassDef) and n.name == cls]  # fmt: skip
    return {n.name for n in node.body if isinstance(n, ast.FunctionDef)}


def _own(cls: str) -> set[str]:
    (node,) = [n for n in ast.parse((ROOT / "vfunc" / "core.py").read_text()).body
               if isinstance(n, ast.ClassDef) and n.name == cls]  # fmt: skip
    names = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
    return names | {t.id for n in node.body if isinstance(n, (ast.Assign, ast.AnnAssign))
                    for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
                    if isinstance(t, ast.Name)}  # fmt: skip


def test_array_stub_declares_exactly_what_arrays_have():
    # vfunc/_array_methods.pyi tells type checkers what vfunc.numpy installs on Array with
    # setattr and what both ArrayImpl and Tracer define; it must not drift from either.
    assert vfunc.numpy is not None  # imported: the methods are installed
    declared = _declared(ROOT / "vfunc" / "_array_methods.pyi", "ArrayMethods")
    installed = set(vars(Array)) - _own("Array") - CLASS_MACHINERY
    both = set(vars(ArrayImpl)) & set(vars(Tracer))
    assert installed - declared == set(), "installed on Array but not declared in the stub"
    assert declared - installed - both == set(), "declared in the stub but no Array has it"
