"""Sorting and cumulative primitives: sort (several operands by leading keys), cumsum, cumprod,
cummax, cummin."""

from __future__ import annotations

import numpy as np

from vfunc.core import Primitive, ShapedArray
from vfunc.errors import ShapeError
from vfunc.primitives._checks import check_dtype_kind


def _sort_shape(*operands: ShapedArray, dimension: int, num_keys: int) -> list[ShapedArray]:
    if not operands:
        raise ShapeError("sort: needs at least one operand")
    shape = operands[0].shape
    if any(o.shape != shape for o in operands):
        raise ShapeError(f"sort: operands must share one shape, got {[o.shape for o in operands]}")
    if not 0 <= dimension < len(shape):
        raise ShapeError(f"sort: dimension {dimension} is out of range for shape {shape}")
    if not 1 <= num_keys <= len(operands):
        raise ShapeError(f"sort: num_keys={num_keys} must be between 1 and {len(operands)}")
    for o in operands[:num_keys]:
        check_dtype_kind("sort", o.dtype, "biuf", "sort key")
    return [ShapedArray(o.shape, o.dtype) for o in operands]


def _sort_impl(*operands, dimension, num_keys):
    if len(operands) == 1:
        return [np.sort(operands[0], axis=dimension, kind="stable")]
    keys = operands[:num_keys]
    # lexsort's last key is the primary one; NaNs sort to the end, as in numpy and JAX.
    order = np.lexsort(keys[::-1], axis=dimension) if num_keys > 1 else np.argsort(
        keys[0], axis=dimension, kind="stable")  # fmt: skip
    return [np.take_along_axis(o, order, axis=dimension) for o in operands]


sort_p = Primitive(
    "sort",
    _sort_impl,
    _sort_shape,
    weak_type=lambda weak, **_: list(weak),
    multiple_results=True,
)


def _cumulative_shape(name: str, kinds: str):
    def shape(x: ShapedArray, *, axis: int, reverse: bool) -> ShapedArray:
        del reverse
        check_dtype_kind(name, x.dtype, kinds)
        if not 0 <= axis < x.ndim:
            raise ShapeError(f"{name}: axis {axis} is out of range for shape {x.shape}")
        return ShapedArray(x.shape, x.dtype)

    return shape


def _cumulative_impl(accumulate):
    def impl(x, *, axis, reverse):
        if reverse:
            return np.flip(accumulate(np.flip(x, axis), axis), axis)
        return accumulate(x, axis)

    return impl


def _cumulative(name: str, accumulate, kinds: str) -> Primitive:
    return Primitive(name, _cumulative_impl(accumulate), _cumulative_shape(name, kinds))


# fmt: off
cumsum_p  = _cumulative("cumsum",  lambda x, axis: np.cumsum(x, axis, dtype=x.dtype),  "iufc")
cumprod_p = _cumulative("cumprod", lambda x, axis: np.cumprod(x, axis, dtype=x.dtype), "iufc")
cummax_p  = _cumulative("cummax",  lambda x, axis: np.maximum.accumulate(x, axis),     "biuf")
cummin_p  = _cumulative("cummin",  lambda x, axis: np.minimum.accumulate(x, axis),     "biuf")
# fmt: on
