"""The conv kernel package's own contract, below the primitives: every kernel family accepts
read-only operands (vfunc's arrays are read-only) and agrees with the float64 reference, and
plans are built once per problem and cannot be changed."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from vfunc.primitives import conv_kernels, window_kernels
from vfunc.primitives.conv_kernels import direct, threads
from vfunc.primitives.conv_kernels.plan import ConvParams, conv_plan
from vfunc.primitives.window_kernels import WindowParams

from references import conv as cref

TOL = {"rtol": 1e-4, "atol": 1e-4}

# name: (x shape, w shape, strides, padding, lhs_dil, rhs_dil, groups), one per kernel family
FAMILIES = {
    "direct_tables": ((2, 3, 7, 6), (4, 3, 3, 2), (2, 1), ((1, 0), (1, 1)), (1, 1), (1, 1), 1),
    "direct_tables_lhs_dilated": ((2, 2, 5, 5), (2, 1, 3, 3), (1, 1), ((2, 2), (2, 2)), (2, 2),
                                  (1, 2), 2),
    "direct_grid": ((2, 4, 8, 7), (4, 4, 3, 3), (1, 1), ((1, 1), (1, 2)), (1, 1), (2, 1), 1),
    "packed_contiguous_rows": ((2, 8, 9, 10), (32, 8, 3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1),
                               (1, 1), 1),
    "packed_col2im": ((3, 6, 11, 9), (32, 3, 3, 2), (2, 3), ((2, 0), (1, 2)), (1, 1), (2, 1), 2),
    "packed_lhs_dilated": ((2, 4, 5, 6), (16, 4, 3, 3), (1, 1), ((2, 2), (2, 2)), (2, 2), (1, 1),
                           1),
    # Small output planes: slabs of whole images (one slab, or several with tiny budgets below).
    "packed_images": ((5, 8, 6, 5), (32, 8, 3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), (1, 1), 1),
    "packed_images_strided_grouped": ((4, 6, 9, 8), (32, 3, 3, 2), (2, 3), ((2, 0), (1, 2)),
                                      (1, 1), (2, 1), 2),
    "packed_images_lhs_dilated": ((3, 4, 4, 3), (16, 4, 3, 3), (1, 1), ((2, 2), (2, 2)), (2, 2),
                                  (1, 1), 1),
}  # fmt: skip


def _read_only(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.flags.writeable = False
    return a


def _family(plan) -> str:
    if conv_kernels._use_blas(plan.og, plan.cg, plan.taps):
        if conv_kernels._images_per_slab(plan, np.dtype(np.float32)):
            return "packed_images"
        return "packed_contiguous_rows" if plan.contiguous_rows else "packed"
    return "direct_grid" if plan.grid is not None else "direct_tables"


@pytest.fixture(autouse=True)
def _row_slabs_for_small_planes(request, monkeypatch):
    # The cases are small so the checks stay fast: the row-slab families see them only below
    # the threshold at which whole-image slabs take over.
    if "image" not in request.node.name:
        monkeypatch.setattr(conv_kernels, "IMAGE_SLAB_PIXELS", 1)


# Every family as it runs these small cases (the direct ones serially), and the direct family's
# parallel builds too (the packed family's threading is the pool's: test_conv_implicit).
THREADINGS = [(name, "serial") for name in sorted(FAMILIES)] + [
    (name, "parallel") for name in sorted(FAMILIES) if name.startswith("direct")
]


@pytest.mark.parametrize(("name", "threading"), THREADINGS)
def test_each_family_takes_read_only_operands_and_matches_reference(name, threading,
                                                                    monkeypatch):  # fmt: skip
    xs, ws, *params = FAMILIES[name]
    if threading == "parallel":  # these small cases run serially by default
        monkeypatch.setattr(direct, "SERIAL_MACS", 0)
    cp = ConvParams.of(*params)
    plan = conv_plan(xs, ws, cp)
    assert name.startswith(_family(plan)), "the case no longer reaches the family it names"
    assert (direct._macs(plan) >= direct.SERIAL_MACS) == (threading == "parallel")
    rng = np.random.default_rng(sum(xs))
    x, w = (_read_only(rng.normal(size=s).astype(np.float32)) for s in (xs, ws))
    y = conv_kernels.conv_forward(x, w, cp)
    np.testing.assert_allclose(y, cref.conv(x, w, *params), **TOL)
    g = _read_only(rng.normal(size=y.shape).astype(np.float32))
    rdx, rdw = cref.conv_vjp(x, w, g, *params)
    np.testing.assert_allclose(conv_kernels.conv_input_grad(g, w, xs, cp), rdx, **TOL)
    np.testing.assert_allclose(conv_kernels.conv_weight_grad(x, g, ws, cp), rdw, **TOL)


def test_plan_is_built_once_and_is_immutable():
    params = ConvParams((2, 1), ((1, 0), (1, 1)), (1, 1), (1, 1), 1)
    plan = conv_plan((2, 3, 7, 6), (4, 3, 3, 2), params)
    listed = ConvParams([2, 1], [[1, 0], [1, 1]], [1, 1], [1, 1], 1)  # normalised by conv_plan
    assert conv_plan([2, 3, 7, 6], [4, 3, 3, 2], listed) is plan
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.groups = 2  # type: ignore[misc]
    for table in (plan.tables.d, plan.tables.h, plan.tables.w, plan.tables.w_lo):
        with pytest.raises(ValueError, match="read-only"):
            table[0] = 7


@pytest.mark.parametrize("threading", ["inline", "pool"])
def test_pooling_kernels_take_read_only_operands_and_match_reference(threading, monkeypatch):
    if threading == "pool":  # small planes run inline by default
        monkeypatch.setattr(threads, "INLINE_PLANE_ELEMENTS", 0)
    rng = np.random.default_rng(5)
    x = _read_only(rng.normal(size=(2, 3, 7, 6)).astype(np.float32))
    win = ((1, 1, 3, 2), (1, 1, 2, 1), ((0, 0), (0, 0), (1, 1), (0, 1)), (1,) * 4, (1,) * 4)
    for kind in ("max", "sum"):
        got = window_kernels.window_reduce(kind, x, WindowParams.of(*win))
        np.testing.assert_allclose(got, cref.reduce_window(kind, x, *win[:3]), **TOL)
    g = _read_only(rng.normal(size=got.shape).astype(np.float32))
    t = _read_only(rng.normal(size=x.shape).astype(np.float32))
    scattered = window_kernels.window_select(True, g, x, WindowParams.of(*win))
    np.testing.assert_allclose(scattered, cref.window_argmax_vjp(g, x, *win[:3]), **TOL)
    gathered = window_kernels.window_select(False, t, x, WindowParams.of(*win))
    want = cref.window_argmax_gather(t, x, *win[:3], got.shape)
    np.testing.assert_allclose(gathered, want, **TOL)
    # The windowed sum's transpose: <sum_window(e_i), g> for every unit input e_i.
    want = np.zeros(x.shape)
    for i in np.ndindex(*x.shape):
        e = np.zeros(x.shape)
        e[i] = 1
        want[i] = (cref.reduce_window("sum", e, *win[:3]) * g).sum()
    got_t = window_kernels.window_sum_transpose(g, x.shape, WindowParams.of(*win))
    np.testing.assert_allclose(got_t, want, **TOL)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("budget", ["one_slab", "four_slabs", "one_image_per_slab"])
@pytest.mark.parametrize("name", ["packed_images", "packed_images_strided_grouped"])
def test_image_slabs_match_reference_whatever_the_split(name, budget, dtype, monkeypatch):
    # One inline slab by default; a problem over INLINE_MACS is cut into IMAGE_SLABS slabs; a
    # tiny workspace budget leaves one image per slab (the last slab is shorter for 5 images).
    if budget != "one_slab":
        monkeypatch.setattr(conv_kernels, "INLINE_MACS", 0)
    if budget == "one_image_per_slab":
        monkeypatch.setattr(conv_kernels, "MAX_TILE_BYTES", 1)
    xs, ws, *params = FAMILIES[name]
    cp = ConvParams.of(*params)
    plan = conv_plan(xs, ws, cp)
    images = conv_kernels._images_per_slab(plan, np.dtype(dtype))
    assert images == {"one_slab": xs[0], "four_slabs": -(-xs[0] // 4),
                      "one_image_per_slab": 1}[budget]  # fmt: skip
    rng = np.random.default_rng(3)
    x, w = (_read_only(rng.normal(size=s).astype(dtype)) for s in (xs, ws))
    tol = TOL if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}
    y = conv_kernels.conv_forward(x, w, cp)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, cref.conv(x, w, *params), **tol)
    g = _read_only(rng.normal(size=y.shape).astype(dtype))
    rdx, rdw = cref.conv_vjp(x, w, g, *params)
    np.testing.assert_allclose(conv_kernels.conv_input_grad(g, w, xs, cp), rdx, **tol)
    np.testing.assert_allclose(conv_kernels.conv_weight_grad(x, g, ws, cp), rdw, **tol)


def test_image_slabs_only_for_small_planes_on_the_blas_path():
    same = ConvParams.of((1, 1), ((1, 1), (1, 1)), (1, 1), (1, 1), 1)
    f32 = np.dtype(np.float32)
    digits = conv_plan((64, 32, 4, 4), (64, 32, 3, 3), same)  # the digits CNN's second conv
    assert conv_kernels._images_per_slab(digits, f32) == 64  # one inline slab
    assert conv_kernels._images_per_slab(conv_plan((8, 32, 16, 16), (32, 32, 3, 3), same),
                                         f32) == 0  # 256-pixel planes: implicit GEMM
    assert conv_kernels._images_per_slab(conv_plan((8, 32, 31, 31), (32, 32, 3, 3), ConvParams.of(
        (2, 2), ((1, 1), (1, 1)), (1, 1), (1, 1), 1)), f32) == 0  # 16x16 strided: row slabs


@pytest.mark.parametrize("window", [(2, 2), (3, 2), (1, 3)])
@pytest.mark.parametrize("spatial", [(8, 6), (7, 7)], ids=["exact", "remainder"])
def test_tiled_pooling_matches_reference_with_ties_nans_and_infinities(window, spatial):
    # Windows as large as their strides (MaxPool2d(2)) take the tiled kernels; rows/columns
    # that no window covers (7 = 3 * 2 + 1) get a zero cotangent.
    rng = np.random.default_rng(7)
    x = rng.integers(-2, 3, size=(3, 2, *spatial)).astype(np.float32)  # many ties
    x[0, 0, 0, :3] = np.nan
    x[1, 1, :2, :2] = -np.inf
    x[2, 0, 1, 1] = np.inf
    win = ((1, 1, *window), (1, 1, *window), ((0, 0),) * 4, (1,) * 4, (1,) * 4)
    params = WindowParams.of(*win)
    assert window_kernels.window_plan(x.shape, params).tiled == window
    x = _read_only(x)
    y = window_kernels.window_reduce("max", x, params)
    np.testing.assert_array_equal(y, cref.reduce_window("max", x, *win[:3]))
    g = _read_only(rng.normal(size=y.shape).astype(np.float32))
    got = window_kernels.window_select(True, g, x, params)
    np.testing.assert_array_equal(got, cref.window_argmax_vjp(g, x, *win[:3]))


def test_pooling_with_padding_or_overlap_is_not_tiled():
    for win in [((1, 1, 2, 2), (1, 1, 1, 1), ((0, 0),) * 4),
                ((1, 1, 2, 2), (1, 1, 2, 2), ((0, 0), (0, 0), (1, 0), (0, 0)))]:  # fmt: skip
        params = WindowParams.of(*win, (1,) * 4, (1,) * 4)
        assert window_kernels.window_plan((2, 3, 6, 6), params).tiled is None
