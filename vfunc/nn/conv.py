"""Convolutions with PyTorch's names, arguments, layouts (NC..., OI...) and initialisation:
``Conv1d/2d/3d`` and ``ConvTranspose1d/2d/3d``, over ``lax.conv_general_dilated``."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import vfunc.numpy as vnp
from vfunc import lax
from vfunc.core import Array
from vfunc.errors import ShapeError
from vfunc.nn.initializers import random_module
from vfunc.nn.linear import need_key, uniform_init
from vfunc.nn.module import Module, default_dtype, static_field

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"]

_PAD_MODES = {"zeros": None, "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def ntuple(layer: str, name: str, value: Any, n: int) -> tuple[int, ...]:
    """``value`` (an int or a sequence of ``n`` ints) as a tuple; floats are an error."""
    items = tuple(value) if isinstance(value, Sequence) and not isinstance(value, str) else (
        (value,) * n)
    if len(items) != n or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool)
                                  for v in items):
        raise TypeError(
            f"{layer}: {name} must be an int or a tuple of {n} ints, got {value!r}"
            + (" (a float; use an int)" if any(isinstance(v, float) for v in items) else "")
        )
    return tuple(int(v) for v in items)


def parse_options(layer: str, names: tuple[str, ...], defaults: dict[str, Any],
                  args: tuple, kwargs: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """PyTorch's trailing constructor arguments, positional (in ``names`` order) or keyword."""
    if len(args) > len(names):
        raise TypeError(f"{layer}: too many positional arguments")
    opts = dict(defaults)
    opts.update(zip(names, args, strict=False))
    for k, v in kwargs.items():
        if k not in defaults:
            raise TypeError(f"{layer}: unexpected argument {k!r}")
        opts[k] = v
    return opts


def check_input(layer: str, x: Array, nsp: int, channels: int, weight: Array) -> tuple[Array, bool]:
    """Validate an (N, C, *spatial) or unbatched (C, *spatial) input; return it batched."""
    if x.ndim not in (nsp + 1, nsp + 2):
        raise ShapeError(
            f"{layer}: expected a {nsp + 2}-D (batched) or {nsp + 1}-D (unbatched) input, got "
            f"shape {tuple(x.shape)}"
        )
    unbatched = x.ndim == nsp + 1
    if unbatched:
        x = vnp.expand_dims(x, 0)
    if x.shape[1] != channels:
        raise ShapeError(
            f"{layer}: expected input with {channels} channels (axis {0 if unbatched else 1}), "
            f"got input of shape {tuple(x.shape[1:] if unbatched else x.shape)} "
            f"(weight {tuple(weight.shape)})"
        )
    return x, unbatched


class _ConvNd(Module):
    weight: Array
    bias: Array | None
    in_channels: int = static_field()
    out_channels: int = static_field()
    kernel_size: tuple = static_field()
    stride: tuple = static_field()
    padding: Any = static_field()
    dilation: tuple = static_field()
    groups: int = static_field()
    padding_mode: str = static_field()
    output_padding: tuple = static_field()

    _nsp = 0
    _transposed = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, *args: Any, key: Any = None, dtype: Any = None,
                 init: bool = True, **kwargs: Any):  # fmt: skip
        name, n = type(self).__name__, self._nsp
        if self._transposed:
            names = ("output_padding", "groups", "bias", "dilation", "padding_mode")
            defaults = {"output_padding": 0, "groups": 1, "bias": True, "dilation": 1,
                        "padding_mode": "zeros"}
        else:
            names = ("dilation", "groups", "bias", "padding_mode")
            defaults = {"dilation": 1, "groups": 1, "bias": True, "padding_mode": "zeros"}
        opts = parse_options(name, names, defaults, args, kwargs)
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = ntuple(name, "kernel_size", kernel_size, n)
        self.stride = ntuple(name, "stride", stride, n)
        self.dilation = ntuple(name, "dilation", opts["dilation"], n)
        self.groups = int(opts["groups"])
        self.padding_mode = opts["padding_mode"]
        if self.padding_mode not in _PAD_MODES:
            raise ValueError(
                f"{name}: padding_mode must be one of {list(_PAD_MODES)}, got "
                f"{self.padding_mode!r}"
            )
        if isinstance(padding, str):
            if padding not in ("same", "valid") or self._transposed:
                raise ValueError(f"{name}: padding {padding!r} is not supported; use 'same', "
                                 "'valid' or ints" if not self._transposed else
                                 f"{name}: padding must be ints, got {padding!r}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{name}: padding='same' needs stride 1, got {self.stride}")
            self.padding = padding
        else:
            self.padding = ntuple(name, "padding", padding, n)
        self.output_padding = ntuple(name, "output_padding", opts.get("output_padding", 0), n)
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(
                f"{name}: in_channels ({self.in_channels}) and out_channels "
                f"({self.out_channels}) must be divisible by groups ({self.groups})"
            )
        if self._transposed:
            shape = (self.in_channels, self.out_channels // self.groups) + self.kernel_size
        else:
            shape = (self.out_channels, self.in_channels // self.groups) + self.kernel_size
        dt = default_dtype(dtype)
        has_bias = bool(opts["bias"])
        if not init:
            self.weight = vnp.zeros(shape, dt)
            self.bias = vnp.zeros((self.out_channels,), dt) if has_bias else None
            return
        need_key(name, key)
        wkey, bkey = random_module().split(key)
        # PyTorch's fan_in is weight.shape[1] * kernel volume, for plain and transposed alike.
        fan_in = shape[1] * math.prod(self.kernel_size)
        bound = 1 / math.sqrt(fan_in) if fan_in else 0.0
        self.weight = uniform_init(wkey, shape, bound, dt)
        self.bias = uniform_init(bkey, (self.out_channels,), bound, dt) if has_bias else None

    def _pads(self) -> list[tuple[int, int]]:
        if self.padding == "valid":
            return [(0, 0)] * self._nsp
        if self.padding == "same":
            pads = []
            for k, d in zip(self.kernel_size, self.dilation, strict=True):
                total = d * (k - 1)
                pads.append((total // 2, total - total // 2))
            return pads
        return [(p, p) for p in self.padding]

    def __call__(self, x: Array) -> Array:
        name = type(self).__name__
        x, unbatched = check_input(name, vnp.asarray(x), self._nsp, self.in_channels, self.weight)
        if self._transposed:
            y = self._transposed_conv(x)
        else:
            pads = self._pads()
            mode = _PAD_MODES[self.padding_mode]
            if mode is not None:
                x = vnp.pad(x, [(0, 0), (0, 0)] + pads, mode=mode)
                pads = [(0, 0)] * self._nsp
            y = lax.conv_general_dilated(x, self.weight, self.stride, pads,
                                         rhs_dilation=self.dilation,
                                         feature_group_count=self.groups)
        if self.bias is not None:
            y = y + vnp.reshape(self.bias, (-1,) + (1,) * self._nsp)
        return y[0] if unbatched else y

    def _transposed_conv(self, x: Array) -> Array:
        # The gradient of a convolution: dilate the input by the stride and convolve with the
        # flipped kernel, its in/out axes swapped within each group.
        g, n = self.groups, self._nsp
        w = self.weight
        cin, cout_g = w.shape[0], w.shape[1]
        w = vnp.reshape(w, (g, cin // g, cout_g) + self.kernel_size)
        w = vnp.swapaxes(w, 1, 2)
        w = vnp.reshape(w, (g * cout_g, cin // g) + self.kernel_size)
        w = lax.rev(w, tuple(range(2, 2 + n)))
        pads = []
        for k, d, p, op in zip(self.kernel_size, self.dilation, self.padding,
                               self.output_padding, strict=True):  # fmt: skip
            edge = d * (k - 1) - p
            pads.append((edge, edge + op))
        return lax.conv_general_dilated(x, w, (1,) * n, pads, lhs_dilation=self.stride,
                                        rhs_dilation=self.dilation, feature_group_count=g)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,) * self._nsp:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self._nsp:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self._nsp:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv1d(_ConvNd):
    """1-D convolution, as ``torch.nn.Conv1d(in_channels, out_channels, kernel_size, stride=1,
    padding=0, dilation=1, groups=1, bias=True, padding_mode='zeros')``; input ``(N, C, L)`` or
    ``(C, L)``; weight ``(out, in/groups, k)``. Keyword-only: ``key``, ``dtype``, ``init``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.Conv1d(2, 4, 3, padding="same", init=False)(vnp.ones((2, 5))).shape
        (4, 5)
    """

    _nsp = 1


class Conv2d(_ConvNd):
    """2-D convolution, as ``torch.nn.Conv2d`` (see ``Conv1d``); input ``(N, C, H, W)`` or
    ``(C, H, W)``; weight ``(out, in/groups, kh, kw)``."""

    _nsp = 2


class Conv3d(_ConvNd):
    """3-D convolution, as ``torch.nn.Conv3d`` (see ``Conv1d``)."""

    _nsp = 3


class ConvTranspose1d(_ConvNd):
    """Transposed 1-D convolution, as ``torch.nn.ConvTranspose1d(in_channels, out_channels,
    kernel_size, stride=1, padding=0, output_padding=0, groups=1, bias=True, dilation=1)``;
    weight ``(in, out/groups, k)``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.ConvTranspose1d(2, 3, 3, stride=2, init=False)(vnp.ones((1, 2, 4))).shape
        (1, 3, 9)
    """

    _nsp = 1
    _transposed = True


class ConvTranspose2d(_ConvNd):
    """Transposed 2-D convolution, as ``torch.nn.ConvTranspose2d`` (see ``ConvTranspose1d``)."""

    _nsp = 2
    _transposed = True


class ConvTranspose3d(_ConvNd):
    """Transposed 3-D convolution, as ``torch.nn.ConvTranspose3d`` (see ``ConvTranspose1d``)."""

    _nsp = 3
    _transposed = True
