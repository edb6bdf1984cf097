"""The MPI side of ``vfunc.distributed``: the process group and its collectives on numpy buffers.

mpi4py (``pip install vfunc[distributed]``, which brings an MPI library as a wheel) is imported
only when :func:`initialize` runs, so ``import vfunc`` never needs it.

Before exchanging data, processes exchange the operation, shape and dtype they hold in one small
non-blocking ``Iallgather`` waited for against a deadline: a process that died or stopped calling
collectives makes the others fail with :class:`DistributedTimeoutError` instead of hanging, and
a mismatch is reported with every rank's shape. Once every process has arrived with matching
arrays, the data moves with MPI's blocking collectives (``Allreduce``...), which progress at full
speed (a polled non-blocking transfer is slower); ``ppermute``'s point-to-point messages stay
non-blocking and bounded by the deadline.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

_DEFAULT_TIMEOUT = 300.0
_META_LEN = 12  # op, dtype, ndim and up to 9 dims, as int64: one small Iallgather per call
_OPS = {"sum": 0, "max": 1, "min": 2, "allgather": 3, "alltoall": 4, "ppermute": 5,
        "bcast": 6, "reduce_scatter": 7, "barrier": 8}  # fmt: skip


class DistributedError(RuntimeError):
    """A collective across processes cannot proceed (a mismatch between processes)."""


class DistributedTimeoutError(DistributedError, TimeoutError):
    """A collective did not complete before the deadline: a process died or diverged."""


def _import_mpi() -> Any:
    try:
        from mpi4py import MPI
    except ImportError as err:  # pragma: no cover - depends on the installation
        raise ImportError(
            "vfunc.distributed needs mpi4py and an MPI library: pip install 'vfunc[distributed]' "
            "(mpi4py and the mpich wheel)"
        ) from err
    return MPI


class MPIComm:
    """A process group (an MPI communicator) with deadline-bounded collectives on numpy arrays.

    Implements ``vfunc.primitives.axis_env.ProcessComm``, so a process axis can carry out
    vfunc's collectives with it.

    Args:
        comm: an ``mpi4py.MPI.Comm`` (default ``COMM_WORLD``).
        timeout: seconds any one collective may take before :class:`DistributedTimeoutError`.
    """

    def __init__(self, comm: Any = None, timeout: float = _DEFAULT_TIMEOUT):
        self.MPI = _import_mpi()
        self.comm = self.MPI.COMM_WORLD if comm is None else comm
        self.rank: int = self.comm.Get_rank()
        self.size: int = self.comm.Get_size()
        self.timeout = float(timeout)
        self._buffers = _Recycler()

    # -- waiting with a deadline --------------------------------------------------------------

    def _wait(self, requests: Sequence[Any], what: str) -> None:
        deadline = time.monotonic() + self.timeout
        MPI = self.MPI
        spins = 0
        while not MPI.Request.Testall(list(requests)):
            spins += 1
            if spins > 1000:  # past the first moments, poll gently: other ranks need the core
                time.sleep(1e-4)
                if time.monotonic() > deadline:
                    raise DistributedTimeoutError(
                        f"rank {self.rank} of {self.size}: {what} did not complete within "
                        f"{self.timeout:g} s; another process has probably died, hangs, or is "
                        "not calling the same collective (every process must run the same "
                        "sequence of collectives). Set the limit with "
                        "vfunc.distributed.initialize(timeout=...)."
                    )

    def _check_same(self, x: np.ndarray, op: str, what: str) -> None:
        """Exchange (op, dtype, shape) and raise if any process holds something else."""
        meta = np.full(_META_LEN, -1, dtype=np.int64)
        meta[0], meta[1], meta[2] = _OPS[op], x.dtype.num, x.ndim
        dims = x.shape[: _META_LEN - 3]
        meta[3 : 3 + len(dims)] = dims
        every = np.empty((self.size, _META_LEN), dtype=np.int64)
        self._wait([self.comm.Iallgather(meta, every)], f"{what} (exchanging shapes)")
        if (every == meta).all():
            return
        listing = ", ".join(f"rank {r}: {_describe(row)}" for r, row in enumerate(every))
        raise DistributedError(
            f"{what}: the processes disagree on the operation, shape or dtype ({listing}); every "
            "process must call the same collective on arrays of one shape and dtype"
        )

    # -- the ProcessComm interface ------------------------------------------------------------

    def allreduce(self, x: np.ndarray, op: str, *, check: bool = True) -> np.ndarray:
        """Elementwise ``op`` ("sum", "max", "min") over the processes' ``x``."""
        x = _contiguous(x)
        what = f"all-reduce ({op}) of {_short(x)}"
        if check:
            self._check_same(x, op, what)
        out = self._buffers.empty(x.size, x.dtype).reshape(x.shape)
        mpi_op = {"sum": self.MPI.SUM, "max": self.MPI.MAX, "min": self.MPI.MIN}[op]
        self.comm.Allreduce(x, out, mpi_op)
        return out

    def allgather(self, x: np.ndarray) -> np.ndarray:
        """Every process's ``x`` stacked along a new leading axis."""
        x = _contiguous(x)
        what = f"all-gather of {_short(x)}"
        self._check_same(x, "allgather", what)
        out = np.empty((self.size, *x.shape), dtype=x.dtype)
        self.comm.Allgather(x, out)
        return out

    def reduce_scatter(self, x: np.ndarray) -> np.ndarray:
        """The sum over processes of block ``rank`` of ``x``'s leading axis (of ``size``)."""
        x = _contiguous(x)
        what = f"reduce-scatter of {_short(x)}"
        self._check_same(x, "reduce_scatter", what)
        out = np.empty(x.shape[1:], dtype=x.dtype)
        self.comm.Reduce_scatter_block(x, out, self.MPI.SUM)
        return out

    def alltoall(self, x: np.ndarray) -> np.ndarray:
        """Block j of ``x``'s leading axis goes to process j; block k of the result came from
        process k."""
        x = _contiguous(x)
        what = f"all-to-all of {_short(x)}"
        self._check_same(x, "alltoall", what)
        out = np.empty_like(x)
        self.comm.Alltoall(x, out)
        return out

    def ppermute(self, x: np.ndarray, perm: Sequence[tuple[int, int]]) -> np.ndarray:
        """Process ``dst`` receives ``x`` from ``src`` for each pair; others receive zeros."""
        x = _contiguous(x)
        what = f"ppermute of {_short(x)}"
        self._check_same(x, "ppermute", what)
        out = np.zeros_like(x)
        requests = []
        for src, dst in perm:
            if src == self.rank:
                requests.append(self.comm.Isend(x, dest=dst, tag=17))
            if dst == self.rank:
                requests.append(self.comm.Irecv(out, source=src, tag=17))
        self._wait(requests, what)
        return out

    # -- for the training helper --------------------------------------------------------------

    def bcast(self, x: np.ndarray, root: int = 0) -> np.ndarray:
        """``root``'s ``x`` on every process."""
        x = np.array(x, copy=True, order="C")
        what = f"broadcast of {_short(x)} from rank {root}"
        self._check_same(x, "bcast", what)
        self.comm.Bcast(x, root=root)
        return x

    def mean_identical(self, parts: Sequence[np.ndarray]) -> np.ndarray:
        """The mean over the processes of the concatenation of the flat ``parts`` (one dtype),
        in one flat buffer, bit-identical on every process.

        A reduce-scatter, each process dividing the block it summed, and an in-place
        all-gather: a ring all-reduce's traffic, and every process ends with the very same bits,
        which a plain ``MPI_Allreduce`` does not promise for floats. The only copy is the
        packing of several parts into the buffer (one part is reduced from where it lies), and
        the buffer is a recycled one when the previous result has been released. Integer
        values are floor-divided.
        """
        dtype = parts[0].dtype
        n = sum(p.size for p in parts)
        block = -(-n // self.size)
        # The last blocks may be short (or empty): the all-gather moves whole blocks of a
        # buffer padded to size * block, the tail is never read.
        counts = [min(block, max(0, n - r * block)) for r in range(self.size)]
        out = self._buffers.empty(block * self.size, dtype)
        self._check_same(out[:n], "reduce_scatter", f"gradient all-reduce of {_short(out[:n])}")
        if n == 0:
            return out
        MPI = self.MPI
        mine = out[self.rank * block : self.rank * block + counts[self.rank]]
        if len(parts) == 1:  # reduce straight from the caller's array
            send = _contiguous(parts[0]).reshape(-1)
            self.comm.Reduce_scatter(send, mine, counts, MPI.SUM)
            summed = mine
        else:
            start = 0
            for part in parts:
                out[start : start + part.size] = part.reshape(-1)
                start += part.size
            # In place, each process's summed block lands at the front of the buffer.
            self.comm.Reduce_scatter(MPI.IN_PLACE, out[:n], counts, MPI.SUM)
            summed = out[: counts[self.rank]]
        divide = np.true_divide if dtype.kind in "fc" else np.floor_divide
        divide(summed, np.asarray(self.size, dtype=dtype), out=mine)  # and moved home
        self.comm.Allgather(MPI.IN_PLACE, out)
        return out[:n]

    def barrier(self) -> None:
        """Wait (with the deadline) until every process gets here."""
        self._wait([self.comm.Ibarrier()], "barrier")


class _Recycler:
    """Large result buffers, handed out again once nothing refers to them.

    A fresh 100 MB buffer costs its page faults, a large part of an all-reduce's time. Results
    are immutable arrays, so a buffer is reused only when no array holds it: every array made
    from it (a view, at any depth) refers to it as its ``base``, so its reference count says
    when the last one is gone.
    """

    MIN_BYTES = 1 << 20  # smaller buffers come from numpy's own cache quickly enough

    def __init__(self, keep: int = 4):
        self.buffers: list[np.ndarray] = []
        self.keep = keep

    def empty(self, n: int, dtype: np.dtype) -> np.ndarray:
        """A flat buffer of ``n`` values of ``dtype`` that nothing else holds."""
        dtype = np.dtype(dtype)
        if n * dtype.itemsize < self.MIN_BYTES:
            return np.empty(n, dtype=dtype)
        # Free: referred to by the list and by getrefcount's argument only.
        free = [i for i in range(len(self.buffers)) if sys.getrefcount(self.buffers[i]) == 2]
        for i in free:
            if self.buffers[i].size == n and self.buffers[i].dtype == dtype:
                return self.buffers[i]
        fresh = np.empty(n, dtype=dtype)
        if len(self.buffers) < self.keep:
            self.buffers.append(fresh)
        elif free:  # replace a free buffer of another size
            self.buffers[free[0]] = fresh
        return fresh


def _contiguous(x: Any) -> np.ndarray:
    """``x`` as a C-contiguous array of its own shape (``np.ascontiguousarray`` makes a 0-d
    array 1-d)."""
    return np.require(x, requirements="C")


def _short(x: np.ndarray) -> str:
    return f"{x.dtype.name}[{','.join(map(str, x.shape))}]"


def _describe(row: np.ndarray) -> str:
    op = {v: k for k, v in _OPS.items()}.get(int(row[0]), "?")
    ndim = int(row[2])
    dims = ",".join(str(int(d)) for d in row[3 : 3 + min(ndim, _META_LEN - 3)])
    return f"{op} of {_DTYPE_NAMES.get(int(row[1]), '?')}[{dims}]"


_DTYPE_NAMES = {
    np.dtype(t).num: np.dtype(t).name
    for t in ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
              "float16", "float32", "float64", "complex64", "complex128")
}  # fmt: skip


_world: MPIComm | None = None


def initialize(comm: Any = None, *, timeout: float | None = None) -> MPIComm:
    """Join the process group that ``mpiexec`` started (reads the MPI environment).

    Safe to call more than once: later calls only update ``timeout``. Once initialized, an
    exception that escapes to the top level of a process aborts the whole job (instead of
    leaving the other processes waiting).

    Args:
        comm: an ``mpi4py`` communicator to use instead of ``COMM_WORLD``.
        timeout: seconds one collective may take before it raises
            :class:`DistributedTimeoutError`; default 300, or ``VFUNC_DISTRIBUTED_TIMEOUT``.

    Returns:
        The process group.

    Raises:
        ImportError: mpi4py is not installed (``pip install 'vfunc[distributed]'``).
    """
    global _world
    if timeout is None:
        timeout = float(os.environ.get("VFUNC_DISTRIBUTED_TIMEOUT", _DEFAULT_TIMEOUT))
    if _world is None or comm is not None:
        _world = MPIComm(comm, timeout)
        if _world.size > 1:
            _install_abort_hook(_world)
            _install_failure_notice(_world)
    _world.timeout = float(timeout)
    return _world


def _install_abort_hook(world: MPIComm) -> None:
    previous = sys.excepthook

    def hook(kind: Any, value: Any, tb: Any) -> None:
        previous(kind, value, tb)
        sys.stderr.flush()
        world.comm.Abort(1)  # the job ends now, rather than at the others' next deadline

    sys.excepthook = hook


# What MPI launchers tell the processes they start: MPICH's and Intel's hydra (PMI), Open MPI,
# MVAPICH.
_LAUNCHER_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")


def launched_processes() -> int:
    """How many processes the MPI launcher started this one among (1 when it was not started
    by ``mpiexec``), read from the launcher's environment variables without importing mpi4py.

    A script that should run both alone and under ``mpiexec -n N`` calls :func:`initialize`
    only when this is above 1, so running it alone needs no MPI at all.

    Example:
        >>> import vfunc.distributed
        >>> vfunc.distributed.launched_processes()  # not under mpiexec
        1
    """
    for var in _LAUNCHER_SIZE_VARS:
        value = os.environ.get(var, "")
        if value.isdigit():
            return int(value)
    return 1


def _install_failure_notice(world: MPIComm) -> None:
    """Turn the launcher's notice that a process died into a :class:`DistributedError`.

    By default MPICH's ``mpiexec`` ends the whole job when a process dies (its exit code is the
    job's). Under ``mpiexec -disable-auto-cleanup`` it lets the others run and sends them
    SIGUSR1 instead, whose default action kills silently; here it raises, so the collective
    waiting for the dead process fails at once, naming the cause. A handler the program
    installed is left alone.
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGUSR1) is not signal.SIG_DFL
    ):
        return

    def notice(signum: int, frame: Any) -> None:
        raise DistributedError(
            f"rank {world.rank} of {world.size}: the MPI launcher reports that another process "
            "of the job has died (SIGUSR1 from mpiexec -disable-auto-cleanup); the collectives "
            "cannot complete without it"
        )

    signal.signal(signal.SIGUSR1, notice)


def world() -> MPIComm:
    """The process group, initializing it on first use."""
    return _world if _world is not None else initialize()


def process_index() -> int:
    """This process's rank (0 when :func:`initialize` has not run, as a single process)."""
    return 0 if _world is None else _world.rank


def process_count() -> int:
    """The number of processes (1 when :func:`initialize` has not run)."""
    return 1 if _world is None else _world.size


__all__ = [
    "DistributedError",
    "DistributedTimeoutError",
    "MPIComm",
    "initialize",
    "launched_processes",
    "process_count",
    "process_index",
    "world",
]
