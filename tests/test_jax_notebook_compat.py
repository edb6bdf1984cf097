"""What JAX's documentation notebooks print or catch, checked against the outputs JAX 0.10.2 gave
for the same cells (recorded once; issue 17 item 4): tracer reprs, the exception types user
code catches, ``jax.debug.breakpoint``, and the stack family's refusal of nested sequences."""

from __future__ import annotations

import sys

import pytest

import vfunc
import vfunc.numpy as vnp


def _seen_repr(transform, x):
    seen = []

    def f(v):
        seen.append((repr(v), str(v), f"{v}"))
        return (v * 2).sum()

    transform(f)(x)
    return seen[0]


def test_tracer_reprs_spell_as_in_jax():
    # each line is what JAX 0.10.2 printed for print(x) inside the same transformation
    assert _seen_repr(vfunc.jit, 1.0) == ("JitTracer(~float32[])",) * 3
    assert _seen_repr(vfunc.make_jaxpr, vnp.ones((2, 3), bool))[0] == "JitTracer(bool[2,3])"
    assert _seen_repr(vfunc.vmap, vnp.ones((2, 3)))[0] == (
        "VmapTracer(aval=float32[3], batched=float32[2,3])"
    )
    assert _seen_repr(vfunc.grad, vnp.ones(3))[0] == (
        "GradTracer(primal=[1. 1. 1.], typeof(tangent)=f32[3])"
    )
    assert _seen_repr(lambda f: vfunc.jit(vfunc.grad(f)), vnp.ones(3))[0] == (
        "GradTracer(primal=JitTracer(float32[3]), typeof(tangent)=f32[3])"
    )
    seen = []
    vfunc.jvp(lambda v: seen.append(repr(v)) or v.sum(), (vnp.ones(2),), (vnp.ones(2),))
    assert seen == ["JVPTracer(primal=[1. 1.], tangent=[1. 1.])"]


def test_traced_dimension_is_a_type_error_as_in_jax():
    # control-flow.md: jit(example_fun)(10, 4) where example_fun builds jnp.ones((length,))
    def example_fun(length, val):
        return vnp.ones((length,)) * val

    with pytest.raises(TypeError, match="static_argnums"):
        vfunc.jit(example_fun)(10, 4)
    with pytest.raises(ValueError):  # ShapeError's NumPy-side users keep working
        vfunc.jit(example_fun)(10, 4)
    good = vfunc.jit(example_fun, static_argnames="length")
    assert good(5, 4).tolist() == [4.0] * 5


def test_debug_breakpoint_stops_only_when_its_branch_runs(monkeypatch):
    stops = []
    monkeypatch.setattr(sys, "breakpointhook", lambda *a, **k: stops.append(1))

    def breakpoint_if_nonfinite(x):
        is_finite = vnp.isfinite(x).all()

        def true_fn(x):
            pass

        def false_fn(x):
            vfunc.debug.breakpoint()

        vfunc.lax.cond(is_finite, true_fn, false_fn, x)

    @vfunc.jit
    def f(x, y):
        z = x / y
        breakpoint_if_nonfinite(z)
        return z

    assert float(f(2.0, 1.0)) == 2.0 and stops == []
    f(2.0, 0.0)
    f(2.0, 0.0)
    assert stops == [1, 1]  # on every call, not once while tracing


@pytest.mark.parametrize("op", ["vstack", "hstack", "stack", "dstack"])
def test_stacking_nested_sequences_is_a_type_error(op):
    # autodiff_cookbook: jnp.vstack([vjp_fun(mi) for mi in M]) stacks 1-tuples; JAX refuses
    rows = [(vnp.ones(3),), (vnp.ones(3),)]
    with pytest.raises(TypeError, match=rf"{op} requires ndarray or scalar arguments"):
        getattr(vnp, op)(rows)
    assert getattr(vnp, op)([vnp.ones(3), vnp.zeros(3)]).size == 6


# ----------------------------------------------------------------------------------------------
# custom_jvp / custom_vjp under differentiation alone: the rule runs on the primal values and
# the function is not traced first (Custom_derivative_rules_for_Python_code.ipynb)


def _logged_custom_jvp(log):
    @vfunc.custom_jvp
    def f(x):
        log.append("f")
        return vnp.sin(x)

    @f.defjvp
    def f_jvp(primals, tangents):
        log.append("f_jvp")
        (x,), (t,) = primals, tangents
        return f(x), vnp.cos(x) * t

    return f


def test_custom_jvp_under_grad_calls_the_function_as_jax_does():
    log = []
    f = _logged_custom_jvp(log)
    assert float(vfunc.grad(f)(3.0)) == pytest.approx(-0.9899925, abs=1e-6)
    assert log == ["f_jvp", "f"]  # JAX: "called f_jvp!", "called f!"
    log.clear()
    _, t = vfunc.jvp(f, (3.0,), (1.0,))
    assert log == ["f_jvp", "f"] and float(t) == pytest.approx(-0.9899925, abs=1e-6)
    log.clear()
    assert float(vfunc.grad(vfunc.grad(f))(3.0)) == pytest.approx(-0.14112, abs=1e-5)
    assert log == ["f_jvp", "f_jvp", "f"]
    # under jit and vmap the function is staged, and the rule still holds
    log.clear()
    assert float(vfunc.jit(vfunc.grad(f))(3.0)) == pytest.approx(-0.9899925, abs=1e-6)
    got = vfunc.vmap(vfunc.grad(f))(vnp.arange(3.0))
    assert got.tolist() == pytest.approx(vnp.cos(vnp.arange(3.0)).tolist(), abs=1e-6)


def test_custom_jvp_with_python_control_flow_on_its_argument():
    @vfunc.custom_jvp
    def f(x):
        return vnp.sin(x) if x > 0 else vnp.cos(x)

    @f.defjvp
    def f_jvp(primals, tangents):
        (x,), (x_dot,) = primals, tangents
        ans = f(x)
        return (ans, 2 * x_dot) if x > 0 else (ans, 3 * x_dot)

    assert float(vfunc.grad(f)(1.0)) == 2.0
    assert float(vfunc.grad(f)(-1.0)) == 3.0
    assert float(vfunc.grad(lambda x: f(x) * x)(-1.0)) == pytest.approx(3.0 * -1 + float(vnp.cos(-1.0)))


def test_custom_vjp_under_grad_runs_fwd_and_bwd_once():
    log = []

    @vfunc.custom_vjp
    def f(x):
        log.append("f")
        return vnp.sin(x)

    def f_fwd(x):
        log.append("f_fwd")
        return f(x), vnp.cos(x)

    def f_bwd(cos_x, y_bar):
        log.append("f_bwd")
        return (cos_x * y_bar,)

    f.defvjp(f_fwd, f_bwd)
    assert float(vfunc.grad(f)(3.0)) == pytest.approx(-0.9899925, abs=1e-6)
    assert log == ["f_fwd", "f", "f_bwd"]  # JAX's order
    log.clear()
    y, f_vjp = vfunc.vjp(f, 3.0)
    assert log == ["f_fwd", "f"] and float(f_vjp(1.0)[0]) == pytest.approx(-0.9899925, abs=1e-6)


def test_custom_vjp_pytree_output_structure_from_the_rule():
    # the output structure comes from fwd when the function is not staged
    @vfunc.custom_vjp
    def f(x):
        return {"a": x**2, "b": (vnp.sin(x), vnp.cos(x))}

    def f_fwd(x):
        return f(x), x

    def f_bwd(x, g):
        return (2 * x * g["a"] + vnp.cos(x) * g["b"][0] - vnp.sin(x) * g["b"][1],)

    f.defvjp(f_fwd, f_bwd)
    fun = lambda x: f(x)["a"] + f(x)["b"][0]  # noqa: E731
    assert float(vfunc.grad(fun)(1.0)) == pytest.approx(2.0 + float(vnp.cos(1.0)), abs=1e-6)


@pytest.mark.parametrize("name", ["sum", "prod", "max", "min", "mean", "var", "argmax", "all"])
def test_reductions_refuse_python_lists_as_jax_does(name):
    # Common_Gotchas_in_JAX: jnp.sum([1, 2, 3]) raises TypeError; jnp.sum(jnp.array(x)) is the fix
    with pytest.raises(TypeError, match=rf"{name} requires ndarray or scalar arguments"):
        getattr(vnp, name)([1, 2, 3])
    assert float(getattr(vnp, name)(vnp.array([1, 2, 3]))) == pytest.approx(
        float(getattr(__import__("numpy"), name)([1, 2, 3])), rel=1e-6
    )
