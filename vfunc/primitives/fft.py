"""The discrete Fourier transform as one primitive, ``fft``, over the trailing axes (as XLA's).

``fft_type`` picks the transform: ``"fft"`` and ``"ifft"`` (complex to complex; ``ifft``
includes the 1/N), ``"rfft"`` (real to the non-negative frequencies, the last axis becoming
``n // 2 + 1``) and ``"irfft"`` (its inverse, given the real lengths). ``fft_lengths`` are the
sizes of the transformed trailing axes of the real side. numpy's pocketfft computes it, in the
operand's precision. ``vfunc.numpy.fft`` moves axes, pads, crops and scales around it.

Every transform is linear, so forward mode applies it to the tangent, and its VJP is JAX's
transpose (no conjugation of the cotangent): the complex transforms are symmetric matrices, so
each is its own transpose; the real ones go through the full complex transform.
"""

from __future__ import annotations

import math

import numpy as np

import vfunc.primitives.builders as lax  # used at call time: the import cycle resolves by then
from vfunc.core import Primitive, ShapedArray, wrap_numpy
from vfunc.devices import array_module
from vfunc.errors import ShapeError
from vfunc.primitives._batching import move_axis
from vfunc.primitives._checks import check_dtype_kind

FFT_TYPES = ("fft", "ifft", "rfft", "irfft")


def _complex_of(dtype: np.dtype) -> np.dtype:
    return np.dtype(np.complex128 if dtype in (np.float64, np.complex128) else np.complex64)


def _real_of(dtype: np.dtype) -> np.dtype:
    return np.dtype(np.float64 if dtype == np.complex128 else np.float32)


def _operand_lengths(fft_type: str, fft_lengths: tuple[int, ...]) -> tuple[int, ...]:
    """The trailing sizes the operand must have."""
    if fft_type == "irfft":
        return fft_lengths[:-1] + (fft_lengths[-1] // 2 + 1,)
    return fft_lengths


def _fft_shape(x: ShapedArray, *, fft_type: str, fft_lengths: tuple[int, ...]) -> ShapedArray:
    if fft_type not in FFT_TYPES:
        raise ValueError(f"fft: fft_type must be one of {FFT_TYPES}, got {fft_type!r}")
    k = len(fft_lengths)
    if not 1 <= k <= x.ndim or any(n < 0 for n in fft_lengths):
        raise ShapeError(
            f"fft: fft_lengths {fft_lengths} must name 1 to {x.ndim} non-negative sizes of the "
            f"trailing axes of the operand (shape {x.shape})"
        )
    check_dtype_kind("fft", x.dtype, "f" if fft_type == "rfft" else "c")
    want = _operand_lengths(fft_type, fft_lengths)
    if x.shape[x.ndim - k :] != want:
        raise ShapeError(
            f"fft: {fft_type} with fft_lengths {fft_lengths} needs trailing axes of sizes {want}, "
            f"got an operand of shape {x.shape}; vfunc.numpy.fft pads or crops to n for you"
        )
    lead = x.shape[: x.ndim - k]
    if fft_type == "rfft":
        return ShapedArray(lead + fft_lengths[:-1] + (fft_lengths[-1] // 2 + 1,),
                           _complex_of(x.dtype))  # fmt: skip
    if fft_type == "irfft":
        return ShapedArray(lead + fft_lengths, _real_of(x.dtype))
    return ShapedArray(x.shape, x.dtype)


def _fft_impl(x: np.ndarray, *, fft_type: str, fft_lengths: tuple[int, ...]) -> np.ndarray:
    out = _fft_shape(ShapedArray(x.shape, x.dtype), fft_type=fft_type, fft_lengths=fft_lengths)
    if 0 in fft_lengths or x.size == 0:
        # pocketfft refuses empty transforms; the zeros are made beside x (a device buffer too)
        return array_module(x).zeros(out.shape, out.dtype)
    axes = tuple(range(x.ndim - len(fft_lengths), x.ndim))
    if fft_type == "fft":
        y = np.fft.fftn(x, axes=axes)
    elif fft_type == "ifft":
        y = np.fft.ifftn(x, axes=axes)
    elif fft_type == "rfft":
        y = np.fft.rfftn(x, axes=axes)
    else:
        y = np.fft.irfftn(x, s=fft_lengths, axes=axes)
    return y.astype(out.dtype, copy=False)


def _rfft_vjp(g, fft_lengths: tuple[int, ...]):
    # rfft is the full complex FFT of x (as complex) with the negative frequencies dropped:
    # its transpose pads the cotangent back with zeros, applies the (symmetric) full FFT and
    # keeps the real part (the transpose of making x complex).
    n = fft_lengths[-1]
    config = [(0, 0, 0)] * (g.ndim - 1) + [(0, n - g.shape[-1], 0)]
    full = lax.pad(g, wrap_numpy(np.zeros((), g.dtype)), config)
    return lax.real(fft_p.bind(full, fft_type="fft", fft_lengths=fft_lengths))


def _irfft_vjp(g, fft_lengths: tuple[int, ...]):
    # irfft(Y) = (1/N) * (the full inverse FFT of Y extended by Hermitian symmetry): each
    # frequency strictly between 0 and Nyquist appears twice there, hence the weights 1, 2, .., 2
    # (and 1 for the Nyquist term when n is even); conj makes it JAX's (unconjugated) transpose.
    y = fft_p.bind(g, fft_type="rfft", fft_lengths=fft_lengths)
    n, m = fft_lengths[-1], y.shape[-1]
    weights = np.full(m, 2.0)
    weights[0] = 1.0
    if n % 2 == 0:
        weights[-1] = 1.0
    weights /= math.prod(fft_lengths)
    return lax.conj(lax.mul(y, wrap_numpy(weights.astype(y.dtype))))


def _fft_vjp(g, x, *, out, fft_type, fft_lengths):
    del x, out
    if fft_type in ("fft", "ifft"):
        return (fft_p.bind(g, fft_type=fft_type, fft_lengths=fft_lengths),)
    if fft_type == "rfft":
        return (_rfft_vjp(g, fft_lengths),)
    return (_irfft_vjp(g, fft_lengths),)


def _fft_batch(args, dims, *, fft_type, fft_lengths):
    (x,), (d,) = args, dims
    if d >= x.ndim - len(fft_lengths):  # the batch axis sits among the transformed ones
        x, d = move_axis(x, d, 0), 0
    return fft_p.bind(x, fft_type=fft_type, fft_lengths=fft_lengths), d


fft_p = Primitive(
    "fft",
    _fft_impl,
    _fft_shape,
    vjp=_fft_vjp,
    linear=(0,),
    batch=_fft_batch,
)
