"""Tree arithmetic for optimisers, as ``optax.tree_utils`` (``optax.tree``) has it.

Every function maps over pytrees of arrays with vfunc operations, so it works eagerly and
under ``jit``/``grad``/``vmap``. Functions of several trees check that the trees have one
structure and otherwise raise ``TreeStructureError`` showing both structures and the first key
path where they differ (``map_trees`` does this for every transformation in ``vfunc.optim``).
"""

from __future__ import annotations

import builtins
import functools
import operator
from collections.abc import Callable
from typing import Any

import numpy as np

import vfunc.numpy as vnp
from vfunc import dtypes, tree
from vfunc.errors import VfuncError

__all__ = [
    "TreeStructureError",
    "map_trees",
    "tree_add",
    "tree_add_scale",
    "tree_bias_correction",
    "tree_cast",
    "tree_cast_like",
    "tree_clip",
    "tree_div",
    "tree_dtype",
    "tree_full_like",
    "tree_l2_norm",
    "tree_mul",
    "tree_norm",
    "tree_ones_like",
    "tree_scale",
    "tree_sub",
    "tree_sum",
    "tree_update_infinity_moment",
    "tree_update_moment",
    "tree_update_moment_per_elem_norm",
    "tree_vdot",
    "tree_where",
    "tree_zeros_like",
]

PyTree = Any


class TreeStructureError(VfuncError, ValueError):
    """Two pytrees that must have one structure (gradients and state, or gradients and params)
    do not. Subclasses ``ValueError``, which optax raises in the same situation."""


def _first_difference(names: tuple[str, str], a: PyTree, b: PyTree) -> str:
    """Describe the first key path at which ``a`` and ``b`` differ, in traversal order."""
    paths_a = [tree.keystr(p) for p, _ in tree.leaves_with_path(a)]
    paths_b = [tree.keystr(p) for p, _ in tree.leaves_with_path(b)]
    for pa, pb in zip(paths_a, paths_b, strict=False):
        if pa != pb:
            return f"the first differing key: {names[0]} has {pa!r} where {names[1]} has {pb!r}"
    if len(paths_a) != len(paths_b):
        longer, name = (paths_a, names[0]) if len(paths_a) > len(paths_b) else (paths_b, names[1])
        extra = longer[min(len(paths_a), len(paths_b))]
        return f"the first differing key: {extra!r}, present only in {name}"
    # Same leaf paths: the containers differ (a list against a tuple, a dict against a
    # dataclass, or different node metadata).
    return "the leaf key paths agree but the container types or node metadata differ"


def check_same_structure(op: str, names: tuple[str, ...], *trees: PyTree) -> list[list[Any]]:
    """Flatten ``trees``, raising ``TreeStructureError`` unless all have the first's structure.

    Returns the leaf lists. ``names`` names each tree in the message (``'updates'``,
    ``'state.mu'``, ``'params'``).
    """
    first, treedef = tree.flatten(trees[0])
    flat = [first]
    for name, other in zip(names[1:], trees[1:], strict=True):
        leaves, other_def = tree.flatten(other)
        if other_def != treedef:
            raise TreeStructureError(
                f"{op}: {names[0]} and {name} must have the same pytree structure, but\n"
                f"  {names[0]}: {treedef}\n"
                f"  {name}: {other_def}\n"
                f"{_first_difference((names[0], name), trees[0], other)}. Pass gradients with "
                f"the structure of the params the optimiser state was initialised with."
            )
        flat.append(leaves)
    return flat


def map_trees(
    op: str, names: tuple[str, ...], f: Callable[..., Any], *trees: PyTree
) -> PyTree:
    """``tree.map(f, *trees)`` after checking every tree has the first's structure."""
    flat = check_same_structure(op, names, *trees)
    treedef = tree.structure(trees[0])
    return tree.unflatten(treedef, [f(*xs) for xs in zip(*flat, strict=True)])


def _map(f: Callable[..., Any], *trees: PyTree) -> PyTree:
    if len(trees) == 1:
        return tree.map(f, trees[0])
    return map_trees("tree_utils", tuple(f"tree{i}" for i in range(len(trees))), f, *trees)


def tree_add(tree_x: PyTree, tree_y: PyTree, *other_trees: PyTree) -> PyTree:
    """Leafwise sum of two or more trees."""
    return _map(lambda *xs: functools.reduce(operator.add, xs), tree_x, tree_y, *other_trees)


def tree_sub(tree_x: PyTree, tree_y: PyTree) -> PyTree:
    """Leafwise ``x - y``."""
    return _map(operator.sub, tree_x, tree_y)


def tree_mul(tree_x: PyTree, tree_y: PyTree) -> PyTree:
    """Leafwise ``x * y``."""
    return _map(operator.mul, tree_x, tree_y)


def tree_div(tree_x: PyTree, tree_y: PyTree) -> PyTree:
    """Leafwise ``x / y``."""
    return _map(operator.truediv, tree_x, tree_y)


def tree_scale(scalar: Any, tree_x: PyTree) -> PyTree:
    """``scalar * x`` for every leaf."""
    return _map(lambda x: scalar * x, tree_x)


def tree_add_scale(tree_x: PyTree, scalar: Any, tree_y: PyTree) -> PyTree:
    """``x + scalar * y`` leafwise."""
    return _map(lambda x, y: x + scalar * y, tree_x, tree_y)


def tree_vdot(tree_x: PyTree, tree_y: PyTree) -> Any:
    """The inner product of two trees: the sum over leaves of ``sum(x * y)``."""
    products = tree.leaves(_map(lambda x, y: vnp.sum(x * y), tree_x, tree_y))
    return functools.reduce(operator.add, products, 0)


def tree_sum(tree_x: PyTree) -> Any:
    """The sum of every element of every leaf."""
    return functools.reduce(operator.add, [vnp.sum(x) for x in tree.leaves(tree_x)], 0)


def tree_norm(tree_x: PyTree, ord: Any = None, squared: bool = False) -> Any:  # noqa: A002
    """The vector norm of all the tree's elements together (``ord`` None/2, 1 or inf).

    Example:
        >>> import vfunc.numpy as vnp
        >>> tree_norm({'a': vnp.array([3.0]), 'b': vnp.array([4.0])})
        Array(5., dtype=float32)
    """
    if ord is None or ord == 2:
        sq = tree_sum(_map(lambda x: x * x, tree_x))
        return vnp.asarray(sq if squared else vnp.sqrt(sq))
    if ord == 1:
        total = tree_sum(_map(vnp.abs, tree_x))
    elif ord in (np.inf, "inf", "infinity"):
        maxima = [vnp.max(vnp.abs(x)) for x in tree.leaves(tree_x)]
        total = functools.reduce(vnp.maximum, maxima, -np.inf)
    else:
        raise ValueError(f"tree_norm: unsupported ord {ord!r}; use None, 2, 1 or inf")
    return vnp.asarray(total * total if squared else total)


def tree_l2_norm(tree_x: PyTree, squared: bool = False) -> Any:
    """The L2 norm of the tree (``tree_norm`` with ``ord=2``)."""
    return tree_norm(tree_x, 2, squared)


def tree_zeros_like(tree_x: PyTree, dtype: Any = None) -> PyTree:
    """Zeros with each leaf's shape (and its dtype unless ``dtype`` is given)."""
    return _map(lambda x: vnp.zeros_like(x, dtype=dtype), tree_x)


def tree_ones_like(tree_x: PyTree, dtype: Any = None) -> PyTree:
    """Ones with each leaf's shape (and its dtype unless ``dtype`` is given)."""
    return _map(lambda x: vnp.ones_like(x, dtype=dtype), tree_x)


def tree_full_like(tree_x: PyTree, fill_value: Any, dtype: Any = None) -> PyTree:
    """``fill_value`` with each leaf's shape (and its dtype unless ``dtype`` is given)."""
    return _map(lambda x: vnp.full_like(x, fill_value, dtype=dtype), tree_x)


def tree_clip(tree_x: PyTree, min_value: Any = None, max_value: Any = None) -> PyTree:
    """Clip every leaf to ``[min_value, max_value]``."""
    return _map(lambda x: vnp.clip(x, min_value, max_value), tree_x)


def tree_where(condition: Any, tree_x: PyTree, tree_y: PyTree) -> PyTree:
    """``where(condition, x, y)`` leafwise, with one (scalar) condition for all leaves."""
    return _map(lambda x, y: vnp.where(condition, x, y), tree_x, tree_y)


def tree_cast(tree_x: PyTree, dtype: Any) -> PyTree:
    """Cast every leaf to ``dtype``; ``None`` leaves the tree as it is."""
    if dtype is None:
        return tree_x
    return _map(lambda x: vnp.asarray(x).astype(dtype), tree_x)


def tree_cast_like(tree_x: PyTree, other: PyTree) -> PyTree:
    """Cast each leaf of ``tree_x`` to the dtype of the matching leaf of ``other``."""
    return _map(lambda x, o: vnp.asarray(x).astype(vnp.asarray(o).dtype), tree_x, other)


def tree_dtype(tree_x: PyTree, mixed_dtype_handler: str | None = None) -> np.dtype:
    """The dtype of the tree's leaves: with ``'highest'`` or ``'promote'`` the promotion of
    all of them, with ``'lowest'`` the narrowest; ``None`` requires a single dtype."""
    found = [vnp.asarray(x).dtype for x in tree.leaves(tree_x)]
    if not found:
        return dtypes.default_float()
    if mixed_dtype_handler in ("highest", "promote"):
        return functools.reduce(np.promote_types, found)
    if mixed_dtype_handler == "lowest":
        return builtins.min(found, key=lambda d: d.itemsize)
    if builtins.any(d != found[0] for d in found):
        raise ValueError(
            f"tree_dtype: the leaves have several dtypes {sorted({str(d) for d in found})}; pass "
            "mixed_dtype_handler='highest', 'lowest' or 'promote'"
        )
    return found[0]


def tree_update_moment(updates: PyTree, moments: PyTree, decay: Any, order: int) -> PyTree:
    """The exponential moving average of the ``order``-th power: ``(1-d) g**order + d t``."""
    return _map(lambda g, t: (1 - decay) * (g**order) + decay * t, updates, moments)


def tree_update_moment_per_elem_norm(
    updates: PyTree, moments: PyTree, decay: Any, order: int
) -> PyTree:
    """As ``tree_update_moment`` (real leaves: the elementwise norm is the value itself)."""
    return tree_update_moment(updates, moments, decay, order)


def tree_update_infinity_moment(updates: PyTree, moments: PyTree, decay: Any, eps: Any) -> PyTree:
    """The infinity-norm moment: ``max(|g| + eps, decay * t)``."""
    return _map(lambda g, t: vnp.maximum(vnp.abs(g) + eps, decay * t), updates, moments)


def tree_bias_correction(moment: PyTree, decay: Any, count: Any) -> PyTree:
    """Divide by ``1 - decay**count``, computed in the count's float precision first (a
    float16 ``decay**count`` can round to 1) and then cast to each leaf's dtype."""
    correction = 1 - decay**count
    return _map(lambda t: t / vnp.asarray(correction).astype(t.dtype), moment)


def safe_increment(count: Any) -> Any:
    """``count + 1``, saturating at the dtype's largest value instead of wrapping around."""
    count = vnp.asarray(count)
    dtype = count.dtype
    top = np.iinfo(dtype).max if np.issubdtype(dtype, np.integer) else np.finfo(dtype).max
    top = vnp.asarray(np.array(top, dtype))
    return vnp.where(count < top, count + vnp.asarray(np.array(1, dtype)), top)

