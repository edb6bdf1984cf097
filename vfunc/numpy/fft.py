"""``vfunc.numpy.fft``: discrete Fourier transforms with NumPy's and JAX's names and arguments.

Every transform binds the one ``fft`` primitive (``vfunc.primitives.fft``) over trailing axes:
the functions here pick the axes and lengths (``n``/``s``, ``axis``/``axes``), pad with zeros or
crop to them, move the axes last and back, and apply ``norm`` ("backward", the default: no
scaling forward and 1/N inverse; "ortho": 1/sqrt(N) both ways; "forward": 1/N forward). So
grad, vmap and jit work through all of them, with JAX's conventions for complex derivatives.

As in JAX, real input to ``fft`` becomes complex64 (complex128 with x64), integers are promoted
to the default float, and ``rfft`` of complex input raises TypeError (NumPy discards the
imaginary part with a warning).
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from vfunc import dtypes, lax
from vfunc.core import Array
from vfunc.errors import DtypeError
from vfunc.numpy._promote import as_array, convert
from vfunc.numpy.movement import roll
from vfunc.numpy.ufuncs import conjugate, divide, multiply
from vfunc.primitives._checks import normalize_axis
from vfunc.primitives.fft import fft_p

ArrayLike = Any
_NORMS = (None, "backward", "ortho", "forward")

__all__ = [
    "fft", "ifft", "rfft", "irfft", "hfft", "ihfft", "fft2", "ifft2", "rfft2", "irfft2",
    "fftn", "ifftn", "rfftn", "irfftn", "fftfreq", "rfftfreq", "fftshift", "ifftshift",
]  # fmt: skip


def _operand(a: ArrayLike, fft_type: str, name: str) -> Array:
    """``a`` in the dtype the transform takes: complex, or real float for rfft."""
    a = as_array(a, name)
    kind = a.dtype.kind
    if kind not in "biufc":
        raise DtypeError(f"{name}: unsupported dtype {a.dtype}")
    if fft_type == "rfft":
        if kind == "c":
            raise DtypeError(
                f"{name}: the input must be real, got {a.dtype}; use fft for complex input, or "
                "pass the real part (vnp.real(a))"
            )
        real = a.dtype if a.dtype in (dtypes.float32, dtypes.float64) else dtypes.default_float()
        return convert(a, dtypes.canonicalize(real))
    if kind == "c":
        return a
    wide = a.dtype == dtypes.float64
    return convert(a, dtypes.canonicalize(dtypes.complex128 if wide else dtypes.complex64))


def _resize(x: Array, axis: int, size: int) -> Array:
    """``x`` cropped or padded with zeros to ``size`` along ``axis``."""
    if x.shape[axis] == size:
        return x
    config = [(0, 0, 0)] * x.ndim
    config[axis] = (0, size - x.shape[axis], 0)
    return lax.pad(x, convert(0, x.dtype), config)


def _axes_and_lengths(name: str, x: Array, s: Sequence[int] | None, axes: Sequence[int] | None,
                      inverse_real: bool) -> tuple[tuple[int, ...], tuple[int, ...]]:  # fmt: skip
    if axes is None:
        axes = tuple(range(x.ndim)) if s is None else tuple(range(x.ndim - len(s), x.ndim))
    axes = tuple(normalize_axis(name, operator.index(ax), x.ndim) for ax in axes)
    if len(set(axes)) != len(axes):
        raise ValueError(f"{name}: axes {axes} repeat an axis; name each axis once")
    if not axes:
        raise ValueError(f"{name}: at least one axis must be transformed, got axes=()")
    if s is None:
        lengths = [x.shape[ax] for ax in axes]
        if inverse_real:
            lengths[-1] = 2 * (lengths[-1] - 1)
    else:
        lengths = [operator.index(n) for n in s]
        if len(lengths) != len(axes):
            raise ValueError(
                f"{name}: s {tuple(lengths)} and axes {axes} must have the same length"
            )
    if any(n < 1 for n in lengths):
        raise ValueError(
            f"{name}: invalid number of FFT data points {tuple(lengths)} for axes {axes}; every "
            "length must be at least 1 (for irfft of a length-1 axis, pass n)"
        )
    return axes, tuple(lengths)


def _scale(norm: str | None, n: int, inverse: bool) -> float | None:
    if norm not in _NORMS:
        raise ValueError(f'Invalid norm value {norm}; should be "backward", "ortho" or "forward".')
    if norm == "ortho":
        return float(np.sqrt(n)) if inverse else 1 / float(np.sqrt(n))
    if norm == "forward":
        return float(n) if inverse else 1 / n
    return None  # "backward": the primitive's own scaling


def _transform(name: str, fft_type: str, a: ArrayLike, s: Sequence[int] | None,
               axes: Sequence[int] | None, norm: str | None) -> Array:  # fmt: skip
    x = _operand(a, fft_type, name)
    inverse_real = fft_type == "irfft"
    axes, lengths = _axes_and_lengths(name, x, s, axes, inverse_real)
    factor = _scale(norm, int(np.prod(lengths)), fft_type in ("ifft", "irfft"))
    operand_lengths = lengths[:-1] + (lengths[-1] // 2 + 1,) if inverse_real else lengths
    for ax, size in zip(axes, operand_lengths, strict=True):
        x = _resize(x, ax, size)
    perm = tuple(i for i in range(x.ndim) if i not in axes) + axes
    moved = perm != tuple(range(x.ndim))
    if moved:
        x = lax.transpose(x, perm)
    y = fft_p.bind(x, fft_type=fft_type, fft_lengths=lengths)
    if moved:
        y = lax.transpose(y, tuple(int(i) for i in np.argsort(perm)))
    return y if factor is None else lax.mul(y, factor)


def _one_axis(n: int | None, axis: int) -> tuple[tuple[int, ...] | None, tuple[int]]:
    return (None if n is None else (n,)), (axis,)


def fft(a: ArrayLike, n: int | None = None, axis: int = -1, norm: str | None = None) -> Array:
    """The 1-D discrete Fourier transform along ``axis``, as ``numpy.fft.fft``: ``a`` is cropped
    or zero-padded to ``n`` first; ``norm`` is "backward" (default), "ortho" or "forward".

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.fft.fft(vnp.array([1.0, 2.0, 3.0, 4.0]))
        Array([10.+0.j, -2.+2.j, -2.+0.j, -2.-2.j], dtype=complex64)
    """
    return _transform("fft", "fft", a, *_one_axis(n, axis), norm)


def ifft(a: ArrayLike, n: int | None = None, axis: int = -1, norm: str | None = None) -> Array:
    """The 1-D inverse discrete Fourier transform, as ``numpy.fft.ifft`` (arguments as ``fft``).

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.fft.ifft(vnp.array([4.0, 0.0, 0.0, 0.0]))
        Array([1.+0.j, 1.+0.j, 1.+0.j, 1.+0.j], dtype=complex64)
    """
    return _transform("ifft", "ifft", a, *_one_axis(n, axis), norm)


def rfft(a: ArrayLike, n: int | None = None, axis: int = -1, norm: str | None = None) -> Array:
    """The 1-D transform of real input, its ``n // 2 + 1`` non-negative frequencies, as
    ``numpy.fft.rfft``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.fft.rfft(vnp.array([1.0, 2.0, 3.0, 4.0]))
        Array([10.+0.j, -2.+2.j, -2.+0.j], dtype=complex64)
    """
    return _transform("rfft", "rfft", a, *_one_axis(n, axis), norm)


def irfft(a: ArrayLike, n: int | None = None, axis: int = -1, norm: str | None = None) -> Array:
    """The inverse of ``rfft``: a real signal of length ``n`` (default ``2 * (m - 1)`` for ``m``
    input frequencies), as ``numpy.fft.irfft``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.fft.irfft(vnp.array([10.0, -2 + 2j, -2.0]))
        Array([1., 2., 3., 4.], dtype=float32)
    """
    return _transform("irfft", "irfft", a, *_one_axis(n, axis), norm)


def _swap(norm: str | None) -> str | None:
    _scale(norm, 1, False)  # validates
    return {None: "forward", "backward": "forward", "forward": "backward"}.get(norm, norm)


def hfft(a: ArrayLike, n: int | None = None, axis: int = -1, norm: str | None = None) -> Array:
    """The transform of a Hermitian-symmetric signal given by its first half: a real spectrum
    of length ``n`` (default ``2 * (m - 1)``), as ``numpy.fft.hfft``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.fft.hfft(vnp.array([1.0, 2.0, 3.0]))
        Array([ 8., -2.,  0., -2.], dtype=float32)
    """
    return irfft(conjugate(_operand(a, "hfft", "hfft")), n, axis, _swap(norm))


def ihfft(a: ArrayLike, n: int | None = None, axis: int = -1, norm: str | None = None) -> Array:
    """The inverse of ``hfft`` for a real signal, as ``numpy.fft.ihfft``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.fft.ihfft(vnp.array([8.0, -2.0, 0.0, -2.0]))
        Array([1.-0.j, 2.-0.j, 3.-0.j], dtype=complex64)
    """
    return conjugate(rfft(a, n, axis, _swap(norm)))


def fftn(a: ArrayLike, s: Sequence[int] | None = None, axes: Sequence[int] | None = None,
         norm: str | None = None) -> Array:  # fmt: skip
    """The N-D discrete Fourier transform over ``axes`` (default: all, or the last ``len(s)``),
    each cropped or padded to ``s``, as ``numpy.fft.fftn``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.fft.fftn(vnp.ones((2, 2)))
        Array([[4.+0.j, 0.+0.j],
               [0.+0.j, 0.+0.j]], dtype=complex64)
    """
    return _transform("fftn", "fft", a, s, axes, norm)


def ifftn(a: ArrayLike, s: Sequence[int] | None = None, axes: Sequence[int] | None = None,
          norm: str | None = None) -> Array:  # fmt: skip
    """The N-D inverse transform, as ``numpy.fft.ifftn`` (arguments as ``fftn``)."""
    return _transform("ifftn", "ifft", a, s, axes, norm)


def rfftn(a: ArrayLike, s: Sequence[int] | None = None, axes: Sequence[int] | None = None,
          norm: str | None = None) -> Array:  # fmt: skip
    """The N-D transform of real input (the last axis halved), as ``numpy.fft.rfftn``."""
    return _transform("rfftn", "rfft", a, s, axes, norm)


def irfftn(a: ArrayLike, s: Sequence[int] | None = None, axes: Sequence[int] | None = None,
           norm: str | None = None) -> Array:  # fmt: skip
    """The inverse of ``rfftn`` (``s`` the real output's lengths; the last defaults to
    ``2 * (m - 1)``), as ``numpy.fft.irfftn``."""
    return _transform("irfftn", "irfft", a, s, axes, norm)


def fft2(a: ArrayLike, s: Sequence[int] | None = None, axes: Sequence[int] = (-2, -1),
         norm: str | None = None) -> Array:  # fmt: skip
    """``fftn`` over the last two axes by default, as ``numpy.fft.fft2``."""
    return _transform("fft2", "fft", a, s, axes, norm)


def ifft2(a: ArrayLike, s: Sequence[int] | None = None, axes: Sequence[int] = (-2, -1),
          norm: str | None = None) -> Array:  # fmt: skip
    """``ifftn`` over the last two axes by default, as ``numpy.fft.ifft2``."""
    return _transform("ifft2", "ifft", a, s, axes, norm)


def rfft2(a: ArrayLike, s: Sequence[int] | None = None, axes: Sequence[int] = (-2, -1),
          norm: str | None = None) -> Array:  # fmt: skip
    """``rfftn`` over the last two axes by default, as ``numpy.fft.rfft2``."""
    return _transform("rfft2", "rfft", a, s, axes, norm)


def irfft2(a: ArrayLike, s: Sequence[int] | None = None, axes: Sequence[int] = (-2, -1),
           norm: str | None = None) -> Array:  # fmt: skip
    """``irfftn`` over the last two axes by default, as ``numpy.fft.irfft2``."""
    return _transform("irfft2", "irfft", a, s, axes, norm)


def _frequencies(name: str, k: np.ndarray, n: int, d: Any, dtype: Any) -> Array:
    if operator.index(n) < 1:
        raise ValueError(f"{name}: n must be a positive integer, got {n}")
    dtype = dtypes.default_float() if dtype is None else dtypes.canonicalize(dtype)
    if isinstance(d, (int, float)):
        return as_array((k / (d * n)).astype(dtype), name)
    return divide(convert(k, dtype), multiply(d, n))


def fftfreq(n: int, d: ArrayLike = 1.0, *, dtype: Any = None) -> Array:
    """The sample frequencies of ``fft`` for ``n`` samples spaced ``d`` apart (cycles per unit),
    as ``numpy.fft.fftfreq``; default float dtype.

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.fft.fftfreq(4)
        Array([ 0.  ,  0.25, -0.5 , -0.25], dtype=float32)
    """
    k = np.concatenate([np.arange(0, (n - 1) // 2 + 1), np.arange(-(n // 2), 0)])
    return _frequencies("fftfreq", k, n, d, dtype)


def rfftfreq(n: int, d: ArrayLike = 1.0, *, dtype: Any = None) -> Array:
    """The sample frequencies of ``rfft`` (the ``n // 2 + 1`` non-negative ones), as
    ``numpy.fft.rfftfreq``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.fft.rfftfreq(4)
        Array([0.  , 0.25, 0.5 ], dtype=float32)
    """
    return _frequencies("rfftfreq", np.arange(0, n // 2 + 1), n, d, dtype)


def _shift(name: str, x: ArrayLike, axes: int | Sequence[int] | None, sign: int) -> Array:
    x = as_array(x, name)
    if axes is None:
        axes = tuple(range(x.ndim))
    elif isinstance(axes, int):
        axes = (axes,)
    axes = tuple(normalize_axis(name, ax, x.ndim) for ax in axes)
    if not axes:
        return x
    return roll(x, tuple(sign * (x.shape[ax] // 2) for ax in axes), axes)


def fftshift(x: ArrayLike, axes: int | Sequence[int] | None = None) -> Array:
    """Move the zero frequency to the centre (roll each axis by half its size), as
    ``numpy.fft.fftshift``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.fft.fftshift(vnp.fft.fftfreq(4))
        Array([-0.5 , -0.25,  0.  ,  0.25], dtype=float32)
    """
    return _shift("fftshift", x, axes, 1)


def ifftshift(x: ArrayLike, axes: int | Sequence[int] | None = None) -> Array:
    """The inverse of ``fftshift`` (they differ for odd sizes), as ``numpy.fft.ifftshift``."""
    return _shift("ifftshift", x, axes, -1)
