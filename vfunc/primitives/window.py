"""Windowed reductions (max- and sum-pooling) and the primitives their derivatives need.

``reduce_window_max`` and ``reduce_window_sum`` reduce every window of an array of any rank
(windows may span at most three axes); padding, strides, base (lhs) dilation and window
dilation work as in ``jax.lax.reduce_window``. Padding and holes hold the reduction's identity,
so they never win a max and add nothing to a sum.

Derivatives stay inside this family, each a numba kernel: the sum's VJP is
``reduce_window_sum_transpose`` (each cotangent added over its window); the max's VJP is
``select_and_scatter_add`` (each cotangent added at its window's first maximum), whose own VJP
is ``select_and_gather_add`` (read at each window's first maximum), and vice versa.
"""

from __future__ import annotations

from collections.abc import Sequence

from vfunc.core import Primitive, ShapedArray
from vfunc.errors import ShapeError
from vfunc.primitives import window_kernels as wk
from vfunc.primitives._batching import batch_size, move_axis, to_front
from vfunc.primitives._checks import check_dtype_kind, check_same_dtypes
from vfunc.primitives.conv_kernels.plan import conv_out_size
from vfunc.primitives.window_kernels import WindowParams

_NAMES = ("window_dimensions", "window_strides", "padding", "base_dilation", "window_dilation")


def window_shape(op: str, shape: Sequence[int], params: WindowParams) -> tuple[int, ...]:
    """Validate windowed-reduction parameters for an operand of ``shape``; the output shape."""
    window_dimensions, window_strides, padding, base_dilation, window_dilation = params
    shape = tuple(shape)
    nd = len(shape)
    for name, vals in zip(
        _NAMES, (window_dimensions, window_strides, padding, base_dilation, window_dilation),
        strict=True,
    ):  # fmt: skip
        if len(vals) != nd:
            raise ShapeError(
                f"{op}: {name} {tuple(vals)} needs one entry per operand axis (operand {shape})"
            )
    for name, vals in (("window_dimensions", window_dimensions), ("window_strides",
                       window_strides), ("base_dilation", base_dilation),
                       ("window_dilation", window_dilation)):  # fmt: skip
        if any(int(v) < 1 for v in vals):
            raise ShapeError(f"{op}: {name} must be positive, got {tuple(vals)} (operand {shape})")
    if any(len(p) != 2 for p in padding):
        raise ShapeError(f"{op}: padding {tuple(padding)} needs (low, high) pairs")
    busy = sum(
        not (k == 1 and s == 1 and tuple(p) == (0, 0) and b == 1 and d == 1)
        for k, s, p, b, d in zip(window_dimensions, window_strides, padding, base_dilation,
                                 window_dilation, strict=True)
    )  # fmt: skip
    if busy > 3:
        raise ShapeError(f"{op}: windows may span at most 3 axes; this one spans {busy}")
    out = []
    for ax in range(nd):
        n, k, d = shape[ax], window_dimensions[ax], window_dilation[ax]
        lo, hi = padding[ax]
        span_in = ((n - 1) * base_dilation[ax] + 1 if n else 0) + lo + hi
        span_k = (k - 1) * d + 1
        if span_in < span_k:
            raise ShapeError(
                f"{op}: window {tuple(window_dimensions)} (dilation {tuple(window_dilation)}) is "
                f"larger than the padded operand {shape} (padding {tuple(padding)}) on axis {ax}"
            )
        out.append(conv_out_size(n, k, window_strides[ax], (lo, hi), base_dilation[ax], d))
    return tuple(out)


def _args(p: dict) -> WindowParams:
    return WindowParams(*(p[n] for n in _NAMES))


def _check(op: str, *avals) -> None:
    if len(avals) > 1:
        check_same_dtypes(op, *avals)
    check_dtype_kind(op, avals[0].dtype, "f")


# ----------------------------------------------------------------------------------------------
# reduce_window_sum and its transpose


def _sum_shape(x, **p):
    _check("reduce_window_sum", x)
    return ShapedArray(window_shape("reduce_window_sum", x.shape, _args(p)), x.dtype)


def _sum_impl(x, **p):
    return wk.window_reduce("sum", x, _args(p))


def _sum_vjp(g, x, *, out, **p):
    del out
    return (reduce_window_sum_transpose_p.bind(g, operand_shape=x.shape, **p),)


def _sum_t_shape(g, *, operand_shape, **p):
    _check("reduce_window_sum_transpose", g)
    out = window_shape("reduce_window_sum_transpose", operand_shape, _args(p))
    if tuple(g.shape) != out:
        raise ShapeError(
            f"reduce_window_sum_transpose: cotangent {g.shape} does not match the window output "
            f"{out} of operand {tuple(operand_shape)}"
        )
    return ShapedArray(tuple(operand_shape), g.dtype)


def _sum_t_impl(g, *, operand_shape, **p):
    return wk.window_sum_transpose(g, tuple(operand_shape), _args(p))


def _sum_t_vjp(ct, g, *, out, operand_shape, **p):
    del out, operand_shape, g
    return (reduce_window_sum_p.bind(ct, **p),)


# ----------------------------------------------------------------------------------------------
# reduce_window_max and the selections at each window's maximum


def _max_shape(x, **p):
    _check("reduce_window_max", x)
    return ShapedArray(window_shape("reduce_window_max", x.shape, _args(p)), x.dtype)


def _max_impl(x, **p):
    return wk.window_reduce("max", x, _args(p))


def _max_vjp(g, x, *, out, **p):
    del out
    return (select_and_scatter_add_p.bind(g, x, **p),)


def _max_jvp(primals, tangents, *, out, **p):
    del out
    return select_and_gather_add_p.bind(tangents[0], primals[0], **p)


def _scatter_shape(g, x, **p):
    _check("select_and_scatter_add", g, x)
    out = window_shape("select_and_scatter_add", x.shape, _args(p))
    if tuple(g.shape) != out:
        raise ShapeError(
            f"select_and_scatter_add: source {g.shape} does not match the window output {out} "
            f"of operand {x.shape}"
        )
    return ShapedArray(x.shape, g.dtype)


def _scatter_impl(g, x, **p):
    return wk.window_select(True, g, x, _args(p))


def _scatter_vjp(ct, g, x, *, out, **p):
    del out, g
    return select_and_gather_add_p.bind(ct, x, **p), None


def _gather_shape(t, x, **p):
    _check("select_and_gather_add", t, x)
    if tuple(t.shape) != tuple(x.shape):
        raise ShapeError(
            f"select_and_gather_add: tangent {t.shape} and operand {x.shape} must match"
        )
    return ShapedArray(window_shape("select_and_gather_add", x.shape, _args(p)), t.dtype)


def _gather_impl(t, x, **p):
    return wk.window_select(False, t, x, _args(p))


def _gather_vjp(ct, t, x, *, out, **p):
    del out, t
    return select_and_scatter_add_p.bind(ct, x, **p), None


# ----------------------------------------------------------------------------------------------
# Batch rules: the mapped axis becomes one more axis the window leaves alone.


def _with_batch_axis(p: dict, **extra) -> dict:
    return {
        "window_dimensions": (1, *p["window_dimensions"]),
        "window_strides": (1, *p["window_strides"]),
        "padding": ((0, 0), *p["padding"]),
        "base_dilation": (1, *p["base_dilation"]),
        "window_dilation": (1, *p["window_dilation"]),
        **extra,
    }


def _unary_batch(bind):
    """The vmap rule of a one-operand windowed primitive, given its ``bind``."""

    def rule(args, dims, **p):
        (x,), (d,) = args, dims
        extra = {}
        if "operand_shape" in p:
            extra["operand_shape"] = (x.shape[d], *p.pop("operand_shape"))
        return bind(move_axis(x, d, 0), **_with_batch_axis(p, **extra)), 0

    return rule


def _binary_batch(bind):
    """The vmap rule of a two-operand windowed primitive, given its ``bind``."""

    def rule(args, dims, **p):
        b = batch_size(args, dims)
        a, x = (to_front(v, d, b) for v, d in zip(args, dims, strict=True))
        return bind(a, x, **_with_batch_axis(p)), 0

    return rule


def _windowed(name: str, impl, shape, batch, **rules) -> Primitive:
    """Declare a windowed primitive; ``batch(bind)`` makes its vmap rule from its bind."""
    prim = Primitive(name, impl, shape, batch=batch(lambda *a, **p: prim.bind(*a, **p)), **rules)
    return prim


# fmt: off
reduce_window_sum_p = _windowed(
    "reduce_window_sum", _sum_impl, _sum_shape, _unary_batch, vjp=_sum_vjp, linear=(0,))
reduce_window_sum_transpose_p = _windowed(
    "reduce_window_sum_transpose", _sum_t_impl, _sum_t_shape, _unary_batch, vjp=_sum_t_vjp,
    linear=(0,))
reduce_window_max_p = _windowed(
    "reduce_window_max", _max_impl, _max_shape, _unary_batch, vjp=_max_vjp, jvp=_max_jvp)
select_and_scatter_add_p = _windowed(
    "select_and_scatter_add", _scatter_impl, _scatter_shape, _binary_batch, vjp=_scatter_vjp,
    linear=(0,))
select_and_gather_add_p = _windowed(
    "select_and_gather_add", _gather_impl, _gather_shape, _binary_batch, vjp=_gather_vjp,
    linear=(0,))
# fmt: on


def window_params(
    window_dimensions: Sequence[int],
    window_strides: Sequence[int],
    padding: Sequence[tuple[int, int]],
    base_dilation: Sequence[int],
    window_dilation: Sequence[int],
) -> dict:
    """The hashable parameter dict of the windowed primitives."""
    params = WindowParams.of(window_dimensions, window_strides, padding, base_dilation,
                             window_dilation)  # fmt: skip
    return dict(zip(_NAMES, params, strict=True))
