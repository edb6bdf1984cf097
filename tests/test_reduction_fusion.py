"""Reductions compiled into fused numba loops (``Fusion.identity``), checked against NumPy.

Sum, max and min over every set of axes of an odd-shaped operand, alone (the loop runs where
the axes are separated, as a max-pool's) and fused with the elementwise chain producing their
operand; NaN propagates through max and min as in NumPy; gradients through jit match the
analytic ones. Every case also checks that the loop was really used (the generated source), so
a change that stopped fusing would fail here instead of passing on numpy's path.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import vfunc
import vfunc.numpy as vnp
from vfunc.transforms.compiler import fusion

SHAPE = (7, 9, 37, 29, 2)  # 135198 elements: chains and reductions fuse; odd extents
ALL_AXES = [c for r in range(1, 6) for c in itertools.combinations(range(5), r)]
REDUCERS = {"sum": (vnp.sum, np.sum), "max": (vnp.max, np.max), "min": (vnp.min, np.min)}


def _source(jitted, *args) -> str:
    return jitted.lower(*args).compile().as_text()


def _tolerance(dtype, name: str, count: int, chain: bool = True) -> dict:
    eps = np.finfo(dtype).eps
    if name != "sum":
        # Max and min are exact; a chain's a * b + c may be one fused multiply-add: an ulp of
        # the product (terms up to ~32 here), however small the sum.
        return {"rtol": 2 * eps, "atol": 64 * eps} if chain else {"rtol": 0, "atol": 0}
    # A running sum (float64 for both dtypes) against numpy's pairwise one: errors grow like
    # sqrt(count) roundings of terms of size ~1.
    return {"rtol": 8 * eps * np.sqrt(count), "atol": 8 * eps * np.sqrt(count) * count}


# float32 over every axis set; float64 over a few (each case compiles one loop).
CHAIN_CASES = [(np.float32, axes) for axes in ALL_AXES] + [
    (np.float64, axes) for axes in [(0,), (4,), (1, 3), (0, 2, 4), (0, 1, 2, 3, 4)]
]


@pytest.mark.parametrize(("dtype", "axes"), CHAIN_CASES)
def test_fused_reductions_of_a_chain_match_numpy(dtype, axes, rng, x64):
    x = rng.standard_normal(SHAPE).astype(dtype)
    y = rng.standard_normal(SHAPE).astype(dtype)

    def chain(x, y):  # sum, max and min of one chain: one loop with three accumulators
        z = (x - y) * (x - y) + x
        return tuple(ours(z, axis=axes) for ours, _ in REDUCERS.values())

    jitted = vfunc.jit(chain)
    z = (x - y) * (x - y) + x
    count = int(np.prod([SHAPE[a] for a in axes]))
    for (name, (_, theirs)), got in zip(REDUCERS.items(), jitted(x, y), strict=True):
        got, want = np.asarray(got), theirs(z, axis=axes)
        assert got.dtype == dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, **_tolerance(dtype, name, count))
    assert x.size >= fusion.MIN_FUSED_SIZE
    source = _source(jitted, x, y).split("# @numba")[0]
    if _loop_expected(SHAPE, axes):  # one loop for the chain and all three reductions
        assert source.count("np.full(") == 3 and "reduce_" not in source
    else:  # numpy's reduce is faster than the loop
        assert source.count("reduce_") == 3


def _loop_expected(shape, axes) -> bool:
    """Separated axes, and the innermost run of all-reduced or all-kept axes is short: where
    numpy's reduce goes element by element."""
    inner = 1
    for d in reversed(range(len(shape))):
        if (d in axes) != (len(shape) - 1 in axes):
            break
        inner *= shape[d]
    return axes[-1] - axes[0] + 1 != len(axes) and inner < 16


@pytest.mark.parametrize("name", sorted(REDUCERS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_reduction_over_separated_axes_runs_as_a_loop(name, dtype, rng, x64):
    # The max-pool idiom: a 6-D view of an image, reduced over axes 3 and 5.
    x = rng.standard_normal((16, 3, 26, 26)).astype(dtype)
    ours, theirs = REDUCERS[name]
    pool = vfunc.jit(lambda h: ours(h.reshape(16, 3, 13, 2, 13, 2), axis=(3, 5)))
    got = np.asarray(pool(x))
    want = theirs(x.reshape(16, 3, 13, 2, 13, 2), axis=(3, 5))
    np.testing.assert_allclose(got, want, **_tolerance(dtype, name, 4, chain=False))
    source = _source(pool, x)
    assert "np.full(" in source and "reduce_" not in source.split("# @numba")[0]


def test_chain_fusion_keeps_its_elementwise_output_when_read_elsewhere(rng):
    n = fusion.MIN_FUSED_SIZE
    x = rng.standard_normal((n // 16, 2, 8)).astype(np.float32)

    def f(x):
        e = vnp.exp(x - 1.0)
        return e, vnp.sum(e, axis=(0, 2))  # the loop's partials over axis 0, too

    jitted = vfunc.jit(f)
    e, s = (np.asarray(v) for v in jitted(x))
    np.testing.assert_allclose(e, np.exp(x - np.float32(1)), rtol=2e-6)
    np.testing.assert_allclose(s, np.exp(x.astype(np.float64) - 1).sum((0, 2)), rtol=1e-5)
    assert "np.full(" in _source(jitted, x)


@pytest.mark.parametrize("name", ["max", "min"])
def test_nan_propagates_through_fused_max_and_min(name, rng):
    ours, theirs = REDUCERS[name]
    x = rng.standard_normal((8, 4, 30, 2, 30, 2)).astype(np.float32)
    x[1, 2, 3, 1, 4, 0] = np.nan  # one window holds a NaN (not first in it)
    x[5, 0, 0, 0, 0, 0] = np.nan  # another holds it first
    x[2, 1, :, :, :, :] = np.inf if name == "min" else -np.inf  # a window of identities
    jitted = vfunc.jit(lambda h: ours(h, axis=(3, 5)))
    got = np.asarray(jitted(x))
    want = theirs(x, axis=(3, 5))
    np.testing.assert_array_equal(got, want)  # NaN positions included
    assert np.isnan(got[1, 2, 3, 4]) and np.isnan(got[5, 0, 0, 0])
    assert "np.full(" in _source(jitted, x)


def test_grad_through_jit_of_fused_reductions(rng, x64):
    x = rng.standard_normal((6, 4, 30, 30))
    w = rng.standard_normal((6, 4, 30, 30))

    def loss(x):
        pooled = vnp.max(x.reshape(6, 4, 15, 2, 15, 2), axis=(3, 5))
        return vnp.sum(pooled) + vnp.sum((x - 0.5) * (x - 0.5) * w)

    g = np.asarray(vfunc.jit(vfunc.grad(loss))(x))
    windows = x.reshape(6, 4, 15, 2, 15, 2)
    hits = windows == windows.max(axis=(3, 5), keepdims=True)  # distinct values: one hit each
    want = hits.reshape(x.shape).astype(float) + 2 * (x - 0.5) * w
    np.testing.assert_allclose(g, want, rtol=1e-12, atol=1e-12)
    # and against central differences in float64, on a few coordinates
    f = vfunc.jit(loss)
    for index in [(0, 0, 0, 0), (5, 3, 29, 29), (2, 1, 7, 12)]:
        e = np.zeros_like(x)
        e[index] = 1e-6
        fd = (float(f(x + e)) - float(f(x - e))) / 2e-6
        np.testing.assert_allclose(g[index], fd, rtol=1e-5, atol=1e-6)


def test_full_and_empty_reductions(rng, x64):
    x = rng.standard_normal((40, 41, 7))
    for ours, theirs in REDUCERS.values():  # separated axes (0, 2), a short last axis: the loop
        jitted = vfunc.jit(lambda v, ours=ours: ours(v * 2.0, axis=(0, 2)))
        np.testing.assert_allclose(np.asarray(jitted(x)), theirs(x * 2.0, axis=(0, 2)),
                                   rtol=1e-13)  # fmt: skip
    # A full reduction (no kept axis) split over the parallel loop's axis 0.
    x = rng.standard_normal((7000, 3, 10))
    total = vfunc.jit(lambda v: vnp.max(v * v, axis=(0, 2)).sum())
    np.testing.assert_allclose(float(total(x)), float(np.max(x * x, axis=(0, 2)).sum()),
                               rtol=1e-13)  # fmt: skip
