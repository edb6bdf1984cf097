"""Data-parallel training over MPI processes: replicated parameters, sharded batches, gradients
averaged in large buckets."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from typing import Any

import numpy as np

import vfunc.numpy as vnp
from vfunc import io, tree
from vfunc.core import wrap_numpy
from vfunc.distributed.mpi import DistributedError, MPIComm, world

PathLike = str | os.PathLike


class DataParallel:
    """Synchronous data parallelism across the processes of an MPI job.

    Every process holds the whole model; each step, each process computes gradients on its
    shard of the batch, :meth:`mean_gradients` averages them across processes, and every
    process applies the same update, so parameters stay bit-identical (the average is computed
    so that every process receives the very same bits, see ``MPIComm.mean_identical``).

    Example (run with ``mpiexec -n 2 python train.py``)::

        dp = DataParallel()
        params = dp.replicate(init_params)            # rank 0's values everywhere
        for x, y in batches:                          # the same global batch on every rank
            xs, ys = dp.shard(x), dp.shard(y)         # this rank's rows
            grads = vfunc.grad(loss)(params, xs, ys)  # loss: a mean over the rows
            grads = dp.mean_gradients(grads)          # = the gradient of the global batch
            updates, opt_state = opt.update(grads, opt_state, params)
            params = optim.apply_updates(params, updates)
        dp.save_checkpoint("ckpt", step, params)      # written once, by rank 0

    Args:
        comm: the process group (default: the one ``initialize()`` joins).
        bucket_bytes: gradients are flattened into buffers of about this size, one message
            each, instead of one message per leaf.
        root: the rank whose parameters are replicated and who writes checkpoints.
    """

    def __init__(self, comm: MPIComm | None = None, *, bucket_bytes: int = 32 << 20, root: int = 0):
        self.comm = comm if comm is not None else world()
        self.bucket_bytes = int(bucket_bytes)
        self.root = int(root)

    @property
    def rank(self) -> int:
        """This process's rank."""
        return self.comm.rank

    @property
    def size(self) -> int:
        """The number of processes."""
        return self.comm.size

    def replicate(self, params: Any) -> Any:
        """``params`` as the root process holds them, on every process (one broadcast per
        bucket)."""

        def bcast(parts: list[np.ndarray]) -> np.ndarray:
            flat = np.concatenate([p.reshape(-1) for p in parts])  # a fresh buffer, broadcast into
            return self.comm.bcast(flat, self.root)

        return self._bucketed(params, bcast)

    def mean_gradients(self, grads: Any) -> Any:
        """The mean of every process's ``grads`` (a pytree), identical bits everywhere.

        The leaves of one dtype are packed into flat buckets of about ``bucket_bytes`` (the
        only copy; a bucket of one leaf is reduced from where it lies), each averaged in one
        reduce-scatter and all-gather (``MPIComm.mean_identical``) into a buffer nothing else
        holds (a large one is recycled once the arrays made from it are gone), and the returned
        leaves are views of those buffers.
        """
        return self._bucketed(grads, self.comm.mean_identical)

    def shard(self, batch: Any, axis: int = 0) -> Any:
        """This process's equal share of each leaf of ``batch`` along ``axis``.

        Raises:
            ValueError: a leaf's ``axis`` does not divide evenly among the processes (unequal
                shards would weight the processes' examples differently in the mean).
        """

        def take(leaf: Any) -> Any:
            n = leaf.shape[axis]
            if n % self.size:
                raise ValueError(
                    f"DataParallel.shard: a batch leaf of shape {tuple(leaf.shape)} has {n} rows "
                    f"along axis {axis}, which {self.size} processes cannot share equally; use "
                    f"a global batch size divisible by {self.size}"
                )
            m = n // self.size
            return vnp.take(leaf, vnp.arange(self.rank * m, (self.rank + 1) * m), axis=axis)

        return tree.map(take, batch)

    def check_identical(self, params: Any) -> None:
        """Raise :class:`DistributedError` unless every process holds bit-identical ``params``."""
        digest = hashlib.sha256()
        for leaf in tree.leaves(params):
            digest.update(np.ascontiguousarray(np.asarray(leaf)).tobytes())
        mine = np.frombuffer(digest.digest(), dtype=np.uint8)
        every = self.comm.allgather(mine)
        differing = [r for r in range(self.size) if not np.array_equal(every[r], every[0])]
        if differing:
            raise DistributedError(
                f"DataParallel: the parameters of ranks {differing} differ from rank 0's"
            )

    def save(self, path: PathLike, params: Any, **kwargs: Any) -> None:
        """``vfunc.io.save`` on the root process only; the others wait until it is written."""
        if self.rank == self.root:
            io.save(path, params, **kwargs)
        self.comm.barrier()

    def save_checkpoint(self, directory: PathLike, step: int, state: Any, **kwargs: Any) -> None:
        """``vfunc.io.save_checkpoint`` on the root process only; the others wait for it."""
        if self.rank == self.root:
            io.save_checkpoint(directory, step, state, **kwargs)
        self.comm.barrier()

    def _bucketed(self, values: Any, op: Any) -> Any:
        """Apply ``op`` to the leaves of one dtype in runs of about ``bucket_bytes`` (``op``
        takes the list of arrays and returns one new flat buffer of their concatenated
        values) and rebuild the tree from views of the results."""
        leaves, structure = tree.flatten(values)
        arrays = [np.asarray(leaf) for leaf in leaves]
        results: list[Any] = [None] * len(arrays)
        for bucket in _buckets(arrays, self.bucket_bytes):
            out = op([arrays[i] for i in bucket])
            start = 0
            for i in bucket:
                size = arrays[i].size
                # ``out`` is a fresh buffer nobody else holds: wrap views of it, never copy.
                results[i] = wrap_numpy(out[start : start + size].reshape(arrays[i].shape))
                start += size
        return tree.unflatten(structure, results)


def _buckets(arrays: list[np.ndarray], limit: int) -> Iterator[list[int]]:
    """Indices of ``arrays`` grouped by dtype, in order, into runs of about ``limit`` bytes."""
    by_dtype: dict[np.dtype, list[int]] = {}
    for i, a in enumerate(arrays):
        by_dtype.setdefault(a.dtype, []).append(i)
    for indices in by_dtype.values():
        bucket: list[int] = []
        nbytes = 0
        for i in indices:
            if bucket and nbytes + arrays[i].nbytes > limit:
                yield bucket
                bucket, nbytes = [], 0
            bucket.append(i)
            nbytes += arrays[i].nbytes
        if bucket:
            yield bucket


__all__ = ["DataParallel"]
