"""gather and the scatter family: NumPy-style advanced indexing as primitives.

An *index spec* describes one NumPy index expression with the arrays taken out, so it can be a
hashable param: a tuple with one entry per output-producing position,

* ``("newaxis",)`` -- a new axis of size 1,
* ``("slice", start, stop, step)`` -- a static slice of the next operand axis, already
  normalized by ``slice.indices`` (``stop`` is None when a negative step runs past the start),
* ``("array", k)`` -- the next operand axis is indexed by the k-th index operand.

Every operand axis is covered by exactly one slice or array entry. The output shape follows
NumPy's advanced-indexing rules (broadcast index shape in place when the array entries are
adjacent, first otherwise).

Differs from JAX: ``lax.gather``/``lax.scatter`` take this NumPy-shaped spec rather than XLA's
GatherDimensionNumbers; everything ``x[idx]`` and ``x.at[idx]`` can express maps onto it
directly, and the impl is one numpy indexing call. Out-of-range array indices are clamped by
gather and dropped by scatter, as JAX does by default; negative indices count from the end.
"""

from __future__ import annotations

import numpy as np

from vfunc.core import Primitive, ShapedArray
from vfunc.errors import DtypeError, ShapeError
from vfunc.primitives._checks import broadcast_shapes

IndexSpec = tuple[tuple, ...]
_ADVANCED = object()


def index_result_shape(
    op: str, shape: tuple[int, ...], spec: IndexSpec, index_shapes: list[tuple[int, ...]]
) -> tuple[int, ...]:
    """The shape of ``x[index]`` for operand ``shape`` and the spec's index operand shapes."""
    consumed = [e for e in spec if e[0] != "newaxis"]
    if len(consumed) != len(shape):
        raise ShapeError(
            f"{op}: index spec covers {len(consumed)} axes but the operand has shape {shape}"
        )
    broadcast = broadcast_shapes(op, *index_shapes) if index_shapes else ()
    pieces: list = []
    axes = iter(shape)
    for entry in spec:
        if entry[0] == "newaxis":
            pieces.append(1)
        elif entry[0] == "slice":
            _, start, stop, step = entry
            pieces.append(len(range(next(axes))[slice(start, stop, step)]))
        else:
            size = next(axes)
            if size == 0 and 0 not in broadcast:
                raise IndexError(f"{op}: cannot index into an axis of size 0 (shape {shape})")
            pieces.append(_ADVANCED)
    positions = [i for i, p in enumerate(pieces) if p is _ADVANCED]
    if not positions:
        return tuple(pieces)
    basic = [p for p in pieces if p is not _ADVANCED]
    if positions == list(range(positions[0], positions[-1] + 1)):
        return tuple(pieces[: positions[0]]) + broadcast + tuple(pieces[positions[-1] + 1 :])
    return broadcast + tuple(basic)


def _check_indices(op: str, indices: tuple[ShapedArray, ...], spec: IndexSpec) -> None:
    used = sorted(e[1] for e in spec if e[0] == "array")
    if used != list(range(len(indices))):
        raise ShapeError(f"{op}: spec uses index operands {used} but {len(indices)} were given")
    for i in indices:
        if i.dtype.kind not in "iu":
            raise DtypeError(
                f"{op}: index arrays must be integers, got {i.dtype}{list(i.shape)}; convert "
                "boolean masks with nonzero() (or use where)"
            )


def numpy_index(shape: tuple[int, ...], spec: IndexSpec, indices, *, drop: bool) -> tuple:
    """The numpy index tuple for ``spec``: array indices wrapped once if negative, then clamped
    into range, or with ``drop=True`` sent to position ``size`` (one past the end) when out of
    range."""
    out = []
    axes = iter(shape)
    for entry in spec:
        if entry[0] == "newaxis":
            out.append(None)
        elif entry[0] == "slice":
            next(axes)
            out.append(slice(*entry[1:]))
        else:
            size = next(axes)
            index = np.asarray(indices[entry[1]]).astype(np.intp, copy=False)
            index = np.where(index < 0, index + size, index)
            if drop:
                index = np.where((index < 0) | (index >= size), size, index)
            else:
                index = np.clip(index, 0, max(size - 1, 0))
            out.append(index)
    return tuple(out)


def _gather_shape(x: ShapedArray, *indices: ShapedArray, spec: IndexSpec) -> ShapedArray:
    _check_indices("gather", indices, spec)
    return ShapedArray(
        index_result_shape("gather", x.shape, spec, [i.shape for i in indices]), x.dtype
    )


def _gather_impl(x, *indices, spec):
    return x[numpy_index(x.shape, spec, indices, drop=False)]


gather_p = Primitive("gather", _gather_impl, _gather_shape, weak_type=lambda weak, **_: weak[0])


def _scatter_shape(name: str):
    def shape(
        x: ShapedArray, updates: ShapedArray, *indices: ShapedArray, spec: IndexSpec
    ) -> ShapedArray:
        _check_indices(name, indices, spec)
        if updates.dtype != x.dtype:
            raise DtypeError(
                f"{name}: updates dtype {updates.dtype} differs from the operand's {x.dtype}; "
                "x.at[...] converts them for you"
            )
        target = index_result_shape(name, x.shape, spec, [i.shape for i in indices])
        if broadcast_shapes(name, target, updates.shape) != target:
            raise ShapeError(
                f"{name}: updates of shape {updates.shape} cannot be broadcast to the indexed "
                f"shape {target} (operand {x.shape})"
            )
        return ShapedArray(x.shape, x.dtype)

    return shape


def _scatter_impl(combine):
    def impl(x, updates, *indices, spec):
        has_arrays = any(e[0] == "array" for e in spec)
        if not has_arrays:
            out = x.copy()  # operands are immutable: every scatter writes a fresh buffer
            place = numpy_index(x.shape, spec, indices, drop=False)
            combine(out, place, np.broadcast_to(updates, out[place].shape))
            return out
        # Out-of-range updates are dropped: index axes get one spare slot past the end that
        # absorbs them, and the result is the view without it.
        array_axes = _array_axes(spec)
        padded = tuple(n + 1 if i in array_axes else n for i, n in enumerate(x.shape))
        out = np.empty(padded, dtype=x.dtype)
        inside = tuple(slice(0, n) for n in x.shape)
        out[inside] = x
        place = numpy_index(x.shape, spec, indices, drop=True)
        target = index_result_shape("scatter", x.shape, spec, [np.shape(i) for i in indices])
        combine(out, place, np.broadcast_to(updates, target))
        return out[inside]

    return impl


def _array_axes(spec: IndexSpec) -> set[int]:
    axes, axis = set(), 0
    for entry in spec:
        if entry[0] == "array":
            axes.add(axis)
        if entry[0] != "newaxis":
            axis += 1
    return axes


def _set(out, place, updates):
    out[place] = updates


def _ufunc_at(ufunc):
    def combine(out, place, updates):
        if any(isinstance(p, np.ndarray) for p in place):
            ufunc.at(out, place, updates)  # accumulates duplicate indices, like np.add.at
        else:
            view = out[place]
            ufunc(view, updates, out=view)

    return combine


def _scatter(name: str, combine) -> Primitive:
    return Primitive(
        name,
        _scatter_impl(combine),
        _scatter_shape(name),
        weak_type=lambda weak, **_: weak[0],
    )


# fmt: off
scatter_p     = _scatter("scatter",     _set)
scatter_add_p = _scatter("scatter_add", _ufunc_at(np.add))
scatter_mul_p = _scatter("scatter_mul", _ufunc_at(np.multiply))
scatter_min_p = _scatter("scatter_min", _ufunc_at(np.minimum))
scatter_max_p = _scatter("scatter_max", _ufunc_at(np.maximum))
# fmt: on
