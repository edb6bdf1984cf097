"""``Unfold`` (sliding local blocks to columns, im2col) and its adjoint ``Fold`` (columns summed
back into an image), with PyTorch's arguments and layouts. These are layers a model asks for by
name; vfunc's convolutions never build the column matrix."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import vfunc.numpy as vnp
from vfunc import lax
from vfunc.core import Array
from vfunc.errors import ShapeError
from vfunc.nn.conv import ntuple
from vfunc.nn.module import Module, static_field

__all__ = ["Fold", "Unfold"]


class _Blocks(Module):
    kernel_size: tuple = static_field()
    dilation: tuple = static_field()
    padding: tuple = static_field()
    stride: tuple = static_field()

    def _set(self, kernel_size: Any, dilation: Any, padding: Any, stride: Any) -> None:
        name = type(self).__name__
        self.kernel_size = ntuple(name, "kernel_size", kernel_size, 2)
        self.dilation = ntuple(name, "dilation", dilation, 2)
        self.padding = ntuple(name, "padding", padding, 2)
        self.stride = ntuple(name, "stride", stride, 2)

    def _grid(self, size: tuple[int, int]) -> tuple[int, int]:
        """The number of block positions along H and W for an (unpadded) image of ``size``."""
        out = tuple((n + 2 * p - d * (k - 1) - 1) // s + 1 for n, p, d, k, s in zip(
            size, self.padding, self.dilation, self.kernel_size, self.stride, strict=True))
        if min(out) <= 0:
            raise ShapeError(
                f"{type(self).__name__}: an image of spatial size {tuple(size)} with padding "
                f"{self.padding} is smaller than one block (kernel_size {self.kernel_size}, "
                f"dilation {self.dilation})"
            )
        return out  # type: ignore[return-value, unused-ignore]

    def _windows(self, grid: tuple[int, int]) -> list[tuple[slice, slice]]:
        """For each kernel offset (row-major), the strided slices of the padded image."""
        return [tuple(slice(o * d, o * d + (g - 1) * s + 1, s) for o, d, g, s in zip(
            offset, self.dilation, grid, self.stride, strict=True))
            for offset in np.ndindex(*self.kernel_size)]

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")


class Unfold(_Blocks):
    """Sliding blocks to columns, as ``torch.nn.Unfold(kernel_size, dilation=1, padding=0,
    stride=1)``: ``(N, C, H, W)`` (or ``(C, H, W)``) to ``(N, C * kh * kw, L)``, column ``l``
    holding block ``l`` (row-major over the block grid), rows ordered channel, then kernel row,
    then kernel column.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.Unfold(2)(vnp.arange(9.0).reshape(1, 1, 3, 3))[0]
        Array([[0., 1., 3., 4.],
               [1., 2., 4., 5.],
               [3., 4., 6., 7.],
               [4., 5., 7., 8.]], dtype=float32)
    """

    def __init__(self, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1):
        self._set(kernel_size, dilation, padding, stride)

    def __call__(self, x: Array) -> Array:
        x = vnp.asarray(x)
        if x.ndim not in (3, 4):
            raise ShapeError(
                f"Unfold: expected a (N, C, H, W) or (C, H, W) input, got shape {tuple(x.shape)}"
            )
        unbatched = x.ndim == 3
        x = vnp.expand_dims(x, 0) if unbatched else x
        n, c = x.shape[0], x.shape[1]
        grid = self._grid(tuple(x.shape[2:]))
        (ph, pw) = self.padding
        x = vnp.pad(x, [(0, 0), (0, 0), (ph, ph), (pw, pw)])
        blocks = [x[(slice(None), slice(None)) + w] for w in self._windows(grid)]
        cols = vnp.reshape(vnp.stack(blocks, axis=2), (n, c * len(blocks), math.prod(grid)))
        return cols[0] if unbatched else cols


class Fold(_Blocks):
    """Columns back into an image, summing where blocks overlap, as ``torch.nn.Fold(
    output_size, kernel_size, dilation=1, padding=0, stride=1)``: ``(N, C * kh * kw, L)`` (or
    unbatched) to ``(N, C, *output_size)``; the adjoint of ``Unfold`` with the same arguments.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.Fold((3, 3), 2)(vnp.ones((1, 4, 4)))[0, 0]
        Array([[1., 2., 1.],
               [2., 4., 2.],
               [1., 2., 1.]], dtype=float32)
    """

    output_size: tuple = static_field()

    def __init__(self, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
                 stride: Any = 1):  # fmt: skip
        self.output_size = ntuple("Fold", "output_size", output_size, 2)
        self._set(kernel_size, dilation, padding, stride)

    def __call__(self, x: Array) -> Array:
        x = vnp.asarray(x)
        grid = self._grid(self.output_size)
        k = math.prod(self.kernel_size)
        if x.ndim not in (2, 3) or x.shape[-2] % k or x.shape[-1] != math.prod(grid):
            raise ShapeError(
                f"Fold: expected a (N, C * {k}, {math.prod(grid)}) or (C * {k}, "
                f"{math.prod(grid)}) input (kernel_size {self.kernel_size}, {grid[0]} x "
                f"{grid[1]} blocks for output_size {self.output_size}), got shape "
                f"{tuple(x.shape)}"
            )
        unbatched = x.ndim == 2
        x = vnp.expand_dims(x, 0) if unbatched else x
        n, c = x.shape[0], x.shape[1] // k
        blocks = vnp.reshape(x, (n, c, k) + grid)
        (ph, pw), (h, w) = self.padding, self.output_size
        out = vnp.zeros((n, c, h + 2 * ph, w + 2 * pw), x.dtype)
        for i, window in enumerate(self._windows(grid)):
            out = out.at[(slice(None), slice(None)) + window].add(blocks[:, :, i])
        out = lax.slice(out, (0, 0, ph, pw), (n, c, ph + h, pw + w))
        return out[0] if unbatched else out
