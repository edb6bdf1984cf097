"""Activation modules with PyTorch's names and arguments (``ReLU``, ``GELU(approximate=...)``,
``Softmax(dim)``, ``Softmin``, ``Softmax2d``, the shrink functions, ``Threshold``, ...), over
the functions of ``vfunc.nn.activations``. PyTorch's ``inplace`` argument is accepted and
ignored (arrays are immutable)."""

from __future__ import annotations

from typing import Any

import vfunc.numpy as vnp
from vfunc.core import Array
from vfunc.errors import ShapeError
from vfunc.nn import activations as F
from vfunc.nn.initializers import random_module
from vfunc.nn.module import Module, default_dtype, static_field

__all__ = [
    "CELU", "ELU", "GELU", "GLU", "Hardsigmoid", "Hardswish", "Hardtanh", "LeakyReLU",
    "LogSigmoid", "LogSoftmax", "Mish", "PReLU", "ReLU", "ReLU6", "SELU", "SiLU", "Sigmoid",
    "Softmax", "Softplus", "Softsign", "Tanh", "Softmin", "Softmax2d", "Tanhshrink",
    "Softshrink", "Hardshrink", "Threshold", "RReLU",
]  # fmt: skip


class _Stateless(Module):
    inplace: bool = static_field(default=False)

    def extra_repr(self) -> str:
        return ""


class ReLU(_Stateless):
    """``max(x, 0)``, as ``torch.nn.ReLU``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.ReLU()(vnp.array([-1.0, 2.0]))
        Array([0., 2.], dtype=float32)
    """

    def __call__(self, x: Array) -> Array:
        return F.relu(x)


class ReLU6(_Stateless):
    """``min(max(x, 0), 6)``, as ``torch.nn.ReLU6``."""

    def __call__(self, x: Array) -> Array:
        return F.relu6(x)


class SiLU(_Stateless):
    """``x * sigmoid(x)``, as ``torch.nn.SiLU``."""

    def __call__(self, x: Array) -> Array:
        return F.silu(x)


class Tanh(Module):
    """``tanh(x)``, as ``torch.nn.Tanh``."""

    def __call__(self, x: Array) -> Array:
        return vnp.tanh(x)


class Sigmoid(Module):
    """The logistic function, as ``torch.nn.Sigmoid``."""

    def __call__(self, x: Array) -> Array:
        return F.sigmoid(x)


class LogSigmoid(Module):
    """``log(sigmoid(x))``, stable for large ``|x|``, as ``torch.nn.LogSigmoid``."""

    def __call__(self, x: Array) -> Array:
        return F.log_sigmoid(x)


class Softsign(Module):
    """``x / (1 + |x|)``, as ``torch.nn.Softsign``."""

    def __call__(self, x: Array) -> Array:
        return F.soft_sign(x)


class SELU(_Stateless):
    """Scaled ELU, as ``torch.nn.SELU``."""

    def __call__(self, x: Array) -> Array:
        return F.selu(x)


class Mish(_Stateless):
    """``x * tanh(softplus(x))``, as ``torch.nn.Mish``."""

    def __call__(self, x: Array) -> Array:
        return x * vnp.tanh(F.softplus(x))


class Hardsigmoid(_Stateless):
    """``relu6(x + 3) / 6``, as ``torch.nn.Hardsigmoid``."""

    def __call__(self, x: Array) -> Array:
        return F.relu6(vnp.asarray(x) + 3.0) / 6.0


class Hardswish(_Stateless):
    """``x * relu6(x + 3) / 6``, as ``torch.nn.Hardswish``."""

    def __call__(self, x: Array) -> Array:
        x = vnp.asarray(x)
        return x * F.relu6(x + 3.0) / 6.0


class GELU(Module):
    """GELU, as ``torch.nn.GELU(approximate='none')``: the exact erf form by default (JAX's
    ``gelu`` defaults to the tanh form), ``approximate='tanh'`` for the approximation."""

    approximate: str = static_field(default="none")

    def __post_init__(self) -> None:
        if self.approximate not in ("none", "tanh"):
            raise ValueError(
                f"GELU: approximate must be 'none' or 'tanh', got {self.approximate!r}"
            )

    def __call__(self, x: Array) -> Array:
        return F.gelu(x, approximate=self.approximate == "tanh")


class LeakyReLU(Module):
    """``x`` if positive else ``negative_slope * x``, as ``torch.nn.LeakyReLU``."""

    negative_slope: float = static_field(default=1e-2)
    inplace: bool = static_field(default=False)

    def __call__(self, x: Array) -> Array:
        return F.leaky_relu(x, self.negative_slope)


class ELU(Module):
    """ELU with ``alpha``, as ``torch.nn.ELU``."""

    alpha: float = static_field(default=1.0)
    inplace: bool = static_field(default=False)

    def __call__(self, x: Array) -> Array:
        return F.elu(x, self.alpha)


class CELU(Module):
    """CELU with ``alpha``, as ``torch.nn.CELU``."""

    alpha: float = static_field(default=1.0)
    inplace: bool = static_field(default=False)

    def __call__(self, x: Array) -> Array:
        return F.celu(x, self.alpha)


class Hardtanh(Module):
    """``clip(x, min_val, max_val)``, as ``torch.nn.Hardtanh``."""

    min_val: float = static_field(default=-1.0)
    max_val: float = static_field(default=1.0)
    inplace: bool = static_field(default=False)

    def __call__(self, x: Array) -> Array:
        x = vnp.asarray(x)
        return vnp.where(x < self.min_val, self.min_val, vnp.where(x > self.max_val,
                                                                  self.max_val, x))


class Softplus(Module):
    """``log(1 + exp(beta x)) / beta``, linear above ``threshold``, as ``torch.nn.Softplus``."""

    beta: float = static_field(default=1.0)
    threshold: float = static_field(default=20.0)

    def __call__(self, x: Array) -> Array:
        x = vnp.asarray(x)
        scaled = x * self.beta
        return vnp.where(scaled > self.threshold, x, F.softplus(scaled) / self.beta)


class _Dim(Module):
    dim: int | None = static_field(default=None)

    def _axis(self, x: Array) -> int:
        if self.dim is not None:
            return self.dim
        # PyTorch's legacy implicit dim: 0 for 0-, 1- and 3-D inputs, else 1.
        return 0 if x.ndim in (0, 1, 3) else 1


class Softmax(_Dim):
    """Softmax along ``dim``, as ``torch.nn.Softmax(dim=None)``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.Softmax(dim=-1)(vnp.array([0.0, 0.0]))
        Array([0.5, 0.5], dtype=float32)
    """

    def __call__(self, x: Array) -> Array:
        x = vnp.asarray(x)
        return F.softmax(x, axis=self._axis(x))


class LogSoftmax(_Dim):
    """Log-softmax along ``dim``, as ``torch.nn.LogSoftmax(dim=None)``."""

    def __call__(self, x: Array) -> Array:
        x = vnp.asarray(x)
        return F.log_softmax(x, axis=self._axis(x))


class Softmin(_Dim):
    """Softmax of ``-x`` along ``dim``, as ``torch.nn.Softmin(dim=None)``."""

    def __call__(self, x: Array) -> Array:
        x = vnp.asarray(x)
        return F.softmax(-x, axis=self._axis(x))


class Softmax2d(Module):
    """Softmax over the channels of ``(N, C, H, W)`` or ``(C, H, W)`` inputs, as
    ``torch.nn.Softmax2d``."""

    def __call__(self, x: Array) -> Array:
        x = vnp.asarray(x)
        if x.ndim not in (3, 4):
            raise ShapeError(
                f"Softmax2d: expected a (N, C, H, W) or (C, H, W) input, got shape "
                f"{tuple(x.shape)}"
            )
        return F.softmax(x, axis=-3)


class Tanhshrink(Module):
    """``x - tanh(x)``, as ``torch.nn.Tanhshrink``."""

    def __call__(self, x: Array) -> Array:
        x = vnp.asarray(x)
        return x - vnp.tanh(x)


class Softshrink(Module):
    """``x - lambd`` above ``lambd``, ``x + lambd`` below ``-lambd``, else 0, as
    ``torch.nn.Softshrink(lambd=0.5)``."""

    lambd: float = static_field(default=0.5)

    def __call__(self, x: Array) -> Array:
        x = vnp.asarray(x)
        return vnp.where(x > self.lambd, x - self.lambd,
                         vnp.where(x < -self.lambd, x + self.lambd, 0.0)).astype(x.dtype)


class Hardshrink(Module):
    """``x`` where ``|x| > lambd``, else 0, as ``torch.nn.Hardshrink(lambd=0.5)``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.Hardshrink()(vnp.array([-1.0, 0.2, 0.7]))
        Array([-1. ,  0. ,  0.7], dtype=float32)
    """

    lambd: float = static_field(default=0.5)

    def __call__(self, x: Array) -> Array:
        x = vnp.asarray(x)
        return vnp.where(vnp.abs(x) > self.lambd, x, 0.0).astype(x.dtype)


class Threshold(Module):
    """``x`` where ``x > threshold``, else ``value``, as ``torch.nn.Threshold(threshold,
    value)``."""

    threshold: float = static_field()
    value: float = static_field()
    inplace: bool = static_field(default=False)

    def __call__(self, x: Array) -> Array:
        x = vnp.asarray(x)
        return vnp.where(x > self.threshold, x, self.value).astype(x.dtype)


class RReLU(Module):
    """Randomized leaky ReLU, as ``torch.nn.RReLU(lower=1/8, upper=1/3)``: in training mode
    each negative element gets its own slope from ``U(lower, upper)`` (``__call__(x, *,
    key)``); in inference mode the slope is ``(lower + upper) / 2`` and no key is taken.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.inference_mode(nn.RReLU(0.1, 0.3))(vnp.array([-1.0, 2.0]))
        Array([-0.2,  2. ], dtype=float32)
    """

    lower: float = static_field(default=1.0 / 8)
    upper: float = static_field(default=1.0 / 3)
    inplace: bool = static_field(default=False)
    training: bool = static_field(default=True)

    def __call__(self, x: Array, *, key: Any = None) -> Array:
        x = vnp.asarray(x)
        if not self.training:
            slope: Any = (self.lower + self.upper) / 2
        else:
            if key is None:
                raise TypeError(
                    "RReLU: in training mode a PRNG key is needed for the random slopes: call it "
                    "with key=vfunc.random.key(...), or use nn.inference_mode(model)"
                )
            slope = random_module().uniform(key, x.shape, x.dtype, self.lower, self.upper)
        return vnp.where(x >= 0, x, x * slope)


class GLU(Module):
    """Gated linear unit along ``dim``, as ``torch.nn.GLU(dim=-1)``."""

    dim: int = static_field(default=-1)

    def __call__(self, x: Array) -> Array:
        return F.glu(x, axis=self.dim)


class PReLU(Module):
    """Leaky ReLU with a learned slope, as ``torch.nn.PReLU(num_parameters=1, init=0.25)``: the
    slope is per channel (axis 1) when ``num_parameters > 1``."""

    weight: Array

    def __init__(self, num_parameters: int = 1, init: float = 0.25, *, dtype: Any = None):
        self.weight = vnp.full((int(num_parameters),), init, default_dtype(dtype))

    def __call__(self, x: Array) -> Array:
        x = vnp.asarray(x)
        w = self.weight
        if w.shape[0] > 1 and x.ndim >= 2:
            w = vnp.reshape(w, (-1,) + (1,) * (x.ndim - 2))
        elif w.shape[0] > 1 and x.ndim == 1:
            pass
        else:
            w = vnp.reshape(w, ())
        return vnp.where(x >= 0, x, w * x)

