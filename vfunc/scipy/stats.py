"""``vfunc.scipy.stats``: densities, distribution functions and quantiles with
``jax.scipy.stats``'s names, arguments and methods (``norm.logpdf(x, loc, scale)``, ...).

Each distribution is a namespace of plain functions over ``vfunc.numpy`` and
``vfunc.scipy.special``, so every method is differentiable (in ``x`` and in the parameters,
except the incomplete gamma/beta functions' shape parameters), batched by broadcasting, and
works under ``jit`` and ``vmap``. Integer inputs are promoted to the default float. Points
outside the support give a log-density of ``-inf``, as in SciPy and JAX.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from vfunc.core import Array
from vfunc.errors import ShapeError
from vfunc.numpy import linalg as _nla
from vfunc.numpy import ufuncs as uf
from vfunc.numpy._promote import promote_args
from vfunc.numpy.creation import arange
from vfunc.numpy.matrices import diagonal
from vfunc.numpy.movement import concatenate
from vfunc.numpy.reductions import all as _all
from vfunc.numpy.reductions import sum as _sum
from vfunc.numpy.shapes import expand_dims
from vfunc.scipy import special as sp
from vfunc.scipy.linalg import solve_triangular

ArrayLike = Any

__all__ = ["bernoulli", "beta", "cauchy", "dirichlet", "expon", "gamma", "laplace", "logistic",
           "multivariate_normal", "norm", "poisson", "t", "uniform"]  # fmt: skip

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def _floats(*args: ArrayLike) -> list[Array]:
    return promote_args(*args, inexact=True)


def _standardize(x: ArrayLike, loc: ArrayLike, scale: ArrayLike) -> tuple[Array, Array]:
    x, loc, scale = _floats(x, loc, scale)
    return (x - loc) / scale, scale


def _pdf(logpdf):
    def pdf(*args: ArrayLike, **kwargs: ArrayLike) -> Array:
        return uf.exp(logpdf(*args, **kwargs))

    pdf.__name__ = pdf.__qualname__ = logpdf.__name__.replace("log", "")
    pdf.__doc__ = f"``exp({logpdf.__name__}(...))``: the same arguments as ``{logpdf.__name__}``."
    return pdf


def _outside(inside: Array, value: Array, fill: float) -> Array:
    return uf.where(inside, value, fill)


class norm:  # noqa: N801  (SciPy's and JAX's name)
    """The normal distribution with mean ``loc`` and standard deviation ``scale``.

    Example:
        >>> from vfunc.scipy.stats import norm
        >>> norm.cdf(1.959964)
        Array(0.975, dtype=float32, weak_type=True)
    """

    @staticmethod
    def logpdf(x: ArrayLike, loc: ArrayLike = 0, scale: ArrayLike = 1) -> Array:
        """The log density ``-z**2 / 2 - log(scale) - log(sqrt(2 pi))``, ``z = (x-loc)/scale``."""
        z, scale = _standardize(x, loc, scale)
        return z * z * -0.5 - uf.log(scale) - _LOG_SQRT_2PI

    @staticmethod
    def cdf(x: ArrayLike, loc: ArrayLike = 0, scale: ArrayLike = 1) -> Array:
        """P(X <= x)."""
        return sp.ndtr(_standardize(x, loc, scale)[0])

    @staticmethod
    def logcdf(x: ArrayLike, loc: ArrayLike = 0, scale: ArrayLike = 1) -> Array:
        """log P(X <= x), accurate far in the lower tail."""
        return sp.log_ndtr(_standardize(x, loc, scale)[0])

    @staticmethod
    def sf(x: ArrayLike, loc: ArrayLike = 0, scale: ArrayLike = 1) -> Array:
        """P(X > x), accurate far in the upper tail (not ``1 - cdf``)."""
        return sp.ndtr(-_standardize(x, loc, scale)[0])

    @staticmethod
    def logsf(x: ArrayLike, loc: ArrayLike = 0, scale: ArrayLike = 1) -> Array:
        """log P(X > x)."""
        return sp.log_ndtr(-_standardize(x, loc, scale)[0])

    @staticmethod
    def ppf(q: ArrayLike, loc: ArrayLike = 0, scale: ArrayLike = 1) -> Array:
        """The quantile function, the inverse of ``cdf``."""
        q, loc, scale = _floats(q, loc, scale)
        return sp.ndtri(q) * scale + loc

    @staticmethod
    def isf(q: ArrayLike, loc: ArrayLike = 0, scale: ArrayLike = 1) -> Array:
        """The inverse of ``sf``: ``ppf(1 - q)``, without rounding ``1 - q``."""
        q, loc, scale = _floats(q, loc, scale)
        return loc - sp.ndtri(q) * scale

    pdf = staticmethod(_pdf(logpdf))


class cauchy:  # noqa: N801
    """The Cauchy distribution centred at ``loc`` with half-width ``scale``."""

    @staticmethod
    def logpdf(x: ArrayLike, loc: ArrayLike = 0, scale: ArrayLike = 1) -> Array:
        """``-log(pi scale (1 + z**2))``."""
        z, scale = _standardize(x, loc, scale)
        return -(uf.log1p(z * z) + uf.log(scale)) - math.log(math.pi)

    @staticmethod
    def cdf(x: ArrayLike, loc: ArrayLike = 0, scale: ArrayLike = 1) -> Array:
        """``1/2 + atan(z) / pi``."""
        z, _ = _standardize(x, loc, scale)
        return uf.arctan(z) / math.pi + 0.5

    @staticmethod
    def logcdf(x: ArrayLike, loc: ArrayLike = 0, scale: ArrayLike = 1) -> Array:
        """log of ``cdf``."""
        return uf.log(cauchy.cdf(x, loc, scale))

    @staticmethod
    def sf(x: ArrayLike, loc: ArrayLike = 0, scale: ArrayLike = 1) -> Array:
        """P(X > x), by symmetry ``cdf(-z)``."""
        z, _ = _standardize(x, loc, scale)
        return cauchy.cdf(-z)

    @staticmethod
    def logsf(x: ArrayLike, loc: ArrayLike = 0, scale: ArrayLike = 1) -> Array:
        """log of ``sf``."""
        return uf.log(cauchy.sf(x, loc, scale))

    @staticmethod
    def ppf(q: ArrayLike, loc: ArrayLike = 0, scale: ArrayLike = 1) -> Array:
        """``loc + scale tan(pi (q - 1/2))``."""
        q, loc, scale = _floats(q, loc, scale)
        return uf.tan((q - 0.5) * math.pi) * scale + loc

    @staticmethod
    def isf(q: ArrayLike, loc: ArrayLike = 0, scale: ArrayLike = 1) -> Array:
        """``loc + scale tan(pi (1/2 - q))``."""
        q, loc, scale = _floats(q, loc, scale)
        return uf.tan((0.5 - q) * math.pi) * scale + loc

    pdf = staticmethod(_pdf(logpdf))


class logistic:  # noqa: N801
    """The logistic distribution (CDF ``expit((x - loc) / scale)``)."""

    @staticmethod
    def logpdf(x: ArrayLike, loc: ArrayLike = 0, scale: ArrayLike = 1) -> Array:
        """``log(expit(z) expit(-z) / scale)``, without overflow for large ``|z|``."""
        z, scale = _standardize(x, loc, scale)
        # -|z| - 2 log1p(exp(-|z|)): the density is even in z
        a = uf.absolute(z)
        return -a - uf.log1p(uf.exp(-a)) * 2.0 - uf.log(scale)

    @staticmethod
    def cdf(x: ArrayLike, loc: ArrayLike = 0, scale: ArrayLike = 1) -> Array:
        """``expit(z)``."""
        return sp.expit(_standardize(x, loc, scale)[0])

    @staticmethod
    def sf(x: ArrayLike, loc: ArrayLike = 0, scale: ArrayLike = 1) -> Array:
        """``expit(-z)``."""
        return sp.expit(-_standardize(x, loc, scale)[0])

    @staticmethod
    def ppf(x: ArrayLike, loc: ArrayLike = 0, scale: ArrayLike = 1) -> Array:
        """``loc + scale logit(q)``."""
        q, loc, scale = _floats(x, loc, scale)
        return sp.logit(q) * scale + loc

    @staticmethod
    def isf(x: ArrayLike, loc: ArrayLike = 0, scale: ArrayLike = 1) -> Array:
        """``loc - scale logit(q)``."""
        q, loc, scale = _floats(x, loc, scale)
        return loc - sp.logit(q) * scale

    pdf = staticmethod(_pdf(logpdf))


class laplace:  # noqa: N801
    """The Laplace (double exponential) distribution."""

    @staticmethod
    def logpdf(x: ArrayLike, loc: ArrayLike = 0, scale: ArrayLike = 1) -> Array:
        """``-|z| - log(2 scale)``."""
        z, scale = _standardize(x, loc, scale)
        return -uf.absolute(z) - uf.log(scale * 2.0)

    @staticmethod
    def cdf(x: ArrayLike, loc: ArrayLike = 0, scale: ArrayLike = 1) -> Array:
        """``exp(z) / 2`` below ``loc``, ``1 - exp(-z) / 2`` above."""
        z, _ = _standardize(x, loc, scale)
        half_tail = uf.exp(-uf.absolute(z)) * 0.5
        return uf.where(z < 0, half_tail, 1.0 - half_tail)

    pdf = staticmethod(_pdf(logpdf))


class expon:  # noqa: N801
    """The exponential distribution with rate ``1 / scale``, starting at ``loc``."""

    @staticmethod
    def logpdf(x: ArrayLike, loc: ArrayLike = 0, scale: ArrayLike = 1) -> Array:
        """``-z - log(scale)`` for ``z >= 0``, ``-inf`` below ``loc``."""
        z, scale = _standardize(x, loc, scale)
        return _outside(z >= 0, -z - uf.log(scale), -np.inf)

    @staticmethod
    def cdf(x: ArrayLike, loc: ArrayLike = 0, scale: ArrayLike = 1) -> Array:
        """``1 - exp(-z)`` (as ``-expm1(-z)``, accurate near ``loc``), 0 below."""
        z, _ = _standardize(x, loc, scale)
        return -uf.expm1(-uf.maximum(z, 0.0))

    @staticmethod
    def logcdf(x: ArrayLike, loc: ArrayLike = 0, scale: ArrayLike = 1) -> Array:
        """log of ``cdf`` (``-inf`` at and below ``loc``)."""
        return uf.log(expon.cdf(x, loc, scale))

    @staticmethod
    def sf(x: ArrayLike, loc: ArrayLike = 0, scale: ArrayLike = 1) -> Array:
        """``exp(-z)``, 1 below ``loc``."""
        return uf.exp(expon.logsf(x, loc, scale))

    @staticmethod
    def logsf(x: ArrayLike, loc: ArrayLike = 0, scale: ArrayLike = 1) -> Array:
        """``-z``, 0 below ``loc``."""
        z, _ = _standardize(x, loc, scale)
        return -uf.maximum(z, 0.0)

    @staticmethod
    def ppf(q: ArrayLike, loc: ArrayLike = 0, scale: ArrayLike = 1) -> Array:
        """``loc - scale log(1 - q)`` (nan outside [0, 1])."""
        q, loc, scale = _floats(q, loc, scale)
        return -uf.log1p(-q) * scale + loc

    pdf = staticmethod(_pdf(logpdf))


class uniform:  # noqa: N801
    """The uniform distribution on ``[loc, loc + scale]``."""

    @staticmethod
    def logpdf(x: ArrayLike, loc: ArrayLike = 0, scale: ArrayLike = 1) -> Array:
        """``-log(scale)`` inside the interval, ``-inf`` outside."""
        x, loc, scale = _floats(x, loc, scale)
        inside = uf.logical_and(x >= loc, x <= loc + scale)
        return _outside(inside, -uf.log(scale) + x * 0.0, -np.inf)

    @staticmethod
    def cdf(x: ArrayLike, loc: ArrayLike = 0, scale: ArrayLike = 1) -> Array:
        """``(x - loc) / scale`` clipped to [0, 1]."""
        z, _ = _standardize(x, loc, scale)
        return uf.clip(z, 0.0, 1.0)

    @staticmethod
    def ppf(q: ArrayLike, loc: ArrayLike = 0, scale: ArrayLike = 1) -> Array:
        """``loc + q scale`` for ``q`` in [0, 1], nan outside."""
        q, loc, scale = _floats(q, loc, scale)
        return _outside(uf.logical_and(q >= 0, q <= 1), q * scale + loc, np.nan)

    pdf = staticmethod(_pdf(logpdf))


class t:  # noqa: N801
    """Student's t distribution with ``df`` degrees of freedom."""

    @staticmethod
    def logpdf(x: ArrayLike, df: ArrayLike, loc: ArrayLike = 0, scale: ArrayLike = 1) -> Array:
        """``log Gamma((df+1)/2) - log Gamma(df/2) - log(sqrt(df pi) scale)
        - (df+1)/2 log(1 + z**2/df)``."""
        x, df, loc, scale = _floats(x, df, loc, scale)
        z = (x - loc) / scale
        half = (df + 1.0) * 0.5
        norm_const = sp.gammaln(half) - sp.gammaln(df * 0.5) - uf.log(df * math.pi) * 0.5
        return norm_const - uf.log(scale) - half * uf.log1p(z * z / df)

    pdf = staticmethod(_pdf(logpdf))


class gamma:  # noqa: N801
    """The gamma distribution with shape ``a``, starting at ``loc``, scaled by ``scale``."""

    @staticmethod
    def logpdf(x: ArrayLike, a: ArrayLike, loc: ArrayLike = 0, scale: ArrayLike = 1) -> Array:
        """``(a-1) log z - z - log Gamma(a) - log(scale)``, ``-inf`` below ``loc``."""
        x, a, loc, scale = _floats(x, a, loc, scale)
        z = (x - loc) / scale
        value = sp.xlogy(a - 1.0, z) - z - sp.gammaln(a) - uf.log(scale)
        return _outside(z >= 0, value, -np.inf)

    @staticmethod
    def cdf(x: ArrayLike, a: ArrayLike, loc: ArrayLike = 0, scale: ArrayLike = 1) -> Array:
        """The regularised lower incomplete gamma ``P(a, z)`` (0 below ``loc``)."""
        x, a, loc, scale = _floats(x, a, loc, scale)
        return sp.gammainc(a, uf.maximum((x - loc) / scale, 0.0))

    @staticmethod
    def sf(x: ArrayLike, a: ArrayLike, loc: ArrayLike = 0, scale: ArrayLike = 1) -> Array:
        """``Q(a, z) = 1 - P(a, z)``, accurate in the upper tail."""
        x, a, loc, scale = _floats(x, a, loc, scale)
        return sp.gammaincc(a, uf.maximum((x - loc) / scale, 0.0))

    @staticmethod
    def logcdf(x: ArrayLike, a: ArrayLike, loc: ArrayLike = 0, scale: ArrayLike = 1) -> Array:
        """log of ``cdf``."""
        return uf.log(gamma.cdf(x, a, loc, scale))

    @staticmethod
    def logsf(x: ArrayLike, a: ArrayLike, loc: ArrayLike = 0, scale: ArrayLike = 1) -> Array:
        """log of ``sf``."""
        return uf.log(gamma.sf(x, a, loc, scale))

    pdf = staticmethod(_pdf(logpdf))


class beta:  # noqa: N801
    """The beta distribution with shapes ``a``, ``b`` on ``[loc, loc + scale]``."""

    @staticmethod
    def logpdf(x: ArrayLike, a: ArrayLike, b: ArrayLike, loc: ArrayLike = 0,
               scale: ArrayLike = 1) -> Array:  # fmt: skip
        """``(a-1) log z + (b-1) log(1-z) - log B(a, b) - log(scale)``, ``-inf`` outside."""
        x, a, b, loc, scale = _floats(x, a, b, loc, scale)
        z = (x - loc) / scale
        value = sp.xlogy(a - 1.0, z) + sp.xlog1py(b - 1.0, -z) - sp.betaln(a, b) - uf.log(scale)
        return _outside(uf.logical_and(z >= 0, z <= 1), value, -np.inf)

    @staticmethod
    def cdf(x: ArrayLike, a: ArrayLike, b: ArrayLike, loc: ArrayLike = 0,
            scale: ArrayLike = 1) -> Array:  # fmt: skip
        """The regularised incomplete beta ``I_z(a, b)``."""
        x, a, b, loc, scale = _floats(x, a, b, loc, scale)
        return sp.betainc(a, b, uf.clip((x - loc) / scale, 0.0, 1.0))

    @staticmethod
    def sf(x: ArrayLike, a: ArrayLike, b: ArrayLike, loc: ArrayLike = 0,
           scale: ArrayLike = 1) -> Array:  # fmt: skip
        """``I_{1-z}(b, a) = 1 - I_z(a, b)``, accurate in the upper tail."""
        x, a, b, loc, scale = _floats(x, a, b, loc, scale)
        return sp.betainc(b, a, uf.clip(1.0 - (x - loc) / scale, 0.0, 1.0))

    @staticmethod
    def logcdf(x: ArrayLike, a: ArrayLike, b: ArrayLike, loc: ArrayLike = 0,
               scale: ArrayLike = 1) -> Array:  # fmt: skip
        """log of ``cdf``."""
        return uf.log(beta.cdf(x, a, b, loc, scale))

    @staticmethod
    def logsf(x: ArrayLike, a: ArrayLike, b: ArrayLike, loc: ArrayLike = 0,
              scale: ArrayLike = 1) -> Array:  # fmt: skip
        """log of ``sf``."""
        return uf.log(beta.sf(x, a, b, loc, scale))

    pdf = staticmethod(_pdf(logpdf))


def _is_integer(k: Array) -> Array:
    return uf.equal(k, uf.floor(k))


class poisson:  # noqa: N801
    """The Poisson distribution with mean ``mu``, shifted by ``loc``."""

    @staticmethod
    def logpmf(k: ArrayLike, mu: ArrayLike, loc: ArrayLike = 0) -> Array:
        """``k log(mu) - mu - log(k!)`` at non-negative integers ``k``, ``-inf`` elsewhere."""
        k, mu, loc = _floats(k, mu, loc)
        k = k - loc
        value = sp.xlogy(k, mu) - sp.gammaln(k + 1.0) - mu
        return _outside(uf.logical_and(k >= 0, _is_integer(k)), value, -np.inf)

    @staticmethod
    def cdf(k: ArrayLike, mu: ArrayLike, loc: ArrayLike = 0) -> Array:
        """P(K <= k) ``= Q(floor(k) + 1, mu)`` (0 below ``loc``)."""
        k, mu, loc = _floats(k, mu, loc)
        k = k - loc
        value = sp.gammaincc(uf.floor(uf.maximum(k, 0.0)) + 1.0, mu)
        return _outside(k >= 0, value, 0.0)

    @staticmethod
    def entropy(mu: ArrayLike, loc: ArrayLike = 0) -> Array:
        """``-sum_k pmf(k) log pmf(k)``: summed over k < 500 up to ``mu = 150``, the
        asymptotic series ``log(2 pi e mu) / 2 - 1/(12 mu) - 1/(24 mu^2) - 19/(360 mu^3)``
        beyond (both accurate to ~1e-9 there)."""
        del loc  # a shift does not change the entropy
        (mu,) = _floats(mu)
        k = arange(500, dtype=mu.dtype)
        small = uf.minimum(mu, 150.0)
        logp = poisson.logpmf(k, expand_dims(small, -1))
        exact = -_sum(uf.exp(logp) * logp, axis=-1)
        inv = 1.0 / mu
        series = (uf.log(mu * (2 * math.pi * math.e)) * 0.5
                  - inv * (1.0 / 12 + inv * (1.0 / 24 + inv * (19.0 / 360))))  # fmt: skip
        return uf.where(mu <= 150.0, exact, series)

    pmf = staticmethod(_pdf(logpmf))


class bernoulli:  # noqa: N801
    """The Bernoulli distribution: 1 with probability ``p``, else 0."""

    @staticmethod
    def logpmf(k: ArrayLike, p: ArrayLike, loc: ArrayLike = 0) -> Array:
        """``log(p)`` at 1, ``log(1 - p)`` at 0, ``-inf`` elsewhere."""
        k, p, loc = _floats(k, p, loc)
        k = k - loc
        value = sp.xlogy(k, p) + sp.xlog1py(1.0 - k, -p)
        return _outside(uf.logical_or(k == 0, k == 1), value, -np.inf)

    @staticmethod
    def cdf(k: ArrayLike, p: ArrayLike) -> Array:
        """0 below 0, ``1 - p`` on [0, 1), 1 from 1 on."""
        k, p = _floats(k, p)
        return uf.where(k < 0, 0.0, uf.where(k < 1, 1.0 - p, 1.0))

    @staticmethod
    def ppf(q: ArrayLike, p: ArrayLike) -> Array:
        """The smallest k with ``cdf(k) >= q``: 0 up to ``q = 1 - p``, then 1 (nan outside
        [0, 1])."""
        q, p = _floats(q, p)
        value = uf.where(q <= 1.0 - p, 0.0, 1.0)
        return _outside(uf.logical_and(q >= 0, q <= 1), value, np.nan)

    pmf = staticmethod(_pdf(logpmf))


class multivariate_normal:  # noqa: N801
    """The multivariate normal distribution with mean vector ``mean`` and covariance ``cov``."""

    @staticmethod
    def logpdf(x: ArrayLike, mean: ArrayLike, cov: ArrayLike,
               allow_singular: None = None) -> Array:  # fmt: skip
        """The log density at points ``x`` (``[..., n]``), through the Cholesky factor of
        ``cov`` (``[n, n]``, or batched like ``x``); a scalar ``mean`` means one dimension
        with variance ``cov``. ``allow_singular`` must be None (JAX's rule)."""
        if allow_singular is not None:
            raise NotImplementedError("multivariate_normal.logpdf: allow_singular is not "
                                      "supported (as in JAX); pass None")  # fmt: skip
        x, mean, cov = _floats(x, mean, cov)
        if mean.ndim == 0:
            diff = x - mean
            return diff * diff / cov * -0.5 - (uf.log(cov) * 0.5 + _LOG_SQRT_2PI)
        n = mean.shape[-1]
        if cov.ndim < 2 or cov.shape[-2:] != (n, n):
            raise ShapeError(
                f"multivariate_normal.logpdf: mean {mean.shape} needs cov of shape (..., {n}, "
                f"{n}), got cov {cov.shape}"
            )
        factor = _nla.cholesky(cov)
        diff = expand_dims(x - mean, -1)
        whitened = solve_triangular(factor, diff, lower=True)[..., 0]
        log_det = _sum(uf.log(diagonal(factor, axis1=-2, axis2=-1)), axis=-1)
        return _sum(whitened * whitened, axis=-1) * -0.5 - log_det - n * _LOG_SQRT_2PI

    pdf = staticmethod(_pdf(logpdf))


class dirichlet:  # noqa: N801
    """The Dirichlet distribution with concentrations ``alpha`` (``[K]``)."""

    @staticmethod
    def logpdf(x: ArrayLike, alpha: ArrayLike) -> Array:
        """The log density at ``x``, whose first axis holds the K components (SciPy's layout:
        ``[K]`` or ``[K, N]``); K - 1 components imply the last. ``-inf`` off the simplex."""
        x, alpha = _floats(x, alpha)
        if alpha.ndim != 1:
            raise ShapeError(f"dirichlet.logpdf: alpha must be one vector [K], got {alpha.shape}")
        k = alpha.shape[0]
        if x.ndim == 0 or x.shape[0] not in (k, k - 1):
            raise ShapeError(
                f"dirichlet.logpdf: x {x.shape} must hold K={k} (or K-1) components along its "
                "first axis"
            )
        if x.shape[0] == k - 1:
            x = concatenate([x, 1.0 - _sum(x, axis=0, keepdims=True)], axis=0)
        a = alpha.reshape((k,) + (1,) * (x.ndim - 1))
        log_norm = _sum(sp.gammaln(alpha)) - sp.gammaln(_sum(alpha))
        value = _sum(sp.xlogy(a - 1.0, x), axis=0) - log_norm
        on_simplex = uf.logical_and(_all(x >= 0, axis=0),
                                    uf.absolute(_sum(x, axis=0) - 1.0) < 1e-6)  # fmt: skip
        return _outside(on_simplex, value, -np.inf)

    pdf = staticmethod(_pdf(logpdf))
