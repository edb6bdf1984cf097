"""``vfunc.random``: functional PRNG keys reproducing JAX's Threefry-2x32 streams bit for bit.

Randomness is explicit: a key is a value, ``split``/``fold_in`` derive new keys from it, and a
sampler called twice with one key returns the same sample. The generator is Threefry-2x32 with
JAX's default ("partitionable") key derivation, so ``key``, ``PRNGKey``, ``split``,
``fold_in``, ``bits``, ``randint``, ``uniform``, ``bernoulli``, ``permutation``, ``choice``
(without ``p``) and ``rademacher`` give JAX 0.10's exact output (tests/fixtures/random); the
samplers that go through ``log``/``tan``/``erf_inv`` agree with JAX to a few ulp (their last
bits depend on the libm), ``gamma``/``beta`` follow JAX's rejection loop draw for draw (within
16 ulp), and the rest are equal to JAX's in distribution.

Keys:

* ``key(seed)`` returns a *typed key*: a ``PRNGKeyArray`` of shape ``()`` whose ``dtype`` is
  ``key<fry>``, as in JAX. ``key_data(k)`` gives its ``uint32[..., 2]`` data and
  ``wrap_key_data`` makes a typed key from such data again.
* ``PRNGKey(seed)`` returns the raw ``uint32[2]`` key data (JAX's legacy keys). Every function
  here accepts both and returns keys of the kind it was given.

How a typed key is represented (differs from JAX): JAX gives keys an extended dtype inside its
core. Here a ``PRNGKeyArray`` is a pytree node with exactly one child, its ``uint32[..., 2]``
data, registered in vfunc's pytree namespace. ``jit``, ``vmap``, ``scan``, ``grad``,
``eval_shape`` and every other transformation therefore carry keys unchanged, as they carry any
array, and no interpreter needs to know about keys. The visible consequences: ``tree.leaves(k)``
is ``[key_data(k)]`` rather than ``[k]``; ``vmap`` maps a key array along its leading axes
only (``in_axes`` counts key axes, and a negative axis would count the data axis too); NumPy
functions (``vnp.stack``) do not accept typed keys - use ``key_data``/``wrap_key_data`` around
them; and ``grad`` with respect to a pytree holding a key raises (its data is uint32) where JAX
returns a float0 zero for it - pass keys as arguments outside ``argnums``.

Samplers are compositions of primitives (``random_bits``, ``erf_inv``, ``log1p``, ...), so
``grad`` flows through their float parameters as in JAX: ``normal(k) * sigma + mu``,
``uniform(k, minval=a, maxval=b)``, ``truncated_normal``'s bounds, and ``gamma``/``beta`` by
implicit reparameterisation.

Example:
    >>> from vfunc import random
    >>> k = random.key(0)
    >>> k
    Array((), dtype=key<fry>) overlaying:
    [0 0]
    >>> k1, k2 = random.split(k)
    >>> random.key_data(k2)
    Array([ 928981903, 3453687069], dtype=uint32)
    >>> random.uniform(k1, (3,))
    Array([0.8423141 , 0.18237865, 0.2271781 ], dtype=float32)
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from vfunc import dtypes, lax, tree
from vfunc import numpy as vnp
from vfunc.config import config
from vfunc.core import Array
from vfunc.errors import DtypeError
from vfunc.primitives.random import (
    check_key_data,
    erf_inv_p,
    fma_p,
    haar_orthogonal_p,
    mvn_factor_p,
    random_discrete_p,
    random_bits_p,
    random_fold_in_p,
    random_gamma_p,
    random_normal_p,
    random_seed_p,
    random_split_p,
)

ArrayLike = Array | np.ndarray | bool | int | float
Shape = Sequence[int]
DTypeLike = Any

__all__ = [
    "PRNGKey", "PRNGKeyArray", "ball", "bernoulli", "beta", "binomial", "bits", "categorical",
    "cauchy", "chisquare", "choice", "dirichlet", "exponential", "fold_in", "gamma", "geometric",
    "gumbel", "key", "key_data", "key_impl", "laplace", "loggamma", "logistic", "maxwell",
    "multivariate_normal", "normal", "orthogonal", "pareto", "permutation", "poisson",
    "rademacher", "randint", "shuffle", "split", "t", "truncated_normal", "uniform",
    "weibull_min", "wrap_key_data",
]  # fmt: skip


# ----------------------------------------------------------------------------------------------
# Typed keys


class KeyDType:
    """The dtype of typed keys: ``key<fry>`` (Threefry-2x32), as JAX prints it."""

    name = "key<fry>"
    impl = "threefry2x32"

    def __repr__(self) -> str:
        return self.name

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KeyDType) or other == self.name

    def __hash__(self) -> int:
        return hash(self.name)


_KEY_DTYPE = KeyDType()


class PRNGKeyArray:
    """An array of typed PRNG keys: shape ``data.shape[:-1]``, dtype ``key<fry>``.

    A pytree node whose single child is the ``uint32[..., 2]`` key data (see the module
    docstring for why). Index, iterate, reshape and compare it like an array of keys.
    """

    __slots__ = ("_base",)
    __array_priority__ = 200
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, data: Any):
        # No validation: pytree unflattening passes placeholders (and tracers) through here.
        self._base = data

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._base.shape[:-1])

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def dtype(self) -> KeyDType:
        return _KEY_DTYPE

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of unsized object (a 0-d key array)")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d key array")
        return (self[i] for i in range(self.shape[0]))

    def __getitem__(self, index: Any) -> PRNGKeyArray:
        index = index if isinstance(index, tuple) else (index,)
        if any(i is Ellipsis for i in index):
            index = (*index, slice(None))  # the key axis stays whole behind an ellipsis
        return PRNGKeyArray(self._base[index])

    def reshape(self, *shape: Any) -> PRNGKeyArray:
        """Keys with a new shape (the key data keeps its trailing axis)."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        known = math.prod(d for d in shape if d != -1)
        shape = tuple(self.size // max(known, 1) if d == -1 else d for d in shape)
        return PRNGKeyArray(vnp.reshape(self._base, (*shape, 2)))

    def ravel(self) -> PRNGKeyArray:
        """The keys as a flat array."""
        return self.reshape(-1)

    flatten = ravel

    def __eq__(self, other: object) -> Any:
        if not isinstance(other, PRNGKeyArray):
            return NotImplemented
        return vnp.all(self._base == other._base, axis=-1)

    def __ne__(self, other: object) -> Any:
        if not isinstance(other, PRNGKeyArray):
            return NotImplemented
        return vnp.any(self._base != other._base, axis=-1)

    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise TypeError(
            "a typed PRNG key array has no numpy value; use vfunc.random.key_data(keys) for its "
            "uint32 data"
        )

    def __repr__(self) -> str:
        base = self._base
        if not isinstance(base, Array) or type(base).__name__ != "ArrayImpl":
            return f"PRNGKeyArray({self.shape}, dtype=key<fry>) over {base!r}"
        return f"Array({self.shape}, dtype=key<fry>) overlaying:\n{np.asarray(base)}"

    __str__ = __repr__


tree.register_pytree_node(
    PRNGKeyArray, lambda k: ((k._base,), None), lambda _, children: PRNGKeyArray(children[0])
)


def _is_typed(k: Any) -> bool:
    return isinstance(k, PRNGKeyArray)


def _check_key(name: str, k: Any, allow_batched: bool = False) -> tuple[Array, bool]:
    """The uint32 key data of ``k`` (typed or raw) and whether it was typed."""
    if isinstance(k, PRNGKeyArray):
        data, typed = k._base, True
    elif isinstance(k, (Array, np.ndarray, list, tuple)):
        data, typed = vnp.asarray(k), False
        check_key_data(name, data.aval, "key")
    else:
        raise TypeError(
            f"{name}: unexpected PRNG key type {type(k).__name__}; pass a key from "
            "vfunc.random.key(seed) or PRNGKey(seed)"
        )
    if not allow_batched and data.ndim > 1:
        raise ValueError(
            f"{name} accepts a single key, but was given a key array of shape "
            f"{tuple(data.shape[:-1])} != (). Use vfunc.vmap for batching."
        )
    return data, typed


def _keys_out(data: Array, typed: bool) -> Any:
    return PRNGKeyArray(data) if typed else data


def _seed_data(ctor: str, seed: Any) -> Array:
    if isinstance(seed, PRNGKeyArray):
        raise TypeError(f"{ctor} accepts a scalar seed, but was given a PRNG key.")
    if isinstance(seed, bool) or isinstance(seed, float):
        raise TypeError(f"PRNG key seed must be an integer; got {seed!r} ({type(seed).__name__})")
    if isinstance(seed, int):
        # As JAX: a Python int is read as int64 (OverflowError beyond), then narrowed to its
        # low 32 bits when x64 is off, so Python hashes work as seeds in either mode.
        wide = np.int64(seed)
        value = wide if config.enable_x64 else wide.astype(np.int32)
        return random_seed_p.bind(vnp.asarray(value))
    arr = vnp.asarray(seed)
    if arr.ndim:
        raise TypeError(
            f"{ctor} accepts a scalar seed, but was given an array of shape {arr.shape} != (). "
            "Use vfunc.vmap for batching"
        )
    return random_seed_p.bind(arr)


def key(seed: int | ArrayLike, *, impl: str | None = None) -> PRNGKeyArray:
    """A typed PRNG key (shape ``()``, dtype ``key<fry>``) from an integer seed.

    Args:
        seed: a 64- or 32-bit integer (Python int, numpy or vfunc integer scalar).
        impl: ``None`` or ``"threefry2x32"``, the only implementation.

    Returns:
        A scalar key array for ``split``, ``fold_in`` and the samplers.

    Raises:
        TypeError: for a float or non-scalar seed.

    Example:
        >>> from vfunc import random
        >>> random.key_data(random.key(42))
        Array([ 0, 42], dtype=uint32)
    """
    _check_impl(impl)
    return PRNGKeyArray(_seed_data("key", seed))


def PRNGKey(seed: int | ArrayLike, *, impl: str | None = None) -> Array:  # noqa: N802 - JAX name
    """A raw ``uint32[2]`` PRNG key from an integer seed (JAX's legacy keys).

    A 64-bit seed becomes ``[high 32 bits, low 32 bits]``; with x64 off a Python int keeps its
    low 32 bits (sign-extended like an int32), so ``PRNGKey(-1)`` is ``[0, 4294967295]`` then
    and ``[4294967295, 4294967295]`` with x64, exactly as in JAX.

    Example:
        >>> from vfunc import random
        >>> random.PRNGKey(7)
        Array([0, 7], dtype=uint32)
    """
    _check_impl(impl)
    return _seed_data("PRNGKey", seed)


def _check_impl(impl: Any) -> None:
    if impl not in (None, "threefry2x32", _KEY_DTYPE):
        raise ValueError(f"unknown PRNG implementation {impl!r}; vfunc has 'threefry2x32' only")


def key_data(keys: Any) -> Array:
    """The ``uint32[..., 2]`` data underlying a key array (raw keys are returned as given)."""
    data, _ = _check_key("key_data", keys, allow_batched=True)
    return data


def wrap_key_data(key_bits_array: ArrayLike, *, impl: str | None = None) -> PRNGKeyArray:
    """A typed key array over ``uint32[..., 2]`` data (the inverse of ``key_data``)."""
    _check_impl(impl)
    data = vnp.asarray(key_bits_array)
    check_key_data("wrap_key_data", data.aval, "key_bits_array")
    return PRNGKeyArray(data)


def key_impl(keys: Any) -> str:
    """The name of the keys' PRNG implementation: always ``'threefry2x32'``."""
    _check_key("key_impl", keys, allow_batched=True)
    return "threefry2x32"


def split(key: Any, num: int | tuple[int, ...] = 2) -> Any:
    """Split a key into ``num`` new keys (a new leading axis), or a ``num``-shaped array of keys.

    Example:
        >>> from vfunc import random
        >>> random.split(random.key(0), (2, 3)).shape
        (2, 3)
    """
    data, typed = _check_key("split", key)
    shape = tuple(num) if isinstance(num, Sequence) else (num,)
    shape = tuple(operator.index(d) for d in shape)
    return _keys_out(random_split_p.bind(data, shape=shape), typed)


def fold_in(key: Any, data: int | ArrayLike) -> Any:
    """A new key from ``key`` and a 32-bit integer ``data`` (a step count, a device index)."""
    k, typed = _check_key("fold_in", key)
    if np.ndim(data) if not isinstance(data, Array) else data.ndim:
        raise TypeError(
            "fold_in accepts a scalar, but was given an array of shape "
            f"{np.shape(data) if not isinstance(data, Array) else data.shape} != (). "
            "Use vfunc.vmap for batching."
        )
    if isinstance(data, int) and not isinstance(data, bool):
        msg = vnp.asarray(np.uint32(data))  # OverflowError outside [0, 2**32), as JAX's asarray
    else:
        msg = lax.convert_element_type(vnp.asarray(data), np.uint32)
    return _keys_out(random_fold_in_p.bind(k, msg), typed)


# ----------------------------------------------------------------------------------------------
# Helpers shared by the samplers


def _shape(name: str, shape: Any) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    try:
        out = tuple(operator.index(d) for d in shape)
    except TypeError as err:
        raise TypeError(f"{name}: shape must be a tuple of ints, got {shape!r}") from err
    if any(d < 0 for d in out):
        raise ValueError(f"{name}: shape {out} has a negative dimension")
    return out


def _float_dtype(name: str, dtype: Any, kinds: str = "f") -> np.dtype:
    dt = dtypes.canonicalize(float if dtype is None else dtype)
    if dt.kind not in kinds:
        what = "a float or complex" if "c" in kinds else "a float"
        raise ValueError(f"dtype argument to `{name}` must be {what} dtype, got {dt}")
    return dt


def _int_dtype(name: str, dtype: Any) -> np.dtype:
    dt = dtypes.canonicalize(int if dtype is None else dtype)
    if dt.kind not in "iu":
        raise ValueError(f"dtype argument to `{name}` must be an int dtype, got {dt}")
    return dt


def _shape_of(x: Any) -> tuple[int, ...]:
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def _broadcast_shapes(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(np.broadcast_shapes(*shapes))


def _check_param_shapes(name: str, shape: tuple[int, ...], **params: Any) -> None:
    """The result shape must be what ``shape`` and every parameter broadcast to (as JAX)."""
    for pname, value in params.items():
        pshape = _shape_of(value)
        try:
            ok = _broadcast_shapes(shape, pshape) == shape
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(
                f"{name}: parameter {pname} has shape {pshape}, which is not broadcast-compatible "
                f"with shape {shape} (broadcasting them must give {shape}). Pass shape=None to "
                f"use the parameters' broadcast shape, or reshape {pname}."
            )


def _shape_or_params(name: str, shape: Any, **params: Any) -> tuple[int, ...]:
    if shape is None:
        try:
            return _broadcast_shapes(*(_shape_of(v) for v in params.values()))
        except ValueError as err:
            seen = ", ".join(f"{k} {_shape_of(v)}" for k, v in params.items())
            raise ValueError(f"{name}: parameter shapes do not broadcast: {seen}") from err
    shape = _shape(name, shape)
    _check_param_shapes(name, shape, **params)
    return shape


def _as(x: Any, dtype: np.dtype) -> Array:
    """``x`` as an array of ``dtype`` (strongly typed; differentiable for float inputs)."""
    x = vnp.asarray(x)
    return x if x.dtype == dtype and not x.weak_type else lax.convert_element_type(x, dtype)


def _split2(data: Array) -> tuple[Array, Array]:
    keys = random_split_p.bind(data, shape=(2,))
    return keys[0], keys[1]


def _bits(data: Array, shape: tuple[int, ...], dtype: np.dtype) -> Array:
    return random_bits_p.bind(data, shape=shape, dtype=np.dtype(dtype))


# ----------------------------------------------------------------------------------------------
# Bits, integers, uniform floats


def bits(key: Any, shape: Shape = (), dtype: DTypeLike | None = None) -> Array:
    """Uniform random bits as unsigned integers (default uint64 with x64, else uint32).

    Example:
        >>> from vfunc import random
        >>> random.bits(random.key(0), (2,), "uint8")
        Array([167, 146], dtype=uint8)
    """
    data, _ = _check_key("bits", key)
    dt = dtypes.canonicalize((np.uint64 if config.enable_x64 else np.uint32) if dtype is None
                             else dtype)  # fmt: skip
    if dt.kind != "u":
        raise ValueError(f"dtype argument to `bits` must be an unsigned int dtype, got {dt}")
    return _bits(data, _shape("bits", shape), dt)


def _uniform(data: Array, shape: tuple[int, ...], dtype: np.dtype, minval: Any, maxval: Any):
    _check_param_shapes("uniform", shape, minval=minval, maxval=maxval)
    lo = _as(minval, dtype)
    hi = _as(maxval, dtype)
    unit = _bits(data, shape, dtype)
    return lax.max(lo, fma_p.bind(unit, hi - lo, lo))


def uniform(
    key: Any,
    shape: Shape = (),
    dtype: DTypeLike | None = None,
    minval: ArrayLike = 0.0,
    maxval: ArrayLike = 1.0,
) -> Array:
    """Uniform floats in ``[minval, maxval)`` (default dtype float32, float64 with x64).

    ``minval`` and ``maxval`` broadcast against ``shape``; gradients flow into both.

    Example:
        >>> from vfunc import random
        >>> random.uniform(random.key(0), (2,), minval=-1.0, maxval=1.0)
        Array([0.895334  , 0.95715976], dtype=float32)
    """
    data, _ = _check_key("uniform", key)
    dt = _float_dtype("uniform", dtype)
    return _uniform(data, _shape("uniform", shape), dt, minval, maxval)


def _clip_to(x: Array, dtype: np.dtype) -> Array:
    """Integer ``x`` clipped into ``dtype``'s range, then converted (no wrap-around)."""
    src, dst = np.iinfo(x.dtype), np.iinfo(dtype)
    lo, hi = max(src.min, dst.min), min(src.max, dst.max)
    return lax.convert_element_type(vnp.clip(x, np.array(lo, x.dtype), np.array(hi, x.dtype)),
                                    dtype)  # fmt: skip


def _int_bound(x: Any) -> Array:
    x = vnp.asarray(x)
    return x if x.dtype.kind in "iu" else x.astype(dtypes.default_int())


def randint(
    key: Any, shape: Shape, minval: ArrayLike, maxval: ArrayLike, dtype: DTypeLike | None = None
) -> Array:
    """Uniform integers in ``[minval, maxval)`` (default dtype int32, int64 with x64).

    Example:
        >>> from vfunc import random
        >>> random.randint(random.key(0), (5,), 0, 10)
        Array([9, 0, 2, 3, 1], dtype=int32)
    """
    data, _ = _check_key("randint", key)
    dt = dtypes.canonicalize(int if dtype is None else dtype)
    if dt.kind not in "iu":
        raise TypeError(f"randint only accepts integer dtypes, got {dt}")
    shape = _shape("randint", shape)
    lo, hi = _int_bound(minval), _int_bound(maxval)
    sampling = dt
    info = np.iinfo(dt)
    if info.bits < 32:  # as JAX: sample in int32 with the bounds clipped to dt's range
        sampling = np.dtype(np.int32)
        lo = vnp.clip(lo.astype(np.int32), int(info.min), int(info.max))
        hi = vnp.clip(hi.astype(np.int32), int(info.min), int(info.max) + 1)
    return _randint(data, lo, hi, shape, sampling).astype(dt)


def _randint(data: Array, lo: Array, hi: Array, shape: tuple[int, ...], dtype: np.dtype) -> Array:
    _check_param_shapes("randint", shape, minval=lo, maxval=hi)
    top = _clip_to(vnp.asarray(np.array(np.iinfo(dtype).max, dtype)), hi.dtype)
    hi_out_of_range = hi > top
    lo = _clip_to(lo, dtype)
    hi = _clip_to(hi, dtype)
    nbits = np.iinfo(dtype).bits
    udt = np.dtype(f"uint{nbits}")
    k1, k2 = _split2(data)
    higher, lower = _bits(k1, shape, udt), _bits(k2, shape, udt)
    one = np.array(1, udt)
    span = lax.convert_element_type(hi - lo, udt)
    span = vnp.where(hi <= lo, one, span)
    span = vnp.where(hi_out_of_range & (hi > lo), span + one, span)
    # Combine two draws so that the result is uniform up to a bias of 2**-nbits (JAX's method).
    multiplier = lax.rem(vnp.full_like(span, 2 ** (nbits // 2)), span)
    multiplier = lax.rem(multiplier * multiplier, span)
    offset = lax.rem(lax.rem(higher, span) * multiplier + lax.rem(lower, span), span)
    return lo + lax.convert_element_type(offset, dtype)


def bernoulli(key: Any, p: ArrayLike = 0.5, shape: Shape | None = None, mode: str = "low") -> Array:
    """Booleans that are True with probability ``p`` (``p`` must have a float dtype).

    Example:
        >>> from vfunc import random
        >>> random.bernoulli(random.key(0), 0.5, (4,))
        Array([False, False,  True,  True], dtype=bool)
    """
    if mode not in ("high", "low"):
        raise ValueError(f"got mode={mode!r}, expected 'high' or 'low'")
    data, _ = _check_key("bernoulli", key)
    p = vnp.asarray(p)
    if p.dtype.kind != "f":
        raise TypeError(f"bernoulli probability `p` must have a floating dtype, got {p.dtype}.")
    shape = _shape_or_params("bernoulli", shape, p=p)
    if mode == "high":
        u = _uniform(data, (2, *shape), p.dtype, 0.0, 1.0)
        u1, u2 = u[0], u[1] * (2.0 ** -np.finfo(p.dtype).nmant)
        return u2 < p - u1
    return _uniform(data, shape, p.dtype, 0.0, 1.0) < p


def rademacher(key: Any, shape: Shape = (), dtype: DTypeLike | None = None) -> Array:
    """-1 or +1 with equal probability (default dtype int)."""
    data, _ = _check_key("rademacher", key)
    dt = dtypes.canonicalize(int if dtype is None else dtype)
    b = bernoulli(data, 0.5, _shape("rademacher", shape))
    return (2 * b.astype(dt) - 1).astype(dt)


# ----------------------------------------------------------------------------------------------
# Permutations and choices


def _shuffle(data: Array, x: Array, axis: int) -> Array:
    # Sorting by fresh random 32-bit keys; enough rounds that ties (which keep order) are rare.
    rounds = math.ceil(3 * math.log(max(1, x.size)) / math.log(np.iinfo(np.uint32).max))
    for _ in range(rounds):
        data, sub = _split2(data)
        sort_keys = _bits(sub, tuple(x.shape), np.uint32)
        _, x = lax.sort([sort_keys, x], dimension=axis, num_keys=1)
    return x


def permutation(key: Any, x: int | ArrayLike, axis: int = 0, independent: bool = False) -> Array:
    """A random permutation of ``range(x)`` (an int) or of ``x`` along ``axis``.

    With ``independent=True`` each slice along the other axes is shuffled on its own;
    otherwise whole slices move together. (``shuffle`` semantics are ``permutation`` with
    ``independent=True``, as in JAX.)

    Example:
        >>> from vfunc import random
        >>> random.permutation(random.key(0), 5)
        Array([0, 1, 4, 3, 2], dtype=int32)
    """
    data, _ = _check_key("permutation", key)
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool) or (
        np.ndim(x) == 0 and not isinstance(x, (float, complex))
        and getattr(x, "dtype", np.dtype(float)).kind in "iu"
    ):  # fmt: skip
        n = operator.index(x) if not isinstance(x, Array) else int(x)
        return _shuffle(data, vnp.arange(n), 0)
    arr = vnp.asarray(x)
    if arr.ndim == 0:
        raise TypeError("x must be an integer or at least 1-dimensional")
    ax = axis % arr.ndim if -arr.ndim <= axis < arr.ndim else None
    if ax is None:
        raise ValueError(f"permutation: axis {axis} is out of range for x of shape {arr.shape}")
    if independent or arr.ndim == 1:
        return _shuffle(data, arr, ax)
    order = _shuffle(data, vnp.arange(arr.shape[ax]), 0)
    return vnp.take(arr, order, axis=ax)


def shuffle(key: Any, x: ArrayLike, axis: int = 0) -> Array:
    """``x`` shuffled independently along ``axis`` (JAX's deprecated ``shuffle``)."""
    return permutation(key, x, axis=axis, independent=True)


def choice(
    key: Any,
    a: int | ArrayLike,
    shape: Shape = (),
    replace: bool = True,
    p: ArrayLike | None = None,
    axis: int = 0,
    mode: str | None = None,
) -> Array:
    """Random samples of ``a`` (``range(a)`` for an int), uniform or with probabilities ``p``.

    With ``p`` and ``replace=True`` the draw inverts the cumulative ``p`` by comparing every draw
    with every entry (memory ``draws * len(p)``, where JAX uses a binary search).

    Example:
        >>> from vfunc import random
        >>> random.choice(random.key(0), 10, (3,), replace=False)
        Array([0, 1, 8], dtype=int32)
    """
    data, _ = _check_key("choice", key)
    if not isinstance(shape, Sequence):
        raise TypeError(f"shape argument of vfunc.random.choice must be a sequence, got {shape}")
    shape = _shape("choice", shape)
    arr = vnp.asarray(a)
    if arr.ndim == 0:
        n_inputs = int(a)
    else:
        axis = axis % arr.ndim
        n_inputs = arr.shape[axis]
    n_draws = math.prod(shape)
    if n_draws == 0:
        return vnp.zeros(shape, dtype=arr.dtype)
    if n_inputs <= 0:
        raise ValueError("a must be greater than 0 unless no samples are taken")
    if not replace and n_draws > n_inputs:
        raise ValueError(
            f"Cannot take a larger sample (size {n_draws}) than population (size {n_inputs}) "
            "when 'replace=False'"
        )
    if p is None:
        if replace:
            ind = randint(data, shape, 0, n_inputs)
            result = ind if arr.ndim == 0 else vnp.take(arr, ind, axis=axis)
        else:
            perm = permutation(data, n_inputs if arr.ndim == 0 else arr, axis)
            lead = (slice(None),) * (0 if arr.ndim == 0 else axis)
            result = perm[lead + (slice(n_draws),)]
    else:
        p_arr = vnp.asarray(p)
        if p_arr.dtype.kind not in "fc":
            p_arr = p_arr.astype(dtypes.default_float())
        if p_arr.shape != (n_inputs,):
            raise ValueError(
                "p must be None or a 1D vector with the same size as a.shape[axis]. "
                f"p has shape {p_arr.shape} and a.shape[axis] is {n_inputs}."
            )
        if replace:
            cdf = vnp.cumsum(p_arr)
            r = cdf[-1] * (1 - _uniform(data, shape, cdf.dtype, 0.0, 1.0))
            # searchsorted(cdf, r, side="left"): how many cdf entries lie below r.
            ind = vnp.sum(cdf < r[..., None], axis=-1).astype(dtypes.default_int())
        else:
            g = gumbel(data, (n_inputs,), p_arr.dtype, mode) + vnp.log(p_arr)
            ind = vnp.argsort(-g)[:n_draws].astype(dtypes.default_int())
        result = ind if arr.ndim == 0 else vnp.take(arr, ind, axis=axis)
    out_shape = shape if arr.ndim == 0 else (*arr.shape[:axis], *shape, *arr.shape[axis + 1:])
    return vnp.reshape(result, out_shape)


# ----------------------------------------------------------------------------------------------
# Continuous samplers built on uniform floats


def _normal_real(data: Array, shape: tuple[int, ...], dtype: np.dtype) -> Array:
    if dtype in (np.float32, np.float64):
        # sqrt(2) * erf_inv(uniform(lo, 1)) below, fused into the hash kernel (same bits)
        return random_normal_p.bind(data, shape=shape, dtype=dtype)
    return _normal_composed(data, shape, dtype)


def _normal_composed(data: Array, shape: tuple[int, ...], dtype: np.dtype) -> Array:
    lo = np.nextafter(np.array(-1.0, dtype), np.array(0.0, dtype))
    u = _uniform(data, shape, dtype, lo, np.array(1.0, dtype))
    return np.array(np.sqrt(2), dtype) * erf_inv_p.bind(u)


def normal(key: Any, shape: Shape = (), dtype: DTypeLike | None = None) -> Array:
    """Standard normal samples (float, or complex with unit total variance).

    Differentiable in whatever multiplies or shifts it: ``normal(k) * sigma + mu``.

    Example:
        >>> from vfunc import random
        >>> random.normal(random.key(0), (3,))
        Array([ 1.6226422 ,  2.0252647 , -0.43359444], dtype=float32)
    """
    data, _ = _check_key("normal", key)
    dt = _float_dtype("normal", dtype, "fc")
    shape = _shape("normal", shape)
    if dt.kind == "c":
        real = np.dtype(np.float64 if dt == np.complex128 else np.float32)
        k_re, k_im = _split2(data)
        re = _normal_real(k_re, shape, real).astype(dt)
        im = _normal_real(k_im, shape, real).astype(dt)
        return (re + 1j * im) / np.array(np.sqrt(2), dt)
    return _normal_real(data, shape, dt)


def truncated_normal(
    key: Any,
    lower: ArrayLike,
    upper: ArrayLike,
    shape: Shape | None = None,
    dtype: DTypeLike | None = None,
) -> Array:
    """Normal samples conditioned on ``lower < x < upper`` (open interval).

    Example:
        >>> from vfunc import random
        >>> x = random.truncated_normal(random.key(0), -1.0, 1.0, (1000,))
        >>> bool((x > -1).all() and (x < 1).all())
        True
    """
    data, _ = _check_key("truncated_normal", key)
    dt = _float_dtype("truncated_normal", dtype)
    shape = _shape_or_params("truncated_normal", shape, lower=lower, upper=upper)
    sqrt2 = np.array(np.sqrt(2), dt)
    lower, upper = _as(lower, dt), _as(upper, dt)
    a = lax.erf(lower / sqrt2)
    b = lax.erf(upper / sqrt2)
    u = _uniform(data, shape, dt, a, b)
    out = sqrt2 * erf_inv_p.bind(u)
    lo = lax.nextafter(lax.stop_gradient(lower), np.array(np.inf, dt))
    hi = lax.nextafter(lax.stop_gradient(upper), np.array(-np.inf, dt))
    return vnp.clip(out, lo, hi)


def _unit_open(data: Array, shape: tuple[int, ...], dtype: np.dtype, lo: float) -> Array:
    return _uniform(data, shape, dtype, np.array(lo, dtype), np.array(1.0, dtype))


def _simple(name: str, key: Any, shape: Shape, dtype: Any) -> tuple[Array, tuple, np.dtype]:
    data, _ = _check_key(name, key)
    return data, _shape(name, shape), _float_dtype(name, dtype)


def gumbel(
    key: Any, shape: Shape = (), dtype: DTypeLike | None = None, mode: str | None = None
) -> Array:
    """Standard Gumbel samples; ``mode="high"`` uses two draws to reach further into the tail.

    Differs from JAX: ``mode="highest"`` is ``"high"`` (JAX has an extra float32 path for it).
    """
    data, shape, dt = _simple("gumbel", key, shape, dtype)
    mode = "low" if mode is None else mode
    if mode not in ("highest", "high", "low"):
        raise ValueError(f"Must provide valid mode for gumbel got: {mode}")
    info = np.finfo(dt)
    if mode == "low":
        u = _unit_open(data, shape, dt, info.tiny)
        return -vnp.log(-vnp.log(u))
    u = _uniform(data, (2, *shape), dt, 0.0, 1.0)
    high, low = u[0], u[1]
    x = vnp.where(high >= 0.5, high, high + 2.0 ** -info.nmant * low + info.tiny)
    return -vnp.log(-vnp.log1p(-x))


def exponential(key: Any, shape: Shape = (), dtype: DTypeLike | None = None) -> Array:
    """Standard exponential samples (rate 1)."""
    data, shape, dt = _simple("exponential", key, shape, dtype)
    return -vnp.log1p(-_uniform(data, shape, dt, 0.0, 1.0))


def laplace(key: Any, shape: Shape = (), dtype: DTypeLike | None = None) -> Array:
    """Standard Laplace samples (density ``exp(-|x|) / 2``)."""
    data, shape, dt = _simple("laplace", key, shape, dtype)
    u = _unit_open(data, shape, dt, -1.0 + np.finfo(dt).epsneg)
    return vnp.sign(u) * vnp.log1p(-vnp.abs(u))


def logistic(key: Any, shape: Shape = (), dtype: DTypeLike | None = None) -> Array:
    """Standard logistic samples."""
    data, shape, dt = _simple("logistic", key, shape, dtype)
    x = _unit_open(data, shape, dt, np.finfo(dt).tiny)
    return vnp.log(x) - vnp.log1p(-x)


def cauchy(key: Any, shape: Shape = (), dtype: DTypeLike | None = None) -> Array:
    """Standard Cauchy samples."""
    data, shape, dt = _simple("cauchy", key, shape, dtype)
    u = _unit_open(data, shape, dt, np.finfo(dt).eps)
    return vnp.tan(np.array(np.pi, dt) * (u - np.array(0.5, dt)))


def maxwell(key: Any, shape: Shape = (), dtype: DTypeLike | None = None) -> Array:
    """Maxwell samples: the norm of a 3-D standard normal vector."""
    data, shape, dt = _simple("maxwell", key, shape, dtype)
    z = normal(data, (*shape, 3), dt)
    return vnp.sqrt(vnp.sum(z * z, axis=-1))


def weibull_min(
    key: Any,
    scale: ArrayLike,
    concentration: ArrayLike,
    shape: Shape = (),
    dtype: DTypeLike | None = None,
) -> Array:
    """Weibull samples with ``scale`` and ``concentration`` (differentiable in both)."""
    data, shape, dt = _simple("weibull_min", key, shape, dtype)
    u = _uniform(data, shape, dt, 0.0, 1.0)
    return vnp.power(-vnp.log1p(-u), 1.0 / _as(concentration, dt)) * _as(scale, dt)


def pareto(
    key: Any, b: ArrayLike, shape: Shape | None = None, dtype: DTypeLike | None = None
) -> Array:
    """Pareto samples with shape parameter ``b`` (support ``[1, inf)``)."""
    data, _ = _check_key("pareto", key)
    dt = _float_dtype("pareto", dtype)
    shape = _shape_or_params("pareto", shape, b=b)
    return vnp.exp(exponential(data, shape, dt) / _as(b, dt))


def geometric(
    key: Any, p: ArrayLike, shape: Shape | None = None, dtype: DTypeLike | None = None
) -> Array:
    """Number of Bernoulli(``p``) trials up to and including the first success (int)."""
    data, _ = _check_key("geometric", key)
    dt = _int_dtype("geometric", dtype)
    shape = _shape_or_params("geometric", shape, p=p)
    p = vnp.asarray(p)
    if p.dtype.kind not in "f":
        p = p.astype(dtypes.default_float())
    u = _uniform(data, shape, p.dtype, 0.0, 1.0)
    u = vnp.where(u == 0, np.array(1.0, p.dtype), u)
    return (vnp.floor(vnp.log(u) / vnp.log1p(-p)) + 1).astype(dt)


def categorical(
    key: Any,
    logits: ArrayLike,
    axis: int = -1,
    shape: Shape | None = None,
    replace: bool = True,
    mode: str | None = None,
) -> Array:
    """Samples from categorical distributions given by unnormalised log-probabilities.

    Example:
        >>> from vfunc import random, numpy as vnp
        >>> random.categorical(random.key(0), vnp.log(vnp.array([0.1, 0.2, 0.7])), shape=(5,))
        Array([1, 2, 2, 1, 2], dtype=int32)
    """
    data, _ = _check_key("categorical", key)
    logits = vnp.asarray(logits)
    if logits.dtype.kind != "f":
        logits = logits.astype(dtypes.default_float())
    if not -logits.ndim <= axis < logits.ndim:
        raise ValueError(f"categorical: axis {axis} is out of range for logits {logits.shape}")
    axis = axis % logits.ndim
    batch_shape = tuple(np.delete(np.array(logits.shape, dtype=np.int64), axis).tolist())
    if shape is None:
        shape = batch_shape
    else:
        shape = _shape("categorical", shape)
        _check_param_shapes("categorical", shape, logits=np.empty(batch_shape))
    prefix = shape[: len(shape) - len(batch_shape)]
    if replace:
        neg = axis - logits.ndim
        logits_shape = list(shape[len(shape) - len(batch_shape):])
        logits_shape.insert(neg % logits.ndim, logits.shape[axis])
        g = gumbel(data, (*prefix, *logits_shape), logits.dtype, mode)
        expanded = vnp.reshape(logits, (1,) * len(prefix) + logits.shape)
        return vnp.argmax(g + expanded, axis=neg).astype(dtypes.default_int())
    noisy = logits + gumbel(data, logits.shape, logits.dtype, mode)
    k = math.prod(prefix)
    if k > logits.shape[axis]:
        raise ValueError(
            f"Number of samples without replacement ({k}) cannot exceed number of categories "
            f"({logits.shape[axis]})."
        )
    order = vnp.argsort(-vnp.moveaxis(noisy, axis, -1), axis=-1)[..., :k]
    order = vnp.moveaxis(order, -1, 0)
    return vnp.reshape(order, shape).astype(dtypes.default_int())


# ----------------------------------------------------------------------------------------------
# Gamma and the samplers built on it


def _gamma(data: Array, a: Any, shape: tuple[int, ...], dtype: np.dtype, log_space: bool):
    a = _as(a, dtype)
    if a.shape != shape:
        a = vnp.broadcast_to(a, shape)
    # One key per element, as JAX: split(key, size) in row-major order.
    keys = random_split_p.bind(data, shape=shape)
    return random_gamma_p.bind(keys, a, log_space=log_space)


def gamma(
    key: Any, a: ArrayLike, shape: Shape | None = None, dtype: DTypeLike | None = None
) -> Array:
    """Gamma(``a``, 1) samples; differentiable in ``a`` (implicit reparameterisation, as JAX).

    Example:
        >>> from vfunc import random
        >>> x = random.gamma(random.key(0), 2.0, (10000,))
        >>> round(float(x.mean()), 1)
        2.0
    """
    data, _ = _check_key("gamma", key)
    dt = _float_dtype("gamma", dtype)
    shape = _shape_or_params("gamma", shape, a=a)
    return _gamma(data, a, shape, dt, False)


def loggamma(
    key: Any, a: ArrayLike, shape: Shape | None = None, dtype: DTypeLike | None = None
) -> Array:
    """``log`` of Gamma(``a``) samples, accurate where the samples underflow (small ``a``)."""
    data, _ = _check_key("loggamma", key)
    dt = _float_dtype("loggamma", dtype)
    shape = _shape_or_params("loggamma", shape, a=a)
    return _gamma(data, a, shape, dt, True)


def beta(
    key: Any,
    a: ArrayLike,
    b: ArrayLike,
    shape: Shape | None = None,
    dtype: DTypeLike | None = None,
) -> Array:
    """Beta(``a``, ``b``) samples, from two log-gamma draws; differentiable in ``a`` and ``b``."""
    data, _ = _check_key("beta", key)
    dt = _float_dtype("beta", dtype)
    shape = _shape_or_params("beta", shape, a=a, b=b)
    key_a, key_b = _split2(data)
    log_a = _gamma(key_a, a, shape, dt, True)
    log_b = _gamma(key_b, b, shape, dt, True)
    log_max = vnp.maximum(log_a, log_b)
    ga, gb = vnp.exp(log_a - log_max), vnp.exp(log_b - log_max)
    return ga / (ga + gb)


def dirichlet(
    key: Any, alpha: ArrayLike, shape: Shape | None = None, dtype: DTypeLike | None = None
) -> Array:
    """Dirichlet(``alpha``) samples over the last axis of ``alpha``; differentiable in it."""
    data, _ = _check_key("dirichlet", key)
    dt = _float_dtype("dirichlet", dtype)
    alpha_shape = _shape_of(alpha)
    if len(alpha_shape) < 1:
        raise ValueError(
            f"dirichlet requires alpha.ndim >= 1, got alpha.ndim == {len(alpha_shape)}"
        )
    if shape is None:
        shape = alpha_shape[:-1]
    else:
        shape = _shape("dirichlet", shape)
        _check_param_shapes("dirichlet", shape, alpha=np.empty(alpha_shape[:-1]))
    logs = _gamma(data, alpha, (*shape, alpha_shape[-1]), dt, True)
    logs = logs - vnp.max(lax.stop_gradient(logs), axis=-1, keepdims=True)
    e = vnp.exp(logs)
    return e / vnp.sum(e, axis=-1, keepdims=True)


def chisquare(
    key: Any, df: ArrayLike, shape: Shape | None = None, dtype: DTypeLike | None = None
) -> Array:
    """Chi-square samples with ``df`` degrees of freedom (2 * Gamma(df / 2))."""
    data, _ = _check_key("chisquare", key)
    dt = _float_dtype("chisquare", dtype)
    shape = _shape_or_params("chisquare", shape, df=df)
    half = _as(df, dt) / 2
    return vnp.exp(_gamma(data, half, shape, dt, True)) * 2


def t(key: Any, df: ArrayLike, shape: Shape | None = None, dtype: DTypeLike | None = None) -> Array:
    """Student's t samples with ``df`` degrees of freedom."""
    data, _ = _check_key("t", key)
    dt = _float_dtype("t", dtype)
    shape = _shape_or_params("t", shape, df=df)
    key_n, key_g = _split2(data)
    n = _normal_real(key_n, shape, dt)
    half = _as(df, dt) / 2
    g = _gamma(key_g, half, shape, dt, False)
    return n * vnp.sqrt(half / g)


def _generalized_normal(data: Array, p: float, shape: tuple[int, ...], dtype: np.dtype) -> Array:
    k1, k2 = _split2(data)
    g = _gamma(k1, 1 / p, shape, dtype, False)
    r = rademacher(k2, shape, dtype)
    return r * g ** (1 / p)


def ball(
    key: Any, d: int, p: float = 2, shape: Shape = (), dtype: DTypeLike | None = None
) -> Array:
    """Uniform samples in the unit ``p``-norm ball of dimension ``d``: shape ``(*shape, d)``."""
    data, _ = _check_key("ball", key)
    dt = _float_dtype("ball", dtype)
    shape = _shape("ball", shape)
    d = operator.index(d)
    k1, k2 = _split2(data)
    g = _generalized_normal(k1, p, (*shape, d), dt)
    e = _uniform(k2, shape, dt, 0.0, 1.0)
    e = -vnp.log1p(-e)
    return g / ((vnp.sum(vnp.abs(g) ** p, axis=-1) + e) ** (1 / p))[..., None]


def orthogonal(
    key: Any, n: int, shape: Shape = (), dtype: DTypeLike | None = None, m: int | None = None
) -> Array:
    """Haar-random orthogonal matrices ``(*shape, n, m)`` (semi-orthogonal when ``n != m``).

    Differs from JAX: no gradient flows through it (it depends on the key only), and QR runs in
    NumPy; the matrices equal JAX's up to rounding.

    Example:
        >>> from vfunc import random, numpy as vnp
        >>> q = random.orthogonal(random.key(0), 3)
        >>> bool(vnp.allclose(q @ q.T, vnp.eye(3), atol=1e-5))
        True
    """
    data, _ = _check_key("orthogonal", key)
    dt = _float_dtype("orthogonal", dtype)
    shape = _shape("orthogonal", shape)
    n = operator.index(n)
    m = n if m is None else operator.index(m)
    z = _normal_real(data, (*shape, max(n, m), min(n, m)), dt)
    q = haar_orthogonal_p.bind(z)
    return vnp.swapaxes(q, -1, -2) if n < m else q


def multivariate_normal(
    key: Any,
    mean: ArrayLike,
    cov: ArrayLike,
    shape: Shape | None = None,
    dtype: DTypeLike | None = None,
    method: str = "cholesky",
) -> Array:
    """Multivariate normal samples ``mean + factor @ z`` with ``factor @ factor.T == cov``.

    Differs from JAX: the factorisation (Cholesky, or an eigendecomposition for ``"svd"`` and
    ``"eigh"``) runs in NumPy without a derivative, so gradients reach ``mean`` but not ``cov``.
    """
    if method not in {"svd", "eigh", "cholesky"}:
        raise ValueError("method must be one of {'svd', 'eigh', 'cholesky'}")
    data, _ = _check_key("multivariate_normal", key)
    mean, cov = vnp.asarray(mean), vnp.asarray(cov)
    if mean.dtype.kind != "f":
        mean = mean.astype(dtypes.default_float())
    dt = mean.dtype if dtype is None else _float_dtype("multivariate_normal", dtype)
    if mean.ndim < 1:
        raise ValueError(
            f"multivariate_normal requires mean.ndim >= 1, got mean.ndim == {mean.ndim}"
        )
    if cov.ndim < 2:
        raise ValueError(f"multivariate_normal requires cov.ndim >= 2, got cov.ndim == {cov.ndim}")
    n = mean.shape[-1]
    if cov.shape[-2:] != (n, n):
        raise ValueError(
            f"multivariate_normal requires cov.shape == (..., n, n) for n={n}, but got "
            f"cov.shape == {cov.shape}."
        )
    if shape is None:
        shape = _broadcast_shapes(mean.shape[:-1], cov.shape[:-2])
    else:
        shape = _shape("multivariate_normal", shape)
        _check_param_shapes("multivariate_normal", shape, mean=np.empty(mean.shape[:-1]),
                            cov=np.empty(cov.shape[:-2]))  # fmt: skip
    factor = mvn_factor_p.bind(lax.stop_gradient(cov.astype(dt)), method=method)
    z = _normal_real(data, (*shape, n), dt)
    return mean.astype(dt) + vnp.einsum("...ij,...j->...i", factor, z)


def poisson(
    key: Any, lam: ArrayLike, shape: Shape | None = None, dtype: DTypeLike | None = None
) -> Array:
    """Poisson(``lam``) counts (int).

    Differs from JAX: the draws come from a per-element numba sampler (inversion for small
    ``lam``, transformed rejection for large) on the same Threefry keys; equal in distribution,
    not in values.
    """
    data, _ = _check_key("poisson", key)
    dt = _int_dtype("poisson", dtype)
    shape = _shape_or_params("poisson", shape, lam=lam)
    lam = vnp.broadcast_to(_as(lax.stop_gradient(vnp.asarray(lam)), np.dtype(np.float32)), shape)
    keys = random_split_p.bind(data, shape=shape)
    return random_discrete_p.bind(keys, lam, lam, kind="poisson").astype(dt)


def binomial(
    key: Any,
    n: ArrayLike,
    p: ArrayLike,
    shape: Shape | None = None,
    dtype: DTypeLike | None = None,
) -> Array:
    """Binomial(``n``, ``p``) counts as floats (JAX's convention); NaN for invalid ``n``/``p``.

    Differs from JAX: drawn by a per-element numba sampler on the same keys (equal in
    distribution, not in values).
    """
    data, _ = _check_key("binomial", key)
    dt = _float_dtype("binomial", dtype)
    shape = _shape_or_params("binomial", shape, n=n, p=p)
    n_arr = vnp.broadcast_to(_as(lax.stop_gradient(vnp.asarray(n)), dt), shape)
    p_arr = vnp.broadcast_to(_as(lax.stop_gradient(vnp.asarray(p)), dt), shape)
    keys = random_split_p.bind(data, shape=shape)
    return random_discrete_p.bind(keys, n_arr, p_arr, kind="binomial")
