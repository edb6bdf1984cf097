"""The timing helper every benchmark script shares (run scripts from any directory: each
script's own folder is on ``sys.path``, so ``from timing import best_time`` resolves here)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def best_time(fn: Callable[[], Any], repeat: int = 7, number: int = 1) -> float:
    """Best wall time per call in seconds over ``repeat`` runs of ``number`` calls each, after
    one warm-up call (the minimum is the least disturbed by other work on the machine)."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best
