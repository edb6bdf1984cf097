"""Loops: an RNN cell scanned with ``lax.scan`` under ``jit`` against the same loop written as
eager Python, forward and gradient, one run, reported as ratios (issue 7).

The cell is ``h = tanh(x_t @ W_x + h @ W_h + b)`` with hidden size 128, batch 32, input size
128, over 1000 steps; the loss is the mean of the last hidden state plus the mean of all hidden
states. Targets: ``jit(scan)`` at least 5x faster than the eager Python loop, for the forward
pass and for ``value_and_grad``. JAX and PyTorch (eager loop) rows are added when importable
(install them in a scratch environment, never as vfunc dependencies). The forward table also
times the pass's matrix products alone in numpy: a floor for any implementation on this BLAS.

The loops run their small per-step products on one BLAS thread; the hoisted input projection
(one (32000, 128) x (128, 128) product) keeps BLAS's threads, which on a heavily loaded machine
wait for each other: at a load of 15 on 2 cores the forward ratio was 3.2x with them and
4.4-4.8x with ``OPENBLAS_NUM_THREADS=1`` (at a load of 4 it was 5.6x either way).

Run with the OpenBLAS overrides unset:
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_scan.py
"""

from __future__ import annotations

import numpy as np
from timing import best_time

import vfunc
import vfunc.numpy as vnp
from vfunc import lax

HIDDEN, BATCH, STEPS = 128, 32, 1000


def make_data(rng: np.random.Generator) -> tuple[dict, np.ndarray, np.ndarray]:
    scale = HIDDEN**-0.5
    params = {
        "wx": rng.normal(0, scale, (HIDDEN, HIDDEN)).astype(np.float32),
        "wh": rng.normal(0, scale, (HIDDEN, HIDDEN)).astype(np.float32),
        "b": np.zeros(HIDDEN, np.float32),
    }
    xs = rng.normal(size=(STEPS, BATCH, HIDDEN)).astype(np.float32)
    h0 = np.zeros((BATCH, HIDDEN), np.float32)
    return params, xs, h0


def cell(params: dict, h, x):
    return vnp.tanh(x @ params["wx"] + h @ params["wh"] + params["b"])


def loss_scan(params: dict, h0, xs):
    def step(h, x):
        h = cell(params, h, x)
        return h, h.mean()

    h, means = lax.scan(step, h0, xs)
    return h.mean() + means.mean()


def loss_loop(params: dict, h0, xs):
    h, total = h0, 0.0
    for t in range(xs.shape[0]):
        h = cell(params, h, xs[t])
        total = total + h.mean()
    return h.mean() + total / xs.shape[0]


def bench_vfunc(params_np: dict, xs_np: np.ndarray, h0_np: np.ndarray) -> dict:
    params = {k: vnp.asarray(v) for k, v in params_np.items()}
    xs, h0 = vnp.asarray(xs_np), vnp.asarray(h0_np)
    fwd_jit = vfunc.jit(loss_scan)
    grad_jit = vfunc.jit(vfunc.value_and_grad(loss_scan))
    grad_eager_loop = vfunc.value_and_grad(loss_loop)
    # The same numbers either way (float32 rounding aside).
    ref = float(loss_loop(params, h0, xs))
    assert abs(float(fwd_jit(params, h0, xs)) - ref) < 1e-4 * max(1.0, abs(ref))
    g_scan, g_loop = grad_jit(params, h0, xs)[1], grad_eager_loop(params, h0, xs)[1]
    for k in params:
        np.testing.assert_allclose(np.asarray(g_scan[k]), np.asarray(g_loop[k]), rtol=1e-3,
                                   atol=1e-5)  # fmt: skip
    return {
        "forward": {
            "vfunc eager Python loop": best_time(lambda: loss_loop(params, h0, xs), 3),
            "vfunc eager lax.scan": best_time(lambda: loss_scan(params, h0, xs), 3),
            "vfunc jit(scan)": best_time(lambda: fwd_jit(params, h0, xs)),
        },
        "value_and_grad": {
            "vfunc eager Python loop": best_time(lambda: grad_eager_loop(params, h0, xs), 2),
            "vfunc eager lax.scan": best_time(
                lambda: vfunc.value_and_grad(loss_scan)(params, h0, xs), 2
            ),
            "vfunc jit(scan)": best_time(lambda: grad_jit(params, h0, xs)),
        },
    }


def matmuls_alone(params_np: dict, xs_np: np.ndarray, h0_np: np.ndarray) -> float:
    """Best time of the forward pass's matrix products alone in numpy: ``x_t @ W_x`` for every
    t as one product and the 1000 ``h @ W_h`` (about 2.1 GFLOP). No implementation of the loop
    runs faster than this on the same BLAS, which bounds the reachable forward ratio."""
    wx, wh = params_np["wx"], params_np["wh"]
    flat = xs_np.reshape(-1, HIDDEN)

    def run() -> None:
        np.dot(flat, wx)
        h = h0_np
        for _ in range(STEPS):
            h = np.dot(h, wh)

    return best_time(run)


def bench_jax(params_np: dict, xs_np: np.ndarray, h0_np: np.ndarray, rows: dict) -> None:
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return

    def loss(params, h0, xs):
        def step(h, x):
            h = jnp.tanh(x @ params["wx"] + h @ params["wh"] + params["b"])
            return h, h.mean()

        h, means = jax.lax.scan(step, h0, xs)
        return h.mean() + means.mean()

    params = {k: jnp.asarray(v) for k, v in params_np.items()}
    xs, h0 = jnp.asarray(xs_np), jnp.asarray(h0_np)
    fwd, both = jax.jit(loss), jax.jit(jax.value_and_grad(loss))
    rows["forward"]["JAX jit(scan)"] = best_time(lambda: fwd(params, h0, xs).block_until_ready())
    rows["value_and_grad"]["JAX jit(scan)"] = best_time(
        lambda: jax.block_until_ready(both(params, h0, xs))
    )


def bench_torch(params_np: dict, xs_np: np.ndarray, h0_np: np.ndarray, rows: dict) -> None:
    try:
        import torch
    except ImportError:
        return
    params = {k: torch.tensor(v, requires_grad=True) for k, v in params_np.items()}
    xs, h0 = torch.tensor(xs_np), torch.tensor(h0_np)

    def loss():
        h, total = h0, 0.0
        for t in range(STEPS):
            h = torch.tanh(xs[t] @ params["wx"] + h @ params["wh"] + params["b"])
            total = total + h.mean()
        return h.mean() + total / STEPS

    def both():
        value = loss()
        torch.autograd.grad(value, list(params.values()))

    with torch.no_grad():
        rows["forward"]["PyTorch eager loop"] = best_time(loss, 3)
    rows["value_and_grad"]["PyTorch eager loop"] = best_time(both, 3)


def main() -> None:
    params, xs, h0 = make_data(np.random.default_rng(0))
    rows = bench_vfunc(params, xs, h0)
    rows["forward"]["numpy matmuls alone"] = matmuls_alone(params, xs, h0)
    bench_jax(params, xs, h0, rows)
    bench_torch(params, xs, h0, rows)
    print(f"RNN cell, hidden {HIDDEN}, batch {BATCH}, {STEPS} steps (best wall time per call)")
    for what, table in rows.items():
        eager = table["vfunc eager Python loop"]
        print(f"  {what}")
        for name, seconds in table.items():
            print(f"    {name:26s} {seconds * 1e3:9.2f} ms   {eager / seconds:6.2f}x vs eager loop")
        ratio = eager / table["vfunc jit(scan)"]
        verdict = "met" if ratio >= 5 else "NOT met"
        print(f"    target: jit(scan) >= 5x faster than the eager loop: {ratio:.2f}x ({verdict})")


if __name__ == "__main__":
    main()
