"""Impls written once against an array module ``xp``, for every backend whose arrays follow
NumPy's API (CuPy's do), replacing the primitives whose CPU impls call numba kernels.

``register(backend)`` registers them for ``backend.platform`` with ``backend.xp``. Each is the
CPU kernel's arithmetic as whole-array operations, so the results are the CPU's: threefry's bits
exactly, the normal sampler's erfinv to the rounding of its last operations (the CPU kernels
may contract them into FMAs). Being whole-array code, each costs one pass (one kernel launch on
a GPU) per operation; fusing them into one kernel is the jit compiler's job on the device.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from vfunc.backends import Backend, conv_taps, window_taps
from vfunc.devices import to_host
from vfunc.primitives import conv, debug, decompositions, reduction, sorting, window
from vfunc.primitives import random as rnd
from vfunc.primitives import random_kernels as rk

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


def threefry2x32(xp: Any, k0: Any, k1: Any, x0: Any, x1: Any) -> tuple[Any, Any]:
    """Threefry-2x32 (20 rounds) of uint32 counter words ``(x0, x1)`` under the key words
    ``(k0, k1)``, broadcasting; the arithmetic of ``random_kernels.threefry2x32``."""
    u32 = xp.uint32
    ks = (k0, k1, k0 ^ k1 ^ u32(0x1BD11BDA))
    x0 = x0 + ks[0]
    x1 = x1 + ks[1]
    for g in range(5):
        for r in _ROTATIONS[g % 2]:
            x0 = x0 + x1
            x1 = (x1 << u32(r)) | (x1 >> u32(32 - r))
            x1 = x1 ^ x0
        x0 = x0 + ks[(g + 1) % 3]
        x1 = x1 + ks[(g + 2) % 3] + u32(g + 1)
    return x0, x1


def hash_counters(xp: Any, keys: Any, n: int) -> tuple[Any, Any]:
    """Threefry of counters ``0..n-1`` under each key of ``keys`` (``(..., 2)`` uint32): the
    two output words, ``(B, n)`` each, key-major as ``random_kernels.hash_counters``."""
    keys = keys.reshape(-1, 2).astype(xp.uint32, copy=False)
    counter = xp.arange(n, dtype=xp.uint64)
    hi = (counter >> xp.uint64(32)).astype(xp.uint32)
    lo = counter.astype(xp.uint32)
    return threefry2x32(xp, keys[:, 0:1], keys[:, 1:2], hi[None, :], lo[None, :])


def bits_from_words(xp: Any, o0: Any, o1: Any, dtype: np.dtype) -> Any:
    """What the CPU kernels store per counter for ``dtype`` (``random_kernels._emit``)."""
    dtype = np.dtype(dtype)
    if dtype == np.uint64 or dtype == np.float64:
        wide = (o0.astype(xp.uint64) << xp.uint64(32)) | o1.astype(xp.uint64)
        if dtype == np.uint64:
            return wide
        bits = (wide >> xp.uint64(12)) | xp.uint64(0x3FF0000000000000)
        return bits.view(xp.float64) - xp.float64(1.0)
    if dtype == np.float32:
        bits = ((o0 ^ o1) >> xp.uint32(9)) | xp.uint32(0x3F800000)
        return bits.view(xp.float32) - xp.float32(1.0)
    if dtype == np.float16:  # 16 bits, as the CPU's float16 path
        bits = (o0 ^ o1).astype(xp.uint16)
        unit = (bits >> xp.uint16(6)) | xp.uint16(0x3C00)
        return unit.view(xp.float16) - xp.float16(1)
    return (o0 ^ o1).astype(dtype)


def _horner(xp: Any, coefs: Any, t: Any) -> Any:
    p = xp.zeros_like(t)
    for c in coefs:
        p = c + p * t
    return p


def erfinv(xp: Any, x: Any) -> Any:
    """erfinv of float32/float64 ``x`` by XLA's polynomials (``random_kernels.erfinv32/64``)."""
    w = -xp.log1p(-x * x)
    s = xp.sqrt(w)
    if x.dtype == np.float32:
        central = w < xp.float32(5.0)
        t = xp.where(central, w - xp.float32(2.5), s - xp.float32(3.0))
        p = xp.where(central, _horner(xp, rk._C32_A, t), _horner(xp, rk._C32_B, t))
    else:
        p = xp.where(
            w < 6.25, _horner(xp, rk._C64_A, w - 3.125),
            xp.where(w < 16.0, _horner(xp, rk._C64_B, s - 3.25), _horner(xp, rk._C64_C, s - 5.0)),
        )  # fmt: skip
    return xp.where(xp.abs(x) == 1, x * x.dtype.type(np.inf), p * x)


def fma(xp: Any, x: Any, y: Any, z: Any) -> Any:
    """``x * y + z`` (float16/32 through float64: the product is exact there, so the result
    is the single rounding of an FMA but for double-rounding ties, about one in 2**29)."""
    if x.dtype == np.float64:
        return x * y + z  # no portable FMA in the array API: two roundings
    work = [a.astype(xp.float64) for a in (x, y, z)]
    return (work[0] * work[1] + work[2]).astype(x.dtype)


def register(backend: Backend) -> None:
    """Register this module's impls for ``backend`` (with its array module ``backend.xp``)."""
    xp = backend.xp
    impls = backend.impls

    def bits(keys: Any, *, shape: tuple[int, ...], dtype: np.dtype) -> Any:
        o0, o1 = hash_counters(xp, keys, math.prod(shape))
        return bits_from_words(xp, o0, o1, dtype).reshape((*keys.shape[:-1], *shape))

    def split(keys: Any, *, shape: tuple[int, ...]) -> Any:
        o0, o1 = hash_counters(xp, keys, math.prod(shape))
        return xp.stack([o0, o1], axis=-1).reshape((*keys.shape[:-1], *shape, 2))

    def fold_in(keys: Any, msgs: Any) -> Any:
        flat = keys.reshape(-1, 2)
        o0, o1 = threefry2x32(xp, flat[:, 0], flat[:, 1], xp.zeros_like(flat[:, 0]),
                              msgs.reshape(-1).astype(xp.uint32))  # fmt: skip
        return xp.stack([o0, o1], axis=-1).reshape(keys.shape)

    def normal(keys: Any, *, shape: tuple[int, ...], dtype: np.dtype) -> Any:
        # JAX's sampler: sqrt(2) * erfinv(max(lo, fma(u, scale, lo))), u uniform on [0, 1).
        o0, o1 = hash_counters(xp, keys, math.prod(shape))
        unit = bits_from_words(xp, o0, o1, dtype)
        lo, scale, sqrt2 = rnd.normal_constants(np.dtype(dtype))
        u = xp.maximum(lo, fma(xp, unit, xp.asarray(scale), xp.asarray(lo)))
        return (sqrt2 * erfinv(xp, u)).reshape((*keys.shape[:-1], *shape))

    def seed(seeds: Any) -> Any:
        if seeds.dtype.itemsize == 8:
            wide = seeds.astype(xp.uint64)  # two's complement bits
            hi = (wide >> xp.uint64(32)).astype(xp.uint32)
        else:  # JAX shifts the seed in its own width: nothing of a 32-bit seed is left
            wide = seeds.astype(xp.int64).astype(xp.uint64)
            hi = xp.zeros(seeds.shape, xp.uint32)
        lo = (wide & xp.uint64(0xFFFFFFFF)).astype(xp.uint32)
        return xp.stack([hi, lo], axis=-1)

    def conv_forward(lhs: Any, rhs: Any, **p: Any) -> Any:
        return conv_taps.conv_forward(xp, lhs, rhs, conv._params(p))

    def conv_input_grad(g: Any, rhs: Any, *, lhs_shape: tuple[int, ...], **p: Any) -> Any:
        return conv_taps.conv_input_grad(xp, g, rhs, tuple(lhs_shape), conv._params(p))

    def conv_weight_grad(lhs: Any, g: Any, *, rhs_shape: tuple[int, ...], **p: Any) -> Any:
        return conv_taps.conv_weight_grad(xp, lhs, g, tuple(rhs_shape), conv._params(p))

    impls.update(_window_impls(xp))
    impls.update(_ordering_impls(xp))
    # The callback sees host arrays: it runs Python on their values (printing, logging).
    impls[debug.debug_callback_p] = lambda *ops, callback: debug._impl(
        *(to_host(o) for o in ops), callback=callback)
    impls.update(_linalg_impls(xp))
    impls.update({
        rnd.random_bits_p: bits, rnd.random_split_p: split, rnd.random_fold_in_p: fold_in,
        rnd.random_normal_p: normal, rnd.random_seed_p: seed,
        rnd.fma_p: lambda x, y, z: fma(xp, x, y, z),
        conv.conv_general_dilated_p: conv_forward, conv.conv_input_grad_p: conv_input_grad,
        conv.conv_weight_grad_p: conv_weight_grad,
    })  # fmt: skip


# The special functions whose CPU impls are numba kernels, by primitive name, and their names
# in SciPy's ``scipy.special`` (which ``cupyx.scipy.special`` follows): a backend with such a
# library passes its functions to ``register_special``.
SPECIAL_NAMES = {
    "lgamma": "gammaln", "digamma": "digamma", "erf_inv": "erfinv", "erfc": "erfc",
    "i0e": "i0e", "i1e": "i1e", "igamma": "gammainc", "igammac": "gammaincc",
    "log_ndtr": "log_ndtr", "ndtri": "ndtri", "zeta": "zeta", "logistic": "expit",
    "betainc": "betainc",
}  # fmt: skip


def register_special(backend: Backend, library: Any) -> None:
    """Register the special functions of ``library`` (a module with ``scipy.special``'s
    names, e.g. ``cupyx.scipy.special``) as ``backend``'s impls of ``SPECIAL_NAMES``; results
    are cast to the operand dtype, since some of the library's loops compute in float64."""
    from vfunc.core import registry

    for prim_name, lib_name in SPECIAL_NAMES.items():
        fn = getattr(library, lib_name, None)
        if fn is None:  # an older library: the primitive keeps the host round trip's error
            continue

        def impl(*args: Any, _fn: Any = fn) -> Any:
            # In float64, as the CPU kernels compute: the library's float32/float16 loops
            # overflow early (i0e of 500 is NaN) or round in half precision (expit).
            wide = [a.astype(np.float64) if a.dtype.itemsize < 8 else a for a in args]
            return _fn(*wide).astype(args[-1].dtype, copy=False)

        backend.impls[registry[prim_name]] = impl
    if all(hasattr(library, n) for n in ("gammainc", "gammaincc", "gammaln")):
        backend.impls[rnd.random_gamma_grad_p] = lambda a, x: gamma_grad(backend.xp, library,
                                                                          a, x)  # fmt: skip


def gamma_grad(xp: Any, library: Any, alphas: Any, xs: Any) -> Any:
    """d x / d alpha of Gamma(alpha) samples x: the CPU kernel's implicit differentiation of
    the CDF (``random_kernels.gamma_grad``) with the library's regularised incomplete gamma
    functions, in float64: a central difference of P (x < a + 1) or Q over the density."""
    f64 = xp.float64
    a, x = xp.broadcast_arrays(alphas.astype(f64), xs.astype(f64))
    bad = (x <= 0) | ~xp.isfinite(x)
    x = xp.where(bad, f64(1.0), x)  # masked below; keeps log and the library in range
    h = f64(1e-5) * xp.maximum(a, f64(1e-3))
    lower = x < a + f64(1.0)
    dp = library.gammainc(a + h, x) - library.gammainc(a - h, x)
    dq = library.gammaincc(a + h, x) - library.gammaincc(a - h, x)
    dpda = xp.where(lower, dp, -dq) / (f64(2.0) * h)
    log_density = (a - f64(1.0)) * xp.log(x) - x - library.gammaln(a)
    out = xp.where(dpda == 0, f64(0.0), -dpda * xp.exp(-log_density))
    return xp.where(bad, f64(0.0), out).astype(xs.dtype)


def _window_impls(xp: Any) -> dict:
    def shape_of(x: Any, p: dict) -> tuple[int, ...]:
        return window.window_shape("reduce_window", x.shape, window._args(p))

    def reduce_max(x: Any, **p: Any) -> Any:
        return window_taps.window_reduce(xp, "max", x, window._args(p), shape_of(x, p))

    def reduce_sum(x: Any, **p: Any) -> Any:
        return window_taps.window_reduce(xp, "sum", x, window._args(p), shape_of(x, p))

    def sum_transpose(g: Any, *, operand_shape: tuple[int, ...], **p: Any) -> Any:
        return window_taps.window_sum_transpose(xp, g, tuple(operand_shape), window._args(p))

    def scatter(g: Any, x: Any, **p: Any) -> Any:
        return window_taps.window_select(xp, True, g, x, window._args(p), shape_of(x, p))

    def gather(t: Any, x: Any, **p: Any) -> Any:
        return window_taps.window_select(xp, False, t, x, window._args(p), shape_of(x, p))

    return {
        window.reduce_window_max_p: reduce_max, window.reduce_window_sum_p: reduce_sum,
        window.reduce_window_sum_transpose_p: sum_transpose,
        window.select_and_scatter_add_p: scatter, window.select_and_gather_add_p: gather,
    }  # fmt: skip


def lu_pivots_to_permutation(xp: Any, pivots: Any, size: int) -> Any:
    """LAPACK's row swaps ``pivots`` (``[..., k]``) applied in order to ``0..size-1``."""
    batch = pivots.shape[:-1]
    piv = pivots.reshape(-1, pivots.shape[-1]).astype(xp.int32)
    flat = xp.broadcast_to(xp.arange(size, dtype=xp.int32), (piv.shape[0], size)).copy()
    rows = xp.arange(piv.shape[0])
    for i in range(piv.shape[-1]):  # one swap per column, every matrix of the batch at once
        j = piv[:, i]
        here, there = flat[rows, i].copy(), flat[rows, j].copy()
        flat[rows, i] = there
        flat[rows, j] = here
    return flat.reshape(*batch, size)


def lu(xp: Any, a: Any) -> list:
    """``(lu, pivots, permutation)`` of square ``a`` by Gaussian elimination with partial
    pivoting: one step per column over the whole batch (LAPACK's getrf's choices: the first
    row of largest magnitude pivots)."""
    n = a.shape[-1]
    batch = a.shape[:-2]
    m = a.reshape(-1, n, n).copy()
    rows = xp.arange(m.shape[0])
    pivots = xp.zeros((m.shape[0], n), dtype=xp.int32)
    for k in range(n):
        p = (xp.argmax(xp.abs(m[:, k:, k]), axis=1) + k).astype(xp.int32)
        pivots[:, k] = p
        row_k, row_p = m[rows, k].copy(), m[rows, p].copy()
        m[rows, k] = row_p
        m[rows, p] = row_k
        if k + 1 < n:
            d = m[:, k, k][:, None]
            safe = xp.where(d == 0, xp.ones_like(d), d)  # a zero pivot leaves its column as is
            col = xp.where(d == 0, m[:, k + 1 :, k], m[:, k + 1 :, k] / safe)
            m[:, k + 1 :, k] = col
            m[:, k + 1 :, k + 1 :] -= col[:, :, None] * m[:, k, k + 1 :][:, None, :]
    perm = lu_pivots_to_permutation(xp, pivots, n)
    return [m.reshape(a.shape), pivots.reshape(*batch, n), perm.reshape(*batch, n)]


def triangular_solve(xp: Any, a: Any, b: Any, *, left_side: bool, lower: bool,
                     transpose_a: bool, unit_diagonal: bool) -> Any:  # fmt: skip
    """``triangular_solve_p``: the triangle of ``a`` the params name (its diagonal replaced
    by ones for ``unit_diagonal``), solved by the batched LU solver of the array module."""
    n = a.shape[-1]
    eye = xp.eye(n, dtype=a.dtype)
    tri = xp.tril(a) if lower else xp.triu(a)
    if unit_diagonal:
        tri = tri * (1 - eye) + eye
    if transpose_a:
        tri = xp.swapaxes(tri, -1, -2)
    if left_side:
        return xp.linalg.solve(tri, b)
    # x @ t = b  <=>  t.T @ x.T = b.T
    return xp.swapaxes(xp.linalg.solve(xp.swapaxes(tri, -1, -2), xp.swapaxes(b, -1, -2)),
                       -1, -2)  # fmt: skip


def _linalg_impls(xp: Any) -> dict:
    def slogdet(a: Any) -> list:
        sign, logabs = xp.linalg.slogdet(a)
        return [sign.astype(a.dtype), logabs.astype(a.dtype)]

    def cholesky(a: Any) -> Any:
        # cuSOLVER reports a matrix that is not positive definite only through a status word
        # (CuPy does not raise by default): such members become NaN, as on the CPU, found by
        # a non-finite factor or one that does not reproduce the matrix.
        work = (a + xp.swapaxes(a, -1, -2)) * a.dtype.type(0.5)
        try:
            low = xp.tril(xp.linalg.cholesky(work))
        except np.linalg.LinAlgError:  # a module that raises (numpy): member by member
            n = a.shape[-1]
            members = []
            for m in work.reshape(-1, n, n):
                try:
                    members.append(xp.linalg.cholesky(m))
                except np.linalg.LinAlgError:
                    members.append(xp.full((n, n), np.nan, dtype=a.dtype))
            low = xp.tril(xp.stack(members).reshape(a.shape))
        err = xp.abs(low @ xp.swapaxes(low, -1, -2) - work).max(axis=(-2, -1))
        scale = xp.abs(work).max(axis=(-2, -1))
        tol = 100 * np.finfo(a.dtype).eps * a.shape[-1]
        bad = ~(err <= tol * scale) | ~xp.isfinite(low).all(axis=(-2, -1))
        return xp.where(bad[..., None, None], a.dtype.type(np.nan), low)

    return {
        decompositions.cholesky_p: cholesky,
        decompositions.det_p: lambda a: xp.linalg.det(a).astype(a.dtype),
        decompositions.slogdet_p: slogdet,
        decompositions.lu_p: lambda a: lu(xp, a),
        decompositions.lu_pivots_to_permutation_p: lambda piv, *, size: (
            lu_pivots_to_permutation(xp, piv, size)),
        decompositions.triangular_solve_p: lambda a, b, **p: triangular_solve(xp, a, b, **p),
    }


def _ordering_impls(xp: Any) -> dict:
    """Reductions to extremes, sorts and running extremes: numpy's calls the array module
    lacks (``ufunc.reduce(initial=)``, ``lexsort(axis=)``, ``maximum.accumulate``)."""

    def extreme(name: str, identity: Callable[[np.dtype], Any]) -> Callable[..., Any]:
        fn = getattr(xp, name)

        def impl(x: Any, *, axes: tuple[int, ...]) -> Any:
            if all(x.shape[a] for a in axes):
                return fn(x, axis=tuple(axes))
            kept = tuple(n for i, n in enumerate(x.shape) if i not in axes)
            return xp.full(kept, identity(x.dtype), dtype=x.dtype)  # an empty reduction

        return impl

    def sort(*operands: Any, dimension: int, num_keys: int) -> list:
        if len(operands) == 1:
            return [xp.sort(operands[0], axis=dimension)]
        # Stable sorts from the last key to the first: the first key decides, later ones
        # break its ties (lexsort's order); NaNs go last in each, as in numpy.
        n = operands[0].shape[dimension]
        shape = [1] * operands[0].ndim
        shape[dimension] = n
        order = xp.broadcast_to(xp.arange(n).reshape(shape), operands[0].shape)
        for key in operands[:num_keys][::-1]:
            step = xp.argsort(xp.take_along_axis(key, order, axis=dimension), axis=dimension,
                              kind="stable")  # fmt: skip
            order = xp.take_along_axis(order, step, axis=dimension)
        return [xp.take_along_axis(o, order, axis=dimension) for o in operands]

    def running(name: str) -> Callable[..., Any]:
        combine = getattr(xp, name)

        def impl(x: Any, *, axis: int, reverse: bool) -> Any:
            # Hillis-Steele: after the pass with shift s each element combines the 2s before it
            out = xp.flip(x, axis) if reverse else x.copy()
            n, shift = x.shape[axis], 1
            while shift < n:
                head = [slice(None)] * x.ndim
                tail = [slice(None)] * x.ndim
                head[axis], tail[axis] = slice(shift, None), slice(None, n - shift)
                moved = out.copy()
                moved[tuple(head)] = combine(out[tuple(head)], out[tuple(tail)])
                out, shift = moved, shift * 2
            return xp.flip(out, axis) if reverse else out

        return impl

    return {
        reduction.reduce_max_p: extreme("max", reduction._identity_for_max),
        reduction.reduce_min_p: extreme("min", reduction._identity_for_min),
        sorting.sort_p: sort,
        sorting.cummax_p: running("maximum"), sorting.cummin_p: running("minimum"),
    }  # fmt: skip
