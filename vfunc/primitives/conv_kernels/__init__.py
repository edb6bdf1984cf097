"""Convolution kernels: the three entry points the conv primitives call, and which family runs.

Layout and index tables are described in ``plan``; the families live beside it:

* ``direct`` -- direct loops, parallel over (image, channel) planes, for few channels per group
  (depthwise, LeNet-sized layers), where a matrix product would be tiny; on a zero-padded grid
  when strides are 1 (long contiguous runs), else through the index tables;
* ``packed`` -- BLAS, one single-threaded BLAS per thread (``threads``), for everything else:
  an implicit GEMM on a padded grid for unit strides (one GEMM per tap on shifted views of a
  padded band, no im2col), bounded im2col slabs otherwise: slabs of whole images when output
  planes are small (under ``IMAGE_SLAB_PIXELS``; one GEMM per slab, and a single slab run
  inline on the caller below ``INLINE_MACS``), of rows within an image when they are not. The
  input gradient of a unit-stride convolution is the forward convolution of ``g`` with the
  flipped, transposed kernel, whose packing is cheaper than scattering a slab back.

Small problems stay on the calling thread (the direct family's serial builds below
``direct.SERIAL_MACS``, one inline slab): on a busy 2-core machine a hand-off to other threads
waits for them to be scheduled, which cost more than a LeNet-sized layer's whole work.

The windowed reductions (pooling) have their own kernels in ``vfunc.primitives.window_kernels``.
"""

from __future__ import annotations

import math

import numpy as np

from vfunc.primitives.conv_kernels import direct, packed, threads
from vfunc.primitives.conv_kernels.plan import ConvParams, ConvPlan, conv_out_size, conv_plan

# The BLAS thread control, reachable here for the test that checks it is restored.
from vfunc.primitives.conv_kernels.threads import _openblas_thread_controls  # noqa: F401

__all__ = ["ConvParams", "conv_forward", "conv_input_grad", "conv_weight_grad", "conv_out_size"]

# Upper bound on one packed im2col slab (per thread); the slab also shrinks for small images so
# that the workspace stays a small fraction of the operands (see ConvPlan.tile_rows). Read at
# each call, so a test can shrink it to force row tiles.
MAX_TILE_BYTES = 4 << 20
MIN_TILE_BYTES = 256 << 10
# The padded input band of the implicit GEMM: small enough that the band and its results stay
# in a core's L2 cache while every tap's GEMM reads them.
BAND_BYTES = 1 << 20


def _use_blas(og: int, cg: int, taps: int) -> bool:
    # A product with a handful of rows or a short contraction runs below BLAS's speed and pays
    # for the packing; the direct loops win there (depthwise, LeNet).
    return og >= 16 and cg * taps >= 16


def _uses_blas(plan: ConvPlan) -> bool:
    return _use_blas(plan.og, plan.cg, plan.taps)


def _tile_rows(plan: ConvPlan, dtype: np.dtype) -> int:
    """Output rows per packed slab, or per band of the implicit GEMM: within the workspace
    budget, and few enough that a small batch still makes two tasks per thread (a task runs
    single-threaded BLAS)."""
    split = 2 * threads.worker_count()
    if packed.implicit_gemm(plan):
        rows = packed.band_rows(plan, dtype.itemsize, BAND_BYTES)
        return max(1, min(rows, plan.n * plan.groups * plan.out_sp[1] // split))
    rows = plan.tile_rows(dtype.itemsize, MAX_TILE_BYTES, MIN_TILE_BYTES)
    return max(1, min(rows, plan.n * plan.per_img // split))


# Output planes below this many pixels pack slabs of whole images (``packed.forward_images``):
# per-image slabs of so few columns made many tiny GEMMs, each a Python task.
IMAGE_SLAB_PIXELS = 256
# Below this many multiply-adds a whole convolution runs as one task on the caller: a hand-off
# to the pool and back costs tens of microseconds on a busy machine, more than the products of
# a LeNet-sized layer; BLAS may still use its own threads inside the one GEMM.
INLINE_MACS = 1 << 25
# How many slabs a larger problem of small planes is cut into: a constant, not the worker count,
# so the weight gradient has the same bits on every machine (see threads.run_summed).
IMAGE_SLABS = 4


def _images_per_slab(plan: ConvPlan, dtype: np.dtype) -> int:
    """Whole images per packed slab when output planes are small, or 0 when they are not
    (slabs of rows within an image, or implicit GEMM, then)."""
    pixels = plan.per_img * plan.out_sp[2]
    if packed.implicit_gemm(plan) or pixels >= IMAGE_SLAB_PIXELS:
        return 0
    per_image = plan.cg * plan.taps * pixels * dtype.itemsize
    images = max(1, min(plan.n, MAX_TILE_BYTES // max(1, per_image)))
    if plan.o * plan.cg * plan.taps * pixels * plan.n >= INLINE_MACS:
        images = min(images, -(-plan.n // IMAGE_SLABS))
    return images


def _as5(a: np.ndarray) -> np.ndarray:
    """``a`` with its spatial axes padded to three (leading unit axes, a free view)."""
    a = np.ascontiguousarray(a)
    return a.reshape(a.shape[:2] + (1,) * (5 - a.ndim) + a.shape[2:])


def conv_forward(x: np.ndarray, w: np.ndarray, params: ConvParams) -> np.ndarray:
    """``y = conv(x, w)`` in the canonical layout (``x``: N, C, *spatial; ``w``: O, I, *k)."""
    plan = conv_plan(x.shape, w.shape, params)
    out_shape = (plan.n, plan.o, *plan.out_sp[3 - len(params.strides) :])
    x5, w5 = _as5(x), _as5(w)
    y5 = np.empty((plan.n, plan.o) + plan.out_sp, dtype=x.dtype)
    if y5.size == 0:
        return y5.reshape(out_shape)
    if x5.size == 0 or w5.size == 0:
        y5[...] = 0
    elif _uses_blas(plan):
        if images := _images_per_slab(plan, x.dtype):
            packed.forward_images(x5, w5, y5, plan, images)
        else:
            packed.forward(x5, w5, y5, plan, _tile_rows(plan, x.dtype))
    else:
        direct.run(direct.FORWARD, x5, w5, y5, plan)
    return y5.reshape(out_shape)


def conv_input_grad(g: np.ndarray, w: np.ndarray, x_shape: tuple[int, ...],
                    params: ConvParams) -> np.ndarray:  # fmt: skip
    """The cotangent of ``x`` in ``y = conv(x, w)`` for the cotangent ``g`` of ``y``."""
    plan = conv_plan(x_shape, w.shape, params)
    g5, w5 = _as5(g), _as5(w)
    if math.prod(x_shape) == 0 or g5.size == 0 or w5.size == 0:
        return np.zeros(x_shape, dtype=g.dtype)
    if not _uses_blas(plan):
        dx5 = np.empty((plan.n, plan.c) + plan.in_sp, dtype=g.dtype)  # the kernels clear it
        direct.run(direct.INPUT_GRAD, g5, w5, dx5, plan)
        return dx5.reshape(x_shape)
    if plan.unit_strides:
        # The input gradient is itself a convolution of g with the flipped, transposed kernel,
        # whose packing is cheaper than scattering a slab back (col2im).
        nsp = len(params.strides)
        wt = w.reshape(plan.groups, plan.og, plan.cg, *w.shape[2:]).swapaxes(1, 2)
        wt = wt[(Ellipsis, *[slice(None, None, -1)] * nsp)].reshape(plan.c, plan.og, *w.shape[2:])
        pads = tuple(((k - 1) * rd - lo, (k - 1) * rd - hi)
                     for k, rd, (lo, hi) in zip(w.shape[2:], params.rhs_dilation, params.padding,
                                                strict=True))  # fmt: skip
        return conv_forward(g, np.ascontiguousarray(wt), params._replace(padding=pads))
    dx5 = np.zeros((plan.n, plan.c) + plan.in_sp, dtype=g.dtype)
    packed.input_grad(g5, w5, dx5, plan, _tile_rows(plan, g.dtype))
    return dx5.reshape(x_shape)


def conv_weight_grad(x: np.ndarray, g: np.ndarray, w_shape: tuple[int, ...],
                     params: ConvParams) -> np.ndarray:  # fmt: skip
    """The cotangent of ``w`` in ``y = conv(x, w)`` for the cotangent ``g`` of ``y``."""
    plan = conv_plan(x.shape, w_shape, params)
    x5, g5 = _as5(x), _as5(g)
    dw5 = np.zeros((plan.o, plan.cg) + plan.k_sp, dtype=x.dtype)
    if dw5.size == 0 or g5.size == 0 or x5.size == 0:
        pass
    elif _uses_blas(plan):
        if images := _images_per_slab(plan, x.dtype):
            packed.weight_grad_images(x5, g5, dw5, plan, images)
        else:
            packed.weight_grad(x5, g5, dw5, plan, _tile_rows(plan, x.dtype))
    else:
        direct.run(direct.WEIGHT_GRAD, x5, g5, dw5, plan)
    return dw5.reshape(w_shape)
