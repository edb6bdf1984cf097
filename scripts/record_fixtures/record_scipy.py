"""Record SciPy's values of special functions and distributions (float64) for
tests/test_scipy_special.py and tests/test_scipy_stats.py.

Run once with the scratch environment (it has scipy):

    /work/scratch/bin/python scripts/record_fixtures/record_scipy.py

Writes tests/fixtures/scipy/scipy_x64.npz. Each case ``MODULE.FUNC.LABEL`` (``special.gammaln.
grid``, ``stats.norm.logpdf.scaled``) stores its positional inputs as ``CASE|in0``, ``CASE|in1``,
... and SciPy's result as ``CASE|out``; the tests call ``vfunc.scipy.MODULE...FUNC(*inputs)``.
Points sit inside each function's domain (poles and branch cuts are separate named checks).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.special as ss
import scipy.stats as st

rng = np.random.default_rng(2026)
CASES: dict[str, tuple] = {}


def case(name: str, fn, *args) -> None:
    args = tuple(np.asarray(a, np.float64) for a in args)
    CASES[name] = (args, np.asarray(fn(*args), np.float64))


def _mp_betaln(a: float, b: float) -> float:
    import mpmath

    with mpmath.workdps(40):
        return float(mpmath.log(mpmath.beta(mpmath.mpf(a), mpmath.mpf(b))))


def not_integer(x):
    return x[np.abs(x - np.round(x)) > 1e-3]


# -- special ---------------------------------------------------------------------------------
wide = np.concatenate([np.linspace(-8, 8, 161), rng.uniform(-30, 30, 60)])
case("special.erf.grid", ss.erf, wide)
case("special.erfc.grid", ss.erfc, np.concatenate([wide, np.linspace(8, 26, 19)]))
case(
    "special.erfinv.grid",
    ss.erfinv,
    np.concatenate([np.linspace(-0.999, 0.999, 81), 1 - np.geomspace(1e-15, 1e-3, 10)]),
)
positive = np.concatenate(
    [np.geomspace(1e-8, 1e-1, 15), np.linspace(0.1, 30, 120), np.geomspace(30, 1e10, 20)]
)
negative = not_integer(np.linspace(-12.3, -0.05, 97))
case("special.gammaln.grid", ss.gammaln, np.concatenate([positive, negative]))
case("special.gamma.grid", ss.gamma, np.concatenate([np.linspace(0.05, 30, 60), negative]))
case(
    "special.digamma.grid",
    ss.digamma,
    np.concatenate([positive, negative, np.linspace(1.4, 1.5, 11)]),
)
bessel = np.concatenate(
    [
        np.linspace(-40, 40, 161),
        np.geomspace(40, 1e6, 20),
        -np.geomspace(40, 1e6, 20),
        np.geomspace(1e-10, 1, 10),
    ]
)
case("special.i0e.grid", ss.i0e, bessel)
case("special.i1e.grid", ss.i1e, bessel)
case("special.i0.grid", ss.i0, np.linspace(-50, 50, 101))
case("special.i1.grid", ss.i1, np.linspace(-50, 50, 101))
normal_x = np.concatenate([np.linspace(-40, 10, 251), rng.normal(0, 3, 40)])
case("special.ndtr.grid", ss.ndtr, normal_x)
case("special.log_ndtr.grid", ss.log_ndtr, np.concatenate([normal_x, np.linspace(10, 30, 5)]))
probs = np.concatenate(
    [
        np.geomspace(1e-300, 1e-3, 30),
        np.linspace(0.001, 0.999, 99),
        1 - np.geomspace(1e-15, 1e-3, 10),
        0.5 + np.geomspace(1e-15, 1e-2, 8),
    ]
)
case("special.ndtri.grid", ss.ndtri, probs)
case("special.expit.grid", ss.expit, np.linspace(-50, 50, 101))
case("special.logit.grid", ss.logit, np.linspace(0.001, 0.999, 99))
case("special.entr.grid", ss.entr, np.concatenate([[0.0], np.geomspace(1e-10, 50, 40)]))
a = rng.uniform(0.1, 60, 80)
b = rng.uniform(0.1, 60, 80)
case("special.betaln.grid", ss.betaln, a, b)
# far out SciPy's betaln loses digits to cancelling log-gammas (2e-10 relative): the reference
# there is mpmath's at 40 digits (mpmath comes with the scratch environment's sympy)
big_a = np.concatenate([10 ** rng.uniform(-1, 12, 60), rng.uniform(8, 40, 20)])
big_b = np.concatenate([10 ** rng.uniform(-1, 12, 60), 10 ** rng.uniform(1, 15, 20)])
case("special.betaln.large", np.vectorize(_mp_betaln), big_a, big_b)
case("special.xlogy.grid", ss.xlogy, rng.uniform(-3, 3, 40), rng.uniform(0.01, 10, 40))
case("special.xlog1py.grid", ss.xlog1py, rng.uniform(-3, 3, 40), rng.uniform(-0.99, 10, 40))
s = np.concatenate([rng.uniform(1.05, 40, 60), np.arange(2, 12.0)])
q = np.concatenate([rng.uniform(0.05, 30, 60), rng.uniform(0.5, 3, 10)])
case("special.zeta.grid", ss.zeta, s, q)
n = np.repeat(np.arange(0, 7.0), 12)
case("special.polygamma.grid", ss.polygamma, n, np.tile(np.linspace(0.2, 25, 12), 7))
case(
    "special.multigammaln.d3", lambda x, d: ss.multigammaln(x, int(d)), np.linspace(1.2, 30, 40), 3
)
ga = rng.uniform(0.1, 40, 100)
case("special.gammainc.grid", ss.gammainc, ga, ga * rng.uniform(0.05, 3, 100))
case("special.gammaincc.grid", ss.gammaincc, ga, ga * rng.uniform(0.05, 3, 100))
case("special.betainc.grid", ss.betainc, a, b, rng.uniform(0.001, 0.999, 80))

# -- the primitive battery's rows (tests/test_primitives.py): float32-exact points ------------
BATTERY = {
    "lgamma": (ss.gammaln, [[0.5, 1.25, 3.0, 7.5, -1.5, 12.0]]),
    "digamma": (ss.digamma, [[0.5, 1.25, 3.0, 7.5, -1.5, 12.0]]),
    "erfc": (ss.erfc, [[-1.5, 0.25, 1.0, 3.5, 6.0, 0.0]]),
    "i0e": (ss.i0e, [[-3.0, 0.5, 0.0, 2.25, 30.0, 100.0]]),
    "i1e": (ss.i1e, [[-3.0, 0.5, 0.0, 2.25, 30.0, 100.0]]),
    "ndtri": (ss.ndtri, [[0.015625, 0.25, 0.5, 0.75, 0.9375, 0.125]]),
    "log_ndtr": (ss.log_ndtr, [[-30.0, -3.5, 0.0, 1.5, 7.0, -0.5]]),
    "zeta": (ss.zeta, [[2.0, 3.5, 2.5, 6.0, 1.5, 4.0], [0.5, 1.0, 3.25, 2.0, 7.0, 0.75]]),
    "igamma": (ss.gammainc, [[0.5, 2.0, 3.5, 9.0, 1.0, 25.0], [0.25, 2.5, 1.0, 11.0, 0.75, 20.0]]),
    "igammac": (
        ss.gammaincc,
        [[0.5, 2.0, 3.5, 9.0, 1.0, 25.0], [0.25, 2.5, 1.0, 11.0, 0.75, 20.0]],
    ),
    "betainc": (
        ss.betainc,
        [
            [0.5, 2.0, 3.5, 9.0, 1.0, 25.0],
            [1.5, 2.5, 0.75, 4.0, 3.0, 10.0],
            [0.25, 0.5, 0.875, 0.625, 0.125, 0.75],
        ],
    ),
}
for prim, (fn, points) in BATTERY.items():
    case(f"battery.{prim}.vector", fn, *points)
    if len(points) > 1:  # broadcasting: the first operand down a column, the rest along a row
        column = np.array(points[0][:2])[:, None]
        case(f"battery.{prim}.outer", fn, column, *(np.array(p[:3])[None, :] for p in points[1:]))

# -- stats -----------------------------------------------------------------------------------
x = np.linspace(-6, 6, 25)
loc, scale = 0.7, 1.9
u = np.linspace(0.01, 0.99, 25)
# the methods jax.scipy.stats defines for each location-scale family
LOCATION_SCALE = {
    "norm": ("logpdf", "pdf", "cdf", "logcdf", "sf", "logsf", "ppf", "isf"),
    "cauchy": ("logpdf", "pdf", "cdf", "logcdf", "sf", "logsf", "ppf", "isf"),
    "logistic": ("logpdf", "pdf", "cdf", "sf", "ppf", "isf"),
    "laplace": ("logpdf", "pdf", "cdf"),
}
for name, methods in LOCATION_SCALE.items():
    dist = getattr(st, name)
    for method in methods:
        case(
            f"stats.{name}.{method}.scaled",
            getattr(dist, method),
            u if method in ("ppf", "isf") else x,
            loc,
            scale,
        )
xp = np.linspace(0.05, 12, 25)
for method in ("logpdf", "pdf", "cdf", "logcdf", "sf", "logsf"):
    case(f"stats.expon.{method}.scaled", getattr(st.expon, method), xp, 0.1, 2.5)
    case(f"stats.gamma.{method}.scaled", getattr(st.gamma, method), xp, 2.3, 0.1, 1.7)
    case(f"stats.beta.{method}.unit", getattr(st.beta, method), u, 2.5, 0.8)
    case(f"stats.beta.{method}.scaled", getattr(st.beta, method), xp, 1.7, 3.2, 0.0, 12.5)
case("stats.expon.ppf.scaled", st.expon.ppf, u, 0.1, 2.5)
for method in ("logpdf", "pdf", "cdf", "ppf"):
    case(
        f"stats.uniform.{method}.scaled",
        getattr(st.uniform, method),
        u if method == "ppf" else np.linspace(-1, 4, 26),
        -0.5,
        3.0,
    )
for method in ("logpdf", "pdf"):
    case(f"stats.t.{method}.scaled", getattr(st.t, method), x, 3.5, loc, scale)
k = np.arange(0, 15.0)
for method in ("logpmf", "pmf", "cdf"):
    case(f"stats.poisson.{method}.mu", getattr(st.poisson, method), k, 4.2)
case("stats.poisson.entropy.mu", st.poisson.entropy, np.array([0.5, 1.0, 4.2, 30.0]))
for method in ("logpmf", "pmf", "cdf"):
    case(
        f"stats.bernoulli.{method}.p",
        getattr(st.bernoulli, method),
        np.array([0.0, 1.0, 0.0, 1.0, 2.0]),
        np.array([0.3, 0.3, 0.8, 0.8, 0.5]),
    )
case("stats.bernoulli.ppf.p", st.bernoulli.ppf, u, 0.35)

mean = rng.standard_normal(3)
half = rng.standard_normal((3, 3))
cov = half @ half.T + 0.5 * np.eye(3)
points = rng.standard_normal((6, 3))
for method in ("logpdf", "pdf"):
    case(
        f"stats.multivariate_normal.{method}.batch",
        getattr(st.multivariate_normal, method),
        points,
        mean,
        cov,
    )
alpha = np.array([1.5, 2.0, 0.7, 3.1])
simplex = rng.dirichlet(alpha, 5)  # (5, 4)
for method in ("logpdf", "pdf"):
    # SciPy puts the simplex axis first: x is (K, N)
    case(f"stats.dirichlet.{method}.batch", getattr(st.dirichlet, method), simplex.T, alpha)

out = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "scipy" / "scipy_x64.npz"
out.parent.mkdir(parents=True, exist_ok=True)
arrays = {}
for name, (args, result) in CASES.items():
    for i, arg in enumerate(args):
        arrays[f"{name}|in{i}"] = arg
    arrays[f"{name}|out"] = result
np.savez_compressed(out, **arrays)
print(f"wrote {len(CASES)} cases to {out}")
