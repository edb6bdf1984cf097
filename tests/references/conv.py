"""Float64 NumPy references for convolution and windowed reductions (used by the tests).

Written independently of vfunc's kernels: the input is dilated and padded explicitly, and the
convolution is a sum over kernel taps of strided slices contracted over channels.
"""

from __future__ import annotations

import itertools

import numpy as np


def _dilate_pad(x, lhs_dilation, padding, fill=0.0):
    """x (N, C, *sp) dilated by lhs_dilation, then padded (negative pads crop)."""
    nsp = x.ndim - 2
    shape = [(n - 1) * d + 1 if n else 0 for n, d in zip(x.shape[2:], lhs_dilation, strict=True)]
    xd = np.full(x.shape[:2] + tuple(shape), fill, dtype=np.float64)
    xd[(slice(None), slice(None), *(slice(None, None, d) for d in lhs_dilation))] = x
    pos = [(0, 0), (0, 0)] + [(max(lo, 0), max(hi, 0)) for lo, hi in padding]
    xp = np.pad(xd, pos, constant_values=fill)
    crop = tuple(
        slice(max(-lo, 0), xp.shape[2 + a] - max(-hi, 0)) for a, (lo, hi) in enumerate(padding)
    )
    assert len(crop) == nsp
    return xp[(slice(None), slice(None), *crop)]


def _taps(xp, k_shape, strides, rhs_dilation, out_shape):
    for t in itertools.product(*(range(k) for k in k_shape)):
        sl = tuple(
            slice(ti * rd, ti * rd + (o - 1) * s + 1, s)
            for ti, rd, o, s in zip(t, rhs_dilation, out_shape, strides, strict=True)
        )
        yield t, (slice(None), slice(None), *sl)


def out_shape(x_shape, w_shape, strides, padding, lhs_dilation, rhs_dilation):
    out = []
    for n, k, s, (lo, hi), ld, rd in zip(
        x_shape[2:], w_shape[2:], strides, padding, lhs_dilation, rhs_dilation, strict=True
    ):
        span = ((n - 1) * ld + 1 if n else 0) + lo + hi
        out.append((span - (k - 1) * rd - 1) // s + 1)
    return (x_shape[0], w_shape[0], *out)


def conv(x, w, strides, padding, lhs_dilation, rhs_dilation, groups):
    """y[n, o] = sum over taps and the group's channels, in float64."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    shape = out_shape(x.shape, w.shape, strides, padding, lhs_dilation, rhs_dilation)
    xp = _dilate_pad(x, lhs_dilation, padding)
    n, c = x.shape[:2]
    o, cg = w.shape[:2]
    y = np.zeros(shape)
    yg = y.reshape(n, groups, o // groups, *shape[2:])
    wg = w.reshape(groups, o // groups, cg, *w.shape[2:])
    for t, sl in _taps(xp, w.shape[2:], strides, rhs_dilation, shape[2:]):
        patch = xp[sl].reshape(n, groups, cg, *shape[2:])
        yg += np.einsum("ngc...,goc->ngo...", patch, wg[(Ellipsis, *t)])
    return y


def conv_vjp(x, w, g, strides, padding, lhs_dilation, rhs_dilation, groups):
    """(dx, dw): the cotangents of x and w for the output cotangent g, in float64."""
    x, w, g = (np.asarray(a, np.float64) for a in (x, w, g))
    shape = g.shape
    xp = _dilate_pad(x, lhs_dilation, padding)
    n = x.shape[0]
    o, cg = w.shape[:2]
    gg = g.reshape(n, groups, o // groups, *shape[2:])
    wg = w.reshape(groups, o // groups, cg, *w.shape[2:])
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    dwg = dw.reshape(groups, o // groups, cg, *w.shape[2:])
    for t, sl in _taps(xp, w.shape[2:], strides, rhs_dilation, shape[2:]):
        patch = xp[sl].reshape(n, groups, cg, *shape[2:])
        dwg[(Ellipsis, *t)] += np.einsum(
            "ngop,ngcp->goc",
            gg.reshape(gg.shape[:3] + (-1,)),
            patch.reshape(patch.shape[:3] + (-1,)),
        )
        contrib = np.einsum("ngo...,goc->ngc...", gg, wg[(Ellipsis, *t)])
        dxp[sl] += contrib.reshape(xp[sl].shape)
    # Undo the padding (cropped regions get no gradient), then the dilation.
    nsp = x.ndim - 2
    dilated = [(m - 1) * d + 1 if m else 0 for m, d in zip(x.shape[2:], lhs_dilation, strict=True)]
    full = np.zeros(x.shape[:2] + tuple(dilated))
    src, dst = [slice(None)] * 2, [slice(None)] * 2
    for a, (lo, hi) in enumerate(padding):
        start = max(lo, 0)
        lo_in = max(-lo, 0)
        length = dxp.shape[2 + a] - start - max(hi, 0)
        src.append(slice(start, start + length))
        dst.append(slice(lo_in, lo_in + length))
    assert len(src) == nsp + 2
    full[tuple(dst)] = dxp[tuple(src)]
    dx = full[(slice(None), slice(None), *(slice(None, None, d) for d in lhs_dilation))]
    return dx, dw


def reduce_window(kind, x, window, strides, padding, base_dilation=None, window_dilation=None):
    """Windowed max or sum over every axis of x (pads and holes are the identity)."""
    x = np.asarray(x, np.float64)
    nd = x.ndim
    base_dilation = base_dilation or (1,) * nd
    window_dilation = window_dilation or (1,) * nd
    fill = -np.inf if kind == "max" else 0.0
    x2 = x.reshape((1, 1) + x.shape)
    xp = _dilate_pad(x2, base_dilation, padding, fill)[0, 0]
    out = [
        (xp.shape[a] - (window[a] - 1) * window_dilation[a] - 1) // strides[a] + 1
        for a in range(nd)
    ]
    acc = np.full(out, fill)
    for t in itertools.product(*(range(k) for k in window)):
        sl = tuple(
            slice(t[a] * window_dilation[a], t[a] * window_dilation[a] + (out[a] - 1) * strides[a]
                  + 1, strides[a])
            for a in range(nd)
        )  # fmt: skip
        acc = np.maximum(acc, xp[sl]) if kind == "max" else acc + xp[sl]
    return acc


def window_argmax_vjp(g, x, window, strides, padding):
    """Max-pool VJP: each cotangent goes to its window's first maximum (no dilations)."""
    x = np.asarray(x, np.float64)
    nd = x.ndim
    dx = np.zeros_like(x)
    for o in np.ndindex(*g.shape):
        best, where = -np.inf, None
        for t in itertools.product(*(range(k) for k in window)):
            idx = tuple(o[a] * strides[a] + t[a] - padding[a][0] for a in range(nd))
            if all(0 <= idx[a] < x.shape[a] for a in range(nd)):
                if where is None or x[idx] > best:
                    best, where = x[idx], idx
        if where is not None:
            dx[where] += g[o]
    return dx


def window_argmax_gather(t_in, x, window, strides, padding, out):
    """The tangent at each window's first maximum (the transpose of window_argmax_vjp)."""
    x = np.asarray(x, np.float64)
    nd = x.ndim
    res = np.zeros(out)
    for o in np.ndindex(*out):
        best, where = -np.inf, None
        for t in itertools.product(*(range(k) for k in window)):
            idx = tuple(o[a] * strides[a] + t[a] - padding[a][0] for a in range(nd))
            if all(0 <= idx[a] < x.shape[a] for a in range(nd)):
                if where is None or x[idx] > best:
                    best, where = x[idx], idx
        if where is not None:
            res[o] = t_in[where]
    return res
