"""Compiled transformations of jit (issue 18, item 2): ``jit`` as a call primitive whose JVP,
VJP (linearize + transpose) and batching rules emit compiled ``jit`` calls again; the jit
cache of a function shared by every wrapper; eager control flow staging its bodies once.

Every composition is checked against the same program without jit and against finite
differences in float64; "compiled code ran" is checked by recording which primitives are
bound during a warm call: only ``jit`` equations, never the function's own operations.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest

import vfunc
import vfunc.numpy as vnp
from vfunc import lax
from vfunc.control_flow import common
from vfunc.core import Primitive
from vfunc.errors import ConcretizationTypeError
from vfunc.testing import check_grads
from vfunc.transforms import jit as jit_module


def _mlp(params, x):
    """A 2-layer tanh MLP with a scalar loss: matmuls, broadcasting adds, a reduction."""
    h = x
    for w, b in params:
        h = vnp.tanh(h @ w + b)
    return (h * h).mean()


def _mlp_args(rng, dtype=np.float64):
    sizes = [3, 4, 2]
    params = [
        (vnp.asarray(rng.normal(size=(a, b)).astype(dtype)),
         vnp.asarray(rng.normal(size=(b,)).astype(dtype)))
        for a, b in zip(sizes[:-1], sizes[1:], strict=True)
    ]  # fmt: skip
    return params, vnp.asarray(rng.normal(size=(5, 3)).astype(dtype))


def _close(a, b, rtol=1e-10, atol=1e-12):
    for u, v in zip(vfunc.tree.leaves(a), vfunc.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=rtol, atol=atol)


class _Binds:
    """Records the names of the primitives bound while active (every interpreter goes through
    ``Primitive.bind``; the compiled code calls impls directly and binds nothing)."""

    def __init__(self, monkeypatch):
        self.names: list[str] = []
        original = Primitive.bind
        names = self.names

        def bind(prim, *args, **params):
            names.append(prim.name)
            return original(prim, *args, **params)

        monkeypatch.setattr(Primitive, "bind", bind)


# ----------------------------------------------------------------------------------------------
# Every composition against the program without jit and against finite differences


TRANSFORMS = {
    "grad": lambda f: vfunc.grad(f),
    "value_and_grad": lambda f: vfunc.value_and_grad(f),
    "grad_argnums": lambda f: vfunc.grad(f, argnums=(0, 1)),
    "jacfwd": lambda f: vfunc.jacfwd(f),
    "jacrev": lambda f: vfunc.jacrev(f),
    "hessian_x": lambda f: vfunc.hessian(lambda p, x: f(p, x), argnums=1),
    "jvp": lambda f: lambda p, x: vfunc.jvp(lambda x: f(p, x), (x,), (vnp.ones_like(x),)),
    "vmap": lambda f: vfunc.vmap(f, in_axes=(None, 0)),
    "vmap_of_grad": lambda f: vfunc.vmap(vfunc.grad(f), in_axes=(None, 0)),
    "grad_of_vmap": lambda f: vfunc.grad(lambda p, x: vfunc.vmap(f, (None, 0))(p, x).sum()),
}


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_transformation_of_jit_matches_the_same_program_without_jit(name, x64, rng):
    params, x = _mlp_args(rng)
    if name.startswith("vmap") or name == "grad_of_vmap":
        x = vnp.stack([x, 2 * x, -x])
    transform = TRANSFORMS[name]
    want = transform(_mlp)(params, x)
    _close(transform(vfunc.jit(_mlp))(params, x), want)  # transformation of jit
    _close(vfunc.jit(transform(_mlp))(params, x), want)  # jit of the transformation
    _close(vfunc.jit(transform(vfunc.jit(_mlp)))(params, x), want)  # both


def test_jit_derivatives_match_finite_differences(x64, rng):
    params, x = _mlp_args(rng)
    f = vfunc.jit(lambda w1, b1, x: _mlp([(w1, b1)], x))
    w, b = params[0]
    check_grads(f, (w, b, x), order=2, modes=("fwd", "rev"))
    # a function with several outputs, one of them an integer
    g = vfunc.jit(lambda x: (vnp.sin(x) * x, vnp.argmax(x), vnp.exp(x).sum()))
    check_grads(lambda x: (g(x)[0], g(x)[2]), (x,), order=2, modes=("fwd", "rev"))


def test_nested_jit_and_jit_inside_scan_and_cond_bodies(x64, rng):
    params, x = _mlp_args(rng)
    inner = vfunc.jit(_mlp)
    outer = vfunc.jit(lambda p, x: inner(p, x) * 2.0 + inner(p, 2 * x))

    def plain(p, x):
        return _mlp(p, x) * 2.0 + _mlp(p, 2 * x)

    _close(outer(params, x), plain(params, x))
    _close(vfunc.grad(outer)(params, x), vfunc.grad(plain)(params, x))
    # the outer compilation inlines the inner calls: one program, fused across the call
    assert [e.primitive.name for e in vfunc.make_jaxpr(outer)(params, x).eqns] == ["jit"]
    optimized = outer.lower(params, x).jaxpr
    assert "jit" not in {e.primitive.name for e in optimized.eqns}
    assert "tanh" in {e.primitive.name for e in optimized.eqns}

    def scanned(f):
        def loss(p, x):
            def step(carry, row):
                return carry + f(p, row[None]), carry

            total, _ = lax.scan(step, 0.0, x)
            return lax.cond(total > 0, lambda t: f(p, x) * t, lambda t: -t, total)

        return loss

    for transform in (lambda f: f, vfunc.grad, vfunc.jit, lambda f: vfunc.jit(vfunc.grad(f))):
        _close(transform(scanned(inner))(params, x), transform(scanned(_mlp))(params, x))
    check_grads(scanned(inner), (params, x), order=1, modes=("rev",))


def test_custom_vjp_inside_jit_under_grad_uses_the_custom_rule(x64):
    @vfunc.custom_vjp
    def clipped(x):
        return vnp.sin(x)

    def fwd(x):
        return vnp.sin(x), x

    def bwd(x, g):
        return (g * 10.0 * vnp.cos(x),)  # deliberately not the true derivative

    clipped.defvjp(fwd, bwd)
    f = vfunc.jit(lambda x: (clipped(x) * x).sum())
    x = vnp.asarray([0.1, 0.5, 1.0])
    xs = np.asarray(x)
    want = 10.0 * np.cos(xs) * xs + np.sin(xs)
    np.testing.assert_allclose(np.asarray(vfunc.grad(f)(x)), want, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(vfunc.jit(vfunc.grad(f))(x)), want, rtol=1e-12)


# ----------------------------------------------------------------------------------------------
# Compiled code runs, and nothing is traced again


def test_warm_transformations_of_jit_run_only_compiled_calls(monkeypatch, x64, rng):
    params, x = _mlp_args(rng)
    f = vfunc.jit(_mlp)
    xs = vnp.stack([x, x])
    # grad of a function calling f (not f itself, which compiles as jit(grad(f)): below)
    grad_f = vfunc.grad(lambda p, x: f(p, x))
    vmap_f = vfunc.vmap(f, in_axes=(None, 0))
    jvp_f = lambda p, x: vfunc.jvp(lambda x: f(p, x), (x,), (x,))  # noqa: E731
    for fn, arg in ((grad_f, x), (vmap_f, xs), (jvp_f, x)):
        fn(params, arg)  # warm: stage and compile
    traces = f._trace_count()
    binds = _Binds(monkeypatch)
    grad_f(params, x)
    # the call under grad, then the forward call (outputs and residuals) and the backward
    # call it becomes: nothing interpreted
    assert binds.names == ["jit", "jit", "jit"]
    binds.names.clear()
    vmap_f(params, xs)
    jvp_f(params, x)
    assert set(binds.names) == {"jit"}, binds.names
    assert f._trace_count() == traces  # no retrace for any of them


def test_grad_of_jit_stages_its_derived_programs_once(rng, x64):
    params, x = _mlp_args(rng)
    jitted = vfunc.jit(_mlp)
    f = vfunc.jit(lambda p, x: jitted(p, x) + 0.0)  # grad sees a jit call, not f itself
    vfunc.grad(f)(params, x)
    derived, traces = len(jit_module._DERIVED._entries), f._trace_count()
    for _ in range(3):
        vfunc.grad(f)(params, x)
    # (the caches belong to _mlp, which other tests jit too: count what these calls add)
    assert len(jit_module._DERIVED._entries) == derived and f._trace_count() == traces


def test_inline_jit_in_a_loop_traces_once():
    calls = []

    def f(x):
        calls.append(1)
        return vnp.sin(x) * 2.0

    x = vnp.ones(3)
    for _ in range(4):
        vfunc.jit(f)(x)
    assert len(calls) == 1 and vfunc.jit(f)._cache_size() == 1
    for _ in range(3):
        vfunc.grad(lambda x: vfunc.jit(f)(x).sum())(x)
    assert len(calls) == 2  # once more, for the call under grad (a jit equation)
    # other options are another specialization
    vfunc.jit(f, donate_argnums=0)(vnp.ones(3))
    assert len(calls) == 3


def test_the_cache_leaves_with_its_function():
    def f(x):
        return x + 1.0

    vfunc.jit(f)(vnp.ones(2))
    key = id(f)
    assert key in jit_module._BY_FUNCTION
    del f
    gc.collect()
    assert key not in jit_module._BY_FUNCTION


def test_fresh_closures_over_different_values_are_not_confused():
    x = vnp.ones(2)
    for w in (1.0, 2.0, 3.0):
        np.testing.assert_allclose(np.asarray(vfunc.jit(lambda x: x * w)(x)), [w, w])  # noqa: B023
        g = vfunc.grad(lambda x: vfunc.jit(lambda x: (x * w).sum())(x))  # noqa: B023
        np.testing.assert_allclose(np.asarray(g(x)), [w, w])


def test_make_jaxpr_shows_a_readable_jit_equation():
    @vfunc.jit
    def double_sin(x):
        return vnp.sin(x) * 2.0

    text = str(vfunc.make_jaxpr(lambda x: double_sin(x) + 1.0)(vnp.ones(3)))
    assert "jit[" in text and "name=double_sin" in text and "sin" in text
    # derived calls are named after what they do
    text = str(vfunc.make_jaxpr(vfunc.grad(lambda x: double_sin(x).sum()))(vnp.ones(3)))
    assert "name=double_sin" in text and "name=transpose(jvp(double_sin))" in text


def test_jit_under_grad_with_python_control_flow_on_a_traced_value_explains():
    # As in JAX: under a transformation the jitted function is staged on abstract values.
    f = vfunc.jit(lambda x, flag: x if flag > 0 else -x)
    with pytest.raises(ConcretizationTypeError, match="static_argnums"):
        vfunc.grad(lambda x: f(x, vnp.asarray(1.0)))(vnp.asarray(2.0))
    g = vfunc.jit(lambda x, flag: x * 3.0 if flag > 0 else -x, static_argnums=1)
    np.testing.assert_allclose(np.asarray(vfunc.grad(lambda x: g(x, 1))(vnp.asarray(2.0))), 3.0)


def test_jit_call_under_grad_closing_over_a_traced_value(x64):
    # The jitted function closes over a value being differentiated: it becomes an operand.
    def outer(w, x):
        return vfunc.jit(lambda x: (vnp.sin(x * w)).sum())(x)

    x, w = vnp.asarray([0.3, 0.7]), vnp.asarray(1.5)
    want = (np.cos(np.asarray(x) * 1.5) * np.asarray(x)).sum()
    np.testing.assert_allclose(np.asarray(vfunc.grad(outer)(w, x)), want, rtol=1e-12)


# ----------------------------------------------------------------------------------------------
# Eager control flow stages its functions once


class _Log:
    """A log the functions below append to: an object, so that the closures' key (which
    compares closed-over lists by content) does not change as it grows."""

    def __init__(self):
        self.entries = []

    def append(self, entry):
        self.entries.append(entry)


def test_eager_scan_cond_while_stage_their_bodies_once():
    log = _Log()
    traced = log.entries

    def step(c, x):
        log.append("scan")
        return c + x, c

    def pick(x):
        log.append("cond")
        return x * 2.0

    def keep_going(c):
        log.append("while")
        return c < 10.0

    xs = vnp.arange(4.0)
    for _ in range(3):
        lax.scan(step, 0.0, xs)
        lax.cond(True, pick, lambda x: x, vnp.ones(2))
        lax.while_loop(keep_going, lambda c: c + 3.0, 0.0)
        lax.fori_loop(0, 3, lambda i, c: c + i, 0.0)
    assert sorted(traced) == ["cond", "scan", "while"]
    # a new argument type is a new staging
    lax.scan(step, vnp.zeros(2), vnp.ones((3, 2)))
    assert traced.count("scan") == 2


def test_eager_scan_bodies_closing_over_different_values_are_not_confused():
    xs = vnp.ones(3)

    def run(w):  # a fresh closure per call, over a different value each time
        return lax.scan(lambda c, x: (c * w + x, c), 0.0, xs)[0]

    assert [float(run(w)) for w in (1.0, 2.0, 1.0, 3.0)] == [3.0, 7.0, 3.0, 13.0]

    def run_array(w):
        return lax.scan(lambda c, x: (c * w + x, c), vnp.zeros(2), vnp.ones((3, 2)))[0]

    for w in (vnp.asarray([1.0, 2.0]), vnp.asarray([3.0, 0.0])):
        want = np.zeros(2)
        for _ in range(3):
            want = want * np.asarray(w) + 1.0
        np.testing.assert_allclose(np.asarray(run_array(w)), want)


GLOBAL_SCALE = 2.0


def _scaled_step(c, x):
    return c * GLOBAL_SCALE + x, c


def test_eager_scan_sees_a_reassigned_global(monkeypatch):
    xs = vnp.ones(3)
    assert float(lax.scan(_scaled_step, 0.0, xs)[0]) == 7.0
    monkeypatch.setattr(f"{__name__}.GLOBAL_SCALE", 3.0)
    assert float(lax.scan(_scaled_step, 0.0, xs)[0]) == 13.0
    # and the cond branch through a helper function it calls
    monkeypatch.setattr(f"{__name__}.GLOBAL_SCALE", 5.0)
    assert float(lax.cond(True, lambda x: _scaled_step(x, 0.0)[0], lambda x: x, 1.0)) == 5.0


def test_eager_control_flow_closing_over_a_tracer_is_not_cached(x64):
    before = len(common._STAGED)

    def loss(w):
        return lax.scan(lambda c, x: (c + w * x, None), 0.0, vnp.arange(3.0))[0]

    assert [float(vfunc.grad(loss)(vnp.asarray(w))) for w in (1.0, 2.0)] == [3.0, 3.0]
    assert float(loss(vnp.asarray(2.0))) == 6.0
    assert len(common._STAGED) <= before + 1  # only the concrete call's staging is kept


# ----------------------------------------------------------------------------------------------
# grad (and value_and_grad) of a jitted function compiles as jit(grad(f)): one program


def _counted(log):
    def loss(p, x, scale=1.0):
        log.append(x.shape)
        return _mlp(p, x) * scale

    return loss


def test_grad_of_a_jitted_function_is_one_compiled_program(monkeypatch, x64, rng):
    params, x = _mlp_args(rng)
    log = []
    f = vfunc.jit(_counted(log))
    plain = _counted([])
    for make in (vfunc.grad, vfunc.value_and_grad,
                 lambda f: vfunc.grad(f, argnums=(0, 1)),
                 lambda f: vfunc.grad(lambda p, x: (f(p, x), x.sum()), has_aux=True)):  # fmt: skip
        _close(make(f)(params, x), make(plain)(params, x))
    check_grads(f, (params, x), order=1, modes=("rev",))
    binds = _Binds(monkeypatch)
    vfunc.grad(f)(params, x)
    assert binds.names == []  # a compiled call binds nothing: no tape, no interpreted op
    # made once per function: an inline grad(jit(f)) in a loop neither retraces nor recompiles
    before = len(log)
    for _ in range(3):
        vfunc.grad(vfunc.jit(f.fun))(params, x)
    assert len(log) == before
    # a new shape or dtype is a new specialization, never a wrong cache hit
    x3 = vnp.concatenate([x, x])
    _close(vfunc.grad(f)(params, x3), vfunc.grad(plain)(params, x3))
    p32 = [(w.astype(np.float32), b.astype(np.float32)) for w, b in params]
    g32 = vfunc.grad(f)(p32, x.astype(np.float32))
    assert vfunc.tree.leaves(g32)[0].dtype == np.float32
    _close(g32, vfunc.grad(plain)(params, x), rtol=1e-4, atol=1e-5)
    assert len(log) == before + 2


def test_grad_of_jit_with_static_arguments_and_under_other_transformations(x64, rng):
    params, x = _mlp_args(rng)
    plain = _counted([])
    f = vfunc.jit(plain, static_argnums=2)
    for scale in (1.0, 3.0, 1.0):  # the static value is part of the key
        _close(vfunc.grad(f)(params, x, scale), vfunc.grad(plain)(params, x, scale))
    g = vfunc.jit(plain, static_argnames="scale")
    _close(vfunc.grad(g)(params, x, scale=2.0), vfunc.grad(plain)(params, x, scale=2.0))
    with pytest.raises(ValueError, match="static argument 2"):  # differentiating a static one
        vfunc.grad(f, argnums=2)(params, x, 2.0)
    # under vmap, grad and an enclosing jit: the same values as without jit
    xs = vnp.stack([x, 2 * x])
    h = vfunc.jit(_mlp)
    _close(vfunc.vmap(vfunc.grad(h), in_axes=(None, 0))(params, xs),
           vfunc.vmap(vfunc.grad(_mlp), in_axes=(None, 0))(params, xs))  # fmt: skip
    inner = lambda f: lambda x, p: vfunc.grad(f)(p, x)[0][1].sum()  # noqa: E731
    _close(vfunc.grad(inner(h))(x, params), vfunc.grad(inner(_mlp))(x, params))
    _close(vfunc.jit(vfunc.grad(h))(params, x), vfunc.grad(_mlp)(params, x))
    with vfunc.disable_jit():
        _close(vfunc.grad(h)(params, x), vfunc.grad(_mlp)(params, x))


def test_grad_of_jit_with_donation_keeps_the_forward_and_backward_calls(x64, rng):
    params, x = _mlp_args(rng)
    f = vfunc.jit(_mlp, donate_argnums=1)
    assert f._vf_transformed(vfunc.grad, (0, False, False)) is None
    _close(vfunc.grad(f)(params, x), vfunc.grad(_mlp)(params, x))


def test_a_cached_grad_of_jit_leaves_with_its_function(x64):
    def f(x):
        return (vnp.sin(x) * x).sum()

    x = vnp.asarray([0.5, 1.0])
    np.testing.assert_allclose(np.asarray(vfunc.grad(vfunc.jit(f))(x)),
                               np.cos([0.5, 1.0]) * [0.5, 1.0] + np.sin([0.5, 1.0]))  # fmt: skip
    key = id(f)
    assert key in jit_module._BY_FUNCTION
    del f
    gc.collect()
    assert key not in jit_module._BY_FUNCTION


def test_grad_of_an_inline_jitted_lambda_outlives_its_jit_wrapper(x64):
    # Only the gradient function refers to the lambda: it must keep it alive.
    g = vfunc.grad(vfunc.jit(lambda x: (x * x).sum()))
    gc.collect()
    np.testing.assert_allclose(np.asarray(g(vnp.asarray([1.0, -2.0]))), [2.0, -4.0])
    with pytest.raises(TypeError, match="real scalar"):  # grad's own error, through the jit
        vfunc.grad(vfunc.jit(lambda x: x * 2.0))(vnp.ones(3))
    with pytest.raises(TypeError, match="real- or complex-valued inputs"):
        vfunc.grad(vfunc.jit(lambda x: (x * x).sum()))(vnp.arange(3))
