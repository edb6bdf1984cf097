"""Numba kernels for ``vfunc.random``: the Threefry-2x32 hash over counters, and erfinv.

Threefry-2x32 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011) with 20
rounds is the block cipher behind JAX's default PRNG. A key is two uint32 words; hashing the
64-bit counter ``c`` (split into its high and low words) gives two uint32 words. JAX's current
("partitionable") key derivation hashes counter ``i`` for element ``i`` of the result in
row-major order, which is what every kernel here does:

* ``bits``: ``o0 ^ o1`` (truncated for 8 and 16 bits), or ``o0 << 32 | o1`` for 64 bits;
* ``unit floats``: those bits with the top ``nmant`` kept as the mantissa of a float in
  ``[1, 2)``, minus one, i.e. uniform on ``[0, 1)`` in steps of ``2**-nmant``;
* ``split``: the pair ``(o0, o1)`` is the new key.

Kernels take contiguous arrays and a preallocated flat output; each key's counters are a
contiguous run of the output, so the inner loop vectorises. Large draws run in parallel over
chunks of the output (``PARALLEL_MIN_SIZE``).
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

# A vectorizable log1p, so the erf_inv loops vectorize (libm calls would not).
from vfunc.primitives import scalar_math as fm
from vfunc.primitives.special_kernels import gamma_p_series, gamma_q_fraction

PARALLEL_MIN_SIZE = 1 << 16
# Only FMA contraction: the full fastmath set assumes no inf/NaN, and erfinv(+-1) is +-inf.
_CONTRACT = {"contract"}
_CHUNK = 1 << 14

_M32 = np.uint64(0xFFFFFFFF)
_PARITY = np.uint32(0x1BD11BDA)
_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


@intrinsic
def _f32_from_bits(typingctx, x):
    sig = types.float32(types.uint32)

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.FloatType())

    return sig, codegen


@intrinsic
def _f64_from_bits(typingctx, x):
    sig = types.float64(types.uint64)

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


@intrinsic
def _fma(typingctx, x, y, z):
    sig = x(x, y, z)

    def codegen(context, builder, sig, args):
        fty = context.get_value_type(sig.return_type)
        name = "llvm.fma.f64" if isinstance(fty, ir.DoubleType) else "llvm.fma.f32"
        fnty = ir.FunctionType(fty, [fty, fty, fty])
        fn = cgutils.get_or_insert_function(builder.module, fnty, name)
        return builder.call(fn, args)

    return sig, codegen


@numba.njit(cache=True)
def _fma_serial(x, y, z, out):
    for i in range(out.shape[0]):
        out[i] = _fma(x[i], y[i], z[i])


@numba.njit(cache=True, parallel=True)
def _fma_parallel(x, y, z, out):
    for i in numba.prange(out.shape[0]):
        out[i] = _fma(x[i], y[i], z[i])


@numba.njit(cache=True, parallel=True)
def _fma_scalars(x, y, z, out):
    for i in numba.prange(out.shape[0]):
        out[i] = _fma(x[i], y, z)


def fma(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``x * y + z`` rounded once (NumPy broadcasting; float16 computed in float32)."""
    dtype = x.dtype
    work = np.float64 if dtype == np.float64 else np.float32
    shape = np.broadcast_shapes(x.shape, y.shape, z.shape)
    if y.ndim == z.ndim == 0 and x.shape == shape and x.size >= PARALLEL_MIN_SIZE:
        # uniform's common case, scale and offset scalars: no broadcast copies of them
        flat = np.ascontiguousarray(x, dtype=work).reshape(-1)
        out = np.empty(flat.shape, work)
        _fma_scalars(flat, y.astype(work)[()], z.astype(work)[()], out)
        return out.reshape(shape).astype(dtype, copy=False)
    flat = [np.ascontiguousarray(np.broadcast_to(a.astype(work, copy=False), shape)).reshape(-1)
            for a in (x, y, z)]  # fmt: skip
    out = np.empty(flat[0].shape, work)
    (_fma_parallel if out.size >= PARALLEL_MIN_SIZE else _fma_serial)(*flat, out)
    return out.reshape(shape).astype(dtype, copy=False)


@numba.njit(cache=True)
def _rotl(x, r):
    return np.uint32((x << np.uint32(r)) | (x >> np.uint32(32 - r)))


@numba.njit(cache=True)
def _mix(x0, x1, r):
    x0 = np.uint32(x0 + x1)
    x1 = _rotl(x1, r)
    return x0, np.uint32(x1 ^ x0)


@numba.njit(cache=True)
def threefry2x32(k0, k1, x0, x1):
    """Threefry-2x32 (20 rounds) of the counter pair ``(x0, x1)`` under the key ``(k0, k1)``."""
    ks = (np.uint32(k0), np.uint32(k1), np.uint32(np.uint32(k0) ^ np.uint32(k1) ^ _PARITY))
    x0 = np.uint32(np.uint32(x0) + ks[0])
    x1 = np.uint32(np.uint32(x1) + ks[1])
    # Five groups of four rounds, a key injection after each (LLVM unrolls the constant loops).
    for g in range(5):
        rotations = _ROTATIONS[g % 2]
        for j in range(4):
            x0, x1 = _mix(x0, x1, rotations[j])
        x0 = np.uint32(x0 + ks[(g + 1) % 3])
        x1 = np.uint32(x1 + ks[(g + 2) % 3] + np.uint32(g + 1))
    return x0, x1


# What a kernel stores per counter is chosen by the output array's type at compile time (an
# overload), so every kernel's inner loop is branch-free and vectorises:
#   uint8/16/32 out: o0 ^ o1 (truncated);  uint64: o0 << 32 | o1;
#   float32/float64: the unit float from those bits;  uint32[:, 2]: the pair (o0, o1) (split).
MODE_BITS, MODE_PAIR = 0, 1


def _emit(out, j, o0, o1):  # pragma: no cover - replaced by the overload below
    raise NotImplementedError


@overload(_emit, inline="always")
def _emit_overload(out, j, o0, o1):
    if out.ndim == 2:

        def pair(out, j, o0, o1):
            out[j, 0] = o0
            out[j, 1] = o1

        return pair
    if out.dtype == types.float32:

        def unit32(out, j, o0, o1):
            bits = np.uint32(((o0 ^ o1) >> np.uint32(9)) | np.uint32(0x3F800000))
            out[j] = _f32_from_bits(bits) - np.float32(1.0)

        return unit32
    if out.dtype == types.float64:

        def unit64(out, j, o0, o1):
            b = (np.uint64(o0) << np.uint64(32)) | np.uint64(o1)
            out[j] = _f64_from_bits((b >> np.uint64(12)) | np.uint64(0x3FF0000000000000)) - 1.0

        return unit64
    if out.dtype == types.uint64:

        def wide(out, j, o0, o1):
            out[j] = (np.uint64(o0) << np.uint64(32)) | np.uint64(o1)

        return wide

    def narrow(out, j, o0, o1):
        out[j] = o0 ^ o1

    return narrow


@numba.njit(cache=True, fastmath=_CONTRACT)
def _run(keys, n, out, lo, hi):
    # Flat output positions [lo, hi): a run of counters per key, vectorised inside each run.
    j = lo
    while j < hi:
        b = j // n
        i0 = j - b * n
        i1 = min(n, i0 + (hi - j))
        k0 = keys[b, 0]
        k1 = keys[b, 1]
        base = b * n
        for i in range(i0, i1):
            c = np.uint64(i)
            o0, o1 = threefry2x32(k0, k1, np.uint32(c >> np.uint64(32)), np.uint32(c & _M32))
            _emit(out, base + i, o0, o1)
        j += i1 - i0


@numba.njit(cache=True, fastmath=_CONTRACT)
def _counters_serial(keys, n, out):
    _run(keys, n, out, 0, keys.shape[0] * n)


@numba.njit(cache=True, parallel=True, fastmath=_CONTRACT)
def _counters_parallel(keys, n, out):
    total = keys.shape[0] * n
    chunks = (total + _CHUNK - 1) // _CHUNK
    for c in numba.prange(chunks):
        _run(keys, n, out, c * _CHUNK, min(total, (c + 1) * _CHUNK))


def hash_counters(keys: np.ndarray, n: int, out: np.ndarray, mode: int = MODE_BITS) -> None:
    """Hash counters ``0..n-1`` under every key of ``keys`` (``(B, 2)`` uint32) into ``out``.

    ``out`` is flat, ``B * n`` elements key-major, of the dtype wanted (see ``_emit``); with
    ``MODE_PAIR`` it is uint32 ``2 * B * n`` and receives both words (split).
    """
    keys = np.ascontiguousarray(keys, dtype=np.uint32)
    if mode == MODE_PAIR:
        out = out.reshape(-1, 2)
    if keys.shape[0] * n >= PARALLEL_MIN_SIZE:
        _counters_parallel(keys, n, out)
    elif keys.shape[0] * n:
        _counters_serial(keys, n, out)


@numba.njit(cache=True)
def _fold_in(keys, msgs, out):
    for b in range(keys.shape[0]):
        o0, o1 = threefry2x32(keys[b, 0], keys[b, 1], np.uint32(0), msgs[b])
        out[b, 0] = o0
        out[b, 1] = o1


def fold_in(keys: np.ndarray, msgs: np.ndarray) -> np.ndarray:
    """``threefry(key, (0, msg))`` per (key, message) pair: ``(B, 2)`` keys, ``(B,)`` uint32."""
    out = np.empty(keys.shape, np.uint32)
    _fold_in(np.ascontiguousarray(keys), np.ascontiguousarray(msgs, dtype=np.uint32), out)
    return out


# ----------------------------------------------------------------------------------------------
# erfinv: M. Giles, "Approximating the erfinv function" (GPU Computing Gems, 2011), the
# polynomials XLA also evaluates, so that samples agree with JAX's to an ulp or two.

_ERFINV32_CENTRAL = (
    2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
    -0.00125372503, -0.00417768164, 0.246640727, 1.50140941,
)  # fmt: skip
_ERFINV32_TAIL = (
    -0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
    -0.0076224613, 0.00943887047, 1.00167406, 2.83297682,
)  # fmt: skip
_ERFINV64_CENTRAL = (
    -3.6444120640178196996e-21, -1.685059138182016589e-19, 1.2858480715256400167e-18,
    1.115787767802518096e-17, -1.333171662854620906e-16, 2.0972767875968561637e-17,
    6.6376381343583238325e-15, -4.0545662729752068639e-14, -8.1519341976054721522e-14,
    2.6335093153082322977e-12, -1.2975133253453532498e-11, -5.4154120542946279317e-11,
    1.051212273321532285e-09, -4.1126339803469836976e-09, -2.9070369957882005086e-08,
    4.2347877827932403518e-07, -1.3654692000834678645e-06, -1.3882523362786468719e-05,
    0.0001867342080340571352, -0.00074070253416626697512, -0.0060336708714301490533,
    0.24015818242558961693, 1.6536545626831027356,
)  # fmt: skip
_ERFINV64_MIDDLE = (
    2.2137376921775787049e-09, 9.0756561938885390979e-08, -2.7517406297064545428e-07,
    1.8239629214389227755e-08, 1.5027403968909827627e-06, -4.013867526981545969e-06,
    2.9234449089955446044e-06, 1.2475304481671778723e-05, -4.7318229009055733981e-05,
    6.8284851459573175448e-05, 2.4031110387097893999e-05, -0.0003550375203628474796,
    0.00095328937973738049703, -0.0016882755560235047313, 0.0024914420961078508066,
    -0.0037512085075692412107, 0.005370914553590063617, 1.0052589676941592334,
    3.0838856104922207635,
)  # fmt: skip
_ERFINV64_TAIL = (
    -2.7109920616438573243e-11, -2.5556418169965252055e-10, 1.5076572693500548083e-09,
    -3.7894654401267369937e-09, 7.6157012080783393804e-09, -1.4960026627149240478e-08,
    2.9147953450901080826e-08, -6.7711997758452339498e-08, 2.2900482228026654717e-07,
    -9.9298272942317002539e-07, 4.5260625972231537039e-06, -1.9681778105531670567e-05,
    7.5995277030017761139e-05, -0.00021503011930044477347, -0.00013871931833623122026,
    1.0103004648645343977, 4.8499064014085844221,
)  # fmt: skip

_C32_A = np.array(_ERFINV32_CENTRAL, np.float32)
_C32_B = np.array(_ERFINV32_TAIL, np.float32)
_C64_A = np.array(_ERFINV64_CENTRAL, np.float64)
_C64_B = np.array(_ERFINV64_MIDDLE, np.float64)
_C64_C = np.array(_ERFINV64_TAIL, np.float64)


@numba.njit(cache=True)
def _horner(coef, w):
    p = coef[0]
    for i in range(1, coef.shape[0]):
        p = coef[i] + p * w
    return p


@numba.njit(cache=True, fastmath=_CONTRACT, inline="always")
def erfinv32(x):
    """erfinv of a float32, in float32 arithmetic (XLA's formula).

    Written branch-free (both polynomials' coefficients selected per element) with fastmath's
    vectorizable log1p, so that a loop calling it vectorises: 20x faster than libm's log1p.
    """
    w = -fm.log1p(-x * x)
    central = w < np.float32(5.0)
    t = w - np.float32(2.5) if central else np.sqrt(w) - np.float32(3.0)
    p = np.float32(0.0)
    for j in range(9):
        p = (_C32_A[j] if central else _C32_B[j]) + p * t
    return x * np.float32(np.inf) if abs(x) == np.float32(1.0) else p * x


@numba.njit(cache=True, fastmath=_CONTRACT, inline="always")
def erfinv64(x):
    """erfinv of a float64 (XLA's three-range formula), vectorizable like ``erfinv32``."""
    w = -fm.log1p(-x * x)
    s = np.sqrt(w)
    p = 0.0
    if w < 6.25:
        p = _horner(_C64_A, w - 3.125)
    elif w < 16.0:
        p = _horner(_C64_B, s - 3.25)
    else:
        p = _horner(_C64_C, s - 5.0)
    return x * np.inf if abs(x) == 1.0 else p * x


@numba.njit(cache=True, fastmath=_CONTRACT)
def _erfinv32_serial(x, out):
    for i in range(x.shape[0]):
        out[i] = erfinv32(x[i])


@numba.njit(cache=True, parallel=True)
def _erfinv32_parallel(x, out):
    for i in numba.prange(x.shape[0]):
        out[i] = erfinv32(x[i])


@numba.njit(cache=True, fastmath=_CONTRACT)
def _erfinv64_serial(x, out):
    for i in range(x.shape[0]):
        out[i] = erfinv64(x[i])


@numba.njit(cache=True, parallel=True)
def _erfinv64_parallel(x, out):
    for i in numba.prange(x.shape[0]):
        out[i] = erfinv64(x[i])


@numba.njit(cache=True, parallel=True, fastmath=_CONTRACT)
def _unit_to_normal32(u, lo, scale, sqrt2):
    # In place: JAX's normal from unit floats, sqrt2 * erfinv(max(lo, fma(u, scale, lo))).
    for i in numba.prange(u.shape[0]):
        u[i] = sqrt2 * erfinv32(max(lo, _fma(u[i], scale, lo)))


@numba.njit(cache=True, parallel=True, fastmath=_CONTRACT)
def _unit_to_normal64(u, lo, scale, sqrt2):
    for i in numba.prange(u.shape[0]):
        u[i] = sqrt2 * erfinv64(max(lo, _fma(u[i], scale, lo)))


def unit_to_normal(u: np.ndarray, lo: Any, scale: Any, sqrt2: Any) -> None:
    """Turn flat unit floats (float32/64) into JAX's standard normal samples, in place."""
    (_unit_to_normal64 if u.dtype == np.float64 else _unit_to_normal32)(u, lo, scale, sqrt2)


def erf_inv(x: np.ndarray) -> np.ndarray:
    """Elementwise erfinv of a float array (float16 is computed in float32)."""
    dtype = x.dtype
    work = np.float64 if dtype == np.float64 else np.float32
    flat = np.ascontiguousarray(x, dtype=work).reshape(-1)
    out = np.empty_like(flat)
    big = flat.size >= PARALLEL_MIN_SIZE
    if work == np.float64:
        (_erfinv64_parallel if big else _erfinv64_serial)(flat, out)
    else:
        (_erfinv32_parallel if big else _erfinv32_serial)(flat, out)
    return out.reshape(x.shape).astype(dtype, copy=False)


# ----------------------------------------------------------------------------------------------
# Gamma: Marsaglia and Tsang's rejection method, drawing exactly the keys and uniforms JAX's
# ``_gamma_one`` draws (split, normal via erfinv, uniform), so the samples agree bit for bit up
# to the last-ulp differences of log/pow.


@numba.njit(cache=True)
def _unit(k0, k1, f64):
    o0, o1 = threefry2x32(k0, k1, np.uint32(0), np.uint32(0))
    if f64:
        b = (np.uint64(o0) << np.uint64(32)) | np.uint64(o1)
        return _f64_from_bits((b >> np.uint64(12)) | np.uint64(0x3FF0000000000000)) - 1.0
    u = _f32_from_bits(np.uint32(((o0 ^ o1) >> np.uint32(9)) | np.uint32(0x3F800000)))
    return np.float64(u - np.float32(1.0))


@numba.njit(cache=True)
def _normal(k0, k1, f64):
    u01 = _unit(k0, k1, f64)
    if f64:
        lo = np.nextafter(-1.0, 0.0)
        u = max(lo, _fma(u01, 1.0 - lo, lo))
        return np.sqrt(2.0) * erfinv64(u)
    lo32 = np.nextafter(np.float32(-1.0), np.float32(0.0))
    u32 = max(lo32, _fma(np.float32(u01), np.float32(1.0) - lo32, lo32))
    return np.float64(np.float32(np.sqrt(2.0)) * erfinv32(u32))


@numba.njit(cache=True)
def _rnd(x, f64):
    # Round an intermediate to the sample dtype, as XLA computes each op in that dtype.
    return x if f64 else np.float64(np.float32(x))


@numba.njit(cache=True)
def _gamma_one(k0, k1, alpha, f64, log_space):
    # key, subkey = split(key)
    key0, key1 = threefry2x32(k0, k1, np.uint32(0), np.uint32(0))
    sub0, sub1 = threefry2x32(k0, k1, np.uint32(0), np.uint32(1))
    boost = alpha >= 1.0
    a = alpha if boost else _rnd(alpha + 1.0, f64)
    d = _rnd(a - _rnd(1.0 / 3.0, f64), f64)
    c = _rnd(_rnd(1.0 / 3.0, f64) / _rnd(np.sqrt(d), f64), f64)
    X, V, U = 0.0, 1.0, 2.0
    while True:
        lhs = _rnd(1.0 - _rnd(0.0331 * _rnd(X * X, f64), f64), f64)
        logv = _rnd(np.log(V), f64)
        rhs = _rnd(_rnd(X * 0.5, f64) + _rnd(d * _rnd(_rnd(1.0 - V, f64) + logv, f64), f64), f64)
        if not (U >= lhs and _rnd(np.log(U), f64) >= rhs):
            break
        # key, x_key, U_key = split(key, 3)
        n0, n1 = threefry2x32(key0, key1, np.uint32(0), np.uint32(0))
        x0, x1 = threefry2x32(key0, key1, np.uint32(0), np.uint32(1))
        u0, u1 = threefry2x32(key0, key1, np.uint32(0), np.uint32(2))
        key0, key1 = n0, n1
        x, v = 0.0, -1.0
        while v <= 0.0:
            nx0, nx1 = threefry2x32(x0, x1, np.uint32(0), np.uint32(0))
            s0, s1 = threefry2x32(x0, x1, np.uint32(0), np.uint32(1))
            x0, x1 = nx0, nx1
            x = _normal(s0, s1, f64)
            v = _fma(x, c, 1.0) if f64 else np.float64(_fma(np.float32(x), np.float32(c),
                                                            np.float32(1.0)))
        X = _rnd(x * x, f64)
        V = _rnd(_rnd(v * v, f64) * v, f64)
        U = _unit(u0, u1, f64)
    if log_space:
        log_samples = _rnd(np.log1p(-_unit(sub0, sub1, f64)), f64)  # -exponential(subkey)
        log_boost = 0.0
        if not (boost or log_samples == 0.0):
            log_boost = _rnd(log_samples * _rnd(1.0 / alpha, f64), f64)
        return _rnd(_rnd(_rnd(np.log(d), f64) + _rnd(np.log(V), f64), f64) + log_boost, f64)
    samples = _rnd(1.0 - _unit(sub0, sub1, f64), f64)
    b = 1.0 if boost else _rnd(samples ** _rnd(1.0 / alpha, f64), f64)
    return _rnd(_rnd(d * V, f64) * b, f64)


@numba.njit(cache=True)
def _gamma_kernel(keys, alphas, out, f64, log_space):
    for i in range(alphas.shape[0]):
        out[i] = _gamma_one(keys[i, 0], keys[i, 1], alphas[i], f64, log_space)


def gamma(keys: np.ndarray, alphas: np.ndarray, log_space: bool) -> np.ndarray:
    """One Gamma(alpha) sample per (key, alpha) pair; keys ``[..., 2]``, alphas ``[...]``."""
    dtype = alphas.dtype
    flat_keys = np.ascontiguousarray(keys, dtype=np.uint32).reshape(-1, 2)
    flat_a = np.ascontiguousarray(alphas, dtype=np.float64).reshape(-1)
    out = np.empty(flat_a.shape, np.float64)
    _gamma_kernel(flat_keys, flat_a, out, dtype == np.float64, log_space)
    return out.reshape(alphas.shape).astype(dtype)


# d sample / d alpha by implicit differentiation of the CDF: -(dP/da) / (dP/dx), with the
# regularised incomplete gamma P from its series (x < a + 1) or Q = 1 - P from Legendre's
# continued fraction, and dP/da by a central difference of whichever of P, Q is small.


@numba.njit(cache=True)
def _gamma_grad_kernel(alphas, xs, out):
    for i in range(alphas.shape[0]):
        a, x = alphas[i], xs[i]
        if x <= 0.0 or not np.isfinite(x):
            out[i] = 0.0
            continue
        h = 1e-5 * max(a, 1e-3)
        if x < a + 1.0:
            dpda = (gamma_p_series(a + h, x) - gamma_p_series(a - h, x)) / (2 * h)
        else:
            dpda = -(gamma_q_fraction(a + h, x) - gamma_q_fraction(a - h, x)) / (2 * h)
        # Divide by the density in log space: far in the tail it underflows to zero (a
        # ZeroDivisionError in a numba kernel), while the ratio stays finite or is +-inf.
        log_density = (a - 1.0) * np.log(x) - x - math.lgamma(a)
        out[i] = 0.0 if dpda == 0.0 else -dpda * np.exp(-log_density)


def gamma_grad(alphas: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """d x / d alpha of Gamma(alpha) samples x (implicit reparameterisation)."""
    shape = np.broadcast_shapes(alphas.shape, xs.shape)
    a = np.ascontiguousarray(np.broadcast_to(alphas, shape), dtype=np.float64).reshape(-1)
    x = np.ascontiguousarray(np.broadcast_to(xs, shape), dtype=np.float64).reshape(-1)
    out = np.empty(a.shape, np.float64)
    _gamma_grad_kernel(a, x, out)
    return out.reshape(shape).astype(xs.dtype)


# ----------------------------------------------------------------------------------------------
# Poisson and binomial: per-element samplers on one key each (uniforms from counters 0, 1, ...).
# Small means by inversion, large ones by Hormann's transformed rejection (PTRS / BTRS).


@numba.njit(cache=True)
def _uniform_at(k0, k1, j):
    o0, o1 = threefry2x32(k0, k1, np.uint32(0), np.uint32(j))
    b = (np.uint64(o0) << np.uint64(32)) | np.uint64(o1)
    return _f64_from_bits((b >> np.uint64(12)) | np.uint64(0x3FF0000000000000)) - 1.0


@numba.njit(cache=True)
def _poisson_one(k0, k1, lam):
    if not lam > 0.0:
        return 0.0 if lam == 0.0 else np.nan
    j = 0
    if lam < 10.0:
        limit = np.exp(-lam)
        prod = 1.0
        k = 0.0
        while True:
            prod *= _uniform_at(k0, k1, j)
            j += 1
            if prod <= limit:
                return k
            k += 1.0
    log_lam = np.log(lam)
    b = 0.931 + 2.53 * np.sqrt(lam)
    a = -0.059 + 0.02483 * b
    inv_alpha = 1.1239 + 1.1328 / (b - 3.4)
    v_r = 0.9277 - 3.6224 / (b - 2.0)
    while True:
        u = _uniform_at(k0, k1, j) - 0.5
        v = _uniform_at(k0, k1, j + 1)
        j += 2
        us = 0.5 - abs(u)
        k = np.floor((2.0 * a / us + b) * u + lam + 0.43)
        if us >= 0.07 and v <= v_r:
            return k
        if k < 0.0 or (us < 0.013 and v > us):
            continue
        s = np.log(v * inv_alpha / (a / (us * us) + b))
        if s <= -lam + k * log_lam - math.lgamma(k + 1.0):
            return k


@numba.njit(cache=True)
def _stirling_tail(k):
    # log(k!) - [(k + 1/2) log(k + 1) - (k + 1) + log(2 pi) / 2], exact table below 10
    if k <= 9.0:
        return math.lgamma(k + 1.0) - ((k + 0.5) * np.log(k + 1.0) - (k + 1.0)
                                       + 0.5 * np.log(2.0 * np.pi))  # fmt: skip
    kp1sq = (k + 1.0) * (k + 1.0)
    return (1.0 / 12.0 - (1.0 / 360.0 - 1.0 / 1260.0 / kp1sq) / kp1sq) / (k + 1.0)


@numba.njit(cache=True)
def _binomial_one(k0, k1, n, p):
    if not (n >= 0.0 and 0.0 <= p <= 1.0):
        return np.nan
    if np.isinf(n):
        return np.inf if p > 0.0 else 0.0
    n = np.floor(n)
    q = p if p < 0.5 else 1.0 - p
    j = 0
    if n * q <= 10.0:
        if q == 0.0:
            k = 0.0
        else:
            log1mq = np.log1p(-q)
            total = 0.0
            k = -1.0
            while total <= n:
                u = _uniform_at(k0, k1, j)
                j += 1
                total += np.ceil(np.log(u) / log1mq)
                k += 1.0
    else:
        sd = np.sqrt(n * q * (1.0 - q))
        b = 1.15 + 2.53 * sd
        a = -0.0873 + 0.0248 * b + 0.01 * q
        c = n * q + 0.5
        v_r = 0.92 - 4.2 / b
        r = q / (1.0 - q)
        alpha = (2.83 + 5.1 / b) * sd
        m = np.floor((n + 1.0) * q)
        while True:
            u = _uniform_at(k0, k1, j) - 0.5
            v = _uniform_at(k0, k1, j + 1)
            j += 2
            us = 0.5 - abs(u)
            k = np.floor((2.0 * a / us + b) * u + c)
            if us >= 0.07 and v <= v_r:
                break
            if k < 0.0 or k > n:
                continue
            v = np.log(v * alpha / (a / (us * us) + b))
            ub = ((m + 0.5) * np.log((m + 1.0) / (r * (n - m + 1.0)))
                  + (n + 1.0) * np.log((n - m + 1.0) / (n - k + 1.0))
                  + (k + 0.5) * np.log(r * (n - k + 1.0) / (k + 1.0))
                  + _stirling_tail(m) + _stirling_tail(n - m)
                  - _stirling_tail(k) - _stirling_tail(n - k))  # fmt: skip
            if v <= ub:
                break
    return k if p < 0.5 else n - k


@numba.njit(cache=True)
def _discrete_kernel(keys, x, y, out, binomial):
    for i in range(x.shape[0]):
        if binomial:
            out[i] = _binomial_one(keys[i, 0], keys[i, 1], x[i], y[i])
        else:
            out[i] = _poisson_one(keys[i, 0], keys[i, 1], x[i])


def discrete(keys: np.ndarray, x: np.ndarray, y: np.ndarray, binomial: bool) -> np.ndarray:
    """Poisson(x) (``binomial=False``, y ignored) or Binomial(x, y) samples, one per key."""
    flat_keys = np.ascontiguousarray(keys, dtype=np.uint32).reshape(-1, 2)
    fx = np.ascontiguousarray(x, dtype=np.float64).reshape(-1)
    fy = np.ascontiguousarray(y, dtype=np.float64).reshape(-1)
    out = np.empty(fx.shape, np.float64)
    _discrete_kernel(flat_keys, fx, fy, out, binomial)
    return out.reshape(x.shape).astype(x.dtype)
