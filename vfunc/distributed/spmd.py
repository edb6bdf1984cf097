"""SPMD across processes: a named axis whose members are the MPI processes."""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable
from typing import Any

from vfunc.distributed.mpi import MPIComm, world
from vfunc.primitives.axis_env import AxisFrame, bind_axis


def spmd(fun: Callable, axis_name: Hashable, *, comm: MPIComm | None = None) -> Callable:
    """Run ``fun`` with ``axis_name`` bound to the processes: pmap-style SPMD over MPI ranks.

    Every process calls the returned function on its own (local) arguments, as with
    ``jax.pmap`` where each process holds one member: inside, ``vfunc.lax.psum(x, axis_name)``
    and the other collectives combine the values of all processes (through MPI),
    ``axis_index(axis_name)`` is the process's rank and ``axis_size(axis_name)`` the number of
    processes. Outputs are this process's values (after a ``psum`` they agree everywhere).

    It composes as the named vmap does: ``jit`` (the collective is a call in the compiled
    code), ``grad`` (the transpose of ``psum`` is ``psum``, as under ``jax.pmap`` and JAX's
    named vmap; shard_map's tracking of which values vary across devices, which transposes
    ``psum`` of an invariant cotangent differently, is not modelled), and named vmaps inside
    it, whose collectives stay within the process. Every process must run the same sequence of
    collectives on arrays of one shape and dtype; a mismatch raises
    ``vfunc.distributed.DistributedError`` naming each rank's shape, and a process that died
    makes the others raise ``DistributedTimeoutError`` after the deadline set by
    ``initialize(timeout=...)``.

    Differs from ``jax.experimental.shard_map``: there is no device mesh or partition specs;
    the caller passes each process its own shard (``DataParallel.shard`` takes it from a global
    batch).

    Args:
        fun: the per-process function.
        axis_name: the name collectives use for the process axis.
        comm: the process group (default: the one ``initialize()`` joined, joining it now if
            needed).

    Returns:
        ``fun`` with the axis bound while it runs.
    """

    @functools.wraps(fun)
    def run(*args: Any, **kwargs: Any) -> Any:
        group = comm if comm is not None else world()
        with bind_axis(AxisFrame(axis_name, group.size, comm=group)):
            return fun(*args, **kwargs)

    return run


__all__ = ["spmd"]
