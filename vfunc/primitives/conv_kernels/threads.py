"""The worker pool the BLAS-path kernels and the pooling kernels run on, and BLAS thread control.

The BLAS path runs one single-threaded BLAS per core. Multithreaded OpenBLAS on these short, wide
products mostly waits: its threads spin between calls and then compete with the packing, and the
same product varied 100x in time. So OpenBLAS is set to one thread while a parallel region runs.

A region (``run_tasks``) is a list of independent tasks claimed one at a time from a shared
counter, by the calling thread and by up to ``worker_count() - 1`` pool workers. The caller never
waits while a task is left that it could run: when the workers start late (a loaded machine) the
caller simply runs more tasks, and it waits only at the end, for the tasks others still run.
(Handing every chunk to the pool and blocking on the futures had made about half of a LeNet
training step a wait on a lock.)
"""

from __future__ import annotations

import contextlib
import itertools
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
    """The process's conv worker pool, one worker per core (started on first use; a region uses
    the caller and ``worker_count() - 1`` of them)."""
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


class _Shared:
    """One parallel region: tasks are claimed one at a time from a shared counter by the caller
    and by helpers on the pool, so nobody waits while a task is left. The caller waits only at
    the end, for tasks other threads are still running."""

    def __init__(self, work: Callable[[int, Any], Any], tasks: int,
                 state: Callable[[], Any]) -> None:  # fmt: skip
        self.work, self.tasks, self.state = work, tasks, state
        self.claims = itertools.count()  # next() is atomic under the GIL
        self.finished = 0
        self.cond = threading.Condition(threading.Lock())
        self.states: list = []
        self.error: BaseException | None = None

    def participate(self) -> None:
        st = None
        while (task := next(self.claims)) < self.tasks:
            if self.error is None:  # after an error, the remaining tasks are only counted
                try:
                    if st is None:
                        st = self.state()
                        self.states.append(st)
                    self.work(task, st)
                except BaseException as exc:  # re-raised by the caller
                    self.error = exc
            with self.cond:
                self.finished += 1
                if self.finished == self.tasks:
                    self.cond.notify_all()

    def wait(self) -> None:
        """Once the caller finds no task left to claim: wait for those others still run."""
        with self.cond:
            while self.finished < self.tasks:
                self.cond.wait()


def run_tasks(work: Callable[[int, Any], Any], tasks: int,
              state: Callable[[], Any] = lambda: None) -> list:  # fmt: skip
    """Run ``work(task, st)`` for every task in ``range(tasks)`` on the caller and up to
    ``worker_count() - 1`` pool threads, with BLAS single-threaded. Each participating thread
    makes its scratch state ``st = state()`` once, on its first task; returns those states
    (for the caller to reduce per-thread partial results). Tasks run in any order and on any
    thread, each exactly once."""
    executor = pool()
    helpers = min(tasks, _WORKERS) - 1
    region = _Shared(work, tasks, state)
    if tasks == 1:  # one task: its BLAS may use every thread
        region.participate()
    else:
        with single_threaded_blas():
            for _ in range(helpers):
                executor.submit(region.participate)
            region.participate()
            region.wait()
    if region.error is not None:
        raise region.error
    return region.states


# How many fixed slices a summed region is cut into (see run_summed): a constant, not the worker
# count, so a gradient has the same bits on every machine and in every run.
SUM_SLICES = 8


def run_summed(work: Callable[[int, Any, np.ndarray], Any], tasks: int, state: Callable[[], Any],
               zeros: Callable[[], np.ndarray]) -> np.ndarray:  # fmt: skip
    """The sum over ``range(tasks)`` of what ``work(task, st, part)`` adds into ``part``, with
    the same bits whichever thread runs what: the tasks are cut into ``SUM_SLICES`` fixed
    contiguous slices, each slice adds its tasks in order into its own ``zeros()`` partial, and
    the partials are added in slice order. (Per-thread partials would make the rounding depend
    on which thread claimed which task: a training run would not repeat itself bit for bit.)
    ``st = state()`` is per-thread scratch, as in ``run_tasks``."""
    slices = min(tasks, SUM_SLICES)
    # Finished slices wait here until every earlier one is in the total, then join it: memory
    # stays at a few partials (one, with one worker) however many slices there are.
    waiting: dict[int, np.ndarray] = {}
    total: Any = None  # the sum of slices 0 .. next_slice - 1
    next_slice = 0
    lock = threading.Lock()

    def run_slice(i: int, st: Any) -> None:
        nonlocal total, next_slice
        part = zeros()
        for task in range(tasks * i // slices, tasks * (i + 1) // slices):
            work(task, st, part)
        with lock:
            waiting[i] = part
            while next_slice in waiting:
                ready = waiting.pop(next_slice)
                if total is None:
                    total = ready
                else:
                    total += ready
                next_slice += 1

    run_tasks(run_slice, slices, state)
    return total


# Elements below which a pass over planes runs on the caller (about a millisecond of pooling):
# a hand-off to the pool and the wait for it cost more on a busy 2-core machine (the digits
# CNN's 131,072-element max-pools spent more time in the hand-off than in the kernel).
INLINE_PLANE_ELEMENTS = 1 << 19


def run_over_planes(work: Callable[[int, int], Any], planes: int, size: int) -> None:
    """``work(b0, b1)`` over blocks of independent planes; ``size`` elements in all."""
    if size < INLINE_PLANE_ELEMENTS:
        work(0, planes)
        return
    blocks = min(planes, 4 * worker_count())
    run_tasks(lambda i, _: work(planes * i // blocks, planes * (i + 1) // blocks), blocks)
