"""Direct loops: the family for few channels per group (depthwise, LeNet-sized layers), where a
matrix product would be tiny.

The forward pass and both gradients visit the same (input plane, output plane, tap) triples and
differ in which of the three operands they write, so each is one task decomposition over one
shared loop nest, ``_tap_rows_for``. The decompositions are what differ, to keep every written plane
owned by one thread: the forward pass owns an output plane (summing over input channels), the
input gradient an input plane (summing over output channels), the weight gradient one
(output, input) channel pair of the kernel (summing over images).

The kernels are ``parallel=True`` and compile on first use, cached on disk (``cache=True``).
"""

from __future__ import annotations

import numba
import numpy as np

from vfunc.primitives.conv_kernels.plan import ConvPlan, Grid, Tables

# Reductions in the weight gradient only vectorise when LLVM may reorder the sum; no nnan/ninf,
# so NaN and infinity still propagate as IEEE says.
FASTMATH = {"reassoc", "contract"}

# Which operand a nest writes. Each nest is written once, in a factory, and specialised per kind:
# numba reads the closure's ``kind`` as a constant and prunes the other kinds' branches before
# typing, so a read-only operand is never typed as written and no kind pays for another's
# branches. (A nest inlined with ``inline="always"`` prunes too, but compiled 25% slower.)
FORWARD, INPUT_GRAD, WEIGHT_GRAD = 0, 1, 2


def _tap_rows_for(kind: int):
    @numba.njit(nogil=True, fastmath=FASTMATH)
    def tap_rows(x_plane, y_plane, weights, tables: Tables):  # pragma: no cover - compiled
        """Every (tap, valid output row) of one input plane ``x_plane`` (D, H, W) and one output
        plane ``y_plane`` (OD, OH, OW): ``FORWARD`` adds ``weights[tap] * x`` to ``y``,
        ``INPUT_GRAD`` adds ``weights[tap] * y`` to ``x``, ``WEIGHT_GRAD`` adds ``<x, y>`` to
        ``weights[tap]`` (a float64 accumulator)."""
        kd_n, kh_n, kw_n = tables.d.shape[1], tables.h.shape[1], tables.w.shape[1]
        od_n, oh_n, ow_n = tables.d.shape[0], tables.h.shape[0], tables.w.shape[0]
        sw = tables.w_stride
        for kd in range(kd_n):
            for kh in range(kh_n):
                for kw in range(kw_n):
                    wv = weights[kd, kh, kw]
                    acc = 0.0
                    for od in range(od_n):
                        idd = tables.d[od, kd]
                        if idd < 0:
                            continue
                        for oh in range(oh_n):
                            ih = tables.h[oh, kh]
                            if ih < 0:
                                continue
                            x_row = x_plane[idd, ih]
                            y_row = y_plane[od, oh]
                            if tables.w_affine:
                                a, z, b = tables.w_lo[kw], tables.w_hi[kw], tables.w_off[kw]
                                if z > a:
                                    xs = x_row[a * sw + b : (z - 1) * sw + b + 1 : sw]
                                    ys = y_row[a:z]
                                    if kind == FORWARD:
                                        for i in range(z - a):
                                            ys[i] += wv * xs[i]
                                    elif kind == INPUT_GRAD:
                                        for i in range(z - a):
                                            xs[i] += wv * ys[i]
                                    else:
                                        for i in range(z - a):
                                            acc += ys[i] * xs[i]
                            else:
                                for ow in range(ow_n):
                                    iw = tables.w[ow, kw]
                                    if iw >= 0:
                                        if kind == FORWARD:
                                            y_row[ow] += wv * x_row[iw]
                                        elif kind == INPUT_GRAD:
                                            x_row[iw] += wv * y_row[ow]
                                        else:
                                            acc += y_row[ow] * x_row[iw]
                    if kind == WEIGHT_GRAD:
                        weights[kd, kh, kw] += acc

    return tap_rows


_forward_rows = _tap_rows_for(FORWARD)
_input_grad_rows = _tap_rows_for(INPUT_GRAD)
_weight_grad_rows = _tap_rows_for(WEIGHT_GRAD)


@numba.njit(parallel=True, cache=True, fastmath=FASTMATH)
def forward(x, w, y, tables: Tables):  # pragma: no cover - compiled
    """``y = conv(x, w)``; each task owns one output plane."""
    n_img, c_in = x.shape[0], x.shape[1]
    n_out, cg = w.shape[0], w.shape[1]
    og = n_out // (c_in // cg)
    for task in numba.prange(n_img * n_out):
        n = task // n_out
        o = task - n * n_out
        c0 = (o // og) * cg
        y[n, o][:] = 0
        for cl in range(cg):
            _forward_rows(x[n, c0 + cl], y[n, o], w[o, cl], tables)
    return y


@numba.njit(parallel=True, cache=True, fastmath=FASTMATH)
def input_grad(g, w, dx, tables: Tables):  # pragma: no cover - compiled
    """``dx`` for the output cotangent ``g``; each task owns one input plane."""
    n_img, c_in = dx.shape[0], dx.shape[1]
    n_out, cg = w.shape[0], w.shape[1]
    og = n_out // (c_in // cg)
    for task in numba.prange(n_img * c_in):
        n = task // c_in
        c = task - n * c_in
        grp = c // cg
        cl = c - grp * cg
        dx[n, c][:] = 0
        for o in range(grp * og, (grp + 1) * og):
            _input_grad_rows(dx[n, c], g[n, o], w[o, cl], tables)
    return dx


@numba.njit(parallel=True, cache=True, fastmath=FASTMATH)
def weight_grad(x, g, dw, tables: Tables):  # pragma: no cover - compiled
    """``dw`` for the output cotangent ``g``; each task owns one (output, input) channel pair,
    summed over the images in float64."""
    c_in = x.shape[1]
    n_out, cg = dw.shape[0], dw.shape[1]
    og = n_out // (c_in // cg)
    for task in numba.prange(n_out * cg):
        o = task // cg
        cl = task - o * cg
        c = (o // og) * cg + cl
        acc = np.zeros(dw.shape[2:])
        for n in range(x.shape[0]):
            _weight_grad_rows(x[n, c], g[n, o], acc, tables)
        dw_taps = dw[o, cl]
        for kd in range(acc.shape[0]):
            for kh in range(acc.shape[1]):
                for kw in range(acc.shape[2]):
                    dw_taps[kd, kh, kw] = acc[kd, kh, kw]
    return dw


# ----------------------------------------------------------------------------------------------
# The same three kernels on a padded grid (see plan.Grid), for unit strides without lhs dilation:
# every tap is one long contiguous multiply-add instead of many short rows. The extra columns of
# the grid are dropped (or zero) afterwards.


# Which way a plane copy goes: into the grid buffer, or out of it.
INTO_GRID, OUT_OF_GRID = 0, 1


def _copy_plane_for(direction: int):
    @numba.njit(nogil=True)
    def copy_plane(plane, buffer, start, grid: Grid):  # pragma: no cover - compiled
        """Copy ``plane`` (D, H, W) to or from ``buffer``, where it starts at ``start`` on the
        grid's pitch: an input plane at ``grid.start`` of the padded buffer (whose padding stays
        zero), an output plane at 0 of a grid line (whose extra columns stay zero). Explicit loops
        over row views: a slice assignment costs 3x as much on short rows."""
        w_n = plane.shape[2]
        for d in range(plane.shape[0]):
            for h in range(plane.shape[1]):
                run = buffer[start + (d * grid.pitch_h + h) * grid.pitch_w :]
                row = plane[d, h]
                if direction == INTO_GRID:
                    for i in range(w_n):
                        run[i] = row[i]
                else:
                    for i in range(w_n):
                        row[i] = run[i]

    return copy_plane


_copy_into_grid = _copy_plane_for(INTO_GRID)
_copy_out_of_grid = _copy_plane_for(OUT_OF_GRID)


def _grid_taps_for(kind: int):
    @numba.njit(nogil=True, fastmath=FASTMATH)
    def grid_taps(padded, line, weights, grid: Grid):  # pragma: no cover - compiled
        """The grid family's one loop nest: for each tap, ``FORWARD`` adds ``weights[k] * padded``
        (from the tap's offset) to ``line``, ``INPUT_GRAD`` adds ``weights[k] * line`` to
        ``padded``, ``WEIGHT_GRAD`` adds ``<line, padded>`` to ``weights[k]``."""
        length = grid.length
        for k in range(grid.offsets.shape[0]):
            # A slice, not padded[j + off]: a signed index costs a wraparound check per element,
            # which keeps LLVM from vectorising the loop (7x slower).
            window = padded[grid.offsets[k] : grid.offsets[k] + length]
            if kind == FORWARD:
                wv = weights[k]
                for j in range(length):
                    line[j] += wv * window[j]
            elif kind == INPUT_GRAD:
                wv = weights[k]
                for j in range(length):
                    window[j] += wv * line[j]
            else:
                s = 0.0
                for j in range(length):
                    s += line[j] * window[j]
                weights[k] += s

    return grid_taps


_forward_taps = _grid_taps_for(FORWARD)
_input_grad_taps = _grid_taps_for(INPUT_GRAD)
_weight_grad_taps = _grid_taps_for(WEIGHT_GRAD)


@numba.njit(parallel=True, cache=True, fastmath=FASTMATH)
def grid_forward(x, w, y, grid: Grid, chunks: int):  # pragma: no cover - compiled
    """``forward`` on the padded grid; ``chunks`` tasks share one pair of scratch buffers."""
    c_in = x.shape[1]
    n_out, cg = w.shape[0], w.shape[1]
    og = n_out // (c_in // cg)
    wf = w.reshape(n_out, cg, -1)
    tasks = x.shape[0] * n_out
    chunks = min(chunks, tasks)
    for ch in numba.prange(chunks):
        padded = np.zeros(grid.plane, x.dtype)
        line = np.empty(grid.length, x.dtype)
        for task in range(tasks * ch // chunks, tasks * (ch + 1) // chunks):
            n = task // n_out
            o = task - n * n_out
            c0 = (o // og) * cg
            line[:] = 0
            for cl in range(cg):
                _copy_into_grid(x[n, c0 + cl], padded, grid.start, grid)
                _forward_taps(padded, line, wf[o, cl], grid)
            _copy_out_of_grid(y[n, o], line, 0, grid)
    return y


@numba.njit(parallel=True, cache=True, fastmath=FASTMATH)
def grid_input_grad(g, w, dx, grid: Grid, chunks: int):  # pragma: no cover - compiled
    """``input_grad`` on the padded grid."""
    c_in = dx.shape[1]
    n_out, cg = w.shape[0], w.shape[1]
    og = n_out // (c_in // cg)
    wf = w.reshape(n_out, cg, -1)
    tasks = dx.shape[0] * c_in
    chunks = min(chunks, tasks)
    for ch in numba.prange(chunks):
        padded = np.empty(grid.plane, dx.dtype)
        line = np.zeros(grid.length, dx.dtype)
        for task in range(tasks * ch // chunks, tasks * (ch + 1) // chunks):
            n = task // c_in
            c = task - n * c_in
            grp = c // cg
            cl = c - grp * cg
            padded[:] = 0
            for o in range(grp * og, (grp + 1) * og):
                _copy_into_grid(g[n, o], line, 0, grid)
                _input_grad_taps(padded, line, wf[o, cl], grid)
            _copy_out_of_grid(dx[n, c], padded, grid.start, grid)
    return dx


@numba.njit(parallel=True, cache=True, fastmath=FASTMATH)
def grid_weight_grad(x, g, dw, grid: Grid, chunks: int):  # pragma: no cover - compiled
    """``weight_grad`` on the padded grid."""
    c_in = x.shape[1]
    n_out, cg = dw.shape[0], dw.shape[1]
    og = n_out // (c_in // cg)
    dwf = dw.reshape(n_out, cg, -1)
    tasks = n_out * cg
    chunks = min(chunks, tasks)
    for ch in numba.prange(chunks):
        padded = np.zeros(grid.plane, x.dtype)
        line = np.zeros(grid.length, x.dtype)
        acc = np.empty(grid.offsets.shape[0])
        for task in range(tasks * ch // chunks, tasks * (ch + 1) // chunks):
            o = task // cg
            cl = task - o * cg
            c = (o // og) * cg + cl
            acc[:] = 0
            for n in range(x.shape[0]):
                _copy_into_grid(x[n, c], padded, grid.start, grid)
                _copy_into_grid(g[n, o], line, 0, grid)
                _weight_grad_taps(padded, line, acc, grid)
            for k in range(acc.shape[0]):
                dwf[o, cl, k] = acc[k]
    return dw


def _grid_chunks() -> int:
    # A few chunks per thread: scratch buffers are allocated once per chunk, not per plane
    # (thousands of depthwise planes made the allocations a visible cost).
    return 8 * numba.get_num_threads()


_KERNELS = {  # kind: (table kernel, grid kernel)
    FORWARD: (forward, grid_forward),
    INPUT_GRAD: (input_grad, grid_input_grad),
    WEIGHT_GRAD: (weight_grad, grid_weight_grad),
}


def run(kind: int, a: np.ndarray, b: np.ndarray, out: np.ndarray, plan: ConvPlan) -> None:
    """Fill ``out`` with the ``kind`` product of ``a`` and ``b`` (in the argument order of the
    kernels above), on the padded grid when the plan has one."""
    table_kernel, grid_kernel = _KERNELS[kind]
    if plan.grid is not None:
        grid_kernel(a, b, out, plan.grid, _grid_chunks())
    else:
        table_kernel(a, b, out, plan.tables)
