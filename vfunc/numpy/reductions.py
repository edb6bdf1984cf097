"""Reductions with NumPy's signatures: sum, prod, max, min, mean, var, std, argmax, argmin."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from vfunc import dtypes, lax
from vfunc.core import Array
from vfunc.errors import ShapeError
from vfunc.numpy._promote import as_array, convert, promote_args
from vfunc.numpy.ufuncs import absolute, isclose, multiply, not_equal, sqrt, subtract
from vfunc.primitives._checks import normalize_axis
from vfunc.primitives.reduction import argmax_p, argmin_p, reduce_prod_p, reduce_sum_p

ArrayLike = Any
Axis = int | Sequence[int] | None


def canonical_axes(op: str, axis: Axis, ndim: int) -> tuple[int, ...]:
    """``axis`` (None, an int, or a tuple; negatives allowed) as sorted non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = tuple(sorted(normalize_axis(op, int(a), ndim) for a in axes))
    if len(set(out)) != len(out):
        raise ShapeError(f"{op}: axis {axis} repeats an axis")
    return out


def _keep(x: Array, axes: tuple[int, ...], keepdims: bool) -> Array:
    return lax.expand_dims(x, axes) if keepdims else x


def _sum_dtype(dtype: np.dtype) -> np.dtype:
    # As NumPy and JAX: small integers and bools accumulate in the default integer width.
    if dtype.kind == "b" or (dtype.kind == "i" and dtype.itemsize < dtypes.default_int().itemsize):
        return dtypes.default_int()
    if dtype.kind == "u" and dtype.itemsize < 4:
        return dtypes.canonicalize(np.uint64 if dtypes.default_int().itemsize == 8 else np.uint32)
    return dtype


def _operand(a: ArrayLike, name: str) -> Array:
    """``a`` as an Array; a list or tuple is refused with TypeError, as JAX does: passing one
    to a traced function makes every element a separate input, which JAX calls a silent
    performance trap (the sharp bits). ``vnp.sum(vnp.array(x))`` states the conversion."""
    if isinstance(a, (list, tuple)):
        raise TypeError(
            f"{name} requires ndarray or scalar arguments, got {type(a)} at position 0; convert "
            f"it first: vnp.{name}(vnp.array(...))"
        )
    return as_array(a, name)


def _accumulating(name: str, reducer, prim):
    def op(a: ArrayLike, axis: Axis = None, dtype: Any = None, keepdims: bool = False) -> Array:
        if dtype is None and isinstance(a, Array) and a.dtype.kind in "fc":
            # The common case (a float array, its own dtype) skips conversion entirely.
            axes = tuple(range(a.ndim)) if axis is None else canonical_axes(name, axis, a.ndim)
            return _keep(prim.bind(a, axes=axes), axes, keepdims)
        x = _operand(a, name)
        axes = canonical_axes(name, axis, x.ndim)
        target = dtypes.canonicalize(dtype) if dtype is not None else _sum_dtype(x.dtype)
        x = convert(x, target, x.weak_type and dtype is None)
        return _keep(reducer(x, axes), axes, keepdims)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = (
        f"``numpy.{name}`` over ``axis`` (None: all axes; negative axes allowed). Bools and "
        "small integers accumulate in the default integer dtype unless ``dtype`` is given."
    )
    return op


sum = _accumulating("sum", lax.reduce_sum, reduce_sum_p)  # noqa: A001
prod = _accumulating("prod", lax.reduce_prod, reduce_prod_p)


def _extremum(name: str, reducer):
    def op(a: ArrayLike, axis: Axis = None, keepdims: bool = False) -> Array:
        x = _operand(a, name)
        axes = canonical_axes(name, axis, x.ndim)
        if 0 in (x.shape[i] for i in axes):
            raise ShapeError(
                f"{name}: zero-size reduction over axis {axis} of an array of shape {x.shape} "
                "has no identity"
            )
        return _keep(reducer(x, axes), axes, keepdims)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"``numpy.{name}`` over ``axis`` (NaN propagates, as in NumPy)."
    return op


max = _extremum("max", lax.reduce_max)  # noqa: A001
min = _extremum("min", lax.reduce_min)  # noqa: A001
amax, amin = max, min


def mean(a: ArrayLike, axis: Axis = None, dtype: Any = None, keepdims: bool = False) -> Array:
    """Arithmetic mean over ``axis``; integer inputs give the default float (NaN if empty)."""
    x = _operand(a, "mean")
    axes = canonical_axes("mean", axis, x.ndim)
    if dtype is not None:
        x = convert(x, dtypes.canonicalize(dtype))
    elif x.dtype.kind not in "fc":
        (x,) = promote_args(x, inexact=True)
    count = math.prod(x.shape[i] for i in axes)
    total = _keep(lax.reduce_sum(x, axes), axes, keepdims)
    return lax.div(total, float(count) if x.dtype.kind == "f" else complex(count))


def var(
    a: ArrayLike, axis: Axis = None, dtype: Any = None, ddof: int = 0, keepdims: bool = False
) -> Array:
    """Variance ``mean(|x - mean(x)|**2)`` with ``ddof`` subtracted from the count."""
    x = _operand(a, "var")
    axes = canonical_axes("var", axis, x.ndim)
    if x.dtype.kind not in "fc":
        (x,) = promote_args(x, inexact=True)
    centered = subtract(x, mean(x, axes, keepdims=True))
    if centered.dtype.kind == "c":
        centered = absolute(centered)
    count = math.prod(x.shape[i] for i in axes) - ddof
    squares = lax.reduce_sum(multiply(centered, centered), axes)
    out = _keep(lax.div(squares, float(count)), axes, keepdims)
    return out if dtype is None else convert(out, dtypes.canonicalize(dtype))


def std(
    a: ArrayLike, axis: Axis = None, dtype: Any = None, ddof: int = 0, keepdims: bool = False
) -> Array:
    """Standard deviation: ``sqrt(var(a, axis, ddof=ddof))``."""
    return sqrt(var(a, axis, dtype, ddof, keepdims))


def _arg(name: str, prim):
    def op(a: ArrayLike, axis: int | None = None, keepdims: bool = False) -> Array:
        x = _operand(a, name)
        if axis is None:
            out = prim.bind(lax.reshape(x, (x.size,)), axis=0, index_dtype=dtypes.default_int())
            return lax.reshape(out, (1,) * x.ndim) if keepdims else out
        ax = normalize_axis(name, int(axis), x.ndim)
        out = prim.bind(x, axis=ax, index_dtype=dtypes.default_int())
        return lax.expand_dims(out, (ax,)) if keepdims else out

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"``numpy.{name}``: index of the first extremum along ``axis`` (None: flat)."
    return op


argmax = _arg("argmax", argmax_p)
argmin = _arg("argmin", argmin_p)


def _logical_reduction(name: str, reducer):
    def op(a: ArrayLike, axis: Axis = None, keepdims: bool = False) -> Array:
        x = _operand(a, name)
        axes = canonical_axes(name, axis, x.ndim)
        truth = x if x.dtype == dtypes.bool_ else not_equal(x, 0)
        return _keep(reducer(truth, axes), axes, keepdims)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"``numpy.{name}``: whether {name} elements along ``axis`` are nonzero."
    return op


all = _logical_reduction("all", lax.reduce_min)  # noqa: A001  (min over bools is `and`)
any = _logical_reduction("any", lax.reduce_max)  # noqa: A001  (max over bools is `or`)


def count_nonzero(a: ArrayLike, axis: Axis = None, keepdims: bool = False) -> Array:
    """Number of nonzero elements along ``axis`` (default int dtype)."""
    x = _operand(a, "count_nonzero")
    return sum(not_equal(x, 0), axis=axis, keepdims=keepdims)


def allclose(
    a: ArrayLike, b: ArrayLike, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False
) -> Array:
    """Whether every element pair is ``isclose`` (a 0-d bool Array)."""
    return all(isclose(a, b, rtol, atol, equal_nan))
