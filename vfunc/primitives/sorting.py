"""Sorting and cumulative primitives: sort (several operands by leading keys), cumsum, cumprod,
cummax, cummin."""

from __future__ import annotations

import numpy as np

import vfunc.primitives.builders as lax  # rules call it at run time, after the cycle resolves
from vfunc import dtypes
from vfunc.core import Primitive, ShapedArray, wrap_numpy
from vfunc.errors import ShapeError
from vfunc.primitives._batching import batch_size, to_front
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
        # complex keys sort lexicographically (real part, then imaginary), NaNs last, as
        # NumPy's and JAX's sorts do
        check_dtype_kind("sort", o.dtype, "biufc", "sort key")
    return [ShapedArray(o.shape, o.dtype) for o in operands]


def _sort_impl(*operands, dimension, num_keys):
    if len(operands) == 1:
        return [np.sort(operands[0], axis=dimension, kind="stable")]
    keys = operands[:num_keys]
    # lexsort's last key is the primary one; NaNs sort to the end, as in numpy and JAX.
    order = np.lexsort(keys[::-1], axis=dimension) if num_keys > 1 else np.argsort(
        keys[0], axis=dimension, kind="stable")  # fmt: skip
    return [np.take_along_axis(o, order, axis=dimension) for o in operands]


def _differentiable(x) -> bool:
    return x.dtype.kind in "fc"


def _sort_vjp(g, *operands, out, dimension, num_keys):
    # Sorting is a permutation: find it by sorting an iota along with the keys (stable, so the
    # same one), then undo it by sorting the cotangents with the permutation as the key.
    del out
    wanted = [i for i, x in enumerate(operands) if _differentiable(x)]
    if not wanted:
        return (None,) * len(operands)
    shape = operands[0].shape
    iota = lax.broadcasted_iota(dtypes.default_int(), shape, dimension)
    perm = sort_p.bind(*operands[:num_keys], iota, dimension=dimension, num_keys=num_keys)[-1]
    unsorted = sort_p.bind(perm, *[g[i] for i in wanted], dimension=dimension, num_keys=1)[1:]
    cts: list = [None] * len(operands)
    for i, ct in zip(wanted, unsorted, strict=True):
        cts[i] = ct
    return tuple(cts)


def _sort_jvp(primals, tangents, *, out, dimension, num_keys):
    # The output tangents are the input tangents, permuted alongside by the same keys.
    del out
    wanted = [i for i, t in enumerate(tangents) if t is not None]
    moved = sort_p.bind(*primals[:num_keys], *[tangents[i] for i in wanted],
                        dimension=dimension, num_keys=num_keys)[num_keys:]  # fmt: skip
    result: list = [None] * len(primals)
    for i, t in zip(wanted, moved, strict=True):
        result[i] = t
    return result


def _sort_batch(args, dims, *, dimension, num_keys):
    size = batch_size(args, dims)
    fronts = [to_front(x, d, size) for x, d in zip(args, dims, strict=True)]
    outs = sort_p.bind(*fronts, dimension=dimension + 1, num_keys=num_keys)
    return outs, [0] * len(outs)


sort_p = Primitive(
    "sort",
    _sort_impl,
    _sort_shape,
    weak_type=lambda weak, **_: list(weak),
    vjp=_sort_vjp,
    jvp=_sort_jvp,
    batch=_sort_batch,
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


def _cumulative(name: str, accumulate, kinds: str, **rules) -> Primitive:
    def batch(args, dims, *, axis, reverse):
        (x,), (d,) = args, dims
        return prim.bind(x, axis=axis + 1 if axis >= d else axis, reverse=reverse), d

    prim = Primitive(
        name, _cumulative_impl(accumulate), _cumulative_shape(name, kinds), batch=batch, **rules
    )
    return prim


def _cumsum_vjp(g, x, *, out, axis, reverse):
    del x, out
    return (lax.cumsum(g, axis, reverse=not reverse),)


def _shift(x, axis: int, by: int, fill):
    """``x`` moved ``by`` places along ``axis`` (toward higher indices when positive), the
    vacated places filled with ``fill``: a pad whose negative side crops."""
    config = [(0, 0, 0)] * x.ndim
    config[axis] = (by, -by, 0)
    return lax.pad(x, wrap_numpy(np.array(fill, x.dtype)), config)


def _cumprod_vjp(g, x, *, out, axis, reverse):
    """Exact, zeros included: no division.

    With ``out_j = x_0 ... x_j``, the cotangent of ``x_i`` is ``(x_0 ... x_{i-1}) * h_i`` where
    ``h_i = sum_{j >= i} g_j x_{i+1} ... x_j``, i.e. ``h_i = g_i + x_{i+1} h_{i+1}``. That
    recurrence is solved by doubling: ``h_i = b_i + a_i h_{i+s}`` with ``s = 1, 2, 4, ...``
    (log2(n) steps of shifts and products, all differentiable again).
    """
    if reverse:
        x, g, out = lax.rev(x, (axis,)), lax.rev(g, (axis,)), lax.rev(out, (axis,))
    n = x.shape[axis]
    b, a = g, _shift(x, axis, -1, 0)
    step = 1
    while step < n:
        b = lax.add(b, lax.mul(a, _shift(b, axis, -step, 0)))
        a = lax.mul(a, _shift(a, axis, -step, 0))
        step *= 2
    ct = lax.mul(_shift(out, axis, 1, 1), b)
    return (lax.rev(ct, (axis,)) if reverse else ct,)


def _cumulative_extremum_vjp(g, x, *, out, axis, reverse):
    """Each output's cotangent goes to the one input that attained it: the last position at or
    before it (in the scan's direction) equal to the running extremum. At a tie the newest
    equal element takes it; the cotangent is not split."""
    if reverse:
        x, g, out = lax.rev(x, (axis,)), lax.rev(g, (axis,)), lax.rev(out, (axis,))
    int_dtype = dtypes.default_int()
    position = lax.broadcasted_iota(int_dtype, x.shape, axis)
    # x_k == out_k marks where the running extremum was (re)attained; the last such k <= j is
    # the source of out_j, since the extremum only changes at such positions.
    none = lax.broadcast_in_dim(wrap_numpy(np.array(-1, int_dtype)), x.shape, ())
    source = lax.cummax(lax.select(lax.eq(x, out), position, none), axis)
    source = lax.max(source, 0)  # a leading NaN attains nothing: keep the index in range
    index = [lax.broadcasted_iota(int_dtype, x.shape, d) for d in range(x.ndim)]
    index[axis] = source
    spec = tuple(("array", d) for d in range(x.ndim))
    zeros = lax.broadcast_in_dim(wrap_numpy(np.zeros((), g.dtype)), x.shape, ())
    ct = lax.scatter(zeros, index, g, spec, mode="add")
    return (lax.rev(ct, (axis,)) if reverse else ct,)


# fmt: off
cumsum_p  = _cumulative("cumsum",  lambda x, axis: np.cumsum(x, axis, dtype=x.dtype),  "iufc",
                        vjp=_cumsum_vjp, linear=(0,))
cumprod_p = _cumulative("cumprod", lambda x, axis: np.cumprod(x, axis, dtype=x.dtype), "iufc",
                        vjp=_cumprod_vjp)
cummax_p  = _cumulative("cummax",  lambda x, axis: np.maximum.accumulate(x, axis),     "biuf",
                        vjp=_cumulative_extremum_vjp)
cummin_p  = _cumulative("cummin",  lambda x, axis: np.minimum.accumulate(x, axis),     "biuf",
                        vjp=_cumulative_extremum_vjp)
# fmt: on
