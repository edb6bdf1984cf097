"""Fused kernels take broadcast views without copying them, and logistic's one-pass impl.

A broadcast result (a per-channel vector as (N, C, H, W), the VJP's broadcast of a reduced
cotangent) is a zero-stride view: a fused loop over raveled operands would copy it whole, so
such operands go to an N-D kernel as they are. The results must equal NumPy's either way.
"""

from __future__ import annotations

import numpy as np
import pytest

import vfunc
import vfunc.numpy as vnp
from vfunc.primitives.elementwise import _logistic
from vfunc.transforms.compiler import fusion


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(3, 64, 37, 29), (fusion.MIN_FUSED_SIZE // 2 + 3, 2)])
def test_broadcast_views_reach_the_fused_kernel_uncopied(dtype, shape):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    s = rng.standard_normal(shape[1:2]).astype(dtype)
    b = rng.standard_normal(shape[1:2]).astype(dtype)
    tail = (None,) * (len(shape) - 2)

    def f(x, s, b):
        ss = vnp.broadcast_to(s[(slice(None), *tail)], x.shape)
        bb = vnp.broadcast_to(b[(slice(None), *tail)], x.shape)
        return vnp.maximum(x * ss + bb, 0) * 2

    jitted = vfunc.jit(f)
    got = np.asarray(jitted(x, s, b))
    want = np.maximum(x * s[(slice(None), *tail)] + b[(slice(None), *tail)], 0) * 2
    # The kernel contracts x * s + b into a fused multiply-add: compare at the operands' scale.
    eps = np.finfo(got.dtype).eps  # float64 runs as float32 unless x64 is on
    np.testing.assert_allclose(got, want, rtol=4 * eps, atol=16 * eps)
    source = jitted.lower(x, s, b).compile().as_text()
    assert "fused" in source and "np.ravel" not in source.split("# @numba")[0]



def test_fresh_results_keep_the_flat_kernel():
    # A matmul's result is a fresh contiguous array: raveling it is free, and the flat kernel
    # compiles faster than an N-D one (the MLP step's first call). Only ops declaring
    # strided_view (and reshapes of their results) send a fused cluster to the N-D kernel.
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((512, 300)), rng.standard_normal((300, 512))
    c = rng.standard_normal((512, 512))

    def f(a, b, c):
        return vnp.tanh(a @ b) * 2 + c

    jitted = vfunc.jit(f)
    a32, b32, c32 = (v.astype(np.float32) for v in (a, b, c))
    np.testing.assert_allclose(np.asarray(jitted(a32, b32, c32)),
                               np.tanh(a32 @ b32) * 2 + c32, rtol=2e-5, atol=2e-5)  # fmt: skip
    source = jitted.lower(a32, b32, c32).compile().as_text().split("# @numba")[0]
    assert "fused" in source and "np.ravel" in source and "np.broadcast_to" not in source


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logistic_is_accurate_over_the_whole_range(dtype):
    # Independent reference: the formula in extended precision.
    x = np.concatenate([np.linspace(-800, 800, 100001), -np.logspace(-30, 3, 500),
                        np.logspace(-30, 3, 500), [-0.0, 0.0]]).astype(dtype)  # fmt: skip
    ref = 1 / (1 + np.exp(-x.astype(np.longdouble)))
    got = _logistic(x)
    assert got.dtype == dtype
    spacing = np.spacing(ref.astype(dtype)).astype(np.longdouble)
    tiny = np.finfo(dtype).smallest_subnormal
    ulps = np.abs(got.astype(np.longdouble) - ref) / np.maximum(spacing, tiny)
    assert ulps.max() <= 3
    # Very negative inputs keep their (subnormal) tail instead of flushing early.
    assert _logistic(np.array([-100.0], dtype))[0] > 0
    np.testing.assert_array_equal(_logistic(np.array([-np.inf, np.inf], dtype)), [0, 1])
    assert np.isnan(_logistic(np.array([np.nan], dtype))[0])


def test_logistic_keeps_float16_and_grad_under_jit():
    x16 = np.array([-3.0, 0.0, 2.0], np.float16)
    assert _logistic(x16).dtype == np.float16
    x = np.linspace(-5, 5, 7).astype(np.float32)
    g = vfunc.jit(vfunc.grad(lambda x: vnp.sum(vfunc.nn.sigmoid(x))))(x)
    s = 1 / (1 + np.exp(-x.astype(np.float64)))
    # The VJP forms 1 - out, which loses digits in float32 where out is near 1.
    np.testing.assert_allclose(np.asarray(g), s * (1 - s), rtol=2e-5)


@pytest.mark.parametrize("constant", [np.nan, np.inf, -np.inf])
def test_a_fused_kernel_takes_non_finite_constants(constant):
    # A literal NaN or inf in a fused cluster was written as the bare name nan / inf into the
    # kernel's source, which numba could not compile (the eigh VJP's NaN for a degenerate
    # eigenspace met it at 256x256 under jit).
    x = np.random.default_rng(0).normal(size=(256, 256)).astype(np.float32)
    assert x.size >= fusion.MIN_FUSED_SIZE  # the cluster is fused, not run op by op
    fun = vfunc.jit(lambda a: vnp.where(a > 0, a * 2.0 + constant, a - 1.0))
    want = np.where(x > 0, x * np.float32(2.0) + np.float32(constant), x - np.float32(1.0))
    np.testing.assert_array_equal(np.asarray(fun(vnp.asarray(x))), want)
