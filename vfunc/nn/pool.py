"""Pooling layers with PyTorch's arguments: ``MaxPool1d/2d/3d`` (return_indices),
``MaxUnpool1d/2d/3d``, ``LPPool1d/2d/3d``, ``AvgPool1d/2d/3d`` (ceil_mode, count_include_pad,
divisor_override), ``AdaptiveAvgPool1d/2d/3d`` and ``AdaptiveMaxPool1d/2d/3d``, over
``lax.reduce_window`` and slicing."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import vfunc.numpy as vnp
from vfunc import lax
from vfunc.core import Array
from vfunc.errors import ShapeError
from vfunc.nn.conv import ntuple, parse_options
from vfunc.nn.module import Module, static_field

__all__ = [
    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d", "MaxPool1d",
    "MaxPool2d", "MaxPool3d", "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d", "LPPool1d", "LPPool2d",
    "LPPool3d",
]  # fmt: skip


def _batched(layer: str, x: Array, nsp: int) -> tuple[Array, bool]:
    x = vnp.asarray(x)
    if x.ndim not in (nsp + 1, nsp + 2):
        raise ShapeError(
            f"{layer}: expected a {nsp + 2}-D (N, C, ...) or {nsp + 1}-D (C, ...) input, got "
            f"shape {tuple(x.shape)}"
        )
    return (vnp.expand_dims(x, 0), True) if x.ndim == nsp + 1 else (x, False)


def _out_size(n: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    span = n + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    # PyTorch: the last window must start inside the input or its left padding.
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


class _PoolNd(Module):
    kernel_size: tuple = static_field()
    stride: tuple = static_field()
    padding: tuple = static_field()
    dilation: tuple = static_field()
    ceil_mode: bool = static_field()
    count_include_pad: bool = static_field()
    divisor_override: int | None = static_field()
    return_indices: bool = static_field()

    _nsp = 0
    _kind = "max"

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, *args: Any,
                 **kwargs: Any):  # fmt: skip
        name, n = type(self).__name__, self._nsp
        if self._kind == "max":
            names, defaults = ("dilation", "return_indices", "ceil_mode"), {
                "dilation": 1, "return_indices": False, "ceil_mode": False}
        else:
            names, defaults = ("ceil_mode", "count_include_pad", "divisor_override"), {
                "ceil_mode": False, "count_include_pad": True, "divisor_override": None}
        opts = parse_options(name, names, defaults, args, kwargs)
        self.return_indices = bool(opts.get("return_indices", False))
        self.kernel_size = ntuple(name, "kernel_size", kernel_size, n)
        self.stride = self.kernel_size if stride is None else ntuple(name, "stride", stride, n)
        self.padding = ntuple(name, "padding", padding, n)
        self.dilation = ntuple(name, "dilation", opts.get("dilation", 1), n)
        for p, k in zip(self.padding, self.kernel_size, strict=True):
            if p > k // 2:
                raise ValueError(
                    f"{name}: padding {self.padding} must be at most half the kernel size "
                    f"{self.kernel_size}"
                )
        self.ceil_mode = bool(opts["ceil_mode"])
        self.count_include_pad = bool(opts.get("count_include_pad", True))
        self.divisor_override = opts.get("divisor_override")

    def __call__(self, x: Array) -> Array | tuple[Array, Array]:
        name, n = type(self).__name__, self._nsp
        x, unbatched = _batched(name, x, n)
        spatial = x.shape[2:]
        outs = [_out_size(L, k, s, p, d, self.ceil_mode) for L, k, s, p, d in zip(
            spatial, self.kernel_size, self.stride, self.padding, self.dilation, strict=True)]
        if any(o <= 0 for o in outs):
            raise ShapeError(
                f"{name}: input {tuple(x.shape)} is too small for kernel_size "
                f"{self.kernel_size} (output size {tuple(outs)})"
            )
        # The high side gets whatever extra padding ceil_mode's last window needs.
        pads = []
        for L, k, s, p, d, o in zip(spatial, self.kernel_size, self.stride, self.padding,
                                    self.dilation, outs, strict=True):  # fmt: skip
            need = (o - 1) * s + d * (k - 1) + 1
            pads.append((p, max(need - L - p, 0)))
        window = (1, 1) + self.kernel_size
        strides = (1, 1) + self.stride
        full_pads = [(0, 0), (0, 0)] + pads
        if self.return_indices:
            y, idx = self._max_with_indices(x, full_pads, outs)
            return (y[0], idx[0]) if unbatched else (y, idx)
        if self._kind == "max":
            y = lax.reduce_window(x, -np.inf, lax.max, window, strides, full_pads,
                                  window_dilation=(1, 1) + self.dilation)
        else:
            total = lax.reduce_window(x, 0.0, lax.add, window, strides, full_pads)
            y = total / vnp.asarray(self._divisor(spatial, pads), dtype=x.dtype)
        return y[0] if unbatched else y

    def _max_with_indices(self, x: Array, full_pads: list[tuple[int, int]],
                          outs: list[int]) -> tuple[Array, Array]:  # fmt: skip
        """The max of each window and its flat index in the (unpadded) spatial plane of its
        channel, as PyTorch's ``return_indices``: the first maximum, NaN winning. The value is
        gathered at that index, so its gradient goes to that one element, as PyTorch's."""
        spatial = tuple(x.shape[2:])
        xp = vnp.pad(x, full_pads, constant_values=-np.inf)
        flat = np.pad(np.arange(math.prod(spatial)).reshape(spatial), full_pads[2:],
                      constant_values=-1)
        windows, where = [], []
        for offset in np.ndindex(*self.kernel_size):
            start = [o * d for o, d in zip(offset, self.dilation, strict=True)]
            limit = [b + (o - 1) * s + 1 for b, o, s in zip(start, outs, self.stride,
                                                             strict=True)]
            windows.append(lax.slice(xp, [0, 0] + start, list(x.shape[:2]) + limit,
                                     (1, 1) + self.stride))
            where.append(flat[tuple(slice(b, e, st) for b, e, st in zip(
                start, limit, self.stride, strict=True))])
        stacked = vnp.stack(windows, axis=-1)  # (N, C, *out, K)
        best = vnp.argmax(stacked, axis=-1)
        y = vnp.squeeze(vnp.take_along_axis(stacked, vnp.expand_dims(best, -1), axis=-1), -1)
        k = len(windows)
        table = np.stack(where, axis=-1).reshape(-1)  # (prod(out) * K,): window slot -> index
        slot = vnp.asarray(np.arange(math.prod(outs)).reshape(tuple(outs)) * k) + best
        return y, vnp.take(vnp.asarray(table), slot)

    def _divisor(self, spatial: tuple[int, ...], pads: list[tuple[int, int]]) -> np.ndarray:
        if self.divisor_override:
            return np.asarray(float(self.divisor_override))
        # Count the elements each window averages: with count_include_pad the explicit padding
        # counts, ceil_mode's extra high padding never does (as PyTorch).
        counts = np.ones(spatial)
        explicit = [(p, p) for p in self.padding]
        if self.count_include_pad:
            counts = np.pad(counts, explicit, constant_values=1.0)
            extra = [(0, hi - p) for (p, hi) in pads]
        else:
            extra = pads
        counts = np.pad(counts, extra)
        for axis, (k, s) in enumerate(zip(self.kernel_size, self.stride, strict=True)):
            c = np.cumsum(np.concatenate([np.zeros_like(np.take(counts, [0], axis)), counts],
                                         axis=axis), axis=axis)
            n_out = (counts.shape[axis] - k) // s + 1
            starts = np.arange(n_out) * s
            counts = np.take(c, starts + k, axis) - np.take(c, starts, axis)
        return counts

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
                + (f", dilation={self.dilation}" if self._kind == "max" else "")
                + f", ceil_mode={self.ceil_mode}")


class MaxPool1d(_PoolNd):
    """Max pooling, as ``torch.nn.MaxPool1d(kernel_size, stride=None, padding=0, dilation=1,
    return_indices=False, ceil_mode=False)``. With ``return_indices`` the call returns
    ``(output, indices)``: PyTorch's flat index of each maximum within its channel's spatial
    plane (what ``MaxUnpool1d`` takes). Differs from PyTorch: the indices have the default int
    dtype (int32 unless x64 is enabled), not always int64.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.MaxPool1d(2)(vnp.array([[1.0, 3.0, 2.0, 0.0]]))
        Array([[3., 2.]], dtype=float32)
    """

    _nsp = 1


class MaxPool2d(_PoolNd):
    """Max pooling over (H, W), as ``torch.nn.MaxPool2d`` (see ``MaxPool1d``)."""

    _nsp = 2


class MaxPool3d(_PoolNd):
    """Max pooling over (D, H, W), as ``torch.nn.MaxPool3d`` (see ``MaxPool1d``)."""

    _nsp = 3


class _MaxUnpoolNd(Module):
    kernel_size: tuple = static_field()
    stride: tuple = static_field()
    padding: tuple = static_field()

    _nsp = 0

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0):
        name, n = type(self).__name__, self._nsp
        self.kernel_size = ntuple(name, "kernel_size", kernel_size, n)
        self.stride = self.kernel_size if stride is None else ntuple(name, "stride", stride, n)
        self.padding = ntuple(name, "padding", padding, n)

    def __call__(self, x: Array, indices: Array, output_size: Any = None) -> Array:
        name, n = type(self).__name__, self._nsp
        x, unbatched = _batched(name, x, n)
        idx = vnp.asarray(indices)
        if idx.dtype.kind not in "iu" or tuple(idx.shape) != tuple(x.shape[int(unbatched):]):
            raise ShapeError(
                f"{name}: indices must be integers of the input's shape "
                f"{tuple(x.shape[int(unbatched):])} (as MaxPool{n}d(return_indices=True) gives), "
                f"got {idx.dtype} {tuple(idx.shape)}"
            )
        idx = vnp.expand_dims(idx, 0) if unbatched else idx
        default = [(i - 1) * s - 2 * p + k for i, s, p, k in zip(
            x.shape[2:], self.stride, self.padding, self.kernel_size, strict=True)]
        size = default if output_size is None else [int(v) for v in tuple(output_size)[-n:]]
        for d, o, s in zip(default, size, self.stride, strict=True):
            if not d <= o < d + s:
                raise ShapeError(
                    f"{name}: output_size {tuple(size)} must lie between {tuple(default)} and "
                    f"{tuple(d + s - 1 for d, s in zip(default, self.stride, strict=True))} "
                    f"for input {tuple(x.shape)}"
                )
        rows = x.shape[0] * x.shape[1]
        flat = vnp.zeros((rows, math.prod(size)), x.dtype)
        where = (vnp.asarray(np.arange(rows)[:, None]), vnp.reshape(idx, (rows, -1)))
        values = vnp.reshape(x, (rows, -1))
        # Overlapping windows can repeat an index: the forward writes the value once (as
        # PyTorch), but every input reading that index gets its gradient, as PyTorch's gather
        # backward does, so the gradient is taken through a scatter-add instead.
        added = flat.at[where].add(values)
        y = added + lax.stop_gradient(flat.at[where].set(values) - added)
        y = vnp.reshape(y, tuple(x.shape[:2]) + tuple(size))
        return y[0] if unbatched else y

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    """The partial inverse of ``MaxPool1d``, as ``torch.nn.MaxUnpool1d(kernel_size, stride=None,
    padding=0)``: ``__call__(x, indices, output_size=None)`` writes each value at its index in
    a zero plane of size ``(L - 1) * stride - 2 * padding + kernel_size`` (or ``output_size``).

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> y, i = nn.MaxPool1d(2, return_indices=True)(vnp.array([[1.0, 3.0, 2.0, 0.0]]))
        >>> nn.MaxUnpool1d(2)(y, i)
        Array([[0., 3., 2., 0.]], dtype=float32)
    """

    _nsp = 1


class MaxUnpool2d(_MaxUnpoolNd):
    """The partial inverse of ``MaxPool2d``, as ``torch.nn.MaxUnpool2d`` (see ``MaxUnpool1d``)."""

    _nsp = 2


class MaxUnpool3d(_MaxUnpoolNd):
    """The partial inverse of ``MaxPool3d``, as ``torch.nn.MaxUnpool3d`` (see ``MaxUnpool1d``)."""

    _nsp = 3


class AvgPool1d(_PoolNd):
    """Average pooling, as ``torch.nn.AvgPool1d(kernel_size, stride=None, padding=0,
    ceil_mode=False, count_include_pad=True)``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.AvgPool1d(2)(vnp.array([[1.0, 3.0, 2.0, 0.0]]))
        Array([[2., 1.]], dtype=float32)
    """

    _nsp = 1
    _kind = "avg"


class AvgPool2d(_PoolNd):
    """Average pooling, as ``torch.nn.AvgPool2d`` (also ``divisor_override``)."""

    _nsp = 2
    _kind = "avg"


class AvgPool3d(_PoolNd):
    """Average pooling, as ``torch.nn.AvgPool3d`` (also ``divisor_override``)."""

    _nsp = 3
    _kind = "avg"


class _LPPoolNd(_PoolNd):
    norm_type: float = static_field()

    _kind = "avg"

    def __init__(self, norm_type: float, kernel_size: Any, stride: Any = None,
                 ceil_mode: bool = False):  # fmt: skip
        super().__init__(kernel_size, stride, 0, ceil_mode=ceil_mode)
        self.norm_type = float(norm_type)

    def __call__(self, x: Array) -> Array:
        # PyTorch's formula: the window mean of x^p (ceil_mode's partial windows averaged over
        # what they cover) times the full window size, then the p-th root.
        p = self.norm_type
        mean = super().__call__(vnp.asarray(x) ** p)
        return (mean * math.prod(self.kernel_size)) ** (1.0 / p)

    def extra_repr(self) -> str:
        return f"norm_type={self.norm_type}, " + super().extra_repr()


class LPPool1d(_LPPoolNd):
    """Power-average pooling, ``(sum over the window of x^p)^(1/p)``, as
    ``torch.nn.LPPool1d(norm_type, kernel_size, stride=None, ceil_mode=False)``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.LPPool1d(2, 2)(vnp.array([[3.0, 4.0, 0.0, 1.0]]))
        Array([[5., 1.]], dtype=float32)
    """

    _nsp = 1


class LPPool2d(_LPPoolNd):
    """Power-average pooling over (H, W), as ``torch.nn.LPPool2d`` (see ``LPPool1d``)."""

    _nsp = 2


class LPPool3d(_LPPoolNd):
    """Power-average pooling over (D, H, W), as ``torch.nn.LPPool3d`` (see ``LPPool1d``)."""

    _nsp = 3


def _adaptive(x: Array, out: tuple[int, ...], reduce: Any) -> Array:
    """PyTorch's adaptive windows: output i covers ``[floor(i*L/o), ceil((i+1)*L/o))``."""
    for axis, o in enumerate(out):
        ax = x.ndim - len(out) + axis
        n = x.shape[ax]
        if n % o == 0:  # equal windows: one reshape and one reduction
            shape = x.shape[:ax] + (o, n // o) + x.shape[ax + 1:]
            x = reduce(vnp.reshape(x, shape), ax + 1)
            continue
        pieces = []
        for i in range(o):
            lo, hi = (i * n) // o, -(-((i + 1) * n) // o)
            start = [0] * x.ndim
            limit = list(x.shape)
            start[ax], limit[ax] = lo, hi
            piece = lax.slice(x, start, limit)
            pieces.append(reduce(piece, ax, keepdims=True))
        x = vnp.concatenate(pieces, axis=ax)
    return x


def _mean(x: Array, axis: int, keepdims: bool = False) -> Array:
    return vnp.mean(x, axis=axis, keepdims=keepdims)


def _max(x: Array, axis: int, keepdims: bool = False) -> Array:
    return vnp.max(x, axis=axis, keepdims=keepdims)


class _AdaptiveNd(Module):
    output_size: tuple = static_field()
    _nsp = 0
    _reduce = staticmethod(_mean)

    def __init__(self, output_size: Any):
        n = self._nsp
        items = tuple(output_size) if isinstance(output_size, tuple | list) else (
            (output_size,) * n)
        if len(items) != n:
            raise TypeError(f"{type(self).__name__}: output_size must have {n} entries")
        self.output_size = items

    def __call__(self, x: Array) -> Array:
        x, unbatched = _batched(type(self).__name__, x, self._nsp)
        out = tuple(x.shape[2 + i] if o is None else int(o)
                    for i, o in enumerate(self.output_size))
        y = _adaptive(x, out, type(self)._reduce)
        return y[0] if unbatched else y

    def extra_repr(self) -> str:
        return f"output_size={self.output_size if self._nsp > 1 else self.output_size[0]}"


class AdaptiveAvgPool1d(_AdaptiveNd):
    """Average pooling to a fixed output length, as ``torch.nn.AdaptiveAvgPool1d``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.AdaptiveAvgPool1d(2)(vnp.array([[1.0, 2.0, 3.0]]))
        Array([[1.5, 2.5]], dtype=float32)
    """

    _nsp = 1


class AdaptiveAvgPool2d(_AdaptiveNd):
    """Average pooling to a fixed (H, W) (``None`` keeps that size), as PyTorch's."""

    _nsp = 2


class AdaptiveMaxPool1d(_AdaptiveNd):
    """Max pooling to a fixed output length, as ``torch.nn.AdaptiveMaxPool1d`` (no indices)."""

    _nsp = 1
    _reduce = staticmethod(_max)


class AdaptiveMaxPool2d(_AdaptiveNd):
    """Max pooling to a fixed (H, W), as ``torch.nn.AdaptiveMaxPool2d`` (no indices)."""

    _nsp = 2
    _reduce = staticmethod(_max)


class AdaptiveAvgPool3d(_AdaptiveNd):
    """Average pooling to a fixed (D, H, W) (``None`` keeps that size), as PyTorch's."""

    _nsp = 3


class AdaptiveMaxPool3d(_AdaptiveNd):
    """Max pooling to a fixed (D, H, W), as ``torch.nn.AdaptiveMaxPool3d`` (no indices)."""

    _nsp = 3
    _reduce = staticmethod(_max)
