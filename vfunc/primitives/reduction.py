"""Reductions over static axes: sum, max, min, prod, argmax, argmin.

``axes`` params are canonical: sorted, unique, non-negative (the front ends normalize them), so
equal reductions get equal jaxpr equations and equal jit cache keys.
"""

from __future__ import annotations

import numpy as np

from vfunc.core import Primitive, ShapedArray, never_weak
from vfunc.errors import ShapeError
from vfunc.primitives._checks import check_axes, check_dtype_kind, normalize_axis


def _reduce_shape(name: str, kinds: str):
    def shape(x: ShapedArray, *, axes: tuple[int, ...]) -> ShapedArray:
        check_dtype_kind(name, x.dtype, kinds)
        axes = check_axes(name, x.ndim, axes)
        return ShapedArray(tuple(d for i, d in enumerate(x.shape) if i not in axes), x.dtype)

    return shape


def _identity_for_max(dtype: np.dtype):
    if dtype.kind == "f":
        return -np.inf
    if dtype.kind in "iu":
        return np.iinfo(dtype).min
    return False


def _identity_for_min(dtype: np.dtype):
    if dtype.kind == "f":
        return np.inf
    if dtype.kind in "iu":
        return np.iinfo(dtype).max
    return True


# Like JAX, max over an empty axis is its identity (-inf), not an error.
def _max_impl(x, *, axes):
    return np.max(x, axis=axes, initial=_identity_for_max(x.dtype))


def _min_impl(x, *, axes):
    return np.min(x, axis=axes, initial=_identity_for_min(x.dtype))


reduce_sum_p = Primitive(
    "reduce_sum",
    lambda x, *, axes: np.sum(x, axis=axes, dtype=x.dtype),
    _reduce_shape("reduce_sum", "iufc"),
)
reduce_prod_p = Primitive(
    "reduce_prod",
    lambda x, *, axes: np.prod(x, axis=axes, dtype=x.dtype),
    _reduce_shape("reduce_prod", "iufc"),
)
reduce_max_p = Primitive("reduce_max", _max_impl, _reduce_shape("reduce_max", "biuf"))
reduce_min_p = Primitive("reduce_min", _min_impl, _reduce_shape("reduce_min", "biuf"))


def _arg_shape(name: str):
    def shape(x: ShapedArray, *, axis: int, index_dtype: np.dtype) -> ShapedArray:
        check_dtype_kind(name, x.dtype, "biuf")
        check_dtype_kind(name, np.dtype(index_dtype), "iu", "index_dtype")
        if axis != normalize_axis(name, axis, x.ndim):
            raise ShapeError(f"{name}: axis param must be non-negative, got {axis}")
        if x.shape[axis] == 0:
            raise ShapeError(
                f"{name}: axis {axis} of the operand (shape {x.shape}) is empty, so there is no "
                "index to return"
            )
        return ShapedArray(x.shape[:axis] + x.shape[axis + 1 :], index_dtype)

    return shape


argmax_p = Primitive(
    "argmax",
    lambda x, *, axis, index_dtype: np.argmax(x, axis=axis).astype(index_dtype),
    _arg_shape("argmax"),
    weak_type=never_weak,
    differentiable=False,
)
argmin_p = Primitive(
    "argmin",
    lambda x, *, axis, index_dtype: np.argmin(x, axis=axis).astype(index_dtype),
    _arg_shape("argmin"),
    weak_type=never_weak,
    differentiable=False,
)
