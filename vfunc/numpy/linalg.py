"""``vfunc.numpy.linalg``: norms, plus ``matmul`` and ``vecdot``, as ``numpy.linalg``.

Everything here is a composition of existing primitives. Decompositions (SVD, eigh, solve,
...) are not available yet, so the matrix norms that need singular values (``ord=2``, ``-2``,
``'nuc'``) raise ``NotImplementedError``.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from vfunc import lax
from vfunc.core import Array
from vfunc.errors import ShapeError
from vfunc.numpy._promote import as_array, convert, promote_args
from vfunc.numpy.contractions import _conj, einsum
from vfunc.numpy.products import matmul
from vfunc.numpy.reductions import max as _max
from vfunc.numpy.reductions import min as _min
from vfunc.numpy.shapes import transpose
from vfunc.numpy.ufuncs import (
    absolute,
    broadcast_arrays,
    equal,
    multiply,
    not_equal,
    power,
    sqrt,
    where,
)
from vfunc.primitives._checks import normalize_axis

ArrayLike = Any
Ord = int | float | str | None

__all__ = ["matmul", "matrix_norm", "norm", "vecdot", "vector_norm"]


def _root(total: Array, p: float) -> Array:
    """``total ** (1 / p)`` that is 0 with gradient 0 where ``total`` is 0.

    The plain root has an infinite derivative at 0, so the gradient of a norm at the zero vector
    would be ``0 * inf = nan``; the inner ``where`` keeps the discarded branch finite.
    """
    zero = equal(total, 0)
    safe = where(zero, 1, total)
    root = sqrt(safe) if p == 2 else power(safe, 1.0 / p)
    return where(zero, 0, root)


def _sum_of_squares(x: Array, axes: tuple[int, ...]) -> Array:
    magnitude = absolute(x) if x.dtype.kind == "c" else x
    return lax.reduce_sum(multiply(magnitude, magnitude), axes)


def _vector(x: Array, ord: Ord, axes: tuple[int, ...]) -> Array:  # noqa: A002
    if isinstance(ord, str):
        raise ValueError(
            f"norm: invalid norm order {ord!r} for vectors (shape {x.shape}, axis {axes}); use "
            "None, inf, -inf, 0 or a number, or give two axes for a matrix norm"
        )
    if ord is None or ord == 2:
        return _root(_sum_of_squares(x, axes), 2)
    if ord == np.inf:
        return _max(absolute(x), axis=axes)
    if ord == -np.inf:
        return _min(absolute(x), axis=axes)
    if ord == 0:
        magnitude = absolute(x)
        return lax.reduce_sum(convert(not_equal(x, 0), magnitude.dtype), axes)
    if ord == 1:
        return lax.reduce_sum(absolute(x), axes)
    p = float(ord)
    total = lax.reduce_sum(power(absolute(x), p), axes)
    # A negative order makes zeros infinite in the sum and the root of inf 0, as in NumPy.
    return _root(total, p) if p > 0 else power(total, 1.0 / p)


_NEEDS_SVD = {2: "ord=2", -2: "ord=-2", "nuc": "ord='nuc'"}


def _matrix(x: Array, ord: Ord, row: int, col: int) -> Array:  # noqa: A002
    if ord is None or ord == "fro":
        return _root(_sum_of_squares(x, (row, col)), 2)
    if ord == "nuc" or (not isinstance(ord, str) and ord in (2, -2)):
        raise NotImplementedError(
            f"norm: the matrix norm {_NEEDS_SVD[ord]} needs singular values, and vfunc has no "
            "SVD yet; use ord='fro', 1, -1, inf or -inf"
        )
    if isinstance(ord, str) or ord not in (1, -1, np.inf, -np.inf):
        raise ValueError(
            f"norm: invalid norm order {ord!r} for matrices (shape {x.shape}, axes "
            f"{(row, col)}); use None, 'fro', 1, -1, inf or -inf"
        )
    # ord=+-1: the largest/smallest column sum; ord=+-inf: the same over rows.
    summed, kept = (row, col) if abs(ord) == 1 else (col, row)
    sums = lax.reduce_sum(absolute(x), (summed,))
    if kept > summed:
        kept -= 1  # summing removed an axis before it
    return _max(sums, axis=kept) if ord > 0 else _min(sums, axis=kept)


def norm(
    x: ArrayLike,
    ord: Ord = None,  # noqa: A002
    axis: int | Sequence[int] | None = None,
    keepdims: bool = False,
) -> Array:
    """A vector or matrix norm, as ``numpy.linalg.norm``.

    With one axis (or a 1-D input and ``axis=None``) it is a vector norm: ``ord`` None or 2
    (Euclidean), 1, ``inf`` (max abs), ``-inf`` (min abs), 0 (count of nonzeros) or any other
    number p (``sum(|x|**p)**(1/p)``). With two axes (or a 2-D input) it is a matrix norm:
    None or ``'fro'`` (Frobenius), 1 / -1 (max / min column sum of ``|x|``), ``inf`` / ``-inf``
    (max / min row sum). With ``ord=None`` and ``axis=None`` any input is flattened.

    Integer inputs are promoted to the default float; complex inputs give real norms.

    Differs from NumPy and JAX: the matrix norms ``ord=2``, ``-2`` and ``'nuc'`` need an SVD,
    which vfunc does not have yet, and raise ``NotImplementedError``. The 2-norm (and p-norms
    for p > 0) of a zero vector is 0 with gradient 0 rather than NaN.

    Args:
        x: the input.
        ord: the order, as above.
        axis: None, one axis (vector norm) or two axes (matrix norm); negatives allowed.
        keepdims: keep the reduced axes with size 1.

    Returns:
        The norm, shaped like ``x`` without ``axis`` (or with those axes of size 1).

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc.numpy.linalg import norm
        >>> norm(vnp.array([3.0, 4.0]))
        Array(5., dtype=float32)
    """
    x = as_array(x, "norm")
    if x.dtype.kind not in "fc":
        (x,) = promote_args(x, inexact=True)
    if axis is None:
        if ord is not None and x.ndim not in (1, 2):
            raise ShapeError(
                f"norm: ord={ord!r} with axis=None needs a 1-D or 2-D input, got shape "
                f"{x.shape}; pass axis (one axis for a vector norm, two for a matrix norm)"
            )
        axes = tuple(range(x.ndim))
        if ord is None:  # any rank: the 2-norm of the flattened input
            out = _root(_sum_of_squares(x, axes), 2)
            return lax.expand_dims(out, axes) if keepdims else out
    elif isinstance(axis, (int, np.integer)):
        axes = (normalize_axis("norm", operator.index(axis), x.ndim),)
    else:
        axes = tuple(normalize_axis("norm", operator.index(a), x.ndim) for a in axis)
    if len(set(axes)) != len(axes):
        raise ShapeError(f"norm: axis {axis} repeats an axis of shape {x.shape}")
    if len(axes) == 1:
        out = _vector(x, ord, axes)
    elif len(axes) == 2:
        out = _matrix(x, ord, *axes)
    else:
        raise ShapeError(
            f"norm: axis {axis} names {len(axes)} axes of shape {x.shape}; give one axis for a "
            "vector norm or two for a matrix norm (axis=None with ord=None flattens)"
        )
    return lax.expand_dims(out, tuple(sorted(axes))) if keepdims else out


def vector_norm(
    x: ArrayLike,
    /,
    *,
    axis: int | Sequence[int] | None = None,
    keepdims: bool = False,
    ord: int | float = 2,  # noqa: A002
) -> Array:
    """A vector norm over ``axis`` (all axes when None, as if flattened), as
    ``numpy.linalg.vector_norm``.

    Args:
        x: the input.
        axis: None, an axis, or a tuple of axes treated as one flattened vector.
        keepdims: keep the reduced axes with size 1.
        ord: 2, 1, inf, -inf, 0 or another number, as in ``norm``.

    Returns:
        The norm over ``axis``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc.numpy.linalg import vector_norm
        >>> vector_norm(vnp.ones((2, 2)), ord=1)
        Array(4., dtype=float32)
    """
    x = as_array(x, "vector_norm")
    if x.dtype.kind not in "fc":
        (x,) = promote_args(x, inexact=True)
    if axis is None:
        axes = tuple(range(x.ndim))
    elif isinstance(axis, (int, np.integer)):
        axes = (normalize_axis("vector_norm", operator.index(axis), x.ndim),)
    else:
        axes = tuple(normalize_axis("vector_norm", operator.index(a), x.ndim) for a in axis)
    if len(set(axes)) != len(axes):
        raise ShapeError(f"vector_norm: axis {axis} repeats an axis of shape {x.shape}")
    axes = tuple(sorted(axes))
    out = _vector(x, ord, axes)
    return lax.expand_dims(out, axes) if keepdims else out


def matrix_norm(x: ArrayLike, /, *, keepdims: bool = False, ord: Ord = "fro") -> Array:  # noqa: A002
    """A matrix norm over the last two axes (batch axes allowed), as
    ``numpy.linalg.matrix_norm``.

    Args:
        x: an array with at least two axes.
        keepdims: keep the last two axes with size 1.
        ord: ``'fro'``, 1, -1, inf or -inf, as in ``norm`` (2, -2 and ``'nuc'`` need an SVD and
            raise ``NotImplementedError``).

    Returns:
        The norm of each matrix.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc.numpy.linalg import matrix_norm
        >>> matrix_norm(vnp.ones((2, 2)), ord=1)
        Array(2., dtype=float32)
    """
    x = as_array(x, "matrix_norm")
    if x.ndim < 2:
        raise ShapeError(
            f"matrix_norm: needs an array with at least 2 axes, got shape {x.shape}; use "
            "vector_norm for vectors"
        )
    return norm(x, ord, (x.ndim - 2, x.ndim - 1), keepdims)


def vecdot(x1: ArrayLike, x2: ArrayLike, /, *, axis: int = -1) -> Array:
    """The dot product along ``axis`` of broadcast inputs, conjugating ``x1`` if complex, as
    ``numpy.linalg.vecdot`` (one ``dot_general`` with the other axes as batch axes).

    The conjugate is composed from real/imaginary parts (no ``conj`` primitive yet): exact for
    finite values, not differentiable for complex inputs.

    Args:
        x1, x2: arrays that broadcast together; ``axis`` must have one size in both.
        axis: the contracted axis of the broadcast shape.

    Returns:
        The broadcast shape without ``axis``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc.numpy.linalg import vecdot
        >>> vecdot(vnp.ones((2, 3)), vnp.array([1.0, 2.0, 3.0]))
        Array([6., 6.], dtype=float32)
    """
    x1, x2 = broadcast_arrays(*promote_args(x1, x2))
    if x1.ndim == 0:
        raise ShapeError("vecdot: needs inputs with at least one axis, got two scalars")
    ax = normalize_axis("vecdot", operator.index(axis), x1.ndim)
    last = [i for i in range(x1.ndim) if i != ax] + [ax]
    x1, x2 = transpose(x1, last), transpose(x2, last)
    return einsum("...i,...i->...", _conj(x1), x2)
