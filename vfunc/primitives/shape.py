"""Movement primitives: broadcast_in_dim, reshape, transpose, squeeze, expand_dims, slice, iota.

Each impl returns a numpy view of its operand wherever numpy can express one (strides, a zero
stride for broadcast axes), so moving data around costs no copy. Views are safe to share because
vfunc arrays are immutable.
"""

from __future__ import annotations

import math

import numpy as np

import vfunc.primitives.builders as lax  # used at call time: the import cycle resolves by then
from vfunc import dtypes
from vfunc.core import Identities, Primitive, ShapedArray, wrap_numpy
from vfunc.devices import array_module
from vfunc.errors import DtypeError, ShapeError, ShapeTypeError
from vfunc.primitives._batching import batch_size, move_axis, shift_axes, to_front
from vfunc.primitives._checks import check_axes, check_dtype_kind, check_shape


def _broadcast_in_dim_shape(
    x: ShapedArray, *, shape: tuple[int, ...], broadcast_dimensions: tuple[int, ...]
) -> ShapedArray:
    shape = check_shape("broadcast_in_dim", shape)
    dims = tuple(broadcast_dimensions)
    if len(dims) != x.ndim:
        raise ShapeError(
            f"broadcast_in_dim: operand of shape {x.shape} needs one broadcast dimension per "
            f"axis, got broadcast_dimensions={dims}"
        )
    if any(not 0 <= d < len(shape) for d in dims) or list(dims) != sorted(set(dims)):
        raise ShapeError(
            f"broadcast_in_dim: broadcast_dimensions={dims} must be strictly increasing and "
            f"within the target rank {len(shape)}"
        )
    for axis, (size, d) in enumerate(zip(x.shape, dims, strict=True)):
        if size not in (1, shape[d]):
            raise ShapeError(
                f"broadcast_in_dim: cannot broadcast operand of shape {x.shape} to {shape}: "
                f"operand axis {axis} has size {size}, target axis {d} has size {shape[d]}"
            )
    return ShapedArray(shape, x.dtype)


def _broadcast_in_dim_impl(x, *, shape, broadcast_dimensions):
    expanded = [1] * len(shape)
    strides = [0] * len(shape)
    for size, stride, d in zip(x.shape, x.strides, broadcast_dimensions, strict=True):
        expanded[d] = size
        strides[d] = stride if size != 1 else 0
    if type(x) is np.ndarray and x.flags.c_contiguous:  # (device buffers: broadcast_to)
        # The same zero-stride view np.broadcast_to builds, for a tenth of its call overhead
        # (broadcasting scalars is what every VJP of a reduction does).
        return np.ndarray(shape, x.dtype, x, 0, strides)
    return np.broadcast_to(x.reshape(expanded), shape)


# The compiler drops a movement whose result has its operand's shape and dtype.
_NOOP_WHEN_SAME_TYPE = Identities(noop=lambda **params: True)


def _zeros(shape: tuple[int, ...], dtype: np.dtype):
    """A zero array (a broadcast scalar: allocates nothing when eager)."""
    return lax.broadcast_in_dim(wrap_numpy(np.zeros((), dtype)), shape, ())


# The VJP of a movement op is the inverse movement; every one of them is linear in its array
# operands, so forward mode applies the primitive itself to the tangents.


def _broadcast_in_dim_vjp(g, x, *, out, shape, broadcast_dimensions):
    del out
    # Sum over the new axes and over the operand's size-1 axes that were stretched.
    kept = {d for d, n in zip(broadcast_dimensions, x.shape, strict=True) if n == shape[d]}
    axes = tuple(i for i in range(len(shape)) if i not in kept)
    return (lax.reshape(lax.reduce_sum(g, axes) if axes else g, x.shape),)


def _broadcast_in_dim_batch(args, dims, *, shape, broadcast_dimensions):
    (x,), (d,) = args, dims
    moved = move_axis(x, d, 0)
    out_dims = (0, *(b + 1 for b in broadcast_dimensions))
    return lax.broadcast_in_dim(moved, (x.shape[d], *shape), out_dims), 0


broadcast_in_dim_p = Primitive(
    "broadcast_in_dim",
    _broadcast_in_dim_impl,
    _broadcast_in_dim_shape,
    vjp=_broadcast_in_dim_vjp,
    linear=(0,),
    batch=_broadcast_in_dim_batch,
    identities=_NOOP_WHEN_SAME_TYPE,
    strided_view=True,
)


def _reshape_back_vjp(g, x, *, out, **params):
    del out, params
    return (lax.reshape(g, x.shape),)


def _reshape_shape(x: ShapedArray, *, new_sizes: tuple[int, ...]) -> ShapedArray:
    new_sizes = check_shape("reshape", new_sizes, "new_sizes")
    if math.prod(new_sizes) != math.prod(x.shape):
        raise ShapeTypeError(  # a TypeError, as JAX's
            f"reshape: cannot reshape an array of shape {x.shape} ({math.prod(x.shape)} "
            f"elements) into shape {new_sizes} ({math.prod(new_sizes)} elements)"
        )
    return ShapedArray(new_sizes, x.dtype)


def _reshape_batch(args, dims, *, new_sizes):
    (x,), (d,) = args, dims
    return lax.reshape(move_axis(x, d, 0), (x.shape[d], *new_sizes)), 0


reshape_p = Primitive(
    "reshape",
    lambda x, *, new_sizes: x.reshape(new_sizes),
    _reshape_shape,
    vjp=_reshape_back_vjp,
    linear=(0,),
    batch=_reshape_batch,
    # A reshape of a reshape is one reshape (row-major order is kept by both).
    identities=Identities(noop=lambda **params: True, compose=lambda inner, outer: outer),
    strided_view="inherit",
)


def _transpose_shape(x: ShapedArray, *, permutation: tuple[int, ...]) -> ShapedArray:
    perm = tuple(permutation)
    if sorted(perm) != list(range(x.ndim)):
        raise ShapeError(
            f"transpose: permutation {perm} is not a permutation of the axes of an array of "
            f"shape {x.shape} (rank {x.ndim})"
        )
    return ShapedArray(tuple(x.shape[p] for p in perm), x.dtype)


def _transpose_vjp(g, x, *, out, permutation):
    del x, out
    return (lax.transpose(g, tuple(int(i) for i in np.argsort(permutation))),)


def _transpose_batch(args, dims, *, permutation):
    # One transpose does both jobs: the batch axis goes first, the others follow the permutation.
    (x,), (d,) = args, dims
    return lax.transpose(x, (d, *shift_axes(permutation, d))), 0


def _compose_permutations(inner: dict, outer: dict) -> dict:
    return {"permutation": tuple(inner["permutation"][p] for p in outer["permutation"])}


def _transpose_sum_over_steps(steps, x, *, permutation):
    inner = steps.lift(x)  # linear: the sum of transposes is the transposed sum
    if inner is None:
        return None
    return lambda stacks: lax.transpose(inner(stacks), permutation)


transpose_p = Primitive(
    "transpose",
    lambda x, *, permutation: x.transpose(permutation),
    _transpose_shape,
    vjp=_transpose_vjp,
    linear=(0,),
    batch=_transpose_batch,
    strided_view=True,
    identities=Identities(
        noop=lambda permutation: tuple(permutation) == tuple(range(len(permutation))),
        compose=_compose_permutations,
        permutation=lambda permutation: permutation,
    ),
    sum_over_steps=_transpose_sum_over_steps,
)


def _squeeze_shape(x: ShapedArray, *, dimensions: tuple[int, ...]) -> ShapedArray:
    dims = check_axes("squeeze", x.ndim, dimensions, "dimensions")
    bad = [d for d in dims if x.shape[d] != 1]
    if bad:
        raise ShapeError(
            f"squeeze: cannot remove axes {bad} of an array of shape {x.shape}: only axes of "
            "size 1 can be squeezed"
        )
    return ShapedArray(tuple(d for i, d in enumerate(x.shape) if i not in dims), x.dtype)


def _squeeze_batch(args, dims, *, dimensions):
    (x,), (d,) = args, dims
    removed = shift_axes(dimensions, d)
    return lax.squeeze(x, removed), d - sum(1 for r in removed if r < d)


squeeze_p = Primitive(
    "squeeze",
    lambda x, *, dimensions: np.squeeze(x, axis=dimensions),
    _squeeze_shape,
    vjp=_reshape_back_vjp,
    linear=(0,),
    batch=_squeeze_batch,
    strided_view="inherit",
    identities=_NOOP_WHEN_SAME_TYPE,
)


def _expand_dims_shape(x: ShapedArray, *, dimensions: tuple[int, ...]) -> ShapedArray:
    out_ndim = x.ndim + len(dimensions)
    dims = check_axes("expand_dims", out_ndim, dimensions, "dimensions")
    sizes = iter(x.shape)
    return ShapedArray(tuple(1 if i in dims else next(sizes) for i in range(out_ndim)), x.dtype)


def _expand_dims_batch(args, dims, *, dimensions):
    (x,), (d,) = args, dims
    return lax.expand_dims(move_axis(x, d, 0), tuple(a + 1 for a in dimensions)), 0


expand_dims_p = Primitive(
    "expand_dims",
    lambda x, *, dimensions: np.expand_dims(x, dimensions),
    _expand_dims_shape,
    vjp=_reshape_back_vjp,
    linear=(0,),
    batch=_expand_dims_batch,
    strided_view="inherit",
    identities=_NOOP_WHEN_SAME_TYPE,
)


def _slice_shape(
    x: ShapedArray,
    *,
    start_indices: tuple[int, ...],
    limit_indices: tuple[int, ...],
    strides: tuple[int, ...] | None,
) -> ShapedArray:
    strides = strides or (1,) * x.ndim
    if not len(start_indices) == len(limit_indices) == len(strides) == x.ndim:
        raise ShapeError(
            f"slice: start_indices {start_indices}, limit_indices {limit_indices} and strides "
            f"{strides} must each have one entry per axis of the operand (shape {x.shape})"
        )
    out = []
    for axis, (lo, hi, st, size) in enumerate(
        zip(start_indices, limit_indices, strides, x.shape, strict=True)
    ):
        if not 0 <= lo <= hi <= size or st < 1:
            raise ShapeError(
                f"slice: axis {axis} of an operand of shape {x.shape} cannot be sliced from "
                f"{lo} to {hi} with stride {st}; need 0 <= start <= limit <= {size}, stride >= 1"
            )
        out.append(-(-(hi - lo) // st))
    return ShapedArray(tuple(out), x.dtype)


def _slice_impl(x, *, start_indices, limit_indices, strides):
    strides = strides or (1,) * x.ndim
    return x[tuple(map(slice, start_indices, limit_indices, strides))]


def _slice_vjp(g, x, *, out, start_indices, limit_indices, strides):
    del out, limit_indices
    strides = strides or (1,) * x.ndim
    config = []
    for lo, st, n, size in zip(start_indices, strides, g.shape, x.shape, strict=True):
        end = lo + (n - 1) * st + 1 if n else lo  # one past the last element taken
        config.append((lo, size - end, st - 1))
    return (lax.pad(g, _zeros((), g.dtype), config),)


def _slice_batch(args, dims, *, start_indices, limit_indices, strides):
    (x,), (d,) = args, dims
    start, limit = list(start_indices), list(limit_indices)
    start.insert(d, 0)
    limit.insert(d, x.shape[d])
    step = None if strides is None else (*strides[:d], 1, *strides[d:])
    return lax.slice(x, start, limit, step), d


slice_p = Primitive(
    "slice", _slice_impl, _slice_shape, vjp=_slice_vjp, linear=(0,), batch=_slice_batch,
    strided_view=True,
)


def _iota_shape(*, dtype: np.dtype, shape: tuple[int, ...], dimension: int) -> ShapedArray:
    shape = check_shape("iota", shape)
    check_dtype_kind("iota", np.dtype(dtype), "iuf", "dtype")
    if not 0 <= dimension < len(shape):
        raise ShapeError(f"iota: dimension {dimension} is out of range for shape {shape}")
    return ShapedArray(shape, dtypes.canonicalize(dtype))


def _iota_impl(*, dtype, shape, dimension):
    line = np.arange(shape[dimension], dtype=dtypes.canonicalize(dtype))
    return _broadcast_in_dim_impl(line, shape=shape, broadcast_dimensions=(dimension,))


# No operands, so nothing to differentiate: a constant to every transformation.
iota_p = Primitive("iota", _iota_impl, _iota_shape, differentiable=False)


def _rev_shape(x: ShapedArray, *, dimensions: tuple[int, ...]) -> ShapedArray:
    check_axes("rev", x.ndim, dimensions, "dimensions")
    return ShapedArray(x.shape, x.dtype)


def _rev_vjp(g, x, *, out, dimensions):
    del x, out
    return (lax.rev(g, dimensions),)


def _rev_batch(args, dims, *, dimensions):
    (x,), (d,) = args, dims
    return lax.rev(x, shift_axes(dimensions, d)), d


rev_p = Primitive(
    "rev",
    lambda x, *, dimensions: np.flip(x, dimensions),
    _rev_shape,
    vjp=_rev_vjp,
    linear=(0,),
    batch=_rev_batch,
    strided_view=True,
)


def _concatenate_shape(*xs: ShapedArray, dimension: int) -> ShapedArray:
    if not xs:
        raise ShapeError("concatenate: needs at least one operand")
    first = xs[0]
    if not 0 <= dimension < first.ndim:
        raise ShapeError(
            f"concatenate: dimension {dimension} is out of range for operands of rank "
            f"{first.ndim} (shapes {[x.shape for x in xs]})"
        )
    for x in xs[1:]:
        if x.dtype != first.dtype:
            raise DtypeError(
                f"concatenate: operands must share a dtype, got {[str(x.dtype) for x in xs]}"
            )
        other = x.shape[:dimension] + x.shape[dimension + 1 :]
        if x.ndim != first.ndim or other != first.shape[:dimension] + first.shape[dimension + 1 :]:
            raise ShapeTypeError(  # a TypeError, as JAX's
                f"concatenate: operand shapes {[x.shape for x in xs]} must agree on every axis "
                f"except the concatenation axis {dimension}"
            )
    size = sum(x.shape[dimension] for x in xs)
    shape = first.shape[:dimension] + (size,) + first.shape[dimension + 1 :]
    return ShapedArray(shape, first.dtype)


def _concatenate_vjp(g, *xs, out, dimension):
    del out
    cts, start = [], 0
    for x in xs:
        begin, limit = [0] * g.ndim, list(g.shape)
        begin[dimension], limit[dimension] = start, start + x.shape[dimension]
        cts.append(lax.slice(g, begin, limit))
        start += x.shape[dimension]
    return tuple(cts)


def _concatenate_jvp(primals, tangents, *, out, dimension):
    # A rule rather than linear=...: the operand count varies, and linear names positions.
    del out
    filled = [_zeros(p.shape, p.dtype) if t is None else t
              for p, t in zip(primals, tangents, strict=True)]  # fmt: skip
    return concatenate_p.bind(*filled, dimension=dimension)


def _concatenate_batch(args, dims, *, dimension):
    size = batch_size(args, dims)
    fronts = [to_front(x, d, size) for x, d in zip(args, dims, strict=True)]
    return concatenate_p.bind(*fronts, dimension=dimension + 1), 0


concatenate_p = Primitive(
    "concatenate",
    lambda *xs, dimension: np.concatenate(xs, axis=dimension),
    _concatenate_shape,
    vjp=_concatenate_vjp,
    jvp=_concatenate_jvp,
    batch=_concatenate_batch,
)


# ----------------------------------------------------------------------------------------------
# split: one operand cut into consecutive pieces along an axis. Its VJP is one concatenate of the
# pieces' cotangents, where a slice per piece would pad each cotangent to the full shape and add
# the pads (an LSTM's four gates: four full-size pads and three additions every step).


def _split_shape(x: ShapedArray, *, sizes: tuple[int, ...], axis: int) -> list[ShapedArray]:
    if not 0 <= axis < x.ndim:
        raise ShapeError(
            f"split: axis {axis} is out of range for an operand of shape {x.shape}"
        )
    if any(s < 0 for s in sizes) or sum(sizes) != x.shape[axis]:
        raise ShapeError(
            f"split: sizes {tuple(sizes)} must be non-negative and add up to the size "
            f"{x.shape[axis]} of axis {axis} (operand shape {x.shape})"
        )
    return [ShapedArray(x.shape[:axis] + (s,) + x.shape[axis + 1 :], x.dtype) for s in sizes]


def _split_impl(x, *, sizes, axis):
    lead = (slice(None),) * axis
    out, start = [], 0
    for s in sizes:  # views, as slice's
        out.append(x[(*lead, slice(start, start + s))])
        start += s
    return out


def _split_vjp(g, x, *, out, sizes, axis):
    del out, sizes
    # g holds every piece's cotangent (zeros filled in by the caller).
    return (lax.concatenate(list(g), axis) if len(g) > 1 else g[0],)


def _split_batch(args, dims, *, sizes, axis):
    (x,), (d,) = args, dims
    outs = split_p.bind(x, sizes=sizes, axis=axis + (d <= axis))
    return outs, [d] * len(outs)


split_p = Primitive(
    "split", _split_impl, _split_shape, vjp=_split_vjp, linear=(0,), batch=_split_batch,
    multiple_results=True, strided_view=True,
)


def _pad_shape(x: ShapedArray, padding_value: ShapedArray, *, padding_config: tuple) -> ShapedArray:
    if padding_value.shape != () or padding_value.dtype != x.dtype:
        raise ShapeError(
            f"pad: padding_value must be a scalar of the operand's dtype {x.dtype}, got "
            f"{padding_value.dtype}{list(padding_value.shape)}"
        )
    if len(padding_config) != x.ndim:
        raise ShapeError(
            f"pad: padding_config has {len(padding_config)} (low, high, interior) triples but "
            f"the operand has shape {x.shape}"
        )
    out = []
    for axis, (size, (low, high, interior)) in enumerate(zip(x.shape, padding_config, strict=True)):
        if interior < 0:
            raise ShapeError(f"pad: interior padding must be >= 0, got {interior} on axis {axis}")
        padded = low + high + size + max(size - 1, 0) * interior
        if padded < 0:
            raise ShapeError(
                f"pad: axis {axis} of size {size} with padding (low={low}, high={high}, "
                f"interior={interior}) would have negative size {padded}"
            )
        out.append(padded)
    return ShapedArray(tuple(out), x.dtype)


def _pad_impl(x, padding_value, *, padding_config):
    # Pad with the non-negative parts first, then crop the negative parts off: negative
    # padding removes elements, as in lax.pad.
    inner = [size + max(size - 1, 0) * interior for size, (_, _, interior) in
             zip(x.shape, padding_config, strict=True)]  # fmt: skip
    grown = [
        max(lo, 0) + n + max(hi, 0) for n, (lo, hi, _) in zip(inner, padding_config, strict=True)
    ]
    out = array_module(x).empty(grown, x.dtype)  # beside x: a device buffer's module
    out[...] = padding_value
    place = tuple(
        slice(max(lo, 0), max(lo, 0) + n, interior + 1)
        for n, (lo, _, interior) in zip(inner, padding_config, strict=True)
    )
    out[place] = x
    crop = tuple(
        slice(max(-lo, 0), g - max(-hi, 0))
        for g, (lo, hi, _) in zip(grown, padding_config, strict=True)
    )
    return out[crop]


def _pad_vjp(g, x, padding_value, *, out, padding_config):
    del padding_value, out
    # Undo the edges (padding by -low/-high crops what was added and restores, as zeros, what
    # negative padding cropped), then take every (interior + 1)-th element.
    unpadded = lax.pad(g, _zeros((), g.dtype), [(-lo, -hi, 0) for lo, hi, _ in padding_config])
    ct_x = lax.slice(
        unpadded,
        [0] * x.ndim,
        unpadded.shape,
        [interior + 1 for _, _, interior in padding_config],
    )
    # Every output element is the padding value or a surviving operand element.
    all_axes = tuple(range(g.ndim))
    ct_value = lax.sub(lax.reduce_sum(g, all_axes), lax.reduce_sum(ct_x, all_axes))
    return ct_x, ct_value


def _pad_batch(args, dims, *, padding_config):
    (x, value), (d, value_dim) = args, dims
    if value_dim is None:
        config = list(padding_config)
        config.insert(d, (0, 0, 0))
        return pad_p.bind(x, value, padding_config=tuple(config)), d
    # One padding value per member: pad with zeros, then select the value where a mask padded
    # with False says the element is padding.
    size = value.shape[value_dim]
    x = to_front(x, d, size)
    config = ((0, 0, 0), *padding_config)
    padded = pad_p.bind(x, _zeros((), x.dtype), padding_config=config)
    inside = lax.broadcast_in_dim(wrap_numpy(np.array(True)), x.shape, ())
    mask = pad_p.bind(inside, wrap_numpy(np.array(False)), padding_config=config)
    fill = lax.broadcast_in_dim(value, padded.shape, (0,))
    return lax.select(mask, padded, fill), 0


pad_p = Primitive("pad", _pad_impl, _pad_shape, vjp=_pad_vjp, linear=(0, 1), batch=_pad_batch)


def _check_start_indices(op: str, x: ShapedArray, starts: tuple[ShapedArray, ...]) -> None:
    if len(starts) != x.ndim:
        raise ShapeError(
            f"{op}: needs one start index per axis of the operand (shape {x.shape}), got "
            f"{len(starts)}"
        )
    for s in starts:
        if s.shape != () or s.dtype.kind not in "iu":
            raise ShapeError(
                f"{op}: start indices must be integer scalars, got {s.dtype}{list(s.shape)}"
            )


def _clamped_starts(shape, starts, sizes):
    # As JAX: start indices are clamped so the whole window lies inside the operand.
    return [min(max(int(s), 0), n - k) for s, n, k in zip(starts, shape, sizes, strict=True)]


def _dynamic_slice_shape(
    x: ShapedArray, *starts: ShapedArray, slice_sizes: tuple[int, ...]
) -> ShapedArray:
    _check_start_indices("dynamic_slice", x, starts)
    sizes = check_shape("dynamic_slice", slice_sizes, "slice_sizes")
    if len(sizes) != x.ndim or any(k > n for k, n in zip(sizes, x.shape, strict=True)):
        raise ShapeError(
            f"dynamic_slice: slice_sizes {sizes} must have one entry per axis of the operand "
            f"(shape {x.shape}), each no larger than that axis"
        )
    return ShapedArray(sizes, x.dtype)


def _dynamic_slice_impl(x, *starts, slice_sizes):
    begin = _clamped_starts(x.shape, starts, slice_sizes)
    return x[tuple(slice(b, b + k) for b, k in zip(begin, slice_sizes, strict=True))]


def _dynamic_slice_vjp(g, x, *starts, out, slice_sizes):
    del out, slice_sizes
    # dynamic_update_slice clamps the starts exactly as dynamic_slice did (same window size).
    ct = dynamic_update_slice_p.bind(_zeros(x.shape, g.dtype), g, *starts)
    return (ct,) + (None,) * len(starts)


def window_indices(shape, starts, start_dims, sizes, size: int) -> list:
    """Index arrays picking each batch member's window of ``sizes`` from an operand of
    per-member ``shape`` (batch axis first), its starts clamped as ``dynamic_slice`` does.

    The first array selects the member; together they broadcast to ``(size, *sizes)``, so a
    ``gather`` with one ``("array", k)`` entry per axis returns the batch of windows.
    """
    int_dtype = dtypes.default_int()
    rank = len(shape) + 1
    indices = [lax.broadcasted_iota(int_dtype, (size,) + (1,) * len(shape), 0)]
    for axis, (start, dim, n, k) in enumerate(zip(starts, start_dims, shape, sizes, strict=True)):
        start = lax.min(lax.max(lax.convert_element_type(start, int_dtype), 0), n - k)
        if dim is not None:
            start = lax.reshape(start, (size,) + (1,) * len(shape))
        line = [1] * rank
        line[axis + 1] = k
        indices.append(lax.add(lax.broadcasted_iota(int_dtype, line, axis + 1), start))
    return indices


def _all_arrays_spec(rank: int) -> tuple:
    return tuple(("array", k) for k in range(rank))


def _dynamic_slice_batch(args, dims, *, slice_sizes):
    (x, *starts), (d, *start_dims) = args, dims
    if all(sd is None for sd in start_dims):
        zero = wrap_numpy(np.zeros((), starts[0].dtype if starts else dtypes.default_int()))
        starts.insert(d, zero)
        sizes = (*slice_sizes[:d], x.shape[d], *slice_sizes[d:])
        return dynamic_slice_p.bind(x, *starts, slice_sizes=sizes), d
    # Starts that differ per member: a gather of each member's window.
    size = batch_size(args, dims)
    x = to_front(x, d, size)
    indices = window_indices(x.shape[1:], starts, start_dims, slice_sizes, size)
    return lax.gather(x, indices, _all_arrays_spec(x.ndim)), 0


dynamic_slice_p = Primitive(
    "dynamic_slice",
    _dynamic_slice_impl,
    _dynamic_slice_shape,
    weak_type=lambda weak, **_: weak[0],
    strided_view=True,
    vjp=_dynamic_slice_vjp,
    linear=(0,),
    batch=_dynamic_slice_batch,
)


def _dynamic_update_slice_shape(
    x: ShapedArray, update: ShapedArray, *starts: ShapedArray
) -> ShapedArray:
    _check_start_indices("dynamic_update_slice", x, starts)
    if update.dtype != x.dtype:
        raise DtypeError(
            f"dynamic_update_slice: update dtype {update.dtype} differs from operand dtype "
            f"{x.dtype}"
        )
    if update.ndim != x.ndim or any(u > n for u, n in zip(update.shape, x.shape, strict=True)):
        raise ShapeError(
            f"dynamic_update_slice: update of shape {update.shape} does not fit in operand of "
            f"shape {x.shape}"
        )
    return ShapedArray(x.shape, x.dtype)


def _dynamic_update_slice_impl(x, update, *starts):
    begin = _clamped_starts(x.shape, starts, update.shape)
    out = x.copy()  # the operand is immutable: the update goes into a fresh buffer
    out[tuple(slice(b, b + k) for b, k in zip(begin, update.shape, strict=True))] = update
    return out


def _dynamic_update_slice_vjp(g, x, update, *starts, out):
    del x, out
    ct_x = dynamic_update_slice_p.bind(g, _zeros(update.shape, g.dtype), *starts)
    ct_update = dynamic_slice_p.bind(g, *starts, slice_sizes=update.shape)
    return (ct_x, ct_update) + (None,) * len(starts)


def _dynamic_update_slice_batch(args, dims):
    (x, update, *starts), (d, ud, *start_dims) = args, dims
    size = batch_size(args, dims)
    x, update = to_front(x, d, size), to_front(update, ud, size)
    if all(sd is None for sd in start_dims):
        zero = wrap_numpy(np.zeros((), starts[0].dtype if starts else dtypes.default_int()))
        return dynamic_update_slice_p.bind(x, update, zero, *starts), 0
    indices = window_indices(x.shape[1:], starts, start_dims, update.shape[1:], size)
    return lax.scatter(x, indices, update, _all_arrays_spec(x.ndim)), 0


dynamic_update_slice_p = Primitive(
    "dynamic_update_slice",
    _dynamic_update_slice_impl,
    _dynamic_update_slice_shape,
    weak_type=lambda weak, **_: weak[0] and weak[1],
    vjp=_dynamic_update_slice_vjp,
    linear=(0, 1),
    batch=_dynamic_update_slice_batch,
)
