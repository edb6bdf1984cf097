"""Gradient costs, one run, reported as ratios (issue 4).

1. Eager ``value_and_grad`` of an MLP loss (784-512-512-10, batch 128) against the forward pass
   alone: target at most 3x (the cheap-gradient principle).
2. Eager ``grad`` per-call time of a tiny scalar function against HIPS autograd and PyTorch
   eager when they are importable (install them in a scratch environment, never as vfunc
   dependencies): target faster than both.
3. Eager ``grad`` of ``sum(sin(x) * x)`` for float32[8] against PyTorch doing the same
   (``x.requires_grad``, forward, ``backward``, read ``.grad``), in process CPU time (issue 18:
   at most PyTorch's time).
4. ``checkpoint``: peak memory of the gradient of a deep tanh chain with and without
   rematerialization (tracemalloc sees numpy's buffers).

Run with the OpenBLAS overrides unset:
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_grad.py
"""

from __future__ import annotations

import tracemalloc

import numpy as np
from timing import best_time

import vfunc
import vfunc.numpy as vnp


def mlp_params(rng: np.random.Generator) -> dict:
    sizes = [784, 512, 512, 10]
    params = {}
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        params[f"w{i}"] = vnp.asarray(rng.normal(0, n_in**-0.5, (n_in, n_out)).astype(np.float32))
        params[f"b{i}"] = vnp.zeros(n_out)
    return params


def mlp_loss(params: dict, x, labels) -> vfunc.Array:
    h = x
    for i in range(3):
        h = h @ params[f"w{i}"] + params[f"b{i}"]
        if i < 2:
            h = vnp.where(h > 0, h, 0.0)
    shifted = h - vfunc.lax.stop_gradient(h.max(axis=1, keepdims=True))
    log_probs = shifted - vnp.log(vnp.exp(shifted).sum(axis=1, keepdims=True))
    return -(log_probs * labels).sum(axis=1).mean()


def bench_mlp() -> None:
    rng = np.random.default_rng(0)
    params = mlp_params(rng)
    x = vnp.asarray(rng.normal(size=(128, 784)).astype(np.float32))
    labels = vnp.asarray(np.eye(10, dtype=np.float32)[rng.integers(0, 10, 128)])
    forward = best_time(lambda: mlp_loss(params, x, labels), number=5)
    both = best_time(lambda: vfunc.value_and_grad(mlp_loss)(params, x, labels), number=5)
    print("MLP 784-512-512-10, batch 128 (eager)")
    print(f"  forward          {forward * 1e3:8.3f} ms")
    print(f"  value_and_grad   {both * 1e3:8.3f} ms   ratio {both / forward:5.2f}x (target <= 3x)")


def bench_tiny() -> None:
    def f(x):
        return vnp.sum(vnp.tanh(x) * x)

    x = vnp.ones(4)
    g = vfunc.grad(f)
    rows = [("vfunc grad", best_time(lambda: g(x), number=2000))]
    try:
        import autograd
        import autograd.numpy as anp

        ag = autograd.grad(lambda v: anp.sum(anp.tanh(v) * v))
        xa = np.ones(4, dtype=np.float32)
        rows.append(("HIPS autograd grad", best_time(lambda: ag(xa), number=2000)))
    except ImportError:
        rows.append(("HIPS autograd grad", None))
    try:
        import torch

        torch.set_num_threads(2)
        xt = torch.ones(4, requires_grad=True)

        def torch_grad():
            (out,) = torch.autograd.grad((torch.tanh(xt) * xt).sum(), xt)
            return out

        rows.append(("PyTorch eager grad", best_time(torch_grad, number=2000)))
    except ImportError:
        rows.append(("PyTorch eager grad", None))
    print("grad of sum(tanh(x) * x), x of 4 elements, per call")
    base = rows[0][1]
    for name, t in rows:
        if t is None:
            print(f"  {name:20s}   not installed")
        else:
            print(f"  {name:20s} {t * 1e6:8.1f} us   vfunc / this = {base / t:5.2f}")


def bench_tiny_vs_torch() -> None:
    import time
    import timeit

    def cpu_us(fn, number: int = 2000, repeat: int = 25) -> float:
        # CPU time: on a machine shared with other work, wall time measures the neighbours.
        return min(timeit.repeat(fn, number=number, repeat=repeat, timer=time.process_time)) / (
            number / 1e6
        )

    x = vnp.asarray(np.linspace(-1, 1, 8, dtype=np.float32))
    g = vfunc.grad(lambda v: vnp.sum(vnp.sin(v) * v))
    ours = cpu_us(lambda: g(x))
    print("grad of sum(sin(x) * x), x float32[8], per call (CPU time)")
    print(f"  {'vfunc grad':20s} {ours:8.1f} us")
    try:
        import torch
    except ImportError:
        print(f"  {'PyTorch':20s}   not installed")
        return
    torch.set_num_threads(1)
    x0 = torch.linspace(-1, 1, 8, dtype=torch.float32)

    def torch_grad():
        xt = x0.detach().requires_grad_(True)
        torch.sum(torch.sin(xt) * xt).backward()
        return xt.grad

    theirs = cpu_us(torch_grad)
    verdict = "PASS" if ours <= theirs else "FAIL"
    print(f"  {'PyTorch backward':20s} {theirs:8.1f} us   vfunc / this = {ours / theirs:5.2f} "
          f"(target <= 1): {verdict}")  # fmt: skip


def bench_checkpoint() -> None:
    def block(x):
        for _ in range(8):
            x = vnp.tanh(x * 1.01)
        return x

    def loss(x, remat):
        layer = vfunc.checkpoint(block) if remat else block
        for _ in range(8):
            x = layer(x)
        return x.sum()

    x = vnp.ones((256, 1024)) * 0.1
    peaks = {}
    times = {}
    for remat in (False, True):
        grad_fn = vfunc.grad(lambda v, r=remat: loss(v, r))
        grad_fn(x)
        tracemalloc.start()
        grad_fn(x)
        peaks[remat] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        times[remat] = best_time(lambda g=grad_fn: g(x), repeat=3)
    print("grad of 64 tanh layers on 256x1024 float32 (8 checkpointed blocks of 8)")
    print(f"  plain        peak {peaks[False] / 2**20:7.1f} MiB   {times[False] * 1e3:7.1f} ms")
    print(f"  checkpoint   peak {peaks[True] / 2**20:7.1f} MiB   {times[True] * 1e3:7.1f} ms")
    print(f"  memory ratio {peaks[True] / peaks[False]:.2f}x, time ratio "
          f"{times[True] / times[False]:.2f}x")  # fmt: skip


if __name__ == "__main__":
    bench_mlp()
    bench_tiny()
    bench_tiny_vs_torch()
    bench_checkpoint()
