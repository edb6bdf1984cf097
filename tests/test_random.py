"""vfunc.random: keys under every transformation, gradients, batching, errors and statistics.

Bit-exactness against JAX lives in test_random_fixtures.py; here every check is against vfunc's
own eager result, finite differences, or a distribution's known moments (fixed seeds, so the
statistical tests are deterministic).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import vfunc
import vfunc.numpy as vnp
from vfunc import lax
from vfunc import random as jr
from vfunc.primitives import random_kernels as rk

from cases import ulp_distance
from references import random as rref

pytestmark = pytest.mark.usefixtures("x64_off")


# ----------------------------------------------------------------------------------------------
# Keys as values


def test_typed_key_is_a_scalar_key_array_over_uint32_data():
    k = jr.key(3)
    assert k.shape == () and k.ndim == 0 and str(k.dtype) == "key<fry>"
    assert repr(k) == "Array((), dtype=key<fry>) overlaying:\n[0 3]"
    ks = jr.split(k, (2, 3))
    assert ks.shape == (2, 3) and jr.key_data(ks).shape == (2, 3, 2)
    assert jr.key_data(ks[1, 2]).tolist() == jr.key_data(ks)[1, 2].tolist()
    assert bool((jr.wrap_key_data(jr.key_data(ks)) == ks).all())
    a, b = jr.split(k)
    assert not bool(a == b) and bool(a != b)
    assert jr.key_impl(k) == "threefry2x32"
    assert ks.reshape(6).shape == (6,) and ks.ravel().shape == (6,)
    with pytest.raises(TypeError, match="key_data"):
        np.asarray(k)


def test_raw_and_typed_keys_give_the_same_streams():
    raw, typed = jr.PRNGKey(11), jr.key(11)
    assert np.array_equal(np.asarray(jr.split(raw)), np.asarray(jr.key_data(jr.split(typed))))
    assert np.array_equal(np.asarray(jr.normal(raw, (4,))), np.asarray(jr.normal(typed, (4,))))
    assert isinstance(jr.split(raw), vfunc.Array)
    assert isinstance(jr.fold_in(typed, 3), jr.PRNGKeyArray)


def test_seed_conversion_without_and_with_x64(x64_off):
    assert jr.PRNGKey(-1).tolist() == [0, 2**32 - 1]
    assert jr.PRNGKey(2**40 + 3).tolist() == [0, 3]
    vfunc.config.update("enable_x64", True)
    assert jr.PRNGKey(-1).tolist() == [2**32 - 1, 2**32 - 1]
    assert jr.PRNGKey(2**40 + 3).tolist() == [256, 3]
    with pytest.raises(OverflowError):
        jr.PRNGKey(2**64)


@pytest.mark.parametrize("typed", [True, False])
def test_jit_matches_eager_with_keys_in_and_out(typed):
    make = jr.key if typed else jr.PRNGKey

    def f(k):
        k1, k2 = jr.split(k)
        return jr.fold_in(k1, 7), jr.normal(k2, (5,)), jr.uniform(k1, (2, 3), minval=-2.0)

    k = make(5)
    eager = f(k)
    jitted = vfunc.jit(f)(k)
    again = vfunc.jit(f)(k)
    for a, b, c in zip(vfunc.tree.leaves(eager), vfunc.tree.leaves(jitted),
                       vfunc.tree.leaves(again), strict=True):  # fmt: skip
        assert np.array_equal(np.asarray(a), np.asarray(b)) and np.array_equal(
            np.asarray(b), np.asarray(c)
        )
    assert isinstance(jitted[0], jr.PRNGKeyArray) == typed


def test_seed_under_jit_and_vmap():
    seeds = vnp.arange(4)
    keys = vfunc.vmap(jr.key)(seeds)
    assert keys.shape == (4,)
    for i in range(4):
        assert jr.key_data(keys[i]).tolist() == jr.key_data(jr.key(i)).tolist()
    assert jr.key_data(vfunc.jit(jr.key)(7)).tolist() == [0, 7]


def test_vmap_over_64_keys_is_one_kernel_call(monkeypatch):
    keys = jr.split(jr.key(0), 64)
    calls = []
    original = rk.hash_counters
    monkeypatch.setattr(rk, "hash_counters", lambda *a: (calls.append(a[0].shape), original(*a)))
    out = vfunc.vmap(lambda k: jr.normal(k, (1000,)))(keys)
    assert calls == [(64, 2)]
    assert out.shape == (64, 1000)
    for i in (0, 17, 63):
        assert np.array_equal(np.asarray(out[i]), np.asarray(jr.normal(keys[i], (1000,))))


def test_vmap_of_split_fold_in_randint_permutation():
    keys = jr.split(jr.key(1), 5)
    out = vfunc.vmap(lambda k: jr.split(k, 3))(keys)
    assert out.shape == (5, 3)
    msgs = vnp.arange(5)
    folded = vfunc.vmap(jr.fold_in)(keys, msgs)
    ints = vfunc.vmap(lambda k: jr.randint(k, (4,), 0, 100))(keys)
    perms = vfunc.vmap(lambda k: jr.permutation(k, 6))(keys)
    for i in range(5):
        assert jr.key_data(out[i]).tolist() == jr.key_data(jr.split(keys[i], 3)).tolist()
        assert jr.key_data(folded[i]).tolist() == jr.key_data(jr.fold_in(keys[i], i)).tolist()
        assert ints[i].tolist() == jr.randint(keys[i], (4,), 0, 100).tolist()
        assert perms[i].tolist() == jr.permutation(keys[i], 6).tolist()
    # A batch axis that is not first, on raw key data.
    raw = vnp.moveaxis(jr.key_data(keys), 0, 1)
    out = vfunc.vmap(lambda k: jr.uniform(k, (3,)), in_axes=1)(raw)
    assert out.shape == (5, 3)
    for i in range(5):
        assert out[i].tolist() == jr.uniform(keys[i], (3,)).tolist()


def test_key_as_scan_carry_matches_a_python_loop():
    def step(k, _):
        k, sub = jr.split(k)
        return k, jr.normal(sub, (2,))

    k_end, ys = lax.scan(step, jr.key(4), None, length=5)
    k = jr.key(4)
    for i in range(5):
        k, y = step(k, None)
        assert ys[i].tolist() == y.tolist()
    assert jr.key_data(k_end).tolist() == jr.key_data(k).tolist()


def test_key_through_cond_and_fori_loop():
    def body(i, carry):
        k, total = carry
        k, sub = jr.split(k)
        return k, total + jr.uniform(sub)

    _, total = lax.fori_loop(0, 3, body, (jr.key(2), vnp.float32(0)))
    k, expected = jr.key(2), 0.0
    for _ in range(3):
        k, sub = jr.split(k)
        expected = expected + jr.uniform(sub)
    assert float(total) == float(expected)
    out = lax.cond(True, lambda k: jr.normal(k), lambda k: -jr.normal(k), jr.key(1))
    assert float(out) == float(jr.normal(jr.key(1)))


# ----------------------------------------------------------------------------------------------
# Gradients


def _fd(f, x, eps=1e-6):
    return (f(x + eps) - f(x - eps)) / (2 * eps)


def test_grad_through_reparameterised_normal(x64):
    k = jr.key(0)

    def loss(mu, sigma):
        return vnp.sum((jr.normal(k, (10,)) * sigma + mu) ** 2)

    g_mu, g_sigma = vfunc.grad(loss, argnums=(0, 1))(0.3, 1.7)
    z = np.asarray(jr.normal(k, (10,)))
    assert np.isclose(float(g_mu), np.sum(2 * (z * 1.7 + 0.3)))
    assert np.isclose(float(g_sigma), np.sum(2 * (z * 1.7 + 0.3) * z))
    # jit of grad and vmap of grad agree.
    jg = vfunc.jit(vfunc.grad(loss))(0.3, 1.7)
    assert np.isclose(float(jg), float(g_mu))
    vg = vfunc.vmap(vfunc.grad(loss), in_axes=(0, None))(vnp.array([0.3, 0.5]), 1.7)
    assert np.isclose(float(vg[0]), float(g_mu))


def test_grad_of_uniform_bounds_and_truncated_normal_bounds(x64):
    k = jr.key(8)
    f = lambda lo: float(vnp.sum(jr.uniform(k, (7,), minval=lo, maxval=3.0)))  # noqa: E731
    g = vfunc.grad(lambda lo: vnp.sum(jr.uniform(k, (7,), minval=lo, maxval=3.0)))(-1.0)
    assert np.isclose(float(g), _fd(f, -1.0), rtol=1e-6)
    t = lambda lo: float(vnp.sum(jr.truncated_normal(k, lo, 2.0, (9,))))  # noqa: E731
    g = vfunc.grad(lambda lo: vnp.sum(jr.truncated_normal(k, lo, 2.0, (9,))))(-0.5)
    assert np.isclose(float(g), _fd(t, -0.5), rtol=1e-5)


def test_erf_inv_gradient_and_accuracy(x64):
    x = vnp.array([-0.9, -0.3, 0.0, 0.5, 0.99])
    vfunc.testing.check_grads(lax.erf_inv, (x,), order=2)
    ref = np.array([rref.erfinv(v) for v in np.asarray(x)])
    ulp = np.abs(np.asarray(lax.erf_inv(x)) - ref) / np.spacing(np.abs(ref).clip(1e-300))
    assert ulp.max() <= 4


def test_erf_inv_float32_matches_reference_within_a_few_ulp():
    # (beyond |x| = 0.999 the formula's 1 - x * x cancels: JAX's float32 erf_inv is off too)
    x = np.linspace(-0.999, 0.999, 2001, dtype=np.float32)
    got = np.asarray(lax.erf_inv(vnp.asarray(x))).astype(np.float64)
    ref = np.array([rref.erfinv(float(v)) for v in x])
    err = np.abs(got - ref) / np.spacing(np.abs(ref).astype(np.float32).clip(1e-30))
    assert err.max() <= 8


# ----------------------------------------------------------------------------------------------
# Errors


def test_errors_name_the_argument():
    with pytest.raises(TypeError, match="seed must be an integer"):
        jr.PRNGKey(1.5)
    with pytest.raises(TypeError, match="seed must be an integer"):
        jr.key(vnp.float32(2.0))
    with pytest.raises(TypeError, match=r"scalar seed.*shape \(2,\)"):
        jr.key(np.array([1, 2]))
    with pytest.raises(TypeError, match=r"shape must end with \(2,\).*\(3,\)"):
        jr.normal(vnp.zeros(3, np.uint32))
    with pytest.raises(TypeError, match="must have dtype uint32, got int32"):
        jr.normal(vnp.zeros(2, np.int32))
    with pytest.raises(ValueError, match=r"normal accepts a single key.*\(2,\)"):
        jr.normal(jr.split(jr.key(0)))
    with pytest.raises(TypeError, match="bernoulli probability `p` must have a floating dtype"):
        jr.bernoulli(jr.key(0), 1)
    with pytest.raises(ValueError, match=r"uniform: parameter minval has shape \(4,\)"):
        jr.uniform(jr.key(0), (3,), minval=vnp.zeros(4))
    with pytest.raises(ValueError, match=r"truncated_normal: parameter upper has shape \(5,\)"):
        jr.truncated_normal(jr.key(0), 0.0, vnp.ones(5), (3,))
    with pytest.raises(ValueError, match="dtype argument to `normal` must be a float"):
        jr.normal(jr.key(0), (3,), np.int32)
    with pytest.raises(ValueError, match="`bits` must be an unsigned int dtype"):
        jr.bits(jr.key(0), (3,), np.int32)
    with pytest.raises(TypeError, match="randint only accepts integer dtypes"):
        jr.randint(jr.key(0), (3,), 0, 5, np.float32)
    with pytest.raises(ValueError, match=r"p has shape \(4,\) and a.shape\[axis\] is 5"):
        jr.choice(jr.key(0), 5, (3,), p=vnp.ones(4))
    with pytest.raises(ValueError, match="Cannot take a larger sample"):
        jr.choice(jr.key(0), 5, (7,), replace=False)
    with pytest.raises(TypeError, match="fold_in accepts a scalar"):
        jr.fold_in(jr.key(0), vnp.array([1, 2]))
    with pytest.raises(OverflowError):
        jr.fold_in(jr.key(0), -3)
    with pytest.raises(TypeError, match="x must be an integer or at least 1-dimensional"):
        jr.permutation(jr.key(0), 2.5)
    with pytest.raises(TypeError, match="wrap_key_data.*key_bits_array"):
        jr.wrap_key_data(vnp.zeros(3, np.uint32))
    with pytest.raises(TypeError, match="unexpected PRNG key type str"):
        jr.split("key")
    with pytest.raises(TypeError, match="grad requires real- or complex-valued inputs"):
        vfunc.grad(lambda k: jr.normal(k))(jr.key(0))


# ----------------------------------------------------------------------------------------------
# Statistics (fixed keys: deterministic)

N = 200_000


def _moments(x):
    x = np.asarray(x, np.float64)
    return x.mean(), x.var()


def _close(got, want, sd):
    # within 5 standard errors (fixed seeds: this either always or never passes)
    assert abs(got - want) <= 5 * sd, (got, want, sd)


@pytest.mark.parametrize(
    ("name", "sample", "mean", "var"),
    [
        ("uniform", lambda k: jr.uniform(k, (N,)), 0.5, 1 / 12),
        ("normal", lambda k: jr.normal(k, (N,)), 0.0, 1.0),
        ("exponential", lambda k: jr.exponential(k, (N,)), 1.0, 1.0),
        ("laplace", lambda k: jr.laplace(k, (N,)), 0.0, 2.0),
        ("logistic", lambda k: jr.logistic(k, (N,)), 0.0, math.pi**2 / 3),
        ("gumbel", lambda k: jr.gumbel(k, (N,)), 0.5772156649, math.pi**2 / 6),
        ("gumbel_high", lambda k: jr.gumbel(k, (N,), mode="high"), 0.5772156649, math.pi**2 / 6),
        ("maxwell", lambda k: jr.maxwell(k, (N,)), 2 * math.sqrt(2 / math.pi), 3 - 8 / math.pi),
        ("rademacher", lambda k: jr.rademacher(k, (N,)), 0.0, 1.0),
        ("bernoulli", lambda k: jr.bernoulli(k, 0.3, (N,)), 0.3, 0.21),
        ("bernoulli_high", lambda k: jr.bernoulli(k, 0.3, (N,), mode="high"), 0.3, 0.21),
        ("randint", lambda k: jr.randint(k, (N,), -3, 7), 1.5, (10**2 - 1) / 12),
        ("geometric", lambda k: jr.geometric(k, 0.25, (N,)), 4.0, 0.75 / 0.0625),
        ("weibull", lambda k: jr.weibull_min(k, 2.0, 1.5, (N,)), 2 * math.gamma(1 + 1 / 1.5),
         4 * (math.gamma(1 + 2 / 1.5) - math.gamma(1 + 1 / 1.5) ** 2)),
        ("pareto", lambda k: jr.pareto(k, 5.0, (N,)), 5 / 4, 5 / (16 * 3)),
        ("truncated", lambda k: jr.truncated_normal(k, 0.0, 10.0, (N,)),
         math.sqrt(2 / math.pi), 1 - 2 / math.pi),
        ("choice_p", lambda k: jr.choice(k, 3, (N,), p=vnp.array([0.2, 0.3, 0.5])), 1.3, 0.61),
    ],  # fmt: skip
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_moments(name, sample, mean, var):
    m, v = _moments(sample(jr.key(123)))
    _close(m, mean, math.sqrt(var / N))
    # the variance's standard error needs the fourth moment; 5% is ample at N = 200k
    assert abs(v - var) <= 0.05 * var, (v, var)


def test_cauchy_quartiles():
    x = np.asarray(jr.cauchy(jr.key(5), (N,)))
    q1, q2, q3 = np.quantile(x, [0.25, 0.5, 0.75])
    assert abs(q1 + 1) < 0.02 and abs(q2) < 0.02 and abs(q3 - 1) < 0.02


def test_categorical_and_choice_frequencies():
    p = np.array([0.1, 0.2, 0.7])
    draws = np.asarray(jr.categorical(jr.key(1), vnp.log(vnp.asarray(p)), shape=(N,)))
    freq = np.bincount(draws, minlength=3) / N
    assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / N))
    batched = jr.categorical(jr.key(2), vnp.log(vnp.asarray([[0.5, 0.5], [0.9, 0.1]])), axis=-1,
                             shape=(4000, 2))  # fmt: skip
    assert abs(float(batched[:, 0].mean()) - 0.5) < 0.04
    assert abs(float(batched[:, 1].mean()) - 0.1) < 0.02
    no_rep = np.asarray(jr.choice(jr.key(3), 10, (10,), replace=False, p=vnp.ones(10) / 10))
    assert sorted(no_rep.tolist()) == list(range(10))
    cats = np.asarray(jr.categorical(jr.key(4), vnp.zeros(6), shape=(6,), replace=False))
    assert sorted(cats.tolist()) == list(range(6))


def test_permutations_are_permutations_and_uniform():
    x = vnp.arange(12).reshape(3, 4)
    assert sorted(np.asarray(jr.permutation(jr.key(0), 50)).tolist()) == list(range(50))
    rows = np.asarray(jr.permutation(jr.key(0), x, axis=0))
    assert sorted(map(tuple, rows.tolist())) == sorted(map(tuple, np.asarray(x).tolist()))
    ind = np.asarray(jr.permutation(jr.key(0), x, axis=1, independent=True))
    assert all(sorted(r) == sorted(o) for r, o in zip(ind.tolist(), np.asarray(x).tolist()))
    shuffled = np.asarray(jr.shuffle(jr.key(0), vnp.arange(5)))
    assert sorted(shuffled.tolist()) == list(range(5))
    # Each of the 6 orders of 3 items about equally often.
    keys = jr.split(jr.key(9), 6000)
    perms = np.asarray(vfunc.vmap(lambda k: jr.permutation(k, 3))(keys))
    codes = perms[:, 0] * 9 + perms[:, 1] * 3 + perms[:, 2]
    counts = np.unique(codes, return_counts=True)[1]
    assert len(counts) == 6 and counts.min() > 850


def test_orthogonal_is_orthogonal_and_haar_signs():
    q = np.asarray(jr.orthogonal(jr.key(0), 5, (3,)), np.float64)
    assert q.shape == (3, 5, 5)
    for m in q:
        np.testing.assert_allclose(m @ m.T, np.eye(5), atol=1e-5)
    wide = np.asarray(jr.orthogonal(jr.key(1), 3, m=6), np.float64)
    assert wide.shape == (3, 6)
    np.testing.assert_allclose(wide @ wide.T, np.eye(3), atol=1e-5)
    # Haar: E[Q] = 0 entrywise.
    many = np.asarray(jr.orthogonal(jr.key(2), 3, (4000,)), np.float64)
    assert np.abs(many.mean(axis=0)).max() < 0.05


def test_ball_is_inside_the_unit_ball():
    x = np.asarray(jr.ball(jr.key(0), 3, shape=(5000,)), np.float64)
    r = np.linalg.norm(x, axis=-1)
    assert x.shape == (5000, 3) and r.max() <= 1.0
    # radius^3 is uniform on [0, 1] for the uniform distribution in a 3-ball
    assert abs((r**3).mean() - 0.5) < 0.02


# ----------------------------------------------------------------------------------------------
# The gamma family: moments, gradients (implicit reparameterisation) under transformations


@pytest.mark.parametrize(
    ("name", "sample", "mean", "var"),
    [
        ("gamma_small", lambda k: jr.gamma(k, 0.3, (N,)), 0.3, 0.3),
        ("gamma_large", lambda k: jr.gamma(k, 7.5, (N,)), 7.5, 7.5),
        ("loggamma", lambda k: vnp.exp(jr.loggamma(k, 0.6, (N,))), 0.6, 0.6),
        ("beta", lambda k: jr.beta(k, 2.0, 5.0, (N,)), 2 / 7, 10 / (49 * 8)),
        ("dirichlet", lambda k: jr.dirichlet(k, vnp.array([1.0, 2.0, 3.0]), (N,))[:, 2], 0.5,
         0.5 * 0.5 / 7),
        ("chisquare", lambda k: jr.chisquare(k, 3.0, (N,)), 3.0, 6.0),
        ("t", lambda k: jr.t(k, 10.0, (N,)), 0.0, 10 / 8),
        ("poisson_small", lambda k: jr.poisson(k, 3.5, (N,)), 3.5, 3.5),
        ("poisson_large", lambda k: jr.poisson(k, 60.0, (N,)), 60.0, 60.0),
        ("binomial_small", lambda k: jr.binomial(k, 12, 0.3, (N,)), 3.6, 2.52),
        ("binomial_large", lambda k: jr.binomial(k, 200, 0.7, (N,)), 140.0, 42.0),
        ("mvn", lambda k: jr.multivariate_normal(k, vnp.array([1.0, -1.0]),
                                                 vnp.array([[2.0, 0.6], [0.6, 1.0]]), (N,))[:, 1],
         -1.0, 1.0),
    ],  # fmt: skip
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_gamma_family_moments(name, sample, mean, var):
    m, v = _moments(sample(jr.key(321)))
    _close(m, mean, math.sqrt(var / N))
    assert abs(v - var) <= 0.05 * var, (v, var)


def test_multivariate_normal_covariance():
    cov = np.array([[2.0, 0.6], [0.6, 1.0]])
    for method in ("cholesky", "eigh", "svd"):
        x = np.asarray(jr.multivariate_normal(jr.key(1), vnp.zeros(2), vnp.asarray(cov), (N,),
                                              method=method), np.float64)  # fmt: skip
        np.testing.assert_allclose(np.cov(x.T), cov, atol=0.03)


def test_gamma_grad_is_the_implicit_derivative(x64):
    # JAX's reparameterisation: d x / d a = -(dF/da) / (dF/dx) at the sample x (not the
    # derivative of the rejection sampler's path, which differs for a < 1).
    k = jr.key(12)
    a = vnp.array([0.4, 1.3, 6.0])
    w = np.array([1.0, 2.0, 3.0])
    g = np.asarray(vfunc.grad(lambda a: vnp.sum(jr.gamma(k, a) * vnp.asarray(w)))(a))
    x = np.asarray(jr.gamma(k, a))
    ref = [wi * rref.gamma_sample_grad(ai, xi) for wi, ai, xi in zip(w, np.asarray(a), x)]
    np.testing.assert_allclose(g, ref, rtol=1e-6)


def test_beta_and_dirichlet_gradients_under_jit_and_vmap(x64):
    k = jr.key(4)
    f = lambda a, b: vnp.sum(jr.beta(k, a, b, (5,)))  # noqa: E731
    g = vfunc.grad(f, argnums=(0, 1))(2.0, 3.0)
    gj = vfunc.jit(vfunc.grad(f, argnums=(0, 1)))(2.0, 3.0)
    assert np.allclose([float(g[0]), float(g[1])], [float(gj[0]), float(gj[1])])
    # The chain rule through beta = ga / (ga + gb) with implicit gamma derivatives.
    ka, kb = jr.split(k)
    ga = np.exp(np.asarray(jr.loggamma(ka, 2.0, (5,))))
    gb = np.exp(np.asarray(jr.loggamma(kb, 3.0, (5,))))
    dga = np.array([rref.gamma_sample_grad(2.0, x) for x in ga])
    dgb = np.array([rref.gamma_sample_grad(3.0, x) for x in gb])
    s_ = ga + gb
    np.testing.assert_allclose(float(g[0]), np.sum(gb / s_**2 * dga), rtol=1e-6)
    np.testing.assert_allclose(float(g[1]), np.sum(-ga / s_**2 * dgb), rtol=1e-6)
    keys = jr.split(k, 3)
    per_key = vfunc.vmap(vfunc.grad(lambda k, a: vnp.sum(jr.gamma(k, a, (4,))), argnums=1),
                         (0, None))
    out = per_key(keys, 1.5)
    for i in range(3):
        single = vfunc.grad(lambda a, i=i: vnp.sum(jr.gamma(keys[i], a, (4,))))(1.5)
        assert np.isclose(float(out[i]), float(single))
    d = vfunc.grad(lambda al: jr.dirichlet(k, al)[0])(vnp.array([1.0, 2.0, 3.0]))
    assert d.shape == (3,) and np.all(np.isfinite(np.asarray(d)))


def test_gamma_under_vmap_equals_per_key_samples():
    keys = jr.split(jr.key(6), 4)
    a = vnp.array([0.5, 1.0, 2.0, 9.0])
    out = vfunc.vmap(lambda k, a: jr.gamma(k, a, (3,)))(keys, a)
    for i in range(4):
        assert out[i].tolist() == jr.gamma(keys[i], a[i], (3,)).tolist()
    jitted = vfunc.jit(lambda k: jr.gamma(k, a))(keys[0])
    assert jitted.tolist() == jr.gamma(keys[0], a).tolist()


def test_binomial_and_poisson_edge_cases():
    x = np.asarray(jr.binomial(jr.key(0), vnp.array([5.0, -1.0, 4.0]), vnp.array([1.0, 0.5, 1.5])))
    assert x[0] == 5 and np.isnan(x[1]) and np.isnan(x[2])
    p = np.asarray(jr.poisson(jr.key(0), vnp.array([0.0, 1e-3, 1e4]), (3,)))
    assert p[0] == 0 and p[1] >= 0 and abs(p[2] - 1e4) < 600
    assert jr.poisson(jr.key(0), 2.0, (5,)).dtype == np.int32


def test_normal_fused_kernel_agrees_with_the_composition():
    from vfunc.random import _normal_composed

    for dt in (np.float32,):
        fused = np.asarray(jr.normal(jr.key(3), (5000,), dt))
        composed = np.asarray(_normal_composed(jr.key_data(jr.key(3)), (5000,), np.dtype(dt)))
        assert ulp_distance(fused, composed).max() <= 2


def test_fma_scalar_fast_path_equals_the_general_kernel():
    x = np.random.default_rng(0).uniform(size=rk.PARALLEL_MIN_SIZE + 5).astype(np.float32)
    y, z = np.array(2.0 - 2.0**-23, np.float32), np.array(-0.75, np.float32)
    fast = rk.fma(x, y, z)
    general = rk.fma(x, np.full(x.shape, y), np.full(x.shape, z))
    assert np.array_equal(fast, general)
    big = np.asarray(jr.uniform(jr.key(1), (rk.PARALLEL_MIN_SIZE + 5,), minval=-3.0, maxval=5.0))
    small = np.asarray(jr.uniform(jr.key(1), (rk.PARALLEL_MIN_SIZE - 5,), minval=-3.0, maxval=5.0))
    assert np.array_equal(big[: small.size], small)  # same stream, the other code path
