"""Optimizers as `(init_fun, update_fun, get_params)` triples, with JAX's `optimizers` names.

`init_fun(params) -> state`, `update_fun(step, grads, state) -> state` and
`get_params(state) -> params` work on any pytree of parameters; the state is an
`OptimizerState`, itself a pytree, so it passes through `jit` and `lax.scan`. Each optimizer
below is written for one array and lifted to pytrees by the `optimizer` decorator, as in JAX.
A step size may be a number or a schedule `step -> size`.

Example:
    >>> import vfunc, vfunc.numpy as vnp
    >>> opt_init, opt_update, get_params = sgd(0.1)
    >>> state = opt_init({"w": vnp.array([1.0])})
    >>> state = opt_update(0, {"w": vnp.array([2.0])}, state)
    >>> get_params(state)["w"]
    Array([0.8], dtype=float32)
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import vfunc.numpy as vnp
from vfunc import tree

__all__ = [
    "Optimizer", "OptimizerState", "adagrad", "adam", "adamax", "clip_grads", "constant",
    "exponential_decay", "inverse_time_decay", "l2_norm", "make_schedule", "momentum",
    "nesterov", "optimizer", "pack_optimizer_state", "piecewise_constant", "polynomial_decay",
    "rmsprop", "rmsprop_momentum", "sgd", "sm3", "unpack_optimizer_state",
]  # fmt: skip

Schedule = Callable[[Any], Any]


@dataclasses.dataclass(frozen=True)
class OptimizerState:
    """The state of an optimizer over a pytree: each parameter's flattened state
    (`packed_state`), the parameters' structure (`tree_def`) and the structure of each
    parameter's state (`subtree_defs`). A pytree whose leaves are the state arrays (the two
    structures are static), and unpacks as a triple, as JAX's namedtuple does.

    Differs from JAX: a frozen dataclass rather than a namedtuple, because optree registers
    every namedtuple as a node whose fields are children, and the structures must not be leaves.
    """

    packed_state: list
    tree_def: Any
    subtree_defs: tuple

    def __iter__(self) -> Iterator[Any]:
        return iter((self.packed_state, self.tree_def, self.subtree_defs))


tree.register_pytree_node(
    OptimizerState,
    lambda s: ((s.packed_state,), (s.tree_def, s.subtree_defs)),
    lambda aux, children: OptimizerState(list(children)[0], *aux),
)


class Optimizer(NamedTuple):
    """An `(init_fn, update_fn, params_fn)` triple over pytrees."""

    init_fn: Callable[[Any], OptimizerState]
    update_fn: Callable[[Any, Any, OptimizerState], OptimizerState]
    params_fn: Callable[[OptimizerState], Any]


def optimizer(opt_maker: Callable[..., tuple[Callable, Callable, Callable]]) -> Callable:
    """Lifts a maker of an optimizer for one array to one for pytrees, as JAX's decorator.

    Args:
        opt_maker: returns `(init, update, get_params)` acting on one array and its state
            (any pytree).

    Returns:
        A function with `opt_maker`'s arguments returning an `Optimizer` over pytrees, whose
        `update_fn` raises TypeError when the gradients' structure is not the parameters'.
    """

    @functools.wraps(opt_maker)
    def tree_opt_maker(*args: Any, **kwargs: Any) -> Optimizer:
        init, update, get_params = opt_maker(*args, **kwargs)

        def tree_init(x0_tree: Any) -> OptimizerState:
            x0_flat, treedef = tree.flatten(x0_tree)
            states = [tree.flatten(init(x0)) for x0 in x0_flat]
            return OptimizerState([s[0] for s in states], treedef, tuple(s[1] for s in states))

        def tree_update(i: Any, grad_tree: Any, opt_state: OptimizerState) -> OptimizerState:
            states_flat, treedef, subtrees = opt_state
            grad_flat, grad_def = tree.flatten(grad_tree)
            if grad_def != treedef:
                raise TypeError(
                    "optimizer update: the gradient tree's structure differs from the "
                    f"parameters': gradients {grad_def}, parameters {treedef}."
                )
            new_flat = []
            for g, sub, flat in zip(grad_flat, subtrees, states_flat, strict=True):
                new, new_def = tree.flatten(update(i, g, tree.unflatten(sub, flat)))
                if new_def != sub:
                    raise TypeError(
                        f"optimizer update: a state changed structure, from {sub} to {new_def}."
                    )
                new_flat.append(new)
            return OptimizerState(new_flat, treedef, subtrees)

        def tree_get_params(opt_state: OptimizerState) -> Any:
            states_flat, treedef, subtrees = opt_state
            params = [get_params(tree.unflatten(sub, flat))
                      for sub, flat in zip(subtrees, states_flat, strict=True)]  # fmt: skip
            return tree.unflatten(treedef, params)

        return Optimizer(tree_init, tree_update, tree_get_params)

    return tree_opt_maker


def _params_of_first(state: tuple) -> Any:
    return state[0]


@optimizer
def sgd(step_size: float | Schedule) -> tuple[Callable, Callable, Callable]:
    """Stochastic gradient descent: `x - step_size(i) * g`."""
    size = make_schedule(step_size)
    return (lambda x0: x0), (lambda i, g, x: x - size(i) * g), (lambda x: x)


@optimizer
def momentum(step_size: float | Schedule, mass: float) -> tuple[Callable, Callable, Callable]:
    """Heavy-ball momentum: `v = mass * v + g; x -= step_size(i) * v`."""
    size = make_schedule(step_size)

    def update(i: Any, g: Any, state: tuple) -> tuple:
        x, velocity = state
        velocity = mass * velocity + g
        return x - size(i) * velocity, velocity

    return (lambda x0: (x0, vnp.zeros_like(x0))), update, _params_of_first


@optimizer
def nesterov(step_size: float | Schedule, mass: float) -> tuple[Callable, Callable, Callable]:
    """Nesterov momentum: `v = mass * v + g; x -= step_size(i) * (mass * v + g)`."""
    size = make_schedule(step_size)

    def update(i: Any, g: Any, state: tuple) -> tuple:
        x, velocity = state
        velocity = mass * velocity + g
        return x - size(i) * (mass * velocity + g), velocity

    return (lambda x0: (x0, vnp.zeros_like(x0))), update, _params_of_first


def _inverse_sqrt_or_zero(total: Any) -> Any:
    # 1/sqrt where positive; 0 where nothing has accumulated yet (a parameter with zero grads)
    return vnp.where(total > 0, 1.0 / vnp.sqrt(total), 0.0)


@optimizer
def adagrad(
    step_size: float | Schedule, momentum: float = 0.9
) -> tuple[Callable, Callable, Callable]:
    """Adagrad with momentum on the normalized gradient, as JAX's."""
    size = make_schedule(step_size)

    def init(x0: Any) -> tuple:
        return x0, vnp.zeros_like(x0), vnp.zeros_like(x0)

    def update(i: Any, g: Any, state: tuple) -> tuple:
        x, g_sq, m = state
        g_sq = g_sq + vnp.square(g)
        m = (1.0 - momentum) * (g * _inverse_sqrt_or_zero(g_sq)) + momentum * m
        return x - size(i) * m, g_sq, m

    return init, update, _params_of_first


@optimizer
def rmsprop(
    step_size: float | Schedule, gamma: float = 0.9, eps: float = 1e-8
) -> tuple[Callable, Callable, Callable]:
    """RMSProp: divide by the root of a running mean of squared gradients (plus `eps`)."""
    size = make_schedule(step_size)

    def update(i: Any, g: Any, state: tuple) -> tuple:
        x, avg_sq = state
        avg_sq = avg_sq * gamma + vnp.square(g) * (1.0 - gamma)
        return x - size(i) * g / vnp.sqrt(avg_sq + eps), avg_sq

    return (lambda x0: (x0, vnp.zeros_like(x0))), update, _params_of_first


@optimizer
def rmsprop_momentum(
    step_size: float | Schedule, gamma: float = 0.9, eps: float = 1e-8, momentum: float = 0.9
) -> tuple[Callable, Callable, Callable]:
    """RMSProp with momentum on the scaled step, as JAX's."""
    size = make_schedule(step_size)

    def init(x0: Any) -> tuple:
        return x0, vnp.zeros_like(x0), vnp.zeros_like(x0)

    def update(i: Any, g: Any, state: tuple) -> tuple:
        x, avg_sq, mom = state
        avg_sq = avg_sq * gamma + vnp.square(g) * (1.0 - gamma)
        mom = momentum * mom + size(i) * g / vnp.sqrt(avg_sq + eps)
        return x - mom, avg_sq, mom

    return init, update, _params_of_first


def _bias_correction(beta: float, like: Any, i: Any) -> Any:
    """`1 - beta ** (i + 1)` in the dtype of `like`, as JAX computes it."""
    return 1 - vnp.asarray(beta, like.dtype) ** (i + 1)


@optimizer
def adam(
    step_size: float | Schedule, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8
) -> tuple[Callable, Callable, Callable]:
    """Adam (Kingma & Ba), bias-corrected, `eps` added outside the square root, as JAX's."""
    size = make_schedule(step_size)

    def init(x0: Any) -> tuple:
        return x0, vnp.zeros_like(x0), vnp.zeros_like(x0)

    def update(i: Any, g: Any, state: tuple) -> tuple:
        x, m, v = state
        m = (1 - b1) * g + b1 * m
        v = (1 - b2) * vnp.square(g) + b2 * v
        m_hat = m / _bias_correction(b1, m, i)
        v_hat = v / _bias_correction(b2, m, i)
        return x - size(i) * m_hat / (vnp.sqrt(v_hat) + eps), m, v

    return init, update, _params_of_first


@optimizer
def adamax(
    step_size: float | Schedule, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8
) -> tuple[Callable, Callable, Callable]:
    """AdaMax: Adam with the infinity norm of past gradients in place of the second moment."""
    size = make_schedule(step_size)

    def init(x0: Any) -> tuple:
        return x0, vnp.zeros_like(x0), vnp.zeros_like(x0)

    def update(i: Any, g: Any, state: tuple) -> tuple:
        x, m, u = state
        m = (1 - b1) * g + b1 * m
        u = vnp.maximum(b2 * u, vnp.abs(g))
        x = x - (size(i) / _bias_correction(b1, m, i)) * m / (u + eps)
        return x, m, u

    return init, update, _params_of_first


@optimizer
def sm3(step_size: float | Schedule, momentum: float = 0.9) -> tuple[Callable, Callable, Callable]:
    """SM3 (memory-efficient adaptive optimization): one accumulator vector per axis."""
    size = make_schedule(step_size)

    def init(x0: Any) -> tuple:
        shape = vnp.shape(x0)
        x0 = vnp.atleast_1d(x0)
        vs = [vnp.zeros(n, dtype=x0.dtype) for n in x0.shape]
        return x0, vnp.zeros_like(x0), vs, shape

    def update(i: Any, g: Any, state: tuple) -> tuple:
        x, m, vs, shape = state
        g = vnp.reshape(g, x.shape)
        # accumulator vector k broadcast along axis k of the parameter
        spread = [
            vnp.expand_dims(v, [a for a in range(g.ndim) if a != k]) for k, v in enumerate(vs)
        ]
        accum = functools.reduce(vnp.minimum, spread) + vnp.square(g)
        m = (1.0 - momentum) * (g * _inverse_sqrt_or_zero(accum)) + momentum * m
        x = x - size(i) * m
        vs = [vnp.max(accum, axis=tuple(a for a in range(x.ndim) if a != k)) for k in range(x.ndim)]
        return x, m, vs, shape

    def get_params(state: tuple) -> Any:
        x, _, _, shape = state
        return vnp.reshape(x, shape)

    return init, update, get_params


# ----------------------------------------------------------------------------------------------
# Schedules


def constant(step_size: float) -> Schedule:
    """The schedule `i -> step_size`."""
    return lambda i: step_size


def exponential_decay(step_size: float, decay_steps: float, decay_rate: float) -> Schedule:
    """`i -> step_size * decay_rate ** (i / decay_steps)`."""
    return lambda i: step_size * decay_rate ** (i / decay_steps)


def inverse_time_decay(
    step_size: float, decay_steps: float, decay_rate: float, staircase: bool = False
) -> Schedule:
    """`i -> step_size / (1 + decay_rate * i / decay_steps)`, the ratio floored if `staircase`."""
    if staircase:
        return lambda i: step_size / (1 + decay_rate * vnp.floor(i / decay_steps))
    return lambda i: step_size / (1 + decay_rate * i / decay_steps)


def polynomial_decay(
    step_size: float, decay_steps: float, final_step_size: float, power: float = 1.0
) -> Schedule:
    """From `step_size` down to `final_step_size` over `decay_steps` as `(1 - t) ** power`."""

    def schedule(step: Any) -> Any:
        fraction = vnp.minimum(step, decay_steps) / decay_steps
        return (1 - fraction) ** power * (step_size - final_step_size) + final_step_size

    return schedule


def piecewise_constant(boundaries: Any, values: Any) -> Schedule:
    """`values[k]` for steps past `k` of the `boundaries` (one more value than boundaries).

    Raises:
        ValueError: the two are not 1-D, or `values` is not one longer than `boundaries`.
    """
    bounds, vals = vnp.array(boundaries), vnp.array(values)
    if not bounds.ndim == vals.ndim == 1:
        raise ValueError("piecewise_constant: boundaries and values must be sequences")
    if bounds.shape[0] != vals.shape[0] - 1:
        raise ValueError(
            "piecewise_constant: values must have one more entry than boundaries, got "
            f"{vals.shape[0]} values for {bounds.shape[0]} boundaries"
        )
    return lambda i: vals[vnp.sum(i > bounds)]


def make_schedule(scalar_or_schedule: float | Schedule) -> Schedule:
    """A schedule as is; a scalar as the constant schedule.

    Raises:
        TypeError: anything else (an array with dimensions, a string).
    """
    if callable(scalar_or_schedule):
        return scalar_or_schedule
    if vnp.ndim(scalar_or_schedule) == 0:
        return constant(scalar_or_schedule)
    raise TypeError(
        f"make_schedule: expected a scalar step size or a schedule (a function of the step), "
        f"got {type(scalar_or_schedule).__name__}"
    )


# ----------------------------------------------------------------------------------------------
# Utilities


def l2_norm(tree_: Any) -> Any:
    """The Euclidean norm of all the leaves of a pytree together."""
    return vnp.sqrt(sum(vnp.vdot(x, x) for x in tree.leaves(tree_)))


def clip_grads(grad_tree: Any, max_norm: float) -> Any:
    """Scales a gradient pytree so that its `l2_norm` is at most `max_norm`."""
    norm = l2_norm(grad_tree)
    return tree.map(lambda g: vnp.where(norm < max_norm, g, g * (max_norm / norm)), grad_tree)


class JoinPoint:
    """A leaf marking where one parameter's state subtree sits in an unpacked state."""

    def __init__(self, subtree: Any):
        self.subtree = subtree

    def __iter__(self) -> Any:  # so that `list(join_point)` shows the subtree, as JAX's
        yield self.subtree


def unpack_optimizer_state(opt_state: OptimizerState) -> Any:
    """The state as a pytree shaped like the parameters, each leaf a `JoinPoint` holding that
    parameter's state: picklable and inspectable; `pack_optimizer_state` inverts it."""
    states_flat, treedef, subtrees = opt_state
    joined = [JoinPoint(tree.unflatten(sub, flat))
              for sub, flat in zip(subtrees, states_flat, strict=True)]  # fmt: skip
    return tree.unflatten(treedef, joined)


def pack_optimizer_state(marked_pytree: Any) -> OptimizerState:
    """The `OptimizerState` of an `unpack_optimizer_state` result."""
    joins, treedef = tree.flatten(marked_pytree, is_leaf=lambda x: isinstance(x, JoinPoint))
    assert all(isinstance(j, JoinPoint) for j in joins), "every leaf must be a JoinPoint"
    flats = [tree.flatten(j.subtree) for j in joins]
    return OptimizerState([f[0] for f in flats], treedef, tuple(f[1] for f in flats))
