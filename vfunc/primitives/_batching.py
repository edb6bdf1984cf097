"""Helpers for the vmap rules declared with each primitive.

A batch rule has the form ``rule(args, dims, **params) -> (out, out_dim)``: ``dims[i]`` is the
axis of ``args[i]`` that vmap maps over, or ``None`` when that operand is the same for every
member of the batch (then it has no batch axis at all). Rules move a batch axis only when they
must, and never loop over the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import vfunc.primitives.builders as lax  # used at call time: the import cycle resolves by then


def batch_size(args: Sequence[Any], dims: Sequence[int | None]) -> int:
    """The size of the mapped axis, read off the first batched operand."""
    for x, d in zip(args, dims, strict=True):
        if d is not None:
            return x.shape[d]
    raise ValueError("batch rule called without a batched operand")  # pragma: no cover


def move_axis(x: Any, src: int, dst: int) -> Any:
    """``x`` with axis ``src`` moved to position ``dst`` (one transpose, none when equal)."""
    if src == dst:
        return x
    perm = [i for i in range(x.ndim) if i != src]
    perm.insert(dst, src)
    return lax.transpose(x, tuple(perm))


def to_front(x: Any, dim: int | None, size: int) -> Any:
    """``x`` with its batch axis first; an unbatched operand is broadcast to ``size`` (a view)."""
    if dim is None:
        return lax.broadcast_in_dim(x, (size, *x.shape), tuple(range(1, x.ndim + 1)))
    return move_axis(x, dim, 0)


def shift_axes(axes: Sequence[int], dim: int) -> tuple[int, ...]:
    """Per-example axis numbers as axis numbers of the batched operand (batch axis at ``dim``)."""
    return tuple(a + 1 if a >= dim else a for a in axes)


def elementwise_batch(prim: Any, args: Sequence[Any], dims: Sequence[int | None], **params: Any):
    """The rule of every NumPy-broadcasting elementwise primitive.

    When every non-scalar operand is batched at the same axis with the same rank the primitive
    applies as is; otherwise batched operands get their batch axis first and are padded with
    unit axes to the common rank, so NumPy broadcasting aligns unbatched operands on the right.
    """
    ranks = [x.ndim - (d is not None) for x, d in zip(args, dims, strict=True)]
    out_rank = max(ranks)
    batched = {d for x, d in zip(args, dims, strict=True) if d is not None}
    aligned = len(batched) == 1 and all(
        (d is not None and r == out_rank) or (d is None and r == 0)
        for r, d in zip(ranks, dims, strict=True)
    )
    if aligned:
        return prim.bind(*args, **params), batched.pop()
    moved = []
    for x, d, r in zip(args, dims, ranks, strict=True):
        if d is not None:
            x = move_axis(x, d, 0)
            if r < out_rank:
                x = lax.expand_dims(x, tuple(range(1, 1 + out_rank - r)))
        moved.append(x)
    return prim.bind(*moved, **params), 0


def full_batch(prim: Any, args: Sequence[Any], dims: Sequence[int | None], **params: Any):
    """A rule for primitives whose operands must share one shape: all batched at axis 0."""
    size = batch_size(args, dims)
    return prim.bind(*[to_front(x, d, size) for x, d in zip(args, dims, strict=True)], **params), 0


def select_batch(prim: Any, args: Sequence[Any], dims: Sequence[int | None]):
    """The rule of ``select``, whose cases must share one shape and whose predicate is that
    shape or a scalar: everything batched goes first, a per-member scalar predicate is
    broadcast to the cases' shape."""
    if len(set(dims)) == 1 and len({x.ndim for x in args}) == 1:
        return prim.bind(*args), dims[0]
    size = batch_size(args, dims)
    (pred, on_true, on_false), (pred_dim, *case_dims) = args, dims
    on_true, on_false = (
        to_front(x, d, size) for x, d in zip((on_true, on_false), case_dims, strict=True)
    )
    if pred_dim is not None or pred.ndim:
        pred = to_front(pred, pred_dim, size)
        if pred.ndim == 1 and on_true.ndim > 1:
            pred = lax.broadcast_in_dim(pred, on_true.shape, (0,))
    return prim.bind(pred, on_true, on_false), 0
