"""vfunc on an NVIDIA GPU (CuPy backend) beside PyTorch CUDA and JAX GPU, one run (issue 21).

- the device's copy bandwidth: a 64M-element float32 device-to-device copy, bytes read plus
  written over the median time: the ceiling for the elementwise rows;
- GELU (tanh form) on 64M float32: vfunc eager, vfunc jit, a hand-written CuPy
  ElementwiseKernel (what one fused kernel reaches), PyTorch, JAX jit; as GB/s (8 bytes moved
  per element: one read, one write) and as a fraction of the copy bandwidth;
- Adam on 64M float32 (28 bytes moved per element): vfunc jit fused and unfused, a hand CuPy
  kernel, PyTorch's fused Adam, JAX jit;
- jit call overhead: a tiny jitted function on CPU arrays and on GPU arrays;
- the ResNet basic-block stack of bench_nn.py (BatchNorm without affine parameters), batch 64:
  vfunc jit(value_and_grad), PyTorch eager (cuDNN, TF32 off), JAX jit (HIGHEST precision);
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
import traceback
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
# Adam on 64M float32: reads p, g, m, v and writes p, m, v (28 bytes per element)

ADAM = dict(lr=1e-3, b1=0.9, b2=0.999, eps=1e-8, c1=1 / (1 - 0.9**10), c2=1 / (1 - 0.999**10))
ADAM_BYTES = 28 * N_GELU


def _adam_update(xp_sqrt, p, g, m, v):
    a = ADAM
    m = a["b1"] * m + (1 - a["b1"]) * g
    v = a["b2"] * v + (1 - a["b2"]) * (g * g)
    p = p - a["lr"] * (m * a["c1"]) / (xp_sqrt(v * a["c2"]) + a["eps"])
    return p, m, v


def _adam_inputs():
    rng = np.random.default_rng(1)
    return [rng.standard_normal(N_GELU, np.float32) for _ in range(2)] + [
        np.zeros(N_GELU, np.float32), np.ones(N_GELU, np.float32)]


def _vfunc_adam(rows: dict) -> None:
    import cupy as cp

    import vfunc
    import vfunc.numpy as vnp

    sync = cp.cuda.get_current_stream().synchronize
    gpu = vfunc.devices("gpu")[0]
    p, g, m, v = vfunc.device_put(_adam_inputs(), gpu)
    step = vfunc.jit(lambda p, g, m, v: _adam_update(vnp.sqrt, p, g, m, v))
    t = median_time(lambda: step(p, g, m, v), sync, repeat=10)
    rows["Adam, vfunc jit"] = ("", t, ADAM_BYTES / t)
    backend = vfunc.backends._BACKENDS["gpu"]
    backend.fuse = False
    try:
        unfused = vfunc.jit(lambda p, g, m, v: _adam_update(vnp.sqrt, p, g, m, v))
        t = median_time(lambda: unfused(p, g, m, v), sync, repeat=5)
        rows["Adam, vfunc jit unfused (one kernel per op)"] = ("", t, ADAM_BYTES / t)
    finally:
        backend.fuse = True
    out = step(p, g, m, v)
    host = _adam_update(np.sqrt, *(np.asarray(a)[:4096] for a in (p, g, m, v)))
    for a, b in zip(out, host, strict=True):
        np.testing.assert_allclose(np.asarray(a)[:4096], b, rtol=1e-5, atol=1e-6)


def _cupy_adam(rows: dict) -> None:
    import cupy as cp

    sync = cp.cuda.get_current_stream().synchronize
    p, g, m, v = (cp.asarray(a) for a in _adam_inputs())
    a = ADAM
    kernel = cp.ElementwiseKernel(
        "float32 g", "float32 p, float32 m, float32 v",
        f"m = {a['b1']}f * m + {1 - a['b1']}f * g; v = {a['b2']}f * v + {1 - a['b2']}f * g * g;"
        f"p -= {a['lr']}f * (m * {a['c1']}f) / (sqrtf(v * {a['c2']}f) + {a['eps']}f);",
        "adam_hand",
    )
    t = median_time(lambda: kernel(g, p, m, v), sync)
    rows["Adam, CuPy ElementwiseKernel (in place)"] = ("", t, ADAM_BYTES / t)


def _torch_adam(rows: dict) -> None:
    import torch

    p, g, _, _ = (torch.tensor(a, device="cuda") for a in _adam_inputs())
    p.requires_grad_(True)
    p.grad = g
    opt = torch.optim.Adam([p], lr=ADAM["lr"], fused=True)
    t = median_time(opt.step, torch.cuda.synchronize)
    rows["Adam, PyTorch fused=True"] = ("", t, ADAM_BYTES / t)


def _jax_adam(rows: dict) -> None:
    import jax
    import jax.numpy as jnp

    p, g, m, v = (jnp.asarray(a) for a in _adam_inputs())
    step = jax.jit(lambda p, g, m, v: _adam_update(jnp.sqrt, p, g, m, v))
    out = [step(p, g, m, v)]

    def run() -> None:
        out[0] = step(p, g, m, v)

    t = median_time(run, lambda: out[0][0].block_until_ready())
    rows["Adam, JAX jit"] = ("", t, ADAM_BYTES / t)


# --------------------------------------------------------------------------------------------
# jit call overhead: a tiny function, CPU arrays vs GPU arrays (the GPU synchronized)


def _overhead(rows: dict) -> None:
    import cupy as cp

    import vfunc
    import vfunc.numpy as vnp

    f = vfunc.jit(lambda x, y: x * y + 1.0)
    xc = vnp.ones(16, np.float32)
    xg = vfunc.device_put(np.ones(16, np.float32), vfunc.devices("gpu")[0])
    t_cpu = median_time(lambda: f(xc, xc), lambda: None, repeat=2000)
    rows["jit call overhead, CPU arrays"] = ("", t_cpu, None)
    t_gpu = median_time(lambda: f(xg, xg), cp.cuda.get_current_stream().synchronize,
                        repeat=2000)  # fmt: skip
    rows["jit call overhead, GPU arrays"] = (f"{t_gpu / t_cpu:.2f}x the CPU's", t_gpu, None)


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


# --------------------------------------------------------------------------------------------
# ResNet basic-block stack (bench_nn.py's model): 2 blocks, 64 channels, 56x56, BatchNorm in
# training mode, loss mean(out**2), forward + backward; batch 64

RESNET_BATCH = 64


def _resnet_input() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((RESNET_BATCH, 64, 56, 56), np.float32)


def _resnet_weights() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [(rng.uniform(-1, 1, (64, 64, 3, 3)) / 24).astype(np.float32) for _ in range(4)]


def _vfunc_resnet(rows: dict) -> None:
    import cupy as cp

    import vfunc
    import vfunc.numpy as vnp
    from vfunc import lax, nn

    gpu = vfunc.devices("gpu")[0]
    ws = vfunc.device_put(_resnet_weights(), gpu)
    x = vfunc.device_put(_resnet_input(), gpu)

    def bn(h):  # BatchNorm2d in training mode, unit scale and zero shift
        mean = vnp.mean(h, axis=(0, 2, 3), keepdims=True)
        var = vnp.mean((h - mean) ** 2, axis=(0, 2, 3), keepdims=True)
        return (h - mean) * lax.rsqrt(var + 1e-5)

    def conv(h, w):
        return lax.conv_general_dilated(h, w, (1, 1), ((1, 1), (1, 1)))

    def loss(ws, x):
        for i in range(0, 4, 2):
            y = nn.relu(bn(conv(x, ws[i])))
            x = nn.relu(x + bn(conv(y, ws[i + 1])))
        return vnp.mean(x * x)

    step = vfunc.jit(vfunc.value_and_grad(loss))
    out = []
    t = median_time(lambda: out.append(step(ws, x)), cp.cuda.get_current_stream().synchronize,
                    repeat=5)  # fmt: skip
    rows["ResNet stack step, vfunc jit"] = (f"loss {float(out[0][0]):.5f}", t, None)


def _torch_resnet(rows: dict) -> None:
    import torch

    ws = [torch.tensor(w, device="cuda", requires_grad=True) for w in _resnet_weights()]
    x = torch.tensor(_resnet_input(), device="cuda")
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True

    def bn(h):
        return torch.nn.functional.batch_norm(h, None, None, training=True, eps=1e-5)

    losses = []

    def run() -> None:
        h = x
        for i in range(0, 4, 2):
            y = torch.relu(bn(torch.nn.functional.conv2d(h, ws[i], padding=1)))
            h = torch.relu(h + bn(torch.nn.functional.conv2d(y, ws[i + 1], padding=1)))
        loss = (h * h).mean()
        for w in ws:
            w.grad = None
        loss.backward()
        losses.append(loss.detach())

    t = median_time(run, torch.cuda.synchronize, repeat=10)
    rows["ResNet stack step, PyTorch eager"] = (f"loss {float(losses[0]):.5f}", t, None)


def _jax_resnet(rows: dict) -> None:
    import jax
    import jax.numpy as jnp

    ws = [jnp.asarray(w) for w in _resnet_weights()]
    x = jnp.asarray(_resnet_input())

    def bn(h):
        mean = jnp.mean(h, axis=(0, 2, 3), keepdims=True)
        var = jnp.mean((h - mean) ** 2, axis=(0, 2, 3), keepdims=True)
        return (h - mean) * jax.lax.rsqrt(var + 1e-5)

    def conv(h, w):
        return jax.lax.conv_general_dilated(h, w, (1, 1), ((1, 1), (1, 1)),
                                            precision=jax.lax.Precision.HIGHEST)  # fmt: skip

    def loss(ws, x):
        for i in range(0, 4, 2):
            y = jax.nn.relu(bn(conv(x, ws[i])))
            x = jax.nn.relu(x + bn(conv(y, ws[i + 1])))
        return jnp.mean(x * x)

    step = jax.jit(jax.value_and_grad(loss))
    out = [step(ws, x)]

    def run() -> None:
        out[0] = step(ws, x)

    t = median_time(run, lambda: out[0][0].block_until_ready(), repeat=10)
    rows["ResNet stack step, JAX jit"] = (f"loss {float(out[0][0]):.5f}", t, None)


def main() -> None:
    rows: dict[str, tuple[str, float, float | None]] = {}
    copy_bw = _cupy_rows(rows)
    parts = (_vfunc_gelu, _torch_gelu, _jax_gelu, _cupy_adam, _vfunc_adam, _torch_adam,
             _jax_adam, _overhead, _vfunc_mlp, _torch_mlp, _jax_mlp, _vfunc_resnet, _torch_resnet,
             _jax_resnet)  # fmt: skip
    import os
    only = os.environ.get("BENCH_GPU_PARTS")  # e.g. "adam,resnet": rows whose name has one
    if only:
        parts = tuple(p for p in parts if any(k in p.__name__ for k in only.split(",")))
    for part in parts:
        seen = set(rows)
        try:
            part(rows)
        except Exception as err:  # a peer missing on this machine: say so, go on
            print(f"{part.__name__}: skipped ({type(err).__name__}: {err})")
            traceback.print_exc()
        for name in rows.keys() - seen:  # as they come: a run cut short keeps what it had
            print(f"  {name}: {rows[name][1] * 1e3:.3f} ms {rows[name][0]}", flush=True)
    print(f"\n{'row':52s} {'ms':>9s} {'GB/s':>8s} {'of copy':>8s}  note")
    for name, (note, t, bw) in rows.items():
        gbs = f"{bw / 1e9:8.0f}" if bw else " " * 8
        frac = f"{bw / copy_bw:8.0%}" if bw else " " * 8
        print(f"{name:52s} {t * 1e3:9.3f} {gbs} {frac}  {note}")


if __name__ == "__main__":
    main()
