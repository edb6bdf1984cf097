"""The worker pool the BLAS-path kernels and the pooling kernels run on, and BLAS thread control.

The BLAS path runs one single-threaded BLAS per core, each worker owning whole images.
Multithreaded OpenBLAS on these short, wide products mostly waits: its threads spin between calls
and then compete with the packing, and the same product varied 100x in time. So the pool has one
worker per core, and OpenBLAS is set to one thread while the pool works.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numba
import numpy as np

_POOL: ThreadPoolExecutor | None = None
_WORKERS = 1
_BLAS_CONTROLS: Any = False  # not looked up yet
_BLAS_LOCK = threading.RLock()


def _openblas_thread_controls():
    """``(get, set)`` for the process-wide thread count of the OpenBLAS numpy links, or None.

    The symbols carry a build-dependent prefix and suffix (scipy-openblas wheels export
    ``scipy_openblas_set_num_threads64_``). OpenBLAS's ``openblas_set_num_threads_local`` is
    not thread-local in pthreads builds: called in a worker it left every later matrix product
    in the process single-threaded (twice as slow), so the count is set and restored around
    each parallel region instead.
    """
    import ctypes
    import glob

    libs = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs")
    for path in glob.glob(os.path.join(libs, "*openblas*")):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix in (("scipy_openblas", "64_"), ("scipy_openblas", ""),
                               ("openblas", "64_"), ("openblas", "")):  # fmt: skip
            try:
                get = getattr(lib, f"{prefix}_get_num_threads{suffix}")
                set_ = getattr(lib, f"{prefix}_set_num_threads{suffix}")
            except AttributeError:
                continue
            get.restype, get.argtypes = ctypes.c_int, []
            set_.restype, set_.argtypes = None, [ctypes.c_int]
            return get, set_
    return None


def pool() -> ThreadPoolExecutor:
    """The process's conv worker pool, one worker per core (started on first use)."""
    global _POOL, _WORKERS
    if _POOL is None:
        _WORKERS = max(1, min(os.cpu_count() or 1, numba.config.NUMBA_NUM_THREADS))
        _POOL = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="vfunc-conv")
    return _POOL


def worker_count() -> int:
    """How many workers ``pool()`` runs."""
    pool()
    return _WORKERS


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """BLAS runs single-threaded inside (each pool worker is one core's worth of BLAS)."""
    global _BLAS_CONTROLS
    if _BLAS_CONTROLS is False:
        _BLAS_CONTROLS = _openblas_thread_controls()
    if _BLAS_CONTROLS is None:
        yield
        return
    get, set_ = _BLAS_CONTROLS
    with _BLAS_LOCK:  # two threads running convolutions must not restore each other's count
        previous = get()
        set_(1)
        try:
            yield
        finally:
            set_(previous)


def _forget_pool_in_child() -> None:
    # A forked child inherits the executor but not its threads: start a new one on demand.
    global _POOL
    _POOL = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_child)


def run_over_images(work: Callable[[int, int], Any], n_img: int) -> list:
    """``work(n0, n1)`` on contiguous image ranges, one per worker; results in order."""
    executor = pool()
    chunks = min(n_img, _WORKERS)
    if chunks <= 1:
        return [work(0, n_img)]
    bounds = [n_img * i // chunks for i in range(chunks + 1)]
    with single_threaded_blas():
        futures = [
            executor.submit(work, a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)
        ]
        return [f.result() for f in futures]


def run_over_planes(work: Callable[[int, int], Any], planes: int, size: int) -> None:
    """``work(b0, b1)`` over blocks of independent planes; ``size`` elements in all."""
    # Small problems are not worth a hand-off to the pool.
    if size < (1 << 15):
        work(0, planes)
    else:
        run_over_images(work, planes)
