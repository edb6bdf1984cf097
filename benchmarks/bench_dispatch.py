"""Eager dispatch cost: ``vnp.add`` on 8-element float32 arrays against ``np.add``, one run.

Target (issue 2): under 5x NumPy's own call. Run with the OpenBLAS overrides unset:
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_dispatch.py
"""

from __future__ import annotations

import timeit

import numpy as np

import vfunc.numpy as vnp


def best_of(fn, number: int = 200_000, repeat: int = 7) -> float:
    """Best per-call time in microseconds over ``repeat`` runs of ``number`` calls."""
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def main() -> None:
    a = np.arange(8, dtype=np.float32)
    b = np.ones(8, dtype=np.float32)
    x, y = vnp.asarray(a), vnp.asarray(b)
    rows = [
        ("np.add(a, b)", best_of(lambda: np.add(a, b))),
        ("vnp.add(x, y)", best_of(lambda: vnp.add(x, y))),
        ("x + y", best_of(lambda: x + y)),
        ("vnp.sin(x)", best_of(lambda: vnp.sin(x))),
        ("vnp.sum(x)", best_of(lambda: vnp.sum(x))),
    ]
    base = rows[0][1]
    print(f"{'op':16s} {'us/call':>9s} {'x numpy add':>12s}")
    for name, us in rows:
        print(f"{name:16s} {us:9.3f} {us / base:12.2f}")
    ratio = rows[1][1] / base
    print(f"vnp.add / np.add = {ratio:.2f}x (target < 5x): {'PASS' if ratio < 5 else 'FAIL'}")


if __name__ == "__main__":
    main()
