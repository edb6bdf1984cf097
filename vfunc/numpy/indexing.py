"""NumPy indexing on immutable arrays: ``x[idx]``, ``x.at[idx].set/add/...``, take.

Basic indices (Python ints, slices, None, Ellipsis) become ``slice``/``rev``/``squeeze``/
``expand_dims`` -- views, never copies. Anything holding an array (integer arrays, vfunc Arrays
even when 0-d, lists, boolean masks) becomes one ``gather``, or one scatter for ``.at``.

Out-of-range indices follow JAX wherever JAX defines them: array indices (dynamic) count from
the end once when negative, and out of range they are clamped when reading (``x[i]``,
``x.at[i].get()``, ``lax.dynamic_slice``) and dropped when writing (``x.at[i].set/add/...``),
eagerly and under every transformation. A static Python int does the same when the indexed
array is traced (under ``jit``, ``grad``, ``vmap``), as in JAX.

Differs from JAX: indexing a concrete array (eager) with a static Python int out of range raises
NumPy's ``IndexError`` instead of clamping (reads) or dropping (``.at`` writes): the bound is
known right there, so the silent result could only hide a bug. Use an array index
(``x[vnp.array(i)]``) or ``mode="clip"``/``mode="fill"`` where the clamp is meant. The gradient
of a clamped read goes to the element that was read (JAX's ``promise_in_bounds`` gather drops
it, documenting its gradient as undefined for out-of-range indices).
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from vfunc import dtypes, lax
from vfunc.core import Array, Tracer, wrap_numpy
from vfunc.errors import NonConcreteBooleanIndexError
from vfunc.numpy._promote import as_array, convert
from vfunc.numpy.searching import nonzero  # noqa: F401  (re-exported for existing imports)
from vfunc.numpy.ufuncs import (
    clip,
    divide,
    greater_equal,
    less,
    logical_and,
    power,
    remainder,
    where,
)
from vfunc.primitives._checks import normalize_axis

ArrayLike = Any
_NEWAXIS = ("newaxis",)


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _index_array(value: Any, op: str) -> Array:
    """An array-valued index as an Array: lists and numpy arrays are converted."""
    if isinstance(value, (list, tuple)) and np.size(value) == 0:
        # NumPy reads an empty (possibly nested) sequence as an empty integer index, where
        # as_array would make it a float array.
        return wrap_numpy(np.zeros(np.shape(value), dtypes.default_int()))
    arr = value if isinstance(value, Array) else as_array(value, op)
    if arr.dtype.kind not in "iub":
        raise IndexError(
            f"{op}: arrays used as indices must be of integer or boolean type, got "
            f"{arr.dtype}{list(arr.shape)}"
        )
    return arr


def _expand(shape: tuple[int, ...], index: Any, op: str) -> list[tuple]:
    """Index entries, one per output position: ("newaxis",), ("int", i), ("slice", s),
    ("array", Array); Ellipsis expanded, boolean masks turned into integer arrays."""
    if not isinstance(index, tuple):
        index = (index,)
    items: list[tuple] = []
    for item in index:
        if item is None:
            items.append(_NEWAXIS)
        elif item is Ellipsis:
            if any(e[0] == "ellipsis" for e in items):
                raise IndexError(f"{op}: an index can only have a single ellipsis ('...')")
            items.append(("ellipsis",))
        elif isinstance(item, slice):
            items.append(("slice", item))
        elif _is_int(item):
            items.append(("int", operator.index(item)))
        elif isinstance(item, (bool, np.bool_)):
            raise IndexError(f"{op}: a scalar boolean index is not supported; use vnp.where")
        else:
            arr = _index_array(item, op)
            if arr.dtype == dtypes.bool_:
                items.append(("mask", arr))
            else:
                items.append(("array", arr))
    consumed = sum(e[1].ndim if e[0] == "mask" else 1 for e in items if e[0] in
                   ("int", "slice", "array", "mask"))  # fmt: skip
    if consumed > len(shape):
        raise IndexError(
            f"{op}: too many indices for array: array is {len(shape)}-dimensional, but "
            f"{consumed} were indexed"
        )
    fill = [("slice", slice(None))] * (len(shape) - consumed)
    if any(e[0] == "ellipsis" for e in items):
        at = next(i for i, e in enumerate(items) if e[0] == "ellipsis")
        items = items[:at] + fill + items[at + 1 :]
    else:
        items = items + fill
    return _masks_to_arrays(shape, items, op)


def _masks_to_arrays(shape: tuple[int, ...], items: list[tuple], op: str) -> list[tuple]:
    out: list[tuple] = []
    axis = 0
    for entry in items:
        if entry[0] == "mask":
            mask = entry[1]
            if isinstance(mask, Tracer):
                raise NonConcreteBooleanIndexError(
                    f"{op}: a boolean mask index needs concrete values (the result's shape "
                    f"depends on how many are True), but got a traced {mask.aval.str_short()}. "
                    "Use vnp.where(mask, x, fill) to keep the shape static."
                )
            covered = shape[axis : axis + mask.ndim]
            if tuple(covered) != mask.shape:
                raise IndexError(
                    f"{op}: boolean index of shape {mask.shape} does not match the indexed "
                    f"axes {axis}..{axis + mask.ndim - 1} of shape {tuple(covered)}"
                )
            out.extend(("array", wrap_numpy(i.astype(dtypes.default_int())))
                       for i in np.nonzero(np.asarray(mask)))  # fmt: skip
            axis += mask.ndim
        else:
            out.append(entry)
            if entry[0] != "newaxis":
                axis += 1
    return out


def _static_int(index: int, size: int, axis: int, op: str, *, traced: bool) -> int:
    """``index`` counted from the start. Out of range on a concrete array: NumPy's IndexError;
    on a traced one (JAX's semantics) the index is returned out of range for the caller to clamp
    (reads) or for scatter to drop (writes)."""
    if -size <= index < size:
        return index % size
    if not traced or size == 0:
        raise IndexError(
            f"{op}: index {index} is out of bounds for axis {axis} with size {size} (under "
            "jit/grad/vmap it would be clamped for reads and dropped for .at updates, as in "
            "JAX; pass an array index or mode='clip' to get that here)"
        )
    # Any out-of-range value acts alike; these two also fit the index dtype whatever ``index``.
    return size if index >= size else -size - 1


def _basic(x: Array, entries: list[tuple]) -> Array:
    """Ints, slices and newaxis only: slice + rev + squeeze + expand_dims, all views; a static
    int out of range on a traced array is clamped (JAX's semantics, see the module docstring)."""
    starts, limits, strides, flips, drops, new_axes = [], [], [], [], [], []
    axis = out_axis = 0
    for entry in entries:
        if entry[0] == "newaxis":
            new_axes.append(out_axis)
            out_axis += 1
            continue
        size = x.shape[axis]
        if entry[0] == "int":
            i = _static_int(entry[1], size, axis, "getitem", traced=isinstance(x, Tracer))
            i = min(max(i, 0), size - 1)  # a no-op unless traced and out of range
            starts.append(i), limits.append(i + 1), strides.append(1), drops.append(axis)
        else:
            start, stop, step = entry[1].indices(size)
            count = len(range(start, stop, step))
            if step < 0 and count:
                # Take the same elements with a positive stride, then reverse them.
                last = start + (count - 1) * step
                start, stop, step = last, start + 1, -step
                flips.append(axis)
            elif not count:
                start = stop = 0
                step = 1
            starts.append(start), limits.append(max(stop, start)), strides.append(step)
            out_axis += 1
        axis += 1
    out = x
    if (tuple(starts), tuple(strides)) != ((0,) * x.ndim, (1,) * x.ndim) or \
            tuple(limits) != x.shape:  # fmt: skip
        out = lax.slice(out, starts, limits, strides)
    out = lax.rev(out, flips)
    out = lax.squeeze(out, drops)
    return lax.expand_dims(out, new_axes)


def _spec(x_shape: tuple[int, ...], entries: list[tuple], op: str, *, traced: bool):
    """The gather/scatter spec and its index operands (static ints become 0-d indices; out of
    range ones, allowed when ``traced``, are left for gather to clamp and scatter to drop)."""
    spec, arrays = [], []
    axis = 0
    for entry in entries:
        if entry[0] == "newaxis":
            spec.append(_NEWAXIS)
            continue
        size = x_shape[axis]
        if entry[0] == "slice":
            start, stop, step = entry[1].indices(size)
            if not len(range(start, stop, step)):
                # A normalized empty slice may hold -1 (e.g. start of slice(-5, None, -1) on
                # 3 elements), which numpy would re-read as "the last element".
                start, stop, step = 0, 0, 1
            elif step < 0 and stop < 0:
                stop = None  # -1 would mean "the last element" to a slice
            spec.append(("slice", start, stop, step))
        elif entry[0] == "int":
            index = _static_int(entry[1], size, axis, op, traced=traced)
            spec.append(("array", len(arrays)))
            arrays.append(wrap_numpy(np.array(index, dtype=dtypes.default_int())))
        else:
            spec.append(("array", len(arrays)))
            arrays.append(entry[1])
        axis += 1
    return tuple(spec), arrays


def getitem(x: ArrayLike, index: Any) -> Array:
    """``x[index]`` with NumPy semantics (see the module docstring for bounds behaviour)."""
    x = as_array(x, "getitem")
    entries = _expand(x.shape, index, "getitem")
    if not any(e[0] == "array" for e in entries):
        return _basic(x, entries)
    spec, arrays = _spec(x.shape, entries, "getitem", traced=isinstance(x, Tracer))
    return lax.gather(x, arrays, spec)


def _get_or_fill(x: Array, index: Any, fill_value: Any) -> Array:
    """``x[index]`` where each axis indexed by integers gets one extra slot holding the fill
    value, and out-of-range integers are sent there: one pad and one gather, differentiable."""
    entries = _expand(x.shape, index, "at[].get")
    padding, new_index = [(0, 0, 0)] * x.ndim, []
    axis = 0
    for entry in entries:
        if entry[0] == "newaxis":
            new_index.append(None)
            continue
        size = x.shape[axis]
        if entry[0] == "slice":
            new_index.append(entry[1])
        else:
            padding[axis] = (0, 1, 0)
            i = entry[1]
            if entry[0] == "int":
                new_index.append(i % size if -size <= i < size else size)
            else:
                inside = logical_and(greater_equal(i, -size), less(i, size))
                new_index.append(where(inside, remainder(i, max(size, 1)), size))
        axis += 1
    fill = convert(_fill_value(x.dtype, fill_value), x.dtype)
    return getitem(lax.pad(x, fill, padding), tuple(new_index))


def _fill_value(dtype: np.dtype, fill_value: Any) -> Any:
    if fill_value is not None:
        return fill_value
    if dtype.kind in "fc":
        return np.nan
    if dtype.kind == "i":
        return np.iinfo(dtype).min
    if dtype.kind == "u":
        return np.iinfo(dtype).max
    return True


def take(
    a: ArrayLike,
    indices: ArrayLike,
    axis: int | None = None,
    mode: str | None = None,
    fill_value: Any = None,
) -> Array:
    """Elements of ``a`` at ``indices`` along ``axis`` (flattened when None), as JAX's take.

    ``mode``: "fill" (default, as JAX: out-of-range indices give ``fill_value``, NaN for
    floats), "clip" (clamp), "wrap" (modulo), or "promise_in_bounds" (clamp).
    """
    x = as_array(a, "take")
    if axis is None:
        x, axis = lax.reshape(x, (x.size,)), 0
    axis = operator.index(axis)
    axis = normalize_axis("take", axis, x.ndim)
    idx = _index_array(indices, "take")
    size = x.shape[axis]
    mode = mode or "fill"
    if mode == "wrap":
        idx = remainder(idx, size)
    elif mode == "clip":
        # Clamp into [0, n-1] before gather, which would otherwise wrap negatives once.
        idx = clip(idx, 0, max(size - 1, 0))
    elif mode not in ("fill", "clip", "promise_in_bounds"):
        raise ValueError(f"take: mode must be fill, clip, wrap or promise_in_bounds, got {mode!r}")
    spec = tuple(("slice", 0, n, 1) if d != axis else ("array", 0) for d, n in enumerate(x.shape))
    out = lax.gather(x, [idx], spec)
    if mode != "fill":
        return out
    valid = logical_and(greater_equal(idx, -size), less(idx, size))
    valid = lax.reshape(valid, (1,) * axis + idx.shape + (1,) * (x.ndim - axis - 1))
    return where(valid, out, _fill_value(x.dtype, fill_value))


def take_along_axis(
    arr: ArrayLike, indices: ArrayLike, axis: int | None, mode: str | None = None,
    fill_value: Any = None,
) -> Array:  # fmt: skip
    """Pick values along ``axis`` with an index array of the same rank, as
    ``numpy.take_along_axis`` (out-of-range indices: ``mode`` as in ``take``, default fill)."""
    x = as_array(arr, "take_along_axis")
    idx = _index_array(indices, "take_along_axis")
    if axis is None:
        x, idx, axis = lax.reshape(x, (x.size,)), lax.reshape(idx, (idx.size,)), 0
    axis = normalize_axis("take_along_axis", operator.index(axis), x.ndim)
    if idx.ndim != x.ndim:
        raise ValueError(
            f"take_along_axis: indices of shape {idx.shape} must have the same rank as the "
            f"array of shape {x.shape}"
        )
    size = x.shape[axis]
    mode = mode or "fill"
    if mode == "wrap":
        idx = remainder(idx, size)
    arrays = []
    for d, n in enumerate(x.shape):
        if d == axis:
            arrays.append(idx)
        else:
            shape = [1] * x.ndim
            shape[d] = n
            arrays.append(wrap_numpy(np.arange(n, dtype=idx.dtype).reshape(shape)))
    out = lax.gather(x, arrays, tuple(("array", d) for d in range(x.ndim)))
    if mode in ("clip", "promise_in_bounds", "wrap"):
        return out
    valid = logical_and(greater_equal(idx, -size), less(idx, size))
    return where(valid, out, _fill_value(x.dtype, fill_value))


class _IndexUpdateHelper:
    """``x.at``: index it to get a reference for a functional update."""

    __slots__ = ("array",)

    def __init__(self, array: Array):
        self.array = array

    def __getitem__(self, index: Any) -> _IndexUpdateRef:
        return _IndexUpdateRef(self.array, index)

    def __repr__(self) -> str:
        return f"_IndexUpdateHelper({self.array!r})"


class _IndexUpdateRef:
    """``x.at[idx]``: each method returns a new array; ``x`` itself never changes.

    Out-of-range indices are dropped for updates (``mode="clip"`` clamps them instead);
    ``add``, ``multiply``, ``min`` and ``max`` accumulate duplicate indices like ``np.add.at``;
    with ``set`` the last duplicate wins.
    """

    __slots__ = ("array", "index")

    def __init__(self, array: Array, index: Any):
        self.array = array
        self.index = index

    def get(self, *, mode: str | None = None, fill_value: Any = None) -> Array:
        """``x[idx]``; with ``mode="fill"`` out-of-range integer indices give ``fill_value``
        (default NaN for floats, the most negative integer for signed ones, as JAX), with
        ``mode="clip"`` they are clamped (static ints too, even eagerly), and the gradient goes
        to the element read.

        Example:
            >>> import vfunc.numpy as vnp
            >>> vnp.arange(3.0).at[vnp.array([0, 5, -1])].get(mode="fill", fill_value=-1.0)
            Array([ 0., -1.,  2.], dtype=float32)
        """
        if mode == "fill":
            return _get_or_fill(self.array, self.index, fill_value)
        if mode not in (None, "clip", "promise_in_bounds"):
            raise ValueError(
                f"at[].get: mode must be fill, clip or promise_in_bounds, got {mode!r}"
            )
        del fill_value
        if mode != "clip":
            return getitem(self.array, self.index)
        x = self.array
        entries = _expand(x.shape, self.index, "at[].get")
        spec, arrays = _spec(x.shape, entries, "at[].get", traced=True)
        return lax.gather(x, _clamp_arrays(x.shape, spec, arrays), spec)

    def _scatter(self, values: ArrayLike, kind: str, mode: str | None) -> Array:
        x = self.array
        entries = _expand(x.shape, self.index, f"at[].{kind}")
        # An explicit mode asks for its out-of-range behaviour even for static ints.
        lenient = isinstance(x, Tracer) or mode in ("clip", "drop")
        spec, arrays = _spec(x.shape, entries, f"at[].{kind}", traced=lenient)
        if mode == "clip":
            arrays = _clamp_arrays(x.shape, spec, arrays)
        elif mode not in (None, "drop", "promise_in_bounds"):
            raise ValueError(f"at[].{kind}: mode must be drop, clip or promise_in_bounds")
        updates = convert(values, x.dtype)
        return lax.scatter(x, arrays, updates, spec, kind)

    def set(self, values: ArrayLike, *, mode: str | None = None) -> Array:
        """A copy of ``x`` with ``x[idx] = values``."""
        return self._scatter(values, "set", mode)

    def add(self, values: ArrayLike, *, mode: str | None = None) -> Array:
        """A copy of ``x`` with ``x[idx] += values`` (duplicates accumulate)."""
        return self._scatter(values, "add", mode)

    def multiply(self, values: ArrayLike, *, mode: str | None = None) -> Array:
        """A copy of ``x`` with ``x[idx] *= values`` (duplicates accumulate)."""
        return self._scatter(values, "mul", mode)

    mul = multiply

    def min(self, values: ArrayLike, *, mode: str | None = None) -> Array:  # noqa: A003
        """A copy of ``x`` with ``x[idx] = minimum(x[idx], values)``."""
        return self._scatter(values, "min", mode)

    def max(self, values: ArrayLike, *, mode: str | None = None) -> Array:  # noqa: A003
        """A copy of ``x`` with ``x[idx] = maximum(x[idx], values)``."""
        return self._scatter(values, "max", mode)

    def divide(self, values: ArrayLike, *, mode: str | None = None) -> Array:
        """A copy of ``x`` with ``x[idx] /= values`` (duplicates divide repeatedly)."""
        x = self.array
        if x.dtype.kind not in "fc":
            raise TypeError(f"at[].divide: needs a floating array, got {x.dtype}")
        ones = lax.broadcast_in_dim(convert(1, x.dtype), x.shape, ())
        return divide(x, _IndexUpdateRef(ones, self.index).multiply(values, mode=mode))

    def power(self, values: ArrayLike, *, mode: str | None = None) -> Array:
        """A copy of ``x`` with ``x[idx] **= values``."""
        raised = power(getitem(self.array, self.index), values)
        return self.set(convert(raised, self.array.dtype), mode=mode)

    def __repr__(self) -> str:
        return f"_IndexUpdateRef({self.array!r}, {self.index!r})"


def _clamp_arrays(shape, spec, arrays):
    axis, out = 0, list(arrays)
    for entry in spec:
        if entry[0] == "array":
            out[entry[1]] = clip(arrays[entry[1]], -shape[axis], shape[axis] - 1)
        if entry[0] != "newaxis":
            axis += 1
    return out


def at_property(self: Array) -> _IndexUpdateHelper:
    """``x.at[idx].set(v)`` and friends: functional versions of in-place updates."""
    return _IndexUpdateHelper(self)
