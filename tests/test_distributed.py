"""vfunc.distributed across real processes: ``mpiexec -n 2`` runs tests/distributed_worker.py.

Skipped (with the reason) where mpi4py or mpiexec is missing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from distributed_worker import train

import vfunc

HERE = Path(__file__).resolve().parent
MPIEXEC = shutil.which("mpiexec") or shutil.which("mpiexec", path=str(Path(sys.executable).parent))

pytestmark = [
    pytest.mark.skipif(
        importlib.util.find_spec("mpi4py") is None,
        reason="mpi4py is not installed (pip install 'vfunc[distributed]')",
    ),
    pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec on PATH (the MPI launcher)"),
]


def mpirun(mode: str, out: Path, n: int = 2, timeout: float = 60.0, worker_timeout: float = 60.0,
           launcher: tuple = ()):  # fmt: skip
    env = dict(os.environ, WORKER_TIMEOUT=str(worker_timeout))
    env["PYTHONPATH"] = os.pathsep.join([str(HERE.parent), env.get("PYTHONPATH", "")])
    cmd = [MPIEXEC, *launcher, "-n", str(n), sys.executable, str(HERE / "distributed_worker.py"),
           mode]  # fmt: skip
    start = time.monotonic()
    proc = subprocess.run([*cmd, str(out)], env=env, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip
    results = [json.loads(p.read_text()) for p in sorted(out.glob("rank*.json"))]
    return proc, results, time.monotonic() - start


def test_collectives_across_processes(tmp_path):
    proc, results, _ = mpirun("collectives", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert [r["rank"] for r in results] == [0, 1]
    for r in results:
        assert r["size"] == 2
        assert r["checks"] and all(r["checks"].values()), r["checks"]


def test_mismatched_shapes_are_reported_with_every_rank(tmp_path):
    proc, results, _ = mpirun("mismatch", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert len(results) == 2
    for r in results:
        assert "rank 0: sum of float64[3]" in r["error"]
        assert "rank 1: sum of float64[4]" in r["error"]
        assert "gradient all-reduce" in r["error_gradients"]
        assert "rank 0: reduce_scatter of float64[7]" in r["error_gradients"]
        assert "rank 1: reduce_scatter of float64[8]" in r["error_gradients"]
        assert "rank 0: sum of float64[2]" in r["error_scan"]  # inside the loop
        assert "rank 1: sum of float64[3]" in r["error_scan"]


def test_a_hanging_rank_makes_the_others_fail_within_the_timeout(tmp_path):
    proc, results, wall = mpirun("dead", tmp_path, worker_timeout=2.0)
    (r,) = results  # rank 0 reported; rank 1 was still asleep when the job was aborted
    assert r["rank"] == 0 and "did not complete within 2 s" in r["error"]
    assert 1.9 < r["elapsed"] < 10.0
    assert wall < 30.0


def test_a_dead_rank_ends_the_job(tmp_path):
    # MPICH's launcher ends the whole job at once, with the dead process's exit code (3) or
    # that of the survivor it killed (9), whichever it notes first.
    proc, results, wall = mpirun("killed", tmp_path, worker_timeout=30.0)
    assert proc.returncode in (3, 9) and results == []
    assert wall < 20.0


def test_a_dead_rank_makes_the_others_fail_clearly_when_the_launcher_lets_them_live(tmp_path):
    # Under -disable-auto-cleanup the launcher signals the survivors: they raise at once,
    # long before their 30 s deadline.
    proc, results, wall = mpirun("killed", tmp_path, worker_timeout=30.0,
                                 launcher=("-disable-auto-cleanup",))  # fmt: skip
    (r,) = results
    assert r["rank"] == 0 and "another process of the job has died" in r["error"]
    assert r["elapsed"] < 15.0 and wall < 25.0


def test_a_rank_that_left_makes_the_others_fail_within_the_timeout(tmp_path):
    proc, results, wall = mpirun("exited", tmp_path, worker_timeout=2.0)
    (r,) = results
    assert r["rank"] == 0 and "did not complete within 2 s" in r["error"]
    assert "gradient all-reduce of float64[3]" in r["error"]
    assert 1.9 < r["elapsed"] < 10.0
    assert wall < 30.0


def test_two_process_training_matches_one_process_on_the_combined_batch(tmp_path, x64):
    proc, results, _ = mpirun("train", tmp_path, timeout=120.0)
    assert proc.returncode == 0, proc.stderr
    assert all(r["saved"] for r in results)  # check_identical passed on both ranks first
    got = vfunc.io.load(tmp_path / "params.safetensors")
    want = train()
    assert sorted(got) == sorted(want)
    for name in want:
        np.testing.assert_allclose(np.asarray(got[name]), np.asarray(want[name]), rtol=1e-12,
                                   atol=1e-13, err_msg=name)  # fmt: skip


def test_vfunc_imports_without_mpi4py():
    code = (
        "import sys; sys.modules['mpi4py'] = None\n"
        "import vfunc, vfunc.distributed as d\n"
        "assert d.process_index() == 0 and d.process_count() == 1\n"
        "try:\n    d.initialize()\nexcept ImportError as e:\n    print(e)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(HERE.parent))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "pip install 'vfunc[distributed]'" in proc.stdout


def test_digits_example_runs_data_parallel_under_mpiexec(tmp_path):
    # The README's example, unchanged, on 2 processes for a tiny budget: rank 0 alone writes
    # the checkpoints and the PNG, every epoch checks the models are bit-identical across the
    # processes (the script raises otherwise), and both report the same test accuracy.
    for module in ("sklearn", "matplotlib", "tqdm", "safetensors"):
        pytest.importorskip(module, reason="the examples extra: pip install -e '.[examples]'")
    out = tmp_path / "run"
    env = dict(os.environ, VFUNC_DISTRIBUTED_TIMEOUT="120")
    env["PYTHONPATH"] = os.pathsep.join([str(HERE.parent), env.get("PYTHONPATH", "")])
    script = HERE.parent / "examples" / "train_digits.py"
    flags = ["--epochs", "2", "--limit", "96", "--batch-size", "32", "--out", str(out)]
    proc = subprocess.run([MPIEXEC, "-n", "2", sys.executable, str(script), *flags], env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "data-parallel over 2 processes" in proc.stdout
    reports = sorted(line for line in proc.stdout.splitlines() if "test accuracy" in line)
    assert [line[:12] for line in reports] == ["rank 0 of 2:", "rank 1 of 2:"]
    assert reports[0].split(":")[1].split(";")[0] == reports[1].split(":")[1].split(";")[0]
    assert proc.stdout.count("saved ") == 1
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint_3.safetensors", "checkpoint_6.safetensors", "digits.png"]  # fmt: skip
    meta = vfunc.io.checkpoint_metadata(out)
    assert meta["epoch"] == 2 and len(meta["history"]["test_acc"]) == 2


def test_result_buffers_are_recycled_only_once_released():
    from vfunc.core import wrap_numpy
    from vfunc.distributed.mpi import _Recycler

    pool = _Recycler(keep=2)
    n = (2 << 20) // 4  # above the size worth recycling
    first = pool.empty(n, np.float32)
    first[:] = 1.0
    held = wrap_numpy(first[10:20].reshape(2, 5))  # a result handed out: a view of the buffer
    address = first.__array_interface__["data"][0]
    del first
    second = pool.empty(n, np.float32)  # the first is still held through the view
    assert second.__array_interface__["data"][0] != address
    np.testing.assert_array_equal(np.asarray(held), 1.0)
    del held, second
    third = pool.empty(n, np.float32)  # now nothing holds the first: it comes back
    assert third.__array_interface__["data"][0] == address
    assert pool.empty(n, np.float64) is not third  # another dtype: another buffer
    small = pool.empty(10, np.float32)
    assert not any(b is small for b in pool.buffers)  # small buffers are not kept
