"""Plans: what a convolution's kernels need that depends only on shapes and parameters.

Every convolution runs on one canonical layout: ``x`` is ``(N, C, D, H, W)``, ``w`` is
``(O, C // G, KD, KH, KW)`` and ``y`` is ``(N, O, OD, OH, OW)`` (1-D and 2-D problems get unit
spatial axes, which are free views). Each spatial axis is described by a small table
``table[o, k]``: the input index read by output position ``o`` through tap ``k``, or -1 where
that tap falls into padding or between lhs-dilated elements. Tables make strides, padding of any
sign, lhs dilation and rhs dilation one code path; the last axis also gets an affine fast path
(``iw = ow * stride + off[k]`` on ``[lo[k], hi[k])``) whenever it is not lhs-dilated, so the
inner loops are contiguous and vectorise.

A plan is built once per (shapes, parameters) and cached: the forward pass and both gradients of
one layer, and every training step after the first, share it. Its arrays are read-only.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np


class ConvParams(NamedTuple):
    """A convolution's parameters in the canonical layout: one entry per spatial axis."""

    strides: tuple[int, ...]
    padding: tuple[tuple[int, int], ...]  # (low, high) per axis; negative crops
    lhs_dilation: tuple[int, ...]
    rhs_dilation: tuple[int, ...]
    groups: int  # feature groups

    @classmethod
    def of(cls, strides: Sequence[int], padding: Sequence[Sequence[int]],
           lhs_dilation: Sequence[int], rhs_dilation: Sequence[int],
           groups: int) -> ConvParams:  # fmt: skip
        """The hashable, normalised parameters (tuples of ints) from any sequences."""
        return cls(tuple(int(v) for v in strides), tuple((int(lo), int(hi)) for lo, hi in padding),
                   tuple(int(v) for v in lhs_dilation), tuple(int(v) for v in rhs_dilation),
                   int(groups))  # fmt: skip


def conv_out_size(n: int, k: int, s: int, pad: tuple[int, int], ld: int, rd: int) -> int:
    """Output length of one spatial axis (0 when the window does not fit)."""
    dilated_in = (n - 1) * ld + 1 if n > 0 else 0
    dilated_k = (k - 1) * rd + 1
    padded = dilated_in + pad[0] + pad[1]
    if padded < dilated_k:
        return 0
    return (padded - dilated_k) // s + 1


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=np.int64)
    a.flags.writeable = False
    return a


class AxisMap(NamedTuple):
    """How one spatial axis maps (output position, tap) to an input position."""

    table: np.ndarray  # (n_out, k): input index, or -1 in padding / between dilated elements
    lo: np.ndarray  # (k,): with ``affine``, tap t is valid exactly for outputs [lo[t], hi[t])
    hi: np.ndarray
    off: np.ndarray  # (k,): ... where it reads input ``o * stride + off[t]``
    stride: int
    affine: bool  # no lhs dilation, so the valid outputs of a tap are one strided run


def axis_map(n_in: int, k: int, stride: int, pad: tuple[int, int], lhs_dil: int,
             rhs_dil: int) -> AxisMap:  # fmt: skip
    """The index table of one axis and its affine description."""
    n_out = conv_out_size(n_in, k, stride, pad, lhs_dil, rhs_dil)
    pad_lo = pad[0]
    o = np.arange(n_out, dtype=np.int64)[:, None]
    taps = np.arange(k, dtype=np.int64)[None, :]
    p = o * stride + taps * rhs_dil - pad_lo
    q = p // lhs_dil
    valid = (p >= 0) & (p % lhs_dil == 0) & (q < n_in)
    affine = lhs_dil == 1
    lo = np.zeros(k, np.int64)
    hi = np.zeros(k, np.int64)
    if affine and n_out:
        for t in range(k):
            ok = valid[:, t]
            if ok.any():
                lo[t] = int(np.argmax(ok))
                hi[t] = n_out - int(np.argmax(ok[::-1]))
    off = np.arange(k, dtype=np.int64) * rhs_dil - pad_lo
    return AxisMap(_frozen(np.where(valid, q, -1)), _frozen(lo), _frozen(hi), _frozen(off),
                   stride, affine)  # fmt: skip


class Tables(NamedTuple):
    """The index tables the table-driven kernels take (a tuple numba passes as one argument).

    Only W needs the affine description: D and H index whole rows, W is the inner loop.
    """

    d: np.ndarray  # (OD, KD)
    h: np.ndarray  # (OH, KH)
    w: np.ndarray  # (OW, KW)
    w_lo: np.ndarray
    w_hi: np.ndarray
    w_off: np.ndarray
    w_stride: int
    w_affine: bool


class Grid(NamedTuple):
    """The padded grid of the grid kernels (unit strides, no lhs dilation): each input plane is
    copied into a zero-padded buffer (every axis grown by both its pads), and tap ``k`` of a
    whole output plane is one contiguous run of ``length`` elements starting at ``offsets[k]``.
    Output planes are laid on the same pitch, with extra columns at the end of each row."""

    start: int  # where the plane's first element sits in the buffer (after the low pads)
    pitch_h: int  # rows per padded slice: H + both pads
    pitch_w: int  # padded row length: W + both pads
    plane: int  # buffer elements
    length: int  # grid elements one output plane spans, gaps between rows included
    offsets: np.ndarray  # (taps,)


def _to3(shape: Sequence[int]) -> tuple[int, ...]:
    """Spatial shape padded to three axes with leading ones."""
    return (1,) * (3 - len(shape)) + tuple(shape)


@dataclass(frozen=True)
class ConvPlan:
    """A convolution in canonical 3-D form: sizes, groups and the index tables."""

    n: int  # images
    c: int  # input channels
    o: int  # output channels
    cg: int  # input channels per group
    groups: int
    in_sp: tuple[int, int, int]
    k_sp: tuple[int, int, int]
    out_sp: tuple[int, int, int]
    tables: Tables
    grid: Grid | None  # None unless strides and lhs dilation are 1 and no padding is negative
    # H and W unit-stride and undilated, output rows as wide as input rows (SAME stride 1):
    # the packed family copies whole runs of input rows at once.
    contiguous_rows: bool
    # Every stride and lhs dilation 1: the input gradient is itself a convolution.
    unit_strides: bool

    @property
    def og(self) -> int:
        """Output channels per group."""
        return self.o // self.groups

    @property
    def taps(self) -> int:
        return math.prod(self.k_sp)

    @property
    def per_img(self) -> int:
        """Output rows (OD * OH) of one image: the unit the packed family tiles."""
        return self.out_sp[0] * self.out_sp[1]

    def tile_rows(self, itemsize: int, max_bytes: int, min_bytes: int) -> int:
        """Output rows per packed slab: at most ``max_bytes``, and at most 1/4 of one image's
        operands (but not below ``min_bytes``) so the workspace stays small beside small
        problems. The batch size does not enter: the workspace is per thread, not per image."""
        one_image = itemsize * (
            self.c * math.prod(self.in_sp)
            + self.o * self.cg * self.taps
            + self.o * math.prod(self.out_sp)
        )
        budget = int(min(max_bytes, max(min_bytes, one_image // 4)))
        row_bytes = max(1, self.cg * self.taps * self.out_sp[2] * itemsize)
        return int(min(self.per_img, max(1, budget // row_bytes)))


def _grid(in_sp, k_sp, out_sp, padding3, rhs_dil3) -> Grid:
    totals = [lo + hi for lo, hi in padding3]
    pitch_h, pitch_w = in_sp[1] + totals[1], in_sp[2] + totals[2]
    kd, kh, kw = np.meshgrid(*(np.arange(k) for k in k_sp), indexing="ij")
    offsets = kd * rhs_dil3[0] * pitch_h * pitch_w + kh * rhs_dil3[1] * pitch_w + kw * rhs_dil3[2]
    (lo_d, _), (lo_h, _), (lo_w, _) = padding3
    return Grid(
        start=(lo_d * pitch_h + lo_h) * pitch_w + lo_w, pitch_h=pitch_h, pitch_w=pitch_w,
        plane=(in_sp[0] + totals[0]) * pitch_h * pitch_w,
        length=(out_sp[0] - 1) * pitch_h * pitch_w + (out_sp[1] - 1) * pitch_w + out_sp[2],
        offsets=_frozen(offsets.ravel()),
    )  # fmt: skip


def conv_plan(x_shape: Sequence[int], w_shape: Sequence[int], params: ConvParams) -> ConvPlan:
    """The (cached) plan of one convolution, from its shapes and parameters."""
    return _cached_plan(tuple(x_shape), tuple(w_shape), ConvParams.of(*params))


@functools.lru_cache(maxsize=256)
def _cached_plan(x_shape, w_shape, params: ConvParams) -> ConvPlan:
    extra = 3 - len(params.strides)
    s3 = (1,) * extra + params.strides
    p3 = ((0, 0),) * extra + params.padding
    ld3 = (1,) * extra + params.lhs_dilation
    rd3 = (1,) * extra + params.rhs_dilation
    in_sp, k_sp = _to3(x_shape[2:]), _to3(w_shape[2:])
    d, h, w = (axis_map(*a) for a in zip(in_sp, k_sp, s3, p3, ld3, rd3, strict=True))
    out_sp = (d.table.shape[0], h.table.shape[0], w.table.shape[0])
    unit = all(v == 1 for v in s3 + ld3)
    return ConvPlan(
        n=x_shape[0], c=x_shape[1], o=w_shape[0], cg=w_shape[1], groups=params.groups,
        in_sp=in_sp, k_sp=k_sp, out_sp=out_sp,
        tables=Tables(d.table, h.table, w.table, w.lo, w.hi, w.off, w.stride, w.affine),
        grid=_grid(in_sp, k_sp, out_sp, p3, rd3)
        if unit and all(lo >= 0 and hi >= 0 for lo, hi in p3) else None,
        contiguous_rows=s3[1] == s3[2] == ld3[1] == ld3[2] == 1 and out_sp[2] == in_sp[2],
        unit_strides=unit,
    )  # fmt: skip
