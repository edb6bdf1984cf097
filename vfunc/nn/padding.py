"""Padding layers with PyTorch's names and arguments: ``ZeroPad1d/2d/3d``,
``ConstantPad1d/2d/3d``, ``ReflectionPad1d/2d/3d``, ``ReplicationPad1d/2d/3d`` and
``CircularPad1d/2d/3d``.

``padding`` is an int (every side) or PyTorch's flat tuple, last axis first: ``(left, right)``,
``(left, right, top, bottom)``, ``(left, right, top, bottom, front, back)``. Inputs are
``(N, C, *spatial)`` or unbatched ``(C, *spatial)``; every mode pads the spatial axes only.
"""

from __future__ import annotations

import numbers
from typing import Any

import vfunc.numpy as vnp
from vfunc import lax
from vfunc.core import Array
from vfunc.errors import ShapeError
from vfunc.nn.module import Module, static_field

__all__ = [
    "CircularPad1d", "CircularPad2d", "CircularPad3d", "ConstantPad1d", "ConstantPad2d",
    "ConstantPad3d", "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d",
    "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d", "ZeroPad1d", "ZeroPad2d",
    "ZeroPad3d",
]  # fmt: skip


class _PadNd(Module):
    padding: tuple = static_field()
    value: float = static_field()

    _nsp = 0
    _mode = "constant"  # vnp.pad's mode: constant, reflect, edge, wrap

    def __init__(self, padding: Any, value: float = 0.0):
        name, n = type(self).__name__, self._nsp
        items = tuple(padding) if isinstance(padding, tuple | list) else (padding,) * (2 * n)
        if len(items) != 2 * n or not all(
                isinstance(p, numbers.Integral) and not isinstance(p, bool) for p in items):
            raise TypeError(
                f"{name}: padding must be an int or a tuple of {2 * n} ints (last axis first), "
                f"got {padding!r}"
            )
        if self._mode != "constant" and any(p < 0 for p in items):
            raise ValueError(f"{name}: padding must be non-negative, got {items}")
        self.padding, self.value = tuple(int(p) for p in items), float(value)

    def _pairs(self) -> list[tuple[int, int]]:
        """(low, high) per spatial axis, first spatial axis first."""
        p = self.padding
        return [(p[2 * i], p[2 * i + 1]) for i in range(self._nsp)][::-1]

    def __call__(self, x: Array) -> Array:
        name, n = type(self).__name__, self._nsp
        x = vnp.asarray(x)
        if x.ndim not in (n + 1, n + 2):
            raise ShapeError(
                f"{name}: expected a {n + 2}-D (N, C, ...) or {n + 1}-D (C, ...) input, got "
                f"shape {tuple(x.shape)}"
            )
        pairs = self._pairs()
        spatial = x.shape[x.ndim - n:]
        lead = [(0, 0)] * (x.ndim - n)
        if self._mode == "constant":
            # lax.pad takes negative amounts, which crop, as PyTorch's constant padding does.
            config = [(lo, hi, 0) for lo, hi in lead + pairs]
            return lax.pad(x, vnp.asarray(self.value, x.dtype), config)
        limit = {"reflect": 1, "edge": 0, "wrap": 0}[self._mode]
        for size, (lo, hi) in zip(spatial, pairs, strict=True):
            if max(lo, hi) > size - limit or (size == 0):
                raise ShapeError(
                    f"{name}: padding {self.padding} is too large for input {tuple(x.shape)}: "
                    f"each side must be at most {'size - 1' if limit else 'the size'} of its "
                    "axis"
                )
        return vnp.pad(x, lead + pairs, mode=self._mode)

    def extra_repr(self) -> str:
        value = f", value={self.value}" if type(self).__name__.startswith("Constant") else ""
        return f"{self.padding}{value}"


class _ZeroPad(_PadNd):
    def __init__(self, padding: Any):
        super().__init__(padding, 0.0)


class _ConstantPad(_PadNd):
    def __init__(self, padding: Any, value: float):
        super().__init__(padding, value)


class _ReflectionPad(_ZeroPad):
    _mode = "reflect"


class _ReplicationPad(_ZeroPad):
    _mode = "edge"


class _CircularPad(_ZeroPad):
    _mode = "wrap"


class ZeroPad1d(_ZeroPad):
    """Pads the last axis with zeros, as ``torch.nn.ZeroPad1d(padding)``; negative padding
    crops (see the module docstring).

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.ZeroPad1d(1)(vnp.array([[1.0, 2.0, 3.0]]))
        Array([[0., 1., 2., 3., 0.]], dtype=float32)
    """

    _nsp = 1


class ZeroPad2d(_ZeroPad):
    """Pads the last 2 axes with zeros, as ``torch.nn.ZeroPad2d(padding)``."""

    _nsp = 2


class ZeroPad3d(_ZeroPad):
    """Pads the last 3 axes with zeros, as ``torch.nn.ZeroPad3d(padding)``."""

    _nsp = 3


class ConstantPad1d(_ConstantPad):
    """Pads the last axis with ``value``, as ``torch.nn.ConstantPad1d(padding, value)``;
    negative padding crops.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.ConstantPad1d((1, 2), 9.0)(vnp.array([[1.0, 2.0, 3.0]]))
        Array([[9., 1., 2., 3., 9., 9.]], dtype=float32)
    """

    _nsp = 1


class ConstantPad2d(_ConstantPad):
    """Pads the last 2 axes with ``value``, as ``torch.nn.ConstantPad2d(padding, value)``."""

    _nsp = 2


class ConstantPad3d(_ConstantPad):
    """Pads the last 3 axes with ``value``, as ``torch.nn.ConstantPad3d(padding, value)``."""

    _nsp = 3


class ReflectionPad1d(_ReflectionPad):
    """Pads the last axis with its reflection about the edge (the edge not repeated), as
    ``torch.nn.ReflectionPad1d(padding)``; each side at most the axis size - 1.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.ReflectionPad1d(2)(vnp.array([[1.0, 2.0, 3.0]]))
        Array([[3., 2., 1., 2., 3., 2., 1.]], dtype=float32)
    """

    _nsp = 1


class ReflectionPad2d(_ReflectionPad):
    """Reflection padding of the last 2 axes, as ``torch.nn.ReflectionPad2d(padding)``."""

    _nsp = 2


class ReflectionPad3d(_ReflectionPad):
    """Reflection padding of the last 3 axes, as ``torch.nn.ReflectionPad3d(padding)``."""

    _nsp = 3


class ReplicationPad1d(_ReplicationPad):
    """Pads the last axis with copies of its edge values, as
    ``torch.nn.ReplicationPad1d(padding)``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.ReplicationPad1d((2, 1))(vnp.array([[1.0, 2.0, 3.0]]))
        Array([[1., 1., 1., 2., 3., 3.]], dtype=float32)
    """

    _nsp = 1


class ReplicationPad2d(_ReplicationPad):
    """Edge padding of the last 2 axes, as ``torch.nn.ReplicationPad2d(padding)``."""

    _nsp = 2


class ReplicationPad3d(_ReplicationPad):
    """Edge padding of the last 3 axes, as ``torch.nn.ReplicationPad3d(padding)``."""

    _nsp = 3


class CircularPad1d(_CircularPad):
    """Pads the last axis periodically (the input wrapped around), as
    ``torch.nn.CircularPad1d(padding)``; each side at most the axis size.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.CircularPad1d(1)(vnp.array([[1.0, 2.0, 3.0]]))
        Array([[3., 1., 2., 3., 1.]], dtype=float32)
    """

    _nsp = 1


class CircularPad2d(_CircularPad):
    """Circular padding of the last 2 axes, as ``torch.nn.CircularPad2d(padding)``."""

    _nsp = 2


class CircularPad3d(_CircularPad):
    """Circular padding of the last 3 axes, as ``torch.nn.CircularPad3d(padding)``."""

    _nsp = 3
