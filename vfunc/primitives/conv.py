"""Convolution: the forward primitive and its two gradient primitives, each a numba kernel.

The three primitives work on one canonical layout -- ``lhs`` is ``(N, C, *spatial)``, ``rhs`` is
``(O, C // feature_group_count, *window)``, the output ``(N, O, *out_spatial)`` -- with explicit
``(low, high)`` padding. ``vfunc.lax.conv_general_dilated`` maps JAX's dimension numbers,
padding strings and ``batch_group_count`` onto them with transposes and reshapes, which keeps
every kernel, VJP and batch rule written for one layout only.

``conv(x, w)`` is bilinear, so with ``<g, conv(x, w)> = <conv_input_grad(g, w), x>
= <conv_weight_grad(x, g), w>`` the three primitives are each other's VJPs: every derivative of
every order is one of the three kernels again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import vfunc.primitives.builders as lax  # rules call it at run time, after the cycle resolves
from vfunc.core import Primitive, ShapedArray
from vfunc.errors import ShapeError
from vfunc.primitives import conv_kernels as ck
from vfunc.primitives._batching import batch_size, move_axis, to_front
from vfunc.primitives._bilinear import bilinear_jvp
from vfunc.primitives._checks import check_dtype_kind, check_same_dtypes
from vfunc.primitives.conv_kernels import ConvParams


def _check_params(op: str, nsp: int, params: ConvParams) -> None:
    padding, feature_group_count = params.padding, params.groups
    for name, vals in (("window_strides", params.strides), ("lhs_dilation", params.lhs_dilation),
                       ("rhs_dilation", params.rhs_dilation)):  # fmt: skip
        if len(vals) != nsp:
            raise ShapeError(f"{op}: {name} {tuple(vals)} needs one entry per spatial axis ({nsp})")
        if any(int(v) < 1 for v in vals):
            raise ShapeError(f"{op}: {name} must be positive, got {tuple(vals)}")
    if len(padding) != nsp or any(len(p) != 2 for p in padding):
        raise ShapeError(
            f"{op}: padding {tuple(padding)} needs one (low, high) pair per spatial axis ({nsp})"
        )
    if int(feature_group_count) < 1:
        raise ShapeError(f"{op}: feature_group_count must be positive, got {feature_group_count}")


def conv_shape(
    op: str, lhs_shape: Sequence[int], rhs_shape: Sequence[int], params: ConvParams
) -> tuple[int, ...]:
    """Validate a canonical-layout convolution and return its output shape."""
    lhs_shape, rhs_shape = tuple(lhs_shape), tuple(rhs_shape)
    if len(lhs_shape) != len(rhs_shape) or not 3 <= len(lhs_shape) <= 5:
        raise ShapeError(
            f"{op}: lhs {lhs_shape} and rhs {rhs_shape} must have the same rank, 3 to 5 "
            "(batch, feature and 1 to 3 spatial axes)"
        )
    nsp = len(lhs_shape) - 2
    _check_params(op, nsp, params)
    groups = params.groups
    n, c = lhs_shape[:2]
    o, i = rhs_shape[:2]
    if c % groups or o % groups:
        raise ShapeError(
            f"{op}: feature_group_count={groups} must divide the lhs feature count {c} (lhs "
            f"{lhs_shape}) and the rhs output feature count {o} (rhs {rhs_shape})"
        )
    if c != i * groups:
        raise ShapeError(
            f"{op}: channel mismatch: lhs {lhs_shape} has {c} features, rhs {rhs_shape} expects "
            f"{i} per group x feature_group_count={groups} = {i * groups}"
        )
    out = []
    for ax in range(nsp):
        size, k = lhs_shape[2 + ax], rhs_shape[2 + ax]
        s, ld, rd = params.strides[ax], params.lhs_dilation[ax], params.rhs_dilation[ax]
        lo, hi = params.padding[ax]
        dilated_in = (size - 1) * ld + 1 if size else 0
        dilated_k = (k - 1) * rd + 1 if k else 0
        if k == 0 or dilated_in + lo + hi < dilated_k:
            raise ShapeError(
                f"{op}: the window of spatial axis {ax} (size {k}, rhs_dilation {rd}: spans "
                f"{dilated_k}) is larger than the padded input (size {size}, lhs_dilation {ld}, "
                f"padding {(lo, hi)}: spans {dilated_in + lo + hi}); lhs {lhs_shape}, rhs "
                f"{rhs_shape}. Pad more or use a smaller kernel."
            )
        out.append(ck.conv_out_size(size, k, s, (lo, hi), ld, rd))
    return (n, o, *out)


# The primitives' param names for the fields of ConvParams, in order.
_PARAM_NAMES = ("window_strides", "padding", "lhs_dilation", "rhs_dilation", "feature_group_count")


def _params(p: dict) -> ConvParams:
    return ConvParams(*(p[name] for name in _PARAM_NAMES))


def _check_avals(op: str, a: ShapedArray, b: ShapedArray) -> None:
    check_same_dtypes(op, a, b)
    check_dtype_kind(op, a.dtype, "f")


# ----------------------------------------------------------------------------------------------
# Shape rules and impls


def _conv_shape(lhs, rhs, **p):
    _check_avals("conv_general_dilated", lhs, rhs)
    out = conv_shape("conv_general_dilated", lhs.shape, rhs.shape, _params(p))
    return ShapedArray(out, lhs.dtype)


def _conv_impl(lhs, rhs, **p):
    return ck.conv_forward(lhs, rhs, _params(p))


def _input_grad_shape(g, rhs, *, lhs_shape, **p):
    _check_avals("conv_input_grad", g, rhs)
    out = conv_shape("conv_input_grad", lhs_shape, rhs.shape, _params(p))
    if tuple(g.shape) != out:
        raise ShapeError(
            f"conv_input_grad: cotangent shape {g.shape} does not match the convolution output "
            f"{out} of lhs {tuple(lhs_shape)} and rhs {rhs.shape}"
        )
    return ShapedArray(tuple(lhs_shape), g.dtype)


def _input_grad_impl(g, rhs, *, lhs_shape, **p):
    return ck.conv_input_grad(g, rhs, tuple(lhs_shape), _params(p))


def _weight_grad_shape(lhs, g, *, rhs_shape, **p):
    _check_avals("conv_weight_grad", lhs, g)
    out = conv_shape("conv_weight_grad", lhs.shape, rhs_shape, _params(p))
    if tuple(g.shape) != out:
        raise ShapeError(
            f"conv_weight_grad: cotangent shape {g.shape} does not match the convolution output "
            f"{out} of lhs {lhs.shape} and rhs {tuple(rhs_shape)}"
        )
    return ShapedArray(tuple(rhs_shape), lhs.dtype)


def _weight_grad_impl(lhs, g, *, rhs_shape, **p):
    return ck.conv_weight_grad(lhs, g, tuple(rhs_shape), _params(p))


# ----------------------------------------------------------------------------------------------
# VJPs: each primitive's cotangents are the other two primitives


def _conv_vjp(g, lhs, rhs, *, out, wants=(True, True), **p):
    del out
    ct_lhs = conv_input_grad_p.bind(g, rhs, lhs_shape=lhs.shape, **p) if wants[0] else None
    ct_rhs = conv_weight_grad_p.bind(lhs, g, rhs_shape=rhs.shape, **p) if wants[1] else None
    return ct_lhs, ct_rhs


def _input_grad_vjp(ct, g, rhs, *, out, lhs_shape, wants=(True, True), **p):
    del out, lhs_shape
    ct_g = conv_general_dilated_p.bind(ct, rhs, **p) if wants[0] else None
    ct_rhs = conv_weight_grad_p.bind(ct, g, rhs_shape=rhs.shape, **p) if wants[1] else None
    return ct_g, ct_rhs


def _weight_grad_vjp(ct, lhs, g, *, out, rhs_shape, wants=(True, True), **p):
    del out, rhs_shape
    ct_lhs = conv_input_grad_p.bind(g, ct, lhs_shape=lhs.shape, **p) if wants[0] else None
    ct_g = conv_general_dilated_p.bind(lhs, ct, **p) if wants[1] else None
    return ct_lhs, ct_g


# ----------------------------------------------------------------------------------------------
# Batch rules. Operands play one of three roles: an image-like array (N, C, *sp) -- the lhs, or
# the output/cotangent (N, O, *sp) -- or a kernel (O, I, *k). A batch axis folds into N when
# only image-like operands are batched and nothing sums over N; otherwise every operand gets the
# batch axis and it folds into the feature groups: B independent problems become one problem
# with B * G groups.


def _fold_image_into_groups(x):
    # (B, N, C, *sp) -> (N, B * C, *sp): member b's channels form groups b*G .. b*G + G - 1.
    b, n, c = x.shape[:3]
    x = lax.transpose(x, (1, 0, *range(2, x.ndim)))
    return lax.reshape(x, (n, b * c, *x.shape[3:]))


def _unfold_image_from_groups(y, b: int):
    n, bc = y.shape[:2]
    y = lax.reshape(y, (n, b, bc // b, *y.shape[2:]))
    return lax.transpose(y, (1, 0, *range(2, y.ndim)))


def _fold_kernel(w):
    return lax.reshape(w, (w.shape[0] * w.shape[1], *w.shape[2:]))


def _unfold_kernel(w, b: int):
    return lax.reshape(w, (b, w.shape[0] // b, *w.shape[1:]))


def _fold_into_n(x):
    return lax.reshape(x, (x.shape[0] * x.shape[1], *x.shape[2:]))


def _unfold_from_n(y, b: int):
    return lax.reshape(y, (b, y.shape[0] // b, *y.shape[1:]))


def _grouped(p: dict, b: int) -> dict:
    return {**p, "feature_group_count": p["feature_group_count"] * b}


def _conv_batch(args, dims, **p):
    (lhs, rhs), (ld, rd) = args, dims
    if rd is None:
        b = lhs.shape[ld]
        out = conv_general_dilated_p.bind(_fold_into_n(move_axis(lhs, ld, 0)), rhs, **p)
        return _unfold_from_n(out, b), 0
    b = batch_size(args, dims)
    lhs, rhs = to_front(lhs, ld, b), to_front(rhs, rd, b)
    out = conv_general_dilated_p.bind(
        _fold_image_into_groups(lhs), _fold_kernel(rhs), **_grouped(p, b)
    )
    return _unfold_image_from_groups(out, b), 0


def _input_grad_batch(args, dims, *, lhs_shape, **p):
    (g, rhs), (gd, rd) = args, dims
    if rd is None:
        b = g.shape[gd]
        shape = (b * lhs_shape[0], *lhs_shape[1:])
        out = conv_input_grad_p.bind(_fold_into_n(move_axis(g, gd, 0)), rhs, lhs_shape=shape, **p)
        return _unfold_from_n(out, b), 0
    b = batch_size(args, dims)
    g, rhs = to_front(g, gd, b), to_front(rhs, rd, b)
    shape = (lhs_shape[0], b * lhs_shape[1], *lhs_shape[2:])
    out = conv_input_grad_p.bind(
        _fold_image_into_groups(g), _fold_kernel(rhs), lhs_shape=shape, **_grouped(p, b)
    )
    return _unfold_image_from_groups(out, b), 0


def _weight_grad_batch(args, dims, *, rhs_shape, **p):
    b = batch_size(args, dims)
    lhs, g = (to_front(x, d, b) for x, d in zip(args, dims, strict=True))
    shape = (b * rhs_shape[0], *rhs_shape[1:])
    out = conv_weight_grad_p.bind(
        _fold_image_into_groups(lhs), _fold_image_into_groups(g), rhs_shape=shape,
        **_grouped(p, b),
    )  # fmt: skip
    return _unfold_kernel(out, b), 0


def _bilinear(name: str, impl, shape, **rules) -> Primitive:
    """Declare one of the three convolutions: bilinear, so its JVP is the product rule, and
    its VJP skips the kernel of an operand that needs no cotangent (a network's data input)."""
    prim = Primitive(name, impl, shape, jvp=bilinear_jvp(lambda *a, **p: prim.bind(*a, **p)),
                     vjp_wants=True, **rules)  # fmt: skip
    return prim


conv_general_dilated_p = _bilinear(
    "conv_general_dilated", _conv_impl, _conv_shape, vjp=_conv_vjp, batch=_conv_batch
)
conv_input_grad_p = _bilinear(
    "conv_input_grad", _input_grad_impl, _input_grad_shape, vjp=_input_grad_vjp,
    batch=_input_grad_batch,
)  # fmt: skip
conv_weight_grad_p = _bilinear(
    "conv_weight_grad", _weight_grad_impl, _weight_grad_shape, vjp=_weight_grad_vjp,
    batch=_weight_grad_batch,
)  # fmt: skip


def canonical_params(
    window_strides: Sequence[int],
    padding: Sequence[tuple[int, int]],
    lhs_dilation: Sequence[int],
    rhs_dilation: Sequence[int],
    feature_group_count: int,
) -> dict[str, Any]:
    """The hashable parameter dict the three primitives take."""
    params = ConvParams.of(window_strides, padding, lhs_dilation, rhs_dilation,
                           feature_group_count)  # fmt: skip
    return dict(zip(_PARAM_NAMES, params, strict=True))
