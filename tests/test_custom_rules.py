"""Custom derivative rules and checkpoint inside every transformation (issue 11).

custom_vjp, custom_jvp and checkpoint are primitives carrying their function as a jaxpr; these
tests check that the user's rule decides the derivative wherever the call sits: in scan, cond
and while_loop bodies, under vmap and jit, to second order, in both modes. References are
independent of the code under test: a plain-Python unrolled loop calling the same function
eagerly (where the rule always held), closed forms, and float64 central finite differences.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import vfunc
import vfunc.numpy as vnp
from vfunc import lax
from vfunc.core import Tracer, registry
from vfunc.testing import check_grads, enable_x64

# ----------------------------------------------------------------------------------------------
# Rules under test


@vfunc.custom_vjp
def clip_gradient(x):
    return x


clip_gradient.defvjp(lambda x: (x, None), lambda _, g: (vnp.clip(g, -1.0, 1.0),))


@vfunc.custom_jvp
def softplus(x):
    # The naive formula: exp overflows at x = 1000, so its own derivative there is nan.
    return vnp.log1p(vnp.exp(x))


@softplus.defjvp
def _softplus_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return softplus(x), t * lax.logistic(x)


def _logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def _clip_step(c, _):
    return 5.0 * clip_gradient(c), None


def _clip_unrolled(x, n=3):
    for _ in range(n):
        x = 5.0 * clip_gradient(x)
    return x


# ----------------------------------------------------------------------------------------------
# custom_vjp in control flow


def test_custom_vjp_rule_holds_inside_scan_and_matches_the_unrolled_loop():
    def scanned(x):
        return lax.scan(_clip_step, x, None, length=3)[0]

    want = float(vfunc.grad(_clip_unrolled)(2.0))
    assert want == 1.0  # each step's cotangent 5 is clipped to 1 (the naive gradient is 125)
    assert float(vfunc.grad(scanned)(2.0)) == want
    assert float(vfunc.jit(vfunc.grad(scanned))(2.0)) == want
    assert float(vfunc.grad(vfunc.jit(scanned))(2.0)) == want
    assert float(vfunc.grad(lambda x: lax.scan(_clip_step, x, None, length=3, reverse=True)[0])(
        2.0)) == want  # fmt: skip
    fori = vfunc.grad(lambda x: lax.fori_loop(0, 3, lambda i, c: 5.0 * clip_gradient(c), x))
    assert float(fori(2.0)) == want


def test_custom_vjp_rule_holds_inside_cond_and_switch():
    for pred, want in ((True, 1.0), (False, 1.0)):
        got = vfunc.grad(lambda x, p=pred: lax.cond(
            p, lambda y: 5.0 * clip_gradient(y), lambda y: 3.0 * clip_gradient(y), x))(2.0)
        assert float(got) == want  # fmt: skip
    for index in range(3):
        branches = [lambda y: 7.0 * clip_gradient(y), lambda y: 0.5 * clip_gradient(y),
                    lambda y: y * 4.0]  # fmt: skip
        got = vfunc.grad(lambda x, i=index: lax.switch(i, branches, x))(2.0)
        assert float(got) == [1.0, 0.5, 4.0][index]


def test_custom_vjp_inside_scan_under_vmap_and_jit_of_vmap():
    xs = vnp.asarray([1.0, -2.0, 3.0])

    def loss(v):
        return lax.scan(_clip_step, v, None, length=2)[0]

    per = vfunc.vmap(vfunc.grad(loss))(xs)
    np.testing.assert_array_equal(np.asarray(per), [1.0, 1.0, 1.0])
    whole = vfunc.grad(lambda v: vfunc.vmap(loss)(v).sum())(xs)
    np.testing.assert_array_equal(np.asarray(whole), [1.0, 1.0, 1.0])
    jitted = vfunc.jit(vfunc.vmap(vfunc.grad(loss)))(xs)
    np.testing.assert_array_equal(np.asarray(jitted), [1.0, 1.0, 1.0])


def test_custom_vjp_with_vector_carry_and_traced_weights_in_scan():
    # A clipped recurrent cell: compare with the same cell unrolled in Python.
    rng = np.random.default_rng(0)
    w = vnp.asarray(rng.standard_normal((3, 3)).astype(np.float32))
    xs = vnp.asarray(rng.standard_normal((4, 3)).astype(np.float32))
    h0 = vnp.asarray(rng.standard_normal(3).astype(np.float32))

    def cell(w, h, x):
        return vnp.tanh(clip_gradient(h @ w) * 3.0 + x)

    def scanned(w, h0):
        h, ys = lax.scan(lambda h, x: (cell(w, h, x), h.sum()), h0, xs)
        return (h ** 2).sum() + ys.sum()

    def unrolled(w, h0):
        h, total = h0, 0.0
        for t in range(xs.shape[0]):
            total = total + h.sum()
            h = cell(w, h, xs[t])
        return (h ** 2).sum() + total

    for argnums in (0, 1, (0, 1)):
        want = vfunc.grad(unrolled, argnums)(w, h0)
        for got in (vfunc.grad(scanned, argnums)(w, h0),
                    vfunc.jit(vfunc.grad(scanned, argnums))(w, h0)):  # fmt: skip
            for g, r in zip(vfunc.tree.leaves(got), vfunc.tree.leaves(want), strict=True):
                np.testing.assert_allclose(np.asarray(g), np.asarray(r), rtol=2e-5, atol=2e-6)


def test_custom_vjp_second_order_through_the_bwd_rule_inside_scan():
    @vfunc.custom_vjp
    def cube(x):
        return x ** 3

    # A deliberately scaled rule (2x the true derivative): only the rule can produce it.
    cube.defvjp(lambda x: (x ** 3, x), lambda x, g: (g * 6.0 * x * x,))

    def scanned(x):
        return lax.scan(lambda c, _: (cube(c), None), x, None, length=1)[0]

    x = 1.5
    assert math.isclose(float(vfunc.grad(scanned)(x)), 6 * x * x, rel_tol=1e-6)
    assert math.isclose(float(vfunc.grad(vfunc.grad(scanned))(x)), 12 * x, rel_tol=1e-6)
    assert math.isclose(float(vfunc.jit(vfunc.grad(vfunc.grad(scanned)))(x)), 12 * x,
                        rel_tol=1e-6)  # fmt: skip


def test_custom_vjp_bwd_may_return_none_for_an_input():
    @vfunc.custom_vjp
    def f(x, y):
        return x * y

    f.defvjp(lambda x, y: (x * y, x), lambda x, g: (None, g * x))
    gx, gy = vfunc.grad(f, (0, 1))(2.0, 3.0)
    assert float(gx) == 0.0 and float(gy) == 2.0
    scanned = vfunc.grad(
        lambda x, y: lax.scan(lambda c, _: (f(c, y), None), x, None, length=1)[0], (0, 1))
    gx, gy = scanned(2.0, 3.0)
    assert float(gx) == 0.0 and float(gy) == 2.0
    gx, gy = vfunc.jit(vfunc.grad(f, (0, 1)))(2.0, 3.0)
    assert float(gx) == 0.0 and float(gy) == 2.0


def test_custom_vjp_nondiff_argnums_in_scan_and_jit_and_traced_nondiff_is_rejected():
    def fwd(x, power):
        return vnp.sin(x) ** power, (vnp.sin(x), vnp.cos(x))

    def bwd(power, residuals, g):
        s, c = residuals
        return (g * power * s ** (power - 1) * c,)

    f = vfunc.custom_vjp(lambda x, power: vnp.sin(x) ** power, nondiff_argnums=(1,))
    f.defvjp(fwd, bwd)
    x = 0.7
    want = 3 * math.sin(x) ** 2 * math.cos(x)
    scanned = vfunc.grad(lambda v: lax.scan(lambda c, _: (f(c, 3), None), v, None, length=1)[0])
    for got in (vfunc.grad(lambda v: f(v, 3))(x), vfunc.jit(vfunc.grad(lambda v: f(v, 3)))(x),
                scanned(x)):  # fmt: skip
        assert math.isclose(float(got), want, rel_tol=1e-5)
    with pytest.raises(TypeError, match="nondiff_argnums"):
        vfunc.jit(lambda v, p: f(v, p))(x, vnp.asarray(3.0))


def test_custom_vjp_is_one_equation_in_the_staged_scan_body():
    jaxpr = vfunc.make_jaxpr(lambda x: lax.scan(_clip_step, x, None, length=2)[0])(1.0)
    text = str(jaxpr)
    assert "scan[" in text and "custom_vjp_call[" in text
    assert "<bwd of clip_gradient>" in text


def test_custom_vjp_closing_over_values():
    def make(w):
        @vfunc.custom_vjp
        def scaled(v):
            return v * w

        scaled.defvjp(lambda v: (v * w, None), lambda _, g: (100.0 * g,))
        return scaled

    x, w = vnp.asarray([1.0, 2.0]), vnp.asarray([3.0, -1.0])
    # Closing over a traced value that is not differentiated (jit's) is fine.
    inner = vfunc.jit(lambda x, w: vfunc.grad(lambda v: make(w)(v).sum())(x))
    np.testing.assert_array_equal(np.asarray(inner(x, w)), [100.0, 100.0])
    # Differentiating with respect to it: the rule cannot say how, so it is an error (as JAX).
    with pytest.raises(TypeError, match="closes over a value that is being differentiated"):
        vfunc.grad(lambda x, w: make(w)(x).sum(), (0, 1))(x, w)


def test_checkpoint_closing_over_a_differentiated_value_is_differentiated_through():
    def loss(x, w):
        return vfunc.checkpoint(lambda v: vnp.sin(v * w))(x).sum()

    x, w = vnp.asarray([1.0, 2.0]), vnp.asarray([3.0, -1.0])
    gx, gw = vfunc.grad(loss, (0, 1))(x, w)
    c = np.cos(np.asarray(x) * np.asarray(w))
    np.testing.assert_allclose(np.asarray(gx), c * np.asarray(w), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(gw), c * np.asarray(x), rtol=1e-6)


def test_custom_vjp_rejects_forward_mode_inside_scan_too():
    with pytest.raises(TypeError, match="forward-mode"):
        vfunc.jvp(lambda x: lax.scan(_clip_step, x, None, length=1)[0], (1.0,), (1.0,))


def test_custom_vjp_wrong_structures_are_reported():
    @vfunc.custom_vjp
    def f(x):
        return x

    f.defvjp(lambda x: x, lambda r, g: (g,))
    with pytest.raises(TypeError, match="fwd must return a pair"):
        vfunc.grad(f)(1.0)
    f.defvjp(lambda x: (x, None), lambda r, g: (vnp.ones(2),))
    with pytest.raises(ValueError, match=r"cotangent of shape \(2,\)"):
        vfunc.grad(f)(1.0)


# ----------------------------------------------------------------------------------------------
# custom_jvp in control flow


def test_custom_jvp_rule_holds_inside_scan_cond_and_jit():
    assert float(vfunc.grad(softplus)(1000.0)) == 1.0

    def scanned(x):
        return lax.scan(lambda c, _: (softplus(c), None), x, None, length=1)[0]

    def in_cond(x):
        return lax.cond(x > 0, softplus, lambda y: y * 0.0, x)

    for fn in (scanned, in_cond, vfunc.jit(scanned)):
        assert float(vfunc.grad(fn)(1000.0)) == 1.0
        assert float(vfunc.jvp(fn, (1000.0,), (1.0,))[1]) == 1.0
    assert float(vfunc.jit(vfunc.grad(scanned))(1000.0)) == 1.0


def test_custom_jvp_inside_while_loop_forward_mode():
    def loop(x):
        return lax.while_loop(lambda c: c[1] < 2, lambda c: (softplus(c[0]), c[1] + 1), (x, 0))[0]

    # softplus(softplus(1000)) = 1000 to float32 precision; each step's derivative is 1.
    _, tangent = vfunc.jvp(loop, (1000.0,), (1.0,))
    assert float(tangent) == 1.0
    x = 0.3
    _, tangent = vfunc.jvp(loop, (x,), (1.0,))
    s1 = math.log1p(math.exp(x))
    assert math.isclose(float(tangent), _logistic(s1) * _logistic(x), rel_tol=1e-5)


def test_custom_jvp_under_vmap_in_scan_and_second_order():
    xs = vnp.asarray([-2.0, 0.5, 1000.0])

    def scanned(x):
        return lax.scan(lambda c, _: (softplus(c), None), x, None, length=1)[0]

    g = vfunc.vmap(vfunc.grad(scanned))(xs)
    np.testing.assert_allclose(np.asarray(g), [_logistic(v) for v in (-2.0, 0.5, 1000.0)],
                               rtol=1e-6)  # fmt: skip
    # Second order: d/dx logistic(x) = s (1 - s), through the rule (the naive one gives nan).
    for x in (0.5, 30.0):
        s = _logistic(x)
        for fn in (softplus, scanned):
            assert math.isclose(float(vfunc.grad(vfunc.grad(fn))(x)), s * (1 - s),
                                rel_tol=1e-4, abs_tol=1e-12)  # fmt: skip
    h = vfunc.hessian(lambda v: softplus(v).sum())(vnp.asarray([0.5, -1.0]))
    want = np.diag([_logistic(v) * (1 - _logistic(v)) for v in (0.5, -1.0)])
    np.testing.assert_allclose(np.asarray(h), want, rtol=1e-5, atol=1e-7)


def test_custom_jvp_gradients_match_float64_finite_differences():
    rng = np.random.default_rng(3)
    x = vnp.asarray(rng.standard_normal(4).astype(np.float32))

    def scanned(v):
        return lax.scan(lambda c, _: (softplus(c) * 0.5, c.sum()), v, None, length=2)

    check_grads(scanned, (x,), order=2)
    check_grads(vfunc.jit(scanned), (x,), order=1)


def test_custom_jvp_under_grad_evaluates_the_function_once():
    evaluations = []

    @vfunc.custom_jvp
    def f(x):
        if not isinstance(x, Tracer) or not _is_staging(x):
            evaluations.append(1)  # a real evaluation, not the one staging trace
        return vnp.sin(x)

    @f.defjvp
    def _(primals, tangents):
        (x,), (t,) = primals, tangents
        return f(x), t * vnp.cos(x)

    assert math.isclose(float(vfunc.grad(f)(0.5)), math.cos(0.5), rel_tol=1e-6)
    assert len(evaluations) == 1
    evaluations.clear()
    assert math.isclose(float(vfunc.jvp(f, (0.5,), (1.0,))[1]), math.cos(0.5), rel_tol=1e-6)
    assert len(evaluations) == 1


def _is_staging(x) -> bool:
    from vfunc.transforms.staging import JaxprTracer

    return isinstance(x, JaxprTracer)


def test_custom_jvp_nondiff_argnums_static_and_traced():
    @vfunc.custom_jvp
    def scale(x, k):
        return x * k

    scale.nondiff_argnums = (1,)

    @scale.defjvp
    def _(k, primals, tangents):
        return scale(primals[0], k), tangents[0] * k * 10.0  # deliberately 10x

    assert float(vfunc.grad(lambda x: scale(x, 2.0))(1.0)) == 20.0
    scanned = vfunc.grad(lambda x: lax.scan(lambda c, _: (scale(c, 2.0), None), x, None,
                                            length=1)[0])  # fmt: skip
    assert float(scanned(1.0)) == 20.0
    # A traced nondiff value: used as a value, with zero derivative (as stop_gradient in JAX).
    gx, gk = vfunc.grad(lambda x, k: scale(x, k), (0, 1))(1.0, 2.0)
    assert float(gx) == 20.0 and float(gk) == 0.0
    body = lambda c, k: (scale(c, k), None)  # noqa: E731
    gx, gk = vfunc.grad(lambda x, k: lax.scan(body, x, vnp.asarray([2.0]))[0], (0, 1))(1.0, 2.0)
    assert float(gx) == 20.0 and float(gk) == 0.0


def test_custom_jvp_rule_closing_over_a_differentiated_value_is_reported():
    def loss(x, w):
        @vfunc.custom_jvp
        def f(v):
            return v * w

        @f.defjvp
        def _(primals, tangents):
            return primals[0] * w, tangents[0] * w

        return f(x)

    with pytest.raises(TypeError, match="closes over a value that is being differentiated"):
        vfunc.grad(loss, (0, 1))(1.0, 2.0)
    # Differentiating only the closed-over value differentiates the function itself.
    assert float(vfunc.grad(loss, 1)(3.0, 2.0)) == 3.0


# ----------------------------------------------------------------------------------------------
# checkpoint


def _block(x):
    return vnp.sin(vnp.tanh(x) * 2.0)


def test_checkpoint_recomputation_survives_jit_cse():
    x = vnp.asarray(np.linspace(-1, 1, 5).astype(np.float32))

    def loss(v, remat):
        return (vfunc.checkpoint(_block) if remat else _block)(v).sum()

    plain = vfunc.jit(vfunc.grad(lambda v: loss(v, False)))
    remat = vfunc.jit(vfunc.grad(lambda v: loss(v, True)))
    np.testing.assert_allclose(np.asarray(remat(x)), np.asarray(plain(x)), rtol=1e-6)
    want = np.cos(2 * np.tanh(np.float64(x))) * 2 * (1 - np.tanh(np.float64(x)) ** 2)
    np.testing.assert_allclose(np.asarray(remat(x)), want, rtol=1e-5)
    # The optimised program keeps the backward recomputation as its own call: tanh is
    # evaluated again inside it, and the generated code calls it.
    text = remat.lower(x).as_text()
    assert "checkpoint[" in text and "differentiated=True" in text
    backward = [e for e in remat.lower(x).jaxpr.eqns if e.primitive.name == "checkpoint"]
    assert len(backward) == 1
    assert "tanh" in str(backward[0].params["jaxpr"])
    source = remat.lower(x).compile().as_text()
    assert "call" in source
    assert remat.lower(x).compile().as_text() != plain.lower(x).compile().as_text()


def test_checkpoint_forward_and_backward_both_evaluate_under_jit(monkeypatch):
    # value_and_grad under jit: the forward is computed once, and again in the backward.
    tanh_p = registry["tanh"]
    calls = []
    impl = tanh_p.impl
    monkeypatch.setattr(tanh_p, "impl", lambda v: calls.append(1) or impl(v))
    x = vnp.asarray(np.linspace(-1, 1, 5).astype(np.float32))
    f = vfunc.jit(vfunc.value_and_grad(lambda v: vfunc.checkpoint(_block)(v).sum()))
    value, grad = f(x)
    assert len(calls) == 2
    g = vfunc.jit(vfunc.value_and_grad(lambda v: _block(v).sum()))
    calls.clear()
    value_plain, grad_plain = g(x)
    assert len(calls) == 1  # without checkpoint, CSE shares tanh between the two passes
    np.testing.assert_allclose(np.asarray(grad), np.asarray(grad_plain), rtol=1e-6)
    assert math.isclose(float(value), float(value_plain), rel_tol=1e-6)


def test_checkpoint_in_scan_vmap_jvp_and_second_order():
    rng = np.random.default_rng(1)
    w = vnp.asarray(rng.standard_normal((3, 3)).astype(np.float32) * 0.5)
    xs = vnp.asarray(rng.standard_normal((4, 3)).astype(np.float32))

    def make(remat):
        cell = lambda h, x: vnp.tanh(h @ w + x)  # noqa: E731
        cell = vfunc.checkpoint(cell) if remat else cell

        def loss(h0):
            h, ys = lax.scan(lambda h, x: (cell(h, x), h.sum()), h0, xs)
            return (h ** 2).sum() + ys.sum()

        return loss

    h0 = vnp.asarray(rng.standard_normal(3).astype(np.float32))
    for transform in (vfunc.grad, lambda f: vfunc.jit(vfunc.grad(f))):
        np.testing.assert_allclose(np.asarray(transform(make(True))(h0)),
                                   np.asarray(transform(make(False))(h0)), rtol=1e-5, atol=1e-6)
    hs = vnp.stack([h0, h0 * 0.5])
    np.testing.assert_allclose(np.asarray(vfunc.vmap(vfunc.grad(make(True)))(hs)),
                               np.asarray(vfunc.vmap(vfunc.grad(make(False)))(hs)), rtol=1e-5)
    t = vnp.ones(3)
    np.testing.assert_allclose(np.asarray(vfunc.jvp(make(True), (h0,), (t,))[1]),
                               np.asarray(vfunc.jvp(make(False), (h0,), (t,))[1]), rtol=1e-5)
    check_grads(vfunc.checkpoint(lambda v: _block(v).sum()), (h0,), order=2)


def test_checkpoint_with_static_argnums_and_closure_over_traced_value():
    def loss(x, w):
        f = vfunc.checkpoint(lambda v, n: vnp.tanh(v * w) ** n, static_argnums=(1,))
        return f(x, 2).sum()

    x, w = vnp.asarray([0.3, -0.4]), vnp.asarray([1.5, 2.0])
    with enable_x64():
        x64, w64 = x.astype(np.float64), w.astype(np.float64)
        gx, gw = vfunc.grad(loss, (0, 1))(x64, w64)
        eps = 1e-6
        for k in range(2):
            dx = np.zeros(2)
            dx[k] = eps
            num_x = (float(loss(x64 + dx, w64)) - float(loss(x64 - dx, w64))) / (2 * eps)
            num_w = (float(loss(x64, w64 + dx)) - float(loss(x64, w64 - dx))) / (2 * eps)
            assert math.isclose(float(gx[k]), num_x, rel_tol=1e-6)
            assert math.isclose(float(gw[k]), num_w, rel_tol=1e-6)


def test_checkpoint_of_a_constant_input_closing_over_parameters_still_rematerializes():
    # The first layer of a network sees the data (a constant) and closes over the weights.
    w = vnp.asarray([0.5, -1.5, 2.0])
    x = vnp.asarray([1.0, 2.0, 3.0])

    def loss(w):
        return vfunc.checkpoint(lambda v: vnp.tanh(v * w))(x).sum()

    jaxpr = vfunc.make_jaxpr(vfunc.grad(loss))(w)
    assert "differentiated=True" in str(jaxpr)
    want = (1 - np.tanh(np.asarray(x) * np.asarray(w)) ** 2) * np.asarray(x)
    np.testing.assert_allclose(np.asarray(vfunc.grad(loss)(w)), want, rtol=1e-6)


def test_custom_vjp_bwd_none_inside_a_pytree_cotangent():
    @vfunc.custom_vjp
    def prod(d):
        return d["a"] * d["b"]

    prod.defvjp(lambda d: (prod(d), d), lambda d, g: ({"a": g * d["b"], "b": None},))
    g = vfunc.grad(prod)({"a": 2.0, "b": 3.0})
    assert float(g["a"]) == 3.0 and float(g["b"]) == 0.0
    g = vfunc.jit(vfunc.grad(lambda d: lax.scan(lambda c, _: (c, prod(d)), 0.0, None,
                                                length=2)[1].sum()))({"a": 2.0, "b": 3.0})
    assert float(g["a"]) == 6.0 and float(g["b"]) == 0.0
    prod.defvjp(lambda d: (prod(d), d), lambda d, g: ({"a": g * d["b"]},))
    with pytest.raises(ValueError, match="structured as"):
        vfunc.grad(prod)({"a": 2.0, "b": 3.0})


def test_rule_closing_over_a_value_of_a_finished_staging_is_explained():
    # Defined inside a scan body, the rules close over the body's x; they run only when the
    # scan is differentiated, after the body's staging has finished (JAX has the same limit).
    from vfunc.errors import UnexpectedTracerError

    def step(c, x):
        @vfunc.custom_vjp
        def f(v):
            return v * x

        f.defvjp(lambda v: (v * x, None), lambda _, g: (g * x,))
        return f(c), None

    xs = vnp.asarray([1.0, 2.0])
    assert float(lax.scan(step, 1.0, xs)[0]) == 2.0  # evaluating is fine
    with pytest.raises(UnexpectedTracerError, match="Pass the value to the custom function"):
        vfunc.grad(lambda c0: lax.scan(step, c0, xs)[0])(1.0)


@pytest.mark.parametrize("wrap", ["grad", "jit_of_grad"])
def test_a_rule_whose_function_closes_over_a_differentiated_value_raises_a_type_error(wrap):
    # The usual `return f(x), ...` in the rule re-enters the rule at the same level when f
    # closes over a value being differentiated; under jit of grad that once recursed until
    # Python's stack ran out (JAX raises UnexpectedTracerError here).
    def make(w):
        @vfunc.custom_jvp
        def f(x):
            return vnp.sin(x) * w

        @f.defjvp
        def f_jvp(primals, tangents):
            (x,), (dx,) = primals, tangents
            return f(x), vnp.cos(x) * w * dx

        return f

    g = vfunc.grad(lambda x, w: vnp.sum(make(w)(x)), argnums=(0, 1))
    g = vfunc.jit(g) if wrap == "jit_of_grad" else g
    with pytest.raises(TypeError, match="closes over a value that is being differentiated"):
        g(vnp.asarray([0.3, 0.7]), vnp.asarray(2.0))
