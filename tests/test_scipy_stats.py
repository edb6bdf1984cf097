"""``vfunc.scipy.stats`` against SciPy's values (recorded once by
scripts/record_fixtures/record_scipy.py), its derivatives against float64 finite differences,
and its methods under jit and vmap."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import vfunc
import vfunc.numpy as vnp
from vfunc.errors import ShapeError
from vfunc.scipy import stats
from vfunc.testing import check_grads

FIXTURE = Path(__file__).parent / "fixtures" / "scipy" / "scipy_x64.npz"

# jax.scipy.stats' methods, per distribution (JAX 0.10)
JAX_METHODS = {
    "norm": ["cdf", "isf", "logcdf", "logpdf", "logsf", "pdf", "ppf", "sf"],
    "multivariate_normal": ["logpdf", "pdf"],
    "bernoulli": ["cdf", "logpmf", "pmf", "ppf"],
    "beta": ["cdf", "logcdf", "logpdf", "logsf", "pdf", "sf"],
    "gamma": ["cdf", "logcdf", "logpdf", "logsf", "pdf", "sf"],
    "poisson": ["cdf", "entropy", "logpmf", "pmf"],
    "t": ["logpdf", "pdf"],
    "uniform": ["cdf", "logpdf", "pdf", "ppf"],
    "laplace": ["cdf", "logpdf", "pdf"],
    "logistic": ["cdf", "isf", "logpdf", "pdf", "ppf", "sf"],
    "dirichlet": ["logpdf", "pdf"],
    "cauchy": ["cdf", "isf", "logcdf", "logpdf", "logsf", "pdf", "ppf", "sf"],
    "expon": ["cdf", "logcdf", "logpdf", "logsf", "pdf", "ppf", "sf"],
}


def _record() -> dict[str, tuple[list[np.ndarray], np.ndarray]]:
    with np.load(FIXTURE) as data:
        names = sorted({k.split("|")[0] for k in data.files if k.startswith("stats.")})
        return {
            n: (
                [data[f"{n}|in{i}"] for i in range(6) if f"{n}|in{i}" in data.files],
                data[f"{n}|out"],
            )
            for n in names
        }


RECORD = _record()


def _method(name: str):
    _, dist, method, _ = name.split(".")
    return getattr(getattr(stats, dist), method)


def test_every_jax_method_is_here_and_recorded():
    for dist, methods in JAX_METHODS.items():
        for method in methods:
            assert callable(getattr(getattr(stats, dist), method, None)), f"{dist}.{method}"
            assert any(n.startswith(f"stats.{dist}.{method}.") for n in RECORD), (
                f"no SciPy record for {dist}.{method}"
            )


@pytest.mark.parametrize("name", sorted(RECORD))
def test_matches_scipy_in_float64(name, x64):
    args, expected = RECORD[name]
    got = _method(name)(*args)
    assert got.dtype == np.float64
    # log(sf) and log(cdf) lose relative accuracy where the probability is ~1 (as in JAX)
    rtol = 1e-10 if name.split(".")[2] in ("logsf", "logcdf") else 1e-12
    np.testing.assert_allclose(np.asarray(got), expected, rtol=rtol, atol=1e-300)


def test_float32_by_default_and_integers_promote():
    out = stats.norm.logpdf(vnp.array([0, 1, 2]))
    assert out.dtype == vnp.float32
    np.testing.assert_allclose(np.asarray(out), -0.5 * np.arange(3.0) ** 2 - 0.5 * math.log(
        2 * math.pi), rtol=1e-6)  # fmt: skip


def test_outside_the_support(x64):
    assert float(stats.expon.logpdf(-1.0)) == -np.inf
    assert float(stats.gamma.logpdf(-0.5, 2.0)) == -np.inf
    assert float(stats.beta.logpdf(1.5, 2.0, 2.0)) == -np.inf
    assert float(stats.uniform.logpdf(2.0)) == -np.inf
    assert float(stats.poisson.logpmf(2.5, 3.0)) == -np.inf
    assert float(stats.poisson.logpmf(-1.0, 3.0)) == -np.inf
    assert float(stats.poisson.cdf(-1.0, 3.0)) == 0.0
    assert float(stats.bernoulli.logpmf(2.0, 0.3)) == -np.inf
    assert np.isnan(float(stats.uniform.ppf(1.5)))
    assert float(stats.dirichlet.logpdf(vnp.array([0.5, 0.6]), vnp.array([1.0, 2.0]))) == -np.inf


def test_tails_keep_their_accuracy(x64):
    # sf is not 1 - cdf: far in the upper tail it stays positive and accurate
    assert float(stats.norm.sf(30.0)) == pytest.approx(4.906713927147908e-198, rel=1e-12)
    assert float(stats.norm.logcdf(-40.0)) == pytest.approx(-804.6084420137538, rel=1e-12)
    assert float(stats.gamma.sf(60.0, 2.0)) == pytest.approx(61 * math.exp(-60.0), rel=1e-12)


def test_dirichlet_accepts_k_minus_one_components(x64):
    alpha = vnp.array([1.5, 2.0, 3.0])
    full = stats.dirichlet.logpdf(vnp.array([0.2, 0.3, 0.5]), alpha)
    short = stats.dirichlet.logpdf(vnp.array([0.2, 0.3]), alpha)
    assert float(full) == pytest.approx(float(short), rel=1e-14)


def test_multivariate_normal_with_scalar_mean_is_the_normal(x64):
    x = vnp.array([0.3, -1.2])
    got = stats.multivariate_normal.logpdf(x, 0.5, 4.0)
    np.testing.assert_allclose(np.asarray(got), np.asarray(stats.norm.logpdf(x, 0.5, 2.0)))


def test_poisson_entropy_is_continuous_at_the_switch(x64):
    below, above = stats.poisson.entropy(vnp.array([150.0, 150.0 + 1e-9]))
    assert abs(float(below) - float(above)) < 1e-8


# ----------------------------------------------------------------------------------------------
# Derivatives and transforms

GRAD_CASES = [  # (dist.method, args); every float argument is differentiated
    ("norm.logpdf", (0.3, -0.5, 1.7)),
    ("norm.logcdf", (-3.0, 0.2, 0.8)),
    ("norm.ppf", (0.3, 1.0, 2.0)),
    ("norm.isf", (0.8, 1.0, 2.0)),
    ("cauchy.logpdf", (0.3, -0.5, 1.7)),
    ("cauchy.cdf", (0.3, -0.5, 1.7)),
    ("logistic.logpdf", (0.3, -0.5, 1.7)),
    ("logistic.ppf", (0.3, -0.5, 1.7)),
    ("laplace.logpdf", (0.3, -0.5, 1.7)),
    ("laplace.cdf", (0.3, -0.5, 1.7)),
    ("expon.logpdf", (2.3, 0.5, 1.7)),
    ("expon.logcdf", (2.3, 0.5, 1.7)),
    ("uniform.cdf", (0.3, -0.5, 1.7)),
    ("t.logpdf", (0.3, 3.5, -0.5, 1.7)),
    ("gamma.logpdf", (2.3, 2.5, 0.1, 1.7)),
    ("beta.logpdf", (0.3, 2.5, 1.5)),
    ("poisson.logpmf", (3.0, 2.5)),
    ("bernoulli.logpmf", (1.0, 0.3)),
]


@pytest.mark.parametrize("name, args", GRAD_CASES, ids=[n for n, _ in GRAD_CASES])
def test_derivatives_match_finite_differences(name, args):
    dist, method = name.split(".")
    f = getattr(getattr(stats, dist), method)
    # discrete distributions are differentiated in their parameters only
    fixed = 1 if dist in ("poisson", "bernoulli") else 0
    point = [np.array(a) for a in args]

    def g(*xs):
        return f(*point[:fixed], *xs)

    check_grads(g, point[fixed:], order=2, modes=("fwd", "rev"), rtol=1e-6)


@pytest.mark.parametrize("name, args, wrt", [
    ("gamma.cdf", (2.3, 2.5), 0), ("gamma.sf", (2.3, 2.5), 0),
    ("beta.cdf", (0.3, 2.5, 1.5), 0), ("beta.sf", (0.3, 2.5, 1.5), 0),
    ("poisson.cdf", (3.0, 2.5), None),
])  # fmt: skip
def test_incomplete_function_derivatives_in_x(name, args, wrt):
    dist, method = name.split(".")
    f = getattr(getattr(stats, dist), method)
    point = [np.array(a) for a in args]
    if wrt is None:  # poisson.cdf: d/dmu Q(k + 1, mu) is minus the Gamma(k + 1) density
        check_grads(lambda mu: f(point[0], mu), [point[1]], order=2, rtol=1e-6)
        return
    check_grads(lambda x: f(x, *point[1:]), [point[0]], order=2, rtol=1e-6)


def test_multivariate_normal_gradients(x64):
    rng = np.random.default_rng(0)
    half = rng.standard_normal((3, 3))
    cov = half @ half.T + np.eye(3)
    x, mean = rng.standard_normal((4, 3)), rng.standard_normal(3)
    check_grads(lambda m, c: stats.multivariate_normal.logpdf(x, m, (c + c.T) / 2), [mean, cov],
                order=1)  # fmt: skip
    # d/dmean of sum logpdf = sum cov^-1 (x - mean)
    g = vfunc.grad(lambda m: vnp.sum(stats.multivariate_normal.logpdf(x, m, cov)))(mean)
    np.testing.assert_allclose(np.asarray(g), np.linalg.solve(cov, (x - mean).sum(0)),
                               rtol=1e-10)  # fmt: skip


def test_dirichlet_gradient_in_alpha(x64):
    x = np.array([0.2, 0.3, 0.5])
    check_grads(lambda a: stats.dirichlet.logpdf(x, a), [np.array([1.5, 2.0, 3.0])], order=2)


def test_jit_and_vmap_agree_with_eager(x64):
    x = vnp.linspace(-2.0, 2.0, 7)
    scales = vnp.array([0.5, 1.0, 2.0])
    batched = vfunc.vmap(lambda s: stats.norm.logpdf(x, 0.1, s))(scales)
    eager = vnp.stack([stats.norm.logpdf(x, 0.1, s) for s in (0.5, 1.0, 2.0)])
    np.testing.assert_allclose(np.asarray(batched), np.asarray(eager), rtol=1e-15)
    jitted = vfunc.jit(stats.gamma.cdf)(vnp.abs(x), 2.5)
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(stats.gamma.cdf(vnp.abs(x), 2.5)))
    grads = vfunc.jit(vfunc.vmap(vfunc.grad(stats.t.logpdf)))(x, vnp.full(7, 3.0))
    assert np.all(np.isfinite(np.asarray(grads)))


def test_bad_arguments_raise():
    with pytest.raises(ShapeError, match=r"multivariate_normal.logpdf: mean \(3,\) needs cov"):
        stats.multivariate_normal.logpdf(vnp.zeros(3), vnp.zeros(3), vnp.eye(2))
    with pytest.raises(NotImplementedError, match="allow_singular"):
        stats.multivariate_normal.logpdf(vnp.zeros(2), vnp.zeros(2), vnp.eye(2), True)
    with pytest.raises(ShapeError, match=r"dirichlet.logpdf: x \(5,\) must hold K=3"):
        stats.dirichlet.logpdf(vnp.ones(5) / 5, vnp.ones(3))
    with pytest.raises(ShapeError, match="alpha must be one vector"):
        stats.dirichlet.logpdf(vnp.ones(3) / 3, vnp.ones((3, 1)))
