"""VJP and JVP rules of the movement, indexing and sorting primitives against finite differences.

Every check runs in float64 with tight tolerances: movement ops are linear (or piecewise
polynomial), so central differences are exact up to rounding and a wrong index shows at once.
"""

from __future__ import annotations

import numpy as np
import pytest

import vfunc
import vfunc.numpy as vnp
from vfunc import lax
from vfunc.core import registry
from vfunc.testing import check_grads

TOL = dict(atol=1e-8, rtol=1e-6)


@pytest.fixture(autouse=True)
def _x64(x64):
    """Every test here runs in float64."""


def randn(rng, *shape):
    return vnp.asarray(rng.standard_normal(shape))


def ints(values):
    return vnp.asarray(np.asarray(values, dtype=np.int64))


def check(f, *args, order=2):
    """<c, J t> by central differences == <vjp(c), t>, jvp == J t; then the same for the
    derivative functions (grad of grad, jvp of vjp, ...) when order is 2."""
    check_grads(f, args, order=order, modes=("fwd", "rev"), **TOL)


def grad_of_sum(f, x, weights=None):
    w = np.ones(np.shape(f(x))) if weights is None else weights
    return np.asarray(vfunc.grad(lambda v: (f(v) * vnp.asarray(w)).sum())(x))


# ----------------------------------------------------------------------------------------------
# shape.py


@pytest.mark.parametrize(
    "in_shape, shape, dims",
    [((3, 1), (2, 3, 4), (1, 2)), ((), (2, 3), ()), ((1, 1), (1, 5), (0, 1)), ((4,), (4, 2), (0,))],
    ids=str,
)
def test_broadcast_in_dim(rng, in_shape, shape, dims):
    check(lambda x: lax.broadcast_in_dim(x, shape, dims), randn(rng, *in_shape))


def test_reshape_transpose_squeeze_expand_dims(rng):
    x = randn(rng, 2, 3, 4)
    check(lambda v: lax.reshape(v, (4, 6)), x)
    check(lambda v: lax.reshape(v, (6, 4), dimensions=(2, 0, 1)), x)
    check(lambda v: lax.transpose(v, (2, 0, 1)), x)
    check(lambda v: lax.squeeze(v, (0, 2)), randn(rng, 1, 3, 1))
    check(lambda v: lax.expand_dims(v, (0, 3)), randn(rng, 2, 3))
    # A non-identity permutation whose inverse differs from itself catches a missing argsort.
    g = vfunc.vjp(lambda v: lax.transpose(v, (1, 2, 0)), x)[1](lax.transpose(x, (1, 2, 0)))[0]
    np.testing.assert_array_equal(np.asarray(g), np.asarray(x))


@pytest.mark.parametrize(
    "start, limit, strides",
    [((1, 0), (4, 5), None), ((0, 1), (5, 5), (2, 3)), ((1, 2), (4, 2), (2, 1)),
     ((4, 4), (5, 5), (3, 3))],
    ids=["unit", "strided", "empty", "last-element"],
)  # fmt: skip
def test_slice(rng, start, limit, strides):
    check(lambda v: lax.slice(v, start, limit, strides), randn(rng, 5, 5))


def test_rev_and_concatenate(rng):
    check(lambda v: lax.rev(v, (0, 2)), randn(rng, 2, 3, 4))
    a, b, c = randn(rng, 2, 1), randn(rng, 2, 3), randn(rng, 2, 2)
    check(lambda x, y, z: lax.concatenate([x, y, z], 1), a, b, c)
    # Forward mode with a constant operand (a None tangent) in the middle.
    const = randn(rng, 2, 3)
    _, t = vfunc.jvp(lambda x: lax.concatenate([x, const, x], 1), (a,), (vnp.ones((2, 1)),))
    np.testing.assert_array_equal(np.asarray(t)[:, [0, 4]], 1.0)
    np.testing.assert_array_equal(np.asarray(t)[:, 1:4], 0.0)


@pytest.mark.parametrize(
    "config",
    [((1, 2, 0), (0, 0, 0)), ((-1, 1, 0), (2, -2, 0)), ((1, -2, 2), (0, 1, 1)),
     ((-2, -1, 1), (-1, -3, 3)), ((0, 0, 0), (3, 0, 0))],
    ids=["edges", "negative", "interior", "negative-interior", "one-side"],
)  # fmt: skip
def test_pad(rng, config):
    check(lambda v, p: lax.pad(v, p, config), randn(rng, 3, 4), vnp.asarray(0.7))


def test_pad_value_cotangent_counts_padded_positions():
    x = vnp.ones((2, 3))
    config = ((1, -1, 0), (0, 2, 1))  # rows: +1 pad, -1 crop; cols: 2 interior holes, 2 high
    g_x, g_value = vfunc.grad(lambda v, p: lax.pad(v, p, config).sum(), argnums=(0, 1))(x, 0.0)
    out = lax.pad(x, 0.0, config)
    assert float(g_value) == out.size - float(out.sum())
    np.testing.assert_array_equal(np.asarray(g_x), [[1, 1, 1], [0, 0, 0]])


@pytest.mark.parametrize(
    "starts",
    [(1, 2), (3, 9), (-1, 0), (-9, -2), (100, -100)],
    ids=["inside", "clamped-high", "negative", "far-negative", "both-out"],
)
def test_dynamic_slice_with_clamped_starts(rng, starts):
    x = randn(rng, 5, 6)
    idx = [ints(s) for s in starts]
    check(lambda v: lax.dynamic_slice(v, idx, (2, 3)), x)
    # The cotangent lands where the (clamped) forward window was read.
    g = grad_of_sum(lambda v: lax.dynamic_slice(v, idx, (2, 3)), x)
    window = np.asarray(lax.dynamic_slice(vnp.arange(30.0).reshape(5, 6), idx, (2, 3)))
    expected = np.zeros(30)
    expected[window.astype(int).ravel()] = 1
    np.testing.assert_array_equal(g.ravel(), expected)


@pytest.mark.parametrize("starts", [(1, 2), (4, 5), (-2, -9)], ids=str)
def test_dynamic_update_slice_with_clamped_starts(rng, starts):
    idx = [ints(s) for s in starts]
    check(lambda v, u: lax.dynamic_update_slice(v, u, idx), randn(rng, 4, 5), randn(rng, 2, 3))


def test_iota_is_a_constant():
    assert registry["iota"].differentiable is False
    f = lambda x: (x * lax.iota(x.dtype, 3)).sum()  # noqa: E731
    assert vfunc.grad(f)(vnp.ones(3)).tolist() == [0.0, 1.0, 2.0]


# ----------------------------------------------------------------------------------------------
# indexing.py

ARRAY = lambda k: ("array", k)  # noqa: E731
FULL = lambda n: ("slice", 0, n, 1)  # noqa: E731


# (operand shape, spec, index arrays): duplicates, negative, out of range, slices, newaxis,
# adjacent and separated array entries, broadcast index arrays.
GATHER_CASES = {
    "duplicates": ((5,), (ARRAY(0),), [[0, 3, 3, 0, 3]]),
    "negative-and-out-of-range": ((5,), (ARRAY(0),), [[-1, -5, 7, -8, 2, 4]]),
    "with-slices": ((4, 5, 3), (("slice", 1, 4, 2), ARRAY(0), FULL(3)), [[[4, 0], [9, -1]]]),
    "separated-arrays": ((4, 3, 5), (ARRAY(0), ("newaxis",), FULL(3), ARRAY(1)),
                         [[[1], [1], [-9]], [2, 2, 7]]),
    "adjacent-broadcast": ((3, 4, 2), (FULL(3), ARRAY(0), ARRAY(1)), [[[0], [3], [3]], [1, -1]]),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(GATHER_CASES))
def test_gather(rng, case):
    shape, spec, idx = GATHER_CASES[case]
    indices = [ints(i) for i in idx]
    check(lambda v: lax.gather(v, indices, spec), randn(rng, *shape))


def test_gather_accumulates_duplicates_and_clamps():
    x = vnp.zeros(4)
    g = grad_of_sum(lambda v: lax.gather(v, [ints([0, 0, 2, 9, -1, -9])], (ARRAY(0),)), x)
    np.testing.assert_array_equal(g, [3, 0, 1, 2])  # 0,0,-9->0 | 2 | 9->3, -1->3
    # Through the NumPy front end, with a boolean-free fancy index.
    g = grad_of_sum(lambda v: v[vnp.array([1, 1, 1])], x)
    np.testing.assert_array_equal(g, [0, 3, 0, 0])


SCATTER_CASES = {
    "duplicates-and-dropped": ((5,), (ARRAY(0),), [[1, 3, 1, 9, -1, -7, 3]], (7,)),
    "broadcast-updates": ((4, 3), (ARRAY(0), FULL(3)), [[2, 0, 2, 5]], (1, 3)),
    "scalar-update": ((5,), (ARRAY(0),), [[0, 0, 4]], ()),
    "slices-only": ((4, 5), (("slice", 1, 4, 2), FULL(5)), [], (2, 5)),
    "separated-arrays": ((3, 4, 2), (ARRAY(0), FULL(4), ARRAY(1)), [[0, 2, 0], [1, 1, 1]],
                         (3, 4)),
}  # fmt: skip


@pytest.mark.parametrize("mode", ["set", "add", "mul", "min", "max"])
@pytest.mark.parametrize("case", sorted(SCATTER_CASES))
def test_scatter(rng, case, mode):
    shape, spec, idx, u_shape = SCATTER_CASES[case]
    indices = [ints(i) for i in idx]
    f = lambda v, u: lax.scatter(v, indices, u, spec, mode=mode)  # noqa: E731
    check(f, randn(rng, *shape), randn(rng, *u_shape), order=1 if mode in ("min", "max") else 2)


def test_scatter_set_gives_cotangents_to_winning_updates_only():
    spec = (ARRAY(0),)
    idx = [ints([1, 3, 1, 9, -1])]  # update 0 is overwritten by 2; 3 is dropped; -1 -> 4
    g_x, g_u = vfunc.grad(lambda v, u: (lax.scatter(v, idx, u, spec) * vnp.arange(1.0, 6.0))
                          .sum(), argnums=(0, 1))(vnp.zeros(5), vnp.zeros(5))  # fmt: skip
    np.testing.assert_array_equal(np.asarray(g_x), [1, 0, 3, 0, 0])
    np.testing.assert_array_equal(np.asarray(g_u), [0, 4, 2, 0, 5])


def test_scatter_add_drops_out_of_range_updates():
    idx = [ints([0, 5, -6, 0])]
    g_u = vfunc.grad(lambda u: lax.scatter(vnp.zeros(5), idx, u, (ARRAY(0),), mode="add")
                     .sum())(vnp.ones(4))  # fmt: skip
    np.testing.assert_array_equal(np.asarray(g_u), [1, 0, 0, 1])


def test_scatter_mul_is_exact_with_zeros_and_duplicates():
    idx = [ints([0, 0, 0, 1, 1, 2])]
    x, u = vnp.array([2.0, 3.0, 5.0]), vnp.array([0.0, 4.0, 0.5, 0.0, 0.0, 7.0])
    f = lambda v, w: lax.scatter(v, idx, w, (ARRAY(0),), mode="mul").sum()  # noqa: E731
    g_x, g_u = vfunc.grad(f, argnums=(0, 1))(x, u)
    np.testing.assert_array_equal(np.asarray(g_x), [0.0, 0.0, 7.0])
    # position 0: 2 * (4 * 0.5) for the zero; position 1 holds two zeros: all 0.
    np.testing.assert_array_equal(np.asarray(g_u), [4.0, 0.0, 0.0, 0.0, 0.0, 5.0])
    check(f, x, u)  # the product is a polynomial: differences are exact even at zeros


def test_scatter_min_max_share_the_cotangent_at_ties():
    idx = [ints([0, 0, 1, 2])]
    x, u = vnp.array([1.0, 5.0, 0.0]), vnp.array([3.0, 3.0, 5.0, -1.0])
    f = lambda v, w: lax.scatter(v, idx, w, (ARRAY(0),), mode="max").sum()  # noqa: E731
    g_x, g_u = vfunc.grad(f, argnums=(0, 1))(x, u)
    np.testing.assert_array_equal(np.asarray(g_x), [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(np.asarray(g_u), [0.5, 0.5, 0.5, 0.0])
    f = lambda v, w: lax.scatter(v, idx, w, (ARRAY(0),), mode="min").sum()  # noqa: E731
    g_x, g_u = vfunc.grad(f, argnums=(0, 1))(x, u)
    np.testing.assert_array_equal(np.asarray(g_x), [1.0, 0.5, 0.0])
    np.testing.assert_array_equal(np.asarray(g_u), [0.0, 0.0, 0.5, 1.0])


def test_at_front_end_gradients(rng):
    x = randn(rng, 4, 3)
    check(lambda v: v.at[vnp.array([0, 2, 0])].add(v[1] * 2.0), x)
    check(lambda v: v.at[1:, vnp.array([2, -3])].set(v[0, :2] ** 2), x)


# ----------------------------------------------------------------------------------------------
# sorting.py


def test_sort_single_operand(rng):
    check(lambda v: lax.sort(v, dimension=0), randn(rng, 5, 3))
    check(lambda v: lax.sort(v, dimension=1), randn(rng, 3, 6))


def test_sort_several_operands_with_tied_keys(rng):
    primary = ints([[2, 1, 2, 1, 0, 2], [0, 0, 0, 0, 0, 0]])  # ties, broken by the float key
    secondary = randn(rng, 2, 6)
    a, b = randn(rng, 2, 6), randn(rng, 2, 6)

    def f(key, x, y):
        return lax.sort([primary, key, x, y], dimension=1, num_keys=2)[1:]

    check(f, secondary, a, b)


def test_sort_with_tied_constant_keys_moves_payload_cotangents_back():
    keys = vnp.array([3.0, 1.0, 3.0, 1.0, 2.0])  # stable: order 1, 3, 4, 0, 2
    weights = np.arange(1.0, 6.0)
    g = grad_of_sum(lambda p: lax.sort([keys, p], num_keys=1)[1], vnp.zeros(5), weights)
    np.testing.assert_array_equal(g, [4, 1, 5, 2, 3])
    g = grad_of_sum(lambda k: lax.sort(k), keys, weights)  # tied values: still a permutation
    np.testing.assert_array_equal(g, [4, 1, 5, 2, 3])


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("axis", [0, 1])
def test_cumsum_and_cumprod(rng, axis, reverse):
    check(lambda v: lax.cumsum(v, axis, reverse), randn(rng, 4, 5))
    check(lambda v: lax.cumprod(v, axis, reverse), randn(rng, 5, 7))


def test_cumprod_is_exact_with_zeros():
    x = vnp.array([2.0, 0.0, 3.0, 0.0, 5.0])
    check(lambda v: lax.cumprod(v, 0), x)
    check(lambda v: lax.cumprod(v, 0, reverse=True), x)
    g = grad_of_sum(lambda v: lax.cumprod(v, 0), x)
    np.testing.assert_array_equal(g, [1, 2 + 6, 0, 0, 0])  # d/dx1 of 2*x1 + 2*x1*3


@pytest.mark.parametrize("name", ["cummax", "cummin"])
@pytest.mark.parametrize("reverse", [False, True])
def test_cummax_cummin(rng, name, reverse):
    op = getattr(lax, name)
    check(lambda v: op(v, 1, reverse), randn(rng, 3, 6), order=1)
    check(lambda v: op(v, 0, reverse) ** 2, randn(rng, 6, 2), order=1)


def test_cummax_ties_go_to_the_newest_attaining_element():
    x = vnp.array([1.0, 3.0, 0.0, 3.0, 2.0, 4.0, 4.0])
    weights = np.array([1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6])
    g = grad_of_sum(lambda v: lax.cummax(v, 0), x, weights)
    np.testing.assert_array_equal(g, [1, 110, 0, 11000, 0, 1e5, 1e6])
    g = grad_of_sum(lambda v: lax.cummin(v, 0, reverse=True), x, weights)
    # running minima from the end: 0, 0, 0, 2, 2, 4, 4; newest in the scan's direction wins
    np.testing.assert_array_equal(g, [0, 0, 111, 0, 11000, 1e5, 1e6])


# ----------------------------------------------------------------------------------------------
# Second order and staging


def test_second_order_through_slice_pad_gather(rng):
    idx = [ints([2, 0, 2, -1])]

    def f(x):
        y = lax.pad(x * x, 0.5, ((1, -1, 1),))
        z = lax.slice(y, (1,), (y.shape[0],), (2,))
        return (lax.gather(z, idx, (ARRAY(0),)) ** 3).sum()

    x = randn(rng, 4)
    check(vfunc.grad(f), x, order=2)
    h = np.asarray(vfunc.hessian(f)(x))
    want = np.asarray(vfunc.jacfwd(vfunc.grad(f))(x))
    np.testing.assert_allclose(h, want, **TOL)


def test_gradients_under_make_jaxpr_match_eager(rng):
    # Traced start index and traced index arrays: the rules must not read index values.
    spec = (ARRAY(0),)

    def f(x, k, idx):
        y = lax.dynamic_slice(lax.cumprod(x, 0), [k], (4,))
        y = lax.scatter(y, [idx], lax.cummax(y, 0)[:3] * 2.0, spec)
        y = lax.scatter(y, [idx], y[1:], spec, mode="mul")
        z = lax.gather(lax.sort(y), [idx], spec) * y[:3]
        return (z + lax.pad(y, 1.0, ((1, -2, 1),))[:3]).sum()

    args = (randn(rng, 6), ints(5), ints([3, -1, 0]))
    jaxpr = vfunc.make_jaxpr(vfunc.grad(f))(*args)
    staged = vfunc.jaxpr.jaxpr_as_fun(jaxpr)(*args)[0]
    np.testing.assert_allclose(np.asarray(staged), np.asarray(vfunc.grad(f)(*args)), rtol=1e-12)
    check(lambda x: f(x, *args[1:]), args[0])


def test_integer_operands_get_no_cotangent(rng):
    x, k = randn(rng, 5), ints(-2)
    out, f_vjp = vfunc.vjp(lambda v, i: lax.dynamic_slice(v, [i], (2,)), x, k)
    ct_x, ct_k = f_vjp(vnp.ones(2))
    assert ct_x.tolist() == [0, 0, 0, 1, 1] and ct_k.shape == () and int(ct_k) == 0


def test_every_movement_primitive_has_rules():
    names = ["broadcast_in_dim", "reshape", "transpose", "squeeze", "expand_dims", "slice",
             "rev", "concatenate", "pad", "dynamic_slice", "dynamic_update_slice", "gather",
             "scatter", "scatter_add", "scatter_mul", "scatter_min", "scatter_max", "sort",
             "cumsum", "cumprod", "cummax", "cummin"]  # fmt: skip
    assert [n for n in names if registry[n].vjp is None] == []
