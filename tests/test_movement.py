"""Joining, splitting, padding, reordering, sorting and cumulative functions against NumPy, and
the lax primitives underneath them."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import vfunc
import vfunc.numpy as vnp
from vfunc import lax
from vfunc.errors import DtypeError, ShapeError
from vfunc.jaxpr import eval_jaxpr

SETTINGS = settings(max_examples=60, deadline=None)
NAN = np.nan


def assert_same(got, expected, *, dtype=None):
    """``got`` is a vfunc Array with ``expected``'s shape and values, and dtype ``dtype`` (by
    default ``expected``'s)."""
    assert isinstance(got, vfunc.Array), type(got)
    expected = np.asarray(expected)
    assert got.shape == expected.shape
    want = np.dtype(dtype) if dtype is not None else expected.dtype
    assert got.dtype == want, (got.dtype, want)
    np.testing.assert_array_equal(np.asarray(got), expected.astype(want))


def arange(shape, dtype=np.float32) -> np.ndarray:
    return np.arange(math.prod(shape)).reshape(shape).astype(dtype)


def shares_memory(a, b) -> bool:
    return np.shares_memory(np.asarray(a), np.asarray(b))


# ----------------------------------------------------------------------------------------------
# concatenate, stack and friends


@SETTINGS
@given(
    shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4),
    data=st.data(),
)
def test_concatenate_matches_numpy(shape, data):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    sizes = data.draw(st.lists(st.integers(0, 3), min_size=1, max_size=4))
    parts = []
    for k, n in enumerate(sizes):
        part_shape = list(shape)
        part_shape[axis] = n
        parts.append(arange(part_shape, np.int32) + 100 * k)
    got = vnp.concatenate([vnp.asarray(p) for p in parts], axis=axis)
    assert_same(got, np.concatenate(parts, axis=axis))
    assert_same(vnp.concatenate(parts, axis=None), np.concatenate(parts, axis=None))


def test_concatenate_promotes_like_jax():
    i32, f32 = arange((2,), np.int32), arange((3,), np.float32)
    # NumPy would give float64 for int32 + float32; JAX (and vfunc) keep float32.
    assert_same(
        vnp.concatenate([vnp.asarray(i32), vnp.asarray(f32)]),
        np.concatenate([i32, f32]),
        dtype=np.float32,
    )
    b, i8, u8 = np.array([True]), np.array([-1], np.int8), np.array([200], np.uint8)
    assert_same(vnp.concatenate([vnp.asarray(b), vnp.asarray(i8)]), np.array([1, -1], np.int8))
    assert_same(vnp.concatenate([vnp.asarray(i8), vnp.asarray(u8)]), np.array([-1, 200], np.int16))
    assert_same(vnp.concatenate([i32, i32], dtype=np.float32), np.tile(i32, 2).astype(np.float32))
    m = vnp.asarray(arange((2, 3)))
    assert_same(vnp.concatenate([m, m], axis=-1), np.concatenate([arange((2, 3))] * 2, axis=-1))


def test_concatenate_errors():
    with pytest.raises(ShapeError, match="zero-dimensional"):
        vnp.concatenate([vnp.array(1.0), vnp.array(2.0)])
    with pytest.raises(ValueError, match="at least one"):
        vnp.concatenate([])
    with pytest.raises(ShapeError, match=r"\(2, 3\).*\(2, 4\)"):
        vnp.concatenate([vnp.zeros((2, 3)), vnp.zeros((2, 4))])
    with pytest.raises(ValueError, match="axis"):
        vnp.concatenate([vnp.zeros((2, 3))] * 2, axis=2)


@SETTINGS
@given(shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3), data=st.data())
def test_stack_matches_numpy(shape, data):
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    n = data.draw(st.integers(1, 3))
    parts = [arange(shape) + 10 * k for k in range(n)]
    assert_same(vnp.stack([vnp.asarray(p) for p in parts], axis=axis), np.stack(parts, axis=axis))


def test_stack_errors():
    with pytest.raises(ShapeError, match=r"same shape.*\(2,\).*\(3,\)"):
        vnp.stack([vnp.zeros(2), vnp.zeros(3)])
    with pytest.raises(ValueError, match="axis"):
        vnp.stack([vnp.zeros(2)] * 2, axis=3)


@pytest.mark.parametrize("fn", ["hstack", "vstack", "dstack", "column_stack"])
@pytest.mark.parametrize(
    "shapes",
    [[(), ()], [(3,), (3,)], [(2, 3), (2, 3)], [(2, 3, 2), (2, 3, 2)], [(3,), (3,), (3,)]],
    ids=["0d", "1d", "2d", "3d", "three"],
)
def test_hstack_vstack_dstack_column_stack(fn, shapes):
    parts = [arange(s, np.int32) + 10 * k for k, s in enumerate(shapes)]
    expected = getattr(np, fn)(parts)
    assert_same(getattr(vnp, fn)([vnp.asarray(p) for p in parts]), expected)


def test_stacking_unequal_sizes():
    a, b = arange((2, 3)), arange((2, 1))
    assert_same(vnp.hstack([a, b]), np.hstack([a, b]))
    assert_same(
        vnp.vstack([arange((3,)), arange((2, 3))]), np.vstack([arange((3,)), arange((2, 3))])
    )
    assert_same(vnp.column_stack([arange((2,)), a]), np.column_stack([arange((2,)), a]))
    assert_same(vnp.hstack([arange((2,), np.int32), arange((1,))]), np.array([0, 1, 0], np.float32))


# ----------------------------------------------------------------------------------------------
# split and array_split


@SETTINGS
@given(
    shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=6),
    data=st.data(),
)
def test_array_split_matches_numpy(shape, data):
    x_np = arange(shape, np.int32)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    sections = data.draw(
        st.integers(1, 7) | st.lists(st.integers(-8, 8), max_size=4)
    )  # index lists may be unsorted, negative or past the end
    got = vnp.array_split(vnp.asarray(x_np), sections, axis=axis)
    expected = np.array_split(x_np, sections, axis=axis)
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert_same(g, e)


def test_split_at_negative_indices_counts_from_the_end():
    # NumPy slices ary[-1:] for an index of -1; clamping it to 0 silently changes the pieces.
    x_np = arange((5,), np.int32)
    for sections in ([-1], [-3, 4], [1, -2]):
        got, expected = vnp.split(vnp.asarray(x_np), sections), np.split(x_np, sections)
        assert [g.tolist() for g in got] == [e.tolist() for e in expected], sections


def test_split_equal_sections_and_errors():
    x_np = arange((6, 4))
    x = vnp.asarray(x_np)
    for sections, axis in [(3, 0), (2, 1), ([1, 4], 0), ([2], -1), ([], 0)]:
        got, expected = vnp.split(x, sections, axis=axis), np.split(x_np, sections, axis=axis)
        assert len(got) == len(expected)
        for g, e in zip(got, expected, strict=True):
            assert_same(g, e)
            assert shares_memory(x, g) or g.size == 0
    with pytest.raises(ValueError, match="equal sections"):
        vnp.split(x, 4)
    with pytest.raises(ValueError, match="positive"):
        vnp.array_split(x, 0)


# ----------------------------------------------------------------------------------------------
# pad


@st.composite
def pad_widths(draw, ndim: int):
    """A pad_width in one of NumPy's forms, and the per-axis pairs it means."""
    pair = st.tuples(st.integers(0, 7), st.integers(0, 7))
    form = draw(st.sampled_from(["int", "pair", "one_pair"] + (["per_axis"] if ndim else [])))
    if form == "int":
        n = draw(st.integers(0, 7))
        return n, [(n, n)] * ndim
    if form == "pair":
        p = draw(pair)
        return p, [p] * ndim
    if form == "one_pair":
        p = draw(pair)
        return (p,), [p] * ndim
    pairs = draw(st.lists(pair, min_size=ndim, max_size=ndim))
    return tuple(pairs), pairs


@SETTINGS
@given(
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
    mode=st.sampled_from(["constant", "edge", "reflect", "symmetric", "wrap"]),
    dtype=st.sampled_from([np.int32, np.float32]),
    data=st.data(),
)
def test_pad_matches_numpy(shape, mode, dtype, data):
    x_np = arange(shape, dtype) - 3
    width, pairs = data.draw(pad_widths(len(shape)))
    kwargs = {}
    if mode == "constant" and data.draw(st.booleans()):
        value = st.integers(-9, 9)
        if data.draw(st.booleans()):
            kwargs["constant_values"] = data.draw(value)
        else:
            kwargs["constant_values"] = (
                tuple((data.draw(value), data.draw(value)) for _ in range(len(shape))) or 0
            )
    empty_padded = any(n == 0 and (lo or hi) for n, (lo, hi) in zip(shape, pairs, strict=True))
    if mode != "constant" and empty_padded:
        with pytest.raises(ValueError):
            np.pad(x_np, width, mode=mode)
        with pytest.raises(ValueError, match="empty axis"):
            vnp.pad(vnp.asarray(x_np), width, mode=mode)
        return
    expected = np.pad(x_np, width, mode=mode, **kwargs)
    assert_same(vnp.pad(vnp.asarray(x_np), width, mode=mode, **kwargs), expected)


def test_pad_named_cases():
    x_np = np.array([1, 2, 3], np.int32)
    x = vnp.asarray(x_np)
    for mode in ["edge", "reflect", "symmetric", "wrap"]:
        assert_same(vnp.pad(x, (7, 9), mode=mode), np.pad(x_np, (7, 9), mode=mode))
        assert_same(vnp.pad(x[:1], 4, mode=mode), np.pad(x_np[:1], 4, mode=mode))
    m_np = arange((2, 3))
    values = ((1.5, 2.5), (-1, -2))
    assert_same(
        vnp.pad(vnp.asarray(m_np), ((1, 2), (2, 1)), constant_values=values),
        np.pad(m_np, ((1, 2), (2, 1)), constant_values=values),
    )
    assert_same(vnp.pad(x, 1, constant_values=2.7), np.array([2, 1, 2, 3, 2], np.int32))
    assert_same(vnp.pad(x, 1, constant_values=(5, 6)), np.array([5, 1, 2, 3, 6], np.int32))


def test_pad_zero_dimensional_array_is_unchanged():
    for mode in ["constant", "edge", "reflect", "symmetric", "wrap"]:
        assert_same(vnp.pad(vnp.asarray(np.float32(2.5)), 3, mode=mode), np.float32(2.5))


def test_pad_errors():
    x = vnp.zeros((2, 3))
    with pytest.raises(ValueError, match="non-negative"):
        vnp.pad(x, -1)
    with pytest.raises(ValueError, match="pad_width"):
        vnp.pad(x, ((1, 2), (3, 4), (5, 6)))
    with pytest.raises(NotImplementedError, match="mode"):
        vnp.pad(x, 1, mode="median")


def _lax_pad_reference(x: np.ndarray, value, config) -> np.ndarray:
    """Each output position maps back to a source position, or to the padding value."""
    out_shape = tuple(
        lo + hi + n + max(n - 1, 0) * mid for n, (lo, hi, mid) in zip(x.shape, config, strict=True)
    )
    out = np.full(out_shape, value, dtype=x.dtype)
    for pos in np.ndindex(*out_shape):
        src = []
        for p, n, (lo, _, mid) in zip(pos, x.shape, config, strict=True):
            q = p - lo
            if q < 0 or q % (mid + 1) or q // (mid + 1) >= n:
                break
            src.append(q // (mid + 1))
        else:
            out[pos] = x[tuple(src)]
    return out


def test_lax_pad_negative_and_interior():
    x_np = arange((3, 4), np.int32) + 1
    x = vnp.asarray(x_np)
    configs = [
        [(1, 2, 0), (0, 0, 0)],
        [(0, 0, 1), (2, 1, 2)],
        [(-1, 0, 0), (0, -2, 0)],
        [(-2, -1, 1), (1, -3, 1)],
        [(-3, 1, 0), (0, 0, 3)],
        [(2, -4, 2), (-5, 0, 1)],
        [(0, 0, 0), (-4, 0, 0)],
    ]
    for config in configs:
        expected = _lax_pad_reference(x_np, -7, config)
        assert_same(lax.pad(x, -7, config), expected)
    e = vnp.zeros((0, 2), dtype=vnp.int32)
    assert_same(
        lax.pad(e, 1, [(1, 1, 3), (0, -1, 2)]),
        _lax_pad_reference(np.zeros((0, 2), np.int32), 1, [(1, 1, 3), (0, -1, 2)]),
    )


def test_lax_pad_errors():
    x = vnp.zeros((2, 3))
    with pytest.raises(ShapeError, match="interior"):
        lax.pad(x, 0.0, [(0, 0, -1), (0, 0, 0)])
    with pytest.raises(ShapeError, match="negative size"):
        lax.pad(x, 0.0, [(-2, -1, 0), (0, 0, 0)])
    with pytest.raises(ShapeError, match="padding_value"):
        lax.pad(x, vnp.zeros(2), [(0, 0, 0), (0, 0, 0)])
    with pytest.raises(ShapeError, match="triples"):
        lax.pad(x, 0.0, [(0, 0, 0)])


# ----------------------------------------------------------------------------------------------
# flip, roll, tile, repeat, swapaxes, moveaxis


def test_flip_matches_numpy_and_returns_views():
    x_np = arange((3, 4, 2))
    x = vnp.asarray(x_np)
    for axis in [None, 0, 1, -1, (0, 2), ()]:
        out = vnp.flip(x, axis)
        assert_same(out, np.flip(x_np, axis))
        assert shares_memory(x, out)
    assert_same(vnp.fliplr(x), np.fliplr(x_np))
    assert_same(vnp.flipud(x), np.flipud(x_np))
    assert shares_memory(x, vnp.fliplr(x)) and shares_memory(x, vnp.flipud(x))
    with pytest.raises(ValueError, match="axis"):
        vnp.fliplr(vnp.zeros(3))


@SETTINGS
@given(shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4), data=st.data())
def test_roll_matches_numpy(shape, data):
    x_np = arange(shape, np.int32)
    shift = st.integers(-9, 9)
    if not shape or data.draw(st.booleans()):
        axis, s = None, data.draw(shift)
    elif data.draw(st.booleans()):
        axis, s = data.draw(st.integers(-len(shape), len(shape) - 1)), data.draw(shift)
    else:
        axes = data.draw(st.lists(st.integers(0, len(shape) - 1), min_size=1, max_size=3))
        axis = tuple(axes)
        s = tuple(data.draw(shift) for _ in axes) if data.draw(st.booleans()) else data.draw(shift)
    assert_same(vnp.roll(vnp.asarray(x_np), s, axis), np.roll(x_np, s, axis))


def test_roll_with_a_traced_shift():
    x_np = arange((3, 5), np.int32)
    x = vnp.asarray(x_np)
    for axis in [0, 1, -1, None]:
        closed = vfunc.make_jaxpr(lambda a, s, axis=axis: vnp.roll(a, s, axis))(x, vnp.array(1))
        assert closed.out_avals[0].shape == (3, 5)
        for shift in [0, 2, -3, 7, -16]:
            (out,) = eval_jaxpr(closed.jaxpr, closed.consts, x, vnp.array(shift))
            assert_same(out, np.roll(x_np, shift, axis))


def test_roll_errors():
    with pytest.raises(ValueError, match="shifts"):
        vnp.roll(vnp.zeros((2, 2)), (1, 2, 3), (0, 1))


@pytest.mark.parametrize(
    "shape, reps",
    [
        ((3,), 2),
        ((3,), (2, 2)),
        ((2, 3), 3),
        ((2, 3), (1, 2)),
        ((2, 1, 3), (2,)),
        ((), 3),
        ((2, 3), (0, 2)),
        ((0, 2), 2),
        ((2,), ()),
        ((2, 2), (2, 1, 3)),
    ],
)
def test_tile_matches_numpy(shape, reps):
    x_np = arange(shape, np.int32)
    assert_same(vnp.tile(vnp.asarray(x_np), reps), np.tile(x_np, reps))


@pytest.mark.parametrize(
    "shape, repeats, axis",
    [
        ((3,), 2, None),
        ((2, 3), 2, None),
        ((2, 3), 3, 1),
        ((2, 3), 0, 0),
        ((2, 3), [1, 0, 2], 1),
        ((2, 3), [2, 1], -2),
        ((2, 3), [3], 1),
        ((2, 2), np.array([1, 2, 0, 1]), None),
        ((), 4, None),
        ((0, 2), 3, 0),
    ],
)
def test_repeat_matches_numpy(shape, repeats, axis):
    x_np = arange(shape, np.float32)
    assert_same(vnp.repeat(vnp.asarray(x_np), repeats, axis=axis), np.repeat(x_np, repeats, axis))


def test_repeat_total_repeat_length():
    x = vnp.arange(3)
    assert_same(vnp.repeat(x, 2, total_repeat_length=6), np.repeat(np.arange(3, dtype=np.int32), 2))
    with pytest.raises(ValueError, match="total_repeat_length"):
        vnp.repeat(x, 2, total_repeat_length=5)


@SETTINGS
@given(shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=3), data=st.data())
def test_swapaxes_and_moveaxis_match_numpy(shape, data):
    x_np = arange(shape)
    x = vnp.asarray(x_np)
    axis = st.integers(-len(shape), len(shape) - 1)
    a, b = data.draw(axis), data.draw(axis)
    out = vnp.swapaxes(x, a, b)
    assert_same(out, np.swapaxes(x_np, a, b))
    assert shares_memory(x, out)
    k = data.draw(st.integers(1, len(shape)))
    src = data.draw(st.permutations(range(len(shape))))[:k]
    dst = data.draw(st.permutations(range(-len(shape), 0)))[:k]
    out = vnp.moveaxis(x, src, dst)
    assert_same(out, np.moveaxis(x_np, src, dst))
    assert shares_memory(x, out)
    assert_same(vnp.moveaxis(x, a, b), np.moveaxis(x_np, a, b))


def test_moveaxis_errors():
    x = vnp.zeros((2, 3))
    with pytest.raises(ValueError, match="differ in length"):
        vnp.moveaxis(x, (0, 1), (0,))
    with pytest.raises(ValueError, match="axis"):
        vnp.swapaxes(x, 0, 2)


# ----------------------------------------------------------------------------------------------
# sort and argsort


FLOATS_WITH_TIES = hnp.arrays(
    np.float32,
    hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=5),
    elements=st.sampled_from([0.0, 1.0, -1.0, 2.5, NAN, np.inf, -np.inf]),
)


def _descending_argsort(x: np.ndarray, axis: int) -> np.ndarray:
    # JAX: the reverse of a stable ascending argsort of the reversed array (ties keep order).
    n = x.shape[axis]
    return np.flip(n - 1 - np.argsort(np.flip(x, axis), axis=axis, kind="stable"), axis)


@SETTINGS
@given(x=FLOATS_WITH_TIES, data=st.data())
def test_sort_and_argsort_match_numpy(x, data):
    axis = data.draw(st.sampled_from([None, -1, 0, x.ndim - 1]))
    v = vnp.asarray(x)
    flat = x.ravel() if axis is None else x
    ax = 0 if axis is None else axis
    assert_same(vnp.sort(v, axis=axis), np.sort(x, axis=axis))  # NaNs last
    assert_same(vnp.argsort(v, axis=axis), np.argsort(x, axis=axis, kind="stable"), dtype=np.int32)
    assert_same(vnp.sort(v, axis=axis, descending=True), np.flip(np.sort(flat, axis=ax), ax))
    assert_same(
        vnp.argsort(v, axis=axis, descending=True), _descending_argsort(flat, ax), dtype=np.int32
    )


def test_sort_named_cases():
    x_np = np.array([3.0, NAN, 1.0, 3.0, -np.inf, 1.0], np.float32)
    x = vnp.asarray(x_np)
    assert_same(vnp.sort(x), np.array([-np.inf, 1, 1, 3, 3, NAN], np.float32))
    assert_same(vnp.argsort(x), np.array([4, 2, 5, 0, 3, 1], np.int32))
    assert_same(vnp.sort(x, descending=True), np.array([NAN, 3, 3, 1, 1, -np.inf], np.float32))
    assert_same(vnp.argsort(x, descending=True), np.array([1, 0, 3, 2, 5, 4], np.int32))
    ints = vnp.asarray(np.array([[3, 1, 2], [1, 1, 0]], np.int8))
    assert_same(vnp.sort(ints, axis=0), np.array([[1, 1, 0], [3, 1, 2]], np.int8))
    assert_same(vnp.argsort(ints, axis=None), np.array([5, 1, 3, 4, 2, 0], np.int32))
    b = vnp.asarray(np.array([True, False, True]))
    assert_same(vnp.sort(b), np.array([False, True, True]))


def test_argsort_is_int64_under_x64(x64):
    assert_same(vnp.argsort(vnp.asarray(np.array([2.0, 1.0]))), np.array([1, 0], np.int64))


# ----------------------------------------------------------------------------------------------
# cumsum, cumprod, diff


@pytest.mark.parametrize(
    "dtype, expected",
    [
        (np.bool_, np.int32),
        (np.int8, np.int32),
        (np.int16, np.int32),
        (np.uint8, np.uint32),
        (np.int32, np.int32),
        (np.float32, np.float32),
    ],
)
def test_cumsum_cumprod_dtypes_and_values(dtype, expected):
    x_np = (arange((2, 3), np.int64) % 3 + 1).astype(dtype)
    x = vnp.asarray(x_np)
    for name in ["cumsum", "cumprod"]:
        for axis in [None, 0, 1, -1]:
            ref = getattr(np, name)(x_np, axis=axis, dtype=expected)
            assert_same(getattr(vnp, name)(x, axis=axis), ref)
    assert_same(vnp.cumsum(x, dtype=np.float32), np.cumsum(x_np, dtype=np.float32))


def test_cumsum_dtype_under_x64(x64):
    x = vnp.asarray(np.array([True, True, False]))
    assert_same(vnp.cumsum(x), np.array([1, 2, 2], np.int64))
    assert_same(vnp.cumprod(vnp.asarray(np.array([2, 3], np.int8))), np.array([2, 6], np.int64))


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5])
@pytest.mark.parametrize("axis", [0, -1])
def test_diff_matches_numpy(n, axis):
    for dtype in [np.int32, np.float32, np.int8, np.bool_]:
        x_np = np.array([[1, 4, 9, 9, 2], [0, 3, 3, 8, 1]]) % (2 if dtype == np.bool_ else 10)
        x_np = x_np.astype(dtype)
        assert_same(vnp.diff(vnp.asarray(x_np), n=n, axis=axis), np.diff(x_np, n=n, axis=axis))


def test_diff_prepend_append():
    x_np = np.array([[1, 4, 9], [0, 3, 3]], np.int32)
    x = vnp.asarray(x_np)
    # A Python scalar is weakly typed (JAX): int32 stays int32 where NumPy would give int64.
    assert_same(vnp.diff(x, prepend=0), np.diff(x_np, prepend=0), dtype=np.int32)
    assert_same(
        vnp.diff(x, append=np.array([[5], [6]], np.int32)),
        np.diff(x_np, append=np.array([[5], [6]], np.int32)),
    )
    assert_same(
        vnp.diff(x, n=2, axis=0, prepend=np.zeros((1, 3), np.int32), append=1),
        np.diff(x_np, n=2, axis=0, prepend=np.zeros((1, 3), np.int32), append=1),
        dtype=np.int32,
    )
    b_np = np.array([True, False, False])
    assert_same(vnp.diff(vnp.asarray(b_np), prepend=True), np.diff(b_np, prepend=True))
    with pytest.raises(ValueError, match="non-negative"):
        vnp.diff(x, n=-1)


# ----------------------------------------------------------------------------------------------
# broadcast_to and broadcast_arrays


def test_broadcast_to_and_broadcast_arrays_are_views():
    x_np = arange((3, 1), np.int32)
    x = vnp.asarray(x_np)
    out = vnp.broadcast_to(x, (2, 3, 4))
    assert_same(out, np.broadcast_to(x_np, (2, 3, 4)))
    assert shares_memory(x, out)
    assert_same(vnp.broadcast_to(vnp.asarray(np.float32(2.0)), 3), np.full(3, 2.0, np.float32))
    y_np = arange((4,), np.float32)
    y = vnp.asarray(y_np)
    got = vnp.broadcast_arrays(x, y)
    for g, e, src in zip(got, np.broadcast_arrays(x_np, y_np), (x, y), strict=True):
        assert_same(g, e)
        assert shares_memory(src, g)
    with pytest.raises(ValueError, match=r"\(3, 1\)"):
        vnp.broadcast_to(x, (2, 1))
    with pytest.raises(ValueError, match="fewer axes"):
        vnp.broadcast_to(x, (3,))
    with pytest.raises(ValueError):
        vnp.broadcast_arrays(vnp.zeros(3), vnp.zeros(4))


# ----------------------------------------------------------------------------------------------
# lax.sort, lax.cumsum, lax.rev, lax.concatenate


def test_lax_sort_several_operands():
    k1 = np.array([2, 1, 2, 1, 0, 2], np.int32)
    k2 = np.array([0.5, 3.0, NAN, -1.0, 9.0, 0.5], np.float32)
    payload = np.arange(6, dtype=np.int32) * 10
    one_key = lax.sort([vnp.asarray(k1), vnp.asarray(k2), vnp.asarray(payload)], num_keys=1)
    order = np.argsort(k1, kind="stable")
    for got, src in zip(one_key, (k1, k2, payload), strict=True):
        assert_same(got, src[order])
    two_keys = lax.sort([vnp.asarray(k1), vnp.asarray(k2), vnp.asarray(payload)], num_keys=2)
    order = np.lexsort((k2, k1))  # primary key last; NaN sorts after every number
    for got, src in zip(two_keys, (k1, k2, payload), strict=True):
        assert_same(got, src[order])
    m = arange((2, 3), np.float32)[:, ::-1].copy()
    sorted_m, idx = lax.sort([vnp.asarray(m), vnp.asarray(arange((2, 3), np.int32))], 0)
    assert_same(sorted_m, np.sort(m, axis=0))
    assert_same(lax.sort(vnp.asarray(m)), np.sort(m, axis=-1))
    assert isinstance(lax.sort(vnp.asarray(m)), vfunc.Array)


def test_lax_sort_errors():
    a, b = vnp.zeros(3), vnp.zeros(4)
    with pytest.raises(ShapeError, match=r"\(3,\).*\(4,\)"):
        lax.sort([a, b])
    with pytest.raises(ShapeError, match="num_keys"):
        lax.sort([a, a], num_keys=3)


def test_lax_cumulative_reverse():
    x_np = np.array([[1, 2, 3], [4, 5, 6]], np.int32)
    x = vnp.asarray(x_np)
    expected = np.flip(np.cumsum(x_np[:, ::-1], 1), 1)
    assert_same(lax.cumsum(x, axis=1, reverse=True), expected, dtype=np.int32)
    assert_same(lax.cumsum(x, axis=0), np.cumsum(x_np, 0, dtype=np.int32))
    assert_same(
        lax.cumprod(x, axis=-1, reverse=True), np.array([[6, 6, 3], [120, 30, 6]], np.int32)
    )
    assert_same(
        lax.cummax(vnp.asarray(np.array([1, 3, 2, 5], np.int32)), reverse=True),
        np.array([5, 5, 5, 5], np.int32),
    )
    with pytest.raises(DtypeError):
        lax.cumsum(vnp.asarray(np.array([True, False])))


def test_lax_rev():
    x_np = arange((2, 3, 4), np.int32)
    x = vnp.asarray(x_np)
    for dims in [(0,), (2,), (0, 2), (0, 1, 2), ()]:
        assert_same(lax.rev(x, dims), np.flip(x_np, dims))
        assert shares_memory(x, lax.rev(x, dims))
    with pytest.raises(ValueError):
        lax.rev(x, (3,))


def test_lax_concatenate_errors_name_the_shapes():
    a, b = vnp.zeros((2, 3)), vnp.zeros((4, 4))
    with pytest.raises(ShapeError, match=r"\[\(2, 3\), \(4, 4\)\].*axis 0"):
        lax.concatenate([a, b], 0)
    with pytest.raises(ShapeError, match=r"\(2, 3\).*\(3,\)"):
        lax.concatenate([a, vnp.zeros(3)], 0)
    with pytest.raises(ShapeError, match="out of range"):
        lax.concatenate([a, a], 2)
    with pytest.raises(DtypeError, match="dtype"):
        lax.concatenate([a, vnp.zeros((2, 3), dtype=vnp.int32)], 0)
    assert_same(
        lax.concatenate([a, vnp.ones((1, 3))], 0),
        np.r_[np.zeros((2, 3)), np.ones((1, 3))],
        dtype=np.float32,
    )
