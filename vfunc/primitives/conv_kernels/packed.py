"""Packed tiles for BLAS: the family for many channels per group, where the work is a matrix
product.

Two ways to feed BLAS. On a zero-padded grid (unit strides, no lhs dilation, 1-D or 2-D) the
convolution is an implicit GEMM: a band of input rows is copied once into a padded buffer, and
each tap's im2col rows are that buffer shifted by the tap's offset, a strided view that CBLAS
(``blas.gemm``) reads in place, one GEMM per tap accumulating into the result. Otherwise numba
packs a bounded slab of the im2col matrix -- ``cols[(cl, kd, kh, kw), j]``, where ``j`` walks a
range of output rows (image, od, oh), each contributing OW columns -- and ``np.dot`` multiplies
it. The input gradient of a strided convolution multiplies first and scatters the slab back
(col2im, the transpose of packing); the weight gradients accumulate ``g @ cols.T`` per thread.

Work is split into tasks (a band or slab of one image) shared by the caller and the pool
(``threads.run_tasks``); each thread owns one workspace of a fixed size (``BAND_BYTES``,
``MAX_TILE_BYTES``), so the extra memory does not grow with the batch. The packing kernels
release the GIL.
"""

from __future__ import annotations

from collections.abc import Iterator

import numba
import numpy as np

from vfunc.primitives.conv_kernels.blas import gemm
from vfunc.primitives.conv_kernels.plan import ConvPlan, Tables
from vfunc.primitives.conv_kernels.threads import run_summed, run_tasks, single_threaded_blas

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


@numba.njit(cache=True, nogil=True, inline="always")
def _row_tap(row, kh_n, kw_n, taps):  # pragma: no cover - compiled
    """The (input channel, kd, kh, kw) of slab ``row``: rows run over channels, then taps."""
    cl = row // taps
    rem = row - cl * taps
    kd = rem // (kh_n * kw_n)
    rem -= kd * kh_n * kw_n
    kh = rem // kw_n
    return cl, kd, kh, rem - kh * kw_n


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
        cl, kd, kh, kw = _row_tap(row, kh_n, kw_n, taps)
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


def _slab_tasks(plan: ConvPlan, rows: int) -> tuple[int, int]:
    """``(tasks, per_image)``: a task is ``rows`` output rows of one image."""
    per = -(-plan.per_img // rows)
    return plan.n * per, per


def _slab_of(task: int, per: int, rows: int, plan: ConvPlan) -> tuple[int, int, int]:
    """``(n, q0, q1)``: the image and output rows [q0, q1) of slab task ``task``."""
    n, s = divmod(task, per)
    return n, s * rows, min(plan.per_img, (s + 1) * rows)


def _packed_groups(plan: ConvPlan, x5: np.ndarray, n: int, q0: int, q1: int,
                   buf: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:  # fmt: skip
    """``(grp, cols)`` for each feature group, ``cols`` the packed slab of image ``n``'s output
    rows [q0, q1) in ``buf`` (reused: valid until the next step)."""
    k, ow = plan.cg * plan.taps, plan.out_sp[2]
    cols = buf[: k * (q1 - q0) * ow].reshape(k, (q1 - q0) * ow)
    r0 = n * plan.per_img
    for grp in range(plan.groups):
        _pack_slab(plan, x5, grp, r0 + q0, r0 + q1, cols)
        yield grp, cols


def _slab_buffer(plan: ConvPlan, rows: int, dtype) -> np.ndarray:
    return np.empty(plan.cg * plan.taps * rows * plan.out_sp[2], dtype=dtype)


# ----------------------------------------------------------------------------------------------
# Slabs of whole images, for small output planes (LeNet's 10x10, the digits CNN's 4x4): a slab
# per image made one tiny GEMM (and one Python task) per image and group, 64 of them per call
# at batch 64, where the packing and the hand-offs cost more than the products. A slab of
# ``images`` whole images is one GEMM whose result is laid (og, images, pixels) and copied out
# into (images, og, pixels).


@numba.njit(cache=True, nogil=True)
def _pack_images(x, c0, n0, n1, cols, tables: Tables):  # pragma: no cover - compiled
    """Fill ``cols`` with the im2col slab of whole images [n0, n1), input channels c0...: one
    element at a time through the index tables. On planes of a few pixels per row this runs
    4x faster than the row-slice copies of ``_pack`` (whose per-row costs dominate there)."""
    kd_n, kh_n, kw_n = tables.d.shape[1], tables.h.shape[1], tables.w.shape[1]
    od_n, oh_n, ow_n = tables.d.shape[0], tables.h.shape[0], tables.w.shape[0]
    taps = kd_n * kh_n * kw_n
    for row in range(cols.shape[0]):
        cl, kd, kh, kw = _row_tap(row, kh_n, kw_n, taps)
        dst = cols[row]
        j = 0
        for n in range(n0, n1):
            for od in range(od_n):
                idd = tables.d[od, kd]
                for oh in range(oh_n):
                    ih = tables.h[oh, kh]
                    if idd < 0 or ih < 0:
                        for ow in range(ow_n):
                            dst[j + ow] = 0
                    else:
                        for ow in range(ow_n):
                            iw = tables.w[ow, kw]
                            dst[j + ow] = x[n, c0 + cl, idd, ih, iw] if iw >= 0 else 0
                    j += ow_n


def _image_slab(plan: ConvPlan, x5: np.ndarray, n0: int, n1: int, grp: int,
                buf: np.ndarray) -> np.ndarray:  # fmt: skip
    """The packed slab ``(cg * taps, (n1 - n0) * pixels)`` of images [n0, n1), group ``grp``."""
    k, pixels = plan.cg * plan.taps, plan.per_img * plan.out_sp[2]
    cols = buf[: k * (n1 - n0) * pixels].reshape(k, (n1 - n0) * pixels)
    _pack_images(x5, grp * plan.cg, n0, n1, cols, plan.tables)
    return cols


def _image_buffer(plan: ConvPlan, images: int, dtype) -> np.ndarray:
    return _slab_buffer(plan, images * plan.per_img, dtype)


def forward_images(x5: np.ndarray, w5: np.ndarray, y5: np.ndarray, plan: ConvPlan,
                   images: int) -> None:  # fmt: skip
    """``y5 = conv(x5, w5)`` in slabs of ``images`` whole images (one GEMM per slab and
    group). One slab runs inline on the caller, with no hand-off to the pool."""
    og = plan.og
    y3 = y5.reshape(plan.n, plan.o, -1)
    w2 = w5.reshape(plan.o, -1)
    tasks = -(-plan.n // images)

    def work(task, buf):
        n0, n1 = task * images, min(plan.n, (task + 1) * images)
        for grp in range(plan.groups):
            o0, o1 = grp * og, (grp + 1) * og
            res = np.dot(w2[o0:o1], _image_slab(plan, x5, n0, n1, grp, buf))
            y3[n0:n1, o0:o1] = res.reshape(og, n1 - n0, -1).transpose(1, 0, 2)

    with single_threaded_blas():  # one slab too: OpenBLAS's threads spin on a busy machine
        run_tasks(work, tasks, lambda: _image_buffer(plan, images, x5.dtype))


def weight_grad_images(x5: np.ndarray, g5: np.ndarray, dw5: np.ndarray, plan: ConvPlan,
                       images: int) -> None:  # fmt: skip
    """Add the weight gradient into the zeroed ``dw5`` in slabs of ``images`` whole images
    (``run_summed``, so the bits do not depend on which thread runs which slab)."""
    og = plan.og
    g3 = g5.reshape(plan.n, plan.o, -1)
    tasks = -(-plan.n // images)

    def work(task, buf, part):
        n0, n1 = task * images, min(plan.n, (task + 1) * images)
        for grp in range(plan.groups):
            o0, o1 = grp * og, (grp + 1) * og
            cols = _image_slab(plan, x5, n0, n1, grp, buf)
            g2 = g3[n0:n1, o0:o1].transpose(1, 0, 2).reshape(og, -1)
            # cols @ g2.T, transposed: BLAS runs this form of the product (a long contraction
            # over the slab's columns) 1.5x faster than g2 @ cols.T on LeNet's shapes.
            part[o0:o1] += np.dot(cols, g2.T).T

    with single_threaded_blas():
        dw5.reshape(plan.o, -1)[...] += run_summed(
            work, tasks, lambda: _image_buffer(plan, images, x5.dtype),
            lambda: np.zeros((plan.o, plan.cg * plan.taps), dtype=x5.dtype))  # fmt: skip


def forward(x5: np.ndarray, w5: np.ndarray, y5: np.ndarray, plan: ConvPlan, rows: int) -> None:
    """``y5 = conv(x5, w5)``, slabs of ``rows`` output rows at a time (or, on a zero-padded
    grid, bands of them by implicit GEMM; see ``grid_forward``)."""
    if implicit_gemm(plan):
        grid_forward(x5, w5, y5, plan, rows)
        return
    ow, og = plan.out_sp[2], plan.og
    y3 = y5.reshape(plan.n, plan.o, -1)
    w2 = w5.reshape(plan.o, -1)
    tasks, per = _slab_tasks(plan, rows)

    def work(task, buf):
        n, q0, q1 = _slab_of(task, per, rows, plan)
        for grp, cols in _packed_groups(plan, x5, n, q0, q1, buf):
            if plan.groups == 1 and q1 - q0 == plan.per_img:
                np.dot(w2, cols, out=y3[n])
            else:
                o0, o1 = grp * og, (grp + 1) * og
                y3[n, o0:o1, q0 * ow : q1 * ow] = np.dot(w2[o0:o1], cols)

    run_tasks(work, tasks, lambda: _slab_buffer(plan, rows, x5.dtype))


def input_grad(g5: np.ndarray, w5: np.ndarray, dx5: np.ndarray, plan: ConvPlan,
               rows: int) -> None:  # fmt: skip
    """Add the input gradient into the zeroed ``dx5``: each slab is ``w.T @ g`` scattered back
    (col2im). A task owns whole images: slabs of one image overlap in ``dx5``."""
    ow, og = plan.out_sp[2], plan.og
    g3 = g5.reshape(plan.n, plan.o, -1)
    w2t = [np.ascontiguousarray(w5.reshape(plan.o, -1)[i * og : (i + 1) * og].T)
           for i in range(plan.groups)]  # fmt: skip

    def work(n, _):
        r0 = n * plan.per_img
        for q0 in range(0, plan.per_img, rows):
            q1 = min(plan.per_img, q0 + rows)
            for grp in range(plan.groups):
                cols = np.dot(w2t[grp], g3[n, grp * og : (grp + 1) * og, q0 * ow : q1 * ow])
                _unpack_add(dx5, grp * plan.cg, r0 + q0, r0 + q1, cols, plan.tables)

    run_tasks(work, plan.n)


def weight_grad(x5: np.ndarray, g5: np.ndarray, dw5: np.ndarray, plan: ConvPlan,
                rows: int) -> None:  # fmt: skip
    """Add the weight gradient into the zeroed ``dw5``: the sum of ``g @ cols.T`` over the slabs
    (``run_summed``: the same bits whichever thread runs which slab)."""
    if implicit_gemm(plan):
        grid_weight_grad(x5, g5, dw5, plan, rows)
        return
    ow, og = plan.out_sp[2], plan.og
    g3 = g5.reshape(plan.n, plan.o, -1)
    tasks, per = _slab_tasks(plan, rows)

    def work(task, buf, part):
        n, q0, q1 = _slab_of(task, per, rows, plan)
        for grp, cols in _packed_groups(plan, x5, n, q0, q1, buf):
            o0, o1 = grp * og, (grp + 1) * og
            part[o0:o1] += np.dot(g3[n, o0:o1, q0 * ow : q1 * ow], cols.T)

    dw5.reshape(plan.o, -1)[...] += run_summed(
        work, tasks, lambda: _slab_buffer(plan, rows, x5.dtype),
        lambda: np.zeros((plan.o, plan.cg * plan.taps), dtype=x5.dtype))  # fmt: skip


# ----------------------------------------------------------------------------------------------
# Implicit GEMM on a zero-padded grid (unit strides, no lhs dilation, 1-D or 2-D): a band of
# output rows is copied once into a padded buffer whose rows are ``pitch_w`` apart (see
# plan.Grid); then tap ``k``'s im2col rows are the buffer itself, shifted by ``offsets[k]``, a
# strided view CBLAS reads in place. The forward pass is one GEMM per tap accumulating into a
# result on the same pitch (its extra columns dropped when copied out), the weight gradient one
# GEMM per tap against the output gradient laid on that pitch (extra columns zero). Nothing is
# packed but the band: the input is copied once instead of once per tap.


# Output pixels per image below which implicit GEMM's one call per tap costs more than the
# products: the digits CNN's 4x4 planes made 21,000 tiny GEMM calls an epoch, 10x PyTorch's
# time, where the packed slabs (one GEMM over all taps) run at its speed.
IMPLICIT_MIN_PIXELS = 256


def implicit_gemm(plan: ConvPlan) -> bool:
    """Whether ``plan`` runs as implicit GEMM: a padded grid, no depth axis, enough input
    channels per group that a one-tap GEMM (contraction length ``cg``) runs at BLAS speed, and
    output planes large enough that each of those GEMMs is worth its call."""
    return (
        plan.grid is not None
        and plan.in_sp[0] == plan.k_sp[0] == 1
        and plan.cg >= 16
        and plan.out_sp[1] * plan.out_sp[2] >= IMPLICIT_MIN_PIXELS
    )


def band_rows(plan: ConvPlan, itemsize: int, budget: int) -> int:
    """Output rows per band: the padded input band at most ``budget`` bytes."""
    halo = plan.grid.pitch_h - plan.out_sp[1]  # padded input rows beyond the output rows
    per_row = plan.cg * plan.grid.pitch_w * itemsize
    return int(min(plan.out_sp[1], max(1, budget // per_row - halo)))


class _Band:
    """One thread's scratch for implicit GEMM: the padded input band (channels of one group;
    ``(C, rows, pitch_w)``, or ``(rows, pitch_w, C)`` with ``channels_last``), ``flat`` the same
    as a matrix, and a band of results on the grid's pitch."""

    def __init__(self, plan: ConvPlan, rows: int, dtype, channels_last: bool = False) -> None:
        pw = plan.grid.pitch_w
        halo = plan.grid.pitch_h - plan.out_sp[1]  # padded input rows beyond the output rows
        if channels_last:
            self.padded = np.zeros((rows + halo, pw, plan.cg), dtype=dtype)
            self.flat = self.padded.reshape(-1, plan.cg)
        else:
            self.padded = np.zeros((plan.cg, rows + halo, pw), dtype=dtype)
            self.flat = self.padded.reshape(plan.cg, -1)
        self.line = np.zeros((plan.og, rows * pw), dtype=dtype)


def _band_geometry(plan: ConvPlan, rows: int) -> tuple[int, int, int, int]:
    """``(tasks per image, bands per image, lo_h, lo_w)``: the low pads from the grid start."""
    bands = -(-plan.out_sp[1] // rows)
    lo_h, lo_w = divmod(plan.grid.start, plan.grid.pitch_w)
    return plan.groups * bands, bands, lo_h, lo_w


def _band_of(task: int, per: int, bands: int, rows: int, plan: ConvPlan):
    """``(n, grp, q0, q1, length)`` of band task ``task``: image, group, output rows, and
    the grid elements the band's result spans."""
    n, rest = divmod(task, per)
    grp, b = divmod(rest, bands)
    q0 = b * rows
    q1 = min(plan.out_sp[1], q0 + rows)
    return n, grp, q0, q1, (q1 - q0 - 1) * plan.grid.pitch_w + plan.out_sp[2]


def _tap_weights(w5: np.ndarray, plan: ConvPlan) -> np.ndarray:
    """``(taps, O, cg)``: tap ``k``'s weights as one matrix."""
    return np.ascontiguousarray(w5.reshape(plan.o, plan.cg, plan.taps).transpose(2, 0, 1))


def grid_forward(x5, w5, y5, plan: ConvPlan, rows: int) -> None:
    """``y5 = conv(x5, w5)`` by implicit GEMM, in tasks of one band of one image and group."""
    per, bands, lo_h, lo_w = _band_geometry(plan, rows)
    wt = _tap_weights(w5, plan)
    og, offsets = plan.og, plan.grid.offsets

    def work(task, st: _Band):
        n, grp, q0, q1, length = _band_of(task, per, bands, rows, plan)
        _fill_band(x5, n, grp * plan.cg, q0, lo_h, lo_w, st.padded)
        line = st.line[:, :length]
        for k in range(offsets.shape[0]):
            wk = wt[k, grp * og : (grp + 1) * og]
            gemm(wk, st.flat[:, offsets[k] : offsets[k] + length], line, 1.0 if k else 0.0)
        _band_out(st.line, y5, n, grp * og, q0, q1 - q0, plan.grid.pitch_w)

    run_tasks(work, plan.n * per, lambda: _Band(plan, rows, x5.dtype))


def grid_weight_grad(x5, g5, dw5, plan: ConvPlan, rows: int) -> None:
    """Add the weight gradient into the zeroed ``dw5`` by implicit GEMM: ``(taps, O, cg)``
    partial sums added in a fixed order (``run_summed``)."""
    per, bands, lo_h, lo_w = _band_geometry(plan, rows)
    og, offsets = plan.og, plan.grid.offsets

    def state():
        # Channels last: each tap's window is a block of whole rows, which this GEMM (a long
        # contraction, a small result) runs about 25% faster than the transposed view.
        return _Band(plan, rows, x5.dtype, channels_last=True)

    def work(task, band, part):
        n, grp, q0, q1, length = _band_of(task, per, bands, rows, plan)
        _fill_band_channels_last(x5, n, grp * plan.cg, q0, lo_h, lo_w, band.padded)
        _band_in(g5, n, grp * og, q0, q1 - q0, plan.grid.pitch_w, band.line)
        line = band.line[:, :length]
        for k in range(offsets.shape[0]):
            window = band.flat[offsets[k] : offsets[k] + length]
            gemm(line, window, part[k, grp * og : (grp + 1) * og], 1.0)

    total = run_summed(work, plan.n * per, state,
                       lambda: np.zeros((plan.taps, plan.o, plan.cg), x5.dtype))  # fmt: skip
    dw5.reshape(plan.o, plan.cg, plan.taps)[...] += total.transpose(1, 2, 0)


@numba.njit(cache=True, nogil=True)
def _fill_band(x, n, c0, q0, lo_h, lo_w, padded):  # pragma: no cover - compiled
    """Copy the input rows that output rows ``q0...`` read (channels ``c0...`` of image ``n``)
    into ``padded`` (C, rows, pitch_w), on its padded pitch: rows that fall into padding are
    cleared, the pad columns are never written (they stay zero)."""
    h_n, w_n = x.shape[3], x.shape[4]
    for cl in range(padded.shape[0]):
        for r in range(padded.shape[1]):
            ih = q0 + r - lo_h
            dst = padded[cl, r]
            if 0 <= ih < h_n:
                src = x[n, c0 + cl, 0, ih]
                for i in range(w_n):
                    dst[lo_w + i] = src[i]
            else:
                for i in range(dst.shape[0]):
                    dst[i] = 0


@numba.njit(cache=True, nogil=True)
def _fill_band_channels_last(x, n, c0, q0, lo_h, lo_w, padded):  # pragma: no cover - compiled
    """``_fill_band`` into ``padded`` laid out (rows, pitch_w, C)."""
    h_n, w_n = x.shape[3], x.shape[4]
    cg = padded.shape[2]
    for r in range(padded.shape[0]):
        ih = q0 + r - lo_h
        dst = padded[r]
        if 0 <= ih < h_n:
            for cl in range(cg):
                src = x[n, c0 + cl, 0, ih]
                for i in range(w_n):
                    dst[lo_w + i, cl] = src[i]
        else:
            dst[:, :] = 0


@numba.njit(cache=True, nogil=True)
def _band_out(line, y, n, o0, q0, rows, pitch):  # pragma: no cover - compiled
    """Copy ``rows`` result rows from ``line`` (og, rows * pitch) into ``y[n, o0..., 0, q0...]``,
    dropping each row's extra columns."""
    ow = y.shape[4]
    for o in range(line.shape[0]):
        for r in range(rows):
            src = line[o, r * pitch :]
            dst = y[n, o0 + o, 0, q0 + r]
            for i in range(ow):
                dst[i] = src[i]


@numba.njit(cache=True, nogil=True)
def _band_in(g, n, o0, q0, rows, pitch, line):  # pragma: no cover - compiled
    """Lay ``g[n, o0..., 0, q0...]`` on the grid pitch in ``line``, extra columns zero."""
    ow = g.shape[4]
    for o in range(line.shape[0]):
        for r in range(rows):
            dst = line[o, r * pitch : (r + 1) * pitch]
            src = g[n, o0 + o, 0, q0 + r]
            for i in range(ow):
                dst[i] = src[i]
            for i in range(ow, pitch):
                dst[i] = 0
