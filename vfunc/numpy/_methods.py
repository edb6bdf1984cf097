"""Attach NumPy's operators and methods to ``vfunc.Array`` from one table.

``Array`` (in ``vfunc.core``) cannot import ``vfunc.numpy``, which is built on top of it, so the
front end installs them here, once, for concrete arrays and tracers alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vfunc.core import Array
from vfunc.numpy import indexing, movement, products, reductions, searching, shapes, ufuncs

_OPERAND_TYPES = (Array, np.ndarray, np.generic, bool, int, float, complex)


def _forward(fn):
    def method(self: Array, other: Any) -> Any:
        if not isinstance(other, _OPERAND_TYPES):
            return NotImplemented  # lets Python try the other operand, then raise TypeError
        return fn(self, other)

    return method


def _reflected(fn):
    def method(self: Array, other: Any) -> Any:
        if not isinstance(other, _OPERAND_TYPES):
            return NotImplemented
        return fn(other, self)

    return method


def _divmod(x: Any, y: Any) -> tuple[Array, Array]:
    return ufuncs.floor_divide(x, y), ufuncs.remainder(x, y)


_BINARY = {
    "add": ufuncs.add, "sub": ufuncs.subtract, "mul": ufuncs.multiply,
    "truediv": ufuncs.divide, "floordiv": ufuncs.floor_divide, "mod": ufuncs.remainder,
    "pow": ufuncs.power, "matmul": products.matmul, "and": ufuncs.bitwise_and,
    "or": ufuncs.bitwise_or, "xor": ufuncs.bitwise_xor, "lshift": ufuncs.left_shift,
    "rshift": ufuncs.right_shift, "divmod": _divmod,
}  # fmt: skip
_COMPARISONS = {
    "eq": ufuncs.equal, "ne": ufuncs.not_equal, "lt": ufuncs.less, "le": ufuncs.less_equal,
    "gt": ufuncs.greater, "ge": ufuncs.greater_equal,
}  # fmt: skip
_UNARY = {
    "neg": ufuncs.negative, "pos": ufuncs.positive, "abs": ufuncs.absolute,
    "invert": ufuncs.invert,
}  # fmt: skip


def _reshape_method(self: Array, *shape: Any, order: str = "C") -> Array:
    """``x.reshape(2, 3)`` or ``x.reshape((2, 3))``, as ``ndarray.reshape``."""
    target = shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape
    return shapes.reshape(self, target, order)


def _transpose_method(self: Array, *axes: Any) -> Array:
    """``x.transpose(1, 0)`` or ``x.transpose((1, 0))``, as ``ndarray.transpose``."""
    if not axes or (len(axes) == 1 and axes[0] is None):
        return shapes.transpose(self)
    return shapes.transpose(self, axes[0] if len(axes) == 1 else axes)


_METHODS = {
    "sum": reductions.sum, "prod": reductions.prod, "max": reductions.max,
    "min": reductions.min, "mean": reductions.mean, "var": reductions.var,
    "std": reductions.std, "argmax": reductions.argmax, "argmin": reductions.argmin,
    "squeeze": shapes.squeeze, "ravel": shapes.ravel, "flatten": shapes.ravel,
    "astype": shapes.astype, "dot": products.dot, "round": ufuncs.round,
    "__getitem__": indexing.getitem, "clip": ufuncs.clip, "all": reductions.all,
    "any": reductions.any, "cumsum": movement.cumsum, "cumprod": movement.cumprod,
    "sort": movement.sort, "argsort": movement.argsort, "take": indexing.take,
    "nonzero": searching.nonzero, "swapaxes": movement.swapaxes, "repeat": movement.repeat,
    "reshape": _reshape_method, "transpose": _transpose_method,
    "__round__": lambda self, ndigits=None: ufuncs.round(self, ndigits or 0),
    "conj": ufuncs.conjugate, "conjugate": ufuncs.conjugate,
}  # fmt: skip
_PROPERTIES = {
    "T": lambda self: shapes.transpose(self),
    "at": indexing.at_property,
    "mT": lambda self: shapes.transpose(self, (*range(self.ndim - 2), -1, -2)),
    "real": ufuncs.real, "imag": ufuncs.imag,
}  # fmt: skip


def install() -> None:
    """Set the operators, methods and properties on ``Array`` (idempotent)."""
    for name, fn in _BINARY.items():
        setattr(Array, f"__{name}__", _forward(fn))
        setattr(Array, f"__r{name}__", _reflected(fn))
    for name, fn in _COMPARISONS.items():
        setattr(Array, f"__{name}__", _forward(fn))
    for name, fn in _UNARY.items():
        setattr(Array, f"__{name}__", fn)
    for name, fn in _METHODS.items():
        setattr(Array, name, fn)
    for name, fn in _PROPERTIES.items():
        setattr(Array, name, property(fn))
