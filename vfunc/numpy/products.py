"""``dot`` and ``matmul`` with NumPy semantics, both lowered to ``dot_general``, and ``cross``."""

from __future__ import annotations

from typing import Any

from vfunc import lax
from vfunc.core import Array
from vfunc.errors import ShapeError, ShapeTypeError
from vfunc.numpy._promote import promote_args
from vfunc.numpy.movement import moveaxis, stack
from vfunc.numpy.ufuncs import broadcast_arrays, multiply, subtract
from vfunc.primitives._checks import broadcast_shapes

ArrayLike = Any


def dot(a: ArrayLike, b: ArrayLike) -> Array:
    """``numpy.dot``: scalar product for 0-d, inner product for vectors, matrix product for
    matrices, and for N-d the sum over ``a``'s last axis and ``b``'s second-to-last.

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.dot(vnp.ones((2, 3)), vnp.ones(3))
        Array([3., 3.], dtype=float32)
    """
    a, b = promote_args(a, b)
    if a.ndim == 0 or b.ndim == 0:
        return multiply(a, b)
    rhs_axis = 0 if b.ndim == 1 else b.ndim - 2
    _check_contraction("dot", a, b, a.ndim - 1, rhs_axis)
    return lax.dot_general(a, b, (((a.ndim - 1,), (rhs_axis,)), ((), ())))


def matmul(a: ArrayLike, b: ArrayLike) -> Array:
    """``numpy.matmul`` (``a @ b``): matrix product over the last two axes, broadcasting the
    leading (batch) axes; 1-D operands are treated as a row or column vector."""
    a, b = promote_args(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(
            f"matmul: operands must be at least 1-D, got shapes {a.shape} and {b.shape}; use "
            "multiply (*) for scalars"
        )
    # Check before 1-D operands become matrices, so errors name the shapes the caller passed.
    _check_contraction("matmul", a, b, a.ndim - 1, max(b.ndim - 2, 0))
    shapes = (a.shape, b.shape)
    a_vec, b_vec = a.ndim == 1, b.ndim == 1
    if a_vec:
        a = lax.expand_dims(a, (0,))
    if b_vec:
        b = lax.expand_dims(b, (1,))
    try:
        batch = broadcast_shapes("matmul", a.shape[:-2], b.shape[:-2])
    except ShapeError as err:
        raise ShapeError(
            f"matmul: shapes {shapes[0]} and {shapes[1]} cannot be multiplied: their batch axes "
            f"(all but the last two), {a.shape[:-2]} and {b.shape[:-2]}, cannot be broadcast "
            "together. Sizes must match or be 1."
        ) from err
    nb = len(batch)
    a = lax.broadcast_in_dim(a, batch + a.shape[-2:], tuple(range(nb + 2 - a.ndim, nb + 2)))
    b = lax.broadcast_in_dim(b, batch + b.shape[-2:], tuple(range(nb + 2 - b.ndim, nb + 2)))
    batch_dims = tuple(range(nb))
    out = lax.dot_general(a, b, (((nb + 1,), (nb,)), (batch_dims, batch_dims)))
    drop = ((nb,) if a_vec else ()) + ((out.ndim - 1,) if b_vec else ())
    return lax.squeeze(out, drop) if drop else out


def _check_contraction(op: str, a: Array, b: Array, a_axis: int, b_axis: int) -> None:
    if a.shape[a_axis] != b.shape[b_axis]:
        raise ShapeTypeError(  # a TypeError, as JAX's
            f"{op}: shapes {a.shape} and {b.shape} are not aligned: axis {a_axis} of the first "
            f"has size {a.shape[a_axis]} but axis {b_axis} of the second has size "
            f"{b.shape[b_axis]}"
        )


def cross(a: ArrayLike, b: ArrayLike, axisa: int = -1, axisb: int = -1, axisc: int = -1,
          axis: int | None = None) -> Array:  # fmt: skip
    """The cross product of 3-vectors (or 2-vectors, taken with a zero z component) along
    ``axisa``/``axisb``, the result's vectors along ``axisc``, as ``numpy.cross``; ``axis``
    sets all three. Two 2-vectors give the z component alone (one axis fewer)."""
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = promote_args(a, b)
    a, b = moveaxis(a, axisa, -1), moveaxis(b, axisb, -1)
    if a.shape[-1] not in (2, 3) or b.shape[-1] not in (2, 3):
        raise ShapeError(
            f"cross: vectors must have 2 or 3 components, got a {a.shape} and b {b.shape} along "
            f"axisa={axisa}, axisb={axisb}"
        )

    def parts(v: Array) -> list[Any]:
        return [v[..., i] for i in range(v.shape[-1])] + [0.0] * (3 - v.shape[-1])

    (a0, a1, a2), (b0, b1, b2) = parts(a), parts(b)
    z = subtract(multiply(a0, b1), multiply(a1, b0))
    if a.shape[-1] == b.shape[-1] == 2:
        return z
    x = subtract(multiply(a1, b2), multiply(a2, b1))
    y = subtract(multiply(a2, b0), multiply(a0, b2))
    return moveaxis(stack(broadcast_arrays(x, y, z), -1), -1, axisc)


def _signal_operands(op: str, a: ArrayLike, v: ArrayLike, mode: str) -> tuple[Array, Array]:
    if mode not in ("full", "same", "valid"):
        raise ValueError(f"{op}: mode must be 'full', 'same' or 'valid', got {mode!r}")
    a, v = promote_args(a, v, inexact=True)
    if a.ndim != 1 or v.ndim != 1 or a.shape[0] == 0 or v.shape[0] == 0:
        raise ShapeError(f"{op}: needs two non-empty 1-D arrays, got {a.shape} and {v.shape}")
    return a, v


def _correlate_longer(a: Array, v: Array, mode: str) -> Array:
    # sum_n a[n + k] v[n] with len(a) >= len(v): one 1-D convolution primitive (a
    # cross-correlation, as XLA's) over every overlap, then NumPy's window for ``mode``
    n, m = a.shape[0], v.shape[0]
    full = lax.conv_general_dilated(a.reshape(1, 1, n), v.reshape(1, 1, m), (1,),
                                    [(m - 1, m - 1)]).reshape(n + m - 1)  # fmt: skip
    if mode == "full":
        return full
    start, size = ((m - 1) // 2, n) if mode == "same" else (m - 1, n - m + 1)
    return full[start : start + size]


def correlate(a: ArrayLike, v: ArrayLike, mode: str = "valid", *, precision: Any = None,
              preferred_element_type: Any = None) -> Array:  # fmt: skip
    """Cross-correlation of two 1-D arrays, ``c[k] = sum_n a[n + k] v[n]``, as
    ``numpy.correlate`` (``mode``: 'valid' (default), 'same' or 'full'). Real inputs only;
    ``precision`` and ``preferred_element_type`` are accepted for JAX compatibility."""
    del precision, preferred_element_type
    a, v = _signal_operands("correlate", a, v, mode)
    if v.shape[0] > a.shape[0]:  # NumPy swaps the operands and reverses the result
        return _correlate_longer(v, a, mode)[::-1]
    return _correlate_longer(a, v, mode)


def convolve(a: ArrayLike, v: ArrayLike, mode: str = "full", *, precision: Any = None,
             preferred_element_type: Any = None) -> Array:  # fmt: skip
    """Discrete linear convolution of two 1-D arrays, as ``numpy.convolve`` (``mode``: 'full'
    (default), 'same' or 'valid'). Real inputs only.

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.convolve(vnp.array([1.0, 2.0, 3.0]), vnp.array([0.0, 1.0, 0.5]))
        Array([0. , 1. , 2.5, 4. , 1.5], dtype=float32)
    """
    del precision, preferred_element_type
    a, v = _signal_operands("convolve", a, v, mode)
    if v.shape[0] > a.shape[0]:  # convolution commutes; the longer operand slides
        a, v = v, a
    return _correlate_longer(a, v[::-1], mode)
