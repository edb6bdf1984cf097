"""Joining, splitting, padding, reordering and cumulative functions with NumPy's signatures."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from vfunc import dtypes, lax
from vfunc.core import Array, Tracer, wrap_numpy
from vfunc.errors import ShapeError
from vfunc.numpy._promote import as_array, convert, promote_args
from vfunc.numpy.indexing import take
from vfunc.numpy.reductions import _sum_dtype
from vfunc.numpy.shapes import ravel, reshape
from vfunc.numpy.ufuncs import not_equal, remainder, subtract
from vfunc.primitives._checks import normalize_axis

ArrayLike = Any


def _axis(op: str, axis: int, ndim: int) -> int:
    return normalize_axis(op, operator.index(axis), ndim)


def _check_parts(op: str, parts: Sequence[ArrayLike]) -> Sequence[ArrayLike]:
    """``parts`` unchanged, or TypeError for a list or tuple among them, as JAX does: a nested
    sequence is usually a mistake (``vstack`` of ``vjp_fun``'s 1-tuples), and treating it as an
    array would silently add an axis. Wrap it in ``vnp.array`` to mean an array.

    ``concatenate`` (which JAX checks too) still takes list parts: ``append`` and code that
    joins a traced list onto an array rely on it, and there the parts keep their axis count."""
    if isinstance(parts, (Array, np.ndarray)):
        return parts
    for i, p in enumerate(parts):
        if isinstance(p, (list, tuple)):
            raise TypeError(
                f"{op} requires ndarray or scalar arguments, got {type(p)} at position {i}; "
                "convert it with vnp.array(...) first (or unpack a 1-tuple such as vjp's result)"
            )
    return parts


def concatenate(arrays: Sequence[ArrayLike], axis: int | None = 0, dtype: Any = None) -> Array:
    """Join arrays along an existing ``axis`` (flattened first when ``axis`` is None).

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.concatenate([vnp.zeros(2), vnp.ones(1)])
        Array([0., 0., 1.], dtype=float32)
    """
    if not len(arrays):
        raise ValueError("concatenate: need at least one array to concatenate")
    parts = promote_args(*arrays)
    if dtype is not None:
        parts = [convert(p, dtypes.canonicalize(dtype)) for p in parts]
    if axis is None:
        parts, axis = [ravel(p) for p in parts], 0
    if any(p.ndim == 0 for p in parts):
        raise ShapeError("concatenate: zero-dimensional arrays cannot be concatenated")
    return lax.concatenate(parts, _axis("concatenate", axis, parts[0].ndim))


def stack(arrays: Sequence[ArrayLike], axis: int = 0, dtype: Any = None) -> Array:
    """Join arrays of one shape along a new ``axis``."""
    parts = [as_array(a, "stack") for a in _check_parts("stack", arrays)]
    if not parts:
        raise ValueError("stack: need at least one array to stack")
    shapes = {p.shape for p in parts}
    if len(shapes) > 1:
        raise ShapeError(f"stack: all input arrays must have the same shape, got {sorted(shapes)}")
    axis = _axis("stack", axis, parts[0].ndim + 1)
    return concatenate([lax.expand_dims(p, (axis,)) for p in parts], axis, dtype)


def atleast_1d(*arys: ArrayLike) -> Array | list[Array]:
    """Each input with at least one axis (scalars become shape (1,))."""
    out = [as_array(a) if as_array(a).ndim >= 1 else lax.reshape(as_array(a), (1,)) for a in arys]
    return out[0] if len(out) == 1 else out


def atleast_2d(*arys: ArrayLike) -> Array | list[Array]:
    """Each input with at least two axes (a vector becomes a row)."""
    out = []
    for a in arys:
        x = as_array(a)
        out.append(x if x.ndim >= 2 else lax.reshape(x, (1,) * (2 - x.ndim) + x.shape))
    return out[0] if len(out) == 1 else out


def atleast_3d(*arys: ArrayLike) -> Array | list[Array]:
    """Each input with at least three axes, as ``numpy.atleast_3d``."""
    out = []
    for a in arys:
        x = as_array(a)
        if x.ndim == 0:
            x = lax.reshape(x, (1, 1, 1))
        elif x.ndim == 1:
            x = lax.reshape(x, (1, x.shape[0], 1))
        elif x.ndim == 2:
            x = lax.expand_dims(x, (2,))
        out.append(x)
    return out[0] if len(out) == 1 else out


def hstack(tup: Sequence[ArrayLike], dtype: Any = None) -> Array:
    """Stack horizontally: along axis 1, or axis 0 for 1-D inputs."""
    parts = [atleast_1d(a) for a in _check_parts("hstack", tup)]
    return concatenate(parts, 0 if parts[0].ndim == 1 else 1, dtype)


def vstack(tup: Sequence[ArrayLike], dtype: Any = None) -> Array:
    """Stack vertically: along axis 0 after making inputs at least 2-D."""
    return concatenate([atleast_2d(a) for a in _check_parts("vstack", tup)], 0, dtype)


def dstack(tup: Sequence[ArrayLike], dtype: Any = None) -> Array:
    """Stack along the third axis after making inputs at least 3-D."""
    return concatenate([atleast_3d(a) for a in _check_parts("dstack", tup)], 2, dtype)


def column_stack(tup: Sequence[ArrayLike]) -> Array:
    """Stack 1-D arrays as columns of a 2-D array (2-D inputs are joined along axis 1)."""
    parts = []
    for a in tup:
        x = as_array(a)
        parts.append(lax.reshape(x, (x.size, 1)) if x.ndim < 2 else x)
    return concatenate(parts, 1)


def _split_points(op: str, size: int, sections: Any, even: bool) -> list[int]:
    if isinstance(sections, (int, np.integer)):
        n = operator.index(sections)
        if n <= 0:
            raise ValueError(f"{op}: number of sections must be positive, got {n}")
        if even and size % n:
            raise ShapeError(
                f"{op}: an axis of size {size} cannot be split into {n} equal sections; use "
                "array_split for unequal sections"
            )
        base, extra = divmod(size, n)
        sizes = [base + 1] * extra + [base] * (n - extra)
        return list(np.cumsum([0] + sizes))
    points = [operator.index(p) for p in np.asarray(sections).tolist()]
    return [0] + points + [size]


def _split(op: str, ary: ArrayLike, sections: Any, axis: int, even: bool) -> list[Array]:
    x = as_array(ary, op)
    axis = _axis(op, axis, x.ndim)
    size = x.shape[axis]
    bounds = _split_points(op, size, sections, even)
    # Each piece is ary[lo:hi] as NumPy slices it: negative points count from the end.
    pieces = [slice(int(lo), int(hi)).indices(size)[:2]
              for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]  # fmt: skip
    pieces = [(lo, max(hi, lo)) for lo, hi in pieces]
    if pieces[0][0] == 0 and pieces[-1][1] == size and all(
            a[1] == b[0] for a, b in zip(pieces[:-1], pieces[1:], strict=True)):
        # Consecutive pieces covering the axis: one split, whose gradient is one concatenate.
        return lax.split(x, [hi - lo for lo, hi in pieces], axis)
    out = []
    for lo, hi in pieces:
        start, limit = [0] * x.ndim, list(x.shape)
        start[axis], limit[axis] = lo, hi
        out.append(lax.slice(x, start, limit))
    return out


def split(ary: ArrayLike, indices_or_sections: Any, axis: int = 0) -> list[Array]:
    """Split into equal sections (an int) or at the given indices (views when eager)."""
    return _split("split", ary, indices_or_sections, axis, even=True)


def array_split(ary: ArrayLike, indices_or_sections: Any, axis: int = 0) -> list[Array]:
    """Like ``split``, but an int need not divide the axis (leading sections get one more)."""
    return _split("array_split", ary, indices_or_sections, axis, even=False)


def _pad_widths(op: str, pad_width: Any, ndim: int) -> list[tuple[int, int]]:
    try:
        widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (ndim, 2))
    except ValueError as err:
        raise ShapeError(
            f"{op}: pad_width {pad_width!r} does not fit an array of rank {ndim}; give an int, "
            "a (before, after) pair, or one pair per axis"
        ) from err
    if (widths < 0).any():
        raise ValueError(f"{op}: pad_width must be non-negative, got {pad_width!r}")
    return [(int(lo), int(hi)) for lo, hi in widths]


def _reflect_index(op_mode: str, size: int, low: int, high: int) -> np.ndarray:
    # Source index for each output position of a padded axis: padding is index arithmetic.
    i = np.arange(-low, size + high)
    if op_mode == "edge":
        return np.clip(i, 0, size - 1)
    if op_mode == "wrap":
        return i % size
    if op_mode == "reflect":
        if size == 1:
            return np.zeros_like(i)
        period = 2 * (size - 1)
        k = i % period
        return np.where(k >= size, period - k, k)
    period = 2 * size  # symmetric: the edge value is repeated
    k = i % period
    return np.where(k >= size, period - 1 - k, k)


def pad(
    array: ArrayLike, pad_width: Any, mode: str = "constant", constant_values: Any = 0
) -> Array:
    """Pad an array, as ``numpy.pad``, in modes constant, edge, reflect, symmetric and wrap.

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.pad(vnp.array([1, 2, 3]), 2, mode="reflect")
        Array([3, 2, 1, 2, 3, 2, 1], dtype=int32)
    """
    x = as_array(array, "pad")
    widths = _pad_widths("pad", pad_width, x.ndim)
    if mode == "constant":
        if not x.ndim:
            return x  # no axes to pad, as numpy.pad
        values = np.broadcast_to(np.asarray(constant_values, dtype=object), (x.ndim, 2))
        if all(v == values.flat[0] for v in values.flat) and not isinstance(values.flat[0], Array):
            config = [(lo, hi, 0) for lo, hi in widths]
            return lax.pad(x, convert(values.flat[0], x.dtype), config)
        for axis, ((lo, hi), (vlo, vhi)) in enumerate(zip(widths, values, strict=True)):
            config = [(0, 0, 0)] * x.ndim
            config[axis] = (lo, 0, 0)
            x = lax.pad(x, convert(vlo, x.dtype), config)
            config[axis] = (0, hi, 0)
            x = lax.pad(x, convert(vhi, x.dtype), config)
        return x
    if mode not in ("edge", "wrap", "reflect", "symmetric"):
        raise NotImplementedError(
            f"pad: mode {mode!r} is not supported; use constant, edge, reflect, symmetric or wrap"
        )
    for axis, (lo, hi) in enumerate(widths):
        if not lo and not hi:
            continue
        if x.shape[axis] == 0:
            raise ValueError(f"pad: cannot {mode}-pad an empty axis {axis} (shape {x.shape})")
        index = _reflect_index(mode, x.shape[axis], lo, hi)
        x = take(x, wrap_numpy(index.astype(np.int32)), axis=axis, mode="promise_in_bounds")
    return x


def flip(m: ArrayLike, axis: int | Sequence[int] | None = None) -> Array:
    """Reverse the order of elements along ``axis`` (all axes when None); a view when eager."""
    x = as_array(m, "flip")
    if axis is None:
        return lax.rev(x, tuple(range(x.ndim)))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    return lax.rev(x, tuple(_axis("flip", a, x.ndim) for a in axes))


def fliplr(m: ArrayLike) -> Array:
    """Reverse along axis 1."""
    return flip(m, 1)


def flipud(m: ArrayLike) -> Array:
    """Reverse along axis 0."""
    return flip(m, 0)


def roll(a: ArrayLike, shift: Any, axis: int | Sequence[int] | None = None) -> Array:
    """Shift elements cyclically along ``axis`` (the flattened array when None).

    A traced ``shift`` is supported (through a gather); a concrete one is two slices.
    """
    x = as_array(a, "roll")
    if axis is None:
        return reshape(roll(ravel(x), shift, 0), x.shape)
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    shifts = shift if isinstance(shift, (tuple, list)) else [shift] * len(axes)
    if len(shifts) != len(axes):
        raise ValueError(f"roll: got {len(shifts)} shifts for {len(axes)} axes")
    for s, ax in zip(shifts, axes, strict=True):
        ax = _axis("roll", ax, x.ndim)
        size = x.shape[ax]
        if size == 0:
            continue
        if isinstance(s, Tracer):
            index = remainder(subtract(lax.iota(s.dtype, size), s), size)
            x = take(x, index, axis=ax, mode="promise_in_bounds")
            continue
        k = operator.index(s) % size
        if k:
            head, tail = _split("roll", x, [size - k], ax, even=False)
            x = lax.concatenate([tail, head], ax)
    return x


def tile(A: ArrayLike, reps: int | Sequence[int]) -> Array:  # noqa: N803
    """Repeat the whole array ``reps`` times along each axis, as ``numpy.tile``."""
    x = as_array(A, "tile")
    reps = (reps,) if isinstance(reps, (int, np.integer)) else tuple(reps)
    ndim = max(x.ndim, len(reps))
    x = lax.reshape(x, (1,) * (ndim - x.ndim) + x.shape)
    reps = (1,) * (ndim - len(reps)) + tuple(operator.index(r) for r in reps)
    # Broadcast a new axis before each axis to its repeat count, then merge the pairs.
    expanded = lax.broadcast_in_dim(
        x, tuple(v for r, n in zip(reps, x.shape, strict=True) for v in (r, n)),
        tuple(range(1, 2 * ndim, 2)),
    )  # fmt: skip
    return lax.reshape(expanded, tuple(r * n for r, n in zip(reps, x.shape, strict=True)))


def repeat(
    a: ArrayLike, repeats: Any, axis: int | None = None, total_repeat_length: int | None = None
) -> Array:
    """Repeat each element ``repeats`` times along ``axis`` (flattened when None).

    ``repeats`` may be an int or a concrete array of per-element counts.
    """
    x = as_array(a, "repeat")
    if axis is None:
        x, axis = ravel(x), 0
    axis = _axis("repeat", axis, x.ndim)
    if isinstance(repeats, Tracer):
        raise TypeError(
            "repeat: repeats must be concrete (the output length depends on it); per-element "
            "traced counts are not supported"
        )
    counts = np.asarray(repeats)
    if counts.ndim == 0:
        r = int(counts)
        shape = x.shape[: axis + 1] + (r,) + x.shape[axis + 1 :]
        dims = tuple(i if i <= axis else i + 1 for i in range(x.ndim))
        out = lax.reshape(
            lax.broadcast_in_dim(x, shape, dims),
            x.shape[:axis] + (x.shape[axis] * r,) + x.shape[axis + 1 :],
        )
    else:
        index = np.repeat(np.arange(x.shape[axis]), np.broadcast_to(counts, (x.shape[axis],)))
        out = take(x, wrap_numpy(index.astype(np.int32)), axis=axis, mode="promise_in_bounds")
    if total_repeat_length is not None and out.shape[axis] != total_repeat_length:
        raise ValueError(
            f"repeat: total_repeat_length={total_repeat_length} differs from the actual "
            f"length {out.shape[axis]}"
        )
    return out


def swapaxes(a: ArrayLike, axis1: int, axis2: int) -> Array:
    """Exchange two axes (a view when eager)."""
    x = as_array(a, "swapaxes")
    perm = list(range(x.ndim))
    i, j = _axis("swapaxes", axis1, x.ndim), _axis("swapaxes", axis2, x.ndim)
    perm[i], perm[j] = perm[j], perm[i]
    return lax.transpose(x, perm)


def moveaxis(a: ArrayLike, source: int | Sequence[int], destination: int | Sequence[int]) -> Array:
    """Move axes to new positions, keeping the others in order (a view when eager)."""
    x = as_array(a, "moveaxis")
    src = (source,) if isinstance(source, (int, np.integer)) else tuple(source)
    dst = (destination,) if isinstance(destination, (int, np.integer)) else tuple(destination)
    if len(src) != len(dst):
        raise ValueError(f"moveaxis: source {src} and destination {dst} differ in length")
    src = tuple(_axis("moveaxis", s, x.ndim) for s in src)
    dst = tuple(_axis("moveaxis", d, x.ndim) for d in dst)
    rest = [i for i in range(x.ndim) if i not in src]
    order = [None] * x.ndim
    for s, d in zip(src, dst, strict=True):
        order[d] = s
    it = iter(rest)
    return lax.transpose(x, [o if o is not None else next(it) for o in order])


def sort(a: ArrayLike, axis: int | None = -1, *, stable: bool = True,
         descending: bool = False) -> Array:  # fmt: skip
    """Sorted copy along ``axis`` (flattened when None); NaNs last. Always stable."""
    del stable
    x = as_array(a, "sort")
    if axis is None:
        x, axis = ravel(x), 0
    axis = _axis("sort", axis, x.ndim)
    out = lax.sort(x, axis)
    return lax.rev(out, (axis,)) if descending else out


def argsort(a: ArrayLike, axis: int | None = -1, *, stable: bool = True,
            descending: bool = False) -> Array:  # fmt: skip
    """Indices that sort ``a`` along ``axis`` (stable: equal elements keep their order)."""
    del stable
    x = as_array(a, "argsort")
    if axis is None:
        x, axis = ravel(x), 0
    axis = _axis("argsort", axis, x.ndim)
    index = lax.broadcasted_iota(dtypes.default_int(), x.shape, axis)
    if descending:
        # Reverse, sort stably, and map indices back so ties keep their original order.
        flipped = lax.rev(x, (axis,))
        _, order = lax.sort([flipped, index], axis, num_keys=1)
        return lax.rev(subtract(x.shape[axis] - 1, order), (axis,))
    return lax.sort([x, index], axis, num_keys=1)[1]


def _cumulative(name: str, op):
    def fn(a: ArrayLike, axis: int | None = None, dtype: Any = None) -> Array:
        x = as_array(a, name)
        if axis is None:
            x, axis = ravel(x), 0
        axis = _axis(name, axis, x.ndim)
        target = dtypes.canonicalize(dtype) if dtype is not None else _sum_dtype(x.dtype)
        return op(convert(x, target), axis)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (
        f"``numpy.{name}`` along ``axis`` (flattened when None); bools and small integers "
        "accumulate in the default integer dtype."
    )
    return fn


cumsum = _cumulative("cumsum", lax.cumsum)
cumprod = _cumulative("cumprod", lax.cumprod)


def diff(
    a: ArrayLike, n: int = 1, axis: int = -1, prepend: ArrayLike | None = None,
    append: ArrayLike | None = None,
) -> Array:  # fmt: skip
    """The ``n``-th discrete difference along ``axis``, as ``numpy.diff`` (bools use !=)."""
    x = as_array(a, "diff")
    axis = _axis("diff", axis, x.ndim)
    if n < 0:
        raise ValueError(f"diff: order n must be non-negative, got {n}")

    def along(v: Any) -> Array:
        v = as_array(v, "diff")
        if v.ndim == 0:
            shape = list(x.shape)
            shape[axis] = 1
            v = lax.broadcast_in_dim(v, tuple(shape), ())
        return v

    pieces = ([along(prepend)] if prepend is not None else []) + [x] + (
        [along(append)] if append is not None else [])  # fmt: skip
    if len(pieces) > 1:
        x = concatenate(pieces, axis)
    for _ in range(n):
        size = x.shape[axis]
        if size == 0:
            break
        lo = _split("diff", x, [1], axis, even=False)[1]
        hi = _split("diff", x, [size - 1], axis, even=False)[0]
        if x.dtype == dtypes.bool_:
            x = not_equal(lo, hi)
        else:
            x = subtract(lo, hi)
    return x


def append(arr: ArrayLike, values: ArrayLike, axis: int | None = None) -> Array:
    """``values`` joined after ``arr`` along ``axis`` (both flattened when None), as
    ``numpy.append``."""
    x, v = promote_args(arr, values)
    if axis is None:
        return concatenate([ravel(x), ravel(v)], 0)
    return concatenate([x, v], axis)


def hsplit(ary: ArrayLike, indices_or_sections: Any) -> list[Array]:
    """``split`` along axis 1 (axis 0 for 1-D input), as ``numpy.hsplit``."""
    x = as_array(ary, "hsplit")
    if x.ndim == 0:
        raise ValueError("hsplit: needs an array of at least one dimension, got a scalar")
    return _split("hsplit", x, indices_or_sections, 1 if x.ndim > 1 else 0, even=True)


def vsplit(ary: ArrayLike, indices_or_sections: Any) -> list[Array]:
    """``split`` along axis 0 of an array of at least two dimensions, as ``numpy.vsplit``."""
    x = as_array(ary, "vsplit")
    if x.ndim < 2:
        raise ValueError(f"vsplit: needs an array of at least 2 dimensions, got shape {x.shape}")
    return _split("vsplit", x, indices_or_sections, 0, even=True)


def dsplit(ary: ArrayLike, indices_or_sections: Any) -> list[Array]:
    """``split`` along axis 2 of an array of at least three dimensions, as ``numpy.dsplit``."""
    x = as_array(ary, "dsplit")
    if x.ndim < 3:
        raise ValueError(f"dsplit: needs an array of at least 3 dimensions, got shape {x.shape}")
    return _split("dsplit", x, indices_or_sections, 2, even=True)


def rot90(m: ArrayLike, k: int = 1, axes: tuple[int, int] = (0, 1)) -> Array:
    """Rotate by 90 degrees ``k`` times in the plane of ``axes``, from the first axis towards
    the second, as ``numpy.rot90`` (views when eager)."""
    x = as_array(m, "rot90")
    if len(axes) != 2:
        raise ValueError(f"rot90: axes must be two axes, got {axes!r}")
    a, b = (_axis("rot90", ax, x.ndim) for ax in axes)
    if a == b:
        raise ValueError(f"rot90: axes must differ, got {axes!r}")
    k = operator.index(k) % 4
    if k == 0:
        return x
    if k == 2:
        return flip(x, (a, b))
    # one quarter turn: transpose the plane, then flip the axis that became the first
    return flip(swapaxes(x, a, b), b) if k == 3 else swapaxes(flip(x, b), a, b)


def rollaxis(a: ArrayLike, axis: int, start: int = 0) -> Array:
    """Move ``axis`` to sit before position ``start``, as ``numpy.rollaxis`` (prefer
    ``moveaxis``)."""
    x = as_array(a, "rollaxis")
    axis = _axis("rollaxis", axis, x.ndim)
    start = operator.index(start)
    if not -x.ndim <= start <= x.ndim:
        raise ValueError(f"rollaxis: start {start} is out of range for {x.ndim} dimensions")
    if start < 0:
        start += x.ndim
    if axis < start:
        start -= 1
    return moveaxis(x, axis, start) if start < x.ndim else x


def partition(a: ArrayLike, kth: int, axis: int = -1) -> Array:
    """Values with the ``kth`` smallest at index ``kth``, smaller ones before it and larger
    ones after, along ``axis``, as ``numpy.partition``.

    Differs from NumPy: the result is fully sorted along ``axis`` (a valid partition; NumPy
    leaves each side in an unspecified order), as in JAX.
    """
    x = as_array(a, "partition")
    _check_kth("partition", x, kth, axis)
    return sort(x, axis)


def argpartition(a: ArrayLike, kth: int, axis: int = -1) -> Array:
    """Indices that would ``partition`` ``a``; fully sorting indices, as ``partition``."""
    x = as_array(a, "argpartition")
    _check_kth("argpartition", x, kth, axis)
    return argsort(x, axis)


def _check_kth(op: str, x: Array, kth: int, axis: int) -> None:
    size = x.shape[_axis(op, axis, x.ndim)]
    if not -size <= operator.index(kth) < size:
        raise ValueError(f"{op}: kth={kth} is out of range for an axis of size {size}")


def gradient(f: ArrayLike, *varargs: Any, axis: int | Sequence[int] | None = None,
             edge_order: int = 1) -> Array | list[Array]:  # fmt: skip
    """Second-order central differences inside, first-order one-sided ones at the ends, as
    ``numpy.gradient``; one array per axis (a list when there are several).

    ``varargs``: one scalar spacing for all axes, or one per axis (default 1). Differs from
    NumPy: coordinate arrays as spacing and ``edge_order=2`` are not supported.
    """
    x = as_array(f, "gradient")
    if x.dtype.kind not in "fc":
        (x,) = promote_args(x, inexact=True)
    axes = tuple(range(x.ndim)) if axis is None else (
        (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis))  # fmt: skip
    axes = tuple(_axis("gradient", ax, x.ndim) for ax in axes)
    if edge_order != 1:
        raise NotImplementedError("gradient: only edge_order=1 is supported")
    if len(varargs) == 0:
        spacing = [1.0] * len(axes)
    elif len(varargs) == 1:
        spacing = list(varargs) * len(axes)
    elif len(varargs) == len(axes):
        spacing = list(varargs)
    else:
        raise TypeError(
            f"gradient: give one spacing for all axes or one per axis ({len(axes)}), got "
            f"{len(varargs)}"
        )
    if any(np.ndim(h) != 0 for h in spacing):
        raise NotImplementedError("gradient: spacing must be scalars (coordinate arrays are "
                                  "not supported)")  # fmt: skip
    out = []
    for ax, h in zip(axes, spacing, strict=True):
        size = x.shape[ax]
        if size < 2:
            raise ValueError(
                f"gradient: axis {ax} has {size} element(s) (shape {x.shape}); each axis needs "
                "at least 2 (edge_order + 1)"
            )
        first, second, *_ = _split("gradient", x, [1, 2], ax, even=False)
        before_last, last = _split("gradient", x, [size - 2, size - 1], ax, even=False)[1:]
        pieces = [subtract(second, first)]
        if size > 2:
            ahead = _split("gradient", x, [2], ax, even=False)[1]
            behind = _split("gradient", x, [size - 2], ax, even=False)[0]
            pieces.append(subtract(ahead, behind) * 0.5)
        pieces.append(subtract(last, before_last))
        out.append(concatenate(pieces, ax) / h)
    return out[0] if len(out) == 1 else out
