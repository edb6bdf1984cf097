"""Default initialisation of vfunc.nn layers against PyTorch's documented defaults, checked
statistically (bounds exactly; mean and variance within a few standard errors), the
``vfunc.nn.initializers`` functions, and Dropout's statistics. Needs ``vfunc.random``; the
whole module is skipped on a build without it."""

from __future__ import annotations

import math

import numpy as np
import pytest

import vfunc
import vfunc.numpy as vnp
from vfunc import nn

random = pytest.importorskip("vfunc.random")
pytestmark = pytest.mark.usefixtures("x64_off")


def check_uniform(a, bound, name=""):
    a = np.asarray(a, dtype=np.float64).ravel()
    assert np.all(np.abs(a) <= bound * (1 + 1e-6)), name
    n = a.size
    # U(-b, b): mean 0, variance b^2/3 (standard error of the variance ~ b^2 * 0.3/sqrt(n))
    assert abs(a.mean()) < 5 * bound / math.sqrt(3 * n), name
    assert abs(a.var() / (bound**2 / 3) - 1) < 6 * 0.9 / math.sqrt(n), name
    assert np.abs(a).max() > 0.9 * bound, name  # fills the interval, not a narrower one


def check_normal(a, std, name=""):
    a = np.asarray(a, dtype=np.float64).ravel()
    n = a.size
    assert abs(a.mean()) < 5 * std / math.sqrt(n), name
    assert abs(a.std() / std - 1) < 5 / math.sqrt(2 * n), name


def test_linear_default_init_is_pytorchs():
    m = nn.Linear(200, 100, key=random.key(0))
    assert m.weight.shape == (100, 200) and m.weight.dtype == np.float32
    check_uniform(m.weight, 1 / math.sqrt(200), "weight")
    check_uniform(m.bias, 1 / math.sqrt(200), "bias")


def test_conv_default_init_uses_fan_in_of_the_group():
    m = nn.Conv2d(16, 64, 3, groups=2, key=random.key(1))
    check_uniform(m.weight, 1 / math.sqrt(8 * 9), "weight")
    check_uniform(m.bias, 1 / math.sqrt(8 * 9), "bias")
    t = nn.ConvTranspose2d(32, 16, 3, key=random.key(2))
    assert t.weight.shape == (32, 16, 3, 3)
    check_uniform(t.weight, 1 / math.sqrt(16 * 9), "transposed")


def test_recurrent_and_embedding_and_attention_init():
    lstm = nn.LSTM(30, 40, num_layers=2, key=random.key(3))
    for name in ("weight_ih_l0", "weight_hh_l1", "bias_ih_l1"):
        check_uniform(getattr(lstm, name), 1 / math.sqrt(40), name)
    emb = nn.Embedding(500, 20, padding_idx=3, key=random.key(4))
    np.testing.assert_array_equal(np.asarray(emb.weight[3]), 0.0)
    check_normal(np.delete(np.asarray(emb.weight), 3, axis=0), 1.0)
    mha = nn.MultiheadAttention(64, 4, key=random.key(5))
    check_uniform(mha.in_proj_weight, math.sqrt(6 / (64 + 192)), "in_proj_weight")
    np.testing.assert_array_equal(np.asarray(mha.in_proj_bias), 0.0)
    np.testing.assert_array_equal(np.asarray(mha.out_proj.bias), 0.0)
    check_uniform(mha.out_proj.weight, 1 / math.sqrt(64), "out_proj.weight")


def test_keys_decide_the_values():
    a = nn.Linear(4, 4, key=random.key(0))
    b = nn.Linear(4, 4, key=random.key(0))
    c = nn.Linear(4, 4, key=random.key(1))
    np.testing.assert_array_equal(np.asarray(a.weight), np.asarray(b.weight))
    assert not np.array_equal(np.asarray(a.weight), np.asarray(c.weight))
    assert not np.array_equal(np.asarray(a.weight).ravel()[:4], np.asarray(a.bias))


def test_initializers_match_their_definitions():
    init = nn.initializers
    k = random.key(7)
    check_uniform(init.glorot_uniform()(k, (300, 200)), math.sqrt(6 / 500))
    check_uniform(init.lecun_uniform()(k, (300, 200)), math.sqrt(3 / 300))
    check_normal(init.normal(0.5)(k, (20000,)), 0.5)
    he = np.asarray(init.he_normal()(k, (400, 100)))
    assert np.abs(he).max() <= 2 * math.sqrt(2 / 400) / 0.8796 + 1e-6  # truncated at 2 sigma
    check_normal(he, math.sqrt(2 / 400))
    u = np.asarray(init.uniform(0.3)(k, (10000,)))
    assert u.min() >= 0 and u.max() < 0.3
    q = np.asarray(init.orthogonal()(k, (6, 4)), dtype=np.float64)
    np.testing.assert_allclose(q.T @ q, np.eye(4), atol=1e-5)
    d = np.asarray(init.delta_orthogonal()(k, (3, 3, 4, 4)), dtype=np.float64)
    np.testing.assert_allclose(d[1, 1].T @ d[1, 1], np.eye(4), atol=1e-5)
    assert np.count_nonzero(d[0]) == 0
    np.testing.assert_array_equal(np.asarray(init.constant(2.5)(k, (2,))), 2.5)
    assert init.zeros(k, (2, 3), np.float64).dtype == np.float64 or not vfunc.config.enable_x64


def test_dropout_statistics():
    x = vnp.ones((200, 100))
    y = np.asarray(nn.Dropout(0.3)(x, key=random.key(0)))
    kept = y != 0
    assert abs(kept.mean() - 0.7) < 5 * math.sqrt(0.21 / y.size)
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)
    z = np.asarray(nn.Dropout2d(0.5)(vnp.ones((50, 40, 3, 3)), key=random.key(1)))
    per_channel = z.reshape(50, 40, 9)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2).all(-1))


def test_train_step_with_batchnorm_and_dropout_under_jit():
    model = nn.Sequential(nn.Linear(4, 8, key=random.key(0)), nn.BatchNorm1d(8), nn.ReLU(),
                          nn.Dropout(0.5), nn.Linear(8, 1, key=random.key(1)))
    x = vnp.asarray(np.random.default_rng(0).standard_normal((16, 4)).astype(np.float32))

    def loss(m, x, key):
        out, state = nn.call_with_state(m, x, key=key)
        return vnp.mean(out ** 2), state

    @vfunc.jit
    def step(m, x, key):
        (value, state), grads = vfunc.value_and_grad(loss, has_aux=True)(m, x, key)
        m = vfunc.tree.map(lambda p, g: p - 0.05 * g, m, grads)
        return nn.load_state_dict(m, state, strict=False), value

    key = random.key(2)
    values = []
    for _ in range(5):
        key, sub = random.split(key)
        model, value = step(model, x, sub)
        values.append(float(value))
    assert nn.state_dict(model)["1.num_batches_tracked"] == 5
    assert values[-1] < values[0]
