"""Gradients through ``lax.scan`` (and ``fori_loop``/``map``, which lower to it) with several
traced loop-invariant weights: every shape of issue 11's silently wrong RNN gradient.

Each model is written once against a ``loops`` namespace: ``LAX`` runs it with vfunc's control
flow, ``PY`` with the same program unrolled by a Python ``for`` loop. The scan gradient must
equal the unrolled program's gradient (float32) and full float64 central finite differences of
the unrolled forward (every input element perturbed, not one random direction), eagerly, under
``jit(grad)`` and ``grad(jit)``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

import vfunc
import vfunc.numpy as vnp
from vfunc import lax, tree
from vfunc.testing.gradients import enable_x64

# ----------------------------------------------------------------------------------------------
# The same loops, staged (LAX) or unrolled in Python (PY)


def py_scan(f, init, xs=None, length=None, reverse=False, unroll=1):
    del unroll
    n = length if xs is None else tree.leaves(xs)[0].shape[0]
    carry, ys = init, []
    for t in reversed(range(n)) if reverse else range(n):
        x = None if xs is None else tree.map(lambda a, t=t: a[t], xs)
        carry, y = f(carry, x)
        ys.append(y)
    if reverse:
        ys.reverse()
    return carry, tree.map(lambda *a: vnp.stack(a), *ys)


def py_fori_loop(lower, upper, body, init, *, unroll=None):
    del unroll
    val = init
    for i in range(lower, upper):
        val = body(vnp.asarray(i, dtype=vnp.int32), val)
    return val


def py_map(f, xs):
    return py_scan(lambda c, x: (c, f(x)), (), xs)[1]


def py_cond(pred, true_fun, false_fun, *operands):
    return true_fun(*operands) if bool(pred) else false_fun(*operands)


LAX = SimpleNamespace(scan=lax.scan, fori_loop=lax.fori_loop, map=lax.map, cond=lax.cond)
PY = SimpleNamespace(scan=py_scan, fori_loop=py_fori_loop, map=py_map, cond=py_cond)


# ----------------------------------------------------------------------------------------------
# Models: loss(loops, *args) -> scalar


def cell(p, h, x, orient):
    """An RNN cell; ``h @ W`` keeps the batch first, ``W @ h`` keeps it last."""
    if orient == "h@W":
        return vnp.tanh(h @ p["wh"] + x @ p["wx"] + p["b"])
    b = p["b"] if h.ndim == 1 else p["b"][:, None]
    return vnp.tanh(p["wh"] @ h + p["wx"] @ x + b)


def rnn_dict(loops, p, h0, xs, *, orient="h@W", reverse=False, unroll=1):
    """Issue 11's RNN: weights are dict leaves closed over by the step; ``s`` only scales
    elementwise, so its cotangent is a carried per-step sum beside the contracted ones."""

    def step(h, x):
        h = cell(p, h, x, orient)
        s = p["s"][:, None] if orient == "W@h" and h.ndim == 2 else p["s"]
        return h, vnp.sum(h * h * s)

    h, ys = loops.scan(step, h0, xs, reverse=reverse, unroll=unroll)
    return vnp.sum(ys) + vnp.sum(h)


def rnn_args(loops, wh, wx, b, h0, xs):
    """The weights as explicit arguments (each differentiated, with ``h0`` and ``xs``)."""
    return rnn_dict(loops, {"wh": wh, "wx": wx, "b": b, "s": 1.0}, h0, xs)


def rnn_closure(loops, w, v, xs):
    """Loop invariants computed inside the differentiated function from traced values, one
    used both in a product and elementwise."""
    wh, bias, gain = vnp.sin(w) * 0.8, v * 2.0, vnp.sum(w, axis=0)

    def step(h, x):
        h = vnp.tanh(h @ wh + x * gain + bias)
        return h * gain, vnp.sum(h * bias)

    h, ys = loops.scan(step, vnp.zeros_like(v), xs)
    return vnp.sum(ys) + vnp.sum(h * h)


def rnn_carried_weights(loops, wh, wx, h0, xs):
    """A weight threaded unchanged through the carry, another stacked per step as an xs."""

    def step(carry, inp):
        h, w = carry
        x, wx_t = inp
        h = vnp.tanh(h @ w + x @ wx_t)
        return (h, w), vnp.sum(h)

    wx_steps = vnp.broadcast_to(wx, (xs.shape[0], *wx.shape))
    (h, _), ys = loops.scan(step, (h0, wh), (xs, wx_steps))
    return vnp.sum(ys) + vnp.sum(h * h)


def rnn_nested(loops, p, xs):
    """An outer scan over chunks whose inner scan closes over the weights and over the outer
    step's traced values."""

    def outer(h, chunk):
        scale = vnp.tanh(vnp.sum(h)) + 1.5

        def inner(g, x):
            g = vnp.tanh(g @ p["wh"] + x @ p["wx"] * scale + p["b"])
            return g, vnp.sum(g)

        g, ys = loops.scan(inner, h, chunk)
        return g, vnp.sum(ys)

    h, ys = loops.scan(outer, vnp.zeros(p["b"].shape), xs)
    return vnp.sum(ys) + vnp.sum(h)


def rnn_vmapped(loops, p, xs_batch):
    """A scan under vmap (over sequences) under grad."""
    per_sequence = vfunc.vmap(lambda xs: rnn_dict(loops, p, vnp.zeros(p["b"].shape), xs))
    return vnp.sum(per_sequence(xs_batch))


def rnn_fori(loops, p, xs):
    """``fori_loop`` with static bounds over closed-over weights, indexing a traced ``xs``."""

    def body(i, h):
        return vnp.tanh(h @ p["wh"] + xs[i] @ p["wx"] + p["b"] * (i + 1.0))

    h = loops.fori_loop(0, xs.shape[0], body, vnp.zeros(p["b"].shape))
    return vnp.sum(h * p["s"])


def rnn_cond(loops, p, xs):
    """A ``cond`` in the step, both branches closing over several weights; the branch taken
    depends on an integer carry (a multiple-result primitive among the residuals)."""

    def step(carry, x):
        h, k = carry
        h = loops.cond(k % 2 == 0, lambda h: vnp.tanh(h @ p["wh"] + x @ p["wx"]),
                       lambda h: vnp.sin(h * p["s"]) + x @ p["wx"] + p["b"], h)  # fmt: skip
        return (h, k + 1), vnp.sum(h * p["b"])

    (h, _), ys = loops.scan(step, (vnp.zeros(p["b"].shape), vnp.asarray(0)), xs)
    return vnp.sum(ys) + vnp.sum(h * h)


def contractions(loops, w1, n, w2, s, w3, b, h0, xs, x3s):
    """Every kind of weight cotangent the scan VJP sums after the loop (a product over the
    batch with either operand order, a transposed one, one with several free axes, a
    reduction) beside one it accumulates (``s``, as large as the carry: no reduction ends its
    cotangent), with an integer loop invariant in between."""

    def step(h, inp):
        x, x3 = inp
        z = h @ w1 + (w2 @ x.T).T + vnp.tensordot(x3, w3, axes=2) + b
        h = vnp.tanh(z) * s + h * (n.astype(h.dtype) * 0.25)
        return h, vnp.sum(h * h)

    h, ys = loops.scan(step, h0, (xs, x3s))
    return vnp.sum(ys) + vnp.sum(h)


def _contraction_args(rng):
    return (_randn(rng, 3, 3, scale=0.5), vnp.asarray(np.array(2, np.int32)),
            _randn(rng, 3, 2), _randn(rng, 4, 3), _randn(rng, 2, 2, 3, scale=0.5), _randn(rng, 3),
            _randn(rng, 4, 3), _randn(rng, 5, 4, 2), _randn(rng, 5, 4, 2, 2))  # fmt: skip


def lstm(loops, w_ih, w_hh, b, h0, c0, xs):
    """An LSTM cell: one product per step into four gates split apart, a carry of two states,
    every weight contracted (the gate split's VJP pads the gates' cotangents back together)."""

    def step(carry, x):
        h, c = carry
        i, f, g, o = vnp.split(x @ w_ih.T + h @ w_hh.T + b, 4, axis=-1)
        c = vfunc.nn.sigmoid(f) * c + vfunc.nn.sigmoid(i) * vnp.tanh(g)
        h = vfunc.nn.sigmoid(o) * vnp.tanh(c)
        return (h, c), h

    (h, c), hs = loops.scan(step, (h0, c0), xs)
    return vnp.sum(hs * hs) + vnp.sum(c)


def mapped(loops, w, b, xs):
    """``lax.map``: weights closed over by a carry-free body."""
    return vnp.sum(loops.map(lambda x: vnp.tanh(x @ w + b) * b, xs))


# ----------------------------------------------------------------------------------------------
# Cases: name -> (loss, args(rng), argnums)


def _randn(rng, *shape, scale=1.0):
    return vnp.asarray((rng.standard_normal(shape) * scale).astype(np.float32))


def _rnn_params(rng, hidden=3, inputs=2, orient="h@W"):
    wx_shape = (inputs, hidden) if orient == "h@W" else (hidden, inputs)
    return {"wh": _randn(rng, hidden, hidden, scale=0.5), "wx": _randn(rng, *wx_shape),
            "b": _randn(rng, hidden), "s": _randn(rng, hidden)}  # fmt: skip


def _rnn_case(orient, carry, reverse=False, unroll=1):
    def args(rng):
        p = _rnn_params(rng, orient=orient)
        if carry == "vector":
            return p, vnp.zeros(3), _randn(rng, 5, 2)
        if orient == "h@W":  # batch of 4 first
            return p, _randn(rng, 4, 3), _randn(rng, 5, 4, 2)
        return p, _randn(rng, 3, 4), _randn(rng, 5, 2, 4)

    loss = functools.partial(rnn_dict, orient=orient, reverse=reverse, unroll=unroll)
    return loss, args, (0, 1, 2)


CASES: dict[str, tuple[Callable, Callable, tuple[int, ...]]] = {
    **{
        f"dict-{carry}-{orient}": _rnn_case(orient, carry)
        for carry in ("vector", "matrix")
        for orient in ("h@W", "W@h")
    },
    "dict-vector-reverse": _rnn_case("h@W", "vector", reverse=True),
    "dict-matrix-reverse": _rnn_case("W@h", "matrix", reverse=True),
    "dict-vector-unroll3": _rnn_case("h@W", "vector", unroll=3),
    "dict-matrix-reverse-unroll2": _rnn_case("h@W", "matrix", reverse=True, unroll=2),
    "explicit-args": (
        rnn_args,
        lambda rng: (_randn(rng, 3, 3, scale=0.5), _randn(rng, 2, 3), _randn(rng, 3),
                     _randn(rng, 3), _randn(rng, 5, 2)),  # fmt: skip
        (0, 1, 2, 3, 4),
    ),
    "closure": (
        rnn_closure,
        lambda rng: (_randn(rng, 3, 3, scale=0.5), _randn(rng, 3), _randn(rng, 5, 3)),
        (0, 1, 2),
    ),
    "carried-weights": (
        rnn_carried_weights,
        lambda rng: (_randn(rng, 3, 3, scale=0.5), _randn(rng, 2, 3), _randn(rng, 2, 3),
                     _randn(rng, 4, 2, 2)),  # fmt: skip
        (0, 1, 2, 3),
    ),
    "nested": (rnn_nested, lambda rng: (_rnn_params(rng), _randn(rng, 3, 4, 2)), (0, 1)),
    "vmap": (rnn_vmapped, lambda rng: (_rnn_params(rng), _randn(rng, 2, 4, 2)), (0, 1)),
    "fori": (rnn_fori, lambda rng: (_rnn_params(rng), _randn(rng, 4, 2)), (0, 1)),
    "cond": (rnn_cond, lambda rng: (_rnn_params(rng), _randn(rng, 5, 2)), (0, 1)),
    "contractions": (contractions, _contraction_args, (0, 2, 3, 4, 5, 6, 7, 8)),
    # Some weights only: the VJP picks the wanted cotangents among the float consts.
    "contractions-some": (contractions, _contraction_args, (3, 4)),
    "contractions-others": (contractions, _contraction_args, (2, 5)),
    "lstm": (
        lstm,
        lambda rng: (_randn(rng, 8, 3, scale=0.5), _randn(rng, 8, 2, scale=0.5), _randn(rng, 8),
                     _randn(rng, 4, 2), _randn(rng, 4, 2), _randn(rng, 5, 4, 3)),  # fmt: skip
        (0, 1, 2, 3, 4, 5),
    ),
    "map": (
        mapped,
        lambda rng: (_randn(rng, 2, 3), _randn(rng, 3), _randn(rng, 5, 2)),
        (0, 1, 2),
    ),
}

# How the gradient of the staged program is taken.
MODES: dict[str, Callable] = {
    "grad": lambda f, argnums: vfunc.grad(f, argnums=argnums),
    "jit(grad)": lambda f, argnums: vfunc.jit(vfunc.grad(f, argnums=argnums)),
    "grad(jit)": lambda f, argnums: vfunc.grad(vfunc.jit(f), argnums=argnums),
}


def _close(got, want, rtol, atol, what):
    got_leaves, want_leaves = tree.leaves(got), tree.leaves(want)
    assert len(got_leaves) == len(want_leaves)
    for k, (g, w) in enumerate(zip(got_leaves, want_leaves, strict=True)):
        np.testing.assert_allclose(np.asarray(g, np.float64), np.asarray(w, np.float64),
                                   rtol=rtol, atol=atol, err_msg=f"{what}, leaf {k}")  # fmt: skip


def _to64(args):
    return tree.map(lambda a: vnp.asarray(np.asarray(a, np.float64)), args)


def finite_difference_grad(f: Callable, args: tuple, argnums: tuple, eps: float = 1e-6) -> Any:
    """The full gradient of scalar ``f`` in float64 by central differences, element by element
    (call under x64 with float64 ``args``)."""
    grads = []
    for i in argnums:
        leaves, treedef = tree.flatten(args[i])
        out = []
        for j, leaf in enumerate(leaves):
            base = np.asarray(leaf, np.float64)
            g = np.zeros_like(base)
            for idx in np.ndindex(base.shape):
                values = []
                for sign in (1.0, -1.0):
                    moved = base.copy()
                    moved[idx] += sign * eps
                    new = list(leaves)
                    new[j] = vnp.asarray(moved)
                    full = list(args)
                    full[i] = tree.unflatten(treedef, new)
                    values.append(float(f(*full)))
                g[idx] = (values[0] - values[1]) / (2 * eps)
            out.append(g)
        grads.append(tree.unflatten(treedef, out))
    return tuple(grads)


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("case", list(CASES))
def test_scan_gradient_matches_unrolled_loop_and_finite_differences(case, mode):
    loss, make_args, argnums = CASES[case]
    args = make_args(np.random.default_rng(0))
    staged = functools.partial(loss, LAX)
    unrolled = functools.partial(loss, PY)
    np.testing.assert_allclose(float(staged(*args)), float(unrolled(*args)), rtol=1e-5)
    want = vfunc.grad(unrolled, argnums=argnums)(*args)
    _close(MODES[mode](staged, argnums)(*args), want, 2e-5, 2e-5, f"{case}: scan vs unrolled")
    with enable_x64():
        args64 = _to64(args)
        got = MODES[mode](staged, argnums)(*args64)
        _close(got, finite_difference_grad(unrolled, args64, argnums), 1e-6, 1e-6,
               f"{case}: float64 scan gradient vs central differences")  # fmt: skip


def test_issue_11_example_agrees_to_float32_rounding():
    rng = np.random.default_rng(0)
    p = {"wh": (rng.standard_normal((3, 3)) * 0.5).astype(np.float32),
         "wx": rng.standard_normal((2, 3)).astype(np.float32),
         "b": rng.standard_normal(3).astype(np.float32), "s": np.float32(1.0)}  # fmt: skip
    xs = rng.standard_normal((5, 2)).astype(np.float32)
    want = vfunc.grad(lambda p: rnn_dict(PY, p, vnp.zeros(3), xs))(p)
    for grad in (vfunc.grad, lambda f: vfunc.jit(vfunc.grad(f))):
        got = grad(lambda p: rnn_dict(LAX, p, vnp.zeros(3), xs))(p)
        _close(got, want, 1e-5, 1e-6, "issue 11 example")


# ----------------------------------------------------------------------------------------------
# Second order: Hessian-vector products and grad of grad through scan

SECOND_ORDER = ["dict-vector-h@W", "dict-matrix-W@h", "dict-vector-reverse", "closure",
                "nested", "fori"]  # fmt: skip


def _hvp(f, argnums):
    grad = vfunc.grad(f, argnums=argnums)

    def hvp(args, tangents):
        def g(*diff):
            full = list(args)
            for i, d in zip(argnums, diff, strict=True):
                full[i] = d
            return grad(*full)

        return vfunc.jvp(g, tuple(args[i] for i in argnums), tangents)[1]

    return hvp


@pytest.mark.parametrize("case", SECOND_ORDER)
def test_scan_hessian_vector_product_matches_unrolled_and_finite_differences(case):
    loss, make_args, argnums = CASES[case]
    rng = np.random.default_rng(1)
    with enable_x64():
        args = _to64(make_args(rng))
        tangents = tuple(tree.map(lambda a: vnp.asarray(rng.standard_normal(a.shape)), args[i])
                         for i in argnums)  # fmt: skip
        staged, unrolled = functools.partial(loss, LAX), functools.partial(loss, PY)
        got = _hvp(staged, argnums)(args, tangents)
        _close(got, _hvp(unrolled, argnums)(args, tangents), 1e-9, 1e-9, f"{case}: hvp")
        # Central differences of the unrolled gradient along the tangent.
        eps, grad = 1e-6, vfunc.grad(unrolled, argnums=argnums)

        def moved(sign):
            full = list(args)
            for i, t in zip(argnums, tangents, strict=True):
                full[i] = tree.map(lambda a, u: a + sign * eps * u, args[i], t)
            return grad(*full)

        fd = tree.map(lambda a, b: (np.asarray(a) - np.asarray(b)) / (2 * eps), moved(1.0),
                      moved(-1.0))  # fmt: skip
        _close(got, fd, 1e-6, 1e-6, f"{case}: hvp vs central differences of the gradient")


@pytest.mark.parametrize("case", ["dict-vector-h@W", "dict-matrix-h@W", "carried-weights"])
def test_scan_grad_of_grad_matches_unrolled(case):
    loss, make_args, argnums = CASES[case]
    args = make_args(np.random.default_rng(2))

    def outer(loops):
        grad = vfunc.grad(functools.partial(loss, loops), argnums=argnums)
        return lambda *a: sum(vnp.sum(g * g) for g in tree.leaves(grad(*a)))

    want = vfunc.grad(outer(PY), argnums=argnums)(*args)
    for wrap in (lambda f: f, vfunc.jit):
        _close(wrap(vfunc.grad(outer(LAX), argnums=argnums))(*args), want, 1e-4, 1e-5,
               f"{case}: grad of grad")  # fmt: skip


def test_the_contractions_case_takes_the_summed_after_the_loop_path():
    # Otherwise the case above could not catch a fault in that path: the backward scan carries
    # only h's cotangent and s's accumulator; w1, w2, w3 and b are summed after the loop.
    loss, make_args, argnums = CASES["contractions"]
    args = make_args(np.random.default_rng(0))
    jaxpr = vfunc.make_jaxpr(vfunc.grad(functools.partial(loss, LAX), argnums=argnums))(*args)
    backward = [e for e in jaxpr.eqns if e.primitive.name == "scan"][-1]
    assert backward.params["num_carry"] == 2
    assert [e.primitive.name for e in jaxpr.eqns].count("dot_general") >= 3


# ----------------------------------------------------------------------------------------------
# The same pattern in while_loop (forward mode), cond (both modes) and vmap of scan


def py_while_loop(cond_fun, body_fun, init):
    val = init
    while bool(cond_fun(val)):
        val = body_fun(val)
    return val


def rnn_while(while_loop, p, xs):
    def body(carry):
        i, h = carry
        return i + 1, vnp.tanh(h @ p["wh"] + xs[i] @ p["wx"] + p["b"]) * p["s"]

    return while_loop(lambda c: c[0] < xs.shape[0], body, (0, vnp.zeros(p["b"].shape)))[1]


FORWARD_MODES: dict[str, Callable] = {
    "jvp": lambda f, args, tangents: vfunc.jvp(f, args, tangents)[1],
    "jit(jvp)": lambda f, args, tangents: vfunc.jit(
        lambda a, t: vfunc.jvp(f, a, t)[1])(args, tangents),
    "jacfwd": lambda f, args, tangents: vfunc.jacfwd(f, argnums=(0, 1))(*args),
}  # fmt: skip


@pytest.mark.parametrize("mode", list(FORWARD_MODES))
def test_while_loop_forward_mode_with_several_closed_over_weights(mode):
    rng = np.random.default_rng(3)
    args = (_rnn_params(rng), _randn(rng, 4, 2))
    tangents = tree.map(lambda a: _randn(rng, *a.shape), args)
    got = FORWARD_MODES[mode](functools.partial(rnn_while, lax.while_loop), args, tangents)
    want = FORWARD_MODES[mode](functools.partial(rnn_while, py_while_loop), args, tangents)
    _close(got, want, 1e-5, 1e-6, f"while_loop {mode}")


def branchy(p, h, k, cond):
    return vnp.sum(cond(
        k,
        lambda h: vnp.tanh(h @ p["wh"] + p["b"]) * p["s"],
        lambda h: vnp.sin(h @ p["wh"].T) + p["b"] * p["s"],
        h,
    ) ** 2)  # fmt: skip


COND_DERIVATIVES: dict[str, Callable] = {
    "grad": lambda f, p: vfunc.grad(f)(p),
    "jit(grad)": lambda f, p: vfunc.jit(vfunc.grad(f))(p),
    "jvp": lambda f, p: vfunc.jvp(f, (p,), (tree.map(vnp.cos, p),))[1],
    "hessian(b)": lambda f, p: vfunc.hessian(lambda b: f({**p, "b": b}))(p["b"]),
}


@pytest.mark.parametrize("branch", [True, False])
@pytest.mark.parametrize("derivative", list(COND_DERIVATIVES))
def test_cond_derivatives_with_several_closed_over_weights(derivative, branch):
    rng = np.random.default_rng(4)
    p, h = _rnn_params(rng), _randn(rng, 3)
    got = COND_DERIVATIVES[derivative](lambda p: branchy(p, h, branch, lax.cond), p)
    want = COND_DERIVATIVES[derivative](lambda p: branchy(p, h, branch, py_cond), p)
    _close(got, want, 1e-5, 1e-6, f"cond {derivative}")


VMAP_DERIVATIVES: dict[str, Callable] = {
    "vmap": lambda f, axes: vfunc.vmap(f, in_axes=axes),
    "vmap(grad)": lambda f, axes: vfunc.vmap(vfunc.grad(f), in_axes=axes),
    "jit(vmap(grad))": lambda f, axes: vfunc.jit(vfunc.vmap(vfunc.grad(f), in_axes=axes)),
    "grad(vmap)": lambda f, axes: vfunc.grad(
        lambda *a: vnp.sum(vfunc.vmap(f, in_axes=axes)(*a)), argnums=(0, 1)),
    "jacfwd(vmap)": lambda f, axes: vfunc.jacfwd(vfunc.vmap(f, in_axes=axes), argnums=(0, 1)),
}  # fmt: skip


@pytest.mark.parametrize("axes", [(0, 0), (0, None), (None, 0)], ids=str)
@pytest.mark.parametrize("derivative", list(VMAP_DERIVATIVES))
def test_vmap_of_scan_with_batched_or_shared_weights(derivative, axes):
    rng = np.random.default_rng(5)
    p, xs = _rnn_params(rng), _randn(rng, 4, 2)
    if axes[0] == 0:
        p = tree.map(lambda a: vnp.stack([a, a * 0.7, a * -1.3]), p)
    if axes[1] == 0:
        xs = vnp.stack([xs, xs * 0.5, -xs])

    def model(loops):
        return lambda p, xs: rnn_dict(loops, p, vnp.zeros(3), xs)

    got = VMAP_DERIVATIVES[derivative](model(LAX), axes)(p, xs)
    want = VMAP_DERIVATIVES[derivative](model(PY), axes)(p, xs)
    _close(got, want, 1e-5, 1e-5, f"{derivative} of scan, in_axes={axes}")
