"""Direct loops: the family for few channels per group (depthwise, LeNet-sized layers), where a
matrix product would be tiny.

The forward pass and both gradients visit the same (input plane, output plane, tap) triples and
differ in which of the three operands they write. So each loop is written once and specialised
per kind: the nest over taps and rows (``_tap_rows_for``, or ``_grid_taps_for`` on a padded
grid) and the parallel kernel over planes (``_table_kernel_for``, ``_grid_kernel_for``), whose
task decomposition (``_schedule``, ``_pair``) keeps every written plane owned by one thread:
the forward pass owns an output plane (summing over input channels), the input gradient an
input plane (summing over output channels), the weight gradient one (output, input) channel
pair of the kernel (summing over images).

The kernels are ``parallel=True`` and compile on first use, cached on disk (``cache=True``).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.extending import overload

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


def _kind_dispatch(factory):
    """``call(kind, a, b, c, d)``, for numba kernels with a constant ``kind``: ``factory(kind)``'s
    nest applied to ``a, b, c, d``, chosen while compiling. A kernel holding its nest in a
    closure would not do: a closure cell holding a jitted function gives the kernel another
    cache key in every process, so ``cache=True`` would never find it on disk."""
    nests: dict[int, object] = {}

    def call(kind, a, b, c, d):  # pragma: no cover - numba replaces it by the overload below
        raise NotImplementedError(f"{factory.__name__}: call it from a numba kernel")

    @overload(call, prefer_literal=True)
    def specialise(kind, a, b, c, d):
        if isinstance(kind, types.IntegerLiteral):
            value = kind.literal_value
            if value not in nests:
                nests[value] = factory(value)
            nest = nests[value]
            return lambda kind, a, b, c, d: nest(a, b, c, d)
        return None

    return call


_tap_rows = _kind_dispatch(_tap_rows_for)


@numba.njit(nogil=True)
def _schedule(kind: int, sizes) -> tuple[int, int]:  # pragma: no cover - compiled
    """``(tasks, pairs)``: how many tasks the ``kind`` kernel runs (one per plane it writes) and
    how many (input plane, output plane) pairs each task visits. ``sizes`` is ``(images,
    input channels, output channels, input channels per group, output channels per group)``."""
    n_img, c_in, n_out, cg, og = sizes
    if kind == FORWARD:  # an output plane (n, o), over the input channels of its group
        return n_img * n_out, cg
    if kind == INPUT_GRAD:  # an input plane (n, c), over the output channels of its group
        return n_img * c_in, og
    return n_out * cg, n_img  # a kernel plane (o, cl), over the images


@numba.njit(nogil=True)
def _pair(kind: int, task: int, j: int, sizes) -> tuple[int, int, int, int]:  # pragma: no cover
    """``(n, c, o, cl)`` of the ``j``-th pair of ``task`` (see ``_schedule``): image, input
    channel, output channel and the input channel's index within its group."""
    _, c_in, n_out, cg, og = sizes
    if kind == FORWARD:
        n, o = task // n_out, task % n_out
        cl = j
        c = (o // og) * cg + cl
    elif kind == INPUT_GRAD:
        n, c = task // c_in, task % c_in
        cl = c % cg
        o = (c // cg) * og + j
    else:
        o, cl = task // cg, task % cg
        c = (o // og) * cg + cl
        n = j
    return n, c, o, cl


@numba.njit(nogil=True)
def _sizes(x, w) -> tuple[int, int, int, int, int]:  # pragma: no cover - compiled
    """The sizes ``_schedule`` takes, from the input-like ``x`` and the weights ``w``."""
    n_out, cg = w.shape[0], w.shape[1]
    return x.shape[0], x.shape[1], n_out, cg, n_out // (x.shape[1] // cg)


def _table_kernel_for(kind: int, parallel: bool):

    @numba.njit(parallel=parallel, cache=True, fastmath=FASTMATH)
    def table_kernel(x, y, w, tables: Tables):  # pragma: no cover - compiled
        """The ``kind`` product through the index tables; each task owns the plane it writes
        (see ``_schedule``), the weight gradient summing over images in float64."""
        sizes = _sizes(x, w)
        tasks, pairs = _schedule(kind, sizes)
        if not parallel:  # read, so that numba's disk cache keys the two builds apart
            tasks = tasks + 0
        for task in numba.prange(tasks):
            n, c, o, cl = _pair(kind, task, 0, sizes)
            if kind == FORWARD:
                y[n, o][:] = 0
            elif kind == INPUT_GRAD:
                x[n, c][:] = 0
            else:
                acc = np.zeros(w.shape[2:])
            for j in range(pairs):
                n, c, o, cl = _pair(kind, task, j, sizes)
                if kind == WEIGHT_GRAD:
                    _tap_rows(kind, x[n, c], y[n, o], acc, tables)
                else:
                    _tap_rows(kind, x[n, c], y[n, o], w[o, cl], tables)
            if kind == WEIGHT_GRAD:
                taps = w[o, cl]
                for kd in range(acc.shape[0]):
                    for kh in range(acc.shape[1]):
                        for kw in range(acc.shape[2]):
                            taps[kd, kh, kw] = acc[kd, kh, kw]

    return table_kernel


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


_grid_taps = _kind_dispatch(_grid_taps_for)


def _grid_kernel_for(kind: int, parallel: bool):

    @numba.njit(parallel=parallel, cache=True, fastmath=FASTMATH)
    def grid_kernel(x, y, w, grid: Grid, chunks: int):  # pragma: no cover - compiled
        """The ``kind`` product on the padded grid, tasks as ``table_kernel``'s; ``chunks``
        tasks share one set of scratch buffers (one chunk when serial)."""
        sizes = _sizes(x, w)
        tasks, pairs = _schedule(kind, sizes)
        wf = w.reshape(w.shape[0], w.shape[1], -1)
        chunks = min(chunks, tasks) if parallel else 1
        for ch in numba.prange(chunks):
            padded = np.zeros(grid.plane, x.dtype)  # its padding stays zero
            line = np.zeros(grid.length, x.dtype)  # and so do its extra columns
            acc = np.empty(grid.offsets.shape[0])
            for task in range(tasks * ch // chunks, tasks * (ch + 1) // chunks):
                n, c, o, cl = _pair(kind, task, 0, sizes)
                if kind == FORWARD:
                    line[:] = 0
                elif kind == INPUT_GRAD:
                    padded[:] = 0
                else:
                    acc[:] = 0
                for j in range(pairs):
                    n, c, o, cl = _pair(kind, task, j, sizes)
                    if kind != INPUT_GRAD:
                        _copy_into_grid(x[n, c], padded, grid.start, grid)
                    if kind != FORWARD:
                        _copy_into_grid(y[n, o], line, 0, grid)
                    if kind == WEIGHT_GRAD:
                        _grid_taps(kind, padded, line, acc, grid)
                    else:
                        _grid_taps(kind, padded, line, wf[o, cl], grid)
                if kind == FORWARD:
                    _copy_out_of_grid(y[n, o], line, 0, grid)
                elif kind == INPUT_GRAD:
                    _copy_out_of_grid(x[n, c], padded, grid.start, grid)
                else:
                    for k in range(acc.shape[0]):
                        wf[o, cl, k] = acc[k]

    return grid_kernel


def _grid_chunks() -> int:
    # A few chunks per thread: scratch buffers are allocated once per chunk, not per plane
    # (thousands of depthwise planes made the allocations a visible cost).
    return 8 * numba.get_num_threads()


# (kind, parallel): (table kernel, grid kernel). The serial builds run small problems on the
# caller: a parallel region's launch, and OpenMP's threads spinning afterwards against
# OpenBLAS's, cost more than a LeNet-sized layer's whole work on a busy 2-core machine.
_KERNELS = {(kind, par): (_table_kernel_for(kind, par), _grid_kernel_for(kind, par))
            for kind in (FORWARD, INPUT_GRAD, WEIGHT_GRAD) for par in (False, True)}  # fmt: skip

# Below this many multiply-adds the serial kernels run (a few milliseconds at most).
SERIAL_MACS = 1 << 23


def _macs(plan: ConvPlan) -> int:
    return plan.n * plan.o * plan.cg * plan.taps * plan.out_sp[0] * plan.out_sp[1] * plan.out_sp[2]


def run(kind: int, a: np.ndarray, b: np.ndarray, out: np.ndarray, plan: ConvPlan) -> None:
    """Fill ``out`` with the ``kind`` product of ``a`` and ``b`` (``FORWARD``: x, w -> y;
    ``INPUT_GRAD``: g, w -> dx; ``WEIGHT_GRAD``: x, g -> dw), on the padded grid when the plan
    has one."""
    # The kernels take their operands by role: input-like, output-like, weights.
    x, y, w = {FORWARD: (a, out, b), INPUT_GRAD: (out, a, b), WEIGHT_GRAD: (a, b, out)}[kind]
    table_kernel, grid_kernel = _KERNELS[kind, _macs(plan) >= SERIAL_MACS]
    if plan.grid is not None:
        grid_kernel(x, y, w, plan.grid, _grid_chunks())
    else:
        table_kernel(x, y, w, plan.tables)
