"""``Dropout`` and ``Dropout2d``: PyTorch's layers with an explicit PRNG key.

In training mode with ``p > 0`` a call needs ``key=``; in inference mode (``nn.inference_mode``)
or with ``p == 0`` it is the identity and takes none.
"""

from __future__ import annotations

from typing import Any

import vfunc.numpy as vnp
from vfunc.core import Array
from vfunc.errors import ShapeError
from vfunc.nn.initializers import random_module
from vfunc.nn.module import Module, static_field

__all__ = [
    "AlphaDropout", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "FeatureAlphaDropout",
    "dropout",
]  # fmt: skip


def dropout(x: Array, p: float, key: Any, mask_shape: tuple[int, ...] | None = None,
            layer: str = "dropout") -> Array:  # fmt: skip
    """Zero each element (or each ``mask_shape`` block) with probability ``p`` and scale the rest
    by ``1/(1-p)``."""
    x = vnp.asarray(x)
    keep = _keep_mask(x, p, key, mask_shape, layer)
    return vnp.zeros_like(x) if keep is None else vnp.where(keep, x / (1.0 - p), 0.0)


def _keep_mask(x: Array, p: float, key: Any, mask_shape: tuple[int, ...] | None,
               layer: str) -> Array | None:  # fmt: skip
    """The Bernoulli(1 - p) mask of the kept elements (None when p == 1: nothing is kept)."""
    if key is None:
        raise TypeError(
            f"{layer}: in training mode with p={p} a PRNG key is needed: call it with "
            "key=vfunc.random.key(...) (split one per step), or switch the model to inference "
            "with nn.inference_mode(model)"
        )
    if p >= 1.0:
        return None
    return random_module().bernoulli(key, 1.0 - p, x.shape if mask_shape is None else mask_shape)


class Dropout(Module):
    """Elementwise dropout, as ``torch.nn.Dropout(p=0.5)``; ``__call__(x, *, key=None)``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.inference_mode(nn.Dropout(0.5))(vnp.ones(2))  # identity, no key needed
        Array([1., 1.], dtype=float32)
    """

    p: float = static_field(default=0.5)
    inplace: bool = static_field(default=False)
    training: bool = static_field(default=True)

    def __post_init__(self) -> None:
        if not 0.0 <= self.p <= 1.0:
            raise ValueError(f"{type(self).__name__}: p must be in [0, 1], got {self.p}")

    def __call__(self, x: Array, *, key: Any = None) -> Array:
        if not self.training or self.p == 0.0:
            return vnp.asarray(x)
        return dropout(x, self.p, key, self._mask_shape(vnp.asarray(x)), type(self).__name__)

    def _mask_shape(self, x: Array) -> tuple[int, ...] | None:
        del x
        return None

    def extra_repr(self) -> str:
        return f"p={self.p}"


class _ChannelDropout(Dropout):
    """Zeroes whole channels of ``(N, C, *spatial)`` or ``(C, *spatial)`` inputs."""

    _nsp = 0

    def _mask_shape(self, x: Array) -> tuple[int, ...] | None:
        n = self._nsp
        if x.ndim not in (n + 1, n + 2):
            axes = ("L",) if n == 1 else ("D", "H", "W")[3 - n:]
            raise ShapeError(
                f"{type(self).__name__}: expected a (N, C, {', '.join(axes)}) or "
                f"(C, {', '.join(axes)}) input, got shape {tuple(x.shape)}"
            )
        return tuple(x.shape[:-n]) + (1,) * n


class Dropout1d(_ChannelDropout):
    """Channel dropout, as ``torch.nn.Dropout1d``: zeroes whole channels of ``(N, C, L)`` or
    ``(C, L)`` inputs."""

    _nsp = 1


class Dropout2d(_ChannelDropout):
    """Channel dropout, as ``torch.nn.Dropout2d``: zeroes whole channels of ``(N, C, H, W)``
    or ``(C, H, W)`` inputs."""

    _nsp = 2


class Dropout3d(_ChannelDropout):
    """Channel dropout, as ``torch.nn.Dropout3d``: zeroes whole channels of
    ``(N, C, D, H, W)`` or ``(C, D, H, W)`` inputs."""

    _nsp = 3


# SELU's saturation value -scale * alpha, negated: where AlphaDropout sends dropped units.
_SELU_SATURATION = 1.7580993408473766


class AlphaDropout(Dropout):
    """Dropout that keeps SELU's self-normalisation, as ``torch.nn.AlphaDropout(p=0.5)``: a
    dropped unit is set to SELU's saturation value, then an affine map restores zero mean and
    unit variance (``a (x * keep + alpha' (1 - keep)) + b``, PyTorch's constants).

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.inference_mode(nn.AlphaDropout(0.2))(vnp.ones(2))
        Array([1., 1.], dtype=float32)
    """

    def __call__(self, x: Array, *, key: Any = None) -> Array:
        x = vnp.asarray(x)
        if not self.training or self.p == 0.0:
            return x
        keep = _keep_mask(x, self.p, key, self._mask_shape(x), type(self).__name__)
        if keep is None:
            return vnp.zeros_like(x)
        alpha, p = _SELU_SATURATION, self.p
        a = 1.0 / ((alpha * alpha * p + 1.0) * (1.0 - p)) ** 0.5
        return vnp.where(keep, a * x, -alpha * a) + alpha * a * p


class FeatureAlphaDropout(AlphaDropout):
    """``AlphaDropout`` of whole channels of ``(N, C, *)`` inputs, as
    ``torch.nn.FeatureAlphaDropout(p=0.5)``."""

    def _mask_shape(self, x: Array) -> tuple[int, ...] | None:
        if x.ndim < 2:
            raise ShapeError(
                f"FeatureAlphaDropout: expected a (N, C, *) input, got shape {tuple(x.shape)}"
            )
        return tuple(x.shape[:2]) + (1,) * (x.ndim - 2)
