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

import math

import numpy as np

import vfunc.primitives.builders as lax  # rules call it at run time, after the cycle resolves
from vfunc import dtypes
from vfunc.core import Primitive, ShapedArray, wrap_numpy
from vfunc.devices import array_module
from vfunc.errors import DtypeError, ShapeError
from vfunc.primitives._batching import batch_size, move_axis, to_front
from vfunc.primitives._checks import broadcast_shapes
from vfunc.primitives.elementwise import broadcast_to_shape, unbroadcast

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
            index = indices[entry[1]]
            index = array_module(index).asarray(index).astype(np.intp, copy=False)
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


# ----------------------------------------------------------------------------------------------
# Helpers for the VJP rules. gather clamps out-of-range indices while scatter drops them, so a
# rule that moves a cotangent from one to the other first normalizes the indices itself.


def _full(shape: tuple[int, ...], value, dtype: np.dtype):
    return lax.broadcast_in_dim(wrap_numpy(np.array(value, dtype)), shape, ())


def _array_sizes(shape: tuple[int, ...], spec: IndexSpec) -> dict[int, int]:
    """Index operand number -> the size of the operand axis it indexes."""
    sizes, axes = {}, iter(shape)
    for entry in spec:
        if entry[0] == "slice":
            next(axes)
        elif entry[0] == "array":
            sizes[entry[1]] = next(axes)
    return sizes


def _normalize_indices(
    shape: tuple[int, ...], spec: IndexSpec, indices, *, want_valid: bool = True
) -> tuple[list, object]:
    """The index operands as gather reads them (negative ones wrapped once, then clamped into
    range), and a bool mask over the indexed shape that is True where every index was in range
    (where scatter writes rather than drops); None when there are no index arrays."""
    sizes = _array_sizes(shape, spec)
    clamped, valid = [], []
    for k, index in enumerate(indices):
        size = sizes[k]
        if index.dtype.kind == "u" or index.dtype.itemsize < dtypes.default_int().itemsize:
            index = lax.convert_element_type(index, dtypes.default_int())  # room for +size
        wrapped = lax.select(lax.lt(index, 0), lax.add(index, size), index)
        clamped.append(lax.min(lax.max(wrapped, 0), max(size - 1, 0)))
        valid.append(lax.bitwise_and(lax.ge(wrapped, 0), lax.lt(wrapped, size)))
    if not indices or not want_valid:
        return clamped, None
    index_shape = broadcast_shapes("scatter", *[i.shape for i in indices])
    mask = broadcast_to_shape(valid[0], index_shape)
    for v in valid[1:]:
        mask = lax.bitwise_and(mask, broadcast_to_shape(v, index_shape))
    # The broadcast index axes sit where the array entries are when those are adjacent, first
    # otherwise (NumPy's rule, as index_result_shape).
    target = index_result_shape("scatter", shape, spec, [i.shape for i in indices])
    positions = [i for i, e in enumerate(spec) if e[0] == "array"]
    first = positions[0] if positions == list(range(positions[0], positions[-1] + 1)) else 0
    dims = tuple(range(first, first + len(index_shape)))
    return clamped, lax.broadcast_in_dim(mask, target, dims)


def _where_valid(valid, value, fill=0):
    if valid is None:
        return value
    return lax.select(valid, value, _full(value.shape, fill, value.dtype))


def _gather_vjp(g, x, *indices, out, spec):
    del out
    clamped, _ = _normalize_indices(x.shape, spec, indices, want_valid=False)
    # Duplicate indices read one element several times: scatter_add sums their cotangents.
    ct = scatter_add_p.bind(_full(x.shape, 0, g.dtype), g, *clamped, spec=spec)
    return (ct,) + (None,) * len(indices)


# ----------------------------------------------------------------------------------------------
# Batching. The batch of results is itself one NumPy index expression: a batched operand gets a
# leading slice over the members (or, when indices are batched too, a leading iota index array
# pairing member b of the operand with member b of the indices), and batched index arrays carry
# the batch as their first broadcast axis. NumPy's placement rule then decides where the batch
# axis lands; the rules below track it with axis tokens instead of special cases.


def _result_tokens(entries: list, block: list) -> list:
    """Axis tokens of ``x[index]``: ``entries`` is one (is_array, token) pair per spec entry,
    ``block`` the tokens of the broadcast index shape (NumPy's placement rule)."""
    positions = [i for i, (is_array, _) in enumerate(entries) if is_array]
    basic = [t for is_array, t in entries if not is_array]
    if not positions:
        return basic
    if positions == list(range(positions[0], positions[-1] + 1)):
        before = sum(1 for is_array, _ in entries[: positions[0]] if not is_array)
        return basic[:before] + block + basic[before:]
    return block + basic


def _batch_index(x, d, indices, index_dims, spec, size):
    """One index expression computing every member's ``x[index]`` at once.

    Returns the operand, index arrays and spec to use, and the axis tokens of the per-member
    result and of the batched result ("B" marks the batch axis).
    """
    member_shapes = [
        i.shape if k is None else i.shape[:k] + i.shape[k + 1 :]
        for i, k in zip(indices, index_dims, strict=True)
    ]
    rank = len(broadcast_shapes("gather", *member_shapes)) if indices else 0
    entries = [(e[0] == "array", ("entry", n)) for n, e in enumerate(spec)]
    block = [("index", j) for j in range(rank)]
    member = _result_tokens(entries, block)
    if all(k is None for k in index_dims):
        # Same indices for every member: a leading slice takes all of them.
        x = move_axis(x, d, 0)
        spec = (("slice", 0, size, 1), *spec)
        return x, list(indices), spec, member, _result_tokens([(False, "B"), *entries], block)
    moved = []
    for i, k in zip(indices, index_dims, strict=True):
        if k is not None:
            i = move_axis(i, k, 0)
            if i.ndim - 1 < rank:
                i = lax.expand_dims(i, tuple(range(1, 1 + rank - (i.ndim - 1))))
        moved.append(i)
    if d is None:
        return x, moved, spec, member, _result_tokens(entries, ["B", *block])
    member_ids = lax.broadcasted_iota(dtypes.default_int(), (size,) + (1,) * rank, 0)
    shifted = tuple(("array", e[1] + 1) if e[0] == "array" else e for e in spec)
    tokens = _result_tokens([(True, None), *entries], ["B", *block])
    return move_axis(x, d, 0), [member_ids, *moved], (("array", 0), *shifted), member, tokens


def _gather_batch(args, dims, *, spec):
    (x, *indices), (d, *index_dims) = args, dims
    size = batch_size(args, dims)
    x, indices, spec, member, tokens = _batch_index(x, d, indices, index_dims, spec, size)
    out = gather_p.bind(x, *indices, spec=spec)
    batch_axis = tokens.index("B")
    if [t for t in tokens if t != "B"] == member:
        return out, batch_axis
    return lax.transpose(out, tuple(tokens.index(t) for t in ["B", *member])), 0


def _scatter_batch(bind):
    """The vmap rule of the scatter primitive whose ``bind`` is given."""

    def rule(args, dims, *, spec):
        (x, updates, *indices), (d, ud, *index_dims) = args, dims
        size = batch_size(args, dims)
        x = to_front(x, d, size)  # each member gets its own result
        x, indices, new_spec, member, tokens = _batch_index(x, 0, indices, index_dims, spec, size)
        layout = ["B", *member]
        if ud is not None or tokens != layout:
            # Lay the updates out as the batched indexed result: batch first, unit axes up to
            # the result's rank, then the result's axis order.
            updates = to_front(updates, ud, size)
            missing = len(layout) - updates.ndim
            if missing:
                updates = lax.expand_dims(updates, tuple(range(1, 1 + missing)))
            if tokens != layout:
                updates = lax.transpose(updates, tuple(layout.index(t) for t in tokens))
        return bind(x, updates, *indices, spec=new_spec), 0

    return rule


gather_p = Primitive(
    "gather",
    _gather_impl,
    _gather_shape,
    weak_type=lambda weak, **_: weak[0],
    vjp=_gather_vjp,
    linear=(0,),
    batch=_gather_batch,
)


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
        out = array_module(x).empty(padded, dtype=x.dtype)
        inside = tuple(slice(0, n) for n in x.shape)
        out[inside] = x
        place = numpy_index(x.shape, spec, indices, drop=True)
        target = index_result_shape("scatter", x.shape, spec, [i.shape for i in indices])
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
        if any(p is not None and not isinstance(p, slice) for p in place):  # index arrays
            # accumulates duplicate indices, like np.add.at (the buffer's module's ufunc: CuPy
            # does not take numpy's ufunc.at)
            getattr(array_module(out), ufunc.__name__).at(out, place, updates)
        else:
            # Assign rather than ufunc(..., out=view): a 0-d place reads as a numpy scalar,
            # which cannot be an out= target.
            out[place] = ufunc(out[place], updates)

    return combine


def _scatter_vjp(g, x, updates, *indices, out, spec):
    # The operand's cotangent is g where it survived; an update's is g where it was written
    # and not overwritten by a later duplicate, nor dropped as out of range. To know which
    # won, scatter the update ids the same way and read them back (JAX's trick).
    del out
    ct_x = scatter_p.bind(g, _full((), 0, g.dtype), *indices, spec=spec)
    if not indices:  # static slices only: no duplicates, nothing dropped
        return ct_x, unbroadcast(gather_p.bind(g, spec=spec), updates.shape)
    target = index_result_shape("scatter", x.shape, spec, [i.shape for i in indices])
    int_dtype = dtypes.default_int()
    ids = lax.reshape(lax.iota(int_dtype, math.prod(target)), target)
    winners = scatter_p.bind(_full(x.shape, -1, int_dtype), ids, *indices, spec=spec)
    won = lax.eq(gather_p.bind(winners, *indices, spec=spec), ids)
    ct_u = _where_valid(won, gather_p.bind(g, *indices, spec=spec))
    return (ct_x, unbroadcast(ct_u, updates.shape)) + (None,) * len(indices)


def _scatter_add_vjp(g, x, updates, *indices, out, spec):
    del out
    clamped, valid = _normalize_indices(x.shape, spec, indices)
    ct_u = _where_valid(valid, gather_p.bind(g, *clamped, spec=spec))  # dropped: no effect
    return (g, unbroadcast(ct_u, updates.shape)) + (None,) * len(indices)


def _scatter_mul_vjp(g, x, updates, *indices, out, spec):
    """Exact with zeros and duplicate indices, to any order (JAX requires unique indices).

    An update's derivative is ``g * x`` at its position times the product of the *other*
    updates there. Those products come without division: sort the updates by position, take
    exclusive prefix and suffix products within each run of equal positions, and multiply.
    """
    del out
    ct_x = scatter_mul_p.bind(g, updates, *indices, spec=spec)
    clamped, valid = _normalize_indices(x.shape, spec, indices)
    target = index_result_shape("scatter_mul", x.shape, spec, [i.shape for i in indices])
    size = math.prod(target)
    int_dtype = dtypes.default_int()
    u = broadcast_to_shape(updates, target)
    u = _where_valid(valid, u, fill=1)  # dropped updates multiply nothing
    # Which element of x each update lands on, as a flat id (read through the same index).
    x_ids = lax.reshape(lax.iota(int_dtype, math.prod(x.shape)), x.shape)
    ids = lax.reshape(gather_p.bind(x_ids, *clamped, spec=spec), (size,))
    order = lax.iota(int_dtype, size)
    ids, flat, perm = lax.sort([ids, lax.reshape(u, (size,)), order], dimension=0, num_keys=1)
    before = _exclusive_run_prod(flat, ids)
    after = lax.rev(_exclusive_run_prod(lax.rev(flat, (0,)), lax.rev(ids, (0,))), (0,))
    others = lax.sort([perm, lax.mul(before, after)], dimension=0, num_keys=1)[1]
    ct_u = gather_p.bind(lax.mul(g, x), *clamped, spec=spec)
    ct_u = lax.mul(ct_u, lax.reshape(others, target))
    return (ct_x, unbroadcast(_where_valid(valid, ct_u), updates.shape)) + (None,) * len(indices)


def _exclusive_run_prod(values, ids):
    """For 1-d ``values`` grouped into runs of equal ``ids``: the product of the earlier values
    of the same run (1 for a run's first), by doubling: log2(n) shifted products."""
    n = values.shape[0]
    position = lax.iota(ids.dtype, n)
    new_run = lax.ne(ids, _shift(ids, 1, -1))
    start = lax.cummax(lax.select(new_run, position, _full((n,), 0, ids.dtype)), 0)
    ones = _full((n,), 1, values.dtype)
    running, step = values, 1  # running_i: product over the run's members in (i - step, i]
    while step < n:
        inside = lax.ge(lax.sub(position, step), start)
        running = lax.mul(running, lax.select(inside, _shift(running, step, 1), ones))
        step *= 2
    inside = lax.ge(lax.sub(position, 1), start)
    return lax.select(inside, _shift(running, 1, 1), ones)


def _shift(x, by: int, fill):
    """1-d ``x`` moved ``by`` places toward the end, ``fill`` coming in at the front."""
    return lax.pad(x, wrap_numpy(np.array(fill, x.dtype)), ((by, -by, 0),))


def _scatter_extremum_vjp(g, x, updates, *indices, out, spec):
    """The cotangent goes to whichever of the operand and the updates attained the result; at
    a tie it is shared equally among all that did (as reduce_max and max, and as JAX)."""
    clamped, valid = _normalize_indices(x.shape, spec, indices)
    target = index_result_shape("scatter", x.shape, spec, [i.shape for i in indices])
    u = broadcast_to_shape(updates, target)
    hits_x = lax.convert_element_type(lax.eq(x, out), g.dtype)
    out_at = gather_p.bind(out, *clamped, spec=spec)
    hits_u = _where_valid(valid, lax.convert_element_type(lax.eq(u, out_at), g.dtype))
    hits_u_at_x = scatter_add_p.bind(_full(x.shape, 0, g.dtype), hits_u, *clamped, spec=spec)
    count = lax.add(hits_x, hits_u_at_x)
    # A NaN result equals nothing: give it count 1 (and so a zero cotangent), not 0 / 0.
    count = lax.add(count, lax.convert_element_type(lax.eq(count, 0), g.dtype))
    share = lax.div(g, count)
    ct_u = lax.mul(gather_p.bind(share, *clamped, spec=spec), hits_u)
    return (lax.mul(share, hits_x), unbroadcast(ct_u, updates.shape)) + (None,) * len(indices)


def _scatter(name: str, combine, vjp, linear=None) -> Primitive:
    prim = Primitive(
        name,
        _scatter_impl(combine),
        _scatter_shape(name),
        weak_type=lambda weak, **_: weak[0],
        vjp=vjp,
        linear=linear,
        batch=_scatter_batch(lambda *args, **params: prim.bind(*args, **params)),
    )
    return prim


# scatter_mul is linear in the operand alone, not jointly with the updates: no linear=.
# fmt: off
scatter_p     = _scatter("scatter",     _set,                 _scatter_vjp,     linear=(0, 1))
scatter_add_p = _scatter("scatter_add", _ufunc_at(np.add),    _scatter_add_vjp, linear=(0, 1))
scatter_mul_p = _scatter("scatter_mul", _ufunc_at(np.multiply), _scatter_mul_vjp)
scatter_min_p = _scatter("scatter_min", _ufunc_at(np.minimum), _scatter_extremum_vjp)
scatter_max_p = _scatter("scatter_max", _ufunc_at(np.maximum), _scatter_extremum_vjp)
# fmt: on
