"""Numba kernels for convolution and windowed reductions, and the drivers that pick one.

Every convolution runs on one canonical layout: ``x`` is ``(N, C, D, H, W)``, ``w`` is
``(O, C // G, KD, KH, KW)`` and ``y`` is ``(N, O, OD, OH, OW)`` (1-D and 2-D problems get unit
spatial axes, which are free views). Each spatial axis is described by a small table
``tab[o, k]``: the input index read by output position ``o`` through tap ``k``, or -1 where that
tap falls into padding or between lhs-dilated elements. Tables make strides, padding of any sign,
lhs dilation and rhs dilation one code path; the last axis also gets an affine fast path
(``iw = ow * s + off[k]`` on ``[lo[k], hi[k])``) whenever it is not lhs-dilated, so the inner
loops are contiguous and vectorise.

Two strategies, chosen per problem:

* direct loops, parallel over (image, channel) planes -- for few channels per group (depthwise,
  LeNet-sized layers), where a matrix product would be tiny;
* packed tiles for BLAS -- numba packs a bounded slab of the im2col matrix (a few MB at most,
  never the whole input) and ``np.dot`` multiplies it, so the heavy lifting runs at BLAS speed
  on every core. The input gradient multiplies first and scatters the slab back (col2im); the
  weight gradient accumulates ``g_tile @ cols_tile.T``.

Kernels compile on first use and are cached on disk (``cache=True``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numba
import numpy as np

# Reductions in the weight gradient only vectorise when LLVM may reorder the sum; no nnan/ninf,
# so NaN and infinity still propagate as IEEE says.
_FASTMATH = {"reassoc", "contract"}

# Upper bound on one packed im2col slab; the slab also shrinks for small problems so that the
# workspace stays a small fraction of the operands (see _tile_bytes).
MAX_TILE_BYTES = 4 << 20
MIN_TILE_BYTES = 256 << 10


# ----------------------------------------------------------------------------------------------
# Index tables


class AxisPlan:
    """How one spatial axis maps output positions and taps to input positions."""

    __slots__ = ("table", "lo", "hi", "off", "stride", "affine")

    def __init__(self, n_in: int, n_out: int, k: int, s: int, pad_lo: int, ld: int, rd: int):
        o = np.arange(n_out, dtype=np.int64)[:, None]
        taps = np.arange(k, dtype=np.int64)[None, :]
        p = o * s + taps * rd - pad_lo
        q = p // ld
        valid = (p >= 0) & (p % ld == 0) & (q < n_in)
        self.table = np.ascontiguousarray(np.where(valid, q, -1).astype(np.int64))
        self.stride = s
        self.affine = ld == 1
        self.off = (np.arange(k, dtype=np.int64) * rd - pad_lo).astype(np.int64)
        lo = np.zeros(k, np.int64)
        hi = np.zeros(k, np.int64)
        if self.affine and n_out:
            for t in range(k):
                ok = valid[:, t]
                if ok.any():
                    lo[t] = int(np.argmax(ok))
                    hi[t] = n_out - int(np.argmax(ok[::-1]))
        self.lo, self.hi = lo, hi


def _plans(in_sp, out_sp, k_sp, strides, padding, lhs_dil, rhs_dil) -> list[AxisPlan]:
    return [
        AxisPlan(n, m, k, s, p[0], ld, rd)
        for n, m, k, s, p, ld, rd in zip(
            in_sp, out_sp, k_sp, strides, padding, lhs_dil, rhs_dil, strict=True
        )
    ]


def conv_out_size(n: int, k: int, s: int, pad: tuple[int, int], ld: int, rd: int) -> int:
    """Output length of one spatial axis (may be <= 0 when the window does not fit)."""
    dilated_in = (n - 1) * ld + 1 if n > 0 else 0
    dilated_k = (k - 1) * rd + 1
    padded = dilated_in + pad[0] + pad[1]
    if padded < dilated_k:
        return 0
    return (padded - dilated_k) // s + 1


def _to3(shape: Sequence[int]) -> tuple[int, ...]:
    """Spatial shape padded to three axes with leading ones."""
    return (1,) * (3 - len(shape)) + tuple(shape)


def _params3(strides, padding, lhs_dil, rhs_dil):
    extra = 3 - len(strides)
    return (
        (1,) * extra + tuple(strides),
        ((0, 0),) * extra + tuple(tuple(p) for p in padding),
        (1,) * extra + tuple(lhs_dil),
        (1,) * extra + tuple(rhs_dil),
    )


def _as5(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    return a.reshape(a.shape[:2] + _to3(a.shape[2:]))


# ----------------------------------------------------------------------------------------------
# Direct kernels


@numba.njit(parallel=True, cache=True, fastmath=_FASTMATH)
def _fwd_direct(x, w, y, td, th, tw, lo, hi, off, sw, affine):  # pragma: no cover - compiled
    n_img, c_in = x.shape[0], x.shape[1]
    n_out, cg, kd_n, kh_n, kw_n = w.shape
    od_n, oh_n, ow_n = y.shape[2], y.shape[3], y.shape[4]
    og = n_out // (c_in // cg)
    for t in numba.prange(n_img * n_out):
        n = t // n_out
        o = t - n * n_out
        c0 = (o // og) * cg
        yp = y[n, o]
        yp[:] = 0
        for cl in range(cg):
            xc = x[n, c0 + cl]
            for kd in range(kd_n):
                for kh in range(kh_n):
                    for kw in range(kw_n):
                        wv = w[o, cl, kd, kh, kw]
                        for od in range(od_n):
                            idd = td[od, kd]
                            if idd < 0:
                                continue
                            for oh in range(oh_n):
                                ih = th[oh, kh]
                                if ih < 0:
                                    continue
                                row = xc[idd, ih]
                                out = yp[od, oh]
                                if affine:
                                    b = off[kw]
                                    for ow in range(lo[kw], hi[kw]):
                                        out[ow] += wv * row[ow * sw + b]
                                else:
                                    for ow in range(ow_n):
                                        iw = tw[ow, kw]
                                        if iw >= 0:
                                            out[ow] += wv * row[iw]
    return y


@numba.njit(parallel=True, cache=True, fastmath=_FASTMATH)
def _dx_direct(g, w, dx, td, th, tw, lo, hi, off, sw, affine):  # pragma: no cover - compiled
    n_img, c_in = dx.shape[0], dx.shape[1]
    n_out, cg, kd_n, kh_n, kw_n = w.shape
    od_n, oh_n, ow_n = g.shape[2], g.shape[3], g.shape[4]
    og = n_out // (c_in // cg)
    for t in numba.prange(n_img * c_in):
        n = t // c_in
        c = t - n * c_in
        grp = c // cg
        cl = c - grp * cg
        xp = dx[n, c]
        xp[:] = 0
        for ol in range(og):
            o = grp * og + ol
            go = g[n, o]
            for kd in range(kd_n):
                for kh in range(kh_n):
                    for kw in range(kw_n):
                        wv = w[o, cl, kd, kh, kw]
                        for od in range(od_n):
                            idd = td[od, kd]
                            if idd < 0:
                                continue
                            for oh in range(oh_n):
                                ih = th[oh, kh]
                                if ih < 0:
                                    continue
                                row = xp[idd, ih]
                                src = go[od, oh]
                                if affine:
                                    b = off[kw]
                                    for ow in range(lo[kw], hi[kw]):
                                        row[ow * sw + b] += wv * src[ow]
                                else:
                                    for ow in range(ow_n):
                                        iw = tw[ow, kw]
                                        if iw >= 0:
                                            row[iw] += wv * src[ow]
    return dx


@numba.njit(parallel=True, cache=True, fastmath=_FASTMATH)
def _dw_direct(x, g, dw, td, th, tw, lo, hi, off, sw, affine):  # pragma: no cover - compiled
    n_img, c_in = x.shape[0], x.shape[1]
    n_out, cg, kd_n, kh_n, kw_n = dw.shape
    od_n, oh_n, ow_n = g.shape[2], g.shape[3], g.shape[4]
    og = n_out // (c_in // cg)
    for t in numba.prange(n_out * cg):
        o = t // cg
        cl = t - o * cg
        c = (o // og) * cg + cl
        for kd in range(kd_n):
            for kh in range(kh_n):
                for kw in range(kw_n):
                    acc = 0.0
                    for n in range(n_img):
                        xc = x[n, c]
                        go = g[n, o]
                        for od in range(od_n):
                            idd = td[od, kd]
                            if idd < 0:
                                continue
                            for oh in range(oh_n):
                                ih = th[oh, kh]
                                if ih < 0:
                                    continue
                                row = xc[idd, ih]
                                src = go[od, oh]
                                if affine:
                                    b = off[kw]
                                    for ow in range(lo[kw], hi[kw]):
                                        acc += src[ow] * row[ow * sw + b]
                                else:
                                    for ow in range(ow_n):
                                        iw = tw[ow, kw]
                                        if iw >= 0:
                                            acc += src[ow] * row[iw]
                    dw[o, cl, kd, kh, kw] = acc
    return dw


# ----------------------------------------------------------------------------------------------
# Tile packing for the BLAS path


@numba.njit(parallel=True, cache=True)
def _pack(x, c0, cg, ksp, td, th, tw, lo, hi, off, sw, affine, r0, r1, cols):  # pragma: no cover
    # cols[(cl, kd, kh, kw), j]: j walks output rows r in [r0, r1) over (image, od, oh), each
    # contributing OW columns.
    kd_n, kh_n, kw_n = ksp[0], ksp[1], ksp[2]
    od_n, oh_n, ow_n = td.shape[0], th.shape[0], tw.shape[0]
    per_img = od_n * oh_n
    taps = kd_n * kh_n * kw_n
    for row in numba.prange(cg * taps):
        cl = row // taps
        rem = row - cl * taps
        kd = rem // (kh_n * kw_n)
        rem -= kd * kh_n * kw_n
        kh = rem // kw_n
        kw = rem - kh * kw_n
        dst = cols[row]
        j = 0
        for r in range(r0, r1):
            n = r // per_img
            q = r - n * per_img
            od = q // oh_n
            oh = q - od * oh_n
            idd = td[od, kd]
            ih = th[oh, kh]
            if idd < 0 or ih < 0:
                for ow in range(ow_n):
                    dst[j + ow] = 0
            else:
                src = x[n, c0 + cl, idd, ih]
                if affine:
                    a, b, e = lo[kw], hi[kw], off[kw]
                    for ow in range(a):
                        dst[j + ow] = 0
                    for ow in range(a, b):
                        dst[j + ow] = src[ow * sw + e]
                    for ow in range(b, ow_n):
                        dst[j + ow] = 0
                else:
                    for ow in range(ow_n):
                        iw = tw[ow, kw]
                        dst[j + ow] = src[iw] if iw >= 0 else 0
            j += ow_n
    return cols


@numba.njit(parallel=True, cache=True)
def _unpack_add(
    cols, dx, c0, cg, ksp, td, th, tw, lo, hi, off, sw, affine, r0, r1
):  # pragma: no cover
    # The transpose of _pack: scatter-add the slab into dx; each channel is owned by one thread.
    kd_n, kh_n, kw_n = ksp[0], ksp[1], ksp[2]
    od_n, oh_n, ow_n = td.shape[0], th.shape[0], tw.shape[0]
    per_img = od_n * oh_n
    taps = kd_n * kh_n * kw_n
    for cl in numba.prange(cg):
        for kd in range(kd_n):
            for kh in range(kh_n):
                for kw in range(kw_n):
                    src = cols[cl * taps + (kd * kh_n + kh) * kw_n + kw]
                    j = 0
                    for r in range(r0, r1):
                        n = r // per_img
                        q = r - n * per_img
                        od = q // oh_n
                        oh = q - od * oh_n
                        idd = td[od, kd]
                        ih = th[oh, kh]
                        if idd >= 0 and ih >= 0:
                            dst = dx[n, c0 + cl, idd, ih]
                            if affine:
                                e = off[kw]
                                for ow in range(lo[kw], hi[kw]):
                                    dst[ow * sw + e] += src[j + ow]
                            else:
                                for ow in range(ow_n):
                                    iw = tw[ow, kw]
                                    if iw >= 0:
                                        dst[iw] += src[j + ow]
                        j += ow_n
    return dx


# ----------------------------------------------------------------------------------------------
# Drivers


def _use_blas(og: int, cg: int, taps: int) -> bool:
    # A product with a handful of rows or a short contraction runs below BLAS's speed and pays
    # for the packing; the direct loops win there (depthwise, LeNet).
    return og >= 16 and cg * taps >= 16


def _tile_rows(n_rows: int, per_img: int, row_cols: int, k: int, itemsize: int, total: int):
    """Rows (of OW outputs each) per slab: whole images when they fit, else part of one."""
    budget = int(min(MAX_TILE_BYTES, max(MIN_TILE_BYTES, total // 16)))
    rows = max(1, budget // max(1, k * row_cols * itemsize))
    if rows >= per_img:
        return (rows // per_img) * per_img
    return rows


def _tiles(n_img: int, per_img: int, rows: int):
    """Slabs [r0, r1) that either cover whole images or lie inside one image."""
    if rows >= per_img:
        for n0 in range(0, n_img, rows // per_img):
            n1 = min(n_img, n0 + rows // per_img)
            yield n0 * per_img, n1 * per_img
    else:
        for n in range(n_img):
            for q0 in range(0, per_img, rows):
                yield n * per_img + q0, n * per_img + min(per_img, q0 + rows)


def _slab_view(a3: np.ndarray, o0: int, o1: int, r0: int, r1: int, per_img: int, ow: int):
    """The (channels, slab columns) block of an (N, channels, P) array, as a view or copy."""
    n0, n1 = r0 // per_img, (r1 - 1) // per_img + 1
    if n1 - n0 == 1:
        q0 = (r0 - n0 * per_img) * ow
        return a3[n0, o0:o1, q0 : q0 + (r1 - r0) * ow]
    return a3[n0:n1, o0:o1].transpose(1, 0, 2).reshape(o1 - o0, -1)


def _store_slab(a3, block, o0, o1, r0, r1, per_img, ow):
    n0, n1 = r0 // per_img, (r1 - 1) // per_img + 1
    if n1 - n0 == 1:
        q0 = (r0 - n0 * per_img) * ow
        a3[n0, o0:o1, q0 : q0 + (r1 - r0) * ow] = block
    else:
        a3[n0:n1, o0:o1] = block.reshape(o1 - o0, n1 - n0, -1).transpose(1, 0, 2)


class _Problem:
    """A convolution in canonical 3-D form: shapes, groups and the per-axis plans."""

    def __init__(self, x_shape, w_shape, strides, padding, lhs_dil, rhs_dil, groups):
        s3, p3, ld3, rd3 = _params3(strides, padding, lhs_dil, rhs_dil)
        self.n, self.c = x_shape[0], x_shape[1]
        self.o, self.cg = w_shape[0], w_shape[1]
        self.groups = groups
        self.og = self.o // groups
        self.in_sp = _to3(x_shape[2:])
        self.k_sp = _to3(w_shape[2:])
        self.out_sp = tuple(
            conv_out_size(*a) for a in zip(self.in_sp, self.k_sp, s3, p3, ld3, rd3, strict=True)
        )
        self.plans = _plans(self.in_sp, self.out_sp, self.k_sp, s3, p3, ld3, rd3)
        self.taps = math.prod(self.k_sp)
        self.ksp = np.array(self.k_sp, np.int64)

    def args(self):
        d, h, w = self.plans
        return (d.table, h.table, w.table, w.lo, w.hi, w.off, w.stride, w.affine)

    def pack_args(self):
        d, h, w = self.plans
        return (self.ksp, d.table, h.table, w.table, w.lo, w.hi, w.off, w.stride, w.affine)

    @property
    def per_img(self) -> int:
        return self.out_sp[0] * self.out_sp[1]

    def tile_rows(self, itemsize: int) -> int:
        total = itemsize * (
            self.n * self.c * math.prod(self.in_sp)
            + self.o * self.cg * self.taps
            + self.n * self.o * math.prod(self.out_sp)
        )
        return _tile_rows(
            self.n * self.per_img, self.per_img, self.out_sp[2], self.cg * self.taps, itemsize,
            total,
        )  # fmt: skip


def conv_forward(x, w, strides, padding, lhs_dil, rhs_dil, groups) -> np.ndarray:
    """``y = conv(x, w)`` in the canonical layout (``x``: N, C, *spatial; ``w``: O, I, *k)."""
    pr = _Problem(x.shape, w.shape, strides, padding, lhs_dil, rhs_dil, groups)
    out_shape = (pr.n, pr.o) + tuple(conv_out_size_list(x.shape, w.shape, strides, padding,
                                                        lhs_dil, rhs_dil))  # fmt: skip
    x5, w5 = _as5(x), _as5(w)
    y5 = np.empty((pr.n, pr.o) + pr.out_sp, dtype=x.dtype)
    if y5.size == 0:
        return y5.reshape(out_shape)
    if x5.size == 0 or w5.size == 0:
        y5[...] = 0
        return y5.reshape(out_shape)
    if not _use_blas(pr.og, pr.cg, pr.taps):
        _fwd_direct(x5, w5, y5, *pr.args())
        return y5.reshape(out_shape)
    rows = pr.tile_rows(x.dtype.itemsize)
    ow = pr.out_sp[2]
    y3 = y5.reshape(pr.n, pr.o, -1)
    w2 = w5.reshape(pr.o, -1)
    k = pr.cg * pr.taps
    pack_args = pr.pack_args()
    buf = np.empty(k * rows * ow, dtype=x.dtype)
    for r0, r1 in _tiles(pr.n, pr.per_img, rows):
        cols = buf[: k * (r1 - r0) * ow].reshape(k, (r1 - r0) * ow)
        for grp in range(groups):
            _pack(x5, grp * pr.cg, pr.cg, *pack_args, r0, r1, cols)
            o0, o1 = grp * pr.og, (grp + 1) * pr.og
            _store_slab(y3, np.dot(w2[o0:o1], cols), o0, o1, r0, r1, pr.per_img, ow)
    return y5.reshape(out_shape)


def conv_out_size_list(x_shape, w_shape, strides, padding, lhs_dil, rhs_dil) -> list[int]:
    """The output's spatial shape."""
    return [
        conv_out_size(n, k, s, p, ld, rd)
        for n, k, s, p, ld, rd in zip(
            x_shape[2:], w_shape[2:], strides, padding, lhs_dil, rhs_dil, strict=True
        )
    ]


def conv_input_grad(g, w, x_shape, strides, padding, lhs_dil, rhs_dil, groups) -> np.ndarray:
    """The cotangent of ``x`` in ``y = conv(x, w)`` for the cotangent ``g`` of ``y``."""
    pr = _Problem(x_shape, w.shape, strides, padding, lhs_dil, rhs_dil, groups)
    g5, w5 = _as5(g), _as5(w)
    dx5 = np.zeros((pr.n, pr.c) + pr.in_sp, dtype=g.dtype)
    if dx5.size == 0 or g5.size == 0 or w5.size == 0:
        return dx5.reshape(x_shape)
    if not _use_blas(pr.og, pr.cg, pr.taps):
        _dx_direct(g5, w5, dx5, *pr.args())
        return dx5.reshape(x_shape)
    rows = pr.tile_rows(g.dtype.itemsize)
    ow = pr.out_sp[2]
    g3 = g5.reshape(pr.n, pr.o, -1)
    w2 = w5.reshape(pr.o, -1)
    pack_args = pr.pack_args()
    for r0, r1 in _tiles(pr.n, pr.per_img, rows):
        for grp in range(groups):
            o0, o1 = grp * pr.og, (grp + 1) * pr.og
            cols = np.dot(w2[o0:o1].T, _slab_view(g3, o0, o1, r0, r1, pr.per_img, ow))
            _unpack_add(cols, dx5, grp * pr.cg, pr.cg, *pack_args, r0, r1)
    return dx5.reshape(x_shape)


def conv_weight_grad(x, g, w_shape, strides, padding, lhs_dil, rhs_dil, groups) -> np.ndarray:
    """The cotangent of ``w`` in ``y = conv(x, w)`` for the cotangent ``g`` of ``y``."""
    pr = _Problem(x.shape, w_shape, strides, padding, lhs_dil, rhs_dil, groups)
    x5, g5 = _as5(x), _as5(g)
    dw5 = np.zeros((pr.o, pr.cg) + pr.k_sp, dtype=x.dtype)
    if dw5.size == 0 or g5.size == 0 or x5.size == 0:
        return dw5.reshape(w_shape)
    if not _use_blas(pr.og, pr.cg, pr.taps):
        _dw_direct(x5, g5, dw5, *pr.args())
        return dw5.reshape(w_shape)
    rows = pr.tile_rows(x.dtype.itemsize)
    ow = pr.out_sp[2]
    g3 = g5.reshape(pr.n, pr.o, -1)
    dw2 = dw5.reshape(pr.o, -1)
    k = pr.cg * pr.taps
    pack_args = pr.pack_args()
    buf = np.empty(k * rows * ow, dtype=x.dtype)
    for r0, r1 in _tiles(pr.n, pr.per_img, rows):
        cols = buf[: k * (r1 - r0) * ow].reshape(k, (r1 - r0) * ow)
        for grp in range(groups):
            _pack(x5, grp * pr.cg, pr.cg, *pack_args, r0, r1, cols)
            o0, o1 = grp * pr.og, (grp + 1) * pr.og
            dw2[o0:o1] += np.dot(_slab_view(g3, o0, o1, r0, r1, pr.per_img, ow), cols.T)
    return dw5.reshape(w_shape)


# ----------------------------------------------------------------------------------------------
# Windowed reductions (pooling) on (B, D, H, W) with per-axis tables as above; B collects every
# axis the window leaves alone, so the parallel loop runs over planes.


@numba.njit(parallel=True, cache=True)
def _window_max(x, y, td, th, tw):  # pragma: no cover - compiled
    for b in numba.prange(x.shape[0]):
        for od in range(td.shape[0]):
            for oh in range(th.shape[0]):
                for ow in range(tw.shape[0]):
                    m = -np.inf
                    for kd in range(td.shape[1]):
                        idd = td[od, kd]
                        if idd < 0:
                            continue
                        for kh in range(th.shape[1]):
                            ih = th[oh, kh]
                            if ih < 0:
                                continue
                            for kw in range(tw.shape[1]):
                                iw = tw[ow, kw]
                                if iw >= 0:
                                    v = x[b, idd, ih, iw]
                                    # NaN wins, as in lax.max; once m is NaN nothing beats it.
                                    if v > m or v != v:
                                        m = v
                    y[b, od, oh, ow] = m
    return y


@numba.njit(parallel=True, cache=True)
def _window_sum(x, y, td, th, tw):  # pragma: no cover - compiled
    for b in numba.prange(x.shape[0]):
        for od in range(td.shape[0]):
            for oh in range(th.shape[0]):
                for ow in range(tw.shape[0]):
                    acc = 0.0
                    for kd in range(td.shape[1]):
                        idd = td[od, kd]
                        if idd < 0:
                            continue
                        for kh in range(th.shape[1]):
                            ih = th[oh, kh]
                            if ih < 0:
                                continue
                            for kw in range(tw.shape[1]):
                                iw = tw[ow, kw]
                                if iw >= 0:
                                    acc += x[b, idd, ih, iw]
                    y[b, od, oh, ow] = acc
    return y


@numba.njit(parallel=True, cache=True)
def _window_sum_transpose(g, dx, td, th, tw):  # pragma: no cover - compiled
    for b in numba.prange(g.shape[0]):
        dx[b] = 0
        for od in range(td.shape[0]):
            for oh in range(th.shape[0]):
                for ow in range(tw.shape[0]):
                    v = g[b, od, oh, ow]
                    for kd in range(td.shape[1]):
                        idd = td[od, kd]
                        if idd < 0:
                            continue
                        for kh in range(th.shape[1]):
                            ih = th[oh, kh]
                            if ih < 0:
                                continue
                            for kw in range(tw.shape[1]):
                                iw = tw[ow, kw]
                                if iw >= 0:
                                    dx[b, idd, ih, iw] += v
    return dx


@numba.njit(parallel=True, cache=True)
def _window_argmax_apply(src, x, dst, td, th, tw, scatter):  # pragma: no cover - compiled
    # The first maximum of each window (NaN counts as the maximum) selects one input element:
    # scatter adds src[out] there (the max-pool VJP); gather reads src[in] from there (its
    # transpose, which is also the JVP).
    for b in numba.prange(x.shape[0]):
        if scatter:
            dst[b] = 0
        for od in range(td.shape[0]):
            for oh in range(th.shape[0]):
                for ow in range(tw.shape[0]):
                    m = -np.inf
                    bd, bh, bw = -1, -1, -1
                    for kd in range(td.shape[1]):
                        idd = td[od, kd]
                        if idd < 0:
                            continue
                        for kh in range(th.shape[1]):
                            ih = th[oh, kh]
                            if ih < 0:
                                continue
                            for kw in range(tw.shape[1]):
                                iw = tw[ow, kw]
                                if iw >= 0:
                                    v = x[b, idd, ih, iw]
                                    if bd < 0 or v > m or (v != v and m == m):
                                        m = v
                                        bd, bh, bw = idd, ih, iw
                    if scatter:
                        if bd >= 0:
                            dst[b, bd, bh, bw] += src[b, od, oh, ow]
                    else:
                        dst[b, od, oh, ow] = src[b, bd, bh, bw] if bd >= 0 else 0
    return dst


class WindowProblem:
    """A windowed reduction as (B, D, H, W) planes: which axes the window touches, and tables."""

    def __init__(self, shape, window, strides, padding, base_dil, window_dil):
        trivial = [
            k == 1 and s == 1 and tuple(p) == (0, 0) and bd == 1 and wd == 1
            for k, s, p, bd, wd in zip(window, strides, padding, base_dil, window_dil, strict=True)
        ]
        self.free = [a for a, t in enumerate(trivial) if t]
        self.busy = [a for a, t in enumerate(trivial) if not t][-3:]
        if len(trivial) - len(self.free) > 3:
            raise NotImplementedError("reduce_window: windows over more than 3 axes")
        self.free = [a for a in range(len(shape)) if a not in self.busy]
        self.perm = self.free + self.busy
        self.out_shape = tuple(
            conv_out_size(n, k, s, tuple(p), bd, wd)
            for n, k, s, p, bd, wd in zip(shape, window, strides, padding, base_dil, window_dil,
                                          strict=True)
        )  # fmt: skip
        pick = [(1, 1, 1, (0, 0), 1, 1)] * (3 - len(self.busy)) + [
            (shape[a], self.out_shape[a], window[a], padding[a], base_dil[a], window_dil[a])
            for a in self.busy
        ]
        strides3 = [1] * (3 - len(self.busy)) + [strides[a] for a in self.busy]
        self.tables = tuple(
            AxisPlan(n, m, k, s, p[0], bd, wd).table
            for (n, m, k, p, bd, wd), s in zip(pick, strides3, strict=True)
        )
        self.in3 = tuple(q[0] for q in pick)
        self.out3 = tuple(q[1] for q in pick)
        self.planes = math.prod(shape[a] for a in self.free)

    def to_planes(self, a: np.ndarray, spatial: tuple[int, ...]) -> np.ndarray:
        return np.ascontiguousarray(a.transpose(self.perm)).reshape((self.planes,) + spatial)

    def from_planes(self, a: np.ndarray, full_shape: tuple[int, ...]) -> np.ndarray:
        permuted = tuple(full_shape[i] for i in self.perm)
        return a.reshape(permuted).transpose(np.argsort(self.perm))


def window_reduce(kind: str, x, window, strides, padding, base_dil, window_dil) -> np.ndarray:
    """``reduce_window`` with max (``kind='max'``) or add (``'sum'``)."""
    wp = WindowProblem(x.shape, window, strides, padding, base_dil, window_dil)
    xp = wp.to_planes(x, wp.in3)
    y = np.empty((wp.planes,) + wp.out3, x.dtype)
    if y.size:
        (_window_max if kind == "max" else _window_sum)(xp, y, *wp.tables)
    return wp.from_planes(y, wp.out_shape)


def window_sum_transpose(g, shape, window, strides, padding, base_dil, window_dil) -> np.ndarray:
    """The transpose (VJP) of the windowed sum: every output cotangent added to its window."""
    wp = WindowProblem(shape, window, strides, padding, base_dil, window_dil)
    dx = np.zeros((wp.planes,) + wp.in3, g.dtype)
    if g.size and dx.size:
        _window_sum_transpose(wp.to_planes(g, wp.out3), dx, *wp.tables)
    return wp.from_planes(dx, tuple(shape))


def window_select(scatter: bool, src, x, window, strides, padding, base_dil, window_dil):
    """Scatter ``src`` (output-shaped) to, or gather ``src`` (input-shaped) from, each window's
    first maximum of ``x``."""
    wp = WindowProblem(x.shape, window, strides, padding, base_dil, window_dil)
    xp = wp.to_planes(x, wp.in3)
    if scatter:
        dst = np.zeros((wp.planes,) + wp.in3, src.dtype)
        sp = wp.to_planes(src, wp.out3)
        full = x.shape
    else:
        dst = np.zeros((wp.planes,) + wp.out3, src.dtype)
        sp = wp.to_planes(src, wp.in3)
        full = wp.out_shape
    if dst.size and sp.size:
        _window_argmax_apply(sp, xp, dst, *wp.tables, scatter)
    return wp.from_planes(dst, full)
