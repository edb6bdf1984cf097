"""vnp statistics, searching, set operations and polynomials: forward against NumPy in float64,
gradients against finite differences, JAX-specific conventions against recorded JAX outputs
(tests/fixtures/numpy_stats, written by record_jax.py there), jit/vmap, and error messages."""

import json
import pathlib

import numpy as np
import pytest

import vfunc
import vfunc.numpy as vnp
from vfunc.errors import ConcretizationTypeError, ShapeError
from vfunc.testing import check_grads

JAX = json.loads(
    (pathlib.Path(__file__).parent / "fixtures/numpy_stats/jax_reference.json").read_text()
)
METHODS = ["linear", "lower", "higher", "midpoint", "nearest"]


def _data(seed=0, shape=(4, 5, 6), nan=True):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape)
    xn = x.copy()
    if nan:
        xn[1, 2, 3] = xn[0, 0, :2].sum() * np.nan  # one NaN, and a slice left intact
    return x, xn


# ------------------------------------------------------------------------------ quantiles


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("axis", [None, 1, (0, 2), -1])
@pytest.mark.parametrize("keepdims", [False, True])
def test_quantile_matches_numpy(x64, method, axis, keepdims):
    x, xn = _data()
    for q in (0.3, [0.0, 0.5, 1.0, 0.25]):
        kw = dict(axis=axis, method=method, keepdims=keepdims)
        np.testing.assert_allclose(vnp.quantile(x, q, **kw), np.quantile(x, q, **kw))
        np.testing.assert_allclose(vnp.quantile(xn, q, **kw), np.quantile(xn, q, **kw))
        np.testing.assert_allclose(vnp.nanquantile(xn, q, **kw), np.nanquantile(xn, q, **kw))
        p = np.asarray(q) * 100
        np.testing.assert_allclose(vnp.percentile(x, p, **kw), np.percentile(x, p, **kw))
        np.testing.assert_allclose(vnp.nanpercentile(xn, p, **kw), np.nanpercentile(xn, p, **kw))


def test_nearest_rounds_halves_to_even(x64):
    for n in (4, 6):
        a = np.arange(float(n))
        assert float(vnp.quantile(a, 0.5, method="nearest")) == np.quantile(
            a, 0.5, method="nearest"
        )


@pytest.mark.parametrize("axis", [None, 0, 2, (1, 2)])
def test_median_and_nanmedian_match_numpy(x64, axis):
    x, xn = _data(1)
    np.testing.assert_allclose(vnp.median(x, axis=axis), np.median(x, axis=axis))
    np.testing.assert_allclose(vnp.median(xn, axis=axis), np.median(xn, axis=axis))
    np.testing.assert_allclose(vnp.nanmedian(xn, axis=axis), np.nanmedian(xn, axis=axis))
    np.testing.assert_allclose(
        vnp.median(x, axis=axis, keepdims=True), np.median(x, axis=axis, keepdims=True)
    )


def test_quantile_gradients_follow_jax(x64):
    x4 = vnp.array([3.0, 1.0, 2.0, 2.0])
    np.testing.assert_allclose(vfunc.grad(vnp.median)(x4), JAX["grad_median_ties"])
    np.testing.assert_allclose(
        vfunc.grad(vnp.median)(vnp.array([3.0, 1.0, 2.0])), JAX["grad_median_odd"]
    )
    lower = vfunc.grad(lambda a: vnp.quantile(a, 0.4, method="lower"))(x4)
    np.testing.assert_allclose(lower, JAX["grad_quantile_lower"])
    assert float(vfunc.grad(lambda q: vnp.quantile(x4, q))(0.4)) == JAX["grad_quantile_q"]
    nanmed = vfunc.grad(vnp.nanmedian)(vnp.array([1.0, np.nan, 3.0, 4.0]))
    np.testing.assert_allclose(nanmed, JAX["grad_nanmedian"])


@pytest.mark.parametrize("method", ["linear", "midpoint", "lower", "nearest"])
def test_quantile_gradients_match_finite_differences(method):
    x = np.random.default_rng(2).normal(size=(3, 7))  # distinct values: smooth locally
    check_grads(lambda a: vnp.quantile(a, vnp.array([0.1, 0.5, 0.83]), axis=1, method=method), [x])
    check_grads(lambda q: vnp.quantile(x, q, axis=1), [np.array([0.13, 0.61])])
    check_grads(lambda a: vnp.median(a, axis=0), [x])
    xn = x.copy()
    xn[1, 3] = np.nan
    check_grads(lambda a: vnp.nanmedian(a, axis=1), [xn], modes=("rev",))


def test_quantile_under_jit_and_vmap(x64):
    x, xn = _data(3)
    q = np.array([0.2, 0.7])
    jitted = vfunc.jit(lambda a, q: vnp.quantile(a, q, axis=0))(x, q)
    np.testing.assert_allclose(jitted, np.quantile(x, q, axis=0))
    np.testing.assert_allclose(vfunc.vmap(vnp.median)(x), [np.median(s) for s in x])
    batched = vfunc.vmap(lambda a: vnp.nanquantile(a, 0.3, axis=1))(xn)
    np.testing.assert_allclose(batched, [np.nanquantile(s, 0.3, axis=1) for s in xn])
    per_q = vfunc.vmap(lambda q: vnp.quantile(x, q))(q)
    np.testing.assert_allclose(per_q, np.quantile(x, q))
    g = vfunc.jit(vfunc.grad(lambda a: vnp.median(a)))(x[0, 0])
    np.testing.assert_allclose(g, vfunc.grad(vnp.median)(x[0, 0]))


def test_quantile_errors():
    with pytest.raises(ValueError, match=r"quantile: q in \[0, 1\], got 1.5"):
        vnp.quantile(vnp.ones(3), 1.5)
    with pytest.raises(ValueError, match=r"percentile: percentiles must lie in \[0, 100\]"):
        vnp.percentile(vnp.ones(3), [50, 101])
    with pytest.raises(ValueError, match="quantile: method must be one of"):
        vnp.quantile(vnp.ones(3), 0.5, method="cubic")
    with pytest.raises(ShapeError, match="quantile: q must be a scalar or 1-D"):
        vnp.quantile(vnp.ones(3), vnp.ones((2, 2)) / 2)
    with pytest.raises(TypeError, match="median: complex input"):
        vnp.median(vnp.ones(3, vnp.complex64))
    with pytest.raises(TypeError, match="median: out=... is not supported"):
        vnp.median(vnp.ones(3), out=vnp.ones(()))
    with pytest.raises(NotImplementedError, match="quantile: weights"):
        vnp.quantile(vnp.ones(3), 0.5, weights=vnp.ones(3))


# ------------------------------------------------------------------------------ nan family

NAN_REDUCTIONS = ["nansum", "nanmean", "nanvar", "nanstd", "nanmax", "nanmin", "nanargmax",
                  "nanargmin", "nanprod"]  # fmt: skip


@pytest.mark.parametrize("name", NAN_REDUCTIONS)
@pytest.mark.parametrize("axis", [None, 1, -1])
def test_nan_reductions_match_numpy(x64, name, axis):
    _, xn = _data(4)
    np.testing.assert_allclose(getattr(vnp, name)(xn, axis=axis), getattr(np, name)(xn, axis=axis))
    if name not in ("nanargmax", "nanargmin"):
        kd = getattr(vnp, name)(xn, axis=axis, keepdims=True)
        np.testing.assert_allclose(kd, getattr(np, name)(xn, axis=axis, keepdims=True))
    ints = np.arange(12).reshape(3, 4)
    np.testing.assert_allclose(
        getattr(vnp, name)(ints, axis=axis), getattr(np, name)(ints, axis=axis)
    )


def test_nan_cumulative_and_ddof(x64):
    _, xn = _data(5)
    np.testing.assert_allclose(vnp.nancumsum(xn, axis=1), np.nancumsum(xn, axis=1))
    np.testing.assert_allclose(vnp.nancumprod(xn, axis=2), np.nancumprod(xn, axis=2))
    np.testing.assert_allclose(vnp.nanprod(xn, axis=1), np.nanprod(xn, axis=1))
    np.testing.assert_allclose(vnp.nancumsum(xn), np.nancumsum(xn))
    np.testing.assert_allclose(vnp.nanvar(xn, axis=0, ddof=1), np.nanvar(xn, axis=0, ddof=1))
    np.testing.assert_allclose(vnp.nanstd(xn, axis=2, ddof=1), np.nanstd(xn, axis=2, ddof=1))


def test_all_nan_slices_follow_jax(x64):
    both = vnp.array([np.nan, np.nan])
    assert int(vnp.nanargmax(both)) == JAX["nanargmax_all_nan"] == int(vnp.nanargmin(both))
    assert np.isnan(float(vnp.nanmax(both))) and np.isnan(float(vnp.nanmin(both)))
    assert np.isnan(float(vnp.nanmean(both))) and np.isnan(float(vnp.nanmedian(both)))
    assert float(vnp.nansum(both)) == 0.0


def test_nan_gradients(x64):
    a = vnp.array([1.0, np.nan, 3.0])
    np.testing.assert_allclose(vfunc.grad(vnp.nanmean)(a), JAX["grad_nanmean"])
    np.testing.assert_allclose(vfunc.grad(vnp.nanstd)(a), JAX["grad_nanstd"])
    np.testing.assert_allclose(
        vfunc.grad(vnp.nanmax)(vnp.array([3.0, np.nan, 3.0])), JAX["grad_nanmax_tie"]
    )
    x = np.random.default_rng(6).normal(size=(3, 5))
    x[1, 2] = np.nan
    for name in ("nansum", "nanmean", "nanvar", "nanstd", "nanmax", "nanprod"):
        fn = getattr(vnp, name)
        # Finite differences see NaN at the NaN entry; check the rest by masking it back in.
        check_grads(lambda v, fn=fn: fn(vnp.where(vnp.isnan(vnp.array(x)), np.nan, v), axis=1),
                    [np.nan_to_num(x)], modes=("rev",))  # fmt: skip


def test_std_gradient_at_constant_input_is_nan_as_in_jax(x64):
    assert JAX["grad_std_constant"] == ["nan"] * 3
    assert np.isnan(np.asarray(vfunc.grad(vnp.std)(vnp.ones(3)))).all()
    np.testing.assert_array_equal(vfunc.grad(vnp.var)(vnp.ones(3)), JAX["grad_var_constant"])


# --------------------------------------------------------------- average, ptp, cov, corrcoef


def test_cov_corrcoef_average_match_numpy(x64):
    rng = np.random.default_rng(7)
    m = rng.normal(size=(3, 7))
    fw, aw = rng.integers(1, 4, 7), rng.uniform(size=7)
    for kw in ({}, {"bias": True}, {"ddof": 3}, {"fweights": fw}, {"aweights": aw},
               {"fweights": fw, "aweights": aw, "ddof": 2}):  # fmt: skip
        np.testing.assert_allclose(vnp.cov(m, **kw), np.cov(m, **kw), err_msg=str(kw))
    np.testing.assert_allclose(vnp.cov(m.T, rowvar=False), np.cov(m.T, rowvar=False))
    np.testing.assert_allclose(vnp.cov(m[0], m[1]), np.cov(m[0], m[1]))
    np.testing.assert_allclose(vnp.cov(m[0]), np.cov(m[0]))
    np.testing.assert_allclose(vnp.corrcoef(m), np.corrcoef(m))
    np.testing.assert_allclose(vnp.corrcoef(m[0], m[2]), np.corrcoef(m[0], m[2]))
    np.testing.assert_allclose(
        vnp.average(m, axis=1, weights=aw), np.average(m, axis=1, weights=aw)
    )
    avg, total = vnp.average(m, weights=m * 0 + 2, returned=True)
    np.testing.assert_allclose((avg, total), np.average(m, weights=m * 0 + 2, returned=True))
    np.testing.assert_allclose(vnp.average(m, axis=0), np.average(m, axis=0))
    np.testing.assert_allclose(vnp.ptp(m, axis=1), np.ptp(m, axis=1))


def test_cov_gradients_and_batching():
    m = np.random.default_rng(8).normal(size=(2, 6))
    check_grads(vnp.cov, [m])
    check_grads(vnp.corrcoef, [m], modes=("rev",))
    check_grads(lambda a: vnp.cov(a, aweights=vnp.linspace(0.5, 1.5, 6)), [m], modes=("rev",))
    batch = np.random.default_rng(9).normal(size=(4, 2, 6))
    np.testing.assert_allclose(vfunc.vmap(vnp.cov)(batch), [np.cov(b) for b in batch], rtol=1e-5)
    np.testing.assert_allclose(vfunc.jit(vnp.corrcoef)(m), np.corrcoef(m), rtol=1e-5)


def test_cov_errors():
    with pytest.raises(ShapeError, match="cov: m must be at most 2-D"):
        vnp.cov(vnp.ones((2, 2, 2)))
    with pytest.raises(TypeError, match="cov: fweights must be 1-D integers of length 3"):
        vnp.cov(vnp.ones((2, 3)), fweights=vnp.ones(3))
    with pytest.raises(ShapeError, match="cov: m and y hold 3 and 4 observations"):
        vnp.cov(vnp.ones((2, 3)), vnp.ones((1, 4)))
    with pytest.raises(ShapeError, match="average: weights of shape"):
        vnp.average(vnp.ones((2, 3)), weights=vnp.ones(2))


# ------------------------------------------------------------------ searching and binning


@pytest.mark.parametrize("method", ["scan", "sort", "compare_all"])
@pytest.mark.parametrize("side", ["left", "right"])
def test_searchsorted_matches_numpy(x64, method, side):
    rng = np.random.default_rng(10)
    a = np.sort(rng.integers(0, 10, 30)).astype(float)
    a[-2:] = np.nan
    v = np.concatenate([rng.integers(-1, 12, 40).astype(float), [np.nan]])
    np.testing.assert_array_equal(vnp.searchsorted(a, v, side=side, method=method),
                                  np.searchsorted(a, v, side=side))  # fmt: skip
    ai, vi = np.sort(rng.integers(0, 5, 20)), rng.integers(-1, 7, (3, 4))
    np.testing.assert_array_equal(vnp.searchsorted(ai, vi, side=side, method=method),
                                  np.searchsorted(ai, vi, side=side))  # fmt: skip
    b = rng.normal(size=10)
    order = np.argsort(b)
    got = vnp.searchsorted(b, b[:4], side=side, sorter=order, method=method)
    np.testing.assert_array_equal(got, np.searchsorted(b, b[:4], side=side, sorter=order))


def test_searchsorted_large_inputs_merge_by_sorting(x64):
    rng = np.random.default_rng(11)
    a, v = np.sort(rng.integers(0, 500, 400)), rng.integers(-5, 505, 300)  # above the limit
    np.testing.assert_array_equal(vnp.searchsorted(a, v), np.searchsorted(a, v))
    np.testing.assert_array_equal(vnp.searchsorted(a, v, "right"), np.searchsorted(a, v, "right"))


def test_searchsorted_jit_and_vmap(x64):
    a = vnp.array([1.0, 2.0, 3.0])
    out = vfunc.vmap(lambda t: vnp.searchsorted(a, t))(vnp.array([0.5, 2.0, 9.0]))
    np.testing.assert_array_equal(out, [0, 1, 3])
    rows = vnp.array([[0.5, 2.0, 9.0], [3.0, 4.0, 5.0]])
    for method in ("sort", "compare_all"):
        out = vfunc.jit(vfunc.vmap(lambda r, m=method: vnp.searchsorted(r, 2.0, method=m)))(rows)
        np.testing.assert_array_equal(out, [1, 0])


@pytest.mark.parametrize("bins", [[1.0, 2, 3], [3.0, 2, 1], [1.0, 2, 2, 3], [2.0]])
@pytest.mark.parametrize("right", [False, True])
def test_digitize_matches_numpy(x64, bins, right):
    x = np.concatenate([np.random.default_rng(12).uniform(-1, 5, 30), [1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(
        vnp.digitize(x, bins, right=right), np.digitize(x, bins, right=right)
    )


def test_interp_matches_numpy(x64):
    rng = np.random.default_rng(13)
    x = np.concatenate([rng.uniform(-1, 5, 50), [-1.0]])
    xp, fp = np.sort(rng.uniform(0, 4, 8)), rng.normal(size=8)
    x[:2] = xp[:2]
    np.testing.assert_allclose(vnp.interp(x, xp, fp), np.interp(x, xp, fp))
    np.testing.assert_allclose(vnp.interp(x, xp, fp, -7, 9), np.interp(x, xp, fp, -7, 9))
    np.testing.assert_allclose(vnp.interp(x, xp, fp, period=3.0), np.interp(x, xp, fp, period=3.0))
    rep = ([1.0, 1.0, 2.0], [0.0, 1.0, 2.0])
    np.testing.assert_allclose(vnp.interp(x, *rep), np.interp(x, *rep))
    np.testing.assert_allclose(vnp.interp(x, [2.0], [5.0]), np.interp(x, [2.0], [5.0]))
    ends = vnp.interp(vnp.array([0.0, 4.0]), vnp.array([1.0, 2, 3]), vnp.array([1.0, 4, 9]),
                      left="extrapolate", right="extrapolate")  # fmt: skip
    np.testing.assert_allclose(ends, JAX["interp_extrapolate"])


def test_interp_gradients(x64):
    xp, fp = vnp.array([1.0, 2, 3]), vnp.array([1.0, 4, 9])
    g = vfunc.grad(lambda t: vnp.interp(t, xp, fp))
    assert [float(g(t)) for t in (0.0, 1.0, 1.5, 2.0, 3.0, 5.0)] == JAX["interp_grad_x"]
    np.testing.assert_allclose(
        vfunc.grad(lambda f: vnp.interp(2.5, xp, f))(fp), JAX["interp_grad_fp"]
    )
    at = np.array([0.4, 1.3, 2.2, 3.9])
    check_grads(lambda t, a, b: vnp.interp(t, a, b), [at, np.array([0.0, 1.0, 2.5, 3.0]),
                                                     np.array([1.0, -1.0, 2.0, 0.5])])  # fmt: skip
    batched = vfunc.vmap(lambda f: vnp.interp(at, xp, f))(vnp.stack([fp, 2 * fp]))
    np.testing.assert_allclose(batched, [np.interp(at, xp, fp), np.interp(at, xp, 2 * fp)])


def test_interp_errors():
    with pytest.raises(ShapeError, match="interp: xp and fp must be 1-D of one non-zero length"):
        vnp.interp(1.0, vnp.ones(3), vnp.ones(2))
    with pytest.raises(ValueError, match="interp: left must be a number or 'extrapolate'"):
        vnp.interp(1.0, vnp.ones(3), vnp.ones(3), left="clamp")
    with pytest.raises(ValueError, match="interp: period must be nonzero"):
        vnp.interp(1.0, vnp.ones(3), vnp.ones(3), period=0)


def test_bincount_and_histogram_match_numpy(x64):
    rng = np.random.default_rng(14)
    xi, w = rng.integers(0, 6, 20), rng.normal(size=20)
    np.testing.assert_array_equal(vnp.bincount(xi), np.bincount(xi))
    np.testing.assert_allclose(vnp.bincount(xi, w, minlength=9), np.bincount(xi, w, minlength=9))
    np.testing.assert_array_equal(
        vnp.bincount(vnp.array([1, 1, 3]), length=2), JAX["bincount_length2"]
    )
    jitted = vfunc.jit(lambda t: vnp.bincount(t, length=7))(xi)
    np.testing.assert_array_equal(jitted, np.bincount(xi, minlength=7)[:7])
    d = rng.normal(size=100)
    edges_given = {"bins": np.array([-2.0, 0, 0.5, 3])}
    for kw in ({}, {"bins": 7}, {"bins": 5, "range": (-1, 1)}, edges_given,
               {"weights": rng.uniform(size=100)}, {"density": True, "bins": 4}):  # fmt: skip
        counts, edges = vnp.histogram(d, **kw)
        ref_counts, ref_edges = np.histogram(d, **kw)
        np.testing.assert_allclose(counts, ref_counts, err_msg=str(kw))
        np.testing.assert_allclose(edges, ref_edges)
        args = (d, kw.get("bins", 10), kw.get("range"))
        np.testing.assert_allclose(vnp.histogram_bin_edges(*args), np.histogram_bin_edges(*args))
    for same in (np.ones(4), np.array([2.5])):
        np.testing.assert_allclose(vnp.histogram(same, bins=4)[0], np.histogram(same, bins=4)[0])
    counts, _ = vfunc.jit(lambda q: vnp.histogram(q, bins=3))(d)
    np.testing.assert_allclose(counts, np.histogram(d, bins=3)[0])
    check_grads(
        lambda ww: vnp.histogram(d, bins=4, weights=ww, density=True)[0], [rng.uniform(size=100)]
    )


def test_binning_errors():
    with pytest.raises(ConcretizationTypeError, match="bincount: .* pass length="):
        vfunc.jit(vnp.bincount)(vnp.array([1, 2]))
    with pytest.raises(TypeError, match="bincount: x must be a 1-D integer array"):
        vnp.bincount(vnp.ones(3))
    with pytest.raises(ValueError, match="bincount: x must be non-negative"):
        vnp.bincount(vnp.array([1, -1]))
    with pytest.raises(ShapeError, match="searchsorted: a must be 1-D"):
        vnp.searchsorted(vnp.ones((2, 2)), 1.0)
    with pytest.raises(ValueError, match="searchsorted: side must be"):
        vnp.searchsorted(vnp.ones(2), 1.0, side="middle")
    with pytest.raises(ValueError, match="histogram: bins must be positive"):
        vnp.histogram(vnp.ones(3), bins=0)


def test_trapezoid_and_ediff1d(x64):
    rng = np.random.default_rng(15)
    y, xs = rng.normal(size=(3, 6)), np.sort(rng.normal(size=6))
    np.testing.assert_allclose(vnp.trapezoid(y), np.trapezoid(y))
    np.testing.assert_allclose(vnp.trapezoid(y, xs), np.trapezoid(y, xs))
    np.testing.assert_allclose(vnp.trapezoid(y, dx=0.3, axis=0), np.trapezoid(y, dx=0.3, axis=0))
    grid = np.tile(xs, (3, 1))
    np.testing.assert_allclose(vnp.trapezoid(y, grid), np.trapezoid(y, grid))
    check_grads(lambda a, b: vnp.trapezoid(a, b), [y, xs])
    np.testing.assert_allclose(vfunc.vmap(vnp.trapezoid)(y), np.trapezoid(y))
    out = vnp.ediff1d(vnp.array([1, 4, 9]), to_begin=vnp.array([0]), to_end=5)
    np.testing.assert_array_equal(out, np.ediff1d([1, 4, 9], to_begin=[0], to_end=5))
    np.testing.assert_array_equal(vnp.ediff1d(y), np.ediff1d(y))
    with pytest.raises(ShapeError, match="trapezoid: x of length 4 must match"):
        vnp.trapezoid(y, np.ones(4))


# ------------------------------------------------------------------------------ set operations


def test_unique_size_padding_follows_jax(x64):
    x = vnp.array([3, 1, 3, 2])
    for key, size in (("unique_size6", 6), ("unique_size2", 2)):
        got = vnp.unique(x, True, True, True, size=size)
        for g, ref in zip(got, JAX[key], strict=True):
            np.testing.assert_array_equal(g, ref)
    rows = vnp.array([[3, 1], [3, 1], [0, 5]])
    for g, ref in zip(vnp.unique(rows, True, True, True, axis=0, size=4), JAX["unique_axis0_size4"],
                      strict=True):  # fmt: skip
        np.testing.assert_array_equal(g, ref)
    inverse = vnp.unique(vnp.array([[3, 1], [3, 2]]), return_inverse=True)[1]
    np.testing.assert_array_equal(inverse, JAX["unique_inverse_2d"])
    nan3 = vnp.array([np.nan, 1.0, np.nan])
    np.testing.assert_array_equal(vnp.unique_values(nan3), JAX["unique_values_nan"])
    np.testing.assert_array_equal(vnp.unique(nan3, return_counts=True)[1], JAX["unique_nan_counts"])
    a, b = vnp.array([3, 1, 3, 2]), vnp.array([7, 1])
    np.testing.assert_array_equal(vnp.setdiff1d(a, b, size=4), JAX["setdiff1d_size4"])
    np.testing.assert_array_equal(vnp.union1d(a, b, size=6), JAX["union1d_size6"])
    np.testing.assert_array_equal(vnp.setxor1d(a, b, size=5), JAX["setxor1d_size5"])
    both = vnp.intersect1d(a, vnp.array([7, 1, 3, 3]), size=4)
    np.testing.assert_array_equal(both, JAX["intersect1d_size4"])


def test_set_operations_match_numpy(x64):
    rng = np.random.default_rng(16)
    for t in range(25):
        a = rng.integers(0, 6, rng.integers(1, 12)).astype(float)
        b = rng.integers(0, 6, rng.integers(1, 12)).astype(float)
        if t % 3 == 0:
            a[0] = np.nan
        for g, ref in zip(
            vnp.unique(a, True, True, True), np.unique(a, True, True, True), strict=True
        ):
            np.testing.assert_array_equal(g, np.reshape(ref, np.shape(g)))
        np.testing.assert_array_equal(vnp.union1d(a, b), np.union1d(a, b))
        np.testing.assert_array_equal(vnp.setdiff1d(a, b), np.setdiff1d(a, b))
        np.testing.assert_array_equal(vnp.setxor1d(a, b), np.setxor1d(a, b))
        np.testing.assert_array_equal(vnp.isin(a, b), np.isin(a, b))
        np.testing.assert_array_equal(vnp.isin(a, b, invert=True), np.isin(a, b, invert=True))
        for g, ref in zip(vnp.intersect1d(a, b, return_indices=True),
                          np.intersect1d(a, b, return_indices=True), strict=True):  # fmt: skip
            np.testing.assert_array_equal(g, ref)
        m = rng.integers(0, 2, (7, 3))
        for axis in (0, 1):
            for g, ref in zip(vnp.unique(m, True, True, True, axis=axis),
                              np.unique(m, True, True, True, axis=axis), strict=True):  # fmt: skip
                np.testing.assert_array_equal(g, np.reshape(ref, np.shape(g)))
    z = np.array([1 + 2j, 1 - 1j, 1 + 2j])
    np.testing.assert_array_equal(vnp.unique(z), np.unique(z))
    res = vnp.unique_all(vnp.array([3, 1, 3, 2]))
    assert res._fields == ("values", "indices", "inverse_indices", "counts")
    np.testing.assert_array_equal(res.counts, [1, 1, 2])
    np.testing.assert_array_equal(vnp.unique_counts(vnp.array([2, 2])).counts, [2])
    np.testing.assert_array_equal(vnp.unique_inverse(vnp.array([[2, 0]])).inverse_indices, [[1, 0]])


def test_unique_under_jit_and_vmap(x64):
    x = vnp.array([3, 1, 3, 2])
    vals, counts = vfunc.jit(lambda t: vnp.unique(t, size=3, return_counts=True))(x)
    np.testing.assert_array_equal(vals, [1, 2, 3])
    np.testing.assert_array_equal(counts, [1, 1, 2])
    rows = vnp.array([[3, 1, 3], [2, 2, 2]])
    out = vfunc.vmap(lambda t: vnp.unique(t, size=3, fill_value=-1))(rows)
    np.testing.assert_array_equal(out, [[1, 3, -1], [2, -1, -1]])
    np.testing.assert_array_equal(
        vfunc.jit(lambda a, b: vnp.setdiff1d(a, b, size=3))(x, vnp.array([1])), [2, 3, 0]
    )
    np.testing.assert_array_equal(
        vfunc.jit(vnp.isin)(x, vnp.array([1, 2])), [False, True, False, True]
    )


def test_unique_errors():
    with pytest.raises(ConcretizationTypeError, match="unique: .* pass size="):
        vfunc.jit(vnp.unique)(vnp.array([1, 2]))
    with pytest.raises(ConcretizationTypeError, match="setdiff1d: .* pass size="):
        vfunc.jit(vnp.setdiff1d)(vnp.array([1, 2]), vnp.array([1]))
    with pytest.raises(ValueError, match="unique: an empty input with size > 0 needs fill_value"):
        vnp.unique(vnp.zeros(0), size=2)
    np.testing.assert_array_equal(vnp.unique(vnp.zeros(0), size=2, fill_value=7), [7, 7])
    assert vnp.unique(vnp.zeros(0)).shape == (0,)


# --------------------------------------------------------------------------------- polynomials


def test_polynomials_match_numpy_and_jax(x64):
    u, v = np.array([1.0, 2, 3, 4]), np.array([2.0, 1])
    for g, ref in zip(vnp.polydiv(u, v), JAX["polydiv"], strict=True):
        np.testing.assert_allclose(g, ref)
    np.testing.assert_allclose(vnp.polymul([0.0, 1, 2], v), JAX["polymul_untrimmed"])
    np.testing.assert_allclose(
        vnp.polymul([0.0, 1, 2], v, trim_leading_zeros=True), np.polymul([0.0, 1, 2], v)
    )
    np.testing.assert_allclose(vnp.polyadd([0.0, 1, 2], v), np.polyadd([0.0, 1, 2], v))
    np.testing.assert_allclose(vnp.polysub(v, u), np.polysub(v, u))
    np.testing.assert_allclose(
        vnp.polyint(u, 2, k=np.array([1.0, 2.0])), np.polyint(u, 2, k=[1.0, 2.0])
    )
    np.testing.assert_allclose(vnp.polyint(u), np.polyint(u))
    np.testing.assert_allclose(vnp.polyder(u, 2), np.polyder(u, 2))
    np.testing.assert_allclose(vnp.poly([1.0, 2.0, -0.5]), np.poly([1.0, 2.0, -0.5]))
    x = np.linspace(-2, 2, 7)
    np.testing.assert_allclose(vnp.polyval(u, x), np.polyval(u, x))
    for n in (1, 3, 5):
        np.testing.assert_allclose(vnp.vander(x, n), np.vander(x, n))
        np.testing.assert_allclose(vnp.vander(x, n, True), np.vander(x, n, True))
    x = np.linspace(-2, 2.5, 7)  # not symmetric: no coefficient is zero up to rounding
    y = x**2 + 0.1 * np.sin(5 * x)
    np.testing.assert_allclose(vnp.polyfit(x, y, 2), np.polyfit(x, y, 2))
    for g, ref in zip(vnp.polyfit(x, y, 2, cov=True), np.polyfit(x, y, 2, cov=True), strict=True):
        np.testing.assert_allclose(g, ref)
    both = np.stack([y, y[::-1]], 1)
    for g, ref in zip(
        vnp.polyfit(x, both, 2, cov=True), np.polyfit(x, both, 2, cov=True), strict=True
    ):
        np.testing.assert_allclose(g, ref, atol=1e-12)
    w = np.linspace(1, 2, 7)
    np.testing.assert_allclose(vnp.polyfit(x, y, 3, w=w), np.polyfit(x, y, 3, w=w))
    for g, ref in zip(
        vnp.polyfit(x, y, 1, full=True)[:4], np.polyfit(x, y, 1, full=True)[:4], strict=True
    ):
        np.testing.assert_allclose(g, ref)


def test_polynomial_gradients():
    x = np.linspace(-1, 1.5, 6)
    check_grads(lambda c, t: vnp.polyval(c, t), [np.array([0.5, -1.0, 2.0, 0.3]), x])
    check_grads(lambda t, y: vnp.polyfit(t, y, 2), [x, np.cos(x)], modes=("rev",))
    np.testing.assert_allclose(
        vfunc.vmap(lambda c: vnp.polyval(c, 2.0))(np.eye(3)), [4.0, 2.0, 1.0]
    )


@pytest.mark.skipif(not hasattr(vnp.linalg, "eigvals"), reason="vnp.linalg.eigvals not built yet")
def test_roots_match_numpy(x64):
    for p in ([1.0, -3.0, 2.0], [0.0, 1.0, -3.0, 2.0], [1.0, -3.0, 2.0, 0.0, 0.0], [2.0, 0.0, 1.0]):
        np.testing.assert_allclose(
            np.sort_complex(np.asarray(vnp.roots(p))), np.sort_complex(np.roots(p))
        )


def test_polynomial_errors():
    with pytest.raises(ShapeError, match="polyval: p must be a 1-D coefficient vector"):
        vnp.polyval(vnp.ones((2, 2)), 1.0)
    with pytest.raises(ConcretizationTypeError, match="polymul: trimming leading zeros"):
        vfunc.jit(lambda a: vnp.polymul(a, a, trim_leading_zeros=True))(vnp.ones(2))
    with pytest.raises(ValueError, match="polyfit: deg must be non-negative"):
        vnp.polyfit(vnp.ones(3), vnp.ones(3), -1)


# ------------------------------------------------------------------------ dtype names cast


def test_dtype_names_cast_like_jax():
    assert str(vnp.float32(3.7).dtype) == JAX["float32_cast"][0]
    assert int(vnp.int32(2.7)) == JAX["float32_cast"][1]
    assert str(vnp.float32(vnp.arange(3)).dtype) == JAX["float32_cast"][2]
    assert isinstance(vnp.float32(3.0), vfunc.Array)
    assert vnp.zeros(3, vnp.float32).dtype == np.float32
    assert vnp.ones(2).astype(vnp.int32).dtype == np.int32
    assert vnp.dtype(vnp.float32) == np.dtype("float32") and np.dtype(vnp.int8) == np.int8
    assert vnp.float32 == np.float32 and hash(vnp.float32) == hash(np.float32)
    assert vnp.issubdtype(vnp.float32, vnp.floating) and not vnp.issubdtype(vnp.int32, vnp.floating)
    assert isinstance(np.float32(1.0), vnp.float32) and not isinstance(np.float64(1.0), vnp.float32)
    assert (
        vnp.float32.dtype == np.dtype("float32")
        and repr(vnp.float32) == "<class 'vfunc.numpy.float32'>"
    )
    assert vnp.array([1, 2], dtype=vnp.float32).dtype == np.float32
    assert vnp.finfo(vnp.float32).eps == np.finfo(np.float32).eps
    assert bool(vnp.bool_(1)) is True and vnp.bool is vnp.bool_


def test_dtype_names_cast_traced_values():
    assert float(vfunc.grad(lambda x: vnp.float32(x) * 2)(3.0)) == 2.0
    np.testing.assert_array_equal(vfunc.vmap(vnp.int32)(vnp.array([0.5, 1.5, -2.7])), [0, 1, -2])
    out = vfunc.jit(vnp.float32)(vnp.arange(3))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [0.0, 1.0, 2.0])
