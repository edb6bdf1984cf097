"""Structured control flow: cond, switch, while_loop, fori_loop, scan and map against Python-loop
references, under jit, grad (check_grads to second order), jvp and vmap, and their errors."""

from __future__ import annotations

import numpy as np
import pytest

import vfunc
import vfunc.numpy as vnp
from vfunc import jit, lax, vmap
from vfunc.testing import check_grads


def randn(rng, *shape: int, scale: float = 1.0) -> vfunc.Array:
    return vnp.asarray((rng.normal(size=shape) * scale).astype(np.float32))


def close(a, b, tol: float = 1e-5) -> None:
    for x, y in zip(vfunc.tree.leaves(a), vfunc.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=tol, atol=tol)


# ----------------------------------------------------------------------------------------------
# Forward values against Python loops


def rnn(w, h0, xs):
    def cell(h, x):
        h = vnp.tanh(w @ h + x)
        return h, (h * h).sum()

    return lax.scan(cell, h0, xs)


def rnn_loop(w, h0, xs):
    h, ys = h0, []
    for t in range(xs.shape[0]):
        h = vnp.tanh(w @ h + xs[t])
        ys.append((h * h).sum())
    return h, vnp.stack(ys)


def test_scan_matches_python_loop_eager_and_jit(rng):
    w, h0, xs = randn(rng, 4, 4, scale=0.5), randn(rng, 4), randn(rng, 6, 4)
    want = rnn_loop(w, h0, xs)
    close(rnn(w, h0, xs), want)
    close(jit(rnn)(w, h0, xs), want)


def test_scan_pytrees_reverse_length_and_no_ys():
    xs = {"a": vnp.arange(5.0), "b": vnp.arange(5) * 2}

    def f(carry, x):
        total, count = carry
        return (total + x["a"] * x["b"], count + 1), {"prefix": total}

    (total, count), ys = lax.scan(f, (vnp.zeros(()), 0), xs)
    assert float(total) == sum(i * 2 * i for i in range(5)) and int(count) == 5
    assert ys["prefix"].tolist() == [0.0, 0.0, 2.0, 10.0, 28.0]
    _, rev = lax.scan(lambda c, x: (c + x, c), 0.0, vnp.arange(1.0, 4.0), reverse=True)
    assert rev.tolist() == [5.0, 3.0, 0.0]  # ys keep xs's order
    carry, ys = lax.scan(lambda c, _: (c * 2, None), vnp.ones(2), None, length=3)
    assert ys is None and carry.tolist() == [8.0, 8.0]
    carry, ys = lax.scan(lambda c, x: (c, x), 1.0, vnp.zeros((0, 2)))
    assert ys.shape == (0, 2) and float(carry) == 1.0


def test_cond_and_switch_match_python(rng):
    x = randn(rng, 3)
    for p in (True, False, 0, 3):
        want = vnp.sin(x) if p else vnp.cos(x)
        close(lax.cond(p, vnp.sin, vnp.cos, x), want)
        close(jit(lambda p, x: lax.cond(p, vnp.sin, vnp.cos, x))(p, x), want)
    branches = [lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a - b]
    for i, k in [(-4, 0), (0, 0), (1, 1), (2, 2), (9, 2)]:  # the index is clamped
        close(lax.switch(i, branches, x, 2.0), branches[k](x, 2.0))
        close(jit(lambda i, x: lax.switch(i, branches, x, 2.0))(i, x), branches[k](x, 2.0))
    assert (
        lax.switch(
            3,
            [lambda: 7],
        )
        == 7
    )  # a single branch is just called


def test_cond_pytree_operands_and_results(rng):
    state = {"x": randn(rng, 2), "n": vnp.array(3)}
    out = lax.cond(True, lambda s: (s["x"] * 2, s["n"] + 1), lambda s: (s["x"], s["n"]), state)
    close(out[0], state["x"] * 2)
    assert int(out[1]) == 4


def test_while_and_fori_match_python(rng):
    def collatz_steps(n):
        return lax.while_loop(
            lambda c: c[0] != 1,
            lambda c: (vnp.where(c[0] % 2 == 0, c[0] // 2, 3 * c[0] + 1), c[1] + 1),
            (n, 0),
        )[1]

    assert int(collatz_steps(vnp.array(27))) == 111
    assert int(jit(collatz_steps)(vnp.array(27))) == 111
    x = randn(rng, 3)
    want = x
    for i in range(2, 7):
        want = vnp.sin(want) * i
    body = lambda i, v: vnp.sin(v) * i  # noqa: E731
    close(lax.fori_loop(2, 7, body, x), want)
    close(jit(lambda x: lax.fori_loop(2, 7, body, x))(x), want)
    # Traced bounds lower to a while loop.
    close(jit(lambda lo, hi, x: lax.fori_loop(lo, hi, body, x))(2, 7, x), want)
    assert lax.fori_loop(5, 2, body, x) is not None  # an empty range returns the init value
    close(lax.fori_loop(5, 2, body, x), x)


def test_map_matches_loop(rng):
    xs = randn(rng, 4, 3)
    close(lax.map(lambda r: (r * r).sum(), xs), vnp.stack([(r * r).sum() for r in xs]))


def test_closed_over_values_and_nesting(rng):
    w = randn(rng, 3)

    def f(x):
        def outer(c, xrow):
            inner, _ = lax.scan(lambda a, v: (a + v * w, None), c, xrow[None, :] * vnp.ones((2, 1)))
            return lax.cond(inner.sum() > 0, lambda v: v, lambda v: -v, inner), inner.sum()

        return lax.scan(outer, vnp.zeros(3), x)

    def ref(x):
        c, ys = vnp.zeros(3), []
        for row in x:
            inner = c + row * w + row * w
            c = inner if float(inner.sum()) > 0 else -inner
            ys.append(inner.sum())
        return c, vnp.stack(ys)

    x = randn(rng, 4, 3)
    close(f(x), ref(x))
    close(jit(f)(x), ref(x))


# ----------------------------------------------------------------------------------------------
# Jaxprs


def test_jaxprs_print_nested_like_jax():
    text = str(vfunc.make_jaxpr(lambda x: lax.scan(lambda c, v: (c + v, c * v), 0.0, x))(
        vnp.zeros(3)))  # fmt: skip
    assert text == (
        "{ lambda ; a:f32[3]. let\n"
        "    b:f32[] c:f32[3] = scan[\n"
        "      jaxpr={ lambda ; d:f32[] e:f32[]. let\n"
        "          f:f32[] = add d e\n"
        "          g:f32[] = mul d e\n"
        "        in (f, g) }\n"
        "      length=3\n"
        "      num_carry=1\n"
        "      num_consts=0\n"
        "      reverse=False\n"
        "      unroll=1\n"
        "    ] 0.0:f32[] a\n"
        "  in (b, c) }"
    )
    text = str(vfunc.make_jaxpr(lambda p, x: lax.cond(p, vnp.sin, vnp.cos, x))(True, vnp.zeros(2)))
    assert "branches=(\n" in text and "cos" in text and "sin" in text


def test_closed_over_tracers_become_operands():
    def f(w, x):
        return lax.scan(lambda c, v: (c * w + v, None), x[0], x)[0]

    jaxpr = vfunc.make_jaxpr(f)(vnp.ones(()), vnp.zeros(3))
    (eqn,) = [e for e in jaxpr.eqns if e.primitive.name == "scan"]
    assert eqn.params["num_consts"] == 1 and not eqn.params["jaxpr"].consts


# ----------------------------------------------------------------------------------------------
# Differentiation


def test_scan_gradients_match_loop_and_finite_differences(rng):
    w, h0, xs = randn(rng, 3, 3, scale=0.5), randn(rng, 3), randn(rng, 4, 3)

    def loss(f):
        return lambda w, h0, xs: (lambda h, ys: h.sum() + (ys * ys).sum())(*f(w, h0, xs))

    got = vfunc.grad(loss(rnn), argnums=(0, 1, 2))(w, h0, xs)
    close(got, vfunc.grad(loss(rnn_loop), argnums=(0, 1, 2))(w, h0, xs))
    close(jit(vfunc.grad(loss(rnn), argnums=(0, 1, 2)))(w, h0, xs), got)
    check_grads(loss(rnn), (w, h0, xs), order=2)


def test_scan_reverse_pytree_and_int_carry_gradients():
    def f(x, s):
        def body(c, v):
            k, acc = c
            return (k + 1, {"a": acc["a"] * vnp.cos(v) + s, "b": acc["b"] + v * k}), acc["a"] * v

        (_, acc), ys = lax.scan(body, (0, {"a": x, "b": x * 2}), s * vnp.arange(1.0, 4.0),
                                reverse=True)  # fmt: skip
        return acc["a"] + acc["b"] + ys.sum()

    check_grads(f, (vnp.array(0.3), vnp.array(0.7)), order=2)


def batched_rnn_loss(params, h0, xs, reverse=False):
    def step(h, x):
        h = vnp.tanh(x @ params["wx"] + h @ params["wh"].T + params["b"])
        return h, (h * params["s"]).mean()

    h, means = lax.scan(step, h0, xs, reverse=reverse)
    return h.mean() + means.sum()


def batched_rnn_loss_loop(params, h0, xs, reverse=False):
    h, total = h0, 0.0
    for t in reversed(range(xs.shape[0])) if reverse else range(xs.shape[0]):
        h = vnp.tanh(xs[t] @ params["wx"] + h @ params["wh"].T + params["b"])
        total = total + (h * params["s"]).mean()
    return h.mean() + total


@pytest.mark.parametrize("reverse", [False, True])
def test_scan_weight_gradients_summed_after_the_loop_match_the_python_loop(rng, reverse):
    # Weight cotangents that end in a contraction (wx, wh) or a reduction (b) are summed after
    # the loop from stacked per-step operands; s's (elementwise) stays a per-step accumulation.
    params = {"wx": randn(rng, 5, 4, scale=0.5), "wh": randn(rng, 4, 4, scale=0.5),
              "b": randn(rng, 4), "s": randn(rng, 4)}  # fmt: skip
    h0, xs = randn(rng, 3, 4), randn(rng, 6, 3, 5)
    want = vfunc.value_and_grad(batched_rnn_loss_loop, argnums=(0, 1, 2))(params, h0, xs, reverse)
    for f in (vfunc.value_and_grad, lambda *a, **k: jit(vfunc.value_and_grad(*a, **k),
                                                           static_argnums=3)):  # fmt: skip
        got = f(batched_rnn_loss, argnums=(0, 1, 2))(params, h0, xs, reverse)
        close(got, want, tol=1e-4)
    # Only some inputs differentiated: the residuals are the same, the rest is pruned.
    only_b = vfunc.grad(lambda b: batched_rnn_loss({**params, "b": b}, h0, xs, reverse))
    close(jit(only_b)(params["b"]), want[1][0]["b"], tol=1e-4)
    check_grads(lambda *a: batched_rnn_loss(*a, reverse), (params, h0, xs), order=2)


def test_scan_gradient_through_a_product_of_loop_invariants(rng):
    # ct(w1) = ct(w1 @ w2) @ w2^T each step: an invariant operand, so it stays a carried sum.
    w1, w2 = randn(rng, 4, 4, scale=0.5), randn(rng, 4, 4, scale=0.5)
    h0, xs = randn(rng, 2, 4), randn(rng, 5, 2, 4)

    def loss(w1, w2, h0, xs):
        return lax.scan(lambda h, x: (vnp.tanh(h @ (w1 @ w2) + x), None), h0, xs)[0].sum()

    def loss_loop(w1, w2, h0, xs):
        h = h0
        for t in range(xs.shape[0]):
            h = vnp.tanh(h @ (w1 @ w2) + xs[t])
        return h.sum()

    want = vfunc.grad(loss_loop, argnums=(0, 1, 2, 3))(w1, w2, h0, xs)
    close(jit(vfunc.grad(loss, argnums=(0, 1, 2, 3)))(w1, w2, h0, xs), want, tol=1e-4)
    check_grads(loss, (w1, w2, h0, xs), order=2)


def test_scan_backward_reads_residuals_instead_of_recomputing(rng):
    params = {"wx": randn(rng, 5, 4), "wh": randn(rng, 4, 4), "b": randn(rng, 4),
              "s": randn(rng, 4)}  # fmt: skip
    h0, xs = randn(rng, 3, 4), randn(rng, 6, 3, 5)
    jaxpr = vfunc.make_jaxpr(vfunc.grad(batched_rnn_loss))(params, h0, xs)
    scans = [e for e in jaxpr.eqns if e.primitive.name == "scan"]
    assert len(scans) == 2
    backward = scans[1].params["jaxpr"].jaxpr
    assert "tanh" not in [e.primitive.name for e in backward.eqns]


def test_cond_switch_fori_gradients(rng):
    x, w = randn(rng, 3), randn(rng, 3, 3)
    for p in (True, False):
        check_grads(lambda x, w, p=p: lax.cond(p, lambda a: vnp.sin(w @ a), lambda a: a * a, x),
                    (x, w), order=2)  # fmt: skip
    branches = [lambda a: a * w.sum(), lambda a: vnp.exp(a), lambda a: a]
    for i in range(3):
        check_grads(lambda a, i=i: lax.switch(i, branches, a), (x,), order=2)
    check_grads(lambda a: lax.fori_loop(0, 3, lambda i, v: vnp.sin(v) * (i + 1.0), a), (x,),
                order=2)  # fmt: skip


def test_while_loop_forward_mode_and_reverse_mode_error(rng):
    def f(x):
        return lax.while_loop(lambda c: c[1] < 3, lambda c: (vnp.sin(c[0]) * 1.5, c[1] + 1),
                              (x, 0))[0]  # fmt: skip

    check_grads(f, (randn(rng, 3),), order=2, modes=("fwd",))
    with pytest.raises(TypeError, match="while_loop.*fori_loop.*scan"):
        vfunc.grad(lambda x: f(x).sum())(randn(rng, 3))
    # A trip count traced by jit makes fori_loop a while loop: the same error, not a silent zero.
    loop = lambda x, n: lax.fori_loop(0, n, lambda i, v: v * 2.0, x)  # noqa: E731
    assert float(vfunc.grad(loop)(1.0, vnp.array(3))) == 8.0  # concrete bounds: a scan
    with pytest.raises(TypeError, match="Reverse-mode differentiation does not work"):
        jit(vfunc.grad(loop))(1.0, vnp.array(3))


# ----------------------------------------------------------------------------------------------
# Batching


def test_vmap_cond_with_batched_predicate_selects(rng):
    xs, ps = randn(rng, 5, 3), vnp.array([True, False, True, True, False])
    f = lambda p, x: lax.cond(p, lambda a: a * 2.0, lambda a: vnp.sin(a), x)  # noqa: E731
    want = vnp.stack([f(p, x) for p, x in zip(ps, xs, strict=True)])
    close(vmap(f)(ps, xs), want)
    close(jit(vmap(f))(ps, xs), want)
    close(vmap(f, in_axes=(None, 0))(True, xs), xs * 2.0)
    idx = vnp.array([0, 2, 1, 7, -1])
    g = lambda i, x: lax.switch(i, [vnp.sin, vnp.cos, lambda a: a * 3.0], x)  # noqa: E731
    close(vmap(g)(idx, xs), vnp.stack([g(i, x) for i, x in zip(idx, xs, strict=True)]))


def test_vmap_while_runs_until_every_member_is_done(rng):
    def f(x, limit):
        return lax.while_loop(lambda c: c[0].sum() < limit, lambda c: (c[0] * 2 + 1, c[1] + 1),
                              (x, 0))  # fmt: skip

    xs, limits = vnp.abs(randn(rng, 4, 2)), vnp.array([1.0, 10.0, 100.0, 0.0])
    want = [f(x, lim) for x, lim in zip(xs, limits, strict=True)]
    got = vmap(f)(xs, limits)
    close(got[0], vnp.stack([w[0] for w in want]))
    assert got[1].tolist() == [int(w[1]) for w in want]
    got = vmap(f, in_axes=(0, None))(xs, 50.0)  # unbatched limit, batched carry
    close(got[0], vnp.stack([f(x, 50.0)[0] for x in xs]))
    # An unbatched predicate (a counter) keeps the loop unmasked.
    h = lambda x: lax.fori_loop(0, vnp.array(3), lambda i, v: v * 2.0, x)  # noqa: E731
    close(vmap(h)(xs), xs * 8.0)


def test_vmap_scan_batches_carry_xs_and_consts(rng):
    w, h0, xs = randn(rng, 3, 3, scale=0.5), randn(rng, 3), randn(rng, 5, 3)
    for in_axes in [(None, None, 1), (None, 0, None), (0, None, None), (0, 0, 1)]:
        args = [
            vnp.stack([a, a * 0.5]) if ax == 0 else (vnp.stack([a, a * 0.5], 1) if ax == 1 else a)
            for a, ax in zip((w, h0, xs), in_axes, strict=True)
        ]
        got = vmap(rnn, in_axes=in_axes)(*args)
        members = [
            rnn_loop(*[a if ax is None else vnp.take(a, m, axis=ax)
                       for a, ax in zip(args, in_axes, strict=True)])
            for m in range(2)
        ]  # fmt: skip
        close(got[0], vnp.stack([m[0] for m in members]))
        close(got[1], vnp.stack([m[1] for m in members]))


def test_vmap_of_grad_and_grad_of_vmap_through_scan(rng):
    w, h0, xs = randn(rng, 3, 3, scale=0.5), randn(rng, 3), randn(rng, 2, 4, 3)

    def loss(w, h0, x):
        h, ys = rnn(w, h0, x)
        return h.sum() + ys.sum()

    got = vmap(vfunc.grad(loss), in_axes=(None, None, 0))(w, h0, xs)
    close(got, vnp.stack([vfunc.grad(loss)(w, h0, x) for x in xs]))
    batched = lambda w: vmap(loss, in_axes=(None, None, 0))(w, h0, xs).sum()  # noqa: E731
    close(vfunc.grad(batched)(w), sum(vfunc.grad(loss)(w, h0, x) for x in xs))


# ----------------------------------------------------------------------------------------------
# Errors


def test_branch_mismatch_errors_show_both_structures():
    with pytest.raises(TypeError, match=r"false_fun returned \(f32\[3\], f32\[3\]\).*"
                                        r"true_fun returned f32\[3\]"):  # fmt: skip
        lax.cond(True, lambda x: x, lambda x: (x, x), vnp.zeros(3))
    with pytest.raises(TypeError, match=r"branches\[1\] returned f32\[4\]"):
        lax.switch(0, [lambda x: x, lambda x: vnp.zeros(4)], vnp.zeros(3))
    with pytest.raises(TypeError, match="pred must be a scalar"):
        lax.cond(vnp.ones(2) > 0, lambda: 1, lambda: 2)


def test_loop_carry_errors_show_both_structures():
    with pytest.raises(TypeError, match=r"input carry is \(f32\[2\], i32\[\]\).*returned "
                                        r"\(f32\[2\], f32\[\]\)"):  # fmt: skip
        lax.scan(lambda c, x: ((c[0], x), x), (vnp.zeros(2), vnp.array(0)), vnp.zeros(3))
    with pytest.raises(TypeError, match=r"init_val is \{'a': f32\[\]\} and body_fun returned "
                                        r"f32\[\]"):  # fmt: skip
        lax.while_loop(lambda c: c["a"] < 1, lambda c: c["a"] + 1, {"a": vnp.zeros(())})
    with pytest.raises(TypeError, match="cond_fun must return a boolean scalar"):
        lax.while_loop(lambda c: c, lambda c: c, vnp.zeros(2))
    with pytest.raises(ValueError, match="share one leading axis"):
        lax.scan(lambda c, x: (c, x), 0.0, (vnp.zeros(3), vnp.zeros(4)))
    with pytest.raises(ValueError, match="pass length"):
        lax.scan(lambda c, x: (c, x), 0.0, None)
    with pytest.raises(TypeError, match="pair"):
        lax.scan(lambda c, x: c, 0.0, vnp.zeros(3))


def test_scan_hoists_carry_independent_work_out_of_the_loop(rng):
    from vfunc.transforms.compiler.loop_passes import hoist_loop_invariants

    w, h0, xs = randn(rng, 3, 3, scale=0.5), randn(rng, 3), randn(rng, 4, 3)
    jaxpr = vfunc.make_jaxpr(lambda x: lax.scan(lambda h, v: (vnp.tanh(h + v @ w), h), h0, x))(xs)
    (eqn,) = jaxpr.eqns
    p = eqn.params
    pre, batched, body = hoist_loop_invariants(p["jaxpr"], p["num_consts"], p["num_carry"],
                                               p["length"])  # fmt: skip
    assert batched == [True]  # v @ w, stacked over all steps
    assert [e.primitive.name for e in body.eqns] == ["add", "tanh"]
    h = h0
    for v in xs:
        h = vnp.tanh(h + v @ w)
    close(lax.scan(lambda h, v: (vnp.tanh(h + v @ w), h), h0, xs)[0], h)


def test_jacfwd_through_while_loop_is_pure_forward_mode():
    def f(x):
        return lax.while_loop(lambda c: c[1] < 3, lambda c: (c[0] * x, c[1] + 1), (x, 0))[0]

    x = vnp.asarray([0.5, 2.0])
    jac = vfunc.jacfwd(f)(x)  # x ** 4 elementwise: a diagonal Jacobian 4 x ** 3
    np.testing.assert_allclose(np.asarray(jac), np.diag(4 * np.asarray(x) ** 3), rtol=1e-6)
    with pytest.raises(TypeError, match="fori_loop"):
        vfunc.jacrev(f)(x)


@pytest.mark.parametrize("batch_size", [1, 2, 3, 7, 10])
def test_map_with_batch_size_matches_plain_map(batch_size):
    xs = {"a": vnp.asarray(np.arange(14.0, dtype=np.float32).reshape(7, 2)), "b": vnp.arange(7)}

    def f(row):
        return row["a"].sum() * row["b"], vnp.tanh(row["a"])

    want = lax.map(f, xs)
    got = lax.map(f, xs, batch_size=batch_size)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-6)
    with pytest.raises(ValueError, match="batch_size"):
        lax.map(f, xs, batch_size=0)


# ----------------------------------------------------------------------------------------------
# The jaxpr-level API the control-flow rules build on, against NumPy


def test_vjp_jvp_and_batch_jaxpr_against_closed_forms():
    from vfunc.transforms.ad import jvp_jaxpr, vjp_jaxpr
    from vfunc.transforms.batching import batch_jaxpr

    rng = np.random.default_rng(0)
    x, y, g = (rng.normal(size=3).astype(np.float32) for _ in range(3))
    closed = vfunc.make_jaxpr(lambda a, b: vnp.sin(a) * b)(x, y)
    (ct_x,) = vfunc.jaxpr.eval_jaxpr(vjp_jaxpr(closed, [True, False]).jaxpr, [], x, y, g)
    close(ct_x, g * np.cos(x) * y)
    fwd = jvp_jaxpr(closed, [True, False], primals_out=True)
    out, tan = vfunc.jaxpr.eval_jaxpr(fwd.jaxpr, fwd.consts, x, y, g)
    close(out, np.sin(x) * y)
    close(tan, g * np.cos(x) * y)
    ys = rng.normal(size=(4, 3)).astype(np.float32)
    batched, out_batched = batch_jaxpr(closed, 4, [False, True])
    assert out_batched == [True]
    close(vfunc.jaxpr.eval_jaxpr(batched.jaxpr, batched.consts, x, ys)[0], np.sin(x) * ys)


def test_partial_eval_splits_a_program_into_known_and_rest():
    from vfunc.transforms.ad import partial_eval

    rng = np.random.default_rng(1)
    w, h, u = rng.normal(size=(3, 3)), rng.normal(size=3), rng.normal(size=3)
    w, h, u = (a.astype(np.float32) for a in (w, h, u))

    def f(w, h, u):  # w: recomputed, h: known, u: unknown
        a = vnp.tanh(h @ w)  # known: reads h
        b = w * 2.0  # reads only w: recomputed where needed
        return (a * u) @ b, a

    closed = vfunc.make_jaxpr(f)(w, h, u)
    known, rest = partial_eval(closed, [False, False, True], [True, False, False])
    residuals = vfunc.jaxpr.eval_jaxpr(known.jaxpr, known.consts, w, h)
    assert all(isinstance(e.primitive.name, str) for e in known.eqns)
    assert "tanh" in [e.primitive.name for e in known.eqns]
    assert "tanh" not in [e.primitive.name for e in rest.eqns]  # not recomputed
    outs = vfunc.jaxpr.eval_jaxpr(rest.jaxpr, rest.consts, w, u, *residuals)
    a = np.tanh(h @ w)
    close(outs[0], (a * u) @ (w * 2.0), tol=1e-5)
    close(outs[1], a)


def test_lift_step_sums_sums_a_weight_gradient_after_the_loop():
    from vfunc.transforms.compiler.loop_passes import lift_step_sums

    rng = np.random.default_rng(2)
    steps = 5
    hs, gs = rng.normal(size=(steps, 2, 3)), rng.normal(size=(steps, 2, 4))
    hs, gs = hs.astype(np.float32), gs.astype(np.float32)
    w = np.zeros((4, 4), np.float32)

    def step(w, h, g):  # per step: the weight gradient h^T g (transposed), and a carried sum
        hg = lax.dot_general(h, g, (((0,), (0,)), ((), ())))  # h^T g, contracting the batch
        return hg.T, (g * 2.0).sum(0) + w.sum()

    closed = vfunc.make_jaxpr(step)(w, hs[0], gs[0])
    lifting = lift_step_sums(closed, 1, [False, True, True], [0, 1], steps)
    assert lifting.lifted == [True, False]  # the second sum reads the loop-invariant w
    assert lifting.leaves == []  # h and g are the loop's own stacked operands
    (summed,) = vfunc.jaxpr.eval_jaxpr(lifting.after.jaxpr, lifting.after.consts, hs, gs)
    close(summed, sum((h.T @ g).T for h, g in zip(hs, gs, strict=True)), tol=1e-4)


def test_lift_step_sums_lifts_a_reduction_of_a_per_step_value():
    from vfunc.transforms.compiler.loop_passes import lift_step_sums

    rng = np.random.default_rng(4)
    steps = 6
    gs = rng.normal(size=(steps, 3, 4)).astype(np.float32)
    w = np.ones(4, np.float32)

    def step(w, g):  # a reduction of a value computed in the step, which the loop must stack
        return (vnp.sin(g) * 2.0).sum(0), w

    closed = vfunc.make_jaxpr(step)(w, gs[0])
    lifting = lift_step_sums(closed, 1, [False, True], [0, 1], steps)
    assert lifting.lifted == [True, False]  # w is no per-step value: nothing to sum after
    assert len(lifting.leaves) == 1  # sin(g) * 2, stacked by the loop
    stacked = np.sin(gs) * 2.0
    (summed,) = vfunc.jaxpr.eval_jaxpr(lifting.after.jaxpr, lifting.after.consts, gs, stacked)
    close(summed, stacked.sum(axis=(0, 1)), tol=1e-5)
    # The pass knows these primitives only by their declarations' ``sum_over_steps``.
    declaring = {name for name, p in vfunc.core.registry.items() if p.sum_over_steps}
    assert declaring == {"reduce_sum", "dot_general", "transpose"}


def test_eval_jaxpr_release_gives_the_same_results():
    rng = np.random.default_rng(3)
    x = rng.normal(size=4).astype(np.float32)
    closed = vfunc.make_jaxpr(lambda v: (vnp.exp(vnp.sin(v)) * v, vnp.cos(v)))(x)
    kept = vfunc.jaxpr.eval_jaxpr(closed.jaxpr, closed.consts, x)
    released = vfunc.jaxpr.eval_jaxpr(closed.jaxpr, closed.consts, x, release=True)
    close(kept, released)
    close(released[0], np.exp(np.sin(x)) * x)
