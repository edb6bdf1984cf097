"""Movement primitives: broadcast_in_dim, reshape, transpose, squeeze, expand_dims, slice, iota.

Each impl returns a numpy view of its operand wherever numpy can express one (strides, a zero
stride for broadcast axes), so moving data around costs no copy. Views are safe to share because
vfunc arrays are immutable.
"""

from __future__ import annotations

import math

import numpy as np

from vfunc import dtypes
from vfunc.core import Primitive, ShapedArray
from vfunc.errors import ShapeError
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


broadcast_in_dim_p = Primitive("broadcast_in_dim", _broadcast_in_dim_impl, _broadcast_in_dim_shape)


def _reshape_shape(x: ShapedArray, *, new_sizes: tuple[int, ...]) -> ShapedArray:
    new_sizes = check_shape("reshape", new_sizes, "new_sizes")
    if math.prod(new_sizes) != math.prod(x.shape):
        raise ShapeError(
            f"reshape: cannot reshape an array of shape {x.shape} ({math.prod(x.shape)} "
            f"elements) into shape {new_sizes} ({math.prod(new_sizes)} elements)"
        )
    return ShapedArray(new_sizes, x.dtype)


reshape_p = Primitive("reshape", lambda x, *, new_sizes: x.reshape(new_sizes), _reshape_shape)


def _transpose_shape(x: ShapedArray, *, permutation: tuple[int, ...]) -> ShapedArray:
    perm = tuple(permutation)
    if sorted(perm) != list(range(x.ndim)):
        raise ShapeError(
            f"transpose: permutation {perm} is not a permutation of the axes of an array of "
            f"shape {x.shape} (rank {x.ndim})"
        )
    return ShapedArray(tuple(x.shape[p] for p in perm), x.dtype)


transpose_p = Primitive(
    "transpose", lambda x, *, permutation: x.transpose(permutation), _transpose_shape
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
    "squeeze", lambda x, *, dimensions: np.squeeze(x, axis=dimensions), _squeeze_shape
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


slice_p = Primitive("slice", _slice_impl, _slice_shape)


def _iota_shape(*, dtype: np.dtype, shape: tuple[int, ...], dimension: int) -> ShapedArray:
    shape = check_shape("iota", shape)
    check_dtype_kind("iota", np.dtype(dtype), "iuf", "dtype")
    if not 0 <= dimension < len(shape):
        raise ShapeError(f"iota: dimension {dimension} is out of range for shape {shape}")
    return ShapedArray(shape, dtypes.canonicalize(dtype))


def _iota_impl(*, dtype, shape, dimension):
    line = np.arange(shape[dimension], dtype=dtype)
    return _broadcast_in_dim_impl(line, shape=shape, broadcast_dimensions=(dimension,))


iota_p = Primitive("iota", _iota_impl, _iota_shape)
