"""How a scan is lowered to one compiled loop: BLAS threads around small per-step products,
loop-invariant products hoisted before the loop, and the LSTM layer's training step (run with
those loops) against an unrolled float64 LSTM and central finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import vfunc
import vfunc.numpy as vnp
from vfunc import debug, lax, nn
from vfunc.primitives.conv_kernels import threads
from vfunc.testing.gradients import enable_x64
from vfunc.transforms.compiler import codegen, passes
from vfunc.transforms.compiler.loop_passes import hoist_loop_invariants


def _scan_eqn(f, *args):
    """The scan equation of ``f``'s jaxpr."""
    (eqn,) = [e for e in vfunc.make_jaxpr(f)(*args).jaxpr.eqns if e.primitive.name == "scan"]
    return eqn


def _rnn(w, h0, xs):
    return lax.scan(lambda h, x: (vnp.tanh(h @ w + x), h), h0, xs)


def _loop_source(batch: int, hidden: int) -> str:
    w, h0 = vnp.zeros((hidden, hidden)), vnp.zeros((batch, hidden))
    eqn = _scan_eqn(_rnn, w, h0, vnp.zeros((3, batch, hidden)))
    p = eqn.params
    body = passes.optimize(p["jaxpr"])
    return codegen.compile_scan_loop(body, p["num_consts"], p["num_carry"], p["length"],
                                     p["reverse"]).source  # fmt: skip


def test_loops_of_small_products_run_them_on_one_blas_thread():
    # An LSTM step's (32, 256) x (256, 1024) is far below the bound; (64, 4096) x (4096, 4096)
    # is far above it and keeps BLAS's threads.
    assert 32 * 256 * 1024 <= codegen.SINGLE_THREAD_PRODUCT < 64 * 4096 * 4096
    assert "_single_blas()" in _loop_source(32, 128)
    assert "_single_blas()" not in _loop_source(64, 4096)


def test_loop_without_products_leaves_blas_threads_alone():
    eqn = _scan_eqn(lambda c, xs: lax.scan(lambda c, x: (c * x, c), c, xs), vnp.ones(3),
                    vnp.ones((4, 3)))  # fmt: skip
    p = eqn.params
    source = codegen.compile_scan_loop(
        passes.optimize(p["jaxpr"]), p["num_consts"], p["num_carry"], p["length"], p["reverse"]
    ).source
    assert "_single_blas" not in source


def test_blas_threads_are_one_inside_the_loop_and_restored_after():
    controls = threads._openblas_thread_controls()
    if controls is None:
        pytest.skip("numpy is not linked to an OpenBLAS whose threads vfunc can set")
    get, _ = controls
    before = get()
    seen = []

    def step(h, x):
        debug.callback(lambda _: seen.append(get()), h)  # reads the carry: stays in the loop
        return vnp.tanh(h @ w + x), None

    w = vnp.asarray(np.eye(8, dtype=np.float32))
    run = vfunc.jit(lambda h0, xs: lax.scan(step, h0, xs))
    h, _ = run(vnp.zeros((4, 8)), vnp.ones((5, 4, 8)))
    assert seen == [1] * 5
    assert get() == before
    np.testing.assert_allclose(
        np.asarray(h), _numpy_rnn(np.eye(8), np.zeros((4, 8)), np.ones((5, 4, 8))), rtol=1e-6
    )


def _numpy_rnn(w, h, xs):
    for x in xs:
        h = np.tanh(h @ w + x)
    return h


def test_blas_threads_restored_when_the_body_raises():
    controls = threads._openblas_thread_controls()
    if controls is None:
        pytest.skip("numpy is not linked to an OpenBLAS whose threads vfunc can set")
    get, _ = controls
    before = get()

    def boom(_):
        raise RuntimeError("from the body")

    def step(h, x):
        debug.callback(boom, h)
        return h @ w + x, None

    w = vnp.ones((3, 3))
    with pytest.raises(RuntimeError, match="from the body"):
        vfunc.jit(lambda h, xs: lax.scan(step, h, xs))(vnp.ones((2, 3)), vnp.ones((4, 2, 3)))
    assert get() == before


def test_the_input_projection_of_every_step_is_one_product_before_the_loop():
    # ``x_t @ W_x`` reads no carry: hoisted and batched over the steps, it is one product of
    # the stacked xs; only ``h @ W_h`` stays in the loop.
    def loss(wx, wh, h0, xs):
        return lax.scan(lambda h, x: (vnp.tanh(x @ wx + h @ wh), None), h0, xs)[0]

    args = (vnp.ones((5, 4)), vnp.ones((4, 4)), vnp.ones((3, 4)), vnp.ones((7, 3, 5)))
    p = _scan_eqn(loss, *args).params
    plan = hoist_loop_invariants(p["jaxpr"], p["num_consts"], p["num_carry"], p["length"])
    assert plan is not None
    pre = [e for e in plan.pre.jaxpr.eqns if e.primitive.name == "dot_general"]
    assert len(pre) == 1 and pre[0].outvars[0].aval.shape == (7, 3, 4)
    body = [e for e in plan.body.jaxpr.eqns if e.primitive.name == "dot_general"]
    assert len(body) == 1 and body[0].outvars[0].aval.shape == (3, 4)


# ----------------------------------------------------------------------------------------------
# The LSTM layer against an unrolled float64 LSTM written with numpy


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def numpy_lstm(params: dict, x: np.ndarray, layers: int) -> np.ndarray:
    """PyTorch's LSTM equations (gate order i, f, g, o), unrolled over time in numpy."""
    for k in range(layers):
        w_ih, w_hh = params[f"weight_ih_l{k}"], params[f"weight_hh_l{k}"]
        b = params[f"bias_ih_l{k}"] + params[f"bias_hh_l{k}"]
        hidden = w_hh.shape[1]
        h = c = np.zeros((x.shape[1], hidden))
        outs = []
        for x_t in x:
            i, f, g, o = np.split(x_t @ w_ih.T + h @ w_hh.T + b, 4, axis=-1)
            c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
            h = _sigmoid(o) * np.tanh(c)
            outs.append(h)
        x = np.stack(outs)
    return x


def test_lstm_training_step_matches_unrolled_numpy_and_finite_differences():
    with enable_x64():
        model = nn.LSTM(3, 4, num_layers=2, key=vfunc.random.key(0), dtype=np.float64)
        x = vnp.asarray(np.random.default_rng(1).standard_normal((6, 2, 3)))
        target = np.random.default_rng(2).standard_normal((6, 2, 4))

        def loss(m, x):
            return vnp.sum((m(x)[0] - target) ** 2)

        params = {k: np.asarray(v) for k, v in nn.state_dict(model).items()}

        def numpy_loss(p, xv):
            return float(np.sum((numpy_lstm(p, xv, 2) - target) ** 2))

        value, grads = vfunc.jit(vfunc.value_and_grad(loss, argnums=(0, 1)))(model, x)
        np.testing.assert_allclose(float(value), numpy_loss(params, np.asarray(x)), rtol=1e-12)
        g_model = nn.state_dict(grads[0])
        eps = 1e-6
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_hh_l1", "weight_hh_l1"):
            want = np.zeros_like(params[name])
            for idx in np.ndindex(want.shape):
                up, down = dict(params), dict(params)
                up[name], down[name] = params[name].copy(), params[name].copy()
                up[name][idx] += eps
                down[name][idx] -= eps
                want[idx] = (numpy_loss(up, np.asarray(x)) - numpy_loss(down, np.asarray(x))) / (
                    2 * eps
                )
            np.testing.assert_allclose(np.asarray(g_model[name]), want, rtol=1e-6, atol=1e-8,
                                       err_msg=name)  # fmt: skip
        # The input's cotangent too (it crosses both layers' backward loops).
        xv = np.asarray(x)
        want_x = np.zeros_like(xv)
        for idx in np.ndindex(xv.shape):
            up, down = xv.copy(), xv.copy()
            up[idx] += eps
            down[idx] -= eps
            want_x[idx] = (numpy_loss(params, up) - numpy_loss(params, down)) / (2 * eps)
        np.testing.assert_allclose(np.asarray(grads[1]), want_x, rtol=1e-6, atol=1e-8)
