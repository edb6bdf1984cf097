"""Activation functions and friends, with ``jax.nn``'s names, signatures and defaults.

Every function here is a plain composition of ``vfunc.numpy``/``vfunc.lax`` operations: none
carries a derivative or batching rule of its own, so ``grad`` and the other transformations come
from the primitives. Where numerics need a primitive, one already exists (``lax.logistic`` for
``sigmoid``, ``lax.erf`` for the exact ``gelu``).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

import vfunc.numpy as vnp
from vfunc import dtypes, lax
from vfunc.core import Array
from vfunc.errors import ShapeError
from vfunc.lax import ArrayLike
from vfunc.numpy._promote import promote_args
from vfunc.numpy.reductions import canonical_axes
from vfunc.scipy.special import log_softmax, logsumexp, softmax  # jax.nn's are jax.scipy's

Axis = int | Sequence[int] | None

__all__ = [
    "celu", "elu", "gelu", "glu", "hard_tanh", "leaky_relu", "log_sigmoid", "log_softmax",
    "logsumexp", "one_hot", "relu", "relu6", "selu", "sigmoid", "silu", "soft_sign", "softmax",
    "softplus", "sparse_plus", "standardize", "swish",
]  # fmt: skip


def _inexact(x: ArrayLike) -> Array:
    # Integer and bool inputs become the default float, keeping a Python scalar weakly typed.
    (x,) = promote_args(x, inexact=True)
    return x


def relu(x: ArrayLike) -> Array:
    """Rectified linear unit: ``max(x, 0)``, with derivative 0 at ``x == 0``.

    Args:
        x: input array; integer inputs stay integer, as in JAX.

    Returns:
        ``x`` where it is positive, else 0 (NaN gives 0).

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.relu(vnp.array([-2.0, 0.0, 1.5]))
        Array([0. , 0. , 1.5], dtype=float32)
    """
    # where(), not maximum(x, 0): max splits ties, which would make grad(relu)(0.) 0.5, not 0
    return vnp.where(vnp.greater(x, 0), x, 0)


def relu6(x: ArrayLike) -> Array:
    """Rectified linear unit capped at 6: ``min(max(x, 0), 6)``.

    The derivative is 0 at both kinks (``x == 0`` and ``x == 6``), as in JAX.

    Args:
        x: input array (integers are promoted to the default float, as in JAX).

    Returns:
        ``x`` clipped to ``[0, 6]``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.relu6(vnp.array([-1.0, 3.0, 7.0]))
        Array([0., 3., 6.], dtype=float32)
    """
    # Nested where()s rather than clip(): each kink then sends its whole cotangent to the
    # constant branch, so the derivative there is 0 (clip's min/max would give 0.5).
    capped = vnp.where(vnp.less(x, 6), x, 6.0)
    return vnp.where(vnp.greater(x, 0), capped, 0.0)


def sigmoid(x: ArrayLike) -> Array:
    """Logistic sigmoid ``1 / (1 + exp(-x))`` (the ``logistic`` primitive).

    Differs from JAX: integer inputs are promoted to the default float (``jax.nn.sigmoid``
    rejects them), as ``vfunc.numpy.exp`` does.

    Args:
        x: input array.

    Returns:
        Values in ``[0, 1]``; no overflow for large ``|x|``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.sigmoid(vnp.array([-1000.0, 0.0, 1000.0]))
        Array([0. , 0.5, 1. ], dtype=float32)
    """
    return lax.logistic(_inexact(x))


def silu(x: ArrayLike) -> Array:
    """SiLU (swish): ``x * sigmoid(x)``. ``swish`` is the same function.

    Args:
        x: input array (integers are promoted to the default float).

    Returns:
        An array of ``x``'s float dtype.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.silu(vnp.array([-1.0, 0.0, 2.0]))
        Array([-0.26894143,  0.        ,  1.761594  ], dtype=float32)
    """
    x = _inexact(x)
    return x * lax.logistic(x)


swish = silu


def softplus(x: ArrayLike) -> Array:
    """Softplus ``log(1 + exp(x))``, computed as ``logaddexp(x, 0)`` so it never overflows.

    Args:
        x: input array (integers are promoted to the default float).

    Returns:
        Positive values; ``softplus(x) == x`` for large ``x``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.softplus(vnp.array([-1.0, 0.0, 1.0]))
        Array([0.31326163, 0.6931472 , 1.3132616 ], dtype=float32)
        >>> nn.softplus(1000.0)
        Array(1000., dtype=float32, weak_type=True)
    """
    return vnp.logaddexp(_inexact(x), 0)


def log_sigmoid(x: ArrayLike) -> Array:
    """``log(sigmoid(x)) = -softplus(-x)``, accurate where ``sigmoid(x)`` underflows.

    Args:
        x: input array (integers are promoted to the default float).

    Returns:
        Non-positive values.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.log_sigmoid(vnp.array([-1.0, 0.0, 1.0]))
        Array([-1.3132616 , -0.6931472 , -0.31326163], dtype=float32)
        >>> nn.log_sigmoid(-1000.0)
        Array(-1000., dtype=float32, weak_type=True)
    """
    return vnp.negative(softplus(vnp.negative(_inexact(x))))


def soft_sign(x: ArrayLike) -> Array:
    """Soft sign ``x / (|x| + 1)``.

    Args:
        x: input array (integers are promoted to the default float).

    Returns:
        Values in ``(-1, 1)``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.soft_sign(vnp.array([-3.0, 0.0, 1.0]))
        Array([-0.75,  0.  ,  0.5 ], dtype=float32)
    """
    x = _inexact(x)
    return x / (vnp.absolute(x) + 1)


def sparse_plus(x: ArrayLike) -> Array:
    """Sparse plus: 0 for ``x <= -1``, ``(x + 1)**2 / 4`` on ``(-1, 1)``, ``x`` for ``x >= 1``.

    Args:
        x: input array (integers are promoted to the default float).

    Returns:
        A smooth, convex, monotonic function that is exactly 0 below -1.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.sparse_plus(vnp.array([-2.0, 0.0, 2.0]))
        Array([0.  , 0.25, 2.  ], dtype=float32)
    """
    x = _inexact(x)
    quadratic = (x + 1) * (x + 1) / 4
    return vnp.where(vnp.less_equal(x, -1), 0.0, vnp.where(vnp.greater_equal(x, 1), x, quadratic))


def hard_tanh(x: ArrayLike) -> Array:
    """Hard tanh: ``x`` clipped to ``[-1, 1]``.

    Args:
        x: input array (integers stay integer, as in JAX).

    Returns:
        Values in ``[-1, 1]``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.hard_tanh(vnp.array([-2.0, 0.5, 3.0]))
        Array([-1. ,  0.5,  1. ], dtype=float32)
    """
    # where()s rather than clip(): clip's max/min would halve the derivative at +-1; here the
    # identity owns the closed interval [-1, 1], so it is 1 there, as in JAX.
    return vnp.where(vnp.greater(x, 1), 1, vnp.where(vnp.less(x, -1), -1, x))


def leaky_relu(x: ArrayLike, negative_slope: ArrayLike = 1e-2) -> Array:
    """Leaky ReLU: ``x`` for ``x >= 0``, ``negative_slope * x`` below.

    Args:
        x: input array.
        negative_slope: slope on the negative side, a scalar or an array broadcasting with ``x``.

    Returns:
        An array of the promoted dtype of ``x`` and ``negative_slope``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.leaky_relu(vnp.array([-2.0, 3.0]), negative_slope=0.1)
        Array([-0.2,  3. ], dtype=float32)
    """
    return vnp.where(vnp.greater_equal(x, 0), x, vnp.multiply(negative_slope, x))


def elu(x: ArrayLike, alpha: ArrayLike = 1.0) -> Array:
    """Exponential linear unit: ``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` otherwise.

    Args:
        x: input array (integers are promoted to the default float).
        alpha: scale of the negative side, a scalar or an array broadcasting with ``x``.

    Returns:
        An array of ``x``'s float dtype.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.elu(vnp.array([-1.0, 0.0, 2.0]))
        Array([-0.63212055,  0.        ,  2.        ], dtype=float32)
    """
    x = _inexact(x)
    positive = vnp.greater(x, 0)
    # expm1 sees only the non-positive side: exp(1000) = inf in the unselected branch would
    # still turn into inf * 0 = NaN in the derivative.
    negative_side = vnp.multiply(alpha, vnp.expm1(vnp.where(positive, 0.0, x)))
    return vnp.where(positive, x, negative_side)


def celu(x: ArrayLike, alpha: ArrayLike = 1.0) -> Array:
    """Continuously differentiable ELU: ``x`` for ``x > 0``, ``alpha * (exp(x / alpha) - 1)``
    otherwise.

    Args:
        x: input array (integers are promoted to the default float).
        alpha: scale of the negative side, a scalar or an array broadcasting with ``x``.

    Returns:
        An array of ``x``'s float dtype.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.celu(vnp.array([-2.0, 1.0]), alpha=2.0)
        Array([-1.2642411,  1.       ], dtype=float32)
    """
    x = _inexact(x)
    positive = vnp.greater(x, 0)
    # As in elu: keep exp away from the large positive inputs it would overflow on.
    negative_side = vnp.multiply(alpha, vnp.expm1(vnp.divide(vnp.where(positive, 0.0, x), alpha)))
    return vnp.where(positive, x, negative_side)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(x: ArrayLike) -> Array:
    """Scaled ELU: ``scale * elu(x, alpha)`` with the self-normalizing constants
    ``alpha = 1.67326...`` and ``scale = 1.05070...``.

    Args:
        x: input array (integers are promoted to the default float).

    Returns:
        An array of ``x``'s float dtype.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.selu(vnp.array([-1.0, 1.0]))
        Array([-1.1113307,  1.050701 ], dtype=float32)
    """
    return elu(x, _SELU_ALPHA) * _SELU_SCALE


_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_SQRT_HALF = math.sqrt(0.5)


def gelu(x: ArrayLike, approximate: bool = True) -> Array:
    """Gaussian error linear unit ``x * Phi(x)``, ``Phi`` the standard normal CDF.

    With ``approximate=True`` (the default, as in JAX) ``Phi`` is the tanh approximation
    ``(1 + tanh(sqrt(2/pi) * (x + 0.044715 x**3))) / 2``; with ``approximate=False`` it is the
    exact ``(1 + erf(x / sqrt(2))) / 2``.

    Differs from JAX: the exact form uses ``1 + erf`` (there is no ``erfc`` primitive), so for
    ``x`` below about -5 the result is accurate in absolute terms only (error around machine
    epsilon times ``|x|``), not to full relative precision.

    Args:
        x: input array (integers are promoted to the default float).
        approximate: use the tanh approximation (True) or the erf form (False).

    Returns:
        An array of ``x``'s float dtype.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.gelu(vnp.array([-1.0, 0.0, 1.0]))
        Array([-0.158808,  0.      ,  0.841192], dtype=float32)
        >>> nn.gelu(vnp.array([-1.0, 0.0, 1.0]), approximate=False)
        Array([-0.15865526,  0.        ,  0.8413447 ], dtype=float32)
    """
    x = _inexact(x)
    if approximate:
        # x**3 may overflow to inf for huge |x|; tanh(+-inf) = +-1 still gives x or -0.
        inner = (x + 0.044715 * (x * x * x)) * _SQRT_2_OVER_PI
        cdf = (vnp.tanh(inner) + 1) * 0.5
    else:
        cdf = (lax.erf(x * _SQRT_HALF) + 1) * 0.5
    return x * cdf


def glu(x: ArrayLike, axis: int = -1) -> Array:
    """Gated linear unit: split ``x`` in two halves along ``axis``, ``a * sigmoid(b)``.

    Args:
        x: input array whose ``axis`` has even length (integers are promoted to float).
        axis: the axis to split.

    Returns:
        An array with ``axis`` half as long as in ``x``.

    Raises:
        ShapeError: if the length of ``axis`` is odd.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.glu(vnp.array([1.0, 2.0, 0.0, 1000.0]))
        Array([0.5, 2. ], dtype=float32)
    """
    x = _inexact(x)
    size = x.shape[axis] if x.ndim else None
    if size is None or size % 2:
        raise ShapeError(
            f"glu: axis {axis} of an input of shape {x.shape} must have even length to split "
            "into a value half and a gate half"
        )
    value, gate = vnp.split(x, 2, axis)
    return value * lax.logistic(gate)


def standardize(
    x: ArrayLike,
    axis: Axis = -1,
    mean: ArrayLike | None = None,
    variance: ArrayLike | None = None,
    epsilon: ArrayLike = 1e-5,
    where: ArrayLike | None = None,
) -> Array:
    """``(x - mean) / sqrt(variance + epsilon)``, the statistics taken over ``axis`` unless
    given.

    As in JAX, a missing variance is ``mean(x**2) - mean**2`` (with ``mean`` the given one if
    any), one pass over ``x``; it loses precision when ``|mean|`` is much larger than the
    spread.

    Args:
        x: input array (integers are promoted to the default float).
        axis: axis or axes of the statistics (None: all).
        mean: the mean to subtract, broadcasting with ``x``; computed when None.
        variance: the variance to divide by, broadcasting with ``x``; computed when None.
        epsilon: added to the variance before the square root.
        where: optional boolean mask: only True entries enter the computed statistics (every
            entry is still standardized).

    Returns:
        An array like ``x``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.standardize(vnp.array([1.0, 2.0, 3.0]), epsilon=0.0)
        Array([-1.224745,  0.      ,  1.224745], dtype=float32)
    """
    x = _inexact(x)
    axes = canonical_axes("standardize", axis, x.ndim)

    def masked_mean(values: Array) -> Array:
        if where is None:
            return vnp.mean(values, axis=axes, keepdims=True)
        mask = vnp.broadcast_to(vnp.asarray(where), values.shape)
        total = vnp.sum(vnp.where(mask, values, 0.0), axis=axes, keepdims=True)
        return total / vnp.sum(mask, axis=axes, keepdims=True)

    if mean is None:
        mean = masked_mean(x)
    if variance is None:
        variance = masked_mean(x * x) - vnp.square(mean)
    return vnp.subtract(x, mean) * lax.rsqrt(_inexact(vnp.add(variance, epsilon)))


def one_hot(x: ArrayLike, num_classes: int, *, dtype: Any = None, axis: int = -1) -> Array:
    """One-hot encode the indices ``x``: a new axis of length ``num_classes``, 1 at the index.

    Indices outside ``[0, num_classes)``, negative ones included, give all-zero vectors, as in
    JAX (no wrap-around).

    Args:
        x: integer indices (float indices work too: 1.0 matches class 1, 1.5 matches none).
        num_classes: the number of classes, a concrete int.
        dtype: the result dtype (default: the default float, float32 or float64 with x64, as
            JAX's ``jnp.float_``).
        axis: where the new axis goes in the result (negative counts from the end).

    Returns:
        An array of shape ``x.shape`` with ``num_classes`` inserted at ``axis``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.one_hot(vnp.array([0, 2, -1, 3]), 3)
        Array([[1., 0., 0.],
               [0., 0., 1.],
               [0., 0., 0.],
               [0., 0., 0.]], dtype=float32)
    """
    num_classes = operator.index(num_classes)
    if num_classes < 0:
        raise ValueError(f"one_hot: num_classes must be non-negative, got {num_classes}")
    target = dtypes.default_float() if dtype is None else dtypes.canonicalize(dtype)
    x = vnp.asarray(x)
    indices = vnp.expand_dims(x, axis)  # also validates axis against the result's rank
    position = axis % indices.ndim
    classes_shape = [1] * x.ndim
    classes_shape.insert(position, num_classes)
    # The classes are counted in the default int, not x's dtype: an iota of uint8 would wrap
    # past 255 and mark a second class.
    classes = lax.broadcasted_iota(dtypes.default_int(), classes_shape, position)
    return vnp.astype(vnp.equal(indices, classes), target)
