"""The rest of ``jax.numpy``'s array functions, each a composition of existing operations:
creation (``identity, tri, logspace, geomspace, copy, diagflat``), comparison (``array_equal,
array_equiv``), assembly and selection (``block, choose, compress, extract, delete, insert,
resize, trim_zeros, unstack, lexsort, piecewise``), functional updates (``put, place,
put_along_axis``, which need ``inplace=False`` as in JAX), mapping (``apply_along_axis,
apply_over_axes``), NumPy 2's ``cumulative_sum/prod, matvec, vecmat, vecdot,
matrix_transpose``, and dtype queries (``result_type, promote_types, can_cast, isdtype,
isscalar, iterable``).
"""

from __future__ import annotations

import builtins
import math
import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from vfunc import dtypes, lax
from vfunc.core import Array, Tracer
from vfunc.errors import ConcretizationTypeError, ShapeError
from vfunc.numpy._promote import as_array, convert, promote_args, typed
from vfunc.numpy.creation import eye, linspace, zeros
from vfunc.numpy.index_helpers import flatnonzero
from vfunc.numpy.index_helpers import indices as index_grids
from vfunc.numpy.indexing import take, take_along_axis
from vfunc.numpy.linalg import matrix_transpose, vecdot
from vfunc.numpy.matrices import diag
from vfunc.numpy.movement import concatenate, cumprod, cumsum, moveaxis, stack
from vfunc.numpy.products import matmul
from vfunc.numpy.reductions import all as all_
from vfunc.numpy.shapes import ravel, reshape
from vfunc.numpy.ufuncs import (
    broadcast_arrays,
    broadcast_to,
    clip,
    conjugate,
    equal,
    isnan,
    logical_and,
    logical_or,
    power,
    remainder,
    select,
    where,
)
from vfunc.transforms.batching import vmap

ArrayLike = Any
__all__ = ["matrix_transpose", "vecdot"]  # re-exported at vnp's top level, as NumPy 2 does


# --------------------------------------------------------------------------------- creation


def identity(n: int, dtype: Any = None) -> Array:
    """The ``n x n`` identity matrix."""
    return eye(operator.index(n), dtype=dtype)


def tri(N: int, M: int | None = None, k: int = 0, dtype: Any = None) -> Array:  # noqa: N803
    """Ones on and below diagonal ``k`` of an ``N x M`` matrix, zeros above."""
    target = dtypes.default_float() if dtype is None else dtypes.canonicalize(dtype)
    return lax.as_array(np.tri(operator.index(N), M, operator.index(k), dtype=target))


def logspace(
    start: ArrayLike, stop: ArrayLike, num: int = 50, endpoint: bool = True,
    base: ArrayLike = 10.0, dtype: Any = None, axis: int = 0,
) -> Array:  # fmt: skip
    """``base ** linspace(start, stop, num)``."""
    exps = linspace(start, stop, num, endpoint=endpoint, axis=axis)
    assert isinstance(exps, Array)  # retstep is off
    (b,) = promote_args(as_array(base, "logspace"), inexact=True)
    out = power(convert(b, exps.dtype) if b.dtype != exps.dtype else b, exps)
    return out if dtype is None else convert(out, dtypes.canonicalize(dtype))


def geomspace(
    start: ArrayLike, stop: ArrayLike, num: int = 50, endpoint: bool = True, dtype: Any = None,
    axis: int = 0,
) -> Array:  # fmt: skip
    """``num`` numbers spaced evenly on a log scale from ``start`` to ``stop`` (one sign; the
    end points are exact)."""
    lo, hi = promote_args(as_array(start, "geomspace"), as_array(stop, "geomspace"), inexact=True)
    if not isinstance(lo, Tracer) and not isinstance(hi, Tracer):
        if np.any(np.asarray(lo) == 0) or np.any(np.asarray(hi) == 0):
            raise ValueError("geomspace: start and stop must be nonzero")
    sign = lax.sign(lo)
    logs = linspace(lax.log(lax.abs(lo)), lax.log(lax.abs(hi)), num, endpoint=endpoint, axis=0)
    out = lax.exp(logs) * sign
    if num > 0:
        out = out.at[0].set(lo)
        if endpoint and num > 1:
            out = out.at[-1].set(hi)
    out = moveaxis(out, 0, axis) if out.ndim > 1 else out
    return out if dtype is None else convert(out, dtypes.canonicalize(dtype))


def copy(a: ArrayLike, order: str | None = None) -> Array:
    """``a`` as an Array. vfunc arrays are immutable, so sharing is as good as copying."""
    del order
    return as_array(a, "copy")


def diagflat(v: ArrayLike, k: int = 0) -> Array:
    """A matrix with the flattened ``v`` on diagonal ``k``."""
    return diag(ravel(as_array(v, "diagflat")), k)


# ------------------------------------------------------------------------------- comparison


def array_equal(a1: ArrayLike, a2: ArrayLike, equal_nan: bool = False) -> Array:
    """Whether both arrays have one shape and equal elements (NaNs equal with ``equal_nan``);
    a 0-d bool Array, as JAX."""
    x, y = as_array(a1, "array_equal"), as_array(a2, "array_equal")
    if x.shape != y.shape:
        return lax.as_array(np.asarray(False))
    same = equal(x, y)
    if equal_nan and x.dtype.kind in "fc":
        same = logical_or(same, logical_and(isnan(x), isnan(y)))
    return all_(same)


def array_equiv(a1: ArrayLike, a2: ArrayLike) -> Array:
    """Whether the arrays broadcast to one shape and are then equal element by element."""
    x, y = as_array(a1, "array_equiv"), as_array(a2, "array_equiv")
    try:
        np.broadcast_shapes(x.shape, y.shape)
    except ValueError:
        return lax.as_array(np.asarray(False))
    return all_(equal(x, y))


# ----------------------------------------------------------------- assembly and selection


def block(arrays: Any) -> Array:
    """Assemble an array from nested lists of blocks, as ``numpy.block``: the innermost lists
    join along the last axis, the next level out along the second-to-last, and so on."""

    def depth(item: Any) -> int:
        if isinstance(item, list):
            if not item:
                raise ValueError("block: lists must not be empty")
            depths = {depth(i) for i in item}
            if len(depths) != 1:
                raise ValueError("block: list nesting depths are mismatched")
            return 1 + depths.pop()
        if isinstance(item, tuple):
            raise TypeError("block: use nested lists, not tuples")
        return 0

    levels = depth(arrays)

    def max_ndim(item: Any) -> int:
        return builtins.max(max_ndim(i) for i in item) if isinstance(item, list) else np.ndim(item)

    rank = builtins.max(max_ndim(arrays), levels)

    def assemble(item: Any, level: int) -> Array:
        if level == levels:
            v = as_array(item, "block")
            return lax.reshape(v, (1,) * (rank - v.ndim) + v.shape)
        parts = promote_args(*(assemble(i, level + 1) for i in item))
        return concatenate(parts, axis=level - levels)

    return assemble(arrays, 0)


def choose(
    a: ArrayLike, choices: Sequence[ArrayLike], out: None = None, mode: str = "raise"
) -> Array:
    """``choices[a[i]][i]`` for every ``i`` (all broadcast together). ``mode`` "raise" (needs
    concrete ``a``), "wrap" or "clip" handles out-of-range choices."""
    if out is not None:
        raise TypeError("choose: out=... is not supported; vfunc arrays are immutable")
    if mode not in ("raise", "wrap", "clip"):
        raise ValueError(f"choose: mode must be raise, wrap or clip, got {mode!r}")
    idx = as_array(a, "choose")
    if idx.dtype.kind not in "iu":
        raise TypeError(f"choose: a must hold integer indices, got {idx.dtype}")
    n = len(choices)
    if mode == "raise":
        if isinstance(idx, Tracer):
            raise ValueError("choose: mode='raise' needs a concrete a; under jit pass mode='clip'")
        values = np.asarray(idx)
        if values.size and (values.min() < 0 or values.max() >= n):
            raise ValueError(f"choose: an index in a is out of range for {n} choices")
    idx = remainder(idx, n) if mode == "wrap" else clip(idx, 0, n - 1)
    opts = promote_args(*(as_array(c, "choose") for c in choices))
    *opts, idx = broadcast_arrays(*opts, idx)
    stacked = stack(opts)
    pick = lax.expand_dims(idx, (0,))
    return lax.squeeze(take_along_axis(stacked, pick, 0, mode="clip"), (0,))


def compress(
    condition: ArrayLike, a: ArrayLike, axis: int | None = None, *, size: int | None = None,
    fill_value: ArrayLike = 0, out: None = None,
) -> Array:  # fmt: skip
    """The slices of ``a`` along ``axis`` (flattened when None) where the 1-D ``condition``
    is true; with ``size`` (needed under ``jit``) exactly ``size`` slices, padded with
    ``fill_value``."""
    if out is not None:
        raise TypeError("compress: out=... is not supported; vfunc arrays are immutable")
    cond = as_array(condition, "compress")
    x = as_array(a, "compress")
    if cond.ndim != 1:
        raise ShapeError(f"compress: condition must be 1-D, got shape {cond.shape}")
    if size is None and isinstance(cond, Tracer):
        raise ConcretizationTypeError(
            "compress: the result length depends on a traced condition; pass size=... (and "
            "optionally fill_value=...) for a fixed-length result, as in JAX"
        )
    if axis is None:
        x, axis = ravel(x), 0
    axis = operator.index(axis) % builtins.max(x.ndim, 1)
    cond = cond[: x.shape[axis]]
    n = cond.shape[0]
    pos = flatnonzero(cond, size=size, fill_value=n)  # padding marked by the position n
    picked = take(x, pos, axis=axis, mode="clip")
    if size is None:
        return picked
    valid = lax.reshape(pos < n, (1,) * axis + (pos.shape[0],) + (1,) * (x.ndim - axis - 1))
    return where(valid, picked, convert(as_array(fill_value), picked.dtype))


def extract(condition: ArrayLike, arr: ArrayLike, *, size: int | None = None,
            fill_value: ArrayLike = 0) -> Array:  # fmt: skip
    """The elements of ``ravel(arr)`` where ``ravel(condition)`` is nonzero."""
    cond = ravel(as_array(condition, "extract"))
    return compress(cond != 0, ravel(as_array(arr, "extract")), size=size, fill_value=fill_value)


def _static_positions(op: str, obj: Any, n: int) -> np.ndarray:
    if isinstance(obj, slice):
        return np.arange(n)[obj]
    if isinstance(obj, Tracer):
        raise ValueError(f"{op}: the positions must be concrete (a slice, int or int array)")
    positions = np.asarray(obj)
    if positions.dtype == bool:
        raise TypeError(f"{op}: boolean positions are not supported; pass integer indices")
    return positions.astype(int)


def delete(arr: ArrayLike, obj: Any, axis: int | None = None, *,
           assume_unique_indices: bool = False) -> Array:  # fmt: skip
    """``arr`` without the entries at positions ``obj`` (concrete) along ``axis``."""
    del assume_unique_indices
    x = as_array(arr, "delete")
    if axis is None:
        x, axis = ravel(x), 0
    axis = operator.index(axis) % builtins.max(x.ndim, 1)
    n = x.shape[axis]
    positions = _static_positions("delete", obj, n)
    if positions.size and (positions.min() < -n or positions.max() >= n):
        raise IndexError(f"delete: a position in {positions.tolist()} is out of range for {n}")
    keep = np.delete(np.arange(n), positions)
    return take(x, lax.as_array(keep.astype(dtypes.default_int())), axis=axis)


def insert(arr: ArrayLike, obj: Any, values: ArrayLike, axis: int | None = None) -> Array:
    """``arr`` with ``values`` inserted before the positions ``obj`` (concrete) along
    ``axis``, as ``numpy.insert``."""
    x = as_array(arr, "insert")
    if axis is None:
        x, axis = ravel(x), 0
    axis = operator.index(axis) % builtins.max(x.ndim, 1)
    n = x.shape[axis]
    vals = convert(as_array(values, "insert"), x.dtype)
    vals = lax.reshape(vals, (1,) * (x.ndim - vals.ndim) + vals.shape)
    if isinstance(obj, (int, np.integer)):
        # One position: the values bring their own count along the axis, as in NumPy.
        vals = moveaxis(vals, 0, axis)
        positions = np.full(vals.shape[axis], int(obj))
    else:
        positions = _static_positions("insert", obj, n + 1)
    if positions.size and (positions.min() < -n or positions.max() > n):
        raise IndexError(f"insert: a position in {positions.tolist()} is out of range for {n}")
    slot = list(x.shape)
    slot[axis] = positions.size
    vals = broadcast_to(vals, tuple(slot))
    positions = np.where(positions < 0, positions + n, positions)
    # Sort keys 2i + 1 for the originals and 2p for the insertions: each insertion lands just
    # before original p, and several at one p keep their order (the sort is stable).
    keys = np.concatenate([2 * np.arange(n) + 1, 2 * positions])
    order = np.argsort(keys, kind="stable").astype(dtypes.default_int())
    return take(concatenate([x, vals], axis=axis), lax.as_array(order), axis=axis)


def resize(a: ArrayLike, new_shape: int | Sequence[int]) -> Array:
    """``a`` (flattened) repeated or truncated to fill ``new_shape``."""
    x = ravel(as_array(a, "resize"))
    if isinstance(new_shape, (int, np.integer)):
        new_shape = (operator.index(new_shape),)
    shape = tuple(new_shape)
    total = math.prod(shape)
    if x.shape[0] == 0:
        return zeros(shape, x.dtype)
    reps = -(-total // x.shape[0])
    return reshape(concatenate([x] * reps)[:total], shape)


def trim_zeros(filt: ArrayLike, trim: str = "fb") -> Array:
    """The 1-D ``filt`` without its leading (``"f"``) and/or trailing (``"b"``) zeros (needs
    concrete values: the result's length depends on them)."""
    x = as_array(filt, "trim_zeros")
    if isinstance(x, Tracer):
        raise ValueError("trim_zeros: needs concrete values; the output length depends on them")
    nz = np.flatnonzero(np.asarray(x))
    if nz.size == 0:
        return x[:0]
    start = int(nz[0]) if "f" in trim.lower() else 0
    stop = int(nz[-1]) + 1 if "b" in trim.lower() else x.shape[0]
    return x[start:stop]


def unstack(x: ArrayLike, /, *, axis: int = 0) -> tuple[Array, ...]:
    """The slices of ``x`` along ``axis``, as a tuple."""
    v = as_array(x, "unstack")
    if v.ndim == 0:
        raise ShapeError("unstack: needs at least one axis, got a 0-d array")
    moved = moveaxis(v, axis, 0)
    return tuple(moved[i] for i in range(moved.shape[0]))


def lexsort(keys: Sequence[ArrayLike], axis: int = -1) -> Array:
    """The indices that sort by the last key, then the one before, ... (stable)."""
    ks = [as_array(k, "lexsort") for k in keys]
    if not ks:
        raise ValueError("lexsort: needs at least one key")
    ks = broadcast_arrays(*ks)
    ax = operator.index(axis) % builtins.max(ks[0].ndim, 1)
    iota = lax.broadcasted_iota(dtypes.default_int(), ks[0].shape, ax)
    out = lax.sort([*ks[::-1], iota], ax, num_keys=len(ks))
    assert isinstance(out, list)
    return out[-1]


def piecewise(x: ArrayLike, condlist: Any, funclist: Sequence[Any], *args: Any, **kw: Any) -> Array:
    """Where ``condlist[i]`` holds, ``funclist[i](x)`` (or the constant ``funclist[i]``); one
    extra function is the default where no condition holds. Every function is evaluated on the
    whole ``x`` (as in JAX), so they must be safe everywhere."""
    v = as_array(x, "piecewise")
    if not isinstance(condlist, (list, tuple)):
        condlist = [condlist]
    conds = [as_array(c, "piecewise") for c in condlist]
    if len(funclist) not in (len(conds), len(conds) + 1):
        raise ValueError(
            f"piecewise: {len(conds)} conditions need {len(conds)} or {len(conds) + 1} functions, "
            f"got {len(funclist)}"
        )

    def value(f: Any) -> Array:
        out = f(v, *args, **kw) if callable(f) else f
        return broadcast_to(convert(as_array(out, "piecewise"), v.dtype), v.shape)

    default = value(funclist[-1]) if len(funclist) == len(conds) + 1 else zeros(v.shape, v.dtype)
    chosen = [value(f) for f in funclist[: len(conds)]]
    # Later conditions win where several hold, as in NumPy.
    return select(conds[::-1], chosen[::-1], default)


# ------------------------------------------------------------------------ functional updates


def _needs_copy(op: str, inplace: bool) -> None:
    if inplace:
        raise ValueError(
            f"{op}: vfunc arrays are immutable, so updating in place is impossible; pass "
            "inplace=False to get the updated copy (as in JAX), or use x.at[...].set(...)"
        )


def put(a: ArrayLike, ind: ArrayLike, v: ArrayLike, mode: str | None = None, *,
        inplace: bool = True) -> Array:  # fmt: skip
    """``a`` with its flattened entries at ``ind`` set to ``v`` (cycled). ``inplace=False``."""
    _needs_copy("put", inplace)
    x = as_array(a, "put")
    idx = ravel(as_array(ind, "put"))
    vals = ravel(convert(as_array(v, "put"), x.dtype))
    if idx.shape[0] == 0:
        return x
    if vals.shape[0] != idx.shape[0]:
        vals = take(vals, lax.iota(dtypes.default_int(), idx.shape[0]), mode="wrap")
    n = x.size
    if mode == "wrap":
        idx = remainder(idx, n)
    elif mode == "clip":
        idx = where(idx < 0, 0, where(idx >= n, n - 1, idx))
    elif mode not in (None, "raise", "fill"):
        raise ValueError(f"put: mode must be raise, wrap or clip, got {mode!r}")
    return reshape(ravel(x).at[idx].set(vals), x.shape)


def place(arr: ArrayLike, mask: ArrayLike, vals: ArrayLike, *, inplace: bool = True) -> Array:
    """``arr`` with the entries where ``mask`` holds set to ``vals`` (cycled, in order).
    ``inplace=False``; ``mask`` must be concrete."""
    _needs_copy("place", inplace)
    x = as_array(arr, "place")
    m = ravel(as_array(mask, "place"))
    pos = flatnonzero(m)
    if pos.shape[0] == 0:
        return x
    return put(x, pos, vals, inplace=False)


def put_along_axis(arr: ArrayLike, indices: ArrayLike, values: ArrayLike, axis: int | None,
                   inplace: bool = True, *, mode: str | None = None) -> Array:  # fmt: skip
    """``arr`` with ``values`` written at ``indices`` along ``axis`` (the inverse of
    ``take_along_axis``). ``inplace=False``, as in JAX."""
    _needs_copy("put_along_axis", inplace)
    x = as_array(arr, "put_along_axis")
    idx = as_array(indices, "put_along_axis")
    if axis is None:
        flat_values = ravel(convert(as_array(values, "put_along_axis"), x.dtype))
        return reshape(ravel(x).at[ravel(idx)].set(flat_values), x.shape)
    ax = operator.index(axis) % x.ndim
    if idx.ndim != x.ndim:
        raise ShapeError(
            f"put_along_axis: indices of shape {idx.shape} must have the rank of arr {x.shape}"
        )
    grids = index_grids(idx.shape, sparse=True)
    assert isinstance(grids, tuple)
    index = tuple(idx if d == ax else g for d, g in enumerate(grids))
    vals = convert(as_array(values, "put_along_axis"), x.dtype)
    vals = broadcast_to(vals, idx.shape)
    return x.at[index].set(vals, mode=mode) if mode is not None else x.at[index].set(vals)


# ------------------------------------------------------------------------------------ mapping


def apply_along_axis(func1d: Callable[..., Any], axis: int, arr: ArrayLike, *args: Any,
                     **kwargs: Any) -> Array:  # fmt: skip
    """``func1d`` applied to every 1-D slice along ``axis`` (by ``vmap`` over the others)."""
    x = as_array(arr, "apply_along_axis")
    ax = operator.index(axis) % x.ndim
    fn = lambda row: func1d(row, *args, **kwargs)  # noqa: E731
    for _ in range(x.ndim - 1):
        fn = vmap(fn)
    moved = moveaxis(x, ax, -1)
    out = as_array(fn(moved))
    # The function's own output axes take the place of the consumed axis.
    extra = out.ndim - (x.ndim - 1)
    if not extra:
        return out
    return moveaxis(out, tuple(range(x.ndim - 1, out.ndim)), tuple(range(ax, ax + extra)))


def apply_over_axes(
    func: Callable[[Array, int], Array], a: ArrayLike, axes: Sequence[int]
) -> Array:
    """``func(a, axis)`` applied for each axis in turn, keeping the rank (a reduced axis comes
    back with length 1)."""
    x = as_array(a, "apply_over_axes")
    for ax in axes:
        out = as_array(func(x, ax))
        if out.ndim == x.ndim - 1:
            out = lax.expand_dims(out, (operator.index(ax) % x.ndim,))
        elif out.ndim != x.ndim:
            raise ValueError("apply_over_axes: func must keep the rank or drop one axis")
        x = out
    return x


# ------------------------------------------------------------------------------- NumPy 2 names


def _cumulative(name: str, op: Callable[..., Array], identity_value: int):
    def fn(x: ArrayLike, /, *, axis: int | None = None, dtype: Any = None,
           include_initial: bool = False) -> Array:  # fmt: skip
        v = as_array(x, name)
        if axis is None:
            if v.ndim > 1:
                raise ValueError(f"{name}: axis is required for arrays of more than one axis")
            v, axis = ravel(v), 0
        out = op(v, axis, dtype)
        if not include_initial:
            return out
        ax = operator.index(axis) % out.ndim
        pad = [(0, 0, 0)] * out.ndim
        pad[ax] = (1, 0, 0)
        return lax.pad(out, lax.as_array(np.asarray(identity_value, out.dtype)), pad)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (
        f"The array API's ``{name}``: the cumulative {name.split('_')[1]} along ``axis`` "
        "(required for arrays of more than one axis), optionally starting with the identity."
    )
    return fn


cumulative_sum = _cumulative("cumulative_sum", cumsum, 0)
cumulative_prod = _cumulative("cumulative_prod", cumprod, 1)


def matvec(x1: ArrayLike, x2: ArrayLike, /) -> Array:
    """Matrix-vector product over the last axes, batched (NumPy 2's ``matvec``)."""
    m, v = as_array(x1, "matvec"), as_array(x2, "matvec")
    out = matmul(m, lax.expand_dims(v, (v.ndim,)))
    return lax.squeeze(out, (out.ndim - 1,))


def vecmat(x1: ArrayLike, x2: ArrayLike, /) -> Array:
    """Conjugated vector-matrix product over the last axes, batched (NumPy 2's ``vecmat``)."""
    v, m = as_array(x1, "vecmat"), as_array(x2, "vecmat")
    row = lax.expand_dims(conjugate(v), (v.ndim - 1,))
    out = matmul(row, m)
    return lax.squeeze(out, (out.ndim - 2,))


# ----------------------------------------------------------------------------------- dtypes


def result_type(*args: Any) -> np.dtype:
    """The dtype JAX's promotion gives ``args`` (arrays, dtypes, Python scalars weakly)."""
    if not args:
        raise ValueError("result_type: needs at least one argument")
    pairs = []
    for a in args:
        if isinstance(a, (bool, int, float, complex)) and not isinstance(a, np.generic):
            pairs.append((dtypes.scalar_dtype(a), True))
        elif isinstance(a, (Array, np.ndarray, np.generic)):
            pairs.append(typed(a))
        else:
            pairs.append((dtypes.canonicalize(a), False))
    return dtypes.promote(*pairs)[0]


def promote_types(a: Any, b: Any) -> np.dtype:
    """The dtype two dtypes promote to under JAX's lattice."""
    return dtypes.promote((dtypes.canonicalize(a), False), (dtypes.canonicalize(b), False))[0]


def can_cast(from_: Any, to: Any, casting: str = "safe") -> bool:
    """NumPy's ``can_cast`` on dtypes (as stored by vfunc)."""
    source = from_.dtype if isinstance(from_, Array) else dtypes.canonicalize(from_)
    return bool(np.can_cast(source, dtypes.canonicalize(to), casting=casting))  # type: ignore[arg-type]


def isdtype(dtype: Any, kind: Any) -> bool:
    """The array API's ``isdtype``: whether ``dtype`` is of ``kind`` (a dtype, a kind name
    such as "real floating", or a tuple of them)."""
    return bool(np.isdtype(np.dtype(dtype), _kind(kind)))


def _kind(kind: Any) -> Any:
    if isinstance(kind, tuple):
        return tuple(_kind(k) for k in kind)
    return kind if isinstance(kind, str) else np.dtype(kind)


def isscalar(element: Any) -> bool:
    """True for Python and NumPy scalars and for 0-d arrays (as JAX)."""
    if isinstance(element, (Array, np.ndarray)):
        return element.ndim == 0
    return bool(np.isscalar(element))


def iterable(y: Any) -> bool:
    """Whether ``iter(y)`` works."""
    try:
        iter(y)
    except TypeError:
        return False
    return True


def fill_diagonal(a: ArrayLike, val: ArrayLike, wrap: bool = False, *,
                  inplace: bool = True) -> Array:  # fmt: skip
    """``a`` with its main diagonal set to ``val`` (cycled). ``inplace=False``, as in JAX;
    ``wrap`` continues the diagonal of a tall matrix after every ``cols + 1`` rows."""
    _needs_copy("fill_diagonal", inplace)
    x = as_array(a, "fill_diagonal")
    if x.ndim < 2 or (x.ndim > 2 and len(set(x.shape)) != 1):
        raise ShapeError(
            f"fill_diagonal: needs a 2-D array or one whose axes all have one length, got {x.shape}"
        )
    if x.ndim == 2:
        rows, cols = x.shape
        step = cols + 1
        end = rows * cols if wrap else builtins.min(rows, cols) * cols
    else:
        # One step along every axis at once: the sum of the C-order strides (in elements).
        step = int(np.sum(np.cumprod((1,) + x.shape[:0:-1])))
        end = x.size
    flat_positions = np.arange(0, end, step)
    return put(x, flat_positions, val, inplace=False)


# NumPy's input, output and text helpers, with results as vfunc Arrays.
def broadcast_shapes(*shapes: Sequence[int]) -> tuple[int, ...]:
    """The shape the given shapes broadcast to (NumPy's rules)."""
    return tuple(np.broadcast_shapes(*shapes))


def array_repr(arr: ArrayLike, max_line_width: int | None = None, precision: int | None = None,
               suppress_small: bool | None = None) -> str:  # fmt: skip
    """``repr`` of an array's values, as ``numpy.array_repr``."""
    return np.array_repr(np.asarray(arr), max_line_width, precision, suppress_small)


def array_str(a: ArrayLike, max_line_width: int | None = None, precision: int | None = None,
              suppress_small: bool | None = None) -> str:  # fmt: skip
    """``str`` of an array's values, as ``numpy.array_str``."""
    return np.array_str(np.asarray(a), max_line_width, precision, suppress_small)


def _from_numpy(values: Any, dtype: Any = None) -> Array:
    from vfunc.numpy.creation import asarray

    return asarray(values, dtype=dtype)


def frombuffer(buffer: Any, dtype: Any = float, count: int = -1, offset: int = 0) -> Array:
    """An Array from the bytes of ``buffer``, as ``numpy.frombuffer``."""
    return _from_numpy(np.frombuffer(buffer, dtype=dtype, count=count, offset=offset))


def fromstring(string: str, dtype: Any = float, count: int = -1, *, sep: str) -> Array:
    """An Array from text numbers separated by ``sep``, as ``numpy.fromstring``."""
    return _from_numpy(np.fromstring(string, dtype=dtype, count=count, sep=sep))


def fromiter(iterable: Any, dtype: Any, count: int = -1) -> Array:
    """An Array from the values of an iterable, as ``numpy.fromiter``."""
    return _from_numpy(np.fromiter(iterable, dtype=dtype, count=count))


def fromfile(*args: Any, **kwargs: Any) -> Array:
    """An Array from a file, as ``numpy.fromfile``."""
    return _from_numpy(np.fromfile(*args, **kwargs))


def from_dlpack(x: Any, /, *, device: Any = None, copy: bool | None = None) -> Array:
    """An Array from any DLPack producer (a NumPy, PyTorch or CuPy-on-CPU tensor)."""
    del device, copy  # the data is always copied into a host Array
    return _from_numpy(np.from_dlpack(x))


def load(file: Any, *args: Any, **kwargs: Any) -> Any:
    """``numpy.load``, with a plain array result converted to an Array (``.npz`` archives are
    returned as NumPy's lazy mapping)."""
    out = np.load(file, *args, **kwargs)
    return _from_numpy(out) if isinstance(out, np.ndarray) else out


def save(file: Any, arr: ArrayLike, allow_pickle: bool = True) -> None:
    """``numpy.save`` of an Array's values."""
    np.save(file, np.asarray(arr), allow_pickle=allow_pickle)


def savez(file: Any, *args: ArrayLike, **kwds: ArrayLike) -> None:
    """``numpy.savez`` of Arrays' values."""
    named: dict[str, Any] = {k: np.asarray(v) for k, v in kwds.items()}
    np.savez(file, *(np.asarray(a) for a in args), **named)
