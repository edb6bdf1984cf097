"""The fast paths a small CNN's training step takes, each reached and checked under grad, vmap
and jit: whole-image conv slabs (small output planes on the BLAS path), the serial direct
kernels (small problems), and serial fused loops for mid-sized activations (a BatchNorm of
64x64x4x4)."""

from __future__ import annotations

import numpy as np
import pytest

import vfunc
import vfunc.numpy as vnp
from vfunc import lax, nn
from vfunc.primitives import conv_kernels
from vfunc.primitives.conv_kernels import direct
from vfunc.primitives.conv_kernels.plan import ConvParams, conv_plan
from vfunc.testing import check_grads
from vfunc.transforms.compiler import fusion

# (x shape, w shape, strides, padding): one problem per path.
IMAGE_SLABS = ((3, 4, 5, 4), (16, 4, 3, 3), (1, 1), ((1, 1), (1, 1)))
IMAGE_SLABS_STRIDED = ((2, 4, 7, 6), (16, 4, 3, 3), (2, 2), ((1, 0), (0, 1)))
DIRECT_SERIAL = ((2, 2, 6, 5), (3, 2, 3, 3), (1, 1), ((1, 1), (1, 1)))


def _reaches(case, path: str) -> None:
    xs, ws, strides, pads = case
    plan = conv_plan(xs, ws, ConvParams.of(strides, pads, (1,) * 2, (1,) * 2, 1))
    blas = conv_kernels._uses_blas(plan)
    if path == "image_slabs":
        for dtype in (np.float32, np.float64):
            assert blas and conv_kernels._images_per_slab(plan, np.dtype(dtype)) == xs[0]
    else:
        assert not blas and direct._macs(plan) < direct.SERIAL_MACS


def _conv(strides, pads):
    return lambda x, w: lax.conv_general_dilated(x, w, strides, pads)


@pytest.mark.parametrize("case", [IMAGE_SLABS, IMAGE_SLABS_STRIDED, DIRECT_SERIAL],
                         ids=["image_slabs", "image_slabs_strided", "direct_serial"])
def test_conv_paths_gradients_match_finite_differences(case):
    _reaches(case, "direct" if case is DIRECT_SERIAL else "image_slabs")
    xs, ws, strides, pads = case
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=xs), rng.normal(size=ws)
    f = _conv(strides, pads)
    # float64 (check_grads switches x64 on), first and second order, forward and reverse.
    check_grads(lambda x, w: vnp.tanh(f(x, w)), (x, w), order=2, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("case", [IMAGE_SLABS, DIRECT_SERIAL], ids=["image_slabs", "direct"])
def test_conv_paths_under_vmap_and_jit_of_grad(case):
    xs, ws, strides, pads = case
    rng = np.random.default_rng(1)
    xb = rng.normal(size=(2, *xs)).astype(np.float32)
    wb = rng.normal(size=(2, *ws)).astype(np.float32)
    f = _conv(strides, pads)
    loss = vfunc.grad(lambda x, w: vnp.sum(vnp.tanh(f(x, w))), argnums=(0, 1))
    batched = vfunc.jit(vfunc.vmap(loss))(xb, wb)
    for i in range(2):
        for got, want in zip(batched, loss(xb[i], wb[i]), strict=True):
            np.testing.assert_allclose(got[i], want, rtol=1e-4, atol=1e-4)


def _batch_norm_loss(model, x):
    y, _ = nn.call_with_state(model, x)
    return vnp.sum(vnp.tanh(y) * vnp.arange(y.size, dtype=y.dtype).reshape(y.shape) / y.size)


def test_mid_sized_batch_norm_fuses_into_serial_loops_and_matches_eager():
    # The digits CNN's second BatchNorm: 65,536 elements, fused (one pass per chain) but below
    # PARALLEL_MIN_SIZE, so its loops run serially on the caller.
    shape = (64, 64, 4, 4)
    assert fusion.MIN_FUSED_SIZE <= np.prod(shape) < fusion.PARALLEL_MIN_SIZE
    rng = np.random.default_rng(2)
    x = vnp.asarray(rng.normal(size=shape).astype(np.float32))
    bn = nn.BatchNorm2d(64)
    grad = vfunc.grad(_batch_norm_loss, argnums=(0, 1))
    compiled = vfunc.jit(grad).lower(bn, x).compile()
    assert compiled.kernels and all("parallel=False" in k.source for k in compiled.kernels)
    got, want = vfunc.jit(grad)(bn, x), grad(bn, x)
    for a, b in zip(vfunc.tree.leaves(got), vfunc.tree.leaves(want), strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-5)


class _x64:
    def __enter__(self):
        self.previous = vfunc.config.enable_x64
        vfunc.config.update("enable_x64", True)

    def __exit__(self, *exc):
        vfunc.config.update("enable_x64", self.previous)


def test_fused_batch_norm_gradient_matches_finite_differences(monkeypatch):
    # The same fused serial loops in float64 on a small problem (the threshold lowered so that
    # it fuses), against central differences.
    monkeypatch.setattr(fusion, "MIN_FUSED_SIZE", 16)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 3, 3, 2))
    with _x64():
        bn = nn.BatchNorm2d(3, dtype=np.float64)
        bn = nn.tree_at(lambda m: (m.weight, m.bias), bn,
                        (vnp.asarray(rng.normal(size=3)), vnp.asarray(rng.normal(size=3))))
        f = vfunc.jit(lambda w, b, x: _batch_norm_loss(nn.tree_at(
            lambda m: (m.weight, m.bias), bn, (w, b)), x))  # fmt: skip
        assert vfunc.jit(vfunc.grad(f)).lower(bn.weight, bn.bias, vnp.asarray(x)).compile().kernels
        check_grads(f, (bn.weight, bn.bias, x), order=1, modes=("rev",), atol=1e-6, rtol=1e-6)


def test_a_jitted_step_with_small_products_runs_on_one_blas_thread():
    # A LeNet-sized step: every product at most SINGLE_THREAD_PRODUCT multiply-adds, so the
    # whole call holds BLAS at one thread and restores the count afterwards (also on error).
    from vfunc.primitives.conv_kernels import threads
    from vfunc.transforms.compiler import codegen

    controls = threads._openblas_thread_controls()
    rng = np.random.default_rng(4)
    x = vnp.asarray(rng.normal(size=(64, 400)).astype(np.float32))
    w = vnp.asarray(rng.normal(size=(400, 120)).astype(np.float32))

    def f(x, w):
        return vnp.tanh(x @ w)

    small = vfunc.jit(f).lower(x, w).compile()
    assert "with _single_blas():" in small.as_text()
    before = controls[0]() if controls else None
    np.testing.assert_allclose(vfunc.jit(f)(x, w), np.tanh(np.asarray(x) @ np.asarray(w)),
                               rtol=1e-5, atol=1e-5)  # fmt: skip
    if controls is not None:
        assert controls[0]() == before
    big = vfunc.ShapeDtypeStruct((400, 400 * 120), np.float32)  # lowered, never run
    assert 64 * 400 * 400 * 120 > codegen.SINGLE_THREAD_PRODUCT
    assert "_single_blas" not in vfunc.jit(f).lower(x, big).compile().as_text()
    # Without matrix products nothing changes.
    assert "_single_blas" not in vfunc.jit(vnp.tanh).lower(x).compile().as_text()
