"""vfunc on an NVIDIA GPU (CuPy backend) beside PyTorch CUDA and JAX GPU, one run (issue 21).

- the device's copy bandwidth: a 64M-element float32 device-to-device copy, bytes read plus
  written over the median time: the ceiling for the elementwise rows;
- GELU (tanh form) on 64M float32: vfunc eager, vfunc jit, a hand-written CuPy
  ElementwiseKernel (what one fused kernel reaches), PyTorch, JAX jit; as GB/s (8 bytes moved
  per element: one read, one write) and as a fraction of the copy bandwidth;
- an MLP train step, 784-512-512-10 (ReLU), batch 4096, cross-entropy, SGD inside the step:
  vfunc jit(value_and_grad), PyTorch eager, JAX jit; milliseconds per step (median).

    PYTHONPATH=$PWD python benchmarks/bench_gpu.py

Times are medians of repeated runs after a warm-up, with the device synchronized around each
(CUDA events would time the same kernels; synchronizing keeps the Python overhead in, which is
what a training loop pays). Each framework's losses are printed as a check.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

N_GELU = 64 * 1024 * 1024


def median_time(fn: Callable[[], Any], sync: Callable[[], None], repeat: int = 20) -> float:
    """Median seconds per call of ``fn``, the device synchronized before and after each."""
    fn()
    sync()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _cupy_rows(rows: dict) -> float:
    import cupy as cp

    sync = cp.cuda.get_current_stream().synchronize
    a = cp.random.standard_normal(N_GELU, dtype=cp.float32)
    b = cp.empty_like(a)
    t = median_time(lambda: b.__setitem__(Ellipsis, a), sync)
    copy_bw = 2 * a.nbytes / t
    rows["copy (device to device)"] = ("", t, copy_bw)
    kernel = cp.ElementwiseKernel(
        "float32 x", "float32 y",
        "float u = 0.7978845608f * (x + 0.044715f * x * x * x); y = 0.5f * x * (1.f + tanhf(u));",
        "gelu_hand",
    )  # fmt: skip
    t = median_time(lambda: kernel(a, b), sync)
    rows["GELU, CuPy ElementwiseKernel (one fused kernel)"] = ("", t, 2 * a.nbytes / t)
    return copy_bw


def _vfunc_gelu(rows: dict) -> None:
    import cupy as cp

    import vfunc
    from vfunc import nn

    sync = cp.cuda.get_current_stream().synchronize
    gpu = vfunc.devices("gpu")[0]
    x = vfunc.device_put(np.random.default_rng(0).standard_normal(N_GELU, np.float32), gpu)
    nbytes = 2 * 4 * N_GELU
    t = median_time(lambda: nn.gelu(x), sync, repeat=5)
    rows["GELU, vfunc eager"] = ("", t, nbytes / t)
    jitted = vfunc.jit(nn.gelu)
    t = median_time(lambda: jitted(x), sync, repeat=5)
    rows["GELU, vfunc jit"] = ("", t, nbytes / t)
    ref = np.asarray(nn.gelu(vfunc.device_put(x, "cpu")[:1024]))
    np.testing.assert_allclose(np.asarray(jitted(x))[:1024], ref, rtol=1e-5, atol=1e-6)


def _torch_gelu(rows: dict) -> None:
    import torch

    x = torch.randn(N_GELU, device="cuda")
    f = torch.nn.functional.gelu
    t = median_time(lambda: f(x, approximate="tanh"), torch.cuda.synchronize)
    rows["GELU, PyTorch"] = ("", t, 2 * x.nbytes / t)


def _jax_gelu(rows: dict) -> None:
    import jax
    import jax.numpy as jnp

    x = jax.random.normal(jax.random.key(0), (N_GELU,), jnp.float32)
    f = jax.jit(jax.nn.gelu)
    out = [f(x)]

    def run() -> None:
        out[0] = f(x)

    t = median_time(run, lambda: out[0].block_until_ready())
    rows["GELU, JAX jit"] = ("", t, 2 * 4 * N_GELU / t)


# --------------------------------------------------------------------------------------------
# MLP step

SIZES = (784, 512, 512, 10)
BATCH = 4096
LR = 0.01


def _mlp_weights() -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    ws = []
    for a, b in zip(SIZES[:-1], SIZES[1:], strict=True):
        ws.append((rng.standard_normal((a, b)) / np.sqrt(a)).astype(np.float32))
        ws.append(np.zeros(b, np.float32))
    x = rng.standard_normal((BATCH, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], BATCH).astype(np.int32)
    return ws, x, y


def _vfunc_mlp(rows: dict) -> None:
    import cupy as cp

    import vfunc
    import vfunc.numpy as vnp
    from vfunc import nn

    gpu = vfunc.devices("gpu")[0]
    ws, x, y = _mlp_weights()
    params = vfunc.device_put(ws, gpu)
    x, y = vfunc.device_put((x, y), gpu)

    def loss(p, x, y):
        h = x
        for i in range(0, len(p) - 2, 2):
            h = nn.relu(h @ p[i] + p[i + 1])
        logits = h @ p[-2] + p[-1]
        logp = nn.log_softmax(logits)
        return -vnp.mean(vnp.take_along_axis(logp, y[:, None], axis=1))

    @vfunc.jit
    def step(p, x, y):
        value, g = vfunc.value_and_grad(loss)(p, x, y)
        return value, [a - LR * b for a, b in zip(p, g, strict=True)]

    state = [params]
    losses = []

    def run() -> None:
        value, state[0] = step(state[0], x, y)
        losses.append(value)

    t = median_time(run, cp.cuda.get_current_stream().synchronize)
    rows["MLP step, vfunc jit"] = (f"loss {float(losses[0]):.4f}", t, None)


def _torch_mlp(rows: dict) -> None:
    import torch

    ws, x, y = _mlp_weights()
    p = [torch.tensor(w, device="cuda", requires_grad=True) for w in ws]
    xt, yt = torch.tensor(x, device="cuda"), torch.tensor(y, device="cuda").long()
    losses = []

    def run() -> None:
        h = xt
        for i in range(0, len(p) - 2, 2):
            h = torch.relu(h @ p[i] + p[i + 1])
        loss = torch.nn.functional.cross_entropy(h @ p[-2] + p[-1], yt)
        for q in p:
            q.grad = None
        loss.backward()
        with torch.no_grad():
            for q in p:
                q -= LR * q.grad
        losses.append(loss.detach())

    torch.backends.cuda.matmul.allow_tf32 = False  # float32 products, as vfunc's cuBLAS calls
    t = median_time(run, torch.cuda.synchronize)
    rows["MLP step, PyTorch eager"] = (f"loss {float(losses[0]):.4f}", t, None)


def _jax_mlp(rows: dict) -> None:
    import jax
    import jax.numpy as jnp

    ws, x, y = _mlp_weights()
    p = [jnp.asarray(w) for w in ws]
    xj, yj = jnp.asarray(x), jnp.asarray(y)

    def loss(p, x, y):
        h = x
        for i in range(0, len(p) - 2, 2):
            h = jax.nn.relu(h @ p[i] + p[i + 1])
        logp = jax.nn.log_softmax(h @ p[-2] + p[-1])
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    @jax.jit
    def step(p, x, y):
        value, g = jax.value_and_grad(loss)(p, x, y)
        return value, [a - LR * b for a, b in zip(p, g, strict=True)]

    state = [p, None]
    losses = []

    def run() -> None:
        state[1], state[0] = step(state[0], xj, yj)
        losses.append(state[1])

    with jax.default_matmul_precision("float32"):
        t = median_time(run, lambda: state[1].block_until_ready())
    rows["MLP step, JAX jit"] = (f"loss {float(losses[0]):.4f}", t, None)


def main() -> None:
    rows: dict[str, tuple[str, float, float | None]] = {}
    copy_bw = _cupy_rows(rows)
    for part in (_vfunc_gelu, _torch_gelu, _jax_gelu, _vfunc_mlp, _torch_mlp, _jax_mlp):
        try:
            part(rows)
        except Exception as err:  # a peer missing on this machine: say so, go on
            print(f"{part.__name__}: skipped ({type(err).__name__}: {err})")
    print(f"\n{'row':52s} {'ms':>9s} {'GB/s':>8s} {'of copy':>8s}  note")
    for name, (note, t, bw) in rows.items():
        gbs = f"{bw / 1e9:8.0f}" if bw else " " * 8
        frac = f"{bw / copy_bw:8.0%}" if bw else " " * 8
        print(f"{name:52s} {t * 1e3:9.3f} {gbs} {frac}  {note}")


if __name__ == "__main__":
    main()
