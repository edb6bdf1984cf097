"""``vfunc.lax`` convolution and windowed reductions: conv_general_dilated, conv,
conv_transpose, reduce_window.

The primitives take one canonical layout and explicit padding; these wrappers translate JAX's
dimension numbers, padding strings and batch groups onto it.
"""

from __future__ import annotations

import builtins as _builtins  # max is lax.max here
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from vfunc.core import Array
from vfunc.primitives.builders import (
    ArrayLike,
    _operands,
    _scalar_like,
    add,
    as_array,
    convert_element_type,
    max,  # noqa: A004
    reshape,
    rev,
    transpose,
)
from vfunc.primitives.conv import canonical_params, conv_general_dilated_p
from vfunc.primitives.window import (
    reduce_window_max_p,
    reduce_window_sum_p,
    window_params,
)


class ConvDimensionNumbers(NamedTuple):
    """Axis numbers of (batch, feature, *spatial) in lhs and out, (out-feature, in-feature,
    *spatial) in rhs, as ``jax.lax.ConvDimensionNumbers``."""

    lhs_spec: tuple[int, ...]
    rhs_spec: tuple[int, ...]
    out_spec: tuple[int, ...]


def conv_dimension_numbers(
    lhs_shape: Sequence[int], rhs_shape: Sequence[int], dimension_numbers: Any
) -> ConvDimensionNumbers:
    """Normalise ``dimension_numbers`` (None, a ConvDimensionNumbers, or three layout strings
    such as ``("NHWC", "HWIO", "NHWC")``) to axis numbers.

    Spatial axes are matched by letter and ordered as they appear in the rhs string, as in JAX.
    """
    nd = len(lhs_shape)
    if len(rhs_shape) != nd:
        raise ValueError(
            f"conv_general_dilated: lhs {tuple(lhs_shape)} and rhs {tuple(rhs_shape)} must have "
            "the same rank"
        )
    if dimension_numbers is None:
        spec = tuple(range(nd))
        return ConvDimensionNumbers(spec, spec, spec)
    if isinstance(dimension_numbers, ConvDimensionNumbers) or not isinstance(
        dimension_numbers[0], str
    ):
        lhs, rhs, out = (tuple(int(a) for a in s) for s in dimension_numbers)
        for name, s in (("lhs_spec", lhs), ("rhs_spec", rhs), ("out_spec", out)):
            if sorted(s) != list(range(nd)):
                raise ValueError(
                    f"conv_general_dilated: dimension_numbers {name} {s} must be a permutation "
                    f"of range({nd})"
                )
        return ConvDimensionNumbers(lhs, rhs, out)
    lhs_s, rhs_s, out_s = dimension_numbers
    for name, s, n in (("lhs", lhs_s, nd), ("rhs", rhs_s, nd), ("out", out_s, nd)):
        if len(s) != n or len(set(s)) != n:
            raise ValueError(
                f"conv_general_dilated: dimension_numbers {name} spec {s!r} must name each of "
                f"the {n} axes once"
            )
    if not ({"N", "C"} <= set(lhs_s) and {"N", "C"} <= set(out_s) and {"O", "I"} <= set(rhs_s)):
        raise ValueError(
            f"conv_general_dilated: dimension_numbers {dimension_numbers!r} need N and C in the "
            "lhs and out specs and O and I in the rhs spec"
        )
    rhs_spatial = [c for c in rhs_s if c not in "OI"]
    if set(rhs_spatial) != set(lhs_s) - {"N", "C"} or set(rhs_spatial) != set(out_s) - {"N", "C"}:
        raise ValueError(
            f"conv_general_dilated: dimension_numbers {dimension_numbers!r} name different "
            "spatial axes in lhs, rhs and out"
        )
    return ConvDimensionNumbers(
        (lhs_s.index("N"), lhs_s.index("C"), *(lhs_s.index(c) for c in rhs_spatial)),
        (rhs_s.index("O"), rhs_s.index("I"), *(rhs_s.index(c) for c in rhs_spatial)),
        (out_s.index("N"), out_s.index("C"), *(out_s.index(c) for c in rhs_spatial)),
    )


def padtype_to_pads(
    in_shape: Sequence[int], window_shape: Sequence[int], window_strides: Sequence[int],
    padding: str,
) -> list[tuple[int, int]]:  # fmt: skip
    """Explicit ``(low, high)`` pads for ``'SAME'``, ``'SAME_LOWER'`` or ``'VALID'``.

    SAME gives ``ceil(in / stride)`` outputs, with the odd pad element at the high end (at the
    low end for SAME_LOWER).
    """
    mode = padding.upper()
    if mode == "VALID":
        return [(0, 0)] * len(in_shape)
    if mode not in ("SAME", "SAME_LOWER"):
        raise ValueError(f"padding must be 'SAME', 'SAME_LOWER', 'VALID' or pairs, got {padding!r}")
    pads = []
    for n, k, s in zip(in_shape, window_shape, window_strides, strict=True):
        out = -(-n // s)
        total = _builtins.max((out - 1) * s + k - n, 0)
        lo = total // 2 if mode == "SAME" else total - total // 2
        pads.append((lo, total - lo))
    return pads


def _int_tuple(name: str, values: Sequence[int] | None, n: int, op: str) -> tuple[int, ...]:
    if values is None:
        return (1,) * n
    out = tuple(int(v) for v in values)
    if len(out) != n:
        raise ValueError(f"{op}: {name} {out} needs {n} entries, one per spatial axis")
    if any(v < 1 for v in out):
        raise ValueError(f"{op}: {name} must be positive, got {out}")
    return out


def conv_general_dilated(
    lhs: ArrayLike,
    rhs: ArrayLike,
    window_strides: Sequence[int],
    padding: str | Sequence[tuple[int, int]],
    lhs_dilation: Sequence[int] | None = None,
    rhs_dilation: Sequence[int] | None = None,
    dimension_numbers: Any = None,
    feature_group_count: int = 1,
    batch_group_count: int = 1,
    precision: Any = None,
    preferred_element_type: Any = None,
) -> Array:
    """General N-d convolution (1 to 3 spatial axes), as ``jax.lax.conv_general_dilated``.

    ``padding`` is ``'SAME'``, ``'SAME_LOWER'``, ``'VALID'`` or one ``(low, high)`` pair per
    spatial axis (negative pads crop). ``lhs_dilation`` inserts holes between input elements
    (transposed convolution), ``rhs_dilation`` between kernel taps (atrous convolution).
    ``feature_group_count`` splits the features into groups (depthwise when it equals the input
    features); ``batch_group_count`` splits the batch into groups, each convolved with its share
    of the output features. The default layout is NCHW / OIHW / NCHW; ``dimension_numbers``
    takes strings such as ``("NHWC", "HWIO", "NHWC")``. ``precision`` is ignored (CPU math is
    full precision); ``preferred_element_type`` converts the result.

    The primitive in the jaxpr always sees the canonical layout: other layouts appear as
    transposes around it, and batch groups as a reshape into feature groups.

    Raises:
        ValueError: for mismatched feature counts, kernels larger than the padded input,
            non-positive strides or dilations and groups that do not divide the features; the
            message names the parameter and the shapes.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import lax
        >>> x = vnp.arange(5.0).reshape(1, 1, 5)
        >>> lax.conv_general_dilated(x, vnp.ones((1, 1, 2)), (1,), "VALID")
        Array([[[1., 3., 5., 7.]]], dtype=float32)
    """
    del precision
    op = "conv_general_dilated"
    lhs, rhs = _operands(lhs, rhs)
    dn = conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
    nsp = lhs.ndim - 2
    if nsp < 1:
        raise ValueError(f"{op}: lhs {lhs.shape} needs batch, feature and spatial axes")
    strides = _int_tuple("window_strides", window_strides, nsp, op)
    lhs_dil = _int_tuple("lhs_dilation", lhs_dilation, nsp, op)
    rhs_dil = _int_tuple("rhs_dilation", rhs_dilation, nsp, op)
    x = transpose(lhs, dn.lhs_spec)
    w = transpose(rhs, dn.rhs_spec)
    if isinstance(padding, str):
        if any(d != 1 for d in lhs_dil):
            # As JAX: what SAME means for a transposed convolution is ambiguous.
            raise ValueError(
                f"{op}: string padding {padding!r} is not supported with lhs_dilation {lhs_dil}; "
                "give explicit (low, high) pairs or use conv_transpose"
            )
        k_eff = [(k - 1) * d + 1 for k, d in zip(w.shape[2:], rhs_dil, strict=True)]
        pads = padtype_to_pads(x.shape[2:], k_eff, strides, padding)
    else:
        pads = [tuple(p) for p in padding]
    groups, batch_groups = int(feature_group_count), int(batch_group_count)
    if batch_groups < 1:
        raise ValueError(f"{op}: batch_group_count must be positive, got {batch_groups}")
    if batch_groups > 1:
        if groups != 1:
            raise ValueError(f"{op}: feature_group_count and batch_group_count cannot both be > 1")
        n, c = x.shape[:2]
        if n % batch_groups or w.shape[0] % batch_groups:
            raise ValueError(
                f"{op}: batch_group_count={batch_groups} must divide the lhs batch {n} (lhs "
                f"{lhs.shape}) and the rhs output features {w.shape[0]} (rhs {rhs.shape})"
            )
        # Batch group b (members b*N/B ...) becomes feature group b of a batch of N/B.
        x = reshape(x, (batch_groups, n // batch_groups, c, *x.shape[2:]))
        x = reshape(transpose(x, (1, 0, *range(2, x.ndim))),
                    (n // batch_groups, batch_groups * c, *x.shape[3:]))  # fmt: skip
        groups = batch_groups
    params = canonical_params(strides, pads, lhs_dil, rhs_dil, groups)
    out = conv_general_dilated_p.bind(x, w, **params)
    out = transpose(out, tuple(int(i) for i in np.argsort(dn.out_spec)))
    if preferred_element_type is not None:
        out = convert_element_type(out, preferred_element_type)
    return out


def conv(
    lhs: ArrayLike,
    rhs: ArrayLike,
    window_strides: Sequence[int],
    padding: str | Sequence[tuple[int, int]],
    precision: Any = None,
    preferred_element_type: Any = None,
) -> Array:
    """Convolution in the NCHW / OIHW layout without dilation or groups, as ``jax.lax.conv``."""
    return conv_general_dilated(lhs, rhs, window_strides, padding, precision=precision,
                                preferred_element_type=preferred_element_type)  # fmt: skip


def conv_with_general_padding(
    lhs: ArrayLike,
    rhs: ArrayLike,
    window_strides: Sequence[int],
    padding: str | Sequence[tuple[int, int]],
    lhs_dilation: Sequence[int] | None,
    rhs_dilation: Sequence[int] | None,
    precision: Any = None,
    preferred_element_type: Any = None,
) -> Array:
    """Convolution in the NCHW / OIHW layout with padding and dilations, as
    ``jax.lax.conv_with_general_padding``: ``conv_general_dilated`` without groups or
    dimension numbers.

    Args:
        lhs: the input, ``(N, C, spatial...)``.
        rhs: the kernel, ``(O, I, spatial...)``.
        window_strides: the stride of each spatial axis.
        padding: ``'SAME'``, ``'VALID'`` or one ``(low, high)`` pair per spatial axis.
        lhs_dilation: the input's dilation per spatial axis (``None``: 1).
        rhs_dilation: the kernel's dilation per spatial axis (``None``: 1).
        precision, preferred_element_type: as for ``conv_general_dilated``.

    Returns:
        The output, ``(N, O, spatial...)``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> x, k = vnp.ones((1, 1, 4, 4)), vnp.ones((1, 1, 2, 2))
        >>> conv_with_general_padding(x, k, (1, 1), [(1, 0), (0, 0)], None, (2, 2)).shape
        (1, 1, 3, 2)
    """
    return conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                                precision=precision,
                                preferred_element_type=preferred_element_type)  # fmt: skip


def _conv_transpose_padding(k: int, s: int, padding: str) -> tuple[int, int]:
    if padding.upper() == "SAME":
        total = k + s - 2
        lo = k - 1 if s > k - 1 else -(-total // 2)
    elif padding.upper() == "VALID":
        total = k + s - 2 + _builtins.max(k - s, 0)
        lo = k - 1
    else:
        raise ValueError(
            f"conv_transpose: padding must be 'SAME', 'VALID' or pairs, got {padding!r}"
        )
    return lo, total - lo


def conv_transpose(
    lhs: ArrayLike,
    rhs: ArrayLike,
    strides: Sequence[int],
    padding: str | Sequence[tuple[int, int]],
    rhs_dilation: Sequence[int] | None = None,
    dimension_numbers: Any = None,
    transpose_kernel: bool = False,
    precision: Any = None,
    preferred_element_type: Any = None,
) -> Array:
    """Transposed ("deconvolution") convolution, as ``jax.lax.conv_transpose``: a convolution
    of the lhs dilated by ``strides``. The default layout is channels-last (NHWC / HWIO / NHWC,
    and the 1-D and 3-D analogues). With ``transpose_kernel=True`` the kernel is flipped
    spatially and its feature axes swapped, which makes this the gradient of ``conv`` with the
    same kernel.
    """
    lhs, rhs = _operands(lhs, rhs)
    nd = lhs.ndim
    if dimension_numbers is None:
        if not 3 <= nd <= 5:
            raise ValueError(f"conv_transpose: lhs {lhs.shape} must have rank 3 to 5")
        sp = "HWD"[: nd - 2]
        dimension_numbers = ("N" + sp + "C", sp + "IO", "N" + sp + "C")
    dn = conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
    nsp = nd - 2
    rhs_dil = _int_tuple("rhs_dilation", rhs_dilation, nsp, "conv_transpose")
    strides = _int_tuple("strides", strides, nsp, "conv_transpose")
    k_sp = [rhs.shape[a] for a in dn.rhs_spec[2:]]
    k_eff = [(k - 1) * d + 1 for k, d in zip(k_sp, rhs_dil, strict=True)]
    if isinstance(padding, str):
        pads = [_conv_transpose_padding(k, s, padding) for k, s in zip(k_eff, strides, strict=True)]
    else:
        pads = [tuple(p) for p in padding]
    if transpose_kernel:
        rhs = rev(rhs, dn.rhs_spec[2:])
        perm = list(range(nd))
        perm[dn.rhs_spec[0]], perm[dn.rhs_spec[1]] = dn.rhs_spec[1], dn.rhs_spec[0]
        rhs = transpose(rhs, perm)
    return conv_general_dilated(lhs, rhs, (1,) * nsp, pads, lhs_dilation=strides,
                                rhs_dilation=rhs_dil, dimension_numbers=dn, precision=precision,
                                preferred_element_type=preferred_element_type)  # fmt: skip


def _monoid(computation: Any) -> str:
    name = getattr(computation, "__name__", "")
    if computation is max or name in ("max", "maximum"):
        return "max"
    if computation is add or name == "add":
        return "add"
    raise NotImplementedError(
        f"reduce_window: computation {computation!r} is not supported; use lax.max or lax.add"
    )


def reduce_window(
    operand: ArrayLike,
    init_value: ArrayLike,
    computation: Any,
    window_dimensions: Sequence[int],
    window_strides: Sequence[int],
    padding: str | Sequence[tuple[int, int]],
    base_dilation: Sequence[int] | None = None,
    window_dilation: Sequence[int] | None = None,
) -> Array:
    """Reduce every window of ``operand`` with ``lax.max`` (max-pooling) or ``lax.add``
    (sum-pooling), as ``jax.lax.reduce_window``; windows may span up to three axes of an operand
    of any rank. Padding takes the value ``init_value``, so for max any ``init_value`` works
    (the result is ``max(window max, init_value)``); for add, ``init_value`` must be 0 unless
    there is no padding and no base dilation.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import lax
        >>> x = vnp.arange(6.0).reshape(2, 3)
        >>> lax.reduce_window(x, -vnp.inf, lax.max, (1, 2), (1, 1), "VALID")
        Array([[1., 2.],
               [4., 5.]], dtype=float32)
    """
    x = as_array(operand)
    kind = _monoid(computation)
    nd = x.ndim
    op = "reduce_window"
    window = _int_tuple("window_dimensions", window_dimensions, nd, op)
    strides = _int_tuple("window_strides", window_strides, nd, op)
    base = _int_tuple("base_dilation", base_dilation, nd, op)
    wdil = _int_tuple("window_dilation", window_dilation, nd, op)
    if isinstance(padding, str):
        dilated_in = [(n - 1) * b + 1 for n, b in zip(x.shape, base, strict=True)]
        k_eff = [(k - 1) * d + 1 for k, d in zip(window, wdil, strict=True)]
        pads = padtype_to_pads(dilated_in, k_eff, strides, padding)
    else:
        pads = [tuple(p) for p in padding]
    params = window_params(window, strides, pads, base, wdil)
    init = np.asarray(init_value)
    if kind == "max":
        out = reduce_window_max_p.bind(x, **params)
        if init.ndim or not np.isneginf(init):
            out = max(out, _scalar_like(float(init), out))
        return out
    out = reduce_window_sum_p.bind(x, **params)
    if init.ndim or init != 0:
        if any(p != (0, 0) for p in pads) or any(b != 1 for b in base):
            raise NotImplementedError(
                "reduce_window: add with a non-zero init_value and padding or base dilation"
            )
        out = add(out, _scalar_like(float(init), out))
    return out
