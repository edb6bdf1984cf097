"""The named-axis environment: which axis names are bound, how big they are, and by whom.

A collective (``psum(x, "i")``) names an axis; the frame bound for that name says what the name
means: a ``vmap(..., axis_name="i")`` binds a frame whose ``trace`` is its batch trace (the
collective is then carried out by that trace's batching rule), and SPMD execution across
processes binds a frame whose ``comm`` carries the collectives out between processes (MPI).
The environment is per thread, like the trace stack; inner bindings shadow outer ones.

It lives in the primitive layer so that the collectives (here) and the transforms and
``vfunc.distributed`` (above) can all reach it without an upward import.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol


class ProcessComm(Protocol):
    """What a process-spanning axis provides; ``vfunc.distributed`` implements it over MPI.

    Every method takes and returns numpy arrays; every process of the axis calls the same
    method in the same order (SPMD).
    """

    rank: int
    size: int

    def allreduce(self, x: Any, op: str) -> Any: ...  # op: "sum", "max" or "min"

    def allgather(self, x: Any) -> Any: ...  # stacked on a new leading axis of ``size``

    def reduce_scatter(self, x: Any) -> Any: ...  # the sum of block ``rank`` of x's leading axis

    def alltoall(self, x: Any) -> Any: ...  # x's leading axis (``size``) is exchanged

    def ppermute(self, x: Any, perm: Sequence[tuple[int, int]]) -> Any: ...


@dataclass(frozen=True)
class AxisFrame:
    """One bound axis name: its size and what carries collectives over it.

    Exactly one of ``trace`` (a vmap's batch trace) and ``comm`` (processes) is set.
    """

    name: Hashable
    size: int
    trace: Any = None
    comm: ProcessComm | None = None


class _AxisEnv(threading.local):
    def __init__(self) -> None:
        self.frames: list[AxisFrame] = []


_env = _AxisEnv()


@contextmanager
def bind_axis(frame: AxisFrame) -> Iterator[AxisFrame]:
    """Bind ``frame.name`` for the duration of the block (shadowing an outer binding)."""
    _env.frames.append(frame)
    try:
        yield frame
    finally:
        _env.frames.remove(frame)


def lookup(name: Hashable, op: str) -> AxisFrame:
    """The innermost frame bound to ``name``.

    Raises:
        NameError: ``name`` is not bound, naming the axis and the bound ones (as JAX does).
    """
    for frame in reversed(_env.frames):
        if frame.name == name:
            return frame
    bound = [f.name for f in _env.frames]
    raise NameError(
        f"{op}: unbound axis name: {name!r}. Collectives need an enclosing "
        "vmap(..., axis_name=...) or vfunc.distributed.spmd(..., axis_name=...) that binds it; "
        f"bound axis names here: {bound}"
    )


def axis_names(axis_name: Any) -> tuple:
    """An ``axis_name`` argument (one name or a tuple of them) as a tuple."""
    return tuple(axis_name) if isinstance(axis_name, (tuple, list)) else (axis_name,)


__all__ = ["AxisFrame", "ProcessComm", "axis_names", "bind_axis", "lookup"]
