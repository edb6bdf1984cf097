"""`jax.tree_util` names for the pytree utilities of `vfunc.tree`.

Every name here is an alias of the same object in `vfunc.tree` (`tree_map is vfunc.tree.map`),
so that code written against `jax.tree_util` ports by changing its import. See `vfunc.tree` for
the semantics: optree namespace "vfunc", None an empty subtree, dict keys sorted.
"""

from vfunc.tree import (
    DictKey,
    FlattenedIndexKey,
    GetAttrKey,
    PyTreeDef,
    SequenceKey,
    keystr,
    register_dataclass,
    register_pytree_node,
    register_pytree_node_class,
)
from vfunc.tree import all as tree_all
from vfunc.tree import flatten as tree_flatten
from vfunc.tree import flatten_with_path as tree_flatten_with_path
from vfunc.tree import leaves as tree_leaves
from vfunc.tree import leaves_with_path as tree_leaves_with_path
from vfunc.tree import map as tree_map
from vfunc.tree import map_with_path as tree_map_with_path
from vfunc.tree import reduce as tree_reduce
from vfunc.tree import structure as tree_structure
from vfunc.tree import transpose as tree_transpose
from vfunc.tree import unflatten as tree_unflatten

__all__ = [
    "DictKey",
    "FlattenedIndexKey",
    "GetAttrKey",
    "PyTreeDef",
    "SequenceKey",
    "keystr",
    "register_dataclass",
    "register_pytree_node",
    "register_pytree_node_class",
    "tree_all",
    "tree_flatten",
    "tree_flatten_with_path",
    "tree_leaves",
    "tree_leaves_with_path",
    "tree_map",
    "tree_map_with_path",
    "tree_reduce",
    "tree_structure",
    "tree_transpose",
    "tree_unflatten",
]
