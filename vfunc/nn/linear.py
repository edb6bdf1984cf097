"""``Linear`` and ``Embedding``, with PyTorch's arguments, parameter layouts and initialisation."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import vfunc.numpy as vnp
from vfunc import lax
from vfunc.core import Array
from vfunc.errors import ShapeError
from vfunc.nn.initializers import random_module
from vfunc.nn.module import Module, default_dtype, static_field
from vfunc.numpy._promote import promote_args

__all__ = ["Bilinear", "Embedding", "EmbeddingBag", "Linear", "linear", "uniform_init"]


def uniform_init(key: Any, shape: tuple[int, ...], bound: float, dtype: Any) -> Array:
    """``U(-bound, bound)``: PyTorch's default for Linear/Conv weights (``kaiming_uniform_``
    with ``a=sqrt(5)`` reduces to ``bound = 1/sqrt(fan_in)``), their biases, and RNN weights."""
    return random_module().uniform(key, shape, dtype, -bound, bound)


def linear(x: Array, weight: Array) -> Array:
    """``x @ weight.T`` for ``x`` of shape ``(..., in)`` and ``weight`` ``(out, in)``.

    One ``dot_general`` contracting the last axes, so that every leading axis folds into one
    matrix product (``vnp.matmul`` would broadcast a 2-D weight over the leading axes and run a
    batch of small products, an order of magnitude slower for sequence inputs).
    """
    x, weight = promote_args(x, weight)  # NumPy's promotion, as vnp.matmul (lax has none)
    return lax.dot_general(x, weight, (((x.ndim - 1,), (1,)), ((), ())))


def need_key(layer: str, key: Any) -> None:
    if key is None:
        raise TypeError(
            f"{layer}: pass key=vfunc.random.key(seed) to initialise its parameters (or build "
            "it with any key and load weights with nn.load_state_dict)"
        )


def check_features(layer: str, x: Array, axis: int, expected: int, what: str,
                   param: str) -> None:  # fmt: skip
    """Raise a ShapeError naming the layer when ``x.shape[axis] != expected``."""
    if x.ndim == 0 or x.shape[axis] != expected:
        raise ShapeError(
            f"{layer}: expected input with {expected} {what} on axis {axis}, got input of shape "
            f"{tuple(x.shape)} ({param})"
        )


class Linear(Module):
    """``y = x @ weight.T + bias``, as ``torch.nn.Linear``: ``weight`` is ``(out_features,
    in_features)``; ``x`` is ``(*, in_features)``. Initialised as PyTorch's: weight and bias from
    ``U(-1/sqrt(in_features), 1/sqrt(in_features))``.

    Example:
        >>> import vfunc
        >>> from vfunc import nn
        >>> layer = nn.Linear(3, 2, key=None, init=False)
        >>> layer(vfunc.numpy.ones(3))
        Array([0., 0.], dtype=float32)
    """

    weight: Array
    bias: Array | None
    in_features: int = static_field()
    out_features: int = static_field()

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 key: Any = None, dtype: Any = None, init: bool = True):  # fmt: skip
        """``init=False`` builds zero parameters without a key (to load a state dict into)."""
        self.in_features, self.out_features = int(in_features), int(out_features)
        dt = default_dtype(dtype)
        shape = (self.out_features, self.in_features)
        if not init:
            self.weight = vnp.zeros(shape, dt)
            self.bias = vnp.zeros((self.out_features,), dt) if bias else None
            return
        need_key("Linear", key)
        wkey, bkey = random_module().split(key)
        bound = 1 / math.sqrt(self.in_features) if self.in_features else 0.0
        self.weight = uniform_init(wkey, shape, bound, dt)
        self.bias = uniform_init(bkey, (self.out_features,), bound, dt) if bias else None

    def __call__(self, x: Array) -> Array:
        x = vnp.asarray(x)
        check_features("Linear", x, -1, self.in_features, "features",
                       f"weight {tuple(self.weight.shape)}")
        y = linear(x, self.weight)
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Bilinear(Module):
    """``y = x1^T A x2 + b``, as ``torch.nn.Bilinear(in1_features, in2_features, out_features,
    bias=True)``: ``weight`` is ``(out_features, in1_features, in2_features)``, ``bias``
    ``(out_features,)``, both from ``U(-1/sqrt(in1_features), 1/sqrt(in1_features))``;
    ``x1`` is ``(*, in1_features)`` and ``x2`` ``(*, in2_features)`` with the same ``*``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.Bilinear(3, 2, 4, init=False)(vnp.ones((5, 3)), vnp.ones((5, 2))).shape
        (5, 4)
    """

    weight: Array
    bias: Array | None
    in1_features: int = static_field()
    in2_features: int = static_field()
    out_features: int = static_field()

    def __init__(self, in1_features: int, in2_features: int, out_features: int,
                 bias: bool = True, *, key: Any = None, dtype: Any = None,
                 init: bool = True):  # fmt: skip
        self.in1_features, self.in2_features = int(in1_features), int(in2_features)
        self.out_features = int(out_features)
        dt = default_dtype(dtype)
        shape = (self.out_features, self.in1_features, self.in2_features)
        if not init:
            self.weight = vnp.zeros(shape, dt)
            self.bias = vnp.zeros((self.out_features,), dt) if bias else None
            return
        need_key("Bilinear", key)
        wkey, bkey = random_module().split(key)
        bound = 1 / math.sqrt(self.in1_features) if self.in1_features else 0.0
        self.weight = uniform_init(wkey, shape, bound, dt)
        self.bias = uniform_init(bkey, (self.out_features,), bound, dt) if bias else None

    def __call__(self, x1: Array, x2: Array) -> Array:
        x1, x2 = vnp.asarray(x1), vnp.asarray(x2)
        w = f"weight {tuple(self.weight.shape)}"
        check_features("Bilinear", x1, -1, self.in1_features, "features (input1)", w)
        check_features("Bilinear", x2, -1, self.in2_features, "features (input2)", w)
        if x1.shape[:-1] != x2.shape[:-1]:
            raise ShapeError(
                f"Bilinear: input1 {tuple(x1.shape)} and input2 {tuple(x2.shape)} must agree on "
                "every axis but the last"
            )
        # (x1 @ W_o) . x2 for each output o: contract in1 first, as one matmul over all rows.
        t = linear(x1, vnp.reshape(vnp.swapaxes(self.weight, 1, 2), (-1, self.in1_features)))
        t = vnp.reshape(t, x1.shape[:-1] + (self.out_features, self.in2_features))
        y = vnp.sum(t * vnp.expand_dims(x2, -2), axis=-1)
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")


class Embedding(Module):
    """A lookup table, as ``torch.nn.Embedding``: ``weight[indices]``, ``weight`` of shape
    ``(num_embeddings, embedding_dim)`` drawn from ``N(0, 1)``. With ``padding_idx`` that row
    starts at zero and gets no gradient (its output is the row, gradient-stopped).

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.Embedding(4, 2, init=False)(vnp.array([[0, 3]])).shape
        (1, 2, 2)
    """

    weight: Array
    num_embeddings: int = static_field()
    embedding_dim: int = static_field()
    padding_idx: int | None = static_field()

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 *, key: Any = None, dtype: Any = None, init: bool = True):  # fmt: skip
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        if padding_idx is not None:
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise ValueError(
                    f"Embedding: padding_idx {padding_idx} must be within num_embeddings "
                    f"({self.num_embeddings})"
                )
            padding_idx %= self.num_embeddings
        self.padding_idx = padding_idx
        dt = default_dtype(dtype)
        shape = (self.num_embeddings, self.embedding_dim)
        if init:
            need_key("Embedding", key)
            weight = random_module().normal(key, shape, dt)
        else:
            weight = vnp.zeros(shape, dt)
        if padding_idx is not None:
            weight = weight.at[padding_idx].set(0.0)
        self.weight = weight

    def __call__(self, indices: Array) -> Array:
        indices = vnp.asarray(indices)
        if indices.dtype.kind not in "iu":
            raise TypeError(
                f"Embedding: indices must be integers, got dtype {indices.dtype} (shape "
                f"{tuple(indices.shape)}); convert with .astype(int)"
            )
        out = vnp.take(self.weight, indices, axis=0)
        if self.padding_idx is None:
            return out
        pad = vnp.expand_dims(vnp.equal(indices, self.padding_idx), -1)
        return vnp.where(pad, lax.stop_gradient(out), out)

    def extra_repr(self) -> str:
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"


class EmbeddingBag(Module):
    """Sums, means or maxima of bags of embeddings, as ``torch.nn.EmbeddingBag(num_embeddings,
    embedding_dim, max_norm=None, norm_type=2.0, scale_grad_by_freq=False, mode='mean',
    sparse=False, _weight=None, include_last_offset=False, padding_idx=None)`` (``max_norm``,
    ``scale_grad_by_freq`` and ``_weight`` are not supported; ``sparse`` is ignored).

    ``__call__(input, offsets=None, per_sample_weights=None) -> (B, embedding_dim)``: ``input``
    ``(B, N)`` holds B bags of N indices, or a 1-D ``input`` with ``offsets`` (the start of each
    bag; with ``include_last_offset`` one more, the end). ``per_sample_weights`` (``input``'s
    shape) scale the embeddings in ``mode='sum'``. Indices equal to ``padding_idx`` are left
    out; an empty bag gives zeros, as PyTorch's. ``weight`` starts from ``N(0, 1)``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> bag = nn.EmbeddingBag(5, 2, mode="sum", init=False)
        >>> bag(vnp.array([0, 1, 2]), vnp.array([0, 2])).shape
        (2, 2)
    """

    weight: Array
    num_embeddings: int = static_field()
    embedding_dim: int = static_field()
    mode: str = static_field()
    include_last_offset: bool = static_field()
    padding_idx: int | None = static_field()

    def __init__(self, num_embeddings: int, embedding_dim: int, max_norm: float | None = None,
                 norm_type: float = 2.0, scale_grad_by_freq: bool = False, mode: str = "mean",
                 sparse: bool = False, _weight: Any = None, include_last_offset: bool = False,
                 padding_idx: int | None = None, *, key: Any = None, dtype: Any = None,
                 init: bool = True):  # fmt: skip
        del norm_type, sparse
        if max_norm is not None or scale_grad_by_freq or _weight is not None:
            raise NotImplementedError(
                "EmbeddingBag: max_norm, scale_grad_by_freq and _weight are not supported (load "
                "weights with nn.load_state_dict)"
            )
        if mode not in ("sum", "mean", "max"):
            raise ValueError(f"EmbeddingBag: mode must be 'sum', 'mean' or 'max', got {mode!r}")
        table = Embedding(num_embeddings, embedding_dim, padding_idx, key=key, dtype=dtype,
                          init=init)
        self.weight, self.padding_idx = table.weight, table.padding_idx
        self.num_embeddings, self.embedding_dim = table.num_embeddings, table.embedding_dim
        self.mode, self.include_last_offset = mode, bool(include_last_offset)

    def __call__(self, input: Array, offsets: Array | None = None,
                 per_sample_weights: Array | None = None) -> Array:  # fmt: skip
        idx = vnp.asarray(input)
        if idx.dtype.kind not in "iu":
            raise TypeError(f"EmbeddingBag: input must be integers, got dtype {idx.dtype}")
        if per_sample_weights is not None and self.mode != "sum":
            raise ValueError("EmbeddingBag: per_sample_weights needs mode='sum', as PyTorch's")
        if idx.ndim == 2:
            if offsets is not None:
                raise ValueError("EmbeddingBag: offsets must be None for a 2-D input")
            b, n = idx.shape
            flat = vnp.reshape(idx, (-1,))
            # member[i, j]: flat position j belongs to bag i (bags, positions)
            member = vnp.asarray(np.repeat(np.eye(b, dtype=bool), n, axis=1))
        elif idx.ndim == 1 and offsets is not None:
            starts = vnp.asarray(offsets)
            bounds = starts if self.include_last_offset else vnp.concatenate(
                [starts, vnp.asarray([idx.shape[0]], starts.dtype)])
            pos = vnp.arange(idx.shape[0])
            member = vnp.logical_and(pos[None, :] >= bounds[:-1, None],
                                     pos[None, :] < bounds[1:, None])
            flat = idx
        else:
            raise ShapeError(
                f"EmbeddingBag: expected a 2-D input (B, N), or a 1-D input with offsets, got "
                f"shape {tuple(idx.shape)}" + (" and no offsets" if idx.ndim == 1 else "")
            )
        emb = vnp.take(self.weight, flat, axis=0)  # (positions, D)
        if self.padding_idx is not None:
            member = vnp.logical_and(member, vnp.not_equal(flat, self.padding_idx)[None, :])
        if self.mode == "max":
            masked = vnp.where(member[:, :, None], emb[None], -np.inf)
            return vnp.where(member.any(axis=1)[:, None], vnp.max(masked, axis=1), 0.0)
        weights = member.astype(emb.dtype)
        if per_sample_weights is not None:
            weights = weights * vnp.reshape(vnp.asarray(per_sample_weights), (1, -1))
        total = vnp.matmul(weights, emb)
        if self.mode == "sum":
            return total
        count = vnp.sum(member.astype(emb.dtype), axis=1, keepdims=True)
        return total / vnp.maximum(count, 1.0)

    def extra_repr(self) -> str:
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}, mode={self.mode!r}{pad}"
