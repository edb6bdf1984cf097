"""``vfunc.scipy.linalg``: SciPy's linear-algebra names and conventions, as ``jax.scipy.linalg``.

Built on ``vfunc.numpy.linalg`` and the decomposition primitives (no SciPy needed): SciPy's
defaults differ from NumPy's (``cholesky`` returns the upper factor, ``qr`` the full ``Q``),
and these functions keep SciPy's. Everything is batched over leading axes and differentiable.
``overwrite_*`` and ``check_finite`` are accepted and ignored, as in JAX.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vfunc import lax
from vfunc.core import Array, Tracer
from vfunc.errors import ShapeError
from vfunc.numpy import linalg as nla
from vfunc.numpy._promote import convert, promote_args
from vfunc.numpy.indexing import take_along_axis
from vfunc.numpy.movement import argsort
from vfunc.numpy.products import matmul
from vfunc.numpy.reductions import max as _max
from vfunc.numpy.ufuncs import absolute, broadcast_to, ceil, log, maximum, minimum, where
from vfunc.primitives import decompositions as dec

ArrayLike = Any

__all__ = ["cho_factor", "cho_solve", "cholesky", "det", "eigh", "expm", "inv", "lu",
           "lu_factor", "lu_solve", "qr", "solve", "solve_triangular", "svd"]  # fmt: skip

det, inv = nla.det, nla.inv


def _rhs(op: str, a: Array, b: ArrayLike) -> tuple[Array, Array, bool]:
    """``b`` as matrices ``[..., n, k]`` with ``a``'s leading axes; a vector when it has one
    axis fewer than ``a`` (SciPy's and JAX's rule)."""
    a, b = promote_args(a, b, inexact=True)
    a = nla._float_matrix(op, a)
    b = convert(b, a.dtype)
    vector = b.ndim == a.ndim - 1
    if vector:
        b = lax.expand_dims(b, (b.ndim,))
    if b.ndim < 2 or b.shape[-2] != a.shape[-1]:
        raise ShapeError(
            f"{op}: a {a.shape} needs b with {a.shape[-1]} rows ([..., n] or [..., n, k]), got "
            f"b {b.shape}"
        )
    a, b = nla._broadcast_batch(a, b, 2)
    return a, b, vector


def _vector_out(x: Array, vector: bool) -> Array:
    return lax.squeeze(x, (x.ndim - 1,)) if vector else x


def solve_triangular(
    a: ArrayLike, b: ArrayLike, trans: int | str = 0, lower: bool = False,
    unit_diagonal: bool = False, overwrite_b: bool = False, debug: Any = None,
    check_finite: bool = True,
) -> Array:  # fmt: skip
    """``x`` with ``op(a) @ x == b`` for triangular ``a``, as ``scipy.linalg.solve_triangular``.

    Args:
        a: ``[..., n, n]``; only the ``lower`` (default upper) triangle is read, and not its
            diagonal when ``unit_diagonal``.
        b: ``[..., n]`` or ``[..., n, k]``.
        trans: 0 / ``'N'`` (``a``), 1 / ``'T'`` (``a.T``) or 2 / ``'C'`` (``a.conj().T``).

    Example:
        >>> from vfunc.scipy.linalg import solve_triangular
        >>> solve_triangular([[2.0, 1.0], [0.0, 4.0]], [3.0, 4.0])
        Array([1., 1.], dtype=float32)
    """
    del overwrite_b, debug, check_finite
    if trans not in (0, 1, 2, "N", "T", "C"):
        raise ValueError(f"solve_triangular: trans must be 0, 1, 2, 'N', 'T' or 'C', got {trans!r}")
    a, b, vector = _rhs("solve_triangular", a, b)
    if trans in (2, "C"):
        a = dec.conj(a)
    x = dec.triangular_solve_p.bind(a, b, left_side=True, lower=bool(lower),
                                    transpose_a=trans not in (0, "N"),
                                    unit_diagonal=bool(unit_diagonal))  # fmt: skip
    return _vector_out(x, vector)


def cholesky(a: ArrayLike, lower: bool = False, overwrite_a: bool = False,
             check_finite: bool = True) -> Array:  # fmt: skip
    """The Cholesky factor, upper (``U^H @ U == a``) unless ``lower``, as SciPy: only that
    triangle of ``a`` is read (no symmetrisation, as in SciPy and ``jax.scipy``).

    Differs from JAX: the gradient is the exact one of that function, so it lies in the
    triangle read; JAX's spreads over both triangles with the same symmetric part (what any
    symmetric perturbation of ``a`` sees).

    Example:
        >>> from vfunc.scipy.linalg import cholesky
        >>> cholesky([[4.0, 2.0], [2.0, 2.0]])
        Array([[2., 1.],
               [0., 1.]], dtype=float32)
    """
    del overwrite_a, check_finite
    full = nla._sym_from_triangle(nla._float_matrix("cholesky", a), bool(lower))
    return nla.cholesky(full, upper=not lower)


def cho_factor(a: ArrayLike, lower: bool = False, overwrite_a: bool = False,
               check_finite: bool = True) -> tuple[Array, bool]:  # fmt: skip
    """``(c, lower)`` for ``cho_solve``: ``c`` holds the Cholesky factor in its ``lower`` (or
    upper) triangle and zeros in the other (SciPy leaves the other triangle unspecified).

    Example:
        >>> from vfunc.scipy.linalg import cho_factor, cho_solve
        >>> cho_solve(cho_factor([[4.0, 2.0], [2.0, 2.0]]), [6.0, 4.0])
        Array([1., 1.], dtype=float32)
    """
    del overwrite_a, check_finite
    return cholesky(a, lower=lower), bool(lower)


def cho_solve(c_and_lower: tuple[ArrayLike, bool], b: ArrayLike, overwrite_b: bool = False,
              check_finite: bool = True) -> Array:  # fmt: skip
    """``x`` with ``a @ x == b`` from ``cho_factor(a)``: two triangular solves."""
    del overwrite_b, check_finite
    c, lower = c_and_lower
    c, b, vector = _rhs("cho_solve", c, b)
    # a = L L^H: L y = b, L^H x = y; a = U^H U: U^H y = b, U x = y
    kw = dict(left_side=True, lower=bool(lower), unit_diagonal=False)
    y = dec.triangular_solve_p.bind(c if lower else dec.conj(c), b, transpose_a=not lower, **kw)
    x = dec.triangular_solve_p.bind(dec.conj(c) if lower else c, y, transpose_a=bool(lower),
                                    **kw)  # fmt: skip
    return _vector_out(x, vector)


def solve(a: ArrayLike, b: ArrayLike, lower: bool = False, overwrite_a: bool = False,
          overwrite_b: bool = False, check_finite: bool = True, assume_a: str = "gen") -> Array:
    """``x`` with ``a @ x == b``, as ``scipy.linalg.solve``: ``assume_a='pos'`` solves through
    the Cholesky factor of the ``lower`` (default upper) triangle; other kinds use LU.

    Example:
        >>> from vfunc.scipy.linalg import solve
        >>> solve([[2.0, 0.0], [0.0, 4.0]], [2.0, 2.0], assume_a="pos")
        Array([1. , 0.5], dtype=float32)
    """
    del overwrite_a, overwrite_b, check_finite
    if assume_a not in ("gen", "sym", "her", "pos", "diagonal", "tridiagonal", "banded",
                        "upper triangular", "lower triangular"):  # fmt: skip
        raise ValueError(f"solve: unknown assume_a={assume_a!r}")
    if assume_a == "pos":
        a = nla._float_matrix("solve", a)
        full = nla._sym_from_triangle(a, bool(lower))
        return cho_solve(cho_factor(full, lower=True), b)
    if assume_a.endswith("triangular"):
        return solve_triangular(a, b, lower=assume_a.startswith("lower"))
    a, b, vector = _rhs("solve", a, b)
    return _vector_out(dec.solve_p.bind(a, b), vector)


def eigh(a: ArrayLike, b: ArrayLike | None = None, lower: bool = True,
         eigvals_only: bool = False, overwrite_a: bool = False, overwrite_b: bool = False,
         type: int = 1, check_finite: bool = True) -> Array | tuple[Array, Array]:  # noqa: A002
    """Eigenvalues (and eigenvectors) of a symmetric matrix, as ``scipy.linalg.eigh``; the
    input is symmetrised, as in JAX. The generalized problem (``b``) is not supported.

    Example:
        >>> from vfunc.scipy.linalg import eigh
        >>> eigh([[2.0, 1.0], [1.0, 2.0]], eigvals_only=True)
        Array([1., 3.], dtype=float32)
    """
    del overwrite_a, overwrite_b, check_finite, type
    if b is not None:
        raise NotImplementedError("eigh: the generalized eigenproblem (b) is not supported")
    w, v = nla.eigh(a, UPLO="L" if lower else "U")
    return w if eigvals_only else (w, v)


def svd(a: ArrayLike, full_matrices: bool = True, compute_uv: bool = True,
        overwrite_a: bool = False, check_finite: bool = True,
        lapack_driver: str = "gesdd") -> Array | tuple[Array, Array, Array]:  # fmt: skip
    """The SVD ``(U, s, Vh)``, or ``s`` without ``compute_uv``, as ``scipy.linalg.svd``."""
    del overwrite_a, check_finite, lapack_driver
    out = nla.svd(a, full_matrices=full_matrices, compute_uv=compute_uv)
    return tuple(out) if compute_uv else out


def qr(a: ArrayLike, overwrite_a: bool = False, lwork: Any = None, mode: str = "full",
       pivoting: bool = False, check_finite: bool = True) -> tuple[Array, ...]:
    """``(Q, R)`` as ``scipy.linalg.qr``: ``mode='full'`` (``Q [m, m]``), ``'economic'``
    (``Q [m, k]``) or ``'r'`` (``(R,)``, R as in ``'full'``). Pivoting is not supported."""
    del overwrite_a, lwork, check_finite
    if pivoting:
        raise NotImplementedError("qr: pivoting=True is not supported")
    if mode not in ("full", "economic", "r"):
        raise ValueError(f"qr: mode must be 'full', 'economic' or 'r', got {mode!r}")
    q, r = nla.qr(a, mode="reduced" if mode == "economic" else "complete")
    return (r,) if mode == "r" else (q, r)


def lu_factor(a: ArrayLike, overwrite_a: bool = False,
              check_finite: bool = True) -> tuple[Array, Array]:  # fmt: skip
    """``(lu, piv)`` of square matrices, as ``scipy.linalg.lu_factor``: ``L`` (unit diagonal)
    below ``lu``'s diagonal, ``U`` on and above it, and ``piv[i]`` the row swapped with row
    ``i`` (LAPACK's convention). Differentiable in ``lu``.

    Example:
        >>> from vfunc.scipy.linalg import lu_factor, lu_solve
        >>> lu_solve(lu_factor([[1.0, 2.0], [3.0, 4.0]]), [5.0, 11.0])
        Array([1., 2.], dtype=float32)
    """
    del overwrite_a, check_finite
    lu_, piv, _ = dec.lu_p.bind(nla._float_matrix("lu_factor", a))
    return lu_, piv


def lu_solve(lu_and_piv: tuple[ArrayLike, ArrayLike], b: ArrayLike, trans: int = 0,
             overwrite_b: bool = False, check_finite: bool = True) -> Array:  # fmt: skip
    """``x`` with ``a @ x == b`` (``trans=0``) or ``a.T @ x == b`` (1 or 2) from
    ``lu_factor(a)``, as ``scipy.linalg.lu_solve``."""
    del overwrite_b, check_finite
    if trans not in (0, 1, 2):
        raise ValueError(f"lu_solve: trans must be 0, 1 or 2, got {trans!r}")
    lu_, piv = lu_and_piv
    lu_, b, vector = _rhs("lu_solve", nla._float_matrix("lu_solve", lu_), b)
    piv = lax.as_array(piv) if not isinstance(piv, Array) else piv
    perm = dec.lu_pivots_to_permutation_p.bind(piv, size=lu_.shape[-1])
    perm = broadcast_to(perm, b.shape[:-1])
    kw = dict(left_side=True, unit_diagonal=False)
    if trans == 0:  # a = P L U: L y = b[perm], U x = y
        y = dec.triangular_solve_p.bind(lu_, take_along_axis(b, perm[..., None], axis=-2),
                                        lower=True, transpose_a=False,
                                        **{**kw, "unit_diagonal": True})  # fmt: skip
        x = dec.triangular_solve_p.bind(lu_, y, lower=False, transpose_a=False, **kw)
    else:  # a.T = U^T L^T P^T: U^T y = b, L^T z = y, x = P z
        y = dec.triangular_solve_p.bind(lu_, b, lower=False, transpose_a=True, **kw)
        z = dec.triangular_solve_p.bind(lu_, y, lower=True, transpose_a=True,
                                        **{**kw, "unit_diagonal": True})  # fmt: skip
        inverse = argsort(perm, axis=-1)
        x = take_along_axis(z, inverse[..., None], axis=-2)
    return _vector_out(x, vector)


def lu(a: ArrayLike, permute_l: bool = False, overwrite_a: bool = False,
       check_finite: bool = True) -> tuple[Array, ...]:  # fmt: skip
    """``(p, l, u)`` with ``a == p @ l @ u`` (``p`` a permutation matrix), or ``(p @ l, u)``
    with ``permute_l``, as ``scipy.linalg.lu`` for square matrices.

    Example:
        >>> from vfunc.scipy.linalg import lu
        >>> p, l, u = lu([[1.0, 2.0], [3.0, 4.0]])
        >>> u
        Array([[3.       , 4.       ],
               [0.       , 0.6666666]], dtype=float32)
    """
    del overwrite_a, check_finite
    a = nla._float_matrix("lu", a)
    lu_, _, perm = dec.lu_p.bind(a)
    n = a.shape[-1]
    low = dec.tril(lu_, -1) + nla._eye_like(lu_)
    up = dec.triu(lu_)
    rows = lax.broadcasted_iota(np.dtype(np.int32), (*perm.shape, n), perm.ndim - 1)
    # real even for complex a, as in JAX
    p = convert(lax.eq(rows, lax.expand_dims(perm, (perm.ndim - 1,))), dec.real_dtype(a.dtype))
    return (matmul(p, low), up) if permute_l else (p, low, up)


# Pade approximants of exp for scaling and squaring (Higham 2005): numerator coefficients, and
# the 1-norm up to which each degree is accurate to the unit roundoff of its dtype.
_PADE = {
    7: (3.925724783138660, (17297280.0, 8648640.0, 1995840.0, 277200.0, 25200.0, 1512.0, 56.0,
                            1.0)),
    13: (5.371920351148152, (64764752532480000.0, 32382376266240000.0, 7771770303897600.0,
                             1187353796428800.0, 129060195264000.0, 10559470521600.0,
                             670442572800.0, 33522128640.0, 1323241920.0, 40840800.0, 960960.0,
                             16380.0, 182.0, 1.0)),
}  # fmt: skip


def _pade(a: Array, degree: int) -> tuple[Array, Array]:
    """Numerator ``V + U`` and denominator ``V - U`` of the Pade approximant of ``exp(a)``."""
    b = _PADE[degree][1]
    eye = nla._eye_like(a)
    a2 = matmul(a, a)
    a4 = matmul(a2, a2)
    a6 = matmul(a4, a2)
    if degree == 7:
        u = matmul(a, b[7] * a6 + b[5] * a4 + b[3] * a2 + b[1] * eye)
        v = b[6] * a6 + b[4] * a4 + b[2] * a2 + b[0] * eye
    else:
        u = matmul(a, matmul(a6, b[13] * a6 + b[11] * a4 + b[9] * a2)
                   + b[7] * a6 + b[5] * a4 + b[3] * a2 + b[1] * eye)  # fmt: skip
        v = (matmul(a6, b[12] * a6 + b[10] * a4 + b[8] * a2)
             + b[6] * a6 + b[4] * a4 + b[2] * a2 + b[0] * eye)  # fmt: skip
    return v + u, v - u


def expm(A: ArrayLike, *, upper_triangular: bool = False, max_squarings: int = 16) -> Array:  # noqa: N803
    """The matrix exponential by scaling and squaring with a Pade approximant (degree 13 in
    float64, 7 in float32), as ``jax.scipy.linalg.expm``; batched and differentiable.

    ``a`` is scaled by ``2**-s`` so its 1-norm is within the approximant's range, then the
    result is squared ``s`` times (at most ``max_squarings``). Under a transformation ``s`` is
    traced, so all ``max_squarings`` squarings run with the unneeded ones selected away.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc.scipy.linalg import expm
        >>> expm(vnp.zeros((2, 2)))
        Array([[1., 0.],
               [0., 1.]], dtype=float32)
    """
    del upper_triangular
    a = nla._float_matrix("expm", A)
    real = dec.real_dtype(a.dtype)
    degree = 13 if real == np.float64 else 7
    theta = _PADE[degree][0]
    norm1 = _max(lax.reduce_sum(absolute(a), (a.ndim - 2,)), axis=-1)
    # s = ceil(log2(norm1 / theta)) clipped to [0, max_squarings]; 0 for the zero matrix
    ratio = where(norm1 > 0, norm1 / theta, 1.0)
    s = minimum(maximum(ceil(log(ratio) / np.log(2.0)), 0.0), float(max_squarings))
    s = lax.stop_gradient(s)
    scale = lax.expand_dims(lax.pow(convert(2.0, real), -s), (s.ndim, s.ndim + 1))
    scale = convert(scale, a.dtype)
    num, den = _pade(a * scale, degree)
    r = dec.solve_p.bind(den, num)
    rounds = max_squarings if isinstance(s, Tracer) else int(np.max(np.asarray(s), initial=0))
    step = lax.expand_dims(s, (s.ndim, s.ndim + 1))
    for i in range(rounds):
        r = where(step > i, matmul(r, r), r)
    return r
