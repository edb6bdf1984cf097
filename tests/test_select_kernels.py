"""select's branch-free loop for large operands (``vfunc.primitives.select_kernels``) gives
np.where's result bit for bit: every dtype it takes, scalar-broadcast and strided operands,
NaN, infinities and signed zeros, and through jit and the VJP of maximum (ReLU)."""

from __future__ import annotations

import numba
import numpy as np
import pytest

import vfunc
import vfunc.numpy as vnp
from vfunc import lax
from vfunc.primitives import elementwise, select_kernels

SHAPE = (64, 130)  # above the loop's threshold, not a multiple of a vector width


def _operands(dtype, rng):
    if dtype == np.bool_:
        return rng.random(SHAPE) < 0.5, rng.random(SHAPE) < 0.5
    a = (rng.normal(size=SHAPE) * 100).astype(dtype)
    b = (rng.normal(size=SHAPE) * 100).astype(dtype)
    if a.dtype.kind == "f":
        a.flat[:4] = [np.nan, np.inf, -np.inf, -0.0]
        b.flat[:4] = [0.0, -0.0, np.nan, np.inf]
    return a, b


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64, np.uint8, np.bool_])
def test_the_loop_matches_np_where_bit_for_bit(dtype, rng):
    a, b = _operands(dtype, rng)
    pred = rng.random(SHAPE) < 0.5
    scalar = np.broadcast_to(np.asarray(a.flat[7]), SHAPE)
    cases = [(a, b), (a, scalar), (scalar, b), (scalar, np.broadcast_to(b.flat[3], SHAPE))]
    for t, f in cases:
        got = elementwise._select(pred, t, f)
        want = np.where(pred, t, f)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))
        assert select_kernels.select(pred, t, f) is not None  # the loop ran, not np.where
    # read-only and writeable operands share one compiled signature per dtype
    kind = numba.from_dtype(a.dtype)
    assert len([s for s in select_kernels._blend.signatures if s[1].dtype == kind]) == 1


def test_other_layouts_fall_back_to_np_where(rng):
    a, b = _operands(np.float32, rng)
    pred = rng.random(SHAPE) < 0.5
    strided = np.asarray(rng.normal(size=(SHAPE[1], SHAPE[0])), np.float32).T  # Fortran order
    row = np.broadcast_to(b[0], SHAPE)  # broadcast along one axis only
    for t, f, p in ((strided, b, pred), (a, row, pred), (a, b, pred.T.copy().T)):
        if p is pred:
            assert select_kernels.select(p, t, f) is None
        np.testing.assert_array_equal(elementwise._select(p, t, f), np.where(p, t, f))
    small = (pred[:2, :3], a[:2, :3], b[:2, :3])  # below the threshold: np.where itself
    np.testing.assert_array_equal(elementwise._select(*small), np.where(*small))


def test_select_through_jit_and_the_relu_vjp(rng):
    x = rng.normal(size=SHAPE).astype(np.float32)
    x.flat[:3] = 0.0  # ties take half the cotangent, as JAX
    g = rng.normal(size=SHAPE).astype(np.float32)
    want = np.where(x > 0, g, np.where(x == 0, g * np.float32(0.5), np.float32(0)))
    _, vjp_fn = vfunc.vjp(lambda x: vnp.maximum(x, 0.0), vnp.asarray(x))
    np.testing.assert_array_equal(np.asarray(vjp_fn(vnp.asarray(g))[0]), want)
    relu_grad = vfunc.jit(lambda x, g: vfunc.vjp(lambda x: vnp.maximum(x, 0.0), x)[1](g)[0])
    np.testing.assert_array_equal(np.asarray(relu_grad(vnp.asarray(x), vnp.asarray(g))), want)
    pred = vnp.asarray(x > 0)
    got = vfunc.jit(lax.select)(pred, vnp.asarray(x), vnp.asarray(g))
    np.testing.assert_array_equal(np.asarray(got), np.where(x > 0, x, g))
