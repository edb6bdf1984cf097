"""Indexing: ``x[idx]`` and ``x.at[idx]`` against NumPy, dynamic-index semantics, take, nonzero,
dynamic slices, and gather/scatter used directly."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import vfunc
import vfunc.numpy as vnp
from vfunc import lax
from vfunc.errors import DtypeError, NonConcreteBooleanIndexError
from vfunc.jaxpr import eval_jaxpr

SETTINGS = settings(max_examples=60, deadline=None)


def assert_same(got, expected, *, exact=True):
    """``got`` is a vfunc Array equal to ``expected`` in shape, dtype and values."""
    assert isinstance(got, vfunc.Array), type(got)
    expected = np.asarray(expected)
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype, (got.dtype, expected.dtype)
    if exact:
        np.testing.assert_array_equal(np.asarray(got), expected)
    else:
        np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------------------------
# A strategy for NumPy index expressions
#
# Each index item is drawn twice over: as NumPy indexes it (lists and numpy arrays) and as vfunc
# gets it (sometimes a vfunc Array instead of the numpy array).


def _suffix_shapes(draw, target: tuple[int, ...]) -> tuple[int, ...]:
    """A shape that broadcasts *to* ``target``: a suffix of it with some sides set to 1."""
    k = draw(st.integers(0, len(target)))
    return tuple(1 if draw(st.booleans()) else n for n in target[len(target) - k :])


def _wrap(draw, arr: np.ndarray) -> tuple:
    """An array index as (NumPy's form, vfunc's form): numpy array, list or vfunc Array."""
    forms = ["numpy", "vfunc"] + (["list"] if arr.ndim and arr.size else [])
    form = draw(st.sampled_from(forms))
    if form == "list":
        return arr.tolist(), arr.tolist()
    if form == "vfunc":
        return arr, vnp.asarray(arr)
    return arr, arr


@st.composite
def index_cases(draw, masks: bool = True, nones: bool = True, max_dims: int = 4):
    """(shape, numpy index, vfunc index) for a random shape of rank 0-4."""
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=0, max_side=5))
    ndim = len(shape)
    n_indexed = draw(st.integers(0, ndim))
    ellipsis_at = draw(st.none() | st.integers(0, n_indexed))
    if ellipsis_at is None:
        axes = list(range(n_indexed))
    else:
        axes = list(range(ellipsis_at)) + list(range(ndim - (n_indexed - ellipsis_at), ndim))

    # Kinds per indexed axis; a boolean mask may cover two consecutive axes.
    kinds: list[tuple[str, list[int]]] = []
    mask_used = False
    i = 0
    while i < len(axes):
        ax = axes[i]
        options = ["slice", "int", "array"] if shape[ax] else ["slice", "array"]
        if masks and not mask_used:
            options.append("mask")
        kind = draw(st.sampled_from(options))
        span = 1
        if kind == "mask":
            mask_used = True
            if i + 1 < len(axes) and axes[i + 1] == ax + 1 and draw(st.booleans()):
                span = 2
        kinds.append((kind, axes[i : i + span]))
        i += span

    # The index shape the integer arrays broadcast to: a mask's nonzero() count fixes it.
    mask = None
    for kind, covered in kinds:
        if kind == "mask":
            mask = draw(hnp.arrays(np.bool_, tuple(shape[a] for a in covered)))
    if mask is not None:
        index_shape = (int(mask.sum()),)
    else:
        index_shape = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3))

    array_shapes = [_suffix_shapes(draw, index_shape) for kind, _ in kinds if kind == "array"]
    shapes_iter = iter(array_shapes)

    items_np, items_v = [], []

    def add(np_item, v_item, at=None):
        at = len(items_np) if at is None else at
        items_np.insert(at, np_item)
        items_v.insert(at, v_item)

    for kind, covered in kinds:
        size = shape[covered[0]]
        if kind == "slice":
            bound = st.none() | st.integers(-7, 7)
            step = st.none() | st.integers(-3, 3).filter(bool)
            s = slice(draw(bound), draw(bound), draw(step))
            add(s, s)
        elif kind == "int":
            value = draw(st.integers(-size, size - 1))
            if draw(st.booleans()):
                value = np.int64(value)
            add(value, value)
        elif kind == "array":
            arr_shape = next(shapes_iter)
            if size == 0 and math.prod(arr_shape):  # NumPy rejects any value on an empty axis
                add(slice(None), slice(None))
                continue
            dtype = draw(st.sampled_from([np.int64, np.int32, np.uint8]))
            low = 0 if dtype == np.uint8 else -size
            elements = st.integers(low, max(size - 1, 0))
            arr = draw(hnp.arrays(dtype, arr_shape, elements=elements))
            add(*_wrap(draw, arr))
        else:
            add(*_wrap(draw, mask))

    if ellipsis_at is not None:
        at = _item_position(kinds, ellipsis_at)
        add(Ellipsis, Ellipsis, at)
    if nones:
        for _ in range(draw(st.integers(0, 2))):
            at = draw(st.integers(0, len(items_np)))
            add(None, None, at)

    if len(items_v) == 1 and not isinstance(items_v[0], list) and draw(st.booleans()):
        return shape, items_np[0], items_v[0]
    if ellipsis_at is not None and n_indexed == ndim:
        # An Ellipsis that stands for no axes still separates advanced indices for NumPy, but
        # not for JAX (nor vfunc), which expands it away first: compare without it.
        items_np = [item for item in items_np if item is not Ellipsis]
    return shape, tuple(items_np), tuple(items_v)


def _item_position(kinds: list[tuple[str, list[int]]], n_axes_before: int) -> int:
    """The item position that follows the items covering the first ``n_axes_before`` axes."""
    covered = 0
    for position, (_, axes) in enumerate(kinds):
        if covered >= n_axes_before:
            return position
        covered += len(axes)
    return len(kinds)


def _data(shape: tuple[int, ...], dtype) -> np.ndarray:
    values = np.arange(math.prod(shape)).reshape(shape)
    if dtype == np.float32:
        return (values * 0.5 - 3).astype(np.float32)
    return values.astype(dtype)


@SETTINGS
@given(case=index_cases(), dtype=st.sampled_from([np.int32, np.float32]))
def test_getitem_matches_numpy(case, dtype):
    shape, idx_np, idx_v = case
    x_np = _data(shape, dtype)
    expected = x_np[idx_np]
    assert_same(vnp.asarray(x_np)[idx_v], expected)


@SETTINGS
@given(case=index_cases(masks=False))
def test_getitem_under_make_jaxpr_matches_numpy(case):
    shape, idx_np, idx_v = case
    x_np = _data(shape, np.float32)
    x = vnp.asarray(x_np)
    expected = x_np[idx_np]
    closed = vfunc.make_jaxpr(lambda a: a[idx_v])(x)
    (aval,) = closed.out_avals
    assert (aval.shape, aval.dtype) == (expected.shape, expected.dtype)
    (out,) = eval_jaxpr(closed.jaxpr, closed.consts, x)
    assert_same(out, expected)


def test_getitem_named_cases():
    x_np = np.arange(60, dtype=np.int32).reshape(3, 4, 5)
    x = vnp.asarray(x_np)
    cases = [
        (slice(None), [0, 2], slice(None)),  # adjacent advanced block stays in place
        ([0, 2], slice(None), [1, 3]),  # separated: the broadcast index shape goes first
        ([[0], [2]], slice(None), [1, 3]),  # broadcasting (2, 1) with (2,)
        (1, slice(None), [1, 3]),  # an int counts as an advanced index
        (None, [0, -1], Ellipsis, None),
        (Ellipsis, np.array([-1, -5])),
        (slice(None, None, -2), slice(10, -10, -1), slice(-100, 100, 3)),
        (x_np[:, :, 0] > 20,),  # a mask over two axes
        (slice(None), np.array([True, False, True, True])),
        (np.array([True, False, True]), slice(None), np.array([0, 4])),
        (np.array(1), slice(1, 3), np.array(2)),
        (),
    ]
    for idx in cases:
        assert_same(x[idx], x_np[idx])


def test_empty_list_index_is_an_empty_integer_index():
    # NumPy reads an empty list as an empty integer index (not a float array).
    x_np = np.arange(5, dtype=np.int32)
    assert_same(vnp.asarray(x_np)[[]], x_np[[]])


def test_empty_negative_step_slice_next_to_an_array_index():
    # slice(-5, None, -1) on an axis of 3 selects nothing; its normalized start is -1, which
    # must not turn into "from the last element" in the gather/scatter spec.
    x_np = np.arange(6, dtype=np.int32).reshape(2, 3)
    x = vnp.asarray(x_np)
    assert_same(x[[0, 1], -5::-1], x_np[[0, 1], -5::-1])
    assert_same(x.at[:, -5::-1].set(9), x_np)
    assert_same(x.at[[1], -4::-2].add(9), x_np)


def test_basic_indexing_returns_views():
    x_np = np.arange(200 * 300, dtype=np.float32).reshape(200, 300)
    x = vnp.asarray(x_np)
    base = np.asarray(x)
    for idx in [
        (slice(2, 150, 3), slice(None, None, -1)),
        (5,),
        (None, 7, Ellipsis, slice(1, None)),
        (Ellipsis,),
        (slice(-1, None, -4), -3),
        (slice(None), None, slice(10, 20)),
    ]:
        out = x[idx]
        np.testing.assert_array_equal(np.asarray(out), x_np[idx])
        assert np.shares_memory(base, np.asarray(out)), idx


def test_getitem_on_scalars_and_empty_arrays():
    s = vnp.asarray(np.float32(2.5))
    assert_same(s[()], np.float32(2.5))
    assert_same(s[None], np.array([2.5], np.float32))
    assert_same(s[...], np.array(2.5, np.float32))
    e_np = np.zeros((0, 3), np.int32)
    e = vnp.asarray(e_np)
    assert_same(e[:, 1], e_np[:, 1])
    assert_same(e[np.array([], np.int64)], e_np[np.array([], np.int64)])
    assert_same(e[np.array([], bool)], e_np[np.array([], bool)])


# ----------------------------------------------------------------------------------------------
# Functional updates: x.at[idx]


@st.composite
def update_cases(draw):
    """(x as numpy, numpy index, vfunc index, updates broadcastable to x[idx])."""
    shape, idx_np, idx_v = draw(index_cases(masks=False, max_dims=3))
    dtype = draw(st.sampled_from([np.int32, np.float32]))
    x_np = draw(hnp.arrays(dtype, shape, elements=st.integers(-6, 6)))
    target = x_np[idx_np].shape
    elements = st.integers(-4, 4).filter(bool)  # nonzero: also used to divide
    vals = draw(hnp.arrays(dtype, _suffix_shapes(draw, target), elements=elements))
    return x_np, idx_np, idx_v, vals


def _reference(op: str, x_np: np.ndarray, idx, vals: np.ndarray) -> np.ndarray:
    ref = x_np.copy()
    if op == "set":
        ref[idx] = vals
    elif op == "get":
        return x_np[idx]
    elif op == "power":
        ref[idx] = x_np[idx] ** vals
    else:
        ufunc = {
            "add": np.add,
            "multiply": np.multiply,
            "min": np.minimum,
            "max": np.maximum,
            "divide": np.divide,
        }[op]
        ufunc.at(ref, idx, np.broadcast_to(vals, x_np[idx].shape))
    return ref


@SETTINGS
@given(case=update_cases(), op=st.sampled_from(["set", "add", "multiply", "min", "max", "get"]))
def test_at_matches_numpy(case, op):
    x_np, idx_np, idx_v, vals = case
    x = vnp.asarray(x_np)
    before = np.asarray(x).copy()
    ref = _reference(op, x_np, idx_np, vals)
    got = getattr(x.at[idx_v], op)() if op == "get" else getattr(x.at[idx_v], op)(vals)
    assert_same(got, ref)
    np.testing.assert_array_equal(np.asarray(x), before)  # the original is unchanged


@SETTINGS
@given(case=update_cases(), op=st.sampled_from(["divide", "power"]))
def test_at_divide_and_power_match_numpy(case, op):
    x_np, idx_np, idx_v, vals = case
    x_np, vals = x_np.astype(np.float32), vals.astype(np.float32)
    if op == "power":
        x_np = np.asarray(np.abs(x_np) + np.float32(0.5))
    x = vnp.asarray(x_np)
    got = getattr(x.at[idx_v], op)(vals)
    assert_same(got, _reference(op, x_np, idx_np, vals), exact=False)
    np.testing.assert_array_equal(np.asarray(x), x_np)


def test_at_duplicates_accumulate():
    x = vnp.asarray(np.array([1.0, 2.0, 3.0, 4.0], np.float32))
    idx = np.array([0, 2, 0, 0])
    assert_same(x.at[idx].add(1.0), np.array([4, 2, 4, 4], np.float32))
    assert_same(x.at[idx].multiply(2.0), np.array([8, 2, 6, 4], np.float32))
    vals = np.array([5.0, 0.5, -1.0, 7.0], np.float32)
    assert_same(x.at[idx].min(vals), np.array([-1, 2, 0.5, 4], np.float32))
    assert_same(x.at[idx].max(vals), np.array([7, 2, 3, 4], np.float32))
    assert_same(x.at[idx].set(vals), np.array([7, 2, 0.5, 4], np.float32))  # last one wins
    assert_same(x.at[idx].divide(2.0), np.array([0.125, 2, 1.5, 4], np.float32))


def test_at_on_a_zero_dimensional_array():
    x = vnp.asarray(np.float32(3.0))
    for idx in [(), Ellipsis, None]:
        assert_same(x.at[idx].set(2.0), np.float32(2.0))
        assert_same(x.at[idx].add(2.0), np.float32(5.0))
        assert_same(x.at[idx].multiply(2.0), np.float32(6.0))
        assert_same(x.at[idx].divide(2.0), np.float32(1.5))
        assert_same(x.at[idx].min(2.0), np.float32(2.0))
        assert_same(x.at[idx].max(2.0), np.float32(3.0))
        assert_same(x.at[idx].get(), np.array(3.0, np.float32)[idx])


def test_at_converts_updates_to_the_array_dtype():
    x = vnp.arange(4)  # int32
    assert_same(x.at[1].set(2.7), np.array([0, 2, 2, 3], np.int32))
    assert_same(x.at[[1, 1]].add(np.array([1.9, 1.9])), np.array([0, 3, 2, 3], np.int32))
    b = vnp.zeros(3, dtype=bool)
    assert_same(b.at[2].set(1), np.array([False, False, True]))
    f = vnp.zeros(2, dtype=vnp.float32)
    assert_same(f.at[0].set(np.float64(1e-3)), np.array([1e-3, 0], np.float32))
    assert_same(f.at[:].add(vnp.arange(2)), np.array([0, 1], np.float32))


def test_at_with_boolean_mask_and_broadcast_updates():
    x_np = np.arange(12, dtype=np.float32).reshape(3, 4)
    mask = x_np > 6
    ref = x_np.copy()
    ref[mask] = -1
    assert_same(vnp.asarray(x_np).at[mask].set(-1), ref)
    ref = x_np.copy()
    ref[:, [1, 3]] += np.array([10, 20], np.float32)
    assert_same(vnp.asarray(x_np).at[:, [1, 3]].add(np.array([10, 20], np.float32)), ref)


# ----------------------------------------------------------------------------------------------
# Dynamic (vfunc Array) indices: clamped for reads, dropped for updates


def test_dynamic_scalar_index_is_clamped_for_reads():
    x = vnp.asarray(np.array([10, 11, 12, 13, 14], np.int32))
    assert_same(x[vnp.array(9)], np.int32(14))
    assert_same(x[vnp.array(-1)], np.int32(14))
    assert_same(x[vnp.array(-9)], np.int32(10))
    assert_same(x[vnp.array([7, -2, -100])], np.array([14, 13, 10], np.int32))
    assert_same(x.at[vnp.array(6)].get(), np.int32(14))
    m = vnp.asarray(np.arange(6, dtype=np.int32).reshape(2, 3))
    assert_same(m[vnp.array(5), vnp.array(-7)], np.int32(3))


def test_dynamic_index_under_make_jaxpr_is_clamped():
    x = vnp.asarray(np.array([10, 11, 12, 13, 14], np.int32))
    closed = vfunc.make_jaxpr(lambda a, i: a[i])(x, vnp.array(0))
    for i, want in [(9, 14), (-1, 14), (-9, 10), (2, 12)]:
        (out,) = eval_jaxpr(closed.jaxpr, closed.consts, x, vnp.array(i))
        assert_same(out, np.int32(want))


def test_dynamic_out_of_range_updates_are_dropped():
    x = vnp.zeros(5, dtype=vnp.int32)
    assert_same(x.at[vnp.array([0, 7])].set(1), np.array([1, 0, 0, 0, 0], np.int32))
    assert_same(x.at[vnp.array([-1, -6])].set(1), np.array([0, 0, 0, 0, 1], np.int32))
    assert_same(x.at[vnp.array(5)].add(3), np.zeros(5, np.int32))
    assert_same(x.at[np.array([9, 2, 9])].add(3), np.array([0, 0, 3, 0, 0], np.int32))
    assert_same(x.at[vnp.array([0, 7])].set(1, mode="drop"), np.array([1, 0, 0, 0, 0], np.int32))


def test_clip_mode_clamps_updates():
    x = vnp.zeros(5, dtype=vnp.int32)
    assert_same(x.at[vnp.array([0, 7])].set(1, mode="clip"), np.array([1, 0, 0, 0, 1], np.int32))
    assert_same(x.at[vnp.array([-9])].set(2, mode="clip"), np.array([2, 0, 0, 0, 0], np.int32))
    assert_same(x.at[vnp.array([7, 8])].add(1, mode="clip"), np.array([0, 0, 0, 0, 2], np.int32))
    with pytest.raises(ValueError, match="mode"):
        x.at[0].set(1, mode="bogus")


# ----------------------------------------------------------------------------------------------
# Out-of-range indices against JAX, eagerly and under jit/grad/vmap


def _oob_cases():
    x = vnp.arange(1.0, 6.0)
    m = vnp.arange(12.0).reshape(3, 4)
    idx = vnp.array([0, 5, -1, -6, 7])
    jit, grad, vmap = vfunc.jit, vfunc.grad, vfunc.vmap
    at_set = jit(lambda a, i: a.at[i].set(0.0))
    return {
        "getitem_int_5": lambda: x[5],
        "getitem_int_-6": lambda: x[-6],
        "getitem_arr0d_5": lambda: x[vnp.array(5)],
        "getitem_arr0d_-6": lambda: x[vnp.array(-6)],
        "getitem_arr": lambda: x[idx],
        "getitem_np": lambda: x[np.array([0, 5, -1, -6])],
        "jit_getitem_5": lambda: jit(lambda a, i: a[i])(x, 5),
        "jit_getitem_-6": lambda: jit(lambda a, i: a[i])(x, -6),
        "jit_getitem_-2": lambda: jit(lambda a, i: a[i])(x, -2),
        "jit_getitem_arr": lambda: jit(lambda a, i: a[i])(x, idx),
        "jit_getitem_static5": lambda: jit(lambda a: a[5])(x),
        "getitem_2d_col": lambda: m[:, vnp.array([4, -5, 1])],
        "getitem_2d_pair": lambda: m[vnp.array([3, -4]), vnp.array([4, -5])],
        "jit_getitem_2d_int_slice": lambda: jit(lambda a, i: a[i, 1:])(m, 7),
        "take_default": lambda: vnp.take(x, idx),
        "take_clip": lambda: vnp.take(x, idx, mode="clip"),
        "take_wrap": lambda: vnp.take(x, idx, mode="wrap"),
        "jit_take_default": lambda: jit(lambda a, i: vnp.take(a, i))(x, idx),
        "take_along_axis": lambda: vnp.take_along_axis(
            m, vnp.array([[0, 4, -1, -5]] * 3), axis=1
        ),
        "dynamic_slice_5": lambda: lax.dynamic_slice(x, (5,), (2,)),
        "dynamic_slice_-1": lambda: lax.dynamic_slice(x, (-1,), (2,)),
        "dynamic_slice_-7": lambda: lax.dynamic_slice(x, (-7,), (2,)),
        "jit_dynamic_slice_4": lambda: jit(lambda a, i: lax.dynamic_slice(a, (i,), (2,)))(x, 4),
        "jit_dynamic_slice_-1": lambda: jit(lambda a, i: lax.dynamic_slice(a, (i,), (2,)))(
            x, -1
        ),
        "dynamic_slice_2d": lambda: lax.dynamic_slice(m, (2, 3), (2, 2)),
        "dynamic_index_in_dim_7": lambda: lax.dynamic_index_in_dim(x, 7, keepdims=False),
        "dynamic_update_slice_4": lambda: lax.dynamic_update_slice(x, vnp.array([9.0, 8.0]), (4,)),
        "dynamic_update_slice_-1": lambda: lax.dynamic_update_slice(
            x, vnp.array([9.0, 8.0]), (-1,)
        ),
        "jit_dynamic_update_slice_9": lambda: jit(
            lambda a, i: lax.dynamic_update_slice(a, vnp.array([9.0, 8.0]), (i,))
        )(x, 9),
        "at_set_int_5": lambda: x.at[5].set(0.0),
        "at_set_int_-6": lambda: x.at[-6].set(0.0),
        "at_set_arr": lambda: x.at[idx].set(0.0),
        "at_add_arr": lambda: x.at[idx].add(10.0),
        "at_mul_arr": lambda: x.at[idx].multiply(10.0),
        "at_min_arr": lambda: x.at[idx].min(-1.0),
        "at_max_arr": lambda: x.at[idx].max(99.0),
        "at_set_clip": lambda: x.at[idx].set(0.0, mode="clip"),
        "jit_at_set_5": lambda: at_set(x, 5),
        "jit_at_set_-6": lambda: at_set(x, -6),
        "jit_at_add_arr": lambda: jit(lambda a, i: a.at[i].add(10.0))(x, idx),
        "jit_at_set_static5": lambda: jit(lambda a: a.at[5].set(0.0))(x),
        "at_set_2d_int_row": lambda: m.at[3].set(0.0),
        "jit_at_set_2d_row": lambda: jit(lambda a, i: a.at[i, 1:].set(0.0))(m, 3),
        "at_get_5": lambda: x.at[5].get(),
        "at_get_fill_5": lambda: x.at[5].get(mode="fill", fill_value=-1.0),
        "grad_getitem_7": lambda: grad(lambda a, i: a[i] * 2.0)(x, 7),
        "grad_getitem_arr": lambda: grad(lambda a: a[idx].sum())(x),
        "grad_at_set_arr": lambda: grad(
            lambda a: a.at[idx].set(3.0).sum() * 1.0 + (a.at[idx].set(a[0] * 2)).sum()
        )(x),
        "vmap_getitem": lambda: vmap(lambda i: x[i])(idx),
        "vmap_at_set": lambda: vmap(lambda i: x.at[i].set(0.0))(idx),
        "at_get_clip_5": lambda: x.at[5].get(mode="clip"),
        "at_set_clip_int_7": lambda: x.at[7].set(0.0, mode="clip"),
        "at_add_drop_int_7": lambda: x.at[7].add(1.0, mode="drop"),
        "grad_at_get_clip_arr": lambda: grad(lambda a: a.at[idx].get(mode="clip").sum())(x),
        "vmap_static_int": lambda: vmap(lambda r: r[4])(m),
        "vmap_at_set_static_int": lambda: vmap(lambda r: r.at[4].set(-1.0))(m),
        "jit_dynamic_slice_grad": lambda: grad(lambda a: lax.dynamic_slice(a, (4,), (2,)).sum())(
            x
        ),
    }


OUT_OF_BOUNDS_CASES = _oob_cases()
_JAX_OOB = json.loads(
    (Path(__file__).parent / "fixtures" / "jax_compat" / "out_of_bounds.json").read_text()
)
# Eager, a static Python int out of range raises NumPy's IndexError where JAX is silent.
_EAGER_STATIC_ERRORS = {
    "getitem_int_5", "getitem_int_-6", "at_set_int_5", "at_set_int_-6", "at_set_2d_int_row",
    "at_get_5",
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(OUT_OF_BOUNDS_CASES))
def test_out_of_range_indices_match_recorded_jax(name):
    want = _JAX_OOB[name]
    if name in _EAGER_STATIC_ERRORS:
        with pytest.raises(IndexError, match="out of bounds for axis .* as in JAX"):
            OUT_OF_BOUNDS_CASES[name]()
        return
    got = np.asarray(OUT_OF_BOUNDS_CASES[name]())
    if name == "grad_getitem_arr":
        # Differs from JAX by choice: the gradient of a clamped read goes to the element read
        # (JAX's promise_in_bounds gather drops it), as finite differences agree.
        want = {"value": [2.0, 0.0, 0.0, 0.0, 3.0], "dtype": "float32"}
    assert str(got.dtype) == want["dtype"]
    np.testing.assert_array_equal(got, np.array(want["value"], dtype=want["dtype"]))


def test_recorded_out_of_bounds_cases_are_all_run():
    assert set(OUT_OF_BOUNDS_CASES) == set(_JAX_OOB) - {"_about"}


def test_static_int_out_of_range_on_a_traced_array_clamps_and_drops_in_every_transform():
    # The same static index that raises eagerly follows JAX once the array is traced.
    x = vnp.arange(1.0, 6.0)
    read, write = (lambda a: a[7] * 1.0), (lambda a: a.at[-9].add(5.0))
    assert vfunc.jit(read)(x) == 5.0 and vfunc.make_jaxpr(read)(x) is not None
    np.testing.assert_array_equal(vfunc.jit(write)(x), x)
    np.testing.assert_array_equal(vfunc.grad(read)(x), [0, 0, 0, 0, 1.0])
    np.testing.assert_array_equal(vfunc.grad(lambda a: write(a).sum())(x), np.ones(5))
    np.testing.assert_array_equal(vfunc.vmap(read)(vnp.stack([x, 2 * x])), [5.0, 10.0])
    with pytest.raises(IndexError, match="size 0"):
        vfunc.jit(lambda a: a[0])(vnp.zeros(0))


# ----------------------------------------------------------------------------------------------
# Errors


def test_static_int_out_of_range_raises_numpys_message():
    x = vnp.arange(3)
    with pytest.raises(IndexError, match="index 5 is out of bounds for axis 0 with size 3"):
        x[5]
    with pytest.raises(IndexError, match="index -4 is out of bounds for axis 0 with size 3"):
        x[-4]
    m = vnp.zeros((2, 3))
    with pytest.raises(IndexError, match="index 7 is out of bounds for axis 1 with size 3"):
        m[:, 7]
    with pytest.raises(IndexError, match="index 2 is out of bounds for axis 0 with size 2"):
        m[2, [0, 1]]
    with pytest.raises(IndexError, match="out of bounds"):
        vnp.zeros((0,))[0]


def test_too_many_indices_raises():
    with pytest.raises(IndexError, match="too many indices"):
        vnp.arange(3)[0, 0]
    with pytest.raises(IndexError, match="too many indices"):
        vnp.zeros((2, 2))[0, ..., 0, None, 1]
    with pytest.raises(IndexError, match="too many indices"):
        vnp.zeros((2, 2))[np.ones((2, 2, 1), bool)]


def test_non_integer_array_index_raises():
    x = vnp.arange(4)
    with pytest.raises(IndexError, match="integer or boolean"):
        x[np.array([1.0, 2.0])]
    with pytest.raises(IndexError, match="integer or boolean"):
        x[vnp.array([1.5])]
    with pytest.raises(IndexError):
        x[1.0]


def test_traced_boolean_mask_raises_and_suggests_where():
    x, mask = vnp.arange(4.0), vnp.array([True, False, True, False])
    with pytest.raises(NonConcreteBooleanIndexError, match="where") as info:
        vfunc.make_jaxpr(lambda a, m: a[m])(x, mask)
    assert isinstance(info.value, IndexError)
    with pytest.raises(NonConcreteBooleanIndexError, match="where"):
        vfunc.make_jaxpr(lambda a: a[a > 1])(x)
    with pytest.raises(NonConcreteBooleanIndexError):
        vfunc.make_jaxpr(lambda a: a.at[a > 1].set(0))(x)


def test_two_ellipses_raise():
    with pytest.raises(IndexError, match="ellipsis"):
        vnp.zeros((2, 3))[..., 0, ...]


def test_mask_shape_mismatch_raises():
    x = vnp.zeros((3, 4))
    with pytest.raises(IndexError, match=r"boolean index.*\(4,\)"):
        x[np.ones(4, bool)]
    with pytest.raises(IndexError, match="boolean index"):
        x[:, np.ones(3, bool)]
    with pytest.raises(IndexError, match="boolean index"):
        x.at[np.ones((4, 3), bool)].set(1)


def test_item_assignment_raises_and_points_to_at():
    x = vnp.arange(3)
    with pytest.raises(TypeError, match=r"immutable.*\.at\["):
        x[0] = 1
    with pytest.raises(TypeError, match=r"\.at\["):
        x[vnp.array([True, False, True])] = 0
    assert x.tolist() == [0, 1, 2]


# ----------------------------------------------------------------------------------------------
# take, take_along_axis, nonzero, where


def test_take_fill_mode_is_the_default():
    x_np = np.arange(5, dtype=np.float32)
    x = vnp.asarray(x_np)
    out = vnp.take(x, np.array([0, 4, -1, -5, 5, -6, 100]))
    nan = np.nan
    assert_same(out, np.array([0, 4, 4, 0, nan, nan, nan], np.float32))
    assert_same(vnp.take(x, np.array([7]), fill_value=-1.0), np.array([-1], np.float32))
    ints = vnp.asarray(np.arange(5, dtype=np.int32))
    info = np.iinfo(np.int32)
    assert_same(vnp.take(ints, np.array([1, 9])), np.array([1, info.min], np.int32))
    m_np = np.arange(12, dtype=np.float32).reshape(3, 4)
    out = vnp.take(vnp.asarray(m_np), np.array([[0, 3], [9, 1]]), axis=1)
    ref = np.take(m_np, np.array([[0, 3], [3, 1]]), axis=1)
    ref[:, 1, 0] = np.nan
    assert_same(out, ref)


def test_take_wrap_mode_matches_numpy():
    m_np = np.arange(12, dtype=np.int32).reshape(3, 4)
    idx = np.array([[0, -1], [5, -9]])
    for axis in (0, 1, -1, None):
        ref = np.take(m_np, idx, axis=axis, mode="wrap")
        assert_same(vnp.take(vnp.asarray(m_np), idx, axis=axis, mode="wrap"), ref)


def test_take_clip_mode_matches_numpy():
    # numpy and JAX both clamp into [0, n - 1] without reading negative indices from the end.
    m_np = np.arange(12, dtype=np.int32).reshape(3, 4)
    idx = np.array([[0, 2], [5, 100]])
    for axis in (0, 1, None):
        ref = np.take(m_np, idx, axis=axis, mode="clip")
        assert_same(vnp.take(vnp.asarray(m_np), idx, axis=axis, mode="clip"), ref)
    x_np = np.arange(5, dtype=np.int32)
    idx = np.array([-1, -7, 3, 9])
    assert_same(vnp.take(vnp.asarray(x_np), idx, mode="clip"), np.take(x_np, idx, mode="clip"))


def test_take_axis_none_flattens():
    m_np = np.arange(12, dtype=np.float32).reshape(3, 4)
    idx = np.array([[0, 11], [5, 6]])
    assert_same(vnp.take(vnp.asarray(m_np), idx), np.take(m_np, idx))
    assert_same(vnp.take(vnp.asarray(m_np), 7), np.take(m_np, 7))
    with pytest.raises(ValueError, match="mode"):
        vnp.take(vnp.asarray(m_np), idx, mode="raise")


@SETTINGS
@given(
    x=hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4),
        elements=st.integers(-3, 3),
    ),
    data=st.data(),
)
def test_take_along_axis_matches_numpy(x, data):
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    size = x.shape[axis]
    idx_shape = list(x.shape)
    idx_shape[axis] = data.draw(st.integers(0, 5))
    idx_shape = [
        1 if data.draw(st.booleans()) and i != axis else n for i, n in enumerate(idx_shape)
    ]
    idx = data.draw(hnp.arrays(np.int64, tuple(idx_shape), elements=st.integers(-size, size - 1)))
    expected = np.take_along_axis(x, idx, axis=axis)
    assert_same(vnp.take_along_axis(vnp.asarray(x), idx, axis=axis), expected)
    order = np.argsort(x, axis=axis, kind="stable")
    got = vnp.take_along_axis(vnp.asarray(x), vnp.argsort(vnp.asarray(x), axis=axis), axis=axis)
    assert_same(got, np.take_along_axis(x, order, axis=axis))


def test_take_along_axis_none_and_out_of_range():
    m_np = np.array([[3.0, 1.0], [2.0, 0.0]], np.float32)
    idx = np.array([3, 0, 2])
    assert_same(
        vnp.take_along_axis(vnp.asarray(m_np), idx, axis=None),
        np.take_along_axis(m_np, idx, axis=None),
    )
    out = vnp.take_along_axis(vnp.asarray(m_np), np.array([[5], [-1]]), axis=1)
    assert_same(out, np.array([[np.nan], [0.0]], np.float32))
    with pytest.raises(ValueError, match="same rank"):
        vnp.take_along_axis(vnp.asarray(m_np), np.array([0]), axis=1)


def test_nonzero_matches_numpy():
    x_np = np.array([[0, 3, 0], [1, 0, 2]], np.int32)
    got = vnp.nonzero(vnp.asarray(x_np))
    assert isinstance(got, tuple) and len(got) == 2
    for g, r in zip(got, np.nonzero(x_np), strict=True):
        assert_same(g, r.astype(np.int32))
    (flat,) = vnp.nonzero(vnp.asarray(np.array([0.0, -1.0, np.nan, 0.0], np.float32)))
    assert_same(flat, np.array([1, 2], np.int32))
    (none,) = vnp.nonzero(vnp.zeros(3))
    assert_same(none, np.zeros(0, np.int32))


def test_nonzero_with_size_pads_or_truncates():
    x = vnp.asarray(np.array([0, 5, 0, 7, 8], np.int32))
    (padded,) = vnp.nonzero(x, size=5)
    assert_same(padded, np.array([1, 3, 4, 0, 0], np.int32))
    (filled,) = vnp.nonzero(x, size=4, fill_value=-1)
    assert_same(filled, np.array([1, 3, 4, -1], np.int32))
    (cut,) = vnp.nonzero(x, size=2)
    assert_same(cut, np.array([1, 3], np.int32))
    rows, cols = vnp.nonzero(vnp.eye(2), size=3, fill_value=9)
    assert_same(rows, np.array([0, 1, 9], np.int32))
    assert_same(cols, np.array([0, 1, 9], np.int32))


def test_nonzero_of_traced_array_needs_size():
    with pytest.raises(NonConcreteBooleanIndexError, match="size="):
        vfunc.make_jaxpr(vnp.nonzero)(vnp.ones(3))


def test_nonzero_is_int64_under_x64(x64):
    (idx,) = vnp.nonzero(vnp.asarray(np.array([0, 2, 3])))
    assert_same(idx, np.array([1, 2], np.int64))


def test_where_with_one_argument_is_nonzero():
    x_np = np.array([[True, False], [True, True]])
    got = vnp.where(vnp.asarray(x_np))
    assert isinstance(got, tuple)
    for g, r in zip(got, np.where(x_np), strict=True):
        assert_same(g, r.astype(np.int32))
    with pytest.raises(ValueError, match="both"):
        vnp.where(vnp.asarray(x_np), 1)


# ----------------------------------------------------------------------------------------------
# lax.dynamic_slice, dynamic_update_slice, dynamic_index_in_dim


def test_dynamic_slice_clamps_to_the_last_full_window():
    x_np = np.arange(10, dtype=np.int32)
    x = vnp.asarray(x_np)
    assert_same(lax.dynamic_slice(x, [2], [3]), x_np[2:5])
    assert_same(lax.dynamic_slice(x, [8], [4]), x_np[6:10])
    assert_same(lax.dynamic_slice(x, [100], [4]), x_np[6:10])
    assert_same(lax.dynamic_slice(x, [-3], [2]), x_np[7:9])  # negative counts from the end
    assert_same(lax.dynamic_slice(x, [-30], [2]), x_np[0:2])
    assert_same(lax.dynamic_slice(x, [vnp.array(9)], [3]), x_np[7:10])
    m_np = np.arange(20, dtype=np.float32).reshape(4, 5)
    m = vnp.asarray(m_np)
    assert_same(lax.dynamic_slice(m, [vnp.array(3), 1], [2, 3]), m_np[2:4, 1:4])


def test_dynamic_slice_under_make_jaxpr():
    m_np = np.arange(20, dtype=np.float32).reshape(4, 5)
    m = vnp.asarray(m_np)
    closed = vfunc.make_jaxpr(lambda a, i, j: lax.dynamic_slice(a, [i, j], [2, 2]))(
        m, vnp.array(0), vnp.array(0)
    )
    assert closed.out_avals[0].shape == (2, 2)
    for i, j, (r, c) in [(1, 1, (1, 1)), (9, 9, (2, 3)), (-1, -2, (2, 3)), (-9, 0, (0, 0))]:
        (out,) = eval_jaxpr(closed.jaxpr, closed.consts, m, vnp.array(i), vnp.array(j))
        assert_same(out, m_np[r : r + 2, c : c + 2])


def test_dynamic_update_slice_clamps():
    x = vnp.zeros(6, dtype=vnp.int32)
    upd = vnp.asarray(np.array([1, 2], np.int32))
    assert_same(lax.dynamic_update_slice(x, upd, [1]), np.array([0, 1, 2, 0, 0, 0], np.int32))
    assert_same(lax.dynamic_update_slice(x, upd, [9]), np.array([0, 0, 0, 0, 1, 2], np.int32))
    assert_same(lax.dynamic_update_slice(x, upd, [-2]), np.array([0, 0, 0, 0, 1, 2], np.int32))
    assert_same(
        lax.dynamic_update_slice(x, upd, [vnp.array(-100)]), np.array([1, 2, 0, 0, 0, 0], np.int32)
    )
    m = vnp.zeros((3, 3))
    out = lax.dynamic_update_slice(m, vnp.ones((2, 2)), [vnp.array(5), 0])
    ref = np.zeros((3, 3), np.float32)
    ref[1:, :2] = 1
    assert_same(out, ref)
    assert_same(x, np.zeros(6, np.int32))


def test_dynamic_index_in_dim():
    m_np = np.arange(12, dtype=np.int32).reshape(3, 4)
    m = vnp.asarray(m_np)
    assert_same(lax.dynamic_index_in_dim(m, 1), m_np[1:2])
    assert_same(lax.dynamic_index_in_dim(m, 7, axis=1, keepdims=False), m_np[:, 3])
    assert_same(lax.dynamic_index_in_dim(m, vnp.array(-1), keepdims=False), m_np[2])
    assert_same(lax.dynamic_index_in_dim(m, vnp.array(-10), axis=1), m_np[:, :1])


# ----------------------------------------------------------------------------------------------
# lax.gather / lax.scatter with explicit specs


def test_lax_gather_specs():
    x_np = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    x = vnp.asarray(x_np)
    i0, i2 = np.array([[1], [0]]), np.array([3, 0, 2])
    spec = (("array", 0), ("slice", 0, 3, 2), ("array", 1))
    assert_same(lax.gather(x, [i0, i2], spec), x_np[i0, 0:3:2, i2])
    spec = (("slice", 1, None, -1), ("newaxis",), ("array", 0), ("slice", 0, 4, 1))
    assert_same(lax.gather(x, [np.array([2, -1])], spec), x_np[1::-1, None, [2, -1], :])
    spec = (("array", 0), ("slice", 0, 3, 1), ("slice", 0, 4, 1))
    assert_same(lax.gather(x, [np.array([5])], spec), x_np[[1]])  # clamped


def test_lax_scatter_specs():
    x_np = np.arange(12, dtype=np.float32).reshape(3, 4)
    x = vnp.asarray(x_np)
    idx = np.array([0, 2, 0])
    spec = (("array", 0), ("slice", 1, 4, 2))
    upd = np.ones((3, 2), np.float32)
    ref = x_np.copy()
    np.add.at(ref, (idx, slice(1, 4, 2)), upd)
    assert_same(lax.scatter(x, [idx], upd, spec, "add"), ref)
    ref = x_np.copy()
    ref[np.array([1, 2]), 1:4:2] = 7.0
    out = lax.scatter(x, [np.array([1, 2, 3])], vnp.full((3, 2), 7.0), spec)  # 3 is dropped
    assert_same(out, ref)
    ref = x_np.copy()
    np.maximum.at(ref, (idx, slice(1, 4, 2)), 5.0)
    assert_same(lax.scatter(x, [idx], 5.0, spec, "max"), ref)
    with pytest.raises(ValueError, match="mode"):
        lax.scatter(x, [idx], upd, spec, "sub")
    with pytest.raises(DtypeError, match="updates dtype"):
        lax.scatter(x, [idx], np.ones((3, 2), np.int32), spec)
