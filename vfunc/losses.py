"""``vfunc.losses``: optax.losses' names, signatures and per-example semantics (no hidden
reduction: reduce with ``.mean()`` yourself), plus the PyTorch losses optax lacks (``nll_loss``,
``binary_cross_entropy``, ``smooth_l1_loss``, ``margin_ranking_loss``), per example too.

The losses defined over a whole batch (``ntxent``, ``multiclass_generalized_dice_loss``, and
``ranking_softmax_loss`` with its default ``reduce_fn``) return what optax's return: a scalar.

Everything is computed from logits in log space where it matters, so logits of +-100 (or more)
give finite values and finite gradients.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import vfunc.numpy as vnp
from vfunc import lax
from vfunc.core import Array
from vfunc.errors import ShapeError
from vfunc.lax import ArrayLike
from vfunc.nn.activations import (
    log_sigmoid,
    log_softmax,
    logsumexp,
    one_hot,
    relu,
    sigmoid,
    softmax,
    sparse_plus,
)
from vfunc.numpy._promote import promote_args

__all__ = [
    "binary_cross_entropy", "binary_dice_loss", "convex_kl_divergence", "cosine_distance",
    "cosine_similarity", "ctc_loss", "ctc_loss_with_forward_probs", "dice_loss",
    "generalized_kl_divergence", "hinge_loss", "huber_loss", "kl_divergence",
    "kl_divergence_with_log_targets", "l2_loss", "log_cosh", "make_fenchel_young_loss",
    "margin_ranking_loss", "multiclass_generalized_dice_loss", "multiclass_hinge_loss",
    "multiclass_perceptron_loss", "multiclass_sparsemax_loss", "nll_loss", "ntxent",
    "perceptron_loss", "poly_loss_cross_entropy", "ranking_softmax_loss",
    "safe_softmax_cross_entropy", "sigmoid_binary_cross_entropy", "sigmoid_focal_loss",
    "smooth_l1_loss", "smooth_labels", "softmax_cross_entropy",
    "softmax_cross_entropy_with_integer_labels", "sparsemax_loss", "squared_error",
    "triplet_margin_loss",
]  # fmt: skip

Axis = int | tuple[int, ...] | None


def _float(x: ArrayLike) -> Array:
    (x,) = promote_args(x, inexact=True)
    return x


def _masked_sum(x: Array, axis: Axis, where: ArrayLike | None) -> Array:
    if where is not None:
        x = vnp.where(vnp.asarray(where), x, 0.0)
    return vnp.sum(x, axis=axis)


def _pick(values: Array, labels: ArrayLike, axis: int, name: str) -> Array:
    """``values[..., labels, ...]`` along ``axis``, the label axis removed."""
    labels = vnp.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"{name}: labels must be integers, got dtype {labels.dtype}")
    axis = axis % values.ndim
    if labels.ndim != values.ndim - 1:
        raise ShapeError(
            f"{name}: labels {tuple(labels.shape)} must have the shape of the logits "
            f"{tuple(values.shape)} without the class axis {axis}"
        )
    picked = vnp.take_along_axis(values, vnp.expand_dims(labels, axis), axis=axis)
    return vnp.squeeze(picked, axis)


# ---------------------------------------------------------------------------------------------
# Classification


def softmax_cross_entropy(logits: ArrayLike, labels: ArrayLike, axis: Axis = -1,
                          where: ArrayLike | None = None) -> Array:  # fmt: skip
    """``-sum(labels * log_softmax(logits))`` over ``axis``, per example, as optax's.

    Example:
        >>> import vfunc.numpy as vnp
        >>> softmax_cross_entropy(vnp.array([[100.0, -100.0]]), vnp.array([[0.0, 1.0]]))
        Array([200.], dtype=float32)
    """
    logits = _float(logits)
    return -_masked_sum(vnp.asarray(labels) * log_softmax(logits, axis=axis, where=where), axis,
                        where)


def safe_softmax_cross_entropy(logits: ArrayLike, labels: ArrayLike) -> Array:
    """``softmax_cross_entropy`` that gives 0, not NaN, where a logit is ``-inf`` and its label
    0 (as optax's)."""
    logits = _float(logits)
    logp = log_softmax(logits, axis=-1)
    labels = vnp.asarray(labels)
    terms = vnp.where(vnp.equal(labels, 0), 0.0, labels * vnp.where(vnp.isneginf(logp), 0.0,
                                                                    logp))
    return -vnp.sum(terms, axis=-1)


def softmax_cross_entropy_with_integer_labels(logits: ArrayLike, labels: ArrayLike,
                                              axis: int = -1, where: ArrayLike | None = None
                                              ) -> Array:  # fmt: skip
    """``logsumexp(logits) - logits[label]`` per example, as optax's.

    Example:
        >>> import vfunc.numpy as vnp
        >>> softmax_cross_entropy_with_integer_labels(vnp.array([[0.0, 0.0]]), vnp.array([1]))
        Array([0.6931472], dtype=float32)
    """
    logits = _float(logits)
    if where is not None:
        logits = vnp.where(vnp.asarray(where), logits, -np.inf)
    return logsumexp(logits, axis=axis) - _pick(logits, labels, axis, "softmax_cross_entropy")


def poly_loss_cross_entropy(logits: ArrayLike, labels: ArrayLike, epsilon: float = 2.0,
                            axis: Axis = -1, where: ArrayLike | None = None) -> Array:
    """Cross entropy plus ``epsilon * (1 - p_t)`` (PolyLoss), as optax's."""
    logits = _float(logits)
    labels = vnp.asarray(labels)
    p_t = _masked_sum(labels * vnp.exp(log_softmax(logits, axis=axis, where=where)), axis, where)
    return softmax_cross_entropy(logits, labels, axis, where) + epsilon * (1.0 - p_t)


def sigmoid_binary_cross_entropy(logits: ArrayLike, labels: ArrayLike) -> Array:
    """Elementwise ``-labels log sigmoid(x) - (1 - labels) log sigmoid(-x)``, as optax's.

    Example:
        >>> import vfunc.numpy as vnp
        >>> sigmoid_binary_cross_entropy(vnp.array([100.0, 0.0]), vnp.array([0.0, 1.0]))
        Array([100.       ,   0.6931472], dtype=float32)
    """
    logits = _float(logits)
    labels = vnp.asarray(labels).astype(logits.dtype)
    return -labels * log_sigmoid(logits) - (1.0 - labels) * log_sigmoid(-logits)


def sigmoid_focal_loss(logits: ArrayLike, labels: ArrayLike, *, alpha: float | None = None,
                       gamma: float = 2.0) -> Array:  # fmt: skip
    """Focal loss ``(1 - p_t)**gamma * BCE`` elementwise, optionally weighted by ``alpha``, as
    optax's."""
    logits = _float(logits)
    labels = vnp.asarray(labels).astype(logits.dtype)
    ce = sigmoid_binary_cross_entropy(logits, labels)
    # 1 - p_t without cancellation: each sigmoid is accurate on its own.
    one_minus_pt = labels * sigmoid(-logits) + (1.0 - labels) * sigmoid(logits)
    loss = ce * one_minus_pt ** gamma
    if alpha is not None:
        loss = (alpha * labels + (1.0 - alpha) * (1.0 - labels)) * loss
    return loss


def hinge_loss(predictor_outputs: ArrayLike, targets: ArrayLike) -> Array:
    """``max(0, 1 - outputs * targets)`` with targets in {-1, 1}, as optax's."""
    return vnp.maximum(0.0, 1.0 - _float(predictor_outputs) * vnp.asarray(targets))


def perceptron_loss(predictor_outputs: ArrayLike, targets: ArrayLike) -> Array:
    """``max(0, -outputs * targets)``, as optax's."""
    return vnp.maximum(0.0, -_float(predictor_outputs) * vnp.asarray(targets))


def multiclass_hinge_loss(scores: ArrayLike, labels: ArrayLike) -> Array:
    """``max(scores + 1 - one_hot(labels)) - scores[label]``, as optax's."""
    scores = _float(scores)
    one_hot = vnp.equal(vnp.expand_dims(vnp.asarray(labels), -1),
                        vnp.arange(scores.shape[-1])).astype(scores.dtype)
    return vnp.max(scores + 1.0 - one_hot, axis=-1) - _pick(scores, labels, -1,
                                                             "multiclass_hinge_loss")


def multiclass_perceptron_loss(scores: ArrayLike, labels: ArrayLike) -> Array:
    """``max(scores) - scores[label]``, as optax's."""
    scores = _float(scores)
    return vnp.max(scores, axis=-1) - _pick(scores, labels, -1, "multiclass_perceptron_loss")


def smooth_labels(labels: ArrayLike, alpha: float) -> Array:
    """``(1 - alpha) * labels + alpha / num_classes``, as optax's.

    Example:
        >>> import vfunc.numpy as vnp
        >>> smooth_labels(vnp.array([0.0, 1.0]), 0.5)
        Array([0.25, 0.75], dtype=float32)
    """
    labels = _float(labels)
    return (1.0 - alpha) * labels + alpha / labels.shape[-1]


# ---------------------------------------------------------------------------------------------
# Regression


def _error(predictions: ArrayLike, targets: ArrayLike | None) -> Array:
    p = _float(predictions)
    return p if targets is None else p - vnp.asarray(targets)


def squared_error(predictions: ArrayLike, targets: ArrayLike | None = None) -> Array:
    """``(predictions - targets)**2`` elementwise, as optax's."""
    return vnp.square(_error(predictions, targets))


def l2_loss(predictions: ArrayLike, targets: ArrayLike | None = None) -> Array:
    """``0.5 * (predictions - targets)**2`` elementwise, as optax's."""
    return 0.5 * squared_error(predictions, targets)


def huber_loss(predictions: ArrayLike, targets: ArrayLike | None = None,
               delta: float = 1.0) -> Array:  # fmt: skip
    """Quadratic within ``delta``, linear beyond, as optax's ``huber_loss``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> huber_loss(vnp.array([0.5, 3.0]))
        Array([0.125, 2.5  ], dtype=float32)
    """
    abs_err = vnp.abs(_error(predictions, targets))
    quadratic = vnp.minimum(abs_err, delta)
    return 0.5 * quadratic * quadratic + delta * (abs_err - quadratic)


def log_cosh(predictions: ArrayLike, targets: ArrayLike | None = None) -> Array:
    """``log(cosh(predictions - targets))``, stable for large errors, as optax's."""
    err = _error(predictions, targets)
    return vnp.logaddexp(err, -err) - np.log(2.0).astype(err.dtype)


def cosine_similarity(predictions: ArrayLike, targets: ArrayLike, *, epsilon: float = 0.0,
                      axis: Axis = -1, where: ArrayLike | None = None) -> Array:
    """The cosine of the angle between vectors along ``axis``; squared norms are clipped below
    at ``epsilon``, as optax's."""
    a, b = _float(predictions), _float(targets)

    def norm(v: Array) -> Array:
        sq = _masked_sum(vnp.square(v), axis, where)
        return vnp.sqrt(vnp.maximum(vnp.expand_dims(sq, _axes(axis, v.ndim)), epsilon))

    return _masked_sum((a / norm(a)) * (b / norm(b)), axis, where)


def _axes(axis: Axis, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    return tuple(sorted(a % ndim for a in ((axis,) if isinstance(axis, int) else axis)))


def cosine_distance(predictions: ArrayLike, targets: ArrayLike, *, epsilon: float = 0.0,
                    axis: Axis = -1, where: ArrayLike | None = None) -> Array:
    """``1 - cosine_similarity``, as optax's."""
    return 1.0 - cosine_similarity(predictions, targets, epsilon=epsilon, axis=axis, where=where)


def kl_divergence(log_predictions: ArrayLike, targets: ArrayLike, axis: Axis = -1,
                  where: ArrayLike | None = None) -> Array:  # fmt: skip
    """``sum(targets * (log(targets) - log_predictions))`` with ``0 log 0 = 0``, as optax's."""
    logp, t = _float(log_predictions), vnp.asarray(targets)
    safe_t = vnp.where(vnp.equal(t, 0), 1.0, t)
    return _masked_sum(t * (vnp.log(safe_t) - logp), axis, where)


def kl_divergence_with_log_targets(log_predictions: ArrayLike, log_targets: ArrayLike,
                                   axis: Axis = -1, where: ArrayLike | None = None) -> Array:
    """``sum(exp(log_targets) * (log_targets - log_predictions))``, as optax's."""
    logp, logt = _float(log_predictions), _float(log_targets)
    return _masked_sum(vnp.exp(logt) * (logt - logp), axis, where)


def convex_kl_divergence(log_predictions: ArrayLike, targets: ArrayLike, axis: Axis = -1,
                         where: ArrayLike | None = None) -> Array:  # fmt: skip
    """``kl_divergence + sum(exp(log_predictions) - targets)``, as optax's."""
    logp = _float(log_predictions)
    extra = _masked_sum(vnp.exp(logp) - vnp.asarray(targets), axis, where)
    return kl_divergence(logp, targets, axis, where) + extra


def generalized_kl_divergence(log_predictions: ArrayLike, targets: ArrayLike, axis: Axis = -1,
                              where: ArrayLike | None = None) -> Array:  # fmt: skip
    """The KL divergence generalised to unnormalised measures, optax's newer name for
    ``convex_kl_divergence`` (same value)."""
    return convex_kl_divergence(log_predictions, targets, axis, where)


def triplet_margin_loss(anchors: ArrayLike, positives: ArrayLike, negatives: ArrayLike,
                        axis: int = -1, norm_degree: float = 2, margin: float = 1.0,
                        eps: float = 1e-6) -> Array:  # fmt: skip
    """``max(d(a, p) - d(a, n) + margin, 0)`` with ``d(x, y) = (sum((x - y)**deg) + eps)**(1/deg)``,
    as optax's (PyTorch's ``triplet_margin_loss`` adds ``eps`` to the difference instead)."""
    a = _float(anchors)

    def dist(other: ArrayLike) -> Array:
        return vnp.power(vnp.sum(vnp.power(a - vnp.asarray(other), norm_degree), axis=axis) + eps,
                         1.0 / norm_degree)

    return vnp.maximum(dist(positives) - dist(negatives) + margin, 0.0)


def ctc_loss_with_forward_probs(logits: ArrayLike, logit_paddings: ArrayLike,
                                labels: ArrayLike, label_paddings: ArrayLike, *,
                                blank_id: int = 0, log_epsilon: float = -1e5,
                                ) -> tuple[Array, Array, Array]:  # fmt: skip
    """Connectionist temporal classification loss per sequence and the forward variables, as
    optax's ``ctc_loss_with_forward_probs``.

    The forward (alpha) recursion runs over frames with ``lax.scan`` in log space, in optax's
    two-state form: ``logalpha_phi[t, b, n]`` is the log-probability of having emitted the first
    ``n`` labels and being in a blank at frame ``t``, ``logalpha_emit[t, b, n]`` of having just
    emitted label ``n``. Impossible paths carry ``log_epsilon`` (finite), so gradients stay
    finite.

    Args:
        logits: ``(B, T, K)`` unnormalised class scores.
        logit_paddings: ``(B, T)``, 1.0 at padded frames (after the valid ones).
        labels: ``(B, N)`` integer labels.
        label_paddings: ``(B, N)``, 1.0 at padded labels (after the valid ones).
        blank_id: the blank class.
        log_epsilon: the log-probability used for impossible paths.

    Returns:
        ``(loss (B,), logalpha_phi (T, B, N + 1), logalpha_emit (T, B, N))``, ``loss`` being
        ``-log p(labels | logits)``.
    """
    logits = _float(logits)
    labels = vnp.asarray(labels)
    logit_paddings, label_paddings = vnp.asarray(logit_paddings), vnp.asarray(label_paddings)
    if logits.ndim != 3 or labels.ndim != 2 or tuple(label_paddings.shape) != tuple(
            labels.shape) or tuple(logit_paddings.shape) != tuple(logits.shape[:2]) or (
            labels.shape[0] != logits.shape[0]):
        raise ShapeError(
            "ctc_loss: expected logits (B, T, K), logit_paddings (B, T), labels (B, N) and "
            f"label_paddings (B, N), got {tuple(logits.shape)}, {tuple(logit_paddings.shape)}, "
            f"{tuple(labels.shape)}, {tuple(label_paddings.shape)}"
        )
    b, _, k = logits.shape
    n = labels.shape[1]
    dt = logits.dtype
    logp = log_softmax(logits, axis=-1)
    label_lens = n - vnp.sum(label_paddings, axis=1).astype(np.int32)
    # repeat[b, i]: label i equals label i + 1, so a blank must separate them.
    repeat = vnp.pad(vnp.equal(labels[:, :-1], labels[:, 1:]).astype(dt), ((0, 0), (0, 1)))
    logp_phi = vnp.transpose(logp[:, :, blank_id:blank_id + 1], (1, 0, 2))  # (T, B, 1)
    logp_emit = vnp.einsum("btk,bnk->tbn", logp, one_hot(labels, k, dtype=dt))  # (T, B, N)
    phi0 = vnp.full((b, n + 1), log_epsilon, dt).at[:, 0].set(0.0)
    emit0 = vnp.full((b, n), log_epsilon, dt)

    def add_to_phi(phi: Array, score: Array) -> Array:
        return vnp.concatenate([phi[:, :1], vnp.logaddexp(phi[:, 1:], score)], axis=-1)

    def step(carry: tuple[Array, Array], x: tuple[Array, Array, Array]) -> tuple[Any, Any]:
        prev_phi, prev_emit = carry
        emit, phi_score, pad = x
        phi = add_to_phi(prev_phi, prev_emit + log_epsilon * repeat)
        next_emit = vnp.logaddexp(phi[:, :-1] + emit, prev_emit + emit)
        next_phi = add_to_phi(phi + phi_score,
                              prev_emit + phi_score + log_epsilon * (1.0 - repeat))
        pad = vnp.reshape(pad, (b, 1))
        next_emit = pad * prev_emit + (1.0 - pad) * next_emit
        next_phi = pad * prev_phi + (1.0 - pad) * next_phi
        return (next_phi, next_emit), (next_phi, next_emit)

    xs = (logp_emit, logp_phi, vnp.transpose(logit_paddings.astype(dt)))
    _, (alpha_phi, alpha_emit) = lax.scan(step, (phi0, emit0), xs)
    last = add_to_phi(alpha_phi[-1], alpha_emit[-1])
    alpha_phi = alpha_phi.at[-1].set(last)
    loss = -vnp.sum(last * one_hot(label_lens, n + 1, dtype=dt), axis=-1)
    return loss, alpha_phi, alpha_emit


def ctc_loss(logits: ArrayLike, logit_paddings: ArrayLike, labels: ArrayLike,
             label_paddings: ArrayLike, *, blank_id: int = 0,
             log_epsilon: float = -1e5) -> Array:  # fmt: skip
    """Connectionist temporal classification loss per sequence, as optax's ``ctc_loss``: the
    first output of ``ctc_loss_with_forward_probs`` (see there for the arguments).

    Returns:
        ``(B,)``: ``-log p(labels | logits)``.
    """
    return ctc_loss_with_forward_probs(logits, logit_paddings, labels, label_paddings,
                                       blank_id=blank_id, log_epsilon=log_epsilon)[0]


def sparsemax_loss(logits: ArrayLike, labels: ArrayLike) -> Array:
    """The binary sparsemax loss per element, ``sparse_plus(-logits if label else logits)``, as
    optax's ``sparsemax_loss`` (labels in {0, 1})."""
    logits = _float(logits)
    return sparse_plus(vnp.where(vnp.asarray(labels).astype(bool), -logits, logits))


def _projection_simplex(scores: Array) -> Array:
    """The Euclidean projection of each row (last axis) onto the probability simplex: the
    threshold ``theta`` comes from the sorted scores, ``p = max(scores - theta, 0)``."""
    k = scores.shape[-1]
    desc = -vnp.sort(-scores, axis=-1)
    cums = vnp.cumsum(desc, axis=-1)
    ranks = vnp.asarray(np.arange(1, k + 1), dtype=scores.dtype)
    support = vnp.sum((1.0 / ranks + desc - cums / ranks > 0).astype(np.int32), axis=-1)
    # The support size is piecewise constant; theta's gradient flows through the sorted values.
    top = vnp.take_along_axis(cums, vnp.expand_dims(support - 1, -1), axis=-1)
    size = vnp.expand_dims(support, -1).astype(scores.dtype)
    return relu(1.0 / size + scores - top / size)


def multiclass_sparsemax_loss(scores: ArrayLike, labels: ArrayLike) -> Array:
    """The multiclass sparsemax loss per example, as optax's ``multiclass_sparsemax_loss``:
    the Fenchel-Young loss of the Gini negentropy, ``<p, s - s_y> + (1 - <p, p>) / 2`` with
    ``p`` the sparsemax (simplex projection) of the scores.

    Args:
        scores: ``(..., K)``.
        labels: ``(...)`` integer labels.

    Returns:
        ``(...)``.
    """
    scores = _float(scores)
    proba = _projection_simplex(scores)
    picked = vnp.expand_dims(_pick(scores, labels, -1, "multiclass_sparsemax_loss"), -1)
    shifted = vnp.where(proba > 0, scores - picked, 0.0)
    return vnp.sum(proba * shifted, axis=-1) + 0.5 * (1.0 - vnp.sum(proba * proba, axis=-1))


def make_fenchel_young_loss(max_fun: Callable[..., Array]) -> Callable[..., Array]:
    """The Fenchel-Young loss of a convex ``max_fun`` (a function of one vector giving a
    scalar), as optax's: ``loss(scores, targets, *args, **kwargs) = max_fun(scores) -
    <targets, scores>`` along the last axis, per example over the leading axes.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import losses, nn
        >>> ce = losses.make_fenchel_young_loss(nn.logsumexp)
        >>> ce(vnp.array([[0.0, 0.0]]), vnp.array([[1.0, 0.0]]))
        Array([0.6931472], dtype=float32)
    """

    def fenchel_young_loss(scores: ArrayLike, targets: ArrayLike, *args: Any,
                           **kwargs: Any) -> Array:  # fmt: skip
        from vfunc.transforms.batching import vmap  # a transform, not the public package

        scores, targets = _float(scores), _float(targets)
        lead = tuple(scores.shape[:-1])
        rows = vnp.reshape(scores, (-1, scores.shape[-1]))
        maxes = vmap(lambda row: max_fun(row, *args, **kwargs))(rows)
        return vnp.reshape(maxes, lead) - vnp.sum(targets * scores, axis=-1)

    return fenchel_young_loss


def ntxent(embeddings: ArrayLike, labels: ArrayLike, temperature: float = 0.07) -> Array:
    """The normalized temperature-scaled cross-entropy (SimCLR's contrastive loss), as optax's
    ``ntxent``: for each pair of distinct examples with equal labels, the cross-entropy of
    picking the positive among it and every example with a different label, by cosine
    similarity over ``temperature``; averaged over the positive pairs (a scalar, as optax's).

    Args:
        embeddings: ``(B, D)`` floats.
        labels: ``(B,)``; examples with equal labels are positives of each other.
        temperature: the softmax temperature.
    """
    emb = _float(embeddings)
    labels = vnp.asarray(labels)
    if emb.ndim != 2 or labels.shape[:1] != emb.shape[:1]:
        raise ShapeError(
            f"ntxent: expected embeddings (B, D) and labels (B,), got {tuple(emb.shape)} and "
            f"{tuple(labels.shape)}"
        )
    eps = float(np.finfo(emb.dtype).eps)
    sims = cosine_similarity(emb[None, :, :], emb[:, None, :], epsilon=eps) / temperature
    same = vnp.equal(labels[:, None], labels[None, :])
    positives = vnp.logical_and(same, vnp.logical_not(vnp.eye(emb.shape[0], dtype=bool)))
    negatives = vnp.logical_not(same)
    neg = vnp.where(negatives, sims, -np.inf)
    pos = vnp.where(positives, sims, -np.inf)
    shift = lax.stop_gradient(vnp.max(vnp.concatenate([neg, pos], axis=-1), axis=1,
                                      keepdims=True))
    neg, pos = neg - shift, pos - shift
    denom = vnp.sum(vnp.exp(neg), axis=1, keepdims=True) + vnp.exp(pos)
    log_softmax_ = pos - vnp.log(denom)
    count = vnp.sum(positives.astype(emb.dtype))
    return -vnp.sum(vnp.where(positives, log_softmax_, 0.0)) / count


def ranking_softmax_loss(logits: ArrayLike, labels: ArrayLike, *,
                         where: ArrayLike | None = None, weights: ArrayLike | None = None,
                         reduce_fn: Callable[..., Array] | None = vnp.mean) -> Array:
    """The listwise softmax cross-entropy ranking loss, as optax's ``ranking_softmax_loss``:
    ``-sum(labels * log_softmax(logits))`` over each list (last axis), then ``reduce_fn`` over
    the lists (``None`` keeps one loss per list).

    Args:
        logits: ``(..., L)`` scores.
        labels: ``(..., L)`` relevance labels.
        where: optional mask of valid items; lists with no valid item are left out of the
            reduction (with the default mean, all-invalid input gives 0, as optax's).
        weights: optional per-item weights, multiplying the labels.
        reduce_fn: ``vnp.mean`` (default), ``vnp.sum``, another reduction taking ``where=``, or
            ``None``.
    """
    logits = _float(logits)
    labels = vnp.asarray(labels).astype(logits.dtype)
    valid_lists = None
    if where is not None:
        where = vnp.asarray(where).astype(bool)
        labels = vnp.where(where, labels, 0.0)
        logits = vnp.where(where, logits, -np.inf)
        valid_lists = vnp.any(where, axis=-1)
    if weights is not None:
        labels = labels * vnp.asarray(weights)
    per_item = labels * log_softmax(logits, axis=-1)
    if where is not None:  # masked items are 0 * -inf
        per_item = vnp.where(where, per_item, 0.0)
    loss = -vnp.sum(per_item, axis=-1)
    if reduce_fn is None:
        return loss if valid_lists is None else vnp.where(valid_lists, loss, 0.0)
    if valid_lists is None:
        return reduce_fn(loss)
    if reduce_fn is vnp.mean:
        kept = vnp.where(valid_lists, loss, 0.0)
        return vnp.sum(kept) / vnp.maximum(vnp.sum(valid_lists.astype(loss.dtype)), 1.0)
    if reduce_fn is vnp.sum:
        return vnp.sum(vnp.where(valid_lists, loss, 0.0))
    return reduce_fn(loss, where=valid_lists)


def dice_loss(predictions: ArrayLike, targets: ArrayLike, *,
              class_weights: ArrayLike | None = None, smooth: float = 1.0, alpha: float = 0.5,
              beta: float = 0.5, apply_softmax: bool = True, reduction: str = "mean",
              ignore_background: bool = False, axis: Axis = None) -> Array:
    """The (Tversky-generalised) Dice loss per example, as optax's ``dice_loss``:
    ``1 - (I + smooth) / (I + alpha (P - I) + beta (T - I) + smooth)`` per class, with ``I``,
    ``P``, ``T`` the sums of ``probs * targets``, ``probs`` and ``targets`` over ``axis`` (by
    default every axis but the first and the class axis), then reduced over the classes.

    Args:
        predictions: ``(B, ..., C)`` logits (probabilities with ``apply_softmax=False``);
            ``C == 1`` (or no class axis) is binary, with a sigmoid.
        targets: one-hot (or soft) targets of the same shape.
        class_weights: optional ``(C,)`` weights of the per-class losses.
        smooth, alpha, beta: the smoothing term and Tversky's weights (0.5, 0.5: Dice).
        apply_softmax: softmax over classes (sigmoid if ``C == 1``) first.
        reduction: ``'mean'`` or ``'sum'`` over classes, or ``'none'``.
        ignore_background: leave class 0 out.
        axis: the axes summed over.

    Differs from optax: with ``apply_softmax=False`` the predictions are not checked to sum to
    1 (a check that cannot run under ``jit``).
    """
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"dice_loss: reduction must be 'mean', 'sum' or 'none', got "
                         f"{reduction!r}")
    pred, tgt = _float(predictions), _float(targets)
    if pred.ndim == tgt.ndim - 1:
        pred = vnp.expand_dims(pred, -1)
    if tgt.ndim == pred.ndim - 1:
        tgt = vnp.expand_dims(tgt, -1)
    if tuple(pred.shape) != tuple(tgt.shape):
        raise ShapeError(
            f"dice_loss: predictions {tuple(pred.shape)} and targets {tuple(tgt.shape)} must "
            "have one shape"
        )
    probs = pred
    if apply_softmax:
        probs = sigmoid(pred) if pred.shape[-1] == 1 else softmax(pred, axis=-1)
    if axis is None:
        axes: Any = tuple(range(1, probs.ndim - 1))
    else:
        axes = axis if isinstance(axis, int) else tuple(axis)
    inter = vnp.sum(probs * tgt, axis=axes)
    p_sum, t_sum = vnp.sum(probs, axis=axes), vnp.sum(tgt, axis=axes)
    denom = inter + alpha * (p_sum - inter) + beta * (t_sum - inter) + smooth
    loss = 1.0 - (inter + smooth) / denom
    if class_weights is not None:
        loss = loss * vnp.asarray(class_weights)
    if ignore_background and probs.shape[-1] > 1:
        loss = loss[..., 1:]
    if reduction == "mean":
        return vnp.mean(loss, axis=-1)
    return vnp.sum(loss, axis=-1) if reduction == "sum" else loss


def multiclass_generalized_dice_loss(predictions: ArrayLike, targets: ArrayLike, *,
                                     smooth: float = 1.0, apply_softmax: bool = True,
                                     ignore_background: bool = False) -> Array:
    """Generalised Dice loss, as optax's: ``dice_loss`` with each class weighted by its inverse
    squared frequency in ``targets`` (weights normalised to average 1), averaged over classes
    and batch (a scalar, as optax's)."""
    tgt = _float(targets)
    freq = vnp.sum(tgt, axis=tuple(range(tgt.ndim - 1)))
    weights = 1.0 / (freq**2 + 1e-7)
    weights = weights / vnp.sum(weights) * weights.shape[0]
    return vnp.mean(dice_loss(predictions, tgt, class_weights=weights, smooth=smooth,
                              apply_softmax=apply_softmax, reduction="none",
                              ignore_background=ignore_background))


def binary_dice_loss(predictions: ArrayLike, targets: ArrayLike, *, smooth: float = 1.0,
                     apply_sigmoid: bool = True) -> Array:
    """Binary Dice loss per example, as optax's: ``dice_loss`` of ``(..., 1)`` (or ``(...)``)
    logits with a sigmoid (probabilities with ``apply_sigmoid=False``)."""
    pred, tgt = _float(predictions), _float(targets)
    if pred.ndim == tgt.ndim and pred.shape[-1] != 1:
        pred, tgt = vnp.expand_dims(pred, -1), vnp.expand_dims(tgt, -1)
    return dice_loss(pred, tgt, smooth=smooth, apply_softmax=apply_sigmoid, reduction="mean")


# ---------------------------------------------------------------------------------------------
# PyTorch's losses that optax lacks (per example; reduce yourself)


def nll_loss(log_probs: ArrayLike, labels: ArrayLike, axis: int = -1,
             ignore_index: int = -100) -> Array:  # fmt: skip
    """``-log_probs[label]`` per example, as ``torch.nn.functional.nll_loss(...,
    reduction='none')``; examples labelled ``ignore_index`` give 0.

    Differs from PyTorch: the class axis is ``axis`` (default last, optax's convention);
    PyTorch's ``(N, C, d1, ...)`` inputs need ``axis=1``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> nll_loss(vnp.log(vnp.array([[0.25, 0.75]])), vnp.array([1]))
        Array([0.2876821], dtype=float32)
    """
    logp = _float(log_probs)
    labels = vnp.asarray(labels)
    ignored = vnp.equal(labels, ignore_index)
    safe = vnp.where(ignored, 0, labels)
    return vnp.where(ignored, 0.0, -_pick(logp, safe, axis, "nll_loss"))


def binary_cross_entropy(probs: ArrayLike, labels: ArrayLike) -> Array:
    """``-(y log p + (1 - y) log(1 - p))`` elementwise, each log clamped at -100, as
    ``torch.nn.functional.binary_cross_entropy(..., reduction='none')`` (prefer
    ``sigmoid_binary_cross_entropy`` on logits)."""
    p = _float(probs)
    y = vnp.asarray(labels).astype(p.dtype)
    # Clamp inside a where so that log(0) contributes neither inf nor an inf * 0 gradient.
    def clamped_log(v: Array) -> Array:  # noqa: E306
        safe = vnp.where(v > 0, v, 1.0)
        return vnp.where(v > 0, vnp.maximum(vnp.log(safe), -100.0), -100.0)

    return -(y * clamped_log(p) + (1.0 - y) * clamped_log(1.0 - p))


def smooth_l1_loss(predictions: ArrayLike, targets: ArrayLike, beta: float = 1.0) -> Array:
    """``0.5 d**2 / beta`` if ``|d| < beta`` else ``|d| - 0.5 beta``, as
    ``torch.nn.functional.smooth_l1_loss(..., reduction='none')``."""
    d = vnp.abs(_error(predictions, targets))
    if beta == 0:
        return d
    return vnp.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta)


def margin_ranking_loss(input1: ArrayLike, input2: ArrayLike, target: ArrayLike,
                        margin: float = 0.0) -> Array:  # fmt: skip
    """``max(0, -target * (input1 - input2) + margin)``, as PyTorch's (``reduction='none'``)."""
    x1 = _float(input1)
    return vnp.maximum(0.0, -vnp.asarray(target) * (x1 - vnp.asarray(input2)) + margin)

