"""The registry battery: every primitive in ``vfunc.core.registry``, checked through ``bind``.

One examples table (``EXAMPLES``: primitive name -> cases) drives the forward tests against a
float64 NumPy reference and the shape-rule/impl consistency tests; a primitive added to the
registry without rows here fails ``test_every_primitive_has_rules_and_examples``. Hypothesis
draws shapes, axes, permutations and slices for the shape rules; the remaining sections check
bad input, views, dot_general layouts and x64 mode.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import vfunc
from vfunc import lax
from vfunc.core import registry
from vfunc.errors import DtypeError, ShapeError
from vfunc.jaxpr import eval_jaxpr
from vfunc.primitives.collectives import AxisPrimitive

from cases import (
    ALL_CASES,
    AS_IS,
    BINARY_FLOAT,
    BINARY_NAMES,
    BITWISE,
    BOOL,
    C64,
    COMPARISONS,
    DOT_LAYOUTS,
    EXAMPLES,
    F16,
    F32,
    F32_TOL,
    F64,
    FIXED,
    GRAD_CASES,
    I32,
    I64,
    NO_GRAD_CHECK,
    REDUCTIONS,
    REFUSED_CASES,
    SHIFTS,
    SUM_TOL,
    TRANSCENDENTAL,
    UNARY_FLOAT,
    Case,
    as_list,
    assert_close,
    f64,
    rng_for,
    round_half_away,
    run_case,
    ties,
    to_vfunc,
    unary_out_dtype,
    uniform,
)

# ----------------------------------------------------------------------------------------------
# 1. Completeness


def _vfunc_primitives() -> dict:
    # Only primitives declared by vfunc itself: a toy primitive registered by some test module
    # must not make this battery demand examples for it.
    return {
        name: prim
        for name, prim in registry.items()
        if getattr(prim.shape_rule, "__module__", "").startswith("vfunc.")
        and not isinstance(prim, AxisPrimitive)  # need a bound axis: tests/test_collectives.py
    }


def test_every_primitive_has_rules_and_examples():
    prims = _vfunc_primitives()
    assert len(prims) >= 75
    missing = sorted(set(prims) - set(EXAMPLES))
    assert not missing, f"add rows for these primitives to tests/test_primitives.py: {missing}"
    unknown = sorted(set(EXAMPLES) - set(registry))
    assert not unknown, f"examples for primitives that are not registered: {unknown}"
    for name, prim in prims.items():
        assert prim.name == name
        assert callable(prim.impl), name
        assert callable(prim.shape_rule), name
        assert callable(prim.weak_type_rule), name
        assert len(EXAMPLES[name]) >= 3, f"{name} needs at least three examples"


def test_example_ids_are_unique():
    ids = [case.id for case in ALL_CASES]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


# ----------------------------------------------------------------------------------------------
# 2. Forward values against float64 numpy


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
def test_forward_matches_numpy(case: Case):
    outs = as_list(run_case(case))
    expected = case.expected if isinstance(case.expected, list) else [case.expected]
    dtypes = case.dtype if isinstance(case.dtype, list) else [case.dtype]
    assert len(outs) == len(expected)
    for out, ref, dtype in zip(outs, expected, dtypes, strict=True):
        assert isinstance(out, vfunc.Array)
        assert out.weak_type is case.weak
        assert_close(out, ref, dtype, **case.tol)


# ----------------------------------------------------------------------------------------------
# 2b. Gradients from the same table, at each case's gradient domain, in both modes


def _grad_point(case: Case) -> tuple[list, list[int]]:
    """Arguments in float64 at the case's gradient domain, and which ones are differentiated."""
    rng = rng_for("grad", case.id)
    point = []
    for arg, dom in zip(case.args, case.domain, strict=True):
        if dom is FIXED:
            # a float operand held fixed (an order or shape parameter) joins the others' float64
            floating = isinstance(arg, np.ndarray) and arg.dtype == F32
            point.append(np.asarray(arg, np.float64) if floating else arg)
        elif dom is AS_IS:  # complex arguments stay complex (check_grads pairs them as JAX)
            point.append(np.asarray(arg, np.complex128 if np.iscomplexobj(arg) else np.float64))
        else:
            point.append(np.asarray(dom(rng, np.shape(arg)), np.float64))
    return point, [i for i, dom in enumerate(case.domain) if dom is not FIXED]


# custom_vjp rules define reverse mode only; forward mode is refused (as in JAX)
REVERSE_ONLY = {"custom_vjp_call": ("rev",)}


@pytest.mark.parametrize("case", GRAD_CASES, ids=lambda c: c.id)
def test_gradients_match_finite_differences(case: Case):
    from vfunc.testing import check_grads

    prim = registry[case.prim]
    point, diff = _grad_point(case)
    with vfunc.testing.gradients.enable_x64():
        point = [lax.as_array(a) for a in point]

        def f(*xs):
            args = list(point)
            for i, x in zip(diff, xs, strict=True):
                args[i] = x
            return prim.bind(*args, **{**case.params, **(case.grad_params or {})})

        args = [point[i] for i in diff]
        modes = REVERSE_ONLY.get(case.prim, ("fwd", "rev"))
        if "fwd" not in modes:  # refused clearly, not silently skipped
            with pytest.raises(TypeError, match="forward-mode"):
                vfunc.jvp(f, args, args)
        # elementwise rules are checked to second order (their VJPs are differentiated again)
        check_grads(f, args, order=2 if prim.elementwise else 1, modes=modes)


@pytest.mark.parametrize("case", REFUSED_CASES, ids=lambda c: c.id)
def test_refused_gradients_raise(case: Case):
    # Forward and reverse mode both refuse, naming the op, the shape seen and what is supported.
    prim = registry[case.prim]
    x = lax.as_array(case.args[0])
    f = lambda a: prim.bind(a, **case.params)  # noqa: E731
    shape = re.escape(str(tuple(case.args[0].shape)))
    pull = lambda out, f_vjp: f_vjp(out)  # noqa: E731
    for attempt in (lambda: vfunc.jvp(f, (x,), (x,)), lambda: pull(*vfunc.vjp(f, x))):
        with pytest.raises(NotImplementedError, match=rf"^{case.prim}: the derivative .*{shape}"):
            attempt()
    assert {c.prim for c in REFUSED_CASES} == {"svd", "qr"}


def test_erf_inv_gradient_near_the_poles():
    # d erfinv / dx = sqrt(pi) / 2 * exp(erfinv(x)**2) grows like 1 / (1 - |x|): the central
    # difference needs a step well inside 1 - |x| (5e-7 here), and then agrees to second order.
    from vfunc.testing import check_grads

    x = np.array([-0.999, 0.999999, -0.9999995], np.float64)
    check_grads(lax.erf_inv, [x], order=2, eps=1e-9)
    with vfunc.testing.gradients.enable_x64():
        slope = np.asarray(vfunc.vmap(vfunc.grad(lax.erf_inv))(lax.as_array(x)))
    from references import random as rref

    y = np.array([rref.erfinv(v) for v in x])
    np.testing.assert_allclose(slope, math.sqrt(math.pi) / 2 * np.exp(y * y), rtol=1e-9)


def _gamma_log_cdf(a: float, t: float) -> float:
    """log P(a, e**t), P the regularised lower incomplete gamma, by its power series (float64,
    in log form so that tiny samples keep their precision)."""
    x, term, total, n = math.exp(t), 1.0, 1.0, a
    while term > 1e-17 * total:
        n += 1.0
        term *= x / n
        total += term
    return a * t - x - math.lgamma(a + 1) + math.log(total)


def _gamma_log_quantile(a: float, log_u: float, t: float) -> float:
    """log x with P(a, x) = u, by Newton's method in t = log x from a nearby start."""
    for _ in range(50):
        log_p = _gamma_log_cdf(a, t)
        # d log P / dt = x * density / P
        step = (log_p - log_u) / math.exp(a * t - math.exp(t) - math.lgamma(a) - log_p)
        t -= step
        if abs(step) <= 1e-13 * max(1.0, abs(t)):  # then within rounding of log P
            return t
    raise AssertionError(f"no convergence for a={a}, log u={log_u}")


@pytest.mark.parametrize("case", EXAMPLES["random_gamma"], ids=lambda c: c.id)
def test_gamma_gradient_is_the_quantile_derivative(case: Case):
    # Independent reference: hold u = P(a, x) of each float64 sample fixed and difference the
    # quantile x(a) = P^-1(a, u) centrally in a (log x(a) for log_space).
    keys, a = case.args
    log_space = case.params["log_space"]
    with vfunc.testing.gradients.enable_x64():
        a64 = lax.as_array(f64(a))
        key_data = lax.as_array(keys)
        f = lambda al: registry["random_gamma"].bind(key_data, al, **case.params)  # noqa: E731
        tangent = lax.as_array(rng_for("gamma_tangent", case.id).standard_normal(a.shape))
        out, jvp_out = vfunc.jvp(f, (a64,), (tangent,))
        (vjp_out,) = vfunc.vjp(f, a64)[1](tangent)
    t0 = np.asarray(out) if log_space else np.log(np.asarray(out))
    ref = np.empty(a.shape)
    for i in np.ndindex(a.shape):
        ai = float(a[i])
        log_u = _gamma_log_cdf(ai, float(t0[i]))
        h = 1e-5 * ai
        up, down = (_gamma_log_quantile(ai + d, log_u, float(t0[i])) for d in (h, -h))
        ref[i] = (up - down) / (2 * h) * (1.0 if log_space else math.exp(t0[i]))
    np.testing.assert_allclose(np.asarray(jvp_out), ref * np.asarray(tangent), rtol=1e-6,
                               atol=1e-300)  # fmt: skip
    np.testing.assert_allclose(np.asarray(vjp_out), ref * np.asarray(tangent), rtol=1e-6,
                               atol=1e-300)  # fmt: skip


def test_every_differentiable_primitive_has_gradient_cases():
    checked = {case.prim for case in GRAD_CASES}
    missing = sorted(name for name, prim in _vfunc_primitives().items()
                     if prim.differentiable and name not in checked | NO_GRAD_CHECK)  # fmt: skip
    assert not missing, f"give these primitives a gradient domain in the examples: {missing}"
    # kinked ops are checked on both sides of the kink
    for name in ("abs", "max", "min"):
        points = [_grad_point(c)[0][0] for c in GRAD_CASES if c.prim == name]
        values = np.concatenate([np.ravel(v) for v in points])
        assert (values < 0).any() and (values > 0).any(), name


def test_lax_div_truncates_toward_zero_and_rem_takes_dividend_sign():
    x = lax.as_array(np.array([-7, 7, -7, 7, -1, 1], I32))
    y = lax.as_array(np.array([2, 2, -2, -2, 3, -3], I32))
    assert lax.div(x, y).tolist() == [-3, 3, 3, -3, 0, 0]
    assert lax.rem(x, y).tolist() == [-1, 1, -1, 1, -1, 1]
    # the identity C guarantees: (x / y) * y + x % y == x
    np.testing.assert_array_equal(
        np.asarray(lax.add(lax.mul(lax.div(x, y), y), lax.rem(x, y))), np.asarray(x)
    )
    assert lax.div(x, 2).dtype == I32 and lax.rem(x, 2).dtype == I32
    fx = lax.as_array(np.array([-7.5, 7.5], F32))
    assert lax.rem(fx, 2.0).tolist() == [-1.5, 1.5]
    assert lax.div(fx, 2.0).tolist() == [-3.75, 3.75]


def test_round_methods_through_lax():
    x = lax.as_array(np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5], F32))
    assert lax.round(x).tolist() == [-3.0, -2.0, -1.0, 1.0, 2.0, 3.0]
    assert lax.round(x, 0).tolist() == [-3.0, -2.0, -1.0, 1.0, 2.0, 3.0]
    assert lax.round(x, 1).tolist() == [-2.0, -2.0, -0.0, 0.0, 2.0, 2.0]
    assert lax.round(x, lax.ROUND_TO_NEAREST_EVEN).dtype == F32
    with pytest.raises(ValueError, match="rounding_method"):
        lax.round(x, 2)


def test_erf_matches_math_erf():
    values = [-4.0, -1.5, -0.3, 0.0, 1e-4, 0.5, 1.0, 2.0, 6.0]
    got = lax.erf(lax.as_array(np.array(values, F32)))
    assert got.dtype == F32
    np.testing.assert_allclose(np.asarray(got), [math.erf(v) for v in values], rtol=1e-6, atol=0)


def test_logistic_is_stable_for_large_inputs():
    x = lax.as_array(np.array([-1000.0, -100.0, -30.0, 30.0, 100.0, 1000.0], F32))
    out = np.asarray(lax.logistic(x))  # filterwarnings=error: an overflow warning would fail
    assert out.dtype == F32
    assert out[0] == 0.0 and out[-1] == 1.0 and out[-2] == 1.0
    assert 0.0 < out[1] < 1e-42  # exp(-100) is a float32 subnormal, not flushed to 0
    assert out[1] == np.float32(math.exp(-100.0))
    np.testing.assert_allclose(out[2], math.exp(-30.0) / (1 + math.exp(-30.0)), rtol=1e-6)
    assert not np.isnan(out).any()


# ----------------------------------------------------------------------------------------------
# 3. The shape rule agrees with the impl


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
def test_shape_rule_agrees_with_impl(case: Case):
    prim = registry[case.prim]
    args = [to_vfunc(a) for a in case.args]
    eager = as_list(prim.bind(*args, **case.params))
    closed = vfunc.make_jaxpr(lambda *a: prim.bind(*a, **case.params))(*args)
    assert [e.primitive.name for e in closed.eqns] == [case.prim]
    assert len(closed.out_avals) == len(eager)
    for aval, out in zip(closed.out_avals, eager, strict=True):
        assert (aval.shape, aval.dtype, aval.weak_type) == (out.shape, out.dtype, out.weak_type)
    staged = eval_jaxpr(closed.jaxpr, closed.consts, *args)
    for got, out in zip(staged, eager, strict=True):
        assert (got.shape, got.dtype, got.weak_type) == (out.shape, out.dtype, out.weak_type)
        np.testing.assert_array_equal(np.asarray(got), np.asarray(out))


def test_eval_shape_agrees_with_eager():
    x = lax.as_array(np.ones((2, 3), F32))
    shape = vfunc.eval_shape(lambda a: lax.reduce_sum(a, (1,)), x)
    assert shape == vfunc.ShapeDtypeStruct((2,), F32)


# ----------------------------------------------------------------------------------------------
# 4. Properties over random shapes

FAST = settings(max_examples=50, deadline=None)
UNARY_NAMES = [*UNARY_FLOAT, "round"]


def _unary_ref(name: str):
    if name == "round":
        return round_half_away, uniform(-5, 5), {"rounding_method": 0}
    ref, domain = UNARY_FLOAT[name]
    return ref, domain, {}


@FAST
@given(
    name=st.sampled_from(UNARY_NAMES),
    shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5),
    seed=st.integers(0, 2**16),
)
def test_unary_keeps_shape(name, shape, seed):
    ref, domain, params = _unary_ref(name)
    x = domain(np.random.default_rng(seed), shape).astype(F32)
    out = registry[name].bind(lax.as_array(x), **params)
    assert out.shape == shape
    assert out.dtype == unary_out_dtype(name, F32)
    with np.errstate(all="ignore"):
        assert_close(out, ref(f64(x), **params), out.dtype, **F32_TOL)


@FAST
@given(
    name=st.sampled_from([*BINARY_FLOAT, *COMPARISONS]),
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=5),
    seed=st.integers(0, 2**16),
)
def test_binary_broadcasts_like_numpy(name, shapes, seed):
    xs, ys = shapes.input_shapes
    if name in COMPARISONS:
        ref, dom_x, dom_y = COMPARISONS[name], ties, ties
    else:
        ref, dom_x, dom_y = BINARY_FLOAT[name]
    rng = np.random.default_rng(seed)
    x, y = dom_x(rng, xs).astype(F32), dom_y(rng, ys).astype(F32)
    out = registry[name].bind(lax.as_array(x), lax.as_array(y))
    assert out.shape == np.broadcast_shapes(xs, ys) == shapes.result_shape
    assert_close(out, ref(f64(x), f64(y)), BOOL if name in COMPARISONS else F32, **F32_TOL)


@st.composite
def shape_and_axes(draw, max_dims=4):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=0, max_side=5))
    axes = draw(st.sets(st.integers(0, len(shape) - 1), max_size=len(shape))) if shape else set()
    return shape, tuple(sorted(axes))


@FAST
@given(name=st.sampled_from(list(REDUCTIONS)), shape_axes=shape_and_axes(), seed=st.integers())
def test_reductions_over_random_axes(name, shape_axes, seed):
    shape, axes = shape_axes
    ref, domain, tol = REDUCTIONS[name]
    x = domain(np.random.default_rng(seed % 2**32), shape).astype(F32)
    out = registry[name].bind(lax.as_array(x), axes=axes)
    assert out.shape == tuple(d for i, d in enumerate(shape) if i not in axes)
    assert_close(out, ref(f64(x), axes), F32, **tol)


@st.composite
def shape_and_permutation(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=4))
    return shape, tuple(draw(st.permutations(range(len(shape)))))


@FAST
@given(shape_and_permutation())
def test_transpose_random_permutations(shape_perm):
    shape, perm = shape_perm
    x = np.arange(math.prod(shape), dtype=F32).reshape(shape)
    out = lax.transpose(lax.as_array(x), perm)
    assert_close(out, x.transpose(perm), F32)
    out = registry["transpose"].bind(lax.as_array(x), permutation=perm)
    assert_close(out, x.transpose(perm), F32)


def _prime_factors(n: int) -> list[int]:
    out, p = [], 2
    while n > 1:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    return out


@st.composite
def reshape_pairs(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5))
    total = math.prod(shape)
    if total == 0:
        rest = draw(st.lists(st.integers(0, 6), max_size=3))
        new = rest + [0]
        return shape, tuple(draw(st.permutations(new)))
    factors = draw(st.permutations(_prime_factors(total)))
    cuts = sorted(draw(st.lists(st.integers(0, len(factors)), max_size=4)))
    groups, start = [], 0
    for cut in [*cuts, len(factors)]:
        groups.append(math.prod(factors[start:cut]))
        start = cut
    ones = draw(st.integers(0, 2))
    new = groups + [1] * ones
    return shape, tuple(draw(st.permutations(new)))


@FAST
@given(reshape_pairs())
def test_reshape_random_factorizations(pair):
    shape, new = pair
    assert math.prod(shape) == math.prod(new)
    x = np.arange(math.prod(shape), dtype=I32).reshape(shape)
    out = registry["reshape"].bind(lax.as_array(x), new_sizes=new)
    assert_close(out, x.reshape(new), I32)


@st.composite
def broadcast_in_dim_args(draw):
    operand = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    ndim = draw(st.integers(len(operand), 4))
    dims = tuple(sorted(draw(st.permutations(range(ndim)))[: len(operand)]))
    shape = [draw(st.integers(0, 4)) for _ in range(ndim)]
    for size, d in zip(operand, dims, strict=True):
        if size != 1 or draw(st.booleans()):
            shape[d] = size
    return operand, tuple(shape), dims


@FAST
@given(broadcast_in_dim_args())
def test_broadcast_in_dim_random_dims(args):
    operand, shape, dims = args
    x = np.arange(math.prod(operand), dtype=F32).reshape(operand)
    out = registry["broadcast_in_dim"].bind(lax.as_array(x), shape=shape, broadcast_dimensions=dims)
    expanded = [1] * len(shape)
    for size, d in zip(operand, dims, strict=True):
        expanded[d] = size
    assert_close(out, np.broadcast_to(x.reshape(expanded), shape), F32)


@st.composite
def slice_args(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6))
    starts, limits, strides = [], [], []
    for size in shape:
        lo = draw(st.integers(0, size))
        starts.append(lo)
        limits.append(draw(st.integers(lo, size)))
        strides.append(draw(st.integers(1, 3)))
    return shape, tuple(starts), tuple(limits), tuple(strides)


@FAST
@given(slice_args())
def test_slice_random_bounds(args):
    shape, starts, limits, strides = args
    x = np.arange(math.prod(shape), dtype=F32).reshape(shape)
    expected = x[tuple(map(slice, starts, limits, strides))]
    out = registry["slice"].bind(
        lax.as_array(x), start_indices=starts, limit_indices=limits, strides=strides
    )
    assert_close(out, expected, F32)
    assert_close(lax.slice(lax.as_array(x), starts, limits, strides), expected, F32)


# ----------------------------------------------------------------------------------------------
# 5. Bad input


def _operand_for(name: str, shape) -> Any:
    dtype = I32 if name in BITWISE else F32
    return lax.as_array(np.ones(shape, dtype))


@pytest.mark.parametrize("name", BINARY_NAMES)
@pytest.mark.parametrize("xs, ys", [((3,), (4,)), ((2, 3), (3, 2))], ids=["vectors", "matrices"])
def test_binary_shape_mismatch_names_op_and_shapes(name, xs, ys):
    x, y = _operand_for(name, xs), _operand_for(name, ys)
    pattern = rf"{name}: shapes {_re(xs)} and {_re(ys)} cannot be broadcast"
    with pytest.raises(ShapeError, match=pattern):
        registry[name].bind(x, y)
    with pytest.raises(ValueError, match=pattern):  # ShapeError is a ValueError
        registry[name].bind(x, y)


def _re(shape: tuple) -> str:
    return re.escape(str(shape))


@pytest.mark.parametrize("name", [n for n in BINARY_NAMES if n not in BITWISE])
def test_binary_dtype_mix_names_both_dtypes(name):
    x = lax.as_array(np.ones(3, F32))
    y = lax.as_array(np.ones(3, I32))
    with pytest.raises(DtypeError, match=rf"{name}: .*float32.*int32"):
        registry[name].bind(x, y)
    with pytest.raises(TypeError, match=r"int32.*float32"):
        getattr(lax, name)(y, x)


@pytest.mark.parametrize("name", SHIFTS)
def test_shifts_reject_non_integers(name):
    for dtype in (F32, BOOL):
        x = lax.as_array(np.ones(3, dtype))
        with pytest.raises(DtypeError, match=rf"{name}: operand has dtype {dtype}.*integer"):
            registry[name].bind(x, x)


@pytest.mark.parametrize("name", TRANSCENDENTAL)
def test_transcendental_rejects_integers(name):
    x = lax.as_array(np.arange(3, dtype=I32))
    with pytest.raises(DtypeError, match=rf"{name}: operand has dtype int32"):
        registry[name].bind(x)
    with pytest.raises(TypeError, match="int32"):
        getattr(lax, name)(x)
    with pytest.raises(TypeError, match="bool"):
        getattr(lax, name)(lax.as_array(np.array([True])))


@pytest.mark.parametrize(
    "value, dtype_name",
    [(np.array(["a", "b"]), "<U1"), (np.array([1, "x"], dtype=object), "object"),
     (np.array([b"ab"]), "|S2")],
    ids=["str", "object", "bytes"],
)  # fmt: skip
def test_string_and_object_arrays_are_rejected(value, dtype_name):
    with pytest.raises(TypeError, match=re.escape(f"dtype {dtype_name}")):
        lax.exp(value)
    with pytest.raises(TypeError, match=re.escape(f"dtype {dtype_name}")):
        registry["neg"].bind(value)
    with pytest.raises(TypeError, match=re.escape(f"dtype {dtype_name}")):
        registry["add"].bind(value, value)


def _m(*shape, dtype=F32):
    return lax.as_array(np.ones(shape, dtype))


# Each call is out of range for its axis argument; the lax function must raise ValueError, not
# reduce the axis modulo the rank (which silently picks some other axis).
OUT_OF_RANGE_AXES = {
    "reduce_sum": lambda: lax.reduce_sum(_m(2, 3), (2,)),
    "reduce_max_negative": lambda: lax.reduce_max(_m(2, 3), (-3,)),
    "argmax": lambda: lax.argmax(_m(2, 3), 2, I32),
    "argmin_negative": lambda: lax.argmin(_m(2, 3), -1, I32),
    "transpose": lambda: lax.transpose(_m(2, 3), (0, 2)),
    "squeeze": lambda: lax.squeeze(_m(1, 1), (2,)),
    "squeeze_negative": lambda: lax.squeeze(_m(1, 1), (-3,)),
    "expand_dims": lambda: lax.expand_dims(_m(3), (2,)),
    "expand_dims_negative": lambda: lax.expand_dims(_m(3), (-3,)),
    "rev": lambda: lax.rev(_m(2, 3), (2,)),
    "concatenate": lambda: lax.concatenate([_m(2, 3), _m(2, 3)], 2),
    "sort": lambda: lax.sort(_m(2, 3), dimension=2),
    "cumsum": lambda: lax.cumsum(_m(2, 3), axis=2),
    "cummax_negative": lambda: lax.cummax(_m(2, 3), axis=-3),
    "broadcasted_iota": lambda: lax.broadcasted_iota(I32, (2, 3), 2),
    "broadcast_in_dim": lambda: lax.broadcast_in_dim(_m(3), (3, 2), (2,)),
    "slice_limit": lambda: lax.slice(_m(2, 3), (0, 0), (2, 4)),
    "squeeze_bind": lambda: registry["squeeze"].bind(_m(2, 1), dimensions=(2,)),
}


@pytest.mark.parametrize("name", list(OUT_OF_RANGE_AXES))
def test_out_of_range_axes_raise_value_error(name):
    with pytest.raises(ValueError):
        OUT_OF_RANGE_AXES[name]()


BAD_CALLS = {
    "reshape_size": (lambda: lax.reshape(_m(2, 3), (4, 2)), ShapeError,
                     r"reshape: .*\(2, 3\).*\(4, 2\)"),
    "transpose_perm": (lambda: lax.transpose(_m(2, 3), (0, 0)), ShapeError,
                       r"transpose: permutation \(0, 0\)"),
    "squeeze_not_one": (lambda: lax.squeeze(_m(2, 3), (0,)), ShapeError,
                        r"squeeze: .*\(2, 3\)"),
    "broadcast_in_dim_size": (lambda: lax.broadcast_in_dim(_m(3), (2, 4), (1,)), ShapeError,
                              r"broadcast_in_dim: .*\(3,\) to \(2, 4\)"),
    "dot_general_contracting": (
        lambda: lax.dot_general(_m(2, 3), _m(4, 5), (((1,), (0,)), ((), ()))), ShapeError,
        r"dot_general: contracting .*\(2, 3\).*\(4, 5\)"),
    "dot_general_dtypes": (
        lambda: lax.dot_general(_m(2, 3), _m(3, 2, dtype=I32), (((1,), (0,)), ((), ()))),
        DtypeError, r"dot_general: .*float32.*int32"),
    "select_shapes": (lambda: lax.select(_m(2, dtype=BOOL), _m(2), _m(3)), ShapeError,
                      r"select: .*\(2,\).*\(3,\)"),
    "select_pred_dtype": (lambda: lax.select(_m(2), _m(2), _m(2)), DtypeError,
                          r"select: predicate has dtype float32"),
    "concatenate_shapes": (lambda: lax.concatenate([_m(2, 3), _m(2, 4)], 0), ShapeError,
                           r"concatenate: .*\(2, 3\).*\(2, 4\)"),
    "concatenate_dtypes": (lambda: lax.concatenate([_m(2), _m(2, dtype=I32)], 0), DtypeError,
                           r"concatenate: .*float32.*int32"),
    "pad_value_dtype": (
        lambda: registry["pad"].bind(_m(2), _m(dtype=I32), padding_config=((1, 1, 0),)),
        ShapeError, r"pad: .*float32.*int32"),
    "pad_negative_size": (lambda: lax.pad(_m(2), 0.0, ((-2, -1, 0),)), ShapeError,
                          r"pad: axis 0 of size 2 .*negative size"),
    "dynamic_slice_size": (lambda: lax.dynamic_slice(_m(2, 3), (0, 0), (3, 1)), ShapeError,
                           r"dynamic_slice: slice_sizes \(3, 1\) .*\(2, 3\)"),
    "dynamic_slice_float_start": (lambda: lax.dynamic_slice(_m(2, 3), (0.0, 0), (1, 1)),
                                  TypeError, r"dynamic_slice: .*float32"),
    "dynamic_update_slice_big": (lambda: lax.dynamic_update_slice(_m(2), _m(3), (0,)),
                                 ShapeError, r"dynamic_update_slice: .*\(3,\).*\(2,\)"),
    "argmax_empty_axis": (lambda: lax.argmax(_m(0, 2), 0, I32), ShapeError,
                          r"argmax: axis 0 of the operand \(shape \(0, 2\)\) is empty"),
    "sort_shapes": (lambda: lax.sort([_m(2), _m(3)], num_keys=1), ShapeError,
                    r"sort: .*\(2,\).*\(3,\)"),
    "gather_float_index": (
        lambda: lax.gather(_m(3), [_m(2)], (("array", 0),)), DtypeError,
        r"gather: index arrays must be integers, got float32"),
    "scatter_updates_shape": (
        lambda: lax.scatter(_m(4, 2), [_m(3, dtype=I32)], _m(2, 2),
                            (("array", 0), ("slice", 0, 2, 1))),
        ShapeError, r"scatter: .*\(3, 2\).*\(2, 2\)"),
    "reduce_sum_bool": (lambda: lax.reduce_sum(_m(2, dtype=BOOL), (0,)), DtypeError,
                        r"reduce_sum: operand has dtype bool"),
    "is_finite_int": (lambda: lax.is_finite(_m(2, dtype=I32)), DtypeError,
                      r"is_finite: operand has dtype int32"),
    "bitwise_float": (lambda: lax.bitwise_and(_m(2), _m(2)), DtypeError,
                      r"and: operand has dtype float32"),
    "lt_complex": (lambda: lax.lt(_m(2, dtype=C64), _m(2, dtype=C64)), DtypeError,
                   r"lt: operand has dtype complex64"),
    "rem_complex": (lambda: lax.rem(_m(2, dtype=C64), _m(2, dtype=C64)), DtypeError,
                    r"rem: operand has dtype complex64"),
}  # fmt: skip


@pytest.mark.parametrize("name", list(BAD_CALLS))
def test_bad_calls_raise_named_errors(name):
    call, error, pattern = BAD_CALLS[name]
    with pytest.raises(error, match=pattern):
        call()


def test_round_primitive_validates_rounding_method():
    # lax.round checks the param, but the primitive's shape rule is what jaxprs, jit and
    # eval_jaxpr rely on: an unknown method must not silently round half away from zero.
    x = lax.as_array(np.array([0.5, 1.5, 2.5], F32))
    with pytest.raises(ValueError, match="rounding_method"):
        registry["round"].bind(x, rounding_method=7)


def test_iota_primitive_canonicalizes_its_dtype_in_impl_too():
    # The shape rule promises the canonical dtype (int32 without x64); the impl must deliver it.
    closed = vfunc.make_jaxpr(lambda: registry["iota"].bind(dtype=I64, shape=(3,), dimension=0))()
    assert closed.out_avals[0].dtype == I32
    out = registry["iota"].bind(dtype=I64, shape=(3,), dimension=0)
    assert out.dtype == I32
    assert out.tolist() == [0, 1, 2]


@pytest.mark.parametrize(
    "bad, good",
    [
        (lambda x, y: lax.add(x, y[:3]), lambda x, y: lax.add(x, y)),
        (lambda x, y: lax.add(x, lax.convert_element_type(y, I32)), lambda x, y: lax.sub(x, y)),
        (lambda x, y: lax.reshape(x, (5,)), lambda x, y: lax.reshape(x, (2, 2))),
        (lambda x, y: lax.dot_general(x, y[:3], (((0,), (0,)), ((), ()))),
         lambda x, y: lax.dot_general(x, y, (((0,), (0,)), ((), ())))),
        (lambda x, y: lax.exp(lax.convert_element_type(x, I32)), lambda x, y: lax.exp(x)),
        (lambda x, y: lax.dynamic_update_slice(x, lax.concatenate([y, y], 0), (0,)),
         lambda x, y: lax.dynamic_update_slice(x, y, (0,))),
    ],
    ids=["broadcast", "dtype", "reshape", "dot_general", "int_exp", "update_slice"],
)  # fmt: skip
def test_failed_call_mutates_nothing(bad, good):
    x_np = np.array([1.0, -2.0, 3.0, 0.5], F32)
    y_np = np.array([0.25, 4.0, -1.0, 2.0], F32)
    x, y = lax.as_array(x_np), lax.as_array(y_np)
    expected = np.asarray(good(x, y)).copy()
    for _ in range(2):  # the second failure must not have been cached as a success
        with pytest.raises((ValueError, TypeError)):
            bad(x, y)
        np.testing.assert_array_equal(np.asarray(x), x_np)
        np.testing.assert_array_equal(np.asarray(y), y_np)
        np.testing.assert_array_equal(np.asarray(good(x, y)), expected)
    # staging after the error still works and agrees
    closed = vfunc.make_jaxpr(good)(x, y)
    np.testing.assert_array_equal(
        np.asarray(eval_jaxpr(closed.jaxpr, closed.consts, x, y)[0]), expected
    )


def test_error_while_staging_leaves_eager_mode_intact():
    x = lax.as_array(np.ones(3, F32))
    with pytest.raises(ShapeError):
        vfunc.make_jaxpr(lambda a: lax.add(a, lax.as_array(np.ones(4, F32))))(x)
    out = lax.add(x, x)  # must run eagerly again, not be captured by a dead trace
    assert type(out).__name__ == "ArrayImpl"
    assert out.tolist() == [2.0, 2.0, 2.0]


def test_impl_error_is_not_cached():
    # pow on integers with a negative exponent passes the shape rule and fails in numpy; the
    # eager cache must not remember that shape as good, and later valid calls must work.
    base = lax.as_array(np.array([2, 3], I32))
    with pytest.raises(ValueError):
        lax.pow(base, lax.as_array(np.array([-1, 1], I32)))
    assert lax.pow(base, lax.as_array(np.array([2, 1], I32))).tolist() == [4, 3]


# ----------------------------------------------------------------------------------------------
# 6. Movement ops return views

BIG = np.arange(2 * 500 * 1000, dtype=F32).reshape(2, 500, 1000)

VIEWS = {
    "reshape": lambda x: lax.reshape(x, (1000, 1000)),
    "transpose": lambda x: lax.transpose(x, (2, 0, 1)),
    "broadcast_in_dim": lambda x: lax.broadcast_in_dim(x, (3, 2, 500, 1000), (1, 2, 3)),
    "broadcast_size_one": lambda x: lax.broadcast_in_dim(
        lax.slice(x, (0, 0, 0), (1, 500, 1000)), (4, 500, 1000), (0, 1, 2)),
    "squeeze": lambda x: lax.squeeze(lax.slice(x, (0, 0, 0), (1, 500, 1000)), (0,)),
    "expand_dims": lambda x: lax.expand_dims(x, (0, 2)),
    "slice": lambda x: lax.slice(x, (1, 10, 0), (2, 400, 1000), (1, 3, 7)),
    "rev": lambda x: lax.rev(x, (1,)),
    "dynamic_slice": lambda x: lax.dynamic_slice(x, (0, 5, 0), (2, 100, 1000)),
}  # fmt: skip


@pytest.mark.parametrize("name", list(VIEWS))
def test_movement_ops_are_views(name):
    x = lax.as_array(BIG)
    out = VIEWS[name](x)
    assert np.shares_memory(np.asarray(out), np.asarray(x))
    np.testing.assert_array_equal(np.asarray(x), BIG)  # and the operand is untouched


# ----------------------------------------------------------------------------------------------
# 7. dot_general layouts against einsum


@pytest.mark.parametrize("layout", DOT_LAYOUTS, ids=[d[0] for d in DOT_LAYOUTS])
def test_dot_general_matches_einsum(layout):
    name, ls, rs, dn, spec = layout
    rng = rng_for("einsum", name)
    lhs, rhs = rng.normal(size=ls).astype(F32), rng.normal(size=rs).astype(F32)
    out = lax.dot_general(lax.as_array(lhs), lax.as_array(rhs), dn)
    assert_close(out, np.einsum(spec, f64(lhs), f64(rhs)), F32, **SUM_TOL)
    converted = lax.dot_general(lhs, rhs, dn, preferred_element_type=F16)
    assert converted.dtype == F16


def test_lax_dynamic_slice_negative_starts_count_from_the_end():
    # jax.lax.dynamic_slice/dynamic_update_slice default to allow_negative_indices=True: a
    # negative start is relative to the end (the primitive itself then clamps).
    x = lax.as_array(np.arange(5, dtype=I32))
    assert lax.dynamic_slice(x, (-2,), (2,)).tolist() == [3, 4]
    update = lax.as_array(np.array([9], I32))
    assert lax.dynamic_update_slice(x, update, (-1,)).tolist() == [0, 1, 2, 3, 9]
    assert lax.dynamic_index_in_dim(x, -1, keepdims=False).tolist() == 4


def test_dot_general_batch_dims_come_first():
    lhs = lax.as_array(np.ones((3, 2, 4), F32))
    rhs = lax.as_array(np.ones((4, 5, 2), F32))
    out = lax.dot_general(lhs, rhs, (((2,), (0,)), ((1,), (2,))))
    assert out.shape == (2, 3, 5)
    assert np.all(np.asarray(out) == 4.0)


# ----------------------------------------------------------------------------------------------
# 8. x64 mode


def test_without_x64_float64_input_narrows():
    previous = vfunc.config.enable_x64
    vfunc.config.update("enable_x64", False)
    try:
        x = lax.as_array(np.array([1.0, 2.0]))
        assert x.dtype == F32
        assert lax.exp(x).dtype == F32
        assert lax.as_array(np.array([1, 2], I64)).dtype == I32
    finally:
        vfunc.config.update("enable_x64", previous)


def test_x64_keeps_float64_and_computes_in_it(x64):
    x = lax.as_array(np.array([1e-10, 0.5, 3.0]))
    assert x.dtype == F64
    out = lax.exp(x)
    assert out.dtype == F64
    np.testing.assert_allclose(np.asarray(out), np.exp([1e-10, 0.5, 3.0]), rtol=1e-15)
    # 1 + 1e-10 is not representable in float32: the sum proves the add ran in float64
    one = lax.as_array(np.array(1.0))
    assert float(lax.sub(lax.add(one, 1e-10), one)) == pytest.approx(1e-10, rel=1e-6)
    assert lax.reduce_sum(x, (0,)).dtype == F64
    lhs = np.random.default_rng(0).normal(size=(3, 4))
    rhs = np.random.default_rng(1).normal(size=(4, 2))
    dot = lax.dot_general(lhs, rhs, (((1,), (0,)), ((), ())))
    assert dot.dtype == F64
    np.testing.assert_allclose(np.asarray(dot), lhs @ rhs, rtol=1e-13)


def test_x64_logistic_and_erf_in_float64(x64):
    out = lax.logistic(lax.as_array(np.array([-100.0, -40.0, 0.0, 40.0])))
    assert out.dtype == F64
    tail = math.exp(-100.0) / (1.0 + math.exp(-100.0))
    assert np.asarray(out)[0] == pytest.approx(tail, rel=1e-14)
    assert np.asarray(out)[0] > 0
    np.testing.assert_allclose(np.asarray(out)[1:], [math.exp(-40.0), 0.5, 1 - math.exp(-40.0)],
                               rtol=1e-14)  # fmt: skip
    values = [-3.0, -0.1, 0.0, 0.7, 2.5]
    erf = lax.erf(lax.as_array(np.array(values)))
    assert erf.dtype == F64
    np.testing.assert_allclose(np.asarray(erf), [math.erf(v) for v in values], rtol=1e-15)
    r = lax.round(lax.as_array(np.array([0.49999999999999994, 2.5])))
    assert r.tolist() == [0.0, 3.0]


def test_x64_integers_and_indices(x64):
    k = lax.as_array(np.array([2**40, -(2**40) - 1, 3]))
    assert k.dtype == I64
    assert lax.div(k, 2).tolist() == [2**39, -(2**39), 1]
    assert lax.argmax(k, 0, I64).dtype == I64
    assert lax.iota(I64, 3).dtype == I64
    assert lax.convert_element_type(k, F64).dtype == F64
    closed = vfunc.make_jaxpr(lambda a: lax.mul(a, a))(lax.as_array(np.ones(2)))
    assert closed.out_avals[0].dtype == F64
    assert str(closed) == "{ lambda ; a:f64[2]. let b:f64[2] = mul a a in (b,) }"


def test_x64_fixture_restores_the_flag(x64):
    assert vfunc.config.enable_x64
