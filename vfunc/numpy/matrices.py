"""Matrix-structure functions with NumPy's signatures: diagonal, trace, diag, tril, triu, meshgrid.

There is no gather here: a diagonal is read by masking with a static boolean constant (one
``select``) and summing the masked axis away, and ``diag``/``tril``/``triu`` build their results
the same way. Everything is a composition of existing primitives, so ``grad``, ``jit`` and
``vmap`` need no new rules. The price is work proportional to the (sliced) block rather than to
the diagonal's length.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from vfunc import dtypes, lax
from vfunc.core import Array
from vfunc.errors import ShapeError
from vfunc.numpy._promote import as_array
from vfunc.numpy.reductions import sum as _sum
from vfunc.numpy.shapes import ravel, reshape
from vfunc.numpy.ufuncs import broadcast_arrays, where
from vfunc.primitives._checks import normalize_axis

ArrayLike = Any

__all__ = ["diag", "diagonal", "meshgrid", "trace", "tril", "triu"]


def sum_axes(x: Array, axes: tuple[int, ...]) -> Array:
    """Sum over ``axes`` keeping ``x``'s dtype (bools combine with ``or``, as NumPy's einsum)."""
    if not axes:
        return x
    if x.dtype == dtypes.bool_:
        return lax.reduce_max(x, axes)
    return lax.reduce_sum(x, axes)


def _masked(x: Array, mask: np.ndarray) -> Array:
    # where(), not x * mask: an inf or nan off the mask must not leak in as inf * 0 = nan.
    return where(mask, x, False if x.dtype == dtypes.bool_ else 0)


def diagonal(a: ArrayLike, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Array:
    """The diagonal ``offset`` of the 2-D slices over ``axis1`` and ``axis2``, as
    ``numpy.diagonal``.

    The two axes are removed and the diagonal becomes the last axis of the result.

    Args:
        a: an array with at least two axes.
        offset: 0 for the main diagonal, positive above it, negative below it.
        axis1, axis2: the axes of the 2-D slices (distinct; negative counts from the end).

    Returns:
        An array of shape ``a.shape`` without ``axis1`` and ``axis2``, plus the diagonal's
        length (0 when ``offset`` is past the edge).

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc.numpy.matrices import diagonal
        >>> diagonal(vnp.arange(9).reshape(3, 3), offset=1)
        Array([1, 5], dtype=int32)
    """
    x = as_array(a, "diagonal")
    if x.ndim < 2:
        raise ShapeError(
            f"diagonal: needs an array with at least 2 axes, got shape {x.shape}; use diag(v) "
            "to build a matrix from a vector"
        )
    ax1 = normalize_axis("diagonal", operator.index(axis1), x.ndim, "axis1")
    ax2 = normalize_axis("diagonal", operator.index(axis2), x.ndim, "axis2")
    if ax1 == ax2:
        raise ShapeError(
            f"diagonal: axis1 and axis2 must be different axes, both are {ax1} (shape "
            f"{x.shape}); pass two distinct axes"
        )
    k = operator.index(offset)
    rest = [i for i in range(x.ndim) if i not in (ax1, ax2)]
    x = lax.transpose(x, (*rest, ax1, ax2))
    n, m = x.shape[-2:]
    # The diagonal is the main diagonal of an (length, length) block: slice to it (a view) so the
    # mask costs length**2, not n * m.
    row0, col0 = (0, k) if k >= 0 else (-k, 0)
    length = max(0, min(n - row0, m - col0))
    if length == 0:
        row0 = col0 = 0  # an offset past the edge: an empty block anywhere will do
    lead = x.shape[:-2]
    block = lax.slice(x, (0,) * len(lead) + (row0, col0), lead + (row0 + length, col0 + length))
    return sum_axes(_masked(block, np.eye(length, dtype=bool)), (block.ndim - 1,))


def trace(
    a: ArrayLike, offset: int = 0, axis1: int = 0, axis2: int = 1, dtype: Any = None
) -> Array:
    """The sum along a diagonal, as ``numpy.trace``.

    Args:
        a: an array with at least two axes.
        offset, axis1, axis2: which diagonal, as in ``diagonal``.
        dtype: the accumulator and result dtype; by default bools and small integers sum in the
            default integer dtype, as ``sum`` does.

    Returns:
        ``a.shape`` without ``axis1`` and ``axis2`` (a scalar for a matrix).

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc.numpy.matrices import trace
        >>> trace(vnp.eye(3))
        Array(3., dtype=float32)
    """
    return _sum(diagonal(a, offset, axis1, axis2), axis=-1, dtype=dtype)


def diag(v: ArrayLike, k: int = 0) -> Array:
    """A matrix with ``v`` on diagonal ``k`` (for 1-D ``v``) or diagonal ``k`` of a matrix
    (for 2-D ``v``), as ``numpy.diag``.

    Args:
        v: a vector or a matrix.
        k: the diagonal: 0 main, positive above, negative below.

    Returns:
        For a vector of length n, an ``(n + |k|, n + |k|)`` matrix; for a matrix, its diagonal.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc.numpy.matrices import diag
        >>> diag(vnp.array([1, 2]))
        Array([[1, 0],
               [0, 2]], dtype=int32)
    """
    x = as_array(v, "diag")
    k = operator.index(k)
    if x.ndim == 2:
        return diagonal(x, k)
    if x.ndim != 1:
        raise ShapeError(
            f"diag: input must be 1-D (to build a matrix) or 2-D (to read a diagonal), got "
            f"shape {x.shape}; use diagonal(a, offset, axis1, axis2) for more axes"
        )
    size = x.shape[0] + abs(k)
    padded = lax.pad(x, False if x.dtype == dtypes.bool_ else 0, ((0, abs(k), 0),))
    # Above the diagonal entry r sits in row r; below it, in column r.
    spread = reshape(padded, (size, 1) if k >= 0 else (1, size))
    return _masked(spread, np.eye(size, size, k, dtype=bool))


def _triangle(name: str, m: ArrayLike, keep: Any) -> Array:
    x = as_array(m, name)
    if x.ndim < 2:
        raise ShapeError(
            f"{name}: needs an array with at least 2 axes (the last two are the matrix), got "
            f"shape {x.shape}; reshape a vector to (1, n) or (n, 1) first"
        )
    return _masked(x, keep(*x.shape[-2:]))


def tril(m: ArrayLike, k: int = 0) -> Array:
    """The lower triangle of the last two axes: entries above diagonal ``k`` become zero.

    Differs from NumPy, as JAX does: a 1-D input is an error instead of being broadcast to a
    square matrix.

    Args:
        m: an array with at least two axes; leading axes are batch axes.
        k: the last diagonal kept: 0 main, positive above, negative below.

    Returns:
        An array shaped and typed like ``m``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc.numpy.matrices import tril
        >>> tril(vnp.ones((2, 3), dtype=vnp.int32))
        Array([[1, 0, 0],
               [1, 1, 0]], dtype=int32)
    """
    k = operator.index(k)
    return _triangle("tril", m, lambda n, cols: np.tri(n, cols, k, dtype=bool))


def triu(m: ArrayLike, k: int = 0) -> Array:
    """The upper triangle of the last two axes: entries below diagonal ``k`` become zero.

    Differs from NumPy, as JAX does: a 1-D input is an error.

    Args:
        m: an array with at least two axes; leading axes are batch axes.
        k: the first diagonal kept: 0 main, positive above, negative below.

    Returns:
        An array shaped and typed like ``m``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc.numpy.matrices import triu
        >>> triu(vnp.ones((3, 2), dtype=vnp.int32), k=-1)
        Array([[1, 1],
               [1, 1],
               [0, 1]], dtype=int32)
    """
    k = operator.index(k)
    return _triangle("triu", m, lambda n, cols: ~np.tri(n, cols, k - 1, dtype=bool))


def meshgrid(
    *xi: ArrayLike, copy: bool = True, sparse: bool = False, indexing: str = "xy"
) -> list[Array]:
    """Coordinate arrays from coordinate vectors, as ``numpy.meshgrid``.

    Each input is flattened. With ``indexing='xy'`` (Cartesian) the first two output axes are
    swapped relative to ``'ij'`` (matrix indexing). Returns a list, as JAX does.

    Args:
        *xi: coordinate vectors (any shape; flattened), each keeping its dtype.
        copy: accepted for NumPy compatibility; arrays are immutable.
        sparse: return arrays with size-1 axes that broadcast against each other instead of
            the full grids.
        indexing: ``'xy'`` or ``'ij'``.

    Returns:
        One array per input; full grids share the shape ``(len(x1), len(x0), len(x2), ...)``
        for ``'xy'``, ``(len(x0), len(x1), ...)`` for ``'ij'``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc.numpy.matrices import meshgrid
        >>> xs, ys = meshgrid(vnp.arange(3), vnp.arange(2))
        >>> xs
        Array([[0, 1, 2],
               [0, 1, 2]], dtype=int32)
    """
    del copy  # arrays are immutable: a view is always safe
    if indexing not in ("xy", "ij"):
        raise ValueError(f"meshgrid: indexing must be 'xy' or 'ij', got {indexing!r}")
    vectors = [ravel(as_array(x, "meshgrid")) for x in xi]
    nd = len(vectors)
    out = []
    for i, v in enumerate(vectors):
        shape = [1] * nd
        shape[i] = v.shape[0]
        if indexing == "xy" and nd > 1 and i < 2:
            shape[0], shape[1] = shape[1], shape[0]
        out.append(reshape(v, tuple(shape)))
    return out if sparse or not out else broadcast_arrays(*out)
