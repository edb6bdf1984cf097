"""Shape functions with NumPy's signatures: reshape, transpose, expand_dims, squeeze, ravel,
astype, plus ``shape``/``ndim``/``size`` queries. All are views when eager."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from vfunc import dtypes, lax
from vfunc.core import Array
from vfunc.errors import ShapeError, ShapeTypeError
from vfunc.numpy._promote import as_array, convert
from vfunc.numpy.reductions import canonical_axes

ArrayLike = Any


def _infer_shape(op: str, size: int, shape: Sequence[int], given: Any) -> tuple[int, ...]:
    shape = tuple(int(d) for d in shape)
    unknown = [i for i, d in enumerate(shape) if d == -1]
    if len(unknown) > 1 or any(d < -1 for d in shape):
        raise ShapeError(f"{op}: shape {given} may contain at most one -1 and no other negatives")
    if unknown:
        known = math.prod(d for d in shape if d != -1)
        if known == 0 or size % known:
            raise ShapeTypeError(  # a TypeError, as JAX's
                f"{op}: cannot reshape an array of {size} elements into shape {given}"
            )
        shape = tuple(size // known if d == -1 else d for d in shape)
    return shape


def reshape(a: ArrayLike, shape: int | Sequence[int], order: str = "C") -> Array:
    """Give ``a`` a new shape (one entry may be -1), reading elements in ``order`` 'C' or 'F'.

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.reshape(vnp.arange(6), (2, -1)).shape
        (2, 3)
    """
    x = as_array(a, "reshape")
    given = shape
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    new_shape = _infer_shape("reshape", x.size, shape, given)
    if order == "C":
        return lax.reshape(x, new_shape)
    if order == "F":
        # Column-major is row-major of the reversed axes.
        flipped = lax.reshape(transpose(x), new_shape[::-1])
        return transpose(flipped)
    raise ValueError(f"reshape: order must be 'C' or 'F', got {order!r}")


def ravel(a: ArrayLike, order: str = "C") -> Array:
    """``a`` flattened to one dimension."""
    return reshape(a, (-1,), order)


def transpose(a: ArrayLike, axes: Sequence[int] | None = None) -> Array:
    """Permute the axes (reverse them when ``axes`` is None); negative axes allowed."""
    x = as_array(a, "transpose")
    if axes is None:
        return lax.transpose(x, tuple(range(x.ndim))[::-1])
    perm = tuple(int(p) % x.ndim if -x.ndim <= int(p) < x.ndim else int(p) for p in axes)
    if sorted(perm) != list(range(x.ndim)):
        raise ShapeError(
            f"transpose: axes {tuple(axes)} are not a permutation of the axes of an array of "
            f"shape {x.shape}"
        )
    return lax.transpose(x, perm)


def expand_dims(a: ArrayLike, axis: int | Sequence[int]) -> Array:
    """Insert size-1 axes so they sit at positions ``axis`` of the result."""
    x = as_array(a, "expand_dims")
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    return lax.expand_dims(x, canonical_axes("expand_dims", axes, x.ndim + len(axes)))


def squeeze(a: ArrayLike, axis: int | Sequence[int] | None = None) -> Array:
    """Remove size-1 axes (all of them when ``axis`` is None)."""
    x = as_array(a, "squeeze")
    if axis is None:
        return lax.squeeze(x, tuple(i for i, d in enumerate(x.shape) if d == 1))
    return lax.squeeze(x, canonical_axes("squeeze", axis, x.ndim))


def astype(x: ArrayLike, dtype: Any) -> Array:
    """``x`` converted to ``dtype`` (canonicalized: float64 becomes float32 without x64)."""
    return convert(as_array(x, "astype"), dtypes.canonicalize(dtype))


def shape(a: ArrayLike) -> tuple[int, ...]:
    """The shape of ``a``."""
    return tuple(a.shape) if hasattr(a, "shape") else np.shape(a)


def ndim(a: ArrayLike) -> int:
    """The number of axes of ``a``."""
    return len(shape(a))


def size(a: ArrayLike) -> int:
    """The number of elements of ``a``."""
    return math.prod(shape(a))
