"""``vfunc.scipy.special`` against SciPy's values (recorded once by
scripts/record_fixtures/record_scipy.py), and its derivatives against float64 finite differences
and the known identities (gammaln' = digamma, digamma' = polygamma(1), ...) under jit, vmap and
grad of grad."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import vfunc
import vfunc.numpy as vnp
from vfunc.scipy import special
from vfunc.testing import check_grads

FIXTURE = Path(__file__).parent / "fixtures" / "scipy" / "scipy_x64.npz"


def _record() -> dict[str, tuple[list[np.ndarray], np.ndarray]]:
    with np.load(FIXTURE) as data:
        names = sorted({k.split("|")[0] for k in data.files})
        return {
            n: ([data[f"{n}|in{i}"] for i in range(4) if f"{n}|in{i}" in data.files],
                data[f"{n}|out"])
            for n in names
        }  # fmt: skip


RECORD = _record()
SPECIAL_CASES = [n for n in RECORD if n.startswith("special.")]
# Looser where a kernel is not ours or loses digits by design: erfinv's tail (the random
# family's kernel), digamma near its roots and poles.
RTOL = {"erfinv": 1e-9, "digamma": 1e-11, "gammaln": 1e-12, "gamma": 1e-12,
        "polygamma": 1e-12, "gammainc": 1e-12, "gammaincc": 1e-12, "betainc": 1e-11}  # fmt: skip


def _call(name: str, *args):
    return getattr(special, name.split(".")[1])(*args)


def test_every_jax_name_is_here():
    jax_names = ["logsumexp", "erf", "erfc", "erfinv", "gammaln", "digamma", "betaln", "xlogy",
                 "xlog1py", "expit", "logit", "softmax", "log_softmax", "ndtr", "ndtri", "i0e",
                 "i1e", "zeta", "polygamma", "gamma", "multigammaln", "entr", "log_ndtr", "i0",
                 "i1", "gammainc", "gammaincc", "betainc"]  # fmt: skip
    assert not [n for n in jax_names if not callable(getattr(special, n, None))]
    assert sorted(special.__all__) == sorted(jax_names)


@pytest.mark.parametrize("name", SPECIAL_CASES)
def test_matches_scipy_in_float64(name, x64):
    args, expected = RECORD[name]
    got = _call(name, *args)
    assert got.dtype == np.float64
    rtol = RTOL.get(name.split(".")[1], 2e-13)
    # atol: values below the smallest normal float are compared as zero
    np.testing.assert_allclose(np.asarray(got), expected, rtol=rtol, atol=1e-300)


@pytest.mark.parametrize("name", ["special.gammaln.grid", "special.digamma.grid",
                                  "special.i0e.grid", "special.i1e.grid", "special.ndtri.grid",
                                  "special.log_ndtr.grid", "special.zeta.grid",
                                  "special.betainc.grid"])  # fmt: skip
def test_float32_inputs_stay_float32(name, x64_off):
    args, _ = RECORD[name]
    args32 = [a.astype(np.float32) for a in args]
    got = _call(name, *args32)
    assert got.dtype == np.float32
    # computed in float64 and rounded once: the float64 result at the float32 inputs, rounded
    with vfunc.testing.gradients.enable_x64():
        wide = np.asarray(_call(name, *[a.astype(np.float64) for a in args32]))
    np.testing.assert_array_equal(np.asarray(got), wide.astype(np.float32))


def test_integer_input_is_promoted():
    out = special.gammaln(vnp.array([1, 2, 5]))
    assert out.dtype == vnp.float32
    np.testing.assert_allclose(np.asarray(out), [0.0, 0.0, math.log(24)], atol=1e-6)


def test_special_values():
    nan, inf = np.nan, np.inf
    with vfunc.testing.gradients.enable_x64():
        edges = vnp.array([0.0, -1.0, -2.0, inf, nan])
        np.testing.assert_array_equal(np.asarray(special.digamma(edges)), [-inf, nan, nan, inf,
                                                                          nan])  # fmt: skip
        np.testing.assert_array_equal(np.asarray(special.ndtri(vnp.array([0.0, 1.0, 0.5, 1.5]))),
                                      [-inf, inf, 0.0, nan])  # fmt: skip
        np.testing.assert_array_equal(np.asarray(special.i0e(vnp.array([0.0, inf, -inf]))),
                                      [1.0, 0.0, 0.0])  # fmt: skip
        np.testing.assert_array_equal(np.asarray(special.i1e(vnp.array([0.0, inf, -inf]))),
                                      [0.0, 0.0, -0.0])  # fmt: skip
        # zeta: the pole at s = 1, nan for s < 1, poles at non-positive integer q (as SciPy)
        z = special.zeta(vnp.array([1.0, 0.5, 2.0, 2.0]), vnp.array([1.0, 1.0, 0.0, -3.0]))
        np.testing.assert_array_equal(np.asarray(z), [inf, nan, inf, inf])
        assert float(special.zeta(2.0)) == pytest.approx(math.pi**2 / 6, rel=1e-15)
        assert float(special.xlogy(0.0, 0.0)) == 0.0
        assert float(special.xlog1py(0.0, -1.0)) == 0.0
        np.testing.assert_array_equal(np.asarray(special.entr(vnp.array([0.0, -1.0]))),
                                      [0.0, -inf])  # fmt: skip
        # the tails keep relative accuracy where 1 - x would round away
        assert float(special.log_ndtr(-100.0)) == pytest.approx(-5005.524208693, rel=1e-12)
        p = vnp.array([1e-300, 1e-20, 0.3, 0.5 + 1e-12])
        np.testing.assert_allclose(np.asarray(special.ndtr(special.ndtri(p))), np.asarray(p),
                                   rtol=1e-11)  # fmt: skip


# ----------------------------------------------------------------------------------------------
# Derivatives: finite differences (to second order) and the identities, composed with transforms

SMOOTH = {  # function: points inside its smooth domain
    "erf": [-1.5, 0.2, 2.0], "erfc": [-1.0, 0.5, 3.0], "erfinv": [-0.7, 0.1, 0.9],
    "gammaln": [0.3, 2.5, 7.1, -1.5], "digamma": [0.4, 3.3, -0.6], "gamma": [0.7, 3.2, -1.4],
    "i0e": [-3.0, 0.4, 30.0], "i1e": [-2.0, 0.3, 27.0], "i0": [-2.0, 0.5, 3.0],
    "i1": [-2.0, 0.5, 3.0], "ndtr": [-3.0, 0.1, 2.0], "ndtri": [0.01, 0.4, 0.97],
    "log_ndtr": [-30.0, -2.0, 0.5, 5.0], "expit": [-3.0, 0.0, 4.0], "logit": [0.1, 0.5, 0.8],
    "entr": [0.2, 1.0, 3.0],
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(SMOOTH))
def test_unary_derivatives_match_finite_differences(name):
    f = getattr(special, name)
    check_grads(f, [np.array(SMOOTH[name])], order=2, modes=("fwd", "rev"), rtol=1e-6)


@pytest.mark.parametrize("name, args, wrt", [
    ("zeta", ([2.0, 3.5, 5.0], [0.5, 2.0, 7.5]), 1),
    ("polygamma", ([0.0, 1.0, 3.0], [0.5, 2.0, 7.5]), 1),
    ("gammainc", ([0.5, 2.0, 9.0], [0.3, 2.5, 11.0]), 1),
    ("gammaincc", ([0.5, 2.0, 9.0], [0.3, 2.5, 11.0]), 1),
    ("betaln", ([0.5, 2.0, 9.0], [0.3, 2.5, 11.0]), 0),
    ("betaln", ([0.5, 2.0, 9.0], [0.3, 2.5, 11.0]), 1),
    ("betaln", ([12.0, 50.0, 2e3, 3.0], [15.0, 1e4, 3.0, 4e5]), 0),  # Stirling's branches
    ("betaln", ([12.0, 50.0, 2e3, 3.0], [15.0, 1e4, 3.0, 4e5]), 1),
    ("xlogy", ([0.5, -2.0, 3.0], [0.3, 2.5, 11.0]), 0),
    ("xlogy", ([0.5, -2.0, 3.0], [0.3, 2.5, 11.0]), 1),
    ("xlog1py", ([0.5, -2.0, 3.0], [-0.3, 2.5, 11.0]), 1),
    ("betainc", ([0.5, 2.0, 9.0], [1.3, 2.5, 4.0], [0.2, 0.5, 0.9]), 2),
])  # fmt: skip
def test_multi_argument_derivatives(name, args, wrt):
    f = getattr(special, name)
    args = [np.array(a) for a in args]

    def g(x):
        return f(*args[:wrt], x, *args[wrt + 1 :])

    check_grads(g, [args[wrt]], order=2, modes=("fwd", "rev"), rtol=1e-6)


def test_logsumexp_softmax_derivatives():
    x = np.array([[0.3, -1.2, 2.0], [1.0, 0.5, -0.5]])
    check_grads(lambda a: special.logsumexp(a, axis=1), [x], order=2)
    check_grads(lambda a: special.log_softmax(a, axis=0), [x], order=1)
    check_grads(lambda a: special.softmax(a), [x], order=1)


def test_multigammaln_is_a_sum_of_gammaln(x64):
    a = vnp.array([2.5, 4.0])
    expected = 3 / 2 * math.log(math.pi) + sum(special.gammaln(a - j / 2) for j in range(3))
    np.testing.assert_allclose(np.asarray(special.multigammaln(a, 3)), np.asarray(expected))
    check_grads(lambda x: special.multigammaln(x, 3), [np.array([2.5, 4.0])], order=1)


IDENTITIES = [  # f, its derivative written with other functions of the module
    ("gammaln", lambda x: special.digamma(x)),
    ("digamma", lambda x: special.polygamma(1, x)),
    ("i0e", lambda x: special.i1e(x) - vnp.sign(x) * special.i0e(x)),
    ("i1e", lambda x: special.i0e(x) - special.i1e(x) * (vnp.sign(x) + 1 / x)),
    ("ndtr", lambda x: vnp.exp(-x * x / 2) / math.sqrt(2 * math.pi)),
    ("erfc", lambda x: -2 / math.sqrt(math.pi) * vnp.exp(-x * x)),
]


@pytest.mark.parametrize("name, derivative", IDENTITIES, ids=[n for n, _ in IDENTITIES])
def test_derivative_identities_under_jit_and_vmap(name, derivative, x64):
    f = getattr(special, name)
    x = vnp.array([0.4, 1.3, 2.9, 7.5])
    slope = vfunc.jit(vfunc.vmap(vfunc.grad(f)))(x)
    np.testing.assert_allclose(np.asarray(slope), np.asarray(derivative(x)), rtol=1e-12)
    # grad of grad: the derivative of the identity's right-hand side
    curvature = vfunc.vmap(vfunc.grad(vfunc.grad(f)))(x)
    np.testing.assert_allclose(
        np.asarray(curvature), np.asarray(vfunc.vmap(vfunc.grad(derivative))(x)), rtol=1e-10
    )


def test_polygamma_derivative_is_the_next_order(x64):
    x = vnp.array([0.5, 2.0, 6.5])
    for n in range(4):
        slope = vfunc.vmap(vfunc.grad(lambda v, n=n: special.polygamma(n, v)))(x)
        np.testing.assert_allclose(np.asarray(slope), np.asarray(special.polygamma(n + 1, x)),
                                   rtol=1e-12)  # fmt: skip


def test_i1e_slope_at_zero_is_one_half(x64):
    assert float(vfunc.grad(special.i1e)(0.0)) == 0.5
    assert float(vfunc.grad(special.i0e)(0.0)) == 0.0


def test_xlogy_gradient_is_finite_at_zero(x64):
    gx, gy = vfunc.grad(special.xlogy, argnums=(0, 1))(0.0, 0.0)
    assert np.isfinite(float(gx)) and float(gy) == 0.0
    assert float(vfunc.grad(special.xlogy)(0.0, 2.0)) == pytest.approx(math.log(2.0))


@pytest.mark.parametrize("name, args", [("zeta", (2.5, 1.5)), ("gammainc", (2.5, 1.5)),
                                        ("gammaincc", (2.5, 1.5)),
                                        ("betainc", (2.5, 1.5, 0.3))])  # fmt: skip
def test_shape_parameter_derivatives_are_refused(name, args):
    f = getattr(special, name)
    with pytest.raises(
        NotImplementedError,
        match=f"{name.replace('gammaincc', 'igammac')}|{name.replace('gammainc', 'igamma')}",
    ):
        vfunc.grad(f)(*args)
    with pytest.raises(NotImplementedError, match="not implemented"):
        vfunc.jvp(lambda a: f(a, *args[1:]), (args[0],), (1.0,))


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="polygamma: n must be non-negative integers"):
        special.polygamma(-1, 2.0)
    with pytest.raises(ValueError, match="polygamma: n must be non-negative integers"):
        special.polygamma(1.5, 2.0)
    with pytest.raises(ValueError, match="multigammaln: d must be a positive integer"):
        special.multigammaln(3.0, 0)
    with pytest.raises(ValueError, match=r"\(2,\) and \(3,\)"):
        special.zeta(vnp.array([2.0, 3.0]), vnp.array([1.0, 2.0, 3.0]))
