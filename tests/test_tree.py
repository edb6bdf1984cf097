"""Tests for vfunc.tree and its jax.tree_util aliases in vfunc.tree_util."""

import collections
import dataclasses
import doctest
import operator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vfunc import tree, tree_util

Point = collections.namedtuple("Point", ["x", "y"])


class Box:
    """A custom node registered with register_pytree_node: two children and a label as aux."""

    def __init__(self, a, b, label):
        self.a, self.b, self.label = a, b, label

    def __eq__(self, other):
        return type(other) is Box and (self.a, self.b, self.label) == (
            other.a,
            other.b,
            other.label,
        )


tree.register_pytree_node(
    Box, lambda box: ((box.a, box.b), box.label), lambda label, ab: Box(*ab, label)
)


@tree.register_pytree_node_class
class Scaled:
    """A custom node registered with register_pytree_node_class."""

    def __init__(self, value, scale):
        self.value, self.scale = value, scale

    def tree_flatten(self):
        return (self.value,), self.scale

    @classmethod
    def tree_unflatten(cls, scale, children):
        (value,) = children
        return cls(value, scale)


@tree.register_dataclass
@dataclasses.dataclass(frozen=True)
class Linear:
    weight: object
    bias: object
    activation: str = dataclasses.field(default="relu", metadata={"static": True})


@dataclasses.dataclass
class Explicit:
    w: object
    n: int
    b: object


tree.register_dataclass(Explicit, data_fields=["w", "b"], meta_fields=["n"])


# ---------------------------------------------------------------------------------------------
# leaves, structure, flatten, unflatten


def test_leaves_of_nested_containers_in_traversal_order():
    t = {"b": [1, (2, 3)], "a": ({"z": 4, "y": 5},)}
    assert tree.leaves(t) == [5, 4, 1, 2, 3]


def test_none_is_an_empty_subtree():
    assert tree.leaves([1, None, 2]) == [1, 2]
    assert tree.leaves(None) == []
    assert tree.structure([None, 1]).num_leaves == 1
    assert tree.map(lambda x: x * 10, [1, None, {"a": None, "b": 2}]) == [
        10,
        None,
        {"a": None, "b": 20},
    ]
    # None is part of the structure, so it is not interchangeable with a leaf.
    assert tree.structure([None]) != tree.structure([0])


def test_scalar_and_array_are_leaves():
    x = np.arange(3.0)
    assert tree.leaves(x)[0] is x
    assert tree.leaves(7) == [7]
    assert tree.structure(x) == tree.structure(7)


def test_flatten_unflatten_round_trip_keeps_leaf_identity():
    w, b = np.ones((2, 3)), np.zeros(2)
    t = {"layers": [{"w": w, "b": b}, None], "step": 3, "pt": Point(1.5, (2, 3))}
    flat, treedef = tree.flatten(t)
    assert len(flat) == treedef.num_leaves == 6
    assert flat[0] is b and flat[1] is w
    rebuilt = tree.unflatten(treedef, flat)
    assert tree.structure(rebuilt) == treedef
    assert rebuilt["layers"][0]["w"] is w
    assert rebuilt["layers"][1] is None
    assert rebuilt["pt"] == Point(1.5, (2, 3)) and type(rebuilt["pt"]) is Point


def test_unflatten_with_new_leaves():
    treedef = tree.structure({"a": (0, 0), "b": [0]})
    assert tree.unflatten(treedef, [1, 2, 3]) == {"a": (1, 2), "b": [3]}


def test_unflatten_wrong_leaf_count_raises():
    treedef = tree.structure([0, 0, 0])
    with pytest.raises(ValueError, match="Too few leaves"):
        tree.unflatten(treedef, [1, 2])


def test_dict_keys_are_sorted_like_jax():
    assert tree.leaves({"b": 1, "a": 2, "c": 3}) == [2, 1, 3]
    assert tree.structure({"b": 0, "a": 0}) == tree.structure({"a": 0, "b": 0})
    paths = [tree.keystr(p) for p, _ in tree.leaves_with_path({"b": 1, "a": 2})]
    assert paths == ["['a']", "['b']"]
    # As JAX (recorded from jax.tree_util): dicts come back with sorted keys, OrderedDicts not.
    assert list(tree.map(lambda x: x, {"b": 1, "a": {"d": 2, "c": 3}})) == ["a", "b"]
    assert list(tree.map(lambda x: x, {"b": 1, "a": {"d": 2, "c": 3}})["a"]) == ["c", "d"]
    assert tree.unflatten(tree.structure({"b": 0, "a": 0}), [5, 6]) == {"a": 5, "b": 6}
    assert list(tree.unflatten(tree.structure({"b": 0, "a": 0}), [5, 6])) == ["a", "b"]
    ordered = collections.OrderedDict(b=1, a=2)
    assert list(tree.map(lambda x: x, ordered)) == ["b", "a"]


def test_is_leaf_stops_traversal():
    t = {"a": (1, 2), "b": [3, (4, 5)]}
    got = tree.leaves(t, is_leaf=lambda x: isinstance(x, tuple))
    assert got == [(1, 2), 3, (4, 5)]
    assert tree.flatten(t, is_leaf=lambda x: isinstance(x, tuple))[1].num_leaves == 3


def test_namedtuple_is_a_node_and_keeps_its_type():
    p = Point(np.array(1.0), 2)
    out = tree.map(lambda v: v + 1, p)
    assert type(out) is Point
    assert out.x == 2.0 and out.y == 3
    paths = [tree.keystr(path) for path, _ in tree.leaves_with_path([p])]
    assert paths == ["[0].x", "[0].y"]


# ---------------------------------------------------------------------------------------------
# map, map_with_path, reduce, all, transpose


def test_map_several_trees():
    a = {"x": 1, "y": (2, None)}
    b = {"x": 10, "y": (20, None)}
    c = {"x": 100, "y": (200, None)}
    assert tree.map(lambda u, v, w: u + v + w, a, b, c) == {"x": 111, "y": (222, None)}


def test_map_rest_may_have_tree_as_prefix():
    out = tree.map(lambda x, sub: (x, sub), [1, 2], [{"a": 3}, (4, 5)])
    assert out == [(1, {"a": 3}), (2, (4, 5))]


def test_map_on_numpy_leaves():
    grads = {"w": np.array([1.0, 2.0]), "b": np.array(0.5)}
    params = {"w": np.array([1.0, 1.0]), "b": np.array(1.0)}
    new = tree.map(lambda p, g: p - 0.1 * g, params, grads)
    np.testing.assert_allclose(new["w"], [0.9, 0.8])
    np.testing.assert_allclose(new["b"], 0.95)


def test_map_mismatched_types_shows_both_structures_and_key_path():
    with pytest.raises(ValueError) as info:
        tree.map(operator.add, [1, {"a": 1, "b": (2, 3)}], [1, {"a": 1, "b": [2, 3]}])
    msg = str(info.value)
    assert msg.startswith("tree.map: rest[0] must have the structure of tree")
    assert "PyTreeSpec([*, {'a': *, 'b': (*, *)}])" in msg
    assert "PyTreeSpec([*, {'a': *, 'b': [*, *]}])" in msg
    assert "tree[1]['b']" in msg


def test_map_mismatched_dict_keys_names_them():
    with pytest.raises(ValueError, match=r"rest\[1\](.|\n)*missing key\(s\):\s+\['b'\]"):
        tree.map(lambda *xs: xs, {"a": 1, "b": 2}, {"a": 1, "b": 2}, {"a": 1, "c": 2})


def test_map_mismatched_arity_and_none():
    with pytest.raises(ValueError, match=r"PyTreeSpec\(\[\*, \*, \*\]\)"):
        tree.map(operator.add, [1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match=r"tree:    PyTreeSpec\(\[\*, None\]\)"):
        tree.map(operator.add, [1, None], [1, 2])


def test_map_does_not_rewrap_errors_raised_by_f():
    def f(x):
        raise ValueError("from f")

    with pytest.raises(ValueError, match=r"^from f$"):
        tree.map(f, [1])


def test_map_with_path_passes_key_paths():
    t = {"w": [1, 2], "b": Point(3, None)}
    out = tree.map_with_path(lambda path, x, y: (tree.keystr(path), x + y), t, t)
    assert out == {
        "b": Point(("['b'].x", 6), None),
        "w": [("['w'][0]", 2), ("['w'][1]", 4)],
    }


def test_map_with_path_mismatch_raises():
    with pytest.raises(ValueError, match=r"^tree.map_with_path: rest\[0\] must have the structure"):
        tree.map_with_path(lambda p, x, y: x, (1, 2), [1, 2])


def test_paths_index_back_into_the_tree():
    t = [{"w": np.ones(2), "b": 0.5}, Point(1, 2)]
    pairs, treedef = tree.flatten_with_path(t)
    assert treedef == tree.structure(t)
    for path, leaf in pairs:
        node = t
        for key in path:  # JAX's keys: DictKey.key, SequenceKey.idx, GetAttrKey.name
            node = getattr(node, key.name) if isinstance(key, tree.GetAttrKey) else node[key.entry]
        assert node is leaf


def test_reduce_with_and_without_initializer():
    t = {"a": 1, "b": [2, None, (3, 4)]}
    assert tree.reduce(operator.add, t) == 10
    assert tree.reduce(operator.add, t, 100) == 110
    # Order is leaf order: a non-commutative function shows it.
    assert tree.reduce(lambda acc, x: acc + str(x), t, "") == "1234"
    assert tree.reduce(operator.add, [None], 5) == 5
    # None is a valid initializer, distinct from "no initializer".
    assert tree.reduce(lambda acc, x: x, [], None) is None
    with pytest.raises(TypeError, match="empty"):
        tree.reduce(operator.add, [None, {}])


def test_reduce_with_is_leaf():
    t = [(1, 2), (3,)]
    assert (
        tree.reduce(lambda acc, x: acc + len(x), t, 0, is_leaf=lambda x: isinstance(x, tuple)) == 3
    )


def test_all():
    assert tree.all({"a": True, "b": (1, np.True_)}) is True
    assert tree.all([True, (0,)]) is False
    assert tree.all([None, {}]) is True


def test_transpose():
    outer = tree.structure([0, 0, 0])
    inner = tree.structure({"a": 0, "b": 0})
    t = [{"a": 1, "b": 2}, {"a": 3, "b": 4}, {"a": 5, "b": 6}]
    assert tree.transpose(outer, inner, t) == {"a": [1, 3, 5], "b": [2, 4, 6]}
    assert tree.transpose(outer, None, t) == {"a": [1, 3, 5], "b": [2, 4, 6]}


def test_transpose_checks_structure_not_just_leaf_count():
    outer = tree.structure([0, 0])
    inner = tree.structure((0, 0))
    with pytest.raises(ValueError, match="Expected an instance of tuple"):
        tree.transpose(outer, inner, [(1, 2), [3, 4]])


# ---------------------------------------------------------------------------------------------
# custom nodes


def test_register_pytree_node():
    t = [Box(1, np.array(2.0), label="k"), 3]
    assert tree.leaves(t) == [1, 2.0, 3]
    out = tree.map(lambda x: x * 2, t)
    assert out == [Box(2, 4.0, label="k"), 6]
    assert tree.structure(Box(0, 0, "k")) == tree.structure(Box(5, 6, "k"))
    assert tree.structure(Box(0, 0, "k")) != tree.structure(Box(0, 0, "other"))
    assert [tree.keystr(p) for p, _ in tree.leaves_with_path(t)] == [
        "[0][<flat index 0>]",
        "[0][<flat index 1>]",
        "[1]",
    ]


def test_register_pytree_node_twice_raises():
    with pytest.raises(ValueError, match="already registered"):
        tree.register_pytree_node(Box, lambda b: ((), None), lambda aux, ch: Box(0, 0, aux))


def test_register_pytree_node_class():
    s = Scaled({"a": 1, "b": None}, scale=4)
    assert tree.leaves(s) == [1]
    out = tree.map(lambda x: x + 1, s)
    assert type(out) is Scaled and out.value == {"a": 2, "b": None} and out.scale == 4
    assert tree.structure(s) != tree.structure(Scaled({"a": 1, "b": None}, scale=5))


def test_register_dataclass_decorator_static_field_goes_to_aux():
    lin = Linear(np.ones(2), 0.5, activation="tanh")
    flat, treedef = tree.flatten(lin)
    assert len(flat) == 2 and flat[0] is lin.weight and flat[1] == 0.5
    assert tree.structure(Linear(0, 0, "tanh")) == treedef
    assert tree.structure(Linear(0, 0, "relu")) != treedef
    out = tree.map(lambda x: x * 2, lin)
    assert type(out) is Linear and out.activation == "tanh" and out.bias == 1.0
    np.testing.assert_array_equal(out.weight, [2.0, 2.0])


def test_register_dataclass_explicit_fields():
    e = Explicit(w=1.0, n=3, b=2.0)
    assert tree.leaves(e) == [1.0, 2.0]
    assert tree.map(lambda x: -x, e) == Explicit(w=-1.0, n=3, b=-2.0)
    assert tree.structure(e) != tree.structure(Explicit(w=1.0, n=4, b=2.0))
    assert [tree.keystr(p) for p, _ in tree.leaves_with_path(e)] == [".w", ".b"]


def test_register_dataclass_positional_and_factory_forms():
    @dataclasses.dataclass
    class Positional:
        a: object
        size: int

    tree.register_dataclass(Positional, ["a"], ["size"])
    assert tree.leaves(Positional(1, 2)) == [1]

    @tree.register_dataclass(meta_fields=["size"])
    @dataclasses.dataclass
    class Factory:
        a: object
        size: int
        b: object = None

    assert tree.leaves(Factory(1, 2, [3, 4])) == [1, 3, 4]
    assert tree.map(str, Factory(1, 2)) == Factory("1", 2, None)


def test_register_dataclass_skips_init_false_fields():
    @tree.register_dataclass
    @dataclasses.dataclass
    class WithDerived:
        x: object
        double: object = dataclasses.field(init=False)

        def __post_init__(self):
            self.double = self.x * 2

    assert tree.leaves(WithDerived(3)) == [3]
    assert tree.map(lambda v: v + 1, WithDerived(3)).double == 8


def test_register_dataclass_rejects_non_dataclass():
    class Plain:
        pass

    with pytest.raises(TypeError, match="is not a dataclass"):
        tree.register_dataclass(Plain)
    with pytest.raises(TypeError, match="is not a dataclass"):
        tree.register_dataclass(Linear(1, 2))


def test_register_dataclass_names_missing_and_extra_fields():
    @dataclasses.dataclass
    class Three:
        a: object
        b: object
        c: object

    with pytest.raises(ValueError, match=r"missing: \['c'\]"):
        tree.register_dataclass(Three, data_fields=["a"], meta_fields=["b"])
    with pytest.raises(ValueError, match=r"not init fields of the class: \['d'\]"):
        tree.register_dataclass(Three, data_fields=["a", "b", "c"], meta_fields=["d"])
    with pytest.raises(ValueError, match=r"listed twice: \['a'\]"):
        tree.register_dataclass(Three, data_fields=["a", "b", "c"], meta_fields=["a"])


def test_register_dataclass_unhashable_meta_value_is_named():
    bad = Linear(1.0, 2.0, activation=["relu"])
    with pytest.raises(TypeError, match=r"Linear\.activation is a meta \(static\) field"):
        tree.leaves(bad)


# ---------------------------------------------------------------------------------------------
# keystr


def test_keystr_renders_items_and_attributes():
    t = [1, {"w": Linear(weight=2.0, bias=3.0)}]
    pairs = tree.leaves_with_path(t)
    assert [tree.keystr(p) for p, _ in pairs] == ["[0]", "[1]['w'].weight", "[1]['w'].bias"]
    assert "args" + tree.keystr(pairs[2][0]) == "args[1]['w'].bias"


def test_keystr_simple_and_separator():
    path = tree.leaves_with_path([1, {"w": Point(0, 5)}])[2][0]
    assert tree.keystr(path) == "[1]['w'].y"
    assert tree.keystr(path, simple=True, separator="/") == "1/w/y"
    assert tree.keystr(path, separator=" ") == "[1] ['w'] .y"


def test_keystr_of_plain_keys_and_empty_path():
    assert tree.keystr((0, "w")) == "[0]['w']"
    assert tree.keystr(()) == ""
    root_path = tree.leaves_with_path(5)[0][0]
    assert tree.keystr(root_path) == ""


# ---------------------------------------------------------------------------------------------
# tree_util aliases and docstrings


def test_tree_util_names_alias_tree_functions():
    pairs = [
        (tree_util.tree_map, tree.map),
        (tree_util.tree_map_with_path, tree.map_with_path),
        (tree_util.tree_leaves, tree.leaves),
        (tree_util.tree_leaves_with_path, tree.leaves_with_path),
        (tree_util.tree_structure, tree.structure),
        (tree_util.tree_flatten, tree.flatten),
        (tree_util.tree_flatten_with_path, tree.flatten_with_path),
        (tree_util.tree_unflatten, tree.unflatten),
        (tree_util.tree_reduce, tree.reduce),
        (tree_util.tree_all, tree.all),
        (tree_util.tree_transpose, tree.transpose),
        (tree_util.keystr, tree.keystr),
        (tree_util.register_pytree_node, tree.register_pytree_node),
        (tree_util.register_pytree_node_class, tree.register_pytree_node_class),
        (tree_util.register_dataclass, tree.register_dataclass),
    ]
    for alias, original in pairs:
        assert alias is original
    assert isinstance(tree_util.tree_structure([1]), tree_util.PyTreeDef)


def test_docstring_examples():
    result = doctest.testmod(tree, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 15
    assert result.failed == 0


# ---------------------------------------------------------------------------------------------
# property: structure and leaves rebuild any nested container


def _containers(children):
    return st.one_of(
        st.lists(children, max_size=3),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(st.text(max_size=2), children, max_size=3),
        st.builds(Point, children, children),
        st.builds(Box, children, children, st.sampled_from(["p", "q"])),
        st.builds(Linear, children, children),
    )


_leaf = st.one_of(st.integers(-9, 9), st.floats(allow_nan=False), st.none())
_trees = st.recursive(_leaf, _containers, max_leaves=16)


@settings(database=None, max_examples=200, deadline=None)
@given(_trees)
def test_unflatten_structure_leaves_round_trips(t):
    flat = tree.leaves(t)
    treedef = tree.structure(t)
    assert treedef.num_leaves == len(flat)
    assert None not in flat
    rebuilt = tree.unflatten(treedef, flat)
    assert rebuilt == t
    assert tree.structure(rebuilt) == treedef
    assert all(a is b for a, b in zip(tree.leaves(rebuilt), flat, strict=True))
    assert tree.map(lambda x: x, t) == t
