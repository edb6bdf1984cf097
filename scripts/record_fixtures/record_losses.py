"""Record optax (and PyTorch, for the losses optax lacks) reference values and gradients for
vfunc.losses into tests/fixtures/nn/loss_*.npz, and jax.nn.dot_product_attention's into
dpa_*.npz. Run once, in the scratch venv:

    /work/scratch/bin/python scripts/record_fixtures/record_losses.py [main|attention|more ...]

Each fixture: the loss name, its kwargs (JSON), the arguments, the value, a cotangent, and the
gradient of sum(value * cotangent) with respect to the first argument (float64 via jax x64).
"""

import json
import os

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax.losses as L  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as TF  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "nn")
rng = np.random.default_rng(0)


def save(tag, name, args, kwargs, value, grad, gen=None, aux=()):
    ct = (gen or rng).standard_normal(np.shape(value)).astype(np.float32)
    data = {"meta": np.array(json.dumps({"name": name, "kwargs": kwargs}))}
    for i, a in enumerate(aux):  # further outputs of a function returning a tuple
        data[f"aux.{i}"] = np.asarray(a)
    for i, a in enumerate(args):
        data[f"arg.{i}"] = np.asarray(a)
    data["value"] = np.asarray(value)
    data["ct"] = ct
    data["grad"] = np.asarray(grad(ct))
    np.savez_compressed(os.path.join(OUT, f"loss_{tag}.npz"), **data)


def optax_case(tag, name, args, **kwargs):
    fn = getattr(L, name)
    args = [np.asarray(a) for a in args]

    def f(first):
        return fn(first, *[jnp.asarray(a) for a in args[1:]], **kwargs)

    value = f(jnp.asarray(args[0]))

    def grad(ct):
        return jax.grad(lambda x: jnp.sum(f(x) * ct))(jnp.asarray(args[0]))

    save(tag, name, args, kwargs, value, grad)


def torch_case(tag, name, tfn, args, **kwargs):
    args = [np.asarray(a) for a in args]
    first = torch.tensor(args[0], requires_grad=True)
    rest = [torch.tensor(a) for a in args[1:]]
    value = tfn(first, *rest, reduction="none", **kwargs)

    def grad(ct):
        (g,) = torch.autograd.grad((value * torch.tensor(ct)).sum(), first, retain_graph=True)
        return g.numpy()

    save(tag, name, args, kwargs, value.detach().numpy(), grad)


def main():
    f64 = np.float64
    logits = rng.standard_normal((4, 5))
    extreme = np.array([[100.0, -100.0, 0.0], [-100.0, 100.0, 3.0]])
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    labels_int = np.array([0, 3, 4, 1])
    onehot = np.eye(5)[labels_int]
    soft = rng.dirichlet(np.ones(5), size=4)
    binary = (rng.random((4, 5)) > 0.5).astype(f64)
    preds, targets = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    optax_case("softmax_ce", "softmax_cross_entropy", [logits, soft])
    optax_case("softmax_ce_extreme", "softmax_cross_entropy", [extreme, np.eye(3)[[1, 0]]])
    optax_case("softmax_ce_int", "softmax_cross_entropy_with_integer_labels", [logits, labels_int])
    optax_case("softmax_ce_int_extreme", "softmax_cross_entropy_with_integer_labels",
               [extreme, np.array([1, 0])])
    optax_case("safe_softmax_ce", "safe_softmax_cross_entropy",
               [np.array([[-np.inf, 1.0, 2.0]]), np.array([[0.0, 0.5, 0.5]])])
    optax_case("poly_ce", "poly_loss_cross_entropy", [logits, onehot], epsilon=1.5)
    optax_case("sigmoid_bce", "sigmoid_binary_cross_entropy", [logits, binary])
    optax_case("sigmoid_bce_extreme", "sigmoid_binary_cross_entropy",
               [extreme, np.array([[0.0, 1.0, 1.0], [0.0, 1.0, 0.0]])])
    optax_case("focal", "sigmoid_focal_loss", [logits, binary], alpha=0.25, gamma=2.0)
    optax_case("focal_extreme", "sigmoid_focal_loss",
               [extreme, np.array([[0.0, 1.0, 1.0], [0.0, 1.0, 0.0]])])
    optax_case("hinge", "hinge_loss", [preds, np.sign(targets)])
    optax_case("perceptron", "perceptron_loss", [preds, np.sign(targets)])
    optax_case("multiclass_hinge", "multiclass_hinge_loss", [logits, labels_int])
    optax_case("multiclass_perceptron", "multiclass_perceptron_loss", [logits, labels_int])
    optax_case("smooth_labels", "smooth_labels", [soft], alpha=0.1)
    optax_case("squared_error", "squared_error", [preds, targets])
    optax_case("l2", "l2_loss", [preds, targets])
    optax_case("huber", "huber_loss", [3 * preds, targets], delta=1.5)
    optax_case("log_cosh", "log_cosh", [preds, targets])
    optax_case("log_cosh_extreme", "log_cosh", [np.array([100.0, -100.0, 1000.0])])
    optax_case("cosine_similarity", "cosine_similarity", [preds, targets], epsilon=1e-3)
    optax_case("cosine_distance", "cosine_distance", [preds, targets])
    optax_case("kl", "kl_divergence", [np.log(probs), np.concatenate(
        [soft[:, :4], np.zeros((4, 1))], 1) / soft[:, :4].sum(1, keepdims=True)])
    optax_case("kl_log", "kl_divergence_with_log_targets", [np.log(probs), np.log(soft)])
    optax_case("convex_kl", "convex_kl_divergence", [np.log(probs), soft])
    optax_case("generalized_kl", "generalized_kl_divergence", [np.log(probs), soft])
    optax_case("triplet", "triplet_margin_loss", [preds, targets, preds[::-1]])
    t, k = 8, 4
    ctc_logits = rng.standard_normal((3, t, k))
    ctc_labels = np.array([[1, 2, 2], [3, 1, 0], [2, 0, 0]])
    label_pad = np.array([[0, 0, 0], [0, 0, 1.0], [0, 1.0, 1.0]])
    logit_pad = np.zeros((3, t))
    logit_pad[1, 6:] = 1.0
    optax_case("ctc", "ctc_loss", [ctc_logits, logit_pad, ctc_labels, label_pad])
    torch_case("nll", "nll_loss", TF.nll_loss, [np.log(probs), labels_int])
    torch_case("bce", "binary_cross_entropy", TF.binary_cross_entropy,
               [np.clip(probs * 3, 0.01, 0.99), binary])
    torch_case("smooth_l1", "smooth_l1_loss", TF.smooth_l1_loss, [3 * preds, targets], beta=0.5)
    torch_case("margin_ranking", "margin_ranking_loss", TF.margin_ranking_loss,
               [preds[:, 0], targets[:, 0], np.sign(preds[:, 1])], margin=0.3)


def attention():
    """jax.nn.dot_product_attention on a few configurations -> tests/fixtures/nn/dpa_*.npz."""
    import jax.nn as jnn

    cases = {
        "plain": dict(q=(2, 5, 4, 8), k=(2, 6, 4, 8), kw={}),
        "causal_gqa": dict(q=(2, 5, 4, 8), k=(2, 5, 2, 8), kw={"is_causal": True}),
        "bias_mask_scale": dict(q=(1, 4, 2, 8), k=(1, 6, 2, 8), kw={"scale": 0.3},
                                bias=(1, 2, 4, 6), mask=(1, 1, 4, 6)),
        "seq_lengths": dict(q=(3, 4, 2, 8), k=(3, 6, 2, 8), kw={},
                            kv_len=np.array([6, 3, 1], np.int32)),
        "unbatched": dict(q=(5, 2, 8), k=(7, 2, 8), kw={}),
    }
    for tag, c in cases.items():
        q = rng.standard_normal(c["q"])
        k = rng.standard_normal(c["k"])
        v = rng.standard_normal(c["k"])
        kw = dict(c["kw"])
        data = {"q": q, "k": k, "v": v}
        if "bias" in c:
            data["bias"] = rng.standard_normal(c["bias"])
            data["mask"] = rng.random(c["mask"]) > 0.3
            kw.update(bias=jnp.asarray(data["bias"]), mask=jnp.asarray(data["mask"]))
        if "kv_len" in c:
            data["kv_len"] = c["kv_len"]
            kw["key_value_seq_lengths"] = jnp.asarray(c["kv_len"])

        def f(q, k, v, kw=kw):
            return jnn.dot_product_attention(q, k, v, **kw)

        out = f(q, k, v)
        ct = rng.standard_normal(out.shape)
        grads = jax.grad(lambda q, k, v, ct=ct: jnp.sum(f(q, k, v) * ct),
                         argnums=(0, 1, 2))(q, k, v)
        data.update(out=np.asarray(out), ct=ct, gq=np.asarray(grads[0]),
                    gk=np.asarray(grads[1]), gv=np.asarray(grads[2]),
                    meta=np.array(json.dumps({k_: v_ for k_, v_ in c["kw"].items()})))
        np.savez_compressed(os.path.join(OUT, f"dpa_{tag}.npz"), **data)


def more():
    """The optax losses added later, drawn from their own generator so that recording them
    never changes the fixtures above. List arguments in kwargs are arrays (masks, weights)."""
    gen = np.random.default_rng(1)

    def case(tag, name, args, first_output=False, **kwargs):
        fn = getattr(L, name)
        args = [np.asarray(a) for a in args]
        jkw = {k: jnp.asarray(v) if isinstance(v, list) else v for k, v in kwargs.items()}

        def f(first):
            out = fn(first, *[jnp.asarray(a) for a in args[1:]], **jkw)
            return out[0] if first_output else out

        full = fn(jnp.asarray(args[0]), *[jnp.asarray(a) for a in args[1:]], **jkw)
        aux = full[1:] if first_output else ()

        def grad(ct):
            return jax.grad(lambda x: jnp.sum(f(x) * ct))(jnp.asarray(args[0]))

        save(tag, name, args, kwargs, f(jnp.asarray(args[0])), grad, gen, aux)

    logits = gen.standard_normal((4, 5))
    labels_int = np.array([0, 3, 4, 1])
    binary = (gen.random((4, 5)) > 0.5).astype(np.float64)
    case("sparsemax", "sparsemax_loss", [3 * logits, binary])
    case("multiclass_sparsemax", "multiclass_sparsemax_loss", [2 * logits, labels_int])
    case("ntxent", "ntxent", [gen.standard_normal((6, 3)), np.array([0, 0, 1, 1, 2, 2])],
         temperature=0.5)
    rel = gen.integers(0, 4, (3, 5)).astype(np.float64)
    mask = [[True] * 5, [True, True, False, True, False], [False] * 5]
    case("ranking_softmax", "ranking_softmax_loss", [logits[:3], rel])
    case("ranking_softmax_masked", "ranking_softmax_loss", [logits[:3], rel], where=mask,
         weights=gen.random((3, 5)).tolist())
    case("ranking_softmax_none", "ranking_softmax_loss", [logits[:3], rel], where=mask,
         reduce_fn=None)
    seg = gen.standard_normal((2, 4, 4, 3))
    onehot = np.eye(3)[gen.integers(0, 3, (2, 4, 4))]
    case("dice", "dice_loss", [seg, onehot])
    case("dice_tversky_none", "dice_loss", [seg, onehot], alpha=0.3, beta=0.7,
         reduction="none", class_weights=[0.5, 1.0, 2.0])
    case("dice_background_sum", "dice_loss", [seg, onehot], ignore_background=True,
         reduction="sum", axis=[1])
    case("generalized_dice", "multiclass_generalized_dice_loss", [seg, onehot])
    case("binary_dice", "binary_dice_loss", [seg[..., 0], onehot[..., 0]], smooth=0.5)
    t, k = 7, 4
    ctc_logits = gen.standard_normal((3, t, k))
    ctc_labels = np.array([[1, 1, 2], [3, 1, 0], [2, 0, 0]])
    label_pad = np.array([[0, 0, 0], [0, 0, 1.0], [0, 1.0, 1.0]])
    logit_pad = np.zeros((3, t))
    logit_pad[2, 5:] = 1.0
    case("ctc_forward_probs", "ctc_loss_with_forward_probs",
         [ctc_logits, logit_pad, ctc_labels, label_pad], first_output=True)


if __name__ == "__main__":
    import sys

    for part in sys.argv[1:] or ["main", "attention", "more"]:
        {"main": main, "attention": attention, "more": more}[part]()
