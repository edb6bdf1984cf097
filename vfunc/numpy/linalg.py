"""``vfunc.numpy.linalg``: norms, decompositions, solves and determinants, as ``numpy.linalg``.

Norms, ``matmul`` and ``vecdot`` are compositions of elementwise ops and contractions. The
decompositions bind the primitives of ``vfunc.primitives.decompositions`` (``cholesky``,
``solve``, ``slogdet``, ``eigh``, ``svd``, ``qr``, ``triangular_solve``), which carry VJP and
batching rules; everything else (``inv``, ``det``, ``pinv``, ``lstsq``, ``matrix_power``,
``matrix_rank``, ``cond``, ``multi_dot``, the spectral norms) is composed from those, as in
JAX. All accept stacks of matrices (leading axes), real or complex (complex64/complex128, with
JAX's conventions for complex derivatives), and promote integer input to the default float.
``eig``/``eigvals`` (general matrices, complex results) bind their own primitives. Failures give
NaN/inf as in JAX (``cholesky`` of a matrix that is not positive definite, ``solve`` with a
singular matrix), not an exception.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from vfunc import dtypes, lax
from vfunc.core import Array
from vfunc.errors import ShapeError
from vfunc.numpy._promote import as_array, convert, promote_args
from vfunc.numpy.contractions import _conj, einsum, outer, tensordot
from vfunc.numpy.matrices import diagonal as _diagonal
from vfunc.numpy.matrices import trace as _trace
from vfunc.numpy.products import matmul
from vfunc.numpy.reductions import max as _max
from vfunc.numpy.reductions import min as _min
from vfunc.numpy.shapes import transpose
from vfunc.numpy.ufuncs import (
    absolute,
    broadcast_arrays,
    broadcast_to,
    equal,
    imag,
    multiply,
    not_equal,
    power,
    real,
    sqrt,
    where,
)
from vfunc.primitives import decompositions as dec
from vfunc.primitives._checks import normalize_axis
from vfunc.primitives.decompositions import check_matrix

ArrayLike = Any
Ord = int | float | str | None

__all__ = [
    "cholesky",
    "cond",
    "det",
    "diagonal",
    "eig",
    "eigh",
    "eigvals",
    "eigvalsh",
    "inv",
    "lstsq",
    "matmul",
    "matrix_norm",
    "matrix_power",
    "matrix_rank",
    "matrix_transpose",
    "multi_dot",
    "norm",
    "outer",
    "pinv",
    "qr",
    "slogdet",
    "solve",
    "svd",
    "svdvals",
    "tensordot",
    "tensorinv",
    "tensorsolve",
    "trace",
    "vecdot",
    "vector_norm",
]


def _root(total: Array, p: float) -> Array:
    """``total ** (1 / p)`` that is 0 with gradient 0 where ``total`` is 0.

    The plain root has an infinite derivative at 0, so the gradient of a norm at the zero vector
    would be ``0 * inf = nan``; the inner ``where`` keeps the discarded branch finite.
    """
    zero = equal(total, 0)
    safe = where(zero, 1, total)
    root = sqrt(safe) if p == 2 else power(safe, 1.0 / p)
    return where(zero, 0, root)


def _squared_magnitude(x: Array) -> Array:
    """``|x|**2``, real, with the derivative of ``re**2 + im**2`` (finite at 0)."""
    if x.dtype.kind != "c":
        return multiply(x, x)
    re, im = real(x), imag(x)
    return re * re + im * im


def _sum_of_squares(x: Array, axes: tuple[int, ...]) -> Array:
    return lax.reduce_sum(_squared_magnitude(x), axes)


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


def _matrix(x: Array, ord: Ord, row: int, col: int) -> Array:  # noqa: A002
    if ord is None or ord == "fro":
        return _root(_sum_of_squares(x, (row, col)), 2)
    if ord == "nuc" or (not isinstance(ord, str) and ord in (2, -2)):
        # singular values of the matrices in the last two axes
        last = [i for i in range(x.ndim) if i not in (row, col)] + [row, col]
        s = _singular_values(transpose(x, last))
        if ord == "nuc":
            return lax.reduce_sum(s, (s.ndim - 1,))
        return _max(s, axis=-1) if ord == 2 else _min(s, axis=-1)
    if isinstance(ord, str) or ord not in (1, -1, np.inf, -np.inf):
        raise ValueError(
            f"norm: invalid norm order {ord!r} for matrices (shape {x.shape}, axes "
            f"{(row, col)}); use None, 'fro', 'nuc', 1, -1, 2, -2, inf or -inf"
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
    (max / min row sum), 2 / -2 (largest / smallest singular value), ``'nuc'`` (sum of the
    singular values). With ``ord=None`` and ``axis=None`` any input is flattened.

    Integer inputs are promoted to the default float; complex inputs give real norms.

    Differs from NumPy and JAX: the 2-norm (and p-norms for p > 0) of a zero vector is 0 with
    gradient 0 rather than NaN.

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
        ord: ``'fro'``, ``'nuc'``, 1, -1, 2, -2, inf or -inf, as in ``norm``.

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


# ----------------------------------------------------------------------------------------------
# Decompositions, solves and what is composed from them


class EighResult(NamedTuple):
    eigenvalues: Array
    eigenvectors: Array


class QRResult(NamedTuple):
    Q: Array
    R: Array


class SVDResult(NamedTuple):
    U: Array
    S: Array
    Vh: Array


class SlogdetResult(NamedTuple):
    sign: Array
    logabsdet: Array


def _float_matrix(op: str, a: ArrayLike, square: bool = True) -> Array:
    """``a`` as a float32/float64/complex64/complex128 Array with at least two axes, or the
    user-facing error."""
    a = as_array(a, op)
    if a.dtype.kind not in "fc":
        (a,) = promote_args(a, inexact=True)
    elif a.dtype.itemsize < 4:  # LAPACK has no half precision
        a = convert(a, np.dtype(np.float32))
    check_matrix(op, a.aval, square=square)
    return a


def _sym_from_triangle(a: Array, lower: bool) -> Array:
    """The symmetric (Hermitian, for complex ``a``) matrix that the ``lower`` (or upper)
    triangle of ``a`` describes."""
    if lower:
        return dec.tril(a) + dec.mH(dec.tril(a, -1))
    return dec.triu(a) + dec.mH(dec.triu(a, 1))


def cholesky(a: ArrayLike, *, upper: bool = False, symmetrize_input: bool = True) -> Array:
    """The Cholesky factor of symmetric (for complex input: Hermitian) positive definite
    matrices, as ``jax.numpy.linalg``; ``L @ L^H == a``.

    Args:
        a: ``[..., n, n]`` symmetric positive definite matrices.
        upper: return the upper factor ``U`` with ``U.T @ U == a`` instead of the lower one.
        symmetrize_input: read ``a`` as ``(a + a.T) / 2`` (JAX's default), so the gradient is a
            symmetric matrix; with False only the lower triangle is read, as NumPy does, and
            the gradient is the exact one, in that triangle (JAX's then spreads over both
            triangles with the same symmetric part).

    Returns:
        ``L [..., n, n]`` lower triangular with ``L @ L.T == a``; NaN for a matrix that is not
        positive definite (as in JAX; NumPy raises).

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.linalg.cholesky(vnp.array([[4.0, 2.0], [2.0, 2.0]]))
        Array([[2., 0.],
               [1., 1.]], dtype=float32)
    """
    a = _float_matrix("cholesky", a)
    if not symmetrize_input:
        a = _sym_from_triangle(a, lower=True)
    low = dec.cholesky_p.bind(a)
    return dec.mH(low) if upper else low


def _broadcast_batch(a: Array, b: Array, b_core: int) -> tuple[Array, Array]:
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[: b.ndim - b_core])
    return (broadcast_to(a, (*batch, *a.shape[-2:])),
            broadcast_to(b, (*batch, *b.shape[b.ndim - b_core:])))  # fmt: skip


def solve(a: ArrayLike, b: ArrayLike) -> Array:
    """``x`` with ``a @ x == b``, as ``numpy.linalg.solve`` (NumPy 2 rules).

    Args:
        a: ``[..., n, n]`` square matrices.
        b: ``[n]`` (one right-hand side for every matrix) or ``[..., n, k]``; leading axes
            broadcast against ``a``'s.

    Returns:
        ``x`` shaped like the broadcast ``b``; inf/NaN where ``a`` is singular (as in JAX).

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.linalg.solve(vnp.array([[2.0, 0.0], [0.0, 4.0]]), vnp.array([2.0, 2.0]))
        Array([1. , 0.5], dtype=float32)
    """
    a, b = promote_args(a, b, inexact=True)
    a = _float_matrix("solve", a)
    b = _float_matrix("solve", b, square=False) if b.ndim >= 2 else convert(b, a.dtype)
    if b.ndim == 0:
        raise ShapeError("solve: b must be a vector [n] or matrices [..., n, k], got a scalar")
    if b.shape[-1 if b.ndim == 1 else -2] != a.shape[-1]:
        raise ShapeError(
            f"solve: a {a.shape} needs b with {a.shape[-1]} rows, got b {b.shape} (b is a vector "
            "only when 1-D; otherwise [..., n, k])"
        )
    if b.ndim == 1:
        a2, b2 = _broadcast_batch(a, lax.expand_dims(b, (1,)), 2)
        return lax.squeeze(dec.solve_p.bind(a2, b2), (b2.ndim - 1,))
    a2, b2 = _broadcast_batch(a, b, 2)
    return dec.solve_p.bind(a2, b2)


def _eye_like(a: Array) -> Array:
    n = a.shape[-1]
    return broadcast_to(lax.as_array(np.eye(n, dtype=a.dtype)), a.shape)


def inv(a: ArrayLike) -> Array:
    """The inverse of square matrices ``[..., n, n]``, as ``solve(a, eye)`` (JAX's way).

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.linalg.inv(vnp.array([[2.0, 0.0], [0.0, 4.0]]))
        Array([[0.5 , 0.  ],
               [0.  , 0.25]], dtype=float32)
    """
    a = _float_matrix("inv", a)
    return dec.solve_p.bind(a, _eye_like(a))


def slogdet(a: ArrayLike) -> SlogdetResult:
    """The sign and natural log of ``|det a|`` of square matrices, as ``numpy.linalg.slogdet``.

    Returns:
        ``SlogdetResult(sign, logabsdet)``; sign 0 and logabsdet -inf for a singular matrix.
        Only ``logabsdet`` has a derivative, ``inv(a).T`` (infinite at a singular matrix).

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.linalg.slogdet(vnp.array([[-2.0, 0.0], [0.0, 3.0]])).sign
        Array(-1., dtype=float32)
    """
    sign, logabsdet = dec.slogdet_p.bind(_float_matrix("slogdet", a))
    return SlogdetResult(sign, logabsdet)


def det(a: ArrayLike) -> Array:
    """The determinant of square matrices ``[..., n, n]``, as ``numpy.linalg.det``.

    A primitive (LAPACK's LU product, exact where ``sign * exp(logabsdet)`` would round) whose
    derivative is ``det(a) * inv(a).T``. Differs from JAX: that gradient is NaN at a singular
    matrix (JAX computes it from cofactors there).

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.linalg.det(vnp.array([[2.0, 1.0], [1.0, 3.0]]))
        Array(5., dtype=float32)
    """
    return dec.det_p.bind(_float_matrix("det", a))


def _uplo(op: str, value: str | None) -> bool:
    if value not in (None, "L", "U"):
        raise ValueError(f"{op}: UPLO must be 'L' or 'U', got {value!r}")
    return value != "U"


def eigh(a: ArrayLike, UPLO: str | None = None, symmetrize_input: bool = True) -> EighResult:  # noqa: N803
    """Eigenvalues (ascending, real) and eigenvectors (columns) of symmetric or, for complex
    input, Hermitian matrices.

    Args:
        a: ``[..., n, n]`` symmetric (Hermitian) matrices; complex ones are read as
            ``(a + a^H) / 2`` and their eigenvalues have the real dtype (float32 for complex64).
        UPLO: ``'L'`` (default) or ``'U'``: the triangle read when ``symmetrize_input`` is False.
        symmetrize_input: read ``a`` as ``(a + a.T) / 2`` (JAX's default), so the gradient is a
            symmetric matrix.

    Returns:
        ``EighResult(eigenvalues [..., n], eigenvectors [..., n, n])``.

    Differs from JAX: where two eigenvalues are exactly equal, the eigenvector cotangent's
    component that would rotate within their eigenspace is dropped (JAX gives inf/NaN).
    Gradients of symmetric functions of the eigenvalues (``sum(w ** 2)``, ``max(w)`` of a
    simple one) and of the eigenspaces' projectors stay exact; a matrix function
    ``v f(w) v.T`` loses ``f'(w)`` times the degenerate block of its gradient.

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.linalg.eigh(vnp.array([[2.0, 1.0], [1.0, 2.0]])).eigenvalues
        Array([1., 3.], dtype=float32)
    """
    a = _float_matrix("eigh", a)
    lower = _uplo("eigh", UPLO)
    if not symmetrize_input:
        a = _sym_from_triangle(a, lower)
    w, v = dec.eigh_p.bind(a)
    return EighResult(w, v)


def eigvalsh(a: ArrayLike, UPLO: str | None = "L", *, symmetrize_input: bool = True) -> Array:  # noqa: N803
    """The eigenvalues (ascending) of symmetric matrices: ``eigh(a).eigenvalues``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.linalg.eigvalsh(vnp.array([[2.0, 0.0], [0.0, 1.0]]))
        Array([1., 2.], dtype=float32)
    """
    return eigh(a, UPLO, symmetrize_input).eigenvalues


class EigResult(NamedTuple):
    eigenvalues: Array
    eigenvectors: Array


def eig(a: ArrayLike) -> EigResult:
    """Eigenvalues and right eigenvectors (columns, unit norm) of general square matrices, as
    ``jax.numpy.linalg.eig``: both complex whatever ``a``'s dtype (complex64 from float32).

    Not differentiable (as in JAX): use ``eigvals`` for eigenvalue gradients, ``eigh`` for
    symmetric or Hermitian matrices. The eigenvalues' order is LAPACK's (``geev``), unsorted.

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.linalg.eig(vnp.array([[2.0, 0.0], [0.0, 3.0]])).eigenvalues
        Array([2.+0.j, 3.+0.j], dtype=complex64)
    """
    w, v = dec.eig_p.bind(_float_matrix("eig", a))
    return EigResult(w, v)


def eigvals(a: ArrayLike) -> Array:
    """The eigenvalues (complex, LAPACK's order) of general square matrices, with JAX's
    derivative ``dw = diag(v^-1 da v)`` (undefined where eigenvalues coincide).

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.linalg.eigvals(vnp.array([[0.0, -1.0], [1.0, 0.0]]))
        Array([0.+1.j, 0.-1.j], dtype=complex64)
    """
    return dec.eigvals_p.bind(_float_matrix("eigvals", a))


def svd(
    a: ArrayLike, full_matrices: bool = True, compute_uv: bool = True, hermitian: bool = False
) -> SVDResult | Array:
    """The singular value decomposition ``a = U @ diag(S) @ Vh``, as ``numpy.linalg.svd``.

    Args:
        a: ``[..., m, n]`` matrices.
        full_matrices: ``U [..., m, m]`` and ``Vh [..., n, n]``; otherwise ``k = min(m, n)``
            columns / rows.
        compute_uv: False returns only ``S``.
        hermitian: accepted for NumPy compatibility; the general algorithm runs either way.

    Returns:
        ``SVDResult(U, S, Vh)`` (``S`` descending and real, float32 for complex64 input) or
        ``S [..., k]``.

    The derivative needs ``full_matrices=False`` (or square matrices) when ``U``/``Vh`` are
    used, as in JAX; where singular values are exactly equal the rotation within their
    subspace is dropped from the cotangent (see ``eigh``).

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.linalg.svd(vnp.array([[3.0, 0.0], [0.0, -4.0]]), compute_uv=False)
        Array([4., 3.], dtype=float32)
    """
    del hermitian
    a = _float_matrix("svd", a, square=False)
    if not compute_uv:
        return dec.svd_p.bind(a, full_matrices=False, compute_uv=False)[0]
    u, s, vh = dec.svd_p.bind(a, full_matrices=bool(full_matrices), compute_uv=True)
    return SVDResult(u, s, vh)


def _singular_values(x: Array) -> Array:
    return svd(x, compute_uv=False)


def qr(a: ArrayLike, mode: str = "reduced") -> QRResult | Array:
    """The QR decomposition ``a = Q @ R``, as ``numpy.linalg.qr``.

    Args:
        a: ``[..., m, n]`` matrices.
        mode: ``'reduced'`` (``Q [..., m, k]``, ``R [..., k, n]``, ``k = min(m, n)``),
            ``'complete'`` (``Q [..., m, m]``, ``R [..., m, n]``) or ``'r'`` (``R`` only, as
            in ``'reduced'``).

    Returns:
        ``QRResult(Q, R)``, or ``R`` for ``mode='r'``.

    The derivative is defined for ``m >= n`` with reduced factors (and square complete ones),
    as in JAX. Differs from NumPy: ``mode='raw'`` (LAPACK's Householder form) is not offered.

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.linalg.qr(vnp.array([[3.0], [4.0]]), mode="r")
        Array([[-5.]], dtype=float32)
    """
    if mode not in ("reduced", "complete", "r"):
        raise ValueError(f"qr: mode must be 'reduced', 'complete' or 'r', got {mode!r}")
    a = _float_matrix("qr", a, square=False)
    q, r = dec.qr_p.bind(a, full_matrices=mode == "complete")
    return r if mode == "r" else QRResult(q, r)


def _default_rtol(a: Array) -> float:
    return float(np.finfo(a.dtype).eps) * max(a.shape[-2:])


def pinv(
    a: ArrayLike, rtol: ArrayLike | None = None, hermitian: bool = False, *,
    rcond: ArrayLike | None = None,
) -> Array:  # fmt: skip
    """The Moore-Penrose pseudo-inverse ``[..., n, m]`` of ``a [..., m, n]``, from its SVD.

    Singular values at or below ``rtol * max(S)`` count as zero; ``rtol`` (or NumPy's older
    name ``rcond``) defaults to ``eps * max(m, n)``. ``hermitian`` is accepted and ignored.

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.linalg.pinv(vnp.array([[2.0], [0.0]]))
        Array([[0.5, 0. ]], dtype=float32)
    """
    del hermitian
    a = _float_matrix("pinv", a, square=False)
    if rtol is not None and rcond is not None:
        raise ValueError("pinv: pass rtol or rcond, not both")
    cut = rtol if rtol is not None else rcond
    return _pinv_with_its_own_derivative()(a, cut)


def _pinv_from_svd(a: Array, cut: ArrayLike | None) -> Array:
    u, s, vh = svd(a, full_matrices=False)
    cutoff = (_default_rtol(a) if cut is None else convert(cut, s.dtype)) * _max(
        s, axis=-1, keepdims=True)  # fmt: skip
    keep = s > cutoff
    s_inv = where(keep, 1 / where(keep, s, 1), 0)
    return matmul(dec.mH(vh) * lax.expand_dims(s_inv, (s_inv.ndim - 1,)), dec.mH(u))


@functools.cache
def _pinv_with_its_own_derivative() -> Any:
    """``pinv`` as a ``custom_jvp`` whose tangent is written with ``pinv`` itself (Golub and
    Pereyra, as JAX does). Through the SVD's rule the derivative is undefined wherever two
    singular values are equal (the identity, any orthogonal matrix), although the
    pseudo-inverse is smooth there at constant rank."""
    from vfunc.transforms.custom import custom_jvp  # a transform, below this front end

    smooth = custom_jvp(_pinv_from_svd, nondiff_argnums=(1,))

    @smooth.defjvp
    def smooth_jvp(cut: Any, primals: Any, tangents: Any) -> Any:
        (a,), (da,) = primals, tangents
        p = smooth(a, cut)
        p_h, da_h = dec.mH(p), dec.mH(da)
        # dp = -p da p + (I - p a) da^H p^H p + p p^H da^H (I - a p)
        dp = -matmul(p, matmul(da, p))
        pph = matmul(p_h, p)
        dp = dp + matmul(da_h, pph) - matmul(p, matmul(a, matmul(da_h, pph)))
        ppt = matmul(p, p_h)
        dp = dp + matmul(ppt, da_h) - matmul(ppt, matmul(da_h, matmul(a, p)))
        return p, dp

    return smooth


def lstsq(
    a: ArrayLike, b: ArrayLike, rcond: float | None = None
) -> tuple[Array, Array, Array, Array]:
    """The least-squares solution of ``a @ x ~= b``, as ``numpy.linalg.lstsq`` (from the SVD).

    Args:
        a: ``[m, n]``.
        b: ``[m]`` or ``[m, k]``.
        rcond: singular values at or below ``rcond * max(S)`` count as zero (default
            ``eps * max(m, n)``).

    Returns:
        ``(x, residuals, rank, s)``: ``x [n]`` or ``[n, k]``; the squared residual norms per
        column when ``m > n`` (else an empty array); the effective rank; the singular values.

    Differs from NumPy: when ``m > n`` the residuals are returned even if ``a`` is rank
    deficient (NumPy then returns an empty array), so their shape never depends on values.

    Example:
        >>> import vfunc.numpy as vnp
        >>> x, resid, rank, s = vnp.linalg.lstsq(vnp.array([[2.0], [0.0]]), vnp.array([4.0, 1.0]))
        >>> x, resid
        (Array([2.], dtype=float32), Array([1.], dtype=float32))
    """
    a, b = promote_args(a, b, inexact=True)
    a = _float_matrix("lstsq", a, square=False)
    if a.ndim != 2 or b.ndim not in (1, 2) or b.shape[0] != a.shape[0]:
        raise ShapeError(
            f"lstsq: needs a [m, n] and b [m] or [m, k] with the same m, got a {a.shape} and "
            f"b {b.shape}"
        )
    b = convert(b, a.dtype)
    m, n = a.shape
    s = svdvals(a)
    cut = _default_rtol(a) if rcond is None else rcond
    keep = s > (cut * _max(s) if s.shape[0] else 0.0)
    col = b if b.ndim == 2 else lax.expand_dims(b, (1,))
    if s.shape[0]:  # pinv's own derivative: smooth where singular values repeat (a = I)
        x = matmul(_pinv_with_its_own_derivative()(a, rcond), col)
    else:
        x = convert(lax.broadcast_in_dim(lax.as_array(0.0), (n, col.shape[1]), ()), a.dtype)
    rank = lax.reduce_sum(convert(keep, np.dtype(dtypes.default_int())), (0,))
    if m > n:
        diff = col - matmul(a, x)
        resid = lax.reduce_sum(_squared_magnitude(diff), (0,))
    else:
        resid = lax.as_array(np.zeros((0,), dec.real_dtype(a.dtype)))
    if b.ndim == 1:
        x = lax.squeeze(x, (1,))
        resid = lax.squeeze(resid, (0,)) if resid.shape == (1,) else resid
        resid = lax.expand_dims(resid, (0,)) if resid.ndim == 0 else resid
    return x, resid, rank, s


def matrix_power(a: ArrayLike, n: int) -> Array:
    """``a`` multiplied by itself ``n`` times (repeated squaring; ``inv(a)`` for ``n < 0``,
    the identity for 0), as ``numpy.linalg.matrix_power``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.linalg.matrix_power(vnp.array([[1.0, 1.0], [0.0, 1.0]]), 3)
        Array([[1., 3.],
               [0., 1.]], dtype=float32)
    """
    try:
        n = operator.index(n)
    except TypeError as err:
        raise TypeError(f"matrix_power: n must be an integer, got {n!r}") from err
    x = as_array(a, "matrix_power")
    check_matrix_rank("matrix_power", x)
    if n == 0:
        eye = lax.as_array(np.eye(x.shape[-1], dtype=x.dtype))
        return broadcast_to(eye, x.shape)
    if n < 0:
        x, n = inv(x), -n
    result = None
    while n:  # binary powering: log2(n) squarings
        if n & 1:
            result = x if result is None else matmul(result, x)
        n >>= 1
        if n:
            x = matmul(x, x)
    return result


def check_matrix_rank(op: str, x: Array) -> None:
    if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
        raise ShapeError(f"{op}: needs square matrices [..., n, n], got shape {x.shape}")


def matrix_rank(
    M: ArrayLike, rtol: ArrayLike | None = None, *, hermitian: bool = False,  # noqa: N803
    tol: ArrayLike | None = None,
) -> Array:  # fmt: skip
    """The number of singular values above a threshold, as ``numpy.linalg.matrix_rank``.

    The threshold is ``tol`` when given (absolute), else ``rtol * max(S)`` with ``rtol``
    defaulting to ``eps * max(m, n)``. A vector's rank is 1 unless it is all zeros.

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.linalg.matrix_rank(vnp.array([[1.0, 2.0], [2.0, 4.0]]))
        Array(1, dtype=int32)
    """
    del hermitian
    x = as_array(M, "matrix_rank")
    if x.ndim < 2:
        nonzero = _max(absolute(x)) > 0 if x.size else lax.as_array(np.array(False))
        return convert(nonzero, np.dtype(dtypes.default_int()))
    x = _float_matrix("matrix_rank", x, square=False)
    s = _singular_values(x)
    if tol is not None:
        threshold = convert(tol, s.dtype)
        if threshold.ndim:
            threshold = lax.expand_dims(threshold, (threshold.ndim,))
    else:
        r = _default_rtol(x) if rtol is None else convert(rtol, s.dtype)
        if not isinstance(r, float) and r.ndim:
            r = lax.expand_dims(r, (r.ndim,))
        threshold = r * _max(s, axis=-1, keepdims=True)
    return lax.reduce_sum(convert(s > threshold, np.dtype(dtypes.default_int())), (s.ndim - 1,))


def cond(x: ArrayLike, p: Ord = None) -> Array:
    """The condition number of matrices in the norm ``p``, as ``numpy.linalg.cond``.

    ``p`` None or 2: ``max(S) / min(S)``; -2: ``min(S) / max(S)``; other orders (``'fro'``,
    ``'nuc'``, 1, -1, inf, -inf): ``norm(x, p) * norm(inv(x), p)`` for square ``x``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.linalg.cond(vnp.array([[2.0, 0.0], [0.0, 0.5]]))
        Array(4., dtype=float32)
    """
    a = _float_matrix("cond", x, square=False)
    if p is None or (not isinstance(p, str) and p in (2, -2)):
        s = _singular_values(a)
        big, small = _max(s, axis=-1), _min(s, axis=-1)
        return small / big if p == -2 else big / small
    check_matrix_rank("cond", a)
    axes = (a.ndim - 2, a.ndim - 1)
    return norm(a, p, axes) * norm(inv(a), p, axes)


def multi_dot(arrays: Sequence[ArrayLike], *, precision: Any = None) -> Array:
    """The product of a chain of matrices in the cheapest order, as
    ``numpy.linalg.multi_dot``: the first may be a vector ``[n]`` (a row), the last a vector
    (a column); the others are 2-D.

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.linalg.multi_dot([vnp.ones(2), vnp.eye(2), vnp.ones((2, 3))])
        Array([2., 2., 2.], dtype=float32)
    """
    del precision
    mats = [as_array(x, "multi_dot") for x in arrays]
    if len(mats) < 2:
        raise ValueError(f"multi_dot: needs at least two arrays, got {len(mats)}")
    first_vec, last_vec = mats[0].ndim == 1, mats[-1].ndim == 1
    if first_vec:
        mats[0] = lax.expand_dims(mats[0], (0,))
    if last_vec:
        mats[-1] = lax.expand_dims(mats[-1], (1,))
    for i, m in enumerate(mats):
        if m.ndim != 2:
            raise ShapeError(
                f"multi_dot: arrays[{i}] has {m.ndim} axes (shape {m.shape}); all but the first "
                "and last must be 2-D (those may be 1-D)"
            )
    order = _chain_order([m.shape[0] for m in mats] + [mats[-1].shape[1]])

    def product(i: int, j: int) -> Array:
        if i == j:
            return mats[i]
        k = order[i][j]
        return matmul(product(i, k), product(k + 1, j))

    out = product(0, len(mats) - 1)
    if first_vec:
        out = lax.squeeze(out, (0,))
    if last_vec:
        out = lax.squeeze(out, (out.ndim - 1,))
    return out


def _chain_order(dims: list[int]) -> list[list[int]]:
    """The matrix-chain split points minimising scalar multiplications (dynamic programming)."""
    n = len(dims) - 1
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            cost[i][j] = None
            for k in range(i, j):
                c = cost[i][k] + cost[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1]
                if cost[i][j] is None or c < cost[i][j]:
                    cost[i][j], split[i][j] = c, k
    return split


# ----------------------------------------------------------------------------------------------
# The Array API's linalg names that are plain compositions


def svdvals(x: ArrayLike, /) -> Array:
    """The singular values ``[..., min(m, n)]`` (descending): ``svd(x, compute_uv=False)``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.linalg.svdvals(vnp.array([[0.0, 2.0], [1.0, 0.0]]))
        Array([2., 1.], dtype=float32)
    """
    return _singular_values(_float_matrix("svdvals", x, square=False))


def matrix_transpose(x: ArrayLike, /) -> Array:
    """``x`` with its last two axes swapped.

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.linalg.matrix_transpose(vnp.ones((2, 3, 4))).shape
        (2, 4, 3)
    """
    x = as_array(x, "matrix_transpose")
    if x.ndim < 2:
        raise ShapeError(f"matrix_transpose: needs at least 2 axes, got shape {x.shape}")
    return dec.mT(x)


def diagonal(x: ArrayLike, /, *, offset: int = 0) -> Array:
    """The diagonals of the matrices in the last two axes (the Array API's argument order).

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.linalg.diagonal(vnp.eye(2))
        Array([1., 1.], dtype=float32)
    """
    return _diagonal(x, offset, axis1=-2, axis2=-1)


def trace(x: ArrayLike, /, *, offset: int = 0, dtype: Any = None) -> Array:
    """The traces of the matrices in the last two axes (the Array API's argument order).

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.linalg.trace(vnp.eye(3))
        Array(3., dtype=float32)
    """
    return _trace(x, offset, axis1=-2, axis2=-1, dtype=dtype)


def tensorinv(a: ArrayLike, ind: int = 2) -> Array:
    """The inverse of ``a`` as a linear map from its last axes to its first ``ind`` axes, as
    ``numpy.linalg.tensorinv``: shape ``a.shape[ind:] + a.shape[:ind]``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.linalg.tensorinv(vnp.eye(4).reshape(4, 2, 2), ind=1).shape
        (2, 2, 4)
    """
    a = as_array(a, "tensorinv")
    if ind <= 0:
        raise ValueError(f"tensorinv: ind must be a positive integer, got {ind}")
    rows, cols = a.shape[:ind], a.shape[ind:]
    if math.prod(rows) != math.prod(cols):
        raise ShapeError(
            f"tensorinv: a {a.shape} with ind={ind} maps {math.prod(cols)} values to "
            f"{math.prod(rows)}; the two products must be equal"
        )
    square = lax.reshape(a, (math.prod(rows), math.prod(cols)))
    return lax.reshape(inv(square), (*cols, *rows))


def tensorsolve(a: ArrayLike, b: ArrayLike, axes: Sequence[int] | None = None) -> Array:
    """``x`` with ``tensordot(a, x, x.ndim) == b``, as ``numpy.linalg.tensorsolve``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.linalg.tensorsolve(2 * vnp.eye(4).reshape(2, 2, 4), vnp.ones((2, 2))).shape
        (4,)
    """
    a, b = promote_args(a, b, inexact=True)
    if axes is not None:
        moved = [normalize_axis("tensorsolve", operator.index(i), a.ndim) for i in axes]
        keep = [i for i in range(a.ndim) if i not in moved]
        a = transpose(a, keep + moved)
    rest = a.shape[b.ndim:]
    if a.shape[: b.ndim] != b.shape or math.prod(rest) != b.size:
        raise ShapeError(
            f"tensorsolve: a {a.shape} must start with b's shape {b.shape} and its remaining "
            f"axes {rest} must hold {b.size} values"
        )
    x = solve(lax.reshape(a, (b.size, math.prod(rest))), lax.reshape(b, (b.size,)))
    return lax.reshape(x, rest)
