"""Automatic differentiation: rules against finite differences, transformations, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vfunc
import vfunc.numpy as vnp
from vfunc import lax
from vfunc.core import registry
from vfunc.testing import check_grads
from vfunc.testing import strategies as vst


def randn(rng, *shape, low=None, high=None):
    if low is not None:
        return vnp.asarray(rng.uniform(low, high, size=shape))
    return vnp.asarray(rng.standard_normal(shape))


# ----------------------------------------------------------------------------------------------
# Every differentiable elementwise, reduction and contraction primitive, in both modes, order 2

POSITIVE = dict(low=0.3, high=2.0)
UNIT = dict(low=-0.8, high=0.8)
UNARY_DOMAINS = {
    "neg": {}, "abs": dict(low=-2.0, high=2.0), "exp": {}, "log": POSITIVE, "log1p": POSITIVE,
    "expm1": {},
    "sin": {}, "cos": {}, "tan": UNIT, "tanh": {}, "sinh": {}, "cosh": {}, "asin": UNIT,
    "acos": UNIT, "atan": {}, "sqrt": POSITIVE, "rsqrt": POSITIVE, "logistic": {}, "erf": {},
}  # fmt: skip
BINARY_DOMAINS = {
    "add": ({}, {}), "sub": ({}, {}), "mul": ({}, {}), "div": ({}, POSITIVE),
    "pow": (POSITIVE, {}), "atan2": ({}, POSITIVE), "rem": (POSITIVE, dict(low=2.5, high=3.0)),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(UNARY_DOMAINS))
def test_unary_rules_match_finite_differences(rng, name):
    prim = registry[name]
    x = randn(rng, 3, 2, **UNARY_DOMAINS[name])
    check_grads(prim.bind, (x,), order=2, modes=("fwd", "rev"))


@pytest.mark.parametrize("name", sorted(BINARY_DOMAINS))
@pytest.mark.parametrize("shapes", [((3,), (3,)), ((3, 1), (1, 4)), ((), (2, 3))], ids=str)
def test_binary_rules_match_finite_differences_with_broadcasting(rng, name, shapes):
    prim = registry[name]
    dx, dy = BINARY_DOMAINS[name]
    x, y = randn(rng, *shapes[0], **dx), randn(rng, *shapes[1], **dy)
    check_grads(prim.bind, (x, y), order=2, modes=("fwd", "rev"))


def test_max_min_split_ties_and_pick_winners(rng):
    x = vnp.array([1.0, 2.0, 3.0])
    y = vnp.array([3.0, 2.0, 1.0])
    gx, gy = vfunc.grad(lambda a, b: vnp.maximum(a, b).sum(), argnums=(0, 1))(x, y)
    assert gx.tolist() == [0.0, 0.5, 1.0] and gy.tolist() == [1.0, 0.5, 0.0]
    check_grads(lax.max, (randn(rng, 4), randn(rng, 4)), order=2)
    check_grads(lax.min, (randn(rng, 4), randn(rng, 4)), order=2)


@pytest.mark.parametrize("reducer", ["reduce_sum", "reduce_max", "reduce_min", "reduce_prod"])
@pytest.mark.parametrize("axes", [(0,), (1,), (0, 2), (0, 1, 2)], ids=str)
def test_reduction_rules(rng, reducer, axes):
    x = randn(rng, 2, 3, 4)
    check_grads(lambda v: registry[reducer].bind(v, axes=axes), (x,), order=2)


def test_prod_gradient_is_exact_with_zeros():
    x = vnp.array([2.0, 0.0, 3.0, 4.0])
    assert vfunc.grad(vnp.prod)(x).tolist() == [0.0, 24.0, 0.0, 0.0]
    two_zeros = vnp.array([0.0, 5.0, 0.0])
    assert vfunc.grad(vnp.prod)(two_zeros).tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    "lhs_shape, rhs_shape, dims",
    [
        ((3, 4), (4, 5), (((1,), (0,)), ((), ()))),
        ((4, 3), (4, 5), (((0,), (0,)), ((), ()))),
        ((2, 3, 4), (2, 4, 5), (((2,), (1,)), ((0,), (0,)))),
        ((3, 2, 4), (4, 5, 2), (((2,), (0,)), ((1,), (2,)))),
        ((2, 3, 4), (4, 3), (((1, 2), (1, 0)), ((), ()))),
        ((3,), (3,), (((0,), (0,)), ((), ()))),
    ],
    ids=["matmul", "lhs-transposed", "batched", "batch-not-leading", "two-contracting", "dot"],
)
def test_dot_general_rules(rng, lhs_shape, rhs_shape, dims):
    f = lambda a, b: lax.dot_general(a, b, dims)  # noqa: E731
    check_grads(f, (randn(rng, *lhs_shape), randn(rng, *rhs_shape)), order=2)


def test_select_convert_and_stop_gradient(rng):
    pred = vnp.array([True, False, True])
    check_grads(lambda a, b: lax.select(pred, a, b), (randn(rng, 3), randn(rng, 3)), order=2)
    # Through float32 and back: a coarse step keeps float32 rounding out of the difference.
    check_grads(lambda a: lax.convert_element_type(a, np.float32) * 1.0, (randn(rng, 3),), order=1,
                eps=1e-2, atol=1e-4, rtol=1e-4)  # fmt: skip
    g = vfunc.grad(lambda x: (x * lax.stop_gradient(x)).sum())(vnp.array([2.0, 3.0]))
    assert g.tolist() == [2.0, 3.0]


def test_every_differentiable_primitive_has_a_vjp_rule():
    missing = [p.name for p in registry.values() if p.differentiable and p.vjp is None
               and p.name != "iota"]  # fmt: skip
    assert not missing, f"primitives without a VJP rule: {missing}"


# ----------------------------------------------------------------------------------------------
# Composites


def mlp_loss(params, x, labels):
    hidden = vnp.tanh(x @ params["w1"] + params["b1"])
    logits = hidden @ params["w2"] + params["b2"]
    log_probs = logits - vnp.log(vnp.sum(vnp.exp(logits), axis=1, keepdims=True))
    return -vnp.mean(vnp.sum(log_probs * labels, axis=1))


def test_mlp_softmax_cross_entropy_gradients(rng):
    params = {"w1": randn(rng, 4, 5), "b1": randn(rng, 5), "w2": randn(rng, 5, 3),
              "b2": randn(rng, 3)}  # fmt: skip
    x = randn(rng, 6, 4)
    labels = vnp.asarray(np.eye(3)[rng.integers(0, 3, size=6)])
    check_grads(lambda p: mlp_loss(p, x, labels), (params,), order=2)


def test_layer_norm_gradients(rng):
    def layer_norm(x, scale, shift):
        mean = x.mean(axis=-1, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        return (x - mean) / vnp.sqrt(var + 1e-5) * scale + shift

    check_grads(layer_norm, (randn(rng, 3, 6), randn(rng, 6), randn(rng, 6)), order=2)


def test_third_order_derivative_of_sin():
    d3 = vfunc.grad(vfunc.grad(vfunc.grad(vnp.sin)))
    for x in (0.0, 0.7, 2.0):
        assert math.isclose(float(d3(x)), -math.cos(x), rel_tol=1e-5, abs_tol=1e-6)


def test_hessian_matches_finite_difference_hessian(x64):
    def f(x):
        return vnp.sum(vnp.sin(x) * x[::-1]) + (x @ x) ** 2

    x0 = np.array([0.3, -0.2, 0.9, 0.5])
    hess = np.asarray(vfunc.hessian(f)(vnp.asarray(x0)))
    eps = 1e-4
    numeric = np.zeros((4, 4))
    grad_f = vfunc.grad(f)
    for i in range(4):
        step = np.zeros(4)
        step[i] = eps
        numeric[:, i] = (np.asarray(grad_f(vnp.asarray(x0 + step)))
                         - np.asarray(grad_f(vnp.asarray(x0 - step)))) / (2 * eps)  # fmt: skip
    np.testing.assert_allclose(hess, numeric, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(hess, hess.T, rtol=1e-12)


@settings(max_examples=25, deadline=None)
@given(x=vst.arrays(shape=vst.shapes(min_dims=1, max_dims=2, min_side=1), min_value=-2,
                    max_value=2))  # fmt: skip
def test_softplus_like_gradient_property(x):
    # d/dx log(1 + e^x) is the logistic function, whatever the shape.
    g = vfunc.grad(lambda v: vnp.logaddexp(v, 0.0).sum())(x)
    np.testing.assert_allclose(np.asarray(g), 1 / (1 + np.exp(-np.asarray(x, np.float64))),
                               rtol=1e-5, atol=1e-6)  # fmt: skip


# ----------------------------------------------------------------------------------------------
# The API: argnums, has_aux, pytrees, closures, symbolic zeros, control flow


def test_argnums_tuple_and_int():
    f = lambda x, y, z: (x * y + z).sum()  # noqa: E731
    x, y, z = vnp.array([1.0, 2.0]), vnp.array([3.0, 4.0]), vnp.array([5.0, 6.0])
    assert vfunc.grad(f)(x, y, z).tolist() == [3.0, 4.0]
    gx, gz = vfunc.grad(f, argnums=(0, 2))(x, y, z)
    assert gx.tolist() == [3.0, 4.0] and gz.tolist() == [1.0, 1.0]
    assert vfunc.grad(f, argnums=-2)(x, y, z).tolist() == [1.0, 2.0]


def test_has_aux_and_value_and_grad():
    def loss(w):
        pred = w * 2.0
        return (pred**2).sum(), {"pred": pred}

    (value, aux), g = vfunc.value_and_grad(loss, has_aux=True)(vnp.array([1.0, -1.0]))
    assert float(value) == 8.0 and aux["pred"].tolist() == [2.0, -2.0]
    assert g.tolist() == [8.0, -8.0]
    g2, aux2 = vfunc.grad(loss, has_aux=True)(vnp.array([1.0, -1.0]))
    assert g2.tolist() == [8.0, -8.0] and type(aux2["pred"]).__name__ == "ArrayImpl"


def test_pytree_inputs_and_closures():
    scale = vnp.array(3.0)
    params = {"a": vnp.array([1.0, 2.0]), "b": (vnp.array(4.0), None)}
    grads = vfunc.grad(lambda p: (p["a"] * scale).sum() + p["b"][0] ** 2)(params)
    assert grads["a"].tolist() == [3.0, 3.0] and float(grads["b"][0]) == 8.0
    assert grads["b"][1] is None


def test_unused_inputs_and_integer_paths_give_zeros():
    f = lambda x, y: (x * 2.0).sum() + vnp.argmax(y).astype(np.float32)  # noqa: E731
    gx, gy = vfunc.grad(f, argnums=(0, 1))(vnp.ones(3), vnp.array([1.0, 5.0]))
    assert gx.tolist() == [2.0, 2.0, 2.0] and gy.tolist() == [0.0, 0.0]
    assert vfunc.grad(lambda x, y: x.sum(), argnums=1)(vnp.ones(2), vnp.ones(3)).tolist() == [
        0.0, 0.0, 0.0,
    ]  # fmt: skip


def test_fan_out_accumulates():
    f = lambda x: x * x + vnp.sin(x) * x + x  # noqa: E731
    x = 0.4
    expected = 2 * x + math.cos(x) * x + math.sin(x) + 1
    assert math.isclose(float(vfunc.grad(f)(x)), expected, rel_tol=1e-6)


def test_python_control_flow_on_concrete_values_under_grad():
    def f(x):
        if x.sum() > 0:
            return (x**2).sum()
        return (-x).sum()

    assert vfunc.grad(f)(vnp.array([1.0, 2.0])).tolist() == [2.0, 4.0]
    assert vfunc.grad(f)(vnp.array([-1.0, -2.0])).tolist() == [-1.0, -1.0]


def test_jvp_linearize_jacobians():
    f = lambda x: vnp.stack([x[0] * x[1], vnp.sin(x[0])])  # noqa: E731
    x = vnp.array([0.5, 2.0])
    expected = np.array([[2.0, 0.5], [math.cos(0.5), 0.0]])
    np.testing.assert_allclose(np.asarray(vfunc.jacfwd(f)(x)), expected, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(vfunc.jacrev(f)(x)), expected, rtol=1e-6)
    out, tangent = vfunc.jvp(f, (x,), (vnp.array([1.0, 0.0]),))
    np.testing.assert_allclose(np.asarray(tangent), expected[:, 0], rtol=1e-6)
    y, f_jvp = vfunc.linearize(f, x)
    np.testing.assert_allclose(np.asarray(f_jvp(vnp.array([0.0, 1.0]))), expected[:, 1])
    np.testing.assert_allclose(np.asarray(y), np.asarray(out))


def test_jacobian_pytree_layout_matches_jax():
    def f(x, y):
        return {"p": x * y, "s": (x**2).sum()}

    x, y = vnp.array([1.0, 2.0]), vnp.array(3.0)
    for jac in (vfunc.jacrev, vfunc.jacfwd):
        out = jac(f, argnums=(0, 1))(x, y)
        assert out["p"][0].shape == (2, 2) and out["p"][1].shape == (2,)
        assert out["s"][0].tolist() == [2.0, 4.0] and out["s"][1].shape == ()


def test_composition_with_make_jaxpr():
    jaxpr = vfunc.make_jaxpr(vfunc.grad(lambda x: vnp.sin(x) * x))(1.0)
    assert "cos" in str(jaxpr) and "sin" in str(jaxpr)
    outer = vfunc.grad(lambda x: vfunc.jaxpr.eval_jaxpr(jaxpr.jaxpr, jaxpr.consts, x)[0])(1.0)
    assert math.isclose(float(outer), 2 * math.cos(1.0) - math.sin(1.0), rel_tol=1e-5)


@given(st.floats(-3, 3))
@settings(max_examples=20, deadline=None)
def test_forward_and_reverse_agree(x):
    f = lambda v: vnp.tanh(v) * vnp.exp(-v * v)  # noqa: E731
    rev = float(vfunc.grad(f)(x))
    fwd = float(vfunc.jvp(f, (x,), (1.0,))[1])
    assert math.isclose(rev, fwd, rel_tol=1e-5, abs_tol=1e-6)


# ----------------------------------------------------------------------------------------------
# Custom rules and checkpointing


def test_custom_vjp_with_residuals_and_nondiff_argnums():
    @vfunc.custom_vjp
    def scaled_sin(x, power):
        return vnp.sin(x) ** power

    def fwd(x, power):
        return vnp.sin(x) ** power, (vnp.sin(x), vnp.cos(x))

    def bwd(power, residuals, g):
        s, c = residuals
        return (g * power * s ** (power - 1) * c,)

    custom = vfunc.custom_vjp(scaled_sin.fun, nondiff_argnums=(1,))
    custom.defvjp(fwd, bwd)
    x = vnp.array([0.3, 1.2])
    got = vfunc.grad(lambda v: custom(v, 3).sum())(x)
    want = 3 * np.sin(np.asarray(x)) ** 2 * np.cos(np.asarray(x))
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6)
    # Second order goes through the user's bwd.
    check_grads(lambda v: custom(v, 3), (x,), order=2, modes=("rev",))


def test_custom_vjp_bwd_with_wrong_structure_is_reported():
    @vfunc.custom_vjp
    def f(x, y):
        return x * y

    f.defvjp(lambda x, y: (x * y, (x, y)), lambda res, g: (g * res[1],))
    with pytest.raises(ValueError, match=r"one cotangent per differentiable argument \(2"):
        vfunc.grad(f)(1.0, 2.0)


def test_custom_vjp_rejects_forward_mode():
    @vfunc.custom_vjp
    def f(x):
        return x

    f.defvjp(lambda x: (x, None), lambda _, g: (g,))
    with pytest.raises(TypeError, match="forward-mode"):
        vfunc.jvp(f, (1.0,), (1.0,))


def test_custom_jvp_in_both_modes(rng):
    @vfunc.custom_jvp
    def softplus(x):
        return vnp.log1p(vnp.exp(x))

    @softplus.defjvp
    def _(primals, tangents):
        (x,), (t,) = primals, tangents
        return softplus(x), t * lax.logistic(x)

    assert float(vfunc.grad(softplus)(1000.0)) == 1.0  # the naive rule would give nan
    assert float(vfunc.jvp(softplus, (0.0,), (2.0,))[1]) == 1.0
    check_grads(softplus, (randn(rng, 3),), order=2)


def test_checkpoint_gives_the_same_gradients_and_recomputes(rng, monkeypatch):
    # checkpoint stages block once; what runs twice is its computation: count tanh's impl.
    tanh_p = registry["tanh"]
    calls = []
    impl = tanh_p.impl

    def counting(x):
        calls.append(1)
        return impl(x)

    monkeypatch.setattr(tanh_p, "impl", counting)

    def block(x):
        return vnp.tanh(x @ x.T).sum(axis=0)

    x = randn(rng, 3, 3)
    plain = vfunc.grad(lambda v: block(v).sum())(x)
    assert len(calls) == 1
    calls.clear()
    remat = vfunc.grad(lambda v: vfunc.checkpoint(block)(v).sum())(x)
    np.testing.assert_allclose(np.asarray(remat), np.asarray(plain), rtol=1e-6)
    assert len(calls) == 2  # once forward, once again in the backward pass
    check_grads(vfunc.checkpoint(block), (x,), order=1)


# ----------------------------------------------------------------------------------------------
# Errors


def test_grad_of_non_scalar_output_suggests_vjp_and_jacrev():
    with pytest.raises(TypeError, match=r"real scalar.*f32\[3\].*vjp or jacrev"):
        vfunc.grad(vnp.sin)(vnp.ones(3))


def test_grad_with_respect_to_integer_names_the_argument():
    def f(weights, count):
        return (weights * count).sum()

    with pytest.raises(TypeError, match=r"argument \[1\] has dtype int32"):
        vfunc.grad(f, argnums=(0, 1))(vnp.ones(2), vnp.array(3))


def test_vjp_cotangent_shape_is_checked():
    _, f_vjp = vfunc.vjp(vnp.sin, vnp.ones(3))
    with pytest.raises(ValueError, match=r"cotangent of shape \(2,\)"):
        f_vjp(vnp.ones(2))
