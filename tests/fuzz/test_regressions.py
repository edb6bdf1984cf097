"""Named regression tests for failures the transformation fuzzer (and its registry batteries)
found, each the smallest program that shows it, checked against an independent reference.

Tests marked ``xfail(strict=True)`` reproduce open bugs; when the fix lands they pass, strict
xfail turns that into a failure, and the mark is removed (and the matching feature switched back
on in ``test_transformations.KNOWN_BUGS``). The "Fixed elsewhere" section holds issue 11's bugs,
once strict xfails, now plain regression tests.
"""

from __future__ import annotations

import numpy as np
import pytest

import vfunc
import vfunc.numpy as vnp
from vfunc import lax
from vfunc.testing.gradients import enable_x64


def _close(got, want, rtol=1e-6, atol=1e-6):
    for g, w in zip(vfunc.tree.leaves(got), vfunc.tree.leaves(want), strict=True):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=rtol, atol=atol)


# ----------------------------------------------------------------------------------------------
# Fixed here


def test_jvp_of_max_with_a_broadcast_operand():
    # The binary JVP applied max's side rule to the unbroadcast tangent: select(mask of the
    # output's shape, tangent of an operand's shape) raised a ShapeError. Reached by the fuzzer
    # as jvp(vmap(f)) with one operand unbatched, and by the registry gradient battery.
    with enable_x64():
        x = vnp.asarray(np.array([[0.5], [-1.0], [2.0]]))
        y = vnp.asarray(np.array([[1.0, -2.0, 0.0, 3.0]]))
        tx, ty = vnp.ones_like(x), vnp.ones_like(y) * 2.0
        for op, pick in ((vnp.maximum, np.greater), (vnp.minimum, np.less)):
            _, t = vfunc.jvp(op, (x, y), (tx, ty))
            want = np.where(pick(np.asarray(x), np.asarray(y)), 1.0, 2.0)
            np.testing.assert_array_equal(np.asarray(t), want)
        f = lambda a: vnp.maximum(a, y[0, :3])  # noqa: E731
        xb = vnp.asarray(np.array([[0.5, -3.0, 1.0], [2.0, -1.0, -0.5]]))
        _, got = vfunc.jvp(vfunc.vmap(f), (xb,), (vnp.ones_like(xb),))
        np.testing.assert_array_equal(np.asarray(got), np.asarray(xb) > np.asarray(y[0, :3]))


def test_grad_of_prod_over_an_empty_axis():
    # reduce_prod's VJP sliced its prefix products to a negative size when the axis was empty.
    x = vnp.zeros((0, 3))
    assert vfunc.grad(lambda a: vnp.sum(vnp.prod(a, axis=0)))(x).shape == (0, 3)
    assert vfunc.grad(lambda a: vnp.prod(a))(vnp.zeros((0,))).shape == (0,)


# ----------------------------------------------------------------------------------------------
# Fixed elsewhere (issue 11): once strict xfails, now regression tests


def _rnn(params, xs, use_scan):
    def step(h, x):
        h = vnp.tanh(h @ params["wh"] + x @ params["wx"] + params["b"])
        return h, vnp.sum(h**2)

    if use_scan:
        h, ys = lax.scan(step, vnp.zeros(3), xs)
        return vnp.sum(ys) + vnp.sum(h)
    h, total = vnp.zeros(3), 0.0
    for t in range(xs.shape[0]):
        h, y = step(h, xs[t])
        total = total + y
    return total + vnp.sum(h)


def test_scan_grad_with_several_traced_weights_equals_unrolled_loop():
    # Guards: the scan VJP summed the cotangents of several traced loop-invariant weights
    # wrongly (issue 11; vfunc/control_flow/scan.py).
    rng = np.random.default_rng(0)
    p = {"wh": vnp.asarray((rng.standard_normal((3, 3)) * 0.5).astype(np.float32)),
         "wx": vnp.asarray(rng.standard_normal((2, 3)).astype(np.float32)),
         "b": vnp.asarray(rng.standard_normal(3).astype(np.float32))}  # fmt: skip
    xs = vnp.asarray(rng.standard_normal((5, 2)).astype(np.float32))
    got = vfunc.grad(lambda q, x: _rnn(q, x, True))(p, xs)
    want = vfunc.grad(lambda q, x: _rnn(q, x, False))(p, xs)
    _close(got, want, rtol=1e-4, atol=1e-5)


def test_scan_body_closing_over_two_traced_float64_values():
    # The same pattern in float64 with vector weights (it was correct even while the float32
    # matrix-weight form above failed).
    with enable_x64():
        rng = np.random.default_rng(1)
        x, w = vnp.asarray(rng.uniform(-1, 1, 3)), vnp.asarray(rng.uniform(-1, 1, 3))
        seq = vnp.asarray(rng.uniform(-1, 1, (3, 3)))

        def f(x, w, unrolled):
            def body(c, s):
                c = vnp.sin(c * w + s * x)
                return c, c * w

            if unrolled:
                c, ys = x, []
                for t in range(3):
                    c, y = body(c, seq[t])
                    ys.append(y)
                ys = vnp.stack(ys)
            else:
                c, ys = lax.scan(body, x, seq)
            return vnp.sum(c) + vnp.sum(ys * ys)

        got = vfunc.grad(lambda a, b: f(a, b, False), argnums=(0, 1))(x, w)
        want = vfunc.grad(lambda a, b: f(a, b, True), argnums=(0, 1))(x, w)
        _close(got, want, rtol=1e-9, atol=1e-9)


@vfunc.custom_vjp
def _clip_gradient(x):
    return x


_clip_gradient.defvjp(lambda x: (x, None), lambda _, g: (vnp.clip(g, -1.0, 1.0),))


def test_custom_vjp_rule_applies_inside_scan():
    # Guards: a custom_vjp rule was ignored once staged into a lax.scan body (issue 11).
    def f(x):
        c, _ = lax.scan(lambda c, _: (_clip_gradient(c) * 5.0, None), x, None, length=1)
        return c

    assert float(vfunc.grad(f)(2.0)) == 1.0  # outside scan: the rule clips 5 to 1
    assert float(vfunc.grad(lambda x: _clip_gradient(x) * 5.0)(2.0)) == 1.0


def test_custom_vjp_rule_applies_inside_cond():
    # Guards: a custom_vjp rule was ignored inside a lax.cond branch (issue 11).
    def f(x):
        return lax.cond(x > 0, lambda a: _clip_gradient(a) * 5.0, lambda a: a, x)

    assert float(vfunc.grad(f)(2.0)) == 1.0


@vfunc.custom_jvp
def _softplus(x):
    return vnp.log1p(vnp.exp(x))


_softplus.defjvp(lambda primals, tangents: (_softplus(primals[0]),
                                            tangents[0] * lax.logistic(primals[0])))  # fmt: skip


def test_custom_jvp_rule_applies_inside_scan():
    # Guards: a custom_jvp rule was ignored inside lax.scan (nan at x=1000; issue 11).
    def f(x):
        c, _ = lax.scan(lambda c, _: (_softplus(c), None), x, None, length=1)
        return c

    assert float(vfunc.grad(_softplus)(1000.0)) == 1.0
    assert float(vfunc.grad(f)(1000.0)) == 1.0


def test_jit_cache_keys_on_enable_x64():
    # Issue 11 reports a function jitted before enable_x64 keeps returning float32; this form
    # (weak Python scalars) already keys on it.
    f = vfunc.jit(lambda x: x * 2.0)
    with enable_x64(False):
        assert f(1.0).dtype == np.float32
    with enable_x64(True):
        assert f(1.0).dtype == np.float64 == (lambda x: vnp.asarray(x) * 2.0)(1.0).dtype


def test_fused_sin_cos_agree_with_eager_for_huge_arguments():
    # Guards: the fused (jit) sin/cos gave NaN for |x| > 1.3e10 (issue 11; scalar_math.py).
    from vfunc.transforms.compiler import fusion

    x = vnp.asarray(np.full(fusion.MIN_FUSED_SIZE, 3.0e10, np.float32))
    f = lambda v: vnp.sin(v) * 2.0 + vnp.cos(v)  # noqa: E731
    got = vfunc.jit(f)(x)
    assert not np.isnan(np.asarray(got)).any()
    np.testing.assert_allclose(np.asarray(got), np.asarray(f(x)), atol=1e-4)


def test_custom_jvp_rule_inside_scan_fuzzer_form():
    # Guards: custom_jvp rule ignored inside lax.scan, the fuzzer's form.
    # Shrunk from a deep run (seed 1): the scan body applies a custom_jvp function whose rule
    # doubles the tangent; grad must see the rule (2 per element), as the unrolled loop does.
    from fuzzgen import double_tangent_cj

    with enable_x64():
        x = vnp.asarray(np.array([0.5, -1.0, 2.0]))

        def f(x, unrolled):
            def body(c, _):
                return c, double_tangent_cj(c)

            if unrolled:
                ys = vnp.stack([body(x, None)[1]])
            else:
                _, ys = lax.scan(body, x, vnp.stack([x]))
            return vnp.sum(ys[-1] * ys[0])

        want = vfunc.grad(lambda a: f(a, True))(x)
        np.testing.assert_allclose(np.asarray(want), 4.0 * np.asarray(x))
        _close(vfunc.grad(lambda a: f(a, False))(x), want)


def test_checkpoint_of_a_function_closing_over_a_traced_value():
    # Guards: grad of checkpoint(f) with f closing over a traced value leaked a tracer.
    # Shrunk from a deep run (seed 0): f(x, p) = checkpoint(lambda a: a @ p["m"])(x)
    with enable_x64():
        rng = np.random.default_rng(0)
        x, m = vnp.asarray(rng.standard_normal(3)), vnp.asarray(rng.standard_normal((3, 3)))

        def loss(x, m, remat):
            fn = lambda a: vnp.tanh(a @ m)  # noqa: E731
            return vnp.sum((vfunc.checkpoint(fn) if remat else fn)(x))

        want = vfunc.grad(loss, argnums=(0, 1))(x, m, False)
        _close(vfunc.grad(loss, argnums=(0, 1))(x, m, True), want, rtol=1e-12, atol=1e-12)


def test_jvp_of_cond_inside_map_with_closed_over_branches():
    # Guards: jvp of lax.cond inside lax.map whose branches close over the traced input gave
    # the other branch's tangent (vfunc/control_flow/cond.py).
    # Shrunk from a deep run (seed 0, forward-mode check of a program with a while_loop).
    with enable_x64():
        rng = np.random.default_rng(3)
        x, t = vnp.asarray(rng.uniform(-1.5, 1.5, 3)), vnp.asarray(rng.standard_normal(3))

        def f(x, unrolled):
            def fn(r):
                return lax.cond(vnp.sum(r) > -0.5, lambda a: vnp.arccos(vnp.tanh(x) * 0.9),
                                lambda a: vnp.tanh(x), x)  # fmt: skip

            if unrolled:
                return vnp.sum(vnp.stack([fn(x)]), axis=0)
            return vnp.sum(lax.map(fn, vnp.stack([x])), axis=0)

        _, want = vfunc.jvp(lambda a: f(a, True), (x,), (t,))
        _, got = vfunc.jvp(lambda a: f(a, False), (x,), (t,))
        _close(got, want, rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------------------------
# Fixed after the merge


# Guards: vmap of checkpoint marked every output batched, so jacfwd/hessian of a checkpointed
# function raised (found by a deep run; fixed in _remat_batch).
def test_jacfwd_of_checkpoint():
    # Shrunk from a deep run (seed 0, test_jvp_vjp_jacobians_and_hessian_agree):
    #     def f(x, p): return (vfunc.checkpoint(lambda a: bind('abs', a))(x), x)
    # jacfwd/hessian raise "vmap(push): out_axes is None for an output that varies along the
    # mapped axis": in the batched jvp the primal output of checkpoint does not depend on the
    # batched tangents, yet checkpoint's batching rule returns it batched. jacrev is correct.
    with enable_x64():
        x = vnp.asarray(np.array([0.5, -1.0, 2.0]))
        got = vfunc.jacfwd(vfunc.checkpoint(vnp.sin))(x)
        np.testing.assert_allclose(np.asarray(got), np.diag(np.cos(np.asarray(x))), rtol=1e-12)
        np.testing.assert_allclose(np.asarray(vfunc.jacrev(vfunc.checkpoint(vnp.sin))(x)),
                                   np.asarray(got), rtol=1e-12)  # fmt: skip
        hess = vfunc.hessian(vfunc.checkpoint(lambda v: vnp.sum(vnp.sin(v) * v)))(x)
        xs = np.asarray(x)
        np.testing.assert_allclose(np.asarray(hess), np.diag(2 * np.cos(xs) - xs * np.sin(xs)),
                                   rtol=1e-12)  # fmt: skip


# Guards: the implicit gamma gradient divided by the Gamma density, which underflows to zero far
# in the tail, and the numba kernel raised ZeroDivisionError (found by the final deep run).
def test_gamma_gradient_far_in_the_tail_does_not_raise():
    from vfunc.primitives.random_kernels import gamma_grad

    alphas = np.array([0.6, 0.6, 2.0, 50.0])
    xs = np.array([800.0, 1e4, 1e3, 1e-300])
    got = gamma_grad(alphas, xs)
    assert not np.isnan(got).any()
    # In the body of the distribution the log-space division changes nothing.
    mid = gamma_grad(np.array([2.0, 0.5]), np.array([1.5, 0.3]))
    assert np.all(np.isfinite(mid)) and np.all(mid > 0)


# Found by a deep run (seed 268826270717016911493491810082559761927, program seed 6865): under
# vmap a switch with a batched index evaluates every branch, and the VJP of a branch that was not
# selected multiplied its zero cotangent by a NaN derivative. JAX 0.10.2 returns [2., 2.] for
# this program (recorded by hand), as do the per-example eager gradients. Each branch now sees
# its float operands through select(chosen, x, stop_gradient(x)), as JAX's batching rule does.
def _branches(w):
    return [lambda x: vnp.arctan2(x * 0.0, x * 0.0) * w,  # NaN derivative at the origin
            lambda x: 2 * x * w,
            lambda x: vnp.log(x - x) * w + x]  # -inf value and inf derivative


def test_grad_of_vmap_of_switch_ignores_nan_derivatives_of_unselected_branches():
    def f(x, i):
        return lax.switch(i, [lambda x: vnp.arctan2(x * 0.0, x * 0.0), lambda x: 2 * x], x)

    index = vnp.asarray([1, 1])
    got = vfunc.grad(lambda x: vnp.sum(vfunc.vmap(f)(x, index)))(vnp.ones(2))
    np.testing.assert_array_equal(np.asarray(got), [2.0, 2.0])


@pytest.mark.parametrize("wrap", ["plain", "jit"])
def test_switch_under_vmap_gradients_equal_the_per_member_loop(wrap):
    # An unbatched closed-over weight collects every member's cotangent, so it is where a NaN
    # from an unchosen branch would land even when the batched operand is clean.
    def loss(x, w, index):
        per_member = vfunc.vmap(lambda xi, i: lax.switch(i, _branches(w), xi))(x, index)
        return vnp.sum(per_member)

    x, w, index = vnp.asarray([1.0, 2.0, 3.0]), vnp.asarray(1.5), vnp.asarray([1, 1, 0])
    g = vfunc.grad(loss, argnums=(0, 1))
    got = (vfunc.jit(g) if wrap == "jit" else g)(x, w, index)
    # The same program one member at a time: eager switch runs only the chosen branch.
    want_x, want_w = [], 0.0
    for xi, i in zip([1.0, 2.0, 3.0], [1, 1, 0], strict=True):
        gx, gw = vfunc.grad(lambda a, b, i=i: lax.switch(i, _branches(b), a),
                            argnums=(0, 1))(vnp.asarray(xi), w)  # fmt: skip
        want_x.append(float(gx))
        want_w = want_w + float(gw)
    # Member 2 chose arctan2 at the origin: JAX's gradient there is NaN as well (its own branch).
    np.testing.assert_array_equal(np.asarray(got[0])[:2], want_x[:2])
    assert np.isnan(want_x[2]) == np.isnan(np.asarray(got[0])[2])
    assert np.isnan(want_w) == np.isnan(float(got[1]))


def test_switch_under_vmap_keeps_clean_members_finite_and_values_unchanged():
    def loss(x, w, index):
        return vnp.sum(vfunc.vmap(lambda xi, i: lax.switch(i, _branches(w), xi))(x, index))

    x, w = vnp.asarray([1.0, 2.0]), vnp.asarray(0.5)
    index = vnp.asarray([1, 5])  # 5 clamps to the last branch, as switch does
    value, (gx, gw) = vfunc.value_and_grad(loss, argnums=(0, 1))(x, w, index)
    assert np.isneginf(float(value))  # the log branch's value stays -inf: only derivatives change
    np.testing.assert_array_equal(np.asarray(gx)[0], 1.0)  # 2 * w, untouched by the other branches
    own = vfunc.grad(lambda a: lax.switch(2, _branches(w), a))(vnp.asarray(2.0))
    np.testing.assert_array_equal(np.asarray(gx)[1], np.asarray(own))  # its own branch's value
    # grad of vmap of cond with a batched predicate goes through the same rule
    h = vfunc.grad(lambda x: vnp.sum(vfunc.vmap(
        lambda xi: lax.cond(xi > 0, lambda v: v * 3.0, lambda v: vnp.sqrt(v - v), xi))(x)))
    np.testing.assert_array_equal(np.asarray(h(vnp.asarray([1.0, 4.0]))), [3.0, 3.0])
