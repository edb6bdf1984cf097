"""``Linear`` and ``Embedding``, with PyTorch's arguments, parameter layouts and initialisation."""

from __future__ import annotations

import math
from typing import Any

import vfunc.numpy as vnp
from vfunc import lax
from vfunc.core import Array
from vfunc.errors import ShapeError
from vfunc.nn.initializers import random_module
from vfunc.nn.module import Module, default_dtype, static_field
from vfunc.numpy._promote import promote_args

__all__ = ["Bilinear", "Embedding", "Linear", "linear", "uniform_init"]


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
