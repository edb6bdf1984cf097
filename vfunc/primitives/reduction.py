"""Reductions over static axes: sum, max, min, prod, argmax, argmin, declared as rows.

``reduction`` declares one over ``axes`` (shape rule, batching rule and declaration shared),
``index_reduction`` one returning the index of an extremum along one ``axis``. ``axes`` params
are canonical: sorted, unique, non-negative (the front ends normalize them), so equal
reductions get equal jaxpr equations and equal jit cache keys.
"""

from __future__ import annotations

import numpy as np

import vfunc.primitives.builders as lax  # used at call time: the import cycle resolves by then
from vfunc.core import Fusion, Primitive, ShapedArray, never_weak, wrap_numpy
from vfunc.errors import ShapeError
from vfunc.primitives._batching import shift_axes
from vfunc.primitives._checks import check_axes, check_dtype_kind, normalize_axis
from vfunc.primitives.shape import broadcast_in_dim_p


def _reduce_shape(name: str, kinds: str):
    def shape(x: ShapedArray, *, axes: tuple[int, ...]) -> ShapedArray:
        check_dtype_kind(name, x.dtype, kinds)
        axes = check_axes(name, x.ndim, axes)
        return ShapedArray(tuple(d for i, d in enumerate(x.shape) if i not in axes), x.dtype)

    return shape


def _identity_for_max(dtype: np.dtype):
    if dtype.kind == "f":
        return -np.inf
    if dtype.kind == "c":  # complex numbers order lexicographically, as in NumPy
        return complex(-np.inf, -np.inf)
    if dtype.kind in "iu":
        return np.iinfo(dtype).min
    return False


def _identity_for_min(dtype: np.dtype):
    if dtype.kind == "f":
        return np.inf
    if dtype.kind == "c":
        return complex(np.inf, np.inf)
    if dtype.kind in "iu":
        return np.iinfo(dtype).max
    return True


# Like JAX, max over an empty axis is its identity (-inf), not an error.
def _max_impl(x, *, axes):
    return np.maximum.reduce(x, axis=axes, initial=_identity_for_max(x.dtype))


def _min_impl(x, *, axes):
    return np.minimum.reduce(x, axis=axes, initial=_identity_for_min(x.dtype))


def _kept(x, axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(i for i in range(x.ndim) if i not in axes)


def _sum_vjp(g, x, *, out, axes):
    del out
    return (broadcast_in_dim_p.bind(g, shape=x.shape, broadcast_dimensions=_kept(x, axes)),)


def _sum_over_steps(steps, x, *, axes):
    # The sum over steps of per-step sums is one sum over the stacked steps' axis too.
    stacked = steps.stacked(x)
    if stacked is None:
        return None
    return lambda stacks: lax.reduce_sum(stacked(stacks), (0, *[a + 1 for a in axes]))


def _extremum_vjp(g, x, *, out, axes):
    # The cotangent is shared equally among the elements that attain the extremum.
    kept = _kept(x, axes)
    hits = lax.convert_element_type(lax.eq(x, lax.broadcast_in_dim(out, x.shape, kept)), x.dtype)
    counts = lax.broadcast_in_dim(lax.reduce_sum(hits, axes), x.shape, kept)
    return (lax.div(lax.mul(lax.broadcast_in_dim(g, x.shape, kept), hits), counts),)


def _prod_vjp(g, x, *, out, axes):
    # d prod / d x_i is the product of all the other elements: exclusive prefix products times
    # exclusive suffix products, which stays exact when some x_i are zero (out / x would not).
    del out
    kept = _kept(x, axes)
    n = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    kept_shape = tuple(x.shape[i] for i in kept)
    if n == 0:  # nothing was multiplied: the (empty) cotangent of x is zeros
        return (lax.broadcast_in_dim(wrap_numpy(np.zeros((), x.dtype)), x.shape, ()),)
    moved = lax.reshape(lax.transpose(x, kept + axes), kept_shape + (n,))
    one = lax.broadcast_in_dim(wrap_numpy(np.ones((), x.dtype)), kept_shape + (1,), ())
    last = len(kept_shape)

    def exclusive(reverse: bool):
        running = lax.cumprod(moved, axis=last, reverse=reverse)
        if reverse:
            return lax.concatenate([_tail(running, last, 1), one], last)
        return lax.concatenate([one, _head(running, last, n - 1)], last)

    others = lax.mul(exclusive(False), exclusive(True))
    ct = lax.mul(lax.broadcast_in_dim(g, kept_shape + (n,), tuple(range(last))), others)
    ct = lax.reshape(ct, kept_shape + tuple(x.shape[a] for a in axes))
    return (lax.transpose(ct, tuple(np.argsort(kept + axes))),)


def _head(x, axis: int, count: int):
    limit = list(x.shape)
    limit[axis] = count
    return lax.slice(x, [0] * x.ndim, limit)


def _tail(x, axis: int, start: int):
    begin = [0] * x.ndim
    begin[axis] = start
    return lax.slice(x, begin, x.shape)


def _reduce_batch(prim: Primitive, args, dims, *, axes):
    (x,), (d,) = args, dims
    axes = shift_axes(axes, d)
    return prim.bind(x, axes=axes), d - sum(1 for a in axes if a < d)


def reduction(name: str, impl, kinds: str, **rules) -> Primitive:
    """Declare a reduction over the ``axes`` param of operands of dtype ``kinds``."""
    prim = Primitive(
        name,
        impl,
        _reduce_shape(name, kinds),
        batch=lambda args, dims, **params: _reduce_batch(prim, args, dims, **params),
        **rules,
    )
    return prim


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


def _arg_batch(prim: Primitive, args, dims, *, axis, index_dtype):
    (x,), (d,) = args, dims
    axis = axis + 1 if axis >= d else axis
    out = prim.bind(x, axis=axis, index_dtype=index_dtype)
    return out, d - 1 if axis < d else d


def index_reduction(name: str, find) -> Primitive:
    """Declare the reduction returning, along ``axis``, the index ``find(x, axis=...)`` gives
    (as ``index_dtype``); indices carry no gradient."""
    prim = Primitive(
        name,
        lambda x, *, axis, index_dtype: find(x, axis=axis).astype(index_dtype),
        _arg_shape(name),
        weak_type=never_weak,
        differentiable=False,
        batch=lambda args, dims, **params: _arg_batch(prim, args, dims, **params),
    )
    return prim


def _sum_impl(x, *, axes):
    return np.add.reduce(x, axis=axes, dtype=x.dtype)  # np.sum's dispatch costs 1 us more


def _prod_impl(x, *, axes):
    return np.multiply.reduce(x, axis=axes, dtype=x.dtype)


# fmt: off
# The fused loops' combining steps: max and min propagate NaN as numpy's (an accumulator that
# is NaN stays so; a NaN element fails the comparison and is taken).
_SUM = Fusion("({0} + {1})", identity="0.0", wide=True, result="f")
_MAX = Fusion("({0} if ({0} >= {1} or {0} != {0}) else {1})", identity="-inf", result="f")
_MIN = Fusion("({0} if ({0} <= {1} or {0} != {0}) else {1})", identity="inf", result="f")
reduce_sum_p  = reduction("reduce_sum",  _sum_impl,  "iufc", vjp=_sum_vjp, linear=(0,),
                          fusion=_SUM, sum_over_steps=_sum_over_steps)
reduce_prod_p = reduction("reduce_prod", _prod_impl, "iufc", vjp=_prod_vjp)
reduce_max_p  = reduction("reduce_max",  _max_impl,  "biufc", vjp=_extremum_vjp, fusion=_MAX)
reduce_min_p  = reduction("reduce_min",  _min_impl,  "biufc", vjp=_extremum_vjp, fusion=_MIN)
argmax_p      = index_reduction("argmax", np.argmax)  # the first extremum; NaN counts as one
argmin_p      = index_reduction("argmin", np.argmin)
# fmt: on
