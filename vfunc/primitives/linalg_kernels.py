"""Numba kernels for dot_general where NumPy leaves cores idle.

Kernels compile on first use and are cached on disk (``cache=True``), so a new process loads
them instead of compiling again.
"""

from __future__ import annotations

import numba
import numpy as np

# Below this many output elements numpy's single-threaded broadcast multiply is as fast and
# needs no compiled kernel.
PARALLEL_OUTER_MIN_SIZE = 1 << 20


@numba.njit(parallel=True, cache=True)
def _batched_outer_kernel(a, c, out):  # pragma: no cover - compiled
    batch, rows = a.shape
    cols = c.shape[1]
    for t in numba.prange(batch * rows):
        b = t // rows
        i = t - b * rows
        scale = a[b, i]
        for j in range(cols):
            out[b, i, j] = scale * c[b, j]
    return out


def batched_outer(a: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``out[b, i, j] = a[b, i] * c[b, j]`` on all cores: per-example weight gradients are
    outer products too large for cache, so the write bandwidth of one core bounds numpy."""
    a, c = np.ascontiguousarray(a), np.ascontiguousarray(c)
    out = np.empty((a.shape[0], a.shape[1], c.shape[1]), dtype=a.dtype)
    return _batched_outer_kernel(a, c, out)
