"""vmap: every primitive's batch rule against a per-member loop, the API, composition, errors.

The battery reuses the examples table of ``test_primitives.py``: for each case it batches a
random subset of the operands along random axes (a few different values per member), maps the
outputs to random ``out_axes``, and checks ``vmap(f)(xs) == stack([f(x) for x in xs])`` with the
exact dtype and weak type.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import vfunc
import vfunc.numpy as vnp
from vfunc import lax, vmap
from vfunc.core import registry
from vfunc.errors import ConcretizationTypeError
from vfunc.testing import strategies as vst

from cases import ALL_CASES, Case, as_list, to_vfunc

SIZE = 3


def _variant(value: np.ndarray, member: int) -> np.ndarray:
    """Member ``member``'s copy of an example operand: different values, same domain."""
    if member == 0 or value.size == 0:
        return value
    if value.dtype.kind in "fc":
        return (value * (1.0 - 0.15 * member)).astype(value.dtype)  # shrinks toward 0: in domain
    if value.dtype.kind == "b":
        return np.roll(value, member)
    return np.roll(value, member)  # indices stay the same set of (valid or invalid) values


def _check_batched(case: Case, seed: int) -> None:
    rng = np.random.default_rng(zlib.crc32(f"{case.id}/{seed}".encode()))
    prim = registry[case.prim]
    arrays = [i for i, a in enumerate(case.args) if isinstance(a, np.ndarray)]
    if not arrays:
        pytest.skip("no array operands to batch")
    batched = [i for i in arrays if rng.random() < 0.6] or [int(rng.choice(arrays))]
    in_axes, args, members = [], [], [list(case.args) for _ in range(SIZE)]
    for i, a in enumerate(case.args):
        if i not in batched:
            in_axes.append(None)
            args.append(to_vfunc(a))
            continue
        copies = [_variant(a, m) for m in range(SIZE)]
        for m in range(SIZE):
            members[m][i] = copies[m]
        axis = int(rng.integers(-(a.ndim + 1), a.ndim + 1))
        in_axes.append(axis)
        args.append(to_vfunc(np.stack(copies, axis=axis)))
    expected = [as_list(prim.bind(*[to_vfunc(a) for a in m], **case.params)) for m in members]
    out_axes = [int(rng.integers(-(e.ndim + 1), e.ndim + 1)) for e in expected[0]]
    fun = vmap(
        lambda *xs: prim.bind(*xs, **case.params),
        in_axes=tuple(in_axes),
        out_axes=out_axes if prim.multiple_results else out_axes[0],
    )
    got = as_list(fun(*args))
    assert len(got) == len(expected[0])
    for k, (out, axis) in enumerate(zip(got, out_axes, strict=True)):
        want = np.stack([np.asarray(e[k]) for e in expected], axis=axis)
        assert (out.shape, out.dtype) == (want.shape, want.dtype), (in_axes, out_axes)
        assert out.weak_type == expected[0][k].weak_type
        if want.dtype.kind in "fc":
            np.testing.assert_allclose(np.asarray(out), want, rtol=1e-6, atol=1e-6)
        else:
            np.testing.assert_array_equal(np.asarray(out), want)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
def test_every_primitive_batches_like_a_loop(case: Case, seed: int):
    _check_batched(case, seed)


def test_every_primitive_with_operands_has_a_batch_rule():
    missing = [
        name
        for name, prim in registry.items()
        if prim.batch is None and not prim.elementwise and name != "iota"
        and prim.shape_rule.__module__.startswith("vfunc.")
    ]  # fmt: skip
    assert missing == []


# ----------------------------------------------------------------------------------------------
# Properties over shapes and axes


@settings(max_examples=40, deadline=None)
@given(
    data=st.data(),
    pair=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3),
    op=st.sampled_from([vnp.add, vnp.multiply, vnp.maximum, vnp.arctan2]),
)
def test_broadcasting_binary_ops_batch_like_a_loop(data, pair, op):
    shapes = pair.input_shapes
    xs = [np.random.default_rng(7).normal(size=(SIZE, *s)).astype(np.float32) for s in shapes]
    axes = [data.draw(st.sampled_from([None, *range(-(len(s) + 1), len(s) + 1)])) for s in shapes]
    if all(a is None for a in axes):
        axes[0] = 0
    args = [x[0] if a is None else np.moveaxis(x, 0, a) for x, a in zip(xs, axes, strict=True)]
    got = vmap(op, in_axes=tuple(axes))(*args)
    want = np.stack(
        [np.asarray(op(*[x[0] if a is None else x[m] for x, a in zip(xs, axes, strict=True)]))
         for m in range(SIZE)]
    )  # fmt: skip
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6)


@settings(max_examples=30, deadline=None)
@given(
    data=st.data(),
    x=vst.arrays(dtype=np.float32, shape=vst.shapes(min_dims=3, max_dims=4, min_side=1)),
)
def test_nested_vmap_of_numpy_composite(data, x):
    inner = data.draw(st.integers(-(x.ndim - 1), x.ndim - 2))
    outer = data.draw(st.integers(-x.ndim, x.ndim - 1))

    def f(v):
        return vnp.cumsum(vnp.tanh(v) * 2.0, axis=-1).sum() - v.max()

    got = vmap(vmap(f, in_axes=inner), in_axes=outer)(x)
    moved = np.moveaxis(np.asarray(x), outer, 0)
    want = np.stack([np.stack([np.asarray(f(r)) for r in np.moveaxis(m, inner, 0)]) for m in moved])
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------------------------
# The API


def test_in_axes_pytrees_none_and_kwargs():
    params = {"w": vnp.ones((3, 2)), "b": vnp.zeros(2)}
    xs = vnp.asarray(np.arange(12.0, dtype=np.float32).reshape(4, 3))

    def layer(p, x, *, scale):
        return (x @ p["w"] + p["b"]) * scale

    out = vmap(layer, in_axes=({"w": None, "b": None}, 0))(params, xs, scale=vnp.full(4, 2.0))
    want = np.repeat(np.asarray(xs).sum(1, keepdims=True) * 2, 2, axis=1)
    np.testing.assert_allclose(np.asarray(out), want)
    out = vmap(layer, in_axes=(None, 1))(params, xs.T, scale=vnp.ones(4))
    assert out.shape == (4, 2)


def test_out_axes_pytree_and_none_for_unmapped_outputs():
    def f(x):
        return {"same": vnp.ones(2), "mapped": x * 2}

    out = vmap(f, out_axes={"same": None, "mapped": 1})(vnp.ones((5, 3)))
    assert out["same"].shape == (2,)
    assert out["mapped"].shape == (3, 5)


def test_unmapped_output_is_broadcast_and_axis_size_without_mapped_inputs():
    out = vmap(lambda x: vnp.zeros(2), in_axes=None, axis_size=4)(vnp.ones(3))
    assert out.shape == (4, 2)
    out = vmap(lambda x, y: y, in_axes=(0, None))(vnp.ones(3), vnp.arange(2))
    assert out.shape == (3, 2) and out.dtype == np.int32


def test_python_control_flow_on_unmapped_values_works():
    def f(x, flag):
        return x * 2 if flag > 0 else x

    assert np.asarray(vmap(f, in_axes=(0, None))(vnp.ones(3), vnp.array(1))).tolist() == [2] * 3
    with pytest.raises(ConcretizationTypeError, match="vnp.where"):
        vmap(lambda x: x if x > 0 else -x)(vnp.ones(3))


def test_vmap_keeps_weak_types_and_python_scalar_outputs():
    out = vmap(lambda x: x * 2)(vnp.asarray([1.0, 2.0]))
    assert out.dtype == np.float32 and not out.weak_type
    assert vmap(lambda x: 3.0, axis_size=2)(vnp.ones(2)).shape == (2,)


# ----------------------------------------------------------------------------------------------
# Composition


def _mlp_loss(params, x, y):
    h = vnp.tanh(x @ params["w1"] + params["b1"])
    logits = h @ params["w2"]
    return -(vfunc.nn.log_softmax(logits) * y).sum()


def _mlp(rng):
    params = {
        "w1": vnp.asarray(rng.normal(size=(4, 5)).astype(np.float32)),
        "b1": vnp.asarray(rng.normal(size=5).astype(np.float32)),
        "w2": vnp.asarray(rng.normal(size=(5, 3)).astype(np.float32)),
    }
    x = vnp.asarray(rng.normal(size=(6, 4)).astype(np.float32))
    y = vfunc.nn.one_hot(vnp.asarray([0, 1, 2, 0, 1, 2]), 3)
    return params, x, y


def test_per_example_gradients():
    params, x, y = _mlp(np.random.default_rng(0))
    per_example = vmap(vfunc.grad(_mlp_loss), in_axes=(None, 0, 0))(params, x, y)
    for i in range(x.shape[0]):
        one = vfunc.grad(_mlp_loss)(params, x[i], y[i])
        for k in params:
            np.testing.assert_allclose(
                np.asarray(per_example[k][i]), np.asarray(one[k]), rtol=1e-5, atol=1e-6
            )


def test_grad_of_vmapped_function():
    params, x, y = _mlp(np.random.default_rng(1))

    def batch_loss(p):
        return vmap(_mlp_loss, in_axes=(None, 0, 0))(p, x, y).sum()

    got = vfunc.grad(batch_loss)(params)
    want = vfunc.grad(lambda p: _mlp_loss(p, x, y))(params)
    for k in params:
        np.testing.assert_allclose(np.asarray(got[k]), np.asarray(want[k]), rtol=1e-5, atol=1e-6)


def test_jacobians_and_hessian_through_vmap():
    def f(v):
        return vnp.stack([vnp.sin(v[0]) * v[1], v[0] ** 2, vnp.exp(v[1] - v[2])])

    v = vnp.asarray([0.3, -0.7, 0.2])
    jr, jf = vfunc.jacrev(f)(v), vfunc.jacfwd(f)(v)
    np.testing.assert_allclose(np.asarray(jr), np.asarray(jf), rtol=1e-6)
    per_row = vmap(vfunc.jacrev(f))(vnp.stack([v, v * 2]))
    np.testing.assert_allclose(np.asarray(per_row[0]), np.asarray(jr), rtol=1e-6)
    h = vfunc.hessian(lambda u: (vnp.sin(u) * u[::-1]).sum())(v)
    assert h.shape == (3, 3)
    np.testing.assert_allclose(np.asarray(h), np.asarray(h).T, rtol=1e-6, atol=1e-7)


def test_vmap_under_make_jaxpr_stages_batched_primitives_only():
    closed = vfunc.make_jaxpr(vmap(lambda x: vnp.sin(x).sum()))(vnp.ones((4, 3)))
    assert [e.primitive.name for e in closed.eqns] == ["sin", "reduce_sum"]
    assert closed.out_avals[0].shape == (4,)


def test_dynamic_slice_with_batched_starts_and_update():
    x = vnp.asarray(np.arange(40.0, dtype=np.float32).reshape(4, 10))
    starts = vnp.asarray([0, 3, 8, -2])
    got = vmap(lambda row, s: lax.dynamic_slice(row, (s,), (3,)))(x, starts)
    want = [np.asarray(x)[i, min(max(int(s) % 10 if s < 0 else int(s), 0), 7):][:3]
            for i, s in enumerate(np.asarray(starts))]  # fmt: skip
    np.testing.assert_array_equal(np.asarray(got), np.stack(want))
    upd = vmap(lambda row, s: lax.dynamic_update_slice(row, vnp.zeros(2), (s,)))(x, starts)
    for i, s in enumerate(np.asarray(starts)):
        np.testing.assert_array_equal(
            np.asarray(upd[i]), np.asarray(lax.dynamic_update_slice(x[i], vnp.zeros(2), (s,)))
        )


def test_vectorize_with_signature():
    def matvec(m, v):
        return m @ v

    vec = vnp.vectorize(matvec, signature="(n,m),(m)->(n)")
    m = vnp.asarray(np.random.default_rng(2).normal(size=(5, 2, 3)).astype(np.float32))
    v = vnp.asarray(np.random.default_rng(3).normal(size=(3,)).astype(np.float32))
    np.testing.assert_allclose(np.asarray(vec(m, v)), np.asarray(m) @ np.asarray(v), rtol=1e-5)
    add = vnp.vectorize(lambda a, b: a + 2 * b)
    assert add(vnp.ones((2, 1)), vnp.ones(3)).shape == (2, 3)
    with pytest.raises(ValueError, match="signature"):
        vec(m, vnp.ones(4))


# ----------------------------------------------------------------------------------------------
# Bad input


def test_inconsistent_sizes_name_each_argument():
    with pytest.raises(ValueError, match=r"argument 0 has size 3.*argument 1\['b'\] has size 4"):
        vmap(lambda x, d: x + d["b"])(vnp.ones(3), {"b": vnp.ones(4)})


def test_in_axes_structure_mismatch_shows_both():
    with pytest.raises(ValueError, match="in_axes"):
        vmap(lambda a, b: a + b, in_axes=(0, {"x": 0}))(vnp.ones(3), vnp.ones(3))
    with pytest.raises(ValueError, match="2 positional"):
        vmap(lambda a, b: a + b, in_axes=(0,))(vnp.ones(3), vnp.ones(3))


def test_out_of_range_axes():
    with pytest.raises(ValueError, match="in_axes=2 is out of range for argument 0"):
        vmap(vnp.sin, in_axes=2)(vnp.ones((3, 2)))
    with pytest.raises(ValueError, match="out_axes=3"):
        vmap(vnp.sin, out_axes=3)(vnp.ones((3, 2)))
    with pytest.raises(ValueError, match="out_axes is None"):
        vmap(vnp.sin, out_axes=None)(vnp.ones(3))
    with pytest.raises(ValueError, match="axis_size"):
        vmap(vnp.sin, in_axes=None)(vnp.ones(3))


def test_large_batched_outer_products_use_the_parallel_kernel_and_match_numpy():
    from vfunc.primitives import linalg_kernels

    rng = np.random.default_rng(4)
    a = rng.normal(size=(4, 512)).astype(np.float32)
    b = rng.normal(size=(4, 600)).astype(np.float32)
    assert 4 * 512 * 600 >= linalg_kernels.PARALLEL_OUTER_MIN_SIZE
    got = vmap(lambda u, v: lax.dot_general(u, v, (((), ()), ((), ()))))(a, b)
    np.testing.assert_array_equal(np.asarray(got), a[:, :, None] * b[:, None, :])
    small = vmap(vnp.outer)(a[:, :3], b[:, :2])
    np.testing.assert_array_equal(np.asarray(small), a[:, :3, None] * b[:, None, :2])


# ----------------------------------------------------------------------------------------------
# Custom rules under vmap: the user's rule still decides the derivative


@vfunc.custom_vjp
def _scaled_grad(x, w):
    return x * w


def _scaled_grad_fwd(x, w):
    return x * w, (x, w)


def _scaled_grad_bwd(residuals, g):
    x, w = residuals
    return 10.0 * g * w, g * x  # a deliberately "wrong" rule for x, to see that it is used


_scaled_grad.defvjp(_scaled_grad_fwd, _scaled_grad_bwd)


def test_custom_vjp_under_vmap_keeps_the_rule():
    xs = vnp.asarray([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    w = vnp.asarray([0.5, -1.0])
    np.testing.assert_allclose(np.asarray(vmap(_scaled_grad, (0, None))(xs, w)), np.asarray(xs * w))
    gx, gw = vfunc.grad(lambda a, b: vmap(_scaled_grad, (0, None))(a, b).sum(), (0, 1))(xs, w)
    np.testing.assert_allclose(np.asarray(gx), np.broadcast_to(10 * np.asarray(w), (3, 2)))
    np.testing.assert_allclose(np.asarray(gw), np.asarray(xs).sum(0))  # shared: summed
    per = vmap(vfunc.grad(lambda a, b: _scaled_grad(a, b).sum()), (0, None))(xs, w)
    np.testing.assert_allclose(np.asarray(per), np.broadcast_to(10 * np.asarray(w), (3, 2)))


@vfunc.custom_jvp
def _soft_abs(x):
    return vnp.abs(x)


@_soft_abs.defjvp
def _soft_abs_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return _soft_abs(x), t * vnp.tanh(x)


def test_custom_jvp_under_vmap_keeps_the_rule():
    xs = vnp.asarray([[-1.0, 0.5], [2.0, -0.1]])
    _, tangent = vfunc.jvp(vmap(_soft_abs), (xs,), (vnp.ones((2, 2)),))
    np.testing.assert_allclose(np.asarray(tangent), np.tanh(np.asarray(xs)), rtol=1e-6)
    g = vfunc.grad(lambda a: vmap(_soft_abs)(a).sum())(xs)
    np.testing.assert_allclose(np.asarray(g), np.tanh(np.asarray(xs)), rtol=1e-6)


def test_checkpoint_under_vmap_gives_the_same_gradients():
    def block(x):
        return vnp.sin(vnp.tanh(x) * 2.0)

    xs = vnp.asarray(np.random.default_rng(5).normal(size=(4, 3)).astype(np.float32))
    plain = vfunc.grad(lambda a: vmap(block)(a).sum())(xs)
    remat = vfunc.grad(lambda a: vmap(vfunc.checkpoint(block))(a).sum())(xs)
    np.testing.assert_allclose(np.asarray(remat), np.asarray(plain), rtol=1e-6)
