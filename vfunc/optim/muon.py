"""Muon: momentum orthogonalised by Newton–Schulz iterations (optax.contrib's Muon).

Matrix parameters get Nesterov momentum whose 2-D update is replaced by an approximately
orthogonal matrix (five quintic Newton–Schulz iterations with optax's coefficients
``(3.4445, -4.7750, 2.0315)``), scaled by ``sqrt(max(1, fan_out / fan_in))``. Every other
parameter is trained by AdamW with Nesterov momentum sharing Muon's ``eps`` and learning rate,
as optax does. The state is optax's: a ``PartitionState`` with ``'muon'`` and ``'adam'`` parts.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

import vfunc.numpy as vnp
from vfunc import lax, tree
from vfunc.optim import transforms as tf
from vfunc.optim.aliases import adamw
from vfunc.optim.base import GradientTransformation, GradientTransformationExtraArgs
from vfunc.optim.combinators import MaskedNode, chain, partition
from vfunc.optim.tree_utils import safe_increment, tree_bias_correction, tree_cast, tree_zeros_like

__all__ = [
    "MuonDimensionNumbers",
    "MuonState",
    "muon",
    "orthogonalize_via_newton_schulz",
    "scale_by_muon",
    "scale_by_shape",
]

DEFAULT_NS_COEFFS = (3.4445, -4.7750, 2.0315)
_DION_NS_COEFFS = (
    (4.0848, -6.8946, 2.9270),
    (3.9505, -6.3029, 2.6377),
    (3.7418, -5.5913, 2.3037),
    (2.8769, -3.1427, 1.2046),
    (2.8366, -3.0525, 1.2012),
)
_PRESETS = {"standard": DEFAULT_NS_COEFFS, "dion": _DION_NS_COEFFS}


class MuonDimensionNumbers(NamedTuple):
    """Which axes of a weight form the matrix Muon orthogonalises: ``reduction_axis`` (fan
    in) and ``output_axis`` (fan out); every other axis is a batch axis, each slice
    orthogonalised on its own."""

    reduction_axis: Any = 0
    output_axis: Any = 1


def _is_dims(x: Any) -> bool:
    return isinstance(x, MuonDimensionNumbers)


def _axes(x: Any, dims: MuonDimensionNumbers) -> tuple[tuple[int, ...], tuple[int, ...]]:
    red = (dims.reduction_axis,) if isinstance(dims.reduction_axis, int) else dims.reduction_axis
    out = (dims.output_axis,) if isinstance(dims.output_axis, int) else dims.output_axis
    return tuple(a % x.ndim for a in red), tuple(a % x.ndim for a in out)


def _fans(x: Any, dims: MuonDimensionNumbers) -> tuple[int, int]:
    red, out = _axes(x, dims)
    return math.prod(x.shape[a] for a in red), math.prod(x.shape[a] for a in out)


PRECONDITIONINGS = ("frobenius", "aol", "schatten")


def _newton_schulz_step(x: Any, c: Any, a: Any = None) -> Any:
    a = x @ x.T if a is None else a
    b = c[1] * a + c[2] * (a @ a)
    return c[0] * x + b @ x


def _first_step(x: Any, c: Any, preconditioning: str, eps: Any) -> Any:
    """The first iteration, which 'aol' and 'schatten' fold their rescaling into (reusing
    the Gram matrix instead of normalising ``x`` first)."""
    if preconditioning == "frobenius":
        return _newton_schulz_step(x, c)
    a = x @ x.T
    if preconditioning == "aol":  # "almost orthogonal layer": rescale rows by their A-sums
        s = vnp.expand_dims(lax.rsqrt(vnp.maximum(vnp.sum(vnp.abs(a), axis=-1), eps)), -1)
        return _newton_schulz_step(x * s, c, a * s * s.T)
    s = lax.rsqrt(vnp.maximum(vnp.sqrt(vnp.sum(a * a)), eps))  # schatten-4 norm of x
    return _newton_schulz_step(x * s, c, a * (s * s))


def _orthogonalize_matrix(
    x: Any, coeffs: Any, ns_steps: int, eps: Any, preconditioning: str = "frobenius"
) -> Any:
    transposed = x.shape[0] > x.shape[1]
    if transposed:  # iterate on the wide orientation: the Gram matrix x x^T is the small one
        x = x.T
    if preconditioning == "frobenius":
        x = x / (vnp.sqrt(vnp.sum(x * x)) + eps)
    coeffs = coeffs.astype(x.dtype)
    steps = [coeffs] * ns_steps if coeffs.ndim == 1 else [coeffs[i] for i in
                                                          range(coeffs.shape[0])]  # fmt: skip
    for i, c in enumerate(steps):
        x = _first_step(x, c, preconditioning, eps) if i == 0 else _newton_schulz_step(x, c)
    return x.T if transposed else x


def _check_preconditioning(preconditioning: str) -> None:
    if preconditioning == "spectral":
        raise NotImplementedError(
            "muon: preconditioning='spectral' needs the largest singular value, and vfunc has "
            "no SVD yet; use 'frobenius' (the default), 'aol' or 'schatten'"
        )
    if preconditioning not in PRECONDITIONINGS:
        raise ValueError(
            f"muon: unknown preconditioning {preconditioning!r}; use one of {PRECONDITIONINGS}"
        )


def orthogonalize_via_newton_schulz(
    x: Any,
    ns_coeffs: Any,
    ns_steps: int = 5,
    preconditioning: str = "frobenius",
    eps: Any = 1e-8,
    dimension_numbers: MuonDimensionNumbers | None = None,
) -> Any:
    """Approximately orthogonalise ``x`` (``U S V^T -> U S' V^T`` with ``S'`` near 1) by
    Newton–Schulz iterations of ``x <- c0 x + (c1 A + c2 A^2) x``, ``A = x x^T``, after
    Frobenius normalisation.

    Args:
        x: a matrix, or an array whose matrix axes ``dimension_numbers`` names.
        ns_coeffs: ``(c0, c1, c2)``, or an ``(n, 3)`` array of per-step coefficients.
        ns_steps: iterations (when ``ns_coeffs`` is one triple).
        preconditioning: how ``x`` is scaled before iterating: ``'frobenius'`` (divide by
            its Frobenius norm), ``'aol'`` or ``'schatten'`` (rescalings folded into the first
            iteration). optax's ``'spectral'`` needs an SVD, which vfunc lacks.
        eps: added to the Frobenius norm (a lower bound of the other rescalings).
        dimension_numbers: the reduction and output axes of a non-2-D ``x``.

    Example:
        >>> import numpy as np, vfunc.numpy as vnp
        >>> q = orthogonalize_via_newton_schulz(vnp.array([[3.0, 0.0], [0.0, 1.0]]),
        ...                                     vnp.array(DEFAULT_NS_COEFFS))
        >>> bool(np.all(np.abs(np.diag(np.asarray(q)) - 1) < 0.35))
        True
    """
    x = vnp.asarray(x)
    ns_coeffs = vnp.asarray(ns_coeffs)
    _check_preconditioning(preconditioning)
    if x.ndim != 2 and not _is_dims(dimension_numbers):
        raise ValueError(
            "orthogonalize_via_newton_schulz: the input must be a matrix (m, n) or "
            f"dimension_numbers must say which axes form one; got shape {x.shape} and "
            f"dimension_numbers={dimension_numbers!r}"
        )
    if ns_coeffs.ndim > 2 or ns_coeffs.shape[-1] != 3:
        raise ValueError(
            "orthogonalize_via_newton_schulz: ns_coeffs must have shape (3,) or (n, 3), got "
            f"{ns_coeffs.shape}"
        )
    if x.ndim == 2:
        return _orthogonalize_matrix(x, ns_coeffs, ns_steps, eps, preconditioning)
    red, out = _axes(x, dimension_numbers)
    if set(red) & set(out):
        raise ValueError(
            f"orthogonalize_via_newton_schulz: reduction axes {red} and output axes {out} "
            f"must be disjoint (shape {x.shape})"
        )
    batch = tuple(a for a in range(x.ndim) if a not in red and a not in out)
    perm = batch + red + out
    sizes = [math.prod(x.shape[a] for a in axes) for axes in (batch, red, out)]
    flat = vnp.reshape(vnp.transpose(x, perm), tuple(sizes))
    slices = [_orthogonalize_matrix(flat[i], ns_coeffs, ns_steps, eps, preconditioning)
              for i in range(sizes[0])]  # fmt: skip
    result = vnp.reshape(vnp.stack(slices), tuple(x.shape[a] for a in perm))
    return vnp.transpose(result, tuple(int(i) for i in np.argsort(perm)))


class MuonState(NamedTuple):
    """``scale_by_muon``'s state: step count, momentum and the Newton–Schulz coefficients."""

    count: Any
    mu: Any
    ns_coeffs: Any


def _leaf_dims(weight_dimension_numbers: Any, updates: Any) -> list:
    """One ``MuonDimensionNumbers`` per leaf of ``updates`` (None: the 2-D default)."""
    dims = weight_dimension_numbers
    if callable(dims) and not _is_dims(dims):
        dims = dims(updates)
    if dims is None or _is_dims(dims):
        return [dims or MuonDimensionNumbers()] * len(tree.leaves(updates))
    spread = tree.map(
        lambda d, sub: tree.map(lambda _: d, sub),
        dims,
        updates,
        is_leaf=lambda v: v is None or _is_dims(v) or isinstance(v, MaskedNode),
    )
    return tree.leaves(spread, is_leaf=lambda v: v is None or _is_dims(v))


def scale_by_muon(
    ns_coeffs: Any = DEFAULT_NS_COEFFS,
    ns_steps: int = 5,
    beta: Any = 0.95,
    eps: Any = 1e-8,
    mu_dtype: Any = None,
    *,
    nesterov: bool = True,
    adaptive: bool = False,
    preconditioning: str = "frobenius",
    weight_dimension_numbers: Any = None,
) -> GradientTransformation:
    """Muon's rescaling: (Nesterov) momentum, debiased, then orthogonalised per leaf
    (``adaptive``: scaled by ``<momentum, update>``, the dual norm)."""
    mu_dtype = None if mu_dtype is None else np.dtype(mu_dtype)
    _check_preconditioning(preconditioning)

    def init_fn(params):
        coeffs = vnp.asarray(ns_coeffs)
        if coeffs.ndim > 2 or coeffs.shape[-1] != 3:
            raise ValueError(f"scale_by_muon: ns_coeffs must have shape (3,) or (n, 3), got "
                             f"{coeffs.shape}")  # fmt: skip
        if coeffs.ndim == 2:
            if coeffs.shape[0] > ns_steps:
                raise ValueError(f"scale_by_muon: not enough coeffs for {ns_steps} steps")
            coeffs = coeffs[-ns_steps:]
        return MuonState(
            count=vnp.zeros([], vnp.int32), mu=tree_zeros_like(params, dtype=mu_dtype),
            ns_coeffs=coeffs,
        )  # fmt: skip

    def update_fn(updates, state, params=None):
        del params
        mu = tf.checked_moment("scale_by_muon", "mu", updates, state.mu, beta, 1)
        count_inc = safe_increment(state.count)
        if nesterov:
            mu_hat = tf.nesterov_mu_hat(mu, updates, beta, count_inc)
        else:
            mu_hat = tree_bias_correction(mu, beta, count_inc)
        leaves, treedef = tree.flatten(mu_hat)
        dims = _leaf_dims(weight_dimension_numbers, updates)
        new = [
            orthogonalize_via_newton_schulz(x, state.ns_coeffs, ns_steps, preconditioning, eps, d)
            for x, d in zip(leaves, dims, strict=True)
        ]
        if adaptive:
            new = [vnp.sum(x * u) * u for x, u in zip(leaves, new, strict=True)]
        return tree.unflatten(treedef, new), MuonState(
            count=count_inc, mu=tree_cast(mu, mu_dtype), ns_coeffs=state.ns_coeffs
        )

    return GradientTransformation(init_fn, update_fn)


def scale_by_shape(
    weight_dimension_numbers: Any = None, consistent_rms: Any = None
) -> GradientTransformation:
    """Scale each update by ``sqrt(max(1, fan_out / fan_in))`` (Muon's width scaling), or
    with ``consistent_rms`` by ``sqrt(max(fan_in, fan_out)) * consistent_rms``."""

    def scale_leaf(u, dims):
        fan_in, fan_out = _fans(u, dims)
        if consistent_rms is not None:
            return math.sqrt(max(fan_in, fan_out)) * consistent_rms * u
        return math.sqrt(max(1.0, fan_out / fan_in)) * u

    def update_fn(updates, state, params=None):
        del params
        leaves, treedef = tree.flatten(updates)
        dims = _leaf_dims(weight_dimension_numbers, updates)
        return tree.unflatten(treedef, [scale_leaf(u, d) for u, d in zip(leaves, dims,
                                                                          strict=True)]), state

    return GradientTransformation(tf.init_empty_state, update_fn)


def muon(
    learning_rate: Any,
    ns_coeffs: Any = DEFAULT_NS_COEFFS,
    ns_steps: int = 5,
    beta: Any = 0.95,
    eps: Any = 1e-8,
    weight_decay: Any = 0.0,
    weight_decay_mask: Any = None,
    mu_dtype: Any = None,
    *,
    nesterov: bool = True,
    adaptive: bool = False,
    preconditioning: str = "frobenius",
    adam_b1: Any = 0.9,
    adam_b2: Any = 0.999,
    adam_eps_root: Any = 0.0,
    adam_weight_decay: Any = 0.0,
    adam_learning_rate: Any = None,
    muon_weight_dimension_numbers: Any = None,
    consistent_rms: Any = None,
) -> GradientTransformationExtraArgs:
    """Muon for matrices, AdamW (Nesterov) for everything else, as ``optax.contrib.muon``.

    Args:
        learning_rate: a float or a schedule, shared by both parts unless
            ``adam_learning_rate`` is given.
        ns_coeffs: Newton–Schulz coefficients ``(c0, c1, c2)``, per-step triples, or a preset
            name (``'standard'``, ``'dion'``).
        ns_steps: Newton–Schulz iterations.
        beta: Muon's momentum decay.
        eps: added to the Frobenius norm before Newton–Schulz, and Adam's eps.
        weight_decay: decoupled weight decay of the Muon part (``weight_decay_mask`` limits it).
        mu_dtype: dtype of the momentum.
        nesterov: Nesterov momentum in both parts.
        adaptive: scale Muon's updates by the dual norm ``<momentum, update>``.
        preconditioning: see ``orthogonalize_via_newton_schulz``.
        adam_b1, adam_b2, adam_eps_root, adam_weight_decay: the AdamW part's settings.
        muon_weight_dimension_numbers: a tree of ``MuonDimensionNumbers`` (None for leaves
            Adam trains), or a function of the params giving one; default: every 2-D leaf is
            Muon's.
        consistent_rms: see ``scale_by_shape``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import optim
        >>> opt = optim.muon(0.02)
        >>> params = {'w': vnp.ones((4, 3)), 'b': vnp.zeros(3)}
        >>> state = opt.init(params)
        >>> sorted(state.inner_states)
        ['adam', 'muon']
    """
    if adam_learning_rate is None:
        adam_learning_rate = learning_rate
    if isinstance(ns_coeffs, str):
        if ns_coeffs not in _PRESETS:
            raise ValueError(f"muon: unknown ns_coeffs preset {ns_coeffs!r}; known: "
                             f"{sorted(_PRESETS)}")  # fmt: skip
        ns_coeffs = _PRESETS[ns_coeffs]

    dim_nums = muon_weight_dimension_numbers
    if dim_nums is None:

        def param_labels(params):
            return tree.map(lambda x: "muon" if vnp.ndim(x) == 2 else "adam", params)

        dim_nums = MuonDimensionNumbers()
    else:

        def param_labels(params):
            dims = dim_nums(params) if callable(dim_nums) and not _is_dims(dim_nums) else dim_nums
            return tree.map(
                lambda d, sub: tree.map(lambda _: "muon" if d is not None else "adam", sub),
                dims,
                params,
                is_leaf=lambda v: v is None or _is_dims(v),
            )

    return partition(
        {
            "muon": chain(
                scale_by_muon(ns_coeffs, ns_steps, beta, eps, mu_dtype, nesterov=nesterov,
                              adaptive=adaptive, preconditioning=preconditioning,
                              weight_dimension_numbers=dim_nums),  # fmt: skip
                scale_by_shape(dim_nums, consistent_rms),
                tf.add_decayed_weights(weight_decay, weight_decay_mask),
                tf.scale_by_learning_rate(learning_rate),
            ),
            "adam": adamw(
                adam_learning_rate, adam_b1, adam_b2, eps, adam_eps_root, mu_dtype,
                weight_decay=adam_weight_decay, nesterov=nesterov,
            ),  # fmt: skip
        },
        param_labels=param_labels,
    )
