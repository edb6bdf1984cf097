"""The optimiser model: a ``GradientTransformation`` is a pure ``(init, update)`` pair.

``init(params) -> state`` builds the state (a NamedTuple of pytrees shaped like the params);
``update(updates, state, params=None) -> (updates, state)`` transforms gradients into updates.
Nothing is mutated, so a whole training step can be ``jit``-ted, with the state donated.
Names, signatures and state layouts follow optax 0.2.8, so states interchange with optax's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import vfunc.numpy as vnp
from vfunc import tree
from vfunc.optim.tree_utils import check_same_structure, map_trees, safe_increment, tree_norm

__all__ = [
    "NO_PARAMS_MSG",
    "EmptyState",
    "GradientTransformation",
    "GradientTransformationExtraArgs",
    "OptState",
    "Params",
    "Schedule",
    "ScalarOrSchedule",
    "Updates",
    "apply_updates",
    "global_norm",
    "identity",
    "init_empty_state",
    "set_to_zero",
    "stateless",
    "stateless_with_tree_map",
    "with_extra_args_support",
]

PyTree = Any
Params = Any
Updates = Any
OptState = Any
Schedule = Callable[[Any], Any]
ScalarOrSchedule = float | Any | Schedule

NO_PARAMS_MSG = (
    "You are using a transformation that requires the current value of parameters, but you "
    "are not passing `params` when calling `update`."
)


class TransformInitFn(Protocol):
    """``init(params) -> state``."""

    def __call__(self, params: Params) -> OptState: ...


class TransformUpdateFn(Protocol):
    """``update(updates, state, params=None) -> (updates, state)``."""

    def __call__(
        self, updates: Updates, state: OptState, params: Params | None = None
    ) -> tuple[Updates, OptState]: ...


class GradientTransformation(NamedTuple):
    """A pure optimiser (or a piece of one): ``init`` builds the state, ``update`` transforms
    gradients into updates and returns the new state.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import optim
        >>> opt = optim.sgd(0.1)
        >>> params = {'w': vnp.array([1.0, 2.0])}
        >>> state = opt.init(params)
        >>> updates, state = opt.update({'w': vnp.array([1.0, 1.0])}, state, params)
        >>> optim.apply_updates(params, updates)['w']
        Array([0.9, 1.9], dtype=float32)
    """

    init: TransformInitFn
    update: TransformUpdateFn


class GradientTransformationExtraArgs(GradientTransformation):
    """A ``GradientTransformation`` whose ``update`` also accepts keyword ``**extra_args``
    (e.g. a loss value for line searches); combinators pass them on to their parts."""


class EmptyState(NamedTuple):
    """The state of a stateless transformation."""


def init_empty_state(params: Params) -> EmptyState:
    """``init`` for stateless transformations."""
    del params
    return EmptyState()


def identity() -> GradientTransformation:
    """Return the updates unchanged (an optimiser step of nothing; useful in ``chain``)."""

    def update_fn(updates, state, params=None):
        del params
        return updates, state

    return GradientTransformation(init_empty_state, update_fn)


def set_to_zero() -> GradientTransformation:
    """Replace every update with zeros (freezes the parameters it is applied to)."""

    def update_fn(updates, state, params=None):
        del params
        return _tree_map(vnp.zeros_like, updates), state

    return GradientTransformation(init_empty_state, update_fn)


def stateless(f: Callable[[Updates, Params | None], Updates]) -> GradientTransformation:
    """A transformation without state from ``f(updates, params) -> updates``."""

    def update_fn(updates, state, params=None):
        del state
        return f(updates, params), EmptyState()

    return GradientTransformation(init_empty_state, update_fn)


def stateless_with_tree_map(f: Callable[[Any, Any], Any]) -> GradientTransformation:
    """A transformation without state applying ``f(update, param)`` leafwise (``param`` is
    ``None`` when ``update`` is called without params)."""

    def update_fn(updates, state, params=None):
        del state
        if params is not None:
            new = map_checked("stateless_with_tree_map", ("updates", "params"), f, updates, params)
            return new, EmptyState()
        return _tree_map(lambda u: f(u, None), updates), EmptyState()

    return GradientTransformation(init_empty_state, update_fn)


def with_extra_args_support(tx: GradientTransformation) -> GradientTransformationExtraArgs:
    """Wrap ``tx`` so its ``update`` accepts (and ignores) keyword ``**extra_args``."""
    if isinstance(tx, GradientTransformationExtraArgs):
        return tx

    def update(updates, state, params=None, **extra_args):
        del extra_args
        return tx.update(updates, state, params)

    return GradientTransformationExtraArgs(tx.init, update)


def map_checked(
    op: str, names: tuple[str, ...], f: Callable[..., Any], *trees: PyTree
) -> PyTree:
    """``tree.map(f, *trees)``, raising ``TreeStructureError`` (both structures and the first
    differing key) when a tree's structure differs from the first's."""
    return map_trees(op, names, f, *trees)


def _tree_map(f: Callable[[Any], Any], tree_x: PyTree) -> PyTree:
    return tree.map(f, tree_x)


def _keep_dtype(p: Any, u: Any) -> Any:
    p = vnp.asarray(p)
    return vnp.asarray(p + u).astype(p.dtype)


def apply_updates(params: Params, updates: Updates) -> Params:
    """``params + updates`` leafwise, each result in its parameter's dtype.

    Args:
        params: a pytree of arrays.
        updates: a pytree of the same structure (as returned by ``update``).

    Returns:
        The new parameters. A float32 parameter stays float32 even when its update is float64
        (as in optax), so mixed-precision states never widen the model.

    Raises:
        TreeStructureError: ``updates`` does not have the structure of ``params``; the message
            shows both and names the first key that differs.

    Example:
        >>> import vfunc.numpy as vnp
        >>> apply_updates({'w': vnp.ones(2)}, {'w': vnp.array([0.5, -0.5])})
        {'w': Array([1.5, 0.5], dtype=float32)}
    """
    flat_p, flat_u = check_same_structure("apply_updates", ("params", "updates"), params, updates)
    new = [_keep_dtype(p, u) for p, u in zip(flat_p, flat_u, strict=True)]
    return tree.unflatten(tree.structure(params), new)


def incremental_update(new_tensors: PyTree, old_tensors: PyTree, step_size: Any) -> PyTree:
    """``step_size * new + (1 - step_size) * old`` leafwise (Polyak averaging of targets)."""
    return map_checked(
        "incremental_update",
        ("new_tensors", "old_tensors"),
        lambda new, old: step_size * new + (1.0 - step_size) * old,
        new_tensors,
        old_tensors,
    )


def global_norm(updates: PyTree) -> Any:
    """The L2 norm of all the tree's elements together, ``sqrt(sum of squares)``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> global_norm([vnp.array([3.0]), vnp.array([[4.0]])])
        Array(5., dtype=float32)
    """
    return tree_norm(updates)


def safe_int32_increment(count: Any) -> Any:
    """``count + 1`` saturating at the int32 maximum (optax's name)."""
    return safe_increment(count)
