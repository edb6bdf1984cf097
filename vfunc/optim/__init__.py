"""``vfunc.optim``: optimisers as pure gradient transformations, with optax's model and names.

An optimiser is a ``GradientTransformation(init, update)``: ``state = opt.init(params)``, then
per step ``updates, state = opt.update(grads, state, params)`` and ``params =
apply_updates(params, updates)``. Transformations compose with ``chain``; states are
NamedTuples with optax 0.2.8's names and field order, so they interchange with optax's.
``muon`` lives here directly (optax keeps it in ``optax.contrib``).

Example:
    >>> import vfunc, vfunc.numpy as vnp
    >>> from vfunc import optim
    >>> opt = optim.adam(0.1)
    >>> params = {'w': vnp.array([1.0, -1.0])}
    >>> state = opt.init(params)
    >>> @vfunc.jit
    ... def step(params, state):
    ...     grads = vfunc.grad(lambda p: vnp.sum(p['w'] ** 2))(params)
    ...     updates, state = opt.update(grads, state, params)
    ...     return optim.apply_updates(params, updates), state
    >>> params, state = step(params, state)
    >>> vnp.round(params['w'], 4)  # Adam's first step moves each weight by the learning rate
    Array([ 0.9, -0.9], dtype=float32)
"""

from vfunc.optim import schedules, tree_utils
from vfunc.optim.aliases import (
    adadelta,
    adafactor,
    adagrad,
    adam,
    adamax,
    adamaxw,
    adamw,
    amsgrad,
    lamb,
    lars,
    lion,
    nadam,
    nadamw,
    noisy_sgd,
    radam,
    rmsprop,
    sgd,
    sign_sgd,
)
from vfunc.optim.base import (
    EmptyState,
    GradientTransformation,
    GradientTransformationExtraArgs,
    apply_updates,
    global_norm,
    identity,
    incremental_update,
    init_empty_state,
    safe_int32_increment,
    set_to_zero,
    stateless,
    stateless_with_tree_map,
    with_extra_args_support,
)
from vfunc.optim.combinators import (
    ApplyIfFiniteState,
    InjectHyperparamsState,
    InjectStatefulHyperparamsState,
    MaskedNode,
    MaskedState,
    MultiSteps,
    MultiStepsState,
    MultiTransformState,
    PartitionState,
    apply_if_finite,
    chain,
    inject_hyperparams,
    masked,
    multi_transform,
    named_chain,
    partition,
    skip_not_finite,
)
from vfunc.optim.muon import (
    MuonDimensionNumbers,
    MuonState,
    muon,
    orthogonalize_via_newton_schulz,
    scale_by_muon,
    scale_by_shape,
)
from vfunc.optim.schedules import (
    constant_schedule,
    cosine_decay_schedule,
    cosine_onecycle_schedule,
    exponential_decay,
    join_schedules,
    linear_onecycle_schedule,
    linear_schedule,
    piecewise_constant_schedule,
    piecewise_interpolate_schedule,
    polynomial_schedule,
    sgdr_schedule,
    warmup_constant_schedule,
    warmup_cosine_decay_schedule,
    warmup_exponential_decay_schedule,
)
from vfunc.optim.transforms import (
    AddNoiseState,
    EmaState,
    FactoredState,
    ScaleByAdaDeltaState,
    ScaleByAdamState,
    ScaleByAmsgradState,
    ScaleByLionState,
    ScaleByRmsState,
    ScaleByRmsWithCountState,
    ScaleByRssState,
    ScaleByRStdDevState,
    ScaleByRStdDevWithCountState,
    ScaleByScheduleState,
    TraceState,
    WeightDecaySchedule,
    ZeroNansState,
    add_decayed_weights,
    add_noise,
    clip,
    clip_by_block_rms,
    clip_by_global_norm,
    ema,
    scale,
    scale_by_adadelta,
    scale_by_adam,
    scale_by_adamax,
    scale_by_amsgrad,
    scale_by_factored_rms,
    scale_by_learning_rate,
    scale_by_lion,
    scale_by_param_block_norm,
    scale_by_param_block_rms,
    scale_by_radam,
    scale_by_rms,
    scale_by_rss,
    scale_by_schedule,
    scale_by_sign,
    scale_by_stddev,
    scale_by_trust_ratio,
    trace,
    zero_nans,
)
from vfunc.optim.tree_utils import TreeStructureError
