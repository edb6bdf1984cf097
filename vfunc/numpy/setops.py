"""Set operations on sorted data: ``unique`` (and the array-API ``unique_*``), ``union1d``,
``intersect1d``, ``setdiff1d``, ``setxor1d``, ``isin``, with JAX's semantics.

The number of distinct elements depends on the data, so a traced input needs ``size=``: the
result is then truncated or padded to exactly ``size`` entries (padding with ``fill_value``,
by default the smallest element, as in JAX). All of it is sort, cumsum, gather and ``where``.
"""

from __future__ import annotations

import operator
from typing import Any, NamedTuple

import numpy as np

from vfunc import dtypes, lax
from vfunc.core import Array, Tracer
from vfunc.errors import ConcretizationTypeError
from vfunc.numpy._promote import as_array, convert, promote_args
from vfunc.numpy.creation import full
from vfunc.numpy.indexing import take
from vfunc.numpy.movement import cumsum, moveaxis, sort
from vfunc.numpy.numerical import searchsorted
from vfunc.numpy.reductions import any as any_
from vfunc.numpy.reductions import argmax, sum
from vfunc.numpy.shapes import ravel, reshape
from vfunc.numpy.ufuncs import (
    clip,
    equal,
    isnan,
    less,
    logical_and,
    logical_not,
    logical_or,
    not_equal,
    where,
)

ArrayLike = Any


class UniqueAllResult(NamedTuple):
    values: Array
    indices: Array
    inverse_indices: Array
    counts: Array


class UniqueCountsResult(NamedTuple):
    values: Array
    counts: Array


class UniqueInverseResult(NamedTuple):
    values: Array
    inverse_indices: Array


def static_size(op: str, count: Array, size: int | None) -> int:
    """``size`` if given, else the concrete ``count`` (a traced one needs ``size=``)."""
    if size is not None:
        size = operator.index(size)
        if size < 0:
            raise ValueError(f"{op}: size must be non-negative, got {size}")
        return size
    if isinstance(count, Tracer):
        raise ConcretizationTypeError(
            f"{op}: the number of results depends on the values of a traced array; pass "
            "size=... (and optionally fill_value=...) for a fixed-length result, as in JAX"
        )
    return int(np.asarray(count))


def kept_positions(keep: Array, size: int) -> tuple[Array, Array]:
    """Positions of the first ``size`` True entries of the 1-D ``keep`` (in order) and which
    of them exist: ``(positions, valid)``, missing positions replaced by the first one."""
    n = keep.shape[0]
    index_dtype = dtypes.default_int()
    pos = sort(where(keep, lax.iota(index_dtype, n), n))
    if size > n:
        pos = lax.concatenate([pos, lax.as_array(np.full(size - n, n, index_dtype))], 0)
    pos = pos[:size]
    valid = less(pos, n)
    first = pos[:1] if size else pos
    return where(valid, pos, clip(first, 0, max(n - 1, 0))), valid


def _sort_together(operands: list[Array], num_keys: int) -> list[Array]:
    """``operands`` (1-D, one length) all permuted by a stable sort on the first ``num_keys``."""
    out = lax.sort(operands, 0, num_keys=num_keys)
    assert isinstance(out, list)
    return out


def _sort_keys(x: Array) -> list[Array]:
    """Sort keys for the columns of ``x`` (n, k): complex columns sort by real, then imag."""
    keys = []
    for j in range(x.shape[1]):
        col = x[:, j]
        keys += [lax.real(col), lax.imag(col)] if col.dtype.kind == "c" else [col]
    return keys


class _Groups(NamedTuple):
    first: Array  # (size,) first occurrence of each distinct row, padded with index[0]
    valid: Array  # (size,) whether that entry is a real group
    inverse: Array  # (n,) group of each input row
    counts: Array  # (size,) rows per group, 0 for padding


def _groups(op: str, rows: Array, equal_nan: bool, size: int | None) -> _Groups:
    """Distinct rows of ``rows`` (n, k) in sorted (lexicographic) order."""
    n = rows.shape[0]
    index_dtype = dtypes.default_int()
    keys = _sort_keys(rows)
    *skeys, perm = _sort_together([*keys, lax.iota(index_dtype, n)], len(keys))
    differs = lax.as_array(np.zeros(n - 1, bool))
    for k in skeys:
        d = not_equal(k[1:], k[:-1])
        if equal_nan and k.dtype.kind == "f":
            d = logical_and(d, logical_not(logical_and(isnan(k[1:]), isnan(k[:-1]))))
        differs = logical_or(differs, d)
    start = lax.concatenate([lax.as_array(np.ones(1, bool)), differs], 0)
    size = static_size(op, sum(start, dtype=index_dtype), size)
    # One entry more than asked, so the last group's end is known even when truncated.
    pos, found = kept_positions(start, size + 1)
    starts, valid = pos[:size], found[:size]
    counts = where(valid, where(found[1:], pos[1:], n) - starts, 0)
    group = cumsum(start, dtype=index_dtype) - 1
    _, inverse = _sort_together([perm, group], 1)
    return _Groups(take(perm, starts), valid, inverse, counts)


def unique(
    ar: ArrayLike, return_index: bool = False, return_inverse: bool = False,
    return_counts: bool = False, axis: int | None = None, *, equal_nan: bool = True,
    size: int | None = None, fill_value: ArrayLike | None = None, sorted: bool = True,  # noqa: A002
) -> Any:  # fmt: skip
    """The sorted distinct elements of ``ar`` (flattened, or distinct slices along ``axis``).

    As ``jax.numpy.unique``: optionally also the index of each one's first occurrence, the
    inverse (``ar``'s shape when ``axis`` is None) and the counts; NaNs count as one value
    unless ``equal_nan=False``. Under ``jit``/``vmap`` pass ``size=``: the result is cut or
    padded to ``size`` entries, values with ``fill_value`` (default: the smallest element),
    indices with the first index, counts with 0. ``sorted`` is accepted; results always are.

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.unique(vnp.array([3, 1, 3, 2]), return_counts=True)
        (Array([1, 2, 3], dtype=int32), Array([1, 1, 2], dtype=int32))
    """
    del sorted
    x = as_array(ar, "unique")
    if axis is None:
        rows = lax.reshape(x, (x.size, 1))
        inverse_shape = x.shape
    else:
        axis = int(axis)
        moved = moveaxis(x, axis, 0)
        rows = reshape(moved, (moved.shape[0], -1)) if moved.ndim else moved
        inverse_shape = (moved.shape[0],)
    n = rows.shape[0]
    if n == 0:
        if size and fill_value is None:
            raise ValueError("unique: an empty input with size > 0 needs fill_value=...")
        size = size or 0
        index_dtype = dtypes.default_int()
        values = full((size,) + (() if axis is None else moved.shape[1:]), fill_value or 0, x.dtype)
        empty = lax.as_array(np.zeros(size, index_dtype))
        inv = lax.as_array(np.zeros(inverse_shape, index_dtype))
        return _pack(values, empty, inv, empty, return_index, return_inverse, return_counts)
    g = _groups("unique", rows, equal_nan, size)
    if axis is None:
        values = take(rows[:, 0], g.first)
        if fill_value is not None:
            values = where(g.valid, values, convert(as_array(fill_value), x.dtype))
    else:
        values = take(moved, g.first, axis=0)
        if fill_value is not None:
            mask = lax.reshape(g.valid, g.valid.shape + (1,) * (moved.ndim - 1))
            values = where(mask, values, convert(as_array(fill_value), x.dtype))
        values = moveaxis(values, 0, axis)
    inverse = lax.reshape(g.inverse, inverse_shape)
    return _pack(values, g.first, inverse, g.counts, return_index, return_inverse, return_counts)


def _pack(values, index, inverse, counts, want_index, want_inverse, want_counts):
    extra = [
        a for a, w in ((index, want_index), (inverse, want_inverse), (counts, want_counts)) if w
    ]
    return (values, *extra) if extra else values


def unique_all(x: ArrayLike, /, *, size: int | None = None,
               fill_value: ArrayLike | None = None) -> UniqueAllResult:  # fmt: skip
    """``unique`` with indices, inverse and counts, NaNs distinct (the array API's form)."""
    return UniqueAllResult(*unique(x, True, True, True, equal_nan=False, size=size,
                                   fill_value=fill_value))  # fmt: skip


def unique_counts(x: ArrayLike, /, *, size: int | None = None,
                  fill_value: ArrayLike | None = None) -> UniqueCountsResult:  # fmt: skip
    """``unique`` with counts, NaNs distinct (the array API's form)."""
    return UniqueCountsResult(*unique(x, return_counts=True, equal_nan=False, size=size,
                                      fill_value=fill_value))  # fmt: skip


def unique_inverse(x: ArrayLike, /, *, size: int | None = None,
                   fill_value: ArrayLike | None = None) -> UniqueInverseResult:  # fmt: skip
    """``unique`` with the inverse (``x``'s shape), NaNs distinct (the array API's form)."""
    return UniqueInverseResult(*unique(x, return_inverse=True, equal_nan=False, size=size,
                                       fill_value=fill_value))  # fmt: skip


def unique_values(x: ArrayLike, /, *, size: int | None = None,
                  fill_value: ArrayLike | None = None) -> Array:  # fmt: skip
    """The distinct values of ``x``, NaNs distinct (the array API's form)."""
    return unique(x, equal_nan=False, size=size, fill_value=fill_value)


def isin(
    element: ArrayLike, test_elements: ArrayLike, assume_unique: bool = False,
    invert: bool = False, *, method: str = "auto",
) -> Array:  # fmt: skip
    """Whether each element of ``element`` occurs in ``test_elements`` (``element``'s shape).

    ``method`` is accepted for JAX compatibility; every method gives the same result.
    """
    del assume_unique
    if method not in ("auto", "compare_all", "binary_search", "sort"):
        raise ValueError(f"isin: method must be auto, compare_all, binary_search or sort, got "
                         f"{method!r}")  # fmt: skip
    e, t = promote_args(as_array(element, "isin"), as_array(test_elements, "isin"))
    t = ravel(t)
    if t.shape[0] == 0:
        found = lax.broadcast_in_dim(lax.as_array(np.asarray(False)), e.shape, ())
    elif e.dtype.kind == "c":
        pairs = equal(lax.expand_dims(e, (e.ndim,)), lax.reshape(t, (1,) * e.ndim + t.shape))
        found = any_(pairs, axis=-1)
    else:
        st = lax.sort(t, 0)
        found = equal(take(st, searchsorted(st, e), mode="clip"), e)
    return logical_not(found) if invert else found


def _unique_1d(op: str, ar: ArrayLike, assume_unique: bool, size: int | None):
    """``(values, first indices, valid)`` of the distinct elements of ``ravel(ar)``; with a
    traced input, padded to its length (so nothing is lost)."""
    x = ravel(as_array(ar, op))
    n = x.shape[0]
    index_dtype = dtypes.default_int()
    if assume_unique or n == 0:
        all_valid = lax.as_array(np.ones(n, bool))
        return x, lax.iota(index_dtype, n), all_valid
    rows = lax.reshape(x, (n, 1))
    g = _groups(op, rows, True, n if (isinstance(x, Tracer) or size is not None) else None)
    return take(x, g.first), g.first, g.valid


def _select(op: str, values: Array, keep: Array, size: int | None, fill_value: Any) -> Array:
    """The kept ``values`` in order, padded to ``size`` with ``fill_value`` (default: the first
    kept value)."""
    if values.shape[0] == 0:
        size = size or 0
        fill = 0 if fill_value is None else fill_value
        return lax.as_array(np.full(size, fill, values.dtype))
    pos, valid = kept_positions(keep, static_size(op, sum(keep, dtype=dtypes.default_int()), size))
    out = take(values, pos)
    return (
        out if fill_value is None else where(valid, out, convert(as_array(fill_value), out.dtype))
    )


def union1d(ar1: ArrayLike, ar2: ArrayLike, *, size: int | None = None,
            fill_value: ArrayLike | None = None) -> Array:  # fmt: skip
    """The sorted distinct elements of both arrays (flattened)."""
    a, b = promote_args(ravel(as_array(ar1, "union1d")), ravel(as_array(ar2, "union1d")))
    return unique(lax.concatenate([a, b], 0), size=size, fill_value=fill_value)


def setdiff1d(ar1: ArrayLike, ar2: ArrayLike, assume_unique: bool = False, *,
              size: int | None = None, fill_value: ArrayLike | None = None) -> Array:  # fmt: skip
    """The sorted distinct elements of ``ar1`` not in ``ar2`` (padding: ``fill_value``, default
    0, as in JAX)."""
    values, _, valid = _unique_1d("setdiff1d", ar1, assume_unique, size)
    keep = logical_and(valid, isin(values, ar2, invert=True))
    return _select("setdiff1d", values, keep, size, 0 if fill_value is None else fill_value)


def setxor1d(ar1: ArrayLike, ar2: ArrayLike, assume_unique: bool = False, *,
             size: int | None = None, fill_value: ArrayLike | None = None) -> Array:  # fmt: skip
    """The sorted elements in exactly one of the two arrays."""
    a, _, va = _unique_1d("setxor1d", ar1, assume_unique, size)
    b, _, vb = _unique_1d("setxor1d", ar2, assume_unique, size)
    a, b = promote_args(a, b)
    keep = lax.concatenate(
        [logical_and(va, isin(a, b, invert=True)), logical_and(vb, isin(b, a, invert=True))], 0
    )
    both = lax.concatenate([a, b], 0)
    # Kept values first, in sorted order: sort by (not kept, value).
    index_dtype = dtypes.default_int()
    _, _, ordered = _sort_together([convert(logical_not(keep), index_dtype), both, both], 2)
    kept = sort(keep, descending=True)  # as many Trues, now leading
    return _select("setxor1d", ordered, kept, size, fill_value)


def intersect1d(
    ar1: ArrayLike, ar2: ArrayLike, assume_unique: bool = False, return_indices: bool = False, *,
    size: int | None = None, fill_value: ArrayLike | None = None,
) -> Array | tuple[Array, Array, Array]:  # fmt: skip
    """The sorted distinct elements in both arrays; with ``return_indices`` also the index of
    each one's first occurrence in the flattened ``ar1`` and ``ar2``."""
    a, ia, va = _unique_1d("intersect1d", ar1, assume_unique, size)
    b, ib, vb = _unique_1d("intersect1d", ar2, assume_unique, size)
    a, b = promote_args(a, b)
    keep = logical_and(va, isin(a, b))
    values = _select("intersect1d", a, keep, size, fill_value)
    if not return_indices:
        return values
    ind1 = _select("intersect1d", ia, keep, size, None)
    if b.shape[0] == 0 or values.shape[0] == 0:
        return values, ind1, lax.as_array(np.zeros(values.shape[0], ib.dtype))
    match = logical_and(equal(lax.expand_dims(values, (1,)), lax.expand_dims(b, (0,))), vb)
    ind2 = take(ib, argmax(match, axis=1))
    return values, ind1, ind2
