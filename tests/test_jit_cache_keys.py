"""jit's cache key: every input property that changes the traced program must miss the cache.

A wrong hit runs a program compiled for other inputs, so each test calls with a first input,
then with one differing in a single property, and checks the second result against eager
(or the trace count). Covers the per-argument keys of positional calls, keyword calls, and
the flatten a Module instance keeps between calls (``_vf_flat``).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import vfunc
import vfunc.numpy as vnp
from vfunc import jit, nn
from vfunc.testing import enable_x64


class Scaled(nn.Module):
    """One array and a static float: models equal in leaves, different in configuration."""

    weight: vfunc.Array
    scale: float = 2.0

    def __call__(self, x):
        return self.weight * x * self.scale


class Holder(nn.Module):
    """A list field: a container that can change in place, so its flatten is never kept."""

    parts: list

    def __call__(self):
        return sum(p.sum() for p in self.parts)


def _traced(fun):
    traces = []

    def counted(*args, **kwargs):
        traces.append(1)
        return fun(*args, **kwargs)

    return jit(counted), traces


def test_same_shapes_different_dtype_or_weak_type_miss():
    f, traces = _traced(lambda x: x + 1)
    assert f(vnp.ones(2, dtype=np.float32)).dtype == np.float32
    assert f(vnp.ones(2, dtype=np.int32)).dtype == np.int32
    assert f(vnp.ones(2, dtype=np.float16)).dtype == np.float16
    weak = f(1.0)
    strong = f(vnp.asarray(np.float32(1.0)))
    assert weak.weak_type and not strong.weak_type
    assert len(traces) == 5


def test_same_leaves_in_different_structures_miss():
    # A wrong hit would skip a trace (the count) and hand the leaves to the wrong program.
    f, traces = _traced(lambda *args, **kwargs: vnp.zeros(()))
    x = vnp.ones(2)
    f(x, x)
    f((x, x))
    f([x, x])
    f({"a": x, "b": x})
    f({"a": x, "c": x})
    # A positional pytree equal to the (args, kwargs) pair of a keyword call.
    f(((x,), {"k": x}))
    f(x, k=x)
    assert len(traces) == 7


def test_static_argument_change_misses():
    f = functools.partial(jit, static_argnums=1)(lambda x, n: x * n)
    x = vnp.ones(2)
    np.testing.assert_array_equal(np.asarray(f(x, 2)), [2.0, 2.0])
    np.testing.assert_array_equal(np.asarray(f(x, 3)), [3.0, 3.0])
    np.testing.assert_array_equal(np.asarray(f(x, 2)), [2.0, 2.0])


def test_modules_with_equal_leaves_and_different_static_config_miss():
    w = vnp.asarray([1.0, 2.0])
    f = jit(lambda m, x: m(x))
    x = vnp.ones(2)
    a, b = Scaled(w, 2.0), Scaled(w, 3.0)
    for _ in range(3):  # the third call of each uses the flatten kept on the instance
        np.testing.assert_array_equal(np.asarray(f(a, x)), [2.0, 4.0])
        np.testing.assert_array_equal(np.asarray(f(b, x)), [3.0, 6.0])
    # Static value of another type, equal by ==: still a different program.
    c = Scaled(w, 2)
    assert f(c, vnp.ones(2, dtype=np.int32)).dtype == np.float32
    assert f._cache_size() == 3


def test_kept_module_flatten_follows_dtype_shape_and_x64():
    f = jit(lambda m: m.weight.sum())
    m32 = Scaled(vnp.asarray(np.ones(3, np.float32)))
    m16 = Scaled(vnp.asarray(np.ones(3, np.float16)))
    for _ in range(3):
        assert f(m32).dtype == np.float32 and f(m16).dtype == np.float16
    g = jit(lambda m: m.weight.sum() + vnp.ones(()))
    for _ in range(3):
        assert g(m32).dtype == np.float32
    with enable_x64(True):
        assert g(m32).dtype == np.float64
    assert g(m32).dtype == np.float32


def test_changed_copies_of_a_module_are_not_served_the_old_leaves():
    f = jit(lambda m: m.weight * 1.0)
    m = Scaled(vnp.asarray([1.0, 2.0]))
    for _ in range(3):
        f(m)
    new = nn.tree_at(lambda t: t.weight, m, replace=vnp.asarray([5.0, 6.0]))
    np.testing.assert_array_equal(np.asarray(f(new)), [5.0, 6.0])
    np.testing.assert_array_equal(np.asarray(f(new)), [5.0, 6.0])
    np.testing.assert_array_equal(np.asarray(f(m)), [1.0, 2.0])
    # A static field replaced: tree_at copies the instance's __dict__, kept flatten included.
    g = jit(lambda m, x: m(x))
    for _ in range(3):
        g(m, vnp.ones(2))
    rescaled = nn.tree_at(lambda t: t.scale, m, replace=5.0)
    for _ in range(3):
        np.testing.assert_array_equal(np.asarray(g(rescaled, vnp.ones(2))), [5.0, 10.0])
    stepped = vfunc.tree.map(lambda a: a + 1.0, m)
    for _ in range(3):
        np.testing.assert_array_equal(np.asarray(f(stepped)), [2.0, 3.0])


def test_containers_that_change_in_place_are_flattened_every_call():
    parts = [vnp.ones(2)]
    holder = Holder(parts)
    f = jit(lambda h: h())
    for _ in range(3):
        assert float(f(holder)) == 2.0
    parts.append(vnp.ones(3))  # the list field grows in place
    assert float(f(holder)) == 5.0
    leaf = np.ones(2, np.float32)  # a numpy leaf can be written to
    m = Scaled(leaf)
    g = jit(lambda m: m.weight.sum())
    for _ in range(3):
        assert float(g(m)) == 2.0
    leaf[:] = 3.0
    assert float(g(m)) == 6.0


def test_a_donated_leaf_of_a_kept_module_flatten_raises():
    f = jit(lambda m: m.weight)
    m = Scaled(vnp.asarray([1.0, 2.0]))
    for _ in range(3):
        f(m)
    donate = functools.partial(jit, donate_argnums=0)(lambda w: w * 2.0)
    donate(m.weight)
    assert m.weight.is_deleted()
    with pytest.raises(RuntimeError, match="deleted"):
        f(m)


def test_grad_of_jit_with_a_kept_module_flatten_inlines():
    m = Scaled(vnp.asarray([1.0, 2.0]))
    loss = jit(lambda m: (m(vnp.ones(2)) ** 2).sum())
    for _ in range(3):
        loss(m)
    g = vfunc.grad(loss)(m)
    np.testing.assert_allclose(np.asarray(g.weight), [8.0, 16.0])
    np.testing.assert_allclose(np.asarray(vfunc.grad(loss)(m).weight), [8.0, 16.0])


def test_leaves_reach_the_program_in_tree_flatten_order_for_every_container():
    import collections

    Pair = collections.namedtuple("Pair", "first second")

    @vfunc.tree.register_pytree_node_class
    class Box:
        def __init__(self, value, tag):
            self.value, self.tag = value, tag

        def tree_flatten(self):
            return (self.value,), self.tag

        @classmethod
        def tree_unflatten(cls, tag, children):
            return cls(children[0], tag)

    def describe(tree):
        # Each leaf scaled by its position in tree.flatten: a leaf handed to the wrong input
        # changes the sum.
        leaves = vfunc.tree.leaves(tree)
        return sum((i + 1) * vnp.sum(leaf) for i, leaf in enumerate(leaves))

    f = jit(describe)
    a, b, c = vnp.asarray(1.0), vnp.asarray(10.0), vnp.asarray(100.0)
    trees = [
        {"b": a, "a": b},  # insertion order differs from the sorted order
        {"a": b, "b": a},
        {1: a, "x": b},  # keys that cannot be sorted: optree's insertion order
        {"x": b, 1: a},
        [a, None, (b, c)],
        Pair(a, b),
        (a, b),
        collections.OrderedDict([("b", a), ("a", b)]),
        Box(a, "t1"),
        Box(b, "t2"),
        [np.float32(2.0), 3, np.ones(2, np.float32), True],
        Scaled(a, 2.0),
    ]
    for tree in trees + trees:
        np.testing.assert_allclose(np.asarray(f(tree)), np.asarray(describe(tree)))
    # Dicts equal up to insertion order share a program (optree orders unsortable keys too);
    # Box's tag is in the key: two tags, two programs.
    assert f._cache_size() == len(trees) - 2


def test_models_returned_by_jit_and_fed_back_train_as_eager():
    # A jitted step returns the next model with its flatten kept: the following calls take
    # that model, then a model of another configuration, then one with changed leaves.
    x = vnp.asarray([1.0, -2.0])

    def step(m, x):
        grads = vfunc.grad(lambda m: (m(x) ** 2).sum())(m)
        return vfunc.tree.map(lambda p, g: p - 0.1 * g, m, grads), m(x).sum()

    jstep = jit(step)
    for scale in (2.0, 3.0):
        eager = jitted = Scaled(vnp.asarray([0.5, 0.25]), scale)
        for _ in range(4):
            eager, want = step(eager, x)
            jitted, got = jstep(jitted, x)
            np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6)
            np.testing.assert_allclose(np.asarray(jitted.weight), np.asarray(eager.weight),
                                       rtol=1e-6)  # fmt: skip
    moved = nn.tree_at(lambda t: t.weight, jitted, replace=vnp.asarray([1.0, 1.0]))
    np.testing.assert_allclose(np.asarray(jstep(moved, x)[1]), float(moved(x).sum()))
    # A model as the only output, and one of a tuple whose other items come first.
    ident = jit(lambda m: m)
    back = ident(ident(jitted))
    np.testing.assert_array_equal(np.asarray(back.weight), np.asarray(jitted.weight))
    swap = jit(lambda m, y: (y, m))
    y, m2 = swap(jitted, x)
    y, m3 = swap(m2, y)
    np.testing.assert_array_equal(np.asarray(m3.weight), np.asarray(jitted.weight))
    np.testing.assert_array_equal(np.asarray(jstep(m3, y)[1]), np.asarray(step(jitted, x)[1]))
