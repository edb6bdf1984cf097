"""Linear algebra speed, one run (issue 17): solve, cholesky, svd and eigh on one 256x256 matrix
and on a batch of 64 matrices 32x32, forward and forward+VJP, float32.

Side by side: vfunc under ``jit``, JAX on CPU (``jax.jit``) and PyTorch on CPU, each when
importable (run with the scratch environment, which has both, and PYTHONPATH at vfunc).
Forward+VJP is ``value_and_grad`` of ``sum(out * w)`` over every output (fixed random ``w``;
svd with ``full_matrices=False``). Best of 7 after a warm-up call. The ratio column is vfunc
time / the faster peer's time (target: at most 1.0).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_linalg.py
"""

from __future__ import annotations

import os
import sys

import numpy as np
from timing import best_time

import vfunc
import vfunc.numpy as vnp

SHAPES = {"256x256": (256, 256), "64x32x32": (64, 32, 32)}
OPS = ("solve", "cholesky", "svd", "eigh")


def _inputs(shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    n = shape[-1]
    x = rng.standard_normal(shape).astype(np.float32)
    spd = (x @ np.swapaxes(x, -1, -2) / n + np.eye(n)).astype(np.float32)
    return {"a": (x + 2 * np.sqrt(n) * np.eye(n)).astype(np.float32), "spd": spd, "x": x,
            "b": rng.standard_normal((*shape[:-1], 4)).astype(np.float32)}  # fmt: skip


def _vfunc_ops(xp, linalg):
    """op -> (function of one array returning a tuple, the input's key); shared by vfunc and
    JAX, whose numpy APIs agree."""
    return {
        "solve": (lambda a, b: (linalg.solve(a, b),), ("a", "b")),
        "cholesky": (lambda a: (linalg.cholesky(a),), ("spd",)),
        "svd": (lambda a: tuple(linalg.svd(a, full_matrices=False)), ("x",)),
        "eigh": (lambda a: tuple(linalg.eigh(a)), ("spd",)),
    }


def _loss(fun, xp, weights):
    def loss(*args):
        return sum(xp.sum(o * w) for o, w in zip(fun(*args), weights, strict=True))

    return loss


def _weights(fun, args):
    outs = fun(*args)
    rng = np.random.default_rng(1)
    return [rng.standard_normal(np.shape(o)).astype(np.float32) for o in outs]


def _time_traced(inputs, xp, linalg, jit, value_and_grad, block):
    """(forward, forward+VJP) times per op for a JAX-like library (vfunc or JAX itself)."""
    out = {}
    for op, (fun, keys) in _vfunc_ops(xp, linalg).items():
        args = [xp.asarray(inputs[k]) for k in keys]
        weights = [xp.asarray(w) for w in _weights(fun, args)]
        fwd = jit(fun)
        both = jit(value_and_grad(_loss(fun, xp, weights), argnums=0))
        out[op] = (best_time(lambda: block(fwd(*args))), best_time(lambda: block(both(*args))))
    return out


def time_vfunc(inputs) -> dict[str, tuple[float, float]]:
    return _time_traced(inputs, vnp, vnp.linalg, vfunc.jit, vfunc.value_and_grad,
                        vfunc.block_until_ready)  # fmt: skip


def time_jax(inputs) -> dict[str, tuple[float, float]] | None:
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    return _time_traced(inputs, jnp, jnp.linalg, jax.jit, jax.value_and_grad,
                        jax.block_until_ready)  # fmt: skip


def time_torch(inputs) -> dict[str, tuple[float, float]] | None:
    try:
        import torch
    except ImportError:
        return None
    tl = torch.linalg
    ops = {
        "solve": (lambda a, b: (tl.solve(a, b),), ("a", "b")),
        "cholesky": (lambda a: (tl.cholesky(a),), ("spd",)),
        "svd": (lambda a: tuple(tl.svd(a, full_matrices=False)), ("x",)),
        "eigh": (lambda a: tuple(tl.eigh(a)), ("spd",)),
    }
    out = {}
    for op, (fun, keys) in ops.items():
        args = [torch.from_numpy(inputs[k]) for k in keys]
        weights = [torch.from_numpy(w) for w in _weights(lambda *a: [
            o.numpy() for o in fun(*a)], args)]  # fmt: skip

        def forward_backward(fun=fun, args=args, weights=weights):
            leaf = args[0].clone().requires_grad_(True)
            outs = fun(leaf, *args[1:])
            loss = sum((o * w).sum() for o, w in zip(outs, weights, strict=True))
            loss.backward()
            return leaf.grad

        with torch.no_grad():
            fwd_time = best_time(lambda fun=fun, args=args: fun(*args))
        out[op] = (fwd_time, best_time(forward_backward))
    return out


def main() -> None:
    print(f"cores: {os.cpu_count()}, python {sys.version.split()[0]}, numpy {np.__version__}")
    for label, shape in SHAPES.items():
        inputs = _inputs(shape)
        results = {"vfunc": time_vfunc(inputs), "jax": time_jax(inputs),
                   "torch": time_torch(inputs)}  # fmt: skip
        print(f"\n{label} float32: times in ms (vfunc jit / JAX jit CPU / PyTorch CPU)")
        print(f"{'op':10s} {'mode':8s} {'vfunc':>9s} {'jax':>9s} {'torch':>9s} {'vfunc/best':>11s}")
        for op in OPS:
            for k, mode in enumerate(("fwd", "fwd+vjp")):
                times = {name: (r[op][k] if r is not None else None)
                         for name, r in results.items()}  # fmt: skip
                peers = [t for name, t in times.items() if name != "vfunc" and t is not None]
                ratio = f"{times['vfunc'] / min(peers):.2f}x" if peers else "-"
                cells = [f"{t * 1e3:9.3f}" if t is not None else f"{'-':>9s}"
                         for t in times.values()]  # fmt: skip
                print(f"{op:10s} {mode:8s} {' '.join(cells)} {ratio:>11s}")


if __name__ == "__main__":
    main()
