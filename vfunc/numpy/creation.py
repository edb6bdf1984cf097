"""Array creation: array/asarray, zeros/ones/full (+ _like), arange, linspace, eye.

Filled arrays are a broadcast scalar (a zero-copy numpy view when eager, one
``broadcast_in_dim`` equation when staged). ``arange``, ``linspace`` and ``eye`` need concrete
arguments, as in JAX, and produce constants.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from vfunc import dtypes, lax
from vfunc.core import Array, ArrayImpl, Tracer, to_numpy_canonical, wrap_numpy
from vfunc.numpy._promote import as_array, convert, typed
from vfunc.primitives._checks import check_shape

ArrayLike = Any
DTypeLike = Any
Shape = int | Sequence[int]


def _shape(op: str, shape: Shape) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        return check_shape(op, (operator.index(shape),))
    return check_shape(op, shape)


def array(object: Any, dtype: DTypeLike | None = None, copy: bool = True, ndmin: int = 0) -> Array:  # noqa: A002
    """Create an Array from an array-like (nested lists, numpy arrays, scalars, Arrays).

    Python scalars give weakly typed arrays; 64-bit numpy data narrows to 32 bits unless x64 is
    enabled. The data is always copied from numpy inputs, so later writes to them do not leak in.
    Nested lists may hold traced values (under ``grad``, ``jit``, ``vmap``): they are promoted
    to one dtype and stacked, as in JAX.

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.array([1, 2, 3])
        Array([1, 2, 3], dtype=int32)
    """
    del copy  # Arrays are immutable: sharing is always safe, copying numpy input always needed
    if isinstance(object, Array):
        out = object if dtype is None else convert(object, dtypes.canonicalize(dtype))
    elif dtype is not None:
        out = as_array(object, "array")
        if isinstance(out, Tracer):  # a nested list of traced values, stacked
            out = convert(out, dtypes.canonicalize(dtype))
        else:
            out = wrap_numpy(to_numpy_canonical(out, dtype)[0])
    else:
        out = as_array(object, "array")
    if out.ndim < ndmin:
        out = lax.expand_dims(out, tuple(range(ndmin - out.ndim)))
    return out


def asarray(a: Any, dtype: DTypeLike | None = None) -> Array:
    """Convert ``a`` to an Array, without copying when it already is one of that dtype."""
    return array(a, dtype=dtype)


def full(shape: Shape, fill_value: ArrayLike, dtype: DTypeLike | None = None) -> Array:
    """An array of ``shape`` filled with ``fill_value`` (a scalar, or an array broadcast
    against ``shape``). ``dtype`` defaults to the fill value's (strong) dtype."""
    shape = _shape("full", shape)
    target = dtypes.canonicalize(dtype) if dtype is not None else typed(fill_value)[0]
    value = convert(fill_value, target)
    if value.ndim > len(shape):
        raise ValueError(f"full: fill_value of shape {value.shape} does not fit shape {shape}")
    return lax.broadcast_in_dim(value, shape, tuple(range(len(shape) - value.ndim, len(shape))))


def zeros(shape: Shape, dtype: DTypeLike | None = None) -> Array:
    """An array of zeros (default dtype: the default float)."""
    return full(shape, 0, dtype if dtype is not None else dtypes.default_float())


def ones(shape: Shape, dtype: DTypeLike | None = None) -> Array:
    """An array of ones (default dtype: the default float)."""
    return full(shape, 1, dtype if dtype is not None else dtypes.default_float())


empty = zeros  # vfunc arrays are immutable, so an "uninitialized" array is a zero array


def full_like(
    a: ArrayLike, fill_value: ArrayLike, dtype: DTypeLike | None = None, shape: Shape | None = None
) -> Array:
    """An array like ``a`` (its shape and dtype unless overridden) filled with ``fill_value``.

    Keeps ``a``'s weak type when ``dtype`` is not given, as JAX does.
    """
    a = a if isinstance(a, Array) else as_array(a, "full_like")
    target = dtypes.canonicalize(dtype) if dtype is not None else a.dtype
    out = full(a.shape if shape is None else shape, fill_value, target)
    if dtype is None and a.weak_type:
        out = convert(out, target, weak=True)
    return out


def zeros_like(a: ArrayLike, dtype: DTypeLike | None = None, shape: Shape | None = None) -> Array:
    """Zeros with the shape and dtype of ``a`` (``a`` may be traced: only its shape is used)."""
    return full_like(a, 0, dtype, shape)


def ones_like(a: ArrayLike, dtype: DTypeLike | None = None, shape: Shape | None = None) -> Array:
    """Ones with the shape and dtype of ``a``."""
    return full_like(a, 1, dtype, shape)


empty_like = zeros_like


def _concrete(value: Any, op: str, name: str) -> Any:
    if isinstance(value, Tracer):
        return value._trace.concretize(value, f"{op}({name}=...)")
    if isinstance(value, ArrayImpl):
        return value.item()
    return value


def arange(
    start: ArrayLike,
    stop: ArrayLike | None = None,
    step: ArrayLike | None = None,
    dtype: DTypeLike | None = None,
) -> Array:
    """Evenly spaced values in ``[start, stop)``, as ``numpy.arange``.

    The arguments must be concrete (the length of the result depends on them). Integer arguments
    give the default int dtype, float arguments the default float.

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.arange(3)
        Array([0, 1, 2], dtype=int32)
    """
    start = _concrete(start, "arange", "start")
    stop = _concrete(stop, "arange", "stop")
    step = _concrete(step, "arange", "step")
    given = [v for v in (start, stop, step) if v is not None]
    target = dtypes.canonicalize(dtype) if dtype is not None else dtypes.promote(
        *[(dtypes.canonicalize(np.asarray(v).dtype), False) if not isinstance(v, (int, float))
          else (dtypes.scalar_dtype(v), False) for v in given])[0]  # fmt: skip
    if stop is None and step is None and dtypes.is_int(target):
        return lax.iota(target, max(int(start), 0))  # staged as iota, not as a constant
    values = np.arange(start, stop, step) if step is not None else np.arange(start, stop)
    return wrap_numpy(values.astype(target))


def linspace(
    start: ArrayLike,
    stop: ArrayLike,
    num: int = 50,
    endpoint: bool = True,
    retstep: bool = False,
    dtype: DTypeLike | None = None,
    axis: int = 0,
) -> Array | tuple[Array, Array]:
    """``num`` evenly spaced samples from ``start`` to ``stop``, as ``numpy.linspace``.

    Concrete ends are computed in float64 by numpy, then converted, which keeps them exact;
    traced ends (under ``grad``, ``jit``, ``vmap``) give ``start * (1 - t) + stop * t`` for
    the sample fractions ``t``, differentiable in both, with the ends still exact.

    Example:
        >>> import vfunc
        >>> vfunc.grad(lambda a: linspace(a, 3.0, 5)[1])(1.0)
        Array(0.75, dtype=float32, weak_type=True)
    """
    num = operator.index(num)
    if num < 0:
        raise ValueError(f"linspace: num must be non-negative, got {num}")
    target = dtypes.canonicalize(dtype) if dtype is not None else dtypes.promote(
        typed(start), typed(stop), (dtypes.default_float(), False))[0]  # fmt: skip
    if isinstance(start, Tracer) or isinstance(stop, Tracer):
        return _traced_linspace(start, stop, num, endpoint, retstep, target, axis)
    start_v = np.asarray(start)
    stop_v = np.asarray(stop)
    values, step = np.linspace(start_v, stop_v, num, endpoint=endpoint, retstep=True, axis=axis)
    out = wrap_numpy(values.astype(target))
    if retstep:
        return out, wrap_numpy(np.asarray(step).astype(target))
    return out


def _traced_linspace(start, stop, num, endpoint, retstep, target, axis):
    inexact = target if target.kind in "fc" else dtypes.default_float()
    lo, hi = convert(start, inexact), convert(stop, inexact)
    shape = np.broadcast_shapes(lo.shape, hi.shape)
    lo, hi = (lax.broadcast_in_dim(v, shape, tuple(range(len(shape) - v.ndim, len(shape))))
              for v in (lo, hi))  # fmt: skip
    div = (num - 1 if endpoint else num) or 1
    axis = axis % (len(shape) + 1)
    fraction = (np.arange(num, dtype=np.float64) / div).reshape((-1,) + (1,) * (len(shape) - axis))
    t = wrap_numpy(fraction.astype(inexact))
    lo, hi = lax.expand_dims(lo, (axis,)), lax.expand_dims(hi, (axis,))
    out = lo * (1 - t) + hi * t
    out = out if out.dtype == target else convert(out, target)
    if retstep:
        return out, convert((hi - lo) / div, inexact).reshape(shape)
    return out


def eye(N: int, M: int | None = None, k: int = 0, dtype: DTypeLike | None = None) -> Array:  # noqa: N803
    """A 2-D array with ones on diagonal ``k`` and zeros elsewhere (default dtype float)."""
    target = dtypes.canonicalize(dtype) if dtype is not None else dtypes.default_float()
    return wrap_numpy(np.eye(operator.index(N), None if M is None else operator.index(M),
                             operator.index(k), dtype=target))  # fmt: skip
