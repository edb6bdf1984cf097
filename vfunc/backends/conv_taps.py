"""Convolutions as one batched matrix product per kernel tap, for any array module ``xp``.

``out[n, g, :, p] = sum over taps k of  w[g, :, :, k] @ x_k[n, g, :, p]``, where ``x_k`` is the
padded (and lhs-dilated) input read at the output positions shifted by tap ``k``: a strided view,
which the product copies once (one input's worth of memory at a time, never the k-times larger
im2col matrix). The two VJPs run the same loop transposed: the input gradient adds each tap's
``w_k.T @ g`` into a strided view of a padded buffer, the weight gradient contracts ``g`` with
each ``x_k``. All three follow ``primitives.conv``'s parameters (N-D, strides, padding that may
be negative, both dilations, feature groups), so every conv, transposed conv and their VJPs run
here. Written against an array module ``xp`` (CuPy on a GPU, where the products are cuBLAS
calls; numpy in the tests, which check it against the CPU's numba kernels). A direct
implicit-GEMM kernel (or cuDNN) is the faster successor for small channel counts.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from vfunc.primitives.conv_kernels.plan import ConvParams


def _dilated(sizes: tuple[int, ...], dilation: tuple[int, ...]) -> tuple[int, ...]:
    return tuple((n - 1) * d + 1 if n else 0 for n, d in zip(sizes, dilation, strict=True))


def _dilate_pad(xp: Any, x: Any, p: ConvParams) -> Any:
    """``x`` with lhs dilation and padding applied (negative padding crops)."""
    if any(d != 1 for d in p.lhs_dilation):
        buf = xp.zeros((*x.shape[:2], *_dilated(x.shape[2:], p.lhs_dilation)), x.dtype)
        buf[(slice(None), slice(None), *(slice(None, None, d) for d in p.lhs_dilation))] = x
        x = buf
    crop = tuple(slice(max(-lo, 0), n - max(-hi, 0))
                 for n, (lo, hi) in zip(x.shape[2:], p.padding, strict=True))  # fmt: skip
    x = x[(slice(None), slice(None), *crop)]
    pads = [(max(lo, 0), max(hi, 0)) for lo, hi in p.padding]
    if any(lo or hi for lo, hi in pads):
        x = xp.pad(x, [(0, 0), (0, 0), *pads])
    return x


def _taps(padded: tuple[int, ...], kernel: tuple[int, ...], p: ConvParams):
    """The output's spatial shape, and per tap its index and the strided window it reads."""
    span = _dilated(kernel, p.rhs_dilation)
    out = tuple((n - k) // s + 1 for n, k, s in zip(padded, span, p.strides, strict=True))
    taps = []
    for k in itertools.product(*(range(n) for n in kernel)):
        steps = zip(k, p.rhs_dilation, out, p.strides, strict=True)
        window = tuple(slice(j * d, j * d + (o - 1) * s + 1, s) for j, d, o, s in steps)
        taps.append((k, (slice(None), slice(None), *window)))
    return out, taps


def conv_forward(xp: Any, lhs: Any, rhs: Any, p: ConvParams) -> Any:
    """``conv_general_dilated`` of NC... ``lhs`` and OI... ``rhs``."""
    x = _dilate_pad(xp, lhs, p)
    n, g = lhs.shape[0], p.groups
    o, cg = rhs.shape[:2]
    out_sp, taps = _taps(x.shape[2:], rhs.shape[2:], p)
    size = math.prod(out_sp)
    if size * n * o == 0:  # an empty output: the windows below would be empty slices
        return xp.zeros((n, o, *out_sp), lhs.dtype)
    w = rhs.reshape(g, o // g, cg, *rhs.shape[2:])
    out = xp.zeros((n, g, o // g, size), lhs.dtype)
    for k, window in taps:
        xs = x[window].reshape(n, g, cg, size)
        out += xp.matmul(w[(slice(None), slice(None), slice(None), *k)], xs)
    return out.reshape(n, o, *out_sp)


def conv_input_grad(xp: Any, gr: Any, rhs: Any, lhs_shape: tuple[int, ...], p: ConvParams) -> Any:
    """The cotangent of ``lhs`` given the output's ``gr``: the forward loop transposed."""
    n, c = lhs_shape[:2]
    g = p.groups
    o, cg = rhs.shape[:2]
    dilated = _dilated(lhs_shape[2:], p.lhs_dilation)
    padded = tuple(m + lo + hi for m, (lo, hi) in zip(dilated, p.padding, strict=True))
    out_sp, taps = _taps(padded, rhs.shape[2:], p)
    if math.prod(out_sp) * n * c == 0:  # nothing flows back
        return xp.zeros(tuple(lhs_shape), gr.dtype)
    buf = xp.zeros((n, c, *padded), gr.dtype)
    gg = gr.reshape(n, g, o // g, math.prod(out_sp))
    wt = rhs.reshape(g, o // g, cg, *rhs.shape[2:])
    for k, window in taps:
        w_k = wt[(slice(None), slice(None), slice(None), *k)].transpose(0, 2, 1)
        buf[window] += xp.matmul(w_k, gg).reshape(n, c, *out_sp)
    # Back from padded coordinates to the dilated input's (what padding cropped gets zeros).
    res = xp.zeros((n, c, *dilated), gr.dtype)
    dst, src = [slice(None)] * 2, [slice(None)] * 2
    for m, q, (lo, _) in zip(dilated, padded, p.padding, strict=True):
        j0, j1 = max(0, -lo), max(max(0, -lo), min(m, q - lo))
        dst.append(slice(j0, j1))
        src.append(slice(j0 + lo, j1 + lo))
    res[tuple(dst)] = buf[tuple(src)]
    return res[(slice(None), slice(None), *(slice(None, None, d) for d in p.lhs_dilation))]


def conv_weight_grad(xp: Any, lhs: Any, gr: Any, rhs_shape: tuple[int, ...], p: ConvParams) -> Any:
    """The cotangent of ``rhs`` given the output's ``gr``: ``gr`` contracted with each tap."""
    x = _dilate_pad(xp, lhs, p)
    n, g = lhs.shape[0], p.groups
    o, cg = rhs_shape[:2]
    out_sp, taps = _taps(x.shape[2:], tuple(rhs_shape[2:]), p)
    size = math.prod(out_sp)
    if size * n == 0:
        return xp.zeros(tuple(rhs_shape), lhs.dtype)
    gt = gr.reshape(n, g, o // g, size).transpose(1, 2, 0, 3).reshape(g, o // g, n * size)
    dw = xp.empty((g, o // g, cg, *rhs_shape[2:]), lhs.dtype)
    for k, window in taps:
        xs = x[window].reshape(n, g, cg, size).transpose(1, 0, 3, 2).reshape(g, n * size, cg)
        dw[(slice(None), slice(None), slice(None), *k)] = xp.matmul(gt, xs)
    return dw.reshape(rhs_shape)
