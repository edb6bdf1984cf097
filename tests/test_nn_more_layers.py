"""The layers and options added to vfunc.nn after the first set (Bilinear, MultiheadAttention's
kdim/vdim/add_bias_kv/add_zero_attn, LSTM proj_size, MaxPool return_indices and MaxUnpool,
bicubic Upsample, the Transformer stacks, padding layers, channel dropout) beyond the PyTorch
fixture battery of ``test_nn_layers.py``: vmap against the batched call, compositions, default
initialisation, errors naming the layer path, and orthogonal initialisers against JAX's draws.
"""

from __future__ import annotations

import glob
import json
import math
import os

import numpy as np
import pytest

import vfunc
import vfunc.numpy as vnp
from vfunc import nn
from vfunc.nn import initializers

random = pytest.importorskip("vfunc.random")
pytestmark = pytest.mark.usefixtures("x64_off")


def rand(seed, *shape):
    return vnp.asarray(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


def close(a, b, tol=1e-5):
    for x, y in zip(vfunc.tree.leaves(a), vfunc.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=tol, atol=tol)


# ---------------------------------------------------------------------------------------------
# vmap over the batch axis equals the batched call; jit and grad compose


def test_bilinear_and_attention_under_vmap():
    bil = nn.Bilinear(3, 4, 2, key=random.key(0))
    x1, x2 = rand(1, 5, 3), rand(2, 5, 4)
    close(vfunc.vmap(bil)(x1, x2), bil(x1, x2))
    mha = nn.MultiheadAttention(8, 2, kdim=5, vdim=3, add_bias_kv=True, add_zero_attn=True,
                                batch_first=True, key=random.key(3))
    q, k, v = rand(4, 2, 4, 8), rand(5, 2, 6, 5), rand(6, 2, 6, 3)
    out, w = mha(q, k, v)
    assert w.shape == (2, 4, 8)  # 6 keys + bias_k + the zero key
    close(vfunc.vmap(lambda a, b, c: mha(a, b, c))(q, k, v), (out, w))


def test_lstm_proj_under_vmap_and_jit_of_grad():
    lstm = nn.LSTM(3, 5, num_layers=2, proj_size=2, key=random.key(0))
    x = rand(1, 4, 6, 3)  # a batch of 4 unbatched sequences (L=6)
    out, (h, c) = vfunc.vmap(lstm)(x)
    assert out.shape == (4, 6, 2) and h.shape == (4, 2, 2) and c.shape == (4, 2, 5)
    ref = lstm(vnp.swapaxes(x, 0, 1))
    close((out, h, c), (vnp.swapaxes(ref[0], 0, 1), vnp.swapaxes(ref[1][0], 0, 1),
                        vnp.swapaxes(ref[1][1], 0, 1)))

    def loss(m, x):
        return vnp.sum(m(x)[0] ** 2)

    close(vfunc.jit(vfunc.grad(loss))(lstm, x[0]), vfunc.grad(loss)(lstm, x[0]), 1e-4)


def test_maxpool_indices_unpool_round_trip_under_vmap():
    pool = nn.MaxPool2d(2, return_indices=True)
    unpool = nn.MaxUnpool2d(2)
    x = rand(0, 3, 2, 4, 6)
    y, idx = pool(x)
    ym, im = vfunc.vmap(pool)(x)
    close((ym, im), (y, idx))
    back = unpool(y, idx)
    close(vfunc.vmap(unpool)(y, idx), back)
    # every pooled maximum returns to where it came from; the rest is zero
    np.testing.assert_array_equal(np.asarray(back) != 0, np.asarray(back) == np.asarray(x))
    np.testing.assert_allclose(np.asarray(pool(back)[0]), np.asarray(y))


def test_transformer_under_vmap_jit_and_grad():
    model = nn.inference_mode(nn.Transformer(8, 2, 1, 1, 16, batch_first=True,
                                             key=random.key(0)))
    src, tgt = rand(1, 3, 5, 8), rand(2, 3, 4, 8)
    mask = nn.Transformer.generate_square_subsequent_mask(4)
    ref = model(src, tgt, tgt_mask=mask)
    close(vfunc.vmap(lambda s, t: model(s, t, tgt_mask=mask))(src, tgt), ref, 1e-4)
    close(vfunc.jit(lambda m, s, t: m(s, t, tgt_mask=mask))(model, src, tgt), ref, 1e-4)

    def loss(m):
        return vnp.sum(m(src, tgt, tgt_mask=mask) ** 2)

    g = vfunc.grad(loss)(model)
    assert set(nn.state_dict(g)) == set(nn.state_dict(model))
    close(vfunc.jit(vfunc.grad(loss))(model), g, 1e-3)


def test_training_transformer_dropout_takes_one_key():
    model = nn.Transformer(8, 2, 1, 1, 16, dropout=0.5, key=random.key(0))
    src, tgt = rand(1, 5, 2, 8), rand(2, 4, 2, 8)
    a = model(src, tgt, key=random.key(1))
    b = model(src, tgt, key=random.key(2))
    assert not np.allclose(np.asarray(a), np.asarray(b))
    with pytest.raises(TypeError, match=r"model\.encoder\.layers\[0\]\.self_attn: .*PRNG key"):
        model(src, tgt)


def test_bicubic_and_padding_under_vmap():
    up = nn.Upsample(scale_factor=2, mode="bicubic", align_corners=True)
    x = rand(0, 3, 2, 1, 4, 5)
    close(vfunc.vmap(up)(x), vnp.stack([up(x[i]) for i in range(3)]))
    pad = nn.ReflectionPad2d((1, 2, 0, 1))
    close(vfunc.vmap(pad)(x[:, 0]), pad(x[:, 0]))


def test_fold_is_the_adjoint_of_unfold_and_both_vmap():
    kw = dict(kernel_size=(2, 3), dilation=(2, 1), padding=(1, 0), stride=(1, 2))
    unfold, fold = nn.Unfold(**kw), nn.Fold((6, 7), **kw)
    x = rand(0, 2, 3, 6, 7)
    cols = unfold(x)
    y = rand(1, *cols.shape)
    lhs = float(vnp.sum(cols * y))
    rhs = float(vnp.sum(x * fold(y)))
    assert abs(lhs - rhs) < 1e-4 * max(1.0, abs(lhs))
    close(vfunc.vmap(unfold)(x), cols)
    close(vfunc.vmap(fold)(y), fold(y))
    with pytest.raises(ValueError, match=r"Fold: expected a \(N, C \* 6, 18\).*6 x 3 blocks"):
        fold(vnp.ones((2, 6, 11)))


def test_interpolate_is_upsample():
    x = rand(0, 1, 2, 3, 4)
    close(nn.interpolate(x, size=(5, 7), mode="bicubic"),
          nn.Upsample(size=(5, 7), mode="bicubic")(x))
    # bicubic reproduces a linear ramp exactly away from the clamped borders, with align_corners
    ramp = vnp.asarray(np.arange(6.0, dtype=np.float32).reshape(1, 1, 1, 6))
    out = np.asarray(nn.interpolate(ramp, size=(1, 11), mode="bicubic", align_corners=True))
    np.testing.assert_allclose(out[0, 0, 0, 2:-2], np.arange(2, 9) / 2, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# Structure, state dicts and default initialisation


def test_stack_copies_are_distinct_and_keys_are_pytorchs():
    layer = nn.TransformerEncoderLayer(8, 2, 16, key=random.key(0))
    enc = nn.TransformerEncoder(layer, 3, norm=nn.LayerNorm(8))
    sd = nn.state_dict(enc)
    assert "layers.2.self_attn.in_proj_weight" in sd and "norm.weight" in sd
    for k in nn.state_dict(layer):  # each copy starts with the layer's values, as deep copies
        np.testing.assert_array_equal(np.asarray(sd[f"layers.1.{k}"]),
                                      np.asarray(nn.state_dict(layer)[k]))
    new = nn.tree_at(lambda m: m.layers[1].linear1.weight, enc, replace=vnp.zeros((16, 8)))
    new_sd = nn.state_dict(new)
    assert np.all(np.asarray(new_sd["layers.1.linear1.weight"]) == 0)
    assert np.any(np.asarray(new_sd["layers.0.linear1.weight"]) != 0)
    assert np.any(np.asarray(new_sd["layers.2.linear1.weight"]) != 0)
    dec = nn.TransformerDecoder(nn.TransformerDecoderLayer(8, 2, 16, key=random.key(1)), 2)
    assert "layers.1.multihead_attn.out_proj.weight" in nn.state_dict(dec)
    assert "layers.1.norm3.bias" in nn.state_dict(dec) and dec.norm is None


def test_module_list_and_dict_load_pytorch_keys_and_name_error_paths():
    class Net(nn.Module):
        blocks: nn.ModuleList
        heads: nn.ModuleDict

        def __init__(self):
            self.blocks = nn.ModuleList([nn.Linear(3, 3, init=False) for _ in range(2)])
            self.heads = nn.ModuleDict({"a": nn.Linear(3, 2, init=False)})

        def __call__(self, x):
            for b in self.blocks:
                x = b(x)
            return self.heads["a"](x)

    net = Net()
    assert list(nn.state_dict(net)) == ["blocks.0.weight", "blocks.0.bias", "blocks.1.weight",
                                        "blocks.1.bias", "heads.a.weight", "heads.a.bias"]
    sd = {k: np.full(np.shape(v), 0.5, np.float32) for k, v in nn.state_dict(net).items()}
    loaded = nn.load_state_dict(net, sd)
    assert float(loaded.heads["a"].bias[0]) == 0.5 and len(loaded.blocks) == 2
    g = vfunc.grad(lambda m: vnp.sum(m(vnp.ones(3))))(loaded)
    assert isinstance(g.blocks, nn.ModuleList) and g.heads["a"].weight.shape == (2, 3)
    with pytest.raises(ValueError, match=r"model\.blocks\[0\]: Linear: expected input with 3"):
        net(vnp.ones(4))
    with pytest.raises(TypeError, match=r"ModuleList: item 1 is a int"):
        nn.ModuleList([nn.ReLU(), 3])


def test_mha_separate_projections_and_bias_kv_keys_and_init():
    mha = nn.MultiheadAttention(64, 4, add_bias_kv=True, kdim=32, vdim=48, key=random.key(0))
    sd = nn.state_dict(mha)
    assert list(sd) == ["q_proj_weight", "k_proj_weight", "v_proj_weight", "in_proj_bias",
                        "bias_k", "bias_v", "out_proj.weight", "out_proj.bias"]
    for name, fan in (("q_proj_weight", 64), ("k_proj_weight", 32), ("v_proj_weight", 48)):
        w = np.asarray(sd[name])
        bound = math.sqrt(6 / (64 + fan))
        assert w.shape == (64, fan) and np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert sd["bias_k"].shape == (1, 1, 64)
    both = np.concatenate([np.asarray(sd["bias_k"]), np.asarray(sd["bias_v"])]).ravel()
    assert abs(both.std() / math.sqrt(2 / 65) - 1) < 0.3  # xavier_normal on (1, 1, E)
    np.testing.assert_array_equal(np.asarray(sd["in_proj_bias"]), 0)
    same = nn.MultiheadAttention(8, 2, kdim=8, vdim=8, key=random.key(0))
    assert same.in_proj_weight.shape == (24, 8) and same.q_proj_weight is None


def test_lstm_proj_parameters_and_init():
    lstm = nn.LSTM(10, 40, num_layers=2, proj_size=7, bidirectional=True, key=random.key(0))
    sd = nn.state_dict(lstm)
    assert sd["weight_hr_l0"].shape == (7, 40) and sd["weight_hr_l1_reverse"].shape == (7, 40)
    assert sd["weight_hh_l0"].shape == (160, 7) and sd["weight_ih_l1"].shape == (160, 14)
    w = np.asarray(sd["weight_hr_l1"])
    assert np.abs(w).max() <= 1 / math.sqrt(40)
    assert "proj_size=7" in repr(lstm)


def test_transformer_init_is_xavier_for_matrices():
    model = nn.Transformer(32, 4, 2, 2, 64, key=random.key(0))
    sd = nn.state_dict(model)
    w0, w1 = (np.asarray(sd[f"encoder.layers.{i}.linear1.weight"]) for i in (0, 1))
    bound = math.sqrt(6 / (32 + 64))
    assert np.abs(w0).max() <= bound and np.abs(w0).max() > 0.9 * bound
    assert not np.allclose(w0, w1)  # redrawn independently per layer
    # biases keep the layer's init and so are equal across the copies, as PyTorch's
    np.testing.assert_array_equal(np.asarray(sd["encoder.layers.0.linear1.bias"]),
                                  np.asarray(sd["encoder.layers.1.linear1.bias"]))
    assert "decoder.norm.weight" in sd and "encoder.norm.bias" in sd
    mask = np.asarray(nn.Transformer.generate_square_subsequent_mask(3))
    np.testing.assert_array_equal(mask, [[0, -np.inf, -np.inf], [0, 0, -np.inf], [0, 0, 0]])
    assert mask.dtype == np.float32


def test_channel_dropout_masks_whole_channels():
    for layer, shape in ((nn.Dropout1d(0.5), (20, 30, 7)), (nn.Dropout3d(0.5), (10, 20, 2, 3, 4))):
        y = np.asarray(layer(vnp.ones(shape), key=random.key(0)))
        per_channel = y.reshape(shape[0], shape[1], -1)
        assert np.all((per_channel == 0).all(-1) | (per_channel == 2).all(-1))
        assert 0.3 < (per_channel[..., 0] == 0).mean() < 0.7
        np.testing.assert_array_equal(np.asarray(nn.inference_mode(layer)(vnp.ones(shape))), 1)


def test_alpha_dropout_keeps_zero_mean_unit_variance():
    x = rand(0, 400, 250)
    y = np.asarray(nn.AlphaDropout(0.3)(x, key=random.key(1)), dtype=np.float64)
    assert abs(y.mean()) < 0.02 and abs(y.std() - 1) < 0.02
    alpha, p = 1.7580993408473766, 0.3
    a = ((alpha**2 * p + 1) * (1 - p)) ** -0.5
    dropped = np.isclose(y, -alpha * a + alpha * a * p, rtol=0, atol=1e-6)
    assert abs(dropped.mean() - 0.3) < 0.01
    z = np.asarray(nn.FeatureAlphaDropout(0.5)(vnp.ones((30, 40, 3)), key=random.key(2)))
    assert np.all(z.std(axis=-1) < 1e-6)  # one decision per channel
    assert np.all(np.asarray(nn.AlphaDropout(1.0)(x, key=random.key(0))) == 0)
    with pytest.raises(TypeError, match=r"AlphaDropout: in training mode with p=0\.3 a PRNG"):
        nn.AlphaDropout(0.3)(x)


def test_rrelu_training_slopes_are_uniform_per_element():
    x = -vnp.ones((200, 100))
    y = -np.asarray(nn.RReLU(0.1, 0.3)(x, key=random.key(0)), dtype=np.float64)
    assert y.min() >= 0.1 and y.max() <= 0.3 and abs(y.mean() - 0.2) < 0.002
    np.testing.assert_array_equal(np.asarray(nn.RReLU()(vnp.ones(3), key=random.key(0))), 1)
    with pytest.raises(TypeError, match=r"RReLU: in training mode a PRNG key"):
        nn.RReLU()(x)


# ---------------------------------------------------------------------------------------------
# Errors: the layer path, the shape seen and the shape expected


class Net(nn.Module):
    blocks: list

    def __init__(self, layer):
        self.blocks = [nn.Identity(), layer]

    def __call__(self, *args):
        return self.blocks[1](*args)


def test_errors_name_the_layer_and_shapes():
    with pytest.raises(ValueError, match=r"model\.blocks\[1\]: Bilinear: expected input with 4 "
                                         r"features \(input2\).*\(2, 3\)"):
        Net(nn.Bilinear(3, 4, 2, init=False))(vnp.ones((2, 3)), vnp.ones((2, 3)))
    with pytest.raises(ValueError, match=r"Bilinear: input1 \(2, 3\) and input2 \(5, 4\)"):
        nn.Bilinear(3, 4, 2, init=False)(vnp.ones((2, 3)), vnp.ones((5, 4)))
    with pytest.raises(ValueError, match=r"MultiheadAttention: expected key of shape "
                                         r"\(L, N, 5\).*got \(6, 2, 8\)"):
        nn.MultiheadAttention(8, 2, kdim=5, init=False)(vnp.ones((4, 2, 8)),
                                                         vnp.ones((6, 2, 8)), vnp.ones((6, 2, 8)))
    with pytest.raises(ValueError, match=r"LSTM: proj_size must be an int in \[0, "
                                         r"hidden_size=4\), got 4"):
        nn.LSTM(3, 4, proj_size=4, init=False)
    with pytest.raises(ValueError, match=r"GRU: proj_size is only supported by LSTM"):
        nn.GRU(3, 4, proj_size=2, init=False)
    with pytest.raises(ValueError, match=r"LSTM: expected a hidden state of shape \(1, 2, 2\)"):
        nn.LSTM(3, 4, proj_size=2, init=False)(vnp.ones((5, 2, 3)),
                                               (vnp.zeros((1, 2, 4)), vnp.zeros((1, 2, 4))))
    with pytest.raises(ValueError, match=r"MaxUnpool2d: indices must be integers of the "
                                         r"input's shape \(1, 2, 2, 2\)"):
        nn.MaxUnpool2d(2)(vnp.ones((1, 2, 2, 2)), vnp.zeros((1, 2, 2, 3), dtype=int))
    with pytest.raises(ValueError, match=r"MaxUnpool1d: output_size \(9,\) must lie between "
                                         r"\(6,\) and \(7,\)"):
        nn.MaxUnpool1d(2)(vnp.ones((1, 3)), vnp.zeros((1, 3), dtype=int), output_size=(9,))
    with pytest.raises(ValueError, match=r"ReflectionPad1d: padding \(3, 3\) is too large for "
                                         r"input \(1, 3\)"):
        nn.ReflectionPad1d(3)(vnp.ones((1, 3)))
    with pytest.raises(TypeError, match=r"ZeroPad2d: padding must be an int or a tuple of 4"):
        nn.ZeroPad2d((1, 2))
    with pytest.raises(TypeError, match=r"ZeroPad1d: padding .* got 1\.5"):
        nn.ZeroPad1d(1.5)
    with pytest.raises(ValueError, match=r"Upsample: mode 'bicubic' expects a 4-D"):
        nn.Upsample(scale_factor=2, mode="bicubic")(vnp.ones((1, 2, 3)))
    with pytest.raises(ValueError, match=r"Dropout3d: expected a \(N, C, D, H, W\)"):
        nn.Dropout3d(0.5)(vnp.ones((2, 3)), key=random.key(0))
    model = nn.inference_mode(nn.Transformer(8, 2, 1, 1, 16, init=False))
    with pytest.raises(ValueError, match=r"Transformer: src \(5, 2, 8\) and tgt \(4, 3, 8\)"):
        model(vnp.ones((5, 2, 8)), vnp.ones((4, 3, 8)))
    with pytest.raises(ValueError, match=r"d_model=8 features"):
        model(vnp.ones((5, 2, 6)), vnp.ones((4, 2, 6)))
    with pytest.raises(TypeError, match=r"TransformerEncoder: expected a "
                                        r"TransformerEncoderLayer, got Linear"):
        nn.TransformerEncoder(nn.Linear(2, 2, init=False), 2)
    with pytest.raises(ValueError, match=r"num_layers must be a positive int, got 0"):
        nn.TransformerDecoder(nn.TransformerDecoderLayer(8, 2, 16, init=False), 0)


def test_state_dict_with_a_transposed_projection_is_refused():
    mha = nn.MultiheadAttention(8, 2, kdim=4, init=False)
    sd = {k: np.asarray(v) for k, v in nn.state_dict(mha).items()}
    sd["k_proj_weight"] = sd["k_proj_weight"].T
    with pytest.raises(nn.StateDictError, match=r"k_proj_weight.*shape \(4, 8\).*expects "
                                                r"\(8, 4\).*transposed"):
        nn.load_state_dict(mha, sd)


# ---------------------------------------------------------------------------------------------
# orthogonal / delta_orthogonal: JAX's draws for the same key (vfunc.random is JAX's bits)

INIT_FIXTURES = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "fixtures", "nn",
                                              "init_*.npz")))


@pytest.mark.parametrize("path", INIT_FIXTURES, ids=lambda p: os.path.basename(p)[:-4])
def test_orthogonal_initialisers_match_jax(path):
    with np.load(path) as data:
        meta, want = json.loads(str(data["meta"])), data["value"]
    previous = vfunc.config.enable_x64
    vfunc.config.update("enable_x64", meta["dtype"] == "float64")
    try:
        init = getattr(initializers, meta["name"])(**meta["kwargs"])
        key = random.key(meta["seed"])
        dtype = np.dtype(meta["dtype"])
        got = init(key, tuple(meta["shape"]), dtype)
        jitted = vfunc.jit(lambda k: init(k, tuple(meta["shape"]), dtype))(key)
    finally:
        vfunc.config.update("enable_x64", previous)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    assert got.dtype == want.dtype
    np.testing.assert_allclose(np.asarray(got), want, rtol=tol, atol=tol)
    np.testing.assert_allclose(np.asarray(jitted), want, rtol=tol, atol=tol)
