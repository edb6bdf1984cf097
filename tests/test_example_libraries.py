"""vfunc.example_libraries against jax.example_libraries: optimizer trajectories and stax
networks recorded from JAX (tests/fixtures/jax_compat/example_libraries.npz, float32)."""

from pathlib import Path

import numpy as np
import pytest

import vfunc
import vfunc.numpy as vnp
from vfunc import random
from vfunc.example_libraries import optimizers as O  # noqa: N812
from vfunc.example_libraries import stax

REF = np.load(Path(__file__).parent / "fixtures" / "jax_compat" / "example_libraries.npz")
TOL = dict(rtol=2e-5, atol=2e-6)


def _loss(p, x, y):
    h = vnp.tanh(x @ p["hidden"][0] + p["hidden"][1])
    return vnp.mean((h @ p["out"][0] + p["out"][1] - y) ** 2)


OPTIMIZERS = {
    "sgd_schedule": lambda: O.sgd(O.exponential_decay(0.1, 2, 0.5)),
    "momentum": lambda: O.momentum(0.05, 0.9),
    "nesterov": lambda: O.nesterov(0.05, 0.9),
    "adagrad": lambda: O.adagrad(0.1),
    "rmsprop": lambda: O.rmsprop(0.01),
    "rmsprop_momentum": lambda: O.rmsprop_momentum(0.01),
    "adam": lambda: O.adam(0.01),
    "adamax": lambda: O.adamax(0.02),
    "sm3": lambda: O.sm3(0.1),
    "adam_piecewise": lambda: O.adam(O.piecewise_constant([2, 4], [0.03, 0.01, 0.003])),
    "sgd_polynomial": lambda: O.sgd(O.polynomial_decay(0.1, 4, 0.01, 2.0)),
    "sgd_inverse_time": lambda: O.sgd(O.inverse_time_decay(0.1, 2, 0.5, staircase=True)),
}


@pytest.mark.parametrize("jitted", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_trajectory_matches_jax(name, jitted):
    params = {"hidden": (vnp.asarray(REF["W1"]), vnp.asarray(REF["b1"])),
              "out": (vnp.asarray(REF["W2"]), vnp.asarray(REF["b2"]))}  # fmt: skip
    x, y = vnp.asarray(REF["X"]), vnp.asarray(REF["Y"])
    init, update, get_params = OPTIMIZERS[name]()

    def step(i, state):
        return update(i, vfunc.grad(_loss)(get_params(state), x, y), state)

    if jitted:  # the state is a pytree: it goes through jit whole
        if name == "sm3":
            pytest.skip("sm3's state holds the parameter shape as int leaves (as JAX's), which "
                        "jit traces; jax.jit cannot step it either")  # fmt: skip
        step = vfunc.jit(step)
    state = init(params)
    for i in range(6):
        state = step(i, state)
        for k, leaf in enumerate(vfunc.tree.leaves(get_params(state))):
            np.testing.assert_allclose(leaf, REF[f"{name}/{i}/{k}"], **TOL, err_msg=f"step {i}")


def test_optimizer_rejects_a_gradient_tree_of_another_structure():
    init, update, _ = O.sgd(0.1)
    state = init({"a": vnp.ones(2)})
    with pytest.raises(TypeError, match="gradient tree's structure differs"):
        update(0, [vnp.ones(2)], state)


def test_state_unpacks_packs_and_clip_grads():
    init, update, get_params = O.momentum(0.1, 0.9)
    state = update(0, {"a": vnp.ones(2), "b": vnp.ones(())}, init({"a": vnp.ones(2), "b": 2.0}))
    packed = O.pack_optimizer_state(O.unpack_optimizer_state(state))
    assert vfunc.tree.structure(packed) == vfunc.tree.structure(state)
    np.testing.assert_allclose(get_params(packed)["a"], [0.9, 0.9])
    grads = {"a": vnp.array([3.0, 4.0])}
    np.testing.assert_allclose(O.l2_norm(grads), 5.0)
    np.testing.assert_allclose(O.clip_grads(grads, 1.0)["a"], [0.6, 0.8], rtol=1e-6)
    with pytest.raises(ValueError, match="one more entry than boundaries"):
        O.piecewise_constant([1, 2], [0.1])


def test_stax_dense_network_initializes_and_applies_as_jax():
    init, apply = stax.serial(stax.Dense(4), stax.Relu, stax.Dense(2), stax.LogSoftmax)
    shape, params = init(random.PRNGKey(0), (-1, 3))
    assert shape == (-1, 2)
    for k, leaf in enumerate(vfunc.tree.leaves(params)):  # same Threefry bits, same draws
        np.testing.assert_allclose(leaf, REF[f"stax_init/{k}"], **TOL)
    np.testing.assert_allclose(apply(params, vnp.asarray(REF["X"])), REF["stax_out"], **TOL)


def test_stax_conv_network_matches_jax():
    init, apply = stax.serial(
        stax.Conv(2, (3, 3), padding="SAME"), stax.BatchNorm(), stax.Relu,
        stax.AvgPool((2, 2), (1, 1), "SAME"), stax.MaxPool((2, 2)), stax.Flatten, stax.Dense(3),
    )  # fmt: skip
    shape, params = init(random.PRNGKey(1), (-1, 5, 5, 3))
    assert shape[1:] == tuple(REF["conv_shape"])
    for k, leaf in enumerate(vfunc.tree.leaves(params)):
        np.testing.assert_allclose(leaf, REF[f"conv_init/{k}"], **TOL)
    out = vfunc.jit(apply)(params, vnp.asarray(REF["Xc"]))
    np.testing.assert_allclose(out, REF["conv_out"], rtol=1e-4, atol=1e-5)


def test_stax_combinators_dropout_and_training_reduce_the_loss():
    init, apply = stax.serial(
        stax.FanOut(2), stax.parallel(stax.Dense(3), stax.Identity), stax.FanInConcat(),
        stax.Dropout(0.9), stax.Dense(1),
    )  # fmt: skip
    shape, params = init(random.PRNGKey(2), (-1, 3))
    assert shape == (-1, 1)
    x, y = vnp.asarray(REF["X"]), vnp.asarray(REF["Y"][:, :1])
    with pytest.raises(ValueError, match="needs a PRNG key"):
        apply(params, x)

    def loss(p, key):
        return vnp.mean((apply(p, x, rng=key) - y) ** 2)

    opt_init, opt_update, get_params = O.adam(0.05)
    state, key = opt_init(params), random.PRNGKey(3)
    first = loss(params, key)

    @vfunc.jit
    def step(i, state, key):
        return opt_update(i, vfunc.grad(loss)(get_params(state), key), state)

    for i in range(30):
        key, sub = random.split(key)
        state = step(i, state, sub)
    assert float(loss(get_params(state), key)) < 0.7 * float(first)
