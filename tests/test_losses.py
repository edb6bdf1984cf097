"""vfunc.losses against optax (and PyTorch for its own losses): values and gradients from
fixtures recorded once by ``scripts/record_fixtures/record_losses.py``; stability at extreme
logits; per-example shapes; compositions with jit and vmap."""

from __future__ import annotations

import glob
import json
import os

import numpy as np
import pytest

import vfunc
import vfunc.numpy as vnp
from vfunc import losses

FIXTURES = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "fixtures", "nn",
                                         "loss_*.npz")))


def _load(path):
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    return json.loads(str(arrays.pop("meta"))), arrays


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: os.path.basename(p)[5:-4])
def test_loss_matches_reference(path, x64):
    meta, arrays = _load(path)
    fn = getattr(losses, meta["name"])
    args = []
    i = 0
    while f"arg.{i}" in arrays:
        args.append(vnp.asarray(arrays[f"arg.{i}"]))
        i += 1
    kwargs = meta["kwargs"]
    value = fn(*args, **kwargs)
    n_aux = sum(k.startswith("aux.") for k in arrays)
    if n_aux:  # a tuple: the loss first, then further outputs (ctc's forward variables)
        assert len(value) == n_aux + 1
        for i, extra in enumerate(value[1:]):
            np.testing.assert_allclose(np.asarray(extra), arrays[f"aux.{i}"], rtol=1e-6,
                                       atol=1e-6, err_msg=f"aux.{i}")

    def loss(*a):
        out = fn(*a, **kwargs)
        return out[0] if n_aux else out

    np.testing.assert_allclose(np.asarray(loss(*args)), arrays["value"], rtol=1e-6, atol=1e-6)
    ct = vnp.asarray(arrays["ct"].astype(np.float64))
    grad = vfunc.grad(lambda x: vnp.sum(loss(x, *args[1:]) * ct))(args[0])
    np.testing.assert_allclose(np.asarray(grad), arrays["grad"], rtol=1e-6, atol=1e-6)


LOGIT_LOSSES = [
    ("softmax_cross_entropy", lambda x: losses.softmax_cross_entropy(x, vnp.eye(3)[[1, 0]])),
    ("softmax_cross_entropy_with_integer_labels",
     lambda x: losses.softmax_cross_entropy_with_integer_labels(x, vnp.array([1, 0]))),
    ("sigmoid_binary_cross_entropy",
     lambda x: losses.sigmoid_binary_cross_entropy(x, vnp.ones((2, 3)) * 0.5)),
    ("sigmoid_focal_loss", lambda x: losses.sigmoid_focal_loss(x, vnp.ones((2, 3)), alpha=0.3)),
    ("poly_loss_cross_entropy", lambda x: losses.poly_loss_cross_entropy(x, vnp.eye(3)[[1, 0]])),
    ("log_cosh", losses.log_cosh),
    ("huber_loss", losses.huber_loss),
    ("smooth_l1_loss", lambda x: losses.smooth_l1_loss(x, 0.0)),
    ("nll_loss", lambda x: losses.nll_loss(vfunc.nn.log_softmax(x), vnp.array([2, 1]))),
    ("multiclass_hinge_loss", lambda x: losses.multiclass_hinge_loss(x, vnp.array([2, 1]))),
    ("kl_divergence_with_log_targets",
     lambda x: losses.kl_divergence_with_log_targets(vfunc.nn.log_softmax(x),
                                                     vfunc.nn.log_softmax(-x))),
    ("ctc_loss", lambda x: losses.ctc_loss(vnp.stack([x, x], axis=1), vnp.zeros((2, 2)),
                                           vnp.array([[1], [2]]), vnp.zeros((2, 1)))),
    ("sparsemax_loss", lambda x: losses.sparsemax_loss(x, vnp.array([[1, 0, 1], [0, 0, 1]]))),
    ("multiclass_sparsemax_loss",
     lambda x: losses.multiclass_sparsemax_loss(x, vnp.array([2, 1]))),
    ("ranking_softmax_loss", lambda x: losses.ranking_softmax_loss(
        x, vnp.array([[1.0, 0.0, 2.0], [0.0, 3.0, 1.0]]), reduce_fn=None)),
    ("dice_loss", lambda x: losses.dice_loss(x[:, None, :], vnp.eye(3)[[1, 0]][:, None, :])),
    ("ntxent", lambda x: losses.ntxent(x, vnp.array([0, 0]))),
]


@pytest.mark.parametrize("name,fn", LOGIT_LOSSES, ids=[n for n, _ in LOGIT_LOSSES])
@pytest.mark.parametrize("scale", [100.0, 1e4])
def test_extreme_logits_give_finite_values_and_gradients(name, fn, scale, x64_off):
    x = vnp.array([[1.0, -1.0, 0.5], [-1.0, 1.0, 0.0]], dtype=np.float32) * scale
    value = fn(x)
    grad = vfunc.grad(lambda x: vnp.sum(fn(x)))(x)
    assert np.all(np.isfinite(np.asarray(value))), (name, value)
    assert np.all(np.isfinite(np.asarray(grad))), (name, grad)


def test_extreme_values_are_right_not_just_finite(x64_off):
    x = vnp.array([[100.0, -100.0]])
    np.testing.assert_allclose(
        np.asarray(losses.softmax_cross_entropy_with_integer_labels(x, vnp.array([1]))), [200.0])
    np.testing.assert_allclose(
        np.asarray(losses.sigmoid_binary_cross_entropy(vnp.array([-100.0]), vnp.array([1.0]))),
        [100.0])
    g = vfunc.grad(lambda x: losses.sigmoid_binary_cross_entropy(x, 1.0))(vnp.array(-100.0))
    np.testing.assert_allclose(float(g), -1.0)
    # binary_cross_entropy clamps its logs at -100, as PyTorch's
    np.testing.assert_allclose(
        np.asarray(losses.binary_cross_entropy(vnp.array([0.0, 1.0]), vnp.array([1.0, 0.0]))),
        [100.0, 100.0])
    g = vfunc.grad(lambda p: vnp.sum(losses.binary_cross_entropy(p, vnp.array([1.0, 0.0]))))(
        vnp.array([0.0, 1.0]))
    assert np.all(np.isfinite(np.asarray(g)))


def test_losses_are_per_example_and_compose_with_jit_and_vmap(x64_off):
    rng = np.random.default_rng(0)
    logits = vnp.asarray(rng.standard_normal((6, 4)).astype(np.float32))
    labels = vnp.array([0, 1, 2, 3, 0, 1])
    per_example = losses.softmax_cross_entropy_with_integer_labels(logits, labels)
    assert per_example.shape == (6,)
    jitted = vfunc.jit(losses.softmax_cross_entropy_with_integer_labels)(logits, labels)
    mapped = vfunc.vmap(losses.softmax_cross_entropy_with_integer_labels)(logits, labels)
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(per_example), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(mapped), np.asarray(per_example), rtol=1e-6)
    g = vfunc.jit(vfunc.grad(lambda x: losses.softmax_cross_entropy_with_integer_labels(
        x, labels).mean()))(logits)
    expected = (np.asarray(vfunc.nn.softmax(logits)) - np.eye(4)[np.asarray(labels)]) / 6
    np.testing.assert_allclose(np.asarray(g), expected, rtol=1e-5, atol=1e-7)


def test_fenchel_young_of_logsumexp_is_softmax_cross_entropy(x64_off):
    rng = np.random.default_rng(0)
    logits = vnp.asarray(rng.standard_normal((2, 3, 5)).astype(np.float32))
    targets = vnp.asarray(rng.dirichlet(np.ones(5), size=(2, 3)).astype(np.float32))
    fy = losses.make_fenchel_young_loss(vfunc.nn.logsumexp)
    want = losses.softmax_cross_entropy(logits, targets)
    np.testing.assert_allclose(np.asarray(fy(logits, targets)), np.asarray(want), rtol=1e-5)
    g = vfunc.jit(vfunc.grad(lambda s: vnp.sum(fy(s, targets))))(logits)
    np.testing.assert_allclose(np.asarray(g), np.asarray(vfunc.nn.softmax(logits) - targets),
                               rtol=1e-5, atol=1e-6)


def test_sparsemax_projection_is_on_the_simplex_and_composes(x64_off):
    rng = np.random.default_rng(1)
    scores = vnp.asarray(rng.standard_normal((7, 6)).astype(np.float32) * 3)
    labels = vnp.asarray(rng.integers(0, 6, 7))
    per = losses.multiclass_sparsemax_loss(scores, labels)
    assert per.shape == (7,) and np.all(np.asarray(per) >= -1e-6)
    mapped = vfunc.vmap(losses.multiclass_sparsemax_loss)(scores, labels)
    np.testing.assert_allclose(np.asarray(mapped), np.asarray(per), rtol=1e-5, atol=1e-6)
    # its gradient is sparsemax(scores) - onehot(label): each row sums to 0
    g = np.asarray(vfunc.grad(lambda s: vnp.sum(losses.multiclass_sparsemax_loss(s, labels)))(
        scores))
    np.testing.assert_allclose(g.sum(-1), 0.0, atol=1e-5)
    assert np.all(g[np.arange(7), np.asarray(labels)] <= 1e-6)


def test_new_losses_reject_bad_shapes():
    with pytest.raises(ValueError, match=r"ntxent: expected embeddings \(B, D\) and labels "
                                         r"\(B,\), got \(4, 3\) and \(3,\)"):
        losses.ntxent(vnp.zeros((4, 3)), vnp.zeros(3, dtype=np.int32))
    with pytest.raises(ValueError, match=r"dice_loss: predictions \(2, 3\) and targets "
                                         r"\(2, 4\)"):
        losses.dice_loss(vnp.zeros((2, 3)), vnp.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"reduction must be 'mean', 'sum' or 'none'"):
        losses.dice_loss(vnp.zeros((2, 3)), vnp.zeros((2, 3)), reduction="avg")
    with pytest.raises(ValueError, match=r"ctc_loss: expected logits \(B, T, K\)"):
        losses.ctc_loss(vnp.zeros((2, 3)), vnp.zeros((2, 3)), vnp.zeros((2, 1), dtype=int),
                        vnp.zeros((2, 1)))


def test_nll_loss_ignore_index_and_class_axis(x64_off):
    logp = vnp.log(vnp.array([[[0.25, 0.5], [0.75, 0.5]]]))  # (N=1, C=2, d=2), PyTorch layout
    out = losses.nll_loss(logp, vnp.array([[1, -100]]), axis=1)
    np.testing.assert_allclose(np.asarray(out), [[-np.log(0.75), 0.0]], rtol=1e-6)


def test_bad_labels_raise_clear_errors():
    with pytest.raises(TypeError, match="labels must be integers"):
        losses.softmax_cross_entropy_with_integer_labels(vnp.zeros((2, 3)), vnp.zeros(2))
    with pytest.raises(ValueError, match=r"labels \(2, 1\) must have the shape"):
        losses.softmax_cross_entropy_with_integer_labels(vnp.zeros((2, 3)),
                                                         vnp.zeros((2, 1), dtype=np.int32))


DPA = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "fixtures", "nn", "dpa_*.npz")))


@pytest.mark.parametrize("path", DPA, ids=lambda p: os.path.basename(p)[4:-4])
def test_dot_product_attention_matches_jax(path, x64):
    with np.load(path) as data:
        d = {k: data[k] for k in data.files}
    kw = json.loads(str(d["meta"]))
    if "bias" in d:
        kw.update(bias=vnp.asarray(d["bias"]), mask=vnp.asarray(d["mask"]))
    if "kv_len" in d:
        kw["key_value_seq_lengths"] = vnp.asarray(d["kv_len"])

    def f(q, k, v):
        return vfunc.nn.dot_product_attention(q, k, v, **kw)

    q, k, v = (vnp.asarray(d[n]) for n in "qkv")
    # JAX takes the softmax in float32 even for float64 inputs, hence the float32 tolerance.
    tol = dict(rtol=2e-6, atol=2e-6)
    np.testing.assert_allclose(np.asarray(f(q, k, v)), d["out"], **tol)
    grads = vfunc.grad(lambda q, k, v: vnp.sum(f(q, k, v) * d["ct"]), argnums=(0, 1, 2))(q, k, v)
    for g, name in zip(grads, ("gq", "gk", "gv"), strict=True):
        np.testing.assert_allclose(np.asarray(g), d[name], **tol, err_msg=name)
