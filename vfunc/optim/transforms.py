"""Gradient transformations: the building blocks the aliases chain (optax's equations).

Each function returns a ``GradientTransformation``; each state is a NamedTuple with optax's
name, fields and field order, so a state built by optax (converted leaf by leaf) drives these
updates and the other way round. Written with ``vfunc.numpy``, so under ``jit`` each leaf's
elementwise update fuses into one loop.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

import vfunc.numpy as vnp
from vfunc import dtypes, lax, tree
from vfunc.optim.base import (
    NO_PARAMS_MSG,
    EmptyState,
    GradientTransformation,
    ScalarOrSchedule,
    identity,
    init_empty_state,
    map_checked,
)
from vfunc.optim.tree_utils import (
    check_same_structure,
    safe_increment,
    tree_bias_correction,
    tree_cast,
    tree_cast_like,
    tree_full_like,
    tree_norm,
    tree_zeros_like,
)

__all__ = [
    "AddNoiseState",
    "EmaState",
    "FactoredState",
    "ScaleByAdaDeltaState",
    "ScaleByAdamState",
    "ScaleByAmsgradState",
    "ScaleByLionState",
    "ScaleByRStdDevState",
    "ScaleByRStdDevWithCountState",
    "ScaleByRmsState",
    "ScaleByRmsWithCountState",
    "ScaleByRssState",
    "ScaleByScheduleState",
    "TraceState",
    "WeightDecaySchedule",
    "ZeroNansState",
    "add_decayed_weights",
    "add_noise",
    "clip",
    "clip_by_block_rms",
    "clip_by_global_norm",
    "ema",
    "scale",
    "scale_by_adadelta",
    "scale_by_adam",
    "scale_by_adamax",
    "scale_by_amsgrad",
    "scale_by_factored_rms",
    "scale_by_learning_rate",
    "scale_by_lion",
    "scale_by_param_block_norm",
    "scale_by_param_block_rms",
    "scale_by_radam",
    "scale_by_rms",
    "scale_by_rss",
    "scale_by_schedule",
    "scale_by_sign",
    "scale_by_stddev",
    "scale_by_trust_ratio",
    "trace",
    "zero_nans",
]


def _zero_count() -> Any:
    return vnp.zeros([], vnp.int32)


def _dtype(dtype: Any) -> Any:
    return None if dtype is None else dtypes.canonicalize(dtype)


def checked_moment(
    op: str, field: str, updates: Any, moments: Any, decay: Any, order: int
) -> Any:
    """``(1 - decay) * g**order + decay * t`` leafwise, checking ``state.<field>``'s structure."""
    return map_checked(
        op,
        ("updates", f"state.{field}"),
        lambda g, t: (1 - decay) * (g**order) + decay * t,
        updates,
        moments,
    )


def nesterov_mu_hat(mu: Any, updates: Any, b1: Any, count_inc: Any) -> Any:
    # Nesterov: the next step's debiased momentum, b1 * m / (1 - b1^(t+1)) + (1 - b1) g /
    # (1 - b1^t), as optax (and Dozat) write it.
    return tree.map(
        lambda m, g: b1 * m + (1 - b1) * g,
        tree_bias_correction(mu, b1, safe_increment(count_inc)),
        tree_bias_correction(updates, b1, count_inc),
    )


# ----------------------------------------------------------------------------------------------
# Scaling


def scale(step_size: Any) -> GradientTransformation:
    """Multiply every update by ``step_size``."""

    def update_fn(updates, state, params=None):
        del params
        return tree.map(lambda g: step_size * g, updates), state

    return GradientTransformation(init_empty_state, update_fn)


class ScaleByScheduleState(NamedTuple):
    """The step count a schedule is evaluated at."""

    count: Any


def scale_by_schedule(step_size_fn: Any) -> GradientTransformation:
    """Multiply updates by ``step_size_fn(count)``, then count the step."""

    def init_fn(params):
        del params
        return ScaleByScheduleState(count=_zero_count())

    def update_fn(updates, state, params=None):
        del params
        step_size = step_size_fn(state.count)
        updates = tree.map(lambda g: vnp.asarray(step_size, dtype=g.dtype) * g, updates)
        return updates, ScaleByScheduleState(count=safe_increment(state.count))

    return GradientTransformation(init_fn, update_fn)


def scale_by_learning_rate(
    learning_rate: ScalarOrSchedule | None = None, *, flip_sign: bool = True
) -> GradientTransformation:
    """Scale by ``-learning_rate`` (``flip_sign``: gradient descent), a float or a schedule."""
    if learning_rate is None:
        return identity()
    m = -1 if flip_sign else 1
    if callable(learning_rate):
        return scale_by_schedule(lambda count: m * learning_rate(count))
    return scale(m * learning_rate)


def scale_by_sign() -> GradientTransformation:
    """Replace each update by its sign."""

    def update_fn(updates, state, params=None):
        del params
        return tree.map(vnp.sign, updates), state

    return GradientTransformation(init_empty_state, update_fn)


class ScaleByAdamState(NamedTuple):
    """Adam's state (also used by adamax and radam): step count, first and second moments."""

    count: Any
    mu: Any
    nu: Any


def scale_by_adam(
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    eps_root: Any = 0.0,
    mu_dtype: Any = None,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    """Adam's rescaling: ``m_hat / (sqrt(v_hat + eps_root) + eps)`` with debiased moments.

    Args:
        b1: decay of the first moment.
        b2: decay of the second moment.
        eps: added to the denominator outside the square root.
        eps_root: added inside the square root.
        mu_dtype: dtype of the first moment (default: the params').
        nesterov: use Nesterov momentum (NAdam).
    """
    mu_dtype = _dtype(mu_dtype)

    def init_fn(params):
        mu = tree_zeros_like(params, dtype=mu_dtype)
        return ScaleByAdamState(count=_zero_count(), mu=mu, nu=tree_zeros_like(params))

    def update_fn(updates, state, params=None):
        del params
        mu = checked_moment("scale_by_adam", "mu", updates, state.mu, b1, 1)
        nu = checked_moment("scale_by_adam", "nu", updates, state.nu, b2, 2)
        count_inc = safe_increment(state.count)
        if nesterov:
            mu_hat = nesterov_mu_hat(mu, updates, b1, count_inc)
        else:
            mu_hat = tree_bias_correction(mu, b1, count_inc)
        nu_hat = tree_bias_correction(nu, b2, count_inc)
        updates = tree.map(lambda m, v: m / (vnp.sqrt(v + eps_root) + eps), mu_hat, nu_hat)
        mu = tree_cast(mu, mu_dtype)
        nu = tree_cast_like(nu, state.nu)
        return updates, ScaleByAdamState(count=count_inc, mu=mu, nu=nu)

    return GradientTransformation(init_fn, update_fn)


class ScaleByAmsgradState(NamedTuple):
    """AMSGrad's state: Adam's plus the running maximum of the second moment."""

    count: Any
    mu: Any
    nu: Any
    nu_max: Any


def scale_by_amsgrad(
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    eps_root: Any = 0.0,
    mu_dtype: Any = None,
    bias_correction_mu: bool = True,
    bias_correction_nu: bool = True,
) -> GradientTransformation:
    """AMSGrad: Adam dividing by the running maximum of the (debiased) second moment."""
    mu_dtype = _dtype(mu_dtype)

    def init_fn(params):
        return ScaleByAmsgradState(
            count=_zero_count(),
            mu=tree_zeros_like(params, dtype=mu_dtype),
            nu=tree_zeros_like(params),
            nu_max=tree_zeros_like(params),
        )

    def update_fn(updates, state, params=None):
        del params
        mu = checked_moment("scale_by_amsgrad", "mu", updates, state.mu, b1, 1)
        nu = checked_moment("scale_by_amsgrad", "nu", updates, state.nu, b2, 2)
        count_inc = safe_increment(state.count)
        mu_hat = tree_bias_correction(mu, b1, count_inc) if bias_correction_mu else mu
        nu_eff = tree_bias_correction(nu, b2, count_inc) if bias_correction_nu else nu
        nu_max = map_checked(
            "scale_by_amsgrad", ("state.nu_max", "nu"), vnp.maximum, state.nu_max, nu_eff
        )
        updates = tree.map(lambda m, v: m / (vnp.sqrt(v + eps_root) + eps), mu_hat, nu_max)
        mu = tree_cast(mu, mu_dtype)
        return updates, ScaleByAmsgradState(count=count_inc, mu=mu, nu=nu, nu_max=nu_max)

    return GradientTransformation(init_fn, update_fn)


def scale_by_adamax(b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8) -> GradientTransformation:
    """Adamax: the second moment is an infinity norm, ``max(|g| + eps, b2 * nu)``."""

    def init_fn(params):
        return ScaleByAdamState(
            count=_zero_count(), mu=tree_zeros_like(params), nu=tree_zeros_like(params)
        )

    def update_fn(updates, state, params=None):
        del params
        count_inc = safe_increment(state.count)
        mu = checked_moment("scale_by_adamax", "mu", updates, state.mu, b1, 1)
        nu = map_checked(
            "scale_by_adamax",
            ("updates", "state.nu"),
            lambda g, t: vnp.maximum(vnp.abs(g) + eps, b2 * t),
            updates,
            state.nu,
        )
        mu_hat = tree_bias_correction(mu, b1, count_inc)
        updates = tree.map(lambda m, v: m / v, mu_hat, nu)
        return updates, ScaleByAdamState(count=count_inc, mu=mu, nu=nu)

    return GradientTransformation(init_fn, update_fn)


def scale_by_radam(
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    eps_root: Any = 0.0,
    threshold: Any = 5.0,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    """Rectified Adam: momentum SGD until the variance estimate is tractable (``rho >=
    threshold``), then Adam scaled by the rectification term ``r``."""
    ro_inf = 2.0 / (1.0 - b2) - 1.0

    def init_fn(params):
        return ScaleByAdamState(
            count=_zero_count(), mu=tree_zeros_like(params), nu=tree_zeros_like(params)
        )

    def update_fn(updates, state, params=None):
        del params
        mu = checked_moment("scale_by_radam", "mu", updates, state.mu, b1, 1)
        nu = checked_moment("scale_by_radam", "nu", updates, state.nu, b2, 2)
        count_inc = safe_increment(state.count)
        b2t = b2**count_inc
        ro = ro_inf - 2 * count_inc * b2t / (1 - b2t)
        if nesterov:
            mu_hat = nesterov_mu_hat(mu, updates, b1, count_inc)
        else:
            mu_hat = tree_bias_correction(mu, b1, count_inc)
        nu_hat = tree_bias_correction(nu, b2, count_inc)
        # While ro < 4 the square root's argument is negative; where() discards that branch.
        r = vnp.sqrt((ro - 4.0) * (ro - 2.0) * ro_inf / ((ro_inf - 4.0) * (ro_inf - 2.0) * ro))
        adapted = tree.map(
            lambda m, v: r.astype(m.dtype) * m / (vnp.sqrt(v + eps_root) + eps), mu_hat, nu_hat
        )
        updates = tree.map(lambda t, f: vnp.where(ro >= threshold, t, f), adapted, mu_hat)
        return updates, ScaleByAdamState(count=count_inc, mu=mu, nu=nu)

    return GradientTransformation(init_fn, update_fn)


class ScaleByLionState(NamedTuple):
    """Lion's state: step count and momentum."""

    count: Any
    mu: Any


def scale_by_lion(b1: Any = 0.9, b2: Any = 0.99, mu_dtype: Any = None) -> GradientTransformation:
    """Lion: the sign of an interpolation of gradient and momentum (``b1``), momentum
    tracked with ``b2``."""
    mu_dtype = _dtype(mu_dtype)

    def init_fn(params):
        return ScaleByLionState(count=_zero_count(), mu=tree_zeros_like(params, dtype=mu_dtype))

    def update_fn(updates, state, params=None):
        del params
        new_updates = map_checked(
            "scale_by_lion",
            ("updates", "state.mu"),
            lambda g, m: vnp.sign((1.0 - b1) * g + b1 * m),
            updates,
            state.mu,
        )
        mu = tree_cast(checked_moment("scale_by_lion", "mu", updates, state.mu, b2, 1), mu_dtype)
        return new_updates, ScaleByLionState(count=safe_increment(state.count), mu=mu)

    return GradientTransformation(init_fn, update_fn)


class ScaleByRssState(NamedTuple):
    """Adagrad's state: the running sum of squared gradients."""

    sum_of_squares: Any


def scale_by_rss(initial_accumulator_value: Any = 0.1, eps: Any = 1e-7) -> GradientTransformation:
    """Adagrad's rescaling by ``1 / sqrt(sum of squares + eps)`` (0 where the sum is 0)."""

    def init_fn(params):
        return ScaleByRssState(sum_of_squares=tree_full_like(params, initial_accumulator_value))

    def update_fn(updates, state, params=None):
        del params
        sum_of_squares = map_checked(
            "scale_by_rss",
            ("updates", "state.sum_of_squares"),
            lambda g, t: g * g + t,
            updates,
            state.sum_of_squares,
        )
        updates = tree.map(
            lambda t, g: vnp.where(t > 0, lax.rsqrt(t + eps), 0.0) * g, sum_of_squares, updates
        )
        return updates, ScaleByRssState(sum_of_squares=sum_of_squares)

    return GradientTransformation(init_fn, update_fn)


class ScaleByRmsState(NamedTuple):
    """RMSProp's state: the EMA of squared gradients."""

    nu: Any


class ScaleByRmsWithCountState(NamedTuple):
    """RMSProp's state with bias correction: step count and the EMA of squared gradients."""

    count: Any
    nu: Any


def _rms_scaling(eps: Any, eps_in_sqrt: bool):
    if eps_in_sqrt:
        return lambda n: lax.rsqrt(n + eps)
    return lambda n: 1 / (vnp.sqrt(n) + eps)


def scale_by_rms(
    decay: Any = 0.9,
    eps: Any = 1e-8,
    initial_scale: Any = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
) -> GradientTransformation:
    """RMSProp's rescaling by ``1 / sqrt(nu + eps)`` (or ``1 / (sqrt(nu) + eps)``)."""
    scaling = _rms_scaling(eps, eps_in_sqrt)

    def init_fn(params):
        nu = tree_full_like(params, initial_scale)
        if bias_correction:
            return ScaleByRmsWithCountState(count=_zero_count(), nu=nu)
        return ScaleByRmsState(nu=nu)

    def update_fn(updates, state, params=None):
        del params
        nu = checked_moment("scale_by_rms", "nu", updates, state.nu, decay, 2)
        if bias_correction:
            count_inc = safe_increment(state.count)
            nu_hat = tree_bias_correction(nu, decay, count_inc)
        else:
            nu_hat = nu
        updates = tree.map(lambda n, g: scaling(n) * g, nu_hat, updates)
        if bias_correction:
            return updates, ScaleByRmsWithCountState(count=count_inc, nu=nu)
        return updates, ScaleByRmsState(nu=nu)

    return GradientTransformation(init_fn, update_fn)


class ScaleByRStdDevState(NamedTuple):
    """Centered RMSProp's state: EMAs of gradients and of squared gradients."""

    mu: Any
    nu: Any


class ScaleByRStdDevWithCountState(NamedTuple):
    """Centered RMSProp's state with bias correction."""

    count: Any
    mu: Any
    nu: Any


def scale_by_stddev(
    decay: Any = 0.9,
    eps: Any = 1e-8,
    initial_scale: Any = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
) -> GradientTransformation:
    """Centered RMSProp: divide by the running standard deviation ``sqrt(nu - mu**2)``."""
    scaling = _rms_scaling(eps, eps_in_sqrt)

    def init_fn(params):
        mu = tree_zeros_like(params)
        nu = tree_full_like(params, initial_scale)
        if bias_correction:
            return ScaleByRStdDevWithCountState(count=_zero_count(), mu=mu, nu=nu)
        return ScaleByRStdDevState(mu=mu, nu=nu)

    def update_fn(updates, state, params=None):
        del params
        mu = checked_moment("scale_by_stddev", "mu", updates, state.mu, decay, 1)
        nu = checked_moment("scale_by_stddev", "nu", updates, state.nu, decay, 2)
        if bias_correction:
            count_inc = safe_increment(state.count)
            mu_hat = tree_bias_correction(mu, decay, count_inc)
            nu_hat = tree_bias_correction(nu, decay, count_inc)
        else:
            mu_hat, nu_hat = mu, nu
        updates = tree.map(lambda m, n, g: scaling(n - m * m) * g, mu_hat, nu_hat, updates)
        if bias_correction:
            return updates, ScaleByRStdDevWithCountState(count=count_inc, mu=mu, nu=nu)
        return updates, ScaleByRStdDevState(mu=mu, nu=nu)

    return GradientTransformation(init_fn, update_fn)


class ScaleByAdaDeltaState(NamedTuple):
    """Adadelta's state: EMAs of squared gradients and of squared updates."""

    e_g: Any
    e_x: Any


def scale_by_adadelta(rho: Any = 0.9, eps: Any = 1e-6) -> GradientTransformation:
    """Adadelta: ``sqrt(e_x + eps) / sqrt(e_g + eps) * g``."""

    def init_fn(params):
        return ScaleByAdaDeltaState(e_g=tree_zeros_like(params), e_x=tree_zeros_like(params))

    def update_fn(updates, state, params=None):
        del params
        e_g = checked_moment("scale_by_adadelta", "e_g", updates, state.e_g, rho, 2)
        updates = map_checked(
            "scale_by_adadelta",
            ("updates", "e_g", "state.e_x"),
            lambda g, cur, prev: vnp.sqrt(prev + eps) / vnp.sqrt(cur + eps) * g,
            updates,
            e_g,
            state.e_x,
        )
        e_x = checked_moment("scale_by_adadelta", "e_x", updates, state.e_x, rho, 2)
        return updates, ScaleByAdaDeltaState(e_g=e_g, e_x=e_x)

    return GradientTransformation(init_fn, update_fn)


# ----------------------------------------------------------------------------------------------
# Parameter-dependent scaling


def _safe_norm(x: Any, min_norm: Any) -> Any:
    """The L2 norm of ``x``, or ``min_norm`` when it is at most that (with a gradient that
    stays finite at 0, as optax's ``safe_norm``)."""
    norm = vnp.sqrt(vnp.sum(x * x))
    small = norm <= min_norm
    x = vnp.where(small, vnp.ones_like(x), x)
    return vnp.where(small, min_norm, vnp.sqrt(vnp.sum(x * x)))


def _safe_rms(x: Any, min_rms: Any) -> Any:
    rms = vnp.sqrt(vnp.mean(x * x))
    small = rms <= min_rms
    x = vnp.where(small, vnp.ones_like(x), x)
    return vnp.where(small, min_rms, vnp.sqrt(vnp.mean(x * x)))


def _with_params(op: str, f: Any) -> GradientTransformation:
    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError(f"{op}: {NO_PARAMS_MSG}")
        return map_checked(op, ("updates", "params"), f, updates, params), state

    return GradientTransformation(init_empty_state, update_fn)


def scale_by_param_block_norm(min_scale: Any = 1e-3) -> GradientTransformation:
    """Scale each update by its parameter's L2 norm (at least ``min_scale``)."""
    return _with_params(
        "scale_by_param_block_norm", lambda u, p: u * _safe_norm(p, min_scale)
    )


def scale_by_param_block_rms(min_scale: Any = 1e-3) -> GradientTransformation:
    """Scale each update by its parameter's root mean square (at least ``min_scale``)."""
    return _with_params("scale_by_param_block_rms", lambda u, p: u * _safe_rms(p, min_scale))


def scale_by_trust_ratio(
    min_norm: Any = 0.0, trust_coefficient: Any = 1.0, eps: Any = 0.0
) -> GradientTransformation:
    """LARS/LAMB's layerwise trust ratio ``coeff * |param| / (|update| + eps)`` (1 where
    either norm is 0)."""

    def scale_update(update, param):
        param_norm = _safe_norm(param, min_norm)
        update_norm = _safe_norm(update, min_norm)
        trust_ratio = trust_coefficient * param_norm / (update_norm + eps)
        zero_norm = vnp.logical_or(param_norm == 0.0, update_norm == 0.0)
        safe = vnp.where(zero_norm, vnp.asarray(1.0, dtype=param.dtype), trust_ratio)
        return update * safe

    return _with_params("scale_by_trust_ratio", scale_update)


class WeightDecaySchedule(NamedTuple):
    """``add_decayed_weights``'s state when the weight decay is a schedule."""

    count: Any


def add_decayed_weights(
    weight_decay: ScalarOrSchedule = 0.0, mask: Any = None
) -> GradientTransformation:
    """Add ``weight_decay * param`` to each update (decoupled weight decay when followed by
    the learning-rate scaling, as in AdamW). ``mask`` (a tree of bools or a function of the
    params giving one) limits it to some parameters."""

    def init_fn(params):
        del params
        if callable(weight_decay):
            return WeightDecaySchedule(count=_zero_count())
        return EmptyState()

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError(f"add_decayed_weights: {NO_PARAMS_MSG}")
        if callable(weight_decay):
            new_state = WeightDecaySchedule(count=safe_increment(state.count))
            s = weight_decay(state.count)
        else:
            new_state = state
            if isinstance(weight_decay, (int, float)) and weight_decay == 0.0:
                return updates, new_state
            s = weight_decay
        new = map_checked(
            "add_decayed_weights", ("updates", "params"), lambda g, p: g + s * p, updates, params
        )
        return new, new_state

    tx = GradientTransformation(init_fn, update_fn)
    if mask is not None:
        from vfunc.optim.combinators import masked

        return masked(tx, mask)
    return tx


# ----------------------------------------------------------------------------------------------
# Clipping


def clip(max_delta: Any) -> GradientTransformation:
    """Clip every update element to ``[-max_delta, max_delta]``."""

    def update_fn(updates, state, params=None):
        del params
        return tree.map(lambda g: vnp.clip(g, -max_delta, max_delta), updates), state

    return GradientTransformation(init_empty_state, update_fn)


def clip_by_block_rms(threshold: Any) -> GradientTransformation:
    """Scale each leaf down so its root mean square is at most ``threshold``."""

    def clip_fn(u):
        return u / vnp.maximum(1.0, vnp.sqrt(vnp.mean(u * u)) / threshold)

    def update_fn(updates, state, params=None):
        del params
        return tree.map(clip_fn, updates), state

    return GradientTransformation(init_empty_state, update_fn)


def clip_by_global_norm(max_norm: Any) -> GradientTransformation:
    """Scale all updates by ``max_norm / global_norm`` when the global norm exceeds
    ``max_norm``."""

    def update_fn(updates, state, params=None):
        del params
        g_norm = tree_norm(updates)
        trigger = g_norm < max_norm

        def clip_fn(t):
            return lax.select(trigger, t, t / g_norm.astype(t.dtype) * max_norm)

        return tree.map(clip_fn, updates), state

    return GradientTransformation(init_empty_state, update_fn)


# ----------------------------------------------------------------------------------------------
# Accumulation


class TraceState(NamedTuple):
    """Momentum's state: the trace of past updates."""

    trace: Any


def trace(
    decay: Any, nesterov: bool = False, accumulator_dtype: Any = None
) -> GradientTransformation:
    """Momentum: ``trace = g + decay * trace``; the update is the trace, or with Nesterov
    ``g + decay * trace``."""
    accumulator_dtype = _dtype(accumulator_dtype)

    def init_fn(params):
        return TraceState(trace=tree_zeros_like(params, dtype=accumulator_dtype))

    def update_fn(updates, state, params=None):
        del params

        def f(g, t):
            return g + decay * t

        new_trace = map_checked("trace", ("updates", "state.trace"), f, updates, state.trace)
        updates = tree.map(f, updates, new_trace) if nesterov else new_trace
        return updates, TraceState(trace=tree_cast(new_trace, accumulator_dtype))

    return GradientTransformation(init_fn, update_fn)


class EmaState(NamedTuple):
    """``ema``'s state: step count and the moving average."""

    count: Any
    ema: Any


def ema(decay: Any, debias: bool = True, accumulator_dtype: Any = None) -> GradientTransformation:
    """The exponential moving average of the updates (debiased by default)."""
    accumulator_dtype = _dtype(accumulator_dtype)

    def init_fn(params):
        return EmaState(count=_zero_count(), ema=tree_zeros_like(params, dtype=accumulator_dtype))

    def update_fn(updates, state, params=None):
        del params
        updates = new_ema = checked_moment("ema", "ema", updates, state.ema, decay, 1)
        count_inc = safe_increment(state.count)
        if debias:
            updates = tree_bias_correction(new_ema, decay, count_inc)
        return updates, EmaState(count=count_inc, ema=tree_cast(new_ema, accumulator_dtype))

    return GradientTransformation(init_fn, update_fn)


# ----------------------------------------------------------------------------------------------
# Noise and NaNs


class AddNoiseState(NamedTuple):
    """``add_noise``'s state: step count and the random key."""

    count: Any
    rng_key: Any


def _random() -> Any:
    try:
        from vfunc import random
    except ImportError as err:  # pragma: no cover - until vfunc.random is merged
        raise ImportError(
            "add_noise needs vfunc.random (functional keys), which this installation lacks"
        ) from err
    return random


def add_noise(eta: Any, gamma: Any, key: Any = 0) -> GradientTransformation:
    """Add Gaussian noise of variance ``eta / (t + 1)**gamma`` to the updates.

    Args:
        eta: initial variance.
        gamma: decay exponent of the variance.
        key: a ``vfunc.random`` key, or an int seed for one.

    Differs from optax: the state holds a raw ``vfunc.random`` key (JAX's ``PRNGKey``
    layout, two uint32) where optax holds a typed ``jax.random.key``; the streams are the
    same (Threefry), so the noise is too. An int seed is accepted without a warning.
    """

    def init_fn(params):
        del params
        random = _random()
        rng_key = random.PRNGKey(key) if isinstance(key, (int, np.integer)) else key
        return AddNoiseState(count=_zero_count(), rng_key=rng_key)

    def update_fn(updates, state, params=None):
        del params
        random = _random()
        count_inc = safe_increment(state.count)
        std = vnp.sqrt(eta / count_inc**gamma)
        rng_key, sample_key = random.split(state.rng_key)
        leaves, treedef = tree.flatten(updates)
        keys = random.split(sample_key, len(leaves))
        noisy = [
            g + std * random.normal(keys[i], g.shape, g.dtype) for i, g in enumerate(leaves)
        ]
        return tree.unflatten(treedef, noisy), AddNoiseState(count=count_inc, rng_key=rng_key)

    return GradientTransformation(init_fn, update_fn)


class ZeroNansState(NamedTuple):
    """``zero_nans``'s state: for each leaf, whether the last update had a NaN."""

    found_nan: Any


def zero_nans() -> GradientTransformation:
    """Replace NaNs in the updates by 0 and record, per leaf, whether any were found."""

    def init_fn(params):
        return ZeroNansState(found_nan=tree.map(lambda p: vnp.asarray(False), params))

    def update_fn(updates, state, params=None):
        del params, state
        found = tree.map(lambda g: vnp.any(vnp.isnan(g)), updates)
        updates = tree.map(lambda g: vnp.where(vnp.isnan(g), vnp.zeros_like(g), g), updates)
        return updates, ZeroNansState(found_nan=found)

    return GradientTransformation(init_fn, update_fn)


# ----------------------------------------------------------------------------------------------
# Factored second moments (Adafactor)


class FactoredState(NamedTuple):
    """Adafactor's state: step count, row and column second-moment factors (for matrices),
    and full second moments (for the rest); unused slots hold a 1-element placeholder."""

    count: Any
    v_row: Any
    v_col: Any
    v: Any


def _decay_rate_pow(i: Any, exponent: Any = 0.8) -> Any:
    t = vnp.asarray(i + 1, dtype=np.float32)
    return 1.0 - t ** (-exponent)


def _factored_dims(shape: tuple, factored: bool, min_dim: int) -> tuple[int, int] | None:
    if not factored or len(shape) < 2:
        return None
    order = np.argsort(shape, kind="stable")
    if shape[order[-2]] < min_dim:
        return None
    return int(order[-2]), int(order[-1])


def scale_by_factored_rms(
    factored: bool = True,
    decay_rate: Any = 0.8,
    step_offset: Any = 0,
    min_dim_size_to_factor: int = 128,
    epsilon: Any = 1e-30,
    decay_rate_fn: Any = _decay_rate_pow,
) -> GradientTransformation:
    """Adafactor's rescaling by a factored (row x column) estimate of the second moment."""

    def init_fn(params):
        def one(p):
            p = vnp.asarray(p)
            dims = _factored_dims(p.shape, factored, min_dim_size_to_factor)
            placeholder = vnp.zeros((1,), p.dtype)
            if dims is not None:
                d1, d0 = dims
                row = vnp.zeros(tuple(s for i, s in enumerate(p.shape) if i != d0), p.dtype)
                col = vnp.zeros(tuple(s for i, s in enumerate(p.shape) if i != d1), p.dtype)
                return row, col, placeholder
            return placeholder, placeholder, vnp.zeros_like(p)

        leaves, treedef = tree.flatten(params)
        parts = [one(p) for p in leaves]
        return FactoredState(
            count=_zero_count(),
            v_row=tree.unflatten(treedef, [x[0] for x in parts]),
            v_col=tree.unflatten(treedef, [x[1] for x in parts]),
            v=tree.unflatten(treedef, [x[2] for x in parts]),
        )

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError(f"scale_by_factored_rms: {NO_PARAMS_MSG}")
        grads, ps = check_same_structure(
            "scale_by_factored_rms", ("updates", "params"), updates, params
        )
        v_rows, v_cols, vs = (tree.leaves(t) for t in (state.v_row, state.v_col, state.v))
        treedef = tree.structure(updates)
        decay_t = decay_rate_fn(state.count - step_offset, decay_rate)
        out = []
        for grad, v_row, v_col, v, param in zip(grads, v_rows, v_cols, vs, ps, strict=True):
            dtype = vnp.asarray(param).dtype
            new_row = new_col = new_v = vnp.zeros((1,), dtype)
            dims = _factored_dims(param.shape, factored, min_dim_size_to_factor)
            grad_sqr = grad * grad + epsilon
            if dims is not None:
                d1, d0 = dims
                new_row = (decay_t * v_row + (1.0 - decay_t) * vnp.mean(grad_sqr, axis=d0)).astype(
                    dtype
                )
                new_col = (decay_t * v_col + (1.0 - decay_t) * vnp.mean(grad_sqr, axis=d1)).astype(
                    dtype
                )
                reduced_d1 = d1 - 1 if d1 > d0 else d1
                row_col_mean = vnp.mean(new_row, axis=reduced_d1, keepdims=True)
                row_factor = (new_row / row_col_mean) ** (-0.5)
                col_factor = new_col ** (-0.5)
                update = (
                    grad
                    * vnp.expand_dims(row_factor, axis=d0)
                    * vnp.expand_dims(col_factor, axis=d1)
                )
            else:
                new_v = (decay_t * v + (1.0 - decay_t) * grad_sqr).astype(dtype)
                update = grad * new_v ** (-0.5)
            out.append((update, new_row, new_col, new_v))

        def pick(i):
            return tree.unflatten(treedef, [o[i] for o in out])

        new_state = FactoredState(
            count=safe_increment(state.count), v_row=pick(1), v_col=pick(2), v=pick(3)
        )
        return pick(0), new_state

    return GradientTransformation(init_fn, update_fn)
