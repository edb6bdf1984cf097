"""The README's main job, examples/train_digits.py, run for a tiny budget in a subprocess."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vfunc import io, tree

for module in ("sklearn", "matplotlib", "tqdm", "safetensors"):
    pytest.importorskip(module, reason="the examples extra: pip install -e '.[examples]'")

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "examples" / "train_digits.py"
# 96 training images in batches of 32: 3 steps an epoch, checkpoints at steps 3 and 6.
TINY = ["--epochs", "2", "--limit", "96", "--batch-size", "32"]


def run(out: Path, *flags: str, returncode: int = 0) -> str:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *TINY, "--out", str(out), *flags],
        capture_output=True, text=True, env=env, timeout=300, check=False)
    assert done.returncode == returncode, done.stderr[-3000:]
    return done.stdout + done.stderr


def test_train_digits_writes_checkpoint_and_png_and_resumes_exactly(tmp_path):
    out = tmp_path / "run"
    log = run(out, "--resume")  # nothing to resume from yet: a fresh run
    assert "no checkpoint" in log and "test accuracy" in log
    assert io.latest_step(out) == 6
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint_3.safetensors", "checkpoint_6.safetensors", "digits.png"]
    assert (out / "digits.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finished = io.load(out / "checkpoint_6.safetensors")
    meta = io.checkpoint_metadata(out)
    assert meta["epoch"] == 2 and len(meta["history"]["test_acc"]) == 2
    assert set(finished) == {"model", "opt_state", "key"}

    # Interrupt the run after its first epoch: drop the last checkpoint and the PNG, resume.
    (out / "checkpoint_6.safetensors").unlink()
    (out / "digits.png").unlink()
    log = run(out, "--resume")
    assert "resumed" in log and "at epoch 1 (step 3)" in log
    assert io.latest_step(out) == 6 and (out / "digits.png").exists()
    # The resumed run ends bit for bit where the uninterrupted one did: model, optimiser
    # state (step count included), key, and the curves in the metadata.
    resumed = io.load(out / "checkpoint_6.safetensors")
    paths_a, leaves_a = zip(*tree.flatten_with_path(finished)[0], strict=True)
    paths_b, leaves_b = zip(*tree.flatten_with_path(resumed)[0], strict=True)
    assert paths_a == paths_b
    for path, a, b in zip(paths_a, leaves_a, leaves_b, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=str(path))
    assert io.checkpoint_metadata(out) == meta

    # Resuming with flags that change the data or the schedule's peak is refused, by name.
    log = run(out, "--resume", "--lr", "0.1", returncode=2)
    assert "--resume: the checkpoint" in log and "'lr': 0.1" in log

