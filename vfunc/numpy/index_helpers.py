"""Index construction as in ``jax.numpy``: ``argwhere, flatnonzero, indices, ix_,
ravel_multi_index, unravel_index, diag_indices(_from), tril_indices(_from),
triu_indices(_from), mask_indices, fromfunction, mgrid, ogrid``, and NumPy's ``s_`` and
``index_exp``.

Functions whose result length depends on the data (``argwhere``, ``flatnonzero``) take
``size=`` under ``jit``/``vmap``, as in JAX; the others depend on shapes only.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from vfunc import dtypes, lax
from vfunc.core import Array, Tracer
from vfunc.errors import ShapeError
from vfunc.numpy._promote import as_array, convert
from vfunc.numpy.creation import arange, linspace
from vfunc.numpy.matrices import meshgrid
from vfunc.numpy.setops import kept_positions, static_size
from vfunc.numpy.shapes import ravel
from vfunc.numpy.ufuncs import clip, floor_divide, less, not_equal, remainder, where

ArrayLike = Any

s_, index_exp = np.s_, np.index_exp  # plain index-expression builders: NumPy's objects serve


def _int_array(values: np.ndarray) -> Array:
    return lax.as_array(np.asarray(values).astype(dtypes.default_int()))


def flatnonzero(
    a: ArrayLike, *, size: int | None = None, fill_value: ArrayLike | None = None
) -> Array:
    """Indices of the nonzero elements of ``ravel(a)``; with ``size`` (needed under ``jit``)
    exactly ``size`` of them, padded with ``fill_value`` (default 0)."""
    flat = ravel(as_array(a, "flatnonzero"))
    keep = not_equal(flat, 0)
    size = static_size(
        "flatnonzero", lax.reduce_sum(convert(keep, dtypes.default_int()), (0,)), size
    )
    pos, valid = kept_positions(keep, size)
    fill = 0 if fill_value is None else fill_value
    return where(valid, pos, convert(as_array(fill), pos.dtype))


def argwhere(
    a: ArrayLike, *, size: int | None = None, fill_value: ArrayLike | None = None
) -> Array:
    """Indices of the nonzero elements, one row per element (``(count, ndim)``); with ``size``
    exactly ``size`` rows, padded with ``fill_value`` (default 0)."""
    x = as_array(a, "argwhere")
    if x.ndim == 0:
        # A 0-d array gives one (or no) empty row, as NumPy's argwhere.
        flat = flatnonzero(lax.reshape(x, (1,)), size=size, fill_value=fill_value)
        return lax.as_array(np.zeros((flat.shape[0], 0), flat.dtype))
    flat = flatnonzero(x, size=size)
    valid = None
    if size is not None:
        keep = kept_positions(not_equal(ravel(x), 0), flat.shape[0])[1]
        valid = lax.expand_dims(keep, (1,))
    rows = lax.concatenate([lax.expand_dims(i, (1,)) for i in unravel_index(flat, x.shape)], 1)
    if valid is None:
        return rows
    fill = 0 if fill_value is None else fill_value
    return where(valid, rows, convert(as_array(fill), rows.dtype))


def unravel_index(indices: ArrayLike, shape: Sequence[int]) -> tuple[Array, ...]:
    """Flat indices into ``shape`` as one index array per axis (C order). As JAX: negative
    indices count from the end and out-of-range ones are clamped."""
    idx = as_array(indices, "unravel_index")
    if idx.dtype.kind not in "iu":
        raise TypeError(f"unravel_index: indices must be integers, got {idx.dtype}")
    shape = tuple(operator.index(d) for d in shape)
    total = math.prod(shape)
    idx = where(less(idx, 0), idx + total, idx)
    idx = clip(idx, 0, max(total - 1, 0))
    out = []
    for stride_axis in range(len(shape)):
        stride = math.prod(shape[stride_axis + 1 :])
        out.append(remainder(floor_divide(idx, stride), shape[stride_axis]))
    return tuple(out)


def ravel_multi_index(
    multi_index: Sequence[ArrayLike], dims: Sequence[int], mode: str = "raise", order: str = "C"
) -> Array:
    """Flat indices from one index array per axis of ``dims``. ``mode`` "raise" (needs
    concrete indices), "wrap" or "clip" decides out-of-range indices; ``order`` "C" or "F"."""
    dims = tuple(operator.index(d) for d in dims)
    if len(multi_index) != len(dims):
        raise ShapeError(
            f"ravel_multi_index: {len(multi_index)} index arrays for {len(dims)} dimensions"
        )
    if order not in ("C", "F"):
        raise ValueError(f"ravel_multi_index: order must be 'C' or 'F', got {order!r}")
    if mode not in ("raise", "wrap", "clip"):
        raise ValueError(f"ravel_multi_index: mode must be raise, wrap or clip, got {mode!r}")
    arrays = [as_array(i, "ravel_multi_index") for i in multi_index]
    for a in arrays:
        if a.dtype.kind not in "iu":
            raise TypeError(f"ravel_multi_index: indices must be integers, got {a.dtype}")
    fixed = []
    for a, d in zip(arrays, dims, strict=True):
        if mode == "raise":
            if isinstance(a, Tracer):
                raise ValueError(
                    "ravel_multi_index: mode='raise' needs concrete indices; under jit or vmap "
                    "pass mode='wrap' or mode='clip'"
                )
            values = np.asarray(a)
            if values.size and (values.min() < 0 or values.max() >= d):
                raise ValueError(f"ravel_multi_index: an index is out of range for size {d}")
        fixed.append(remainder(a, d) if mode == "wrap" else clip(a, 0, d - 1))
    axes = range(len(dims)) if order == "C" else range(len(dims) - 1, -1, -1)
    flat = None
    for i in axes:
        term = convert(fixed[i], dtypes.default_int())
        flat = term if flat is None else flat * dims[i] + term
    return flat if flat is not None else _int_array(np.zeros(()))


def indices(
    dimensions: Sequence[int], dtype: Any = None, sparse: bool = False
) -> Array | tuple[Array, ...]:
    """A grid of indices: for each axis an array holding the index along it (stacked into one
    array, or broadcastable pieces when ``sparse``)."""
    dims = tuple(operator.index(d) for d in dimensions)
    target = dtypes.default_int() if dtype is None else dtypes.canonicalize(dtype)
    if sparse:
        return tuple(lax.as_array(g) for g in np.indices(dims, dtype=target, sparse=True))
    return lax.as_array(np.indices(dims, dtype=target))


def ix_(*args: ArrayLike) -> tuple[Array, ...]:
    """Open-mesh index arrays: the ``i``-th 1-D argument reshaped to lie along axis ``i``."""
    out = []
    n = len(args)
    for i, a in enumerate(args):
        v = as_array(a, "ix_")
        if v.ndim != 1:
            raise ShapeError(f"ix_: argument {i} must be 1-D, got shape {v.shape}")
        if v.dtype == dtypes.bool_:
            raise TypeError("ix_: boolean arguments need concrete values; pass integer indices")
        out.append(lax.reshape(v, (1,) * i + (v.shape[0],) + (1,) * (n - i - 1)))
    return tuple(out)


def diag_indices(n: int, ndim: int = 2) -> tuple[Array, ...]:
    """Indices of the main diagonal of an ``n``-sided array of ``ndim`` dimensions."""
    n, ndim = operator.index(n), operator.index(ndim)
    if n < 0 or ndim < 0:
        raise ValueError(f"diag_indices: n and ndim must be non-negative, got {n} and {ndim}")
    return (_int_array(np.arange(n)),) * ndim


def diag_indices_from(arr: ArrayLike) -> tuple[Array, ...]:
    """``diag_indices`` for an array whose axes all have one length."""
    shape = np.shape(arr) if not isinstance(arr, Array) else arr.shape
    if len(shape) < 2 or len(set(shape)) != 1:
        raise ShapeError(
            f"diag_indices_from: needs at least 2 axes of one length, got shape {shape}"
        )
    return diag_indices(shape[0], len(shape))


def tril_indices(n: int, k: int = 0, m: int | None = None) -> tuple[Array, Array]:
    """Row and column indices of the lower triangle (on and below diagonal ``k``)."""
    return tuple(_int_array(i) for i in np.tril_indices(n, k, m))  # type: ignore[return-value]


def triu_indices(n: int, k: int = 0, m: int | None = None) -> tuple[Array, Array]:
    """Row and column indices of the upper triangle (on and above diagonal ``k``)."""
    return tuple(_int_array(i) for i in np.triu_indices(n, k, m))  # type: ignore[return-value]


def _matrix_shape(op: str, arr: Any) -> tuple[int, ...]:
    shape = arr.shape if hasattr(arr, "shape") else np.shape(arr)
    if len(shape) != 2:
        raise ShapeError(f"{op}: needs a 2-D array, got shape {tuple(shape)}")
    return tuple(shape)


def tril_indices_from(arr: ArrayLike, k: int = 0) -> tuple[Array, Array]:
    """``tril_indices`` for the shape of the 2-D ``arr``."""
    rows, cols = _matrix_shape("tril_indices_from", arr)
    return tril_indices(rows, k, cols)


def triu_indices_from(arr: ArrayLike, k: int = 0) -> tuple[Array, Array]:
    """``triu_indices`` for the shape of the 2-D ``arr``."""
    rows, cols = _matrix_shape("triu_indices_from", arr)
    return triu_indices(rows, k, cols)


def mask_indices(
    n: int, mask_func: Callable[[Any, int], Any], k: int = 0, *, size: int | None = None
) -> tuple[Array, Array]:
    """Indices where ``mask_func(ones((n, n)), k)`` is nonzero (e.g. ``vnp.triu``)."""
    n = operator.index(n)
    mask = as_array(mask_func(lax.as_array(np.ones((n, n), dtypes.default_int())), k))
    flat = flatnonzero(mask, size=size)
    rows, cols = unravel_index(flat, (n, n))
    return rows, cols


def fromfunction(function: Callable[..., Any], shape: Sequence[int], *, dtype: Any = float,
                 **kwargs: Any) -> Any:  # fmt: skip
    """``function(*indices(shape, dtype), **kwargs)``: each argument holds its axis' index."""
    grids = indices(shape, dtype=dtype)
    assert isinstance(grids, Array)
    return function(*(grids[i] for i in range(len(tuple(shape)))), **kwargs)


def _grid_axis(op: str, s: Any) -> Array:
    if not isinstance(s, slice):
        raise TypeError(f"{op}: index with slices such as [0:4, 0:1:5j], got {s!r}")
    start = 0 if s.start is None else s.start
    step = 1 if s.step is None else s.step
    if isinstance(step, complex):
        return as_array(linspace(start, s.stop, int(abs(step))), op)
    return arange(start, s.stop, step)


class _Grid:
    """``mgrid[...]`` (dense) or ``ogrid[...]`` (open): grids from slices, as NumPy's."""

    def __init__(self, sparse: bool, name: str) -> None:
        self.sparse, self.name = sparse, name

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice):
            return _grid_axis(self.name, key)
        axes = [_grid_axis(self.name, s) for s in key]
        grids = meshgrid(*axes, indexing="ij", sparse=self.sparse)
        if self.sparse:
            return list(grids)
        from vfunc.numpy.movement import stack

        return stack(grids)


mgrid = _Grid(sparse=False, name="mgrid")
ogrid = _Grid(sparse=True, name="ogrid")
