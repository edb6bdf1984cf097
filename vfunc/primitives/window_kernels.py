"""Numba kernels of the windowed reductions (pooling) in ``window.py``.

An operand of any rank is viewed as ``(B, D, H, W)`` planes: ``B`` collects every axis the window
leaves alone, and D, H, W are the (at most three) axes it spans, each described by an index table
``table[o, k]`` as in convolution (``conv_kernels.plan``): the input index output ``o`` reads
through tap ``k``, or -1 in padding and between base-dilated elements, which hold the
reduction's identity and so are skipped.

The four kernels share one loop nest, ``_windows_for``. They are serial and release the GIL; the
conv worker pool runs them over blocks of planes (serial kernels compile 5x faster than parfor
ones).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numba
import numpy as np

from vfunc.primitives.conv_kernels.plan import axis_map, conv_out_size
from vfunc.primitives.conv_kernels.threads import run_over_planes

# What the nest computes. The nest is specialised per kind by a factory: numba reads the closure's
# ``kind`` as a constant and prunes the other kinds' branches before typing (so a read-only
# operand is never typed as written). ARGMAX keeps a run-time ``scatter`` flag, as both of its
# directions write only the fresh ``dst``: one compilation serves the VJP and the JVP.
MAX, SUM, SUM_TRANSPOSE, ARGMAX = 0, 1, 2, 3


def _windows_for(kind: int):
    @numba.njit(cache=True, nogil=True)
    def windows(src, x, dst, tables, scatter):  # pragma: no cover - compiled
        """Every window of every plane: ``MAX`` and ``SUM`` reduce ``x`` into ``dst``;
        ``SUM_TRANSPOSE`` adds each ``src`` (output-shaped) over its window of ``dst``;
        ``ARGMAX`` with ``scatter`` adds ``src[out]`` at the window's first maximum of ``x`` (NaN
        counts as the maximum) -- the max-pool VJP -- and without it reads ``src[in]`` from
        there, its transpose, which is also the JVP. ``tables`` are the D, H, W index tables."""
        td, th, tw = tables
        for b in range(x.shape[0]):
            if kind == SUM_TRANSPOSE or (kind == ARGMAX and scatter):
                dst[b] = 0
            for od in range(td.shape[0]):
                for oh in range(th.shape[0]):
                    for ow in range(tw.shape[0]):
                        if kind == MAX:
                            m = -np.inf
                        elif kind == SUM:
                            acc = 0.0
                        elif kind == SUM_TRANSPOSE:
                            v = src[b, od, oh, ow]
                        else:
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
                                    if iw < 0:
                                        continue
                                    if kind == MAX:
                                        xv = x[b, idd, ih, iw]
                                        # NaN wins, as in lax.max; once m is NaN nothing beats it.
                                        if xv > m or xv != xv:
                                            m = xv
                                    elif kind == SUM:
                                        acc += x[b, idd, ih, iw]
                                    elif kind == SUM_TRANSPOSE:
                                        dst[b, idd, ih, iw] += v
                                    else:
                                        xv = x[b, idd, ih, iw]
                                        if bd < 0 or xv > m or (xv != xv and m == m):
                                            m = xv
                                            bd, bh, bw = idd, ih, iw
                        if kind == MAX:
                            dst[b, od, oh, ow] = m
                        elif kind == SUM:
                            dst[b, od, oh, ow] = acc
                        elif kind == ARGMAX and scatter:
                            if bd >= 0:
                                dst[b, bd, bh, bw] += src[b, od, oh, ow]
                        elif kind == ARGMAX:
                            dst[b, od, oh, ow] = src[b, bd, bh, bw] if bd >= 0 else 0

    return windows


# Each takes (src, x, dst, tables, scatter); src and scatter matter only where said above.
_window_max = _windows_for(MAX)
_window_sum = _windows_for(SUM)
_window_sum_transpose = _windows_for(SUM_TRANSPOSE)
_window_argmax_apply = _windows_for(ARGMAX)


# ----------------------------------------------------------------------------------------------
# Tiled windows: a window as large as its stride, no padding or dilation, over H and W only
# (``MaxPool2d(2)``). The windows tile the plane, so the max reads each row once without index
# tables, and the max's VJP writes every element of a window (the cotangent at its first
# maximum, zeros elsewhere) instead of clearing the plane and adding: 3-4x the table kernels.


@numba.njit(cache=True, nogil=True)
def _tiled_max(x, dst, kh, kw):  # pragma: no cover - compiled
    """``dst[b, 0, oh, ow]`` = the max of window (oh, ow) of ``x[b, 0]`` (NaN wins)."""
    for b in range(x.shape[0]):
        for oh in range(dst.shape[2]):
            out = dst[b, 0, oh]
            for ow in range(out.shape[0]):
                out[ow] = -np.inf
            for i in range(kh):
                row = x[b, 0, oh * kh + i]
                for ow in range(out.shape[0]):
                    m = out[ow]
                    for j in range(kw):
                        xv = row[ow * kw + j]
                        if xv > m or xv != xv:  # once m is NaN nothing beats it
                            m = xv
                    out[ow] = m


@numba.njit(cache=True, nogil=True)
def _tiled_argmax_scatter(src, x, dst, kh, kw):  # pragma: no cover - compiled
    """The max's VJP on tiled windows: ``src[b, 0, oh, ow]`` at the window's first maximum of
    ``x`` (NaN counts as the maximum), zeros elsewhere, and in rows/columns no window covers."""
    oh_n, ow_n = src.shape[2], src.shape[3]
    for b in range(x.shape[0]):
        if oh_n * kh != x.shape[2] or ow_n * kw != x.shape[3]:
            dst[b] = 0
        # Two passes over each window, written as selects rather than branches on the data
        # (random data mispredicts every other comparison): its max, then the first element
        # equal to it (or the first NaN) takes the cotangent. Plain 4-D indexing: row views
        # made per window cost more than the window's work.
        for oh in range(oh_n):
            for ow in range(ow_n):
                m = x[b, 0, oh * kh, ow * kw]
                for i in range(kh):
                    for j in range(kw):
                        xv = x[b, 0, oh * kh + i, ow * kw + j]
                        m = xv if (xv > m) | (xv != xv) else m
                v = src[b, 0, oh, ow]
                nan = m != m
                found = False
                for i in range(kh):
                    for j in range(kw):
                        xv = x[b, 0, oh * kh + i, ow * kw + j]
                        hit = (not found) & ((xv == m) | (nan & (xv != xv)))
                        dst[b, 0, oh * kh + i, ow * kw + j] = v if hit else 0
                        found |= hit


@dataclass(frozen=True)
class WindowPlan:
    """A windowed reduction as (B, D, H, W) planes: which axes the window spans, and tables."""

    perm: tuple[int, ...]  # operand axes in plane order: the free ones, then the spanned ones
    planes: int  # B
    in3: tuple[int, int, int]  # the spanned axes' sizes, padded to three with ones
    out3: tuple[int, int, int]
    out_shape: tuple[int, ...]  # the full output shape
    tables: tuple[np.ndarray, np.ndarray, np.ndarray]
    tiled: tuple[int, int] | None  # (KH, KW) when the windows tile H and W (see _tiled_max)

    def to_planes(self, a: np.ndarray, spatial: tuple[int, ...]) -> np.ndarray:
        return np.ascontiguousarray(a.transpose(self.perm)).reshape((self.planes,) + spatial)

    def from_planes(self, a: np.ndarray, full_shape: tuple[int, ...]) -> np.ndarray:
        permuted = tuple(full_shape[i] for i in self.perm)
        return a.reshape(permuted).transpose(np.argsort(self.perm))


class WindowParams(NamedTuple):
    """A windowed reduction's parameters: one entry per operand axis."""

    window: tuple[int, ...]
    strides: tuple[int, ...]
    padding: tuple[tuple[int, int], ...]  # (low, high) per axis
    base_dilation: tuple[int, ...]
    window_dilation: tuple[int, ...]

    @classmethod
    def of(cls, window: Sequence[int], strides: Sequence[int],
           padding: Sequence[Sequence[int]], base_dilation: Sequence[int],
           window_dilation: Sequence[int]) -> WindowParams:  # fmt: skip
        """The hashable, normalised parameters (tuples of ints) from any sequences."""
        return cls(_ints(window), _ints(strides), tuple(_ints(p) for p in padding),
                   _ints(base_dilation), _ints(window_dilation))  # fmt: skip


def _ints(values: Sequence[int]) -> tuple[int, ...]:
    return tuple(int(v) for v in values)


def window_plan(shape: Sequence[int], params: WindowParams) -> WindowPlan:
    """The (cached) plan of one windowed reduction."""
    return _cached_window_plan(tuple(shape), WindowParams.of(*params))


@functools.lru_cache(maxsize=256)
def _cached_window_plan(shape, params: WindowParams) -> WindowPlan:
    window, strides, padding, base_dil, window_dil = params
    trivial = [
        k == 1 and s == 1 and p == (0, 0) and bd == 1 and wd == 1
        for k, s, p, bd, wd in zip(window, strides, padding, base_dil, window_dil, strict=True)
    ]
    if trivial.count(False) > 3:
        raise NotImplementedError("reduce_window: windows over more than 3 axes")
    busy = [a for a, t in enumerate(trivial) if not t]
    free = [a for a in range(len(shape)) if a not in busy]
    out_shape = tuple(conv_out_size(*axis) for axis in zip(shape, *params, strict=True))
    unit = 3 - len(busy)
    pick = [(1, 1, 1, (0, 0), 1, 1)] * unit + [
        (shape[a], window[a], strides[a], padding[a], base_dil[a], window_dil[a]) for a in busy
    ]
    tables = tuple(axis_map(*q).table for q in pick)
    # (size, window, stride, padding, base dilation, window dilation) of D, H, W
    plain = [q[1] == q[2] and q[3] == (0, 0) and q[4] == q[5] == 1 for q in pick]
    tiled = (pick[1][1], pick[2][1]) if all(plain) and pick[0][1] == 1 else None
    return WindowPlan(
        perm=tuple(free + busy), planes=math.prod(shape[a] for a in free),
        in3=tuple(q[0] for q in pick), out3=tuple(t.shape[0] for t in tables),
        out_shape=out_shape,
        tables=tables, tiled=tiled,
    )  # fmt: skip


def window_reduce(kind: str, x: np.ndarray, params: WindowParams) -> np.ndarray:
    """``reduce_window`` with max (``kind='max'``) or add (``'sum'``)."""
    wp = window_plan(x.shape, params)
    xp = wp.to_planes(x, wp.in3)
    y = np.empty((wp.planes,) + wp.out3, x.dtype)
    if y.size:
        if kind == "max" and wp.tiled is not None:
            def work(b0, b1):
                _tiled_max(xp[b0:b1], y[b0:b1], *wp.tiled)
        else:
            kernel = _window_max if kind == "max" else _window_sum

            def work(b0, b1):
                kernel(xp[b0:b1], xp[b0:b1], y[b0:b1], wp.tables, False)

        run_over_planes(work, wp.planes, y.size)
    return wp.from_planes(y, wp.out_shape)


def window_sum_transpose(g: np.ndarray, shape: Sequence[int], params: WindowParams) -> np.ndarray:
    """The transpose (VJP) of the windowed sum: every output cotangent added to its window."""
    wp = window_plan(shape, params)
    dx = np.zeros((wp.planes,) + wp.in3, g.dtype)  # zeros: the kernel runs only if g has any
    if g.size and dx.size:
        gp = wp.to_planes(g, wp.out3)
        run_over_planes(
            lambda b0, b1: _window_sum_transpose(gp[b0:b1], gp[b0:b1], dx[b0:b1], wp.tables,
                                                 False),
            wp.planes, dx.size,
        )  # fmt: skip
    return wp.from_planes(dx, tuple(shape))


def window_select(scatter: bool, src: np.ndarray, x: np.ndarray,
                  params: WindowParams) -> np.ndarray:  # fmt: skip
    """Scatter ``src`` (output-shaped) to, or gather ``src`` (input-shaped) from, each window's
    first maximum of ``x``."""
    wp = window_plan(x.shape, params)
    xp = wp.to_planes(x, wp.in3)
    # np.empty: the kernel clears each plane it scatters into, and writes every gathered one.
    if scatter:
        dst = np.empty((wp.planes,) + wp.in3, src.dtype)
        sp = wp.to_planes(src, wp.out3)
        full = x.shape
    else:
        dst = np.empty((wp.planes,) + wp.out3, src.dtype)
        sp = wp.to_planes(src, wp.in3)
        full = wp.out_shape
    if dst.size and sp.size:
        if scatter and wp.tiled is not None:
            def work(b0, b1):
                _tiled_argmax_scatter(sp[b0:b1], xp[b0:b1], dst[b0:b1], *wp.tiled)
        else:
            def work(b0, b1):
                _window_argmax_apply(sp[b0:b1], xp[b0:b1], dst[b0:b1], wp.tables, scatter)

        run_over_planes(work, wp.planes, xp.size)
    return wp.from_planes(dst, full)
