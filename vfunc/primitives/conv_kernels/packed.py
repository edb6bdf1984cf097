"""Packed tiles for BLAS: the family for many channels per group, where the work is a matrix
product.

numba packs a bounded slab of the im2col matrix -- ``cols[(cl, kd, kh, kw), j]``, where ``j``
walks a range of output rows (image, od, oh), each contributing OW columns; a few MB at most,
never the whole input -- and ``np.dot`` multiplies it, so the heavy lifting runs at BLAS speed.
The input gradient multiplies first and scatters the slab back (col2im, the transpose of
packing); the weight gradient accumulates ``g_tile @ cols_tile.T``. The parallelism is one
worker thread per core, each owning whole images and calling a single-threaded BLAS (see
``threads``); the packing kernels release the GIL.
"""

from __future__ import annotations

from collections.abc import Iterator

import numba
import numpy as np

from vfunc.primitives.conv_kernels.plan import ConvPlan, Tables
from vfunc.primitives.conv_kernels.threads import run_over_images

# What the slab nest does with each (slab row segment, input row) pair. The nest is specialised
# per kind by a factory: numba reads the closure's ``kind`` as a constant and prunes the other
# kind's branches before typing (a read-only input is never typed as written).
PACK, UNPACK_ADD = 0, 1


def _slab_rows_for(kind: int):
    @numba.njit(cache=True, nogil=True)
    def slab_rows(image, c0, r0, r1, cols, tables: Tables):  # pragma: no cover - compiled
        """The packed family's one loop nest, over every (channel, tap, output row) of the slab of
        output rows [r0, r1) and input channels c0...: ``PACK`` fills ``cols`` from ``image`` (zeros
        where a tap reads padding), ``UNPACK_ADD`` adds ``cols`` back into ``image`` (its
        transpose; each channel is owned by one thread)."""
        kd_n, kh_n, kw_n = tables.d.shape[1], tables.h.shape[1], tables.w.shape[1]
        oh_n, ow_n = tables.h.shape[0], tables.w.shape[0]
        per_img = tables.d.shape[0] * oh_n
        taps = kd_n * kh_n * kw_n
        sw = tables.w_stride
        for cl in range(cols.shape[0] // taps):
            for kd in range(kd_n):
                for kh in range(kh_n):
                    for kw in range(kw_n):
                        seg = cols[cl * taps + (kd * kh_n + kh) * kw_n + kw]
                        j = 0
                        for r in range(r0, r1):
                            n = r // per_img
                            q = r - n * per_img
                            od = q // oh_n
                            oh = q - od * oh_n
                            idd = tables.d[od, kd]
                            ih = tables.h[oh, kh]
                            if idd < 0 or ih < 0:
                                if kind == PACK:
                                    for ow in range(ow_n):
                                        seg[j + ow] = 0
                            else:
                                row = image[n, c0 + cl, idd, ih]
                                if tables.w_affine:
                                    a, z, e = tables.w_lo[kw], tables.w_hi[kw], tables.w_off[kw]
                                    xs = row[a * sw + e : (z - 1) * sw + e + 1 : sw]
                                    if kind == PACK:
                                        seg[j : j + a] = 0
                                        if z > a:
                                            seg[j + a : j + z] = xs
                                        seg[j + max(a, z) : j + ow_n] = 0
                                    elif z > a:
                                        cs = seg[j + a : j + z]
                                        for i in range(z - a):
                                            xs[i] += cs[i]
                                else:
                                    for ow in range(ow_n):
                                        iw = tables.w[ow, kw]
                                        if kind == PACK:
                                            seg[j + ow] = row[iw] if iw >= 0 else 0
                                        elif iw >= 0:
                                            row[iw] += seg[j + ow]
                            j += ow_n

    return slab_rows


_pack = _slab_rows_for(PACK)
_unpack_add = _slab_rows_for(UNPACK_ADD)


@numba.njit(cache=True, nogil=True)
def _pack_contiguous(x, c0, r0, r1, cols, tables: Tables):  # pragma: no cover - compiled
    # _pack when output rows are as wide as input rows and both H and W are unit-stride and
    # undilated (SAME-padded stride-1 convolutions): the valid rows of a tap are one
    # contiguous run of the input plane, copied at once; only the few columns a row's shift
    # pulls from its neighbour are zeroed afterwards.
    kd_n, kh_n, kw_n = tables.d.shape[1], tables.h.shape[1], tables.w.shape[1]
    oh_n = tables.h.shape[0]
    ow_n = x.shape[4]
    per_img = tables.d.shape[0] * oh_n
    taps = kd_n * kh_n * kw_n
    for row in range(cols.shape[0]):
        cl = row // taps
        rem = row - cl * taps
        kd = rem // (kh_n * kw_n)
        rem -= kd * kh_n * kw_n
        kh = rem // kw_n
        kw = rem - kh * kw_n
        dst = cols[row]
        a, b, e = tables.w_lo[kw], tables.w_hi[kw], tables.w_off[kw]
        j = 0
        r = r0
        while r < r1:
            n = r // per_img
            q = r - n * per_img
            od = q // oh_n
            oh0 = q - od * oh_n
            cnt = min(r1 - r, oh_n - oh0)
            idd = tables.d[od, kd]
            if idd < 0 or b <= a:
                dst[j : j + cnt * ow_n] = 0
            else:
                va = oh0
                while va < oh0 + cnt and tables.h[va, kh] < 0:
                    va += 1
                vb = va
                while vb < oh0 + cnt and tables.h[vb, kh] >= 0:
                    vb += 1
                dst[j : j + (va - oh0) * ow_n] = 0
                dst[j + (vb - oh0) * ow_n : j + cnt * ow_n] = 0
                if vb > va:
                    plane = x[n, c0 + cl, idd].ravel()
                    s0 = tables.h[va, kh] * ow_n + a + e
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


def _pack_slab(plan: ConvPlan, x5: np.ndarray, grp: int, r0: int, r1: int,
               cols: np.ndarray) -> None:  # fmt: skip
    """Fill ``cols`` with the im2col slab of output rows [r0, r1) for feature group ``grp``."""
    pack = _pack_contiguous if plan.contiguous_rows else _pack
    pack(x5, grp * plan.cg, r0, r1, cols, plan.tables)


def _slabs(plan: ConvPlan, rows: int, n0: int, n1: int) -> Iterator[tuple[int, int, int]]:
    """``(n, q0, q1)``: image ``n``'s output rows [q0, q1), ``rows`` at a time, for images
    n0..n1."""
    for n in range(n0, n1):
        for q0 in range(0, plan.per_img, rows):
            yield n, q0, min(plan.per_img, q0 + rows)


def _packed_slabs(plan: ConvPlan, x5: np.ndarray, rows: int, n0: int,
                  n1: int) -> Iterator[tuple[int, int, int, int, np.ndarray]]:  # fmt: skip
    """``(n, q0, q1, grp, cols)`` as ``_slabs``, for each feature group, with ``cols`` packed
    (one buffer, reused: valid until the next step)."""
    k, ow = plan.cg * plan.taps, plan.out_sp[2]
    buf = np.empty(k * rows * ow, dtype=x5.dtype)
    for n, q0, q1 in _slabs(plan, rows, n0, n1):
        cols = buf[: k * (q1 - q0) * ow].reshape(k, (q1 - q0) * ow)
        r0 = n * plan.per_img
        for grp in range(plan.groups):
            _pack_slab(plan, x5, grp, r0 + q0, r0 + q1, cols)
            yield n, q0, q1, grp, cols


def forward(x5: np.ndarray, w5: np.ndarray, y5: np.ndarray, plan: ConvPlan, rows: int) -> None:
    """``y5 = conv(x5, w5)``, slabs of ``rows`` output rows at a time."""
    ow, og = plan.out_sp[2], plan.og
    y3 = y5.reshape(plan.n, plan.o, -1)
    w2 = w5.reshape(plan.o, -1)

    def work(n0, n1):
        for n, q0, q1, grp, cols in _packed_slabs(plan, x5, rows, n0, n1):
            if plan.groups == 1 and q1 - q0 == plan.per_img:
                np.dot(w2, cols, out=y3[n])
            else:
                o0, o1 = grp * og, (grp + 1) * og
                y3[n, o0:o1, q0 * ow : q1 * ow] = np.dot(w2[o0:o1], cols)

    run_over_images(work, plan.n)


def input_grad(g5: np.ndarray, w5: np.ndarray, dx5: np.ndarray, plan: ConvPlan,
               rows: int) -> None:  # fmt: skip
    """Add the input gradient into the zeroed ``dx5``: each slab is ``w.T @ g`` scattered back
    (col2im)."""
    ow, og = plan.out_sp[2], plan.og
    g3 = g5.reshape(plan.n, plan.o, -1)
    w2t = [np.ascontiguousarray(w5.reshape(plan.o, -1)[i * og : (i + 1) * og].T)
           for i in range(plan.groups)]  # fmt: skip

    def work(n0, n1):
        for n, q0, q1 in _slabs(plan, rows, n0, n1):
            r0 = n * plan.per_img
            for grp in range(plan.groups):
                cols = np.dot(w2t[grp], g3[n, grp * og : (grp + 1) * og, q0 * ow : q1 * ow])
                _unpack_add(dx5, grp * plan.cg, r0 + q0, r0 + q1, cols, plan.tables)

    run_over_images(work, plan.n)


def weight_grad(x5: np.ndarray, g5: np.ndarray, dw5: np.ndarray, plan: ConvPlan,
                rows: int) -> None:  # fmt: skip
    """Add the weight gradient into the zeroed ``dw5``: every worker sums ``g @ cols.T`` over
    its images into its own partial result, and the partials are added at the end."""
    ow, og = plan.out_sp[2], plan.og
    g3 = g5.reshape(plan.n, plan.o, -1)

    def work(n0, n1):
        part = np.zeros((plan.o, plan.cg * plan.taps), dtype=x5.dtype)
        for n, q0, q1, grp, cols in _packed_slabs(plan, x5, rows, n0, n1):
            o0, o1 = grp * og, (grp + 1) * og
            part[o0:o1] += np.dot(g3[n, o0:o1, q0 * ow : q1 * ow], cols.T)
        return part

    dw2 = dw5.reshape(plan.o, -1)
    for part in run_over_images(work, plan.n):
        dw2 += part
