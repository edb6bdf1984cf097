"""Sampling speed, one run (issue 13): ``normal(key, (4_000_000,), float32)``.

Side by side: vfunc eager, vfunc under ``jit``, ``numpy.random.default_rng().standard_normal``
(same size and dtype), and JAX's jitted ``jax.random.normal`` on CPU when jax is importable
(run it with the scratch environment, which has jax, and PYTHONPATH pointing at vfunc). Also
``uniform`` and ``bits`` at the same size, and the vmapped draw of 64 keys x 62_500.
Best of 7 after a warm-up call; ratios are peer time / vfunc time (> 1: vfunc is faster).

Targets: vfunc at least as fast as numpy, and faster than JAX's CPU jit.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_random.py
"""

from __future__ import annotations

import os
import sys

import numpy as np
from timing import best_time

import vfunc
from vfunc import random as vr

N = 4_000_000


def main() -> None:
    key = vr.key(0)
    rows: list[tuple[str, float]] = []
    normal_jit = vfunc.jit(lambda k: vr.normal(k, (N,), np.float32))
    rows.append(("vfunc normal (eager)", best_time(lambda: vr.normal(key, (N,), np.float32))))
    rows.append(("vfunc normal (jit)", best_time(lambda: normal_jit(key))))
    rng = np.random.default_rng(0)
    rows.append(("numpy standard_normal", best_time(lambda: rng.standard_normal(N, np.float32))))
    rows.append(("vfunc uniform", best_time(lambda: vr.uniform(key, (N,), np.float32))))
    rows.append(("numpy random (uniform)", best_time(lambda: rng.random(N, np.float32))))
    rows.append(("vfunc bits uint32", best_time(lambda: vr.bits(key, (N,), np.uint32))))
    keys = vr.split(key, 64)
    batched = vfunc.vmap(lambda k: vr.normal(k, (N // 64,)))
    rows.append(("vfunc vmap 64 keys normal", best_time(lambda: batched(keys))))
    try:
        import jax
        import jax.numpy as jnp

        jkey = jax.random.key(0)
        jnormal = jax.jit(lambda k: jax.random.normal(k, (N,), jnp.float32))
        juniform = jax.jit(lambda k: jax.random.uniform(k, (N,), jnp.float32))
        rows.append(("jax normal (jit, CPU)",
                     best_time(lambda: jnormal(jkey).block_until_ready())))  # fmt: skip
        rows.append(("jax uniform (jit, CPU)",
                     best_time(lambda: juniform(jkey).block_until_ready())))  # fmt: skip
        # Same stream: the samples agree to a few ulp (bits exactly for uniform).
        same = np.array_equal(np.asarray(juniform(jkey)), np.asarray(vr.uniform(key, (N,))))
        print(f"uniform identical to jax: {same}")
    except ImportError:
        print("jax not importable: JAX rows skipped")
    times = dict(rows)
    print(f"cores: {os.cpu_count()}, python {sys.version.split()[0]}, numpy {np.__version__}")
    for name, t in rows:
        print(f"{name:32s} {t * 1e3:8.2f} ms")
    base = times["vfunc normal (eager)"]
    print(f"numpy / vfunc normal (eager): {times['numpy standard_normal'] / base:.2f}x")
    print(f"numpy / vfunc normal (jit):   "
          f"{times['numpy standard_normal'] / times['vfunc normal (jit)']:.2f}x")  # fmt: skip
    if "jax normal (jit, CPU)" in times:
        print(f"jax / vfunc normal (eager):   {times['jax normal (jit, CPU)'] / base:.2f}x")
        print(f"jax / vfunc uniform:          "
              f"{times['jax uniform (jit, CPU)'] / times['vfunc uniform']:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
