"""``vfunc.losses``: optax.losses' names, signatures and per-example semantics (no hidden
reduction: reduce with ``.mean()`` yourself), plus the PyTorch losses optax lacks (``nll_loss``,
``binary_cross_entropy``, ``smooth_l1_loss``, ``margin_ranking_loss``), per example too.

Everything is computed from logits in log space where it matters, so logits of +-100 (or more)
give finite values and finite gradients.
"""

from __future__ import annotations

import numpy as np

import vfunc.numpy as vnp
from vfunc import lax
from vfunc.core import Array
from vfunc.errors import ShapeError
from vfunc.lax import ArrayLike
from vfunc.nn.activations import log_sigmoid, log_softmax, logsumexp, sigmoid
from vfunc.numpy._promote import promote_args

__all__ = [
    "binary_cross_entropy", "convex_kl_divergence", "cosine_distance", "cosine_similarity",
    "ctc_loss", "generalized_kl_divergence", "hinge_loss", "huber_loss", "kl_divergence", "kl_divergence_with_log_targets",
    "l2_loss", "log_cosh", "margin_ranking_loss", "multiclass_hinge_loss",
    "multiclass_perceptron_loss", "nll_loss", "perceptron_loss", "poly_loss_cross_entropy",
    "safe_softmax_cross_entropy", "sigmoid_binary_cross_entropy", "sigmoid_focal_loss",
    "smooth_l1_loss", "smooth_labels", "softmax_cross_entropy",
    "softmax_cross_entropy_with_integer_labels", "squared_error", "triplet_margin_loss",
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


def ctc_loss(logits: ArrayLike, logit_paddings: ArrayLike, labels: ArrayLike,
             label_paddings: ArrayLike, *, blank_id: int = 0,
             log_epsilon: float = -1e5) -> Array:  # fmt: skip
    """Connectionist temporal classification loss per sequence, as optax's ``ctc_loss``.

    Args:
        logits: ``(B, T, K)`` unnormalised class scores.
        logit_paddings: ``(B, T)``, 1.0 at padded frames (after the valid ones).
        labels: ``(B, N)`` integer labels.
        label_paddings: ``(B, N)``, 1.0 at padded labels (after the valid ones).
        blank_id: the blank class.
        log_epsilon: the log-probability used for impossible paths (finite, so that
            gradients stay finite).

    Returns:
        ``(B,)``: ``-log p(labels | logits)``.
    """
    logits = _float(logits)
    labels = vnp.asarray(labels)
    b, t, k = logits.shape
    n = labels.shape[1]
    logp = log_softmax(logits, axis=-1)
    s = 2 * n + 1
    # The extended label sequence: blank, l1, blank, l2, ..., blank.
    blanks = vnp.full((b, n + 1), blank_id, labels.dtype)
    ext = vnp.reshape(vnp.stack([blanks[:, :n], labels], axis=-1), (b, 2 * n))
    ext = vnp.concatenate([ext, blanks[:, n:]], axis=1)  # (B, S)
    emit = vnp.take_along_axis(logp, vnp.broadcast_to(ext[:, None, :], (b, t, s)), axis=2)
    # A skip from s-2 to s is allowed for a label differing from the one two places back.
    prev2 = vnp.concatenate([vnp.full((b, 2), blank_id, ext.dtype), ext[:, :-2]], axis=1)
    can_skip = vnp.logical_and(vnp.not_equal(ext, blank_id), vnp.not_equal(ext, prev2))
    neg = vnp.full((b, 1), log_epsilon, logits.dtype)
    init = vnp.full((b, s), log_epsilon, logits.dtype)
    alpha0 = vnp.concatenate([emit[:, 0, :2], init[:, 2:]], axis=1)
    pads = vnp.asarray(logit_paddings).astype(logits.dtype)

    def step(alpha: Array, inputs: tuple[Array, Array]) -> tuple[Array, None]:
        e, pad = inputs
        shift1 = vnp.concatenate([neg, alpha[:, :-1]], axis=1)
        shift2 = vnp.concatenate([neg, neg, alpha[:, :-2]], axis=1)
        shift2 = vnp.where(can_skip, shift2, log_epsilon)
        stacked = vnp.stack([alpha, shift1, shift2])
        new = logsumexp(stacked, axis=0) + e
        new = vnp.maximum(new, log_epsilon)  # impossible stays at log_epsilon, never -inf
        keep = pad[:, None] > 0
        return vnp.where(keep, alpha, new), None

    xs = (vnp.moveaxis(emit[:, 1:], 1, 0), vnp.moveaxis(pads[:, 1:], 1, 0))
    alpha, _ = lax.scan(step, alpha0, xs)
    n_labels = n - vnp.sum(vnp.asarray(label_paddings), axis=1).astype(np.int32)
    last = vnp.take_along_axis(alpha, (2 * n_labels)[:, None], axis=1)[:, 0]
    before = vnp.take_along_axis(alpha, vnp.maximum(2 * n_labels - 1, 0)[:, None], axis=1)[:, 0]
    before = vnp.where(n_labels > 0, before, log_epsilon)
    return -vnp.logaddexp(last, before)


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

