"""Combinators: transformations built from transformations (optax's ``chain``, ``masked``,
``partition``/``multi_transform``, ``inject_hyperparams``, ``MultiSteps``, ``apply_if_finite``).
"""

from __future__ import annotations

import collections
import functools
import inspect
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np

import vfunc.numpy as vnp
from vfunc import lax, tree
from vfunc.core import Array
from vfunc.optim.base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    with_extra_args_support,
)
from vfunc.optim.tree_utils import (
    safe_increment,
    tree_cast_like,
    tree_dtype,
    tree_zeros_like,
)

__all__ = [
    "ApplyIfFiniteState",
    "InjectHyperparamsState",
    "InjectStatefulHyperparamsState",
    "MaskedNode",
    "MaskedState",
    "MultiSteps",
    "MultiStepsState",
    "MultiTransformState",
    "PartitionState",
    "WrappedSchedule",
    "WrappedScheduleState",
    "apply_if_finite",
    "chain",
    "inject_hyperparams",
    "masked",
    "multi_transform",
    "named_chain",
    "partition",
    "skip_not_finite",
]


def chain(*args: GradientTransformation) -> GradientTransformationExtraArgs:
    """Apply transformations one after another; the state is the tuple of their states.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import optim
        >>> opt = optim.chain(optim.clip(1.0), optim.scale(-0.5))
        >>> opt.update(vnp.array([3.0, -0.2]), opt.init(vnp.zeros(2)))[0]
        Array([-0.5,  0.1], dtype=float32)
    """
    transforms = [with_extra_args_support(t) for t in args]

    def init_fn(params):
        return tuple(t.init(params) for t in transforms)

    def update_fn(updates, state, params=None, **extra_args):
        if not isinstance(state, tuple) or len(state) != len(transforms):
            got = f"{len(state)} states" if isinstance(state, tuple) else type(state).__name__
            raise ValueError(
                f"chain: expected a tuple of {len(transforms)} states (one per transformation) "
                f"but got {got}; build the state with this chain's init."
            )
        new_state = []
        for s, t in zip(state, transforms, strict=True):
            updates, s = t.update(updates, s, params, **extra_args)
            new_state.append(s)
        return updates, tuple(new_state)

    return GradientTransformationExtraArgs(init_fn, update_fn)


def named_chain(*args: tuple[str, GradientTransformation]) -> GradientTransformationExtraArgs:
    """``chain`` whose state is a dict ``{name: state}`` (names must be unique)."""
    names = [name for name, _ in args]
    if len(names) != len(set(names)):
        raise ValueError(f"named_chain: transformations must have unique names, got {names}")
    transforms = [(name, with_extra_args_support(t)) for name, t in args]

    def init_fn(params):
        return collections.OrderedDict((name, t.init(params)) for name, t in transforms)

    def update_fn(updates, state, params=None, **extra_args):
        new_state = collections.OrderedDict()
        for name, t in transforms:
            updates, new_state[name] = t.update(updates, state[name], params, **extra_args)
        return updates, new_state

    return GradientTransformationExtraArgs(init_fn, update_fn)


# ----------------------------------------------------------------------------------------------
# Masking and partitioning


class MaskedState(NamedTuple):
    """``masked``'s state: the inner transformation's state over the masked-in leaves."""

    inner_state: Any


class MaskedNode(NamedTuple):
    """Stands in for a masked-out subtree: an empty node, so it has no leaves."""


def _mask_callable(mask: Any) -> bool:
    callable_leaves = tree.leaves(tree.map(callable, mask))
    return len(callable_leaves) > 0 and all(callable_leaves)


def _mask_pytree(pytree: Any, mask_tree: Any) -> Any:
    return tree.map(lambda m, p: p if m else MaskedNode(), mask_tree, pytree)


def masked(
    inner: GradientTransformation, mask: Any, *, mask_compatible_extra_args: bool = False
) -> GradientTransformationExtraArgs:
    """Apply ``inner`` only where ``mask`` is True; other updates pass through unchanged.

    Args:
        inner: the transformation to apply to the masked-in leaves.
        mask: a tree of bools with the params' structure or a prefix of it, or a function of
            the params (or updates) returning one.
        mask_compatible_extra_args: also mask extra keyword arguments that have the updates'
            structure.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import optim
        >>> opt = optim.masked(optim.scale(10.0), {'a': True, 'b': False})
        >>> g = {'a': vnp.ones(1), 'b': vnp.ones(1)}
        >>> opt.update(g, opt.init(g))[0]
        {'a': Array([10.], dtype=float32), 'b': Array([1.], dtype=float32)}
    """
    inner = with_extra_args_support(inner)

    def mask_values(extra: dict, base: Any, mask_tree: Any) -> dict:
        base_structure = tree.structure(base)

        def maybe(value):
            if mask_compatible_extra_args and tree.structure(value) == base_structure:
                return _mask_pytree(value, mask_tree)
            return value

        return {k: maybe(v) for k, v in extra.items()}

    def init_fn(params):
        mask_tree = mask(params) if _mask_callable(mask) else mask
        return MaskedState(inner_state=inner.init(_mask_pytree(params, mask_tree)))

    def update_fn(updates, state, params=None, **extra_args):
        mask_tree = mask(updates) if _mask_callable(mask) else mask
        masked_extra = mask_values(extra_args, updates, mask_tree)
        masked_updates = _mask_pytree(updates, mask_tree)
        masked_params = None if params is None else _mask_pytree(params, mask_tree)
        new_masked, new_inner = inner.update(
            masked_updates, state.inner_state, masked_params, **masked_extra
        )
        new_updates = tree.map(
            lambda m, new, old: new if m else old, mask_tree, new_masked, updates
        )
        return new_updates, MaskedState(inner_state=new_inner)

    return GradientTransformationExtraArgs(init_fn, update_fn)


class PartitionState(NamedTuple):
    """``partition``'s state: ``{label: that transformation's (masked) state}``."""

    inner_states: Mapping[Hashable, Any]


MultiTransformState = PartitionState


def partition(
    transforms: Mapping[Hashable, GradientTransformation],
    param_labels: Any,
    *,
    mask_compatible_extra_args: bool = False,
) -> GradientTransformationExtraArgs:
    """A different transformation per group of parameters (e.g. Muon for matrices, AdamW for
    the rest): ``param_labels`` gives each leaf a key of ``transforms``.

    Args:
        transforms: ``{label: transformation}``.
        param_labels: a tree of labels with the params' structure (or a prefix of it), or a
            function of the params returning one.
        mask_compatible_extra_args: passed to ``masked``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import optim
        >>> opt = optim.multi_transform({'fast': optim.sgd(1.0), 'off': optim.set_to_zero()},
        ...                             {'w': 'fast', 'b': 'off'})
        >>> g = {'w': vnp.ones(1), 'b': vnp.ones(1)}
        >>> opt.update(g, opt.init(g))[0]
        {'b': Array([0.], dtype=float32), 'w': Array([-1.], dtype=float32)}
    """
    transforms = {k: with_extra_args_support(v) for k, v in transforms.items()}

    def make_mask(labels, group):
        return tree.map(lambda label: label == group, labels)

    def masked_group(labels, group, tx):
        return masked(
            tx, make_mask(labels, group), mask_compatible_extra_args=mask_compatible_extra_args
        )

    def init_fn(params):
        labels = param_labels(params) if callable(param_labels) else param_labels
        label_set = set(tree.leaves(labels))
        if not label_set.issubset(transforms.keys()):
            raise ValueError(
                "partition: some parameters have no transformation.\n"
                f"  parameter labels: {sorted(map(str, label_set))}\n"
                f"  transforms keys: {sorted(map(str, transforms.keys()))}"
            )
        return PartitionState(
            {g: masked_group(labels, g, tx).init(params) for g, tx in transforms.items()}
        )

    def update_fn(updates, state, params=None, **extra_args):
        labels = param_labels(updates) if callable(param_labels) else param_labels
        new_inner = {}
        for group, tx in transforms.items():
            updates, new_inner[group] = masked_group(labels, group, tx).update(
                updates, state.inner_states[group], params, **extra_args
            )
        return updates, PartitionState(new_inner)

    return GradientTransformationExtraArgs(init_fn, update_fn)


multi_transform = partition


# ----------------------------------------------------------------------------------------------
# Hyperparameters as state


class InjectHyperparamsState(NamedTuple):
    """The older injected-hyperparameters state (optax keeps the name)."""

    count: Any
    hyperparams: dict[str, Any]
    inner_state: Any


class InjectStatefulHyperparamsState(NamedTuple):
    """``inject_hyperparams``' state: step count, current hyperparameter values, schedule
    states and the inner state."""

    count: Any
    hyperparams: dict[str, Any]
    hyperparams_states: dict[str, Any]
    inner_state: Any


class WrappedScheduleState(NamedTuple):
    """A plain schedule's state in ``inject_hyperparams``: its step count."""

    count: Any


class WrappedSchedule:
    """A schedule ``f(count)`` as a stateful schedule (``init``/``update``/``__call__``)."""

    def __init__(self, schedule_fn: Callable[[Any], Any]):
        self.schedule_fn = schedule_fn

    def init(self) -> WrappedScheduleState:
        return WrappedScheduleState(count=vnp.zeros([], vnp.int32))

    def update(self, state: WrappedScheduleState, **extra_args: Any) -> WrappedScheduleState:
        del extra_args
        return WrappedScheduleState(count=safe_increment(state.count))

    def __call__(self, state: WrappedScheduleState, **extra_args: Any) -> Any:
        del extra_args
        return self.schedule_fn(state.count)


def _is_stateful_schedule(value: Any) -> bool:
    return callable(value) and all(hasattr(value, a) for a in ("init", "update"))


def _convert_floats(x: Any, dtype: Any) -> Any:
    if isinstance(x, Array) and not x.weak_type:
        return x
    current = x.dtype if hasattr(x, "dtype") else type(x)
    if np.issubdtype(current, np.floating):
        return vnp.asarray(x, dtype=dtype)
    return x


def inject_hyperparams(
    inner_factory: Callable[..., GradientTransformation],
    static_args: str | Iterable[str] = (),
    hyperparam_dtype: Any = None,
) -> Callable[..., GradientTransformationExtraArgs]:
    """Make an optimiser's numeric hyperparameters part of its state.

    ``inject_hyperparams(optim.adam)(learning_rate=0.1)`` behaves as ``adam(0.1)``, but
    ``state.hyperparams['learning_rate']`` is an array in the state: setting it changes the
    learning rate of the next step, inside a jitted step, without recompiling. Schedules
    (callables) are evaluated each step and their value stored there.

    Args:
        inner_factory: an optimiser constructor such as ``optim.adam``.
        static_args: names of arguments to keep as Python values (not injected).
        hyperparam_dtype: dtype of the injected floats (default: the params' widest).

    Returns:
        A constructor with ``inner_factory``'s signature.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import optim
        >>> opt = optim.inject_hyperparams(optim.sgd)(learning_rate=0.1)
        >>> state = opt.init(vnp.zeros(1))
        >>> state.hyperparams['learning_rate'] = vnp.asarray(1.0)
        >>> opt.update(vnp.ones(1), state)[0]
        Array([-1.], dtype=float32)
    """
    static_args = {static_args} if isinstance(static_args, str) else set(static_args)
    signature = inspect.signature(inner_factory)
    if not static_args.issubset(signature.parameters):
        raise ValueError(
            f"inject_hyperparams: static_args {sorted(static_args)} must name parameters of "
            f"{getattr(inner_factory, '__name__', inner_factory)}: {list(signature.parameters)}"
        )

    @functools.wraps(inner_factory)
    def wrapped(*args: Any, **kwargs: Any) -> GradientTransformationExtraArgs:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        sched_hps, numeric_hps, other_hps = {}, {}, {}
        for name, value in bound.arguments.items():
            if name in static_args or isinstance(value, bool):
                other_hps[name] = value
            elif _is_stateful_schedule(value):
                sched_hps[name] = value
            elif callable(value):
                sched_hps[name] = WrappedSchedule(value)
            elif isinstance(value, (int, float, np.ndarray, np.number, Array)):
                numeric_hps[name] = value
            else:
                other_hps[name] = value

        def dtype_of(params):
            return hyperparam_dtype if hyperparam_dtype is not None else tree_dtype(
                params, "highest"
            )

        def init_fn(params):
            dtype = dtype_of(params)
            hparams = {k: vnp.asarray(_convert_floats(v, dtype)) for k, v in numeric_hps.items()}
            h_states = {k: f.init() for k, f in sched_hps.items()}
            hparams.update(
                {k: _convert_floats(f(h_states[k]), dtype) for k, f in sched_hps.items()}
            )
            return InjectStatefulHyperparamsState(
                count=vnp.zeros([], vnp.int32),
                hyperparams=hparams,
                hyperparams_states=h_states,
                inner_state=inner_factory(**other_hps, **hparams).init(params),
            )

        def update_fn(updates, state, params=None, **extra_args):
            dtype = dtype_of(params)
            hparams = {k: _convert_floats(v, dtype) for k, v in state.hyperparams.items()}
            hparams.update({
                k: _convert_floats(f(state.hyperparams_states[k], **extra_args), dtype)
                for k, f in sched_hps.items()
            })  # fmt: skip
            h_states = {
                k: f.update(state.hyperparams_states[k], **extra_args)
                for k, f in sched_hps.items()
            }
            inner = with_extra_args_support(inner_factory(**other_hps, **hparams))
            updates, inner_state = inner.update(updates, state.inner_state, params, **extra_args)
            return updates, InjectStatefulHyperparamsState(
                count=safe_increment(state.count),
                hyperparams=hparams,
                hyperparams_states=h_states,
                inner_state=inner_state,
            )

        return GradientTransformationExtraArgs(init_fn, update_fn)

    return wrapped


# ----------------------------------------------------------------------------------------------
# Gradient accumulation and skipping


class MultiStepsState(NamedTuple):
    """``MultiSteps``' state.

    Fields: ``mini_step`` (0..k-1 within the current accumulation), ``gradient_step`` (inner
    updates done), ``inner_opt_state``, ``acc_grads`` (the running mean, or sum, of the
    gradients) and ``skip_state`` (what ``should_skip_update_fn`` reported).
    """

    mini_step: Any
    gradient_step: Any
    inner_opt_state: Any
    acc_grads: Any
    skip_state: Any = ()


def skip_not_finite(updates: Any, gradient_step: Any, params: Any) -> tuple[Any, Any]:
    """A ``should_skip_update_fn`` for ``MultiSteps``: skip when any gradient is not finite."""
    del gradient_step, params
    counts = [vnp.sum(vnp.logical_not(vnp.isfinite(g))) for g in tree.leaves(updates)]
    num_not_finite = vnp.sum(vnp.stack(counts)) if counts else vnp.asarray(0)
    should_skip = num_not_finite > 0
    return should_skip, {"should_skip": should_skip, "num_not_finite": num_not_finite}


class MultiSteps:
    """Gradient accumulation: apply ``opt`` once every ``k`` calls, to the mean (or sum) of
    the ``k`` gradients; the other calls return zero updates.

    Args:
        opt: the inner transformation.
        every_k_schedule: ``k``, or a function of the inner step count giving it.
        use_grad_mean: accumulate the mean (True) or the sum of the gradients.
        should_skip_update_fn: ``f(updates, gradient_step, params) -> (skip, skip_state)``;
            a skipped call leaves the state unchanged (e.g. ``skip_not_finite``).
        accumulator_dtype: dtype of the accumulated gradients.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import optim
        >>> opt = optim.MultiSteps(optim.sgd(1.0), every_k_schedule=2)
        >>> state = opt.init(vnp.zeros(1))
        >>> u, state = opt.update(vnp.array([1.0]), state)
        >>> u, state = opt.update(vnp.array([3.0]), state)
        >>> u
        Array([-2.], dtype=float32)
    """

    def __init__(
        self,
        opt: GradientTransformation,
        every_k_schedule: int | Callable[[Any], Any],
        use_grad_mean: bool = True,
        should_skip_update_fn: Callable[..., Any] | None = None,
        accumulator_dtype: Any = np.float32,
    ):
        self._opt = with_extra_args_support(opt)
        if isinstance(every_k_schedule, int):
            self._every_k_schedule = lambda step: every_k_schedule
        else:
            self._every_k_schedule = every_k_schedule
        self._use_grad_mean = use_grad_mean
        self._accumulator_dtype = np.dtype(accumulator_dtype)
        self._should_skip_update_fn = should_skip_update_fn

    @property
    def inner_opt(self) -> GradientTransformationExtraArgs:
        """The wrapped transformation."""
        return self._opt

    def _skip(self, updates: Any, step: Any, params: Any) -> tuple[Any, Any]:
        if self._should_skip_update_fn is None:
            return vnp.asarray(False), ()
        return self._should_skip_update_fn(updates, step, params)

    def _acc_update(self, grad: Any, acc: Any, n_acc: Any) -> Any:
        if self._use_grad_mean:
            return acc + (grad - acc) / (n_acc + 1)
        return grad + acc

    def init(self, params: Any) -> MultiStepsState:
        """The initial state: zero accumulators, the inner optimiser's initial state."""
        gradient_step = vnp.zeros([], vnp.int32)
        _, skip_state = self._skip(tree_zeros_like(params), gradient_step, params)
        return MultiStepsState(
            mini_step=vnp.zeros([], vnp.int32),
            gradient_step=gradient_step,
            inner_opt_state=self._opt.init(params),
            acc_grads=tree_zeros_like(params, dtype=self._accumulator_dtype),
            skip_state=skip_state,
        )

    def update(
        self, updates: Any, state: MultiStepsState, params: Any = None, **extra_args: Any
    ) -> tuple[Any, MultiStepsState]:
        """Accumulate ``updates``; every k-th call apply the inner optimiser."""
        k_steps = self._every_k_schedule(state.gradient_step)
        should_skip, skip_state = self._skip(updates, state.gradient_step, params)
        should_skip = vnp.asarray(should_skip)
        if (should_skip.dtype, should_skip.shape) != (np.dtype(bool), ()):
            raise ValueError(
                "MultiSteps: should_skip_update_fn must return a boolean scalar, got dtype "
                f"{should_skip.dtype} and shape {should_skip.shape}"
            )

        def do_update(updates, state, params):
            acc_grads = tree.map(
                lambda g, acc: self._acc_update(g, acc, state.mini_step), updates, state.acc_grads
            )
            final, new_inner = self._opt.update(
                tree_cast_like(acc_grads, updates), state.inner_opt_state, params, **extra_args
            )
            emit = state.mini_step == k_steps - 1
            new_state = MultiStepsState(
                mini_step=safe_increment(state.mini_step) % k_steps,
                gradient_step=emit * safe_increment(state.gradient_step)
                + (1 - emit) * state.gradient_step,
                inner_opt_state=tree.map(
                    lambda old, new: vnp.where(emit, new, old).astype(vnp.asarray(old).dtype),
                    state.inner_opt_state,
                    new_inner,
                ),
                acc_grads=tree.map(
                    lambda acc: ((1 - emit) * acc).astype(self._accumulator_dtype), acc_grads
                ),
                skip_state=skip_state,
            )
            return tree.map(lambda u: emit * u, final), new_state

        def skip_update(updates, state, params):
            zeros = tree.map(lambda u: vnp.zeros_like(u), do_update(updates, state, params)[0])
            return zeros, state._replace(skip_state=skip_state)

        if self._should_skip_update_fn is None:
            # Never skips: optax's lax.cond would always take this branch.
            return do_update(updates, state, params)
        return lax.cond(should_skip, skip_update, do_update, updates, state, params)

    def has_updated(self, state: MultiStepsState) -> Any:
        """Whether the last ``update`` applied the inner optimiser."""
        return vnp.logical_and(state.mini_step == 0, state.gradient_step > 0)

    def gradient_transformation(self) -> GradientTransformation:
        """This as a plain ``GradientTransformation``."""
        return GradientTransformation(init=self.init, update=self.update)


class ApplyIfFiniteState(NamedTuple):
    """``apply_if_finite``'s state.

    Fields: ``notfinite_count`` (consecutive non-finite steps), ``last_finite`` (whether the
    last updates were finite), ``total_notfinite`` (all non-finite steps) and ``inner_state``.
    """

    notfinite_count: Any
    last_finite: Any
    total_notfinite: Any
    inner_state: Any


def apply_if_finite(
    inner: GradientTransformation, max_consecutive_errors: int
) -> GradientTransformationExtraArgs:
    """Skip (zero updates, state unchanged) steps whose gradients have a NaN or inf, unless
    more than ``max_consecutive_errors`` happened in a row; then apply them anyway.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import optim
        >>> opt = optim.apply_if_finite(optim.sgd(1.0), max_consecutive_errors=2)
        >>> state = opt.init(vnp.zeros(2))
        >>> u, state = opt.update(vnp.array([1.0, vnp.nan]), state)
        >>> u, state.total_notfinite
        (Array([0., 0.], dtype=float32), Array(1, dtype=int32))
    """
    inner = with_extra_args_support(inner)

    def init_fn(params):
        return ApplyIfFiniteState(
            notfinite_count=vnp.zeros([], vnp.int32),
            last_finite=vnp.asarray(True),
            total_notfinite=vnp.zeros([], vnp.int32),
            inner_state=inner.init(params),
        )

    def update_fn(updates, state, params=None, **extra_args):
        inner_state = state.inner_state
        flags = [vnp.all(vnp.isfinite(g)) for g in tree.leaves(updates)]
        isfinite = vnp.all(vnp.stack(flags)) if flags else vnp.asarray(True)
        notfinite_count = vnp.where(
            isfinite, vnp.zeros([], vnp.int32), safe_increment(state.notfinite_count)
        )

        def do_update(updates, inner_state):
            return inner.update(updates, inner_state, params, **extra_args)

        def reject_update(updates, inner_state):
            return tree_zeros_like(updates), inner_state

        apply = vnp.logical_or(isfinite, notfinite_count > max_consecutive_errors)
        updates, new_inner = lax.cond(apply, do_update, reject_update, updates, inner_state)
        return updates, ApplyIfFiniteState(
            notfinite_count=notfinite_count,
            last_finite=isfinite,
            total_notfinite=vnp.where(
                isfinite, state.total_notfinite, safe_increment(state.total_notfinite)
            ),
            inner_state=new_inner,
        )

    return GradientTransformationExtraArgs(init_fn, update_fn)
