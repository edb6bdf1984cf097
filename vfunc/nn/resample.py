"""Resampling layers with PyTorch's arguments: ``PixelShuffle``, ``PixelUnshuffle`` and
``Upsample`` and ``interpolate`` (nearest, linear, bilinear, bicubic, trilinear, with
``align_corners``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

import vfunc.numpy as vnp
from vfunc.core import Array
from vfunc.errors import ShapeError
from vfunc.nn.module import Module, static_field

__all__ = [
    "ChannelShuffle", "PixelShuffle", "PixelUnshuffle", "Upsample", "UpsamplingBilinear2d",
    "UpsamplingNearest2d", "interpolate",
]  # fmt: skip


class PixelShuffle(Module):
    """``(*, C*r*r, H, W) -> (*, C, H*r, W*r)``, as ``torch.nn.PixelShuffle(upscale_factor)``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.PixelShuffle(2)(vnp.zeros((1, 8, 3, 3))).shape
        (1, 2, 6, 6)
    """

    upscale_factor: int = static_field()

    def __call__(self, x: Array) -> Array:
        x = vnp.asarray(x)
        r = self.upscale_factor
        if x.ndim < 3 or x.shape[-3] % (r * r):
            raise ShapeError(
                f"PixelShuffle: expected (*, C*{r * r}, H, W) input, got shape {tuple(x.shape)}"
            )
        *lead, c, h, w = x.shape
        lead = tuple(lead)
        x = vnp.reshape(x, lead + (c // (r * r), r, r, h, w))
        n = len(lead)
        x = vnp.transpose(x, tuple(range(n)) + (n, n + 3, n + 1, n + 4, n + 2))
        return vnp.reshape(x, lead + (c // (r * r), h * r, w * r))


class PixelUnshuffle(Module):
    """``(*, C, H*r, W*r) -> (*, C*r*r, H, W)``, the inverse of ``PixelShuffle``."""

    downscale_factor: int = static_field()

    def __call__(self, x: Array) -> Array:
        x = vnp.asarray(x)
        r = self.downscale_factor
        if x.ndim < 3 or x.shape[-1] % r or x.shape[-2] % r:
            raise ShapeError(
                f"PixelUnshuffle: expected (*, C, H, W) with H and W divisible by {r}, got shape "
                f"{tuple(x.shape)}"
            )
        *lead, c, h, w = x.shape
        lead = tuple(lead)
        n = len(lead)
        x = vnp.reshape(x, lead + (c, h // r, r, w // r, r))
        x = vnp.transpose(x, tuple(range(n)) + (n, n + 2, n + 4, n + 1, n + 3))
        return vnp.reshape(x, lead + (c * r * r, h // r, w // r))


class ChannelShuffle(Module):
    """Interleaves the channels of ``groups`` groups, as ``torch.nn.ChannelShuffle(groups)``:
    ``(N, C, *) -> (N, C, *)`` with channel ``g * (C / groups) + i`` moved to ``i * groups + g``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.ChannelShuffle(2)(vnp.arange(4.0).reshape(1, 4, 1))[0, :, 0]
        Array([0., 2., 1., 3.], dtype=float32)
    """

    groups: int = static_field()

    def __call__(self, x: Array) -> Array:
        x = vnp.asarray(x)
        g = self.groups
        if x.ndim < 3 or x.shape[1] % g:
            raise ShapeError(
                f"ChannelShuffle: expected an (N, C, *) input with C divisible by groups={g}, "
                f"got shape {tuple(x.shape)}"
            )
        n, c, rest = x.shape[0], x.shape[1], tuple(x.shape[2:])
        x = vnp.reshape(x, (n, g, c // g) + rest)
        return vnp.reshape(vnp.swapaxes(x, 1, 2), (n, c) + rest)


def _interp_matrix(n_in: int, n_out: int, mode: str, align_corners: bool,
                   scale: float | None) -> np.ndarray:  # fmt: skip
    """The (n_out, n_in) matrix of PyTorch's 1-D resampling, applied along one axis."""
    m = np.zeros((n_out, n_in))
    # PyTorch uses 1/scale_factor when a scale factor was given, in/out otherwise.
    ratio = (1.0 / scale) if scale else n_in / n_out
    rows = np.arange(n_out)
    if mode == "nearest":
        src = np.minimum(np.floor(rows * ratio).astype(int), n_in - 1)
        m[rows, src] = 1.0
        return m
    if align_corners:
        pos = rows * ((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0)
    else:
        pos = (rows + 0.5) * ratio - 0.5
    if mode == "bicubic":
        # PyTorch's cubic convolution (Keys, a = -0.75) over taps lo-1 .. lo+2, clamped at the
        # borders; the source position is not clamped at 0 as it is for linear.
        lo = np.floor(pos).astype(int)
        t = pos - lo
        for tap, w in enumerate(_cubic_weights(t)):
            np.add.at(m, (rows, np.clip(lo - 1 + tap, 0, n_in - 1)), w)
        return m
    pos = np.maximum(pos, 0.0)
    lo = np.minimum(np.floor(pos).astype(int), n_in - 1)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = pos - lo
    np.add.at(m, (np.arange(n_out), lo), 1.0 - frac)
    np.add.at(m, (np.arange(n_out), hi), frac)
    return m


def _cubic_weights(t: np.ndarray, a: float = -0.75) -> tuple[np.ndarray, ...]:
    """The four cubic-convolution weights for taps at distances ``t+1, t, 1-t, 2-t``."""

    def near(x: np.ndarray) -> np.ndarray:  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x: np.ndarray) -> np.ndarray:  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return far(t + 1), near(t), near(1 - t), far(2 - t)


class Upsample(Module):
    """Resizes the spatial axes of ``(N, C, *spatial)`` inputs, as ``torch.nn.Upsample(
    size=None, scale_factor=None, mode='nearest', align_corners=None)``; modes ``nearest``,
    ``linear``, ``bilinear``, ``bicubic`` (PyTorch's ``a = -0.75`` kernel, borders clamped) and
    ``trilinear``, each one separable interpolation per axis: a small constant matrix applied
    along that axis, so the gradient is its transpose.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.Upsample(scale_factor=2)(vnp.array([[[1.0, 2.0]]]))
        Array([[[1., 1., 2., 2.]]], dtype=float32)
    """

    size: Any = static_field(default=None)
    scale_factor: Any = static_field(default=None)
    mode: str = static_field(default="nearest")
    align_corners: bool | None = static_field(default=None)

    def __post_init__(self) -> None:
        if (self.size is None) == (self.scale_factor is None):
            raise ValueError("Upsample: pass exactly one of size and scale_factor")
        if self.mode not in ("nearest", "linear", "bilinear", "bicubic", "trilinear"):
            raise NotImplementedError(f"Upsample: mode {self.mode!r} is not supported")
        if self.mode == "nearest" and self.align_corners:
            raise ValueError("Upsample: align_corners only applies to the linear modes")
        for name in ("size", "scale_factor"):
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))

    def __call__(self, x: Array) -> Array:
        x = vnp.asarray(x)
        nsp = x.ndim - 2
        want = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}.get(self.mode)
        if nsp < 1 or (want is not None and nsp != want):
            raise ShapeError(
                f"Upsample: mode {self.mode!r} expects a {(want or 1) + 2}-D (N, C, ...) input, "
                f"got shape {tuple(x.shape)}"
            )

        def per_axis(value: Any) -> Sequence[Any]:
            return tuple(value) if isinstance(value, Sequence) else (value,) * nsp

        scales = per_axis(self.scale_factor) if self.size is None else (None,) * nsp
        sizes = per_axis(self.size) if self.size is not None else tuple(
            int(np.floor(n * s)) for n, s in zip(x.shape[2:], scales, strict=True))
        for i, (n_in, n_out, s) in enumerate(zip(x.shape[2:], sizes, scales, strict=True)):
            m = _interp_matrix(n_in, int(n_out), self.mode, bool(self.align_corners), s)
            x = vnp.moveaxis(vnp.tensordot(x, vnp.asarray(m.T, dtype=x.dtype),
                                           axes=[[2 + i], [0]]), -1, 2 + i)
        return x


class UpsamplingNearest2d(Upsample):
    """``Upsample(size, scale_factor, mode='nearest')`` of 4-D inputs, as
    ``torch.nn.UpsamplingNearest2d(size=None, scale_factor=None)``."""

    def __init__(self, size: Any = None, scale_factor: Any = None):
        super().__init__(size, scale_factor, "nearest", None)


class UpsamplingBilinear2d(Upsample):
    """``Upsample(size, scale_factor, mode='bilinear', align_corners=True)``, as
    ``torch.nn.UpsamplingBilinear2d(size=None, scale_factor=None)``."""

    def __init__(self, size: Any = None, scale_factor: Any = None):
        super().__init__(size, scale_factor, "bilinear", True)


def interpolate(input: Array, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                align_corners: bool | None = None) -> Array:  # fmt: skip
    """Resize the spatial axes of ``(N, C, *spatial)``, as ``torch.nn.functional.interpolate``
    (the modes and arguments of ``Upsample``; ``recompute_scale_factor`` and ``antialias`` are
    not taken).

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.interpolate(vnp.array([[[0.0, 1.0]]]), size=3, mode="linear", align_corners=True)
        Array([[[0. , 0.5, 1. ]]], dtype=float32)
    """
    return Upsample(size, scale_factor, mode, align_corners)(input)
