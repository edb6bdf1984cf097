"""vfunc.nn.Module and the whole-model tools: pytree registration, immutability, tree_at,
inference_mode, repr, count_params, state dicts (strict errors, int64 counts), errors naming
the layer path, the BatchNorm state design under jit, and compositions (grad, jit, vmap, scan).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import vfunc
import vfunc.numpy as vnp
from vfunc import nn

pytestmark = pytest.mark.usefixtures("x64_off")


class Net(nn.Module):
    features: nn.Sequential
    fc: nn.Linear

    def __init__(self, in_ch: int = 1):
        self.features = nn.Sequential(
            nn.Conv2d(in_ch, 4, 3, init=False), nn.ReLU(), nn.BatchNorm2d(4),
            nn.Conv2d(4, 8, 3, init=False))
        self.fc = nn.Linear(8, 2, init=False)

    def __call__(self, x):
        return self.fc(vnp.mean(self.features(x), axis=(2, 3)))


def filled(model, seed=0):
    """``model`` with every float array replaced by small random values."""
    rng = np.random.default_rng(seed)
    sd = nn.state_dict(model)
    new = {k: (rng.standard_normal(np.shape(v)) * 0.3).astype(np.float32)
           for k, v in sd.items() if "running" not in k and "num_batches" not in k}
    return nn.load_state_dict(model, new, strict=False)


def test_every_leaf_is_an_array_and_configuration_is_static():
    m = Net()
    leaves = vfunc.tree.leaves(m)
    assert len(leaves) == 11 and all(isinstance(x, vfunc.Array) for x in leaves)
    other = Net(in_ch=2)
    assert vfunc.tree.structure(m) != vfunc.tree.structure(other)  # in_channels is static
    rebuilt = vfunc.tree.unflatten(vfunc.tree.structure(m), leaves)
    assert type(rebuilt) is Net and rebuilt.features[0].kernel_size == (3, 3)
    assert dataclasses.is_dataclass(m)


def test_modules_are_frozen():
    m = nn.Linear(2, 3, init=False)
    with pytest.raises(dataclasses.FrozenInstanceError, match=r"tree_at"):
        m.weight = vnp.zeros((3, 2))
    with pytest.raises(TypeError, match=r"did not set the field\(s\) \['b'\]"):
        class Half(nn.Module):
            a: int
            b: int

            def __init__(self):
                self.a = 1

        Half()


def test_grad_jit_vmap_take_a_model_directly():
    m = filled(nn.Linear(3, 2, init=False))
    x = vnp.asarray(np.arange(3.0, dtype=np.float32))
    g = vfunc.grad(lambda m: vnp.sum(m(x)))(m)
    assert isinstance(g, nn.Linear)
    np.testing.assert_allclose(np.asarray(g.weight), np.tile(np.arange(3.0), (2, 1)))
    np.testing.assert_allclose(np.asarray(g.bias), [1.0, 1.0])
    out = vfunc.jit(lambda m, x: m(x))(m, x)
    np.testing.assert_allclose(np.asarray(out), np.asarray(m(x)), rtol=1e-6)
    xs = vnp.asarray(np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32))
    np.testing.assert_allclose(np.asarray(vfunc.vmap(m)(xs)), np.asarray(m(xs)), rtol=1e-5)


def test_vmap_over_unbatched_conv_equals_batched_call():
    conv = filled(nn.Conv2d(2, 3, 3, padding=1, init=False))
    xs = vnp.asarray(np.random.default_rng(2).standard_normal((4, 2, 5, 5)).astype(np.float32))
    np.testing.assert_allclose(np.asarray(vfunc.vmap(conv)(xs)), np.asarray(conv(xs)),
                               rtol=1e-5, atol=1e-6)


def test_grad_of_a_whole_model_with_batchnorm_and_its_float_count():
    m = filled(Net())
    x = vnp.asarray(np.random.default_rng(3).standard_normal((2, 1, 8, 8)).astype(np.float32))
    g = vfunc.jit(vfunc.grad(lambda m: vnp.sum(m(x))))(m)
    bn = g.features[2]
    assert float(bn.num_batches_tracked) == 0.0
    np.testing.assert_array_equal(np.asarray(bn.running_mean), 0.0)
    assert np.any(np.asarray(g.features[0].weight) != 0)


def test_batchnorm_training_step_under_jit_one_call_per_step():
    m = filled(Net())
    x = vnp.asarray(np.random.default_rng(4).standard_normal((4, 1, 8, 8)).astype(np.float32))

    def loss(m, x):
        out, state = nn.call_with_state(m, x)
        return vnp.mean(out ** 2), state

    @vfunc.jit
    def step(m, x):
        (value, state), grads = vfunc.value_and_grad(loss, has_aux=True)(m, x)
        # a decaying optimizer touches every leaf; the buffers are written back afterwards
        m = vfunc.tree.map(lambda p, g: 0.9 * p - 0.01 * g, m, grads)
        return nn.load_state_dict(m, state, strict=False), value

    m1, _ = step(m, x)
    m2, _ = step(m1, x)
    bn0, bn2 = m.features[2], m2.features[2]
    # Reference: the same two updates by hand, from the conv output of each step's model.
    conv_out = np.asarray(nn.Sequential(m.features[0], m.features[1])(x))
    mean1 = 0.9 * np.asarray(bn0.running_mean) + 0.1 * conv_out.mean(axis=(0, 2, 3))
    conv_out = np.asarray(nn.Sequential(m1.features[0], m1.features[1])(x))
    mean2 = 0.9 * mean1 + 0.1 * conv_out.mean(axis=(0, 2, 3))
    np.testing.assert_allclose(np.asarray(bn2.running_mean), mean2, rtol=1e-4, atol=1e-6)
    assert nn.state_dict(m2)["features.2.num_batches_tracked"] == 2


def test_state_outside_call_with_state_is_dropped_and_inference_uses_running_stats():
    bn = nn.BatchNorm1d(2)
    x = vnp.array([[1.0, 2.0], [3.0, 6.0]])
    out, state = nn.call_with_state(nn.inference_mode(bn), x)
    assert state == {}
    np.testing.assert_allclose(np.asarray(out), np.asarray(x) / np.sqrt(1 + 1e-5), rtol=1e-6)
    _, state = nn.call_with_state(bn, x)
    assert sorted(state) == ["num_batches_tracked", "running_mean", "running_var"]


def test_tree_at_replaces_out_of_place():
    m = Net()
    swapped = nn.tree_at(lambda m: m.features[1], m, replace=nn.Tanh())
    assert isinstance(swapped.features[1], nn.Tanh) and isinstance(m.features[1], nn.ReLU)
    bumped = nn.tree_at(lambda m: m.fc.weight, m, replace_fn=lambda w: w + 1)
    np.testing.assert_array_equal(np.asarray(bumped.fc.weight), 1.0)
    np.testing.assert_array_equal(np.asarray(m.fc.weight), 0.0)
    both = nn.tree_at(lambda m: (m.fc.weight, m.fc.bias), m,
                      replace=(vnp.ones((2, 8)), vnp.ones(2)))
    assert float(vnp.sum(both.fc.bias)) == 2.0
    frozen = nn.tree_at(lambda m: m.features[2].training, m, replace=False)
    assert frozen.features[2].training is False and m.features[2].training is True
    with pytest.raises(ValueError, match="exactly one of replace"):
        nn.tree_at(lambda m: m.fc, m)
    with pytest.raises(ValueError, match="was not found"):
        nn.tree_at(lambda m: m.fc.weight + 1, m, replace=vnp.ones((2, 8)))


def test_inference_mode_switches_every_layer():
    m = nn.Sequential(nn.Dropout(0.3), nn.BatchNorm1d(2), nn.Sequential(nn.Dropout()))
    off = nn.inference_mode(m)
    assert [off[0].training, off[1].training, off[2][0].training] == [False] * 3
    back = nn.inference_mode(off, False)
    assert back[2][0].training is True
    x = vnp.ones((3, 2))
    np.testing.assert_allclose(np.asarray(nn.Sequential(off[0])(x)), 1.0)


def test_repr_is_a_tree_of_layers():
    text = repr(Net())
    assert text.splitlines()[:3] == [
        "Net(", "  (features): Sequential(",
        "    (0): Conv2d(1, 4, kernel_size=(3, 3), stride=(1, 1))"]
    assert "(fc): Linear(in_features=8, out_features=2, bias=True)" in text
    assert repr(nn.LayerNorm(3)) == "LayerNorm((3,), eps=1e-05, elementwise_affine=True)"

    class MLP(nn.Module):
        layers: list
        act: object = nn.relu

    assert repr(MLP([nn.Linear(2, 3, init=False)])).splitlines() == [
        "MLP(", "  act=relu", "  (layers.0): Linear(in_features=2, out_features=3, bias=True)",
        ")"]


def test_count_params_matches_pytorch():
    # PyTorch: Conv2d(1,4,3)=40, BatchNorm2d(4)=8, Conv2d(4,8,3)=296, Linear(8,2)=18
    assert nn.count_params(Net()) == 40 + 8 + 296 + 18
    assert nn.count_params(Net(), include_buffers=True) == 362 + 9
    assert nn.count_params(nn.LSTM(4, 6, num_layers=2, init=False)) == (
        4 * 6 * (4 + 6 + 2) + 4 * 6 * (6 + 6 + 2))


def test_state_dict_keys_and_int64_count_round_trip():
    m = Net()
    sd = nn.state_dict(m)
    assert sd["features.2.num_batches_tracked"].dtype == np.int64
    sd = {k: np.asarray(v) for k, v in sd.items()}
    sd["features.2.num_batches_tracked"] = np.array(123456, dtype=np.int64)
    loaded = nn.load_state_dict(m, sd)
    assert nn.state_dict(loaded)["features.2.num_batches_tracked"] == 123456
    sd["features.2.num_batches_tracked"] = np.array(2**24 + 1, dtype=np.int64)
    with pytest.raises(nn.StateDictError, match="not exact in float32; enable x64"):
        nn.load_state_dict(m, sd)


def test_state_dict_int64_count_exact_with_x64(x64):
    bn = nn.BatchNorm1d(2)
    sd = {k: np.asarray(v) for k, v in nn.state_dict(bn).items()}
    sd["num_batches_tracked"] = np.array(2**40 + 3, dtype=np.int64)
    assert nn.state_dict(nn.load_state_dict(bn, sd))["num_batches_tracked"] == 2**40 + 3


def test_strict_load_lists_every_problem_and_loads_nothing():
    m = Net()
    sd = {k: np.asarray(v) for k, v in nn.state_dict(m).items()}
    del sd["features.0.bias"]
    sd["extra.weight"] = np.zeros(3, np.float32)
    sd["fc.weight"] = np.zeros((8, 2), np.float32)  # transposed
    sd["features.3.bias"] = np.zeros(8, np.int32)
    with pytest.raises(nn.StateDictError) as info:
        nn.load_state_dict(m, sd)
    msg = str(info.value)
    assert "missing keys: ['features.0.bias']" in msg
    assert "unexpected keys: ['extra.weight']" in msg
    assert ("fc.weight (model.fc.weight, Linear): shape (8, 2) in the state dict, the model "
            "expects (2, 8) (it looks transposed") in msg
    assert "features.3.bias (model.features[3].bias, Conv2d): dtype int32" in msg
    # non-strict tolerates missing/unexpected keys but never a shape mismatch
    with pytest.raises(nn.StateDictError, match="fc.weight"):
        nn.load_state_dict(m, sd, strict=False)


def test_errors_name_the_layer_path_and_shapes():
    m = Net(in_ch=1)
    bad = nn.tree_at(lambda m: m.features[3], m, replace=nn.Conv2d(3, 8, 3, init=False))
    with pytest.raises(ValueError, match=(
            r"model.features\[3\]: Conv2d: expected input with 3 channels \(axis 1\), got input "
            r"of shape \(2, 4, 6, 6\) \(weight \(8, 3, 3, 3\)\)")):
        bad(vnp.ones((2, 1, 8, 8)))
    with pytest.raises(ValueError, match=r"model.features\[0\]: Conv2d: expected a 4-D \(batched\) "
                                         r"or 3-D \(unbatched\) input, got shape \(8, 8\)"):
        m(vnp.ones((8, 8)))
    with pytest.raises(ValueError, match=r"^model: Linear: expected input with 8 features"):
        m.fc(vnp.ones((2, 7)))  # a direct call names the layer itself ("model")


def test_constructor_errors():
    with pytest.raises(TypeError, match=r"Conv2d: padding must be an int or a tuple of 2 ints, "
                                        r"got 1.5 \(a float; use an int\)"):
        nn.Conv2d(1, 2, 3, padding=1.5, init=False)
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2, init=False)
    with pytest.raises(TypeError, match=r"Linear: pass key=vfunc.random.key"):
        nn.Linear(2, 3)


def test_dropout_without_key_in_training_names_the_fix():
    model = nn.Sequential(nn.Linear(2, 2, init=False), nn.Dropout(0.5))
    with pytest.raises(TypeError, match=r"model\[1\]: Dropout: in training mode with p=0.5 a "
                                        r"PRNG key is needed.*nn.inference_mode"):
        model(vnp.ones(2))
    np.testing.assert_allclose(np.asarray(nn.inference_mode(model)(vnp.ones(2))), 0.0)
    assert nn.Dropout(0.0)(vnp.ones(2)).shape == (2,)


def test_layers_inside_scan_and_grad_of_jit():
    cell = filled(nn.LSTMCell(3, 4, init=False))
    xs = vnp.asarray(np.random.default_rng(5).standard_normal((6, 2, 3)).astype(np.float32))

    def run(cell, xs):
        def body(carry, x):
            h, c = cell(x, carry)
            return (h, c), h
        init = (vnp.zeros((2, 4)), vnp.zeros((2, 4)))
        _, hs = vfunc.lax.scan(body, init, xs)
        return vnp.sum(hs)

    def unrolled(cell, xs):
        carry, total = None, 0.0
        for t in range(xs.shape[0]):
            carry = cell(xs[t], carry)
            total = total + vnp.sum(carry[0])
        return total

    g1 = vfunc.grad(vfunc.jit(run))(cell, xs)
    g2 = vfunc.grad(unrolled)(cell, xs)
    for a, b in zip(vfunc.tree.leaves(g1), vfunc.tree.leaves(g2), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)


def test_layer_gradients_match_finite_differences(x64):
    from vfunc.testing import check_grads

    layer = filled(nn.Conv2d(2, 3, 3, stride=2, padding=1, dtype=np.float64, init=False))
    layer = vfunc.tree.map(lambda a: a.astype(np.float64), layer)
    x = vnp.asarray(np.random.default_rng(6).standard_normal((1, 2, 5, 5)))
    check_grads(lambda w, x: nn.tree_at(lambda m: m.weight, layer, replace=w)(x),
                (layer.weight, x), order=1, modes=("rev",))


def test_default_dtype_follows_x64_and_dtype_argument(x64):
    assert nn.LayerNorm(3).weight.dtype == np.float64
    assert nn.Linear(2, 3, init=False).weight.dtype == np.float64
    assert nn.Linear(2, 3, init=False, dtype=np.float32).weight.dtype == np.float32
    assert nn.BatchNorm1d(2).num_batches_tracked.dtype == np.float64


def test_sequential_indexing_and_functions():
    seq = nn.Sequential(nn.ReLU(), vnp.tanh, nn.Identity())
    assert len(seq) == 3 and isinstance(seq[1], nn.Lambda)
    assert isinstance(seq[1:], nn.Sequential) and len(seq[1:]) == 2
    assert vfunc.tree.leaves(seq) == []
    np.testing.assert_allclose(np.asarray(seq(vnp.array([-1.0, 1.0]))), [0.0, np.tanh(1.0)],
                               rtol=1e-6)
    with pytest.raises(TypeError, match="layer 0 is a int, not callable"):
        nn.Sequential(3)
