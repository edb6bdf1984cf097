"""Shared validation for shape rules: each helper raises the user-facing error once."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vfunc.errors import ConcretizationTypeError, DtypeError, ShapeError, ShapeTypeError

_KIND_NAMES = {
    "b": "bool", "i": "signed integer", "u": "unsigned integer", "f": "floating", "c": "complex",
}  # fmt: skip


def check_dtype_kind(op: str, dtype: np.dtype, kinds: str, what: str = "operand") -> None:
    """Raise DtypeError unless ``dtype.kind`` is one of ``kinds`` (numpy kind letters)."""
    if dtype.kind not in kinds:
        allowed = ", ".join(_KIND_NAMES[k] for k in kinds)
        raise DtypeError(
            f"{op}: {what} has dtype {dtype}, but {op} accepts only {allowed} dtypes. Convert it "
            "first (x.astype(...)), or use the vfunc.numpy function, which promotes."
        )


def check_same_dtypes(op: str, *avals) -> np.dtype:
    """Raise DtypeError unless all operands share one dtype; return it."""
    first = avals[0].dtype
    if any(a.dtype != first for a in avals[1:]):
        seen = ", ".join(f"{a.dtype}{list(a.shape)}" for a in avals)
        raise DtypeError(
            f"{op}: operands must have the same dtype, got {seen}. vfunc.numpy.{op} and the "
            "operators promote automatically; with vfunc.lax convert one side with .astype()."
        )
    return first


def broadcast_shapes(op: str, *shapes: tuple[int, ...]) -> tuple[int, ...]:
    """NumPy broadcasting of ``shapes``; raises ShapeTypeError (as JAX, a TypeError; also a
    ValueError, as NumPy's) naming the op and every shape."""
    if all(s == shapes[0] for s in shapes[1:]):
        return shapes[0]
    ndim = max(len(s) for s in shapes)
    padded = [(1,) * (ndim - len(s)) + tuple(s) for s in shapes]
    out = []
    for axis, sizes in enumerate(zip(*padded, strict=True)):
        sizes_not_one = {d for d in sizes if d != 1}
        if len(sizes_not_one) > 1:
            shown = " and ".join(str(tuple(s)) for s in shapes)
            raise ShapeTypeError(
                f"{op}: shapes {shown} cannot be broadcast together (axis {axis - ndim} has "
                f"sizes {sorted(sizes_not_one)}). Sizes must match or be 1; reshape or "
                "expand_dims one operand to line the axes up."
            )
        out.append(sizes_not_one.pop() if sizes_not_one else 1)
    return tuple(out)


def normalize_axis(op: str, axis: int, ndim: int, what: str = "axis") -> int:
    """A non-negative axis; raises ShapeError (a ValueError) when out of range."""
    if not -ndim <= axis < ndim:
        valid = f"valid: {-ndim}..{ndim - 1}" if ndim else "a 0-d array has no axes"
        raise ShapeError(f"{op}: {what} {axis} is out of range for rank {ndim} ({valid})")
    return axis % ndim


def check_axes(op: str, ndim: int, axes: Sequence[int], what: str = "axes") -> tuple[int, ...]:
    """Validate sorted, unique, in-range, non-negative axes (the canonical form in params)."""
    axes = tuple(axes)
    for a in axes:
        if not isinstance(a, (int, np.integer)) or not 0 <= a < ndim:
            raise ShapeError(f"{op}: {what} {axes} out of range for rank {ndim}")
    if len(set(axes)) != len(axes):
        raise ShapeError(f"{op}: {what} {axes} contain duplicates")
    return axes


def check_shape(op: str, shape: Sequence[int], what: str = "shape") -> tuple[int, ...]:
    """A tuple of non-negative Python ints, or ShapeError naming the op."""
    try:
        out = tuple(int(d) for d in shape)
    except TypeError as err:
        # A TypeError as well, as in JAX: ``except TypeError`` around a shape built from a traced
        # value (``vnp.ones((n,))`` under jit) keeps working.
        hint = ""
        if isinstance(err, ConcretizationTypeError):
            hint = (
                "; a traced value cannot be a dimension: shapes must be known while tracing, so "
                "pass that argument in static_argnums/static_argnames"
            )
        raise ShapeTypeError(f"{op}: {what} must be a sequence of ints, got {shape!r}{hint}") from err
    if any(d < 0 for d in out):
        raise ShapeError(f"{op}: {what} {out} has a negative dimension")
    return out
