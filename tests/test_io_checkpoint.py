"""vfunc.io checkpoints: save/restore/latest_step, keep, metadata, and crashes mid-save.

The crash tests kill real writer processes (SIGKILL, no cleanup possible) at random moments
and at chosen points of the write protocol, then check that restoring gives a complete
checkpoint whose every array holds the value written with its step.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from typing import NamedTuple

import numpy as np
import pytest

import vfunc
import vfunc.numpy as vnp
from vfunc import io

pytest.importorskip("safetensors.numpy")
pytestmark = pytest.mark.usefixtures("x64_off")
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and fork semantics")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class OptState(NamedTuple):
    mu: dict
    nu: dict
    count: object


def train_state(step: int) -> dict:
    value = float(step)
    return {
        "model": {"w": vnp.full((3, 2), value), "b": vnp.full((2,), value)},
        "opt": OptState(
            {"w": vnp.full((3, 2), -value)}, {"w": vnp.zeros((3, 2))}, vnp.asarray(step)
        ),
        "key": vnp.asarray(np.array([0, step], np.uint32)),
        "step": step,
    }


def test_save_restore_latest_and_metadata(tmp_path):
    folder = tmp_path / "ckpt"
    for step in (0, 10, 20):
        path = io.save_checkpoint(folder, step, train_state(step), metadata={"loss": [1.0, 0.5]})
        assert os.path.basename(path) == f"checkpoint_{step}.safetensors"
    assert io.latest_step(folder) == 20
    like = train_state(0)
    out = io.restore_checkpoint(folder, like)
    assert vfunc.tree.structure(out) == vfunc.tree.structure(like)
    assert isinstance(out["opt"], OptState) and out["step"] == 20
    np.testing.assert_array_equal(out["opt"].mu["w"], np.full((3, 2), -20.0))
    assert out["key"].dtype == np.uint32 and list(np.asarray(out["key"])) == [0, 20]
    assert io.restore_checkpoint(folder, like, step=10)["step"] == 10
    assert io.checkpoint_metadata(folder, 10) == {"loss": [1.0, 0.5]}
    nested = io.restore_checkpoint(folder, None)
    np.testing.assert_array_equal(nested["model"]["b"], [20.0, 20.0])


def test_keep_prunes_oldest_but_never_the_one_just_saved(tmp_path):
    for step in range(6):
        io.save_checkpoint(tmp_path, step, {"x": vnp.ones(1)}, keep=3)
    assert sorted(os.listdir(tmp_path)) == [f"checkpoint_{s}.safetensors" for s in (3, 4, 5)]
    io.save_checkpoint(tmp_path, 1, {"x": vnp.ones(1)}, keep=3)  # an older step, kept anyway
    assert io.latest_step(tmp_path) == 5 and os.path.exists(tmp_path / "checkpoint_1.safetensors")
    for step in range(6, 9):
        io.save_checkpoint(tmp_path, step, {"x": vnp.ones(1)}, keep=None)
    assert len(os.listdir(tmp_path)) == 7


def test_latest_step_of_empty_or_missing_folder(tmp_path):
    assert io.latest_step(tmp_path) is None
    assert io.latest_step(tmp_path / "nope") is None
    with pytest.raises(FileNotFoundError, match="no complete checkpoint"):
        io.restore_checkpoint(tmp_path, None)
    io.save_checkpoint(tmp_path, 3, {"x": vnp.ones(1)})
    with pytest.raises(FileNotFoundError, match=r"no checkpoint for step 4 .* steps \[3\]"):
        io.restore_checkpoint(tmp_path, None, step=4)


def test_latest_step_skips_damaged_and_foreign_files(tmp_path):
    io.save_checkpoint(tmp_path, 1, {"x": vnp.ones(4)})
    io.save_checkpoint(tmp_path, 2, {"x": vnp.ones(4)})
    shutil.copy(tmp_path / "checkpoint_2.safetensors", tmp_path / "checkpoint_3.safetensors")
    with open(tmp_path / "checkpoint_3.safetensors", "r+b") as f:  # a torn copy
        f.truncate(os.path.getsize(tmp_path / "checkpoint_3.safetensors") - 3)
    io.save(tmp_path / "checkpoint_4.safetensors", {"x": vnp.ones(4)})  # no checkpoint record
    (tmp_path / ".checkpoint_5.safetensors.tmp-1-ab").mkdir()
    assert io.latest_step(tmp_path) == 2
    with pytest.raises(io.FormatError, match="runs past the end"):
        io.restore_checkpoint(tmp_path, None, step=3)
    with pytest.raises(io.FormatError, match="not a vfunc checkpoint"):
        io.checkpoint_metadata(tmp_path, step=4)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(step=-1), "step must be a non-negative int"),
        (dict(step=True), "step must be a non-negative int"),
        (dict(keep=0), "keep must be a positive int or None"),
        (dict(metadata={"f": object()}), "metadata must be JSON-encodable"),
        (dict(metadata={"nan": float("nan")}), "metadata must be JSON-encodable"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, match):
    args = dict(step=1, keep=3, metadata=None) | kwargs
    with pytest.raises(TypeError, match=match):
        io.save_checkpoint(tmp_path, args.pop("step"), {"x": vnp.ones(1)}, **args)
    assert os.listdir(tmp_path) == []


def test_restore_mismatch_lists_problems(tmp_path):
    io.save_checkpoint(tmp_path, 1, train_state(1))
    like = train_state(0)
    like["model"]["w"] = vnp.zeros((2, 3))
    with pytest.raises(ValueError, match=r"'model.w': float32\[3, 2\] in the file, like wants"):
        io.restore_checkpoint(tmp_path, like)


# --------------------------------------------------------------------------------------------
# Crashes


WRITER = textwrap.dedent(
    """
    import os, sys
    import numpy as np
    from vfunc import io
    folder, start = sys.argv[1], int(sys.argv[2])
    mode = sys.argv[3] if len(sys.argv) > 3 else "loop"
    if mode != "loop":  # die (no cleanup, like SIGKILL) at one point of the write protocol
        real = {"fsync": os.fsync, "replace": os.replace, "fsync_dir": io.format.fsync_dir}
        def die(*args):
            os._exit(9)
        if mode == "before_fsync":
            os.fsync = die
        elif mode == "before_replace":
            os.replace = die
        elif mode == "before_dir_fsync":
            io.format.fsync_dir = die
    step = start
    while True:
        value = np.full((512, 1024), step, np.float32)  # 2 MB per array
        state = {"a": value, "b": [value + 1, {"c": np.full(7, step, np.int32)}], "step": step}
        io.save_checkpoint(folder, step, state, keep=3, metadata={"step": step})
        print(step, flush=True)
        step += 1
        if mode != "loop":
            break
    """
)


def run_writer(tmp_path, folder, start: int, mode: str = "loop") -> subprocess.Popen:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.Popen(
        [sys.executable, str(script), str(folder), str(start), mode],
        stdout=subprocess.PIPE, env=env, text=True,
    )  # fmt: skip


def check_restorable(folder) -> int:
    """The latest checkpoint is complete and holds its own step everywhere; every other one
    named as a checkpoint is complete too."""
    step = io.latest_step(folder)
    assert step is not None
    like = {
        "a": vnp.zeros((512, 1024)),
        "b": [vnp.zeros((512, 1024)), {"c": vnp.zeros(7, np.int32)}],
        "step": 0,
    }
    state = io.restore_checkpoint(folder, like)
    assert state["step"] == step and io.checkpoint_metadata(folder) == {"step": step}
    for leaf, offset in [(state["a"], 0), (state["b"][0], 1), (state["b"][1]["c"], 0)]:
        values = np.asarray(leaf)
        assert values.min() == values.max() == step + offset
    for name in os.listdir(folder):
        if name.startswith("checkpoint_"):
            io.load(os.path.join(folder, name))  # complete: no FormatError
    return step


@posix_only
def test_killed_writers_never_leave_a_torn_checkpoint(tmp_path):
    folder = tmp_path / "ckpt"
    rng = random.Random(0)
    start, kills = 0, 0
    for _ in range(5):
        proc = run_writer(tmp_path, folder, start)
        assert proc.stdout.readline().strip() == str(start)  # one checkpoint at least
        time.sleep(rng.uniform(0.0, 0.3))  # then die at a random moment of the saving loop
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        kills += proc.returncode == -signal.SIGKILL
        start = check_restorable(folder) + 1
    assert kills == 5
    # Each saving loop reached steps beyond the first, so kills landed amid saves.
    assert start > 5


@posix_only
@pytest.mark.parametrize("mode", ["before_fsync", "before_replace", "before_dir_fsync"])
def test_death_at_each_point_of_the_write_protocol(tmp_path, mode):
    folder = tmp_path / "ckpt"
    io.save_checkpoint(folder, 0, {"a": np.zeros((512, 1024), np.float32),
                                   "b": [np.ones((512, 1024), np.float32),
                                         {"c": np.zeros(7, np.int32)}],
                                   "step": 0}, metadata={"step": 0})  # fmt: skip
    proc = run_writer(tmp_path, folder, 1, mode)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 9 and out == ""
    expected = 1 if mode == "before_dir_fsync" else 0  # renamed already: complete
    assert check_restorable(folder) == expected
    leftovers = [n for n in os.listdir(folder) if ".tmp-" in n]
    assert bool(leftovers) == (mode != "before_dir_fsync")
    # The next save removes what the dead writer left behind.
    io.save_checkpoint(folder, 7, {"x": vnp.ones(1)}, keep=None)
    assert [n for n in os.listdir(folder) if ".tmp-" in n] == []
