"""Order statistics and NaN-ignoring reductions: quantile/percentile/median, the ``nan*`` family,
``average``, ``ptp``, ``cov`` and ``corrcoef``, with JAX's semantics.

Everything is a composition of sort, gather (``take_along_axis``), ``where`` and the ordinary
reductions, so ``grad``, ``jvp``, ``vmap`` and ``jit`` come from those primitives' rules. The
gradient of a quantile flows to the (at most two) sorted elements it interpolates, ties going to
the one the stable sort put there, as in JAX.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from vfunc import dtypes, lax
from vfunc.core import Array, Tracer
from vfunc.errors import ShapeError
from vfunc.numpy._promote import as_array, convert, promote_args
from vfunc.numpy.indexing import take_along_axis
from vfunc.numpy.movement import cumprod, cumsum, sort
from vfunc.numpy.products import matmul
from vfunc.numpy.reductions import (
    Axis,
    argmax,
    argmin,
    canonical_axes,
    max,
    mean,
    min,
    prod,
    sum,
)
from vfunc.numpy.reductions import (
    all as all_,
)
from vfunc.numpy.shapes import reshape
from vfunc.numpy.ufuncs import (
    clip,
    conjugate,
    floor,
    isnan,
    logical_not,
    multiply,
    real,
    sqrt,
    subtract,
    where,
)

ArrayLike = Any

QUANTILE_METHODS = ("linear", "lower", "higher", "midpoint", "nearest")


def _inexact(x: Array) -> Array:
    return x if x.dtype.kind in "fc" else promote_args(x, inexact=True)[0]


def _to_last(x: Array, axes: tuple[int, ...]) -> Array:
    """``x`` with ``axes`` moved to the end and merged into one (a reshape of a transpose)."""
    rest = [i for i in range(x.ndim) if i not in axes]
    moved = lax.transpose(x, rest + list(axes))
    return lax.reshape(
        moved, tuple(x.shape[i] for i in rest) + (math.prod(x.shape[i] for i in axes),)
    )


def _quantile(
    op: str, a: ArrayLike, q: ArrayLike, axis: Axis, method: str, keepdims: bool, ignore_nan: bool
) -> Array:
    if method not in QUANTILE_METHODS:
        raise ValueError(f"{op}: method must be one of {QUANTILE_METHODS}, got {method!r}")
    x, qa = promote_args(as_array(a, op), as_array(q, op), inexact=True)
    if x.dtype.kind == "c":
        raise TypeError(f"{op}: complex input ({x.dtype}) has no order; pass real values")
    if qa.ndim > 1:
        raise ShapeError(f"{op}: q must be a scalar or 1-D, got shape {qa.shape}")
    if not isinstance(qa, Tracer):
        qv = np.asarray(qa)
        if np.any((qv < 0) | (qv > 1)):
            scale = "percentiles must lie in [0, 100]" if "percentile" in op else "q in [0, 1]"
            raise ValueError(f"{op}: {scale}, got {qv.tolist() if qv.ndim else float(qv)}")
    axes = canonical_axes(op, axis, x.ndim)
    flat = _to_last(x, axes)  # (*rest, n)
    n = flat.shape[-1]
    rest = flat.shape[:-1]
    qs = lax.reshape(qa, (qa.size,))  # (k,)
    qb = lax.broadcast_in_dim(qs, rest + (qs.shape[0],), (len(rest),))  # (*rest, k)
    if n == 0:
        out = lax.broadcast_in_dim(lax.as_array(np.asarray(np.nan, x.dtype)), qb.shape, ())
    else:
        ordered = sort(flat, axis=-1)  # NaNs last
        last: Array | float
        if ignore_nan:
            count = sum(logical_not(isnan(flat)), axis=-1, keepdims=True)
            last = convert(subtract(count, 1), x.dtype)
        else:
            last = float(n - 1)
        pos = multiply(qb, last)
        out = _interpolate(ordered, pos, method, n)
        if ignore_nan:
            out = where(count == 0, np.nan, out)
        else:
            # As JAX: any NaN in the slice makes its quantiles NaN (sorted last, so check there).
            out = where(isnan(ordered[..., n - 1 :]), np.nan, out)
    # Quantile axis first, as NumPy: (k, *rest), then q's own shape and the kept axes.
    out = lax.transpose(out, (out.ndim - 1, *range(out.ndim - 1)))
    if keepdims:
        kept = list(x.shape)
        for i in axes:
            kept[i] = 1
        return lax.reshape(out, qa.shape + tuple(kept))
    return lax.reshape(out, qa.shape + rest)


def _interpolate(ordered: Array, pos: Array, method: str, n: int) -> Array:
    """Values at fractional positions ``pos`` (same leading shape) of sorted last axes."""
    axis = ordered.ndim - 1
    index_dtype = dtypes.default_int()

    def at(p: Array) -> Array:
        idx = convert(clip(p, 0, n - 1), index_dtype)
        return take_along_axis(ordered, idx, axis, mode="clip")

    low = floor(pos)
    high = lax.ceil(pos)
    if method == "lower":
        return at(low)
    if method == "higher":
        return at(high)
    if method == "nearest":
        return at(lax.round(pos, lax.ROUND_TO_NEAREST_EVEN))
    lo, hi = at(low), at(high)
    if method == "midpoint":
        return multiply(lo + hi, 0.5)
    frac = pos - low
    return lo * (1 - frac) + hi * frac


def _check_weights(op: str, weights: Any) -> None:
    if weights is not None:
        raise NotImplementedError(f"{op}: weights=... is not supported (nor is it in JAX)")


def quantile(
    a: ArrayLike, q: ArrayLike, axis: Axis = None, out: None = None, overwrite_input: bool = False,
    method: str = "linear", keepdims: bool = False, *, weights: ArrayLike | None = None,
) -> Array:  # fmt: skip
    """The ``q``-th quantiles (``q`` in ``[0, 1]``, scalar or 1-D) of ``a`` over ``axis``.

    As ``jax.numpy.quantile``: methods ``linear`` (default), ``lower``, ``higher``, ``midpoint``
    and ``nearest`` (halves to even); a slice with a NaN gives NaN; the result has ``q``'s shape
    in front. Differentiable in ``a`` (and in ``q`` for ``linear``); ``q`` may be traced, in which
    case its range is not checked.

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.quantile(vnp.array([1.0, 2.0, 3.0, 4.0]), vnp.array([0.25, 0.5]))
        Array([1.75, 2.5 ], dtype=float32)
    """
    _unsupported("quantile", out, overwrite_input)
    _check_weights("quantile", weights)
    return _quantile("quantile", a, q, axis, method, keepdims, ignore_nan=False)


def nanquantile(
    a: ArrayLike, q: ArrayLike, axis: Axis = None, out: None = None, overwrite_input: bool = False,
    method: str = "linear", keepdims: bool = False,
) -> Array:  # fmt: skip
    """``quantile`` ignoring NaNs (an all-NaN slice gives NaN)."""
    _unsupported("nanquantile", out, overwrite_input)
    return _quantile("nanquantile", a, q, axis, method, keepdims, ignore_nan=True)


def _percent(op: str, q: ArrayLike) -> Array:
    (qa,) = promote_args(as_array(q, op), inexact=True)
    return lax.div(qa, 100.0)


def percentile(
    a: ArrayLike, q: ArrayLike, axis: Axis = None, out: None = None, overwrite_input: bool = False,
    method: str = "linear", keepdims: bool = False,
) -> Array:  # fmt: skip
    """``quantile(a, q / 100)``: the ``q``-th percentiles, ``q`` in ``[0, 100]``."""
    _unsupported("percentile", out, overwrite_input)
    return _quantile("percentile", a, _percent("percentile", q), axis, method, keepdims, False)


def nanpercentile(
    a: ArrayLike, q: ArrayLike, axis: Axis = None, out: None = None, overwrite_input: bool = False,
    method: str = "linear", keepdims: bool = False,
) -> Array:  # fmt: skip
    """``percentile`` ignoring NaNs."""
    _unsupported("nanpercentile", out, overwrite_input)
    return _quantile("nanpercentile", a, _percent("nanpercentile", q), axis, method, keepdims, True)


def median(
    a: ArrayLike, axis: Axis = None, out: None = None, overwrite_input: bool = False,
    keepdims: bool = False,
) -> Array:  # fmt: skip
    """The median over ``axis`` (the mean of the two middle values for an even count); NaN if
    the slice holds a NaN. Its gradient goes to the middle element(s), as in JAX.

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.median(vnp.array([[3.0, 1.0, 2.0], [4.0, 6.0, 5.0]]), axis=1)
        Array([2., 5.], dtype=float32)
    """
    _unsupported("median", out, overwrite_input)
    return _quantile("median", a, 0.5, axis, "midpoint", keepdims, ignore_nan=False)


def nanmedian(
    a: ArrayLike, axis: Axis = None, out: None = None, overwrite_input: bool = False,
    keepdims: bool = False,
) -> Array:  # fmt: skip
    """``median`` ignoring NaNs (an all-NaN slice gives NaN)."""
    _unsupported("nanmedian", out, overwrite_input)
    return _quantile("nanmedian", a, 0.5, axis, "midpoint", keepdims, ignore_nan=True)


def _unsupported(op: str, out: Any, overwrite_input: bool = False) -> None:
    if out is not None:
        raise TypeError(f"{op}: out=... is not supported; vfunc arrays are immutable")
    del overwrite_input  # a hint only; nothing is ever overwritten


# ----------------------------------------------------------------------------------- nan family


def _nan_replaced(op: str, a: ArrayLike, fill: float) -> Array:
    x = as_array(a, op)
    return where(isnan(x), fill, x) if x.dtype.kind in "fc" else x


def nansum(a: ArrayLike, axis: Axis = None, dtype: Any = None, out: None = None,
           keepdims: bool = False) -> Array:  # fmt: skip
    """``sum`` treating NaNs as zero (their gradient is zero)."""
    _unsupported("nansum", out)
    return sum(_nan_replaced("nansum", a, 0), axis, dtype, keepdims)


def nanprod(a: ArrayLike, axis: Axis = None, dtype: Any = None, out: None = None,
            keepdims: bool = False) -> Array:  # fmt: skip
    """``prod`` treating NaNs as one."""
    _unsupported("nanprod", out)
    return prod(_nan_replaced("nanprod", a, 1), axis, dtype, keepdims)


def nancumsum(a: ArrayLike, axis: int | None = None, dtype: Any = None, out: None = None) -> Array:
    """``cumsum`` treating NaNs as zero."""
    _unsupported("nancumsum", out)
    return cumsum(_nan_replaced("nancumsum", a, 0), axis, dtype)


def nancumprod(a: ArrayLike, axis: int | None = None, dtype: Any = None,
               out: None = None) -> Array:  # fmt: skip
    """``cumprod`` treating NaNs as one."""
    _unsupported("nancumprod", out)
    return cumprod(_nan_replaced("nancumprod", a, 1), axis, dtype)


def _count(x: Array, axes: tuple[int, ...], keepdims: bool) -> Array:
    return sum(logical_not(isnan(x)), axes, x.dtype if x.dtype.kind == "f" else None, keepdims)


def nanmean(a: ArrayLike, axis: Axis = None, dtype: Any = None, out: None = None,
            keepdims: bool = False) -> Array:  # fmt: skip
    """``mean`` of the non-NaN elements (NaN where a slice has none)."""
    _unsupported("nanmean", out)
    x = _inexact(as_array(a, "nanmean"))
    if dtype is not None:
        x = convert(x, dtypes.canonicalize(dtype))
    axes = canonical_axes("nanmean", axis, x.ndim)
    total = sum(where(isnan(x), 0, x), axes, keepdims=keepdims)
    return lax.div(total, convert(_count(x, axes, keepdims), total.dtype))


def nanvar(a: ArrayLike, axis: Axis = None, dtype: Any = None, out: None = None, ddof: int = 0,
           keepdims: bool = False) -> Array:  # fmt: skip
    """``var`` of the non-NaN elements, dividing by their count minus ``ddof``."""
    _unsupported("nanvar", out)
    x = _inexact(as_array(a, "nanvar"))
    axes = canonical_axes("nanvar", axis, x.ndim)
    missing = isnan(x)
    centered = where(missing, 0, x - nanmean(x, axes, keepdims=True))
    if centered.dtype.kind == "c":
        centered = lax.abs(centered)
    squares = sum(centered * centered, axes, keepdims=keepdims)
    count = convert(_count(x, axes, keepdims), squares.dtype)
    result = lax.div(squares, count - ddof)
    return result if dtype is None else convert(result, dtypes.canonicalize(dtype))


def nanstd(a: ArrayLike, axis: Axis = None, dtype: Any = None, out: None = None, ddof: int = 0,
           keepdims: bool = False) -> Array:  # fmt: skip
    """``sqrt(nanvar(...))``."""
    _unsupported("nanstd", out)
    return sqrt(nanvar(a, axis, dtype, None, ddof, keepdims))


def _nan_extremum(name: str, reducer, fill: float):
    def op(a: ArrayLike, axis: Axis = None, out: None = None, keepdims: bool = False) -> Array:
        _unsupported(name, out)
        x = as_array(a, name)
        if x.dtype.kind not in "fc":
            return reducer(x, axis, keepdims=keepdims)
        missing = isnan(x)
        result = reducer(where(missing, fill, x), axis, keepdims=keepdims)
        return where(all_(missing, axis, keepdims=keepdims), np.nan, result)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"``{reducer.__name__}`` ignoring NaNs (NaN where a slice is all NaN)."
    return op


nanmax = _nan_extremum("nanmax", max, -np.inf)
nanmin = _nan_extremum("nanmin", min, np.inf)


def _nan_arg(name: str, reducer, fill: float):
    def op(a: ArrayLike, axis: int | None = None, out: None = None,
           keepdims: bool | None = None) -> Array:  # fmt: skip
        _unsupported(name, out)
        x = as_array(a, name)
        keep = bool(keepdims)
        if x.dtype.kind not in "fc":
            return reducer(x, axis, keepdims=keep)
        missing = isnan(x)
        index = reducer(where(missing, fill, x), axis, keepdims=keep)
        return where(all_(missing, axis, keepdims=keep), -1, index)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"``{reducer.__name__}`` ignoring NaNs; -1 where a slice is all NaN, as in JAX."
    return op


nanargmax = _nan_arg("nanargmax", argmax, -np.inf)
nanargmin = _nan_arg("nanargmin", argmin, np.inf)


# ------------------------------------------------------------------------ average, ptp, cov


def average(
    a: ArrayLike, axis: Axis = None, weights: ArrayLike | None = None, returned: bool = False,
    keepdims: bool = False,
) -> Array | tuple[Array, Array]:  # fmt: skip
    """Weighted mean over ``axis``; ``weights`` has ``a``'s shape or is 1-D along one axis.

    With ``returned=True`` also returns the sum of the weights (broadcast to the result).
    """
    x = _inexact(as_array(a, "average"))
    if weights is None:
        avg = mean(x, axis, keepdims=keepdims)
        count = math.prod(x.shape[i] for i in canonical_axes("average", axis, x.ndim))
        total = lax.broadcast_in_dim(lax.as_array(np.asarray(count, avg.dtype)), avg.shape, ())
        return (avg, total) if returned else avg
    x, w = promote_args(x, as_array(weights, "average"), inexact=True)
    axes = canonical_axes("average", axis, x.ndim)
    if w.shape != x.shape:
        if axis is None or w.ndim != 1 or len(axes) != 1 or w.shape[0] != x.shape[axes[0]]:
            raise ShapeError(
                f"average: weights of shape {w.shape} must match a {x.shape} or be 1-D along "
                f"the single axis given (axis={axis})"
            )
        w = lax.broadcast_in_dim(w, x.shape, axes)
    total = sum(w, axes, keepdims=keepdims)
    avg = lax.div(sum(x * w, axes, keepdims=keepdims), total)
    return (avg, total) if returned else avg


def ptp(a: ArrayLike, axis: Axis = None, out: None = None, keepdims: bool = False) -> Array:
    """Peak to peak: ``max - min`` over ``axis``."""
    _unsupported("ptp", out)
    return subtract(max(a, axis, keepdims=keepdims), min(a, axis, keepdims=keepdims))


def cov(
    m: ArrayLike, y: ArrayLike | None = None, rowvar: bool = True, bias: bool = False,
    ddof: int | None = None, fweights: ArrayLike | None = None,
    aweights: ArrayLike | None = None, dtype: Any = None,
) -> Array:  # fmt: skip
    """Covariance matrix of the variables in the rows (``rowvar``) or columns of ``m`` (and
    ``y``), as ``numpy.cov``: normalised by ``N - 1`` (``N`` with ``bias``, ``N - ddof`` when
    given); ``fweights`` (integer repeat counts) and ``aweights`` weigh the observations.

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.cov(vnp.array([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0]]))
        Array([[ 1., -1.],
               [-1.,  1.]], dtype=float32)
    """
    x = as_array(m, "cov")
    if x.ndim > 2:
        raise ShapeError(f"cov: m must be at most 2-D, got shape {x.shape}")
    x = _observations(x, rowvar)
    if y is not None:
        yy = as_array(y, "cov")
        if yy.ndim > 2:
            raise ShapeError(f"cov: y must be at most 2-D, got shape {yy.shape}")
        x, yy = promote_args(x, _observations(yy, rowvar))
        if yy.shape[1] != x.shape[1]:
            raise ShapeError(
                f"cov: m and y hold {x.shape[1]} and {yy.shape[1]} observations; they must agree"
            )
        x = lax.concatenate([x, yy], 0)
    x = _inexact(x) if dtype is None else convert(x, dtypes.canonicalize(dtype))
    if dtype is not None and x.dtype.kind not in "fc":
        raise TypeError(f"cov: dtype must be inexact, got {x.dtype}")
    if ddof is None:
        ddof = 0 if bias else 1
    n = x.shape[1]
    w = None
    if fweights is not None:
        f = as_array(fweights, "cov")
        if f.dtype.kind not in "iub" or f.shape != (n,):
            raise TypeError(
                f"cov: fweights must be 1-D integers of length {n} (one per observation), got "
                f"{f.dtype} of shape {f.shape}"
            )
        w = convert(f, x.dtype)
    if aweights is not None:
        aw = as_array(aweights, "cov")
        if aw.shape != (n,):
            raise ShapeError(f"cov: aweights must have shape ({n},), got {aw.shape}")
        aw = convert(aw, x.dtype) if aw.dtype != x.dtype else aw
        w = aw if w is None else w * aw
    if w is None:
        avg = mean(x, axis=1)
        fact = float(n - ddof)
        centered = x - lax.expand_dims(avg, (1,))
        weighted = centered
    else:
        wsum = sum(w)
        avg = lax.div(sum(x * w, axis=1), wsum)
        if ddof == 0:
            fact = wsum
        elif aweights is None:
            fact = wsum - ddof
        else:
            fact = wsum - ddof * lax.div(sum(w * convert(as_array(aweights), x.dtype)), wsum)
        centered = x - lax.expand_dims(avg, (1,))
        weighted = centered * w
    c = lax.div(matmul(centered, conjugate(lax.transpose(weighted, (1, 0)))), fact)
    return lax.squeeze(c, [i for i, d in enumerate(c.shape) if d == 1]) if c.shape[0] == 1 else c


def _observations(x: Array, rowvar: bool) -> Array:
    """Variables in rows, observations in columns (a 1-D input is one variable)."""
    if x.ndim < 2:
        return lax.reshape(x, (1, x.size))
    if not rowvar and x.shape[0] != 1:
        return lax.transpose(x, (1, 0))
    return x


def corrcoef(x: ArrayLike, y: ArrayLike | None = None, rowvar: bool = True) -> Array:
    """Pearson correlation coefficients: ``cov`` normalised by the standard deviations, real
    parts clipped to ``[-1, 1]`` as NumPy does."""
    c = cov(x, y, rowvar)
    if c.ndim == 0:
        return lax.div(c, c)
    std = sqrt(real(take_along_axis(reshape(c, (c.size,)), _diag_index(c.shape[0]), 0)))
    c = lax.div(lax.div(c, lax.expand_dims(std, (1,))), lax.expand_dims(std, (0,)))
    if c.dtype.kind == "c":
        return lax.complex(clip(real(c), -1, 1), clip(lax.imag(c), -1, 1))
    return clip(c, -1, 1)


def _diag_index(n: int) -> Array:
    return lax.as_array((np.arange(n) * (n + 1)).astype(dtypes.default_int()))
