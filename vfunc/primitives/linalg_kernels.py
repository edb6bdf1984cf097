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


@numba.njit(parallel=True, cache=True)
def _lower_solve_kernel(a, b, unit_diagonal):  # pragma: no cover - compiled
    # Forward substitution, one row of the solution at a time: each step is a sum of earlier
    # rows (contiguous, so it vectorises) scaled by one entry of a. b is overwritten.
    batch, n, k = b.shape
    for t in numba.prange(batch):
        for i in range(n):
            row = b[t, i]
            for j in range(i):
                scale = a[t, i, j]
                if scale != 0.0:
                    prev = b[t, j]
                    for c in range(k):
                        row[c] -= scale * prev[c]
            if not unit_diagonal:
                inv = 1.0 / a[t, i, i]
                for c in range(k):
                    row[c] *= inv
    return b


# Above this order a triangular solve splits in two and hands the off-diagonal block to BLAS.
TRIANGULAR_BLOCK = 64


def lower_triangular_solve(a: np.ndarray, b: np.ndarray, unit_diagonal: bool) -> np.ndarray:
    """``x`` with ``tril(a) @ x == b`` for stacks ``a [batch, n, n]``, ``b [batch, n, k]``.

    NumPy has no triangular solver and SciPy is not a dependency. Large systems are split
    recursively (``x1 = a11^-1 b1``, ``x2 = a22^-1 (b2 - a21 x1)``), so most of the work is one
    BLAS matrix product per level; blocks up to ``TRIANGULAR_BLOCK`` use substitution in numba,
    n^2 k per matrix where an LU-based ``np.linalg.solve`` would cost n^3 more. Entries above the
    diagonal (and the diagonal itself when ``unit_diagonal``) are never read.
    """
    out = np.array(b, dtype=a.dtype, order="C", copy=True)
    _solve_into(a, out, unit_diagonal)
    return out


def _solve_into(a: np.ndarray, b: np.ndarray, unit_diagonal: bool) -> None:
    n = a.shape[-1]
    if n <= TRIANGULAR_BLOCK:
        block = np.ascontiguousarray(b)
        _lower_solve_kernel(np.ascontiguousarray(a), block, unit_diagonal)
        if block is not b:
            b[...] = block
        return
    half = n // 2
    top, bottom = b[:, :half], b[:, half:]
    _solve_into(a[:, :half, :half], top, unit_diagonal)
    bottom -= np.matmul(a[:, half:, :half], top)
    _solve_into(a[:, half:, half:], bottom, unit_diagonal)


@numba.njit(inline="always")
def _pivot_size(x):  # pragma: no cover - compiled
    # LAPACK's getrf ranks complex pivots by |re| + |im| (cabs1), so do we: the same pivots,
    # hence the same factors, as JAX and SciPy. For real x it is |x|.
    return abs(x.real) + abs(x.imag)


@numba.njit(parallel=True, cache=True)
def _lu_kernel(a, pivots, perm):  # pragma: no cover - compiled
    # Right-looking LU with partial pivoting on rows (contiguous): each step swaps in the
    # largest pivot, scales the column below it and updates the trailing rows. A zero pivot
    # leaves its column unscaled, as LAPACK's getrf does.
    batch, n, _ = a.shape
    for t in numba.prange(batch):
        m = a[t]
        for i in range(n):
            perm[t, i] = i
        for k in range(n):
            p = k
            best = _pivot_size(m[k, k])
            for i in range(k + 1, n):
                size = _pivot_size(m[i, k])
                if size > best:
                    best = size
                    p = i
            pivots[t, k] = p
            if p != k:
                for c in range(n):
                    tmp = m[k, c]
                    m[k, c] = m[p, c]
                    m[p, c] = tmp
                tmp_i = perm[t, k]
                perm[t, k] = perm[t, p]
                perm[t, p] = tmp_i
            pivot = m[k, k]
            if pivot == 0.0:
                continue
            for i in range(k + 1, n):
                f = m[i, k] / pivot
                m[i, k] = f
                if f != 0.0:
                    for c in range(k + 1, n):
                        m[i, c] -= f * m[k, c]
    return a


def lu_factor(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(lu, pivots, permutation)`` of square matrices ``a [batch, n, n]`` (NumPy exposes no
    LU): ``a[permutation] == L @ U`` with ``L`` unit lower (below lu's diagonal) and ``U`` upper
    (lu's upper triangle); ``pivots[i]`` is the row swapped with row ``i`` at step ``i``."""
    lu = np.array(a, order="C", copy=True)
    batch, n = lu.shape[0], lu.shape[-1]
    pivots = np.empty((batch, n), np.int32)
    perm = np.empty((batch, n), np.int32)
    _lu_kernel(lu, pivots, perm)
    return lu, pivots, perm


@numba.njit(parallel=True, cache=True)
def _cholesky_block_kernel(a, start, stop, failed):  # pragma: no cover - compiled
    # Unblocked Cholesky (lower, row-oriented dot products) of the diagonal block
    # a[:, start:stop, start:stop] of every matrix; a matrix whose pivot is not positive is
    # flagged and left for the caller to fill with NaN.
    for t in numba.prange(a.shape[0]):
        if failed[t]:
            continue
        for j in range(start, stop):
            s = a[t, j, j]
            for k in range(start, j):
                s -= a[t, j, k] * a[t, j, k]
            if not s > 0.0:  # also catches NaN
                failed[t] = True
                break
            d = np.sqrt(s)
            a[t, j, j] = d
            for i in range(j + 1, stop):
                v = a[t, i, j]
                for k in range(start, j):
                    v -= a[t, i, k] * a[t, j, k]
                a[t, i, j] = v / d
    return a


# From this order up a blocked Cholesky (BLAS products for the trailing updates) beats
# NumPy's LAPACK call, which was 2-3x slower than JAX's and PyTorch's at 256 on our CPUs.
BLOCKED_CHOLESKY_MIN = 160
CHOLESKY_BLOCK = 64


def blocked_cholesky(a: np.ndarray) -> np.ndarray:
    """The lower Cholesky factor of symmetric matrices ``a [batch, n, n]`` (only the lower
    triangle is read), NaN for a matrix that is not positive definite (as in JAX).

    Right-looking and blocked: factor a diagonal block in numba, solve the panel below it with
    ``lower_triangular_solve``, subtract the panel's outer product from the trailing matrix
    with one BLAS product, and move on.
    """
    work = np.array(a, order="C", copy=True)
    batch, n = work.shape[0], work.shape[-1]
    failed = np.zeros(batch, np.bool_)
    for start in range(0, n, CHOLESKY_BLOCK):
        stop = min(start + CHOLESKY_BLOCK, n)
        _cholesky_block_kernel(work, start, stop, failed)
        if stop == n:
            break
        # panel L21 = A21 L11^-T, i.e. L11 L21^T = A21^T
        diag = work[:, start:stop, start:stop]
        panel = lower_triangular_solve(diag, np.swapaxes(work[:, stop:, start:stop], -1, -2),
                                       False)  # fmt: skip
        panel = np.swapaxes(panel, -1, -2)
        work[:, stop:, start:stop] = panel
        work[:, stop:, stop:] -= np.matmul(panel, np.swapaxes(panel, -1, -2))
    out = np.tril(work)
    out[failed] = np.nan
    return out


# LAPACK's eigen and singular value drivers (syevd, gesdd, geev) spend much of their time in
# level-2 BLAS (the reduction to tridiagonal / bidiagonal form), where OpenBLAS's threads mostly
# wait on each other: a 256x256 float32 eigh took 31-39 ms multithreaded and 6-14 ms on one
# thread, an svd 117-177 ms against 19-34 ms, on our 2 shared cores. Up to this order they run
# with BLAS on one thread; a stack of matrices is split over the worker pool instead.
SINGLE_THREAD_LAPACK_MAX = 512


def run_lapack(fn, a: np.ndarray):
    """``fn(a)`` (a ``numpy.linalg`` call on a stack ``a [..., m, n]`` returning an array or a
    tuple of arrays, each with ``a``'s leading axes first) with OpenBLAS on one thread, the
    stack's matrices split in contiguous chunks over the worker pool (NumPy's linalg releases
    the GIL). Larger matrices keep BLAS's own threads."""
    # imported here: the conv kernels package imports this module's dot_general users
    from vfunc.primitives.conv_kernels.threads import run_tasks, single_threaded_blas, worker_count

    if max(a.shape[-2:]) > SINGLE_THREAD_LAPACK_MAX:
        return fn(a)
    batch = a.shape[:-2]
    count = int(np.prod(batch, dtype=np.int64))
    chunks = min(count, worker_count())
    if chunks < 2:
        with single_threaded_blas():
            return fn(a)
    flat = a.reshape(-1, *a.shape[-2:])
    parts: list = [None] * chunks

    def work(i: int, _state) -> None:
        parts[i] = fn(flat[count * i // chunks: count * (i + 1) // chunks])

    run_tasks(work, chunks)  # BLAS single-threaded while it runs
    if not isinstance(parts[0], tuple):
        return np.concatenate(parts).reshape(*batch, *parts[0].shape[1:])
    return tuple(np.concatenate(group).reshape(*batch, *group[0].shape[1:])
                 for group in zip(*parts, strict=True))  # fmt: skip
