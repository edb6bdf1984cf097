"""The per-process program of tests/test_distributed.py: ``mpiexec -n 2 python
tests/distributed_worker.py MODE OUT_DIR``. Each mode writes ``OUT_DIR/rank{r}.json``."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

import vfunc
import vfunc.numpy as vnp
from vfunc import grad, jit, lax, optim, vmap

STEPS, BATCH, D_IN, D_HIDDEN, D_OUT = 20, 16, 5, 8, 3



def _report(out_dir: str, rank: int, result: dict) -> None:
    """Write this rank's result atomically: a rank aborted mid-write leaves no half file."""
    scratch = Path(out_dir, f".rank{rank}.json.tmp")
    scratch.write_text(json.dumps(result))
    os.replace(scratch, Path(out_dir, f"rank{rank}.json"))

def init_params(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "w1": vnp.asarray(rng.standard_normal((D_IN, D_HIDDEN)) * 0.5),
        "b1": vnp.zeros(D_HIDDEN),
        "w2": vnp.asarray(rng.standard_normal((D_HIDDEN, D_OUT)) * 0.5),
        "b2": vnp.zeros(D_OUT),
    }


def batches():
    rng = np.random.default_rng(1)
    for _ in range(STEPS):
        x = rng.standard_normal((BATCH, D_IN))
        yield vnp.asarray(x), vnp.asarray(np.sin(x[:, :D_OUT]) + 0.1 * x[:, -D_OUT:])


def loss(params, x, y):
    h = vnp.tanh(x @ params["w1"] + params["b1"])
    return vnp.mean((h @ params["w2"] + params["b2"] - y) ** 2)


def train(dp=None) -> dict:
    """20 Adam steps; with ``dp`` each process trains on its shard and averages gradients."""
    # Rank-dependent initial values: replicate() must make them rank 0's.
    params = init_params(0 if dp is None else dp.rank)
    if dp is not None:
        params = dp.replicate(params)
    opt = optim.adam(0.05)
    state = opt.init(params)
    step = jit(grad(loss))
    for x, y in batches():
        if dp is not None:
            x, y = dp.shard(x), dp.shard(y)
        g = step(params, x, y)
        if dp is not None:
            g = dp.mean_gradients(g)
        updates, state = opt.update(g, state, params)
        params = optim.apply_updates(params, updates)
    return params


def expect_collectives(rank: int, size: int) -> dict:
    from vfunc.distributed import spmd

    def member(r):  # every rank's input, so each rank can compute the expectation itself
        return np.arange(size * 6, dtype=np.float64).reshape(size, 6)[::-1] * (r + 1) - r

    xs = np.stack([member(r) for r in range(size)])  # (ranks, size, 6)
    mine = vnp.asarray(xs[rank])
    c = np.arange(size * size * 6.0).reshape(size, size, 6)
    got = {}

    def run(f, *args):
        return np.asarray(spmd(f, "p")(*args))

    checks = {
        "psum": (run(lambda v: lax.psum(v, "p"), mine), xs.sum(0)),
        "pmean": (run(lambda v: lax.pmean(v, "p"), mine), xs.mean(0)),
        "pmax": (run(lambda v: lax.pmax(v, "p"), mine), xs.max(0)),
        "pmin": (run(lambda v: lax.pmin(v, "p"), mine), xs.min(0)),
        "all_gather": (run(lambda v: lax.all_gather(v, "p", axis=1), mine), np.moveaxis(xs, 0, 1)),
        "all_gather_tiled": (run(lambda v: lax.all_gather(v, "p", tiled=True), mine),
                             xs.reshape(size * size, 6)),
        "psum_scatter": (run(lambda v: lax.psum_scatter(v, "p"), mine), xs.sum(0)[rank]),
        "psum_scatter_tiled_1": (
            run(lambda v: lax.psum_scatter(v, "p", scatter_dimension=1, tiled=True), mine),
            xs.sum(0)[:, rank * 6 // size : (rank + 1) * 6 // size],
        ),
        "all_to_all": (run(lambda v: lax.all_to_all(v, "p", 0, 0), mine), xs[:, rank]),
        "all_to_all_tiled": (run(lambda v: lax.all_to_all(v, "p", 1, 0, tiled=True), mine),
                             np.concatenate([x[:, rank * 6 // size:(rank + 1) * 6 // size]
                                             for x in xs], 0)),
        "ppermute": (run(lambda v: lax.ppermute(v, "p", [(r, (r + 1) % size)
                                                         for r in range(size)]), mine),
                     xs[(rank - 1) % size]),
        "axis_index": (run(lambda: lax.axis_index("p")), rank),
        "axis_size": (spmd(lambda: lax.axis_size("p"), "p")(), size),
        "launched_processes": (vfunc.distributed.launched_processes(), size),
        "jit_psum": (run(jit(lambda v: lax.psum(vnp.sin(v), "p")), mine), np.sin(xs).sum(0)),
        # The transpose of psum is psum: each rank's gradient is the sum of every rank's g.
        "grad_psum": (run(grad(lambda v: vnp.sum(lax.psum(v, "p") * vnp.cos(v))), mine),
                      np.cos(xs).sum(0)
                      - np.sin(xs[rank]) * xs.sum(0)),
        # all_gather transposes to psum_scatter: every rank's cotangent c, block rank, summed.
        "grad_all_gather": (
            run(grad(lambda v: vnp.sum(lax.all_gather(v, "p") * vnp.asarray(c))), mine),
            size * c[rank],
        ),
        # A named vmap inside the process axis: both kinds of axes in one program.
        "vmap_inside": (run(vmap(lambda v: lax.psum(lax.psum(v, "i"), "p"), axis_name="i"), mine),
                        np.broadcast_to(xs.sum((0, 1)), (size, 6))),
    }  # fmt: skip
    for name, (value, want) in checks.items():
        got[name] = bool(np.allclose(value, want, rtol=1e-12, atol=1e-12))
    return got


def control_flow_programs(size: int) -> dict:
    """Collectives over the process axis ``p`` inside cond / scan / while_loop / fori_loop
    bodies (predicates the same on every process: divergent branches would call different
    collectives), and gradients through them."""
    ring = [(r, (r + 1) % size) for r in range(size)]

    def scan_psum(v):
        return lax.scan(lambda c, y: (c + lax.psum(y, "p"), c), 0.0, v[:, 0])

    def scan_carry(v):
        def body(c, y):
            c = c * 0.5 + y - lax.pmean(c * y, "p")
            return c, lax.psum(c, "p") - c

        return lax.scan(body, v[0], v)

    def scan_ring(v):
        def body(c, _):
            c = lax.ppermute(c, "p", ring)
            return c, c + lax.axis_index("p")

        return lax.scan(body, v[0], None, length=size + 1)

    def cond_shared(v):
        return lax.cond(lax.psum(v.sum(), "p") > 0, lambda u: u - lax.pmean(u, "p"),
                        lambda u: 2.0 * u, v)  # fmt: skip

    def while_shared(v):
        def body(c):
            return c[0] + 1, c[1] + 0.1 * lax.psum(c[1], "p")

        return lax.while_loop(lambda c: c[0] < 3, body, (0, v))

    def while_pred_collective(v):
        return lax.while_loop(lambda u: lax.pmax(u.sum(), "p") < 40.0,
                              lambda u: u + vnp.abs(lax.pmean(u, "p")), v)  # fmt: skip

    def fori(v):
        return lax.fori_loop(0, 3, lambda k, u: u * 0.5 + lax.pmean(u * k, "p"), v)

    def loss(v):
        c, ys = scan_carry(v)
        return (c**2).sum() + vnp.sin(ys).sum() + (cond_shared(v) ** 2).sum() + fori(v).sum()

    return {
        "cf_scan_psum": scan_psum,
        "cf_scan_carry": scan_carry,
        "cf_scan_ring": scan_ring,
        "cf_cond_shared": cond_shared,
        "cf_while_shared": while_shared,
        "cf_while_pred_collective": while_pred_collective,
        "cf_fori": fori,
        "cf_grad": grad(loss),
        "cf_jit_scan_carry": jit(scan_carry),
        "cf_jit_grad": jit(grad(loss)),
    }


def expect_control_flow(rank: int, size: int) -> dict:
    """Each program across processes against the same program under a named vmap over every
    process's input in this process (that vmap is itself checked against JAX in
    tests/test_collectives.py)."""
    from vfunc.distributed import spmd

    xs = np.random.default_rng(7).standard_normal((size, 5, 3))
    got = {}
    for name, fun in control_flow_programs(size).items():
        here = vfunc.tree.leaves(spmd(fun, "p")(vnp.asarray(xs[rank])))
        every = vfunc.tree.leaves(vmap(fun, axis_name="p")(vnp.asarray(xs)))
        got[name] = len(here) == len(every) and all(
            np.allclose(np.asarray(a), np.asarray(b)[rank], rtol=1e-12, atol=1e-12)
            for a, b in zip(here, every, strict=True)
        )
    return got


def expect_recycling(rank: int, size: int) -> dict:
    """Large results come from recycled buffers: one still held is never overwritten."""
    from vfunc.distributed import DataParallel, spmd

    dp = DataParallel()
    n = 700_000  # float64: above the size worth recycling

    def grads(k):  # rank- and call-dependent; two leaves (packed) and one of another dtype
        base = np.arange(n, dtype=np.float64) * (rank + 1) + k
        return {"a": vnp.asarray(base[: n // 2]), "b": vnp.asarray(base[n // 2 :]),
                "c": vnp.asarray(base.astype(np.float32))}  # fmt: skip

    def want(k):
        every = [np.arange(n, dtype=np.float64) * (r + 1) + k for r in range(size)]
        return sum(every) / size

    held = [dp.mean_gradients(grads(k)) for k in range(6)]  # all held: six buffers per dtype
    psum = spmd(lambda v: lax.psum(v, "p"), "p")
    sums = [psum(vnp.full(n, float(rank + k))) for k in range(6)]
    ok = {}
    for k, g in enumerate(held):
        ok[f"recycled_{k}"] = bool(
            np.array_equal(np.concatenate([np.asarray(g["a"]), np.asarray(g["b"])]), want(k))
            and np.array_equal(np.asarray(g["c"]), want(k).astype(np.float32))
            and np.array_equal(np.asarray(sums[k]), np.full(n, sum(r + k for r in range(size))))
        )
    del held, sums
    for k in range(3):  # released each time: the same buffer serves again
        g = dp.mean_gradients(grads(k))
        ok[f"reused_{k}"] = bool(np.array_equal(np.asarray(g["b"]), want(k)[n // 2 :]))
        del g
    return ok


def main(mode: str, out_dir: str) -> None:
    from vfunc.distributed import (
        DataParallel,
        DistributedError,
        DistributedTimeoutError,
        initialize,
        process_count,
        process_index,
        spmd,
    )

    vfunc.config.update("enable_x64", True)
    world = initialize(timeout=float(os.environ.get("WORKER_TIMEOUT", "60")))
    rank, size = process_index(), process_count()
    result: dict = {"rank": rank, "size": size}
    if mode == "collectives":
        result["checks"] = (expect_collectives(rank, size) | expect_control_flow(rank, size)
                            | expect_recycling(rank, size))  # fmt: skip
    elif mode == "mismatch":
        try:
            spmd(lambda v: lax.psum(v, "p"), "p")(vnp.ones(3 + rank))
        except DistributedError as err:
            result["error"] = str(err)
        try:  # rank 1's model has one more parameter
            DataParallel().mean_gradients({"w": vnp.ones((2, 3)), "b": vnp.ones(1 + rank)})
        except DistributedError as err:
            result["error_gradients"] = str(err)
        try:  # and inside a scan body, under jit
            scan = jit(lambda v: lax.scan(lambda c, y: (c + lax.psum(y * c, "p"), c), v[0], v)[0])
            spmd(scan, "p")(vnp.ones((4, 2 + rank)))
        except DistributedError as err:
            result["error_scan"] = str(err)
    elif mode == "dead":
        if rank == 1:
            time.sleep(30)  # hangs instead of joining the collective; the job is aborted first
        start = time.monotonic()
        try:
            spmd(lambda v: lax.psum(v, "p"), "p")(vnp.ones(3))
        except DistributedTimeoutError as err:
            result["error"] = str(err)
            result["elapsed"] = time.monotonic() - start
        _report(out_dir, rank, result)
        world.comm.Abort(0)  # rank 1 is still asleep: end the job
    elif mode == "killed":
        start = time.monotonic()
        try:
            if rank == 1:
                time.sleep(1.0)
                os._exit(3)  # dies without a word
            spmd(lambda v: lax.psum(v, "p"), "p")(vnp.ones(3))
        except DistributedError as err:  # only when the launcher lets this process live
            result["error"] = str(err)
            result["elapsed"] = time.monotonic() - start
        _report(out_dir, rank, result)
        world.comm.Abort(0)
    elif mode == "exited":
        if rank == 1:
            sys.exit(0)  # leaves cleanly, without joining the collective
        start = time.monotonic()
        try:
            DataParallel().mean_gradients({"w": vnp.ones(3)})
        except DistributedTimeoutError as err:
            result["error"] = str(err)
            result["elapsed"] = time.monotonic() - start
        _report(out_dir, rank, result)
        world.comm.Abort(0)
    elif mode == "train":
        dp = DataParallel(bucket_bytes=256)  # small buckets: several messages per step
        params = train(dp)
        dp.check_identical(params)
        dp.save(Path(out_dir, "params.safetensors"), params)
        result["saved"] = True
    _report(out_dir, rank, result)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
