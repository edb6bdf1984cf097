"""Windowed reductions (pooling) written against an array module: one whole-array pass per
window tap, as ``conv_taps`` does for convolutions.

The operand is padded and base-dilated once (the reduction's identity in the holes, a
validity mask beside it where the selection needs one); each tap of the window is then a
strided slice of that buffer with the output's shape. The results are those of the numba
kernels in ``vfunc.primitives.window_kernels``: the same first-maximum rule (NaN counts as the
maximum, padding is never selected), sums in the same tap order.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from vfunc.primitives.window_kernels import WindowParams


def _padded_shape(shape: tuple[int, ...], p: WindowParams) -> tuple[int, ...]:
    # the base-dilated operand with the positive part of the padding on each side
    return tuple(
        (n - 1) * b + 1 + max(lo, 0) + max(hi, 0) if n else max(lo, 0) + max(hi, 0)
        for n, b, (lo, hi) in zip(shape, p.base_dilation, p.padding, strict=True)
    )


def _operand_slots(shape: tuple[int, ...], p: WindowParams) -> tuple[slice, ...]:
    # where the operand's elements sit in the padded buffer
    return tuple(
        slice(max(lo, 0), max(lo, 0) + (n - 1) * b + 1 if n else max(lo, 0), b)
        for n, b, (lo, _) in zip(shape, p.base_dilation, p.padding, strict=True)
    )


def _window_view(buf: Any, p: WindowParams) -> Any:
    # the padded buffer less the negative part of the padding: what the windows slide over
    return buf[tuple(
        slice(max(-lo, 0), n - max(-hi, 0)) for n, (lo, hi) in zip(buf.shape, p.padding,
                                                                  strict=True)
    )]  # fmt: skip


def _pad(xp: Any, x: Any, p: WindowParams, fill: Any) -> Any:
    buf = xp.full(_padded_shape(x.shape, p), fill, dtype=x.dtype)
    buf[_operand_slots(x.shape, p)] = x
    return _window_view(buf, p)


def _taps(out_shape: tuple[int, ...], p: WindowParams) -> Iterator[tuple[slice, ...]]:
    """The strided slice of the window view read by each tap, in row-major window order."""
    for tap in itertools.product(*(range(k) for k in p.window)):
        yield tuple(
            slice(t * d, t * d + (o - 1) * s + 1 if o else t * d, s)
            for t, d, s, o in zip(tap, p.window_dilation, p.strides, out_shape, strict=True)
        )


def window_reduce(xp: Any, kind: str, x: Any, p: WindowParams, out_shape: tuple) -> Any:
    """``reduce_window_max`` (``kind="max"``) or ``reduce_window_sum`` of ``x``."""
    if kind == "max":
        fill, combine = -xp.inf, xp.maximum  # maximum propagates NaN: NaN wins, as lax.max
    else:
        fill, combine = 0, xp.add
    view = _pad(xp, x, p, fill)
    acc = xp.full(out_shape, fill, dtype=x.dtype)
    for sl in _taps(out_shape, p):
        acc = combine(acc, view[sl])
    return acc


def window_sum_transpose(xp: Any, g: Any, shape: tuple[int, ...], p: WindowParams) -> Any:
    """Each element of ``g`` added over its window of a zero operand of ``shape``."""
    buf = xp.zeros(_padded_shape(shape, p), dtype=g.dtype)
    view = _window_view(buf, p)
    for sl in _taps(tuple(g.shape), p):
        view[sl] += g  # within one tap the strided slice never repeats an element
    return buf[_operand_slots(shape, p)].copy()


def _first_max(xp: Any, x: Any, p: WindowParams, out_shape: tuple) -> tuple[Any, list]:
    """The tap of each window's first maximum (-1 where the window holds only padding) and
    the taps' slices."""
    view = _pad(xp, x, p, 0)
    valid = _pad(xp, xp.ones(x.shape, dtype=bool), p, False)
    best = xp.full(out_shape, -xp.inf, dtype=x.dtype)
    which = xp.full(out_shape, -1, dtype=xp.int32)
    slices = list(_taps(out_shape, p))
    for t, sl in enumerate(slices):
        xv = view[sl]
        take = valid[sl] & ((which < 0) | (xv > best) | ((xv != xv) & (best == best)))
        best = xp.where(take, xv, best)
        which = xp.where(take, xp.int32(t), which)
    return which, slices


def window_select(xp: Any, scatter: bool, src: Any, x: Any, p: WindowParams,
                  out_shape: tuple) -> Any:  # fmt: skip
    """``select_and_scatter_add`` (``scatter``: ``src`` added at each window's first maximum
    of ``x``) or ``select_and_gather_add`` (``src`` read there)."""
    which, slices = _first_max(xp, x, p, out_shape)
    zero = xp.zeros((), dtype=src.dtype)
    if scatter:
        buf = xp.zeros(_padded_shape(x.shape, p), dtype=src.dtype)
        view = _window_view(buf, p)
        for t, sl in enumerate(slices):
            view[sl] += xp.where(which == t, src, zero)
        return buf[_operand_slots(x.shape, p)].copy()
    padded = _pad(xp, src, p, 0)
    out = xp.zeros(out_shape, dtype=src.dtype)
    for t, sl in enumerate(slices):
        out = xp.where(which == t, padded[sl], out)
    return out
