"""Polynomials as coefficient vectors, highest power first (NumPy's ``poly1d`` convention):
``polyval``, ``polyfit``, ``roots``, ``poly``, ``polyadd``/``polysub``/``polymul``/``polydiv``,
``polyder``, ``polyint``, ``vander``, with JAX's semantics (shapes never depend on values unless
a ``trim_leading_zeros``/``strip_zeros`` option asks for it).
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from vfunc import dtypes, lax
from vfunc.core import Array, Tracer
from vfunc.errors import ConcretizationTypeError, ShapeError
from vfunc.numpy._promote import as_array, convert, promote_args
from vfunc.numpy.creation import zeros
from vfunc.numpy.products import convolve, matmul
from vfunc.numpy.reductions import sum
from vfunc.numpy.ufuncs import sqrt

ArrayLike = Any


def _coefficients(op: str, p: ArrayLike, name: str = "p") -> Array:
    c = as_array(p, op)
    if c.ndim != 1:
        raise ShapeError(f"{op}: {name} must be a 1-D coefficient vector, got shape {c.shape}")
    return c


def polyval(p: ArrayLike, x: ArrayLike, *, unroll: int = 16) -> Array:
    """The polynomial with coefficients ``p`` (highest power first) at ``x``, by Horner's rule.

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.polyval(vnp.array([1, 2, 3]), 2)
        Array(11, dtype=int32)
    """
    del unroll  # a loop-unrolling hint for JAX's scan; the loop here is unrolled in Python
    c = _coefficients("polyval", p)
    c, xa = promote_args(c, as_array(x, "polyval"))
    y = zeros(xa.shape, c.dtype)
    for i in range(c.shape[0]):
        y = y * xa + c[i]
    return y


def _pad_front(c: Array, n: int) -> Array:
    return lax.pad(c, lax.as_array(np.zeros((), c.dtype)), [(n - c.shape[0], 0, 0)])


def polyadd(a1: ArrayLike, a2: ArrayLike) -> Array:
    """The sum of two polynomials (the shorter padded with leading zeros)."""
    a, b = promote_args(_coefficients("polyadd", a1, "a1"), _coefficients("polyadd", a2, "a2"))
    n = max(a.shape[0], b.shape[0])
    return _pad_front(a, n) + _pad_front(b, n)


def polysub(a1: ArrayLike, a2: ArrayLike) -> Array:
    """The difference ``a1 - a2`` of two polynomials."""
    a, b = promote_args(_coefficients("polysub", a1, "a1"), _coefficients("polysub", a2, "a2"))
    n = max(a.shape[0], b.shape[0])
    return _pad_front(a, n) - _pad_front(b, n)


def _trim(op: str, c: Array) -> Array:
    """``c`` without leading zeros (needs concrete values; keeps one zero for the zero poly)."""
    if isinstance(c, Tracer):
        raise ConcretizationTypeError(
            f"{op}: trimming leading zeros of traced coefficients would give a value-dependent "
            "shape; leave trim_leading_zeros/strip_zeros off under jit, grad or vmap"
        )
    nz = np.flatnonzero(np.asarray(c))
    return c[int(nz[0]) :] if nz.size else c[-1:]


def polymul(a1: ArrayLike, a2: ArrayLike, *, trim_leading_zeros: bool = False) -> Array:
    """The product of two polynomials (their coefficients' full convolution)."""
    a, b = promote_args(_coefficients("polymul", a1, "a1"), _coefficients("polymul", a2, "a2"))
    if trim_leading_zeros:
        a, b = _trim("polymul", a), _trim("polymul", b)
    if a.shape[0] == 0 or b.shape[0] == 0:
        return zeros((0,), a.dtype)
    return convolve(a, b)


def polydiv(u: ArrayLike, v: ArrayLike, *, trim_leading_zeros: bool = False) -> tuple[Array, Array]:
    """Quotient and remainder of ``u / v``; as JAX, the remainder keeps ``u``'s length (its
    leading entries are zero) unless ``trim_leading_zeros``. ``v[0]`` must be nonzero."""
    num, den = promote_args(
        _coefficients("polydiv", u, "u"), _coefficients("polydiv", v, "v"), inexact=True
    )
    m, n = num.shape[0] - 1, den.shape[0] - 1
    if n < 0:
        raise ShapeError("polydiv: the divisor v is empty")
    scale = 1 / den[0]
    quotient = zeros((max(m - n + 1, 1),), num.dtype)
    rem = num
    for k in range(m - n + 1):
        d = scale * rem[k]
        quotient = quotient.at[k].set(d)
        rem = rem.at[k : k + n + 1].add(-d * den)
    if trim_leading_zeros:
        rem = _trim("polydiv", rem)
    return quotient, rem


def polyder(p: ArrayLike, m: int = 1) -> Array:
    """The ``m``-th derivative of the polynomial ``p``."""
    m = operator.index(m)
    if m < 0:
        raise ValueError(f"polyder: order m must be non-negative, got {m}")
    c = _coefficients("polyder", p)
    for _ in range(m):
        if c.shape[0] <= 1:
            return c[:0]
        powers = np.arange(c.shape[0] - 1, 0, -1)
        c = c[:-1] * lax.as_array(powers.astype(c.dtype))
    return c


def polyint(p: ArrayLike, m: int = 1, k: ArrayLike | None = None) -> Array:
    """The ``m``-th antiderivative of ``p``; ``k`` holds the ``m`` integration constants (one
    scalar is used for every step), the first for the outermost integration, as NumPy."""
    m = operator.index(m)
    if m < 0:
        raise ValueError(f"polyint: order m must be non-negative, got {m}")
    (c,) = promote_args(_coefficients("polyint", p), inexact=True)
    if m == 0:
        return c
    consts = zeros((m,), c.dtype) if k is None else convert(as_array(k, "polyint"), c.dtype)
    if consts.ndim == 0:
        consts = lax.broadcast_in_dim(consts, (m,), ())
    if consts.shape != (m,):
        raise ShapeError(f"polyint: k must be a scalar or hold m={m} constants, got {consts.shape}")
    for step in range(m):
        n = c.shape[0]
        divisors = lax.as_array(np.arange(n, 0, -1).astype(c.dtype))
        c = lax.concatenate([c / divisors, consts[step : step + 1]], 0)
    return c


def poly(seq_of_zeros: ArrayLike) -> Array:
    """Coefficients of the monic polynomial with the given roots (or, for a square matrix, of
    its characteristic polynomial)."""
    z = as_array(seq_of_zeros, "poly")
    if z.ndim == 2 and z.shape[0] == z.shape[1] and z.shape[0] > 0:
        from vfunc.numpy import linalg

        z = getattr(linalg, "eigvals")(z)  # noqa: B009  (added by another branch)
    elif z.ndim != 1:
        raise ShapeError(f"poly: needs a 1-D array of roots or a square matrix, got {z.shape}")
    (z,) = promote_args(z, inexact=True)
    c = lax.as_array(np.ones(1, z.dtype))
    for i in range(z.shape[0]):
        c = convolve(c, lax.concatenate([lax.as_array(np.ones(1, z.dtype)), -z[i : i + 1]], 0))
    return c


def vander(x: ArrayLike, N: int | None = None, increasing: bool = False) -> Array:  # noqa: N803
    """The Vandermonde matrix: column ``j`` is ``x ** (N - 1 - j)`` (``x ** j`` if increasing)."""
    xa = as_array(x, "vander")
    if xa.ndim != 1:
        raise ShapeError(f"vander: x must be 1-D, got shape {xa.shape}")
    n = xa.shape[0] if N is None else operator.index(N)
    if n < 0:
        raise ValueError(f"vander: N must be non-negative, got {n}")
    cols = [lax.broadcast_in_dim(lax.as_array(np.ones((), xa.dtype)), xa.shape, ())]
    for _ in range(1, n):
        cols.append(cols[-1] * xa)
    if not increasing:
        cols = cols[::-1]
    if n == 0:
        return zeros((xa.shape[0], 0), xa.dtype)
    return lax.concatenate([lax.expand_dims(c, (1,)) for c in cols], 1)


def polyfit(
    x: ArrayLike, y: ArrayLike, deg: int, rcond: float | None = None, full: bool = False,
    w: ArrayLike | None = None, cov: bool | str = False,
) -> Array | tuple[Array, ...]:  # fmt: skip
    """Least-squares polynomial fit of degree ``deg`` to the points ``(x, y)`` (``y`` may hold
    several data sets as columns), as ``numpy.polyfit``: coefficients highest power first;
    ``full`` adds ``(residuals, rank, singular_values, rcond)``; ``cov`` adds the coefficients'
    covariance (``"unscaled"`` skips the residual scaling). Differentiable in ``x``, ``y``,
    ``w``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.polyfit(vnp.array([0.0, 1.0, 2.0]), vnp.array([1.0, 3.0, 5.0]), 1).round(4)
        Array([2., 1.], dtype=float32)
    """
    from vfunc.numpy import linalg

    deg = operator.index(deg)
    if deg < 0:
        raise ValueError(f"polyfit: deg must be non-negative, got {deg}")
    xa, ya = promote_args(as_array(x, "polyfit"), as_array(y, "polyfit"), inexact=True)
    if xa.ndim != 1 or xa.shape[0] == 0:
        raise ShapeError(f"polyfit: x must be a non-empty 1-D array, got shape {xa.shape}")
    if ya.ndim not in (1, 2) or ya.shape[0] != xa.shape[0]:
        raise ShapeError(
            f"polyfit: y must be 1-D or 2-D with x's length {xa.shape[0]} first, got {ya.shape}"
        )
    order = deg + 1
    if rcond is None:
        rcond = xa.shape[0] * float(np.finfo(xa.dtype).eps)
    lhs, rhs = vander(xa, order), ya
    if w is not None:
        (wa,) = promote_args(as_array(w, "polyfit"))
        if wa.shape != xa.shape:
            raise ShapeError(f"polyfit: w must have x's shape {xa.shape}, got {wa.shape}")
        wa = convert(wa, xa.dtype)
        lhs = lhs * lax.expand_dims(wa, (1,))
        rhs = rhs * (wa if rhs.ndim == 1 else lax.expand_dims(wa, (1,)))
    # Scale the columns to unit norm, as NumPy does, so high powers do not swamp the SVD.
    scale = sqrt(sum(lhs * lhs, axis=0))
    c, resids, rank, s = linalg.lstsq(lhs / scale, rhs, rcond)
    c = c / (scale if c.ndim == 1 else lax.expand_dims(scale, (1,)))
    if full:
        return c, resids, rank, s, lax.as_array(np.asarray(rcond, xa.dtype))
    if not cov:
        return c
    scaled = lhs / scale
    base = linalg.inv(matmul(lax.transpose(scaled, (1, 0)), scaled))
    base = base / (lax.expand_dims(scale, (1,)) * lax.expand_dims(scale, (0,)))
    if cov == "unscaled":
        fac = lax.as_array(np.ones((), xa.dtype))
    else:
        dof = xa.shape[0] - order
        if dof <= 0:
            raise ValueError(
                f"polyfit: cov=True needs more points ({xa.shape[0]}) than coefficients ({order})"
            )
        fac = resids / dof
    if ya.ndim == 1:
        return c, base * fac
    return c, lax.expand_dims(base, (2,)) * lax.reshape(fac, (1, 1, fac.shape[0]))


def roots(p: ArrayLike, *, strip_zeros: bool = True) -> Array:
    """Roots of the polynomial ``p`` as complex numbers: the eigenvalues of its companion
    matrix. Leading zeros are stripped when ``strip_zeros`` (needs concrete ``p``); trailing
    zeros give roots at zero. Under ``jit`` pass ``strip_zeros=False`` (then ``p[0]`` must be
    nonzero; trailing zeros are solved for like any other coefficient, as JAX does)."""
    from vfunc.numpy import linalg

    (c,) = promote_args(_coefficients("roots", p), inexact=True)
    eigvals = getattr(linalg, "eigvals", None)  # another branch adds it; fail clearly until then
    if eigvals is None:
        raise NotImplementedError("roots: needs vnp.linalg.eigvals, which this build lacks")
    trailing = 0
    if strip_zeros:
        c = _trim("roots", c)
        values = np.asarray(c)
        if values.size and values[-1] == 0:
            nz = np.flatnonzero(values)
            trailing = values.size - 1 - int(nz[-1]) if nz.size else 0
            c = c[: values.size - trailing]
    n = c.shape[0] - 1
    if n < 1:
        found = zeros((0,), dtypes.canonicalize(np.complex128))
    else:
        companion = lax.concatenate(
            [lax.expand_dims(-c[1:] / c[0], (0,)), lax.as_array(np.eye(n - 1, n, dtype=c.dtype))],
            0,
        )
        found = eigvals(companion)
    if trailing:
        found = lax.concatenate([found, zeros((trailing,), found.dtype)], 0)
    return found
