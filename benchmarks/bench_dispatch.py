"""Eager dispatch cost: ``vnp.add`` on 8-element float32 arrays against ``np.add`` and, when it
is importable, PyTorch's ``torch.add`` on 8-element float32 tensors, one run.

Targets: under 5x NumPy's own call (issue 2); at most PyTorch's time (issue 18). Timed in
process CPU time (the least disturbed by other work on a shared machine), best of many
repeats. Run with the OpenBLAS overrides unset, in an environment that has torch for the peer:
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_dispatch.py
"""

from __future__ import annotations

import time
import timeit

import numpy as np

import vfunc.numpy as vnp


def best_of(fn, number: int = 20_000, repeat: int = 25) -> float:
    """Best per-call CPU time in microseconds over ``repeat`` runs of ``number`` calls."""
    runs = timeit.repeat(fn, number=number, repeat=repeat, timer=time.process_time)
    return min(runs) / number * 1e6


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
    try:
        import torch

        torch.set_num_threads(1)  # CPU time of one thread, as ours
        at, bt = torch.arange(8, dtype=torch.float32), torch.ones(8, dtype=torch.float32)
        rows.append(("torch.add(a, b)", best_of(lambda: torch.add(at, bt))))
    except ImportError:
        rows.append(("torch.add(a, b)", None))
    base = rows[0][1]
    print(f"{'op':16s} {'us/call':>9s} {'x numpy add':>12s}")
    for name, us in rows:
        if us is None:
            print(f"{name:16s} {'not installed':>9s}")
        else:
            print(f"{name:16s} {us:9.3f} {us / base:12.2f}")
    ratio = rows[1][1] / base
    print(f"vnp.add / np.add = {ratio:.2f}x (target < 5x): {'PASS' if ratio < 5 else 'FAIL'}")
    if rows[-1][1] is not None:
        peer = rows[1][1] / rows[-1][1]
        verdict = "PASS" if peer <= 1 else "FAIL"
        print(f"vnp.add / torch.add = {peer:.2f}x (target <= 1x): {verdict}")


if __name__ == "__main__":
    main()
