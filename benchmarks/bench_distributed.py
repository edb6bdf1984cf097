"""Communication cost of vfunc.distributed between 2 processes, one run (issue 20).

1. All-reduce of 100 MB of float32 (25 M values) between 2 processes: ``psum`` under
   ``vfunc.distributed.spmd`` (eager), the same in a jit-compiled function, and
   ``DataParallel.mean_gradients`` (reduce-scatter + all-gather, bit-identical results) on one
   100 MB leaf and on 100 leaves of 1 MB (packed into one bucket), each against a raw mpi4py
   ``Allreduce`` on the same numpy buffers. Target: at most 1.1x raw.
2. Time per step of data-parallel training of the digits CNN (examples/train_digits.py's
   model, global batch 128): 1 process on the whole batch vs 2 processes on 64 rows each,
   and the share of the 2-process step spent averaging gradients.

Run with the OpenBLAS overrides unset (it starts the MPI jobs itself):
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_distributed.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPS = 8


def worker_allreduce() -> dict:
    from mpi4py import MPI

    import vfunc
    import vfunc.numpy as vnp
    from vfunc import lax
    from vfunc.distributed import DataParallel, initialize, spmd

    world = initialize()
    comm = world.comm
    x = np.random.default_rng(comm.rank).standard_normal(25_000_000).astype(np.float32)
    out = np.empty_like(x)
    xv = vnp.asarray(x)
    psum = spmd(lambda v: lax.psum(v, "p"), "p")
    psum_jit = spmd(vfunc.jit(lambda v: lax.psum(v, "p")), "p")
    dp = DataParallel(bucket_bytes=200 << 20)
    # The same 100 MB as 100 leaves of 1 MB: packed into one bucket (one copy) first.
    leaves = {f"w{k}": vnp.asarray(x[k * 250_000 : (k + 1) * 250_000]) for k in range(100)}

    candidates = {
        "raw mpi4py Allreduce": lambda: comm.Allreduce(x, out, MPI.SUM),
        "vfunc psum (spmd)": lambda: psum(xv),
        "vfunc psum (jit, spmd)": lambda: psum_jit(xv),
        "mean_gradients (1 leaf)": lambda: dp.mean_gradients({"g": xv}),
        "mean_gradients (100 leaves)": lambda: dp.mean_gradients(leaves),
    }
    for fn in candidates.values():
        fn()  # warm up (and compile)
    # Round robin, so drift in the machine's load touches every candidate alike.
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(REPS):
        for name, fn in candidates.items():
            comm.Barrier()
            start = time.perf_counter()
            fn()
            comm.Barrier()
            times[name].append(time.perf_counter() - start)
    result = {name: float(np.median(t)) for name, t in times.items()}
    np.testing.assert_array_equal(np.asarray(psum(xv)), out)  # the same sum as raw MPI
    return result


def worker_step() -> dict:
    sys.path.insert(0, str(HERE.parent / "examples"))
    from train_digits import DigitsCNN  # the example's model, unchanged

    import vfunc
    import vfunc.numpy as vnp
    from vfunc import losses, nn, optim, random
    from vfunc.distributed import DataParallel, initialize

    world = initialize()
    dp = DataParallel()
    rng = np.random.default_rng(0)
    x = vnp.asarray(rng.standard_normal((128, 1, 8, 8)).astype(np.float32))
    y = vnp.asarray(rng.integers(0, 10, 128).astype(np.int32))
    xs, ys = dp.shard(x), dp.shard(y)
    model = dp.replicate(DigitsCNN(key=random.key(0)))
    opt = optim.adamw(1e-3)
    state = opt.init(model)
    key = random.key(1)

    @vfunc.jit
    def grads_of(model, x, y, key):
        def loss_fn(model):
            logits, _ = nn.call_with_state(model, x, key=key)
            return losses.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        return vfunc.grad(loss_fn)(model)

    @vfunc.jit
    def apply(model, state, grads):
        updates, state = opt.update(grads, state, model)
        return optim.apply_updates(model, updates), state

    timings = {"compute": [], "communicate": [], "step": []}
    for i in range(30):
        world.barrier()
        t0 = time.perf_counter()
        g = grads_of(model, xs, ys, key)
        vfunc.block_until_ready(g)
        t1 = time.perf_counter()
        if dp.size > 1:
            g = dp.mean_gradients(g)
        t2 = time.perf_counter()
        model, state = apply(model, state, g)
        vfunc.block_until_ready(model)
        t3 = time.perf_counter()
        if i >= 5:  # after compilation
            timings["compute"].append(t1 - t0 + t3 - t2)
            timings["communicate"].append(t2 - t1)
            timings["step"].append(t3 - t0)
    return {k: float(np.median(v)) for k, v in timings.items()} | {
        "params": nn.count_params(model), "processes": dp.size}  # fmt: skip


def _launch(n: int, mode: str) -> dict:
    mpiexec = shutil.which("mpiexec") or str(Path(sys.executable).parent / "mpiexec")
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")])
    )
    proc = subprocess.run(
        [mpiexec, "-n", str(n), sys.executable, __file__, "--worker", mode],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode or not lines:
        raise RuntimeError(f"{mode} with {n} processes failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[0])


def main() -> None:
    ar = _launch(2, "allreduce")
    raw = ar["raw mpi4py Allreduce"]
    print("All-reduce of 100 MB float32 between 2 processes (median of 8):")
    for name, t in ar.items():
        print(f"  {name:30s} {t * 1e3:8.1f} ms   {t / raw:5.2f}x raw")
    sys.stdout.flush()
    one, two = _launch(1, "step"), _launch(2, "step")
    print(f"\nDigits CNN ({one['params']:,} parameters), global batch 128, median ms per step:")
    print(f"  1 process : {one['step'] * 1e3:7.2f}")
    print(f"  2 process : {two['step'] * 1e3:7.2f}  (compute {two['compute'] * 1e3:.2f}, "
          f"gradient averaging {two['communicate'] * 1e3:.2f} = "
          f"{two['communicate'] / two['step']:.0%} of the step)")  # fmt: skip
    print(f"  speed-up  : {one['step'] / two['step']:.2f}x")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        result = {"allreduce": worker_allreduce, "step": worker_step}[sys.argv[2]]()
        from vfunc.distributed import process_index

        if process_index() == 0:
            print(json.dumps(result), flush=True)
    else:
        main()
