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
  never the whole input) and ``np.dot`` multiplies it, so the heavy lifting runs at BLAS speed.
  The input gradient multiplies first and scatters the slab back (col2im) -- or, for unit
  strides, is the forward convolution of ``g`` with the flipped, transposed kernel; the weight
  gradient accumulates ``g_tile @ cols_tile.T``. Here the parallelism is one worker thread per
  core, each owning whole images and calling a single-threaded BLAS (``nogil`` packing
  kernels): multithreaded OpenBLAS on these short, wide products spent most of its time
  waking and spinning threads between calls.

Direct kernels are ``parallel=True``; every kernel compiles on first use and is cached on disk
(``cache=True``).
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

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
                                    a, z, b = lo[kw], hi[kw], off[kw]
                                    if z > a:
                                        xs = row[a * sw + b : (z - 1) * sw + b + 1 : sw]
                                        ys = out[a:z]
                                        for i in range(z - a):
                                            ys[i] += wv * xs[i]
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
                                    a, z, b = lo[kw], hi[kw], off[kw]
                                    if z > a:
                                        xs = row[a * sw + b : (z - 1) * sw + b + 1 : sw]
                                        gs = src[a:z]
                                        for i in range(z - a):
                                            xs[i] += wv * gs[i]
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
                                    a, z, b = lo[kw], hi[kw], off[kw]
                                    if z > a:
                                        xs = row[a * sw + b : (z - 1) * sw + b + 1 : sw]
                                        gs = src[a:z]
                                        for i in range(z - a):
                                            acc += gs[i] * xs[i]
                                else:
                                    for ow in range(ow_n):
                                        iw = tw[ow, kw]
                                        if iw >= 0:
                                            acc += src[ow] * row[iw]
                    dw[o, cl, kd, kh, kw] = acc
    return dw


# ----------------------------------------------------------------------------------------------
# Tile packing for the BLAS path


@numba.njit(cache=True, nogil=True)
def _pack(x, c0, cg, ksp, td, th, tw, lo, hi, off, sw, affine, r0, r1, cols):  # pragma: no cover
    # cols[(cl, kd, kh, kw), j]: j walks output rows r in [r0, r1) over (image, od, oh), each
    # contributing OW columns.
    kd_n, kh_n, kw_n = ksp[0], ksp[1], ksp[2]
    od_n, oh_n, ow_n = td.shape[0], th.shape[0], tw.shape[0]
    per_img = od_n * oh_n
    taps = kd_n * kh_n * kw_n
    for row in range(cg * taps):
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
                    dst[j : j + a] = 0
                    if b > a:
                        dst[j + a : j + b] = src[a * sw + e : (b - 1) * sw + e + 1 : sw]
                    dst[j + max(a, b) : j + ow_n] = 0
                else:
                    for ow in range(ow_n):
                        iw = tw[ow, kw]
                        dst[j + ow] = src[iw] if iw >= 0 else 0
            j += ow_n
    return cols


@numba.njit(cache=True, nogil=True)
def _pack_contig(x, c0, cg, ksp, td, th, lo, hi, off, r0, r1, cols):  # pragma: no cover
    # _pack when output rows are as wide as input rows and both H and W are unit-stride and
    # undilated (SAME-padded stride-1 convolutions): the valid rows of a tap are one
    # contiguous run of the input plane, copied at once; only the few columns a row's shift
    # pulls from its neighbour are zeroed afterwards.
    kd_n, kh_n, kw_n = ksp[0], ksp[1], ksp[2]
    od_n, oh_n = td.shape[0], th.shape[0]
    ow_n = x.shape[4]
    per_img = od_n * oh_n
    taps = kd_n * kh_n * kw_n
    for row in range(cg * taps):
        cl = row // taps
        rem = row - cl * taps
        kd = rem // (kh_n * kw_n)
        rem -= kd * kh_n * kw_n
        kh = rem // kw_n
        kw = rem - kh * kw_n
        dst = cols[row]
        a, b, e = lo[kw], hi[kw], off[kw]
        j = 0
        r = r0
        while r < r1:
            n = r // per_img
            q = r - n * per_img
            od = q // oh_n
            oh0 = q - od * oh_n
            cnt = min(r1 - r, oh_n - oh0)
            idd = td[od, kd]
            if idd < 0 or b <= a:
                dst[j : j + cnt * ow_n] = 0
            else:
                va = oh0
                while va < oh0 + cnt and th[va, kh] < 0:
                    va += 1
                vb = va
                while vb < oh0 + cnt and th[vb, kh] >= 0:
                    vb += 1
                dst[j : j + (va - oh0) * ow_n] = 0
                dst[j + (vb - oh0) * ow_n : j + cnt * ow_n] = 0
                if vb > va:
                    plane = x[n, c0 + cl, idd].ravel()
                    s0 = th[va, kh] * ow_n + a + e
                    length = (vb - va - 1) * ow_n + (b - a)
                    d0 = j + (va - oh0) * ow_n + a
                    dst[d0 : d0 + length] = plane[s0 : s0 + length]
                    for i in range(va, vb):
                        base = j + (i - oh0) * ow_n
                        dst[base : base + a] = 0
                        dst[base + b : base + ow_n] = 0
            j += cnt * ow_n
            r += cnt
    return cols


@numba.njit(cache=True, nogil=True)
def _unpack_add(
    cols, dx, c0, cg, ksp, td, th, tw, lo, hi, off, sw, affine, r0, r1
):  # pragma: no cover
    # The transpose of _pack: scatter-add the slab into dx; each channel is owned by one thread.
    kd_n, kh_n, kw_n = ksp[0], ksp[1], ksp[2]
    od_n, oh_n, ow_n = td.shape[0], th.shape[0], tw.shape[0]
    per_img = od_n * oh_n
    taps = kd_n * kh_n * kw_n
    for cl in range(cg):
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
                                a, z, e = lo[kw], hi[kw], off[kw]
                                if z > a:
                                    xs = dst[a * sw + e : (z - 1) * sw + e + 1 : sw]
                                    cs = src[j + a : j + z]
                                    for i in range(z - a):
                                        xs[i] += cs[i]
                            else:
                                for ow in range(ow_n):
                                    iw = tw[ow, kw]
                                    if iw >= 0:
                                        dst[iw] += src[j + ow]
                        j += ow_n
    return dx


# ----------------------------------------------------------------------------------------------
# Direct kernels on a padded grid, for unit strides without lhs dilation: each (image, channel)
# plane is copied once into a zero-padded buffer, and the output is computed on the buffer's
# pitch, so every tap is one long contiguous multiply-add (offset kd*HpWp + kh*Wp + kw) instead
# of many short rows. The extra columns of that grid are dropped (or zero) afterwards.


@numba.njit(cache=True, nogil=True)
def _pad_plane(src, dst, pd, ph, pw, hp, wp):  # pragma: no cover - compiled
    w_n = src.shape[2]
    for d in range(src.shape[0]):
        for h in range(src.shape[1]):
            # Explicit loops over views: a slice assignment costs 3x as much on short rows.
            out = dst[((d + pd) * hp + h + ph) * wp + pw :]
            row = src[d, h]
            for i in range(w_n):
                out[i] = row[i]


@numba.njit(cache=True, nogil=True)
def _grid_of(g, dst, hp, wp):  # pragma: no cover - compiled
    # g (OD, OH, OW) onto the padded pitch; the extra columns stay zero.
    ow_n = g.shape[2]
    for od in range(g.shape[0]):
        for oh in range(g.shape[1]):
            out = dst[(od * hp + oh) * wp :]
            row = g[od, oh]
            for i in range(ow_n):
                out[i] = row[i]


@numba.njit(parallel=True, cache=True, fastmath=_FASTMATH)
def _fwd_grid(x, w, y, pads, offs, chunks):  # pragma: no cover - compiled
    n_img, c_in = x.shape[0], x.shape[1]
    n_out, cg = w.shape[0], w.shape[1]
    od_n, oh_n, ow_n = y.shape[2], y.shape[3], y.shape[4]
    hp = x.shape[3] + pads[1]
    wp = x.shape[4] + pads[2]
    plane = (x.shape[2] + pads[0]) * hp * wp
    length = (od_n - 1) * hp * wp + (oh_n - 1) * wp + ow_n
    og = n_out // (c_in // cg)
    wf = w.reshape(n_out, -1)
    taps = offs.shape[0]
    tasks = n_img * n_out
    chunks = min(chunks, tasks)
    for ch in numba.prange(chunks):
        buf = np.zeros(plane, x.dtype)
        acc = np.empty(length, x.dtype)
        for t in range(tasks * ch // chunks, tasks * (ch + 1) // chunks):
            n = t // n_out
            o = t - n * n_out
            c0 = (o // og) * cg
            acc[:] = 0
            for cl in range(cg):
                _pad_plane(x[n, c0 + cl], buf, pads[3], pads[4], pads[5], hp, wp)
                for k in range(taps):
                    wv = wf[o, cl * taps + k]
                    # A slice, not buf[j + off]: a signed index costs a wraparound check per
                    # element, which keeps LLVM from vectorising the loop (7x slower).
                    src = buf[offs[k] : offs[k] + length]
                    for j in range(length):
                        acc[j] += wv * src[j]
            for od in range(od_n):
                for oh in range(oh_n):
                    src = acc[(od * hp + oh) * wp :]
                    row = y[n, o, od, oh]
                    for i in range(ow_n):
                        row[i] = src[i]
    return y


@numba.njit(parallel=True, cache=True, fastmath=_FASTMATH)
def _dx_grid(g, w, dx, pads, offs, chunks):  # pragma: no cover - compiled
    n_img, c_in = dx.shape[0], dx.shape[1]
    n_out, cg = w.shape[0], w.shape[1]
    od_n, oh_n, ow_n = g.shape[2], g.shape[3], g.shape[4]
    hp = dx.shape[3] + pads[1]
    wp = dx.shape[4] + pads[2]
    plane = (dx.shape[2] + pads[0]) * hp * wp
    length = (od_n - 1) * hp * wp + (oh_n - 1) * wp + ow_n
    og = n_out // (c_in // cg)
    wf = w.reshape(n_out, -1)
    taps = offs.shape[0]
    pd, ph, pw = pads[3], pads[4], pads[5]
    w_n = dx.shape[4]
    tasks = n_img * c_in
    chunks = min(chunks, tasks)
    for ch in numba.prange(chunks):
        buf = np.empty(plane, dx.dtype)
        gg = np.zeros(length, dx.dtype)
        for t in range(tasks * ch // chunks, tasks * (ch + 1) // chunks):
            n = t // c_in
            c = t - n * c_in
            grp = c // cg
            cl = c - grp * cg
            buf[:] = 0
            for ol in range(og):
                o = grp * og + ol
                _grid_of(g[n, o], gg, hp, wp)
                for k in range(taps):
                    wv = wf[o, cl * taps + k]
                    dst = buf[offs[k] : offs[k] + length]
                    for j in range(length):
                        dst[j] += wv * gg[j]
            for d in range(dx.shape[2]):
                for h in range(dx.shape[3]):
                    src = buf[((d + pd) * hp + h + ph) * wp + pw :]
                    row = dx[n, c, d, h]
                    for i in range(w_n):
                        row[i] = src[i]
    return dx


@numba.njit(parallel=True, cache=True, fastmath=_FASTMATH)
def _dw_grid(x, g, dw, pads, offs, chunks):  # pragma: no cover - compiled
    n_img, c_in = x.shape[0], x.shape[1]
    n_out, cg = dw.shape[0], dw.shape[1]
    od_n, oh_n, ow_n = g.shape[2], g.shape[3], g.shape[4]
    hp = x.shape[3] + pads[1]
    wp = x.shape[4] + pads[2]
    plane = (x.shape[2] + pads[0]) * hp * wp
    length = (od_n - 1) * hp * wp + (oh_n - 1) * wp + ow_n
    og = n_out // (c_in // cg)
    dwf = dw.reshape(n_out, -1)
    taps = offs.shape[0]
    tasks = n_out * cg
    chunks = min(chunks, tasks)
    for ch in numba.prange(chunks):
        buf = np.zeros(plane, x.dtype)
        gg = np.zeros(length, x.dtype)
        acc = np.empty(taps)
        for t in range(tasks * ch // chunks, tasks * (ch + 1) // chunks):
            o = t // cg
            cl = t - o * cg
            c = (o // og) * cg + cl
            acc[:] = 0
            for n in range(n_img):
                _pad_plane(x[n, c], buf, pads[3], pads[4], pads[5], hp, wp)
                _grid_of(g[n, o], gg, hp, wp)
                for k in range(taps):
                    src = buf[offs[k] : offs[k] + length]
                    s = 0.0
                    for j in range(length):
                        s += gg[j] * src[j]
                    acc[k] += s
            for k in range(taps):
                dwf[o, cl * taps + k] = acc[k]
    return dw


def _grid_args(pr: _Problem, padding3, rhs_dil3):
    """(pads, offsets) for the grid kernels: pads = (total D, H, W, low D, H, W)."""
    totals = [lo + hi for lo, hi in padding3]
    lows = [lo for lo, _ in padding3]
    hp = pr.in_sp[1] + totals[1]
    wp = pr.in_sp[2] + totals[2]
    kd, kh, kw = np.meshgrid(*(np.arange(k) for k in pr.k_sp), indexing="ij")
    offs = (kd * rhs_dil3[0] * hp * wp + kh * rhs_dil3[1] * wp + kw * rhs_dil3[2]).ravel()
    # A few chunks per thread: scratch buffers are allocated once per chunk, not per plane
    # (thousands of depthwise planes made the allocations a visible cost).
    return np.array(totals + lows, np.int64), offs.astype(np.int64), 8 * numba.get_num_threads()


# ----------------------------------------------------------------------------------------------
# Drivers


def _use_blas(og: int, cg: int, taps: int) -> bool:
    # A product with a handful of rows or a short contraction runs below BLAS's speed and pays
    # for the packing; the direct loops win there (depthwise, LeNet).
    return og >= 16 and cg * taps >= 16


def _openblas_thread_controls():
    """``(get, set)`` for the process-wide thread count of the OpenBLAS numpy links, or None.

    The symbols carry a build-dependent prefix and suffix (scipy-openblas wheels export
    ``scipy_openblas_set_num_threads64_``). OpenBLAS's ``openblas_set_num_threads_local`` is
    not thread-local in pthreads builds: called in a worker it left every later matrix product
    in the process single-threaded (twice as slow), so the count is set and restored around
    each parallel region instead.
    """
    import ctypes
    import glob

    libs = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs")
    for path in glob.glob(os.path.join(libs, "*openblas*")):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix in (("scipy_openblas", "64_"), ("scipy_openblas", ""),
                               ("openblas", "64_"), ("openblas", "")):  # fmt: skip
            try:
                get = getattr(lib, f"{prefix}_get_num_threads{suffix}")
                set_ = getattr(lib, f"{prefix}_set_num_threads{suffix}")
            except AttributeError:
                continue
            get.restype, get.argtypes = ctypes.c_int, []
            set_.restype, set_.argtypes = None, [ctypes.c_int]
            return get, set_
    return None


_POOL: ThreadPoolExecutor | None = None
_WORKERS = 1
_BLAS_CONTROLS: Any = False  # not looked up yet
_BLAS_LOCK = threading.RLock()


def _pool() -> ThreadPoolExecutor:
    # The BLAS path runs one single-threaded BLAS per core, each worker owning whole images.
    # Multithreaded BLAS on these short, wide products mostly waits: its threads spin between
    # calls and then compete with the packing, and the same product varied 100x in time.
    global _POOL, _WORKERS
    if _POOL is None:
        _WORKERS = max(1, min(os.cpu_count() or 1, numba.config.NUMBA_NUM_THREADS))
        _POOL = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="vfunc-conv")
    return _POOL


@contextlib.contextmanager
def _single_threaded_blas():
    """BLAS runs single-threaded inside (each pool worker is one core's worth of BLAS)."""
    global _BLAS_CONTROLS
    if _BLAS_CONTROLS is False:
        _BLAS_CONTROLS = _openblas_thread_controls()
    if _BLAS_CONTROLS is None:
        yield
        return
    get, set_ = _BLAS_CONTROLS
    with _BLAS_LOCK:  # two threads running convolutions must not restore each other's count
        previous = get()
        set_(1)
        try:
            yield
        finally:
            set_(previous)


def _forget_pool_in_child() -> None:
    # A forked child inherits the executor but not its threads: start a new one on demand.
    global _POOL
    _POOL = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_child)


def _run_over_images(work, n_img: int) -> list:
    """``work(n0, n1)`` on contiguous image ranges, one per worker; results in order."""
    pool = _pool()
    chunks = min(n_img, _WORKERS)
    if chunks <= 1:
        return [work(0, n_img)]
    bounds = [n_img * i // chunks for i in range(chunks + 1)]
    with _single_threaded_blas():
        futures = [pool.submit(work, a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        return [f.result() for f in futures]


def _run_over_planes(work, planes: int, size: int) -> None:
    # Small problems are not worth a hand-off to the pool.
    if size < (1 << 15):
        work(0, planes)
    else:
        _run_over_images(work, planes)


def _row_chunks(per_img: int, rows: int):
    for q0 in range(0, per_img, rows):
        yield q0, min(per_img, q0 + rows)


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
        self.grid = all(v == 1 for v in s3 + ld3) and all(lo >= 0 and hi >= 0 for lo, hi in p3)
        self.padding3, self.rhs_dil3 = p3, rd3
        self.contig = s3[1] == s3[2] == ld3[1] == ld3[2] == 1 and self.out_sp[2] == self.in_sp[2]

    def args(self):
        d, h, w = self.plans
        return (d.table, h.table, w.table, w.lo, w.hi, w.off, w.stride, w.affine)

    def pack_args(self):
        d, h, w = self.plans
        return (self.ksp, d.table, h.table, w.table, w.lo, w.hi, w.off, w.stride, w.affine)

    def pack(self, x5, c0, r0, r1, cols):
        """Fill ``cols`` with the im2col slab of output rows [r0, r1), channels c0..."""
        d, h, w = self.plans
        if self.contig:
            return _pack_contig(
                x5, c0, self.cg, self.ksp, d.table, h.table, w.lo, w.hi, w.off, r0, r1, cols
            )
        return _pack(x5, c0, self.cg, *self.pack_args(), r0, r1, cols)

    @property
    def per_img(self) -> int:
        return self.out_sp[0] * self.out_sp[1]

    def tile_rows(self, itemsize: int) -> int:
        total = itemsize * (
            self.n * self.c * math.prod(self.in_sp)
            + self.o * self.cg * self.taps
            + self.n * self.o * math.prod(self.out_sp)
        )
        budget = int(min(MAX_TILE_BYTES, max(MIN_TILE_BYTES, total // 16)))
        row_bytes = max(1, self.cg * self.taps * self.out_sp[2] * itemsize)
        return int(min(self.per_img, max(1, budget // row_bytes)))


def conv_forward(x, w, strides, padding, lhs_dil, rhs_dil, groups) -> np.ndarray:
    """``y = conv(x, w)`` in the canonical layout (``x``: N, C, *spatial; ``w``: O, I, *k)."""
    pr = _Problem(x.shape, w.shape, strides, padding, lhs_dil, rhs_dil, groups)
    out_shape = (pr.n, pr.o, *conv_out_size_list(x.shape, w.shape, strides, padding, lhs_dil,
                                                  rhs_dil))  # fmt: skip
    x5, w5 = _as5(x), _as5(w)
    y5 = np.empty((pr.n, pr.o) + pr.out_sp, dtype=x.dtype)
    if y5.size == 0:
        return y5.reshape(out_shape)
    if x5.size == 0 or w5.size == 0:
        y5[...] = 0
        return y5.reshape(out_shape)
    if not _use_blas(pr.og, pr.cg, pr.taps):
        if pr.grid:
            _fwd_grid(x5, w5, y5, *_grid_args(pr, pr.padding3, pr.rhs_dil3))
        else:
            _fwd_direct(x5, w5, y5, *pr.args())
        return y5.reshape(out_shape)
    rows = pr.tile_rows(x.dtype.itemsize)
    ow, per_img = pr.out_sp[2], pr.per_img
    y3 = y5.reshape(pr.n, pr.o, -1)
    w2 = w5.reshape(pr.o, -1)
    k = pr.cg * pr.taps

    def work(n0, n1):
        buf = np.empty(k * rows * ow, dtype=x.dtype)
        for n in range(n0, n1):
            for q0, q1 in _row_chunks(per_img, rows):
                cols = buf[: k * (q1 - q0) * ow].reshape(k, (q1 - q0) * ow)
                r0, r1 = n * per_img + q0, n * per_img + q1
                for grp in range(groups):
                    pr.pack(x5, grp * pr.cg, r0, r1, cols)
                    o0, o1 = grp * pr.og, (grp + 1) * pr.og
                    if groups == 1 and q1 - q0 == per_img:
                        np.dot(w2, cols, out=y3[n])
                    else:
                        y3[n, o0:o1, q0 * ow : q1 * ow] = np.dot(w2[o0:o1], cols)

    _run_over_images(work, pr.n)
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
    if math.prod(x_shape) == 0 or g5.size == 0 or w5.size == 0:
        return np.zeros(x_shape, dtype=g.dtype)
    if not _use_blas(pr.og, pr.cg, pr.taps):
        dx5 = np.empty((pr.n, pr.c) + pr.in_sp, dtype=g.dtype)  # the kernels clear each plane
        if pr.grid:
            _dx_grid(g5, w5, dx5, *_grid_args(pr, pr.padding3, pr.rhs_dil3))
        else:
            _dx_direct(g5, w5, dx5, *pr.args())
        return dx5.reshape(x_shape)
    if all(s == 1 for s in strides) and all(d == 1 for d in lhs_dil):
        # Unit strides: the input gradient is itself a convolution of g with the flipped,
        # transposed kernel, whose packing is cheaper than scattering a slab back (col2im).
        nsp = len(strides)
        wt = w.reshape(groups, pr.og, pr.cg, *w.shape[2:]).swapaxes(1, 2)
        wt = wt[(Ellipsis, *[slice(None, None, -1)] * nsp)].reshape(pr.c, pr.og, *w.shape[2:])
        pads = [((k - 1) * rd - lo, (k - 1) * rd - hi)
                for k, rd, (lo, hi) in zip(w.shape[2:], rhs_dil, padding, strict=True)]  # fmt: skip
        return conv_forward(g, np.ascontiguousarray(wt), strides, pads, lhs_dil, rhs_dil, groups)
    dx5 = np.zeros((pr.n, pr.c) + pr.in_sp, dtype=g.dtype)
    rows = pr.tile_rows(g.dtype.itemsize)
    ow, per_img = pr.out_sp[2], pr.per_img
    g3 = g5.reshape(pr.n, pr.o, -1)
    w2t = [np.ascontiguousarray(w5.reshape(pr.o, -1)[i * pr.og : (i + 1) * pr.og].T)
           for i in range(groups)]  # fmt: skip
    pack_args = pr.pack_args()

    def work(n0, n1):
        for n in range(n0, n1):
            for q0, q1 in _row_chunks(per_img, rows):
                r0, r1 = n * per_img + q0, n * per_img + q1
                for grp in range(groups):
                    o0, o1 = grp * pr.og, (grp + 1) * pr.og
                    cols = np.dot(w2t[grp], g3[n, o0:o1, q0 * ow : q1 * ow])
                    _unpack_add(cols, dx5, grp * pr.cg, pr.cg, *pack_args, r0, r1)

    _run_over_images(work, pr.n)
    return dx5.reshape(x_shape)


def conv_weight_grad(x, g, w_shape, strides, padding, lhs_dil, rhs_dil, groups) -> np.ndarray:
    """The cotangent of ``w`` in ``y = conv(x, w)`` for the cotangent ``g`` of ``y``."""
    pr = _Problem(x.shape, w_shape, strides, padding, lhs_dil, rhs_dil, groups)
    x5, g5 = _as5(x), _as5(g)
    dw5 = np.zeros((pr.o, pr.cg) + pr.k_sp, dtype=x.dtype)
    if dw5.size == 0 or g5.size == 0 or x5.size == 0:
        return dw5.reshape(w_shape)
    if not _use_blas(pr.og, pr.cg, pr.taps):
        if pr.grid:
            _dw_grid(x5, g5, dw5, *_grid_args(pr, pr.padding3, pr.rhs_dil3))
        else:
            _dw_direct(x5, g5, dw5, *pr.args())
        return dw5.reshape(w_shape)
    rows = pr.tile_rows(x.dtype.itemsize)
    ow, per_img = pr.out_sp[2], pr.per_img
    g3 = g5.reshape(pr.n, pr.o, -1)
    k = pr.cg * pr.taps

    def work(n0, n1):
        buf = np.empty(k * rows * ow, dtype=x.dtype)
        part = np.zeros((pr.o, k), dtype=x.dtype)
        for n in range(n0, n1):
            for q0, q1 in _row_chunks(per_img, rows):
                cols = buf[: k * (q1 - q0) * ow].reshape(k, (q1 - q0) * ow)
                r0, r1 = n * per_img + q0, n * per_img + q1
                for grp in range(groups):
                    pr.pack(x5, grp * pr.cg, r0, r1, cols)
                    o0, o1 = grp * pr.og, (grp + 1) * pr.og
                    part[o0:o1] += np.dot(g3[n, o0:o1, q0 * ow : q1 * ow], cols.T)
        return part

    parts = _run_over_images(work, pr.n)
    dw2 = dw5.reshape(pr.o, -1)
    for part in parts:
        dw2 += part
    return dw5.reshape(w_shape)


# ----------------------------------------------------------------------------------------------
# Windowed reductions (pooling) on (B, D, H, W) with per-axis tables as above; B collects every
# axis the window leaves alone. The kernels are serial and release the GIL; the worker pool runs
# them over blocks of planes (serial kernels compile 5x faster than parfor ones).


@numba.njit(cache=True, nogil=True)
def _window_max(x, y, td, th, tw):  # pragma: no cover - compiled
    for b in range(x.shape[0]):
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


@numba.njit(cache=True, nogil=True)
def _window_sum(x, y, td, th, tw):  # pragma: no cover - compiled
    for b in range(x.shape[0]):
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


@numba.njit(cache=True, nogil=True)
def _window_sum_transpose(g, dx, td, th, tw):  # pragma: no cover - compiled
    for b in range(g.shape[0]):
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


@numba.njit(cache=True, nogil=True)
def _window_argmax_apply(src, x, dst, td, th, tw, scatter):  # pragma: no cover - compiled
    # The first maximum of each window (NaN counts as the maximum) selects one input element:
    # scatter adds src[out] there (the max-pool VJP); gather reads src[in] from there (its
    # transpose, which is also the JVP).
    for b in range(x.shape[0]):
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
        kernel = _window_max if kind == "max" else _window_sum
        _run_over_planes(lambda b0, b1: kernel(xp[b0:b1], y[b0:b1], *wp.tables), wp.planes, y.size)
    return wp.from_planes(y, wp.out_shape)


def window_sum_transpose(g, shape, window, strides, padding, base_dil, window_dil) -> np.ndarray:
    """The transpose (VJP) of the windowed sum: every output cotangent added to its window."""
    wp = WindowProblem(shape, window, strides, padding, base_dil, window_dil)
    dx = np.zeros((wp.planes,) + wp.in3, g.dtype)
    if g.size and dx.size:
        gp = wp.to_planes(g, wp.out3)
        _run_over_planes(
            lambda b0, b1: _window_sum_transpose(gp[b0:b1], dx[b0:b1], *wp.tables),
            wp.planes, dx.size,
        )  # fmt: skip
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
        _run_over_planes(
            lambda b0, b1: _window_argmax_apply(
                sp[b0:b1], xp[b0:b1], dst[b0:b1], *wp.tables, scatter
            ),
            wp.planes, xp.size,
        )  # fmt: skip
    return wp.from_planes(dst, full)
