"""Scalar float64 kernels of the special-function primitives, compiled by numba.

Each function is written here from its defining series, recurrence or asymptotic expansion,
to float64 accuracy; SciPy is not a dependency (the tests compare with values SciPy recorded
once). ``vectorized(name)`` returns the numba ufunc of one kernel, compiled on first use so that
importing vfunc stays fast; narrower floats are computed in float64 and rounded once.
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np

_SQRT2 = math.sqrt(2.0)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_EPS = 1e-17

# Bernoulli numbers B_2 .. B_24 (numerator, denominator): the coefficients of the
# Euler-Maclaurin and Stirling expansions (here and in vfunc.scipy.special.betaln).
BERNOULLI = ((1, 6), (-1, 30), (1, 42), (-1, 30), (5, 66), (-691, 2730), (7, 6), (-3617, 510),
              (43867, 798), (-174611, 330), (854513, 138), (-236364091, 2730))  # fmt: skip
# B_2j / (2j)!, for zeta's Euler-Maclaurin tail
_B_OVER_FACT = np.array([n / d / math.factorial(2 * j) for j, (n, d) in enumerate(BERNOULLI, 1)])
# B_2j / (2j), for digamma's asymptotic series
_B_OVER_2J = np.array([n / d / (2 * j) for j, (n, d) in enumerate(BERNOULLI, 1)])


@numba.njit(cache=True)
def _pi_over_tan_pi(x):
    # pi / tan(pi x) with the argument reduced exactly first: tan(pi * x) for large |x| would
    # lose every digit to the rounding of pi * x.
    r = x - np.round(x)
    return math.pi / math.tan(math.pi * r)


@numba.njit(cache=True)
def digamma(x):
    """psi(x) = d/dx log Gamma(x): recurrence up to x >= 10, then the asymptotic series."""
    if math.isnan(x) or x == -math.inf:
        return math.nan
    if x == math.inf:
        return math.inf
    if x <= 0.0 and x == math.floor(x):
        return math.nan if x < 0.0 else -math.copysign(math.inf, x)
    total = 0.0
    if x < 0.0:
        # reflection: psi(x) = psi(1 - x) - pi / tan(pi x)
        total = -_pi_over_tan_pi(x)
        x = 1.0 - x
    while x < 10.0:
        total -= 1.0 / x
        x += 1.0
    inv2 = 1.0 / (x * x)
    series = 0.0
    power = inv2
    for k in range(9):
        series += _B_OVER_2J[k] * power
        power *= inv2
    return total + math.log(x) - 0.5 / x - series


@numba.njit(cache=True)
def zeta(s, q):
    """Hurwitz zeta sum_k (q + k)**-s: direct terms until q + k >= 10 + s, then Euler-Maclaurin.

    As SciPy: s == 1 is a pole (inf), s < 1 is nan; q a non-positive integer is a pole (inf) and
    a negative non-integer q needs an integer s (nan otherwise).
    """
    if math.isnan(s) or math.isnan(q):
        return math.nan
    if s == 1.0:
        return math.inf
    if s < 1.0:
        return math.nan
    if q <= 0.0:
        if q == math.floor(q):
            return math.inf
        if s != math.floor(s):
            return math.nan
    if q == math.inf:
        return 0.0
    total = 0.0
    a = q
    # the tail's terms shrink like ((s + 2j) / (2 pi a))**2: start it far enough out
    start = 10.0 + s
    while a < start:
        total += a**-s
        a += 1.0
    total += a ** (1.0 - s) / (s - 1.0) + 0.5 * a**-s
    rising = s  # s (s + 1) ... (s + 2j - 2)
    power = a ** (-s - 1.0)  # a ** (-s - 2j + 1)
    for j in range(12):
        term = _B_OVER_FACT[j] * rising * power
        total += term
        if abs(term) < _EPS * abs(total):
            break
        rising *= (s + 2 * j + 1.0) * (s + 2 * j + 2.0)
        power /= a * a
    return total


@numba.njit(cache=True)
def _bessel_ie(nu, x):
    """exp(-|x|) I_nu(|x|) for nu in {0, 1}: the power series (positive terms, no cancellation)
    up to |x| = 25, the asymptotic expansion beyond (its smallest term is ~exp(-2|x|))."""
    ax = abs(x)
    if ax <= 25.0:
        t = 0.25 * ax * ax
        term = 1.0 if nu == 0 else 0.5 * ax
        total = term
        k = 0.0
        while True:
            k += 1.0
            term *= t / (k * (k + nu))
            total += term
            if term <= _EPS * total:
                break
        return total * math.exp(-ax)
    if ax == math.inf:
        return 0.0
    mu = 4.0 * nu * nu
    term = 1.0
    total = 1.0
    for k in range(1, 40):
        odd = 2.0 * k - 1.0
        term *= -(mu - odd * odd) / (8.0 * k * ax)
        total += term
        if abs(term) < _EPS * abs(total):
            break
    return total / math.sqrt(2.0 * math.pi * ax)


@numba.njit(cache=True)
def i0e(x):
    """exp(-|x|) I0(x)."""
    if math.isnan(x):
        return math.nan
    return _bessel_ie(0, x)


@numba.njit(cache=True)
def i1e(x):
    """exp(-|x|) I1(x) (odd in x)."""
    if math.isnan(x):
        return math.nan
    return math.copysign(_bessel_ie(1, x), x)


@numba.njit(cache=True)
def _ndtr(x):
    return 0.5 * math.erfc(-x / _SQRT2)


@numba.njit(cache=True)
def _ndtri_lower(p):
    # p in (0, 0.5]: Hastings' rational guess (absolute error < 4.5e-4, Abramowitz and Stegun
    # 26.2.23), then Halley steps on ndtr(x) = p, whose residual erfc keeps relative accuracy in
    # the lower tail.
    t = math.sqrt(-2.0 * math.log(p))
    x = -(t - (2.515517 + 0.802853 * t + 0.010328 * t * t)
          / (1.0 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t * t * t))  # fmt: skip
    for _ in range(4):
        density = math.exp(-0.5 * x * x - _LOG_SQRT_2PI)
        if density == 0.0:
            break
        step = (_ndtr(x) - p) / density
        x -= step / (1.0 + 0.5 * x * step)
    return x


@numba.njit(cache=True)
def ndtri(p):
    """The standard normal quantile: ndtr(ndtri(p)) == p."""
    if math.isnan(p) or p < 0.0 or p > 1.0:
        return math.nan
    if p == 0.0:
        return -math.inf
    if p == 1.0:
        return math.inf
    if 0.25 < p < 0.75:
        # Near the median solve erf(x / sqrt2) = 2p - 1 instead (2p - 1 is exact here), so
        # that the result keeps relative accuracy as it approaches 0.
        q = 2.0 * p - 1.0
        if q == 0.0:
            return 0.0
        x = _ndtri_lower(p) if p <= 0.5 else -_ndtri_lower(1.0 - p)
        for _ in range(3):
            slope = math.sqrt(2.0 / math.pi) * math.exp(-0.5 * x * x)
            step = (math.erf(x / _SQRT2) - q) / slope
            x -= step / (1.0 + 0.5 * x * step)
        return x
    # 1 - p is exact for p >= 0.5, and the upper tail is the mirror image of the lower
    return _ndtri_lower(p) if p <= 0.5 else -_ndtri_lower(1.0 - p)


@numba.njit(cache=True)
def log_ndtr(x):
    """log of the standard normal CDF, accurate in both tails."""
    if x > 0.0:
        return math.log1p(-0.5 * math.erfc(x / _SQRT2))
    if x > -20.0:
        return math.log(0.5 * math.erfc(-x / _SQRT2))
    # log Phi(x) = -x^2/2 - log(-x) - log sqrt(2 pi) + log(1 - 1/x^2 + 3/x^4 - 15/x^6 ...)
    inv2 = 1.0 / (x * x)
    term = 1.0
    total = 1.0
    for k in range(1, 20):
        term *= -(2.0 * k - 1.0) * inv2
        total += term
        if abs(term) < _EPS:
            break
    return -0.5 * x * x - math.log(-x) - _LOG_SQRT_2PI + math.log(total)


@numba.njit(cache=True)
def gamma_p_series(a, x):
    """Regularised lower incomplete gamma P(a, x) by its power series (for x < a + 1)."""
    term = 1.0 / a
    total = term
    n = a
    for _ in range(100000):
        n += 1.0
        term *= x / n
        total += term
        if abs(term) < abs(total) * 1e-17:
            break
    return total * np.exp(-x + a * np.log(x) - math.lgamma(a))


@numba.njit(cache=True)
def gamma_q_fraction(a, x):
    """Regularised upper incomplete gamma Q(a, x) by Legendre's continued fraction (x >= a + 1)."""
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 100000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-16:
            break
    return np.exp(-x + a * np.log(x) - math.lgamma(a)) * h


@numba.njit(cache=True)
def igamma(a, x):
    """The regularised lower incomplete gamma P(a, x)."""
    if math.isnan(a) or math.isnan(x) or a <= 0.0 or x < 0.0:
        return math.nan
    if x == 0.0:
        return 0.0
    if x == math.inf:
        return 1.0
    if x < a + 1.0:
        return gamma_p_series(a, x)
    return 1.0 - gamma_q_fraction(a, x)


@numba.njit(cache=True)
def igammac(a, x):
    """The regularised upper incomplete gamma Q(a, x) = 1 - P(a, x), accurate where P ~ 1."""
    if math.isnan(a) or math.isnan(x) or a <= 0.0 or x < 0.0:
        return math.nan
    if x == 0.0:
        return 1.0
    if x == math.inf:
        return 0.0
    if x < a + 1.0:
        return 1.0 - gamma_p_series(a, x)
    return gamma_q_fraction(a, x)


@numba.njit(cache=True)
def _betainc_fraction(a, b, x):
    # The continued fraction of I_x(a, b) (converges fast for x < (a + 1) / (a + b + 2)),
    # evaluated by the modified Lentz method.
    tiny = 1e-300
    c = 1.0
    d = 1.0 - (a + b) * x / (a + 1.0)
    d = tiny if abs(d) < tiny else d
    d = 1.0 / d
    h = d
    for m in range(1, 10000):
        for even in (True, False):
            if even:
                coef = m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m))
            else:
                coef = -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0))
            d = 1.0 + coef * d
            d = tiny if abs(d) < tiny else d
            c = 1.0 + coef / c
            c = tiny if abs(c) < tiny else c
            d = 1.0 / d
            h *= d * c
        if abs(d * c - 1.0) < 1e-16:
            break
    log_front = (a * math.log(x) + b * math.log1p(-x) - math.lgamma(a) - math.lgamma(b)
                 + math.lgamma(a + b))  # fmt: skip
    return math.exp(log_front) * h / a


@numba.njit(cache=True)
def betainc(a, b, x):
    """The regularised incomplete beta I_x(a, b)."""
    if math.isnan(a) or math.isnan(b) or math.isnan(x) or a <= 0.0 or b <= 0.0:
        return math.nan
    if x < 0.0 or x > 1.0:
        return math.nan
    if x == 0.0 or x == 1.0:
        return x
    if x < (a + 1.0) / (a + b + 2.0):
        return _betainc_fraction(a, b, x)
    return 1.0 - _betainc_fraction(b, a, 1.0 - x)


@numba.njit(cache=True)
def lgamma(x):
    """log |Gamma(x)| (the C library's lgamma)."""
    return math.lgamma(x)


@numba.njit(cache=True)
def erfc(x):
    """1 - erf(x) without the cancellation for large x (the C library's erfc)."""
    return math.erfc(x)


_KERNELS = {f.__name__: f for f in (digamma, zeta, i0e, i1e, ndtri, log_ndtr, igamma, igammac,
                                    betainc, lgamma, erfc)}  # fmt: skip


@functools.cache
def vectorized(name: str, nargs: int):
    """The numba ufunc of kernel ``name`` on float64 (compiled on first use)."""
    kernel = _KERNELS[name]
    signature = "float64(" + ", ".join(["float64"] * nargs) + ")"
    if nargs == 1:
        return numba.vectorize([signature])(lambda x: kernel(x))
    if nargs == 2:
        return numba.vectorize([signature])(lambda x, y: kernel(x, y))
    return numba.vectorize([signature])(lambda x, y, z: kernel(x, y, z))


def apply(name: str, *args: np.ndarray) -> np.ndarray:
    """Kernel ``name`` elementwise on equal-dtype float arrays, returned in their dtype."""
    dtype = args[0].dtype
    wide = [np.asarray(a, np.float64) for a in args]
    return np.asarray(vectorized(name, len(args))(*wide)).astype(dtype, copy=False)
