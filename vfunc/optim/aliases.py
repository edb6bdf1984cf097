"""Optimisers: optax's aliases, each a ``chain`` of transforms with optax's defaults.

``learning_rate`` is a float or a schedule (a function of the step count) everywhere. The
update is what to *add* to the params (the learning rate's sign is already flipped), so a step
is ``updates, state = opt.update(grads, state, params); params = apply_updates(params,
updates)``.
"""

from __future__ import annotations

import functools
from typing import Any

from vfunc.optim import transforms as tf
from vfunc.optim.base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    ScalarOrSchedule,
    identity,
)
from vfunc.optim.combinators import chain, masked

__all__ = [
    "adadelta",
    "adafactor",
    "adagrad",
    "adam",
    "adamax",
    "adamaxw",
    "adamw",
    "amsgrad",
    "lamb",
    "lars",
    "lion",
    "nadam",
    "nadamw",
    "noisy_sgd",
    "radam",
    "rmsprop",
    "sgd",
    "sign_sgd",
]


def _decoupled(
    scaling: GradientTransformation, weight_decay: Any, mask: Any, learning_rate: Any
) -> GradientTransformationExtraArgs:
    """``scaling``, then decoupled weight decay (``+ weight_decay * param``), then ``-lr``."""
    return chain(
        scaling,
        tf.add_decayed_weights(weight_decay, mask),
        tf.scale_by_learning_rate(learning_rate),
    )


def sgd(
    learning_rate: ScalarOrSchedule,
    momentum: Any = None,
    nesterov: bool = False,
    accumulator_dtype: Any = None,
) -> GradientTransformationExtraArgs:
    """Stochastic gradient descent, with optional (Nesterov) momentum.

    Matches ``torch.optim.SGD(lr, momentum, nesterov=...)`` (dampening 0): optax's trace is
    ``g + momentum * trace`` and torch's buffer is the same, scaled by the learning rate after.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import optim
        >>> opt = optim.sgd(0.1, momentum=0.9)
        >>> state = opt.init(vnp.zeros(1))
        >>> u, state = opt.update(vnp.ones(1), state)
        >>> u, state = opt.update(vnp.ones(1), state)
        >>> u
        Array([-0.19], dtype=float32)
    """
    if momentum is not None:
        first = tf.trace(decay=momentum, nesterov=nesterov, accumulator_dtype=accumulator_dtype)
    else:
        first = identity()
    return chain(first, tf.scale_by_learning_rate(learning_rate))


def adam(
    learning_rate: ScalarOrSchedule,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    eps_root: Any = 0.0,
    mu_dtype: Any = None,
    *,
    nesterov: bool = False,
) -> GradientTransformationExtraArgs:
    """Adam (Kingma & Ba): ``-lr * m_hat / (sqrt(v_hat + eps_root) + eps)``.

    Same equations as ``torch.optim.Adam`` (eps outside the square root, bias-corrected
    moments)."""
    return chain(
        tf.scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov),
        tf.scale_by_learning_rate(learning_rate),
    )


nadam = functools.partial(adam, nesterov=True)
nadam.__doc__ = """NAdam: ``adam`` with Nesterov momentum (optax's form, Dozat 2016).

Not ``torch.optim.NAdam``'s equations: torch adds a momentum-decay schedule (``momentum_decay``)
that optax and this do not have."""


def adamw(
    learning_rate: ScalarOrSchedule,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    eps_root: Any = 0.0,
    mu_dtype: Any = None,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: Any = None,
    *,
    nesterov: bool = False,
) -> GradientTransformationExtraArgs:
    """AdamW: Adam with decoupled weight decay, ``-lr * (adam_update + weight_decay * p)``.

    Args:
        mask: a tree of bools (or a function of the params giving one): which params decay.

    ``torch.optim.AdamW`` multiplies the params by ``1 - lr * wd`` before the Adam step,
    which is the same update."""
    scaling = tf.scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov)
    return _decoupled(scaling, weight_decay, mask, learning_rate)


nadamw = functools.partial(adamw, nesterov=True)
nadamw.__doc__ = "NAdamW: ``adamw`` with Nesterov momentum."


def amsgrad(
    learning_rate: ScalarOrSchedule,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    eps_root: Any = 0.0,
    mu_dtype: Any = None,
    bias_correction_mu: bool = True,
    bias_correction_nu: bool = True,
) -> GradientTransformationExtraArgs:
    """AMSGrad: Adam dividing by the running maximum of the debiased second moment.

    Not quite ``torch.optim.Adam(amsgrad=True)``: torch keeps the maximum of the raw second
    moment and debiases after; with ``bias_correction_nu=False`` the maxima agree but torch
    still divides the maximum by its bias correction."""
    return chain(
        tf.scale_by_amsgrad(
            b1, b2, eps, eps_root, mu_dtype, bias_correction_mu, bias_correction_nu
        ),
        tf.scale_by_learning_rate(learning_rate),
    )


def adamax(
    learning_rate: ScalarOrSchedule, b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8
) -> GradientTransformationExtraArgs:
    """Adamax: Adam with an infinity-norm second moment."""
    return chain(tf.scale_by_adamax(b1, b2, eps), tf.scale_by_learning_rate(learning_rate))


def adamaxw(
    learning_rate: ScalarOrSchedule,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: Any = None,
) -> GradientTransformationExtraArgs:
    """Adamax with decoupled weight decay."""
    return _decoupled(tf.scale_by_adamax(b1, b2, eps), weight_decay, mask, learning_rate)


def radam(
    learning_rate: ScalarOrSchedule,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    eps_root: Any = 0.0,
    threshold: Any = 5.0,
    *,
    nesterov: bool = False,
) -> GradientTransformationExtraArgs:
    """Rectified Adam (Liu et al.)."""
    return chain(
        tf.scale_by_radam(b1, b2, eps, eps_root, threshold, nesterov=nesterov),
        tf.scale_by_learning_rate(learning_rate),
    )


def rmsprop(
    learning_rate: ScalarOrSchedule,
    decay: Any = 0.9,
    eps: Any = 1e-8,
    initial_scale: Any = 0.0,
    eps_in_sqrt: bool = True,
    centered: bool = False,
    momentum: Any = None,
    nesterov: bool = False,
    bias_correction: bool = False,
) -> GradientTransformationExtraArgs:
    """RMSProp, optionally centered and with momentum.

    ``torch.optim.RMSprop`` puts eps outside the square root: pass ``eps_in_sqrt=False`` to
    match it (``alpha`` there is ``decay`` here)."""
    if centered:
        first = tf.scale_by_stddev(decay, eps, initial_scale, eps_in_sqrt, bias_correction)
    else:
        first = tf.scale_by_rms(decay, eps, initial_scale, eps_in_sqrt, bias_correction)
    last = tf.trace(decay=momentum, nesterov=nesterov) if momentum is not None else identity()
    return chain(first, tf.scale_by_learning_rate(learning_rate), last)


def adagrad(
    learning_rate: ScalarOrSchedule, initial_accumulator_value: Any = 0.1, eps: Any = 1e-7
) -> GradientTransformationExtraArgs:
    """Adagrad: ``-lr * g / sqrt(sum of squares + eps)``.

    ``torch.optim.Adagrad`` adds eps outside the square root; the two agree with ``eps=0``."""
    return chain(
        tf.scale_by_rss(initial_accumulator_value, eps), tf.scale_by_learning_rate(learning_rate)
    )


def adadelta(
    learning_rate: ScalarOrSchedule | None = None,
    rho: Any = 0.9,
    eps: Any = 1e-6,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_decay_mask: Any = None,
) -> GradientTransformationExtraArgs:
    """Adadelta (Zeiler); the same equations as ``torch.optim.Adadelta``."""
    return chain(
        tf.add_decayed_weights(weight_decay, mask=weight_decay_mask),
        tf.scale_by_adadelta(rho=rho, eps=eps),
        tf.scale_by_learning_rate(learning_rate),
    )


def adafactor(
    learning_rate: ScalarOrSchedule | None = None,
    min_dim_size_to_factor: int = 128,
    decay_rate: Any = 0.8,
    decay_offset: Any = 0,
    multiply_by_parameter_scale: bool = True,
    clipping_threshold: Any = 1.0,
    momentum: Any = None,
    dtype_momentum: Any = "float32",
    weight_decay_rate: ScalarOrSchedule | None = None,
    eps: Any = 1e-30,
    factored: bool = True,
    weight_decay_mask: Any = None,
) -> GradientTransformationExtraArgs:
    """Adafactor (Shazeer & Stern): factored second moments for matrices."""
    parts = [tf.scale_by_factored_rms(factored, decay_rate, decay_offset, min_dim_size_to_factor,
                                      eps)]  # fmt: skip
    if clipping_threshold is not None:
        parts.append(tf.clip_by_block_rms(clipping_threshold))
    if learning_rate is not None:
        parts.append(tf.scale_by_learning_rate(learning_rate, flip_sign=False))
    if multiply_by_parameter_scale:
        parts.append(tf.scale_by_param_block_rms())
    if momentum is not None:
        parts.append(tf.ema(momentum, debias=False, accumulator_dtype=dtype_momentum))
    if weight_decay_rate is not None:
        parts.append(tf.add_decayed_weights(weight_decay_rate, mask=weight_decay_mask))
    parts.append(tf.scale(-1))
    return chain(*parts)


def lion(
    learning_rate: ScalarOrSchedule,
    b1: Any = 0.9,
    b2: Any = 0.99,
    mu_dtype: Any = None,
    weight_decay: ScalarOrSchedule = 1e-3,
    mask: Any = None,
) -> GradientTransformationExtraArgs:
    """Lion (Chen et al.): sign of interpolated momentum, decoupled weight decay."""
    return _decoupled(tf.scale_by_lion(b1, b2, mu_dtype), weight_decay, mask, learning_rate)


def lamb(
    learning_rate: ScalarOrSchedule,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-6,
    eps_root: Any = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: Any = None,
) -> GradientTransformationExtraArgs:
    """LAMB (You et al.): Adam with weight decay, scaled by the layerwise trust ratio."""
    return chain(
        tf.scale_by_adam(b1, b2, eps, eps_root),
        tf.add_decayed_weights(weight_decay, mask),
        tf.scale_by_trust_ratio(),
        tf.scale_by_learning_rate(learning_rate),
    )


def lars(
    learning_rate: ScalarOrSchedule,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_decay_mask: Any = True,
    trust_coefficient: Any = 1e-3,
    eps: Any = 0.0,
    trust_ratio_mask: Any = True,
    momentum: Any = 0.9,
    nesterov: bool = False,
) -> GradientTransformationExtraArgs:
    """LARS (You et al.): SGD with momentum, weight decay and layerwise trust ratios."""
    return chain(
        tf.add_decayed_weights(weight_decay, mask=weight_decay_mask),
        masked(tf.scale_by_trust_ratio(trust_coefficient=trust_coefficient, eps=eps),
               mask=trust_ratio_mask),  # fmt: skip
        tf.scale_by_learning_rate(learning_rate),
        tf.trace(decay=momentum, nesterov=nesterov),
    )


def noisy_sgd(
    learning_rate: ScalarOrSchedule, eta: Any = 0.01, gamma: Any = 0.55, key: Any = 0
) -> GradientTransformationExtraArgs:
    """SGD with annealed Gaussian gradient noise (``add_noise``; needs ``vfunc.random``)."""
    return chain(tf.add_noise(eta, gamma, key), tf.scale_by_learning_rate(learning_rate))


def sign_sgd(learning_rate: ScalarOrSchedule) -> GradientTransformationExtraArgs:
    """SGD on the signs of the gradients."""
    return chain(tf.scale_by_sign(), tf.scale_by_learning_rate(learning_rate))
