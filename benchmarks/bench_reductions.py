"""Reductions under jit against NumPy and JAX jit, one run (issue 18, reduction fusion).

float32 operands; each row one jitted function (vfunc and JAX) and the same NumPy expression:

- a 2x2 max-pool written as JAX code writes it (reshape to 6-D, max over axes 3 and 5);
- the max-pool's VJP shape: a sum over axes 3 and 5 of a masked product;
- ``sum(x * y)`` over the batch and spatial axes (a batch-norm statistic);
- ``sum((x - m) ** 2)`` over everything;
- the row-wise log-softmax of a (4096, 1000) batch (max, exp, sum, log).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=$PWD \\
        BENCH_PEER_PYTHON=/path/to/scratch/bin/python python benchmarks/bench_reductions.py

JAX runs with this interpreter when it can import it, else with ``BENCH_PEER_PYTHON`` (JAX is
never a vfunc dependency). Times are best-of wall times per call in ms.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import best_time  # noqa: E402


def data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "img": rng.standard_normal((64, 6, 28, 28), np.float32),
        "act": rng.standard_normal((32, 64, 56, 56), np.float32),
        "logits": rng.standard_normal((4096, 1000), np.float32),
    }


def cases(xp) -> dict:
    """name -> (function of the data dict's arrays, the names of its arguments)."""

    def pool(x):
        return x.reshape(64, 6, 14, 2, 14, 2).max(axis=(3, 5))

    def pool_vjp_sum(x):
        w = x.reshape(64, 6, 14, 2, 14, 2)
        return (w * (w > 0)).sum(axis=(3, 5))

    def bn_stat(x):
        return (x * x).sum(axis=(0, 2, 3))

    def centered_square(x):
        return ((x - 0.5) ** 2).sum()

    def log_softmax(z):
        m = z.max(axis=1, keepdims=True)
        s = z - m
        return s - xp.log(xp.exp(s).sum(axis=1, keepdims=True))

    return {
        "maxpool 2x2 (64,6,28,28)": (pool, ("img",)),
        "sum axes (3,5) of a product": (pool_vjp_sum, ("img",)),
        "sum(x*x) axes (0,2,3) (32,64,56,56)": (bn_stat, ("act",)),
        "sum((x-m)**2) all (32,64,56,56)": (centered_square, ("act",)),
        "log_softmax rows (4096,1000)": (log_softmax, ("logits",)),
    }


def run(fw: str) -> dict:
    arrays = data()
    if fw == "jax":
        import jax
        import jax.numpy as jnp

        xp, jit, to, ready = jnp, jax.jit, jnp.asarray, jax.block_until_ready
    elif fw == "vfunc":
        import vfunc
        import vfunc.numpy as vnp

        xp, jit, to, ready = vnp, vfunc.jit, vnp.asarray, vfunc.block_until_ready
    else:
        xp, jit, to, ready = np, (lambda f: f), (lambda a: a), (lambda a: a)
    out = {}
    for name, (fn, argnames) in cases(xp).items():
        f = jit(fn)
        args = [to(arrays[a]) for a in argnames]
        result = np.asarray(ready(f(*args)), np.float64)
        out[name] = {"time": best_time(lambda f=f, args=args: ready(f(*args)), repeat=15),
                     "check": float(np.sum(result))}  # fmt: skip
    return out


def main() -> None:
    if len(sys.argv) > 1:
        print(json.dumps(run(sys.argv[1])))
        return
    results = {}
    for fw in ("vfunc", "numpy", "jax"):
        python = sys.executable
        if fw == "jax" and importlib.util.find_spec("jax") is None:
            python = os.environ.get("BENCH_PEER_PYTHON", sys.executable)
        proc = subprocess.run([python, __file__, fw], capture_output=True, text=True)
        if proc.returncode:
            print(f"{fw} failed:\n{proc.stderr[-3000:]}")
            continue
        results[fw] = json.loads(proc.stdout.strip().splitlines()[-1])
    names = list(cases(np))
    print(f"{'reduction':38s} " + " ".join(f"{fw + ' ms':>10s}" for fw in results)
          + "  vfunc/numpy  vfunc/jax  checks")  # fmt: skip
    for name in names:
        t = {fw: r[name]["time"] * 1e3 for fw, r in results.items()}
        line = f"{name:38s} " + " ".join(f"{v:10.3f}" for v in t.values())
        v = t.get("vfunc", float("nan"))
        line += f"  {v / t.get('numpy', float('nan')):10.2f}x {v / t.get('jax', float('nan')):9.2f}x"
        print(line + "  " + str({fw: round(r[name]["check"], 1) for fw, r in results.items()}))


if __name__ == "__main__":
    main()
