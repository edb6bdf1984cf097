"""The rest of NumPy's elementwise math, as compositions of existing primitives (so ``grad``,
``vmap`` and ``jit`` need no new rules): ``cbrt, copysign, signbit, fmod, float_power,
heaviside, rint, trunc, ldexp, frexp, modf, divmod, gcd, lcm, i0, nextafter, spacing, unwrap,
sort_complex, bitwise_count``, and the window functions ``bartlett, blackman, hamming, hanning,
kaiser``.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from vfunc import dtypes, lax
from vfunc.control_flow import while_loop
from vfunc.core import Array
from vfunc.numpy._promote import as_array, convert, promote_args
from vfunc.numpy.creation import arange, full_like
from vfunc.numpy.movement import cumsum, diff
from vfunc.numpy.reductions import any as any_
from vfunc.numpy.ufuncs import (
    abs,
    arctan2,
    bitwise_and,
    ceil,
    cos,
    equal,
    exp2,
    floor,
    floor_divide,
    greater,
    isinf,
    isnan,
    less,
    log2,
    logical_and,
    logical_or,
    maximum,
    negative,
    not_equal,
    power,
    remainder,
    right_shift,
    sign,
    where,
)
from vfunc.primitives.special import i0e_p

ArrayLike = Any


def _inexact(op: str, *args: ArrayLike) -> list[Array]:
    return promote_args(*(as_array(a, op) for a in args), inexact=True)


def cbrt(x: ArrayLike, /) -> Array:
    """The real cube root, negative for negative ``x`` (integers give the default float)."""
    (v,) = _inexact("cbrt", x)
    return sign(v) * power(abs(v), 1.0 / 3.0)


def signbit(x: ArrayLike, /) -> Array:
    """Whether the sign bit is set: True for negative numbers and ``-0.0``.

    Differs from NumPy: a NaN's sign bit is not inspected (False), as no primitive reads bits.
    """
    v = as_array(x, "signbit")
    if v.dtype.kind in "bu":
        return lax.broadcast_in_dim(lax.as_array(np.asarray(False)), v.shape, ())
    if v.dtype.kind == "i":
        return less(v, 0)
    # atan2(-0.0, -1) is -pi and atan2(+0.0, -1) is +pi: the one way to see the sign of a zero.
    zero_sign = less(arctan2(v, -1.0), 0)
    return where(equal(v, 0), zero_sign, less(v, 0))


def copysign(x1: ArrayLike, x2: ArrayLike, /) -> Array:
    """``|x1|`` with the sign of ``x2`` (``-0.0`` counts as negative)."""
    a, b = _inexact("copysign", x1, x2)
    return where(signbit(b), negative(abs(a)), abs(a))


def fmod(x1: ArrayLike, x2: ArrayLike, /) -> Array:
    """C's ``fmod``: the remainder with the sign of the dividend ``x1`` (``remainder`` takes
    the divisor's)."""
    a, b = promote_args(as_array(x1, "fmod"), as_array(x2, "fmod"))
    r = remainder(a, b)
    differs = logical_and(not_equal(r, 0), not_equal(less(r, 0), less(a, 0)))
    return where(differs, r - b, r)


def float_power(x: ArrayLike, y: ArrayLike, /) -> Array:
    """``x ** y`` computed in the widest float available (float64 with x64, else float32)."""
    a, b = _inexact("float_power", x, y)
    target = dtypes.default_complex() if a.dtype.kind == "c" else dtypes.default_float()
    return power(convert(a, target), convert(b, target))


def heaviside(x1: ArrayLike, x2: ArrayLike, /) -> Array:
    """The step function: 0 below zero, ``x2`` at zero, 1 above."""
    a, b = _inexact("heaviside", x1, x2)
    return where(less(a, 0), 0, where(greater(a, 0), 1, b))


def rint(x: ArrayLike, /) -> Array:
    """Round to the nearest integer, halves to even (integers give the default float)."""
    (v,) = _inexact("rint", x)
    if v.dtype.kind == "c":
        return lax.complex(rint(lax.real(v)), rint(lax.imag(v)))
    return lax.round(v, lax.ROUND_TO_NEAREST_EVEN)


def trunc(x: ArrayLike, /) -> Array:
    """Round toward zero (integers unchanged)."""
    v = as_array(x, "trunc")
    if v.dtype.kind in "biu":
        return v
    return where(less(v, 0), ceil(v), floor(v))


def ldexp(x1: ArrayLike, x2: ArrayLike, /) -> Array:
    """``x1 * 2 ** x2`` for integer exponents ``x2``."""
    e = as_array(x2, "ldexp")
    if e.dtype.kind not in "biu":
        raise TypeError(f"ldexp: the exponent x2 must be an integer array, got {e.dtype}")
    (m,) = _inexact("ldexp", x1)
    return m * exp2(convert(e, m.dtype))


def frexp(x: ArrayLike, /) -> tuple[Array, Array]:
    """Mantissa in ``[0.5, 1)`` (by magnitude) and integer exponent with ``x = m * 2 ** e``;
    zero, inf and NaN give ``(x, 0)``."""
    (v,) = _inexact("frexp", x)
    if v.dtype.kind == "c":
        raise TypeError("frexp: complex input is not supported")
    special = logical_or(logical_or(equal(v, 0), isinf(v)), isnan(v))
    safe = where(special, 1, abs(v))
    e = floor(log2(safe)) + 1
    m = safe / exp2(e)
    # log2 may round across a power of two; one correction step each way makes it exact.
    e = where(m >= 1, e + 1, where(m < 0.5, e - 1, e))
    m = safe / exp2(e)
    mantissa = where(special, v, where(less(v, 0), negative(m), m))
    return mantissa, convert(where(special, 0, e), dtypes.int32)


def modf(x: ArrayLike, /, out: None = None) -> tuple[Array, Array]:
    """Fractional and integral parts, both with the sign of ``x``."""
    if out is not None:
        raise TypeError("modf: out=... is not supported; vfunc arrays are immutable")
    (v,) = _inexact("modf", x)
    whole = trunc(v)
    return v - whole, whole


def divmod(x1: ArrayLike, x2: ArrayLike, /) -> tuple[Array, Array]:  # noqa: A001
    """``(floor_divide(x1, x2), remainder(x1, x2))``."""
    return floor_divide(x1, x2), remainder(x1, x2)


def _integers(op: str, x1: ArrayLike, x2: ArrayLike) -> tuple[Array, Array]:
    a, b = promote_args(as_array(x1, op), as_array(x2, op))
    if a.dtype.kind not in "iu":
        raise TypeError(f"{op}: needs integer arrays, got {a.dtype}")
    a, b = (
        lax.broadcast_in_dim(a, _shape(a, b), _dims(a, b)),
        lax.broadcast_in_dim(b, _shape(a, b), _dims(b, a)),
    )
    return a, b


def _shape(a: Array, b: Array) -> tuple[int, ...]:
    return tuple(np.broadcast_shapes(a.shape, b.shape))


def _dims(a: Array, b: Array) -> tuple[int, ...]:
    rank = len(_shape(a, b))
    return tuple(range(rank - a.ndim, rank))


def gcd(x1: ArrayLike, x2: ArrayLike) -> Array:
    """Greatest common divisor of integers (non-negative; ``gcd(0, 0) == 0``), by Euclid's
    algorithm in a ``while_loop``."""
    a, b = _integers("gcd", x1, x2)

    def step(ab: tuple[Array, Array]) -> tuple[Array, Array]:
        u, v = ab
        nonzero = not_equal(v, 0)
        return where(nonzero, v, u), where(nonzero, remainder(u, where(nonzero, v, 1)), 0)

    u, _ = while_loop(lambda ab: any_(not_equal(ab[1], 0)), step, (abs(a), abs(b)))
    return u


def lcm(x1: ArrayLike, x2: ArrayLike) -> Array:
    """Least common multiple of integers (non-negative; 0 if either is 0)."""
    a, b = _integers("lcm", x1, x2)
    g = gcd(a, b)
    zero = equal(g, 0)
    return where(zero, 0, abs(floor_divide(a, where(zero, 1, g)) * b))


def i0(x: ArrayLike) -> Array:
    """The modified Bessel function of the first kind, order zero."""
    (v,) = _inexact("i0", x)
    return lax.mul(lax.exp(lax.abs(v)), i0e_p.bind(v))


def nextafter(x1: ArrayLike, x2: ArrayLike, /) -> Array:
    """The next float after ``x1`` toward ``x2``."""
    a, b = _inexact("nextafter", x1, x2)
    return lax.nextafter(a, b)


def spacing(x: ArrayLike, /) -> Array:
    """The distance from ``x`` to the next float away from zero (negative for negative ``x``)."""
    (v,) = _inexact("spacing", x)
    away = where(less(v, 0), -np.inf, np.inf)
    return lax.nextafter(v, lax.convert_element_type(away, v.dtype)) - v


def unwrap(
    p: ArrayLike, discont: ArrayLike | None = None, axis: int = -1, period: ArrayLike = 2 * np.pi
) -> Array:
    """Unwrap phase angles along ``axis``: jumps larger than ``max(discont, period / 2)`` are
    replaced by their value modulo ``period``."""
    (v,) = _inexact("unwrap", p)
    axis = operator.index(axis) % max(v.ndim, 1)
    per = convert(as_array(period, "unwrap"), v.dtype)
    half = lax.div(per, 2.0)
    bound = half if discont is None else lax.max(convert(as_array(discont), v.dtype), half)
    d = diff(v, axis=axis)
    # Each step mapped into [-period/2, period/2), with +period/2 kept for positive steps.
    dd = remainder(d + half, per) - half
    dd = where(logical_and(equal(dd, -half), greater(d, 0)), half, dd)
    correction = where(less(abs(d), bound), 0, dd - d)
    pad = [(0, 0, 0)] * v.ndim
    pad[axis] = (1, 0, 0)
    zero = lax.as_array(np.zeros((), v.dtype))
    return v + lax.pad(cumsum(correction, axis=axis), zero, pad)


def sort_complex(a: ArrayLike) -> Array:
    """Sort along the last axis by real part, then imaginary part; the result is complex."""
    v = as_array(a, "sort_complex")
    if v.dtype.kind != "c":
        v = convert(v, dtypes.default_complex() if v.dtype.kind in "biu" or v.dtype.itemsize == 8
                    else dtypes.canonicalize(np.complex64))  # fmt: skip
    re, im = lax.sort([lax.real(v), lax.imag(v)], v.ndim - 1, num_keys=2)
    return lax.complex(re, im)


def bitwise_count(x: ArrayLike, /) -> Array:
    """The number of 1 bits in ``|x|`` (uint8), as ``numpy.bitwise_count``."""
    v = as_array(x, "bitwise_count")
    if v.dtype.kind not in "biu":
        raise TypeError(f"bitwise_count: needs an integer or bool array, got {v.dtype}")
    if v.dtype.kind == "b":
        return convert(v, dtypes.uint8)
    m = abs(v) if v.dtype.kind == "i" else v
    total = lax.broadcast_in_dim(lax.as_array(np.asarray(0, m.dtype)), m.shape, ())
    for bit in range(m.dtype.itemsize * 8):
        total = total + bitwise_and(right_shift(m, bit), 1)
    return convert(total, dtypes.uint8)


# ---------------------------------------------------------------------------------- windows


def _window_points(m: int) -> Array:
    return arange(m, dtype=dtypes.default_float())


def _check_m(op: str, m: int) -> int:
    del op
    return max(operator.index(m), 0)  # as NumPy: a non-positive M gives an empty window


def _cosine_window(op: str, m: int, coeffs: tuple[float, ...]) -> Array:
    m = _check_m(op, m)
    if m <= 1:
        return lax.as_array(np.ones(m, dtypes.default_float()))
    n = _window_points(m)
    out = full_like(n, coeffs[0])
    for k, c in enumerate(coeffs[1:], start=1):
        out = out + c * cos(2 * np.pi * k * n / (m - 1))
    return out


def hanning(M: int) -> Array:  # noqa: N803
    """The Hann window of ``M`` points."""
    return _cosine_window("hanning", M, (0.5, -0.5))


def hamming(M: int) -> Array:  # noqa: N803
    """The Hamming window of ``M`` points."""
    return _cosine_window("hamming", M, (0.54, -0.46))


def blackman(M: int) -> Array:  # noqa: N803
    """The Blackman window of ``M`` points."""
    return _cosine_window("blackman", M, (0.42, -0.5, 0.08))


def bartlett(M: int) -> Array:  # noqa: N803
    """The Bartlett (triangular) window of ``M`` points."""
    m = _check_m("bartlett", M)
    if m <= 1:
        return lax.as_array(np.ones(m, dtypes.default_float()))
    n = _window_points(m)
    half = (m - 1) / 2.0
    return 1 - abs(n - half) / half


def kaiser(M: int, beta: ArrayLike) -> Array:  # noqa: N803
    """The Kaiser window of ``M`` points with shape ``beta`` (which may be traced)."""
    m = _check_m("kaiser", M)
    if m <= 1:
        return lax.as_array(np.ones(m, dtypes.default_float()))
    (b,) = _inexact("kaiser", beta)
    n = _window_points(m)
    alpha = (m - 1) / 2.0
    ratio = (n - alpha) / alpha
    arg = b * power(maximum(1 - ratio * ratio, 0), 0.5)
    return i0(arg) / i0(b)


def _bit_weights(bitorder: str, op: str) -> np.ndarray:
    if bitorder not in ("big", "little"):
        raise ValueError(f"{op}: bitorder must be 'big' or 'little', got {bitorder!r}")
    weights = 1 << np.arange(8)
    return weights[::-1].copy() if bitorder == "big" else weights


def packbits(a: ArrayLike, axis: int | None = None, bitorder: str = "big") -> Array:
    """Pack the truth of each element of ``a`` into bits of uint8s along ``axis`` (flattened
    when None), zero-padding to a multiple of 8."""
    x = as_array(a, "packbits")
    if x.dtype.kind not in "biu":
        raise TypeError(f"packbits: needs an integer or bool array, got {x.dtype}")
    weights = _bit_weights(bitorder, "packbits")
    if axis is None:
        x, axis = lax.reshape(x, (x.size,)), 0
    axis = operator.index(axis) % x.ndim
    bits = convert(not_equal(x, 0), dtypes.uint8)
    n = bits.shape[axis]
    pad = [(0, 0, 0)] * bits.ndim
    pad[axis] = (0, -n % 8, 0)
    bits = lax.pad(bits, lax.as_array(np.zeros((), np.uint8)), pad)
    shape = bits.shape[:axis] + (bits.shape[axis] // 8, 8) + bits.shape[axis + 1 :]
    grouped = lax.reshape(bits, shape)
    w = lax.as_array(weights.astype(np.uint8).reshape((8,) + (1,) * (bits.ndim - axis - 1)))
    return convert(lax.reduce_sum(grouped * w, (axis + 1,)), dtypes.uint8)


def unpackbits(a: ArrayLike, axis: int | None = None, count: int | None = None,
               bitorder: str = "big") -> Array:  # fmt: skip
    """The bits of the uint8 array ``a`` as 0/1 uint8s along ``axis`` (flattened when None);
    ``count`` keeps that many (a negative one drops from the end)."""
    x = as_array(a, "unpackbits")
    if x.dtype != dtypes.uint8:
        raise TypeError(f"unpackbits: needs a uint8 array, got {x.dtype}")
    shifts = np.log2(_bit_weights(bitorder, "unpackbits")).astype(np.uint8)
    if axis is None:
        x, axis = lax.reshape(x, (x.size,)), 0
    axis = operator.index(axis) % x.ndim
    expanded = lax.expand_dims(x, (axis + 1,))
    s = lax.as_array(shifts.reshape((8,) + (1,) * (x.ndim - axis - 1)))
    bits = bitwise_and(right_shift(expanded, s), 1)
    shape = x.shape[:axis] + (x.shape[axis] * 8,) + x.shape[axis + 1 :]
    bits = lax.reshape(convert(bits, dtypes.uint8), shape)
    if count is None:
        return bits
    total = shape[axis]
    keep = count if count >= 0 else max(total + count, 0)
    if keep <= total:
        index = tuple(slice(None) if d != axis else slice(0, keep) for d in range(bits.ndim))
        return bits[index]
    pad = [(0, 0, 0)] * bits.ndim
    pad[axis] = (0, keep - total, 0)
    return lax.pad(bits, lax.as_array(np.zeros((), np.uint8)), pad)
