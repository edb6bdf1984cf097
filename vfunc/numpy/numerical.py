"""Searching sorted data and numerical helpers: ``searchsorted``, ``digitize``, ``interp``,
``bincount``, ``histogram``, ``trapezoid``, ``ediff1d``, with JAX's semantics.

All are compositions of sort, cumsum, gather and ``where``, so they work under ``jit`` and
``vmap``, and ``interp``/``trapezoid``/``histogram``'s weights differentiate as in JAX.
"""

from __future__ import annotations

import builtins
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from vfunc import dtypes, lax
from vfunc.core import Array, Tracer
from vfunc.errors import ConcretizationTypeError, ShapeError
from vfunc.numpy._promote import as_array, convert, promote_args
from vfunc.numpy.creation import linspace, zeros
from vfunc.numpy.indexing import take
from vfunc.numpy.movement import cumsum, diff, moveaxis
from vfunc.numpy.reductions import max, min, sum
from vfunc.numpy.shapes import ravel
from vfunc.numpy.ufuncs import (
    abs,
    clip,
    equal,
    greater,
    isnan,
    less,
    less_equal,
    logical_and,
    logical_not,
    logical_or,
    remainder,
    where,
)

ArrayLike = Any

SEARCH_METHODS = ("scan", "scan_unrolled", "sort", "compare_all")
# Above this many (len(a) * len(v)) comparisons, searchsorted sorts instead of comparing all.
_COMPARE_ALL_LIMIT = 1 << 16


def searchsorted(
    a: ArrayLike, v: ArrayLike, side: str = "left", sorter: ArrayLike | None = None, *,
    method: str = "scan",
) -> Array:  # fmt: skip
    """Indices at which inserting ``v`` into the sorted 1-D ``a`` keeps it sorted.

    ``side="left"`` gives the first such index, ``"right"`` the last; NaNs sort last, as in
    NumPy. ``method`` is accepted for JAX compatibility: every method gives the same result;
    vfunc compares all pairs for small inputs and merges by sorting otherwise.

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.searchsorted(vnp.array([1, 2, 2, 3]), vnp.array([2, 0, 5]), side="right")
        Array([3, 0, 4], dtype=int32)
    """
    if side not in ("left", "right"):
        raise ValueError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
    if method not in SEARCH_METHODS:
        raise ValueError(f"searchsorted: method must be one of {SEARCH_METHODS}, got {method!r}")
    arr, values = promote_args(as_array(a, "searchsorted"), as_array(v, "searchsorted"))
    if arr.ndim != 1:
        raise ShapeError(f"searchsorted: a must be 1-D, got shape {arr.shape}")
    if arr.dtype.kind == "c":
        raise TypeError(f"searchsorted: complex arrays ({arr.dtype}) are not supported")
    if sorter is not None:
        arr = take(arr, sorter, mode="clip")
    flat = ravel(values)
    if method == "compare_all" or (
        method != "sort" and arr.shape[0] * flat.shape[0] <= _COMPARE_ALL_LIMIT
    ):
        found = _compare_all(arr, flat, side)
    else:
        found = _merge(arr, flat, side)
    return lax.reshape(found, values.shape)


def _before(a: Array, v: Array, side: str) -> Array:
    """Whether ``a`` sorts before ``v`` (``left``) or not after it (``right``), NaNs last."""
    if a.dtype.kind != "f":
        return less(a, v) if side == "left" else less_equal(a, v)
    if side == "left":
        return logical_or(less(a, v), logical_and(isnan(v), logical_not(isnan(a))))
    return logical_or(less_equal(a, v), isnan(v))


def _compare_all(arr: Array, flat: Array, side: str) -> Array:
    pairs = _before(lax.expand_dims(arr, (0,)), lax.expand_dims(flat, (1,)), side)
    return sum(pairs, axis=1, dtype=dtypes.default_int())


def _merge(arr: Array, flat: Array, side: str) -> Array:
    # Sort a and v together; a tag orders a value against equal entries of a (before them for
    # "left", after for "right"). Each value's index is then the count of a's entries ahead of
    # it, and a second sort by original position puts the counts back in v's order.
    n, m = arr.shape[0], flat.shape[0]
    index_dtype = dtypes.default_int()
    a_tag, v_tag = (1, 0) if side == "left" else (0, 1)
    tags = np.concatenate([np.full(n, a_tag), np.full(m, v_tag)]).astype(index_dtype)
    keys = lax.concatenate([arr, flat], 0)
    order = lax.iota(index_dtype, n + m)
    _, sorted_tags, sorted_order = lax.sort([keys, lax.as_array(tags), order], 0, num_keys=2)
    is_a = convert(equal(sorted_tags, a_tag), index_dtype)
    ahead = cumsum(is_a) - is_a
    _, back = lax.sort([sorted_order, ahead], 0, num_keys=1)
    return back[n:]


def digitize(
    x: ArrayLike, bins: ArrayLike, right: bool = False, *, method: str | None = None
) -> Array:
    """Index of the bin each ``x`` falls in, for monotonic ``bins`` (increasing or decreasing),
    as ``numpy.digitize``: ``bins[i-1] <= x < bins[i]`` (``<``/``<=`` swapped with ``right``).
    """
    b = as_array(bins, "digitize")
    if b.ndim != 1:
        raise ShapeError(f"digitize: bins must be 1-D, got shape {b.shape}")
    side = "left" if right else "right"
    kw = {"method": method} if method is not None else {}
    if b.shape[0] == 0:
        return zeros(as_array(x, "digitize").shape, dtypes.default_int())
    rising = searchsorted(b, x, side=side, **kw)
    falling = b.shape[0] - searchsorted(lax.rev(b, (0,)), x, side=side, **kw)
    return where(b[-1] >= b[0], rising, falling)


def interp(
    x: ArrayLike, xp: ArrayLike, fp: ArrayLike, left: ArrayLike | str | None = None,
    right: ArrayLike | str | None = None, period: ArrayLike | None = None,
) -> Array:  # fmt: skip
    """Piecewise-linear interpolation of the points ``(xp, fp)`` (``xp`` increasing) at ``x``.

    As ``jax.numpy.interp``: ``left``/``right`` (default ``fp[0]``/``fp[-1]``) outside the data,
    or ``"extrapolate"`` to continue the end segments; ``period`` for periodic data. The
    derivative in ``x`` is the slope of the segment to the right of a knot (of the last segment
    at ``xp[-1]``), zero outside the data; ``fp`` and ``xp`` are differentiable too.

    Example:
        >>> import vfunc.numpy as vnp
        >>> xp, fp = vnp.array([1.0, 2.0, 3.0]), vnp.array([1.0, 4.0, 9.0])
        >>> vnp.interp(vnp.array([0.0, 1.5, 5.0]), xp, fp)
        Array([1. , 2.5, 9. ], dtype=float32)
    """
    xa, xpa, fpa = promote_args(
        as_array(x, "interp"), as_array(xp, "interp"), as_array(fp, "interp"), inexact=True
    )
    if xpa.ndim != 1 or fpa.ndim != 1 or xpa.shape != fpa.shape or xpa.shape[0] == 0:
        raise ShapeError(
            f"interp: xp and fp must be 1-D of one non-zero length, got {xpa.shape} and {fpa.shape}"
        )
    if xa.dtype.kind == "c" or xpa.dtype.kind == "c":
        raise TypeError("interp: x and xp must be real")
    for name, value in (("left", left), ("right", right)):
        if isinstance(value, str) and value != "extrapolate":
            raise ValueError(f"interp: {name} must be a number or 'extrapolate', got {value!r}")
    if period is not None:
        if isinstance(left, str) or isinstance(right, str):
            raise ValueError("interp: left/right='extrapolate' does not combine with period")
        xa, xpa, fpa = _periodic(xa, xpa, fpa, period)
    n = xpa.shape[0]
    if n == 1:
        f = lax.broadcast_in_dim(fpa[0], xa.shape, ())
    else:
        i = clip(searchsorted(xpa, xa, side="right"), 1, n - 1)
        lo_x, hi_x, lo_f, hi_f = take(xpa, i - 1), take(xpa, i), take(fpa, i - 1), take(fpa, i)
        dx = hi_x - lo_x
        # Repeated knots: take the right value, and keep the unselected branch free of 0/0.
        flat = abs(dx) <= 10 * np.finfo(dx.dtype).eps
        f = where(flat, hi_f, lo_f + (xa - lo_x) / where(flat, 1, dx) * (hi_f - lo_f))
    if period is None:
        if not isinstance(left, str):
            f = where(less(xa, xpa[0]), fpa[0] if left is None else left, f)
        if not isinstance(right, str):
            f = where(greater(xa, xpa[-1]), fpa[-1] if right is None else right, f)
    return f


def _periodic(x: Array, xp: Array, fp: Array, period: ArrayLike) -> tuple[Array, Array, Array]:
    if not isinstance(period, Tracer) and np.any(np.asarray(period) == 0):
        raise ValueError("interp: period must be nonzero")
    period = abs(as_array(period, "interp"))
    x, xp = remainder(x, period), remainder(xp, period)
    xp, fp = lax.sort([xp, fp], 0, num_keys=1)
    xp = lax.concatenate([xp[-1:] - period, xp, xp[:1] + period], 0)
    fp = lax.concatenate([fp[-1:], fp, fp[:1]], 0)
    return x, xp, fp


def bincount(
    x: ArrayLike, weights: ArrayLike | None = None, minlength: int = 0, *,
    length: int | None = None,
) -> Array:  # fmt: skip
    """Counts (or summed ``weights``) of each non-negative integer value in the 1-D ``x``.

    The output has ``length`` entries when given (values at or past it are dropped, as in JAX;
    needed under ``jit``/``vmap``), else ``max(max(x) + 1, minlength)``, which needs a concrete
    ``x``. Differentiable in ``weights``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.bincount(vnp.array([1, 1, 3]))
        Array([0, 2, 0, 1], dtype=int32)
    """
    xs = as_array(x, "bincount")
    if xs.ndim != 1 or xs.dtype.kind not in "iub":
        raise TypeError(
            f"bincount: x must be a 1-D integer array, got {xs.dtype} of shape {xs.shape}"
        )
    if length is None:
        if isinstance(xs, Tracer):
            raise ConcretizationTypeError(
                "bincount: the output length depends on max(x) of a traced array; pass "
                "length=... (as in JAX) for use under jit or vmap"
            )
        values = np.asarray(xs)
        if values.size and values.min() < 0:
            raise ValueError(f"bincount: x must be non-negative, got minimum {values.min()}")
        top = int(values.max()) + 1 if values.size else 0
        length = builtins.max(top, operator.index(minlength))
    length = operator.index(length)
    if weights is None:
        w = lax.broadcast_in_dim(lax.as_array(np.asarray(1, dtypes.default_int())), xs.shape, ())
    else:
        w = as_array(weights, "bincount")
        if w.shape != xs.shape:
            raise ShapeError(f"bincount: weights of shape {w.shape} must match x {xs.shape}")
        if w.dtype == dtypes.bool_:
            w = convert(w, dtypes.default_int())
    inside = logical_and(xs >= 0, xs < length)
    # Values outside [0, length) add a zero at index 0, so nothing is out of range even eagerly.
    return zeros(length, w.dtype).at[where(inside, xs, 0)].add(where(inside, w, 0))


def histogram_bin_edges(
    a: ArrayLike, bins: ArrayLike = 10, range: Sequence[ArrayLike] | None = None,  # noqa: A002
    weights: ArrayLike | None = None,
) -> Array:  # fmt: skip
    """The bin edges ``histogram`` uses: ``bins`` equal bins over ``range`` (default the data's
    min and max, widened by 0.5 each way when they coincide), or ``bins`` itself when 1-D."""
    del weights  # as NumPy: edges never depend on the weights
    x = as_array(a, "histogram_bin_edges")
    (x,) = promote_args(x, inexact=True)
    if not isinstance(bins, (int, np.integer)):
        edges = as_array(bins, "histogram_bin_edges")
        if edges.ndim != 1 or edges.shape[0] < 2:
            raise ShapeError(
                f"histogram: bins must be an int or 1-D with at least 2 edges, got {edges.shape}"
            )
        return convert(edges, x.dtype) if edges.dtype.kind != "f" else edges
    if bins < 1:
        raise ValueError(f"histogram: bins must be positive, got {bins}")
    if range is None:
        lo, hi = (min(x), max(x)) if x.size else (0.0, 1.0)
    else:
        lo, hi = range
        if not isinstance(lo, Tracer) and not isinstance(hi, Tracer) and lo > hi:
            raise ValueError(f"histogram: range {tuple(range)} has min > max")
    lo, hi = promote_args(as_array(lo), as_array(hi), x)[:2]
    same = equal(lo, hi)
    lo, hi = where(same, lo - 0.5, lo), where(same, hi + 0.5, hi)
    return convert(linspace(lo, hi, operator.index(bins) + 1), x.dtype)


def histogram(
    a: ArrayLike, bins: ArrayLike = 10, range: Sequence[ArrayLike] | None = None,  # noqa: A002
    weights: ArrayLike | None = None, density: bool | None = None,
) -> tuple[Array, Array]:  # fmt: skip
    """``(counts, edges)`` of ``a`` (flattened), as ``numpy.histogram``: bins are half-open
    except the last, which includes its right edge; values outside are ignored. ``density``
    normalises to unit area. Works under ``jit`` (``bins`` an int or edges) and is
    differentiable in ``weights``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> counts, edges = vnp.histogram(vnp.array([1.0, 2.0, 3.0, 4.0]), bins=3)
        >>> counts
        Array([1., 1., 2.], dtype=float32)
    """
    x = ravel(as_array(a, "histogram"))
    edges = histogram_bin_edges(x, bins, range)
    nbins = edges.shape[0] - 1
    if weights is None:
        w = lax.broadcast_in_dim(lax.as_array(np.asarray(1, edges.dtype)), x.shape, ())
    else:
        w = ravel(as_array(weights, "histogram"))
        if w.shape != x.shape:
            raise ShapeError(f"histogram: weights of shape {w.shape} must match a {x.shape}")
    # Slot 0 collects values below the first edge and slot nbins + 1 those above the last,
    # both dropped below; a value equal to the last edge belongs to the last bin.
    slot = searchsorted(edges, x, side="right")
    slot = where(equal(x, edges[-1]), nbins, slot)
    counts = bincount(slot, w, length=nbins + 2)[1 : nbins + 1]
    if density:
        counts = counts / (diff(edges) * sum(counts))
    return counts, edges


def trapezoid(
    y: ArrayLike, x: ArrayLike | None = None, dx: ArrayLike = 1.0, axis: int = -1
) -> Array:
    """Integral of ``y`` along ``axis`` by the trapezoidal rule, with sample points ``x`` (1-D
    or ``y``'s shape) or spacing ``dx``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.trapezoid(vnp.array([1.0, 2.0, 3.0]), dx=0.5)
        Array(2., dtype=float32)
    """
    (ya,) = promote_args(as_array(y, "trapezoid"), inexact=True)
    if ya.ndim == 0:
        raise ShapeError("trapezoid: y must have at least one axis")
    ya = moveaxis(ya, axis, -1)
    if x is None:
        step = as_array(dx, "trapezoid")
    else:
        xa = as_array(x, "trapezoid")
        if xa.ndim == 1:
            if xa.shape[0] != ya.shape[-1]:
                raise ShapeError(
                    f"trapezoid: x of length {xa.shape[0]} must match y's axis {axis} "
                    f"(length {ya.shape[-1]})"
                )
            step = diff(xa)
        else:
            step = diff(moveaxis(xa, axis, -1), axis=-1)
    return sum(step * (ya[..., 1:] + ya[..., :-1]), axis=-1) * 0.5


def ediff1d(
    ary: ArrayLike, to_end: ArrayLike | None = None, to_begin: ArrayLike | None = None
) -> Array:
    """Differences of consecutive elements of the flattened ``ary``, with ``to_begin`` and
    ``to_end`` (flattened, cast to ``ary``'s dtype) put before and after."""
    x = ravel(as_array(ary, "ediff1d"))
    parts = [diff(x)]
    if to_begin is not None:
        parts.insert(0, convert(ravel(as_array(to_begin, "ediff1d")), x.dtype))
    if to_end is not None:
        parts.append(convert(ravel(as_array(to_end, "ediff1d")), x.dtype))
    return lax.concatenate(parts, 0) if len(parts) > 1 else parts[0]


def histogramdd(
    sample: ArrayLike, bins: Any = 10, range: Sequence[Any] | None = None,  # noqa: A002
    weights: ArrayLike | None = None, density: bool | None = None,
) -> tuple[Array, list[Array]]:  # fmt: skip
    """The ``D``-dimensional histogram of ``sample`` (``N`` points, shape ``(N, D)``) and the
    bin edges per dimension, as ``numpy.histogramdd`` (``bins`` an int, or one int or edge
    array per dimension)."""
    pts = as_array(sample, "histogramdd")
    if pts.ndim == 1:
        pts = lax.expand_dims(pts, (1,))
    if pts.ndim != 2:
        raise ShapeError(f"histogramdd: sample must be (N, D), got shape {pts.shape}")
    (pts,) = promote_args(pts, inexact=True)
    d = pts.shape[1]
    per_dim = [bins] * d if isinstance(bins, (int, np.integer)) else list(bins)
    ranges = [None] * d if range is None else list(range)
    if len(per_dim) != d or len(ranges) != d:
        raise ShapeError(f"histogramdd: bins and range need one entry per dimension ({d})")
    edges = [histogram_bin_edges(pts[:, i], per_dim[i], ranges[i]) for i in builtins.range(d)]
    flat = None
    sizes = [e.shape[0] + 1 for e in edges]  # each axis: below, the bins, above
    for i, e in enumerate(edges):
        col = pts[:, i]
        slot = where(equal(col, e[-1]), e.shape[0] - 1, searchsorted(e, col, side="right"))
        flat = slot if flat is None else flat * sizes[i] + slot
    n = pts.shape[0]
    if weights is None:
        w = lax.broadcast_in_dim(lax.as_array(np.asarray(1, pts.dtype)), (n,), ())
    else:
        w = ravel(as_array(weights, "histogramdd"))
        if w.shape != (n,):
            raise ShapeError(f"histogramdd: weights must have shape ({n},), got {w.shape}")
    total = 1
    for s in sizes:
        total *= s
    counts = lax.reshape(bincount(flat, w, length=total), tuple(sizes))
    counts = counts[tuple(builtins.slice(1, s - 1) for s in sizes)]
    if density:
        cell = None
        for i, e in enumerate(edges):
            shape = tuple(e.shape[0] - 1 if j == i else 1 for j in builtins.range(d))
            widths = lax.reshape(diff(e), shape)
            cell = widths if cell is None else cell * widths
        counts = counts / (cell * sum(counts))
    return counts, edges


def histogram2d(
    x: ArrayLike, y: ArrayLike, bins: Any = 10, range: Sequence[Any] | None = None,  # noqa: A002
    weights: ArrayLike | None = None, density: bool | None = None,
) -> tuple[Array, Array, Array]:  # fmt: skip
    """The 2-D histogram of the points ``(x, y)`` and the edges along each, as
    ``numpy.histogram2d``."""
    if not isinstance(bins, (int, np.integer)) and np.ndim(bins) == 1 and len(bins) != 2:
        bins = [bins, bins]  # one edge array shared by both dimensions
    pts = lax.concatenate(
        [lax.expand_dims(v, (1,)) for v in promote_args(ravel(as_array(x)), ravel(as_array(y)))], 1
    )
    counts, (xe, ye) = histogramdd(pts, bins, range, weights, density)
    return counts, xe, ye
