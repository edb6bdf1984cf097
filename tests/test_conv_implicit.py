"""The implicit-GEMM path of the packed family (unit strides on a zero-padded grid, many channels
per group), the conv worker pool's scheduling, and the conv workspace's bound: its extra memory
does not grow with the batch."""

from __future__ import annotations

import threading
import tracemalloc

import numpy as np
import pytest

import vfunc
import vfunc.numpy as vnp
from vfunc import lax
from vfunc.primitives import conv_kernels
from vfunc.primitives.conv_kernels import ConvParams, packed, threads
from vfunc.primitives.conv_kernels.plan import conv_plan

from references import conv as cref

IMPLICIT_CASES = [  # (x shape, w shape, padding, rhs_dil, groups)
    ((2, 16, 9, 10), (32, 16, 3, 3), ((1, 1), (1, 1)), (1, 1), 1),  # SAME
    ((2, 32, 7, 8), (32, 16, 3, 2), ((2, 0), (1, 2)), (2, 1), 2),  # groups, dilation, skewed pads
    ((3, 16, 13), (16, 16, 3), ((0, 2),), (1,), 1),  # 1-D
    ((2, 16, 8, 8), (16, 16, 5, 5), ((0, 0), (0, 0)), (1, 1), 1),  # VALID
]  # fmt: skip


@pytest.mark.parametrize("band_bytes", [1 << 20, 1], ids=["whole_images", "one_row_bands"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", IMPLICIT_CASES, ids=lambda c: f"{c[0]}x{c[1]}")
def test_implicit_gemm_matches_reference(case, dtype, band_bytes, monkeypatch):
    monkeypatch.setattr(conv_kernels, "BAND_BYTES", band_bytes)
    xs, ws, pads, rds, groups = case
    nsp = len(xs) - 2
    params = ((1,) * nsp, pads, (1,) * nsp, rds, groups)
    cp = ConvParams.of(*params)
    assert packed.implicit_gemm(conv_plan(xs, ws, cp)), "the case no longer reaches the path"
    rng = np.random.default_rng(sum(xs))
    x, w = rng.normal(size=xs).astype(dtype), rng.normal(size=ws).astype(dtype)
    tol = {"rtol": 1e-4, "atol": 1e-4} if dtype == np.float32 else {"rtol": 1e-10, "atol": 1e-10}
    y = conv_kernels.conv_forward(x, w, cp)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, cref.conv(x, w, *params), **tol)
    g = rng.normal(size=y.shape).astype(dtype)
    rdx, rdw = cref.conv_vjp(x, w, g, *params)
    np.testing.assert_allclose(conv_kernels.conv_input_grad(g, w, xs, cp), rdx, **tol)
    np.testing.assert_allclose(conv_kernels.conv_weight_grad(x, g, ws, cp), rdw, **tol)
