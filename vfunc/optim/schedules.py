"""Learning-rate schedules: functions of the step count, optax's names and formulas.

A schedule maps a step count (an int, or an int32 array inside a jitted step) to a value;
any optimiser's ``learning_rate`` accepts one. Values agree with optax's step by step.

Differs from optax (JAX): with x64 enabled, an int32 count divided by an int is float64 here
(``vfunc.numpy``'s promotion) but float32 in JAX, so e.g. ``exponential_decay``'s exponent and
the one-cycle interval fractions are computed more precisely (relative differences ~1e-7).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

import vfunc.numpy as vnp

__all__ = [
    "constant_schedule",
    "cosine_decay_schedule",
    "cosine_onecycle_schedule",
    "exponential_decay",
    "join_schedules",
    "linear_onecycle_schedule",
    "linear_schedule",
    "piecewise_constant_schedule",
    "piecewise_interpolate_schedule",
    "polynomial_schedule",
    "sgdr_schedule",
    "warmup_constant_schedule",
    "warmup_cosine_decay_schedule",
    "warmup_exponential_decay_schedule",
]

Schedule = Callable[[Any], Any]


def constant_schedule(value: Any) -> Schedule:
    """Always ``value``."""
    return lambda count: value


def polynomial_schedule(
    init_value: Any, end_value: Any, power: Any, transition_steps: int, transition_begin: int = 0
) -> Schedule:
    """From ``init_value`` to ``end_value`` over ``transition_steps`` steps (after
    ``transition_begin``), along ``(1 - t/T)**power``; constant before and after.

    Example:
        >>> s = polynomial_schedule(1.0, 0.0, power=2, transition_steps=4)
        >>> [float(s(i)) for i in range(6)]
        [1.0, 0.5625, 0.25, 0.0625, 0.0, 0.0]
    """
    if transition_steps <= 0:
        return lambda count: init_value
    transition_begin = max(transition_begin, 0)

    def schedule(count):
        count = vnp.clip(count - transition_begin, 0, transition_steps)
        frac = 1 - count / transition_steps
        return (init_value - end_value) * frac**power + end_value

    return schedule


def linear_schedule(
    init_value: Any, end_value: Any, transition_steps: int, transition_begin: int = 0
) -> Schedule:
    """Linear from ``init_value`` to ``end_value`` over ``transition_steps`` steps."""
    return polynomial_schedule(init_value, end_value, 1, transition_steps, transition_begin)


def piecewise_constant_schedule(
    init_value: Any, boundaries_and_scales: dict[int, float] | None = None
) -> Schedule:
    """``init_value`` multiplied by each ``scale`` from its boundary on.

    Example:
        >>> s = piecewise_constant_schedule(1.0, {2: 0.5, 4: 0.1})
        >>> [round(float(s(i)), 6) for i in range(6)]
        [1.0, 1.0, 0.5, 0.5, 0.05, 0.05]
    """
    if boundaries_and_scales is not None and not all(
        s >= 0.0 for s in boundaries_and_scales.values()
    ):
        raise ValueError("piecewise_constant_schedule expects non-negative scale factors")

    def schedule(count):
        v = init_value
        if boundaries_and_scales is not None:
            for threshold, scale in sorted(boundaries_and_scales.items()):
                indicator = vnp.maximum(0.0, vnp.sign(threshold - count))
                v = v * indicator + (1 - indicator) * scale * v
        return v

    return schedule


def exponential_decay(
    init_value: Any,
    transition_steps: int,
    decay_rate: float,
    transition_begin: int = 0,
    staircase: bool = False,
    end_value: Any = None,
) -> Schedule:
    """``init_value * decay_rate ** ((count - transition_begin) / transition_steps)``
    (floored exponent with ``staircase``), bounded by ``end_value`` when given."""
    if transition_steps <= 0 or decay_rate == 0:
        return lambda count: init_value
    transition_begin = max(transition_begin, 0)
    clip_fn = vnp.maximum if decay_rate < 1.0 else vnp.minimum

    def schedule(count):
        decreased = count - transition_begin
        p = decreased / transition_steps
        if staircase:
            p = vnp.floor(p)
        value = vnp.where(decreased <= 0, init_value, init_value * vnp.power(decay_rate, p))
        if end_value is not None:
            value = clip_fn(value, end_value)
        return value

    return schedule


def cosine_decay_schedule(
    init_value: Any, decay_steps: int, alpha: Any = 0.0, exponent: Any = 1.0
) -> Schedule:
    """Cosine decay from ``init_value`` to ``alpha * init_value`` over ``decay_steps``."""
    if not decay_steps > 0:
        raise ValueError(
            f"cosine_decay_schedule requires positive decay_steps, got decay_steps={decay_steps}"
        )
    steps = float(decay_steps)

    def schedule(count):
        if isinstance(count, int):
            count = float(count)
        count = vnp.minimum(count, steps)
        cosine = 0.5 * (1 + vnp.cos(np.pi * count / steps))
        return init_value * ((1 - alpha) * cosine**exponent + alpha)

    return schedule


def _linear_interpolate(start: Any, end: Any, pct: Any) -> Any:
    return (end - start) * pct + start


def _cosine_interpolate(start: Any, end: Any, pct: Any) -> Any:
    return end + (start - end) / 2.0 * (vnp.cos(np.pi * pct) + 1)


def piecewise_interpolate_schedule(
    interpolate_type: str, init_value: Any, boundaries_and_scales: dict[int, float] | None = None
) -> Schedule:
    """Interpolate (``'linear'`` or ``'cosine'``) between values that multiply by each scale
    at its boundary."""
    if interpolate_type == "linear":
        interpolate = _linear_interpolate
    elif interpolate_type == "cosine":
        interpolate = _cosine_interpolate
    else:
        raise ValueError("piecewise_interpolate_schedule: interpolate_type must be 'cosine' or "
                         f"'linear', got {interpolate_type!r}")  # fmt: skip
    if boundaries_and_scales:
        boundaries, scales = zip(*sorted(boundaries_and_scales.items()), strict=True)
        if not all(s >= 0.0 for s in scales):
            raise ValueError("piecewise_interpolate_schedule expects non-negative scale factors")
    else:
        boundaries, scales = (), ()

    def schedule(count):
        bounds = vnp.stack([vnp.asarray(b) for b in (0, *boundaries)])
        values = vnp.cumprod(vnp.stack([vnp.asarray(v) for v in (init_value, *scales)]))
        interval_sizes = vnp.maximum(bounds[1:] - bounds[:-1], 1)
        indicator = vnp.logical_and(bounds[:-1] <= count, count < bounds[1:])
        pct = (count - bounds[:-1]) / interval_sizes
        interp = interpolate(values[:-1], values[1:], pct)
        return vnp.dot(indicator.astype(interp.dtype), interp) + (bounds[-1] <= count) * values[-1]

    return schedule


def linear_onecycle_schedule(
    transition_steps: int,
    peak_value: Any,
    pct_start: float = 0.3,
    pct_final: float = 0.85,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> Schedule:
    """The linear one-cycle schedule (Smith & Topin)."""
    if transition_steps <= 0:
        raise ValueError("linear_onecycle_schedule: transition_steps must be positive")
    return piecewise_interpolate_schedule(
        "linear",
        peak_value / div_factor,
        {
            int(pct_start * transition_steps): div_factor,
            int(pct_final * transition_steps): 1.0 / div_factor,
            transition_steps: 1.0 / final_div_factor,
        },
    )


def cosine_onecycle_schedule(
    transition_steps: int,
    peak_value: Any,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> Schedule:
    """The cosine one-cycle schedule: up from ``peak/div_factor`` to ``peak`` over the first
    ``pct_start`` of the steps, then down to ``peak / (div_factor * final_div_factor)``."""
    if transition_steps <= 0:
        raise ValueError("cosine_onecycle_schedule: transition_steps must be positive")
    return piecewise_interpolate_schedule(
        "cosine",
        peak_value / div_factor,
        {
            int(pct_start * transition_steps): div_factor,
            int(transition_steps): 1.0 / (div_factor * final_div_factor),
        },
    )


def join_schedules(schedules: Sequence[Schedule], boundaries: Sequence[int]) -> Schedule:
    """``schedules[i]`` from ``boundaries[i-1]`` on, each counting from its own start."""

    def schedule(step):
        output = schedules[0](step)
        for boundary, later in zip(boundaries, schedules[1:], strict=False):
            output = vnp.where(step < boundary, output, later(step - boundary))
        return output

    return schedule


def warmup_constant_schedule(init_value: Any, peak_value: Any, warmup_steps: int) -> Schedule:
    """Linear warmup to ``peak_value``, then constant."""
    return linear_schedule(init_value, peak_value, warmup_steps)


def warmup_cosine_decay_schedule(
    init_value: Any,
    peak_value: Any,
    warmup_steps: int,
    decay_steps: int,
    end_value: Any = 0.0,
    exponent: Any = 1.0,
) -> Schedule:
    """Linear warmup to ``peak_value`` over ``warmup_steps``, then cosine decay to
    ``end_value`` at ``decay_steps`` (counted from the start, warmup included)."""
    alpha = 0.0 if peak_value == 0.0 else end_value / peak_value
    return join_schedules(
        [
            linear_schedule(init_value, peak_value, warmup_steps),
            cosine_decay_schedule(peak_value, decay_steps - warmup_steps, alpha, exponent),
        ],
        [warmup_steps],
    )


def warmup_exponential_decay_schedule(
    init_value: Any,
    peak_value: Any,
    warmup_steps: int,
    transition_steps: int,
    decay_rate: Any,
    transition_begin: int = 0,
    staircase: bool = False,
    end_value: Any = None,
) -> Schedule:
    """Linear warmup to ``peak_value``, then ``exponential_decay``."""
    return join_schedules(
        [
            linear_schedule(init_value, peak_value, warmup_steps),
            exponential_decay(
                peak_value, transition_steps, decay_rate, transition_begin, staircase, end_value
            ),
        ],
        [warmup_steps],
    )


def sgdr_schedule(cosine_kwargs: Iterable[dict[str, Any]]) -> Schedule:
    """SGDR: warm restarts, one ``warmup_cosine_decay_schedule(**kwargs)`` per cycle."""
    boundaries, schedules, step = [], [], 0
    for kwargs in cosine_kwargs:
        schedules.append(warmup_cosine_decay_schedule(**kwargs))
        step += kwargs["decay_steps"]
        boundaries.append(step)
    return join_schedules(schedules, boundaries[:-1])
