"""Random-number primitives: key derivation and bits from Threefry-2x32, and erf_inv.

Keys here are raw key data, ``uint32[..., 2]``: any leading axes are a batch of keys, which is
what makes the vmap rules trivial (the batch axis moves to the front and the primitive runs once
over every key; ``vmap(lambda k: normal(k, (1000,)))(split(key, 64))`` is one kernel call).
The typed keys of ``vfunc.random`` are a thin wrapper over this data.

* ``random_seed``: integer seeds -> keys, as JAX's ``threefry_seed`` (high word = bits 32..63
  of a 64-bit seed, low word = the low 32 bits of the sign-extended seed).
* ``random_bits[shape, dtype]``: ``keys[..., 2] -> [..., *shape]``; element ``i`` hashes the
  64-bit counter ``i``. Unsigned dtypes give raw bits; a float dtype gives JAX's "unit" floats
  ``bitcast(bits >> (nbits - nmant) | bits(1.0)) - 1`` in ``[0, 1)``, in the same pass.
* ``random_split[shape]``: ``keys[..., 2] -> keys[..., *shape, 2]``.
* ``random_fold_in``: ``keys[..., 2], uint32[...] -> keys[..., 2]``.
* ``erf_inv``: the inverse error function, elementwise and differentiable (normal samplers);
  ``nextafter``: the neighbouring float (truncated_normal's bounds), no derivative.

None of the key primitives carries a derivative (their outputs are integers or samples that do
not depend on a float input); ``random_gamma`` lives with the samplers that need it.
"""

from __future__ import annotations

import math

import numpy as np

import vfunc.primitives.builders as lax  # rules call it at run time, after the cycle resolves
from vfunc import dtypes
from vfunc.core import Primitive, ShapedArray, never_weak
from vfunc.errors import DtypeError, ShapeError
from vfunc.primitives import random_kernels as rk
from vfunc.primitives._batching import batch_size, move_axis, to_front
from vfunc.primitives._checks import (
    broadcast_shapes,
    check_dtype_kind,
    check_same_dtypes,
    check_shape,
)
from vfunc.primitives.elementwise import (
    REAL_FLOAT,
    _like,
    _where,
    binary,
    unary,
    unbroadcast,
)

_U32 = np.dtype(np.uint32)
_BITS_DTYPES = tuple(np.dtype(d) for d in ("uint8", "uint16", "uint32", "uint64"))
_UNIT_DTYPES = tuple(np.dtype(d) for d in ("float16", "float32", "float64"))


def check_key_data(op: str, keys: ShapedArray, what: str = "key") -> None:
    """Raise the user-facing TypeError unless ``keys`` is uint32 key data ``[..., 2]``."""
    if keys.dtype != _U32:
        raise DtypeError(
            f"{op}: invalid PRNG key data: {what} must have dtype uint32, got {keys.dtype} "
            f"(shape {keys.shape}). Make keys with vfunc.random.key(seed) or PRNGKey(seed)."
        )
    if not keys.shape or keys.shape[-1] != 2:
        raise TypeError(
            f"{op}: invalid PRNG key data: {what}.shape must end with (2,) for threefry2x32, "
            f"got shape {keys.shape}. Make keys with vfunc.random.key(seed) or PRNGKey(seed)."
        )


def _keys_first(name: str, impl, shape, **rules) -> Primitive:
    """Declare a primitive of one operand whose leading axes map to the result's leading axes
    (keys ``[..., 2]``, stacks of matrices): a batch axis moved to the front of the operand is
    the front axis of the result, which is the vmap rule."""

    def batch(args, dims, **params):
        (operand,), (d,) = args, dims
        return prim.bind(move_axis(operand, d, 0), **params), 0

    prim = Primitive(name, impl, shape, batch=batch, **rules)
    return prim


# ----------------------------------------------------------------------------------------------
# random_seed


def _seed_shape(seeds: ShapedArray) -> ShapedArray:
    if seeds.dtype.kind not in "iu":
        raise TypeError(
            f"PRNG key seed must be an integer; got dtype {seeds.dtype} (shape {seeds.shape}). "
            "Pass an int, e.g. key(int(seed))."
        )
    return ShapedArray((*seeds.shape, 2), _U32)


def _seed_impl(seeds: np.ndarray) -> np.ndarray:
    if seeds.dtype.itemsize == 8:
        wide = seeds.astype(np.uint64)  # two's complement bits
        hi = (wide >> np.uint64(32)).astype(np.uint32)
    else:
        # JAX shifts the seed in its own width: a shift by 32 leaves nothing of a 32-bit seed.
        wide = seeds.astype(np.int64).astype(np.uint64)  # sign-extend, as XLA's convert does
        hi = np.zeros(seeds.shape, np.uint32)
    lo = (wide & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    return np.stack([hi, lo], axis=-1)


random_seed_p = Primitive(
    "random_seed", _seed_impl, _seed_shape, weak_type=never_weak, differentiable=False,
    batch=lambda args, dims: (random_seed_p.bind(args[0]), dims[0]),
)  # fmt: skip


# ----------------------------------------------------------------------------------------------
# random_bits


def _bits_shape(keys: ShapedArray, *, shape: tuple[int, ...], dtype: np.dtype) -> ShapedArray:
    check_key_data("random_bits", keys)
    check_shape("random_bits", shape)
    if dtype not in _BITS_DTYPES + _UNIT_DTYPES:
        raise DtypeError(
            f"random_bits: dtype must be one of uint8/16/32/64 (bits) or float16/32/64 (unit "
            f"floats), got {dtype}"
        )
    return ShapedArray((*keys.shape[:-1], *shape), dtype)


def _bits_impl(keys: np.ndarray, *, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    batch = keys.shape[:-1]
    flat_keys = keys.reshape(-1, 2)
    n = math.prod(shape)
    total = flat_keys.shape[0] * n
    if dtype == np.float16:  # numba has no float16 arithmetic: 16 bits, then numpy
        bits = np.empty(total, np.uint16)
        rk.hash_counters(flat_keys, n, bits)
        unit = ((bits >> np.uint16(6)) | np.uint16(0x3C00)).view(np.float16) - np.float16(1)
        return unit.reshape((*batch, *shape))
    out = np.empty(total, dtype)  # the kernel stores bits or unit floats by out's dtype
    rk.hash_counters(flat_keys, n, out)
    return out.reshape((*batch, *shape))


random_bits_p = _keys_first(
    "random_bits", _bits_impl, _bits_shape, weak_type=never_weak, differentiable=False
)


# random_normal[shape, dtype]: JAX's normal, ``sqrt(2) * erf_inv(uniform(nextafter(-1, 0), 1))``,
# in two vectorised passes (hash, then the float arithmetic in place) instead of five. A
# primitive for speed only; the composition agrees with it to an ulp or two (the kernels may
# contract erfinv's polynomial into FMAs differently) and it needs no derivative: the samples
# depend on the key alone, and ``normal(k) * sigma + mu`` differentiates the product.


def normal_constants(dtype: np.dtype) -> tuple:
    """``(lo, scale, sqrt2)`` of JAX's normal sampler in ``dtype``: scale = 1 - lo rounded."""
    lo = np.nextafter(np.array(-1.0, dtype), np.array(0.0, dtype))
    return lo[()], (np.array(1.0, dtype) - lo)[()], np.array(np.sqrt(2), dtype)[()]


def _normal_shape(keys: ShapedArray, *, shape: tuple[int, ...], dtype: np.dtype) -> ShapedArray:
    check_key_data("normal", keys)
    check_shape("normal", shape)
    if dtype not in _UNIT_DTYPES[1:]:
        raise DtypeError(f"random_normal: dtype must be float32 or float64, got {dtype}")
    return ShapedArray((*keys.shape[:-1], *shape), dtype)


def _normal_impl(keys: np.ndarray, *, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    flat_keys = keys.reshape(-1, 2)
    n = math.prod(shape)
    out = np.empty(flat_keys.shape[0] * n, dtype)
    rk.hash_counters(flat_keys, n, out)
    rk.unit_to_normal(out, *normal_constants(dtype))
    return out.reshape((*keys.shape[:-1], *shape))


random_normal_p = _keys_first(
    "random_normal", _normal_impl, _normal_shape, weak_type=never_weak, differentiable=False
)


# ----------------------------------------------------------------------------------------------
# random_split


def _split_shape(keys: ShapedArray, *, shape: tuple[int, ...]) -> ShapedArray:
    check_key_data("split", keys)
    check_shape("split", shape, "num")
    return ShapedArray((*keys.shape[:-1], *shape, 2), _U32)


def _split_impl(keys: np.ndarray, *, shape: tuple[int, ...]) -> np.ndarray:
    flat_keys = keys.reshape(-1, 2)
    n = math.prod(shape)
    out = np.empty(2 * flat_keys.shape[0] * n, _U32)
    rk.hash_counters(flat_keys, n, out, rk.MODE_PAIR)
    return out.reshape((*keys.shape[:-1], *shape, 2))


random_split_p = _keys_first(
    "random_split", _split_impl, _split_shape, weak_type=never_weak, differentiable=False
)


# ----------------------------------------------------------------------------------------------
# random_fold_in


def _fold_in_shape(keys: ShapedArray, msgs: ShapedArray) -> ShapedArray:
    check_key_data("fold_in", keys)
    if msgs.dtype != _U32 or msgs.shape != keys.shape[:-1]:
        raise ShapeError(
            f"random_fold_in: data must be uint32 of the keys' batch shape {keys.shape[:-1]}, "
            f"got {msgs.dtype}{list(msgs.shape)}"
        )
    return ShapedArray(keys.shape, _U32)


def _fold_in_impl(keys: np.ndarray, msgs: np.ndarray) -> np.ndarray:
    return rk.fold_in(keys.reshape(-1, 2), msgs.reshape(-1)).reshape(keys.shape)


def _fold_in_batch(args, dims):
    keys, msgs = args
    size = batch_size(args, dims)
    return random_fold_in_p.bind(to_front(keys, dims[0], size), to_front(msgs, dims[1], size)), 0


random_fold_in_p = Primitive(
    "random_fold_in", _fold_in_impl, _fold_in_shape, weak_type=never_weak,
    differentiable=False, batch=_fold_in_batch,
)  # fmt: skip


# ----------------------------------------------------------------------------------------------
# erf_inv: d/dx erfinv(x) = sqrt(pi) / 2 * exp(erfinv(x)**2)

_HALF_SQRT_PI = math.sqrt(math.pi) / 2


def _erf_inv_vjp(g, x, out):
    del x
    return lax.mul(g, lax.mul(lax.exp(lax.mul(out, out)), _HALF_SQRT_PI))


erf_inv_p = unary("erf_inv", rk.erf_inv, REAL_FLOAT, vjp=_erf_inv_vjp)

# fma: x * y + z with one rounding. XLA contracts uniform's ``unit * (maxval - minval) + minval``
# into a fused multiply-add on CPU, so reproducing its samples bit for bit needs one too.


def _fma_shape(x: ShapedArray, y: ShapedArray, z: ShapedArray) -> ShapedArray:
    dtype = check_same_dtypes("fma", x, y, z)
    check_dtype_kind("fma", dtype, REAL_FLOAT)
    return ShapedArray(broadcast_shapes("fma", x.shape, y.shape, z.shape), dtype)


def _fma_vjp(g, x, y, z, *, out, wants=(True, True, True)):
    del out
    gx = unbroadcast(lax.mul(g, y), x.shape) if wants[0] else None
    gy = unbroadcast(lax.mul(g, x), y.shape) if wants[1] else None
    gz = unbroadcast(g, z.shape) if wants[2] else None
    return gx, gy, gz


fma_p = Primitive("fma", rk.fma, _fma_shape, vjp=_fma_vjp, vjp_wants=True, elementwise=True)

# The next representable float after x towards y: truncated_normal's open interval ends.
nextafter_p = binary("nextafter", np.nextafter, REAL_FLOAT, differentiable=False)


def unit_dtype_ok(dtype: np.dtype) -> bool:
    """Whether ``random_bits`` can produce unit floats of ``dtype`` directly."""
    return dtypes.canonicalize(dtype) in _UNIT_DTYPES


# ----------------------------------------------------------------------------------------------
# random_gamma: one Gamma(a) sample per (key, a) pair, keys ``a.shape + (2,)``. Differentiable
# in ``a`` by implicit reparameterisation (as JAX): d sample / d a = -(dF/da) / (dF/dx) for the
# Gamma CDF F, from ``random_gamma_grad``.


def _gamma_shape(keys: ShapedArray, a: ShapedArray, *, log_space: bool) -> ShapedArray:
    del log_space
    check_key_data("gamma", keys, "keys")
    check_dtype_kind("gamma", a.dtype, REAL_FLOAT, "a")
    if keys.shape[:-1] != a.shape:
        raise ShapeError(f"random_gamma: keys {keys.shape} must be a.shape {a.shape} + (2,)")
    return ShapedArray(a.shape, a.dtype)


def _gamma_impl(keys: np.ndarray, a: np.ndarray, *, log_space: bool) -> np.ndarray:
    return rk.gamma(keys, a, log_space)


def _gamma_vjp(g, keys, a, *, out, log_space):
    del keys
    if not log_space:
        return None, lax.mul(g, random_gamma_grad_p.bind(a, out))
    # d log(x) / da = (dx / da) / x; x underflowing to 0 is replaced by the smallest normal
    x = lax.exp(out)
    x = _where(lax.eq(x, 0), _like(x, np.finfo(x.dtype).tiny), x)
    return None, lax.mul(g, lax.div(random_gamma_grad_p.bind(a, x), x))


def _gamma_batch(args, dims, *, log_space):
    keys, a = args
    size = batch_size(args, dims)
    return random_gamma_p.bind(to_front(keys, dims[0], size), to_front(a, dims[1], size),
                               log_space=log_space), 0  # fmt: skip


random_gamma_p = Primitive(
    "random_gamma", _gamma_impl, _gamma_shape, weak_type=never_weak, vjp=_gamma_vjp,
    batch=_gamma_batch,
)  # fmt: skip


def _gamma_grad_shape(a: ShapedArray, x: ShapedArray) -> ShapedArray:
    dtype = check_same_dtypes("random_gamma_grad", a, x)
    check_dtype_kind("random_gamma_grad", dtype, REAL_FLOAT)
    return ShapedArray(broadcast_shapes("random_gamma_grad", a.shape, x.shape), dtype)


random_gamma_grad_p = Primitive(
    "random_gamma_grad", rk.gamma_grad, _gamma_grad_shape, differentiable=False,
    elementwise=True,
)  # fmt: skip


# ----------------------------------------------------------------------------------------------
# haar_orthogonal: the Q factor of z = QR with R's diagonal made positive, for z ``[..., m, k]``
# (m >= k). With z Gaussian, Q is Haar-distributed (Mezzadri 2007): ``random.orthogonal``.
# A sample of the key alone, so it carries no derivative.


def _orthogonal_shape(z: ShapedArray) -> ShapedArray:
    check_dtype_kind("orthogonal", z.dtype, REAL_FLOAT)
    if z.ndim < 2 or z.shape[-2] < z.shape[-1]:
        raise ShapeError(f"haar_orthogonal: needs [..., m, k] with m >= k, got {z.shape}")
    return ShapedArray(z.shape, z.dtype)


def _orthogonal_impl(z: np.ndarray) -> np.ndarray:
    work = z.astype(np.float64 if z.dtype == np.float64 else np.float32)
    q, r = np.linalg.qr(work)
    signs = np.sign(np.diagonal(r, axis1=-2, axis2=-1))
    signs = np.where(signs == 0, 1, signs)
    return (q * signs[..., None, :]).astype(z.dtype)


haar_orthogonal_p = _keys_first(
    "haar_orthogonal", _orthogonal_impl, _orthogonal_shape, differentiable=False,
)  # fmt: skip


# ----------------------------------------------------------------------------------------------
# random_discrete[kind]: Poisson(x) or Binomial(x, y) counts, one per key (keys x.shape + (2,)).


def _discrete_shape(keys: ShapedArray, x: ShapedArray, y: ShapedArray, *, kind: str):
    check_key_data(kind, keys, "keys")
    check_same_dtypes(kind, x, y)
    if keys.shape[:-1] != x.shape or x.shape != y.shape:
        raise ShapeError(f"random_discrete: keys {keys.shape}, x {x.shape}, y {y.shape}")
    return ShapedArray(x.shape, x.dtype)


def _discrete_batch(args, dims, *, kind):
    size = batch_size(args, dims)
    moved = [to_front(a, d, size) for a, d in zip(args, dims, strict=True)]
    return random_discrete_p.bind(*moved, kind=kind), 0


random_discrete_p = Primitive(
    "random_discrete",
    lambda keys, x, y, *, kind: rk.discrete(keys, x, y, kind == "binomial"),
    _discrete_shape, weak_type=never_weak, differentiable=False, batch=_discrete_batch,
)  # fmt: skip


# ----------------------------------------------------------------------------------------------
# mvn_factor[method]: a factor F of a covariance with F @ F.T == cov (multivariate_normal).


def _mvn_factor_shape(cov: ShapedArray, *, method: str) -> ShapedArray:
    del method
    check_dtype_kind("multivariate_normal", cov.dtype, REAL_FLOAT, "cov")
    return ShapedArray(cov.shape, cov.dtype)


def _mvn_factor_impl(cov: np.ndarray, *, method: str) -> np.ndarray:
    if method == "cholesky":
        return np.linalg.cholesky(cov).astype(cov.dtype)
    w, v = np.linalg.eigh(cov)
    return (v * np.sqrt(np.clip(w, 0, None))[..., None, :]).astype(cov.dtype)


mvn_factor_p = _keys_first(
    "mvn_factor", _mvn_factor_impl, _mvn_factor_shape, differentiable=False,
)  # fmt: skip
