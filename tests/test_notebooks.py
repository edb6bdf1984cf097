"""Every examples/*.ipynb runs top to bottom in quick mode (VFUNC_NOTEBOOK_QUICK=1).

Each notebook ends with an assertion on its real result (accuracy, PSNR, loss reached), so a
silent regression in the library fails here, not just an exception. The notebooks' saved
outputs come from full runs; this executes a fresh copy in memory and leaves the files alone.
"""

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip(
    "nbformat", reason="the notebook runner is in the examples extra: pip install -e '.[examples]'")
nbclient = pytest.importorskip(
    "nbclient", reason="the notebook runner is in the examples extra: pip install -e '.[examples]'")
for module in ("ipykernel", "sklearn", "matplotlib"):
    pytest.importorskip(module, reason="the examples extra: pip install -e '.[examples]'")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "examples").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_quick_mode(path, tmp_path, monkeypatch):
    # The kernel is a child process: it inherits this environment, so it imports the vfunc
    # of this checkout and sees the quick-mode switch. It runs in tmp_path so nothing a
    # notebook writes lands in the repository.
    monkeypatch.setenv("VFUNC_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, with the failing cell, on any error
