"""Movement primitives: broadcast_in_dim, reshape, transpose, squeeze, expand_dims, slice, iota.

Each impl returns a numpy view of its operand wherever numpy can express one (strides, a zero
stride for broadcast axes), so moving data around costs no copy. Views are safe to share because
vfunc arrays are immutable.
"""

from __future__ import annotations

import math

import numpy as np

import vfunc.lax as lax  # rules use lax at call time; the import cycle resolves by then
from vfunc import dtypes
from vfunc.core import Primitive, ShapedArray, wrap_numpy
from vfunc.errors import DtypeError, ShapeError
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
    for size, d in zip(x.shape, broadcast_dimensions, strict=True):
        expanded[d] = size
    return np.broadcast_to(x.reshape(expanded), shape)


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


broadcast_in_dim_p = Primitive(
    "broadcast_in_dim",
    _broadcast_in_dim_impl,
    _broadcast_in_dim_shape,
    vjp=_broadcast_in_dim_vjp,
    linear=(0,),
)


def _reshape_back_vjp(g, x, *, out, **params):
    del out, params
    return (lax.reshape(g, x.shape),)


def _reshape_shape(x: ShapedArray, *, new_sizes: tuple[int, ...]) -> ShapedArray:
    new_sizes = check_shape("reshape", new_sizes, "new_sizes")
    if math.prod(new_sizes) != math.prod(x.shape):
        raise ShapeError(
            f"reshape: cannot reshape an array of shape {x.shape} ({math.prod(x.shape)} "
            f"elements) into shape {new_sizes} ({math.prod(new_sizes)} elements)"
        )
    return ShapedArray(new_sizes, x.dtype)


reshape_p = Primitive(
    "reshape",
    lambda x, *, new_sizes: x.reshape(new_sizes),
    _reshape_shape,
    vjp=_reshape_back_vjp,
    linear=(0,),
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


transpose_p = Primitive(
    "transpose",
    lambda x, *, permutation: x.transpose(permutation),
    _transpose_shape,
    vjp=_transpose_vjp,
    linear=(0,),
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


squeeze_p = Primitive(
    "squeeze",
    lambda x, *, dimensions: np.squeeze(x, axis=dimensions),
    _squeeze_shape,
    vjp=_reshape_back_vjp,
    linear=(0,),
)


def _expand_dims_shape(x: ShapedArray, *, dimensions: tuple[int, ...]) -> ShapedArray:
    out_ndim = x.ndim + len(dimensions)
    dims = check_axes("expand_dims", out_ndim, dimensions, "dimensions")
    sizes = iter(x.shape)
    return ShapedArray(tuple(1 if i in dims else next(sizes) for i in range(out_ndim)), x.dtype)


expand_dims_p = Primitive(
    "expand_dims",
    lambda x, *, dimensions: np.expand_dims(x, dimensions),
    _expand_dims_shape,
    vjp=_reshape_back_vjp,
    linear=(0,),
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


slice_p = Primitive("slice", _slice_impl, _slice_shape, vjp=_slice_vjp, linear=(0,))


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


rev_p = Primitive(
    "rev",
    lambda x, *, dimensions: np.flip(x, dimensions),
    _rev_shape,
    vjp=_rev_vjp,
    linear=(0,),
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
            raise ShapeError(
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


concatenate_p = Primitive(
    "concatenate",
    lambda *xs, dimension: np.concatenate(xs, axis=dimension),
    _concatenate_shape,
    vjp=_concatenate_vjp,
    jvp=_concatenate_jvp,
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
    out = np.full(grown, padding_value, dtype=x.dtype)
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
    ct_value = lax.reduce_sum(g, all_axes) - lax.reduce_sum(ct_x, all_axes)
    return ct_x, ct_value


pad_p = Primitive("pad", _pad_impl, _pad_shape, vjp=_pad_vjp, linear=(0, 1))


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


dynamic_slice_p = Primitive(
    "dynamic_slice",
    _dynamic_slice_impl,
    _dynamic_slice_shape,
    weak_type=lambda weak, **_: weak[0],
    vjp=_dynamic_slice_vjp,
    linear=(0,),
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


dynamic_update_slice_p = Primitive(
    "dynamic_update_slice",
    _dynamic_update_slice_impl,
    _dynamic_update_slice_shape,
    weak_type=lambda weak, **_: weak[0] and weak[1],
    vjp=_dynamic_update_slice_vjp,
    linear=(0, 1),
)
