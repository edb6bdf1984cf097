"""``vfunc.scipy.special``: SciPy's special functions with ``jax.scipy.special``'s names.

Integer and bool inputs are promoted to the default float and operands to one dtype (JAX's
rules). Functions that need care for accuracy are primitives (``vfunc.primitives.special``,
written for vfunc: SciPy is not needed); the rest are compositions of them, so every function
here works under ``grad``, ``jit`` and ``vmap``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

import vfunc.numpy as vnp
from vfunc import lax
from vfunc.core import Array
from vfunc.numpy import ufuncs as uf
from vfunc.numpy._promote import promote_args
from vfunc.numpy.reductions import canonical_axes
from vfunc.primitives import special as sp
from vfunc.primitives.special_kernels import BERNOULLI

ArrayLike = Any
Axis = int | Sequence[int] | None

__all__ = ["betainc", "betaln", "digamma", "entr", "erf", "erfc", "erfinv", "expit", "gamma",
           "gammainc", "gammaincc", "gammaln", "i0", "i0e", "i1", "i1e", "log_ndtr",
           "log_softmax", "logit", "logsumexp", "multigammaln", "ndtr", "ndtri", "polygamma",
           "softmax", "xlog1py", "xlogy", "zeta"]  # fmt: skip


def _floats(*args: ArrayLike) -> list[Array]:
    return promote_args(*args, inexact=True)


def _unary(fn, name: str, what: str):
    def op(x: ArrayLike) -> Array:
        (x,) = _floats(x)
        return fn(x)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = (
        f"{what}, elementwise, as ``scipy.special.{name}`` (integers are promoted to the "
        "default float; differentiable to any order)."
    )
    return op


# fmt: off
erf      = _unary(lax.erf,           "erf",      "The error function")
erfc     = _unary(sp.erfc_p.bind,     "erfc",     "The complementary error function 1 - erf(x)")
erfinv   = _unary(lax.erf_inv,       "erfinv",   "The inverse error function")
gammaln  = _unary(sp.lgamma_p.bind,   "gammaln",  "log |Gamma(x)|")
digamma  = _unary(sp.digamma_p.bind,  "digamma",  "The digamma function d/dx log Gamma(x)")
i0e      = _unary(sp.i0e_p.bind,      "i0e",      "The scaled modified Bessel function "
                  "exp(-|x|) I0(x)")
i1e      = _unary(sp.i1e_p.bind,      "i1e",      "The scaled modified Bessel function "
                  "exp(-|x|) I1(x)")
ndtri    = _unary(sp.ndtri_p.bind,    "ndtri",    "The standard normal quantile (ndtr's inverse)")
log_ndtr = _unary(sp.log_ndtr_p.bind, "log_ndtr", "log of the standard normal CDF, accurate in "
                  "both tails")
expit    = _unary(lax.logistic,      "expit",    "The logistic sigmoid 1 / (1 + exp(-x))")
# fmt: on


def logit(x: ArrayLike) -> Array:
    """``log(x / (1 - x))``, the inverse of ``expit``, as ``scipy.special.logit``."""
    (x,) = _floats(x)
    return lax.log(lax.div(x, lax.sub(1.0, x)))


def ndtr(x: ArrayLike) -> Array:
    """The standard normal CDF, ``erfc(-x / sqrt(2)) / 2`` (erfc keeps the lower tail's
    relative accuracy, which ``(1 + erf(x / sqrt(2))) / 2`` loses)."""
    (x,) = _floats(x)
    return lax.mul(sp.erfc_p.bind(lax.mul(x, -math.sqrt(0.5))), 0.5)


def i0(x: ArrayLike) -> Array:
    """The modified Bessel function of the first kind of order 0, ``exp(|x|) i0e(x)``."""
    (x,) = _floats(x)
    return lax.mul(lax.exp(lax.abs(x)), sp.i0e_p.bind(x))


def i1(x: ArrayLike) -> Array:
    """The modified Bessel function of the first kind of order 1, ``exp(|x|) i1e(x)``."""
    (x,) = _floats(x)
    return lax.mul(lax.exp(lax.abs(x)), sp.i1e_p.bind(x))


def gamma(x: ArrayLike) -> Array:
    """The gamma function, ``sign * exp(gammaln(x))`` (its sign alternates between the poles at
    0, -1, -2, ...), as ``jax.scipy.special.gamma``.

    Differs from SciPy: at the poles this gives inf where SciPy gives nan for negative ones.
    """
    (x,) = _floats(x)
    odd_floor = lax.ne(uf.remainder(lax.floor(x), 2.0), 0.0)
    negative = lax.bitwise_and(lax.lt(x, 0.0), odd_floor)
    magnitude = lax.exp(sp.lgamma_p.bind(x))
    return uf.where(negative, lax.neg(magnitude), magnitude)


# Stirling's series of log Gamma: lgamma(x) = (x - 1/2) log x - x + log(2 pi)/2 + delta(x),
# delta(x) = sum_k B_2k / (2k (2k - 1) x^(2k - 1)); eight terms reach float64 from x = 10 on.
_STIRLING = tuple(n / d / (2 * k * (2 * k - 1)) for k, (n, d) in enumerate(BERNOULLI[:8], 1))
_STIRLING_FROM = 10.0


def _stirling_delta(x: Array) -> Array:
    x = uf.maximum(x, _STIRLING_FROM)  # unused branches stay finite (and their gradients 0)
    inv, inv2 = 1.0 / x, 1.0 / (x * x)
    total: Any = _STIRLING[-1]
    for c in reversed(_STIRLING[:-1]):
        total = total * inv2 + c
    return total * inv


def betaln(a: ArrayLike, b: ArrayLike) -> Array:
    """``log |B(a, b)| = gammaln(a) + gammaln(b) - gammaln(a + b)``, as
    ``scipy.special.betaln``.

    Where ``a`` or ``b`` is large the three log-gammas would cancel, so Stirling's series is
    rearranged into terms that do not (``log1p`` of the ratio of the arguments): accurate to
    float64 for arguments up to 1e300.
    """
    a, b = _floats(a, b)
    p, q = uf.minimum(a, b), uf.maximum(a, b)
    small = sp.lgamma_p.bind(p)
    plain = small + sp.lgamma_p.bind(q) - sp.lgamma_p.bind(p + q)
    qs = uf.maximum(q, _STIRLING_FROM)
    # lgamma(q) - lgamma(p + q) for large q, without the cancellation
    ratio = -(qs - 0.5) * uf.log1p(p / qs) - p * uf.log(p + qs) + p
    large_q = small + ratio + _stirling_delta(qs) - _stirling_delta(p + qs)
    # both large: every Gamma by Stirling's series, the logs again as log1p of ratios
    ps = uf.maximum(p, _STIRLING_FROM)
    both = (-(ps - 0.5) * uf.log1p(qs / ps) - qs * uf.log1p(ps / qs) - 0.5 * uf.log(qs)
            + 0.5 * math.log(2 * math.pi) + _stirling_delta(ps) + _stirling_delta(qs)
            - _stirling_delta(ps + qs))  # fmt: skip
    return uf.where(q < _STIRLING_FROM, plain, uf.where(p < _STIRLING_FROM, large_q, both))


def xlogy(x: ArrayLike, y: ArrayLike) -> Array:
    """``x * log(y)``, with 0 where ``x == 0`` (even at ``y == 0``), as
    ``scipy.special.xlogy``; its derivatives stay finite there too."""
    x, y = _floats(x, y)
    zero = lax.bitwise_and(lax.eq(x, 0.0), lax.eq(y, 0.0))
    return lax.mul(x, lax.log(uf.where(zero, 1.0, y)))


def xlog1py(x: ArrayLike, y: ArrayLike) -> Array:
    """``x * log1p(y)``, with 0 where ``x == 0`` (even at ``y == -1``), as
    ``scipy.special.xlog1py``."""
    x, y = _floats(x, y)
    zero = lax.bitwise_and(lax.eq(x, 0.0), lax.eq(y, -1.0))
    return lax.mul(x, lax.log1p(uf.where(zero, 0.0, y)))


def entr(x: ArrayLike) -> Array:
    """The entropy density ``-x log x`` (0 at 0, -inf for ``x < 0``), as
    ``scipy.special.entr``."""
    (x,) = _floats(x)
    positive = lax.gt(x, 0.0)
    inside = lax.neg(lax.mul(x, lax.log(uf.where(positive, x, 1.0))))
    return uf.where(positive, inside, uf.where(lax.eq(x, 0.0), 0.0, -np.inf))


def zeta(x: ArrayLike, q: ArrayLike | None = None) -> Array:
    """The Hurwitz zeta function ``sum_k (q + k) ** -x`` (Riemann's when ``q`` is None), as
    ``scipy.special.zeta``; differentiable in ``q`` (``x`` raises, as in JAX)."""
    x, q = _floats(x, 1.0 if q is None else q)
    x, q = uf.broadcast_arrays(x, q)
    return sp.zeta_p.bind(x, q)


def polygamma(n: ArrayLike, x: ArrayLike) -> Array:
    """The ``n``-th derivative of digamma, as ``scipy.special.polygamma`` (``n`` a
    non-negative integer, or an array of them): ``(-1)**(n+1) n! zeta(n + 1, x)`` for
    ``n >= 1``, ``digamma(x)`` for ``n == 0``. Differentiable in ``x``."""
    n_int = np.asarray(n) if not isinstance(n, Array) else None
    if n_int is not None and (np.any(n_int < 0) or np.any(n_int != np.round(n_int))):
        raise ValueError(f"polygamma: n must be non-negative integers, got {n!r}")
    n, x = _floats(n, x)
    n, x = uf.broadcast_arrays(n, x)
    order_zero = lax.eq(n, 0.0)
    # n == 0 takes digamma; zeta's s is kept at 2 there so the unused branch stays finite
    s = uf.where(order_zero, 2.0, lax.add(n, 1.0))
    factorial = lax.exp(sp.lgamma_p.bind(s))
    odd = lax.ne(uf.remainder(n, 2.0), 0.0)
    signed = lax.mul(uf.where(odd, factorial, lax.neg(factorial)), sp.zeta_p.bind(s, x))
    return uf.where(order_zero, sp.digamma_p.bind(x), signed)


def multigammaln(a: ArrayLike, d: int) -> Array:
    """The log of the multivariate gamma function of dimension ``d``, as
    ``scipy.special.multigammaln``: ``d (d - 1) / 4 log(pi) + sum_j gammaln(a - j / 2)``."""
    if int(d) != d or d < 1:
        raise ValueError(f"multigammaln: d must be a positive integer, got {d!r}")
    d = int(d)
    (a,) = _floats(a)
    total = None
    for j in range(d):
        term = sp.lgamma_p.bind(lax.sub(a, j / 2))
        total = term if total is None else lax.add(total, term)
    return lax.add(total, d * (d - 1) / 4 * math.log(math.pi))


def gammainc(a: ArrayLike, x: ArrayLike) -> Array:
    """The regularised lower incomplete gamma function ``P(a, x)``, as
    ``scipy.special.gammainc``; differentiable in ``x``."""
    a, x = uf.broadcast_arrays(*_floats(a, x))
    return sp.igamma_p.bind(a, x)


def gammaincc(a: ArrayLike, x: ArrayLike) -> Array:
    """The regularised upper incomplete gamma function ``Q(a, x) = 1 - P(a, x)``, accurate
    where ``P`` is near 1, as ``scipy.special.gammaincc``; differentiable in ``x``."""
    a, x = uf.broadcast_arrays(*_floats(a, x))
    return sp.igammac_p.bind(a, x)


def betainc(a: ArrayLike, b: ArrayLike, x: ArrayLike) -> Array:
    """The regularised incomplete beta function ``I_x(a, b)``, as ``scipy.special.betainc``;
    differentiable in ``x``."""
    a, b, x = uf.broadcast_arrays(*_floats(a, b, x))
    return sp.betainc_p.bind(a, b, x)


# The softmax family (also vfunc.nn's, as jax.nn's are jax.scipy.special's)


def _max_shift(x: Array, axes: tuple[int, ...]) -> Array:
    """The max of ``x`` over ``axes`` (kept as size-1 axes), replaced by 0 where not finite.

    Subtracting it keeps ``exp`` from overflowing. A slice that is all -inf (or holds +inf or
    NaN) shifts by 0 instead, so ``-inf - -inf`` never makes a NaN. The shift cancels out of
    every result, so it carries no gradient.
    """
    # lax.reduce_max rather than vnp.max: -inf over an empty axis instead of an error.
    peak = lax.expand_dims(lax.reduce_max(x, axes), axes)
    return lax.stop_gradient(vnp.where(vnp.isfinite(peak), peak, 0.0))


def _masked(x: Array, where: ArrayLike | None, fill: float) -> Array:
    return x if where is None else vnp.where(where, x, fill)


def logsumexp(
    a: ArrayLike,
    axis: Axis = None,
    b: ArrayLike | None = None,
    keepdims: bool = False,
    return_sign: bool = False,
    where: ArrayLike | None = None,
) -> Array | tuple[Array, Array]:
    """``log(sum(b * exp(a)))`` over ``axis``, without overflow, as
    ``jax.scipy.special.logsumexp`` (and ``jax.nn.logsumexp``).

    A slice that is all -inf (or empty) gives -inf, one holding +inf gives +inf, a NaN gives NaN.

    Args:
        a: input array (integers are promoted to the default float).
        axis: axis or axes to reduce (None: all; negative axes count from the end).
        b: optional scale factors broadcasting with ``a``; entries where ``b == 0`` are left
            out even if ``a`` is infinite there.
        keepdims: keep the reduced axes with length 1.
        return_sign: also return the sign of the sum; the first result is then
            ``log(|sum(b * exp(a))|)``.
        where: optional boolean mask broadcasting with ``a``: only True entries are summed.

    Returns:
        The reduced array; with ``return_sign``, a pair ``(log_abs_sum, sign)``. Without it, a
        negative sum (possible only with negative ``b``) gives NaN, as in JAX.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc.scipy import special
        >>> special.logsumexp(vnp.array([1000.0, 1000.0]))
        Array(1000.6932, dtype=float32)
        >>> special.logsumexp(vnp.array([[0.0, 0.0], [-vnp.inf, -vnp.inf]]), axis=1)
        Array([0.6931472,      -inf], dtype=float32)
    """
    if b is None:
        a = _floats(a)[0]
    else:
        a, b = promote_args(a, b, inexact=True)
        a, b = vnp.broadcast_arrays(a, b)
        # A zero weight removes its term outright: 0 * exp(inf) would be NaN.
        a = vnp.where(vnp.not_equal(b, 0), a, -np.inf)
    a = _masked(a, where, -np.inf)
    axes = canonical_axes("logsumexp", axis, a.ndim)
    shift = _max_shift(a, axes)
    terms = vnp.exp(a - shift)
    if b is not None:
        terms = terms * b
    total = vnp.sum(terms, axis=axes, keepdims=keepdims)
    sign = vnp.sign(total)
    out = vnp.log(vnp.absolute(total)) + (shift if keepdims else lax.squeeze(shift, axes))
    if return_sign:
        return out, sign
    if b is not None:
        out = vnp.where(vnp.less(sign, 0), np.nan, out)
    return out


def log_softmax(x: ArrayLike, axis: Axis = -1, where: ArrayLike | None = None) -> Array:
    """``log(softmax(x))`` computed as ``x - logsumexp(x)``, stable for large ``|x|``.

    Args:
        x: input array (integers are promoted to the default float).
        axis: axis or axes to normalize over (None: all).
        where: optional boolean mask broadcasting with ``x``: False entries take no part and
            come out as -inf.

    Returns:
        An array like ``x`` whose ``exp`` sums to 1 over ``axis``. An -inf entry gives -inf; a
        slice that is all -inf gives NaN (the softmax is 0/0 there), as in JAX.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc.scipy import special
        >>> special.log_softmax(vnp.array([1000.0, 0.0]))
        Array([    0., -1000.], dtype=float32)
    """
    x = _masked(_floats(x)[0], where, -np.inf)
    axes = canonical_axes("log_softmax", axis, x.ndim)
    shift = _max_shift(x, axes)
    shifted = x - shift
    result = shifted - vnp.log(vnp.sum(vnp.exp(shifted), axis=axes, keepdims=True))
    return _masked(result, where, -np.inf)


def softmax(x: ArrayLike, axis: Axis = -1, where: ArrayLike | None = None) -> Array:
    """``exp(x) / sum(exp(x))`` over ``axis``, with the max subtracted first so nothing
    overflows.

    Differs from JAX: a +inf entry makes only its own slot NaN (inf / inf), where JAX makes the
    whole slice NaN; the -inf-safe shift shared with ``logsumexp`` decides this.

    Args:
        x: input array (integers are promoted to the default float).
        axis: axis or axes to normalize over (None: all).
        where: optional boolean mask broadcasting with ``x``: False entries take no part and
            come out as 0.

    Returns:
        An array like ``x``, non-negative and summing to 1 over ``axis``. An -inf entry gives
        0; a slice that is all -inf gives NaN (0/0), as in JAX.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc.scipy import special
        >>> special.softmax(vnp.array([1000.0, 1000.0, -vnp.inf]))
        Array([0.5, 0.5, 0. ], dtype=float32)
    """
    x = _masked(_floats(x)[0], where, -np.inf)
    axes = canonical_axes("softmax", axis, x.ndim)
    shift = _max_shift(x, axes)
    unnormalized = vnp.exp(x - shift)
    result = unnormalized / vnp.sum(unnormalized, axis=axes, keepdims=True)
    return _masked(result, where, 0.0)
