"""Distance layers with PyTorch's names and arguments: ``CosineSimilarity`` and
``PairwiseDistance``."""

from __future__ import annotations

import numpy as np

import vfunc.numpy as vnp
from vfunc.core import Array
from vfunc.errors import ShapeError
from vfunc.nn.module import Module, static_field

__all__ = ["CosineSimilarity", "PairwiseDistance"]


def _broadcast(layer: str, x1: Array, x2: Array) -> tuple[Array, Array]:
    x1, x2 = vnp.asarray(x1), vnp.asarray(x2)
    try:
        shape = np.broadcast_shapes(tuple(x1.shape), tuple(x2.shape))
    except ValueError as e:
        raise ShapeError(
            f"{layer}: x1 {tuple(x1.shape)} and x2 {tuple(x2.shape)} do not broadcast"
        ) from e
    return vnp.broadcast_to(x1, shape), vnp.broadcast_to(x2, shape)


class CosineSimilarity(Module):
    """The cosine similarity along ``dim``, as ``torch.nn.CosineSimilarity(dim=1, eps=1e-8)``:
    ``sum(x1 / max(|x1|, eps) * x2 / max(|x2|, eps))`` (PyTorch's present formula: each norm
    clamped at ``eps``).

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.CosineSimilarity(dim=-1)(vnp.array([[1.0, 0.0]]), vnp.array([[1.0, 1.0]]))
        Array([0.70710677], dtype=float32)
    """

    dim: int = static_field(default=1)
    eps: float = static_field(default=1e-8)

    def __call__(self, x1: Array, x2: Array) -> Array:
        x1, x2 = _broadcast("CosineSimilarity", x1, x2)

        def unit(v: Array) -> Array:
            norm = vnp.sqrt(vnp.sum(v * v, axis=self.dim, keepdims=True))
            return v / vnp.maximum(norm, self.eps)

        return vnp.sum(unit(x1) * unit(x2), axis=self.dim)


class PairwiseDistance(Module):
    """The ``p``-norm of ``x1 - x2 + eps`` along the last axis, as
    ``torch.nn.PairwiseDistance(p=2.0, eps=1e-6, keepdim=False)`` (``p`` is held as ``norm``,
    PyTorch's attribute name).

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.PairwiseDistance(eps=0.0)(vnp.array([[3.0, 0.0]]), vnp.array([[0.0, 4.0]]))
        Array([5.], dtype=float32)
    """

    norm: float = static_field(default=2.0)
    eps: float = static_field(default=1e-6)
    keepdim: bool = static_field(default=False)

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False):
        self.norm, self.eps, self.keepdim = float(p), float(eps), bool(keepdim)

    def __call__(self, x1: Array, x2: Array) -> Array:
        x1, x2 = _broadcast("PairwiseDistance", x1, x2)
        d = vnp.abs(x1 - x2 + self.eps)
        p, kw = self.norm, dict(axis=-1, keepdims=self.keepdim)
        if p == float("inf"):
            return vnp.max(d, **kw)
        return vnp.sum(d**p, **kw) ** (1.0 / p)
