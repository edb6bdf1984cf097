"""``vfunc.distributed``: SPMD across processes over MPI, and data-parallel training.

Install with ``pip install 'vfunc[distributed]'`` (mpi4py and the MPICH wheel) and start the
processes with ``mpiexec -n N python script.py``. Importing this package does not import
mpi4py; :func:`initialize` does.

* :func:`initialize`, :func:`process_index`, :func:`process_count`: the process group;
  :func:`launched_processes` says whether ``mpiexec`` started this process among others.
* :func:`spmd`: run a function with a named axis whose members are the processes, so
  ``vfunc.lax.psum`` and the other collectives combine values across processes.
* :class:`DataParallel`: replicated parameters, sharded batches, bucketed gradient averaging,
  checkpoints written once.
"""

from vfunc.distributed.data_parallel import DataParallel
from vfunc.distributed.mpi import (
    DistributedError,
    DistributedTimeoutError,
    MPIComm,
    initialize,
    launched_processes,
    process_count,
    process_index,
)
from vfunc.distributed.spmd import spmd

__all__ = [
    "DataParallel",
    "DistributedError",
    "DistributedTimeoutError",
    "MPIComm",
    "initialize",
    "launched_processes",
    "process_count",
    "process_index",
    "spmd",
]
