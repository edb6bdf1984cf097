"""Pytree utilities, as in `jax.tree`, on optree.

A pytree is a nested structure of containers (tuple, list, dict, namedtuple, registered custom
nodes) whose non-container values are its leaves. Every function here uses the optree registry
namespace `NAMESPACE` ("vfunc") and treats `None` as an empty subtree, not a leaf, as JAX does:
`leaves([1, None, 2]) == [1, 2]`. Dict keys are visited in sorted order, as in JAX, and a dict
rebuilt by `unflatten` or `map` comes back with its keys sorted, as JAX's does (an
`OrderedDict` keeps its order).

A key path (the `path` handed out by `map_with_path`, `leaves_with_path`, `flatten_with_path`)
is a tuple of JAX's key classes, one per level: `DictKey(key)` for a mapping, `SequenceKey(idx)`
for a list or tuple, `GetAttrKey(name)` for a namedtuple field or dataclass attribute and
`FlattenedIndexKey(key)` for a custom node's children; `keystr` renders it as `[0]['w'].bias`.
"""

import builtins
import dataclasses
import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import optree

__all__ = [
    "NAMESPACE",
    "DictKey",
    "FlattenedIndexKey",
    "GetAttrKey",
    "KeyPath",
    "PyTree",
    "PyTreeDef",
    "all",
    "flatten",
    "flatten_with_path",
    "keystr",
    "leaves",
    "leaves_with_path",
    "map",
    "map_with_path",
    "reduce",
    "register_dataclass",
    "register_pytree_node",
    "register_pytree_node_class",
    "SequenceKey",
    "structure",
    "transpose",
    "unflatten",
]

NAMESPACE = "vfunc"
"""The optree registry namespace of every vfunc pytree; pass it when calling optree directly."""

PyTree = Any
PyTreeDef = optree.PyTreeSpec
IsLeaf = Callable[[Any], bool] | None
T = TypeVar("T")
_NodeType = TypeVar("_NodeType", bound=type)


# Key path entries, as JAX's: frozen (hashable, compared by value), printed as in JAX
# (`DictKey(key='a')`), rendered by `str` as the access they stand for. Each also answers
# `.entry` with its raw key, as optree's entries do.


@dataclasses.dataclass(frozen=True)
class DictKey:
    """The key of a mapping entry in a key path; renders as `['a']`."""

    key: Any

    @property
    def entry(self) -> Any:
        """The raw key (`self.key`), under the name optree's entries give it."""
        return self.key

    def __str__(self) -> str:
        return f"[{self.key!r}]"


@dataclasses.dataclass(frozen=True)
class SequenceKey:
    """The index of a list or tuple element in a key path; renders as `[0]`."""

    idx: int

    @property
    def entry(self) -> Any:
        """The raw key (`self.idx`), under the name optree's entries give it."""
        return self.idx

    def __str__(self) -> str:
        return f"[{self.idx!r}]"


@dataclasses.dataclass(frozen=True)
class GetAttrKey:
    """An attribute (namedtuple field, dataclass field) in a key path; renders as `.name`."""

    name: str

    @property
    def entry(self) -> Any:
        """The raw key (`self.name`), under the name optree's entries give it."""
        return self.name

    def __str__(self) -> str:
        return f".{self.name}"


@dataclasses.dataclass(frozen=True)
class FlattenedIndexKey:
    """The position of a custom node's child in a key path; renders as `[<flat index 0>]`."""

    key: int

    @property
    def entry(self) -> Any:
        """The raw key (`self.key`), under the name optree's entries give it."""
        return self.key

    def __str__(self) -> str:
        return f"[<flat index {self.key}>]"


KeyEntry = DictKey | SequenceKey | GetAttrKey | FlattenedIndexKey
KeyPath = tuple[Any, ...]


def _key(entry: optree.PyTreeEntry) -> Any:
    """JAX's key for one of optree's accessor entries."""
    if isinstance(entry, optree.MappingEntry):
        return DictKey(entry.entry)
    if isinstance(entry, optree.NamedTupleEntry | optree.StructSequenceEntry):
        return GetAttrKey(entry.field)
    if isinstance(entry, optree.GetAttrEntry):
        return GetAttrKey(entry.name)
    if isinstance(entry, optree.SequenceEntry):
        return SequenceKey(entry.entry)
    return FlattenedIndexKey(entry.entry)


def _key_path(accessor: optree.PyTreeAccessor) -> KeyPath:
    return tuple(_key(entry) for entry in accessor)


# Sorted-key versions of treedefs, so that unflatten rebuilds dicts with sorted keys, as JAX.
# optree keeps a dict's insertion order in its treedef (while ordering leaves and comparing
# treedefs by sorted keys), so one transform per structure, cached, gives JAX's order. Keys are
# treedefs, which compare and hash ignoring dict order: both orders share one sorted entry.
_SORTED: dict[PyTreeDef, PyTreeDef] = {}


def _sorted_dict_node(spec: PyTreeDef) -> PyTreeDef:
    if spec.type is dict:
        pairs = zip(spec.entries(), spec.children(), strict=True)  # entries() are sorted
        return optree.treespec_dict(pairs, none_is_leaf=False, namespace=NAMESPACE)
    return spec


def _sorted(treedef: PyTreeDef) -> PyTreeDef:
    found = _SORTED.get(treedef)
    if found is None:
        if len(_SORTED) > 4096:
            _SORTED.clear()
        found = _SORTED[treedef] = treedef.transform(_sorted_dict_node)
    return found


# functools.reduce distinguishes "no initializer" from any value, None included.
_MISSING: Any = object()


def flatten(tree: PyTree, is_leaf: IsLeaf = None) -> tuple[list[Any], PyTreeDef]:
    """Flattens a pytree into its leaves and its structure.

    Args:
        tree: the pytree to flatten.
        is_leaf: optional predicate; a subtree for which it returns True is kept as one leaf.

    Returns:
        `(leaves, treedef)`: the leaves in traversal order (dict keys sorted) and the structure,
        such that `unflatten(treedef, leaves)` rebuilds `tree`.

    Example:
        >>> flatten({'b': (1, None), 'a': [2]})
        ([2, 1], PyTreeSpec({'a': [*], 'b': (*, None)}))
    """
    flat, treedef = optree.tree_flatten(tree, is_leaf, none_is_leaf=False, namespace=NAMESPACE)
    return flat, _sorted(treedef)


def leaves(tree: PyTree, is_leaf: IsLeaf = None) -> list[Any]:
    """Returns the leaves of a pytree, in the order `flatten` visits them.

    Args:
        tree: the pytree.
        is_leaf: optional predicate; a subtree for which it returns True is kept as one leaf.

    Returns:
        The list of leaves; `None` is an empty subtree and contributes none.

    Example:
        >>> leaves([1, None, {'y': 3, 'x': 2}])
        [1, 2, 3]
    """
    return optree.tree_leaves(tree, is_leaf, none_is_leaf=False, namespace=NAMESPACE)


def structure(tree: PyTree, is_leaf: IsLeaf = None) -> PyTreeDef:
    """Returns the structure (treedef) of a pytree, without its leaves.

    Args:
        tree: the pytree.
        is_leaf: optional predicate; a subtree for which it returns True is kept as one leaf.

    Returns:
        The treedef. Two trees have equal treedefs when they have the same containers, keys and
        node metadata, whatever their leaves.

    Example:
        >>> structure([1, (2, 3)]) == structure(['a', ('b', 'c')])
        True
    """
    return _sorted(optree.tree_structure(tree, is_leaf, none_is_leaf=False, namespace=NAMESPACE))


def unflatten(treedef: PyTreeDef, leaves: Iterable[Any]) -> PyTree:
    """Rebuilds a pytree from a structure and its leaves; the inverse of `flatten`.

    Args:
        treedef: the structure, from `flatten` or `structure` (or optree with our namespace).
        leaves: the leaves, in the order `flatten` gives them.

    Returns:
        The pytree; its dicts have their keys in sorted order, as JAX's.

    Example:
        >>> unflatten(structure({'b': 0, 'a': 0}), [1, 2])
        {'a': 1, 'b': 2}
    """
    return _sorted(treedef).unflatten(leaves)


def flatten_with_path(
    tree: PyTree, is_leaf: IsLeaf = None
) -> tuple[list[tuple[KeyPath, Any]], PyTreeDef]:
    """Flattens a pytree into `(key path, leaf)` pairs and its structure.

    Args:
        tree: the pytree to flatten.
        is_leaf: optional predicate; a subtree for which it returns True is kept as one leaf.

    Returns:
        `(pairs, treedef)`: `pairs` lists `(path, leaf)` in the order of `flatten`.

    Example:
        >>> pairs, treedef = flatten_with_path({'w': [1, 2]})
        >>> [(keystr(path), leaf) for path, leaf in pairs]
        [("['w'][0]", 1), ("['w'][1]", 2)]
    """
    accessors, leaves_, treedef = optree.tree_flatten_with_accessor(
        tree, is_leaf, none_is_leaf=False, namespace=NAMESPACE
    )
    paths = [_key_path(accessor) for accessor in accessors]
    return list(zip(paths, leaves_, strict=True)), _sorted(treedef)


def leaves_with_path(tree: PyTree, is_leaf: IsLeaf = None) -> list[tuple[KeyPath, Any]]:
    """Returns the `(key path, leaf)` pairs of a pytree, in the order of `leaves`.

    Args:
        tree: the pytree.
        is_leaf: optional predicate; a subtree for which it returns True is kept as one leaf.

    Returns:
        The list of `(path, leaf)` pairs.

    Example:
        >>> [(keystr(path), leaf) for path, leaf in leaves_with_path([5, {'b': 6}])]
        [('[0]', 5), ("[1]['b']", 6)]
    """
    return flatten_with_path(tree, is_leaf)[0]


def _flatten_rest(
    op: str, treedef: PyTreeDef, tree: PyTree, rest: Sequence[PyTree], is_leaf: IsLeaf
) -> list[list[Any]]:
    """Flattens each of `rest` down to the leaves of `treedef`; a mismatch names both trees."""
    flat = []
    for i, other in enumerate(rest):
        try:
            flat.append(treedef.flatten_up_to(other))
        except ValueError as err:
            # optree's own message ("Expected an instance of tuple, got [2, 3].") says neither
            # which argument nor where; prefix_errors names the key path of the first mismatch.
            errors = optree.prefix_errors(
                tree, other, is_leaf, none_is_leaf=False, namespace=NAMESPACE
            )
            detail = str(errors[0]("tree")) if errors else str(err)
            raise ValueError(
                f"{op}: rest[{i}] must have the structure of tree, or have it as a prefix.\n"
                f"  tree:    {treedef}\n"
                f"  rest[{i}]: {structure(other)}\n"
                f"{detail}"
            ) from err
    return flat


# map and all shadow the builtins on purpose, as jax.tree.map and jax.tree.all do; this module
# calls the builtins as builtins.map and builtins.all.
def map(
    f: Callable[..., Any],
    tree: PyTree,
    *rest: PyTree,
    is_leaf: IsLeaf = None,
) -> PyTree:
    """Applies `f` leafwise across one or more pytrees of the same structure.

    Args:
        f: called as `f(x, *xs)` with a leaf of `tree` and the matching leaves of `rest`.
        tree: the pytree whose structure the result takes.
        *rest: pytrees with the structure of `tree`, or with `tree` as a prefix: where `tree`
            has a leaf, the whole matching subtree of a `rest` tree is passed to `f`.
        is_leaf: optional predicate applied to `tree`; a subtree for which it returns True is
            kept as one leaf.

    Returns:
        A pytree with the structure of `tree` and leaves `f(x, *xs)`.

    Raises:
        ValueError: a tree of `rest` does not match `tree`; the message shows both structures
            and the key path of the first difference.

    Example:
        >>> map(lambda x, y: x + y, {'a': 1, 'b': (2, None)}, {'a': 10, 'b': (20, None)})
        {'a': 11, 'b': (22, None)}
    """
    flat, treedef = flatten(tree, is_leaf)
    flat_rest = _flatten_rest("tree.map", treedef, tree, rest, is_leaf)
    return treedef.unflatten(builtins.map(f, flat, *flat_rest))


def map_with_path(
    f: Callable[..., Any], tree: PyTree, *rest: PyTree, is_leaf: IsLeaf = None
) -> PyTree:
    """Like `map`, but `f` also receives the key path of each leaf, first.

    Args:
        f: called as `f(path, x, *xs)`; `keystr(path)` renders the path.
        tree: the pytree whose structure the result takes.
        *rest: pytrees with the structure of `tree`, or with `tree` as a prefix.
        is_leaf: optional predicate applied to `tree`; a subtree for which it returns True is
            kept as one leaf.

    Returns:
        A pytree with the structure of `tree` and leaves `f(path, x, *xs)`.

    Example:
        >>> map_with_path(lambda path, x: f'{keystr(path)}={x}', {'b': 3, 'w': [1, 2]})
        {'b': "['b']=3", 'w': ["['w'][0]=1", "['w'][1]=2"]}
    """
    flat, treedef = flatten(tree, is_leaf)
    flat_rest = _flatten_rest("tree.map_with_path", treedef, tree, rest, is_leaf)
    paths = [_key_path(accessor) for accessor in treedef.accessors()]
    return treedef.unflatten(builtins.map(f, paths, flat, *flat_rest))


def reduce(
    function: Callable[[T, Any], T],
    tree: PyTree,
    initializer: T = _MISSING,
    is_leaf: IsLeaf = None,
) -> T:
    """Folds `function` over the leaves of a pytree, as `functools.reduce` does over a list.

    Args:
        function: a two-argument function, `function(accumulated, leaf)`.
        tree: the pytree whose leaves are folded, in the order of `leaves`.
        initializer: optional first accumulated value; without it the first leaf is.
        is_leaf: optional predicate; a subtree for which it returns True is kept as one leaf.

    Returns:
        The accumulated value.

    Raises:
        TypeError: the tree has no leaves and no initializer was given.

    Example:
        >>> import operator
        >>> reduce(operator.add, {'a': 1, 'b': [2, 3]})
        6
        >>> reduce(operator.add, [None], 10)
        10
    """
    if initializer is _MISSING:
        return functools.reduce(function, leaves(tree, is_leaf))
    return functools.reduce(function, leaves(tree, is_leaf), initializer)


def all(tree: PyTree, *, is_leaf: IsLeaf = None) -> bool:
    """Returns True if every leaf of the pytree is truthy (also when it has no leaves).

    Args:
        tree: the pytree.
        is_leaf: optional predicate; a subtree for which it returns True is kept as one leaf.

    Returns:
        `builtins.all(leaves(tree))`.

    Example:
        >>> all({'a': True, 'b': (1, None)}), all([True, 0])
        (True, False)
    """
    return builtins.all(leaves(tree, is_leaf))


def transpose(
    outer_treedef: PyTreeDef, inner_treedef: PyTreeDef | None, pytree_to_transpose: PyTree
) -> PyTree:
    """Turns a tree of structure outer-of-inner into one of structure inner-of-outer.

    Args:
        outer_treedef: the outer structure of `pytree_to_transpose`.
        inner_treedef: the structure found at each leaf of the outer one; None infers it from
            the first of them.
        pytree_to_transpose: the pytree to transpose.

    Returns:
        A pytree of structure `inner_treedef` whose leaves are pytrees of `outer_treedef`.

    Raises:
        ValueError: the tree does not have the outer or the inner structure.

    Example:
        >>> transpose(structure([0, 0]), structure((0, 0)), [(1, 2), (3, 4)])
        ([1, 3], [2, 4])
    """
    # Unlike optree.tree_transpose, which only checks leaf counts, flatten_up_to checks each
    # level's structure, and it needs no namespace: the treedefs carry theirs.
    inner_trees = outer_treedef.flatten_up_to(pytree_to_transpose)
    if inner_treedef is None:
        if not inner_trees:
            raise ValueError("tree.transpose: cannot infer inner_treedef: the outer one is empty")
        inner_treedef = structure(inner_trees[0])
    rows = [inner_treedef.flatten_up_to(t) for t in inner_trees]
    columns = [[row[j] for row in rows] for j in range(inner_treedef.num_leaves)]
    outer, inner = _sorted(outer_treedef), _sorted(inner_treedef)
    return inner.unflatten(outer.unflatten(column) for column in columns)


def keystr(path: Iterable[Any], *, simple: bool = False, separator: str = "") -> str:
    """Renders a key path as JAX does, e.g. `[0]['w'].bias`.

    Args:
        path: a key path from `map_with_path`, `leaves_with_path` or `flatten_with_path`; plain
            keys (from `optree.tree_paths`) render as `[key]`.
        simple: render the bare keys (`0`, `w`, `bias`) instead of Python access syntax.
        separator: the string placed between the rendered keys.

    Returns:
        The rendered path; prefix it with the tree's name for messages: `'args' + keystr(p)`.

    Example:
        >>> path = leaves_with_path({'w': [0, 1]})[1][0]
        >>> keystr(path), keystr(path, simple=True, separator='/')
        ("['w'][1]", 'w/1')
    """
    keys = [_key(entry) if isinstance(entry, optree.PyTreeEntry) else entry for entry in path]
    if simple:
        return separator.join(str(_bare_key(key)) for key in keys)
    return separator.join(
        str(key) if isinstance(key, KeyEntry) else f"[{key!r}]" for key in keys
    )


def _bare_key(key: Any) -> Any:
    return key.entry if isinstance(key, KeyEntry) else key


def register_pytree_node(
    nodetype: _NodeType,
    flatten_func: Callable[[Any], tuple[Iterable[Any], Any]],
    unflatten_func: Callable[[Any, Iterable[Any]], Any],
) -> None:
    """Registers a type as a pytree node, with JAX's calling convention.

    Args:
        nodetype: the class to register.
        flatten_func: `flatten_func(node) -> (children, aux_data)`; `aux_data` is the static
            part, kept in the treedef, so it must be hashable and compare by value. It may also
            return `(children, aux_data, entries)` with one key per child (optree's extension);
            the default keys render in `keystr` as `[<flat index i>]`.
        unflatten_func: `unflatten_func(aux_data, children) -> node`; `children` is a tuple.

    Returns:
        None, as JAX's (use `register_pytree_node_class` or `register_dataclass` as decorators).

    Raises:
        ValueError: `nodetype` is already registered (in vfunc's namespace or optree's global
            one).

    Example:
        >>> class Pair:
        ...     def __init__(self, a, b):
        ...         self.a, self.b = a, b
        >>> register_pytree_node(Pair, lambda p: ((p.a, p.b), None),
        ...                      lambda aux, children: Pair(*children))
        >>> leaves([Pair(1, 2), 3])
        [1, 2, 3]
    """
    optree.register_pytree_node(nodetype, flatten_func, unflatten_func, namespace=NAMESPACE)


def register_pytree_node_class(cls: _NodeType) -> _NodeType:
    """Class decorator: registers a class that flattens itself, as in JAX.

    The class defines `tree_flatten(self) -> (children, aux_data)` and the classmethod
    `tree_unflatten(cls, aux_data, children)`, with the conventions of `register_pytree_node`.

    Args:
        cls: the class to register.

    Returns:
        `cls` itself. optree also gives it `__tree_flatten__`/`__tree_unflatten__` methods
        calling the two above.

    Example:
        >>> @register_pytree_node_class
        ... class Scaled:
        ...     def __init__(self, value, scale):
        ...         self.value, self.scale = value, scale
        ...     def tree_flatten(self):
        ...         return (self.value,), self.scale
        ...     @classmethod
        ...     def tree_unflatten(cls, scale, children):
        ...         return cls(children[0], scale)
        >>> map(lambda x: x + 1, Scaled(1, scale=3)).value
        2
    """
    return optree.register_pytree_node_class(cls, namespace=NAMESPACE)


def register_dataclass(
    nodetype: _NodeType | None = None,
    data_fields: Sequence[str] | None = None,
    meta_fields: Sequence[str] | None = None,
) -> Any:
    """Registers a dataclass as a pytree node whose data fields are children.

    Data fields become children (leaves or subtrees); meta fields go into the treedef's aux data,
    as hyperparameters should, so they must be hashable, and two trees whose meta fields are
    equal have equal treedefs. Unflattening calls the class's `__init__` with every field as a
    keyword. Key paths show the field as an attribute: `.weight`.

    Usable as a plain decorator (above `@dataclasses.dataclass`): then every init field is a data
    field except those declared with `dataclasses.field(metadata={"static": True})`. Or called as
    in `jax.tree_util.register_dataclass(Cls, data_fields=[...], meta_fields=[...])`.

    Differs from JAX: if only one of `data_fields`/`meta_fields` is given, the other is every
    remaining init field. Called with only field lists, it returns a decorator.

    Args:
        nodetype: the dataclass to register.
        data_fields: names of the fields that are children.
        meta_fields: names of the fields that are static metadata.

    Returns:
        `nodetype`, or a decorator when `nodetype` is None.

    Raises:
        TypeError: `nodetype` is not a dataclass, or (when flattening) a meta field's value is
            not hashable.
        ValueError: `data_fields` and `meta_fields` do not cover the init fields exactly once.

    Example:
        >>> @register_dataclass
        ... @dataclasses.dataclass
        ... class Linear:
        ...     weight: float
        ...     bias: float
        ...     name: str = dataclasses.field(default='lin', metadata={'static': True})
        >>> [(keystr(path), leaf) for path, leaf in leaves_with_path(Linear(1.0, 2.0))]
        [('.weight', 1.0), ('.bias', 2.0)]
    """
    if nodetype is None:
        return functools.partial(
            register_dataclass, data_fields=data_fields, meta_fields=meta_fields
        )
    if not (isinstance(nodetype, type) and dataclasses.is_dataclass(nodetype)):
        raise TypeError(
            f"register_dataclass: {nodetype!r} is not a dataclass class. Decorate it with "
            "@dataclasses.dataclass first (below @register_dataclass)."
        )
    fields = [f for f in dataclasses.fields(nodetype) if f.init]
    init_names = [f.name for f in fields]
    if data_fields is None and meta_fields is None:
        meta_fields = [f.name for f in fields if f.metadata.get("static", False)]
    if data_fields is None:
        data_fields = [n for n in init_names if n not in meta_fields]
    if meta_fields is None:
        meta_fields = [n for n in init_names if n not in data_fields]
    data_fields, meta_fields = tuple(data_fields), tuple(meta_fields)
    _check_dataclass_fields(nodetype, init_names, data_fields, meta_fields)

    def flatten_func(node: Any) -> tuple[tuple[Any, ...], tuple[Any, ...], tuple[str, ...]]:
        meta = tuple(getattr(node, name) for name in meta_fields)
        try:
            hash(meta)
        except TypeError:
            # Fail here, naming the field, rather than later with "unhashable type: 'list'"
            # from deep inside a jit cache lookup.
            name, value = next(
                (n, v) for n, v in zip(meta_fields, meta, strict=True) if not _hashable(v)
            )
            raise TypeError(
                f"{nodetype.__name__}.{name} is a meta (static) field, so its value must be "
                f"hashable, but it is {value!r}. Use a tuple instead of a list, or make it a "
                "data field."
            ) from None
        return tuple(getattr(node, name) for name in data_fields), meta, data_fields

    def unflatten_func(meta: tuple[Any, ...], children: tuple[Any, ...]) -> Any:
        return nodetype(
            **dict(zip(data_fields, children, strict=True)),
            **dict(zip(meta_fields, meta, strict=True)),
        )

    return optree.register_pytree_node(
        nodetype,
        flatten_func,
        unflatten_func,
        path_entry_type=optree.GetAttrEntry,
        namespace=NAMESPACE,
    )


def _check_dataclass_fields(
    nodetype: type,
    init_names: list[str],
    data_fields: tuple[str, ...],
    meta_fields: tuple[str, ...],
) -> None:
    given = data_fields + meta_fields
    missing = [n for n in init_names if n not in given]
    extra = [n for n in given if n not in init_names]
    twice = sorted({n for n in given if given.count(n) > 1})
    if missing or extra or twice:
        problems = [
            f"{label}: {names}"
            for label, names in [
                ("missing", missing),
                ("not init fields of the class", extra),
                ("listed twice", twice),
            ]
            if names
        ]
        raise ValueError(
            f"register_dataclass: data_fields {list(data_fields)} and meta_fields "
            f"{list(meta_fields)} must name each init field of {nodetype.__name__} "
            f"{init_names} exactly once; {'; '.join(problems)}."
        )


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True
