"""lax.conv_general_dilated, conv, conv_transpose and reduce_window against float64 references,
through grad, vmap and jit; both kernel strategies (direct loops, packed tiles for BLAS)."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vfunc
import vfunc.numpy as vnp
from vfunc import lax
from vfunc.primitives import conv_kernels
from vfunc.primitives.conv_kernels import ConvParams
from vfunc.testing import check_grads

from references import conv as cref

F32_TOL = {"rtol": 2e-5, "atol": 2e-5}
F64_TOL = {"rtol": 1e-10, "atol": 1e-10}


def _rand(rng, shape, dtype=np.float32):
    return rng.normal(size=shape).astype(dtype)


@st.composite
def conv_problems(draw):
    """A valid convolution: shapes and every parameter, kept small."""
    nsp = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 3))
    cg, og = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    n = draw(st.integers(1, 3))
    max_in = {1: 9, 2: 7, 3: 5}[nsp]
    sizes, ks, strides, lds, rds, pads = [], [], [], [], [], []
    for _ in range(nsp):
        size, k = draw(st.integers(1, max_in)), draw(st.integers(1, 3))
        s, ld, rd = draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
        lo, hi = draw(st.integers(-1, 2)), draw(st.integers(-1, 2))
        span_in = (size - 1) * ld + 1 + lo + hi
        if span_in < (k - 1) * rd + 1:
            lo = hi = (k - 1) * rd  # always enough room
        sizes.append(size), ks.append(k), strides.append(s), lds.append(ld), rds.append(rd)
        pads.append((lo, hi))
    return {
        "x": (n, cg * groups, *sizes),
        "w": (og * groups, cg, *ks),
        "params": (tuple(strides), tuple(pads), tuple(lds), tuple(rds), groups),
    }


@settings(max_examples=40, deadline=None)
@given(problem=conv_problems(), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2**16))  # fmt: skip
def test_conv_and_gradients_match_reference(problem, dtype, seed):
    rng = np.random.default_rng(seed)
    x, w = _rand(rng, problem["x"], dtype), _rand(rng, problem["w"], dtype)
    strides, pads, lds, rds, groups = problem["params"]
    ref = cref.conv(x, w, *problem["params"])
    tol = F32_TOL if dtype == np.float32 else F64_TOL

    def f(x, w):
        return lax.conv_general_dilated(x, w, strides, pads, lds, rds, feature_group_count=groups)

    with _x64(dtype == np.float64):
        y, pullback = vfunc.vjp(f, vnp.asarray(x), vnp.asarray(w))
        assert y.dtype == dtype
        np.testing.assert_allclose(np.asarray(y), ref, **tol)
        g = _rand(rng, ref.shape, dtype)
        dx, dw = pullback(vnp.asarray(g))
    rdx, rdw = cref.conv_vjp(x, w, g, *problem["params"])
    np.testing.assert_allclose(np.asarray(dx), rdx, **tol)
    np.testing.assert_allclose(np.asarray(dw), rdw, **tol)


@contextlib.contextmanager
def _x64(on: bool):
    previous = vfunc.config.enable_x64
    vfunc.config.update("enable_x64", on or previous)
    try:
        yield
    finally:
        vfunc.config.update("enable_x64", previous)


BLAS_CASES = [  # (x shape, w shape, strides, padding, lhs_dil, rhs_dil, groups)
    ((2, 8, 9, 10), (32, 8, 3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), (1, 1), 1),
    ((3, 6, 11, 9), (32, 3, 3, 2), (2, 3), ((2, 0), (1, 2)), (1, 1), (2, 1), 2),
    ((2, 4, 5, 6), (16, 4, 3, 3), (1, 1), ((2, 2), (2, 2)), (2, 2), (1, 1), 1),
    ((2, 8, 4, 5, 6), (16, 8, 2, 2, 2), (1, 2, 1), ((1, 0), (0, 1), (1, 1)), (1, 1, 1),
     (1, 1, 2), 1),
    ((3, 16, 13), (16, 16, 3), (2,), ((1, 1),), (1,), (1,), 1),
]  # fmt: skip


@pytest.mark.parametrize("tile_bytes", [1 << 22, 2048], ids=["whole_images", "row_tiles"])
@pytest.mark.parametrize("case", BLAS_CASES, ids=lambda c: f"{c[0]}x{c[1]}")
def test_packed_blas_path_matches_reference(case, tile_bytes, monkeypatch):
    monkeypatch.setattr(conv_kernels, "MAX_TILE_BYTES", tile_bytes)
    monkeypatch.setattr(conv_kernels, "MIN_TILE_BYTES", min(tile_bytes, 1 << 18))
    xs, ws, *params = case
    cp = ConvParams.of(*params)
    rng = np.random.default_rng(len(xs))
    x, w = _rand(rng, xs), _rand(rng, ws)
    assert conv_kernels._use_blas(ws[0] // params[-1], ws[1], int(np.prod(ws[2:])))
    y = conv_kernels.conv_forward(x, w, cp)
    np.testing.assert_allclose(y, cref.conv(x, w, *params), **F32_TOL)
    g = _rand(rng, y.shape)
    rdx, rdw = cref.conv_vjp(x, w, g, *params)
    np.testing.assert_allclose(conv_kernels.conv_input_grad(g, w, xs, cp), rdx, **F32_TOL)
    np.testing.assert_allclose(conv_kernels.conv_weight_grad(x, g, ws, cp), rdw, rtol=1e-4,
                               atol=1e-4)  # fmt: skip


def test_layouts_nhwc_hwio_and_dimension_number_forms_agree():
    rng = np.random.default_rng(1)
    x, w = _rand(rng, (2, 3, 7, 6)), _rand(rng, (4, 3, 3, 2))
    want = lax.conv_general_dilated(x, w, (2, 1), "SAME")
    x_nhwc, w_hwio = np.transpose(x, (0, 2, 3, 1)), np.transpose(w, (2, 3, 1, 0))
    got = lax.conv_general_dilated(x_nhwc, w_hwio, (2, 1), "SAME",
                                   dimension_numbers=("NHWC", "HWIO", "NHWC"))  # fmt: skip
    np.testing.assert_allclose(np.transpose(np.asarray(got), (0, 3, 1, 2)), want, **F32_TOL)
    dn = lax.conv_dimension_numbers(x_nhwc.shape, w_hwio.shape, ("NHWC", "HWIO", "NCHW"))
    assert dn == lax.ConvDimensionNumbers((0, 3, 1, 2), (3, 2, 0, 1), (0, 1, 2, 3))
    got2 = lax.conv_general_dilated(x_nhwc, w_hwio, (2, 1), "SAME", dimension_numbers=dn)
    np.testing.assert_allclose(got2, want, **F32_TOL)


def test_same_padding_and_conv():
    rng = np.random.default_rng(2)
    x, w = _rand(rng, (1, 2, 7, 8)), _rand(rng, (3, 2, 3, 4))
    y = lax.conv(x, w, (2, 3), "SAME")
    assert y.shape == (1, 3, 4, 3)  # ceil(7/2), ceil(8/3)
    pads = lax.padtype_to_pads((7, 8), (3, 4), (2, 3), "SAME")
    np.testing.assert_allclose(y, cref.conv(x, w, (2, 3), pads, (1, 1), (1, 1), 1), **F32_TOL)
    assert lax.conv(x, w, (1, 1), "VALID").shape == (1, 3, 5, 5)


def test_batch_group_count_matches_split_reference():
    rng = np.random.default_rng(3)
    x, w = _rand(rng, (4, 3, 6, 5)), _rand(rng, (6, 3, 2, 2))
    y = lax.conv_general_dilated(x, w, (1, 1), "VALID", batch_group_count=2)
    assert y.shape == (2, 6, 5, 4)
    p = ((1, 1), ((0, 0), (0, 0)), (1, 1), (1, 1), 1)
    want = np.concatenate([cref.conv(x[:2], w[:3], *p), cref.conv(x[2:], w[3:], *p)], axis=1)
    np.testing.assert_allclose(y, want, **F32_TOL)
    check_grads(
        lambda x, w: lax.conv_general_dilated(x, w, (1, 1), "VALID", batch_group_count=2),
        (x[:, :, :3, :3], w), order=1,
    )  # fmt: skip


def test_conv_transpose_is_the_gradient_of_a_strided_conv():
    rng = np.random.default_rng(4)
    x = _rand(rng, (2, 8, 8, 3))  # NHWC
    w = _rand(rng, (3, 3, 3, 5))  # HWIO: 3 in, 5 out
    dn = ("NHWC", "HWIO", "NHWC")

    def f(x):
        return lax.conv_general_dilated(x, w, (2, 2), "SAME", dimension_numbers=dn)

    y, pullback = vfunc.vjp(f, x)
    g = _rand(rng, y.shape)
    (want,) = pullback(g)
    got = lax.conv_transpose(g, w, (2, 2), "SAME", dimension_numbers=dn, transpose_kernel=True)
    np.testing.assert_allclose(got, want, **F32_TOL)
    # Without kernel transposition: a convolution of the stride-dilated input.
    plain = lax.conv_transpose(g, np.transpose(w, (0, 1, 3, 2)), (2, 2), "VALID")
    pads = [(2, 2), (2, 2)]
    ref = cref.conv(np.transpose(g, (0, 3, 1, 2)), np.transpose(w, (2, 3, 0, 1)),
                    (1, 1), pads, (2, 2), (1, 1), 1)  # fmt: skip
    np.testing.assert_allclose(np.transpose(np.asarray(plain), (0, 3, 1, 2)), ref, **F32_TOL)


def test_conv_second_order_gradients():
    rng = np.random.default_rng(5)
    x, w = _rand(rng, (2, 4, 5, 4)), _rand(rng, (4, 2, 2, 3))

    def f(x, w):
        return lax.conv_general_dilated(x, w, (2, 1), ((1, 0), (1, 1)), (1, 2), (2, 1),
                                        feature_group_count=2)  # fmt: skip

    check_grads(f, (x, w), order=2, atol=1e-4, rtol=1e-4)


def test_vmap_of_conv_and_its_gradient_match_a_loop():
    rng = np.random.default_rng(6)
    xs, ws = _rand(rng, (3, 2, 4, 6, 5)), _rand(rng, (3, 6, 2, 3, 3))

    def f(x, w):
        return lax.conv_general_dilated(x, w, (1, 2), "SAME", feature_group_count=2)

    for in_axes in [(0, 0), (0, None), (None, 0)]:
        xb = xs if in_axes[0] == 0 else xs[0]
        wb = ws if in_axes[1] == 0 else ws[0]
        got = vfunc.vmap(f, in_axes=in_axes)(xb, wb)
        want = np.stack([f(xs[i] if in_axes[0] == 0 else xb,
                           ws[i] if in_axes[1] == 0 else wb) for i in range(3)])  # fmt: skip
        np.testing.assert_allclose(got, want, **F32_TOL)
    loss = vfunc.grad(lambda x, w: (f(x, w) ** 2).sum(), argnums=(0, 1))
    gx, gw = vfunc.vmap(loss)(xs, ws)
    for i in range(3):
        wx, ww = loss(xs[i], ws[i])
        np.testing.assert_allclose(gx[i], wx, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(gw[i], ww, rtol=1e-4, atol=1e-4)


def test_jit_of_conv_gradient_equals_eager():
    rng = np.random.default_rng(7)
    x, w = _rand(rng, (2, 3, 8, 8)), _rand(rng, (4, 3, 3, 3))

    def loss(x, w):
        y = lax.conv(x, w, (1, 1), "SAME")
        return lax.reduce_window(y, -np.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID").sum()

    grad = vfunc.grad(loss, argnums=(0, 1))
    for got, want in zip(vfunc.jit(grad)(x, w), grad(x, w), strict=True):
        np.testing.assert_array_equal(got, want)


# ----------------------------------------------------------------------------------------------
# reduce_window


@settings(max_examples=25, deadline=None)
@given(
    shape=st.lists(st.integers(1, 6), min_size=1, max_size=3),
    data=st.data(),
    kind=st.sampled_from(["max", "sum"]),
)
def test_reduce_window_matches_reference(shape, data, kind):
    nd = len(shape)
    win = [data.draw(st.integers(1, 3)) for _ in range(nd)]
    strides = [data.draw(st.integers(1, 3)) for _ in range(nd)]
    wdil = [data.draw(st.integers(1, 2)) for _ in range(nd)]
    pads = []
    for n, k, d in zip(shape, win, wdil, strict=True):
        lo, hi = data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2))
        if n + lo + hi < (k - 1) * d + 1:
            hi = (k - 1) * d + 1 - n - lo
        pads.append((lo, hi))
    x = np.random.default_rng(sum(shape)).normal(size=shape).astype(np.float32)
    op = lax.max if kind == "max" else lax.add
    init = -np.inf if kind == "max" else 0.0
    got = lax.reduce_window(x, init, op, win, strides, pads, window_dilation=wdil)
    want = cref.reduce_window(kind, x, win, strides, pads, window_dilation=wdil)
    np.testing.assert_allclose(got, want, **F32_TOL)


def test_pooling_layouts_strings_and_gradients():
    rng = np.random.default_rng(8)
    x = _rand(rng, (2, 5, 6, 3))  # NHWC
    got = lax.reduce_window(x, -np.inf, lax.max, (1, 3, 3, 1), (1, 2, 2, 1), "SAME")
    pads = lax.padtype_to_pads(x.shape, (1, 3, 3, 1), (1, 2, 2, 1), "SAME")
    assert got.shape == (2, 3, 3, 3)
    np.testing.assert_allclose(got, cref.reduce_window("max", x, (1, 3, 3, 1), (1, 2, 2, 1), pads))

    def avg_pool(x):
        return lax.reduce_window(x, 0.0, lax.add, (1, 2, 2, 1), (1, 1, 1, 1), "VALID") / 4.0

    def max_pool(x):
        return lax.reduce_window(x, -np.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")

    check_grads(avg_pool, (x,), order=2)
    check_grads(max_pool, (x,), order=2)
    vm = vfunc.vmap(max_pool, in_axes=3, out_axes=3)(np.stack([x, -x], axis=3))
    np.testing.assert_array_equal(vm, np.stack([max_pool(x), max_pool(-x)], axis=3))


def test_max_pool_gradient_goes_to_the_first_maximum():
    x = np.array([[1.0, 3.0, 3.0, 0.0]], np.float32)
    g = vfunc.grad(lambda x: lax.reduce_window(x, -np.inf, lax.max, (1, 2), (1, 2), "VALID").sum())
    np.testing.assert_array_equal(g(x), [[0.0, 1.0, 1.0, 0.0]])
    g3 = vfunc.grad(lambda x: lax.reduce_window(x, -np.inf, lax.max, (1, 3), (1, 1), "VALID").sum())
    np.testing.assert_array_equal(g3(x), [[0.0, 2.0, 0.0, 0.0]])


# ----------------------------------------------------------------------------------------------
# Bad input

_X, _W = np.zeros((2, 4, 6, 6), np.float32), np.zeros((8, 4, 3, 3), np.float32)

BAD = {
    "channels": (lambda: lax.conv(_X, np.zeros((8, 3, 3, 3), np.float32), (1, 1), "VALID"),
                 r"channel mismatch.*\(2, 4, 6, 6\).*\(8, 3, 3, 3\)"),
    "kernel_too_big": (lambda: lax.conv(_X, np.zeros((8, 4, 7, 3), np.float32), (1, 1), "VALID"),
                       r"larger than the padded input.*\(2, 4, 6, 6\)"),
    "stride": (lambda: lax.conv(_X, _W, (0, 1), "VALID"), r"window_strides must be positive"),
    "rhs_dilation": (lambda: lax.conv_general_dilated(_X, _W, (1, 1), "VALID",
                                                      rhs_dilation=(1, -1)),
                     r"rhs_dilation must be positive"),
    "lhs_dilation": (lambda: lax.conv_general_dilated(_X, _W, (1, 1), "VALID",
                                                      lhs_dilation=(0, 1)),
                     r"lhs_dilation must be positive"),
    "groups": (lambda: lax.conv_general_dilated(_X, np.zeros((8, 2, 3, 3), np.float32), (1, 1),
                                                "VALID", feature_group_count=3),
               r"feature_group_count=3 must divide.*4.*\(2, 4, 6, 6\)"),
    "rank": (lambda: lax.conv(_X, np.zeros((8, 4, 3), np.float32), (1, 1), "VALID"),
             r"same rank"),
    "padding": (lambda: lax.conv(_X, _W, (1, 1), "FULL"), r"padding must be"),
    "same_with_lhs_dilation": (lambda: lax.conv_general_dilated(_X, _W, (1, 1), "SAME",
                                                                lhs_dilation=(2, 2)),
                               r"string padding 'SAME' is not supported with lhs_dilation"),
    "window": (lambda: lax.reduce_window(_X, 0.0, lax.add, (1, 1, 0, 2), (1, 1, 1, 1), "VALID"),
               r"window_dimensions must be positive"),
    "window_too_big": (lambda: lax.reduce_window(_X, 0.0, lax.add, (1, 1, 9, 2), (1, 1, 1, 1),
                                                 "VALID"), r"larger than the padded operand"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_input_raises_value_error_naming_the_parameter(name):
    fn, pattern = BAD[name]
    with pytest.raises(ValueError, match=pattern):
        fn()


def test_convolution_leaves_the_process_blas_thread_count_alone():
    # Single-threaded BLAS inside the conv worker pool must not leak into later products.
    controls = conv_kernels._openblas_thread_controls()
    if controls is None:
        pytest.skip("numpy is not linked to a recognised OpenBLAS")
    get, _ = controls
    before = get()
    rng = np.random.default_rng(11)
    x = rng.normal(size=(4, 32, 12, 12)).astype(np.float32)  # the packed-slab BLAS path
    w = rng.normal(size=(32, 32, 3, 3)).astype(np.float32)
    lax.conv_general_dilated(x, w, (1, 1), "SAME")
    assert get() == before
