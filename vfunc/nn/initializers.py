"""Parameter initialisers with ``jax.nn.initializers``' names and calling convention.

Each public name returns an initialiser ``init(key, shape, dtype=None) -> Array`` (the
``*_init`` factories, like JAX's), except ``zeros``/``ones`` which are initialisers themselves,
as in JAX. Fans follow JAX's convention for ``variance_scaling`` (``in_axis=-2``,
``out_axis=-1``: a ``(in, out)`` dense kernel); the PyTorch layers pass ``in_axis``/``out_axis``
for their ``(out, in, *kernel)`` layouts. Random draws come from ``vfunc.random``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import vfunc.numpy as vnp
from vfunc import dtypes

__all__ = [
    "Initializer", "constant", "delta_orthogonal", "glorot_normal", "glorot_uniform",
    "he_normal", "he_uniform", "kaiming_normal", "kaiming_uniform", "lecun_normal",
    "lecun_uniform", "normal", "ones", "orthogonal", "truncated_normal", "uniform",
    "variance_scaling", "xavier_normal", "xavier_uniform", "zeros",
]  # fmt: skip

Initializer = Callable[..., Any]


def random_module() -> Any:
    """``vfunc.random``, or a clear error while it is not available."""
    try:
        from vfunc import random
    except ImportError as e:  # pragma: no cover - depends on the build
        raise ImportError(
            "vfunc.nn: initialising parameters needs vfunc.random, which this build lacks; "
            "load weights with nn.load_state_dict instead"
        ) from e
    return random


def _dtype(dtype: Any) -> np.dtype:
    return dtypes.default_float() if dtype is None else dtypes.canonicalize(dtype)


def zeros(key: Any, shape: Sequence[int], dtype: Any = None) -> Any:
    """All zeros (``key`` is ignored), as ``jax.nn.initializers.zeros``.

    Example:
        >>> zeros(None, (2,))
        Array([0., 0.], dtype=float32)
    """
    del key
    return vnp.zeros(tuple(shape), _dtype(dtype))


def ones(key: Any, shape: Sequence[int], dtype: Any = None) -> Any:
    """All ones (``key`` is ignored), as ``jax.nn.initializers.ones``.

    Example:
        >>> ones(None, (2,))
        Array([1., 1.], dtype=float32)
    """
    del key
    return vnp.ones(tuple(shape), _dtype(dtype))


def constant(value: Any, dtype: Any = None) -> Initializer:
    """An initialiser filling with ``value``.

    Example:
        >>> constant(0.5)(None, (2,))
        Array([0.5, 0.5], dtype=float32)
    """
    default = dtype

    def init(key: Any, shape: Sequence[int], dtype: Any = default) -> Any:
        del key
        return vnp.full(tuple(shape), value, _dtype(dtype))

    return init


def uniform(scale: float = 1e-2, dtype: Any = None) -> Initializer:
    """Uniform on ``[0, scale)``, as ``jax.nn.initializers.uniform``."""
    default = dtype

    def init(key: Any, shape: Sequence[int], dtype: Any = default) -> Any:
        return random_module().uniform(key, tuple(shape), _dtype(dtype), 0.0, scale)

    return init


def normal(stddev: float = 1e-2, dtype: Any = None) -> Initializer:
    """Normal with mean 0 and standard deviation ``stddev``."""
    default = dtype

    def init(key: Any, shape: Sequence[int], dtype: Any = default) -> Any:
        return random_module().normal(key, tuple(shape), _dtype(dtype)) * stddev

    return init


def truncated_normal(stddev: float = 1e-2, dtype: Any = None, lower: float = -2.0,
                     upper: float = 2.0) -> Initializer:  # fmt: skip
    """Normal truncated to ``[lower, upper]`` standard deviations, then scaled by ``stddev``."""
    default = dtype

    def init(key: Any, shape: Sequence[int], dtype: Any = default) -> Any:
        draw = random_module().truncated_normal(key, lower, upper, tuple(shape), _dtype(dtype))
        return draw * stddev

    return init


def compute_fans(shape: Sequence[int], in_axis: int | Sequence[int] = -2,
                 out_axis: int | Sequence[int] = -1,
                 batch_axis: int | Sequence[int] = ()) -> tuple[float, float]:  # fmt: skip
    """(fan_in, fan_out): the in/out axis sizes times the receptive field (the other axes).

    Example:
        >>> compute_fans((3, 4, 5, 5), in_axis=1, out_axis=0)  # OIHW conv kernel
        (100.0, 75.0)
    """
    shape = tuple(shape)
    if len(shape) < 1:
        raise ValueError(f"initializers: cannot compute fans of shape {shape}")
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])

    def axes(a: int | Sequence[int]) -> tuple[int, ...]:
        return tuple(i % len(shape) for i in ((a,) if isinstance(a, int) else a))

    ins, outs, batch = axes(in_axis), axes(out_axis), axes(batch_axis)
    receptive = math.prod(d for i, d in enumerate(shape) if i not in ins + outs + batch)
    fan_in = math.prod(shape[i] for i in ins) * receptive
    fan_out = math.prod(shape[i] for i in outs) * receptive
    return float(fan_in), float(fan_out)


def variance_scaling(scale: float, mode: str, distribution: str,
                     in_axis: int | Sequence[int] = -2, out_axis: int | Sequence[int] = -1,
                     batch_axis: Sequence[int] = (), dtype: Any = None) -> Initializer:
    """Variance ``scale / fan`` (``mode``: fan_in, fan_out, fan_avg), from ``distribution``
    ``truncated_normal``, ``normal`` or ``uniform``, as ``jax.nn.initializers.variance_scaling``.
    """
    if mode not in ("fan_in", "fan_out", "fan_avg"):
        raise ValueError(f"variance_scaling: mode must be fan_in, fan_out or fan_avg, got {mode!r}")
    if distribution not in ("truncated_normal", "normal", "uniform"):
        raise ValueError(
            "variance_scaling: distribution must be truncated_normal, normal or uniform, got "
            f"{distribution!r}"
        )
    default = dtype

    def init(key: Any, shape: Sequence[int], dtype: Any = default) -> Any:
        fan_in, fan_out = compute_fans(shape, in_axis, out_axis, batch_axis)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
        variance = scale / max(fan, 1.0)
        dt, random = _dtype(dtype), random_module()
        if distribution == "uniform":
            bound = math.sqrt(3 * variance)
            return random.uniform(key, tuple(shape), dt, -bound, bound)
        if distribution == "normal":
            return random.normal(key, tuple(shape), dt) * math.sqrt(variance)
        # A standard normal truncated to [-2, 2] has standard deviation 0.8796...
        std = math.sqrt(variance) / 0.87962566103423978
        return random.truncated_normal(key, -2.0, 2.0, tuple(shape), dt) * std

    return init


def _named(scale: float, mode: str, distribution: str) -> Callable[..., Initializer]:
    def factory(in_axis: int | Sequence[int] = -2, out_axis: int | Sequence[int] = -1,
                batch_axis: Sequence[int] = (), dtype: Any = None) -> Initializer:
        return variance_scaling(scale, mode, distribution, in_axis, out_axis, batch_axis, dtype)

    factory.__doc__ = (
        f"``variance_scaling({scale}, {mode!r}, {distribution!r})``, as JAX's initialiser of "
        "this name."
    )
    return factory


glorot_uniform = xavier_uniform = _named(1.0, "fan_avg", "uniform")
glorot_normal = xavier_normal = _named(1.0, "fan_avg", "truncated_normal")
lecun_uniform = _named(1.0, "fan_in", "uniform")
lecun_normal = _named(1.0, "fan_in", "truncated_normal")
he_uniform = kaiming_uniform = _named(2.0, "fan_in", "uniform")
he_normal = kaiming_normal = _named(2.0, "fan_in", "truncated_normal")


def orthogonal(scale: float = 1.0, column_axis: int = -1, dtype: Any = None) -> Initializer:
    """A (semi-)orthogonal matrix along ``column_axis``, times ``scale``, as
    ``jax.nn.initializers.orthogonal``: the Q of a Gaussian matrix's QR factorisation, its
    columns' signs fixed by ``R``'s diagonal so that the distribution is uniform (Haar). Built
    from ``vfunc.numpy.linalg.qr``, so it traces (``jit`` an initialiser) and, as
    ``vfunc.random`` draws JAX's bits, a key gives JAX's matrix (to rounding).

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import random
        >>> w = orthogonal()(random.key(0), (3, 5))
        >>> bool(vnp.allclose(w @ w.T, vnp.eye(3), atol=1e-5))
        True
    """
    default = dtype

    def init(key: Any, shape: Sequence[int], dtype: Any = default) -> Any:
        shape = tuple(shape)
        if len(shape) < 2:
            raise ValueError(f"orthogonal: needs at least 2 dimensions, got shape {shape}")
        dt = _dtype(dtype)
        n_cols = shape[column_axis]
        n_rows = math.prod(shape) // n_cols
        mat = random_module().normal(key, (max(n_rows, n_cols), min(n_rows, n_cols)), dt)
        q, r = vnp.linalg.qr(mat)
        q = q * vnp.sign(vnp.diagonal(r))
        if n_rows < n_cols:
            q = q.T
        rest = tuple(d for i, d in enumerate(shape) if i != column_axis % len(shape))
        q = vnp.moveaxis(vnp.reshape(q, rest + (n_cols,)), -1, column_axis)
        return (scale * q).astype(dt)

    return init


def delta_orthogonal(scale: float = 1.0, column_axis: int = -1, dtype: Any = None
                     ) -> Initializer:  # fmt: skip
    """An orthogonal ``(in, out)`` matrix at the spatial centre of a conv kernel (JAX's layout:
    spatial axes first, then in, out; the centre of an even size ``k`` is ``(k - 1) // 2``),
    zeros elsewhere, as ``jax.nn.initializers.delta_orthogonal``. Traceable, as ``orthogonal``.

    Example:
        >>> from vfunc import random
        >>> w = delta_orthogonal()(random.key(0), (3, 2, 2))
        >>> w.shape, float(abs(w[0]).sum() + abs(w[2]).sum())
        ((3, 2, 2), 0.0)
    """
    default = dtype

    def init(key: Any, shape: Sequence[int], dtype: Any = default) -> Any:
        shape = tuple(shape)
        if len(shape) not in (3, 4, 5):
            raise ValueError(f"delta_orthogonal: needs a 3 to 5 dimensional shape, got {shape}")
        if shape[-2] > shape[-1]:
            raise ValueError(f"delta_orthogonal: in ({shape[-2]}) must be <= out ({shape[-1]})")
        mat = orthogonal(scale, column_axis, dtype)(key, shape[-2:], dtype)
        centre = tuple((k - 1) // 2 for k in shape[:-2])
        return vnp.zeros(shape, mat.dtype).at[centre].set(mat)

    return init
