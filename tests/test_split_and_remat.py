"""The ``split`` primitive (``lax.split``, and ``vnp.split`` where the pieces cover the axis) and
the scan VJP's rebuilt residuals.

``split``'s results are checked against NumPy, its derivatives against float64 central finite
differences (``check_grads``), through ``jit``, ``vmap`` and inside a ``scan``. A scan's VJP no
longer stacks residuals it can rebuild from other residuals by a few elementwise equations
(an LSTM's ``1 - sigmoid(f)``): the LSTM body's residual count is checked, and its gradients
through the scan against finite differences and an unrolled Python loop.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

import vfunc
import vfunc.numpy as vnp
from vfunc import lax
from vfunc.errors import ShapeError
from vfunc.jaxpr import ClosedJaxpr
from vfunc.testing.gradients import check_grads

scan_module = sys.modules["vfunc.control_flow.scan"]


def _primitives(jaxpr) -> list[str]:
    return [e.primitive.name for e in jaxpr.jaxpr.eqns]


# ----------------------------------------------------------------------------------------------
# split


@pytest.mark.parametrize(("shape", "sizes", "axis"), [
    ((6,), (1, 2, 3), 0), ((3, 8), (2, 2, 4), 1), ((3, 8), (3,), 0), ((2, 5, 4), (0, 5), 1),
    ((2, 5, 4), (1, 3), -1),
])  # fmt: skip
def test_split_matches_numpy(rng, shape, sizes, axis):
    x = rng.standard_normal(shape).astype(np.float32)
    got = lax.split(x, sizes, axis)
    want = np.split(x, np.cumsum(sizes)[:-1], axis=axis)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(np.asarray(g), w)


def test_split_bad_sizes_name_the_op():
    with pytest.raises(ShapeError, match=r"split: sizes \(2, 2\) must .* add up to the size 5"):
        lax.split(vnp.ones((3, 5)), (2, 2), 1)
    with pytest.raises(ShapeError, match="split: axis 2 is out of range for rank 2"):
        lax.split(vnp.ones((3, 5)), (1, 2), 2)


def test_vnp_split_is_one_split_equation():
    jx = vfunc.make_jaxpr(lambda x: vnp.split(x, 4, axis=-1))(vnp.ones((2, 8)))
    assert _primitives(jx) == ["split"]
    # Out-of-order points give NumPy's (empty) pieces by slicing.
    x = np.arange(12.0).reshape(3, 4)
    for got, want in zip(vnp.split(x, [3, 1], axis=1), np.split(x, [3, 1], axis=1), strict=True):
        np.testing.assert_array_equal(np.asarray(got), want)
    for got, want in zip(vnp.array_split(x, 3, axis=1), np.array_split(x, 3, axis=1),
                         strict=True):  # fmt: skip
        np.testing.assert_array_equal(np.asarray(got), want)


def _weighted_pieces(x):
    a, b, c = lax.split(x, (1, 2, 3), 1)
    return vnp.sum(vnp.sin(a) * 2.0) + vnp.sum(b * b) + vnp.sum(vnp.tanh(c) * c)


def test_split_derivatives_match_finite_differences(x64, rng):
    x = rng.standard_normal((3, 6))
    check_grads(_weighted_pieces, (x,), order=2, modes=("fwd", "rev"))


def test_split_vjp_is_one_concatenate(x64):
    jx = vfunc.make_jaxpr(vfunc.grad(lambda x: vnp.sum(lax.split(x, (2, 2), 0)[1] ** 2)))(
        vnp.ones(4))
    names = _primitives(jx)
    assert "concatenate" in names and "pad" not in names


def test_split_under_jit_and_vmap(x64, rng):
    x = rng.standard_normal((5, 3, 6))
    per_example = np.stack([np.asarray(vfunc.grad(_weighted_pieces)(xi)) for xi in x])
    np.testing.assert_allclose(np.asarray(vfunc.vmap(vfunc.grad(_weighted_pieces))(x)),
                               per_example, rtol=1e-12)  # fmt: skip
    np.testing.assert_allclose(np.asarray(vfunc.jit(vfunc.vmap(vfunc.grad(_weighted_pieces)))(x)),
                               per_example, rtol=1e-12)  # fmt: skip
    np.testing.assert_allclose(np.asarray(vfunc.grad(vfunc.jit(_weighted_pieces))(x[0])),
                               per_example[0], rtol=1e-12)  # fmt: skip
    # A batch axis after the split axis, and pieces batched along another axis.
    moved = np.moveaxis(x, 0, 2)
    got = vfunc.vmap(lambda xi: lax.split(xi, (4, 2), 1)[1], in_axes=2, out_axes=2)(moved)
    np.testing.assert_array_equal(np.asarray(got), moved[:, 4:, :])


def test_split_inside_scan_gradient(x64, rng):
    w = rng.standard_normal((4, 8)) * 0.5
    xs = rng.standard_normal((5, 8))

    def loss(w, xs):
        def step(h, x):
            a, b = lax.split(x + h @ w, (4, 4), 0)
            h = vnp.tanh(a) * b
            return h, h * h

        h, ys = lax.scan(step, vnp.zeros(4), xs)
        return vnp.sum(h) + vnp.sum(ys)

    check_grads(loss, (w, xs), order=1, modes=("rev",))
    check_grads(vfunc.jit(loss), (w, xs), order=1, modes=("fwd", "rev"))


# ----------------------------------------------------------------------------------------------
# Rebuilt residuals of a scan's VJP


def _lstm_step(w_hh):
    def step(carry, g):
        h, c = carry
        i, f, gg, o = lax.split(g + h @ w_hh.T, (3, 3, 3, 3), -1)
        c = vfunc.nn.sigmoid(f) * c + vfunc.nn.sigmoid(i) * vnp.tanh(gg)
        h = vfunc.nn.sigmoid(o) * vnp.tanh(c)
        return (h, c), h

    return step


def test_lstm_scan_stacks_no_rebuildable_residual(x64, rng):
    w_hh = rng.standard_normal((12, 3))
    h0 = c0 = vnp.zeros((2, 3))
    gs = rng.standard_normal((4, 2, 12))

    def loss(w_hh, gs):
        (h, c), ys = lax.scan(_lstm_step(w_hh), (h0, c0), gs)
        return vnp.sum(ys * ys) + vnp.sum(c)

    jx = vfunc.make_jaxpr(loss)(w_hh, gs)
    eqn = next(e for e in jx.jaxpr.eqns if e.primitive.name == "scan")
    split = scan_module._vjp_split(eqn.params["jaxpr"], eqn.params["num_consts"],
                                   eqn.params["num_carry"])  # fmt: skip
    # sigmoid(i), sigmoid(f), tanh(g), sigmoid(o), tanh(c), c and h of the previous step: the
    # derivative factors 1 - s and 1 - t**2 are rebuilt in the backward step.
    assert len(split.residual_avals) == 7
    assert isinstance(split.fwd, ClosedJaxpr)

    def unrolled(w_hh, gs):
        carry, ys = (h0, c0), []
        for t in range(gs.shape[0]):
            carry, y = _lstm_step(w_hh)(carry, gs[t])
            ys.append(y)
        return vnp.sum(vnp.stack(ys) ** 2) + vnp.sum(carry[1])

    want = vfunc.grad(unrolled, argnums=(0, 1))(w_hh, gs)
    for f in (loss, vfunc.jit(loss)):
        got = vfunc.grad(f, argnums=(0, 1))(w_hh, gs)
        for a, b in zip(got, want, strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10, atol=1e-12)
    check_grads(loss, (w_hh, gs), order=1, modes=("rev",))


def test_nn_lstm_and_gru_gradients_match_finite_differences(x64):
    key = vfunc.random.key(0)
    x = np.random.default_rng(3).standard_normal((5, 2, 3))
    for layer in (vfunc.nn.LSTM(3, 4, num_layers=2, key=key),
                  vfunc.nn.GRU(3, 4, bidirectional=True, key=key)):  # fmt: skip
        params = layer.params

        def loss(params, x, layer=layer):
            out = vfunc.nn.tree_at(lambda m: m.params, layer, params)(x)[0]
            return vnp.sum(out * out)

        check_grads(loss, (params, x), order=1, modes=("rev",))


# ----------------------------------------------------------------------------------------------
# Fused loop bodies (elementwise chains from LOOP_MIN_FUSED_SIZE elements, ys written in place)


@pytest.mark.parametrize("reverse", [False, True])
def test_fused_loop_body_with_ys_written_in_place(rng, reverse):
    n, shape = 6, (16, 128)  # 2048 elements: above the loop's fusion threshold
    xs = rng.standard_normal((n, *shape)).astype(np.float32)
    c0 = rng.standard_normal(shape).astype(np.float32)

    def step(c, x):
        a, b = lax.split(x, (64, 64), 1)
        a, b = vnp.concatenate([a, a], 1), vnp.concatenate([b, b], 1)
        s = vfunc.nn.sigmoid(a)
        t = vnp.tanh(b * c)
        c = s * c + (1.0 - s) * t
        # y: a new value, the same one twice, and the new carry itself
        return c, (s * t, t, t, c)

    def numpy_step(c, x):
        a, b = np.split(x, 2, 1)
        a, b = np.concatenate([a, a], 1), np.concatenate([b, b], 1)
        s = 1 / (1 + np.exp(-a))
        t = np.tanh(b * c)
        c = s * c + (1 - s) * t
        return c, (s * t, t, t, c)

    order = range(n - 1, -1, -1) if reverse else range(n)
    c, ys = c0, [None] * n
    for i in order:
        c, ys[i] = numpy_step(c, xs[i])
    want = [np.stack([y[k] for y in ys]) for k in range(4)]
    for f in (lambda c0, xs: lax.scan(step, c0, xs, reverse=reverse),
              vfunc.jit(lambda c0, xs: lax.scan(step, c0, xs, reverse=reverse))):  # fmt: skip
        got_c, got_ys = f(c0, xs)
        np.testing.assert_allclose(np.asarray(got_c), c, rtol=1e-5, atol=1e-6)
        for g, w in zip(got_ys, want, strict=True):
            np.testing.assert_allclose(np.asarray(g), w, rtol=1e-5, atol=1e-6)
    # Each y is its own array: the last row of the carry's stack is not the final carry's buffer.
    _, (_, t1, t2, cs) = vfunc.jit(lambda c0, xs: lax.scan(step, c0, xs))(c0, xs)
    assert not np.shares_memory(np.asarray(t1), np.asarray(t2))
