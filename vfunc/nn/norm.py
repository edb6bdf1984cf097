"""Normalisation layers with PyTorch's arguments, parameters and buffers: ``LayerNorm``,
``RMSNorm``, ``GroupNorm``, ``BatchNorm1d/2d/3d``, ``InstanceNorm1d/2d/3d`` and
``LocalResponseNorm``.

BatchNorm in training mode reports its updated running statistics to the enclosing
``nn.call_with_state``; see ``vfunc.nn.module`` for the state design and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

import vfunc.numpy as vnp
from vfunc import lax
from vfunc.core import Array
from vfunc.errors import ShapeError
from vfunc.nn.module import Module, current_state, default_dtype, report_state, static_field

__all__ = [
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "GroupNorm", "InstanceNorm1d",
    "InstanceNorm2d", "InstanceNorm3d", "LayerNorm", "LocalResponseNorm", "RMSNorm",
]  # fmt: skip


def _shape_tuple(value: int | Sequence[int]) -> tuple[int, ...]:
    return (int(value),) if isinstance(value, int | np.integer) else tuple(int(v) for v in value)


def _check_trailing(layer: str, x: Array, shape: tuple[int, ...]) -> None:
    if x.ndim < len(shape) or tuple(x.shape[x.ndim - len(shape):]) != shape:
        raise ShapeError(
            f"{layer}: expected input whose trailing axes are normalized_shape {shape}, got "
            f"input of shape {tuple(x.shape)}"
        )


class LayerNorm(Module):
    """Normalises over the trailing ``normalized_shape`` axes, as ``torch.nn.LayerNorm(
    normalized_shape, eps=1e-5, elementwise_affine=True, bias=True)``; weight ones, bias zeros.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.LayerNorm(2)(vnp.array([1.0, 3.0]))
        Array([-0.999995,  0.999995], dtype=float32)
    """

    weight: Array | None
    bias: Array | None
    normalized_shape: tuple = static_field()
    eps: float = static_field()

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True, *,
                 dtype: Any = None):  # fmt: skip
        self.normalized_shape = _shape_tuple(normalized_shape)
        self.eps = float(eps)
        dt = default_dtype(dtype)
        self.weight = vnp.ones(self.normalized_shape, dt) if elementwise_affine else None
        self.bias = vnp.zeros(self.normalized_shape, dt) if elementwise_affine and bias else None

    def __call__(self, x: Array) -> Array:
        x = vnp.asarray(x)
        _check_trailing("LayerNorm", x, self.normalized_shape)
        axes = tuple(range(x.ndim - len(self.normalized_shape), x.ndim))
        mean = vnp.mean(x, axis=axes, keepdims=True)
        centred = x - mean
        var = vnp.mean(vnp.square(centred), axis=axes, keepdims=True)
        y = centred * lax.rsqrt(var + self.eps)
        if self.weight is not None:
            y = y * self.weight
        if self.bias is not None:
            y = y + self.bias
        return y

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.weight is not None}")


class RMSNorm(Module):
    """``x / sqrt(mean(x**2) + eps) * weight`` over the trailing axes, as ``torch.nn.RMSNorm(
    normalized_shape, eps=None, elementwise_affine=True)``; ``eps=None`` is the machine epsilon
    of the input's dtype, as PyTorch's.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.RMSNorm(2, eps=0.0)(vnp.array([3.0, 4.0]))
        Array([0.84852815, 1.1313709 ], dtype=float32)
    """

    weight: Array | None
    normalized_shape: tuple = static_field()
    eps: float | None = static_field()

    def __init__(self, normalized_shape: int | Sequence[int], eps: float | None = None,
                 elementwise_affine: bool = True, *, dtype: Any = None):  # fmt: skip
        self.normalized_shape = _shape_tuple(normalized_shape)
        self.eps = None if eps is None else float(eps)
        dt = default_dtype(dtype)
        self.weight = vnp.ones(self.normalized_shape, dt) if elementwise_affine else None

    def __call__(self, x: Array) -> Array:
        x = vnp.asarray(x)
        _check_trailing("RMSNorm", x, self.normalized_shape)
        axes = tuple(range(x.ndim - len(self.normalized_shape), x.ndim))
        eps = float(np.finfo(x.dtype).eps) if self.eps is None else self.eps
        y = x * lax.rsqrt(vnp.mean(vnp.square(x), axis=axes, keepdims=True) + eps)
        return y if self.weight is None else y * self.weight


class GroupNorm(Module):
    """Normalises groups of channels of ``(N, C, *)`` inputs, as ``torch.nn.GroupNorm(
    num_groups, num_channels, eps=1e-5, affine=True)``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.GroupNorm(1, 2)(vnp.array([[1.0, 3.0]])).shape
        (1, 2)
    """

    weight: Array | None
    bias: Array | None
    num_groups: int = static_field()
    num_channels: int = static_field()
    eps: float = static_field()

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True, *, dtype: Any = None):  # fmt: skip
        if num_channels % num_groups:
            raise ValueError(
                f"GroupNorm: num_channels ({num_channels}) must be divisible by num_groups "
                f"({num_groups})"
            )
        self.num_groups, self.num_channels, self.eps = int(num_groups), int(num_channels), eps
        dt = default_dtype(dtype)
        self.weight = vnp.ones((num_channels,), dt) if affine else None
        self.bias = vnp.zeros((num_channels,), dt) if affine else None

    def __call__(self, x: Array) -> Array:
        x = vnp.asarray(x)
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise ShapeError(
                f"GroupNorm: expected (N, {self.num_channels}, ...) input, got shape "
                f"{tuple(x.shape)}"
            )
        n, c = x.shape[0], x.shape[1]
        grouped = vnp.reshape(x, (n, self.num_groups, -1))
        mean = vnp.mean(grouped, axis=2, keepdims=True)
        centred = grouped - mean
        var = vnp.mean(vnp.square(centred), axis=2, keepdims=True)
        y = vnp.reshape(centred * lax.rsqrt(var + self.eps), x.shape)
        bshape = (1, c) + (1,) * (x.ndim - 2)
        if self.weight is not None:
            y = y * vnp.reshape(self.weight, bshape) + vnp.reshape(self.bias, bshape)
        return y


class _BatchNorm(Module):
    weight: Array | None
    bias: Array | None
    running_mean: Array | None
    running_var: Array | None
    num_batches_tracked: Array | None
    num_features: int = static_field()
    eps: float = static_field()
    momentum: float | None = static_field()
    training: bool = static_field()

    _vf_buffers = ("running_mean", "running_var", "num_batches_tracked")
    _vf_int_buffers = ("num_batches_tracked",)
    _ranks = ()
    _instance = False

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool | None = None, track_running_stats: bool | None = None, *,
                 dtype: Any = None):  # fmt: skip
        if affine is None:
            affine = not self._instance
        if track_running_stats is None:
            track_running_stats = not self._instance
        self.num_features, self.eps = int(num_features), float(eps)
        self.momentum = None if momentum is None else float(momentum)
        self.training = True
        dt = default_dtype(dtype)
        self.weight = vnp.ones((num_features,), dt) if affine else None
        self.bias = vnp.zeros((num_features,), dt) if affine else None
        if track_running_stats:
            self.running_mean = vnp.zeros((num_features,), dt)
            self.running_var = vnp.ones((num_features,), dt)
            # A float count, so that grad of a whole model needs no allow_int (module docs).
            self.num_batches_tracked = vnp.zeros((), dt)
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def __call__(self, x: Array) -> Array:
        name = type(self).__name__
        x = vnp.asarray(x)
        if x.ndim not in self._ranks:
            raise ShapeError(
                f"{name}: expected a input of rank {' or '.join(map(str, self._ranks))}, got "
                f"shape {tuple(x.shape)}"
            )
        unbatched = self._instance and x.ndim == min(self._ranks)
        if unbatched:
            x = vnp.expand_dims(x, 0)
        if x.shape[1] != self.num_features:
            raise ShapeError(
                f"{name}: expected input with {self.num_features} channels (axis 1), got input "
                f"of shape {tuple(x.shape)}"
            )
        axes = (0,) + tuple(range(2, x.ndim))
        if self._instance:
            axes = tuple(range(2, x.ndim))
        bshape = (1, self.num_features) + (1,) * (x.ndim - 2)
        use_batch = self.training or self.running_mean is None
        if use_batch:
            mean = vnp.mean(x, axis=axes, keepdims=True)
            centred = x - mean
            var = vnp.mean(vnp.square(centred), axis=axes, keepdims=True)
            if self.training and self.running_mean is not None:
                # elements behind each statistic: per channel, or per instance and channel
                per = x.size // self.num_features // (x.shape[0] if self._instance else 1)
                self._report(mean, var, per)
        else:
            mean = vnp.reshape(self.running_mean, bshape)
            var = vnp.reshape(self.running_var, bshape)
            centred = x - mean
        # The per-channel factor first (PyTorch's alpha = weight / std): one full-size product
        # instead of two, and the backward pass reduces g * centred once for both the weight's
        # and the variance's gradient instead of twice.
        scale = lax.rsqrt(var + self.eps)
        if self.weight is None:
            y = centred * scale
        else:
            alpha = scale * vnp.reshape(self.weight, bshape)
            y = centred * alpha + vnp.reshape(self.bias, bshape)
        return y[0] if unbatched else y

    def _report(self, mean: Array, var: Array, n: int) -> None:
        # Statistics never carry gradient into the buffers (they are not parameters).
        mean, var = lax.stop_gradient(mean), lax.stop_gradient(var)
        if self._instance:  # running stats of instance norm average over the batch too
            mean, var = vnp.mean(mean, axis=0, keepdims=True), vnp.mean(var, axis=0, keepdims=True)
        mean, var = vnp.reshape(mean, (-1,)), vnp.reshape(var, (-1,))
        unbiased = var * (n / max(n - 1, 1))
        # PyTorch's instance norm leaves num_batches_tracked alone (momentum=None then divides
        # by the stale count, as there).
        count = current_state(self, "num_batches_tracked") + (0 if self._instance else 1)
        old_mean = current_state(self, "running_mean")
        old_var = current_state(self, "running_var")
        factor = (1.0 / count) if self.momentum is None else self.momentum
        report_state(
            self,
            running_mean=(1 - factor) * old_mean + factor * mean.astype(old_mean.dtype),
            running_var=(1 - factor) * old_var + factor * unbiased.astype(old_var.dtype),
            num_batches_tracked=count,
        )

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.weight is not None}, "
                f"track_running_stats={self.running_mean is not None}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of ``(N, C)`` or ``(N, C, L)`` inputs, as ``torch.nn.BatchNorm1d(
    num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True)``.

    Training mode (the default) normalises with the batch's statistics (biased variance) and
    reports running statistics updated with the unbiased one to ``nn.call_with_state``;
    ``nn.inference_mode`` switches to the running statistics. ``momentum=None`` is the
    cumulative average, as PyTorch's.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> bn = nn.BatchNorm1d(1)
        >>> out, state = nn.call_with_state(bn, vnp.array([[1.0], [3.0]]))
        >>> out.ravel(), state["running_var"]
        (Array([-0.999995,  0.999995], dtype=float32), Array([1.1], dtype=float32))
    """

    _ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of ``(N, C, H, W)`` inputs, as ``torch.nn.BatchNorm2d`` (see
    ``BatchNorm1d``)."""

    _ranks = (4,)


class BatchNorm3d(_BatchNorm):
    """Batch normalisation of ``(N, C, D, H, W)`` inputs, as ``torch.nn.BatchNorm3d``."""

    _ranks = (5,)


class InstanceNorm1d(_BatchNorm):
    """Per-sample, per-channel normalisation of ``(N, C, L)`` or ``(C, L)`` inputs, as
    ``torch.nn.InstanceNorm1d(num_features, eps=1e-5, momentum=0.1, affine=False,
    track_running_stats=False)``."""

    _ranks = (2, 3)
    _instance = True


class InstanceNorm2d(_BatchNorm):
    """Per-sample, per-channel normalisation of ``(N, C, H, W)`` or ``(C, H, W)`` inputs, as
    ``torch.nn.InstanceNorm2d`` (see ``InstanceNorm1d``).

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.InstanceNorm2d(1)(vnp.array([[[1.0, 3.0]]]))
        Array([[[-0.999995,  0.999995]]], dtype=float32)
    """

    _ranks = (3, 4)
    _instance = True


class InstanceNorm3d(_BatchNorm):
    """Per-sample, per-channel normalisation of ``(N, C, D, H, W)`` or ``(C, D, H, W)`` inputs,
    as ``torch.nn.InstanceNorm3d`` (see ``InstanceNorm1d``)."""

    _ranks = (4, 5)
    _instance = True


class LocalResponseNorm(Module):
    """Normalisation across neighbouring channels, as ``torch.nn.LocalResponseNorm(size,
    alpha=1e-4, beta=0.75, k=1.0)``: ``x / (k + alpha * mean(x^2 over the size channels
    around c, zero-padded))^beta`` for inputs ``(N, C, *)``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.LocalResponseNorm(2, alpha=1.0, beta=1.0)(vnp.ones((1, 2, 1)))
        Array([[[0.6666667],
                [0.5      ]]], dtype=float32)
    """

    size: int = static_field()
    alpha: float = static_field(default=1e-4)
    beta: float = static_field(default=0.75)
    k: float = static_field(default=1.0)

    def __call__(self, x: Array) -> Array:
        x = vnp.asarray(x)
        if x.ndim < 3:
            raise ShapeError(
                f"LocalResponseNorm: expected an (N, C, *) input of at least 3 dimensions, got "
                f"shape {tuple(x.shape)}"
            )
        n = self.size
        window = (1, n) + (1,) * (x.ndim - 2)
        pads = [(0, 0), (n // 2, (n - 1) // 2)] + [(0, 0)] * (x.ndim - 2)
        total = lax.reduce_window(x * x, 0.0, lax.add, window, (1,) * x.ndim, pads)
        return x / (self.k + self.alpha * total / n) ** self.beta
